"""The parameters a network starts from: ``W_k`` entries N(0, 1/n_{k-1}), ``b_k`` N(0, 0.01).

Beside the naming table. Generated modules compute the same numbers in their own ``init_params``
(they import nothing of symgrad); :func:`draw` is that initialization for symgrad itself: the
C loader's ``init_params`` and the points of ``symgrad check``, which draws its parameters as a
user does. A test compares it with every target's ``init_params``.
"""

from __future__ import annotations

import numpy as np

from symgrad import notation as nt


def draw(sizes: tuple[int, ...], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """``{"W1": ..., "b1": ..., ...}`` in float64, drawn from ``rng`` layer by layer: ``W_k``
    (``n_k x n_{k-1}``, entries N(0, 1/n_{k-1})) then ``b_k`` (entries N(0, 0.01))."""
    params: dict[str, np.ndarray] = {}
    for k in range(1, len(sizes)):
        n_out, n_in = sizes[k], sizes[k - 1]
        params[nt.param_key("W", k)] = rng.standard_normal((n_out, n_in)) / np.sqrt(n_in)
        params[nt.param_key("b", k)] = 0.1 * rng.standard_normal(n_out)
    return params


def init_params(sizes: tuple[int, ...], seed: int = 0) -> dict[str, np.ndarray]:
    """The parameters ``init_params(seed)`` of a generated module gives."""
    return draw(sizes, np.random.default_rng(seed))
