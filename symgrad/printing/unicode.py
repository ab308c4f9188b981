"""The Unicode printer of the terminal: ``∂L/∂W₂ᵢⱼ``.

Part of the printers (:mod:`symgrad.printing`).
"""

from __future__ import annotations

from typing import Any

import sympy as sp
from sympy.printing.pretty.pretty_symbology import greek_unicode
from sympy.printing.str import StrPrinter

from symgrad import functions, notation
from symgrad.model import Elementwise, RowFunction
from symgrad.printing.order import (
    conventional_order,
    decimal,
    index_text,
    is_compound,
    is_gradient,
    is_negative,
    negated,
    power_of_ten,
    substituted,
    summand_in_front,
    term_size,
)

subscript = notation.subscript
_SUPERSCRIPTS = notation.SUPERSCRIPTS


class UnicodePrinter(StrPrinter):
    """One-line Unicode in the notation of the notes, for the terminal: ``∂L/∂W₂ᵢⱼ``."""

    printmethod = "_symgrad_unicode"

    def _print_Symbol(self, expr: sp.Symbol) -> str:
        if expr == notation.LOSS:
            return notation.UNICODE_LOSS
        if expr == notation.MEAN_LOSS:
            return notation.UNICODE_MEAN_LOSS
        return greek_unicode.get(expr.name, expr.name)  # lambda as λ, as LaTeX writes it

    def _print_Indexed(self, expr: sp.Indexed) -> str:
        texts = [index_text(self, i) for i in expr.indices]
        if expr.base == notation.SAMPLE_LOSS:
            return notation.UNICODE_LOSS + f"({texts[0]})".translate(_SUPERSCRIPTS)
        return notation.unicode_entry_base(expr) + _unicode_subscript(texts)

    def _print_Derivative(self, expr: sp.Derivative) -> str:
        ((variable, count),) = expr.variable_count
        top = self._print(expr.expr)
        return f"∂{top}/∂{self._print(variable)}" + ("" if count == 1 else f"^{count}")

    def _print_MatrixSymbol(self, expr: sp.MatrixSymbol) -> str:
        if isinstance(expr, notation.QuantitySymbol):
            return expr.unicode
        return str(super()._print_MatrixSymbol(expr))

    def _print_Elementwise(self, expr: Elementwise) -> str:
        variable = expr.function.variables[0]
        placeholder = sp.Symbol(self._print(expr.arg))
        return self._print(expr.function.expr.xreplace({variable: placeholder}))

    def _print_RowFunction(self, expr: RowFunction) -> str:
        heads = {r"\operatorname{softmax}": "softmax", r"\sigma": "σ", "": ""}
        arg = self._print(expr.arg)
        head = heads.get(expr.head, expr.head)
        return f"{head}({arg})" if head else arg

    def _print_Mul(self, expr: sp.Mul) -> str:
        sums = [f for f in expr.args if isinstance(f, sp.Sum)]
        if sums and len(sums) < len(expr.args):
            # (1/B) Σ[s=1..B] L⁽ˢ⁾: what multiplies a sum goes in front of it
            before = sp.Mul(*[f for f in expr.args if not isinstance(f, sp.Sum)], evaluate=False)
            if before == -1:  # -Σ[...], as the notes write -\sum
                return "-" + " ".join(self._print(s) for s in sums)
            text = self._print(before)
            if not (before.is_Atom or isinstance(before, sp.Indexed)):
                text = f"({text})"
            return f"{text} " + " ".join(self._print(s) for s in sums)
        coeff, rest = expr.as_coeff_Mul()
        if coeff.is_Rational and power_of_ten(int(sp.Rational(coeff).q)) and rest != 1:
            sign = "-" if coeff < 0 else ""
            return f"{sign}{decimal(abs(sp.Rational(coeff)))}·{self.parenthesize(rest, 48)}"
        return super()._print_Mul(expr).replace("*", "·")

    def _print_Rational(self, expr: sp.Rational) -> str:
        if power_of_ten(int(expr.q)):
            return decimal(expr)
        return super()._print_Rational(expr)

    def _print_Max(self, expr: sp.Max) -> str:
        return f"max({', '.join(self._print(a) for a in sorted(expr.args, key=term_size))})"

    def _print_MatMul(self, expr: sp.MatMul) -> str:
        parts = []
        for n, arg in enumerate(expr.args):
            text = self.parenthesize(arg, 50)
            if n < len(expr.args) - 1 and is_gradient(arg):
                text = f"({text})"
            parts.append(text)
        return " ".join(parts)

    def _print_HadamardProduct(self, expr: sp.HadamardProduct) -> str:
        parts = []
        for n, arg in enumerate(expr.args):
            text = self.parenthesize(arg, 50)
            if (n < len(expr.args) - 1 and is_gradient(arg)) or is_compound(arg):
                text = f"({text})"
            parts.append(text)
        return " ⊙ ".join(parts)

    def _print_HadamardPower(self, expr: sp.HadamardPower) -> str:
        if expr.exp.is_Integer and expr.exp > 1:
            return " ⊙ ".join([self.parenthesize(expr.base, 50)] * int(expr.exp))
        return super()._print_HadamardPower(expr)

    def _print_Transpose(self, expr: sp.Transpose) -> str:
        arg = expr.arg
        plain = isinstance(arg, (sp.MatrixSymbol, sp.OneMatrix))
        inner = self._print(arg) if plain else f"({self._print(arg)})"
        return f"{inner}ᵀ"

    def _print_Add(self, expr: sp.Add, order: Any = None) -> str:
        return super()._print_Add(sp.Add(*conventional_order(expr), evaluate=False), order="none")

    def _print_MatAdd(self, expr: sp.MatAdd) -> str:
        text = ""
        for n, term in enumerate(conventional_order(expr)):
            negative = is_negative(term)
            body = self._print(negated(term) if negative else term)
            if n == 0:
                text = ("-" if negative else "") + body
            else:
                text += (" - " if negative else " + ") + body
        return text

    def _print_OneMatrix(self, expr: sp.OneMatrix) -> str:
        return "𝟏"

    def _print_Pow(self, expr: sp.Pow, rational: bool = False) -> str:
        base, exponent = expr.args
        if exponent == sp.S.Half:
            return functions.BY_NAME["sqrt"].unicode.format(self._print(base))
        if exponent.is_Integer and exponent > 1:
            return self.parenthesize(base, 60) + str(exponent).translate(_SUPERSCRIPTS)
        return super()._print_Pow(expr, rational).replace("**", "^")

    def _print_Heaviside(self, expr: sp.Heaviside) -> str:
        arg, at_zero = expr.args[0], expr.args[1] if len(expr.args) > 1 else sp.Rational(1, 2)
        if arg.could_extract_minus_sign():
            return f"𝟙[{self._print(-arg)} {'≤' if at_zero == 1 else '<'} 0]"
        return f"𝟙[{self._print(arg)} {'≥' if at_zero == 1 else '>'} 0]"

    def _print_KroneckerDelta(self, expr: sp.KroneckerDelta) -> str:
        return "δ" + _unicode_subscript([index_text(self, a) for a in expr.args])

    def _print_Sum(self, expr: sp.Sum) -> str:
        ((index, low, high),) = expr.limits
        if low == high:  # a sum of one term (over a layer of one unit) is that term
            return self._print(substituted(expr.function, {index: low}))
        bound = f"{self._print(index)}={self._print(low)}..{self._print(high)}"
        # Signs and constant factors go in front, as the notes write them:
        # -Σ[i=1..2] yᵢ·log(ŷᵢ), (1/2) Σ[i=1..2] (ŷᵢ - yᵢ)², not Σ (-yᵢ·log(ŷᵢ)).
        prefix, coeff, body = summand_in_front(expr.function)
        if coeff != 1:
            prefix += f"({self._print(coeff)}) "
        return f"{prefix}Σ[{bound}] {self.parenthesize(body, 45)}"

    def _print_Function(self, expr: sp.Function) -> str:
        entry = functions.of(expr)
        if entry is not None:
            return entry.unicode.format(self._print(expr.args[0]))
        name = getattr(expr.func, "symgrad_unicode", None) or expr.func.__name__
        return f"{name}({', '.join(self._print(a) for a in expr.args)})"

    _print_exp = _print_log = _print_tanh = _print_sin = _print_cos = _print_Function
    _print_Abs = _print_sign = _print_log1p = _print_expm1 = _print_Function

    def _print_NumberSymbol(self, expr: sp.NumberSymbol) -> str:
        return functions.NUMBER_SYMBOLS[expr].unicode

    _print_Exp1 = _print_Pi = _print_NumberSymbol

    def _print_Piecewise(self, expr: sp.Piecewise) -> str:
        parts = []
        for value, condition in expr.args:
            cond = "otherwise" if condition is sp.true else f"if {self._print(condition)}"
            parts.append(f"{self._print(value)} {cond}")
        return "{" + "; ".join(parts) + "}"


def _unicode_subscript(texts: list[str]) -> str:
    return subscript(notation.join_indices(texts))
