"""The tables ``symgrad check`` prints: per gradient array, what each judge found.

Beside the pipeline, for ``symgrad check`` (and :meth:`symgrad.gradcheck.GradientCheck.table`).
:func:`format_table` sums up the central differences of :mod:`symgrad.gradcheck` per array;
:func:`reference_table` the comparison with symgrad's own evaluation of the network
(:mod:`symgrad.check.judge`); :func:`unverified_lines` lists what neither judge resolved. Every
position is 1-based, as in the notes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from symgrad.check.judge import FAIL, UNRESOLVED, Entries
from symgrad.gradcheck import Comparison, location, plural


@dataclass(frozen=True)
class ParameterCheck:
    """The comparisons of one parameter array, summed up."""

    key: str
    shape: tuple[int, ...]
    comparisons: tuple[Comparison, ...]
    tolerance: float

    @property
    def mode(self) -> str:
        return "directions" if any(c.direction is not None for c in self.comparisons) else "entries"

    @property
    def checked(self) -> int:
        """How many entries (or directions) were compared, counting each path and function."""
        return len(self.comparisons)

    def count(self, verdict: str) -> int:
        """How many entries (or directions) of a path have a comparison with this verdict."""
        return len(
            {(c.path, c.index, c.direction) for c in self.comparisons if c.verdict == verdict}
        )

    @property
    def probes(self) -> int:
        """How many entries (or directions) were compared, counting each path once."""
        return len({(c.path, c.index, c.direction) for c in self.comparisons})

    @property
    def passed(self) -> bool:
        return self.count("FAIL") == 0

    @property
    def worst(self) -> Comparison | None:
        """The resolved comparison with the largest error (a failure first)."""
        resolved = [c for c in self.comparisons if c.verdict != "unresolved"]
        return max(resolved, key=_badness, default=None)

    @property
    def coarsest(self) -> Comparison | None:
        """The unresolved comparison with the coarsest resolution."""
        unresolved = [c for c in self.comparisons if c.verdict == "unresolved"]
        return max(unresolved, key=lambda c: abs(c.resolution / c.scale), default=None)

    @property
    def max_error(self) -> float:
        worst = self.worst
        return worst.error if worst is not None else 0.0


def _badness(c: Comparison) -> tuple[bool, float]:
    error = c.error
    return (c.verdict == "FAIL", error if np.isfinite(error) else np.inf)


def summarize(
    comparisons: Sequence[Comparison], shapes: Mapping[str, tuple[int, ...]], tolerance: float
) -> tuple[ParameterCheck, ...]:
    """One :class:`ParameterCheck` per array, in the order of ``shapes``."""
    return tuple(
        ParameterCheck(key, shape, tuple(c for c in comparisons if c.key == key), tolerance)
        for key, shape in shapes.items()
    )


def format_table(records: Sequence[ParameterCheck], tolerance: float) -> str:
    """The table of :meth:`GradientCheck.table` (``symgrad check`` prints it too): per array, the
    entries checked, the worst error and where (1-based, as in the notes), the entries below
    resolution, the verdict; then one line that sums up."""
    unresolved = any(r.count("unresolved") for r in records)
    head = ["parameter", "checked", "worst error", "at (1-based)"]
    rows = [head + (["below resolution"] if unresolved else []) + ["result"]]
    for r in records:
        entries = len({c.index for c in r.comparisons if c.direction is None})
        directions = len({c.direction for c in r.comparisons if c.direction is not None})
        size = int(np.prod(r.shape)) if r.shape else 1
        what = f"all {size}" if entries == size else f"{entries} of {size}"
        if directions:
            what += f" + {plural(directions, 'direction')}"
        worst = r.worst
        error = f"{worst.error:.1e}" if worst is not None else "-"
        at = location(worst) if worst is not None else "-"
        if worst is not None and worst.path:
            at += f", {worst.path}"
        failed = r.count("FAIL")
        paths = len({c.path for c in r.comparisons})
        over = f" over {paths} paths" if paths > 1 else ""
        result = "ok" if not failed else f"FAIL ({failed} of {r.probes}{over})"
        row = [r.key, what, error, at]
        if unresolved:
            coarse = r.coarsest
            if coarse is None:
                row.append("-")
            elif np.isfinite(coarse.numeric) and np.isfinite(coarse.resolution):
                resolved = coarse.resolution / coarse.scale
                row.append(f"{r.count('unresolved')} (to {resolved:.0e} at {location(coarse)})")
            else:
                row.append(f"{r.count('unresolved')} (no estimate at {location(coarse)})")
        rows.append([*row, result])
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    failed = sum(not r.passed for r in records)
    if failed:
        lines.append(
            f"{failed} of {plural(len(records), 'parameter')} FAIL (tolerance {tolerance:.0e})"
        )
    else:
        lines.append(f"all {plural(len(records), 'parameter')} agree (tolerance {tolerance:.0e})")
    if unresolved:
        lines.append(
            "below resolution: entries where central differences of the loss cannot resolve "
            "the tolerance (the finest they resolve is shown); not failures, and verified only "
            "by another judge"
        )
    return "\n".join(lines)


def reference_table(entries: Sequence[Entries], tolerance: float, dtype: str) -> str:
    """Per gradient array: the entries compared on every path, the worst error (relative, as
    for central differences) and where, the bound it had, and the verdict."""
    rows = [["parameter", "checked", "worst error", "at (1-based)", "allowed", "result"]]
    for e in entries:
        size = int(np.prod(e.shape)) if e.shape else 1
        paths = len({j.path for j in e.judged})
        what = f"all {size}" + (f" on {paths} paths" if paths > 1 else "")
        worst = max(
            ((j, j.worst()) for j in e.judged),
            key=lambda pair: _severity(pair[0], pair[1]),
            default=None,
        )
        if worst is None:
            rows.append([e.key, what, "-", "-", "-", "-"])
            continue
        judged, flat = worst
        failed = sum(int(np.sum(j.verdicts == FAIL)) for j in e.judged)
        unresolved = sum(int(np.sum(j.verdicts == UNRESOLVED)) for j in e.judged)
        result = "ok"
        if failed:
            result = f"FAIL ({failed} of {size * len(e.judged)})"
        elif unresolved:
            result = f"{unresolved} unresolved"
        allowed = max(float(judged.ok[flat]), 0.0)
        rows.append(
            [
                e.key,
                what,
                f"{judged.error[flat]:.1e}",
                f"{judged.place(flat)}, {judged.path}",
                f"{allowed:.0e}",
                result,
            ]
        )
    lines = _aligned(rows)
    rule = (
        f"the tolerance, {tolerance:.0e}"
        if dtype == "float64"
        else f"each entry's own float32 noise, at most {tolerance:.0e}"
    )
    failed = sum(e.failures() > 0 for e in entries if e.judged)
    lines.append(
        f"{failed} of {plural(len(entries), 'parameter')} FAIL"
        if failed
        else f"all {plural(len(entries), 'parameter')} agree"
    )
    lines[-1] += f" (allowed: {rule})"
    return "\n".join(lines)


def _severity(judged: object, flat: int) -> tuple[bool, float]:
    from symgrad.check.judge import Judged

    assert isinstance(judged, Judged)
    error = float(judged.error[flat])
    ratio = error / max(float(judged.ok[flat]), 1e-300)
    return (bool(judged.verdicts[flat] == FAIL), ratio if np.isfinite(ratio) else np.inf)


def unverified_lines(entries: Sequence[Entries], shown: int = 8) -> list[str]:
    """One line per entry no judge resolved (the first ``shown``), with its bound."""
    found = [(e.key, *u) for e in entries for u in e.unverified()]
    if not found:
        return []
    found.sort(key=lambda item: -item[4] if np.isfinite(item[4]) else -np.inf)
    lines = [
        f"unverified: {plural(len(found), 'entry', 'entries')} that neither symgrad's evaluation "
        "nor central differences resolve to the tolerance (each with the relative error it is "
        "known to within):"
    ]
    for _, path, source, where, bound in found[:shown]:
        known = f"{bound:.0e}" if np.isfinite(bound) else "no bound"
        lines.append(f"  {where}, {source}, {path}: {known}")
    if len(found) > shown:
        lines.append(f"  ... and {len(found) - shown} more")
    return lines


def _aligned(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
