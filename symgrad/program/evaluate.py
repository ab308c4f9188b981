"""The evaluator: a program run on numbers, without generating any code.

Part of the program stage. :func:`evaluate` runs every statement of a
:class:`~symgrad.program.ir.Program` on arrays in a chosen :class:`Arithmetic`: NumPy float64
(:data:`FLOAT64`), or mpmath numbers at high precision (:class:`symgrad.proof.precision
.HighPrecision`, which the numeric proof uses). The worked example of the notes and the tests
use it too, so the numbers a user reads, the proof and the generated code all come from one
program.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

from symgrad import functions
from symgrad import notation as nt
from symgrad.arrays import (
    BatchSum,
    Dot,
    LogAddExp,
    Logistic,
    RowMax,
    RowSum,
    Total,
    Transpose,
)
from symgrad.program.ir import BATCH, Output, Program, Var


class Arithmetic:
    """How the evaluator computes: NumPy float64 arrays by default; subclasses change numbers.

    Every method takes and returns arrays (or numbers) of the arithmetic.
    """

    name = "float64"

    def number(self, value: sp.Expr) -> Any:
        return float(value)

    def array(self, values: Any) -> Any:
        return np.asarray(values, dtype=np.float64)

    def function(self, name: str) -> Callable[..., Any]:
        """The elementwise function ``exp``, ``log``, ... of this arithmetic (the names of
        :mod:`symgrad.functions`, and ``logaddexp``)."""
        if name == "logaddexp":
            return np.logaddexp
        return functions.numpy_function(name)

    def dot(self, left: Any, right: Any) -> Any:
        return np.dot(left, right)

    def transpose(self, value: Any) -> Any:
        return np.asarray(value).T

    def row_sum(self, value: Any) -> Any:
        return np.sum(value, axis=-1, keepdims=True)

    def row_max(self, value: Any) -> Any:
        return np.max(value, axis=-1, keepdims=True)

    def batch_sum(self, value: Any) -> Any:
        return np.sum(value, axis=0)

    def total(self, value: Any) -> Any:
        return np.sum(value)

    def maximum(self, left: Any, right: Any) -> Any:
        return np.maximum(left, right)

    def minimum(self, left: Any, right: Any) -> Any:
        return np.minimum(left, right)

    def select(self, condition: Any, then: Any, otherwise: Any) -> Any:
        return np.where(np.asarray(condition, dtype=bool), then, otherwise)

    def power(self, base: Any, exponent: Any) -> Any:
        return np.power(base, exponent)


#: The evaluator's default arithmetic.
FLOAT64 = Arithmetic()


class EvaluationError(ValueError):
    """An expression the evaluator has no rule for: a bug in a lowering or a pass."""


@dataclass(frozen=True)
class Evaluation:
    """The values of every variable, and the program's outputs assembled from them."""

    values: dict[str, Any]
    outputs: dict[str, Any]


def bind(
    program: Program,
    params: Mapping[str, Any],
    X: Any,
    Y: Any,
    ar: Arithmetic,
    weights: Any = None,
) -> dict:
    """The values of the program's inputs and parameters, read off arrays by their meaning.

    ``X`` is ``(B, n_0)`` and ``Y`` ``(B, n_L)``; a scalar program's ``x0`` is the column
    ``X[:, 0]`` and its ``W1_0_2`` the number ``W1[0, 2]``. A weighted program's row weights
    ``r`` are ``weights / sum(weights)`` (``weights`` of shape ``(B,)``), ``1/B`` without.
    """
    X, Y = ar.array(X), ar.array(Y)
    rows = X.shape[0]
    if weights is None:
        r = ar.array([ar.number(sp.Rational(1, rows))] * rows)
    else:
        given = ar.array([ar.number(sp.Rational(float(w))) for w in np.ravel(weights)])
        r = given / sum(given)
    values: dict[str, Any] = {}
    for var in (*program.inputs, *program.parameters):
        values[var.name] = _read(var, params, X, Y, ar, r)
    return values


def _read(var: Var, params: Mapping[str, Any], X: Any, Y: Any, ar: Arithmetic, r: Any) -> Any:
    meaning = var.meaning
    if meaning is None:
        raise EvaluationError(f"input {var.name} says nothing of what it holds")
    q = meaning.quantity
    if q is None:  # the batch size
        return X.shape[0]
    if q.base == nt.ROW_WEIGHT:  # a column (B, 1) of whole arrays, (B,) of scalars, or 1 number
        return r.reshape(-1, 1) if len(var.shape) == 2 else r if var.shape else r[0]
    if q.base in {"x", "y"}:
        data = X if q.base == "x" else Y
        if not meaning.entry:
            return data
        # A column of the batch, or the number of a program specialized to one sample.
        return data[:, meaning.entry[0]] if var.shape else data[0, meaning.entry[0]]
    array = ar.array(params[q.json])
    return array[meaning.entry] if meaning.entry else array


#: Called with each variable a statement computes and its value; returns the value to go on with.
Watch = Callable[[Var, Any], Any]


def evaluate(
    program: Program,
    params: Mapping[str, Any],
    X: Any,
    Y: Any,
    arithmetic: Arithmetic = FLOAT64,
    watch: Watch | None = None,
    weights: Any = None,
) -> Evaluation:
    """Run ``program`` on a batch ``X`` ``(B, n_0)``, targets ``Y`` and ``params`` (and the
    sample ``weights`` ``(B,)`` of a weighted program; without, each row weighs ``1/B``).

    ``watch`` sees every value as it is computed and may change it (the points of a check place
    each layer's pre-activations where its activation is smooth, moving its biases to match).
    """
    values = bind(program, params, X, Y, arithmetic, weights)
    for statement in program.statements:
        value = _evaluate(statement.value, values, arithmetic)
        if watch is not None:
            value = watch(statement.target, value)
        values[statement.target.name] = value
    outputs = {out.name: _assemble(out, values, program, arithmetic) for out in program.outputs}
    return Evaluation(values, outputs)


def forward_values(program: Program, evaluation: Evaluation) -> dict[Any, Any]:
    """The value of every quantity of the forward pass (``a_k``, ``h_k``, ``yhat``) the program
    holds whole, for its first row: ``{quantity: vector}``."""
    found: dict[Any, Any] = {}
    for var in program.variables.values():
        meaning = var.meaning
        if meaning is None or meaning.quantity is None or meaning.entry:
            continue
        q = meaning.quantity
        if q.gradient or q.base in ("x", "y", "W", "b") or not var.shape or var.shape[0] != BATCH:
            continue
        found[q] = evaluation.values[var.name][0]
    return found


def evaluate_expression(
    expr: sp.Expr, values: Mapping[str, Any], arithmetic: Arithmetic = FLOAT64
) -> Any:
    """One expression of a program's variables (``values`` by name) in ``arithmetic``."""
    return _evaluate(expr, dict(values), arithmetic)


def _assemble(output: Output, values: dict[str, Any], program: Program, ar: Arithmetic) -> Any:
    if output.whole is not None:
        return values[output.whole.name]
    entries = [_evaluate(e, values, ar) for e in output.entries]
    columns = any(
        BATCH in program.variables[s.name].shape
        for e in output.entries
        for s in e.free_symbols
        if isinstance(s, sp.Symbol) and s.name in program.variables
    )
    if columns:  # columns of the batch (the prediction): one per output unit
        rows = max(len(np.atleast_1d(e)) for e in entries)
        stacked = [np.broadcast_to(np.asarray(e, dtype=object), (rows,)) for e in entries]
        return ar.array(np.stack(stacked, axis=1).tolist())
    return ar.array(np.array(entries, dtype=object).reshape(output.shape).tolist())


def _evaluate(expr: sp.Expr, values: dict[str, Any], ar: Arithmetic) -> Any:
    if isinstance(expr, sp.Symbol):
        return values[expr.name]
    if expr.is_number:  # 2, 1/2, and the constants e, pi, log(2)
        return ar.number(expr)
    if isinstance(expr, (sp.Add, sp.Mul)):
        parts = [_evaluate(arg, values, ar) for arg in expr.args]
        result = parts[0]
        for part in parts[1:]:
            result = result + part if isinstance(expr, sp.Add) else result * part
        return result
    if isinstance(expr, sp.Pow):
        base = _evaluate(expr.base, values, ar)
        if expr.exp == sp.S.Half:
            return ar.function("sqrt")(base)
        if expr.exp == -1:
            return ar.number(sp.Integer(1)) / base
        if expr.exp.is_Integer and expr.exp > 0:
            result = base
            for _ in range(int(expr.exp) - 1):
                result = result * base
            return result
        return ar.power(base, _evaluate(expr.exp, values, ar))
    return _function(expr, values, ar)


def _function(expr: sp.Expr, values: dict[str, Any], ar: Arithmetic) -> Any:
    def arg(n: int = 0) -> Any:
        return _evaluate(expr.args[n], values, ar)

    if isinstance(expr, Dot):
        return ar.dot(arg(0), arg(1))
    if isinstance(expr, Transpose):
        return ar.transpose(arg())
    if isinstance(expr, RowSum):
        return ar.row_sum(arg())
    if isinstance(expr, RowMax):
        return ar.row_max(arg())
    if isinstance(expr, BatchSum):
        return ar.batch_sum(arg())
    if isinstance(expr, Total):
        return ar.total(arg())
    if isinstance(expr, LogAddExp):
        return ar.function("logaddexp")(arg(0), arg(1))
    if isinstance(expr, Logistic):  # kept by a program for a target with a sigmoid of its own
        return _evaluate(expr.stable(), values, ar)
    if isinstance(expr, (sp.Max, sp.Min)):
        pick = ar.maximum if isinstance(expr, sp.Max) else ar.minimum
        result = arg(0)
        for n in range(1, len(expr.args)):
            result = pick(result, arg(n))
        return result
    if isinstance(expr, sp.Heaviside):
        x = arg(0)
        at_zero = ar.number(expr.args[1]) if len(expr.args) > 1 else ar.number(sp.S.Half)
        one, zero = ar.number(sp.Integer(1)), ar.number(sp.Integer(0))
        return ar.select(x > 0, one, ar.select(x < 0, zero, at_zero))
    if isinstance(expr, sp.Piecewise):
        result = _evaluate(expr.args[-1].expr, values, ar)
        for piece in reversed(expr.args[:-1]):
            condition = _evaluate(piece.cond, values, ar)
            result = ar.select(condition, _evaluate(piece.expr, values, ar), result)
        return result
    if isinstance(expr, sp.core.relational.Relational):
        left, right = arg(0), arg(1)
        return {">": left > right, "<": left < right, ">=": left >= right, "<=": left <= right}[
            expr.rel_op
        ]
    entry = functions.of(expr)
    if entry is not None:
        return ar.function(entry.name)(arg())
    raise EvaluationError(f"the evaluator has no rule for {type(expr).__name__}")
