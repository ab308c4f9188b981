"""The array API printer: a program's expressions as array API code (``xp.exp``, ``@``, ``xp.sum``).

Part of the array-API target (program -> **array-api**). :class:`ArrayApiPrinter` prints on the
namespace ``xp`` that the generated function took from its arguments, using only what the Python
array API standard (2024.12 revision) defines: operators (``@``, ``.T``), elementwise functions,
``xp.sum`` / ``xp.max`` with ``keepdims``, ``xp.where``, ``xp.logaddexp``. Nothing converts to
Python numbers and nothing branches on values, so JAX, PyTorch and Dask can trace the result.
"""

from __future__ import annotations

from typing import Any

import sympy as sp
from sympy.printing.precedence import PRECEDENCE

from symgrad.arrays import Dot, Logistic
from symgrad.codegen.pyprinter import SUPPORTED_FUNCTIONS, ArrayPrinter, CodegenError


class ArrayApiPrinter(ArrayPrinter):
    """Array API code on the namespace ``xp``: ``X @ W1.T + b1``, ``xp.where(H1 > 0.0, G1, G1)``."""

    _namespace = "xp"
    #: The sigmoid is a primitive only this printer knows: every other target is handed its
    #: stable form (see :func:`symgrad.program.lower.lower_matrix`).
    _allowed = SUPPORTED_FUNCTIONS | {"Logistic"}

    def parenthesize(self, item: Any, level: int, strict: bool = False) -> str:
        # ``a @ b`` binds as ``*`` does and left to right: as a factor it needs parentheses
        # (``Z * X @ W`` would be ``(Z * X) @ W``).
        if isinstance(item, Dot) and level >= PRECEDENCE["Mul"]:
            return f"({self._print(item)})"
        return str(super().parenthesize(item, level, strict))

    def _operand(self, expr: sp.Expr) -> str:
        """An operand of ``@``: a name, ``W1.T``, or anything else in parentheses."""
        text = self._print(expr)
        simple = isinstance(expr, sp.Symbol) or type(expr).__name__ == "Transpose"
        return text if simple else f"({text})"

    def _print_Dot(self, expr: sp.Expr) -> str:
        # The operator: no function call of the compatibility layer in the way.
        return f"{self._operand(expr.args[0])} @ {self._operand(expr.args[1])}"

    def _print_Transpose(self, expr: sp.Expr) -> str:
        # The standard's .T of a matrix: a view in eager libraries, free under a compiler.
        return f"{self._method_of(expr.args[0])}.T"

    def _print_RowSum(self, expr: sp.Expr) -> str:
        # One number per row, kept as a column so that it broadcasts over the row.
        return f"xp.sum({self._print(expr.args[0])}, axis=1, keepdims=True)"

    def _print_RowMax(self, expr: sp.Expr) -> str:
        return f"xp.max({self._print(expr.args[0])}, axis=1, keepdims=True)"

    def _print_Total(self, expr: sp.Expr) -> str:
        # A 0-d array: the sum of every entry (a compiler fuses the product into the sum).
        return f"xp.sum({self._print(expr.args[0])})"

    def _print_BatchSum(self, expr: sp.Expr) -> str:
        # The sum of the rows (axis 0).
        return f"xp.sum({self._print(expr.args[0])}, axis=0)"

    def _print_LogAddExp(self, expr: sp.Expr) -> str:
        # The standard's logaddexp cannot overflow. A number beside an array becomes an array of
        # it (array_api_compat converts a Python number for torch by a dtype lookup that
        # torch.compile cannot trace).
        array, number = _array_and_number(expr.args)
        if array is None or number is None:
            return f"xp.logaddexp({', '.join(self._float(a) for a in expr.args)})"
        other = f"xp.{'zeros_like' if number == 0 else 'full_like'}({self._print(array)}"
        other += ")" if number == 0 else f", {self._float(number)})"
        return f"xp.logaddexp({self._print(array)}, {other})"

    def _print_Logistic(self, expr: sp.Expr) -> str:
        # The module's helper: the library's own exact sigmoid where it has one (one kernel),
        # else the stable form (see logistic_lines).
        return f"_logistic(xp, {self._print(expr.args[0])})"

    def _print_Max(self, expr: sp.Max) -> str:
        # max(a, c) of a variable and a number as a choice: NaN stays NaN, and no Python number
        # goes into xp.maximum (see _print_LogAddExp).
        array, number = _array_and_number(expr.args)
        if array is None or number is None:
            return super()._print_Max(expr)
        name, bound = self._print(array), self._float(number)
        return f"xp.where({name} < {bound}, {bound}, {name})"

    def _print_Min(self, expr: sp.Min) -> str:
        # As max.
        array, number = _array_and_number(expr.args)
        if array is None or number is None:
            return super()._print_Min(expr)
        name, bound = self._print(array), self._float(number)
        return f"xp.where({name} > {bound}, {bound}, {name})"

    def _print_Mul(self, expr: sp.Mul) -> str:
        # A product with a choice between numbers (relu', leaky-relu') chooses between products:
        # ``xp.where(H1 > 0.0, G1, 0.01 * G1)``. A choice between two Python numbers would take
        # the library's default dtype (float32 in torch) instead of the dtype of the arrays.
        factors = [_as_piecewise(f) for f in expr.args]
        choices = [n for n, f in enumerate(factors) if _is_choice_of_numbers(f)]
        rest = sp.Mul(*[f for n, f in enumerate(expr.args) if n not in choices])
        if len(choices) != 1 or rest.is_number:
            return str(super()._print_Mul(expr))
        choice = factors[choices[0]]
        pieces = [(value * rest, cond) for value, cond in choice.args]
        return self._print_Piecewise(sp.Piecewise(*pieces, evaluate=False))

    def _print_Piecewise(self, expr: sp.Piecewise) -> str:
        # Reached for a choice between numbers only outside a product, where no array gives the
        # dtype: refused rather than computed in the library's default dtype.
        if _is_choice_of_numbers(expr):
            raise CodegenError(
                "the array API target writes a choice between numbers only as a factor of an "
                f"array: {expr}"
            )
        return super()._print_Piecewise(expr)

    def _print_Heaviside(self, expr: sp.Heaviside) -> str:
        return self._print_Piecewise(_as_piecewise(expr))


def logistic_lines(printer: ArrayApiPrinter) -> list[str]:
    """The body of the module's ``_logistic(xp, a)`` after the library's own sigmoid: the stable
    form of :class:`~symgrad.arrays.Logistic` (the one the proof checks), ``|a|`` computed once."""
    a = sp.Symbol("a", real=True)
    (replacements, (value,)) = sp.cse(Logistic(a).stable(), sp.numbered_symbols("t", real=True))
    lines = [f"{name} = {printer.doprint(part)}" for name, part in replacements]
    return [*lines, f"return {printer.doprint(value)}"]


def _array_and_number(args: tuple[sp.Expr, ...]) -> tuple[sp.Symbol | None, sp.Expr | None]:
    """``(a, c)`` for the arguments ``(a, c)`` or ``(c, a)`` of a variable and a number."""
    if len(args) != 2:
        return None, None
    numbers = [a for a in args if a.is_number]
    names = [a for a in args if isinstance(a, sp.Symbol)]
    if len(numbers) != 1 or len(names) != 1:
        return None, None
    return names[0], numbers[0]


def _as_piecewise(expr: sp.Expr) -> sp.Expr:
    """A step function as the choice it makes; anything else unchanged."""
    return expr.rewrite(sp.Piecewise) if isinstance(expr, sp.Heaviside) else expr


def _is_choice_of_numbers(expr: sp.Expr) -> bool:
    return isinstance(expr, sp.Piecewise) and all(value.is_number for value, _ in expr.args)
