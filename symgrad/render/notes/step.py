"""One step of gradient descent at the end of the worked example (``--lr ETA``).

Part of the notes renderer's worked example (:mod:`symgrad.render.notes.example`), and so of the
slides, which reuse its section: a short subsection with the update rule and, layer by layer,
the parameters after one step, ``W_k - eta grad_{W_k} L`` with the numbers put in and its value.
The numbers are those of :meth:`~symgrad.worked.WorkedExample.stepped`; nothing here computes.
Written for students: the mathematics only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from symgrad import notation as nt
from symgrad.render.document import Block, Display, Heading, Row, Text
from symgrad.render.numbers import bmatrix, number_tex

if TYPE_CHECKING:
    from symgrad.render.notes.example import ExampleSection

#: The title of the subsection.
TITLE = "One step of gradient descent"


def step_blocks(section: ExampleSection) -> list[Block]:
    """The subsection of the step, or nothing when the example has no learning rate."""
    example = section.example
    if example.lr is None:
        return []
    eta = number_tex(example.lr)
    names = list(example.params)
    # the rule, for any layer k, with the scalar the gradients are of (L, or an objective J)
    rules = []
    for base in ("W", "b"):
        name = next(n for n in names if n.startswith(base))
        scalar = example.descent_gradient(name).scalar_names.latex
        rules.append(rf"{base}_{{k}} - \eta \, \nabla_{{{base}_{{k}}}} {scalar}")
    rule = Row(
        r"W_{k}",
        rf"\leftarrow {rules[0]}, \qquad b_{{k}} \leftarrow {rules[1]}",
    )
    depth = example.spec.depth
    layers = (
        ", ".join(str(k) for k in range(1, depth + 1)) if depth <= 3 else f"1, \\ldots, {depth}"
    )
    blocks: list[Block] = [
        Heading(TITLE),
        Text(
            "Gradient descent moves every weight and bias against its gradient, by a step the "
            f"size of the learning rate $\\eta$ times the gradient, for $k = {layers}$:",
            par=False,
        ),
        Display((rule,), kind="summary"),
        Text(
            f"With $\\eta = {eta}$ and the gradients of the backward pass, the parameters "
            "after one step are:"
        ),
    ]
    after = example.stepped()
    for k in range(1, example.spec.depth + 1):
        rows: list[Row] = []
        for base in ("W", "b"):
            name = nt.param_key(base, k)
            gradient = example.descent_gradient(name)
            lhs = rf"{nt.quantity(base, k).latex} - \eta \, {gradient.latex}"
            pieces = [
                "= " + bmatrix(example.params[name]),
                f"- {eta} " + bmatrix(example.value(gradient)),
                "= " + bmatrix(after[name]),
            ]
            rows += _rows(section, lhs, pieces)
        blocks.append(Display(tuple(rows), kind="summary", spread=True))
    return blocks


def _rows(section: ExampleSection, lhs: str, pieces: list[str]) -> list[Row]:
    """``lhs`` and its pieces on as few lines as fit; a line that does not begin with ``=``
    goes on indented."""
    rows: list[Row] = []
    current = ""
    room = section.b.line_ems - 3.0
    for piece in pieces:
        trial = f"{current} {piece}" if current else piece
        left = lhs if not rows else ""
        if current and section.width(f"{left} {trial}") > room:
            rows.append(Row(left, current))
            current = piece if piece.startswith("=") else rf"\quad {piece}"
        else:
            current = trial
    rows.append(Row(lhs if not rows else "", current))
    return rows


__all__ = ["TITLE", "step_blocks"]
