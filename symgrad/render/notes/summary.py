"""The summary of the network, its worked example, and backpropagation for any depth.

Part of the notes renderer (:mod:`symgrad.render.notes`): the forward and backward pass of this
network in matrix form, the worked example of ``--example``, and BP1-BP4 with their shapes,
cross-referenced to the equations of this network.
"""

from __future__ import annotations

from dataclasses import replace

import sympy as sp

from symgrad import notation as nt
from symgrad.derivation import Kind, StepId
from symgrad.expressions import X
from symgrad.generic import applied, general, size
from symgrad.model import Elementwise
from symgrad.render.document import (
    Block,
    Display,
    Inline,
    Prose,
    Row,
    Section,
    Steps,
    Text,
    joined_prose,
)
from symgrad.render.example import backward_ids
from symgrad.render.formula import EMPTY, Group, Math, Paren, Token, equals
from symgrad.render.notes import setup
from symgrad.render.notes.builder import (
    PRIME,
    SUMMARY_ROWS,
    Builder,
    chunks,
    shape,
    shaped,
)
from symgrad.render.notes.example import ExampleSection
from symgrad.render.notes.symbols import letter, targets_sum_to_one
from symgrad.render.notes.widths import visible_width


def summary_section(b: Builder) -> Section:
    forward = Display(tuple(setup.forward_vector_rows(b, tags=True)), kind="summary")
    # One row a layer: its matrix steps of one stage (a hidden layer's two, a layer's
    # parameters), in the network's backward order.
    pairs: list[list[StepId]] = []
    for id in backward_ids(b.net):
        if pairs and (pairs[-1][0].kind.stage, pairs[-1][0].layer) == (id.kind.stage, id.layer):
            pairs[-1].append(id)
        else:
            pairs.append([id])
    rows = []
    for ids in pairs:
        steps = [b.d.step(i) for i in ids]
        first, rest = steps[0], steps[1:]
        right = equals(b.form(first.final))
        for s in rest:
            right += Math.of(Token.COMMA, Token.QQUAD, b.form(s.lhs)) + equals(b.form(s.final))
        tag = joined_prose(", ", [b.note_ref(s) for s in steps])
        if visible_width(b.fmt.formula(b.form(first.lhs) + right)) + 6 <= b.line_ems:
            rows.append(Row(b.form(first.lhs), right, tag=tag))
            continue
        for step in steps:  # too wide for one line: a line each
            rows.append(Row(b.form(step.lhs), equals(b.form(step.final)), tag=b.note_ref(step)))
    blocks: list[Block] = [
        Text(
            Inline.of(
                "For one sample ",
                Paren(Math.of(general("x", None), Token.COMMA, general("y", None))),
                ", backpropagation computes the forward pass and keeps every activation,",
            )
        ),
        forward,
        Text(
            "then walks backwards from the output, each gradient computed from the one "
            "before it, and finally the gradient of every parameter. The references are "
            "to the equations derived above."
        ),
    ]
    blocks += [Display(chunk, kind="summary") for chunk in chunks(rows, SUMMARY_ROWS)]
    graph = b.graph(None, "")
    if graph is not None:
        blocks.append(graph)
    title = "Summary: backpropagation for this network"
    return Section(title, b.fmt.section_label("summary"), tuple(blocks), id="summary")


def example_sections(b: Builder) -> list[Section]:
    """The worked example of ``--example``, after the summary of this network."""
    if b.example is None:
        return []
    return [ExampleSection(b, b.example).section()]


def general_section(b: Builder) -> Section:
    """The algorithm for any depth, BP1-BP4 style, each equation with its shape; then what the
    layer kinds of this network change in it (their ops' remarks)."""
    g = b.g("k")
    blocks = [*_equations(b, g), *algorithm(g)]
    blocks += b.remarks("general")

    blocks = [
        replace(block, text=b.refs_in(block.text))
        if isinstance(block, Text)
        else replace(block, items=tuple(b.refs_in(i) for i in block.items))
        if isinstance(block, Steps)
        else block
        for block in blocks
    ]
    title = "Backpropagation for any depth"
    return Section(title, b.fmt.section_label("general"), tuple(blocks), id="general")


def bp_rows(b: Builder, g: str, cite: bool = True) -> tuple[Row, ...]:
    """(BP1)-(BP4), as :func:`_bp_rows` gives them; without ``cite`` (a document that has not
    the notes' equations) what BP1 is for this network names no equation."""
    rows = _bp_rows(b, g)
    if cite:
        return rows
    note_sum = _targets_note(b)
    return (rows[0], replace(rows[1], note="for this network" + note_sum), *rows[2:])


def _targets_note(b: Builder) -> Prose:
    """``, with sum_i y_i = 1`` where this network's BP1 assumes it."""
    if not b.net.assumes_targets_sum_to_one:
        return ""
    return Inline.of(", with ", targets_sum_to_one(nt.I))


def _bp_rows(b: Builder, g: str) -> tuple[Row, ...]:
    """(BP1)-(BP4) with the shape of each, numbered as Nielsen numbers them: the output error
    in general form (then what it is for this network), the recurrence, the biases, the
    weights. Each is an expression of the quantities of any network (:func:`general_equations`),
    printed as every other equation is."""
    output_step = b.step(Kind.OUTPUT_DELTA_VECTOR)
    note_sum = _targets_note(b)
    what: Prose = ""
    if not b.spec.pair.output.diagonal:
        jacobian = Math.of(
            letter("J"),
            Token.EQUALS,
            Token.PARTIAL,
            general("yhat", None),
            Token.SLASH,
            Token.PARTIAL,
            general("a", "L"),
        )
        what = Inline.of(", ", jacobian, " the Jacobian of ", letter("O"))
    rows: list[Row] = []
    for n, (left, right) in enumerate(general_equations(b.spec.pair.output.diagonal, g), 1):
        rows.append(
            Row(
                Math.of(left),
                equals(right),
                shape(*left.shape) + (what if n == 1 else ""),
                tag=f"BP{n}",
                label=b.fmt.label(f"bp{n}"),
                key=f"bp{n}",
            )
        )
        if n == 1:
            here = "here, " + b.note_ref(output_step) + note_sum
            rows.append(Row(EMPTY, equals(output_step.final), here))
    return tuple(rows)


def general_equations(diagonal: bool, g: str) -> list[tuple[sp.MatrixExpr, sp.MatrixExpr]]:
    """BP1-BP4 as ``(left, right)`` in the quantities of any network with ``L`` layers:
    ``grad_{a_L} L`` from ``grad_yhat L`` (elementwise output: the Hadamard product with
    ``O'(a_L)``; else ``J^T grad_yhat L``), the recurrence with ``g'`` (``g`` as the document
    writes it: ``g`` or ``g_{k}``), the biases, the weights."""
    grad_yhat = general("yhat", None, gradient=True)
    a_L = general("a", "L")
    if diagonal:
        slope = sp.Function("O'", symgrad_latex="O'")
        output = sp.HadamardProduct(grad_yhat, Elementwise(sp.Lambda(X, slope(X)), a_L))
    else:
        jacobian = sp.MatrixSymbol("J", a_L.shape[0], a_L.shape[0])
        output = sp.MatMul(jacobian.T, grad_yhat)
    g_prime = sp.Function("g'", symgrad_latex=f"{g}'")
    back = sp.MatMul(general("W", "k+1").T, general("a", "k+1", gradient=True))
    grad_a_k = general("a", "k", gradient=True)
    equations = [
        (general("a", "L", gradient=True), output),
        (
            grad_a_k,
            sp.HadamardProduct(back, Elementwise(sp.Lambda(X, g_prime(X)), general("a", "k"))),
        ),
        (general("b", "k", gradient=True), grad_a_k),
        (general("W", "k", gradient=True), sp.MatMul(grad_a_k, general("h", "k-1").T)),
    ]
    for left, right in equations:
        fitted(left, right)
    return equations


def fitted(left: sp.MatrixExpr, right: sp.MatrixExpr) -> None:
    """Raise ``ValueError`` unless both sides have the same shape and every product and
    elementwise product in ``right`` fits, size for size (SymPy lets ``n_{k}`` meet ``1``, as
    ``n_{k}`` could be 1)."""
    for part in sp.preorder_traversal(right):
        if isinstance(part, sp.MatMul):
            factors = [f for f in part.args if isinstance(f, sp.MatrixExpr)]
            for before, after in zip(factors, factors[1:], strict=False):
                if before.shape[1] != after.shape[0]:
                    raise ValueError(f"{before} times {after} does not fit")
        if isinstance(part, sp.HadamardProduct) and len({a.shape for a in part.args}) > 1:
            raise ValueError(f"the factors of {part} differ in shape")
    if left.shape != right.shape:
        raise ValueError(f"{left} is {left.shape}, {right} is {right.shape}")


def _equations(b: Builder, g: str) -> list[Block]:
    """The four equations and what each is, with the references of this network."""
    refs = general_refs(b)
    L, k = sp.Symbol("L", integer=True, positive=True), sp.Symbol("k", integer=True, positive=True)
    h_0 = nt.symbol(nt.Quantity("h", "0"))  # type: ignore[arg-type]
    W_next, grad_next = general("W", "k+1").T, general("a", "k+1", gradient=True)
    back = Math.of(general("h", "k", gradient=True), Token.EQUALS, sp.MatMul(W_next, grad_next))
    return [
        Text(
            Inline.of(
                "Nothing in the steps above depends on the sizes of this network except the "
                "ranges of the indices. For any feed-forward network with ",
                Math.of(L),
                " layers (with ",
                Math.of(h_0, Token.EQUALS, nt.symbol(nt.quantity("x"))),
                " and the same output and loss), the gradient of the per-sample loss is given "
                "by four equations, each shown with the shape of its result:",
            )
        ),
        Display(_bp_rows(b, g), kind="general"),
        Text(
            Inline.of(
                "{bp1} is the output layer, in the general form that holds for any output "
                "function and loss, then as it simplifies for this network; {bp2} joins the two "
                "steps of a hidden layer, ",
                back,
                " and the elementwise product with ",
                Math.of(applied(g + PRIME, general("a", "k"))),
                "; {bp3} and {bp4} give the parameters. For this network they are ",
            )
            + refs
            + ". The shapes check each product; under each factor, its shape:"
        ),
        Display(general_shapes(), spread=True),
        Text(
            Inline.of(
                "So ",
                Math.of(W_next),
                " takes the ",
                Math.of(size("k+1")),
                " entries of ",
                Math.of(grad_next),
                " back to the ",
                Math.of(size("k")),
                " units of layer ",
                Math.of(k),
                ", and a column times a row has the shape of ",
                Math.of(general("W", "k")),
                ".",
            )
        ),
    ]


def general_shapes() -> tuple[Row, ...]:
    """The products of one sample's forward and backward pass, a shape under each factor."""
    n_k, n_prev, n_next = size("k"), size("k-1"), size("k+1")
    grad_a = Math.of(Group(Math.of(general("a", "k", gradient=True))))
    return (
        Row(
            shaped((general("a", "k"), n_k, 1)),
            Math.of(Token.EQUALS)
            + shaped(
                (general("b", "k"), n_k, 1),
                Token.PLUS,
                (general("W", "k"), n_k, n_prev),
                (general("h", "k-1"), n_prev, 1),
            ),
        ),
        Row(
            shaped((general("h", "k", gradient=True), n_k, 1)),
            Math.of(Token.EQUALS)
            + shaped(
                (general("W", "k+1").T, n_k, n_next),
                (general("a", "k+1", gradient=True), n_next, 1),
            ),
        ),
        Row(
            shaped((general("W", "k", gradient=True), n_k, n_prev)),
            Math.of(Token.EQUALS) + shaped((grad_a, n_k, 1), (general("h", "k-1").T, 1, n_prev)),
        ),
    )


def algorithm(g: str) -> list[Block]:
    """The algorithm for one sample, in steps."""
    k, L = sp.Symbol("k", integer=True, positive=True), sp.Symbol("L", integer=True, positive=True)
    a_k, h_k, h_prev, W_k = (
        general("a", "k"),
        general("h", "k"),
        general("h", "k-1"),
        general("W", "k"),
    )
    grad = {layer: Math.of(general("a", layer, gradient=True)) for layer in ("L", "k", "k-1")}
    over = {
        "forward": Math.of(k, Token.EQUALS, 1, Token.COMMA, Token.DOTS, Token.COMMA, L),
        "backward": Math.of(k, Token.EQUALS, L, Token.COMMA, Token.DOTS, Token.COMMA, 1),
    }
    affine = Math.of(a_k, Token.EQUALS, general("b", "k"), Token.PLUS, sp.MatMul(W_k, h_prev))
    return [
        Text("As an algorithm, for one sample:"),
        Steps(
            (
                Inline.of(
                    "Forward: for ",
                    over["forward"],
                    ", compute ",
                    affine,
                    " and ",
                    Math.of(h_k, Token.EQUALS, applied(g, a_k)),
                    " (at the last layer ",
                    Math.of(general("yhat", None), Token.EQUALS, applied("O", general("a", "L"))),
                    "); keep every ",
                    Math.of(a_k),
                    " and ",
                    Math.of(h_k),
                    ".",
                ),
                Inline.of("Output: ", grad["L"], " by {bp1}."),
                Inline.of(
                    "Backward: for ",
                    over["backward"],
                    ", the parameter gradients by {bp3} and {bp4}; then, if ",
                    Math.of(sp.StrictGreaterThan(k, 1)),
                    ", ",
                    grad["k-1"],
                    " by {bp2}, which needs ",
                    grad["k"],
                    ", ",
                    Math.of(W_k),
                    " and ",
                    Math.of(applied(g + "'", general("a", "k-1"))),
                    " (from ",
                    Math.of(general("a", "k-1")),
                    ", kept in the forward pass).",
                ),
            )
        ),
        Text(
            Inline.of(
                "Each gradient is used as soon as it is known. The backward pass costs about "
                "twice as much as the forward pass: for every layer it computes two products as "
                "large as the forward pass's ",
                Math.of(sp.MatMul(W_k, h_prev)),
                ", the product with ",
                Math.of(W_k.T),
                " that takes the gradient back and the outer product that gives ",
                Math.of(general("W", "k", gradient=True)),
                " (the first layer needs only the second).",
            )
        ),
    ]


def general_refs(b: Builder) -> Prose:
    """Where (BP1)-(BP4) are in this network, the first and last layer of each."""
    ref = b.ref

    def span(kind: Kind, layers: list[int], other: Kind | None = None) -> Prose:
        def at(k: int) -> Prose:
            text = ref(b.step(kind, k))
            return text + " with " + ref(b.step(other, k)) if other else Inline.of(text)

        if len(layers) == 1:
            return at(layers[0])
        if len(layers) == 2:
            return at(layers[0]) + " and " + at(layers[1])
        return at(layers[0]) + " and so on down to " + at(layers[-1])

    layers = list(b.net.layers_backward())
    hidden = list(b.net.hidden_layers())
    bp = b.bp_ref
    parts: list[Prose] = [ref(b.step(Kind.OUTPUT_DELTA_VECTOR)) + " for " + bp(1)]
    if hidden:
        parts.append(
            span(Kind.HIDDEN_GRAD_VECTOR, hidden, Kind.HIDDEN_DELTA_VECTOR) + " for " + bp(2)
        )
    parts.append(span(Kind.BIAS_VECTOR, layers) + " for " + bp(3))
    parts.append(span(Kind.WEIGHT_MATRIX, layers) + " for " + bp(4))
    return joined_prose("; ", parts)
