"""``input_gradient(params, X, Y)``: the gradient of the loss with respect to ``X``.

Derived (the affine map of layer 1 backpropagates to ``x``), proved (symbolically, and by the
numeric proof along a random direction of ``x``), generated in the NumPy (both styles) and
array-API modules and in C, compared here with torch autograd, and checked by ``symgrad check``
with both its judges; a wrong input gradient fails the proof and the check.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import import_file as _load

from symgrad import notation as nt
from symgrad.cli import main
from symgrad.codegen import generate
from symgrad.errors import ProofError
from symgrad.pipeline import derive, program_at
from symgrad.proof.numeric import NumericProof
from symgrad.spec import NetworkSpec

torch = pytest.importorskip("torch")


def _module(
    folder: Path,
    name: str,
    sizes: list[int],
    target: str,
    style: str | None,
    kinds: dict[str, Any] | None = None,
) -> Path:
    spec = NetworkSpec.parse(sizes, kinds=kinds)
    (module,) = generate(derive(spec, prove=False), target, style)
    path = folder / f"{name}.py"
    path.write_text(module.text, encoding="utf-8")
    return path


CASES = {
    "vectorized": ("numpy", "vectorized"),
    "unrolled": ("numpy", "unrolled"),
    "array_api": ("array-api", None),
}


@pytest.fixture(scope="module")
def modules(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("input_gradient")
    return {
        name: _module(folder, name, [3, 4, 2], target, style)
        for name, (target, style) in CASES.items()
    }


def _torch_input_gradient(params: dict[str, np.ndarray], X: np.ndarray, labels: np.ndarray) -> Any:
    """torch autograd's gradient of the mean cross-entropy of the 3-4-2 sigmoid network."""
    W1, b1, W2, b2 = (torch.tensor(params[k]) for k in ("W1", "b1", "W2", "b2"))
    x = torch.tensor(X, requires_grad=True)
    logits = torch.sigmoid(x @ W1.T + b1) @ W2.T + b2
    torch.nn.functional.cross_entropy(logits, torch.tensor(labels)).backward()
    return x.grad.numpy()  # type: ignore[union-attr]


@pytest.mark.parametrize("name", list(CASES))
def test_input_gradient_equals_torch_autograd(modules: dict[str, Path], name: str) -> None:
    module = _load(modules[name])
    params = module.init_params(3)
    rng = np.random.default_rng(5)
    X, labels = rng.standard_normal((6, 3)), rng.integers(0, 2, 6)
    wanted = _torch_input_gradient(params, X, labels)
    found = np.asarray(module.input_gradient(params, X, labels))
    assert found.shape == X.shape
    np.testing.assert_allclose(found, wanted, rtol=1e-12, atol=1e-17)
    # One sample (1-D X) is the gradient of that sample's loss.
    one = np.asarray(module.input_gradient(params, X[0], labels[0]))
    np.testing.assert_allclose(one, _torch_input_gradient(params, X[:1], labels[:1])[0], rtol=1e-12)


def test_input_gradient_of_torch_tensors_through_the_array_api(modules: dict[str, Path]) -> None:
    """The array-API module on torch tensors: a torch tensor, equal to autograd's; half
    precision in, float32 out."""
    module = _load(modules["array_api"])
    params = module.init_params(1)
    X, labels = np.random.default_rng(2).standard_normal((5, 3)), np.array([0, 1, 1, 0, 1])
    tensors = {k: torch.tensor(v) for k, v in params.items()}
    found = module.input_gradient(tensors, torch.tensor(X), torch.tensor(labels))
    assert isinstance(found, torch.Tensor) and found.dtype == torch.float64
    np.testing.assert_allclose(found.numpy(), _torch_input_gradient(params, X, labels), rtol=1e-12)
    half = {k: v.to(torch.bfloat16) for k, v in tensors.items()}
    assert module.input_gradient(half, torch.tensor(X).to(torch.bfloat16), labels).dtype == (
        torch.float32
    )


def test_half_precision_gives_float32(modules: dict[str, Path]) -> None:
    module = _load(modules["vectorized"])
    params = {k: v.astype(np.float16) for k, v in module.init_params(0).items()}
    found = module.input_gradient(params, np.ones((2, 3), np.float16), np.array([0, 1]))
    assert found.dtype == np.float32


def test_layer_kinds_keep_the_input_gradient(tmp_path: Path) -> None:
    """Residual connections (one skips from x itself) and weight decay: the input gradient is
    the gradient of the objective, against central differences of ``loss`` in X."""
    cases = (([3, 3, 3, 2], {"residual": True}), ([3, 4, 2], {"weight_decay": "0.1"}))
    for n, (sizes, kinds) in enumerate(cases):
        module = _load(_module(tmp_path, f"m{n}", sizes, "numpy", "vectorized", kinds))
        params = module.init_params(0)
        rng = np.random.default_rng(0)
        X, Y = rng.standard_normal((4, 3)), rng.integers(0, 2, 4)
        found = module.input_gradient(params, X, Y)
        step, numeric = 1e-6, np.zeros_like(X)
        for index in np.ndindex(*X.shape):
            moved = [X.copy(), X.copy()]
            moved[0][index] += step
            moved[1][index] -= step
            numeric[index] = module.loss(params, moved[0], Y) - module.loss(params, moved[1], Y)
            numeric[index] /= 2 * step
        np.testing.assert_allclose(found, numeric, rtol=1e-6, atol=1e-10)


def test_the_proof_covers_the_input_gradient() -> None:
    """A program whose input gradient is off by one part in a million fails the numeric proof."""
    derivation = derive(NetworkSpec.parse([3, 4, 2]), prove=False, input_gradient=True)
    run = program_at(derivation)
    NumericProof(derivation, 7, run).run()  # the right program passes

    def wrong(point: Any, **options: Any) -> Any:
        evaluated = run(point, **options)
        if nt.INPUT_GRADIENT in evaluated.gradients:
            evaluated.gradients[nt.INPUT_GRADIENT] = evaluated.gradients[nt.INPUT_GRADIENT] * (
                1 + 1e-6
            )
        return evaluated

    with pytest.raises(ProofError, match="random direction of x"):
        NumericProof(derivation, 7, wrong).run()


def test_the_notes_keep_their_equations() -> None:
    """The input gradient's steps are not in the notes: every other step keeps its number."""
    spec = NetworkSpec.parse([3, 4, 2])
    plain = derive(spec, prove=False)
    extended = derive(spec, prove=False, input_gradient=True)
    assert [(s.id, s.number) for s in plain] == [(s.id, s.number) for s in extended if s.number]
    assert {s.number for s in extended if s.id not in {p.id for p in plain}} == {0}


def _check(path: Path) -> tuple[int, str]:
    out = io.StringIO()
    saved, sys.stderr = sys.stderr, io.StringIO()
    try:
        status = main(["check", str(path)], stdout=out)
    finally:
        sys.stderr = saved
    return status, out.getvalue()


@pytest.mark.sandbox
@pytest.mark.parametrize("name", ["vectorized", "array_api"])
def test_symgrad_check_checks_the_input_gradient_both_ways(
    modules: dict[str, Path], name: str
) -> None:
    status, out = _check(modules[name])
    assert status == 0, out
    assert "ok    the input gradient agrees with symgrad's evaluation of the network" in out
    assert "ok    input_gradient agrees with central differences of loss in X" in out


@pytest.mark.sandbox
def test_a_wrong_input_gradient_fails_both_judges(modules: dict[str, Path], tmp_path: Path) -> None:
    text = modules["vectorized"].read_text(encoding="utf-8")
    last = "    return G0[0] if one else G0\n"
    assert text.count(last) == 1
    wrong = tmp_path / "wrong.py"
    wrong.write_text(text.replace(last, "    G0 = G0 * 1.0001\n" + last), encoding="utf-8")
    status, out = _check(wrong)
    assert status == 1, out
    assert "FAIL  the input gradient (input_gradient) is not that of the network" in out
    assert "FAIL  input_gradient agrees with central differences of loss in X" in out


@pytest.fixture(scope="module")
def c_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("input_gradient_c")
    files = generate(derive(NetworkSpec.parse([3, 4, 2]), prove=False), "c", "looped", name="mlp")
    for generated in files:
        (folder / f"mlp{generated.suffix}").write_text(generated.text, encoding="utf-8")
    return folder / "mlp.c"


def test_c_input_gradient_equals_torch_autograd(c_file: Path) -> None:
    """The looped C code over several blocks of rows (70 rows; a block is 32)."""
    from symgrad.codegen.c.loader import load_c

    network = load_c(c_file)
    params = network.init_params(4)
    rng = np.random.default_rng(6)
    X, labels = rng.standard_normal((70, 3)), rng.integers(0, 2, 70)
    found = network.input_gradient(params, X, labels)
    np.testing.assert_allclose(found, _torch_input_gradient(params, X, labels), rtol=1e-12)
    one = network.input_gradient(params, X[5], labels[5])
    np.testing.assert_allclose(
        one, _torch_input_gradient(params, X[5:6], labels[5:6])[0], rtol=1e-12
    )


@pytest.mark.sandbox
def test_symgrad_check_checks_the_input_gradient_of_c(c_file: Path) -> None:
    status, out = _check(c_file)
    assert status == 0, out
    assert "ok    the input gradient agrees with symgrad's evaluation of the network" in out
    assert "ok    input_gradient agrees with central differences of loss in X" in out
