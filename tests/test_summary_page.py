"""``symgrad summary``: backpropagation on one page (BP1-BP4 with shapes, the algorithm, the
mini-batch form), for students, one page whatever the network."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from conftest import run_cli
from test_audience import TOOL_WORDS, visible_latex

from symgrad.render.notes import compile_pdf

#: 3-3-2, MNIST's 784-128-10, and a deep net: 4, eight hidden layers of 6, 3 (``4-6x8-3``),
#: also with residual connections and weight decay.
NETWORKS = {
    "3-3-2": ["3", "3", "2"],
    "784-128-10": ["784", "128", "10"],
    "4-6x8-3": ["4", *["6"] * 8, "3"],
    # the remarks of both layer kinds, the longest summary
    "4-6x8-3-kinds": ["4", *["6"] * 8, "3", "--residual", "--weight-decay", "0.01"],
}


def pdf_pages(pdf: Path) -> int:
    """The page count ``pdfinfo`` reads from the PDF."""
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    match = re.search(r"^Pages:\s+(\d+)", info.stdout, re.M)
    assert match, info.stdout
    return int(match.group(1))


def compiled_pages(tex: str, where: Path) -> int:
    compiled = compile_pdf(tex, where, "summary")
    assert not compiled.problems, compiled.problems
    return pdf_pages(where / "summary.pdf")


def summary_tex(tmp_path: Path, argv: list[str]) -> str:
    out = tmp_path / "summary.tex"
    status, _, err = run_cli(["summary", *argv, "-o", str(out)])
    assert status == 0, err
    return out.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", list(NETWORKS))
def test_the_summary_is_one_page(tmp_path: Path, name: str) -> None:
    framing = ["--title", "Week 5: backpropagation on one page", "--author", "A. Lecturer"]
    framing += ["--course", "MA 301 Machine learning", "--date", "14 October 2026"]
    tex = summary_tex(tmp_path, [*NETWORKS[name], *framing])
    assert compiled_pages(tex, tmp_path / "pdf") == 1
    # BP1-BP4, each with a shape; the algorithm; the mini-batch form
    for tag in ("BP1", "BP2", "BP3", "BP4"):
        assert rf"\tag{{{tag}}}" in tex
    assert r"n_{k} \times n_{k-1}" in tex and r"\Delta_{k}^{\top} H_{k-1}" in tex
    assert r"\begin{enumerate}" in tex
    visible = visible_latex(tex).lower()
    assert not [w for w in TOOL_WORDS if w in visible]


def test_the_page_count_sees_a_summary_that_runs_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page check fails on a summary too long for its page (the mini-batch part thrice)."""
    from symgrad.render.notes import handout

    batch = handout._batch
    monkeypatch.setattr(handout, "_batch", lambda b, g: batch(b, g) * 3)
    tex = summary_tex(tmp_path, NETWORKS["3-3-2"])
    assert compiled_pages(tex, tmp_path / "pdf") > 1


def test_the_summary_in_markdown_and_with_the_course_framing(tmp_path: Path) -> None:
    status, markdown, _ = run_cli(
        ["summary", "3", "3", "2", "--format", "markdown", "--title", "Week 5: $x$ & \\emph{y}"]
    )
    assert status == 0
    assert "\\tag{BP1}" in markdown and "## A mini-batch" in markdown
    heading = next(line for line in markdown.splitlines() if line.startswith("# "))
    assert heading == r"# Week 5\: \$x\$ \& \\emph\{y\}"
    visible = re.sub(r"<!--.*?-->", "", markdown).lower()
    assert not [w for w in TOOL_WORDS if w in visible]
    tex = summary_tex(tmp_path, ["3", "3", "2", "--title", "Week 5: $x$ & \\emph{y}"])
    assert "\\emph{y}" not in visible_latex(tex)


def test_a_bad_network_is_one_line_of_error(tmp_path: Path) -> None:
    out = tmp_path / "summary.tex"
    status, _, err = run_cli(["summary", "3", "0", "2", "-o", str(out)])
    assert status == 2 and err.startswith("symgrad: error: ") and err.count("\n") == 1
    assert not out.exists()
