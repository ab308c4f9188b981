"""Safe parser for custom activation expressions such as ``"x/(1+abs(x))"``.

Sits beside the catalogue: user text comes in, a SymPy expression in the symbol ``x`` goes out.
The text is parsed by :func:`ast.parse` (which only parses) and every node is checked against a
whitelist before the SymPy expression is built node by node. Nothing here calls ``eval``,
``exec``, ``sympify`` or ``parse_expr``: those run Python and must never see user text.

Grammar: numbers, the name ``x``, ``+ - * / **``, unary ``+``/``-``, parentheses, and calls of
the functions of :mod:`symgrad.functions` marked for it (``exp log sqrt tanh sin cos abs``) with
one argument.
"""

from __future__ import annotations

import ast
import math
import warnings
from fractions import Fraction

import sympy as sp

from symgrad import functions
from symgrad.errors import ExpressionError

#: The one variable a custom activation may use.
X = sp.Symbol("x", real=True)

#: The functions a custom activation may call: those of the registry marked for the grammar.
FUNCTIONS = functions.GRAMMAR

MAX_LENGTH = 300
MAX_NODES = 200
MAX_DEPTH = 40
#: Largest magnitude of a number literal; larger constants are surely typos.
MAX_LITERAL = 10**6
#: Largest magnitude of a constant exponent: x**(10**10**10) must not reach SymPy.
MAX_EXPONENT = 64
#: Largest magnitude of a constant part of an expression, such as ``exp(10)`` or ``10**64``: it
#: must stay a finite float64 in the generated code, and bounding every constant as it is built
#: keeps ``exp(exp(exp(exp(10))))`` from ever being evaluated.
MAX_CONSTANT = 1e300

_ALLOWED_TEXT = "numbers, x, + - * / **, parentheses and " + " ".join(FUNCTIONS)


def parse_activation(text: str) -> sp.Expr:
    """Parse ``text`` into a SymPy expression in :data:`X`, or raise :class:`ExpressionError`."""
    source = text.strip()
    if not source:
        raise ExpressionError("the custom activation is empty; write an expression in x")
    if len(source) > MAX_LENGTH:
        raise ExpressionError(
            f"the custom activation is {len(source)} characters long; at most {MAX_LENGTH} are "
            "accepted"
        )
    if not source.isprintable() or not source.isascii():
        raise ExpressionError(
            f"the custom activation {text!r} has characters outside printable ASCII; "
            f"use {_ALLOWED_TEXT}"
        )
    if "#" in source:
        # Python would read the rest as a comment: text the grammar has no place for.
        raise ExpressionError(
            f"the custom activation {source!r} has a '#'; use {_ALLOWED_TEXT} only"
        )
    try:
        with warnings.catch_warnings():
            # "1if x" parses with a SyntaxWarning; a warning line is not symgrad's one-line error.
            warnings.simplefilter("error", SyntaxWarning)
            tree = ast.parse(source, mode="eval")
    except (SyntaxError, SyntaxWarning, ValueError, RecursionError, MemoryError) as exc:
        reason = getattr(exc, "msg", None) or type(exc).__name__
        raise ExpressionError(
            f"the custom activation {source!r} is not a valid expression ({reason})"
        ) from None
    count = sum(1 for _ in ast.walk(tree))
    if count > MAX_NODES:
        raise ExpressionError(
            f"the custom activation {source!r} is too large ({count} syntax nodes, at most "
            f"{MAX_NODES})"
        )
    expression = _Builder(source).build(tree.body, depth=0)
    if expression.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
        raise ExpressionError(
            f"the custom activation {source!r} is undefined (it divides by zero or takes log(0))"
        )
    return expression


class _Builder:
    """Builds a SymPy expression from a whitelisted ``ast`` tree, one node at a time."""

    def __init__(self, source: str) -> None:
        self.source = source

    def reject(self, what: str) -> ExpressionError:
        return ExpressionError(
            f"the custom activation {self.source!r} uses {what}; only {_ALLOWED_TEXT} are allowed"
        )

    def build(self, node: ast.expr, depth: int) -> sp.Expr:
        expression = self.build_node(node, depth)
        if expression.is_number:
            self.check_constant(expression)
        return expression

    def check_constant(self, value: sp.Expr) -> None:
        """Refuse a constant that is not a real number of float64 size.

        Its parts were checked as they were built, so evaluating it is cheap.
        """
        approx = sp.N(value, 20)
        if approx.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
            raise ExpressionError(
                f"the custom activation {self.source!r} is undefined (it divides by zero or "
                "takes log(0))"
            )
        if not approx.is_real:
            raise ExpressionError(
                f"the custom activation {self.source!r} has the constant {value}, which is not "
                "a real number; activations are real functions of x"
            )
        if abs(approx) > MAX_CONSTANT:
            raise ExpressionError(
                f"the custom activation {self.source!r} has a constant of magnitude above "
                f"{MAX_CONSTANT:.0e}; constants must fit in float64"
            )

    def build_node(self, node: ast.expr, depth: int) -> sp.Expr:
        if depth > MAX_DEPTH:
            raise ExpressionError(
                f"the custom activation {self.source!r} nests deeper than {MAX_DEPTH} levels"
            )
        if isinstance(node, ast.Constant):
            return self.number(node.value)
        if isinstance(node, ast.Name):
            if node.id == "x":
                return X
            raise self.reject(f"the name {node.id!r}")
        if isinstance(node, ast.UnaryOp):
            operand = self.build(node.operand, depth + 1)
            if isinstance(node.op, ast.USub):
                return -operand
            if isinstance(node.op, ast.UAdd):
                return operand
            raise self.reject(f"the operator {type(node.op).__name__}")
        if isinstance(node, ast.BinOp):
            left = self.build(node.left, depth + 1)
            right = self.build(node.right, depth + 1)
            return self.binary(node.op, left, right)
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        raise self.reject(_describe(node))

    def number(self, value: object) -> sp.Expr:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.reject(f"the literal {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise self.reject(f"the literal {value!r}")
        if abs(value) > MAX_LITERAL:
            raise ExpressionError(
                f"the custom activation {self.source!r} has the number {value!r}; numbers must "
                f"be at most {MAX_LITERAL} in magnitude"
            )
        # Exact rationals keep the derivation exact and the output the same on every machine.
        fraction = Fraction(value) if isinstance(value, int) else Fraction(repr(value))
        return sp.Rational(fraction.numerator, fraction.denominator)

    def binary(self, op: ast.operator, left: sp.Expr, right: sp.Expr) -> sp.Expr:
        if isinstance(op, ast.Add):
            return left + right
        if isinstance(op, ast.Sub):
            return left - right
        if isinstance(op, ast.Mult):
            return left * right
        if isinstance(op, ast.Div):
            if right == 0:
                raise ExpressionError(f"the custom activation {self.source!r} divides by zero")
            return left / right
        if isinstance(op, ast.Pow):
            self.check_power(left, right)
            return left**right
        raise self.reject(f"the operator {type(op).__name__}")

    def check_power(self, base: sp.Expr, exponent: sp.Expr) -> None:
        """Refuse powers whose size would make SymPy compute for ever."""
        if exponent.is_number:
            if abs(exponent) > MAX_EXPONENT:
                raise ExpressionError(
                    f"the custom activation {self.source!r} has the exponent {exponent}; "
                    f"constant exponents must be at most {MAX_EXPONENT} in magnitude"
                )
            if base == 0 and exponent.is_negative:
                raise ExpressionError(f"the custom activation {self.source!r} divides by zero")
        elif not base.is_number:
            # x**x and the like: a power tower in x has no place in an activation.
            raise ExpressionError(
                f"the custom activation {self.source!r} raises an expression in x to a power "
                "that depends on x; use exp(...) instead"
            )

    def call(self, node: ast.Call, depth: int) -> sp.Expr:
        if not isinstance(node.func, ast.Name):
            raise self.reject(_describe(node.func))
        name = node.func.id
        if name not in FUNCTIONS:
            raise self.reject(f"the function {name!r}")
        if node.keywords or len(node.args) != 1 or isinstance(node.args[0], ast.Starred):
            raise ExpressionError(
                f"the custom activation {self.source!r} calls {name} with other than one argument"
            )
        argument = self.build(node.args[0], depth + 1)
        if name == "log" and argument == 0:
            raise ExpressionError(f"the custom activation {self.source!r} takes log(0)")
        return FUNCTIONS[name].build(argument)


def _describe(node: ast.AST) -> str:
    """A short human name for a syntax node the grammar refuses."""
    names = {
        ast.Attribute: "attribute access",
        ast.Subscript: "indexing",
        ast.Lambda: "a lambda",
        ast.ListComp: "a comprehension",
        ast.SetComp: "a comprehension",
        ast.DictComp: "a comprehension",
        ast.GeneratorExp: "a generator",
        ast.Compare: "a comparison",
        ast.BoolOp: "a boolean operator",
        ast.IfExp: "a conditional expression",
        ast.NamedExpr: "an assignment expression",
        ast.List: "a list",
        ast.Tuple: "a tuple",
        ast.Dict: "a dict",
        ast.Set: "a set",
        ast.JoinedStr: "an f-string",
        ast.Await: "await",
        ast.Yield: "yield",
        ast.Starred: "unpacking",
    }
    return names.get(type(node), f"a {type(node).__name__} expression")
