"""The local derivatives are derived in steps that SymPy checks, and the notes show them.

A step that does not follow from the one before it raises when the derivation is built (broken
on purpose below: a sign, a factor, a kink, a softmax case). A custom activation whose derivative
SymPy proves to be the sigmoid is named so, and nothing else is; one defined only on part of the
real line gets a remark on its domain, the set the warning of ``codegen`` names.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
import sympy as sp

from symgrad import domain
from symgrad.catalogue import ACTIVATIONS, OUTPUTS_BY_NAME, activation
from symgrad.catalogue import derivatives as local
from symgrad.expressions import X
from symgrad.notation import I, J, pre, prediction
from symgrad.pipeline import derive
from symgrad.render.notes import NotesOptions, render_latex, render_markdown
from symgrad.spec import NetworkSpec


def _softmax(units: int = 3) -> local.LocalDerivation:
    jacobian = OUTPUTS_BY_NAME["softmax"].jacobian
    return local.softmax_derivation(lambda m: pre(2, m), prediction, jacobian, units, I, J)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_every_catalogue_activation_is_derived_to_its_derivative(name: str) -> None:
    derivation = local.activation_derivation(ACTIVATIONS[name])
    (chain,) = derivation.chains
    assert chain.steps, name
    # The last step is the derivative the rest of the notes use (checked again here).
    last = local.written_out(
        chain.steps[-1].expr, {local.SIGMA: sp.Lambda(X, 1 / (1 + sp.exp(-X)))}
    )
    for point in (sp.Rational(-3, 2), sp.Rational(7, 5)):
        difference = (last - ACTIVATIONS[name].derivative).xreplace({X: point})
        assert abs(complex(sp.N(difference))) < 1e-12, name


def _break(derivation: local.LocalDerivation, chain: int, step: int, expr: sp.Expr):
    chains = list(derivation.chains)
    steps = list(chains[chain].steps)
    steps[step] = replace(steps[step], expr=expr)
    chains[chain] = replace(chains[chain], steps=tuple(steps))
    return replace(derivation, chains=tuple(chains))


def test_a_wrong_sigmoid_step_is_caught() -> None:
    good = local.sigmoid_derivation()
    definitions = {
        local.SIGMA: sp.Lambda(X, 1 / (1 + sp.exp(-X))),
        local.SIGMA_PRIME: sp.Lambda(X, sp.diff(1 / (1 + sp.exp(-X)), X)),
    }
    assert local.checked(good, definitions) is good
    # sigma (1 + sigma) for sigma (1 - sigma): the sign of the last step.
    wrong = local.SIGMA(X) * (1 + local.SIGMA(X))
    with pytest.raises(local.StepError, match="step 4"):
        local.checked(_break(good, 0, 3, wrong), definitions)
    # A middle step off by a factor 2: the step after it no longer follows either.
    doubled = 2 * good.chains[0].steps[1].expr
    with pytest.raises(local.StepError, match="step 2"):
        local.checked(_break(good, 0, 1, doubled), definitions)


def test_a_wrong_end_is_caught_even_when_every_step_follows() -> None:
    good = local.tanh_derivation()
    definitions = {local.TANH_PRIME: sp.Lambda(X, 1 - sp.tanh(X) ** 2)}
    with pytest.raises(local.StepError, match="ends at"):
        local.checked(good, definitions, (1 + sp.tanh(X) ** 2,))


def test_a_kink_is_checked_on_both_sides() -> None:
    relu = ACTIVATIONS["relu"]
    good = local.activation_derivation(relu)
    definitions = {
        local.RELU: sp.Lambda(X, relu.function),
        local.RELU_PRIME: sp.Lambda(X, sp.diff(relu.function, X)),
    }
    sides = (sp.Symbol("p", positive=True), -sp.Symbol("p", positive=True))
    assert local.checked(good, definitions, sides=sides) is good
    # The indicator of the wrong side: right for x < 0 only, wrong for x > 0.
    wrong = sp.Heaviside(-X, 0)
    with pytest.raises(local.StepError, match="step 3"):
        local.checked(_break(good, 0, 2, wrong), definitions, sides=sides)


def test_the_softmax_cases_are_checked_entry_by_entry() -> None:
    good = _softmax()
    assert [c.case for c in good.chains] == ["numerator", "denominator", "", "i = j", "i != j"]
    jacobian = OUTPUTS_BY_NAME["softmax"].jacobian
    steps = local.softmax_steps(lambda m: pre(2, m), 3, I, J)
    assert local.check_softmax(steps, lambda m: pre(2, m), jacobian, 3, I, J).chains
    # The off-diagonal case with the diagonal's formula: yhat_j (1 - yhat_i) for i != j.
    yhat = local._YHAT
    broken = _break(steps, 4, 0, yhat(J) * (1 - yhat(I)))
    with pytest.raises(local.StepError, match=r"i != j"):
        local.check_softmax(broken, lambda m: pre(2, m), jacobian, 3, I, J)
    # The quotient rule with the sign of its second term flipped.
    general = steps.chains[2].steps[1].expr
    flipped = general.xreplace({sp.Integer(-1): sp.Integer(1)})
    assert flipped != general
    with pytest.raises(local.StepError, match="step 2"):
        local.check_softmax(_break(steps, 2, 1, flipped), lambda m: pre(2, m), jacobian, 3, I, J)


@pytest.mark.parametrize(
    "text",
    ["log(1+exp(x))", "log(exp(x)+1)", "log(1 + exp(x)) + 0*x", "log(2*(1+exp(x))) - log(2)"],
)
def test_softplus_written_by_hand_is_named_the_sigmoid(text: str) -> None:
    act = activation(text)
    assert act.derivative_name == "sigmoid"
    derivation = local.activation_derivation(act)
    assert derivation.name == "sigmoid"
    assert derivation.chains[0].steps[-1].expr == local.SIGMA(X)


@pytest.mark.parametrize(
    "text",
    [
        "log(1+exp(2*x))",  # 2 sigma(2x)
        "log(2+exp(x))",  # e^x/(2 + e^x)
        "log(1+exp(-x))",  # -sigma(-x)
        "x - log(1+exp(x))",  # 1 - sigma(x) = sigma(-x), not sigma(x)
        "log(1+exp(x))/2",
        "sqrt(1+exp(2*x))",
        "tanh(x)",
    ],
)
def test_nothing_else_is_named_the_sigmoid(text: str) -> None:
    assert activation(text).derivative_name == ""
    assert local.activation_derivation(activation(text)).name == ""


def _notes(
    activation_text: str, markdown: bool = False, prove: bool = False, **options: object
) -> str:
    spec = NetworkSpec.parse([2, 3, 2], activation_text)
    derivation = derive(spec, prove=prove)
    render = render_markdown if markdown else render_latex
    return render(derivation, options=NotesOptions(**options))  # type: ignore[arg-type]


def test_the_appendix_derives_what_the_notes_use_and_is_referred_to() -> None:
    text = _notes("sigmoid")
    appendix = text[text.index(r"\appendix") :]
    assert r"\sigma'(x) &= \frac{d}{dx} \frac{1}{1 + e^{-x}}" in appendix
    assert r"\sigma(x) \left(1 - \sigma(x)\right)" in appendix
    assert r"\hat{y}_{j} \left(\delta_{ij} - \hat{y}_{i}\right)" in appendix
    assert r"\hat{y}_{i} \left(1 - \hat{y}_{i}\right)" in appendix  # i = j
    assert r"-\hat{y}_{i} \hat{y}_{j}" in appendix  # i != j
    body = text[: text.index(r"\appendix")]
    assert body.count(r"Appendix~\ref{sec:derivatives}") == 2  # the Jacobian, the sigmoid
    assert text.count(r"\appendix") == 1


def test_one_appendix_holds_the_derivatives_and_the_checks() -> None:
    text = _notes("tanh", prove=True, audience="instructors", checks="appendix")
    assert text.count(r"\appendix") == 1
    assert text.index("sec:derivatives") < text.index(r"\label{sec:checks}")
    markdown = _notes("tanh", True, True, audience="instructors", checks="appendix")
    assert "## Appendix: Derivatives of the activation and output functions" in markdown
    assert markdown.count("\n## Appendix: ") == 2  # and the checks


def test_a_custom_softplus_is_called_the_sigmoid_in_the_notes() -> None:
    text = _notes("log(1+exp(x))")
    assert "it is the sigmoid" in text
    assert "the derivative of this activation is the sigmoid" in text


def test_the_domain_remark_is_the_set_codegen_warns_of() -> None:
    act = activation("log(x)")
    found = domain.restriction(act)
    assert found == sp.Interval.open(0, sp.oo)
    assert "(0, oo)" in (domain.restriction_warning(act) or "")
    text = _notes("log(x)")
    remark = r"are defined only for $x \in \left(0, \infty\right)$"
    assert text.count(remark) == 2  # the forward pass, and the appendix
    # Defined everywhere: no remark.
    assert "are defined only" not in _notes("x/(1+abs(x))")
    assert "are defined only" not in _notes("sigmoid")
    # A square root: from 0 on.
    assert r"x \in \left(0, \infty\right)" in _notes("sqrt(x)")
