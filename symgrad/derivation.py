"""The derivation as data: ordered steps of the three stages of the notes, for every layer.

The visible middle of the pipeline. :func:`derive` turns a :class:`~symgrad.spec.NetworkSpec` into
a :class:`Derivation`: a list of :class:`Step` objects, each an equation ``lhs = rhs_1 = rhs_2 ...``
of SymPy objects (never strings) with the rule that justifies every ``=`` and, after
:mod:`symgrad.proof` has run, the check that proved it. Every renderer (terminal, LaTeX, Markdown,
NumPy) consumes this one object, so the notes, the printout and the code cannot disagree.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING, Union

import sympy as sp

from symgrad import notation as nt
from symgrad.model import I, J, Network, product
from symgrad.spec import NetworkSpec

if TYPE_CHECKING:
    from symgrad.proof import ProofSummary


class Stage(enum.Enum):
    """The parts of the notes, in order."""

    SETUP = "setup"
    OUTPUT = "output layer"
    HIDDEN = "hidden layers"
    PARAMETERS = "parameters"


class Rule(enum.Enum):
    """Why one form of a step equals the next."""

    DEFINITION = "definition"
    LOSS_DERIVATIVE = "derivative of the loss"
    CHAIN_RULE = "chain rule"
    LOCAL_DERIVATIVE = "derivative of the layer equation"
    OUTPUT_DERIVATIVE = "derivative of the output function"
    ACTIVATION_DERIVATIVE = "derivative of the activation"
    ALGEBRA = "algebra"
    TARGETS_SUM_TO_ONE = "algebra, with sum_i y_i = 1"
    MATRIX_FORM = "the same equation for every entry, in matrix form"
    ENTRIES = "the entries of the matrix"
    OUTER_PRODUCT = "outer product"


class Kind(enum.Enum):
    """What a step computes; stable names for renderers, labels and code comments."""

    FORWARD = "forward"
    ACTIVATION = "activation"
    PREDICTION = "prediction"
    LOSS = "loss"
    LOSS_SLOPE = "dL_dyhat"
    OUTPUT_DELTA = "dL_daL"
    OUTPUT_DELTA_VECTOR = "grad_aL"
    HIDDEN_GRAD = "dL_dh"
    HIDDEN_GRAD_VECTOR = "grad_h"
    HIDDEN_DELTA = "dL_da"
    HIDDEN_DELTA_VECTOR = "grad_a"
    WEIGHT = "dL_dW"
    WEIGHT_MATRIX = "grad_W"
    BIAS = "dL_db"
    BIAS_VECTOR = "grad_b"


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


@dataclass(frozen=True)
class Step:
    """One equation of the derivation: ``lhs = forms[0] = forms[1] = ...``.

    ``rules[n]`` justifies ``forms[n]``. ``indices`` are the generic indices the equation holds
    for, with their ranges (``i = 1..n_k``).
    """

    key: str
    stage: Stage
    kind: Kind
    layer: int
    lhs: Form
    forms: tuple[Form, ...]
    rules: tuple[Rule, ...]
    indices: tuple[tuple[sp.Symbol, int], ...] = ()
    check: Check | None = None

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

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps)

    def stage(self, stage: Stage) -> list[Step]:
        return [s for s in self.steps if s.stage is stage]

    def step(self, kind: Kind, layer: int) -> Step:
        for s in self.steps:
            if s.kind is kind and s.layer == layer:
                return s
        raise KeyError(f"no step {kind.value} for layer {layer}")

    def number(self, step: Step) -> int:
        """The equation number of ``step`` (1-based, in order), shared by notes and code."""
        return self.steps.index(step) + 1

    def with_steps(self, steps: tuple[Step, ...], proof: ProofSummary) -> Derivation:
        return replace(self, steps=steps, proof=proof)

    def _repr_latex_(self) -> str:
        from symgrad.render.notes import render_fragment_for_jupyter

        return render_fragment_for_jupyter(self)

    def _repr_markdown_(self) -> str:
        from symgrad.render.notes import render_markdown

        return render_markdown(self)


def derive(spec: NetworkSpec, *, prove: bool = True, method: str = "auto") -> Derivation:
    """Derive every partial and gradient of the loss for ``spec``; prove each step unless told not.

    ``method`` chooses the proof (``auto``, ``composed`` or ``numeric``; see :mod:`symgrad.proof`).
    """
    network = Network(spec)
    derivation = Derivation(spec, network, tuple(_build_steps(network)))
    if not prove:
        return derivation
    from symgrad.proof import prove as run_proof

    return run_proof(derivation, method=method)


def _build_steps(net: Network) -> Iterator[Step]:
    L = net.L
    yield from _setup_steps(net)
    yield from _output_steps(net)
    for k in range(L - 1, 0, -1):
        yield from _hidden_steps(net, k)
    for k in range(L, 0, -1):
        yield from _parameter_steps(net, k)


def _setup_steps(net: Network) -> Iterator[Step]:
    L = net.L
    for k in range(1, L + 1):
        yield Step(
            f"forward-{k}",
            Stage.SETUP,
            Kind.FORWARD,
            k,
            nt.pre(k, I),
            (net.pre_activation(k, I),),
            (Rule.DEFINITION,),
            ((I, net.n(k)),),
        )
        if k < L:
            g = net.g(k)
            yield Step(
                f"activation-{k}",
                Stage.SETUP,
                Kind.ACTIVATION,
                k,
                nt.post(k, J),
                (g(nt.pre(k, J)), net.activation_value(k, J)),
                (Rule.DEFINITION, Rule.DEFINITION),
                ((J, net.n(k)),),
            )
    yield Step(
        "prediction",
        Stage.SETUP,
        Kind.PREDICTION,
        L,
        nt.prediction(I),
        (net.prediction(I),),
        (Rule.DEFINITION,),
        ((I, net.n(L)),),
    )
    yield Step("loss", Stage.SETUP, Kind.LOSS, L, nt.LOSS, (net.loss(),), (Rule.DEFINITION,))


def _output_steps(net: Network) -> Iterator[Step]:
    L, n = net.L, net.n(net.L)
    yield Step(
        "output-loss-slope",
        Stage.OUTPUT,
        Kind.LOSS_SLOPE,
        L,
        nt.partial(nt.prediction(I)),
        (net.loss_slope(I),),
        (Rule.LOSS_DERIVATIVE,),
        ((I, n),),
    )
    lhs = nt.partial(nt.pre(L, I))
    if net.diagonal_output:
        # yhat_i depends on a_{Li} alone: the sum over j has one term.
        chain = product(nt.partial(nt.prediction(I)), nt.partial(nt.prediction(I), nt.pre(L, I)))
        jacobian = net.output_jacobian(I, I).xreplace({sp.KroneckerDelta(I, I): sp.Integer(1)})
        jacobian = sp.Mul(*[f for f in jacobian.args if f != 1], evaluate=False)
        applied = product(net.loss_slope(I), jacobian) if jacobian != 1 else net.loss_slope(I)
    else:
        chain = sp.Sum(
            product(nt.partial(nt.prediction(J)), nt.partial(nt.prediction(J), nt.pre(L, I))),
            (J, 1, n),
        )
        applied = sp.Sum(product(net.loss_slope(J), net.output_jacobian(J, I)), (J, 1, n))
    last_rule = Rule.TARGETS_SUM_TO_ONE if net.assumes_targets_sum_to_one else Rule.ALGEBRA
    forms: tuple[sp.Basic, ...] = (chain, applied, net.output_delta(I))
    rules: tuple[Rule, ...] = (Rule.CHAIN_RULE, Rule.OUTPUT_DERIVATIVE, last_rule)
    if net.spec.output == "identity":
        forms, rules = forms[:2], rules[:2]  # the product is already as simple as it gets
    yield Step("output-delta", Stage.OUTPUT, Kind.OUTPUT_DELTA, L, lhs, forms, rules, ((I, n),))
    yield Step(
        "output-delta-vector",
        Stage.OUTPUT,
        Kind.OUTPUT_DELTA_VECTOR,
        L,
        net.grad("a", L),
        (net.output_delta_vector(),),
        (Rule.MATRIX_FORM,),
    )


def _hidden_steps(net: Network, k: int) -> Iterator[Step]:
    n_next = net.n(k + 1)
    yield Step(
        f"hidden-grad-{k}",
        Stage.HIDDEN,
        Kind.HIDDEN_GRAD,
        k,
        nt.partial(nt.post(k, J)),
        (
            sp.Sum(
                product(nt.partial(nt.pre(k + 1, I)), nt.partial(nt.pre(k + 1, I), nt.post(k, J))),
                (I, 1, n_next),
            ),
            sp.Sum(product(nt.partial(nt.pre(k + 1, I)), nt.weight(k + 1, I, J)), (I, 1, n_next)),
        ),
        (Rule.CHAIN_RULE, Rule.LOCAL_DERIVATIVE),
        ((J, net.n(k)),),
    )
    yield Step(
        f"hidden-grad-vector-{k}",
        Stage.HIDDEN,
        Kind.HIDDEN_GRAD_VECTOR,
        k,
        net.grad("h", k),
        (net.weight_matrix(k + 1).T * net.grad("a", k + 1),),
        (Rule.MATRIX_FORM,),
    )
    g_prime = net.g_prime(k)
    forms = [
        product(nt.partial(nt.post(k, J)), nt.partial(nt.post(k, J), nt.pre(k, J))),
        product(nt.partial(nt.post(k, J)), g_prime(nt.pre(k, J))),
        product(nt.partial(nt.post(k, J)), net.activation_slope(k, J)),
    ]
    rules = [Rule.CHAIN_RULE, Rule.DEFINITION, Rule.ACTIVATION_DERIVATIVE]
    yield Step(
        f"hidden-delta-{k}",
        Stage.HIDDEN,
        Kind.HIDDEN_DELTA,
        k,
        nt.partial(nt.pre(k, J)),
        tuple(forms),
        tuple(rules),
        ((J, net.n(k)),),
    )
    gprime_vector = nt.matrix("gprime", k, net.n(k))
    vector_forms: list[sp.Basic] = [sp.HadamardProduct(net.grad("h", k), gprime_vector)]
    slope = net.slope_vector(k)
    if slope != gprime_vector:
        vector_forms.append(
            net.grad("h", k)
            if slope == sp.OneMatrix(net.n(k), 1)
            else sp.HadamardProduct(net.grad("h", k), *_factors(slope))
        )
    yield Step(
        f"hidden-delta-vector-{k}",
        Stage.HIDDEN,
        Kind.HIDDEN_DELTA_VECTOR,
        k,
        net.grad("a", k),
        tuple(vector_forms),
        (Rule.MATRIX_FORM, Rule.ACTIVATION_DERIVATIVE)[: len(vector_forms)],
    )


def _factors(expr: sp.MatrixExpr) -> tuple[sp.MatrixExpr, ...]:
    return expr.args if isinstance(expr, sp.HadamardProduct) else (expr,)


def _weight_partial(k: int, r: int, c: int) -> sp.Expr:
    """Entry (r, c) of the matrix of partials: ``dL/dW_{krc}``."""
    return nt.partial(nt.weight(k, r, c))


def _weight_applied(k: int, r: int, c: int) -> sp.Expr:
    """Entry (r, c) with the formula applied: ``dL/da_{kr} h_{k-1,c}``."""
    return product(nt.partial(nt.pre(k, r)), nt.post(k - 1, c))


def _bias_partial(k: int, r: int, c: int) -> sp.Expr:
    return nt.partial(nt.bias(k, r))


def _bias_applied(k: int, r: int, c: int) -> sp.Expr:
    return nt.partial(nt.pre(k, r))


def _parameter_steps(net: Network, k: int) -> Iterator[Step]:
    rows, cols = net.n(k), net.n(k - 1)
    weight, delta = nt.weight(k, I, J), nt.partial(nt.pre(k, I))
    yield Step(
        f"weight-{k}",
        Stage.PARAMETERS,
        Kind.WEIGHT,
        k,
        nt.partial(weight),
        (product(delta, nt.partial(nt.pre(k, I), weight)), product(delta, nt.post(k - 1, J))),
        (Rule.CHAIN_RULE, Rule.LOCAL_DERIVATIVE),
        ((I, rows), (J, cols)),
    )
    yield Step(
        f"weight-matrix-{k}",
        Stage.PARAMETERS,
        Kind.WEIGHT_MATRIX,
        k,
        net.grad("W", k),
        (
            EntryMatrix(rows, cols, partial(_weight_partial, k)),
            EntryMatrix(rows, cols, partial(_weight_applied, k)),
            net.grad("a", k) * net.vector("h", k - 1).T,
        ),
        (Rule.ENTRIES, Rule.CHAIN_RULE, Rule.OUTER_PRODUCT),
    )
    bias = nt.bias(k, I)
    yield Step(
        f"bias-{k}",
        Stage.PARAMETERS,
        Kind.BIAS,
        k,
        nt.partial(bias),
        (product(delta, nt.partial(nt.pre(k, I), bias)), delta),
        (Rule.CHAIN_RULE, Rule.LOCAL_DERIVATIVE),
        ((I, rows),),
    )
    yield Step(
        f"bias-vector-{k}",
        Stage.PARAMETERS,
        Kind.BIAS_VECTOR,
        k,
        net.grad("b", k),
        (
            EntryMatrix(rows, 1, partial(_bias_partial, k)),
            EntryMatrix(rows, 1, partial(_bias_applied, k)),
            net.grad("a", k),
        ),
        (Rule.ENTRIES, Rule.CHAIN_RULE, Rule.MATRIX_FORM),
    )
