"""Generated NumPy code, checked three ways, in both styles.

Every named network (every activation, every output/loss pair, width 1, depth 1 and 4) is
generated in the vectorized and the unrolled style and compared

1. with the independent hand-written NumPy backprop of ``tests/reference_backprop.py``;
2. with central finite differences in float64 (:mod:`symgrad.gradcheck`);
3. with the derivation's own chain-rule steps, evaluated with numbers entry by entry.

The two styles agree to 1e-12; shape errors raise ``ValueError`` naming the key; pre-activations
of magnitude 1e4 give finite results with NumPy warnings turned into errors; generated files are
ruff-clean, formatted, deterministic and quick to make.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import sympy as sp
from conftest import BUILTIN_ACTIVATIONS, PAIRS, Named

from symgrad import notation as nt
from symgrad.arrays import BatchSum
from symgrad.codegen import UNROLLED_MAX_PARAMETERS, generate_module
from symgrad.codegen.numpy.printer import CodegenError, math_code, numpy_code
from symgrad.derivation import Derivation
from symgrad.errors import SpecError
from symgrad.gradcheck import check_gradients
from symgrad.model import instantiate
from symgrad.pipeline import derive
from symgrad.spec import NetworkSpec

try:  # tests/ may or may not be a package
    from tests import reference_backprop as ref
except ImportError:  # pragma: no cover - depends on how pytest sets sys.path
    import reference_backprop as ref

ROOT = Path(__file__).resolve().parents[1]
STYLES = ("vectorized", "unrolled")


CASES = [
    Named("3-3-2", (3, 3, 2)),
    *[Named(f"3-4-2-{a}", (3, 4, 2), activation=a) for a in BUILTIN_ACTIVATIONS if a != "sigmoid"],
    Named("3-4-2-softsign", (3, 4, 2), activation="x/(1+abs(x))"),
    Named(
        "2-3-2-trig", (2, 3, 2), activation="sqrt(1+x**2)*cos(x)+exp(-x**2)*sin(x)-log(1+x**2)/3"
    ),
    *[Named(f"2-3-2-{o}-{lo}", (2, 3, 2), output=o, loss=lo) for o, lo in PAIRS[1:]],
    Named("width-1-1-1", (1, 1, 1), output="sigmoid"),
    Named("width-2-1-2-tanh-bce", (2, 1, 2), activation="tanh", output="sigmoid"),
    Named("depth-1-4-3", (4, 3)),
    Named("depth-1-1-1-sigmoid", (1, 1), output="sigmoid"),
    Named("depth-4-mixed", (3, 4, 4, 4, 2), activation="tanh,relu,leaky-relu"),
    Named("depth-4-softplus-se", (2, 3, 3, 3, 3), activation="softplus", loss="squared-error"),
]
IDS = [c.id for c in CASES]
#: Small enough for the entry-by-entry evaluation of the derivation's steps.
TINY = [c for c in CASES if c.spec().parameter_count <= 30]


# ------------------------------------------------------------------------------------------------
# Generating and loading modules
# ------------------------------------------------------------------------------------------------

_SOURCES: dict[tuple[str, str], str] = {}
_MODULES: dict[tuple[str, str], ModuleType] = {}


def source(case: Named, style: str) -> str:
    key = (case.id, style)
    if key not in _SOURCES:
        _SOURCES[key] = generate_module(derive(case.spec(), prove=False), style)
    return _SOURCES[key]


@pytest.fixture(scope="session")
def module_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("codegen")


def load(case: Named, style: str, folder: Path) -> ModuleType:
    key = (case.id, style)
    if key not in _MODULES:
        name = f"gen_{case.id.replace('-', '_')}_{style}"
        path = folder / f"{name}.py"
        path.write_text(source(case, style), encoding="utf-8")
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _MODULES[key] = module
    return _MODULES[key]


def data(case: Named, batch: int | None, seed: int, normalized: bool = False):
    """Parameters, X and Y; ``batch=None`` gives one 1-D sample. Cross-entropy targets do not
    sum to 1 unless ``normalized`` (the generated code must be right for any targets)."""
    spec = case.spec()
    rng = np.random.default_rng(seed)
    params = ref.make_params(spec.sizes, seed)
    shape_x = (spec.sizes[0],) if batch is None else (batch, spec.sizes[0])
    shape_y = (spec.sizes[-1],) if batch is None else (batch, spec.sizes[-1])
    X = rng.standard_normal(shape_x)
    if normalized:
        Y = rng.dirichlet(np.ones(spec.sizes[-1]), size=shape_y[:-1] or None)
    elif spec.loss == "cross-entropy":
        Y = rng.uniform(0.1, 1.0, size=shape_y)
    elif spec.loss == "binary-cross-entropy":
        Y = rng.uniform(0.05, 0.95, size=shape_y)
    else:
        Y = rng.standard_normal(shape_y)
    return params, X, Y


def assert_close(actual: dict, expected: dict, rtol: float) -> None:
    """Every array equal up to ``rtol`` times the largest entry of the expected array.

    An array whose entries are all below a thousandth of the largest gradient entry is judged
    against that thousandth: a saturated tanh or sigmoid makes ``g' = 1 - h^2`` tiny, and its
    relative accuracy is then limited by the last bit of ``h`` (``math.tanh`` and ``np.tanh`` may
    differ there), not by the code.
    """
    assert sorted(actual) == sorted(expected)
    overall = max(float(np.abs(w).max(initial=0.0)) for w in expected.values())
    for key, want in expected.items():
        got = np.asarray(actual[key])
        assert got.shape == want.shape, key
        assert got.dtype == np.float64, key
        scale = max(float(np.abs(want).max(initial=0.0)), 1e-3 * overall, 1e-300)
        error = float(np.abs(got - want).max(initial=0.0)) / scale
        assert error <= rtol, f"{key}: relative difference {error:.2e}"


# ------------------------------------------------------------------------------------------------
# 1. Against the hand-written NumPy backprop
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("case", [c for c in CASES if c.builtin], ids=lambda c: c.id)
@pytest.mark.parametrize("batch", [5, 1, None], ids=["batch-5", "batch-1", "1-D"])
def test_matches_hand_written_backprop(
    case: Named, style: str, batch: int | None, module_dir: Path
) -> None:
    module = load(case, style, module_dir)
    spec = case.spec()
    params, X, Y = data(case, batch, seed=11)
    names = [a.name for a in spec.activations]
    want_loss, want_grads = ref.loss_and_gradients(
        params, X, Y, activations=names, output=spec.output, loss=spec.loss
    )
    value, grads = module.loss_and_gradients(params, X, Y)
    assert isinstance(value, float)
    assert value == pytest.approx(want_loss, rel=1e-12, abs=1e-14)
    assert module.loss(params, X, Y) == pytest.approx(want_loss, rel=1e-12, abs=1e-14)
    assert_close(grads, want_grads, 1e-11)
    assert_close(module.gradients(params, X, Y), want_grads, 1e-11)
    yhat = module.forward(params, X)
    want_yhat = ref.forward(params, X, activations=names, output=spec.output)
    assert yhat.shape == want_yhat.shape == Y.shape
    np.testing.assert_allclose(yhat, want_yhat, rtol=1e-12, atol=1e-15)


# ------------------------------------------------------------------------------------------------
# 2. Against central finite differences
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("batch", [3, None], ids=["batch-3", "1-D"])
def test_matches_central_differences(
    case: Named, style: str, batch: int | None, module_dir: Path
) -> None:
    module = load(case, style, module_dir)
    params, X, Y = data(case, batch, seed=5)
    # A kink of relu within a step of the point costs central differences some digits.
    kinked = any(a.name in ("relu", "leaky-relu") for a in case.spec().activations)
    report = check_gradients(module, params, X, Y, seed=1, tolerance=1e-5 if kinked else 1e-6)
    assert report.passed, report.table()
    assert all(r.mode == "entries" for r in report.records)


# ------------------------------------------------------------------------------------------------
# 3. Against the derivation's own chain-rule steps
# ------------------------------------------------------------------------------------------------


def chain_rule_gradients(
    derivation: Derivation, params: dict, x: np.ndarray, y: np.ndarray
) -> dict[str, np.ndarray]:
    """Gradients of one sample from the final forms of the derivation's steps, entry by entry.

    Every step is instantiated with concrete indices and evaluated with the numbers of the
    entries it refers to (weights, activations, and the partials of earlier steps).
    """
    spec, L = derivation.spec, derivation.spec.depth
    n = spec.sizes
    steps = {s.key: s for s in derivation}
    env: dict[sp.Basic, sp.Basic] = {}

    def value(key: str, **indices: int) -> sp.Float:
        expr = instantiate(steps[key].final, **indices).xreplace(env)  # type: ignore[arg-type]
        result = sp.N(expr, 30)
        assert result.is_number, f"{key} {indices}: {result}"
        return sp.Float(result, 30)

    for k in range(1, L + 1):
        W, b = params[f"W{k}"], params[f"b{k}"]
        for i in range(n[k]):
            env[nt.bias(k, i + 1)] = sp.Float(b[i], 30)
            for j in range(n[k - 1]):
                env[nt.weight(k, i + 1, j + 1)] = sp.Float(W[i, j], 30)
    for j in range(n[0]):
        env[nt.post(0, j + 1)] = sp.Float(x[j], 30)
    for i in range(n[L]):
        env[nt.target(i + 1)] = sp.Float(y[i], 30)
    for k in range(1, L + 1):
        for i in range(1, n[k] + 1):
            env[nt.pre(k, i)] = value(f"forward-{k}", i=i)
        if k < L:
            for j in range(1, n[k] + 1):
                env[nt.post(k, j)] = value(f"activation-{k}", j=j)
    for i in range(1, n[L] + 1):
        env[nt.prediction(i)] = value("prediction", i=i)
    for i in range(1, n[L] + 1):
        env[nt.partial(nt.pre(L, i))] = value("output-delta", i=i)
    for k in range(L - 1, 0, -1):
        for j in range(1, n[k] + 1):
            env[nt.partial(nt.post(k, j))] = value(f"hidden-grad-{k}", j=j)
        for j in range(1, n[k] + 1):
            env[nt.partial(nt.pre(k, j))] = value(f"hidden-delta-{k}", j=j)
    grads = {}
    for k in range(1, L + 1):
        grads[f"W{k}"] = np.array(
            [
                [float(value(f"weight-{k}", i=i, j=j)) for j in range(1, n[k - 1] + 1)]
                for i in range(1, n[k] + 1)
            ]
        )
        grads[f"b{k}"] = np.array([float(value(f"bias-{k}", i=i)) for i in range(1, n[k] + 1)])
    return grads


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("case", TINY, ids=[c.id for c in TINY])
def test_matches_the_derivation_steps(case: Named, style: str, module_dir: Path) -> None:
    """Targets sum to 1 here: the notes' softmax + cross-entropy step assumes it."""
    module = load(case, style, module_dir)
    derivation = derive(case.spec(), prove=False)
    params, X, Y = data(case, 2, seed=9, normalized=True)
    per_sample = [chain_rule_gradients(derivation, params, X[b], Y[b]) for b in range(2)]
    mean = {key: (per_sample[0][key] + per_sample[1][key]) / 2 for key in per_sample[0]}
    assert_close(module.gradients(params, X, Y), mean, 1e-11)


# ------------------------------------------------------------------------------------------------
# The two styles agree; the contract's edges
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("batch", [7, 1, None], ids=["batch-7", "batch-1", "1-D"])
def test_styles_agree(case: Named, batch: int | None, module_dir: Path) -> None:
    vectorized, unrolled = load(case, "vectorized", module_dir), load(case, "unrolled", module_dir)
    params, X, Y = data(case, batch, seed=3)
    v_loss, v_grads = vectorized.loss_and_gradients(params, X, Y)
    u_loss, u_grads = unrolled.loss_and_gradients(params, X, Y)
    assert u_loss == pytest.approx(v_loss, rel=1e-12, abs=1e-15)
    assert_close(u_grads, v_grads, 1e-12)
    np.testing.assert_allclose(
        unrolled.forward(params, X), vectorized.forward(params, X), rtol=1e-12, atol=1e-15
    )
    assert unrolled.loss(params, X, Y) == pytest.approx(v_loss, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("style", STYLES)
def test_shape_errors_name_the_key(style: str, module_dir: Path) -> None:
    module = load(CASES[0], style, module_dir)  # 3-3-2
    params, X, Y = data(CASES[0], 4, seed=0)
    for function in (module.loss_and_gradients, module.gradients, module.loss):
        bad = dict(params, W2=np.zeros((3, 4)))
        with pytest.raises(
            ValueError, match=r'params\["W2"\] has shape \(3, 4\); expected \(2, 3\)'
        ):
            function(bad, X, Y)
        missing = {k: v for k, v in params.items() if k != "b1"}
        with pytest.raises(ValueError, match=r'params has no "b1"; expected an array of shape'):
            function(missing, X, Y)
        with pytest.raises(ValueError, match=r"X has shape \(4, 2\); expected \(B, 3\)"):
            function(params, X[:, :2], Y)
        with pytest.raises(ValueError, match=r"Y has shape \(4, 3\); expected \(4, 2\)"):
            function(params, X, np.zeros((4, 3)))
        with pytest.raises(ValueError, match=r"Y has shape \(4, 2\); expected \(2,\)"):
            function(params, X[0], Y)
    with pytest.raises(ValueError, match=r'params\["b2"\] has shape \(2, 1\); expected \(2,\)'):
        module.forward(dict(params, b2=np.zeros((2, 1))), X)
    with pytest.raises(ValueError, match=r"X has shape \(0, 3\)"):
        module.forward(params, np.zeros((0, 3)))


def large_preactivation_params(spec: NetworkSpec) -> dict[str, np.ndarray]:
    """Tiny weights and biases of +-1e4: every pre-activation has magnitude about 1e4."""
    rng = np.random.default_rng(0)
    params = {}
    for k in range(1, len(spec.sizes)):
        rows, cols = spec.sizes[k], spec.sizes[k - 1]
        params[f"W{k}"] = 1e-4 * rng.standard_normal((rows, cols))
        params[f"b{k}"] = 1e4 * np.where(np.arange(rows) % 2 == 0, 1.0, -1.0)
    return params


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("case", [c for c in CASES if c.builtin], ids=lambda c: c.id)
def test_large_preactivations_are_finite_without_warnings(
    case: Named, style: str, dtype: type, module_dir: Path
) -> None:
    module = load(case, style, module_dir)
    params = {k: v.astype(dtype) for k, v in large_preactivation_params(case.spec()).items()}
    _, X, Y = data(case, 4, seed=2)
    X, Y = X.astype(dtype), Y.astype(dtype)
    for x, y in ((X, Y), (X[:1], Y[:1]), (X[0], Y[0])):
        with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
            warnings.simplefilter("error")
            value, grads = module.loss_and_gradients(params, x, y)
            yhat = module.forward(params, x)
        assert np.isfinite(value)
        assert all(np.all(np.isfinite(g)) for g in grads.values())
        assert np.all(np.isfinite(yhat))


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("batch", [5, 1, None], ids=["batch-5", "batch-1", "1-D"])
def test_float32_in_gives_float32_out(style: str, batch: int | None, module_dir: Path) -> None:
    """Every parameter and X float32: float32 results, equal to float64's to float32 accuracy;
    anything else (one float64 array, integers) is computed in float64."""
    case = CASES[0]
    module = load(case, style, module_dir)
    params, X, Y = data(case, batch, seed=4, normalized=True)
    single = {k: v.astype(np.float32) for k, v in params.items()}
    value, grads = module.loss_and_gradients(single, X.astype(np.float32), Y)
    _, expected = module.loss_and_gradients(params, X, Y)
    assert isinstance(value, float)
    for key, grad in grads.items():
        assert grad.dtype == np.float32, key
        np.testing.assert_allclose(grad, expected[key], rtol=2e-4, atol=2e-5)
    assert module.forward(single, X.astype(np.float32)).dtype == np.float32
    mixed = dict(single, b1=params["b1"])
    assert module.gradients(mixed, X.astype(np.float32), Y)["W1"].dtype == np.float64
    integers = module.gradients(params, np.round(X).astype(np.int64), Y)
    assert integers["W1"].dtype == np.float64


@pytest.mark.parametrize("style", STYLES)
def test_complex_input_is_refused(style: str, module_dir: Path) -> None:
    module = load(CASES[0], style, module_dir)
    params, X, Y = data(CASES[0], 3, seed=5)
    with pytest.raises(ValueError, match="complex numbers are not supported"):
        module.loss(params, X.astype(complex), Y)
    with pytest.raises(ValueError, match="complex numbers are not supported"):
        module.gradients(dict(params, W1=params["W1"] + 0j), X, Y)
    with pytest.raises(ValueError, match="complex numbers are not supported"):
        module.loss(params, X, Y + 0j)


@pytest.mark.parametrize("style", STYLES)
def test_integer_class_labels_equal_one_hot_rows(style: str, module_dir: Path) -> None:
    """softmax + cross-entropy: Y may hold class indices; the results equal the one-hot rows'."""
    module = load(CASES[0], style, module_dir)  # 3-3-2, softmax + cross-entropy
    params, X, _ = data(CASES[0], 6, seed=6)
    labels = np.array([0, 1, 1, 0, 1, 0])
    rows = np.eye(2)[labels]
    value, grads = module.loss_and_gradients(params, X, labels)
    expected_value, expected = module.loss_and_gradients(params, X, rows)
    assert value == pytest.approx(expected_value, rel=1e-14)
    for key in grads:
        np.testing.assert_allclose(grads[key], expected[key], rtol=1e-14, atol=1e-17)
    assert module.loss(params, X[0], np.int64(1)) == pytest.approx(
        module.loss(params, X[0], np.array([0.0, 1.0])), rel=1e-14
    )
    with pytest.raises(ValueError, match=r"Y holds the class index 2; expected 0 \.\.\. 1"):
        module.loss(params, X, np.array([0, 1, 2, 0, 1, 0]))
    with pytest.raises(ValueError, match=r"Y holds the class index -1"):
        module.gradients(params, X, np.array([0, 1, -1, 0, 1, 0]))


def test_class_labels_only_where_the_pair_takes_them(module_dir: Path) -> None:
    """Integer labels mean something for softmax + cross-entropy alone: elsewhere Y of shape
    (B,) is the wrong shape and is refused as such."""
    case = next(c for c in CASES if c.spec().loss == "squared-error")
    module = load(case, "vectorized", module_dir)
    params, X, _ = data(case, 4, seed=7)
    with pytest.raises(ValueError, match=r"Y has shape \(4,\); expected \(4, 2\)"):
        module.loss(params, X, np.array([0, 1, 1, 0]))


@pytest.mark.parametrize("style", STYLES)
def test_init_params_and_layer_sizes(style: str, module_dir: Path) -> None:
    case = CASES[-2]  # depth 4
    module = load(case, style, module_dir)
    assert case.sizes == module.LAYER_SIZES
    params = module.init_params()
    assert list(params) == [f"{b}{k}" for k in range(1, 5) for b in "Wb"]
    for k in range(1, 5):
        assert params[f"W{k}"].shape == (case.sizes[k], case.sizes[k - 1])
        assert params[f"b{k}"].shape == (case.sizes[k],)
        assert params[f"W{k}"].dtype == params[f"b{k}"].dtype == np.float64
    again = module.init_params(seed=0)
    assert all(np.array_equal(params[k], again[k]) for k in params)
    assert not np.array_equal(module.init_params(seed=1)["W1"], params["W1"])


# ------------------------------------------------------------------------------------------------
# The file itself
# ------------------------------------------------------------------------------------------------


def test_header_comments_and_equation_numbers() -> None:
    derivation = derive(NetworkSpec.parse([3, 3, 2]), prove=False)
    text = generate_module(derivation, "unrolled")
    lines = text.splitlines()
    assert lines[0] == "# Generated by symgrad from: symgrad codegen 3 3 2 --style unrolled"
    assert "Do not edit" in lines[1]
    vectorized = generate_module(derivation).splitlines()
    assert vectorized[0] == "# Generated by symgrad from: symgrad codegen 3 3 2"
    steps = {s.key: s.number for s in derivation}
    for code, key in [
        ("A1 = np.dot(X, W1.T)", "batch-forward-1"),
        ("dW2 = np.dot(Delta2.T, H1)", "batch-weight-2"),
        ("db1 = Delta1.sum(axis=0)", "batch-bias-1"),
        ("G1 = np.dot(Delta2, W2)", "batch-hidden-grad-1"),
    ]:
        at = next(n for n, line in enumerate(vectorized) if line.strip() == code)
        comments = []
        for line in reversed(vectorized[:at]):
            if not line.strip().startswith("#"):
                break
            comments.append(line)
        assert any(f"(eq. {steps[key]})" in c for c in comments), (code, comments)
    assert f"(eq. {steps['hidden-delta-1']})" in text
    assert "/work" not in text and "20" + "25" not in text  # no paths or dates


def test_unknown_style_and_unrolled_limit() -> None:
    small = derive(NetworkSpec.parse([3, 3, 2]), prove=False)
    with pytest.raises(SpecError, match="unknown style 'scalar'; use one of vectorized, unrolled"):
        generate_module(small, "scalar")
    big = derive(NetworkSpec.parse([10, 20, 10]), prove=False)
    assert big.spec.parameter_count > UNROLLED_MAX_PARAMETERS
    with pytest.raises(SpecError, match=r"limited to 400 parameters.*use --style vectorized"):
        generate_module(big, "unrolled")


def test_784_128_10_generates() -> None:
    """Its speed is measured by bench/bench_derive.py, not by a timed test."""
    text = generate_module(derive(NetworkSpec.parse([784, 128, 10]), prove=False))
    assert "LAYER_SIZES: tuple[int, ...] = (784, 128, 10)" in text


def test_same_bytes_whatever_the_hash_seed() -> None:
    script = (
        "import sys; from symgrad import NetworkSpec, derive; "
        "from symgrad.codegen import generate_module; "
        "spec = NetworkSpec.parse([2, 3, 2], activation='x/(1+abs(x))', output='sigmoid'); "
        "sys.stdout.write(generate_module(derive(spec, prove=False), 'unrolled'))"
    )
    outputs = []
    for seed in ("0", "4242"):
        env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=str(ROOT))
        outputs.append(
            subprocess.run(
                [sys.executable, "-c", script], env=env, capture_output=True, check=True
            ).stdout
        )
    assert outputs[0] == outputs[1]
    spec = NetworkSpec.parse([2, 3, 2], activation="x/(1+abs(x))", output="sigmoid")
    assert outputs[0].decode() == generate_module(derive(spec, prove=False), "unrolled")


RUFF_CASES = [CASES[0], CASES[6], CASES[7], CASES[12], CASES[14], CASES[16]]


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is not installed")
def test_generated_files_are_ruff_clean_and_formatted(tmp_path: Path) -> None:
    for case in RUFF_CASES:
        for style in STYLES:
            (tmp_path / f"{case.id.replace('-', '_')}_{style}.py").write_text(
                source(case, style), encoding="utf-8"
            )
    options = ["--no-force-exclude", "--isolated", "--line-length", "100"]
    check = subprocess.run(
        ["ruff", "check", *options, "--select", "E,F,W,I,B,UP,SIM", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    fmt = subprocess.run(
        ["ruff", "format", "--check", "--diff", *options, str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is not installed")
def test_generated_files_type_check(tmp_path: Path) -> None:
    paths = []
    for case in (CASES[0], CASES[7]):
        for style in STYLES:
            path = tmp_path / f"{case.id.replace('-', '_')}_{style}.py"
            path.write_text(source(case, style), encoding="utf-8")
            paths.append(str(path))
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--ignore-missing-imports", "--no-incremental", *paths],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# ------------------------------------------------------------------------------------------------
# The printers
# ------------------------------------------------------------------------------------------------

x, y, z = sp.symbols("x y z", real=True)


@pytest.mark.parametrize(
    ("expr", "as_math", "as_numpy"),
    [
        (sp.exp(x) + sp.Rational(1, 2), "math.exp(x) + 0.5", "np.exp(x) + 0.5"),
        (sp.Max(0, x), "max(0.0, x)", "np.maximum(x, 0.0)"),
        (sp.Abs(x), "abs(x)", "np.abs(x)"),
        (sp.sqrt(x), "math.sqrt(x)", "np.sqrt(x)"),
        (1 / sp.sqrt(x), "1.0 / math.sqrt(x)", "1.0 / np.sqrt(x)"),
        (2 * x * y / (z * (x + 1)), "2 * x * y / (z * (x + 1))", "2 * x * y / (z * (x + 1))"),
        (x**2, "x**2", "x**2"),
        (x**-2, "1.0 / x**2", "1.0 / x**2"),
        ((x + y) ** 2, "(x + y) ** 2", "(x + y) ** 2"),
        (-(x**3), "-(x**3)", "-(x**3)"),
        (x ** sp.Rational(3, 2), "x**1.5", "x**1.5"),
        (sp.sin(x) ** 3, "math.sin(x) ** 3", "np.sin(x) ** 3"),
        (
            sp.Piecewise((x, x > 0), (x / 100, True)),
            "(x if x > 0.0 else 0.01 * x)",
            "np.where(x > 0.0, x, 0.01 * x)",
        ),
        (sp.Heaviside(x, 0), "(0.0 if x <= 0.0 else 1.0)", "np.where(x <= 0.0, 0.0, 1.0)"),
        (sp.sign(x), "(0.0 if x == 0.0 else math.copysign(1.0, x))", "np.sign(x)"),
        (x - y * z, "x - y * z", "x - y * z"),
    ],
)
def test_printers(expr: sp.Expr, as_math: str, as_numpy: str) -> None:
    assert math_code(expr) == as_math
    assert numpy_code(expr) == as_numpy


def test_printers_refuse_unsupported_functions() -> None:
    with pytest.raises(CodegenError, match="cannot generate code for the function gamma"):
        math_code(sp.gamma(x))
    with pytest.raises(CodegenError, match="function f"):
        numpy_code(sp.Function("f")(x))
    with pytest.raises(CodegenError, match="BatchSum"):
        math_code(BatchSum(x * y))
    assert numpy_code(BatchSum(x * y)) == "np.dot(x, y)"
    assert numpy_code(BatchSum(x + y)) == "np.sum(x + y)"
