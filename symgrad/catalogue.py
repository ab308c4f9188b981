"""The catalogue: every primitive of symgrad, each written out once.

Sits between the spec (names chosen by the user) and the model. An entry carries everything the
rest of the pipeline needs to know about it, so no other module compares against a name:

- an :class:`Activation` ``g``: ``g(x)``, ``g'(x)``, ``g'`` in terms of its output ``h = g(x)``
  where that is how it is usually written (``sigmoid' = h (1 - h)``), and the forms generated code
  computes (``stable``, ``slope``), which cannot overflow for any ``x``;
- an :class:`OutputFunction` ``O``: ``yhat_i`` from the logits and ``d yhat_j / d a_{Li}``;
- a :class:`Loss`: its per-unit term and ``dL/dyhat_i``;
- an :class:`OutputLoss` pair: ``grad_{a_L} L`` in its simplest form (elementwise and as a matrix)
  and the row forms generated code computes the loss, the prediction and ``grad_{a_L} L`` with.

Mathematical forms take the notation's objects as arguments (callables such as ``yhat(i)``), so
this module needs no notation of its own. Code forms are written in the row calculus of
:mod:`symgrad.arrays`. The proof checks that every code form equals the definition it replaces.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias

import sympy as sp
from sympy.codegen.cfunctions import expm1

from symgrad.arrays import ROW_A, ROW_Y, LogAddExp, RowMax, RowSum
from symgrad.errors import SpecError
from symgrad.expressions import X, parse_activation

#: Stands for ``h = g(x)`` in :attr:`Activation.derivative_in_output` and :attr:`Activation.slope`.
H = sp.Symbol("h", real=True)

LEAKY_SLOPE = sp.Rational(1, 100)

Index: TypeAlias = sp.Expr
Indexed: TypeAlias = Callable[[sp.Expr], sp.Expr]
#: A form of a display derivation and the name of the rule that gives it.
Algebra: TypeAlias = tuple[sp.Expr, str]
Ones: TypeAlias = Callable[[sp.Expr, sp.Expr], sp.MatrixExpr]


def _sigmoid(z: sp.Expr) -> sp.Expr:
    return 1 / (1 + sp.exp(-z))


def _stable_sigmoid(z: sp.Expr) -> sp.Expr:
    """``1/(1 + exp(-z))`` as ``exp(min(z, 0))/(1 + exp(-|z|))``, ``min(z, 0) = (z - |z|)/2``:
    ``1/(1 + e^{-z})`` for ``z >= 0`` and ``e^{z}/(1 + e^{z})`` below. Neither exponential can
    overflow and nothing subtracts, so the value keeps its full relative accuracy on both sides
    (``(1 + tanh(z/2))/2`` is 0 below ``z = -38``). ``z - |z|`` is exact (0 or ``2z``), and no
    choice on the sign is needed: a choice is one more pass in NumPy and a slow one in PyTorch."""
    return sp.exp((z - sp.Abs(z)) / 2) / (1 + sp.exp(-sp.Abs(z)))


def _ordered(*terms: sp.Expr) -> sp.Expr:
    """A sum printed in the order given (``1 - h``), not SymPy's (``-h + 1``)."""
    return sp.Add(*terms, evaluate=False)


def _product(*factors: sp.Expr) -> sp.Expr:
    return sp.Mul(*factors, evaluate=False)


def difference(left: sp.Expr, right: sp.Expr) -> sp.Expr:
    """``left - right`` kept in that order when printed (``yhat_i - y_i``)."""
    return sp.Add(left, sp.Mul(-1, right), evaluate=False)


# Hidden activations ---------------------------------------------------------------------------


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
            return _replace_keeping_order(self.derivative_in_output, {H: post})
        return self.shown_derivative.xreplace({X: pre})

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


_NO_OVERFLOW = "which cannot overflow"
#: How the code computes the sigmoid, for the comment above it.
_EXACT_SIGMOID = (
    "computed as exp(min(a, 0))/(1 + exp(-|a|)) with min(a, 0) = (a - |a|)/2: 1/(1 + e^-a) for "
    "a >= 0 and e^a/(1 + e^a) below, which cannot overflow and keeps full relative accuracy on "
    "both sides"
)
#: Where a built-in activation is defined and smooth: everywhere, or everywhere but its kink.
_EVERYWHERE = {"domain": sp.S.Reals, "smooth_domain": sp.S.Reals}
_KINK_AT_ZERO = {"domain": sp.S.Reals, "smooth_domain": sp.S.Reals - sp.FiniteSet(0)}

#: The hidden activation when ``--activation`` is not given.
DEFAULT_ACTIVATION = "sigmoid"

ACTIVATIONS: dict[str, Activation] = {
    "sigmoid": Activation(
        "sigmoid",
        _sigmoid(X),
        _sigmoid(X) * (1 - _sigmoid(X)),
        _product(H, _ordered(1, -H)),
        stable=_stable_sigmoid(X),
        stable_note=_EXACT_SIGMOID,
        slope=H * (1 - H),
        slope_note="sigmoid'(a) = h (1 - h), from the activation",
        **_EVERYWHERE,
    ),
    "tanh": Activation(
        "tanh",
        sp.tanh(X),
        1 - sp.tanh(X) ** 2,
        _ordered(1, -(H**2)),
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
        _sigmoid(X),
        stable=LogAddExp(X, 0),
        stable_note=f"log(1 + exp(a)) = logaddexp(a, 0), {_NO_OVERFLOW}",
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
    # The derivative of a sum term by term, each simplified on its own: simplify gives up on
    # large expressions, and d/dx x/(1+|x|) = 1/(1+|x|)^2 should read so inside any sum.
    derivative = sp.Add(*[_simplest(sp.diff(term, X)) for term in sp.Add.make_args(function)])
    return Activation(
        name=text,
        function=function,
        derivative=derivative,
        builtin=False,
    )


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


# Output functions and losses ------------------------------------------------------------------


@dataclass(frozen=True)
class OutputFunction:
    """``yhat = O(a_L)``.

    ``prediction(logit, i, j, n)`` is ``yhat_i`` given ``logit(m) = a_{Lm}``, summing over ``j``
    where it must. ``jacobian(yhat, i, j)`` is ``d yhat_j / d a_{Li}`` in terms of ``yhat(m)``.
    ``code`` is ``yhat`` as a row form in :data:`~symgrad.arrays.ROW_A`.
    """

    name: str
    #: LaTeX of ``O`` in ``yhat = O(a_L)`` ("" for the identity).
    latex: str
    #: True when ``yhat_i`` depends on ``a_{Li}`` alone.
    diagonal: bool
    prediction: Callable[[Indexed, Index, sp.Symbol, int], sp.Expr]
    jacobian: Callable[[Indexed, Index, Index], sp.Expr]
    code: sp.Expr
    code_note: str = ""
    #: True when the predictions of a sample sum to 1 (the softmax): over one unit it is constant.
    sums_to_one: bool = False

    def values(self, logits: list[sp.Expr]) -> list[sp.Expr]:
        """``yhat`` for a concrete list of logits."""
        n = len(logits)
        m = sp.Dummy("m", integer=True, positive=True)
        table = sp.IndexedBase("logit")
        out = []
        for i in range(1, n + 1):
            value = self.prediction(lambda u: table[u], sp.Integer(i), m, n)
            value = value.replace(lambda e: isinstance(e, sp.Sum), _write_out_sum)
            out.append(value.xreplace({table[u]: logits[u - 1] for u in range(1, n + 1)}))
        return out


def _write_out_sum(total: sp.Sum) -> sp.Expr:
    ((index, low, high),) = total.limits
    return sp.Add(*[total.function.xreplace({index: v}) for v in range(int(low), int(high) + 1)])


def _softmax(logit: Indexed, i: Index, j: sp.Symbol, n: int) -> sp.Expr:
    return sp.exp(logit(i)) / sp.Sum(sp.exp(logit(j)), (j, 1, n))


def _softmax_jacobian(yhat: Indexed, i: Index, j: Index) -> sp.Expr:
    return _product(yhat(j), difference(sp.KroneckerDelta(i, j), yhat(i)))


def _sigmoid_jacobian(yhat: Indexed, i: Index, j: Index) -> sp.Expr:
    return _product(sp.KroneckerDelta(i, j), yhat(i), difference(sp.Integer(1), yhat(i)))


_SHIFTED = ROW_A - RowMax(ROW_A)

OUTPUTS_BY_NAME: dict[str, OutputFunction] = {
    "softmax": OutputFunction(
        "softmax",
        r"\operatorname{softmax}",
        False,
        _softmax,
        _softmax_jacobian,
        code=sp.exp(_SHIFTED) / RowSum(sp.exp(_SHIFTED)),
        code_note="the row maximum is subtracted first, so exp cannot overflow",
        sums_to_one=True,
    ),
    "sigmoid": OutputFunction(
        "sigmoid",
        r"\sigma",
        True,
        lambda logit, i, j, n: _sigmoid(logit(i)),
        _sigmoid_jacobian,
        code=_stable_sigmoid(ROW_A),
        code_note=_EXACT_SIGMOID,
    ),
    "identity": OutputFunction(
        "identity",
        "",
        True,
        lambda logit, i, j, n: logit(i),
        lambda yhat, i, j: sp.KroneckerDelta(i, j),
        code=ROW_A,
    ),
}


@dataclass(frozen=True)
class Loss:
    """A per-sample loss ``sum_i term(yhat_i, y_i)`` and its partial ``dL/dyhat_i``."""

    name: str
    #: Prose name ("binary cross-entropy") and the formula in plain text.
    display: str
    formula: str
    term: Callable[[sp.Expr, sp.Expr], sp.Expr]
    slope: Callable[[sp.Expr, sp.Expr], sp.Expr]
    #: The targets it is meant for: "distribution" (rows on the simplex), "probabilities"
    #: (each in [0, 1]) or "reals"; random checks draw their targets accordingly.
    targets: str = "reals"


LOSSES_BY_NAME: dict[str, Loss] = {
    "cross-entropy": Loss(
        "cross-entropy",
        "cross-entropy",
        "-sum_i y_i log yhat_i",
        lambda yhat, y: -y * sp.log(yhat),
        lambda yhat, y: -y / yhat,
        targets="distribution",
    ),
    "binary-cross-entropy": Loss(
        "binary-cross-entropy",
        "binary cross-entropy",
        "-sum_i [y_i log yhat_i + (1 - y_i) log(1 - yhat_i)]",
        lambda yhat, y: -(y * sp.log(yhat) + (1 - y) * sp.log(1 - yhat)),
        lambda yhat, y: sp.Add(
            -y / yhat, (1 - y) / difference(sp.Integer(1), yhat), evaluate=False
        ),
        targets="probabilities",
    ),
    "squared-error": Loss(
        "squared-error",
        "squared error",
        "1/2 sum_i (yhat_i - y_i)^2",
        lambda yhat, y: sp.Rational(1, 2) * (yhat - y) ** 2,
        difference,
    ),
}

OUTPUTS = tuple(OUTPUTS_BY_NAME)
LOSSES = tuple(LOSSES_BY_NAME)


@dataclass(frozen=True)
class CodeStep:
    """A named intermediate of a code form: ``name = value`` (a row form).

    ``implements`` names the step of the derivation it computes (the value of its kind:
    ``prediction``, ``output-loss-slope``), so that generated code cites the right equation.
    """

    name: str
    value: sp.Expr
    note: str = ""
    implements: str = "prediction"


@dataclass(frozen=True)
class OutputLoss:
    """An output function with the loss it is used with, and what only the pair knows.

    ``delta(yhat, y, i, j, n)`` is ``dL/da_{Li}`` in its simplest form and ``delta_vector(yhat, y,
    ones)`` the same as a matrix expression of the column vectors ``yhat``, ``y`` and the ones
    vector. The code forms are row forms in ``A`` (logits), ``Y`` (targets) and the names of
    ``code_steps``: the per-sample loss ``code_loss`` computed from the logits where that is stable,
    the prediction, and ``code_delta``, the gradient of the per-sample loss with respect to the
    logits for any ``y`` (also when ``sum_i y_i != 1``).
    """

    output: OutputFunction
    loss: Loss
    delta: Callable[[Indexed, Indexed, Index, sp.Symbol, int], sp.Expr]
    delta_vector: Callable[[sp.MatrixExpr, sp.MatrixExpr, sp.MatrixExpr], sp.MatrixExpr]
    code_steps: tuple[CodeStep, ...]
    code_prediction: sp.Expr
    code_loss: sp.Expr
    code_delta: sp.Expr
    loss_note: str = ""
    delta_note: str = ""
    #: ``grad_{a_L} L = yhat - y`` holds only when ``sum_i y_i = 1`` (softmax + cross-entropy).
    assumes_targets_sum_to_one: bool = False
    #: Softmax + cross-entropy also accepts integer class labels in place of one-hot rows.
    accepts_labels: bool = False
    # Display forms of the notes (each proved equal to the chain rule by the symbolic proof).
    #: The steps of algebra from the chain rule applied, ``sum_j dL/dyhat_j dyhat_j/da_{Li}``
    #: written out, to ``delta``: ``algebra(yhat, y, i, j, n)`` gives ``(form, why)`` pairs,
    #: ``why`` naming the rule (a :class:`~symgrad.derivation.Rule` name such as ``"CANCEL"``).
    delta_algebra: Callable[[Indexed, Indexed, Index, sp.Symbol, int], tuple[Algebra, ...]] = (
        lambda yhat, y, i, j, n: ()
    )
    #: ``B Delta_L`` for a batch, rows as samples: ``delta_rows(Yhat, Y, ones)`` of the ``B x n``
    #: matrices ``Yhat`` and ``Y``, with ``ones(r, c)`` the all-ones matrix of that shape.
    delta_rows: Callable[[sp.MatrixExpr, sp.MatrixExpr, Ones], sp.MatrixExpr] = (
        lambda yhat, y, ones: sp.MatAdd(yhat, -y)
    )

    @property
    def names(self) -> tuple[str, str]:
        return (self.output.name, self.loss.name)


def _code_symbol(name: str) -> sp.Symbol:
    return sp.Symbol(name, real=True)


_Z, _E, _S = (_code_symbol(n) for n in ("Z", "E", "S"))
_YHAT, _R = _code_symbol("Yhat"), _code_symbol("R")


def _plain_delta(yhat: Indexed, y: Indexed, i: Index, j: sp.Symbol, n: int) -> sp.Expr:
    return difference(yhat(i), y(i))


def _plain_delta_vector(
    yhat: sp.MatrixExpr, y: sp.MatrixExpr, ones: sp.MatrixExpr
) -> sp.MatrixExpr:
    return sp.MatAdd(yhat, -y)


def _squared_error_steps(output: OutputFunction) -> tuple[CodeStep, ...]:
    return (
        CodeStep("Yhat", output.code, output.code_note),
        CodeStep("R", _YHAT - ROW_Y, "R = yhat - y is dL/dyhat, row by row", "output-loss-slope"),
    )


_SQUARED_LOSS = RowSum(_R * _R) / 2

PAIRS_BY_NAMES: dict[tuple[str, str], OutputLoss] = {}


def _pair(entry: OutputLoss) -> None:
    PAIRS_BY_NAMES[entry.names] = entry


def _softmax_cross_entropy_algebra(
    yhat: Indexed, y: Indexed, i: Index, j: sp.Symbol, n: int
) -> tuple[Algebra, ...]:
    # sum_j (-y_j/yhat_j) yhat_j (delta_ij - yhat_i) = -sum_j y_j (delta_ij - yhat_i)
    #                                               = yhat_i sum_j y_j - y_i
    cancelled = -sp.Sum(_product(y(j), difference(sp.KroneckerDelta(i, j), yhat(i))), (j, 1, n))
    picked = difference(_product(yhat(i), sp.Sum(y(j), (j, 1, n))), y(i))
    return ((cancelled, "CANCEL"), (picked, "KRONECKER"))


_pair(
    OutputLoss(
        OUTPUTS_BY_NAME["softmax"],
        LOSSES_BY_NAME["cross-entropy"],
        _plain_delta,
        _plain_delta_vector,
        code_steps=(
            CodeStep("Z", _SHIFTED, "z = a_L - max_j a_Lj, so that exp cannot overflow"),
            CodeStep("E", sp.exp(_Z)),
            CodeStep("S", RowSum(_E)),
        ),
        code_prediction=_E / _S,
        code_loss=RowSum(ROW_Y) * sp.log(_S) - RowSum(ROW_Y * _Z),
        code_delta=_E * RowSum(ROW_Y) / _S - ROW_Y,
        loss_note=(
            "from a_L without forming yhat: log yhat_i = z_i - log s with s = sum_j exp(z_j), so "
            "L = (sum_i y_i) log s - sum_i y_i z_i"
        ),
        delta_note=(
            "the notes' yhat - y assumes sum_i y_i = 1; the code uses yhat sum_i y_i - y, the "
            "gradient of L for any y"
        ),
        assumes_targets_sum_to_one=True,
        accepts_labels=True,
        delta_algebra=_softmax_cross_entropy_algebra,
    )
)
_pair(
    OutputLoss(
        OUTPUTS_BY_NAME["sigmoid"],
        LOSSES_BY_NAME["binary-cross-entropy"],
        _plain_delta,
        _plain_delta_vector,
        code_steps=(),
        code_prediction=OUTPUTS_BY_NAME["sigmoid"].code,
        code_loss=RowSum(LogAddExp(ROW_A, 0) - ROW_Y * ROW_A),
        code_delta=OUTPUTS_BY_NAME["sigmoid"].code - ROW_Y,
        loss_note=(
            "from a_L without forming yhat: log yhat = -softplus(-a) and log(1 - yhat) = "
            "-softplus(a), so L = sum_i [softplus(a_i) - y_i a_i], softplus(a) = logaddexp(a, 0)"
        ),
        delta_note=f"yhat {_EXACT_SIGMOID}",
        # (-y/yhat + (1-y)/(1-yhat)) yhat (1-yhat) = (1-y) yhat - y (1-yhat)
        delta_algebra=lambda yhat, y, i, j, n: (
            (
                difference(
                    _product(difference(sp.Integer(1), y(i)), yhat(i)),
                    _product(y(i), difference(sp.Integer(1), yhat(i))),
                ),
                "EXPAND",
            ),
        ),
    )
)


def _softmax_squared_delta(yhat: Indexed, y: Indexed, i: Index, j: sp.Symbol, n: int) -> sp.Expr:
    # yhat_i ((yhat_i - y_i) - sum_j (yhat_j - y_j) yhat_j)
    inner = sp.Sum(_product(difference(yhat(j), y(j)), yhat(j)), (j, 1, n))
    return _product(yhat(i), difference(difference(yhat(i), y(i)), inner))


def _softmax_squared_vector(
    yhat: sp.MatrixExpr, y: sp.MatrixExpr, ones: sp.MatrixExpr
) -> sp.MatrixExpr:
    # yhat (.) (yhat - y - 1 (yhat - y)^T yhat); built unevaluated so (yhat - y)^T stays whole
    error = sp.MatAdd(yhat, -y)
    scalar = sp.MatMul(sp.Transpose(error), yhat)
    return sp.HadamardProduct(yhat, sp.MatAdd(yhat, -y, sp.MatMul(-1, ones, scalar)))


def _softmax_squared_algebra(
    yhat: Indexed, y: Indexed, i: Index, j: sp.Symbol, n: int
) -> tuple[Algebra, ...]:
    # sum_j (yhat_j - y_j) yhat_j (delta_ij - yhat_i)
    #   = (yhat_i - y_i) yhat_i - yhat_i sum_j (yhat_j - y_j) yhat_j
    inner = sp.Sum(_product(difference(yhat(j), y(j)), yhat(j)), (j, 1, n))
    picked = difference(_product(difference(yhat(i), y(i)), yhat(i)), _product(yhat(i), inner))
    return ((picked, "KRONECKER"),)


def _softmax_squared_rows(yhat: sp.MatrixExpr, y: sp.MatrixExpr, ones: Ones) -> sp.MatrixExpr:
    # Row s is yhat_s (.) (r_s - r_s . yhat_s) with r = yhat - y: in matrix form
    # Yhat (.) (R - (R (.) Yhat) 1 1^T), the row sums of R (.) Yhat copied into every column.
    n = yhat.shape[1]
    error = sp.MatAdd(yhat, -y)
    row_dots = sp.MatMul(sp.HadamardProduct(error, yhat), ones(n, 1), sp.Transpose(ones(n, 1)))
    return sp.HadamardProduct(yhat, sp.MatAdd(yhat, -y, sp.MatMul(-1, row_dots)))


def _sigmoid_squared_delta(yhat: Indexed, y: Indexed, i: Index, j: sp.Symbol, n: int) -> sp.Expr:
    return _product(difference(yhat(i), y(i)), yhat(i), difference(sp.Integer(1), yhat(i)))


def _sigmoid_squared_vector(
    yhat: sp.MatrixExpr, y: sp.MatrixExpr, ones: sp.MatrixExpr
) -> sp.MatrixExpr:
    return sp.HadamardProduct(sp.MatAdd(yhat, -y), yhat, sp.MatAdd(ones, -yhat))


_pair(
    OutputLoss(
        OUTPUTS_BY_NAME["softmax"],
        LOSSES_BY_NAME["squared-error"],
        _softmax_squared_delta,
        _softmax_squared_vector,
        code_steps=_squared_error_steps(OUTPUTS_BY_NAME["softmax"]),
        code_prediction=_YHAT,
        code_loss=_SQUARED_LOSS,
        code_delta=_YHAT * (_R - RowSum(_R * _YHAT)),
        loss_note="the sum over the units of r_i²/2",
        delta_algebra=_softmax_squared_algebra,
        delta_rows=_softmax_squared_rows,
    )
)
_pair(
    OutputLoss(
        OUTPUTS_BY_NAME["sigmoid"],
        LOSSES_BY_NAME["squared-error"],
        _sigmoid_squared_delta,
        _sigmoid_squared_vector,
        code_steps=_squared_error_steps(OUTPUTS_BY_NAME["sigmoid"]),
        code_prediction=_YHAT,
        code_loss=_SQUARED_LOSS,
        code_delta=_R * _YHAT * (1 - _YHAT),
        loss_note="the sum over the units of r_i²/2",
        delta_rows=lambda yhat, y, ones: sp.HadamardProduct(
            sp.MatAdd(yhat, -y), yhat, sp.MatAdd(ones(*yhat.shape), -yhat)
        ),
    )
)
_pair(
    OutputLoss(
        OUTPUTS_BY_NAME["identity"],
        LOSSES_BY_NAME["squared-error"],
        _plain_delta,
        _plain_delta_vector,
        code_steps=(
            CodeStep("R", ROW_A - ROW_Y, "R = yhat - y, with yhat = a_L", "output-loss-slope"),
        ),
        code_prediction=ROW_A,
        code_loss=_SQUARED_LOSS,
        code_delta=_R,
        loss_note="the sum over the units of r_i²/2",
    )
)

#: The output/loss pairs that work, in the order of the documentation.
PAIRS: tuple[tuple[str, str], ...] = tuple(PAIRS_BY_NAMES)


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


def pair(output: str, loss: str) -> OutputLoss:
    """The catalogue entry of a pair of :data:`PAIRS` (:func:`check_pair` first)."""
    check_pair(output, loss)
    return PAIRS_BY_NAMES[(output, loss)]


def default_loss(output: str) -> str:
    """The loss that goes with ``output`` when only the output is given."""
    return next(lo for o, lo in PAIRS if o == output)


def default_output(loss: str) -> str:
    """The output that goes with ``loss`` when only the loss is given."""
    return next(o for o, lo in PAIRS if lo == loss)


def output_function(output: str, logits: list[sp.Expr]) -> list[sp.Expr]:
    """``yhat = O(a_L)`` for a concrete list of logits."""
    return OUTPUTS_BY_NAME[output].values(logits)


def per_sample_loss(loss: str, yhat: list[sp.Expr], y: list[sp.Expr]) -> sp.Expr:
    """The per-sample loss as a SymPy expression of concrete ``yhat`` and ``y`` lists."""
    term = LOSSES_BY_NAME[loss].term
    return sp.Add(*[term(p, t) for p, t in zip(yhat, y, strict=True)])
