"""The computational graph of one sample, CS231n style: operations as nodes, quantities on edges.

Part of the renderers (derivation, worked example -> **graph** -> notes). The graph is drawn top to
bottom: the input ``x`` enters, each layer's operation ``b_k + W_k h_{k-1}`` takes its parameters
from the left, the activation, the output function and the loss follow, and ``L`` leaves at the
bottom. Beside every edge is its quantity's value (green) and the gradient of the loss with
respect to it (red, in a dashed frame: told apart without colour too), below it or after it:
symbols, or the numbers of the worked example. Every label is a value: words (``softmax``) and
formulas (:mod:`symgrad.render.formula`), printed by the writer of each format (TikZ, SVG, the
Markdown table); positions are computed here from the sizes of the labels, measured on their
printing, and the TikZ template only places what it is given. Markdown has no TikZ: it gets the
operations as a Mermaid flowchart (:mod:`symgrad.render.mermaid`, the labels' plain text) and
the quantities as a table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import sympy as sp

from symgrad import notation as nt
from symgrad.network import Network
from symgrad.notation import Quantity
from symgrad.ops.base import Op
from symgrad.ops.output_loss import OutputAndLoss
from symgrad.render import formula
from symgrad.render.document import (
    Graph,
    GraphLabel,
    GraphNode,
    GraphSkip,
    Inline,
    Prose,
    Ref,
    Table,
    words,
)
from symgrad.render.formula import Math, Number, Numbers, Scripted, Token
from symgrad.render.mermaid import flowchart
from symgrad.render.numbers import number_text
from symgrad.worked import WorkedExample

#: Networks with at most this many layers of weights are drawn whole; deeper ones show their
#: first layer and their last two, the layers between elided in one dotted box.
GRAPH_MAX_LAYERS = 3

# Sizes in centimetres of what is drawn at \small (the template's size).
_ROW = 0.45  # a row of a matrix of numbers
_CHAR = 0.19  # a digit, a sign or a point
_COLUMN_GAP = 0.4  # between the columns of a matrix
_BRACKETS = 0.35
_SYMBOL = (1.6, 0.55)  # the width and height of a symbol such as \nabla_{a_1} L
_NODE = 0.65  # the height of an operation's box
_MIN_EDGE = 1.15  # between the centres of two nodes of the chain
_GAP = 0.3
_PARAMETER_X = -1.9  # where a parameter enters, left of the chain (or further left of a wide box)
_ENTRY = 0.75  # at least this far between a wide box and the parameters entering it
_LABEL_X = 0.3  # right of the chain, where the labels of its edges start
#: The width a graph may take (cm): a line of the notes (16 cm), less room for error.
NOTES_WIDTH = 15.5


@dataclass(frozen=True)
class Box:
    """Where a node or label of the graph is drawn, about (cm)."""

    left: float
    bottom: float
    right: float
    top: float


@dataclass(frozen=True)
class Layout:
    """The geometry of a graph as it is computed: the box of every node and label by name, and
    every line drawn ``(source, target, the points it goes through)``."""

    boxes: dict[str, Box]
    lines: tuple[tuple[str, str, tuple[tuple[float, float], ...]], ...]


@dataclass(frozen=True)
class _Edge:
    """A quantity on an edge: its symbol, the symbol of its gradient, and their numbers."""

    symbol: Math
    gradient: Math | None
    value: np.ndarray | None = None
    slope: np.ndarray | None = None


def _symbol_width(symbol: Math) -> float:
    """About how wide a symbol (``\\nabla_{a_{1}} \\mathcal{L}``) is drawn, in cm: its glyphs as
    LaTeX prints it, a command one glyph."""
    glyphs = re.sub(r"\\[A-Za-z]+", "#", formula.latex(symbol))
    glyphs = re.sub(r"[{}_ ]", "", glyphs)
    return 0.18 * len(glyphs) + 0.1


def _label_width(label: Prose) -> float:
    """About how wide the words and formulas of a node's label are drawn, in cm."""
    parts = (label,) if isinstance(label, str | Ref) else label
    widths = []
    for part in parts:
        assert not isinstance(part, Ref), "a figure's label refers to nothing"
        widths.append(_symbol_width(part) if isinstance(part, Math) else 0.16 * len(words(part)))
    return sum(widths)


def _formula(expr: sp.Basic) -> Inline:
    """A label that is one formula: a quantity's symbol, an operation."""
    return Inline.of(Math.of(expr))


def _symbol(q: Quantity) -> Math:
    return Math.of(nt.symbol(q))


def _size(values: np.ndarray | None, symbol: Math | None) -> tuple[float, float]:
    """About how wide and tall a label is drawn, in cm: numbers, or (``values`` None) the
    ``symbol``."""
    if values is None:
        return (_symbol_width(symbol), _SYMBOL[1]) if symbol else (0.0, 0.0)
    array = np.atleast_1d(values)
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    widths = [max(len(number_text(v)) for v in column) for column in array.T]
    width = sum(w * _CHAR for w in widths) + _COLUMN_GAP * (len(widths) - 1) + _BRACKETS
    return width, array.shape[0] * _ROW + 0.15


def _matrix(values: np.ndarray) -> Math:
    """Numbers as a matrix (a vector as a column); one number as itself."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 0:
        return Math.of(Number(float(array)))
    return Math.of(Numbers(array))


def _row(values: np.ndarray) -> Math:
    """Numbers for a table cell: a vector as a transposed row, a matrix by its rows."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 1:
        return Math.of(Scripted(Math.of(Numbers(array.reshape(1, -1))), sup=Math.of(Token.TOP)))
    return _matrix(array)


def _node_width(label: Prose) -> float:
    """About how wide an operation's box is drawn (cm)."""
    return _label_width(label) + 0.35


def _prediction_slope(net: Network, example: WorkedExample) -> np.ndarray:
    """``dL/dyhat`` of the example: the loss's slope at its prediction and target."""
    op = net.op(OutputAndLoss)
    assert isinstance(op, OutputAndLoss)
    yhat, y = example.value(nt.quantity("yhat")), example.value(nt.quantity("y"))
    return np.array(
        [
            float(op.loss_slope(i).subs({nt.prediction(i): yhat[i - 1], nt.target(i): y[i - 1]}))
            for i in range(1, len(yhat) + 1)
        ]
    )


def _skip_edges(net: Network) -> list[tuple[str, str, Quantity]]:
    """The edges that go around operations: ``(source node, target node, quantity)`` for each
    input an op adds to its output unchanged (:meth:`~symgrad.ops.base.Op.skips`)."""
    made = {node.out: node.name for op in net.ops for node in op.nodes(net)}
    found = []
    for op in net.forward_order():
        nodes = op.nodes(net)
        for q in op.skips():
            if nodes and q in made:
                found.append((made[q], nodes[-1].name, q))
    return found


def _op_label(label: str | sp.Basic) -> Prose:
    """An operation's label: words (``softmax``), or its formula (``b_1 + W_1 h_0``)."""
    return label if isinstance(label, str) else _formula(label)


def _flowchart(
    chain: list[tuple[str, str, Prose]],
    between: list[_Edge],
    sides: list[tuple[str, float, float, list[tuple[_Edge, str]]]],
    skips: list[tuple[str, str, Quantity]],
) -> tuple[str, ...]:
    """The graph as a Mermaid flowchart (for Markdown): the chain, the inputs from its side."""
    return flowchart(
        [(name, label) for name, _, label in chain],
        [edge.symbol for edge in between],
        [(node, [(n, e.symbol) for e, n in inputs]) for node, *_, inputs in sides],
        [(source, target, _symbol(q)) for source, target, q in skips],
    )


class _Canvas:
    """What a graph draws, as it is placed: nodes, edges and labels, the box each takes, and the
    rows of the Markdown table."""

    def __init__(self) -> None:
        self.nodes: list[GraphNode] = []
        self.edges: list[tuple[str, str]] = []
        self.labels: list[GraphLabel] = []
        self.skips: list[GraphSkip] = []
        #: Rows of the Markdown table with how high their edge is drawn, to sort them by.
        self.rows: list[tuple[float, tuple[Prose, ...]]] = []
        #: Where each node and label is drawn, about (cm).
        self.boxes: dict[str, Box] = {}
        #: The lines around the chain (skip connections), through the points they turn at.
        self.lanes: list[tuple[str, str, tuple[tuple[float, float], ...]]] = []

    def node(self, name: str, x: float, y: float, label: Prose, kind: str) -> None:
        """A node at ``(x, y)``: a box (``op``, ``elided``), a symbol (``end``) or a point."""
        self.nodes.append(GraphNode(name, f"{x:.2f}", f"{y:.2f}", label, kind))
        if kind == "coordinate":
            w = h = 0.0
        elif kind == "end":
            w, h = _label_width(label) + 0.14, 0.5
        else:
            w, h = _node_width(label), _NODE
        self.boxes[name] = Box(x - w / 2, y - h / 2, x + w / 2, y + h / 2)

    def put(
        self, x: float, y: float, anchor: str, text: Math, role: str, size: tuple[float, float]
    ) -> None:
        """A label at ``(x, y)`` by its ``anchor``, about ``size`` (cm) wide and tall."""
        self.labels.append(GraphLabel(f"{x:.2f}", f"{y:.2f}", anchor, text, role))
        w, h = size
        left = x - w / 2 if anchor in ("north", "south") else (x if "west" in anchor else x - w)
        low = y - h / 2 if anchor in ("east", "west") else (y - h if "north" in anchor else y)
        self.boxes[f"{role} {len(self.labels)}"] = Box(left, low, left + w, low + h)

    def label_of(self, name: str) -> Prose:
        return next(n.label for n in self.nodes if n.name == name)

    def table_row(self, edge: _Edge, source: Prose, target: Prose, y: float) -> None:
        """A row of the table: the quantity, where it comes from and goes, value, gradient."""
        gradient: Math | None
        if edge.value is None:
            value, gradient = edge.symbol, edge.gradient
        else:
            value = _row(edge.value)
            gradient = None if edge.slope is None else _row(edge.slope)
        shown = "none" if gradient is None else Inline.of(gradient)
        self.rows.append((y, (Inline.of(edge.symbol), source, target, Inline.of(value), shown)))


class _Builder(_Canvas):
    def __init__(
        self,
        net: Network,
        example: WorkedExample | None,
        width: float = NOTES_WIDTH,
        across: bool = False,
    ) -> None:
        super().__init__()
        self.numbers_across = across  # numbers too left to right where they fit (a frame)
        self.net = net
        self.width = width
        self.example = example
        self.L = net.L
        #: How far the labels of the chain reach right of it (cm).
        self.right = 0.0
        #: Where the parameters and the target enter, drawn down: left of the widest box they
        #: enter, so that no arrow starts under a box.
        self.parameter_x = _PARAMETER_X

    # quantities ---------------------------------------------------------------------------

    def quantity(self, q: Quantity) -> _Edge:
        """The edge of ``q``: ``x``, ``a_k``, ``h_k``, ``yhat``, the loss, ``W_k``, ``b_k``,
        ``y``."""
        symbol = _symbol(q)
        gradient: Math | None
        if q.base in ("x", "y"):
            gradient = None  # data: backpropagation needs no gradient of these
        elif q.base == "loss":
            gradient = Math.of(1)  # dL/dL, where the backward pass starts
        else:
            gradient = _symbol(q.grad())
        ex = self.example
        if ex is None:
            return _Edge(symbol, gradient)
        value = ex.value(q)
        slope: np.ndarray | None = None
        if q.base == "loss":
            slope = np.asarray(1.0)
        elif q.base == "yhat":
            slope = _prediction_slope(self.net, ex)
        elif gradient is not None:
            slope = ex.value(q.grad())
        return _Edge(symbol, gradient, value, slope)

    def texts(self, edge: _Edge) -> tuple[Math, Math | None]:
        """The value and the gradient as they are written beside the edge."""
        if edge.value is None:
            return edge.symbol, edge.gradient
        gradient = None if edge.slope is None else _matrix(edge.slope)
        return _matrix(edge.value), gradient

    def sizes(self, edge: _Edge) -> tuple[float, float, float, float]:
        """Widths and heights of the value and the gradient labels."""
        vw, vh = _size(edge.value, edge.symbol)
        gw, gh = _size(edge.slope, edge.gradient) if edge.gradient is not None else (0.0, 0.0)
        return vw, vh, gw, gh

    # layout -------------------------------------------------------------------------------

    def build(self, caption: str, intro: Prose) -> Graph:
        chain: list[tuple[str, str, Prose]] = [("in", "end", _formula(nt.symbol(nt.quantity("x"))))]
        between: list[_Edge] = [self.quantity(nt.quantity("x"))]
        last: Quantity | None = None  # the quantity out of the elided layers
        for op in self.net.forward_order():
            for node in op.nodes(self.net):
                if not self.kept(op):
                    last = node.out
                    continue
                if last is not None:
                    chain.append(("elided", "elided", self.elided_label()))
                    between.append(self.quantity(last))
                    last = None
                chain.append((node.name, "op", _op_label(node.label)))
                between.append(self.quantity(node.out))
        chain.append(("out", "coordinate", ""))
        # a graph of symbols left to right where it fits (its estimate is generous)
        fits = self.across_width(chain, between) <= self.width + 0.5
        across = (self.example is None or self.numbers_across) and fits
        if across:
            self.layout_across(chain, between)
        else:
            self.layout_down(chain, between)
        names = {name for name, _, _ in chain}
        skips = [
            (source if source in names else "elided", target, q)
            for source, target, q in _skip_edges(self.net)
            if target in names
        ]
        for source, target, q in skips:
            self.skip(source, target, q, across)
        return Graph(
            tuple(self.nodes),
            tuple(self.edges),
            tuple(self.labels),
            _flowchart(chain, between, self.sides(), skips),
            Table(
                ("quantity", "from", "into", "value", "gradient"),
                tuple(row for _, row in sorted(self.rows, key=lambda r: r[0])),
                r"@{}lllll@{}",
                ("left", "left", "left", "left", "left"),
            ),
            caption,
            intro,
            beside=not across and self.example is None,
            floating=self.example is None,
            skips=tuple(self.skips),
        )

    def kept(self, op: Op) -> bool:
        """Whether ``op`` is drawn: every op of a shallow network; of a deep one, those of the
        first layer and of the last two."""
        return self.L <= GRAPH_MAX_LAYERS or op.layer <= 1 or op.layer >= self.L - 1

    def elided_label(self) -> str:
        """The text of the box that stands for the layers left out."""
        last = self.L - 2
        return "layer 2" if last == 2 else f"layers 2 to {last}"

    def skip(self, source: str, target: str, q: Quantity, across: bool) -> None:
        """A dashed edge around the operations between ``source`` and ``target``: above the
        chain drawn across, right of the labels of the chain drawn down."""
        at = {node.name: (float(node.x), float(node.y)) for node in self.nodes}
        (x1, y1), (x2, y2) = at[source], at[target]
        if across:
            lane = 1.35
            path = (
                f"({source}.north) -- ({x1:.2f},{lane:.2f}) -- ({x2:.2f},{lane:.2f}) -- "
                f"({target}.north)"
            )
        else:
            lane = self.right + _GAP
            path = (
                f"({source}.east) -- ({lane:.2f},{y1:.2f}) -- ({lane:.2f},{y2:.2f}) -- "
                f"({target}.east)"
            )
        self.skips.append(GraphSkip(path))
        corner = (x1, lane) if across else (lane, y1)
        turn = (x2, lane) if across else (lane, y2)
        self.lanes.append((source, target, ((x1, y1), corner, turn, (x2, y2))))
        edge = self.quantity(q)
        self.table_row(edge, self.label_of(source), self.label_of(target), -(y1 + y2) / 2 + x1)

    def layout_down(self, chain: list[tuple[str, str, Prose]], between: list[_Edge]) -> None:
        """Top to bottom, the parameters entering from the left, labels right of the edges."""
        # Each edge long enough for its labels; then the parameters of consecutive layers
        # (left of the chain) kept apart by stretching the edges between their operations.
        labels = {name: label for name, _, label in chain}
        widest = max((_node_width(labels[side[0]]) for side in self.sides()), default=0.0)
        self.parameter_x = min(_PARAMETER_X, -widest / 2 - _ENTRY)
        shortest = _MIN_EDGE if self.example is not None else _MIN_EDGE - 0.25
        lengths = [max(shortest, max(self.sizes(e)[1], self.sizes(e)[3]) + _NODE) for e in between]
        self.right = max(_LABEL_X + w + _GAP + g for w, _, g, _ in map(self.sizes, between))
        sides = self.sides()
        names = [name for name, _, _ in chain]
        for first, second in zip(sides, sides[1:], strict=False):
            start, stop = names.index(first[0]), names.index(second[0])
            needed = first[2] + second[1] + _GAP
            have = sum(lengths[start:stop])
            if have < needed:
                extra = (needed - have) / (stop - start)
                for n in range(start, stop):
                    lengths[n] += extra
        y = 0.0
        positions: dict[str, float] = {}
        for n, (name, kind, label) in enumerate(chain):
            positions[name] = y
            self.node(name, 0.0, y, label, kind)
            if n < len(between):
                edge = between[n]
                middle = y - lengths[n] / 2
                self.edges.append((name, chain[n + 1][0]))
                self.edge_labels(edge, middle)
                source = "input" if n == 0 else chain[n][2]
                self.table_row(edge, source, chain[n + 1][2] or "the end", -middle)
                y -= lengths[n]
        for node, _, _, entering in sides:
            centre = positions[node]
            offsets = self.offsets(entering)
            for (edge, key), offset in zip(entering, offsets, strict=True):
                self.parameter(edge, key, node, centre + offset)

    def across_gaps(self, chain: list[tuple[str, str, Prose]], between: list[_Edge]) -> list[float]:
        """The length of each edge of the chain drawn left to right. Its labels sit above and
        below the boxes, so they may be wider than the edge by the half of a box each side."""
        return [max(0.75, max(self.sizes(e)[0], self.sizes(e)[2]) - 1.0) for e in between]

    def across_width(self, chain: list[tuple[str, str, Prose]], between: list[_Edge]) -> float:
        boxes = sum(_node_width(label) for _, kind, label in chain if kind != "coordinate")
        return boxes + sum(self.across_gaps(chain, between))

    def layout_across(self, chain: list[tuple[str, str, Prose]], between: list[_Edge]) -> None:
        """Left to right for a graph of symbols: each quantity above its edge, its gradient
        below; the parameters and the target enter from below, their gradients under them."""
        gaps = self.across_gaps(chain, between)
        x = 0.0
        centres: dict[str, float] = {}
        for n, (name, kind, label) in enumerate(chain):
            width = 0.0 if kind == "coordinate" else _node_width(label)
            centre = x + width / 2
            centres[name] = centre
            self.node(name, centre, 0.0, label, kind)
            x += width
            if n < len(between):
                edge = between[n]
                middle = x + gaps[n] / 2
                self.edges.append((name, chain[n + 1][0]))
                value, gradient = self.texts(edge)
                vw, vh, gw, gh = self.sizes(edge)
                self.put(middle, 0.36, "south", value, "value", (vw, vh))
                if gradient is not None:
                    self.put(middle, -0.36, "north", gradient, "gradient", (gw, gh))
                source = "input" if n == 0 else chain[n][2]
                self.table_row(edge, source, chain[n + 1][2] or "the end", middle)
                x += gaps[n]
        for node, _, _, entering in self.sides():
            spread = [-0.55, 0.55] if len(entering) == 2 else [0.0]
            for (edge, name), offset in zip(entering, spread, strict=True):
                at = centres[node] + offset
                self.node(name, at, -1.25, Inline.of(edge.symbol), "end")
                self.edges.append((name, node))
                _, gradient = self.texts(edge)
                if gradient is not None:
                    self.put(at, -1.5, "north", gradient, "gradient", self.sizes(edge)[2:])
                source = "target" if name == "target" else "parameter"
                self.table_row(edge, source, self.label_of(node), at - 0.01)

    def sides(self) -> list[tuple[str, float, float, list[tuple[_Edge, str]]]]:
        """The nodes with inputs from the left (parameters, the target), each with how far its
        inputs reach above and below its centre, and the inputs (edge, node name)."""
        found = []
        for op in self.net.forward_order():
            nodes = op.nodes(self.net)
            if not self.kept(op):
                continue
            entering = [
                (self.quantity(q), "target" if q.base == "y" else q.plain)
                for q in op.inputs
                if q.base in ("W", "b", "y") and not q.gradient
            ]
            if nodes and entering:
                found.append((nodes[-1].name, *self.reach(entering), entering))
        return found

    def stacked(self, edge: _Edge) -> bool:
        """True when a parameter's value and gradient side by side would make the graph too
        wide: then the value goes above the gradient."""
        w, _, g, _ = self.sizes(edge)
        extent = -self.parameter_x + 0.45 + w + _GAP + g + self.right
        return edge.value is not None and extent > self.width

    def heights(self, entering: list[tuple[_Edge, str]]) -> list[float]:
        found = []
        for edge, _ in entering:
            _, vh, _, gh = self.sizes(edge)
            found.append(max(vh + gh + 0.1 if self.stacked(edge) else max(vh, gh), _NODE))
        return found

    def offsets(self, entering: list[tuple[_Edge, str]]) -> list[float]:
        """Vertical offsets of the inputs from the centre of their node, top first."""
        heights = self.heights(entering)
        total = sum(heights) + _GAP * (len(heights) - 1)
        top = total / 2
        offsets = []
        for h in heights:
            offsets.append(top - h / 2)
            top -= h + _GAP
        return offsets

    def reach(self, entering: list[tuple[_Edge, str]]) -> tuple[float, float]:
        total = sum(self.heights(entering)) + _GAP * (len(entering) - 1)
        return total / 2, total / 2

    def edge_labels(self, edge: _Edge, y: float) -> None:
        value, gradient = self.texts(edge)
        vw, vh, gw, gh = self.sizes(edge)
        self.put(_LABEL_X, y, "west", value, "value", (vw, vh))
        if gradient is not None:
            self.put(_LABEL_X + vw + _GAP, y, "west", gradient, "gradient", (gw, gh))

    def parameter(self, edge: _Edge, name: str, into: str, y: float) -> None:
        self.node(name, self.parameter_x, y, Inline.of(edge.symbol), "end")
        self.edges.append((name, into))
        value, gradient = self.texts(edge)
        vw, vh, gw, gh = self.sizes(edge)
        x = self.parameter_x - 0.45
        if gradient is not None and self.stacked(edge):
            # the value above the gradient, both ending at the same x
            self.put(x, y + 0.05, "south east", value, "value", (vw, vh))
            self.put(x, y - 0.05, "north east", gradient, "gradient", (gw, gh))
        else:
            if gradient is not None:
                self.put(x, y, "east", gradient, "gradient", (gw, gh))
                x -= gw + _GAP
            if edge.value is not None:  # a symbol is the node's own label already
                self.put(x, y, "east", value, "value", (vw, vh))
        source = "target" if name == "target" else "parameter"
        self.table_row(edge, source, self.label_of(into), -y)


def graph_layout(
    net: Network, example: WorkedExample | None = None, width: float = NOTES_WIDTH
) -> Layout:
    """Where :func:`computational_graph` draws the nodes, labels and lines of ``net``'s graph."""
    builder = _Builder(net, example, width)
    builder.build("", "")
    centre = {
        node.name: ((b.left + b.right) / 2, (b.bottom + b.top) / 2)
        for node in builder.nodes
        for b in [builder.boxes[node.name]]
    }
    lines = [(a, b, (centre[a], centre[b])) for a, b in builder.edges]
    return Layout(dict(builder.boxes), tuple(lines + builder.lanes))


def computational_graph(
    net: Network,
    example: WorkedExample | None,
    caption: str,
    intro: Prose = "",
    width: float = NOTES_WIDTH,
    across: bool = False,
) -> Graph:
    """The graph of ``net`` with symbols on its edges, or the numbers of ``example``;
    ``intro`` is a paragraph above it, ``width``
    the room it has (cm); ``across``: numbers too left to right, where that fits ``width``."""
    if net.L > GRAPH_MAX_LAYERS:
        which = "Layer 2 is" if net.L == GRAPH_MAX_LAYERS + 1 else f"Layers 2 to {net.L - 2} are"
        caption += f" {which} left out, in one box: each is drawn as layer {net.L - 1} is."
    return _Builder(net, example, width, across).build(caption, intro)


__all__ = ["GRAPH_MAX_LAYERS", "Box", "Layout", "computational_graph", "graph_layout"]
