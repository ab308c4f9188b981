"""symgrad: derive, prove, typeset and generate backpropagation for feed-forward networks.

Pipeline: spec -> notation / catalogue -> model -> derivation (+ proof) -> renderers -> cli.

>>> from symgrad import NetworkSpec, derive
>>> derivation = derive(NetworkSpec.parse([3, 3, 2]))
"""

from __future__ import annotations

from symgrad.derivation import Derivation, Stage, Step, derive
from symgrad.errors import ExpressionError, ProofError, SpecError, SymgradError
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
    "SymgradError",
    "__version__",
    "derive",
]
