"""symgrad: derive, prove, typeset and generate backpropagation for feed-forward networks.

Pipeline: spec -> catalogue / notation -> model -> derivation -> proof -> program -> targets /
renderers -> cli (see :mod:`symgrad.pipeline`).

>>> from symgrad import NetworkSpec, derive
>>> derivation = derive(NetworkSpec.parse([3, 3, 2]))
"""

from __future__ import annotations

from symgrad import jupyter
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
]

jupyter.register()
