"""The looped form of the C target: the matrix program as loops, fused into one pass over the batch.

Part of the C target (program -> **c**), the pass that plays the part of the NumPy target's buffer
pass. Every statement of the matrix program computes its rows from the same rows of earlier
statements, or adds them to a sum over the batch (a gradient, the loss): so the whole program runs
in one loop over blocks of :data:`BLOCK_ROWS` rows, each statement over the rows of the block in
turn. The arrays of a block stay in cache between the statements of a layer, and the scratch
holds one block, whatever the batch. Kinds of statement:

- products: ``A_k = b_k + H_{k-1} W_k^T``, ``G_k = Delta_{k+1} W_{k+1}`` and
  ``dW_k = Delta_k^T H_{k-1}`` (added to over the blocks), each one call of the file's
  ``product`` (``templates/c/_products.c.jinja``: packed blocks and a register tile, BLIS's
  structure; with ``--blas cblas`` a call of ``cblas_dgemm``), reading the operands where they
  are, transposed or not;
- elementwise statements over a row, with the row sums and maxima they read computed first;
- sums over the batch: the column sums ``db_k`` and the totals of the loss.

A number computed from the sums (the mean loss) follows the loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import ClassVar

import sympy as sp

from symgrad import notation as nt
from symgrad.arrays import BatchSum, Dot, RowMax, RowSum, Total, Transpose
from symgrad.codegen.c.layout import CBlock, declarations, from_blocks, indented, statement
from symgrad.codegen.c.printer import CPrinter
from symgrad.codegen.c.unrolled import Body, loss_note
from symgrad.codegen.common import comment_lines, statement_blocks
from symgrad.codegen.pyprinter import CodegenError
from symgrad.derivation import Derivation
from symgrad.program import (
    BATCH,
    Program,
    Role,
    Statement,
    Var,
    eliminate_common_subexpressions,
    prune,
)
from symgrad.program.passes import shape_of

#: Rows of the batch per pass of the loop (``NAME_WORK_ROWS`` unless defined otherwise): the arrays
#: of a block stay in the second-level cache, and each block of a weight matrix copied for the
#: products serves this many rows.
BLOCK_ROWS = 64
#: The same for products computed by a BLAS library (``--blas``): fewer, larger calls, each with
#: a sum over more rows (``Delta_k^T H_{k-1}``), at the cost of a larger scratch.
BLAS_BLOCK_ROWS = 256


@dataclass
class Scratch:
    """Where the arrays of one function live in the scratch buffer ``work``.

    First the blocks the products copy their operands into (``packed`` values: ``NAME_PACK_SIZE``,
    none for a batch of fewer rows than a tile), then ``fixed`` values of arrays of fixed size,
    then the arrays of a block, ``per_row`` values per row of the block (``block`` rows:
    ``NAME_WORK_ROWS``, or the batch if smaller).
    """

    per_row: int = 0
    fixed: int = 0
    rows: list[tuple[str, int]] = field(default_factory=list)  # name, offset per row
    fixed_arrays: list[tuple[str, int]] = field(default_factory=list)  # name, offset
    packs: bool = True
    #: (m, n, k) of each product, a block of rows counted as its default number of rows.
    products: list[tuple[int, int, int]] = field(default_factory=list)

    @property
    def pointers(self) -> list[str]:
        lines = []
        base = ["packed"] if self.packs else []
        for name, offset in self.fixed_arrays:
            lines.append(_pointer(name, [*base, str(offset) if offset else ""]))
        for name, offset in self.rows:
            terms = [
                *base,
                str(self.fixed) if self.fixed else "",
                f"block * {offset}" if offset else "",
            ]
            lines.append(_pointer(name, terms))
        return lines


@dataclass(frozen=True)
class ProductBlocks:
    """The default block sizes of the products (``NAME_GEMM_MR`` ...), from the largest sizes the
    products of a file meet: blocks no larger than the matrices, so that the scratch of a small
    network stays small. A header can be told other values before it is included."""

    #: The register tile of ``templates/c/_products.c.jinja`` holds at most this many rows.
    MAX_TILE_ROWS: ClassVar[int] = 8
    #: Terms of the sum per block (the MR x KC and KC x NR panels stay in the first-level cache),
    #: rows of A and columns of B per block (MC x KC stays in the second-level cache).
    KC: ClassVar[int] = 256
    MC: ClassVar[int] = 96
    NC: ClassVar[int] = 512

    m: int = 0
    n: int = 0
    k: int = 0

    def widened(self, products: list[tuple[int, int, int]]) -> ProductBlocks:
        sizes = [(self.m, self.n, self.k), *products]
        return ProductBlocks(*(max(size[d] for size in sizes) for d in range(3)))

    def defaults(self, dtype: str) -> list[tuple[str, int]]:
        """``(name, value)`` of each block size: a tile of 4 rows by two vectors of 256 bits
        (8 doubles, 16 floats), which compilers keep in registers for any target."""
        rows, columns = 4, 8 if dtype == "double" else 16
        return [
            ("MR", rows),
            ("NR", columns),
            ("KC", max(1, min(self.KC, self.k))),
            ("MC", max(rows, min(self.MC, -(-self.m // rows) * rows))),
            ("NC", max(columns, min(self.NC, -(-self.n // columns) * columns))),
        ]


def _pointer(name: str, terms: list[str]) -> str:
    start = " + ".join(t for t in terms if t)
    return f"real_t *const {name} = work + {start};" if start else f"real_t *const {name} = work;"


@dataclass
class _Statement:
    """A statement with what the loop needs to know about it."""

    st: Statement
    kind: str  # "nt", "nn", "tn", "row", "colsum", "total", "scalar"
    operands: tuple[sp.Symbol, ...] = ()
    init: sp.Expr = sp.Integer(0)


def _width(var: Var) -> int:
    return int(var.shape[-1]) if var.shape and var.shape[-1] != BATCH else 1


def _classify(st: Statement, variables: dict[str, Var]) -> _Statement:
    value = st.value
    products = value.atoms(Dot)
    if products:
        (product,) = products
        rest = sp.expand(value - product) if value != product else sp.Integer(0)
        if rest.has(Dot) or (value != product and not isinstance(value, sp.Add)):
            raise CodegenError(f"cannot write {st.target.name} = {value} as one product")
        left, right = product.args
        if isinstance(right, Transpose) and isinstance(left, sp.Symbol):
            return _Statement(st, "nt", (left, right.args[0]), rest)
        if isinstance(left, Transpose) and isinstance(right, sp.Symbol) and rest == 0:
            return _Statement(st, "tn", (left.args[0], right))
        if isinstance(left, sp.Symbol) and isinstance(right, sp.Symbol):
            return _Statement(st, "nn", (left, right), rest)
        raise CodegenError(f"cannot write the product {product} as a loop")
    shape = st.target.shape
    if shape and shape[0] == BATCH:
        return _Statement(st, "row")
    if not any(variables[n].shape[:1] == (BATCH,) for n in st.reads() if n in variables):
        return _Statement(st, "scalar")  # of parameters and sums: after the loop
    if isinstance(value, BatchSum):
        return _Statement(st, "colsum")
    if shape == () and value.has(Total):
        return _Statement(st, "total")
    if shape == () and not value.has(BatchSum, RowSum, RowMax):
        return _Statement(st, "scalar")
    raise CodegenError(f"cannot write {st.target.name} = {value} as a loop")


class _Writer:
    """Prints the statements of one function as C loops over a block of rows."""

    def __init__(self, part: Program, outputs: tuple[str, ...], dtype: str) -> None:
        self.part = part
        self.variables = part.variables
        self.printer_dtype = dtype
        self.zero = CPrinter(dtype).literal(0.0)
        self.storage: dict[str, str] = {}  # name -> "input", "yhat", "grad", "work", "param"...
        self.reductions = 0
        for out in part.outputs:
            if out.whole is not None and out.name in ("yhat", nt.INPUT_GRADIENT, nt.SAMPLE_LOSSES):
                self.storage[out.whole.name] = "output-rows"
            elif out.whole is not None and out.name != "loss":
                self.storage[out.whole.name] = "grad"

    # entries ---------------------------------------------------------------------------------

    def entry(self, var: Var, unit: str) -> str:
        """The C text of ``var`` at row ``r`` of the block and unit ``unit`` of the row."""
        name = var.name
        width = _width(var)
        column = "" if width == 1 else f" * {width} + {unit}"
        if var.shape and var.shape[0] == BATCH:
            if var.role is Role.INPUT or self.storage.get(name) == "output-rows":
                return f"{name}[(s0 + r){column}]"
            return f"{name}[r{column}]"
        if var.shape:
            return f"{name}[{unit if width > 1 else '0'}]"
        return name

    def block(self, var: Var) -> tuple[str, int]:
        """The first entry of the rows of the block of ``var``, and its row stride."""
        width = _width(var)
        if var.role is Role.INPUT or self.storage.get(var.name) == "output-rows":
            return f"{var.name} + s0 * {width}", width
        return var.name, width

    def printer(self, unit: str) -> CPrinter:
        def index(symbol: sp.Symbol) -> str | None:
            var = self.variables.get(symbol.name)
            return None if var is None else self.entry(var, unit)

        return CPrinter(self.printer_dtype, index)

    def at(self, expr: sp.Expr, unit: str) -> str:
        return self.printer(unit).doprint(expr)

    def row_reductions(self, expr: sp.Expr) -> tuple[sp.Expr, list[str]]:
        """``expr`` with its row sums and maxima replaced by numbers computed first, per row."""
        lines: list[str] = []
        while True:
            nodes = [n for n in expr.atoms(RowSum, RowMax) if not n.args[0].has(RowSum, RowMax)]
            if not nodes:
                return expr, lines
            for node in sorted(nodes, key=sp.default_sort_key):
                arg = node.args[0]
                width = int(shape_of(arg, self.variables)[-1])
                kind = "sum" if isinstance(node, RowSum) else "max"
                name = f"row{kind}{self.reductions}"
                self.reductions += 1
                if kind == "sum":
                    lines.append(f"real_t {name} = {self.zero};")
                    lines += _unit_loop(width, statement(f"{name} += ", self.at(arg, "i"), 4))
                else:
                    lines.append(f"real_t {name} = {self.at(arg, '0')};")
                    first = statement(
                        f"{name} = ", f"fmax{self._suffix}({name}, {self.at(arg, 'i')})", 4
                    )
                    lines += _unit_loop(width, first, start=1)
                expr = expr.xreplace({node: sp.Symbol(name, real=True)})

    @property
    def _suffix(self) -> str:
        return CPrinter(self.printer_dtype).suffix

    def once(self, st: Statement) -> list[str]:
        """A statement after the loop: a number, or an array of a parameter's shape entry by
        entry (a penalty's gradient), its sums over such arrays computed first."""
        value, lines = st.value, []

        def flat(symbol: sp.Symbol) -> str | None:
            var = self.variables.get(symbol.name)
            return None if var is None else f"{var.name}[i]" if var.shape else var.name

        printer = CPrinter(self.printer_dtype, flat)
        for node in sorted(value.atoms(Total), key=sp.default_sort_key):
            name = f"sum{self.reductions}"
            self.reductions += 1
            size = _size(shape_of(node.args[0], self.variables))
            lines.append(f"real_t {name} = {self.zero};")
            lines += _unit_loop(size, statement(f"{name} += ", printer.doprint(node.args[0]), 2))
            value = value.xreplace({node: sp.Symbol(name, real=True)})
        if not st.target.shape:
            return lines + statement(f"const real_t {st.target.name} = ", self.at(value, "0"), 1)
        out = f"{st.target.name}[i]"
        return lines + _unit_loop(
            _size(st.target.shape), statement(f"{out} = ", printer.doprint(value), 2)
        )


def _size(shape: tuple[int | str, ...]) -> int:
    """The number of entries of a shape without the batch dimension."""
    size = 1
    for dim in shape:
        size *= int(dim)
    return size


def _unit_loop(width: int, body: list[str], start: int = 0, unit: str = "i") -> list[str]:
    """``for (size_t i = start; i < width; ++i) { body }``; the body alone for one unit."""
    if width - start <= 0:
        return []
    if width == 1 and start == 0:
        return [line.replace(f"[{unit}]", "[0]") for line in body]
    return [
        f"for (size_t {unit} = {start}; {unit} < {width}; ++{unit}) {{",
        *indented(body),
        "}",
    ]


def _row_loop(body: list[str]) -> list[str]:
    return ["for (size_t r = 0; r < n_rows; ++r) {", *indented(body), "}"]


def looped_body(
    derivation: Derivation,
    program: Program,
    outputs: tuple[str, ...],
    dtype: str,
    block_macro: str = "BLOCK",
    packs: bool = True,
    block_rows: int = BLOCK_ROWS,
) -> tuple[Body, Scratch]:
    """The body of the function that returns ``outputs``, and the scratch it needs (``packs``:
    whether its products copy blocks into the scratch, as the file's own products do;
    ``block_rows``: the default rows of a block)."""
    part = eliminate_common_subexpressions(prune(program, outputs), prefix="T")
    writer = _Writer(part, outputs, dtype)
    items = [_classify(st, part.variables) for st in part.statements]
    scratch = Scratch(packs=packs)
    before: list[str] = []  # zeroed sums
    inside: list[Statement] = []
    after: list[Statement] = []
    code: dict[int, list[str]] = {}  # products: their own loops
    row_body: dict[int, list[str]] = {}  # the rest: the body of a loop over the rows r
    n_totals = 0
    finished_after_loop: set[str] = set()

    def place(var: Var) -> None:
        """Give a temporary its place in the scratch (or a local for a number)."""
        name = var.name
        if name in writer.storage or var.role is not Role.TEMPORARY:
            return
        if not var.shape:
            writer.storage[name] = "local"
        elif var.shape[0] == BATCH:
            writer.storage[name] = "work"
            scratch.rows.append((name, scratch.per_row))
            scratch.per_row += _width(var)
        else:
            writer.storage[name] = "fixed"
            size = 1
            for dim in var.shape:
                size *= int(dim)
            scratch.fixed_arrays.append((name, scratch.fixed))
            scratch.fixed += size

    for item in items:
        st, target = item.st, item.st.target
        if st.reads() & finished_after_loop and item.kind != "scalar":
            raise CodegenError(f"{target.name} reads a number that is known only after the loop")
        place(target)
        n_out = _width(target)
        if item.kind == "nt":
            rows, weight = item.operands
            n_in = int(part.variables[weight.name].shape[1])
            init, pre = writer.row_reductions(item.init)
            out = writer.entry(target, "i")
            lines = _row_loop(
                pre + _unit_loop(n_out, statement(f"{out} = ", writer.at(init, "i"), 4))
            )
            rows_at, rows_stride = writer.block(part.variables[rows.name])
            scratch.products.append((block_rows, n_out, n_in))
            lines += statement(
                "product(",
                f"0, 1, n_rows, {n_out}, {n_in}, {rows_at}, {rows_stride}, {weight.name}, "
                f"{n_in}, {writer.block(target)[0]}, {n_out}, pack)",
                2,
            )
            code[id(st)] = lines
        elif item.kind == "nn":
            rows, weight = item.operands
            n_mid = int(part.variables[weight.name].shape[0])
            init, pre = writer.row_reductions(item.init)
            out = writer.entry(target, "j")
            start = statement(f"{out} = ", writer.at(init, "j"), 4)
            lines = _row_loop(pre + _unit_loop(n_out, start, unit="j"))
            rows_at, rows_stride = writer.block(part.variables[rows.name])
            scratch.products.append((block_rows, n_out, n_mid))
            lines += statement(
                "product(",
                f"0, 0, n_rows, {n_out}, {n_mid}, {rows_at}, {rows_stride}, {weight.name}, "
                f"{n_out}, {writer.block(target)[0]}, {n_out}, pack)",
                2,
            )
            code[id(st)] = lines
        elif item.kind == "tn":
            delta, rows = item.operands
            n_rows_t, n_cols = (int(d) for d in target.shape)
            if writer.storage.get(target.name) != "grad":
                before += _unit_loop(n_rows_t * n_cols, [f"{target.name}[i] = {writer.zero};"])
            # The sum over the rows of the block is the inner index of one product, with the
            # block of Delta read as Delta^T where it is.
            delta_at, delta_stride = writer.block(part.variables[delta.name])
            rows_at, rows_stride = writer.block(part.variables[rows.name])
            scratch.products.append((n_rows_t, n_cols, block_rows))
            lines = statement(
                "product(",
                f"1, 0, {n_rows_t}, {n_cols}, n_rows, {delta_at}, {delta_stride}, {rows_at}, "
                f"{rows_stride}, {target.name}, {n_cols}, pack)",
                2,
            )
            code[id(st)] = lines
        elif item.kind == "row":
            value, pre = writer.row_reductions(st.value)
            out = writer.entry(target, "i")
            row_body[id(st)] = pre + _unit_loop(
                n_out, statement(f"{out} = ", writer.at(value, "i"), 4)
            )
        elif item.kind == "colsum":
            (arg,) = st.value.args
            if writer.storage.get(target.name) != "grad":
                before += _unit_loop(n_out, [f"{target.name}[i] = {writer.zero};"])
            value, pre = writer.row_reductions(arg)
            added = statement(f"{target.name}[i] += ", writer.at(value, "i"), 4)
            row_body[id(st)] = pre + _unit_loop(n_out, added)
        elif item.kind == "total":
            sums: list[str] = []
            value = st.value
            lines = []
            for node in sorted(value.atoms(Total), key=sp.default_sort_key):
                name = f"total{n_totals}"
                n_totals += 1
                sums.append(name)
                arg, pre = writer.row_reductions(node.args[0])
                width = int(shape_of(node.args[0], part.variables)[-1])
                lines += pre + _unit_loop(width, statement(f"{name} += ", writer.at(arg, "i"), 4))
                value = value.xreplace({node: sp.Symbol(name, real=True)})
            before += declarations("real_t", [f"{s} = {writer.zero}" for s in sums], 0)
            row_body[id(st)] = lines
            after.append(Statement(target, value, st.step, st.note))
            finished_after_loop.add(target.name)
        else:  # a number of numbers: after the loop
            after.append(st)
            finished_after_loop.add(target.name)
            continue
        inside.append(st)

    body = Body(uses_work=True)
    # Consecutive statements that work row by row share one loop over the rows of the block.
    loop_blocks: list[CBlock] = []
    run: list[Statement] = []

    def close_run() -> None:
        if not run:
            return
        inner = from_blocks(statement_blocks(derivation, run, lambda s: row_body[id(s)]), 3)
        inner[0] = replace(inner[0], blank_before=False)
        loop_blocks.append(CBlock((), ("for (size_t r = 0; r < n_rows; ++r) {",), 2))
        loop_blocks.extend(inner)
        loop_blocks.append(CBlock((), ("}",), 2, blank_before=False))
        run.clear()

    for st in inside:
        if id(st) in row_body:
            run.append(st)
            continue
        close_run()
        loop_blocks += from_blocks(statement_blocks(derivation, [st], lambda s: code[id(s)]), 2)
    close_run()
    loop_blocks[0] = replace(loop_blocks[0], blank_before=False)
    after_blocks = from_blocks(statement_blocks(derivation, after, writer.once), depth=1)
    if before:
        note = "Before the loop: the sums over the batch start at zero."
        body.blocks.append(CBlock(comment_lines([note]), tuple(before), 1))
    body.blocks.append(
        CBlock(
            comment_lines(
                [
                    f"One pass over the batch in blocks of {block_macro} rows ({block_rows} unless "
                    "defined otherwise): each statement runs over the rows r of the block (rows "
                    "s0 + r of X and Y)."
                ]
            ),
            (
                "for (size_t s0 = 0; s0 < rows; s0 += block) {",
                "    const size_t n_rows = rows - s0 < block ? rows - s0 : block;",
            ),
            1,
        )
    )
    body.blocks += loop_blocks
    body.blocks.append(CBlock((), ("}",), 1, blank_before=False))
    body.blocks += after_blocks
    if "loss" in outputs:
        value_var = part.output("loss").whole
        assert value_var is not None
        body.blocks.append(CBlock((loss_note(part),), (f"*loss = {value_var.name};",), 1))
    body.uses_batch_size = any(
        sp.Symbol("B", real=True) in st.value.free_symbols for st in part.statements
    )
    return body, scratch


__all__ = ["BLAS_BLOCK_ROWS", "BLOCK_ROWS", "ProductBlocks", "Scratch", "looped_body"]
