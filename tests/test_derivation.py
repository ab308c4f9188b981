"""The derivation and its proof: every activation, every output/loss pair, small and large nets.

The proof itself is tested too: a derivation with one wrong step must fail to prove.
"""

from __future__ import annotations

import dataclasses

import pytest
import sympy as sp
from conftest import SMALL_NETS, Named

from symgrad import notation as nt
from symgrad.derivation import CheckMethod, Derivation, Kind, ProofMethod, Stage, StepId
from symgrad.errors import ProofError, SpecError
from symgrad.model import instantiate
from symgrad.pipeline import derive
from symgrad.proof import prove
from symgrad.proof.common import COMPOSED_LIMIT
from symgrad.spec import NetworkSpec


@pytest.mark.parametrize("net", SMALL_NETS, ids=lambda n: n.id)
def test_every_step_is_proved_against_the_composed_loss(net: Named) -> None:
    derivation = derive(net.spec(), method="composed")
    assert derivation.proof is not None
    assert derivation.proof.method is ProofMethod.COMPOSED
    for step in derivation:
        assert step.check is not None, step.key
        # The definitions: the forward pass, the batch's mean loss, the output function row-wise.
        definitions = (Kind.BATCH_LOSS, Kind.BATCH_PREDICTION)
        if step.stage is not Stage.SETUP and step.kind not in definitions:
            assert step.check.method is not CheckMethod.DEFINITION, step.key
    spec = net.spec()
    units = sum(spec.sizes[1:-1]) * 2
    assert derivation.proof.partials_checked == spec.parameter_count + units
    for kind in (Kind.WEIGHT, Kind.BIAS):
        for k in range(1, spec.depth + 1):
            check = derivation.step(StepId(kind, k)).check
            assert check is not None and check.method is CheckMethod.COMPOSED
            assert check.entries == check.total


@pytest.mark.parametrize("net", SMALL_NETS[:7] + SMALL_NETS[7:12], ids=lambda n: n.id)
def test_numeric_proof_agrees_to_high_precision(net: Named) -> None:
    derivation = derive(net.spec(), method="numeric")
    assert derivation.proof is not None
    assert derivation.proof.method is ProofMethod.NUMERIC
    assert derivation.proof.max_error < 1e-30


def test_three_stages_for_every_layer() -> None:
    derivation = derive(NetworkSpec.parse([2, 4, 4, 3, 2]), prove=False)
    keys = [s.key for s in derivation]
    for k in (3, 2, 1):
        for name in ("hidden-grad", "hidden-grad-vector", "hidden-delta", "hidden-delta-vector"):
            assert f"{name}-{k}" in keys
    for k in (4, 3, 2, 1):
        for name in ("weight", "weight-matrix", "bias", "bias-vector"):
            assert f"{name}-{k}" in keys
    stages = [s.stage for s in derivation]
    assert stages == sorted(stages, key=list(Stage).index)


def test_bias_has_two_indices_and_weight_three() -> None:
    derivation = derive(NetworkSpec.parse([3, 3, 2]), prove=False)
    bias = derivation.step(StepId(Kind.BIAS, 2))
    assert bias.lhs == nt.partial(nt.bias(2, nt.I))
    assert len(bias.lhs.variables[0].indices) == 2
    weight = derivation.step(StepId(Kind.WEIGHT, 2))
    assert len(weight.lhs.variables[0].indices) == 3
    assert weight.final == nt.partial(nt.pre(2, nt.I)) * nt.post(1, nt.J)


def test_matrix_of_partials_is_built_lazily_for_large_layers() -> None:
    derivation = derive(NetworkSpec.parse([784, 128, 10]), prove=False)
    matrix = derivation.step(StepId(Kind.WEIGHT_MATRIX, 1)).forms[0]
    assert matrix.shape == (128, 784)
    assert matrix.entry(128, 784) == nt.partial(nt.weight(1, 128, 784))


def test_softmax_cross_entropy_states_its_assumption() -> None:
    derivation = derive(NetworkSpec.parse([3, 3, 2]), prove=False)
    step = derivation.step(StepId(Kind.OUTPUT_DELTA, 2))
    assert step.rules[-1].name == "TARGETS_SUM_TO_ONE"
    other = derive(NetworkSpec.parse([3, 3, 2], output="sigmoid"), prove=False)
    assert all(
        r.name != "TARGETS_SUM_TO_ONE" for r in other.step(StepId(Kind.OUTPUT_DELTA, 2)).rules
    )


def _with_form(derivation: Derivation, key: str, index: int, form: sp.Basic) -> Derivation:
    steps = tuple(
        dataclasses.replace(s, forms=s.forms[:index] + (form,) + s.forms[index + 1 :])
        if s.key == key
        else s
        for s in derivation.steps
    )
    return dataclasses.replace(derivation, steps=steps)


@pytest.mark.parametrize("method", ["composed", "numeric"])
@pytest.mark.parametrize(
    ("key", "index", "wrong"),
    [
        # dL/dW_{kij} = dL/da_{ki} h_{k-1,i}: the index typo the proof must catch
        ("weight-2", 1, nt.partial(nt.pre(2, nt.I)) * nt.post(1, nt.I)),
        # the bias partial with a stray factor
        ("bias-1", 1, 2 * nt.partial(nt.pre(1, nt.I))),
        # sigmoid' written as h (1 + h)
        (
            "hidden-delta-1",
            2,
            nt.partial(nt.post(1, nt.J)) * nt.post(1, nt.J) * (1 + nt.post(1, nt.J)),
        ),
        # grad_{a_L} L = y - yhat, the sign slip
        ("output-delta", 2, nt.target(nt.I) - nt.prediction(nt.I)),
        # grad_{h_k} L = W_{k+1} grad_{a_{k+1}} L without the transpose
        (
            "hidden-grad-1",
            1,
            sp.Sum(nt.partial(nt.pre(2, nt.I)) * nt.weight(2, nt.J, nt.I), (nt.I, 1, 2)),
        ),
    ],
)
def test_a_wrong_step_fails_to_prove(key: str, index: int, wrong: sp.Expr, method: str) -> None:
    spec = NetworkSpec.parse([3, 3, 2])
    broken = _with_form(derive(spec, prove=False), key, index, wrong)
    with pytest.raises(ProofError):
        prove(broken, method=method)


def test_wrong_vector_form_fails_to_prove() -> None:
    spec = NetworkSpec.parse([3, 3, 2])
    derivation = derive(spec, prove=False)
    net = derivation.network
    wrong = net.weight_matrix(2).T * net.grad("a", 2) * 2
    with pytest.raises(ProofError):
        prove(_with_form(derivation, "hidden-grad-vector-1", 0, wrong))


def test_composed_proof_refuses_large_networks() -> None:
    with pytest.raises(SpecError, match="--proof numeric"):
        derive(NetworkSpec.parse([64, 64, 10]), method="composed")


def test_auto_picks_composed_for_small_and_numeric_for_large() -> None:
    small = derive(NetworkSpec.parse([3, 3, 2]))
    assert small.proof is not None and small.proof.method is ProofMethod.COMPOSED
    assert NetworkSpec.parse([3, 3, 2]).parameter_count <= COMPOSED_LIMIT
    large = derive(NetworkSpec.parse([784, 128, 10]))
    assert large.proof is not None and large.proof.method is ProofMethod.NUMERIC
    bias = large.step(StepId(Kind.BIAS, 1)).check
    assert bias is not None and bias.entries == bias.total == 128


def test_instantiate_writes_out_sums_without_touching_partials() -> None:
    step = derive(NetworkSpec.parse([3, 3, 2]), prove=False).step(StepId(Kind.HIDDEN_GRAD, 1))
    value = instantiate(step.final, j=2)
    expected = sum(nt.partial(nt.pre(2, i)) * nt.weight(2, i, 2) for i in (1, 2))
    assert sp.expand(value - expected) == 0
