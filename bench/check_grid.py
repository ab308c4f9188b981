"""``symgrad check`` over a grid of correct modules and their mutants (minutes; not a test).

The grid: depths 2 to 12 (weight layers), every hidden activation (the built-in ones, a smooth
custom one, ``log(x)`` and ``sqrt(x)``), the output/loss pairs and widths 2 to 64 in turn, the
vectorized style always and the unrolled one where it is allowed (at most 400 parameters). Every
check also runs float32 inputs against float64. Prints, per module, the verdict, the entries
below resolution and the time; then the totals, and the mutation test (one statement of each
code path changed by a factor 1 + 1e-4, a sign or a swapped index; ``tests/mutants.py``) on
every ``--mutate-every``-th module: mutants and how many the check fails (killed).

    python bench/check_grid.py [--quick] [--mutate-every N] [--seed S]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import conftest  # noqa: E402
import mutants  # noqa: E402

from symgrad.check import check_file  # noqa: E402
from symgrad.codegen import UNROLLED_MAX_PARAMETERS, generate_module  # noqa: E402
from symgrad.errors import ModuleCheckError  # noqa: E402
from symgrad.pipeline import derive  # noqa: E402
from symgrad.spec import NetworkSpec  # noqa: E402

#: The hidden activations of the tests, and two with a restricted domain.
ACTIVATIONS = [*conftest.ACTIVATIONS, "log(x)", "sqrt(x)"]
PAIRS = conftest.PAIRS
WIDTHS = [2, 3, 4, 8, 16, 32, 64]


def grid(quick: bool) -> list[tuple[NetworkSpec, str]]:
    """The specs and styles of the grid (every third depth with --quick)."""
    cases = []
    counter = itertools.count()
    for depth in range(2, 13, 3 if quick else 1):
        for activation in ACTIVATIONS:
            n = next(counter)
            output, loss = PAIRS[n % len(PAIRS)]
            width = WIDTHS[n % len(WIDTHS)]
            n_out = 1 if output != "softmax" and n % 4 == 0 else 2 + n % 3
            sizes = [1 + n % 5, *[width] * (depth - 1), n_out]
            spec = NetworkSpec.parse(sizes, activation, output, loss)
            cases.append((spec, "vectorized"))
            if spec.parameter_count <= UNROLLED_MAX_PARAMETERS:
                cases.append((spec, "unrolled"))
    return cases


def describe(spec: NetworkSpec, style: str) -> str:
    sizes = "-".join(map(str, spec.sizes))
    return f"{sizes} {spec.activation_text} {spec.output}/{spec.loss} {style}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every third depth only")
    parser.add_argument("--mutate-every", type=int, default=4, help="mutate every N-th module")
    parser.add_argument("--seed", type=int, default=0)
    options = parser.parse_args()
    cases = grid(options.quick)
    failed, unresolved_modules, mutant_count, killed, refused = [], 0, 0, 0, 0
    survivors: list[str] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "module.py"
        for n, (spec, style) in enumerate(cases):
            text = generate_module(derive(spec, prove=False), style)
            path.write_text(text, encoding="utf-8")
            clock = time.perf_counter()
            try:
                report = check_file(path, seed=options.seed)
            except ModuleCheckError as exc:
                failed.append(f"{describe(spec, style)}: {exc}")
                print(f"ERROR {describe(spec, style)}: {exc}", flush=True)
                continue
            seconds = time.perf_counter() - clock
            unresolved = sum(r.count("unresolved") for r in report.gradients)
            unresolved_modules += unresolved > 0
            verdict = "PASS" if report.passed else "FAIL"
            print(
                f"{verdict}  {describe(spec, style):60}  below resolution {unresolved:4}  "
                f"{seconds:5.1f} s",
                flush=True,
            )
            if not report.passed:
                failed.append(describe(spec, style))
                print(report.report())
            if n % options.mutate_every:
                continue
            for mutant in mutants.mutants(text, style, seed=n):
                path.write_text(mutant.text, encoding="utf-8")
                mutant_count += 1
                try:
                    passed = check_file(path, seed=options.seed).passed
                except ModuleCheckError:  # exit status 2: it raised while being checked
                    refused += 1
                    continue
                if passed:
                    survivors.append(f"{describe(spec, style)}: {mutant.name} {mutant.after}")
                else:
                    killed += 1
    total = time.perf_counter() - started
    print()
    print(f"modules: {len(cases)}, FAIL: {len(failed)}, with entries below resolution: "
          f"{unresolved_modules}")  # fmt: skip
    print(
        f"mutants: {mutant_count}, killed: {killed + refused} ({killed} FAIL, {refused} raised "
        f"while checked: exit status 2), survived: {len(survivors)}"
    )
    for line in failed + survivors:
        print(f"  {line}")
    print(f"time: {total:.0f} s")
    return 0 if not failed and not survivors else 1


if __name__ == "__main__":
    sys.exit(main())
