"""Check the hand-written oracle ``reference_backprop`` before anything is checked against it.

Every gradient entry of tiny networks is compared with central finite differences of the loss in
float64, for every hidden activation and every output/loss pair, with a batch and with one 1-D
sample. Loss values are compared with the textbook formulas evaluated on ``forward``'s output.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pytest

try:  # tests/ may or may not become a package; the oracle must import either way
    from tests import reference_backprop as ref
except ImportError:  # pragma: no cover - depends on how pytest sets sys.path
    import reference_backprop as ref

from conftest import BUILTIN_ACTIVATIONS as ACTIVATIONS
from conftest import PAIRS

NETS = {"2-3-2": (2, 3, 2), "3-2-2-3": (3, 2, 2, 3), "1-1": (1, 1), "2-1-2": (2, 1, 2)}


def _targets(
    output: str, loss: str, shape: tuple[int, ...], rng: np.random.Generator
) -> np.ndarray:
    """Targets that exercise the general formulas: cross-entropy targets deliberately do not sum
    to 1, BCE targets lie strictly in (0, 1), squared-error targets are arbitrary reals."""
    if loss == "cross-entropy":
        return rng.uniform(0.1, 1.0, size=shape)
    if loss == "binary-cross-entropy":
        return rng.uniform(0.05, 0.95, size=shape)
    return rng.standard_normal(shape)


def _loss(params, X, Y, activations, output, loss) -> float:
    value, _ = ref.loss_and_gradients(
        params, X, Y, activations=activations, output=output, loss=loss
    )
    return value


def _finite_difference(params, X, Y, activations, output, loss, eps=1e-6) -> dict:
    """Central differences ``(L(theta + eps e) - L(theta - eps e)) / (2 eps)`` for every entry."""
    grads = {}
    for key, value in params.items():
        g = np.zeros_like(value)
        for idx in np.ndindex(value.shape):
            original = value[idx]
            value[idx] = original + eps
            plus = _loss(params, X, Y, activations, output, loss)
            value[idx] = original - eps
            minus = _loss(params, X, Y, activations, output, loss)
            value[idx] = original
            g[idx] = (plus - minus) / (2 * eps)
        grads[key] = g
    return grads


def _cases():
    for net_id, sizes in NETS.items():
        hidden = len(sizes) - 2
        for act in ACTIVATIONS:
            if hidden == 0 and act != "sigmoid":
                continue  # no hidden layer: the activation does not matter
            for output, loss in PAIRS:
                yield pytest.param(
                    sizes, [act] * hidden, output, loss, id=f"{net_id}-{act}-{output}-{loss}"
                )


@pytest.mark.parametrize("batch", [4, None], ids=["batch4", "1d"])
@pytest.mark.parametrize(("sizes", "activations", "output", "loss"), list(_cases()))
def test_gradients_match_finite_differences(
    sizes: Sequence[int], activations: list[str], output: str, loss: str, batch: int | None
) -> None:
    rng = np.random.default_rng(len(sizes) * 100 + sizes[0])
    params = ref.make_params(sizes, seed=1)
    # larger weights so that pre-activations spread over the nonlinear range of g and O
    for key in params:
        params[key] *= 1.5
    shape_x = (batch, sizes[0]) if batch else (sizes[0],)
    shape_y = (batch, sizes[-1]) if batch else (sizes[-1],)
    X = rng.standard_normal(shape_x)
    Y = _targets(output, loss, shape_y, rng)

    value, grads = ref.loss_and_gradients(
        params, X, Y, activations=activations, output=output, loss=loss
    )
    assert isinstance(value, float)
    assert sorted(grads) == sorted(params)
    numeric = _finite_difference(params, X, Y, activations, output, loss)
    for key in params:
        assert grads[key].shape == params[key].shape, key
        np.testing.assert_allclose(grads[key], numeric[key], rtol=1e-6, atol=1e-8, err_msg=key)


def test_mixed_activations_per_layer() -> None:
    sizes = (3, 4, 3, 2, 2)
    acts = ["tanh", "softplus", "leaky-relu"]
    rng = np.random.default_rng(7)
    params = ref.make_params(sizes, seed=3)
    X, Y = rng.standard_normal((5, 3)), rng.uniform(0.1, 1.0, (5, 2))
    _, grads = ref.loss_and_gradients(
        params, X, Y, activations=acts, output="softmax", loss="cross-entropy"
    )
    numeric = _finite_difference(params, X, Y, acts, "softmax", "cross-entropy")
    for key in params:
        np.testing.assert_allclose(grads[key], numeric[key], rtol=1e-6, atol=1e-8, err_msg=key)


@pytest.mark.parametrize(("output", "loss"), PAIRS)
def test_loss_value_matches_textbook_formula(output: str, loss: str) -> None:
    rng = np.random.default_rng(11)
    params = ref.make_params((3, 4, 3), seed=2)
    X = rng.standard_normal((6, 3))
    Y = _targets(output, loss, (6, 3), rng)
    yhat = ref.forward(params, X, activations=["tanh"], output=output)
    if loss == "cross-entropy":
        per_sample = -(Y * np.log(yhat)).sum(axis=1)
    elif loss == "binary-cross-entropy":
        per_sample = -(Y * np.log(yhat) + (1 - Y) * np.log(1 - yhat)).sum(axis=1)
    else:
        per_sample = 0.5 * ((yhat - Y) ** 2).sum(axis=1)
    value = _loss(params, X, Y, ["tanh"], output, loss)
    assert value == pytest.approx(per_sample.mean(), rel=1e-12)
    # one 1-D sample gives the per-sample loss and a 1-D prediction
    assert _loss(params, X[2], Y[2], ["tanh"], output, loss) == pytest.approx(
        per_sample[2], rel=1e-12
    )
    one = ref.forward(params, X[2], activations=["tanh"], output=output)
    assert one.shape == (3,)
    np.testing.assert_allclose(one, yhat[2], rtol=1e-14)


def test_softmax_cross_entropy_does_not_assume_targets_sum_to_one() -> None:
    params = ref.make_params((2, 3), seed=0)
    x, y = np.array([0.3, -0.7]), np.array([2.0, 0.5, 1.0])
    _, grads = ref.loss_and_gradients(
        params, x, y, activations=[], output="softmax", loss="cross-entropy"
    )
    yhat = ref.forward(params, x, activations=[], output="softmax")
    np.testing.assert_allclose(grads["b1"], yhat * y.sum() - y, rtol=1e-13)
    assert not np.allclose(grads["b1"], yhat - y)


@pytest.mark.parametrize("act", ["relu", "leaky-relu"])
def test_kink_derivative_at_zero(act: str) -> None:
    """With ``W_1 = 0``, ``b_1 = 0`` every ``a_1`` is exactly 0: relu'(0) = 0, leaky'(0) = 0.01."""
    params = ref.make_params((3, 4, 2), seed=5)
    params["W1"][:] = 0.0
    params["b1"][:] = 0.0
    rng = np.random.default_rng(2)
    X, Y = rng.standard_normal((3, 3)), rng.uniform(0.1, 1.0, (3, 2))
    kwargs = {"output": "softmax", "loss": "cross-entropy"}
    _, grads = ref.loss_and_gradients(params, X, Y, activations=[act], **kwargs)
    # identity has g(0) = 0 too, so the forward pass is the same and g'(0) = 1
    _, linear = ref.loss_and_gradients(params, X, Y, activations=["identity"], **kwargs)
    slope = 0.0 if act == "relu" else 0.01
    assert np.abs(linear["W1"]).max() > 1e-3  # the check below is not vacuous
    for key in ("W1", "b1"):
        np.testing.assert_allclose(grads[key], slope * linear[key], rtol=1e-14, atol=0.0)
    for key in ("W2", "b2"):
        np.testing.assert_allclose(grads[key], linear[key], rtol=1e-14)


@pytest.mark.parametrize(("output", "loss"), PAIRS)
@pytest.mark.parametrize("act", ACTIVATIONS)
def test_large_preactivations_are_finite_and_silent(act: str, output: str, loss: str) -> None:
    params = ref.make_params((2, 3, 3), seed=0)
    params["W1"] = np.array([[1e4, 0.0], [-1e4, 0.0], [0.0, 0.0]])
    params["W2"] = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]) * 1e4
    X = np.array([[1.0, 0.0], [-1.0, 0.0]])
    Y = _targets(output, loss, (2, 3), np.random.default_rng(0))
    # underflow to 0 is exact enough and silent under NumPy's defaults; nothing else may happen
    with warnings.catch_warnings(), np.errstate(all="raise", under="ignore"):
        warnings.simplefilter("error")
        value, grads = ref.loss_and_gradients(
            params, X, Y, activations=[act], output=output, loss=loss
        )
        yhat = ref.forward(params, X, activations=[act], output=output)
    assert np.isfinite(value)
    assert np.all(np.isfinite(yhat))
    for key, g in grads.items():
        assert np.all(np.isfinite(g)), key


def test_make_params_shapes_and_scale() -> None:
    params = ref.make_params((784, 128, 10), seed=0)
    assert {k: v.shape for k, v in params.items()} == {
        "W1": (128, 784),
        "b1": (128,),
        "W2": (10, 128),
        "b2": (10,),
    }
    assert all(v.dtype == np.float64 for v in params.values())
    assert params["W1"].std() == pytest.approx(1 / np.sqrt(784), rel=0.05)
    again = ref.make_params((784, 128, 10), seed=0)
    assert all(np.array_equal(params[k], again[k]) for k in params)


@pytest.mark.parametrize(
    ("activations", "output", "loss"),
    [
        (["swish"], "softmax", "cross-entropy"),
        (["tanh"], "identity", "cross-entropy"),
        ([], "softmax", "cross-entropy"),
    ],
)
def test_bad_configuration_raises(activations: list[str], output: str, loss: str) -> None:
    params = ref.make_params((2, 2, 2))
    with pytest.raises(ValueError):
        ref.loss_and_gradients(
            params, np.zeros(2), np.zeros(2), activations=activations, output=output, loss=loss
        )
