"""The derivation as data: steps, their typed ids, and the records of how each was proved.

Each :class:`Step` is an equation ``lhs = forms[0] = forms[1] = ...`` of SymPy objects (never
strings), with the :class:`Rule` behind every ``=``, its equation number (shared by the notes, the
terminal printout and the comments of generated code) and, once the proof has run, the
:class:`Check` that proved it. Steps are found one way: by their :class:`StepId`.

The records of the proof (:class:`Check`, :class:`ProofSummary`) are plain data defined here, so
that a proved derivation is one object; the provers that fill them in come later in the pipeline
(:mod:`symgrad.proof`).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Union

import sympy as sp

from symgrad.model import Network
from symgrad.spec import NetworkSpec


class Stage(enum.Enum):
    """The parts of the notes, in order."""

    SETUP = "setup"
    OUTPUT = "output layer"
    HIDDEN = "hidden layers"
    PARAMETERS = "parameters"
    #: The same computation for a mini-batch, rows as samples: what generated code implements.
    BATCH = "mini-batch"


class Rule(enum.Enum):
    """Why one form of a step equals the next."""

    DEFINITION = "definition"
    LOSS_DERIVATIVE = "derivative of the loss"
    CHAIN_RULE = "chain rule"
    LOCAL_DERIVATIVE = "derivative of the layer equation"
    OUTPUT_DERIVATIVE = "derivative of the output function"
    ACTIVATION_DERIVATIVE = "derivative of the activation"
    ALGEBRA = "algebra"
    CANCEL = "cancel the common factor"
    KRONECKER = "the Kronecker delta keeps the term j = i"
    EXPAND = "multiply out"
    TARGETS_SUM_TO_ONE = "algebra, with sum_i y_i = 1"
    MATRIX_FORM = "the same equation for every entry, in matrix form"
    ENTRIES = "the entries of the matrix"
    OUTER_PRODUCT = "outer product"
    #: Mini-batch: the per-sample equation transposed, one row per sample.
    ROWS = "the per-sample equation, one row per sample"
    #: Mini-batch: the mean over the samples of the per-sample gradient.
    BATCH_MEAN = "the mean over the batch of the per-sample gradient"


class Kind(enum.Enum):
    """What a step computes. The value is the stable name used in labels (``eq:weight-2``)."""

    FORWARD = "forward"
    ACTIVATION = "activation"
    PREDICTION = "prediction"
    LOSS = "loss"
    LOSS_SLOPE = "output-loss-slope"
    OUTPUT_DELTA = "output-delta"
    OUTPUT_DELTA_VECTOR = "output-delta-vector"
    HIDDEN_GRAD = "hidden-grad"
    HIDDEN_GRAD_VECTOR = "hidden-grad-vector"
    HIDDEN_DELTA = "hidden-delta"
    HIDDEN_DELTA_VECTOR = "hidden-delta-vector"
    WEIGHT = "weight"
    WEIGHT_MATRIX = "weight-matrix"
    BIAS = "bias"
    BIAS_VECTOR = "bias-vector"
    # the mini-batch, rows as samples
    BATCH_FORWARD = "batch-forward"
    BATCH_ACTIVATION = "batch-activation"
    BATCH_PREDICTION = "batch-prediction"
    BATCH_LOSS = "batch-loss"
    BATCH_OUTPUT_DELTA = "batch-output-delta"
    BATCH_WEIGHT = "batch-weight"
    BATCH_BIAS = "batch-bias"
    BATCH_HIDDEN_GRAD = "batch-hidden-grad"
    BATCH_HIDDEN_DELTA = "batch-hidden-delta"

    @property
    def stage(self) -> Stage:
        """The part of the notes steps of this kind belong to."""
        return _STAGES[self]

    @property
    def per_layer(self) -> bool:
        """True for kinds with one step per layer (the others belong to the output layer)."""
        return self not in _OUTPUT_KINDS


_STAGES = {
    **dict.fromkeys([Kind.FORWARD, Kind.ACTIVATION, Kind.PREDICTION, Kind.LOSS], Stage.SETUP),
    **dict.fromkeys([Kind.LOSS_SLOPE, Kind.OUTPUT_DELTA, Kind.OUTPUT_DELTA_VECTOR], Stage.OUTPUT),
    **dict.fromkeys(
        [
            Kind.HIDDEN_GRAD,
            Kind.HIDDEN_GRAD_VECTOR,
            Kind.HIDDEN_DELTA,
            Kind.HIDDEN_DELTA_VECTOR,
        ],
        Stage.HIDDEN,
    ),
    **dict.fromkeys(
        [Kind.WEIGHT, Kind.WEIGHT_MATRIX, Kind.BIAS, Kind.BIAS_VECTOR], Stage.PARAMETERS
    ),
}

#: The per-sample step each mini-batch step computes for every sample at once.
PER_SAMPLE: dict[Kind, Kind] = {
    Kind.BATCH_FORWARD: Kind.FORWARD,
    Kind.BATCH_ACTIVATION: Kind.ACTIVATION,
    Kind.BATCH_PREDICTION: Kind.PREDICTION,
    Kind.BATCH_LOSS: Kind.LOSS,
    Kind.BATCH_OUTPUT_DELTA: Kind.OUTPUT_DELTA_VECTOR,
    Kind.BATCH_WEIGHT: Kind.WEIGHT_MATRIX,
    Kind.BATCH_BIAS: Kind.BIAS_VECTOR,
    Kind.BATCH_HIDDEN_GRAD: Kind.HIDDEN_GRAD_VECTOR,
    Kind.BATCH_HIDDEN_DELTA: Kind.HIDDEN_DELTA_VECTOR,
}
#: The mini-batch step of each per-sample step that has one.
BATCH_OF: dict[Kind, Kind] = {sample: batch for batch, sample in PER_SAMPLE.items()}
_STAGES.update(dict.fromkeys(PER_SAMPLE, Stage.BATCH))

_OUTPUT_KINDS = frozenset(
    {
        Kind.PREDICTION,
        Kind.LOSS,
        Kind.LOSS_SLOPE,
        Kind.OUTPUT_DELTA,
        Kind.OUTPUT_DELTA_VECTOR,
        Kind.BATCH_PREDICTION,
        Kind.BATCH_LOSS,
        Kind.BATCH_OUTPUT_DELTA,
    }
)

#: The elementwise step a matrix step sums up (its "twin"), for the proof and the notes.
ELEMENTWISE_TWIN: dict[Kind, Kind] = {
    Kind.OUTPUT_DELTA_VECTOR: Kind.OUTPUT_DELTA,
    Kind.HIDDEN_GRAD_VECTOR: Kind.HIDDEN_GRAD,
    Kind.HIDDEN_DELTA_VECTOR: Kind.HIDDEN_DELTA,
    Kind.WEIGHT_MATRIX: Kind.WEIGHT,
    Kind.BIAS_VECTOR: Kind.BIAS,
}


@dataclass(frozen=True, order=True)
class StepId:
    """Which step: its kind and its layer ``k`` (``L`` for the steps of the output layer)."""

    kind: Kind
    layer: int

    @property
    def key(self) -> str:
        """``weight-2``, ``output-delta``: the step's name in labels and messages."""
        return f"{self.kind.value}-{self.layer}" if self.kind.per_layer else self.kind.value

    def twin(self) -> StepId:
        """The elementwise step of a matrix step (``weight-2`` for ``weight-matrix-2``)."""
        return StepId(ELEMENTWISE_TWIN[self.kind], self.layer)

    def per_sample(self) -> StepId:
        """The per-sample step of a mini-batch step (``weight-matrix-2`` for ``batch-weight-2``)."""
        return StepId(PER_SAMPLE[self.kind], self.layer)

    def __str__(self) -> str:
        return self.key


@dataclass(frozen=True)
class EntryMatrix:
    """A matrix given by its entries, built only where a renderer asks for them.

    ``entry(r, c)`` takes 1-based row and column numbers. A 128 x 784 matrix of partials costs
    nothing until a renderer shows its first rows and columns.
    """

    rows: int
    cols: int
    entry: Callable[[int, int], sp.Expr] = field(compare=False)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.rows, self.cols)

    def explicit(self) -> sp.Matrix:
        """The whole matrix; only for small shapes."""
        return sp.Matrix(self.rows, self.cols, lambda r, c: self.entry(r + 1, c + 1))


Form = Union[sp.Basic, EntryMatrix]  # noqa: UP007 - a runtime alias


# Records of the proof ---------------------------------------------------------------------------


class CheckMethod(enum.Enum):
    """How a step was proved (see :mod:`symgrad.proof`)."""

    DEFINITION = "definition"
    SYMBOLIC = "symbolic"
    COMPOSED = "composed"
    NUMERIC = "numeric"


@dataclass(frozen=True)
class Check:
    """The evidence for one step: how it was checked, on how many entries, and how closely."""

    method: CheckMethod
    #: Entries (concrete index values) the check covered.
    entries: int = 0
    #: Entries in the step (for a sampled check, more than ``entries``).
    total: int = 0
    #: Random points the numeric checks used, and their working precision in decimal digits.
    points: int = 0
    digits: int = 0
    #: Largest relative difference seen by a numeric check (0 for an exact one).
    max_error: float = 0.0
    #: When not 0: proved on a copy of the network with every layer cut to this many units (the
    #: step's forms are the same for every width; ``entries`` counts the copy's).
    capped: int = 0


class ProofMethod(enum.Enum):
    """How the partials of the whole network were checked against the composed loss."""

    COMPOSED = "composed"
    NUMERIC = "numeric"


@dataclass(frozen=True)
class ProofSummary:
    """What the proof did as a whole, for the closing section of every rendering."""

    method: ProofMethod
    #: True when ``--proof`` named the method, False when ``auto`` chose it by size.
    requested: bool
    parameters: int
    composed_limit: int
    #: Partials compared with the direct derivative of the composed loss.
    partials_checked: int
    #: Partials of the program (the gradient code computes) compared at a random point, of how
    #: many, and the random directions (one per layer) it was also compared along.
    program_checked: int
    program_total: int
    program_directions: int
    digits: int
    seed: int
    max_error: float
    #: The widest layer of the shrunk copy the wide steps were proved on (0: none was shrunk).
    capped: int = 0
    #: The network's layers L, and the largest parameters x layers the composed proof takes.
    layers: int = 1
    composed_cost_limit: int = 0


# The derivation -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One equation of the derivation: ``lhs = forms[0] = forms[1] = ...``.

    ``rules[n]`` justifies ``forms[n]``. ``indices`` are the generic indices the equation holds
    for, with their ranges (``i = 1..n_k``). ``number`` is its equation number (1-based, in
    order), shared by the notes, the terminal and the comments of generated code.
    """

    id: StepId
    lhs: Form
    forms: tuple[Form, ...]
    rules: tuple[Rule, ...]
    indices: tuple[tuple[sp.Symbol, int], ...] = ()
    number: int = 0
    check: Check | None = None

    @property
    def kind(self) -> Kind:
        return self.id.kind

    @property
    def stage(self) -> Stage:
        return self.id.kind.stage

    @property
    def layer(self) -> int:
        return self.id.layer

    @property
    def key(self) -> str:
        return self.id.key

    @property
    def final(self) -> Form:
        """The last, most explicit form."""
        return self.forms[-1]


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

    def with_proof(self, checks: dict[StepId, Check], proof: ProofSummary) -> Derivation:
        """The same derivation with every step's check and the proof's summary attached."""
        steps = tuple(replace(s, check=checks[s.id]) for s in self.steps)
        return replace(self, steps=steps, proof=proof)
