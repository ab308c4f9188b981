"""The geometry of a figure: does a line pass under a box it does not join?

A line of the computational graph goes from the centre of its source to the centre of its
target, and is drawn where it is outside both; it must show there (not be swallowed by a box
its source sits under) and cross no other node or label.
"""

from __future__ import annotations

from symgrad.render.graph import Box, Layout

#: How much of a line must show between its two boxes (cm).
SHOWN = 0.15
#: Boxes are estimates: a line may graze one by this much (cm).
GRAZE = 0.03

Point = tuple[float, float]


def _inside(box: Box, point: Point, margin: float = 0.0) -> bool:
    x, y = point
    return box.left + margin < x < box.right - margin and box.bottom + margin < y < box.top - margin


def _along(p: Point, q: Point, t: float) -> Point:
    """The point a fraction ``t`` of the way from ``p`` to ``q``."""
    return p[0] + (q[0] - p[0]) * t, p[1] + (q[1] - p[1]) * t


def _crosses(box: Box, p: Point, q: Point) -> bool:
    """Whether the segment ``p q`` passes through ``box`` shrunk by :data:`GRAZE`."""
    samples = 200
    return any(_inside(box, _along(p, q, t / samples), GRAZE) for t in range(samples + 1))


def _shown(boxes: list[Box], p: Point, q: Point) -> float:
    """How long the part of ``p q`` outside every one of ``boxes`` is."""
    samples = 400
    length = ((q[0] - p[0]) ** 2 + (q[1] - p[1]) ** 2) ** 0.5
    middles = [_along(p, q, (t + 0.5) / samples) for t in range(samples)]
    outside = sum(1 for m in middles if not any(_inside(b, m) for b in boxes))
    return length * outside / samples


def problems(layout: Layout) -> list[str]:
    """Every line swallowed by its own boxes or crossing another, in words."""
    found = []
    for source, target, points in layout.lines:
        ends = [layout.boxes[source], layout.boxes[target]]
        segments = list(zip(points, points[1:], strict=False))
        if sum(_shown(ends, p, q) for p, q in segments) < SHOWN:
            found.append(f"{source} -> {target} is hidden under its own boxes")
        for name, box in layout.boxes.items():
            if name in (source, target):
                continue
            if any(_crosses(box, p, q) for p, q in segments):
                found.append(f"{source} -> {target} passes under {name}")
    return found


def overlaps(layout: Layout) -> list[str]:
    """Every two boxes (nodes, values, gradients) drawn on top of each other, in words."""
    found = []
    names = sorted(layout.boxes)
    for n, first in enumerate(names):
        a = layout.boxes[first]
        for second in names[n + 1 :]:
            b = layout.boxes[second]
            if (
                min(a.right, b.right) - max(a.left, b.left) > GRAZE
                and min(a.top, b.top) - max(a.bottom, b.bottom) > GRAZE
            ):
                found.append(f"{first} overlaps {second}")
    return found
