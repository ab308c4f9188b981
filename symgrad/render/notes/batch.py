"""The mini-batch section: rows as samples, the mean loss, the equations generated code runs.

Part of the notes renderer (:mod:`symgrad.render.notes`).
"""

from __future__ import annotations

from collections.abc import Iterable

import sympy as sp

from symgrad import notation as nt
from symgrad.derivation import Kind, Stage, Step
from symgrad.generic import batch, general, mean_gradient, size
from symgrad.render.document import (
    Block,
    Code,
    Display,
    Inline,
    Role,
    Row,
    Section,
    Table,
    Text,
)
from symgrad.render.formula import EMPTY, Math, Sampled, Summation, Token
from symgrad.render.notes.builder import (
    LAYER_ROWS,
    Builder,
    joined,
    shape,
    shaped,
)
from symgrad.render.notes.symbols import AFFINE, gradient_of, letter, listed, sample_row


def batch_section(b: Builder) -> Section:
    """The mini-batch: its symbols, the forward pass of a batch, the gradients row by row."""
    forward_ids = {s.id for op in b.net.forward_order() for s in op.batch_forward(b.net)}
    steps = b.d.stage(Stage.BATCH)
    forward = [s for s in steps if s.id in forward_ids]
    backward = [s for s in steps if s.id not in forward_ids]
    blocks = [*_introduction(b), *_forward(b, forward), *_backward(b, backward)]
    title = "Mini-batches"
    return Section(title, b.fmt.section_label("batch"), tuple(blocks), id="batch")


def _symbols(b: Builder) -> Table:
    """The symbols of a mini-batch, with their shapes."""
    n0, nL, n_k, B = size(0), size(b.L), size("k"), nt.BATCH
    s, k = nt.SAMPLE, letter("k")
    X, Y, Yhat = (batch(base, None) for base in ("x", "y", "yhat"))
    A, H, Delta, G = batch("a", "k"), batch("h", "k"), batch("a", "k", True), batch("h", "k", True)
    bias = general("b", "k")
    return Table(
        ("symbol", "meaning", "shape"),
        (
            (Inline.of(B), "the number of samples in the batch", ""),
            (
                Inline.of(listed(X, Y, Yhat)),
                Inline.of(
                    "inputs, targets and predictions, one row per sample: row ",
                    s,
                    " of ",
                    X,
                    " is ",
                    Sampled(general("x", None), s, transposed=True),
                ),
                shape(B, n0) + ", " + shape(B, nL),
            ),
            (
                Inline.of(listed(A, H)),
                Inline.of(
                    "pre-activations and activations of layer ",
                    k,
                    ", row ",
                    s,
                    " is ",
                    Sampled(general("a", "k"), s, transposed=True),
                    ", ",
                    Sampled(general("h", "k"), s, transposed=True),
                    " (and ",
                    Math.of(batch("h", "0"), Token.EQUALS, X),
                    ")",
                ),
                shape(B, n_k),
            ),
            (
                Inline.of(listed(nt.sample_loss(s), nt.MEAN_LOSS)),
                Inline.of("the loss of sample ", s, "; the loss of the batch, their mean"),
                "scalars",
            ),
            (
                Inline.of(Math.of(Delta, Token.EQUALS) + gradient_of(A, nt.MEAN_LOSS)),
                Inline.of("row ", s, " is ", sample_row("a")),
                shape(B, n_k),
            ),
            (
                Inline.of(Math.of(G, Token.EQUALS) + gradient_of(H, nt.MEAN_LOSS)),
                Inline.of("row ", s, " is ", sample_row("h")),
                shape(B, n_k),
            ),
            (
                Inline.of(Token.ONES),
                Inline.of(
                    "a column of ",
                    B,
                    " ones: ",
                    Math.of(Token.ONES, bias.T),
                    " repeats ",
                    bias.T,
                    " in every row, ",
                    Math.of(Delta.T, Token.ONES),
                    " sums the rows of ",
                    Delta,
                ),
                shape(B, 1),
            ),
        ),
        r"@{}l >{\raggedright\arraybackslash}p{0.55\linewidth} l@{}",
        ("left", "left", "left"),
    )


def _introduction(b: Builder) -> list[Block]:
    a, bias, w, below = (general(base, layer) for base, layer in AFFINE)
    return [
        Text(
            Inline.of(
                "Code trains on a batch of ",
                nt.BATCH,
                " samples at once and stores each "
                "sample as a row, as array libraries and deep-learning frameworks do: the column "
                "vectors of the notes become the rows of matrices. The loss of a batch is the "
                "mean of the per-sample losses, so each of its gradients is the mean of the "
                "per-sample gradients. The symbols:",
            )
        ),
        _symbols(b),
        Text(
            Inline.of(
                "Transposing ",
                Math.of(a, Token.EQUALS, bias, Token.PLUS, w * below),
                " gives ",
                Math.of(a.T, Token.EQUALS, below.T, w.T, Token.PLUS, bias.T),
                ", one row of ",
                batch("a", "k"),
                "; stacking the rows of all samples "
                "gives the forward pass of the batch, and the mean loss:",
            )
        ),
    ]


def _forward(b: Builder, forward: list[Step]) -> list[Block]:
    blocks: list[Block] = [Display(b.placed(batch_rows(b, forward)))]
    blocks.append(
        Text(
            Inline.of(
                "Since ",
                Math.of(
                    nt.MEAN_LOSS,
                    Token.EQUALS,
                    1 / nt.BATCH,
                    Summation(nt.SAMPLE, None, None, Math.of(nt.sample_loss(nt.SAMPLE))),
                ),
                " and sample ",
                nt.SAMPLE,
                " moves only ",
                nt.sample_loss(nt.SAMPLE),
                ", row ",
                nt.SAMPLE,
                " of ",
                batch("a", "k", True),
                " is ",
                sample_row("a"),
                ": each per-sample equation, transposed, gives one row. The parameter "
                "gradients add up the rows,",
            )
        )
    )
    blocks.append(Display((Row(EMPTY, mean_of_rows()),)))
    blocks += [
        Text("The shapes fit in every product of a batch; under each factor, its shape:"),
        Display(batch_shapes(), spread=True),
    ]
    return blocks


def mean_of_rows() -> Math:
    """``(1/B) sum_s grad_{a_k} L^(s) h_{k-1}^(s)T = Delta_k^T H_{k-1}``: the weight gradient
    of a batch is the mean of the samples' outer products."""
    s, B = nt.SAMPLE, nt.BATCH
    outer = Math.of(
        Sampled(general("a", "k", gradient=True), s), Sampled(general("h", "k-1"), s, True)
    )
    product = sp.MatMul(batch("a", "k", gradient=True).T, batch("h", "k-1"))
    return Math.of(
        1 / B, Summation(s, sp.Integer(1), B, outer), Token.EQUALS, product, Token.PERIOD
    )


def batch_shapes() -> tuple[Row, ...]:
    """The products of a batch's forward and backward pass, a shape under each factor."""
    n_k, n_prev, B = size("k"), size("k-1"), nt.BATCH
    ones = sp.OneMatrix(B, 1)
    return (
        Row(
            shaped((batch("a", "k"), B, n_k)),
            Math.of(Token.EQUALS)
            + shaped(
                (batch("h", "k-1"), B, n_prev),
                (general("W", "k").T, n_prev, n_k),
                Token.PLUS,
                (ones, B, 1),
                (general("b", "k").T, 1, n_k),
            ),
        ),
        Row(
            shaped((batch("h", "k-1", gradient=True), B, n_prev)),
            Math.of(Token.EQUALS)
            + shaped((batch("a", "k", gradient=True), B, n_k), (general("W", "k"), n_k, n_prev)),
        ),
        Row(
            shaped((mean_gradient("W", "k"), n_k, n_prev)),
            Math.of(Token.EQUALS)
            + shaped((batch("a", "k", gradient=True).T, n_k, B), (batch("h", "k-1"), B, n_prev)),
        ),
    )


def _backward(b: Builder, backward: list[Step]) -> list[Block]:
    blocks: list[Block] = [Text("Layer by layer, backwards:")]
    layer_rows: list[list[Step]] = []
    for step in backward:
        starts = step.kind in (Kind.BATCH_OUTPUT_DELTA, Kind.BATCH_HIDDEN_GRAD)
        if starts or not layer_rows:
            layer_rows.append([])
        layer_rows[-1].append(step)
    groups = [b.placed(batch_rows(b, group)) for group in layer_rows]
    blocks += [Display(rows) for rows in joined(groups, LAYER_ROWS)]
    blocks += b.remarks("batch")
    blocks.append(
        Text(
            "These are the equations the generated code implements, in this order (the "
            "vectorized style of "
            + Code("symgrad codegen")
            + "): each statement carries the number of its equation in a comment. Its "
            "arrays have the shapes above, and its parameters those of the notes: "
            + Code('params["W1"]')
            + " is "
            + shape(size(1), size(0))
            + ", so the weights enter as "
            + Math.of(general("W", "k").T)
            + ".",
            role=Role.PROVENANCE,
        )
    )
    return blocks


def batch_rows(b: Builder, steps: Iterable[Step]) -> list[Row]:
    """Each mini-batch step on one line where it fits, justified by the per-sample step it
    stacks (``rows of (12)``): that step has the same forms, each justified there."""
    rows: list[Row] = []
    for step in steps:
        notes = [b.rule_note(step, step.rules[0])] + [""] * (len(step.forms) - 1)
        if len(b.compact_step(step, notes)) > 1:
            notes = [b.rule_note(step, r) for r in step.rules]
        rows += b.compact_step(step, notes)
    return rows
