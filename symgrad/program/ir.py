"""The program: the derivation lowered to a list of array statements, before any target.

The inspectable middle between the derivation and every code target (derivation -> proof ->
**program** -> targets). A :class:`Program` is straight-line code in single assignment: each
:class:`Statement` assigns one :class:`Var` a SymPy expression of earlier variables, built from
elementwise arithmetic and functions and the primitives of :mod:`symgrad.arrays` (matrix products,
row sums and maxima, sums over the batch). Each statement carries the :class:`StepId` of the step
of the derivation it implements, so every comment and equation number of generated code comes
from the derivation, and a note saying why it is written as it is (a stable form, say).

Shapes are tuples of dimensions; a dimension is a number or :data:`BATCH`, the number of rows
``B`` (rows are samples). ``()`` is one number.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import sympy as sp

from symgrad import notation as nt
from symgrad.spec import NetworkSpec
from symgrad.steps import StepId

#: The batch dimension ``B`` of a shape.
BATCH = "B"

Dim = int | str
Shape = tuple[Dim, ...]


class Role(enum.Enum):
    """Where a variable's value comes from."""

    INPUT = "input"  # X, Y and their columns
    PARAMETER = "parameter"  # W_k, b_k and their entries
    TEMPORARY = "temporary"


class Style(enum.Enum):
    """How the program is lowered: whole matrices over the batch, or one scalar at a time."""

    MATRIX = "matrix"
    SCALAR = "scalar"


@dataclass(frozen=True)
class Holds:
    """What a variable holds in the notation of the notes, for the worked example and the proof.

    ``quantity`` is a quantity of the naming table (None for the batch size ``B``); ``entry`` the
    0-based entry of a scalar program's variable (``(i, j)`` of ``W_{k}``). ``per_batch`` marks a
    gradient of a sample divided by ``B`` (the rows of ``Delta_k``): the batch loss is the mean.
    """

    quantity: nt.Quantity | None
    entry: tuple[int, ...] = ()
    per_batch: bool = False


@dataclass(frozen=True)
class Var:
    """A named value of the program: its shape, its role, and what it stands for."""

    name: str
    shape: Shape
    role: Role = Role.TEMPORARY
    meaning: Holds | None = None

    @property
    def symbol(self) -> sp.Symbol:
        """The SymPy symbol standing for this variable in statements."""
        return sp.Symbol(self.name, real=True)

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Statement:
    """``target = value``, implementing step ``step`` of the derivation (None for bookkeeping)."""

    target: Var
    value: sp.Expr
    step: StepId | None = None
    #: Why the value is written as it is ("computed as (1 + tanh(a/2))/2, which cannot
    #: overflow"); "" when it is the step's own formula.
    note: str = ""

    def reads(self) -> frozenset[str]:
        """The names of the variables the value reads."""
        return frozenset(s.name for s in self.value.free_symbols if isinstance(s, sp.Symbol))


@dataclass(frozen=True)
class Output:
    """A result of the program: one variable holding it whole, or its entries (scalar programs).

    ``entries`` are expressions (variables or numbers) in row-major order of ``shape``.
    """

    name: str
    shape: tuple[int, ...]
    whole: Var | None = None
    entries: tuple[sp.Expr, ...] = ()

    def reads(self) -> frozenset[str]:
        if self.whole is not None:
            return frozenset({self.whole.name})
        return frozenset(
            s.name for e in self.entries for s in e.free_symbols if isinstance(s, sp.Symbol)
        )


@dataclass(frozen=True)
class Program:
    """Straight-line array code for one network: inputs, statements, named outputs.

    Outputs are ``loss`` (the mean loss over the batch), ``yhat`` (the prediction, rows are
    samples) and one per parameter, named as the parameters (``W1``, ``b1``, ...): the gradient
    of the loss.
    """

    spec: NetworkSpec
    style: Style
    inputs: tuple[Var, ...]
    parameters: tuple[Var, ...]
    statements: tuple[Statement, ...]
    outputs: tuple[Output, ...]
    variables: dict[str, Var] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        table = {v.name: v for v in (*self.inputs, *self.parameters)}
        for statement in self.statements:
            table[statement.target.name] = statement.target
        object.__setattr__(self, "variables", table)

    def __iter__(self) -> Iterator[Statement]:
        return iter(self.statements)

    def __len__(self) -> int:
        return len(self.statements)

    def output(self, name: str) -> Output:
        for out in self.outputs:
            if out.name == name:
                return out
        raise KeyError(f"the program has no output {name!r}")

    def var(self, name: str) -> Var:
        return self.variables[name]

    def with_statements(
        self, statements: tuple[Statement, ...], outputs: tuple[Output, ...] | None = None
    ) -> Program:
        return replace(
            self, statements=statements, outputs=self.outputs if outputs is None else outputs
        )

    @property
    def gradient_names(self) -> tuple[str, ...]:
        """``W1, b1, ..., WL, bL``: the outputs that are gradients, in parameter order."""
        return tuple(parameter_shapes(self.spec))


def parameter_shapes(spec: NetworkSpec) -> dict[str, tuple[int, ...]]:
    """``{"W1": (n_1, n_0), "b1": (n_1,), ...}``: the parameters of ``spec`` and their shapes."""
    return nt.parameter_shapes(spec.sizes)
