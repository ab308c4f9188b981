"""The command line, through ``main(argv)`` and once as installed programs."""

from __future__ import annotations

import os
import subprocess
import sys
import unicodedata
import venv
from pathlib import Path

import pytest

from symgrad import __version__
from symgrad.cli import main

ROOT = Path(__file__).resolve().parents[1]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _width(line: str) -> int:
    return sum(0 if unicodedata.combining(ch) else 1 for ch in line)


def test_derive_prints_every_stage_and_the_checks(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "derive", "3", "3", "2")
    assert (status, err) == (0, "")
    for heading in ("Output layer", "Hidden layers", "Parameters", "What was checked"):
        assert heading in out
    assert "∂L/∂W₂ᵢⱼ = ∂L/∂a₂ᵢ·∂a₂ᵢ/∂W₂ᵢⱼ" in out
    assert "∂L/∂b₁ᵢ = ∂L/∂a₁ᵢ·∂a₁ᵢ/∂b₁ᵢ" in out
    assert "∂L/∂W₁₃₃" in out  # the whole 3x3 matrix of partials of the notes
    assert "∇_W₁ L" in out and "(∇_a₁ L) xᵀ" in out
    assert "assumes Σᵢ yᵢ = 1" in out
    assert "sympy.diff of the composed loss exactly" in out
    assert max(_width(line) for line in out.splitlines()) <= 100


def test_derive_single_layer(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "derive", "3", "2")
    assert status == 0
    assert "Hidden layers" not in out
    assert "∂L/∂W₁ᵢⱼ = ∂L/∂a₁ᵢ·∂a₁ᵢ/∂W₁ᵢⱼ" in out


def test_derive_large_network_is_abbreviated(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "derive", "784", "128", "10")
    assert status == 0
    assert "⋯" in out and "⋮" in out and "⋱" in out
    assert "∂L/∂W₁,₁₂₈,₇₈₄" in out
    assert max(_width(line) for line in out.splitlines()) <= 100
    assert len(out) < 60_000


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["derive", "3", "0"], "n_1 must be a positive integer"),
        (["derive", "3"], "at least two layer sizes"),
        (["derive"], "the following arguments are required"),
        ([], "the following arguments are required"),
        (["frobnicate", "3", "2"], "invalid choice"),
        (["derive", "3", "2", "--activation", "sigmoidal"], "unknown activation"),
        (["derive", "3", "2", "--output", "sigmoid", "--loss", "cross-entropy"], "pairs that work"),
        (["derive", "3", "2", "--activation", "__import__('os')"], "custom activation"),
        (["derive", "3", "2", "--bogus"], "unrecognized arguments"),
        # parses with a SyntaxWarning, which must not add a second line
        (["derive", "3", "3", "2", "--activation", "1if x else 0"], "not a valid expression"),
        (["derive", "3", "-2"], "n_1 must be a positive integer"),
        (["latex", "3", "2", "-o", "/nonexistent-dir/notes.tex"], "does not exist"),
        (["derive", "64", "64", "10", "--proof", "composed"], "--proof numeric"),
    ],
)
def test_bad_input_is_one_line_and_status_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], fragment: str
) -> None:
    status, out, err = run(capsys, *argv)
    assert status == 2
    assert out == ""
    assert err.startswith("symgrad: error: ")
    assert err.count("\n") == 1 and err.endswith("\n")
    assert fragment in err
    assert "Traceback" not in err


@pytest.mark.parametrize("level", [[], ["derive"], ["latex"], ["markdown"], ["codegen"], ["check"]])
def test_help_and_version_on_every_level(
    capsys: pytest.CaptureFixture[str], level: list[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*level, "--help"])
    assert exited.value.code == 0
    assert "usage: symgrad" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exited:
        main([*level, "--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"symgrad {__version__}\n"


def test_console_script_and_module_are_the_same_program(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONHASHSEED": "1"}
    module = subprocess.run(
        [sys.executable, "-m", "symgrad", "derive", "3", "2"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    script = Path(sys.executable).with_name("symgrad")
    console = subprocess.run(
        [str(script) if script.exists() else "symgrad", "derive", "3", "2"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    assert module.returncode == console.returncode == 0
    assert module.stdout == console.stdout
    assert "Backpropagation for a 3-2 network" in console.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "symgrad", "derive", "3", "x"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert bad.returncode == 2
    assert bad.stderr.startswith("symgrad: error: layer size n_1")


@pytest.mark.slow
def test_wheel_installs_with_templates_and_runs_elsewhere(tmp_path: Path) -> None:
    """A wheel built from the repository carries the templates and works from another folder."""
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(wheels),
            str(ROOT),
        ],
        check=True,
    )
    wheel = next(wheels.glob("symgrad-*.whl"))
    environment = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(environment)
    python = environment / "bin" / "python"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "-q",
            str(wheel),
        ],
        check=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = subprocess.run(
        [
            str(python),
            "-c",
            "import symgrad, pathlib; print(pathlib.Path(symgrad.__file__).parent)",
        ],
        capture_output=True,
        text=True,
        cwd=elsewhere,
        check=True,
    ).stdout.strip()
    assert where.startswith(str(environment)), where
    assert (Path(where) / "templates" / "latex" / "document.tex.jinja").is_file()
    result = subprocess.run(
        [str(environment / "bin" / "symgrad"), "latex", "3", "3", "2"],
        capture_output=True,
        text=True,
        cwd=elsewhere,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "\\documentclass" in result.stdout


def test_text_that_parses_with_a_warning_still_gives_one_line(tmp_path: Path) -> None:
    """ "1if x" makes Python's parser warn; run as a user would, stderr holds only the error."""
    result = subprocess.run(
        [sys.executable, "-m", "symgrad", "derive", "3", "3", "2", "--activation", "1if x else 0"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("symgrad: error: the custom activation")


# Provenance: the header names one command, and the proof's wording reads the proof that ran ------


@pytest.mark.parametrize(
    ("argv", "header"),
    [
        (["3", "3", "2"], "symgrad codegen 3 3 2"),
        (["3", "3", "2", "--style", "vectorized"], "symgrad codegen 3 3 2"),
        (["3", "3", "2", "--style", "unrolled"], "symgrad codegen 3 3 2 --style unrolled"),
        (["3", "3", "2", "--activation", "tanh"], "symgrad codegen 3 3 2 --activation tanh"),
    ],
)
def test_the_header_names_the_same_command_from_the_cli_and_the_api(
    argv: list[str], header: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from symgrad import NetworkSpec
    from symgrad.codegen import generate_module
    from symgrad.pipeline import derive

    status, out, err = run(capsys, "codegen", *argv)
    assert (status, err) == (0, "")
    first = out.splitlines()[0]
    assert first == f"# Generated by symgrad from: {header}"
    style = "unrolled" if "unrolled" in argv else "vectorized"
    sizes = [a for a in argv[:3]]
    activation = "tanh" if "tanh" in argv else None
    spec = NetworkSpec.parse(sizes, activation)
    assert generate_module(derive(spec, prove=False), style).splitlines()[0] == first


@pytest.mark.parametrize(
    ("argv", "says", "never"),
    [
        (["2", "10", "2", "--proof", "composed"], "--proof composed was asked for", "at most 40"),
        (["3", "3", "2", "--proof", "numeric"], "--proof numeric was asked for", "more than 40"),
        (["3", "3", "2"], "20 parameters (at most 40)", "asked for"),
        (["4", "8", "3"], "67 parameters (more than 40)", "asked for"),
        (
            ["2", "2", "2", "2", "2", "2", "2"],
            "36 parameters (in 6 layers: 36 x 6 is more than the 200 parameters x layers",
            "at most 40",
        ),
    ],
)
def test_the_proof_summary_says_which_proof_ran_and_why(
    argv: list[str], says: str, never: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(capsys, "derive", *argv)
    flat = " ".join(out.split())
    assert status == 0 and says in flat and never not in flat


@pytest.mark.parametrize("command", ["derive", "latex", "markdown", "codegen"])
@pytest.mark.parametrize("value", ["mlp.py", "out/notes.tex", "./x"])
def test_a_file_name_given_to_output_points_to_dash_o(
    command: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(capsys, command, "3", "3", "2", "--output", value)
    assert status == 2 and out == ""
    assert (
        err.startswith("symgrad: error: --output is the output function") and err.count("\n") == 1
    )
    assert f"use -o {value}" in err


def test_the_composed_proof_refuses_deep_networks(capsys: pytest.CaptureFixture[str]) -> None:
    """Its cost grows with depth as with width: a deep network is pointed to the numeric proof
    instead of running for minutes."""
    status, out, err = run(
        capsys, "derive", "3", "3", "3", "3", "3", "3", "3", "--proof", "composed"
    )
    assert status == 2 and out == ""
    assert "72 x 6 = 432; use --proof numeric" in err and err.count("\n") == 1


def test_dtype_is_refused_for_the_numpy_target(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "codegen", "3", "3", "2", "--dtype", "float")
    assert status == 2 and out == ""
    assert "computes in the dtype of its inputs" in err and err.count("\n") == 1
