"""Printers: how a SymPy expression of the derivation becomes LaTeX or Unicode text.

Each printer subclasses a SymPy printer and overrides only the ``_print_<Class>`` methods that the
notation needs; nothing is assigned onto SymPy classes. Names come from :mod:`symgrad.notation`.
Renderers pass printed strings to templates, never SymPy objects.

Both printers write sums in the order a person writes them (:func:`conventional_order`): a
positive term first (``yhat_i - y_i``, ``1 - h``), simpler terms before longer ones
(``y_i log yhat_i + (1 - y_i) log(1 - yhat_i)``), polynomials by falling degree. The order is
decided here, at print time, never by editing printed strings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.str import StrPrinter

from symgrad import functions, notation
from symgrad.model import Elementwise, RowFunction

subscript = notation.subscript
_SUPERSCRIPTS = notation.SUPERSCRIPTS


def _index_text(printer: Any, index: sp.Expr) -> str:
    """An index as written in a subscript: ``i``, ``12``, ``k-1`` (no spaces inside)."""
    if index.is_Integer or index.is_Symbol:
        return str(index)
    return printer._print(index).replace(" ", "")


# Term order --------------------------------------------------------------------------------------


def _terms(expr: sp.Basic) -> list[sp.Basic]:
    """The terms of a sum, with nested sums written out (``(a - b) - c`` is ``a - b - c``)."""
    found: list[sp.Basic] = []
    for term in expr.args:
        found += _terms(term) if isinstance(term, (sp.Add, sp.MatAdd)) else [term]
    return found


def _is_monomial(term: sp.Basic) -> bool:
    """A number times powers of symbols or entries: ``2 x^2``, ``-h``, ``1``."""
    for factor in sp.Mul.make_args(term):
        if factor.is_Number or isinstance(factor, (sp.Symbol, sp.Indexed)):
            continue
        if (
            isinstance(factor, sp.Pow)
            and isinstance(factor.base, (sp.Symbol, sp.Indexed))
            and factor.exp.is_Integer
            and factor.exp > 0
        ):
            continue
        return False
    return True


def _negative(term: sp.Basic) -> bool:
    """True for a term printed with a leading minus (``-y``, ``-y^T``)."""
    if isinstance(term, sp.MatrixExpr):
        if not hasattr(term, "as_coeff_mmul"):
            return False
        coeff = sp.sympify(term.as_coeff_mmul()[0])
        return bool(coeff.is_number and coeff < 0)
    return bool(term.could_extract_minus_sign())


def _negated(term: sp.Basic) -> sp.Basic:
    """``-term`` without evaluating it: ``-(1 (yhat - y)^T yhat)`` keeps ``(yhat - y)^T`` whole."""
    if isinstance(term, sp.MatMul):
        coeff, rest = term.as_coeff_mmul()
        factors = list(rest.args) if isinstance(rest, sp.MatMul) else [rest]
        coeff = -sp.sympify(coeff)
        if coeff == 1:
            return factors[0] if len(factors) == 1 else sp.MatMul(*factors)
        return sp.MatMul(coeff, *factors)
    return -term


def _size(term: sp.Basic) -> int:
    """How much there is to read in a term: the nodes of its tree, signs not counted."""
    if not isinstance(term, sp.MatrixExpr) and term.could_extract_minus_sign():
        term = -term
    return sum(1 for _ in sp.preorder_traversal(term))


def conventional_order(expr: sp.Basic) -> list[sp.Basic]:
    """The terms of the sum ``expr`` in the order they are written by hand.

    Polynomials by falling degree (``x^4 + 2 x^2 + 1``); other sums from the simplest term to
    the longest, ties in SymPy's order; matrix sums as built. Then, if the first term is
    negative, the first positive one moves to the front (``yhat_i - y_i``, not ``-y_i + yhat_i``).
    """
    terms = _terms(expr)
    if isinstance(expr, sp.MatAdd):
        pass  # matrix sums keep the order they were written in (H W^T + 1 b^T)
    elif all(_is_monomial(t) for t in terms):
        terms = list(sp.Add(*terms, evaluate=False).as_ordered_terms())
    else:
        terms = sorted(terms, key=_size)
    if terms and _negative(terms[0]):
        positive = [t for t in terms if not _negative(t)]
        if positive:
            terms.remove(positive[0])
            terms.insert(0, positive[0])
    return terms


def _is_gradient(expr: sp.Basic) -> bool:
    """``grad_v L`` as a matrix symbol: it must be bracketed before another factor."""
    if isinstance(expr, sp.Transpose):
        return False
    # (a Delta_k or G_k of a mini-batch is one letter: it needs no brackets)
    if not isinstance(expr, notation.QuantitySymbol):
        return False
    return expr.quantity.gradient and expr.form is not notation.Form.BATCH


def _factors(expr: sp.Mul) -> list[sp.Basic]:
    """The factors of a product, nested unevaluated products written out."""
    found: list[sp.Basic] = []
    for factor in expr.args:
        found += _factors(factor) if isinstance(factor, sp.Mul) else [factor]
    return found


def _is_denominator(factor: sp.Basic) -> bool:
    """A factor printed below a fraction bar: ``1/yhat_j``, ``1/2``."""
    if isinstance(factor, sp.Pow):
        return bool(factor.exp.is_negative)
    return bool(factor.is_Rational and not factor.is_Integer)


def _factor_rank(factor: sp.Basic) -> int:
    """Where a factor goes in a written product: letters, then brackets and products, then
    functions (``log``, ``exp``)."""
    if isinstance(factor, (sp.Symbol, sp.Indexed)) or (
        isinstance(factor, sp.Pow) and isinstance(factor.base, (sp.Symbol, sp.Indexed))
    ):
        return 0
    if isinstance(factor, (sp.Add, sp.Mul)):
        return 1
    return 2


def _compound(expr: sp.Basic) -> bool:
    """An elementwise function whose written form is a sum or a product (``2 a_1``): bracketed
    as a factor of an elementwise product."""
    return isinstance(expr, Elementwise) and isinstance(expr.function.expr, (sp.Add, sp.Mul))


def _power_of_ten(q: int) -> bool:
    return q >= 10 and str(q) == "1" + "0" * (len(str(q)) - 1)


def _decimal(value: sp.Rational) -> str:
    """``1/100`` as ``0.01``: the notes write the leaky-relu slope as a decimal."""
    digits = len(str(value.q)) - 1
    return f"{float(value):.{digits}f}"


# LaTeX -------------------------------------------------------------------------------------------


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

    def _join(self, texts: list[str]) -> str:
        if self._settings["index_commas"]:
            return ",".join(texts)
        return notation.join_indices(texts)

    # elementwise objects: W[2, i, j] -> W_{2ij}; x[j] -> x_{j}; Lsample[s] -> L^{(s)}
    def _print_Indexed(self, expr: sp.Indexed) -> str:
        texts = [_index_text(self, i) for i in expr.indices]
        if expr.base == notation.SAMPLE_LOSS:
            return rf"{notation.LATEX_LOSS}^{{({texts[0]})}}"
        return f"{notation.latex_entry_base(expr)}_{{{self._join(texts)}}}"

    def _print_Derivative(self, expr: sp.Derivative) -> str:
        # Always the partial-derivative fraction of the notes, never SymPy's operator form.
        ((variable, count),) = expr.variable_count
        top = self._print(expr.expr)
        power = "" if count == 1 else f"^{{{count}}}"
        if self._settings["inline_partials"]:
            # In a line of text or a table cell: \partial L / \partial W_{kij}.
            return rf"\partial{power} {top} / \partial {self._print(variable)}"
        return (
            rf"\frac{{\partial{power} {top}}}{{\partial {self._print(variable)}"
            rf"{'' if count == 1 else f'^{{{count}}}'}}}"
        )

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
            if (n < len(expr.args) - 1 and _is_gradient(arg)) or _compound(arg):
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
                n < len(factors) - 1 and _is_gradient(factor)
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
        i, j = (_index_text(self, a) for a in expr.args)
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
        args = sorted(expr.args, key=_size)
        text = rf"\max({', '.join(self._print(a) for a in args)})"
        return text if exp is None else rf"\left({text}\right)^{{{exp}}}"

    def _print_Rational(self, expr: sp.Rational) -> str:
        if _power_of_ten(int(expr.q)):
            return _decimal(expr)
        return super()._print_Rational(expr)

    def _print_Sum(self, expr: sp.Sum) -> str:
        # Constant factors and signs go in front of the sum: -\sum_i y_i \log \hat{y}_i.
        ((index, low, high),) = expr.limits
        sigma = r"\sum\nolimits" if self._settings["inline_partials"] else r"\sum"
        head = rf"{sigma}_{{{self._print(index)}={self._print(low)}}}^{{{self._print(high)}}} "
        body = expr.function
        prefix = ""
        if isinstance(body, sp.Add) and all(t.could_extract_minus_sign() for t in body.args):
            prefix, body = "-", -body
        coeff, rest = body.as_coeff_Mul() if isinstance(body, sp.Mul) else (sp.S.One, body)
        if coeff.is_Rational and coeff != 1 and body.is_commutative:
            if coeff < 0:
                prefix, coeff = ("" if prefix else "-"), -coeff
            if coeff != 1:
                prefix += self._print(coeff) + " "
            body = rest
        text = self._print(body)
        if isinstance(body, sp.Add) or text.startswith("-"):
            text = rf"\left({text}\right)"
        return prefix + head + text

    def _print_Mul(self, expr: sp.Mul) -> str:
        if not isinstance(expr, sp.Mul):
            return super()._print_Mul(expr)  # SymPy prints 1/B through here as a Pow
        args = list(expr.args)
        if any(isinstance(a, sp.Derivative) for a in args):
            # A product of the derivation (dL/dh_{kj} g'(a_{kj})): every factor as written,
            # never folded into one fraction; a factor that would run into the one before it
            # (a sum, a leading sign or number) is bracketed: dL/dh_{1j} (2 a_{1j}).
            parts = []
            for n, factor in enumerate(args):
                text = self._print(factor)
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
                slashed = self._settings["inline_partials"] and isinstance(factor, sp.Derivative)
                if slashed and n < len(args) - 1:
                    text = f"({text})"
                parts.append(rf"\left({text}\right)" if bracket else text)
            return " ".join(parts)
        coeff, rest = expr.as_coeff_Mul()
        if coeff.is_Rational and _power_of_ten(int(sp.Rational(coeff).q)) and rest != 1:
            # 0.01 x, not x/100
            sign = "-" if coeff < 0 else ""
            return f"{sign}{_decimal(abs(sp.Rational(coeff)))} {self._print(rest)}"
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
        if not any(_is_denominator(f) for f in _factors(expr)):
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
            for factor in sorted(others, key=_factor_rank):
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
        return super()._print_Mul(expr)

    def _print_Add(self, expr: sp.Add, order: Any = None) -> str:
        terms = conventional_order(expr)
        return super()._print_Add(sp.Add(*terms, evaluate=False), order="none")

    def _print_MatAdd(self, expr: sp.MatAdd) -> str:
        text = ""
        for n, term in enumerate(conventional_order(expr)):
            negative = _negative(term)
            body = self._print(_negated(term) if negative else term)
            if isinstance(term, sp.MatAdd):
                body = rf"\left({body}\right)"
            if n == 0:
                text = ("-" if negative else "") + body
            else:
                text += (" - " if negative else " + ") + body
        return text


# Unicode -----------------------------------------------------------------------------------------


class UnicodePrinter(StrPrinter):
    """One-line Unicode in the notation of the notes, for the terminal: ``∂L/∂W₂ᵢⱼ``."""

    printmethod = "_symgrad_unicode"

    def _print_Symbol(self, expr: sp.Symbol) -> str:
        if expr == notation.LOSS:
            return notation.UNICODE_LOSS
        if expr == notation.MEAN_LOSS:
            return notation.UNICODE_MEAN_LOSS
        return expr.name

    def _print_Indexed(self, expr: sp.Indexed) -> str:
        texts = [_index_text(self, i) for i in expr.indices]
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
        if coeff.is_Rational and _power_of_ten(int(sp.Rational(coeff).q)) and rest != 1:
            sign = "-" if coeff < 0 else ""
            return f"{sign}{_decimal(abs(sp.Rational(coeff)))}·{self.parenthesize(rest, 48)}"
        return super()._print_Mul(expr).replace("*", "·")

    def _print_Rational(self, expr: sp.Rational) -> str:
        if _power_of_ten(int(expr.q)):
            return _decimal(expr)
        return super()._print_Rational(expr)

    def _print_Max(self, expr: sp.Max) -> str:
        return f"max({', '.join(self._print(a) for a in sorted(expr.args, key=_size))})"

    def _print_MatMul(self, expr: sp.MatMul) -> str:
        parts = []
        for n, arg in enumerate(expr.args):
            text = self.parenthesize(arg, 50)
            if n < len(expr.args) - 1 and _is_gradient(arg):
                text = f"({text})"
            parts.append(text)
        return " ".join(parts)

    def _print_HadamardProduct(self, expr: sp.HadamardProduct) -> str:
        parts = []
        for n, arg in enumerate(expr.args):
            text = self.parenthesize(arg, 50)
            if (n < len(expr.args) - 1 and _is_gradient(arg)) or _compound(arg):
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
            negative = _negative(term)
            body = self._print(_negated(term) if negative else term)
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
        return "δ" + _unicode_subscript([_index_text(self, a) for a in expr.args])

    def _print_Sum(self, expr: sp.Sum) -> str:
        ((index, low, high),) = expr.limits
        bound = f"{self._print(index)}={self._print(low)}..{self._print(high)}"
        return f"Σ[{bound}] {self.parenthesize(expr.function, 45)}"

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


_LATEX = {
    (commas, inline): NotesLatexPrinter({"index_commas": commas, "inline_partials": inline})
    for commas in (False, True)
    for inline in (False, True)
}
_UNICODE = UnicodePrinter({"order": "none"})


def latex(expr: sp.Basic, index_commas: bool = False, inline: bool = False) -> str:
    """LaTeX of ``expr`` in the notes' notation (``index_commas``: ``W_{2,1,3}`` throughout;
    ``inline``: partials with a slash, for text)."""
    return _LATEX[(index_commas, inline)].doprint(expr)


def unicode(expr: sp.Basic) -> str:
    """One-line Unicode of ``expr`` in the notes' notation."""
    return _UNICODE.doprint(expr)


__all__: Sequence[str] = (
    "NotesLatexPrinter",
    "UnicodePrinter",
    "conventional_order",
    "latex",
    "subscript",
    "unicode",
)
