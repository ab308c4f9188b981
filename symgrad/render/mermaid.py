"""The computational graph as a Mermaid flowchart: Markdown's picture of it (Markdown draws no
TikZ).

Part of the renderers (graph -> **mermaid** -> notes). :mod:`symgrad.render.graph` builds the
graph's labels as values, words and formulas; this writer prints them as plain text, each
formula in Unicode as the terminal prints it (``b₁ + W₁ x``, ``ŷ``), since Mermaid draws no
LaTeX.
"""

from __future__ import annotations

from collections.abc import Sequence

from symgrad import printing
from symgrad.render.document import Prose, Ref, words
from symgrad.render.formula import Expr, Math


def plain(label: Prose | Math) -> str:
    """A label of the graph in plain text: its words as they are, its formulas in Unicode."""
    if isinstance(label, Math):
        texts = []
        for part in label:
            if not isinstance(part, Expr):
                raise TypeError(f"no plain text for a {type(part).__name__} in a graph's label")
            texts.append(printing.unicode(part.expr))
        return " ".join(texts)
    parts = (label,) if isinstance(label, str | Ref) else label
    texts = []
    for piece in parts:
        assert not isinstance(piece, Ref), "a figure's label refers to nothing"
        texts.append(plain(piece) if isinstance(piece, Math) else words(piece))
    return "".join(texts)


def flowchart(
    chain: Sequence[tuple[str, Prose]],
    symbols: Sequence[Math],
    entering: Sequence[tuple[str, Sequence[tuple[str, Math]]]],
    skips: Sequence[tuple[str, str, Math]],
) -> tuple[str, ...]:
    """The graph top to bottom: the ``chain`` of nodes (name, label), the quantity on each edge
    between two (``symbols``), the inputs (name, symbol) ``entering`` each node from the side
    (the parameters, the target ``y``), and the edges that go around nodes (``skips``: source,
    target, quantity)."""
    lines = ["graph TD"]
    shown = {name: plain(label) for name, label in chain}
    for n, symbol in enumerate(symbols):
        source, target = chain[n][0], chain[n + 1][0]
        text = plain(symbol)
        if target == "out":
            lines.append(f'  {source}["{shown[source]}"] -- "{text}" --> out(("L"))')
        else:
            lines.append(
                f'  {source}["{shown[source]}"] -- "{text}" --> {target}["{shown[target]}"]'
            )
    for node, inputs in entering:
        for name, symbol in inputs:
            label = "y" if name == "target" else plain(symbol)
            lines.append(f'  {name}(["{label}"]) --> {node}')
    lines += [f'  {source} -. "{plain(q)}" .-> {target}' for source, target, q in skips]
    return tuple(lines)
