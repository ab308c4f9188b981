"""The array-API target: one module for NumPy, PyTorch, JAX, CuPy and Dask (``--target array-api``).

Config of the target; the printer is :mod:`symgrad.codegen.array_api.printer` and the layout
``templates/array_api/``. The module has the names and the contract of the NumPy module, written
against the Python array API standard through ``array_api_compat``: each function takes the array
library (``xp``) from its arguments and computes on their device, in their dtype.

Only the ``vectorized`` style: the matrix program over the batch, after common subexpressions,
one new array per statement (the standard has no ``out=``, and JAX arrays cannot be updated in
place). The ``unrolled`` style exists to run one sample on Python floats, which the standard
forbids (no conversion to Python numbers); on arrays every scalar would be one operation of its
own, one kernel launch on a GPU and one task on Dask, slower everywhere this target runs.
"""

from __future__ import annotations

from dataclasses import replace

import sympy as sp

from symgrad import notation as nt
from symgrad.arrays import Logistic
from symgrad.catalogue.forms import EXACT_SIGMOID, NATIVE_SIGMOID
from symgrad.codegen.common import check_dtype, check_style, statement_blocks
from symgrad.codegen.config import GeneratedFile
from symgrad.codegen.pylayout import StatementWriter, Target, target_lines
from symgrad.codegen.pymodule import function_outputs, module_context
from symgrad.derivation import Derivation
from symgrad.errors import SpecError
from symgrad.program import (
    Program,
    Statement,
    eliminate_common_subexpressions,
    lower_matrix,
    merge_totals,
    prune,
)
from symgrad.program.ir import parameter_shapes
from symgrad.spec import NetworkSpec

TEMPLATE = "array_api/module.py.jinja"


class ArrayApiTarget:
    """``--target array-api``: a module that imports only ``array_api_compat`` and the standard
    library."""

    name = "array-api"
    styles: tuple[str, ...] = ("vectorized",)
    dtypes: tuple[str, ...] = ()
    suffix = ".py"
    needs_output_file = False

    def check(self, spec: NetworkSpec, style: str, dtype: str | None = None) -> None:
        if style == "unrolled":
            raise SpecError(
                "--target array-api has only --style vectorized: the unrolled style runs one "
                "sample on Python floats, which the array API standard cannot give"
            )
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
        return (GeneratedFile(".py", self.source(derivation, command)),)

    def source(self, derivation: Derivation, command: str) -> str:
        from symgrad.codegen.array_api.printer import ArrayApiPrinter, logistic_lines
        from symgrad.templating import render

        program = _native_sigmoid(lower_matrix(derivation, weighted=True, logistic=True))
        context = module_context(program, "vectorized", command)
        logistic = any(s.value.has(Logistic) for s in program.statements)
        context["logistic_lines"] = logistic_lines(ArrayApiPrinter()) if logistic else []
        keys: list[Target] = list(parameter_shapes(program.spec))
        context["unpack_inputs"] = target_lines(["xp", keys, "X", "one"], "_inputs(params, X)")
        context["unpack_inputs_and_targets"] = target_lines(
            ["xp", keys, "X", "one"], "_inputs(params, X, Y)"
        )
        for function, outputs in function_outputs(program).items():
            # One reduction for the loss (a pass over memory, a kernel under a compiler).
            part = merge_totals(prune(program, outputs))
            part = eliminate_common_subexpressions(part, prefix="T")
            printer = ArrayApiPrinter(part.variables)
            taken = [sp.Symbol(n, real=True) for n in part.variables]
            writer = StatementWriter(
                printer, sp.numbered_symbols("tmp", cls=sp.Symbol, real=True, exclude=taken)
            )

            def lines(statement: Statement, writer: StatementWriter = writer) -> list[str]:
                return writer.lines(statement.target.name, statement.value)

            context[f"{function}_body"] = statement_blocks(derivation, part.statements, lines)
        context["gradient_names"] = [
            (out.name, out.whole.name)
            for out in program.outputs
            if out.name not in {"loss", "yhat", nt.INPUT_GRADIENT, nt.SAMPLE_LOSSES}
            and out.whole is not None
        ]
        context["yhat_name"] = program.output("yhat").whole.name  # type: ignore[union-attr]
        gradient_x = program.output(nt.INPUT_GRADIENT).whole
        context["input_gradient_name"] = gradient_x.name  # type: ignore[union-attr]
        return render(TEMPLATE, **context)


def _native_sigmoid(program: Program) -> Program:
    """``program`` with the note of each sigmoid saying how this module computes it: by
    ``_logistic``, the library's own sigmoid where it is exact, else the stable form."""
    statements = tuple(
        replace(s, note=s.note.replace(EXACT_SIGMOID, NATIVE_SIGMOID)) for s in program.statements
    )
    for s in statements:  # a sigmoid whose note no longer names the stable form is caught here
        assert not s.value.has(Logistic) or NATIVE_SIGMOID in s.note, s.note
    return program.with_statements(statements)
