"""The size of printed LaTeX, roughly: where a note goes, beside its row or below it, and which
displays are tall enough to break across pages.

Part of the notes renderer (:mod:`symgrad.render.notes`). The estimate only decides the layout;
the tests compile every case and fail on any overfull box, so an estimate that is too low cannot
go unnoticed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from symgrad.render.document import Display, Row
from symgrad.render.formula import latex as latex_math

#: Width of the text in ems (A4, 2.5 cm margins, 11 pt); a row and its note must fit in it.
LINE_EMS = 36.0
#: Room for an equation number at the end of a row.
NUMBER_EMS = 4.0

_COMMAND_EMS = {
    r"\partial": 0.6,
    r"\odot": 1.4,
    r"\le": 1.3,
    r"\ge": 1.3,
    r"\log": 1.6,
    r"\max": 2.0,
    r"\tanh": 2.3,
    r"\sin": 1.6,
    r"\cos": 1.6,
    r"\cdots": 1.6,
    r"\ddots": 1.2,
    r"\vdots": 0.5,
    r"\top": 0.7,
    r"\nabla": 0.9,
    r"\delta": 0.5,
    r"\Delta": 0.8,
    r"\times": 1.3,
    r"\quad": 1.0,
    r"\qquad": 2.0,
}
_GROUP = re.compile(r"\\(?:d?frac|sum|mathcal|hat|bar|mathbf|operatorname|text)\b|[_^]|\\[A-Za-z]+")


def _braced(text: str, start: int) -> tuple[str, int]:
    """The group ``{...}`` starting at ``text[start]`` (or one character) and the index after."""
    if start >= len(text):
        return "", start
    if text[start] != "{":
        if text[start] == "\\":
            match = re.match(r"\\[A-Za-z]+", text[start:])
            end = start + (match.end() if match else 1)
            return text[start:end], end
        return text[start], start + 1
    depth = 0
    for n in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[n], 0)
        if depth == 0:
            return text[start + 1 : n], n + 1
    return text[start + 1 :], len(text)


_MATRIX = re.compile(r"\\begin\{bmatrix\}(.*?)\\end\{bmatrix\}", re.S)


def _matrix_width(match: re.Match[str]) -> str:
    """A matrix replaced by as many ``x`` as it is wide: its widest row, cell by cell."""
    rows = re.split(r"\\\\(?:\[[^]]*\])?(?:\s*\\noalign\{[^}]*\})?", match.group(1))
    width = max(
        sum(visible_width(cell) for cell in row.split("&")) + 1.2 * row.count("&") for row in rows
    )
    return "x" * round((width + 1.0) / 0.55)


def visible_width(latex: str) -> float:
    """About how many ems ``latex`` takes in a display: fractions count their wider part,
    sub- and superscripts less than the text, a matrix its widest row, ``\\left`` and
    ``\\right`` nothing.

    It only decides where a note goes (beside its row or below it); the tests compile every
    case and fail on any overfull box, so an estimate that is too low cannot go unnoticed.
    """
    text = _MATRIX.sub(_matrix_width, latex.replace(r"\left", "").replace(r"\right", ""))
    width = 0.0
    n = 0
    while n < len(text):
        ch = text[n]
        if ch == "\\":
            match = _GROUP.match(text, n)
            name = match.group(0) if match else "\\"
            n += len(name)
            if name in (r"\frac", r"\dfrac"):
                top, n = _braced(text, n)
                bottom, n = _braced(text, n)
                width += max(visible_width(top), visible_width(bottom)) + 0.2
            elif name == r"\sum":
                width += 1.4
            elif name in (r"\mathcal", r"\hat", r"\bar", r"\mathbf"):
                inner, n = _braced(text, n)
                width += visible_width(inner)
            elif name == r"\operatorname":
                inner, n = _braced(text, n)
                width += 0.5 * len(inner) + 0.3
            elif name == r"\text":
                inner, n = _braced(text, n)
                words = re.sub(r"\\(?:eq)?ref\{[^}]*\}", "(99)", inner)
                width += 0.48 * len(re.sub(r"\$[^$]*\$", "xxxx", words))
            else:
                width += _COMMAND_EMS.get(name, 0.9)
            continue
        if ch in "_^":
            inner, n = _braced(text, n + 1)
            if text[n - len(inner) - 2 : n - len(inner) - 1] == "\\sum":
                continue
            width += 0.7 * visible_width(inner)
            continue
        n += 1
        if ch in "{} ":
            continue
        if ch in "+-=<>":
            width += 1.3
        elif ch in "()[],.;|":
            width += 0.4
        else:
            width += 0.55
    return width


#: A display of more lines than this may break between its rows: kept whole, a display of 40% of
#: the page (51 lines) could leave the page before it less than 60% full.
BREAKABLE_LINES = 20.0


def _height_lines(latex: str) -> float:
    """About how many lines of text ``latex`` is high in a display: a matrix its rows (those
    with fractions twice as high), a fraction two."""
    tallest = 2.0 if re.search(r"\\d?frac\b", _MATRIX.sub("", latex)) else 1.0
    for match in _MATRIX.finditer(latex):
        rows = re.split(r"\\\\(?:\[[^]]*\])?", match.group(1))
        high = sum(2.4 if re.search(r"\\d?frac\b", row) else 1.2 for row in rows) + 0.4
        tallest = max(tallest, high)
    return tallest


def display_lines(rows: Iterable[Row]) -> float:
    """About how many lines of text the aligned ``rows`` of a display take on the page."""
    return sum(
        _height_lines(latex_math(row.left) + " " + latex_math(row.right))
        + 0.3
        + (1.0 if row.note_below else 0.0)
        for row in rows
    )


def breakable(display: Display) -> bool:
    """True when ``display`` is so tall (more than :data:`BREAKABLE_LINES`) that keeping it
    whole could leave most of a page empty: a page may then end between two of its rows,
    never inside one (a matrix, or a row and its note below)."""
    return len(display.rows) > 1 and display_lines(display.rows) > BREAKABLE_LINES
