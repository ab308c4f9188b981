"""Where an activation can be evaluated and differentiated: its domain on the real line.

Beside the catalogue. A custom activation such as ``log(x)`` or ``sqrt(x)`` is not defined on all
reals; ``symgrad codegen`` says so, and ``symgrad check`` must choose its points inside the set
where ``g``, ``g'`` and ``g''`` are continuous (central differences are accurate only there, and a
kink such as that of ``abs`` at 0 is outside it).

SymPy works the sets out (:func:`sympy.calculus.util.continuous_domain`), after ``abs(u)`` is
written ``sqrt(u^2)`` in a symbol without assumptions (with a real symbol SymPy would fold it
back), so that the kink of ``abs`` shows as a point where the derivative is not defined. What
SymPy cannot decide is found on a fine grid of numbers instead, and so is the realness SymPy
takes for granted (``x**(1/3)`` is ``nan`` for negative ``x`` in NumPy, as in generated code).
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass

import numpy as np
import sympy as sp
from sympy.calculus.util import continuous_domain

from symgrad.catalogue import Activation
from symgrad.expressions import X

_T = sp.Symbol("t")
#: Pre-activations placed inside a domain (:func:`placement`) stay this far from a kink, and
#: from the boundary of a domain at least this far and BOUNDARY_MARGIN of the length of their
#: interval.
MARGIN = 0.1
BOUNDARY_MARGIN = 0.25
#: They stay inside [-RANGE, RANGE]; a domain with no interval there is searched up to FAR for
#: the interval nearest to 0.
RANGE = 6.0
FAR = 1000.0
#: Half-width of the grid the numeric fallback scans, and its number of points.
SCAN_RANGE = 64.0
SCAN_POINTS = 64_001


@dataclass(frozen=True)
class Domains:
    """Where ``g`` and ``g'`` are finite and real (``defined``), and where they are also smooth."""

    defined: sp.Set
    smooth: sp.Set


def domains(activation: Activation) -> Domains:
    """The domains of ``activation``: the catalogue's, or worked out from its expressions."""
    if activation.domain is not None and activation.smooth_domain is not None:
        return Domains(activation.domain, activation.smooth_domain)
    return _worked_out(activation.function, activation.derivative)


@functools.lru_cache(maxsize=64)
def _worked_out(function: sp.Expr, derivative: sp.Expr) -> Domains:
    if function.has(sp.I) or derivative.has(sp.I):
        return Domains(sp.S.EmptySet, sp.S.EmptySet)
    g = _without_kinks(function.xreplace({X: _T}))
    # g' as the code computes it: sign(u) is defined at 0, only its kink is left out below.
    slope = derivative.xreplace({X: _T}).replace(sp.sign, lambda u: sp.Integer(1))
    slope = _without_kinks(slope)
    first = sp.diff(g, _T)
    second = sp.diff(first, _T)
    defined = _continuous(g, slope)
    smooth = _continuous(g, first, second)
    # SymPy takes real powers of negative numbers for granted; NumPy gives nan there.
    defined = _numerically_checked(defined, g, slope)
    smooth = _numerically_checked(smooth, g, first, second)
    return Domains(defined, smooth)


def _without_kinks(expr: sp.Expr) -> sp.Expr:
    return expr.replace(sp.Abs, lambda u: sp.sqrt(u**2))


def _continuous(*exprs: sp.Expr) -> sp.Set | None:
    """Where every expression is continuous, or None when SymPy cannot tell."""
    found: sp.Set = sp.S.Reals
    for expr in exprs:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                found = found.intersect(continuous_domain(expr, _T, sp.S.Reals))
        except (NotImplementedError, TypeError, ValueError, RecursionError):
            return None
    return found


def _numerically_checked(found: sp.Set | None, *exprs: sp.Expr) -> sp.Set:
    """``found`` if every expression is finite and real at a few hundred points inside it; else
    the set of grid intervals where they are (the numeric fallback)."""
    pieces = _simple_intervals(found, -SCAN_RANGE, SCAN_RANGE) if found is not None else None
    if found is not None and pieces is not None:
        points = _probe_points()
        inside = np.zeros_like(points, dtype=bool)
        for low, high in pieces:
            inside |= (points > low) & (points < high)
        ok = np.ones_like(points, dtype=bool)
        for expr in exprs:
            ok &= _finite(expr, points)
        if not np.any(inside & ~ok):
            return found
    grid = np.linspace(-SCAN_RANGE, SCAN_RANGE, SCAN_POINTS)
    good = np.ones_like(grid, dtype=bool)
    for expr in exprs:
        good &= _finite(expr, grid)
    return _grid_set(grid, good)


@functools.lru_cache(maxsize=1)
def _probe_points() -> np.ndarray:
    """A few hundred irregular points of [-SCAN_RANGE, SCAN_RANGE] to test a SymPy set on."""
    rng = np.random.default_rng(0)
    return np.sort(np.concatenate([rng.uniform(-4, 4, 200), rng.uniform(-60, 60, 100)]))


def _finite(expr: sp.Expr, points: np.ndarray) -> np.ndarray:
    """Where ``expr`` evaluates to a finite real number in NumPy float64."""
    function = sp.lambdify(_T, expr, modules="numpy")
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            values = np.asarray(function(points), dtype=np.complex128)
        except (TypeError, ValueError, ZeroDivisionError, OverflowError):
            return np.zeros_like(points, dtype=bool)
    values = np.broadcast_to(values, points.shape)
    return np.isfinite(values.real) & (values.imag == 0)


def _grid_set(grid: np.ndarray, good: np.ndarray) -> sp.Set:
    """The union of the open intervals spanned by runs of good grid points, shrunk by one cell
    at an end inside the grid (a run that reaches an end of the grid is taken to go on)."""
    pieces: list[sp.Set] = []
    start = None
    last = len(grid) - 1
    for n, flag in enumerate(np.append(good, False)):
        if flag and start is None:
            start = n
        elif not flag and start is not None:
            stop = n - 1
            if stop - start >= 4:
                low = -sp.oo if start == 0 else sp.Float(f"{grid[start + 1]:.3g}")
                high = sp.oo if stop == last else sp.Float(f"{grid[stop - 1]:.3g}")
                pieces.append(sp.Interval.open(low, high))
            start = None
    return sp.Union(*pieces) if pieces else sp.S.EmptySet


def _simple_intervals(found: sp.Set, low: float, high: float) -> list[tuple[float, float]] | None:
    """The open intervals of positive length of ``found`` inside ``(low, high)``, or None when
    SymPy keeps the set symbolic (infinitely many excluded points, as for ``log(sin(x))``)."""
    if found.has(sp.ImageSet):
        return None
    part = found.intersect(sp.Interval.open(low, high))
    pieces = part.args if isinstance(part, sp.Union) else (part,)
    out = []
    for piece in pieces:
        if isinstance(piece, sp.Interval):
            if piece.measure > 0:
                out.append((float(piece.start), float(piece.end)))
        elif not isinstance(piece, sp.FiniteSet) and piece != sp.S.EmptySet:
            return None
    return sorted(out)


def placement(activation: Activation) -> list[tuple[float, float]]:
    """The closed intervals where points that evaluate ``activation`` put its pre-activations
    (``symgrad check`` and the numeric proof): the smooth set within [-RANGE, RANGE], MARGIN
    inside a kink, and a quarter of the interval inside a boundary of the domain (``log`` near
    0 would amplify rounding, layer after layer). Empty when the smooth set holds no interval."""
    found = domains(activation)
    smooth = found.smooth
    kinked = found.defined == sp.S.Reals
    pieces = intervals(smooth, -RANGE, RANGE)
    if not pieces:
        far = intervals(smooth, -FAR, FAR)
        if far:
            low, high = min(far, key=lambda p: min(abs(p[0]), abs(p[1])))
            start = low if abs(low) < abs(high) else max(low, high - 2 * RANGE)
            pieces = [(start, min(high, start + 2 * RANGE))]
    shrunk = []
    for low, high in pieces:
        margin = MARGIN if kinked else max(MARGIN, BOUNDARY_MARGIN * (high - low))
        inner_low = low + margin if low > -RANGE else low
        inner_high = high - margin if high < RANGE else high
        if inner_high - inner_low > MARGIN:
            shrunk.append((inner_low, inner_high))
    return shrunk


def intervals(found: sp.Set, low: float, high: float) -> list[tuple[float, float]]:
    """The open intervals of positive length that make up ``found`` inside ``(low, high)``."""
    simple = _simple_intervals(found, low, high)
    return simple if simple is not None else []


#: Pieces of a set :func:`describe` writes out before it summarizes the rest.
DESCRIBED_PIECES = 3


def describe(found: sp.Set) -> str:
    """``(0, oo)``, ``(-oo, 0) U (0, oo)``: a set in plain text (its first pieces, if many)."""
    if found == sp.S.EmptySet:
        return "no real number"
    pieces = found.args if isinstance(found, sp.Union) else (found,)
    texts = []
    if len(pieces) > DESCRIBED_PIECES + 1:
        shown = pieces[:DESCRIBED_PIECES]
        return " U ".join(describe(p) for p in shown) + f" U ... ({len(pieces)} intervals)"
    for piece in pieces:
        if isinstance(piece, sp.Interval):
            left = "(" if piece.left_open else "["
            right = ")" if piece.right_open else "]"
            texts.append(f"{left}{_number(piece.start)}, {_number(piece.end)}{right}")
        else:
            texts.append(sp.sstr(piece))
    return " U ".join(texts)


def _number(value: sp.Expr) -> str:
    if value in (sp.oo, -sp.oo):
        return "oo" if value == sp.oo else "-oo"
    return sp.sstr(value) if value.is_Rational else f"{float(value):.6g}"


def restriction(activation: Activation) -> sp.Set | None:
    """Where a custom activation and its derivative are both defined (finite and real), when
    that is not every real number; None for one defined everywhere (every built-in one). The
    warning of ``symgrad codegen`` and the remark of the notes both say this set."""
    if activation.builtin:
        return None
    found = domains(activation).defined
    return None if found == sp.S.Reals else found


def restriction_warning(activation: Activation) -> str | None:
    """The warning ``symgrad codegen`` prints for an activation not defined on all reals."""
    found = restriction(activation)
    if found is None:
        return None
    if found == sp.S.EmptySet:
        return (
            f"the activation {activation.name} is not a finite real number for any real x; the "
            "generated code computes nan or inf"
        )
    return (
        f"the activation {activation.name} (with its derivative) is defined only for x in "
        f"{describe(found)}; elsewhere the generated code computes nan or inf"
    )
