"""Slides: the derivation as a Beamer deck for a lecture, one idea per frame.

A renderer beside the notes (derivation -> notes / **slides** -> cli). The deck is built from the
same sections as the notes (:class:`~symgrad.render.notes.builder.Builder` with a frame's layout),
so every equation, its justification and its number are the notes' own: the network, the forward
pass, the output layer, each hidden layer, the parameters with the matrix expansion once, this
network's summary, the worked example (``--example``), the algorithm for any depth, the mini-batch
form and what was checked. The blocks of a section are packed into frames by their estimated
height; a heading starts a frame, a display too tall for one frame goes on over the next, row by
row, and the paragraph that leads into a display moves with it. Nothing is set smaller than
``\\small`` and nothing is scaled down, so the deck reads from the back of a lecture hall; the
tests compile every case and fail on any overfull box.
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, replace

from symgrad.derivation import Derivation, Kind
from symgrad.given import NOTHING_GIVEN, Given
from symgrad.render import notes, wording
from symgrad.render.document import (
    Audience,
    Block,
    Diagram,
    Display,
    Framing,
    Graph,
    Heading,
    Numbering,
    Ref,
    Section,
    Steps,
    Table,
    Text,
    To,
    printed_text,
)
from symgrad.render.example import forward_ids
from symgrad.render.notes import NotesOptions, setup
from symgrad.render.notes.builder import Builder, Layout, joined
from symgrad.render.notes.formats import Format, latex_math
from symgrad.templating import render, tex_escape
from symgrad.worked import check_example, worked_example

#: The width of a frame's text in ems (16:9 Beamer at 11 pt, less room for a number).
SLIDE_LINE_EMS = 32.0
#: The height a frame holds below its title, in points.
FRAME_POINTS = 190.0
#: The width of the network's diagram on a frame, at most (cm).
DIAGRAM_CM = 12.0
#: The width the computational graph may take on a frame (cm).
GRAPH_CM = 14.0

#: The sections of the notes a deck shows, in its order (the setup as frames of its own; the
#: checks for instructors).
DECK_SECTIONS = (
    "setup",
    "output",
    "hidden",
    "parameters",
    "summary",
    "example",
    "general",
    "batch",
    "derivatives",
    "checks",
)

#: LaTeX size commands smaller than ``\small``; the slides never use one.
SMALLER_THAN_SMALL = (r"\footnotesize", r"\scriptsize", r"\tiny", r"\resizebox", r"\scalebox")


@dataclass(frozen=True)
class Frame:
    """One slide: a title and the blocks on it."""

    title: str
    blocks: tuple[Block, ...]


#: No title, author, course or date of the user's: the deck's own title.
NO_FRAMING = Framing()


@dataclass(frozen=True)
class Deck:
    """Everything the deck's template needs, as strings."""

    title: str
    subtitle: str
    command: str
    frames: tuple[Frame, ...]
    framing: Framing = Framing()


class _SlidesFormat(Format):
    """References between frames: equations by ``\\eqref`` (numbered by their own tags),
    sections by the title of their frames."""

    def reference(self, ref: Ref, numbers: Numbering) -> str:
        if ref.to is To.SECTION or ref.to is To.APPENDIX:
            return self.place(ref.target, numbers, "")
        return super().reference(ref, numbers)

    def place(self, section: str, numbers: Numbering, word: str) -> str:
        return rf"\emph{{{tex_escape(numbers.places[section][1])}}}"


def frame_layout(depth: int) -> Layout:
    """The room of a frame: a narrower line; a diagram that fits its width; one matrix written
    out entry by entry, that of the layer in full; the graph with symbols at the width of a
    frame, the one with numbers left to the notes (a column of matrices is taller than a
    frame)."""
    columns = len(setup.diagram_columns(depth))
    return Layout(
        line_ems=SLIDE_LINE_EMS,
        diagram_spacing=min(2.6, DIAGRAM_CM / (columns - 1)),
        diagram_step=0.9,
        entry_by_entry=0,
        graph_width=GRAPH_CM,
        example_graph=False,
    )


# Heights, roughly -------------------------------------------------------------------------

_LINE = 13.6  # a line of text at 11 pt
_CHARS_PER_LINE = 92
_MATRIX = re.compile(r"\\begin\{bmatrix\}(.*?)\\end\{bmatrix\}", re.S)


def _plain(text: str) -> str:
    """About as many characters as ``text`` shows: formulas count a third of their source."""
    plain = re.sub(r"\$([^$]*)\$", lambda m: "x" * max(1, len(m.group(1)) // 3), text)
    return re.sub(r"\\[A-Za-z]+", "", plain)


def _text_points(text: str) -> float:
    lines = max(1, math.ceil(len(_plain(text)) / _CHARS_PER_LINE))
    return lines * _LINE + 4.0


def _matrix_points(body: str) -> float:
    rows = re.split(r"\\\\", body)
    points = 0.0
    for row in rows:
        if r"\dfrac" in row:
            points += 24.5
        elif r"\frac" in row:
            points += 20.0
        else:
            points += 12.5
        if r"\noalign" in row or row.startswith("["):
            points += 6.5
    return points + 3.0


def _row_points(latex: str) -> float:
    matrices = [_matrix_points(m.group(1)) for m in _MATRIX.finditer(latex)]
    rest = _MATRIX.sub("M", latex)
    if re.search(r"\\sum_\{[^}]*\}\^", rest):
        base = 30.0  # limits above and below
    elif re.search(r"\\frac\{[^{}]*\\frac", rest):
        base = 36.0  # a fraction in a numerator, in brackets as tall
    elif r"\dfrac" in rest or r"\frac" in rest:
        base = 24.0
    elif "^{" in rest or r"\sum" in rest:
        base = 16.0  # scripts above the line
    else:
        base = 14.0
    return max([base, *matrices])


def block_points(block: Block) -> float:
    """About how tall a block is set on a frame, in points."""
    if isinstance(block, Text):
        return _text_points(printed_text(block.text))
    if isinstance(block, Display):
        rows = sum(
            _row_points(latex_math(r.left) + latex_math(r.right)) + (_LINE if r.note_below else 0.0)
            for r in block.rows
        )
        gaps = (len(block.rows) - 1) * (7.0 if block.spread else 3.0)
        return rows + gaps + 20.0
    if isinstance(block, Steps):
        return sum(_text_points(printed_text(item)) for item in block.items) + 6.0
    if isinstance(block, Table):
        # \small rows, a cell's text wrapping at about 52 characters
        lines = sum(
            max(math.ceil(len(_plain(printed_text(c))) / 52) for c in row) for row in block.rows
        )
        caption = _text_points(printed_text(block.caption)) if block.caption else 0.0
        return (lines + 2) * 13.5 + 10.0 + caption
    if isinstance(block, Diagram):
        tallest = max(float(n.y) for n in block.nodes) - min(float(n.y) for n in block.nodes)
        return (tallest + 2.6) * 28.45 + 2 * _LINE
    if isinstance(block, Graph):
        ys = [float(n.y) for n in block.nodes] + [float(label.y) for label in block.labels]
        caption = _text_points(block.caption) * (2.0 if block.beside else 1.0)
        picture = (max(ys) - min(ys) + 1.2) * 28.45
        return max(picture, caption) if block.beside else picture + caption
    if isinstance(block, Heading):
        return 0.0
    raise TypeError(f"no height for {type(block).__name__}")


# Packing blocks into frames ---------------------------------------------------------------


def _split_display(display: Display, room: float) -> tuple[Display, Display | None]:
    """The first rows of ``display`` that fit in ``room`` points (at least one), and the rest."""
    rows = list(display.rows)
    count = 1
    while (
        count < len(rows) and block_points(replace(display, rows=tuple(rows[: count + 1]))) <= room
    ):
        count += 1
    if count == len(rows) - 1 and count > 1:
        count -= 1  # not one row alone on the next frame
    head = replace(display, rows=tuple(rows[:count]))
    tail = replace(display, rows=tuple(rows[count:])) if count < len(rows) else None
    return head, tail


def pack(title: str, blocks: Iterable[Block]) -> list[Frame]:
    """``blocks`` on frames under ``title``: a heading starts a frame with its own title (the
    opening words of a section go with it); a frame that is full goes on in the next, titled as
    it was; the paragraph leading into a display moves with it; a display taller than what is
    left of a fresh frame goes on over the next, row by row."""
    frames: list[Frame] = []
    current: list[Block] = []
    heading = title

    def used() -> float:
        return sum(block_points(b) for b in current)

    queue = list(blocks)
    while queue:
        block = queue.pop(0)
        if isinstance(block, Heading):
            if current and not all(isinstance(b, Text) for b in current):
                frames.append(Frame(heading, tuple(current)))
                current = []
            heading = block.title
            continue
        if used() + block_points(block) <= FRAME_POINTS:
            current.append(block)
            continue
        carried: list[Block] = []
        if isinstance(block, Display) and current and isinstance(current[-1], Text):
            first_row = replace(block, rows=block.rows[:1])
            fits = block_points(current[-1]) + block_points(first_row) <= FRAME_POINTS
            if fits:  # the sentence that leads into the display goes with it
                carried = [current.pop()]
        if current:
            frames.append(Frame(heading, tuple(current)))
        current = carried
        if isinstance(block, Display) and used() + block_points(block) > FRAME_POINTS:
            head, tail = _split_display(block, FRAME_POINTS - used())
            block = head
            if tail is not None:
                queue.insert(0, tail)
        current.append(block)
    if current:
        frames.append(Frame(heading, tuple(current)))
    return frames


# The deck ---------------------------------------------------------------------------------


def _network_frame(builder: Builder) -> list[Frame]:
    spec = builder.spec
    L = builder.L
    parts = []
    for k in range(1, L):
        act = spec.activation(k)
        parts.append(act.name if act.builtin else f"custom {builder.fmt.code(act.name)}")
    names = sorted(set(parts), key=parts.index)
    hidden = (
        "no hidden layer"
        if L == 1
        else f"hidden activation{'s' if len(names) > 1 else ''} {', '.join(names)}"
    )
    sizes = ", ".join(f"$n_{{{k}}} = {n}$" for k, n in enumerate(spec.sizes))
    text = (
        f"Layer sizes {sizes}; {hidden}; {spec.pair.output.name} output, "
        f"{spec.pair.loss.display} loss; {spec.parameter_count:,} parameters."
    )
    return pack("The network", [setup.diagram(builder), Text(text)])


def _forward_frames(builder: Builder) -> list[Frame]:
    ids = [i for i in forward_ids(builder.net) if i.kind is not Kind.LOSS]
    groups = [
        tuple(
            builder.compact_step(builder.d.step(i), setup.forward_notes(builder, builder.d.step(i)))
        )
        for i in ids
    ]
    blocks: list[Block] = [
        Text(
            "Each layer adds its biases to a weighted sum of the previous layer's activations "
            f"($h_{{0}} = x$); the output layer applies the {builder.spec.pair.output.name}:"
        )
    ]
    blocks += [Display(builder.placed(list(rows))) for rows in joined(groups, 6)]
    blocks += builder.remarks("setup")
    blocks.append(Text(f"The per-sample loss, {builder.spec.pair.loss.display}:"))
    blocks.append(builder.step_display(builder.step(Kind.LOSS), notes=False))
    return pack("The forward pass", blocks)


def _graph_frames(builder: Builder) -> list[Frame]:
    """The computational graph with symbols, on a frame of its own where it fits one."""
    graph = builder.graph(None, "")
    if graph is None or block_points(graph) > FRAME_POINTS:
        return []
    return [Frame("The computational graph", (graph,))]


def build_deck(
    derivation: Derivation,
    example: int | None = None,
    audience: str = "students",
    framing: Framing = NO_FRAMING,
    sections: tuple[str, ...] = (),
    given: Given = NOTHING_GIVEN,
) -> Deck:
    """The frames of the deck for ``derivation``, with a worked example for seed ``example``,
    as ``audience`` reads it (students: no frame and no words about how it was made); only
    the frames of ``sections`` (ids, all when empty), numbered as in the whole deck."""
    numbers = None
    if example is not None:
        check_example(derivation.spec, example)
        numbers = worked_example(derivation, example, given)
    options = NotesOptions(example=example, audience=audience, framing=framing, given=given)
    options = options.resolved(derivation.spec.depth)
    fmt = _SlidesFormat(derivation, "")
    builder = Builder(derivation, fmt, options, numbers, frame_layout(derivation.spec.depth))
    whole = notes.build(builder).for_audience(Audience(audience))
    kept = [s for s in whole.sections if s.id in DECK_SECTIONS and s.id != "checks"]
    if audience == Audience.INSTRUCTORS:
        checked = tuple(Text(s) for s in wording.proof_text(derivation.proof, builder.fmt))
        kept.append(Section("What was checked", "", checked, id="checks"))
    whole = replace(whole, sections=tuple(kept))
    document = notes.printed(whole, builder.fmt, sections)
    numbering = whole.numbering(sections)

    def printed(frames: list[Frame]) -> list[Frame]:
        return [
            replace(f, blocks=tuple(builder.fmt.printed(b, numbering) for b in f.blocks))
            for f in frames
        ]

    frames: list[Frame] = []
    if "setup" in numbering.printed:
        frames += printed([*_network_frame(builder), *_forward_frames(builder)])
    for section in document.sections:
        if section.id == "setup":
            continue
        blocks = [b for b in section.blocks if not isinstance(b, Graph)]
        if section.id == "derivatives":
            # One title for its frames, as the notes refer to it; the notes' opening paragraph
            # would be a frame of its own.
            blocks = [b for b in blocks[1:] if not isinstance(b, Heading)]
        frames += pack(section.title, blocks)
        if section.id == "summary":
            frames += _graph_frames(builder)
    command = "symgrad slides " + " ".join(shlex.quote(a) for a in derivation.spec.command_args())
    if example is not None:
        command += f" --example {example}" + "".join(" " + shlex.quote(w) for w in given.words)
    if audience != Audience.STUDENTS:
        command += f" --audience {audience}"
    command += "".join(" " + shlex.quote(a) for a in notes.framing_args(framing))
    if sections:
        command += " --sections " + ",".join(sections)
    return Deck(document.title, document.subtitle, command, tuple(frames), framing)


def render_slides(
    derivation: Derivation,
    example: int | None = None,
    audience: str = "students",
    framing: Framing = NO_FRAMING,
    sections: tuple[str, ...] = (),
    given: Given = NOTHING_GIVEN,
) -> str:
    """The deck as a Beamer document that compiles with pdflatex."""
    deck = build_deck(derivation, example, audience, framing, sections, given)
    return render("slides/deck.tex.jinja", deck=deck, tag_numbers=True, math=latex_math)


__all__ = [
    "FRAME_POINTS",
    "SMALLER_THAN_SMALL",
    "Deck",
    "Frame",
    "block_points",
    "build_deck",
    "pack",
    "render_slides",
]
