"""Lowering: the derivation becomes a program, op by op, whole matrices over the batch or scalar by
scalar.

Part of the program stage (derivation -> proof -> **program** -> targets). Both lowerings walk
the network's graph in its two orders (the ops forward, then the quantities whose gradient
backpropagation computes) and hand each op the steps it owns; an op writes their statements
through the lowering (:class:`~symgrad.ops.base.Lowering`), or lets the matrix lowering translate
its step as the notes write it. Every statement is tagged with the step it implements:

:func:`lower_matrix`
    Rows are samples. A step's matrix form for a mini-batch is translated: ``V W_k^T`` and
    ``Delta W`` are matrix products, ``1 b^T`` is the row ``b`` broadcast over the rows,
    ``Delta^T 1`` the sum of the rows (a parameter's gradient sums over the samples), ``(.)`` is
    elementwise. ``Delta_k`` holds the rows ``grad_{a_k} L / B``: the loss of a batch is the mean
    of the samples' losses.
:func:`lower_scalar`
    Every elementwise step is instantiated for every index: one statement per scalar, each a column
    of the batch (``(B,)``); a parameter's gradient sums its column over the batch.

Where generated code must not use the formula of the notes as written (an exponential that can
overflow, ``yhat - y`` that assumes ``sum_i y_i = 1``), the op's statement takes the catalogue's
code form, which the proof checks against the definition, and its note says why.
"""

from __future__ import annotations

from typing import Any

import sympy as sp

from symgrad import notation as nt
from symgrad.arrays import BatchSum, Dot, Logistic, RowSum, Total, Transpose, written_out
from symgrad.derivation import Derivation, Kind, Step, StepId
from symgrad.errors import SymgradError
from symgrad.model import Elementwise
from symgrad.notation import Quantity
from symgrad.program.ir import BATCH, Holds, Output, Program, Role, Shape, Statement, Style, Var

#: Largest network (number of scalar parameters) whose scalar program generated code prints
#: (the unrolled styles); the proof checks the weighted scalar program up to it too.
SCALAR_MAX_PARAMETERS = 400

#: The variable of the per-sample losses in a weighted program (its output ``sample_losses``).
LOSSES = "losses"

#: The number of rows of the batch, an input of every program.
BATCH_SIZE = Var("B", (), Role.INPUT, Holds(None))


class LoweringError(SymgradError):
    """A form of the derivation that the lowering does not know how to translate."""


def total(expr: sp.Expr, units: int, per_row: bool = True) -> sp.Expr:
    """``Total(expr)``: the sum over the batch of a row form of ``units`` units, distributed over
    sums and constant factors.

    ``expr`` has one value per row (``per_row``, as a per-sample loss), or one per unit (the
    argument of a row sum): a constant term ``c`` sums to ``B c``, or ``B n c``.
    ``Total(RowSum(e))`` is ``Total(e)``: the sum over the rows of the sums over each row.
    """
    if isinstance(expr, sp.Add):
        return sp.Add(*[total(term, units, per_row) for term in expr.args])
    if expr.is_number:
        return expr * BATCH_SIZE.symbol * (1 if per_row else units)
    if isinstance(expr, sp.Mul):
        coefficient, rest = expr.as_coeff_Mul()
        if coefficient != 1:
            return coefficient * total(rest, units, per_row)
    if isinstance(expr, RowSum):
        return total(expr.args[0], units, per_row=False)
    return Total(expr)


def _role(q: Quantity) -> Role:
    if q.gradient:
        return Role.TEMPORARY
    if q.base in ("x", "y", nt.ROW_WEIGHT):
        return Role.INPUT
    return Role.PARAMETER if q.base in ("W", "b") else Role.TEMPORARY


class _Lowering:
    """What both lowerings share: the derivation, the variables made so far, the statements."""

    def __init__(
        self, derivation: Derivation, weighted: bool = False, logistic: bool = False
    ) -> None:
        self.d = derivation
        #: Whether the sigmoid stays the primitive :class:`~symgrad.arrays.Logistic` (for a target
        #: that calls its library's own exact sigmoid) rather than its stable form written out.
        self.logistic = logistic
        #: Whether the loss of a batch weighs its rows by the input ``r`` (``w_s / sum(w)``, or
        #: ``1/B``) rather than dividing by ``B``; the per-sample losses are an output then.
        self.weighted = weighted
        #: The variable of the per-sample losses, once an op has made it (weighted programs).
        self.sample_losses: Var | None = None
        self.spec = derivation.spec
        self.net = derivation.network
        self.L = self.spec.depth
        self.statements: list[Statement] = []
        self.variables: dict[str, Var] = {BATCH_SIZE.name: BATCH_SIZE}
        #: The variable that holds each quantity now, by quantity and entry; the program's
        #: outputs read them. A layer kind may have another quantity stand for one (weight decay:
        #: the gradient of the objective for the gradient of the loss, see ``stands_for``).
        self.holding: dict[tuple[Quantity, tuple[int, ...]], Var] = {}
        self.batch = BATCH_SIZE.symbol
        self.total = total

    def n(self, k: int) -> int:
        return self.spec.sizes[k]

    def row_weight(self) -> sp.Expr | None:
        """The weight of each row in the loss of a batch (a column of the batch), None when the
        program divides by ``B``."""
        return self.symbol(nt.quantity(nt.ROW_WEIGHT)) if self.weighted else None  # type: ignore[attr-defined]

    def per_sample_losses(self, value: sp.Expr, step: Step, note: str) -> sp.Symbol:
        """``value``, the loss of each row, in a variable of its own: the program's output
        ``sample_losses`` (weighted programs)."""
        symbol = self.emit(LOSSES, value, step, note, columns=1)  # type: ignore[attr-defined]
        self.sample_losses = self.variables[LOSSES]
        return symbol

    def weighted_outputs(self) -> tuple[list[Var], list[Output]]:
        """The input ``r`` and the output ``sample_losses`` of a weighted program."""
        if not self.weighted or self.sample_losses is None:
            return [], []
        weight = self.holding[(nt.quantity(nt.ROW_WEIGHT), ())]
        out = self.sample_losses
        if out.shape == (BATCH,):  # a column of a scalar program
            return [weight], [Output(nt.SAMPLE_LOSSES, (), entries=(out.symbol,))]
        return [weight], [Output(nt.SAMPLE_LOSSES, (), whole=out)]

    def step(self, kind: Kind, layer: int) -> Step:
        """The derivation's step of ``kind`` and ``layer``."""
        return self.d.step(StepId(kind, layer))

    def add(self, target: Var, value: sp.Expr, step: Step | StepId | None, note: str) -> sp.Symbol:
        self.variables[target.name] = target
        id = step.id if isinstance(step, Step) else step  # noqa: A001 - a step's id
        value = sp.sympify(value)
        if not self.logistic:
            value = written_out(value, Logistic)
        self.statements.append(Statement(target, value, id, note))
        return target.symbol

    def width(self, q: Quantity) -> int:
        """The number of units of a vector quantity of one sample."""
        if q.base in ("y", "yhat"):
            return self.n(self.L)
        return self.n(q.layer or 0)

    def walk(self) -> None:
        """The statements of every op: the forward pass in order, then the gradients in the
        order backpropagation computes them."""
        net = self.net
        for op in net.forward_order():
            self.forward(op)
        for q in net.backward_order():
            self.backward(q)

    def forward(self, op: Any) -> None:
        raise NotImplementedError

    def backward(self, q: Quantity) -> None:
        raise NotImplementedError


# ------------------------------------------------------------------------------------------------
# Whole matrices
# ------------------------------------------------------------------------------------------------


class _MatrixLowering(_Lowering):
    def shape(self, q: Quantity) -> Shape:
        if q.base == "W":
            return (self.n(q.layer or 0), self.n((q.layer or 0) - 1))
        if q.base == "b":
            return (self.n(q.layer or 0),)
        if q.base == "loss":
            return ()
        if q.base == nt.ROW_WEIGHT:
            return (BATCH, 1)
        return (BATCH, self.width(q))

    def var(self, q: Quantity, shape: Shape | None = None) -> Var:
        """The variable holding ``q`` whole (made on first use)."""
        found = self.holding.get((q, ()))
        if found is not None:
            return found
        per_batch = q.gradient and q.base in ("a", "h")
        made = Var(
            q.program,
            self.shape(q) if shape is None else shape,
            _role(q),
            Holds(q, per_batch=per_batch),
        )
        self.variables[made.name] = made
        self.holding[(q, ())] = made
        return made

    def symbol(self, q: Quantity) -> sp.Symbol:
        return self.var(q).symbol

    def emit(
        self,
        target: Quantity | str,
        value: sp.Expr,
        step: Step | StepId,
        note: str = "",
        *,
        columns: int | None = None,
        shape: Shape | None = None,
        stands_for: Quantity | None = None,
    ) -> sp.Symbol:
        """``target = value``: a quantity or a temporary's name, ``columns`` wide; with
        ``stands_for``, the variable holds that quantity from here on (what reads it after, and
        the program's output of it, read this one)."""
        if isinstance(target, str):
            made = Var(target, shape or (BATCH, columns or 1))
            return self.add(made, value, step, note)
        if columns is not None:
            shape = (BATCH, columns)
        made = self.var(target, shape)
        if stands_for is not None:
            self.holding[(stands_for, ())] = made
        return self.add(made, value, step, note)

    def translate(self, expr: sp.Basic) -> sp.Expr:
        """A matrix form of a mini-batch step (rows are samples) as an expression of arrays.

        ``V W^T`` and ``Delta W`` are matrix products, ``1 b^T`` is the row ``b`` broadcast over
        the rows, ``Delta^T 1`` the sum of the rows, ``(.)`` elementwise.
        """
        if isinstance(expr, nt.QuantitySymbol):
            return self.symbol(expr.quantity)
        if isinstance(expr, sp.OneMatrix):
            return sp.Integer(1)
        if isinstance(expr, sp.MatAdd):
            return sp.Add(*[self.translate(arg) for arg in expr.args])
        if isinstance(expr, sp.HadamardProduct):
            return sp.Mul(*[self.translate(arg) for arg in expr.args])
        if isinstance(expr, sp.HadamardPower):
            return sp.Pow(self.translate(expr.base), expr.exp)
        if isinstance(expr, sp.MatMul):
            return self._product(expr)
        if isinstance(expr, Elementwise):
            variable = expr.function.variables[0]
            return expr.function.expr.xreplace({variable: self.translate(expr.arg)})
        raise LoweringError(f"cannot lower {type(expr).__name__} to whole arrays: {expr}")

    def _product(self, expr: sp.MatMul) -> sp.Expr:
        coefficient = sp.Mul(*[a for a in expr.args if not a.is_Matrix])
        matrices = [a for a in expr.args if a.is_Matrix]
        if len(matrices) == 1:  # a number times a matrix: -H, (1/B) (Yhat - Y)
            return coefficient * self.translate(matrices[0])
        left, right = matrices
        if isinstance(left, sp.OneMatrix) and isinstance(right, sp.Transpose):
            value = self.translate(right.arg)  # 1 b^T: the row b, broadcast over the rows
        elif isinstance(left, sp.Transpose) and isinstance(right, sp.OneMatrix):
            value = BatchSum(self.translate(left.arg))  # Delta^T 1: the sum of the rows
        elif isinstance(left, sp.Transpose):
            value = Dot(Transpose(self.translate(left.arg)), self.translate(right))
        elif isinstance(right, sp.Transpose):
            value = Dot(self.translate(left), Transpose(self.translate(right.arg)))
        else:
            value = Dot(self.translate(left), self.translate(right))
        return coefficient * value

    def lower_step(self, ops: tuple[Any, ...], step: Step) -> None:
        """``step`` by the first of ``ops`` that writes it, else as its first form says."""
        for op in ops:
            if op.lower_matrix(self, step):
                return
        lhs = step.lhs
        if not isinstance(lhs, nt.QuantitySymbol):
            raise LoweringError(f"step {step.key} holds no quantity of the notation")
        self.emit(lhs.quantity, self.translate(step.forms[0]), step)

    def forward(self, op: Any) -> None:
        for step in op.batch_forward(self.net):
            self.lower_step((op,), self.d.step(step.id))  # the derivation's step: what is proved

    def backward(self, q: Quantity) -> None:
        consumers = self.net.consumers(q)
        for step in self.net.batch_gradient_steps(q):
            self.lower_step(consumers, self.d.step(step.id))

    def lower(self) -> Program:
        self.walk()
        L = self.L
        inputs = (
            BATCH_SIZE,
            self.var(nt.quantity("x")),
            self.var(nt.quantity("y")),
        )
        keys = [nt.quantity(b, k) for k in range(1, L + 1) for b in "Wb"]
        parameters = tuple(self.var(q) for q in keys)
        outputs = [
            Output("loss", (), whole=self.var(nt.quantity("loss"))),
            Output("yhat", (self.n(L),), whole=self.var(nt.quantity("yhat"))),
        ]
        for q, parameter in zip(keys, parameters, strict=True):
            shape = tuple(int(d) for d in parameter.shape)
            outputs.append(Output(q.json, shape, whole=self.var(q.grad())))
        if self.net.input_gradient:
            source = self.var(nt.quantity("h", 0).grad())
            outputs.append(Output(nt.INPUT_GRADIENT, (self.n(0),), whole=source))
        weight, losses = self.weighted_outputs()
        return Program(
            self.spec,
            Style.MATRIX,
            (*inputs, *weight),
            parameters,
            tuple(self.statements),
            (*outputs, *losses),
        )


def lower_matrix(
    derivation: Derivation, *, weighted: bool = False, logistic: bool = False
) -> Program:
    """The program of whole arrays over the batch (rows are samples).

    ``weighted``: the loss of a batch is ``sum_s r_s L^(s)`` with the row weights ``r`` an input
    (``1/B`` gives the mean; ``w / sum(w)`` weighs the samples by ``w``), the rows of ``Delta_L``
    are ``r_s grad_{a_L} L^(s)``, and the per-sample losses are an output.

    ``logistic``: the sigmoid stays the primitive :class:`~symgrad.arrays.Logistic`, for a target
    that calls its library's own exact sigmoid; else it is written out in its stable form.
    """
    return _MatrixLowering(derivation, weighted, logistic).lower()


# ------------------------------------------------------------------------------------------------
# Scalar by scalar
# ------------------------------------------------------------------------------------------------


class _ScalarLowering(_Lowering):
    def var(self, q: Quantity, entry: tuple[int, ...], shape: Shape | None = None) -> Var:
        """The variable of one entry (0-based) of ``q``.

        Parameters and their gradients (sums over the batch) and the loss are numbers, as is a
        quantity made with ``shape=()``; every other entry is a column of the batch.
        """
        found = self.holding.get((q, entry))
        if found is not None:
            return found
        whole = q.base in ("W", "b", "loss") or shape == ()  # numbers, not columns of the batch
        shape = () if whole else (BATCH,)
        per_batch = q.gradient and q.base in ("a", "h")
        made = Var(q.entry(*entry), shape, _role(q), Holds(q, entry, per_batch))
        self.variables[made.name] = made
        self.holding[(q, entry)] = made
        return made

    def symbol(self, q: Quantity, entry: tuple[int, ...] = ()) -> sp.Symbol:
        return self.var(q, entry).symbol

    def emit(
        self,
        target: Quantity | str,
        value: sp.Expr,
        step: Step | StepId,
        note: str = "",
        *,
        entry: tuple[int, ...] = (),
        shape: Shape | None = None,
        stands_for: Quantity | None = None,
        **_: Any,
    ) -> sp.Symbol:
        if isinstance(target, str):
            return self.add(Var(target, (BATCH,)), value, step, note)
        made = self.var(target, entry, shape)
        if stands_for is not None:
            self.holding[(stands_for, entry)] = made
        return self.add(made, value, step, note)

    def code_entry(self, name: str, i: int) -> Quantity | str:
        """Where entry ``i`` of an intermediate of the output layer's code forms goes."""
        if name == nt.quantity("yhat").program:
            return nt.quantity("yhat")
        return nt.code_temporary(name, self.L, i)

    def code_total(self, name: str) -> str:
        """The variable of an intermediate of the code forms that is one number per row."""
        return nt.code_temporary(name, self.L)

    def scalars(self, expr: sp.Expr) -> sp.Expr:
        """An instantiated elementwise form with every object replaced by its variable.

        ``dL/da_{ki}`` is the variable ``d{k}_{i-1}`` and ``dL/dh_{kj}`` is ``gh{k}_{j-1}``.
        """

        def partial(e: sp.Derivative) -> sp.Expr:
            q, indices = nt.entry_quantity(e.variables[0])
            return self.symbol(q.grad(), tuple(int(i) - 1 for i in indices))

        def entry(e: sp.Indexed) -> sp.Expr:
            q, indices = nt.entry_quantity(e)
            return self.symbol(q, tuple(int(i) - 1 for i in indices))

        value = expr.replace(lambda e: isinstance(e, sp.Derivative) and e.expr == nt.LOSS, partial)
        return value.replace(lambda e: isinstance(e, sp.Indexed), entry)

    def forward(self, op: Any) -> None:
        op.lower_scalar(self, None)

    def backward(self, q: Quantity) -> None:
        for op in self.net.consumers(q):
            op.lower_scalar(self, q)

    def lower(self) -> Program:
        self.walk()
        L = self.L
        inputs = [BATCH_SIZE]
        inputs += [self.var(nt.quantity("x"), (j,)) for j in range(self.n(0))]
        inputs += [self.var(nt.quantity("y"), (i,)) for i in range(self.n(L))]
        yhat = nt.quantity("yhat")
        outputs = [
            Output("loss", (), whole=self.var(nt.quantity("loss"), ())),
            Output(
                "yhat",
                (self.n(L),),
                entries=tuple(self.symbol(yhat, (i,)) for i in range(self.n(L))),
            ),
        ]
        parameters: list[Var] = []
        for k in range(1, L + 1):
            rows, cols = self.n(k), self.n(k - 1)
            for base, indices in (
                ("W", [(i, j) for i in range(rows) for j in range(cols)]),
                ("b", [(i,) for i in range(rows)]),
            ):
                q = nt.quantity(base, k)
                parameters += [self.var(q, index) for index in indices]
                shape = (rows, cols) if base == "W" else (rows,)
                gradient = tuple(self.symbol(q.grad(), index) for index in indices)
                outputs.append(Output(q.json, shape, entries=gradient))
        if self.net.input_gradient:
            source = nt.quantity("h", 0).grad()
            entries = tuple(self.symbol(source, (j,)) for j in range(self.n(0)))
            outputs.append(Output(nt.INPUT_GRADIENT, (self.n(0),), entries=entries))
        weight, losses = self.weighted_outputs()
        return Program(
            self.spec,
            Style.SCALAR,
            (*inputs, *weight),
            tuple(parameters),
            tuple(self.statements),
            (*outputs, *losses),
        )


def lower_scalar(derivation: Derivation, *, weighted: bool = False) -> Program:
    """The program of one statement per scalar, each a column of the batch (``weighted``: as
    :func:`lower_matrix` says, ``r`` a column)."""
    return _ScalarLowering(derivation, weighted).lower()
