"""The float type of generated code: half precision in float32 (never float64), and the mixes.

The rule (README, module docstrings): float64 when some parameter or ``X`` is float64; else
float32 when every one is float32, float16 or bfloat16, or some is half precision (integers and
booleans then join it); else float64 (float32 with integers, or only integers). On the NumPy
module (both styles), the array-API module on NumPy, PyTorch and JAX, and the C object, every
result (``loss``, ``forward``, each gradient) has the type the rule gives; in the Python modules
the numbers are exactly those the same library gives for the inputs converted to that type
first: half precision is widened, not computed in float64 and rounded back. JAX without x64 has
no float64: there the module computes in float32, without the warning JAX gives for every
request of float64.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import ml_dtypes
import numpy as np
import pytest

import symgrad

HALF = {"float16": np.float16, "bfloat16": ml_dtypes.bfloat16}
#: (dtype of the parameters, dtype of X) -> dtype of every result.
MIXES = {
    ("float16", "float16"): np.float32,
    ("bfloat16", "bfloat16"): np.float32,
    ("float32", "float16"): np.float32,
    ("bfloat16", "float32"): np.float32,
    ("float16", "int64"): np.float32,
    ("float32", "float64"): np.float64,
    ("float64", "float32"): np.float64,
    ("float16", "float64"): np.float64,
    ("float32", "int64"): np.float64,
    ("float32", "float32"): np.float32,
}


def _dtype(name: str) -> Any:
    return HALF.get(name, np.dtype(name))


@pytest.fixture(scope="module")
def modules(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("dtypes-cache")
    return {
        "numpy-vectorized": symgrad.load([3, 4, 2], cache_dir=folder),
        "numpy-unrolled": symgrad.load([3, 4, 2], style="unrolled", cache_dir=folder),
        "array-api": symgrad.load([3, 4, 2], "array-api", cache_dir=folder),
    }


def _data(params_dtype: str, x_dtype: str) -> tuple[dict[str, np.ndarray], np.ndarray, Any]:
    rng = np.random.default_rng(5)
    params = {
        "W1": rng.standard_normal((4, 3)),
        "b1": rng.standard_normal(4),
        "W2": rng.standard_normal((2, 4)),
        "b2": rng.standard_normal(2),
    }
    X = rng.standard_normal((6, 3)) * 3
    cast = {k: v.astype(_dtype(params_dtype)) for k, v in params.items()}
    return cast, X.astype(_dtype(x_dtype)), np.arange(6) % 2


def _widened(params: dict[str, np.ndarray], X: np.ndarray, dtype: Any) -> tuple[dict, Any]:
    return {k: v.astype(dtype) for k, v in params.items()}, X.astype(dtype)


Run = Callable[[Any, dict[str, np.ndarray], np.ndarray, np.ndarray], tuple[Any, Any, dict]]


def _on_numpy(module: Any, params: dict, X: np.ndarray, Y: np.ndarray) -> tuple[Any, Any, dict]:
    value, grads = module.loss_and_gradients(params, X, Y)
    loss = np.asarray(module.loss(params, X, Y))
    return loss, module.forward(params, X), {"value": value, **grads}


def _on_torch(module: Any, params: dict, X: np.ndarray, Y: np.ndarray) -> tuple[Any, Any, dict]:
    torch = pytest.importorskip("torch")

    def tensor(array: np.ndarray) -> Any:
        if array.dtype == ml_dtypes.bfloat16:  # torch reads no ml_dtypes array: same bits
            return torch.from_numpy(array.view(np.int16)).view(torch.bfloat16)
        return torch.from_numpy(array)

    tensors = {k: tensor(v) for k, v in params.items()}
    value, grads = module.loss_and_gradients(tensors, tensor(X), torch.from_numpy(Y))
    loss = module.loss(tensors, tensor(X), torch.from_numpy(Y))
    outputs = {"value": value, **grads}
    return loss, module.forward(tensors, tensor(X)), outputs


def _on_jax(module: Any, params: dict, X: np.ndarray, Y: np.ndarray) -> tuple[Any, Any, dict]:
    jax = pytest.importorskip("jax")
    with jax.enable_x64(True):
        arrays = {k: jax.numpy.asarray(v) for k, v in params.items()}
        value, grads = jax.jit(module.loss_and_gradients)(arrays, jax.numpy.asarray(X), Y)
        loss = jax.jit(module.loss)(arrays, jax.numpy.asarray(X), Y)
        forward = jax.jit(module.forward)(arrays, jax.numpy.asarray(X))
        return loss, forward, {"value": value, **grads}


RUNS: dict[str, tuple[str, Run]] = {
    "numpy-vectorized": ("numpy-vectorized", _on_numpy),
    "numpy-unrolled": ("numpy-unrolled", _on_numpy),
    "array-api-numpy": ("array-api", _on_numpy),
    "array-api-torch": ("array-api", _on_torch),
    "array-api-jax": ("array-api", _on_jax),
}


def _same(value: Any, expected: Any) -> bool:
    return np.array_equal(np.asarray(value, np.float64), np.asarray(expected, np.float64))


def _kind(value: Any) -> str:
    """The dtype name of an array of any library (``torch.float32`` -> ``float32``)."""
    return str(value.dtype).rsplit(".", 1)[-1]


@pytest.mark.parametrize("run", list(RUNS))
@pytest.mark.parametrize("mix", list(MIXES), ids=[f"{p}-params-{x}-X" for p, x in MIXES])
def test_results_have_the_type_of_the_rule_and_its_numbers(
    modules: dict[str, Any], run: str, mix: tuple[str, str]
) -> None:
    module_name, on = RUNS[run]
    module = modules[module_name]
    expected = MIXES[mix]
    params, X, Y = _data(*mix)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss, forward, outputs = on(module, params, X, Y)
        wide_params, wide_X = _widened(params, X, expected)
        _, reference_forward, reference = on(module, wide_params, wide_X, Y)
    expected_name = np.dtype(expected).name
    if run.startswith("numpy"):  # loss is a Python float there, by the module's contract
        assert isinstance(outputs.pop("value"), float)
    else:
        assert _kind(loss) == expected_name
    assert _kind(forward) == expected_name
    for key, value in outputs.items():
        assert _kind(value) == expected_name, key
    # Exactly the numbers the same library gives for the inputs converted first.
    assert _same(forward, reference_forward)
    for key, value in outputs.items():
        assert _same(value, reference[key]), key


def test_jax_without_x64_and_integer_inputs_computes_in_float32_quietly(
    modules: dict[str, Any],
) -> None:
    jax = pytest.importorskip("jax")
    module = modules["array-api"]
    params, X, Y = _data("float32", "float32")
    with jax.enable_x64(False):
        arrays = {k: jax.numpy.asarray(v) for k, v in params.items()}
        X_int = jax.numpy.asarray(np.round(X).astype(np.int32))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            for _ in range(3):
                value, grads = module.loss_and_gradients(arrays, X_int, jax.numpy.asarray(Y))
                forward = module.forward(arrays, X_int)
        assert value.dtype == np.float32 and forward.dtype == np.float32
        assert all(g.dtype == np.float32 for g in grads.values())
        # The same numbers as float32 X given by the caller.
        same, _ = module.loss_and_gradients(arrays, X_int.astype(np.float32), Y)
        assert float(same) == float(value)


def test_jax_without_x64_warns_for_float64() -> None:
    """The warning that test guards against: JAX warns when float64 is asked for without x64."""
    jax = pytest.importorskip("jax")
    with jax.enable_x64(False), pytest.warns(UserWarning, match="float64"):
        jax.numpy.astype(jax.numpy.asarray([1, 2]), jax.numpy.float64)


def test_the_c_object_follows_the_same_rule(tmp_path: Any) -> None:
    """The compiled C file computes in its own ``real_t``; its results follow the rule."""
    net = symgrad.load([3, 4, 2], "c", cache_dir=tmp_path)
    for mix, expected in MIXES.items():
        params, X, Y = _data(*mix)
        value, grads = net.loss_and_gradients(params, X, Y)
        assert isinstance(value, float)
        assert net.forward(params, X).dtype == expected, mix
        assert {g.dtype for g in grads.values()} == {np.dtype(expected)}, mix
