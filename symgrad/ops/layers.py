"""The layer kinds beyond the chain of affine maps and activations, each a module of ops.

Part of the operations. A layer kind is an option of the command line and of the header of
generated code (its entry in :mod:`symgrad.options`) and a function that changes the ops of a
network (:func:`applied` runs each that the spec asks for). Everything else (the derivation, the
proofs, the program, the notes and the pictures) walks the graph and asks its ops.
"""

from __future__ import annotations

from collections.abc import Callable

from symgrad.ops import residual, weight_decay
from symgrad.ops.base import Op
from symgrad.spec import NetworkSpec

#: Each layer kind: ``(option, transform)``; ``transform(spec, ops)`` gives the ops with the
#: kind's own, when the spec's value of ``option`` asks for it.
LAYER_KINDS: tuple[tuple[str, Callable[[NetworkSpec, tuple[Op, ...]], tuple[Op, ...]]], ...] = (
    (weight_decay.OPTION, weight_decay.applied),
    (residual.OPTION, residual.applied),
)


def applied(spec: NetworkSpec, ops: tuple[Op, ...]) -> tuple[Op, ...]:
    """``ops`` (the forward order of a network) with every layer kind ``spec`` asks for."""
    for _, transform in LAYER_KINDS:
        ops = transform(spec, ops)
    return ops
