"""Local derivatives derived step by step: each activation's ``g'`` and the output's Jacobian.

Part of the catalogue (:mod:`symgrad.catalogue`). The notes state ``sigma' = sigma (1 - sigma)``
and ``d yhat_j / d a_{Li} = yhat_j (delta_ij - yhat_i)`` where they use them; here each is derived
in a few steps, every step a SymPy expression with the rule that gives it. Each step is checked
against the one before it when the derivation is built (:func:`checked`), and the last against
the catalogue's own derivative, so a wrong step cannot reach a page: it raises
:class:`StepError`.

Named functions are undefined SymPy functions that carry their LaTeX (``\\sigma(x)``); a check
first writes them out (:func:`written_out`). A function with a kink at 0 (relu) is checked on
each side of it, where it has a derivative; the value used at 0 is a convention the notes state.
The softmax's Jacobian holds for any number of units; it is checked for every pair ``(i, j)``
of a softmax of :data:`CHECKED_UNITS` units (so for both cases, ``i = j`` and ``i != j``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import sympy as sp

from symgrad.catalogue.activations import Activation
from symgrad.catalogue.forms import LEAKY_SLOPE, sigmoid
from symgrad.expressions import X


def _named(name: str, latex: str, unicode: str) -> type[sp.Function]:
    return sp.Function(name, symgrad_latex=latex, symgrad_unicode=unicode)


#: The sigmoid and the named functions and derivatives the derivations write.
SIGMA = _named("sigma", r"\sigma", "σ")
SIGMA_PRIME = _named("sigma'", r"\sigma'", "σ'")
TANH_PRIME = _named("tanh'", r"\tanh'", "tanh'")
RELU = _named("relu", r"\operatorname{relu}", "relu")
RELU_PRIME = _named("relu'", r"\operatorname{relu}'", "relu'")
SOFTPLUS = _named("softplus", r"\operatorname{softplus}", "softplus")
SOFTPLUS_PRIME = _named("softplus'", r"\operatorname{softplus}'", "softplus'")
IDENTITY = _named("id", r"\operatorname{id}", "id")
IDENTITY_PRIME = _named("id'", r"\operatorname{id}'", "id'")
G = _named("g", "g", "g")
G_PRIME = _named("g'", "g'", "g'")

#: The softmax's Jacobian is checked entry by entry for a softmax of this many units.
CHECKED_UNITS = 3

_POSITIVE = sp.Symbol("p", positive=True)


class StepError(ValueError):
    """A step of a local derivation does not follow from the one before it."""


@dataclass(frozen=True)
class Step:
    """``= expr``, by ``reason``: words, its ``{0}``, ``{1}``... standing for the formulas
    ``terms`` (SymPy expressions, or a named function such as ``sp.tanh``), which each document
    prints in its own style. ``slashed``: the terms are written as in a line of text, a fraction
    with a slash and a derivative with a prime (``(1/u)' = -u'/u^{2}``)."""

    expr: sp.Expr
    reason: str
    terms: tuple[Any, ...] = ()
    slashed: bool = False


@dataclass(frozen=True)
class Chain:
    """``lhs = step_1 = step_2 = ...``, for the case ``case`` ("" when there is one case);
    ``condition`` is the case as a formula where it is one (``i = j``, ``i != j``)."""

    lhs: sp.Expr
    steps: tuple[Step, ...]
    case: str = ""
    condition: sp.Basic | None = None
    #: Substitutions that make a general formula concrete, each checked ({}: the formula as it
    #: is): the softmax's indices.
    instances: tuple[dict[sp.Expr, sp.Expr], ...] = ({},)


@dataclass(frozen=True)
class LocalDerivation:
    """The derivative of one function, from its definition, in steps.

    ``definition`` is ``(f(x), its formula)``; ``chains`` the derivative's steps (the softmax
    has five: the derivatives of its numerator and of its sum, the general entry, then
    ``i = j`` and ``i != j``); ``name`` the named function
    the result was proved to be ("sigmoid"), "" when it is none.
    """

    key: str
    title: str
    definition: tuple[sp.Expr, sp.Expr]
    chains: tuple[Chain, ...]
    name: str = ""
    #: Symbols that stand for a longer expression on the page (``S`` for the softmax's sum),
    #: written out before every check.
    abbreviations: tuple[tuple[sp.Symbol, sp.Expr], ...] = ()


def written_out(expr: sp.Expr, definitions: dict[type[sp.Function], sp.Lambda]) -> sp.Expr:
    """``expr`` with every named function replaced by its formula and derivatives done."""
    for function, formula in definitions.items():
        expr = expr.replace(function, formula)
    return expr.doit()


def _zero(difference: sp.Expr, sides: tuple[sp.Expr, ...]) -> bool:
    """``difference`` is 0 (with ``x`` at each of ``sides``, when given: left and right of a
    kink)."""
    if not sides:
        return sp.simplify(difference) == 0
    return all(sp.simplify(difference.xreplace({X: s})) == 0 for s in sides)


def checked(
    derivation: LocalDerivation,
    definitions: dict[type[sp.Function], sp.Lambda],
    expected: tuple[sp.Expr, ...] = (),
    sides: tuple[sp.Expr, ...] = (),
) -> LocalDerivation:
    """``derivation`` when each step of each chain equals the one before it (and the first its
    left side), and the last step of chain ``n`` equals ``expected[n]`` when given; else
    :class:`StepError`. ``sides``: the points a kinked function is checked at."""

    def equal(left: sp.Expr, right: sp.Expr, instances: tuple[dict[sp.Expr, sp.Expr], ...]) -> bool:
        short = dict(derivation.abbreviations)
        for values in instances:
            a = written_out(left.xreplace(short).xreplace(values), definitions)
            b = written_out(right.xreplace(short).xreplace(values), definitions)
            if not _zero(a - b, sides):
                return False
        return True

    for n, chain in enumerate(derivation.chains):
        before = chain.lhs
        for number, step in enumerate(chain.steps, start=1):
            if not equal(before, step.expr, chain.instances):
                raise StepError(
                    f"step {number} of the derivative of {derivation.title} ({chain.case or 'all'}"
                    f"), {step.reason!r}: {step.expr} does not equal {before}"
                )
            before = step.expr
        if n < len(expected) and not equal(before, expected[n], chain.instances):
            raise StepError(
                f"the derivative of {derivation.title} ends at {before}, not {expected[n]}"
            )
    return derivation


def _lam(formula: Callable[[sp.Expr], sp.Expr]) -> sp.Lambda:
    t = sp.Dummy("t")
    return sp.Lambda(t, formula(t))


def _m(*factors: sp.Expr) -> sp.Expr:
    return sp.Mul(*factors, evaluate=False)


def _a(*terms: sp.Expr) -> sp.Expr:
    return sp.Add(*terms, evaluate=False)


def _p(base: sp.Expr, exp: sp.Expr) -> sp.Expr:
    return sp.Pow(base, exp, evaluate=False)


_SIGMA_DEFINITION = {SIGMA: _lam(sigmoid)}


def sigmoid_derivation() -> LocalDerivation:
    """``sigma' = sigma (1 - sigma)``, by the reciprocal rule."""
    u = _a(1, sp.exp(-X))
    steps = (
        Step(sp.Derivative(_p(u, -1), X), "definition of {0}", (SIGMA,)),
        Step(
            _m(sp.exp(-X), _p(_p(u, 2), -1)),
            "{0} with {1}, {2}",
            _reciprocal_rule(u),
            slashed=True,
        ),
        Step(_m(_p(u, -1), _m(sp.exp(-X), _p(u, -1))), "split the fraction"),
        Step(
            _m(SIGMA(X), _a(1, -SIGMA(X))),
            "{0}",
            (sp.Eq(_m(sp.exp(-X), _p(u, -1)), _a(1, -_p(u, -1)), evaluate=False),),
        ),
    )
    derivation = LocalDerivation(
        "sigmoid",
        "the sigmoid",
        (SIGMA(X), sigmoid(X)),
        (Chain(SIGMA_PRIME(X), steps),),
    )
    definitions = {**_SIGMA_DEFINITION, SIGMA_PRIME: _lam(lambda t: sp.diff(sigmoid(t), t))}
    return checked(derivation, definitions, (sigmoid(X) * (1 - sigmoid(X)),))


def tanh_derivation() -> LocalDerivation:
    """``tanh' = 1 - tanh^2``, by the quotient rule on ``(e^x - e^-x)/(e^x + e^-x)``."""
    top, bottom = _a(sp.exp(X), -sp.exp(-X)), _a(sp.exp(X), sp.exp(-X))
    steps = (
        Step(sp.Derivative(_m(top, _p(bottom, -1)), X), "definition of {0}", (sp.tanh,)),
        Step(
            _m(_a(_p(bottom, 2), -_p(top, 2)), _p(_p(bottom, 2), -1)),
            "quotient rule; {0} and {1} are each other's derivative",
            (bottom, top),
        ),
        Step(_a(1, -_m(_p(top, 2), _p(_p(bottom, 2), -1))), "split the fraction"),
        Step(_a(1, -_p(sp.tanh(X), 2)), "definition of {0}", (sp.tanh,)),
    )
    derivation = LocalDerivation(
        "tanh",
        "the hyperbolic tangent",
        (sp.tanh(X), _m(top, _p(bottom, -1))),
        (Chain(TANH_PRIME(X), steps),),
    )
    definitions = {TANH_PRIME: _lam(lambda t: sp.diff(sp.tanh(t), t))}
    return checked(derivation, definitions, (1 - sp.tanh(X) ** 2,))


def _kinked(
    key: str,
    title: str,
    function: type[sp.Function],
    prime: type[sp.Function],
    activation: Activation,
    left_slope: sp.Expr,
) -> LocalDerivation:
    """relu and leaky-relu: one line on each side of 0, so a slope on each side; at 0 the two
    slopes differ and there is no derivative, the notes use the activation's chosen value."""
    pieces = sp.Piecewise((X, X > 0), (left_slope * X, X < 0))
    slopes = sp.Piecewise((1, X > 0), (left_slope, X < 0))
    at_zero = activation.derivative_at_kink
    assert at_zero is not None
    steps = (
        Step(sp.Derivative(pieces, X), "one line on each side of {0}", (sp.Integer(0),)),
        Step(
            slopes,
            "the slope of each line; at {0} they differ: no derivative",
            (sp.Eq(X, 0, evaluate=False),),
        ),
        Step(activation.shown_derivative, "with {0}", (sp.Eq(prime(0), at_zero, evaluate=False),)),
    )
    derivation = LocalDerivation(
        key, title, (function(X), activation.shown_function), (Chain(prime(X), steps),)
    )
    definitions = {
        function: _lam(lambda t: activation.function.xreplace({X: t})),
        prime: _lam(lambda t: sp.diff(activation.function, X).xreplace({X: t})),
    }
    sides = (_POSITIVE, -_POSITIVE)
    return checked(derivation, definitions, (activation.derivative,), sides=sides)


def softplus_derivation(activation: Activation) -> LocalDerivation:
    """``softplus' = sigma``: the chain rule, then the sigmoid."""
    u = _a(1, sp.exp(X))
    steps = (
        Step(sp.Derivative(sp.log(u), X), "definition of {0}", (SOFTPLUS,)),
        Step(_m(sp.exp(X), _p(u, -1)), "{0} with {1}", _log_rule(u), slashed=True),
        Step(_p(_a(sp.exp(-X), 1), -1), "divide above and below by {0}", (sp.exp(X),)),
        Step(SIGMA(X), "definition of {0}: the sigmoid", (SIGMA,)),
    )
    derivation = LocalDerivation(
        "softplus",
        "softplus",
        (SOFTPLUS(X), activation.function),
        (Chain(SOFTPLUS_PRIME(X), steps),),
        name="sigmoid",
    )
    definitions = {
        **_SIGMA_DEFINITION,
        SOFTPLUS_PRIME: _lam(lambda t: sp.diff(activation.function, X).xreplace({X: t})),
    }
    return checked(derivation, definitions, (activation.derivative,))


def custom_derivation(activation: Activation, title: str) -> LocalDerivation:
    """A custom ``g``: differentiated, then simplified, then (when proved) named."""
    raw = sp.diff(activation.function, X)
    steps = [Step(sp.Derivative(activation.function, X), "definition of {0}", (G,))]
    steps.append(Step(raw, "rules of differentiation"))
    shown = activation.shown_derivative
    if shown != raw:
        steps.append(Step(shown, "simplified"))
    name = ""
    if activation.derivative_name:
        name = activation.derivative_name
        function, formula = NAMED[name]
        named = sp.Eq(function(X), formula, evaluate=False)
        steps.append(Step(function(X), f"the {name}, as {{0}}", (named,), slashed=True))
    derivation = LocalDerivation(
        activation.name,
        title,
        (G(X), activation.function),
        (Chain(G_PRIME(X), tuple(steps)),),
        name,
    )
    definitions = {
        **_SIGMA_DEFINITION,
        G_PRIME: _lam(lambda t: raw.xreplace({X: t})),
    }
    return checked(derivation, definitions, (activation.derivative,))


def activation_derivation(activation: Activation) -> LocalDerivation:
    """The derivation of ``activation``'s derivative, whichever it is."""
    name = activation.name if activation.builtin else ""
    if name == "sigmoid":
        return sigmoid_derivation()
    if name == "tanh":
        return tanh_derivation()
    if name == "relu":
        return _kinked("relu", "the ReLU", RELU, RELU_PRIME, activation, sp.Integer(0))
    if name == "leaky-relu":
        return _kinked("leaky-relu", "the leaky ReLU", G, G_PRIME, activation, LEAKY_SLOPE)
    if name == "softplus":
        return softplus_derivation(activation)
    if name == "identity":
        steps = (Step(sp.Integer(1), "its graph is a line of slope {0}", (sp.Integer(1),)),)
        chains = (Chain(IDENTITY_PRIME(X), steps),)
        derivation = LocalDerivation("identity", "the identity", (IDENTITY(X), X), chains)
        definitions = {IDENTITY_PRIME: _lam(lambda t: sp.diff(t, t))}
        return checked(derivation, definitions, (sp.Integer(1),))
    return custom_derivation(activation, f"the custom activation {activation.name}")


def softmax_derivation(
    pre: Callable[[sp.Expr], sp.Expr],
    yhat: Callable[[sp.Expr], sp.Expr],
    jacobian: Callable[[Callable[[sp.Expr], sp.Expr], sp.Expr, sp.Expr], sp.Expr],
    units: int,
    i: sp.Symbol,
    j: sp.Symbol,
) -> LocalDerivation:
    """``d yhat_j / d a_{Li} = yhat_j (delta_ij - yhat_i)`` by the quotient rule, then its two
    cases; ``pre(m)`` is ``a_{Lm}``, ``yhat(m)`` is ``yhat_m``, ``jacobian`` the catalogue's
    (:attr:`OutputFunction.jacobian`), where it must end. Written for ``units`` units, checked
    for :data:`CHECKED_UNITS`; first the two derivatives the quotient rule needs."""
    few = min(units, CHECKED_UNITS)
    check_softmax(softmax_steps(pre, few, i, j), pre, jacobian, few, i, j)
    return _shown(softmax_steps(pre, units, i, j), yhat)


def check_softmax(
    derivation: LocalDerivation,
    pre: Callable[[sp.Expr], sp.Expr],
    jacobian: Callable[[Callable[[sp.Expr], sp.Expr], sp.Expr, sp.Expr], sp.Expr],
    units: int,
    i: sp.Symbol,
    j: sp.Symbol,
) -> LocalDerivation:
    """:func:`checked` for the steps of :func:`softmax_steps` of ``units`` units: every chain at
    every pair ``(i, j)`` it holds for (the case ``i = j`` at the diagonal, ``i != j`` off it)."""
    pairs = [(a, b) for a in range(1, units + 1) for b in range(1, units + 1)]
    chains = []
    for chain in derivation.chains:
        values = tuple(
            {i: sp.Integer(a), j: sp.Integer(b)}
            for a, b in pairs
            if chain.condition is None or (a == b) == isinstance(chain.condition, sp.Equality)
        )
        chains.append(replace(chain, instances=values))
    m = sp.Dummy("m", integer=True, positive=True)
    total = sp.Sum(sp.exp(pre(m)), (m, 1, units))
    definitions = {_YHAT: _lam(lambda t: sp.exp(pre(t)) / total)}
    jacobians = (jacobian(_YHAT, i, j), jacobian(_YHAT, i, i), jacobian(_YHAT, i, j))
    expected = (sp.KroneckerDelta(i, j) * sp.exp(pre(j)), sp.exp(pre(i)), *jacobians)
    return checked(replace(derivation, chains=tuple(chains)), definitions, expected)


_YHAT = _named("yhat", r"\hat{y}", "ŷ")


def softmax_steps(
    pre: Callable[[sp.Expr], sp.Expr],
    units: int,
    i: sp.Symbol,
    j: sp.Symbol,
) -> LocalDerivation:
    """The softmax's derivation for ``units`` units, with ``yhat_m`` written ``_YHAT(m)`` for
    the check to write out (:func:`_shown` turns it into ``yhat(m)`` for the page)."""
    m = sp.Symbol("m", integer=True, positive=True)
    total = sp.Sum(sp.exp(pre(m)), (m, 1, units))
    e_i, e_j = sp.exp(pre(i)), sp.exp(pre(j))
    S = sp.Symbol("S", positive=True)
    delta = sp.KroneckerDelta(i, j)
    y = _YHAT
    general = (
        Step(sp.Derivative(_m(e_j, _p(S, -1)), pre(i)), "definition of {0}", (y(j),)),
        Step(
            _m(_a(_m(_m(delta, e_j), S), -_m(e_j, e_i)), _p(_p(S, 2), -1)),
            "quotient rule, with the two above",
        ),
        Step(
            _m(_m(e_j, _p(S, -1)), _a(delta, -_m(e_i, _p(S, -1)))),
            "factor out the first fraction",
        ),
        Step(_m(y(j), _a(delta, -y(i))), "definition of {0}", (_YHAT,)),
    )
    same = (Step(_m(y(i), _a(1, -y(i))), "{0}", (sp.Eq(delta, 1, evaluate=False),)),)
    other = (Step(-_m(y(j), y(i)), "{0}", (sp.Eq(delta, 0, evaluate=False),)),)
    top = (Step(_m(delta, e_j), "constant unless {0}", (sp.Eq(j, i, evaluate=False),)),)
    bottom = (
        Step(sp.Derivative(total, pre(i)), "definition of {0}", (S,)),
        Step(e_i, "only the term {0} changes", (sp.Eq(m, i, evaluate=False),)),
    )
    chains = (
        Chain(sp.Derivative(e_j, pre(i)), top, "numerator"),
        Chain(sp.Derivative(S, pre(i)), bottom, "denominator"),
        Chain(sp.Derivative(y(j), pre(i)), general),
        Chain(sp.Derivative(y(i), pre(i)), same, "i = j", sp.Eq(i, j, evaluate=False)),
        Chain(sp.Derivative(y(j), pre(i)), other, "i != j", sp.Ne(i, j)),
    )
    definition = (y(j), _m(e_j, _p(total, -1)))
    return LocalDerivation("softmax", "the softmax", definition, chains, "", ((S, total),))


def _shown(derivation: LocalDerivation, yhat: Callable[[sp.Expr], sp.Expr]) -> LocalDerivation:
    def put(expr: sp.Expr) -> sp.Expr:
        return expr.replace(_YHAT, lambda u: yhat(u))

    chains = tuple(
        replace(c, lhs=put(c.lhs), steps=tuple(_put_step(s, put) for s in c.steps))
        for c in derivation.chains
    )
    left, right = derivation.definition
    return LocalDerivation(
        derivation.key,
        derivation.title,
        (put(left), put(right)),
        chains,
        derivation.name,
        derivation.abbreviations,
    )


def _put_step(step: Step, put: Callable[[sp.Expr], sp.Expr]) -> Step:
    """``step`` with ``put`` done to its formula and to those of its reason (a named function
    is left as it is: ``yhat`` names the prediction as a whole)."""
    terms = tuple(t if isinstance(t, sp.FunctionClass) else put(t) for t in step.terms)
    return replace(step, expr=put(step.expr), terms=terms)


def _reciprocal_rule(u: sp.Expr) -> tuple[sp.Expr, ...]:
    """``(1/u)' = -u'/u^{2}``, ``u = 1 + e^{-x}``, ``u' = -e^{-x}``: the rule of a step of the
    sigmoid's derivative, with ``u`` a name for the sum."""
    name = sp.Symbol("u")
    prime = sp.Derivative(name, X)
    rule = sp.Eq(sp.Derivative(1 / name, X), -prime / name**2, evaluate=False)
    return rule, sp.Eq(name, u, evaluate=False), sp.Eq(prime, sp.diff(u, X), evaluate=False)


def _log_rule(u: sp.Expr) -> tuple[sp.Expr, ...]:
    """``(\\log u)' = u'/u`` with ``u = 1 + e^{x}``, for the derivative of softplus."""
    name = sp.Symbol("u")
    rule = sp.Eq(sp.Derivative(sp.log(name), X), sp.Derivative(name, X) / name, evaluate=False)
    return rule, sp.Eq(name, u, evaluate=False)


#: The named functions a custom derivative is compared with: the function and its formula.
NAMED: dict[str, tuple[type[sp.Function], sp.Expr]] = {
    "sigmoid": (SIGMA, sigmoid(X)),
}
