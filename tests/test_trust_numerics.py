"""Numerical faults in the generated NumPy code (issue #5 item 5).

Modules made by ``symgrad codegen`` (both styles) run on extreme inputs: parameters scaled so that
the pre-activations of every layer reach ``|a| = 1e4``, targets with zero probabilities, one-hot
targets with their 1 on the smallest logit, and width-1 layers. With overflow, division by zero and
invalid operations raising (``np.errstate``) and every warning an error, the loss and gradients must
be finite and match a reference computed in 50-digit arithmetic (mpmath) from the same float64
parameters, to a relative tolerance of :data:`RTOL`.

The tolerance: pre-activations of size 1e4 carry a rounding error of about
``1e4 * 2**-52 = 2e-12`` in float64, and the loss, the error signals and the gradients inherit
errors of that order relative to their own scale. ``RTOL = 1e-9`` leaves a margin of about 500 over
that, while an unstable formula (``log(sigmoid(a))`` computed naively, ``exp`` of an unshifted
logit, ``1 - sigmoid`` cancelling) is off by 100 % or not finite at all, so it cannot hide one.
Gradients are compared entry by entry: within ``RTOL`` times the largest entry of the reference
array, plus :data:`SLOPE_ULPS` units of roundoff of the terms that multiply ``g'`` (which the notes'
forms ``h (1 - h)`` and ``1 - h**2`` give to absolute, not relative, accuracy: see
:func:`reference`). Saturated units have gradients like ``exp(-1e4)``; float64 rightly gives 0.
"""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import mpmath
import numpy as np
import pytest

from symgrad.cli import main

#: Largest relative difference from the 50-digit reference (see the module docstring).
RTOL = 1e-9
#: Units of roundoff allowed in ``g'`` computed from ``h`` (see :func:`reference`).
SLOPE_ULPS = 16
EPS = float(np.finfo(float).eps)
#: Decimal digits of the reference.
DIGITS = 50
#: The largest pre-activation the inputs reach (the generated-code contract: up to |a| = 1e4).
EXTREME = 1e4

Vector = list[mpmath.mpf]
Matrix = list[list[mpmath.mpf]]


# The 50-digit reference: forward pass and backpropagation written out in mpmath -----------------


def _sigma(a: mpmath.mpf) -> mpmath.mpf:
    return 1 / (1 + mpmath.exp(-a))


#: g and g' of every built-in activation, in forms that keep their digits at |a| = 1e4.
ACTIVATIONS: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    "sigmoid": (_sigma, lambda a: _sigma(a) * _sigma(-a)),
    "tanh": (mpmath.tanh, lambda a: mpmath.sech(a) ** 2),
    "relu": (lambda a: a if a > 0 else mpmath.mpf(0), lambda a: mpmath.mpf(1 if a > 0 else 0)),
    "leaky-relu": (
        lambda a: a if a > 0 else a / 100,
        lambda a: mpmath.mpf(1) if a > 0 else mpmath.mpf(1) / 100,
    ),
    "softplus": (lambda a: mpmath.log1p(mpmath.exp(a)), _sigma),
    "identity": (lambda a: a, lambda a: mpmath.mpf(1)),
}


def _output_loss(output: str, loss: str, a: Vector, y: Vector) -> tuple[mpmath.mpf, Vector, Vector]:
    """The per-sample loss of logits ``a`` and target ``y``, its gradient in ``a``, and the size
    of the terms that gradient is computed from (its float64 rounding is relative to those).

    Written from the catalogue definitions with log-domain forms (log-sum-exp, log-sigmoid), so that
    50 digits are enough at |a| = 1e4. The softmax gradient is the general ``yhat sum(y) - y``,
    not the ``yhat - y`` that assumes ``sum(y) = 1``.
    """
    n = len(a)
    if output == "softmax":
        top = max(a)
        lse = top + mpmath.log(mpmath.fsum(mpmath.exp(ai - top) for ai in a))
        log_yhat = [ai - lse for ai in a]
        yhat = [mpmath.exp(v) for v in log_yhat]
        if loss == "cross-entropy":
            value = -mpmath.fsum(y[i] * log_yhat[i] for i in range(n))
            total = mpmath.fsum(y)
            terms = [yhat[i] * abs(total) + abs(y[i]) for i in range(n)]
            return value, [yhat[i] * total - y[i] for i in range(n)], terms
        r = [yhat[i] - y[i] for i in range(n)]
        value = mpmath.fsum(ri**2 for ri in r) / 2
        weighted = mpmath.fsum(r[i] * yhat[i] for i in range(n))
        spread = mpmath.fsum(abs(r[i]) * yhat[i] for i in range(n))
        terms = [yhat[j] * (abs(r[j]) + spread) for j in range(n)]
        return value, [yhat[j] * (r[j] - weighted) for j in range(n)], terms
    if output == "sigmoid":
        if loss == "binary-cross-entropy":
            # log sigma(a) = -log(1 + e^-a), log(1 - sigma(a)) = -log(1 + e^a)
            value = mpmath.fsum(
                y[i] * mpmath.log1p(mpmath.exp(-a[i])) + (1 - y[i]) * mpmath.log1p(mpmath.exp(a[i]))
                for i in range(n)
            )
            terms = [_sigma(a[i]) + abs(y[i]) for i in range(n)]
            return value, [_sigma(a[i]) - y[i] for i in range(n)], terms
        yhat = [_sigma(ai) for ai in a]
        r = [yhat[i] - y[i] for i in range(n)]
        value = mpmath.fsum(ri**2 for ri in r) / 2
        # sigma' = yhat (1 - yhat) from yhat: accurate to roundoff absolutely, as g' = h (1 - h).
        terms = [abs(r[i]) for i in range(n)]
        return value, [r[i] * _sigma(a[i]) * _sigma(-a[i]) for i in range(n)], terms
    r = [a[i] - y[i] for i in range(n)]
    return mpmath.fsum(ri**2 for ri in r) / 2, r, [abs(a[i]) + abs(y[i]) for i in range(n)]


@dataclass(frozen=True)
class Net:
    """A network spec for the reference: sizes, hidden activations, output and loss."""

    id: str
    sizes: tuple[int, ...]
    activations: tuple[str, ...]
    output: str = "softmax"
    loss: str = "cross-entropy"

    @property
    def argv(self) -> list[str]:
        args = [str(n) for n in self.sizes]
        if self.activations:
            args += ["--activation", ",".join(self.activations)]
        return args + ["--output", self.output, "--loss", self.loss]


def _mp(array: np.ndarray) -> Any:
    """float64 values (or mpmath numbers) as exact mpmath numbers (nested lists)."""
    if array.ndim == 1:
        return [mpmath.mpf(v) for v in array]
    return [_mp(row) for row in array]


def reference_pre_activations(
    net: Net, params: dict[str, np.ndarray], x: np.ndarray
) -> list[Vector]:
    """``a_1, ..., a_L`` of one sample, in :data:`DIGITS`-digit arithmetic."""
    with mpmath.workdps(DIGITS):
        h: Vector = _mp(x)
        pre: list[Vector] = []
        depth = len(net.sizes) - 1
        for k in range(1, depth + 1):
            W: Matrix = _mp(params[f"W{k}"])
            b: Vector = _mp(params[f"b{k}"])
            a = [b[i] + mpmath.fsum(W[i][j] * h[j] for j in range(len(h))) for i in range(len(b))]
            pre.append(a)
            if k < depth:
                g = ACTIVATIONS[net.activations[k - 1]][0]
                h = [g(v) for v in a]
        return pre


def reference(
    net: Net, params: dict[str, np.ndarray], X: np.ndarray, Y: np.ndarray
) -> tuple[mpmath.mpf, dict[str, Any], dict[str, Any]]:
    """Mean loss over the rows of ``X``, its gradient, and the rounding bound of each entry.

    The gradient comes from backpropagation in mpmath. The bound is the first-order size of the
    error float64 code makes by computing ``g'`` from ``h`` (``h (1 - h)``, ``1 - h**2``, the form
    the notes and the generated code use): those forms are accurate to about one
    unit of roundoff *absolutely*, not relatively, so a saturated unit whose ``g'`` is 1e-130 gets
    0. The bound carries that absolute error of ``g'`` (and of ``h``) through the backward pass:
    ``e_k = |W_{k+1}|^T e_{k+1} (.) |g'(a_k)| + |W_{k+1}^T grad_{a_{k+1}} L|``, starting from the
    size ``e_L`` of the terms ``grad_{a_L} L`` is computed from (:func:`_output_loss`); the entry
    ``W_{kij}`` may be off by ``eps`` times the mean of ``e_{ki} |h_{k-1,j}| + |grad_{a_k} L|_i``.
    """
    depth = len(net.sizes) - 1
    with mpmath.workdps(DIGITS):
        W = {k: _mp(params[f"W{k}"]) for k in range(1, depth + 1)}
        total = mpmath.mpf(0)
        grads: dict[str, Any] = {}
        bounds: dict[str, Any] = {}
        for k in range(1, depth + 1):
            for store in (grads, bounds):
                store[f"W{k}"] = [[mpmath.mpf(0)] * net.sizes[k - 1] for _ in range(net.sizes[k])]
                store[f"b{k}"] = [mpmath.mpf(0)] * net.sizes[k]
        for x, y in zip(X, Y, strict=True):
            pre = reference_pre_activations(net, params, x)
            hs: list[Vector] = [_mp(x)]
            for k in range(1, depth):
                g = ACTIVATIONS[net.activations[k - 1]][0]
                hs.append([g(v) for v in pre[k - 1]])
            value, delta, error = _output_loss(net.output, net.loss, pre[-1], _mp(y))
            total += value
            for k in range(depth, 0, -1):
                h = hs[k - 1]
                for i, d in enumerate(delta):
                    grads[f"b{k}"][i] += d
                    bounds[f"b{k}"][i] += error[i]
                    for j, hj in enumerate(h):
                        grads[f"W{k}"][i][j] += d * hj
                        h_error = abs(d) if k > 1 else 0
                        bounds[f"W{k}"][i][j] += error[i] * abs(hj) + h_error
                if k > 1:
                    slope = ACTIVATIONS[net.activations[k - 2]][1]
                    back = [
                        mpmath.fsum(W[k][i][j] * delta[i] for i in range(len(delta)))
                        for j in range(len(h))
                    ]
                    slopes = [slope(pre[k - 2][j]) for j in range(len(h))]
                    error = [
                        mpmath.fsum(abs(W[k][i][j]) * error[i] for i in range(len(delta)))
                        * abs(slopes[j])
                        + abs(back[j])
                        for j in range(len(h))
                    ]
                    delta = [back[j] * slopes[j] for j in range(len(h))]
        count = len(X)

        def mean(store: dict[str, Any]) -> dict[str, Any]:
            return {
                name: [[v / count for v in row] for row in g]
                if name.startswith("W")
                else [v / count for v in g]
                for name, g in store.items()
            }

        return total / count, mean(grads), mean(bounds)


# Generated modules -----------------------------------------------------------------------------


_MODULES: dict[tuple[str, str], ModuleType] = {}


def generated(net: Net, style: str, folder: Path) -> ModuleType:
    """The module ``symgrad codegen`` writes for ``net`` in ``style``, imported (made once)."""
    key = (net.id, style)
    if key not in _MODULES:
        path = folder / f"net_{len(_MODULES)}.py"
        status = main(["codegen", *net.argv, "--style", style, "-o", str(path)])
        assert status == 0, f"codegen failed for {net.argv}"
        spec = importlib.util.spec_from_file_location(f"trust_numerics_{len(_MODULES)}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _MODULES[key] = module
    return _MODULES[key]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("trust-numerics")


# Extreme inputs --------------------------------------------------------------------------------


def extreme_parameters(net: Net, X: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Parameters whose pre-activations reach ``|a| = 1e4`` in every layer for the rows of ``X``.

    Layer by layer, random ``W_k`` and ``b_k`` are scaled so that the largest ``|a_k|`` over the
    batch is just below :data:`EXTREME` (computed with the reference, so in exact arithmetic).
    """
    rng = np.random.default_rng(seed)
    params: dict[str, np.ndarray] = {}
    depth = len(net.sizes) - 1
    for k in range(1, depth + 1):
        params[f"W{k}"] = rng.standard_normal((net.sizes[k], net.sizes[k - 1]))
        params[f"b{k}"] = rng.standard_normal(net.sizes[k])
        partial = Net(net.id, net.sizes[: k + 1], net.activations[: max(k - 1, 0)])
        largest = max(
            abs(float(v)) for x in X for v in reference_pre_activations(partial, params, x)[-1]
        )
        factor = 0.999 * EXTREME / largest
        params[f"W{k}"] *= factor
        params[f"b{k}"] *= factor
    return params


def extreme_targets(net: Net, params: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    """Targets that hurt: a 1 on the smallest logit, zero probabilities, all-zero rows."""
    logits = np.array(
        [[float(v) for v in reference_pre_activations(net, params, x)[-1]] for x in X]
    )
    n = net.sizes[-1]
    Y = np.zeros_like(logits)
    for row, a in enumerate(logits):
        kind = row % 4
        if net.output == "softmax" and net.loss == "cross-entropy":
            if kind == 0:
                Y[row, np.argmin(a)] = 1.0  # the 1 on the smallest logit
            elif kind == 1:
                Y[row, np.argmax(a)] = 1.0
            elif kind == 2:
                Y[row, 0] = 1.0 if n == 1 else 0.25
                if n > 1:
                    Y[row, np.argmin(a)] += 0.75  # zeros elsewhere
            # kind 3: an all-zero target row
        elif net.output == "sigmoid" and net.loss == "binary-cross-entropy":
            Y[row] = (a < 0).astype(float) if kind % 2 == 0 else (a > 0).astype(float)
            if kind == 3:
                Y[row, 0] = 0.5
        else:
            Y[row] = [0.0, 1.0][kind % 2] if kind < 2 else np.linspace(0.0, 1.0, n)
    return Y


@pytest.fixture
def strict_numpy() -> Iterator[None]:
    """Overflow, division by zero and invalid operations raise; every warning is an error.

    Underflow stays ignored (NumPy's default): ``exp(-2e4) = 0`` is the right float64 answer.
    """
    with (
        np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("error")
        yield


def assert_matches_reference(
    module: ModuleType, net: Net, params: dict[str, np.ndarray], X: np.ndarray, Y: np.ndarray
) -> None:
    """Loss, gradients and loss_and_gradients are finite and agree with the 50-digit reference."""
    value = module.loss(params, X, Y)
    grads = module.gradients(params, X, Y)
    both_value, both_grads = module.loss_and_gradients(params, X, Y)
    yhat = module.forward(params, X)
    assert np.all(np.isfinite(yhat))
    assert isinstance(value, float) and np.isfinite(value)
    expected_value, expected_grads, bounds = reference(
        net, params, np.atleast_2d(X), np.atleast_2d(Y)
    )
    exact = float(expected_value)
    assert abs(value - exact) <= RTOL * max(abs(exact), 1.0), (net.id, value, exact)
    assert both_value == pytest.approx(value, rel=1e-12, abs=1e-300)
    assert sorted(grads) == sorted(expected_grads)
    for name, expected in expected_grads.items():
        got = np.asarray(grads[name])
        assert got.shape == params[name].shape, name
        assert np.all(np.isfinite(got)), (net.id, name, got)
        ref = np.array(expected, dtype=float)
        scale = max(float(np.max(np.abs(ref))), np.finfo(float).tiny)
        allowed = RTOL * scale + SLOPE_ULPS * EPS * np.array(bounds[name], dtype=float)
        excess = np.abs(got - ref) - allowed
        assert np.all(excess <= 0), (net.id, name, got, ref, allowed)
        np.testing.assert_allclose(both_grads[name], got, rtol=1e-12, atol=1e-300 + 1e-12 * scale)


# The networks ----------------------------------------------------------------------------------

PAIRS = [
    ("softmax", "cross-entropy"),
    ("sigmoid", "binary-cross-entropy"),
    ("softmax", "squared-error"),
    ("sigmoid", "squared-error"),
    ("identity", "squared-error"),
]

NETS = (
    [Net(f"3-2-{o}-{lo}", (3, 2), (), o, lo) for o, lo in PAIRS]
    + [Net(f"2-3-3-{a}", (2, 3, 3), (a,)) for a in ACTIVATIONS]
    + [Net(f"2-2-3-tanh-{o}-{lo}", (2, 2, 3), ("tanh",), o, lo) for o, lo in PAIRS[1:]]
    + [
        Net("width-1-1-1-identity-squared", (1, 1, 1), ("sigmoid",), "identity", "squared-error"),
        Net("width-1-1-bce", (1, 1), (), "sigmoid", "binary-cross-entropy"),
        Net("width-2-1-2-relu", (2, 1, 2), ("relu",)),
        Net(
            "width-1-1-1-1-tanh-softplus",
            (1, 1, 1, 1),
            ("tanh", "softplus"),
            "sigmoid",
            "binary-cross-entropy",
        ),
        Net("width-2-1-sigmoid-squared", (2, 1), (), "sigmoid", "squared-error"),
        Net("3-2-2-2-mixed", (3, 2, 2, 2), ("leaky-relu", "sigmoid"), "softmax", "squared-error"),
    ]
)


@pytest.mark.parametrize("style", ["vectorized", "unrolled"])
@pytest.mark.parametrize("net", NETS, ids=[n.id for n in NETS])
def test_extreme_inputs_are_finite_and_match_the_reference(
    net: Net, style: str, folder: Path, strict_numpy: None
) -> None:
    """Pre-activations to 1e4 in every layer, hostile targets: finite and exact to 1e-9."""
    module = generated(net, style, folder)
    rng = np.random.default_rng(len(net.id))
    X = rng.standard_normal((8, net.sizes[0]))
    params = extreme_parameters(net, X, seed=len(net.id) + 1)
    reached = max(
        abs(float(v)) for x in X for a in reference_pre_activations(net, params, x) for v in a
    )
    assert 0.99 * EXTREME <= reached <= EXTREME
    Y = extreme_targets(net, params, X)
    assert_matches_reference(module, net, params, X, Y)
    # One sample as a 1-D array: the per-sample loss and its gradient.
    assert_matches_reference(module, net, params, X[0], Y[0])


@pytest.mark.parametrize("style", ["vectorized", "unrolled"])
def test_one_hot_on_the_smallest_logit_at_plus_minus_1e4(
    style: str, folder: Path, strict_numpy: None
) -> None:
    """Logits exactly ``(1e4, -1e4)`` and the target on the second: loss 2e4, gradient (1, -1)."""
    net = NETS[0]
    module = generated(net, style, folder)
    params = {
        "W1": np.zeros((2, 3)),
        "b1": np.array([EXTREME, -EXTREME]),
    }
    X = np.zeros((1, 3))
    Y = np.array([[0.0, 1.0]])
    value, grads = module.loss_and_gradients(params, X, Y)
    assert value == pytest.approx(2 * EXTREME, rel=1e-15)
    np.testing.assert_allclose(grads["b1"], [1.0, -1.0], rtol=1e-15)
    assert_matches_reference(module, net, params, X, Y)


CHECKED = [*NETS[:5], NETS[5], NETS[9], NETS[11], NETS[-1]]


@pytest.mark.parametrize("net", CHECKED, ids=[n.id for n in CHECKED])
def test_the_reference_is_the_derivative_of_its_loss(net: Net) -> None:
    """The reference's backpropagation equals mpmath's numerical derivative of its own loss."""
    rng = np.random.default_rng(7)
    X = rng.standard_normal((2, net.sizes[0]))
    params = {
        f"{p}{k}": rng.standard_normal(shape)
        for k in range(1, len(net.sizes))
        for p, shape in (("W", (net.sizes[k], net.sizes[k - 1])), ("b", (net.sizes[k],)))
    }
    Y = np.abs(rng.standard_normal((2, net.sizes[-1])))
    if net.loss != "squared-error":
        Y = np.minimum(Y / Y.sum(axis=1, keepdims=True), 1.0)
    _, grads, _ = reference(net, params, X, Y)
    for name, array in params.items():
        flat = array.reshape(-1)
        for index in range(flat.size):

            def loss_at(
                t: mpmath.mpf, name: str = name, index: int = index, shape: Any = array.shape
            ) -> mpmath.mpf:
                shifted = {key: value.copy() for key, value in params.items()}
                values = shifted[name].reshape(-1).astype(object)
                values[index] = t
                shifted[name] = values.reshape(shape)
                return reference(net, shifted, X, Y)[0]

            with mpmath.workdps(30):
                numeric = mpmath.diff(loss_at, mpmath.mpf(float(flat[index])))
            row, column = divmod(index, array.shape[-1])
            entry = grads[name][row][column] if array.ndim == 2 else grads[name][index]
            assert abs(float(entry) - float(numeric)) <= 1e-12 * max(1.0, abs(float(numeric)))
