"""The NumPy printer: expressions of a program as NumPy code (``np.exp``, ``np.dot``, ``.sum``).

Part of the NumPy target (program -> **numpy**). :class:`NumpyPrinter` prints the same
expressions as :class:`~symgrad.codegen.pyprinter.MathPrinter` on arrays, and the primitives of
whole arrays: matrix products as ``np.dot`` (for a batch of one, ``@`` takes a slow generic loop
where ``np.dot`` calls BLAS), row sums and maxima with ``keepdims``, sums over the batch.
"""

from __future__ import annotations

import sympy as sp

from symgrad.codegen.pyprinter import (
    ArrayPrinter,
    CodegenError,
    MathPrinter,
)
from symgrad.program.passes import shape_of


class NumpyPrinter(ArrayPrinter):
    """The same expressions on NumPy arrays: ``np.exp``, ``np.maximum(a, 0.0)``, ``np.where``.

    ``variables`` gives the shapes of the program's variables, which the sums over the batch
    need (the columns of a batch of a scalar program, or the rows of a whole array).
    """

    _namespace = "np"

    def _print_Dot(self, expr: sp.Expr) -> str:
        # np.dot: for a batch of one, @ runs a generic loop on an outer product, np.dot BLAS.
        return f"np.dot({self._print(expr.args[0])}, {self._print(expr.args[1])})"

    def _print_Transpose(self, expr: sp.Expr) -> str:
        # A view, no copy.
        return f"{self._method_of(expr.args[0])}.T"

    def _print_RowSum(self, expr: sp.Expr) -> str:
        # One number per row, kept as a column so that it broadcasts over the row.
        return f"{self._method_of(expr.args[0])}.sum(axis=1, keepdims=True)"

    def _print_RowMax(self, expr: sp.Expr) -> str:
        return f"{self._method_of(expr.args[0])}.max(axis=1, keepdims=True)"

    def _print_Total(self, expr: sp.Expr) -> str:
        # The sum of a product of two arrays of one shape is one BLAS dot product.
        (arg,) = expr.args
        factors = sp.Mul.make_args(arg)
        if len(factors) == 2 and self.variables:
            left, right = (shape_of(f, self.variables) for f in factors)
            if left == right and len(left) > 0:
                return f"np.vdot({self._print(factors[0])}, {self._print(factors[1])})"
        return f"np.sum({self._print(arg)})"

    def _print_LogAddExp(self, expr: sp.Expr) -> str:
        # NumPy's logaddexp cannot overflow.
        return f"np.logaddexp({', '.join(self._float(a) for a in expr.args)})"

    def _print_BatchSum(self, expr: sp.Expr) -> str:
        # Whole arrays: the sum of the rows. Columns: a dot product of two columns is one BLAS
        # call; anything else is summed.
        (arg,) = expr.args
        if self._ndim(arg) == 2:
            return f"{self._method_of(arg)}.sum(axis=0)"
        factors = sp.Mul.make_args(arg)
        if len(factors) == 2 and all(f.is_Symbol for f in factors):
            return f"np.dot({self._print(factors[0])}, {self._print(factors[1])})"
        return f"np.sum({self._print(arg)})"


_MATH = MathPrinter()
_NUMPY = NumpyPrinter()


def math_code(expr: sp.Expr) -> str:
    """Python code of ``expr`` on floats (``math`` module)."""
    return _MATH.doprint(expr)


def numpy_code(expr: sp.Expr) -> str:
    """Python code of ``expr`` on NumPy arrays (``np``)."""
    return _NUMPY.doprint(expr)


__all__ = [
    "CodegenError",
    "MathPrinter",
    "NumpyPrinter",
    "math_code",
    "numpy_code",
]
