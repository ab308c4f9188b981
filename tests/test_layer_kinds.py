"""The layer kinds: L2 weight decay and residual connections, through every stage.

Generated code is compared with an oracle written here, independently of symgrad (a forward pass
in NumPy and central differences of its loss); every step of the derivation is proved, and each
checker the kinds rely on is broken on purpose to show it fails: the prover of the weight decay's
gradient, the numeric proof of the program (a program that forgets the decay or the skip), and
the composed proof (a residual layer whose skip term is left out of the chain rule).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import sympy as sp

from symgrad import header
from symgrad import notation as nt
from symgrad.check import check_file
from symgrad.check.judge import FAIL
from symgrad.cli import main
from symgrad.codegen import generate
from symgrad.derivation import Kind, StepId, build_step
from symgrad.errors import ProofError
from symgrad.network import Network
from symgrad.ops import residual, weight_decay
from symgrad.pipeline import derive
from symgrad.render.notes import render_latex, render_markdown
from symgrad.render.slides import render_slides
from symgrad.spec import NetworkSpec
from symgrad.worked import worked_example

DECAY = NetworkSpec.parse([3, 3, 2], kinds={"weight_decay": "0.01"})
RESIDUAL = NetworkSpec.parse([2, 3, 3, 2], "tanh", kinds={"residual": True})
#: Both kinds at once, two residual layers (2 and 3), the input never added.
BOTH = NetworkSpec.parse([3, 4, 4, 4, 2], kinds={"weight_decay": "0.05", "residual": True})


# The oracle -------------------------------------------------------------------------------------


def _activation(name: str, a: np.ndarray) -> np.ndarray:
    return np.tanh(a) if name == "tanh" else 1.0 / (1.0 + np.exp(-a))


def oracle_loss(spec: NetworkSpec, params: dict[str, np.ndarray], X: np.ndarray, Y: np.ndarray):
    """Softmax and cross-entropy over the batch, plus weight decay, with residual layers: as a
    textbook writes them, sharing nothing with symgrad."""
    sizes = spec.sizes
    L = len(sizes) - 1
    lam = float(spec.kind("weight_decay") or 0.0)
    h = X
    for k in range(1, L + 1):
        a = h @ params[f"W{k}"].T + params[f"b{k}"]
        if k == L:
            break
        g = _activation(spec.activation(k).name, a)
        residual_layer = spec.kind("residual") and k >= 2 and sizes[k] == sizes[k - 1]
        h = g + h if residual_layer else g
    z = a - a.max(axis=1, keepdims=True)
    log_yhat = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    loss = -(Y * log_yhat).sum() / X.shape[0]
    return loss + lam / 2 * sum((params[f"W{k}"] ** 2).sum() for k in range(1, L + 1))


def oracle_gradient(spec: NetworkSpec, params: dict[str, np.ndarray], X, Y) -> dict:
    """Central differences of :func:`oracle_loss`, entry by entry."""
    found = {}
    for key, value in params.items():
        grad = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            step = 1e-6
            moved = {k: v.copy() for k, v in params.items()}
            moved[key][index] += step
            up = oracle_loss(spec, moved, X, Y)
            moved[key][index] -= 2 * step
            down = oracle_loss(spec, moved, X, Y)
            grad[index] = (up - down) / (2 * step)
        found[key] = grad
    return found


def _load(text: str, path: Path) -> ModuleType:
    path.write_text(text, encoding="utf-8")
    found = importlib.util.spec_from_file_location(path.stem, path)
    assert found is not None and found.loader is not None
    module = importlib.util.module_from_spec(found)
    found.loader.exec_module(module)
    return module


def _data(spec: NetworkSpec, rows: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    X = rng.standard_normal((rows, spec.sizes[0]))
    Y = rng.dirichlet(np.ones(spec.sizes[-1]), size=rows)
    return X, Y


@pytest.fixture(scope="module")
def derived() -> dict[str, object]:
    return {"decay": derive(DECAY), "residual": derive(RESIDUAL), "both": derive(BOTH)}


# Options ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["3", "3", "2", "--weight-decay", "abc"], "takes a finite decimal number"),
        (["3", "3", "2", "--weight-decay", "-0.1"], "must be 0 or more"),
        (["3", "3", "2", "--weight-decay", "nan"], "takes a finite decimal number"),
        (["3", "3", "2", "--weight-decay", "inf"], "takes a finite decimal number"),
        (["3", "3", "2", "--weight-decay", "1/2"], "takes a finite decimal number"),
        (["3", "3", "2", "--weight-decay", "__import__('os')"], "takes a finite decimal number"),
        (["3", "3", "2", "--weight-decay", "1e7"], "at most"),
        (["3", "3", "2", "--weight-decay", "1e-31"], "at least 1e-30"),
        (["3", "4", "2", "--residual"], "3-4-2 has none"),
        (["2", "3", "3", "--residual"], "2-3-3 has none"),
        (["3", "3", "--residual"], "3-3 has none"),
    ],
)
def test_a_layer_kind_the_network_cannot_have_is_refused_in_one_line(
    argv: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["derive", *argv])
    out, err = capsys.readouterr()
    assert status == 2 and out == ""
    assert err.startswith("symgrad: error: ") and words in err and err.count("\n") == 1


def test_a_weight_decay_of_0_is_no_decay(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["codegen", "3", "3", "2", "--weight-decay", "0.0"]) == 0
    zero = capsys.readouterr().out
    assert main(["codegen", "3", "3", "2"]) == 0
    assert zero == capsys.readouterr().out
    assert (
        NetworkSpec.parse([3, 3, 2], kinds={"weight_decay": "+0.010"}).kind("weight_decay")
        == "0.010"
    )


def test_residual_layers_are_the_hidden_ones_as_wide_as_the_layer_below() -> None:
    from symgrad.options import residual_layers

    assert residual_layers((3, 4, 4, 4, 2)) == [2, 3]
    assert residual_layers((4, 4, 3, 3, 3)) == [3]  # not layer 1: the input is never added
    assert residual_layers((2, 3, 3, 3)) == [2]  # not the output layer


def test_the_header_names_the_kinds_and_is_read_back() -> None:
    (file,) = generate(derive(BOTH, prove=False), "numpy")
    first = file.text.splitlines()[0]
    assert first.endswith("codegen 3 4 4 4 2 --weight-decay 0.05 --residual")
    _, command = header.read(Path("m.py"), file.text)
    spec, _ = header.parse(Path("m.py"), command)
    assert spec == BOTH


# The derivation and its proof ------------------------------------------------------------------


def test_the_per_sample_equations_keep_their_numbers(derived: dict) -> None:
    plain = derive(NetworkSpec.parse([3, 3, 2]))
    decay = derived["decay"]
    numbers = {s.key: s.number for s in decay.steps}
    last = plain.step(StepId(Kind.BATCH_LOSS, 2)).number
    for s in plain.steps:
        if s.number <= last:  # one sample, and the batch's forward pass: as they were
            assert numbers[s.key] == s.number
    assert numbers["objective"] == last + 1
    assert [s.key for s in decay.steps if s.kind is weight_decay.DECAY_STEP] == [
        "weight-decay-2",
        "weight-decay-1",
    ]


def test_every_step_of_both_kinds_is_proved(derived: dict) -> None:
    for name in ("decay", "residual", "both"):
        assert all(s.check is not None for s in derived[name].steps), name


def test_the_prover_of_the_decay_finds_a_wrong_gradient() -> None:
    net = Network(DECAY)
    right = build_step(net, StepId(weight_decay.DECAY_STEP, 2))
    weight_decay.DECAY_STEP.prove(net, right)  # type: ignore[misc]
    half = sp.MatAdd(
        right.forms[0].args[0], sp.MatMul(weight_decay.LAMBDA / 2, net.weight_matrix(2))
    )
    wrong = type(right)(right.id, right.lhs, (half,), right.rules)
    with pytest.raises(ProofError, match="weight-decay-2"):
        weight_decay.DECAY_STEP.prove(net, wrong)  # type: ignore[misc]


def test_the_numeric_proof_finds_a_program_without_the_decay(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def forgetful(self, low, s):  # the gradient of the loss alone, under the objective's name
        if s.kind is weight_decay.DECAY_STEP:
            weight = self.weights[s.layer - 1]
            low.emit(
                weight.grad("objective"), low.symbol(weight.grad()), s, stands_for=weight.grad()
            )
            return True
        return original(self, low, s)

    original = weight_decay.WeightDecay.lower_matrix
    monkeypatch.setattr(weight_decay.WeightDecay, "lower_matrix", forgetful)
    with pytest.raises(ProofError, match="W"):
        derive(DECAY, method="numeric")


def test_the_numeric_proof_counts_the_decay_it_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    # Without the penalty's own gradient, the program (which has lambda W_k) looks wrong.
    monkeypatch.setattr(weight_decay.WeightDecay, "direct_gradient", lambda self, v, q: None)
    with pytest.raises(ProofError):
        derive(DECAY, method="numeric")


def test_the_numeric_proof_finds_a_program_without_the_skip(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_skip(self, low, s):
        if s.kind is Kind.BATCH_ACTIVATION:  # u_k = g(a_k), but h_k = u_k: h_{k-1} forgotten
            kept = low.emit(self.kept, self.code_value(low.symbol(self.pre)), s)
            low.emit(self.outputs[0], kept, s)
            return True
        return original(self, low, s)

    original = residual.Residual.lower_matrix
    monkeypatch.setattr(residual.Residual, "lower_matrix", no_skip)
    with pytest.raises(ProofError, match="h_2,1: the program's forward pass differs"):
        derive(RESIDUAL, method="numeric")


def test_the_composed_proof_finds_a_chain_rule_without_the_skip_term(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_share(self, net, wrt):
        if wrt == self.pre:
            yield from original(self, net, wrt)

    def no_batch_share(self, net, wrt):
        if wrt == self.pre:
            yield from batch(self, net, wrt)

    original, batch = residual.Residual.backward, residual.Residual.batch_backward
    monkeypatch.setattr(residual.Residual, "backward", no_share)
    monkeypatch.setattr(residual.Residual, "batch_backward", no_batch_share)
    with pytest.raises(ProofError, match="composed"):
        derive(RESIDUAL, method="composed")


def test_the_skip_term_is_in_the_chain_rule(derived: dict) -> None:
    d = derived["residual"]
    net = d.network
    vector = d.step(StepId(Kind.HIDDEN_GRAD_VECTOR, 1)).final
    assert set(vector.args) == {net.weight_matrix(2).T * net.grad("a", 2), net.grad("h", 2)}
    batch = d.step(StepId(Kind.BATCH_HIDDEN_GRAD, 1)).final
    G, Delta = net.batch("h", 2, gradient=True), net.batch("a", 2, gradient=True)
    assert set(batch.args) == {sp.MatMul(Delta, net.weight_matrix(2)), G}
    # Layer 1 takes x, which is never added; layer 2 adds h_1.
    first = d.step(StepId(Kind.ACTIVATION, 1)).final
    second = d.step(StepId(Kind.ACTIVATION, 2)).final
    assert not any(e.base == nt.X for e in first.atoms(sp.Indexed))
    assert nt.post(1, nt.J) in second.atoms(sp.Indexed)


# Generated code --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "style"), [("numpy", "vectorized"), ("numpy", "unrolled"), ("array-api", None)]
)
def test_generated_python_matches_the_oracle(
    derived: dict, tmp_path: Path, target: str, style: str | None
) -> None:
    spec = BOTH
    (file,) = generate(derived["both"], target, style)
    module = _load(file.text, tmp_path / "m.py")
    params = module.init_params(3)
    X, Y = _data(spec)
    loss, gradients = module.loss_and_gradients(params, X, Y)
    assert float(loss) == pytest.approx(oracle_loss(spec, params, X, Y), rel=1e-12)
    expected = oracle_gradient(spec, params, X, Y)
    for key, value in expected.items():
        np.testing.assert_allclose(np.asarray(gradients[key]), value, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize(
    ("target", "style"),
    [
        ("numpy", "vectorized"),
        ("numpy", "unrolled"),
        ("array-api", None),
        ("c", "looped"),
        ("c", "unrolled"),
    ],
)
def test_symgrad_check_passes_generated_code_of_both_kinds(
    derived: dict, tmp_path: Path, target: str, style: str | None
) -> None:
    suffix = ".c" if target == "c" else ".py"
    files = generate(derived["both"], target, style, name="net")
    for f in files:
        (tmp_path / f"net{f.suffix}").write_text(f.text, encoding="utf-8")
    result = check_file(tmp_path / f"net{suffix}")
    assert result.passed, result.report()
    # The second judge evaluated the header's network, penalty and skips included.
    assert result.reference_missing is None, result.report()


@pytest.mark.parametrize(
    ("right", "wrong"),
    [
        ("dJW2 += 0.05 * W2", "dJW2 += 0.06 * W2"),  # the decay's gradient off
        ("G1 += np.dot(Delta2, W2)", "G1 = np.dot(Delta2, W2)"),  # the skip term forgotten
    ],
)
def test_symgrad_check_fails_code_with_a_kind_broken(
    tmp_path: Path, right: str, wrong: str
) -> None:
    spec = NetworkSpec.parse([3, 4, 4, 2], kinds={"weight_decay": "0.05", "residual": True})
    (file,) = generate(derive(spec, prove=False), "numpy")
    # Once in loss_and_gradients (the first), and for the skip term once in input_gradient.
    assert file.text.count(right) == (2 if right.startswith("G1") else 1)
    (tmp_path / "net.py").write_text(file.text.replace(right, wrong, 1), encoding="utf-8")
    result = check_file(tmp_path / "net.py")
    assert not result.passed
    # symgrad's own evaluation of the network (the second judge) fails it too, entry by entry.
    assert result.reference_missing is None
    assert any(int((j.verdicts == FAIL).sum()) for e in result.entries for j in e.judged)


def test_the_c_code_computes_the_penalty_after_the_batch_loop(derived: dict) -> None:
    source = generate(derived["decay"], "c", "looped", name="net")[0].text
    body = source[source.index("int net_loss_and_gradients(") :]
    loop_end = body.index("\n    }\n", body.index("for (size_t s0 = 0;"))
    assert body.index("dJW2[i] = ") > loop_end and body.index("objective =") > loop_end


# The worked example, the notes, the slides, the figures ----------------------------------------


def test_the_worked_example_adds_the_penalty_and_the_skip(derived: dict) -> None:
    decay = json.loads(worked_example(derived["decay"], 0).to_json())
    params = decay["params"]
    penalty = 0.01 / 2 * sum(np.sum(np.square(params[f"W{k}"])) for k in (1, 2))
    assert decay["objective"] == pytest.approx(decay["loss"] + penalty, rel=1e-14)
    for k in (1, 2):
        expected = np.array(decay[f"grad_W{k}"]) + 0.01 * np.array(params[f"W{k}"])
        np.testing.assert_allclose(decay[f"grad_objective_W{k}"], expected, rtol=1e-14)
    res = json.loads(worked_example(derived["residual"], 0).to_json())
    np.testing.assert_allclose(res["h2"], np.tanh(res["a2"]) + np.array(res["h1"]), rtol=1e-14)
    np.testing.assert_allclose(res["h1"], np.tanh(res["a1"]), rtol=1e-14)


def test_the_notes_say_what_each_kind_changes(derived: dict) -> None:
    decay = render_latex(derived["decay"])
    assert r"\lambda = 0.01" in decay and "The biases are not decayed" in decay
    assert r"\label{eq:objective}" in decay and r"\label{eq:weight-decay-1}" in decay
    assert "{ref:" not in decay and "{bp" not in decay
    both = render_markdown(derived["both"])
    assert "so (BP2) becomes" in both and "hidden layers 2, 3" in both
    assert "h_{k} = g(a_{k}) + h_{k-1}" in both
    slides = render_slides(derived["residual"])
    assert "gains a skip term" in slides and "dashed" in slides


def test_the_figures_draw_the_skip_edges(derived: dict) -> None:
    latex = render_latex(derived["residual"], options=None)
    # The network: one dashed arc per unit of layer 1 to the same unit of layer 2.
    assert latex.count("to[bend right=30]") == 3
    markdown = render_markdown(derived["residual"])
    assert '-. "+ h1" .-> L2' in markdown
    from symgrad.render.graph import computational_graph

    graph = computational_graph(derived["residual"].network, None, "")
    assert len(graph.skips) == 1 and "act1" in graph.skips[0].path and "act2" in graph.skips[0].path
    assert any('act1 -. "h₁" .-> act2' in line for line in graph.mermaid)
    plain = computational_graph(Network(NetworkSpec.parse([2, 3, 3, 2])), None, "")
    assert plain.skips == ()
