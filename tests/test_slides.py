"""The Beamer deck: compiled with a real pdflatex, read from the back of a lecture hall.

Every case is compiled once (a module fixture, two at a time) and must give no error, no overfull
or underfull box (a frame too full is an overfull ``\\vbox``), no undefined reference. Nothing is
set smaller than ``\\small``: the source never uses a smaller size or a scaling command, and the
PDF's fonts (``pdffonts``) say so too. Both checks are also run on a deck broken on purpose.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from symgrad.cli import main
from symgrad.derivation import Derivation
from symgrad.pipeline import derive
from symgrad.render.notes import Compiled, compile_pdf
from symgrad.render.slides import SMALLER_THAN_SMALL, build_deck, render_slides
from symgrad.spec import NetworkSpec

LONG_CUSTOM = "x/(1+abs(x)) + tanh(x)/2 + sin(x) + x**3/30"


@dataclass(frozen=True)
class Case:
    sizes: tuple[int, ...]
    activation: str | None = None
    output: str | None = None
    loss: str | None = None
    example: int | None = None
    #: The layer kinds' options by their name (``(("residual", True),)``).
    kinds: tuple[tuple[str, object], ...] = ()

    def derivation(self) -> Derivation:
        spec = NetworkSpec.parse(
            list(self.sizes), self.activation, self.output, self.loss, kinds=dict(self.kinds)
        )
        return derive(spec, prove=False)


CASES = {
    "332-example": Case((3, 3, 2), example=0),
    "2-4-4-3-2-tanh": Case((2, 4, 4, 3, 2), "tanh"),
    "784-128-10": Case((784, 128, 10)),
    "9-layer-tanh": Case((2, 4, 4, 4, 4, 4, 4, 4, 4, 2), "tanh"),
    "32-sigmoid-bce-example": Case((3, 2), None, "sigmoid", "binary-cross-entropy", 0),
    "3333-mixed-example": Case((3, 3, 3, 3), "tanh,relu", "sigmoid", "binary-cross-entropy", 5),
    "long-custom-example": Case((3, 3, 2), LONG_CUSTOM, example=0),
    "2332-kinds-example": Case(
        (2, 3, 3, 2), example=0, kinds=(("weight_decay", "0.01"), ("residual", True))
    ),
}


def _require(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.fail(
            f"{tool} is missing; install TeX Live and poppler: apt-get install "
            "texlive-latex-base texlive-latex-recommended texlive-pictures lmodern poppler-utils "
            "(scripts/test.sh does)"
        )


@dataclass(frozen=True)
class Built:
    source: str
    compiled: Compiled
    pdf: Path


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Built]:
    _require("pdflatex")
    root = tmp_path_factory.mktemp("slides")
    jobs: dict[str, Callable[[], Built]] = {}
    for name, case in CASES.items():
        source = render_slides(case.derivation(), example=case.example)

        def job(source: str = source, folder: Path = root / name) -> Built:
            compiled = compile_pdf(source, folder, "slides")
            return Built(source, compiled, folder / "slides.pdf")

        jobs[name] = job
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(job) for name, job in jobs.items()}
        return {name: future.result() for name, future in futures.items()}


@pytest.mark.parametrize("case", CASES)
def test_slides_compile_without_any_problem(built: dict[str, Built], case: str) -> None:
    """No error, no overfull or underfull box (no frame too full), no undefined reference."""
    result = built[case].compiled
    assert result.pdf.startswith(b"%PDF")
    assert result.problems == [], f"{case}: {result.problems}"


def test_a_frame_too_full_is_found(tmp_path: Path) -> None:
    """The check itself: a frame with more than it holds is reported by the log."""
    _require("pdflatex")
    source = render_slides(CASES["332-example"].derivation())
    crowded = source.replace(
        r"\begin{frame}[t]{The forward pass}",
        r"\begin{frame}[t]{The forward pass}" + "\n" + "\n\n".join(["A line."] * 12),
        1,
    )
    assert any("Overfull \\vbox" in p for p in compile_pdf(crowded, tmp_path, "s").problems)


# Readable from the back of the hall --------------------------------------------------------

_SIZE = re.compile(r"\+?LM(Sans|Mono|Roman|MathItalic|MathSymbols|MathExtension)(\d+)")


def source_size_problems(source: str) -> list[str]:
    """A size command below ``\\small``, ``\\resizebox``, ``\\scalebox`` or a scaled TikZ
    picture in the deck's source."""
    problems = [command for command in SMALLER_THAN_SMALL if command in source]
    return problems + re.findall(r"\bscale=[\d.]+", source)


def pdf_size_problems(pdf: Path) -> list[str]:
    """Fonts of the PDF smaller than ``\\small``. Latin Modern names its design size: text is
    sans serif, so a sans or typewriter font under 10 pt is text smaller than ``\\small``;
    mathematics is serif, where 9 pt is only ever the main size of ``\\footnotesize`` (sizes 5
    to 8 are the scripts of larger text)."""
    problems = []
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True)
    for family, size in _SIZE.findall(fonts.stdout):
        text = family in ("Sans", "Mono")
        if (text and int(size) < 10) or (not text and int(size) == 9):
            problems.append(f"LM{family}{size}")
    return problems


@pytest.mark.parametrize("case", CASES)
def test_nothing_is_smaller_than_small(built: dict[str, Built], case: str) -> None:
    _require("pdffonts")
    assert source_size_problems(built[case].source) == []
    assert pdf_size_problems(built[case].pdf) == []


def test_the_size_check_finds_small_text(tmp_path: Path) -> None:
    """The check itself: a \\footnotesize paragraph is found in the source and in the PDF."""
    _require("pdflatex")
    source = render_slides(CASES["332-example"].derivation())
    small = source.replace(
        r"\begin{frame}[t]{The forward pass}",
        r"\begin{frame}[t]{The forward pass}{\footnotesize Small words, $a_{1} = b_{1}$.\par}",
        1,
    )
    compile_pdf(small, tmp_path, "s")
    assert source_size_problems(small) == [r"\footnotesize"]
    assert {"LMSans9", "LMRoman9"} <= set(pdf_size_problems(tmp_path / "s.pdf"))
    # and a picture scaled down, or a box shrunk
    scaled = source.replace(r"\begin{tikzpicture}[", r"\begin{tikzpicture}[scale=0.5, ", 1)
    assert source_size_problems(scaled) == ["scale=0.5"]
    assert source_size_problems(r"\resizebox{\linewidth}{!}{x}") == [r"\resizebox"]


# One idea per frame ----------------------------------------------------------------------


def test_frames_follow_the_lecture() -> None:
    derivation = CASES["332-example"].derivation()
    deck = build_deck(derivation, example=0)
    titles = []
    for frame in deck.frames:
        if not titles or titles[-1] != frame.title:
            titles.append(frame.title)
    assert titles == [
        "The network",
        "The forward pass",
        "The output layer",
        "Hidden layer 1",
        "Layer 2: weights and biases in full",
        "Weights and biases of layer 1",
        "Summary: backpropagation for this network",
        "The computational graph",
        "A worked example",
        "Forward pass",
        "Backward pass",
        "Backpropagation for any depth",
        "Mini-batches",
        "Derivatives of the activation and output functions",
    ]
    # the instructors' deck closes with how it was checked
    instructors = build_deck(derivation, example=0, audience="instructors")
    assert instructors.frames[-1].title == "What was checked"
    source = render_slides(derivation, example=0)
    # every step of the derivation, with its own number as a tag, once
    for step in derivation:
        assert source.count(rf"\tag{{{step.number}}}\label{{eq:{step.key}}}") == 1, step.key
    # the matrix expansion once: the entries of grad W written out for one layer only
    assert source.count(r"\text{entries}") == 2  # the weight and the bias of layer 2
    assert len(re.findall(r"\\dfrac\{\\partial \\mathcal\{L\}\}\{\\partial W_\{2", source)) == 6
    assert r"\dfrac{\partial \mathcal{L}}{\partial W_{1" not in source
    without = render_slides(derivation)
    assert "A worked example" not in without and "Forward pass}" not in without


def test_hidden_layers_each_get_their_frames() -> None:
    deck = build_deck(CASES["2-4-4-3-2-tanh"].derivation())
    titles = [f.title for f in deck.frames]
    assert "Hidden layer 3 in full" in titles and "Hidden layers 2 and 1" in titles
    assert "Layer 4: weights and biases in full" in titles
    assert "Weights and biases of layers 3 to 1" in titles


def test_cli_writes_the_deck_and_says_how_it_was_made(tmp_path: Path) -> None:
    out = tmp_path / "deck.tex"
    assert main(["slides", "3", "3", "2", "--example", "0", "-o", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert text.startswith("% Made by symgrad: symgrad slides 3 3 2 --example 0\n")
    assert r"\documentclass[11pt,aspectratio=169]{beamer}" in text
    buffer = io.StringIO()
    assert main(["slides", "3", "3", "2", "--example", "0"], stdout=buffer) == 0
    assert buffer.getvalue() == text  # the same bytes every run
    assert not re.search(r"20\d\d-\d\d-\d\d", text)
