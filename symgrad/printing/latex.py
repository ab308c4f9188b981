"""The LaTeX printer of the notes.

Part of the printers (:mod:`symgrad.printing`): a subclass of SymPy's LaTeX printer that
overrides only the ``_print_<Class>`` methods the notation needs.
"""

from __future__ import annotations

from typing import Any

import sympy as sp
from sympy.printing.latex import LatexPrinter

from symgrad import functions, notation
from symgrad.model import Elementwise, RowFunction
from symgrad.printing.order import (
    conventional_order,
    decimal,
    factor_rank,
    index_text,
    is_compound,
    is_denominator,
    is_gradient,
    is_negative,
    negated,
    power_of_ten,
    product_factors,
    substituted,
    summand_in_front,
    term_size,
)


class NotesLatexPrinter(LatexPrinter):
    """LaTeX in the notation and typography of the notes.

    ``W_{kij}``, partials as fractions, ``\\nabla_{a_k} \\mathcal{L}``, sums in conventional order,
    factors as written (``dL/dh_{kj} g'(a_{kj})``, never folded into one fraction), a gradient
    bracketed before another factor (``(\\nabla_{a_2} \\mathcal{L}) h_1^T``). The setting
    ``index_commas`` writes every index list with commas (``W_{2,1,3}``): one style for a whole
    document in which some index has two digits.
    """

    printmethod = "_symgrad_latex"
    _default_settings = {
        **LatexPrinter._default_settings,
        "index_commas": False,
        "inline_partials": False,
        "display_fractions": False,
    }

    def __init__(self, settings: dict[str, Any] | None = None) -> None:
        defaults: dict[str, Any] = {
            "symbol_names": {
                notation.LOSS: notation.LATEX_LOSS,
                notation.MEAN_LOSS: notation.LATEX_MEAN_LOSS,
            },
            "mul_symbol": None,
            "order": "none",
        }
        defaults.update(settings or {})
        super().__init__(defaults)

    @property
    def _frac(self) -> str:
        """A partial's fraction: ``\\frac``, or at full size (``\\dfrac``, as in a matrix
        written by hand) with the setting ``display_fractions``."""
        return r"\dfrac" if self._settings["display_fractions"] else r"\frac"

    def _join(self, texts: list[str]) -> str:
        if self._settings["index_commas"]:
            return ",".join(texts)
        return notation.join_indices(texts)

    # elementwise objects: W[2, i, j] -> W_{2ij}; x[j] -> x_{j}; Lsample[s] -> L^{(s)}
    def _print_Indexed(self, expr: sp.Indexed) -> str:
        texts = [index_text(self, i) for i in expr.indices]
        if expr.base == notation.SAMPLE_LOSS:
            return rf"{notation.LATEX_LOSS}^{{({texts[0]})}}"
        return f"{notation.latex_entry_base(expr)}_{{{self._join(texts)}}}"

    def _print_Derivative(self, expr: sp.Derivative) -> str:
        # Always the partial-derivative fraction of the notes, never SymPy's operator form.
        ((variable, count),) = expr.variable_count
        if not isinstance(expr.expr, (sp.Symbol, sp.Indexed)):
            return _operator_derivative(self, expr, variable, count)
        top = self._print(expr.expr)
        power = "" if count == 1 else f"^{{{count}}}"
        if self._settings["inline_partials"]:
            # In a line of text or a table cell: \partial L / \partial W_{kij}.
            return rf"\partial{power} {top} / \partial {self._print(variable)}"
        return (
            rf"{self._frac}{{\partial{power} {top}}}{{\partial {self._print(variable)}"
            rf"{'' if count == 1 else f'^{{{count}}}'}}}"
        )

    def _print_Infinity(self, expr: sp.Expr) -> str:
        return r"\infty" if expr == sp.oo else r"-\infty"

    _print_NegativeInfinity = _print_Infinity

    def _print_MatrixSymbol(self, expr: sp.MatrixSymbol) -> str:
        # The quantity's LaTeX from the naming table: W_{2}, \nabla_{a_{2}} \mathcal{L}, \Delta_{2}.
        if isinstance(expr, notation.QuantitySymbol):
            return expr.latex
        return str(super()._print_MatrixSymbol(expr))

    def _print_Elementwise(self, expr: Elementwise) -> str:
        # f(a_1) read entry by entry: the variable of f printed as the matrix.
        variable = expr.function.variables[0]
        names = {**self._settings["symbol_names"], variable: self._print(expr.arg)}
        settings = {k: v for k, v in self._settings.items() if k in self._default_settings}
        inner = type(self)({**settings, "symbol_names": names})
        return inner._print(expr.function.expr)

    def _print_RowFunction(self, expr: RowFunction) -> str:
        arg = self._print(expr.arg)
        return rf"{expr.head}({arg})" if expr.head else arg

    def _print_HadamardProduct(self, expr: sp.HadamardProduct) -> str:
        parts = []
        for n, arg in enumerate(expr.args):
            text = self.parenthesize(arg, 50)
            if (n < len(expr.args) - 1 and is_gradient(arg)) or is_compound(arg):
                text = rf"\left({text}\right)"
            parts.append(text)
        return r" \odot ".join(parts)

    def _print_HadamardPower(self, expr: sp.HadamardPower) -> str:
        # h_k (.) h_k rather than a power sign that would need a definition of its own.
        if expr.exp.is_Integer and expr.exp > 1:
            base = self.parenthesize(expr.base, 50)
            return r" \odot ".join([base] * int(expr.exp))
        return super()._print_HadamardPower(expr)

    def _print_MatMul(self, expr: sp.MatMul) -> str:
        coeff, matrices = expr.as_coeff_mmul()
        factors = list(matrices.args) if isinstance(matrices, sp.MatMul) else [matrices]
        parts = []
        for n, factor in enumerate(factors):
            text = self._print(factor)
            if isinstance(factor, (sp.MatAdd, sp.HadamardProduct)) or (
                n < len(factors) - 1 and is_gradient(factor)
            ):
                text = rf"\left({text}\right)"
            parts.append(text)
        body = " ".join(parts)
        coeff = sp.sympify(coeff)
        if coeff == 1:
            return body
        if coeff == -1:
            return "-" + body
        return f"{self._print(coeff)} {body}"

    def _print_Transpose(self, expr: sp.Transpose) -> str:
        arg = expr.arg
        inner = (
            self._print(arg)
            if isinstance(arg, (sp.MatrixSymbol, sp.OneMatrix))
            else rf"\left({self._print(arg)}\right)"
        )
        return f"{inner}^{{\\top}}"

    def _print_OneMatrix(self, expr: sp.OneMatrix) -> str:
        return r"\mathbf{1}"

    def _print_Heaviside(self, expr: sp.Heaviside, exp: Any = None) -> str:
        # The indicator: 1[a > 0] (value 0 at 0), 1[a <= 0] for Heaviside(-a, 1).
        # amssymb's \mathbb has no digits, so the indicator is a bold 1.
        arg, at_zero = expr.args[0], expr.args[1] if len(expr.args) > 1 else sp.Rational(1, 2)
        if arg.could_extract_minus_sign():
            relation = r"\le" if at_zero == 1 else "<"
            inner = rf"\mathbf{{1}}[{self._print(-arg)} {relation} 0]"
        else:
            relation = r"\ge" if at_zero == 1 else ">"
            inner = rf"\mathbf{{1}}[{self._print(arg)} {relation} 0]"
        return inner if exp is None else rf"\left({inner}\right)^{{{exp}}}"

    def _print_KroneckerDelta(self, expr: sp.KroneckerDelta, exp: Any = None) -> str:
        i, j = (index_text(self, a) for a in expr.args)
        text = rf"\delta_{{{self._join([i, j])}}}"
        return text if exp is None else rf"{text}^{{{exp}}}"

    def _print_Function(self, expr: sp.Function, exp: Any = None) -> str:
        # g(a_{1j}), g'(a_{1j}), g_{2}'(a_{2j}) instead of \operatorname{g'}{\left(...\right)}.
        head = getattr(expr.func, "symgrad_latex", None)
        if head is not None:
            args = ", ".join(self._print(a) for a in expr.args)
            text = f"{head}({args})"
            return text if exp is None else rf"\left({text}\right)^{{{exp}}}"
        if functions.of(expr) is not None:
            return self._print_registered(expr, exp)
        return super()._print_Function(expr, exp)

    def _print_registered(self, expr: sp.Expr, exp: Any = None) -> str:
        # Every elementary function as the registry writes it: \tanh(a_{1j}), e^{x}, \log x.
        entry = functions.of(expr)
        assert entry is not None
        arg = expr.args[0]
        inner = self._print(arg)
        if entry.latex_brackets and not (arg.is_Atom or isinstance(arg, sp.Indexed)):
            inner = rf"\left({inner}\right)"
        if exp is None:
            return entry.latex.format(inner)
        if entry.latex_power is not None:
            return entry.latex_power.format(inner, p=exp)
        return rf"\left({entry.latex.format(inner)}\right)^{{{exp}}}"

    _print_exp = _print_log = _print_tanh = _print_sin = _print_cos = _print_registered
    _print_Abs = _print_sign = _print_log1p = _print_expm1 = _print_registered

    def _print_Pow(self, expr: sp.Pow, exp: Any = None) -> str:
        # A square root as the registry writes it; other powers as SymPy does.
        if expr.exp == sp.S.Half and exp is None:
            return self._print_registered(expr)
        return super()._print_Pow(expr)

    def _print_NumberSymbol(self, expr: sp.NumberSymbol) -> str:
        # e and \pi as the registry writes them (SymPy's pi is \text{\Pi} with some settings).
        return functions.NUMBER_SYMBOLS[expr].latex

    _print_Exp1 = _print_Pi = _print_NumberSymbol

    def _print_Max(self, expr: sp.Max, exp: Any = None) -> str:
        # max(x, 0.01 x) in the order given: SymPy sorts Max's arguments.
        args = sorted(expr.args, key=term_size)
        text = rf"\max({', '.join(self._print(a) for a in args)})"
        return text if exp is None else rf"\left({text}\right)^{{{exp}}}"

    def _print_Rational(self, expr: sp.Rational) -> str:
        if power_of_ten(int(expr.q)):
            return decimal(expr)
        return self._stacked(super()._print_Rational(expr))

    def _print_Sum(self, expr: sp.Sum) -> str:
        # Constant factors and signs go in front of the sum: -\sum_i y_i \log \hat{y}_i.
        ((index, low, high),) = expr.limits
        if low == high:  # a sum of one term (over a layer of one unit) is that term
            return self._print(substituted(expr.function, {index: low}))
        sigma = r"\sum\nolimits" if self._settings["inline_partials"] else r"\sum"
        head = rf"{sigma}_{{{self._print(index)}={self._print(low)}}}^{{{self._print(high)}}} "
        prefix, coeff, body = summand_in_front(expr.function)
        if coeff != 1:
            prefix += self._print(coeff) + " "
        text = self._print(body)
        if isinstance(body, sp.Add) or text.startswith("-"):
            text = rf"\left({text}\right)"
        return prefix + head + text

    def _stacked(self, text: str) -> str:
        """A fraction SymPy writes, at full size with the setting ``display_fractions``."""
        if self._settings["display_fractions"]:
            return text.replace(r"\frac{", r"\dfrac{")
        return text

    def _print_Mul(self, expr: sp.Mul) -> str:
        if not isinstance(expr, sp.Mul):
            return self._stacked(super()._print_Mul(expr))  # 1/B comes here as a Pow
        args = list(expr.args)
        if any(isinstance(a, sp.Derivative) for a in args):
            return _chain_product(self, args)
        coeff, rest = expr.as_coeff_Mul()
        if coeff.is_Rational and power_of_ten(int(sp.Rational(coeff).q)) and rest != 1:
            # 0.01 x, not x/100
            sign = "-" if coeff < 0 else ""
            return f"{sign}{decimal(abs(sp.Rational(coeff)))} {self._print(rest)}"
        weights = [a for a in args if notation.is_entry_of(a, "W")]
        if len(weights) == 1 and len(args) == 2:
            # W_{kij} h_{k-1,j}: the weight first, as in a_k = b_k + W_k h_{k-1}.
            other = args[0] if args[1] is weights[0] else args[1]
            return f"{self._print(weights[0])} {self._print(other)}"
        factors = list(expr.args)
        sums = [f for f in factors if isinstance(f, sp.Sum)]
        if sums and len(sums) < len(factors):
            # 1/B sum_s L^(s) and yhat_i sum_j y_j: what multiplies the sum is written before it.
            before = sp.Mul(*[f for f in factors if not isinstance(f, sp.Sum)], evaluate=False)
            text = "-" if before == -1 else self._print(before)
            if isinstance(before, sp.Add):
                text = rf"\left({text}\right)"
            return f"{text} " + " ".join(self._print(f) for f in sums)
        if len(factors) > 1 and any(isinstance(f, sp.Mul) for f in factors):
            # A product of products, as the chain rule applied builds it: (dL/dyhat_j) times
            # (dyhat_j/da_{Li}) written out, each part as it is, (-y_j/yhat_j) yhat_j (...).
            parts = []
            for factor in factors:
                text = self._print(factor)
                if isinstance(factor, (sp.Add, sp.Piecewise)) or text.startswith("-"):
                    text = rf"\left({text}\right)"
                parts.append(text)
            return " ".join(parts)
        if not any(is_denominator(f) for f in product_factors(expr)):
            # A plain product, factors in the conventional order: numbers, then letters, then
            # brackets, then functions: y_i (1 - yhat_i), (1 - y_i) log(1 - yhat_i). Nested
            # products keep their place (the chain rule's (dL/dyhat)(dyhat/da) applied).
            number, others = sp.S.One, []
            for factor in factors:
                if factor.is_Number:
                    number *= factor
                else:
                    others.append(factor)
            parts = []
            for factor in sorted(others, key=factor_rank):
                text = self._print(factor)
                if isinstance(factor, (sp.Add, sp.Piecewise)):
                    text = rf"\left({text}\right)"
                parts.append(text)
            body = " ".join(parts)
            if number == 1:
                return body
            if number == -1:
                return "-" + body
            return f"{self._print(number)} {body}"
        return self._stacked(super()._print_Mul(expr))

    def _print_Add(self, expr: sp.Add, order: Any = None) -> str:
        terms = conventional_order(expr)
        return super()._print_Add(sp.Add(*terms, evaluate=False), order="none")

    def _print_MatAdd(self, expr: sp.MatAdd) -> str:
        text = ""
        for n, term in enumerate(conventional_order(expr)):
            negative = is_negative(term)
            body = self._print(negated(term) if negative else term)
            if isinstance(term, sp.MatAdd):
                body = rf"\left({body}\right)"
            if n == 0:
                text = ("-" if negative else "") + body
            else:
                text += (" - " if negative else " + ") + body
        return text


def _chain_product(printer: NotesLatexPrinter, args: list[sp.Basic]) -> str:
    """A product of the derivation (dL/dh_{kj} g'(a_{kj})): every factor as written, never
    folded into one fraction; a factor that would run into the one before it (a sum, a leading
    sign or number) is bracketed: dL/dh_{1j} (2 a_{1j})."""
    parts = []
    for n, factor in enumerate(args):
        text = printer._print(factor)
        bracket = isinstance(factor, (sp.Add, sp.Piecewise)) or (
            n > 0
            and (
                factor.could_extract_minus_sign()
                or text[:1].isdigit()
                or (isinstance(factor, sp.Mul) and factor.as_coeff_Mul()[0] != 1)
            )
        )
        # A slashed partial before another factor: (dL/da_{3i}) W_{3ij}, since
        # dL/da_{3i} W_{3ij} could be read as dL/(da W).
        slashed = printer._settings["inline_partials"] and isinstance(factor, sp.Derivative)
        if slashed and n < len(args) - 1:
            text = f"({text})"
        parts.append(rf"\left({text}\right)" if bracket else text)
    return " ".join(parts)


def _operator_derivative(
    printer: NotesLatexPrinter, expr: sp.Derivative, variable: sp.Expr, count: int
) -> str:
    """The derivative of a formula, as an operator before it: ``d/dx (1 + e^{-x})`` for a
    function of one real variable, a partial for an entry of the notation."""
    d = "d" if isinstance(variable, sp.Symbol) else r"\partial"
    power = "" if count == 1 else f"^{{{count}}}"
    body = printer._print(expr.expr)
    if isinstance(expr.expr, (sp.Add, sp.Mul)) and not body.startswith(printer._frac):
        body = rf"\left({body}\right)"
    if printer._settings["inline_partials"]:
        return rf"({d}{power} / {d} {printer._print(variable)}{power}) {body}"
    gap = "" if d == "d" else " "
    frac = printer._frac
    return rf"{frac}{{{d}{power}}}{{{d}{gap}{printer._print(variable)}{power}}} {body}"
