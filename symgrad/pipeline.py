"""The pipeline in one call: build the derivation of a network, lower it, prove both.

spec -> network of ops -> derivation -> proof -> program -> targets / renderers -> cli.
:func:`derive` is what the command line and the Python API use; it is the only place that runs
the stages in order, so no stage needs to import a later one: the proof runs the program through
a function handed to it here.
"""

from __future__ import annotations

from typing import Any

from symgrad import notation as nt
from symgrad.derivation import Derivation, build_derivation
from symgrad.proof import prove as run_proof
from symgrad.spec import NetworkSpec


def derive(
    spec: NetworkSpec, *, prove: bool = True, method: str = "auto", input_gradient: bool = False
) -> Derivation:
    """Derive every partial and gradient of the loss for ``spec``; prove each step unless told not.

    With ``input_gradient``, the gradient with respect to the input is derived and proved too
    (generated code needs it; the notes leave it out). ``method`` chooses the proof (``auto``,
    ``composed`` or ``numeric``; see :mod:`symgrad.proof`).
    The program generated code is printed from is lowered here and checked by the proof too.
    """
    derivation = build_derivation(spec, input_gradient=input_gradient)
    if not prove:
        return derivation
    return run_proof(derivation, method=method, program=program_at(derivation))


def program_at(derivation: Derivation) -> Any:
    """The matrix program at a point of the numeric proof, in high precision: the gradient it
    computes and its forward pass (:class:`symgrad.proof.numeric.ProgramAt`)."""
    from symgrad.program import evaluate, lower_matrix, prune
    from symgrad.program.evaluate import forward_values
    from symgrad.proof.numeric import Evaluated
    from symgrad.proof.precision import HighPrecision

    program = lower_matrix(derivation)
    forward = prune(program, ("yhat",))

    def run(point: Any, *, forward_only: bool = False, watch: Any = None) -> Evaluated:
        chosen = forward if forward_only else program
        X, Y = point.x.reshape(1, -1), point.y.reshape(1, -1)

        def seen(var: Any, value: Any) -> Any:
            q = var.meaning.quantity if var.meaning is not None else None
            return value if q is None or watch is None else watch(q, value)

        evaluation = evaluate(chosen, point.params(), X, Y, HighPrecision(), seen)  # type: ignore[arg-type]
        names = [
            *program.gradient_names,
            *(o.name for o in program.outputs if o.name == nt.INPUT_GRADIENT),
        ]
        gradients = {} if forward_only else {n: evaluation.outputs[n] for n in names}
        return Evaluated(gradients, forward_values(chosen, evaluation))

    return run
