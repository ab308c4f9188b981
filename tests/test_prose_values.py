"""The prose of the documents holds formulas as values, never as typed LaTeX.

A sentence with ``$W_{k}$`` typed into it can only be printed as LaTeX: a writer for another
format (MathML) would have to parse it. Two checks keep it so. The sources of the notes' sections,
of the sentences of :mod:`symgrad.render.wording` and of the slides hold no string with a ``$``
and call no helper that wraps text in ``$`` (the functions that print, measure or read printed
LaTeX and Markdown are named below, each with what it does). A built document (the notes of
``3 3 2 --example 0`` for instructors, every section, and the deck's blocks) holds no string
with a ``$`` or a backslash command in its prose, table cells, notes or figure labels: every
formula is a value, every piece of code a :class:`~symgrad.render.document.Code`.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterable, Iterator
from dataclasses import replace
from functools import cache
from pathlib import Path

import pytest

import symgrad.render.notes as notes_package
from symgrad.pipeline import derive
from symgrad.render import slides, wording
from symgrad.render.document import (
    Block,
    Code,
    Diagram,
    Display,
    Graph,
    Heading,
    Inline,
    Notes,
    Ref,
    Steps,
    Strong,
    Table,
    Text,
    Verbatim,
)
from symgrad.render.formula import Math
from symgrad.render.notes import NotesOptions, document
from symgrad.spec import NetworkSpec

NOTES = Path(notes_package.__file__).parent

#: Every module that builds prose: the notes' sections, the sentences, the slides.
MODULES = (*sorted(NOTES.glob("*.py")), Path(wording.__file__), Path(slides.__file__))

#: Functions that print, measure or read LaTeX and Markdown, where a ``$`` is the format's own,
#: not a formula typed into prose: module name -> the functions.
WRITERS = {
    # the writer: a formula of prose printed in the line as $...$
    "formats.py": ("joined",),
    # the width of a display's note, its formulas printed as $...$, measured
    "widths.py": ("visible_width",),
    # the math blocks of printed Markdown, read to check them with KaTeX
    "__init__.py": ("markdown_math_blocks", "_inline_math"),
}


def typed_formulas(source: str) -> list[str]:
    """Where ``source`` types a formula into prose: a string with a ``$`` (a docstring may
    speak of one), or a call of ``inline(...)``."""
    docstrings = _docstring_lines(source)
    found = []
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    for n, token in enumerate(tokens):
        typed = token.type == tokenize.STRING and "$" in token.string
        if typed and token.start[0] not in docstrings:
            found.append(f"line {token.start[0]}: {token.string}")
        follows = tokens[n + 1].string if n + 1 < len(tokens) else ""
        if token.type == tokenize.NAME and token.string == "inline" and follows == "(":
            found.append(f"line {token.start[0]}: inline(")
    return found


def _docstring_lines(source: str) -> frozenset[int]:
    """The first lines of the docstrings of ``source`` (its module's, classes' and functions')."""
    lines = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                lines.update([first.lineno] if isinstance(first.value.value, str) else [])
    return frozenset(lines)


def without(source: str, names: Iterable[str]) -> str:
    """``source`` with the functions (and methods) called ``names`` blanked out."""
    lines = source.splitlines(keepends=True)
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef) and node.name in names:
            assert node.end_lineno is not None
            for n in range(node.lineno - 1, node.end_lineno):
                lines[n] = "\n"
    return "".join(lines)


def test_the_prose_of_every_document_module_types_no_formula() -> None:
    assert len(MODULES) > 15
    for path in MODULES:
        source = path.read_text(encoding="utf-8")
        names = WRITERS.get(path.name, ()) if path.parent == NOTES else ()
        assert typed_formulas(without(source, names)) == [], path.name


def test_a_typed_formula_is_found() -> None:
    # mutants: one typed formula each, in a string, an f-string and a call of inline()
    assert typed_formulas('text = "the weights $W_{k}$ of layer k"\n')
    assert typed_formulas('text = f"layer {k}: ${g}(a_{{k}})$"\n')
    assert typed_formulas('text = "the input " + inline("x")\n')
    assert not typed_formulas('text = Inline.of("the input ", general("x", None))\n')
    # a docstring may speak of $...$; a string after it may not
    assert not typed_formulas('def f():\n    """Prints ``$x$``."""\n    return 1\n')
    assert typed_formulas('def f():\n    """Prints."""\n    return "$x$"\n')


def test_a_formula_typed_into_a_real_module_is_found() -> None:
    """A typed formula put into the builder of the notes, and into a writer's function under
    another name, is found: the exclusions name functions, not modules."""
    source = (NOTES / "builder.py").read_text(encoding="utf-8")
    assert typed_formulas(source) == []
    typed = source.replace('HEAD_WORD = "three"', 'HEAD_WORD = "$3$"')
    assert typed != source and typed_formulas(typed)
    writer = (NOTES / "formats.py").read_text(encoding="utf-8")
    assert typed_formulas(writer)  # its writer prints $...$
    assert typed_formulas(without(writer, WRITERS["formats.py"])) == []
    renamed = writer.replace("def joined(", "def prose_joined(")
    assert typed_formulas(without(renamed, WRITERS["formats.py"]))


# A built document --------------------------------------------------------------------------

#: A typed formula or a LaTeX command in a string of a built document.
TYPED = re.compile(r"\$|\\[A-Za-z]+")


#: The networks whose documents are walked: the lecture's, with its worked example; two
#: custom activations, one proved to have the sigmoid as its derivative (softplus), one defined
#: on part of the line only (a remark on its domain); and both layer kinds, whose remarks say how
#: they change the equations.
NETWORKS = {
    "3-3-2": (NetworkSpec.parse([3, 3, 2]), 0),
    "custom": (NetworkSpec.parse([2, 3, 3, 2], "log(1+exp(x)),log(x)"), None),
    "kinds": (
        NetworkSpec.parse([2, 4, 4, 2], kinds={"residual": True, "weight_decay": "0.001"}),
        None,
    ),
}


@cache
def _derivation(name: str):  # type: ignore[no-untyped-def]
    return derive(NETWORKS[name][0])


@cache
def _notes(name: str = "3-3-2") -> Notes:
    options = NotesOptions(example=NETWORKS[name][1], audience="instructors", checks="full")
    notes, _ = document(_derivation(name), options=options)
    return notes


def strings(block: Block) -> Iterator[tuple[str, str]]:
    """Every string of ``block`` that a writer prints as words (``(where, text)``): its prose,
    table cells and caption, a display's notes and tags, a figure's labels. A verbatim command
    is set as it is and is no prose."""
    kind = type(block).__name__
    if isinstance(block, Text):
        yield from _prose(kind, block.text)
    elif isinstance(block, Heading):
        yield from _prose(kind, block.title)
    elif isinstance(block, Steps):
        for item in block.items:
            yield from _prose(kind, item)
    elif isinstance(block, Table):
        for cell in (*block.header, *(c for row in block.rows for c in row), block.caption):
            yield from _prose(kind, cell)
    elif isinstance(block, Display):
        for row in block.rows:
            yield from _prose(kind, row.note)
            yield from _prose(kind, row.tag)
    elif isinstance(block, Diagram):
        yield from _prose(kind, block.caption)
        for _, _, lines in block.captions:
            for line in lines:
                yield from _prose(kind, line)
        for _, _, label in block.weights:
            yield from _prose(kind, label)
        for node in block.nodes:
            yield from _prose(kind, node.label)
    elif isinstance(block, Graph):
        yield from _prose(kind, block.intro)
        yield from _prose(kind, block.caption)
        yield from strings(block.table)
        for graph_node in block.nodes:
            yield from _prose(kind, graph_node.label)
        for label in block.labels:
            yield from _prose(kind, label.text)
    else:
        assert isinstance(block, Verbatim), kind


def _prose(where: str, text: object) -> Iterator[tuple[str, str]]:
    """The strings of prose: its text, and the words of its code and bold pieces; formulas
    and references are values."""
    if isinstance(text, str):
        yield where, text
    elif isinstance(text, Code | Strong):
        yield where, text.text
    elif isinstance(text, Inline):
        for piece in text:
            yield from _prose(where, piece)
    else:
        assert isinstance(text, Math | Ref), f"{where}: {type(text).__name__}"


def typed_in(blocks: Iterable[Block]) -> list[tuple[str, str]]:
    return [(where, text) for b in blocks for where, text in strings(b) if TYPED.search(text)]


def _blocks(notes: Notes) -> list[Block]:
    return [*notes.intro, *(b for s in notes.sections for b in s.blocks)]


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_a_built_document_holds_its_math_as_values(name: str) -> None:
    notes = _notes(name)
    ids = {s.id for s in notes.sections}
    assert {"setup", "derivatives", "lecturer", "checks", "batch"} <= ids
    assert ("example" in ids) == (NETWORKS[name][1] is not None)
    assert typed_in(_blocks(notes)) == []


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_the_decks_blocks_hold_their_math_as_values(name: str) -> None:
    example = NETWORKS[name][1]
    blocks = slides.deck_document(_derivation(name), example=example, audience="instructors")
    assert len(blocks) > 20
    assert typed_in(blocks) == []


@pytest.mark.parametrize(
    "typed",
    [
        Text("the weights $W_{k}$ of layer k"),
        Text(Inline.of("the parameters of ", Code("init_params(0)"), r" in \texttt{numpy}")),
        Table(("a",), (("x",), (r"\nabla_{W} L",)), "l", ("left",)),
    ],
)
def test_a_formula_typed_into_a_built_document_is_found(typed: Block) -> None:
    notes = _notes()
    section = notes.sections[2]
    mutant = replace(section, blocks=(*section.blocks, typed))
    sections = tuple(mutant if s is section else s for s in notes.sections)
    assert typed_in(_blocks(replace(notes, sections=sections)))
