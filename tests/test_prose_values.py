"""The prose of the notes holds formulas as values, never as typed LaTeX.

A sentence with ``$W_{k}$`` typed into it can only be printed as LaTeX: a writer for another
format (MathML) would have to parse it. The sections converted to formula values
(:mod:`symgrad.render.formula`) must stay so: no string in them holds a ``$`` and none calls a
helper that wraps text in ``$``.
"""

from __future__ import annotations

import io
import tokenize
from pathlib import Path

import symgrad.render.notes as notes_package

NOTES = Path(notes_package.__file__).parent

#: The modules of the notes whose prose is made of values only.
CONVERTED = ("setup.py", "batch.py", "handout.py", "backward.py", "summary.py", "symbols.py")


def typed_formulas(source: str) -> list[str]:
    """Where ``source`` types a formula into prose: a string with a ``$``, or a call of
    ``inline(...)``."""
    found = []
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    for n, token in enumerate(tokens):
        if token.type == tokenize.STRING and "$" in token.string:
            found.append(f"line {token.start[0]}: {token.string}")
        follows = tokens[n + 1].string if n + 1 < len(tokens) else ""
        if token.type == tokenize.NAME and token.string == "inline" and follows == "(":
            found.append(f"line {token.start[0]}: inline(")
    return found


def without_diagram(source: str) -> str:
    """``source`` without the function that draws the network's figure: its TikZ node labels
    (a caption with a line break, ``W_{k}, b_{k}`` over the edges) are still LaTeX, read by
    the figure's templates only, and are not yet values."""
    start = source.index("\ndef diagram(")
    end = source.index("\ndef ", start + 1)
    return source[:start] + source[end:]


def test_the_converted_sections_type_no_formula() -> None:
    for name in CONVERTED:
        source = (NOTES / name).read_text(encoding="utf-8")
        if name == "setup.py":
            source = without_diagram(source)
        assert typed_formulas(source) == [], name


def test_a_typed_formula_is_found() -> None:
    # mutants: one typed formula each, in a string, an f-string and a call of inline()
    assert typed_formulas('text = "the weights $W_{k}$ of layer k"\n')
    assert typed_formulas('text = f"layer {k}: ${g}(a_{{k}})$"\n')
    assert typed_formulas('text = "the input " + inline("x")\n')
    assert not typed_formulas('text = Inline.of("the input ", general("x", None))\n')
