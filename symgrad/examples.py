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


@dataclass(frozen=True)
class Example:
    """``symgrad ARGV -o generated/PATH``, or ``symgrad derive`` captured to PATH."""

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
)

#: The LaTeX examples are also compiled; their PDFs sit beside them.
PDF_SOURCES = tuple(e.path for e in EXAMPLES if e.path.endswith(".tex"))


def regenerate(folder: Path, *, pdf: bool = True) -> list[Path]:
    """Write every example into ``folder`` (mirroring ``generated/``); return the paths written."""
    written = []
    for example in EXAMPLES:
        target = folder / example.path
        target.parent.mkdir(parents=True, exist_ok=True)
        if example.argv[0] == "derive":
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
                "1",
                "-l",
                "1",
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
    count = sum(len(e.paths) for e in EXAMPLES) + len(PDF_SOURCES)
    print(f"rewrote {count} files under {GENERATED}")
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
