"""The Dask example computes the NumPy module's full-batch loss and gradient on worker processes.

``examples/dask_full_batch.py`` runs small here (a 6-5-3 network, 1200 rows in 8 chunks, two
worker processes of a distributed ``LocalCluster``), once with known chunk sizes and once with
unknown ones (its rows filtered): its first loss and gradient must equal the NumPy module's on
the same rows to 1e-12 relative, each step's graph must have at most two tasks per chunk besides
the data's, and gradient descent with them must lower the loss.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

import symgrad

ROOT = Path(__file__).resolve().parents[1]
SIZES = (6, 5, 3)


def _example() -> ModuleType:
    path = ROOT / "examples" / "dask_full_batch.py"
    spec = importlib.util.spec_from_file_location("dask_full_batch", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up by name
    spec.loader.exec_module(module)
    return module


def test_dask_example_equals_the_numpy_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("distributed")
    from distributed import Client, LocalCluster

    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path / "cache"))
    example = _example()
    reports = {}
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        pids = set(client.run(os.getpid).values())
        assert len(pids) == 2 and os.getpid() not in pids  # two worker processes
        for unknown in (False, True):
            reports[unknown] = example.run(
                SIZES, 1200, 150, 3, 0.5, client, compare=True, seed=4, unknown_chunks=unknown
            )
        X, labels = client.gather(client.compute(list(example.data_set(SIZES, 1200, 150, 4))))
    # The reference, made here: the NumPy module on the same rows and the same parameters.
    reference = symgrad.load(SIZES, cache_dir=tmp_path / "reference")
    value, grads = reference.loss_and_gradients(reference.init_params(4), X, labels)
    for report in reports.values():
        assert abs(report.losses[0] - value) <= 1e-12 * abs(value)
        for key, grad in grads.items():
            scale = float(np.abs(grad).max())
            assert float(np.abs(report.gradients[key] - grad).max()) <= 1e-12 * scale, key
        assert report.difference is not None and report.difference <= 1e-12
        assert report.tasks_per_chunk is not None and 1 <= report.tasks_per_chunk <= 2
        assert report.losses[-1] < report.losses[0]
