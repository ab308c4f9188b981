"""One step of gradient descent at the end of the worked example (``--lr ETA``).

Part of the notes renderer's worked example (:mod:`symgrad.render.notes.example`), and so of the
slides, which reuse its section: a short subsection with the update rule and, layer by layer,
the parameters after one step, ``W_k - eta grad_{W_k} L`` with the numbers put in and its value.
The numbers are those of :meth:`~symgrad.worked.WorkedExample.stepped`; nothing here computes.
Written for students: the mathematics only.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import sympy as sp

from symgrad import notation as nt
from symgrad.render.document import Block, Display, Heading, Inline, Row, Text
from symgrad.render.formula import EMPTY, Math, Number, Numbers, Term, Token, counting
from symgrad.worked import WorkedExample

#: How many ems a formula takes (the worked example's measure).
Measure = Callable[[Math], float]

#: The title of the subsection.
TITLE = "One step of gradient descent"

#: The learning rate.
ETA = sp.Symbol("eta")


def _at(q: nt.Quantity, layer: int | str) -> sp.Basic:
    """The symbol of ``q`` at layer ``layer`` (a number, or ``k`` for any layer)."""
    return nt.symbol(nt.Quantity(q.base, layer, q.gradient, q.scalar))  # type: ignore[arg-type]


def _less(param: sp.Basic, gradient: sp.Basic) -> Math:
    """``param - eta grad``."""
    return Math.of(param, Term(Math.of(ETA, Token.THIN, gradient), negative=True))


def step_blocks(example: WorkedExample, measure: Measure, line_ems: float) -> list[Block]:
    """The subsection of the step, or nothing when the example has no learning rate; each
    display broken to lines of ``line_ems`` as ``measure`` measures them."""
    if example.lr is None:
        return []
    # the rule, for any layer k, with the scalar the gradients are of (L, or an objective J)
    rule: list[Math] = []
    for param in example.parameters()[:2]:  # W_1 and b_1, written for layer k
        at_k = _at(param, "k")
        gradient = _at(example.descent_gradient(param), "k")
        rule.append(Math.of(at_k, Token.LEFTARROW, _less(at_k, gradient)))
    weight_rule, bias_rule = rule
    depth = example.spec.depth
    blocks: list[Block] = [
        Heading(TITLE),
        Text(
            Inline.of(
                "Gradient descent moves every weight and bias against its gradient, by a step "
                "the size of the learning rate ",
                Math.of(ETA),
                " times the gradient, for ",
                counting(sp.Symbol("k"), depth),
                ":",
            ),
            par=False,
        ),
        Display((Row(weight_rule, Math.of(Token.COMMA, Token.QQUAD, bias_rule)),), kind="summary"),
        Text(
            Inline.of(
                "With ",
                Math.of(ETA, Token.EQUALS, Number(example.lr)),
                " and the gradients of the backward pass, the parameters after one step are:",
            )
        ),
    ]
    after = example.stepped()
    parameters = example.parameters()
    for k in range(depth):
        rows: list[Row] = []
        for param in parameters[2 * k : 2 * k + 2]:  # W_k and b_k
            gradient = example.descent_gradient(param)
            lhs = _less(nt.symbol(param), nt.symbol(gradient))
            pieces = [
                Math.of(Token.EQUALS, Numbers(np.asarray(example.params[param.json]))),
                Math.of(
                    Term(
                        Math.of(Number(example.lr), Numbers(np.asarray(example.value(gradient)))),
                        negative=True,
                    )
                ),
                Math.of(Token.EQUALS, Numbers(np.asarray(after[param.json]))),
            ]
            rows += _rows(lhs, pieces, measure, line_ems)
        blocks.append(Display(tuple(rows), kind="summary", spread=True))
    return blocks


def _rows(lhs: Math, pieces: list[Math], measure: Measure, line_ems: float) -> list[Row]:
    """``lhs`` and its pieces on as few lines as fit; a line that does not begin with ``=``
    goes on indented."""
    rows: list[Row] = []
    current = EMPTY
    room = line_ems - 3.0
    for piece in pieces:
        trial = current + piece
        left = lhs if not rows else EMPTY
        if current and measure(left + trial) > room:
            rows.append(Row(left, current))
            current = piece if piece[0] is Token.EQUALS else Math.of(Token.QUAD, piece)
        else:
            current = trial
    rows.append(Row(lhs if not rows else EMPTY, current))
    return rows


__all__ = ["TITLE", "step_blocks"]
