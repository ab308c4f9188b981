"""``symgrad.interop.dask_loss_and_gradients``: a data set's loss and gradient, one task a chunk.

On small data sets (Dask's threaded and process schedulers; the example's test runs a
distributed cluster): the loss and every gradient equal those of the NumPy module on all the rows
to 1e-12; the graph has at most two tasks per chunk besides those of the inputs, and holds the
parameters once (its tasks, each pickled as a scheduler sends it, do not grow by the parameters
per chunk, as they do when every task holds them); chunk sizes that are unknown (``nan``, as a
boolean mask or ``dask.dataframe`` gives them) are accepted, empty chunks too; mismatched chunks
and modules without their source, which cannot travel, are refused with a clear error.
"""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import symgrad
from symgrad import cache
from symgrad.interop import dask_loss_and_gradients

da = pytest.importorskip("dask.array")

SIZES = [6, 5, 3]
ROWS, CHUNK = 1200, 150


@pytest.fixture(scope="module")
def modules(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("dask-cache")
    return {
        "numpy": symgrad.load(SIZES, cache_dir=folder),
        "array-api": symgrad.load(SIZES, "array-api", cache_dir=folder),
    }


def _data(labels: bool = True) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2)
    X = rng.standard_normal((ROWS, SIZES[0]))
    Y = rng.integers(0, SIZES[-1], ROWS) if labels else rng.dirichlet(np.ones(3), size=ROWS)
    return X, Y


def _assert_equal(result: Any, expected: Any) -> None:
    value, grads = result
    expected_value, expected_grads = expected
    assert abs(value - expected_value) <= 1e-12 * abs(expected_value)
    assert set(grads) == set(expected_grads)
    for key, grad in expected_grads.items():
        scale = float(np.abs(grad).max())
        assert float(np.abs(grads[key] - grad).max()) <= 1e-12 * scale, key


@pytest.mark.parametrize("target", ["numpy", "array-api"])
@pytest.mark.parametrize("labels", [True, False], ids=["labels", "rows"])
def test_the_loss_and_gradient_of_all_rows(
    modules: dict[str, Any], target: str, labels: bool
) -> None:
    module = modules[target]
    X, Y = _data(labels)
    params = module.init_params(3)
    lazy = dask_loss_and_gradients(
        module, params, da.from_array(X, chunks=(CHUNK, 6)), da.from_array(Y, chunks=200)
    )
    _assert_equal(lazy.compute(), modules["numpy"].loss_and_gradients(params, X, Y))


@pytest.mark.parametrize("target", ["numpy", "array-api"])
def test_sample_weights_weigh_the_mean(modules: dict[str, Any], target: str) -> None:
    """Weights chunked otherwise than X (rechunked to it), a chunk of weights all 0 adding
    nothing: the module's weighted loss and gradient of every row."""
    module = modules[target]
    X, Y = _data()
    weights = np.random.default_rng(5).uniform(0.0, 2.0, ROWS)
    weights[:CHUNK] = 0.0
    params = module.init_params(1)
    lazy = dask_loss_and_gradients(
        module,
        params,
        da.from_array(X, chunks=(CHUNK, 6)),
        da.from_array(Y, chunks=CHUNK),
        sample_weight=da.from_array(weights, chunks=CHUNK + 7),
    )
    expected = modules["numpy"].loss_and_gradients(params, X, Y, sample_weight=weights)
    _assert_equal(lazy.compute(), expected)
    nothing = dask_loss_and_gradients(
        module, params, da.from_array(X), da.from_array(Y), sample_weight=np.zeros(ROWS)
    )
    with pytest.raises(ValueError, match="sample_weight sums to 0"):
        nothing.compute()


def _added(lazy: Any, *inputs: Any) -> dict[Any, Any]:
    """The tasks of ``lazy``'s graph that are not tasks of the ``inputs``' graphs."""
    graph = dict(lazy.__dask_graph__())
    own = set().union(*(set(array.__dask_graph__()) for array in inputs))
    return {key: task for key, task in graph.items() if key not in own}


def _bytes(tasks: dict[Any, Any]) -> int:
    """What sending each task on its own takes, as a scheduler sends them to workers."""
    return sum(len(pickle.dumps(task)) for task in tasks.values())


def test_at_most_two_tasks_a_chunk_and_the_parameters_once(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # Parameters of 32 kB, far more than a task: held by every task, they would show.
    module = symgrad.load([6, 400, 3], cache_dir=tmp_path_factory.mktemp("wide"))
    params = module.init_params(0)
    counts, sizes = [], []
    for chunks in (4, 32):
        rng = da.random.default_rng(0)
        X = rng.standard_normal((chunks * 50, 6), chunks=(50, 6))
        Y = rng.integers(0, 3, chunks * 50, chunks=50)
        added = _added(dask_loss_and_gradients(module, params, X, Y), X, Y)
        counts.append(len(added) / chunks)
        sizes.append(_bytes(added))
    assert max(counts) <= 2, counts
    # Eight times the chunks: the tasks grow, the parameters do not (one node, sent once).
    assert sizes[1] - sizes[0] < len(pickle.dumps(params)), sizes


def test_the_graph_would_grow_if_every_task_held_the_parameters(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The measure of the test above on a graph that puts the parameters in every task."""
    import dask

    module = symgrad.load([6, 400, 3], cache_dir=tmp_path_factory.mktemp("wide"))
    params = module.init_params(0)
    sizes = []
    for chunks in (4, 32):
        X = da.random.default_rng(0).standard_normal((chunks * 50, 6), chunks=(50, 6))
        parts = [dask.delayed(np.sum)(x, params["W1"]) for x in X.to_delayed().ravel()]
        sizes.append(_bytes(_added(dask.delayed(sum)(parts), X)))
    assert sizes[1] - sizes[0] > 20 * len(pickle.dumps(params["W1"]))


def test_unknown_and_empty_chunks_are_accepted(modules: dict[str, Any]) -> None:
    module = modules["array-api"]
    X, Y = _data()
    Xd, Yd = da.from_array(X, chunks=(CHUNK, 6)), da.from_array(Y, chunks=CHUNK)
    # A filter as a data pipeline has one: sizes unknown until computed; chunk 2 left empty.
    keep = (Xd[:, 0] > -np.inf) & ((da.arange(ROWS, chunks=CHUNK) // CHUNK) != 2)
    Xu, Yu = Xd[keep], Yd[keep]
    assert np.isnan(Xu.chunks[0][0]) and np.isnan(Yu.chunks[0][0])
    params = module.init_params(4)
    rows = (np.arange(ROWS) // CHUNK) != 2
    expected = modules["numpy"].loss_and_gradients(params, X[rows], Y[rows])
    _assert_equal(dask_loss_and_gradients(module, params, Xu, Yu).compute(), expected)


def test_chunks_that_cannot_be_matched_are_refused(modules: dict[str, Any]) -> None:
    module = modules["numpy"]
    X, Y = _data()
    Xd = da.from_array(X, chunks=(CHUNK, 6))
    Xu = Xd[Xd[:, 0] > -np.inf]
    with pytest.raises(ValueError, match="chunked differently"):
        dask_loss_and_gradients(module, module.init_params(0), Xu, da.from_array(Y, chunks=100))
    with pytest.raises(ValueError, match="1200 rows and Y 1199"):
        dask_loss_and_gradients(module, module.init_params(0), Xd, da.from_array(Y[:-1]))
    with pytest.raises(ValueError, match="no rows"):
        empty = Xd[Xd[:, 0] > np.inf]
        dask_loss_and_gradients(module, module.init_params(0), empty, empty[:, 0]).compute()


def test_a_module_without_its_source_is_refused(
    modules: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A module made in memory has no source to send; one whose cached file is gone still has
    the source it was made from, from its loader."""
    X, Y = _data()
    params = modules["numpy"].init_params(0)
    copy = ModuleType("copy")
    vars(copy).update({k: v for k, v in vars(modules["numpy"]).items() if not k.startswith("__")})
    with pytest.raises(ValueError, match="symgrad.load"):
        dask_loss_and_gradients(copy, params, da.from_array(X), da.from_array(Y))
    monkeypatch.setattr(cache, "_MODULES", {})  # as in a new process
    module = symgrad.load(SIZES, cache_dir=tmp_path / "gone")
    assert Path(module.__file__).is_relative_to(tmp_path / "gone")
    shutil.rmtree(tmp_path / "gone")
    lazy = dask_loss_and_gradients(module, params, da.from_array(X, chunks=300), da.from_array(Y))
    _assert_equal(lazy.compute(), modules["numpy"].loss_and_gradients(params, X, Y))


def test_worker_processes_import_the_module_from_its_text(modules: dict[str, Any]) -> None:
    """Dask's process scheduler: every task is pickled to another process, which has never seen
    the module."""
    module = modules["numpy"]
    X, Y = _data()
    params = module.init_params(5)
    lazy = dask_loss_and_gradients(
        module, params, da.from_array(X, chunks=(300, 6)), da.from_array(Y, chunks=300)
    )
    result = lazy.compute(scheduler="processes", num_workers=2)
    _assert_equal(result, module.loss_and_gradients(params, X, Y))
