"""The sections that go backwards: the output layer, the hidden layers, the parameters.

Part of the notes renderer (:mod:`symgrad.render.notes`). The chain rule of one hidden layer and
the matrix of one layer's weights are written in full (``--expand``), first in their section; the
other layers are stated compactly after it, each step pointing back to the one written in full,
and a weight gradient of at most 3 x 3 entries is still written out entry by entry.
"""

from __future__ import annotations

import sympy as sp

from symgrad import notation as nt
from symgrad.derivation import EntryMatrix, Kind, Step
from symgrad.generic import general
from symgrad.render.document import (
    Block,
    Display,
    Heading,
    Inline,
    Prose,
    Role,
    Row,
    Section,
    Text,
)
from symgrad.render.formula import (
    EMPTY,
    MAX_SHOWN,
    Expr,
    Math,
    Paren,
    Summation,
    Term,
    Token,
    equals,
)
from symgrad.render.notes.builder import (
    HEAD_WORD,
    LAYER_ROWS,
    Builder,
    joined,
    shape,
    span,
)
from symgrad.render.notes.derivatives import activation_phrase, reference
from symgrad.render.notes.symbols import LAYER, targets_sum_to_one


def output_section(b: Builder) -> Section:
    L = b.L
    slope, delta, vector = (
        b.step(Kind.LOSS_SLOPE),
        b.step(Kind.OUTPUT_DELTA),
        b.step(Kind.OUTPUT_DELTA_VECTOR),
    )
    blocks: list[Block] = [
        Text(
            Inline.of(
                "The loss depends on the parameters only through the prediction ",
                general("yhat", None),
                ". Its partial with respect to each prediction is",
            )
        ),
        b.step_display(slope),
    ]
    if b.spec.pair.loss.remark:
        blocks.append(Text(b.spec.pair.loss.remark, role=Role.REMARK))
    ai = Math.of(nt.pre(L, nt.I))
    if b.net.diagonal_output:
        derived: Prose = ""
        if b.spec.pair.output.name != "identity":
            derived = (
                f" (the derivative of the {b.spec.pair.output.name} is derived in "
                + reference(b)
                + ")"
            )
        chain: Prose = (
            Inline.of("Each ", Math.of(nt.prediction(nt.I)), " depends on ", ai, " alone, ")
            + "so the chain rule has a single term"
            + derived
            + (", for " + b.ranges(delta) + ":" if b.ranges(delta) else ":")
        )
    else:
        yhat_i, yhat_j = nt.prediction(nt.I), nt.prediction(nt.J)
        jacobian = Math.of(
            Expr(nt.partial(yhat_j, nt.pre(L, nt.I)), slashed=True),
            Token.EQUALS,
            yhat_j,
            Paren(Math.of(sp.KroneckerDelta(nt.I, nt.J), Term(Math.of(yhat_i), negative=True))),
        )
        chain = (
            Inline.of("The softmax makes every ", Math.of(nt.prediction(nt.J)), " depend on ")
            + Inline.of("every ", ai, ", so the chain rule sums over ", Math.of(nt.J), ", with ")
            + Inline.of(jacobian, " (derived in ")
            + reference(b)
            + ")."
            + (" For " + b.ranges(delta) + ":" if b.ranges(delta) else "")
        )
    blocks += [Text(chain), b.step_display(delta)]
    if b.net.assumes_targets_sum_to_one:
        blocks.append(
            Text(
                Inline.of(
                    "The last step uses ",
                    targets_sum_to_one(nt.J),
                    ", which holds when ",
                    general("y", None),
                    " is a one-hot label or a probability distribution.",
                )
            )
        )
    blocks += [
        Text(
            Inline.of(
                "For every ", Math.of(nt.I), " at once, with ", b.ref(delta), " in matrix form:"
            )
        ),
        b.step_display(vector, notes=False),
    ]
    return Section("The output layer", b.fmt.section_label("output"), tuple(blocks), id="output")


def for_ranges(b: Builder, step: Step) -> list[Block]:
    """ "For i = 1, 2:" before a step, or nothing when its indices take one value each."""
    ranges = b.ranges(step)
    return [Text("For " + ranges + ":")] if ranges else []


def hidden_steps(b: Builder, k: int) -> list[Step]:
    return [
        b.step(kind, k)
        for kind in (
            Kind.HIDDEN_GRAD,
            Kind.HIDDEN_GRAD_VECTOR,
            Kind.HIDDEN_DELTA,
            Kind.HIDDEN_DELTA_VECTOR,
        )
    ]


def hidden_section(b: Builder) -> Section:
    title, label = "The hidden layers", b.fmt.section_label("hidden")
    if b.L == 1:
        text = Inline.of(
            "This network has no hidden layer: the output layer reads the input ",
            general("x", None),
            " directly, so the parameters follow from ",
            b.ref(b.step(Kind.OUTPUT_DELTA_VECTOR)),
            " alone.",
        )
        return Section(title, label, (Text(text),), id="hidden")
    K = b.expand_hidden
    h_kj, a_next = nt.H[LAYER, nt.J], nt.A[LAYER + 1, nt.I]
    w_next = nt.W[LAYER + 1, nt.I, nt.J]
    blocks: list[Block] = [
        Text(
            Inline.of(
                "Going backwards, each hidden layer receives the gradient of the layer above "
                "it. A unit's activation ",
                h_kj,
                " reaches the loss through every pre-activation ",
                a_next,
                " of the next layer, and ",
                Math.of(Expr(nt.partial(a_next, h_kj), slashed=True), Token.EQUALS, w_next),
                ".",
            )
        )
    ]
    full = hidden_steps(b, K)
    grad, grad_v, delta, delta_v = full
    blocks += [
        Heading(f"Hidden layer {K}" + (" in full" if b.L > 2 else "")),
        *for_ranges(b, grad),
        b.step_display(grad),
        Text("In matrix form, " + b.ref(grad) + " is"),
        b.step_display(grad_v, notes=False),
        Text(
            Inline.of(
                "The activation acts unit by unit, so ",
                nt.post(K, nt.J),
                " depends on ",
                nt.pre(K, nt.J),
                " alone (",
            )
            + activation_phrase(b, K)
            + "):"
        ),
        b.step_display(delta),
        Text(
            Inline.of(
                "and in matrix form, with ", Token.ODOT, " the elementwise product, ", b.ref(delta)
            )
            + " is"
        ),
        b.step_display(delta_v, notes=False),
    ]
    # The layer written in full comes first, so every other layer points back to it.
    others = [k for k in b.net.hidden_layers() if k != K]
    if others:
        blocks += compact_hidden(b, others, full)
    return Section(title, label, tuple(blocks), id="hidden")


def compact_hidden(b: Builder, layers: list[int], full: list[Step]) -> list[Block]:
    """Hidden layers stated compactly after the one written in full, each step pointing to it."""
    K = b.expand_hidden
    which = f"layer {layers[0]}" if len(layers) == 1 else f"layers {span(layers)}"
    blocks: list[Block] = [
        Heading(f"Hidden {which}"),
        Text(
            f"The same steps as for layer {K}, written in full above in "
            + b.ref(full[0])
            + " to "
            + b.ref(full[-1])
            + Inline.of(
                f", give for hidden {which}, with ", nt.J, " running over the units of each:"
            )
        ),
    ]
    groups = [b.placed(b.compact_rows(hidden_steps(b, k), full)) for k in layers]
    blocks += [Display(rows) for rows in joined(groups, LAYER_ROWS)]
    return blocks


def parameter_steps(b: Builder, k: int) -> list[Step]:
    return [
        b.step(kind, k) for kind in (Kind.WEIGHT, Kind.WEIGHT_MATRIX, Kind.BIAS, Kind.BIAS_VECTOR)
    ]


def parameter_section(b: Builder) -> Section:
    title, label = "The parameters", b.fmt.section_label("parameters")
    k, i, j = LAYER, nt.I, nt.J
    weighted = Summation(j, None, None, Math.of(nt.W[k, i, j], nt.H[k - 1, j]))

    def rate(of: sp.Basic, wrt: sp.Basic, value: sp.Basic | int) -> Math:
        return Math.of(Expr(nt.partial(of, wrt), slashed=True), Token.EQUALS, value)

    blocks: list[Block] = [
        Text(
            Inline.of("With the gradient ", Math.of(general("a", "k", gradient=True)))
            + " of every layer known, the parameters follow. Since "
            + Math.of(nt.A[k, i], Token.EQUALS, nt.B[k, i], Token.PLUS, weighted)
            + Inline.of(", ", rate(nt.pre(k, i), nt.weight(k, i, j), nt.post(k - 1, j)))
            + Inline.of(" and ", rate(nt.pre(k, i), nt.bias(k, i), 1), ".")
        )
    ]
    K = b.expand
    # The layer written in full comes first, so every other layer points back to it.
    blocks += full_parameters(b, K)
    others = [k for k in b.net.layers_backward() if k != K]
    if others:
        blocks += compact_parameters(b, others, parameter_steps(b, K))
    return Section(title, label, tuple(blocks), id="parameters")


def written_out(b: Builder, k: int) -> bool:
    """Whether ``grad_{W_k} L`` is written out entry by entry: for the layer written in full
    (abbreviated where it is wider than :data:`MAX_SHOWN`), and for every layer whose weights
    have at most :attr:`Builder.entry_by_entry` rows and columns (the lecture's ``3 x 3``)."""
    return k == b.expand or max(b.spec.sizes[k], b.spec.sizes[k - 1]) <= b.entry_by_entry


def full_parameters(b: Builder, k: int) -> list[Block]:
    weight, matrix, bias, bias_v = parameter_steps(b, k)
    n, m = b.spec.sizes[k], b.spec.sizes[k - 1]
    prev = nt.symbol(nt.quantity("h", k - 1))
    grad_a = nt.symbol(nt.quantity("a", k).grad())
    shown = (
        f" (its first {HEAD_WORD} and last rows and columns shown)" if max(n, m) > MAX_SHOWN else ""
    )
    return [
        Heading(f"Layer {k}: weights and biases" + (" in full" if b.L > 1 else "")),
        *for_ranges(b, weight),
        b.step_display(weight),
        Text(
            Inline.of(
                "As ",
                nt.symbol(nt.quantity("W", k)),
                " is a matrix with ",
                shape(n, m),
                " entries, "
                f"the gradient collects these partials in a matrix of the same shape{shown}. "
                "Applying ",
                b.ref(weight),
                " to every entry shows that it is the outer product of ",
                grad_a,
                " and ",
                prev,
                ":",
            )
        ),
        weight_matrix_display(b, matrix, k),
        Text("The biases" + (": for " + b.ranges(bias) + "," if b.ranges(bias) else ":")),
        b.step_display(bias),
        Text("so the bias gradient is the gradient of the pre-activation itself:"),
        b.step_display(bias_v, notes=False),
    ]


def compact_parameters(b: Builder, layers: list[int], full: list[Step]) -> list[Block]:
    """The layers other than the one written in full, stated compactly after it; a small
    weight matrix (:func:`written_out`) is still written out entry by entry."""
    which = f"layer {layers[0]}" if len(layers) == 1 else f"layers {span(layers)}"
    blocks: list[Block] = [
        Heading(f"Weights and biases of {which}"),
        Text(
            f"The same steps as for layer {b.expand}, written in full above in "
            + b.ref(full[0])
            + " to "
            + b.ref(full[-1])
            + f", give for {which}:"
        ),
    ]
    groups: list[tuple[Row, ...]] = []
    for k in layers:
        steps = parameter_steps(b, k)
        if not written_out(b, k):
            groups.append(b.placed(b.compact_rows(steps, full)))
            continue
        weight, matrix, bias, bias_v = steps
        groups.append(b.placed(b.compact_rows([weight], full[:1])))
        blocks += [Display(rows) for rows in joined(groups, LAYER_ROWS)]
        groups = []
        n, m = b.spec.sizes[k], b.spec.sizes[k - 1]
        blocks += [
            Text(
                Inline.of("The gradient of ", nt.symbol(nt.quantity("W", k)), ", a ")
                + shape(n, m)
                + " matrix, "
                f"written out entry by entry as for layer {b.expand}:"
            ),
            weight_matrix_display(b, matrix, k),
        ]
        groups.append(b.placed(b.compact_rows([bias, bias_v], full[2:])))
    blocks += [Display(rows) for rows in joined(groups, LAYER_ROWS)]
    return blocks


def weight_matrix_display(b: Builder, step: Step, k: int) -> Display:
    """``grad_{W_k} L`` = partials = formula applied = column times row = outer product."""
    entries, applied, outer = step.forms
    assert isinstance(entries, EntryMatrix) and isinstance(applied, EntryMatrix)
    n, m = entries.shape
    column = b.matrix(n, 1, lambda r, c: Expr(nt.partial(nt.pre(k, r)), stacked=True))
    row = b.matrix(1, m, lambda r, c: nt.post(k - 1, c))
    by = "by " + b.note_ref(b.step(Kind.WEIGHT, k))
    rows = [
        Row(b.form(step.lhs), equals(b.form(entries)), "entries"),
        Row(EMPTY, equals(b.form(applied)), by),
        Row(EMPTY, equals(Math.of(column, row)), "a column times a row"),
        b.row(step, EMPTY, equals(b.form(outer)), "outer product", True),
    ]
    return Display(b.placed(rows), spread=True)
