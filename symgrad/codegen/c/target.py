"""The C target: the program as one C99 source file and its header (``--target c``).

Config of the target: which functions, which form, which templates (``templates/c/``); the printer
is :mod:`symgrad.codegen.c.printer`. ``symgrad codegen ... --target c -o DIR/NAME.c`` writes
``NAME.c`` and ``NAME.h``; every public name starts with ``NAME`` (characters outside
``[A-Za-z0-9_]`` replaced by ``_``). The code includes only ``<math.h>``, ``<stddef.h>`` and its
header, never allocates, and reads and writes only the buffers it is given. Styles:

``auto`` (the default)
    ``unrolled`` up to :data:`UNROLLED_MAX_PARAMETERS` parameters, else ``looped``.
``unrolled``
    The scalar program after common subexpressions, one sample a turn
    (:mod:`symgrad.codegen.c.unrolled`); refused above the limit, as for the NumPy target.
``looped``
    The matrix program as loops fused into one pass over blocks of the batch
    (:mod:`symgrad.codegen.c.loops`), for any size.
"""

from __future__ import annotations

import re
import textwrap

from symgrad import notation as nt
from symgrad.codegen.c.loops import BLOCK_ROWS, looped_body
from symgrad.codegen.c.printer import CPrinter
from symgrad.codegen.c.unrolled import Body, unrolled_body
from symgrad.codegen.common import (
    LINE_LENGTH,
    UNROLLED_MAX_PARAMETERS,
    check_dtype,
    check_style,
    header_lines,
    notes_command,
    program_description,
)
from symgrad.codegen.config import GeneratedFile
from symgrad.derivation import Derivation
from symgrad.errors import SpecError
from symgrad.program import Program, lower_matrix, lower_scalar
from symgrad.program.ir import parameter_shapes
from symgrad.spec import NetworkSpec

SOURCE_TEMPLATE = "c/source.c.jinja"
HEADER_TEMPLATE = "c/header.h.jinja"


def c_prefix(name: str) -> str:
    """The prefix of the public C names of the files ``NAME.c``/``NAME.h``: ``NAME`` with every
    character outside ``[A-Za-z0-9_]`` replaced by ``_``.

    Refused, with :class:`SpecError`, when that is no C identifier (a leading digit) or ``NAME``
    cannot stand in ``#include "NAME.h"``.
    """
    if not name or any(ch in name for ch in '"\\') or not name.isprintable():
        raise SpecError(f"the C file name {name!r} cannot be included as a header; rename it")
    prefix = re.sub(r"[^A-Za-z0-9_]", "_", name)
    if prefix[0].isdigit():
        raise SpecError(
            f"the C file name {name!r} starts with a digit, so its public names "
            f"({prefix}_loss, ...) would not be C identifiers; give -o a name that starts "
            "with a letter"
        )
    return prefix


def form(spec: NetworkSpec, style: str) -> str:
    """``unrolled`` or ``looped``: what ``style`` means for ``spec``."""
    if style == "auto":
        return "unrolled" if spec.parameter_count <= UNROLLED_MAX_PARAMETERS else "looped"
    return style


#: The C functions: name, the program outputs each computes, the buffers it writes.
FUNCTIONS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("forward", "the prediction yhat = {output}(a_L), row by row", ("yhat",)),
    ("loss", "the mean over the batch of the per-sample loss", ("loss",)),
    (
        "loss_and_gradients",
        "the mean loss and its gradient, from one forward pass",
        ("loss", "grad"),
    ),
)


def _arguments(function: str) -> list[tuple[str, str]]:
    """(type, name) of each argument, as the header declares them."""
    args = [("const real_t *", "params"), ("const real_t *", "X")]
    if function != "forward":
        args.append(("const real_t *", "Y"))
    args.append(("int", "batch"))
    if function == "forward":
        args.append(("real_t *", "yhat"))
    else:
        args.append(("real_t *", "loss"))
    if function == "loss_and_gradients":
        args.append(("real_t *", "grad"))
    args.append(("real_t *", "work"))
    return args


def _signature(prefix: str, function: str, restrict: bool) -> list[str]:
    """``int mlp_loss(const real_t *params, ...)``, wrapped as clang-format would."""
    parts = []
    for c_type, name in _arguments(function):
        pointer = c_type.endswith("*")
        qualifier = "restrict " if restrict and pointer else ""
        parts.append(f"{c_type}{qualifier}{name}" if pointer else f"{c_type} {name}")
    head = f"int {prefix}_{function}("
    one_line = head + ", ".join(parts) + ")"
    if len(one_line) <= LINE_LENGTH - 1:
        return [one_line]
    lines: list[str] = []
    current = head
    pad = " " * len(head)
    for n, part in enumerate(parts):
        piece = part + (")" if n == len(parts) - 1 else ",")
        if current.strip() and len(current) + len(piece) + 1 > LINE_LENGTH - 1 and current != head:
            lines.append(current.rstrip())
            current = pad
        current += piece + ("" if n == len(parts) - 1 else " ")
    lines.append(current.rstrip())
    return lines


def _outputs(spec: NetworkSpec, function: str) -> tuple[str, ...]:
    gradients = tuple(key for key in parameter_shapes(spec))
    return {
        "forward": ("yhat",),
        "loss": ("loss",),
        "loss_and_gradients": ("loss", *gradients),
    }[function]


class CTarget:
    """``--target c``: ``NAME.c`` and ``NAME.h`` in C99, no allocation, no library but libm."""

    name = "c"
    styles: tuple[str, ...] = ("auto", "unrolled", "looped")
    dtypes: tuple[str, ...] = ("double", "float")
    suffix = ".c"
    needs_output_file = True

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
        from symgrad.templating import render

        dtype = dtype or self.dtypes[0]
        self.check(derivation.spec, style, dtype)
        prefix = c_prefix(name)
        context = self.context(derivation, form(derivation.spec, style), dtype, command, prefix)
        context["header_file"] = f"{name}.h"
        return (
            GeneratedFile(".c", render(SOURCE_TEMPLATE, **context)),
            GeneratedFile(".h", render(HEADER_TEMPLATE, **context)),
        )

    def context(
        self, derivation: Derivation, shape: str, dtype: str, command: str, prefix: str
    ) -> dict[str, object]:
        spec = derivation.spec
        macro = prefix.upper()
        program: Program = (
            lower_scalar(derivation) if shape == "unrolled" else lower_matrix(derivation)
        )
        functions = []
        per_row = fixed = 0
        for function, summary, writes in FUNCTIONS:
            outputs = _outputs(spec, function)
            if shape == "unrolled":
                body = unrolled_body(derivation, program, outputs, dtype)
                pointers: list[str] = []
            else:
                body, scratch = looped_body(
                    derivation, program, outputs, dtype, block_macro=f"{macro}_WORK_ROWS"
                )
                pointers = _parameter_pointers(program, function) + scratch.pointers
                per_row = max(per_row, scratch.per_row)
                fixed = max(fixed, scratch.fixed)
            functions.append(
                {
                    "name": f"{prefix}_{function}",
                    "summary": _sentence(summary.format(output=spec.output)),
                    "declaration": _signature(prefix, function, restrict=False),
                    "definition": _signature(prefix, function, restrict=True),
                    "pointers": [name for c_type, name in _arguments(function) if "*" in c_type],
                    "frame": _frame(body, pointers, shape, "grad" in writes, macro, dtype),
                    "blocks": [(block.blank_before, block.lines) for block in body.blocks],
                }
            )
        work_size = 1 if shape == "unrolled" else fixed + BLOCK_ROWS * per_row
        shapes = parameter_shapes(spec)
        layout = ", ".join(
            f"{key} ({' x '.join(map(str, shape_))})" for key, shape_ in shapes.items()
        )
        return {
            "header": header_lines(command, comment="//"),
            "prefix": prefix,
            "macro": macro,
            "real": dtype,
            "shape": shape,
            "net": "-".join(map(str, spec.sizes)),
            "description": [
                textwrap.wrap(p, width=LINE_LENGTH - 3, break_on_hyphens=False)
                for p in program_description(program)
            ],
            "layout": textwrap.wrap(
                f"params and grad, row-major, one after the other: {layout}.",
                width=LINE_LENGTH - 5,
                break_on_hyphens=False,
            ),
            "notes": textwrap.wrap(
                "Comments above the statements give the equation each implements; (eq. N) is "
                f"its number in the notes made by `{notes_command(spec)}`.",
                width=LINE_LENGTH - 3,
                break_long_words=False,
                break_on_hyphens=False,
            ),
            "n_inputs": spec.sizes[0],
            "n_outputs": spec.sizes[-1],
            "n_params": spec.parameter_count,
            "n_layers": spec.depth,
            "layer_sizes": "{" + ", ".join(map(str, spec.sizes)) + "}",
            "output": spec.output,
            "loss": spec.loss,
            "block_rows": BLOCK_ROWS if shape == "looped" else 1,
            "work_size": work_size,
            "functions": functions,
            "multiply_add": shape == "looped",
        }


def _parameter_pointers(program: Program, function: str) -> list[str]:
    """``const real_t *const W1 = params + 0;`` and, for the gradient, ``real_t *const dW1``
    (the variable that holds the gradient the program outputs)."""
    spec = program.spec
    lines = []
    offset = 0
    grad = function == "loss_and_gradients"
    for k in range(1, spec.depth + 1):
        for base in ("W", "b"):
            q = nt.quantity(base, k)
            lines.append(f"const real_t *const {q.program} = params + {offset};")
            if grad:
                held = program.output(q.json).whole
                assert held is not None
                lines.append(f"real_t *const {held.name} = grad + {offset};")
            offset += spec.sizes[k] * (spec.sizes[k - 1] if base == "W" else 1)
    if function == "forward":
        lines.append("real_t *const Yhat = yhat;")
    return lines


def _sentence(text: str) -> str:
    return text[0].upper() + text[1:] + "."


def _frame(
    body: Body, pointers: list[str], shape: str, zero_grad: bool, macro: str, dtype: str
) -> list[str]:
    """The lines between the checks and the statements: sizes and where each array lives."""
    lines = ["const size_t rows = (size_t)batch;"]
    if body.uses_batch_size:
        lines.append("const real_t B = (real_t)batch;")
    if shape == "looped":
        lines.append(f"const size_t block = {macro}_WORK_ROWS;")
    lines += pointers
    if zero_grad and shape == "looped":
        lines += [
            f"for (size_t k = 0; k < {macro}_N_PARAMS; ++k) {{",
            f"    grad[k] = {CPrinter(dtype).literal(0.0)};",
            "}",
        ]
    if shape == "unrolled":
        lines.append("(void)work; // the unrolled code keeps every number in a local variable")
    return lines


__all__ = ["CTarget", "c_prefix", "form"]
