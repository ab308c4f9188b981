"""Lecture notes: LaTeX compiled with a real pdflatex, Markdown math rendered with KaTeX.

Nothing here is skipped: without ``pdflatex``, ``pdftotext`` or ``node`` the tests fail and say
what to install (the test command installs them; see scripts/test.sh and scripts/install-katex.sh).
Every case is compiled once (module fixtures) and every check reads the same PDF: no error, no
overfull or underfull box, no label defined twice, no undefined reference, matrix rows apart, no
display split across pages, and the page counts of the long examples.
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
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import ACTIVATIONS, PAIRS, run_cli
from pdfcheck import (
    MIN_FILL,
    MIN_LINE_GAP,
    MIN_ROW_GAP,
    PageFill,
    mark_displays,
    mark_figures,
    page_fills,
    row_gaps,
    split_displays,
    underfilled,
)

from symgrad import jupyter
from symgrad.derivation import Derivation, Kind, StepId
from symgrad.errors import SpecError
from symgrad.pipeline import derive
from symgrad.render import formula
from symgrad.render.notes import (
    Compiled,
    NotesOptions,
    build_notes,
    compile_pdf,
    markdown_math_blocks,
    render_fragment_for_jupyter,
    render_latex,
    render_markdown,
    shown_indices,
    widths,
)
from symgrad.spec import NetworkSpec
from symgrad.templating import environment, extension_of, render, tex_escape

REPO = Path(__file__).resolve().parent.parent

#: A custom activation long enough to fill its cell of the table of layers.
LONG_CUSTOM = "x/(1+abs(x)) + tanh(x)/2 + sin(x) + x**3/30"


@dataclass(frozen=True)
class Case:
    """A network and the notes options it is rendered with."""

    sizes: tuple[int, ...]
    activation: str | None = None
    output: str | None = None
    loss: str | None = None
    proved: bool = False
    options: NotesOptions = NotesOptions()
    #: The layer kinds' options by their name (``(("residual", True),)``).
    kinds: tuple[tuple[str, object], ...] = ()

    def derivation(self) -> Derivation:
        spec = NetworkSpec.parse(
            list(self.sizes), self.activation, self.output, self.loss, kinds=dict(self.kinds)
        )
        return derive(spec, prove=self.proved)


DEEP = (2, 4, 4, 4, 4, 4, 4, 4, 4, 2)

#: The instructors' edition, with the default checks (an appendix).
INSTRUCTORS = NotesOptions(audience="instructors")

#: Every LaTeX case, by readable id.
CASES: dict[str, Case] = {
    **{f"332-{a}": Case((3, 3, 2), a) for a in ACTIVATIONS},
    **{f"32-{o}-{lo}": Case((3, 2), None, o, lo) for o, lo in PAIRS},
    "784-128-10": Case((784, 128, 10)),
    "2-4-4-3-2-mixed": Case((2, 4, 4, 3, 2), "tanh,relu,sigmoid", proved=True),
    "2-4-4-3-2-tanh": Case((2, 4, 4, 3, 2), "tanh", proved=True),
    "2-4-4-3-2-expand-2": Case((2, 4, 4, 3, 2), "tanh", options=NotesOptions(expand=2)),
    "332-proved": Case((3, 3, 2), proved=True),
    "332-full-checks": Case(
        (3, 3, 2), proved=True, options=NotesOptions(1, "full", audience="instructors")
    ),
    "332-no-checks": Case((3, 3, 2), proved=True, options=NotesOptions(checks="none")),
    "long-custom": Case((3, 3, 2), LONG_CUSTOM),
    "9-layer-tanh": Case(DEEP, "tanh"),
    "4-6x8-3": Case((4, *[6] * 8, 3)),
    "332-expand-1": Case((3, 3, 2), options=NotesOptions(expand=1)),
    # the worked example (--example), with the computational graph of its numbers
    "222-example": Case((2, 2, 2), options=NotesOptions(example=0)),
    "3333-example": Case(
        (3, 3, 3, 3),
        "tanh,relu",
        "sigmoid",
        "binary-cross-entropy",
        options=NotesOptions(example=5),
    ),
    "long-custom-example": Case((3, 3, 2), LONG_CUSTOM, options=NotesOptions(example=0)),
    # the layer kinds: weight decay and a residual layer, with their worked example
    "3333-kinds-example": Case(
        (3, 3, 3, 3),
        "tanh",
        options=NotesOptions(example=0),
        kinds=(("weight_decay", "0.05"), ("residual", True)),
    ),
}

#: The most pages each case's notes may have (the page counts of an earlier, looser layout; the
#: 9-layer notes one more for the appendix that derives tanh' and the softmax's Jacobian).
PAGE_LIMITS = {"784-128-10": 10, "2-4-4-3-2-tanh": 11, "9-layer-tanh": 15, "332-proved": 9}


def _require(tool: str, hint: str) -> None:
    if shutil.which(tool) is None:
        pytest.fail(f"{tool} is missing; {hint}")


_PDFLATEX_HINT = (
    "install TeX Live: apt-get install texlive-latex-base texlive-latex-recommended "
    "texlive-pictures lmodern (scripts/test.sh does)"
)


@dataclass(frozen=True)
class Built:
    """One compiled case: the PDF, the log, and where the display marks and the pictures' places
    were written."""

    compiled: Compiled
    pdf: Path
    marks: Path
    fills: Path


def _compile(source: str, folder: Path, name: str = "notes") -> Built:
    """Compile with every ``align`` marking the pages of its first and last row and every
    picture its place (the marks take no space, so the layout is that of the notes as shipped)."""
    compiled = compile_pdf(mark_figures(mark_displays(source)), folder, name)
    return Built(compiled, *(folder / f"{name}.{end}" for end in ("pdf", "marks", "fills")))


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
    """A small document that loads exactly the packages the fragment's top comment names (and
    allows display breaks, which the fragment must override for itself)."""
    match = re.search(r"^% Needs in the preamble: \\usepackage\{([^}]*)\}", fragment, re.M)
    assert match, "the fragment states the packages it needs in a comment at its top"
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "body.tex").write_text(mark_displays(fragment), encoding="utf-8")
    return _WRAPPER % match.group(1)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Built]:
    """Every case compiled once, two at a time."""
    _require("pdflatex", _PDFLATEX_HINT)
    root = tmp_path_factory.mktemp("latex")
    jobs: dict[str, Callable[[], Built]] = {}
    for name, case in CASES.items():
        source = render_latex(case.derivation(), options=case.options)
        jobs[name] = lambda s=source, n=name: _compile(s, root / n)
    fragment = render_latex(CASES["332-sigmoid"].derivation(), fragment=True)
    wrapper = _fragment_document(root / "fragment", fragment)
    jobs["fragment"] = lambda: _compile(wrapper, root / "fragment", "wrapper")
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(job) for name, job in jobs.items()}
        return {name: future.result() for name, future in futures.items()}


@pytest.mark.parametrize("case", [*CASES, "fragment"])
def test_latex_compiles_without_any_problem(compiled: dict[str, Built], case: str) -> None:
    """No error, overfull or underfull box, multiply-defined label or undefined reference."""
    result = compiled[case].compiled
    assert result.pdf.startswith(b"%PDF")
    assert result.problems == [], f"{case}: pdflatex reported {result.problems}"


def test_log_problems_are_found() -> None:
    """The check itself: each kind of line it must report, from real pdflatex logs."""
    log = "\n".join(
        [
            "Overfull \\hbox (18.6pt too wide) in paragraph at lines 309--311",
            "Underfull \\hbox (badness 10000) in paragraph at lines 12--13",
            "LaTeX Warning: Label `eq:loss' multiply defined.",
            "LaTeX Warning: Reference `eq:loss' on page 3 undefined on input line 40.",
            "LaTeX Warning: There were undefined references.",
            "! Undefined control sequence.",
            "LaTeX Font Info:    External font `lmex10' loaded for size",
        ]
    )
    assert len(Compiled(b"", log).problems) == 6


@pytest.mark.parametrize("case", [*CASES, "fragment"])
def test_no_display_is_split_across_pages(compiled: dict[str, Built], case: str) -> None:
    count, split = split_displays(compiled[case].marks)
    assert count > 5
    assert split == [], f"{case}: displays run from one page to the next: {split}"


def test_the_split_check_finds_a_split_display(tmp_path: Path) -> None:
    """A display of 60 rows with display breaks allowed must run over a page, and be found."""
    _require("pdflatex", _PDFLATEX_HINT)
    rows = " \\\\\n".join(f"  a_{{{n}}} &= b_{{{n}}}" for n in range(60))
    source = (
        "\\documentclass{article}\n\\usepackage{amsmath}\n\\allowdisplaybreaks\n"
        f"\\begin{{document}}\n\\begin{{align*}}\n{rows}\n\\end{{align*}}\n\\end{{document}}\n"
    )
    built = _compile(source, tmp_path)
    assert split_displays(built.marks) == (1, [(1, 2)])


@pytest.mark.parametrize(
    "case", ["332-sigmoid", "2-4-4-3-2-tanh", "784-128-10", "32-sigmoid-squared-error"]
)
def test_matrix_rows_are_apart(compiled: dict[str, Built], case: str) -> None:
    gaps = row_gaps(compiled[case].pdf, matrices_only=True)
    assert len(gaps) > 4
    assert gaps[0].points >= MIN_ROW_GAP, f"{case}: rows {gaps[0]} closer than {MIN_ROW_GAP} pt"
    lines = row_gaps(compiled[case].pdf)
    assert lines[0].points >= MIN_LINE_GAP, f"{case}: lines {lines[0]} too close"


def test_the_gap_check_finds_cramped_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The old separator, ``\\\\[1.5ex]``, left the rows of fractions 1.5 pt apart."""
    _require("pdftotext", "install poppler-utils")
    monkeypatch.setattr(formula, "LATEX_ROW_GAP", r"\\[1.5ex]")
    monkeypatch.setattr("symgrad.render.notes.formats.LATEX_ROW_GAP", r"\\[1.5ex]")
    source = render_latex(CASES["332-sigmoid"].derivation(), options=NotesOptions(checks="none"))
    gaps = row_gaps(_compile(source, tmp_path).pdf, matrices_only=True)
    assert gaps[0].points < MIN_LINE_GAP < MIN_ROW_GAP


@pytest.mark.parametrize("case", sorted(PAGE_LIMITS))
def test_page_counts(compiled: dict[str, Built], case: str) -> None:
    pages = compiled[case].compiled.pages
    assert 0 < pages <= PAGE_LIMITS[case], f"{case}: {pages} pages"


#: The students' notes whose page counts and fills the notes report (the others are checked too).
FILL_REPORTED = ["332-sigmoid", "222-example", "2-4-4-3-2-tanh", "784-128-10", "4-6x8-3"]
#: Every students' standalone document compiled above.
STUDENT_CASES = [name for name, case in CASES.items() if case.options.audience == "students"]


def _fills_line(case: str, fills: list[PageFill]) -> str:
    shown = " ".join(f"{round(100 * page.fill)}%" for page in fills)
    return f"{case}: {len(fills)} pages, filled {shown}"


@pytest.mark.parametrize("case", STUDENT_CASES)
def test_every_page_of_the_students_notes_is_filled(
    compiled: dict[str, Built], case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """No page of a student's notes filled less than 60%, but the last one and one followed by a
    picture too tall for the room left on it."""
    fills = page_fills(compiled[case].pdf, compiled[case].fills)
    assert len(fills) == compiled[case].compiled.pages
    with capsys.disabled():
        if case in FILL_REPORTED:
            print("\n" + _fills_line(case, fills))
    short = [f"page {p.page} {round(100 * p.fill)}%" for p in underfilled(fills)]
    assert short == [], f"{_fills_line(case, fills)}; below {MIN_FILL:.0%}: {short}"


def test_a_forced_page_break_fails_the_fill_check(tmp_path: Path) -> None:
    """A page break in the middle of the first section leaves its page a quarter full."""
    _require("pdflatex", _PDFLATEX_HINT)
    source = render_latex(CASES["332-sigmoid"].derivation())
    broken = source.replace(r"\subsection*{Notation}", "\\clearpage\n\\subsection*{Notation}", 1)
    assert broken != source
    built = _compile(broken, tmp_path)
    fills = page_fills(built.pdf, built.fills)
    assert [p.page for p in underfilled(fills)] == [1]
    assert fills[0].fill < 0.4


def test_only_tall_displays_may_break_between_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The 4x4 weight matrix of 2-4-4-3-2 (--expand 2) is a display of half a page: it may end a
    page between its rows (as 3-3-2's 3x3 ones may), nothing shorter may. Kept whole, as
    before, the tall displays of 3-3-2 --expand 1 leave page 4 under 60% full, which the fill
    check finds."""
    case = CASES["2-4-4-3-2-expand-2"]
    source = render_latex(case.derivation(), options=case.options)
    pieces = source.count(r"\displaybreak[0]")
    # the entries, by (33), a column times a row: three breaks in each of the two matrices
    assert pieces == 6, pieces
    small = render_latex(CASES["32-sigmoid-squared-error"].derivation())
    assert r"\displaybreak" not in small.split(r"\begin{document}")[1]
    _require("pdflatex", _PDFLATEX_HINT)
    monkeypatch.setattr(widths, "breakable", lambda display: False)
    expand_1 = CASES["332-expand-1"]
    whole = render_latex(expand_1.derivation(), options=expand_1.options)
    assert r"\displaybreak" not in whole.split(r"\begin{document}")[1]
    built = _compile(whole, tmp_path)
    assert [p.page for p in underfilled(page_fills(built.pdf, built.fills))] == [4]


_SHORT_PAGE = r"""\documentclass[11pt,a4paper]{article}
\usepackage[a4paper,margin=2.5cm]{geometry}
\usepackage{tikz}
\begin{document}
%s
%s
\begin{tikzpicture}\draw (0,0) rectangle (5,%s\textheight);\end{tikzpicture}

Last words.
\end{document}
"""


@pytest.mark.parametrize(
    ("height", "page_break", "short"), [(0.8, "", []), (0.3, r"\clearpage", [1])]
)
def test_only_a_picture_too_tall_excuses_a_short_page(
    tmp_path: Path, height: float, page_break: str, short: list[int]
) -> None:
    """Half a page of text, then a picture: one of 80% of the text block cannot be pulled back,
    so the half-empty page before it passes; one of 30% could, so a page break before it fails."""
    _require("pdflatex", _PDFLATEX_HINT)
    text = "\n\n".join(["Words of a paragraph that runs over a few lines of the page. " * 6] * 6)
    built = _compile(_SHORT_PAGE % (text, page_break, height), tmp_path)
    fills = page_fills(built.pdf, built.fills)
    assert len(fills) == 2 and 0.3 < fills[0].fill < 0.6
    assert fills[1].first_figure is not None
    figure = fills[1].first_figure
    assert abs((figure.bottom - figure.top) - height * 702.78 * 72 / 72.27) < 2.0
    assert [p.page for p in underfilled(fills)] == short


# Two fragments in one report -----------------------------------------------------------------

_REPORT = r"""\documentclass[11pt,a4paper]{report}
\usepackage[T1]{fontenc}
\usepackage{lmodern}
\usepackage[a4paper,margin=2.5cm]{geometry}
\usepackage{%s}
\let\origref\ref
\AtBeginDocument{%%
  \renewcommand{\eqref}[1]{[\origref{#1}]}%%
  \renewcommand{\ref}[1]{\S\origref{#1}}}
\begin{document}
\chapter{Backpropagation}
Two networks follow.
\input{one}
\input{two}
\end{document}
"""


def _references(fragment: str) -> list[tuple[str, str]]:
    """Every ``\\eqref``/``\\ref`` of a fragment, in order: (command, label)."""
    return re.findall(r"\\(eqref|ref)\{([^}]*)\}", fragment)


def test_two_fragments_in_one_report_refer_to_their_own_equations(tmp_path: Path) -> None:
    """Inside a report, after a chapter, each reference prints the number its equation has
    there: the fragment's own count, after the chapter number and the first fragment's."""
    _require("pdflatex", _PDFLATEX_HINT)
    _require("pdftotext", "install poppler-utils")
    first = CASES["332-proved"].derivation()
    second = Case((2, 3, 2), "tanh", "sigmoid", proved=True).derivation()
    fragments = {
        "one": render_latex(first, True, NotesOptions(label_prefix="one:")),
        "two": render_latex(second, True, NotesOptions(label_prefix="two:")),
    }
    for name, text in fragments.items():
        (tmp_path / f"{name}.tex").write_text(text, encoding="utf-8")
        assert not re.search(r"(?<![\\{])\(\d+\)", text.replace(r"\tag{BP", "")), name
    packages = re.search(r"\\usepackage\{([^}]*)\}", fragments["one"])
    assert packages
    result = compile_pdf(_REPORT % packages.group(1), tmp_path, "report")
    assert result.problems == []

    # What each reference must print, counted independently: chapter 1, then the equations and
    # sections of the first fragment, then those of the second.
    expected_eq: dict[str, str] = {}
    expected_sec: dict[str, str] = {}
    offset_eq = offset_sec = 0
    for name, derivation in (("one", first), ("two", second)):
        for step in derivation:
            expected_eq[f"{name}:eq:{step.key}"] = f"1.{offset_eq + step.number}"
        for n in range(1, 5):  # tagged, not counted
            expected_eq[f"{name}:eq:bp{n}"] = f"BP{n}"
        sections = build_notes(derivation, options=NotesOptions(label_prefix=f"{name}:")).sections
        for n, section in enumerate(sections, start=1):
            expected_sec[section.label] = f"1.{offset_sec + n}"
        offset_eq += len(derivation.steps)
        offset_sec += len(sections)
    wanted = [
        f"[{expected_eq[label]}]" if command == "eqref" else f"§{expected_sec[label]}"
        for name in ("one", "two")
        for command, label in _references(fragments[name])
    ]
    assert len(wanted) > 60
    text = subprocess.run(
        ["pdftotext", "-raw", str(tmp_path / "report.pdf"), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = re.findall(r"\[\d+\.\d+\]|\[BP\d\]|§\d+\.\d+", text)
    assert found == wanted
    # and the equations carry the numbers the references print
    for number in {w.strip("[]") for w in wanted if w.startswith("[")}:
        assert f"({number})" in text


def test_two_fragments_with_one_prefix_are_caught(tmp_path: Path) -> None:
    """Without distinct prefixes the labels clash: the check of the log must say so."""
    _require("pdflatex", _PDFLATEX_HINT)
    fragment = render_latex(CASES["332-sigmoid"].derivation(), fragment=True)
    for name in ("one", "two"):
        (tmp_path / f"{name}.tex").write_text(fragment, encoding="utf-8")
    packages = re.search(r"\\usepackage\{([^}]*)\}", fragment)
    assert packages
    problems = compile_pdf(_REPORT % packages.group(1), tmp_path, "report").problems
    assert any("multiply defined" in p for p in problems)


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
    for name, case in CASES.items():
        derivation = case.derivation()
        for text in (
            render_markdown(derivation, case.options),
            render_fragment_for_jupyter(derivation),
        ):
            found = markdown_math_blocks(text)
            blocks += found
            origin += [name] * len(found)
    assert len(blocks) > 1000
    errors = _katex_errors(blocks)
    report = [f"{origin[e['index']]}: {e['error']}" for e in errors]  # type: ignore[index]
    assert not errors, "KaTeX errors:\n" + "\n".join(report[:20])


def test_katex_check_reports_errors() -> None:
    errors = _katex_errors([(r"\label{x} a", True), (r"\frac{a}{b} \tag{1}", True)])
    assert [e["index"] for e in errors] == [0]


# Markdown --------------------------------------------------------------------------------------


def test_markdown_is_obsidian_flavoured() -> None:
    derivation = CASES["332-sigmoid"].derivation()
    text = render_markdown(derivation)
    assert text.startswith('---\ntitle: "Backpropagation for a 3-3-2 network"\n---\n')
    lines = text.splitlines()
    assert lines.count("$$") % 2 == 0 and lines.count("$$") > 40
    assert r"\label" not in text and r"\eqref" not in text and r"\ref{" not in text
    for line in lines:
        if line.startswith("|"):  # a bar inside math would split an Obsidian table cell
            cells = [c for c in line.strip("|").split("|")]
            assert all(c.count("$") % 2 == 0 for c in cells), line
    # every step has its number, as the display's tag or in the display's column of numbers
    for step in derivation:
        assert rf"\tag{{{step.number}}}" in text or rf"\text{{({step.number})}}" in text


def test_markdown_links_every_reference_to_a_block_id() -> None:
    text = render_markdown(CASES["332-sigmoid"].derivation())
    ids = set(re.findall(r"^\^([A-Za-z0-9-]+)$", text, re.M))
    links = re.findall(r"\[\((\d+)\)\]\(#\^([A-Za-z0-9-]+)\)", text)
    assert len(links) > 10
    assert {anchor for _, anchor in links} <= ids
    assert "[(7)](#^eq-output-delta)" in text
    # the block ids follow the prefix, made of the characters Obsidian allows
    prefixed = render_markdown(
        CASES["332-sigmoid"].derivation(), NotesOptions(label_prefix="net:1")
    )
    assert "^net-1eq-output-delta" in prefixed


def test_markdown_summary_is_one_aligned_block() -> None:
    text = render_markdown(CASES["332-sigmoid"].derivation())
    summary = text.split("## Summary")[1].split("## ")[0]
    assert summary.count("$$") == 4  # the forward pass, the backward pass
    assert summary.count(r"\begin{aligned}") == 2


def test_markdown_table_never_has_a_bar_in_math() -> None:
    text = render_markdown(CASES["332-x/(1+abs(x))"].derivation())
    assert r"\vert" in text


# Structure, numbering and references ------------------------------------------------------------


def test_every_step_is_numbered_and_labelled_in_order() -> None:
    derivation = CASES["332-sigmoid"].derivation()
    text = render_latex(derivation)
    labels = re.findall(r"\\label\{eq:([^}]*)\}", text)
    # the steps, in order; and (BP1)-(BP4), tagged, of the general algorithm
    assert [k for k in labels if not k.startswith("bp")] == [step.key for step in derivation]
    assert [k for k in labels if k.startswith("bp")] == ["bp1", "bp2", "bp3", "bp4"]
    # only the steps are numbered: the summary and the general algorithm use \tag
    assert not re.search(r"\\begin\{equation\}(?![^$]*?\\label)", text)
    markdown = render_markdown(derivation)
    assert len(re.findall(r"\\tag\{\d+\}|\\text\{\(\d+\)\}", markdown)) >= len(derivation.steps)


def test_every_reference_is_a_ref_never_a_typed_number() -> None:
    for name in ("332-proved", "332-full-checks", "2-4-4-3-2-mixed"):
        text = render_latex(CASES[name].derivation(), options=CASES[name].options)
        body = text.split(r"\begin{document}")[1]
        # no number in brackets but the arguments of functions (g'(0)), nor a bare number
        assert not re.search(r"(?<![\w'])\(\d+\)", body), name
        refs = re.findall(r"\\eqref\{([^}]*)\}", body)
        labels = set(re.findall(r"\\label\{([^}]*)\}", body))
        assert refs and set(refs) <= labels


def test_label_prefix_prefixes_every_label_and_reference() -> None:
    text = render_latex(
        CASES["332-sigmoid"].derivation(), fragment=True, options=NotesOptions(label_prefix="a:")
    )
    assert re.findall(r"\\label\{(?!a:)", text) == []
    assert re.findall(r"\\(?:eq)?ref\{(?!a:)", text) == []
    assert r"\label{a:eq:output-delta}" in text and r"\label{a:sec:batch}" in text


def test_stages_follow_the_notes() -> None:
    text = render_latex(CASES["332-proved"].derivation(), options=INSTRUCTORS)
    order = [
        "Notation",
        "tikzpicture",
        "The forward pass",
        "The output layer",
        "The hidden layers",
        "The parameters",
        "Summary",
        "Backpropagation for any depth",
        r"\section{Mini-batches}",
        "For the lecturer",
        r"\appendix",
        "How each equation was checked",
    ]
    positions = [text.index(word) for word in order]
    assert positions == sorted(positions)
    # the bias keeps two indices, the weight three; the outer product is there, bracketed
    assert r"\partial b_{2i}" in text and r"\partial W_{2ij}" in text
    assert r"\left(\nabla_{a_{2}} \mathcal{L}\right) h_{1}^{\top}" in text
    # every a_{ki} written out for a small net
    assert r"a_{13} &= b_{13} + W_{131} x_{1} + W_{132} x_{2} + W_{133} x_{3}" in text


def test_general_algorithm_states_bp1_to_bp4_with_shapes() -> None:
    text = render_latex(CASES["2-4-4-3-2-tanh"].derivation())
    general = text.split("Backpropagation for any depth")[1].split(r"\section")[0]
    for tag in ("BP1", "BP2", "BP3", "BP4"):
        assert rf"\tag{{{tag}}}" in general
    assert r"n_{k} \times n_{k-1}" in general and r"n_{L} \times 1" in general
    assert r"\odot g'(a_{k})" in general
    # cross-referenced to the instance
    assert r"\eqref{eq:output-delta-vector} for \eqref{eq:bp1}" in general
    assert r"\eqref{eq:weight-matrix-4}" in general
    # numbered as Nielsen numbers them: BP1 the output error in general form (the Jacobian of
    # the softmax), then this network's; BP3 the biases, BP4 the weights
    rows = {
        tag: line for line in general.splitlines() for tag in re.findall(r"\\tag\{(BP\d)\}", line)
    }
    assert r"= J^{\top} \nabla_{\hat{y}} \mathcal{L}" in rows["BP1"]
    assert r"\nabla_{b_{k}} \mathcal{L} &= \nabla_{a_{k}} \mathcal{L}" in rows["BP3"]
    assert r"\nabla_{W_{k}} \mathcal{L} &=" in rows["BP4"]
    assert r"&= \hat{y} - y &&\text{here, \eqref{eq:output-delta-vector}" in general
    assert (
        r"\eqref{eq:bias-vector-4} and so on down to \eqref{eq:bias-vector-1} for \eqref{eq:bp3}"
        in general
    )
    # the two sentences the algorithm once got wrong
    assert r"$W_{k}$ and $g'(a_{k-1})$ (from $a_{k-1}$" in general
    assert "about twice as much as the forward pass" in general
    # an elementwise output: Nielsen's Hadamard form
    sigmoid = render_latex(CASES["32-sigmoid-binary-cross-entropy"].derivation())
    # (the gradient bracketed before the product, as in every other Hadamard product)
    hadamard = r"\left(\nabla_{\hat{y}} \mathcal{L}\right) \odot O'(a_{L})"
    assert rf"\nabla_{{a_{{L}}}} \mathcal{{L}} &= {hadamard}" in sigmoid


def test_mini_batch_section_stacks_the_per_sample_steps() -> None:
    derivation = CASES["332-sigmoid"].derivation()
    text = render_latex(derivation)
    batch = text.split(r"\section{Mini-batches}")[1]
    for row in (
        r"A_{1} &= X W_{1}^{\top} + \mathbf{1} b_{1}^{\top}",
        r"\Delta_{2} &= \frac{1}{B} \left(\hat{Y} - Y\right)",
        r"G_{1} &= \Delta_{2} W_{2}",
        r"\Delta_{1} &= G_{1} \odot g'(A_{1}) = G_{1} \odot H_{1} \odot "
        r"\left(\mathbf{1} - H_{1}\right)",
        r"\nabla_{W_{1}} \bar{\mathcal{L}} &= \Delta_{1}^{\top} X",
        r"\nabla_{b_{1}} \bar{\mathcal{L}} &= \Delta_{1}^{\top} \mathbf{1}",
        r"\bar{\mathcal{L}} &= \frac{1}{B} \sum_{s=1}^{B} \mathcal{L}^{(s)}",
    ):
        assert row in batch, row
    # each row justified by the per-sample step it stacks
    assert r"\text{rows of \eqref{eq:output-delta-vector}}" in batch
    assert r"\text{mean of \eqref{eq:weight-matrix-1}}" in batch
    for step in derivation:
        if step.kind.stage.name == "BATCH":
            assert rf"\label{{eq:{step.key}}}" in batch


def written_out(text: str) -> list[str]:
    """The layers whose weight gradient a display writes out entry by entry."""
    return re.findall(r"\\nabla_\{W_\{(\d)\}\} \\mathcal\{L\} &= \\begin\{bmatrix\}", text)


def test_the_lectures_3x3_matrix_is_written_out_entry_by_entry() -> None:
    derivation = CASES["332-sigmoid"].derivation()
    for text in (render_latex(derivation), render_markdown(derivation)):
        # grad_{W_1} L (3 x 3) entry by entry, as in the lecture, besides the layer in full
        assert r"\dfrac{\partial \mathcal{L}}{\partial W_{133}}" in text
        assert r"\dfrac{\partial \mathcal{L}}{\partial a_{13}} x_{3}" in text
    assert written_out(render_latex(derivation)) == ["2", "1"]
    # wider layers keep the pattern: only the layer in full, with its ellipses
    assert written_out(render_latex(CASES["784-128-10"].derivation())) == ["2"]
    assert written_out(render_latex(CASES["2-4-4-3-2-tanh"].derivation())) == ["4"]


def test_expand_writes_one_layer_in_full_and_the_others_compactly() -> None:
    derivation = CASES["2-4-4-3-2-tanh"].derivation()
    for layer in (4, 2, 1):
        text = render_latex(derivation, options=NotesOptions(expand=layer))
        matrices = written_out(text)
        # the layer in full first, then W_4 (2 x 3) written out entry by entry as well
        assert matrices == [str(layer)] + (["4"] if layer != 4 else [])
        # it reads in order: the layer in full, then the others pointing back to it
        assert "full below" not in text and "written in full above" in text
        for section in ("hidden", "parameters"):
            part = text.split(rf"\label{{sec:{section}}}")[1].split(r"\section")[0]
            headings = re.findall(r"\\subsection\*\{([^}]*)\}", part)
            assert "in full" in headings[0], (layer, headings)
            assert not any("in full" in h for h in headings[1:]), (layer, headings)
        # out of the derivation's order, each equation keeps its number (as in Markdown, the
        # terminal and the code): a tag; in order, LaTeX numbers them itself
        tags = dict(re.findall(r"\\tag\{(\d+)\}\\label\{eq:([a-z0-9-]+)\}", text))
        if layer == 4:
            assert tags == {}
        else:
            assert {key: int(n) for n, key in tags.items()} == {
                s.key: s.number for s in derivation if s.key in tags.values()
            }
            assert len(tags) == sum(1 for s in derivation if rf"\label{{eq:{s.key}}}" in text)
        # the chain rule written in full for one hidden layer only
        hidden = min(layer, 3)
        assert text.count(r"\text{chain rule}") == 1 + 2 + 2  # output, hidden K, parameters K
        assert rf"\partial h_{{{hidden}j}}}} \frac{{\partial h_{{{hidden}j}}" in text
        # the compact layers point back (or forward) to it
        assert f"as \\eqref{{eq:weight-matrix-{layer}}}" in text
    assert render_latex(derivation) == render_latex(derivation, options=NotesOptions(expand=4))


def test_checks_modes() -> None:
    derivation = CASES["332-proved"].derivation()
    full = render_latex(derivation, options=NotesOptions(checks="full", audience="instructors"))
    appendix = render_latex(derivation, options=INSTRUCTORS)
    none = render_latex(derivation, options=NotesOptions(checks="none", audience="instructors"))
    # --checks full: the checks in the body, before the appendix (which derives g' and O')
    assert "What was checked" in full
    assert full.index("What was checked") < full.index(r"\appendix")
    assert r"Section~\ref{sec:checks} says how" in full
    assert r"\appendix" in appendix and r"Appendix~\ref{sec:checks} says how" in appendix
    assert "How each equation was checked" not in none and "checked" in none
    # students read nothing of the proof, and may not ask for it
    students = render_latex(derivation)
    assert "checked" not in students and r"\label{sec:checks}" not in students
    with pytest.raises(SpecError, match="--checks appendix is for --audience instructors"):
        NotesOptions(checks="appendix").resolved(2)
    # full lists every step; the appendix groups them by kind
    assert r"\eqref{eq:activation-1} & $h_{1j}$ & definition \\" in full
    assert r"\eqref{eq:forward-1}, \eqref{eq:forward-2} & $a_{ki}$ & definition \\" in appendix
    # the checks speak maths and code, not plain text
    assert r"\texttt{sympy.diff}" in full and r"$\ell(a_{L}(\theta))$" in full
    # a fragment has no appendix of its own
    fragment = render_latex(derivation, fragment=True, options=INSTRUCTORS)
    assert r"\appendix" not in fragment and r"Section~\ref{sec:checks}" in fragment


# Typography of the formulas ---------------------------------------------------------------------


def test_softmax_cross_entropy_is_simplified_step_by_step() -> None:
    text = render_latex(CASES["332-sigmoid"].derivation())
    delta = text.split(r"\frac{\partial \mathcal{L}}{\partial a_{2i}} &=")[1].split(r"\end{align}")[
        0
    ]
    assert r"\left(- \frac{y_{j}}{\hat{y}_{j}}\right) \hat{y}_{j}" in delta
    assert r"- \sum_{j=1}^{2} y_{j} \left(\delta_{ij} - \hat{y}_{i}\right)" in delta
    assert r"\hat{y}_{i} \sum_{j=1}^{2} y_{j} - y_{i}" in delta
    assert r"\text{cancel $\hat{y}_{j}$}" in delta and r"\text{using $\sum_{j} y_{j} = 1$}" in delta


@pytest.mark.parametrize(
    ("activation", "written"),
    [
        ("sigmoid", r"h_{1j} \left(1 - h_{1j}\right)"),
        ("tanh", r"\left(1 - h_{1j}^{2}\right)"),
        ("relu", r"\mathbf{1}[a_{1j} > 0]"),
        ("leaky-relu", r"\left(\mathbf{1}[a_{1j} > 0] + 0.01 \mathbf{1}[a_{1j} \le 0]\right)"),
        ("softplus", r"\frac{1}{1 + e^{-a_{1j}}}"),
        ("x/(1+abs(x))", r"\frac{1}{\left(1 + \left|{a_{1j}}\right|\right)^{2}}"),
        ("x**2", r"\left(2 a_{1j}\right)"),
    ],
)
def test_g_prime_is_written_out_for_every_activation(activation: str, written: str) -> None:
    derivation = derive(NetworkSpec.parse([3, 3, 2], activation), prove=False)
    text = render_latex(derivation)
    assert written in text
    vector = derivation.step(StepId(Kind.HIDDEN_DELTA_VECTOR, 1))
    assert len(vector.forms) == 2  # g'(a_1), then g' written out


def test_relu_states_its_value_at_zero_and_the_indicator_is_defined() -> None:
    text = render_latex(CASES["332-relu"].derivation())
    assert r"has no derivative at $0$" in text and r"$g'(0) = 0$" in text
    assert r"$\mathbf{1}[P]$ & indicator" in text
    leaky = render_latex(CASES["332-leaky-relu"].derivation())
    assert r"$g'(0) = 0.01$" in leaky
    body = leaky[: leaky.index(r"\appendix")]  # the appendix derives g' piece by piece
    assert r"\max(a_{1j}, 0.01 a_{1j})" in body and r"\begin{cases}" not in body


def test_binary_cross_entropy_is_written_in_the_usual_order() -> None:
    text = render_latex(CASES["32-sigmoid-binary-cross-entropy"].derivation())
    assert (
        r"-\sum_{i=1}^{2} \left(y_{i} \log \hat{y}_{i} + \left(1 - y_{i}\right) "
        r"\log \left(1 - \hat{y}_{i}\right)\right)"
    ) in text


def test_no_vacuous_algebra_step() -> None:
    derivation = CASES["32-sigmoid-squared-error"].derivation()
    delta = derivation.step(StepId(Kind.OUTPUT_DELTA, 1))
    assert len(delta.forms) == 2  # the chain rule, then the derivatives: nothing to reorder


def test_every_form_of_every_step_has_its_justification() -> None:
    """Every row of a step with more than one form says why it holds (beside it, or on the
    line below when the row is too wide), whatever the width of the formulas."""
    for name in ("332-sigmoid", "332-x/(1+abs(x))", "32-softmax-squared-error", "long-custom"):
        derivation = CASES[name].derivation()
        text = render_latex(derivation)
        for step in derivation:
            if len(step.forms) < 2:
                continue
            before, _ = text.split(rf"\label{{eq:{step.key}}}")
            display = before.rsplit(r"\begin{align}", 1)[1]
            # the rows of this step: after the previous numbered row of the display
            rows = re.split(r"\\label\{[^}]*\}[^\n]*\n", display)[-1].split("\n")
            formulas = [r for r in rows if "&=" in r]
            assert formulas, (name, step.key)
            for n, row in enumerate(rows):
                if "&=" in row:
                    noted = r"\text{" in row or (n + 1 < len(rows) and r"\text{" in rows[n + 1])
                    assert noted, (name, step.key, row)


def index_style_errors(text: str) -> list[str]:
    """Index lists against the rule the README states: run together when every index is one
    character (W_{kij}, W_{211}), with commas when one is longer (h_{k-1,j}, W_{1,12,3})."""
    errors = []
    for sub in re.findall(r"(?<![\\A-Za-z])[A-Za-z]+_\{([^{}=\\]+)\}", text):
        parts = sub.split(",")
        if len(parts) > 1 and all(len(p) == 1 for p in parts):
            errors.append(sub)  # commas where none is needed: W_{k,i,j}
        if len(parts) == 1 and re.search(r"[-+]", sub) and not re.fullmatch(r"[a-z][-+]\d", sub):
            errors.append(sub)  # an index of two characters run into another: h_{k-1j}
    return errors


def test_one_index_style_for_every_network() -> None:
    texts = {
        name: render_latex(CASES[name].derivation())
        for name in ("784-128-10", "332-sigmoid", "2-4-4-3-2-tanh", "9-layer-tanh")
    }
    texts["515"] = render_latex(derive(NetworkSpec.parse([5, 1, 5]), prove=False))
    example = CASES["222-example"]
    texts["222-md"] = render_markdown(example.derivation(), example.options)
    for name, text in texts.items():
        assert index_style_errors(text) == [], name
        # the general pattern reads as in the lecture whatever the network's size
        assert r"W_{kij}" in text and r"W_{k+1,i,j}" in text and r"h_{k-1,j}" in text, name
        assert "W_{k,i,j}" not in text and "b_{k,i}" not in text, name
    big = texts["784-128-10"]
    assert r"\ddots" in big and r"\vdots" in big and r"\cdots" in big
    # one layer's symbols as everywhere; commas only where an index has two digits or more
    assert r"W_{1ij}" in big and "W_{1,i,j}" not in big
    assert r"W_{1,128,784}" in big and r"W_{211}" in big and "W_{2,1,1}" not in big
    assert r"W_{211}" in texts["332-sigmoid"] and "W_{2,1,1}" not in texts["332-sigmoid"]
    assert shown_indices(6) == [1, 2, 3, 4, 5, 6]
    assert shown_indices(784) == [1, 2, 3, None, 784]
    assert "its first three and last rows and columns shown" in big


def repeated_citations(text: str) -> list[str]:
    """The equations one numbered step cites twice ("by (15)" beside two of its rows): each
    row should cite what it uses."""
    repeated = []
    for block in re.findall(r"\\begin\{align\}(.*?)\\end\{align\}", text, re.S):
        for step in re.split(r"\\label\{[^}]*\}", block):
            refs = re.findall(r"\\text\{by (\\eqref\{[^}]*\})\}", step)
            repeated += sorted({r for r in refs if refs.count(r) > 1})
    return repeated


def test_no_step_cites_one_equation_for_two_rows() -> None:
    for name in ("332-sigmoid", "2-4-4-3-2-mixed", "3333-example"):
        text = render_latex(CASES[name].derivation(), options=CASES[name].options)
        assert repeated_citations(text) == [], name
        assert re.search(r"\\text\{the entries of \$\\nabla_\{a_\{\d\}\}", text), name
    # the check fails on the bias vector as it was: "by (15)" for both of its steps
    twice = (
        "\\begin{align}\n x &= y &&\\text{by \\eqref{eq:bias-2}}\\notag \\\\\n"
        " &= z &&\\text{by \\eqref{eq:bias-2}}\\label{eq:bias-vector-2}\n\\end{align}"
    )
    assert repeated_citations(twice) == [r"\eqref{eq:bias-2}"]


def test_the_index_style_check_fails_on_the_old_forms() -> None:
    # the check of the test above, on the forms the notes used to mix
    assert index_style_errors(r"$W_{k,i,j}$ and $W_{2,1,1}$") == ["k,i,j", "2,1,1"]
    assert index_style_errors(r"$h_{k-1j}$") == ["k-1j"]
    assert index_style_errors(r"$W_{kij}$, $h_{k-1,j}$, $W_{1,12,3}$, $n_{k-1}$") == []


def test_ranges_are_written_as_people_write_them() -> None:
    text = render_latex(derive(NetworkSpec.parse([3, 1, 2], "tanh"), prove=False))
    assert r"$i = 1, 2$" in text
    assert r"1, \dots, 1" not in text
    # a layer of one unit: said once, no "For j = 1:" loop, no sum of one term
    assert text.count("Layer 1 has a single unit") == 1
    assert "$j = 1$" not in text and "For $j" not in text
    assert not re.search(r"\\sum(\\nolimits)?_\{[a-z]=1\}\^\{1\}", text)
    assert r"a_{2i} &= b_{2i} + W_{2i1} h_{11}" in text
    assert r"\frac{\partial \mathcal{L}}{\partial h_{11}} \left(1 - h_{11}^{2}\right)" in text
    out = run_cli(["derive", "3", "1", "2", "--activation", "tanh"])[1]
    assert "Σ[j=1..1]" not in out and "W₂ᵢ₁·h₁₁" in out
    big = render_latex(CASES["784-128-10"].derivation())
    assert r"$j = 1, \dots, 128$" in big


def test_single_layer_network_says_there_is_no_hidden_layer() -> None:
    text = render_latex(CASES["32-softmax-cross-entropy"].derivation())
    assert "no hidden layer" in text
    assert r"\left(\nabla_{a_{1}} \mathcal{L}\right) x^{\top}" in text


def test_proof_records_drive_the_checks_section() -> None:
    proved = render_latex(
        CASES["332-full-checks"].derivation(),
        options=NotesOptions(checks="full", audience="instructors"),
    )
    assert r"\texttt{sympy.diff} of the composed loss" in proved
    unproved = render_latex(CASES["332-sigmoid"].derivation(), options=INSTRUCTORS)
    assert "not proved" in unproved and "not checked" in unproved


def test_fragment_has_no_preamble_and_names_its_packages() -> None:
    fragment = render_latex(CASES["332-sigmoid"].derivation(), fragment=True)
    assert r"\documentclass" not in fragment and r"\begin{document}" not in fragment
    assert fragment.startswith("% Made by symgrad: symgrad latex --fragment 3 3 2")
    assert "% Needs in the preamble: \\usepackage{amsmath," in fragment
    assert r"\interdisplaylinepenalty=10000" in fragment


def test_output_is_deterministic_and_dateless() -> None:
    first = render_latex(CASES["2-4-4-3-2-mixed"].derivation())
    second = render_latex(CASES["2-4-4-3-2-mixed"].derivation())
    assert first == second
    assert not re.search(r"20\d\d-\d\d-\d\d", first)


def test_custom_activation_is_quoted_in_the_header_and_escaped_in_prose() -> None:
    text = render_latex(CASES["332-x/(1+abs(x))"].derivation())
    assert "symgrad latex 3 3 2 --activation 'x/(1+abs(x))'" in text


def test_the_header_repeats_the_notes_options() -> None:
    text = render_latex(CASES["332-sigmoid"].derivation(), options=NotesOptions(1, None, "p:"))
    assert text.startswith("% Made by symgrad: symgrad latex 3 3 2 --expand 1 --label-prefix p:\n")
    instructors = NotesOptions(1, "none", "p:", audience="instructors")
    text = render_latex(CASES["332-sigmoid"].derivation(), options=instructors)
    assert text.startswith(
        "% Made by symgrad: symgrad latex 3 3 2 --expand 1 --audience instructors --checks none "
        "--label-prefix p:\n"
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (NotesOptions(expand=3), "--expand must be a layer number from 1 to 2"),
        (NotesOptions(expand=0), "--expand must be a layer number from 1 to 2"),
        (NotesOptions(checks="lots"), "--checks must be one of full, appendix, none"),
        (NotesOptions(label_prefix="a b"), "--label-prefix may use"),
        (NotesOptions(label_prefix="a}"), "--label-prefix may use"),
    ],
)
def test_bad_notes_options_are_refused(options: NotesOptions, message: str) -> None:

    with pytest.raises(SpecError, match=re.escape(message)):
        render_latex(CASES["332-sigmoid"].derivation(), options=options)


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
    derivation = CASES["332-sigmoid"].derivation()
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


# CLI -------------------------------------------------------------------------------------------


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
    assert main(["latex", "3", "3", "2", "--fragment", "--label-prefix", "a:"], stdout=buffer) == 0
    assert r"\documentclass" not in buffer.getvalue() and r"\label{a:eq:loss}" in buffer.getvalue()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["latex", "3", "3", "2", "--expand", "3"], "--expand must be a layer number from 1 to 2"),
        (["markdown", "3", "3", "2", "--expand", "two"], "invalid int value: 'two'"),
        (["latex", "3", "3", "2", "--checks", "some"], "invalid choice: 'some'"),
        (["latex", "3", "3", "2", "--label-prefix", "a%b"], "--label-prefix may use"),
        (["latex", "3", "1"], "use --output sigmoid for one output unit"),
    ],
)
def test_cli_refuses_bad_notes_options_with_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from symgrad.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("symgrad: error: ") and err.count("\n") == 1
    assert message in err
