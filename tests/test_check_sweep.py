"""``symgrad check`` never cries wolf and never misses, over many networks and every target.

1. No FAIL on correct code: a sample of depths 2 to 12, every activation (the built-in ones,
   a custom smooth one, ``log(x)`` and ``sqrt(x)``), every output/loss pair, widths up to 64;
   NumPy modules in both styles, array-API modules, C files in both forms (``unrolled``,
   ``looped``) and both real types (``double``, ``float``). Every check of code that follows
   its inputs' dtype (or computes in double) also runs float32 inputs against float64.
2. A FAIL for every mutant: one statement of each code path changed by a factor ``1 + 1e-4``
   (``1 + 1e-2`` in float C), a sign, or a swapped index (:mod:`mutants`), for each NumPy
   style, the array API, C unrolled and looped in double, and one float C file.

The full grid runs in ``bench/check_grid.py`` (minutes). Code is generated without the proof,
which other tests cover.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from conftest import Named

from symgrad.check import check_file
from symgrad.codegen import generate_module
from symgrad.pipeline import derive

try:
    import mutants
except ImportError:  # run from the repository root
    from tests import mutants

pytestmark = pytest.mark.sandbox


def named(style: str, sizes: tuple[int, ...], *options: str | None) -> tuple[Named, str]:
    """A network with a readable id (``3-8x7-2-tanh-sigmoid``) and the style to check."""
    parts, n = [str(sizes[0])], 1
    while n < len(sizes) - 1:
        run = 1
        while n + run < len(sizes) - 1 and sizes[n + run] == sizes[n]:
            run += 1
        parts.append(f"{sizes[n]}x{run}" if run > 2 else "-".join([str(sizes[n])] * run))
        n += run
    parts.append(str(sizes[-1]))
    return Named("-".join(parts + [o for o in options if o]), sizes, *options), style


#: Depths 1 to 12, widths 1 to 64, each activation and pair at least once, both styles.
SWEEP = [
    named("vectorized", (3, 4, 2)),
    named("unrolled", (2, 3, 3, 2), "tanh", "sigmoid"),
    named("vectorized", (4, 8, 8, 8, 3), "relu", "softmax", "squared-error"),
    named("unrolled", (3, 5, 5, 5, 5, 2), "leaky-relu", "sigmoid", "squared-error"),
    named("vectorized", (5, *[16] * 5, 4), "softplus", "identity"),
    named("unrolled", (2, *[4] * 6, 2), "identity"),
    named("vectorized", (3, *[8] * 7, 2), "x/(1+abs(x))", "sigmoid"),
    named("vectorized", (3, *[4] * 7, 2)),  # deep sigmoid networks once failed falsely
    named("vectorized", (3, *[8] * 10, 2)),  # ten hidden sigmoid layers
    named("unrolled", (2, *[3] * 11, 2), "tanh"),
    named("vectorized", (8, 64, 64, 10), "tanh"),
    named("vectorized", (10, 64, 5), "relu", "identity"),
    named("vectorized", (3, 4, 2), "log(x)"),
    named("unrolled", (2, 3, 3, 2), "log(x)"),
    named("vectorized", (3, 4, 4, 2), "sqrt(x)", "sigmoid"),
    named("unrolled", (4, 6, 6, 3), "tanh,relu"),
    named("unrolled", (2, 1), None, "identity"),
    named("vectorized", (3, 6, 1), None, "sigmoid"),
    named("vectorized", (4, *[8] * 11, 2), "relu"),
]


def module(folder: Path, case: Named, style: str) -> Path:
    path = folder / (re.sub(r"[^\w-]", "_", f"{case.id}-{style}") + ".py")
    path.write_text(generate_module(derive(case.spec(), prove=False), style), encoding="utf-8")
    return path


@pytest.mark.parametrize(("case", "style"), SWEEP, ids=[f"{c.id}-{s}" for c, s in SWEEP])
def test_correct_modules_never_fail(tmp_path: Path, case: Named, style: str) -> None:
    report = check_file(module(tmp_path, case, style))
    assert report.passed, report.report()
    assert any("float32 inputs give float32 results" in f.text for f in report.findings)


#: The networks mutated, one per style, with two hidden layers of different activations so that
#: every kind of statement is there.
MUTATED = [
    named("vectorized", (3, 4, 3, 2), "tanh"),
    named("unrolled", (2, 3, 3, 2), None, "sigmoid"),
]


@pytest.mark.parametrize(("case", "style"), MUTATED, ids=[f"{c.id}-{s}" for c, s in MUTATED])
def test_every_mutant_fails(tmp_path: Path, case: Named, style: str) -> None:
    text = module(tmp_path, case, style).read_text(encoding="utf-8")
    found = list(mutants.mutants(text, style))
    # One mutant per code path and kind.
    assert len(found) == len(mutants.PATHS[style]) * len(mutants.KINDS)
    survivors = []
    for mutant in found:
        path = tmp_path / "mutant.py"
        path.write_text(mutant.text, encoding="utf-8")
        report = check_file(path)
        if report.passed:
            survivors.append(f"{mutant.name}: {mutant.before} -> {mutant.after}")
    assert survivors == [], f"{len(survivors)} of {len(found)} mutants pass: {survivors}"


# The array API and C -------------------------------------------------------------------------


def source(folder: Path, case: Named, target: str, style: str, dtype: str | None = None) -> Path:
    """The generated code of ``case`` for ``target`` written in ``folder``: the path to check."""
    text, header = mutants.generated(case.spec(), target, style, dtype)
    return mutants.write(folder, text, header)


#: Array-API modules (one style): depths 1 to 8, each activation and pair at least once.
ARRAY_API_SWEEP = [
    named("vectorized", (3, 4, 2)),
    named("vectorized", (4, 8, 8, 8, 3), "relu", "softmax", "squared-error"),
    named("vectorized", (3, 5, 5, 5, 5, 2), "leaky-relu", "sigmoid", "squared-error"),
    named("vectorized", (5, *[16] * 5, 4), "softplus", "identity"),
    named("vectorized", (3, *[8] * 7, 2), "x/(1+abs(x))", "sigmoid"),
    named("vectorized", (3, *[4] * 7, 2)),  # seven hidden sigmoid layers
    named("vectorized", (8, 64, 64, 10), "tanh"),
    named("vectorized", (3, 4, 2), "log(x)"),
    named("vectorized", (3, 4, 4, 2), "sqrt(x)", "sigmoid"),
    named("vectorized", (4, 6, 6, 3), "tanh,relu", "sigmoid", "binary-cross-entropy"),
    named("vectorized", (3, 6, 1), None, "sigmoid"),
    named("vectorized", (2, 1), None, "identity"),
]


@pytest.mark.parametrize(("case", "style"), ARRAY_API_SWEEP, ids=[c.id for c, _ in ARRAY_API_SWEEP])
def test_correct_array_api_modules_never_fail(tmp_path: Path, case: Named, style: str) -> None:
    report = check_file(source(tmp_path, case, "array-api", style))
    assert report.passed, report.report()
    assert any("float32 inputs give float32 results" in f.text for f in report.findings)


def c_case(style: str, dtype: str, sizes: tuple[int, ...], *options: str | None) -> Any:
    """A C file to check: the network, its form and its real type, with a readable id."""
    case, _ = named(style, sizes, *options)
    return pytest.param(case, style, dtype, id=f"{case.id}-{style}-{dtype}")


#: C files: both forms, both real types, each activation and pair at least once, a deep
#: sigmoid network in each real type. Small widths: the compiler's time grows with them (and with
#: the depth), far beyond the check's.
C_SWEEP = [
    c_case("unrolled", "double", (2, 3, 3, 2), "tanh", "sigmoid"),
    c_case("looped", "double", (4, 8, 8, 8, 3), "relu", "softmax", "squared-error"),
    c_case("unrolled", "double", (3, 5, 5, 5, 5, 2), "leaky-relu", "sigmoid", "squared-error"),
    c_case("looped", "double", (5, 8, 8, 4), "softplus", "identity"),
    c_case("looped", "double", (3, *[4] * 7, 2), "x/(1+abs(x))", "sigmoid"),
    c_case("looped", "double", (3, *[4] * 10, 2)),  # ten hidden sigmoid layers
    c_case("looped", "double", (10, 64, 5), "relu", "identity"),
    c_case("unrolled", "double", (2, 3, 3, 2), "log(x)"),
    c_case("looped", "double", (3, 4, 4, 2), "sqrt(x)", "sigmoid"),
    c_case("unrolled", "double", (2, 1), None, "identity"),
    c_case("unrolled", "float", (4, 6, 6, 3), "tanh,relu"),
    c_case("unrolled", "float", (3, *[4] * 6, 2)),  # six hidden sigmoid layers
    c_case("unrolled", "float", (3, 6, 1), "softplus", "sigmoid"),
    c_case("looped", "float", (3, 4, 2), "log(x)", "identity"),
]


@pytest.mark.parametrize(("case", "style", "dtype"), C_SWEEP)
def test_correct_c_files_never_fail(tmp_path: Path, case: Named, style: str, dtype: str) -> None:
    report = check_file(source(tmp_path, case, "c", style, dtype))
    assert report.passed, report.report()
    # A double file is also run on float32 inputs; a float one computes in float32 only.
    compared = any("float32 inputs give float32 results" in f.text for f in report.findings)
    assert compared == (dtype == "double")


#: The code mutated for the other targets: the array API, C in both forms in double, and one
#: float C file (whose gradients the check resolves: see FACTORS in mutants.py).
MUTATED_TARGETS = [
    pytest.param(
        Named("3-4-3-2-tanh", (3, 4, 3, 2), "tanh"), "array-api", "vectorized", None, id="array-api"
    ),
    pytest.param(
        Named("2-3-3-2-sigmoid", (2, 3, 3, 2), None, "sigmoid"),
        "c",
        "unrolled",
        "double",
        id="c-unrolled-double",
    ),
    pytest.param(
        Named("3-4-3-2-tanh", (3, 4, 3, 2), "tanh"), "c", "looped", "double", id="c-looped-double"
    ),
    pytest.param(
        Named("3-4-3-2-tanh", (3, 4, 3, 2), "tanh"), "c", "unrolled", "float", id="c-unrolled-float"
    ),
]


@pytest.mark.parametrize(("case", "target", "style", "dtype"), MUTATED_TARGETS)
def test_every_mutant_of_other_targets_fails(
    tmp_path: Path, case: Named, target: str, style: str, dtype: str | None
) -> None:
    text, header = mutants.generated(case.spec(), target, style, dtype)
    assert check_file(mutants.write(tmp_path / "original", text, header)).passed
    found = list(mutants.mutants(text, style, header=header))
    # One mutant per code path and kind (looped C: its products too).
    assert len(found) == sum(len(mutants.kinds(p)) for p in mutants.paths(target, style))
    survivors = []
    for n, mutant in enumerate(found):
        report = check_file(mutants.write(tmp_path / f"mutant-{n}", mutant.text, header))
        if report.passed:
            survivors.append(f"{mutant.name}: {mutant.before} -> {mutant.after}")
    assert survivors == [], f"{len(survivors)} of {len(found)} mutants pass: {survivors}"


#: Bugs of looped C that only a block of NAME_GEMM_MR rows or more (the packed products and their
#: register tile) or a batch of more than NAME_WORK_ROWS = 64 rows (a second block) runs: the
#: first occurrence of the text (in the tile, in NAME_forward) replaced.
LARGE_BATCH_BUGS = {
    "tile-row": ("c3[j] += ap[3] * bp[j];", "c3[j] += ap[2] * bp[j];"),
    "second-block": ("Yhat[(s0 + r) * 2 + i]", "Yhat[r * 2 + i]"),
}


def large_batch_bug(folder: Path, bug: str) -> Path:
    """A looped 3-4-3-2 C file with ``bug``, written in ``folder``."""
    text, header = mutants.generated(Named("", (3, 4, 3, 2), "tanh").spec(), "c", "looped")
    before, after = LARGE_BATCH_BUGS[bug]
    assert before in text
    return mutants.write(folder, text.replace(before, after, 1), header)


@pytest.mark.parametrize("bug", LARGE_BATCH_BUGS)
def test_looped_c_bugs_of_large_batches_fail_on_a_large_batch(tmp_path: Path, bug: str) -> None:
    assert not check_file(large_batch_bug(tmp_path, bug), batch=40).passed


@pytest.mark.parametrize("bug", LARGE_BATCH_BUGS)
def test_looped_c_bugs_of_large_batches_fail_by_default(tmp_path: Path, bug: str) -> None:
    assert not check_file(large_batch_bug(tmp_path, bug)).passed
