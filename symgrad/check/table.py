"""The tables ``symgrad check`` prints: per gradient array, what each judge found.

Beside the pipeline, for ``symgrad check``. The table of the central differences per array is
:func:`symgrad.gradcheck.table.format_table`; :func:`reference_table` sums up the comparison
with symgrad's own evaluation of the network (:mod:`symgrad.check.judge`);
:func:`unverified_lines` lists what neither judge resolved. Every position is 1-based, as in
the notes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from symgrad.check.judge import FAIL, UNRESOLVED, Entries
from symgrad.gradcheck import plural


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
