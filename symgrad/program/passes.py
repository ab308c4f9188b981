"""Passes over a program: keep what a function needs, share common subexpressions, one sample.

Part of the program stage. Each pass takes a :class:`~symgrad.program.ir.Program` and returns a
new one; targets pick the passes they want (see :mod:`symgrad.codegen.config`):

- :func:`prune` keeps the statements the named outputs need (``forward`` needs only ``yhat``);
- :func:`eliminate_common_subexpressions` computes every repeated subexpression once, in a
  temporary written just before its first use and tagged with that statement's step;
- :func:`one_sample` specializes a scalar program to a batch of one (``B = 1``; a sum over the
  batch is its one term), for code that runs a single sample on plain numbers;
- :func:`merge_totals` sums several totals of a statement in one (``Total(a) - Total(b)`` is
  ``Total(a - b)``), for targets where every reduction is a pass over memory or a kernel.

:func:`shape_of` infers the shape of any expression of a program. Buffer reuse is a pass of the
NumPy target alone (:mod:`symgrad.codegen.numpy.buffers`): other targets have no in-place updates.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import sympy as sp

from symgrad import notation as nt
from symgrad.arrays import BatchSum, Dot, RowMax, RowSum, Total, Transpose
from symgrad.program.ir import BATCH, Program, Shape, Statement, Style, Var


class ShapeError(ValueError):
    """Shapes that do not broadcast: a bug in a lowering, never a user's input."""


def broadcast(*shapes: Shape) -> Shape:
    """The shape NumPy's broadcasting gives ``shapes`` (dimensions aligned on the right)."""
    width = max((len(s) for s in shapes), default=0)
    out: list[int | str] = []
    for position in range(width):
        dims = {s[len(s) - width + position] for s in shapes if len(s) - width + position >= 0}
        dims.discard(1)
        if len(dims) > 1:
            raise ShapeError(f"shapes {shapes} do not broadcast")
        out.append(dims.pop() if dims else 1)
    return tuple(out)


def shape_of(expr: sp.Expr, variables: Mapping[str, Var]) -> Shape:
    """The shape of ``expr``, an expression of the program's variables."""
    if isinstance(expr, sp.Symbol):
        return variables[expr.name].shape
    if expr.is_number:
        return ()
    if isinstance(expr, Transpose):
        return tuple(reversed(shape_of(expr.args[0], variables)))
    if isinstance(expr, Dot):
        left, right = (shape_of(arg, variables) for arg in expr.args)
        if left[-1] != right[0]:
            raise ShapeError(f"cannot multiply {left} by {right}")
        return (*left[:-1], *right[1:])
    if isinstance(expr, (RowSum, RowMax)):
        inner = shape_of(expr.args[0], variables)
        return (*inner[:-1], 1)
    if isinstance(expr, BatchSum):
        return shape_of(expr.args[0], variables)[1:]
    if isinstance(expr, Total):
        return ()
    return broadcast(*(shape_of(arg, variables) for arg in expr.args))


def needed_by(program: Program, outputs: Iterable[str]) -> frozenset[str]:
    """The variables the named outputs read, directly or through other statements."""
    wanted = set(outputs)
    needed: set[str] = set()
    for out in program.outputs:
        if out.name in wanted:
            needed |= out.reads()
    for statement in reversed(program.statements):
        if statement.target.name in needed:
            needed |= statement.reads()
    return frozenset(needed)


def prune(program: Program, outputs: Sequence[str]) -> Program:
    """The program of the named outputs only: every statement they do not need is dropped."""
    needed = needed_by(program, outputs)
    kept = tuple(s for s in program.statements if s.target.name in needed)
    chosen = tuple(out for out in program.outputs if out.name in outputs)
    return program.with_statements(kept, chosen)


def one_sample(program: Program) -> Program:
    """A scalar program for a batch of one: ``B = 1``, every sum over the batch its one term,
    and the weight of the one row (``w / sum(w)``, or ``1/B``) 1."""
    if program.style is not Style.SCALAR:
        raise ValueError("only a scalar program is specialized to one sample")
    ones = {sp.Symbol(BATCH, real=True): sp.Integer(1)}
    for var in program.inputs:
        if var.meaning is not None and var.meaning.quantity == nt.quantity(nt.ROW_WEIGHT):
            ones[var.symbol] = sp.Integer(1)

    def specialize(value: sp.Expr) -> sp.Expr:
        value = value.replace(lambda e: isinstance(e, BatchSum), lambda e: e.args[0])
        return value.xreplace(ones)

    statements = tuple(
        Statement(_scalar(s.target), specialize(s.value), s.step, s.note)
        for s in program.statements
    )
    inputs = tuple(_scalar(v) for v in program.inputs if v.name != BATCH and v.symbol not in ones)
    return Program(
        program.spec, program.style, inputs, program.parameters, statements, program.outputs
    )


def _scalar(var: Var) -> Var:
    return Var(var.name, (), var.role, var.meaning)


def eliminate_common_subexpressions(program: Program, prefix: str = "t") -> Program:
    """Every subexpression computed more than once becomes a temporary ``<prefix><n>``.

    A temporary is written just before the first statement that needs it and carries that
    statement's step, so each statement keeps its comment. Subexpressions of the batch size
    alone (``1/B``) are left in place: they cost nothing.
    """
    statements = program.statements
    exprs = [s.value for s in statements]
    taken = {v for v in program.variables}
    temporaries = sp.numbered_symbols(
        prefix, cls=sp.Symbol, real=True, exclude=[sp.Symbol(n, real=True) for n in taken]
    )
    batch = sp.Symbol(BATCH, real=True)
    exprs = [e.replace(_is_wide_lattice, _opaque) for e in exprs]
    replacements, reduced = sp.cse(exprs, symbols=temporaries, order="canonical", ignore=(batch,))
    replacements = [(symbol, value.replace(_is_opaque, _lattice)) for symbol, value in replacements]
    reduced = [value.replace(_is_opaque, _lattice) for value in reduced]
    replacements, reduced = _numbers_in_place(replacements, reduced)
    if not replacements:
        return program
    definitions = dict(replacements)
    rank = {symbol: n for n, (symbol, _) in enumerate(replacements)}
    variables = dict(program.variables)
    written: set[sp.Symbol] = set()
    out: list[Statement] = []

    def write_needed(expr: sp.Expr, user: Statement) -> None:
        for symbol in sorted(expr.free_symbols & definitions.keys(), key=rank.__getitem__):
            if symbol in written:
                continue
            write_needed(definitions[symbol], user)
            written.add(symbol)
            shape = shape_of(definitions[symbol], variables)
            temporary = Var(symbol.name, shape)
            variables[symbol.name] = temporary
            out.append(Statement(temporary, definitions[symbol], user.step))

    for statement, value in zip(statements, reduced, strict=True):
        write_needed(value, statement)
        out.append(Statement(statement.target, value, statement.step, statement.note))
    # Outputs name variables, which cse never replaces.
    return program.with_statements(tuple(out))


def _numbers_in_place(
    replacements: list[tuple[sp.Symbol, sp.Expr]], reduced: list[sp.Expr]
) -> tuple[list[tuple[sp.Symbol, sp.Expr]], list[sp.Expr]]:
    """The temporaries of ``cse`` without those that hold a number (``log(2)``): a constant is
    written where it is used (code writes it as a literal), never as a variable of the program,
    which a target would take for something computed at run time."""
    numbers: dict[sp.Symbol, sp.Expr] = {}
    kept: list[tuple[sp.Symbol, sp.Expr]] = []
    for symbol, definition in replacements:
        definition = definition.xreplace(numbers) if numbers else definition
        if definition.is_number:
            numbers[symbol] = definition
        else:
            kept.append((symbol, definition))
    if not numbers:
        return replacements, reduced
    return kept, [expr.xreplace(numbers) for expr in reduced]


class _Opaque(sp.Function):
    """A maximum or minimum of many arguments while ``cse`` rebuilds every expression: SymPy's
    ``Max`` searches its arguments for ones it could drop on every rebuild, comparing every pair
    (the maximum over a wide softmax row then costs seconds)."""

    @classmethod
    def eval(cls, *args: sp.Expr) -> None:
        return None


class _OpaqueMax(_Opaque):
    pass


class _OpaqueMin(_Opaque):
    pass


def _is_wide_lattice(expr: sp.Basic) -> bool:
    return isinstance(expr, (sp.Max, sp.Min)) and len(expr.args) > 2


def _opaque(expr: sp.Expr) -> sp.Expr:
    return (_OpaqueMax if isinstance(expr, sp.Max) else _OpaqueMin)(*expr.args)


def _is_opaque(expr: sp.Basic) -> bool:
    return isinstance(expr, _Opaque)


def _lattice(expr: sp.Expr) -> sp.Expr:
    # The arguments were those of a Max (or Min) already evaluated: nothing is left to simplify.
    return (sp.Max if isinstance(expr, _OpaqueMax) else sp.Min)(*expr.args, evaluate=False)


def merge_totals(program: Program) -> Program:
    """Each statement's totals of one shape summed as one: ``c Total(a) + d Total(b)`` becomes
    ``Total(c a + d b)`` (common factors taken out), after ``Total(RowSum(u) v)`` became
    ``Total(u v)`` for a column ``v`` (one number per row).

    So ``Total(RowSum(Y) log S) - Total(Y Z)`` is ``Total(Y (log S - Z))``: one reduction instead
    of two, and no row sum. The value is the same sum, added in another order.
    """
    variables = dict(program.variables)

    def spread(argument: sp.Expr) -> sp.Expr:
        factors = sp.Mul.make_args(argument)
        sums = [f for f in factors if isinstance(f, RowSum)]
        if len(sums) != 1:
            return argument
        rest = sp.Mul(*[f for f in factors if f is not sums[0]])
        if shape_of(rest, variables) not in {(), (BATCH, 1)}:
            return argument
        return sums[0].args[0] * rest

    def merge(add: sp.Add) -> sp.Expr:
        groups: dict[Shape, list[sp.Expr]] = {}
        others: list[sp.Expr] = []
        for term in add.args:
            coefficient, rest = term.as_coeff_Mul()
            if isinstance(rest, Total):
                argument = spread(rest.args[0])
                groups.setdefault(shape_of(argument, variables), []).append(coefficient * argument)
            else:
                others.append(term)
        merged = [
            Total(sp.factor_terms(sp.Add(*terms))) if len(terms) > 1 else Total(terms[0])
            for terms in groups.values()
        ]
        return sp.Add(*others, *merged)

    statements = []
    for statement in program.statements:
        value = statement.value.replace(lambda e: isinstance(e, sp.Add), merge)
        note = statement.note
        if value != statement.value:
            note = "; ".join(filter(None, [note, "the sums over the batch taken in one pass"]))
        statements.append(Statement(statement.target, value, statement.step, note))
    return program.with_statements(tuple(statements))
