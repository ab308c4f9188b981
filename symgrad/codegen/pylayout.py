"""Python source laid out as ``ruff format`` lays it out, so generated files need no formatter.

Shared by the Python targets (NumPy, array API): tuple unpacking and returns exploded one item a
line when they do not fit, and long statements split at the ``+``/``-`` of a sum or by moving
their longest argument into a temporary until every line fits :data:`LINE_LENGTH`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import sympy as sp

from symgrad.codegen.common import BODY_INDENT, LINE_LENGTH
from symgrad.codegen.numpy.printer import MathPrinter

Target = str | list["Target"]


def target_inline(target: Target) -> str:
    if isinstance(target, str):
        return target
    inner = ", ".join(target_inline(t) for t in target)
    return f"({inner},)" if len(target) == 1 else f"({inner})"


def _item_lines(item: Target, indent: int) -> list[str]:
    """One item of an exploded tuple: inline when it fits, else exploded itself."""
    inline = target_inline(item)
    if isinstance(item, str) or indent + len(inline) + 1 <= LINE_LENGTH or len(item) < 2:
        return [inline]
    lines = ["("]
    for sub in item:
        sub_lines = _item_lines(sub, indent + 4)
        sub_lines[-1] += ","
        lines += ["    " + line for line in sub_lines]
    return [*lines, ")"]


def target_lines(target: list[Target], rhs: str, indent: int = BODY_INDENT) -> list[str]:
    """``a, b, c = rhs``, or ruff's exploded form (one item a line) when it does not fit.

    A target of one item is written ``(a,) = rhs``; callers give a flat list then.
    """
    if len(target) == 1:
        return [f"{target_inline(target)} = {rhs}"]
    one_line = f"{', '.join(target_inline(t) for t in target)} = {rhs}"
    if indent + len(one_line) <= LINE_LENGTH:
        return [one_line]
    lines = ["("]
    for item in target:
        sub = _item_lines(item, indent + 4)
        sub[-1] += ","
        lines += ["    " + line for line in sub]
    return [*lines, f") = {rhs}"]


def return_lines(names: Sequence[str], indent: int = BODY_INDENT) -> list[str]:
    """``return a, b`` or its exploded form."""
    one_line = f"return {', '.join(names)}"
    if indent + len(one_line) <= LINE_LENGTH:
        return [one_line]
    return ["return (", *[f"    {name}," for name in names], ")"]


def sequence_lines(head: str, items: Sequence[str], tail: str) -> list[str]:
    """``head((item, ...))tail`` with the tuple exploded one item a line (ruff's layout)."""
    if len(items) == 1:
        return [f"{head}(({items[0]},)){tail}"]
    return [f"{head}(", "    (", *[f"        {item}," for item in items], "    )", f"){tail}"]


def assignment_lines(
    name: str, rhs: str, terms: list[str] | None, indent: int = BODY_INDENT
) -> list[str]:
    """``name = rhs`` in ruff's layout: one line, or parenthesized, or split at ``+``/``-``."""
    if indent + len(name) + 3 + len(rhs) <= LINE_LENGTH:
        return [f"{name} = {rhs}"]
    if indent + 4 + len(rhs) <= LINE_LENGTH or not terms or len(terms) < 2:
        return [f"{name} = (", f"    {rhs}", ")"]
    return [f"{name} = (", *[f"    {term}" for term in terms], ")"]


#: Functions printed as a conditional expression in parentheses, which ruff drops on a right side.
_CONDITIONALS = (sp.Piecewise, sp.Heaviside, sp.sign)


class StatementWriter:
    """Prints ``name = expr`` within the line length, in the layout ``ruff format`` keeps.

    A line that is too long is split at the ``+``/``-`` of a sum when every term fits on a line;
    otherwise its longest argument becomes a new temporary first (the next name of
    ``temporaries``), until every line fits. So no generated line needs a formatter.
    """

    def __init__(self, printer: MathPrinter, temporaries: Iterator[sp.Symbol]) -> None:
        self.printer = printer
        self.temporaries = temporaries

    def text(self, expr: sp.Expr) -> str:
        if expr.is_number:
            return repr(float(expr))
        code = self.printer.doprint(expr)
        if isinstance(expr, _CONDITIONALS) and code.startswith("(") and code.endswith(")"):
            code = code[1:-1]
        return code

    def lines(self, name: str, expr: sp.Expr, op: str = "=") -> list[str]:
        code = self.text(expr)
        if BODY_INDENT + len(name) + len(op) + 2 + len(code) <= LINE_LENGTH:
            return [f"{name} {op} {code}"]
        if isinstance(expr, sp.Add):
            if BODY_INDENT + 4 + len(code) <= LINE_LENGTH:
                return [f"{name} {op} (", f"    {code}", ")"]
            terms = self.printer.add_terms(expr)
            if all(BODY_INDENT + 4 + len(t) <= LINE_LENGTH for t in terms):
                return [f"{name} {op} (", *[f"    {t}" for t in terms], ")"]
        candidates = [a for a in _arguments(expr) if not (a.is_Atom or a.is_number)]
        if not candidates:
            return [f"{name} {op} {code}"]  # one name or number cannot be shortened
        longest = max(candidates, key=lambda a: len(self.text(a)))
        temp = next(self.temporaries)
        return self.lines(str(temp), longest) + self.lines(name, expr.xreplace({longest: temp}), op)


def _arguments(expr: sp.Expr) -> list[sp.Expr]:
    """The subexpressions a long statement may move into a temporary (never a condition)."""
    if isinstance(expr, sp.Piecewise):
        return [pair.expr for pair in expr.args]
    return list(expr.args)
