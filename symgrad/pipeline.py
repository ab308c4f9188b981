"""The pipeline in one call: build the derivation of a network, lower it, prove both.

spec -> catalogue / notation -> model -> derivation -> proof -> program -> targets / renderers ->
cli. :func:`derive` is what the command line and the Python API use; it is the only place that
runs the stages in order, so no stage needs to import a later one: the proof checks the program
through a function handed to it here.
"""

from __future__ import annotations

from typing import Any

from symgrad.derivation import Derivation, build_derivation
from symgrad.proof import prove as run_proof
from symgrad.spec import NetworkSpec


def derive(spec: NetworkSpec, *, prove: bool = True, method: str = "auto") -> Derivation:
    """Derive every partial and gradient of the loss for ``spec``; prove each step unless told not.

    ``method`` chooses the proof (``auto``, ``composed`` or ``numeric``; see :mod:`symgrad.proof`).
    The program generated code is printed from is lowered here and checked by the proof too.
    """
    derivation = build_derivation(spec)
    if not prove:
        return derivation
    return run_proof(derivation, method=method, gradient=program_gradient(derivation))


def program_gradient(derivation: Derivation) -> Any:
    """The gradient of the matrix program at a point of the numeric proof, in high precision."""
    from symgrad.program import evaluate, lower_matrix
    from symgrad.proof.precision import HighPrecision

    program = lower_matrix(derivation)

    def gradient(point: Any) -> dict[str, Any]:
        X, Y = point.x.reshape(1, -1), point.y.reshape(1, -1)
        outputs = evaluate(program, point.params(), X, Y, HighPrecision()).outputs  # type: ignore[arg-type]
        return {name: outputs[name] for name in program.gradient_names}

    return gradient
