"""How the web page refers to equations and sections and marks up words.

Part of the web page writer (:mod:`symgrad.render.html`): the notes' :class:`Format` for HTML.
A reference is a link to the id of its equation's row or its section (``#eq-output-delta``,
``#sec-output``), in notes and tags too (a page, unlike Markdown math, can link there); a
target that ``--sections`` left out is plain text, its number and where it is. Words are
escaped, so no tag in them survives; formulas in prose become MathML (:mod:`.mathml`).
"""

from __future__ import annotations

import html
import re
from dataclasses import replace

from symgrad.render import formula
from symgrad.render.document import (
    Block,
    Graph,
    Heading,
    Inline,
    Numbering,
    Prose,
    Ref,
    Table,
    To,
    printed_text,
)
from symgrad.render.formula import Math
from symgrad.render.html.mathml import inline_math, mathml
from symgrad.render.notes.formats import Format

#: Between the rows of a matrix: a plain new row (MathML Core has no row spacing of its own:
#: the page's style sets it).
ROW_GAP = r"\\"


def element_id(text: str) -> str:
    """An HTML id made of letters, digits and dashes only (a label prefix may hold others)."""
    return re.sub(r"[^A-Za-z0-9-]", "-", text)


class HtmlFormat(Format):
    """The web page: links, ``<em>``, ``<code>``, escaped words, MathML in the line."""

    # The graph's caption speaks of the table beside the picture (as in Markdown), and the
    # worked example's graph has a heading of its own, not a float's title.
    latex = False

    def label(self, key: str) -> str:
        return element_id(f"{self.prefix}eq-{key}")

    def section_label(self, name: str) -> str:
        return element_id(f"{self.prefix}sec-{name}")

    def anchor(self, key: str) -> str:
        return self.label(key)

    def reference(self, ref: Ref, numbers: Numbering) -> str:
        here = numbers.here(ref)
        if ref.to is To.SECTION or ref.to is To.APPENDIX:
            word = "Appendix" if ref.to is To.APPENDIX and not self.fragment else "Section"
            if not here:
                return self.place(ref.target, numbers, word)
            number, title = numbers.places[ref.target]
            shown = self.emph(self.text(title)) if self.fragment else f"{word} {number}"
            return f'<a href="#{self.section_label(ref.target)}">{shown}</a>'
        shown = f"({numbers.numbers[ref.target]})"
        if here:
            return f'<a href="#{self.label(ref.target)}">{shown}</a>'
        home = numbers.homes[ref.target]
        appendix = numbers.places[home][0].isalpha()
        return f"{shown} in {self.place(home, numbers, 'Appendix' if appendix else 'Section')}"

    def place(self, section: str, numbers: Numbering, word: str) -> str:
        number, title = numbers.places[section]
        if self.fragment:
            return self.emph(self.text(title))
        return f"{word}\N{NO-BREAK SPACE}{number}"

    def code(self, text: str) -> str:
        return f"<code>{_escaped(text)}</code>"

    def text(self, text: str) -> str:
        return _escaped(text)

    def emph(self, text: str) -> str:
        return f"<em>{text}</em>"

    def strong(self, text: str) -> str:
        """Words in bold (the run-in title of a paragraph)."""
        return f"<strong>{self.text(text)}</strong>"

    ellipsis = "…,"

    @property
    def row_gap(self) -> str:
        return ROW_GAP

    def formula(self, math: Math) -> str:
        return formula.latex(math, ROW_GAP)

    def prose(self, text: Prose, numbers: Numbering) -> str:
        """Prose as HTML: its references as links, its formulas as MathML."""
        return inline_math(super().prose(text, numbers))

    def printed(self, b: Block, numbers: Numbering) -> Block:
        """A block with its references printed and every formula of its words, captions and
        headers as MathML."""
        b = super().printed(b, numbers)
        if isinstance(b, Heading):
            return replace(b, title=inline_math(printed_text(b.title)))
        if isinstance(b, Table):
            return _table(b)
        if isinstance(b, Graph):
            return replace(b, caption=inline_math(printed_text(b.caption)))
        return b

    def figure_words(self, text: Prose) -> str:
        """A figure's label as HTML: its words escaped, its formulas as MathML."""
        parts = (text,) if isinstance(text, str | Ref) else text
        words = Inline.of(*(self.text(p) if isinstance(p, str) else p for p in parts))
        return inline_math(super().figure_words(words))

    def figure_math(self, math: Math) -> str:
        return mathml(self.formula(math))


def _escaped(text: str) -> str:
    """Words or code as HTML text: markup escaped, and ``$`` written ``&#36;``, so that the
    page's formulas, which prose carries between two ``$`` until they are made MathML, are the
    only ``$`` left (a file name such as ``one$.json`` opens no formula)."""
    return html.escape(text, quote=False).replace("$", "&#36;")


def _table(table: Table) -> Table:
    """A table whose header is HTML (its cells and caption are prose, printed already)."""
    return replace(table, header=tuple(inline_math(h) for h in table.header))
