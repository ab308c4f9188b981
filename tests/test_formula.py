"""The math of every display is a value, never printed LaTeX: each row of the notes, the summary
and the slides holds formulas (:class:`~symgrad.render.formula.Math`) that only a writer prints,
so that another writer (MathML) can print every display from the same values."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

import pytest
import sympy as sp

from symgrad.pipeline import derive
from symgrad.render import formula, notes
from symgrad.render.document import Block, Display, Inline, Notes, Row, Text
from symgrad.render.formula import (
    Filled,
    Math,
    Number,
    Numbers,
    Token,
    equals,
)
from symgrad.render.notes import NotesOptions, build_notes, render_latex, render_markdown
from symgrad.render.notes.builder import Builder
from symgrad.render.notes.formats import Format
from symgrad.render.notes.handout import build_summary
from symgrad.render.slides import build_deck
from symgrad.spec import NetworkSpec

#: Parts made of values (a SymPy expression, a matrix or shape of them, the worked example's
#: numbers and the formulas they are put into, a named symbol): no str among them.
VALUES = formula.PARTS

NETWORKS = {
    "3-3-2": NetworkSpec.parse([3, 3, 2]),
    "2-4-4-3-2 tanh": NetworkSpec.parse([2, 4, 4, 3, 2], "tanh"),
    "784-128-10 relu": NetworkSpec.parse([784, 128, 10], "relu"),
    "3-1 squared error": NetworkSpec.parse([3, 1], None, "identity", "squared-error"),
    "2-3-3-1 residual bce": NetworkSpec.parse(
        [2, 3, 3, 1], "sigmoid", "sigmoid", None, kinds={"residual": True}
    ),
}


def _rows(blocks: Iterable[Block]) -> Iterable[Row]:
    for block in blocks:
        if isinstance(block, Display):
            yield from block.rows


def _document_rows(notes: Notes) -> Iterable[tuple[str, Row]]:
    for section in notes.sections:
        for row in _rows(section.blocks):
            yield section.id, row


def problems(rows: Iterable[tuple[str, Row]]) -> list[tuple[str, str]]:
    """Where a row's side is not a formula of values: printed LaTeX as the side, or as a part
    anywhere in it."""
    found = []
    for where, row in rows:
        for side in (row.left, row.right):
            if not isinstance(side, Math):
                found.append((where, type(side).__name__))
                continue
            found += [(where, type(p).__name__) for p in side.parts() if not isinstance(p, VALUES)]
    return found


@pytest.fixture(scope="module", params=sorted(NETWORKS))
def derivation(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    return derive(NETWORKS[request.param])


def test_every_row_of_the_notes_and_the_summary_is_math(derivation) -> None:  # type: ignore[no-untyped-def]
    for markdown in (False, True):
        notes = build_notes(derivation, markdown, NotesOptions(audience="instructors"))
        assert problems(_document_rows(notes)) == []
        assert problems(_document_rows(build_summary(derivation, markdown))) == []


def test_every_row_of_the_slides_is_math(derivation) -> None:  # type: ignore[no-untyped-def]
    deck = build_deck(derivation, audience="instructors")
    rows = [(frame.title, row) for frame in deck.frames for row in _rows(frame.blocks)]
    assert rows and problems(rows) == []


@pytest.mark.parametrize("network", ["3-3-2", "3-1 squared error", "2-3-3-1 residual bce"])
def test_the_worked_example_is_math(network: str) -> None:
    """Its formulas with the numbers put in are values too: the formula and the numbers."""
    derivation = derive(NETWORKS[network])
    for markdown in (False, True):
        notes = build_notes(derivation, markdown, NotesOptions(example=0))
        rows = [(where, row) for where, row in _document_rows(notes) if where == "example"]
        assert rows and problems(rows) == []
        parts = {type(p) for _, row in rows for side in (row.left, row.right) for p in side.parts()}
        assert {Filled, Numbers, Number} <= parts


def test_the_check_finds_a_row_of_printed_latex() -> None:
    """Mutation: a row whose side is a LaTeX string, or whose formula holds one, is found."""
    notes = build_notes(derive(NETWORKS["3-3-2"]))
    section = notes.sections[1]
    at = next(n for n, b in enumerate(section.blocks) if isinstance(b, Display))
    display = section.blocks[at]
    assert isinstance(display, Display)
    as_string = replace(display.rows[0], right=r"= \hat{y} - y")  # type: ignore[arg-type]
    in_formula = replace(display.rows[0], right=Math((Token.EQUALS, r"\hat{y} - y")))  # type: ignore[arg-type]
    for row in (as_string, in_formula):
        broken = replace(display, rows=(row, *display.rows[1:]))
        blocks = (*section.blocks[:at], broken, *section.blocks[at + 1 :])
        sections = (notes.sections[0], replace(section, blocks=blocks), *notes.sections[2:])
        assert problems(_document_rows(replace(notes, sections=sections)))


def test_a_builder_that_prints_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mutation: a builder whose forms are printed LaTeX cannot build the notes: a writer
    refuses to print a formula made of anything but values."""
    original = Builder.form

    def printing_form(self: Builder, form, step=None) -> Math:  # type: ignore[no-untyped-def]
        return Math((formula.latex(original(self, form, step)),))  # type: ignore[arg-type]

    monkeypatch.setattr(Builder, "form", printing_form)
    with pytest.raises(TypeError, match="made of values"):
        build_notes(derive(NETWORKS["3-3-2"]))


def test_a_formula_is_never_formatted_into_a_string_nor_made_of_one() -> None:
    with pytest.raises(TypeError):
        f"{equals(sp.Symbol('x'))}"
    with pytest.raises(TypeError):
        Math.of(Token.EQUALS, r"\hat{y}")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        equals(sp.Symbol("x")) + "+ 1"


def test_the_writers_print_the_same_values() -> None:
    """LaTeX and Markdown print a formula alike but for the gap between a matrix's rows."""
    matrix = formula.matrix(2, 1, lambda r, c: sp.Symbol(f"x_{r}"))
    math = equals(Math.of(matrix))
    assert (
        formula.latex(math)
        == r"= \begin{bmatrix} x_{1} \\ \noalign{\vskip 1.5ex} x_{2} \end{bmatrix}"
    )
    assert formula.markdown(math) == r"= \begin{bmatrix} x_{1} \\[1.2ex] x_{2} \end{bmatrix}"


def test_notes_render_from_values() -> None:
    derivation = derive(NETWORKS["3-1 squared error"])
    assert r"\begin{align" in render_latex(derivation)
    assert "$$" in render_markdown(derivation)


def test_prose_holds_formulas_where_it_names_an_expression() -> None:
    """The ranges of a step's indices, the shapes in BP1-BP4's notes and the reasons of the
    derivatives appendix are formulas in the tree, printed only by the writer."""
    derivation = derive(NETWORKS["2-4-4-3-2 tanh"])
    options = NotesOptions(audience="instructors", checks="full").resolved(derivation.spec.depth)
    tree = notes.build(Builder(derivation, Format(derivation, ""), options))

    def formulas(text: object) -> list[Math]:
        return [p for p in text if isinstance(p, Math)] if isinstance(text, Inline) else []

    texts = [b.text for s in tree.sections for b in s.blocks if isinstance(b, Text)]
    ranges = [m for t in texts for m in formulas(t) if formula.latex(m) == "i = 1, 2"]
    assert ranges, "the ranges of the output layer's indices"
    notes_ = [r.note for r in _rows(b for s in tree.sections for b in s.blocks)]
    shapes = [m for n in notes_ for m in formulas(n) if Token.TIMES in m]
    assert any(formula.latex(m) == r"n_{k} \times 1" for m in shapes)
    appendix = next(s for s in tree.sections if s.id == "derivatives")
    reasons = [r.note for r in _rows(appendix.blocks)]
    assert any(formulas(n) for n in reasons), "the derivatives' reasons name their terms"


def test_the_jupyter_displays_print_their_references_and_formulas() -> None:
    """The displays for Jupyter are written without the notes around them: their notes'
    references and formulas are printed all the same, never as Python values."""
    from symgrad.render.notes import render_fragment_for_jupyter

    text = render_fragment_for_jupyter(derive(NETWORKS["3-3-2"]))
    assert r"\text{by (11)}" in text
    assert "the entries of $" in text
    for leak in ("Ref(", "Expr(", "Math(", "('"):
        assert leak not in text
