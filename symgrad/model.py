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
from symgrad.spec import NetworkSpec

I, J = nt.I, nt.J  # noqa: E741 - the unit indices i, j of the notes


def product(*factors: sp.Expr) -> sp.Expr:
    """A product that keeps the order of the notes (``dL/dh_{kj} g'(a_{kj})``) when printed."""
    return sp.Mul(*factors, evaluate=False)


def difference(left: sp.Expr, right: sp.Expr) -> sp.Expr:
    """``left - right`` kept in that order when printed (``yhat_i - y_i``)."""
    return sp.Add(left, sp.Mul(-1, right), evaluate=False)


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
        L, output = self.L, self.spec.output
        if output == "softmax":
            j = over if over is not None else (J if i != J else sp.Dummy("j"))
            return sp.exp(nt.pre(L, i)) / sp.Sum(sp.exp(nt.pre(L, j)), (j, 1, self.n(L)))
        if output == "sigmoid":
            return 1 / (1 + sp.exp(-nt.pre(L, i)))
        return nt.pre(L, i)

    def loss(self) -> sp.Expr:
        """The per-sample loss as a sum over output units ``i``."""
        yhat, y, loss = nt.prediction(I), nt.target(I), self.spec.loss
        if loss == "cross-entropy":
            term = -y * sp.log(yhat)
        elif loss == "binary-cross-entropy":
            term = -(y * sp.log(yhat) + (1 - y) * sp.log(1 - yhat))
        else:
            term = sp.Rational(1, 2) * (yhat - y) ** 2
        return sp.Sum(term, (I, 1, self.n(self.L)))

    # output layer -----------------------------------------------------------------------------

    def loss_slope(self, i: sp.Expr = I) -> sp.Expr:
        """``dL/dyhat_i`` of the per-sample loss."""
        yhat, y, loss = nt.prediction(i), nt.target(i), self.spec.loss
        if loss == "cross-entropy":
            return -y / yhat
        if loss == "binary-cross-entropy":
            return sp.Add(-y / yhat, (1 - y) / difference(sp.Integer(1), yhat), evaluate=False)
        return difference(yhat, y)

    def output_jacobian(self, j: sp.Expr, i: sp.Expr) -> sp.Expr:
        """``d yhat_j / d a_{Li}``."""
        output = self.spec.output
        if output == "softmax":
            return product(nt.prediction(j), difference(sp.KroneckerDelta(i, j), nt.prediction(i)))
        if output == "sigmoid":
            return product(
                sp.KroneckerDelta(i, j),
                nt.prediction(i),
                difference(sp.Integer(1), nt.prediction(i)),
            )
        return sp.KroneckerDelta(i, j)

    @property
    def diagonal_output(self) -> bool:
        """True when ``yhat_i`` depends on ``a_{Li}`` alone (sigmoid, identity)."""
        return self.spec.output != "softmax"

    @property
    def assumes_targets_sum_to_one(self) -> bool:
        """softmax + cross-entropy: ``grad_{a_L} L = yhat - y`` needs ``sum_i y_i = 1``."""
        return (self.spec.output, self.spec.loss) == ("softmax", "cross-entropy")

    def output_delta(self, i: sp.Expr = I) -> sp.Expr:
        """``dL/da_{Li}`` in its simplest form (for softmax + cross-entropy under sum y = 1)."""
        yhat, y = nt.prediction(i), nt.target(i)
        pair = (self.spec.output, self.spec.loss)
        if pair in {
            ("softmax", "cross-entropy"),
            ("sigmoid", "binary-cross-entropy"),
            ("identity", "squared-error"),
        }:
            return difference(yhat, y)
        if pair == ("sigmoid", "squared-error"):
            return product(difference(yhat, y), yhat, difference(sp.Integer(1), yhat))
        # softmax + squared error: yhat_i ((yhat_i - y_i) - sum_j (yhat_j - y_j) yhat_j)
        j = J if i != J else sp.Dummy("j")
        error_j = difference(nt.prediction(j), nt.target(j))
        inner = sp.Sum(product(error_j, nt.prediction(j)), (j, 1, self.n(self.L)))
        return product(yhat, difference(difference(yhat, y), inner))

    def output_delta_vector(self) -> sp.MatrixExpr:
        """``grad_{a_L} L`` in matrix form."""
        n = self.n(self.L)
        yhat, y = nt.matrix("yhat", None, n), nt.matrix("y", None, n)
        ones = sp.OneMatrix(n, 1)
        error = sp.MatAdd(yhat, -y)
        pair = (self.spec.output, self.spec.loss)
        if pair == ("sigmoid", "squared-error"):
            return sp.HadamardProduct(error, yhat, sp.MatAdd(ones, -yhat))
        if pair == ("softmax", "squared-error"):
            scalar = sp.Transpose(error) * yhat
            return sp.HadamardProduct(yhat, sp.MatAdd(error, -ones * scalar))
        return error

    # vector forms -----------------------------------------------------------------------------

    def vector(self, base: str, k: int | None) -> sp.MatrixSymbol:
        rows = self.n(k if k is not None else 0)
        return nt.matrix(base, k, rows)

    def weight_matrix(self, k: int) -> sp.MatrixSymbol:
        return nt.matrix("W", k, self.n(k), self.n(k - 1))

    def grad(self, base: str, k: int) -> sp.MatrixSymbol:
        if base == "W":
            return nt.gradient("W", k, self.n(k), self.n(k - 1))
        return nt.gradient(base, k, self.n(k))

    def slope_vector(self, k: int) -> sp.MatrixExpr:
        """``g'(a_k)`` as a vector expression (``h_k (.) (1 - h_k)`` for the sigmoid)."""
        h = nt.matrix("h", k, self.n(k))
        ones = sp.OneMatrix(self.n(k), 1)
        name = self.activation(k).name if self.activation(k).builtin else None
        if name == "sigmoid":
            return sp.HadamardProduct(h, sp.MatAdd(ones, -h))
        if name == "tanh":
            return sp.MatAdd(ones, -sp.HadamardProduct(h, h))
        if name == "identity":
            return ones
        return nt.matrix("gprime", k, self.n(k))
