"""Hand-written NumPy backpropagation: the independent oracle and the benchmark baseline.

This module shares no code with symgrad. It implements the networks of the catalogue the way an
engineer would write them by hand: matrix form over the batch (rows are samples), ``A_k = H_{k-1}
W_k^T + b_k``, no Python loop over samples, and numerically stable sigmoid, softplus, log-softmax
and log-sigmoid, so that pre-activations up to ``|a| = 1e4`` give finite results without NumPy
warnings.

The test-suite uses it as an oracle against generated modules; ``bench/bench_codegen.py`` times it
as the baseline every other implementation is compared with, so it is written to be fast, not
merely correct (in-place updates where they save a temporary, derivatives recovered from ``h_k``
where possible, no gradient of the input layer).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

Array = np.ndarray

HIDDEN_ACTIVATIONS: tuple[str, ...] = (
    "sigmoid",
    "tanh",
    "relu",
    "leaky-relu",
    "softplus",
    "identity",
)
"""Names of the hidden activations ``g`` this reference implements."""

OUTPUT_LOSS_PAIRS: tuple[tuple[str, str], ...] = (
    ("softmax", "cross-entropy"),
    ("sigmoid", "binary-cross-entropy"),
    ("softmax", "squared-error"),
    ("sigmoid", "squared-error"),
    ("identity", "squared-error"),
)
"""The (output function ``O``, loss) pairs of the catalogue."""

LEAKY_SLOPE = 0.01
"""Slope of leaky-relu below zero; also its derivative at zero."""


# ----------------------------------------------------------------------------------------------
# Elementwise functions. Each takes a fresh array it may overwrite or a read-only one; the ones
# marked "in place" are only ever called on pre-activations this module owns.
# ----------------------------------------------------------------------------------------------


def _sigmoid(a: Array) -> Array:
    """``sigma(a) = 1 / (1 + e^{-a}) = (1 + tanh(a/2)) / 2``; the tanh form never overflows."""
    s = np.tanh(0.5 * a)
    s += 1.0
    s *= 0.5
    return s


def _softplus(a: Array) -> Array:
    """``log(1 + e^a) = max(a, 0) + log1p(e^{-|a|})``, stable for any ``a``."""
    return np.maximum(a, 0.0) + np.log1p(np.exp(-np.abs(a)))


def _leaky_relu(a: Array) -> Array:
    """``a`` for ``a > 0``, ``0.01 a`` otherwise."""
    return np.where(a > 0.0, a, LEAKY_SLOPE * a)


def _log_softmax(a: Array) -> Array:
    """``log softmax(a)`` along the last axis: ``(a - m) - log sum exp(a - m)``, ``m = max a``."""
    z = a - a.max(axis=-1, keepdims=True)
    z -= np.log(np.exp(z).sum(axis=-1, keepdims=True))
    return z


_FORWARD: dict[str, Callable[[Array], Array]] = {
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
    "relu": lambda a: np.maximum(a, 0.0),
    "leaky-relu": _leaky_relu,
    "softplus": _softplus,
    "identity": lambda a: a,
}
"""``h = g(a)`` for each hidden activation."""


def _chain_activation(name: str, grad_h: Array, a: Array, h: Array) -> Array:
    """``grad_a L = grad_h L (.) g'(a)``, overwriting ``grad_h`` (which this module owns).

    ``g'`` is taken from ``h`` where that is cheaper: ``sigma' = h (1 - h)``, ``tanh' = 1 - h^2``.
    relu has derivative 0 at 0; leaky-relu has 0.01 at 0 and below, 1 above; softplus' = sigma.
    """
    if name == "sigmoid":
        grad_h *= h
        grad_h *= 1.0 - h
    elif name == "tanh":
        grad_h *= 1.0 - h * h
    elif name == "relu":
        grad_h *= a > 0.0
    elif name == "leaky-relu":
        grad_h *= np.where(a > 0.0, 1.0, LEAKY_SLOPE)
    elif name == "softplus":
        grad_h *= _sigmoid(a)
    # identity: g' = 1, nothing to do
    return grad_h


def _check_config(activations: Sequence[str], output: str, loss: str | None, n_layers: int) -> None:
    """Raise ``ValueError`` unless the names are known and each hidden layer has an activation."""
    if len(activations) != n_layers - 1:
        raise ValueError(
            f"need one activation per hidden layer ({n_layers - 1}), got {len(activations)}"
        )
    for name in activations:
        if name not in _FORWARD:
            raise ValueError(f"unknown activation {name!r}; known: {', '.join(HIDDEN_ACTIVATIONS)}")
    if loss is None:
        if output not in ("softmax", "sigmoid", "identity"):
            raise ValueError(f"unknown output function {output!r}")
    elif (output, loss) not in OUTPUT_LOSS_PAIRS:
        pairs = ", ".join(f"{o}/{lo}" for o, lo in OUTPUT_LOSS_PAIRS)
        raise ValueError(
            f"output {output!r} with loss {loss!r} is not supported; use one of {pairs}"
        )


def _n_layers(params: dict[str, Array]) -> int:
    """Number of weight layers ``L``: the largest ``k`` with ``W_k`` in ``params``."""
    n = 0
    while f"W{n + 1}" in params:
        n += 1
    if n == 0:
        raise ValueError("params has no 'W1'")
    return n


def make_params(sizes: Sequence[int], seed: int = 0) -> dict[str, Array]:
    """Random float64 parameters for layer sizes ``(n_0, ..., n_L)``.

    ``W_k`` is ``(n_k, n_{k-1})`` standard normal scaled by ``1/sqrt(n_{k-1})`` (so pre-activations
    stay of order one at any width); ``b_k`` is ``(n_k,)`` normal with standard deviation 0.1.
    """
    if len(sizes) < 2 or any(int(n) != n or n < 1 for n in sizes):
        raise ValueError(f"need at least two positive integer layer sizes, got {tuple(sizes)}")
    rng = np.random.default_rng(seed)
    params: dict[str, Array] = {}
    for k in range(1, len(sizes)):
        fan_in, fan_out = int(sizes[k - 1]), int(sizes[k])
        params[f"W{k}"] = rng.standard_normal((fan_out, fan_in)) / np.sqrt(fan_in)
        params[f"b{k}"] = 0.1 * rng.standard_normal(fan_out)
    return params


def forward(
    params: dict[str, Array],
    X: Array,
    *,
    activations: Sequence[str],
    output: str,
) -> Array:
    """``yhat = O(a_L)`` with ``a_k = b_k + W_k h_{k-1}``, ``h_k = g_k(a_k)``, ``h_0 = x``.

    ``X`` of shape ``(B, n_0)`` gives ``(B, n_L)``; ``X`` of shape ``(n_0,)`` gives ``(n_L,)``.
    """
    n_layers = _n_layers(params)
    _check_config(activations, output, None, n_layers)
    h = np.asarray(X, dtype=np.float64)
    for k in range(1, n_layers):
        h = _FORWARD[activations[k - 1]](h @ params[f"W{k}"].T + params[f"b{k}"])
    a = h @ params[f"W{n_layers}"].T + params[f"b{n_layers}"]
    if output == "softmax":
        return np.exp(_log_softmax(a))
    if output == "sigmoid":
        return _sigmoid(a)
    return a


def loss_and_gradients(
    params: dict[str, Array],
    X: Array,
    Y: Array,
    *,
    activations: Sequence[str],
    output: str,
    loss: str,
) -> tuple[float, dict[str, Array]]:
    """Mean per-sample loss over the rows of ``X`` and its gradient wrt every parameter.

    Per-sample losses: cross-entropy ``-sum_i y_i log yhat_i``; binary cross-entropy
    ``-sum_i [y_i log yhat_i + (1 - y_i) log(1 - yhat_i)]``; squared error
    ``1/2 sum_i (yhat_i - y_i)^2``. For 1-D ``X`` (one sample) the loss is the per-sample loss.

    Backward pass, with ``Delta_k`` the ``(B, n_k)`` matrix of rows ``grad_{a_k} L / B``:
    ``grad_{W_k} = Delta_k^T H_{k-1}``, ``grad_{b_k} = sum_rows Delta_k``,
    ``Delta_{k-1} = (Delta_k W_k) (.) g'(A_{k-1})``. For softmax with cross-entropy
    ``grad_{a_L} L = yhat sum_i y_i - y``, which is ``yhat - y`` only when ``sum_i y_i = 1``.
    """
    n_layers = _n_layers(params)
    _check_config(activations, output, loss, n_layers)
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    if X.ndim == 1:
        X = X[None, :]
        Y = Y[None, :]
    batch = X.shape[0]

    # forward, keeping pre-activations A_k and activations H_k (H_0 = X)
    hs: list[Array] = [X]
    pre: list[Array] = [X]  # pre[k] = A_k; pre[0] is a placeholder
    h = X
    for k in range(1, n_layers):
        a = h @ params[f"W{k}"].T + params[f"b{k}"]
        h = _FORWARD[activations[k - 1]](a)
        pre.append(a)
        hs.append(h)
    a = h @ params[f"W{n_layers}"].T + params[f"b{n_layers}"]

    # loss from a_L (stable log-softmax / log-sigmoid) and Delta_L = grad_{a_L} L / B
    if output == "softmax" and loss == "cross-entropy":
        logp = _log_softmax(a)
        value = -np.vdot(Y, logp)
        delta = np.exp(logp)
        delta *= Y.sum(axis=1, keepdims=True)
        delta -= Y
    elif loss == "binary-cross-entropy":
        # -[y log sigma(a) + (1 - y) log sigma(-a)] = softplus(a) - y a
        value = _softplus(a).sum() - np.vdot(Y, a)
        delta = _sigmoid(a)
        delta -= Y
    else:  # squared error: r = yhat - y = grad_yhat L, then through the Jacobian of O
        if output == "softmax":
            yhat = np.exp(_log_softmax(a))
        elif output == "sigmoid":
            yhat = _sigmoid(a)
        else:
            yhat = a
        r = yhat - Y
        value = 0.5 * np.vdot(r, r)
        if output == "softmax":
            # J^T r = yhat (.) (r - <r, yhat>)
            r -= np.einsum("bi,bi->b", r, yhat)[:, None]
            r *= yhat
        elif output == "sigmoid":
            r *= yhat * (1.0 - yhat)
        delta = r
    delta /= batch

    grads: dict[str, Array] = {}
    for k in range(n_layers, 0, -1):
        if batch == 1:  # an outer product: broadcasting is ~2x faster than a GEMM with K = 1
            grads[f"W{k}"] = delta.T * hs[k - 1]
        else:
            grads[f"W{k}"] = delta.T @ hs[k - 1]
        grads[f"b{k}"] = delta.sum(axis=0)
        if k > 1:
            delta = _chain_activation(
                activations[k - 2], delta @ params[f"W{k}"], pre[k - 1], hs[k - 1]
            )
    return float(value) / batch, grads
