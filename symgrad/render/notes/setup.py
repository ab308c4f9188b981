"""The first section of the notes: the notation, the network and the forward pass.

Part of the notes renderer (:mod:`symgrad.render.notes`): functions of a
:class:`~symgrad.render.notes.builder.Builder`.
"""

from __future__ import annotations

import sympy as sp

from symgrad import notation as nt
from symgrad.derivation import Kind, Step
from symgrad.generic import general, size
from symgrad.render.document import (
    Block,
    Diagram,
    DiagramNode,
    Display,
    Heading,
    Inline,
    Prose,
    Role,
    Row,
    Section,
    Table,
    Text,
    joined_prose,
)
from symgrad.render.example import forward_ids
from symgrad.render.formula import (
    EMPTY,
    MAX_SHOWN,
    Call,
    Math,
    Paren,
    Scripted,
    Summation,
    Token,
    equals,
    shown_indices,
)
from symgrad.render.notes import derivatives
from symgrad.render.notes.builder import (
    DIAGRAM_FULL_LAYERS,
    FORWARD_ROWS,
    HEAD_WORD,
    WRITTEN_OUT_LAYERS,
    Builder,
    joined,
)
from symgrad.render.notes.symbols import (
    LAYER,
    applied_to,
    derivative,
    function,
    gradient_of,
    letter,
    partial_of,
    space,
    subscripted,
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


def _network_symbols(b: Builder) -> list[tuple[Prose, ...]]:
    """The input, the parameters, the pre-activations and the hidden activations."""
    L = b.L
    k, below, i, j = letter("k"), letter("k-1"), nt.I, nt.J
    w, bias, a, h = (general(base, "k") for base in ("W", "b", "a", "h"))
    vector = Inline.of(space(size("k")))
    rows: list[tuple[Prose, ...]] = [
        (
            Inline.of(Math.of(general("x", None), Token.EQUALS, general("h", "0"))),
            "input",
            Inline.of(space(size(0))),
        ),
        (
            Inline.of(w),
            Inline.of(
                "weights of layer ",
                k,
                "; ",
                nt.W[LAYER, i, j],
                " connects unit ",
                j,
                " of layer ",
                below,
                " to unit ",
                i,
                " of layer ",
                k,
            ),
            Inline.of(space(size("k"), size("k-1"))),
        ),
        (
            Inline.of(bias),
            Inline.of("biases of layer ", k, "; ", nt.B[LAYER, i], " belongs to unit ", i),
            vector,
        ),
        (
            Inline.of(Math.of(a, Token.EQUALS, bias, Token.PLUS, w * general("h", "k-1"))),
            Inline.of("pre-activation of layer ", k),
            vector,
        ),
    ]
    if L > 1:
        g = function(b.spec.uniform_activation)
        prime = derivative(b.spec.uniform_activation)
        rows.append(
            (
                Inline.of(Math.of(h, Token.EQUALS, applied_to(g, a))),
                Inline.of("activation of hidden layer ", k, ": ", g, " acts on every entry"),
                vector,
            )
        )
        rows.append(
            (
                Inline.of(prime),
                Inline.of(
                    "the derivative of ",
                    g,
                    "; ",
                    applied_to(g, a),
                    " and ",
                    applied_to(prime, a),
                    " apply it entry by entry",
                ),
                "",
            )
        )
    return rows


def _output_symbols(b: Builder) -> list[tuple[Prose, ...]]:
    """The prediction, the target, the loss, gradients and the products of the notes."""
    L = b.L
    output = b.spec.pair.output
    t = letter("t")
    whats: dict[str, Prose] = {
        "softmax": Inline.of(
            "the softmax, ",
            Math.of(
                nt.prediction(nt.I),
                Token.EQUALS,
                sp.exp(nt.pre(L, nt.I)),
                Token.SLASH,
                Summation(nt.J, None, None, Math.of(sp.exp(nt.pre(L, nt.J)))),
            ),
        ),
        "sigmoid": Inline.of(
            "the sigmoid ",
            Math.of(
                applied_to(letter("sigma"), t),
                Token.EQUALS,
                1,
                Token.SLASH,
                Paren(Math.of(1 + sp.exp(-t))),
            ),
            " of every entry",
        ),
        "identity": "the identity",
    }
    what = whats[output.name]
    u, v = letter("u"), letter("v")
    yhat, y = general("yhat", None), general("y", None)
    output_space = Inline.of(space(size(L)))
    return [
        (
            Inline.of(Math.of(yhat, Token.EQUALS, applied_to(letter("O"), general("a", str(L))))),
            Inline.of("prediction; the output function ", letter("O"), " is ", what),
            output_space,
        ),
        (Inline.of(y), "target", output_space),
        (Inline.of(nt.LOSS), f"per-sample loss, {b.spec.pair.loss.display}", "scalar"),
        (
            Inline.of(gradient_of(v)),
            Inline.of(
                "gradient: the partials ",
                partial_of(v),
                ", shaped like ",
                v,
            ),
            Inline.of("shape of ", v),
        ),
        (
            Inline.of(Math.of(u, Token.ODOT, v)),
            Inline.of(
                "elementwise product, ",
                Math.of(
                    subscripted(Paren(Math.of(u, Token.ODOT, v)), nt.I),
                    Token.EQUALS,
                    subscripted(u, nt.I),
                    subscripted(v, nt.I),
                ),
            ),
            "",
        ),
        (
            Inline.of(Scripted(Math.of(v), sup=Math.of(Token.TOP))),
            "transpose: a column vector becomes a row",
            "",
        ),
        (Inline.of(Token.ONES), "a vector (or matrix) of ones, of the shape needed", ""),
    ]


def _operations(b: Builder) -> list[tuple[Prose, ...]]:
    """The indicator of a kink and the Kronecker delta, where the notes use them."""
    L = b.L
    rows: list[tuple[Prose, ...]] = []
    if any(a.derivative_at_kink is not None for a in b.spec.activations[: L - 1]):
        condition = letter("P")
        rows.append(
            (
                Inline.of(Call(Math.of(Token.ONES), Math.of(condition), square=True)),
                Inline.of("indicator: 1 where the condition ", condition, " holds, else 0"),
                "",
            )
        )
    if not b.spec.pair.output.diagonal:
        rows.append(
            (
                Inline.of(sp.KroneckerDelta(nt.I, nt.J)),
                Inline.of("Kronecker delta: 1 if ", Math.of(nt.I, Token.EQUALS, nt.J), ", else 0"),
                "",
            )
        )
    return rows


def shapes_table(b: Builder) -> Table:
    rows: list[tuple[Prose, ...]] = []
    total = 0
    for k in range(1, b.L + 1):
        n, m = b.spec.sizes[k], b.spec.sizes[k - 1]
        total += n * (m + 1)
        if k < b.L:
            act = b.spec.activation(k)
            g = Math.of(applied_to(letter("g"), letter("x")), Token.EQUALS, act.shown_function)
            what: Prose = Inline.of(f"{act.name if act.builtin else 'custom'}, ", g)
        else:
            what = f"{b.spec.pair.output.name} output"
        weights, biases = (nt.symbol(nt.quantity(base, k)) for base in ("W", "b"))
        rows.append(
            (
                Inline.of(sp.Integer(k)),
                Inline.of(Math.of(size(k), Token.EQUALS, n)),
                Inline.of(Math.of(weights, Token.IN, space(n, m))),
                Inline.of(Math.of(biases, Token.IN, space(n))),
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
        caption=Inline.of(
            "The input has ",
            Math.of(size(0), Token.EQUALS, b.spec.sizes[0]),
            " units. Each layer and its parameters:",
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
    captions: list[tuple[str, str, tuple[Prose, ...]]] = []
    weights: list[tuple[str, str, Prose]] = []
    drawn = diagram_columns(L)
    #: The names of the units drawn in each column (the dots column: its one node).
    columns: list[list[str]] = []
    lowest = 0.0
    for c, k in enumerate(drawn):
        x = c * spacing
        if k is None:
            nodes.append(DiagramNode(f"u{c}dots", f"{x:.2f}", "0.00", Math.of(Token.CDOTS), True))
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
                dots = Math.of(Token.VDOTS)
                nodes.append(DiagramNode(name, f"{x:.2f}", f"{y:.2f}", dots, True))
                continue
            label = Math.of(nt.prediction(unit) if k == L else nt.post(k, unit))
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
        lines: tuple[Prose, ...]
        if k is None and L == DIAGRAM_SHOWN + 1:
            lines = ("hidden 2", Inline.of(Math.of(size(2), Token.EQUALS, sizes[2])))
        elif k is None:
            lines = ("hidden", Inline.of(Math.of(2, Token.COMMA, Token.LDOTS, Token.COMMA, L - 2)))
        else:
            what = "input" if k == 0 else ("output" if k == L else f"hidden {k}")
            lines = (what, Inline.of(Math.of(size(k), Token.EQUALS, sizes[k])))
        captions.append((f"{c * spacing:.2f}", f"{caption_y:.2f}", lines))
    top_y = (max(len(diagram_units(sizes[k])) for k in at) - 1) * step_y / 2 + 0.75
    # over the gap between two drawn columns, the parameters of the layer at its right (the
    # dots start at layer 2)
    for c in range(1, len(drawn)):
        k = drawn[c] or 2
        parameters = Math.of(nt.symbol(nt.quantity("W", k)), Token.COMMA)
        parameters += nt.symbol(nt.quantity("b", k))
        weights.append((f"{(c - 0.5) * spacing:.2f}", f"{top_y:.2f}", Inline.of(parameters)))
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


def _diagram_caption(sizes: tuple[int, ...], skips: bool) -> Prose:
    """What the network's figure shows, and what it leaves out."""
    L = len(sizes) - 1
    wide = max(sizes) > DIAGRAM_SHOWN
    left_out = "Layer 2 is" if L == DIAGRAM_SHOWN + 1 else f"Layers 2 to {L - 2} are"
    caption = Inline.of(
        "The network. Every unit of a layer feeds every unit of the next; ",
        "wide layers show their first two units and their last. " if wide else "",
        *((f"{left_out} left out (", Token.CDOTS, "). ") if L > DIAGRAM_SHOWN else ()),
        general("W", "k"),
        " and ",
        general("b", "k"),
        " are the parameters between layers ",
        letter("k-1"),
        " and ",
        letter("k"),
        ".",
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
        ", and each hidden layer applies " + next(iter(act_names)) + " to every unit"
        if len(act_names) == 1
        else Inline.of(
            ", and hidden layer ",
            letter("k"),
            " applies its activation ",
            function(False),
            " to every unit",
        )
        if act_names
        else ""
    )
    output = b.spec.pair.output.name
    blocks: list[Block] = [
        Text(
            Inline.of(
                "Each layer adds its biases to a weighted sum of the previous layer's "
                "activations (the input is ",
                Math.of(general("h", "0"), Token.EQUALS, general("x", None)),
                ")",
                applies,
                f"; the output layer applies the {output} to ",
                general("a", str(L)),
                ":",
            )
        )
    ]
    ids = [i for i in forward_ids(b.net) if i.kind is not Kind.LOSS]
    groups = [tuple(b.compact_step(b.d.step(i), forward_notes(b, b.d.step(i)))) for i in ids]
    blocks += [Display(b.placed(list(rows))) for rows in joined(groups, FORWARD_ROWS)]
    blocks += b.remarks("setup")
    loss = b.step(Kind.LOSS)
    blocks.append(
        Text(
            Inline.of(
                f"The per-sample loss is the {b.spec.pair.loss.display} of the prediction ",
                general("yhat", None),
                " and the target ",
                general("y", None),
                ":",
            )
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


def kink_sentence(b: Builder, k: int) -> Prose:
    """relu has no derivative at 0: the value used there, stated once."""
    act = b.spec.activation(k)
    at_zero = applied_to(Math.of(letter("g"), Token.PRIME), 0)
    return Inline.of(
        f"The {act.name} has no derivative at ",
        sp.Integer(0),
        "; these notes, like PyTorch and JAX, use ",
        Math.of(at_zero, Token.EQUALS, act.derivative_at_kink),
        ".",
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
