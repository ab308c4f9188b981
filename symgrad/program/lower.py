"""Lowering: the derivation becomes a program, whole matrices over the batch or scalar by scalar.

Part of the program stage (derivation -> proof -> **program** -> targets). Both lowerings read the
derivation's steps and translate them, and tag every statement with the step it implements:

:func:`lower_matrix`
    Rows are samples. A step's matrix form for one sample (column vectors) is translated to the
    batch: ``v`` becomes the ``(B, n)`` array of its rows, ``W_k v`` becomes ``V W_k^T``,
    ``W^T g`` becomes ``G W``, ``(.)`` is elementwise, and a parameter's gradient, a sum over the
    samples, becomes ``Delta_k^T H_{k-1}`` and the column sums of ``Delta_k``. ``Delta_k`` holds the
    rows ``grad_{a_k} L / B``: the loss of a batch is the mean of the samples' losses.
``lower_scalar``
    Every elementwise step is instantiated for every index: one statement per scalar, each a column
    of the batch (``(B,)``); a parameter's gradient sums its column over the batch.

Where generated code must not use the formula of the notes as written (an exponential that can
overflow, ``yhat - y`` that assumes ``sum_i y_i = 1``), the statement takes the catalogue's code
form, which the proof checks against the definition, and its note says why.
"""

from __future__ import annotations

import sympy as sp

from symgrad import arrays
from symgrad import notation as nt
from symgrad.arrays import BatchSum, Dot, RowSum, Total, Transpose
from symgrad.catalogue import CodeStep
from symgrad.catalogue import H as H_OUTPUT
from symgrad.derivation import (
    BATCH_OF,
    Derivation,
    Kind,
    StepId,
    batch_pass,
    forward_pass,
    layers_backward,
)
from symgrad.errors import SymgradError
from symgrad.expressions import X as X_INPUT
from symgrad.model import Elementwise, instantiate
from symgrad.program.ir import (
    BATCH,
    Output,
    Program,
    Quantity,
    Role,
    Shape,
    Statement,
    Style,
    Var,
)

#: The number of rows of the batch, an input of every program.
BATCH_SIZE = Var("B", (), Role.INPUT, Quantity("B"))

#: Rows of at most this many output units keep a reduction over the row (the softmax's maximum
#: and sum, squared error's sum of R yhat) inside each unit's scalar expression, as the notes
#: write it (common-subexpression elimination finds it again); on wider rows it is computed once,
#: in a statement of its own, so that the scalar program grows linearly with n_L, not with n_L^2.
INLINE_REDUCTION_UNITS = 3

#: The gradients of one sample that the program holds divided by ``B`` (its rows of ``Delta``).
_PER_BATCH = frozenset({"grad_a", "grad_h"})


class LoweringError(SymgradError):
    """A form of the derivation that the lowering does not know how to translate."""


def total(expr: sp.Expr) -> sp.Expr:
    """``Total(expr)``, the sum of every entry, distributed over sums and constant factors.

    ``Total(RowSum(e))`` is ``Total(e)``: the sum over the rows of the sums over each row.
    """
    if isinstance(expr, sp.Add):
        return sp.Add(*[total(term) for term in expr.args])
    if isinstance(expr, sp.Mul):
        coefficient, rest = expr.as_coeff_Mul()
        if coefficient != 1:
            return coefficient * total(rest)
    if isinstance(expr, RowSum):
        return total(expr.args[0])
    return Total(expr)


def _row_varying(expr: sp.Expr, row_symbols: frozenset[sp.Symbol]) -> bool:
    """True when a row form has one value per unit (not one per row, like ``RowSum(e)``)."""
    if isinstance(expr, (arrays.RowSum, arrays.RowMax)):
        return False
    if isinstance(expr, sp.Symbol):
        return expr in row_symbols
    return any(_row_varying(arg, row_symbols) for arg in expr.args)


class _Lowering:
    """What both lowerings share: the derivation, the variables made so far, the statements."""

    def __init__(self, derivation: Derivation) -> None:
        self.d = derivation
        self.spec = derivation.spec
        self.net = derivation.network
        self.L = self.spec.depth
        self.statements: list[Statement] = []
        self.variables: dict[str, Var] = {BATCH_SIZE.name: BATCH_SIZE}

    def n(self, k: int) -> int:
        return self.spec.sizes[k]

    def emit(self, target: Var, value: sp.Expr, step: StepId | None, note: str = "") -> sp.Symbol:
        self.variables[target.name] = target
        self.statements.append(Statement(target, sp.sympify(value), step, note))
        return target.symbol

    def id(self, kind: Kind, layer: int | None = None) -> StepId:
        return StepId(kind, self.L if layer is None else layer)


# ------------------------------------------------------------------------------------------------
# Whole matrices
# ------------------------------------------------------------------------------------------------


class _MatrixLowering(_Lowering):
    def var(self, base: str, k: int | None, shape: Shape, role: Role = Role.TEMPORARY) -> Var:
        name = nt.program_name(base, k)
        found = self.variables.get(name)
        if found is not None:
            return found
        meaning = Quantity(base, k, per_batch=base in _PER_BATCH)
        made = Var(name, shape, role, meaning)
        self.variables[name] = made
        return made

    def rows(self, base: str, k: int | None) -> sp.Symbol:
        """The ``(B, n)`` array of the rows of the vector ``base_k``."""
        if base == "h" and k == 0:
            base, k = "x", None
        width = self.n(0) if base == "x" else self.n(self.L if k is None else k)
        role = Role.INPUT if base in {"x", "y"} else Role.TEMPORARY
        return self.var(base, k, (BATCH, width), role).symbol

    def parameter(self, base: str, k: int) -> sp.Symbol:
        shape: Shape = (self.n(k), self.n(k - 1)) if base == "W" else (self.n(k),)
        return self.var(base, k, shape, Role.PARAMETER).symbol

    def translate(self, expr: sp.Basic) -> sp.Expr:
        """A matrix form of a mini-batch step (rows are samples) as an expression of arrays.

        ``V W^T`` and ``Delta W`` are matrix products, ``1 b^T`` is the row ``b`` broadcast over
        the rows, ``Delta^T 1`` the sum of the rows, ``(.)`` elementwise.
        """
        if isinstance(expr, sp.MatrixSymbol):
            return self._symbol(expr)
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
            return self._elementwise(expr)
        raise LoweringError(f"cannot lower {type(expr).__name__} to whole arrays: {expr}")

    def _elementwise(self, expr: Elementwise) -> sp.Expr:
        """``f`` applied entry by entry. ``g'(A_k)`` and ``g(A_k)`` are computed as the catalogue's
        code does (proved equal to them, and free of the overflow of ``1/(1 + exp(-a))``)."""
        arg = expr.arg
        if isinstance(arg, sp.MatrixSymbol):
            kind = nt.matrix_kind(arg.name)
            k = kind.layer or 0
            if kind.base == "A" and 0 < k < self.L:
                act = self.spec.activation(k)
                if expr.function in (
                    sp.Lambda(X_INPUT, act.shown_derivative),
                    sp.Lambda(X_INPUT, self.net.g_prime(k)(X_INPUT)),
                ):
                    return self.slope(k)
                if expr.function in (
                    sp.Lambda(X_INPUT, act.shown_function),
                    sp.Lambda(X_INPUT, self.net.g(k)(X_INPUT)),
                ):
                    return act.code_function.xreplace({X_INPUT: self.rows("a", k)})
        variable = expr.function.variables[0]
        return expr.function.expr.xreplace({variable: self.translate(arg)})

    #: The batch matrices of the notation and the program's names for them.
    _BATCH_NAMES = {"A": "a", "H": "h", "X": "x", "Y": "y", "Yhat": "yhat", "Delta": "grad_a"}

    def _symbol(self, expr: sp.MatrixSymbol) -> sp.Expr:
        kind = nt.matrix_kind(expr.name)
        if kind.base in {"W", "b"}:
            return self.parameter(kind.base, kind.layer or 0)
        if kind.base == "G":
            return self.rows("grad_h", kind.layer)
        if kind.base in self._BATCH_NAMES:
            return self.rows(self._BATCH_NAMES[kind.base], kind.layer)
        raise LoweringError(f"no array holds {expr.name}")

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

    def slope(self, k: int) -> sp.Expr:
        """``g'(A_k)`` as the code computes it (from ``A_k`` or ``H_k``)."""
        slope = self.spec.activation(k).code_slope
        return slope.xreplace({X_INPUT: self.rows("a", k), H_OUTPUT: self.rows("h", k)})

    # the program ---------------------------------------------------------------------------

    def lower(self) -> Program:
        """The mini-batch steps, in computing order; the output layer from the pair's code."""
        targets = {
            Kind.BATCH_FORWARD: "a",
            Kind.BATCH_ACTIVATION: "h",
            Kind.BATCH_HIDDEN_GRAD: "grad_h",
            Kind.BATCH_HIDDEN_DELTA: "grad_a",
        }
        for id in batch_pass(self.L):
            k = id.layer
            step = self.d.step(id)
            if id.kind in {Kind.BATCH_PREDICTION, Kind.BATCH_LOSS, Kind.BATCH_OUTPUT_DELTA}:
                if id.kind is Kind.BATCH_PREDICTION:
                    self.output_layer()
                continue
            if id.kind is Kind.BATCH_WEIGHT:
                target = self.var("grad_W", k, (self.n(k), self.n(k - 1)))
            elif id.kind is Kind.BATCH_BIAS:
                target = self.var("grad_b", k, (self.n(k),))
            else:
                target = self.var(targets[id.kind], k, (BATCH, self.n(k)))
            note = ""
            if id.kind is Kind.BATCH_ACTIVATION:
                note = self.spec.activation(k).stable_note
            elif id.kind is Kind.BATCH_HIDDEN_DELTA:
                note = self.spec.activation(k).slope_note
            self.emit(target, self.translate(step.forms[0]), id, note)
        return self._program()

    def output_layer(self) -> None:
        """``yhat``, the mean loss and ``Delta_L`` from the pair's code forms."""
        L, pair = self.L, self.spec.pair
        width = self.n(L)
        names: dict[sp.Symbol, sp.Expr] = {arrays.ROW_A: self.rows("a", L)}
        names[arrays.ROW_Y] = self.rows("y", None)
        row_symbols = frozenset({arrays.ROW_A, arrays.ROW_Y})
        for code in pair.code_steps:
            row_symbols = self._code_step(code, names, row_symbols, width)
        yhat = pair.code_prediction.xreplace(names)
        if not (isinstance(yhat, sp.Symbol) and yhat.name == nt.program_name("yhat")):
            # Built from the pair's intermediates, whose notes say how it is kept stable.
            note = "" if pair.code_steps else pair.output.code_note
            target = self.var("yhat", None, (BATCH, width))
            self.emit(target, yhat, self.id(Kind.BATCH_PREDICTION), note)
        batch = BATCH_SIZE.symbol
        loss = total(pair.code_loss.xreplace(names)) / batch
        self.emit(self.var("loss", None, ()), loss, self.id(Kind.BATCH_LOSS), pair.loss_note)
        delta = pair.code_delta.xreplace(names) / batch
        note = pair.delta_note
        target = self.var("grad_a", L, (BATCH, width))
        self.emit(target, delta, self.id(Kind.BATCH_OUTPUT_DELTA), note)

    def _code_step(
        self,
        code: CodeStep,
        names: dict[sp.Symbol, sp.Expr],
        row_symbols: frozenset[sp.Symbol],
        width: int,
    ) -> frozenset[sp.Symbol]:
        value = code.value.xreplace(names)
        varying = _row_varying(code.value, row_symbols)
        shape: Shape = (BATCH, width) if varying else (BATCH, 1)
        if code.name == nt.program_name("yhat"):
            target = self.var("yhat", None, shape)
        else:
            target = Var(code.name, shape)
        implements = Kind(code.implements)
        step = StepId(BATCH_OF.get(implements, implements), self.L)
        symbol = self.emit(target, value, step, code.note)
        names[sp.Symbol(code.name, real=True)] = symbol
        own = sp.Symbol(code.name, real=True)
        return row_symbols | {own} if varying else row_symbols

    def _program(self) -> Program:
        L = self.L
        inputs = (
            BATCH_SIZE,
            self.var("x", None, (BATCH, self.n(0)), Role.INPUT),
            self.var("y", None, (BATCH, self.n(L)), Role.INPUT),
        )
        parameters = []
        for k in range(1, L + 1):
            self.parameter("W", k)
            self.parameter("b", k)
            parameters += [self.variables[f"W{k}"], self.variables[f"b{k}"]]
        outputs = [
            Output("loss", (), whole=self.variables[nt.program_name("loss")]),
            Output("yhat", (self.n(L),), whole=self.variables[nt.program_name("yhat")]),
        ]
        for k in range(1, L + 1):
            outputs.append(
                Output(
                    nt.param_key("W", k),
                    (self.n(k), self.n(k - 1)),
                    whole=self.variables[nt.program_name("grad_W", k)],
                )
            )
            outputs.append(
                Output(
                    nt.param_key("b", k),
                    (self.n(k),),
                    whole=self.variables[nt.program_name("grad_b", k)],
                )
            )
        return Program(
            self.spec,
            Style.MATRIX,
            inputs,
            tuple(parameters),
            tuple(self.statements),
            tuple(outputs),
        )


def lower_matrix(derivation: Derivation) -> Program:
    """The program of whole arrays over the batch (rows are samples)."""
    return _MatrixLowering(derivation).lower()


# ------------------------------------------------------------------------------------------------
# Scalar by scalar
# ------------------------------------------------------------------------------------------------


class _ScalarLowering(_Lowering):
    def entry(self, base: str, k: int | None, *index: int, role: Role = Role.TEMPORARY) -> Var:
        """The variable of one entry (0-based ``index``) of ``base_k``.

        Parameters and their gradients (sums over the batch) are numbers; every other entry is
        a column of the batch.
        """
        name = nt.program_entry(base, k, *index)
        found = self.variables.get(name)
        if found is not None:
            return found
        if base == "h" and k == 0:
            base, k = "x", None
        whole = role is Role.PARAMETER or base in {"grad_W", "grad_b"}
        shape: Shape = () if whole else (BATCH,)
        if base in {"x", "y"}:
            role = Role.INPUT
        meaning = Quantity(base, k, tuple(index), per_batch=base in _PER_BATCH)
        made = Var(name, shape, role, meaning)
        self.variables[name] = made
        return made

    def symbol_of(self, entry: sp.Indexed) -> sp.Symbol:
        """The variable of an elementwise object of the notation (``W_{2,1,3}`` -> ``W2_0_2``)."""
        base, indices = nt.index_parts(entry)
        numbers = [int(i) for i in indices]
        if base in {"W", "b"}:
            k, rest = numbers[0], numbers[1:]
            return self.entry(base, k, *[i - 1 for i in rest], role=Role.PARAMETER).symbol
        if base in {"x", "y", "yhat"}:
            return self.entry(base, None, numbers[0] - 1).symbol
        return self.entry(base, numbers[0], numbers[1] - 1).symbol

    def scalars(self, expr: sp.Expr) -> sp.Expr:
        """An instantiated elementwise form with every object replaced by its variable.

        ``dL/da_{ki}`` is the variable ``d{k}_{i-1}`` and ``dL/dh_{kj}`` is ``gh{k}_{j-1}``.
        """

        def partial(e: sp.Derivative) -> sp.Expr:
            base, indices = nt.index_parts(e.variables[0])
            names = {"a": "grad_a", "h": "grad_h"}
            k, i = (int(v) for v in indices)
            return self.entry(names[base], k, i - 1).symbol

        value = expr.replace(lambda e: isinstance(e, sp.Derivative) and e.expr == nt.LOSS, partial)
        return value.replace(lambda e: isinstance(e, sp.Indexed), self.symbol_of)

    def lower(self) -> Program:
        L = self.L
        for id in forward_pass(L)[:-2]:
            k = id.layer
            step = self.d.step(id)
            for i in range(self.n(k)):
                if id.kind is Kind.FORWARD:
                    value = self.scalars(instantiate(step.final, i=i + 1))
                    self.emit(self.entry("a", k, i), value, id)
                else:
                    act = self.spec.activation(k)
                    pre = self.entry("a", k, i).symbol
                    value = act.code_function.xreplace({X_INPUT: pre})
                    self.emit(self.entry("h", k, i), value, id, act.stable_note)
        self.output_layer()
        for k in layers_backward(L):
            self.parameter_gradients(k)
            if k > 1:
                self.hidden(k - 1)
        return self._program()

    def parameter_gradients(self, k: int) -> None:
        weight = self.d.step(StepId(Kind.WEIGHT, k))
        bias = self.d.step(StepId(Kind.BIAS, k))
        for i in range(self.n(k)):
            for j in range(self.n(k - 1)):
                value = BatchSum(self.scalars(instantiate(weight.final, i=i + 1, j=j + 1)))
                self.emit(self.entry("grad_W", k, i, j), value, weight.id)
        for i in range(self.n(k)):
            value = BatchSum(self.scalars(instantiate(bias.final, i=i + 1)))
            self.emit(self.entry("grad_b", k, i), value, bias.id)

    def hidden(self, k: int) -> None:
        grad = self.d.step(StepId(Kind.HIDDEN_GRAD, k))
        for j in range(self.n(k)):
            value = self.scalars(instantiate(grad.final, j=j + 1))
            self.emit(self.entry("grad_h", k, j), value, grad.id)
        delta = self.d.step(StepId(Kind.HIDDEN_DELTA, k))
        act = self.spec.activation(k)
        for j in range(self.n(k)):
            slope = act.code_slope.xreplace(
                {X_INPUT: self.entry("a", k, j).symbol, H_OUTPUT: self.entry("h", k, j).symbol}
            )
            value = self.entry("grad_h", k, j).symbol * slope
            self.emit(self.entry("grad_a", k, j), value, delta.id, act.slope_note)

    def output_layer(self) -> None:
        L, pair = self.L, self.spec.pair
        width = self.n(L)
        units: list[dict[sp.Symbol, sp.Expr]] = [
            {
                arrays.ROW_A: self.entry("a", L, i).symbol,
                arrays.ROW_Y: self.entry("y", None, i).symbol,
            }
            for i in range(width)
        ]
        row_symbols = frozenset({arrays.ROW_A, arrays.ROW_Y})
        once: dict[sp.Expr, sp.Symbol] = {}
        for code in pair.code_steps:
            own = sp.Symbol(code.name, real=True)
            step = StepId(Kind(code.implements), L)
            if _row_varying(code.value, row_symbols):
                row_symbols |= {own}
                value = self._reductions_once(code.value, units, once, step, code.note)
                for i, entry in enumerate(arrays.expand_row(value, units)):
                    target = self._code_entry(code.name, i)
                    units[i][own] = self.emit(target, entry, step, code.note)
            else:
                value = arrays.expand_unit(code.value, units, 0)
                symbol = self.emit(Var(f"{code.name.lower()}{L}", (BATCH,)), value, step, code.note)
                for unit in units:
                    unit[own] = symbol
        prediction = StepId(Kind.PREDICTION, L)
        code_prediction = self._reductions_once(pair.code_prediction, units, once, prediction, "")
        yhat = arrays.expand_row(code_prediction, units)
        for i, value in enumerate(yhat):
            name = nt.program_entry("yhat", None, i)
            if not (isinstance(value, sp.Symbol) and value.name == name):
                note = "" if pair.code_steps else pair.output.code_note
                self.emit(self.entry("yhat", None, i), value, prediction, note)
        batch = BATCH_SIZE.symbol
        sample = arrays.expand_unit(pair.code_loss, units, 0)
        loss_step = StepId(Kind.LOSS, L)
        per_sample = self.emit(Var("sample_loss", (BATCH,)), sample, loss_step, pair.loss_note)
        self.emit(
            Var("value", (), meaning=Quantity("loss")), BatchSum(per_sample) / batch, loss_step
        )
        delta_step = StepId(Kind.OUTPUT_DELTA, L)
        code_delta = self._reductions_once(pair.code_delta, units, once, delta_step, "")
        deltas = arrays.expand_row(code_delta, units)
        note = "; ".join(filter(None, [pair.delta_note, "divided by B for the mean"]))
        for i, value in enumerate(deltas):
            self.emit(self.entry("grad_a", L, i), value / batch, delta_step, note)

    def _reductions_once(
        self,
        expr: sp.Expr,
        units: list[dict[sp.Symbol, sp.Expr]],
        once: dict[sp.Expr, sp.Symbol],
        step: StepId,
        note: str,
    ) -> sp.Expr:
        """``expr``, a form with one value per unit, with each reduction over the row (a row sum,
        a row maximum) replaced by a variable computed once per row, on rows wider than
        :data:`INLINE_REDUCTION_UNITS`. Written out inside every unit's expression, a reduction
        over ``n_L`` units would be repeated ``n_L`` times: ``n_L^2`` terms (the softmax's Jacobian
        product) for common-subexpression elimination to find again.
        """
        if len(units) <= INLINE_REDUCTION_UNITS:
            return expr
        while True:
            nodes = [
                node
                for node in expr.atoms(arrays.RowSum, arrays.RowMax)
                if not node.args[0].has(arrays.RowSum, arrays.RowMax)
            ]
            if not nodes:
                return expr
            for node in sorted(nodes, key=sp.default_sort_key):
                if node not in once:
                    kind = "rowsum" if isinstance(node, arrays.RowSum) else "rowmax"
                    count = sum(1 for name in self.variables if name.startswith(f"{kind}{self.L}"))
                    name = f"{kind}{self.L}" + (f"_{count}" if count else "")
                    value = arrays.expand_unit(node, units, 0)
                    said = "; ".join(
                        filter(None, [note, "a reduction over the row, computed once"])
                    )
                    once[node] = self.emit(Var(name, (BATCH,)), value, step, said)
                expr = expr.xreplace({node: once[node]})

    def _code_entry(self, name: str, i: int) -> Var:
        if name == nt.program_name("yhat"):
            return self.entry("yhat", None, i)
        if name == "R":
            return Var(f"r{i}", (BATCH,))
        return Var(f"{name.lower()}{self.L}_{i}", (BATCH,))

    def _program(self) -> Program:
        L = self.L
        inputs = [BATCH_SIZE]
        inputs += [self.entry("x", None, j) for j in range(self.n(0))]
        inputs += [self.entry("y", None, i) for i in range(self.n(L))]
        parameters: list[Var] = []
        outputs = [
            Output("loss", (), whole=self.variables["value"]),
            Output(
                "yhat",
                (self.n(L),),
                entries=tuple(self.entry("yhat", None, i).symbol for i in range(self.n(L))),
            ),
        ]
        for k in range(1, L + 1):
            rows, cols = self.n(k), self.n(k - 1)
            weights = [
                self.entry("W", k, i, j, role=Role.PARAMETER)
                for i in range(rows)
                for j in range(cols)
            ]
            biases = [self.entry("b", k, i, role=Role.PARAMETER) for i in range(rows)]
            parameters += weights + biases
            outputs.append(
                Output(
                    nt.param_key("W", k),
                    (rows, cols),
                    entries=tuple(
                        self.entry("grad_W", k, i, j).symbol
                        for i in range(rows)
                        for j in range(cols)
                    ),
                )
            )
            outputs.append(
                Output(
                    nt.param_key("b", k),
                    (rows,),
                    entries=tuple(self.entry("grad_b", k, i).symbol for i in range(rows)),
                )
            )
        return Program(
            self.spec,
            Style.SCALAR,
            tuple(inputs),
            tuple(parameters),
            tuple(self.statements),
            tuple(outputs),
        )


def lower_scalar(derivation: Derivation) -> Program:
    """The program of one statement per scalar, each a column of the batch."""
    return _ScalarLowering(derivation).lower()
