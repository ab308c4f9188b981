"""``symgrad check`` over a grid of correct modules and their mutants (minutes; not a test).

The grid: depths 2 to 12 (weight layers), every hidden activation (the built-in ones, a smooth
custom one, ``log(x)`` and ``sqrt(x)``), the output/loss pairs and widths 2 to 64 in turn, for
each target:

- ``numpy``: the vectorized style always and the unrolled one where it is allowed (at most 400
  parameters);
- ``array-api``: its one style;
- ``c``: the looped form always and the unrolled one where it is allowed, in double; every
  ``--float-every``-th network in float too (unrolled where allowed, else looped), and the
  looped form with ``--blas cblas`` (double, and float on every other of those).

Every check of code that follows its inputs' dtype or computes in double also runs float32
inputs. Prints, per module, the verdict (PASS, FAIL or UNVERIFIED), the entries below what
central differences resolve (judged by symgrad's own evaluation instead) and the time; then the
totals of each target, and the mutation test (one statement of each code path, looped C's products
included, changed by a
factor 1 + 1e-4 (1 + 1e-2 in float C), a sign or a swapped index; ``tests/mutants.py``) on every
``--mutate-every``-th module: mutants and how many the check fails (killed), leaves unverified,
or passes (survived).

    python bench/check_grid.py [--target numpy|array-api|c|all] [--quick] [--mutate-every N]
                               [--float-every N] [--seed S]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import conftest  # noqa: E402
import mutants  # noqa: E402

from symgrad.check import check_file  # noqa: E402
from symgrad.codegen import UNROLLED_MAX_PARAMETERS  # noqa: E402
from symgrad.errors import ModuleCheckError  # noqa: E402
from symgrad.spec import NetworkSpec  # noqa: E402

#: The hidden activations of the tests, and two with a restricted domain.
ACTIVATIONS = [*conftest.ACTIVATIONS, "log(x)", "sqrt(x)"]
PAIRS = conftest.PAIRS
WIDTHS = [2, 3, 4, 8, 16, 32, 64]
TARGETS = ("numpy", "array-api", "c")


@dataclass(frozen=True)
class Case:
    """One file of the grid: a network, the target, its style (C: its form) and real type."""

    spec: NetworkSpec
    target: str
    style: str
    dtype: str | None = None
    blas: str | None = None

    def describe(self) -> str:
        sizes = "-".join(map(str, self.spec.sizes))
        kind = f"{self.style} {self.dtype}" if self.dtype else self.style
        kind += f" --blas {self.blas}" if self.blas else ""
        return f"{sizes} {self.spec.activation_text} {self.spec.output}/{self.spec.loss} {kind}"


@dataclass
class Totals:
    """What the grid found for one target."""

    modules: int = 0
    failed: list[str] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)
    unresolved_modules: int = 0
    mutants: int = 0
    killed: int = 0
    refused: int = 0
    unverified_mutants: int = 0
    survivors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    check_seconds: float = 0.0


def specs(quick: bool) -> list[NetworkSpec]:
    """The networks of the grid (every third depth with --quick)."""
    found = []
    counter = itertools.count()
    for depth in range(2, 13, 3 if quick else 1):
        for activation in ACTIVATIONS:
            n = next(counter)
            output, loss = PAIRS[n % len(PAIRS)]
            width = WIDTHS[n % len(WIDTHS)]
            n_out = 1 if output != "softmax" and n % 4 == 0 else 2 + n % 3
            sizes = [1 + n % 5, *[width] * (depth - 1), n_out]
            found.append(NetworkSpec.parse(sizes, activation, output, loss))
    return found


def cases(networks: list[NetworkSpec], target: str, float_every: int) -> list[Case]:
    """The files of ``target`` for ``networks``."""
    found = []
    for n, spec in enumerate(networks):
        unrolled = spec.parameter_count <= UNROLLED_MAX_PARAMETERS
        if target == "numpy":
            found.append(Case(spec, target, "vectorized"))
            if unrolled:
                found.append(Case(spec, target, "unrolled"))
        elif target == "array-api":
            found.append(Case(spec, target, "vectorized"))
        else:
            found.append(Case(spec, target, "looped", "double"))
            if unrolled:
                found.append(Case(spec, target, "unrolled", "double"))
            if n % float_every == 0:
                found.append(Case(spec, target, "unrolled" if unrolled else "looped", "float"))
                real = "float" if n % (2 * float_every) else "double"
                found.append(Case(spec, target, "looped", real, "cblas"))
    return found


def check_case(
    case: Case, folder: Path, totals: Totals, seed: int, mutate_seed: int | None
) -> None:
    """Check the file of ``case`` (points from ``seed``) and, unless ``mutate_seed`` is None, its
    mutants (picked with that seed); count into ``totals``."""
    text, header = mutants.generated(case.spec, case.target, case.style, case.dtype, case.blas)
    path = mutants.write(folder / "original", text, header)
    totals.modules += 1
    clock = time.perf_counter()
    try:
        report = check_file(path, seed=seed)
    except ModuleCheckError as exc:
        totals.failed.append(f"{case.describe()}: {exc}")
        print(f"ERROR {case.describe()}: {exc}", flush=True)
        return
    seconds = time.perf_counter() - clock
    totals.check_seconds += seconds
    unresolved = sum(r.count("unresolved") for r in report.gradients)
    totals.unresolved_modules += unresolved > 0
    verdict = report.verdict
    print(
        f"{verdict:10}  {case.target:9} {case.describe():62}  below resolution {unresolved:4}  "
        f"{seconds:5.1f} s",
        flush=True,
    )
    if verdict == "FAIL":
        totals.failed.append(case.describe())
        print(report.report())
    elif verdict == "UNVERIFIED":
        totals.unverified.append(case.describe())
    if mutate_seed is not None:
        check_mutants(case, text, header, folder, totals, seed, mutate_seed)


def check_mutants(
    case: Case,
    text: str,
    header: str | None,
    folder: Path,
    totals: Totals,
    seed: int,
    mutate_seed: int,
) -> None:
    """The mutation test of one file: every mutant checked, counted into ``totals``."""
    found = mutants.mutants(text, case.style, seed=mutate_seed, header=header)
    for n, mutant in enumerate(found):
        path = mutants.write(folder / f"mutant-{n}", mutant.text, header)
        totals.mutants += 1
        try:
            verdict = check_file(path, seed=seed).verdict
        except ModuleCheckError:  # exit status 2: it raised while being checked
            totals.refused += 1
            continue
        if verdict == "PASS":
            totals.survivors.append(f"{case.describe()}: {mutant.name} {mutant.after}")
            print(f"      survived: {mutant.name}: {mutant.before} -> {mutant.after}", flush=True)
        elif verdict == "UNVERIFIED":
            totals.unverified_mutants += 1
            print(f"      unverified: {mutant.name}: {mutant.before} -> {mutant.after}", flush=True)
        else:
            totals.killed += 1


def run_target(target: str, options: argparse.Namespace) -> Totals:
    """The grid of one target."""
    totals = Totals()
    started = time.perf_counter()
    for n, case in enumerate(cases(specs(options.quick), target, options.float_every)):
        with tempfile.TemporaryDirectory(prefix="check-grid-") as folder:
            mutate_seed = n if n % options.mutate_every == 0 else None
            check_case(case, Path(folder), totals, options.seed, mutate_seed)
    totals.seconds = time.perf_counter() - started
    return totals


def summary(target: str, totals: Totals) -> list[str]:
    """The printed totals of one target."""
    lines = [
        f"{target}: modules: {totals.modules}, FAIL: {len(totals.failed)}, UNVERIFIED: "
        f"{len(totals.unverified)}, with entries below what central differences resolve: "
        f"{totals.unresolved_modules}",
        f"{target}: mutants: {totals.mutants}, killed: {totals.killed + totals.refused} "
        f"({totals.killed} FAIL, {totals.refused} raised while checked: exit status 2), "
        f"unverified: {totals.unverified_mutants}, survived: {len(totals.survivors)}",
    ]
    lines += [f"  {line}" for line in totals.failed + totals.unverified + totals.survivors]
    lines.append(
        f"{target}: time: {totals.seconds:.0f} s (checks of the correct files: "
        f"{totals.check_seconds:.0f} s)"
    )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--target", choices=[*TARGETS, "all"], default="all", help="the target (default all)"
    )
    parser.add_argument("--quick", action="store_true", help="every third depth only")
    parser.add_argument("--mutate-every", type=int, default=4, help="mutate every N-th module")
    parser.add_argument(
        "--float-every",
        type=int,
        default=4,
        help="C: every N-th network in float and with --blas cblas too",
    )
    parser.add_argument("--seed", type=int, default=0)
    options = parser.parse_args()
    targets = TARGETS if options.target == "all" else (options.target,)
    results = {target: run_target(target, options) for target in targets}
    print()
    for target, totals in results.items():
        print("\n".join(summary(target, totals)))
    bad = any(
        totals.failed or totals.unverified or totals.survivors or totals.unverified_mutants
        for totals in results.values()
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
