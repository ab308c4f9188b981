"""How sums and products are ordered and grouped when the notes print them.

Part of the printers (:mod:`symgrad.printing`): both the LaTeX and the Unicode printer write sums
in the order a person writes them (a positive term first, simpler terms before longer ones,
polynomials by falling degree), decided at print time, never by editing printed strings.
"""

from __future__ import annotations

from typing import Any

import sympy as sp

from symgrad import notation
from symgrad.model import Elementwise


def index_text(printer: Any, index: sp.Expr) -> str:
    """An index as written in a subscript: ``i``, ``12``, ``k-1`` (no spaces inside)."""
    if index.is_Integer or index.is_Symbol:
        return str(index)
    return printer._print(index).replace(" ", "")


def sum_terms(expr: sp.Basic) -> list[sp.Basic]:
    """The terms of a sum, with nested sums written out (``(a - b) - c`` is ``a - b - c``)."""
    found: list[sp.Basic] = []
    for term in expr.args:
        found += sum_terms(term) if isinstance(term, (sp.Add, sp.MatAdd)) else [term]
    return found


def is_monomial(term: sp.Basic) -> bool:
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


def is_negative(term: sp.Basic) -> bool:
    """True for a term printed with a leading minus (``-y``, ``-y^T``)."""
    if isinstance(term, sp.MatrixExpr):
        if not hasattr(term, "as_coeff_mmul"):
            return False
        coeff = sp.sympify(term.as_coeff_mmul()[0])
        return bool(coeff.is_number and coeff < 0)
    return bool(term.could_extract_minus_sign())


def negated(term: sp.Basic) -> sp.Basic:
    """``-term`` without evaluating it: ``-(1 (yhat - y)^T yhat)`` keeps ``(yhat - y)^T`` whole."""
    if isinstance(term, sp.MatMul):
        coeff, rest = term.as_coeff_mmul()
        factors = list(rest.args) if isinstance(rest, sp.MatMul) else [rest]
        coeff = -sp.sympify(coeff)
        if coeff == 1:
            return factors[0] if len(factors) == 1 else sp.MatMul(*factors)
        return sp.MatMul(coeff, *factors)
    return -term


def term_size(term: sp.Basic) -> int:
    """How much there is to read in a term: the nodes of its tree, signs not counted."""
    if not isinstance(term, sp.MatrixExpr) and term.could_extract_minus_sign():
        term = -term
    return sum(1 for _ in sp.preorder_traversal(term))


def substituted(expr: sp.Basic, mapping: dict[sp.Basic, sp.Basic]) -> sp.Basic:
    """``expr`` with ``mapping`` applied and its sums and products kept as they were built
    (``xreplace`` would flatten ``dL/dh (h (1 - h))`` into one product and reorder it)."""
    if expr in mapping:
        return mapping[expr]
    if not expr.args:
        return expr
    args = [substituted(a, mapping) for a in expr.args]
    if all(a is b for a, b in zip(args, expr.args, strict=True)):
        return expr
    if isinstance(expr, (sp.Add, sp.Mul)):
        return expr.func(*args, evaluate=False)
    return expr.func(*args)


def summand_in_front(body: sp.Expr) -> tuple[str, sp.Expr, sp.Expr]:
    """What of a sum's term goes in front of the sum sign, as the notes write it:
    ``("-", 1, y_i log yhat_i)`` for ``-y_i log yhat_i``, ``("", 1/2, (yhat_i - y_i)^2)``; the
    sign, the constant factor (1 when none) and what stays under the sum."""
    sign = ""
    if isinstance(body, sp.Add) and all(t.could_extract_minus_sign() for t in body.args):
        sign, body = "-", -body
    coeff, rest = body.as_coeff_Mul() if isinstance(body, sp.Mul) else (sp.S.One, body)
    if not (coeff.is_Rational and coeff != 1 and body.is_commutative):
        return sign, sp.S.One, body
    if coeff < 0:
        sign, coeff = ("" if sign else "-"), -coeff
    return sign, coeff, rest


def conventional_order(expr: sp.Basic) -> list[sp.Basic]:
    """The terms of the sum ``expr`` in the order they are written by hand.

    Polynomials by falling degree (``x^4 + 2 x^2 + 1``); other sums from the simplest term to
    the longest, ties in SymPy's order; matrix sums as built. Then, if the first term is
    negative, the first positive one moves to the front (``yhat_i - y_i``, not ``-y_i + yhat_i``).
    """
    terms = sum_terms(expr)
    if isinstance(expr, sp.MatAdd):
        pass  # matrix sums keep the order they were written in (H W^T + 1 b^T)
    elif all(is_monomial(t) for t in terms):
        terms = list(sp.Add(*terms, evaluate=False).as_ordered_terms())
    else:
        terms = sorted(terms, key=term_size)
    if terms and is_negative(terms[0]):
        positive = [t for t in terms if not is_negative(t)]
        if positive:
            terms.remove(positive[0])
            terms.insert(0, positive[0])
    return terms


def is_gradient(expr: sp.Basic) -> bool:
    """``grad_v L`` as a matrix symbol: it must be bracketed before another factor."""
    if isinstance(expr, sp.Transpose):
        return False
    # (a Delta_k or G_k of a mini-batch is one letter: it needs no brackets)
    if not isinstance(expr, notation.QuantitySymbol):
        return False
    return expr.quantity.gradient and expr.form is not notation.Form.BATCH


def product_factors(expr: sp.Mul) -> list[sp.Basic]:
    """The factors of a product, nested unevaluated products written out."""
    found: list[sp.Basic] = []
    for factor in expr.args:
        found += product_factors(factor) if isinstance(factor, sp.Mul) else [factor]
    return found


def is_denominator(factor: sp.Basic) -> bool:
    """A factor printed below a fraction bar: ``1/yhat_j``, ``1/2``."""
    if isinstance(factor, sp.Pow):
        return bool(factor.exp.is_negative)
    return bool(factor.is_Rational and not factor.is_Integer)


def factor_rank(factor: sp.Basic) -> int:
    """Where a factor goes in a written product: letters, then brackets and products, then
    functions (``log``, ``exp``). A named function of the notes (``\\sigma(x)``, ``g(x)``) is
    written as a letter: ``\\sigma(x) (1 - \\sigma(x))``."""
    named = isinstance(factor, sp.Function) and hasattr(factor.func, "symgrad_latex")
    if (
        named
        or isinstance(factor, (sp.Symbol, sp.Indexed))
        or (isinstance(factor, sp.Pow) and isinstance(factor.base, (sp.Symbol, sp.Indexed)))
    ):
        return 0
    if isinstance(factor, (sp.Add, sp.Mul)):
        return 1
    return 2


def is_compound(expr: sp.Basic) -> bool:
    """An elementwise function whose written form is a sum or a product (``2 a_1``): bracketed
    as a factor of an elementwise product."""
    return isinstance(expr, Elementwise) and isinstance(expr.function.expr, (sp.Add, sp.Mul))


def power_of_ten(q: int) -> bool:
    return q >= 10 and str(q) == "1" + "0" * (len(str(q)) - 1)


def decimal(value: sp.Rational) -> str:
    """``1/100`` as ``0.01``: the notes write the leaky-relu slope as a decimal."""
    digits = len(str(value.q)) - 1
    return f"{float(value):.{digits}f}"
