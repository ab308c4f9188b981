"""The program: the derivation lowered to array statements, its passes and its evaluator.

derivation -> proof -> **program** -> targets. :func:`lower_matrix` and :func:`lower_scalar`
translate the derivation; :mod:`symgrad.program.passes` transforms programs; :func:`evaluate` runs
one on numbers; :func:`show` prints one (``symgrad derive --show program``).
"""

from __future__ import annotations

from symgrad.program.evaluate import FLOAT64, Arithmetic, Evaluation, evaluate
from symgrad.program.ir import BATCH, Holds, Output, Program, Role, Statement, Style, Var
from symgrad.program.lower import lower_matrix, lower_scalar
from symgrad.program.passes import (
    eliminate_common_subexpressions,
    merge_totals,
    one_sample,
    prune,
    shape_of,
)

__all__ = [
    "BATCH",
    "FLOAT64",
    "Holds",
    "Arithmetic",
    "Evaluation",
    "Output",
    "Program",
    "Role",
    "Statement",
    "Style",
    "Var",
    "eliminate_common_subexpressions",
    "evaluate",
    "lower_matrix",
    "lower_scalar",
    "merge_totals",
    "one_sample",
    "prune",
    "shape_of",
]
