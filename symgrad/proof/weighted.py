"""The weighted form of the program against the per-sample program it weighs.

Part of the proof. The program of generated code weighs the rows of a batch by ``r_s = w_s /
sum(w)`` (``1/B`` without sample weights): its loss is ``sum_s r_s L^(s)``, the rows of
``Delta_L`` are ``r_s grad_{a_L} L^(s)``, and every gradient is linear in ``Delta_L``. The numeric
proof checks that program for one sample (``r = 1``); this check runs it on a batch with
unequal weights and requires every output to be the weighted combination of the one-sample
results: the per-sample losses are each sample's loss, the loss and each parameter's gradient
are ``sum_s r_s`` times the sample's, and row ``s`` of the input gradient is ``r_s`` times the
sample's. A program that divides by ``B``, or weighs a row by anything but ``r_s``, fails.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from symgrad import notation as nt
from symgrad.derivation import Derivation
from symgrad.errors import ProofError

#: Runs the weighted program: ``(params, X, Y, weights) -> {output name: value}``.
WeightedRun = Callable[[Mapping[str, Any], np.ndarray, np.ndarray, np.ndarray], dict[str, Any]]

#: The rows of the batch the check weighs, and their weights (unequal, none of them 1/B).
WEIGHTS = np.array([0.25, 2.0, 1.0, 0.75])
#: Relative agreement required in float64 (sums of a few rounded products).
TOLERANCE = 1e-11


def check_weighted(derivation: Derivation, run: WeightedRun) -> int:
    """Check the weighted program (``run``) against itself one sample at a time; return the
    number of values compared, or raise :class:`ProofError`."""
    spec = derivation.spec
    rng = np.random.default_rng(zlib.crc32(repr(spec.sizes).encode()))
    params: dict[str, np.ndarray] = {}
    for k in range(1, spec.depth + 1):
        n_out, n_in = spec.sizes[k], spec.sizes[k - 1]
        params[nt.param_key("W", k)] = rng.standard_normal((n_out, n_in)) / np.sqrt(n_in)
        params[nt.param_key("b", k)] = 0.1 * rng.standard_normal(n_out)
    rows = len(WEIGHTS)
    X = rng.uniform(0.1, 1.0, (rows, spec.sizes[0]))
    Y = rng.dirichlet(np.ones(spec.sizes[-1]), rows)
    # A restricted activation (log, sqrt) may be undefined at these points: NaN on both sides,
    # without NumPy's warnings.
    with np.errstate(all="ignore"):
        batch = run(params, X, Y, WEIGHTS)
        singles = [run(params, X[s : s + 1], Y[s : s + 1], WEIGHTS[s : s + 1]) for s in range(rows)]
    r = WEIGHTS / WEIGHTS.sum()
    compared = 0
    for name, value in batch.items():
        each = [np.asarray(single[name], dtype=float) for single in singles]
        if name == nt.SAMPLE_LOSSES:
            expected = np.concatenate([e.reshape(-1) for e in each])
        elif name == nt.INPUT_GRADIENT:
            expected = np.concatenate([r[s] * e.reshape(1, -1) for s, e in enumerate(each)])
        else:
            expected = sum(r[s] * e for s, e in enumerate(each))
        got = np.asarray(value, dtype=float).reshape(np.shape(expected))
        finite = np.abs(expected)[np.isfinite(expected)]
        scale = max(1.0, float(np.max(finite, initial=0.0)))
        wrong = ~np.isclose(got, expected, rtol=0.0, atol=TOLERANCE * scale, equal_nan=True)
        if wrong.any():
            raise ProofError(
                f"the weighted program's {name} is not the weighted combination of its samples'"
                f" (largest difference {np.nanmax(np.abs(got - expected)):.3g})"
            )
        compared += int(np.size(expected))
    return compared
