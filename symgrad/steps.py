"""The derivation's data: steps, their typed ids, the rules behind each ``=``, the proof's records.

Below the operations of the network (:mod:`symgrad.ops`), which make the steps, and the
derivation (:mod:`symgrad.derivation`), which orders them. Each :class:`Step` is an equation
``lhs = forms[0] = forms[1] = ...`` of SymPy objects (never strings), with the :class:`Rule` behind
every ``=``, its equation number (shared by the notes, the terminal printout and the comments of
generated code) and, once the proof has run, the :class:`Check` that proved it. Steps are found
one way: by their :class:`StepId`.

A :class:`Kind` says what a step computes; the built-in kinds are attributes of the class
(``Kind.WEIGHT_MATRIX``) and an operation that brings a new layer kind defines its own with
:meth:`Kind.define`, as it defines its own rules with :class:`Rule`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Union

import sympy as sp


class Stage(enum.Enum):
    """The parts of the notes, in order."""

    SETUP = "setup"
    OUTPUT = "output layer"
    HIDDEN = "hidden layers"
    PARAMETERS = "parameters"
    #: The same computation for a mini-batch, rows as samples: what generated code implements.
    BATCH = "mini-batch"


@dataclass(frozen=True, eq=False)
class Rule:
    """Why one form of a step equals the next: ``value`` in words, ``note`` beside a row of the
    notes (plain words; a rule whose note names a formula, such as the Kronecker delta's, has
    it written by the notes' builder as a value), ``text`` in the terminal (``value`` when
    empty).

    Rules compare by identity: each is made once, here or by the operation that uses it.
    """

    value: str
    note: str
    text: str = ""

    #: Every rule made, by ``value``.
    ALL: ClassVar[dict[str, Rule]] = {}

    def __post_init__(self) -> None:
        Rule.ALL.setdefault(self.value, self)

    @property
    def words(self) -> str:
        """How the terminal says it."""
        return self.text or self.value

    def __repr__(self) -> str:
        return f"Rule({self.value!r})"

    # The built-in rules (set below the class).
    DEFINITION: ClassVar[Rule]
    LOSS_DERIVATIVE: ClassVar[Rule]
    CHAIN_RULE: ClassVar[Rule]
    LOCAL_DERIVATIVE: ClassVar[Rule]
    OUTPUT_DERIVATIVE: ClassVar[Rule]
    ACTIVATION_DERIVATIVE: ClassVar[Rule]
    ALGEBRA: ClassVar[Rule]
    CANCEL: ClassVar[Rule]
    KRONECKER: ClassVar[Rule]
    EXPAND: ClassVar[Rule]
    TARGETS_SUM_TO_ONE: ClassVar[Rule]
    MATRIX_FORM: ClassVar[Rule]
    ENTRIES: ClassVar[Rule]
    OUTER_PRODUCT: ClassVar[Rule]
    ROWS: ClassVar[Rule]
    BATCH_MEAN: ClassVar[Rule]

    @classmethod
    def named(cls, name: str) -> Rule:
        """The built-in rule called ``name`` (``"CANCEL"``), as the catalogue names them."""
        found = getattr(cls, name, None)
        if not isinstance(found, Rule):
            raise KeyError(f"no rule {name!r}")
        return found


Rule.DEFINITION = Rule("definition", "definition")
Rule.LOSS_DERIVATIVE = Rule("derivative of the loss", "derivative of the loss")
Rule.CHAIN_RULE = Rule("chain rule", "chain rule")
Rule.LOCAL_DERIVATIVE = Rule("derivative of the layer equation", "differentiate the layer equation")
Rule.OUTPUT_DERIVATIVE = Rule(
    "derivative of the output function", "derivative of the output function"
)
Rule.ACTIVATION_DERIVATIVE = Rule("derivative of the activation", "derivative of the activation")
Rule.ALGEBRA = Rule("algebra", "algebra")
Rule.CANCEL = Rule("cancel the common factor", "cancel yhat_j")
Rule.KRONECKER = Rule("the Kronecker delta keeps the term j = i", "delta_ij keeps the term j = i")
Rule.EXPAND = Rule("multiply out", "multiply out")
Rule.TARGETS_SUM_TO_ONE = Rule(
    "algebra, with sum_i y_i = 1", "using sum_j y_j = 1", "algebra, using sum_i y_i = 1"
)
Rule.MATRIX_FORM = Rule("the same equation for every entry, in matrix form", "in matrix form")
Rule.ENTRIES = Rule("the entries of the matrix", "entries")
Rule.OUTER_PRODUCT = Rule("outer product", "outer product")
#: Mini-batch: the per-sample equation transposed, one row per sample.
Rule.ROWS = Rule("the per-sample equation, one row per sample", "rows")
#: Mini-batch: the mean over the samples of the per-sample gradient.
Rule.BATCH_MEAN = Rule("the mean over the batch of the per-sample gradient", "mean")


@dataclass(frozen=True, eq=False)
class Kind:
    """What a step computes. ``value`` is its stable name in labels (``eq:weight-2``).

    ``stage`` is the part of the notes it belongs to; ``per_layer`` is False for the kinds of the
    output layer (one step, its key without a layer). ``twin`` is the elementwise kind a matrix
    kind sums up; ``per_sample`` the per-sample kind a mini-batch kind stacks. Kinds compare by
    identity: each is made once, by :meth:`define`.
    """

    value: str
    stage: Stage
    per_layer: bool = True
    twin: Kind | None = None
    per_sample: Kind | None = None
    order: int = field(default=0, compare=False)
    #: How a step of this kind is proved, for kinds a layer kind brings: ``prove(network, step)``
    #: returns the :class:`Check` or raises; None for the built-in provers.
    prove: Callable[[Any, Step], Check] | None = field(default=None, compare=False)

    #: Every kind defined, by ``value``, in the order they were defined.
    ALL: ClassVar[dict[str, Kind]] = {}

    @classmethod
    def define(
        cls,
        value: str,
        stage: Stage,
        *,
        per_layer: bool = True,
        twin: Kind | None = None,
        per_sample: Kind | None = None,
        prove: Callable[[Any, Step], Check] | None = None,
    ) -> Kind:
        """A new kind called ``value`` (refused when the name is taken)."""
        if value in cls.ALL:
            raise ValueError(f"a kind of step {value!r} exists already")
        kind = cls(value, stage, per_layer, twin, per_sample, len(cls.ALL), prove)
        cls.ALL[value] = kind
        return kind

    @classmethod
    def named(cls, value: str) -> Kind:
        """The kind called ``value`` (``"output-loss-slope"``)."""
        return cls.ALL[value]

    @property
    def batch(self) -> Kind | None:
        """The mini-batch kind that stacks this per-sample kind, if any."""
        return next((k for k in Kind.ALL.values() if k.per_sample is self), None)

    def __lt__(self, other: Kind) -> bool:
        return self.order < other.order

    def __repr__(self) -> str:
        return f"Kind({self.value!r})"

    # The built-in kinds (set below the class).
    FORWARD: ClassVar[Kind]
    ACTIVATION: ClassVar[Kind]
    PREDICTION: ClassVar[Kind]
    LOSS: ClassVar[Kind]
    LOSS_SLOPE: ClassVar[Kind]
    OUTPUT_DELTA: ClassVar[Kind]
    OUTPUT_DELTA_VECTOR: ClassVar[Kind]
    HIDDEN_GRAD: ClassVar[Kind]
    HIDDEN_GRAD_VECTOR: ClassVar[Kind]
    HIDDEN_DELTA: ClassVar[Kind]
    HIDDEN_DELTA_VECTOR: ClassVar[Kind]
    WEIGHT: ClassVar[Kind]
    WEIGHT_MATRIX: ClassVar[Kind]
    BIAS: ClassVar[Kind]
    BIAS_VECTOR: ClassVar[Kind]
    BATCH_FORWARD: ClassVar[Kind]
    BATCH_ACTIVATION: ClassVar[Kind]
    BATCH_PREDICTION: ClassVar[Kind]
    BATCH_LOSS: ClassVar[Kind]
    BATCH_OUTPUT_DELTA: ClassVar[Kind]
    BATCH_WEIGHT: ClassVar[Kind]
    BATCH_BIAS: ClassVar[Kind]
    BATCH_HIDDEN_GRAD: ClassVar[Kind]
    BATCH_HIDDEN_DELTA: ClassVar[Kind]


_S, _O, _H, _P, _B = Stage.SETUP, Stage.OUTPUT, Stage.HIDDEN, Stage.PARAMETERS, Stage.BATCH
Kind.FORWARD = Kind.define("forward", _S)
Kind.ACTIVATION = Kind.define("activation", _S)
Kind.PREDICTION = Kind.define("prediction", _S, per_layer=False)
Kind.LOSS = Kind.define("loss", _S, per_layer=False)
Kind.LOSS_SLOPE = Kind.define("output-loss-slope", _O, per_layer=False)
Kind.OUTPUT_DELTA = Kind.define("output-delta", _O, per_layer=False)
Kind.OUTPUT_DELTA_VECTOR = Kind.define(
    "output-delta-vector", _O, per_layer=False, twin=Kind.OUTPUT_DELTA
)
Kind.HIDDEN_GRAD = Kind.define("hidden-grad", _H)
Kind.HIDDEN_GRAD_VECTOR = Kind.define("hidden-grad-vector", _H, twin=Kind.HIDDEN_GRAD)
Kind.HIDDEN_DELTA = Kind.define("hidden-delta", _H)
Kind.HIDDEN_DELTA_VECTOR = Kind.define("hidden-delta-vector", _H, twin=Kind.HIDDEN_DELTA)
Kind.WEIGHT = Kind.define("weight", _P)
Kind.WEIGHT_MATRIX = Kind.define("weight-matrix", _P, twin=Kind.WEIGHT)
Kind.BIAS = Kind.define("bias", _P)
Kind.BIAS_VECTOR = Kind.define("bias-vector", _P, twin=Kind.BIAS)
Kind.BATCH_FORWARD = Kind.define("batch-forward", _B, per_sample=Kind.FORWARD)
Kind.BATCH_ACTIVATION = Kind.define("batch-activation", _B, per_sample=Kind.ACTIVATION)
Kind.BATCH_PREDICTION = Kind.define(
    "batch-prediction", _B, per_layer=False, per_sample=Kind.PREDICTION
)
Kind.BATCH_LOSS = Kind.define("batch-loss", _B, per_layer=False, per_sample=Kind.LOSS)
Kind.BATCH_OUTPUT_DELTA = Kind.define(
    "batch-output-delta", _B, per_layer=False, per_sample=Kind.OUTPUT_DELTA_VECTOR
)
Kind.BATCH_WEIGHT = Kind.define("batch-weight", _B, per_sample=Kind.WEIGHT_MATRIX)
Kind.BATCH_BIAS = Kind.define("batch-bias", _B, per_sample=Kind.BIAS_VECTOR)
Kind.BATCH_HIDDEN_GRAD = Kind.define("batch-hidden-grad", _B, per_sample=Kind.HIDDEN_GRAD_VECTOR)
Kind.BATCH_HIDDEN_DELTA = Kind.define("batch-hidden-delta", _B, per_sample=Kind.HIDDEN_DELTA_VECTOR)


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
        if self.kind.twin is None:
            raise KeyError(f"step {self} has no elementwise twin")
        return StepId(self.kind.twin, self.layer)

    def per_sample(self) -> StepId:
        """The per-sample step of a mini-batch step (``weight-matrix-2`` for ``batch-weight-2``)."""
        if self.kind.per_sample is None:
            raise KeyError(f"step {self} stacks no per-sample step")
        return StepId(self.kind.per_sample, self.layer)

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


def step(
    kind: Kind,
    layer: int,
    lhs: sp.Basic | EntryMatrix,
    forms: tuple,
    rules: tuple[Rule, ...],
    indices: tuple[tuple[sp.Symbol, int], ...] = (),
) -> Step:
    """A step, unnumbered and unproved."""
    return Step(StepId(kind, layer), lhs, forms, rules, indices)


__all__ = [
    "Check",
    "CheckMethod",
    "EntryMatrix",
    "Form",
    "Kind",
    "ProofMethod",
    "ProofSummary",
    "Rule",
    "Stage",
    "Step",
    "StepId",
    "step",
]
