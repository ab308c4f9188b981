"""One step of gradient descent at the end of the worked example (``--lr ETA``).

Part of the notes renderer's worked example (:mod:`symgrad.render.notes.example`), and so of the
slides, which reuse its section: a short subsection with the update rule and, layer by layer,
the parameters after one step, ``W_k - eta grad_{W_k} L`` with the numbers put in and its value.
The numbers are those of :meth:`~symgrad.worked.WorkedExample.stepped`; nothing here computes.
Written for students: the mathematics only.
"""

from __future__ import annotations

from collections.abc import Callable

from symgrad import notation as nt
from symgrad.render.document import Block, Display, Heading, Row, Text
from symgrad.render.numbers import bmatrix, number_tex
from symgrad.worked import WorkedExample

#: How many ems a piece of LaTeX takes (the worked example's measure).
Width = Callable[[str], float]

#: The title of the subsection.
TITLE = "One step of gradient descent"


def step_blocks(example: WorkedExample, width: Width, line_ems: float) -> list[Block]:
    """The subsection of the step, or nothing when the example has no learning rate; each
    display broken to lines of ``line_ems`` as ``width`` measures them."""
    if example.lr is None:
        return []
    eta = number_tex(example.lr)
    # the rule, for any layer k, with the scalar the gradients are of (L, or an objective J)
    rules = []
    for param in example.parameters()[:2]:  # W_1 and b_1, written for layer k
        at_k = nt.latex_at_layer(nt.symbol(param), "k")
        grad_k = nt.latex_at_layer(nt.symbol(example.descent_gradient(param)), "k")
        rules.append((at_k, rf"{at_k} - \eta \, {grad_k}"))
    (weight, weight_rule), (bias, bias_rule) = rules
    rule = Row(weight, rf"\leftarrow {weight_rule}, \qquad {bias} \leftarrow {bias_rule}")
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
    parameters = example.parameters()
    for k in range(example.spec.depth):
        rows: list[Row] = []
        for param in parameters[2 * k : 2 * k + 2]:  # W_k and b_k
            gradient = example.descent_gradient(param)
            lhs = rf"{param.latex} - \eta \, {gradient.latex}"
            pieces = [
                "= " + bmatrix(example.params[param.json]),
                f"- {eta} " + bmatrix(example.value(gradient)),
                "= " + bmatrix(after[param.json]),
            ]
            rows += _rows(lhs, pieces, width, line_ems)
        blocks.append(Display(tuple(rows), kind="summary", spread=True))
    return blocks


def _rows(lhs: str, pieces: list[str], width: Width, line_ems: float) -> list[Row]:
    """``lhs`` and its pieces on as few lines as fit; a line that does not begin with ``=``
    goes on indented."""
    rows: list[Row] = []
    current = ""
    room = line_ems - 3.0
    for piece in pieces:
        trial = f"{current} {piece}" if current else piece
        left = lhs if not rows else ""
        if current and width(f"{left} {trial}") > room:
            rows.append(Row(left, current))
            current = piece if piece.startswith("=") else rf"\quad {piece}"
        else:
            current = trial
    rows.append(Row(lhs if not rows else "", current))
    return rows


__all__ = ["TITLE", "step_blocks"]
