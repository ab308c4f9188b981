"""What was checked: the table of how each equation was proved (``--checks``).

Part of the notes renderer (:mod:`symgrad.render.notes`).
"""

from __future__ import annotations

from collections.abc import Iterable

import sympy as sp

from symgrad import notation as nt
from symgrad.derivation import Check, EntryMatrix, Kind, Step
from symgrad.render import wording
from symgrad.render.document import (
    Block,
    Inline,
    Prose,
    Role,
    Section,
    Table,
    Text,
)
from symgrad.render.formula import Expr, Math
from symgrad.render.notes.builder import (
    Builder,
    reference_ranges,
)


def checks_section(b: Builder) -> Section | None:
    mode = b.options.checks
    if mode == "none":
        return None
    label = b.fmt.section_label("checks")
    blocks: list[Block] = [Text(s) for s in wording.proof_text(b.d.proof, b.fmt.words)]
    if b.d.proof is None:
        return Section("What was checked", label, tuple(blocks), id="checks", role=Role.PROVENANCE)
    rows: tuple[tuple[Prose, Prose, Prose], ...]
    if mode == "full":
        rows = tuple(
            (
                b.ref(s),
                Inline.of(Math.of(Expr(s.lhs, slashed=True)))
                if not isinstance(s.lhs, EntryMatrix)
                else "",
                wording.check_text(s.check, b.fmt.words),
            )
            for s in b.d
        )
        header = ("eq.", "quantity", "how it was checked")
        spec = r"@{}rl>{\raggedright\arraybackslash}p{0.62\linewidth}@{}"
        title = "What was checked"
    else:
        rows = tuple(grouped_check_rows(b))
        header = ("equations", "quantity", "how it was checked")
        spec = (
            r"@{}>{\raggedright\arraybackslash}p{0.22\linewidth}l"
            r">{\raggedright\arraybackslash}p{0.5\linewidth}@{}"
        )
        title = "How each equation was checked"
    blocks.append(Table(header, rows, spec, ("left", "left", "left"), breakable=True))
    return Section(
        title,
        label,
        tuple(blocks),
        appendix=mode == "appendix",
        id="checks",
        role=Role.PROVENANCE,
    )


def grouped_check_rows(b: Builder) -> Iterable[tuple[Prose, Prose, Prose]]:
    """One row per kind of step: its equations, the quantity with a generic layer ``k``,
    and how they were checked (the largest error of them all)."""
    kinds: list[Kind] = []
    for step in b.d:
        if step.kind not in kinds:
            kinds.append(step.kind)
    for kind in kinds:
        steps = [s for s in b.d if s.kind is kind]
        checks: list[Check | None] = [s.check for s in steps]
        refs = reference_ranges([(s.number, b.ref(s)) for s in steps], b.fmt.ellipsis)
        yield (
            refs,
            Inline.of(generic_lhs(b, steps[0])),
            wording.check_group_text(checks, b.fmt.words),
        )


def generic_lhs(b: Builder, step: Step) -> Math:
    """The quantity of a step with its layer written ``k``: ``dL/dW_{kij}``."""
    kind = step.kind
    if not kind.per_layer:
        return Math.of(Expr(step.lhs, slashed=True))
    k = sp.Symbol("k", integer=True, positive=True)
    elementwise: dict[Kind, sp.Expr] = {
        Kind.FORWARD: nt.pre(k, nt.I),
        Kind.ACTIVATION: nt.post(k, nt.J),
        Kind.HIDDEN_GRAD: nt.partial(nt.post(k, nt.J)),
        Kind.HIDDEN_DELTA: nt.partial(nt.pre(k, nt.J)),
        Kind.WEIGHT: nt.partial(nt.weight(k, nt.I, nt.J)),
        Kind.BIAS: nt.partial(nt.bias(k, nt.I)),
    }
    if kind in elementwise:
        return Math.of(Expr(elementwise[kind], slashed=True))
    assert isinstance(step.lhs, nt.QuantitySymbol)
    q = step.lhs.quantity
    at_k = nt.Quantity(q.base, "k", q.gradient, q.scalar)  # type: ignore[arg-type]
    return Math.of(nt.symbol(at_k, step.lhs.form))
