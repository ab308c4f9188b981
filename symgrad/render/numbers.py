"""Numbers in formulas: the worked example's values to 4 significant digits, put into equations.

Part of the renderers (worked example -> **numbers** -> notes, slides, terminal). A value is
shown rounded to :data:`SIGNIFICANT` digits (:func:`number_tex`, :func:`number_text`); a formula
of the derivation is printed with the numbers of one sample in place of its symbols by
:class:`NumbersLatexPrinter` (the printer of the notes, with the vectors and matrices of the
example written as ``bmatrix``) or by :func:`with_numbers` for a formula of scalars.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import sympy as sp

from symgrad import notation as nt
from symgrad.model import Elementwise
from symgrad.printing import NotesLatexPrinter

#: Significant digits of every number the notes, the slides and the terminal show.
SIGNIFICANT = 4


def rounded(value: float) -> float:
    """``value`` rounded to :data:`SIGNIFICANT` significant digits, as it is shown."""
    return float(f"{float(value):.{SIGNIFICANT}g}")


def number_text(value: float) -> str:
    """``value`` in plain text: as it is when that is exact (``0.5``, ``1``, ``-0.3``: the
    data of an example), else to 4 significant digits with the trailing zeros that say so
    (``0.1235``, ``0.6310``, ``-1.000``, ``1.235e-05``)."""
    value = float(value)
    if value == 0:
        return "0"  # also for -0.0
    if not math.isfinite(value):
        return str(value)
    short = f"{value:.{SIGNIFICANT}g}"
    if float(short) == value:
        return short
    return f"{value:#.{SIGNIFICANT}g}".replace(".e", "e").rstrip(".")


def number_tex(value: float) -> str:
    """``value`` to 4 significant digits in LaTeX: ``0.1235``, ``1.235 \\times 10^{-5}``."""
    text = number_text(value)
    if "e" not in text:
        return text
    mantissa, exponent = text.split("e")
    return rf"{mantissa} \times 10^{{{int(exponent)}}}"


#: Between the rows of a matrix of numbers: numbers are no taller than text.
NUMBER_ROW_GAP = r"\\"


def bmatrix(values: Any, row_gap: str = NUMBER_ROW_GAP) -> str:
    """A vector (a column) or a matrix of numbers as a LaTeX ``bmatrix``."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    rows = [" & ".join(number_tex(v) for v in row) for row in array]
    return r"\begin{bmatrix} " + f" {row_gap} ".join(rows) + r" \end{bmatrix}"


def signed_placeholder(value: float, names: dict[sp.Symbol, str]) -> sp.Expr:
    """A stand-in for ``value`` in a formula: a symbol printed as ``|value|``, negated when the
    value is negative, so that signs combine as they would by hand (``e^{-a}`` at ``a = -0.5``
    is ``e^{0.5}``) and no negative number needs brackets. ``names`` receives how to print it.
    """
    symbol = sp.Symbol(f"{_STAND_IN}{len(names)}")
    names[symbol] = number_tex(abs(value))
    return -symbol if value < 0 else symbol


def put_number(
    expr: sp.Expr, variable: sp.Expr, value: float, names: dict[sp.Symbol, str]
) -> sp.Expr:
    """``expr`` with ``value`` in place of ``variable``: as the argument of a function, the
    number with its sign (``tanh(-0.04891)``, not ``-tanh(0.04891)``, which SymPy's odd
    functions would make of a negated stand-in); elsewhere a :func:`signed_placeholder`, so
    that signs combine (``e^{-a}`` at ``a = -0.5`` is ``e^{0.5}``)."""
    applied = {
        f: f.func(*(_signed_number(value, names) if a == variable else a for a in f.args))
        for f in expr.atoms(sp.Function)
        if variable in f.args
    }
    return expr.xreplace(applied).xreplace({variable: signed_placeholder(value, names)})


def _signed_number(value: float, names: dict[sp.Symbol, str]) -> sp.Symbol:
    symbol = sp.Symbol(f"{_STAND_IN}{len(names)}")
    names[symbol] = number_tex(value)
    return symbol


def with_numbers(
    expr: sp.Expr, value_of: Callable[[sp.Indexed], float | None]
) -> tuple[sp.Expr, dict[sp.Symbol, str]]:
    """``expr`` with every entry (``a_{21}``, ``y_{1}``) that has a value replaced by a stand-in
    of it, and the names that print the stand-ins."""
    names: dict[sp.Symbol, str] = {}
    for entry in sorted(expr.atoms(sp.Indexed), key=sp.default_sort_key):
        value = value_of(entry)
        if value is not None:
            expr = put_number(expr, entry, value, names)
    return expr, names


_STAND_IN = "symgrad_number_"


def _is_stand_in(expr: sp.Basic) -> bool:
    return isinstance(expr, sp.Symbol) and expr.name.startswith(_STAND_IN)


class ScalarNumbersPrinter(NotesLatexPrinter):
    """The notes' LaTeX of a formula of scalars whose entries are numbers (stand-ins of
    :func:`signed_placeholder`): a number times a number is written with a dot,
    ``0.01 \\cdot 0.5``, where two juxtaposed numbers would read as one."""

    def _print_Mul(self, expr: sp.Mul) -> str:
        # A number directly followed by another (``0.01 0.5``, ``0.1 0.5^{2}``) gets a dot.
        return re.sub(r"(\d) (?=\d)", r"\1 \\cdot ", super()._print_Mul(expr))


class NumbersLatexPrinter(NotesLatexPrinter):
    """The notes' LaTeX with the vectors and matrices of one sample written out as numbers.

    ``numbers`` maps the quantity of a matrix symbol (``a_1``, ``W_2``, ``grad_{a_2} L``) to its
    value;
    a symbol with no value prints as in the notes. ``h_1^{\\top}`` with a value is the row of its
    numbers, and ``f(a_1)`` applied entry by entry is the column of ``f`` at each number.
    """

    _default_settings = {**NotesLatexPrinter._default_settings, "numbers": {}, "row_gap": ""}

    def _values(self, expr: sp.Basic) -> np.ndarray | None:
        # A vector of one sample; the gradient of a batch's mean loss is the sample's for the
        # example's batch of one.
        if not isinstance(expr, nt.QuantitySymbol) or expr.form is nt.Form.BATCH:
            return None
        numbers: Mapping[nt.Quantity, np.ndarray] = self._settings["numbers"]
        found = numbers.get(expr.quantity)
        return None if found is None else np.asarray(found, dtype=np.float64)

    def _print_Symbol(self, expr: sp.Symbol) -> str:
        # The loss, of the sample or of the example's batch of one, as its number.
        numbers: Mapping[nt.Quantity, np.ndarray] = self._settings["numbers"]
        loss = numbers.get(nt.quantity("loss"))
        if expr in (nt.LOSS, nt.MEAN_LOSS) and loss is not None:
            return number_tex(float(loss))
        return str(super()._print_Symbol(expr))

    def _matrix(self, values: np.ndarray) -> str:
        return bmatrix(values)

    def _print_MatrixSymbol(self, expr: sp.MatrixSymbol) -> str:
        values = self._values(expr)
        return super()._print_MatrixSymbol(expr) if values is None else self._matrix(values)

    def _print_Transpose(self, expr: sp.Transpose) -> str:
        values = self._values(expr.arg)
        if values is None:
            return super()._print_Transpose(expr)
        return self._matrix(values.reshape(values.shape[0], -1).T)

    def _print_Elementwise(self, expr: Elementwise) -> str:
        # f(a_1) entry by entry: the column of f at each number of a_1.
        values = self._values(expr.arg)
        if values is None:
            return super()._print_Elementwise(expr)
        variable = expr.function.variables[0]
        entries = []
        for value in values.ravel():
            names = dict(self._settings["symbol_names"])
            filled = put_number(expr.function.expr, variable, float(value), names)
            settings = {k: v for k, v in self._settings.items() if k in self._default_settings}
            inner = ScalarNumbersPrinter(
                {
                    "symbol_names": names,
                    "index_commas": settings["index_commas"],
                    "inline_partials": settings["inline_partials"],
                }
            )
            entry = inner.doprint(filled)
            entries.append(entry.replace(r"\frac{", r"\dfrac{"))  # full size, as by hand
        gap = self._settings["row_gap"]
        return r"\begin{bmatrix} " + f" {gap} ".join(entries) + r" \end{bmatrix}"

    def _print_MatMul(self, expr: sp.MatMul) -> str:
        # Numbers need no brackets to be read as one factor: [..] [..], not ([..]) [..].
        coeff, matrices = expr.as_coeff_mmul()
        factors = list(matrices.args) if isinstance(matrices, sp.MatMul) else [matrices]
        if not any(self._has_values(f) for f in factors):
            return super()._print_MatMul(expr)
        parts = []
        for factor in factors:
            text = self._print(factor)
            if isinstance(factor, (sp.MatAdd, sp.HadamardProduct)):
                text = rf"\left({text}\right)"
            parts.append(text)
        body = " ".join(parts)
        coeff = sp.sympify(coeff)
        if coeff == 1:
            return body
        return ("-" if coeff == -1 else f"{self._print(coeff)} ") + body

    def _print_HadamardProduct(self, expr: sp.HadamardProduct) -> str:
        if not any(self._has_values(f) for f in expr.args):
            return super()._print_HadamardProduct(expr)
        parts = []
        for arg in expr.args:
            text = self._print(arg)
            plain_product = isinstance(arg, sp.MatMul) and not self._has_values(arg)
            if isinstance(arg, sp.MatAdd) or plain_product:
                text = rf"\left({text}\right)"
            parts.append(text)
        return r" \odot ".join(parts)

    def _has_values(self, expr: sp.Basic) -> bool:
        return any(self._values(s) is not None for s in expr.atoms(sp.MatrixSymbol))


def latex_with_numbers(
    expr: sp.Basic,
    numbers: Mapping[nt.Quantity, np.ndarray],
    *,
    index_commas: bool = False,
    row_gap: str,
) -> str:
    """``expr`` (a formula of vectors and matrices) in LaTeX with ``numbers`` in place, the
    rows of a matrix ``row_gap`` apart."""
    printer = NumbersLatexPrinter(
        {"numbers": dict(numbers), "index_commas": index_commas, "row_gap": row_gap}
    )
    return printer.doprint(expr)


def latex_scalar_with_numbers(
    expr: sp.Expr,
    value_of: Callable[[sp.Indexed], float | None],
    *,
    index_commas: bool = False,
    display_fractions: bool = False,
) -> str:
    """A formula of scalars (``e^{a_{21}} / (e^{a_{21}} + e^{a_{22}})``) with its entries'
    numbers put in (``display_fractions``: at full size, as in a matrix)."""
    replaced, names = with_numbers(expr, value_of)
    symbol_names = {nt.LOSS: nt.LATEX_LOSS, nt.MEAN_LOSS: nt.LATEX_MEAN_LOSS, **names}
    settings = {
        "symbol_names": symbol_names,
        "index_commas": index_commas,
        "display_fractions": display_fractions,
    }
    printer = ScalarNumbersPrinter(settings)
    return printer.doprint(replaced)


__all__ = [
    "SIGNIFICANT",
    "NumbersLatexPrinter",
    "bmatrix",
    "latex_scalar_with_numbers",
    "latex_with_numbers",
    "number_tex",
    "number_text",
    "rounded",
    "with_numbers",
]
