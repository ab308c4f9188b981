"""``--sections``: a selection of a document keeps the whole document's numbers, and a reference
to a part left out is printed as text (its number and where it is), never a broken reference."""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
from pathlib import Path

import pytest
from conftest import run_cli

from symgrad.pipeline import derive
from symgrad.render.document import Numbering, Ref
from symgrad.render.notes import NotesOptions, compile_pdf, render_latex, render_markdown
from symgrad.render.slides import render_slides
from symgrad.spec import NetworkSpec

#: The last number of a line of the PDF's text: an equation's number at the right margin.
NUMBER = re.compile(r"\((\d+)\)\s*$")
LABEL = re.compile(r"\\label\{([^}]*)\}")
EQREF = re.compile(r"\\(?:eq)?ref\{([^}]*)\}")
LINK = re.compile(r"\]\(#\^([A-Za-z0-9-]+)\)")


def derivation(*sizes: int):  # noqa: ANN201 - a Derivation
    return derive(NetworkSpec.parse([str(n) for n in sizes], None, None, None, {}))


def dangling_refs(tex: str) -> set[str]:
    """The labels a LaTeX source refers to but does not define (LaTeX prints them ``??``)."""
    return set(EQREF.findall(tex)) - set(LABEL.findall(tex))


def dangling_links(markdown: str) -> set[str]:
    """The block ids Markdown links to that no block carries."""
    ids = set(re.findall(r"^\^([A-Za-z0-9-]+)$", markdown, re.M))
    return set(LINK.findall(markdown)) - ids


def section_numbers(pdf_text: str, title: str, next_title: str) -> list[str]:
    """The equation numbers at the ends of the lines of one section of a compiled PDF."""
    start = pdf_text.index(title)
    end = pdf_text.index(next_title, start) if next_title in pdf_text[start:] else None
    return [m.group(1) for line in pdf_text[start:end].splitlines() if (m := NUMBER.search(line))]


def pdf_text(tex: str, where: Path, name: str) -> str:
    compiled = compile_pdf(tex, where, name)
    assert not compiled.problems, compiled.problems
    pdf = where / f"{name}.pdf"
    pdf.write_bytes(compiled.pdf)
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    return "\n".join(" ".join(line.split()) for line in text.splitlines())


@pytest.fixture(scope="module")
def whole_332(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The text of the whole 3-3-2 notes, compiled."""
    return pdf_text(render_latex(derivation(3, 3, 2)), tmp_path_factory.mktemp("whole"), "whole")


def test_a_latex_selection_keeps_the_numbers_of_the_whole_document(
    tmp_path: Path, whole_332: str
) -> None:
    d = derivation(3, 3, 2)
    whole = whole_332
    options = NotesOptions(sections=("parameters", "general"))
    tex = render_latex(d, options=options)
    part = pdf_text(tex, tmp_path, "part")
    assert "??" not in part
    assert not dangling_refs(tex)
    # the sections keep their numbers, and so do their equations
    assert "4 The parameters" in part and "6 Backpropagation for any depth" in part
    numbers = section_numbers(whole, "4 The parameters", "5 Summary")
    assert numbers and numbers == section_numbers(part, "4 The parameters", "6 Backprop")
    # (BP1) is the output layer's equation (8): a part left out, named as text
    assert "(8) in Section 2" in " ".join(part.split())


def test_the_number_check_fails_on_numbers_that_restart(
    tmp_path: Path, whole_332: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without its tags a selection's equations count from (1) again: the check sees it."""
    import symgrad.render.notes as notes_module

    real = notes_module.render
    monkeypatch.setattr(
        notes_module, "render", lambda *a, **k: real(*a, **{**k, "tag_numbers": False})
    )
    tex = render_latex(derivation(3, 3, 2), options=NotesOptions(sections=("parameters",)))
    part = pdf_text(tex, tmp_path, "part")
    whole = section_numbers(whole_332, "4 The parameters", "5 Summary")
    assert section_numbers(part, "4 The parameters", "5 Summary") != whole


def test_a_selection_of_a_fragment_names_a_left_out_part_by_its_title() -> None:
    d = derivation(3, 3, 2)
    tex = render_latex(d, fragment=True, options=NotesOptions(sections=("general",)))
    assert not dangling_refs(tex)
    assert r"(8) in \emph{The output layer}" in tex
    # the host document numbers its own sections
    assert r"\setcounter{section}" not in tex


def test_a_markdown_selection_links_only_to_blocks_it_has() -> None:
    d = derivation(3, 3, 2)
    whole = render_markdown(d)
    part = render_markdown(d, options=NotesOptions(sections=("parameters", "general")))
    assert not dangling_links(whole) and not dangling_links(part)
    assert LINK.search(part)  # references inside the selection are still links
    # the output layer's (8) is not in the selection: its number and section, as text
    assert "(8) in the section *The output layer*" in part
    tags = re.findall(r"\\tag\{(\d+)\}", part)
    assert tags and all(f"\\tag{{{t}}}" in whole for t in tags)
    assert tags == sorted(tags, key=int) and tags[0] == "13"


def test_a_slides_selection_refers_to_no_missing_label() -> None:
    d = derivation(3, 3, 2)
    tex = render_slides(d, sections=("general",))
    assert "frametitle{The parameters}" not in tex
    assert not dangling_refs(tex)
    assert r"(8) in \emph{The output layer}" in tex


def test_the_checker_finds_a_reference_to_a_part_left_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """Printing every reference as if its target were there must leave broken references,
    which the checks above find."""
    monkeypatch.setattr(Numbering, "here", lambda self, ref: True)
    d = derivation(3, 3, 2)
    assert dangling_refs(render_latex(d, options=NotesOptions(sections=("general",))))
    part = render_markdown(d, options=NotesOptions(sections=("parameters", "general")))
    assert dangling_links(part)


def test_a_reference_is_a_value_that_cannot_be_formatted_into_text() -> None:
    ref = Ref("delta-2")
    with pytest.raises(TypeError):
        f"{ref}"  # noqa: B018 - formatting is what must fail
    joined = "by " + ref + "."
    assert joined == ("by ", ref, ".")
    with pytest.raises(TypeError):
        f"{joined}"  # noqa: B018


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["latex", "3", "3", "2", "--sections", "setup,nonsense"], "unknown section 'nonsense'"),
        (["markdown", "3", "3", "2", "--sections", "example"], "needs --example"),
        (["slides", "3", "3", "2", "--sections", "checks"], "for --audience instructors"),
        (
            ["slides", "3", "3", "2", "--sections", "lecturer", "--audience", "instructors"],
            "no section 'lecturer'",
        ),
    ],
)
def test_an_unknown_section_is_one_line_of_error(
    tmp_path: Path, argv: list[str], message: str
) -> None:
    out = tmp_path / "out.tex"
    status, stdout, stderr = run_cli([*argv, "-o", str(out)])
    assert status == 2 and stdout == ""
    assert stderr.count("\n") == 1 and stderr.startswith("symgrad: error: ") and message in stderr
    assert not out.exists()


def test_the_help_lists_the_section_ids() -> None:
    from symgrad.render.notes.options import SECTIONS

    for command in ("latex", "markdown", "slides"):
        status, out, _ = run_cli_help(command)
        flat = " ".join(out.split())
        assert all(
            f"{id}:" in flat for id in SECTIONS if not (command == "slides" and id == "lecturer")
        )


def run_cli_help(command: str) -> tuple[int, str, str]:
    """``symgrad COMMAND --help`` in this process."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit:
        run_cli([command, "--help"])
    return int(exit.value.code or 0), out.getvalue(), ""


def test_katex_renders_a_selection_and_the_summary_in_markdown() -> None:
    """The notes of parts left out ("(8) in "The output layer"") and the summary are valid
    Markdown math."""
    from test_notes import _katex_errors

    from symgrad.render.notes import markdown_math_blocks
    from symgrad.render.notes.handout import render_summary

    d = derivation(3, 3, 2)
    part = render_markdown(d, options=NotesOptions(sections=("parameters", "general")))
    blocks = markdown_math_blocks(part) + markdown_math_blocks(render_summary(d, "markdown"))
    assert len(blocks) > 50
    assert not _katex_errors(blocks)
