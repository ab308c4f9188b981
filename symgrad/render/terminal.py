"""The derivation as Unicode text for a terminal: ``symgrad derive``, the debug view of the middle.

Stage by stage and layer by layer, every step numbered as in the notes, with the rule behind each
``=`` and the check that proved it; matrices are drawn with brackets and abbreviated with ⋯ ⋮ ⋱
beyond :data:`MAX_SHOWN` rows or columns; lines are wrapped to fit ``width`` columns.
"""

from __future__ import annotations

import textwrap
import unicodedata

import sympy as sp

from symgrad import printing
from symgrad.derivation import Derivation, EntryMatrix, Rule, Stage, Step
from symgrad.render import wording

MAX_SHOWN = 6
WIDTH = 100


def shown_indices(n: int, limit: int = MAX_SHOWN) -> list[int | None]:
    """1-based indices to show of ``n``; ``None`` marks the elision (``1 2 3 … n``)."""
    if n <= limit:
        return list(range(1, n + 1))
    head = limit - 2
    return [*range(1, head + 1), None, n]


def render_terminal(derivation: Derivation, width: int = WIDTH) -> str:
    """The whole derivation as text that fits ``width`` columns."""
    out: list[str] = []
    spec = derivation.spec
    out.append(wording.title(derivation))
    out.append("=" * _display_width(out[-1]))
    out.append(f"{wording.description(derivation)}.")
    sizes = ", ".join(f"n{_sub(str(k))} = {n}" for k, n in enumerate(spec.sizes))
    out.append(f"Layer sizes {sizes}; {spec.parameter_count} parameters.")
    if derivation.network.assumes_targets_sum_to_one:
        out.append("softmax + cross-entropy: the simplification ∇_a L = ŷ - y assumes Σᵢ yᵢ = 1.")
    for stage in Stage:
        steps = derivation.stage(stage)
        if not steps:
            continue
        out += ["", wording.STAGE_TITLES[stage], "-" * len(wording.STAGE_TITLES[stage])]
        layer = None
        for step in steps:
            if stage in (Stage.HIDDEN, Stage.PARAMETERS) and step.layer != layer:
                layer = step.layer
                out.append(f"Layer {layer}:")
            out += _step_lines(derivation, step, width)
    out += ["", "What was checked", "----------------"]
    for sentence in wording.proof_text(derivation.proof):
        out += textwrap.wrap(wording.plain(sentence), width)
    return "\n".join(out) + "\n"


def _sub(text: str) -> str:
    return printing.subscript(text)


def _step_lines(derivation: Derivation, step: Step, width: int) -> list[str]:
    number = f"({step.number})"
    indent = " " * (len(number) + 1)
    lhs = printing.unicode(step.lhs)
    lines: list[str] = []
    ranges = ", ".join(f"{printing.unicode(i)} = 1..{n}" for i, n in step.indices)
    for n, (form, rule) in enumerate(zip(step.forms, step.rules, strict=True)):
        lead = f"{number} {lhs} = " if n == 0 else f"{indent}{' ' * _display_width(lhs)} = "
        note = f"[{_rule_note(derivation, step, rule)}]"
        if isinstance(form, EntryMatrix) or _is_matrix_literal(form):
            block = _matrix_block(form)
            lines += _attach(lead, block)
            lines.append(f"{' ' * _display_width(lead)}{note}")
            continue
        text = printing.unicode(form)
        lines += _wrap(lead, text, note, width)
    tail = []
    if ranges:
        tail.append(f"for {ranges}")
    tail.append("check: " + wording.plain(wording.check_text(step.check)))
    for part in tail:
        lines += textwrap.wrap(
            part, width, initial_indent=indent + "  ", subsequent_indent=indent + "    "
        )
    return lines


def _rule_note(derivation: Derivation, step: Step, rule: Rule) -> str:
    """The rule, with the number of the per-sample step a mini-batch step stacks."""
    if rule in (Rule.ROWS, Rule.BATCH_MEAN):
        number = derivation.step(step.id.per_sample()).number
        return f"rows of ({number})" if rule is Rule.ROWS else f"mean over the rows of ({number})"
    return wording.rule_text(rule)


def _is_matrix_literal(form: object) -> bool:
    return isinstance(form, sp.MatrixBase)


def _wrap(lead: str, text: str, note: str, width: int) -> list[str]:
    one = f"{lead}{text}   {note}"
    if _display_width(one) <= width:
        return [one]
    pad = " " * min(_display_width(lead), 24)
    body = textwrap.wrap(
        text, width - 2, initial_indent=lead, subsequent_indent=pad + "  ", break_long_words=True
    )
    return [*body, pad + "  " + note]


def _matrix_block(form: EntryMatrix) -> list[str]:
    """Rows of a bracketed matrix, abbreviated with ⋯ ⋮ ⋱."""
    rows = shown_indices(form.rows)
    cols = shown_indices(form.cols)
    cells: list[list[str]] = []
    for r in rows:
        line = []
        for c in cols:
            if r is None and c is None:
                line.append("⋱")
            elif r is None:
                line.append("⋮")
            elif c is None:
                line.append("⋯")
            else:
                line.append(printing.unicode(form.entry(r, c)))
        cells.append(line)
    widths = [max(_display_width(row[i]) for row in cells) for i in range(len(cols))]
    text = []
    for n, row in enumerate(cells):
        left, right = _brackets(n, len(cells))
        body = "  ".join(_center(cell, w) for cell, w in zip(row, widths, strict=True))
        text.append(f"{left} {body} {right}")
    return text


def _brackets(n: int, count: int) -> tuple[str, str]:
    if count == 1:
        return "[", "]"
    if n == 0:
        return "⎡", "⎤"
    if n == count - 1:
        return "⎣", "⎦"
    return "⎢", "⎥"


def _center(cell: str, width: int) -> str:
    gap = width - _display_width(cell)
    return " " * (gap // 2) + cell + " " * (gap - gap // 2)


def _attach(lead: str, block: list[str]) -> list[str]:
    middle = (len(block) - 1) // 2
    pad = " " * _display_width(lead)
    return [(lead if n == middle else pad) + row for n, row in enumerate(block)]


def _display_width(text: str) -> int:
    """Terminal columns of ``text`` (combining marks take none)."""
    return sum(0 if unicodedata.combining(ch) else 1 for ch in text)
