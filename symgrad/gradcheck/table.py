"""The central differences of a check summed up per parameter array, and their table.

Part of :mod:`symgrad.gradcheck` (``symgrad check`` prints the same table).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from symgrad.gradcheck.differences import Comparison, location, plural


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
