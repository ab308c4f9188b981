"""Plain-English words for the data of a derivation: rules, checks, the proof as a whole.

Shared by every renderer so the terminal, the notes and the code comments say the same thing.
Only prose lives here; mathematics is printed by :mod:`symgrad.printing`. Sentences that mention
a formula or a piece of code take a :class:`Style`: plain text for the terminal (the default,
:data:`PLAIN`), or for the documents (:class:`Values`) prose whose formulas and code are values
(:class:`~symgrad.render.formula.Math`, :class:`~symgrad.render.document.Code`) that each
document's writer prints in its format.
"""

from __future__ import annotations

from collections.abc import Callable

import sympy as sp

from symgrad import notation as nt
from symgrad.derivation import (
    Check,
    CheckMethod,
    Derivation,
    ProofMethod,
    ProofSummary,
    Rule,
    Stage,
)
from symgrad.generic import general
from symgrad.render.document import Code, Inline, Prose
from symgrad.render.formula import Call, Math, Scripted, Token

STAGE_TITLES = {
    Stage.SETUP: "The network",
    Stage.OUTPUT: "Output layer",
    Stage.HIDDEN: "Hidden layers",
    Stage.PARAMETERS: "Parameters",
    Stage.BATCH: "Mini-batch (rows are samples, the loss is the mean)",
}


class Style:
    """How a sentence marks up mathematics, code and plain words; this one: plain text."""

    def math(self, formula: Math, plain: str) -> Prose:
        """A formula: its value and its plain-text spelling."""
        return plain

    def code(self, text: str) -> Prose:
        """A name from code or the command line (``sympy.diff``, ``--proof numeric``)."""
        return text

    def text(self, text: str) -> Prose:
        """Words, made safe for the output format."""
        return text


PLAIN = Style()


class Values(Style):
    """For the documents: formulas and code are values their writers print; words are made
    safe by ``escape``, the document format's."""

    def __init__(self, escape: Callable[[str], str]) -> None:
        self.escape = escape

    def math(self, formula: Math, plain: str) -> Prose:
        return Inline.of(formula)

    def code(self, text: str) -> Prose:
        return Inline.of(Code(text))

    def text(self, text: str) -> Prose:
        return self.escape(text)


def plain(prose: Prose) -> str:
    """A sentence in the plain style: text only."""
    assert isinstance(prose, str), "a sentence in the plain style is text"
    return prose


#: The symbols the sentences about the proof name: the per-sample loss ``ell`` of the output
#: ``a_L``, the parameters ``theta``, the activation ``g``.
_ELL, _THETA, _G = (sp.Symbol(n) for n in ("ell", "theta", "g"))
_OUTPUT = general("a", "L")


def _number(value: float, style: Style) -> Prose:
    """``7.2e-42``, or in a document ``7.2 \\times 10^{-42}``."""
    text = f"{value:.1e}"
    mantissa, exponent = text.split("e")
    power = Scripted(Math.of(10), sup=Math.of(int(exponent)))
    return style.math(Math.of(sp.Float(mantissa), Token.TIMES, power), text)


def rule_text(rule: Rule) -> str:
    """``chain rule``, ``derivative of the loss``, ... as said in the notes."""
    if rule is Rule.TARGETS_SUM_TO_ONE:
        return "algebra, using sum_i y_i = 1"
    return rule.value


def check_text(check: Check | None, style: Style = PLAIN) -> Prose:
    """One sentence: how a step was proved."""
    return check_group_text([check], style)


def check_group_text(checks: list[Check | None], style: Style = PLAIN) -> Prose:
    """One sentence for steps proved alike (every ``grad_{W_k} L``): the largest error, the
    entries of all of them together."""
    if any(c is None for c in checks):
        return style.text("not checked")
    done = [c for c in checks if c is not None]
    methods = {c.method for c in done}
    if methods == {CheckMethod.DEFINITION}:
        return style.text("definition")
    if len(methods) > 1:
        return style.text("checked in more than one way; see each equation")
    check = done[0]
    coverage = style.text(_coverage(sum(c.entries for c in done), sum(c.total for c in done)))
    if check.method is CheckMethod.COMPOSED:
        return (
            style.text("equals ")
            + style.code("sympy.diff")
            + style.text(" of the composed loss exactly, ")
            + coverage
        )
    if check.method is CheckMethod.NUMERIC:
        worst = max(c.max_error for c in done)
        return (
            style.text(
                "the code's gradient equals the derivative of the composed loss at a "
                "random point to "
            )
            + _number(worst, style)
            + style.text(f" relative ({check.digits}-digit arithmetic), ")
            + coverage
            + style.text(" and along a random direction moving every entry")
        )
    if max(c.capped for c in done):
        widest = max(c.capped for c in done)
        entries = sum(c.entries for c in done)
        return style.text(
            f"proved symbolically by SymPy on the network with its widths shrunk to at most "
            f"{widest} units (the same formula for every width; {entries} entries)"
        )
    if max(c.points for c in done):
        points = max(c.points for c in done)
        return style.text(f"proved by SymPy, exactly at {points} random rational points, ") + (
            coverage
        )
    return style.text("proved symbolically by SymPy, ") + coverage


def _coverage(entries: int, total: int) -> str:
    if total and entries >= total:
        return "every entry" if total != 1 else "the one entry"
    return f"{entries} of {total} entries (a deterministic sample)"


def proof_text(proof: ProofSummary | None, style: Style = PLAIN) -> list[Prose]:
    """Sentences that summarize the proof, for the closing section."""
    m, t, c = style.math, style.text, style.code
    if proof is None:
        return [
            t("The derivation was not proved: it was built with ")
            + c("derive(spec, prove=False)")
            + t(", and every command proves it.")
        ]
    lines: list[Prose] = [
        t(
            "Every form of every step was compared with the one before it by SymPy: local "
            "derivatives recomputed by differentiating the layer equations, with generic indices "
        )
        + m(Math.of(nt.I), "i")
        + t(" and ")
        + m(Math.of(nt.J), "j")
        + t(
            " so that one check holds for every entry; output-layer steps for each output unit "
            "(exactly, at random rational points beyond three outputs); matrix forms entry by "
            "entry; the mini-batch forms entry by entry for a batch of two samples against the "
            "per-sample steps they stack."
        ),
    ]
    if proof.capped:
        lines.append(
            t(
                "The steps of the hidden layers, of the parameters and of the mini-batch were "
                "proved on a copy of the network with its wide layers shrunk to at most "
                f"{proof.capped} units, after checking that each step of this network is the "
                "copy's step but for the widths: the formulas are the same for every width, and "
                "this network's own width is covered by the check of the code's gradient below."
            )
        )
    lines.append(
        t(
            "Every form that generated code computes in place of a formula of the notes (stable "
            "sigmoid, softplus, log-softmax and log-sigmoid, the gradient of the loss for any "
            "targets) was checked against the definition it replaces."
        )
    )
    code = _program_text(proof, style)
    if proof.method is ProofMethod.COMPOSED:
        lines.append(
            t(f"The network has {proof.parameters} parameters (")
            + _why(proof, style)
            + t(
                "), so every partial of every parameter and unit "
                f"({proof.partials_checked} in all) built by the chain rule was compared with "
            )
            + c("sympy.diff")
            + t(" of the fully composed per-sample loss ")
            + m(
                Math.of(Call(Math.of(_ELL), Math.of(Call(Math.of(_OUTPUT), Math.of(_THETA))))),
                "l(a_L(theta))",
            )
            + t(", with the activation ")
            + m(Math.of(_G), "g")
            + t(" and the output-and-loss ")
            + m(Math.of(_ELL), "l")
            + t(" left abstract; the differences are exactly zero. The concrete ")
            + m(Math.of(_G, Token.PRIME), "g'")
            + t(" and ")
            + m(Math.of(Token.PARTIAL, nt.LOSS, Token.SLASH, Token.PARTIAL, _OUTPUT), "dL/da_L")
            + t(" were proved separately.")
        )
        if proof.program_checked:
            lines.append(t("Besides, ") + code)
    else:
        lines.append(
            t(f"The network has {proof.parameters} parameters (")
            + _why(proof, style)
            + t("), so ")
            + code
        )
    return lines


def _program_text(proof: ProofSummary, style: Style) -> Prose:
    """How the gradient generated code computes was checked, as a clause."""
    m, t, c = style.math, style.text, style.code
    return (
        t(
            "the gradient that generated code computes (the program lowered from the matrix "
            f"forms) was evaluated at a random point (seed {proof.seed}) in {proof.digits}-digit "
            f"arithmetic and compared with the derivative of the composed loss along "
            f"{proof.program_checked} parameters (every bias, and every weight where the work is "
            f"small, else a sample) and along {proof.program_directions} random directions (one "
            "per layer) that move every weight and bias; the derivative of the composed loss is "
            "pushed forward through the layer equations, with "
        )
        + m(Math.of(_G, Token.PRIME), "g'")
        + t(" proved equal to ")
        + c("sympy.diff")
        + t(" of ")
        + m(Math.of(_G), "g")
        + t(
            ", and differentiated through the output and the loss numerically. The largest "
            "relative difference was "
        )
        + _number(proof.max_error, style)
        + t(".")
    )


def _why(proof: ProofSummary, style: Style = PLAIN) -> Prose:
    """Why this method ran: asked for with --proof, or chosen by size."""
    if proof.requested:
        return style.code(f"--proof {proof.method.value}") + style.text(" was asked for")
    if proof.method is ProofMethod.COMPOSED:
        return style.text(f"at most {proof.composed_limit}")
    if proof.parameters > proof.composed_limit:
        return style.text(f"more than {proof.composed_limit}")
    return style.text(
        f"in {proof.layers} layers: {proof.parameters} x {proof.layers} is more than the "
        f"{proof.composed_cost_limit} parameters x layers the composed proof takes"
    )


def title(derivation: Derivation) -> str:
    sizes = "-".join(str(n) for n in derivation.spec.sizes)
    return f"Backpropagation for a {sizes} network"


def description(derivation: Derivation) -> str:
    spec = derivation.spec
    hidden = "no hidden layer" if spec.depth == 1 else f"hidden activation {spec.activation_text}"
    return f"{hidden}; output {spec.output}; loss {spec.loss}"
