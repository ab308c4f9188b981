"""The registry of elementary functions: every entry and every constant through every printer and
both evaluators (the coverage test of the registry).

For each function of :mod:`symgrad.functions` and each constant, an expression is printed by the
notes' LaTeX, the terminal's Unicode, the program's text, Python on floats, NumPy, the array API
and C99 (double and float), and evaluated by the program's float64 and high-precision
arithmetics and by the numeric proof's definitions; each printed piece of code is run and its
value compared with mpmath's.
"""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import array_api_strict as xp
import mpmath
import numpy as np
import pytest
import sympy as sp

from symgrad import functions, printing
from symgrad.codegen.array_api.printer import ArrayApiPrinter
from symgrad.codegen.c.loader import find_compiler
from symgrad.codegen.c.printer import CPrinter
from symgrad.codegen.numpy.printer import math_code, numpy_code
from symgrad.expressions import parse_activation
from symgrad.program.evaluate import FLOAT64, evaluate_expression
from symgrad.program.show import expression
from symgrad.proof.numeric import rowwise
from symgrad.proof.precision import HighPrecision

X = sp.Symbol("x", real=True)
#: A point inside the domain of every function (log, sqrt need x > 0).
POINT = 0.7

#: One expression per entry and per constant, named for the test ids.
CASES: list[tuple[str, sp.Expr]] = [(f.name, f.build(X)) for f in functions.FUNCTIONS] + [
    (f"constant {c.name}", X * c.value + c.value) for c in functions.CONSTANTS
]


def reference(expr: sp.Expr) -> float:
    """mpmath's value of ``expr`` at :data:`POINT` (40 digits), through the registry's mpmath."""
    with mpmath.workdps(40):
        return float(sp.N(expr.xreplace({X: sp.Rational(7, 10)}), 40))


def test_every_function_has_every_spelling() -> None:
    for entry in functions.FUNCTIONS:
        assert entry.latex and entry.unicode and entry.array, entry.name
        assert entry.build(X) is not None
        assert functions.of(entry.build(X)) is entry
        if entry.grammar:
            assert parse_activation(f"{entry.name}(x)") == entry.build(X)


@pytest.mark.parametrize(("name", "expr"), CASES, ids=[name for name, _ in CASES])
def test_notes_and_terminal_print_the_registry_spelling(name: str, expr: sp.Expr) -> None:
    latex, text = printing.latex(expr), printing.unicode(expr)
    entry = functions.of(expr)
    if entry is not None:
        assert latex == entry.latex.format("x")
        assert text == entry.unicode.format("x")
    else:
        constant = next(c for c in functions.CONSTANTS if name.endswith(c.name))
        assert constant.latex in latex and constant.unicode in text
        assert "Pi" not in latex and "M_" not in latex


@pytest.mark.parametrize(("name", "expr"), CASES, ids=[name for name, _ in CASES])
def test_python_printers_compute_the_value(name: str, expr: sp.Expr) -> None:
    expected = reference(expr)
    for code, scope in (
        (math_code(expr), {"math": math, "x": POINT}),
        (numpy_code(expr), {"np": np, "x": np.float64(POINT)}),
        (ArrayApiPrinter().doprint(expr), {"xp": xp, "x": xp.asarray(POINT)}),
    ):
        assert "M_" not in code
        value = float(eval(code, scope))  # symgrad's own printed code, not user text
        assert value == pytest.approx(expected, rel=1e-14), code
    entry = functions.of(expr)
    if entry is not None:
        assert f"np.{entry.array}(" in numpy_code(expr)
        assert f"xp.{entry.array}(" in ArrayApiPrinter().doprint(expr)
        if entry.math is not None:
            assert math_code(expr) == entry.math.format("x")


@pytest.mark.parametrize(("name", "expr"), CASES, ids=[name for name, _ in CASES])
def test_evaluators_compute_the_value(name: str, expr: sp.Expr) -> None:
    expected = reference(expr)
    values = {"x": POINT}
    assert float(evaluate_expression(expr, values, FLOAT64)) == pytest.approx(expected, rel=1e-14)
    with mpmath.workdps(50):
        precise = evaluate_expression(expr, {"x": mpmath.mpf(7) / 10}, HighPrecision())
        table = sp.IndexedBase("t")
        proof = rowwise(expr.xreplace({X: table[1]}), {table: np.array([mpmath.mpf(7) / 10])})
    with mpmath.workdps(40):
        exact = sp.N(expr.xreplace({X: sp.Rational(7, 10)}), 40)
        for value in (precise, np.asarray(proof).ravel()[0]):
            assert abs(mpmath.mpf(str(exact)) - value) < mpmath.mpf(10) ** -35, name
    assert expression(expr)  # the program's text view prints it


def test_c_printer_compiles_and_computes_every_entry(tmp_path: Path) -> None:
    """Every case in one C99 file, double and float, compiled with -std=c99 -pedantic and run."""
    for dtype, rel in (("double", 1e-14), ("float", 1e-6)):
        printer = CPrinter(dtype)
        real = dtype
        lines = [
            "#include <math.h>",
            "#include <stdio.h>",
            "int main(void) {",
            f"    const {real} x = ({real})0.7;",
        ]
        for _, expr in CASES:
            code = printer.doprint(expr)
            assert "M_" not in code, code
            entry = functions.of(expr)
            if entry is not None and entry.c is not None:
                suffix = "f" if dtype == "float" else ""
                assert f"{entry.c}{suffix}(" in code, code
            lines.append(f'    printf("%.17g\\n", (double)({code}));')
        lines += ["    return 0;", "}"]
        source = tmp_path / f"cases_{dtype}.c"
        source.write_text("\n".join(lines) + "\n", encoding="utf-8")
        binary = tmp_path / f"cases_{dtype}"
        compiler = find_compiler()
        flags = ["-std=c99", "-pedantic", "-Wall", "-Werror", "-o", str(binary), str(source)]
        subprocess.run([compiler, *flags, "-lm"], check=True, capture_output=True)
        printed = subprocess.run([str(binary)], check=True, capture_output=True, text=True)
        values = [float(v) for v in printed.stdout.split()]
        for (name, expr), value in zip(CASES, values, strict=True):
            assert value == pytest.approx(reference(expr), rel=rel), (dtype, name)


def test_a_constant_is_a_literal_in_code() -> None:
    """log(2), e and pi are numbers in generated code: no POSIX macro, no call at run time."""
    expr = sp.tanh(X) + sp.log(2)
    assert CPrinter("double").doprint(expr) == "tanh(x) + 0.6931471805599453"
    assert CPrinter("float").doprint(expr) == "tanhf(x) + 0.6931472f"
    assert numpy_code(sp.pi * X) == "3.141592653589793 * x"
    assert math_code(sp.E * X) == "2.718281828459045 * x"


def test_an_unknown_function_is_refused_by_every_printer() -> None:
    from symgrad.codegen.pyprinter import CodegenError

    for printer in (math_code, numpy_code, CPrinter("double").doprint):
        with pytest.raises(CodegenError):
            printer(sp.gamma(X))
