"""``symgrad check``: generated code run in a sandbox and judged twice.

Beside the pipeline, for its results. :func:`check_file` is the command; the parts:
:mod:`~symgrad.check.source` (the file read and recognized by its header),
:mod:`~symgrad.check.analysis` (the header's network, the points and symgrad's own evaluation,
in a bounded process; :mod:`~symgrad.check.points`, :mod:`~symgrad.check.reference`),
:mod:`~symgrad.check.bwrap` and :mod:`~symgrad.check.seccomp` (the sandbox: bubblewrap and an
allowlist of system calls), :mod:`~symgrad.check.build` with :mod:`~symgrad.check.screen` (C
screened and compiled in it), :mod:`~symgrad.check.session` with :mod:`~symgrad.check.child`
and :mod:`~symgrad.check.guard` (the code run in it), :mod:`~symgrad.check.run` and
:mod:`~symgrad.check.extra` (the checks), :mod:`~symgrad.check.judge` (both judges' verdicts),
:mod:`~symgrad.check.report` and :mod:`~symgrad.check.table` (what is printed), and
:mod:`~symgrad.check.limits` (every limit). Central differences come from
:mod:`symgrad.gradcheck`.

The names below are imported when first used: importing one part does not import the whole
check.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "LOADERS",
    "CheckReport",
    "Finding",
    "Inspected",
    "Limits",
    "Loader",
    "Prepared",
    "PythonLoader",
    "check_file",
    "inspect_file",
]

_HOMES = {
    "LOADERS": "source",
    "Inspected": "source",
    "Loader": "source",
    "Prepared": "source",
    "PythonLoader": "source",
    "inspect_file": "source",
    "CheckReport": "report",
    "Finding": "report",
    "Limits": "limits",
    "check_file": "run",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'symgrad.check' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"symgrad.check.{_HOMES[name]}"), name)
