"""Proof of every step of a derivation, and of the program code is printed from.

Sits right after the derivation (derivation -> **proof** -> program). :func:`prove` returns the
same derivation with a :class:`~symgrad.derivation.Check` on every step and a
:class:`~symgrad.derivation.ProofSummary`; a check that fails raises :class:`ProofError`. Kinds of
evidence, each exact where it can be:

``symbolic`` (:mod:`symgrad.proof.symbolic`)
    The forms of every step equal each other, proved by SymPy; the catalogue's identities too
    (``g'`` against ``sympy.diff`` of ``g``, every form generated code computes against the
    definition it replaces).
``composed`` (:mod:`symgrad.proof.composed`)
    For small networks, every partial against ``sympy.diff`` of the composed loss, exactly.
``numeric`` (:mod:`symgrad.proof.numeric`)
    The gradient generated code computes (the program, passed in as ``program``) against the
    derivative of the composed loss at a random point in high precision: the evidence for the
    parameters of larger networks, and an extra check of the program for small ones.
"""

from __future__ import annotations

from symgrad.derivation import Check, Derivation, ProofMethod, ProofSummary, StepId
from symgrad.errors import SpecError
from symgrad.proof.common import (
    COMPOSED_COST_LIMIT,
    COMPOSED_HARD_LIMIT,
    COMPOSED_LIMIT,
    DIGITS,
    seed_for,
)
from symgrad.proof.composed import ComposedProof
from symgrad.proof.identities import check_activations, check_code_forms
from symgrad.proof.symbolic import check_step

#: The values of ``--proof``.
METHODS = ("auto", "composed", "numeric")


def choose_method(parameters: int, method: str = "auto", layers: int = 1) -> ProofMethod:
    """The proof ``method`` names, or for ``auto`` the one that fits the network's size."""
    if method not in METHODS:
        raise SpecError(f"unknown proof method {method!r}; use auto, composed or numeric")
    cost = parameters * layers
    if method == "composed" and parameters > COMPOSED_HARD_LIMIT:
        raise SpecError(
            f"--proof composed handles at most {COMPOSED_HARD_LIMIT} parameters, the network has "
            f"{parameters}; use --proof numeric"
        )
    if method == "composed" and cost > COMPOSED_COST_LIMIT:
        raise SpecError(
            f"--proof composed handles networks of at most {COMPOSED_COST_LIMIT} parameters x "
            f"layers, this one has {parameters} x {layers} = {cost}; use --proof numeric"
        )
    fits = parameters <= COMPOSED_LIMIT and cost <= COMPOSED_COST_LIMIT
    if method == "numeric" or (method == "auto" and not fits):
        return ProofMethod.NUMERIC
    return ProofMethod.COMPOSED


def prove(
    derivation: Derivation,
    method: str = "auto",
    program: object | None = None,
) -> Derivation:
    """Check every step of ``derivation`` and return it with the checks attached.

    ``program`` runs the program generated code is printed from at a random point
    (:class:`symgrad.proof.numeric.ProgramAt`); the pipeline passes it. The numeric proof needs
    it; the composed proof checks it too when given.
    """
    spec = derivation.spec
    chosen = choose_method(spec.parameter_count, method, spec.depth)
    if chosen is ProofMethod.NUMERIC and program is None:
        raise ValueError(
            "the numeric proof checks the program; use symgrad.pipeline.derive, which passes it"
        )
    net = derivation.network
    seed = seed_for(spec.sizes)
    check_activations(net)
    check_code_forms(net)
    checks: dict[StepId, Check] = {s.id: check_step(net, s) for s in derivation.steps}
    program_checked, directions, max_error = 0, 0, 0.0
    if chosen is ProofMethod.COMPOSED:
        partial_checks = ComposedProof(derivation).run()
    if program is not None:
        from symgrad.proof.numeric import NumericProof

        numeric = NumericProof(derivation, seed, program)  # type: ignore[arg-type]
        numeric_checks = numeric.run()
        program_checked, max_error = numeric.compared, numeric.max_error
        directions = numeric.directions
        if chosen is ProofMethod.NUMERIC:
            partial_checks = numeric_checks
    checks.update(partial_checks)
    summary = ProofSummary(
        method=chosen,
        requested=method != "auto",
        parameters=spec.parameter_count,
        composed_limit=COMPOSED_LIMIT,
        layers=spec.depth,
        composed_cost_limit=COMPOSED_COST_LIMIT,
        partials_checked=sum(c.entries for c in partial_checks.values()),
        program_checked=program_checked,
        program_total=spec.parameter_count,
        program_directions=directions,
        digits=DIGITS if program is not None else 0,
        seed=seed,
        max_error=max_error,
        capped=max((c.capped for c in checks.values()), default=0),
    )
    return derivation.with_proof(checks, summary)


__all__ = ["METHODS", "choose_method", "prove"]
