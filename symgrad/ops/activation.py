"""The activation of hidden layer ``k``: ``h_k = g(a_k)`` entry by entry, with its derivative.

An op of the network (:mod:`symgrad.ops.base`). Definition: ``h_{kj} = g(a_{kj})`` with ``g`` of
the catalogue. Local derivative: ``dh_{kj}/da_{kj} = g'(a_{kj})``, written as the catalogue writes
``g'`` (``h (1 - h)`` for the sigmoid), so ``grad_{a_k} L = grad_{h_k} L (.) g'(a_k)``. For a
mini-batch: ``H_k = g(A_k)`` and ``Delta_k = G_k (.) g'(A_k)``. Code computes ``g`` and ``g'`` in
the catalogue's stable forms (``(1 + tanh(a/2))/2``), which the proof checks against them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sympy as sp

from symgrad import notation as nt
from symgrad.catalogue import Activation
from symgrad.catalogue import H as H_OUTPUT
from symgrad.expressions import X
from symgrad.model import Elementwise, J, as_vector, product
from symgrad.notation import Quantity
from symgrad.ops.base import Network, Node, Op
from symgrad.steps import Kind, Rule, Step, step


def _factors(expr: sp.MatrixExpr) -> tuple[sp.MatrixExpr, ...]:
    return expr.args if isinstance(expr, sp.HadamardProduct) else (expr,)


@dataclass(frozen=True)
class Activate(Op):
    """``h_k = g(a_k)``, ``g`` the activation of layer ``k``."""

    layer: int
    activation: Activation

    @property
    def pre(self) -> Quantity:
        return nt.quantity("a", self.layer)

    @property
    def inputs(self) -> tuple[Quantity, ...]:
        return (self.pre,)

    @property
    def outputs(self) -> tuple[Quantity, ...]:
        return (nt.quantity("h", self.layer),)

    # how the notes write it --------------------------------------------------------------

    def value(self, net: Network, j: sp.Expr = J) -> sp.Expr:
        """``h_{kj}`` as the notes define it, with the concrete ``g``."""
        return self.activation.shown_function.xreplace({X: nt.pre(self.layer, j)})

    def abstract(self, net: Network, j: sp.Expr = J) -> sp.Expr:
        """``h_{kj}`` with the abstract ``g``: ``g(a_{kj})``."""
        return net.g(self.layer)(nt.pre(self.layer, j))

    def slope(self, net: Network, j: sp.Expr = J) -> sp.Expr:
        """``g'(a_{kj})`` written out, with ``h_{kj}`` where the catalogue writes it so."""
        return self.activation.derivative_at(nt.pre(self.layer, j), nt.post(self.layer, j))

    def slope_vector(self, net: Network, batch: bool = False) -> sp.MatrixExpr:
        """``g'(a_k)`` written out as a vector (``h_k (.) (1 - h_k)`` for the sigmoid).

        Where the catalogue writes ``g'`` as a polynomial in ``h`` it becomes the same polynomial
        of the vector ``h_k`` with elementwise products; otherwise ``g'`` written out, applied to
        every entry of ``a_k`` (``1[a_k > 0]``). With ``batch``, the same of the matrices ``H_k``
        and ``A_k`` of a mini-batch.
        """
        k, n = self.layer, net.n(self.layer)
        if batch:
            h, a = net.batch("h", k), net.batch("a", k)
            ones: sp.MatrixExpr = sp.OneMatrix(nt.BATCH, n)
        else:
            h, a, ones = nt.matrix("h", k, n), nt.matrix("a", k, n), sp.OneMatrix(n, 1)
        act = self.activation
        if act.derivative_in_output is not None and self.slope_in_output:
            vector = as_vector(act.derivative_in_output, h, ones)
            if vector is not None:
                return vector
        return Elementwise(sp.Lambda(X, act.shown_derivative), a)

    #: ``g'`` may be written with the layer's output ``h_k = g(a_k)``.
    slope_in_output = True

    def vector_forms(self, net: Network) -> tuple[tuple[Quantity, sp.Basic, sp.Basic], ...]:
        a = nt.matrix("a", self.layer, net.n(self.layer))
        abstract = Elementwise(sp.Lambda(X, net.g(self.layer)(X)), a)
        written = Elementwise(sp.Lambda(X, self.activation.shown_function), a)
        return ((self.outputs[0], abstract, written),)

    # the derivation ----------------------------------------------------------------------

    def forward(self, net: Network) -> Iterator[Step]:
        k = self.layer
        yield step(
            Kind.ACTIVATION,
            k,
            nt.post(k, J),
            (self.abstract(net, J), self.value(net, J)),
            (Rule.DEFINITION, Rule.DEFINITION),
            ((J, net.n(k)),),
        )

    def backward(self, net: Network, wrt: Quantity) -> Iterator[Step]:
        if wrt != self.pre:
            return
        k = self.layer
        g_prime = net.g_prime(k)
        slope = self.slope(net, J)
        upstream = nt.partial(nt.post(k, J))
        forms = (
            product(upstream, nt.partial(nt.post(k, J), nt.pre(k, J))),
            product(upstream, g_prime(nt.pre(k, J))),
            upstream if slope == 1 else product(upstream, slope),  # identity: no factor 1
        )
        rules = (Rule.CHAIN_RULE, Rule.DEFINITION, Rule.ACTIVATION_DERIVATIVE)
        yield step(Kind.HIDDEN_DELTA, k, nt.partial(nt.pre(k, J)), forms, rules, ((J, net.n(k)),))
        a = nt.matrix("a", k, net.n(k))
        abstract = Elementwise(sp.Lambda(X, g_prime(X)), a)
        vector_forms: list[sp.Basic] = [sp.HadamardProduct(net.grad("h", k), abstract)]
        written = self.slope_vector(net)
        vector_forms.append(
            net.grad("h", k)
            if written == sp.OneMatrix(net.n(k), 1)
            else sp.HadamardProduct(net.grad("h", k), *_factors(written))
        )
        yield step(
            Kind.HIDDEN_DELTA_VECTOR,
            k,
            net.grad("a", k),
            tuple(vector_forms),
            (Rule.MATRIX_FORM, Rule.ACTIVATION_DERIVATIVE),
        )

    def batch_forward(self, net: Network) -> Iterator[Step]:
        k = self.layer
        a = net.batch("a", k)
        abstract = Elementwise(sp.Lambda(X, net.g(k)(X)), a)
        written = Elementwise(sp.Lambda(X, self.activation.shown_function), a)
        yield step(
            Kind.BATCH_ACTIVATION,
            k,
            net.batch("h", k),
            (abstract, written),
            (Rule.ROWS, Rule.DEFINITION),
        )

    def batch_backward(self, net: Network, wrt: Quantity) -> Iterator[Step]:
        if wrt != self.pre:
            return
        k = self.layer
        upstream = net.batch("h", k, gradient=True)
        slope = self.slope_vector(net, batch=True)
        written = (
            upstream
            if slope == sp.OneMatrix(nt.BATCH, net.n(k))
            else sp.HadamardProduct(upstream, *_factors(slope))
        )
        abstract = Elementwise(sp.Lambda(X, net.g_prime(k)(X)), net.batch("a", k))
        forms = (sp.HadamardProduct(upstream, abstract), written)
        rules = (Rule.ROWS, Rule.ACTIVATION_DERIVATIVE)
        yield step(Kind.BATCH_HIDDEN_DELTA, k, net.batch("a", k, gradient=True), forms, rules)

    def definition(self, net: Network, entry: sp.Indexed, over: sp.Symbol) -> sp.Expr | None:
        if not nt.is_entry_of(entry, "h") or int(entry.indices[0]) != self.layer:
            return None
        return self.activation.function_at(nt.pre(self.layer, entry.indices[1]))

    def abstract_definition(self, net: Network, entry: sp.Indexed) -> sp.Expr:
        """``h_{kj}`` with the abstract ``g`` of the layer (for the local derivative)."""
        return net.g(self.layer)(nt.pre(self.layer, entry.indices[1]))

    def composed(self, net: Network, entry: sp.Indexed, functions: dict[int, Any]) -> sp.Expr:
        return functions[self.layer](nt.pre(self.layer, entry.indices[1]))

    # the program -------------------------------------------------------------------------

    def code_value(self, pre: sp.Expr) -> sp.Expr:
        """``g(a)`` as code computes it."""
        return self.activation.code_function.xreplace({X: pre})

    def code_slope(self, pre: sp.Expr, post: sp.Expr) -> sp.Expr:
        """``g'(a)`` as code computes it, from ``a`` or ``h = g(a)``."""
        return self.activation.code_slope.xreplace({X: pre, H_OUTPUT: post})

    def lower_matrix(self, low: Any, step: Step) -> bool:
        k = self.layer
        act = self.activation
        if step.kind is Kind.BATCH_ACTIVATION:
            value = self.code_value(low.symbol(self.pre))
            low.emit(self.outputs[0], value, step, act.stable_note)
            return True
        if step.kind is Kind.BATCH_HIDDEN_DELTA:
            slope = self.code_slope(low.symbol(self.pre), low.symbol(self.outputs[0]))
            value = low.symbol(nt.quantity("h", k, gradient=True)) * slope
            low.emit(self.pre.grad(), value, step, act.slope_note)
            return True
        return False

    def lower_scalar(self, low: Any, wrt: Quantity | None) -> None:
        k = self.layer
        act = self.activation
        if wrt is None:
            forward = low.step(Kind.ACTIVATION, k)
            for j in range(low.n(k)):
                value = self.code_value(low.symbol(self.pre, entry=(j,)))
                low.emit(self.outputs[0], value, forward, act.stable_note, entry=(j,))
        elif wrt == self.pre:
            delta = low.step(Kind.HIDDEN_DELTA, k)
            for j in range(low.n(k)):
                slope = self.code_slope(
                    low.symbol(self.pre, entry=(j,)), low.symbol(self.outputs[0], entry=(j,))
                )
                value = low.symbol(self.outputs[0].grad(), entry=(j,)) * slope
                low.emit(self.pre.grad(), value, delta, act.slope_note, entry=(j,))

    # the numeric proof -------------------------------------------------------------------

    def evaluate(self, values: Any) -> dict[Quantity, Any]:
        """``h_k = g(a_k)``."""
        return {self.outputs[0]: values.activation(self.layer, values.value(self.pre))}

    def tangent(self, values: Any, moved: dict[Quantity, Any]) -> dict[Quantity, Any]:
        """``dh_k = g'(a_k) (.) da_k``."""
        change = moved.get(self.pre)
        if change is None:
            return {}
        return {self.outputs[0]: values.slope(self.layer) * change}

    def nodes(self, net: Network) -> tuple[Node, ...]:
        act = self.activation
        label: str | sp.Basic = act.name if act.builtin else sp.Symbol("g")
        return (Node(f"act{self.layer}", label, self.outputs[0]),)
