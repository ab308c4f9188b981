"""symgrad: derive, prove, typeset and generate backpropagation for feed-forward networks.

Pipeline: spec -> catalogue / notation -> model -> derivation -> proof -> program -> targets /
renderers -> cli (see :mod:`symgrad.pipeline`).

>>> import symgrad
>>> derivation = symgrad.derive(symgrad.NetworkSpec.parse([3, 3, 2]))
>>> mlp = symgrad.load([3, 3, 2])  # the generated NumPy module, from a private cache
"""

from __future__ import annotations

import os

# SymPy sizes the caches of its core functions when it is first imported (1000 results by
# default). Deriving a wide output layer evicts results it needs again, and generating the
# unrolled C form of 2-128 then grows as n_L^1.2 instead of linearly; 200,000 results keep it
# linear for about 7 MB more. A size the user set, or a SymPy imported before symgrad, is kept.
os.environ.setdefault("SYMPY_CACHE_SIZE", "200000")

from symgrad import jupyter  # noqa: E402 - SymPy must see the cache size
from symgrad.cache import load  # noqa: E402
from symgrad.derivation import Derivation, Stage, Step, StepId  # noqa: E402
from symgrad.errors import ExpressionError, ProofError, SpecError, SymgradError  # noqa: E402
from symgrad.pipeline import derive  # noqa: E402
from symgrad.spec import NetworkSpec  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "Derivation",
    "ExpressionError",
    "NetworkSpec",
    "ProofError",
    "SpecError",
    "Stage",
    "Step",
    "StepId",
    "SymgradError",
    "__version__",
    "derive",
    "load",
]

jupyter.register()
