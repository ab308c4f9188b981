"""The output functions, the losses and the pairs that work, each written out once.

Part of the catalogue (:mod:`symgrad.catalogue`). A new loss is one :class:`Loss` and one
:class:`OutputLoss` pair here (and a function of :mod:`symgrad.functions` if it uses a new one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp

from symgrad.arrays import ROW_A, ROW_Y, LogAddExp, Logistic, RowMax, RowSum
from symgrad.catalogue.forms import (
    EXACT_SIGMOID,
    Algebra,
    Index,
    Indexed,
    Ones,
    difference,
    product,
    sigmoid,
)
from symgrad.errors import SpecError


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
    return product(yhat(j), difference(sp.KroneckerDelta(i, j), yhat(i)))


def _sigmoid_jacobian(yhat: Indexed, i: Index, j: Index) -> sp.Expr:
    return product(sp.KroneckerDelta(i, j), yhat(i), difference(sp.Integer(1), yhat(i)))


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
        lambda logit, i, j, n: sigmoid(logit(i)),
        _sigmoid_jacobian,
        code=Logistic(ROW_A),
        code_note=EXACT_SIGMOID,
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
    #: What a reader should know when comparing with a library's loss of the same name
    #: (LaTeX prose with math in ``$...$``; "" for nothing).
    remark: str = ""


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
        remark=(
            r"The factor $\frac{1}{2}$ is there so that the partial has no 2. PyTorch's "
            r"MSELoss averages $(\hat{y}_{i} - y_{i})^{2}$ over the $n_{L}$ outputs instead: "
            r"its loss is $\frac{2}{n_{L}}$ times this one, and so is every gradient it "
            r"gives (it also averages over a batch, as the mini-batch section does here)."
        ),
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
    cancelled = -sp.Sum(product(y(j), difference(sp.KroneckerDelta(i, j), yhat(i))), (j, 1, n))
    picked = difference(product(yhat(i), sp.Sum(y(j), (j, 1, n))), y(i))
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
        delta_note=f"yhat {EXACT_SIGMOID}",
        # (-y/yhat + (1-y)/(1-yhat)) yhat (1-yhat) = (1-y) yhat - y (1-yhat)
        delta_algebra=lambda yhat, y, i, j, n: (
            (
                difference(
                    product(difference(sp.Integer(1), y(i)), yhat(i)),
                    product(y(i), difference(sp.Integer(1), yhat(i))),
                ),
                "EXPAND",
            ),
        ),
    )
)


def _softmax_squared_delta(yhat: Indexed, y: Indexed, i: Index, j: sp.Symbol, n: int) -> sp.Expr:
    # yhat_i ((yhat_i - y_i) - sum_j (yhat_j - y_j) yhat_j)
    inner = sp.Sum(product(difference(yhat(j), y(j)), yhat(j)), (j, 1, n))
    return product(yhat(i), difference(difference(yhat(i), y(i)), inner))


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
    inner = sp.Sum(product(difference(yhat(j), y(j)), yhat(j)), (j, 1, n))
    picked = difference(product(difference(yhat(i), y(i)), yhat(i)), product(yhat(i), inner))
    return ((picked, "KRONECKER"),)


def _softmax_squared_rows(yhat: sp.MatrixExpr, y: sp.MatrixExpr, ones: Ones) -> sp.MatrixExpr:
    # Row s is yhat_s (.) (r_s - r_s . yhat_s) with r = yhat - y: in matrix form
    # Yhat (.) (R - (R (.) Yhat) 1 1^T), the row sums of R (.) Yhat copied into every column.
    n = yhat.shape[1]
    error = sp.MatAdd(yhat, -y)
    row_dots = sp.MatMul(sp.HadamardProduct(error, yhat), ones(n, 1), sp.Transpose(ones(n, 1)))
    return sp.HadamardProduct(yhat, sp.MatAdd(yhat, -y, sp.MatMul(-1, row_dots)))


def _sigmoid_squared_delta(yhat: Indexed, y: Indexed, i: Index, j: sp.Symbol, n: int) -> sp.Expr:
    return product(difference(yhat(i), y(i)), yhat(i), difference(sp.Integer(1), yhat(i)))


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
