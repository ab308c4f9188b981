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
            f"the code's gradient equals the derivative of the composed loss at a random point to "
            f"{check.max_error:.1e} relative ({check.digits}-digit arithmetic), {coverage} and "
            "along a random direction moving every entry"
        )
    if check.capped:
        return (
            f"proved symbolically by SymPy on the network with its widths shrunk to at most "
            f"{check.capped} units (the same formula for every width; {check.entries} entries)"
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
    if proof.capped:
        lines.append(
            "The steps of the hidden layers and of the parameters were proved on a copy of the "
            f"network with its wide layers shrunk to at most {proof.capped} units, after checking "
            "that each step of this network is the copy's step but for the widths: the formulas "
            "are the same for every width, and this network's own width is covered by the "
            "check of the code's gradient below."
        )
    lines.append(
        "Every form that generated code computes in place of a formula of the notes (stable "
        "sigmoid, softplus, log-softmax and log-sigmoid, the gradient of the loss for any "
        "targets) was checked against the definition it replaces."
    )
    code = (
        f"the gradient that generated code computes (the program lowered from the matrix forms) "
        f"was evaluated at a random point (seed {proof.seed}) in {proof.digits}-digit arithmetic "
        f"and compared with the derivative of the composed loss along {proof.program_checked} "
        "parameters (every bias, and every weight where the work is small, else a sample) and "
        f"along {proof.program_directions} random directions (one per layer) that move every "
        "weight and bias; the derivative of the composed loss is pushed forward through the "
        "layer equations, with g' proved equal to sympy.diff of g, and differentiated through "
        "the output and the loss numerically. The largest relative difference was "
        f"{proof.max_error:.1e}."
    )
    if proof.method is ProofMethod.COMPOSED:
        lines.append(
            f"The network has {proof.parameters} parameters ({_why(proof)}), so every "
            f"partial of every parameter and unit ({proof.partials_checked} in all) built by the "
            "chain rule was compared with sympy.diff of the fully composed per-sample loss "
            "l(a_L(theta)), with the activation g and the output-and-loss l left abstract; the "
            "differences are exactly zero. The concrete g' and dL/da_L were proved separately."
        )
        if proof.program_checked:
            lines.append("Besides, " + code)
    else:
        lines.append(f"The network has {proof.parameters} parameters ({_why(proof)}), so " + code)
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
