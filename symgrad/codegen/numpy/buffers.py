"""Buffer reuse, the NumPy target's own pass: statements as in-place NumPy calls where they can be.

Part of the NumPy target. A program assigns every variable once; NumPy is fastest when an array
that is not needed again is overwritten instead of a new one being allocated (one pass over memory
instead of two, and no page faults of a fresh allocation). For every statement, :func:`emit_body`
knows which arrays die with it (their last reader) and evaluates the statement's expression in
them: ``G1 * H1 * (1 - H1)`` with ``G1`` and ``H1`` dead becomes

    Delta1 = G1
    Delta1 *= H1
    np.subtract(1.0, H1, out=H1)
    Delta1 *= H1

with no allocation. An array may be overwritten only when it was made by this function (never an
input or a parameter), no remaining reference in the statement reads it, its shape is the result's
shape, and no later statement or result reads it (or any name sharing its memory). Anything else is
printed as a plain NumPy expression, which allocates: always correct, sometimes slower.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import sympy as sp

from symgrad import functions
from symgrad.arrays import LogAddExp
from symgrad.codegen.numpy.printer import NumpyPrinter
from symgrad.program import Role, Statement, Var, shape_of
from symgrad.program.ir import Shape

#: Elementwise functions with a NumPy ufunc that can write into its argument (the registry's).
_UFUNCS: dict[type, str] = {
    cls: f"np.{entry.array}" for cls, entry in functions.BY_CLASS.items() if entry.ufunc
}
#: Binary functions written in place when their second argument is a number: ``np.maximum(A, 0.0,
#: out=A)``.
_BINARY: dict[type, str] = {sp.Max: "np.maximum", sp.Min: "np.minimum", LogAddExp: "np.logaddexp"}


@dataclass
class _Operand:
    """A value while a statement is compiled.

    ``leaf``: a variable not yet read; ``const``: a number; ``fresh``: NumPy text not yet run
    (it reads ``reads``); ``buffer``: an array this statement owns and may write.
    """

    kind: str
    text: str
    shape: Shape = ()
    reads: Counter[str] = field(default_factory=Counter)


@dataclass
class _Term:
    """One operand of a sum or product: ``sign`` -1 subtracts (sum) or divides (product)."""

    expr: sp.Expr
    sign: int
    shape: Shape


class _Statement:
    """Compiles one statement into NumPy lines, overwriting the arrays it may."""

    def __init__(
        self,
        printer: NumpyPrinter,
        variables: Mapping[str, Var],
        writable: frozenset[str],
        references: Counter[str],
    ) -> None:
        self.printer = printer
        self.variables = variables
        self.writable = writable
        self.remaining = references
        self.lines: list[str] = []
        #: Dead arrays whose memory this statement reused, for the comment.
        self.reused: list[str] = []
        self.taken: set[str] = set()

    # operands ---------------------------------------------------------------------------------

    def shape(self, expr: sp.Expr) -> Shape:
        return shape_of(expr, self.variables)

    def fresh(self, expr: sp.Expr) -> _Operand:
        reads = Counter(_symbol_names(expr))
        return _Operand("fresh", self.printer.doprint(expr), self.shape(expr), reads)

    def text(self, operand: _Operand) -> str:
        """The operand's text, as it is used in a line: its reads happen now."""
        self.remaining.subtract(operand.reads)
        return operand.text

    def claimable(self, expr: sp.Expr, shape: Shape, references: int = 1) -> bool:
        """``expr`` is a variable whose array this statement may overwrite with a ``shape``:
        it dies with the statement, and ``references`` are all the reads of it left."""
        return (
            isinstance(expr, sp.Symbol)
            and expr.name in self.writable
            and self.remaining[expr.name] == references
            and self.variables[expr.name].shape == shape
        )

    def claim(self, name: str, target: str | None) -> _Operand:
        """Take the dead array ``name`` as this statement's buffer, renamed ``target``."""
        self.remaining[name] -= 1
        self.reused.append(name)
        if target is not None and target != name:
            self.lines.append(f"{target} = {name}")
            name = target
        return _Operand("buffer", name, self.variables_shape(name))

    def variables_shape(self, name: str) -> Shape:
        var = self.variables.get(name)
        return var.shape if var is not None else ()

    # expressions ------------------------------------------------------------------------------

    def emit(self, expr: sp.Expr, target: str | None = None) -> _Operand:
        """The operand of ``expr``; ``target`` names the buffer that will hold the result."""
        shape = self.shape(expr)
        if isinstance(expr, sp.Symbol):
            return _Operand("leaf", expr.name, shape, Counter({expr.name: 1}))
        if expr.is_number:
            return _Operand("const", self.printer._float(expr), ())
        if not shape:
            return self.fresh(expr)
        if isinstance(expr, (sp.Add, sp.Mul)):
            return self.combine(expr, shape, target)
        if type(expr) in _UFUNCS:
            return self.unary(_UFUNCS[type(expr)], expr.args[0], "", shape, target)
        numbers = [a for a in expr.args if a.is_number]
        if type(expr) in _BINARY and len(expr.args) == 2 and len(numbers) == 1:
            (array,) = (a for a in expr.args if not a.is_number)
            extra = f", {self.printer._float(numbers[0])}"
            return self.unary(_BINARY[type(expr)], array, extra, shape, target)
        if isinstance(expr, sp.Pow) and expr.exp == 2:
            return self.unary("np.square", expr.base, "", shape, target)
        if isinstance(expr, sp.Pow) and expr.exp == sp.S.Half:
            sqrt = functions.BY_NAME["sqrt"].array
            return self.unary(f"np.{sqrt}", expr.base, "", shape, target)
        return self.fresh(expr)

    def unary(
        self, function: str, arg: sp.Expr, extra: str, shape: Shape, target: str | None
    ) -> _Operand:
        """``function(arg)``, in place when ``arg`` is (or becomes) an array this statement owns."""
        if self.claimable(arg, shape):
            buffer = self.claim(arg.name, target)  # type: ignore[attr-defined]
            self.lines.append(f"{function}({buffer.text}{extra}, out={buffer.text})")
            return buffer
        inner = self.emit(arg, target)
        if inner.kind == "buffer" and inner.shape == shape:
            self.lines.append(f"{function}({inner.text}{extra}, out={inner.text})")
            return inner
        text = f"{function}({self.text(inner)}{extra})"
        return _Operand("fresh", text, shape)

    def terms(self, expr: sp.Expr) -> tuple[sp.Expr, list[_Term]]:
        """The constant part and the array terms of a sum (signs) or product (numerator or
        denominator)."""
        constant: sp.Expr = sp.Integer(0) if isinstance(expr, sp.Add) else sp.Integer(1)
        terms: list[_Term] = []
        for arg in expr.args:
            if arg.is_number:
                constant = constant + arg if isinstance(expr, sp.Add) else constant * arg
                continue
            sign, body = 1, arg
            if isinstance(expr, sp.Add):
                coefficient, rest = arg.as_coeff_Mul()
                if coefficient == -1:
                    sign, body = -1, rest
            elif isinstance(arg, sp.Pow) and arg.exp.is_Integer and arg.exp < 0:
                sign, body = -1, arg.base ** (-arg.exp)
            terms.append(_Term(body, sign, self.shape(body)))
        return constant, terms

    def combine(self, expr: sp.Expr, shape: Shape, target: str | None) -> _Operand:
        """A sum or product evaluated into one accumulator, operand by operand."""
        is_sum = isinstance(expr, sp.Add)
        constant, terms = self.terms(expr)
        ops = ("+=", "-=") if is_sum else ("*=", "/=")
        acc_term = self.choose(terms, shape)
        if acc_term is None:
            # No array to overwrite: one NumPy expression, which allocates.
            operand = self.fresh(expr)
            return operand if target is None else self.accumulator(operand, target, shape)
        rest = [t for t in terms if t is not acc_term]
        early: list[tuple[_Term, _Operand]] = []
        if isinstance(acc_term.expr, sp.Symbol):
            name = acc_term.expr.name
            # Operands that read the array about to be overwritten are read first, in the line
            # of the first update (Python evaluates its right side before the update).
            early = [(t, self.emit(t.expr)) for t in rest if name in _symbol_names(t.expr)]
            rest = [t for t in rest if name not in _symbol_names(t.expr)]
            acc = self.claim(name, target)
        else:
            acc = self.accumulator(self.emit(acc_term.expr, target), target, shape)
        if acc_term.sign < 0:
            self.invert(acc, is_sum, constant)
            constant = sp.Integer(0) if is_sum else sp.Integer(1)
        for term, operand in early:
            self.apply(acc, ops[term.sign < 0], operand)
        small = [t for t in rest if t.shape != shape]
        large = [t for t in rest if t.shape == shape]
        if small:
            if all(t.sign < 0 for t in small):  # only subtracted, or only divided by
                self.apply(
                    acc,
                    ops[1],
                    self.small_group([_Term(t.expr, 1, t.shape) for t in small], is_sum),
                )
            else:
                self.apply(acc, ops[0], self.small_group(small, is_sum))
        leaves = [t for t in large if isinstance(t.expr, sp.Symbol)]
        for term in [*leaves, *[t for t in large if t not in leaves]]:
            self.apply(acc, ops[term.sign < 0], self.emit(term.expr))
        neutral = sp.Integer(0) if is_sum else sp.Integer(1)
        if constant != neutral:
            self.lines.append(f"{acc.text} {ops[0]} {self.printer._float(constant)}")
        return acc

    def choose(self, terms: Sequence[_Term], shape: Shape) -> _Term | None:
        """The operand to accumulate in: a dead array (no allocation) read by at most one other
        operand, else a compound operand of the result's shape (one that is added or multiplied
        before one that is subtracted or divided by, which would have to be inverted), else
        none."""
        for term in terms:
            if not isinstance(term.expr, sp.Symbol):
                continue
            name = term.expr.name
            others = [t for t in terms if t is not term and name in _symbol_names(t.expr)]
            references = 1 + sum(_symbol_names(t.expr).count(name) for t in others)
            if self.claimable(term.expr, shape, references) and (
                not others or (len(others) == 1 and term.sign > 0)
            ):
                return term
        for term in sorted(terms, key=lambda t: t.sign < 0):
            if term.shape == shape and not isinstance(term.expr, sp.Symbol):
                return term
        return None

    def accumulator(self, operand: _Operand, target: str | None, shape: Shape) -> _Operand:
        """An operand made into a buffer this statement owns (assigned to ``target``)."""
        if operand.kind == "buffer":
            if target is not None and operand.text != target:
                self.lines.append(f"{target} = {operand.text}")
                return _Operand("buffer", target, shape)
            return operand
        name = target if target is not None else self.new_name()
        self.lines.append(f"{name} = {self.text(operand)}")
        return _Operand("buffer", name, shape)

    def invert(self, acc: _Operand, is_sum: bool, constant: sp.Expr) -> None:
        """The accumulator holds ``v`` but the operand is ``-v`` (or ``1/v``): fix it in place,
        folding the constant in (``np.subtract(1.0, H, out=H)`` is one pass for ``1 - H``)."""
        c = self.printer._float(constant)
        if is_sum:
            if constant != 0:
                self.lines.append(f"np.subtract({c}, {acc.text}, out={acc.text})")
            else:
                self.lines.append(f"np.negative({acc.text}, out={acc.text})")
        else:
            self.lines.append(f"np.divide({c}, {acc.text}, out={acc.text})")

    def small_group(self, terms: Sequence[_Term], is_sum: bool) -> _Operand:
        """Operands of a smaller shape (a column per row, a row per batch) combined first, so that
        the large array is passed over once for all of them."""
        positive = [t.expr for t in terms if t.sign > 0]
        negative = [t.expr for t in terms if t.sign < 0]
        if is_sum:
            return self.fresh(sp.Add(*positive) - sp.Add(*negative))
        return self.fresh(sp.Mul(*positive) / sp.Mul(*negative))

    def apply(self, acc: _Operand, op: str, operand: _Operand) -> None:
        self.lines.append(f"{acc.text} {op} {self.text(operand)}")

    def new_name(self) -> str:
        """A name for an intermediate array of the statement: ``tmp0``, ``tmp1``, ..."""
        number = 0
        while f"tmp{number}" in self.variables or f"tmp{number}" in self.taken:
            number += 1
        self.taken.add(f"tmp{number}")
        return f"tmp{number}"


def _symbol_names(expr: sp.Expr) -> list[str]:
    """The names of the symbols ``expr`` reads, once per occurrence."""
    if isinstance(expr, sp.Symbol):
        return [expr.name]
    return [name for arg in expr.args for name in _symbol_names(arg)]


@dataclass(frozen=True)
class Compiled:
    """One statement's NumPy lines, and the dead arrays whose memory they reuse."""

    statement: Statement
    lines: tuple[str, ...]
    reused: tuple[str, ...]


def emit_body(
    statements: Sequence[Statement],
    variables: Mapping[str, Var],
    results: Sequence[str],
    printer: NumpyPrinter,
    scalars: Mapping[str, str] | None = None,
) -> list[Compiled]:
    """Every statement as NumPy lines, overwriting arrays that die with it.

    ``results`` are the variables the function returns (never overwritten); ``scalars`` maps a
    statement whose value must be a Python number to the conversion that makes it one
    (``{"value": "float"}``).
    """
    last_read: dict[str, int] = {}
    for index, statement in enumerate(statements):
        for name in statement.reads():
            last_read[name] = index
    # Names sharing one array: a statement that is a plain variable (``Yhat = A2``) aliases it.
    group: dict[str, set[str]] = {}
    kept = set(results)
    compiled: list[Compiled] = []
    for index, statement in enumerate(statements):
        writable = frozenset(
            name
            for name in statement.reads()
            if variables[name].role is Role.TEMPORARY
            and all(
                last_read.get(member, -1) <= index and member not in kept
                for member in group.get(name, {name})
            )
        )
        references = Counter(_symbol_names(statement.value))
        compiler = _Statement(printer, variables, writable, references)
        target = statement.target.name
        operand = compiler.emit(statement.value, target)
        lines = compiler.lines
        if operand.kind != "buffer" or operand.text != target:
            text = compiler.text(operand)
            if scalars and target in scalars:
                text = f"{scalars[target]}({text})"
            lines.append(f"{target} = {text}")
            if operand.kind in {"leaf", "buffer"}:
                members = group.get(operand.text, {operand.text}) | {target}
                for member in members:
                    group[member] = members
        for name in compiler.reused:
            members = group.get(name, {name}) | {target}
            for member in members:
                group[member] = members
        compiled.append(Compiled(statement, tuple(lines), tuple(compiler.reused)))
    return compiled
