"""The symbolic network for given layer sizes: ``a_k = b_k + W_k h_{k-1}``, ``h_k = g(a_k)``.

Sits between the spec and the derivation. Everything here is written once with the generic unit
indices ``i``, ``j`` of :mod:`symgrad.notation`; concrete entries (``a_{21}``) are produced on
demand by :func:`instantiate`, so a 784-128-10 network costs no more to describe than 3-3-2.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from symgrad import notation as nt
from symgrad.catalogue import Activation
from symgrad.catalogue import H as H_OUTPUT
from symgrad.spec import NetworkSpec

I, J = nt.I, nt.J  # noqa: E741 - the unit indices i, j of the notes


def product(*factors: sp.Expr) -> sp.Expr:
    """A product that keeps the order of the notes (``dL/dh_{kj} g'(a_{kj})``) when printed."""
    return sp.Mul(*factors, evaluate=False)


def instantiate(expr: sp.Expr, **indices: int) -> sp.Expr:
    """``expr`` with the generic indices replaced by numbers and finite sums written out."""
    values = {
        sp.Symbol(name, integer=True, positive=True): value for name, value in indices.items()
    }
    result = expr.xreplace(values)
    if result.has(sp.Sum):
        result = result.replace(lambda e: isinstance(e, sp.Sum), _write_out)
    if result.has(sp.KroneckerDelta):
        result = result.replace(
            lambda e: isinstance(e, sp.KroneckerDelta), lambda e: sp.KroneckerDelta(*e.args)
        )
    return result


def _write_out(total: sp.Sum) -> sp.Expr:
    """A finite sum written term by term.

    ``Sum.doit`` is not used: it takes ``dL/dyhat_j`` for a constant in ``j`` (a derivative's
    free symbols leave out its variables) and would pull it out of the sum.
    """
    ((index, low, high),) = total.limits
    return sp.Add(*[total.function.xreplace({index: v}) for v in range(int(low), int(high) + 1)])


@dataclass(frozen=True)
class Network:
    """The network of a :class:`NetworkSpec` in the notation of the notes."""

    spec: NetworkSpec

    @property
    def L(self) -> int:  # noqa: N802 - the notes call the number of layers L
        return self.spec.depth

    def n(self, k: int) -> int:
        """``n_k``, the number of units of layer k."""
        return self.spec.sizes[k]

    def activation(self, k: int) -> Activation:
        return self.spec.activation(k)

    def g(self, k: int) -> type[sp.Function]:
        """The abstract activation function of layer k, as the notes write it (``g``)."""
        return nt.activation_function(k, self.spec.uniform_activation)

    def g_prime(self, k: int) -> type[sp.Function]:
        return nt.activation_derivative(k, self.spec.uniform_activation)

    # forward pass ------------------------------------------------------------------------------

    def pre_activation(self, k: int, i: sp.Expr = I, over: sp.Symbol | None = None) -> sp.Expr:
        """``a_{ki} = b_{ki} + sum_j W_{kij} h_{k-1,j}``, summing over ``over`` (default ``j``)."""
        j = over if over is not None else (sp.Dummy("j") if i == J else J)
        terms = sp.Sum(product(nt.weight(k, i, j), nt.post(k - 1, j)), (j, 1, self.n(k - 1)))
        return sp.Add(nt.bias(k, i), terms, evaluate=False)

    def activation_value(self, k: int, j: sp.Expr = J) -> sp.Expr:
        """``h_{kj} = g(a_{kj})`` with the concrete ``g`` of layer k."""
        return self.activation(k).function_at(nt.pre(k, j))

    def activation_slope(self, k: int, j: sp.Expr = J) -> sp.Expr:
        """``g'(a_{kj})``, written with ``h_{kj}`` where the notes do (``h (1 - h)``)."""
        return self.activation(k).derivative_at(nt.pre(k, j), nt.post(k, j))

    def prediction(self, i: sp.Expr = I, over: sp.Symbol | None = None) -> sp.Expr:
        """``yhat_i = O(a_L)_i``; the softmax sums over ``over`` (default ``j``)."""
        j = over if over is not None else (J if i != J else sp.Dummy("j"))
        return self.spec.pair.output.prediction(lambda m: nt.pre(self.L, m), i, j, self.n(self.L))

    def loss(self) -> sp.Expr:
        """The per-sample loss as a sum over output units ``i``."""
        term = self.spec.pair.loss.term(nt.prediction(I), nt.target(I))
        return sp.Sum(term, (I, 1, self.n(self.L)))

    # output layer -----------------------------------------------------------------------------

    def loss_slope(self, i: sp.Expr = I) -> sp.Expr:
        """``dL/dyhat_i`` of the per-sample loss."""
        return self.spec.pair.loss.slope(nt.prediction(i), nt.target(i))

    def output_jacobian(self, j: sp.Expr, i: sp.Expr) -> sp.Expr:
        """``d yhat_j / d a_{Li}``."""
        return self.spec.pair.output.jacobian(nt.prediction, i, j)

    @property
    def diagonal_output(self) -> bool:
        """True when ``yhat_i`` depends on ``a_{Li}`` alone (sigmoid, identity)."""
        return self.spec.pair.output.diagonal

    @property
    def assumes_targets_sum_to_one(self) -> bool:
        """softmax + cross-entropy: ``grad_{a_L} L = yhat - y`` needs ``sum_i y_i = 1``."""
        return self.spec.pair.assumes_targets_sum_to_one

    def output_delta(self, i: sp.Expr = I) -> sp.Expr:
        """``dL/da_{Li}`` in its simplest form (for softmax + cross-entropy under sum y = 1)."""
        j = J if i != J else sp.Dummy("j")
        return self.spec.pair.delta(nt.prediction, nt.target, i, j, self.n(self.L))

    def output_delta_vector(self) -> sp.MatrixExpr:
        """``grad_{a_L} L`` in matrix form."""
        n = self.n(self.L)
        yhat, y = nt.matrix("yhat", None, n), nt.matrix("y", None, n)
        return self.spec.pair.delta_vector(yhat, y, sp.OneMatrix(n, 1))

    # vector forms -----------------------------------------------------------------------------

    def vector(self, base: str, k: int | None) -> sp.MatrixSymbol:
        rows = self.n(k if k is not None else 0)
        return nt.matrix(base, k, rows)

    def weight_matrix(self, k: int) -> sp.MatrixSymbol:
        return nt.matrix("W", k, self.n(k), self.n(k - 1))

    def pre_activation_vector(self, k: int) -> sp.MatrixExpr:
        """``a_k = b_k + W_k h_{k-1}`` as a matrix expression of column vectors."""
        return sp.MatAdd(self.vector("b", k), self.weight_matrix(k) * self.vector("h", k - 1))

    def grad(self, base: str, k: int) -> sp.MatrixSymbol:
        if base == "W":
            return nt.gradient("W", k, self.n(k), self.n(k - 1))
        return nt.gradient(base, k, self.n(k))

    def slope_vector(self, k: int) -> sp.MatrixExpr:
        """``g'(a_k)`` as a vector expression (``h_k (.) (1 - h_k)`` for the sigmoid).

        Where the catalogue writes ``g'`` as a polynomial in ``h`` it becomes the same polynomial
        of the vector ``h_k`` with elementwise products; otherwise it stays ``g'(a_k)``.
        """
        n = self.n(k)
        written = self.activation(k).derivative_in_output
        vector = None
        if written is not None:
            vector = _as_vector(written, nt.matrix("h", k, n), sp.OneMatrix(n, 1))
        return vector if vector is not None else nt.matrix("gprime", k, n)


def _as_vector(expr: sp.Expr, h: sp.MatrixExpr, ones: sp.MatrixExpr) -> sp.MatrixExpr | None:
    """A polynomial in :data:`~symgrad.catalogue.H` as an elementwise vector expression, or None."""
    if expr == H_OUTPUT:
        return h
    if expr.is_Integer:
        return ones if expr == 1 else sp.MatMul(expr, ones)
    parts = [_as_vector(arg, h, ones) for arg in expr.args]
    if any(part is None for part in parts):
        return None
    if isinstance(expr, sp.Add):
        return sp.MatAdd(*parts)
    if isinstance(expr, sp.Mul):
        numbers = [arg for arg in expr.args if arg.is_Number]
        if numbers == [sp.Integer(-1)] and len(expr.args) == 2:
            other = next(p for p, arg in zip(parts, expr.args, strict=True) if not arg.is_Number)
            return -other if other is not None else None
        if numbers:
            return None
        return sp.HadamardProduct(*parts)
    if isinstance(expr, sp.Pow) and expr.exp.is_Integer and expr.exp > 1:
        base = parts[0]
        return sp.HadamardProduct(*([base] * int(expr.exp)))
    return None
