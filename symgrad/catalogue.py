"""The catalogue: hidden activations, output functions and losses, as SymPy expressions.

Sits between the spec (names chosen by the user) and the model. Each activation carries its
function ``g(x)`` and derivative ``g'(x)``; built-in ones also say how ``g'`` reads in terms of
the activation's own output ``h = g(x)`` (``sigmoid' = h (1 - h)``), which is how the notes and the
generated code use it. Output/loss pairs carry their per-sample loss as a function of ``yhat``.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from symgrad.errors import SpecError
from symgrad.expressions import X, parse_activation

#: Stands for ``h = g(x)`` in :attr:`Activation.derivative_in_output`.
H = sp.Symbol("h", real=True)

LEAKY_SLOPE = sp.Rational(1, 100)


@dataclass(frozen=True)
class Activation:
    """A hidden activation ``g``: its name, ``g(x)``, ``g'(x)``, and ``g'`` in terms of ``h``."""

    name: str
    function: sp.Expr
    derivative: sp.Expr
    #: ``g'(x)`` written with ``h = g(x)`` where that is how it is usually written, else None.
    derivative_in_output: sp.Expr | None = None
    builtin: bool = True

    def derivative_at(self, pre: sp.Expr, post: sp.Expr) -> sp.Expr:
        """``g'(a)`` at pre-activation ``pre`` whose activation is ``post`` (``post = g(pre)``)."""
        if self.derivative_in_output is not None:
            return _replace_keeping_order(self.derivative_in_output, {H: post})
        return self.derivative.xreplace({X: pre})

    def function_at(self, pre: sp.Expr) -> sp.Expr:
        """``g(a)`` for a pre-activation ``a``."""
        return self.function.xreplace({X: pre})


def _replace_keeping_order(expr: sp.Expr, mapping: dict[sp.Expr, sp.Expr]) -> sp.Expr:
    """``expr.xreplace(mapping)`` without re-evaluating, so ``h (1 - h)`` prints in that order."""
    if expr in mapping:
        return mapping[expr]
    if not expr.args:
        return expr
    args = [_replace_keeping_order(a, mapping) for a in expr.args]
    if isinstance(expr, (sp.Add, sp.Mul, sp.Pow)):
        return expr.func(*args, evaluate=False)
    return expr.func(*args)


def _sigmoid(z: sp.Expr) -> sp.Expr:
    return 1 / (1 + sp.exp(-z))


ACTIVATIONS: dict[str, Activation] = {
    "sigmoid": Activation(
        "sigmoid",
        _sigmoid(X),
        _sigmoid(X) * (1 - _sigmoid(X)),
        sp.Mul(H, sp.Add(1, -H, evaluate=False), evaluate=False),
    ),
    "tanh": Activation("tanh", sp.tanh(X), 1 - sp.tanh(X) ** 2, sp.Add(1, -(H**2), evaluate=False)),
    # relu'(0) = 0, as PyTorch and JAX define it: Heaviside with value 0 at 0.
    "relu": Activation("relu", sp.Max(0, X), sp.Heaviside(X, 0)),
    # leaky-relu'(0) = 0.01: the slope of the left piece, as PyTorch's leaky_relu gradient.
    "leaky-relu": Activation(
        "leaky-relu",
        sp.Piecewise((X, X > 0), (LEAKY_SLOPE * X, True)),
        sp.Piecewise((1, X > 0), (LEAKY_SLOPE, True)),
    ),
    "softplus": Activation("softplus", sp.log(1 + sp.exp(X)), _sigmoid(X)),
    "identity": Activation("identity", X, sp.Integer(1), sp.Integer(1)),
}

OUTPUTS = ("softmax", "sigmoid", "identity")
LOSSES = ("cross-entropy", "binary-cross-entropy", "squared-error")

#: The output/loss pairs that work, in the order of SPEC section 2.
PAIRS: tuple[tuple[str, str], ...] = (
    ("softmax", "cross-entropy"),
    ("sigmoid", "binary-cross-entropy"),
    ("softmax", "squared-error"),
    ("sigmoid", "squared-error"),
    ("identity", "squared-error"),
)


def activation(name: str) -> Activation:
    """The catalogue activation called ``name``, or the custom expression ``name`` parsed safely.

    A name made only of letters and dashes that is not in the catalogue is taken for a misspelt
    name, not for an expression, so the error lists the names that exist.
    """
    text = name.strip()
    if text in ACTIVATIONS:
        return ACTIVATIONS[text]
    if text.replace("-", "").replace("_", "").isalpha() and text != "x":
        raise SpecError(
            f"unknown activation {text!r}; use one of {', '.join(ACTIVATIONS)} or an expression "
            'in x such as "x/(1+abs(x))"'
        )
    function = parse_activation(text)
    return Activation(
        name=text,
        function=function,
        derivative=sp.diff(function, X),
        derivative_in_output=None,
        builtin=False,
    )


def check_pair(output: str, loss: str) -> None:
    """Raise :class:`SpecError` unless ``(output, loss)`` is one of :data:`PAIRS`."""
    if output not in OUTPUTS:
        raise SpecError(f"unknown output {output!r}; use one of {', '.join(OUTPUTS)}")
    if loss not in LOSSES:
        raise SpecError(f"unknown loss {loss!r}; use one of {', '.join(LOSSES)}")
    if (output, loss) not in PAIRS:
        pairs = ", ".join(f"{o} + {lo}" for o, lo in PAIRS)
        raise SpecError(
            f"output {output} does not go with loss {loss}; the pairs that work: {pairs}"
        )


def default_loss(output: str) -> str:
    """The loss that goes with ``output`` when only the output is given."""
    return next(lo for o, lo in PAIRS if o == output)


def default_output(loss: str) -> str:
    """The output that goes with ``loss`` when only the loss is given."""
    return next(o for o, lo in PAIRS if lo == loss)


def output_function(output: str, logits: list[sp.Expr]) -> list[sp.Expr]:
    """``yhat = O(a_L)`` elementwise for the named output function."""
    if output == "softmax":
        total = sum((sp.exp(a) for a in logits), sp.Integer(0))
        return [sp.exp(a) / total for a in logits]
    if output == "sigmoid":
        return [_sigmoid(a) for a in logits]
    return list(logits)


def per_sample_loss(loss: str, yhat: list[sp.Expr], y: list[sp.Expr]) -> sp.Expr:
    """The per-sample loss of SPEC section 2 as a SymPy expression of ``yhat`` and ``y``."""
    if loss == "cross-entropy":
        return -sp.Add(*[yi * sp.log(pi) for pi, yi in zip(yhat, y, strict=True)])
    if loss == "binary-cross-entropy":
        return -sp.Add(
            *[yi * sp.log(pi) + (1 - yi) * sp.log(1 - pi) for pi, yi in zip(yhat, y, strict=True)]
        )
    return sp.Rational(1, 2) * sp.Add(*[(pi - yi) ** 2 for pi, yi in zip(yhat, y, strict=True)])
