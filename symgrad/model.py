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
from symgrad.expressions import X
from symgrad.spec import NetworkSpec

I, J = nt.I, nt.J  # noqa: E741 - the unit indices i, j of the notes


def product(*factors: sp.Expr) -> sp.Expr:
    """A product that keeps the order of the notes (``dL/dh_{kj} g'(a_{kj})``) when printed."""
    return sp.Mul(*factors, evaluate=False)


class Elementwise(sp.MatrixExpr):
    """``f`` applied to every entry of a vector or matrix: ``g'(a_k)``, ``1[A_k > 0]``.

    ``function`` is a :class:`sympy.Lambda` of one variable; printers write ``f`` with the matrix
    in place of the variable (``1/(1 + |a_1|)^2`` read entry by entry), the proof expands it.
    """

    def __new__(cls, function: sp.Lambda, arg: sp.MatrixExpr) -> Elementwise:
        return sp.Basic.__new__(cls, function, arg)  # type: ignore[return-value]

    @property
    def function(self) -> sp.Lambda:
        return self.args[0]  # type: ignore[return-value]

    @property
    def arg(self) -> sp.MatrixExpr:
        return self.args[1]  # type: ignore[return-value]

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:  # type: ignore[override]
        return self.arg.shape  # type: ignore[no-any-return]

    def at(self, value: sp.Expr) -> sp.Expr:
        """``f(value)`` for one entry."""
        variable = self.function.variables[0]
        return self.function.expr.xreplace({variable: value})  # type: ignore[no-any-return]


class RowFunction(sp.MatrixExpr):
    """The output function applied to every row of a batch: ``Yhat = softmax(A_L)``.

    ``head`` is the LaTeX of ``O`` from the catalogue (``\\operatorname{softmax}``, or ``""`` for
    the identity); the rows are samples, so it acts on each row as ``O`` acts on ``a_L``.
    """

    def __new__(cls, head: str, arg: sp.MatrixExpr) -> RowFunction:
        return sp.Basic.__new__(cls, sp.Symbol(head), arg)  # type: ignore[return-value]

    @property
    def head(self) -> str:
        return str(self.args[0])

    @property
    def arg(self) -> sp.MatrixExpr:
        return self.args[1]  # type: ignore[return-value]

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:  # type: ignore[override]
        return self.arg.shape  # type: ignore[no-any-return]


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
        """``h_{kj} = g(a_{kj})`` with the concrete ``g`` of layer k, as the notes write it."""
        return self.activation(k).shown_function.xreplace({X: nt.pre(k, j)})

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

    def slope_vector(self, k: int, batch: bool = False) -> sp.MatrixExpr:
        """``g'(a_k)`` written out as a vector (``h_k (.) (1 - h_k)`` for the sigmoid).

        Where the catalogue writes ``g'`` as a polynomial in ``h`` it becomes the same polynomial
        of the vector ``h_k`` with elementwise products; otherwise ``g'`` written out, applied to
        every entry of ``a_k`` (``1[a_k > 0]``). With ``batch``, the same of the matrices ``H_k``
        and ``A_k`` of a mini-batch.
        """
        n = self.n(k)
        if batch:
            h, a = nt.batch_matrix("H", k, n), nt.batch_matrix("A", k, n)
            ones: sp.MatrixExpr = sp.OneMatrix(nt.BATCH, n)
        else:
            h, a, ones = nt.matrix("h", k, n), nt.matrix("a", k, n), sp.OneMatrix(n, 1)
        act = self.activation(k)
        if act.derivative_in_output is not None:
            vector = _as_vector(act.derivative_in_output, h, ones)
            if vector is not None:
                return vector
        return Elementwise(sp.Lambda(X, act.shown_derivative), a)

    # mini-batch forms, rows as samples ------------------------------------------------------

    def batch(self, base: str, k: int | None) -> sp.MatrixSymbol:
        """``A_k``, ``H_k``, ``Delta_k``, ``G_k`` (``B x n_k``), or ``X``, ``Y``, ``Yhat``."""
        cols = {"X": self.n(0), "Y": self.n(self.L), "Yhat": self.n(self.L)}.get(base)
        return nt.batch_matrix(base, k, cols if cols is not None else self.n(k or 0))

    def batch_activation(self, k: int, written: bool = False) -> sp.MatrixExpr:
        """``g(A_k)``: the activation applied to every entry (``written``: the concrete ``g``)."""
        g = self.activation(k).shown_function if written else self.g(k)(X)
        return Elementwise(sp.Lambda(X, g), self.batch("A", k))

    def batch_slope(self, k: int) -> sp.MatrixExpr:
        """``g'(A_k)``: the derivative of the activation at every entry."""
        return Elementwise(sp.Lambda(X, self.g_prime(k)(X)), self.batch("A", k))

    def batch_prediction(self) -> sp.MatrixExpr:
        """``Yhat = O(A_L)``, the output function applied to every row."""
        return RowFunction(self.spec.pair.output.latex, self.batch("A", self.L))

    def batch_output_delta(self) -> sp.MatrixExpr:
        """``Delta_L = (1/B) (Yhat - Y)`` in the general form of the pair, rows as samples."""
        rows = self.spec.pair.delta_rows(self.batch("Yhat", None), self.batch("Y", None), _ones)
        return sp.MatMul(1 / nt.BATCH, rows)


def _ones(rows: sp.Expr, cols: sp.Expr) -> sp.MatrixExpr:
    return sp.OneMatrix(rows, cols)


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
