"""Command line of the documents: ``latex``, ``markdown``, ``html``, ``slides`` and ``summary``.

Part of the command line (:mod:`symgrad.cli`): the subcommands that write the derivation as a
document, with the notes' options (audience, framing, sections, --expand, --checks, the worked
example's numbers). No mathematics here.
"""

from __future__ import annotations

import argparse

from symgrad.cli_args import network_arguments, output_argument, version_argument
from symgrad.cli_example import example_option


def _notes_options(parser: argparse.ArgumentParser) -> None:
    """The notes options (``--example`` aside) and ``--expand``."""
    _expand_option(parser)
    parser.add_argument(
        "--checks",
        choices=["full", "appendix", "none"],
        help="where the table of how each equation was proved goes: in the body, in an "
        "appendix, or nowhere (for instructors; default: appendix for instructors, none for "
        "students)",
    )
    _audience_option(parser)
    framing_options(parser)
    _sections_option(parser)
    parser.add_argument(
        "--label-prefix",
        default="",
        metavar="P",
        help="prefix every label with P, so that two fragments can share one document",
    )
    example_option(parser)


def _expand_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--expand",
        type=int,
        metavar="K",
        help="write the chain rule and the weight matrix of layer K in full, the other layers "
        "compactly (default: L, the output layer)",
    )


def _audience_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--audience",
        default="students",
        choices=["students", "instructors"],
        help="students (default): the mathematics only, nothing about how the document was "
        "made; instructors: also how every equation was checked, where the numbers come from "
        "and the command that regenerates the document",
    )


def _sections_option(parser: argparse.ArgumentParser, slides: bool = False) -> None:
    from symgrad.render.notes.options import SECTIONS

    ids = [i for i in SECTIONS if not (slides and i == "lecturer")]
    listed = "; ".join(f"{i}: {SECTIONS[i]}" for i in ids)
    parser.add_argument(
        "--sections",
        metavar="ID[,ID...]",
        help="print only these sections, numbered as in the whole document (a reference to a "
        f"section left out names its number and where it is): {listed}",
    )


def framing_options(parser: argparse.ArgumentParser) -> None:
    """The course's framing of a document: plain text, shown as typed in every format."""
    for name, what in (
        ("title", "the title (default: Backpropagation for a N0-...-NL network)"),
        ("author", "the author or lecturer"),
        ("course", "the course, e.g. its code and name"),
        ("date", "the date, as it should read (no date unless given)"),
    ):
        parser.add_argument(
            f"--{name}",
            default="",
            metavar="TEXT",
            help=f"{what}; plain text, never markup",
        )


def document_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """The subcommands that write a document."""
    latex = commands.add_parser("latex", help="write the derivation as LaTeX lecture notes")
    network_arguments(latex)
    latex.add_argument(
        "--fragment", action="store_true", help="a body to \\input, not a standalone document"
    )
    _notes_options(latex)
    output_argument(latex)
    version_argument(latex)

    markdown = commands.add_parser("markdown", help="write the derivation as Markdown notes")
    network_arguments(markdown)
    _notes_options(markdown)
    output_argument(markdown)
    version_argument(markdown)

    html = commands.add_parser(
        "html", help="write the derivation as one web page (MathML, no script needed)"
    )
    network_arguments(html)
    html.add_argument(
        "--fragment",
        action="store_true",
        help="the page's body for a site generator: no <html> or <head>, every style scoped "
        "to the class symgrad-notes",
    )
    _notes_options(html)
    output_argument(html)
    version_argument(html)

    slides = commands.add_parser("slides", help="write the derivation as a Beamer slide deck")
    network_arguments(slides)
    example_option(slides)
    _audience_option(slides)
    framing_options(slides)
    _sections_option(slides, slides=True)
    _expand_option(slides)
    slides.add_argument(
        "--handout",
        action="store_true",
        help="Beamer's handout mode for printing: every build shown in its last state, one "
        "page a frame",
    )
    output_argument(slides)
    version_argument(slides)

    summary = commands.add_parser(
        "summary", help="write backpropagation on one page: BP1-BP4, the algorithm, a batch"
    )
    network_arguments(summary)
    summary.add_argument(
        "--format",
        default="latex",
        choices=["latex", "markdown"],
        help="latex (default): a standalone document that compiles to one page; markdown",
    )
    framing_options(summary)
    output_argument(summary)
    version_argument(summary)
