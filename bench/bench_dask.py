"""Benchmark: a full-batch step of the Dask example against the NumPy module in one process.

Not a test. Run as ``python bench/bench_dask.py [--sizes 784 128 10] [--samples 200000]
[--chunk 20000] [--workers 2] [--steps 4] [--unknown-chunks]``.

It runs ``examples/dask_full_batch.py`` as it is (``run`` with ``--compare``) on a
``LocalCluster`` of ``--workers`` worker processes with one thread each: the data set is drawn
and persisted on the workers, then every step is one graph of ``dask_loss_and_gradients`` (one
task a chunk and a tree of additions), computed and gathered. The baseline, measured in the same
run: the generated NumPy module on the same rows in this process (all cores to its BLAS). The
line printed: the median wall time of a step after the first (which imports the module on the
workers), the median of three calls of the NumPy module, and their ratio; the target is at most
``LIMIT``. Other work on the machine distorts both; the load average is printed with them.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import os
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]
#: Wall time of a Dask step over the NumPy module's in one process, at most.
LIMIT = 1.3


def _example() -> ModuleType:
    path = REPO / "examples" / "dask_full_batch.py"
    spec = importlib.util.spec_from_file_location("dask_full_batch", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up by name
    spec.loader.exec_module(module)
    return module


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[784, 128, 10])
    parser.add_argument("--samples", type=int, default=200_000)
    parser.add_argument("--chunk", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=4, help="steps timed after the first")
    parser.add_argument("--unknown-chunks", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from distributed import Client, LocalCluster

    example = _example()
    load_before = os.getloadavg()[0]
    with (
        LocalCluster(
            n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
        contextlib.redirect_stdout(io.StringIO()),  # the example's progress bars
    ):
        report = example.run(
            args.sizes,
            args.samples,
            args.chunk,
            args.steps + 1,
            0.5,
            client,
            compare=True,
            unknown_chunks=args.unknown_chunks,
        )
    dask_seconds = statistics.median(report.seconds_per_step[1:])
    ratio = dask_seconds / report.numpy_seconds
    net = "-".join(map(str, args.sizes))
    chunks = -(-args.samples // args.chunk)
    print(
        f"dask {net}, {args.samples} rows in {chunks} chunks of {args.chunk}"
        f"{' (sizes unknown)' if args.unknown_chunks else ''}, {args.workers} workers x 1 "
        f"thread: {dask_seconds:.3f} s a step (median of {args.steps}; first step "
        f"{report.seconds_per_step[0]:.3f} s), {report.tasks_per_chunk:.2f} tasks a chunk; "
        f"NumPy module in one process: {report.numpy_seconds:.3f} s; ratio {ratio:.2f} "
        f"({'within' if ratio <= LIMIT else 'above'} {LIMIT}); largest relative difference "
        f"{report.difference:.1e}; load average {load_before:.2f} before, "
        f"{os.getloadavg()[0]:.2f} after"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
