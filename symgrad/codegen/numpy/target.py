"""The NumPy target: the program as one Python module of loss and gradients (``--target numpy``).

Config of the target (which functions, which passes, which templates); the printer is
:mod:`symgrad.codegen.numpy.printer` and the layout ``templates/numpy/``. Two styles keep one
contract:

``vectorized``
    The matrix program over the batch (rows are samples), after common subexpressions and the
    NumPy pass that overwrites arrays that are not needed again
    (:mod:`symgrad.codegen.numpy.buffers`).
``unrolled``
    The scalar program, once specialized to one sample (Python floats and ``math``) and once on
    columns of the batch (NumPy arrays of shape ``(B,)``), after common subexpressions. Refused
    above :data:`UNROLLED_MAX_PARAMETERS` parameters.
"""

from __future__ import annotations

import re

import sympy as sp

from symgrad import notation as nt
from symgrad.codegen.common import (
    Block,
    check_dtype,
    check_style,
    comment_lines,
    statement_blocks,
)
from symgrad.codegen.config import GeneratedFile
from symgrad.codegen.numpy.buffers import Compiled, emit_body
from symgrad.codegen.numpy.printer import NumpyPrinter
from symgrad.codegen.pylayout import StatementWriter, Target, sequence_lines, target_lines
from symgrad.codegen.pymodule import function_outputs, loss_variable, module_context
from symgrad.codegen.pyprinter import MathPrinter, without_logaddexp
from symgrad.derivation import Derivation
from symgrad.program import (
    Program,
    Statement,
    eliminate_common_subexpressions,
    lower_matrix,
    lower_scalar,
    one_sample,
    prune,
)
from symgrad.spec import NetworkSpec

TEMPLATE = "numpy/module.py.jinja"


class NumpyTarget:
    """``--target numpy``: a module that imports only NumPy and the standard library."""

    name = "numpy"
    styles: tuple[str, ...] = ("vectorized", "unrolled")
    dtypes: tuple[str, ...] = ()
    suffix = ".py"
    needs_output_file = False

    def check(self, spec: NetworkSpec, style: str, dtype: str | None = None) -> None:
        check_style(spec, style, self.styles)
        check_dtype(self.name, self.dtypes, dtype)

    def generate(
        self,
        derivation: Derivation,
        style: str,
        dtype: str | None,
        command: str,
        name: str = "mlp",
    ) -> tuple[GeneratedFile, ...]:
        del name  # a Python module's names do not depend on its file name
        self.check(derivation.spec, style, dtype)
        return (GeneratedFile(".py", self.source(derivation, style, command)),)

    def source(self, derivation: Derivation, style: str, command: str) -> str:
        from symgrad.templating import render

        if style == "vectorized":
            program = lower_matrix(derivation)
            context = module_context(program, style, command)
            context.update(_vectorized(derivation, program))
        else:
            program = lower_scalar(derivation)
            context = module_context(program, style, command)
            context.update(_unrolled(derivation, program))
        return render(TEMPLATE, **context)


# ------------------------------------------------------------------------------------------------
# Vectorized
# ------------------------------------------------------------------------------------------------


def _reuse_note(reused: list[str]) -> list[str]:
    """``In place: A2 and Z are not needed again.``"""
    names = list(dict.fromkeys(reused))
    if not names:
        return []
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + f" and {names[-1]}"
    return [f"In place: {listed} {'is' if len(names) == 1 else 'are'} not needed again."]


def _vectorized(derivation: Derivation, program: Program) -> dict[str, object]:
    bodies: dict[str, list[Block]] = {}
    for function, outputs in function_outputs(program).items():
        part = eliminate_common_subexpressions(prune(program, outputs), prefix="T")
        results = [out.whole.name for out in part.outputs if out.whole is not None]
        printer = NumpyPrinter(part.variables)
        compiled = emit_body(
            part.statements, part.variables, results, printer, {loss_variable(program): "float"}
        )
        table = {id(c.statement): c for c in compiled}

        def lines(statement: Statement, table: dict[int, Compiled] = table) -> list[str]:
            return list(table[id(statement)].lines)

        def reused(group: list[Statement], table: dict[int, Compiled] = table) -> list[str]:
            return _reuse_note([name for s in group for name in table[id(s)].reused])

        bodies[function] = statement_blocks(derivation, part.statements, lines, reused)
    gradients = [
        (out.name, out.whole.name)
        for out in program.outputs
        if out.name not in {"loss", "yhat", nt.INPUT_GRADIENT} and out.whole is not None
    ]
    return {
        "forward_body": bodies["forward"],
        "loss_body": bodies["loss"],
        "gradient_body": bodies["gradients"],
        "input_gradient_body": bodies[nt.INPUT_GRADIENT],
        "input_gradient_name": program.output(nt.INPUT_GRADIENT).whole.name,  # type: ignore[union-attr]
        "gradient_names": gradients,
        "yhat_name": program.output("yhat").whole.name,  # type: ignore[union-attr]
    }


# ------------------------------------------------------------------------------------------------
# Unrolled
# ------------------------------------------------------------------------------------------------


def _unrolled(derivation: Derivation, program: Program) -> dict[str, object]:
    functions: dict[str, dict[str, object]] = {}
    uses_math = False
    for function, outputs in function_outputs(program).items():
        for batch in (False, True) if function != nt.INPUT_GRADIENT else (True,):
            part = prune(program, outputs)
            if not batch:
                part = one_sample(part)
            part = eliminate_common_subexpressions(part, prefix="t")
            printer: MathPrinter = NumpyPrinter(part.variables) if batch else MathPrinter()
            taken = [sp.Symbol(n, real=True) for n in part.variables]
            writer = StatementWriter(
                printer, sp.numbered_symbols("t", cls=sp.Symbol, real=True, exclude=taken)
            )

            def lines(
                statement: Statement, writer: StatementWriter = writer, batch: bool = batch
            ) -> list[str]:
                value = statement.value if batch else without_logaddexp(statement.value)
                return writer.lines(statement.target.name, value)

            blocks = statement_blocks(derivation, part.statements, lines)
            blocks.append(_results(part, function, batch, printer))
            text = "\n".join(line for block in blocks for line in block.code)
            uses_math = uses_math or "math." in text
            functions[f"{function}_{'batch' if batch else 'one'}"] = {
                "blocks": blocks,
                "uses_B": re.search(r"\bB\b", text) is not None,
            }
    return {
        "uses_math": uses_math,
        "unpack_weights": _unpack_weights(program),
        "unpack_x_one": target_lines(_names(program, "x"), "X.ravel().tolist()"),
        "unpack_y_one": target_lines(_names(program, "y"), "Y.ravel().tolist()"),
        "unpack_x_batch": target_lines(_names(program, "x"), "np.ascontiguousarray(X.T)"),
        "unpack_y_batch": target_lines(_names(program, "y"), "np.ascontiguousarray(Y.T)"),
        "functions": functions,
        "return_gradients": _gradient_views(program),
    }


def _names(program: Program, base: str) -> list[Target]:
    """The scalar program's inputs that are entries of ``base`` (``x`` or ``y``), in order."""
    return [
        v.name
        for v in program.inputs
        if v.meaning is not None and v.meaning.quantity == nt.quantity(base)
    ]


def _unpack_weights(program: Program) -> list[str]:
    """``(W1_0_0, W1_0_1), (W1_1_0, W1_1_1) = W1.tolist()``: every parameter as a float."""
    spec = program.spec
    lines: list[str] = []
    for k in range(1, spec.depth + 1):
        rows, cols = spec.sizes[k], spec.sizes[k - 1]
        if rows == 1:
            row: list[Target] = [nt.program_entry("W", k, 0, j) for j in range(cols)]
            lines += target_lines(row, f"{nt.program_name('W', k)}.ravel().tolist()")
        else:
            matrix: list[Target] = [
                [nt.program_entry("W", k, i, j) for j in range(cols)] for i in range(rows)
            ]
            lines += target_lines(matrix, f"{nt.program_name('W', k)}.tolist()")
        biases: list[Target] = [nt.program_entry("b", k, i) for i in range(rows)]
        lines += target_lines(biases, f"{nt.program_name('b', k)}.tolist()")
    return lines


def _results(program: Program, function: str, batch: bool, printer: MathPrinter) -> Block:
    """The statements that pack the results (names or numbers) into arrays."""

    def text(expr: sp.Expr) -> str:
        return repr(float(expr)) if expr.is_number else printer.doprint(expr)

    if function == "forward":
        items = [text(e) for e in program.output("yhat").entries]
        if batch:
            items = [f"np.full(B, {v})" if _is_number(v) else v for v in items]
            code = sequence_lines("Yhat = np.column_stack", items, "")
        else:
            code = sequence_lines("Yhat = np.array", items, "")
        return Block(("The prediction, one entry per output unit.",), tuple(code))
    if function == "loss":
        return Block((), ())
    if function == nt.INPUT_GRADIENT:
        items = [text(e) for e in program.output(nt.INPUT_GRADIENT).entries]
        items = [f"np.full(B, {v})" if _is_number(v) else v for v in items]
        code = sequence_lines("G0 = np.column_stack", items, "")
        return Block(("The gradient with respect to X, one column per input.",), tuple(code))
    items = [text(e) for out in program.outputs if out.name != "loss" for e in out.entries]
    code = [
        "flat = np.frombuffer(",
        "    bytearray(",
        "        struct.pack(",
        f'            "{len(items)}d",',
        *[f"            {item}," for item in items],
        "        )",
        "    )",
        ")",
    ]
    note = (
        "The gradients in one new buffer of doubles, which the arrays below view: one NumPy call "
        "instead of one per parameter."
    )
    return Block(comment_lines([note]), tuple(code))


def _gradient_views(program: Program) -> list[tuple[str, str]]:
    """``("W1", "flat[0:9].reshape(3, 3)")``: each gradient as a view of the buffer."""
    views = []
    start = 0
    for out in program.outputs:
        if out.name in {"loss", "yhat", nt.INPUT_GRADIENT}:
            continue
        stop = start + len(out.entries)
        shape = ", ".join(str(n) for n in out.shape)
        view = f"flat[{start}:{stop}]"
        views.append((out.name, f"{view}.reshape({shape})" if len(out.shape) > 1 else view))
        start = stop
    return views


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
