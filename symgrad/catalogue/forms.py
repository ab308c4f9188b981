"""What the entries of the catalogue are written with: sums and products kept in order,
the sigmoid and its stable form.

Part of the catalogue (:mod:`symgrad.catalogue`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

import sympy as sp

#: Stands for ``h = g(x)`` in :attr:`Activation.derivative_in_output` and :attr:`Activation.slope`.
H = sp.Symbol("h", real=True)

LEAKY_SLOPE = sp.Rational(1, 100)

Index: TypeAlias = sp.Expr
Indexed: TypeAlias = Callable[[sp.Expr], sp.Expr]
#: A form of a display derivation and the name of the rule that gives it.
Algebra: TypeAlias = tuple[sp.Expr, str]
Ones: TypeAlias = Callable[[sp.Expr, sp.Expr], sp.MatrixExpr]


def sigmoid(z: sp.Expr) -> sp.Expr:
    return 1 / (1 + sp.exp(-z))


def ordered(*terms: sp.Expr) -> sp.Expr:
    """A sum printed in the order given (``1 - h``), not SymPy's (``-h + 1``)."""
    return sp.Add(*terms, evaluate=False)


def product(*factors: sp.Expr) -> sp.Expr:
    return sp.Mul(*factors, evaluate=False)


def difference(left: sp.Expr, right: sp.Expr) -> sp.Expr:
    """``left - right`` kept in that order when printed (``yhat_i - y_i``)."""
    return sp.Add(left, sp.Mul(-1, right), evaluate=False)


def replace_keeping_order(expr: sp.Expr, mapping: dict[sp.Expr, sp.Expr]) -> sp.Expr:
    """``expr.xreplace(mapping)`` without re-evaluating, so ``h (1 - h)`` prints in that order."""
    if expr in mapping:
        return mapping[expr]
    if not expr.args:
        return expr
    args = [replace_keeping_order(a, mapping) for a in expr.args]
    if isinstance(expr, (sp.Add, sp.Mul, sp.Pow)):
        return expr.func(*args, evaluate=False)
    return expr.func(*args)


#: How a note says that a code form is safe.
NO_OVERFLOW = "which cannot overflow"
#: How the code computes the sigmoid, for the comment above it.
EXACT_SIGMOID = (
    "computed as exp(min(a, 0))/(1 + exp(-|a|)) with min(a, 0) = (a - |a|)/2: 1/(1 + e^-a) for "
    "a >= 0 and e^a/(1 + e^a) below, which cannot overflow and keeps full relative accuracy on "
    "both sides"
)
#: How the array API module computes the sigmoid, for the comment above it.
NATIVE_SIGMOID = (
    "computed by _logistic: PyTorch's own sigmoid on PyTorch tensors, else exp(min(a, 0))/(1 + "
    "exp(-|a|)), which cannot overflow; both keep full relative accuracy wherever the value is a "
    "normal number"
)
