"""The numeric proof: the gradient code computes, checked at a random point in high precision.

Part of the proof (derivation -> **proof** -> program), imported only when it runs. The gradient
under test comes from outside, as a function of a random :class:`Point` (the pipeline passes the
program lowered from the derivation, evaluated in :class:`~symgrad.proof.precision.HighPrecision`),
so the proof checks exactly what generated code computes, without depending on the program stage.

It is compared with the derivative of the composed loss, computed independently of the steps and
of the code forms: the forward pass of the definitions (``a_k = b_k + W_k h_{k-1}``, ``h_k =
g(a_k)`` with ``g`` as the catalogue defines it, ``yhat = O(a_L)`` and the loss as defined), and
a tangent pushed forward through it: moving one parameter moves one ``a_k``, then ``dh = g'(a) da``
with ``g'`` the derivative proved equal to ``sympy.diff`` of ``g``, ``da_{k+1} = W_{k+1} dh``, and
the output loss differentiated numerically along ``da_L`` by a central difference in twice the
working precision. Per layer: every bias (every unit's error signal) while that stays within
:data:`~symgrad.proof.common.UNIT_BUDGET`, a sample of weights with the corners, and one random
direction that moves every weight and bias of the layer at once (a wrong entry anywhere changes
it). The cost grows with the number of units, not of weights: products with the weights are exact
limb products in float64 (:mod:`symgrad.proof.precision`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import mpmath
import numpy as np
import sympy as sp

from symgrad import functions
from symgrad import notation as nt
from symgrad.derivation import Check, CheckMethod, Derivation, Kind, Step, StepId, build_step
from symgrad.domain import domains, placement
from symgrad.errors import ProofError
from symgrad.expressions import X
from symgrad.model import instantiate
from symgrad.network import Network
from symgrad.notation import Quantity
from symgrad.ops.output_loss import OutputAndLoss
from symgrad.proof.common import (
    TOLERANCE,
    UNIT_BUDGET,
    WIDE_OUTPUT_SAMPLE,
    sample_units,
    seed_for,
)
from symgrad.proof.precision import DIGITS, GridMatrix, elementwise, random_grid

#: Weights per layer in the sample (corners included) when not every weight fits the budget.
SAMPLE_WEIGHTS = 6
#: Biases per layer in the sample when not every bias fits the budget.
SAMPLE_BIASES = 8

Gradient = Mapping[str, Any]


@dataclass(frozen=True)
class Point:
    """A random point of the parameter space: grid weights, mpmath biases, one sample ``(x, y)``."""

    weights: dict[int, GridMatrix]
    biases: dict[int, np.ndarray]
    x: np.ndarray
    y: np.ndarray

    def params(self) -> dict[str, Any]:
        """``{"W1": ..., "b1": ...}``: the parameters as the program's evaluator reads them."""
        out: dict[str, Any] = {}
        for k in sorted(self.weights):
            out[nt.param_key("W", k)] = self.weights[k]
            out[nt.param_key("b", k)] = self.biases[k]
        return out


#: A watch of the forward pass: sees each quantity's value (one row) and may change it.
Watch = Callable[[Quantity, Any], Any]


@dataclass(frozen=True)
class Evaluated:
    """The program at a point: the gradient it computes (``{"W1": Outer or matrix, "b1": vector,
    ...}``) and every quantity of its forward pass (``a_k``, ``h_k``, ``yhat``: vectors)."""

    gradients: Gradient
    forward: Mapping[Quantity, np.ndarray]


class ProgramAt(Protocol):
    """The program generated code is printed from, run at a point in high precision (the
    pipeline passes it): the whole program, or its forward pass alone, with a watch."""

    def __call__(
        self, point: Point, *, forward_only: bool = False, watch: Watch | None = None
    ) -> Evaluated: ...


def random_point(net: Network, seed: int, program: ProgramAt | None = None) -> Point:
    """Weights on a grid (``|W| <~ 1.5/sqrt(n_{k-1})``), biases, input and a target that suits the
    loss (on the simplex for cross-entropy, in (0, 1) for binary cross-entropy).

    Where a hidden activation is not smooth on all reals (``log(x)``, ``sqrt(x)``, relu's kink),
    the forward pass of ``program`` places its pre-activations in the intervals ``symgrad check``
    uses too (:func:`symgrad.domain.placement`), moving the layer's biases to match: the
    definitions are compared at a point where both sides are real and finite.
    """
    rng = np.random.default_rng(seed)
    draw = random.Random(seed)
    weights, biases = {}, {}
    for k in range(1, net.L + 1):
        scale = 1.5 / max(1, net.n(k - 1)) ** 0.5
        weights[k] = random_grid(net.n(k), net.n(k - 1), scale, rng)
        biases[k] = np.array([mpmath.mpf(draw.uniform(-0.5, 0.5)) for _ in range(net.n(k))])
    x = np.array([mpmath.mpf(draw.uniform(-1, 1)) for _ in range(net.n(0))], dtype=object)
    pieces = _placements(net)
    if pieces:
        if program is None:
            raise ValueError("a network with a restricted activation needs its program to place")
        unplaced = Point(weights, biases, x, np.zeros(net.n(net.L), dtype=object))
        program(unplaced, forward_only=True, watch=_placer(pieces, biases, draw))
    return Point(weights, biases, x, random_targets(net, draw))


def _placements(net: Network) -> dict[int, list[tuple[float, float]]]:
    """The intervals the pre-activations of each hidden layer whose activation is not smooth on
    all reals must lie in."""
    found: dict[int, list[tuple[float, float]]] = {}
    for k in range(1, net.L):
        activation = net.activation(k)
        if domains(activation).smooth != sp.S.Reals:
            pieces = placement(activation)
            if not pieces:
                raise ProofError(
                    f"the activation {activation.name} is smooth on no interval; there is no "
                    "point to check it at"
                )
            found[k] = pieces
    return found


def _placer(
    pieces: dict[int, list[tuple[float, float]]], biases: dict[int, np.ndarray], draw: random.Random
) -> Watch:
    """A watch that moves each pre-activation ``a_{ki}`` outside its intervals into a random one,
    and the bias ``b_{ki}`` with it."""

    def watch(q: Quantity, value: Any) -> Any:
        if q.base != "a" or q.gradient or q.layer not in pieces:
            return value
        row = np.array(value, dtype=object).reshape(-1)
        for i, entry in enumerate(row):
            if not any(low <= entry <= high for low, high in pieces[q.layer]):
                low, high = pieces[q.layer][draw.randrange(len(pieces[q.layer]))]
                shift = mpmath.mpf(draw.uniform(low, high)) - entry
                biases[q.layer][i] += shift
                row[i] = entry + shift
        return row.reshape(np.shape(value))

    return watch


def random_targets(net: Network, draw: random.Random) -> np.ndarray:
    """Targets the loss is meant for (:attr:`symgrad.catalogue.Loss.targets`)."""
    n = net.n(net.L)
    kind = net.spec.pair.loss.targets
    if kind == "reals":
        return np.array([mpmath.mpf(draw.uniform(-1, 1)) for _ in range(n)], dtype=object)
    positive = [mpmath.mpf(draw.uniform(0.05, 1.0)) for _ in range(n)]
    if kind == "distribution":
        total = sum(positive)
        positive = [p / total for p in positive]
    return np.array(positive, dtype=object)


# The definitions, evaluated -------------------------------------------------------------------

_LOGIT = sp.IndexedBase("logit")
_YHAT = sp.IndexedBase("yhat")
_Y = sp.IndexedBase("y")


def _mpmath(expr: sp.Expr) -> Callable[[Any], Any]:
    """A function of ``x`` in the catalogue's notation as an mpmath function."""
    heaviside = {
        "Heaviside": lambda x, h0=0: mpmath.mpf(1) if x > 0 else mpmath.mpf(h0 if x == 0 else 0)
    }
    return sp.lambdify(X, expr, modules=[heaviside, "mpmath"])  # type: ignore[no-any-return]


def rowwise(expr: sp.Expr, tables: dict[sp.IndexedBase, np.ndarray]) -> Any:
    """An expression in the generic unit index, for every unit at once.

    ``logit[i]`` is the whole vector of logits; ``Sum(f(logit[j]), (j, 1, n))`` is a number. So
    the softmax ``exp(logit[i]) / Sum(exp(logit[j]))`` is the vector of its ``n`` values, in
    ``O(n)`` operations.
    """
    if isinstance(expr, sp.Indexed):
        return tables[expr.base]
    if isinstance(expr, sp.Sum):
        return sum(np.asarray(rowwise(expr.function, tables), dtype=object).ravel())
    if expr.is_number:  # 2, 1/2, and the constants e, pi, log(2)
        if expr.is_Rational:
            return mpmath.mpf(int(expr.p)) / int(expr.q)
        return mpmath.mpf(str(sp.N(expr, 2 * DIGITS + 20)))
    if isinstance(expr, sp.Add):
        total = rowwise(expr.args[0], tables)
        for arg in expr.args[1:]:
            total = total + rowwise(arg, tables)
        return total
    if isinstance(expr, sp.Mul):
        product = rowwise(expr.args[0], tables)
        for arg in expr.args[1:]:
            product = product * rowwise(arg, tables)
        return product
    entry = functions.of(expr)
    if entry is not None:
        return elementwise(entry.mpmath)(rowwise(expr.args[0], tables))
    if isinstance(expr, sp.Pow):
        base = rowwise(expr.base, tables)
        return elementwise(lambda b: b ** _exponent(expr.exp))(base)
    raise ProofError(f"cannot evaluate {type(expr).__name__} in the output layer")


def _exponent(value: sp.Expr) -> Any:
    return int(value) if value.is_Integer else mpmath.mpf(int(value.p)) / int(value.q)


class Definitions:
    """The loss as defined, in high precision, and tangents pushed through the network's ops.

    The forward pass is the program's (``forward``, the quantities its evaluation holds); the
    slopes are the catalogue's ``g'`` (proved equal to ``sympy.diff`` of ``g``) at its
    pre-activations.
    """

    def __init__(self, net: Network, point: Point, forward: Mapping[Quantity, np.ndarray]) -> None:
        self.net = net
        self.point = point
        L, n = net.L, net.n(net.L)
        i, j = nt.I, nt.J
        pair = net.spec.pair
        self.prediction = pair.output.prediction(lambda m: _LOGIT[m], i, j, n)
        self.term = pair.loss.term(_YHAT[i], _Y[i])
        self.g_prime = {k: elementwise(_mpmath(net.activation(k).derivative)) for k in range(1, L)}
        self.g = {k: elementwise(_mpmath(net.activation(k).function)) for k in range(1, L)}
        self.forward = forward
        self.a: dict[int, np.ndarray] = {}
        self.h: dict[int, np.ndarray] = {0: point.x}
        self.slopes: dict[int, np.ndarray] = {}
        for k in range(1, L + 1):
            self.a[k] = np.asarray(forward[nt.quantity("a", k)], dtype=object).reshape(-1)
            if k < L:
                self.h[k] = np.asarray(forward[nt.quantity("h", k)], dtype=object).reshape(-1)
                self.slopes[k] = self.g_prime[k](self.a[k])

    def slope(self, k: int) -> np.ndarray:
        """``g'(a_k)`` at the point."""
        return self.slopes[k]

    def value(self, q: Quantity) -> np.ndarray:
        """A quantity at the point: ``x``, a bias, or what the program's forward pass holds."""
        if q.base == "x":
            return self.point.x
        if q.base == "b":
            return self.point.biases[q.layer or 0]
        return np.asarray(self.forward[q], dtype=object).reshape(-1)

    def activation(self, k: int, a: np.ndarray) -> np.ndarray:
        """``g(a)`` of layer ``k``, as the catalogue defines it (not as code computes it)."""
        return self.g[k](a)  # type: ignore[no-any-return]

    def matvec(self, weight: Quantity, vector: np.ndarray) -> np.ndarray:
        """``W_k v`` exactly; one column of ``W_k`` when one entry of ``v`` is not 0."""
        matrix = self.point.weights[weight.layer or 0]
        nonzero = [r for r, v in enumerate(vector) if v != 0]
        if len(nonzero) == 1:
            (r,) = nonzero
            return matrix.column(r) * vector[r]  # type: ignore[no-any-return]
        return matrix.matvec(vector)

    def output_loss(self, logits: np.ndarray) -> Any:
        """The per-sample loss of the logits ``a_L``, as the catalogue defines it."""
        yhat = rowwise(self.prediction, {_LOGIT: logits})
        terms = rowwise(self.term, {_YHAT: np.asarray(yhat, dtype=object), _Y: self.point.y})
        return sum(np.asarray(terms, dtype=object).ravel())

    def loss(self) -> Any:
        return self.output_loss(self.a[self.net.L])

    def along(self, tangent: np.ndarray) -> Any:
        """``d/dt l(a_L + t tangent)`` at 0: a central difference in twice the working precision,
        whose truncation and rounding errors both stay far below ``10^-DIGITS``."""
        with mpmath.workdps(2 * DIGITS + 10):
            step = mpmath.mpf(10) ** (-DIGITS - 5)
            a = self.a[self.net.L]
            up = self.output_loss(a + step * tangent)
            down = self.output_loss(a - step * tangent)
            return (up - down) / (2 * step)

    def derivative(self, layer: int, tangent: np.ndarray) -> Any:
        """The derivative of the loss when ``a_layer`` moves by ``tangent``: the tangent pushed
        forward through each op after it (its own local derivative), then through the output and
        the loss."""
        net = self.net
        moved: dict[Quantity, Any] = {nt.quantity("a", layer): tangent}
        ops = net.forward_order()
        start = ops.index(net.producer(nt.quantity("a", layer)))  # type: ignore[arg-type]
        for op in ops[start + 1 :]:
            if not isinstance(op, OutputAndLoss):
                moved.update(op.tangent(self, moved))
        return self.along(moved[nt.quantity("a", net.L)])


# The proof ------------------------------------------------------------------------------------


class NumericProof:
    """The gradient under test against the derivative of the composed loss, layer by layer."""

    def __init__(self, derivation: Derivation, seed: int, program: ProgramAt) -> None:
        self.derivation = derivation
        self.net = derivation.network
        self.seed = seed
        self.program = program
        self.rng = random.Random(seed)
        #: The largest relative difference of every comparison made; the partials compared one
        #: by one, and the random directions (one per layer, moving every parameter of it).
        self.max_error = 0.0
        self.compared = 0
        self.directions = 0

    def run(self) -> dict[StepId, Check]:
        with mpmath.workdps(DIGITS + 10):
            return self._run()

    def _run(self) -> dict[StepId, Check]:
        net = self.net
        point = random_point(net, self.seed, self.program)
        evaluated = self.program(point)
        definitions = Definitions(net, point, evaluated.forward)
        self._check_forward(definitions)
        gradient = evaluated.gradients
        checks: dict[StepId, Check] = {}
        for k in range(1, net.L + 1):
            weight, bias = nt.quantity("W", k), nt.quantity("b", k)
            grad_w, grad_b = gradient[weight.json], gradient[bias.json]
            # What an op adds to the objective directly (a penalty on the weights), not through
            # the loss of the sample.
            own_w = [
                d for op in net.ops if (d := op.direct_gradient(definitions, weight)) is not None
            ]
            own_b = [
                d for op in net.ops if (d := op.direct_gradient(definitions, bias)) is not None
            ]
            rows, cols = net.n(k), net.n(k - 1)
            h = definitions.h[k - 1]
            weight_error, bias_error = 0.0, 0.0
            units, weights = self._sample(k)
            for r in units:
                tangent = _unit(rows, r - 1, mpmath.mpf(1))
                direct = definitions.derivative(k, tangent) + sum(d[r - 1] for d in own_b)
                bias_error = max(bias_error, self._record(direct, grad_b[r - 1], bias.partial(r)))
            for r, c in weights:
                tangent = _unit(rows, r - 1, h[c - 1])
                direct = definitions.derivative(k, tangent) + sum(d[r - 1, c - 1] for d in own_w)
                label = weight.partial(r, c)
                weight_error = max(weight_error, self._record(direct, grad_w[r - 1, c - 1], label))
            direction = random_grid(rows, cols, 1.0, np.random.default_rng(self.seed + k))
            shift = np.array([mpmath.mpf(self.rng.uniform(-1, 1)) for _ in range(rows)])
            direct = definitions.derivative(k, direction.matvec(h) + shift)
            direct += sum(_inner(d, direction) for d in own_w) + sum(sum(d * shift) for d in own_b)
            along = _inner(grad_w, direction) + sum(grad_b * shift)
            error = self._record(direct, along, f"dL/d(a random direction of layer {k})")
            self.compared -= 1
            self.directions += 1
            weight_error, bias_error = max(weight_error, error), max(bias_error, error)
            checks[StepId(Kind.WEIGHT, k)] = _check(len(weights), rows * cols, weight_error)
            checks[StepId(Kind.BIAS, k)] = _check(len(units), rows, bias_error)
        if net.input_gradient:
            self._check_input(definitions, gradient[nt.INPUT_GRADIENT])
        return checks

    def _check_input(self, definitions: Definitions, grad_x: Any) -> None:
        """The program's gradient with respect to the input along a random direction of ``x``,
        against the derivative of the loss when ``x`` moves that way (pushed through every op)."""
        net = self.net
        tangent = np.array([mpmath.mpf(self.rng.uniform(-1, 1)) for _ in range(net.n(0))])
        moved: dict[Quantity, Any] = {nt.quantity("x"): tangent}
        for op in net.forward_order():
            if not isinstance(op, OutputAndLoss):
                moved.update(op.tangent(definitions, moved))
        direct = definitions.along(moved[nt.quantity("a", net.L)])
        along = sum(g * t for g, t in zip(np.asarray(grad_x).ravel(), tangent, strict=True))
        self._record(direct, along, "dL/d(a random direction of x)")
        self.compared -= 1  # a direction, not a parameter
        self.directions += 1

    def _check_forward(self, definitions: Definitions) -> None:
        """The program's forward pass against the definitions, op by op: each quantity an op
        makes, computed by its definition from the program's values of its inputs."""
        for op in self.net.forward_order():
            for q, expected in op.evaluate(definitions).items():
                held = definitions.value(q)
                for unit, (want, got) in enumerate(zip(expected, held, strict=True), start=1):
                    relative = float(abs(want - got) / max(mpmath.mpf(1), abs(want)))
                    if not relative <= TOLERANCE:
                        raise ProofError(
                            f"{q.label(unit)}: the program's forward pass differs from its "
                            f"definition by {relative:.3g} (relative, at {DIGITS} digits)"
                        )

    def _sample(self, k: int) -> tuple[list[int], list[tuple[int, int]]]:
        """The biases and weights of layer ``k`` checked one by one: all of them while the work
        stays within the budget, else a deterministic sample with the first and last."""
        net = self.net
        rows, cols = net.n(k), net.n(k - 1)
        cost = self._downstream_cost(k)
        affordable = max(2, UNIT_BUDGET // cost)
        units = sample_units(rows, min(rows, max(affordable, 2), SAMPLE_BIASES), self.seed + k)
        if rows <= affordable:
            units = list(range(1, rows + 1))
        if rows * cols <= affordable:
            return units, [(r, c) for r in range(1, rows + 1) for c in range(1, cols + 1)]
        count = min(rows * cols, max(2, min(SAMPLE_WEIGHTS, affordable)))
        chosen = {(1, 1), (rows, cols)}
        while len(chosen) < count:
            chosen.add((self.rng.randint(1, rows), self.rng.randint(1, cols)))
        return units, sorted(chosen)

    def _downstream_cost(self, k: int) -> int:
        """High-precision operations of one tangent from layer k: one per unit it passes through
        (a product with the weights is a limb product in float64, about a thousand times
        cheaper per multiplication), and the output loss twice at twice the precision."""
        net = self.net
        units = sum(net.n(m) for m in range(k, net.L + 1))
        products = sum(net.n(m) * net.n(m - 1) for m in range(k + 2, net.L + 1)) // 1000
        return max(1, 2 * units + products + 40 * net.n(net.L))

    def _record(self, expected: Any, value: Any, label: str) -> float:
        """The relative difference of ``value`` from ``expected``; a ProofError past tolerance."""
        scale = max(mpmath.mpf(1), abs(expected))
        relative = float(abs(expected - value) / scale)
        self.compared += 1
        self.max_error = max(self.max_error, relative)
        if not relative <= TOLERANCE:
            raise ProofError(
                f"{label}: the gradient differs from the derivative of the composed loss by "
                f"{relative:.3g} (relative, at {DIGITS} digits)"
            )
        return relative


def _unit(n: int, index: int, value: Any) -> np.ndarray:
    vector = np.array([mpmath.mpf(0)] * n, dtype=object)
    vector[index] = value
    return vector


def _inner(gradient: Any, direction: GridMatrix) -> Any:
    """``<grad_{W_k} L, V>``: for an outer product (or a sum with one) without multiplying it
    out."""
    if hasattr(gradient, "inner"):
        return gradient.inner(direction)
    rows, cols = direction.shape
    return sum(gradient[r, c] * direction.entry(r, c) for r in range(rows) for c in range(cols))


def _check(entries: int, total: int, error: float) -> Check:
    return Check(
        CheckMethod.NUMERIC,
        entries=entries,
        total=total,
        points=1,
        digits=DIGITS,
        max_error=error,
    )


# Wide output layers ---------------------------------------------------------------------------


def check_output_numeric(net: Network, step: Step) -> Check:
    """Output-layer steps of a wide output layer, at a random point in high precision.

    Every form of the step, for a sample of output units, is evaluated with the partials it
    names (``dL/dyhat_j``, ``dyhat_j/da_{Li}``) computed by differentiating the definitions of the
    loss and of the output function numerically, and compared with the derivative of
    ``l(O(a_L))`` itself.
    """
    L, n = net.L, net.n(net.L)
    seed = seed_for(net.spec.sizes) + 11
    units = sample_units(n, WIDE_OUTPUT_SAMPLE, seed)
    draw = random.Random(seed)
    largest = 0.0
    with mpmath.workdps(DIGITS + 10):
        logits = np.array([mpmath.mpf(draw.uniform(-2, 2)) for _ in range(n)], dtype=object)
        point = Point({}, {}, np.array([], dtype=object), random_targets(net, draw))
        definitions = _OutputOnly(net, point, logits)
        yhat = np.asarray(rowwise(definitions.prediction, {_LOGIT: logits}), dtype=object)
        values: dict[sp.Basic, sp.Basic] = {}
        for m in range(1, n + 1):
            values[nt.prediction(m)] = _float(yhat[m - 1])
            values[nt.target(m)] = _float(point.y[m - 1])
            values[nt.pre(L, m)] = _float(logits[m - 1])
        if step.kind is Kind.OUTPUT_DELTA_VECTOR:
            twin = build_step(net, step.id.twin())
        slopes = definitions.loss_slopes(yhat)
        for unit in units:
            tangent = _unit(n, unit - 1, mpmath.mpf(1))
            if step.kind is Kind.LOSS_SLOPE:
                direct = slopes[unit - 1]
                got = [_number(instantiate(f, i=unit).xreplace(values)) for f in step.forms]
            elif step.kind is Kind.OUTPUT_DELTA:
                direct = definitions.along(tangent)
                local = dict(values)
                moved = definitions.prediction_along(tangent)
                for j in range(1, n + 1):
                    local[nt.partial(nt.prediction(j), nt.pre(L, unit))] = _float(moved[j - 1])
                    local[nt.partial(nt.prediction(j))] = _float(slopes[j - 1])
                got = [_number(instantiate(f, i=unit).xreplace(local)) for f in step.forms]
            else:
                direct = definitions.along(tangent)
                got = [_number(instantiate(twin.final, i=unit).xreplace(values))]
            for value in got:
                error = float(abs(value - direct) / max(mpmath.mpf(1), abs(direct)))
                largest = max(largest, error)
                if not error <= TOLERANCE:
                    raise ProofError(f"step {step.key} fails for output unit {unit}")
    return Check(
        CheckMethod.NUMERIC, entries=len(units), total=n, points=1, digits=DIGITS, max_error=largest
    )


class _OutputOnly(Definitions):
    """The definitions of the output layer alone, at given logits."""

    def __init__(self, net: Network, point: Point, logits: np.ndarray) -> None:
        self.net = net
        self.point = point
        n = net.n(net.L)
        pair = net.spec.pair
        self.prediction = pair.output.prediction(lambda m: _LOGIT[m], nt.I, nt.J, n)
        self.term = pair.loss.term(_YHAT[nt.I], _Y[nt.I])
        self.a = {net.L: logits}

    def prediction_along(self, tangent: np.ndarray) -> np.ndarray:
        """``d yhat / dt`` when the logits move along ``tangent``."""
        with mpmath.workdps(2 * DIGITS + 10):
            step = mpmath.mpf(10) ** (-DIGITS - 5)
            a = self.a[self.net.L]
            up = np.asarray(rowwise(self.prediction, {_LOGIT: a + step * tangent}), dtype=object)
            down = np.asarray(rowwise(self.prediction, {_LOGIT: a - step * tangent}), dtype=object)
            return (up - down) / (2 * step)

    def loss_slopes(self, yhat: np.ndarray) -> np.ndarray:
        """Every ``dL/dyhat_j``: the loss is a sum of one term per unit, so each term is
        differentiated in its own ``yhat_j``, all at once."""
        with mpmath.workdps(2 * DIGITS + 10):
            step = mpmath.mpf(10) ** (-DIGITS - 5)
            up = rowwise(self.term, {_YHAT: yhat + step, _Y: self.point.y})
            down = rowwise(self.term, {_YHAT: yhat - step, _Y: self.point.y})
            return np.asarray((up - down) / (2 * step), dtype=object)


def _float(value: object) -> sp.Float:
    return sp.Float(mpmath.nstr(value, DIGITS + 5), DIGITS + 5)


def _number(expr: sp.Basic) -> object:
    """A SymPy expression of numbers as an mpmath number at the working precision."""
    return mpmath.mpf(str(sp.N(expr, DIGITS + 5)))
