"""Residual connections: ``h_k = g(a_k) + h_{k-1}`` for the hidden layers as wide as the one below.

A layer kind (:mod:`symgrad.ops.layers`), asked for with ``--residual``. Every hidden layer
``k >= 2`` with ``n_k = n_{k-1}`` (:func:`symgrad.options.residual_layers`) adds its input to
its activation; the input ``x`` is never added, and the output layer is not residual. Its op
replaces the layer's activation. Local derivatives: ``dh_{kj}/da_{kj} = g'(a_{kj})`` (no longer
writable with ``h_{kj}``, which is not ``g(a_{kj})``) and ``dh_{kj}/dh_{k-1,j} = 1``: the
gradient of ``h_{k-1}`` gains the skip term, ``grad_{h_{k-1}} L = W_k^T grad_{a_k} L +
grad_{h_k} L``, its share added to the affine map's by the graph. For a mini-batch: ``H_k =
g(A_k) + H_{k-1}`` and ``G_{k-1} = Delta_k W_k + G_k``. Code keeps ``U_k = g(A_k)``, from which
it computes ``g'`` as the activation's code form does from ``h``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sympy as sp

from symgrad import notation as nt
from symgrad.expressions import X
from symgrad.generic import applied as entrywise
from symgrad.generic import batch, below, general
from symgrad.model import J, product
from symgrad.notation import Quantity
from symgrad.ops.activation import Activate
from symgrad.ops.base import Network, Op, Remark
from symgrad.options import residual_layers
from symgrad.spec import NetworkSpec
from symgrad.steps import Kind, Rule, Step, step

#: The option's name in the spec (``--residual``).
OPTION = "residual"

#: ``u_k = g(a_k)``, the activation before the skip is added: a variable of generated code.
nt.define_names("u", nt.Names("u", "u", "u", "U{k}", "u{k}_{e}", "u{k}", plain="u{k}"))


def _layers(net: Network) -> str:
    layers = residual_layers(tuple(net.n(k) for k in range(net.L + 1)))
    return ", ".join(str(k) for k in layers)


@dataclass(frozen=True)
class Residual(Activate):
    """``h_k = g(a_k) + h_{k-1}``: the activation of hidden layer ``k`` with its input added."""

    slope_in_output = False

    @property
    def skip(self) -> Quantity:
        """``h_{k-1}``, added unchanged."""
        return nt.quantity("h", self.layer - 1)

    @property
    def inputs(self) -> tuple[Quantity, ...]:
        return (self.pre, self.skip)

    def skips(self) -> tuple[Quantity, ...]:
        return (self.skip,)

    # how the notes write it --------------------------------------------------------------

    def value(self, net: Network, j: sp.Expr = J) -> sp.Expr:
        return sp.Add(super().value(net, j), nt.post(self.layer - 1, j), evaluate=False)

    def abstract(self, net: Network, j: sp.Expr = J) -> sp.Expr:
        return sp.Add(super().abstract(net, j), nt.post(self.layer - 1, j), evaluate=False)

    def slope(self, net: Network, j: sp.Expr = J) -> sp.Expr:
        """``g'(a_{kj})`` written out in ``a_{kj}``: ``h_{kj}`` is not ``g(a_{kj})``."""
        return self.activation.shown_derivative.xreplace({X: nt.pre(self.layer, j)})

    def vector_forms(self, net: Network) -> tuple[tuple[Quantity, sp.Basic, sp.Basic], ...]:
        ((q, abstract, written),) = super().vector_forms(net)
        below = net.vector("h", self.layer - 1)
        return ((q, sp.MatAdd(abstract, below), sp.MatAdd(written, below)),)

    # the derivation ----------------------------------------------------------------------

    def backward(self, net: Network, wrt: Quantity) -> Iterator[Step]:
        if wrt == self.pre:
            yield from super().backward(net, wrt)
        elif wrt == self.skip:
            # This op's share of dL/dh_{k-1,j}: through h_{kj} = g(a_{kj}) + h_{k-1,j}.
            k, below = self.layer, self.layer - 1
            upstream = nt.partial(nt.post(k, J))
            yield step(
                Kind.HIDDEN_GRAD,
                below,
                nt.partial(nt.post(below, J)),
                (product(upstream, nt.partial(nt.post(k, J), nt.post(below, J))), upstream),
                (Rule.CHAIN_RULE, Rule.LOCAL_DERIVATIVE),
                ((J, net.n(below)),),
            )
            yield step(
                Kind.HIDDEN_GRAD_VECTOR,
                below,
                net.grad("h", below),
                (net.grad("h", k),),
                (Rule.MATRIX_FORM,),
            )

    def batch_forward(self, net: Network) -> Iterator[Step]:
        below = net.batch("h", self.layer - 1)
        for s in super().batch_forward(net):
            forms = tuple(sp.MatAdd(form, below) for form in s.forms)
            yield step(s.kind, s.layer, s.lhs, forms, s.rules)

    def batch_backward(self, net: Network, wrt: Quantity) -> Iterator[Step]:
        if wrt == self.pre:
            yield from super().batch_backward(net, wrt)
        elif wrt == self.skip:
            k = self.layer
            yield step(
                Kind.BATCH_HIDDEN_GRAD,
                k - 1,
                net.batch("h", k - 1, gradient=True),
                (net.batch("h", k, gradient=True),),
                (Rule.ROWS,),
            )

    def definition(self, net: Network, entry: sp.Indexed, over: sp.Symbol) -> sp.Expr | None:
        found = super().definition(net, entry, over)
        return None if found is None else found + nt.post(self.layer - 1, entry.indices[1])

    def abstract_definition(self, net: Network, entry: sp.Indexed) -> sp.Expr:
        below = nt.post(self.layer - 1, entry.indices[1])
        return super().abstract_definition(net, entry) + below

    def composed(self, net: Network, entry: sp.Indexed, functions: dict[int, Any]) -> sp.Expr:
        below = nt.post(self.layer - 1, entry.indices[1])
        return super().composed(net, entry, functions) + below

    # the program -------------------------------------------------------------------------

    @property
    def slope_note(self) -> str:
        """The activation's note on ``g'``, whose ``h`` is here ``u = g(a)``."""
        note = self.activation.slope_note
        if " h" not in f" {note}":
            return note
        return f"{note}; here h is u = g(a), before the skip connection adds h_{{k-1}}"

    @property
    def kept(self) -> Quantity:
        """``u_k = g(a_k)``, kept for ``g'``."""
        return nt.quantity("u", self.layer)

    def lower_matrix(self, low: Any, s: Step) -> bool:
        act = self.activation
        if s.kind is Kind.BATCH_ACTIVATION:
            kept = low.emit(self.kept, self.code_value(low.symbol(self.pre)), s, act.stable_note)
            note = "the skip connection adds the input of the layer"
            low.emit(self.outputs[0], kept + low.symbol(self.skip), s, note)
            return True
        if s.kind is Kind.BATCH_HIDDEN_DELTA:
            slope = self.code_slope(low.symbol(self.pre), low.symbol(self.kept))
            value = low.symbol(self.outputs[0].grad()) * slope
            low.emit(self.pre.grad(), value, s, self.slope_note)
            return True
        return False

    def lower_scalar(self, low: Any, wrt: Quantity | None) -> None:
        k, act = self.layer, self.activation
        if wrt is None:
            forward = low.step(Kind.ACTIVATION, k)
            for j in range(low.n(k)):
                value = self.code_value(low.symbol(self.pre, entry=(j,)))
                kept = low.emit(self.kept, value, forward, act.stable_note, entry=(j,))
                total = kept + low.symbol(self.skip, entry=(j,))
                low.emit(self.outputs[0], total, forward, entry=(j,))
        elif wrt == self.pre:
            delta = low.step(Kind.HIDDEN_DELTA, k)
            for j in range(low.n(k)):
                slope = self.code_slope(
                    low.symbol(self.pre, entry=(j,)), low.symbol(self.kept, entry=(j,))
                )
                value = low.symbol(self.outputs[0].grad(), entry=(j,)) * slope
                low.emit(self.pre.grad(), value, delta, self.slope_note, entry=(j,))
        # wrt == skip: the affine map of layer k writes the whole of grad_{h_{k-1}} L, shares
        # added (the step is the graph's sum of both).

    # the numeric proof -------------------------------------------------------------------

    def evaluate(self, values: Any) -> dict[Quantity, Any]:
        """``h_k = g(a_k) + h_{k-1}``."""
        (made,) = super().evaluate(values).values()
        return {self.outputs[0]: made + values.value(self.skip)}

    def tangent(self, values: Any, moved: dict[Quantity, Any]) -> dict[Quantity, Any]:
        """``dh_k = g'(a_k) (.) da_k + dh_{k-1}``."""
        change = super().tangent(values, moved).get(self.outputs[0])
        below = moved.get(self.skip)
        if change is None and below is None:
            return {}
        if change is None:
            return {self.outputs[0]: below}
        return {self.outputs[0]: change if below is None else change + below}

    # the documents -----------------------------------------------------------------------

    def remarks(self, net: Network, part: str) -> tuple[Remark, ...]:
        layers = _layers(net)
        plural = "," in layers
        which = f"hidden layer{'s' if plural else ''} {layers}"
        if part == "setup":
            adds = "add their input to their" if plural else "adds its input to its"
            return (
                Remark(
                    f"Residual connections: {which}, as wide as the layer below, {adds} "
                    "activation, {0}; the input {1} is never added.",
                    (_adds("k"), general("x", None)),
                ),
            )
        if part == "general":
            return (_general_remark(which),)
        if part == "batch":
            G = batch("h", "k-1", True)
            step = sp.MatAdd(
                sp.MatMul(batch("a", "k", True), general("W", "k")), batch("h", "k", True)
            )
            return (
                Remark(
                    "A residual layer adds {0} to {1}, so {2} for it.",
                    (batch("h", "k-1"), batch("h", "k"), _eq(G, step)),
                ),
            )
        return ()

    def comments(self, net: Network, part: str) -> tuple[str, ...]:
        if part == "code":
            layers = _layers(net)
            which = f"hidden layer{'s' if ',' in layers else ''} {layers}"
            return (
                f"Residual connections on {which}: h_k = g(a_k) + h_{{k-1}} (the input is "
                "never added); the gradient of h_{k-1} gains that of h_k.",
            )
        return ()


def _eq(lhs: sp.Basic, rhs: sp.Basic) -> sp.Basic:
    """``lhs = rhs`` as written, in that order."""
    return sp.Eq(lhs, rhs, evaluate=False)


def _adds(layer: str) -> sp.Basic:
    """``h_{k} = g(a_{k}) + h_{k-1}``: a residual layer ``layer`` (``k``, ``k+1``)."""
    activation = entrywise("g", general("a", layer))
    value = sp.MatAdd(activation, general("h", below(layer)), evaluate=False)
    return _eq(general("h", layer), value)


def _general_remark(which: str) -> Remark:
    """How BP2 changes where layers are residual (the algorithm for any depth)."""
    grad = {
        (base, layer): general(base, layer, True)
        for base, layer in (("h", "k-1"), ("a", "k"), ("h", "k"), ("a", "k+1"), ("h", "k+1"))
    }
    skip = sp.MatAdd(
        sp.MatMul(sp.Transpose(general("W", "k")), grad["a", "k"]), grad["h", "k"], evaluate=False
    )
    above = sp.MatAdd(
        sp.MatMul(sp.Transpose(general("W", "k+1")), grad["a", "k+1"]),
        grad["h", "k+1"],
        evaluate=False,
    )
    slope = entrywise("g'", general("a", "k"))
    bp2 = sp.HadamardProduct(above, slope, evaluate=False)
    return Remark(
        f"With residual connections ({which}: {{0}}), the gradient of {{1}} gains a skip term "
        "where layer {2} is residual, {3}, so {bp2} becomes {4} when layer {5} is residual, with "
        "{6} kept from the step before; {7} is computed from {8} (or {9}), not from {10}. "
        "{bp1}, {bp3} and {bp4} do not change.",
        (
            _adds("k"),
            general("h", "k-1"),
            sp.Symbol("k"),
            _eq(grad["h", "k-1"], skip),
            _eq(grad["a", "k"], bp2),
            sp.Symbol("k+1"),
            grad["h", "k+1"],
            slope,
            general("a", "k"),
            entrywise("g", general("a", "k")),
            general("h", "k"),
        ),
    )


def applied(spec: NetworkSpec, ops: tuple[Op, ...]) -> tuple[Op, ...]:
    """The ops with each qualifying hidden layer's activation made residual."""
    if not spec.kind(OPTION):
        return ops
    layers = set(residual_layers(spec.sizes))
    return tuple(
        Residual(op.layer, op.activation) if isinstance(op, Activate) and op.layer in layers else op
        for op in ops
    )
