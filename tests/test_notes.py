"""Lecture notes: LaTeX compiled with a real pdflatex, Markdown math rendered with KaTeX.

Nothing here is skipped: without ``pdflatex`` or ``node`` the tests fail and say what to install
(the test command installs both; see scripts/test.sh and scripts/install-katex.sh).
"""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import ACTIVATIONS, PAIRS

from symgrad import jupyter
from symgrad.derivation import Derivation
from symgrad.pipeline import derive
from symgrad.render.notes import (
    Compiled,
    compile_pdf,
    markdown_math_blocks,
    render_fragment_for_jupyter,
    render_latex,
    render_markdown,
    shown_indices,
)
from symgrad.render.templating import environment, extension_of, render, tex_escape
from symgrad.spec import NetworkSpec

REPO = Path(__file__).resolve().parent.parent


#: Every LaTeX case: id -> (sizes, activation, output, loss, proved).
CASES: dict[str, tuple[list[int], str | None, str | None, str | None, bool]] = {
    **{f"332-{a}": ([3, 3, 2], a, None, None, False) for a in ACTIVATIONS},
    **{f"32-{o}-{lo}": ([3, 2], None, o, lo, False) for o, lo in PAIRS},
    "784-128-10": ([784, 128, 10], None, None, None, False),
    "2-4-4-3-2-mixed": ([2, 4, 4, 3, 2], "tanh,relu,sigmoid", None, None, True),
    "332-proved": ([3, 3, 2], None, None, None, True),
}


def _derivation(case: str) -> Derivation:
    sizes, activation, output, loss, proved = CASES[case]
    return derive(NetworkSpec.parse(sizes, activation, output, loss), prove=proved)


def _require(tool: str, hint: str) -> None:
    if shutil.which(tool) is None:
        pytest.fail(f"{tool} is missing; {hint}")


_PDFLATEX_HINT = (
    "install TeX Live: apt-get install texlive-latex-base texlive-latex-recommended "
    "texlive-pictures lmodern (scripts/test.sh does)"
)

_WRAPPER = r"""\documentclass[11pt,a4paper]{article}
\usepackage[T1]{fontenc}
\usepackage{lmodern}
\usepackage[a4paper,margin=2.5cm]{geometry}
\usepackage{%s}
\allowdisplaybreaks
\begin{document}
\section*{My own lecture notes}
Some text of mine, then the generated part.
\input{body}
\end{document}
"""


def _fragment_document(workdir: Path, fragment: str) -> str:
    """A small document that loads exactly the packages the fragment's top comment names."""
    match = re.search(r"^% Needs in the preamble: \\usepackage\{([^}]*)\}", fragment, re.M)
    assert match, "the fragment states the packages it needs in a comment at its top"
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "body.tex").write_text(fragment, encoding="utf-8")
    return _WRAPPER % match.group(1)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Compiled]:
    """Every case compiled once, two at a time (each pdflatex run takes about half a second)."""
    _require("pdflatex", _PDFLATEX_HINT)
    root = tmp_path_factory.mktemp("latex")
    jobs: dict[str, Callable[[], Compiled]] = {}
    for case in CASES:
        source = render_latex(_derivation(case))
        jobs[case] = lambda s=source, c=case: compile_pdf(s, root / c, runs=1)
    fragment = render_latex(_derivation("332-sigmoid"), fragment=True)
    wrapper = _fragment_document(root / "fragment", fragment)
    jobs["fragment"] = lambda: compile_pdf(wrapper, root / "fragment", name="wrapper", runs=1)
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {case: pool.submit(job) for case, job in jobs.items()}
        return {case: future.result() for case, future in futures.items()}


@pytest.mark.parametrize("case", [*CASES, "fragment"])
def test_latex_compiles_without_errors_or_overfull_boxes(
    compiled: dict[str, Compiled], case: str
) -> None:
    result = compiled[case]
    assert result.pdf.startswith(b"%PDF")
    assert result.problems == [], f"{case}: pdflatex reported {result.problems}"
    assert "multiply defined" not in result.log


# KaTeX -----------------------------------------------------------------------------------------


def _katex_errors(blocks: list[tuple[str, bool]]) -> list[dict[str, object]]:
    _require("node", "install Node.js (apt-get install nodejs npm)")
    if not (REPO / ".tools" / "node_modules" / "katex").is_dir():
        _require("npm", "install npm (apt-get install npm)")
        subprocess.run(["sh", str(REPO / "scripts" / "install-katex.sh")], check=True)
    payload = json.dumps([{"tex": tex, "display": display} for tex, display in blocks])
    result = subprocess.run(
        ["node", str(REPO / "scripts" / "katex_check.mjs")],
        input=payload,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_katex_renders_every_math_block_of_every_case() -> None:
    blocks: list[tuple[str, bool]] = []
    origin: list[str] = []
    for case in CASES:
        derivation = _derivation(case)
        for text in (render_markdown(derivation), render_fragment_for_jupyter(derivation)):
            found = markdown_math_blocks(text)
            blocks += found
            origin += [case] * len(found)
    assert len(blocks) > 1000
    errors = _katex_errors(blocks)
    report = [f"{origin[e['index']]}: {e['error']}" for e in errors]  # type: ignore[index]
    assert not errors, "KaTeX errors:\n" + "\n".join(report[:20])


def test_katex_check_reports_errors() -> None:
    errors = _katex_errors([(r"\label{x} a", True), (r"\frac{a}{b} \tag{1}", True)])
    assert [e["index"] for e in errors] == [0]


# Markdown --------------------------------------------------------------------------------------


def test_markdown_is_obsidian_flavoured() -> None:
    text = render_markdown(_derivation("332-sigmoid"))
    assert text.startswith('---\ntitle: "Backpropagation for a 3-3-2 network"\n---\n')
    lines = text.splitlines()
    assert lines.count("$$") % 2 == 0 and lines.count("$$") > 40
    assert r"\label" not in text and r"\eqref" not in text
    assert r"\tag{20}" in text
    for line in lines:
        if line.startswith("|"):  # a bar inside math would split an Obsidian table cell
            cells = [c for c in line.strip("|").split("|")]
            assert all(c.count("$") % 2 == 0 for c in cells), line


def test_markdown_table_never_has_a_bar_in_math() -> None:
    text = render_markdown(_derivation("332-x/(1+abs(x))"))
    assert r"\vert" in text


# Structure and numbering -----------------------------------------------------------------------


def test_every_step_is_numbered_and_labelled_in_order() -> None:
    derivation = _derivation("332-sigmoid")
    text = render_latex(derivation)
    labels = re.findall(r"\\label\{eq:([^}]*)\}", text)
    assert labels == [step.key for step in derivation]
    # only the steps are numbered, so LaTeX's numbers are Derivation.number(step)
    numbered = len(re.findall(r"\\begin\{(?:equation|align)\}", text))
    assert numbered == len(derivation.steps)
    markdown = render_markdown(derivation)
    for step in derivation:
        assert rf"\tag{{{step.number}}}" in markdown


def test_stages_follow_the_notes() -> None:
    text = render_latex(_derivation("332-sigmoid"))
    order = [
        "Notation",
        "tikzpicture",
        "The forward pass",
        "The output layer",
        "The hidden layers",
        "The parameters",
        "Summary",
        "What was checked",
    ]
    positions = [text.index(word) for word in order]
    assert positions == sorted(positions)
    # the bias keeps two indices, the weight three; the outer product is there
    assert r"\partial b_{2i}" in text and r"\partial W_{2ij}" in text
    assert r"\nabla_{a_{2}} \mathcal{L} h_{1}^{\top}" in text
    # every a_{ki} written out for a small net
    assert r"a_{13} &= b_{13} + W_{131} x_{1} + W_{132} x_{2} + W_{133} x_{3}" in text


def test_wide_layers_are_abbreviated() -> None:
    text = render_latex(_derivation("784-128-10"))
    assert r"\ddots" in text and r"\vdots" in text and r"\cdots" in text
    assert r"W_{1,128,784}" in text
    assert "W_{1,4,1}" not in text and "W_{115}" not in text
    assert shown_indices(6) == [1, 2, 3, 4, 5, 6]
    assert shown_indices(784) == [1, 2, 3, None, 784]


def test_single_layer_network_says_there_is_no_hidden_layer() -> None:
    text = render_latex(_derivation("32-softmax-cross-entropy"))
    assert "no hidden layer" in text
    assert r"\nabla_{W_{1}} \mathcal{L} &= \nabla_{a_{1}} \mathcal{L} x^{\top}" in text


def test_proof_records_drive_the_checks_section() -> None:
    proved = render_latex(_derivation("332-proved"))
    assert "sympy.diff of the composed loss" in proved
    unproved = render_latex(_derivation("332-sigmoid"))
    assert "not proved" in unproved


def test_fragment_has_no_preamble_and_names_its_packages() -> None:
    fragment = render_latex(_derivation("332-sigmoid"), fragment=True)
    assert r"\documentclass" not in fragment and r"\begin{document}" not in fragment
    assert fragment.startswith("% Made by symgrad: symgrad latex --fragment 3 3 2")
    assert "% Needs in the preamble: \\usepackage{amsmath," in fragment


def test_output_is_deterministic_and_dateless() -> None:
    first = render_latex(_derivation("2-4-4-3-2-mixed"))
    second = render_latex(_derivation("2-4-4-3-2-mixed"))
    assert first == second
    assert not re.search(r"20\d\d-\d\d-\d\d", first)


def test_custom_activation_is_quoted_in_the_header_and_escaped_in_prose() -> None:
    text = render_latex(_derivation("332-x/(1+abs(x))"))
    assert "symgrad latex 3 3 2 --activation 'x/(1+abs(x))'" in text


class _Formatter:
    """The part of an IPython display formatter that symgrad uses: ``for_type``."""

    def __init__(self) -> None:
        self.printers: dict[type, Callable[[object], str]] = {}

    def for_type(self, cls: type, printer: Callable[[object], str]) -> None:
        self.printers[cls] = printer


def test_jupyter_display_is_registered_with_ipython_formatters() -> None:
    formatters = {"text/latex": _Formatter(), "text/markdown": _Formatter()}
    shell = SimpleNamespace(display_formatter=SimpleNamespace(formatters=formatters))
    assert jupyter.register(shell)
    derivation = _derivation("332-sigmoid")
    assert formatters["text/latex"].printers[Derivation](derivation).startswith("$$")
    markdown = formatters["text/markdown"].printers[Derivation](derivation)
    assert markdown.startswith("---\ntitle:")
    # Outside IPython there is nothing to register with.
    assert "IPython" in sys.modules or not jupyter.register()


# Templating ------------------------------------------------------------------------------------


def test_template_environments() -> None:
    assert extension_of("latex/document.tex.jinja") == "tex"
    assert extension_of("markdown/derivation.md.jinja") == "md"
    tex_env = environment("tex")
    assert tex_env.from_string(r"\newcommand{\x}[1]{#1} \VAR{a}").render(a=1).endswith(" 1")
    assert (
        tex_env.from_string("%- for i in xs\n\\VAR{i}\n%- endfor\n").render(xs=[1, 2]) == "1\n2\n"
    )
    with pytest.raises(Exception, match="undefined"):
        render("latex/document.tex.jinja")
    assert tex_escape("50% of a_b & {c}") == r"50\% of a\_b \& \{c\}"


def test_templates_insert_prepared_strings_only() -> None:
    for path in (REPO / "templates").rglob("*.jinja"):
        text = path.read_text(encoding="utf-8")
        assert "sympy" not in text and "latex(" not in text, path


# Golden files, CLI, speed ----------------------------------------------------------------------


def test_cli_latex_784_128_10_is_small(tmp_path: Path) -> None:
    """Size only: its speed is measured by bench/bench_derive.py, not by a timed test."""
    from symgrad.cli import main

    out = tmp_path / "big.tex"
    assert main(["latex", "784", "128", "10", "-o", str(out)]) == 0
    assert out.stat().st_size < 200_000


def test_cli_markdown_and_fragment_to_stdout() -> None:
    from symgrad.cli import main

    buffer = io.StringIO()
    assert main(["markdown", "3", "2", "--output", "identity"], stdout=buffer) == 0
    assert buffer.getvalue().startswith("---\ntitle:")
    buffer = io.StringIO()
    assert main(["latex", "3", "3", "2", "--fragment"], stdout=buffer) == 0
    assert r"\documentclass" not in buffer.getvalue()
