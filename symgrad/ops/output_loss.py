"""The output function and the loss: ``yhat = O(a_L)`` and the per-sample loss ``L(yhat, y)``.

An op of the network (:mod:`symgrad.ops.base`), one for both: what only the pair knows (the
simplest ``grad_{a_L} L``, ``yhat - y`` for softmax + cross-entropy, and the stable forms code
computes) is the catalogue's :class:`~symgrad.catalogue.OutputLoss`. Definition: ``yhat_i =
O(a_L)_i`` and ``L = sum_i term(yhat_i, y_i)``. Local derivatives: ``dL/dyhat_i`` and ``d yhat_j /
d a_{Li}``, so ``dL/da_{Li} = sum_j dL/dyhat_j dyhat_j/da_{Li}``, simplified step by step. For a
mini-batch: ``Yhat = O(A_L)`` row by row, ``Lbar = (1/B) sum_s L^(s)`` and ``Delta_L = (1/B)(Yhat -
Y)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sympy as sp

from symgrad import arrays
from symgrad import notation as nt
from symgrad.arrays import BatchSum, RowMax, RowSum, Total
from symgrad.catalogue import CodeStep, OutputLoss
from symgrad.model import I, J, RowFunction, ones, product
from symgrad.notation import Quantity
from symgrad.ops.base import Network, Node, Op
from symgrad.steps import Kind, Rule, Step, step

#: The notes of the weighted form of generated code: the loss of a batch and ``Delta_L``.
WEIGHTED_LOSS_NOTE = (
    "The weighted mean sum_s r_s L(s), r_s = w_s/sum(w) for sample weights w and 1/B without "
    "(the notes' mean)."
)
WEIGHTED_DELTA_NOTE = "row s times r_s = w_s/sum(w), 1/B without sample weights"


def _evaluated(expr: sp.Basic) -> sp.Basic:
    """``expr`` rebuilt with SymPy's evaluation: equal for two forms that differ only in order."""
    if not expr.args or isinstance(expr, sp.Indexed):
        return expr
    return expr.func(*[_evaluated(arg) for arg in expr.args])


def row_varying(expr: sp.Expr, row_symbols: frozenset[sp.Symbol]) -> bool:
    """True when a row form has one value per unit (not one per row, like ``RowSum(e)``)."""
    if isinstance(expr, (RowSum, RowMax)):
        return False
    if isinstance(expr, sp.Symbol):
        return expr in row_symbols
    return any(row_varying(arg, row_symbols) for arg in expr.args)


@dataclass(frozen=True)
class OutputAndLoss(Op):
    """``yhat = O(a_L)`` and ``L = sum_i term(yhat_i, y_i)``, the pair of the catalogue."""

    layer: int
    pair: OutputLoss

    @property
    def logits(self) -> Quantity:
        return nt.quantity("a", self.layer)

    @property
    def inputs(self) -> tuple[Quantity, ...]:
        return (self.logits, nt.quantity("y"))

    @property
    def outputs(self) -> tuple[Quantity, ...]:
        return (nt.quantity("yhat"), nt.quantity("loss"))

    # definitions, as the notes write them --------------------------------------------------

    def prediction(self, net: Network, i: sp.Expr = I, over: sp.Symbol | None = None) -> sp.Expr:
        """``yhat_i = O(a_L)_i``; the softmax sums over ``over`` (default ``j``)."""
        j = over if over is not None else (J if i != J else sp.Dummy("j"))
        return self.pair.output.prediction(lambda m: nt.pre(self.layer, m), i, j, net.n(self.layer))

    def loss(self, net: Network) -> sp.Expr:
        """The per-sample loss as a sum over output units ``i``."""
        term = self.pair.loss.term(nt.prediction(I), nt.target(I))
        return sp.Sum(term, (I, 1, net.n(self.layer)))

    def loss_slope(self, i: sp.Expr = I) -> sp.Expr:
        """``dL/dyhat_i`` of the per-sample loss."""
        return self.pair.loss.slope(nt.prediction(i), nt.target(i))

    def jacobian(self, j: sp.Expr, i: sp.Expr) -> sp.Expr:
        """``d yhat_j / d a_{Li}``."""
        return self.pair.output.jacobian(nt.prediction, i, j)

    def delta(self, net: Network, i: sp.Expr = I) -> sp.Expr:
        """``dL/da_{Li}`` in its simplest form (for softmax + cross-entropy under sum y = 1)."""
        j = J if i != J else sp.Dummy("j")
        return self.pair.delta(nt.prediction, nt.target, i, j, net.n(self.layer))

    def delta_vector(self, net: Network) -> sp.MatrixExpr:
        """``grad_{a_L} L`` in matrix form."""
        n = net.n(self.layer)
        yhat, y = nt.matrix("yhat", None, n), nt.matrix("y", None, n)
        return self.pair.delta_vector(yhat, y, sp.OneMatrix(n, 1))

    def vector_forms(self, net: Network) -> tuple[tuple[Quantity, sp.Basic, sp.Basic], ...]:
        prediction = RowFunction(
            self.pair.output.latex, nt.matrix("a", self.layer, net.n(self.layer))
        )
        return ((self.outputs[0], prediction, prediction),)

    # the derivation ------------------------------------------------------------------------

    def forward(self, net: Network) -> Iterator[Step]:
        L = self.layer
        yield step(
            Kind.PREDICTION,
            L,
            nt.prediction(I),
            (self.prediction(net, I),),
            (Rule.DEFINITION,),
            ((I, net.n(L)),),
        )
        yield step(Kind.LOSS, L, nt.LOSS, (self.loss(net),), (Rule.DEFINITION,))

    def backward(self, net: Network, wrt: Quantity) -> Iterator[Step]:
        if wrt != self.logits:
            return
        L, n = self.layer, net.n(self.layer)
        yield step(
            Kind.LOSS_SLOPE,
            L,
            nt.partial(nt.prediction(I)),
            (self.loss_slope(I),),
            (Rule.LOSS_DERIVATIVE,),
            ((I, n),),
        )
        forms, rules = self._delta_forms(net)
        yield step(Kind.OUTPUT_DELTA, L, nt.partial(nt.pre(L, I)), forms, rules, ((I, n),))
        yield step(
            Kind.OUTPUT_DELTA_VECTOR,
            L,
            net.grad("a", L),
            (self.delta_vector(net),),
            (Rule.MATRIX_FORM,),
        )

    def _delta_forms(self, net: Network) -> tuple[tuple[sp.Basic, ...], tuple[Rule, ...]]:
        """The chain rule through ``yhat``, applied, then every step of the algebra to the
        simplest form, as the catalogue writes it for the pair."""
        L, n = self.layer, net.n(self.layer)
        if self.pair.output.diagonal:
            # yhat_i depends on a_{Li} alone: the sum over j has one term.
            chain = product(
                nt.partial(nt.prediction(I)), nt.partial(nt.prediction(I), nt.pre(L, I))
            )
            jacobian = self.jacobian(I, I).xreplace({sp.KroneckerDelta(I, I): sp.Integer(1)})
            jacobian = sp.Mul(*[f for f in jacobian.args if f != 1], evaluate=False)
            applied = product(self.loss_slope(I), jacobian) if jacobian != 1 else self.loss_slope(I)
        else:
            chain = sp.Sum(
                product(nt.partial(nt.prediction(J)), nt.partial(nt.prediction(J), nt.pre(L, I))),
                (J, 1, n),
            )
            applied = sp.Sum(product(self.loss_slope(J), self.jacobian(J, I)), (J, 1, n))
        sums = self.pair.assumes_targets_sum_to_one
        last_rule = Rule.TARGETS_SUM_TO_ONE if sums else Rule.ALGEBRA
        algebra = self.pair.delta_algebra(nt.prediction, nt.target, I, J, n)
        forms: tuple[sp.Basic, ...] = (chain, applied, *(f for f, _ in algebra), self.delta(net))
        rules: tuple[Rule, ...] = (
            Rule.CHAIN_RULE,
            Rule.OUTPUT_DERIVATIVE,
            *(Rule.named(why) for _, why in algebra),
            last_rule,
        )
        if _evaluated(forms[-2]) == _evaluated(forms[-1]):
            # The last form would only reorder the factors of the one before: no step of its own.
            forms, rules = (*forms[:-2], forms[-1]), rules[:-1]
        return forms, rules

    def batch_forward(self, net: Network) -> Iterator[Step]:
        L = self.layer
        prediction = RowFunction(self.pair.output.latex, net.batch("a", L))
        yield step(Kind.BATCH_PREDICTION, L, net.batch("yhat", None), (prediction,), (Rule.ROWS,))
        mean = sp.Mul(
            1 / nt.BATCH,
            sp.Sum(nt.sample_loss(nt.SAMPLE), (nt.SAMPLE, 1, nt.BATCH)),
            evaluate=False,
        )
        yield step(Kind.BATCH_LOSS, L, nt.MEAN_LOSS, (mean,), (Rule.DEFINITION,))

    def batch_backward(self, net: Network, wrt: Quantity) -> Iterator[Step]:
        if wrt != self.logits:
            return
        L = self.layer
        rows = self.pair.delta_rows(net.batch("yhat", None), net.batch("y", None), ones)
        delta = sp.MatMul(1 / nt.BATCH, rows)
        yield step(
            Kind.BATCH_OUTPUT_DELTA, L, net.batch("a", L, gradient=True), (delta,), (Rule.ROWS,)
        )

    def nodes(self, net: Network) -> tuple[Node, ...]:
        yhat, loss = self.outputs
        return (
            Node("output", self.pair.output.name, yhat),
            Node("loss", self.pair.loss.display, loss),
        )

    def definition(self, net: Network, entry: sp.Indexed, over: sp.Symbol) -> sp.Expr | None:
        if not nt.is_entry_of(entry, "yhat"):
            return None
        return self.prediction(net, entry.indices[0], over=over)

    # the program ---------------------------------------------------------------------------

    def lower_matrix(self, low: Any, step: Step) -> bool:
        """``yhat``, the mean loss and ``Delta_L`` from the pair's code forms, all at the
        prediction (the code forms share their intermediates)."""
        if step.kind is Kind.BATCH_PREDICTION:
            self._matrix_output(low, net_width=low.n(self.layer))
        return True

    def _matrix_output(self, low: Any, net_width: int) -> None:
        L, pair = self.layer, self.pair
        names: dict[sp.Symbol, sp.Expr] = {arrays.ROW_A: low.symbol(self.logits)}
        names[arrays.ROW_Y] = low.symbol(nt.quantity("y"))
        row_symbols = frozenset({arrays.ROW_A, arrays.ROW_Y})
        for code in pair.code_steps:
            row_symbols = self._matrix_code_step(low, code, names, row_symbols, net_width)
        yhat = pair.code_prediction.xreplace(names)
        if yhat != low.symbol(nt.quantity("yhat")):
            # Built from the pair's intermediates, whose notes say how it is kept stable.
            note = "" if pair.code_steps else pair.output.code_note
            low.emit(nt.quantity("yhat"), yhat, low.step(Kind.BATCH_PREDICTION, L), note)
        weight = low.row_weight()
        loss_step, delta_step = low.step(Kind.BATCH_LOSS, L), low.step(Kind.BATCH_OUTPUT_DELTA, L)
        if weight is None:
            loss = low.total(pair.code_loss.xreplace(names), net_width) / low.batch
            low.emit(nt.quantity("loss"), loss, loss_step, pair.loss_note)
            delta = pair.code_delta.xreplace(names) / low.batch
            low.emit(self.logits.grad(), delta, delta_step, pair.delta_note)
            return
        losses = low.per_sample_losses(pair.code_loss.xreplace(names), loss_step, pair.loss_note)
        low.emit(nt.quantity("loss"), Total(weight * losses), loss_step, WEIGHTED_LOSS_NOTE)
        delta = pair.code_delta.xreplace(names) * weight
        note = "; ".join(filter(None, [pair.delta_note, WEIGHTED_DELTA_NOTE]))
        low.emit(self.logits.grad(), delta, delta_step, note)

    def _matrix_code_step(
        self,
        low: Any,
        code: CodeStep,
        names: dict[sp.Symbol, sp.Expr],
        row_symbols: frozenset[sp.Symbol],
        width: int,
    ) -> frozenset[sp.Symbol]:
        value = code.value.xreplace(names)
        varying = row_varying(code.value, row_symbols)
        columns = width if varying else 1
        own = sp.Symbol(code.name, real=True)
        implements = Kind.named(code.implements)
        kind = implements.batch or implements
        target: Quantity | str = code.name
        if code.name == nt.quantity("yhat").program:
            target = nt.quantity("yhat")
        names[own] = low.emit(target, value, low.step(kind, self.layer), code.note, columns=columns)
        return row_symbols | {own} if varying else row_symbols

    def lower_scalar(self, low: Any, wrt: Quantity | None) -> None:
        if wrt is None:
            self._scalar_output(low)

    def _scalar_output(self, low: Any) -> None:
        L, pair = self.layer, self.pair
        width = low.n(L)
        units: list[dict[sp.Symbol, sp.Expr]] = [
            {
                arrays.ROW_A: low.symbol(self.logits, entry=(i,)),
                arrays.ROW_Y: low.symbol(nt.quantity("y"), entry=(i,)),
            }
            for i in range(width)
        ]
        row_symbols = frozenset({arrays.ROW_A, arrays.ROW_Y})
        once: dict[sp.Expr, sp.Symbol] = {}
        for code in pair.code_steps:
            own = sp.Symbol(code.name, real=True)
            code_step = low.step(Kind.named(code.implements), L)
            if row_varying(code.value, row_symbols):
                row_symbols |= {own}
                value = reductions_once(low, L, code.value, units, once, code_step, code.note)
                for i, entry in enumerate(arrays.expand_row(value, units)):
                    target = low.code_entry(code.name, i)
                    units[i][own] = low.emit(target, entry, code_step, code.note, entry=(i,))
            else:
                value = arrays.expand_unit(code.value, units, 0)
                symbol = low.emit(low.code_total(code.name), value, code_step, code.note)
                for unit in units:
                    unit[own] = symbol
        prediction = low.step(Kind.PREDICTION, L)
        code_prediction = reductions_once(low, L, pair.code_prediction, units, once, prediction, "")
        yhat = arrays.expand_row(code_prediction, units)
        for i, value in enumerate(yhat):
            if value != low.symbol(nt.quantity("yhat"), entry=(i,)):
                note = "" if pair.code_steps else pair.output.code_note
                low.emit(nt.quantity("yhat"), value, prediction, note, entry=(i,))
        sample = arrays.expand_unit(pair.code_loss, units, 0)
        loss_step = low.step(Kind.LOSS, L)
        weight = low.row_weight()
        if weight is None:
            per_sample = low.emit("sample_loss", sample, loss_step, pair.loss_note)
            low.emit(nt.quantity("loss"), BatchSum(per_sample) / low.batch, loss_step)
        else:
            per_sample = low.per_sample_losses(sample, loss_step, pair.loss_note)
            low.emit(
                nt.quantity("loss"), BatchSum(weight * per_sample), loss_step, WEIGHTED_LOSS_NOTE
            )
        delta_step = low.step(Kind.OUTPUT_DELTA, L)
        code_delta = reductions_once(low, L, pair.code_delta, units, once, delta_step, "")
        deltas = arrays.expand_row(code_delta, units)
        why = "divided by B for the mean" if weight is None else WEIGHTED_DELTA_NOTE
        note = "; ".join(filter(None, [pair.delta_note, why]))
        for i, value in enumerate(deltas):
            scaled = value / low.batch if weight is None else value * weight
            low.emit(self.logits.grad(), scaled, delta_step, note, entry=(i,))


#: Rows of at most this many output units keep a reduction over the row (the softmax's maximum
#: and sum, squared error's sum of R yhat) inside each unit's scalar expression, as the notes
#: write it (common-subexpression elimination finds it again); on wider rows it is computed once,
#: in a statement of its own, so that the scalar program grows linearly with n_L, not with n_L^2.
INLINE_REDUCTION_UNITS = 3


def reductions_once(
    low: Any,
    layer: int,
    expr: sp.Expr,
    units: list[dict[sp.Symbol, sp.Expr]],
    once: dict[sp.Expr, sp.Symbol],
    at: Step,
    note: str,
) -> sp.Expr:
    """``expr``, a form with one value per unit, with each reduction over the row (a row sum,
    a row maximum) replaced by a variable computed once per row, on rows wider than
    :data:`INLINE_REDUCTION_UNITS`. Written out inside every unit's expression, a reduction
    over ``n_L`` units would be repeated ``n_L`` times: ``n_L^2`` terms (the softmax's Jacobian
    product) for common-subexpression elimination to find again.
    """
    if len(units) <= INLINE_REDUCTION_UNITS:
        return expr
    while True:
        nodes = [
            node for node in expr.atoms(RowSum, RowMax) if not node.args[0].has(RowSum, RowMax)
        ]
        if not nodes:
            return expr
        for node in sorted(nodes, key=sp.default_sort_key):
            if node not in once:
                kind = "rowsum" if isinstance(node, RowSum) else "rowmax"
                first = nt.code_temporary(kind, layer)
                count = sum(1 for name in low.variables if name.startswith(first))
                name = nt.code_temporary(kind, layer, count) if count else first
                value = arrays.expand_unit(node, units, 0)
                said = "; ".join(filter(None, [note, "a reduction over the row, computed once"]))
                once[node] = low.emit(name, value, at, said)
            expr = expr.xreplace({node: once[node]})
