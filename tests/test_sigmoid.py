"""The sigmoid of generated code keeps its full relative accuracy on both sides of 0, everywhere.

Every target and every path computes ``sigma(a) = 1/(1 + e^{-a})`` as
``exp(min(a, 0))/(1 + exp(-|a|))``: ``1/(1 + e^{-a})`` for ``a >= 0``, ``e^a/(1 + e^a)`` below;
the array-API module calls PyTorch's own sigmoid on PyTorch tensors, measured here the same way.
Two networks expose it as their prediction
(with ``W = 1`` and ``b = 0``, so that ``a`` is exactly the input): a sigmoid hidden unit under
an identity output (the activation's code form) and a sigmoid output unit (the output's). On a
grid of ``[-700, 700]`` with random points and points near 0, wherever the value is a normal
number, the relative error against a 50-digit reference must stay below 1e-15 in float64 and
1e-6 in float32, for the NumPy module (vectorized; unrolled on a batch and on one sample), the
array-API module (NumPy, ``array_api_strict``, PyTorch, JAX, Dask) and C (unrolled and looped,
double and float). The form it replaces, ``(1 + tanh(a/2))/2``, fails the same measure (0 below
``a = -38``). At ``|a| = 1e4`` the value is exactly 0 or 1, finite, and raises no warning.

The symbolic proof proves the form case by case on the sign of ``a``, and the form with a sign
slip (``exp(max(a, 0))`` on top) fails to prove.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mpmath
import numpy as np
import pytest
import sympy as sp

import symgrad
from symgrad import NetworkSpec, arrays, catalogue, derive
from symgrad.errors import ProofError
from symgrad.expressions import X
from symgrad.proof.identities import zero_by_sign

#: The two networks whose prediction is sigma(x), with the options of ``symgrad.load``.
NETS: dict[str, dict[str, Any]] = {
    "hidden": {"sizes": [1, 1, 1], "output": "identity", "loss": "squared-error"},
    "output": {"sizes": [1, 1], "output": "sigmoid"},
}
TOLERANCE = {np.float64: 1e-15, np.float32: 1e-6}
#: Below these the value of sigma is subnormal (float64) or not a normal float32.
LOWEST = {np.float64: -700.0, np.float32: -87.0}


def _points(dtype: type) -> np.ndarray:
    rng = np.random.default_rng(7)
    low = LOWEST[dtype]
    grid = np.linspace(low, 700.0, 2801)
    near_zero = np.concatenate([10.0 ** -np.arange(1, 20), -(10.0 ** -np.arange(1, 20)), [0.0]])
    points = np.concatenate([grid, rng.uniform(low, 700.0, 400), rng.uniform(-40, 40, 400)])
    return np.concatenate([points, near_zero]).astype(dtype)


def _exact(points: np.ndarray) -> np.ndarray:
    with mpmath.workdps(50):
        return np.array([float(1 / (1 + mpmath.exp(-mpmath.mpf(float(a))))) for a in points])


def _params(sizes: list[int], dtype: type) -> dict[str, np.ndarray]:
    params = {}
    for k in range(1, len(sizes)):
        params[f"W{k}"] = np.ones((sizes[k], sizes[k - 1]), dtype=dtype)
        params[f"b{k}"] = np.zeros(sizes[k], dtype=dtype)
    return params


def _worst(values: Any, points: np.ndarray, exact: np.ndarray) -> float:
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    assert values.shape == points.shape
    return float(np.max(np.abs(values - exact) / exact))


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sigmoid-cache")


@pytest.fixture(scope="module", params=[np.float64, np.float32], ids=["float64", "float32"])
def grid(request: pytest.FixtureRequest) -> tuple[type, np.ndarray, np.ndarray]:
    dtype = request.param
    points = _points(dtype)
    return dtype, points, _exact(points)


Forward = Callable[[dict[str, Any], np.ndarray], Any]


def _library_forwards(module: Any, dtype: type) -> dict[str, Forward]:
    """``forward`` of an array-API module on each library, taking and giving NumPy arrays."""
    torch = pytest.importorskip("torch")
    jax = pytest.importorskip("jax")
    strict = pytest.importorskip("array_api_strict")
    da = pytest.importorskip("dask.array")
    torch_dtype = {np.float64: torch.float64, np.float32: torch.float32}[dtype]

    def on_torch(params: dict[str, Any], X: np.ndarray) -> Any:
        tensors = {k: torch.asarray(v, dtype=torch_dtype) for k, v in params.items()}
        return module.forward(tensors, torch.asarray(X, dtype=torch_dtype)).numpy()

    def on_jax(params: dict[str, Any], X: np.ndarray) -> Any:
        with jax.enable_x64(dtype == np.float64):
            arrays = {k: jax.numpy.asarray(v) for k, v in params.items()}
            result = jax.jit(module.forward)(arrays, jax.numpy.asarray(X))
            assert result.dtype == dtype
            return np.asarray(result)

    def on_strict(params: dict[str, Any], X: np.ndarray) -> Any:
        arrays = {k: strict.asarray(v) for k, v in params.items()}
        return np.asarray(module.forward(arrays, strict.asarray(X)))

    def on_dask(params: dict[str, Any], X: np.ndarray) -> Any:
        arrays = {k: da.from_array(v) for k, v in params.items()}
        return module.forward(arrays, da.from_array(X, chunks=(500, 1))).compute()

    return {
        "numpy": lambda params, X: module.forward(params, X),
        "torch": on_torch,
        "jax": on_jax,
        "array-api-strict": on_strict,
        "dask": on_dask,
    }


def _forwards(name: str, cache: Path, dtype: type) -> dict[str, Forward]:
    """Every way generated code computes the prediction of the network ``name``."""
    options = dict(NETS[name])
    sizes = options.pop("sizes")
    vectorized = symgrad.load(sizes, **options, cache_dir=cache)
    unrolled = symgrad.load(sizes, **options, style="unrolled", cache_dir=cache)

    def one_at_a_time(params: dict[str, Any], X: np.ndarray) -> np.ndarray:
        return np.array([unrolled.forward(params, row) for row in X[::10]])

    forwards: dict[str, Forward] = {
        "numpy-vectorized": vectorized.forward,
        "numpy-unrolled-batch": unrolled.forward,
        "numpy-unrolled-one-sample": one_at_a_time,
    }
    array_api = symgrad.load(sizes, "array-api", **options, cache_dir=cache)
    for library, forward in _library_forwards(array_api, dtype).items():
        forwards[f"array-api-{library}"] = forward
    c_type = "double" if dtype == np.float64 else "float"
    for form in ("unrolled", "looped"):
        net = symgrad.load(sizes, "c", **options, style=form, dtype=c_type, cache_dir=cache)
        forwards[f"c-{form}"] = net.forward
    return forwards


@pytest.mark.parametrize("name", list(NETS))
def test_every_target_computes_the_sigmoid_to_full_relative_accuracy(
    name: str, cache: Path, grid: tuple[type, np.ndarray, np.ndarray]
) -> None:
    dtype, points, exact = grid
    params = _params(NETS[name]["sizes"], dtype)
    X = points.reshape(-1, 1)
    errors = {}
    for path, forward in _forwards(name, cache, dtype).items():
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with np.errstate(over="raise", invalid="raise", divide="raise"):
                values = np.asarray(forward(params, X))
        assert values.dtype == dtype, path
        if path.endswith("one-sample"):
            errors[path] = _worst(values, points[::10], exact[::10])
        else:
            errors[path] = _worst(values, points, exact)
    assert all(error < TOLERANCE[dtype] for error in errors.values()), errors


@pytest.mark.parametrize("name", list(NETS))
def test_the_sigmoid_is_exact_and_quiet_at_the_extremes(name: str, cache: Path) -> None:
    params = _params(NETS[name]["sizes"], np.float64)
    X = np.array([[1e4], [-1e4], [745.0], [-745.0], [-746.0]])
    for path, forward in _forwards(name, cache, np.float64).items():
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with np.errstate(over="raise", invalid="raise", divide="raise"):
                values = np.asarray(forward(params, X), dtype=np.float64).reshape(-1)
        if path.endswith("one-sample"):  # the rows X[::10]: the first alone
            assert values.tolist() == [1.0], path
            continue
        assert values[0] == 1.0 and values[1] == 0.0, path
        # sigma(-745) is the smallest subnormal, which XLA flushes to 0.
        assert values[2] == 1.0 and 0.0 <= values[3] < 1e-323 and values[4] == 0.0, path


def test_the_form_it_replaced_fails_the_same_measure() -> None:
    """``(1 + tanh(a/2))/2`` in float64 on the same grid: far from 1e-15 below 0."""
    points = _points(np.float64)
    old = 0.5 * np.tanh(0.5 * points) + 0.5
    exact = _exact(points)
    assert _worst(old, points, exact) == 1.0  # 0 where the value is 1e-17 and less
    assert _worst(old[points >= 0], points[points >= 0], exact[points >= 0]) < 1e-15


def test_the_proof_covers_the_form_by_the_sign_of_a() -> None:
    sigmoid = catalogue.ACTIVATIONS["sigmoid"]
    assert isinstance(sigmoid.code_function, arrays.Logistic)
    assert zero_by_sign(
        arrays.written_out(sigmoid.code_function, arrays.Logistic) - sigmoid.function
    )
    assert not zero_by_sign(_slipped(X) - sigmoid.function)


def _slipped(z: sp.Expr) -> sp.Expr:
    """The code form with ``z + |z|`` for ``z - |z|``: right for ``z <= 0``, wrong above."""
    return sp.exp((z + sp.Abs(z)) / 2) / (1 + sp.exp(-sp.Abs(z)))


@pytest.mark.parametrize("where", ["activation", "output"])
def test_a_sigmoid_with_a_sign_slip_fails_to_prove(
    where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    slipped = _slipped(X)
    if where == "activation":
        wrong = dataclasses.replace(catalogue.ACTIVATIONS["sigmoid"], stable=slipped)
        spec = dataclasses.replace(NetworkSpec.parse([2, 2, 2]), activations=(wrong,))
        message = "code's g of activation sigmoid"
    else:
        row = slipped.xreplace({X: arrays.ROW_A})
        wrong_output = dataclasses.replace(catalogue.OUTPUTS_BY_NAME["sigmoid"], code=row)
        pair = catalogue.PAIRS_BY_NAMES[("sigmoid", "binary-cross-entropy")]
        monkeypatch.setitem(
            catalogue.PAIRS_BY_NAMES,
            ("sigmoid", "binary-cross-entropy"),
            dataclasses.replace(pair, output=wrong_output),
        )
        spec = NetworkSpec.parse([2, 2, 2], activation="tanh", output="sigmoid")
        message = "code's sigmoid output"
    with pytest.raises(ProofError, match=message):
        derive(spec)


def _on_torch_and_numpy(module: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The hidden network's prediction (its sigmoid) on the float64 grid, from ``module`` on
    PyTorch tensors and on NumPy arrays, and PyTorch's own sigmoid of the grid."""
    torch = pytest.importorskip("torch")
    points = _points(np.float64)
    params = _params(NETS["hidden"]["sizes"], np.float64)
    tensors = {k: torch.asarray(v) for k, v in params.items()}
    X = points.reshape(-1, 1)
    on_torch = module.forward(tensors, torch.asarray(X)).numpy().reshape(-1)
    on_numpy = np.asarray(module.forward(params, X)).reshape(-1)
    return on_torch, on_numpy, torch.sigmoid(torch.asarray(points)).numpy()


def test_the_array_api_module_calls_torchs_own_sigmoid_on_torch_tensors(cache: Path) -> None:
    """PyTorch's sigmoid is one kernel where the stable form is five: on tensors the module's
    sigmoid is PyTorch's, bit for bit; on NumPy arrays it is the NumPy module's form."""
    options = dict(NETS["hidden"])
    sizes = options.pop("sizes")
    module = symgrad.load(sizes, "array-api", **options, cache_dir=cache)
    numpy_module = symgrad.load(sizes, **options, cache_dir=cache)
    on_torch, on_numpy, native = _on_torch_and_numpy(module)
    assert np.array_equal(on_torch, native)
    X = _points(np.float64).reshape(-1, 1)
    expected = numpy_module.forward(_params(sizes, np.float64), X).reshape(-1)
    assert np.array_equal(on_numpy, expected)


def test_a_module_that_never_calls_torchs_sigmoid_is_told_apart(
    cache: Path, tmp_path: Path
) -> None:
    """The measure above sees a module whose helper always takes the stable form."""
    options = dict(NETS["hidden"])
    sizes = options.pop("sizes")
    module = symgrad.load(sizes, "array-api", **options, cache_dir=cache)
    source = Path(module.__file__).read_text()
    assert source.count("if is_torch_array(a):") == 1
    mutant_path = tmp_path / "mutant.py"
    mutant_path.write_text(source.replace("if is_torch_array(a):", "if False:"))
    spec = importlib.util.spec_from_file_location("sigmoid_mutant", mutant_path)
    assert spec is not None and spec.loader is not None
    mutant = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mutant)
    on_torch, _, native = _on_torch_and_numpy(mutant)
    assert not np.array_equal(on_torch, native)
