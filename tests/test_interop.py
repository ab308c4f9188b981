"""symgrad.interop: a generated module's loss inside torch autograd and JAX, with its gradients.

``torch_loss`` is checked by ``torch.autograd.gradcheck`` (float64 finite differences through
the ``torch.autograd.Function``) and ``jax_loss`` by ``jax.test_util.check_grads`` (reverse
mode); a module whose gradient is wrong on purpose makes both fail.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from symgrad import NetworkSpec, derive
from symgrad.codegen import generate
from symgrad.interop import jax_loss, torch_loss

NETS = {
    "3-3-2": NetworkSpec.parse([3, 3, 2]),
    "2-4-3-3-relu-tanh-sigmoid-bce": NetworkSpec.parse(
        [2, 4, 3, 3], activation="relu,tanh", output="sigmoid"
    ),
    # The layer kinds: weight decay and a residual layer.
    "3-4-4-2-decay-residual": NetworkSpec.parse(
        [3, 4, 4, 2], kinds={"weight_decay": "0.05", "residual": True}
    ),
}


def _load(text: str, path: Path) -> ModuleType:
    path.write_text(text, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def modules(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ModuleType]:
    folder = tmp_path_factory.mktemp("interop")
    made = {}
    for name, spec in NETS.items():
        (file,) = generate(derive(spec, prove=False), "array-api")
        made[name] = _load(file.text, folder / f"m_{len(made)}.py")
        # The same module with the gradient of W1 wrong: every checker below must notice.
        broken = re.sub(r'"W1": (\w+),', r'"W1": 1.01 * \1,', file.text)
        assert broken != file.text
        made[f"{name}-broken"] = _load(broken, folder / f"m_{len(made)}_broken.py")
    return made


def _data(module: ModuleType, seed: int = 0) -> tuple[dict, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    sizes = module.LAYER_SIZES
    X = rng.standard_normal((5, sizes[0]))
    Y = rng.dirichlet(np.ones(sizes[-1]), size=5)
    return module.init_params(seed), X, Y


@pytest.mark.parametrize("name", list(NETS))
def test_torch_function_passes_gradcheck(modules: dict[str, ModuleType], name: str) -> None:
    torch = pytest.importorskip("torch")
    module = modules[name]
    loss = torch_loss(module)
    params, X, Y = _data(module)
    keys = list(params)
    weights = [torch.asarray(params[k]).requires_grad_() for k in keys]
    Xt, Yt = torch.asarray(X), torch.asarray(Y)

    def f(*w: object) -> object:
        return loss(dict(zip(keys, w, strict=True)), Xt, Yt)

    assert torch.autograd.gradcheck(f, weights, eps=1e-6, atol=1e-8, rtol=1e-6)
    # A training step sees exactly the generated gradients.
    value = f(*weights)
    value.backward()
    expected_value, expected = module.loss_and_gradients(params, X, Y)
    assert float(value.detach()) == pytest.approx(float(expected_value), rel=1e-14)
    for key, weight in zip(keys, weights, strict=True):
        assert np.allclose(weight.grad.numpy(), expected[key], rtol=1e-13, atol=0.0)


def test_torch_gradcheck_fails_on_a_wrong_gradient(modules: dict[str, ModuleType]) -> None:
    torch = pytest.importorskip("torch")
    module = modules["3-3-2-broken"]
    loss = torch_loss(module)
    params, X, Y = _data(module)
    keys = list(params)
    weights = [torch.asarray(params[k]).requires_grad_() for k in keys]
    Xt, Yt = torch.asarray(X), torch.asarray(Y)
    from torch.autograd.gradcheck import GradcheckError

    with pytest.raises(GradcheckError):
        torch.autograd.gradcheck(
            lambda *w: loss(dict(zip(keys, w, strict=True)), Xt, Yt), weights, eps=1e-6
        )


def test_torch_loss_without_grad_and_with_x_requiring_grad(modules: dict[str, ModuleType]) -> None:
    torch = pytest.importorskip("torch")
    module = modules["3-3-2"]
    loss = torch_loss(module)
    params, X, Y = _data(module)
    tensors = {k: torch.asarray(v).requires_grad_() for k, v in params.items()}
    with torch.no_grad():
        value = loss(tensors, torch.asarray(X), torch.asarray(Y))
    assert value.grad_fn is None
    assert float(value) == pytest.approx(float(module.loss(params, X, Y)), rel=1e-14)
    with pytest.raises(ValueError, match="X requires grad"):
        loss(tensors, torch.asarray(X).requires_grad_(), torch.asarray(Y))


@pytest.mark.parametrize("name", list(NETS))
def test_jax_custom_vjp_passes_check_grads(modules: dict[str, ModuleType], name: str) -> None:
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    from jax.test_util import check_grads

    module = modules[name]
    loss = jax_loss(module)
    params, X, Y = _data(module)
    p = {k: jax.numpy.asarray(v) for k, v in params.items()}
    check_grads(lambda q: loss(q, X, Y), (p,), order=1, modes=["rev"])
    value, grads = jax.jit(jax.value_and_grad(loss))(p, X, Y)
    expected_value, expected = module.loss_and_gradients(params, X, Y)
    assert float(value) == pytest.approx(float(expected_value), rel=1e-14)
    for key, grad in grads.items():
        assert np.allclose(np.asarray(grad), expected[key], rtol=1e-13, atol=0.0)


def test_jax_check_grads_fails_on_a_wrong_gradient(modules: dict[str, ModuleType]) -> None:
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    from jax.test_util import check_grads

    module = modules["3-3-2-broken"]
    loss = jax_loss(module)
    params, X, Y = _data(module)
    p = {k: jax.numpy.asarray(v) for k, v in params.items()}
    with pytest.raises(AssertionError):
        check_grads(lambda q: loss(q, X, Y), (p,), order=1, modes=["rev"])


def test_jax_gradient_with_respect_to_x_is_refused(modules: dict[str, ModuleType]) -> None:
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    module = modules["3-3-2"]
    loss = jax_loss(module)
    params, X, Y = _data(module)
    with pytest.raises(ValueError, match="with respect to X"):
        jax.grad(loss, argnums=1)(params, jax.numpy.asarray(X), Y)


def test_importing_symgrad_imports_neither_torch_nor_jax() -> None:
    script = (
        "import sys, symgrad, symgrad.interop, symgrad.codegen\n"
        "print(sorted(n for n in ('torch', 'jax') if n in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
