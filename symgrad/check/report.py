"""The result of ``symgrad check`` and the report it prints.

Beside the pipeline, for its results: what was checked (the network, the paths, the points, the
sandbox), the gradients against symgrad's own evaluation of the network and against central
differences (:mod:`symgrad.check.table`), the entries neither judge resolved, one line per other
check, and the verdict: PASS, FAIL or UNVERIFIED. Deterministic: no times, no absolute paths
beyond the one given, and no text of the checked code's choosing beyond a short clean excerpt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from symgrad.check.analysis import Network
    from symgrad.check.judge import Entries
    from symgrad.check.source import Inspected
    from symgrad.gradcheck import ParameterCheck


@dataclass(frozen=True)
class Finding:
    """One check besides the gradient tables: passed (True), failed (False) or unverified
    (None: nothing could tell)."""

    passed: bool | None
    text: str


@dataclass(frozen=True)
class CheckReport:
    """Everything ``symgrad check`` found in one file."""

    inspected: Inspected
    network: Network
    seed: int
    #: The code paths checked: ``a batch of 8``, ``one sample (1-D)``, ...
    paths: tuple[str, ...]
    tolerance: float
    #: The dtype the code computes in (C: its ``real_t``).
    dtype: str
    #: How the points were placed inside restricted domains ("" when drawn freely).
    points_note: str
    #: What the sandbox was made of.
    sandbox: str
    #: Central differences, per parameter array.
    gradients: tuple[ParameterCheck, ...]
    #: Both judges, per parameter array.
    entries: tuple[Entries, ...]
    findings: tuple[Finding, ...]
    #: Why symgrad's evaluation of the network is missing (None when it judged).
    reference_missing: str | None = None
    #: How a C file was compiled and linked in the sandbox ("" for Python).
    compiled: str = ""

    @property
    def verdict(self) -> str:
        """``FAIL`` when anything disagrees; else ``UNVERIFIED`` when an entry of a gradient
        (or another check) was resolved by nothing; else ``PASS``."""
        if any(e.failures() for e in self.entries) or any(f.passed is False for f in self.findings):
            return "FAIL"
        if any(e.unverified() for e in self.entries) or any(
            f.passed is None for f in self.findings
        ):
            return "UNVERIFIED"
        return "PASS"

    @property
    def passed(self) -> bool:
        return self.verdict == "PASS"

    def __str__(self) -> str:
        return self.report()

    def report(self) -> str:
        from symgrad.check.table import reference_table, unverified_lines
        from symgrad.gradcheck import format_table

        network = self.network
        activations = ", ".join(dict.fromkeys(network.activations)) or "none"
        style = f", {self.inspected.style} style" if self.inspected.style else ""
        lines = [
            f"{self.inspected.path}: network {'-'.join(map(str, network.sizes))} (hidden "
            f"activation {activations}, {network.output} output, {network.loss} loss), "
            f"{self.inspected.target} target{style}, computing in {self.dtype}",
            f"paths: {', '.join(self.paths)}; points drawn from seed {self.seed}"
            + (f", {self.points_note}" if self.points_note else ""),
            f"run in a sandbox ({self.sandbox})",
        ]
        if self.compiled:
            lines.append(f"compiled with {self.compiled}")
        lines.append("")
        if self.reference_missing is None:
            lines += [
                "gradients of loss_and_gradients and gradients against symgrad's own "
                f"evaluation of the network (60 digits), every entry, on every path "
                f"({self.dtype}):",
                reference_table(self.entries, self.tolerance, self.dtype),
                "",
            ]
        lines += [
            f"gradients of loss_and_gradients and gradients against central differences of "
            f"loss ({self.dtype}), on every path:",
            format_table(self.gradients, self.tolerance),
            "",
        ]
        unverified = unverified_lines(self.entries)
        if unverified:
            lines += [*unverified, ""]
        marks = {True: "ok  ", False: "FAIL", None: "??  "}
        lines += [f"{marks[f.passed]}  {f.text}" for f in self.findings]
        lines += ["", self.verdict]
        return "\n".join(lines) + "\n"
