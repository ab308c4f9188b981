"""The network's figure and the computational graph as inline SVG, from the same descriptions
the TikZ figures are drawn from.

Part of the web page writer (:mod:`symgrad.render.html`). The diagram's units, edges and
captions and the graph's nodes, edges and labels are placed by the notes
(:mod:`symgrad.render.notes.setup`) and by :func:`symgrad.render.graph.graph_layout`, which
gives the box of every node and label; this module only draws them, centimetres scaled to
pixels, the y axis turned down. Labels, printed by the page's writer (words, and formulas as
MathML: :class:`~.format.HtmlFormat`), sit in a ``foreignObject``, aligned at the point TikZ
anchors them by. Each picture is an image with a text alternative: its caption, and for
the graph the table of its quantities.
"""

from __future__ import annotations

import math

from symgrad.render.document import Diagram, Graph, printed_text
from symgrad.render.graph import Box, Layout

#: Pixels per centimetre: the TikZ figures set their labels at 9 pt (12 px) and the page at
#: 0.9rem (14.4 px), so the layout's centimetres are scaled by as much.
SCALE = 46.0
#: The radius of a unit of the network's figure (cm): TikZ's circles of 9 mm.
UNIT_RADIUS = 0.45
#: Room around a picture (cm).
MARGIN = 0.5

#: Where a label's content sits in its box, by the TikZ anchor of its point.
_ALIGN = {
    "north": "top center",
    "south": "bottom center",
    "east": "middle end",
    "west": "middle start",
    "north west": "top start",
    "north east": "top end",
    "south west": "bottom start",
    "south east": "bottom end",
    "center": "middle center",
}


def _px(value: float) -> str:
    return f"{value * SCALE:.1f}"


class _Picture:
    """The shapes of one SVG picture in centimetres (y up), and the extent they cover."""

    def __init__(self) -> None:
        self.shapes: list[str] = []
        self.left = self.bottom = math.inf
        self.right = self.top = -math.inf

    def cover(self, box: Box) -> None:
        self.left, self.right = min(self.left, box.left), max(self.right, box.right)
        self.bottom, self.top = min(self.bottom, box.bottom), max(self.top, box.top)

    def line(self, a: tuple[float, float], b: tuple[float, float], css: str) -> None:
        """An arrow from ``a`` to ``b``."""
        self.cover(Box(min(a[0], b[0]), min(a[1], b[1]), max(a[0], b[0]), max(a[1], b[1])))
        self.shapes.append(
            f'<line class="{css}" x1="{_px(a[0])}" y1="{_px(-a[1])}" '
            f'x2="{_px(b[0])}" y2="{_px(-b[1])}" marker-end="url(#ARROW)"></line>'
        )

    def path(self, points: list[tuple[float, float]], css: str) -> None:
        for x, y in points:
            self.cover(Box(x, y, x, y))
        d = " ".join(
            f"{'M' if n == 0 else 'L'}{_px(x)},{_px(-y)}" for n, (x, y) in enumerate(points)
        )
        self.shapes.append(f'<path class="{css}" d="{d}" marker-end="url(#ARROW)"></path>')

    def label(self, box: Box, content: str, css: str, align: str = "middle center") -> None:
        """``content`` (HTML) in ``box``, aligned in it by ``align``: it may spill over the
        box in the direction its anchor leaves free."""
        self.cover(box)
        self.shapes.append(
            f'<foreignObject x="{_px(box.left)}" y="{_px(-box.top)}" '
            f'width="{_px(box.right - box.left)}" height="{_px(box.top - box.bottom)}">'
            f'<div class="label {css} {align}"><span class="content">{content}</span></div>'
            "</foreignObject>"
        )

    def svg(self, css: str, labelled_by: str) -> str:
        """The picture, named by the element ``labelled_by`` (its caption); its arrow head's
        id is made of that id, so that two pictures on one page never share one."""
        arrow = f"{labelled_by}-arrow"
        left, top = self.left - MARGIN, -self.top - MARGIN
        width, height = self.right - self.left + 2 * MARGIN, self.top - self.bottom + 2 * MARGIN
        return (
            f'<svg class="{css}" role="img" aria-labelledby="{labelled_by}" '
            f'viewBox="{_px(left)} {_px(top)} {_px(width)} {_px(height)}" '
            f'width="{_px(width)}" height="{_px(height)}">'
            f'<defs><marker id="{arrow}" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="7" '
            'markerHeight="7" orient="auto-start-reverse"><path class="head" d="M0,0 L8,4 L0,8 z">'
            "</path></marker></defs>"
            + "".join(self.shapes).replace("#ARROW", "#" + arrow)
            + "</svg>"
        )


def _clip(
    centre: tuple[float, float], toward: tuple[float, float], box: Box
) -> tuple[float, float]:
    """Where the line from ``centre`` (of ``box``) to ``toward`` leaves the box."""
    (x, y), (tx, ty) = centre, toward
    dx, dy = tx - x, ty - y
    half_w, half_h = (box.right - box.left) / 2, (box.top - box.bottom) / 2
    if dx == dy == 0 or (half_w == 0 and half_h == 0):
        return centre
    t = min(half_w / abs(dx) if dx else math.inf, half_h / abs(dy) if dy else math.inf)
    return (x + dx * t, y + dy * t)


def graph_svg(graph: Graph, layout: Layout, caption_id: str) -> str:
    """The computational graph as SVG: operations in boxes, arrows between them, each edge's
    value (green) and gradient (red, in a dashed frame) where ``layout`` placed them."""
    picture = _Picture()
    boxes = layout.boxes
    centres = {name: ((b.left + b.right) / 2, (b.bottom + b.top) / 2) for name, b in boxes.items()}
    for node in graph.nodes:
        box = boxes[node.name]
        if node.kind in ("op", "elided"):
            picture.cover(box)
            picture.shapes.append(
                f'<rect class="{node.kind}" x="{_px(box.left)}" y="{_px(-box.top)}" '
                f'width="{_px(box.right - box.left)}" height="{_px(box.top - box.bottom)}" '
                'rx="3"></rect>'
            )
        if node.kind != "coordinate":
            picture.label(box, printed_text(node.label), f"node {node.kind}")
    for source, target, points in layout.lines:
        ends = list(points)
        if len(ends) == 2:
            ends = [
                _clip(centres[source], centres[target], boxes[source]),
                _clip(centres[target], centres[source], boxes[target]),
            ]
            picture.line(ends[0], ends[1], "flow")
        else:  # a skip connection around the chain, through the points it turns at
            ends[0] = _clip(ends[0], ends[1], boxes[source])
            ends[-1] = _clip(ends[-1], ends[-2], boxes[target])
            picture.path(ends, "flow skip")
    for n, label in enumerate(graph.labels, start=1):
        box = boxes[f"{label.role} {n}"]
        picture.label(box, printed_text(label.text), label.role, _ALIGN[label.anchor])
    return picture.svg("graph", caption_id)


def diagram_svg(diagram: Diagram, caption_id: str) -> str:
    """The network: its units as circles, every unit of a layer joined to every unit of the
    next, the layers' captions below and their parameters above."""
    picture = _Picture()
    at = {node.name: (float(node.x), float(node.y)) for node in diagram.nodes}
    units = {node.name for node in diagram.nodes if not node.ellipsis}
    r = UNIT_RADIUS
    for node in diagram.nodes:
        x, y = at[node.name]
        box = Box(x - r, y - r, x + r, y + r)
        picture.cover(box)
        if not node.ellipsis:
            picture.shapes.append(
                f'<circle class="unit" cx="{_px(x)}" cy="{_px(-y)}" r="{_px(r)}"></circle>'
            )
        picture.label(box, printed_text(node.label), "unit")
    for source, target in diagram.edges:
        a, b = at[source], at[target]
        length = math.dist(a, b) or 1.0
        shrink_a = r / length if source in units else 0.0
        shrink_b = (r + 0.03) / length if target in units else 0.0
        start = (a[0] + (b[0] - a[0]) * shrink_a, a[1] + (b[1] - a[1]) * shrink_a)
        end = (b[0] - (b[0] - a[0]) * shrink_b, b[1] - (b[1] - a[1]) * shrink_b)
        picture.line(start, end, "edge")
    for source, target in diagram.skips:
        (x1, y1), (x2, y2) = at[source], at[target]
        bend = (x2 - x1) * 0.27  # TikZ's bend right=30, below the straight line
        mid = ((x1 + x2) / 2, min(y1, y2) - r - bend)
        picture.cover(Box(mid[0], mid[1], mid[0], mid[1]))
        picture.shapes.append(
            f'<path class="edge skip" d="M{_px(x1)},{_px(-y1 + r)} '
            f'Q{_px(mid[0])},{_px(-mid[1])} {_px(x2)},{_px(-y2 + r)}" '
            'marker-end="url(#ARROW)"></path>'
        )
    for cx, cy, lines in diagram.captions:  # a layer's name over its size, a line each
        half = 0.25 * len(lines)
        box = Box(float(cx) - 1.2, float(cy) - half, float(cx) + 1.2, float(cy) + half)
        spans = "".join(f"<span>{printed_text(line)}</span>" for line in lines)
        picture.label(box, spans, "caption")
    for cx, cy, text in diagram.weights:
        box = Box(float(cx) - 1.0, float(cy) - 0.25, float(cx) + 1.0, float(cy) + 0.25)
        picture.label(box, printed_text(text), "weights")
    return picture.svg("diagram", caption_id)
