"""Printers: how a SymPy expression of the derivation becomes LaTeX or Unicode text.

Each printer subclasses a SymPy printer and overrides only the ``_print_<Class>`` methods that the
notation needs; nothing is assigned onto SymPy classes. Names come from :mod:`symgrad.notation`.
Renderers pass printed strings to templates, never SymPy objects.
"""

from __future__ import annotations

from typing import Any

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.str import StrPrinter

from symgrad import notation

_SUBSCRIPTS = str.maketrans("0123456789+-=()aehijklmnoprstuvx", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓ")
_SUPERSCRIPTS = str.maketrans("0123456789+-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻")


def subscript(text: str) -> str:
    """Unicode subscript of ``text`` where every character has one, else ``_text``."""
    translated = text.translate(_SUBSCRIPTS)
    if any(ch == orig and ch not in "," for ch, orig in zip(translated, text, strict=True)):
        return "_" + text
    return translated


def _index_text(printer: Any, index: sp.Expr) -> str:
    return str(index) if index.is_Integer or index.is_Symbol else printer._print(index)


class NotesLatexPrinter(LatexPrinter):
    """LaTeX in the notation of the notes: ``W_{kij}``, ``\\frac{\\partial L}{\\partial a}``."""

    printmethod = "_symgrad_latex"

    def __init__(self, settings: dict[str, Any] | None = None) -> None:
        defaults: dict[str, Any] = {
            "symbol_names": {notation.LOSS: notation.LATEX_LOSS},
            "mul_symbol": None,
            "order": "none",
        }
        defaults.update(settings or {})
        super().__init__(defaults)

    # elementwise objects: W[2, i, j] -> W_{2ij}; x[j] -> x_{j}
    def _print_Indexed(self, expr: sp.Indexed) -> str:
        base, indices = notation.index_parts(expr)
        texts = [_index_text(self, i) for i in indices]
        return f"{notation.latex_base(base)}_{{{notation.join_indices(texts)}}}"

    def _print_Derivative(self, expr: sp.Derivative) -> str:
        # Always the partial-derivative fraction of the notes, never SymPy's operator form.
        ((variable, count),) = expr.variable_count
        top = self._print(expr.expr)
        power = "" if count == 1 else f"^{{{count}}}"
        return (
            rf"\frac{{\partial{power} {top}}}{{\partial {self._print(variable)}"
            rf"{'' if count == 1 else f'^{{{count}}}'}}}"
        )

    def _print_MatrixSymbol(self, expr: sp.MatrixSymbol) -> str:
        kind = notation.matrix_kind(expr.name)
        if kind.base == "grad":
            of = _latex_vector(kind.of or "", kind.layer)
            return rf"\nabla_{{{of}}} {notation.LATEX_LOSS}"
        if kind.base == "gprime":
            return rf"g'(a_{{{kind.layer}}})"
        return _latex_vector(kind.base, kind.layer)

    def _print_HadamardProduct(self, expr: sp.HadamardProduct) -> str:
        return r" \odot ".join(self.parenthesize(arg, 50) for arg in expr.args)

    def _print_Transpose(self, expr: sp.Transpose) -> str:
        arg = expr.arg
        inner = (
            self._print(arg)
            if isinstance(arg, sp.MatrixSymbol)
            else rf"\left({self._print(arg)}\right)"
        )
        return f"{inner}^{{\\top}}"

    def _print_OneMatrix(self, expr: sp.OneMatrix) -> str:
        return r"\mathbf{1}"

    def _print_Heaviside(self, expr: sp.Heaviside, exp: Any = None) -> str:
        # relu'(a) with value 0 at 0: the indicator of a > 0.
        inner = rf"\mathbb{{1}}[{self._print(expr.args[0])} > 0]"
        return inner if exp is None else rf"\left({inner}\right)^{{{exp}}}"

    def _print_KroneckerDelta(self, expr: sp.KroneckerDelta, exp: Any = None) -> str:
        i, j = (_index_text(self, a) for a in expr.args)
        text = rf"\delta_{{{notation.join_indices([i, j])}}}"
        return text if exp is None else rf"{text}^{{{exp}}}"


def _latex_vector(base: str, layer: int | None) -> str:
    name = notation.latex_base(base)
    return name if layer is None else f"{name}_{{{layer}}}"


class UnicodePrinter(StrPrinter):
    """One-line Unicode in the notation of the notes, for the terminal: ``∂L/∂W₂ᵢⱼ``."""

    printmethod = "_symgrad_unicode"

    def _print_Symbol(self, expr: sp.Symbol) -> str:
        return notation.UNICODE_LOSS if expr == notation.LOSS else expr.name

    def _print_Indexed(self, expr: sp.Indexed) -> str:
        base, indices = notation.index_parts(expr)
        texts = [_index_text(self, i) for i in indices]
        return notation.unicode_base(base) + _unicode_subscript(texts)

    def _print_Derivative(self, expr: sp.Derivative) -> str:
        ((variable, count),) = expr.variable_count
        top = self._print(expr.expr)
        return f"∂{top}/∂{self._print(variable)}" + ("" if count == 1 else f"^{count}")

    def _print_MatrixSymbol(self, expr: sp.MatrixSymbol) -> str:
        kind = notation.matrix_kind(expr.name)
        if kind.base == "grad":
            return f"∇_{_plain_vector(kind.of or '', kind.layer)} L"
        if kind.base == "gprime":
            return f"g'(a{subscript(str(kind.layer))})"
        name = notation.unicode_base(kind.base)
        return name if kind.layer is None else name + subscript(str(kind.layer))

    def _print_Mul(self, expr: sp.Mul) -> str:
        return super()._print_Mul(expr).replace("*", "·")

    def _print_MatMul(self, expr: sp.MatMul) -> str:
        return " ".join(self.parenthesize(arg, 50) for arg in expr.args)

    def _print_HadamardProduct(self, expr: sp.HadamardProduct) -> str:
        return " ⊙ ".join(self.parenthesize(arg, 50) for arg in expr.args)

    def _print_Transpose(self, expr: sp.Transpose) -> str:
        arg = expr.arg
        inner = self._print(arg) if isinstance(arg, sp.MatrixSymbol) else f"({self._print(arg)})"
        return f"{inner}ᵀ"

    def _print_MatAdd(self, expr: sp.MatAdd) -> str:
        text = ""
        for n, term in enumerate(expr.args):
            coeff, rest = term.as_coeff_mmul()
            negative = coeff.is_number and coeff < 0
            body = self._print(-term if negative else term)
            if n == 0:
                text = ("-" if negative else "") + body
            else:
                text += (" - " if negative else " + ") + body
        return text

    def _print_OneMatrix(self, expr: sp.OneMatrix) -> str:
        return "𝟏"

    def _print_Pow(self, expr: sp.Pow, rational: bool = False) -> str:
        base, exponent = expr.args
        if exponent.is_Integer and exponent > 1:
            return self.parenthesize(base, 60) + str(exponent).translate(_SUPERSCRIPTS)
        return super()._print_Pow(expr, rational).replace("**", "^")

    def _print_Heaviside(self, expr: sp.Heaviside) -> str:
        return f"𝟙[{self._print(expr.args[0])} > 0]"

    def _print_KroneckerDelta(self, expr: sp.KroneckerDelta) -> str:
        return "δ" + _unicode_subscript([_index_text(self, a) for a in expr.args])

    def _print_Sum(self, expr: sp.Sum) -> str:
        ((index, low, high),) = expr.limits
        bound = f"{self._print(index)}={self._print(low)}..{self._print(high)}"
        return f"Σ[{bound}] {self.parenthesize(expr.function, 45)}"

    def _print_exp(self, expr: sp.exp) -> str:
        return f"exp({self._print(expr.args[0])})"

    def _print_Function(self, expr: sp.Function) -> str:
        name = expr.func.__name__
        if name.startswith("g_"):
            tail = name[2:]
            prime = tail.endswith("'")
            name = "g" + subscript(tail.rstrip("'")) + ("'" if prime else "")
        return f"{name}({', '.join(self._print(a) for a in expr.args)})"

    def _print_Piecewise(self, expr: sp.Piecewise) -> str:
        parts = []
        for value, condition in expr.args:
            cond = "otherwise" if condition is sp.true else f"if {self._print(condition)}"
            parts.append(f"{self._print(value)} {cond}")
        return "{" + "; ".join(parts) + "}"


def _plain_vector(base: str, layer: int | None) -> str:
    name = notation.unicode_base(base)
    return name if layer is None else name + subscript(str(layer))


def _unicode_subscript(texts: list[str]) -> str:
    return subscript(notation.join_indices(texts))


_LATEX = NotesLatexPrinter()
_UNICODE = UnicodePrinter({"order": "none"})


def latex(expr: sp.Basic) -> str:
    """LaTeX of ``expr`` in the notes' notation."""
    return _LATEX.doprint(expr)


def unicode(expr: sp.Basic) -> str:
    """One-line Unicode of ``expr`` in the notes' notation."""
    return _UNICODE.doprint(expr)
