"""The program between the derivation and every code target: lowering, passes, evaluator, view.

The program is checked against the hand-written reference (which shares no code with symgrad) by
running it with the evaluator, so a wrong lowering fails here before any target prints it.
"""

from __future__ import annotations

import re

import mpmath
import numpy as np
import pytest
import sympy as sp
from conftest import SMALL_NETS, Named

from symgrad.arrays import BatchSum, Dot, Logistic, RowSum, Transpose
from symgrad.cli import main
from symgrad.derivation import Derivation, Kind, Stage, StepId
from symgrad.pipeline import derive
from symgrad.program import (
    BATCH,
    Program,
    Style,
    Var,
    eliminate_common_subexpressions,
    evaluate,
    lower_matrix,
    lower_scalar,
    one_sample,
    prune,
    shape_of,
)
from symgrad.program.passes import ShapeError, needed_by
from symgrad.proof.precision import HighPrecision

try:  # tests/ may or may not be a package
    from tests import reference_backprop as ref
except ImportError:  # pragma: no cover - depends on how pytest sets sys.path
    import reference_backprop as ref

LOWERINGS = {"matrix": lower_matrix, "scalar": lower_scalar}
CASES = [n for n in SMALL_NETS if n.builtin] + [
    Named("3-4-4-2-tanh,relu-softmax-se", (3, 4, 4, 2), "tanh,relu", "softmax", "squared-error"),
    Named("2-3-3-3-softplus-sigmoid-bce", (2, 3, 3, 3), "softplus", "sigmoid"),
]


def _derivation(case: Named) -> Derivation:
    return derive(case.spec(), prove=False)


def _reference(case: Named, params: dict, X: np.ndarray, Y: np.ndarray) -> tuple[float, dict]:
    spec = case.spec()
    names = [a.name for a in spec.activations]
    return ref.loss_and_gradients(
        params, X, Y, activations=names, output=spec.output, loss=spec.loss
    )


def _data(case: Named, batch: int) -> tuple[dict, np.ndarray, np.ndarray]:
    sizes = case.sizes
    params = ref.make_params(sizes, seed=len(case.id))
    rng = np.random.default_rng(batch)
    X = rng.standard_normal((batch, sizes[0]))
    Y = rng.dirichlet(np.ones(sizes[-1]), size=batch)
    return params, X, Y


@pytest.mark.parametrize("lowering", LOWERINGS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_the_program_computes_the_reference_gradient(case: Named, lowering: str) -> None:
    program = LOWERINGS[lowering](_derivation(case))
    params, X, Y = _data(case, 5)
    value, grads = _reference(case, params, X, Y)
    for candidate in (program, eliminate_common_subexpressions(program)):
        outputs = evaluate(candidate, params, X, Y).outputs
        assert outputs["loss"] == pytest.approx(value, rel=1e-12)
        for key, expected in grads.items():
            np.testing.assert_allclose(outputs[key], expected, rtol=1e-10, atol=1e-14)
        spec = case.spec()
        yhat = ref.forward(
            params, X, activations=[a.name for a in spec.activations], output=spec.output
        )
        np.testing.assert_allclose(outputs["yhat"], yhat, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("lowering", LOWERINGS)
def test_every_statement_cites_a_step_of_the_derivation(lowering: str) -> None:
    derivation = _derivation(Named("2-3-3-2", (2, 3, 3, 2), "tanh"))
    program = eliminate_common_subexpressions(LOWERINGS[lowering](derivation))
    ids = {step.id for step in derivation}
    kinds = set()
    for statement in program:
        assert statement.step in ids, statement
        kinds.add(statement.step.kind)  # type: ignore[union-attr]
    if lowering == "matrix":  # the mini-batch steps, which the notes give for the code
        assert {Kind.BATCH_FORWARD, Kind.BATCH_LOSS, Kind.BATCH_OUTPUT_DELTA} <= kinds
        assert all(kind.stage is Stage.BATCH for kind in kinds)
    else:  # the elementwise steps, one sample at a time
        assert {Kind.FORWARD, Kind.LOSS, Kind.OUTPUT_DELTA, Kind.WEIGHT} <= kinds


def test_the_matrix_program_is_the_derivation_translated() -> None:
    """The statements are the mini-batch steps of the derivation, rows as samples."""
    program = lower_matrix(_derivation(Named("3-3-2", (3, 3, 2))))
    by_target = {s.target.name: s for s in program}

    def symbol(name: str) -> sp.Symbol:
        return sp.Symbol(name, real=True)

    # grad_{W_2} Lbar = Delta_2^T H_1
    assert by_target["dW2"].value == Dot(Transpose(symbol("Delta2")), symbol("H1"))
    assert by_target["dW2"].step == StepId(Kind.BATCH_WEIGHT, 2)
    # G_1 = Delta_2 W_2
    assert by_target["G1"].value == Dot(symbol("Delta2"), symbol("W2"))
    # grad_{b_1} Lbar = Delta_1^T 1: the sum of the rows
    assert by_target["db1"].value == BatchSum(symbol("Delta1"))
    # A_1 = X W_1^T + 1 b_1^T
    assert by_target["A1"].value == symbol("b1") + Dot(symbol("X"), Transpose(symbol("W1")))


def test_prune_keeps_what_a_function_needs() -> None:
    program = lower_matrix(_derivation(Named("3-3-2", (3, 3, 2))))
    forward = prune(program, ["yhat"])
    names = {s.target.name for s in forward}
    assert "A2" in names and "value" not in names and not any(n.startswith("d") for n in names)
    assert [o.name for o in forward.outputs] == ["yhat"]
    assert needed_by(program, ["b1"]) >= {"Delta1", "G1", "Delta2", "A1", "X"}


def test_common_subexpressions_are_computed_once() -> None:
    program = lower_matrix(_derivation(Named("3-3-2", (3, 3, 2))))
    reduced = eliminate_common_subexpressions(prune(program, ["loss", "W1", "b1", "W2", "b2"]))
    row_sums = [s for s in reduced if s.value.has(RowSum(sp.Symbol("Y", real=True)))]
    assert len(row_sums) == 1 and row_sums[0].target.name.startswith("t")
    defined: set[str] = {v.name for v in (*reduced.inputs, *reduced.parameters)}
    for statement in reduced:
        assert statement.reads() <= defined, statement
        defined.add(statement.target.name)


def test_one_sample_is_the_batch_of_one() -> None:
    case = Named("2-3-2-tanh", (2, 3, 2), "tanh")
    program = lower_scalar(_derivation(case))
    single = one_sample(program)
    assert not any(s.value.has(BatchSum) for s in single)
    params, X, Y = _data(case, 1)
    batch = evaluate(program, params, X, Y).outputs
    one = evaluate(single, params, X, Y).outputs
    for key in ("loss", "W1", "b2"):
        np.testing.assert_allclose(np.asarray(one[key], dtype=float), batch[key], rtol=1e-14)


@pytest.mark.parametrize("output", ["softmax", "sigmoid"])
def test_a_program_keeping_the_sigmoid_computes_what_the_written_out_one_does(output: str) -> None:
    """``logistic=True`` keeps ``Logistic`` (hidden and output sigmoids) for the array-API
    target; every other program has none, and both compute the same bits."""
    loss = "binary-cross-entropy" if output == "sigmoid" else None
    case = Named(f"3-4-2-{output}", (3, 4, 2), "sigmoid", output, loss)
    derivation = _derivation(case)
    kept = lower_matrix(derivation, logistic=True)
    written = lower_matrix(derivation)
    assert sum(s.value.has(Logistic) for s in kept) >= (2 if output == "sigmoid" else 1)
    assert not any(s.value.has(Logistic) for s in written)
    params, X, Y = _data(case, 5)
    one, other = evaluate(kept, params, X, Y).outputs, evaluate(written, params, X, Y).outputs
    for key in ("loss", "yhat", "W1", "b2"):
        assert np.array_equal(one[key], other[key]), key


def test_shapes_are_inferred_and_mismatches_refused() -> None:
    variables = {
        "X": Var("X", (BATCH, 3)),
        "W": Var("W", (4, 3)),
        "b": Var("b", (4,)),
        "c": Var("c", (5,)),
    }
    X, W, b, c = (sp.Symbol(n, real=True) for n in "XWbc")
    assert shape_of(Dot(X, Transpose(W)) + b, variables) == (BATCH, 4)
    assert shape_of(RowSum(sp.exp(X)), variables) == (BATCH, 1)
    assert shape_of(BatchSum(X), variables) == (3,)
    with pytest.raises(ShapeError):
        shape_of(Dot(X, W), variables)
    with pytest.raises(ShapeError):
        shape_of(Dot(X, Transpose(W)) + c, variables)


def test_the_high_precision_arithmetic_agrees_with_float64() -> None:
    case = Named("3-4-2-sigmoid", (3, 4, 2))
    program = lower_matrix(_derivation(case))
    params, X, Y = _data(case, 1)
    expected = evaluate(program, params, X, Y).outputs
    with mpmath.workdps(30):
        exact = {
            k: np.array([mpmath.mpf(float(v)) for v in a.ravel()]).reshape(a.shape)
            for k, a in params.items()
        }
        outputs = evaluate(program, exact, X, Y, HighPrecision()).outputs
    assert float(outputs["loss"]) == pytest.approx(expected["loss"], rel=1e-13)
    np.testing.assert_allclose(np.asarray(outputs["b1"], dtype=float), expected["b1"], rtol=1e-12)


def _program_lines(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("show", ["program", "scalar-program"])
def test_derive_shows_the_program_with_the_step_behind_each_statement(
    show: str, capsys: pytest.CaptureFixture[str]
) -> None:
    text = _program_lines(["derive", "3", "3", "2", "--show", show], capsys)
    derivation = _derivation(Named("3-3-2", (3, 3, 2)))
    numbers = {step.key: step.number for step in derivation}
    cited = re.findall(r"implements \((\d+)\) ([a-z-]+\d*)", text)
    assert cited, text
    for number, key in cited:
        assert numbers[key] == int(number), (key, number)
    statements = [line for line in text.splitlines() if re.match(r"\w+ (\(.*\) )?= ", line)]
    assert len(cited) == len(statements)
    if show == "program":
        assert "dW2 (2, 3) = Delta2ᵀ @ H1" in text


def test_programs_are_values(tmp_path: object) -> None:
    """A program is plain data: the same derivation lowers to an equal program."""
    derivation = _derivation(Named("3-3-2", (3, 3, 2)))
    first, second = lower_matrix(derivation), lower_matrix(derivation)
    assert isinstance(first, Program) and first.style is Style.MATRIX
    assert first.statements == second.statements and first.outputs == second.outputs
