"""Plain-English words for the data of a derivation: rules, checks, the proof as a whole.

Shared by every renderer so the terminal, the notes and the code comments say the same thing.
Only prose lives here; mathematics is printed by :mod:`symgrad.printing`.
"""

from __future__ import annotations

from symgrad.derivation import (
    Check,
    CheckMethod,
    Derivation,
    ProofMethod,
    ProofSummary,
    Rule,
    Stage,
)

STAGE_TITLES = {
    Stage.SETUP: "The network",
    Stage.OUTPUT: "Output layer",
    Stage.HIDDEN: "Hidden layers",
    Stage.PARAMETERS: "Parameters",
}


def rule_text(rule: Rule) -> str:
    """``chain rule``, ``derivative of the loss``, ... as said in the notes."""
    if rule is Rule.TARGETS_SUM_TO_ONE:
        return "algebra, using sum_i y_i = 1"
    return rule.value


def check_text(check: Check | None) -> str:
    """One sentence: how a step was proved."""
    if check is None:
        return "not checked"
    if check.method is CheckMethod.DEFINITION:
        return "definition"
    coverage = _coverage(check)
    if check.method is CheckMethod.COMPOSED:
        return f"equals sympy.diff of the composed loss exactly, {coverage}"
    if check.method is CheckMethod.NUMERIC:
        return (
            f"equals the derivative of the composed loss at a random point to "
            f"{check.max_error:.1e} relative ({check.digits}-digit arithmetic), {coverage}"
        )
    if check.points:
        return f"proved by SymPy, exactly at {check.points} random rational points, {coverage}"
    return f"proved symbolically by SymPy, {coverage}"


def _coverage(check: Check) -> str:
    if check.total and check.entries >= check.total:
        return "every entry" if check.total != 1 else "the one entry"
    return f"{check.entries} of {check.total} entries (a deterministic sample)"


def proof_text(proof: ProofSummary | None) -> list[str]:
    """Sentences that summarize the proof, for the closing section."""
    if proof is None:
        return ["The derivation was not proved (run without --no-proof)."]
    lines = [
        "Every form of every step was compared with the one before it by SymPy: local "
        "derivatives recomputed by differentiating the layer equations, with generic indices i "
        "and j so that one check holds for every entry; output-layer steps for each output unit "
        "(exactly, at random rational points beyond three outputs); matrix forms entry by entry.",
    ]
    if proof.method is ProofMethod.COMPOSED:
        lines.append(
            f"The network has {proof.parameters} parameters ({_why(proof)}), so every "
            f"partial of every parameter and unit ({proof.partials_checked} in all) built by the "
            "chain rule was compared with sympy.diff of the fully composed per-sample loss "
            "l(a_L(theta)), with the activation g and the output-and-loss l left abstract; the "
            "differences are exactly zero. The concrete g' and dL/da_L were proved separately."
        )
    else:
        lines.append(
            f"The network has {proof.parameters} parameters ({_why(proof)}), so the "
            f"chain-rule gradient was evaluated from the matrix forms at a random point (seed "
            f"{proof.seed}) in {proof.digits}-digit arithmetic and {proof.partials_checked} "
            "partials (every bias, and every weight where the work is small, else a sample) were "
            "compared with the derivative of the composed loss as a function of that one "
            f"parameter (mpmath.diff); the largest relative difference was {proof.max_error:.1e}."
        )
    return lines


def _why(proof: ProofSummary) -> str:
    """Why this method ran: asked for with --proof, or chosen by size."""
    if proof.requested:
        return f"--proof {proof.method.value} was asked for"
    if proof.method is ProofMethod.COMPOSED:
        return f"at most {proof.composed_limit}"
    return f"more than {proof.composed_limit}"


def title(derivation: Derivation) -> str:
    sizes = "-".join(str(n) for n in derivation.spec.sizes)
    return f"Backpropagation for a {sizes} network"


def description(derivation: Derivation) -> str:
    spec = derivation.spec
    hidden = "no hidden layer" if spec.depth == 1 else f"hidden activation {spec.activation_text}"
    return f"{hidden}; output {spec.output}; loss {spec.loss}"
