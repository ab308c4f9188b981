"""Bugs found while the network became a graph of operations, each kept as a test that failed on
the code before its fix."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

from symgrad.cli import main
from symgrad.codegen.c.loader import find_compiler, load_c
from symgrad.errors import ProofError
from symgrad.gradcheck import check_gradients
from symgrad.pipeline import derive
from symgrad.spec import NetworkSpec


@pytest.mark.parametrize("activation", ["tanh(x)*exp(1)", "sin(x)*exp(2)/3", "tanh(x)+log(2)"])
def test_an_activation_with_a_constant_is_derived_and_proved(
    activation: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """e and log(2) in an activation: the evaluator and the proof know the constants (the
    program's evaluator had no rule for Exp1: exit 70)."""
    assert main(["derive", "2", "3", "2", "--activation", activation]) == 0
    assert "internal error" not in capsys.readouterr().err


@pytest.mark.parametrize("activation", ["1", "0", "x**0", "0*x"])
def test_a_constant_activation_is_refused_in_one_line(
    activation: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A constant activation cannot be trained through; it is refused (it ended in exit 70)."""
    assert main(["derive", "2", "3", "2", "--activation", activation]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("symgrad: error: ")
    assert "does not depend on x" in err


@pytest.mark.parametrize("style", ["unrolled", "looped"])
@pytest.mark.parametrize("activation", ["tanh(x)+log(2)", "tanh(x)*log(2)", "x*exp(1)/log(3)"])
def test_c_with_a_constant_compiles_as_c99_and_is_right(
    tmp_path: Path, activation: str, style: str
) -> None:
    """log(2) is a number in C99, not the POSIX macro M_LN2 (which -std=c99 rejects), and a
    temporary that holds a constant is no sum over the batch (the unrolled form refused it)."""
    target = tmp_path / "net.c"
    args = ["codegen", "2", "3", "2", "--activation", activation, "--target", "c"]
    assert main([*args, "--style", style, "-o", str(target)]) == 0
    text = target.read_text(encoding="utf-8")
    assert "M_LN2" not in text and "M_E" not in text and "M_PI" not in text
    flags = ["-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-fsyntax-only"]
    subprocess.run([find_compiler(), *flags, str(target)], check=True, capture_output=True)
    network = load_c(target)
    params = network.init_params(1)
    rng = np.random.default_rng(2)
    X, Y = rng.normal(size=(5, 2)), rng.dirichlet(np.ones(2), size=5)
    assert check_gradients(network, params, X, Y, seed=3).passed


def test_total_of_a_constant_is_the_constant_times_the_entries() -> None:
    """``Total`` of a row form with a constant term sums the constant over every entry of the
    batch: ``B n c``, not ``c``."""
    from symgrad.arrays import ROW_A, RowSum
    from symgrad.program.evaluate import evaluate_expression
    from symgrad.program.lower import BATCH_SIZE, total

    A = np.arange(6.0).reshape(2, 3)
    value = total(RowSum(ROW_A + sp.log(2)), units=3)
    found = evaluate_expression(value, {"A": A, BATCH_SIZE.name: 2})
    assert float(found) == pytest.approx(A.sum() + 2 * 3 * np.log(2))
    per_row = total(RowSum(ROW_A) + 5, units=3)
    assert float(evaluate_expression(per_row, {"A": A, BATCH_SIZE.name: 2})) == A.sum() + 2 * 5


def test_the_numeric_proof_checks_the_forward_pass_of_the_program(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The numeric proof takes its forward pass from the program: an activation lowered wrong
    (its backward pass still consistent with it) must not pass for the definition."""
    from symgrad.ops.activation import Activate
    from symgrad.steps import Kind

    original = Activate.lower_matrix

    def off(self: Activate, low: object, step: object) -> bool:
        if getattr(step, "kind", None) is Kind.BATCH_ACTIVATION:
            value = self.code_value(low.symbol(self.pre)) * sp.Rational(1001, 1000)  # type: ignore[attr-defined]
            low.emit(self.outputs[0], value, step)  # type: ignore[attr-defined]
            return True
        return original(self, low, step)  # type: ignore[arg-type]

    monkeypatch.setattr(Activate, "lower_matrix", off)
    with pytest.raises(ProofError, match="h_1,1: the program's forward pass differs"):
        derive(NetworkSpec.parse([3, 3, 2]), method="numeric")


def test_per_layer_activations_print_the_layers_own_derivative(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """With one activation per layer, the matrix form of the hidden delta of layer 2 writes
    ``g_2'`` (it wrote ``g'``, which names no function of that network)."""
    assert main(["latex", "2", "3", "3", "2", "--activation", "tanh,relu"]) == 0
    out = capsys.readouterr().out
    assert r"\odot g_{2}'(a_{2})" in out and r"\odot g_{2}'(A_{2})" in out
    assert r"\odot g'(" not in out


def test_the_terminal_writes_minus_a_sum_as_latex_does(capsys: pytest.CaptureFixture[str]) -> None:
    """``-sum`` is ``-Σ`` in the terminal, as ``-\\sum`` in LaTeX (it was ``-1 Σ``)."""
    from symgrad.printing import latex, unicode

    j, y = sp.Symbol("j", integer=True), sp.IndexedBase("y")
    negated = -sp.Sum(y[j] * (2 - j), (j, 1, 2))
    assert unicode(negated).startswith("-Σ[j=1..2] ")
    assert latex(negated).startswith(r"- \sum_{j=1}^{2} ")
    assert unicode(-3 * sp.Sum(y[j], (j, 1, 2))) == "-3 Σ[j=1..2] yⱼ"
    assert main(["derive", "3", "3", "2"]) == 0
    out = capsys.readouterr().out
    assert "= -Σ[j=1..2] yⱼ·(δᵢⱼ - ŷᵢ)" in out and "-1 Σ" not in out
