"""Full-batch loss and gradient on a Dask cluster with symgrad's generated module, and a few steps
of gradient descent with it.

The data set (``--samples`` rows of ``n_0`` features and integer class labels) is made on the
workers chunk by chunk (``--chunk`` rows each) and stays there. Each step is one Dask graph, built
by ``symgrad.interop.dask_loss_and_gradients``: one task per chunk, which runs the NumPy module
``symgrad.load(SIZES)`` on that chunk and returns its sums, then a tree of additions. The
parameters travel to the workers once per step and only the loss and the gradients come back; a
progress bar follows the cluster. ``--unknown-chunks`` filters the rows first, which leaves chunk
sizes unknown (``nan``), as reading a data set with ``dask.dataframe`` does. With ``--compare``
the same rows are brought here and the NumPy module computes the same numbers in this process,
for the largest relative difference and the wall times of both.

    python examples/dask_full_batch.py [--sizes 784 128 10] [--samples 200000] [--chunk 20000]
                                       [--workers 2] [--steps 3] [--compare] [--unknown-chunks]
                                       [--scheduler tcp://HOST:8786]

Without ``--scheduler`` a ``LocalCluster`` of ``--workers`` worker processes (one thread each)
runs on this machine; with it, the script connects to that scheduler instead.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import dask
import dask.array as da
import numpy as np
from distributed import Client, LocalCluster, progress

import symgrad
from symgrad.interop import dask_loss_and_gradients


def data_set(
    sizes: Sequence[int], samples: int, chunk: int, seed: int, unknown_chunks: bool = False
) -> tuple[Any, Any]:
    """Lazy inputs ``(samples, n_0)`` and class labels, chunked along the rows.

    Each chunk is drawn on a worker from ``seed``; the label of a row is the class a fixed random
    linear teacher gives it, so there is something to learn. With ``unknown_chunks`` the rows
    pass a filter (which keeps them all), so Dask no longer knows how many each chunk has. On a
    real data set, read the chunks from storage instead (``da.from_zarr``,
    ``dask.dataframe.read_parquet(...).to_dask_array()``).
    """
    rng = da.random.default_rng(seed)
    X = rng.standard_normal((samples, sizes[0]), chunks=(chunk, sizes[0]))
    teacher = np.random.default_rng(seed + 1).standard_normal((sizes[0], sizes[-1]))
    labels = da.argmax(X @ teacher, axis=1)
    if unknown_chunks:
        keep = da.isfinite(X[:, 0])
        X, labels = X[keep], labels[keep]
    return X, labels


@dataclass
class Report:
    """What a run measured: losses per step, the first gradient, wall times, the comparison."""

    losses: list[float] = field(default_factory=list)
    gradients: dict[str, np.ndarray] = field(default_factory=dict)
    seconds_per_step: list[float] = field(default_factory=list)
    tasks_per_chunk: float | None = None
    numpy_loss: float | None = None
    numpy_gradients: dict[str, np.ndarray] = field(default_factory=dict)
    numpy_seconds: float | None = None
    difference: float | None = None


def full_batch(
    client: Client, module: ModuleType, params: dict[str, np.ndarray], X: Any, labels: Any
) -> tuple[float, dict[str, np.ndarray], int]:
    """The mean loss over every row and its gradient, computed on the cluster; and the number of
    tasks the step adds to those of the data."""
    step = dask_loss_and_gradients(module, params, X, labels)  # a lazy graph, nothing runs yet
    data = set(X.__dask_graph__()) | set(labels.__dask_graph__())
    tasks = len(set(step.__dask_graph__()) - data)  # the step's own tasks
    future = client.compute(step)
    progress(future)  # a text progress bar on stdout until the cluster is done
    print()
    value, grads = future.result()
    return value, grads, tasks


def run(
    sizes: Sequence[int],
    samples: int,
    chunk: int,
    steps: int,
    learning_rate: float,
    client: Client,
    compare: bool = False,
    seed: int = 0,
    unknown_chunks: bool = False,
) -> Report:
    """Train ``steps`` steps of full-batch gradient descent on the cluster behind ``client``."""
    module = symgrad.load(sizes)  # the NumPy module, generated once and cached
    X, labels = data_set(sizes, samples, chunk, seed, unknown_chunks)
    X, labels = client.persist([X, labels])  # drawn once, kept on the workers
    progress([X, labels])
    print()
    chunks = X.numblocks[0]
    print(f"data: {samples} rows of {sizes[0]} features in {chunks} chunks of {chunk}")
    report = Report()
    params = module.init_params(seed)
    first = dict(params)
    for step in range(steps):
        start = time.perf_counter()
        value, grads, tasks = full_batch(client, module, params, X, labels)
        report.seconds_per_step.append(time.perf_counter() - start)
        report.losses.append(value)
        if step == 0:
            report.gradients = grads
            report.tasks_per_chunk = tasks / chunks
        print(f"step {step}: loss {value:.6f} ({report.seconds_per_step[-1]:.2f} s, {tasks} tasks)")
        params = {k: params[k] - learning_rate * grads[k] for k in params}
    if compare:
        _compare(report, module, first, X, labels)
    return report


def _compare(
    report: Report, module: ModuleType, params: dict[str, np.ndarray], X: Any, labels: Any
) -> None:
    """The NumPy module on the same rows in this process: numbers and wall time."""
    X_here, labels_here = dask.compute(X, labels)
    module.loss_and_gradients(params, X_here[:1000], labels_here[:1000])  # warm-up
    times = []
    for _ in range(3):
        start = time.perf_counter()
        value, grads = module.loss_and_gradients(params, X_here, labels_here)
        times.append(time.perf_counter() - start)
    report.numpy_seconds = statistics.median(times)
    report.numpy_loss, report.numpy_gradients = value, grads
    differences = [abs(report.losses[0] - value) / abs(value)]
    for key, grad in grads.items():
        scale = float(np.abs(grad).max())
        differences.append(float(np.abs(report.gradients[key] - grad).max()) / scale)
    report.difference = max(differences)
    dask_seconds = statistics.median(report.seconds_per_step[1:] or report.seconds_per_step)
    print(
        f"NumPy module in this process: loss {value:.6f} in {report.numpy_seconds:.2f} s "
        f"(the cluster: {dask_seconds:.2f} s a step, "
        f"{dask_seconds / report.numpy_seconds:.2f}x); largest relative difference from the "
        f"cluster's loss and gradients {report.difference:.1e}"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[784, 128, 10])
    parser.add_argument("--samples", type=int, default=200_000)
    parser.add_argument("--chunk", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2, help="local worker processes")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--learning-rate", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--compare", action="store_true", help="also run the NumPy module here")
    parser.add_argument(
        "--unknown-chunks", action="store_true", help="filter the rows: chunk sizes unknown"
    )
    parser.add_argument("--scheduler", help="address of a running Dask scheduler to use")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def go(client: Client) -> Report:
        return run(
            args.sizes,
            args.samples,
            args.chunk,
            args.steps,
            args.learning_rate,
            client,
            compare=args.compare,
            seed=args.seed,
            unknown_chunks=args.unknown_chunks,
        )

    if args.scheduler:
        with Client(args.scheduler) as client:
            go(client)
        return 0
    # Worker processes, one thread each: the workers share nothing but the scheduler's messages,
    # as on a real cluster.
    with (
        LocalCluster(
            n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        go(client)
    return 0


if __name__ == "__main__":
    sys.exit(main())
