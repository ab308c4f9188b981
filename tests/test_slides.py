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
from pdfcheck import mark_figures
from slidescheck import measure, problems

from symgrad.cli import main
from symgrad.derivation import Derivation
from symgrad.pipeline import derive
from symgrad.render.deck.frames import Build, Key, Reveal, Swap
from symgrad.render.formula import EMPTY
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
    expand: int | None = None
    audience: str = "students"

    def source(self, handout: bool = False) -> str:
        return render_slides(
            self.derivation(),
            example=self.example,
            audience=self.audience,
            expand=self.expand,
            handout=handout,
        )

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
    "332-expand-1": Case((3, 3, 2), example=0, expand=1),
    "332-instructors": Case((3, 3, 2), example=0, audience="instructors"),
}

#: The decks also compiled in Beamer's handout mode, and measured frame by frame there.
HANDOUTS = ("332-example", "2-4-4-3-2-tanh", "784-128-10", "332-expand-1")


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
    """Every case compiled once, and the handouts (their pictures marked for the measure of
    how full each frame is), two at a time."""
    _require("pdflatex")
    root = tmp_path_factory.mktemp("slides")
    jobs: dict[str, Callable[[], Built]] = {}
    names = [*CASES, *(f"{name}-handout" for name in HANDOUTS)]
    for name in names:
        case = CASES[name.removesuffix("-handout")]
        handout = name.endswith("-handout")
        source = case.source(handout)
        marked = mark_figures(source) if handout else source

        def job(source: str = source, marked: str = marked, folder: Path = root / name) -> Built:
            compiled = compile_pdf(marked, folder, "slides")
            return Built(source, compiled, folder / "slides.pdf")

        jobs[name] = job
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(job) for name, job in jobs.items()}
        return {name: future.result() for name, future in futures.items()}


@pytest.mark.parametrize("case", [*CASES, *(f"{name}-handout" for name in HANDOUTS)])
def test_slides_compile_without_any_problem(built: dict[str, Built], case: str) -> None:
    """No error, no overfull or underfull box (no frame too full), no undefined reference,
    in the deck and in its handout."""
    result = built[case].compiled
    assert result.pdf.startswith(b"%PDF")
    assert result.problems == [], f"{case}: {result.problems}"
    assert "Warning" not in "\n".join(
        line for line in result.log.splitlines() if not line.startswith("Package hyperref")
    ), case


@pytest.mark.parametrize("case", HANDOUTS)
def test_every_frame_is_filled_and_reads_on_its_own(built: dict[str, Built], case: str) -> None:
    """Measured on the handout, one page a frame: none less than 35% full but the title
    frame, none overfull, none opening with "=" or a sentence that began before it, no
    sentence running from one frame into the next."""
    _require("pdftotext")
    folder = built[f"{case}-handout"].pdf.parent
    frames = measure(folder / "slides.pdf", folder / "slides.fills")
    c = CASES[case]
    assert len(frames) == len(build_deck(c.derivation(), c.example, expand=c.expand).frames) + 1
    assert problems(frames) == []


def test_the_frame_measure_finds_what_a_lecturer_would_not_teach_from(tmp_path: Path) -> None:
    """The measure itself, on a handout broken on purpose: a frame nearly empty, one that
    opens with "= ...", one that opens in the middle of a sentence, a sentence cut between two
    frames, a frame whose text runs over its bottom. Each is found, on its page."""
    _require("pdflatex")
    source = CASES["332-example"].source(handout=True)
    crowded = "\n\n".join(["A line of text."] * 24)
    broken = {
        "Nearly empty": "A word.",
        "Opens with equals": "$= \\hat{y}_{i} - y_{i}$ as above.\n\nThen more words. " * 4,
        "Opens mid-sentence": "and in matrix form, the rest of the sentence. " * 6,
        "Cut here": "The chain rule sums over every unit of the next layer, " * 5 + "and",
        "Cut there": "Every unit of the next layer. " * 8,
        "Too full": crowded,
    }
    frames = "".join(
        f"\\begin{{frame}}[t]{{{title}}}\n{body}\n\\end{{frame}}\n"
        for title, body in broken.items()
    )
    source = source.replace("\\end{document}", frames + "\\end{document}")
    compiled = compile_pdf(mark_figures(source), tmp_path, "s")
    measured = measure(tmp_path / "s.pdf", tmp_path / "s.fills")
    last = compiled.pages
    found = problems(measured)
    assert f"frame {last - 5} is {measured[last - 6].fill:.0%} full" in found
    assert any(f"frame {last - 4} starts with a continuation: '=" in p for p in found)
    assert any(f"frame {last - 3} starts with a continuation: 'and" in p for p in found)
    assert f"a sentence runs from frame {last - 2} into {last - 1}" in found
    assert any(p.startswith(f"frame {last} is overfull") for p in found)
    # and the deck as it is made has none of these
    assert problems(measured[: last - 6]) == []


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
        r"\begin{frame}[t]{The forward pass}\par{\footnotesize Small words, $a_{1} = b_{1}$.\par}",
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
    """The deck plan of the lecture: each frame titled by its idea, in the order it is
    taught; the worked example after the summary; at most 24 frames with the title frame."""
    derivation = CASES["332-example"].derivation()
    deck = build_deck(derivation, example=0)
    assert [f.title for f in deck.frames] == [
        "The network and its notation",
        "The forward pass",
        "The loss and its slope",
        "Output layer: the chain rule",
        "Output layer: every unit at once",
        "Hidden layer 1: the gradient from the layer above",
        "Hidden layer 1: back through the activation",
        "Layer 2: the partials of one weight and one bias",
        "Layer 2: the weight gradient is an outer product",
        "Layer 2: the bias gradient",
        "Weights and biases of layer 1",
        "Summary: backpropagation for this network",
        "A worked example",
        "The example on the graph: forward, then backward",
        "The example: the gradients of the parameters",
        "The example: the gradients of the parameters",
        "Backpropagation for any depth",
        "Backpropagation for any depth",
        "Backpropagation for any depth",
        "Mini-batches",
        "A mini-batch: the forward pass",
        "Mini-batches",
        "A mini-batch: the gradients, layer by layer",
    ]
    assert len(deck.frames) + 1 <= 24
    # the instructors' deck closes with how it was checked
    instructors = build_deck(derivation, example=0, audience="instructors")
    assert instructors.frames[-1].title == "What was checked"
    source = render_slides(derivation, example=0)
    # every step of the derivation, with its own number as a tag, once
    for step in derivation:
        number = (
            rf"(\\tag\{{{step.number}\}}|\\tag\*\{{\\protect\\tagat\{{\d+\}}\{{{step.number}\}}\}})"
        )
        tagged = number + rf"\\label(<\d+>)?\{{eq:{re.escape(step.key)}\}}"
        assert len(re.findall(tagged, source)) == 1, step.key
    # the matrix of partials written out for the layer in full only
    assert re.search(r"\\dfrac\{\\partial \\mathcal\{L\}\}\{\\partial W_\{2", source)
    assert r"\dfrac{\partial \mathcal{L}}{\partial W_{1" not in source
    without = render_slides(derivation)
    assert "A worked example" not in without and "The example on the graph" not in without
    assert "The computational graph" in without  # with the example, the graph has numbers


def test_builds_reveal_the_derivation_click_by_click() -> None:
    """The chain rule a row per click; the matrix of partials giving way to a column times a
    row, then the outer product; key results in titled blocks; on the graph, the values
    forward, then the gradients backward. The handout shows each build in its last state."""
    deck = build_deck(CASES["332-example"].derivation(), example=0)
    by_title = {f.title: f for f in deck.frames}
    chain = by_title["Output layer: the chain rule"]
    build = next(b for b in chain.blocks if isinstance(b, Build))
    assert build.slides == 5 and chain.slides == 5
    assert all(r.note and not r.note_below for r in build.display.rows)
    swap = next(
        b
        for b in by_title["Layer 2: the weight gradient is an outer product"].blocks
        if isinstance(b, Swap)
    )
    notes = [[str(r.note) for r in d.rows] for d in swap.displays]
    assert notes[0] == ["entries"] and notes[-1] == ["a column times a row", "outer product"]
    assert all(d.rows[0].left != EMPTY for d in swap.displays)  # none opens with "="
    keys = [b.title for f in deck.frames for b in f.blocks if isinstance(b, Key)]
    assert keys == [
        "The forward pass, keeping every activation",
        "The backward pass",
        "Backpropagation in four equations",
    ]
    reveal = next(
        b
        for b in by_title["The example on the graph: forward, then backward"].blocks
        if isinstance(b, Reveal)
    )
    values = [
        s for s, lab in zip(reveal.slide, reveal.graph.labels, strict=True) if lab.role == "value"
    ]
    chain_gradients = [
        (float(lab.x), s)
        for s, lab in zip(reveal.slide, reveal.graph.labels, strict=True)
        if lab.role == "gradient" and float(lab.y) > -1.0
    ]
    assert values == sorted(values) and max(values) < min(s for _, s in chain_gradients)
    # the gradients appear from the loss back: the rightmost first
    assert [s for _, s in sorted(chain_gradients, reverse=True)] == sorted(
        s for _, s in chain_gradients
    )
    source = render_slides(CASES["332-example"].derivation(), example=0)
    assert r"\uncover<5->" in source and r"| handout:0>" in source and "shown from=" in source
    assert r"\begin{block}{Backpropagation in four equations}" in source
    handout = render_slides(CASES["332-example"].derivation(), example=0, handout=True)
    assert r"\documentclass[11pt,aspectratio=169,handout]{beamer}" in handout


def test_hidden_layers_each_get_their_frames() -> None:
    deck = build_deck(CASES["2-4-4-3-2-tanh"].derivation())
    titles = [f.title for f in deck.frames]
    assert "Hidden layer 3: the gradient from the layer above" in titles
    assert "Hidden layer 3: back through the activation" in titles
    assert "Hidden layers 2 and 1" in titles
    assert "Layer 4: the weight gradient is an outer product" in titles
    assert "Weights and biases of layers 3 to 1" in titles


def test_expand_writes_the_lectures_matrix_of_partials() -> None:
    """``--expand 1``: the chain rule of layer 1 and its 3 x 3 matrix of partials in full."""
    deck = build_deck(CASES["332-expand-1"].derivation(), example=0, expand=1)
    titles = [f.title for f in deck.frames]
    assert "Layer 1: the weight gradient is an outer product" in titles
    source = CASES["332-expand-1"].source()
    assert r"\partial W_{133}" in source and r"\partial W_{233}" not in source
    buffer = io.StringIO()
    assert main(["slides", "3", "3", "2", "--expand", "1", "--handout"], stdout=buffer) == 0
    assert buffer.getvalue().startswith(
        "% Made by symgrad: symgrad slides 3 3 2 --expand 1 --handout\n"
    )
    assert main(["slides", "3", "3", "2", "--expand", "3"], stdout=io.StringIO()) == 2


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
