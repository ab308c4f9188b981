"""The document model of the notes: sections of typed blocks, what the templates receive.

Part of the notes renderer (derivation -> **notes** -> cli). :mod:`symgrad.render.notes` builds
these blocks from a derivation; ``templates/latex`` and ``templates/markdown`` loop over them and
insert what their writer prints. The math of a display is a value (:mod:`symgrad.render.formula`:
SymPy expressions, matrices of them, shapes, named symbols), printed by the writer of each
format. Prose may hold references (:class:`Ref`), values until a writer prints them from the
:class:`Numbering` of the whole document; the templates only ever see them printed.

A :class:`Display` is a list of aligned :class:`Row` objects. A row that completes a step of the
derivation carries that step's label and number: LaTeX numbers it (``\\label``), Markdown writes
the number beside it. One display may hold several numbered rows (a compactly stated layer), and
never breaks across a page: a block that could be long is split into several displays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

import sympy as sp

from symgrad.render.formula import PARTS, Math, Part, Token


class Role(StrEnum):
    """What a block says, so that an audience can keep or drop it without reading it."""

    #: Notation and the network: what the symbols mean.
    DEFINITION = "definition"
    #: A step of the derivation, or prose that carries it.
    STEP = "step"
    #: Why a step holds (a rule, an identity).
    REASON = "reason"
    #: An aside: a consequence, a cost, a comparison.
    REMARK = "remark"
    #: The numbers of the worked example.
    EXAMPLE = "example"
    #: Anything about the tool: how the document was made and checked, generated code, seeds.
    PROVENANCE = "provenance"


class To(StrEnum):
    """What a :class:`Ref` points at."""

    #: A numbered equation, by its step's key: ``(12)``.
    EQUATION = "equation"
    #: A tagged equation, by its key (``bp1``): ``(BP1)``.
    TAG = "tag"
    #: A section, by its id.
    SECTION = "section"
    #: A section of the appendix, by its id.
    APPENDIX = "appendix"


@dataclass(frozen=True)
class Ref:
    """A reference in prose, a value until a writer prints it: the writer knows the numbers of
    the whole document and which sections it prints, and writes ``\\eqref``, a link, or, for a
    target left out by ``--sections``, its number and where it is as plain text.

    ``note``: the reference stands in a display's note or tag column, where Markdown math
    allows no link. Joined to text with ``+`` it gives an :class:`Inline`.
    """

    target: str
    to: To = To.EQUATION
    note: bool = False

    def __format__(self, spec: str) -> str:
        raise TypeError("a Ref is a value: join it to text with +, never format it")

    def __add__(self, other: str | Ref | Inline | Math | Code) -> Inline:
        return Inline.of(self, other)

    def __radd__(self, other: str) -> Inline:
        return Inline.of(other, self)


@dataclass(frozen=True)
class Code:
    """A name from code or the command line in prose (``init_params(0)``, ``--audience``): a
    value until a writer sets it in its typewriter face (``\\texttt``, backticks, ``<code>``)."""

    text: str

    def __format__(self, spec: str) -> str:
        raise TypeError("code in prose is a value: join it to text with +, never format it")

    def __add__(self, other: str | Ref | Inline | Math | Code) -> Inline:
        return Inline.of(self, other)

    def __radd__(self, other: str) -> Inline:
        return Inline.of(other, self)


@dataclass(frozen=True)
class Strong:
    """Words set in bold: the run-in title of a paragraph (``On the computational graph.``)."""

    text: str

    def __format__(self, spec: str) -> str:
        raise TypeError("bold words in prose are a value: join them with +, never format them")


#: A piece of prose that is no text: a reference, a formula, code, bold words.
Piece = Ref | Math | Code | Strong


def words(piece: str | Code | Strong) -> str:
    """The words of a piece of prose, without their face (a figure's plain label)."""
    return piece if isinstance(piece, str) else piece.text


class Inline(tuple["str | Piece", ...]):
    """Prose with references, formulas and code in it: text, :class:`Ref` values, formulas
    (:class:`~symgrad.render.formula.Math`, set in the line as ``$...$``), :class:`Code` and
    :class:`Strong` words, joined with ``+`` or :meth:`of`."""

    __slots__ = ()

    @classmethod
    def of(cls, *parts: str | Piece | Part | sp.Basic | tuple[str | Piece, ...]) -> Inline:
        """Text, references and formulas in order; a SymPy expression or a part of a formula
        (:mod:`~symgrad.render.formula`) is a formula of its own."""
        flat: list[str | Piece] = []
        for part in parts:
            if isinstance(part, (Token, sp.Basic, *PARTS)):  # a Token is a str: a formula first
                part = Math.of(part)
            # a formula is one piece, though it is a tuple
            pieces = (part,) if isinstance(part, str | Ref | Math | Code | Strong) else part
            for piece in pieces:
                if isinstance(piece, str) and flat and isinstance(flat[-1], str):
                    flat[-1] += piece
                elif piece != "":
                    flat.append(piece)
        return cls(flat)

    def __format__(self, spec: str) -> str:
        raise TypeError("prose with references: join it to text with +, never format it")

    def __add__(self, other: object) -> Inline:  # type: ignore[override]
        if not isinstance(other, str | Ref | Code | Strong | tuple):
            return NotImplemented
        return Inline.of(self, other)  # a Math is a tuple: one formula

    def __radd__(self, other: str) -> Inline:
        return Inline.of(other, self)

    def join(self, items: Sequence[str | Ref | Inline | Math | Code]) -> Inline:
        """``items`` with this between them, as ``str.join``."""
        parts: list[str | Ref | Inline | Math | Code] = []
        for n, item in enumerate(items):
            parts += [self, item] if n else [item]
        return Inline.of(*parts)


#: Prose: plain text, a reference, or text with references and formulas.
Prose = str | Ref | Inline


def printed_text(text: Prose | Math) -> str:
    """Prose (or a figure's label) a writer has printed: plain text (a reference or a formula
    left in it is a mistake)."""
    assert isinstance(text, str), "a reference or a formula was not printed"
    return text


def joined_prose(separator: str, items: Sequence[Prose | Math]) -> Prose:
    """``separator.join(items)`` for prose with references."""
    return Inline.of(separator).join(items)


class Audience(StrEnum):
    """Who a document is for (``--audience``)."""

    #: Nothing about the tool: no block or section whose role is provenance.
    STUDENTS = "students"
    #: Everything, with how the document was checked and the command that regenerates it.
    INSTRUCTORS = "instructors"


@dataclass(frozen=True)
class Framing:
    """The course's own framing of a document (``--title``, ``--author``, ``--course``,
    ``--date``): the user's plain text, never markup. Each writer escapes it for its format,
    so no TeX command, HTML tag or formula in it survives; an empty field is left out."""

    title: str = ""
    author: str = ""
    course: str = ""
    date: str = ""

    #: The longest a field may be.
    LIMIT = 200

    @property
    def lines(self) -> tuple[str, ...]:
        """The course, the author and the date, those given, one a line under the title."""
        return tuple(v for v in (self.course, self.author, self.date) if v)

    @property
    def args(self) -> list[str]:
        """``--title T`` and the rest, for the fields that are given."""
        fields = ("title", "author", "course", "date")
        return [a for f in fields if getattr(self, f) for a in (f"--{f}", getattr(self, f))]

    def problem(self) -> str:
        """What is wrong with these fields, in one line ("" when nothing is)."""
        for name in ("title", "author", "course", "date"):
            value = getattr(self, name)
            if len(value) > self.LIMIT:
                return f"--{name} may be at most {self.LIMIT} characters, got {len(value)}"
            if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
                return f"--{name} may not contain a line break or other control character"
        return ""


@dataclass(frozen=True)
class Row:
    """One row of a display: ``left & right``, formulas (:class:`~symgrad.render.formula.Math`,
    values a writer prints; ``right`` starts with its relation, ``= ...``).

    ``note`` justifies the row (prose: words, formulas and references). A row that completes a
    step has its ``label`` (LaTeX, with the label prefix), ``anchor`` (Markdown) and
    ``number``; a row of the summary shows references to steps in ``tag`` instead of a number
    of its own.
    """

    left: Math
    right: Math
    note: Prose = ""
    label: str = ""
    anchor: str = ""
    number: int = 0
    tag: Prose = ""
    #: The note goes on a line of its own below the row (the row is too wide for it beside).
    note_below: bool = False
    #: The key a :class:`Ref` names this row by: its step's key, or ``bp1`` for a tag.
    key: str = ""


@dataclass(frozen=True)
class Display:
    """A displayed equation: aligned rows, some of them numbered."""

    rows: tuple[Row, ...]
    kind: str = "display"
    role: Role = Role.STEP
    #: Rows of matrices: more space between the rows of the display.
    spread: bool = False

    @property
    def numbered(self) -> bool:
        return any(r.label for r in self.rows)

    @property
    def tagged(self) -> bool:
        return any(r.tag for r in self.rows)

    @property
    def noted(self) -> bool:
        return any(r.note for r in self.rows)

    @property
    def aligned(self) -> bool:
        return len(self.rows) > 1 or self.noted or self.tagged

    @property
    def numbers(self) -> tuple[int, ...]:
        return tuple(r.number for r in self.rows if r.number)

    @property
    def anchor(self) -> str:
        """The Markdown block id of the display: the anchor of its first numbered row."""
        return next((r.anchor for r in self.rows if r.anchor), "")

    @property
    def single_number(self) -> bool:
        """One numbered row, the last: Markdown writes it as the display's ``\\tag``."""
        numbered = [r for r in self.rows if r.number]
        return len(numbered) == 1 and numbered[0] is self.rows[-1]


@dataclass(frozen=True)
class Text:
    """A paragraph of prose: words, and formulas, code and references as values.

    ``par`` is False when a display follows that continues the sentence (no paragraph break).
    """

    text: Prose
    par: bool = True
    kind: str = "text"
    role: Role = Role.STEP


@dataclass(frozen=True)
class Heading:
    """A subsection heading: words, and code (a custom activation's name) until a writer
    prints it."""

    title: Prose
    kind: str = "heading"
    role: Role = Role.STEP


@dataclass(frozen=True)
class Steps:
    """A numbered list (the algorithm, step by step)."""

    items: tuple[Prose, ...]
    kind: str = "steps"
    role: Role = Role.STEP


@dataclass(frozen=True)
class Verbatim:
    """Lines set as they are, in a typewriter face: a command to copy."""

    lines: tuple[str, ...]
    kind: str = "verbatim"
    role: Role = Role.STEP


@dataclass(frozen=True)
class Table:
    """A table of prepared cells; ``spec`` is the LaTeX column spec, ``align`` Markdown's."""

    header: tuple[str, ...]
    rows: tuple[tuple[Prose, ...], ...]
    spec: str
    align: tuple[str, ...]
    caption: Prose = ""
    breakable: bool = False
    kind: str = "table"
    role: Role = Role.STEP

    @property
    def long(self) -> bool:
        """Long tables may break across pages (``longtable``); short ones stay in one piece."""
        return self.breakable or len(self.rows) > 24


@dataclass(frozen=True)
class DiagramNode:
    """A unit of the network's figure (or the dots for those left out): its ``label`` a
    formula, ``x_{1}`` or ``\\vdots``, until a writer prints it."""

    name: str
    x: str
    y: str
    label: Math | str
    ellipsis: bool


@dataclass(frozen=True)
class Diagram:
    """The network drawn with TikZ (LaTeX) or Mermaid (Markdown): units, edges and labels."""

    nodes: tuple[DiagramNode, ...]
    edges: tuple[tuple[str, str], ...]
    #: (x, y, lines) of the layer captions under the columns: each line words and formulas
    #: (``hidden 2``, then ``n_2 = 3``), a string once a writer has printed it.
    captions: tuple[tuple[str, str, tuple[Prose, ...]], ...]
    #: (x, y, label) of the parameters above the gaps between the columns (``W_k, b_k``).
    weights: tuple[tuple[str, str, Prose], ...]
    scaled: bool
    #: Mermaid lines for Markdown.
    mermaid: tuple[str, ...]
    caption: Prose
    #: Unit to unit of a skip connection (``h_{k-1,j}`` added to ``h_{kj}``), dashed arcs.
    skips: tuple[tuple[str, str], ...] = ()
    kind: str = "diagram"
    role: Role = Role.STEP


@dataclass(frozen=True)
class GraphNode:
    """A node of the computational graph: an operation (``op``), or where a quantity enters or
    leaves (``end``: ``x``, ``W_1``, ``y``; ``coordinate``: an arrow's end with no text). Its
    ``label`` is words (``softmax``) and formulas (``b_1 + W_1 h_0``), printed by a writer."""

    name: str
    x: str
    y: str
    label: Prose
    kind: str


@dataclass(frozen=True)
class GraphLabel:
    """Text on the graph: the value (``role="value"``) or the gradient (``"gradient"``) of the
    quantity on an edge, a formula (a symbol, or the worked example's numbers) until a writer
    prints it, placed at ``(x, y)`` by its ``anchor``."""

    x: str
    y: str
    anchor: str
    text: Math | str
    role: str


@dataclass(frozen=True)
class GraphSkip:
    """An edge of the computational graph that goes around operations (a skip connection), as
    the TikZ path from its source to its target."""

    path: str


@dataclass(frozen=True)
class Graph:
    """The computational graph of one sample (TikZ in LaTeX; Mermaid and a table in Markdown).

    Operations are nodes; every edge carries a quantity, written beside it with its value and
    its gradient: symbols (``a_1``, ``\\nabla_{a_1} \\mathcal{L}``) or, in the worked example,
    numbers.
    """

    nodes: tuple[GraphNode, ...]
    edges: tuple[tuple[str, str], ...]
    labels: tuple[GraphLabel, ...]
    #: Mermaid lines and table rows (quantity, from, to, value, gradient) for Markdown.
    mermaid: tuple[str, ...]
    table: Table
    caption: str
    #: A paragraph that introduces the graph, kept on its page.
    intro: Prose = ""
    #: The words go beside the picture (a narrow graph of symbols), not below it.
    beside: bool = False
    #: A float (LaTeX places it at the top of a page); else it stays where it is.
    floating: bool = False
    #: Edges around operations (a residual layer's ``h_{k-1}``), dashed.
    skips: tuple[GraphSkip, ...] = ()
    kind: str = "graph"
    role: Role = Role.STEP


Block = Display | Text | Heading | Steps | Verbatim | Table | Diagram | Graph


@dataclass(frozen=True)
class Section:
    """A part of a document: its title, its label in the output format, its blocks.

    ``id`` is stable (``setup``, ``output``, ...): ``--sections`` names it, and labels and
    block ids are made of it.
    """

    title: str
    label: str
    blocks: tuple[Block, ...]
    #: A section of the appendix (a standalone LaTeX document starts ``\appendix`` before the
    #: first one).
    appendix: bool = False
    id: str = ""
    #: A section about the tool (how each equation was checked) has the role provenance.
    role: Role = Role.STEP
    #: The number the whole document gives this section (``3``, ``A``), set when
    #: ``--sections`` prints a selection, so that LaTeX numbers it as the whole document does.
    number: str = ""

    @property
    def counter(self) -> int:
        """LaTeX's section counter just before this section, so that it prints ``number``."""
        if self.number.isdigit():
            return int(self.number) - 1
        return ord(self.number) - ord("A")

    def __post_init__(self) -> None:
        # Prose that introduces a display runs on into it, as in a printed book.
        blocks = list(self.blocks)
        for n, block in enumerate(blocks[:-1]):
            if isinstance(block, Text) and isinstance(blocks[n + 1], Display):
                blocks[n] = replace(block, par=False)
        object.__setattr__(self, "blocks", tuple(blocks))


@dataclass(frozen=True)
class Notes:
    """Everything a notes template needs, as strings."""

    title: str
    subtitle: str
    command: str
    intro: tuple[Text, ...]
    sections: tuple[Section, ...]
    packages: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict)
    framing: Framing = Framing()

    def for_audience(self, audience: Audience) -> Notes:
        """These notes as ``audience`` reads them: for students, without any block or section
        whose role is provenance. Writers only ever see the notes filtered."""
        if audience is Audience.INSTRUCTORS:
            return self

        def kept(blocks: tuple[Block, ...]) -> tuple[Block, ...]:
            return tuple(b for b in blocks if b.role is not Role.PROVENANCE)

        sections = tuple(
            replace(section, blocks=kept(section.blocks))
            for section in self.sections
            if section.role is not Role.PROVENANCE
        )
        intro = tuple(t for t in self.intro if t.role is not Role.PROVENANCE)
        return replace(self, intro=intro, sections=sections)

    def numbering(self, printed: Sequence[str] = ()) -> Numbering:
        """The numbers of these whole notes, the sections in ``printed`` (all when empty)
        those a selection prints."""
        numbers: dict[str, str] = {}
        homes: dict[str, str] = {}
        anchors: dict[str, str] = {}
        for section in self.sections:
            for block in section.blocks:
                if not isinstance(block, Display):
                    continue
                for row in block.rows:
                    if row.key and (row.number or row.label):
                        numbers[row.key] = str(row.number) if row.number else str(row.tag)
                        homes[row.key] = section.id
                        anchors[row.key] = block.anchor
        places: dict[str, tuple[str, str]] = {}
        body, appendix = 0, 0
        for section in self.sections:
            appendix += section.appendix or appendix > 0
            body += appendix == 0
            number = chr(ord("A") + appendix - 1) if appendix else str(body)
            places[section.id] = (number, section.title)
        shown = frozenset(printed or places)
        return Numbering(numbers, homes, anchors, places, shown)

    def selected(self, ids: Sequence[str]) -> Notes:
        """The sections ``ids`` of these notes (all when empty), each with the number the
        whole document gives it; the introduction goes with the first section."""
        if not ids:
            return self
        numbering = self.numbering(ids)
        sections = tuple(
            replace(s, number=numbering.places[s.id][0]) for s in self.sections if s.id in ids
        )
        first = self.sections[0].id in ids
        return replace(self, sections=sections, intro=self.intro if first else ())


@dataclass(frozen=True)
class Numbering:
    """The numbers of a whole document, known from its tree before any writer runs: what a
    writer needs to print a :class:`Ref`."""

    #: An equation's key -> its number (``12``) or tag (``BP1``).
    numbers: dict[str, str]
    #: An equation's key -> the id of the section that holds it.
    homes: dict[str, str]
    #: An equation's key -> the Markdown block id of its display.
    anchors: dict[str, str]
    #: A section's id -> (its number, ``3`` or ``A`` in the appendix; its title).
    places: dict[str, tuple[str, str]]
    #: The ids of the sections printed (all, unless ``--sections`` chose some).
    printed: frozenset[str]

    def here(self, ref: Ref) -> bool:
        """Whether the target of ``ref`` is printed in this document."""
        if ref.to in (To.SECTION, To.APPENDIX):
            return ref.target in self.printed
        return self.homes[ref.target] in self.printed
