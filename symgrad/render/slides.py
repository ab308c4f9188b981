"""Slides: the derivation as a Beamer deck a lecturer teaches from, planned as a deck.

A renderer beside the notes (derivation -> notes' document model -> **slides**). The deck is built
from the notes' own sections (:class:`~symgrad.render.notes.builder.Builder` with a frame's
layout), so every equation, its reason and its number are the notes' own; what goes on a frame is
the deck plan's choice (:mod:`symgrad.render.deck`): the network and its notation, the forward
pass, the loss, the output layer with its chain rule revealed a row per click, each hidden layer
the same, the parameters with the matrix of partials giving way to a column times a row and the
outer product, the summary and BP1-BP4 as key results, the mini-batch form, and the worked example
(``--example``) as the computational graph whose numbers appear forward, then its gradients
backward, then the gradient matrices. Nothing is set smaller than ``\\small`` and nothing is
scaled down, so the deck reads from the back of a lecture hall; ``--handout`` gives Beamer's
handout mode, each build in its last state, for printing.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, replace

from symgrad import notation as nt
from symgrad.derivation import Derivation, Kind
from symgrad.generic import general, size
from symgrad.given import NOTHING_GIVEN, Given
from symgrad.render import formula, notes, wording
from symgrad.render.deck import example_frames, section_frames
from symgrad.render.deck.frames import FRAME_POINTS, Frame, block_points, reason_width
from symgrad.render.document import (
    Audience,
    Block,
    Code,
    Display,
    Framing,
    Inline,
    Notes,
    Numbering,
    Prose,
    Ref,
    Section,
    Text,
    To,
    joined_prose,
)
from symgrad.render.example import forward_ids
from symgrad.render.formula import Math, Token
from symgrad.render.notes import NotesOptions, setup
from symgrad.render.notes.builder import Builder, Layout, joined
from symgrad.render.notes.formats import Format
from symgrad.render.notes.symbols import letter
from symgrad.templating import render, tex_escape
from symgrad.worked import check_example, worked_example

#: The width of a frame's text in ems (16:9 Beamer at 11 pt, less room for a number).
SLIDE_LINE_EMS = 32.0
#: The width of the network's diagram on a frame, at most (cm).
DIAGRAM_CM = 12.0
#: The width the computational graph may take on a frame (cm).
GRAPH_CM = 14.0

#: The sections of the notes a deck shows, in its order (the checks for instructors).
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

#: LaTeX size commands smaller than ``\\small``; the slides never use one.
SMALLER_THAN_SMALL = (r"\footnotesize", r"\scriptsize", r"\tiny", r"\resizebox", r"\scalebox")

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
    #: Beamer's handout mode: every build in its last state, one page a frame.
    handout: bool = False


class _SlidesFormat(Format):
    """References between frames: equations by ``\\eqref`` (numbered by their own tags),
    sections by the title of their frames; the appendix of the derivatives, a part of the notes
    the deck leaves out unless it is asked for, as "the notes" (or, when it is in the deck,
    "the appendix")."""

    #: Whether the deck shows the appendix of the derivatives (``--sections derivatives``).
    appendix = False

    def reference(self, ref: Ref, numbers: Numbering) -> str:
        if ref.to is To.APPENDIX:
            return "the appendix" if self.appendix else "the notes"
        if ref.to is To.SECTION or ref.to is To.APPENDIX:
            return self.place(ref.target, numbers, "")
        return super().reference(ref, numbers)

    def place(self, section: str, numbers: Numbering, word: str) -> str:
        return rf"\emph{{{tex_escape(numbers.places[section][1])}}}"


def frame_layout(depth: int) -> Layout:
    """The room of a frame: a narrower line; a diagram that fits its width; the weight matrix
    written out entry by entry for the layer in full only; the graph at the width of a frame
    (the worked example draws its own, with numbers appearing on it)."""
    columns = len(setup.diagram_columns(depth))
    return Layout(
        line_ems=SLIDE_LINE_EMS,
        diagram_spacing=min(2.6, DIAGRAM_CM / (columns - 1)),
        diagram_step=0.9,
        entry_by_entry=0,
        graph_width=GRAPH_CM,
        example_graph=False,
    )


def _network_frame(builder: Builder, numbering: Numbering) -> Frame:
    """The network's diagram, its sizes and functions, and (when the picture leaves room) what
    its symbols mean; the words printed by the deck's format."""
    diagram = builder.fmt.diagram(setup.diagram(builder))
    text = _network_words(builder)
    words = Text(builder.fmt.prose(text + _notation(), numbering))
    if block_points(diagram) + block_points(words) > FRAME_POINTS:
        # a deep network's picture leaves no room for the notation
        words = Text(builder.fmt.prose(text, numbering))
    return Frame("The network and its notation", (diagram, words), "setup")


def _network_words(builder: Builder) -> Inline:
    """The network's sizes, functions and number of parameters."""
    spec = builder.spec
    L = builder.L
    parts: list[Prose] = []
    for k in range(1, L):
        act = spec.activation(k)
        parts.append(act.name if act.builtin else "custom " + Code(act.name))
    names = sorted(set(parts), key=parts.index)
    hidden: Prose = "no hidden layer"
    if L > 1:
        hidden = f"hidden activation{'s' if len(names) > 1 else ''} " + joined_prose(", ", names)
    sizes = Inline.of(", ").join(
        [Math.of(size(k), Token.EQUALS, n) for k, n in enumerate(spec.sizes)]
    )
    return Inline.of(
        "Layer sizes ",
        sizes,
        "; ",
        hidden,
        f"; {spec.pair.output.name} output, "
        f"{spec.pair.loss.display} loss; {spec.parameter_count:,} parameters.",
    )


def _notation() -> Inline:
    """What the symbols of a layer and of the loss mean."""
    k = letter("k")
    return Inline.of(
        " Layer ",
        k,
        " has the pre-activations ",
        general("a", "k"),
        ", the activations ",
        general("h", "k"),
        " (the input is ",
        _input_is_h0(),
        "), the weights ",
        general("W", "k"),
        " and the biases ",
        general("b", "k"),
        "; the prediction is ",
        general("yhat", None),
        ", the target ",
        general("y", None),
        ", the loss ",
        nt.LOSS,
        ".",
    )


def _input_is_h0() -> Math:
    """``h_{0} = x``: the input is the activation of layer 0."""
    return Math.of(general("h", "0"), Token.EQUALS, general("x", None))


def _forward_blocks(builder: Builder) -> list[Block]:
    ids = [i for i in forward_ids(builder.net) if i.kind is not Kind.LOSS]
    groups = [
        tuple(
            builder.compact_step(builder.d.step(i), setup.forward_notes(builder, builder.d.step(i)))
        )
        for i in ids
    ]
    blocks: list[Block] = [
        Text(
            Inline.of(
                "Each layer adds its biases to a weighted sum of the previous layer's "
                "activations (",
                _input_is_h0(),
                f"); the output layer applies the {builder.spec.pair.output.name}:",
            )
        )
    ]
    blocks += [Display(builder.placed(list(rows))) for rows in joined(groups, 6)]
    return blocks + builder.remarks("setup")


def _without_unit(blocks: list[Block], opening: str) -> list[Block]:
    """``blocks`` without the paragraph that opens with ``opening`` and the display it leads
    into."""
    for n, block in enumerate(blocks):
        if isinstance(block, Text) and str(block.text).startswith(opening):
            return blocks[:n] + blocks[n + 2 :]
    return blocks


def _loss_blocks(builder: Builder) -> list[Block]:
    """The loss, at the head of the output layer's frames (with its slope)."""
    return [
        Text(f"The per-sample loss is the {builder.spec.pair.loss.display}:"),
        builder.step_display(builder.step(Kind.LOSS), notes=False),
    ]


def build_deck(
    derivation: Derivation,
    example: int | None = None,
    audience: str = "students",
    framing: Framing = NO_FRAMING,
    sections: tuple[str, ...] = (),
    given: Given = NOTHING_GIVEN,
    expand: int | None = None,
    handout: bool = False,
) -> Deck:
    """The frames of the deck for ``derivation``, with a worked example for seed ``example``,
    as ``audience`` reads it (students: no frame and no words about how it was made); only
    the frames of ``sections`` (ids, all when empty), numbered as in the whole deck; the chain
    rule and the weight matrix of layer ``expand`` in full (the output layer by default)."""
    builder, whole = _deck_notes(derivation, example, audience, framing, sections, given, expand)
    numbers, options = builder.example, builder.options
    document = notes.printed(whole, builder.fmt, sections)
    numbering = whole.numbering(sections)

    def printed(blocks: list[Block]) -> list[Block]:
        return [builder.fmt.printed(b, numbering) for b in blocks]

    frames: list[Frame] = []
    for section in document.sections:
        if section.id == "setup":
            forward = printed(_forward_blocks(builder))
            opening = Section("The forward pass", "", tuple(forward), id="setup")
            frames += [_network_frame(builder, numbering), *section_frames(opening)]
            continue
        blocks = list(section.blocks)
        if section.id == "output" and "setup" in numbering.printed:
            blocks = printed(_loss_blocks(builder)) + blocks
        if section.id == "batch":
            # the shapes of a batch's products: the single sample's frame shows how to check
            blocks = _without_unit(blocks, "The shapes fit in every product of a batch")
        if section.id == "summary":
            # the titles of its key results say what the sentences between them do
            blocks = [b for b in blocks if not isinstance(b, Text)]
        if section.id == "example" and numbers is not None:
            frames += example_frames(builder, numbers, section)
            continue
        if section.id == "derivatives":
            if section.id not in sections:
                continue  # the appendix only when it is asked for: the frames refer to it
            blocks = blocks[1:]  # its opening paragraph: where the notes refer to it
        frames += section_frames(replace(section, blocks=tuple(blocks)), graphs=numbers is None)
    command = "symgrad slides " + " ".join(shlex.quote(a) for a in derivation.spec.command_args())
    if options.expand != derivation.spec.depth:
        command += f" --expand {options.expand}"
    if example is not None:
        command += f" --example {example}" + "".join(" " + shlex.quote(w) for w in given.words)
    if audience != Audience.STUDENTS:
        command += f" --audience {audience}"
    command += "".join(" " + shlex.quote(a) for a in notes.framing_args(framing))
    if sections:
        command += " --sections " + ",".join(sections)
    if handout:
        command += " --handout"
    return Deck(document.title, document.subtitle, command, tuple(frames), framing, handout)


def _deck_notes(
    derivation: Derivation,
    example: int | None,
    audience: str,
    framing: Framing,
    sections: tuple[str, ...],
    given: Given,
    expand: int | None,
) -> tuple[Builder, Notes]:
    """The builder of a deck (a frame's layout) and the sections of the notes the deck shows,
    as ``audience`` reads them, not printed yet."""
    numbers = None
    if example is not None:
        check_example(derivation.spec, example)
        numbers = worked_example(derivation, example, given)
    options = NotesOptions(
        expand=expand, example=example, audience=audience, framing=framing, given=given
    )
    options = options.resolved(derivation.spec.depth)
    fmt = _SlidesFormat(derivation, "")
    fmt.appendix = "derivatives" in sections
    builder = Builder(derivation, fmt, options, numbers, frame_layout(derivation.spec.depth))
    whole = notes.build(builder).for_audience(Audience(audience))
    kept = [s for s in whole.sections if s.id in DECK_SECTIONS and s.id != "checks"]
    if audience == Audience.INSTRUCTORS:
        checked = tuple(Text(s) for s in wording.proof_text(derivation.proof, builder.fmt.words))
        kept.append(Section("What was checked", "", checked, id="checks"))
    return builder, replace(whole, sections=tuple(kept))


def deck_document(
    derivation: Derivation, example: int | None = None, audience: str = "students"
) -> list[Block]:
    """Every block of the deck before its format prints it (formulas, code and references
    values): the sections of the notes it shows and the blocks of its own frames (the
    network, the forward pass, the loss)."""
    builder, whole = _deck_notes(derivation, example, audience, NO_FRAMING, (), NOTHING_GIVEN, None)
    own: list[Block] = [Text(_network_words(builder) + _notation())]
    own += _forward_blocks(builder) + _loss_blocks(builder)
    return [block for section in whole.sections for block in section.blocks] + own


def render_slides(
    derivation: Derivation,
    example: int | None = None,
    audience: str = "students",
    framing: Framing = NO_FRAMING,
    sections: tuple[str, ...] = (),
    given: Given = NOTHING_GIVEN,
    expand: int | None = None,
    handout: bool = False,
) -> str:
    """The deck as a Beamer document that compiles with pdflatex."""
    deck = build_deck(derivation, example, audience, framing, sections, given, expand, handout)
    return render(
        "slides/deck.tex.jinja",
        deck=deck,
        tag_numbers=True,
        math=slides_math,
        reason_width=reason_width,
    )


#: Between the rows of a matrix of fractions on a frame: less than on a page (a frame is short).
SLIDES_ROW_GAP = r"\\ \noalign{\vskip 0.8ex}"


def slides_math(math: Math) -> str:
    """A formula of a display as the deck prints it."""
    return formula.latex(math, SLIDES_ROW_GAP)


__all__ = [
    "FRAME_POINTS",
    "SMALLER_THAN_SMALL",
    "Deck",
    "Frame",
    "block_points",
    "build_deck",
    "deck_document",
    "render_slides",
]
