"""Math in the documents as values: what a display shows, never how one format prints it.

Part of the document model (:mod:`symgrad.render.document`). A :class:`Math` is a sequence of
parts: a SymPy expression (:class:`Expr`, printed in the notation of :mod:`symgrad.printing`), a
matrix of formulas abbreviated past a few rows (:class:`Matrix`), a factor with its shape under
it (:class:`Shaped`), a bracketed group, a quantity of one sample of a batch and a sum over the
samples (:class:`Sampled`, :class:`Summation`), the worked example's numbers and the formulas
they are put into (:class:`Number`, :class:`Numbers`, :class:`Filled`, :class:`FilledScalar`),
the terms of a sum with their signs (:class:`Term`), or a named symbol between them
(:class:`Token`: a relation, an operator, a space, an ellipsis). The sections build these
values; only a writer prints them, each in its format: :func:`latex` for LaTeX, Markdown math
and Beamer (a format's own row gap between a matrix's rows), and a MathML writer can walk the
same values. Widths and heights for the layout are measured on the LaTeX printing of a value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import sympy as sp

from symgrad import notation as nt
from symgrad import printing
from symgrad.render.numbers import (
    bmatrix,
    latex_scalar_with_numbers,
    latex_with_numbers,
    number_tex,
)

#: The space between the rows of a matrix in LaTeX. ``\\[1.5ex]`` is not enough: LaTeX adds it
#: to the depth of the row's strut, so the deep denominators of ``\dfrac`` entries absorb it and
#: the rows nearly touch. ``\noalign`` adds real space below the whole row.
LATEX_ROW_GAP = r"\\ \noalign{\vskip 1.5ex}"
#: The same in Markdown math (KaTeX and MathJax have no ``\noalign``).
MARKDOWN_ROW_GAP = r"\\[1.2ex]"

#: Rows or columns up to this many are shown in full; beyond it, abbreviated.
MAX_SHOWN = 6
#: How many leading rows or columns an abbreviated matrix shows before the ellipsis.
HEAD = 3


class Token(StrEnum):
    """A named symbol between the parts of a formula; the value is its LaTeX."""

    EQUALS = "="
    PLUS = "+"
    #: Elementwise (Hadamard) product.
    ODOT = r"\odot"
    #: Between the rows and the columns of a shape: ``n_{k} \\times 1``.
    TIMES = r"\times"
    #: Punctuation after a formula (written close to it).
    COMMA = ","
    PERIOD = "."
    #: A wide space between two equations on one line, and the indent of a continued line.
    QQUAD = r"\qquad"
    QUAD = r"\quad"
    #: A thin space: between a scalar and the symbol it multiplies, ``\\eta \\, \\nabla``.
    THIN = r"\,"
    #: An assignment: the value on the right replaces the one on the left.
    LEFTARROW = r"\leftarrow"
    #: Terms left out of a sum, and the entries left out of a matrix's row, column, diagonal.
    CDOTS = r"\cdots"
    #: Values left out of a list: ``1, \\dots, 128``.
    DOTS = r"\dots"
    #: Values left out of a list in a figure's caption: ``2, \\ldots, 7``.
    LDOTS = r"\ldots"
    VDOTS = r"\vdots"
    DDOTS = r"\ddots"
    #: Rows of a display left out (an abbreviated list of equations).
    ROWS_LEFT_OUT = r"\;\;\vdots"
    #: A fraction in a line of text: ``1 / n``.
    SLASH = "/"
    #: Not equal, in a case of a formula: ``i \\ne j``.
    NE = r"\ne"
    #: The union of sets: ``(-\\infty, 0) \\cup (0, \\infty)``.
    CUP = r"\cup"
    LESS = "<"
    #: Membership: ``W_{k} \\in \\mathbb{R}^{...}``.
    IN = r"\in"
    #: A thick space between the items of a list of symbols: ``W_{k}, \\; b_{k}``.
    THICK = r"\;"
    #: A word space, written close to what is either side of it: ``W_{1},\\ b_{1}``.
    SPACE = r"\ "
    #: The vector (or matrix) of ones.
    ONES = r"\mathbf{1}"
    NABLA = r"\nabla"
    PARTIAL = r"\partial"
    #: The real numbers, the space of a vector or matrix with a power: ``\\mathbb{R}^{n}``.
    REALS = r"\mathbb{R}"
    #: The transpose as a superscript.
    TOP = r"\top"
    #: The derivative of a function, written after it: ``g'``.
    PRIME = "'"


#: Tokens written close to what comes before them.
_CLOSE = frozenset({Token.COMMA, Token.PERIOD, Token.PRIME, Token.SPACE})


@dataclass(frozen=True)
class Expr:
    """A SymPy expression of the derivation. ``stacked``: its fractions at full size
    (``\\dfrac``), as partials are written by hand in a matrix; ``slashed``: its partials with a
    slash, as in a line of text or a table cell."""

    expr: sp.Basic
    stacked: bool = False
    slashed: bool = False


@dataclass(frozen=True)
class Matrix:
    """A matrix of formulas, row by row; a :class:`Token` cell is an ellipsis."""

    cells: tuple[tuple[Math | Token, ...], ...]


@dataclass(frozen=True)
class Shaped:
    """A factor with its shape written under it (``rows x cols``)."""

    factor: Math
    rows: sp.Basic
    cols: sp.Basic


@dataclass(frozen=True)
class Group:
    """A formula in brackets as tall as it is."""

    inner: Math


@dataclass(frozen=True)
class Paren:
    """A formula in brackets of the line's size: ``(u \\odot v)``."""

    inner: Math


@dataclass(frozen=True)
class Call:
    """A function applied: ``O(a_{L})``, ``\\mathcal{L}(\\hat{y}, y)``, ``g'(a_{k})``;
    ``square``: its argument in square brackets, as the indicator's ``\\mathbf{1}[P]``."""

    function: Math
    argument: Math
    square: bool = False


@dataclass(frozen=True)
class Scripted:
    """A formula with an index and a power written on it: ``(u \\odot v)_{i}``,
    ``\\mathbb{R}^{n_{k} \\times n_{k-1}}``, ``\\nabla_{v}``."""

    base: Math
    sub: Math | None = None
    sup: Math | None = None


@dataclass(frozen=True)
class Sampled:
    """A quantity of one sample of a batch: ``h_{k-1}^{(s)}`` (``transposed``: as a row,
    ``h_{k-1}^{(s)\\top}``); of a gradient, the loss is the sample's:
    ``\\nabla_{a_k} \\mathcal{L}^{(s)}``."""

    quantity: sp.Basic
    sample: sp.Basic
    transposed: bool = False


@dataclass(frozen=True)
class Summation:
    """``sum_{index=low}^{high} body``, a sum whose terms are formulas of this model (a
    :class:`Sampled` quantity), not one SymPy expression; without ``low`` and ``high``, a sum
    over every value of ``index`` (``sum_{j} body``)."""

    index: sp.Basic
    low: sp.Basic | None
    high: sp.Basic | None
    body: Math


@dataclass(frozen=True, eq=False)
class Filled:
    """A formula of vectors and matrices with the worked example's numbers in place of the
    quantities ``numbers`` holds (``W_1 h_0`` as two matrices of numbers)."""

    expr: sp.Basic
    numbers: Mapping[nt.Quantity, np.ndarray]


@dataclass(frozen=True, eq=False)
class FilledScalar:
    """A formula of scalars with the numbers of its entries (``values``) put in
    (``\\tanh(-0.04891)``); ``stacked``: its fractions at full size, as in a matrix."""

    expr: sp.Basic
    values: Mapping[sp.Basic, float]
    stacked: bool = False


@dataclass(frozen=True)
class Number:
    """A number of the worked example, to its significant digits."""

    value: float


@dataclass(frozen=True, eq=False)
class Numbers:
    """A vector (a column) or a matrix of the worked example's numbers."""

    values: np.ndarray


@dataclass(frozen=True)
class Term:
    """A term of a sum after the first, written with its sign: ``+ x``, or ``- x`` when it is
    ``negative`` (``inner`` is then its magnitude) or its formula starts with a minus."""

    inner: Math
    negative: bool = False


@dataclass(frozen=True)
class Over:
    """A fraction in a line of text, written close: ``1/u``, ``u'/u^{2}``."""

    numerator: Math
    denominator: Math


@dataclass(frozen=True)
class Negative:
    """A formula with a minus in front, written close: ``-x``."""

    inner: Math


@dataclass(frozen=True)
class Power:
    """A formula in brackets to a whole power: ``(-1.031 - 0.9)^2``."""

    base: Math
    exp: int


Part = (
    Expr
    | Matrix
    | Shaped
    | Group
    | Paren
    | Call
    | Scripted
    | Sampled
    | Summation
    | Filled
    | FilledScalar
    | Number
    | Numbers
    | Term
    | Over
    | Negative
    | Power
    | Token
)
#: Every kind of part: a formula is made of these and nothing else.
PARTS = (
    Expr,
    Matrix,
    Shaped,
    Group,
    Paren,
    Call,
    Scripted,
    Sampled,
    Summation,
    Filled,
    FilledScalar,
    Number,
    Numbers,
    Term,
    Over,
    Negative,
    Power,
    Token,
)


class Math(tuple[Part, ...]):
    """A formula: its parts in order. Made with :meth:`of` (a SymPy expression is an
    :class:`Expr`, a formula is joined in), joined to more with ``+``."""

    __slots__ = ()

    @classmethod
    def of(cls, *parts: Part | Math | sp.Basic | int) -> Math:
        flat: list[Part] = []
        for part in parts:
            if isinstance(part, Math):
                flat += part
            elif isinstance(part, sp.Basic):
                flat.append(Expr(part))
            elif isinstance(part, int) and not isinstance(part, bool):
                flat.append(Expr(sp.Integer(part)))
            elif isinstance(part, PARTS):
                flat.append(part)
            else:  # printed LaTeX (a str) above all
                raise TypeError(f"a formula is made of values, not {type(part).__name__}")
        return cls(flat)

    def __add__(self, other: object) -> Math:  # type: ignore[override]
        if not isinstance(other, (Math, sp.Basic, *PARTS)):
            return NotImplemented
        return Math.of(self, other)

    def __format__(self, spec: str) -> str:
        raise TypeError("a formula is a value: a writer prints it, never format it")

    def parts(self) -> Iterable[Part]:
        """Every part, those inside matrices, shapes and groups too."""
        for part in self:
            yield part
            if isinstance(part, Matrix):
                for row in part.cells:
                    for cell in row:
                        yield from (cell,) if isinstance(cell, Token) else cell.parts()
            elif isinstance(part, Shaped):
                yield from part.factor.parts()
            elif isinstance(part, Group | Paren):
                yield from part.inner.parts()
            elif isinstance(part, Call):
                yield from (*part.function.parts(), *part.argument.parts())
            elif isinstance(part, Scripted):
                for inner in (part.base, part.sub, part.sup):
                    yield from inner.parts() if inner is not None else ()
            elif isinstance(part, Summation):
                yield from part.body.parts()
            elif isinstance(part, Term | Negative):
                yield from part.inner.parts()
            elif isinstance(part, Power):
                yield from part.base.parts()
            elif isinstance(part, Over):
                yield from (*part.numerator.parts(), *part.denominator.parts())


#: No formula: the empty left side of a continued row.
EMPTY = Math()


def equals(*forms: Math | sp.Basic) -> Math:
    """``= form_1 = form_2 ...``: the right side of a row."""
    parts: list[Part | Math | sp.Basic] = []
    for form in forms:
        parts += [Token.EQUALS, form]
    return Math.of(*parts)


def counting(index: sp.Basic, n: int) -> Math:
    """``index = 1, 2, 3``, or ``index = 1, \\dots, n`` beyond three values."""
    shown: list[int | Token] = list(range(1, n + 1)) if n <= 3 else [1, Token.DOTS, n]
    values: list[Part | sp.Basic] = []
    for value in shown:
        values += [Token.COMMA] if values else []
        values.append(value if isinstance(value, Token) else sp.Integer(value))
    return Math.of(index, Token.EQUALS, *values)


def shown_indices(n: int) -> list[int | None]:
    """1-based indices a matrix of ``n`` rows shows; ``None`` marks the ellipsis."""
    if n <= MAX_SHOWN:
        return list(range(1, n + 1))
    return [*range(1, HEAD + 1), None, n]


def matrix(rows: int, cols: int, entry: Callable[[int, int], Math | sp.Basic]) -> Matrix:
    """The matrix of ``entry(r, c)`` (1-based), abbreviated past :data:`MAX_SHOWN`."""
    lines = []
    for r in shown_indices(rows):
        cells: list[Math | Token] = []
        for c in shown_indices(cols):
            if r is None and c is None:
                cells.append(Token.DDOTS)
            elif r is None:
                cells.append(Token.VDOTS)
            elif c is None:
                cells.append(Token.CDOTS)
            else:
                cells.append(Math.of(entry(r, c)))
        lines.append(tuple(cells))
    return Matrix(tuple(lines))


# Printing -------------------------------------------------------------------------------------


def latex(math: Math, row_gap: str = LATEX_ROW_GAP) -> str:
    """``math`` as LaTeX (and Markdown math, with its ``row_gap``)."""
    text = ""
    for n, part in enumerate(math):
        printed = _latex_part(part, row_gap)
        if n == 0:
            text = printed
        elif isinstance(part, Token) and part in _CLOSE or math[n - 1] is Token.SPACE:
            text += printed
        elif isinstance(part, Shaped) and isinstance(math[n - 1], Shaped):
            # a thick space between two factors, so that their shapes do not run together
            text += r" \; " + printed
        else:
            text += " " + printed
    return text


def markdown(math: Math) -> str:
    """``math`` as Markdown math (KaTeX, MathJax) prints it."""
    return latex(math, MARKDOWN_ROW_GAP)


def _latex_part(part: Part, row_gap: str) -> str:
    if isinstance(part, Token):
        return part.value
    if isinstance(part, Expr):
        return printing.latex(part.expr, inline=part.slashed, display_fractions=part.stacked)
    if isinstance(part, Filled):
        return latex_with_numbers(part.expr, part.numbers, row_gap=row_gap)
    if isinstance(part, FilledScalar):
        values = part.values
        return latex_scalar_with_numbers(part.expr, values.get, display_fractions=part.stacked)
    if isinstance(part, Number):
        return number_tex(part.value)
    if isinstance(part, Numbers):
        return bmatrix(part.values)
    if isinstance(part, Term):
        inner = latex(part.inner, row_gap)
        if part.negative:
            return f"- {inner}"
        return f"- {inner[1:]}" if inner.startswith("-") else f"+ {inner}"
    if isinstance(part, Negative):
        return "-" + latex(part.inner, row_gap)
    if isinstance(part, Over):
        return latex(part.numerator, row_gap) + "/" + latex(part.denominator, row_gap)
    if isinstance(part, Power):
        return rf"\left({latex(part.base, row_gap)}\right)^{{{part.exp}}}"
    if isinstance(part, Group):
        return rf"\left({latex(part.inner, row_gap)}\right)"
    if isinstance(part, Sampled):
        top = r"\top" if part.transposed else ""
        return rf"{printing.latex(part.quantity)}^{{({printing.latex(part.sample)}){top}}}"
    if isinstance(part, Summation):
        body = latex(part.body, row_gap)
        if part.low is None or part.high is None:
            return rf"\sum_{{{printing.latex(part.index)}}} {body}"
        index, low, high = (printing.latex(e) for e in (part.index, part.low, part.high))
        return rf"\sum_{{{index}={low}}}^{{{high}}} {body}"
    if isinstance(part, Paren):
        return f"({latex(part.inner, row_gap)})"
    if isinstance(part, Call):
        argument = latex(part.argument, row_gap)
        argument = f"[{argument}]" if part.square else f"({argument})"
        return latex(part.function, row_gap) + argument
    if isinstance(part, Scripted):
        text = latex(part.base, row_gap)
        text += "" if part.sub is None else f"_{{{latex(part.sub, row_gap)}}}"
        return text + ("" if part.sup is None else f"^{{{latex(part.sup, row_gap)}}}")
    if isinstance(part, Shaped):
        shape = rf"{printing.latex(part.rows)} \times {printing.latex(part.cols)}"
        return rf"\underbrace{{{latex(part.factor, row_gap)}}}_{{{shape}}}"
    if not isinstance(part, Matrix):  # printed LaTeX (a str) above all
        raise TypeError(f"a formula is made of values, not {type(part).__name__}")
    lines = [
        " & ".join(c.value if isinstance(c, Token) else latex(c, row_gap) for c in row)
        for row in part.cells
    ]
    return r"\begin{bmatrix} " + f" {row_gap} ".join(lines) + r" \end{bmatrix}"
