"""The verdicts of ``symgrad check``: each result against symgrad's own, then both judges at once.

Beside the pipeline, for ``symgrad check``. :func:`judge` compares a result of the checked code
(a gradient, the loss, ``forward``), entry by entry, with symgrad's high-precision value of the
same quantity (:mod:`symgrad.check.reference`). An entry's error is relative to its scale, the
larger of the reference's entry and a thousandth of the array's largest (as central differences
judge it), and is allowed what the dtype the code runs in explains:

- float64: the tolerance (``--tolerance``, 1e-6). Past it an entry fails, unless rounding at the
  point explains more (:data:`FLOAT64_SAFETY` times how far symgrad's program in float64 is
  from the reference there): then the reference cannot resolve it and says so.
- float32: its own measured noise. The code is run at nearby points (each number moved by a few
  float32 roundings) and the change of its error there, against the change symgrad's program
  in float64 shows, is the noise of each entry; the entry may be off by
  :data:`FLOAT32_SAFETY` times that (at least :data:`FLOAT32_MEDIAN` times the array's median
  noise and :data:`ROUNDINGS` roundings), and at most by the tolerance (1e-3 for float32
  code); an entry noisier than the tolerance is unresolved when its error is within its noise.

:class:`Entries` then joins both judges per gradient array: an entry fails when either judge
fails it, is verified when either resolves it, and is **unverified** otherwise, with the
sharper of the two bounds. A check with an unverified entry is never a PASS.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from symgrad.check.reference import Results
from symgrad.gradcheck import FLOOR, Comparison, location

FLOAT64_SAFETY = 16.0
#: How close a value the code computes (not a derivative) must be in float64, at least; and
#: two computations of the same quantity by the checked code (the loss of loss and of
#: loss_and_gradients; labels and one-hot rows; a batch and its rows), or the measured
#: rounding noise of the loss, whichever is larger.
AGREEMENT = 1e-12
FLOAT32_SAFETY = 8.0
FLOAT32_MEDIAN = 8.0
#: The smallest bound, in roundings of the dtype.
ROUNDINGS = {"float64": 64.0, "float32": 32.0}
EPS = {"float64": float(np.finfo(np.float64).eps), "float32": float(np.finfo(np.float32).eps)}
TINY = float(np.finfo(np.float64).tiny)
OK, UNRESOLVED, FAIL = 0, 1, 2


@dataclass(frozen=True)
class Judged:
    """One result of the checked code on one path against symgrad's, every entry."""

    quantity: str  # "W1", "the loss", "forward"
    source: str  # the function that returned it
    path: str
    shape: tuple[int, ...]
    given: np.ndarray  # flat
    wanted: np.ndarray  # flat
    error: np.ndarray  # relative to the scale
    ok: np.ndarray  # relative error that passes
    bound: np.ndarray  # relative error rounding explains

    #: Each entry's verdict: OK, UNRESOLVED or FAIL.
    verdicts: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        verdict = np.full(self.error.shape, UNRESOLVED, dtype=np.int8)
        verdict[self.error <= self.ok] = OK
        verdict[~(self.error <= np.maximum(self.ok, self.bound))] = FAIL
        # A result that is not a number where the network's is fails, whatever its noise.
        verdict[~np.isfinite(self.given) & np.isfinite(self.wanted)] = FAIL
        object.__setattr__(self, "verdicts", verdict)

    def worst(self) -> int:
        """The flat index of the worst entry (a failure first)."""
        ratio = np.where(np.isfinite(self.error), self.error / np.maximum(self.ok, TINY), np.inf)
        return int(np.argmax(ratio + (self.verdicts == FAIL) * 1e300)) if ratio.size else 0

    def place(self, flat: int) -> str:
        """``W1[2,3]`` or ``yhat[1,2]`` (1-based), or the quantity for a number."""
        if not self.shape:
            return self.quantity
        name = "yhat" if self.quantity == "forward" else self.quantity
        index = np.unravel_index(flat, self.shape)
        return f"{name}[{','.join(str(int(i) + 1) for i in index)}]"


def judge(
    quantity: str,
    source: str,
    path: str,
    given: np.ndarray | float,
    wanted: np.ndarray | float,
    program: np.ndarray | float,
    dtype: str,
    tolerance: float,
    noise: np.ndarray | None = None,
    computed: bool = False,
) -> Judged:
    """``given`` (the checked code's) against ``wanted`` (symgrad's high-precision value), with
    ``program`` (symgrad's program in float64 at the same point) and, for float32, the noise
    of each entry (relative to its scale). A ``computed`` quantity (the loss, ``forward``: a
    value, not a derivative) is held in float64 to rounding itself: :data:`AGREEMENT`, or what
    rounding at the point explains, whichever is larger."""
    shape = np.shape(wanted)
    wanted_flat = np.asarray(wanted, dtype=np.float64).ravel()
    given_flat = np.asarray(given, dtype=np.float64).ravel()
    scale = np.maximum(np.abs(wanted_flat), FLOOR * np.abs(wanted_flat).max(initial=0.0))
    scale = np.where(scale > 0, scale, 1.0)
    with np.errstate(all="ignore"):
        error = np.abs(given_flat - wanted_flat) / scale
    error = np.where(np.isnan(error), np.inf, error)
    floor = ROUNDINGS[dtype] * EPS[dtype]
    if dtype == "float64" or noise is None:
        program_flat = np.asarray(program, dtype=np.float64).ravel()
        with np.errstate(all="ignore"):
            off = np.abs(program_flat - wanted_flat) / scale
        rounding = float(np.nanmax(off, initial=0.0)) if off.size else 0.0
        bound = np.full(error.shape, max(FLOAT64_SAFETY * rounding, floor))
        ok = np.maximum(bound, AGREEMENT) if computed else np.full(error.shape, tolerance)
    else:
        spread = np.asarray(noise, dtype=np.float64).ravel()
        spread = np.where(np.isfinite(spread), spread, np.inf)
        median = float(np.median(spread)) if spread.size else 0.0
        bound = np.maximum(FLOAT32_SAFETY * spread, max(FLOAT32_MEDIAN * median, floor))
        ok = np.minimum(bound, tolerance)
    return Judged(quantity, source, path, shape, given_flat, wanted_flat, error, ok, bound)


def noise(
    base: np.ndarray | float,
    base_program: np.ndarray | float,
    moved: Sequence[np.ndarray | float],
    moved_program: Sequence[np.ndarray | float],
    wanted: np.ndarray | float,
    program32: np.ndarray | float,
) -> np.ndarray:
    """The float32 noise of each entry, relative to its scale: how far the checked code's error
    moves from the point to the nearby ones (its change there, less the change of symgrad's
    program in float64), and at least how far symgrad's program in float32 is from the
    reference at the point (rounding that nearby points do not change, such as that of
    ``1 - h`` for a saturated sigmoid, shows there)."""
    wanted_flat = np.asarray(wanted, dtype=np.float64).ravel()
    scale = np.maximum(np.abs(wanted_flat), FLOOR * np.abs(wanted_flat).max(initial=0.0))
    scale = np.where(scale > 0, scale, 1.0)
    error = np.asarray(base, dtype=np.float64).ravel() - np.asarray(base_program).ravel()
    with np.errstate(all="ignore"):
        spread = np.abs(np.asarray(program32, dtype=np.float64).ravel() - wanted_flat) / scale
    with np.errstate(all="ignore"):
        for given, program in zip(moved, moved_program, strict=True):
            change = np.asarray(given, dtype=np.float64).ravel() - np.asarray(program).ravel()
            spread = np.maximum(spread, np.abs(change - error) / scale)
    return np.where(np.isnan(spread), np.inf, spread)


@dataclass
class Entries:
    """Both judges' verdicts on one gradient array over every path and function."""

    key: str
    shape: tuple[int, ...]
    judged: list[Judged] = field(default_factory=list)
    comparisons: list[Comparison] = field(default_factory=list)
    #: Why symgrad's evaluation is missing (None when it judged every entry).
    missing: str | None = None

    def failures(self) -> int:
        """Entries (or directions) that a judge fails, counted over paths and functions."""
        failed = sum(int(np.sum(j.verdicts == FAIL)) for j in self.judged)
        return failed + sum(1 for c in self.comparisons if c.verdict == "FAIL")

    def unverified(self) -> list[tuple[str, str, str, float]]:
        """``(path, function, entry, bound)`` of each entry that neither judge resolves (the
        bound relative to the entry's scale). Without symgrad's evaluation: every entry or
        direction central differences leave unresolved."""
        if self.missing is not None:
            return [
                (c.path, c.source, location(c), _bound(c))
                for c in self.comparisons
                if c.verdict == "unresolved"
            ]
        by_place = {(c.path, c.source, location(c)): c for c in self.comparisons}
        out = []
        for j in self.judged:
            for flat in np.flatnonzero(j.verdicts == UNRESOLVED):
                place = (j.path, j.source, j.place(int(flat)))
                found = by_place.get(place)
                if found is not None and found.verdict == "ok":
                    continue
                bound = float(j.bound[flat])
                if found is not None:
                    bound = min(bound, _bound(found))
                out.append((*place, bound))
        return out


def _bound(c: Comparison) -> float:
    bound = abs(c.resolution / c.scale)
    return bound if np.isfinite(bound) else np.inf


def join(
    shapes: dict[str, tuple[int, ...]],
    judged: Iterable[Judged],
    comparisons: Iterable[Comparison],
    missing: str | None,
) -> list[Entries]:
    """The :class:`Entries` of every gradient array, in the order of ``shapes``."""
    out = {key: Entries(key, shape, missing=missing) for key, shape in shapes.items()}
    for j in judged:
        out[j.quantity].judged.append(j)
    for c in comparisons:
        out[c.key].comparisons.append(c)
    return list(out.values())


def noises(
    base: dict[str, Any],
    moved: list[dict[str, Any]],
    program: Results,
    programs: list[Results],
    wanted: Results,
    program32: Results,
) -> dict[str, np.ndarray]:
    """``{"function/quantity": noise}`` (:func:`noise`) for every result of the checked code
    present at the point (``base``, as :meth:`symgrad.check.run._Run.call_all` returns them)
    and at each nearby point (``moved``), with symgrad's program in float64 there
    (``program``, ``programs``), the reference (``wanted``) and the program in float32."""

    def parts(results: dict[str, Any], of: Results | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if of is not None:
            out["loss_and_gradients/the loss"] = of.loss
            out["loss/the loss"] = of.loss
            out["forward/forward"] = of.yhat
            for key, value in of.gradients.items():
                out[f"loss_and_gradients/{key}"] = value
                out[f"gradients/{key}"] = value
            return out
        pair = results.get("loss_and_gradients")
        if pair is not None:
            out["loss_and_gradients/the loss"] = pair[0]
            for key, value in (pair[1] or {}).items():
                out[f"loss_and_gradients/{key}"] = value
        for key, value in (results.get("gradients") or {}).items():
            out[f"gradients/{key}"] = value
        out["loss/the loss"] = results.get("loss")
        out["forward/forward"] = results.get("forward")
        return out

    mine = parts(base, None)
    wanted_parts = parts({}, wanted)
    program_parts = parts({}, program)
    moved_parts = [parts(m, None) for m in moved]
    moved_programs = [parts({}, p) for p in programs]
    rounded = parts({}, program32)
    out = {}
    for name, value in mine.items():
        if value is None or any(m.get(name) is None for m in moved_parts):
            continue
        want = wanted_parts[name]
        out[name] = noise(
            np.reshape(value, -1),
            np.reshape(program_parts[name], -1),
            [np.reshape(m[name], -1) for m in moved_parts],
            [np.reshape(p[name], -1) for p in moved_programs],
            np.reshape(want, -1),
            np.reshape(rounded[name], -1),
        )
    return out
