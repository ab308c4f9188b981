"""What the provers share: their limits, the seed of their random points, and sampling.

Part of the proof (derivation -> **proof** -> program). Every number here is a limit of the
proof's work or of its tolerance; the README states them in prose.
"""

from __future__ import annotations

import random

#: Largest network (parameters) proved by exact differentiation of the composed loss by default.
COMPOSED_LIMIT = 40
#: Largest parameters x layers of a network proved by the composed loss (by default and with
#: ``--proof composed``): the composed loss nests one layer in the next, and its derivatives grow
#: with depth as much as with width (3-3-3-3-3, 48 x 4 = 192, takes about 10 s).
COMPOSED_COST_LIMIT = 200
#: Largest network ``--proof composed`` accepts; the composed loss grows too large beyond it.
COMPOSED_HARD_LIMIT = 200
#: Output units proved one by one symbolically; beyond, a sample of them.
OUTPUT_EXACT_LIMIT = 6
#: Output units up to which output-layer steps are proved symbolically; a wider output layer
#: makes every softmax entry a sum of that many terms, so beyond it they are checked numerically.
OUTPUT_SYMBOLIC_LIMIT = 12
#: Output units sampled when a wide output layer is checked numerically.
WIDE_OUTPUT_SAMPLE = 4
#: Output units up to which output-layer identities are proved by cancelling symbolically.
CANCEL_LIMIT = 3
#: Exact rational points used beyond :data:`CANCEL_LIMIT`.
RATIONAL_POINTS = 3
#: Working precision of the numeric checks, in decimal digits.
DIGITS = 40
#: Largest relative difference a numeric check accepts.
TOLERANCE = 1e-25
#: Multiplications per layer allowed for checking every bias (every unit's error signal).
UNIT_BUDGET = 100_000
#: Parameters per weight matrix (and per bias vector, half of it) in the numeric sample.
SAMPLE_PER_LAYER = 6


def seed_for(sizes: tuple[int, ...]) -> int:
    """A seed fixed by the sizes, so the same command checks the same points every time."""
    value = 17
    for n in sizes:
        value = (value * 1_000_003 + n) % (2**31)
    return value


def sample_units(n: int, limit: int, seed: int) -> list[int]:
    """Units ``1..n`` when ``n <= limit``, else a deterministic sample with the first and last."""
    if n <= limit:
        return list(range(1, n + 1))
    rng = random.Random(seed)
    middle = rng.sample(range(2, n), limit - 2)
    return sorted({1, n, *middle})
