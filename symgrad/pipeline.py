"""The pipeline in one call: build the derivation of a network, then prove it.

spec -> catalogue / notation -> model -> derivation -> proof -> program -> targets / renderers ->
cli. :func:`derive` is what the command line and the Python API use; it is the only place that
runs the stages in order, so no stage needs to import a later one.
"""

from __future__ import annotations

from symgrad.derivation import Derivation, build_derivation
from symgrad.proof import prove as run_proof
from symgrad.spec import NetworkSpec


def derive(spec: NetworkSpec, *, prove: bool = True, method: str = "auto") -> Derivation:
    """Derive every partial and gradient of the loss for ``spec``; prove each step unless told not.

    ``method`` chooses the proof (``auto``, ``composed`` or ``numeric``; see :mod:`symgrad.proof`).
    """
    derivation = build_derivation(spec)
    return run_proof(derivation, method=method) if prove else derivation
