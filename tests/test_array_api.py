"""The array-API target gives the NumPy target's numbers on every library it promises.

Every generated array-API module is compared with the NumPy module of the same network on the
same data: 1e-12 relative in float64 (each array against its largest entry), and in float32
:data:`FLOAT32_TOLERANCE` against the float64 result of the same float32-rounded inputs. The
libraries: NumPy, ``array_api_strict`` (the reference implementation, which refuses what only
happens to work on NumPy), PyTorch on the CPU, JAX (plain, under ``jax.jit``, ``jax.grad`` of the
generated ``loss`` against the generated gradients, ``jax.vmap`` over a leading axis), Dask
chunked along the batch (lazy until computed), and, where a GPU is present, PyTorch on CUDA and
CuPy. Tracing is checked with ``torch.compile(fullgraph=True)``, which fails on any graph break.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from conftest import BUILTIN_ACTIVATIONS, PAIRS, SMALL_NETS, Named
from conftest import import_file as _import

from symgrad.check import check_file
from symgrad.cli import main
from symgrad.codegen import generate
from symgrad.pipeline import derive

try:
    from tests import reference_backprop as ref
except ImportError:  # pragma: no cover - run from inside tests/
    import reference_backprop as ref

ROOT = Path(__file__).resolve().parents[1]

#: float32 results against float64 ones, relative to the largest entry of each array: float32
#: rounds to 6e-8; a few layers and a sum over a batch of 8 stay far below this.
FLOAT32_TOLERANCE = 2e-5
#: float64 results against the NumPy target (the issue's and the README's promise).
FLOAT64_TOLERANCE = 1e-12
#: Largest pre-activation of the stability test (the contract: finite up to |a| = 1e4).
EXTREME = 1e4


# ------------------------------------------------------------------------------------------------
# Generated modules, once per network
# ------------------------------------------------------------------------------------------------


@dataclass
class Pair:
    """The array-API module and the NumPy module of one network."""

    net: Named
    array_api: ModuleType
    numpy: ModuleType
    path: Path


@pytest.fixture(scope="module")
def modules(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Pair]:
    folder = tmp_path_factory.mktemp("array_api")
    made: dict[str, Pair] = {}
    for net in SMALL_NETS:
        derivation = derive(net.spec(), prove=False)
        stem = net.id.replace("-", "_").replace("/", "_").replace("(", "").replace(")", "")
        stem = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in stem)
        paths = []
        for target in ("array-api", "numpy"):
            (file,) = generate(derivation, target)
            path = folder / f"{stem}_{target.replace('-', '_')}.py"
            path.write_text(file.text, encoding="utf-8")
            paths.append(path)
        made[net.id] = Pair(net, _import(paths[0]), _import(paths[1]), paths[0])
    return made


def _data(
    net: Named, batch: int = 8, seed: int = 1
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Parameters, inputs and targets of the right kind for the network's loss."""
    rng = np.random.default_rng(seed)
    sizes = net.sizes
    params = ref.make_params(sizes, seed=seed)
    X = rng.standard_normal((batch, sizes[0]))
    spec = net.spec()
    if spec.pair.loss.name == "squared-error" and spec.output == "identity":
        Y = rng.standard_normal((batch, sizes[-1]))
    elif spec.pair.loss.name == "binary-cross-entropy":
        Y = rng.random((batch, sizes[-1]))
    else:
        Y = rng.dirichlet(np.ones(sizes[-1]), size=batch)
    if spec.pair.loss.name == "cross-entropy" and sizes[-1] > 1:
        X = X * 3.0  # away from the uniform prediction
    return params, X, Y


def _relative(actual: Any, expected: Any) -> float:
    """``max|actual - expected| / max|expected|`` (0 when both are zero)."""
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = float(np.abs(expected).max(initial=0.0))
    difference = float(np.abs(actual - expected).max(initial=0.0))
    return difference / scale if scale > 0 else difference


def compare(
    result: tuple[Any, dict[str, Any]], expected: tuple[Any, dict[str, Any]], to_numpy: Callable
) -> float:
    """The largest relative difference of a ``(loss, gradients)`` result from the expected one."""
    value, grads = result
    exp_value, exp_grads = expected
    assert sorted(grads) == sorted(exp_grads)
    errors = [_relative(to_numpy(value), exp_value)]
    errors += [_relative(to_numpy(grads[k]), exp_grads[k]) for k in exp_grads]
    return max(errors)


# ------------------------------------------------------------------------------------------------
# The libraries
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Library:
    """How a test puts NumPy data into a library and reads results back."""

    name: str
    make: Callable[[np.ndarray], Any]
    back: Callable[[Any], np.ndarray]
    #: The type the results must have (checked before they are read back).
    result_type: Callable[[], type]
    #: Batch-shaped inputs (X, Y) are made with this; parameters with ``make``.
    make_batch: Callable[[np.ndarray], Any] | None = None


def _numpy() -> Library:
    return Library("numpy", np.asarray, np.asarray, lambda: np.ndarray)


def _strict() -> Library:
    xp = pytest.importorskip("array_api_strict")
    return Library("array_api_strict", xp.asarray, np.from_dlpack, lambda: type(xp.asarray(0.0)))


def _torch(device: str = "cpu") -> Library:
    torch = pytest.importorskip("torch")
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA GPU on this machine: the torch CUDA run needs one")
    return Library(
        f"torch-{device}",
        lambda a: torch.asarray(a, device=device),
        lambda t: t.detach().cpu().numpy(),
        lambda: torch.Tensor,
    )


def _jax() -> Library:
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    return Library("jax", jnp.asarray, np.asarray, lambda: jax.Array)


def _dask() -> Library:
    da = pytest.importorskip("dask.array")

    def chunked(a: np.ndarray) -> Any:
        # Three rows a chunk: a batch of 8 spans three chunks, so every sum crosses chunks.
        return da.from_array(a, chunks=(3,) + a.shape[1:] if a.ndim else ())

    # Parameters stay NumPy arrays: they join the library of X (the Dask example does this).
    return Library(
        "dask", np.asarray, lambda d: np.asarray(d.compute()), lambda: da.Array, make_batch=chunked
    )


def _cupy() -> Library:
    cupy = pytest.importorskip("cupy", reason="CuPy is not installed (it needs a CUDA GPU)")
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            raise RuntimeError("no device")
    except Exception:  # noqa: BLE001 - any CUDA failure means no usable GPU
        pytest.skip("no CUDA GPU on this machine: the CuPy run needs one")
    return Library("cupy", cupy.asarray, cupy.asnumpy, lambda: cupy.ndarray)


LIBRARIES: dict[str, Callable[[], Library]] = {
    "numpy": _numpy,
    "array_api_strict": _strict,
    "torch-cpu": _torch,
    "jax": _jax,
    "dask": _dask,
    "torch-cuda": lambda: _torch("cuda"),
    "cupy": _cupy,
}


def _run(
    library: Library, module: ModuleType, params: dict, X: np.ndarray, Y: np.ndarray
) -> tuple[Any, dict[str, Any]]:
    batch = library.make_batch or library.make
    result = module.loss_and_gradients(
        {k: library.make(v) for k, v in params.items()}, batch(X), batch(Y)
    )
    kind = library.result_type()
    value, grads = result
    assert isinstance(value, kind) and all(isinstance(g, kind) for g in grads.values())
    assert tuple(value.shape) == ()
    return result


@pytest.mark.parametrize("library", list(LIBRARIES))
@pytest.mark.parametrize("net", SMALL_NETS, ids=lambda n: n.id)
def test_same_numbers_as_the_numpy_target_in_float64(
    modules: dict[str, Pair], net: Named, library: str
) -> None:
    lib = LIBRARIES[library]()
    pair = modules[net.id]
    params, X, Y = _data(net)
    expected = pair.numpy.loss_and_gradients(params, X, Y)
    result = _run(lib, pair.array_api, params, X, Y)
    assert compare(result, expected, lib.back) <= FLOAT64_TOLERANCE
    yhat = pair.array_api.forward(
        {k: lib.make(v) for k, v in params.items()}, (lib.make_batch or lib.make)(X)
    )
    assert isinstance(yhat, lib.result_type())
    assert _relative(lib.back(yhat), pair.numpy.forward(params, X)) <= FLOAT64_TOLERANCE


@pytest.mark.parametrize("library", list(LIBRARIES))
@pytest.mark.parametrize("net", SMALL_NETS, ids=lambda n: n.id)
def test_float32_in_float32_out(modules: dict[str, Pair], net: Named, library: str) -> None:
    lib = LIBRARIES[library]()
    pair = modules[net.id]
    params, X, Y = _data(net)
    params32 = {k: v.astype(np.float32) for k, v in params.items()}
    X32, Y32 = X.astype(np.float32), Y.astype(np.float32)
    value, grads = _run(lib, pair.array_api, params32, X32, Y32)
    for array in (value, *grads.values()):
        assert lib.back(array).dtype == np.float32
    # The reference: float64 arithmetic on the float32-rounded numbers.
    exact = pair.numpy.loss_and_gradients(
        {k: v.astype(np.float64) for k, v in params32.items()},
        X32.astype(np.float64),
        Y32.astype(np.float64),
    )
    assert compare((value, grads), exact, lib.back) <= FLOAT32_TOLERANCE


# ------------------------------------------------------------------------------------------------
# One sample, class labels, mixed inputs
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("library", ["numpy", "array_api_strict", "torch-cpu", "jax", "dask"])
def test_one_sample_and_class_labels(modules: dict[str, Pair], library: str) -> None:
    lib = LIBRARIES[library]()
    pair = modules["3-3-2-sigmoid"]
    params, X, _ = _data(pair.net)
    labels = np.array([0, 1, 1, 0, 1, 0, 0, 1])
    p = {k: lib.make(v) for k, v in params.items()}
    batch = lib.make_batch or lib.make
    expected = pair.numpy.loss_and_gradients(params, X, labels)
    assert (
        compare(pair.array_api.loss_and_gradients(p, batch(X), batch(labels)), expected, lib.back)
        <= 1e-12
    )
    one = pair.array_api.loss_and_gradients(p, batch(X[2]), batch(labels[2]))
    assert compare(one, pair.numpy.loss_and_gradients(params, X[2], labels[2]), lib.back) <= 1e-12
    yhat = pair.array_api.forward(p, batch(X[2]))
    assert tuple(yhat.shape) == (2,)
    assert _relative(lib.back(yhat), pair.numpy.forward(params, X[2])) <= 1e-12


def test_numpy_arrays_join_the_library_of_the_other_arguments(modules: dict[str, Pair]) -> None:
    torch = pytest.importorskip("torch")
    pair = modules["3-3-2-tanh"]
    params, X, Y = _data(pair.net)
    value = pair.array_api.loss({k: torch.asarray(v) for k, v in params.items()}, X, Y)
    assert isinstance(value, torch.Tensor)
    assert _relative(value.numpy(), pair.numpy.loss(params, X, Y)) <= 1e-12


def test_a_class_index_out_of_range(modules: dict[str, Pair]) -> None:
    """NumPy: ValueError naming the index. Other libraries (values perhaps not known yet): NaN."""
    torch = pytest.importorskip("torch")
    pair = modules["3-3-2-sigmoid"]
    params, X, _ = _data(pair.net)
    wrong = np.array([0, 1, 2, 0, 1, 0, 0, 1])
    with pytest.raises(ValueError, match="class index 2; expected 0 ... 1"):
        pair.array_api.loss(params, X, wrong)
    with pytest.raises(ValueError, match="class index -1"):
        pair.array_api.loss(params, X[0], np.int64(-1))
    value, grads = pair.array_api.loss_and_gradients(
        {k: torch.asarray(v) for k, v in params.items()}, torch.asarray(X), torch.asarray(wrong)
    )
    assert torch.isnan(value) and all(torch.isnan(g).all() for g in grads.values())
    right = pair.array_api.loss_and_gradients(
        {k: torch.asarray(v) for k, v in params.items()}, torch.asarray(X), torch.asarray(wrong % 2)
    )
    assert not torch.isnan(right[0])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p, X, Y: ({k: v for k, v in p.items() if k != "b2"}, X, Y), 'params has no "b2"'),
        (lambda p, X, Y: ({**p, "W1": p["W1"][:, :2]}, X, Y), r'params\["W1"\] has shape \(3, 2\)'),
        (lambda p, X, Y: (p, X[:, :2], Y), r"X has shape \(8, 2\); expected \(B, 3\)"),
        (lambda p, X, Y: (p, X, Y[:, :1]), r"Y has shape \(8, 1\); expected \(8, 2\)"),
        (lambda p, X, Y: (p, X + 0j, Y), "complex numbers are not supported"),
    ],
    ids=["missing-key", "weight-shape", "X-shape", "Y-shape", "complex"],
)
@pytest.mark.parametrize("library", ["numpy", "torch-cpu", "jax-jit"])
def test_bad_input_raises_value_error_naming_it(
    modules: dict[str, Pair], change: Callable, message: str, library: str
) -> None:
    """Shapes and keys are checked from shapes alone, so a traced call raises the same error."""
    pair = modules["3-3-2-sigmoid"]
    params, X, Y = _data(pair.net)
    params, X, Y = change(params, X, Y)
    loss = pair.array_api.loss
    if library == "jax-jit":
        jax = pytest.importorskip("jax")
        lib = _jax()
        loss = jax.jit(loss)
    else:
        lib = LIBRARIES[library]()
    with pytest.raises(ValueError, match=message):
        loss({k: lib.make(v) for k, v in params.items()}, lib.make(X), lib.make(Y))


def test_arrays_of_two_libraries_are_refused(modules: dict[str, Pair]) -> None:
    torch = pytest.importorskip("torch")
    strict = pytest.importorskip("array_api_strict")
    pair = modules["3-3-2-sigmoid"]
    params, X, Y = _data(pair.net)
    with pytest.raises(ValueError, match="arrays of one array library"):
        pair.array_api.loss({k: torch.asarray(v) for k, v in params.items()}, strict.asarray(X), Y)


def test_init_params_numpy_by_default_else_the_namespace(modules: dict[str, Pair]) -> None:
    torch = pytest.importorskip("torch")
    pair = modules["3-3-2-sigmoid"]
    default = pair.array_api.init_params(4)
    expected = pair.numpy.init_params(4)
    for key, array in expected.items():
        assert type(default[key]) is np.ndarray and np.array_equal(default[key], array)
    tensors = pair.array_api.init_params(4, torch, dtype=torch.float32)
    assert all(t.dtype == torch.float32 and t.device.type == "cpu" for t in tensors.values())
    assert np.allclose(tensors["W1"].numpy(), expected["W1"], rtol=1e-7)


# ------------------------------------------------------------------------------------------------
# JAX: jit, grad, vmap; torch.compile; Dask stays lazy
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("net", SMALL_NETS, ids=lambda n: n.id)
def test_jax_jit_grad_and_vmap(modules: dict[str, Pair], net: Named) -> None:
    jax = pytest.importorskip("jax")
    lib = _jax()
    pair = modules[net.id]
    params, X, Y = _data(net)
    p = {k: lib.make(v) for k, v in params.items()}
    expected = pair.numpy.loss_and_gradients(params, X, Y)
    jitted = jax.jit(pair.array_api.loss_and_gradients)(p, lib.make(X), lib.make(Y))
    assert compare(jitted, expected, lib.back) <= FLOAT64_TOLERANCE
    # jax.grad differentiates the generated loss; it must give the generated gradients.
    value, grads = jax.jit(jax.value_and_grad(pair.array_api.loss))(p, lib.make(X), lib.make(Y))
    assert compare((value, grads), expected, lib.back) <= 1e-11
    # vmap over a leading axis: two batches of four at once.
    batched = jax.vmap(pair.array_api.loss_and_gradients, in_axes=(None, 0, 0))(
        p, lib.make(X.reshape(2, 4, -1)), lib.make(Y.reshape(2, 4, -1))
    )
    for half in range(2):
        rows = slice(4 * half, 4 * half + 4)
        one = (batched[0][half], {k: g[half] for k, g in batched[1].items()})
        assert (
            compare(one, pair.numpy.loss_and_gradients(params, X[rows], Y[rows]), lib.back) <= 1e-12
        )


# array_api_compat caches a type lookup with functools.lru_cache; Dynamo says it traces through.
@pytest.mark.filterwarnings("ignore:Dynamo detected a call to a `functools.lru_cache`")
@pytest.mark.parametrize(
    "net_id",
    [
        "depth-3-mixed",
        "3-3-2-leaky-relu",
        "3-3-2-softplus",
        "3-3-2-x/(1+abs(x))",
        "2-3-2-sigmoid-binary-cross-entropy",
    ],
)
def test_torch_compile_traces_without_a_graph_break(modules: dict[str, Pair], net_id: str) -> None:
    """``fullgraph=True`` refuses any graph break: a Python branch on values or a ``.item()``."""
    torch = pytest.importorskip("torch")
    pair = modules[net_id]
    params, X, Y = _data(pair.net)
    compiled = torch.compile(pair.array_api.loss_and_gradients, backend="eager", fullgraph=True)
    labels = np.argmax(Y, axis=1)
    for targets in (Y, labels) if pair.net.spec().pair.accepts_labels else (Y,):
        result = compiled(
            {k: torch.asarray(v) for k, v in params.items()},
            torch.asarray(X),
            torch.asarray(targets),
        )
        expected = pair.numpy.loss_and_gradients(params, X, targets)
        assert compare(result, expected, lambda t: t.numpy()) <= 1e-12


def test_dask_stays_lazy_until_computed(modules: dict[str, Pair]) -> None:
    da = pytest.importorskip("dask.array")
    import dask

    pair = modules["2-3-2-softmax-cross-entropy"]
    params, X, _ = _data(pair.net, batch=30)
    labels = np.arange(30) % 2
    computed = []

    def count(key: Any, graph: Any, state: Any) -> None:
        computed.append(key)

    from dask.callbacks import Callback

    with Callback(pretask=count):
        value, grads = pair.array_api.loss_and_gradients(
            params, da.from_array(X, chunks=(7, 2)), da.from_array(labels, chunks=7)
        )
        assert not computed  # building the graph computed nothing
    assert isinstance(value, da.Array) and all(isinstance(g, da.Array) for g in grads.values())
    assert len(value.__dask_graph__()) > X.shape[0] // 7  # a graph over every chunk
    with Callback(pretask=count):
        value, grads = dask.compute(value, grads)
    assert computed
    assert (
        compare((value, grads), pair.numpy.loss_and_gradients(params, X, labels), np.asarray)
        <= 1e-12
    )


# ------------------------------------------------------------------------------------------------
# Stability at |a| = 1e4
# ------------------------------------------------------------------------------------------------


STABLE_NETS = [Named(f"2-3-2-{a}", (2, 3, 2), activation=a) for a in BUILTIN_ACTIVATIONS] + [
    Named(f"2-3-3-{o}-{lo}", (2, 3, 3), activation="tanh", output=o, loss=lo) for o, lo in PAIRS
]


def extreme_parameters(net: Named, X: np.ndarray) -> dict[str, np.ndarray]:
    """Parameters whose pre-activations reach ``|a| = 1e4`` in every layer for the rows of X."""
    rng = np.random.default_rng(7)
    spec = net.spec()
    params: dict[str, np.ndarray] = {}
    for k in range(1, len(net.sizes)):
        params[f"W{k}"] = rng.standard_normal((net.sizes[k], net.sizes[k - 1]))
        params[f"b{k}"] = rng.standard_normal(net.sizes[k])
        hidden = [spec.activation(j).name for j in range(1, k)]
        pre = ref.forward(params, X, activations=hidden, output="identity")
        factor = 0.999 * EXTREME / float(np.abs(pre).max())
        params[f"W{k}"] *= factor
        params[f"b{k}"] *= factor
    return params


@pytest.fixture
def warnings_are_errors() -> Iterator[None]:
    with (
        np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("error")
        yield


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("library", ["numpy", "array_api_strict", "torch-cpu", "jax", "dask"])
def test_finite_at_pre_activations_of_1e4(
    tmp_path: Path, library: str, dtype: str, warnings_are_errors: None
) -> None:
    lib = LIBRARIES[library]()
    rng = np.random.default_rng(3)
    for net in STABLE_NETS:
        (file,) = generate(derive(net.spec(), prove=False), "array-api")
        path = tmp_path / f"stable_{len(list(tmp_path.iterdir()))}.py"
        path.write_text(file.text, encoding="utf-8")
        module = _import(path)
        X = rng.standard_normal((6, net.sizes[0]))
        params = extreme_parameters(net, X)
        Y = np.zeros((6, net.sizes[-1]))
        Y[np.arange(6), np.arange(6) % net.sizes[-1]] = 1.0
        params = {k: v.astype(dtype) for k, v in params.items()}
        value, grads = _run(lib, module, params, X.astype(dtype), Y.astype(dtype))
        for array in (value, *grads.values()):
            assert np.isfinite(lib.back(array)).all(), (net.id, library, dtype)


# ------------------------------------------------------------------------------------------------
# The module as a file: imports, style, quality, symgrad check
# ------------------------------------------------------------------------------------------------


def test_imports_only_array_api_compat_and_the_standard_library(
    modules: dict[str, Pair],
) -> None:
    pair = modules["3-3-2-sigmoid"]
    tree = ast.parse(pair.path.read_text(encoding="utf-8"))
    top = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            top |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            top.add(node.module or "")
    assert top == {"__future__", "typing", "array_api_compat"}
    # Importing it and calling forward on lists of NumPy-free numbers loads no NumPy... except
    # through array_api_compat's numpy namespace; what matters is that import alone does not.
    script = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('m', {str(pair.path)!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "print(sorted(n for n in ('numpy', 'torch', 'jax') if n in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_unrolled_style_is_refused_with_a_reason(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["codegen", "3", "3", "2", "--target", "array-api", "--style", "unrolled"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("symgrad: error: --target array-api has only --style vectorized")
    assert err.count("\n") == 1


@pytest.mark.sandbox
def test_symgrad_check_passes_on_an_array_api_module(modules: dict[str, Pair]) -> None:
    result = check_file(modules["depth-3-mixed"].path)
    assert result.passed, result.report()


@pytest.mark.sandbox
def test_symgrad_check_fails_on_a_broken_array_api_module(
    modules: dict[str, Pair], tmp_path: Path
) -> None:
    """The mutation test of the comparison: a wrong statement is caught by check and compare."""
    pair = modules["3-3-2-sigmoid"]
    source = pair.path.read_text(encoding="utf-8")
    broken = source.replace("Delta1 = G1 * H1 * (1 - H1)", "Delta1 = G1 * H1 * (1.001 - H1)")
    assert broken != source
    path = tmp_path / "broken.py"
    path.write_text(broken, encoding="utf-8")
    assert not check_file(path).passed
    params, X, Y = _data(pair.net)
    expected = pair.numpy.loss_and_gradients(params, X, Y)
    assert compare(_import(path).loss_and_gradients(params, X, Y), expected, np.asarray) > 1e-6


def test_generated_modules_are_ruff_clean_and_formatted(tmp_path: Path) -> None:
    nets = [*SMALL_NETS, Named("wide", (784, 30, 10)), Named("wide-out", (2, 3, 12345))]
    for index, net in enumerate(nets):
        (file,) = generate(derive(net.spec(), prove=False), "array-api")
        (tmp_path / f"m{index}.py").write_text(file.text, encoding="utf-8")
    options = ["--no-force-exclude", "--isolated", "--line-length", "100"]
    for command in (
        ["check", *options, "--select", "E,F,W,I,B,UP,SIM"],
        ["format", "--check", "--diff", *options],
    ):
        run = subprocess.run(
            [sys.executable, "-m", "ruff", *command, str(tmp_path)], capture_output=True, text=True
        )
        assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize("net", SMALL_NETS[7:12], ids=lambda n: n.id)
def test_merge_totals_sums_the_loss_in_one_reduction(net: Named) -> None:
    """The pass the array-API target runs: one Total in the loss, the same numbers."""
    from symgrad.arrays import Total
    from symgrad.program import evaluate, lower_matrix, merge_totals

    program = lower_matrix(derive(net.spec(), prove=False))
    merged = merge_totals(program)
    (loss,) = [s for s in merged.statements if s.target.name == program.output("loss").whole.name]
    assert len(loss.value.atoms(Total)) == 1
    params, X, Y = _data(net)
    before = evaluate(program, params, X, Y).outputs
    after = evaluate(merged, params, X, Y).outputs
    for key, value in before.items():
        assert _relative(after[key], value) <= 1e-14, key


def test_printer_writes_operators_and_standard_functions() -> None:
    import sympy as sp

    from symgrad.arrays import Dot, LogAddExp, RowMax, RowSum, Total, Transpose
    from symgrad.codegen.array_api.printer import ArrayApiPrinter
    from symgrad.codegen.pyprinter import CodegenError
    from symgrad.program import Var

    names = ("A", "G", "H", "X", "Z")
    variables = {n: Var(n, ("B", 3)) for n in names} | {"W": Var("W", (3, 3))}
    A, G, H, X, Z, W = (sp.Symbol(n, real=True) for n in (*names, "W"))
    printer = ArrayApiPrinter(variables)
    cases = {
        Dot(X, Transpose(W)) + A: "A + X @ W.T",
        Z * Dot(X, W): "Z * (X @ W)",
        Dot(Transpose(G * H), X): "(G * H).T @ X",
        RowSum(sp.exp(Z)): "xp.sum(xp.exp(Z), axis=1, keepdims=True)",
        RowMax(A): "xp.max(A, axis=1, keepdims=True)",
        Total(Z * X): "xp.sum(X * Z)",
        sp.Max(A, 0): "xp.where(A < 0.0, 0.0, A)",
        sp.Max(A, A / 100): "xp.maximum(0.01 * A, A)",
        LogAddExp(A, 0): "xp.logaddexp(A, xp.zeros_like(A))",
        G * sp.Heaviside(H, 0): "xp.where(H <= 0.0, 0.0, G)",
        G * sp.Piecewise((1, H > 0), (sp.Rational(1, 100), True)): (
            "xp.where(H > 0.0, G, 0.01 * G)"
        ),
        sp.sign(A) * sp.Abs(A): "xp.abs(A) * xp.sign(A)",
    }
    for expr, text in cases.items():
        assert printer.doprint(expr) == text
    with pytest.raises(CodegenError, match="choice between numbers"):
        printer.doprint(sp.Heaviside(H, 0))
