"""Benchmark: a full-batch step of the Dask example against the NumPy module in one process.

Not a test. Run as ``python bench/bench_dask.py [--sizes 784 128 10] [--samples 200000]
[--chunk 20000] [--workers 2] [--rounds 5] [--unknown-chunks]``.

It uses ``examples/dask_full_batch.py`` as it is: its data set, drawn and persisted on a
``LocalCluster`` of ``--workers`` worker processes with one thread each, and its ``full_batch``
step, one graph of ``dask_loss_and_gradients`` (one task a chunk and a tree of additions),
computed and gathered. The baseline, measured in the same run: the generated NumPy module
(``symgrad.load``) on the same rows in this process, all cores to its BLAS. After a step and a
call of each to warm up, the two are timed in turn for ``--rounds`` rounds, so that load from
other processes falls on both; the line printed gives the medians and their ratio, whose target
is at most ``LIMIT``, with the load average. ``--threads N`` gives the NumPy module N BLAS
threads; on two busy cores two threads of OpenBLAS can take three times as long as one.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import os
import statistics
import sys
import time
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
    parser.add_argument("--rounds", type=int, default=5, help="timed steps of each")
    parser.add_argument("--unknown-chunks", action="store_true")
    parser.add_argument(
        "--threads",
        type=int,
        help="BLAS threads of the NumPy module in this process (default: the library's, all "
        "cores); the workers always have one each",
    )
    return parser


THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _restart_with_threads(n: int, argv: Sequence[str]) -> None:
    """Re-execute this script with the BLAS thread variables set to ``n`` (read when BLAS loads),
    unless they already are."""
    if all(os.environ.get(var) == str(n) for var in THREAD_VARIABLES):
        return
    env = dict(os.environ, **{var: str(n) for var in THREAD_VARIABLES})
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, str(Path(__file__).resolve()), *argv], env)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if args.threads is not None:
        _restart_with_threads(args.threads, argv)
    import dask
    import numpy as np
    from distributed import Client, LocalCluster

    import symgrad

    blas_threads = os.environ.get("OPENBLAS_NUM_THREADS", "default")  # before Dask sets its own
    example = _example()
    module = symgrad.load(args.sizes)
    params = module.init_params(0)
    load_before = os.getloadavg()[0]
    timings: dict[str, list[float]] = {"dask": [], "numpy": []}
    with (
        LocalCluster(
            n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
        contextlib.redirect_stdout(io.StringIO()),  # the example's progress bars
    ):
        X, labels = example.data_set(
            args.sizes, args.samples, args.chunk, 0, unknown_chunks=args.unknown_chunks
        )
        X, labels = client.persist([X, labels])
        X_here, labels_here = dask.compute(X, labels)
        chunks = X.numblocks[0]

        def dask_step() -> tuple[float, dict[str, np.ndarray], int]:
            return example.full_batch(client, module, params, X, labels)

        def numpy_step() -> tuple[float, dict[str, np.ndarray]]:
            return module.loss_and_gradients(params, X_here, labels_here)

        (value, grads, tasks), (expected, expected_grads) = dask_step(), numpy_step()
        for _ in range(args.rounds):
            for name, step in (("dask", dask_step), ("numpy", numpy_step)):
                start = time.perf_counter()
                step()
                timings[name].append(time.perf_counter() - start)
    difference = max(
        [abs(value - expected) / abs(expected)]
        + [float(np.abs(grads[k] - g).max() / np.abs(g).max()) for k, g in expected_grads.items()]
    )
    dask_seconds, numpy_seconds = (statistics.median(timings[n]) for n in ("dask", "numpy"))
    ratio = dask_seconds / numpy_seconds
    net = "-".join(map(str, args.sizes))
    print(
        f"dask {net}, {args.samples} rows in {chunks} chunks of {args.chunk}"
        f"{' (sizes unknown)' if args.unknown_chunks else ''}, {args.workers} workers x 1 "
        f"thread: {dask_seconds:.3f} s a step ({tasks / chunks:.2f} tasks a chunk); NumPy module "
        f"in one process ({blas_threads} BLAS threads): "
        f"{numpy_seconds:.3f} s; ratio {ratio:.2f} "
        f"({'within' if ratio <= LIMIT else 'above'} {LIMIT}); medians of {args.rounds} rounds; "
        f"largest relative difference {difference:.1e}; load average {load_before:.2f} before, "
        f"{os.getloadavg()[0]:.2f} after"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
