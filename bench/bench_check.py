"""Wall time of ``symgrad check`` on honest NumPy modules, against an earlier revision (not a test).

``symgrad check`` of the 3-3-2 and the 784-128-10 NumPy modules, as a user runs it (a new
interpreter each time, interpreter start included), with this working tree and with the
checker of an earlier revision (``--baseline``, by default the last one before the checker was
rebuilt on bubblewrap with a second judge), exported with ``git archive`` and run on the same
files. Runs alternate between the two, ``--repeat`` times each; the table gives the median and
the fastest of each and the ratio of the medians (the sandbox and the second judge must keep
it at most ``--bound``, 1.5). Both checkers run in this Python; the exported one finds its own
package first on the path.

    python bench/bench_check.py [--baseline REV] [--repeat N] [--bound 1.5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The last revision before ``symgrad check`` ran in bubblewrap and judged twice.
BASELINE = "49f3773"
NETWORKS = ("3 3 2", "784 128 10")


def export(revision: str, folder: Path) -> Path:
    """The tree of ``revision`` written into ``folder`` (``git archive``)."""
    archive = folder / "baseline.tar"
    with archive.open("wb") as stream:
        subprocess.run(["git", "-C", str(ROOT), "archive", revision], stdout=stream, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(folder / "baseline", filter="data")
    return folder / "baseline"


def timed(source: Path, path: Path, work: Path) -> tuple[float, int]:
    """Seconds of ``python -m symgrad check path`` with ``source`` first on the path."""
    environment = {**os.environ, "PYTHONPATH": str(source)}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "symgrad", "check", str(path)],
        cwd=work,
        env=environment,
        capture_output=True,
        check=False,
    )
    return time.perf_counter() - started, done.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=BASELINE, help=f"revision (default {BASELINE})")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each (default 5)")
    parser.add_argument("--bound", type=float, default=1.5, help="largest ratio (default 1.5)")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-check-") as name:
        work = Path(name)
        baseline = export(options.baseline, work)
        files = {}
        for sizes in NETWORKS:
            path = work / f"mlp_{sizes.replace(' ', '_')}.py"
            subprocess.run(
                [sys.executable, "-m", "symgrad", "codegen", *sizes.split(), "-o", str(path)],
                cwd=work,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
                check=True,
            )
            files[sizes] = path
        print(f"symgrad check of NumPy modules, {options.repeat} runs each, alternating")
        print(f"baseline: {options.baseline}; now: the working tree\n")
        header = f"{'network':12} {'baseline median':>16} {'now median':>11} {'baseline min':>13}"
        print(header + f" {'now min':>8} {'ratio':>6}  status (baseline, now)")
        worst = 0.0
        for sizes, path in files.items():
            before, after, statuses = [], [], set()
            for _ in range(options.repeat):
                seconds, status = timed(baseline, path, work)
                before.append(seconds)
                statuses.add(("baseline", status))
                seconds, status = timed(ROOT, path, work)
                after.append(seconds)
                statuses.add(("now", status))
            ratio = statistics.median(after) / statistics.median(before)
            worst = max(worst, ratio)
            shown = ", ".join(f"{who} {status}" for who, status in sorted(statuses))
            print(
                f"{sizes.replace(' ', '-'):12} {statistics.median(before):15.2f}s "
                f"{statistics.median(after):10.2f}s {min(before):12.2f}s {min(after):7.2f}s "
                f"{ratio:6.2f}  {shown}"
            )
        verdict = "within" if worst <= options.bound else "OVER"
        print(f"\nlargest ratio {worst:.2f}: {verdict} the bound of {options.bound}")
        return 0 if worst <= options.bound else 1


if __name__ == "__main__":
    sys.exit(main())
