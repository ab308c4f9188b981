"""The course's framing of a document (--title, --author, --course, --date): shown as typed in
every format, never read as markup, and refused in one line when it cannot be shown."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from contextlib import redirect_stderr
from pathlib import Path

import pytest

from symgrad.cli import main
from symgrad.pipeline import derive
from symgrad.render.document import Framing
from symgrad.render.notes import NotesOptions, compile_pdf, render_latex, render_markdown
from symgrad.render.slides import render_slides
from symgrad.spec import NetworkSpec

#: Text a user might type, and an attacker would: TeX commands, HTML, a formula, Markdown.
HOSTILE = Framing(
    title=r"Part 3 \input{/etc/passwd} \def\x{y} $x^2$ & 100% #1 ~_{}",
    author="<script>alert(1)</script> *Ada* [link](http://x) `code`",
    course="ML-101 -- Backprop $$ | a \\ b",
    date="5 Dec 2026 <b>bold</b>",
)


def _derivation():  # type: ignore[no-untyped-def]
    return derive(NetworkSpec.parse([2, 2, 2]), prove=False)


def _commonmark_literal(escaped: str) -> str:
    """What CommonMark shows of ``escaped`` where every punctuation mark is backslash-escaped;
    fails on a punctuation mark left bare (it could start markup)."""
    out, chars = [], iter(escaped)
    for ch in chars:
        if ch == "\\":
            out.append(next(chars))
        else:
            assert not re.match(r"[!-/:-@\[-`{-~]", ch), f"bare {ch!r} in {escaped!r}"
            out.append(ch)
    return "".join(out)


def test_latex_shows_the_framing_as_typed() -> None:
    if shutil.which("pdflatex") is None or shutil.which("pdftotext") is None:
        pytest.fail("the LaTeX tests need pdflatex and pdftotext")
    source = render_latex(_derivation(), options=NotesOptions(framing=HOSTILE))
    body = source.split(r"\begin{document}")[1]
    assert r"\input{" not in body and r"\def\x" not in body and "<script>" in body
    with_framing = body.split(r"\end{center}")[0]
    with __import__("tempfile").TemporaryDirectory() as scratch:
        compiled = compile_pdf(source, Path(scratch), "framed")
        pdf = Path(scratch) / "framed.pdf"
        pdf.write_bytes(compiled.pdf)
        text = subprocess.run(
            ["pdftotext", "-l", "1", "-layout", str(pdf), "-"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    flat = " ".join(text.split())
    for value in (HOSTILE.title, HOSTILE.author, HOSTILE.course, HOSTILE.date):
        assert " ".join(value.split()) in flat, value
    assert "Backpropagation for a 2-2-2 network" not in with_framing


def test_markdown_shows_the_framing_as_typed() -> None:
    text = render_markdown(_derivation(), options=NotesOptions(framing=HOSTILE))
    lines = text.splitlines()
    heading = next(line for line in lines if line.startswith("# "))
    assert _commonmark_literal(heading[2:]) == HOSTILE.title
    framing_line = lines[lines.index(heading) + 4]
    shown = _commonmark_literal(framing_line)
    assert shown == f"{HOSTILE.course} · {HOSTILE.author} · {HOSTILE.date}"
    # the front matter is one JSON string (valid YAML), the comment is not closed early
    assert lines[1].startswith('title: "Part 3 \\\\input')
    comment = next(line for line in lines if line.startswith("<!--"))
    assert comment.count("-->") == 1 and comment.endswith("-->")


def test_slides_show_the_framing_as_typed() -> None:
    source = render_slides(_derivation(), framing=HOSTILE)
    assert (
        r"\author{<script>alert(1)</script> *Ada* [link](http://x) \textasciigrave{}code" in source
    )
    assert r"\title{Part 3 \textbackslash{}input\{/etc/passwd\}" in source
    assert r"\institute{ML-{}101 -{}-{} Backprop \$\$" in source
    assert "--title 'Part 3" in source.splitlines()[0]


def test_commonmark_check_catches_bare_markup() -> None:
    with pytest.raises(AssertionError):
        _commonmark_literal("<b>bold</b>")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["latex", "2", "2", "2", "--title", "two\nlines"], "--title may not contain a line break"),
        (["slides", "2", "2", "2", "--date", "x" * 201], "--date may be at most 200 characters"),
        (["markdown", "2", "2", "2", "--author", "a\x1b[2Jb"], "--author may not contain"),
    ],
)
def test_framing_that_cannot_be_shown_is_refused(argv: list[str], message: str) -> None:
    err = io.StringIO()
    with redirect_stderr(err):
        status = main(argv, stdout=io.StringIO())
    assert status == 2
    assert err.getvalue().startswith(f"symgrad: error: {message}")
    assert err.getvalue().count("\n") == 1
