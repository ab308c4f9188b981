"""Lecture notes: the derivation as a LaTeX document, a LaTeX fragment, or Obsidian Markdown.

A renderer at the end of the pipeline (spec -> network -> derivation -> proof -> **notes** ->
cli). The package turns a :class:`~symgrad.derivation.Derivation` into the plain strings of
:mod:`symgrad.render.document` (printed equations, prose, table cells, diagram coordinates) and
hands them to the Jinja2 templates in ``templates/latex`` and ``templates/markdown``, which only
loop and insert. Every step of the derivation is one numbered equation, in order, so the notes,
the terminal printout and the comments of generated code cite the same numbers; every reference
to an equation or a section is a ``\\eqref``/``\\ref`` of a label (with ``--label-prefix``),
never a typed number, so a fragment keeps its references inside someone else's document.

Length is under control: the chain rule of a hidden layer and the entry-by-entry expansion of a
weight matrix are written in full for one layer (``--expand``, by default the output layer, met
first going backwards); the other layers are stated compactly with a reference to it. Wide layers
show their first rows and columns, then ``\\cdots``, ``\\vdots``, ``\\ddots`` and the last ones.

The modules, one per part: :mod:`~symgrad.render.notes.options`,
:mod:`~symgrad.render.notes.formats` (LaTeX and Markdown), :mod:`~symgrad.render.notes.widths`,
:mod:`~symgrad.render.notes.builder` (steps as displays), and the sections:
:mod:`~symgrad.render.notes.setup`, :mod:`~symgrad.render.notes.backward`,
:mod:`~symgrad.render.notes.summary`, :mod:`~symgrad.render.notes.example`,
:mod:`~symgrad.render.notes.batch`, :mod:`~symgrad.render.notes.checks`, and the appendix
:mod:`~symgrad.render.notes.derivatives`.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import replace

import sympy as sp

from symgrad import printing
from symgrad.derivation import Derivation, Kind
from symgrad.errors import SpecError
from symgrad.generic import size
from symgrad.render.document import (
    Audience,
    Code,
    Display,
    Framing,
    Inline,
    Notes,
    Prose,
    Role,
    Section,
    Text,
    Verbatim,
)
from symgrad.render.formula import Math, Token, shown_indices
from symgrad.render.notes import backward, batch, checks, derivatives, setup, summary, widths
from symgrad.render.notes.builder import Builder, listing
from symgrad.render.notes.formats import Format, MarkdownFormat, latex_math, markdown_math
from symgrad.render.notes.options import (
    AUDIENCES,
    CHECKS,
    DEFAULT_CHECKS,
    FRAGMENT_PACKAGES,
    NotesOptions,
)
from symgrad.render.pdf import Compiled, compile_pdf
from symgrad.templating import render
from symgrad.worked import check_example, worked_example


def build(b: Builder) -> Notes:
    subtitle = b.network_words()
    title = f"Backpropagation for a {b.sizes_text()} network"
    sections = [
        setup.setup_section(b),
        backward.output_section(b),
        backward.hidden_section(b),
        backward.parameter_section(b),
        summary.summary_section(b),
        *summary.example_sections(b),
        summary.general_section(b),
        batch.batch_section(b),
    ]
    # The appendix: the local derivatives, then (as an appendix) how each equation was checked.
    checked = checks.checks_section(b)
    if checked is not None and not checked.appendix:
        sections.append(checked)
    sections.append(derivatives.derivatives_section(b))
    if checked is not None and checked.appendix:
        sections.append(checked)
    sections = b.fmt.layout(sections)
    command = "symgrad {} " + " ".join(shlex.quote(a) for a in b.spec.command_args())
    return Notes(
        title=title,
        subtitle=subtitle,
        command=command + option_args(b),
        intro=intro(b),
        sections=tuple(sections),
        packages=FRAGMENT_PACKAGES,
        framing=b.options.framing,
    )


def option_args(b: Builder) -> str:
    """The notes options that differ from the defaults, as they were given."""
    args = []
    if b.options.expand not in (None, b.L):
        args += ["--expand", str(b.options.expand)]
    if b.options.audience != NotesOptions.audience:
        args += ["--audience", b.options.audience]
    if b.options.checks != DEFAULT_CHECKS[b.options.audience]:
        args += ["--checks", str(b.options.checks)]
    if b.options.label_prefix:
        args += ["--label-prefix", b.options.label_prefix]
    if b.options.example is not None:
        args += ["--example", str(b.options.example), *b.options.given.words]
    args += framing_args(b.options.framing)
    if b.options.sections:
        args += ["--sections", ",".join(b.options.sections)]
    return "".join(" " + shlex.quote(a) for a in args)


def framing_args(framing: Framing) -> list[str]:
    """``--title T`` and the rest, for the fields that are given."""
    return framing.args


def intro(b: Builder) -> tuple[Text, ...]:
    sizes = Inline.of(", ").join(
        [Math.of(size(k), Token.EQUALS, n) for k, n in enumerate(b.spec.sizes)]
    )
    L = b.L
    first = Inline.of(
        "These notes derive the gradient of the loss with respect to every weight and bias "
        f"of a feed-forward network with {L} layer{'s' if L > 1 else ''} of weights and layer "
        "sizes ",
        sizes,
        ". We first fix the notation and the forward pass, then go backwards "
        "through the network as backpropagation does: the output layer, the hidden layers, "
        "and finally the parameters. The same steps then give backpropagation for any depth, "
        "and for a mini-batch of samples, the form that code computes. Indices start at 1.",
    )
    return (Text(first + single_units(b)), Text(checked_sentence(b), role=Role.PROVENANCE))


def single_units(b: Builder) -> str:
    """Said once, for the layers of one unit: their index is written as 1 (``h_{11}``), with
    no range and no sum of one term."""
    ones = [k for k, n in enumerate(b.spec.sizes) if n == 1]
    if not ones:
        return ""
    names = ["the input" if k == 0 else f"layer {k}" for k in ones]
    names[0] = names[0][0].upper() + names[0][1:]
    if len(ones) == 1:
        return (
            f" {names[0]} has a single unit: its index is always 1, and a sum over it is "
            "its one term."
        )
    return (
        f" {listing(names)} have a single unit each: their index is always 1, and a sum over "
        "one of them is its one term."
    )


def checked_sentence(b: Builder, where_equations: str = "below") -> Prose:
    """One sentence for the instructors: how far to trust the equations (those ``below``, or
    ``of this document``), and where to look."""
    if b.d.proof is None:
        return (
            f"The equations {where_equations} were generated by symgrad but not checked (the "
            "proof was skipped)."
        )
    where: Prose = ""
    if b.options.checks == "full":
        where = "; " + b.section_ref("checks") + " says how"
    elif b.options.checks == "appendix":
        where = "; " + b.appendix_ref("checks") + " says how"
    return (
        f"Every equation {where_equations} was generated by computer algebra and checked: "
        "each step "
        f"against the one before it, and every partial against a direct derivative of the "
        "loss" + where + "."
    )


def lecturer_section(b: Builder, command: str) -> Section:
    """The instructors' page: how the document was checked and the command that makes it."""
    blocks = (
        Text(
            "This part is for the lecturer and is left out of the students' edition, the "
            "default of " + Code("--audience") + ". " + checked_sentence(b, "of this document")
        ),
        Text("The command that regenerates this document, byte for byte:"),
        Verbatim((command,)),
    )
    label = b.fmt.section_label("lecturer")
    return Section("For the lecturer", label, blocks, id="lecturer", role=Role.PROVENANCE)


# Public API -------------------------------------------------------------------------------------


def build_notes(
    derivation: Derivation,
    markdown: bool = False,
    options: NotesOptions | None = None,
    fragment: bool = False,
    command_name: str = "latex",
    format_class: type[Format] | None = None,
) -> Notes:
    """The strings the templates insert, for LaTeX or (``markdown=True``) Markdown, as the
    audience of ``options`` reads them; ``command_name`` is the command that writes them
    (``latex --fragment``), for the lecturer's page. ``format_class`` is another format's
    (the web page's)."""
    notes, fmt = document(derivation, markdown, options, fragment, command_name, format_class)
    sections = (options or NotesOptions()).resolved(derivation.spec.depth).sections
    return printed(notes, fmt, sections)


def document(
    derivation: Derivation,
    markdown: bool = False,
    options: NotesOptions | None = None,
    fragment: bool = False,
    command_name: str = "latex",
    format_class: type[Format] | None = None,
) -> tuple[Notes, Format]:
    """The notes as the audience of ``options`` reads them, every section, before any writer
    prints them (their formulas, code and references values), with the format that prints
    them (:func:`build_notes`)."""
    resolved = (options or NotesOptions()).resolved(derivation.spec.depth)
    fmt_class = format_class or (MarkdownFormat if markdown else Format)
    fmt = fmt_class(derivation, resolved.label_prefix, fragment)
    example = None
    if resolved.example is not None:
        check_example(derivation.spec, resolved.example)
        example = worked_example(derivation, resolved.example, resolved.given)
    builder = Builder(derivation, fmt, resolved, example)
    notes = build(builder)
    command = notes.command.replace("{}", command_name)
    sections = list(notes.sections)
    # The lecturer's page closes the body, before the appendix.
    at = next((n for n, s in enumerate(sections) if s.appendix), len(sections))
    sections.insert(at, lecturer_section(builder, command))
    notes = replace(notes, sections=tuple(sections))
    return notes.for_audience(Audience(resolved.audience)), fmt


def printed(notes: Notes, fmt: Format, ids: Sequence[str]) -> Notes:
    """The sections ``ids`` of ``notes`` (all when empty), their references printed by
    ``fmt`` from the numbers of the whole document.

    Raises :class:`~symgrad.errors.SpecError` for an id this document has no section for.
    """
    have = [s.id for s in notes.sections]
    if missing := [i for i in ids if i not in have]:
        raise SpecError(
            f"--sections: this document has no section {missing[0]!r}; it has "
            + ", ".join(have)
            + section_hint(missing[0])
        )
    return fmt.resolve(notes.selected(ids), notes.numbering(ids))


def section_hint(id: str) -> str:
    """Why a known section may be missing from a document."""
    if id == "example":
        return " (the worked example needs --example)"
    if id in ("checks", "lecturer"):
        return " (that section is for --audience instructors)"
    return ""


def render_latex(
    derivation: Derivation, fragment: bool = False, options: NotesOptions | None = None
) -> str:
    """The notes as a standalone LaTeX document, or (``fragment=True``) a body to ``\\input``."""
    name = "latex" + (" --fragment" if fragment else "")
    notes = build_notes(derivation, options=options, fragment=fragment, command_name=name)
    template = "latex/fragment.tex.jinja" if fragment else "latex/document.tex.jinja"
    command = notes.command.replace("{}", name)
    # LaTeX numbers equations in the order they appear. A selection, and --expand where it
    # puts a layer's equations before those of layers met earlier going backwards, tag each
    # with the number the whole document (the derivation) gives it, as in Markdown, the
    # terminal and the generated code.
    tags = bool(options and options.sections) or not numbers_in_order(notes)
    return render(
        template,
        notes=notes,
        command=command,
        fragment=fragment,
        tag_numbers=tags,
        breakable=widths.breakable,
        math=latex_math,
    )


def numbers_in_order(notes: Notes) -> bool:
    """Whether the numbered equations of ``notes`` appear in the order of their numbers."""
    numbers = [
        row.number
        for section in notes.sections
        for block in section.blocks
        if isinstance(block, Display)
        for row in block.rows
        if row.number
    ]
    return numbers == sorted(numbers)


def render_markdown(derivation: Derivation, options: NotesOptions | None = None) -> str:
    """The notes as Obsidian-flavoured Markdown: front matter, ``$$`` displays, ``$`` inline,
    equation references as links to block ids."""
    notes = build_notes(derivation, markdown=True, options=options, command_name="markdown")
    command = notes.command.replace("{}", "markdown")
    return render("markdown/derivation.md.jinja", notes=notes, command=command, math=markdown_math)


def render_fragment_for_jupyter(derivation: Derivation) -> str:
    """Every step as a numbered ``$$`` display, for Jupyter's LaTeX (MathJax) output."""
    options = NotesOptions().resolved(derivation.spec.depth)
    builder = Builder(derivation, MarkdownFormat(derivation, ""), options)
    displays = []
    for step in derivation:
        if step.kind is Kind.WEIGHT_MATRIX:
            displays.append(backward.weight_matrix_display(builder, step, step.layer))
        else:
            displays.append(builder.step_display(step))
    # the notes' references printed from the numbers of these displays: "by (12)"
    whole = Notes("", "", "", (), (Section("", "", tuple(displays), id="steps"),))
    numbering = whole.numbering()
    printed = [builder.fmt.printed(display, numbering) for display in displays]
    return render("markdown/_jupyter.md.jinja", displays=printed, math=markdown_math)


def markdown_math_blocks(text: str) -> list[tuple[str, bool]]:
    """Every math block of rendered Markdown as ``(source, display)``, for checking with KaTeX."""
    blocks: list[tuple[str, bool]] = []
    lines = text.splitlines()
    inside: list[str] | None = None
    fence = False
    for line in lines:
        if line.startswith("```"):
            fence = not fence
            continue
        if fence:
            continue
        if line.strip() == "$$":
            if inside is None:
                inside = []
            else:
                blocks.append(("\n".join(inside), True))
                inside = None
            continue
        if inside is not None:
            inside.append(line)
            continue
        blocks += [(m, False) for m in _inline_math(line)]
    return blocks


def _inline_math(line: str) -> list[str]:
    parts = line.split("$")
    return [parts[n] for n in range(1, len(parts) - 1, 2)]


__all__: Sequence[str] = (
    "AUDIENCES",
    "CHECKS",
    "Compiled",
    "NotesOptions",
    "build_notes",
    "compile_pdf",
    "markdown_math_blocks",
    "render_fragment_for_jupyter",
    "render_latex",
    "render_markdown",
    "shown_indices",
    "tex",
)


def tex(expr: sp.Basic, index_commas: bool = False) -> str:
    """LaTeX of ``expr`` for the notes (``index_commas``: every index list with commas)."""
    return printing.latex(expr, index_commas)
