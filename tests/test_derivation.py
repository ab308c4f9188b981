"""The derivation and its proof: every activation, every output/loss pair, small and large nets.

The proof itself is tested too: a derivation with one wrong step must fail to prove.
"""

from __future__ import annotations

import dataclasses

import mpmath
import numpy as np
import pytest
import sympy as sp
from conftest import SMALL_NETS, Named

from symgrad import arrays, catalogue
from symgrad import notation as nt
from symgrad.derivation import CheckMethod, Derivation, Kind, ProofMethod, Rule, Stage, StepId
from symgrad.errors import ProofError, SpecError
from symgrad.expressions import X
from symgrad.model import instantiate
from symgrad.pipeline import derive, program_at
from symgrad.proof import prove
from symgrad.proof.common import COMPOSED_LIMIT
from symgrad.proof.numeric import Evaluated, NumericProof, Point
from symgrad.proof.precision import Outer, random_grid
from symgrad.proof.symbolic import CAPPED_WIDTH, capped
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


@pytest.mark.parametrize("method", ["composed", "numeric"])
@pytest.mark.parametrize("activation", ["log(x)", "sqrt(x)", "1/x", "log(x),tanh"])
def test_activations_with_a_restricted_domain_are_proved_inside_it(
    activation: str, method: str
) -> None:
    """log(x) is complex for a negative pre-activation: the numeric proof (and the program
    check every method runs) draws its point so that each one lies inside the domain."""
    derivation = derive(NetworkSpec.parse([3, 4, 3, 2], activation), method=method)
    assert derivation.proof is not None
    assert derivation.proof.max_error < 1e-30


def test_the_numeric_point_lies_inside_every_restricted_domain() -> None:
    from symgrad.proof.numeric import random_point

    derivation = derive(NetworkSpec.parse([5, 8, 8, 2], "log(x),sqrt(x)"), prove=False)
    net, program = derivation.network, program_at(derivation)
    for seed in range(5):
        point = random_point(net, seed, program)
        h = point.x
        for k in (1, 2):
            a = point.weights[k].matvec(h) + point.biases[k]
            assert all(value > 0 for value in a), (seed, k)
            h = np.array([mpmath.log(v) if k == 1 else mpmath.sqrt(v) for v in a], dtype=object)


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
    assert step.rules[-1] is Rule.TARGETS_SUM_TO_ONE
    other = derive(NetworkSpec.parse([3, 3, 2], output="sigmoid"), prove=False)
    assert all(
        r is not Rule.TARGETS_SUM_TO_ONE for r in other.step(StepId(Kind.OUTPUT_DELTA, 2)).rules
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
        prove(broken, method=method, program=program_at(broken))


def test_wrong_vector_form_fails_to_prove() -> None:
    spec = NetworkSpec.parse([3, 3, 2])
    derivation = derive(spec, prove=False)
    net = derivation.network
    wrong = net.weight_matrix(2).T * net.grad("a", 2) * 2
    with pytest.raises(ProofError):
        prove(_with_form(derivation, "hidden-grad-vector-1", 0, wrong))


# Wide networks: steps proved on a copy cut to CAPPED_WIDTH units, the program at full width -------

WIDE = [12, 20, 15, 3]


def test_wide_networks_prove_hidden_steps_on_a_cut_copy() -> None:
    derivation = derive(NetworkSpec.parse(WIDE))
    check = derivation.step(StepId(Kind.HIDDEN_GRAD_VECTOR, 1)).check
    assert check is not None and check.capped == CAPPED_WIDTH + 3 and check.total == 20
    # 12, 20 and 15 units are the 1st, 3rd and 2nd wide widths: 7, 9 and 8 in the copy
    assert capped(derivation.network).spec.sizes == (7, 9, 8, 3)
    assert derivation.proof is not None and derivation.proof.program_checked > 0


@pytest.mark.parametrize(
    ("key", "index", "wrong"),
    [
        # the index typo, in a step of a layer wider than the cut copy
        ("weight-2", 1, nt.partial(nt.pre(2, nt.I)) * nt.post(1, nt.I)),
        # a sum that stops one unit short of the layer's width: only the width differs
        (
            "hidden-grad-1",
            1,
            sp.Sum(nt.partial(nt.pre(2, nt.I)) * nt.weight(2, nt.I, nt.J), (nt.I, 1, 14)),
        ),
        # a sum over the width of the wrong layer
        (
            "hidden-grad-1",
            1,
            sp.Sum(nt.partial(nt.pre(2, nt.I)) * nt.weight(2, nt.I, nt.J), (nt.I, 1, 20)),
        ),
    ],
)
def test_a_wrong_step_of_a_wide_network_fails_to_prove(
    key: str, index: int, wrong: sp.Expr
) -> None:
    broken = _with_form(derive(NetworkSpec.parse(WIDE), prove=False), key, index, wrong)
    with pytest.raises(ProofError, match="not the formula proved on the network with its widths"):
        prove(broken, program=program_at(broken))


def test_a_wrong_matrix_form_of_a_wide_network_fails_in_the_program_check() -> None:
    """G_1 = Delta_2 W_2, off by one part in 1e12 at full width: the program lowered from it is
    wrong, and the numeric check of the program catches it with the symbolic check out of the
    way."""
    derivation = derive(NetworkSpec.parse(WIDE), prove=False)
    net = derivation.network
    wrong = net.batch("a", 2, gradient=True) * net.weight_matrix(2) * (1 + sp.Rational(1, 10**12))
    broken = _with_form(derivation, "batch-hidden-grad-1", 0, wrong)
    with pytest.raises(ProofError, match="derivative of the composed loss"):
        NumericProof(broken, 7, program_at(broken)).run()


@pytest.mark.parametrize("parameter", ["W1", "b2"])
def test_the_program_check_fails_on_a_gradient_off_by_one_part_in_10_to_the_15(
    parameter: str,
) -> None:
    """The gradient under test, one output scaled by 1 + 1e-15: at the resolution of float64,
    caught at 40 digits."""
    derivation = derive(NetworkSpec.parse([3, 4, 2]), prove=False)
    true = program_at(derivation)

    def tampered(point: Point, **options: object) -> Evaluated:
        evaluated = true(point, **options)
        gradient = dict(evaluated.gradients)
        value = gradient[parameter]
        if isinstance(value, Outer):
            value = Outer(value.left * (1 + mpmath.mpf(10) ** -15), value.right)
        else:
            value = value * (1 + mpmath.mpf(10) ** -15)
        gradient[parameter] = value
        return Evaluated(gradient, evaluated.forward)

    with pytest.raises(ProofError, match=f"dL/d{parameter[0]}_{parameter[1]}"):
        prove(derivation, method="numeric", program=tampered)


def test_a_wrong_code_form_of_the_catalogue_fails_to_prove(monkeypatch: pytest.MonkeyPatch) -> None:
    """The code's stable sigmoid with a sign slip, and the softmax + cross-entropy gradient that
    silently assumes sum y = 1: both are caught against the definitions."""
    spec = NetworkSpec.parse([2, 3, 2])
    sigmoid = catalogue.ACTIVATIONS["sigmoid"]
    wrong = dataclasses.replace(sigmoid, stable=(1 - sp.tanh(X / 2)) / 2)
    monkeypatch.setitem(catalogue.ACTIVATIONS, "sigmoid", wrong)
    with pytest.raises(ProofError, match="code's g of activation sigmoid"):
        derive(dataclasses.replace(spec, activations=(wrong,)))
    monkeypatch.undo()
    pair = catalogue.PAIRS_BY_NAMES[("softmax", "cross-entropy")]
    code_e, code_s = sp.Symbol("E", real=True), sp.Symbol("S", real=True)
    assuming = dataclasses.replace(pair, code_delta=code_e / code_s - arrays.ROW_Y)
    monkeypatch.setitem(catalogue.PAIRS_BY_NAMES, ("softmax", "cross-entropy"), assuming)
    with pytest.raises(ProofError, match="code's gradient of softmax"):
        derive(spec)


def test_grid_products_are_exact() -> None:
    """The limb product of a grid matrix and a vector equals mpmath's own sum of products."""
    rng = np.random.default_rng(3)
    matrix = random_grid(5, 40, 0.3, rng)
    with mpmath.workdps(60):
        vector = np.array([mpmath.mpf(1) / (3 + j) for j in range(40)], dtype=object)
        fast = matrix.matvec(vector)
        for r in range(5):
            slow = mpmath.fsum(matrix.entry(r, c) * vector[c] for c in range(40))
            assert abs(fast[r] - slow) < mpmath.mpf(10) ** -55


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
