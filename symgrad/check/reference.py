"""The second judge of ``symgrad check``: the network the header names, evaluated by symgrad.

Beside the pipeline, for ``symgrad check``; it runs in the process that analyses the header
(:mod:`symgrad.check.analysis`), never with the checked code. The matrix program symgrad lowers
from the derivation of that network (the program every code target prints, proved against
``sympy.diff`` of the composed loss) is evaluated, forward and backward, one sample at a time, by
the program's evaluator in :class:`~symgrad.proof.precision.HighPrecision` arithmetic at
:data:`DIGITS` digits: mpmath numbers, and products with the weights computed exactly.

- The check's weights are any float64 numbers, not the proof's grid: :class:`LimbMatrix`
  writes a weight matrix as a sum of grid matrices (limbs of at most ``k`` bits, scaled by
  powers of two, ``k`` small enough that every limb product stays exact in float64), so each
  product is still a few float64 matrix products, exact.
- The gradient of a batch is the mean of its samples' gradients; a weight's is a sum of outer
  products ``(1/B) sum_s delta_s h_s^T``, added in double-double arithmetic (an error-free
  product and sum of float64 pairs, about 32 digits) from the high-precision rows, then rounded
  to float64.

The results, rounded to float64, are what a correct implementation computes up to its own
rounding; the same program evaluated in float64 (:func:`float64`) tells how large that rounding
is at the point.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import mpmath
import numpy as np
from mpmath import libmp

from symgrad import notation as nt
from symgrad.program import Program, evaluate
from symgrad.program.evaluate import Arithmetic
from symgrad.proof.precision import Added, GridMatrix, HighPrecision, Outer, Scaled

#: Decimal digits of the evaluation.
DIGITS = 60
#: Bits of the fixed-point vectors of :mod:`symgrad.proof.precision` the limbs multiply, and of
#: their limbs: a limb of ``k`` bits times a vector limb times ``n`` terms stays below 2^53.
VECTOR_LIMB_BITS = 24
#: Bits below the largest weight kept: weights smaller than 2^-KEPT_BITS of it are not exact.
KEPT_BITS = 220


class TooSlow(Exception):
    """The evaluation did not finish within its time."""


@dataclass(frozen=True)
class LimbMatrix(GridMatrix):
    """A float64 matrix as a sum of grid matrices ``sum_l w_l 2^-s_l``, for
    :class:`HighPrecision`: products with it are sums of exact limb products."""

    parts: tuple[GridMatrix, ...] = field(default=())

    @classmethod
    def of(cls, matrix: np.ndarray) -> LimbMatrix:
        values = np.asarray(matrix, dtype=np.float64)
        rows, cols = values.shape
        bits = 53 - VECTOR_LIMB_BITS - max(1, math.ceil(math.log2(max(rows, cols, 2)))) - 1
        largest = float(np.abs(values).max(initial=0.0))
        top = math.frexp(largest)[1] if largest > 0 else 0
        shift = bits - 1 - top
        rest = np.ldexp(values, shift)
        parts = []
        for n in range(max(1, math.ceil(KEPT_BITS / bits))):
            limb = np.round(rest)
            parts.append(GridMatrix(limb, shift + n * bits))
            rest = np.ldexp(rest - limb, bits)
            if not np.any(rest):
                break
        return cls(parts[0].integers, parts[0].shift, False, tuple(parts))

    @property
    def T(self) -> LimbMatrix:  # noqa: N802 - as NumPy's .T
        parts = tuple(p.T for p in self.parts)
        return LimbMatrix(self.integers, self.shift, not self.transposed, parts)

    def entry(self, row: int, col: int) -> Any:
        return sum((p.entry(row, col) for p in self.parts), mpmath.mpf(0))

    def matvec(self, vector: np.ndarray) -> np.ndarray:
        total = self.parts[0].matvec(vector)
        for part in self.parts[1:]:
            total = total + part.matvec(vector)
        return total


class _HighPrecision(HighPrecision):
    """:class:`HighPrecision` whose constants are 0-d object arrays: ``constant + array`` is
    then NumPy's elementwise sum at once, where an mpmath number first fails to convert the
    array (and formats all of it for its error message)."""

    def number(self, value: Any) -> Any:
        return np.asarray(super().number(value), dtype=object)


@dataclass(frozen=True)
class Results:
    """The loss, the prediction and the gradient of one path (float64)."""

    loss: float
    yhat: np.ndarray
    gradients: dict[str, np.ndarray]
    #: The gradient of the loss with respect to ``X`` (rows are samples), when the program has it.
    input_gradient: np.ndarray | None = None
    #: The loss of each row (high precision only).
    sample_losses: np.ndarray | None = None


def high_precision(
    program: Program,
    params: Mapping[str, np.ndarray],
    X: np.ndarray,
    Y: np.ndarray,
    deadline: float,
    weights: np.ndarray | None = None,
) -> Results:
    """The program's results for the batch ``X``, ``Y`` (rows are samples), each sample
    evaluated at :data:`DIGITS` digits; :class:`TooSlow` past ``deadline``. With sample
    ``weights``, row ``s`` weighs ``w_s / sum(w)`` in the loss and its gradients, else ``1/B``."""
    with mpmath.workdps(DIGITS):
        hp = {k: (LimbMatrix.of(v) if v.ndim == 2 else _mp(v)) for k, v in params.items()}
        rows = X.shape[0]
        if weights is None:
            scales = [mpmath.mpf(1) / rows] * rows
        else:
            given = [mpmath.mpf(float(w)) for w in weights]
            scales = [w / mpmath.fsum(given) for w in given]
        loss = mpmath.mpf(0)
        data_loss = _data_loss(program)
        yhat, inputs, losses = [], [], []
        sums: dict[str, _DoubleDouble] = {}
        for r in range(rows):
            if time.monotonic() > deadline:
                raise TooSlow
            arithmetic: Any = _HighPrecision()  # an arithmetic of the evaluator, as the proof's
            evaluation = evaluate(program, hp, _mp(X[r : r + 1]), _mp(Y[r : r + 1]), arithmetic)
            outputs = evaluation.outputs
            scale = scales[r]
            loss += outputs["loss"] * scale
            losses.append(float(evaluation.values.get(data_loss, outputs["loss"])))
            yhat.append([float(v) for v in np.asarray(outputs["yhat"]).ravel()])
            if nt.INPUT_GRADIENT in outputs:  # one sample's row, divided by B for the mean
                row = np.asarray(outputs[nt.INPUT_GRADIENT]).ravel()
                inputs.append([float(v * scale) for v in row])
            for name in program.gradient_names:
                term = _term(outputs[name], scale)
                sums[name] = term if name not in sums else sums[name].plus(term)
        shapes = {k: np.shape(v) for k, v in params.items()}
        gradients = {k: sums[k].value().reshape(shapes[k]) for k in program.gradient_names}
        gradient_x = np.array(inputs) if inputs else None
        return Results(float(loss), np.array(yhat), gradients, gradient_x, np.array(losses))


def _data_loss(program: Program) -> str:
    """The variable of the loss of the data: the per-sample loss of ``reduction="none"``, without
    the penalty a layer kind adds to the objective (weight decay), which holds the output."""
    for var in program.variables.values():
        held = var.meaning.quantity if var.meaning is not None else None
        if held == nt.quantity("loss") and var.shape == ():
            return var.name
    return ""


def _term(value: Any, scale: Any) -> _DoubleDouble:
    """One sample's gradient times ``scale``, flat, as double-doubles: an outer product kept
    apart (:class:`Outer`), a penalty's ``lambda W`` (:class:`Scaled`) and their sum
    (:class:`Added`, the gradient of a layer kind that adds a penalty) read entry by entry."""
    if isinstance(value, Added):
        terms = [_term(part, scale) for part in value.terms]
        total = terms[0]
        for part in terms[1:]:
            total = total.plus(part)
        return total
    if isinstance(value, Outer):
        left = _pair(np.array([v * scale for v in value.left], dtype=object))
        return _outer(left, _pair(value.right))
    if isinstance(value, Scaled):
        rows, cols = value.shape
        entries = [value[i, j] * scale for i in range(rows) for j in range(cols)]
        return _pair(np.array(entries, dtype=object))
    return _pair(np.array([v * scale for v in np.ravel(value)], dtype=object))


class Float32(Arithmetic):
    """The evaluator's NumPy arithmetic in float32 (constants are Python floats, which NumPy
    applies to float32 arrays in float32)."""

    name = "float32"

    def array(self, values: Any) -> Any:
        return np.asarray(values, dtype=np.float32)


def float64(
    program: Program, params: Mapping[str, np.ndarray], X: np.ndarray, Y: np.ndarray
) -> Results:
    """The same program evaluated in float64 on the whole batch."""
    return _plain(program, params, X, Y, Arithmetic())


def float32(
    program: Program, params: Mapping[str, np.ndarray], X: np.ndarray, Y: np.ndarray
) -> Results:
    """The same program evaluated in float32 on the whole batch (as float64 numbers): what
    float32 rounding does to a correct computation of the network at the point."""
    return _plain(program, params, X, Y, Float32())


def _plain(
    program: Program,
    params: Mapping[str, np.ndarray],
    X: np.ndarray,
    Y: np.ndarray,
    arithmetic: Arithmetic,
) -> Results:
    with np.errstate(all="ignore"):
        values = {k: arithmetic.array(v) for k, v in params.items()}
        inputs = (arithmetic.array(X), arithmetic.array(Y))
        outputs = evaluate(program, values, *inputs, arithmetic).outputs
    gradients = {k: np.asarray(outputs[k], dtype=np.float64) for k in program.gradient_names}
    gradient_x = outputs.get(nt.INPUT_GRADIENT)
    if gradient_x is not None:
        gradient_x = np.asarray(gradient_x, dtype=np.float64)
    yhat = np.asarray(outputs["yhat"], dtype=np.float64)
    return Results(float(outputs["loss"]), yhat, gradients, gradient_x)


def _mp(values: np.ndarray) -> np.ndarray:
    """float64 numbers as mpmath numbers (exactly)."""
    array = np.asarray(values, dtype=np.float64)
    make = mpmath.mp.make_mpf
    return np.array(
        [make(libmp.from_float(v)) for v in array.ravel().tolist()], dtype=object
    ).reshape(array.shape)


def _pair(values: Any) -> _DoubleDouble:
    """mpmath numbers as double-double pairs ``hi + lo``: ``hi`` the nearest float64, ``lo``
    the rest rounded at the working precision, then to float64 (as ``float(v - hi)``; with
    mpmath's own functions, which is the time of a gradient of a million entries)."""
    flat = [mpmath.mpf(v)._mpf_ for v in np.ravel(np.asarray(values, dtype=object))]
    prec = mpmath.mp.prec
    hi = [libmp.to_float(v) for v in flat]
    lo = [
        libmp.to_float(libmp.mpf_sub(v, libmp.from_float(h), prec, libmp.round_nearest))
        for v, h in zip(flat, hi, strict=True)
    ]
    return _DoubleDouble(np.array(hi, dtype=np.float64), np.array(lo, dtype=np.float64))


_SPLIT = 134217729.0  # 2^27 + 1, Dekker's splitter


def _split(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = _SPLIT * a
    high = t - (t - a)
    return high, a - high


def _two_product(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``a b = p + e`` exactly (Dekker), elementwise."""
    p = a * b
    a1, a2 = _split(a)
    b1, b2 = _split(b)
    e = ((a1 * b1 - p) + a1 * b2 + a2 * b1) + a2 * b2
    return p, e


def _two_sum(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``a + b = s + e`` exactly (Knuth), elementwise."""
    s = a + b
    v = s - a
    return s, (a - (s - v)) + (b - v)


@dataclass(frozen=True)
class _DoubleDouble:
    """Arrays of unevaluated sums ``hi + lo`` of float64 numbers."""

    hi: np.ndarray
    lo: np.ndarray

    def plus(self, other: _DoubleDouble) -> _DoubleDouble:
        s, e = _two_sum(self.hi, other.hi)
        e = e + (self.lo + other.lo)
        hi, lo = _two_sum(s, e)
        return _DoubleDouble(hi, lo)

    def value(self) -> np.ndarray:
        return self.hi + self.lo


def _outer(left: _DoubleDouble, right: _DoubleDouble) -> _DoubleDouble:
    """The outer product of two double-double vectors, flat, as double-doubles."""
    a_hi, a_lo = left.hi[:, None], left.lo[:, None]
    b_hi, b_lo = right.hi[None, :], right.lo[None, :]
    p, e = _two_product(a_hi, b_hi)
    e = e + (a_hi * b_lo + a_lo * b_hi)
    hi, lo = _two_sum(p, e)
    return _DoubleDouble(hi.ravel(), lo.ravel())
