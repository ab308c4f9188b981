"""Finite-difference gradient checker: analytic gradients against central differences in float64.

Beside the pipeline, for its results: ``symgrad check`` and the tests use it on generated modules,
and it works on any ``loss(params, X, Y) -> float`` with ``gradients(params, X, Y) -> dict``
(the contract of SPEC section 3), as autograd ships ``check_grads`` with its package.

For every parameter array ``theta``:

- ``entries`` mode: each entry ``theta_i`` gets the central difference
  ``(L(theta + h e_i) - L(theta - h e_i)) / (2 h)``;
- ``directions`` mode (large arrays): for random unit directions ``v`` of that array, the central
  difference ``(L(theta + h v) - L(theta - h v)) / (2 h)`` against ``<grad_theta L, v>``.

The error of one comparison is ``|numeric - analytic| / max(|numeric|, |analytic|, floor)``, with
``floor`` the larger of a thousandth of the largest analytic gradient entry of that array and the
rounding noise of the difference quotient (``1000 eps max(1, |L|) / h``), so entries that are zero
up to rounding are not judged relative to themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

Array = np.ndarray
LossFunction = Callable[[Mapping[str, Array], Array, Array], float]
GradientFunction = Callable[[Mapping[str, Array], Array, Array], Mapping[str, Array]]

#: Default largest relative error that passes; central differences in float64 reach 1e-8..1e-11.
TOLERANCE = 1e-6
#: Default relative step ``h = STEP max(1, |theta_i|)``: near the optimum of central differences
#: in float64, where truncation (order ``h^2``) and rounding (``eps |L| / h``) balance.
STEP = 1e-5
#: Networks with at most this many parameters are checked entry by entry (``mode="auto"``).
ENTRY_LIMIT = 2000
#: Random directions per parameter array in ``directions`` mode.
DIRECTIONS = 6


@dataclass(frozen=True)
class ParameterCheck:
    """The worst relative error found for one parameter array."""

    key: str
    shape: tuple[int, ...]
    mode: str  # "entries" or "directions"
    checked: int
    max_error: float
    #: Index of the worst entry (``entries`` mode) or number of the worst direction.
    worst: tuple[int, ...]
    numeric: float
    analytic: float
    tolerance: float

    @property
    def passed(self) -> bool:
        return bool(np.isfinite(self.max_error)) and self.max_error <= self.tolerance


@dataclass(frozen=True)
class GradientCheck:
    """Per-parameter records of one check, in the order of the parameters."""

    records: tuple[ParameterCheck, ...]
    tolerance: float
    loss: float

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.records)

    def __str__(self) -> str:
        return self.table()

    def table(self) -> str:
        """A plain-text table: parameter, shape, what was checked, worst relative error."""
        rows = [("parameter", "shape", "checked", "worst rel. error", "at", "result")]
        for r in self.records:
            what = f"{r.checked} {'entries' if r.mode == 'entries' else 'directions'}"
            at = str(list(r.worst)) if r.mode == "entries" else f"direction {r.worst[0]}"
            rows.append(
                (r.key, str(r.shape), what, f"{r.max_error:.2e}", at, "ok" if r.passed else "FAIL")
            )
        widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
        lines = [
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            for row in rows
        ]
        failed = sum(not r.passed for r in self.records)
        verdict = (
            f"all {len(self.records)} parameters pass (tolerance {self.tolerance:.0e})"
            if not failed
            else f"{failed} of {len(self.records)} parameters FAIL (tolerance {self.tolerance:.0e})"
        )
        return "\n".join([*lines, verdict])


def check_gradients(
    model: object,
    params: Mapping[str, Array],
    X: Array,
    Y: Array,
    *,
    gradients: GradientFunction | None = None,
    mode: str = "auto",
    tolerance: float = TOLERANCE,
    step: float = STEP,
    directions: int = DIRECTIONS,
    entry_limit: int = ENTRY_LIMIT,
    seed: int = 0,
) -> GradientCheck:
    """Compare the analytic gradients with central differences of the loss in float64.

    ``model`` is a generated module (anything with ``loss`` and ``gradients`` functions of
    ``(params, X, Y)``), or a loss function when ``gradients`` is given.
    ``mode`` is ``entries`` (every entry), ``directions`` (``directions`` random unit directions
    per array) or ``auto`` (entries when the parameters have at most ``entry_limit`` entries in
    all). ``params`` is not modified.
    """
    if gradients is None:
        loss: LossFunction = model.loss  # type: ignore[attr-defined]
        gradients = model.gradients  # type: ignore[attr-defined]
    else:
        loss = model  # type: ignore[assignment]
    if mode not in ("auto", "entries", "directions"):
        raise ValueError(f"mode must be 'auto', 'entries' or 'directions', got {mode!r}")
    work = {k: np.array(v, dtype=np.float64, copy=True) for k, v in params.items()}
    analytic = {k: np.asarray(v, dtype=np.float64) for k, v in gradients(work, X, Y).items()}
    missing = sorted(set(work) - set(analytic))
    if missing:
        raise ValueError(f"gradients has no {', '.join(missing)}")
    total = sum(v.size for v in work.values())
    if mode == "auto":
        mode = "entries" if total <= entry_limit else "directions"
    rng = np.random.default_rng(seed)
    value = float(loss(work, X, Y))
    records = []
    for key, theta in work.items():
        grad = analytic[key]
        if grad.shape != theta.shape:
            raise ValueError(f"gradient {key} has shape {grad.shape}; expected {theta.shape}")
        noise = 1e3 * float(np.finfo(np.float64).eps) * max(1.0, abs(value)) / step
        floor = max(1e-3 * float(np.abs(grad).max(initial=0.0)), noise)
        if mode == "entries":
            records.append(_entries(loss, work, key, grad, X, Y, step, floor, tolerance))
        else:
            records.append(
                _directions(loss, work, key, grad, X, Y, step, floor, tolerance, directions, rng)
            )
    return GradientCheck(tuple(records), tolerance, value)


def _relative(numeric: float, analytic: float, floor: float) -> float:
    return abs(numeric - analytic) / max(abs(numeric), abs(analytic), floor)


def _entries(
    loss: LossFunction,
    params: dict[str, Array],
    key: str,
    grad: Array,
    X: Array,
    Y: Array,
    step: float,
    floor: float,
    tolerance: float,
) -> ParameterCheck:
    theta = params[key]
    worst: tuple[float, tuple[int, ...], float, float] = (-1.0, (), 0.0, 0.0)
    for index in np.ndindex(theta.shape):
        original = float(theta[index])
        h = step * max(1.0, abs(original))
        theta[index] = original + h
        up = float(loss(params, X, Y))
        theta[index] = original - h
        down = float(loss(params, X, Y))
        theta[index] = original
        numeric = (up - down) / (2.0 * h)
        error = _relative(numeric, float(grad[index]), floor)
        if not error <= worst[0]:  # also takes a NaN
            worst = (error, tuple(int(i) for i in index), numeric, float(grad[index]))
    error, at, numeric, analytic = worst
    return ParameterCheck(
        key, theta.shape, "entries", theta.size, error, at, numeric, analytic, tolerance
    )


def _directions(
    loss: LossFunction,
    params: dict[str, Array],
    key: str,
    grad: Array,
    X: Array,
    Y: Array,
    step: float,
    floor: float,
    tolerance: float,
    count: int,
    rng: np.random.Generator,
) -> ParameterCheck:
    theta = params[key]
    original = theta.copy()
    h = step * max(1.0, float(np.abs(original).max(initial=0.0)))
    worst = (-1.0, 0, 0.0, 0.0)
    for n in range(count):
        v = rng.standard_normal(theta.shape)
        v /= np.linalg.norm(v)
        np.add(original, h * v, out=theta)
        up = float(loss(params, X, Y))
        np.subtract(original, h * v, out=theta)
        down = float(loss(params, X, Y))
        theta[...] = original
        numeric = (up - down) / (2.0 * h)
        analytic = float(np.vdot(grad, v))
        # A direction's derivative is a sum over entries: judge it against the gradient's size.
        error = _relative(numeric, analytic, max(floor, 1e-3 * float(np.linalg.norm(grad))))
        if not error <= worst[0]:
            worst = (error, n, numeric, analytic)
    error, at, numeric, analytic = worst
    return ParameterCheck(
        key, theta.shape, "directions", count, error, (at,), numeric, analytic, tolerance
    )
