"""Measures of a compiled deck, frame by frame, from its handout PDF (one page a frame).

``pdftotext -bbox`` gives every word with its box; the pictures, which have no words, are placed
by :func:`pdfcheck.mark_figures`. For each frame: how much of the text area (the title included,
the frame number below it not) is filled, whether anything sticks out of it, what its first line
of text after the title says, and how its last line ends; across frames, whether a sentence runs
from one to the next.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pdfcheck import Word, page_fills, words

#: The least a frame is filled, as a share of the text area (its title included).
MIN_FILL = 0.35

#: Words a sentence does not end with.
_GOES_ON = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "by",
        "for",
        "from",
        "in",
        "is",
        "of",
        "on",
        "or",
        "so",
        "that",
        "the",
        "then",
        "to",
        "which",
        "with",
    ]
)
#: A word of prose in lower case (math has digits, scripts or symbols in its words).
_PROSE = re.compile(r"[a-z]{2,}[,.;:]?")


@dataclass(frozen=True)
class FrameMeasure:
    """One frame: its page, how full it is, its first line of text (after the title) and the
    last word on it, and the words outside the text area."""

    page: int
    fill: float
    first: str
    last: str
    outside: tuple[str, ...]


def _lines(found: list[Word]) -> list[list[Word]]:
    """Words in lines, top to bottom (a word belongs to the line whose middle it overlaps)."""
    lines: list[list[Word]] = []
    for word in sorted(found, key=lambda w: (w.y0, w.x0)):
        middle = (word.y0 + word.y1) / 2
        if lines and lines[-1][0].y0 <= middle <= lines[-1][0].y1:
            lines[-1].append(word)
        else:
            lines.append([word])
    return [sorted(line, key=lambda w: w.x0) for line in lines]


def measure(pdf: Path, fills: Path) -> list[FrameMeasure]:
    """Every page of the handout ``pdf`` measured (``fills``: written by the source that
    :func:`pdfcheck.mark_figures` marked)."""
    top, height, _ = _area(fills)
    end = top + height
    by_page: dict[int, list[Word]] = {}
    for word in words(pdf):
        by_page.setdefault(word.page, []).append(word)
    result = []
    for fill in page_fills(pdf, fills):
        found = by_page.get(fill.page, [])
        inside = [w for w in found if w.y1 <= end + 1.0]
        # the frame number, right at the bottom, is the footline's
        outside = tuple(w.text for w in found if w.y1 > end + 1.0 and not _number(w.text))
        lines = _lines(inside)
        first = " ".join(w.text for w in lines[1]) if len(lines) > 1 else ""
        last = lines[-1][-1].text if lines else ""
        result.append(FrameMeasure(fill.page, fill.fill, first, last, outside))
    return result


def _number(text: str) -> bool:
    return re.fullmatch(r"\d+|/", text) is not None


def _area(fills: Path) -> tuple[float, float, float]:
    line = next(x for x in fills.read_text(encoding="utf-8").splitlines() if x.startswith("A "))
    top, height, page = (float(v.removesuffix("pt")) * 72 / 72.27 for v in line.split()[1:])
    return top, height, page


def problems(frames: list[FrameMeasure], minimum: float = MIN_FILL) -> list[str]:
    """What is wrong with the frames (the title frame, the first, is not measured for its
    fill): too empty, something outside the text area, a first line that goes on from
    something before it, a sentence that runs from one frame into the next."""
    found = []
    for frame in frames[1:]:
        where = f"frame {frame.page}"
        if frame.fill < minimum:
            found.append(f"{where} is {frame.fill:.0%} full")
        if frame.outside:
            found.append(f"{where} is overfull: {' '.join(frame.outside[:5])}")
        opening = frame.first.split(" ")[0] if frame.first else ""
        if opening.startswith("=") or _PROSE.fullmatch(opening):
            found.append(f"{where} starts with a continuation: {frame.first[:40]!r}")
    for before, after in zip(frames[1:], frames[2:], strict=False):
        ends = before.last.rstrip(".:!?)")
        if before.last.endswith((",", ";")) or (ends == before.last and ends in _GOES_ON):
            found.append(f"a sentence runs from frame {before.page} into {after.page}")
    return found
