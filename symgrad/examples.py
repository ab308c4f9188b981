"""The examples in ``generated/``: one list of commands, one function that remakes them all.

``python -m symgrad.examples`` rewrites ``generated/`` from the current code; the test-suite
regenerates into a temporary folder and fails with a diff where the two differ
(``pytest tests/test_generated.py --update-generated`` rewrites instead). Every file is made by
symgrad's own command line, so the examples show exactly what users get.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from symgrad.cli import main

ROOT = Path(__file__).resolve().parents[1]
GENERATED = ROOT / "generated"
README_PICTURE = ROOT / "docs" / "notes-3-3-2-page1.png"
#: The README's pictures of the worked example: a page of the notes and a slide.
EXAMPLE_PAGE_PICTURE = ROOT / "docs" / "worked-example-2-2-2-page.png"
SLIDE_PICTURE = ROOT / "docs" / "slide-3-3-2-backward.png"


@dataclass(frozen=True)
class Example:
    """``symgrad ARGV -o generated/PATH``, or ``symgrad derive`` and ``symgrad example``
    captured to PATH."""

    path: str
    argv: tuple[str, ...]

    @property
    def command(self) -> str:
        return "symgrad " + " ".join(self.argv)

    @property
    def paths(self) -> tuple[str, ...]:
        """Every file the example writes: ``NAME.c`` comes with ``NAME.h``."""
        if self.path.endswith(".c"):
            return (self.path, self.path[: -len(".c")] + ".h")
        return (self.path,)


EXAMPLES: tuple[Example, ...] = (
    Example("derive/mlp-3-3-2.txt", ("derive", "3", "3", "2")),
    Example("notes/mlp-3-3-2.tex", ("latex", "3", "3", "2")),
    Example("notes/mlp-3-3-2.md", ("markdown", "3", "3", "2")),
    Example(
        "notes/mlp-2-4-4-3-2-tanh.tex", ("latex", "2", "4", "4", "3", "2", "--activation", "tanh")
    ),
    Example(
        "notes/mlp-2-4-4-3-2-tanh.md", ("markdown", "2", "4", "4", "3", "2", "--activation", "tanh")
    ),
    Example("numpy/mlp_3_3_2_vectorized.py", ("codegen", "3", "3", "2", "--style", "vectorized")),
    Example("numpy/mlp_3_3_2_unrolled.py", ("codegen", "3", "3", "2", "--style", "unrolled")),
    Example(
        "numpy/mlp_784_30_10_vectorized.py", ("codegen", "784", "30", "10", "--style", "vectorized")
    ),
    Example("array_api/mlp_3_3_2.py", ("codegen", "3", "3", "2", "--target", "array-api")),
    Example("c/mlp_3_3_2.c", ("codegen", "3", "3", "2", "--target", "c")),
    Example("example/mlp-2-2-2-seed-0.txt", ("example", "2", "2", "2", "--seed", "0")),
    Example(
        "example/mlp-2-2-2-seed-0.json",
        ("example", "2", "2", "2", "--seed", "0", "--format", "json"),
    ),
    Example("notes/mlp-2-2-2-example-0.tex", ("latex", "2", "2", "2", "--example", "0")),
    Example("notes/mlp-2-2-2-example-0.md", ("markdown", "2", "2", "2", "--example", "0")),
    Example("slides/mlp-3-3-2-example-0.tex", ("slides", "3", "3", "2", "--example", "0")),
    # A handout: the parameters and the algorithm, numbered as in the whole notes.
    Example(
        "notes/mlp-3-3-2-parameters.md",
        ("markdown", "3", "3", "2", "--sections", "parameters,general"),
    ),
    Example("summary/mlp-3-3-2.tex", ("summary", "3", "3", "2")),
    # The layer kinds: weight decay, and residual connections.
    Example(
        "example/mlp-2-2-2-weight-decay-seed-0.txt",
        ("example", "2", "2", "2", "--weight-decay", "0.01", "--seed", "0"),
    ),
    Example(
        "notes/mlp-3-3-2-weight-decay.md", ("markdown", "3", "3", "2", "--weight-decay", "0.01")
    ),
    Example(
        "numpy/mlp_3_3_2_weight_decay_vectorized.py",
        ("codegen", "3", "3", "2", "--weight-decay", "0.01"),
    ),
    Example("derive/mlp-2-3-3-2-residual.txt", ("derive", "2", "3", "3", "2", "--residual")),
    Example(
        "notes/mlp-2-3-3-2-residual-example-0.tex",
        ("latex", "2", "3", "3", "2", "--residual", "--example", "0"),
    ),
    Example(
        "c/mlp_2_3_3_2_residual.c",
        ("codegen", "2", "3", "3", "2", "--residual", "--target", "c", "--style", "looped"),
    ),
    # The notes as a web page, with the worked example.
    Example("html/mlp-3-3-2-example-0.html", ("html", "3", "3", "2", "--example", "0")),
    Example("html/mlp-2-2-2-example-0.html", ("html", "2", "2", "2", "--example", "0")),
)

#: Commands whose output is printed, not written with -o.
_PRINTED = ("derive", "example")

#: The LaTeX examples are also compiled; their PDFs sit beside them.
PDF_SOURCES = tuple(e.path for e in EXAMPLES if e.path.endswith(".tex"))


def regenerate(folder: Path, *, pdf: bool = True) -> list[Path]:
    """Write every example into ``folder`` (mirroring ``generated/``); return the paths written."""
    written = []
    for example in EXAMPLES:
        target = folder / example.path
        target.parent.mkdir(parents=True, exist_ok=True)
        if example.argv[0] in _PRINTED:
            with open(target, "w", encoding="utf-8", newline="\n") as stream:
                status = main(list(example.argv), stdout=stream)
        else:
            status = main([*example.argv, "-o", str(target)])
        if status != 0:
            raise RuntimeError(f"{example.command} exited with status {status}")
        written.append(target)
    if pdf:
        for source in PDF_SOURCES:
            written.append(compile_pdf(folder / source))
    return written


def compile_pdf(tex: Path) -> Path:
    """Compile ``tex`` with pdflatex (reproducibly, refusing errors and overfull boxes)."""
    from symgrad.render.notes import compile_pdf as compile_notes

    with tempfile.TemporaryDirectory() as scratch:
        compiled = compile_notes(tex.read_text(encoding="utf-8"), Path(scratch), tex.stem)
    if compiled.problems:
        raise RuntimeError(f"{tex.name}: {'; '.join(compiled.problems)}")
    pdf = tex.with_suffix(".pdf")
    pdf.write_bytes(compiled.pdf)
    return pdf


def first_page_png(pdf: Path, png: Path, resolution: int = 80) -> Path:
    """The first page of ``pdf`` as a PNG (pdftoppm), for the README."""
    return page_png(pdf, png, 1, resolution)


def page_starting(pdf: Path, words: str) -> int:
    """The number of the first page of ``pdf`` whose text starts with ``words`` (or, failing
    that, holds them)."""
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    pages = text.split("\f")
    for number, page in enumerate(pages, start=1):
        if page.strip().startswith(words):
            return number
    for number, page in enumerate(pages, start=1):
        if words in page:
            return number
    raise RuntimeError(f"no page of {pdf.name} has {words!r}")


def page_png(pdf: Path, png: Path, page: int, resolution: int = 80) -> Path:
    """Page ``page`` of ``pdf`` as a PNG (pdftoppm), for the README."""
    png.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        stem = Path(scratch) / "page"
        subprocess.run(
            [
                "pdftoppm",
                "-png",
                "-r",
                str(resolution),
                "-f",
                str(page),
                "-l",
                str(page),
                "-singlefile",
                str(pdf),
                str(stem),
            ],
            check=True,
        )
        shutil.copyfile(stem.with_suffix(".png"), png)
    return png


def run(argv: Sequence[str] | None = None) -> int:
    """``python -m symgrad.examples``: rewrite ``generated/`` and the README picture."""
    del argv
    regenerate(GENERATED)
    first_page_png(GENERATED / PDF_SOURCES[0].replace(".tex", ".pdf"), README_PICTURE)
    notes = GENERATED / "notes" / "mlp-2-2-2-example-0.pdf"
    # the page with the example's forward pass: its section may start low on a page
    page_png(notes, EXAMPLE_PAGE_PICTURE, page_starting(notes, "Forward pass"))
    slides = GENERATED / "slides" / "mlp-3-3-2-example-0.pdf"
    # a slide is 16 cm wide: more dots for the same width as a page
    # the last slide of the graph of the worked example: every value and gradient on it
    graph_done = page_starting(slides, "The example: the gradients") - 1
    page_png(slides, SLIDE_PICTURE, graph_done, resolution=110)
    count = sum(len(e.paths) for e in EXAMPLES) + len(PDF_SOURCES)
    print(f"rewrote {count} files under {GENERATED}")
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
