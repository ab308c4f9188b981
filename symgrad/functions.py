"""The registry of elementary functions and constants: each written once, with every spelling.

The foundation of the pipeline, beside :mod:`symgrad.arrays`. An activation a user types, a stable
form of the catalogue or a derivative SymPy finds is made of the functions below; every stage that
turns such an expression into something else reads this table and no other:

- the parser of custom activations (:mod:`symgrad.expressions`) accepts the functions marked
  ``grammar``;
- the printers: the notes' LaTeX and the terminal's Unicode (:mod:`symgrad.printing`), Python on
  floats (``math``), NumPy, the array API, and C99 (``exp`` or ``expf`` by the real type; never a
  POSIX macro such as ``M_LN2``);
- the evaluators: NumPy float64 and mpmath in high precision (:mod:`symgrad.program.evaluate`,
  :mod:`symgrad.proof.precision`, :mod:`symgrad.proof.numeric`);
- the NumPy target's in-place pass, for the functions whose ufunc can write into its argument.

Constants (``e``, ``pi``, ``log(2)``) are numbers in every code target: each is written as the
shortest literal that reads back as its double (``float``: as its float), so C99 needs no macro;
the notes and the terminal spell them (``e``, ``\\pi``, ``\\log 2``). A function missing from the
registry is refused by every printer, never turned into a call that might not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import mpmath
import numpy as np
import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p


@dataclass(frozen=True)
class Function:
    """One elementary function of one argument and its spelling in every notation.

    ``sympy`` is its SymPy class (None for ``sqrt``, which SymPy writes as the power ``x**(1/2)``;
    ``build`` makes it either way). Spellings with ``{}`` take the printed argument: ``latex``
    (the notes; ``latex_power`` when it is raised to a power, with ``{p}``), ``unicode`` (the
    terminal), ``math`` (Python on floats). ``array`` is the name in NumPy and in the array API
    standard (``np.exp``, ``xp.exp``), ``c`` the C99 function for ``double`` (``expf`` for
    ``float``); ``None`` where a printer writes the function as a choice (``sign``).
    """

    name: str
    sympy: type[sp.Function] | None
    build: Callable[[sp.Expr], sp.Expr]
    latex: str
    unicode: str
    math: str | None
    array: str
    c: str | None
    mpmath: Callable[..., Any]
    numpy: Callable[..., Any]
    #: Usable in a custom activation (``--activation "x/(1+abs(x))"``).
    grammar: bool = True
    #: NumPy's function of that name writes into its argument (``np.exp(A, out=A)``).
    ufunc: bool = True
    #: The LaTeX of the function raised to a power ``{p}`` (None: the whole in brackets).
    latex_power: str | None = None
    #: A compound argument of ``latex`` is written in ``\\left(...\\right)`` (``\\log``).
    latex_brackets: bool = False


def _sign(value: Any) -> Any:
    return mpmath.sign(value)


FUNCTIONS: tuple[Function, ...] = (
    Function(
        "exp", sp.exp, sp.exp, "e^{{{}}}", "exp({})", "math.exp({})", "exp", "exp",
        mpmath.exp, np.exp,
    ),
    Function(
        "log", sp.log, sp.log, r"\log {}", "log({})", "math.log({})", "log", "log",
        mpmath.log, np.log, latex_brackets=True,
    ),
    Function(
        "sqrt", None, sp.sqrt, r"\sqrt{{{}}}", "sqrt({})", "math.sqrt({})", "sqrt", "sqrt",
        mpmath.sqrt, np.sqrt,
    ),
    Function(
        "tanh", sp.tanh, sp.tanh, r"\tanh({})", "tanh({})", "math.tanh({})", "tanh", "tanh",
        mpmath.tanh, np.tanh, latex_power=r"\tanh^{{{p}}}({})",
    ),
    Function(
        "sin", sp.sin, sp.sin, r"\sin({})", "sin({})", "math.sin({})", "sin", "sin",
        mpmath.sin, np.sin, latex_power=r"\sin^{{{p}}}({})",
    ),
    Function(
        "cos", sp.cos, sp.cos, r"\cos({})", "cos({})", "math.cos({})", "cos", "cos",
        mpmath.cos, np.cos, latex_power=r"\cos^{{{p}}}({})",
    ),
    Function(
        "abs", sp.Abs, sp.Abs, r"\left|{{{}}}\right|", "|{}|", "abs({})", "abs", "fabs",
        mpmath.fabs, np.abs, latex_power=r"\left|{{{}}}\right|^{{{p}}}",
    ),
    Function(
        "sign", sp.sign, sp.sign, r"\operatorname{{sign}}({})", "sign({})", None, "sign", None,
        _sign, np.sign, grammar=False,
    ),
    Function(
        "log1p", log1p, log1p, r"\log\left(1 + {}\right)", "log1p({})", "math.log1p({})",
        "log1p", "log1p", mpmath.log1p, np.log1p, grammar=False,
    ),
    Function(
        "expm1", expm1, expm1, r"\left(e^{{{}}} - 1\right)", "expm1({})", "math.expm1({})",
        "expm1", "expm1", mpmath.expm1, np.expm1, grammar=False,
        latex_power=r"\left(e^{{{}}} - 1\right)^{{{p}}}",
    ),
)  # fmt: skip

#: Every function by its name (``"abs"``), as the activation grammar and the evaluators call it.
BY_NAME: dict[str, Function] = {f.name: f for f in FUNCTIONS}
#: Every function that is a SymPy class of its own, by that class.
BY_CLASS: dict[type, Function] = {f.sympy: f for f in FUNCTIONS if f.sympy is not None}
#: The functions a custom activation may call.
GRAMMAR: dict[str, Function] = {f.name: f for f in FUNCTIONS if f.grammar}


def of(expr: sp.Basic) -> Function | None:
    """The entry of ``expr`` (``tanh(a)``, ``sqrt(a)`` as ``a**(1/2)``), or None."""
    if isinstance(expr, sp.Pow) and expr.exp == sp.S.Half:
        return BY_NAME["sqrt"]
    return BY_CLASS.get(type(expr))


@dataclass(frozen=True)
class Constant:
    """A constant an expression may hold: its SymPy value and its spelling in the notes and the
    terminal. Code writes it as a number (:func:`literal`)."""

    name: str
    value: sp.Expr
    latex: str
    unicode: str


CONSTANTS: tuple[Constant, ...] = (
    Constant("e", sp.E, "e", "e"),
    Constant("pi", sp.pi, r"\pi", "π"),
    Constant("log(2)", sp.log(2), r"\log 2", "log(2)"),
)
#: The constants that are SymPy atoms of their own (``E``, ``pi``), by their value.
NUMBER_SYMBOLS: dict[sp.Basic, Constant] = {
    c.value: c for c in CONSTANTS if isinstance(c.value, sp.NumberSymbol)
}


def is_constant(expr: sp.Basic) -> bool:
    """True for a number that is not a plain rational: ``e``, ``pi``, ``log(2)``, ``exp(2)/3``.

    Code targets write it as a literal; no code computes it at run time.
    """
    return bool(getattr(expr, "is_number", False)) and not expr.is_Rational


def literal(expr: sp.Expr, single: bool = False) -> str:
    """The shortest decimal that reads back as the double of ``expr`` (``single``: as the
    float32 nearest to it), with a point: ``0.6931471805599453``, ``2.0``."""
    value = float(sp.N(expr, 30))
    text = str(np.float32(value)) if single else repr(value)
    if "e" not in text and "." not in text and "n" not in text:
        text += ".0"
    return text


def mpmath_function(name: str) -> Callable[..., Any]:
    """The mpmath function of the registry entry ``name``."""
    return BY_NAME[name].mpmath


def numpy_function(name: str) -> Callable[..., Any]:
    """The NumPy function of the registry entry ``name``."""
    return BY_NAME[name].numpy


__all__ = [
    "BY_CLASS",
    "BY_NAME",
    "CONSTANTS",
    "FUNCTIONS",
    "GRAMMAR",
    "NUMBER_SYMBOLS",
    "Constant",
    "Function",
    "is_constant",
    "literal",
    "of",
]
