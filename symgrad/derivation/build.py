"""Building the derivation: every step the ops of the network give, in the order of the notes.

:func:`build_derivation` turns a :class:`~symgrad.spec.NetworkSpec` into an unproved
:class:`Derivation`; :func:`symgrad.pipeline.derive` then proves it. The steps come from walking
the network's graph (:attr:`symgrad.network.Network.steps`): each op gives its definition and the
gradients with respect to its inputs; the derivation numbers them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

from symgrad.network import Network
from symgrad.spec import NetworkSpec
from symgrad.steps import Check, ProofSummary, Stage, Step, StepId


@dataclass(frozen=True)
class Derivation:
    """The whole derivation for one network, proved when ``proof`` is set."""

    spec: NetworkSpec
    network: Network
    steps: tuple[Step, ...]
    proof: ProofSummary | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {s.id: s for s in self.steps})

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps)

    def stage(self, stage: Stage) -> list[Step]:
        return [s for s in self.steps if s.stage is stage]

    def step(self, id: StepId) -> Step:  # noqa: A002 - the step's id
        """The step with id ``id``."""
        found: dict[StepId, Step] = self._by_id  # type: ignore[attr-defined]
        try:
            return found[id]
        except KeyError:
            raise KeyError(f"the derivation has no step {id}") from None

    def has(self, id: StepId) -> bool:  # noqa: A002 - the step's id
        return id in self._by_id  # type: ignore[attr-defined]

    def with_proof(self, checks: dict[StepId, Check], proof: ProofSummary) -> Derivation:
        """The same derivation with every step's check and the proof's summary attached."""
        steps = tuple(replace(s, check=checks[s.id]) for s in self.steps)
        return replace(self, steps=steps, proof=proof)


def build_derivation(spec: NetworkSpec, *, input_gradient: bool = False) -> Derivation:
    """Every step of the derivation for ``spec``, numbered in order, not yet proved.

    With ``input_gradient``, the steps of the gradient with respect to the input ``x = h_0`` are
    there too (what generated code's ``input_gradient`` computes); they are not in the notes, so
    they get the number 0, and every other step keeps its number in the notes.
    """
    network = Network(spec, input_gradient)
    noted = Network(spec) if input_gradient else network
    numbers = {s.id: n for n, s in enumerate(noted.steps, start=1)}
    steps = tuple(replace(s, number=numbers.get(s.id, 0)) for s in network.steps)
    return Derivation(spec, network, steps)


def build_step(net: Network, id: StepId) -> Step:  # noqa: A002 - the step's id
    """The single step ``id`` of ``net``'s derivation (unnumbered)."""
    return net.step(id)
