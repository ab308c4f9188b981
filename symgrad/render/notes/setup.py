"""The first section of the notes: the notation, the network and the forward pass.

Part of the notes renderer (:mod:`symgrad.render.notes`): functions of a
:class:`~symgrad.render.notes.builder.Builder`.
"""

from __future__ import annotations

import sympy as sp

from symgrad import notation as nt
from symgrad.derivation import Kind, Step
from symgrad.render.document import (
    Block,
    Diagram,
    DiagramNode,
    Display,
    Heading,
    Role,
    Row,
    Section,
    Table,
    Text,
    joined_prose,
)
from symgrad.render.example import forward_ids
from symgrad.render.formula import EMPTY, MAX_SHOWN, Math, Token, equals, shown_indices
from symgrad.render.notes import derivatives
from symgrad.render.notes.builder import (
    DIAGRAM_FULL_LAYERS,
    FORWARD_ROWS,
    HEAD_WORD,
    PRIME,
    PRIME_AT_ZERO,
    WRITTEN_OUT_LAYERS,
    YHAT,
    Builder,
    inline,
    joined,
)


def setup_section(b: Builder) -> Section:
    blocks: list[Block] = [
        Heading("Notation"),
        notation_table(b),
        Text(
            "The symbols of a mini-batch are listed with its equations, in "
            + b.section_ref("batch")
            + "."
        ),
    ]
    blocks += [Heading("The network"), diagram(b), shapes_table(b)]
    blocks += [Heading("The forward pass")]
    blocks += forward_blocks(b)
    return Section("Setup", b.fmt.section_label("setup"), tuple(blocks), id="setup")


def notation_table(b: Builder) -> Table:
    """Every symbol the notes use: the network's, then the operations'."""
    return Table(
        ("symbol", "meaning", "shape"),
        (*_network_symbols(b), *_output_symbols(b), *_operations(b)),
        r"@{}l >{\raggedright\arraybackslash}p{0.55\linewidth} l@{}",
        ("left", "left", "left"),
    )


def _network_symbols(b: Builder) -> list[tuple[str, ...]]:
    """The input, the parameters, the pre-activations and the hidden activations."""
    L = b.L
    k, i, j = "k", "i", "j"
    w_kij = f"W_{{{b.idx(k, i, j)}}}"
    b_ki = f"b_{{{b.idx(k, i)}}}"
    rows: list[tuple[str, ...]] = [
        (inline(r"x = h_{0}"), "input", inline(r"\mathbb{R}^{n_{0}}")),
        (
            inline("W_{k}"),
            f"weights of layer {inline('k')}; {inline(w_kij)} connects "
            f"unit {inline('j')} of layer {inline('k-1')} to unit {inline('i')} of layer "
            f"{inline('k')}",
            inline(r"\mathbb{R}^{n_{k} \times n_{k-1}}"),
        ),
        (
            inline("b_{k}"),
            f"biases of layer {inline('k')}; {inline(b_ki)} belongs to unit {inline('i')}",
            inline(r"\mathbb{R}^{n_{k}}"),
        ),
        (
            inline("a_{k} = b_{k} + W_{k} h_{k-1}"),
            "pre-activation of layer " + inline("k"),
            inline(r"\mathbb{R}^{n_{k}}"),
        ),
    ]
    if L > 1:
        g = b.g()
        rows.append(
            (
                inline(f"h_{{k}} = {g}(a_{{k}})"),
                f"activation of hidden layer {inline('k')}: {inline(g)} acts on every entry",
                inline(r"\mathbb{R}^{n_{k}}"),
            )
        )
        rows.append(
            (
                inline(f"{g}'"),
                f"the derivative of {inline(g)}; {inline(g + '(a_{k})')} and "
                f"{inline(g + PRIME + '(a_{k})')} apply it entry by entry",
                "",
            )
        )
    return rows


def _output_symbols(b: Builder) -> list[tuple[str, ...]]:
    """The prediction, the target, the loss, gradients and the products of the notes."""
    L = b.L
    output = b.spec.pair.output
    what = {
        "softmax": (
            rf"the softmax, $\hat{{y}}_{{i}} = e^{{a_{{{b.idx(str(L), 'i')}}}}} / "
            rf"\sum_{{j}} e^{{a_{{{b.idx(str(L), 'j')}}}}}$"
        ),
        "sigmoid": r"the sigmoid $\sigma(t) = 1 / (1 + e^{-t})$ of every entry",
        "identity": "the identity",
    }[output.name]
    return [
        (
            inline(rf"\hat{{y}} = O({nt.quantity('a', L).latex})"),
            f"prediction; the output function {inline('O')} is {what}",
            inline(rf"\mathbb{{R}}^{{n_{{{L}}}}}"),
        ),
        (inline("y"), "target", inline(rf"\mathbb{{R}}^{{n_{{{L}}}}}")),
        (
            inline(r"\mathcal{L}"),
            f"per-sample loss, {b.spec.pair.loss.display}",
            "scalar",
        ),
        (
            inline(r"\nabla_{v} \mathcal{L}"),
            "gradient: the partials "
            + inline(r"\partial \mathcal{L} / \partial v_{i}")
            + ", shaped like "
            + inline("v"),
            "shape of " + inline("v"),
        ),
        (
            inline(r"u \odot v"),
            "elementwise product, " + inline(r"(u \odot v)_{i} = u_{i} v_{i}"),
            "",
        ),
        (inline(r"v^{\top}"), "transpose: a column vector becomes a row", ""),
        (inline(r"\mathbf{1}"), "a vector (or matrix) of ones, of the shape needed", ""),
    ]


def _operations(b: Builder) -> list[tuple[str, ...]]:
    """The indicator of a kink and the Kronecker delta, where the notes use them."""
    L = b.L
    i, j = "i", "j"
    rows: list[tuple[str, ...]] = []
    if any(a.derivative_at_kink is not None for a in b.spec.activations[: L - 1]):
        rows.append(
            (
                inline(r"\mathbf{1}[P]"),
                "indicator: 1 where the condition " + inline("P") + " holds, else 0",
                "",
            )
        )
    if not b.spec.pair.output.diagonal:
        rows.append(
            (
                inline(r"\delta_{" + b.idx(i, j) + "}"),
                "Kronecker delta: 1 if " + inline("i = j") + ", else 0",
                "",
            )
        )
    return rows


def shapes_table(b: Builder) -> Table:
    rows = []
    total = 0
    for k in range(1, b.L + 1):
        n, m = b.spec.sizes[k], b.spec.sizes[k - 1]
        total += n * (m + 1)
        if k < b.L:
            act = b.spec.activation(k)
            g = b.tex(act.shown_function)
            what = f"{act.name if act.builtin else 'custom'}, {inline('g(x) = ' + g)}"
        else:
            what = f"{b.spec.pair.output.name} output"
        rows.append(
            (
                inline(str(k)),
                inline(f"n_{{{k}}} = {n}"),
                inline(rf"{nt.quantity('W', k).latex} \in \mathbb{{R}}^{{{n} \times {m}}}"),
                inline(rf"{nt.quantity('b', k).latex} \in \mathbb{{R}}^{{{n}}}"),
                what,
                f"{n * (m + 1):,}",
            )
        )
    rows.append(("", "", "", "", "total", f"{total:,}"))
    return Table(
        ("layer", "units", "weights", "biases", "activation", "parameters"),
        tuple(rows),
        r"@{}clll>{\raggedright\arraybackslash}p{0.3\linewidth}r@{}",
        ("center", "left", "left", "left", "left", "right"),
        caption=(
            f"The input has {inline('n_{0} = ' + str(b.spec.sizes[0]))} units. "
            "Each layer and its parameters:"
        ),
    )


#: The network's figure draws a layer of at most this many units whole, a wider one as its
#: first two units, a column of dots and its last unit; and a network of at most this many
#: layers whole, a deeper one as its first layer, a column of dots and its last two layers.
DIAGRAM_SHOWN = 3


def diagram_units(n: int) -> list[int | None]:
    """The 1-based units of a layer of ``n`` the figure draws; ``None`` marks the dots."""
    if n <= DIAGRAM_SHOWN:
        return list(range(1, n + 1))
    return [1, 2, None, n]


def diagram_columns(L: int) -> list[int | None]:
    """The layers ``0 ... L`` the figure draws, left to right; ``None`` marks the dots."""
    if L <= DIAGRAM_SHOWN:
        return list(range(L + 1))
    return [0, 1, None, L - 1, L]


def diagram(b: Builder) -> Diagram:
    sizes = b.spec.sizes
    L = b.L
    spacing = b.diagram_spacing
    step_y = b.diagram_step
    nodes: list[DiagramNode] = []
    edges: list[tuple[str, str]] = []
    captions: list[tuple[str, str, str]] = []
    weights: list[tuple[str, str, str]] = []
    drawn = diagram_columns(L)
    #: The names of the units drawn in each column (the dots column: its one node).
    columns: list[list[str]] = []
    lowest = 0.0
    for c, k in enumerate(drawn):
        x = c * spacing
        if k is None:
            nodes.append(DiagramNode(f"u{c}dots", f"{x:.2f}", "0.00", r"\cdots", True))
            columns.append([f"u{c}dots"])
            continue
        shown = diagram_units(sizes[k])
        top = (len(shown) - 1) * step_y / 2
        names = []
        for row, unit in enumerate(shown):
            y = top - row * step_y
            lowest = min(lowest, y)
            name = f"u{k}x{row}"
            if unit is None:
                nodes.append(DiagramNode(name, f"{x:.2f}", f"{y:.2f}", r"\vdots", True))
                continue
            if k == 0:
                label = b.tex(nt.post(0, unit))
            elif k == L:
                label = b.tex(nt.prediction(unit))
            else:
                label = b.tex(nt.post(k, unit))
            nodes.append(DiagramNode(name, f"{x:.2f}", f"{y:.2f}", label, False))
            names.append(name)
        columns.append(names)
    for c in range(1, len(drawn)):
        edges += [(source, end) for source in columns[c - 1] for end in columns[c]]
    at = {k: c for c, k in enumerate(drawn) if k is not None}
    skips = [
        (source, end)
        for k, below in _skip_layers(b)
        if k in at and below in at
        for source, end in zip(columns[at[below]], columns[at[k]], strict=True)
    ]
    caption_y = lowest - 1.0
    for c, k in enumerate(drawn):
        if k is None:
            text = (
                rf"hidden 2\\$n_{{2}} = {sizes[2]}$"
                if L == DIAGRAM_SHOWN + 1
                else rf"hidden\\$2, \ldots, {L - 2}$"
            )
        else:
            what = "input" if k == 0 else ("output" if k == L else f"hidden {k}")
            text = rf"{what}\\$n_{{{k}}} = {sizes[k]}$"
        captions.append((f"{c * spacing:.2f}", f"{caption_y:.2f}", text))
    top_y = (max(len(diagram_units(sizes[k])) for k in at) - 1) * step_y / 2 + 0.75
    # over the gap between two drawn columns, the parameters of the layer at its right (the
    # dots start at layer 2)
    for c in range(1, len(drawn)):
        k = drawn[c] or 2
        label = inline(f"{nt.quantity('W', k).latex}, {nt.quantity('b', k).latex}")
        weights.append((f"{(c - 0.5) * spacing:.2f}", f"{top_y:.2f}", label))
    caption = _diagram_caption(sizes, bool(skips))
    return Diagram(
        tuple(nodes),
        tuple(edges),
        tuple(captions),
        tuple(weights),
        scaled=len(drawn) - 1 > DIAGRAM_FULL_LAYERS,
        mermaid=mermaid(b),
        caption=caption,
        skips=tuple(skips),
    )


def _diagram_caption(sizes: tuple[int, ...], skips: bool) -> str:
    """What the network's figure shows, and what it leaves out."""
    L = len(sizes) - 1
    wide = max(sizes) > DIAGRAM_SHOWN
    left_out = "Layer 2 is" if L == DIAGRAM_SHOWN + 1 else f"Layers 2 to {L - 2} are"
    dots = inline(r"\cdots")
    caption = (
        "The network. Every unit of a layer feeds every unit of the next; "
        + ("wide layers show their first two units and their last. " if wide else "")
        + (f"{left_out} left out ({dots}). " if L > DIAGRAM_SHOWN else "")
        + f"{inline('W_{k}')} and {inline('b_{k}')} are the parameters between layers "
        f"{inline('k-1')} and {inline('k')}."
    )
    if skips:
        caption += (
            " A dashed arc adds a unit's activation to the unit of the same number in the next "
            "layer (a skip connection)."
        )
    return caption


def _skip_layers(b: Builder) -> list[tuple[int, int]]:
    """``(k, j)`` for each layer ``k`` that adds the activations of layer ``j`` to its own
    unchanged (:meth:`~symgrad.ops.base.Op.skips`; ``x`` is layer 0)."""
    found = []
    for op in b.net.forward_order():
        for q in op.skips():
            found.append((op.layer, 0 if q.base == "x" else q.layer or 0))
    return found


def mermaid(b: Builder) -> tuple[str, ...]:
    sizes, L = b.spec.sizes, b.L
    lines = ["graph LR"]
    names = []
    for k, n in enumerate(sizes):
        if k == 0:
            text = f"input x: {n} units"
        elif k == L:
            text = f"output ŷ: {n} units, {b.spec.output}"
        else:
            act = b.spec.activation(k)
            hidden = nt.quantity("h", k).plain
            text = f"hidden {hidden}: {n} units, {act.name if act.builtin else 'custom g'}"
        names.append(f'L{k}["{text}"]')
    for k in range(1, L + 1):
        weights = f"{nt.quantity('W', k).plain}, {nt.quantity('b', k).plain}"
        lines.append(f'  {names[k - 1]} -- "{weights}" --> {names[k]}')
    for k, below in _skip_layers(b):
        added = nt.quantity("h", below).plain
        lines.append(f'  L{below} -. "+ {added}" .-> L{k}')
    return tuple(lines)


def forward_blocks(b: Builder) -> list[Block]:
    L = b.L
    act_names = {b.activation_name(k) for k in range(1, L)}
    applies = (
        f", and each hidden layer applies {next(iter(act_names))} to every unit"
        if len(act_names) == 1
        else ", and hidden layer $k$ applies its activation $g_{k}$ to every unit"
        if act_names
        else ""
    )
    output = b.spec.pair.output.name
    blocks: list[Block] = [
        Text(
            "Each layer adds its biases to a weighted sum of the previous layer's "
            f"activations (the input is {inline('h_{0} = x')}){applies}; the output layer "
            f"applies the {output} to {inline('a_{' + str(L) + '}')}:"
        )
    ]
    ids = [i for i in forward_ids(b.net) if i.kind is not Kind.LOSS]
    groups = [tuple(b.compact_step(b.d.step(i), forward_notes(b, b.d.step(i)))) for i in ids]
    blocks += [Display(b.placed(list(rows))) for rows in joined(groups, FORWARD_ROWS)]
    blocks += b.remarks("setup")
    loss = b.step(Kind.LOSS)
    blocks.append(
        Text(
            f"The per-sample loss is the {b.spec.pair.loss.display} of the prediction "
            f"{YHAT} and the target {inline('y')}:"
        )
    )
    blocks.append(b.step_display(loss, notes=False))
    for k, activation in enumerate(b.spec.activations[: L - 1], start=1):
        if activation.derivative_at_kink is not None and (
            k == 1 or b.spec.activations[k - 2].name != activation.name
        ):
            blocks.append(Text(kink_sentence(b, k)))
            blocks.append(Text("The generated code uses the same value.", role=Role.PROVENANCE))
    remarks = [derivatives.domain_remark(b, act) for act in derivatives.distinct_activations(b)]
    blocks += [r for r in remarks if r is not None]
    blocks += written_out_blocks(b)
    return blocks


def forward_notes(b: Builder, step: Step) -> list[str]:
    """The forward pass is made of definitions; an activation's row names its ``g``."""
    if step.kind is Kind.ACTIVATION:
        return ["", b.spec.activation(step.layer).display]
    return [""] * len(step.forms)


def kink_sentence(b: Builder, k: int) -> str:
    """relu has no derivative at 0: the value used there, stated once."""
    act = b.spec.activation(k)
    value = b.tex(act.derivative_at_kink)
    return (
        f"The {act.name} has no derivative at {inline('0')}; these notes, like PyTorch and JAX, "
        f"use {inline(PRIME_AT_ZERO + value)}."
    )


def forward_vector_rows(b: Builder, tags: bool = False) -> list[Row]:
    """``a_k = b_k + W_k h_{k-1}``, ``h_k = g(a_k)`` side by side, one layer a row: each affine
    map's vector form and that of the op that reads its result, as the ops give them."""
    net = b.net
    rows = []
    for op in net.forward_order():
        forms = op.vector_forms(net)
        if not forms or forms[0][0].base != "a":
            continue
        q, form, _ = forms[0]
        after = net.consumers(q)[0]
        (then, then_form, _), *_ = after.vector_forms(net)
        ids = [s.id for s in op.forward(net)] + [next(after.forward(net)).id]
        tag = joined_prose(", ", [b.note_ref(b.d.step(i)) for i in ids]) if tags else ""
        right = (
            equals(form) + Math.of(Token.COMMA, Token.QQUAD, net.symbol(then)) + equals(then_form)
        )
        rows.append(Row(Math.of(net.symbol(q)), right, tag=tag))
    return rows


def written_out_blocks(b: Builder) -> list[Block]:
    """The pre-activations ``a_{ki}`` written out (abbreviated for wide layers); for a deep
    network only those of the layer written in full."""
    layers = list(range(1, b.L + 1))
    if b.L > WRITTEN_OUT_LAYERS:
        layers = [b.expand]
    wide = any(b.spec.sizes[k] > MAX_SHOWN or b.spec.sizes[k - 1] > MAX_SHOWN for k in layers)
    which = "for this network" if len(layers) == b.L else f"for layer {layers[0]}"
    intro = (
        f"Written out {which}"
        + (f", showing the first {HEAD_WORD} and the last units of wide layers" if wide else "")
        + ", the pre-activations are:"
    )
    blocks: list[Block] = [Text(intro)]
    for k in layers:
        rows = []
        for i in shown_indices(b.spec.sizes[k]):
            if i is None:
                rows.append(Row(EMPTY, Math.of(Token.ROWS_LEFT_OUT)))
                continue
            right = Math.of(nt.bias(k, i))
            for j in shown_indices(b.spec.sizes[k - 1]):
                # each product as two factors, the weight first, as in a_k = b_k + W_k h_{k-1}
                term = Math.of(Token.CDOTS) if j is None else Math.of(*product(k, i, j))
                right += Math.of(Token.PLUS, term)
            rows.append(Row(Math.of(nt.pre(k, i)), equals(right)))
        blocks.append(Display(tuple(rows)))
    return blocks


def product(k: int, i: int, j: int) -> tuple[sp.Basic, sp.Basic]:
    """``W_{kij} h_{k-1,j}``, the factors of one term of a written-out pre-activation."""
    return nt.weight(k, i, j), nt.post(k - 1, j)
