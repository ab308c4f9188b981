"""symgrad.interop: a generated module's loss inside torch autograd and JAX, with its gradients.

``torch_loss`` is checked by ``torch.autograd.gradcheck`` (float64 finite differences through
the ``torch.autograd.Function``) and ``jax_loss`` by ``jax.test_util.check_grads`` (reverse
mode); a module whose gradient is wrong on purpose makes both fail. Under ``torch.func``
(``grad``, ``jacrev``, ``vjp``, ``vmap`` per sample and per model) ``torch_loss`` gives what torch
autograd gives differentiating the generated ``loss`` itself; second derivatives raise;
``torch.compile(fullgraph=True)`` traces a training step and ``torch.func.grad`` without a
warning; half-precision parameters get gradients of their own dtype.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

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
    sys.modules[path.stem] = module  # as an import does: torch.compile looks modules up there
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

    # The form torch.func and torch.compile get (the gradients as saved outputs), called directly.
    def g(*w: object) -> object:
        return loss.function.apply(Xt, Yt, None, False, *w)[0]

    assert torch.autograd.gradcheck(g, weights, eps=1e-6, atol=1e-8, rtol=1e-6)
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
    with pytest.raises(GradcheckError):
        torch.autograd.gradcheck(
            lambda *w: loss.function.apply(Xt, Yt, None, False, *w)[0], weights, eps=1e-6
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
    # X requiring grad gets the module's input_gradient; Y may not require grad.
    Xt = torch.asarray(X).requires_grad_()
    loss(tensors, Xt, torch.asarray(Y)).backward()
    assert np.allclose(Xt.grad.numpy(), module.input_gradient(params, X, Y), rtol=1e-13, atol=0)
    with pytest.raises(ValueError, match="Y requires grad"):
        loss(tensors, torch.asarray(X), torch.asarray(Y, dtype=torch.float64).requires_grad_())


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


def test_jax_gradient_with_respect_to_x_is_the_input_gradient(
    modules: dict[str, ModuleType],
) -> None:
    """``jax.grad`` in ``X`` is the module's ``input_gradient`` (with sample weights too);
    in ``Y`` it is refused."""
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    module = modules["3-3-2"]
    loss = jax_loss(module)
    params, X, Y = _data(module)
    found = jax.grad(loss, argnums=1)(params, jax.numpy.asarray(X), Y)
    assert np.allclose(np.asarray(found), module.input_gradient(params, X, Y), rtol=1e-13, atol=0)
    w = np.linspace(0.0, 2.0, len(X))
    found = jax.jit(jax.grad(loss, argnums=1))(params, jax.numpy.asarray(X), Y, w)
    wanted = module.input_gradient(params, X, Y, sample_weight=w)
    assert np.allclose(np.asarray(found), wanted, rtol=1e-13, atol=0)
    with pytest.raises(ValueError, match="with respect to Y"):
        jax.grad(loss, argnums=2)(params, jax.numpy.asarray(X), jax.numpy.asarray(Y, float))


def test_importing_symgrad_imports_neither_torch_nor_jax() -> None:
    script = (
        "import sys, symgrad, symgrad.interop, symgrad.codegen\n"
        "print(sorted(n for n in ('torch', 'jax') if n in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# torch.func, torch.compile, dtypes ------------------------------------------------------------


def _tensors(module: ModuleType, seed: int = 0) -> tuple[dict, object, object]:
    torch = pytest.importorskip("torch")
    params, X, Y = _data(module, seed)
    return {k: torch.asarray(v) for k, v in params.items()}, torch.asarray(X), torch.asarray(Y)


def _autograd(module: ModuleType, params: dict, X: object, Y: object) -> dict:
    """torch autograd differentiating the generated ``loss`` itself."""
    import torch

    leaves = {k: v.detach().clone().requires_grad_() for k, v in params.items()}
    grads = torch.autograd.grad(module.loss(leaves, X, Y), list(leaves.values()))
    return dict(zip(leaves, grads, strict=True))


def _close(actual: dict, expected: dict, rtol: float = 1e-13) -> bool:
    return all(
        float((actual[k] - expected[k]).abs().max()) <= rtol * float(expected[k].abs().max())
        for k in expected
    )


@pytest.mark.parametrize("name", list(NETS))
def test_torch_func_grad_and_jacrev_equal_autograd(
    modules: dict[str, ModuleType], name: str
) -> None:
    torch = pytest.importorskip("torch")
    module = modules[name]
    loss = torch_loss(module)
    params, X, Y = _tensors(module)
    expected = _autograd(module, params, X, Y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        grads = torch.func.grad(loss)(params, X, Y)
        jacobian = torch.func.jacrev(loss)(params, X, Y)
        _, pullback = torch.func.vjp(lambda p: loss(p, X, Y), params)
        (pulled,) = pullback(torch.tensor(2.0, dtype=torch.float64))
    assert _close(grads, expected) and _close(jacobian, expected)
    assert _close(pulled, {k: 2 * v for k, v in expected.items()})


def test_a_scaled_loss_scales_the_gradient(modules: dict[str, ModuleType]) -> None:
    """The backward pass multiplies by the incoming gradient unless it is 1 (then the saved
    gradients are returned as they are)."""
    pytest.importorskip("torch")
    module = modules["3-3-2"]
    params, X, Y = _tensors(module)
    expected = _autograd(module, params, X, Y)
    for factor in (1.0, -2.5):
        leaves = {k: v.clone().requires_grad_() for k, v in params.items()}
        (factor * torch_loss(module)(leaves, X, Y)).backward()
        assert _close(
            {k: v.grad for k, v in leaves.items()}, {k: factor * v for k, v in expected.items()}
        )


def test_torch_func_grad_sees_a_wrong_gradient(modules: dict[str, ModuleType]) -> None:
    """The comparison above fails for the module whose W1 gradient is off by 1%."""
    torch = pytest.importorskip("torch")
    module = modules["3-3-2-broken"]
    params, X, Y = _tensors(module)
    grads = torch.func.grad(torch_loss(module))(params, X, Y)
    assert not _close(grads, _autograd(module, params, X, Y))


@pytest.mark.parametrize("name", list(NETS))
def test_torch_vmap_gives_per_sample_and_per_model_gradients(
    modules: dict[str, ModuleType], name: str
) -> None:
    torch = pytest.importorskip("torch")
    module = modules[name]
    loss = torch_loss(module)
    params, X, Y = _tensors(module)
    per_sample = torch.func.vmap(torch.func.grad(loss), in_dims=(None, 0, 0))(params, X, Y)
    for s in range(X.shape[0]):  # one sample: a 1-D X, the module's own contract
        expected = _autograd(module, params, X[s], Y[s])
        assert _close({k: v[s] for k, v in per_sample.items()}, expected), s
    models = {k: torch.stack([v, 0.5 * v]) for k, v in params.items()}
    per_model = torch.func.vmap(torch.func.grad(loss), in_dims=(0, None, None))(models, X, Y)
    for m in range(2):
        expected = _autograd(module, {k: v[m] for k, v in models.items()}, X, Y)
        assert _close({k: v[m] for k, v in per_model.items()}, expected), m


def test_second_derivatives_are_refused(modules: dict[str, ModuleType]) -> None:
    """Not silently zero: the generated gradient has no derivative of its own."""
    torch = pytest.importorskip("torch")
    module = modules["3-3-2"]
    loss = torch_loss(module)
    params, X, Y = _tensors(module)
    with pytest.raises(RuntimeError, match="first derivatives only"):
        torch.func.grad(lambda p: torch.func.grad(loss)(p, X, Y)["W1"].sum())(params)
    leaves = {k: v.clone().requires_grad_() for k, v in params.items()}
    with pytest.raises(RuntimeError, match="first derivatives only"):  # a graph of the gradient
        torch.autograd.grad(loss(leaves, X, Y), list(leaves.values()), create_graph=True)


def test_torch_compile_fullgraph_without_warnings(modules: dict[str, ModuleType]) -> None:
    """A training step and torch.func.grad, each compiled whole (a graph break fails), through
    AOTAutograd, which traces the backward pass too; no warning but torch's own deprecations."""
    torch = pytest.importorskip("torch")
    module = modules["2-4-3-3-relu-tanh-sigmoid-bce"]
    loss = torch_loss(module)
    params, X, Y = _tensors(module)
    expected = _autograd(module, params, X, Y)
    leaves = {k: v.clone().requires_grad_() for k, v in params.items()}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        step = torch.compile(loss, fullgraph=True, backend="aot_eager")
        step(leaves, X, Y).backward()
        grads = torch.compile(torch.func.grad(loss), fullgraph=True, backend="aot_eager")(
            params, X, Y
        )
    assert _close({k: v.grad for k, v in leaves.items()}, expected) and _close(grads, expected)
    own = [
        w
        for w in caught
        if not (issubclass(w.category, DeprecationWarning) and "/torch/" in w.filename)
    ]
    assert own == [], [str(w.message) for w in own]


def test_a_training_step_warns_nothing(modules: dict[str, ModuleType]) -> None:
    """array_api_compat used to warn about torch.asarray(requires_grad) on every call."""
    pytest.importorskip("torch")
    module = modules["3-3-2"]
    params, X, Y = _tensors(module)
    leaves = {k: v.clone().requires_grad_() for k, v in params.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        torch_loss(module)(leaves, X, Y).backward()
        module.loss(leaves, X, Y).backward()  # torch's own autograd through the module too
        module.loss_and_gradients(leaves, X, Y)


@pytest.mark.parametrize("half", ["bfloat16", "float16"])
def test_half_precision_parameters_get_gradients_of_their_dtype(
    modules: dict[str, ModuleType], half: str
) -> None:
    torch = pytest.importorskip("torch")
    jax = pytest.importorskip("jax")
    module = modules["3-3-2"]
    params, X, Y = _data(module)
    dtype = getattr(torch, half)
    leaves = {k: torch.asarray(v, dtype=dtype).requires_grad_() for k, v in params.items()}
    value = torch_loss(module)(leaves, torch.asarray(X, dtype=dtype), torch.asarray(Y))
    value.backward()
    assert value.dtype == torch.float32
    assert {v.grad.dtype for v in leaves.values()} == {dtype}
    jnp = jax.numpy
    arrays = {k: jnp.asarray(v, dtype=getattr(jnp, half)) for k, v in params.items()}
    grads = jax.grad(jax_loss(module))(arrays, jnp.asarray(X, dtype=getattr(jnp, half)), Y)
    assert {g.dtype for g in grads.values()} == {jnp.dtype(half)}


def test_torch_loss_with_sample_weight_and_x_gradient(modules: dict[str, ModuleType]) -> None:
    """Sample weights weigh the mean; the gradient in X flows through autograd (gradcheck in X
    and the parameters at once) and through ``torch.func.grad``, equal to torch autograd's of
    the weighted per-sample losses."""
    torch = pytest.importorskip("torch")
    module = modules["3-3-2"]
    loss = torch_loss(module)
    params, X, Y = _data(module)
    keys = list(params)
    w = torch.tensor([0.0, 1.0, 2.5, 0.5, 1.0], dtype=torch.float64)
    Xt, Yt = torch.asarray(X).requires_grad_(), torch.asarray(Y)
    weights = [torch.asarray(params[k]).requires_grad_() for k in keys]

    def f(x: Any, *p: Any) -> Any:
        return loss(dict(zip(keys, p, strict=True)), x, Yt, sample_weight=w)

    assert torch.autograd.gradcheck(f, (Xt, *weights), eps=1e-6, atol=1e-8, rtol=1e-6)
    # torch autograd of the same weighted mean
    copies = [p.detach().clone().requires_grad_() for p in weights]
    x = Xt.detach().clone().requires_grad_()
    h = torch.sigmoid(x @ copies[0].T + copies[1])
    logits = h @ copies[2].T + copies[3]
    per_sample = -(Yt * torch.log_softmax(logits, dim=1)).sum(dim=1)
    ((w * per_sample).sum() / w.sum()).backward()
    value = f(Xt, *weights)
    value.backward()
    assert np.allclose(Xt.grad.numpy(), x.grad.numpy(), rtol=1e-12, atol=1e-18)
    for mine, theirs in zip(weights, copies, strict=True):
        assert np.allclose(mine.grad.numpy(), theirs.grad.numpy(), rtol=1e-12, atol=1e-18)
    detached = [p.detach() for p in weights]
    by_func = torch.func.grad(lambda x: f(x, *detached))(Xt.detach())
    assert np.allclose(by_func.numpy(), x.grad.numpy(), rtol=1e-12, atol=1e-18)
    with pytest.raises(ValueError, match="sample_weight requires grad"):
        loss(dict(zip(keys, weights, strict=True)), Xt, Yt, sample_weight=w.requires_grad_())
