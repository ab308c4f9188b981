"""generated/ is exactly what the current code generates, and every generated module is correct.

On a difference the test fails with a diff and the command that rewrites the folder:
``python -m symgrad.examples`` (or this test with ``--update-generated``).
"""

from __future__ import annotations

import difflib
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import import_file as _load

from symgrad.examples import EXAMPLES, GENERATED, PDF_SOURCES, regenerate
from symgrad.gradcheck import check_gradients

UPDATE_HINT = (
    "generated/ is stale: run `python -m symgrad.examples` "
    "(or `pytest tests/test_generated.py --update-generated`) and commit the result"
)


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("generated")
    regenerate(folder)
    return folder


def _relative_paths() -> list[str]:
    return [p for e in EXAMPLES for p in e.paths] + [p.replace(".tex", ".pdf") for p in PDF_SOURCES]


@pytest.mark.parametrize("relative", _relative_paths())
def test_generated_matches_the_code(
    fresh: Path, relative: str, request: pytest.FixtureRequest
) -> None:
    new, old = fresh / relative, GENERATED / relative
    if request.config.getoption("--update-generated"):
        old.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(new, old)
        return
    assert old.exists(), f"{relative} is missing; {UPDATE_HINT}"
    if new.read_bytes() == old.read_bytes():
        return
    if relative.endswith(".pdf"):
        # Another build of TeX Live may embed fonts differently: the bytes may differ while the
        # document is the same. What is compared then is the text of every page.
        if _pdf_text(new) == _pdf_text(old):
            return
        pytest.fail(f"{relative} differs from a fresh compilation; {UPDATE_HINT}")
    diff = difflib.unified_diff(
        old.read_text(encoding="utf-8").splitlines(),
        new.read_text(encoding="utf-8").splitlines(),
        f"generated/{relative}",
        f"regenerated/{relative}",
        lineterm="",
        n=2,
    )
    shown = "\n".join(list(diff)[:60])
    pytest.fail(f"{UPDATE_HINT}\n{shown}")


def _pdf_text(pdf: Path) -> str:
    """The text of every page of ``pdf`` (pdftoppm's companion pdftotext), page breaks kept."""
    return subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout


@pytest.mark.parametrize(
    "relative",
    [e.path for e in EXAMPLES if e.path.endswith((".py", ".c"))],
    ids=lambda p: Path(p).name,
)
def test_every_generated_module_is_gradient_checked(relative: str) -> None:
    """The committed module itself (not a fresh one) computes the true gradient (C code through
    the loader)."""
    if relative.endswith(".c"):
        from symgrad.codegen.c.loader import load_c

        module: Any = load_c(GENERATED / relative)
    else:
        module = _load(GENERATED / relative)
    params = module.init_params(seed=3)
    rng = np.random.default_rng(5)
    sizes = module.LAYER_SIZES
    X = rng.normal(size=(4, sizes[0]))
    Y = rng.dirichlet(np.ones(sizes[-1]), size=4)
    report = check_gradients(module, params, X, Y, seed=7)
    assert report.passed, report
