"""``symgrad check`` never cries wolf and never misses, over many networks.

1. No FAIL on correct modules: a sample of depths 2 to 12, every activation (the built-in ones,
   a custom smooth one, ``log(x)`` and ``sqrt(x)``), every output/loss pair, widths up to 64,
   both styles; every check also runs float32 inputs against float64.
2. A FAIL for every mutant: one statement of each code path of each style changed by a factor
   ``1 + 1e-4``, a sign, or a swapped index (:mod:`mutants`).

The full grid runs in ``bench/check_grid.py`` (minutes); its numbers are in the report of
issue 9. Modules are generated without the proof, which other tests cover.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import Named

from symgrad.check import check_file
from symgrad.codegen import generate_module
from symgrad.pipeline import derive

try:
    import mutants
except ImportError:  # run from the repository root
    from tests import mutants


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
    named("vectorized", (3, *[4] * 7, 2)),  # the false failures
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
