"""Spec validation: every kind of bad input is refused with a clear message."""

from __future__ import annotations

import pytest

from symgrad.errors import SpecError
from symgrad.spec import MAX_LAYER_SIZE, NetworkSpec


def test_defaults_are_sigmoid_softmax_cross_entropy() -> None:
    spec = NetworkSpec.parse(["3", "3", "2"])
    assert spec.sizes == (3, 3, 2)
    assert [a.name for a in spec.activations] == ["sigmoid"]
    assert (spec.output, spec.loss) == ("softmax", "cross-entropy")
    assert spec.parameter_count == 3 * 4 + 2 * 4


@pytest.mark.parametrize(
    ("sizes", "message"),
    [
        (["3"], "at least two layer sizes"),
        ([], "at least two layer sizes"),
        (["3", "0"], "n_1 must be a positive integer, got '0'"),
        (["-3", "2"], "n_0 must be a positive integer"),
        (["3.0", "2"], "n_0 must be a positive integer"),
        (["3", "two"], "n_1 must be a positive integer"),
        (["٣", "2"], "n_0 must be a positive integer"),
        (["", "2"], "n_0 must be a positive integer"),
        (["3", str(MAX_LAYER_SIZE + 1)], "at most"),
        (["1000000000", "2"], "at most"),
        (["3"] + ["2"] * 100, "at most 64 layers"),
        (["20000", "20000", "2"], "parameters"),
    ],
)
def test_bad_sizes(sizes: list[str], message: str) -> None:
    with pytest.raises(SpecError, match=message.replace("(", r"\(").replace(")", r"\)")):
        NetworkSpec.parse(sizes)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"activation": "sigmoidal"}, "unknown activation 'sigmoidal'"),
        ({"output": "softmin"}, "unknown output 'softmin'"),
        ({"loss": "hinge"}, "unknown loss 'hinge'"),
        ({"output": "sigmoid", "loss": "cross-entropy"}, "the pairs that work"),
        ({"output": "identity", "loss": "binary-cross-entropy"}, "the pairs that work"),
        ({"activation": "tanh,relu,sigmoid"}, "lists 3 activations but the network has 2"),
    ],
)
def test_bad_names(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        NetworkSpec.parse(["3", "3", "3", "2"], **kwargs)


def test_one_of_output_and_loss_defaults_to_its_pair() -> None:
    assert NetworkSpec.parse([3, 2], output="sigmoid").loss == "binary-cross-entropy"
    assert NetworkSpec.parse([3, 2], output="identity").loss == "squared-error"
    assert NetworkSpec.parse([3, 2], loss="squared-error").output == "softmax"
    assert NetworkSpec.parse([3, 2], loss="binary-cross-entropy").output == "sigmoid"


def test_activation_list_one_per_hidden_layer() -> None:
    spec = NetworkSpec.parse([4, 3, 3, 2], activation="tanh, relu")
    assert [a.name for a in spec.activations] == ["tanh", "relu"]
    assert not spec.uniform_activation
    assert spec.command_args() == ["4", "3", "3", "2", "--activation", "tanh,relu"]


def test_single_layer_still_validates_the_activation_name() -> None:
    with pytest.raises(SpecError, match="unknown activation"):
        NetworkSpec.parse([3, 2], activation="nope")
    assert NetworkSpec.parse([3, 2], activation="tanh").activations == ()


def test_the_catalogue_is_exactly_spec_section_2() -> None:
    """The tests cover every name; this keeps their lists and the catalogue the same."""
    from conftest import BUILTIN_ACTIVATIONS, PAIRS

    from symgrad import catalogue

    assert list(catalogue.ACTIVATIONS) == BUILTIN_ACTIVATIONS
    assert list(catalogue.PAIRS) == PAIRS
