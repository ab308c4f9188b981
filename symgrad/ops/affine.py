"""The affine map of layer ``k``: ``a_k = b_k + W_k h_{k-1}``, with its local derivatives.

An op of the network (:mod:`symgrad.ops.base`). Definition: ``a_{ki} = b_{ki} + sum_j W_{kij}
h_{k-1,j}``. Local derivatives: ``da_{ki}/dW_{kij} = h_{k-1,j}``, ``da_{ki}/db_{ki} = 1``,
``da_{ki}/dh_{k-1,j} = W_{kij}``; so ``grad_{W_k} L = grad_{a_k} L h_{k-1}^T``, ``grad_{b_k} L =
grad_{a_k} L`` and ``grad_{h_{k-1}} L = W_k^T grad_{a_k} L``. For a mini-batch (rows are samples):
``A_k = H_{k-1} W_k^T + 1 b_k^T``, ``grad_{W_k} Lbar = Delta_k^T H_{k-1}``, ``grad_{b_k} Lbar =
Delta_k^T 1`` and ``G_{k-1} = Delta_k W_k``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import sympy as sp

from symgrad import notation as nt
from symgrad.arrays import BatchSum
from symgrad.model import I, J, instantiate, product
from symgrad.notation import Quantity
from symgrad.ops.base import Network, Node, Op
from symgrad.steps import EntryMatrix, Kind, Rule, Step, step


def _weight_partial(k: int, r: int, c: int) -> sp.Expr:
    """Entry (r, c) of the matrix of partials: ``dL/dW_{krc}``."""
    return nt.partial(nt.weight(k, r, c))


def _weight_applied(k: int, r: int, c: int) -> sp.Expr:
    """Entry (r, c) with the formula applied: ``dL/da_{kr} h_{k-1,c}``."""
    return product(nt.partial(nt.pre(k, r)), nt.post(k - 1, c))


def _bias_partial(k: int, r: int, c: int) -> sp.Expr:
    return nt.partial(nt.bias(k, r))


def _bias_applied(k: int, r: int, c: int) -> sp.Expr:
    return nt.partial(nt.pre(k, r))


@dataclass(frozen=True)
class Affine(Op):
    """``a_k = b_k + W_k h_{k-1}``."""

    layer: int

    @property
    def weight(self) -> Quantity:
        return nt.quantity("W", self.layer)

    @property
    def bias(self) -> Quantity:
        return nt.quantity("b", self.layer)

    @property
    def source(self) -> Quantity:
        """``h_{k-1}`` (``x`` for the first layer)."""
        return nt.quantity("h", self.layer - 1)

    @property
    def inputs(self) -> tuple[Quantity, ...]:
        return (self.weight, self.bias, self.source)

    @property
    def outputs(self) -> tuple[Quantity, ...]:
        return (nt.quantity("a", self.layer),)

    # the derivation --------------------------------------------------------------------------

    def pre_activation(
        self, net: Network, i: sp.Expr = I, over: sp.Symbol | None = None
    ) -> sp.Expr:
        """``a_{ki} = b_{ki} + sum_j W_{kij} h_{k-1,j}``, summing over ``over`` (default ``j``)."""
        k = self.layer
        j = over if over is not None else (sp.Dummy("j") if i == J else J)
        terms = sp.Sum(product(nt.weight(k, i, j), nt.post(k - 1, j)), (j, 1, net.n(k - 1)))
        return sp.Add(nt.bias(k, i), terms, evaluate=False)

    def vector_form(self, net: Network) -> sp.MatrixExpr:
        """``a_k = b_k + W_k h_{k-1}`` of column vectors."""
        k = self.layer
        return sp.MatAdd(net.vector("b", k), net.weight_matrix(k) * net.vector("h", k - 1))

    def vector_forms(self, net: Network) -> tuple[tuple[Quantity, sp.Basic, sp.Basic], ...]:
        form = self.vector_form(net)
        return ((self.outputs[0], form, form),)

    def forward(self, net: Network) -> Iterator[Step]:
        k = self.layer
        yield step(
            Kind.FORWARD,
            k,
            nt.pre(k, I),
            (self.pre_activation(net, I),),
            (Rule.DEFINITION,),
            ((I, net.n(k)),),
        )

    def backward(self, net: Network, wrt: Quantity) -> Iterator[Step]:
        if wrt == self.weight:
            yield from self._weight_steps(net)
        elif wrt == self.bias:
            yield from self._bias_steps(net)
        elif wrt == self.source and (self.layer > 1 or net.input_gradient):
            yield from self._source_steps(net)

    def _weight_steps(self, net: Network) -> Iterator[Step]:
        k = self.layer
        rows, cols = net.n(k), net.n(k - 1)
        weight, delta = nt.weight(k, I, J), nt.partial(nt.pre(k, I))
        yield step(
            Kind.WEIGHT,
            k,
            nt.partial(weight),
            (product(delta, nt.partial(nt.pre(k, I), weight)), product(delta, nt.post(k - 1, J))),
            (Rule.CHAIN_RULE, Rule.LOCAL_DERIVATIVE),
            ((I, rows), (J, cols)),
        )
        yield step(
            Kind.WEIGHT_MATRIX,
            k,
            net.grad("W", k),
            (
                EntryMatrix(rows, cols, partial(_weight_partial, k)),
                EntryMatrix(rows, cols, partial(_weight_applied, k)),
                net.grad("a", k) * net.vector("h", k - 1).T,
            ),
            (Rule.ENTRIES, Rule.CHAIN_RULE, Rule.OUTER_PRODUCT),
        )

    def _bias_steps(self, net: Network) -> Iterator[Step]:
        k = self.layer
        rows = net.n(k)
        bias, delta = nt.bias(k, I), nt.partial(nt.pre(k, I))
        yield step(
            Kind.BIAS,
            k,
            nt.partial(bias),
            (product(delta, nt.partial(nt.pre(k, I), bias)), delta),
            (Rule.CHAIN_RULE, Rule.LOCAL_DERIVATIVE),
            ((I, rows),),
        )
        yield step(
            Kind.BIAS_VECTOR,
            k,
            net.grad("b", k),
            (
                EntryMatrix(rows, 1, partial(_bias_partial, k)),
                EntryMatrix(rows, 1, partial(_bias_applied, k)),
                net.grad("a", k),
            ),
            (Rule.ENTRIES, Rule.CHAIN_RULE, Rule.MATRIX_FORM),
        )

    def _source_steps(self, net: Network) -> Iterator[Step]:
        """``dL/dh_{k-1,j} = sum_i dL/da_{ki} W_{kij}`` and ``W_k^T grad_{a_k} L``."""
        k = self.layer
        below, n = k - 1, net.n(k)
        yield step(
            Kind.HIDDEN_GRAD,
            below,
            nt.partial(nt.post(below, J)),
            (
                sp.Sum(
                    product(nt.partial(nt.pre(k, I)), nt.partial(nt.pre(k, I), nt.post(below, J))),
                    (I, 1, n),
                ),
                sp.Sum(product(nt.partial(nt.pre(k, I)), nt.weight(k, I, J)), (I, 1, n)),
            ),
            (Rule.CHAIN_RULE, Rule.LOCAL_DERIVATIVE),
            ((J, net.n(below)),),
        )
        yield step(
            Kind.HIDDEN_GRAD_VECTOR,
            below,
            net.grad("h", below),
            (net.weight_matrix(k).T * net.grad("a", k),),
            (Rule.MATRIX_FORM,),
        )

    def batch_forward(self, net: Network) -> Iterator[Step]:
        k = self.layer
        ones = sp.OneMatrix(nt.BATCH, 1)
        weights = sp.MatMul(net.batch("h", k - 1), sp.Transpose(net.weight_matrix(k)))
        biases = sp.MatMul(ones, sp.Transpose(net.vector("b", k)))
        yield step(
            Kind.BATCH_FORWARD, k, net.batch("a", k), (sp.MatAdd(weights, biases),), (Rule.ROWS,)
        )

    def batch_backward(self, net: Network, wrt: Quantity) -> Iterator[Step]:
        k = self.layer
        ones = sp.OneMatrix(nt.BATCH, 1)
        delta = net.batch("a", k, gradient=True)
        if wrt == self.weight:
            gradient = nt.mean_gradient("W", k, net.n(k), net.n(k - 1))
            form = sp.MatMul(sp.Transpose(delta), net.batch("h", k - 1))
            yield step(Kind.BATCH_WEIGHT, k, gradient, (form,), (Rule.BATCH_MEAN,))
        elif wrt == self.bias:
            gradient = nt.mean_gradient("b", k, net.n(k))
            form = sp.MatMul(sp.Transpose(delta), ones)
            yield step(Kind.BATCH_BIAS, k, gradient, (form,), (Rule.BATCH_MEAN,))
        elif wrt == self.source and (k > 1 or net.input_gradient):
            form = sp.MatMul(delta, net.weight_matrix(k))
            yield step(
                Kind.BATCH_HIDDEN_GRAD,
                k - 1,
                net.batch("h", k - 1, gradient=True),
                (form,),
                (Rule.ROWS,),
            )

    def definition(self, net: Network, entry: sp.Indexed, over: sp.Symbol) -> sp.Expr | None:
        quantity, indices = nt.entry_quantity(entry)
        if quantity.base != "a" or int(entry.indices[0]) != self.layer:
            return None
        return self.pre_activation(net, indices[0], over=over)

    def composed(self, net: Network, entry: sp.Indexed, functions: dict[int, Any]) -> sp.Expr:
        return instantiate(self.pre_activation(net, entry.indices[1]))

    # the program -----------------------------------------------------------------------------

    def lower_scalar(self, low: Any, wrt: Quantity | None) -> None:
        k = self.layer
        if wrt is None:
            forward = low.step(Kind.FORWARD, k)
            for i in range(low.n(k)):
                value = low.scalars(instantiate(forward.final, i=i + 1))
                low.emit(nt.quantity("a", k), value, forward, entry=(i,))
        elif wrt == self.weight:
            weight = low.step(Kind.WEIGHT, k)
            for i in range(low.n(k)):
                for j in range(low.n(k - 1)):
                    value = BatchSum(low.scalars(instantiate(weight.final, i=i + 1, j=j + 1)))
                    low.emit(self.weight.grad(), value, weight, entry=(i, j))
        elif wrt == self.bias:
            bias = low.step(Kind.BIAS, k)
            for i in range(low.n(k)):
                value = BatchSum(low.scalars(instantiate(bias.final, i=i + 1)))
                low.emit(self.bias.grad(), value, bias, entry=(i,))
        elif wrt == self.source and (k > 1 or low.net.input_gradient):
            grad = low.step(Kind.HIDDEN_GRAD, k - 1)
            for j in range(low.n(k - 1)):
                value = low.scalars(instantiate(grad.final, j=j + 1))
                low.emit(self.source.grad(), value, grad, entry=(j,))

    # the numeric proof -----------------------------------------------------------------------

    def evaluate(self, values: Any) -> dict[Quantity, Any]:
        """``a_k = W_k h_{k-1} + b_k``."""
        made = values.matvec(self.weight, values.value(self.source)) + values.value(self.bias)
        return {self.outputs[0]: made}

    def tangent(self, values: Any, moved: dict[Quantity, Any]) -> dict[Quantity, Any]:
        """``da_k = W_k dh_{k-1}`` (a moved ``a_k`` itself is given, not pushed)."""
        change = moved.get(self.source)
        if change is None:
            return {}
        return {self.outputs[0]: values.matvec(self.weight, change)}

    def nodes(self, net: Network) -> tuple[Node, ...]:
        weighted = sp.MatMul(nt.symbol(self.weight), nt.symbol(self.source), evaluate=False)
        label = sp.MatAdd(nt.symbol(self.bias), weighted, evaluate=False)
        return (Node(f"affine{self.layer}", label, self.outputs[0]),)
