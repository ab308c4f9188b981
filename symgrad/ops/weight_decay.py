"""L2 weight decay: the objective of a batch adds ``(lambda/2) sum_k ||W_k||_F^2`` to its loss.

A layer kind (:mod:`symgrad.ops.layers`), asked for with ``--weight-decay LAMBDA``. One op reads
the mean loss of the batch and every weight matrix and makes the objective

    J = Lbar + (lambda/2) (||W_1||_F^2 + ... + ||W_L||_F^2),

the penalty added once per batch, not per sample. Its local derivative with respect to ``W_k`` is
``lambda W_k``, so ``grad_{W_k} J = grad_{W_k} Lbar + lambda W_k``; the biases are not decayed
(``grad_{b_k} J = grad_{b_k} Lbar``), as usual. The per-sample derivation does not change.
Generated code computes ``J`` and its gradients (``loss`` returns ``J``), with ``lambda`` a
constant of the code, written in its header as the option that made it.

Each step is proved here: the objective is a definition; the gradient of the penalty is
differentiated entry by entry, every entry of the (shrunk) network.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import mpmath
import sympy as sp

from symgrad import notation as nt
from symgrad.arrays import Total
from symgrad.errors import ProofError
from symgrad.generic import general, mean_gradient
from symgrad.notation import Quantity
from symgrad.ops.base import Network, Op, Remark
from symgrad.spec import NetworkSpec
from symgrad.steps import Check, CheckMethod, Kind, Rule, Stage, Step, step

#: The option's name in the spec (``--weight-decay``).
OPTION = "weight_decay"

#: ``lambda``, the strength of the decay (a symbol in the notes, its value in code).
LAMBDA = sp.Symbol("lambda", positive=True)

#: The objective of a batch, ``J``.
OBJECTIVE = nt.Quantity("objective")

nt.define_names(
    "objective",
    nt.Names(r"\mathcal{J}", "J", "J", "objective", "objective", "objective", plain="J"),
)
nt.define_names(
    "W",
    nt.Names("", "", "gradJ_W", "dJW{k}", "dJW{k}_{e}", "grad_objective_W{k}", mean_symbol="gJ_W"),
    of="objective",
)
nt.define_names(
    "b",
    nt.Names("", "", "gradJ_b", "dJb{k}", "dJb{k}_{e}", "grad_objective_b{k}", mean_symbol="gJ_b"),
    of="objective",
)


class SquaredNorm(sp.Function):
    """``||W||_F^2``, the squared Frobenius norm of a weight matrix: the sum of its squared
    entries."""

    nargs = 1

    def _symgrad_latex(self, printer: Any) -> str:
        return rf"\left\lVert {printer._print(self.args[0])} \right\rVert_{{F}}^{{2}}"

    def _symgrad_unicode(self, printer: Any) -> str:
        return f"‖{printer._print(self.args[0])}‖²_F"


class LineNorm(SquaredNorm):
    """``||W||_F^2`` as a line of text writes it: the bars as tall as the letters."""

    def _symgrad_latex(self, printer: Any) -> str:
        return rf"\lVert {printer._print(self.args[0])} \rVert_{{F}}^{{2}}"


class EveryLayer(sp.Function):
    """``sum_k term``: a sum over every layer ``k`` (the first argument), as prose writes the
    penalty of any network."""

    nargs = 2

    def _symgrad_latex(self, printer: Any) -> str:
        index, term = self.args
        return rf"\sum_{{{printer._print(index)}}} {printer._print(term)}"

    def _symgrad_unicode(self, printer: Any) -> str:
        index, term = self.args
        return f"Σ_{printer._print(index)} {printer._print(term)}"


def _entries(form: sp.MatrixExpr) -> sp.Matrix:
    """A matrix form of the notation written out, its entries those of the notation
    (``W_{krc}``, ``dL/dW_{krc}``)."""
    explicit = form.as_explicit()
    return explicit.replace(
        lambda e: (
            isinstance(e, sp.matrices.expressions.matexpr.MatrixElement)
            and isinstance(e.parent, nt.QuantitySymbol)
        ),
        lambda e: nt.entry(e.parent.quantity, e.i + 1, e.j + 1),
    )


_W = sp.Symbol("w")


def _prove_objective(net: Any, s: Step) -> Check:
    return Check(CheckMethod.DEFINITION)


def _prove_decay(net: Any, s: Step) -> Check:
    """Every entry of ``grad_{W_k} Lbar + lambda W_k`` against the derivative of the penalty
    ``(lambda/2) sum_m sum_ij W_{mij}^2``, entry by entry, plus that of the mean loss."""
    k = s.layer
    # The terms of the penalty by the entries in them; a term without an entry differentiates
    # to 0 in it (not asked of SymPy, which would walk every term for every entry).
    terms: dict[sp.Basic, list[sp.Expr]] = {}
    for m in range(1, net.L + 1):
        for i in range(1, net.n(m) + 1):
            for j in range(1, net.n(m - 1) + 1):
                term = LAMBDA / 2 * nt.weight(m, i, j) ** 2
                for entry in term.atoms(sp.Indexed):
                    terms.setdefault(entry, []).append(term)
    rows, cols = net.n(k), net.n(k - 1)
    for form in s.forms:
        entries = _entries(form)
        for r in range(rows):
            for c in range(cols):
                weight = nt.weight(k, r + 1, c + 1)
                # Differentiated in a plain symbol standing for the entry: SymPy's derivatives
                # in an indexed entry are slow.
                slope = sp.Add(*[t.xreplace({weight: _W}).diff(_W) for t in terms[weight]])
                direct = slope.xreplace({_W: weight}) + nt.partial(weight)
                if sp.expand(entries[r, c] - direct) != 0:
                    raise ProofError(f"step {s.key}: entry ({r + 1}, {c + 1}) is not the gradient")
    return Check(CheckMethod.SYMBOLIC, entries=rows * cols, total=rows * cols)


OBJECTIVE_STEP = Kind.define("objective", Stage.BATCH, per_layer=False, prove=_prove_objective)
DECAY_STEP = Kind.define("weight-decay", Stage.BATCH, prove=_prove_decay)
PENALTY = Rule("the derivative of the penalty is λ W_k", "derivative of the penalty")


@dataclass(frozen=True)
class WeightDecay(Op):
    """``J = Lbar + (lambda/2) sum_k ||W_k||_F^2``, once per batch."""

    layer: int
    text: str

    @property
    def value(self) -> sp.Rational:
        return sp.Rational(self.text)

    @property
    def weights(self) -> tuple[Quantity, ...]:
        return tuple(nt.quantity("W", k) for k in range(1, self.layer + 1))

    @property
    def inputs(self) -> tuple[Quantity, ...]:
        return (nt.quantity("loss"), *self.weights)

    @property
    def outputs(self) -> tuple[Quantity, ...]:
        return (OBJECTIVE,)

    def constants(self, net: Network) -> dict[sp.Symbol, sp.Expr]:
        return {LAMBDA: self.value}

    @property
    def written(self) -> sp.Number:
        """``lambda`` as prose writes it: its decimals (``0.5``, not ``1/2``; ``1e-4`` as
        ``0.0001``; below that, ``1.0 \\cdot 10^{-5}``), a whole number without a point."""
        value = self.value
        return sp.Integer(value) if value.q == 1 else sp.Float(self.text)

    # the derivation ---------------------------------------------------------------------

    def objective(self, net: Network) -> sp.Expr:
        norms = sp.Add(*[SquaredNorm(net.weight_matrix(w.layer or 0)) for w in self.weights])
        return sp.Add(nt.MEAN_LOSS, sp.Mul(LAMBDA / 2, norms, evaluate=False), evaluate=False)

    def batch_forward(self, net: Network) -> Iterator[Step]:
        lhs = nt.symbol(OBJECTIVE)
        yield step(OBJECTIVE_STEP, self.layer, lhs, (self.objective(net),), (Rule.DEFINITION,))

    def batch_backward(self, net: Network, wrt: Quantity) -> Iterator[Step]:
        if wrt not in self.weights:
            return
        k = wrt.layer or 0
        rows, cols = net.n(k), net.n(k - 1)
        lhs = nt.symbol(wrt.grad(OBJECTIVE.base), nt.Form.MEAN, rows, cols)
        mean = nt.mean_gradient("W", k, rows, cols)
        form = sp.MatAdd(mean, sp.MatMul(LAMBDA, net.weight_matrix(k)))
        yield step(DECAY_STEP, k, lhs, (form,), (PENALTY,))

    # the program ------------------------------------------------------------------------

    def lower_matrix(self, low: Any, s: Step) -> bool:
        if s.kind is OBJECTIVE_STEP:
            squares = [Total(low.symbol(w) ** 2) for w in self.weights]
            value = low.symbol(nt.quantity("loss")) + self.value / 2 * sp.Add(*squares)
            note = "the penalty on the weights, added once per batch"
            low.emit(OBJECTIVE, value, s, note, shape=(), stands_for=nt.quantity("loss"))
            return True
        if s.kind is DECAY_STEP:
            weight = nt.quantity("W", s.layer)
            value = low.symbol(weight.grad()) + self.value * low.symbol(weight)
            low.emit(weight.grad(OBJECTIVE.base), value, s, stands_for=weight.grad())
            return True
        return False

    def lower_scalar(self, low: Any, wrt: Quantity | None) -> None:
        if wrt is None:
            squares = [
                low.symbol(w, entry=(i, j)) ** 2
                for w in self.weights
                for i in range(low.n(w.layer))
                for j in range(low.n((w.layer or 0) - 1))
            ]
            value = low.symbol(nt.quantity("loss")) + self.value / 2 * sp.Add(*squares)
            note = "the penalty on the weights, added once per batch"
            objective = low.step(OBJECTIVE_STEP, self.layer)
            low.emit(OBJECTIVE, value, objective, note, shape=(), stands_for=nt.quantity("loss"))
        elif wrt in self.weights:
            k = wrt.layer or 0
            decay = low.step(DECAY_STEP, k)
            for i in range(low.n(k)):
                for j in range(low.n(k - 1)):
                    value = low.symbol(wrt.grad(), entry=(i, j)) + self.value * low.symbol(
                        wrt, entry=(i, j)
                    )
                    target = wrt.grad(OBJECTIVE.base)
                    low.emit(target, value, decay, entry=(i, j), stands_for=wrt.grad())

    # the numeric proof ------------------------------------------------------------------

    def direct_gradient(self, values: Any, q: Quantity) -> Any:
        """``lambda W_k`` at the point of the numeric proof."""
        if q not in self.weights:
            return None
        value = self.value
        return mpmath.mpf(int(value.p)) / int(value.q) * values.point.weights[q.layer]

    # the documents ----------------------------------------------------------------------

    def remarks(self, net: Network, part: str) -> tuple[Remark, ...]:
        lam = sp.Eq(LAMBDA, self.written, evaluate=False)
        decay = sp.Mul(LAMBDA, general("W", "k"), evaluate=False)
        if part == "general":
            norms = EveryLayer(sp.Symbol("k"), LineNorm(general("W", "k")))
            penalty = sp.Mul(LAMBDA / 2, norms, evaluate=False)
            objective = sp.Add(nt.MEAN_LOSS, penalty, evaluate=False)
            gradient = sp.MatAdd(mean_gradient("W", "k"), decay, evaluate=False)
            return (
                Remark(
                    "With weight decay ({0}), training minimizes the objective of a batch {1} "
                    "{ref:objective}, the penalty added once per batch, not per sample: {bp4}, "
                    "averaged over the batch, gains {2}, {3}. The biases are not decayed, so "
                    "{bp3} does not change, nor do {bp1} and {bp2}.",
                    (
                        lam,
                        sp.Eq(nt.symbol(OBJECTIVE), objective, evaluate=False),
                        decay,
                        sp.Eq(mean_gradient("W", "k", OBJECTIVE.base), gradient, evaluate=False),
                    ),
                ),
            )
        if part == "batch":
            biases = sp.Eq(
                mean_gradient("b", "k", OBJECTIVE.base), mean_gradient("b", "k"), evaluate=False
            )
            return (
                Remark(
                    "Weight decay ({0}) adds {1} for every layer to the loss of the batch, once, "
                    "whatever {2}; so each weight gradient gains {3}. The biases are not "
                    "decayed: {4}.",
                    (
                        lam,
                        sp.Mul(LAMBDA / 2, LineNorm(general("W", "k")), evaluate=False),
                        nt.BATCH,
                        decay,
                        biases,
                    ),
                ),
            )
        return ()

    def comments(self, net: Network, part: str) -> tuple[str, ...]:
        text = self.text
        if part == "code":
            return (
                f"Weight decay lambda = {text}: the loss of a batch is the objective J = mean "
                "loss + (lambda/2) sum_k ||W_k||_F^2, the penalty added once per batch; the "
                "gradient of each W_k gains lambda W_k. The biases are not decayed.",
            )
        if part == "loss":
            return (
                f"Plus the weight decay (lambda/2) sum_k ||W_k||_F^2, lambda = {text}, once per "
                "batch (the biases are not decayed).",
            )
        return ()


def applied(spec: NetworkSpec, ops: tuple[Op, ...]) -> tuple[Op, ...]:
    """The ops with weight decay after the loss, when the spec asks for it."""
    if spec.kind(OPTION) is None:
        return ops
    return (*ops, WeightDecay(spec.depth, str(spec.kind(OPTION))))
