"""``symgrad check``: generated code run in a sandbox and checked against central differences.

Beside the pipeline, for its results. :func:`check_file` is the command; the parts:
:mod:`~symgrad.check.source` (recognize a file without running it; one loader per target),
:mod:`~symgrad.check.points` (points inside the activations' domains),
:mod:`~symgrad.check.session` with :mod:`~symgrad.check.child` and :mod:`~symgrad.check.guard`
(the sandboxed child process), :mod:`~symgrad.check.run` (the checks) and
:mod:`~symgrad.check.report` (what is printed). The numbers come from :mod:`symgrad.gradcheck`.
"""

from __future__ import annotations

from symgrad.check.report import CheckReport, Finding
from symgrad.check.run import check_file
from symgrad.check.source import LOADERS, Inspected, Loader, Prepared, PythonLoader, inspect_file

__all__ = [
    "LOADERS",
    "CheckReport",
    "Finding",
    "Inspected",
    "Loader",
    "Prepared",
    "PythonLoader",
    "check_file",
    "inspect_file",
]
