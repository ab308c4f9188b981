"""The frames of a deck and what goes on them: blocks of the notes, and builds (overlays).

Part of the slides (derivation -> notes' document model -> **deck** -> slides writer). A frame
holds blocks of the document model (:mod:`symgrad.render.document`) and four kinds of its own:
a :class:`Build` (a derivation revealed one row per click), a :class:`Swap` (one display after
another in the same place: the matrix of partials, then a column times a row, then the outer
product), a :class:`Key` (a key result in a highlighted block, with its name as its title, so
that colour is never the only thing that marks it) and a :class:`Reveal` (the computational
graph with its numbers appearing forward, then its gradients backward). In Beamer's handout
mode every build shows its last state.

The heights here are estimates, in points, used to decide what shares a frame; the compiled
deck is measured by the tests (no overfull box, every frame filled enough).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from symgrad.render.document import (
    Block,
    Diagram,
    Display,
    Graph,
    Heading,
    Steps,
    Table,
    Text,
    Verbatim,
    printed_text,
)
from symgrad.render.notes.formats import latex_math
from symgrad.render.notes.widths import NUMBER_EMS, visible_width

#: The height a frame holds below its title, in points.
FRAME_POINTS = 199.0
#: The height a key result's block adds to its display (its title, its margins).
KEY_POINTS = 18.0
#: The width of a frame's text in ems (16:9 at 11 pt, margins of 5 mm).
FRAME_EMS = 38.0
#: The narrowest and the widest a column of reasons is (ems).
REASON_EMS = (7.9, 10.5)
#: A display with a row wider than this (ems, as estimated) leaves no room for reasons beside
#: it: they go below their rows (a formula of a long custom activation).
WIDEST_BESIDE = 21.0


@dataclass(frozen=True)
class Build:
    """A display revealed one row per click: row ``n`` (from 0) appears on slide ``n + 1``."""

    display: Display
    kind: str = "build"

    @property
    def slides(self) -> int:
        return len(self.display.rows)


@dataclass(frozen=True)
class Swap:
    """Displays shown one after another in the same place, one a slide; the handout (and the
    last slide) shows the last."""

    displays: tuple[Display, ...]
    kind: str = "swap"

    @property
    def slides(self) -> int:
        return len(self.displays)


@dataclass(frozen=True)
class Key:
    """A key result in a highlighted block titled by what it is (``The four equations``)."""

    title: str
    blocks: tuple[Block, ...]
    kind: str = "key"


@dataclass(frozen=True)
class Reveal:
    """The computational graph with numbers: the values appear forward, one edge a slide, then
    the gradients backward. ``slide`` gives each label's first slide, in the order of
    ``graph.labels``."""

    graph: Graph
    slide: tuple[int, ...]
    kind: str = "reveal"

    @property
    def slides(self) -> int:
        return max(self.slide, default=1)


Item = Block | Build | Swap | Key | Reveal


@dataclass(frozen=True)
class Frame:
    """One slide (and its overlays): a title that says its idea, and what is on it."""

    title: str
    blocks: tuple[Item, ...]
    #: The id of the notes' section the frame belongs to (``--sections`` chooses by it).
    section: str = ""

    @property
    def shown(self) -> list[tuple[Item, int]]:
        """Each block with the slide it appears on: a build starts where the one before it
        ended, and what follows a build appears after it."""
        placed: list[tuple[Item, int]] = []
        slide = 1
        for block in self.blocks:
            placed.append((block, slide))
            if isinstance(block, Build | Swap | Reveal):
                slide += block.slides
        return placed

    @property
    def slides(self) -> int:
        """How many slides (overlays) the frame has."""
        last, slide = self.shown[-1] if self.blocks else (None, 1)
        return slide - 1 + (last.slides if isinstance(last, Build | Swap | Reveal) else 1)


# Heights, roughly -------------------------------------------------------------------------

_LINE = 13.6  # a line of text at 11 pt
_BELOW = 17.0  # a reason on a line of its own below its row
_CHARS_PER_LINE = 96
_MATRIX = re.compile(r"\\begin\{bmatrix\}(.*?)\\end\{bmatrix\}", re.S)


def _plain(text: str) -> str:
    """About as many characters as ``text`` shows: formulas count a third of their source."""
    plain = re.sub(r"\$([^$]*)\$", lambda m: "x" * max(1, len(m.group(1)) // 3), text)
    return re.sub(r"\\[A-Za-z]+", "", plain)


def text_points(text: str) -> float:
    lines = max(1, math.ceil(len(_plain(text)) / _CHARS_PER_LINE))
    return lines * _LINE + 4.0


def _matrix_points(body: str) -> float:
    points = 0.0
    for row in re.split(r"\\\\", body):
        if r"\dfrac" in row:
            points += 24.5
        elif r"\frac" in row:
            points += 20.0
        else:
            points += 12.5
        if r"\noalign" in row or row.startswith("["):
            points += 6.5
    return points + 3.0


def _row_points(latex: str) -> float:
    matrices = [_matrix_points(m.group(1)) for m in _MATRIX.finditer(latex)]
    rest = _MATRIX.sub("M", latex)
    if r"\underbrace" in rest:
        base = 22.0
    elif re.search(r"\\sum_\{[^}]*\}\^", rest):
        base = 32.0  # limits above and below
    elif re.search(r"\\frac\{[^{}]*\\frac", rest):
        base = 36.0  # a fraction in a numerator, in brackets as tall
    elif r"\dfrac" in rest or r"\frac" in rest:
        base = 24.0
    elif "^{" in rest or r"\sum" in rest:
        base = 14.0  # scripts above the line
    else:
        base = 12.0
    return max([base, *matrices])


def widest(display: Display) -> float:
    """About how many ems the widest row of ``display`` takes (an estimate that runs short)."""
    return max(visible_width(latex_math(r.left) + latex_math(r.right)) for r in display.rows)


def reason_room(display: Display) -> float:
    """The ems a column of reasons right of ``display`` has: what its widest row and a
    number leave (the row counted generously)."""
    return FRAME_EMS - 1.4 * widest(display) - NUMBER_EMS - 3.0


def reason_width(display: Display) -> str:
    """The width of the column of reasons right of ``display``: the room its rows leave, at
    least wide enough for "differentiate", at most about a quarter of the frame."""
    return f"{max(REASON_EMS[0], min(REASON_EMS[1], reason_room(display))):.1f}em"


def display_points(block: Display) -> float:
    rows = sum(
        _row_points(latex_math(r.left) + latex_math(r.right)) + (_BELOW if r.note_below else 0.0)
        for r in block.rows
    )
    gaps = (len(block.rows) - 1) * (7.0 if block.spread else 4.0)
    return rows + gaps + 14.0


def block_points(block: Item) -> float:
    """About how tall a block is set on a frame, in points (a build: its tallest slide)."""
    if isinstance(block, Text):
        return text_points(printed_text(block.text))
    if isinstance(block, Display):
        return display_points(block)
    if isinstance(block, Build):
        return display_points(block.display)
    if isinstance(block, Swap):
        # tall matrices, whose estimate runs short
        return 1.2 * max(display_points(d) for d in block.displays)
    if isinstance(block, Key):
        return sum(block_points(b) for b in block.blocks) + KEY_POINTS
    if isinstance(block, Steps):
        return sum(text_points(printed_text(item)) for item in block.items) + 6.0
    if isinstance(block, Verbatim):
        return len(block.lines) * _LINE + 10.0
    if isinstance(block, Table):
        # \small rows, a cell's text wrapping at about 52 characters
        lines = sum(
            max(math.ceil(len(_plain(printed_text(c))) / 52) for c in row) for row in block.rows
        )
        caption = text_points(printed_text(block.caption)) if block.caption else 0.0
        return (lines + 2) * 13.5 + 10.0 + caption
    if isinstance(block, Diagram):
        tallest = max(float(n.y) for n in block.nodes) - min(float(n.y) for n in block.nodes)
        return (tallest + 2.6) * 28.45 + 2 * _LINE
    if isinstance(block, Graph | Reveal):
        graph = block.graph if isinstance(block, Reveal) else block
        ys = [float(n.y) for n in graph.nodes] + [float(label.y) for label in graph.labels]
        caption = text_points(graph.caption) * (2.0 if graph.beside else 1.0)
        picture = (max(ys) - min(ys) + 1.6) * 28.45
        return max(picture, caption) if graph.beside else picture + caption
    if isinstance(block, Heading):
        return 0.0
    raise TypeError(f"no height for {type(block).__name__}")


def frame_points(blocks: Sequence[Item]) -> float:
    return sum(block_points(b) for b in blocks)
