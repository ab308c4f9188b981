"""The unrolled form of the C target: every scalar of the network written out, one sample a turn.

Part of the C target (program -> **c**), for networks up to
:data:`~symgrad.codegen.common.UNROLLED_MAX_PARAMETERS` parameters. It prints the scalar program
after common subexpressions: the parameters become named constants, then one loop over the
samples computes each sample's scalars (``const real_t a1_0 = ...``) and adds its share to every
sum over the batch (the loss and the gradients), which are written to the caller's buffers after
the loop. Nothing is stored per sample, so the scratch buffer is not used.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from symgrad import notation as nt
from symgrad.arrays import BatchSum
from symgrad.codegen.c.layout import CBlock, declarations, from_blocks, statement
from symgrad.codegen.c.printer import CPrinter
from symgrad.codegen.common import comment_lines, statement_blocks
from symgrad.codegen.pyprinter import CodegenError
from symgrad.derivation import Derivation
from symgrad.program import BATCH, Program, Statement, eliminate_common_subexpressions, prune


@dataclass
class Body:
    """The statements of one C function, and what its frame declares."""

    blocks: list[CBlock] = field(default_factory=list)
    uses_batch_size: bool = False
    uses_work: bool = False


def _free_names(expr: sp.Expr) -> set[str]:
    return {s.name for s in expr.free_symbols if isinstance(s, sp.Symbol)}


def unrolled_body(
    derivation: Derivation,
    program: Program,
    outputs: tuple[str, ...],
    dtype: str,
    part: Program | None = None,
) -> Body:
    """The body of the function that returns ``outputs`` ("yhat", "loss", the gradients);
    ``part`` is the program of those outputs after common subexpressions, when made already."""
    if part is None:
        part = eliminate_common_subexpressions(prune(program, outputs), prefix="t")
    printer = CPrinter(dtype)
    zero = printer.literal(0.0)
    inside, accumulators, after, accumulate = _by_place(part)

    def in_loop(st: Statement) -> list[str]:
        if id(st) in accumulate:
            return [
                line
                for total, term in accumulate[id(st)]
                for line in statement(f"{total} += ", printer.doprint(term), 2)
            ]
        value = st.value
        if isinstance(value, (sp.Max, sp.Min)) and len(value.args) > 2:
            # The maximum of a wide row, one unit a line.
            name, function = st.target.name, "fmax" if isinstance(value, sp.Max) else "fmin"
            first, *rest = (printer.doprint(arg) for arg in value.args)
            lines = [f"real_t {name} = {first};"]
            return lines + [f"{name} = {function}{printer.suffix}({name}, {r});" for r in rest]
        return statement(f"const real_t {st.target.name} = ", printer.doprint(value), 2)

    def once(st: Statement) -> list[str]:
        return statement(f"const real_t {st.target.name} = ", printer.doprint(st.value), 1)

    loop_blocks = from_blocks(statement_blocks(derivation, inside, in_loop), depth=2)
    after_blocks = from_blocks(statement_blocks(derivation, after, once), depth=1)

    used: set[str] = set()
    for st in part.statements:
        used |= st.reads()
    for out in part.outputs:
        used |= out.reads()

    body = Body()
    body.blocks.append(_parameter_block(program, used))
    if accumulators:
        body.blocks.append(
            CBlock(
                comment_lines(["Sums over the batch, added to sample by sample in the loop."]),
                tuple(declarations("real_t", [f"{a} = {zero}" for a in accumulators], 1)),
            )
        )
    loop = _row_blocks(program, used)
    loop += loop_blocks
    loop += _row_outputs(part, outputs, printer)
    body.blocks.append(CBlock((), ("for (size_t s = 0; s < rows; ++s) {",), 1, blank_before=True))
    body.blocks += loop
    body.blocks.append(CBlock((), ("}",), 1, blank_before=False))
    body.blocks += after_blocks
    body.blocks += _result_blocks(part, outputs, printer)
    text = "\n".join(
        line
        for block in body.blocks
        for line in block.lines
        if not line.lstrip().startswith("//")  # the notes may name B where the code does not
    )
    body.uses_batch_size = _mentions(text, "B")
    return body


def _row_outputs(part: Program, outputs: tuple[str, ...], printer: CPrinter) -> list[CBlock]:
    """The results written row by row in the loop: yhat, grad_x, the per-sample losses."""
    blocks: list[CBlock] = []
    n_in, n_out = part.spec.sizes[0], part.spec.sizes[-1]
    if "yhat" in outputs:
        entries = part.output("yhat").entries
        code = [f"real_t *const yhat_row = yhat + s * {n_out};"]
        code += [f"yhat_row[{i}] = {printer.doprint(e)};" for i, e in enumerate(entries)]
        blocks.append(CBlock(("The prediction, row s of yhat.",), tuple(code), 2))
    if nt.INPUT_GRADIENT in outputs:
        entries = part.output(nt.INPUT_GRADIENT).entries
        code = [f"real_t *const grad_x_row = grad_x + s * {n_in};"]
        code += [f"grad_x_row[{j}] = {printer.doprint(e)};" for j, e in enumerate(entries)]
        blocks.append(CBlock(("The gradient with respect to x, row s of grad_x.",), tuple(code), 2))
    if nt.SAMPLE_LOSSES in outputs:
        (entry,) = part.output(nt.SAMPLE_LOSSES).entries
        code = [f"losses[s] = {printer.doprint(entry)};"]
        blocks.append(CBlock(("The loss of sample s.",), tuple(code), 2))
    return blocks


def _row_blocks(program: Program, used: set[str]) -> list[CBlock]:
    """The rows of ``X`` and ``Y`` of sample ``s``, as the named scalars the code reads."""
    n_in, n_out = program.spec.sizes[0], program.spec.sizes[-1]
    loop: list[CBlock] = []
    inputs = [
        ("x", "X", n_in, [v.name for v in program.inputs if _base(v) == "x" and v.name in used]),
        ("y", "Y", n_out, [v.name for v in program.inputs if _base(v) == "y" and v.name in used]),
    ]
    for row, array, width, names in inputs:
        if not names:
            continue
        index = {v.name: j for j, v in enumerate(v for v in program.inputs if _base(v) == row)}
        code = [f"const real_t *const {row} = {array} + s * {width};"]
        code += declarations("const real_t", [f"{n} = {row}[{index[n]}]" for n in names], 2)
        loop.append(CBlock((f"Row s of {array}.",), tuple(code), 2, blank_before=bool(loop)))
    weights = [v.name for v in program.inputs if _base(v) == nt.ROW_WEIGHT and v.name in used]
    for name in weights:  # a weighted function: the weight of sample s, divided by weight_sum
        line = f"const real_t {name} = weights[s];"
        loop.append(CBlock(("The weight of sample s.",), (line,), 2, blank_before=bool(loop)))
    return loop


def _by_place(
    part: Program,
) -> tuple[list[Statement], list[str], list[Statement], dict[int, list[tuple[str, sp.Expr]]]]:
    """The statements in the loop over the samples (per sample, and the terms each adds to a sum
    over the batch), the sums declared before it, and the statements after it (of the sums, or
    of the parameters alone)."""
    inside: list[Statement] = []  # per sample, in the loop
    accumulators: list[str] = []  # sums over the batch, declared before the loop
    after: list[Statement] = []  # from the sums, after the loop
    summed: set[str] = set()
    accumulate: dict[int, list[tuple[str, sp.Expr]]] = {}
    for st in part.statements:
        name = st.target.name
        if st.target.shape == (BATCH,):
            if st.reads() & summed:
                raise CodegenError(f"{name} reads a sum over the batch inside the batch loop")
            inside.append(st)
        elif st.value.has(BatchSum):
            sums: list[tuple[str, sp.Expr]] = []
            if isinstance(st.value, BatchSum):
                sums.append((name, st.value.args[0]))
            else:
                value = st.value
                for n, node in enumerate(sorted(st.value.atoms(BatchSum), key=sp.default_sort_key)):
                    total = f"sum_{name}" if n == 0 else f"sum{n}_{name}"
                    sums.append((total, node.args[0]))
                    value = value.xreplace({node: sp.Symbol(total, real=True)})
                after.append(Statement(st.target, value, st.step, st.note))
            accumulators += [total for total, _ in sums]
            accumulate[id(st)] = sums
            inside.append(st)
            summed.add(name)
        else:
            # A number of the parameters and the batch size alone, or of the sums.
            after.append(st)
            summed.add(name)
    return inside, accumulators, after, accumulate


def loss_note(part: Program) -> str:
    """The comment above ``*loss = ...``: the mean, or the weighted mean."""
    weights = {v.name for v in part.inputs if _base(v) == nt.ROW_WEIGHT}
    if any(st.reads() & weights for st in part.statements):
        return "The weighted mean loss over the batch."
    return "The mean loss over the batch."


def _base(var: object) -> str | None:
    meaning = getattr(var, "meaning", None)
    quantity = meaning.quantity if meaning is not None else None
    return quantity.base if quantity is not None else None


def _mentions(text: str, name: str) -> bool:
    import re

    return re.search(rf"\b{re.escape(name)}\b", text) is not None


def _parameter_block(program: Program, used: set[str]) -> CBlock:
    """``const real_t W1_0_0 = params[0], ...;``: every parameter the function reads, by name."""
    spec = program.spec
    lines: list[str] = []
    # One declaration per row of W_k and one for b_k; program.parameters is in the flat order.
    rows: list[list[str]] = []
    current_key: tuple[object, int] | None = None
    for position, var in enumerate(program.parameters):
        meaning = var.meaning
        assert meaning is not None and meaning.quantity is not None
        q = meaning.quantity
        key = (q, meaning.entry[0] if q.base == "W" else 0)
        if key != current_key:
            rows.append([])
            current_key = key
        if var.name in used:
            rows[-1].append(f"{var.name} = params[{position}]")
    for row in rows:
        if row:
            lines += declarations("const real_t", row, 1)
    layout = ", ".join(
        f"{nt.param_key('W', k)} ({spec.sizes[k]} x {spec.sizes[k - 1]}), {nt.param_key('b', k)}"
        for k in range(1, spec.depth + 1)
    )
    comment = comment_lines([f"The parameters by name; params holds, row-major: {layout}."])
    return CBlock(comment, tuple(lines), 1)


def _result_blocks(part: Program, outputs: tuple[str, ...], printer: CPrinter) -> list[CBlock]:
    blocks: list[CBlock] = []
    if "loss" in outputs:
        value = part.output("loss").whole
        assert value is not None
        blocks.append(CBlock((loss_note(part),), (f"*loss = {value.name};",), 1))
    offset = 0
    lines: list[str] = []
    for out in part.outputs:
        if out.name in {"loss", "yhat", nt.INPUT_GRADIENT, nt.SAMPLE_LOSSES}:
            continue
        for entry in out.entries:
            lines.append(f"grad[{offset}] = {printer.doprint(entry)};")
            offset += 1
    if lines:
        note = (
            "The gradient, laid out as params: "
            + ", ".join(
                nt.quantity(base, k).grad().program
                for k in range(1, part.spec.depth + 1)
                for base in ("W", "b")
            )
            + "."
        )
        blocks.append(CBlock(comment_lines([note]), tuple(lines), 1))
    return blocks
