"""The notes as one web page: HTML with MathML Core, inline SVG figures and inline CSS.

A renderer at the end of the pipeline (derivation -> notes -> **html** -> cli). The page is one
more writer on the notes' document model (:mod:`symgrad.render.document`): the same sections,
numbers, audiences and options as the LaTeX notes, built by the same builder with the web
page's :class:`~.format.HtmlFormat` (references as links, words escaped, formulas in prose as
MathML), then written by the templates under ``templates/html``. Displays are tables of rows
(left side, right side, note, number), each in a box that scrolls sideways when a matrix is
wider than the screen; the figures are SVG (:mod:`.svg`). The page needs no script, no font
download and no other file; ``--fragment`` gives its body for a site generator, every style
scoped to the class :data:`SCOPE`.
"""

from __future__ import annotations

from symgrad.derivation import Derivation
from symgrad.render.document import Diagram, Graph, Notes, Row, Section
from symgrad.render.formula import Math, latex
from symgrad.render.graph import Layout, graph_layout
from symgrad.render.html.format import ROW_GAP, HtmlFormat
from symgrad.render.html.mathml import CORE_ELEMENTS, mathml, non_core_elements
from symgrad.render.html.svg import diagram_svg, graph_svg
from symgrad.render.notes import build_notes
from symgrad.render.notes.options import NotesOptions
from symgrad.templating import render
from symgrad.worked import worked_example

#: The class that scopes every style of the page: a fragment restyles nothing outside it.
SCOPE = "symgrad-notes"


def display_math(math: Math) -> str:
    """A formula of a display as MathML in display style, its LaTeX as an annotation."""
    return mathml(latex(math, ROW_GAP), display=True)


def section_numbers(notes: Notes) -> dict[str, str]:
    """Each printed section's number as the whole document gives it (``3``, ``A``)."""
    places = notes.numbering().places
    return {s.id: s.number or places[s.id][0] for s in notes.sections}


def row_tag(row: Row, kind: str) -> str:
    """What stands in a row's number column: its number, the tag of BP1-BP4, or the
    references a row of the summary shows instead."""
    if row.number:
        return f"({row.number})"
    if row.tag and kind == "general":
        return f"({row.tag})"
    return str(row.tag)


class _Figures:
    """The SVG of each figure: the graph of symbols, or of the worked example's numbers."""

    def __init__(self, derivation: Derivation, options: NotesOptions) -> None:
        self.derivation = derivation
        self.options = options
        self.layouts: dict[bool, Layout] = {}

    def layout(self, example: bool) -> Layout:
        if example not in self.layouts:
            numbers = None
            if example and self.options.example is not None:
                numbers = worked_example(self.derivation, self.options.example, self.options.given)
            self.layouts[example] = graph_layout(self.derivation.network, numbers)
        return self.layouts[example]

    def __call__(self, block: Diagram | Graph, section: Section, caption_id: str) -> str:
        if isinstance(block, Diagram):
            return diagram_svg(block, caption_id)
        return graph_svg(block, self.layout(section.id == "example"), caption_id)


def render_html(
    derivation: Derivation, options: NotesOptions | None = None, fragment: bool = False
) -> str:
    """The notes as a standalone web page, or (``fragment=True``) its body, a ``<div>`` of the
    class :data:`SCOPE` with its own scoped ``<style>``, for a site generator."""
    name = "html" + (" --fragment" if fragment else "")
    notes = build_notes(
        derivation,
        options=options,
        fragment=fragment,
        command_name=name,
        format_class=HtmlFormat,
    )
    command = notes.command.replace("{}", name)
    return render_page(notes, derivation, options, fragment, command)


def render_page(
    notes: Notes,
    derivation: Derivation,
    options: NotesOptions | None = None,
    fragment: bool = False,
    command: str = "",
) -> str:
    """A document built with :class:`HtmlFormat` (the notes, an exercise sheet) as a web page;
    ``options`` give the worked example's numbers that a graph of the example shows."""
    resolved = (options or NotesOptions()).resolved(derivation.spec.depth)
    css = render("html/style.css.jinja", scope=SCOPE, fragment=fragment)
    return render(
        "html/page.html.jinja",
        notes=notes,
        command=command,
        fragment=fragment,
        scope=SCOPE,
        css=css,
        numbers=section_numbers(notes),
        math=display_math,
        tag=row_tag,
        figure=_Figures(derivation, resolved),
    )


__all__ = [
    "CORE_ELEMENTS",
    "SCOPE",
    "HtmlFormat",
    "non_core_elements",
    "render_html",
    "render_page",
]
