"""How the notes refer to equations and sections and mark up words, per output format.

Part of the notes renderer (:mod:`symgrad.render.notes`): LaTeX (``\\eqref`` of labels, the
label prefix of ``--label-prefix``) and Markdown for Obsidian (links to block ids, filled in once
every display exists).
"""

from __future__ import annotations

import re
from dataclasses import replace

from symgrad.derivation import Derivation, Step
from symgrad.render import wording
from symgrad.render.document import (
    LATEX_ROW_GAP,
    MARKDOWN_ROW_GAP,
    Block,
    Display,
    Row,
    Section,
    Steps,
    Table,
    Text,
)
from symgrad.templating import tex_code, tex_escape


class Format(wording.Style):
    """How prose refers to equations and sections and marks up words in one output format."""

    latex = True

    def __init__(self, derivation: Derivation, prefix: str, fragment: bool = False) -> None:
        self.derivation = derivation
        self.prefix = prefix
        #: A fragment has no appendix of its own: its last section is referred to as a section.
        self.fragment = fragment

    def label(self, key: str) -> str:
        return f"{self.prefix}eq:{key}"

    def section_label(self, name: str) -> str:
        return f"{self.prefix}sec:{name}"

    def anchor(self, key: str) -> str:
        return ""

    def ref(self, step: Step) -> str:
        """A reference to an equation in prose."""
        return rf"\eqref{{{self.label(step.key)}}}"

    def note_ref(self, step: Step) -> str:
        """A reference to an equation inside a display's note."""
        return self.ref(step)

    def ref_label(self, key: str, shown: str) -> str:
        """A reference to a tagged equation (``(BP1)``) by its label."""
        return rf"\eqref{{{self.label(key)}}}"

    def section_ref(self, name: str, title: str) -> str:
        return rf"Section~\ref{{{self.section_label(name)}}}"

    def appendix_ref(self, name: str, title: str) -> str:
        if self.fragment:
            return self.section_ref(name, title)
        return rf"Appendix~\ref{{{self.section_label(name)}}}"

    def math(self, latex: str, plain: str = "") -> str:
        return f"${latex}$"

    def code(self, text: str) -> str:
        return tex_code(text)

    def text(self, text: str) -> str:
        return tex_escape(text)

    def emph(self, text: str) -> str:
        return rf"\emph{{{text}}}"

    #: "and so on" between references.
    ellipsis = r"\dots,"

    def cell(self, text: str) -> str:
        return text

    @property
    def row_gap(self) -> str:
        return LATEX_ROW_GAP

    def resolve(self, sections: list[Section]) -> list[Section]:
        """Fill in what can only be known once every display exists (Markdown's links)."""
        return sections


class MarkdownFormat(Format):
    latex = False

    def anchor(self, key: str) -> str:
        # Obsidian block ids allow letters, digits and dashes only.
        return re.sub(r"[^A-Za-z0-9-]", "-", f"{self.prefix}eq-{key}")

    def ref(self, step: Step) -> str:
        # A link to the display that holds the step, resolved by :meth:`resolve`.
        return f"\x00ref:{step.key}\x00"

    def note_ref(self, step: Step) -> str:
        return f"({step.number})"

    def ref_label(self, key: str, shown: str) -> str:
        return shown

    def section_ref(self, name: str, title: str) -> str:
        return f"the section *{title}*"

    def appendix_ref(self, name: str, title: str) -> str:
        return f"the appendix *{title}*"

    def code(self, text: str) -> str:
        return f"`{text}`"

    def text(self, text: str) -> str:
        return text.replace("_", "\\_").replace("*", "\\*")

    def emph(self, text: str) -> str:
        return f"*{text}*"

    ellipsis = "…,"

    def cell(self, text: str) -> str:
        # A bar ends a Markdown table cell, even inside math: write |x| as \vert x \vert.
        return text.replace("|", r"\vert ")

    @property
    def row_gap(self) -> str:
        return MARKDOWN_ROW_GAP

    def resolve(self, sections: list[Section]) -> list[Section]:
        sections = [
            replace(s, blocks=tuple(b for block in s.blocks for b in one_number_each(block)))
            for s in sections
        ]
        anchors: dict[str, tuple[str, int]] = {}
        for section in sections:
            for block in section.blocks:
                if isinstance(block, Display) and block.numbered:
                    for row in block.rows:
                        if row.number:
                            key = row.label.split("eq:", 1)[-1]
                            anchors[key] = (block.anchor, row.number)

        def link(match: re.Match[str]) -> str:
            anchor, number = anchors[match.group(1)]
            return f"[({number})](#^{anchor})"

        def fix(text: str) -> str:
            return re.sub("\x00ref:([^\x00]*)\x00", link, text)

        resolved = []
        for section in sections:
            blocks: list[Block] = []
            for block in section.blocks:
                if isinstance(block, Text):
                    block = replace(block, text=fix(block.text))
                elif isinstance(block, Table):
                    block = replace(
                        block, rows=tuple(tuple(fix(c) for c in row) for row in block.rows)
                    )
                elif isinstance(block, Steps):
                    block = replace(block, items=tuple(fix(i) for i in block.items))
                blocks.append(block)
            resolved.append(replace(section, blocks=tuple(blocks)))
        return resolved


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
