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
from symgrad.render.formula import EMPTY, Group, Math, Token, equals
from symgrad.render.notes import setup
from symgrad.render.notes.builder import (
    PRIME,
    SUMMARY_ROWS,
    Builder,
    chunks,
    inline,
    shape,
    shaped,
    size,
)
from symgrad.render.notes.example import ExampleSection
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
            f"For one sample {inline('(x, y)')}, backpropagation computes the forward pass "
            "and keeps every activation,"
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

    def fill(text: Prose) -> Prose:
        if isinstance(text, str):
            return b.with_refs(text)
        parts = text if isinstance(text, Inline) else (text,)
        return Inline.of(*(b.with_refs(p) if isinstance(p, str) else p for p in parts))

    blocks = [
        replace(block, text=fill(block.text))
        if isinstance(block, Text)
        else replace(block, items=tuple(fill(i) for i in block.items))
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
    note_sum = ", with $\\sum_{i} y_{i} = 1$" if b.net.assumes_targets_sum_to_one else ""
    return (rows[0], replace(rows[1], note="for this network" + note_sum), *rows[2:])


def _bp_rows(b: Builder, g: str) -> tuple[Row, ...]:
    """(BP1)-(BP4) with the shape of each, numbered as Nielsen numbers them: the output error
    in general form (then what it is for this network), the recurrence, the biases, the
    weights. Each is an expression of the quantities of any network (:func:`general_equations`),
    printed as every other equation is."""
    output_step = b.step(Kind.OUTPUT_DELTA_VECTOR)
    note_sum = ", with $\\sum_{i} y_{i} = 1$" if b.net.assumes_targets_sum_to_one else ""
    what = ""
    if not b.spec.pair.output.diagonal:
        what = r", $J = \partial \hat{y} / \partial a_{L}$ the Jacobian of $O$"
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


def general(base: str, layer: str | None, gradient: bool = False) -> nt.QuantitySymbol:
    """A vector or matrix of any network, its layer written as text (``k``, ``k+1``, ``L``) and
    its shape in the sizes ``n_{k}``: what the equations for any depth are made of. ``W`` is
    ``n_{k} x n_{k-1}``, every other quantity a column."""
    q = nt.Quantity(base, layer, gradient)  # type: ignore[arg-type]
    rows = size(layer or "L")
    cols = size(_below(layer)) if base == "W" and layer else sp.Integer(1)
    return nt.symbol(q, nt.Form.VECTOR, rows, cols)


def batch(base: str, layer: str | None, gradient: bool = False) -> nt.QuantitySymbol:
    """A matrix of a batch of any network, one row a sample (``A_{k}``, ``\\Delta_{k}``,
    ``\\hat{Y}``): ``B x n_{k}``."""
    q = nt.Quantity(base, layer, gradient)  # type: ignore[arg-type]
    return nt.symbol(q, nt.Form.BATCH, nt.BATCH, size(layer or "L"))


def mean_gradient(base: str, layer: str) -> nt.QuantitySymbol:
    """The gradient of the batch's mean loss with respect to a parameter of any network
    (``\\nabla_{W_{k}} \\bar{\\mathcal{L}}``), shaped like it."""
    like = general(base, layer)
    q = nt.Quantity(base, layer, True)  # type: ignore[arg-type]
    return nt.symbol(q, nt.Form.MEAN, *like.shape)


def _below(layer: str) -> str:
    """The layer before ``layer``: ``k-1`` for ``k``, ``k`` for ``k+1``."""
    return layer[: -len("+1")] if layer.endswith("+1") else f"{layer}-1"


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
    return [
        Text(
            "Nothing in the steps above depends on the sizes of this network except the "
            "ranges of the indices. For any feed-forward network with "
            f"{inline('L')} layers (with {inline('h_{0} = x')} and the same output and loss), "
            "the gradient of the per-sample loss is given by four equations, each shown "
            "with the shape of its result:"
        ),
        Display(_bp_rows(b, g), kind="general"),
        Text(
            "{bp1} is the output layer, in the general form that holds for any output "
            "function and loss, then as it simplifies for this network; {bp2} joins the two "
            "steps of a hidden layer, "
            + inline(r"\nabla_{h_{k}} \mathcal{L} = W_{k+1}^{\top} \nabla_{a_{k+1}} \mathcal{L}")
            + " and the elementwise product with "
            + inline(g + PRIME + "(a_{k})")
            + "; {bp3} and {bp4} "
            "give the parameters. For this network they are "
            + refs
            + ". The shapes check each product; under each factor, its shape:"
        ),
        Display(general_shapes(), spread=True),
        Text(
            "So "
            + inline(r"W_{k+1}^{\top}")
            + f" takes the {inline('n_{k+1}')} entries of "
            + inline(r"\nabla_{a_{k+1}} \mathcal{L}")
            + f" back to the {inline('n_{k}')} units of layer "
            + inline("k")
            + ", and a column times a row has the shape of "
            + inline("W_{k}")
            + "."
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
    return [
        Text("As an algorithm, for one sample:"),
        Steps(
            (
                "Forward: for "
                + inline(r"k = 1, \dots, L")
                + ", compute "
                + inline(r"a_{k} = b_{k} + W_{k} h_{k-1}")
                + " and "
                + inline(f"h_{{k}} = {g}(a_{{k}})")
                + " (at the last layer "
                + inline(r"\hat{y} = O(a_{L})")
                + "); keep every "
                + inline("a_{k}")
                + " and "
                + inline("h_{k}")
                + ".",
                "Output: " + inline(r"\nabla_{a_{L}} \mathcal{L}") + " by {bp1}.",
                "Backward: for "
                + inline(r"k = L, \dots, 1")
                + ", the parameter gradients by {bp3} and {bp4}; then, if "
                + inline("k > 1")
                + ", "
                + inline(r"\nabla_{a_{k-1}} \mathcal{L}")
                + " by {bp2}, which needs "
                + inline(r"\nabla_{a_{k}} \mathcal{L}")
                + ", "
                + inline("W_{k}")
                + " and "
                + inline(f"{g}'(a_{{k-1}})")
                + " (from "
                + inline("a_{k-1}")
                + ", kept in the forward pass).",
            )
        ),
        Text(
            "Each gradient is used as soon as it is known. The backward pass costs about "
            "twice as much as the forward pass: for every layer it computes two products as "
            "large as the forward pass's "
            + inline(r"W_{k} h_{k-1}")
            + ", the product with "
            + inline(r"W_{k}^{\top}")
            + " that takes the gradient back and the outer product that gives "
            + inline(r"\nabla_{W_{k}} \mathcal{L}")
            + " (the first layer needs only the second)."
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
