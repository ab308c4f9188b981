"""The Python printer: a SymPy expression of generated code as Python on floats (``math``).

Part of the targets stage. :class:`MathPrinter` subclasses SymPy's
:class:`~sympy.printing.pycode.PythonCodePrinter` and overrides only what it needs, each override
with its reason. Output is already in ``ruff format`` style (spaces around ``*`` and ``/``,
``**`` hugging simple operands), so generated files need no formatter. The array printers of the
Python targets (NumPy, array API) subclass :class:`ArrayPrinter`, which prints the elementwise
functions on whole arrays. A function outside :data:`SUPPORTED_FUNCTIONS`
raises :class:`CodegenError`; it is never turned into a comment or a call that might not exist.
Function names come from the registry (:mod:`symgrad.functions`), constants are written as
numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sympy as sp
from sympy.printing.precedence import PRECEDENCE, precedence
from sympy.printing.pycode import PythonCodePrinter

from symgrad import functions
from symgrad.arrays import LogAddExp, written_out
from symgrad.errors import SymgradError
from symgrad.program.ir import Shape, Var


class CodegenError(SymgradError):
    """An expression that a printer of generated code cannot translate."""


#: The primitives of whole arrays, which only array printers know.
ARRAY_FUNCTIONS: frozenset[str] = frozenset(
    {"BatchSum", "Dot", "Transpose", "RowSum", "RowMax", "Total"}
)
#: Names of the SymPy functions the printers of generated code translate: every function of the
#: registry (:mod:`symgrad.functions`), the choices, and the array primitives.
SUPPORTED_FUNCTIONS: frozenset[str] = frozenset(
    {entry.__name__ for entry in functions.BY_CLASS}
    | {"Max", "Min", "Heaviside", "Piecewise", "LogAddExp"}
    | ARRAY_FUNCTIONS
)


def _is_simple_power_operand(text: str) -> bool:
    """ruff format hugs ``**`` only around names, numbers and attribute chains (with a sign)."""
    body = text.lstrip("-+")
    return body.replace(".", "").replace("_", "").isalnum() and not body.endswith(".")


def without_logaddexp(expr: sp.Expr) -> sp.Expr:
    """``expr`` with every ``logaddexp(a, b)`` written ``max(a, b) + log1p(exp(-|a - b|))``.

    For code on plain floats, which has no ``logaddexp``: expanded before printing, the sum joins
    the statement's own terms, so that long lines split where ruff splits them.
    """
    return written_out(expr, LogAddExp)


class MathPrinter(PythonCodePrinter):
    """Python code for plain floats: ``math.exp(a1_0)``, ``max(a1_0, 0.0)``, ``x if c else y``."""

    _allowed: frozenset[str] = SUPPORTED_FUNCTIONS - ARRAY_FUNCTIONS

    def __init__(self, settings: dict[str, Any] | None = None) -> None:
        defaults: dict[str, Any] = {"fully_qualified_modules": True, "strict": True}
        defaults.update(settings or {})
        super().__init__(defaults)
        # No inherited table (it holds math.gamma and friends): the registry's functions only.
        self.known_functions: dict[str, str] = {}

    def _print(self, expr: Any, **kwargs: Any) -> str:
        # A constant (e, pi, log(2)) is the number it stands for, never computed at run time.
        if isinstance(expr, sp.Basic) and functions.is_constant(expr):
            return functions.literal(expr)
        return str(super()._print(expr, **kwargs))

    def _function(self, entry: functions.Function, arg: str) -> str:
        """The call of a registry function on floats: ``math.exp(a)``, ``abs(a)``."""
        assert entry.math is not None
        return entry.math.format(arg)

    def _print_registered(self, expr: sp.Expr) -> str:
        # Every elementary function as the registry spells it for this printer.
        entry = functions.of(expr)
        assert entry is not None
        return self._function(entry, self._print(expr.args[0]))

    def doprint(self, expr: Any, assign_to: Any = None) -> str:
        # Refuse unsupported functions up front with a message that names them.
        if isinstance(expr, sp.Basic):
            for function in sorted({type(f).__name__ for f in expr.atoms(sp.Function)}):
                if function not in self._allowed:
                    raise CodegenError(
                        f"cannot generate code for the function {function}; supported: "
                        f"{', '.join(sorted(SUPPORTED_FUNCTIONS - ARRAY_FUNCTIONS))}"
                    )
        return str(super().doprint(expr, assign_to))

    def add_terms(self, expr: sp.Add) -> list[str]:
        """The terms of ``expr`` as :meth:`_print_Add` joins them: ``["a", "+ b * c", "- d"]``."""
        texts: list[str] = []
        for term in self._as_ordered_terms(expr, order=None):
            text = self._print(term)
            sign = "+"
            if text.startswith("-") and not term.is_Add:
                sign, text = "-", text[1:]
            if precedence(term) < PRECEDENCE["Add"] or term.is_Add:
                text = f"({text})"
            texts.append(f"{sign} {text}")
        first = texts[0]
        texts[0] = first[2:] if first.startswith("+") else "-" + first[2:]
        return texts

    def _print_Add(self, expr: sp.Add, order: Any = None) -> str:
        # The same terms the line splitter of the generator uses, so both agree.
        return " ".join(self.add_terms(expr))

    def _print_Float(self, expr: sp.Float) -> str:
        # The shortest text that reads back as the same double, not 17 significant digits.
        return repr(float(expr))

    def _print_Rational(self, expr: sp.Rational) -> str:
        # A constant such as 1/2 or 1/100 is written as the double it stands for.
        return repr(float(expr))

    def _print_Half(self, expr: sp.Rational) -> str:
        # As for every other rational.
        return "0.5"

    def _print_Mul(self, expr: sp.Mul) -> str:
        # ruff format puts spaces around * and /; SymPy's printer writes a*b/c.
        coeff, rest = expr.as_coeff_Mul()
        sign = ""
        if coeff.is_negative:
            sign, coeff = "-", -coeff
        factors = list(sp.Mul.make_args(rest)) if rest != 1 else []
        numer: list[str] = [] if coeff == 1 else [self._print(coeff)]
        denom: list[sp.Expr] = []
        for factor in factors:
            if factor.is_Pow and factor.exp.is_Rational and factor.exp.is_negative:
                denom.append(sp.Pow(factor.base, -factor.exp))
            else:
                numer.append(self.parenthesize(factor, PRECEDENCE["Mul"], strict=False))
        if sign and numer and coeff == 1 and factors[0].is_Pow and factors[0].exp != sp.S.Half:
            # ruff format writes a power after a unary minus in parentheses: -(x**2).
            numer[0] = f"({numer[0]})"
        text = " * ".join(numer) if numer else "1.0"
        if denom:
            if len(denom) == 1:
                under = self.parenthesize(denom[0], PRECEDENCE["Mul"], strict=True)
            else:
                under = (
                    "("
                    + " * ".join(
                        self.parenthesize(d, PRECEDENCE["Mul"], strict=False) for d in denom
                    )
                    + ")"
                )
            text = f"{text} / {under}"
        return sign + text

    def _print_Pow(self, expr: sp.Pow, rational: bool = False) -> str:
        # Square roots as sqrt, negative powers as a quotient, and ruff's spacing around **.
        base, exponent = expr.base, expr.exp
        if exponent == sp.S.Half:
            return self._function(functions.BY_NAME["sqrt"], self._print(base))
        if exponent.is_Rational and exponent.is_negative:
            return f"1.0 / {self.parenthesize(sp.Pow(base, -exponent), PRECEDENCE['Mul'], True)}"
        left = self.parenthesize(base, PRECEDENCE["Pow"], strict=True)
        if exponent.is_Number and not exponent.is_negative:
            right = self._print(exponent)  # 2 or 1.5: a simple operand, no parentheses
        else:
            right = self.parenthesize(exponent, PRECEDENCE["Pow"], strict=True)
        if _is_simple_power_operand(left) and _is_simple_power_operand(right):
            return f"{left}**{right}"
        return f"{left} ** {right}"

    def _print_Max(self, expr: sp.Max) -> str:
        # Builtin max on floats, with float constants so the result is always a float.
        return f"max({', '.join(self._float(a) for a in expr.args)})"

    def _print_Min(self, expr: sp.Min) -> str:
        # As max.
        return f"min({', '.join(self._float(a) for a in expr.args)})"

    def _print_Piecewise(self, expr: sp.Piecewise) -> str:
        # A conditional expression without SymPy's extra parentheses (ruff would keep them).
        pieces = list(expr.args)
        if pieces[-1].cond is not sp.true:
            raise CodegenError(f"a piecewise expression needs a last 'otherwise' piece: {expr}")
        text = self._float(pieces[-1].expr)
        for piece in reversed(pieces[:-1]):
            text = f"{self._float(piece.expr)} if {self._print(piece.cond)} else {text}"
        return f"({text})"

    def _print_Relational(self, expr: sp.core.relational.Relational) -> str:
        # Comparisons against float constants, without the parentheses SymPy adds.
        lhs = self.parenthesize(expr.lhs, PRECEDENCE["Relational"] + 1, strict=False)
        return f"{lhs} {expr.rel_op} {self._float(expr.rhs)}"

    def _print_Heaviside(self, expr: sp.Heaviside) -> str:
        # 1 above zero, 0 below, and the given value at zero (relu'(0) = 0 in the catalogue).
        return self._print(expr.rewrite(sp.Piecewise))

    def _print_sign(self, expr: sp.sign) -> str:
        # SymPy's form, spaced as ruff formats it.
        arg = self._print(expr.args[0])
        return f"(0.0 if {arg} == 0.0 else math.copysign(1.0, {arg}))"

    def _print_LogAddExp(self, expr: LogAddExp) -> str:
        # log(exp(a) + exp(b)) = max(a, b) + log1p(exp(-|a - b|)), which cannot overflow. In
        # parentheses: it is one operand (statements expand it first with without_logaddexp).
        return f"({self._print(without_logaddexp(expr))})"

    def _float(self, expr: sp.Expr) -> str:
        """``expr`` printed, with a bare integer written as a float (``0.0`` in ``max(a, 0.0)``)."""
        if isinstance(expr, sp.Integer):
            return f"{int(expr)}.0"
        return str(self._print(expr))


# Every function of the registry with a SymPy class and a Python spelling prints as the registry
# spells it, so a new entry needs no method here (``sign``, a choice in code, has its own).
for _entry in functions.FUNCTIONS:
    if _entry.sympy is not None and _entry.math is not None:
        setattr(MathPrinter, f"_print_{_entry.sympy.__name__}", MathPrinter._print_registered)


class ArrayPrinter(MathPrinter):
    """The same expressions on whole arrays of a library ``namespace`` (``np``, ``xp``):
    ``xp.exp``, ``xp.maximum(a, 0.0)``, ``xp.where``.

    ``variables`` gives the shapes of the program's variables, which the sums over the batch
    need. Subclasses print the primitives of whole arrays (products, row sums, ...).
    """

    _namespace = "np"
    _allowed = SUPPORTED_FUNCTIONS

    def __init__(self, variables: Mapping[str, Var] | None = None) -> None:
        super().__init__()
        self.variables: Mapping[str, Var] = variables or {}

    def _function(self, entry: functions.Function, arg: str) -> str:
        # NumPy and the array API standard spell every function of the registry alike.
        return f"{self._namespace}.{entry.array}({arg})"

    def _ndim(self, expr: sp.Expr) -> int:
        shapes: list[Shape] = [
            self.variables[s.name].shape
            for s in expr.free_symbols
            if isinstance(s, sp.Symbol) and s.name in self.variables
        ]
        return max((len(shape) for shape in shapes), default=0)

    def _method_of(self, expr: sp.Expr) -> str:
        """``expr`` as the receiver of a method call: ``E`` or ``(Y * Z)``."""
        text = self._print(expr)
        return text if isinstance(expr, sp.Symbol) else f"({text})"

    def _print_Max(self, expr: sp.Max) -> str:
        # Elementwise maximum; builtin max would compare whole arrays.
        return self._fold(f"{self._namespace}.maximum", expr.args)

    def _print_Min(self, expr: sp.Min) -> str:
        # Elementwise minimum.
        return self._fold(f"{self._namespace}.minimum", expr.args)

    def _print_Piecewise(self, expr: sp.Piecewise) -> str:
        # Elementwise choice; a Python conditional would need one truth value.
        pieces = list(expr.args)
        if pieces[-1].cond is not sp.true:
            raise CodegenError(f"a piecewise expression needs a last 'otherwise' piece: {expr}")
        text = self._float(pieces[-1].expr)
        for piece in reversed(pieces[:-1]):
            cond = self._print(piece.cond)
            text = f"{self._namespace}.where({cond}, {self._float(piece.expr)}, {text})"
        return text

    def _print_sign(self, expr: sp.sign) -> str:
        # Array libraries have an elementwise sign.
        return self._function(functions.BY_NAME["sign"], self._print(expr.args[0]))

    def _fold(self, name: str, args: tuple[sp.Expr, ...]) -> str:
        ordered = sorted(args, key=lambda a: (a.is_number, sp.default_sort_key(a)))
        text = self._float(ordered[0])
        for arg in ordered[1:]:
            text = f"{name}({text}, {self._float(arg)})"
        return text
