"""Array primitives: the few operations of generated code that SymPy has no function for.

The foundation of the code side of the pipeline. The catalogue writes the numerically stable forms
of its output functions and losses with these (a row of logits ``A``, a row of targets ``Y``),
the program (:mod:`symgrad.program`) is made of them, and every code target prints them. Each
primitive knows its mathematical meaning (:meth:`ArrayFunction.meaning`), so the proof can check a
stable form against the definition it replaces.

Row calculus: in a catalogue form, a symbol stands for one row of a batch (one sample's vector of
units) and arithmetic is elementwise; :class:`RowSum` and :class:`RowMax` reduce a row to one number
that broadcasts back over the row. :class:`Dot`, :class:`BatchSum` and :class:`Total` only occur in
programs.
"""

from __future__ import annotations

import sympy as sp
from sympy.codegen.cfunctions import log1p

#: A row of pre-activations of the output layer (the logits ``a_L`` of one sample).
ROW_A = sp.Symbol("A", real=True)
#: A row of targets ``y``.
ROW_Y = sp.Symbol("Y", real=True)


class ArrayFunction(sp.Function):
    """A primitive of generated code; :meth:`meaning` is what it computes, in plain SymPy."""

    def meaning(self) -> sp.Expr:
        raise NotImplementedError


class RowSum(ArrayFunction):
    """``sum_i e_i`` over the units of a row; the result broadcasts over the row."""

    nargs = 1


class RowMax(ArrayFunction):
    """``max_i e_i`` over the units of a row; the result broadcasts over the row."""

    nargs = 1


class LogAddExp(ArrayFunction):
    """``log(exp(a) + exp(b))``, computed without overflow: ``max(a, b) + log1p(exp(-|a - b|))``."""

    nargs = 2

    def meaning(self) -> sp.Expr:
        a, b = self.args
        return sp.log(sp.exp(a) + sp.exp(b))

    def stable(self) -> sp.Expr:
        """The overflow-free form every target without a ``logaddexp`` prints."""
        a, b = self.args
        return sp.Max(a, b) + log1p(sp.exp(-sp.Abs(a - b)))


class Logistic(ArrayFunction):
    """The sigmoid ``1/(1 + exp(-a))``, elementwise, with full relative accuracy on both sides.

    A target whose library has an exact sigmoid of its own calls it (the array API module on
    PyTorch arrays); every other target, and the proof, write it out as :meth:`stable`.
    """

    nargs = 1

    def meaning(self) -> sp.Expr:
        return 1 / (1 + sp.exp(-self.args[0]))

    def stable(self) -> sp.Expr:
        """``exp(min(a, 0))/(1 + exp(-|a|))`` with ``min(a, 0) = (a - |a|)/2``: ``1/(1 + e^{-a})``
        for ``a >= 0`` and ``e^{a}/(1 + e^{a})`` below. Neither exponential can overflow and
        nothing subtracts, so the value keeps its full relative accuracy on both sides
        (``(1 + tanh(a/2))/2`` is 0 below ``a = -38``). ``a - |a|`` is exact (0 or ``2a``), and
        no choice on the sign is needed: a choice is one more pass in NumPy and a slow one in
        PyTorch."""
        a = self.args[0]
        return sp.exp((a - sp.Abs(a)) / 2) / (1 + sp.exp(-sp.Abs(a)))


def written_out(expr: sp.Expr, kind: type[LogAddExp] | type[Logistic]) -> sp.Expr:
    """``expr`` with every primitive of ``kind`` written out as its stable form (for a target,
    or the proof, that does not compute it as one call)."""
    return expr.replace(lambda e: isinstance(e, kind), lambda e: e.stable())


class Dot(ArrayFunction):
    """The matrix product ``a @ b`` of two program arrays."""

    nargs = 2


class Transpose(ArrayFunction):
    """``a^T`` of a program matrix; only ever an argument of :class:`Dot`."""

    nargs = 1


class BatchSum(ArrayFunction):
    """The sum over the rows of a batch (axis 0): ``(B, n)`` becomes ``(n,)``, ``(B,)`` a number."""

    nargs = 1


class Total(ArrayFunction):
    """The sum of every entry of an array, a number."""

    nargs = 1


#: Every primitive, by name, for printers that must handle them all.
PRIMITIVES: tuple[type[ArrayFunction], ...] = (
    RowSum,
    RowMax,
    LogAddExp,
    Logistic,
    Dot,
    Transpose,
    BatchSum,
    Total,
)


def expand_row(expr: sp.Expr, units: list[dict[sp.Symbol, sp.Expr]]) -> list[sp.Expr]:
    """A row form written out unit by unit: ``units[i]`` maps each row symbol to unit ``i``.

    ``RowSum(e)`` becomes ``e_1 + ... + e_n`` and ``RowMax(e)`` ``Max(e_1, ..., e_n)``; the result
    is the list of the row's entries. Used by the scalar lowering and by the proof.
    """
    return [_expand(expr, units, i) for i in range(len(units))]


def expand_unit(expr: sp.Expr, units: list[dict[sp.Symbol, sp.Expr]], i: int) -> sp.Expr:
    """Entry ``i`` of :func:`expand_row` alone (a form with one value per row: its value)."""
    return _expand(expr, units, i)


def _expand(expr: sp.Expr, units: list[dict[sp.Symbol, sp.Expr]], i: int) -> sp.Expr:
    if isinstance(expr, sp.Symbol):
        return units[i].get(expr, expr)
    if isinstance(expr, RowSum):
        return sp.Add(*[_expand(expr.args[0], units, m) for m in range(len(units))])
    if isinstance(expr, RowMax):
        entries = [_expand(expr.args[0], units, m) for m in range(len(units))]
        if all(isinstance(e, sp.Symbol) for e in entries) and len(set(entries)) == len(entries):
            # Distinct variables: nothing to simplify, and SymPy's search for arguments it could
            # drop compares every pair (cubic in the width of the row).
            return sp.Max(*entries, evaluate=False)
        return sp.Max(*entries)
    if not expr.args:
        return expr
    return expr.func(*[_expand(arg, units, i) for arg in expr.args])
