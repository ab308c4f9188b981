"""``loss(..., reduction="none")`` and ``sample_weight=``: per-sample losses and weighted means.

Derived in the program (row ``s`` weighs ``r_s = w_s / sum(w)``, ``1/B`` without weights, in the
loss and in ``Delta_L``), proved (the weighted programs against their one-sample results),
generated in the NumPy (both styles) and array-API modules, compared here with torch autograd
(``torch.nn.functional`` losses with ``reduction='none'``, then the weighted mean), and checked
by ``symgrad check`` with both its judges; a wrong weighting fails the proof and the check.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import WEIGHTS_JUDGED, check_cli
from conftest import import_file as _load

from symgrad import notation as nt
from symgrad.codegen import generate
from symgrad.errors import ProofError
from symgrad.pipeline import derive, weighted_runs
from symgrad.proof.weighted import check_weighted
from symgrad.spec import NetworkSpec

torch = pytest.importorskip("torch")
F = torch.nn.functional

CASES = {
    "vectorized": ("numpy", "vectorized"),
    "unrolled": ("numpy", "unrolled"),
    "array_api": ("array-api", None),
}

#: Output and loss pairs and torch's per-sample loss of the logits (reduction='none').
PAIRS: dict[str, tuple[dict[str, str], Callable[[Any, Any], Any]]] = {
    "softmax": (
        {},
        lambda logits, y: F.cross_entropy(logits, y, reduction="none"),
    ),
    "sigmoid": (
        {"output": "sigmoid", "loss": "binary-cross-entropy"},
        lambda logits, y: F.binary_cross_entropy_with_logits(logits, y, reduction="none").sum(1),
    ),
    "squared": (
        {"output": "identity", "loss": "squared-error"},
        lambda logits, y: F.mse_loss(logits, y, reduction="none").sum(1) / 2,
    ),
}


def _module(folder: Path, name: str, target: str, style: str | None, **options: str) -> Path:
    spec = NetworkSpec.parse([3, 4, 2], **options)  # type: ignore[arg-type]
    (module,) = generate(derive(spec, prove=False), target, style)
    path = folder / f"{name}.py"
    path.write_text(module.text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def modules(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    folder = tmp_path_factory.mktemp("sample_weight")
    return {
        (case, pair): _module(folder, f"{case}_{pair}", target, style, **options)
        for case, (target, style) in CASES.items()
        for pair, (options, _) in PAIRS.items()
    }


def _targets(pair: str, rng: np.random.Generator, rows: int) -> np.ndarray:
    if pair == "softmax":
        return rng.integers(0, 2, rows)
    if pair == "sigmoid":
        return rng.uniform(0.0, 1.0, (rows, 2))
    return rng.standard_normal((rows, 2))


def _torch(pair: str, params: dict[str, np.ndarray], X: np.ndarray, Y: np.ndarray, w: Any) -> Any:
    """torch autograd: the per-sample losses, and the weighted mean's gradients in the
    parameters and in X (``w`` None: the plain mean)."""
    tensors = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    x = torch.tensor(X, requires_grad=True)
    logits = torch.sigmoid(x @ tensors["W1"].T + tensors["b1"]) @ tensors["W2"].T + tensors["b2"]
    per_sample = PAIRS[pair][1](logits, torch.tensor(Y))
    weights = torch.ones(len(X), dtype=torch.float64) if w is None else torch.tensor(w)
    value = (weights * per_sample).sum() / weights.sum()
    value.backward()
    grads = {k: t.grad.numpy() for k, t in tensors.items()}  # type: ignore[union-attr]
    loss = float(value.detach())
    return per_sample.detach().numpy(), loss, grads, x.grad.numpy()  # type: ignore[union-attr]


@pytest.mark.parametrize("pair", list(PAIRS))
@pytest.mark.parametrize("case", list(CASES))
def test_weighted_and_per_sample_equal_torch_autograd(
    modules: dict[tuple[str, str], Path], case: str, pair: str
) -> None:
    module = _load(modules[(case, pair)])
    params = module.init_params(2)
    rng = np.random.default_rng(3)
    X, Y = rng.standard_normal((7, 3)), _targets(pair, rng, 7)
    w = rng.uniform(0.0, 3.0, 7)
    w[2] = 0.0  # a sample left out
    per_sample, value, grads, grad_x = _torch(pair, params, X, Y, w)
    np.testing.assert_allclose(module.loss(params, X, Y, reduction="none"), per_sample, rtol=1e-12)
    assert float(module.loss(params, X, Y, sample_weight=w)) == pytest.approx(value, rel=1e-12)
    found, gradients = module.loss_and_gradients(params, X, Y, sample_weight=w)
    assert float(found) == pytest.approx(value, rel=1e-12)
    for key, wanted in grads.items():
        np.testing.assert_allclose(gradients[key], wanted, rtol=1e-11, atol=1e-16)
        np.testing.assert_allclose(
            module.gradients(params, X, Y, sample_weight=w)[key], wanted, rtol=1e-11, atol=1e-16
        )
    gradient_x = module.input_gradient(params, X, Y, sample_weight=w)
    np.testing.assert_allclose(gradient_x, grad_x, rtol=1e-11, atol=1e-17)
    # Without weights: the plain mean, as before.
    _, mean, plain, _ = _torch(pair, params, X, Y, None)
    assert float(module.loss(params, X, Y)) == pytest.approx(mean, rel=1e-12)
    for key, wanted in plain.items():
        np.testing.assert_allclose(
            module.gradients(params, X, Y)[key], wanted, rtol=1e-11, atol=1e-16
        )


@pytest.mark.parametrize("case", list(CASES))
def test_one_sample_and_a_batch_of_one(modules: dict[tuple[str, str], Path], case: str) -> None:
    """A 1-D X: the per-sample loss is a number, and a weight changes nothing; a batch of one
    gives an array of one loss."""
    module = _load(modules[(case, "softmax")])
    params = module.init_params(0)
    x, label = np.array([0.5, -1.0, 2.0]), 1
    alone = float(module.loss(params, x, label))
    assert float(module.loss(params, x, label, reduction="none")) == pytest.approx(alone, rel=1e-15)
    assert float(module.loss(params, x, label, sample_weight=3.0)) == pytest.approx(
        alone, rel=1e-15
    )
    rows = np.asarray(module.loss(params, x[None], np.array([label]), reduction="none"))
    assert rows.shape == (1,) and rows[0] == pytest.approx(alone, rel=1e-15)


BAD_WEIGHTS = [
    (np.ones(3), "sample_weight has shape (3,); expected (4,)"),
    (np.array([1.0, -1.0, 1.0, 1.0]), "negative weight"),
    (np.zeros(4), "sums to 0"),
    (np.array([1.0, np.nan, 1.0, 1.0]), "not finite"),
    (np.array([1.0, np.inf, 1.0, 1.0]), "not finite"),
    (np.array(["a", "b", "c", "d"]), "real numbers"),
    (np.array([1j, 1, 1, 1]), "real numbers"),
]


@pytest.mark.parametrize("case", list(CASES))
def test_bad_weights_and_reductions_are_refused(
    modules: dict[tuple[str, str], Path], case: str
) -> None:
    module = _load(modules[(case, "softmax")])
    params = module.init_params(0)
    X, Y = np.ones((4, 3)), np.array([0, 1, 0, 1])
    for function in ("loss", "loss_and_gradients", "gradients", "input_gradient"):
        for weights, message in BAD_WEIGHTS:
            with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
                getattr(module, function)(params, X, Y, sample_weight=weights)
    with pytest.raises(ValueError, match='reduction must be "mean" or "none"'):
        module.loss(params, X, Y, reduction="sum")
    with pytest.raises(ValueError, match="sample_weight weighs the mean"):
        module.loss(params, X, Y, reduction="none", sample_weight=np.ones(4))


def test_torch_tensors_through_the_array_api(modules: dict[tuple[str, str], Path]) -> None:
    """Torch tensors in, torch tensors out; bad weights of a library other than NumPy, whose
    values may be unknown while traced, give NaN."""
    module = _load(modules[("array_api", "softmax")])
    params = module.init_params(1)
    rng = np.random.default_rng(4)
    X, labels, w = rng.standard_normal((5, 3)), rng.integers(0, 2, 5), rng.uniform(0, 2, 5)
    tensors = {k: torch.tensor(v) for k, v in params.items()}
    per_sample, value, grads, _ = _torch("softmax", params, X, labels, w)
    rows = module.loss(tensors, torch.tensor(X), torch.tensor(labels), reduction="none")
    assert isinstance(rows, torch.Tensor) and rows.shape == (5,)
    np.testing.assert_allclose(rows.numpy(), per_sample, rtol=1e-12)
    found, gradients = module.loss_and_gradients(
        tensors, torch.tensor(X), torch.tensor(labels), sample_weight=torch.tensor(w)
    )
    assert float(found) == pytest.approx(value, rel=1e-12)
    np.testing.assert_allclose(gradients["W1"].numpy(), grads["W1"], rtol=1e-11)
    bad = torch.tensor([1.0, -1.0, 1.0, 1.0, 1.0], dtype=torch.float64)
    assert torch.isnan(module.loss(tensors, torch.tensor(X), labels, sample_weight=bad))
    half = {k: v.to(torch.bfloat16) for k, v in tensors.items()}
    rows = module.loss(half, torch.tensor(X).to(torch.bfloat16), labels, reduction="none")
    assert rows.dtype == torch.float32


def test_half_precision_gives_float32(modules: dict[tuple[str, str], Path]) -> None:
    module = _load(modules[("vectorized", "softmax")])
    params = {k: v.astype(np.float16) for k, v in module.init_params(0).items()}
    X, labels = np.ones((2, 3), np.float16), np.array([0, 1])
    assert module.loss(params, X, labels, reduction="none").dtype == np.float32
    weights = np.array([1, 3], np.float16)
    assert module.input_gradient(params, X, labels, sample_weight=weights).dtype == np.float32


def test_the_proof_covers_the_weighted_form() -> None:
    """The weighted programs pass; one whose ``Delta_L`` rows ignore the weights (divided by B,
    the notes' mean), or whose per-sample losses are off, fails."""
    derivation = derive(NetworkSpec.parse([3, 4, 2]), prove=False, input_gradient=True)
    runs = weighted_runs(derivation)
    assert len(runs) == 2  # the matrix program and the scalar one
    for run in runs:
        assert check_weighted(derivation, run) > 0

    def unweighted(params: Any, X: Any, Y: Any, weights: Any) -> dict[str, Any]:
        return runs[0](params, X, Y, None)  # every row weighs 1/B, whatever the weights

    with pytest.raises(ProofError, match="weighted combination"):
        check_weighted(derivation, unweighted)

    def shifted(params: Any, X: Any, Y: Any, weights: Any) -> dict[str, Any]:
        outputs = runs[0](params, X, Y, weights)
        outputs[nt.SAMPLE_LOSSES] = np.roll(np.asarray(outputs[nt.SAMPLE_LOSSES]), 1)
        return outputs

    with pytest.raises(ProofError, match="sample_losses"):
        check_weighted(derivation, shifted)


@pytest.mark.sandbox
@pytest.mark.parametrize("case", ["vectorized", "array_api"])
def test_symgrad_check_checks_weights_both_ways(
    modules: dict[tuple[str, str], Path], case: str
) -> None:
    status, out = check_cli(modules[(case, "softmax")])
    assert status == 0, out
    for line in WEIGHTS_JUDGED:
        assert line in out, out


#: Mutations of the vectorized module: (what is broken, the text replaced, by what, its
#: occurrence (0-based), the findings that must fail).
MUTATIONS = [
    (
        "the weighted gradients",
        "    Delta2 *= Rw\n",
        "    Delta2 /= X.shape[0]\n",
        0,
        ("gradient of W1", "FAIL  the gradients with sample_weight agree with central"),
    ),
    (
        "the weighted input gradient",
        "    Delta2 *= Rw\n",
        "    Delta2 /= X.shape[0]\n",
        1,
        ("input gradient (relative", "FAIL  input_gradient with sample_weight agrees"),
    ),
    (
        "the per-sample losses",
        "losses[:, 0]",
        "losses[::-1, 0]",
        0,
        ("per-sample losses (relative", "FAIL  loss(..., reduction='none') gives each row's"),
    ),
]


@pytest.mark.sandbox
@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_a_wrong_weighting_fails_both_judges(
    modules: dict[tuple[str, str], Path], tmp_path: Path, mutation: tuple[Any, ...]
) -> None:
    _, old, new, nth, failures = mutation
    text = modules[("vectorized", "softmax")].read_text(encoding="utf-8")
    parts = text.split(old)
    assert len(parts) > nth + 1
    wrong = tmp_path / "wrong.py"
    wrong.write_text(old.join(parts[: nth + 1]) + new + old.join(parts[nth + 1 :]), "utf-8")
    status, out = check_cli(wrong)
    assert status == 1, out
    assert "FAIL  with sample weights and reduction='none'" in out
    for failure in failures:
        assert failure in out, out


@pytest.mark.sandbox
def test_weight_decay_per_sample_losses_leave_out_the_penalty(tmp_path: Path) -> None:
    """With weight decay, the loss of one row carries the penalty and reduction="none" does not:
    a correct file passes, and one whose per-sample losses carry the penalty too fails against
    the reference (the file's own judge allows any number every row shares)."""
    spec = NetworkSpec.parse([3, 4, 2], kinds={"weight_decay": 0.01})
    (module,) = generate(derive(spec, prove=False), "numpy", "vectorized")
    path = tmp_path / "decay.py"
    path.write_text(module.text, encoding="utf-8")
    status, out = check_cli(path)
    assert status == 0, out
    for line in WEIGHTS_JUDGED:
        assert line in out, out
    text = path.read_text(encoding="utf-8")
    old = "        return float(losses[0, 0]) if one else losses[:, 0]\n"
    assert text.count(old) == 1
    new = "        losses = losses + (objective - value)\n" + old
    wrong = tmp_path / "wrong.py"
    wrong.write_text(text.replace(old, new), encoding="utf-8")
    status, out = check_cli(wrong)
    assert status == 1, out
    assert "per-sample losses (relative" in out, out
    assert "FAIL  with sample weights and reduction='none'" in out, out
