"""The C printer: expressions of a program as C99 on ``real_t`` (``double`` or ``float``).

Part of the C target (program -> **c**). :class:`CPrinter` subclasses SymPy's
:class:`~sympy.printing.c.C99CodePrinter` and overrides only what it needs, each override with its
reason. Where a variable is a whole array of the looped form, ``index`` says how to read its entry
(``A1[s * 3 + i]``); the scalar names of the unrolled form print as they are. A function outside
the supported set raises :class:`~symgrad.codegen.pyprinter.CodegenError`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import sympy as sp
from sympy.codegen.ast import float32, float64, real
from sympy.printing.c import C99CodePrinter
from sympy.printing.precedence import PRECEDENCE, precedence

from symgrad import functions
from symgrad.arrays import LogAddExp
from symgrad.codegen.pyprinter import ARRAY_FUNCTIONS, SUPPORTED_FUNCTIONS, CodegenError

#: The C type of each ``--dtype`` and the suffix of its literals and ``<math.h>`` functions.
C_TYPES = {"double": (float64, ""), "float": (float32, "f")}

#: Integer powers up to this one are written as products (``h * h``), which is exact and fast.
PRODUCT_POWER_LIMIT = 4


class CPrinter(C99CodePrinter):
    """C99 for one ``real_t``: ``tanh(0.5 * a1_0)`` (``tanhf(0.5f * a1_0)`` for float).

    ``index(symbol)`` returns the C text of a variable (an array entry in loops) or None to print
    its name.
    """

    def __init__(
        self, dtype: str = "double", index: Callable[[sp.Symbol], str | None] | None = None
    ):
        c_type, suffix = C_TYPES[dtype]
        super().__init__({"type_aliases": {real: c_type}, "strict": True})
        self.suffix = suffix
        self.index = index

    def doprint(self, expr: Any, assign_to: Any = None) -> str:
        # Refuse unsupported functions up front with a message that names them.
        if isinstance(expr, sp.Basic):
            for function in sorted({type(f).__name__ for f in expr.atoms(sp.Function)}):
                if function not in SUPPORTED_FUNCTIONS - ARRAY_FUNCTIONS:
                    raise CodegenError(
                        f"cannot generate C for the function {function}; supported: "
                        f"{', '.join(sorted(SUPPORTED_FUNCTIONS - ARRAY_FUNCTIONS))}"
                    )
        return str(super().doprint(expr, assign_to))

    def _print(self, expr: Any, **kwargs: Any) -> str:
        # A constant (e, pi, log(2)) is the number it stands for: C99 has no M_E or M_LN2 (they
        # are POSIX), and no code computes it at run time.
        if isinstance(expr, sp.Basic) and functions.is_constant(expr):
            return functions.literal(expr, single=bool(self.suffix)) + self.suffix
        return str(super()._print(expr, **kwargs))

    def _print_registered(self, expr: sp.Expr) -> str:
        # Every function of the registry by its C99 name, with the suffix of real_t (expf).
        entry = functions.of(expr)
        assert entry is not None and entry.c is not None
        return f"{entry.c}{self.suffix}({self._print(expr.args[0])})"

    _print_exp = _print_log = _print_tanh = _print_sin = _print_cos = _print_registered
    _print_Abs = _print_log1p = _print_expm1 = _print_registered

    def literal(self, value: float) -> str:
        """A real constant as the shortest literal that reads back as the same ``real_t``."""
        # str of a float32 is its shortest text (0.01, not 0.009999999776482582).
        text = str(np.float32(value)) if self.suffix else repr(float(value))
        if "e" not in text and "." not in text:
            text += ".0"
        return text + self.suffix

    def _print_Symbol(self, expr: sp.Symbol) -> str:
        # Arrays of the looped form print as the entry the loop is at.
        if self.index is not None:
            text = self.index(expr)
            if text is not None:
                return text
        return str(super()._print_Symbol(expr))

    def _print_Float(self, expr: sp.Float) -> str:
        # The shortest text of the constant, with the suffix of real_t (0.01f).
        return self.literal(float(expr))

    def _print_Rational(self, expr: sp.Rational) -> str:
        # 1/2 as the constant 0.5, not the division 1.0/2.0.
        return self.literal(float(expr))

    def _print_Integer(self, expr: sp.Integer) -> str:
        # Integers as real constants, so that no expression computes in int.
        return self.literal(float(expr))

    def _print_Half(self, expr: sp.Rational) -> str:
        # As every other rational.
        return self.literal(0.5)

    def _print_Mul(self, expr: sp.Mul) -> str:
        # Spaces around * and /; a negative power is a division.
        coeff, rest = expr.as_coeff_Mul()
        sign = ""
        if coeff.is_negative:
            sign, coeff = "-", -coeff
        factors = list(sp.Mul.make_args(rest)) if rest != 1 else []
        numer = [] if coeff == 1 else [self._print(coeff)]
        denom: list[sp.Expr] = []
        for factor in factors:
            if factor.is_Pow and factor.exp.is_Rational and factor.exp.is_negative:
                denom.append(sp.Pow(factor.base, -factor.exp))
            else:
                numer.append(self.parenthesize(factor, PRECEDENCE["Mul"], strict=False))
        text = " * ".join(numer) if numer else self.literal(1.0)
        if denom:
            under = " * ".join(self.parenthesize(d, PRECEDENCE["Mul"], strict=False) for d in denom)
            text = (
                f"{text} / ({under})"
                if len(denom) > 1
                else f"{text} / " + (self.parenthesize(denom[0], PRECEDENCE["Mul"], strict=True))
            )
        return sign + text

    def _print_Pow(self, expr: sp.Pow, rational: bool = False) -> str:
        # Small integer powers as products (h * h), exact and cheaper than pow; square roots
        # as sqrt; other negative powers as a quotient.
        base, exponent = expr.base, expr.exp
        if exponent == sp.S.Half:
            return f"{functions.BY_NAME['sqrt'].c}{self.suffix}({self._print(base)})"
        if exponent.is_Rational and exponent.is_negative:
            positive = self.parenthesize(sp.Pow(base, -exponent), PRECEDENCE["Mul"], strict=True)
            return f"{self.literal(1.0)} / {positive}"
        if exponent.is_Integer and 2 <= exponent <= PRODUCT_POWER_LIMIT:
            operand = self.parenthesize(base, PRECEDENCE["Mul"], strict=False)
            return "(" + " * ".join([operand] * int(exponent)) + ")"
        return f"pow{self.suffix}({self._print(base)}, {self._print(exponent)})"

    def _print_Max(self, expr: sp.Max) -> str:
        # fmax on real constants: fmax(a1_0, 0.0).
        return self._fold("fmax", expr.args)

    def _print_Min(self, expr: sp.Min) -> str:
        # As fmax.
        return self._fold("fmin", expr.args)

    def _fold(self, name: str, args: tuple[sp.Expr, ...]) -> str:
        ordered = sorted(args, key=lambda a: (a.is_number, sp.default_sort_key(a)))
        text = self._print(ordered[0])
        for arg in ordered[1:]:
            text = f"{name}{self.suffix}({text}, {self._print(arg)})"
        return text

    def _print_Piecewise(self, expr: sp.Piecewise) -> str:
        # One line of conditional expressions; SymPy's form spreads them over lines.
        pieces = list(expr.args)
        if pieces[-1].cond is not sp.true:
            raise CodegenError(f"a piecewise expression needs a last 'otherwise' piece: {expr}")
        text = self._print(pieces[-1].expr)
        for piece in reversed(pieces[:-1]):
            text = f"{self._print(piece.cond)} ? {self._print(piece.expr)} : {text}"
        return f"({text})"

    def _print_Relational(self, expr: sp.core.relational.Relational) -> str:
        # Without the parentheses SymPy adds around each side.
        lhs = self.parenthesize(expr.lhs, PRECEDENCE["Relational"] + 1, strict=False)
        rhs = self.parenthesize(expr.rhs, PRECEDENCE["Relational"] + 1, strict=False)
        return f"{lhs} {expr.rel_op} {rhs}"

    def _print_Heaviside(self, expr: sp.Heaviside) -> str:
        # 1 above zero, 0 below, and the given value at zero (relu'(0) = 0 in the catalogue).
        return self._print(expr.rewrite(sp.Piecewise))

    def _print_sign(self, expr: sp.sign) -> str:
        # -1, 0 or 1 as a real_t.
        arg = self._print(expr.args[0])
        one, zero = self.literal(1.0), self.literal(0.0)
        return f"({arg} > {zero} ? {one} : ({arg} < {zero} ? -{one} : {zero}))"

    def _print_LogAddExp(self, expr: LogAddExp) -> str:
        # log(exp(a) + exp(b)) = max(a, b) + log1p(exp(-|a - b|)), which cannot overflow.
        return f"({self._print(expr.stable())})"

    def parenthesize(self, item: Any, level: int, strict: bool = False) -> str:
        # A conditional expression or a negative number is one operand only in parentheses.
        text = str(super().parenthesize(item, level, strict))
        if precedence(item) <= level and not text.startswith("("):
            return f"({text})" if " ? " in text else text
        return text


__all__ = ["C_TYPES", "CPrinter"]
