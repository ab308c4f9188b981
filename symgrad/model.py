"""The building blocks of the symbolic forms: products kept in order, a function applied entry by
entry, the output function applied row by row, and generic indices made concrete.

Below the operations of the network (:mod:`symgrad.ops`), which write their definitions and
derivatives with these. Everything is written once with the generic unit indices ``i``, ``j`` of
:mod:`symgrad.notation`; concrete entries (``a_{21}``) are produced on demand by
:func:`instantiate`, so a 784-128-10 network costs no more to describe than 3-3-2.
"""

from __future__ import annotations

import sympy as sp

from symgrad import notation as nt
from symgrad.catalogue import H as H_OUTPUT

I, J = nt.I, nt.J  # noqa: E741 - the unit indices i, j of the notes


def product(*factors: sp.Expr) -> sp.Expr:
    """A product that keeps the order of the notes (``dL/dh_{kj} g'(a_{kj})``) when printed."""
    return sp.Mul(*factors, evaluate=False)


class Elementwise(sp.MatrixExpr):
    """``f`` applied to every entry of a vector or matrix: ``g'(a_k)``, ``1[A_k > 0]``.

    ``function`` is a :class:`sympy.Lambda` of one variable; printers write ``f`` with the matrix
    in place of the variable (``1/(1 + |a_1|)^2`` read entry by entry), the proof expands it.
    """

    def __new__(cls, function: sp.Lambda, arg: sp.MatrixExpr) -> Elementwise:
        return sp.Basic.__new__(cls, function, arg)  # type: ignore[return-value]

    @property
    def function(self) -> sp.Lambda:
        return self.args[0]  # type: ignore[return-value]

    @property
    def arg(self) -> sp.MatrixExpr:
        return self.args[1]  # type: ignore[return-value]

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:  # type: ignore[override]
        return self.arg.shape  # type: ignore[no-any-return]

    def at(self, value: sp.Expr) -> sp.Expr:
        """``f(value)`` for one entry."""
        variable = self.function.variables[0]
        return self.function.expr.xreplace({variable: value})  # type: ignore[no-any-return]


class RowFunction(sp.MatrixExpr):
    """The output function applied to every row of a batch: ``Yhat = softmax(A_L)``.

    ``head`` is the LaTeX of ``O`` from the catalogue (``\\operatorname{softmax}``, or ``""`` for
    the identity); the rows are samples, so it acts on each row as ``O`` acts on ``a_L``.
    """

    def __new__(cls, head: str, arg: sp.MatrixExpr) -> RowFunction:
        return sp.Basic.__new__(cls, sp.Symbol(head), arg)  # type: ignore[return-value]

    @property
    def head(self) -> str:
        return str(self.args[0])

    @property
    def arg(self) -> sp.MatrixExpr:
        return self.args[1]  # type: ignore[return-value]

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:  # type: ignore[override]
        return self.arg.shape  # type: ignore[no-any-return]


def instantiate(expr: sp.Expr, **indices: int) -> sp.Expr:
    """``expr`` with the generic indices replaced by numbers and finite sums written out."""
    values = {
        sp.Symbol(name, integer=True, positive=True): value for name, value in indices.items()
    }
    result = expr.xreplace(values)
    if result.has(sp.Sum):
        result = result.replace(lambda e: isinstance(e, sp.Sum), _write_out)
    if result.has(sp.KroneckerDelta):
        result = result.replace(
            lambda e: isinstance(e, sp.KroneckerDelta), lambda e: sp.KroneckerDelta(*e.args)
        )
    return result


def _write_out(total: sp.Sum) -> sp.Expr:
    """A finite sum written term by term.

    ``Sum.doit`` is not used: it takes ``dL/dyhat_j`` for a constant in ``j`` (a derivative's
    free symbols leave out its variables) and would pull it out of the sum.
    """
    ((index, low, high),) = total.limits
    return sp.Add(*[total.function.xreplace({index: v}) for v in range(int(low), int(high) + 1)])


def ones(rows: sp.Expr, cols: sp.Expr) -> sp.MatrixExpr:
    """The all-ones matrix of that shape."""
    return sp.OneMatrix(rows, cols)


def as_vector(expr: sp.Expr, h: sp.MatrixExpr, ones: sp.MatrixExpr) -> sp.MatrixExpr | None:
    """A polynomial in :data:`~symgrad.catalogue.H` as an elementwise vector expression, or None."""
    if expr == H_OUTPUT:
        return h
    if expr.is_Integer:
        return ones if expr == 1 else sp.MatMul(expr, ones)
    parts = [as_vector(arg, h, ones) for arg in expr.args]
    if any(part is None for part in parts):
        return None
    if isinstance(expr, sp.Add):
        return sp.MatAdd(*parts)
    if isinstance(expr, sp.Mul):
        numbers = [arg for arg in expr.args if arg.is_Number]
        if numbers == [sp.Integer(-1)] and len(expr.args) == 2:
            other = next(p for p, arg in zip(parts, expr.args, strict=True) if not arg.is_Number)
            return -other if other is not None else None
        if numbers:
            return None
        return sp.HadamardProduct(*parts)
    if isinstance(expr, sp.Pow) and expr.exp.is_Integer and expr.exp > 1:
        base = parts[0]
        return sp.HadamardProduct(*([base] * int(expr.exp)))
    return None
