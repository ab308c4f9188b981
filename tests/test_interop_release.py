"""The copy of a generated module that ``torch_loss`` runs: the same results, fewer arrays held.

:func:`symgrad.codegen.release.released` deletes each local name after its last use; the copy's
functions must give exactly the module's results (NumPy and torch arrays), hold a fraction of its
memory at their peak (measured by ``tracemalloc``, not by a clock), and a liveness that forgets a
read must make these checks fail. A module whose file was written again after its import keeps
its own code: ``torch_loss`` runs what was imported, never the new text.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
import tracemalloc
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from symgrad import NetworkSpec, derive
from symgrad.codegen import generate, release
from symgrad.interop import _torch_first, torch_loss

#: Functions of the generated module and how each is called.
CALLS = {
    "forward": lambda m, p, X, Y: m.forward(p, X),
    "loss": lambda m, p, X, Y: m.loss(p, X, Y),
    "losses": lambda m, p, X, Y: m.loss(p, X, Y, reduction="none"),
    "loss_and_gradients": lambda m, p, X, Y: m.loss_and_gradients(p, X, Y),
    "weighted": lambda m, p, X, Y: m.loss_and_gradients(p, X, Y, sample_weight=X[:, 0] ** 2),
    "input_gradient": lambda m, p, X, Y: m.input_gradient(p, X, Y),
    "labels": lambda m, p, X, Y: m.loss_and_gradients(p, X, Y.argmax(1)),
    "one sample": lambda m, p, X, Y: m.loss_and_gradients(p, X[0], Y[0]),
    "init_params": lambda m, p, X, Y: m.init_params(5),
}


def _load(text: str, path: Path) -> ModuleType:
    path.write_text(text, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def _source(sizes: list[int]) -> str:
    (file,) = generate(derive(NetworkSpec.parse(sizes), prove=False), "array-api")
    return file.text


@pytest.fixture(scope="module")
def wide(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModuleType, ModuleType]:
    """A generated module and its released copy, run from the same text."""
    text = _source([6, 48, 48, 3])
    module = _load(text, tmp_path_factory.mktemp("release") / "released_wide.py")
    copy = ModuleType("released_copy")
    exec(release.released(text, "released_copy.py"), vars(copy))
    return module, copy


def _data(module: ModuleType, batch: int = 400) -> tuple[dict, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    X = rng.standard_normal((batch, module.LAYER_SIZES[0]))
    Y = rng.dirichlet(np.ones(module.LAYER_SIZES[-1]), size=batch)
    return module.init_params(1), X, Y


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, tuple):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    return np.array_equal(np.asarray(a), np.asarray(b))


def test_released_functions_give_the_same_bits(wide: tuple[ModuleType, ModuleType]) -> None:
    module, copy = wide
    params, X, Y = _data(module)
    for name, call in CALLS.items():
        assert _equal(call(copy, params, X, Y), call(module, params, X, Y)), name
    deletions = sum(isinstance(node, ast.Delete) for node in ast.walk(_tree(copy)))
    assert deletions > 10


def _tree(copy: ModuleType) -> ast.Module:
    """The released code of ``copy`` as a tree (what ``released`` compiled)."""
    text = _source([6, 48, 48, 3])
    tree = ast.parse(text)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            node.body = release._with_deletions(node)
    return tree


def _peak(call: Any) -> int:
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_released_copy_holds_a_fraction_of_the_arrays(wide: tuple[ModuleType, ModuleType]) -> None:
    """NumPy reports its arrays to tracemalloc: the peak of one call, with and without the
    deletions (the data and parameters are made before, so they do not count). Measured: 0.64
    of the peak (the sigmoid's temporaries live in its helper, which lets them go either way);
    without the deletions it is the whole."""
    module, copy = wide
    params, X, Y = _data(module, batch=2000)
    held = _peak(lambda: module.loss_and_gradients(params, X, Y))
    released = _peak(lambda: copy.loss_and_gradients(params, X, Y))
    assert released < 0.7 * held, (released, held)


TRICKY = """
def f(a):
    t = a + 1
    u = [t * k for k in range(3)]
    t = sum(u)
    if a > 0:
        v = t * 2
    else:
        v = -t
    s = 0
    s += v
    c = 0
    c += a
    w, (x, y) = s, (t, u)
    return w, x, len(y)


def g(a):
    x = a * 2
    h = lambda: x
    return h()
"""


def test_liveness_of_rebound_nested_and_closed_over_names() -> None:
    plain: dict[str, Any] = {}
    exec(compile(TRICKY, "tricky", "exec"), plain)
    copy: dict[str, Any] = {}
    exec(release.released(TRICKY, "tricky"), copy)
    for a in (-2, 0, 3):
        assert copy["f"](a) == plain["f"](a) and copy["g"](a) == plain["g"](a)
    tree = ast.parse(TRICKY)
    f, g = (node for node in tree.body if isinstance(node, ast.FunctionDef))
    assert any(isinstance(s, ast.Delete) for s in release._with_deletions(f))
    assert release._with_deletions(g) == g.body  # a closure reads x after its last statement


@pytest.mark.parametrize("blind", ["nested reads", "augmented assignment"])
def test_a_liveness_that_misses_a_read_fails_these_checks(
    monkeypatch: pytest.MonkeyPatch, blind: str
) -> None:
    """Mutations of the analysis: reads seen only at a statement's top level, or ``s += v`` not
    seen as a read of ``s``; the comparisons above then fail."""

    def top_level_only(statement: ast.stmt) -> set[str]:
        return {
            node.id
            for node in ast.iter_child_nodes(statement)
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
        }

    def without_augmented(statement: ast.stmt) -> set[str]:
        return {
            node.id
            for node in ast.walk(statement)
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
        }

    monkeypatch.setattr(
        release, "_reads", top_level_only if blind == "nested reads" else without_augmented
    )
    copy: dict[str, Any] = {}
    exec(release.released(TRICKY, "tricky"), copy)
    with pytest.raises(NameError):  # UnboundLocalError is a NameError
        copy["f"](3)


def test_torch_copy_gives_the_same_bits_on_torch_and_mixed_arrays(
    wide: tuple[ModuleType, ModuleType],
) -> None:
    torch = pytest.importorskip("torch")
    module, _ = wide
    fast = _torch_first(module, torch)
    assert fast is not module and module.array_namespace.__module__.startswith("array_api_compat")
    params, X, Y = _data(module, batch=64)
    tensors = {k: torch.asarray(v) for k, v in params.items()}
    for arguments in ((tensors, torch.asarray(X), torch.asarray(Y)), (tensors, X, Y)):
        for name, call in CALLS.items():
            if name in ("weighted", "init_params"):
                continue  # X[:, 0] ** 2 of a NumPy X next to tensors: a NumPy weight, checked below
            expected = call(module, *arguments)
            assert _equal(_numpy(call(fast, *arguments)), _numpy(expected)), name
    w = torch.asarray(X[:, 0] ** 2)
    found = fast.loss_and_gradients(tensors, X, Y, sample_weight=w)
    expected = module.loss_and_gradients(tensors, X, Y, sample_weight=w)
    assert _equal(_numpy(found), _numpy(expected))


def _numpy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _numpy(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(_numpy(v) for v in value)
    return value.numpy() if hasattr(value, "numpy") else value


def test_a_file_written_again_after_import_is_not_run(tmp_path: Path) -> None:
    """The attack: after ``import``, the module's file holds another network's code (or
    anything). torch_loss must compute with the imported module, not with the new text."""
    torch = pytest.importorskip("torch")
    path = tmp_path / "rewritten_after_import.py"
    module = _load(_source([3, 3, 2]), path)
    path.write_text(_source([3, 5, 2]), encoding="utf-8")
    assert _torch_first(module, torch) is module
    params, X, Y = _data(module, batch=8)
    leaves = {k: torch.asarray(v).requires_grad_() for k, v in params.items()}
    torch_loss(module)(leaves, torch.asarray(X), torch.asarray(Y)).backward()
    _, expected = module.loss_and_gradients(params, X, Y)
    for key, leaf in leaves.items():
        assert np.allclose(leaf.grad.numpy(), expected[key], rtol=1e-13, atol=0), key


def test_a_copy_is_refused_when_the_text_differs_from_the_module(tmp_path: Path) -> None:
    """released_copy checks both: the functions (a changed statement) and the constants (a
    changed LAYER_SIZES, which no function's code holds)."""
    text = _source([3, 3, 2])
    module = _load(text, tmp_path / "checked_against_its_text.py")
    marker = object()
    copy = release.released_copy(module, text, {"array_namespace": marker})
    assert copy is not None and copy.array_namespace is marker
    assert module.array_namespace is not marker  # the module itself is untouched
    sizes = "LAYER_SIZES: tuple[int, ...] = (3, 3, 2)"
    statement = "A1 = b1 + X @ W1.T"
    assert sizes in text and statement in text
    assert (
        release.released_copy(module, text.replace(sizes, sizes.replace("3, 3", "3, 4")), {})
        is None
    )
    assert release.released_copy(module, text.replace(statement, statement + " * 2"), {}) is None
