"""The worked example on frames: its numbers, the graph built up forward then backward, the
gradient matrices.

Part of the deck plan (:mod:`symgrad.render.deck`). As CS231n draws backpropagation, the
computational graph of the sample carries each quantity's value above its edge, appearing one
edge a click from the input to the loss, then each gradient below its edge, appearing one a click
from the loss back to the input; the parameters' gradients are named on the graph and given as
matrices on the frames after it. The lines of the notes' worked example that the graph shows are
not repeated; those it does not show (the gradients of the parameters, what a layer kind adds
once per batch, a step of gradient descent) are kept.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from symgrad import notation as nt
from symgrad.derivation import Kind
from symgrad.render.deck.frames import FRAME_POINTS, Frame, Reveal, block_points
from symgrad.render.deck.plan import section_frames
from symgrad.render.document import (
    Block,
    Display,
    Graph,
    GraphLabel,
    GraphNode,
    Heading,
    Inline,
    Prose,
    Row,
    Section,
    Text,
    printed_text,
)
from symgrad.render.example import ONCE_PER_BATCH, graph_caption
from symgrad.render.formula import Expr, Math, Numbers, Token, equals
from symgrad.render.graph import computational_graph
from symgrad.render.notes.builder import Builder
from symgrad.worked import WorkedExample

#: Where the parameters' nodes are in the graph of symbols (cm), and how far below its node a
#: parameter's gradient is.
_PARAMETER_Y = -1.25
_BELOW_PARAMETER = 0.25
#: The height of a row of numbers (cm), as the graph counts it.
_ROW = 0.45

#: The title of the frame of the graph.
GRAPH_TITLE = "The example on the graph: forward, then backward"


def reveal(builder: Builder, example: WorkedExample) -> Reveal | None:
    """The graph with the numbers of ``example``, left to right, its values appearing forward
    and its gradients backward; the parameters' gradients named, their numbers on the frames
    after it. None when it does not fit a frame."""
    caption = graph_caption(True, True)
    graph = computational_graph(builder.net, example, caption, "", builder.layout.graph_width, True)
    if graph.beside or any(float(n.y) < -4.0 for n in graph.nodes):
        return None  # drawn top to bottom: too wide across
    chain = [lab for lab in graph.labels if float(lab.y) > _PARAMETER_Y]
    below = [lab for lab in chain if lab.role == "gradient"]
    # the parameters go down below the tallest column of numbers under the chain
    depth = max((0.36 + _ROW * _rows(lab.text) + 0.3 for lab in below), default=0.0)
    shift = min(0.0, -(depth + 0.3) - _PARAMETER_Y)
    nodes = tuple(
        replace(n, y=f"{float(n.y) + shift:.2f}") if float(n.y) <= _PARAMETER_Y else n
        for n in graph.nodes
    )
    names = {n.name: n for n in graph.nodes}
    labels: list[GraphLabel] = []
    for label in graph.labels:
        if float(label.y) > _PARAMETER_Y:
            labels.append(label)
            continue
        node = min(
            (n for n in names.values() if n.kind == "end" and float(n.y) <= _PARAMETER_Y),
            key=lambda n: abs(float(n.x) - float(label.x)),
        )
        symbol = _gradient_symbol(_formula(node.label))
        y = f"{float(node.y) + shift - _BELOW_PARAMETER:.2f}"
        previous = labels[-1] if labels else None
        if previous is not None and previous.y == y and float(label.x) - float(previous.x) < 1.5:
            # a layer's weights and biases enter side by side: one label names both gradients
            middle = f"{(float(previous.x) + float(label.x)) / 2:.2f}"
            text = _formula(previous.text) + Math.of(Token.COMMA, Token.SPACE, symbol)
            labels[-1] = replace(previous, x=middle, text=text)
            continue
        labels.append(replace(label, y=y, text=symbol))
    graph = replace(graph, nodes=nodes, labels=tuple(labels), caption=_caption())
    graph = _parameters_joined(graph)
    return Reveal(builder.fmt.graph(graph), _slides(graph.labels))


def _parameters_joined(graph: Graph) -> Graph:
    """A layer's weights and biases as one node under the middle of the box they enter, with
    one arrow: two arrows would cross the columns of numbers beside the box."""
    at = {n.name: n for n in graph.nodes}
    into: dict[str, list[str]] = {}
    for source, target in graph.edges:
        node = at[source]
        if node.kind == "end" and float(node.y) <= _PARAMETER_Y and node.name != "target":
            into.setdefault(target, []).append(source)
    dropped: set[str] = set()
    moved: dict[str, GraphNode] = {}
    for target, sources in into.items():
        if len(sources) < 2:
            continue
        first = at[sources[0]]
        joined = Math.of(_formula(first.label))
        for source in sources[1:]:
            joined += Math.of(Token.COMMA, _formula(at[source].label))
        moved[first.name] = replace(first, x=at[target].x, label=Inline.of(joined))
        dropped.update(sources[1:])
    nodes = tuple(moved.get(n.name, n) for n in graph.nodes if n.name not in dropped)
    edges = tuple(e for e in graph.edges if e[0] not in dropped)
    labels = []
    for label in graph.labels:
        if float(label.y) <= _PARAMETER_Y:
            near = min(moved.values(), key=lambda n: abs(float(n.x) - float(label.x)), default=None)
            if near is not None and abs(float(near.x) - float(label.x)) < 1.0:
                label = replace(label, x=near.x)
        labels.append(label)
    return replace(graph, nodes=nodes, edges=edges, labels=tuple(labels))


def _formula(label: Prose | Math) -> Math:
    """The formula a label of the graph is (``W_{1}``, or a column of numbers), not printed yet."""
    only = label[0] if isinstance(label, Inline) and len(label) == 1 else label
    assert isinstance(only, Math), "a label of the graph was printed, or is words"
    return only


def _gradient_symbol(symbol: Math) -> Math:
    """``\\nabla_{W_{1}} \\mathcal{L}`` for the node labelled ``W_{1}``."""
    (part,) = symbol
    q = nt.quantity_of(part.expr) if isinstance(part, Expr) else None
    assert q is not None, "a parameter's node is labelled with its symbol"
    return Math.of(nt.symbol(q.grad()))


def _rows(label: Math | str) -> int:
    """How many rows of numbers a label of the graph shows (a symbol: one)."""
    numbers = [part for part in _formula(label) if isinstance(part, Numbers)]
    return max((np.atleast_1d(part.values).shape[0] for part in numbers), default=1)


def _caption() -> str:
    return (
        "Each value appears above its edge, from the input to the loss; then each gradient, "
        "in a dashed frame below its edge, from 1 at the loss back to the input. The "
        "gradients of the parameters follow as matrices."
    )


def _slides(labels: tuple[GraphLabel, ...]) -> tuple[int, ...]:
    """The slide of each label: values left to right, then the chain's gradients right to left;
    a parameter's gradient with the gradient of the layer it enters."""
    values = sorted((float(lab.x), n) for n, lab in enumerate(labels) if lab.role == "value")
    chain = [
        (float(lab.x), n)
        for n, lab in enumerate(labels)
        if lab.role == "gradient" and float(lab.y) > _PARAMETER_Y
    ]
    slide: dict[int, int] = {}
    for count, (_, n) in enumerate(values, 1):
        slide[n] = count
    for count, (_, n) in enumerate(sorted(chain, reverse=True), len(values) + 1):
        slide[n] = count
    for n, lab in enumerate(labels):
        if n not in slide:
            right = [(x, m) for x, m in chain if x > float(lab.x)]
            slide[n] = slide[min(right)[1]] if right else len(values) + 1
    return tuple(slide[n] for n in range(len(labels)))


def inputs(builder: Builder, example: WorkedExample) -> Display:
    """The parameters, the input and the target, a layer a row: the input beside the first
    layer's parameters and the target beside the last's, so that they fit a frame."""
    rows = []
    L = builder.L
    for k in range(1, L + 1):
        names = [nt.quantity("W", k), nt.quantity("b", k)]
        names += [nt.quantity("x")] if k == 1 else []
        names += [nt.quantity("y")] if k == L else []
        right = Math.of()
        for n, q in enumerate(names):
            value = example.x if q.base == "x" else example.y if q.base == "y" else example.value(q)
            if n:
                right += Math.of(Token.COMMA, Token.QQUAD, builder.net.symbol(q))
            right += equals(Math.of(Numbers(np.asarray(value))))
        rows.append(Row(Math.of(builder.net.symbol(names[0])), right))
    return Display(tuple(rows), kind="summary")


def _parts(blocks: tuple[Block, ...]) -> dict[str, list[Block]]:
    """The blocks of the example's section under each of its headings ("" for its opening)."""
    parts: dict[str, list[Block]] = {"": []}
    heading = ""
    for block in blocks:
        if isinstance(block, Heading):
            heading = printed_text(block.title)
            parts[heading] = [block]
        else:
            parts[heading].append(block)
    return parts


def _once_per_batch(blocks: list[Block]) -> list[Block]:
    """What a layer kind adds once per batch: the sentence that says so and its lines."""
    for n, block in enumerate(blocks):
        if isinstance(block, Text) and block.text == ONCE_PER_BATCH:
            rest = blocks[n + 1 :]
            lines = []
            for later in rest:
                if not isinstance(later, Display):
                    break
                lines.append(later)
            return [block, *lines]
    return []


def _gradient_lines(builder: Builder, blocks: list[Block]) -> list[Block]:
    """The backward pass's lines whose results are the parameters' gradients, and the sentence
    that says what they are."""
    wanted = [
        builder.fmt.label(builder.step(kind, k).key)
        for k in builder.net.layers_backward()
        for kind in (Kind.WEIGHT_MATRIX, Kind.BIAS_VECTOR)
    ]
    kept: list[Block] = []
    for block in blocks:
        if (
            isinstance(block, Display)
            and any(label in str(block.rows[0].tag) for label in wanted)
            or isinstance(block, Text)
            and str(block.text).startswith("The results of")
        ):
            kept.append(block)
    return kept


def example_frames(builder: Builder, example: WorkedExample, section: Section) -> list[Frame]:
    """The worked example's frames, from the notes' section (printed) and the numbers."""
    parts = _parts(section.blocks)
    opening = [inputs(builder, example) if isinstance(b, Display) else b for b in parts[""]]
    frames = section_frames(replace(section, blocks=tuple(opening)))
    shown = reveal(builder, example)
    if shown is None or block_points(shown) > FRAME_POINTS:
        # a graph too wide for a frame: the example's lines, forward then backward, instead
        for heading in ("Forward pass", "Backward pass"):
            lines = tuple(b for b in parts.get(heading, []) if not isinstance(b, Heading))
            title = f"The example: the {heading.lower()}"
            frames += section_frames(Section(title, "", lines, id=section.id))
        forward, backward = [], []
    else:
        frames.append(Frame(GRAPH_TITLE, (shown,), section.id))
        forward = _once_per_batch(parts.get("Forward pass", []))
        backward = parts.get("Backward pass", [])
    gradients = _gradient_lines(builder, backward) + _once_per_batch(backward)
    title = "The example: the gradients of the parameters"
    frames += section_frames(Section(title, "", tuple(forward + gradients), id=section.id))
    for heading, blocks in parts.items():
        if heading not in ("", "Forward pass", "Backward pass"):
            frames += section_frames(Section(heading, "", tuple(blocks), id=section.id))
    return frames
