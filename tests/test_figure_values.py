"""The figures hold their labels as values, never as typed LaTeX.

The network's figure (its units, the captions under its layers, the parameters over its edges)
and the computational graph (its nodes, the value and the gradient beside each edge, the rows of
its table) are built of words and formulas (:mod:`symgrad.render.formula`); each writer prints
them: TikZ as ``$...$``, the web page as MathML, Mermaid as plain text. A label typed as LaTeX
(``"$W_{1}$"``, ``r"\\vdots"``) could only be printed as LaTeX, and its readers would have to
parse it. The notes are looked at as built, before any writer prints them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from functools import cache

import pytest

from symgrad.network import Network
from symgrad.pipeline import derive
from symgrad.render import notes
from symgrad.render.document import Diagram, Graph, Inline, Notes, Ref
from symgrad.render.formula import Math, Token
from symgrad.render.graph import computational_graph
from symgrad.render.notes import Builder, NotesOptions
from symgrad.render.notes.formats import Format
from symgrad.spec import NetworkSpec
from symgrad.worked import worked_example

#: LaTeX typed into words: a formula's dollar, a command or a line break, a braced index.
TYPED = re.compile(r"\$|\\|[_^]\{")


@cache
def built(sizes: tuple[int, ...], audience: str) -> Notes:
    """The notes of ``sizes`` with the worked example of seed 0, every section, as built."""
    derivation = derive(NetworkSpec.parse(list(sizes)), prove=False)
    options = NotesOptions(example=0, audience=audience).resolved(derivation.spec.depth)
    example = worked_example(derivation, 0)
    return notes.build(Builder(derivation, Format(derivation, ""), options, example))


def figures(tree: Notes) -> list[Diagram | Graph]:
    return [b for s in tree.sections for b in s.blocks if isinstance(b, Diagram | Graph)]


def typed(where: str, label: object, formula: bool = False) -> Iterator[str]:
    """What is typed LaTeX in ``label``: any string where a formula belongs (``formula``), a
    string with LaTeX in it in words, anything that is neither words nor a formula."""
    if isinstance(label, Math):
        # a formula's parts are values (Math.of takes no string); a Token is a named symbol
        return
    if isinstance(label, str) and not isinstance(label, Token):
        if formula or TYPED.search(label):
            yield f"{where}: {label!r}"
        return
    if isinstance(label, Inline) and not formula:
        for part in label:
            if isinstance(part, Ref):
                yield f"{where}: a reference in a figure"
            else:
                yield from typed(where, part)
        return
    yield f"{where}: {label!r} is neither words nor a formula"


def typed_labels(figure: Diagram | Graph) -> list[str]:
    """Every label of ``figure`` typed as LaTeX, by where it is."""
    found: list[str] = []
    if isinstance(figure, Diagram):
        for node in figure.nodes:
            found += typed(f"unit {node.name}", node.label, formula=True)
        for _, _, lines in figure.captions:
            for line in lines:
                found += typed("a layer's caption", line)
        for _, _, text in figure.weights:
            found += typed("the parameters of a layer", text)
        return found
    for g in figure.nodes:
        found += typed(f"node {g.name}", g.label)
    for n, label in enumerate(figure.labels):
        found += typed(f"{label.role} {n}", label.text, formula=True)
    for r, row in enumerate(figure.table.rows):
        for c, cell in enumerate(row):
            found += typed(f"table row {r} column {c}", cell)
    return found


@pytest.mark.parametrize(
    ("sizes", "audience"), [((3, 3, 2), "instructors"), ((2, 2, 2), "students")]
)
def test_every_figure_holds_values(sizes: tuple[int, ...], audience: str) -> None:
    drawn = figures(built(sizes, audience))
    kinds = [type(f).__name__ for f in drawn]
    # the network, the graph of symbols, the graph of the worked example's numbers
    assert kinds.count("Diagram") == 1 and kinds.count("Graph") == 2, kinds
    for figure in drawn:
        assert typed_labels(figure) == []


def _graph(sizes: tuple[int, ...] = (2, 2, 2)) -> Graph:
    return next(f for f in figures(built(sizes, "students")) if isinstance(f, Graph))


def _diagram() -> Diagram:
    return next(f for f in figures(built((2, 2, 2), "students")) if isinstance(f, Diagram))


def _mutants() -> list[tuple[str, Diagram | Graph]]:
    graph, diagram = _graph(), _diagram()
    node, label = graph.nodes[0], graph.labels[0]
    unit = diagram.nodes[0]
    x, y, lines = diagram.captions[0]
    row = graph.table.rows[0]
    return [
        ("a node typed", replace(graph, nodes=(replace(node, label="$x$"), *graph.nodes[1:]))),
        (
            "an edge's label printed",
            replace(graph, labels=(replace(label, text="x"), *graph.labels[1:])),
        ),
        (
            "a unit typed",
            replace(diagram, nodes=(replace(unit, label=r"\vdots"), *diagram.nodes[1:])),
        ),
        (
            "a caption typed",
            replace(diagram, captions=((x, y, (lines[0], "n_{0} = 2")), *diagram.captions[1:])),
        ),
        (
            "a cell typed",
            replace(
                graph,
                table=replace(graph.table, rows=((r"$\hat{y}$", *row[1:]), *graph.table.rows[1:])),
            ),
        ),
        (
            "words with a typed formula",
            replace(graph, nodes=(replace(node, label=Inline.of("layer $k$")), *graph.nodes[1:])),
        ),
    ]


@pytest.mark.parametrize("index", range(6))
def test_a_typed_label_is_found(index: int) -> None:
    name, mutant = _mutants()[index]
    assert typed_labels(mutant), name


def test_words_and_formulas_pass() -> None:
    graph = _graph()
    assert any(isinstance(n.label, str) and n.label for n in graph.nodes), "words: softmax"
    assert any(isinstance(n.label, Inline) for n in graph.nodes), "formulas: b_1 + W_1 x"
    assert typed_labels(graph) == []


def test_the_flowchart_prints_the_values_as_plain_text() -> None:
    """Mermaid draws no LaTeX: the labels' formulas in Unicode, a two-digit layer subscripted
    whole (typed LaTeX converted by hand once gave ``W₁0``)."""
    net = Network(NetworkSpec.parse([2] * 11))
    lines = "\n".join(computational_graph(net, None, "").mermaid)
    assert 'affine10["b₁₀ + W₁₀ h₉"]' in lines and 'W10(["W₁₀"])' in lines
    assert '-- "ŷ" --> loss["cross-entropy"]' in lines
    assert not TYPED.search(lines)
