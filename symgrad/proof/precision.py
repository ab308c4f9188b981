"""High-precision arithmetic for the numeric proof, with matrix products as cheap as float64.

Part of the proof. The numeric proof works at a random point in :data:`DIGITS`-digit arithmetic;
a 2000 x 2000 weight matrix times a vector is four million multiplications, which mpmath does in
seconds. The random point is therefore chosen with every weight on a grid, ``W = w 2^-s`` with small
integers ``w``, and vectors are held in fixed point, ``v = V 2^-F``. Then ``W v`` is the integer
product ``w V`` scaled: ``V`` is split into limbs of :data:`LIMB_BITS` bits, each limb product is
computed by one float64 BLAS call, exactly (every partial sum stays below ``2^53``), and the limbs
are joined in Python integers. The result is exact; its cost is that of a few float64 products.

:class:`HighPrecision` is an arithmetic for :func:`symgrad.program.evaluate` (it has the methods
of :class:`symgrad.program.Arithmetic`): object arrays of mpmath numbers, grid matrices for the
weights, and outer products kept unevaluated (``grad_{W_k} L = Delta_k^T H_{k-1}`` is read at a
sample of entries and along one random direction, never whole).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import mpmath
import numpy as np
import sympy as sp
from mpmath import libmp

from symgrad import functions

#: Decimal digits of the working precision of the numeric proof.
DIGITS = 40
#: Bits after the binary point of the fixed-point vectors: comfortably past :data:`DIGITS`.
FRACTION_BITS = 200
#: Bits of one limb: ``|w| < 2^WEIGHT_BITS``, ``n <= 2^17`` and limbs below ``2^LIMB_BITS`` keep
#: every partial sum of a limb product below ``2^53``, exact in float64.
LIMB_BITS = 24
#: Largest magnitude of the integer of a grid weight.
WEIGHT_BITS = 10


def _limbs_needed(bits: int) -> int:
    return -(-bits // LIMB_BITS)


def to_fixed(values: np.ndarray) -> list[int]:
    """mpmath numbers as integers ``round(v 2^FRACTION_BITS)`` (mpmath's own fixed point)."""
    return [libmp.to_fixed(mpmath.mpf(v)._mpf_, FRACTION_BITS) for v in values.ravel()]


def from_fixed(values: list[int]) -> np.ndarray:
    """Integers of :func:`to_fixed` as mpmath numbers."""
    return np.array(
        [mpmath.mpf(libmp.from_man_exp(v, -FRACTION_BITS)) for v in values], dtype=object
    )


_BYTES = LIMB_BITS // 8


def _split(values: list[int]) -> tuple[np.ndarray, int]:
    """Signed limbs: ``values[j] = sum_l limbs[j, l] 2^(LIMB_BITS l)``, each exact in float64."""
    bits = max((abs(v).bit_length() for v in values), default=0)
    count = max(1, _limbs_needed(bits))
    size = count * _BYTES
    raw = b"".join(abs(v).to_bytes(size, "little") for v in values)
    octets = np.frombuffer(raw, dtype=np.uint8).reshape(len(values), count, _BYTES)
    limbs = np.zeros((len(values), count), dtype=np.float64)
    for n in range(_BYTES):
        limbs += octets[:, :, n].astype(np.float64) * float(1 << (8 * n))
    signs = np.array([-1.0 if v < 0 else 1.0 for v in values])
    return limbs * signs[:, None], count


def _join(products: np.ndarray, shift: int) -> list[int]:
    """Rows of limb products joined into integers and shifted right by ``shift`` bits, rounded.

    The products are whole numbers below ``2^53``: carries are propagated in int64 until every
    limb but the last lies in ``[0, 2^LIMB_BITS)``, then each row is read as one integer.
    """
    limbs = products.astype(np.int64)
    base = 1 << LIMB_BITS
    for n in range(limbs.shape[1] - 1):
        carry = np.floor_divide(limbs[:, n], base)
        limbs[:, n] -= carry * base
        limbs[:, n + 1] += carry
    low = limbs[:, :-1].astype("<u4")
    head = limbs[:, -1]
    width = limbs.shape[1] - 1
    out = []
    half = 1 << (shift - 1) if shift > 0 else 0
    packed = low.view(np.uint8).reshape(len(limbs), width, 4)[:, :, :_BYTES].tobytes()
    step = width * _BYTES
    for row in range(len(limbs)):
        total = int.from_bytes(packed[row * step : (row + 1) * step], "little")
        total += int(head[row]) << (LIMB_BITS * width)
        out.append((total + half) >> shift if shift > 0 else total)
    return out


@dataclass(frozen=True)
class GridMatrix:
    """A weight matrix ``w 2^-shift`` with small integers ``w`` (float64 for BLAS)."""

    integers: np.ndarray
    shift: int
    transposed: bool = False

    @property
    def shape(self) -> tuple[int, int]:
        rows, cols = self.integers.shape
        return (cols, rows) if self.transposed else (rows, cols)

    @property
    def T(self) -> GridMatrix:  # noqa: N802 - as NumPy's .T
        return GridMatrix(self.integers, self.shift, not self.transposed)

    def entry(self, row: int, col: int) -> Any:
        r, c = (col, row) if self.transposed else (row, col)
        return mpmath.mpf(int(self.integers[r, c])) / (mpmath.mpf(2) ** self.shift)

    def matvec(self, vector: np.ndarray) -> np.ndarray:
        """``self @ vector`` for a vector of mpmath numbers, exactly up to the fixed point."""
        limbs, _ = _split(to_fixed(vector))
        matrix = self.integers.T if self.transposed else self.integers
        return from_fixed(_join(matrix @ limbs, self.shift))

    def column(self, index: int) -> np.ndarray:
        """Column ``index`` as mpmath numbers."""
        matrix = self.integers.T if self.transposed else self.integers
        return np.array(
            [mpmath.mpf(libmp.from_man_exp(int(v), -self.shift)) for v in matrix[:, index]],
            dtype=object,
        )

    def _oriented(self) -> np.ndarray:
        return self.integers.T if self.transposed else self.integers

    def inner(self, direction: GridMatrix) -> Any:
        """``<self, V> = sum_rc self_rc V_rc``, exactly: the products of the small integers and
        their sum stay far below ``2^53``."""
        total = int(np.sum(self._oriented() * direction._oriented()))
        return mpmath.mpf(libmp.from_man_exp(total, -(self.shift + direction.shift)))

    def total(self) -> Any:
        """The sum of the entries, exactly."""
        return mpmath.mpf(libmp.from_man_exp(int(np.sum(self.integers)), -self.shift))

    def __mul__(self, other: Any) -> Any:
        """Entry by entry with another grid matrix (a grid matrix again: ``W (.) W`` of a
        penalty), or a number times it (kept as :class:`Scaled`)."""
        if isinstance(other, GridMatrix):
            return GridMatrix(self._oriented() * other._oriented(), self.shift + other.shift)
        if isinstance(other, (mpmath.mpf, int, float)):
            return Scaled(other, self)
        return NotImplemented

    __rmul__ = __mul__


def random_grid(rows: int, cols: int, scale: float, rng: np.random.Generator) -> GridMatrix:
    """Entries uniform in about ``[-scale, scale]`` on a grid of ``2^WEIGHT_BITS`` steps."""
    top = (1 << WEIGHT_BITS) - 1
    integers = rng.integers(-top, top + 1, size=(rows, cols)).astype(np.float64)
    return GridMatrix(integers, WEIGHT_BITS - int(np.floor(np.log2(scale))))


@dataclass(frozen=True)
class Outer:
    """The outer product ``u v^T`` of two vectors, multiplied out only where it is read."""

    left: np.ndarray
    right: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.left), len(self.right))

    def __getitem__(self, index: tuple[int, int]) -> Any:
        row, col = index
        return self.left[row] * self.right[col]

    def inner(self, direction: GridMatrix) -> Any:
        """``<u v^T, V> = u . (V v)`` for a grid matrix ``V`` of the same shape."""
        return sum(self.left * direction.matvec(self.right))

    def __add__(self, other: Any) -> Any:
        return Added((self, other))

    __radd__ = __add__


@dataclass(frozen=True)
class Scaled:
    """A number times a grid matrix (``lambda W_k``), multiplied out only where it is read."""

    factor: Any
    matrix: GridMatrix

    @property
    def shape(self) -> tuple[int, int]:
        return self.matrix.shape

    def __getitem__(self, index: tuple[int, int]) -> Any:
        return self.factor * self.matrix.entry(*index)

    def inner(self, direction: GridMatrix) -> Any:
        return self.factor * self.matrix.inner(direction)

    def __add__(self, other: Any) -> Any:
        return Added((self, other))

    __radd__ = __add__


@dataclass(frozen=True)
class Added:
    """A sum of matrices held unevaluated (:class:`Outer`, :class:`Scaled`): the gradient of an
    objective that adds a penalty on the weights to the loss, read at entries and along
    directions as its terms are."""

    terms: tuple[Any, ...]

    @property
    def shape(self) -> tuple[int, int]:
        return self.terms[0].shape  # type: ignore[no-any-return]

    def __getitem__(self, index: tuple[int, int]) -> Any:
        return sum(term[index] for term in self.terms)

    def inner(self, direction: GridMatrix) -> Any:
        return sum(term.inner(direction) for term in self.terms)

    def __add__(self, other: Any) -> Any:
        return Added((*self.terms, other))

    __radd__ = __add__


def _logaddexp(a: Any, b: Any) -> Any:
    top = max(a, b)
    return top + mpmath.log1p(mpmath.exp(-abs(a - b)))


def elementwise(function: Callable[..., Any], arity: int = 1) -> Callable[..., np.ndarray]:
    """An mpmath function applied to every entry of object arrays."""
    vectorized = np.frompyfunc(function, arity, 1)

    def apply(*args: Any) -> Any:
        return vectorized(*args)

    return apply


class HighPrecision:
    """An arithmetic of :func:`symgrad.program.evaluate` on mpmath numbers, for one sample.

    Parameters arrive as :class:`GridMatrix` (weights) and object arrays (biases); products with a
    grid matrix are exact limb products, an outer product of two rows stays an :class:`Outer`.
    """

    name = "mpmath"

    def number(self, value: sp.Expr) -> Any:
        if value.is_Rational:
            return mpmath.mpf(int(value.p)) / int(value.q)
        return mpmath.mpf(str(sp.N(value, DIGITS + 10)))  # e, pi, log(2) to the precision

    def array(self, values: Any) -> Any:
        if isinstance(values, (GridMatrix, Outer, Scaled, Added)):
            return values
        array = np.asarray(values, dtype=object)
        return array

    def function(self, name: str) -> Callable[..., Any]:
        if name == "logaddexp":
            return elementwise(_logaddexp, 2)
        return elementwise(functions.mpmath_function(name))

    def dot(self, left: Any, right: Any) -> Any:
        if isinstance(right, GridMatrix):  # rows times a weight matrix: each row on its own
            return np.stack([right.T.matvec(row) for row in left])
        if isinstance(left, np.ndarray) and left.shape[1] == 1 and right.shape[0] == 1:
            return Outer(left[:, 0], right[0])  # Delta^T H for one sample
        return np.dot(left, right)  # mpmath numbers throughout: one product at a time

    def transpose(self, value: Any) -> Any:
        return value.T

    def row_sum(self, value: Any) -> Any:
        return np.array([[sum(row)] for row in value], dtype=object)

    def row_max(self, value: Any) -> Any:
        return np.array([[max(row)] for row in value], dtype=object)

    def batch_sum(self, value: Any) -> Any:
        if isinstance(value, Outer):
            return value
        return np.sum(value, axis=0)

    def total(self, value: Any) -> Any:
        if isinstance(value, GridMatrix):  # the squared entries of a weight matrix, say
            return value.total()
        return sum(np.asarray(value, dtype=object).ravel())

    def maximum(self, left: Any, right: Any) -> Any:
        return elementwise(max, 2)(left, right)

    def minimum(self, left: Any, right: Any) -> Any:
        return elementwise(min, 2)(left, right)

    def select(self, condition: Any, then: Any, otherwise: Any) -> Any:
        chosen = np.asarray(condition, dtype=object).astype(bool)
        return np.where(chosen, then, otherwise)

    def power(self, base: Any, exponent: Any) -> Any:
        return elementwise(lambda b, e: b**e, 2)(base, exponent)
