"""Printers: how a SymPy expression of the derivation becomes LaTeX or Unicode text.

Each printer subclasses a SymPy printer and overrides only the ``_print_<Class>`` methods that the
notation needs; nothing is assigned onto SymPy classes. Names come from :mod:`symgrad.notation`.
Renderers pass printed strings to templates, never SymPy objects.

Both printers write sums in the order a person writes them (:func:`conventional_order`): a
positive term first (``yhat_i - y_i``, ``1 - h``), simpler terms before longer ones
(``y_i log yhat_i + (1 - y_i) log(1 - yhat_i)``), polynomials by falling degree. The order is
decided here, at print time, never by editing printed strings.
"""

from __future__ import annotations

from collections.abc import Sequence

import sympy as sp

from symgrad import notation
from symgrad.printing.latex import NotesLatexPrinter
from symgrad.printing.order import conventional_order
from symgrad.printing.unicode import UnicodePrinter

subscript = notation.subscript

_LATEX = {
    (commas, inline, stacked): NotesLatexPrinter(
        {"index_commas": commas, "inline_partials": inline, "display_fractions": stacked}
    )
    for commas in (False, True)
    for inline in (False, True)
    for stacked in (False, True)
}
_UNICODE = UnicodePrinter({"order": "none"})


def latex(
    expr: sp.Basic,
    index_commas: bool = False,
    inline: bool = False,
    display_fractions: bool = False,
) -> str:
    """LaTeX of ``expr`` in the notes' notation (``index_commas``: ``W_{2,1,3}`` throughout;
    ``inline``: partials with a slash, for text; ``display_fractions``: partials at full size,
    ``\\dfrac``, as in a matrix written by hand)."""
    return _LATEX[(index_commas, inline, display_fractions)].doprint(expr)


def unicode(expr: sp.Basic) -> str:
    """One-line Unicode of ``expr`` in the notes' notation."""
    return _UNICODE.doprint(expr)


__all__: Sequence[str] = (
    "NotesLatexPrinter",
    "UnicodePrinter",
    "conventional_order",
    "latex",
    "subscript",
    "unicode",
)
