"""Gradients against central differences of the loss, each entry judged at the resolution it has.

Beside the pipeline, for its results: ``symgrad check`` and the tests use it on generated code,
and it works on any ``loss(params, X, Y) -> float`` with ``gradients(params, X, Y) -> dict`` (the
contract of generated modules), as autograd ships ``check_grads`` with its package.

Why a resolution. The loss is computed with some absolute rounding noise ``epsilon`` (about
``eps |L|``), so the difference quotient ``(L(theta + h) - L(theta - h)) / 2h`` carries an error
up to ``epsilon / h`` on top of its truncation error ``|L'''| h^2 / 6``. An entry of 1e-8 (the
first layer of a deep sigmoid network) beside a loss of 0.7 is below what a step of 1e-5
resolves, and a checker with one fixed step calls a correct gradient wrong. So, per entry:

1. ``epsilon`` is measured, not assumed: the loss along a few entries of each array at nine
   points ``k s`` (``s`` is 1e-7 of the entry) minus the least-squares cubic through them is
   rounding alone; :data:`NOISE_SAFETY` times the largest residual, and at least
   ``2 eps |L|``, is ``epsilon``.
2. One central difference at ``h = FIRST_STEP max(1, |theta|)``. An entry that agrees with the
   analytic gradient within the tolerance passes: a wrong gradient cannot agree by accident.
3. The others get central differences at ``h_j = H 2^-j`` (j = 0 .. LEVELS-1) and Richardson's
   extrapolations of orders 4, 6 and 8 built from them. Each estimate's error is bounded by
   :data:`SAFETY` times the larger of its change to the estimate at the next smaller step and
   ``1/(2^p - 1)`` of its change from the next larger one (a truncation error of order ``p``
   shrinks by ``2^p`` per halving, so both measure it; taking the larger guards against an
   accidental agreement of either), plus the rounding noise ``epsilon / h`` the extrapolation
   carries. The estimate with the smallest bound is kept; that bound is the resolution there.
   Large steps are what let a tiny gradient rise above the noise: ``H`` is 1 (relative to
   ``max(1, |theta|)``) where every function of the network is smooth, and smaller where an
   activation has a kink or a restricted domain (the caller chooses points away from both). A
   step that leaves the domain gives a non-finite loss and is skipped; when most steps did, the
   steps start again from the largest that stayed inside.
4. The verdict: within the tolerance, ``ok``; off by more than the tolerance but by no more
   than the resolution, ``unresolved`` (reported; not a failure, and not verified either:
   :attr:`GradientCheck.verified` says whether every entry was, and ``symgrad check`` calls an
   entry no other judge resolves unverified); off by more than both, ``FAIL``.

The error of an entry is ``|numeric - analytic| / scale`` with ``scale`` the larger of
``|numeric|``, ``|analytic|`` and a thousandth of the largest analytic entry of its array, so an
entry that is zero up to rounding is not judged relative to itself. Large arrays are checked on
a sample of entries plus random unit directions ``v`` (``<grad, v>`` against the derivative of
``t -> L(theta + t v)``), judged the same way.

The loss is reached through a :class:`LossAt`: the loss at the point moved by ``t`` along an
entry or a direction. :class:`MovedLoss` is the one that calls a loss function in this process;
``symgrad check`` moves the point inside a sandboxed child process instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from symgrad.gradcheck.differences import (
    DIRECTIONS,
    ENTRY_LIMIT,
    FIRST_STEP,
    FLOOR,
    LEVELS,
    NOISE_SAFETY,
    NOISE_STEP,
    SAFETY,
    SAMPLE,
    SHARP,
    TOLERANCE,
    Array,
    Comparison,
    Estimate,
    GradientFunction,
    LossAt,
    LossFunction,
    MovedLoss,
    Plan,
    Probe,
    compare,
    estimate,
    location,
    make_plan,
    make_probes,
    measure_noise,
    move_and_evaluate,
    plural,
)
from symgrad.gradcheck.table import ParameterCheck, format_table, summarize


@dataclass(frozen=True)
class GradientCheck:
    """Per-parameter records of one check, in the order of the parameters."""

    records: tuple[ParameterCheck, ...]
    tolerance: float
    loss: float
    noise: float

    @property
    def passed(self) -> bool:
        """No entry fails (entries below resolution are not failures, nor verified)."""
        return all(r.passed for r in self.records)

    @property
    def verified(self) -> bool:
        """Every entry agrees within the tolerance: none fails, none is below resolution."""
        return self.passed and not any(r.count("unresolved") for r in self.records)

    def __str__(self) -> str:
        return self.table()

    def table(self) -> str:
        """A plain-text table: parameter, what was checked, worst error, where, verdict."""
        return format_table(self.records, self.tolerance)


def check_gradients(
    model: object,
    params: Mapping[str, Array],
    X: Array,
    Y: Array,
    *,
    gradients: GradientFunction | None = None,
    mode: str = "auto",
    tolerance: float = TOLERANCE,
    entry_limit: int = ENTRY_LIMIT,
    directions: int = DIRECTIONS,
    max_step: float = 1.0,
    seed: int = 0,
) -> GradientCheck:
    """Compare the analytic gradients with central differences of the loss, in this process.

    ``model`` is a generated module (anything with ``loss`` and ``gradients`` functions of
    ``(params, X, Y)``), or a loss function when ``gradients`` is given. ``mode`` is
    ``entries``, ``directions`` (a sample of entries and ``directions`` random unit directions per
    array) or ``auto`` (entries when the parameters have at most ``entry_limit`` entries in all).
    ``max_step`` is the largest step relative to ``max(1, |theta|)``: keep it small where the loss
    has kinks near the point. ``params`` is not modified. Nothing is sandboxed: for code you do
    not trust, use ``symgrad check``.
    """
    if gradients is None:
        loss: LossFunction = model.loss  # type: ignore[attr-defined]
        gradients = model.gradients  # type: ignore[attr-defined]
    else:
        loss = model  # type: ignore[assignment]
    plan = make_plan(params, mode=mode, entry_limit=entry_limit, directions=directions, seed=seed)
    work = {k: np.array(v, dtype=np.float64, copy=True) for k, v in params.items()}
    analytic = gradients(work, X, Y)
    for key, theta in work.items():
        if key not in analytic:
            raise ValueError(f"gradients has no {key}")
        if np.shape(analytic[key]) != theta.shape:
            raise ValueError(
                f"gradient {key} has shape {np.shape(analytic[key])}; expected {theta.shape}"
            )
    probes = make_probes(work, {"gradients": analytic}, plan)
    loss_at = MovedLoss(loss, work, X, Y, plan.directions)
    comparisons, value, noise = compare(loss_at, probes, tolerance=tolerance, max_step=max_step)
    shapes = {k: v.shape for k, v in work.items()}
    return GradientCheck(summarize(comparisons, shapes, tolerance), tolerance, value, noise)


__all__ = [
    "DIRECTIONS",
    "ENTRY_LIMIT",
    "FIRST_STEP",
    "FLOOR",
    "LEVELS",
    "NOISE_SAFETY",
    "NOISE_STEP",
    "SAFETY",
    "SAMPLE",
    "SHARP",
    "TOLERANCE",
    "Array",
    "Comparison",
    "Estimate",
    "GradientCheck",
    "GradientFunction",
    "LossAt",
    "LossFunction",
    "MovedLoss",
    "ParameterCheck",
    "Plan",
    "Probe",
    "check_gradients",
    "compare",
    "estimate",
    "format_table",
    "location",
    "make_plan",
    "make_probes",
    "measure_noise",
    "move_and_evaluate",
    "plural",
    "summarize",
]
