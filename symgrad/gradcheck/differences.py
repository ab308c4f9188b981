"""Central differences of the loss, each entry judged at the resolution it has: the probes, the
steps, the estimates and their bounds (:mod:`symgrad.gradcheck` explains the method).

Part of :mod:`symgrad.gradcheck`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

Array = np.ndarray
LossFunction = Callable[[Mapping[str, Array], Array, Array], float]
GradientFunction = Callable[[Mapping[str, Array], Array, Array], Mapping[str, Array]]

#: Default largest relative error that passes in float64.
TOLERANCE = 1e-6
#: The step of the first central difference, relative to ``max(1, |theta|)``.
FIRST_STEP = 1e-5
#: Entries whose first difference is off by more than this fraction of the tolerance get the
#: extrapolated estimate too (so that the error reported is the sharper one).
SHARP = 0.1
#: Steps ``H 2^-j`` of the extrapolated differences, j = 0 .. LEVELS-1.
LEVELS = 14
#: Factor on the truncation part of an extrapolated estimate's error bound.
SAFETY = 4.0
#: The step of the noise probe, relative to ``max(1, |theta|)``, and the factor on its residual.
NOISE_STEP = 1e-7
NOISE_SAFETY = 4.0
#: Entries smaller than this fraction of the largest entry of their array are judged against it.
FLOOR = 1e-3
#: Networks with at most this many parameters are checked entry by entry (``mode="auto"``).
ENTRY_LIMIT = 2000
#: In ``directions`` mode: random unit directions, and sampled entries, per parameter array.
DIRECTIONS = 2
SAMPLE = 16


class LossAt(Protocol):
    """The loss at the point of the check moved along entries or directions.

    ``moves`` holds ``(key, where, t)``: ``where >= 0`` is a flat index into ``params[key]``
    (that entry moves by ``t``), ``where < 0`` the direction ``-1 - where`` of that array (the
    array moves by ``t v``). ``t = 0`` gives the loss at the point itself.
    """

    def __call__(self, moves: Sequence[tuple[str, int, float]]) -> Array: ...


@dataclass(frozen=True)
class Probe:
    """One derivative to estimate: an entry (``where >= 0``, flat) or a direction of an array.

    ``analytic`` maps the name of each function that returned a gradient to its value here
    (the entry, or ``<grad, v>``), ``scale`` to what its error is relative to.
    """

    key: str
    where: int
    index: tuple[int, ...]
    #: The entry at the point (``nan`` for a direction) and ``max(1, |entry|)`` (for a
    #: direction, ``max(1, largest |entry| of the array)``): steps are relative to it.
    value: float
    width: float
    analytic: Mapping[str, float]
    scale: Mapping[str, float]


@dataclass(frozen=True)
class Comparison:
    """One analytic value against its central-difference estimate."""

    key: str
    #: 0-based index of the entry, or ``()`` with :attr:`direction` set.
    index: tuple[int, ...]
    direction: int | None
    source: str
    numeric: float
    analytic: float
    scale: float
    #: Bound on the absolute error of :attr:`numeric` (``inf`` when nothing could be resolved).
    resolution: float
    tolerance: float
    #: Which code path of the checked code this is (``symgrad check`` runs several).
    path: str = ""

    @property
    def error(self) -> float:
        """``|numeric - analytic| / scale`` (``nan`` when either is not finite)."""
        return abs(self.numeric - self.analytic) / self.scale

    @property
    def verdict(self) -> str:
        """``ok``, ``unresolved`` (off by no more than the resolution, or no estimate at all:
        every step left the domain) or ``FAIL``."""
        error = self.error
        if error <= self.tolerance:
            return "ok"
        if not np.isfinite(self.numeric) or abs(self.numeric - self.analytic) <= self.resolution:
            return "unresolved"
        return "FAIL"


@dataclass(frozen=True)
class Estimate:
    """A derivative estimate and the bound on its absolute error."""

    value: float
    resolution: float


def estimate(values: Array, steps: Array, noise: float) -> Estimate:
    """The best extrapolated derivative from central differences at halving steps.

    ``values[j]`` is the difference quotient at ``steps[j] = H 2^-j``. Builds Richardson's
    table (orders 2, 4, 6, 8), bounds each entry's error as the module docstring says and keeps
    the entry with the smallest bound.
    """
    rounding = noise / steps
    best = Estimate(float("nan"), float("inf"))
    level, carried = values, rounding
    for order in (2, 4, 6, 8):
        if order > 2:
            gain = 2.0 ** (order - 2)
            previous = level
            level = np.full_like(previous, np.nan)
            level[1:] = (gain * previous[1:] - previous[:-1]) / (gain - 1)
            # The noise of an extrapolated entry: weights gain/(gain-1) and 1/(gain-1) on
            # entries whose noise is at most `carried` at this step and twice that at the last.
            carried = np.concatenate([[np.inf], (gain + 2) / (gain - 1) * carried[1:]])
        shrink = 2.0**order - 1
        for j in range(1, len(level) - 1):
            before, here, after = level[j - 1], level[j], level[j + 1]
            if not (np.isfinite(before) and np.isfinite(here) and np.isfinite(after)):
                continue
            truncation = max(abs(here - after), abs(before - here) / shrink)
            bound = SAFETY * truncation + carried[j] + carried[j + 1]
            if bound < best.resolution:
                best = Estimate(float(here), float(bound))
    return best


def measure_noise(
    loss_at: LossAt, probes: Sequence[Probe], value: float, eps: float, dtype: np.dtype
) -> float:
    """The rounding noise of the loss near the point (see the module docstring, step 1): the
    loss at nine points ``k s`` along each probe, less the least-squares cubic through them."""
    offsets = np.arange(-4, 5, dtype=np.float64)
    steps = [[_step(p, k * NOISE_STEP * p.width, dtype) for k in offsets] for p in probes]
    moves = [(p.key, p.where, t) for p, row in zip(probes, steps, strict=True) for t in row]
    losses = loss_at(moves).reshape(len(probes), len(offsets)) if probes else np.zeros((0, 9))
    largest = 0.0
    for row, ts, probe in zip(losses, steps, probes, strict=True):
        if not np.all(np.isfinite(row)):
            continue
        basis = np.vander(np.asarray(ts) / (NOISE_STEP * probe.width), 4)
        fit, *_ = np.linalg.lstsq(basis, row - row[4], rcond=None)
        largest = max(largest, float(np.abs(row - row[4] - basis @ fit).max()))
    return max(NOISE_SAFETY * largest, 2.0 * eps * abs(value), np.finfo(np.float64).tiny)


def compare(
    loss_at: LossAt,
    probes: Sequence[Probe],
    *,
    tolerance: float,
    max_step: float = 1.0,
    eps: float = float(np.finfo(np.float64).eps),
    dtype: np.dtype | None = None,
    noise_probes: int = 2,
) -> tuple[list[Comparison], float, float]:
    """Every probe's analytic values against central differences of ``loss_at``.

    Returns the comparisons, the loss at the point and the measured rounding noise of the loss.
    ``max_step`` is ``H`` of the module docstring; ``eps`` the machine epsilon of the dtype the
    loss is computed in, ``dtype`` that of the parameters (steps are rounded in it).
    """
    dtype = np.dtype(np.float64) if dtype is None else dtype
    origin = probes[0] if probes else None
    value = float(loss_at([(origin.key, origin.where, 0.0)])[0]) if origin else 0.0
    if not np.isfinite(value):
        raise ValueError(f"the loss at the point is {value}, not a finite number")
    sample: list[Probe] = []
    for key in dict.fromkeys(p.key for p in probes):
        mine = [p for p in probes if p.key == key]
        sample += [
            mine[n * (len(mine) - 1) // max(noise_probes - 1, 1)] for n in range(noise_probes)
        ]
    noise = measure_noise(loss_at, sample, value, eps, dtype)

    steps = [_step(p, FIRST_STEP * p.width, dtype) for p in probes]
    quotients = _quotients(loss_at, probes, [[h] for h in steps])[:, 0]
    first: dict[int, Estimate] = {}
    hard = []
    for n, probe in enumerate(probes):
        first[n] = Estimate(float(quotients[n]), 2 * noise / steps[n])
        if max(_error(first[n].value, a, probe.scale[s]) for s, a in probe.analytic.items()) > (
            SHARP * tolerance
        ):
            hard.append(n)
    second: dict[int, Estimate] = {}
    # Steps from H down; where the large ones leave the domain (a non-finite loss), once more
    # from the largest step that stayed inside.
    start = {n: max_step * probes[n].width for n in hard}
    for _ in range(2):
        if not start:
            break
        order = list(start)
        ladders = [
            [_step(probes[n], start[n] * 0.5**j, dtype) for j in range(LEVELS)] for n in order
        ]
        table = _quotients(loss_at, [probes[n] for n in order], ladders)
        start = {}
        for row, n, ladder in zip(table, order, ladders, strict=True):
            found = estimate(row, np.asarray(ladder), noise)
            if n not in second or found.resolution < second[n].resolution:
                second[n] = found
            inside = np.flatnonzero(np.isfinite(row))
            if len(inside) < LEVELS // 2 and len(inside) and inside[0] > 0:
                start[n] = ladder[inside[0]]
    comparisons = []
    for n, probe in enumerate(probes):
        for source, analytic in probe.analytic.items():
            # The extrapolated estimate where there is one; the first difference where it agrees
            # better within the tolerance (a wrong gradient agrees with neither).
            found = second.get(n, first[n])
            if n in second and _error(first[n].value, analytic, probe.scale[source]) < min(
                tolerance, _error(found.value, analytic, probe.scale[source])
            ):
                found = Estimate(first[n].value, max(first[n].resolution, found.resolution))
            comparisons.append(
                Comparison(
                    probe.key,
                    probe.index,
                    None if probe.where >= 0 else -1 - probe.where,
                    source,
                    found.value,
                    analytic,
                    _scale(found.value, analytic, probe.scale[source]),
                    found.resolution,
                    tolerance,
                )
            )
    return comparisons, value, noise


def _error(numeric: float, analytic: float, floor: float) -> float:
    return abs(numeric - analytic) / _scale(numeric, analytic, floor)


def _scale(numeric: float, analytic: float, floor: float) -> float:
    values = [abs(v) for v in (numeric, analytic, floor) if np.isfinite(v)]
    scale = max(values, default=0.0)
    return scale if scale > 0 else 1.0


def _step(probe: Probe, h: float, dtype: np.dtype) -> float:
    """``h`` rounded so that ``theta + h`` is exactly ``h`` away from the entry ``theta`` in
    ``dtype`` (a direction moves many entries, each rounded on its own)."""
    if probe.where < 0:
        return h
    theta = dtype.type(probe.value)
    return float(dtype.type(theta + dtype.type(h)) - theta) or h


def _quotients(
    loss_at: LossAt, probes: Sequence[Probe], ladders: Sequence[Sequence[float]]
) -> Array:
    """Central difference quotients of every probe at each of its steps, in one call."""
    moves = [
        (p.key, p.where, sign * h)
        for p, ladder in zip(probes, ladders, strict=True)
        for h in ladder
        for sign in (1.0, -1.0)
    ]
    losses = loss_at(moves) if moves else np.zeros(0)
    out = np.full((len(probes), max((len(x) for x in ladders), default=0)), np.nan)
    n = 0
    for row, ladder in enumerate(ladders):
        for column, h in enumerate(ladder):
            up, down = losses[n], losses[n + 1]
            n += 2
            if np.isfinite(up) and np.isfinite(down):
                out[row, column] = (up - down) / (2.0 * h)
    return out


# Planning: which entries and directions --------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """What to probe: the entries (flat indices) of each array and its random unit directions."""

    entries: Mapping[str, Array]
    directions: Mapping[str, tuple[Array, ...]] = field(default_factory=dict)

    @property
    def mode(self) -> str:
        return "directions" if any(self.directions.values()) else "entries"


def make_plan(
    params: Mapping[str, Array],
    *,
    mode: str = "auto",
    entry_limit: int = ENTRY_LIMIT,
    sample: int = SAMPLE,
    directions: int = DIRECTIONS,
    seed: int = 0,
) -> Plan:
    """Every entry (``entries``, or ``auto`` for at most ``entry_limit`` parameters in all), or a
    sample of entries (always the first and the last) and random unit directions per array."""
    if mode not in ("auto", "entries", "directions"):
        raise ValueError(f"mode must be 'auto', 'entries' or 'directions', got {mode!r}")
    total = sum(np.size(v) for v in params.values())
    if mode == "entries" or (mode == "auto" and total <= entry_limit):
        return Plan({k: np.arange(np.size(v)) for k, v in params.items()})
    rng = np.random.default_rng(seed)
    entries: dict[str, Array] = {}
    moves: dict[str, tuple[Array, ...]] = {}
    for key, theta in params.items():
        size = int(np.size(theta))
        chosen = {0, size - 1} | set(rng.choice(size, min(sample, size), replace=False).tolist())
        entries[key] = np.array(sorted(chosen))
        units = []
        for _ in range(directions):
            v = rng.standard_normal(np.shape(theta))
            units.append(v / np.linalg.norm(v))
        moves[key] = tuple(units)
    return Plan(entries, moves)


def make_probes(
    params: Mapping[str, Array], gradients: Mapping[str, Mapping[str, Array]], plan: Plan
) -> list[Probe]:
    """The probes of ``plan``: ``gradients`` maps each function's name to the gradients it
    returned (all judged against the same estimates)."""
    probes = []
    for key, theta in params.items():
        theta = np.asarray(theta, dtype=np.float64)
        grads = {s: np.asarray(g[key], dtype=np.float64) for s, g in gradients.items()}
        floors = {s: FLOOR * float(np.abs(g).max(initial=0.0)) for s, g in grads.items()}
        flat = {s: g.reshape(-1) for s, g in grads.items()}
        for where in plan.entries.get(key, ()):
            value = float(theta.reshape(-1)[where])
            probes.append(
                Probe(
                    key,
                    int(where),
                    tuple(int(i) for i in np.unravel_index(int(where), theta.shape)),
                    value,
                    max(1.0, abs(value)),
                    {s: float(f[where]) for s, f in flat.items()},
                    floors,
                )
            )
        width = max(1.0, float(np.abs(theta).max(initial=0.0)))
        norms = {s: FLOOR * float(np.linalg.norm(g)) for s, g in grads.items()}
        for n, v in enumerate(plan.directions.get(key, ())):
            probes.append(
                Probe(
                    key,
                    -1 - n,
                    (),
                    float("nan"),
                    width,
                    {s: float(np.vdot(g, v)) for s, g in grads.items()},
                    norms,
                )
            )
    return probes


class MovedLoss:
    """:class:`LossAt` for a loss function in this process (``params`` is never modified)."""

    def __init__(
        self,
        loss: LossFunction,
        params: Mapping[str, Array],
        X: Array,
        Y: Array,
        directions: Mapping[str, Sequence[Array]] | None = None,
    ) -> None:
        self.loss, self.X, self.Y = loss, X, Y
        self.base = {k: np.array(v, dtype=np.float64, copy=True) for k, v in params.items()}
        self.work = {k: v.copy() for k, v in self.base.items()}
        self.directions = directions or {}

    def __call__(self, moves: Sequence[tuple[str, int, float]]) -> Array:
        return move_and_evaluate(
            lambda p: self.loss(p, self.X, self.Y), self.base, self.work, self.directions, moves
        )


def move_and_evaluate(
    loss: Callable[[dict[str, Array]], object],
    base: Mapping[str, Array],
    work: dict[str, Array],
    directions: Mapping[str, Sequence[Array]],
    moves: Sequence[tuple[str, int, float]],
) -> Array:
    """The loss of ``work`` moved from ``base`` by each move in turn, ``work`` restored after.

    A loss that raises ``ValueError`` or ``ArithmeticError`` at a moved point (``math.log`` of a
    negative number: a step that left a restricted domain) is not finite there.
    """
    out = np.empty(len(moves))
    for n, (key, where, t) in enumerate(moves):
        theta, origin = work[key], base[key]
        if where >= 0:
            flat = theta.reshape(-1)
            flat[where] = origin.reshape(-1)[where] + t
        else:
            np.add(origin, t * directions[key][-1 - where], out=theta)
        try:
            out[n] = float(loss(work))  # type: ignore[arg-type]
        except (ValueError, ArithmeticError):
            if t == 0:
                raise
            out[n] = np.nan
        finally:
            theta[...] = origin
    return out


# Summaries --------------------------------------------------------------------------------------


def location(c: Comparison) -> str:
    """``W2[1,3]`` (1-based, as in the notes) or ``W2 direction 1``."""
    if c.direction is not None:
        return f"{c.key} direction {c.direction + 1}"
    return f"{c.key}[{','.join(str(i + 1) for i in c.index)}]" if c.index else c.key


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``1 entry``, ``2 entries``."""
    return f"{count} {noun if count == 1 else (nouns or noun + 's')}"
