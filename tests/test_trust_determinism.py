"""Determinism (issue #5 item 4): the same command gives the same bytes.

Fresh interpreters with ``PYTHONHASHSEED`` 0, 1, 12345 and ``random`` run every command (the
derivation in the terminal, LaTeX standalone and fragment, Markdown, NumPy code in both styles,
with built-in, mixed and custom activations, exact and numeric proofs) twice each; all outputs must
be byte-identical across processes and within a process (a warm SymPy cache must not change the
order of anything). ``-o`` must write exactly the bytes stdout shows.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: One command of every kind; small enough that a process runs them all in a few seconds.
COMMANDS: list[list[str]] = [
    ["derive", "3", "3", "2"],
    ["derive", "2", "2", "2", "2", "--activation", "tanh,relu", "--loss", "squared-error"],
    ["derive", "6", "5", "4"],  # numeric proof: a seeded sample of parameters
    ["latex", "2", "3", "2"],
    ["latex", "2", "3", "2", "--fragment", "--activation", "x/(1+abs(x))"],
    ["markdown", "2", "3", "2"],
    ["markdown", "3", "3", "3", "--output", "sigmoid"],
    ["codegen", "2", "3", "2"],
    ["codegen", "2", "3", "2", "--style", "unrolled"],
    ["codegen", "2", "2", "2", "--activation", "softplus", "--output", "identity"],
    ["codegen", "2", "2", "2", "--style", "unrolled", "--activation", "leaky-relu"],
]

HASH_SEEDS = ["0", "1", "random"]

#: Runs every command twice in one process and prints {"first": [...], "second": [...]}.
DRIVER = """
import io, json, sys
from symgrad.cli import main
commands = json.loads(sys.argv[1])
passes = {}
for name in ("first", "second"):
    outputs = []
    for argv in commands:
        out = io.StringIO()
        status = main(argv, stdout=out)
        outputs.append([status, out.getvalue()])
    passes[name] = outputs
sys.stdout.write(json.dumps(passes))
"""


#: Hash seed 12345 with SymPy's own cache size, against symgrad's larger one: the size must not
#: change a byte either.
SYMPY_DEFAULT_CACHE = "sympy-cache-1000"


def _run_driver(seed: str, cwd: Path) -> dict[str, list[list[object]]]:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    env.pop("SYMPY_CACHE_SIZE", None)
    if seed == SYMPY_DEFAULT_CACHE:
        env.update(PYTHONHASHSEED="12345", SYMPY_CACHE_SIZE="1000")
    child = subprocess.run(
        [sys.executable, "-c", DRIVER, json.dumps(COMMANDS)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
        check=False,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    result: dict[str, list[list[object]]] = json.loads(child.stdout)
    return result


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, list[list[object]]]]:
    """The outputs of every command under every hash seed (two processes at a time)."""
    cwd = tmp_path_factory.mktemp("determinism")
    with ThreadPoolExecutor(max_workers=2) as pool:
        seeds = [*HASH_SEEDS, SYMPY_DEFAULT_CACHE]
        results = list(pool.map(lambda seed: _run_driver(seed, cwd), seeds))
    return dict(zip(seeds, results, strict=True))


@pytest.mark.parametrize("index", range(len(COMMANDS)), ids=[" ".join(c) for c in COMMANDS])
def test_same_bytes_for_every_hash_seed_and_every_run(
    index: int, runs: dict[str, dict[str, list[list[object]]]]
) -> None:
    reference = runs["0"]["first"][index]
    assert reference[0] == 0 and reference[1], "the command runs and prints something"
    for seed in runs:
        for name in ("first", "second"):
            status, text = runs[seed][name][index]
            assert status == 0
            assert text == reference[1], f"PYTHONHASHSEED={seed}, {name} run differs"


@pytest.mark.parametrize(("given", "size"), [(None, 200000), ("5000", 5000)])
def test_symgrad_sizes_sympy_s_cache_unless_the_user_did(given: str | None, size: int) -> None:
    """Importing symgrad first makes SymPy's cache 200,000 results (generation of wide outputs
    stays linear); a size the user set is kept."""
    env = {k: v for k, v in os.environ.items() if k != "SYMPY_CACHE_SIZE"}
    if given is not None:
        env["SYMPY_CACHE_SIZE"] = given
    probe = "import symgrad, sympy.core.cache as c; print(c.SYMPY_CACHE_SIZE)"
    child = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True
    )
    assert int(child.stdout) == size


def test_output_file_has_the_bytes_of_stdout(tmp_path: Path) -> None:
    """``-o`` writes what stdout prints, byte for byte, in a process with another hash seed."""
    env = {**os.environ, "PYTHONHASHSEED": "777"}
    for argv in (["latex", "2", "3", "2"], ["codegen", "2", "3", "2", "--style", "unrolled"]):
        printed = subprocess.run(
            [sys.executable, "-m", "symgrad", *argv],
            capture_output=True,
            env=env,
            cwd=tmp_path,
            timeout=120,
            check=True,
        ).stdout
        target = tmp_path / "out.txt"
        subprocess.run(
            [sys.executable, "-m", "symgrad", *argv, "-o", str(target)],
            capture_output=True,
            env={**env, "PYTHONHASHSEED": "778"},
            cwd=tmp_path,
            timeout=120,
            check=True,
        )
        assert target.read_bytes() == printed
        assert b"\r\n" not in printed
