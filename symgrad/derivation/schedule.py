"""The one schedule of backpropagation: in which order the layers and their steps are visited.

The derivation presents its steps stage by stage (every hidden layer, then every parameter); code
computes them in the order of :func:`backward_pass`, which interleaves them layer by layer so
that each ``grad_{a_k} L`` is used as soon as it is known. Every consumer of an order (the
derivation's builder, the program's lowering, the notes' summary) takes it from here.
"""

from __future__ import annotations

from symgrad.derivation.steps import BATCH_OF, Kind, StepId


def layers_backward(depth: int) -> range:
    """``L, L-1, ..., 1``: the layers in the order backpropagation visits them."""
    return range(depth, 0, -1)


def hidden_layers_backward(depth: int) -> range:
    """``L-1, ..., 1``: the hidden layers in the order backpropagation visits them."""
    return range(depth - 1, 0, -1)


def forward_pass(depth: int) -> tuple[StepId, ...]:
    """``a_1, h_1, ..., a_L``, then ``yhat`` and the loss."""
    ids: list[StepId] = []
    for k in range(1, depth + 1):
        ids.append(StepId(Kind.FORWARD, k))
        if k < depth:
            ids.append(StepId(Kind.ACTIVATION, k))
    return (*ids, StepId(Kind.PREDICTION, depth), StepId(Kind.LOSS, depth))


def backward_pass(depth: int) -> tuple[StepId, ...]:
    """The matrix steps in computing order.

    ``grad_{a_L} L``; then for ``k = L, ..., 1``: ``grad_{W_k} L``, ``grad_{b_k} L`` and, below
    the first layer, ``grad_{h_{k-1}} L`` and ``grad_{a_{k-1}} L``.
    """
    ids = [StepId(Kind.OUTPUT_DELTA_VECTOR, depth)]
    for k in layers_backward(depth):
        ids += [StepId(Kind.WEIGHT_MATRIX, k), StepId(Kind.BIAS_VECTOR, k)]
        if k > 1:
            ids += [StepId(Kind.HIDDEN_GRAD_VECTOR, k - 1), StepId(Kind.HIDDEN_DELTA_VECTOR, k - 1)]
    return tuple(ids)


def batch_pass(depth: int) -> tuple[StepId, ...]:
    """The mini-batch steps in computing order: the forward pass of :func:`forward_pass` and the
    mean loss, then the gradients in the order of :func:`backward_pass`."""
    return tuple(
        StepId(BATCH_OF[id.kind], id.layer) for id in (*forward_pass(depth), *backward_pass(depth))
    )
