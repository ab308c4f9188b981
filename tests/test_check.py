"""``symgrad check``: every code path, honest resolution, points inside the domain, options.

Modules are generated once per test module (without the proof, which other tests cover) and
checked in this process through :func:`symgrad.check.check_file` or the command line; the
sandbox has its own tests (``test_check_sandbox.py``), the sweep over many networks and the
mutation test theirs (``test_check_sweep.py``).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_cli as run

from symgrad.check.run import check_file
from symgrad.check.source import REQUIRED_NAMES, inspect_file
from symgrad.codegen import generate_module
from symgrad.errors import ModuleCheckError
from symgrad.pipeline import derive
from symgrad.spec import NetworkSpec

pytestmark = pytest.mark.sandbox


def write_module(
    folder: Path, name: str, sizes: list[int], style: str = "vectorized", **options: str
) -> Path:
    spec = NetworkSpec.parse(
        sizes, options.get("activation"), options.get("output"), options.get("loss")
    )
    path = folder / f"{name}.py"
    path.write_text(generate_module(derive(spec, prove=False), style), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def modules(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("check")
    return {
        "vectorized": write_module(folder, "vectorized", [3, 4, 2]),
        "unrolled": write_module(folder, "unrolled", [2, 3, 2], "unrolled"),
        "log": write_module(folder, "log", [3, 4, 2], activation="log(x)"),
        "sqrt": write_module(folder, "sqrt", [2, 3, 3, 2], activation="sqrt(x)", output="sigmoid"),
    }


def mutate(path: Path, old: str, new: str, count: int = 1) -> Path:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) >= count, old
    target = path.with_name(path.stem + "_mutant.py")
    target.write_text(text.replace(old, new, count), encoding="utf-8")
    return target


# ------------------------------------------------------------------------------------------------
# A correct module passes, and the report says what was checked
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["vectorized", "unrolled"])
def test_a_generated_module_passes_on_every_path(modules: dict[str, Path], style: str) -> None:
    status, out, err = run(["check", str(modules[style])])
    assert (status, err) == (0, ""), out
    assert out.rstrip().endswith("PASS")
    assert "a batch of 8, one sample (1-D), a batch of one" in out
    for line in out.splitlines():
        assert not line.startswith("FAIL"), line
    for what in (
        "loss_and_gradients and loss give the same loss on a batch of 8",
        "loss_and_gradients and loss give the same loss on one sample (1-D)",
        "loss_and_gradients and loss give the same loss on a batch of one",
        "forward agrees with symgrad's evaluation of the network on every path",
        "the loss agrees with symgrad's evaluation of the network on every path",
        "the loss of a batch is the mean of its rows' losses",
        "integer class labels give what one-hot rows give",
        "float32 inputs give float32 results",
        "init_params(0) gives float64 parameters",
    ):
        assert f"ok    {what}" in out, what
    # Positions count from 1 and say so; no "1 entries".
    assert "at (1-based)" in out
    assert not re.search(r"\b1 entries\b", out)
    # Two tables, each with a row per parameter: symgrad's evaluation, central differences.
    rows = [line.split()[0] for line in out.splitlines() if re.match(r"[Wb]\d ", line)]
    assert rows == ["W1", "b1", "W2", "b2"] * 2


def test_the_report_is_deterministic(modules: dict[str, Path]) -> None:
    first = run(["check", str(modules["vectorized"])])
    assert run(["check", str(modules["vectorized"])]) == first


def test_the_one_sample_path_is_checked(modules: dict[str, Path]) -> None:
    """The missed failure of the issue: a doubled statement of the unrolled one-sample path."""
    mutant = mutate(
        modules["unrolled"], "    dW2_0_0 = d2_0 * h1_0\n", "    dW2_0_0 = 2.0 * d2_0 * h1_0\n"
    )
    status, out, _ = run(["check", str(mutant)])
    assert status == 1, out
    line = next(x for x in out.splitlines() if x.startswith("W2 "))
    assert "W2[1,1], one sample (1-D)" in line or "W2[1,1], a batch of one" in line
    assert "FAIL" in line and out.rstrip().endswith("FAIL")


#: Mutants outside the gradients: the module, the change, and the line of the report that fails.
OTHER_PATHS = {
    # forward on a batch: one unit's probabilities scaled (the loss is untouched)
    "forward": (
        "unrolled",
        "    yhat1 = e2_1 * t4\n\n    # The prediction, one entry per output unit.\n"
        "    Yhat = np.c",
        "    yhat1 = 1.0001 * e2_1 * t4\n\n    # The prediction, one entry per output unit.\n"
        "    Yhat = np.c",
        "FAIL  forward (forward) is not that of the network the header names",
    ),
    # the loss of a batch alone
    "batch-loss": (
        "unrolled",
        "    value = np.sum(sample_loss) / B\n\n    return float(value)",
        "    value = 1.0001 * np.sum(sample_loss) / B\n\n    return float(value)",
        "FAIL  loss_and_gradients and loss give the same loss on a batch of 8",
    ),
    # float64 results for float32 inputs
    "float32": (
        "unrolled",
        "    flat = flat.astype(X.dtype, copy=False)\n",
        "    flat = flat.astype(np.float64)\n",
        "FAIL  loss_and_gradients['W1'] is an array of shape (3, 2) and dtype float64; "
        "expected float32",
    ),
    "labels": (
        "vectorized",
        "        rows[np.arange(labels.size), labels] = 1.0\n",
        "        rows[np.arange(labels.size), labels] = 1.0001\n",
        "FAIL  integer class labels do not give what one-hot rows give",
    ),
    "init_params": (
        "vectorized",
        "    rng = np.random.default_rng(seed)\n",
        "    rng = np.random.default_rng()\n",
        "FAIL  init_params(0) gives other parameters when called again",
    ),
    "result-type": (
        "vectorized",
        "    return value\n",
        "    return np.array(value)\n",
        "FAIL  loss returned an array of shape () and dtype float64, not a Python float",
    ),
}


@pytest.mark.parametrize("case", OTHER_PATHS)
def test_other_paths_are_checked(modules: dict[str, Path], case: str) -> None:
    name, old, new, finding = OTHER_PATHS[case]
    mutant = mutate(modules[name], old, new)
    status, out, _ = run(["check", str(mutant)])
    assert status == 1, out
    assert any(line.startswith(finding) for line in out.splitlines()), out
    assert out.rstrip().endswith("FAIL")


# ------------------------------------------------------------------------------------------------
# Points inside the domain
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["log", "sqrt"])
def test_restricted_activations_are_checked_inside_their_domain(
    modules: dict[str, Path], name: str
) -> None:
    report = check_file(modules[name])
    assert report.passed, report.report()
    assert "inside (0, oo)" in report.report()


def test_a_wrong_gradient_inside_a_restricted_domain_fails(modules: dict[str, Path]) -> None:
    mutant = mutate(
        modules["log"], "    db1 = Delta1.sum(axis=0)\n", "    db1 = -Delta1.sum(axis=0)\n"
    )
    assert not check_file(mutant).passed


def test_an_activation_defined_nowhere_has_no_point_to_check(tmp_path: Path) -> None:
    path = write_module(tmp_path, "nowhere", [2, 3, 2], activation="log(-x**2)")
    status, out, err = run(["check", str(path)])
    assert (status, out) == (2, "")
    assert (
        err.startswith("symgrad: error: there is no point at which to check")
        and err.count("\n") == 1
    )
    assert "log(-x**2)" in err


@pytest.mark.parametrize(
    ("expression", "defined", "smooth"),
    [
        ("log(x)", "(0, oo)", "(0, oo)"),
        ("sqrt(x)", "(0, oo)", "(0, oo)"),
        ("1/x", "(-oo, 0) U (0, oo)", "(-oo, 0) U (0, oo)"),
        ("sqrt(1-x**2)", "(-1, 1)", "(-1, 1)"),
        ("abs(x)", "(-oo, oo)", "(-oo, 0) U (0, oo)"),  # defined, with a kink at 0
        ("x/(1+abs(x))", "(-oo, oo)", "(-oo, 0) U (0, oo)"),  # g'' jumps at 0
        ("tanh(x)", "(-oo, oo)", "(-oo, oo)"),
        ("log(-x**2)", "no real number", "no real number"),
        ("x**(1/3)", "(0.004, oo)", "(0.004, oo)"),  # NumPy: nan for x < 0 (a grid)
        ("relu", "(-oo, oo)", "(-oo, 0) U (0, oo)"),  # from the catalogue
    ],
)
def test_domains(expression: str, defined: str, smooth: str) -> None:
    from symgrad import catalogue
    from symgrad.domain import describe, domains

    found = domains(catalogue.activation(expression))
    assert (describe(found.defined), describe(found.smooth)) == (defined, smooth)


def test_codegen_warns_about_a_restricted_domain(tmp_path: Path) -> None:
    status, _, err = run(
        ["codegen", "3", "4", "2", "--activation", "log(x)", "-o", str(tmp_path / "m.py")]
    )
    assert status == 0
    assert err == (
        "symgrad: warning: the activation log(x) (with its derivative) is defined only for x in "
        "(0, oo); elsewhere the generated code computes nan or inf\n"
    )
    assert run(["codegen", "3", "4", "2", "--activation", "x/(1+abs(x))"])[2] == ""
    assert run(["codegen", "3", "4", "2", "--activation", "relu"])[2] == ""


# ------------------------------------------------------------------------------------------------
# Options
# ------------------------------------------------------------------------------------------------


def test_seed_batch_and_tolerance_change_the_check(modules: dict[str, Path]) -> None:
    path = str(modules["vectorized"])
    default = run(["check", path])[1]
    seeded = run(["check", path, "--seed", "7", "--batch", "9"])[1]
    assert "a batch of 9" in seeded and "seed 7" in seeded and seeded != default
    assert "(tolerance 1e-06)" in default
    # A tolerance below what the gradients reach: the check can fail or call entries unresolved,
    # never pass them as agreeing within it.
    strict = check_file(modules["vectorized"], tolerance=1e-15)
    assert all(
        c.verdict != "ok" or c.error <= 1e-15 for r in strict.gradients for c in r.comparisons
    )
    assert "(tolerance 1e-15)" in strict.report()


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--seed", "-1", "--seed must be a non-negative integer"),
        ("--seed", "x", "--seed must be a non-negative integer"),
        ("--batch", "1", "--batch must be an integer from 2"),
        ("--batch", "100000", "--batch must be an integer from 2"),
        ("--tolerance", "0", "--tolerance must be a number between 0 and 1"),
        ("--tolerance", "nan", "--tolerance must be a number between 0 and 1"),
        ("--tolerance", "tiny", "--tolerance must be a number such as 1e-6"),
        ("--limit", "speed=3", "--limit 'speed=3' names no limit; the limits are"),
        ("--limit", "time=-1", "--limit time must be a positive number, got '-1'"),
        ("--limit", "memory=lots", "--limit memory must be a positive number, got 'lots'"),
        ("--arrays", "numpy,tensorflow", "--arrays names tensorflow; it takes numpy, torch, jax"),
        ("--arrays", "torch", "--arrays torch: "),
    ],
)
def test_bad_options_are_one_error_line(
    modules: dict[str, Path], option: str, value: str, message: str
) -> None:
    status, out, err = run(["check", str(modules["vectorized"]), option, value])
    assert (status, out) == (2, "")
    assert err.startswith(f"symgrad: error: {message}") and err.count("\n") == 1


# ------------------------------------------------------------------------------------------------
# Files that are not generated code are refused before anything runs
# ------------------------------------------------------------------------------------------------


def test_files_that_are_not_modules_are_refused_before_running(tmp_path: Path) -> None:
    """Refused by the header (in this process), or by what the sandboxed child read of the
    module without running it: no line of it runs."""
    marker = tmp_path / "ran"
    payload = f"open({str(marker)!r}, 'w').close()\n"
    command = "# Generated by symgrad from: symgrad codegen"
    header = f"{command} 1 1 --output identity\n"
    defined = "".join(f"def {name}(): pass\n" for name in REQUIRED_NAMES[1:])
    by_header = {
        "no-header.py": (payload + "LAYER_SIZES = (1, 1)\n", "is not code generated by symgrad"),
        "bad-command.py": (
            "# Generated by symgrad from: rm -rf /\n" + payload,
            "does not name a `symgrad codegen` command",
        ),
        "bad-option.py": (f"{command} 2 2 --evil x\n", "names the option '--evil'"),
        "bad-target.py": (f"{command} 2 2 --target cobol\n", "--target cobol"),
    }
    by_child = {
        "bad-import.py": (header + "import os\n" + payload, "imports os"),
        "missing-names.py": (header + payload, "does not define LAYER_SIZES, forward"),
        "not-python.py": (header + "def (:\n", "is not valid Python"),
        "bad-spec.py": (
            f"{command} 2 2 --activation 'os.system(1)'\n" + payload,
            "names a network symgrad refuses",
        ),
        "wrong-sizes.py": (
            header + defined + "LAYER_SIZES = (2, 2)\n" + payload,
            "has LAYER_SIZES (2, 2)",
        ),
    }
    for name, (text, message) in by_header.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ModuleCheckError, match=re.escape(message)):
            inspect_file(path)
    for name, (text, message) in {**by_header, **by_child}.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        status, out, err = run(["check", str(path)])
        assert (status, out) == (2, ""), (name, out)
        assert message in err and err.count("\n") == 1, (name, err)
        assert not marker.exists(), name
    with pytest.raises(ModuleCheckError, match="cannot read"):
        inspect_file(tmp_path / "absent.py")


def test_the_installed_command_checks_a_module(modules: dict[str, Path]) -> None:
    """``python -m symgrad check`` in a fresh interpreter: exit status 0 and the report."""
    child = subprocess.run(
        [sys.executable, "-m", "symgrad", "check", str(modules["unrolled"])],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.rstrip().endswith("PASS") and child.stderr == ""


#: A deep narrow relu network whose layers, drawn freely, are dead at some seeds' points: every
#: gradient below the dead layer is then 0, right or wrong.
DEEP_RELU = NetworkSpec.parse([5, *[3] * 10, 4], "relu", "identity", "squared-error")


@pytest.mark.parametrize("seed", range(4))
def test_no_layer_is_dead_at_the_points(seed: int) -> None:
    from symgrad.check.points import draw

    namespace: dict[str, object] = {}
    exec(generate_module(derive(DEEP_RELU, prove=False), "vectorized"), namespace)  # noqa: S102
    points = draw(DEEP_RELU, seed, 4)
    gradients = namespace["gradients"](points.params, points.X, points.Y)  # type: ignore[operator]
    for key, value in gradients.items():
        assert abs(value).max() > 0, f"{key} is 0 everywhere at seed {seed}'s points"


def test_a_wrong_first_layer_of_a_deep_relu_network_fails(tmp_path: Path) -> None:
    source = generate_module(derive(DEEP_RELU, prove=False), "vectorized")
    line = next(ln for ln in source.splitlines() if ln.strip().startswith("dW1 = "))
    broken = source.replace(line, f"{line} * 1.0001")
    assert broken != source
    path = tmp_path / "deep.py"
    path.write_text(broken, encoding="utf-8")
    assert not check_file(path).passed


# ------------------------------------------------------------------------------------------------
# --arrays: array-API modules on other array libraries
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def array_api_module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from symgrad.codegen import generate

    (module,) = generate(derive(NetworkSpec.parse([3, 4, 2]), prove=False), "array-api")
    path = tmp_path_factory.mktemp("arrays") / "mlp.py"
    path.write_text(module.text, encoding="utf-8")
    return path


def test_arrays_checks_torch_and_jax(array_api_module: Path) -> None:
    status, out, err = run(["check", str(array_api_module), "--arrays", "numpy,torch,jax"])
    assert (status, err) == (0, ""), out
    for library in ("torch", "jax"):
        assert re.search(
            rf"^ok    with {library} arrays every function gives {library} arrays on every path, "
            "which agree with symgrad's evaluation",
            out,
            flags=re.MULTILINE,
        ), out


def test_arrays_finds_code_wrong_on_one_library(array_api_module: Path, tmp_path: Path) -> None:
    """A module right on NumPy arrays and wrong on torch's (one gradient doubled there): only
    the check on torch arrays sees it."""
    text = array_api_module.read_text(encoding="utf-8")
    line = "    return loss_and_gradients(params, X, Y)[1]\n"
    assert line in text
    wrong = text.replace(
        line,
        "    found = dict(loss_and_gradients(params, X, Y)[1])\n"
        "    if type(X).__module__.startswith('torch'):\n"
        "        found['b2'] = 2 * found['b2']\n"
        "    return found\n",
    )
    path = tmp_path / "wrong.py"
    path.write_text(wrong, encoding="utf-8")
    status, out, _ = run(["check", str(path)])
    assert status == 0, out
    status, out, _ = run(["check", str(path), "--arrays", "torch"])
    assert status == 1, out
    assert "FAIL  with torch arrays, b2[" in out, out
