"""Students' documents say nothing about the tool; the instructors' edition says how they were
made and checked.

The visible text of every students' document (LaTeX, Markdown, slides; several networks and
options) is searched for the words of the tool. Comments, such as the line on top that names the
command, are not visible text and are left out of the search; so are labels, which the reader
never sees.
"""

from __future__ import annotations

import html
import re

import pytest

from symgrad.derivation import Derivation
from symgrad.pipeline import derive
from symgrad.render.html import render_html
from symgrad.render.notes import NotesOptions, render_latex, render_markdown
from symgrad.render.slides import render_slides
from symgrad.spec import NetworkSpec

#: Words of the tool that must not reach a student.
TOOL_WORDS = (
    "symgrad",
    "codegen",
    "init_params",
    "numpy",
    "sympy",
    "seed",
    "rng",
    "params[",
    "generated code",
)

#: (sizes, activation, output, loss, layer kinds, proved, example seed)
NETWORKS = {
    "3-3-2": ((3, 3, 2), None, None, None, {}, True, None),
    "2-2-2-example": ((2, 2, 2), None, None, None, {}, True, 0),
    "3-3-3-3-bce-example": (
        (3, 3, 3, 3),
        "tanh,relu",
        "sigmoid",
        "binary-cross-entropy",
        {},
        False,
        5,
    ),
    "kinds-example": (
        (3, 3, 3, 3),
        "tanh",
        None,
        None,
        {"weight_decay": "0.05", "residual": True},
        False,
        0,
    ),
    "2-4-4-3-2-tanh": ((2, 4, 4, 3, 2), "tanh", None, None, {}, False, None),
    # custom activations: one named the sigmoid, one with a domain remark
    "2-3-3-2-custom": ((2, 3, 3, 2), "log(1+exp(x)),sqrt(x)", None, None, {}, False, None),
}


def _derivation(name: str) -> tuple[Derivation, int | None]:
    sizes, activation, output, loss, kinds, proved, seed = NETWORKS[name]
    spec = NetworkSpec.parse(list(sizes), activation, output, loss, kinds=kinds)
    return derive(spec, prove=proved), seed


def visible_latex(source: str) -> str:
    """What a reader of the compiled document sees of ``source``, near enough: no comments,
    no PDF metadata, no label or reference keys."""
    text = "\n".join(re.sub(r"(?<!\\)%.*", "", line) for line in source.splitlines())
    text = re.sub(r"\\hypersetup\{.*\}", "", text)
    text = re.sub(r"\\(?:label|eqref|ref)\{[^}]*\}", "", text)
    return text.replace("\\_", "_").replace("-{}", "-")


def visible_markdown(source: str) -> str:
    text = re.sub(r"<!--.*?-->", "", source, flags=re.S)
    # block ids (^eq-...) and the links to them are not read
    return re.sub(r"\(#\^[^)]*\)|\^[A-Za-z0-9-]+$", "", text, flags=re.M)


def visible_html(source: str) -> str:
    """What a reader of the web page sees: no comments, styles, tags, attributes (ids), or
    the LaTeX kept in each formula's annotation."""
    text = re.sub(
        r"<!--.*?-->|<style>.*?</style>|<annotation\b.*?</annotation>", "", source, flags=re.S
    )
    return html.unescape(re.sub(r"<[^>]*>", "", text))


def tool_words(text: str) -> list[str]:
    lowered = text.lower()
    return [word for word in TOOL_WORDS if word in lowered]


def _documents(name: str, audience: str) -> dict[str, str]:
    derivation, seed = _derivation(name)
    options = NotesOptions(example=seed, audience=audience)
    return {
        "latex": visible_latex(render_latex(derivation, options=options)),
        "fragment": visible_latex(render_latex(derivation, fragment=True, options=options)),
        "markdown": visible_markdown(render_markdown(derivation, options=options)),
        "slides": visible_latex(render_slides(derivation, example=seed, audience=audience)),
        "html": visible_html(render_html(derivation, options=options)),
    }


@pytest.mark.parametrize("name", NETWORKS)
def test_students_documents_name_nothing_of_the_tool(name: str) -> None:
    for kind, text in _documents(name, "students").items():
        assert tool_words(text) == [], f"{kind} of {name}"


def test_the_search_finds_the_tool_in_the_instructors_edition() -> None:
    """The same search on the instructors' edition finds the tool: it can fail, and the
    instructors read how the document was made, checked and regenerated."""
    documents = _documents("2-2-2-example", "instructors")
    for kind in ("latex", "markdown", "html"):
        found = tool_words(documents[kind])
        assert {"symgrad", "codegen", "init_params", "numpy", "sympy", "seed"} <= set(found), kind
        assert "For the lecturer" in documents[kind]
        assert "How each equation was checked" in documents[kind]
        assert "symgrad latex 2 2 2 --audience instructors --example 0" in documents["latex"]
    assert "What was checked" in documents["slides"]


def test_comments_are_not_visible_but_text_is() -> None:
    source = "% Made by symgrad\nThe \\texttt{symgrad} tool\\label{eq:seed} 50\\% done"
    assert tool_words(visible_latex(source)) == ["symgrad"]
    assert "50\\% done" in visible_latex(source)
    assert tool_words(visible_markdown("<!-- symgrad -->\nsympy here")) == ["sympy"]


def test_squared_error_notes_compare_with_mse_loss() -> None:
    """A lecturer's question answered in the notes: PyTorch's MSELoss is 2/n_L times this
    loss (it averages over the outputs and has no 1/2)."""
    spec = NetworkSpec.parse([3, 3, 2], output="identity", loss="squared-error")
    text = visible_latex(render_latex(derive(spec, prove=False)))
    assert r"MSELoss averages" in text and r"$\frac{2}{n_{L}}$ times this one" in text
    cross_entropy = visible_latex(render_latex(_derivation("3-3-2")[0]))
    assert "MSELoss" not in cross_entropy


def test_exercise_sheets_and_solutions_name_nothing_of_the_tool() -> None:
    """Sheets and their solutions are handed to students, the 2-2-2 network's and the 3-3-3-3
    network's with two activations, a sigmoid output and every task."""
    from symgrad.render.document import Framing
    from symgrad.render.exercises import ExerciseOptions, exercise_files, make_sheets

    for name in ("2-2-2-example", "3-3-3-3-bce-example"):
        derivation, _ = _derivation(name)
        sheets = make_sheets(derivation, ExerciseOptions(ids=("1", "2"), seed=3))
        for path, data in exercise_files(derivation, sheets, Framing(), html=True):
            if path.endswith(".tex"):
                assert tool_words(visible_latex(data.decode())) == [], f"{path} of {name}"
            if path.endswith(".html"):
                assert tool_words(visible_html(data.decode())) == [], f"{path} of {name}"
