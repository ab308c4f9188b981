"""The network as an explicit graph of operations, and its forward and backward orders.

Between the operations (:mod:`symgrad.ops`) and the derivation. :class:`Network` holds the ops of
a :class:`~symgrad.spec.NetworkSpec` in forward order (for each layer ``a_k = b_k + W_k h_{k-1}``,
then its activation, then the output and the loss), each with the quantities it reads and makes.
Its two orders exist nowhere else:

- :meth:`Network.forward_order`: the ops in the order of the forward pass;
- :meth:`Network.backward_order`: one reverse walk of the graph, each quantity whose gradient is
  complete at an op (every op that reads it has been passed) in the order the op reads them:
  ``a_L``, then for ``k = L, ..., 1`` ``W_k``, ``b_k``, ``h_{k-1}`` and ``a_{k-1}``.

The derivation, the program, the proofs, the worked example and the pictures walk these orders.
The gradient of a quantity read by several ops is the sum of their shares (:func:`merge`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

import sympy as sp

from symgrad import notation as nt
from symgrad.catalogue import Activation, OutputLoss
from symgrad.model import I
from symgrad.notation import Quantity
from symgrad.ops import layers
from symgrad.ops.activation import Activate
from symgrad.ops.affine import Affine
from symgrad.ops.base import Op, Remark, merge
from symgrad.ops.output_loss import OutputAndLoss
from symgrad.spec import NetworkSpec
from symgrad.steps import Stage, Step, StepId

#: The order of the parts of the notes: the gradients of one sample are stated stage by stage.
_STAGE_ORDER = {stage: n for n, stage in enumerate(Stage)}


@dataclass(frozen=True)
class Network:
    """The network of a :class:`NetworkSpec` as a graph of ops, in the notation of the notes."""

    spec: NetworkSpec
    #: Whether the gradient of the loss with respect to the input ``x = h_0`` is derived too (the
    #: generated code's ``input_gradient``); the notes leave it out.
    input_gradient: bool = False

    # sizes and names ----------------------------------------------------------------------

    @property
    def L(self) -> int:  # noqa: N802 - the notes call the number of layers L
        return self.spec.depth

    def n(self, k: int) -> int:
        """``n_k``, the number of units of layer k."""
        return self.spec.sizes[k]

    def activation(self, k: int) -> Activation:
        return self.spec.activation(k)

    @property
    def pair(self) -> OutputLoss:
        return self.spec.pair

    def g(self, k: int) -> type[sp.Function]:
        """The abstract activation function of layer k, as the notes write it (``g``)."""
        return nt.activation_function(k, self.spec.uniform_activation)

    def g_prime(self, k: int) -> type[sp.Function]:
        return nt.activation_derivative(k, self.spec.uniform_activation)

    def vector(self, base: str, k: int | None) -> sp.MatrixSymbol:
        rows = self.n(k if k is not None else 0)
        return nt.matrix(base, k, rows)

    def weight_matrix(self, k: int) -> sp.MatrixSymbol:
        return nt.matrix("W", k, self.n(k), self.n(k - 1))

    def grad(self, base: str, k: int) -> sp.MatrixSymbol:
        if base == "W":
            return nt.gradient("W", k, self.n(k), self.n(k - 1))
        return nt.gradient(base, k, self.n(k))

    def symbol(self, q: Quantity) -> sp.MatrixSymbol:
        """The vector (or matrix) symbol of ``q`` for one sample, shaped as in this network."""
        if q.base == "W":
            return self.grad("W", q.layer or 0) if q.gradient else self.weight_matrix(q.layer or 0)
        rows = self.n(self.L) if q.base in ("y", "yhat") else self.n(q.layer or 0)
        if q.gradient:
            return nt.gradient(q.base, q.layer, rows)
        return nt.matrix(q.base, q.layer, rows)

    def batch(self, base: str, k: int | None, gradient: bool = False) -> sp.MatrixSymbol:
        """``A_k``, ``H_k`` (``B x n_k``), ``X``, ``Y``, ``Yhat``; with ``gradient``, ``Delta_k``
        (of ``a``) or ``G_k`` (of ``h``)."""
        if base in ("y", "yhat"):
            cols = self.n(self.L)
        elif base == "x" or (base == "h" and k == 0):
            cols = self.n(0)
        else:
            cols = self.n(k or 0)
        return nt.batch_matrix(base, k, cols, gradient)

    # the graph -----------------------------------------------------------------------------

    @cached_property
    def ops(self) -> tuple[Op, ...]:
        """Every op, in the order of the forward pass."""
        L = self.L
        found: list[Op] = []
        for k in range(1, L + 1):
            found.append(Affine(k))
            if k < L:
                found.append(Activate(k, self.activation(k)))
        found.append(OutputAndLoss(L, self.pair))
        return layers.applied(self.spec, tuple(found))

    def forward_order(self) -> tuple[Op, ...]:
        """The ops in the order of the forward pass."""
        return self.ops

    def consumers(self, q: Quantity) -> tuple[Op, ...]:
        """The ops that read ``q``, in forward order."""
        return tuple(op for op in self.ops if q in op.inputs)

    def producer(self, q: Quantity) -> Op | None:
        """The op that makes ``q`` (None for an input or a parameter)."""
        return next((op for op in self.ops if q in op.outputs), None)

    def op(self, kind: type[Op], layer: int | None = None) -> Op:
        """The op of class ``kind`` (of ``layer``, when given)."""
        for op in self.ops:
            if isinstance(op, kind) and (layer is None or op.layer == layer):
                return op
        raise KeyError(f"the network has no {kind.__name__} of layer {layer}")

    def backward_order(self) -> tuple[Quantity, ...]:
        """The quantities whose gradient backpropagation computes, in computing order: one
        reverse walk of the graph; a quantity comes when every op that reads it has been passed
        (at the first of them in forward order), in the order that op reads them."""
        found: list[Quantity] = []
        for op in reversed(self.ops):
            for q in op.inputs:
                if q.base == "y" or (q.base == "x" and not self.input_gradient) or q in found:
                    continue
                if self.consumers(q)[0] is op:
                    found.append(q)
        return tuple(found)

    def backward_by_stage(self) -> tuple[Quantity, ...]:
        """The quantities of :meth:`backward_order` in the order the notes state their
        gradients: stage by stage (output layer, hidden layers, parameters)."""
        staged = [(q, self.gradient_steps(q)) for q in self.backward_order()]
        staged = [(q, steps) for q, steps in staged if steps]
        staged.sort(key=lambda item: _STAGE_ORDER[item[1][0].stage])
        return tuple(q for q, _ in staged)

    def forward_quantities(self) -> tuple[Quantity, ...]:
        """What the forward pass computes, in order: ``a_1, h_1, ..., a_L, yhat``, the loss."""
        return tuple(q for op in self.ops for q in op.outputs)

    # the steps -----------------------------------------------------------------------------

    def gradient_steps(self, q: Quantity) -> list[Step]:
        """The steps of the gradient of the loss with respect to ``q``, one sample: every op that
        reads it gives its share, shares of one step added."""
        return _merged([s for op in self.consumers(q) for s in op.backward(self, q)])

    def batch_gradient_steps(self, q: Quantity) -> list[Step]:
        """The same for a mini-batch."""
        return _merged([s for op in self.consumers(q) for s in op.batch_backward(self, q)])

    @cached_property
    def steps(self) -> tuple[Step, ...]:
        """Every step, unnumbered, in the order of the notes: the forward pass; the gradients of
        one sample stage by stage (output layer, hidden layers, parameters), each stage in the
        backward order; then the mini-batch forward and backward."""
        forward = [s for op in self.ops for s in op.forward(self)]
        backward = [s for q in self.backward_order() for s in self.gradient_steps(q)]
        backward.sort(key=lambda s: _STAGE_ORDER[s.stage])
        batch = [s for op in self.ops for s in op.batch_forward(self)]
        batch += [s for q in self.backward_order() for s in self.batch_gradient_steps(q)]
        return (*forward, *backward, *batch)

    def batch_only(self) -> tuple[Step, ...]:
        """The mini-batch steps that stack no per-sample step, in order (a layer kind's, such as
        weight decay's objective, added once per batch): the worked example shows them for its
        batch of one sample."""
        return tuple(s for s in self.steps if s.stage is Stage.BATCH and s.kind.per_sample is None)

    def remarks(self, part: str) -> tuple[Remark, ...]:
        """What the ops say of themselves in ``part`` of a document (:meth:`Op.remarks`), each
        paragraph once, in forward order."""
        return tuple(dict.fromkeys(r for op in self.ops for r in op.remarks(self, part)))

    def comments(self, part: str) -> tuple[str, ...]:
        """What the ops say of themselves in ``part`` of generated code (:meth:`Op.comments`),
        each paragraph once, in forward order."""
        return tuple(dict.fromkeys(text for op in self.ops for text in op.comments(self, part)))

    def constants(self) -> dict[sp.Symbol, sp.Expr]:
        """The constants the steps name (weight decay's ``lambda``) and their values."""
        found: dict[sp.Symbol, sp.Expr] = {}
        for op in self.ops:
            found.update(op.constants(self))
        return found

    @cached_property
    def _by_id(self) -> dict[StepId, Step]:
        return {s.id: s for s in self.steps}

    def step(self, id: StepId) -> Step:  # noqa: A002 - the step's id
        """The step ``id`` of this network (unnumbered)."""
        return self._by_id[id]

    def owner(self, id: StepId) -> Op:  # noqa: A002 - the step's id
        """The op that writes step ``id`` (the first, when several add their shares)."""
        for op in self.ops:
            if any(s.id == id for s in op.forward(self)) or any(
                s.id == id for s in op.batch_forward(self)
            ):
                return op
            for q in op.inputs:
                if any(s.id == id for s in (*op.backward(self, q), *op.batch_backward(self, q))):
                    return op
        raise KeyError(f"no op writes step {id}")

    # the symbolic forward pass -------------------------------------------------------------

    def definition(self, entry: sp.Indexed, over: sp.Symbol) -> sp.Expr:
        """The definition of an entry (``a_{ki}``, ``h_{kj}``, ``yhat_i``), from the op that
        makes it, with the concrete functions."""
        for op in self.ops:
            found = op.definition(self, entry, over)
            if found is not None:
                return found
        raise KeyError(f"no op defines {entry}")

    @property
    def affine(self) -> tuple[Affine, ...]:
        return tuple(op for op in self.ops if isinstance(op, Affine))

    @property
    def output(self) -> OutputAndLoss:
        op = self.op(OutputAndLoss)
        assert isinstance(op, OutputAndLoss)
        return op

    def activation_op(self, k: int) -> Activate:
        op = self.op(Activate, k)
        assert isinstance(op, Activate)
        return op

    def pre_activation(self, k: int, i: sp.Expr = I, over: sp.Symbol | None = None) -> sp.Expr:
        """``a_{ki} = b_{ki} + sum_j W_{kij} h_{k-1,j}``, summing over ``over`` (default ``j``)."""
        return self.affine[k - 1].pre_activation(self, i, over)

    def pre_activation_vector(self, k: int) -> sp.MatrixExpr:
        """``a_k = b_k + W_k h_{k-1}`` as a matrix expression of column vectors."""
        return self.affine[k - 1].vector_form(self)

    def prediction(self, i: sp.Expr = I, over: sp.Symbol | None = None) -> sp.Expr:
        """``yhat_i = O(a_L)_i``; the softmax sums over ``over`` (default ``j``)."""
        return self.output.prediction(self, i, over)

    def loss(self) -> sp.Expr:
        """The per-sample loss as a sum over output units ``i``."""
        return self.output.loss(self)

    @property
    def diagonal_output(self) -> bool:
        """True when ``yhat_i`` depends on ``a_{Li}`` alone (sigmoid, identity)."""
        return self.pair.output.diagonal

    @property
    def assumes_targets_sum_to_one(self) -> bool:
        """softmax + cross-entropy: ``grad_{a_L} L = yhat - y`` needs ``sum_i y_i = 1``."""
        return self.pair.assumes_targets_sum_to_one

    def hidden_layers(self) -> Iterator[int]:  # noqa: D401
        """``L-1, ..., 1``: the hidden layers in the order backpropagation visits them."""
        for q in self.backward_order():
            if q.base == "a" and q.layer is not None and q.layer < self.L:
                yield q.layer

    def layers_backward(self) -> Iterator[int]:
        """``L, ..., 1``: the layers in the order backpropagation visits their parameters."""
        return iter(q.layer for q in self.backward_order() if q.base == "W" and q.layer)


def _merged(steps: list[Step]) -> list[Step]:
    """Steps of one id (shares of several ops) added, in the order each id first comes."""
    groups: dict[StepId, list[Step]] = {}
    for s in steps:
        groups.setdefault(s.id, []).append(s)
    return [merge(group) for group in groups.values()]


__all__ = ["Network"]
