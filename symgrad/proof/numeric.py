"""The numeric half of the proof: high-precision checks for networks too large to compose.

Imported by :mod:`symgrad.proof` only when a network needs it, so ``symgrad derive`` on a small
network does not pay for NumPy. Everything here runs in mpmath at :data:`~symgrad.proof.DIGITS`
digits on object arrays.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from functools import cache
from typing import Any

import mpmath
import numpy as np
import sympy as sp

from symgrad import notation as nt
from symgrad.derivation import (
    Check,
    CheckMethod,
    Derivation,
    EntryMatrix,
    Kind,
    Step,
    StepId,
    backward_pass,
    build_step,
)
from symgrad.errors import ProofError
from symgrad.expressions import X
from symgrad.model import Elementwise, Network, instantiate
from symgrad.proof.common import (
    DIGITS,
    SAMPLE_PER_LAYER,
    TOLERANCE,
    UNIT_BUDGET,
    WIDE_OUTPUT_SAMPLE,
    sample_units,
    seed_for,
)


def check_output_numeric(net: Network, step: Step) -> Check:
    """Output-layer steps of a wide output layer, at a random point in high precision.

    Every form of the step, for a sample of output units, is evaluated with its partials
    (``dL/dyhat_j``, ``dyhat_j/da_{Li}``) computed by differentiating the loss and the output
    function numerically, and compared with the derivative of ``l(O(a_L))`` itself.
    """
    L, n = net.L, net.n(net.L)
    output, loss = net.spec.output, net.spec.loss
    units = sample_units(n, WIDE_OUTPUT_SAMPLE, seed_for(net.spec.sizes) + 11)
    largest = 0.0
    with mpmath.workdps(DIGITS):
        logits, y, yhat, values, slopes = _output_point(net)
        if step.kind is Kind.OUTPUT_DELTA_VECTOR:
            # The vector form, evaluated once; each sampled entry is compared with the
            # elementwise dL/da_{Li} of the twin step.
            vector = _evaluate(step.forms[0], {"yhat": yhat.reshape(-1, 1), "y": y.reshape(-1, 1)})
            twin = build_step(net, step.id.twin())
        for unit in units:

            def moved(t: object, unit: int = unit) -> np.ndarray:
                shifted = logits.copy()
                shifted[unit - 1] += t
                return shifted

            if step.kind is Kind.LOSS_SLOPE:
                index = unit - 1

                def term(t: object, index: int = index) -> object:
                    return _mp_loss(loss, yhat[index : index + 1] + t, y[index : index + 1])

                direct = _central(term)
                got = [_number(instantiate(f, i=unit).xreplace(values)) for f in step.forms]
            elif step.kind is Kind.OUTPUT_DELTA:

                def composed(t: object, moved: Callable[[object], np.ndarray] = moved) -> object:
                    return _mp_loss(loss, _mp_prediction(output, moved(t)), y)

                def predicted(t: object, moved: Callable[[object], np.ndarray] = moved) -> object:
                    return _mp_prediction(output, moved(t))

                direct = _central(composed)
                jacobian = _central(predicted)
                local = {**values, **slopes}
                for j in range(1, n + 1):
                    local[nt.partial(nt.prediction(j), nt.pre(L, unit))] = _float(jacobian[j - 1])
                got = [_number(instantiate(f, i=unit).xreplace(local)) for f in step.forms]
            else:
                direct = _number(instantiate(twin.final, i=unit).xreplace(values))
                got = [vector[unit - 1, 0]]
            for value in got:
                error = float(abs(value - direct) / max(mpmath.mpf(1), abs(direct)))
                largest = max(largest, error)
                if error > TOLERANCE:
                    raise ProofError(f"step {step.key} fails for output unit {unit}")
    return Check(
        CheckMethod.NUMERIC,
        entries=len(units),
        total=n,
        points=1,
        digits=DIGITS,
        max_error=largest,
    )


def _mp_targets(loss: str, n: int, rng: random.Random) -> np.ndarray:
    """Random targets valid for ``loss``: on the simplex for cross-entropy (the notes assume
    ``sum_i y_i = 1`` there), in (0, 1) for binary cross-entropy, in (-1, 1) otherwise."""
    positive = [mpmath.mpf(rng.uniform(0.05, 1.0)) for _ in range(n)]
    if loss == "cross-entropy":
        total = sum(positive)
        return np.array([p / total for p in positive], dtype=object)
    if loss == "binary-cross-entropy":
        return np.array(positive, dtype=object)
    return np.array([mpmath.mpf(rng.uniform(-1, 1)) for _ in range(n)], dtype=object)


@cache
def _output_point(net: Network) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict, dict]:
    """A random point of the output layer: logits, targets, prediction, the same as SymPy
    numbers for substitution, and every ``dL/dyhat_j`` (each loss is a sum over units, so its
    j-th term alone is differentiated)."""
    L, n = net.L, net.n(net.L)
    output, loss = net.spec.output, net.spec.loss
    rng = random.Random(seed_for(net.spec.sizes) + 11)
    logits = np.array([mpmath.mpf(rng.uniform(-2, 2)) for _ in range(n)], dtype=object)
    y = _mp_targets(loss, n, rng)
    yhat = _mp_prediction(output, logits)
    values: dict[sp.Basic, sp.Basic] = {}
    slopes: dict[sp.Basic, sp.Basic] = {}
    for j in range(1, n + 1):
        values[nt.prediction(j)] = _float(yhat[j - 1])
        values[nt.target(j)] = _float(y[j - 1])
        values[nt.pre(L, j)] = _float(logits[j - 1])
        index = j - 1

        def term(t: object, index: int = index) -> object:
            return _mp_loss(loss, yhat[index : index + 1] + t, y[index : index + 1])

        slopes[nt.partial(nt.prediction(j))] = _float(_central(term))
    return logits, y, yhat, values, slopes


def _central(function: Callable[[object], Any]) -> Any:
    """The derivative at 0 of ``function`` (scalar or array valued), by a central difference
    at twice the working precision: truncation and rounding both stay far below 10^-DIGITS."""
    with mpmath.workdps(2 * DIGITS + 10):
        step = mpmath.mpf(10) ** (-DIGITS - 5)
        return (function(step) - function(-step)) / (2 * step)


def _float(value: object) -> sp.Float:
    return sp.Float(mpmath.nstr(value, DIGITS + 5), DIGITS + 5)


def _number(expr: sp.Basic) -> object:
    """A SymPy expression of numbers as an mpmath number at the working precision."""
    return mpmath.mpf(str(sp.N(expr, DIGITS + 5)))


# The numeric proof of larger networks ----------------------------------------------------------

_MP_FUNCTIONS = {
    "Heaviside": lambda x, h0=0: mpmath.mpf(1) if x > 0 else mpmath.mpf(h0 if x == 0 else 0),
}


def _mp_function(expr: sp.Expr) -> np.ufunc:
    """``expr`` in ``x`` as an mpmath function applied elementwise to object arrays."""
    scalar = sp.lambdify(X, expr, modules=[_MP_FUNCTIONS, "mpmath"])
    return np.frompyfunc(scalar, 1, 1)


class NumericProof:
    """Chain-rule gradient (matrix forms) against high-precision derivatives of the composed loss"""

    def __init__(self, derivation: Derivation, seed: int) -> None:
        self.derivation = derivation
        self.net = derivation.network
        self.rng = random.Random(seed)
        #: The largest relative difference of every comparison made.
        self.max_error = 0.0

    def run(self) -> dict[StepId, Check]:
        with mpmath.workdps(DIGITS):
            return self._run()

    def _random(self, scale: float = 1.0) -> object:
        return mpmath.mpf(self.rng.uniform(-scale, scale))

    def _point(self) -> None:
        net, L = self.net, self.net.L
        self.W = {}
        self.b = {}
        for k in range(1, L + 1):
            scale = 1.5 / max(1, net.n(k - 1)) ** 0.5
            self.W[k] = np.array(
                [[self._random(scale) for _ in range(net.n(k - 1))] for _ in range(net.n(k))],
                dtype=object,
            )
            self.b[k] = np.array([self._random(0.5) for _ in range(net.n(k))], dtype=object)
        self.x = np.array([self._random(1.0) for _ in range(net.n(0))], dtype=object)
        n = net.n(L)
        self.y = _mp_targets(net.spec.loss, n, self.rng)
        self.g = {k: _mp_function(net.activation(k).function) for k in range(1, L)}
        self.g_prime = {k: _mp_function(net.activation(k).derivative) for k in range(1, L)}

    def _forward_from(self, k: int, a_k: np.ndarray, h: dict, a: dict) -> object:
        """Loss with ``a_k`` replaced; fills ``h`` and ``a`` from layer k on."""
        L = self.net.L
        a[k] = a_k
        for m in range(k, L + 1):
            if m > k:
                a[m] = self.W[m].dot(h[m - 1]) + self.b[m]
            if m < L:
                h[m] = self.g[m](a[m])
        return self._loss(a[L])

    def _prediction(self, logits: np.ndarray) -> np.ndarray:
        return _mp_prediction(self.net.spec.output, logits)

    def _loss(self, logits: np.ndarray) -> object:
        return _mp_loss(self.net.spec.loss, self._prediction(logits), self.y)

    def _run(self) -> dict[StepId, Check]:
        net, L = self.net, self.net.L
        self._point()
        h: dict[int, np.ndarray] = {0: self.x}
        a: dict[int, np.ndarray] = {}
        a[1] = self.W[1].dot(self.x) + self.b[1]
        self._forward_from(1, a[1], h, a)
        env = self._environment(h, a)
        grads = self._chain_gradients(env)
        checks: dict[StepId, Check] = {}
        for k in range(1, L + 1):
            weights = self._sample_parameters(k, "W")
            biases = self._sample_parameters(k, "b")
            weight_error = max(
                (self._compare(k, r, c, grads[("W", k)][r - 1, c - 1], h, a) for r, c in weights),
                default=0.0,
            )
            bias_error = max(
                (self._compare(k, r, 0, grads[("b", k)][r - 1, 0], h, a) for r, _ in biases),
                default=0.0,
            )
            total_w, total_b = net.n(k) * net.n(k - 1), net.n(k)
            checks[StepId(Kind.WEIGHT, k)] = Check(
                CheckMethod.NUMERIC,
                entries=len(weights),
                total=total_w,
                points=1,
                digits=DIGITS,
                max_error=weight_error,
            )
            checks[StepId(Kind.BIAS, k)] = Check(
                CheckMethod.NUMERIC,
                entries=len(biases),
                total=total_b,
                points=1,
                digits=DIGITS,
                max_error=bias_error,
            )
        return checks

    def _environment(self, h: dict, a: dict) -> dict[str, np.ndarray]:
        L = self.net.L

        def column(v: np.ndarray) -> np.ndarray:
            return v.reshape(-1, 1)

        env = {"x": column(self.x), "y": column(self.y), "yhat": column(self._prediction(a[L]))}
        for k in range(1, L + 1):
            env[f"W_{k}"] = self.W[k]
            env[f"a_{k}"] = column(a[k])
            env[f"b_{k}"] = column(self.b[k])
            if k < L:
                env[f"h_{k}"] = column(h[k])
                env[f"gprime_{k}"] = column(self.g_prime[k](a[k]))
        return env

    def _chain_gradients(self, env: dict[str, np.ndarray]) -> dict[tuple[str, int], np.ndarray]:
        """The gradient from the matrix forms of the steps, every form compared with the first."""
        d, L = self.derivation, self.net.L
        names = {
            Kind.OUTPUT_DELTA_VECTOR: "grad_a",
            Kind.HIDDEN_GRAD_VECTOR: "grad_h",
            Kind.HIDDEN_DELTA_VECTOR: "grad_a",
            Kind.WEIGHT_MATRIX: "grad_W",
            Kind.BIAS_VECTOR: "grad_b",
        }
        for id in backward_pass(L):
            step = d.step(id)
            kind, name = id.kind, f"{names[id.kind]}_{id.layer}"
            values = [
                _evaluate_lazily(f, env) if kind is Kind.WEIGHT_MATRIX else _evaluate(f, env)
                for f in step.forms
                if not isinstance(f, EntryMatrix)
            ]
            for other in values[1:]:
                self._record(values[0], other, step.key)
            env[name] = values[0]
        return {(base, k): env[f"grad_{base}_{k}"] for k in range(1, L + 1) for base in ("W", "b")}

    def _sample_parameters(self, k: int, base: str) -> list[tuple[int, int]]:
        """Every bias of layer k while the work stays within :data:`UNIT_BUDGET`, else a sample;
        a sample of the weights, corners included."""
        rows, cols = self.net.n(k), self.net.n(k - 1) if base == "W" else 1
        if rows * cols * self._downstream_cost(k) <= UNIT_BUDGET:
            return [(r, c) for r in range(1, rows + 1) for c in range(1, cols + 1)]
        count = SAMPLE_PER_LAYER if base == "W" else 2 * SAMPLE_PER_LAYER
        corners = [(1, 1), (rows, cols)]
        chosen = {c for c in corners}
        while len(chosen) < min(count, rows * cols):
            chosen.add((self.rng.randint(1, rows), self.rng.randint(1, cols)))
        return sorted(chosen)

    def _compare(self, k: int, row: int, col: int, chain: object, h: dict, a: dict) -> float:
        """``chain`` against d/dt of the loss with one parameter moved by t (mpmath.diff).

        Moving ``W_{k,row,col}`` or ``b_{k,row}`` moves ``a_{k,row}`` alone, so layer k+1 is
        updated by one column of ``W_{k+1}`` and only later layers are recomputed in full.
        """
        L = self.net.L
        slope = h[k - 1][col - 1] if col else mpmath.mpf(1)
        index = row - 1

        def loss_at(t: object) -> object:
            moved = a[k].copy()
            moved[index] = a[k][index] + t * slope
            if k == L:
                return self._loss(moved)
            later_h = dict(h)
            later_a = dict(a)
            later_a[k] = moved
            changed = self.g[k](np.array([moved[index]], dtype=object))[0]
            later_h[k] = h[k].copy()
            later_h[k][index] = changed
            step_a = a[k + 1] + self.W[k + 1][:, index] * (changed - h[k][index])
            return self._forward_from(k + 1, step_a, later_h, later_a)

        direct = mpmath.diff(loss_at, 0)
        return self._record(
            np.array([[direct]], dtype=object),
            np.array([[chain]], dtype=object),
            f"dL/d{'W' if col else 'b'}_{k},{row}{f',{col}' if col else ''}",
        )

    def _downstream_cost(self, k: int) -> int:
        """Multiplications to recompute the loss after moving one unit of layer k."""
        net = self.net
        cost = net.n(k + 1) if k < net.L else 0
        for m in range(k + 2, net.L + 1):
            cost += net.n(m) * net.n(m - 1)
        # The loss costs an exponential or logarithm per output unit: about ten multiplications.
        return cost + 10 * net.n(net.L)

    def _record(self, expected: np.ndarray, value: np.ndarray, label: str) -> float:
        """The relative difference of ``value`` from ``expected``; an error past the tolerance."""
        scale = max(mpmath.mpf(1), max(abs(v) for v in expected.ravel()))
        error = max(abs(e - v) for e, v in zip(expected.ravel(), value.ravel(), strict=True))
        relative = float(error / scale)
        self.max_error = max(self.max_error, relative)
        if relative > TOLERANCE:
            raise ProofError(f"{label}: relative difference {relative:.3g} at {DIGITS} digits")
        return relative


def _mp_prediction(output: str, logits: np.ndarray) -> np.ndarray:
    """``yhat = O(a_L)`` in mpmath arithmetic."""
    if output == "softmax":
        top = max(logits)
        exps = np.array([mpmath.exp(v - top) for v in logits], dtype=object)
        return exps / sum(exps)
    if output == "sigmoid":
        return np.array([1 / (1 + mpmath.exp(-v)) for v in logits], dtype=object)
    return logits


def _mp_loss(loss: str, yhat: np.ndarray, y: np.ndarray) -> object:
    """The per-sample loss of ``yhat`` and ``y`` in mpmath arithmetic."""
    if loss == "cross-entropy":
        return -sum(yi * mpmath.log(p) for p, yi in zip(yhat, y, strict=True))
    if loss == "binary-cross-entropy":
        return -sum(
            yi * mpmath.log(p) + (1 - yi) * mpmath.log(1 - p) for p, yi in zip(yhat, y, strict=True)
        )
    return sum((p - yi) ** 2 for p, yi in zip(yhat, y, strict=True)) / 2


def _evaluate(expr: sp.Basic, env: dict[str, Any]) -> Any:
    """A matrix expression of the notation, evaluated on object arrays of mpmath numbers."""
    if isinstance(expr, sp.MatrixSymbol):
        return env[expr.name]
    if isinstance(expr, sp.OneMatrix):
        return np.full(expr.shape, mpmath.mpf(1), dtype=object)
    if isinstance(expr, sp.Transpose):
        return _evaluate(expr.arg, env).T
    if isinstance(expr, sp.MatAdd):
        parts = [_evaluate(arg, env) for arg in expr.args]
        total = parts[0]
        for part in parts[1:]:
            total = total + part
        return total
    if isinstance(expr, sp.HadamardProduct):
        parts = [_evaluate(arg, env) for arg in expr.args]
        product = parts[0]
        for part in parts[1:]:
            product = product * part
        return product
    if isinstance(expr, sp.HadamardPower):
        return _evaluate(expr.base, env) ** int(expr.exp)
    if isinstance(expr, Elementwise):
        # g' written out (1[a_k > 0]), applied to every entry
        variable = expr.function.variables[0]
        function = _mp_function(expr.function.expr.xreplace({variable: X}))
        return function(_evaluate(expr.arg, env))
    if isinstance(expr, sp.MatMul):
        coefficient = mpmath.mpf(1)
        result = None
        for arg in expr.args:
            if not arg.is_Matrix:
                coefficient *= mpmath.mpf(sp.Rational(arg).p) / sp.Rational(arg).q
                continue
            value = _evaluate(arg, env)
            result = value if result is None else _matmul(result, value)
        assert result is not None
        return result * coefficient
    raise ProofError(f"cannot evaluate {type(expr).__name__} numerically")


def _evaluate_lazily(expr: sp.Basic, env: dict[str, Any]) -> Any:
    """Like :func:`_evaluate`, but an outer product ``u v^T`` is multiplied out entry by entry
    only where it is read."""
    if _is_outer_product(expr):
        left, right = (_evaluate(arg, env) for arg in expr.args)
        return _Outer(left, right)
    return _evaluate(expr, env)


def _is_outer_product(expr: sp.Basic) -> bool:
    """``u v^T`` of two vectors: ``grad_{W_k} L = grad_{a_k} L h_{k-1}^T``."""
    return (
        isinstance(expr, sp.MatMul)
        and len(expr.args) == 2
        and all(arg.is_Matrix for arg in expr.args)
        and expr.args[0].shape[1] == 1
        and expr.args[1].shape[0] == 1
    )


class _Outer:
    """An outer product whose entries are multiplied out only when read.

    The proof reads a sample of ``grad_{W_k} L``; a 128 x 784 matrix of 40-digit products would
    cost more than everything else together.
    """

    def __init__(self, left: np.ndarray, right: np.ndarray) -> None:
        self.left, self.right = left, right
        self.shape = (left.shape[0], right.shape[1])

    def __getitem__(self, index: tuple[int, int]) -> object:
        row, col = index
        return self.left[row, 0] * self.right[0, col]


def _matmul(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    # a 1x1 result of (row vector)(column vector) acts as a scalar in the notes' formulas
    if left.shape == (1, 1) and right.shape[0] != 1:
        return right * left[0, 0]
    if right.shape == (1, 1) and left.shape[1] != 1:
        return left * right[0, 0]
    return left.dot(right)
