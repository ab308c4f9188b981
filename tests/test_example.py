"""The worked example: ``symgrad example``, its numbers against the generated NumPy module.

Every number of the example is a variable of symgrad's program evaluated on one sample; these
tests compare each with what generated NumPy modules compute on the same parameters and data
(1e-12 relative), check that the parameters are the module's ``init_params(SEED)`` to the last
bit, and that the command line refuses what it cannot show with one line.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from examplecheck import RELATIVE, disagreements, generated_module, module_values, rounded

from symgrad import notation as nt
from symgrad.cli import main
from symgrad.pipeline import derive
from symgrad.render.numbers import number_tex, number_text
from symgrad.spec import NetworkSpec
from symgrad.worked import MAX_LAYERS, MAX_UNITS, input_and_target, worked_example

REPO = Path(__file__).resolve().parent.parent

#: (sizes, activation, output, loss, seed): every output/loss pair, every kind of activation.
NETWORKS = {
    "2-2-2": ((2, 2, 2), None, None, None, 0),
    "3-3-2": ((3, 3, 2), None, None, None, 0),
    "3-3-3-3-mixed-bce": ((3, 3, 3, 3), "tanh,relu", "sigmoid", "binary-cross-entropy", 5),
    "2-3-2-leaky-softmax-se": ((2, 3, 2), "leaky-relu", "softmax", "squared-error", 1),
    "3-2-3-custom-identity": ((3, 2, 3), "x/(1+abs(x))", "identity", "squared-error", 2),
    "2-2-sigmoid-se": ((2, 2), None, "sigmoid", "squared-error", 3),
    "1-1-1-softplus": ((1, 1, 1), "softplus", "sigmoid", None, 4),
}


def _example_json(argv: list[str]) -> dict:
    out = io.StringIO()
    assert main(["example", *argv, "--format", "json"], stdout=out) == 0
    data: dict = json.loads(out.getvalue())
    return data


def _argv(
    sizes: tuple[int, ...], activation: str | None, output: str | None, loss: str | None
) -> list[str]:
    argv = [str(n) for n in sizes]
    for flag, value in (("--activation", activation), ("--output", output), ("--loss", loss)):
        if value is not None:
            argv += [flag, value]
    return argv


@pytest.mark.parametrize("name", NETWORKS)
def test_every_value_equals_what_the_generated_module_computes(name: str) -> None:
    sizes, activation, output, loss, seed = NETWORKS[name]
    argv = [*_argv(sizes, activation, output, loss), "--seed", str(seed), "--proof", "numeric"]
    data = _example_json(argv)
    spec = NetworkSpec.parse(list(sizes), activation, output, loss)
    activations = [a.name for a in spec.activations]
    params = {k: np.asarray(v) for k, v in data["params"].items()}
    x, y = np.asarray(data["x"]), np.asarray(data["y"])
    expected = module_values(sizes, activations, output, loss, params, x, y)
    assert disagreements(data, expected) == []
    # and nothing else: the names of the notes, 1-based
    L = len(sizes) - 1
    names = {"params", "x", "y", "yhat", "loss"}
    names |= {f"{q}{k}" for k in range(1, L + 1) for q in ("a", "grad_a", "grad_W", "grad_b")}
    names |= {f"{q}{k}" for k in range(1, L) for q in ("h", "grad_h")}
    assert set(data) == names


def test_symgrad_example_2_2_2_matches_the_generated_module() -> None:
    """The command of the issue: its parameters are the module's init_params(0) to the last
    bit (compared as JSON text), and every value is what the module computes."""
    data = _example_json(["2", "2", "2", "--seed", "0"])
    module = generated_module(["2", "2", "2"])
    expected_params = {k: v.tolist() for k, v in module.init_params(0).items()}
    assert json.dumps(data["params"]) == json.dumps(expected_params)
    params = {k: np.asarray(v) for k, v in data["params"].items()}
    x, y = np.asarray(data["x"]), np.asarray(data["y"])
    assert (
        disagreements(data, module_values((2, 2, 2), ["sigmoid"], None, None, params, x, y)) == []
    )
    assert data["loss"] == module.loss(params, x, y)


def test_the_cross_check_fails_on_a_wrong_value() -> None:
    """The check itself: one entry of one quantity off by a relative 1e-9 is reported, and so is
    a quantity missing."""
    data = _example_json(["2", "2", "2"])
    params = {k: np.asarray(v) for k, v in data["params"].items()}
    x, y = np.asarray(data["x"]), np.asarray(data["y"])
    expected = module_values((2, 2, 2), ["sigmoid"], None, None, params, x, y)
    assert disagreements(data, expected) == []
    for name in ("grad_W1", "h1", "grad_h1", "a2", "loss"):
        broken = json.loads(json.dumps(data))
        if isinstance(broken[name], float):
            broken[name] *= 1 + 1e-9
        elif isinstance(broken[name][0], list):
            broken[name][0][0] *= 1 + 1e-9
        else:
            broken[name][-1] *= 1 + 1e-9
        assert [p.split(":")[0] for p in disagreements(broken, expected)] == [name]
    del data["grad_b2"]
    assert disagreements(data, expected) == ["grad_b2 is missing"]
    assert RELATIVE == 1e-12


def test_json_has_every_digit_and_text_four() -> None:
    data = _example_json(["3", "3", "2", "--seed", "7"])
    out = io.StringIO()
    assert main(["example", "3", "3", "2", "--seed", "7"], stdout=out) == 0
    text = out.getvalue()
    # the JSON floats read back to the same float64 the program computed
    derivation = derive(NetworkSpec.parse([3, 3, 2]), prove=False)
    example = worked_example(derivation, 7)
    assert data["grad_W1"] == example.value(nt.quantity("W", 1).grad()).tolist()
    assert data["loss"] == float(example.value(nt.quantity("loss")))
    # the text shows each value to 4 significant digits, in the order of the derivation
    numbers = [int(n) for n in re.findall(r"^\((\d+)\)", text, re.M)]
    assert numbers == [1, 2, 3, 4, 5, 8, 10, 12, 14, 16, 18, 20]
    loss_line = next(line for line in text.splitlines() if line.startswith("(5)"))
    assert loss_line.endswith(f"= {number_text(data['loss'])}")
    delta = next(line for line in text.splitlines() if line.startswith("(8)"))
    shown = [float(v) for v in delta.split("= (")[-1].rstrip(")").split(", ")]
    assert shown == [rounded(v) for v in data["grad_a2"]]


def test_input_and_target_follow_the_stated_rule() -> None:
    """x: n_0 numbers of [-1, 1] with one decimal, from default_rng([seed, 1]); y: one-hot for
    a softmax, 0 or 1 for a sigmoid, one decimal in [-1, 1] for the identity."""
    for output, loss in (("softmax", None), ("sigmoid", None), ("identity", "squared-error")):
        spec = NetworkSpec.parse([3, 2, 3], None, output, loss)
        for seed in range(20):
            x, y = input_and_target(spec, seed)
            rng = np.random.default_rng([seed, 1])
            assert np.array_equal(x, np.round(rng.uniform(-1, 1, 3), 1) + 0.0)
            assert np.all(np.abs(x) <= 1) and np.all(np.round(x, 1) == x)
            assert not np.any(np.signbit(x) & (x == 0)), "no -0.0"
            if output == "softmax":
                assert sorted(y.tolist()) == [0.0, 0.0, 1.0]
            elif output == "sigmoid":
                assert set(y.tolist()) <= {0.0, 1.0}
            else:
                assert np.all(np.abs(y) <= 1) and np.all(np.round(y, 1) == y)
    first = input_and_target(NetworkSpec.parse([3, 3, 2]), 0)
    other = input_and_target(NetworkSpec.parse([3, 3, 2]), 1)
    assert not np.array_equal(first[0], other[0])
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "default_rng([SEED, 1])" in readme and "one-hot" in readme


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["latex", "4", "2", "--example", "0"], f"at most {MAX_UNITS} units in every layer"),
        (["slides", "2", "2", "2", "2", "2", "--example"], f"at most {MAX_LAYERS} layers"),
        (["example", "2", "2", "--seed", "-1"], "must be 0 or more"),
        (["example", "2", "2", "--seed", "x"], "invalid int value"),
        (["example", "2", "2", "--format", "csv"], "invalid choice"),
        (["latex", "784", "30", "10", "--example", "0"], "n_0 = 784"),
        (["markdown", "3", "3", "2", "2", "2", "--example", "1"], "4 layers of weights"),
        (["slides", "3", "5", "2", "--example", "0"], "n_1 = 5"),
    ],
)
def test_too_large_or_bad_requests_get_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("symgrad: error: ") and captured.err.count("\n") == 1
    assert message in captured.err


def test_example_is_deterministic_across_hash_seeds() -> None:
    """The same command gives the same bytes, whatever PYTHONHASHSEED (one child process)."""
    argv = ["example", "3", "3", "2", "--seed", "3", "--format", "json"]
    here = io.StringIO()
    assert main(argv, stdout=here) == 0
    env = dict(os.environ, PYTHONHASHSEED="12345", PYTHONPATH=str(REPO))
    child = subprocess.run(
        [sys.executable, "-m", "symgrad", *argv],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert child.stdout == here.getvalue()


def test_numbers_are_shown_to_four_significant_digits() -> None:
    assert number_text(0.123456) == "0.1235"
    assert number_text(-0.0) == "0" and number_text(1.0) == "1" and number_text(0.5) == "0.5"
    assert number_text(1.23456e-5) == "1.235e-05"
    # rounded values keep the zeros of their 4 digits; exact ones are shown as they are
    assert number_text(0.63100004) == "0.6310" and number_text(-1.0000485) == "-1.000"
    assert number_text(1234.4) == "1234" and number_text(1.00000001e-5) == "1.000e-05"
    assert number_text(0.631) == "0.631" and number_text(-0.3) == "-0.3"
    assert number_tex(1.23456e-5) == r"1.235 \times 10^{-5}"
    assert number_tex(-123456.0) == r"-1.235 \times 10^{5}"
