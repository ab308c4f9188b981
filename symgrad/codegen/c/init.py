"""``NAME_init_params(seed, params)`` of the C target: random parameters from a documented stream.

Part of the C target (program -> **c**). The generated C function and :func:`init_params` here
compute the same numbers, bit for bit, on every machine with IEEE arithmetic:

- the stream is SplitMix64 seeded with ``seed`` (modulo 2^64): each draw adds
  ``0x9E3779B97F4A7C15`` to the state and mixes it (``z ^= z >> 30; z *= 0xBF58476D1CE4E5B9;
  z ^= z >> 27; z *= 0x94D049BB133111EB; z ^= z >> 31``, all modulo 2^64);
- a draw gives ``u``, its top 24 bits over 2^24 (exact in float and double), and the entry
  ``(2u - 1) s``: uniform in ``[-s, s)``, one draw per entry in the order of ``params`` (``W1``
  row by row, ``b1``, ``W2``, ...);
- ``s`` is ``sqrt(3 / n_{k-1})`` for ``W_k`` and ``sqrt(3) / 10`` for ``b_k``, rounded to
  ``real_t``: the variances of the NumPy module's ``init_params`` (``1/n_{k-1}`` and ``0.01``),
  from another distribution and another stream.

The C loader's ``init_params`` calls the C function, so a C program and its Python object start
from the same parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from symgrad import notation as nt
from symgrad.codegen.c.printer import CPrinter
from symgrad.spec import NetworkSpec

_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_MIX1 = 0xBF58476D1CE4E5B9
_MIX2 = 0x94D049BB133111EB


@dataclass(frozen=True)
class InitLayer:
    """One parameter array as ``NAME_init_params`` fills it: its key, size, scale and comment."""

    key: str
    offset: int
    size: int
    scale: str  # a literal of real_t
    comment: str


def scales(spec: NetworkSpec) -> list[tuple[str, int, float, str]]:
    """``(key, size, s, why)`` of each parameter array, in the order of ``params``."""
    out = []
    for k in range(1, spec.depth + 1):
        rows, cols = spec.sizes[k], spec.sizes[k - 1]
        out.append(
            (
                nt.param_key("W", k),
                rows * cols,
                math.sqrt(3.0 / cols),
                f"variance 1/n_{k - 1} = 1/{cols}",
            )
        )
        out.append((nt.param_key("b", k), rows, math.sqrt(3.0) / 10.0, "variance 0.01"))
    return out


def init_layers(spec: NetworkSpec, dtype: str) -> list[InitLayer]:
    """The arrays for the template of ``NAME_init_params``, each scale a ``real_t`` literal."""
    printer = CPrinter(dtype)
    layers, offset = [], 0
    for key, size, scale, why in scales(spec):
        layers.append(InitLayer(key, offset, size, printer.literal(scale), f"{key}: {why}"))
        offset += size
    return layers


def init_params(spec: NetworkSpec, seed: int, dtype: str = "double") -> np.ndarray:
    """The flat ``params`` that ``NAME_init_params(seed, params)`` writes, computed in Python."""
    state = seed & _MASK
    real = np.float64 if dtype == "double" else np.float32
    values = []
    for _, size, scale, _ in scales(spec):
        s = real(scale)
        for _ in range(size):
            state = (state + _GOLDEN) & _MASK
            z = state
            z = ((z ^ (z >> 30)) * _MIX1) & _MASK
            z = ((z ^ (z >> 27)) * _MIX2) & _MASK
            z ^= z >> 31
            u = real(z >> 40) * real(2.0**-24)
            values.append((real(2) * u - real(1)) * s)
    return np.array(values, dtype=real)


__all__ = ["InitLayer", "init_layers", "init_params", "scales"]
