"""Compiling the LaTeX notes with pdflatex, and what its log says about them.

At the end of the notes renderer (derivation -> notes -> **pdf**): ``python -m symgrad.examples``
compiles the examples in ``generated/`` with :func:`compile_pdf`, and the tests compile every case
and fail on any of :attr:`Compiled.problems`: an error, an overfull or underfull box, a label
defined twice, or a reference to a label that does not exist.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

#: Lines of a pdflatex log that the notes must never produce.
_PROBLEMS = re.compile(
    r"^(?:!"
    r"|Overfull \\[hv]box"
    r"|Underfull \\[hv]box"
    r"|LaTeX Warning: Label `[^']*' multiply defined"
    r"|LaTeX Warning: There were multiply-defined labels"
    r"|LaTeX Warning: Reference `[^']*' on page \S+ undefined"
    r"|LaTeX Warning: There were undefined references"
    r"|LaTeX Warning: Citation)"
)
#: What pdflatex says when the cross-references need one more run.
_RERUN = re.compile(r"Rerun to get|Label\(s\) may have changed|Rerun LaTeX")


@dataclass(frozen=True)
class Compiled:
    """The result of :func:`compile_pdf`: the PDF bytes and the log of the last run."""

    pdf: bytes
    log: str

    @property
    def problems(self) -> list[str]:
        """Every error, overfull or underfull box, multiply-defined label and undefined
        reference in the log."""
        return [line for line in self.log.splitlines() if _PROBLEMS.match(line)]

    @property
    def pages(self) -> int:
        """The number of pages, from pdflatex's last line (``Output written ... (7 pages``)."""
        found = re.findall(r"\((\d+) pages?[,)]", self.log)
        return int(found[-1]) if found else 0


def compile_pdf(tex_source: str, workdir: Path, name: str = "notes", runs: int = 3) -> Compiled:
    """Compile ``tex_source`` with pdflatex in ``workdir``, reproducibly (fixed date, no ids).

    The first run only writes the cross-references (``-draftmode``); later runs, at most
    ``runs`` in all, typeset until the references settle. Raises :class:`RuntimeError` with the
    log's errors when pdflatex fails; a missing ``pdflatex`` raises :class:`FileNotFoundError`.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / f"{name}.tex").write_text(tex_source, encoding="utf-8")
    env = dict(os.environ, SOURCE_DATE_EPOCH="0", FORCE_SOURCE_DATE="1", TZ="UTC")
    log = ""
    for run in range(runs):
        draft = ["-draftmode"] if run == 0 and runs > 1 else []
        command = ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", *draft, f"{name}.tex"]
        result = subprocess.run(command, cwd=workdir, env=env, capture_output=True, check=False)
        log_path = workdir / f"{name}.log"
        log = log_path.read_text(encoding="latin-1") if log_path.exists() else ""
        if result.returncode != 0:
            errors = [line for line in log.splitlines() if line.startswith("!")]
            raise RuntimeError(f"pdflatex failed on {name}.tex: {'; '.join(errors) or 'no log'}")
        if not draft and not _RERUN.search(log):
            break
    return Compiled((workdir / f"{name}.pdf").read_bytes(), log)
