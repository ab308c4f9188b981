"""The catalogue's identities: every activation's derivative, and every form code computes.

Part of the proof (derivation -> **proof** -> program). ``g'`` of every hidden activation is
checked against ``sympy.diff`` of ``g`` (and the forms the notes write against it), and every form
generated code computes in place of a definition (the stable sigmoid, softplus as
``logaddexp(a, 0)``, log-softmax and log-sigmoid, the gradient of the loss for any targets)
against that definition: exactly where SymPy can decide it, else at random points in high
precision.
"""

from __future__ import annotations

import random

import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p

from symgrad import arrays, catalogue
from symgrad.arrays import LogAddExp
from symgrad.catalogue import Activation
from symgrad.catalogue import H as H_OUTPUT
from symgrad.errors import ProofError
from symgrad.expressions import X
from symgrad.network import Network
from symgrad.proof.common import RATIONAL_POINTS, seed_for

_RATIONAL_POINTS = [
    sp.Rational(p, q) for p, q in [(-7, 3), (-1, 2), (-1, 7), (1, 9), (2, 5), (3, 1), (11, 4)]
]


def _distinct_activations(net: Network) -> list[Activation]:
    """The hidden activations of ``net``, each once, in layer order."""
    found: dict[str, Activation] = {}
    for k in range(1, net.L):
        found.setdefault(net.activation(k).name, net.activation(k))
    return list(found.values())


def check_activations(net: Network) -> None:
    """``g'`` of every hidden activation equals ``d g/dx``; ``g'`` in terms of ``h`` as well."""
    for act in _distinct_activations(net):
        direct = sp.diff(act.function, X)
        candidates = [act.derivative, act.shown_derivative]
        if act.derivative_in_output is not None:
            candidates.append(
                act.derivative_in_output.xreplace({sp.Symbol("h", real=True): act.function})
            )
        for candidate in candidates:
            if not _zero_at_points(direct - candidate):
                raise ProofError(f"the derivative of activation {act.name} does not check")
        if not _zero_at_points(act.shown_function - act.function):
            raise ProofError(f"activation {act.name} as the notes write it does not check")
        if act.derivative_at_kink is not None:
            # The convention at 0 (no derivative there): the notes' g' and the code's agree on it.
            for candidate in (act.derivative, act.shown_derivative):
                if candidate.xreplace({X: 0}) != act.derivative_at_kink:
                    raise ProofError(f"activation {act.name}: g'(0) is not the stated value")


def check_code_forms(net: Network) -> None:
    """Every form generated code computes equals the definition it replaces.

    For each activation: the stable ``g`` against ``g``, and the code's ``g'`` (often in terms of
    ``h = g(a)``) against ``g'``. For the output layer: the prediction, the per-sample loss and its
    gradient with respect to the logits, as the code computes them from the logits (shifted by
    their maximum, which must cancel, so the maximum is left a free number ``m``), against the
    definitions, for any targets (not only those summing to 1): exactly where SymPy can decide it,
    else at random points in high precision.
    """
    for act in _distinct_activations(net):
        stable = _meaning(act.code_function) - act.function
        slope = _meaning(act.code_slope).xreplace({H_OUTPUT: act.function}) - act.derivative
        for what, difference in (("g", stable), ("g'", slope)):
            if not _zero_at_points(difference):
                raise ProofError(f"the code's {what} of activation {act.name} is not its {what}")
    output = net.spec.pair.output
    if output.diagonal:  # a unit's prediction from its own logit: proved as an activation's g
        code = _meaning(output.code.xreplace({arrays.ROW_A: X}))
        if not _zero_at_points(code - output.values([X])[0]):
            raise ProofError(f"the code's {output.name} output is not its definition")
    _check_pair_code(net)


def _meaning(expr: sp.Expr) -> sp.Expr:
    """A code form in plain functions: ``logaddexp``, ``log1p``, ``expm1`` written out, the
    sigmoid as the stable form that code without an exact sigmoid of its library computes."""
    expr = arrays.written_out(expr, arrays.Logistic)
    return expr.replace(lambda e: isinstance(e, LogAddExp), lambda e: e.meaning()).replace(
        lambda e: isinstance(e, (log1p, expm1)),
        lambda e: sp.log(1 + e.args[0]) if isinstance(e, log1p) else sp.exp(e.args[0]) - 1,
    )


#: Output units the code forms of a pair are checked on (they are written for any width).
CODE_FORM_UNITS = 3


def _check_pair_code(net: Network) -> None:
    pair = net.spec.pair
    n = min(net.n(net.L), CODE_FORM_UNITS)
    a = [sp.Dummy("logit", real=True) for _ in range(n)]
    y = [sp.Dummy("target", real=True) for _ in range(n)]
    shift = sp.Symbol("m", real=True)
    units: list[dict[sp.Symbol, sp.Expr]] = [
        {arrays.ROW_A: a[i], arrays.ROW_Y: y[i]} for i in range(n)
    ]

    def written_out(form: sp.Expr) -> list[sp.Expr]:
        form = form.replace(lambda e: isinstance(e, arrays.RowMax), lambda e: shift)
        return [_meaning(e) for e in arrays.expand_row(form, units)]

    for code in pair.code_steps:
        for unit, value in zip(units, written_out(code.value), strict=True):
            unit[sp.Symbol(code.name, real=True)] = value
    yhat = catalogue.output_function(pair.output.name, list(a))
    loss = catalogue.per_sample_loss(pair.loss.name, yhat, list(y))
    predicted = written_out(pair.code_prediction)
    identities = [("prediction", p - q) for p, q in zip(predicted, yhat, strict=True)]
    identities.append(("loss", written_out(pair.code_loss)[0] - loss))
    for i, value in enumerate(written_out(pair.code_delta)):
        identities.append(("gradient", value - sp.diff(loss, a[i])))
    points = _random_points([*a, *y, shift], seed_for(net.spec.sizes))
    for what, difference in identities:
        if not _zero_numerically(difference, points):
            names = f"{pair.output.name} + {pair.loss.name}"
            raise ProofError(f"the code's {what} of {names} is not the definition's")


def _random_points(symbols: list[sp.Symbol], seed: int) -> list[dict[sp.Symbol, sp.Expr]]:
    rng = random.Random(seed)
    return [
        {s: sp.Rational(rng.randint(-300, 300), rng.randint(50, 150)) for s in symbols}
        for _ in range(RATIONAL_POINTS)
    ]


def _zero_numerically(expr: sp.Expr, points: list[dict[sp.Symbol, sp.Expr]]) -> bool:
    """Zero at every point to 10^-40 relative, in 60-digit arithmetic (exactly zero first)."""
    if expr == 0:
        return True
    for point in points:
        value = sp.N(expr.xreplace(point), 60)
        scale = max(1, max(abs(sp.N(v, 60)) for v in point.values()))
        if not abs(value) <= sp.Float("1e-40", 60) * scale:
            return False
    return True


def _zero_at_points(expr: sp.Expr) -> bool:
    """Exactly zero: symbolically, for piecewise functions case by case on the sign of ``x``
    (:func:`zero_by_sign`), and where those cases leave a choice, at rational points off the
    kinks."""
    if expr.has(sp.Heaviside, sp.Piecewise, sp.Max, sp.Abs, sp.sign):
        if zero_by_sign(expr):
            return True
        for point in _RATIONAL_POINTS:
            value = expr.xreplace({X: point})
            value = value.rewrite(sp.exp) if value.has(sp.tanh) else value
            if sp.nsimplify(sp.simplify(value)) != 0:
                return False
        return True
    # Exponentials become a positive symbol T = exp(x): an identity between rational functions of
    # T is decided by cancel, much faster than simplify; simplify remains the fallback.
    t = sp.Symbol("T", positive=True)
    rational = expr.rewrite(sp.exp).xreplace({X: sp.log(t)})
    if sp.cancel(sp.together(rational)) == 0:
        return True
    return sp.simplify(expr.rewrite(sp.exp)) == 0


def zero_by_sign(expr: sp.Expr) -> bool:
    """``expr`` in ``x`` is zero for every real ``x``, proved in three cases: ``x = p``, ``x = -p``
    (``p > 0``) and ``x = 0``. In each case SymPy knows the sign of ``x``, so ``|x|``, ``max``,
    steps and choices on the sign of ``x`` resolve (``exp(-|x|)`` is ``exp(-p)`` in the first case,
    ``exp(p)`` in the second), and what is left is decided as an identity in ``exp(p)``. False
    when a case keeps a choice or SymPy cannot decide it."""
    p = sp.Symbol("p", positive=True)
    t = sp.Symbol("T", positive=True)
    for case in (p, -p, sp.Integer(0)):
        value = expr.xreplace({X: case})
        if value.has(sp.Heaviside, sp.Piecewise, sp.Max, sp.Min, sp.Abs, sp.sign):
            return False
        rational = value.rewrite(sp.exp).xreplace({p: sp.log(t)})
        if sp.cancel(sp.together(rational)) != 0 and sp.simplify(value.rewrite(sp.exp)) != 0:
            return False
    return True
