"""Checks of compiled notes that need the PDF: the gap between matrix rows, displays kept whole.

Poppler's ``pdftotext -bbox`` gives the box of every word on every page; a partial derivative
typesets as a fraction whose numerator is the word ``∂L`` and whose denominator starts with
``∂`` (``∂W``, ``∂a``). Where a denominator has a numerator straight below it, they belong to two
consecutive rows (of a matrix or of an aligned display), and the distance between the boxes is
the gap a reader sees. Displays are checked with :func:`mark_displays`: every ``align`` of the
source writes the page of its first and of its last row to a file as the PDF is written.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

#: The smallest gap, in points, between the word boxes of two consecutive rows of a matrix of
#: partials (entries with numbers for indices, ``∂W₂₁₁``). They are 6.6 pt apart; with LaTeX's
#: ``\\[1.5ex]`` the depth of ``\dfrac`` swallowed the space and they were 1.5 pt apart.
MIN_ROW_GAP = 5.0
#: The smallest gap between any two consecutive rows of fractions, matrix or not: the lines of
#: an aligned display are 3.5 pt apart.
MIN_LINE_GAP = 3.0

_WORD = re.compile(
    r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>'
)


@dataclass(frozen=True)
class Word:
    page: int
    x0: float
    y0: float
    x1: float
    y1: float
    text: str


def words(pdf: Path) -> list[Word]:
    """Every word of ``pdf`` with its page and box (points, y growing downwards)."""
    out = subprocess.run(
        ["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    found = []
    for number, page in enumerate(out.split("<page ")[1:], start=1):
        for m in _WORD.finditer(page):
            found.append(Word(number, float(m[1]), float(m[2]), float(m[3]), float(m[4]), m[5]))
    return found


@dataclass(frozen=True)
class Gap:
    page: int
    points: float
    above: str
    below: str


def _numbered(word: Word, all_words: list[Word]) -> bool:
    """True when the subscript right after ``word`` (a separate word, lower and smaller) is
    made of numbers: an entry of a matrix, ``∂W`` then ``211``."""
    for other in all_words:
        if (
            other.page == word.page
            and abs(other.x0 - word.x1) < 1.0
            and other.y0 > word.y0
            and other.y0 < word.y1
        ):
            return re.fullmatch(r"[\d,]+", other.text) is not None
    return False


def row_gaps(pdf: Path, matrices_only: bool = False) -> list[Gap]:
    """For every denominator of a partial, the gap to the numerator straight below it (the
    next row), smallest first; with ``matrices_only``, only for the entries of matrices (whose
    indices are numbers: ``∂W211``, ``∂a2,10``)."""
    all_words = words(pdf)
    numerators = [w for w in all_words if w.text == "∂L"]
    denominators = [
        w
        for w in all_words
        if w.text.startswith("∂") and not w.text.startswith("∂L") and "/" not in w.text
    ]
    if matrices_only:
        denominators = [w for w in denominators if _numbered(w, all_words)]
    gaps = []
    for low in denominators:
        below = [
            n
            for n in numerators
            if n.page == low.page
            and n.y0 >= low.y1 - 1.0
            and min(n.x1, low.x1) - max(n.x0, low.x0) > 0
        ]
        if below:
            nearest = min(below, key=lambda n: n.y0)
            gaps.append(Gap(low.page, round(nearest.y0 - low.y1, 2), low.text, nearest.text))
    return sorted(gaps, key=lambda g: g.points)


_MARK_DEFINITIONS = r"""
\newwrite\symgradmarks
\immediate\openout\symgradmarks=\jobname.marks
\newcommand{\symgradmark}[1]{\write\symgradmarks{#1 \thepage}}
"""


def mark_displays(source: str) -> str:
    """``source`` with the first and the last row of every ``align`` writing their page.

    The marks are ``\\write`` whatsits, which take no space; amsmath measures an ``align`` in a
    box it throws away, so only the typeset rows write. After compiling, :func:`split_displays`
    reads ``<job>.marks``.
    """
    marked = re.sub(r"(\\begin\{align\*?\}\n)", r"\1\\symgradmark{B}", source)
    marked = re.sub(r"(\n\\end\{align\*?\})", r"\\symgradmark{E}\1", marked)
    return marked.replace(r"\begin{document}", _MARK_DEFINITIONS + r"\begin{document}", 1)


def split_displays(marks: Path) -> tuple[int, list[tuple[int, int]]]:
    """How many marked displays there were, and the (first, last) pages of those split."""
    pairs = []
    lines = marks.read_text(encoding="utf-8").split()
    tokens = list(zip(lines[0::2], (int(p) for p in lines[1::2]), strict=True))
    for (begin, first), (end, last) in zip(tokens[0::2], tokens[1::2], strict=True):
        assert (begin, end) == ("B", "E"), "marks out of order"
        pairs.append((first, last))
    return len(pairs), [(a, b) for a, b in pairs if a != b]
