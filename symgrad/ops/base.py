"""What every operation of the network is: its definition and its local derivatives side by side.

Part of the operations (model -> **ops** -> network -> derivation). An :class:`Op` reads some
quantities of the network (:attr:`Op.inputs`) and makes others (:attr:`Op.outputs`). It gives:

- the steps of the derivation it owns: its definition (:meth:`Op.forward`), the gradient of the
  loss with respect to each of its inputs by the chain rule through it, with the rule behind every
  form (:meth:`Op.backward`), and the same for a mini-batch, rows as samples
  (:meth:`Op.batch_forward`, :meth:`Op.batch_backward`);
- its definition of one entry (:meth:`Op.definition`), which the provers differentiate, and its
  tangent (:meth:`Op.tangent`), which the numeric proof pushes forward;
- its code: the statements of the program for its steps (:meth:`Op.lower_matrix`,
  :meth:`Op.lower_scalar`), through the lowering it is handed (:class:`Lowering`);
- what the renderers draw: its boxes of the computational graph (:meth:`Op.nodes`).

The network (:mod:`symgrad.network`) is a graph of ops; its forward and backward orders are
methods of the graph, and the derivation, the program, the proofs and the renderers walk it. A new
layer kind is one module of ops (see :mod:`symgrad.ops.layers`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import sympy as sp

from symgrad.notation import Quantity
from symgrad.steps import Kind, Rule, Step


@dataclass(frozen=True)
class Remark:
    """A paragraph a document says of an op: ``text`` is words, in which ``{0}``, ``{1}``...
    stand for the formulas ``terms`` (SymPy expressions of the notation, each printed by the
    document in its style), ``{bp1}``...``{bp4}`` for BP1-BP4 and ``{ref:KEY}`` for the
    equation of the step ``KEY``."""

    text: str
    terms: tuple[sp.Basic, ...] = ()


class Network(Protocol):
    """What an op reads of the network it belongs to (:class:`symgrad.network.Network`): the
    sizes and the symbols of the notation, shaped for this network."""

    @property
    def L(self) -> int: ...  # noqa: N802 - the notes' number of layers

    @property
    def input_gradient(self) -> bool: ...  # the gradient with respect to x = h_0 is derived too

    def n(self, k: int) -> int: ...

    def g(self, k: int) -> type[sp.Function]: ...

    def g_prime(self, k: int) -> type[sp.Function]: ...

    def vector(self, base: str, k: int | None) -> sp.MatrixSymbol: ...

    def weight_matrix(self, k: int) -> sp.MatrixSymbol: ...

    def grad(self, base: str, k: int) -> sp.MatrixSymbol: ...

    def batch(self, base: str, k: int | None, gradient: bool = False) -> sp.MatrixSymbol: ...


class Lowering(Protocol):
    """What an op asks of the lowering that turns its steps into program statements.

    The matrix lowering (rows are samples) and the scalar lowering (one statement per entry) both
    have these; :mod:`symgrad.program.lower` defines them.
    """

    def emit(
        self, target: Quantity | str, value: sp.Expr, step: Step, note: str = "", **shape: Any
    ) -> sp.Symbol:
        """``target = value`` for ``step``; ``target`` a quantity or a temporary's name. Keywords:
        ``entry`` (scalar lowering), ``columns`` or ``shape`` (``()`` for one number), and
        ``stands_for``: a quantity the target holds from here on (the program's output of it
        reads the target)."""
        ...

    def symbol(self, q: Quantity) -> sp.Symbol:
        """The program variable holding ``q`` (a whole array, or in the scalar lowering the
        entry given by ``entry=``)."""
        ...


@dataclass(frozen=True)
class Node:
    """A box of the computational graph: its name, its label (words, a function's name such as
    ``softmax``, or a formula, ``b_1 + W_1 h_0``), and the quantity on the edge that leaves it."""

    name: str
    label: str | sp.Basic
    out: Quantity


class Op:
    """An operation of the network graph (subclasses give its parts; none is required)."""

    #: The layer the op belongs to (``L`` for the output layer).
    layer: int

    @property
    def inputs(self) -> tuple[Quantity, ...]:
        """The quantities it reads, in the order their gradients are written."""
        return ()

    @property
    def outputs(self) -> tuple[Quantity, ...]:
        return ()

    # The derivation ---------------------------------------------------------------------

    def forward(self, net: Network) -> Iterator[Step]:
        """Its definitions, one sample (the setup of the notes)."""
        return iter(())

    def backward(self, net: Network, wrt: Quantity) -> Iterator[Step]:
        """The steps of the gradient of the loss with respect to its input ``wrt`` through this
        op (the elementwise step, then its matrix form). Several ops that read one quantity give
        steps of the same ids: the graph adds their forms."""
        return iter(())

    def batch_forward(self, net: Network) -> Iterator[Step]:
        """Its definitions for a mini-batch, rows as samples."""
        return iter(())

    def batch_backward(self, net: Network, wrt: Quantity) -> Iterator[Step]:
        """The gradient with respect to ``wrt`` for a mini-batch."""
        return iter(())

    def vector_forms(self, net: Network) -> tuple[tuple[Quantity, sp.Basic, sp.Basic], ...]:
        """Its definitions as vectors of one sample: ``(quantity, form, written)`` for each output
        that is a vector, ``form`` with the abstract functions (``g(a_1)``) and ``written`` with
        the concrete ones (the worked example puts numbers into it)."""
        return ()

    def definition(self, net: Network, entry: sp.Indexed, over: sp.Symbol) -> sp.Expr | None:
        """The definition of an entry of one of its outputs (generic indices allowed, summing over
        ``over``), with the concrete functions; None for an entry it does not make."""
        return None

    def composed(self, net: Network, entry: sp.Indexed, functions: dict[int, Any]) -> sp.Expr:
        """The definition of an output entry (concrete indices) with the activation of each layer
        left abstract (``functions[k]``): what the composed proof differentiates."""
        definition = self.definition(net, entry, sp.Dummy("m", integer=True, positive=True))
        if definition is None:
            raise KeyError(f"{entry} is not made by {type(self).__name__}")
        return definition

    # The program ------------------------------------------------------------------------

    def lower_matrix(self, low: Any, step: Step) -> bool:
        """Its statements for the mini-batch step ``step`` (True), or False when the lowering's
        translation of the step's first form is right as it is."""
        return False

    def lower_scalar(self, low: Any, wrt: Quantity | None) -> None:
        """Its statements one entry at a time: the forward pass (``wrt`` None) or the gradient
        with respect to ``wrt``."""

    def constants(self, net: Network) -> dict[sp.Symbol, sp.Expr]:
        """The constants its steps name and their values (weight decay's ``lambda``): generated
        code and the worked example put the values in; the notes keep the symbols."""
        return {}

    # The numeric proof ------------------------------------------------------------------

    def evaluate(self, values: Any) -> dict[Quantity, Any]:
        """Its outputs by its definition, from the values of its inputs at the point of the
        numeric proof, which checks the program's forward pass against them (high precision)."""
        return {}

    def tangent(self, values: Any, moved: dict[Quantity, Any]) -> dict[Quantity, Any]:
        """How its outputs move when its inputs move by ``moved`` (high precision)."""
        return {}

    def direct_gradient(self, values: Any, q: Quantity) -> Any:
        """The gradient, with respect to the parameter ``q``, of what it adds to the objective
        directly, not through the loss of the samples (weight decay: ``lambda W_k``), at the
        point of the numeric proof; None when it adds nothing."""
        return None

    # The pictures -----------------------------------------------------------------------

    def remarks(self, net: Network, part: str) -> tuple[Remark, ...]:
        """What the documents say of this op in ``part``: ``"setup"``, after the forward pass
        of the notes and slides; ``"general"``, the algorithm for any depth (``{bp1}``...
        ``{bp4}`` refer to BP1-BP4); ``"batch"``, the mini-batch. Ops of every network say
        nothing; a layer kind says how it changes the equations."""
        return ()

    def comments(self, net: Network, part: str) -> tuple[str, ...]:
        """What generated code says of this op, plain text: ``"code"``, the opening comment of
        the module; ``"loss"``, the docstring of ``loss``."""
        return ()

    def nodes(self, net: Network) -> tuple[Node, ...]:
        """Its boxes in the computational graph, in forward order (none: it draws none)."""
        return ()

    def skips(self) -> tuple[Quantity, ...]:
        """The inputs it adds to its output unchanged (a skip connection, ``h_{k-1}`` of a
        residual layer): the figures draw them as edges that go around the layer."""
        return ()


def merge(steps: list[Step]) -> Step:
    """Steps of one id from several ops, as one: the sum of their forms (each op's share of a
    chain rule that runs through several ops)."""
    first = steps[0]
    if len(steps) == 1:
        return first
    for other in steps[1:]:
        if len(other.forms) != len(first.forms) or other.rules != first.rules:
            raise ValueError(f"step {first.key} is written differently by two operations")
    forms = tuple(_added([s.forms[n] for s in steps]) for n in range(len(first.forms)))
    return Step(first.id, first.lhs, forms, first.rules, first.indices)


def _added(forms: list[Any]) -> Any:
    if all(isinstance(f, sp.MatrixExpr) for f in forms):
        return sp.MatAdd(*forms)
    return sp.Add(*forms, evaluate=False)


__all__ = ["Kind", "Lowering", "Node", "Op", "Remark", "Rule", "merge"]
