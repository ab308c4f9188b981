"""The C target: the program as one C99 source file and its header (``--target c``).

Config of the target: which functions, which form, which templates (``templates/c/``); the printer
is :mod:`symgrad.codegen.c.printer`. ``symgrad codegen ... --target c -o DIR/NAME.c`` writes
``NAME.c`` and ``NAME.h``; every public name starts with ``NAME`` (characters outside
``[A-Za-z0-9_]`` replaced by ``_``). The code includes only ``<math.h>``, ``<stddef.h>`` and its
header, never allocates, and reads and writes only the buffers it is given. Styles:

``auto`` (the default)
    ``unrolled`` when the scalar program of ``loss_and_gradients`` has at most
    :data:`AUTO_UNROLLED_STATEMENTS` statements after common subexpressions (counted, never
    measured, so the bytes are the same on every machine), else ``looped``; the header says which
    and why.
``unrolled``
    The scalar program after common subexpressions, one sample a turn
    (:mod:`symgrad.codegen.c.unrolled`); refused above :data:`UNROLLED_MAX_PARAMETERS`
    parameters, as for the NumPy target.
``looped``
    The matrix program as loops fused into one pass over blocks of the batch
    (:mod:`symgrad.codegen.c.loops`), its products packed and register-tiled (or, with
    ``--blas cblas``, calls of the CBLAS library), for any size.

Both forms also write ``NAME_work_size(batch)`` (the scratch the library was compiled for) and
``NAME_init_params(seed, params)`` (:mod:`symgrad.codegen.c.init`).

The functions of the plain mean print the program; ``NAME_loss_weighted``,
``NAME_loss_and_gradients_weighted``, ``NAME_input_gradient_weighted`` and
``NAME_sample_losses`` print the weighted program (:func:`_weighted_program`), whose row weights
are the caller's ``weights[s]`` divided by their sum, computed by a prepass that refuses a bad
weight with ``NAME_ERROR_WEIGHTS`` before anything is written.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, replace

import sympy as sp

from symgrad import notation as nt
from symgrad.codegen.c.init import init_layers
from symgrad.codegen.c.loops import BLAS_BLOCK_ROWS, BLOCK_ROWS, ProductBlocks, looped_body
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
from symgrad.program import (
    Program,
    eliminate_common_subexpressions,
    lower_matrix,
    lower_scalar,
    prune,
)
from symgrad.program.ir import Role, Var, parameter_shapes
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


#: ``--style auto`` writes a network out scalar by scalar when the scalar program of its
#: ``loss_and_gradients`` has at most this many statements after common subexpressions, else as
#: loops. A statement is about one line of C (120 bytes of code at -Os): the unrolled code grows
#: with them, the loops do not (6 to 8 KB). Up to here the unrolled form runs one sample faster
#: (2-8-8-2: 192 statements, 23.5 KB, a sample in two thirds of the looped form's time); past it
#: the loops are far smaller, and from a few dozen rows of a batch faster anyway.
AUTO_UNROLLED_STATEMENTS = 200

#: The libraries ``--blas`` names: the looped form's products as calls of their ``?gemm``.
BLAS_LIBRARIES: tuple[str, ...] = ("cblas",)


@dataclass(frozen=True)
class Form:
    """What ``--style`` chose for a network: ``unrolled`` or ``looped``, and why (for ``auto``:
    a sentence of the header), with the scalar program of ``loss_and_gradients`` when counted."""

    shape: str
    reason: str = ""
    scalar: Program | None = None


def form(derivation: Derivation, style: str) -> Form:
    """``unrolled`` or ``looped``: what ``style`` means for the network of ``derivation``."""
    if style != "auto":
        return Form(style)
    spec = derivation.spec
    if spec.parameter_count > UNROLLED_MAX_PARAMETERS:
        return Form(
            "looped",
            f"--style auto chose the looped form: {spec.parameter_count} parameters, more than "
            f"the {UNROLLED_MAX_PARAMETERS} the unrolled form is written for.",
        )
    outputs = _outputs(spec, "loss_and_gradients")
    scalar = eliminate_common_subexpressions(prune(lower_scalar(derivation), outputs), prefix="t")
    count = len(scalar.statements)
    if count <= AUTO_UNROLLED_STATEMENTS:
        return Form(
            "unrolled",
            f"--style auto chose the unrolled form: loss_and_gradients is {count} scalar "
            f"statements, within the {AUTO_UNROLLED_STATEMENTS} it writes out.",
            scalar,
        )
    return Form(
        "looped",
        f"--style auto chose the looped form: loss_and_gradients would be {count} scalar "
        f"statements, more than the {AUTO_UNROLLED_STATEMENTS} it writes out.",
    )


#: The C functions: name, the program outputs each computes, the buffers it writes.
FUNCTIONS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("forward", "the prediction yhat = {output}(a_L), row by row", ("yhat",)),
    ("loss", "the mean over the batch of the per-sample loss", ("loss",)),
    (
        "loss_and_gradients",
        "the mean loss and its gradient, from one forward pass",
        ("loss", "grad"),
    ),
    (
        "input_gradient",
        "the gradient of the mean loss with respect to X, row by row, shaped like X",
        ("grad_x",),
    ),
    (
        "loss_weighted",
        "the weighted mean of the per-sample losses, sum_s w_s L_s / sum_s w_s",
        ("loss",),
    ),
    (
        "loss_and_gradients_weighted",
        "the weighted mean loss and its gradient, from one forward pass",
        ("loss", "grad"),
    ),
    (
        "input_gradient_weighted",
        "the gradient of the weighted mean loss with respect to X, shaped like X",
        ("grad_x",),
    ),
    ("sample_losses", "the loss of each sample, one value a row of X", ("losses",)),
)

#: The functions computed by the weighted program (the row weights ``w_s / sum(w)`` an input).
WEIGHTED = ("loss_weighted", "loss_and_gradients_weighted", "input_gradient_weighted")
#: The function of the weighted program that reads no weights: the per-sample losses.
PER_SAMPLE = nt.SAMPLE_LOSSES
#: The variable of the per-sample losses in the C code (the argument is ``losses``).
SAMPLE_LOSS = "sample_loss"
#: The sum of the weights in a weighted function, computed before anything is written.
WEIGHT_SUM = sp.Symbol("weight_sum", real=True)


def _arguments(function: str) -> list[tuple[str, str]]:
    """(type, name) of each argument, as the header declares them."""
    args = [("const real_t *", "params"), ("const real_t *", "X")]
    if function != "forward":
        args.append(("const real_t *", "Y"))
    if function in WEIGHTED:
        args.append(("const real_t *", "weights"))
    args.append(("int", "batch"))
    base = _unweighted(function)
    if base == "forward":
        args.append(("real_t *", "yhat"))
    elif base == nt.INPUT_GRADIENT:
        args.append(("real_t *", "grad_x"))
    elif base == PER_SAMPLE:
        args.append(("real_t *", "losses"))
    else:
        args.append(("real_t *", "loss"))
    if base == "loss_and_gradients":
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


def _unweighted(function: str) -> str:
    """``loss`` for ``loss_weighted``: the function whose results a weighted one computes."""
    return function.removesuffix("_weighted")


def _outputs(spec: NetworkSpec, function: str) -> tuple[str, ...]:
    gradients = tuple(key for key in parameter_shapes(spec))
    return {
        "forward": ("yhat",),
        "loss": ("loss",),
        "loss_and_gradients": ("loss", *gradients),
        nt.INPUT_GRADIENT: (nt.INPUT_GRADIENT,),
        PER_SAMPLE: (nt.SAMPLE_LOSSES,),
    }[_unweighted(function)]


def _weighted_program(derivation: Derivation, shape: str) -> Program:
    """The weighted program of ``shape`` with its row weights read as ``weights[s] / weight_sum``:
    the variable of the row weights points at the caller's ``weights``, and the sum is what the
    prepass over them computes (:func:`_weights_prepass`). The per-sample losses are renamed
    :data:`SAMPLE_LOSS` (in the unrolled form, a local variable beside the argument ``losses``)."""
    lower = lower_scalar if shape == "unrolled" else lower_matrix
    program = lower(derivation, weighted=True)
    (weight,) = (v for v in program.inputs if _is_row_weight(v))
    held = program.output(nt.SAMPLE_LOSSES)
    old = held.whole or program.variables[str(held.entries[0])]
    assert SAMPLE_LOSS not in program.variables
    new = replace(old, name=SAMPLE_LOSS)  # not the name of the argument losses
    change = {weight.symbol: weight.symbol / WEIGHT_SUM, old.symbol: new.symbol}
    statements = tuple(
        replace(
            st,
            target=new if st.target == old else st.target,
            value=st.value.xreplace(change),
        )
        for st in program.statements
    )
    outputs = tuple(
        (replace(out, whole=new) if out.whole else replace(out, entries=(new.symbol,)))
        if out.name == nt.SAMPLE_LOSSES
        else out
        for out in program.outputs
    )
    total = Var(WEIGHT_SUM.name, (), Role.INPUT)
    return replace(program, inputs=(*program.inputs, total), statements=statements, outputs=outputs)


def _is_row_weight(var: Var) -> bool:
    quantity = var.meaning.quantity if var.meaning is not None else None
    return quantity is not None and quantity.base == nt.ROW_WEIGHT


def _weights_prepass(macro: str, dtype: str) -> list[str]:
    """The check of the weights and their sum: a non-finite or negative weight or a zero (or
    overflowing) sum returns ``NAME_ERROR_WEIGHTS`` before anything is written."""
    zero = CPrinter(dtype).literal(0.0)
    return [
        f"real_t weight_sum = {zero};",
        "for (size_t s = 0; s < rows; ++s) {",
        f"    if (!isfinite(weights[s]) || weights[s] < {zero}) {{",
        f"        return {macro}_ERROR_WEIGHTS;",
        "    }",
        "    weight_sum += weights[s];",
        "}",
        f"if (!(weight_sum > {zero}) || !isfinite(weight_sum)) {{",
        f"    return {macro}_ERROR_WEIGHTS; // every weight zero, or a sum past the largest real",
        "}",
    ]


class CTarget:
    """``--target c``: ``NAME.c`` and ``NAME.h`` in C99, no allocation, no library but libm."""

    name = "c"
    styles: tuple[str, ...] = ("auto", "unrolled", "looped")
    dtypes: tuple[str, ...] = ("double", "float")
    suffix = ".c"
    needs_output_file = True

    def check(
        self, spec: NetworkSpec, style: str, dtype: str | None = None, blas: str | None = None
    ) -> None:
        check_style(spec, style, self.styles)
        check_dtype(self.name, self.dtypes, dtype)
        if blas is not None and blas not in BLAS_LIBRARIES:
            raise SpecError(f"unknown --blas {blas!r}; use {', '.join(BLAS_LIBRARIES)}")
        if blas is not None and style == "unrolled":
            raise SpecError(
                "--blas makes the products of the looped form calls of the library; the unrolled "
                "form has no products: use --style looped (or auto, which then loops)"
            )

    def generate(
        self,
        derivation: Derivation,
        style: str,
        dtype: str | None,
        command: str,
        name: str = "mlp",
        blas: str | None = None,
    ) -> tuple[GeneratedFile, ...]:
        from symgrad.templating import render

        dtype = dtype or self.dtypes[0]
        self.check(derivation.spec, style, dtype, blas)
        prefix = c_prefix(name)
        chosen = (
            Form("looped", f"--blas {blas}: the looped form, its products calls of the library.")
            if blas
            else form(derivation, style)
        )
        context = self.context(derivation, chosen, dtype, command, prefix, blas)
        context["header_file"] = f"{name}.h"
        return (
            GeneratedFile(".c", render(SOURCE_TEMPLATE, **context)),
            GeneratedFile(".h", render(HEADER_TEMPLATE, **context)),
        )

    def context(
        self,
        derivation: Derivation,
        chosen: Form,
        dtype: str,
        command: str,
        prefix: str,
        blas: str | None = None,
    ) -> dict[str, object]:
        spec = derivation.spec
        macro = prefix.upper()
        shape = chosen.shape
        program: Program = (
            lower_scalar(derivation) if shape == "unrolled" else lower_matrix(derivation)
        )
        block_rows = BLOCK_ROWS if blas is None else BLAS_BLOCK_ROWS
        functions, work, blocks = _functions(
            derivation, program, chosen, dtype, prefix, blas, block_rows
        )
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
            "block_rows": block_rows if shape == "looped" else 1,
            "work_size": _work_sizes(work, macro, blas is None),
            "functions": functions,
            "products": "" if shape == "unrolled" else (blas or "packed"),
            "blocks": blocks.defaults(dtype),
            "max_tile_rows": ProductBlocks.MAX_TILE_ROWS,
            "blas_prefix": "s" if dtype == "float" else "d",
            "one": CPrinter(dtype).literal(1.0),
            "style_note": textwrap.wrap(
                chosen.reason, width=LINE_LENGTH - 3, break_long_words=False, break_on_hyphens=False
            ),
            "init": init_layers(spec, dtype),
            "literal_2_24": CPrinter(dtype).literal(2.0**-24),
        }


def _functions(
    derivation: Derivation,
    program: Program,
    chosen: Form,
    dtype: str,
    prefix: str,
    blas: str | None,
    block_rows: int,
) -> tuple[list[dict[str, object]], dict[str, tuple[int, int]], ProductBlocks]:
    """The template's entry of each C function, the scratch each needs (fixed values, values
    per row) and the block sizes of the products they make."""
    spec = derivation.spec
    macro = prefix.upper()
    shape = chosen.shape
    functions: list[dict[str, object]] = []
    work: dict[str, tuple[int, int]] = {}  # function: fixed values, values per row
    blocks = ProductBlocks()
    weighted_program = _weighted_program(derivation, shape)
    for function, summary, writes in FUNCTIONS:
        outputs = _outputs(spec, function)
        weighted = function in WEIGHTED
        source = weighted_program if weighted or function == PER_SAMPLE else program
        if shape == "unrolled":
            part = chosen.scalar if function == "loss_and_gradients" else None
            body = unrolled_body(derivation, source, outputs, dtype, part)
            pointers: list[str] = []
        else:
            body, scratch = looped_body(
                derivation,
                source,
                outputs,
                dtype,
                block_macro=f"{macro}_WORK_ROWS",
                packs=blas is None,
                block_rows=block_rows,
            )
            pointers = _parameter_pointers(source, function) + scratch.pointers
            work[function] = (scratch.fixed, scratch.per_row)
            blocks = blocks.widened(scratch.products)
        functions.append(
            {
                "name": f"{prefix}_{function}",
                "summary": _sentence(summary.format(output=spec.output)),
                "declaration": _signature(prefix, function, restrict=False),
                "definition": _signature(prefix, function, restrict=True),
                "pointers": [name for c_type, name in _arguments(function) if "*" in c_type],
                "frame": _frame(
                    body, pointers, shape, "grad" in writes, macro, dtype, blas, weighted=weighted
                ),
                "blocks": [(block.blank_before, block.lines) for block in body.blocks],
            }
        )
    return functions, work, blocks


def _parameter_pointers(program: Program, function: str) -> list[str]:
    """``const real_t *const W1 = params + 0;`` and, for the gradient, ``real_t *const dW1``
    (the variable that holds the gradient the program outputs)."""
    spec = program.spec
    lines = []
    offset = 0
    grad = _unweighted(function) == "loss_and_gradients"
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
    if _unweighted(function) == nt.INPUT_GRADIENT:
        held = program.output(nt.INPUT_GRADIENT).whole
        assert held is not None
        lines.append(f"real_t *const {held.name} = grad_x;")
    if function == PER_SAMPLE:
        held = program.output(nt.SAMPLE_LOSSES).whole
        assert held is not None
        lines.append(f"real_t *const {held.name} = losses;")
    if function in WEIGHTED:
        (weight,) = (v for v in program.inputs if _is_row_weight(v))
        lines.append(f"const real_t *const {weight.name} = weights; // divided by weight_sum")
    return lines


def _sentence(text: str) -> str:
    return text[0].upper() + text[1:] + "."


def _frame(
    body: Body,
    pointers: list[str],
    shape: str,
    zero_grad: bool,
    macro: str,
    dtype: str,
    blas: str | None,
    weighted: bool = False,
) -> list[str]:
    """The lines between the checks and the statements: sizes, the weights' prepass (a weighted
    function) and where each array lives."""
    lines = ["const size_t rows = (size_t)batch;"]
    if weighted:
        lines += _weights_prepass(macro, dtype)
    if body.uses_batch_size:
        lines.append("const real_t B = (real_t)batch;")
    if shape == "looped":
        lines.append(f"const size_t block = {macro}_ROWS_PER_PASS(rows);")
        if blas is not None:
            lines.append("real_t *const pack = NULL; // the library's products need no scratch")
        else:
            lines += [
                f"real_t *const pack = block < {macro}_GEMM_MR ? NULL : work;",
                f"const size_t packed = pack == NULL ? 0 : {macro}_PACK_SIZE;",
            ]
            if not any("packed" in p for p in pointers):
                lines[-1:] = []
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


def _work_sizes(work: dict[str, tuple[int, int]], macro: str, packs: bool) -> dict[str, str]:
    """The C expressions of ``NAME_WORK_SIZE(batch)`` (every function) and
    ``NAME_FORWARD_WORK_SIZE(batch)``: the products' blocks (none for a batch of fewer rows than a
    tile), the arrays of fixed size, then the arrays of a block of rows."""
    if not work:
        return {"all": "((size_t)1)", "forward": "((size_t)1)"}

    def size(fixed: int, per_row: int) -> str:
        rows = f"{macro}_ROWS_PER_PASS(batch)"
        terms = [f"{macro}_PACK_FOR(batch)"] if packs else []
        terms += [f"(size_t){fixed}"] if fixed else []
        terms += [f"(size_t){per_row} * {rows}"]
        return "(" + " + ".join(terms) + ")"

    largest = (max(f for f, _ in work.values()), max(r for _, r in work.values()))
    return {"all": size(*largest), "forward": size(*work["forward"])}


__all__ = ["AUTO_UNROLLED_STATEMENTS", "BLAS_LIBRARIES", "CTarget", "Form", "c_prefix", "form"]
