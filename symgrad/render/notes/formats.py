"""How the notes refer to equations and sections and mark up words, per output format.

Part of the notes renderer (:mod:`symgrad.render.notes`): LaTeX (``\\eqref`` of labels, the
label prefix of ``--label-prefix``) and Markdown for Obsidian (links to block ids). A reference
is a :class:`~symgrad.render.document.Ref` until :meth:`Format.resolve` prints it from the
numbers of the whole document; a target that ``--sections`` left out is printed as plain text,
its number and where it is. The figures' labels (words and formulas) are values until
:meth:`Format.diagram` and :meth:`Format.graph` print them, formulas as ``$...$``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from typing import TypeVar

from symgrad.derivation import Derivation
from symgrad.render import formula, wording
from symgrad.render.document import (
    Block,
    Code,
    Diagram,
    Display,
    Graph,
    Heading,
    Notes,
    Numbering,
    Prose,
    Ref,
    Row,
    Section,
    Steps,
    Strong,
    Table,
    Text,
    To,
)
from symgrad.render.formula import LATEX_ROW_GAP, MARKDOWN_ROW_GAP, Math
from symgrad.templating import tex_code, tex_escape

T = TypeVar("T")


def latex_math(math: Math) -> str:
    """A formula of a display as LaTeX (and Beamer) prints it: what their templates call."""
    return formula.latex(math, LATEX_ROW_GAP)


def markdown_math(math: Math) -> str:
    """A formula of a display as Markdown math prints it: what its templates call."""
    return formula.latex(math, MARKDOWN_ROW_GAP)


class Format:
    """How prose refers to equations and sections and marks up words in one output format."""

    latex = True

    def __init__(self, derivation: Derivation, prefix: str, fragment: bool = False) -> None:
        self.derivation = derivation
        self.prefix = prefix
        #: A fragment has no appendix and no section numbers of its own: a section is referred
        #: to as a section, one left out by its title.
        self.fragment = fragment

    def label(self, key: str) -> str:
        return f"{self.prefix}eq:{key}"

    def section_label(self, name: str) -> str:
        return f"{self.prefix}sec:{name}"

    def anchor(self, key: str) -> str:
        return ""

    def reference(self, ref: Ref, numbers: Numbering) -> str:
        """``ref`` as this format prints it, from the numbers of the whole document: a
        reference where its target is printed, else plain text with its number and where it
        is."""
        here = numbers.here(ref)
        if ref.to is To.SECTION or ref.to is To.APPENDIX:
            word = "Appendix" if ref.to is To.APPENDIX and not self.fragment else "Section"
            if here:
                return rf"{word}~\ref{{{self.section_label(ref.target)}}}"
            return self.place(ref.target, numbers, word)
        if here:
            return rf"\eqref{{{self.label(ref.target)}}}"
        home = numbers.homes[ref.target]
        appendix = numbers.places[home][0].isalpha()
        where = self.place(home, numbers, "Appendix" if appendix else "Section")
        return f"({numbers.numbers[ref.target]}) in {where}"

    def place(self, section: str, numbers: Numbering, word: str) -> str:
        """A section left out of this document: its number in the whole document (a fragment
        has none of its own: its title)."""
        number, title = numbers.places[section]
        if self.fragment:
            return self.emph(self.text(title))
        return f"{word}~{number}"

    def prose(self, text: Prose, numbers: Numbering) -> str:
        """Prose with its references and formulas printed."""
        return self.joined(text, lambda ref: self.reference(ref, numbers))

    def sketch(self, text: Prose) -> str:
        """Prose as wide as it will print, for the layout, before the numbers of the whole
        document are known (every target taken as printed)."""
        return self.joined(text, self.sketched)

    def joined(self, text: Prose, reference: Callable[[Ref], str]) -> str:
        """Prose printed: its text as it is, its formulas in the line (``$...$``), code and bold
        words in this format's faces, its references by ``reference``."""
        parts = (text,) if isinstance(text, str | Ref) else text
        printed = []
        for part in parts:
            if isinstance(part, Math):
                printed.append(f"${self.formula(part)}$")
            elif isinstance(part, Code):
                printed.append(self.code(part.text))
            elif isinstance(part, Strong):
                printed.append(self.strong(part.text))
            else:
                printed.append(part if isinstance(part, str) else reference(part))
        return "".join(printed)

    def sketched(self, ref: Ref) -> str:
        return rf"\eqref{{{self.label(ref.target)}}}"

    @property
    def words(self) -> wording.Style:
        """How the sentences of :mod:`~symgrad.render.wording` are made for this format: their
        formulas and code values, their words made safe by :meth:`text`."""
        return wording.Values(self.text)

    def code(self, text: str) -> str:
        return tex_code(text)

    def text(self, text: str) -> str:
        return tex_escape(text)

    def emph(self, text: str) -> str:
        return rf"\emph{{{text}}}"

    def strong(self, text: str) -> str:
        """Words in bold (the run-in title of a paragraph)."""
        return rf"\textbf{{{self.text(text)}}}"

    #: "and so on" between references.
    ellipsis = r"\dots,"

    def cell(self, text: str) -> str:
        return text

    @property
    def row_gap(self) -> str:
        return LATEX_ROW_GAP

    def formula(self, math: Math) -> str:
        """A formula of a display as this format prints it (for the layout, to measure)."""
        return latex_math(math)

    def layout(self, sections: list[Section]) -> list[Section]:
        """The displays as this format sets them (Markdown: one number each)."""
        return sections

    def resolve(self, notes: Notes, numbers: Numbering) -> Notes:
        """``notes`` with every reference printed, from ``numbers``, the numbers of the whole
        document (``notes`` may be a selection of its sections)."""

        sections = tuple(
            replace(s, blocks=tuple(self.printed(b, numbers) for b in s.blocks))
            for s in notes.sections
        )
        intro = tuple(replace(t, text=self.prose(t.text, numbers)) for t in notes.intro)
        return replace(notes, sections=sections, intro=intro)

    def printed(self, b: Block, numbers: Numbering) -> Block:
        """A block with its references printed (and table cells made safe)."""

        def prose(text: Prose) -> str:
            return self.prose(text, numbers)

        if isinstance(b, Text):
            return replace(b, text=prose(b.text))
        if isinstance(b, Heading):
            return replace(b, title=prose(b.title))
        if isinstance(b, Steps):
            return replace(b, items=tuple(prose(i) for i in b.items))
        if isinstance(b, Table):
            cells = tuple(tuple(self.cell(prose(c)) for c in row) for row in b.rows)
            return replace(b, rows=cells, caption=prose(b.caption))
        if isinstance(b, Diagram):
            return replace(self.diagram(b), caption=prose(b.caption))
        if isinstance(b, Graph):
            table = self.printed(b.table, numbers)
            assert isinstance(table, Table)
            return replace(self.graph(b), intro=prose(b.intro), table=table)
        if isinstance(b, Display):
            rows = tuple(replace(r, note=prose(r.note), tag=prose(r.tag)) for r in b.rows)
            return replace(b, rows=rows)
        return b

    # Figures: their labels are words and formulas until the writer prints them --------------

    def figure_words(self, text: Prose) -> str:
        """A figure's label of words and formulas (``$...$``), as this format prints it."""
        return self.sketch(text)

    def figure_math(self, math: Math) -> str:
        """A figure's label that is a formula, as this format prints it (the template sets it
        as math)."""
        return self.formula(math)

    def diagram(self, block: Diagram) -> Diagram:
        """The network's figure with its labels printed."""
        nodes = tuple(replace(n, label=self.figure_math(unprinted(n.label))) for n in block.nodes)
        captions = tuple(
            (x, y, tuple(self.figure_words(line) for line in lines))
            for x, y, lines in block.captions
        )
        weights = tuple((x, y, self.figure_words(text)) for x, y, text in block.weights)
        return replace(block, nodes=nodes, captions=captions, weights=weights)

    def graph(self, block: Graph) -> Graph:
        """The computational graph with its labels printed (its table is a table's)."""
        nodes = tuple(replace(n, label=self.figure_words(n.label)) for n in block.nodes)
        labels = tuple(replace(t, text=self.figure_math(unprinted(t.text))) for t in block.labels)
        return replace(block, nodes=nodes, labels=labels)


def unprinted(value: T | str) -> T:
    """A figure's label still a value: printing one twice is a mistake."""
    assert not isinstance(value, str), "a figure's label was printed already"
    return value


class MarkdownFormat(Format):
    latex = False

    def anchor(self, key: str) -> str:
        # Obsidian block ids allow letters, digits and dashes only.
        return re.sub(r"[^A-Za-z0-9-]", "-", f"{self.prefix}eq-{key}")

    def reference(self, ref: Ref, numbers: Numbering) -> str:
        # Markdown math has no links: in a note or a tag column a reference is its number.
        if ref.to is To.SECTION or ref.to is To.APPENDIX:
            word = "appendix" if ref.to is To.APPENDIX else "section"
            return f"the {word} *{numbers.places[ref.target][1]}*"
        number = numbers.numbers[ref.target]
        shown = f"({number})"
        if numbers.here(ref):
            anchor = numbers.anchors[ref.target]
            return shown if ref.note or ref.to is To.TAG or not anchor else f"[{shown}](#^{anchor})"
        title = numbers.places[numbers.homes[ref.target]][1]
        if ref.note:
            return f'{shown} in "{title}"'
        return f"{shown} in the section *{title}*"

    def sketched(self, ref: Ref) -> str:
        if ref.to is To.TAG:
            return f"({ref.target.upper()})"
        return f"({next(s.number for s in self.derivation if s.key == ref.target)})"

    def code(self, text: str) -> str:
        # A code span is fenced by more backticks than any run inside it, and padded where a
        # backtick would touch the fence (a file name such as a`b.json stays one span).
        longest = max((len(run) for run in re.findall("`+", text)), default=0)
        fence = "`" * (longest + 1)
        pad = " " if text.startswith("`") or text.endswith("`") else ""
        return f"{fence}{pad}{text}{pad}{fence}"

    def text(self, text: str) -> str:
        return text.replace("_", "\\_").replace("*", "\\*")

    def emph(self, text: str) -> str:
        return f"*{text}*"

    def strong(self, text: str) -> str:
        return f"**{self.text(text)}**"

    ellipsis = "…,"

    def cell(self, text: str) -> str:
        # A bar ends a Markdown table cell, even inside math: write |x| as \vert x \vert.
        return text.replace("|", r"\vert ")

    @property
    def row_gap(self) -> str:
        return MARKDOWN_ROW_GAP

    def formula(self, math: Math) -> str:
        return markdown_math(math)

    def layout(self, sections: list[Section]) -> list[Section]:
        return [
            replace(s, blocks=tuple(b for block in s.blocks for b in one_number_each(block)))
            for s in sections
        ]


def one_number_each(block: Block) -> list[Block]:
    """A display with several numbered rows as one display per number, each ending with its
    numbered row: Markdown math gives a display one ``\\tag`` and Obsidian one block id, so
    every equation gets its own number as a tag and its own link target. Rows after the last
    numbered row stay with it."""
    if isinstance(block, Display) and block.kind == "general":
        # BP1-BP4: one display each, its tag (BP1) as the display's \tag
        general: list[list[Row]] = []
        for row in block.rows:
            if row.tag or not general:
                general.append([])
            general[-1].append(row)
        return [replace(block, rows=tuple(group)) for group in general]
    if not isinstance(block, Display) or block.tagged or len(block.numbers) < 2:
        return [block]
    groups: list[list[Row]] = [[]]
    for row in block.rows:
        groups[-1].append(row)
        if row.number:
            groups.append([])
    tail = groups.pop()
    groups[-1] += tail
    return [replace(block, rows=tuple(group)) for group in groups]
