"""How C code of the C target is laid out: blocks of statements under their comments, long lines.

Part of the C target. A :class:`CBlock` is a run of C lines at one depth of indentation, under
the comment lines (the equation it implements and why it is written so) that
:func:`symgrad.codegen.common.statement_blocks` gives every target.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from symgrad.codegen.common import LINE_LENGTH, Block, comment_lines

#: Spaces per level of indentation.
INDENT = 4


@dataclass(frozen=True)
class CBlock:
    """C lines under comment lines, ``depth`` levels deep (1 is a function body)."""

    comments: tuple[str, ...]
    code: tuple[str, ...]
    depth: int = 1
    blank_before: bool = True

    @property
    def lines(self) -> list[str]:
        pad = " " * (INDENT * self.depth)
        out = [f"{pad}// {_comment_safe(c)}".rstrip() for c in self.comments]
        return out + [f"{pad}{line}" if line else "" for line in self.code]


def _comment_safe(text: str) -> str:
    # A backslash at the end of a // comment would continue it onto the next line.
    return text.rstrip("\\ ")


def from_blocks(blocks: Iterable[Block], depth: int = 1) -> list[CBlock]:
    """The blocks of :func:`~symgrad.codegen.common.statement_blocks` at a depth, their comments
    wrapped again for it."""
    return [CBlock(_rewrapped(b.comments, depth), b.code, depth, b.blank_before) for b in blocks]


def _rewrapped(comments: Sequence[str], depth: int) -> tuple[str, ...]:
    texts: list[str] = []
    for line in comments:
        if line.startswith("  ") and texts:
            texts[-1] += " " + line.strip()
        else:
            texts.append(line)
    return comment_lines(texts, indent=INDENT * depth + 1)


def indented(lines: Sequence[str], levels: int = 1) -> list[str]:
    pad = " " * (INDENT * levels)
    return [f"{pad}{line}" if line else "" for line in lines]


def _top_level_breaks(text: str) -> list[int]:
    """Positions of the spaces in front of a `` + `` or `` - `` outside every parenthesis."""
    depth = 0
    breaks = []
    for position, ch in enumerate(text):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == " " and depth == 0 and text[position + 1 : position + 3] in ("+ ", "- "):
            breaks.append(position)
    return breaks


def statement(head: str, value: str, depth: int) -> list[str]:
    """``head value;`` split before top-level ``+`` and ``-`` when longer than a line."""
    width = LINE_LENGTH - INDENT * depth
    text = f"{head}{value};"
    if len(text) <= width:
        return [text]
    lines: list[str] = []
    start = 0
    current = head
    pieces: list[str] = []
    for position in [*_top_level_breaks(value), len(value)]:
        pieces.append(value[start:position])
        start = position + 1
    for n, piece in enumerate(pieces):
        piece = piece + (";" if n == len(pieces) - 1 else "")
        if n == 0:
            current += piece
        elif len(current) + 1 + len(piece) <= width:
            current += " " + piece
        else:
            lines.append(current)
            current = " " * INDENT + piece
    lines.append(current)
    return lines


def declarations(kind: str, items: Sequence[str], depth: int) -> list[str]:
    """``kind a = 0.0, b = 0.0;`` filled to the line length."""
    width = LINE_LENGTH - INDENT * depth
    lines: list[str] = []
    current = ""
    for item in items:
        if not current:
            current = f"{kind} {item}"
        elif len(current) + 2 + len(item) + 1 <= width:
            current += f", {item}"
        else:
            lines.append(current + ";")
            current = f"{kind} {item}"
    if current:
        lines.append(current + ";")
    return lines
