"""The hidden activations of the catalogue, each written out once, and custom ones parsed.

Part of the catalogue (:mod:`symgrad.catalogue`). A built-in activation is one entry of
:data:`ACTIVATIONS`.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp
from sympy.codegen.cfunctions import expm1

from symgrad.arrays import LogAddExp, Logistic
from symgrad.catalogue.forms import (
    EXACT_SIGMOID,
    LEAKY_SLOPE,
    NO_OVERFLOW,
    H,
    ordered,
    product,
    replace_keeping_order,
    sigmoid,
)
from symgrad.errors import SpecError
from symgrad.expressions import X, parse_activation


@dataclass(frozen=True)
class Activation:
    """A hidden activation ``g``.

    ``function`` and ``derivative`` are ``g(x)`` and ``g'(x)`` in :data:`~symgrad.expressions.X`;
    ``derivative_in_output`` is ``g'`` written with :data:`H` ``= g(x)`` where the notes write it
    so. ``stable`` and ``slope`` are what generated code computes for ``g(x)`` and ``g'(x)``:
    equal to them (the proof checks it) but finite for every finite ``x``; ``slope`` may use
    :data:`H`, then the code takes ``g'`` from the activation and need not keep ``x``.
    """

    name: str
    function: sp.Expr
    derivative: sp.Expr
    derivative_in_output: sp.Expr | None = None
    stable: sp.Expr | None = None
    slope: sp.Expr | None = None
    #: Why the code form is written as it is, for the comment above it ("" when it is ``g``).
    stable_note: str = ""
    slope_note: str = ""
    builtin: bool = True
    # Display forms of the notes (the proof checks each against ``function`` and ``derivative``).
    #: ``g(x)`` as the notes write it, when that differs from ``function`` (``max(x, 0.01 x)``).
    function_display: sp.Expr | None = None
    #: ``g'(x)`` written out for the notes when it is not written with ``h`` (``1[x > 0]``).
    derivative_display: sp.Expr | None = None
    #: The value used for ``g'(0)`` where ``g`` has no derivative at 0 (relu, leaky-relu).
    derivative_at_kink: sp.Expr | None = None
    #: Where ``g`` and ``g'`` are finite and real, and where they are moreover smooth (``g''``
    #: continuous), as SymPy sets; None: worked out from the expressions by
    #: :mod:`symgrad.domain`. A gradient check needs points inside the smooth set.
    domain: sp.Set | None = None
    smooth_domain: sp.Set | None = None
    #: The named function ``g'`` was proved equal to ("sigmoid" for ``log(1 + exp(x))``), or "".
    derivative_name: str = ""

    def __post_init__(self) -> None:
        if self.stable is None:
            object.__setattr__(self, "stable", self.function)
        if self.slope is None:
            slope = self.derivative_in_output
            object.__setattr__(self, "slope", slope if slope is not None else self.derivative)

    @property
    def code_function(self) -> sp.Expr:
        """``g(x)`` as generated code computes it."""
        assert self.stable is not None
        return self.stable

    @property
    def code_slope(self) -> sp.Expr:
        """``g'(x)`` as generated code computes it, in ``x`` and/or ``h``."""
        assert self.slope is not None
        return self.slope

    @property
    def slope_needs_input(self) -> bool:
        """True when the code's ``g'`` reads the pre-activation ``x`` (it must then be kept)."""
        return X in self.code_slope.free_symbols

    @property
    def display(self) -> str:
        """How prose names it: ``sigmoid``, or ``custom x/(1+abs(x))``."""
        return self.name if self.builtin else f"custom {self.name}"

    @property
    def shown_derivative(self) -> sp.Expr:
        """``g'(x)`` in ``x`` as the notes write it."""
        return self.derivative_display if self.derivative_display is not None else self.derivative

    @property
    def shown_function(self) -> sp.Expr:
        """``g(x)`` as the notes write it."""
        return self.function_display if self.function_display is not None else self.function

    def derivative_at(self, pre: sp.Expr, post: sp.Expr) -> sp.Expr:
        """``g'(a)`` at pre-activation ``pre`` whose activation is ``post`` (``post = g(pre)``)."""
        if self.derivative_in_output is not None:
            return replace_keeping_order(self.derivative_in_output, {H: post})
        return self.shown_derivative.xreplace({X: pre})

    def function_at(self, pre: sp.Expr) -> sp.Expr:
        """``g(a)`` for a pre-activation ``a``."""
        return self.function.xreplace({X: pre})


#: Where a built-in activation is defined and smooth: everywhere, or everywhere but its kink.
_EVERYWHERE = {"domain": sp.S.Reals, "smooth_domain": sp.S.Reals}
_KINK_AT_ZERO = {"domain": sp.S.Reals, "smooth_domain": sp.S.Reals - sp.FiniteSet(0)}

#: The hidden activation when ``--activation`` is not given.
DEFAULT_ACTIVATION = "sigmoid"

ACTIVATIONS: dict[str, Activation] = {
    "sigmoid": Activation(
        "sigmoid",
        sigmoid(X),
        sigmoid(X) * (1 - sigmoid(X)),
        product(H, ordered(1, -H)),
        stable=Logistic(X),
        stable_note=EXACT_SIGMOID,
        slope=H * (1 - H),
        slope_note="sigmoid'(a) = h (1 - h), from the activation",
        **_EVERYWHERE,
    ),
    "tanh": Activation(
        "tanh",
        sp.tanh(X),
        1 - sp.tanh(X) ** 2,
        ordered(1, -(H**2)),
        slope=1 - H**2,
        slope_note="tanh'(a) = 1 - h², from the activation",
        **_EVERYWHERE,
    ),
    # relu'(0) = 0, as PyTorch and JAX define it: Heaviside with value 0 at 0. h > 0 exactly
    # where a > 0, so the code reads the indicator off the activation.
    "relu": Activation(
        "relu",
        sp.Max(0, X),
        sp.Heaviside(X, 0),
        stable=sp.Max(X, 0),
        slope=sp.Heaviside(H, 0),
        slope_note="relu'(a) = [a > 0] = [h > 0], 0 at a = 0",
        derivative_at_kink=sp.Integer(0),
        **_KINK_AT_ZERO,
    ),
    # leaky-relu'(0) = 0.01: the slope of the left piece, as PyTorch's leaky_relu gradient.
    "leaky-relu": Activation(
        "leaky-relu",
        sp.Piecewise((X, X > 0), (LEAKY_SLOPE * X, True)),
        sp.Piecewise((1, X > 0), (LEAKY_SLOPE, True)),
        stable=sp.Max(X, LEAKY_SLOPE * X),
        stable_note="max(a, a/100) is a for a > 0 and a/100 otherwise",
        slope=sp.Piecewise((1, H > 0), (LEAKY_SLOPE, True)),
        slope_note="g'(a) = 1 for a > 0 and 0.01 otherwise (also at a = 0), read off h",
        function_display=sp.Max(X, LEAKY_SLOPE * X),
        # 1[x > 0] + 0.01 1[x <= 0]: Heaviside(-x, 1) is 1 for x <= 0, so g'(0) = 0.01.
        derivative_display=sp.Heaviside(X, 0) + LEAKY_SLOPE * sp.Heaviside(-X, 1),
        derivative_at_kink=LEAKY_SLOPE,
        **_KINK_AT_ZERO,
    ),
    "softplus": Activation(
        "softplus",
        sp.log(1 + sp.exp(X)),
        sigmoid(X),
        stable=LogAddExp(X, 0),
        stable_note=f"log(1 + exp(a)) = logaddexp(a, 0), {NO_OVERFLOW}",
        # 1 - exp(-h) = 1 - 1/(1 + exp(a)) = sigmoid(a); -expm1(-h) keeps it exact for small h.
        slope=-expm1(-H),
        slope_note="softplus'(a) = sigmoid(a) = 1 - exp(-h), from the activation",
        **_EVERYWHERE,
    ),
    "identity": Activation(
        "identity",
        X,
        sp.Integer(1),
        sp.Integer(1),
        slope_note="g' = 1",
        **_EVERYWHERE,
    ),
}


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
    if X not in function.free_symbols:
        raise SpecError(
            f"the activation {text!r} is the constant {function}: it does not depend on x, so "
            "the layers after it would ignore the input and no gradient would reach the layers "
            "before it; give an expression in x"
        )
    # The derivative of a sum term by term, each simplified on its own: simplify gives up on
    # large expressions, and d/dx x/(1+|x|) = 1/(1+|x|)^2 should read so inside any sum.
    derivative = sp.Add(*[_simplest(sp.diff(term, X)) for term in sp.Add.make_args(function)])
    name = named_derivative(derivative)
    return Activation(
        name=text,
        function=function,
        derivative=derivative,
        builtin=False,
        derivative_display=NAMED_DERIVATIVES[name] if name else None,
        derivative_name=name,
    )


#: The named functions a custom derivative is recognised as, in the form the notes write them.
NAMED_DERIVATIVES: dict[str, sp.Expr] = {"sigmoid": sigmoid(X)}
#: Where a derivative proved equal to a named function is also compared with it in numbers.
_NAMED_CHECK_POINTS = tuple(sp.Rational(p, 4) for p in (-30, -9, -2, 0, 3, 12, 48))


def named_derivative(derivative: sp.Expr) -> str:
    """The name of the function ``derivative`` is (``e^x/(1 + e^x)`` is the sigmoid), or "".

    SymPy must prove the difference zero, and the two must then agree in numbers at a few
    points too: a simplification that went wrong names nothing.
    """
    if sp.count_ops(derivative) > SIMPLIFY_LIMIT:
        return ""
    for name, named in NAMED_DERIVATIVES.items():
        proved = derivative == named or sp.simplify(derivative - named) == 0
        if proved and all(
            abs(complex(sp.N((derivative - named).xreplace({X: p}), 30))) < 1e-20
            for p in _NAMED_CHECK_POINTS
        ):
            return name
    return ""


#: Custom derivatives with more operations than this are left as differentiated: simplify's cost
#: grows quickly with the size of an expression.
SIMPLIFY_LIMIT = 40


def _simplest(expr: sp.Expr) -> sp.Expr:
    """A simpler equal form of a custom derivative (``x sign(x)`` is ``|x|`` for real ``x``).

    SymPy's candidate is taken only when it is shorter and uses no function the original does not
    (``simplify`` likes ``cosh``, which generated code does not have).
    """
    tidy = expr.subs(X * sp.sign(X), sp.Abs(X))
    if sp.count_ops(tidy) > SIMPLIFY_LIMIT:
        return tidy
    allowed = {type(f) for f in tidy.atoms(sp.Function)}
    best = tidy
    simplified = sp.simplify(tidy)
    # A quotient with its denominator factored: (1 - x^2)/(x^2 + 1)^2, not /(x^4 + 2x^2 + 1).
    top, bottom = sp.fraction(simplified)
    for candidate in (simplified, top / sp.factor(bottom)):
        used = {type(f) for f in candidate.atoms(sp.Function)}
        if used <= allowed and sp.count_ops(candidate) < sp.count_ops(best):
            best = candidate
    return best
