"""The points ``symgrad check`` evaluates at: parameters, inputs and targets where every hidden
activation is defined and smooth.

Drawn from the seed as a user would initialize a network (``W_k`` entries N(0, 1/n_{k-1}),
``b_k`` entries N(0, 0.01), inputs N(0, 1), target rows of probabilities), then moved, layer by
layer, into the intervals :func:`symgrad.domain.placement` gives for each hidden activation:
every pre-activation of every row must lie in its smooth set, at least
:data:`~symgrad.domain.MARGIN` from a kink such as ``relu``'s at 0, a quarter of its interval
from the boundary of a restricted domain such as ``log``'s ``x > 0`` (near it, ``log`` would
amplify rounding by 10 per layer), and within ``[-RANGE, RANGE]`` so that a deep stack of ``exp``
cannot overflow. A unit whose rows are not all inside gets the bias nearest to the drawn one that
puts them inside; if none does, its row of weights is halved until one does. A smooth set with
no interval at all means there is no point to check at: :class:`~symgrad.errors.ModuleCheckError`.
The forward pass that places them is the program's (:func:`symgrad.program.evaluate`), the one
generated code is printed from.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass

import numpy as np
import sympy as sp

from symgrad import domain, initial
from symgrad import notation as nt
from symgrad.catalogue import Activation
from symgrad.derivation import build_derivation
from symgrad.errors import ModuleCheckError
from symgrad.expressions import X as SYMBOL
from symgrad.program import Var, evaluate, lower_matrix, prune
from symgrad.spec import NetworkSpec

#: Largest central-difference step, relative to max(1, |theta|): networks smooth everywhere, with
#: a restricted domain, with a kink (the step must not reach it from domain.MARGIN away).
STEP_SMOOTH = 1.0
STEP_RESTRICTED = 1e-2
STEP_KINKED = 1e-3
#: Where a saturated unit's pre-activations go (on the side where the activation saturates),
#: and how small ``g'`` must be there, against its largest value where units are placed, for
#: the activation to saturate on that side (sigmoid: 1.7e-5 at 11; tanh: 1e-9).
SATURATED = (10.5, 12.0)
SATURATION = 1e-3


@dataclass(frozen=True)
class Points:
    """Parameters and data of every code path, and what the choice of them implies."""

    params: dict[str, np.ndarray]
    X: np.ndarray  # (B, n_0), the larger batch
    Y: np.ndarray
    x: np.ndarray  # (n_0,), one sample
    y: np.ndarray
    X1: np.ndarray  # (1, n_0), a batch of one
    Y1: np.ndarray
    labels: np.ndarray  # (B,) class indices, for targets that accept them
    XL: np.ndarray  # (large, n_0), a large batch for code with branches by rows (maybe empty)
    YL: np.ndarray
    max_step: float
    #: How the points were placed, for the report ("" when drawn freely).
    note: str
    #: The hidden layers whose last unit was moved where the activation saturates (only when
    #: asked for: see :func:`draw`).
    saturated: tuple[int, ...] = ()


def draw(
    spec: NetworkSpec, seed: int, batch: int, large: int = 0, saturate: bool = False
) -> Points:
    """The points of a check of ``spec`` with a batch of ``batch`` rows (and a batch of
    ``large`` rows, if not 0). With ``saturate``, the last unit of each hidden layer of two or
    more units is moved where its activation saturates (:func:`_saturate`): a point of its own,
    since the gradient through such a unit is too small to show a wrong statement about it.

    The forward pass that places each layer is the program's (the one generated code is printed
    from), run in float64; its pre-activations are moved into place as it goes.
    """
    rng = np.random.default_rng(seed)
    sizes = spec.sizes
    rows = batch + 2 + large  # the batch, one sample, a batch of one, the large batch
    X = rng.standard_normal((rows, sizes[0]))
    params = initial.draw(sizes, rng)  # as a user initializes them, after the inputs
    placer = _Placer(spec, params, saturate)
    forward = prune(lower_matrix(build_derivation(spec)), ("yhat",))
    evaluate(forward, params, X, np.zeros((rows, sizes[-1])), watch=placer)
    Y = rng.random((rows, sizes[-1])) + 0.05
    Y /= Y.sum(axis=1, keepdims=True)
    labels = rng.integers(0, sizes[-1], size=batch)
    return Points(
        params,
        X[:batch],
        Y[:batch],
        X[batch],
        Y[batch],
        X[batch + 1 : batch + 2],
        Y[batch + 1 : batch + 2],
        labels,
        X[batch + 2 :],
        Y[batch + 2 :],
        placer.max_step,
        "; ".join(
            f"pre-activations of {activation} (hidden layer{'s' if len(layers) > 1 else ''} "
            f"{', '.join(map(str, layers))})"
            for activation, layers in placer.restricted.items()
        ),
        tuple(placer.saturated),
    )


class _Placer:
    """A watch of the program's forward pass: each hidden layer's pre-activations moved into
    the intervals of its activation (the layer's biases, and if needed its weights, changed to
    match), dead units revived, and the activation checked finite where it is evaluated."""

    def __init__(
        self, spec: NetworkSpec, params: dict[str, np.ndarray], saturate: bool = False
    ) -> None:
        self.spec = spec
        self.params = params
        self.saturate = saturate
        #: The hidden layers whose last unit was moved where the activation saturates.
        self.saturated: list[int] = []
        self.max_step = STEP_SMOOTH
        #: Where each restricted activation was kept inside, and in which layers.
        self.restricted: dict[str, list[int]] = {}
        self.pre: dict[int, np.ndarray] = {}

    def __call__(self, var: Var, value: np.ndarray) -> np.ndarray:
        q = var.meaning.quantity if var.meaning is not None else None
        if q is None or q.gradient or q.layer is None or q.layer >= self.spec.depth:
            return value
        k = q.layer
        activation = self.spec.activation(k)
        if q.base == "h":
            _check_finite(activation, self.pre[k], value, k)
            return value
        if q.base != "a":
            return value
        found = domain.domains(activation)
        if found.smooth != sp.S.Reals:
            kinked = found.defined == sp.S.Reals
            self.max_step = min(self.max_step, STEP_KINKED if kinked else STEP_RESTRICTED)
            if not kinked:
                where = f"{activation.name} inside {domain.describe(found.smooth)}"
                self.restricted.setdefault(where, []).append(k)
        pieces = _targets(activation, found, k)
        W, b = self.params[nt.param_key("W", k)], self.params[nt.param_key("b", k)]
        products = np.asarray(value) - b
        A = _place(products, W, b, pieces)
        A = _revive(activation, products, W, b, A, pieces)
        if self.saturate:
            moved = _saturate(activation, found, products, W, b, A, pieces)
            if moved is not A:
                self.saturated.append(k)
            A = moved
        self.pre[k] = A
        return A


def _targets(
    activation: Activation, found: domain.Domains, layer: int
) -> list[tuple[float, float]]:
    """The closed intervals the pre-activations of a layer must lie in
    (:func:`symgrad.domain.placement`), or :class:`ModuleCheckError` when there are none."""
    pieces = domain.placement(activation)
    if not pieces:
        raise ModuleCheckError(
            f"there is no point at which to check: the activation {activation.name} of hidden "
            f"layer {layer} is smooth (defined, with a continuous derivative) only on "
            f"{domain.describe(found.smooth)}, which holds no interval to draw pre-activations from"
        )
    return pieces


def _inside(values: np.ndarray, pieces: list[tuple[float, float]]) -> np.ndarray:
    ok = np.zeros(values.shape, dtype=bool)
    for low, high in pieces:
        ok |= (values >= low) & (values <= high)
    return ok


def _place(
    products: np.ndarray,
    W: np.ndarray,
    b: np.ndarray,
    pieces: list[tuple[float, float]],
    units: np.ndarray | None = None,
) -> np.ndarray:
    """Pre-activations ``products + b`` with each unit moved inside ``pieces`` (``W`` and ``b``
    are changed in place to match): the units outside, or ``units``."""
    A = products + b
    bad = np.flatnonzero(~np.all(_inside(A, pieces), axis=0)) if units is None else units
    for i in bad:
        column = products[:, i]
        for _ in range(60):
            shift = _shift(column, float(b[i]), pieces)
            if shift is not None:
                b[i] = shift
                break
            column = column / 2
            W[i] /= 2
        else:  # pragma: no cover - a column halved 60 times fits any interval
            raise ModuleCheckError("cannot place the pre-activations inside the domain")
        A[:, i] = column + b[i]
    return A


def _revive(
    activation: Activation,
    products: np.ndarray,
    W: np.ndarray,
    b: np.ndarray,
    A: np.ndarray,
    pieces: list[tuple[float, float]],
) -> np.ndarray:
    """``A`` with every dead unit moved into a piece where ``g'`` is not 0.

    A unit whose ``g'`` is 0 on every row (a relu unit below 0 for the whole batch) passes no
    gradient back: were all the units of a layer dead, every gradient below it would be 0 at
    the points, right or wrong, and the check would prove nothing about them.
    """
    slope = _numeric(activation.derivative)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        live = [p for p in pieces if np.all(slope(np.linspace(*p, 5)) != 0)]
        slopes = np.broadcast_to(np.asarray(slope(A), dtype=np.float64), A.shape)
    dead = np.flatnonzero(np.all(slopes == 0, axis=0))
    if not live or not len(dead):
        return A
    return _place(products, W, b, live, dead)


def _saturate(
    activation: Activation,
    found: domain.Domains,
    products: np.ndarray,
    W: np.ndarray,
    b: np.ndarray,
    A: np.ndarray,
    pieces: list[tuple[float, float]],
) -> np.ndarray:
    """``A`` with the last unit of a layer of two or more moved to ``|a| > 10``, where the
    activation saturates (``g'`` nearly 0, as for sigmoid and tanh), if it does on a side where
    it is smooth: code whose stable forms switch there is checked on both sides."""
    if A.shape[1] < 2:
        return A
    slope = _numeric(activation.derivative)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inside = np.concatenate([np.linspace(low, high, 9) for low, high in pieces])
        largest = float(np.max(np.abs(np.broadcast_to(slope(inside), inside.shape))))
        for low, high in (SATURATED, (-SATURATED[1], -SATURATED[0])):
            if not sp.Interval(low, high).is_subset(found.smooth):
                continue
            grid = np.linspace(low, high, 9)
            values = np.abs(np.broadcast_to(np.asarray(slope(grid), dtype=float), grid.shape))
            if (
                np.all(np.isfinite(values))
                and values.min() > 0
                and values.max() < (SATURATION * largest)
            ):
                return _place(products, W, b, [(low, high)], np.array([A.shape[1] - 1]))
    return A


def _shift(column: np.ndarray, drawn: float, pieces: list[tuple[float, float]]) -> float | None:
    """The bias nearest to ``drawn`` that puts every value of ``column + bias`` inside."""
    candidates = [drawn]
    for low, high in pieces:
        candidates += list(low - column) + list(high - column)
    for bias in sorted(candidates, key=lambda c: abs(c - drawn)):
        if np.all(_inside(column + bias, pieces)):
            return float(bias)
    return None


def _check_finite(activation: Activation, A: np.ndarray, H: np.ndarray, layer: int) -> None:
    """Refuse points where ``g`` (as the program computed it, ``H``) or ``g'`` is not finite."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        slopes = _numeric(activation.derivative)(A)
    for what, found in (("the activation", H), ("its derivative", slopes)):
        found = np.broadcast_to(np.asarray(found, dtype=np.complex128), A.shape)
        bad = ~(np.isfinite(found.real) & (found.imag == 0))
        if np.any(bad):
            raise ModuleCheckError(
                f"there is no point at which to check: {what} {activation.name} of hidden layer "
                f"{layer} is not finite at the pre-activation {A[bad][0]:.3g}, chosen inside "
                "the set where SymPy finds it smooth"
            )


@functools.lru_cache(maxsize=64)
def _numeric(expr: sp.Expr):  # type: ignore[no-untyped-def]
    """``expr`` in :data:`~symgrad.expressions.X` as a NumPy function (printed by SymPy from the
    parsed expression; no user text is run), made once per expression."""
    return sp.lambdify(SYMBOL, expr, modules="numpy")
