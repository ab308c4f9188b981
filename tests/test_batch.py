"""The mini-batch steps: data of the derivation, numbered, proved against the per-sample steps.

Generated code computes the gradient of a batch, rows as samples; its comments cite these steps
by number. The proof expands each for a batch of two, entry by entry; a wrong one must fail.
"""

from __future__ import annotations

import dataclasses

import pytest
import sympy as sp
from conftest import SMALL_NETS, Named

from symgrad import notation as nt
from symgrad.derivation import (
    CheckMethod,
    Derivation,
    Kind,
    Stage,
    StepId,
    build_step,
)
from symgrad.errors import ProofError
from symgrad.pipeline import derive
from symgrad.proof import prove
from symgrad.spec import NetworkSpec


def batch_order(depth: int) -> list[StepId]:
    """The mini-batch steps in computing order, written out by hand: the forward pass and the
    mean loss, then for k = L, ..., 1 the gradients of W_k, b_k, h_{k-1} and a_{k-1}."""
    L = depth
    ids = []
    for k in range(1, L + 1):
        ids.append(StepId(Kind.BATCH_FORWARD, k))
        if k < L:
            ids.append(StepId(Kind.BATCH_ACTIVATION, k))
    ids += [StepId(Kind.BATCH_PREDICTION, L), StepId(Kind.BATCH_LOSS, L)]
    ids.append(StepId(Kind.BATCH_OUTPUT_DELTA, L))
    for k in range(L, 0, -1):
        ids += [StepId(Kind.BATCH_WEIGHT, k), StepId(Kind.BATCH_BIAS, k)]
        if k > 1:
            ids += [StepId(Kind.BATCH_HIDDEN_GRAD, k - 1), StepId(Kind.BATCH_HIDDEN_DELTA, k - 1)]
    return ids


@pytest.mark.parametrize("net", SMALL_NETS, ids=lambda n: n.id)
def test_every_batch_step_is_proved_against_the_per_sample_step(net: Named) -> None:
    derivation = derive(net.spec(), method="composed")
    batch = derivation.stage(Stage.BATCH)
    assert [s.id for s in batch] == batch_order(net.spec().depth)
    for step in batch:
        assert step.check is not None
        if step.kind in (Kind.BATCH_LOSS, Kind.BATCH_PREDICTION):
            assert step.check.method is CheckMethod.DEFINITION  # the mean; O row by row
        else:
            assert step.check.method is CheckMethod.SYMBOLIC, step.key
            assert 0 < step.check.entries <= step.check.total
        derivation.step(step.id.per_sample())  # the step it stacks exists


def test_batch_steps_come_last_and_are_numbered_in_computing_order() -> None:
    derivation = derive(NetworkSpec.parse([2, 4, 3, 2], "tanh"), prove=False)
    numbers = [s.number for s in derivation]
    assert numbers == list(range(1, len(numbers) + 1))
    batch = derivation.stage(Stage.BATCH)
    assert batch[0].number == len(derivation.steps) - len(batch) + 1
    keys = [s.key for s in batch]
    assert keys[:5] == [
        "batch-forward-1",
        "batch-activation-1",
        "batch-forward-2",
        "batch-activation-2",
        "batch-forward-3",
    ]
    assert keys[5:9] == ["batch-prediction", "batch-loss", "batch-output-delta", "batch-weight-3"]
    assert keys[-2:] == ["batch-weight-1", "batch-bias-1"]
    stacking = {k for k in Kind.ALL.values() if k.per_sample is not None}
    assert stacking == {s.kind for s in batch}
    # one step is built alone, as the proof builds it
    single = build_step(derivation.network, StepId(Kind.BATCH_HIDDEN_DELTA, 2))
    assert single.forms == derivation.step(StepId(Kind.BATCH_HIDDEN_DELTA, 2)).forms


def _with_form(derivation: Derivation, key: str, index: int, form: sp.Basic) -> Derivation:
    steps = tuple(
        dataclasses.replace(s, forms=s.forms[:index] + (form,) + s.forms[index + 1 :])
        if s.key == key
        else s
        for s in derivation.steps
    )
    return dataclasses.replace(derivation, steps=steps)


def _wrong_forms() -> list[tuple[str, int, sp.Basic]]:
    net = derive(NetworkSpec.parse([3, 3, 2]), prove=False).network
    B = nt.BATCH
    H1, X, Yhat, Y = (
        net.batch("h", 1),
        net.batch("x", None),
        net.batch("yhat", None),
        net.batch("y", None),
    )
    delta2, G1 = net.batch("a", 2, gradient=True), net.batch("h", 1, gradient=True)
    return [
        # the mean forgotten: Delta_L = Yhat - Y
        ("batch-output-delta", 0, sp.MatAdd(Yhat, -Y)),
        # the bias forgotten: A_1 = X W_1^T
        ("batch-forward-1", 0, sp.MatMul(X, sp.Transpose(net.weight_matrix(1)))),
        # divided by B twice: grad W_2 = (1/B) Delta_2^T H_1
        ("batch-weight-2", 0, sp.MatMul(1 / B, sp.Transpose(delta2), H1)),
        # the wrong rows: grad b_1 summed over the columns of a G, not of Delta_1
        ("batch-bias-1", 0, sp.MatMul(sp.Transpose(G1), sp.OneMatrix(B, 1))),
        # sigmoid' written as H (.) H
        ("batch-hidden-delta-1", 1, sp.HadamardProduct(G1, H1, H1)),
        # the weights of the wrong layer... scaled: G_1 = 2 Delta_2 W_2
        ("batch-hidden-grad-1", 0, sp.MatMul(2, delta2, net.weight_matrix(2))),
    ]


@pytest.mark.parametrize(("key", "index", "wrong"), _wrong_forms(), ids=lambda v: str(v)[:24])
def test_a_wrong_batch_step_fails_to_prove(key: str, index: int, wrong: sp.Basic) -> None:
    broken = _with_form(derive(NetworkSpec.parse([3, 3, 2]), prove=False), key, index, wrong)
    with pytest.raises(ProofError, match=key):
        prove(broken)


def test_the_pair_writes_its_own_batch_delta() -> None:
    """Delta_L in the general form of each pair, not always (1/B)(Yhat - Y)."""
    plain = derive(NetworkSpec.parse([3, 2]), prove=False)
    squared = derive(NetworkSpec.parse([3, 2], output="softmax", loss="squared-error"))
    assert plain.step(StepId(Kind.BATCH_OUTPUT_DELTA, 1)).final == sp.MatMul(
        1 / nt.BATCH, sp.MatAdd(plain.network.batch("yhat", None), -plain.network.batch("y", None))
    )
    step = squared.step(StepId(Kind.BATCH_OUTPUT_DELTA, 1))
    assert step.final.has(sp.HadamardProduct)
    assert step.check is not None and step.check.method is CheckMethod.SYMBOLIC
