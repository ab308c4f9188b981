"""The worked example as the notes and the slides print it: every number is the JSON value.

The LaTeX notes, the Markdown notes and the slides are rendered with ``--example``; the numbers
they print are parsed back out of the text and compared with ``symgrad example --format json``
rounded to 4 significant digits: each equation's result, the parameters and the data, the
gradients, and every other decimal number of the example (the numbers put into the formulas and
onto the computational graph). The checks are also run on broken text, to show they fail.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from examplecheck import (
    example_section,
    matrices,
    prediction_slopes,
    printed_math,
    result_mismatches,
    rounded,
    stray_numbers,
)

from symgrad.cli import main
from symgrad.derivation import Derivation, Kind
from symgrad.pipeline import derive
from symgrad.render.notes import NotesOptions, render_latex, render_markdown
from symgrad.render.slides import render_slides
from symgrad.spec import NetworkSpec


@dataclass(frozen=True)
class Net:
    sizes: tuple[int, ...]
    activation: str | None = None
    output: str | None = None
    loss: str | None = None
    seed: int = 0

    def argv(self) -> list[str]:
        argv = [str(n) for n in self.sizes]
        for flag, value in (
            ("--activation", self.activation),
            ("--output", self.output),
            ("--loss", self.loss),
        ):
            if value is not None:
                argv += [flag, value]
        return argv

    def derivation(self) -> Derivation:
        spec = NetworkSpec.parse(list(self.sizes), self.activation, self.output, self.loss)
        return derive(spec, prove=False)

    def json(self) -> dict:
        out = io.StringIO()
        argv = ["example", *self.argv(), "--seed", str(self.seed), "--format", "json"]
        assert main([*argv, "--proof", "numeric"], stdout=out) == 0
        data: dict = json.loads(out.getvalue())
        return data


NETS = {
    "2-2-2": Net((2, 2, 2)),
    "3-3-2": Net((3, 3, 2)),
    "3-3-3-3-mixed-bce": Net((3, 3, 3, 3), "tanh,relu", "sigmoid", "binary-cross-entropy", 5),
    "2-3-2-leaky-softmax-se": Net((2, 3, 2), "leaky-relu", "softmax", "squared-error", 1),
    "3-2-3-custom-identity": Net((3, 2, 3), "x/(1+abs(x))", "identity", "squared-error", 2),
}

#: The quantity each step's equation computes, as named in the JSON (written here, apart from
#: the renderer's own table).
_RESULTS = {
    Kind.FORWARD: "a{k}",
    Kind.ACTIVATION: "h{k}",
    Kind.PREDICTION: "yhat",
    Kind.LOSS: "loss",
    Kind.OUTPUT_DELTA_VECTOR: "grad_a{k}",
    Kind.HIDDEN_GRAD_VECTOR: "grad_h{k}",
    Kind.HIDDEN_DELTA_VECTOR: "grad_a{k}",
    Kind.WEIGHT_MATRIX: "grad_W{k}",
    Kind.BIAS_VECTOR: "grad_b{k}",
}


def _keys(derivation: Derivation, by: Callable[..., str]) -> dict[str, str]:
    return {
        by(step): _RESULTS[step.kind].format(k=step.layer)
        for step in derivation
        if step.kind in _RESULTS
    }


def _latex_displays(section: str) -> list[tuple[str, str]]:
    found = []
    for _, body in re.findall(r"\\begin\{(align\*|equation\*)\}(.*?)\\end\{\1\}", section, re.S):
        tag = re.search(r"\\tag\*\{\\eqref\{(?:[^}]*?)eq:([^}]*)\}\}", body)
        found.append((tag.group(1) if tag else "", body))
    return found


def _markdown_displays(section: str) -> list[tuple[str, str]]:
    found = []
    for body in re.findall(r"^\$\$\n(.*?)\n\$\$$", section, re.S | re.M):
        tag = re.search(r"\\text\{\((\d+)\)\}", body)
        found.append((tag.group(1) if tag else "", body))
    return found


def _layout_mismatches(displays: list[tuple[str, str]], data: dict, L: int) -> list[str]:
    """The displays with no equation number, the parameters, x and y, against the JSON values
    (the gradients are the results of numbered lines, not printed again)."""
    problems = []
    want = [data["params"][f"{p}{k}"] for k in range(1, L + 1) for p in "Wb"] + [
        data["x"],
        data["y"],
    ]
    shown = [m for tag, body in displays if not tag for m in matrices(body)]
    for have, expect in zip(shown, want, strict=False):
        expected = np.vectorize(rounded)(np.asarray(expect, dtype=np.float64))
        got = np.asarray(have)
        if expected.ndim == 1:
            got = got.ravel()
        if got.shape != expected.shape or not np.array_equal(got, expected):
            problems.append(f"printed {got.tolist()} for {expected.tolist()}")
    if len(shown) != len(want):
        problems.append(f"{len(shown)} matrices for {len(want)} values")
    return problems


def latex_problems(text: str, data: dict, derivation: Derivation) -> list[str]:
    section = example_section(text, r"{A worked example}", r"{Backpropagation for any depth}")
    displays = _latex_displays(section)
    keys = _keys(derivation, lambda s: s.key)
    L = derivation.spec.depth
    return (
        result_mismatches(displays, data, keys)
        + _layout_mismatches(displays, data, L)
        + stray_numbers(section, data, prediction_slopes(data, derivation.spec.pair.loss.name))
    )


def markdown_problems(text: str, data: dict, derivation: Derivation) -> list[str]:
    section = example_section(text, "## A worked example", "## Backpropagation for any depth")
    displays = _markdown_displays(section)
    keys = _keys(derivation, lambda s: str(s.number))
    L = derivation.spec.depth
    return (
        result_mismatches(displays, data, keys)
        + _layout_mismatches(displays, data, L)
        + stray_numbers(section, data, prediction_slopes(data, derivation.spec.pair.loss.name))
    )


@pytest.fixture(scope="module")
def rendered() -> dict[str, tuple[Net, Derivation, dict, str, str, str]]:
    found = {}
    for name, net in NETS.items():
        derivation = net.derivation()
        options = NotesOptions(example=net.seed)
        found[name] = (
            net,
            derivation,
            net.json(),
            render_latex(derivation, options=options),
            render_markdown(derivation, options=options),
            render_slides(derivation, example=net.seed),
        )
    return found


@pytest.mark.parametrize("name", NETS)
def test_latex_notes_print_the_json_values(rendered: dict, name: str) -> None:
    _, derivation, data, latex, _, _ = rendered[name]
    assert latex_problems(latex, data, derivation) == []


@pytest.mark.parametrize("name", NETS)
def test_markdown_notes_print_the_json_values(rendered: dict, name: str) -> None:
    _, derivation, data, _, markdown, _ = rendered[name]
    assert markdown_problems(markdown, data, derivation) == []


@pytest.mark.parametrize("name", NETS)
def test_slides_print_the_json_values(rendered: dict, name: str) -> None:
    """The deck shows the values on the computational graph (a column of numbers beside each
    edge), the parameters' gradients as the results of their lines, the parameters, the input
    and the target a layer a row (the input beside the first, the target beside the last)."""
    _, derivation, data, _, _, slides = rendered[name]
    section = example_section(slides, "{A worked example}", "{Backpropagation for any depth}")
    displays = _latex_displays(section)
    keys = _keys(derivation, lambda s: s.key)
    gradients = {tag: name for tag, name in keys.items() if name.startswith(("grad_W", "grad_b"))}
    assert result_mismatches(displays, data, gradients) == []
    on_graph = [m for m in matrices(printed_math(section))]
    for quantity in sorted(set(keys.values()) - set(gradients.values()) - {"loss"}):
        want = np.vectorize(rounded)(np.asarray(data[quantity], dtype=np.float64))
        assert any(np.asarray(m).ravel().tolist() == want.ravel().tolist() for m in on_graph), (
            quantity
        )
    L = derivation.spec.depth
    inputs = [data["params"][f"{p}{k}"] for k in range(1, L + 1) for p in "Wb"]
    inputs.insert(2, data["x"])
    inputs.append(data["y"])
    shown = [m for tag, body in displays if not tag for m in matrices(body)]
    assert [np.asarray(m).ravel().tolist() for m in shown] == [
        np.vectorize(rounded)(np.asarray(v, dtype=np.float64)).ravel().tolist() for v in inputs
    ]
    assert (
        stray_numbers(section, data, prediction_slopes(data, derivation.spec.pair.loss.name)) == []
    )


def test_the_printed_value_checks_fail_on_a_wrong_number(rendered: dict) -> None:
    """The checks themselves: a wrong result, a wrong number put into a formula, a wrong
    parameter, and a wrong JSON value are each reported."""
    _, derivation, data, latex, markdown, _ = rendered["3-3-2"]
    grad_w2 = data["grad_W2"][0][0]
    shown = f"{rounded(grad_w2):.4g}"
    wrong = f"{rounded(grad_w2) * 1.01:.4g}"
    # the result of (14), the last matrix of its display, and also in the gradients and graph
    broken = latex.replace(shown, wrong)
    problems = latex_problems(broken, data, derivation)
    assert any(p.startswith("(weight-matrix-2) grad_W2") for p in problems)
    assert any(wrong in p for p in problems)  # a stray number
    # a number put into a formula: an entry of W_1 in the product of (1)
    entry = f"{rounded(data['params']['W1'][1][1]):.4g}"
    formula = next(body for tag, body in _latex_displays(latex) if tag == "forward-1")
    assert entry in formula
    changed = latex.replace(formula, formula.replace(entry, "0.1111"))
    assert any("0.1111" in p for p in latex_problems(changed, data, derivation))
    # the JSON off in one value
    off = json.loads(json.dumps(data))
    off["params"]["b1"][0] += 0.01
    assert latex_problems(latex, off, derivation) != []
    assert markdown_problems(markdown, off, derivation) != []
    assert markdown_problems(markdown.replace(shown, wrong), data, derivation) != []


def test_the_example_walks_the_derivation_in_order(rendered: dict) -> None:
    """Forward, then backward, with the numbers of the derivation's equations, ascending."""
    _, derivation, _, latex, markdown, slides = rendered["3-3-2"]
    section = example_section(latex, r"{A worked example}", r"{Backpropagation for any depth}")
    keys = re.findall(r"\\tag\*\{\\eqref\{eq:([^}]*)\}\}", section)
    numbers = [next(s.number for s in derivation if s.key == k) for k in keys]
    assert numbers == [1, 2, 3, 4, 5, 8, 10, 12, 14, 16, 18, 20]
    md = example_section(markdown, "## A worked example", "## Backpropagation for any depth")
    assert [int(n) for n in re.findall(r"\\text\{\((\d+)\)\}", md)] == numbers
    assert "Forward pass" in section and "Backward pass" in section
    assert section.index("Forward pass") < section.index("Backward pass")
    # the graph with numbers is there in LaTeX; Markdown gets Mermaid and a table instead
    assert r"\begin{tikzpicture}" in section and "```mermaid" in md and "| quantity |" in md
    assert r"\tag*{\eqref{eq:weight-matrix-1}}" in slides  # the deck shows the rest on its graph
    # the gradients, once: the results of their lines, which a sentence then points to
    assert len(re.findall(r"\\nabla_\{W_\{1\}\} \\mathcal\{L\} &?=", section)) == 1
    assert (
        r"The results of \eqref{eq:weight-matrix-2}, \eqref{eq:bias-vector-2}, "
        r"\eqref{eq:weight-matrix-1} and \eqref{eq:bias-vector-1} are the gradient" in section
    )


def test_the_summary_shows_the_graph_of_symbols() -> None:
    """With or without --example the summary draws the computational graph with symbols (the
    example draws it again with numbers)."""
    derivation = NETS["3-3-2"].derivation()
    plain = render_latex(derivation)
    for text in (render_latex(derivation, options=NotesOptions(example=0)), plain):
        summary = text.split("Summary: backpropagation")[1].split(r"\section")[0]
        assert r"\begin{tikzpicture}" in summary
        labels = re.findall(r"\{\$([^$]*)\$\}", summary.split("tikzpicture")[1])
        assert r"\nabla_{a_{1}} \mathcal{L}" in labels and "a_{1}" in labels
        assert not any(re.search(r"\d\.\d", label) for label in labels)
    assert "A worked example" not in plain
