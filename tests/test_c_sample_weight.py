"""Sample weights and per-sample losses in generated C: ``NAME_loss_weighted``,
``NAME_loss_and_gradients_weighted``, ``NAME_input_gradient_weighted`` and ``NAME_sample_losses``.

Printed from the weighted program (row ``s`` weighs ``weights[s] / sum(weights)``), in both forms
and both real types; compared with the NumPy module (to 1e-12 in double) and torch autograd,
called through ``load_c`` (the NumPy module's ``sample_weight``, ``reduction`` and errors) and
directly (``NAME_ERROR_WEIGHTS``, nothing written), and judged by ``symgrad check``, which fails
a C file whose weighted gradient divides by the batch or whose per-sample losses are reordered.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from conftest import WEIGHTS_JUDGED, check_cli, import_file

from symgrad.codegen import generate
from symgrad.codegen.c.loader import CNetwork, load_c
from symgrad.pipeline import derive
from symgrad.spec import NetworkSpec

#: The C files: (form, real type).
FILES = [("unrolled", "double"), ("looped", "double"), ("looped", "float"), ("unrolled", "float")]


def _write(folder: Path, form: str, dtype: str) -> Path:
    derivation = derive(NetworkSpec.parse([3, 4, 2]), prove=False)
    for generated in generate(derivation, "c", form, dtype, name=f"{form}_{dtype}"):
        path = folder / f"{form}_{dtype}{generated.suffix}"
        path.write_text(generated.text, encoding="utf-8")
    return folder / f"{form}_{dtype}.c"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    folder = tmp_path_factory.mktemp("c_sample_weight")
    return {(form, dtype): _write(folder, form, dtype) for form, dtype in FILES}


@pytest.fixture(scope="module")
def networks(files: dict[tuple[str, str], Path]) -> dict[tuple[str, str], CNetwork]:
    return {key: load_c(path) for key, path in files.items()}


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    (module,) = generate(derive(NetworkSpec.parse([3, 4, 2]), prove=False), "numpy", "vectorized")
    path = tmp_path_factory.mktemp("c_sample_weight_numpy") / "reference.py"
    path.write_text(module.text, encoding="utf-8")
    return import_file(path)


def _data(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    w = rng.uniform(0.0, 3.0, rows)
    w[rows // 2] = 0.0  # a sample left out
    return rng.standard_normal((rows, 3)), rng.integers(0, 2, rows), w


def _close(got: Any, want: Any, tolerance: float) -> None:
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape
    scale = max(float(np.max(np.abs(want))), 1e-300)
    assert float(np.max(np.abs(got - want))) <= tolerance * scale, (got, want)


@pytest.mark.parametrize("form", ["unrolled", "looped"])
@pytest.mark.parametrize("rows", [1, 7, 150])  # 150 rows: three blocks of the looped form
def test_double_equals_the_numpy_module(
    networks: dict[tuple[str, str], CNetwork], reference: ModuleType, form: str, rows: int
) -> None:
    network = networks[(form, "double")]
    params = reference.init_params(rows)
    X, Y, w = _data(rows, rows)
    if rows == 1:
        w[0] = 2.5
    _close(
        network.loss(params, X, Y, sample_weight=w),
        reference.loss(params, X, Y, sample_weight=w),
        1e-12,
    )
    rows_c = network.loss(params, X, Y, reduction="none")
    assert isinstance(rows_c, np.ndarray) and rows_c.dtype == np.float64
    _close(rows_c, reference.loss(params, X, Y, reduction="none"), 1e-12)
    value, gradients = network.loss_and_gradients(params, X, Y, sample_weight=w)
    wanted_value, wanted = reference.loss_and_gradients(params, X, Y, sample_weight=w)
    _close(value, wanted_value, 1e-12)
    for key in wanted:
        _close(gradients[key], wanted[key], 1e-12)
        _close(network.gradients(params, X, Y, sample_weight=w)[key], wanted[key], 1e-12)
    _close(
        network.input_gradient(params, X, Y, sample_weight=w),
        reference.input_gradient(params, X, Y, sample_weight=w),
        1e-12,
    )
    # The weights weigh: with other weights, another loss (and without, the plain mean).
    assert network.loss(params, X, Y) == pytest.approx(reference.loss(params, X, Y), rel=1e-12)
    if rows > 1:
        other = network.loss(params, X, Y, sample_weight=np.roll(w, 1))
        assert abs(other - network.loss(params, X, Y, sample_weight=w)) > 1e-6


def test_one_sample_takes_one_weight(networks: dict[tuple[str, str], CNetwork]) -> None:
    network = networks[("looped", "double")]
    params = network.init_params(0)
    x, label = np.array([0.5, -1.0, 2.0]), 1
    alone = network.loss(params, x, label)
    assert network.loss(params, x, label, reduction="none") == pytest.approx(alone, rel=1e-15)
    assert network.loss(params, x, label, sample_weight=3.0) == pytest.approx(alone, rel=1e-15)
    assert network.input_gradient(params, x, label, sample_weight=3.0).shape == (3,)


@pytest.mark.parametrize("form", ["unrolled", "looped"])
def test_float_agrees_to_single_precision_and_returns_float32(
    networks: dict[tuple[str, str], CNetwork], reference: ModuleType, form: str
) -> None:
    network = networks[(form, "float")]
    params = {k: v.astype(np.float32) for k, v in reference.init_params(1).items()}
    X, Y, w = _data(70, 5)
    X = X.astype(np.float32)
    rows = network.loss(params, X, Y, reduction="none")
    assert rows.dtype == np.float32
    _close(rows, reference.loss(params, X, Y, reduction="none"), 1e-5)
    _, gradients = network.loss_and_gradients(params, X, Y, sample_weight=w)
    _, wanted = reference.loss_and_gradients(params, X, Y, sample_weight=w)
    for key in wanted:
        assert gradients[key].dtype == np.float32
        _close(gradients[key], wanted[key], 1e-5)
    # A weight finite in float64 but not in float: the C code refuses it, a ValueError here.
    with pytest.raises(ValueError, match="a weight past the largest float32"):
        network.loss(params, X, Y, sample_weight=np.full(70, 1e300))
    with pytest.raises(ValueError, match="sums to a number past the largest float32"):
        network.loss(params, X, Y, sample_weight=np.full(70, 1e37))


def test_equals_torch_autograd(networks: dict[tuple[str, str], CNetwork]) -> None:
    torch = pytest.importorskip("torch")
    network = networks[("looped", "double")]
    params = network.init_params(2)
    X, labels, w = _data(90, 6)
    tensors = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    x = torch.tensor(X, requires_grad=True)
    hidden = torch.sigmoid(x @ tensors["W1"].T + tensors["b1"])
    logits = hidden @ tensors["W2"].T + tensors["b2"]
    per_sample = torch.nn.functional.cross_entropy(logits, torch.tensor(labels), reduction="none")
    weights = torch.tensor(w)
    value = (weights * per_sample).sum() / weights.sum()
    value.backward()
    _close(network.loss(params, X, labels, reduction="none"), per_sample.detach().numpy(), 1e-12)
    found, gradients = network.loss_and_gradients(params, X, labels, sample_weight=w)
    assert found == pytest.approx(float(value.detach()), rel=1e-12)
    for key, tensor in tensors.items():
        _close(gradients[key], tensor.grad.numpy(), 1e-12)  # type: ignore[union-attr]
    grad_x = network.input_gradient(params, X, labels, sample_weight=w)
    _close(grad_x, x.grad.numpy(), 1e-12)  # type: ignore[union-attr]


BAD_WEIGHTS = [
    (np.ones(3), "sample_weight has shape (3,); expected (4,)"),
    (np.array([1.0, -1.0, 1.0, 1.0]), "negative weight"),
    (np.zeros(4), "sums to 0"),
    (np.array([1.0, np.nan, 1.0, 1.0]), "not finite"),
    (np.array([1.0, np.inf, 1.0, 1.0]), "not finite"),
    (np.array(["a", "b", "c", "d"]), "real numbers"),
    (np.array([1j, 1, 1, 1]), "real numbers"),
]


def test_bad_weights_and_reductions_raise_the_numpy_module_s_errors(
    networks: dict[tuple[str, str], CNetwork], reference: ModuleType
) -> None:
    network = networks[("unrolled", "double")]
    params = network.init_params(0)
    X, Y = np.ones((4, 3)), np.array([0, 1, 0, 1])
    for function in ("loss", "loss_and_gradients", "gradients", "input_gradient"):
        for weights, message in BAD_WEIGHTS:
            pattern = message.replace("(", r"\(").replace(")", r"\)")
            for module in (network, reference):
                with pytest.raises(ValueError, match=pattern):
                    getattr(module, function)(params, X, Y, sample_weight=weights)
    for module in (network, reference):
        with pytest.raises(ValueError, match='reduction must be "mean" or "none"'):
            module.loss(params, X, Y, reduction="sum")
        with pytest.raises(ValueError, match="sample_weight weighs the mean"):
            module.loss(params, X, Y, reduction="none", sample_weight=np.ones(4))


#: Weights each weighted C function refuses with NAME_ERROR_WEIGHTS (-3).
REFUSED = [
    [1.0, -1.0, 1.0],
    [1.0, -0.0, float("nan")],
    [float("inf"), 1.0, 1.0],
    [0.0, 0.0, 0.0],
    [1e308, 1e308, 1.0],  # every weight finite, their sum not
]


@pytest.mark.parametrize("form", ["unrolled", "looped"])
def test_the_c_functions_refuse_bad_weights_and_write_nothing(
    networks: dict[tuple[str, str], CNetwork], form: str
) -> None:
    """Called directly: ``NAME_ERROR_WEIGHTS`` for a bad weight or sum, ``NAME_ERROR_NULL`` for
    no weights, and not one value of the results written."""
    network = networks[(form, "double")]
    b = network._buffers
    b.room(3)
    b.params[...] = network.init_flat(0)
    b.X[...] = 0.5
    b.Y[...] = [1.0, 0.0]
    calls = {
        "loss_weighted": (b.p_loss,),
        "loss_and_gradients_weighted": (b.p_loss, b.p_grad),
        "input_gradient_weighted": (b.p_grad_x,),
    }
    results = (b.loss, b.grad, b.grad_x)
    for name, outputs in calls.items():
        function = network._c_weighted[name]
        for weights in [*REFUSED, None]:
            for array in results:
                array[...] = 7.0
            if weights is not None:
                b.weights[...] = weights
            p_weights = network._ffi.NULL if weights is None else b.p_weights
            status = function(b.p_params, b.p_X, b.p_Y, p_weights, 3, *outputs, b.p_work)
            assert status == (-1 if weights is None else -3), (name, weights)
            assert all((array == 7.0).all() for array in results), (name, weights)
        b.weights[...] = [1.0, 0.0, 2.0]
        assert function(b.p_params, b.p_X, b.p_Y, b.p_weights, 3, *outputs, b.p_work) == 0


@pytest.mark.sandbox
@pytest.mark.parametrize("key", [("unrolled", "double"), ("looped", "float")])
def test_symgrad_check_judges_the_c_functions_both_ways(
    files: dict[tuple[str, str], Path], key: tuple[str, str]
) -> None:
    status, out = check_cli(files[key])
    assert status == 0, out
    for line in WEIGHTS_JUDGED:
        assert line in out, out


@pytest.mark.sandbox
def test_symgrad_check_passes_weight_decay_s_per_sample_losses(tmp_path: Path) -> None:
    """Under weight decay the per-sample losses are the rows' data losses, without the penalty
    the loss of a row alone has: both judges accept them (and the weighted objective)."""
    spec = NetworkSpec.parse([2, 3, 2], kinds={"weight_decay": 0.05})
    for generated in generate(derive(spec, prove=False), "c", "looped", name="decayed"):
        (tmp_path / f"decayed{generated.suffix}").write_text(generated.text, encoding="utf-8")
    status, out = check_cli(tmp_path / "decayed.c")
    assert status == 0, out
    for line in WEIGHTS_JUDGED:
        assert line in out, out
    assert "every row shares)" in out, out


#: Mutations of the C files: (what is broken, the file, the text replaced, by what, the findings
#: that must fail).
MUTATIONS = [
    (
        "looped gradient divided by the batch",
        ("looped", "double"),
        "T2[r] = Rw[(s0 + r)] / weight_sum;",
        "T2[r] = 1.0 / (real_t)batch;",
        ("gradient of W1", "FAIL  the gradients with sample_weight agree with central"),
    ),
    (
        "unrolled gradient divided by the batch",
        ("unrolled", "double"),
        "const real_t t6 = rw / weight_sum;\n        value",
        "const real_t t6 = 1.0 / (real_t)batch;\n        value",
        ("gradient of W1", "FAIL  the gradients with sample_weight agree with central"),
    ),
    (
        "looped per-sample losses reordered",
        ("looped", "double"),
        "sample_loss[(s0 + r)] =",
        "sample_loss[rows - 1 - (s0 + r)] =",
        ("per-sample losses (relative", "FAIL  loss(..., reduction='none') gives each row's"),
    ),
    (
        "unrolled per-sample losses reordered",
        ("unrolled", "double"),
        "losses[s] = sample_loss;",
        "losses[rows - 1 - s] = sample_loss;",
        ("per-sample losses (relative", "FAIL  loss(..., reduction='none') gives each row's"),
    ),
]


@pytest.mark.sandbox
@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_a_wrong_weighting_in_c_fails_both_judges(
    files: dict[tuple[str, str], Path], tmp_path: Path, mutation: tuple[Any, ...]
) -> None:
    _, key, old, new, failures = mutation
    source = files[key]
    text = source.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    wrong = tmp_path / source.name
    wrong.write_text(text.replace(old, new), encoding="utf-8")
    header = source.with_suffix(".h")
    wrong.with_suffix(".h").write_text(header.read_text(encoding="utf-8"), encoding="utf-8")
    status, out = check_cli(wrong)
    assert status == 1, out
    assert "FAIL  with sample weights and reduction='none'" in out, out
    for failure in failures:
        assert failure in out, out
