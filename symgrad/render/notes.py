"""Lecture notes: the derivation as a LaTeX document, a LaTeX fragment, or Obsidian Markdown.

A renderer at the end of the pipeline (spec -> model -> derivation -> **notes** -> cli). This module
turns a :class:`~symgrad.derivation.Derivation` into plain strings (printed equations, prose,
table cells, diagram coordinates) and hands them to the Jinja2 templates in
``templates/latex`` and ``templates/markdown``, which only loop and insert. Equations are the
steps of the derivation, in order, numbered by :attr:`Step.number`, so the notes, the
terminal printout and the comments of generated code cite the same numbers.

Large networks stay small on paper: matrices show their first rows and columns, then
``\\cdots``, ``\\vdots``, ``\\ddots`` and the last ones, and :class:`EntryMatrix` entries are
built only where they are shown, so ``symgrad latex 784 128 10`` is as quick as 3-3-2.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import sympy as sp

from symgrad import notation as nt
from symgrad.derivation import (
    Derivation,
    EntryMatrix,
    Form,
    Kind,
    Rule,
    Stage,
    Step,
    StepId,
    backward_pass,
    hidden_layers_backward,
    layers_backward,
)
from symgrad.printing import NotesLatexPrinter
from symgrad.render import wording
from symgrad.render.templating import render, tex_escape

#: Rows or columns up to this many are shown in full; beyond it, abbreviated.
MAX_SHOWN = 6
#: How many leading rows or columns an abbreviated matrix shows before the ellipsis.
HEAD = 3
#: Layers of the diagram up to this many are drawn at full size; deeper ones are scaled down.
DIAGRAM_FULL_LAYERS = 6

#: LaTeX packages the fragment needs (stated in its top comment); the document loads them too.
FRAGMENT_PACKAGES = ("amsmath", "amssymb", "booktabs", "longtable", "tikz", "graphicx")


# Printing -----------------------------------------------------------------------------------


class _NotesPrinter(NotesLatexPrinter):
    """The notation printer with the typography of hand-written notes.

    Overrides only what reads badly in SymPy's default order or style; the terminal printer is
    untouched.
    """

    def _print_Function(self, expr: sp.Function, exp: Any = None) -> str:
        # g(a_{1j}), g'(a_{1j}), g_{2}'(a_{2j}) instead of \operatorname{g'}{\left(...\right)}.
        name = expr.func.__name__
        bare = name.rstrip("'")
        if bare == "g" or bare.startswith("g_"):
            prime = name[len(bare) :]
            head = "g" if bare == "g" else f"g_{{{bare[2:]}}}"
            args = ", ".join(self._print(a) for a in expr.args)
            text = f"{head}{prime}({args})"
            return text if exp is None else rf"\left({text}\right)^{{{exp}}}"
        return super()._print_Function(expr, exp)

    def _print_Heaviside(self, expr: sp.Heaviside, exp: Any = None) -> str:
        # amssymb's \mathbb has no digits; the indicator reads \mathbf{1}[a > 0].
        inner = rf"\mathbf{{1}}[{self._print(expr.args[0])} > 0]"
        return inner if exp is None else rf"\left({inner}\right)^{{{exp}}}"

    def _print_log(self, expr: sp.log, exp: Any = None) -> str:
        # \log \hat{y}_{i}, with parentheses only around compound arguments.
        arg = expr.args[0]
        inner = self._print(arg)
        if not (arg.is_Atom or isinstance(arg, sp.Indexed)):
            inner = rf"\left({inner}\right)"
        text = rf"\log {inner}"
        return text if exp is None else rf"\left({text}\right)^{{{exp}}}"

    def _print_Sum(self, expr: sp.Sum) -> str:
        # Constant factors and signs go in front of the sum: -\sum_i y_i \log \hat{y}_i.
        ((index, low, high),) = expr.limits
        head = rf"\sum_{{{self._print(index)}={self._print(low)}}}^{{{self._print(high)}}} "
        body = expr.function
        prefix = ""
        if isinstance(body, sp.Add) and all(t.could_extract_minus_sign() for t in body.args):
            prefix, body = "-", -body
        coeff, rest = body.as_coeff_Mul() if isinstance(body, sp.Mul) else (sp.S.One, body)
        if coeff.is_Rational and coeff != 1 and body.is_commutative:
            if coeff < 0:
                prefix, coeff = ("" if prefix else "-"), -coeff
            if coeff != 1:
                prefix += self._print(coeff) + " "
            body = rest
        text = self._print(body)
        if isinstance(body, sp.Add) or text.startswith("-"):
            text = rf"\left({text}\right)"
        return prefix + head + text

    def _print_Mul(self, expr: sp.Mul) -> str:
        args = list(expr.args)
        if any(isinstance(a, sp.Derivative) for a in args):
            # A product of the derivation (dL/dh_{kj} g'(a_{kj})): every factor as written,
            # never folded into one fraction.
            parts = []
            for n, factor in enumerate(args):
                text = self._print(factor)
                negative = n > 0 and factor.could_extract_minus_sign()
                if isinstance(factor, (sp.Add, sp.Piecewise)) or negative:
                    text = rf"\left({text}\right)"
                parts.append(text)
            return " ".join(parts)
        weights = [a for a in args if isinstance(a, sp.Indexed) and str(a.base.label) == "W"]
        if len(weights) == 1 and len(args) == 2:
            # W_{kij} h_{k-1,j}: the weight first, as in a_k = b_k + W_k h_{k-1}.
            other = args[0] if args[1] is weights[0] else args[1]
            return f"{self._print(weights[0])} {self._print(other)}"
        return super()._print_Mul(expr)

    def _print_Add(self, expr: sp.Add, order: Any = None) -> str:
        # y-hat minus y, not -y plus y-hat: a positive term leads when there is one.
        terms = list(expr.args)
        if terms and _negative(terms[0]):
            positive = [t for t in terms if not _negative(t)]
            if positive:
                terms.remove(positive[0])
                terms.insert(0, positive[0])
                return super()._print_Add(expr.func(*terms, evaluate=False), order="none")
        return super()._print_Add(expr, order="none")

    _print_MatAdd = _print_Add


def _negative(term: sp.Basic) -> bool:
    """True for a term printed with a leading minus (``-y``, ``-y^T``)."""
    if isinstance(term, sp.MatrixExpr):
        if not hasattr(term, "as_coeff_mmul"):
            return False
        coeff = sp.sympify(term.as_coeff_mmul()[0])
        return bool(coeff.is_number and coeff < 0)
    return bool(term.could_extract_minus_sign())


_PRINTER = _NotesPrinter()


def tex(expr: sp.Basic) -> str:
    """LaTeX of ``expr`` for the notes (the notation printer with the notes' typography)."""
    return _PRINTER.doprint(expr)


# Matrices, abbreviated --------------------------------------------------------------------------


def shown_indices(n: int) -> list[int | None]:
    """1-based indices a matrix of ``n`` rows shows; ``None`` marks the ellipsis."""
    if n <= MAX_SHOWN:
        return list(range(1, n + 1))
    return [*range(1, HEAD + 1), None, n]


def matrix_tex(rows: int, cols: int, entry: Callable[[int, int], str]) -> str:
    """A ``bmatrix`` of ``entry(r, c)`` (1-based), abbreviated past :data:`MAX_SHOWN`."""
    lines = []
    for r in shown_indices(rows):
        cells = []
        for c in shown_indices(cols):
            if r is None and c is None:
                cells.append(r"\ddots")
            elif r is None:
                cells.append(r"\vdots")
            elif c is None:
                cells.append(r"\cdots")
            else:
                cells.append(entry(r, c))
        lines.append(" & ".join(cells))
    return r"\begin{bmatrix} " + r" \\[1.5ex] ".join(lines) + r" \end{bmatrix}"


def _display_style(entry: str) -> str:
    """Partials in a matrix at full size (``\\dfrac``), as they are written by hand."""
    return entry.replace(r"\frac{", r"\dfrac{")


def form_tex(form: Form) -> str:
    """One form of a step: printed, or an :class:`EntryMatrix` as an abbreviated matrix."""
    if isinstance(form, EntryMatrix):
        return matrix_tex(form.rows, form.cols, lambda r, c: _display_style(tex(form.entry(r, c))))
    return tex(form)


# The document model handed to the templates -------------------------------------------------


@dataclass(frozen=True)
class Display:
    """A displayed equation: aligned rows (``left &= right && \\text{note}``), maybe numbered."""

    rows: tuple[str, ...]
    #: The equation number as text (``"7"``), or ``""`` for an unnumbered display.
    number: str = ""
    #: ``eq:<step key>`` for numbered steps.
    label: str = ""
    #: Per-row tags for the summary (LaTeX: ``\eqref{...}``; Markdown: the number).
    tags: tuple[str, ...] = ()
    kind: str = "display"

    @property
    def aligned(self) -> bool:
        return len(self.rows) > 1 or "&" in self.rows[0]


@dataclass(frozen=True)
class Text:
    """A paragraph of prose with inline math in ``$...$``.

    ``par`` is False when a display follows that continues the sentence (no paragraph break).
    """

    text: str
    par: bool = True
    kind: str = "text"


@dataclass(frozen=True)
class Heading:
    """A subsection heading."""

    title: str
    kind: str = "heading"


@dataclass(frozen=True)
class Table:
    """A table of prepared cells; ``spec`` is the LaTeX column spec, ``align`` Markdown's."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    spec: str
    align: tuple[str, ...]
    caption: str = ""
    breakable: bool = False
    kind: str = "table"

    @property
    def long(self) -> bool:
        """Long tables may break across pages (``longtable``); short ones stay in one piece."""
        return self.breakable or len(self.rows) > 24


@dataclass(frozen=True)
class DiagramNode:
    name: str
    x: str
    y: str
    label: str
    ellipsis: bool


@dataclass(frozen=True)
class Diagram:
    """The network drawn with TikZ (LaTeX) or Mermaid (Markdown): units, edges and labels."""

    nodes: tuple[DiagramNode, ...]
    edges: tuple[tuple[str, str], ...]
    #: (x, y, text) of the layer captions under the columns and the W_k labels above them.
    captions: tuple[tuple[str, str, str], ...]
    weights: tuple[tuple[str, str, str], ...]
    scaled: bool
    #: Mermaid lines for Markdown.
    mermaid: tuple[str, ...]
    caption: str
    kind: str = "diagram"


Block = Display | Text | Heading | Table | Diagram


@dataclass(frozen=True)
class Section:
    title: str
    label: str
    blocks: tuple[Block, ...]

    def __post_init__(self) -> None:
        # Prose that introduces a display runs on into it, as in a printed book.
        blocks = list(self.blocks)
        for n, block in enumerate(blocks[:-1]):
            if isinstance(block, Text) and isinstance(blocks[n + 1], Display):
                blocks[n] = Text(block.text, par=False)
        object.__setattr__(self, "blocks", tuple(blocks))


@dataclass(frozen=True)
class Notes:
    """Everything a notes template needs, as strings."""

    title: str
    subtitle: str
    command: str
    intro: tuple[str, ...]
    sections: tuple[Section, ...]
    packages: tuple[str, ...] = FRAGMENT_PACKAGES
    extra: dict[str, str] = field(default_factory=dict)


# Prose that differs between LaTeX and Markdown ---------------------------------------------------


class _Format:
    """How prose refers to equations and quotes user input in one output format."""

    latex = True

    def __init__(self, derivation: Derivation) -> None:
        self.derivation = derivation

    def ref(self, step: Step) -> str:
        return rf"\eqref{{eq:{step.key}}}"

    def code(self, text: str) -> str:
        return rf"\texttt{{{tex_escape(text)}}}"

    def emph(self, text: str) -> str:
        return rf"\emph{{{text}}}"

    def tag(self, step: Step) -> str:
        return rf"\eqref{{eq:{step.key}}}"

    def prose(self, text: str) -> str:
        """Plain-English text from :mod:`symgrad.render.wording`, made safe for the format."""
        return tex_escape(text)

    def cell(self, text: str) -> str:
        return text


class _MarkdownFormat(_Format):
    latex = False

    def ref(self, step: Step) -> str:
        return f"({step.number})"

    def code(self, text: str) -> str:
        return f"`{text}`"

    def emph(self, text: str) -> str:
        return f"*{text}*"

    def tag(self, step: Step) -> str:
        return str(step.number)

    def prose(self, text: str) -> str:
        return text.replace("_", "\\_").replace("*", "\\*")

    def cell(self, text: str) -> str:
        # A bar ends a Markdown table cell, even inside math: write |x| as \vert x \vert.
        return text.replace("|", r"\vert ")


# Building the notes -----------------------------------------------------------------------------

_RULE_NOTES = {
    Rule.DEFINITION: "definition",
    Rule.LOSS_DERIVATIVE: "derivative of the loss",
    Rule.CHAIN_RULE: "chain rule",
    Rule.LOCAL_DERIVATIVE: "differentiate the layer equation",
    Rule.OUTPUT_DERIVATIVE: "derivative of the output function",
    Rule.ACTIVATION_DERIVATIVE: "derivative of the activation",
    Rule.ALGEBRA: "algebra",
    Rule.TARGETS_SUM_TO_ONE: r"using $\sum_{j} y_{j} = 1$",
    Rule.MATRIX_FORM: "in matrix form",
    Rule.ENTRIES: "entries",
    Rule.OUTER_PRODUCT: "outer product",
}

#: A row of an aligned display longer than this (LaTeX source characters) gets its rule note in
#: the prose instead of beside it, so that nothing runs into the margin.
_NOTE_WIDTH_LIMIT = 150


def _math(text: str) -> str:
    return f"${text}$"


_YHAT = _math(r"\hat{y}")
_YHAT_I = _math(r"\hat{y}_{i}")
_YHAT_J = _math(r"\hat{y}_{j}")
_SUM_Y = _math(r"\sum_{j} y_{j} = 1")
_ODOT = _math(r"\odot")
_GRAD_A = _math(r"\nabla_{a_{k}} \mathcal{L}")
_PARTIAL_V = _math(r"\partial \mathcal{L} / \partial v_{i}")
_DA_DH = _math(r"\partial a_{k+1,i} / \partial h_{kj} = W_{k+1,ij}")
_FORWARD_I = _math(r"a_{ki} = b_{ki} + \sum_{j} W_{kij} h_{k-1,j}")
_DA_DW = _math(r"\partial a_{ki} / \partial W_{kij} = h_{k-1,j}")
_DA_DB = _math(r"\partial a_{ki} / \partial b_{ki} = 1")


def _times(n: int, m: int) -> str:
    return rf"{n} \times {m}"


def _grad_a(k: int) -> str:
    return rf"\nabla_{{a_{{{k}}}}} \mathcal{{L}}"


def _softmax_jacobian(L: int) -> str:  # noqa: N803 - the notes' L
    jacobian = r"\hat{y}_{j} (\delta_{ij} - \hat{y}_{i})"
    return rf"\partial \hat{{y}}_{{j}} / \partial a_{{{L}i}} = {jacobian}"


class _Builder:
    """Builds :class:`Notes` for one derivation and one output format."""

    def __init__(self, derivation: Derivation, fmt: _Format) -> None:
        self.d = derivation
        self.net = derivation.network
        self.spec = derivation.spec
        self.fmt = fmt
        self.L = self.spec.depth

    # small helpers ---------------------------------------------------------------------------

    def sizes_text(self) -> str:
        return "-".join(str(n) for n in self.spec.sizes)

    def activation_name(self, k: int) -> str:
        act = self.spec.activation(k)
        return act.name if act.builtin else f"the custom activation {self.fmt.code(act.name)}"

    def label(self, step: Step) -> str:
        return f"eq:{step.key}"

    def step_display(self, step: Step, notes: bool = True) -> Display:
        """``lhs = form_1 = form_2 ...`` as aligned rows, each with the rule that justifies it."""
        lhs = form_tex(step.lhs)
        forms = [form_tex(f) for f in step.forms]
        has_matrix = any(isinstance(f, EntryMatrix) for f in step.forms)
        show_notes = notes and not has_matrix and len(forms) > 1
        if show_notes and max(len(lhs) + len(f) for f in forms) > _NOTE_WIDTH_LIMIT:
            show_notes = False
        rows = []
        for n, (form, rule) in enumerate(zip(forms, step.rules, strict=True)):
            left = lhs if n == 0 else ""
            note = rf" && \text{{{_RULE_NOTES[rule]}}}" if show_notes else ""
            rows.append(f"{left} &= {form}{note}" if len(forms) > 1 else f"{left} = {form}")
        return Display(tuple(rows), str(step.number), self.label(step))

    def ranges(self, step: Step) -> str:
        """``for $i = 1, \\dots, 3$`` from the step's generic indices."""
        parts = [_math(rf"{tex(index)} = 1, \dots, {n}") for index, n in step.indices]
        return " and ".join(parts)

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
            self.checks_section(),
        ]
        command = "symgrad {} " + " ".join(shlex.quote(a) for a in self.spec.command_args())
        return Notes(
            title=title,
            subtitle=subtitle,
            command=command,
            intro=self.intro(),
            sections=tuple(self.format_cells(section) for section in sections),
        )

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
            f"These notes derive the gradient of the loss with respect to every weight and bias "
            f"of a feed-forward network with {L} layer{'s' if L > 1 else ''} of weights and layer "
            f"sizes {sizes}. We first fix the notation and the forward pass, then go backwards "
            "through the network as backpropagation does: the output layer, the hidden layers, "
            "and finally the parameters."
        )
        second = (
            "Every equation below was generated, and checked, by symgrad; the last section says "
            "how. Indices start at 1."
        )
        return (first, second)

    def setup_section(self) -> Section:
        blocks: list[Block] = [Heading("Notation"), self.notation_table()]
        blocks += [Heading("The network"), self.diagram(), self.shapes_table()]
        blocks += [Heading("The forward pass")]
        blocks += self.forward_blocks()
        return Section("Setup", "sec:setup", tuple(blocks))

    def notation_table(self) -> Table:
        L = self.L
        rows: list[tuple[str, ...]] = [
            (_math(r"x = h_{0}"), "input", _math(r"\mathbb{R}^{n_{0}}")),
            (
                _math("W_{k}"),
                f"weights of layer {_math('k')}; {_math('W_{kij}')} connects unit {_math('j')} "
                f"of layer {_math('k-1')} to unit {_math('i')} of layer {_math('k')}",
                _math(r"\mathbb{R}^{n_{k} \times n_{k-1}}"),
            ),
            (
                _math("b_{k}"),
                f"biases of layer {_math('k')}; {_math('b_{ki}')} belongs to unit {_math('i')}",
                _math(r"\mathbb{R}^{n_{k}}"),
            ),
            (
                _math("a_{k} = b_{k} + W_{k} h_{k-1}"),
                "pre-activation of layer " + _math("k"),
                _math(r"\mathbb{R}^{n_{k}}"),
            ),
        ]
        if L > 1:
            g = "g" if self.spec.uniform_activation else "g_{k}"
            rows.append(
                (
                    _math(f"h_{{k}} = {g}(a_{{k}})"),
                    f"activation of hidden layer {_math('k')}, elementwise",
                    _math(r"\mathbb{R}^{n_{k}}"),
                )
            )
        rows += [
            (
                _math(rf"\hat{{y}} = O(a_{{{L}}})"),
                f"prediction; the output function {_math('O')} is the {self.spec.pair.output.name}",
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
                f"gradient: the partials {_PARTIAL_V}, shaped like {_math('v')}",
                "shape of " + _math("v"),
            ),
        ]
        return Table(
            ("symbol", "meaning", "shape"),
            tuple(rows),
            r"@{}l p{0.5\linewidth} l@{}",
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
                g = tex(act.function)
                what = f"{self.activation_name(k)}, {_math('g(x) = ' + g)}"
                if not act.builtin:
                    what = f"custom, {_math('g(x) = ' + g)}"
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
            "@{}clllp{0.3\\linewidth}r@{}",
            ("center", "left", "left", "left", "left", "right"),
            caption=(
                f"The input has {_math(f'n_{{0}} = {self.spec.sizes[0]}')} units. "
                "Each layer and its parameters:"
            ),
        )

    def diagram(self) -> Diagram:
        sizes = self.spec.sizes
        L = self.L
        spacing = 2.6
        step_y = 1.0
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
                    label = tex(nt.post(0, unit))
                elif k == L:
                    label = tex(nt.prediction(unit))
                else:
                    label = tex(nt.post(k, unit))
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
        mermaid = self.mermaid()
        caption = (
            "The network. Every unit of a layer feeds every unit of the next; "
            + ("wide layers show their first and last units. " if max(sizes) > MAX_SHOWN else "")
            + f"{_math('W_{k}')} and {_math('b_{k}')} are the parameters between layers "
            f"{_math('k-1')} and {_math('k')}."
        )
        return Diagram(
            tuple(nodes),
            tuple(edges),
            tuple(captions),
            tuple(weights),
            scaled=L > DIAGRAM_FULL_LAYERS,
            mermaid=mermaid,
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
        blocks: list[Block] = []
        L = self.L
        blocks.append(
            Text(
                "Each layer adds its biases to a weighted sum of the previous layer's "
                f"activations; the input is {_math('h_{0} = x')}."
            )
        )
        for step in self.d.stage(Stage.SETUP):
            if step.kind is Kind.FORWARD:
                blocks.append(self.step_display(step, notes=False))
            elif step.kind is Kind.ACTIVATION:
                blocks.append(
                    Text(
                        f"Hidden layer {_math(str(step.layer))} applies "
                        f"{self.activation_name(step.layer)} to every unit:"
                    )
                )
                blocks.append(self.step_display(step, notes=False))
            elif step.kind is Kind.PREDICTION:
                blocks.append(
                    Text(
                        f"The output layer applies the {self.spec.pair.output.name} to "
                        f"{_math(f'a_{{{L}}}')}:"
                    )
                )
                blocks.append(self.step_display(step, notes=False))
            elif step.kind is Kind.LOSS:
                text = (
                    f"and the per-sample loss is the {self.spec.pair.loss.display} of the "
                    f"prediction {_YHAT} and the target {_math('y')}:"
                )
                blocks.append(Text(text))
                blocks.append(self.step_display(step, notes=False))
        blocks.append(Text("In vector form, the forward pass is"))
        blocks.append(Display(tuple(self.forward_vector_rows(aligned=True))))
        blocks += self.written_out_blocks()
        return blocks

    def forward_vector_rows(self, aligned: bool) -> list[str]:
        eq = "&=" if aligned else "="
        rows = []
        for k in range(1, self.L + 1):
            prev = "x" if k == 1 else f"h_{{{k - 1}}}"
            rows.append(f"a_{{{k}}} {eq} b_{{{k}}} + W_{{{k}}} {prev}")
            if k < self.L:
                g = "g" if self.spec.uniform_activation else f"g_{{{k}}}"
                rows.append(f"h_{{{k}}} {eq} {g}(a_{{{k}}})")
        rows.append(rf"\hat{{y}} {eq} {self.spec.pair.output.latex}(a_{{{self.L}}})")
        return rows

    def written_out_blocks(self) -> list[Block]:
        """Every ``a_{ki}`` of this network written out (abbreviated for wide layers)."""
        blocks: list[Block] = []
        wide = any(n > MAX_SHOWN for n in self.spec.sizes)
        intro = (
            "Written out for this network"
            + (", showing the first and last units of wide layers" if wide else "")
            + ", the pre-activations are:"
        )
        blocks.append(Text(intro))
        for k in range(1, self.L + 1):
            rows = []
            for i in shown_indices(self.spec.sizes[k]):
                if i is None:
                    rows.append(r"& \;\;\vdots")
                    continue
                terms = []
                for j in shown_indices(self.spec.sizes[k - 1]):
                    if j is None:
                        terms.append(r"\cdots")
                    else:
                        terms.append(f"{tex(nt.weight(k, i, j))} {tex(nt.post(k - 1, j))}")
                right = " + ".join([tex(nt.bias(k, i)), *terms])
                rows.append(f"{tex(nt.pre(k, i))} &= {right}")
            blocks.append(Display(tuple(rows)))
        return blocks

    def output_section(self) -> Section:
        L = self.L
        steps = self.d.stage(Stage.OUTPUT)
        slope, delta, vector = steps[0], steps[1], steps[2]
        blocks: list[Block] = [
            Text(
                "The loss depends on the parameters only through the prediction "
                f"{_YHAT}. Its partial with respect to each prediction is"
            ),
            self.step_display(slope),
        ]
        if self.net.diagonal_output:
            chain = (
                f"Each {_YHAT_I} depends on {_math(f'a_{{{L}i}}')} alone, so the "
                "chain rule has a single term:"
            )
        else:
            chain = (
                f"The softmax makes every {_YHAT_J} depend on every "
                f"{_math(f'a_{{{L}i}}')}, so the chain rule sums over {_math('j')}, with "
                + _math(_softmax_jacobian(L))
                + ":"
            )
        blocks += [Text(chain), self.step_display(delta)]
        if self.net.assumes_targets_sum_to_one:
            blocks.append(
                Text(
                    f"The last step uses {_SUM_Y}, which holds when "
                    f"{_math('y')} is a one-hot label or a probability distribution."
                )
            )
        blocks += [
            Text(f"For every {_math('i')} at once, with {self.fmt.ref(delta)} in matrix form:"),
            self.step_display(vector, notes=False),
        ]
        return Section("The output layer", "sec:output", tuple(blocks))

    def hidden_section(self) -> Section:
        blocks: list[Block] = []
        if self.L == 1:
            blocks.append(
                Text(
                    "This network has no hidden layer: the output layer reads the input "
                    f"{_math('x')} directly, so the parameters follow from "
                    f"{self.fmt.ref(self.d.stage(Stage.OUTPUT)[-1])} alone."
                )
            )
            return Section("The hidden layers", "sec:hidden", tuple(blocks))
        blocks.append(
            Text(
                "Going backwards, each hidden layer receives the gradient of the layer above "
                "it. A unit's activation "
                f"{_math('h_{kj}')} reaches the loss through every pre-activation "
                f"{_math('a_{k+1,i}')} of the next layer, and "
                f"{_DA_DH}."
            )
        )
        for k in hidden_layers_backward(self.L):
            grad = self.d.step(StepId(Kind.HIDDEN_GRAD, k))
            grad_v = self.d.step(StepId(Kind.HIDDEN_GRAD_VECTOR, k))
            delta = self.d.step(StepId(Kind.HIDDEN_DELTA, k))
            delta_v = self.d.step(StepId(Kind.HIDDEN_DELTA_VECTOR, k))
            blocks += [
                Heading(f"Hidden layer {k}"),
                Text(f"For {self.ranges(grad)}:"),
                self.step_display(grad),
                Text(f"In matrix form, {self.fmt.ref(grad)} is"),
                self.step_display(grad_v, notes=False),
                Text(
                    f"The activation acts unit by unit, so {_math(f'h_{{{k}j}}')} depends on "
                    f"{_math(f'a_{{{k}j}}')} alone:"
                ),
                self.step_display(delta),
                Text(
                    f"and in matrix form, with {_ODOT} the elementwise product, "
                    f"{self.fmt.ref(delta)} is"
                ),
                self.step_display(delta_v, notes=False),
            ]
        return Section("The hidden layers", "sec:hidden", tuple(blocks))

    def parameter_section(self) -> Section:
        blocks: list[Block] = [
            Text(
                f"With the gradient {_GRAD_A} of every layer "
                "known, the parameters follow. Since "
                f"{_FORWARD_I}, "
                f"{_DA_DW} and "
                f"{_DA_DB}."
            )
        ]
        for k in layers_backward(self.L):
            weight = self.d.step(StepId(Kind.WEIGHT, k))
            matrix = self.d.step(StepId(Kind.WEIGHT_MATRIX, k))
            bias = self.d.step(StepId(Kind.BIAS, k))
            bias_v = self.d.step(StepId(Kind.BIAS_VECTOR, k))
            n, m = self.spec.sizes[k], self.spec.sizes[k - 1]
            prev = "x" if k == 1 else f"h_{{{k - 1}}}"
            blocks += [
                Heading(f"Layer {k}: weights and biases"),
                Text(f"For {self.ranges(weight)}:"),
                self.step_display(weight),
                Text(
                    f"As {_math(f'W_{{{k}}}')} is a matrix with {_math(_times(n, m))} entries, "
                    "the gradient collects these partials in a matrix of the same shape"
                    + (
                        " (its first and last rows and columns shown)"
                        if max(n, m) > MAX_SHOWN
                        else ""
                    )
                    + f". Applying {self.fmt.ref(weight)} to every entry shows that it is the "
                    f"outer product of {_math(_grad_a(k))} and "
                    f"{_math(prev)}:"
                ),
                self.weight_matrix_display(matrix, k),
                Text(f"The biases: for {self.ranges(bias)},"),
                self.step_display(bias),
                Text("so the bias gradient is the gradient of the pre-activation itself:"),
                self.step_display(bias_v, notes=False),
            ]
        return Section("The parameters", "sec:parameters", tuple(blocks))

    def weight_matrix_display(self, step: Step, k: int) -> Display:
        """``grad_{W_k} L`` = partials = formula applied = column times row = outer product."""
        entries, applied, outer = step.forms
        assert isinstance(entries, EntryMatrix) and isinstance(applied, EntryMatrix)
        n, m = entries.shape
        column = matrix_tex(n, 1, lambda r, c: _display_style(tex(nt.partial(nt.pre(k, r)))))
        row = matrix_tex(1, m, lambda r, c: tex(nt.post(k - 1, c)))
        rows = (
            f"{form_tex(step.lhs)} &= {form_tex(entries)}",
            f"&= {form_tex(applied)}",
            f"&= {column} {row}",
            f"&= {form_tex(outer)}",
        )
        return Display(rows, str(step.number), self.label(step))

    def summary_section(self) -> Section:
        L = self.L
        forward_rows = self.forward_vector_rows(aligned=True)
        forward_steps = [s for s in self.d.stage(Stage.SETUP) if s.kind is not Kind.LOSS]
        forward = Display(
            tuple(forward_rows), tags=tuple(self.fmt.tag(s) for s in forward_steps), kind="summary"
        )
        rows, tags = [], []

        def add(step: Step) -> None:
            rows.append(f"{form_tex(step.lhs)} &= {form_tex(step.final)}")
            tags.append(self.fmt.tag(step))

        for id in backward_pass(L):
            add(self.d.step(id))
        backward = Display(tuple(rows), tags=tuple(tags), kind="summary")
        blocks: list[Block] = [
            Text(
                f"For one sample {_math('(x, y)')}, backpropagation computes the forward pass "
                "and keeps every activation,"
            ),
            forward,
            Text(
                "then walks backwards from the output, each gradient computed from the one "
                "before it. The numbers are those of the equations derived above."
            ),
            backward,
            Text(
                "For a batch, the loss is the mean of the per-sample losses, and so are the "
                "gradients."
            ),
        ]
        return Section("Summary: backpropagation for this network", "sec:summary", tuple(blocks))

    def checks_section(self) -> Section:
        """What the proof records say: one sentence for the proof, one row per step."""
        blocks: list[Block] = [
            Text(self.fmt.prose(sentence)) for sentence in wording.proof_text(self.d.proof)
        ]
        if self.d.proof is None:
            return Section("What was checked", "sec:checks", tuple(blocks))
        rows = tuple(
            (
                f"({s.number})",
                _math(_short_lhs(s)),
                self.fmt.prose(wording.check_text(s.check)),
            )
            for s in self.d
        )
        blocks.append(
            Table(
                ("eq.", "quantity", "how it was checked"),
                rows,
                r"@{}rlp{0.62\linewidth}@{}",
                ("right", "left", "left"),
                breakable=True,
            )
        )
        return Section("What was checked", "sec:checks", tuple(blocks))


def _short_lhs(step: Step) -> str:
    return form_tex(step.lhs)


# Public API -------------------------------------------------------------------------------------


def build_notes(derivation: Derivation, markdown: bool = False) -> Notes:
    """The strings the templates insert, for LaTeX or (``markdown=True``) Markdown."""
    fmt: _Format = _MarkdownFormat(derivation) if markdown else _Format(derivation)
    return _Builder(derivation, fmt).build()


def render_latex(derivation: Derivation, fragment: bool = False) -> str:
    """The notes as a standalone LaTeX document, or (``fragment=True``) a body to ``\\input``."""
    notes = build_notes(derivation)
    template = "latex/fragment.tex.jinja" if fragment else "latex/document.tex.jinja"
    command = notes.command.replace("{}", "latex" + (" --fragment" if fragment else ""))
    return render(template, notes=notes, command=command)


def render_markdown(derivation: Derivation) -> str:
    """The notes as Obsidian-flavoured Markdown: front matter, ``$$`` displays, ``$`` inline."""
    notes = build_notes(derivation, markdown=True)
    command = notes.command.replace("{}", "markdown")
    return render("markdown/derivation.md.jinja", notes=notes, command=command)


def render_fragment_for_jupyter(derivation: Derivation) -> str:
    """Every step as a numbered ``$$`` display, for Jupyter's LaTeX (MathJax) output."""
    fmt = _MarkdownFormat(derivation)
    builder = _Builder(derivation, fmt)
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
    "build_notes",
    "compile_pdf",
    "markdown_math_blocks",
    "render_fragment_for_jupyter",
    "render_latex",
    "render_markdown",
    "tex",
)


# Compiling ---------------------------------------------------


@dataclass(frozen=True)
class Compiled:
    """The result of :func:`compile_pdf`: the PDF bytes and what pdflatex said."""

    pdf: bytes
    log: str

    @property
    def problems(self) -> list[str]:
        """Every error (``!`` line) and overfull box in the log."""
        return [
            line
            for line in self.log.splitlines()
            if line.startswith("!") or line.startswith(("Overfull \\hbox", "Overfull \\vbox"))
        ]


def compile_pdf(tex_source: str, workdir: Path, name: str = "notes", runs: int = 2) -> Compiled:
    """Compile ``tex_source`` with pdflatex in ``workdir``, reproducibly (fixed date, no ids).

    Raises :class:`RuntimeError` with the log's errors when pdflatex fails; a missing
    ``pdflatex`` raises :class:`FileNotFoundError`.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / f"{name}.tex").write_text(tex_source, encoding="utf-8")
    env = dict(os.environ, SOURCE_DATE_EPOCH="0", FORCE_SOURCE_DATE="1", TZ="UTC")
    command = ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", f"{name}.tex"]
    for _ in range(runs):
        result = subprocess.run(command, cwd=workdir, env=env, capture_output=True, check=False)
        log_path = workdir / f"{name}.log"
        log = log_path.read_text(encoding="latin-1") if log_path.exists() else ""
        if result.returncode != 0:
            errors = [line for line in log.splitlines() if line.startswith("!")]
            raise RuntimeError(f"pdflatex failed on {name}.tex: {'; '.join(errors) or 'no log'}")
    return Compiled((workdir / f"{name}.pdf").read_bytes(), log)
