"""The finite-difference checker: true gradients pass, wrong ones fail, and what central
differences cannot resolve is reported as such, never as a failure.

Every verdict here is tested both ways: the same setting with a correct gradient and with a
gradient wrong by a little (a factor 1 + 1e-4) or a lot (a sign).
"""

from __future__ import annotations

import numpy as np
import pytest

from symgrad.gradcheck import (
    FIRST_STEP,
    Comparison,
    check_gradients,
    estimate,
    location,
)
from symgrad.pipeline import derive
from symgrad.spec import NetworkSpec


class Quadratic:
    """``L = mean_b 1/2 |W x_b + b - y_b|^2``; ``wrong`` scales one gradient entry."""

    def __init__(self, wrong: float = 1.0) -> None:
        self.wrong = wrong

    def loss(self, params, X, Y) -> float:
        r = X @ params["W"].T + params["b"] - Y
        return 0.5 * float(np.sum(r * r)) / X.shape[0]

    def gradients(self, params, X, Y) -> dict[str, np.ndarray]:
        r = (X @ params["W"].T + params["b"] - Y) / X.shape[0]
        grads = {"W": r.T @ X, "b": r.sum(axis=0)}
        grads["W"][1, 2] *= self.wrong
        return grads


def problem(rows: int = 3, cols: int = 4):
    rng = np.random.default_rng(0)
    params = {"W": rng.standard_normal((rows, cols)), "b": rng.standard_normal(rows)}
    return params, rng.standard_normal((5, cols)), rng.standard_normal((5, rows))


def test_true_gradients_pass_entry_by_entry() -> None:
    params, X, Y = problem()
    before = {k: v.copy() for k, v in params.items()}
    report = check_gradients(Quadratic(), params, X, Y)
    assert report.passed, report.table()
    assert [(r.key, r.mode, r.checked) for r in report.records] == [
        ("W", "entries", 12),
        ("b", "entries", 3),
    ]
    assert max(r.max_error for r in report.records) < 1e-8
    assert all(np.array_equal(params[k], before[k]) for k in params)


@pytest.mark.parametrize("factor", [-1.0, 1.0 + 1e-4])
def test_a_wrong_entry_fails_and_is_located(factor: float) -> None:
    params, X, Y = problem()
    report = check_gradients(Quadratic(wrong=factor), params, X, Y)
    assert not report.passed
    bad = report.records[0]
    assert bad.worst is not None and (bad.key, bad.worst.index) == ("W", (1, 2))
    assert not bad.passed and bad.count("FAIL") == 1
    assert report.records[1].passed
    table = report.table()
    assert "W[2,3]" in table and "at (1-based)" in table  # 1-based, as in the notes
    assert "1 of 2 parameters FAIL" in table


def test_directions_mode_and_function_form() -> None:
    params, X, Y = problem(30, 40)
    model = Quadratic()
    report = check_gradients(model.loss, params, X, Y, gradients=model.gradients, entry_limit=100)
    assert all(r.mode == "directions" for r in report.records)
    assert report.passed, report.table()
    assert "+ 2 directions" in report.table()
    wrong = Quadratic(wrong=-1.0)
    report = check_gradients(model.loss, params, X, Y, gradients=wrong.gradients, mode="directions")
    # W[1,2] (0-based) is always among the sampled entries or moves every direction.
    assert not report.records[0].passed
    assert report.records[1].passed


def test_bad_mode_is_refused() -> None:
    params, X, Y = problem()
    with pytest.raises(ValueError, match="mode must be"):
        check_gradients(Quadratic(), params, X, Y, mode="sometimes")


def test_no_entries_and_one_entry_are_worded_right() -> None:
    params = {"w": np.array([0.5])}
    X, Y = np.ones((2, 1)), np.zeros((2, 1))

    def loss(p, X, Y):
        return float(np.mean((X * p["w"] - Y) ** 2))

    def grads(p, X, Y):
        return {"w": np.array([2 * np.mean((X * p["w"] - Y) * X)])}

    table = check_gradients(loss, params, X, Y, gradients=grads).table()
    assert "all 1 " in table and "1 entries" not in table and "all 1 parameter agree" in table


# ------------------------------------------------------------------------------------------------
# Resolution: what central differences cannot resolve is not a failure
# ------------------------------------------------------------------------------------------------


class Noisy:
    """A loss ``c + s sum(theta)`` with a tiny slope ``s`` and rounding noise of size ``noise``
    (a deterministic function of ``theta``), as the loss of a deep network looks along its
    first-layer weights; ``wrong`` scales the reported gradient."""

    def __init__(self, slope: float, noise: float, wrong: float = 1.0) -> None:
        self.slope, self.noise, self.wrong = slope, noise, wrong

    def loss(self, params, X, Y) -> float:
        theta = params["W"]
        jitter = np.sin(1e9 * theta.sum() + 1e7 * theta[0, 0])  # not smooth on the noise scale
        return 0.7 + self.slope * float(theta.sum()) + self.noise * float(jitter)

    def gradients(self, params, X, Y) -> dict[str, np.ndarray]:
        return {"W": np.full(params["W"].shape, self.slope * self.wrong)}


def test_entries_below_resolution_are_reported_not_failed() -> None:
    """A gradient of 1e-9 beside a loss with noise 1e-16: a step of 1e-5 resolves only 1e-2,
    so a fixed-step checker fails it; larger steps resolve it; where even they cannot, the
    entry is below resolution, not a failure."""
    params = {"W": np.full((2, 2), 0.3)}
    X = Y = np.zeros((1, 1))
    noisy = Noisy(slope=1e-9, noise=1e-16)
    first = noisy.noise / (FIRST_STEP * 1.0)
    assert first / noisy.slope > 1e-6  # one fixed step could not resolve it
    report = check_gradients(noisy, params, X, Y)
    assert report.passed, report.table()
    hopeless = Noisy(slope=1e-9, noise=1e-11)
    report = check_gradients(hopeless, params, X, Y)
    assert report.passed, report.table()
    assert report.records[0].count("unresolved") == 4
    assert "below resolution" in report.table()


@pytest.mark.parametrize("factor", [-1.0, 1.0 + 1e-4])
def test_a_wrong_gradient_fails_even_when_it_is_tiny(factor: float) -> None:
    params = {"W": np.full((2, 2), 0.3)}
    X = Y = np.zeros((1, 1))
    report = check_gradients(Noisy(slope=1e-9, noise=1e-16, wrong=factor), params, X, Y)
    assert not report.passed, report.table()
    assert report.records[0].count("FAIL") == 4


def test_estimate_bounds_its_error_on_a_smooth_function_with_noise() -> None:
    """Richardson's table on sin with rounding noise: the bound covers the true error."""
    rng = np.random.default_rng(0)
    for point in rng.uniform(-3, 3, 50):
        noise = 1e-16
        steps = 0.5 ** np.arange(14)
        up = np.sin(point + steps) + noise * rng.uniform(-1, 1, 14)
        down = np.sin(point - steps) + noise * rng.uniform(-1, 1, 14)
        found = estimate((up - down) / (2 * steps), steps, noise)
        assert abs(found.value - np.cos(point)) <= found.resolution
        assert found.resolution < 1e-9


def test_comparison_verdicts() -> None:
    def comparison(numeric: float, resolution: float) -> Comparison:
        return Comparison("W1", (0, 2), None, "gradients", numeric, 1.0, 1.0, resolution, 1e-6)

    assert comparison(1.0 + 1e-7, 1e-9).verdict == "ok"
    assert comparison(1.0 + 1e-5, 1e-4).verdict == "unresolved"
    assert comparison(1.0 + 1e-5, 1e-6).verdict == "FAIL"
    assert comparison(float("nan"), float("inf")).verdict == "unresolved"  # no estimate at all
    assert location(comparison(1.0, 0.0)) == "W1[1,3]"


def test_a_deep_sigmoid_network_passes_in_process(tmp_path) -> None:
    """The false failures of a fixed step (8 of 16 parameters of 3-4-4-4-4-4-4-4-2) are gone."""
    from symgrad.codegen import generate_module

    spec = NetworkSpec.parse([3, 4, 4, 4, 4, 4, 4, 4, 2])
    path = tmp_path / "deep.py"
    path.write_text(generate_module(derive(spec, prove=False)), encoding="utf-8")
    namespace: dict = {}
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), namespace)  # noqa: S102

    class Module:
        loss = staticmethod(namespace["loss"])
        gradients = staticmethod(namespace["gradients"])

    rng = np.random.default_rng(0)
    params = namespace["init_params"](0)
    X = rng.standard_normal((4, 3))
    Y = rng.random((4, 2))
    Y /= Y.sum(axis=1, keepdims=True)
    report = check_gradients(Module, params, X, Y)
    assert report.passed, report.table()
