"""Given numbers in the worked example: ``--params``, ``--x``, ``--y``, ``--round``, ``--lr``.

A published walkthrough is reproduced number for number from its given numbers (Mazur's "A Step
by Step Backpropagation Example"), against an independent NumPy computation and against the
digits it prints; every bad input is one line per problem and exit status 2, with no file
written; the JSON schema reads back; a ``.npz`` holding a pickle is refused without being
unpickled; files over the size cap are refused before an array is read.
"""

from __future__ import annotations

import io
import json
import pickle
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from examplecheck import generated_module, rounded
from test_audience import tool_words, visible_latex, visible_markdown
from test_notes import _katex_errors

from symgrad import given as given_module
from symgrad.cli import main
from symgrad.pipeline import derive
from symgrad.render.notes import (
    NotesOptions,
    markdown_math_blocks,
    render_latex,
    render_markdown,
)
from symgrad.render.pdf import compile_pdf
from symgrad.render.slides import render_slides
from symgrad.spec import NetworkSpec
from symgrad.worked import worked_example

REPO = Path(__file__).resolve().parent.parent

# Mazur's example: w1..w4 into the hidden units (w1: i1 -> h1, w2: i2 -> h1, w3: i1 -> h2,
# w4: i2 -> h2), w5..w8 into the outputs likewise; one bias per layer shared by its units.
MAZUR_PARAMS = {
    "W1": [[0.15, 0.20], [0.25, 0.30]],
    "b1": [0.35, 0.35],
    "W2": [[0.40, 0.45], [0.50, 0.55]],
    "b2": [0.60, 0.60],
}
MAZUR_NETWORK = ["2", "2", "2", "--output", "sigmoid", "--loss", "squared-error"]
MAZUR_DATA = ["--x", "0.05,0.10", "--y", "0.01,0.99", "--lr", "0.5"]
#: What the walkthrough prints, as it prints it.
MAZUR = {
    "net_h1": "0.3775",
    "out_h1": "0.593269992",
    "out_h2": "0.596884378",
    "out_o1": "0.75136507",
    "out_o2": "0.772928465",
    "E_total": "0.298371109",
    "dE/dw5": "0.082167041",
    "w5+": "0.35891648",
    "w6+": "0.408666186",
    "w7+": "0.511301270",
    "w8+": "0.561370121",
    "w1+": "0.149780716",
    "w2+": "0.19956143",
    "w3+": "0.24975114",
    "w4+": "0.29950229",
}


def _run(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    status = main(argv, stdout=out)
    return status, out.getvalue()


def _json(argv: list[str]) -> dict:
    status, text = _run(["example", *argv, "--format", "json"])
    assert status == 0
    data: dict = json.loads(text)
    return data


def _mazur_file(tmp_path: Path) -> Path:
    path = tmp_path / "mazur.json"
    path.write_text(json.dumps(MAZUR_PARAMS), encoding="utf-8")
    return path


def _by_hand(params: dict, x: np.ndarray, t: np.ndarray, eta: float) -> dict[str, np.ndarray]:
    """Mazur's computation written out with NumPy: sigmoid units, E = sum 1/2 (t - o)^2, and a
    plain gradient step (the hidden weights updated with the old output weights)."""
    W1, b1, W2, b2 = (np.asarray(params[k], dtype=float) for k in ("W1", "b1", "W2", "b2"))
    net_h = W1 @ x + b1
    out_h = 1 / (1 + np.exp(-net_h))
    net_o = W2 @ out_h + b2
    out_o = 1 / (1 + np.exp(-net_o))
    E = float(np.sum(0.5 * (t - out_o) ** 2))
    delta_o = (out_o - t) * out_o * (1 - out_o)
    delta_h = (W2.T @ delta_o) * out_h * (1 - out_h)
    return {
        "net_h": net_h,
        "out_h": out_h,
        "out_o": out_o,
        "E": np.asarray(E),
        "dW2": np.outer(delta_o, out_h),
        "W1+": W1 - eta * np.outer(delta_h, x),
        "W2+": W2 - eta * np.outer(delta_o, out_h),
    }


def test_mazur_step_by_step_example_is_reproduced(tmp_path: Path) -> None:
    """Mazur's 2-2-2 walkthrough: his E is symgrad's squared error (1/2 sum, no other factor),
    so his learning rate 0.5 gives his updated weights."""
    argv = [*MAZUR_NETWORK, "--params", str(_mazur_file(tmp_path)), *MAZUR_DATA]
    data = _json(argv)
    hand = _by_hand(MAZUR_PARAMS, np.array([0.05, 0.10]), np.array([0.01, 0.99]), 0.5)
    after = {k: np.asarray(v) for k, v in data["step"]["params"].items()}
    ours = {
        "net_h": np.asarray(data["a1"]),
        "out_h": np.asarray(data["h1"]),
        "out_o": np.asarray(data["yhat"]),
        "E": np.asarray(data["loss"]),
        "dW2": np.asarray(data["grad_W2"]),
        "W1+": after["W1"],
        "W2+": after["W2"],
    }
    for name, value in hand.items():
        np.testing.assert_allclose(ours[name], value, rtol=1e-13, err_msg=name)
    printed = {
        "net_h1": data["a1"][0],
        "out_h1": data["h1"][0],
        "out_h2": data["h1"][1],
        "out_o1": data["yhat"][0],
        "out_o2": data["yhat"][1],
        "E_total": data["loss"],
        "dE/dw5": data["grad_W2"][0][0],
        "w5+": after["W2"][0, 0],
        "w6+": after["W2"][0, 1],
        "w7+": after["W2"][1, 0],
        "w8+": after["W2"][1, 1],
        "w1+": after["W1"][0, 0],
        "w2+": after["W1"][0, 1],
        "w3+": after["W1"][1, 0],
        "w4+": after["W1"][1, 1],
    }
    for name, published in MAZUR.items():
        decimals = len(published.split(".")[1])
        assert f"{printed[name]:.{decimals}f}" == published, name
    # the text printout, to 4 significant digits, says the same
    status, text = _run(["example", *argv])
    assert status == 0
    step = text.split("One step of gradient descent")[1]
    shown = [float(v) for v in re.findall(r"-?\d+\.\d+", step.split("\n", 1)[1])]
    expected = [rounded(float(v)) for name in ("W1", "b1", "W2", "b2") for v in after[name].flat]
    assert shown == expected
    assert rounded(float(MAZUR["w5+"])) in shown and rounded(float(MAZUR["w1+"])) in shown


def test_the_readme_gives_the_command_of_mazurs_example() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    command = " ".join(["symgrad example", *MAZUR_NETWORK, "--params mazur.json", *MAZUR_DATA])
    assert command in readme
    assert json.dumps(MAZUR_PARAMS) in readme


def test_the_step_follows_the_objective_with_weight_decay() -> None:
    """With weight decay the step subtracts the objective's gradient (the penalty's too) from
    the weights, and the loss's from the biases, as the generated module's gradients do."""
    argv = ["2", "3", "2", "--weight-decay", "0.1", "--seed", "2", "--lr", "0.25"]
    data = _json(argv)
    module = generated_module(["2", "3", "2"])
    params = {k: np.asarray(v) for k, v in data["params"].items()}
    x, y = np.asarray(data["x"]), np.asarray(data["y"])
    penalty = {k: 0.1 * v if k.startswith("W") else 0 * v for k, v in params.items()}
    grads = module.gradients(params, x, y)
    for name, value in data["step"]["params"].items():
        expected = params[name] - 0.25 * (grads[name] + penalty[name])
        np.testing.assert_allclose(value, expected, rtol=1e-12, err_msg=name)


def _param_file(tmp_path: Path, **changes: object) -> str:
    params: dict[str, object] = {**MAZUR_PARAMS, **changes}
    for key in [k for k, v in changes.items() if v is None]:
        del params[key]
    path = tmp_path / "p.json"
    path.write_text(json.dumps(params), encoding="utf-8")
    return str(path)


BAD = {
    "wrong-shape": (
        lambda p: ["--params", _param_file(p, W1=[[0.1, 0.2, 0.3], [0.1, 0.2, 0.3]])],
        ["W1 has shape (2, 3); expected (2, 2), n_1 x n_0"],
    ),
    "bias-shape": (
        lambda p: ["--params", _param_file(p, b2=[0.1])],
        ["b2 has shape (1,); expected (2,), n_2 entries"],
    ),
    "missing-and-extra": (
        lambda p: ["--params", _param_file(p, b2=None, W3=[[1.0]])],
        ["no b2; expected (2,), n_2 entries", "W3: the 2-2-2 network has no such parameter"],
    ),
    "nan": (
        lambda p: ["--params", _param_file(p, W2=[[0.1, float("nan")], [0.1, 0.2]])],
        ["W2[0, 1] is nan; every number must be finite"],
    ),
    "overflow": (
        lambda p: ["--params", _text_file(p, json.dumps(MAZUR_PARAMS).replace("0.6]", "1e999]"))],
        ["b2[1] is inf; every number must be finite"],
    ),
    "text-not-number": (
        lambda p: ["--params", _param_file(p, b1=["0.35", "0.35"])],
        ["b1 must be a list of numbers"],
    ),
    "not-json": (
        lambda p: ["--params", _text_file(p, "W1 = [[0.1]]")],
        ["cannot read it as JSON or as a .npz file"],
    ),
    "no-file": (lambda p: ["--params", str(p / "missing.json")], ["cannot read it"]),
    "x-count": (lambda p: ["--x", "0.1,0.2,0.3"], ["--x: expected n_0 = 2 numbers"]),
    "x-text": (
        lambda p: ["--x", "0.1,__import__('os')"],
        ["--x: cannot read \"__import__('os')\" (entry 2) as a number"],
    ),
    "x-infinite": (lambda p: ["--x", "inf,0"], ["--x: 'inf' (entry 1) is not a finite number"]),
    "y-not-distribution": (
        lambda p: ["--y", "0.5,0.6"],
        ["must be a distribution (entries in [0, 1] that sum to 1), but its entries sum to 1.1"],
    ),
    "y-negative": (lambda p: ["--y", "-0.5,1.5"], ["but y_1 = -0.5"]),
    "label-range": (
        lambda p: ["--y", "2"],
        ["class index 2 is out of range for n_2 = 2 output units; a class index is 0 to 1"],
    ),
    "label-fraction": (lambda p: ["--y", "0.5"], ["expected n_2 = 2 numbers", "class index"]),
    "lr-zero": (lambda p: ["--lr", "0"], ["--lr: the learning rate must be greater than 0"]),
    "lr-negative": (lambda p: ["--lr", "-1"], ["--lr: the learning rate must be greater than 0"]),
    "lr-text": (lambda p: ["--lr", "fast"], ["--lr: cannot read 'fast' as a number"]),
    "round-range": (lambda p: ["--round", "11"], ["--round: the number of decimals must be"]),
    "two-problems": (
        lambda p: ["--x", "0.1", "--lr", "-1"],
        ["--x: expected n_0 = 2 numbers", "--lr: the learning rate must be greater than 0"],
    ),
}


def _text_file(folder: Path, text: str) -> str:
    path = folder / "p.json"
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("case", BAD)
def test_bad_given_numbers_get_one_line_each(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make, messages = BAD[case]
    options = make(tmp_path)
    target = tmp_path / "notes.tex"
    for argv in (
        ["example", "2", "2", "2", *options],
        ["latex", "2", "2", "2", *options, "-o", str(target)],
    ):
        status, out = _run(argv)
        err = capsys.readouterr().err
        assert status == 2 and out == "", argv
        lines = err.splitlines()
        assert len(lines) == len(messages), err
        for line, message in zip(lines, messages, strict=True):
            assert line.startswith("symgrad: error: ") and message in line, line
        assert "Traceback" not in err
        assert not target.exists()


def test_binary_cross_entropy_targets_must_lie_in_the_unit_interval(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["example", "2", "2", "2", "--output", "sigmoid", "--y", "1.5,0"]
    assert _run(argv)[0] == 2
    assert (
        "the target of sigmoid + binary-cross-entropy needs every entry in [0, 1], but y_1 = 1.5"
        in capsys.readouterr().err
    )
    # a squared error takes any finite target, and a class index only where the loss is one-hot
    assert _run([*argv[:6], "--loss", "squared-error", "--y", "1.5,-3"])[0] == 0
    assert _run([*argv[:6], "--y", "1"])[0] == 2


def test_a_class_index_is_the_one_hot_target() -> None:
    """``--y 1`` for softmax + cross-entropy is the target (0, 1, 0): counted from 0, as the
    generated code's class indices."""
    by_label = _json(["2", "2", "3", "--y", "1", "--proof", "numeric"])
    by_vector = _json(["2", "2", "3", "--y", "0,1,0", "--proof", "numeric"])
    assert by_label["y"] == [0.0, 1.0, 0.0] and by_label == by_vector
    soft = _json(["2", "2", "3", "--y", "0.1,0.2,0.7", "--proof", "numeric"])
    assert soft["y"] == [0.1, 0.2, 0.7]


def test_the_json_schema_reads_back(tmp_path: Path) -> None:
    """``example --format json`` fed back with --params (the whole output or its params), or
    its parameters saved with numpy.savez, gives the same output byte for byte."""
    status, first = _run(
        ["example", "3", "3", "2", "--proof", "numeric", "--seed", "4", "--format", "json"]
    )
    assert status == 0
    data = json.loads(first)
    whole = tmp_path / "whole.json"
    whole.write_text(first, encoding="utf-8")
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps(data["params"]), encoding="utf-8")
    arrays = tmp_path / "params.npz"
    np.savez(arrays, **{k: np.asarray(v) for k, v in data["params"].items()})
    x = ",".join(repr(v) for v in data["x"])
    y = ",".join(repr(v) for v in data["y"])
    for source in (whole, bare, arrays):
        for extra in ([], ["--x", x, "--y", y]):
            argv = [
                "example",
                "3",
                "3",
                "2",
                "--proof",
                "numeric",
                "--seed",
                "4",
                "--params",
                str(source),
                *extra,
            ]
            argv += ["--format", "json"]
            assert _run(argv) == (0, first), (source, extra)
    # and the parameters after a step, fed back, start the next step
    status, stepped = _run(
        [
            "example",
            "3",
            "3",
            "2",
            "--proof",
            "numeric",
            "--seed",
            "4",
            "--lr",
            "0.1",
            "--format",
            "json",
        ]
    )
    after = tmp_path / "after.json"
    after.write_text(json.dumps(json.loads(stepped)["step"]["params"]), encoding="utf-8")
    again = _json(["3", "3", "2", "--proof", "numeric", "--params", str(after), "--x", x, "--y", y])
    assert again["params"] == json.loads(stepped)["step"]["params"]


class _Planted:
    """An object whose unpickling writes a file: what a pickle in a .npz can do to a reader
    that loads it with ``allow_pickle=True``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (Path.write_text, (self.marker, "pwned"))  # type: ignore[return-value]


def test_a_pickle_in_a_npz_is_never_loaded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "marker"
    attack = tmp_path / "attack.npz"
    params = {k: np.asarray(v) for k, v in MAZUR_PARAMS.items()}
    payload = np.empty(1, dtype=object)
    payload[0] = _Planted(marker)
    np.savez(attack, **{**params, "W1": payload})
    # the attack works on a reader that unpickles
    with np.load(attack, allow_pickle=True) as archive:
        archive["W1"]
    assert marker.read_text() == "pwned"
    marker.unlink()
    status, out = _run(["example", "2", "2", "2", "--params", str(attack)])
    err = capsys.readouterr().err
    assert status == 2 and out == "" and not marker.exists()
    assert err.count("\n") == 1 and "holds Python objects (pickles), which are never loaded" in err
    assert pickle.dumps(1)  # pickle is only used above to build the attack


def test_files_over_the_size_cap_are_refused_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert given_module.MAX_FILE_BYTES == 64 * 2**20
    monkeypatch.setattr(given_module, "MAX_FILE_BYTES", 4096)
    big = tmp_path / "big.json"
    with big.open("wb") as stream:  # a sparse file: its size without its bytes
        stream.truncate(5000)
    # a small archive whose array unpacks past the cap (zeros compress well)
    bomb = tmp_path / "bomb.npz"
    params = {k: np.asarray(v) for k, v in MAZUR_PARAMS.items()}
    np.savez_compressed(bomb, **{**params, "W1": np.zeros((100, 100))})
    assert bomb.stat().st_size < 4096
    with zipfile.ZipFile(bomb) as archive:
        assert max(i.file_size for i in archive.infolist()) > 4096
    for path, message in ((big, "the file has 5000 bytes"), (bomb, "W1.npy unpacks to")):
        status, _ = _run(["example", "2", "2", "2", "--params", str(path)])
        err = capsys.readouterr().err
        assert status == 2 and message in err and "more than the 4096 read" in err
    # a file within the cap is read
    small = _mazur_file(tmp_path)
    assert _run(["example", "2", "2", "2", "--params", str(small)])[0] == 0


def test_round_draws_numbers_with_that_many_decimals() -> None:
    plain = _json(["3", "3", "2", "--proof", "numeric", "--seed", "1"])
    data = _json(["3", "3", "2", "--proof", "numeric", "--seed", "1", "--round", "2"])
    module = generated_module(["3", "3", "2"])
    for name, value in module.init_params(1).items():
        assert data["params"][name] == (np.round(value, 2) + 0.0).tolist()
        assert data["params"][name] != plain["params"][name]
    rng = np.random.default_rng([1, 1])
    assert data["x"] == (np.round(rng.uniform(-1, 1, 3), 2) + 0.0).tolist()
    assert data["y"] == plain["y"]  # one-hot either way
    assert _json(["3", "3", "2", "--proof", "numeric", "--seed", "1", "--round", "2"]) == data
    status, text = _run(
        ["example", "3", "3", "2", "--proof", "numeric", "--seed", "1", "--round", "2"]
    )
    assert "init_params(1) of the module" in text and "rounded to 2 decimals" in text


def test_symgrad_example_prints_any_network() -> None:
    data = _json(["4", "5", "3", "--proof", "numeric"])
    assert np.asarray(data["grad_W1"]).shape == (5, 4)
    status, text = _run(["example", "4", "5", "3", "--proof", "numeric", "--lr", "0.1"])
    assert status == 0 and "One step of gradient descent" in text


def _mazur_given() -> given_module.Given:
    return given_module.Given(
        params={k: np.asarray(v) for k, v in MAZUR_PARAMS.items()},
        x=np.array([0.05, 0.10]),
        y=np.array([0.01, 0.99]),
        lr=0.5,
        words=("--lr", "0.5"),
    )


def _mazur_notes(markdown: bool, audience: str = "students") -> str:
    spec = NetworkSpec.parse(["2", "2", "2"], None, "sigmoid", "squared-error")
    derivation = derive(spec, prove=False)
    options = NotesOptions(example=0, given=_mazur_given(), audience=audience)
    render = render_markdown if markdown else render_latex
    return render(derivation, options=options)


def test_the_notes_show_the_step_for_students(tmp_path: Path) -> None:
    """The subsection of the step: the rule and the updated matrices with Mazur's numbers, no
    word of the tool; it compiles without a warning."""
    latex = _mazur_notes(markdown=False)
    markdown = _mazur_notes(markdown=True)
    for text in (latex, markdown):
        assert "One step of gradient descent" in text
        assert r"W_{k} \leftarrow W_{k} - \eta \, \nabla_{W_{k}} \mathcal{L}" in text
        assert r"\eta = 0.5" in text
        for value in ("0.3589", "0.4087", "0.5113", "0.5614", "0.1498", "0.1996", "0.2498"):
            assert value in text.split("One step of gradient descent")[1]
    # every matrix of the subsection holds the numbers of the step, to 4 significant digits
    spec = NetworkSpec.parse(["2", "2", "2"], None, "sigmoid", "squared-error")
    example = worked_example(derive(spec, prove=False), 0, _mazur_given())
    allowed = {rounded(float(v)) for array in example.params.values() for v in array.flat}
    allowed |= {rounded(float(v)) for array in example.stepped().values() for v in array.flat}
    for param in example.parameters():
        gradient = example.value(example.descent_gradient(param))
        allowed |= {rounded(float(v)) for v in gradient.flat}
    section = latex.split("One step of gradient descent")[1].split(r"\begin{figure}")[0]
    matrices = re.findall(r"\\begin\{bmatrix\}(.*?)\\end\{bmatrix\}", section)
    assert len(matrices) == 12
    shown = [float(v) for m in matrices for v in re.findall(r"-?\d+(?:\.\d+)?", m)]
    assert set(shown) <= allowed and len(shown) == 36
    assert tool_words(visible_latex(latex)) == []
    assert tool_words(visible_markdown(markdown)) == []
    assert _katex_errors(markdown_math_blocks(markdown)) == []
    assert compile_pdf(latex, tmp_path).problems == []


def test_given_numbers_imply_the_example_in_documents(tmp_path: Path) -> None:
    """``--lr`` (or any given number) alone adds the worked example, with seed 0; ``--example``
    without a seed is seed 0; the students' slides show the step too and compile cleanly."""
    base = ["markdown", "2", "2", "2", "--proof", "numeric"]
    implied = _run([*base, "--lr", "0.5"])
    assert implied[0] == 0 and "## A worked example" in implied[1]
    assert implied == _run([*base, "--example", "--lr", "0.5"])
    assert implied == _run([*base, "--example", "0", "--lr", "0.5"])
    assert "One step of gradient descent" in implied[1]
    assert "One step of gradient descent" not in _run([*base, "--example", "0"])[1]
    soft = _run(["markdown", "2", "2", "3", "--proof", "numeric", "--y", "0.1,0.2,0.7"])[1]
    assert "The target is a distribution, so" in soft and "The target is one-hot" not in soft
    spec = NetworkSpec.parse(["2", "2", "2"], None, "sigmoid", "squared-error")
    slides = render_slides(derive(spec, prove=False), example=0, given=_mazur_given())
    assert "One step of gradient descent" in slides and "0.3589" in slides
    assert tool_words(visible_latex(slides)) == []
    assert compile_pdf(slides, tmp_path, "slides").problems == []
