"""The figures: the network and the computational graph, drawn for every network.

The graph tells values from gradients without colour: gradients are framed with a dashed line,
values are not, and each sits in its own place (values above the chain drawn across, gradients
below; never one on top of another), so a photocopy or a red-green colour-blind reader still
sees which is which. No line passes under a box it does not join, and none is swallowed by its
own boxes. Wide layers and deep networks are drawn with dots in place of what is left out.
"""

from __future__ import annotations

import re

import pytest
from graphcheck import overlaps, problems

import symgrad.render.graph as graph
from symgrad import notation as nt
from symgrad.network import Network
from symgrad.pipeline import derive
from symgrad.render import formula
from symgrad.render.graph import Layout, _matrix, computational_graph, graph_layout
from symgrad.render.notes import NotesOptions, render_latex, render_markdown
from symgrad.spec import NetworkSpec
from symgrad.worked import worked_example

DEEP = [4, *[6] * 8, 3]
#: (sizes, loss, the example's seed or None): the networks the figures are looked at for.
NETWORKS = [
    ([784, 128, 10], None, None),
    (DEEP, None, None),
    ([2, 4, 4, 3, 2], None, None),
    ([3, 3, 2], None, None),
    ([2, 2, 2], None, 0),
    ([3, 3, 3, 3], "binary-cross-entropy", 0),
    ([3, 3, 3, 3], "binary-cross-entropy", None),
    ([3, 3, 2], "squared-error", 0),
]


def layout(sizes: list[int], loss: str | None = None, seed: int | None = None) -> Layout:
    spec = NetworkSpec.parse(sizes, loss=loss)
    if seed is None:
        return graph_layout(Network(spec))
    derivation = derive(spec, prove=False)
    return graph_layout(derivation.network, worked_example(derivation, seed))


def latex(sizes: list[int], **options: object) -> str:
    return render_latex(derive(NetworkSpec.parse(sizes), prove=False), NotesOptions(**options))


def styles(source: str) -> dict[str, str]:
    """The TikZ styles of the graph's labels, by name."""
    return dict(re.findall(r"^\s*(value|gradient)/\.style=\{(.*)\},$", source, re.M))


def apart_without_colour(style: dict[str, str]) -> bool:
    """The gradient's style draws a dashed frame and the value's does not."""
    return (
        "dashed" in style["gradient"]
        and "draw" in style["gradient"]
        and ("dashed" not in style["value"] and "draw" not in style["value"])
    )


def gradients_framed(source: str) -> bool:
    """Every gradient written on the graph (a ``\\nabla`` or the 1 at the loss) is in a node of
    the gradient's style, and no value is."""
    picture = source[source.index("op/.style") :]
    picture = picture[: picture.index(r"\end{tikzpicture}")]
    labels = re.findall(r"\\node\[(value|gradient), anchor=[^]]*\] at \([^)]*\) \{(.*)\};", picture)
    return bool(labels) and all(
        (role == "gradient") == (r"\nabla" in text or text == "$1$") for role, text in labels
    )


@pytest.mark.parametrize("options", [{}, {"example": 0}])
def test_gradients_are_framed_and_values_are_not(options: dict) -> None:
    source = latex([2, 2, 2], **options)
    assert apart_without_colour(styles(source))
    assert gradients_framed(source)
    assert "dashed frame" in source  # the caption says so, in words, not colours alone


def test_the_checks_fail_on_colour_alone() -> None:
    colour_only = {"value": "text=green!40!black", "gradient": "text=red!70!black"}
    assert not apart_without_colour(colour_only)
    source = latex([3, 3, 2])
    assert gradients_framed(source)
    unframed = source.replace(r"\node[gradient, anchor=", r"\node[value, anchor=", 1)
    assert not gradients_framed(unframed)


def test_values_above_the_chain_and_gradients_below_it() -> None:
    boxes = layout([3, 3, 2]).boxes  # a graph of symbols, drawn across
    values = [b for name, b in boxes.items() if name.startswith("value")]
    gradients = [b for name, b in boxes.items() if name.startswith("gradient")]
    assert values and gradients
    assert all(b.bottom > 0 for b in values) and all(b.top < 0 for b in gradients)


@pytest.mark.parametrize(("sizes", "loss", "seed"), NETWORKS)
def test_no_line_passes_under_a_box(sizes: list[int], loss: str | None, seed: int | None) -> None:
    found = layout(sizes, loss, seed)
    assert problems(found) == []
    assert overlaps(found) == []


def test_the_geometry_check_finds_a_swallowed_arrow(monkeypatch: pytest.MonkeyPatch) -> None:
    # the target and the parameters back in one column whatever the width of their box: the
    # arrow from y starts under the binary cross-entropy box
    monkeypatch.setattr(graph, "_ENTRY", -10.0)
    found = problems(layout([3, 3, 3, 3], "binary-cross-entropy", 0))
    assert "target -> loss is hidden under its own boxes" in found


def test_the_geometry_check_finds_a_line_under_a_label(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(graph, "_LABEL_X", -0.3)  # the labels of the chain over its edges
    assert any(" passes under value" in p for p in problems(layout([2, 4, 4, 3, 2])))


def test_the_overlap_check_finds_labels_on_top_of_each_other(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(graph, "_GAP", -1.0)  # each gradient over its value
    assert any("gradient" in p for p in overlaps(layout([2, 2, 2], None, 0)))


@pytest.mark.parametrize("sizes", [[784, 128, 10], DEEP, [3, 3, 2]])
def test_every_network_gets_its_graph_of_symbols(sizes: list[int]) -> None:
    source = latex(sizes)
    assert r"\node[op]" in source
    assert gradients_framed(source)
    L = len(sizes) - 1
    assert rf"\nabla_{{a_{{{L}}}}} \mathcal{{L}}$}};" in source  # the last layer's gradient
    markdown = render_markdown(derive(NetworkSpec.parse(sizes), prove=False))
    assert "graph TD" in markdown  # the graph, as a Mermaid flowchart and a table
    assert ("layers 2 to 7" in markdown) == (sizes == DEEP)


def test_a_deep_graph_elides_its_middle() -> None:
    drawn = computational_graph(Network(NetworkSpec.parse(DEEP)), None, "")
    names = [node.name for node in drawn.nodes]
    assert names[:4] == ["in", "affine1", "act1", "elided"]
    assert [n for n in names if n.startswith("affine")] == ["affine1", "affine8", "affine9"]
    assert next(n for n in drawn.nodes if n.name == "elided").label == "layers 2 to 7"
    # the edge out of the dots carries h_7, the activation layer 8 reads
    labels = {formula.latex(label.text) for label in drawn.labels}
    assert {"h_{1}", "h_{7}", "h_{8}"} <= labels and "h_{4}" not in labels
    assert "Layers 2 to 7 are left out" in drawn.caption
    shallow = computational_graph(Network(NetworkSpec.parse([3, 3, 3, 3])), None, "")
    assert "elided" not in [node.name for node in shallow.nodes]


def units(source: str) -> dict[str, str]:
    """The network's figure: each unit's node name and label."""
    return dict(re.findall(r"\\node(?:\[unit\])? \((u[^)]*)\) at \([^)]*\) \{\$(.*)\$\};", source))


def test_wide_layers_show_their_first_two_units_dots_and_their_last() -> None:
    drawn = units(latex([784, 128, 10]))
    assert [drawn[f"u0x{r}"] for r in range(4)] == ["x_{1}", "x_{2}", r"\vdots", "x_{784}"]
    assert drawn["u1x3"] == "h_{1,128}" and "u1x4" not in drawn
    assert [drawn[f"u2x{r}"] for r in range(4)][-1] == r"\hat{y}_{10}"
    whole = units(latex([3, 3, 2]))
    assert sorted(whole) == ["u0x0", "u0x1", "u0x2", "u1x0", "u1x1", "u1x2", "u2x0", "u2x1"]


def test_deep_networks_show_their_first_layer_dots_and_their_last_two() -> None:
    source = latex(DEEP)
    drawn = units(source)
    assert {name.split("x")[0] for name in drawn} == {"u0", "u1", "u2dots", "u8", "u9"}
    assert drawn["u2dots"] == r"\cdots"
    assert "Layers 2 to 7 are left out" in source
    for k in (1, 2, 8, 9):
        assert f"$W_{{{k}}}, b_{{{k}}}$" in source
    assert "$W_{5}, b_{5}$" not in source
    assert "resizebox" not in source  # drawn at full size


def test_the_prediction_has_its_gradient_on_the_graph() -> None:
    """dL/dyhat is derived in the notes, so the graph shows it: as a symbol, and in the worked
    example as numbers, -y_i / yhat_i for cross-entropy and (yhat_i - y_i) / (yhat_i (1 -
    yhat_i)) for binary cross-entropy."""
    symbols = computational_graph(Network(NetworkSpec.parse([3, 3, 2])), None, "")
    assert r"\nabla_{\hat{y}} \mathcal{L}" in {
        formula.latex(label.text) for label in symbols.labels
    }
    for loss in ("cross-entropy", "binary-cross-entropy"):
        derivation = derive(NetworkSpec.parse([2, 2, 2], loss=loss), prove=False)
        example = worked_example(derivation, 0)
        yhat, y = example.value(nt.quantity("yhat")), example.value(nt.quantity("y"))
        expected = -y / yhat if loss == "cross-entropy" else (yhat - y) / (yhat * (1 - yhat))
        drawn = computational_graph(derivation.network, example, "")
        gradients = [
            formula.latex(label.text) for label in drawn.labels if label.role == "gradient"
        ]
        assert formula.latex(_matrix(expected)) in gradients
