"""The mini-batch steps against the per-sample steps they stack, for a batch of two.

Part of the proof (:mod:`symgrad.proof.symbolic` hands it the steps of the mini-batch). Each
batch form is expanded entry by entry with ``B = 2``; every sample gets its own copy of every
per-sample quantity, weights and biases are shared.
"""

from __future__ import annotations

import functools

import sympy as sp

from symgrad import notation as nt
from symgrad.derivation import Check, CheckMethod, Kind, Step, build_step
from symgrad.errors import ProofError
from symgrad.model import instantiate
from symgrad.network import Network
from symgrad.proof.common import OUTPUT_EXACT_LIMIT, sample_units, seed_for
from symgrad.proof.entries import ExplicitMatrices, is_zero

#: The batch size the mini-batch steps are expanded for, entry by entry.
PROOF_BATCH = 2
#: Products written out per mini-batch forward check: a wide layer checks fewer units.
BATCH_TERM_BUDGET = 4000

#: The bases of the quantities each sample has a copy of (weights and biases are shared).
_SAMPLE_BASES = frozenset({nt.A, nt.H, nt.X, nt.Y, nt.YHAT})


def check_batch_step(net: Network, step: Step) -> Check:
    """A mini-batch step against the per-sample step it stacks, for a batch of two.

    The batch form is expanded entry by entry with ``B = 2``; each sample gets its own copy of
    every per-sample quantity (``a_{ki}``, ``h_{kj}``, ``y_i``, ``dL/da_{ki}``...), weights and
    biases are shared. Row ``s`` of ``A_k`` must be the pre-activation of sample ``s``; row ``s``
    of ``Delta_k`` and ``G_k`` is ``1/B`` times the per-sample gradient of sample ``s`` (the batch
    loss is the mean), and ``grad_{W_k} Lbar`` must be the mean of the per-sample gradients.
    """
    if step.kind in {Kind.BATCH_LOSS, Kind.BATCH_PREDICTION}:
        return Check(CheckMethod.DEFINITION)  # the mean loss; the output function row by row
    per_sample = build_step(net, step.id.per_sample())
    expand = _BatchEntries(net)
    rows, cols = (int(sp.sympify(n).xreplace({nt.BATCH: PROOF_BATCH})) for n in step.lhs.shape)
    seed = seed_for(net.spec.sizes) + 11 * step.layer
    if step.kind in {Kind.BATCH_WEIGHT, Kind.BATCH_BIAS}:
        # grad_{W_k} Lbar: entry (r, c) is the mean over the samples of (grad_{W_k} L)_{rc}.
        row_units = sample_units(rows, OUTPUT_EXACT_LIMIT, seed)
        entries = [(r, c) for r in row_units for c in sample_units(cols, OUTPUT_EXACT_LIMIT, seed)]
        total = rows * cols

        def expected(form: sp.Basic, r: int, c: int) -> sp.Expr:
            samples = [
                _for_sample(expand.explicit.entry(form, r, c), s) for s in range(1, PROOF_BATCH + 1)
            ]
            return sp.Add(*samples) / PROOF_BATCH

    else:
        # Row s, column c: the per-sample quantity of unit c for sample s (over B for gradients).
        forward = step.kind in {Kind.BATCH_FORWARD, Kind.BATCH_ACTIVATION}
        scale = 1 if forward else sp.Rational(1, PROOF_BATCH)
        limit = OUTPUT_EXACT_LIMIT
        if step.kind is Kind.BATCH_FORWARD:
            # Each entry of A_k is a sum of n_{k-1} products: fewer units of a wide layer.
            limit = max(2, min(limit, BATCH_TERM_BUDGET // (net.n(step.layer - 1) * PROOF_BATCH)))
        units = sample_units(cols, limit, seed)
        entries = [(s, c) for s in range(1, PROOF_BATCH + 1) for c in units]
        total = PROOF_BATCH * cols

        @functools.cache
        def unit_value(form: sp.Basic, c: int) -> sp.Expr:
            if per_sample.indices:  # an elementwise step: its generic index at unit c
                return instantiate(form, **{str(per_sample.indices[0][0]): c})
            return expand.explicit.entry(form, c)

        def expected(form: sp.Basic, r: int, c: int) -> sp.Expr:
            return scale * _for_sample(unit_value(form, c), r)

    # Form n of the batch step stacks form n of the per-sample step (g'(A_k), then g' written
    # out); a parameter gradient is the mean of the per-sample gradient's last form.
    summed = step.kind in {Kind.BATCH_WEIGHT, Kind.BATCH_BIAS}
    for n, form in enumerate(step.forms):
        target = per_sample.final if summed else per_sample.forms[n]
        for r, c in entries:
            if not is_zero(expand.entry(form, r, c) - expected(target, r, c)):
                raise ProofError(
                    f"step {step.key}: entry ({r}, {c}) is not the per-sample step "
                    f"{per_sample.key} for a batch of {PROOF_BATCH}"
                )
    return Check(CheckMethod.SYMBOLIC, entries=len(entries), total=total)


@functools.lru_cache(maxsize=8192)
def _for_sample(expr: sp.Expr, s: int) -> sp.Expr:
    """``expr`` for sample ``s`` of the batch: every per-sample quantity gets its own copy."""
    if isinstance(expr, sp.Indexed):  # the common cases, leaves, without walking a tree
        if expr.base not in _SAMPLE_BASES:
            return expr
        return nt.sample_copy(expr, s)
    if isinstance(expr, sp.Derivative) and expr.expr == nt.LOSS:
        return nt.sample_partial(_for_sample(expr.variables[0], s), s)
    copies: dict[sp.Basic, sp.Basic] = {}
    for partial in expr.atoms(sp.Derivative):
        if partial.expr == nt.LOSS:
            copies[partial] = nt.sample_partial(_for_sample(partial.variables[0], s), s)
    for entry in expr.atoms(sp.Indexed):
        if entry.base in _SAMPLE_BASES and entry not in copies:
            copies[entry] = nt.sample_copy(entry, s)
    return expr.xreplace(copies)


class _BatchEntries(ExplicitMatrices):
    """Entries of a mini-batch matrix expression for a batch of :data:`PROOF_BATCH` samples."""

    where = "entrywise for a batch"

    def __init__(self, net: Network) -> None:
        super().__init__(net)
        self.explicit = ExplicitMatrices(net)

    def entry(self, expr: sp.MatrixExpr, row: int, col: int = 1) -> sp.Expr:
        return self._entry(expr.xreplace({nt.BATCH: PROOF_BATCH}), row, col)

    def _leaf(self, symbol: nt.QuantitySymbol, r: int, c: int) -> sp.Expr:
        if symbol.form is not nt.Form.BATCH:
            return self.explicit.entry(symbol, r, c)  # W_k, b_k: shared by every sample
        value = nt.entry(symbol.quantity, c)
        if symbol.quantity.gradient:  # Delta_k, G_k: the rows of the gradients over B
            value = value / PROOF_BATCH
        return _for_sample(value, r)
