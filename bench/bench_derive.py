"""Benchmark of the derivation, its proof and the commands built on it (not a test).

Run ``python bench/bench_derive.py [--quick]``. Prints wall times of whole commands (interpreter
start included, median of several runs), the in-process time of the proof step, and, in the same
run, the naive approach it replaces: build the composed per-sample loss in SymPy and differentiate
it with respect to every parameter. Ratios are against that baseline where it finishes in time.
Targets: ``derive 3 3 2`` < 1 s (and no slower, as a ratio to ``python -c "import sympy"`` timed
in the same run, than before a change), ``derive 784 128 10`` < 5 s, ``latex 784 128 10`` < 5 s and
< 200 KB, ``codegen 784 128 10`` < 5 s; ``derive``, ``latex`` and ``codegen`` of 2000-2000-2000-10
each under 5 s and 400 MB, at most twice the cost of 784-128-10 (the last table).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

NAIVE_TIMEOUT = 60.0


def wall(argv: list[str], repeats: int) -> tuple[float, int]:
    """Median wall time of ``python -m symgrad ARGV`` and the size of its output in bytes."""
    times, size = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "symgrad", *argv], capture_output=True, check=True
        )
        times.append(time.perf_counter() - start)
        size = len(result.stdout)
    return statistics.median(times), size


def wall_and_memory(argv: list[str]) -> tuple[float, float]:
    """Wall time in seconds and peak resident memory in MB of ``python -m symgrad ARGV``."""
    start = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "symgrad", *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        raise RuntimeError(f"symgrad {' '.join(argv)} exited with status {status}")
    return seconds, usage.ru_maxrss / 1024  # kilobytes on Linux


def import_sympy(repeats: int) -> float:
    """Median wall time of ``python -c "import sympy"``: the floor of every command, measured in
    the same run, so that a machine's speed cancels out of the ratio of ``derive 3 3 2`` to it."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import sympy"], capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def proof_time(sizes: list[int]) -> tuple[float, float, str]:
    """Seconds to build the derivation and to prove it, in process; the proof method used."""
    from symgrad.pipeline import derive, program_at
    from symgrad.proof import prove
    from symgrad.spec import NetworkSpec

    spec = NetworkSpec.parse(sizes)
    start = time.perf_counter()
    derivation = derive(spec, prove=False)
    built = time.perf_counter()
    proved = prove(derivation, program=program_at(derivation))
    done = time.perf_counter()
    assert proved.proof is not None
    return built - start, done - built, proved.proof.method.value


NAIVE = """
import sys, time
import sympy as sp
sizes = [int(s) for s in sys.argv[1:]]
start = time.perf_counter()
x = [sp.Symbol(f"x{j}") for j in range(sizes[0])]
y = [sp.Symbol(f"y{i}") for i in range(sizes[-1])]
params, h = [], x
for k in range(1, len(sizes)):
    W = [[sp.Symbol(f"W{k}_{i}_{j}") for j in range(sizes[k - 1])] for i in range(sizes[k])]
    b = [sp.Symbol(f"b{k}_{i}") for i in range(sizes[k])]
    params += [w for row in W for w in row] + b
    a = [b[i] + sum(W[i][j] * h[j] for j in range(sizes[k - 1])) for i in range(sizes[k])]
    h = [1 / (1 + sp.exp(-ai)) for ai in a] if k < len(sizes) - 1 else a
total = sum(sp.exp(ai) for ai in h)
loss = -sum(yi * sp.log(sp.exp(ai) / total) for yi, ai in zip(y, h))
for p in params:
    sp.diff(loss, p)
print(time.perf_counter() - start)
"""


def naive_time(sizes: list[int]) -> float | None:
    """Seconds SymPy takes to differentiate the composed loss w.r.t. every parameter, or None."""
    try:
        result = subprocess.run(
            [sys.executable, "-c", NAIVE, *map(str, sizes)],
            capture_output=True,
            text=True,
            timeout=NAIVE_TIMEOUT,
            check=True,
        )
    except subprocess.TimeoutExpired:
        return None
    return float(result.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one run per command")
    options = parser.parse_args()
    repeats = 1 if options.quick else 3
    nets = [[3, 3, 2], [64, 64, 10], [784, 128, 10]]

    floor = import_sympy(max(repeats, 5))
    small, _ = wall(["derive", "3", "3", "2"], max(repeats, 5))
    print(
        f"derive 3 3 2: {small:.2f} s; python -c 'import sympy': {floor:.2f} s; "
        f"ratio {small / floor:.2f} (median of {max(repeats, 5)} runs each)\n"
    )
    print("symgrad derive: wall time of the whole command (median of", repeats, "runs)")
    print(
        f"{'network':>14} {'params':>8} {'derive s':>9} {'build s':>8} {'proof s':>8} "
        f"{'method':>9} {'naive s':>9} {'proof/naive':>11}"
    )
    for sizes in nets:
        name = "-".join(map(str, sizes))
        params = sum(sizes[k] * (sizes[k - 1] + 1) for k in range(1, len(sizes)))
        derive_s, _ = wall(["derive", *map(str, sizes)], repeats)
        build_s, proof_s, method = proof_time(sizes)
        naive = naive_time(sizes)
        naive_text = f"{naive:9.2f}" if naive is not None else f"{'>' + str(int(NAIVE_TIMEOUT)):>9}"
        ratio = (
            f"{proof_s / naive:11.3f}"
            if naive
            else f"{'< ' + f'{proof_s / NAIVE_TIMEOUT:.3f}':>11}"
        )
        print(
            f"{name:>14} {params:>8} {derive_s:9.2f} {build_s:8.3f} {proof_s:8.2f} "
            f"{method:>9} {naive_text} {ratio}"
        )

    print("\nscaling: proof time per parameter (about linear when this stays flat or falls)")
    for sizes in ([100, 100, 10], [200, 200, 10], [400, 400, 10], [784, 128, 10], [784, 512, 10]):
        params = sum(sizes[k] * (sizes[k - 1] + 1) for k in range(1, len(sizes)))
        build_s, proof_s, _ = proof_time(sizes)
        per = (build_s + proof_s) / params * 1e6
        print(
            f"{'-'.join(map(str, sizes)):>14} {params:>8} params {build_s + proof_s:7.2f} s "
            f"{per:8.2f} us/param"
        )

    print("\nother commands on 784-128-10 (wall, median of", repeats, "runs)")
    for argv in (
        ["latex", "784", "128", "10"],
        ["markdown", "784", "128", "10"],
        ["codegen", "784", "128", "10"],
    ):
        try:
            seconds, size = wall(argv, repeats)
        except subprocess.CalledProcessError as exc:
            print(f"{' '.join(argv):>26}: failed ({exc.stderr.decode().strip()[:80]})")
            continue
        print(f"{' '.join(argv):>26}: {seconds:6.2f} s, {size / 1024:7.1f} KB")

    print(
        "\nwidth: 2000-2000-2000-10 (8.0 M parameters) against 784-128-10 (0.1 M), the baseline "
        "measured in this run (median of",
        repeats,
        "runs; targets: under 5 s and 400 MB, cost ratio under 2)",
    )
    print(f"{'command':>9} {'784-128-10':>20} {'2000-2000-2000-10':>22} {'ratio':>7}")
    for command in ("derive", "latex", "codegen"):
        small, large = [], []
        for _ in range(repeats):
            small.append(wall_and_memory([command, "784", "128", "10"]))
            large.append(wall_and_memory([command, "2000", "2000", "2000", "10"]))
        s_time = statistics.median(t for t, _ in small)
        l_time = statistics.median(t for t, _ in large)
        s_mem, l_mem = max(m for _, m in small), max(m for _, m in large)
        print(
            f"{command:>9} {s_time:8.2f} s {s_mem:6.0f} MB {l_time:10.2f} s {l_mem:6.0f} MB "
            f"{l_time / s_time:7.2f}"
        )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
