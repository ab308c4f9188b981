"""symgrad: derive, prove, typeset and generate backpropagation for feed-forward networks.

Pipeline: spec -> catalogue / notation -> model -> derivation -> proof -> program -> targets /
renderers -> cli (see :mod:`symgrad.pipeline`).

>>> import symgrad
>>> derivation = symgrad.derive(symgrad.NetworkSpec.parse([3, 3, 2]))
>>> mlp = symgrad.load([3, 3, 2])  # the generated NumPy module, from a private cache
"""

from __future__ import annotations

from symgrad import jupyter
from symgrad.cache import load
from symgrad.derivation import Derivation, Stage, Step, StepId
from symgrad.errors import ExpressionError, ProofError, SpecError, SymgradError
from symgrad.pipeline import derive
from symgrad.spec import NetworkSpec

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
