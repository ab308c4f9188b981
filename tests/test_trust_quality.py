"""Quality gates over freshly generated modules (issue #5 item 6).

``scripts/test.sh`` runs ruff (lint and format check) and mypy over ``symgrad/``; this test runs
the same tools, with the project's configuration, over modules ``symgrad codegen`` writes now (both
styles, built-in, mixed and custom activations, every output), so generated code that would fail
review fails the suite. ``generated/`` is excluded from ruff in ``pyproject.toml`` because it is
checked here, from fresh output, instead.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from symgrad.cli import main

ROOT = Path(__file__).resolve().parents[1]

SPECS: list[list[str]] = [
    ["3", "3", "2"],
    ["2", "2", "2", "2", "--activation", "tanh,relu", "--output", "sigmoid"],
    ["2", "3", "--output", "identity"],
    [
        "1",
        "1",
        "1",
        "--activation",
        "x/(1+abs(x))",
        "--output",
        "sigmoid",
        "--loss",
        "squared-error",
    ],
    ["2", "2", "2", "--activation", "leaky-relu", "--output", "softmax", "--loss", "squared-error"],
    ["2", "2", "2", "--activation", "softplus", "--output", "sigmoid", "--loss", "squared-error"],
]

#: Modules a generated file may import (the contract: numpy and the standard library).
ALLOWED_IMPORTS = {"__future__", "math", "struct", "typing", "numpy", "numpy.typing"}


@pytest.fixture(scope="module")
def modules(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("quality")
    paths = []
    for index, spec in enumerate(SPECS):
        for style in ("vectorized", "unrolled"):
            path = folder / f"net_{index}_{style}.py"
            assert main(["codegen", *spec, "--style", style, "-o", str(path)]) == 0
            paths.append(path)
    return paths


def _tool(*args: str) -> subprocess.CompletedProcess[str]:
    """Run a tool from the repository root, so it reads ``pyproject.toml``."""
    return subprocess.run(
        [sys.executable, "-m", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )


def test_ruff_lint_passes_on_generated_modules(modules: list[Path]) -> None:
    result = _tool("ruff", "check", "--config", str(ROOT / "pyproject.toml"), *map(str, modules))
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_passes_on_generated_modules(modules: list[Path]) -> None:
    result = _tool(
        "ruff", "format", "--check", "--config", str(ROOT / "pyproject.toml"), *map(str, modules)
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_passes_on_generated_modules(modules: list[Path]) -> None:
    result = _tool("mypy", "--config-file", str(ROOT / "pyproject.toml"), *map(str, modules))
    assert result.returncode == 0, result.stdout + result.stderr


def test_generated_modules_import_only_numpy_and_the_standard_library(
    modules: list[Path],
) -> None:
    for path in modules:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        } | {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert imported <= ALLOWED_IMPORTS, (path.name, imported - ALLOWED_IMPORTS)
