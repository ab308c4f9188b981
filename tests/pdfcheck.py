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
    """``source`` with the first and the last row of every ``align`` writing their page (of
    every piece of an ``align``, for one that may break between rows: ``\\displaybreak[0]``).

    The marks are ``\\write`` whatsits, which take no space; amsmath measures an ``align`` in a
    box it throws away, so only the typeset rows write. After compiling, :func:`split_displays`
    reads ``<job>.marks``.
    """
    marked = re.sub(r"(\\begin\{align\*?\}\n)", r"\1\\symgradmark{B}", source)
    # a tall display may break where a row says so: each of its pieces is marked as a display
    marked = re.sub(
        r"(\\displaybreak\[0\] \\\\(?:\[[^]\n]*\])?\n)",
        r"\\symgradmark{E}\1\\symgradmark{B}",
        marked,
    )
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


# How full each page is ------------------------------------------------------------------------

#: The least a page of a student's notes is filled, as a fraction of the text block's height.
MIN_FILL = 0.6

#: sp (TeX's scaled points) and pt to PDF points (1/72 in), pdftotext's unit.
_SP = 72 / 72.27 / 65536
_PT = 72 / 72.27

_FILL_DEFINITIONS = r"""
\newwrite\symgradfills
\immediate\openout\symgradfills=\jobname.fills
\newsavebox\symgradfigure
\newcommand{\symgradfigmark}[1]{\write\symgradfills{F \thepage\space\the\pdflastypos\space #1}}
\newcommand{\symgradfigplace}{\leavevmode\pdfsavepos
  \edef\symgradheight{\the\ht\symgradfigure}\expandafter\symgradfigmark\expandafter{%
  \symgradheight}\usebox\symgradfigure}
"""

#: Written first thing in the document: the top of the text block, measured from the top of the
#: page, its height, and the page's height, by the document's own geometry.
_FILL_AREA = (
    r"\immediate\write\symgradfills{A \the\dimexpr 1in+\voffset+\topmargin+\headheight+\headsep"
    r"\relax\space\the\textheight\space\the\pdfpageheight}"
)


def mark_figures(source: str) -> str:
    """``source`` with every ``tikzpicture`` (scaled or not) writing, as it is shipped out, its
    page, the height of its baseline and its own height to ``<job>.fills`` (the picture is boxed
    first, then placed as it was: the layout is unchanged), and the text block written there.

    A picture is the one thing on a page that ``pdftotext`` cannot see whole (its lines have no
    words), so its place is marked instead: :func:`page_fills` reads the file.
    """
    marked = re.sub(
        r"\\resizebox\{[^{}]*\}\{[^{}]*\}\{%\n\\begin\{tikzpicture\}.*?\\end\{tikzpicture\}%?\n\}"
        r"|\\begin\{tikzpicture\}.*?\\end\{tikzpicture\}",
        lambda m: r"\sbox\symgradfigure{" + m.group(0) + r"}\symgradfigplace",
        source,
        flags=re.S,
    )
    marked = marked.replace(r"\begin{document}", _FILL_DEFINITIONS + r"\begin{document}", 1)
    return marked.replace(r"\begin{document}", r"\begin{document}" + _FILL_AREA, 1)


@dataclass(frozen=True)
class Figure:
    """A picture on a page: its top and bottom, in points from the top of the page."""

    top: float
    bottom: float


@dataclass(frozen=True)
class PageFill:
    """How full one page is: ``fill`` is the share of the text block's height from its top down
    to the lowest word (the page number below the block is not counted); ``first_figure`` is the
    picture the page starts with, if it starts with one (no word above it)."""

    page: int
    fill: float
    blank: float
    first_figure: Figure | None


def page_fills(pdf: Path, fills: Path) -> list[PageFill]:
    """Every page of ``pdf`` with how full it is, from the words ``pdftotext -bbox`` finds and
    the pictures and text block :func:`mark_figures` wrote to ``fills``."""
    figures: dict[int, list[Figure]] = {}
    top = height = page_height = 0.0
    for line in fills.read_text(encoding="utf-8").splitlines():
        kind, *values = line.split()
        if kind == "A":
            top, height, page_height = (float(v.removesuffix("pt")) * _PT for v in values)
        else:
            page, baseline, box = int(values[0]), int(values[1]), float(values[2][:-2])
            bottom = page_height - baseline * _SP
            figures.setdefault(page, []).append(Figure(bottom - box * _PT, bottom))
    assert height > 0, "the text block was not written: compile the source of mark_figures"
    end = top + height
    by_page: dict[int, list[Word]] = {}
    for word in words(pdf):
        if word.y0 < end + 2.0:  # the page number sits below the text block
            by_page.setdefault(word.page, []).append(word)
    pages = max([*by_page, *figures], default=0)
    result = []
    for page in range(1, pages + 1):
        found = by_page.get(page, [])
        pictures = figures.get(page, [])
        lowest = max([w.y1 for w in found] + [f.bottom for f in pictures], default=top)
        highest = min([w.y0 for w in found], default=end)
        first = min(pictures, key=lambda f: f.top, default=None)
        if first is not None and first.top > highest + 1.0:
            first = None
        result.append(PageFill(page, (lowest - top) / height, end - lowest, first))
    return result


def underfilled(pages: list[PageFill], minimum: float = MIN_FILL) -> list[PageFill]:
    """The pages filled less than ``minimum``, but for the last page and a page followed by one
    that starts with a picture too tall for the room left on it (it could not be pulled back)."""
    short = []
    for page, following in zip(pages, pages[1:], strict=False):
        figure = following.first_figure
        if figure is not None and figure.bottom - figure.top > page.blank:
            continue
        if page.fill < minimum:
            short.append(page)
    return short
