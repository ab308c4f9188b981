"""The result of ``symgrad check`` and the report it prints.

Beside the pipeline, for its results: what was checked (the network, the paths, the points),
the table of gradients per parameter (:func:`symgrad.gradcheck.format_table`), one line per
other check, and the verdict. Deterministic: no times, no absolute paths beyond the one given.
"""

from __future__ import annotations

from dataclasses import dataclass

from symgrad.check.source import Inspected
from symgrad.gradcheck import ParameterCheck, format_table


@dataclass(frozen=True)
class Finding:
    """One check besides the gradient table, and whether it passed."""

    passed: bool
    text: str


@dataclass(frozen=True)
class CheckReport:
    """Everything ``symgrad check`` found in one file."""

    inspected: Inspected
    seed: int
    #: The code paths checked: ``a batch of 4``, ``one sample (1-D)``, ...
    paths: tuple[str, ...]
    tolerance: float
    dtype: str
    #: How the points were placed inside restricted domains ("" when drawn freely).
    points_note: str
    #: Why the system-call filter is missing (None when it is in place).
    seccomp: str | None
    #: Resource limits the system would not set.
    unlimited: tuple[str, ...]
    gradients: tuple[ParameterCheck, ...]
    findings: tuple[Finding, ...]

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.gradients) and all(f.passed for f in self.findings)

    def __str__(self) -> str:
        return self.report()

    def table(self) -> str:
        return self.report()

    def report(self) -> str:
        spec = self.inspected.spec
        activations = ", ".join(dict.fromkeys(a.display for a in spec.activations)) or "none"
        style = f", {self.inspected.style} style" if self.inspected.style else ""
        sandbox = (
            "audit hook, "
            + ("seccomp filter, " if self.seccomp is None else "")
            + "time and memory limits"
        )
        if self.seccomp is not None:
            sandbox += f"; no seccomp filter: {self.seccomp}"
        if self.unlimited:
            sandbox += f"; this system set no limit on {', '.join(self.unlimited)}"
        lines = [
            f"{self.inspected.path}: network {'-'.join(map(str, spec.sizes))} (hidden "
            f"activation {activations}, {spec.output} output, {spec.loss} loss), "
            f"{self.inspected.target} target{style}",
            f"paths: {', '.join(self.paths)}; points drawn from seed {self.seed}"
            + (f", {self.points_note}" if self.points_note else ""),
            f"run in a sandboxed process ({sandbox})",
            "",
            f"gradients of loss_and_gradients and gradients against central differences of "
            f"loss ({self.dtype}), on every path:",
            format_table(self.gradients, self.tolerance),
            "",
            *(f"{'ok  ' if f.passed else 'FAIL'}  {f.text}" for f in self.findings),
            "",
            "PASS" if self.passed else "FAIL",
        ]
        return "\n".join(lines) + "\n"
