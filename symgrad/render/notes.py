"""Lecture notes: the derivation as a LaTeX document, a LaTeX fragment, or Obsidian Markdown.

A renderer at the end of the pipeline (spec -> model -> derivation -> proof -> **notes** -> cli).
This module turns a :class:`~symgrad.derivation.Derivation` into the plain strings of
:mod:`symgrad.render.document` (printed equations, prose, table cells, diagram coordinates) and
hands them to the Jinja2 templates in ``templates/latex`` and ``templates/markdown``, which only
loop and insert. Every step of the derivation is one numbered equation, in order, so the notes,
the terminal printout and the comments of generated code cite the same numbers; every reference
to an equation or a section is a ``\\eqref``/``\\ref`` of a label (with ``--label-prefix``), never
a typed number, so a fragment keeps its references inside someone else's document.

Length is under control: the chain rule of a hidden layer and the entry-by-entry expansion of a
weight matrix are written in full for one layer (``--expand``, by default the output layer, met
first going backwards); the other layers are stated compactly with a reference to it. Wide layers
show their first rows and columns, then ``\\cdots``, ``\\vdots``, ``\\ddots`` and the last ones.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

import sympy as sp

from symgrad import notation as nt
from symgrad import printing
from symgrad.derivation import (
    Check,
    Derivation,
    EntryMatrix,
    Form,
    Kind,
    Rule,
    Stage,
    Step,
    StepId,
)
from symgrad.errors import SpecError
from symgrad.render import wording
from symgrad.render.document import (
    LATEX_ROW_GAP,
    MARKDOWN_ROW_GAP,
    MAX_SHOWN,
    Block,
    Diagram,
    DiagramNode,
    Display,
    Graph,
    Heading,
    Notes,
    Row,
    Section,
    Steps,
    Table,
    Text,
    matrix_tex,
    shown_indices,
)
from symgrad.render.example import ExampleSection, backward_ids, forward_ids, graph_caption
from symgrad.render.graph import GRAPH_MAX_LAYERS, computational_graph
from symgrad.render.pdf import Compiled, compile_pdf
from symgrad.templating import render, tex_escape
from symgrad.worked import WorkedExample, check_example, worked_example

#: Layers of the diagram up to this many are drawn at full size; deeper ones are scaled down.
DIAGRAM_FULL_LAYERS = 6
#: Networks with at most this many layers write out every pre-activation ``a_{ki}``; deeper
#: ones only those of the layer that is expanded.
WRITTEN_OUT_LAYERS = 3
#: Rows of one summary display at most (a display never breaks across a page).
SUMMARY_ROWS = 20
#: Rows of one display of the forward pass at most.
FORWARD_ROWS = 12
#: Rows of one display of compactly stated layers at most (whole layers only).
LAYER_ROWS = 8

#: LaTeX packages the fragment needs (stated in its top comment); the document loads them too.
FRAGMENT_PACKAGES = ("amsmath", "amssymb", "array", "booktabs", "longtable", "tikz", "graphicx")

#: The values of ``--checks``: the table of how each step was proved in the body, in an
#: appendix, or not at all (a sentence in the introduction says that every step was checked).
CHECKS = ("full", "appendix", "none")

_LABEL_PREFIX = re.compile(r"[A-Za-z0-9:._-]{0,40}")


@dataclass(frozen=True)
class NotesOptions:
    """The notes options and ``--expand``."""

    #: The layer whose chain rule and weight matrix are written in full (None: the default).
    expand: int | None = None
    #: Where the table of how each step was proved goes: one of :data:`CHECKS`.
    checks: str = "appendix"
    #: Prefixed to every LaTeX label (and Markdown block id), so two fragments can share one
    #: document.
    label_prefix: str = ""
    #: ``--example SEED``: a worked example with the numbers of one sample (None: none).
    example: int | None = None

    def resolved(self, depth: int) -> NotesOptions:
        """These options checked against a network of ``depth`` layers, ``expand`` filled in.

        Raises :class:`~symgrad.errors.SpecError` with what to change.
        """
        expand = depth if self.expand is None else self.expand
        if not 1 <= expand <= depth:
            raise SpecError(
                f"--expand must be a layer number from 1 to {depth} (L = {depth}), got {expand}"
            )
        if self.checks not in CHECKS:
            raise SpecError(f"--checks must be one of {', '.join(CHECKS)}, got {self.checks!r}")
        if not _LABEL_PREFIX.fullmatch(self.label_prefix):
            raise SpecError(
                "--label-prefix may use letters, digits and : . _ - (at most 40), got "
                f"{self.label_prefix!r}"
            )
        return replace(self, expand=expand)


# Formats ---------------------------------------------------------------------------------------


class _Format(wording.Style):
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
        return rf"\texttt{{{tex_escape(text)}}}"

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


class _MarkdownFormat(_Format):
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


# Rule notes beside the rows ---------------------------------------------------------------------

_RULE_NOTES = {
    Rule.DEFINITION: "definition",
    Rule.LOSS_DERIVATIVE: "derivative of the loss",
    Rule.CHAIN_RULE: "chain rule",
    Rule.LOCAL_DERIVATIVE: "differentiate the layer equation",
    Rule.OUTPUT_DERIVATIVE: "derivative of the output function",
    Rule.ACTIVATION_DERIVATIVE: "derivative of the activation",
    Rule.ALGEBRA: "algebra",
    Rule.CANCEL: r"cancel $\hat{y}_{j}$",
    Rule.KRONECKER: r"$\delta_{ij}$ keeps the term $j = i$",
    Rule.EXPAND: "multiply out",
    Rule.TARGETS_SUM_TO_ONE: r"using $\sum_{j} y_{j} = 1$",
    Rule.MATRIX_FORM: "in matrix form",
    Rule.ENTRIES: "entries",
    Rule.OUTER_PRODUCT: "outer product",
    Rule.ROWS: "rows",
    Rule.BATCH_MEAN: "mean",
}

#: Width of the text in ems (A4, 2.5 cm margins, 11 pt); a row and its note must fit in it.
_LINE_EMS = 36.0
#: Room for an equation number at the end of a row.
_NUMBER_EMS = 4.0


def _math(text: str) -> str:
    return f"${text}$"


_YHAT = _math(r"\hat{y}")
PRIME = "'"
PRIME_AT_ZERO = "g'(0) = "
YHAT_I = r"\hat{y}_{i}"
YHAT_J = r"\hat{y}_{j}"
SUM_Y = r"\sum_{j} y_{j} = 1"
GRAD_A_K = r"\nabla_{a_{k}} \mathcal{L}"
_ODOT = _math(r"\odot")


def _times(n: int | str, m: int | str) -> str:
    return rf"{n} \times {m}"


# The width of printed LaTeX, roughly ---------------------------------------------------------

_COMMAND_EMS = {
    r"\partial": 0.6,
    r"\odot": 1.4,
    r"\le": 1.3,
    r"\ge": 1.3,
    r"\log": 1.6,
    r"\max": 2.0,
    r"\tanh": 2.3,
    r"\sin": 1.6,
    r"\cos": 1.6,
    r"\cdots": 1.6,
    r"\ddots": 1.2,
    r"\vdots": 0.5,
    r"\top": 0.7,
    r"\nabla": 0.9,
    r"\delta": 0.5,
    r"\Delta": 0.8,
    r"\times": 1.3,
    r"\quad": 1.0,
    r"\qquad": 2.0,
}
_GROUP = re.compile(r"\\(?:d?frac|sum|mathcal|hat|bar|mathbf|operatorname|text)\b|[_^]|\\[A-Za-z]+")


def _braced(text: str, start: int) -> tuple[str, int]:
    """The group ``{...}`` starting at ``text[start]`` (or one character) and the index after."""
    if start >= len(text):
        return "", start
    if text[start] != "{":
        if text[start] == "\\":
            match = re.match(r"\\[A-Za-z]+", text[start:])
            end = start + (match.end() if match else 1)
            return text[start:end], end
        return text[start], start + 1
    depth = 0
    for n in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[n], 0)
        if depth == 0:
            return text[start + 1 : n], n + 1
    return text[start + 1 :], len(text)


_MATRIX = re.compile(r"\\begin\{bmatrix\}(.*?)\\end\{bmatrix\}", re.S)


def _matrix_width(match: re.Match[str]) -> str:
    """A matrix replaced by as many ``x`` as it is wide: its widest row, cell by cell."""
    rows = re.split(r"\\\\(?:\[[^]]*\])?(?:\s*\\noalign\{[^}]*\})?", match.group(1))
    width = max(
        sum(visible_width(cell) for cell in row.split("&")) + 1.2 * row.count("&") for row in rows
    )
    return "x" * round((width + 1.0) / 0.55)


def visible_width(latex: str) -> float:
    """About how many ems ``latex`` takes in a display: fractions count their wider part,
    sub- and superscripts less than the text, a matrix its widest row, ``\\left`` and
    ``\\right`` nothing.

    It only decides where a note goes (beside its row or below it); the tests compile every
    case and fail on any overfull box, so an estimate that is too low cannot go unnoticed.
    """
    text = _MATRIX.sub(_matrix_width, latex.replace(r"\left", "").replace(r"\right", ""))
    width = 0.0
    n = 0
    while n < len(text):
        ch = text[n]
        if ch == "\\":
            match = _GROUP.match(text, n)
            name = match.group(0) if match else "\\"
            n += len(name)
            if name in (r"\frac", r"\dfrac"):
                top, n = _braced(text, n)
                bottom, n = _braced(text, n)
                width += max(visible_width(top), visible_width(bottom)) + 0.2
            elif name == r"\sum":
                width += 1.4
            elif name in (r"\mathcal", r"\hat", r"\bar", r"\mathbf"):
                inner, n = _braced(text, n)
                width += visible_width(inner)
            elif name == r"\operatorname":
                inner, n = _braced(text, n)
                width += 0.5 * len(inner) + 0.3
            elif name == r"\text":
                inner, n = _braced(text, n)
                words = re.sub(r"\\(?:eq)?ref\{[^}]*\}", "(99)", inner)
                width += 0.48 * len(re.sub(r"\$[^$]*\$", "xxxx", words))
            else:
                width += _COMMAND_EMS.get(name, 0.9)
            continue
        if ch in "_^":
            inner, n = _braced(text, n + 1)
            if text[n - len(inner) - 2 : n - len(inner) - 1] == "\\sum":
                continue
            width += 0.7 * visible_width(inner)
            continue
        n += 1
        if ch in "{} ":
            continue
        if ch in "+-=<>":
            width += 1.3
        elif ch in "()[],.;|":
            width += 0.4
        else:
            width += 0.55
    return width


# Building the notes -----------------------------------------------------------------------------


class _Builder:
    """Builds :class:`Notes` for one derivation, one output format and resolved options."""

    #: The width of a line of the document in ems: a row and its note must fit in it.
    line_ems = _LINE_EMS

    def __init__(
        self,
        derivation: Derivation,
        fmt: _Format,
        options: NotesOptions,
        example: WorkedExample | None = None,
    ) -> None:
        self.d = derivation
        self.net = derivation.network
        self.spec = derivation.spec
        self.fmt = fmt
        self.options = options
        #: The numbers of ``--example``, or None.
        self.example = example
        self.L = self.spec.depth
        self.expand = options.expand or self.L
        #: The hidden layer whose steps are written in full.
        self.expand_hidden = min(self.expand, self.L - 1)
        #: One index style for the whole document: commas as soon as an index can reach 10.
        self.commas = max(self.spec.sizes) >= 10 or self.L >= 10

    # small helpers ---------------------------------------------------------------------------

    def tex(self, expr: sp.Basic, inline: bool = False) -> str:
        return printing.latex(expr, self.commas, inline)

    def width(self, latex: str) -> float:
        """About how many ems ``latex`` takes in a display (:func:`visible_width`)."""
        return visible_width(latex)

    def form(self, form: Form) -> str:
        """One form of a step: printed, or an :class:`EntryMatrix` as an abbreviated matrix."""
        if isinstance(form, EntryMatrix):
            return self.matrix(
                form.rows, form.cols, lambda r, c: _display_style(self.tex(form.entry(r, c)))
            )
        return self.tex(form)

    def matrix(self, rows: int, cols: int, entry: Callable[[int, int], str]) -> str:
        return matrix_tex(rows, cols, entry, self.fmt.row_gap)

    def idx(self, *parts: str) -> str:
        """An index list in the document's style: ``kij`` or ``k,i,j``."""
        if self.commas or any(len(p) > 1 for p in parts):
            return ",".join(parts)
        return "".join(parts)

    def step(self, kind: Kind, layer: int | None = None) -> Step:
        return self.d.step(StepId(kind, self.L if layer is None else layer))

    def sizes_text(self) -> str:
        return "-".join(str(n) for n in self.spec.sizes)

    def activation_name(self, k: int) -> str:
        act = self.spec.activation(k)
        return act.name if act.builtin else f"the custom activation {self.fmt.code(act.name)}"

    def g(self, k: int | str = "k") -> str:
        return "g" if self.spec.uniform_activation else f"g_{{{k}}}"

    def ranges(self, step: Step) -> str:
        """``$i = 1, 2$``, ``$j = 1$``, ``$i = 1, \\dots, 128$`` from the step's indices."""
        parts = []
        for index, n in step.indices:
            name = self.tex(index)
            values = ", ".join(str(v) for v in range(1, n + 1)) if n <= 3 else rf"1, \dots, {n}"
            parts.append(_math(f"{name} = {values}"))
        return " and ".join(parts)

    def row(self, step: Step, left: str, right: str, note: str, last: bool) -> Row:
        """A row of a display; the last row of a step carries its number and label."""
        if not last:
            return Row(left, right, note)
        return Row(
            left,
            right,
            note,
            label=self.fmt.label(step.key),
            anchor=self.fmt.anchor(step.key),
            number=step.number,
        )

    def placed(self, rows: list[Row]) -> tuple[Row, ...]:
        """Notes beside their rows where they fit, else (for the whole display, since the notes
        share one column) each on a line of its own below its row."""
        formulas = max(visible_width(r.left) + visible_width(r.right) for r in rows)
        notes = max(visible_width(rf"\text{{{r.note}}}") if r.note else 0.0 for r in rows)
        below = notes > 0 and formulas + notes + 2 + _NUMBER_EMS > self.line_ems
        return tuple(replace(r, note_below=below and bool(r.note)) for r in rows)

    def step_display(self, step: Step, notes: bool = True) -> Display:
        """``lhs = form_1 = form_2 ...`` as aligned rows, each with the rule that justifies it."""
        lhs = self.form(step.lhs)
        forms = [self.form(f) for f in step.forms]
        show_notes = len(forms) > 1
        rows = []
        for n, (form, rule) in enumerate(zip(forms, step.rules, strict=True)):
            note = self.rule_note(step, rule) if show_notes else ""
            left = lhs if n == 0 else ""
            rows.append(self.row(step, left, f"= {form}", note, n == len(forms) - 1))
        spread = any(isinstance(f, EntryMatrix) for f in step.forms)
        return Display(self.placed(rows), spread=spread)

    def rule_note(self, step: Step, rule: Rule) -> str:
        """The note beside a row: the rule, with a reference where it names another step."""
        if rule in (Rule.CHAIN_RULE, Rule.MATRIX_FORM) and step.kind.twin is not None:
            # a matrix whose entries are given by the elementwise step
            return f"by {self.fmt.note_ref(self.d.step(step.id.twin()))}"
        if rule is Rule.KRONECKER:  # in the index style of the document
            return rf"$\delta_{{{self.idx('i', 'j')}}}$ keeps the term $j = i$"
        if rule in (Rule.ROWS, Rule.BATCH_MEAN):
            other = self.d.step(step.id.per_sample())
            word = "rows of" if rule is Rule.ROWS else "mean of"
            return f"{word} {self.fmt.note_ref(other)}"
        return _RULE_NOTES[rule]

    def compact_rows(self, steps: Sequence[Step], like: Sequence[Step]) -> list[Row]:
        """Each step on one line as ``lhs = final``, numbered, with a note pointing to the same
        step of the layer written in full (``like``)."""
        rows = []
        for step, model in zip(steps, like, strict=True):
            note = f"as {self.fmt.note_ref(model)}" if model is not step else ""
            left, right = self.tex(step.lhs, inline=True), self.tex(step.final, inline=True)
            rows.append(self.row(step, left, f"= {right}", note, True))
        return rows

    # sections ----------------------------------------------------------------------------

    def build(self) -> Notes:
        pair = self.spec.pair
        hidden = self.L - 1
        if hidden == 0:
            hidden_text = "no hidden layer"
        else:
            names: list[str] = []
            for k in range(1, self.L):
                act = self.spec.activation(k)
                name = act.name if act.builtin else "custom"
                if name not in names:
                    names.append(name)
            plural = "s" if hidden > 1 else ""
            hidden_text = f"{hidden} hidden layer{plural} ({', '.join(names)})"
        subtitle = f"{hidden_text}, {pair.output.name} output, {pair.loss.display} loss"
        title = f"Backpropagation for a {self.sizes_text()} network"
        sections = [
            self.setup_section(),
            self.output_section(),
            self.hidden_section(),
            self.parameter_section(),
            self.summary_section(),
            *self.example_sections(),
            self.general_section(),
            self.batch_section(),
        ]
        checks = self.checks_section()
        if checks is not None:
            sections.append(checks)
        sections = self.fmt.resolve([self.format_cells(s) for s in sections])
        command = "symgrad {} " + " ".join(shlex.quote(a) for a in self.spec.command_args())
        return Notes(
            title=title,
            subtitle=subtitle,
            command=command + self.option_args(),
            intro=self.intro(),
            sections=tuple(sections),
            packages=FRAGMENT_PACKAGES,
        )

    def option_args(self) -> str:
        """The notes options that differ from the defaults, as they were given."""
        args = []
        if self.options.expand not in (None, self.L):
            args += ["--expand", str(self.options.expand)]
        if self.options.checks != NotesOptions.checks:
            args += ["--checks", self.options.checks]
        if self.options.label_prefix:
            args += ["--label-prefix", self.options.label_prefix]
        if self.options.example is not None:
            args += ["--example", str(self.options.example)]
        return "".join(" " + shlex.quote(a) for a in args)

    def format_cells(self, section: Section) -> Section:
        """Table cells made safe for the output format (Markdown: no bare ``|``)."""
        blocks = [
            replace(b, rows=tuple(tuple(self.fmt.cell(c) for c in row) for row in b.rows))
            if isinstance(b, Table)
            else b
            for b in section.blocks
        ]
        return replace(section, blocks=tuple(blocks))

    def intro(self) -> tuple[str, ...]:
        sizes = ", ".join(_math(f"n_{{{k}}} = {n}") for k, n in enumerate(self.spec.sizes))
        L = self.L
        first = (
            "These notes derive the gradient of the loss with respect to every weight and bias "
            f"of a feed-forward network with {L} layer{'s' if L > 1 else ''} of weights and layer "
            f"sizes {sizes}. We first fix the notation and the forward pass, then go backwards "
            "through the network as backpropagation does: the output layer, the hidden layers, "
            "and finally the parameters. The same steps then give backpropagation for any depth, "
            "and for a mini-batch of samples, the form that code computes."
        )
        return (first, self.checked_sentence())

    def checked_sentence(self) -> str:
        """One sentence for the students: how far to trust the equations, and where to look."""
        if self.d.proof is None:
            return (
                "The equations below were generated by symgrad but not checked (the proof was "
                "skipped). Indices start at 1."
            )
        where = ""
        if self.options.checks == "full":
            where = f"; {self.fmt.section_ref('checks', 'What was checked')} says how"
        elif self.options.checks == "appendix":
            where = f"; {self.fmt.appendix_ref('checks', 'How each equation was checked')} says how"
        return (
            "Every equation below was generated by computer algebra and checked: each step "
            f"against the one before it, and every partial against a direct derivative of the "
            f"loss{where}. Indices start at 1."
        )

    # setup ----------------------------------------------------------------------------------

    def setup_section(self) -> Section:
        blocks: list[Block] = [
            Heading("Notation"),
            self.notation_table(),
            Text(
                "The symbols of a mini-batch are listed with its equations, in "
                + self.fmt.section_ref("batch", "Mini-batches and the generated code")
                + "."
            ),
        ]
        blocks += [Heading("The network"), self.diagram(), self.shapes_table()]
        blocks += [Heading("The forward pass")]
        blocks += self.forward_blocks()
        return Section("Setup", self.fmt.section_label("setup"), tuple(blocks))

    def notation_table(self) -> Table:
        L = self.L
        k, i, j = "k", "i", "j"
        w_kij = f"W_{{{self.idx(k, i, j)}}}"
        b_ki = f"b_{{{self.idx(k, i)}}}"
        output = self.spec.pair.output
        rows: list[tuple[str, ...]] = [
            (_math(r"x = h_{0}"), "input", _math(r"\mathbb{R}^{n_{0}}")),
            (
                _math("W_{k}"),
                f"weights of layer {_math('k')}; {_math(w_kij)} connects "
                f"unit {_math('j')} of layer {_math('k-1')} to unit {_math('i')} of layer "
                f"{_math('k')}",
                _math(r"\mathbb{R}^{n_{k} \times n_{k-1}}"),
            ),
            (
                _math("b_{k}"),
                f"biases of layer {_math('k')}; {_math(b_ki)} belongs to unit {_math('i')}",
                _math(r"\mathbb{R}^{n_{k}}"),
            ),
            (
                _math("a_{k} = b_{k} + W_{k} h_{k-1}"),
                "pre-activation of layer " + _math("k"),
                _math(r"\mathbb{R}^{n_{k}}"),
            ),
        ]
        if L > 1:
            g = self.g()
            rows.append(
                (
                    _math(f"h_{{k}} = {g}(a_{{k}})"),
                    f"activation of hidden layer {_math('k')}: {_math(g)} acts on every entry",
                    _math(r"\mathbb{R}^{n_{k}}"),
                )
            )
            rows.append(
                (
                    _math(f"{g}'"),
                    f"the derivative of {_math(g)}; {_math(g + '(a_{k})')} and "
                    f"{_math(g + PRIME + '(a_{k})')} apply it entry by entry",
                    "",
                )
            )
        what = {
            "softmax": (
                rf"the softmax, $\hat{{y}}_{{i}} = e^{{a_{{{self.idx(str(L), 'i')}}}}} / "
                rf"\sum_{{j}} e^{{a_{{{self.idx(str(L), 'j')}}}}}$"
            ),
            "sigmoid": r"the sigmoid $\sigma(t) = 1 / (1 + e^{-t})$ of every entry",
            "identity": "the identity",
        }[output.name]
        rows += [
            (
                _math(rf"\hat{{y}} = O(a_{{{L}}})"),
                f"prediction; the output function {_math('O')} is {what}",
                _math(rf"\mathbb{{R}}^{{n_{{{L}}}}}"),
            ),
            (_math("y"), "target", _math(rf"\mathbb{{R}}^{{n_{{{L}}}}}")),
            (
                _math(r"\mathcal{L}"),
                f"per-sample loss, {self.spec.pair.loss.display}",
                "scalar",
            ),
            (
                _math(r"\nabla_{v} \mathcal{L}"),
                "gradient: the partials "
                + _math(r"\partial \mathcal{L} / \partial v_{i}")
                + ", shaped like "
                + _math("v"),
                "shape of " + _math("v"),
            ),
            (
                _math(r"u \odot v"),
                "elementwise product, " + _math(r"(u \odot v)_{i} = u_{i} v_{i}"),
                "",
            ),
            (_math(r"v^{\top}"), "transpose: a column vector becomes a row", ""),
            (_math(r"\mathbf{1}"), "a vector (or matrix) of ones, of the shape needed", ""),
        ]
        if any(a.derivative_at_kink is not None for a in self.spec.activations[: L - 1]):
            rows.append(
                (
                    _math(r"\mathbf{1}[P]"),
                    "indicator: 1 where the condition " + _math("P") + " holds, else 0",
                    "",
                )
            )
        if not output.diagonal:
            rows.append(
                (
                    _math(r"\delta_{" + self.idx(i, j) + "}"),
                    "Kronecker delta: 1 if " + _math("i = j") + ", else 0",
                    "",
                )
            )
        return Table(
            ("symbol", "meaning", "shape"),
            tuple(rows),
            r"@{}l >{\raggedright\arraybackslash}p{0.55\linewidth} l@{}",
            ("left", "left", "left"),
        )

    def shapes_table(self) -> Table:
        rows = []
        total = 0
        for k in range(1, self.L + 1):
            n, m = self.spec.sizes[k], self.spec.sizes[k - 1]
            total += n * (m + 1)
            if k < self.L:
                act = self.spec.activation(k)
                g = self.tex(act.shown_function)
                what = f"{act.name if act.builtin else 'custom'}, {_math('g(x) = ' + g)}"
            else:
                what = f"{self.spec.pair.output.name} output"
            rows.append(
                (
                    _math(str(k)),
                    _math(f"n_{{{k}}} = {n}"),
                    _math(rf"W_{{{k}}} \in \mathbb{{R}}^{{{n} \times {m}}}"),
                    _math(rf"b_{{{k}}} \in \mathbb{{R}}^{{{n}}}"),
                    what,
                    f"{n * (m + 1):,}",
                )
            )
        rows.append(("", "", "", "", "total", f"{total:,}"))
        return Table(
            ("layer", "units", "weights", "biases", "activation", "parameters"),
            tuple(rows),
            r"@{}clll>{\raggedright\arraybackslash}p{0.3\linewidth}r@{}",
            ("center", "left", "left", "left", "left", "right"),
            caption=(
                f"The input has {_math('n_{0} = ' + str(self.spec.sizes[0]))} units. "
                "Each layer and its parameters:"
            ),
        )

    #: The distance between the columns and between the units of the network's diagram (cm).
    diagram_spacing = 2.6
    diagram_step = 1.0

    def diagram(self) -> Diagram:
        sizes = self.spec.sizes
        L = self.L
        spacing = self.diagram_spacing
        step_y = self.diagram_step
        nodes: list[DiagramNode] = []
        edges: list[tuple[str, str]] = []
        captions: list[tuple[str, str, str]] = []
        weights: list[tuple[str, str, str]] = []
        columns: list[list[str]] = []
        lowest = 0.0
        for k, n in enumerate(sizes):
            shown = shown_indices(n)
            x = k * spacing
            top = (len(shown) - 1) * step_y / 2
            names = []
            for row, unit in enumerate(shown):
                y = top - row * step_y
                lowest = min(lowest, y)
                name = f"u{k}x{row}"
                if unit is None:
                    nodes.append(DiagramNode(name, f"{x:.2f}", f"{y:.2f}", r"\vdots", True))
                    continue
                if k == 0:
                    label = self.tex(nt.post(0, unit))
                elif k == L:
                    label = self.tex(nt.prediction(unit))
                else:
                    label = self.tex(nt.post(k, unit))
                nodes.append(DiagramNode(name, f"{x:.2f}", f"{y:.2f}", label, False))
                names.append(name)
            columns.append(names)
        for k in range(1, L + 1):
            edges += [(a, b) for a in columns[k - 1] for b in columns[k]]
        caption_y = lowest - 0.9
        for k, n in enumerate(sizes):
            what = "input" if k == 0 else ("output" if k == L else f"hidden {k}")
            text = rf"{what}\\$n_{{{k}}} = {n}$"
            captions.append((f"{k * spacing:.2f}", f"{caption_y:.2f}", text))
        top_y = (max(len(shown_indices(n)) for n in sizes) - 1) * step_y / 2 + 0.75
        for k in range(1, L + 1):
            weights.append(
                ((f"{(k - 0.5) * spacing:.2f}"), f"{top_y:.2f}", f"$W_{{{k}}}, b_{{{k}}}$")
            )
        wide = max(sizes) > MAX_SHOWN
        caption = (
            "The network. Every unit of a layer feeds every unit of the next; "
            + (f"wide layers show their first {_HEAD_WORD} and last units. " if wide else "")
            + f"{_math('W_{k}')} and {_math('b_{k}')} are the parameters between layers "
            f"{_math('k-1')} and {_math('k')}."
        )
        return Diagram(
            tuple(nodes),
            tuple(edges),
            tuple(captions),
            tuple(weights),
            scaled=L > DIAGRAM_FULL_LAYERS,
            mermaid=self.mermaid(),
            caption=caption,
        )

    def mermaid(self) -> tuple[str, ...]:
        sizes, L = self.spec.sizes, self.L
        lines = ["graph LR"]
        names = []
        for k, n in enumerate(sizes):
            if k == 0:
                text = f"input x: {n} units"
            elif k == L:
                text = f"output ŷ: {n} units, {self.spec.output}"
            else:
                act = self.spec.activation(k)
                text = f"hidden h{k}: {n} units, {act.name if act.builtin else 'custom g'}"
            names.append(f'L{k}["{text}"]')
        for k in range(1, L + 1):
            lines.append(f'  {names[k - 1]} -- "W{k}, b{k}" --> {names[k]}')
        return tuple(lines)

    def forward_blocks(self) -> list[Block]:
        L = self.L
        act_names = {self.activation_name(k) for k in range(1, L)}
        applies = (
            f", and each hidden layer applies {next(iter(act_names))} to every unit"
            if len(act_names) == 1
            else ", and hidden layer $k$ applies its activation $g_{k}$ to every unit"
            if act_names
            else ""
        )
        output = self.spec.pair.output.name
        blocks: list[Block] = [
            Text(
                "Each layer adds its biases to a weighted sum of the previous layer's "
                f"activations (the input is {_math('h_{0} = x')}){applies}; the output layer "
                f"applies the {output} to {_math('a_{' + str(L) + '}')}:"
            )
        ]
        ids = [i for i in forward_ids(self.net) if i.kind is not Kind.LOSS]
        groups = [
            tuple(self.compact_step(self.d.step(i), self.forward_notes(self.d.step(i))))
            for i in ids
        ]
        blocks += [Display(self.placed(list(rows))) for rows in _joined(groups, FORWARD_ROWS)]
        loss = self.step(Kind.LOSS)
        blocks.append(
            Text(
                f"The per-sample loss is the {self.spec.pair.loss.display} of the prediction "
                f"{_YHAT} and the target {_math('y')}:"
            )
        )
        blocks.append(self.step_display(loss, notes=False))
        for k, activation in enumerate(self.spec.activations[: L - 1], start=1):
            if activation.derivative_at_kink is not None and (
                k == 1 or self.spec.activations[k - 2].name != activation.name
            ):
                blocks.append(Text(self.kink_sentence(k)))
        blocks += self.written_out_blocks()
        return blocks

    def compact_step(self, step: Step, notes: Sequence[str]) -> list[Row]:
        """A step as compact as it prints (partials with a slash, sums with their limits beside
        them): on one line, ``lhs = form_1 = form_2``, when that fits; else a line a form.
        ``notes`` justify the forms; on one line they are joined."""
        lhs = self.tex(step.lhs, inline=True)
        forms = [self.tex(f, inline=True) for f in step.forms]
        line = "= " + " = ".join(forms)
        joined = "; ".join(n for n in notes if n)
        notes = [n or "" for n in notes]
        if (
            visible_width(lhs) + visible_width(line) + _NUMBER_EMS <= self.line_ems
            or len(forms) == 1
        ):
            return [self.row(step, lhs, line, joined, True)]
        return [
            self.row(step, lhs if n == 0 else "", f"= {form}", note, n == len(forms) - 1)
            for n, (form, note) in enumerate(zip(forms, notes, strict=True))
        ]

    def forward_notes(self, step: Step) -> list[str]:
        """The forward pass is made of definitions; an activation's row names its ``g``."""
        if step.kind is Kind.ACTIVATION:
            return ["", self.spec.activation(step.layer).display]
        return [""] * len(step.forms)

    def kink_sentence(self, k: int) -> str:
        """relu has no derivative at 0: the value used there, stated once."""
        act = self.spec.activation(k)
        value = self.tex(act.derivative_at_kink)
        return (
            f"The {act.name} has no derivative at {_math('0')}; these notes, like the generated "
            f"code and like PyTorch and JAX, use {_math(PRIME_AT_ZERO + value)}."
        )

    def forward_vector_rows(self, tags: bool = False) -> list[Row]:
        """``a_k = b_k + W_k h_{k-1}``, ``h_k = g(a_k)`` side by side, one layer a row."""
        rows = []
        for k in range(1, self.L + 1):
            prev = "x" if k == 1 else f"h_{{{k - 1}}}"
            forward = f"= b_{{{k}}} + W_{{{k}}} {prev}"
            if k < self.L:
                second = f"h_{{{k}}} = {self.g(k)}(a_{{{k}}})"
                ids = [StepId(Kind.FORWARD, k), StepId(Kind.ACTIVATION, k)]
            else:
                second = rf"\hat{{y}} = {self.spec.pair.output.latex}(a_{{{self.L}}})"
                ids = [StepId(Kind.FORWARD, k), StepId(Kind.PREDICTION, self.L)]
            tag = ", ".join(self.fmt.note_ref(self.d.step(i)) for i in ids) if tags else ""
            rows.append(Row(f"a_{{{k}}}", rf"{forward}, \qquad {second}", tag=tag))
        return rows

    def written_out_blocks(self) -> list[Block]:
        """The pre-activations ``a_{ki}`` written out (abbreviated for wide layers); for a deep
        network only those of the layer written in full."""
        layers = list(range(1, self.L + 1))
        if self.L > WRITTEN_OUT_LAYERS:
            layers = [self.expand]
        wide = any(
            self.spec.sizes[k] > MAX_SHOWN or self.spec.sizes[k - 1] > MAX_SHOWN for k in layers
        )
        which = "for this network" if len(layers) == self.L else f"for layer {layers[0]}"
        intro = (
            f"Written out {which}"
            + (
                f", showing the first {_HEAD_WORD} and the last units of wide layers"
                if wide
                else ""
            )
            + ", the pre-activations are:"
        )
        blocks: list[Block] = [Text(intro)]
        for k in layers:
            rows = []
            for i in shown_indices(self.spec.sizes[k]):
                if i is None:
                    rows.append(Row("", r"\;\;\vdots"))
                    continue
                terms = []
                for j in shown_indices(self.spec.sizes[k - 1]):
                    if j is None:
                        terms.append(r"\cdots")
                    else:
                        terms.append(
                            f"{self.tex(nt.weight(k, i, j))} {self.tex(nt.post(k - 1, j))}"
                        )
                right = " + ".join([self.tex(nt.bias(k, i)), *terms])
                rows.append(Row(self.tex(nt.pre(k, i)), f"= {right}"))
            blocks.append(Display(tuple(rows)))
        return blocks

    # backwards ------------------------------------------------------------------------------

    def output_section(self) -> Section:
        L = self.L
        slope, delta, vector = (
            self.step(Kind.LOSS_SLOPE),
            self.step(Kind.OUTPUT_DELTA),
            self.step(Kind.OUTPUT_DELTA_VECTOR),
        )
        blocks: list[Block] = [
            Text(
                "The loss depends on the parameters only through the prediction "
                f"{_YHAT}. Its partial with respect to each prediction is"
            ),
            self.step_display(slope),
        ]
        a_li, d_ij = self.idx(str(L), "i"), self.idx("i", "j")
        ai = _math(f"a_{{{a_li}}}")
        if self.net.diagonal_output:
            chain = (
                f"Each {_math(YHAT_I)} depends on {ai} alone, so the chain rule has a single "
                f"term, for {self.ranges(delta)}:"
            )
        else:
            jacobian = (
                rf"\partial \hat{{y}}_{{j}} / \partial a_{{{a_li}}} = "
                rf"\hat{{y}}_{{j}} (\delta_{{{d_ij}}} - \hat{{y}}_{{i}})"
            )
            chain = (
                f"The softmax makes every {_math(YHAT_J)} depend on every {ai}, so the "
                f"chain rule sums over {_math('j')}, with {_math(jacobian)}. For "
                f"{self.ranges(delta)}:"
            )
        blocks += [Text(chain), self.step_display(delta)]
        if self.net.assumes_targets_sum_to_one:
            blocks.append(
                Text(
                    f"The last step uses {_math(SUM_Y)}, which holds when "
                    f"{_math('y')} is a one-hot label or a probability distribution."
                )
            )
        blocks += [
            Text(f"For every {_math('i')} at once, with {self.fmt.ref(delta)} in matrix form:"),
            self.step_display(vector, notes=False),
        ]
        return Section("The output layer", self.fmt.section_label("output"), tuple(blocks))

    def hidden_steps(self, k: int) -> list[Step]:
        return [
            self.step(kind, k)
            for kind in (
                Kind.HIDDEN_GRAD,
                Kind.HIDDEN_GRAD_VECTOR,
                Kind.HIDDEN_DELTA,
                Kind.HIDDEN_DELTA_VECTOR,
            )
        ]

    def hidden_section(self) -> Section:
        title, label = "The hidden layers", self.fmt.section_label("hidden")
        if self.L == 1:
            text = (
                "This network has no hidden layer: the output layer reads the input "
                f"{_math('x')} directly, so the parameters follow from "
                f"{self.fmt.ref(self.step(Kind.OUTPUT_DELTA_VECTOR))} alone."
            )
            return Section(title, label, (Text(text),))
        K = self.expand_hidden
        h_kj = f"h_{{{self.idx('k', 'j')}}}"
        a_next = f"a_{{{self.idx('k+1', 'i')}}}"
        w_next = f"W_{{{self.idx('k+1', 'i', 'j')}}}"
        blocks: list[Block] = [
            Text(
                "Going backwards, each hidden layer receives the gradient of the layer above "
                f"it. A unit's activation {_math(h_kj)} reaches the loss "
                f"through every pre-activation {_math(a_next)} of the "
                "next layer, and " + _math(rf"\partial {a_next} / \partial {h_kj} = {w_next}") + "."
            )
        ]
        full = self.hidden_steps(K)
        compact_before = [k for k in self.net.hidden_layers() if k > K]
        if compact_before:
            blocks += self.compact_hidden(compact_before, full, before=True)
        grad, grad_v, delta, delta_v = full
        h_Kj, a_Kj = f"h_{{{self.idx(str(K), 'j')}}}", f"a_{{{self.idx(str(K), 'j')}}}"
        blocks += [
            Heading(f"Hidden layer {K}" + (" in full" if self.L > 2 else "")),
            Text(f"For {self.ranges(grad)}:"),
            self.step_display(grad),
            Text(f"In matrix form, {self.fmt.ref(grad)} is"),
            self.step_display(grad_v, notes=False),
            Text(
                f"The activation acts unit by unit, so {_math(h_Kj)} "
                f"depends on {_math(a_Kj)} alone:"
            ),
            self.step_display(delta),
            Text(
                f"and in matrix form, with {_ODOT} the elementwise product, "
                f"{self.fmt.ref(delta)} is"
            ),
            self.step_display(delta_v, notes=False),
        ]
        compact_after = [k for k in self.net.hidden_layers() if k < K]
        if compact_after:
            blocks += self.compact_hidden(compact_after, full, before=False)
        return Section(title, label, tuple(blocks))

    def compact_hidden(self, layers: list[int], full: list[Step], before: bool) -> list[Block]:
        """Hidden layers stated compactly, each step pointing to the layer written in full."""
        K = self.expand_hidden
        where = "below" if before else "above"
        which = f"layer {layers[0]}" if len(layers) == 1 else f"layers {_span(layers)}"
        blocks: list[Block] = [
            Heading(f"Hidden {which}"),
            Text(
                f"The same steps as for layer {K}, written in full {where} in "
                f"{self.fmt.ref(full[0])} to {self.fmt.ref(full[-1])}, give for hidden "
                f"{which}, with {_math('j')} running over the units of each:"
            ),
        ]
        groups = [self.placed(self.compact_rows(self.hidden_steps(k), full)) for k in layers]
        blocks += [Display(rows) for rows in _joined(groups, LAYER_ROWS)]
        return blocks

    def parameter_steps(self, k: int) -> list[Step]:
        return [
            self.step(kind, k)
            for kind in (Kind.WEIGHT, Kind.WEIGHT_MATRIX, Kind.BIAS, Kind.BIAS_VECTOR)
        ]

    def parameter_section(self) -> Section:
        title, label = "The parameters", self.fmt.section_label("parameters")
        a_ki = f"a_{{{self.idx('k', 'i')}}}"
        w_kij = f"W_{{{self.idx('k', 'i', 'j')}}}"
        b_ki = f"b_{{{self.idx('k', 'i')}}}"
        h_prev = f"h_{{{self.idx('k-1', 'j')}}}"
        blocks: list[Block] = [
            Text(
                f"With the gradient {_math(GRAD_A_K)} of every layer "
                "known, the parameters follow. Since "
                + _math(rf"{a_ki} = {b_ki} + \sum_{{j}} {w_kij} {h_prev}")
                + ", "
                + _math(rf"\partial {a_ki} / \partial {w_kij} = {h_prev}")
                + " and "
                + _math(rf"\partial {a_ki} / \partial {b_ki} = 1")
                + "."
            )
        ]
        K = self.expand
        full = self.parameter_steps(K)
        before = [k for k in self.net.layers_backward() if k > K]
        after = [k for k in self.net.layers_backward() if k < K]
        if before:
            blocks += self.compact_parameters(before, full, before=True)
        blocks += self.full_parameters(K)
        if after:
            blocks += self.compact_parameters(after, full, before=False)
        return Section(title, label, tuple(blocks))

    def full_parameters(self, k: int) -> list[Block]:
        weight, matrix, bias, bias_v = self.parameter_steps(k)
        n, m = self.spec.sizes[k], self.spec.sizes[k - 1]
        prev = "x" if k == 1 else f"h_{{{k - 1}}}"
        grad_a = rf"\nabla_{{a_{{{k}}}}} \mathcal{{L}}"
        shown = (
            f" (its first {_HEAD_WORD} and last rows and columns shown)"
            if max(n, m) > MAX_SHOWN
            else ""
        )
        return [
            Heading(f"Layer {k}: weights and biases" + (" in full" if self.L > 1 else "")),
            Text(f"For {self.ranges(weight)}:"),
            self.step_display(weight),
            Text(
                f"As {_math('W_{' + str(k) + '}')} is a matrix with {_math(_times(n, m))} entries, "
                f"the gradient collects these partials in a matrix of the same shape{shown}. "
                f"Applying {self.fmt.ref(weight)} to every entry shows that it is the outer "
                f"product of {_math(grad_a)} and {_math(prev)}:"
            ),
            self.weight_matrix_display(matrix, k),
            Text(f"The biases: for {self.ranges(bias)},"),
            self.step_display(bias),
            Text("so the bias gradient is the gradient of the pre-activation itself:"),
            self.step_display(bias_v, notes=False),
        ]

    def compact_parameters(self, layers: list[int], full: list[Step], before: bool) -> list[Block]:
        where = "below" if before else "above"
        which = f"layer {layers[0]}" if len(layers) == 1 else f"layers {_span(layers)}"
        blocks: list[Block] = [
            Heading(f"Weights and biases of {which}"),
            Text(
                f"The same steps as for layer {self.expand}, written in full {where} in "
                f"{self.fmt.ref(full[0])} to {self.fmt.ref(full[-1])}, give for {which}:"
            ),
        ]
        groups = [self.placed(self.compact_rows(self.parameter_steps(k), full)) for k in layers]
        blocks += [Display(rows) for rows in _joined(groups, LAYER_ROWS)]
        return blocks

    def weight_matrix_display(self, step: Step, k: int) -> Display:
        """``grad_{W_k} L`` = partials = formula applied = column times row = outer product."""
        entries, applied, outer = step.forms
        assert isinstance(entries, EntryMatrix) and isinstance(applied, EntryMatrix)
        n, m = entries.shape
        column = self.matrix(n, 1, lambda r, c: _display_style(self.tex(nt.partial(nt.pre(k, r)))))
        row = self.matrix(1, m, lambda r, c: self.tex(nt.post(k - 1, c)))
        by = f"by {self.fmt.note_ref(self.step(Kind.WEIGHT, k))}"
        rows = [
            Row(self.form(step.lhs), f"= {self.form(entries)}", "entries"),
            Row("", f"= {self.form(applied)}", by),
            Row("", f"= {column} {row}", "a column times a row"),
            self.row(step, "", f"= {self.form(outer)}", "outer product", True),
        ]
        return Display(self.placed(rows), spread=True)

    # summary, any depth, mini-batch -----------------------------------------------------------

    def summary_section(self) -> Section:
        forward = Display(tuple(self.forward_vector_rows(tags=True)), kind="summary")
        # One row a layer: its matrix steps of one stage (a hidden layer's two, a layer's
        # parameters), in the network's backward order.
        pairs: list[list[StepId]] = []
        for id in backward_ids(self.net):
            if pairs and (pairs[-1][0].kind.stage, pairs[-1][0].layer) == (id.kind.stage, id.layer):
                pairs[-1].append(id)
            else:
                pairs.append([id])
        rows = []
        for ids in pairs:
            steps = [self.d.step(i) for i in ids]
            first, rest = steps[0], steps[1:]
            right = f"= {self.form(first.final)}" + "".join(
                rf", \qquad {self.form(s.lhs)} = {self.form(s.final)}" for s in rest
            )
            tag = ", ".join(self.fmt.note_ref(s) for s in steps)
            if visible_width(self.form(first.lhs) + right) + 6 <= self.line_ems:
                rows.append(Row(self.form(first.lhs), right, tag=tag))
                continue
            for step in steps:  # too wide for one line: a line each
                rows.append(
                    Row(
                        self.form(step.lhs),
                        f"= {self.form(step.final)}",
                        tag=self.fmt.note_ref(step),
                    )
                )
        blocks: list[Block] = [
            Text(
                f"For one sample {_math('(x, y)')}, backpropagation computes the forward pass "
                "and keeps every activation,"
            ),
            forward,
            Text(
                "then walks backwards from the output, each gradient computed from the one "
                "before it, and finally the gradient of every parameter. The references are "
                "to the equations derived above."
            ),
        ]
        blocks += [Display(chunk, kind="summary") for chunk in _chunks(rows, SUMMARY_ROWS)]
        # The graph with symbols goes with the worked example, whose numbers it shows again;
        # without one the notes keep their length.
        graph = self.graph(None, "") if self.example is not None else None
        if graph is not None:
            blocks.append(graph)
        title = "Summary: backpropagation for this network"
        return Section(title, self.fmt.section_label("summary"), tuple(blocks))

    def graph(self, example: WorkedExample | None, intro: str) -> Graph | None:
        """The computational graph with symbols, or the numbers of ``example``, after the
        paragraph ``intro``; None for a network too deep to draw it."""
        if self.L > GRAPH_MAX_LAYERS:
            return None
        caption = graph_caption(self.fmt.latex, example is not None)
        return computational_graph(self.net, example, caption, self.fmt.cell, intro)

    def example_sections(self) -> list[Section]:
        """The worked example of ``--example``, after the summary of this network."""
        if self.example is None:
            return []
        return [ExampleSection(self, self.example).section()]

    def general_section(self) -> Section:
        """The algorithm for any depth, BP1-BP4 style, each equation with its shape."""
        L = self.L
        delta_L = self.tex(self.step(Kind.OUTPUT_DELTA_VECTOR).final)
        g = self.g("k")
        note_sum = ", with $\\sum_{i} y_{i} = 1$" if self.net.assumes_targets_sum_to_one else ""
        rows = (
            Row(
                r"\nabla_{a_{L}} \mathcal{L}",
                f"= {delta_L}",
                _math(r"n_{L} \times 1") + note_sum,
                tag="BP1",
                label=self.fmt.label("bp1"),
            ),
            Row(
                r"\nabla_{a_{k}} \mathcal{L}",
                rf"= \left(W_{{k+1}}^{{\top}} \nabla_{{a_{{k+1}}}} \mathcal{{L}}\right) "
                rf"\odot {g}'(a_{{k}})",
                _math(r"n_{k} \times 1"),
                tag="BP2",
                label=self.fmt.label("bp2"),
            ),
            Row(
                r"\nabla_{W_{k}} \mathcal{L}",
                r"= \left(\nabla_{a_{k}} \mathcal{L}\right) h_{k-1}^{\top}",
                _math(r"n_{k} \times n_{k-1}"),
                tag="BP3",
                label=self.fmt.label("bp3"),
            ),
            Row(
                r"\nabla_{b_{k}} \mathcal{L}",
                r"= \nabla_{a_{k}} \mathcal{L}",
                _math(r"n_{k} \times 1"),
                tag="BP4",
                label=self.fmt.label("bp4"),
            ),
        )
        refs = self.general_refs()
        blocks: list[Block] = [
            Text(
                "Nothing in the steps above depends on the sizes of this network except the "
                "ranges of the indices. For any feed-forward network with "
                f"{_math('L')} layers (with {_math('h_{0} = x')} and the same output and loss), "
                "the gradient of the per-sample loss is given by four equations, each shown "
                "with the shape of its result:"
            ),
            Display(rows, kind="general"),
            Text(
                "{bp1} is the output layer; {bp2} joins the two steps of a hidden layer, "
                + _math(r"\nabla_{h_{k}} \mathcal{L} = W_{k+1}^{\top} \nabla_{a_{k+1}} \mathcal{L}")
                + " and the elementwise product with "
                + _math(g + PRIME + "(a_{k})")
                + "; {bp3} and {bp4} "
                f"give the parameters. For this network they are {refs}. The shapes check "
                + "each product: "
                + _math(r"W_{k+1}^{\top}")
                + " is "
                + _math(r"n_{k} \times n_{k+1}")
                + ", "
                f"so it takes the {_math('n_{k+1}')} entries of "
                + _math(r"\nabla_{a_{k+1}} \mathcal{L}")
                + f" back to the {_math('n_{k}')} units "
                "of layer "
                + _math("k")
                + "; a column times a row, "
                + _math(r"(n_{k} \times 1)(1 \times n_{k-1})")
                + ", has the shape of "
                + _math("W_{k}")
                + "."
            ),
            Text("As an algorithm, for one sample:"),
            Steps(
                (
                    "Forward: for "
                    + _math(r"k = 1, \dots, L")
                    + ", compute "
                    + _math(r"a_{k} = b_{k} + W_{k} h_{k-1}")
                    + " and "
                    + _math(f"h_{{k}} = {g}(a_{{k}})")
                    + " (at the last layer "
                    + _math(r"\hat{y} = O(a_{L})")
                    + "); keep every "
                    + _math("a_{k}")
                    + " and "
                    + _math("h_{k}")
                    + ".",
                    "Output: " + _math(r"\nabla_{a_{L}} \mathcal{L}") + " by {bp1}.",
                    "Backward: for "
                    + _math(r"k = L, \dots, 1")
                    + ", the parameter gradients by {bp3} and {bp4}; then, if "
                    + _math("k > 1")
                    + ", "
                    + _math(r"\nabla_{a_{k-1}} \mathcal{L}")
                    + " by {bp2}, which needs "
                    + _math(r"\nabla_{a_{k}} \mathcal{L}")
                    + " and "
                    + _math("W_{k}")
                    + " only.",
                )
            ),
            Text(
                "Each gradient is used as soon as it is known, so the backward pass costs about "
                "as much as the forward pass: one product with every weight matrix."
            ),
        ]
        del L
        tokens = {f"{{bp{n}}}": self.bp_ref(n) for n in range(1, 5)}

        def fill(text: str) -> str:
            for token, ref in tokens.items():
                text = text.replace(token, ref)
            return text

        blocks = [
            replace(b, text=fill(b.text))
            if isinstance(b, Text)
            else replace(b, items=tuple(fill(i) for i in b.items))
            if isinstance(b, Steps)
            else b
            for b in blocks
        ]
        title = "Backpropagation for any depth"
        return Section(title, self.fmt.section_label("general"), tuple(blocks))

    def general_refs(self) -> str:
        """Where (BP1)-(BP4) are in this network, the first and last layer of each."""
        ref = self.fmt.ref

        def span(kind: Kind, layers: list[int], other: Kind | None = None) -> str:
            def at(k: int) -> str:
                text = ref(self.step(kind, k))
                return f"{text} with {ref(self.step(other, k))}" if other else text

            if len(layers) == 1:
                return at(layers[0])
            if len(layers) == 2:
                return f"{at(layers[0])} and {at(layers[1])}"
            return f"{at(layers[0])} and so on down to {at(layers[-1])}"

        layers = list(self.net.layers_backward())
        hidden = list(self.net.hidden_layers())
        bp = self.bp_ref
        parts = [f"{ref(self.step(Kind.OUTPUT_DELTA_VECTOR))} for {bp(1)}"]
        if hidden:
            parts.append(
                span(Kind.HIDDEN_GRAD_VECTOR, hidden, Kind.HIDDEN_DELTA_VECTOR) + f" for {bp(2)}"
            )
        parts.append(span(Kind.WEIGHT_MATRIX, layers) + f" for {bp(3)}")
        parts.append(span(Kind.BIAS_VECTOR, layers) + f" for {bp(4)}")
        return "; ".join(parts)

    def bp_ref(self, n: int) -> str:
        """A reference to (BP1)-(BP4): ``\\eqref`` in LaTeX, the tag itself in Markdown."""
        return self.fmt.ref_label(f"bp{n}", f"(BP{n})")

    def batch_section(self) -> Section:
        L = self.L
        n0, nL = "n_{0}", f"n_{{{L}}}"
        table = Table(
            ("symbol", "meaning", "shape"),
            (
                (_math("B"), "the number of samples in the batch", ""),
                (
                    _math(r"X, \; Y, \; \hat{Y}"),
                    "inputs, targets and predictions, one row per sample: row "
                    + _math("s")
                    + " of "
                    + _math("X")
                    + " is "
                    + _math(r"x^{(s)\top}"),
                    _math(_times("B", n0)) + ", " + _math(_times("B", nL)),
                ),
                (
                    _math("A_{k}, \\; H_{k}"),
                    "pre-activations and activations of layer "
                    + _math("k")
                    + ", row "
                    + _math("s")
                    + " is "
                    + _math(r"a_{k}^{(s)\top}")
                    + ", "
                    + _math(r"h_{k}^{(s)\top}")
                    + " (and "
                    + _math("H_{0} = X")
                    + ")",
                    _math(_times("B", "n_{k}")),
                ),
                (
                    _math(r"\mathcal{L}^{(s)}, \; \bar{\mathcal{L}}"),
                    "the loss of sample " + _math("s") + "; the loss of the batch, their mean",
                    "scalars",
                ),
                (
                    _math(r"\Delta_{k} = \nabla_{A_{k}} \bar{\mathcal{L}}"),
                    "row "
                    + _math("s")
                    + " is "
                    + _math(r"\frac{1}{B} (\nabla_{a_{k}} \mathcal{L}^{(s)})^{\top}"),
                    _math(_times("B", "n_{k}")),
                ),
                (
                    _math(r"G_{k} = \nabla_{H_{k}} \bar{\mathcal{L}}"),
                    "row "
                    + _math("s")
                    + " is "
                    + _math(r"\frac{1}{B} (\nabla_{h_{k}} \mathcal{L}^{(s)})^{\top}"),
                    _math(_times("B", "n_{k}")),
                ),
                (
                    _math(r"\mathbf{1}"),
                    "a column of "
                    + _math("B")
                    + " ones: "
                    + _math(r"\mathbf{1} b_{k}^{\top}")
                    + " repeats "
                    + _math(r"b_{k}^{\top}")
                    + " in every row, "
                    + _math(r"\Delta_{k}^{\top} \mathbf{1}")
                    + " sums the rows of "
                    + _math(r"\Delta_{k}"),
                    _math(_times("B", "1")),
                ),
            ),
            r"@{}l >{\raggedright\arraybackslash}p{0.55\linewidth} l@{}",
            ("left", "left", "left"),
        )
        blocks: list[Block] = [
            Text(
                "Code trains on a batch of " + _math("B") + " samples at once and stores each "
                "sample as a row, as NumPy and the deep-learning libraries do: the column "
                "vectors of the notes become the rows of matrices. The loss of a batch is the "
                "mean of the per-sample losses, so each of its gradients is the mean of the "
                "per-sample gradients. The symbols:"
            ),
            table,
            Text(
                "Transposing "
                + _math(r"a_{k} = b_{k} + W_{k} h_{k-1}")
                + " gives "
                + _math(r"a_{k}^{\top} = h_{k-1}^{\top} W_{k}^{\top} + b_{k}^{\top}")
                + ", one row of "
                + _math("A_{k}")
                + "; stacking the rows of all samples "
                "gives the forward pass of the batch, and the mean loss:"
            ),
        ]
        ids = [s.id for s in self.d.stage(Stage.BATCH)]
        forward = [self.d.step(i) for i in ids if i.kind in _BATCH_FORWARD]
        backward = [self.d.step(i) for i in ids if i.kind not in _BATCH_FORWARD]
        blocks.append(Display(self.placed(self.batch_rows(forward))))
        blocks.append(
            Text(
                "Since "
                + _math(r"\bar{\mathcal{L}} = \frac{1}{B} \sum_{s} \mathcal{L}^{(s)}")
                + " and sample "
                + _math("s")
                + " moves only "
                + _math(r"\mathcal{L}^{(s)}")
                + ", row "
                + _math("s")
                + " of "
                + _math(r"\Delta_{k}")
                + " is "
                + _math(r"\frac{1}{B} (\nabla_{a_{k}} \mathcal{L}^{(s)})^{\top}")
                + ": each per-sample equation, transposed, gives one row. The parameter "
                "gradients add up the rows,"
            )
        )
        blocks.append(
            Display(
                (
                    Row(
                        "",
                        r"\frac{1}{B} \sum_{s=1}^{B} \nabla_{a_{k}} \mathcal{L}^{(s)} "
                        r"h_{k-1}^{(s)\top} = \Delta_{k}^{\top} H_{k-1},",
                    ),
                )
            )
        )
        blocks.append(Text("Layer by layer, backwards:"))
        layer_rows: list[list[Step]] = []
        for step in backward:
            starts = step.kind in (Kind.BATCH_OUTPUT_DELTA, Kind.BATCH_HIDDEN_GRAD)
            if starts or not layer_rows:
                layer_rows.append([])
            layer_rows[-1].append(step)
        groups = [self.placed(self.batch_rows(group)) for group in layer_rows]
        blocks += [Display(rows) for rows in _joined(groups, LAYER_ROWS)]
        blocks.append(
            Text(
                "These are the equations the generated code implements, in this order (the "
                "vectorized style of "
                + self.fmt.code("symgrad codegen")
                + "): each statement carries the number of its equation in a comment. Its "
                "arrays have the shapes above, and its parameters those of the notes: "
                + self.fmt.code('params["W1"]')
                + " is "
                + _math(_times("n_{1}", "n_{0}"))
                + ", so the weights enter as "
                + _math(r"W_{k}^{\top}")
                + "."
            )
        )
        title = "Mini-batches and the generated code"
        return Section(title, self.fmt.section_label("batch"), tuple(blocks))

    def batch_rows(self, steps: Iterable[Step]) -> list[Row]:
        """Each mini-batch step on one line where it fits, justified by the per-sample step it
        stacks (``rows of (12)``): that step has the same forms, each justified there."""
        rows: list[Row] = []
        for step in steps:
            notes = [self.rule_note(step, step.rules[0])] + [""] * (len(step.forms) - 1)
            if len(self.compact_step(step, notes)) > 1:
                notes = [self.rule_note(step, r) for r in step.rules]
            rows += self.compact_step(step, notes)
        return rows

    # what was checked -------------------------------------------------------------------------

    def checks_section(self) -> Section | None:
        mode = self.options.checks
        if mode == "none":
            return None
        label = self.fmt.section_label("checks")
        blocks: list[Block] = [Text(s) for s in wording.proof_text(self.d.proof, self.fmt)]
        if self.d.proof is None:
            return Section("What was checked", label, tuple(blocks))
        if mode == "full":
            rows = tuple(
                (
                    self.fmt.ref(s),
                    _math(self.tex(s.lhs, inline=True))
                    if not isinstance(s.lhs, EntryMatrix)
                    else "",
                    wording.check_text(s.check, self.fmt),
                )
                for s in self.d
            )
            header = ("eq.", "quantity", "how it was checked")
            spec = r"@{}rl>{\raggedright\arraybackslash}p{0.62\linewidth}@{}"
            title = "What was checked"
        else:
            rows = tuple(self.grouped_check_rows())
            header = ("equations", "quantity", "how it was checked")
            spec = (
                r"@{}>{\raggedright\arraybackslash}p{0.22\linewidth}l"
                r">{\raggedright\arraybackslash}p{0.5\linewidth}@{}"
            )
            title = "How each equation was checked"
        blocks.append(Table(header, rows, spec, ("left", "left", "left"), breakable=True))
        return Section(title, label, tuple(blocks), appendix=mode == "appendix")

    def grouped_check_rows(self) -> Iterable[tuple[str, str, str]]:
        """One row per kind of step: its equations, the quantity with a generic layer ``k``,
        and how they were checked (the largest error of them all)."""
        kinds: list[Kind] = []
        for step in self.d:
            if step.kind not in kinds:
                kinds.append(step.kind)
        for kind in kinds:
            steps = [s for s in self.d if s.kind is kind]
            checks: list[Check | None] = [s.check for s in steps]
            refs = _ranges([(s.number, self.fmt.ref(s)) for s in steps], self.fmt.ellipsis)
            yield (
                refs,
                _math(self.generic_lhs(steps[0])),
                wording.check_group_text(checks, self.fmt),
            )

    def generic_lhs(self, step: Step) -> str:
        """The quantity of a step with its layer written ``k``: ``dL/dW_{kij}``."""
        kind = step.kind
        if not kind.per_layer:
            return self.tex(step.lhs, inline=True)
        k = sp.Symbol("k", integer=True, positive=True)
        elementwise: dict[Kind, sp.Expr] = {
            Kind.FORWARD: nt.pre(k, nt.I),
            Kind.ACTIVATION: nt.post(k, nt.J),
            Kind.HIDDEN_GRAD: nt.partial(nt.post(k, nt.J)),
            Kind.HIDDEN_DELTA: nt.partial(nt.pre(k, nt.J)),
            Kind.WEIGHT: nt.partial(nt.weight(k, nt.I, nt.J)),
            Kind.BIAS: nt.partial(nt.bias(k, nt.I)),
        }
        if kind in elementwise:
            return self.tex(elementwise[kind], inline=True)
        return _GENERIC_MATRICES[kind]


#: The mini-batch forward pass (the rest of the batch steps go backwards).
_BATCH_FORWARD = frozenset(
    {Kind.BATCH_FORWARD, Kind.BATCH_ACTIVATION, Kind.BATCH_PREDICTION, Kind.BATCH_LOSS}
)

_GENERIC_MATRICES = {
    Kind.HIDDEN_GRAD_VECTOR: r"\nabla_{h_{k}} \mathcal{L}",
    Kind.HIDDEN_DELTA_VECTOR: r"\nabla_{a_{k}} \mathcal{L}",
    Kind.WEIGHT_MATRIX: r"\nabla_{W_{k}} \mathcal{L}",
    Kind.BIAS_VECTOR: r"\nabla_{b_{k}} \mathcal{L}",
    Kind.BATCH_FORWARD: "A_{k}",
    Kind.BATCH_ACTIVATION: "H_{k}",
    Kind.BATCH_WEIGHT: r"\nabla_{W_{k}} \bar{\mathcal{L}}",
    Kind.BATCH_BIAS: r"\nabla_{b_{k}} \bar{\mathcal{L}}",
    Kind.BATCH_HIDDEN_GRAD: "G_{k}",
    Kind.BATCH_HIDDEN_DELTA: r"\Delta_{k}",
}

#: "three", for "the first three rows": how many an abbreviated matrix shows first.
_HEAD_WORD = "three"


def _display_style(entry: str) -> str:
    """Partials in a matrix at full size (``\\dfrac``), as they are written by hand."""
    return entry.replace(r"\frac{", r"\dfrac{")


def _span(layers: list[int]) -> str:
    """``3 and 2``, ``5 to 2`` for layers counted down one by one."""
    if len(layers) == 2:
        return f"{layers[0]} and {layers[1]}"
    return f"{layers[0]} to {layers[-1]}"


def _listing(items: list[str]) -> str:
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _ranges(numbered: list[tuple[int, str]], ellipsis: str) -> str:
    """References with runs of consecutive numbers joined: ``(1)-(3), (7)``; a long list
    keeps its first two and its last."""
    if len(numbered) > 3 and all(
        b[0] - a[0] > 1 for a, b in zip(numbered, numbered[1:], strict=False)
    ):
        return f"{numbered[0][1]}, {numbered[1][1]}, {ellipsis} {numbered[-1][1]}"
    groups: list[list[tuple[int, str]]] = []
    for number, ref in numbered:
        if groups and number == groups[-1][-1][0] + 1:
            groups[-1].append((number, ref))
        else:
            groups.append([(number, ref)])
    parts = [
        g[0][1]
        if len(g) == 1
        else (f"{g[0][1]}, {g[1][1]}" if len(g) == 2 else f"{g[0][1]}--{g[-1][1]}")
        for g in groups
    ]
    return ", ".join(parts)


def _joined(groups: list[tuple[Row, ...]], size: int) -> list[tuple[Row, ...]]:
    """Groups of rows (one layer each) joined into displays of at most ``size`` rows; a group
    is never split, so a layer stays in one piece on one page."""
    joined: list[tuple[Row, ...]] = []
    for group in groups:
        if joined and len(joined[-1]) + len(group) <= size:
            joined[-1] = joined[-1] + group
        else:
            joined.append(group)
    return joined


def _chunks(rows: list[Row], size: int) -> list[tuple[Row, ...]]:
    """``rows`` in displays of at most ``size`` rows, as even as possible."""
    count = max(1, -(-len(rows) // size))
    per = -(-len(rows) // count)
    return [tuple(rows[n : n + per]) for n in range(0, len(rows), per)]


# Public API -------------------------------------------------------------------------------------


def build_notes(
    derivation: Derivation,
    markdown: bool = False,
    options: NotesOptions | None = None,
    fragment: bool = False,
) -> Notes:
    """The strings the templates insert, for LaTeX or (``markdown=True``) Markdown."""
    resolved = (options or NotesOptions()).resolved(derivation.spec.depth)
    fmt_class = _MarkdownFormat if markdown else _Format
    fmt = fmt_class(derivation, resolved.label_prefix, fragment)
    example = None
    if resolved.example is not None:
        check_example(derivation.spec, resolved.example)
        example = worked_example(derivation, resolved.example)
    return _Builder(derivation, fmt, resolved, example).build()


def render_latex(
    derivation: Derivation, fragment: bool = False, options: NotesOptions | None = None
) -> str:
    """The notes as a standalone LaTeX document, or (``fragment=True``) a body to ``\\input``."""
    notes = build_notes(derivation, options=options, fragment=fragment)
    template = "latex/fragment.tex.jinja" if fragment else "latex/document.tex.jinja"
    command = notes.command.replace("{}", "latex" + (" --fragment" if fragment else ""))
    return render(template, notes=notes, command=command, fragment=fragment)


def render_markdown(derivation: Derivation, options: NotesOptions | None = None) -> str:
    """The notes as Obsidian-flavoured Markdown: front matter, ``$$`` displays, ``$`` inline,
    equation references as links to block ids."""
    notes = build_notes(derivation, markdown=True, options=options)
    command = notes.command.replace("{}", "markdown")
    return render("markdown/derivation.md.jinja", notes=notes, command=command)


def render_fragment_for_jupyter(derivation: Derivation) -> str:
    """Every step as a numbered ``$$`` display, for Jupyter's LaTeX (MathJax) output."""
    options = NotesOptions().resolved(derivation.spec.depth)
    builder = _Builder(derivation, _MarkdownFormat(derivation, ""), options)
    displays = []
    for step in derivation:
        if step.kind is Kind.WEIGHT_MATRIX:
            displays.append(builder.weight_matrix_display(step, step.layer))
        else:
            displays.append(builder.step_display(step))
    return render("markdown/_jupyter.md.jinja", displays=displays)


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
