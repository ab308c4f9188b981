"""Proof of every step of a derivation; a failed check raises :class:`ProofError`.

Sits right after the derivation (derivation -> **proof** -> program). :func:`prove` returns the
same derivation with a :class:`~symgrad.derivation.Check` on every step and a
:class:`~symgrad.derivation.ProofSummary`. Three kinds of evidence, each exact where it can be:

``symbolic`` (:mod:`symgrad.proof.symbolic`)
    The forms of every step equal each other, proved by SymPy.
``composed`` (:mod:`symgrad.proof.composed`)
    For small networks, every partial against ``sympy.diff`` of the composed loss, exactly.
``numeric`` (:mod:`symgrad.proof.numeric`)
    Beyond that size, the chain-rule gradient against the derivative of the composed loss at a
    random point in high-precision arithmetic.
"""

from __future__ import annotations

from symgrad.derivation import Check, Derivation, ProofMethod, ProofSummary, StepId
from symgrad.errors import SpecError
from symgrad.proof.common import COMPOSED_HARD_LIMIT, COMPOSED_LIMIT, DIGITS, seed_for
from symgrad.proof.composed import ComposedProof
from symgrad.proof.symbolic import check_activations, check_step

#: The values of ``--proof``.
METHODS = ("auto", "composed", "numeric")


def choose_method(parameters: int, method: str = "auto") -> ProofMethod:
    """The proof ``method`` names, or for ``auto`` the one that fits ``parameters``."""
    if method not in METHODS:
        raise SpecError(f"unknown proof method {method!r}; use auto, composed or numeric")
    if method == "composed" and parameters > COMPOSED_HARD_LIMIT:
        raise SpecError(
            f"--proof composed handles at most {COMPOSED_HARD_LIMIT} parameters, the network has "
            f"{parameters}; use --proof numeric"
        )
    if method == "numeric" or (method == "auto" and parameters > COMPOSED_LIMIT):
        return ProofMethod.NUMERIC
    return ProofMethod.COMPOSED


def prove(derivation: Derivation, method: str = "auto") -> Derivation:
    """Check every step of ``derivation`` and return it with the checks attached."""
    spec = derivation.spec
    chosen = choose_method(spec.parameter_count, method)
    net = derivation.network
    seed = seed_for(spec.sizes)
    check_activations(net)
    checks: dict[StepId, Check] = {s.id: check_step(net, s) for s in derivation.steps}
    if chosen is ProofMethod.COMPOSED:
        partial_checks = ComposedProof(derivation).run()
        max_error = 0.0
    else:
        from symgrad.proof.numeric import NumericProof

        numeric = NumericProof(derivation, seed)
        partial_checks = numeric.run()
        max_error = numeric.max_error
    checks.update(partial_checks)
    summary = ProofSummary(
        method=chosen,
        requested=method != "auto",
        parameters=spec.parameter_count,
        composed_limit=COMPOSED_LIMIT,
        partials_checked=sum(c.entries for c in partial_checks.values()),
        program_checked=0,
        program_total=0,
        digits=DIGITS if chosen is ProofMethod.NUMERIC else 0,
        seed=seed,
        max_error=max_error,
    )
    return derivation.with_proof(checks, summary)


__all__ = ["METHODS", "choose_method", "prove"]
