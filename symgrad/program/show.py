"""A program as text: the debug view of the middle (``symgrad derive --show program``).

One line per statement: the variable, its shape, its value, and the equation of the derivation it
implements, with the note that says why it is written so. Products print as ``@``, transposes as
``ᵀ``, the primitives by name (``rowsum``, ``rowmax``, ``batchsum``, ``total``).
"""

from __future__ import annotations

import textwrap

import sympy as sp
from sympy.printing.str import StrPrinter

from symgrad.derivation import Derivation
from symgrad.program.ir import Program, Shape, Var

WIDTH = 100


class ProgramPrinter(StrPrinter):
    """Expressions of a program on one line: ``X @ W1ᵀ + b1``, ``rowsum(E)``."""

    def _print_Dot(self, expr: sp.Expr) -> str:
        return " @ ".join(self.parenthesize(arg, 50) for arg in expr.args)

    def _print_Transpose(self, expr: sp.Expr) -> str:
        return f"{self._print(expr.args[0])}ᵀ"

    def _print_RowSum(self, expr: sp.Expr) -> str:
        return f"rowsum({self._print(expr.args[0])})"

    def _print_RowMax(self, expr: sp.Expr) -> str:
        return f"rowmax({self._print(expr.args[0])})"

    def _print_BatchSum(self, expr: sp.Expr) -> str:
        return f"batchsum({self._print(expr.args[0])})"

    def _print_Total(self, expr: sp.Expr) -> str:
        return f"total({self._print(expr.args[0])})"

    def _print_LogAddExp(self, expr: sp.Expr) -> str:
        return f"logaddexp({', '.join(self._print(a) for a in expr.args)})"


_PRINTER = ProgramPrinter({"order": "none"})


def expression(expr: sp.Expr) -> str:
    """One expression of a program as text."""
    return _PRINTER.doprint(expr)


def shape_text(shape: Shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _declaration(var: Var) -> str:
    return f"{var.name} {shape_text(var.shape)}" if var.shape else var.name


def show(program: Program, derivation: Derivation, width: int = WIDTH) -> str:
    """The whole program: its inputs, one line per statement with its step, its outputs."""
    sizes = "-".join(str(n) for n in program.spec.sizes)
    lines = [
        f"Program ({program.style.value}) for the {sizes} network: {len(program)} statements",
        "inputs: " + ", ".join(_declaration(v) for v in program.inputs),
    ]
    if len(program.parameters) <= 12:
        lines.append("parameters: " + ", ".join(_declaration(v) for v in program.parameters))
    else:
        lines.append(f"parameters: {len(program.parameters)} numbers, W1_0_0 ... ")
    lines.append("")
    for statement in program:
        head = f"{_declaration(statement.target)} = {expression(statement.value)}"
        lines += textwrap.wrap(head, width, subsequent_indent="      ", break_long_words=False)
        if statement.step is not None:
            step = derivation.step(statement.step)
            why = f"    implements ({step.number}) {step.key}"
            if statement.note:
                why += f": {statement.note}"
            lines += textwrap.wrap(why, width, subsequent_indent="      ")
    lines.append("")
    outputs = []
    for out in program.outputs:
        if out.whole is not None:
            outputs.append(f"{out.name} = {out.whole.name}")
        else:
            outputs.append(f"{out.name} = [{len(out.entries)} entries]")
    lines += textwrap.wrap("outputs: " + ", ".join(outputs), width, subsequent_indent="  ")
    return "\n".join(lines) + "\n"
