"""Matrix forms of the notation entry by entry, and the zero test of the symbolic proof.

Part of the proof (:mod:`symgrad.proof.symbolic`, :mod:`symgrad.proof.batch`): a matrix expression
of the notation (``W_k^T grad_{a_k} L``, ``g'(a_k)`` applied entry by entry) as the elementwise
SymPy of one of its entries, and the test that the difference of two forms is zero.
"""

from __future__ import annotations

import sympy as sp

from symgrad import notation as nt
from symgrad.errors import ProofError
from symgrad.model import Elementwise
from symgrad.network import Network


def is_zero(expr: sp.Expr) -> bool:
    if expr == 0:  # the terms cancelled as the difference was built: no expansion needed
        return True
    expr = sp.expand(expr)
    if expr == 0:
        return True
    if expr.has(sp.Heaviside, sp.Piecewise, sp.Max):
        # Indicators as pieces, so that 1[a > 0] + 0.01 1[a <= 0] meets its piecewise definition.
        return sp.simplify(expr.rewrite(sp.Piecewise)) == 0
    return sp.simplify(sp.cancel(expr.rewrite(sp.exp))) == 0


class ExplicitMatrices:
    """Entries of a matrix expression of the notation, one at a time, as elementwise SymPy."""

    #: How the error names what could not be expanded.
    where = "entrywise"

    def __init__(self, net: Network) -> None:
        self.net = net

    def entry(self, expr: sp.MatrixExpr, row: int, col: int = 1) -> sp.Expr:
        return self._entry(expr, row, col)

    def _leaf(self, symbol: nt.QuantitySymbol, r: int, c: int) -> sp.Expr:
        """Entry ``(r, c)`` of a quantity of the notation."""
        return nt.entry(symbol.quantity, r, c)

    def _entry(self, expr: sp.Basic, r: int, c: int) -> sp.Expr:
        if isinstance(expr, nt.QuantitySymbol):
            return self._leaf(expr, r, c)
        if isinstance(expr, sp.OneMatrix):
            return sp.Integer(1)
        if isinstance(expr, Elementwise):
            return expr.at(self._entry(expr.arg, r, c))
        if isinstance(expr, sp.Transpose):
            return self._entry(expr.arg, c, r)
        if isinstance(expr, sp.MatAdd):
            return sp.Add(*[self._entry(a, r, c) for a in expr.args])
        if isinstance(expr, sp.HadamardProduct):
            return sp.Mul(*[self._entry(a, r, c) for a in expr.args])
        if isinstance(expr, sp.HadamardPower):
            return self._entry(expr.base, r, c) ** expr.exp
        if isinstance(expr, sp.MatMul):
            scalars = [a for a in expr.args if not a.is_Matrix]
            matrices = [a for a in expr.args if a.is_Matrix]
            coefficient = sp.Mul(*scalars)
            return coefficient * self._product(matrices, r, c)
        raise ProofError(f"cannot expand {type(expr).__name__} {self.where}")

    def _product(self, matrices: list[sp.MatrixExpr], r: int, c: int) -> sp.Expr:
        if len(matrices) == 1:
            return self._entry(matrices[0], r, c)
        first, rest = matrices[0], matrices[1:]
        inner = int(first.shape[1])
        rest_expr = rest[0] if len(rest) == 1 else sp.MatMul(*rest)
        return sp.Add(
            *[
                self._entry(first, r, m) * self._product(rest, m, c)
                if len(rest) > 1
                else self._entry(first, r, m) * self._entry(rest_expr, m, c)
                for m in range(1, inner + 1)
            ]
        )
