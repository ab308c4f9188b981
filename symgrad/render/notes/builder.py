"""The builder of the notes: the derivation's steps as displays, rows and references.

Part of the notes renderer (:mod:`symgrad.render.notes`). A :class:`Builder` holds one
derivation, one output format (:mod:`symgrad.render.notes.formats`) and the resolved options, and
turns steps into the strings of :mod:`symgrad.render.document`: each step one numbered equation
with the rule beside every row. The sections of the notes (:mod:`symgrad.render.notes.setup`,
``backward``, ``summary``, ``batch``, ``checks``) are functions of a builder.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import sympy as sp

from symgrad import notation as nt
from symgrad.derivation import Derivation, EntryMatrix, Form, Kind, Rule, Step, StepId
from symgrad.ops.base import Remark
from symgrad.printing.order import substituted
from symgrad.render.document import (
    Code,
    Display,
    Graph,
    Inline,
    Prose,
    Ref,
    Row,
    Text,
    To,
    joined_prose,
)
from symgrad.render.example import graph_caption
from symgrad.render.formula import (
    EMPTY,
    Expr,
    Math,
    Matrix,
    Shaped,
    Token,
    counting,
    equals,
    matrix,
)
from symgrad.render.graph import NOTES_WIDTH, computational_graph
from symgrad.render.notes.formats import Format
from symgrad.render.notes.options import NotesOptions
from symgrad.render.notes.symbols import targets_sum_to_one
from symgrad.render.notes.widths import LINE_EMS, NUMBER_EMS, visible_width
from symgrad.worked import WorkedExample

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

#: A reference in the text of an op's remark: ``{bp2}``, ``{ref:objective}``.
TOKEN = re.compile(r"\{(bp[1-4]|ref:[A-Za-z0-9_:.-]+)\}")

#: "three", for "the first three rows": how many an abbreviated matrix shows first.
HEAD_WORD = "three"


PRIME = "'"


def shape(rows: sp.Basic | int, cols: sp.Basic | int) -> Inline:
    """``rows x cols``, a shape in a line of prose."""
    return Inline.of(Math.of(sp.sympify(rows), Token.TIMES, sp.sympify(cols)))


def shaped(*factors: tuple[Math | sp.Basic, sp.Basic | int, sp.Basic | int] | Token) -> Math:
    """Factors, each with its shape written under it: ``(W_k, n_k, n_{k-1})`` is ``W_k`` with
    ``n_k x n_{k-1}`` under it; a :class:`~symgrad.render.formula.Token` (``+``) is written as
    it is."""
    parts: list[Shaped | Token] = []
    for factor in factors:
        if isinstance(factor, Token):
            parts.append(factor)
        else:
            tex, rows, cols = factor
            parts.append(Shaped(Math.of(tex), sp.sympify(rows), sp.sympify(cols)))
    return Math.of(*parts)


def span(layers: list[int]) -> str:
    """``3 and 2``, ``5 to 2`` for layers counted down one by one; ``4, 3 and 1`` when one is
    missing (the layer written in full)."""
    steps = {a - b for a, b in zip(layers, layers[1:], strict=False)}
    if len(layers) == 2 or steps != {1}:
        return listing([str(k) for k in layers])
    return f"{layers[0]} to {layers[-1]}"


def listing(items: list[str]) -> str:
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def reference_ranges(numbered: list[tuple[int, Ref]], ellipsis: str) -> Prose:
    """References with runs of consecutive numbers joined: ``(1)-(3), (7)``; a long list
    keeps its first two and its last."""
    if len(numbered) > 3 and all(
        b[0] - a[0] > 1 for a, b in zip(numbered, numbered[1:], strict=False)
    ):
        return Inline.of(numbered[0][1], ", ", numbered[1][1], f", {ellipsis} ", numbered[-1][1])
    groups: list[list[tuple[int, Ref]]] = []
    for number, ref in numbered:
        if groups and number == groups[-1][-1][0] + 1:
            groups[-1].append((number, ref))
        else:
            groups.append([(number, ref)])
    parts = [
        g[0][1]
        if len(g) == 1
        else (g[0][1] + ", " + g[1][1] if len(g) == 2 else g[0][1] + "--" + g[-1][1])
        for g in groups
    ]
    return joined_prose(", ", parts)


def joined(groups: list[tuple[Row, ...]], size: int) -> list[tuple[Row, ...]]:
    """Groups of rows (one layer each) joined into displays of at most ``size`` rows; a group
    is never split, so a layer stays in one piece on one page."""
    joined: list[tuple[Row, ...]] = []
    for group in groups:
        if joined and len(joined[-1]) + len(group) <= size:
            joined[-1] = joined[-1] + group
        else:
            joined.append(group)
    return joined


def chunks(rows: list[Row], size: int) -> list[tuple[Row, ...]]:
    """``rows`` in displays of at most ``size`` rows, as even as possible."""
    count = max(1, -(-len(rows) // size))
    per = -(-len(rows) // count)
    return [tuple(rows[n : n + per]) for n in range(0, len(rows), per)]


@dataclass(frozen=True)
class Layout:
    """The room a document gives its blocks: a page of the notes (the default) or a frame of
    the slides. The sections are the same; only what fits where differs."""

    #: The width of a line in ems: a row and its note must fit in it.
    line_ems: float = LINE_EMS
    #: The distance between the columns and between the units of the network's diagram (cm).
    diagram_spacing: float = 2.6
    diagram_step: float = 1.0
    #: ``grad_{W_k} L`` is written out entry by entry for every layer with at most this many
    #: rows and columns, besides the layer written in full: the lecture's ``3 x 3`` matrix.
    entry_by_entry: int = 3
    #: The width the computational graph may take (cm).
    graph_width: float = NOTES_WIDTH
    #: The worked example's graph with its numbers is drawn (a column of matrices is taller
    #: than a frame: the slides leave it to the notes).
    example_graph: bool = True


#: The layout of a page of the notes.
PAGE = Layout()


class Builder:
    """Builds the notes of one derivation, in one output format, with resolved options, for
    the room of ``layout`` (a page of the notes by default, or a frame of the slides)."""

    def __init__(
        self,
        derivation: Derivation,
        fmt: Format,
        options: NotesOptions,
        example: WorkedExample | None = None,
        layout: Layout = PAGE,
    ) -> None:
        self.layout = layout
        self.line_ems = layout.line_ems
        self.diagram_spacing = layout.diagram_spacing
        self.diagram_step = layout.diagram_step
        self.entry_by_entry = layout.entry_by_entry
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

    def width(self, latex: str) -> float:
        """About how many ems ``latex`` takes in a display (:func:`visible_width`)."""
        return visible_width(latex)

    def measure(self, *formulas: Math) -> float:
        """About how many ems ``formulas`` take side by side, as this format prints them."""
        return sum(visible_width(self.fmt.formula(m)) for m in formulas)

    def form(self, form: Form, step: Step | None = None) -> Math:
        """One form of a step (with the indices that take one value only, those of a layer of
        one unit, as that value), or an :class:`EntryMatrix` as an abbreviated matrix, its
        partials at full size as written by hand."""
        if isinstance(form, EntryMatrix):
            entries = self.matrix(form.rows, form.cols, lambda r, c: Expr(form.entry(r, c), True))
            return Math.of(entries)
        return Math.of(self.fixed(form, step))

    def fixed(self, expr: sp.Basic, step: Step | None) -> sp.Basic:
        """``expr`` with the indices of ``step`` that take one value set to it: a layer of one
        unit has ``h_{11}``, never "for ``j = 1``"."""
        if step is None:
            return expr
        fixed = {index: sp.Integer(1) for index, n in step.indices if n == 1}
        if not fixed:
            return expr
        return substituted(expr, fixed)

    def matrix(self, rows: int, cols: int, entry: Callable[[int, int], Expr | sp.Basic]) -> Matrix:
        return matrix(rows, cols, lambda r, c: Math.of(entry(r, c)))

    def idx(self, *parts: str) -> str:
        """An index list as every index list is written (:func:`~symgrad.notation.join_indices`):
        ``kij`` when each index is one character, ``k-1,j`` when one is longer."""
        return nt.join_indices(list(parts))

    def step(self, kind: Kind, layer: int | None = None) -> Step:
        return self.d.step(StepId(kind, self.L if layer is None else layer))

    def network_words(self) -> str:
        """``1 hidden layer (sigmoid), softmax output, cross-entropy loss``."""
        pair = self.spec.pair
        names: list[str] = []
        for k in range(1, self.L):
            act = self.spec.activation(k)
            name = act.name if act.builtin else "custom"
            if name not in names:
                names.append(name)
        hidden = self.L - 1
        layers = "no hidden layer" if hidden == 0 else f"{hidden} hidden layer{'s' * (hidden > 1)}"
        which = f" ({', '.join(names)})" if names else ""
        return f"{layers}{which}, {pair.output.name} output, {pair.loss.display} loss"

    def sizes_text(self) -> str:
        return "-".join(str(n) for n in self.spec.sizes)

    def activation_name(self, k: int) -> Prose:
        act = self.spec.activation(k)
        return act.name if act.builtin else "the custom activation " + Code(act.name)

    def g(self, k: int | str = "k") -> str:
        return "g" if self.spec.uniform_activation else f"g_{{{k}}}"

    def ranges(self, step: Step) -> Prose:
        """``i = 1, 2``, ``i = 1, \\dots, 128`` from the step's indices; an index that
        takes one value only is written as that value in the step (:meth:`fixed`), so it is no
        range (empty when none is left)."""
        parts: list[Prose | Math] = []
        for index, n in step.indices:
            if n == 1:
                continue
            parts.append(counting(index, n))
        return joined_prose(" and ", parts) if parts else ""

    def row(self, step: Step, left: Math, right: Math, note: Prose, last: bool) -> Row:
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
            key=step.key,
        )

    def placed(self, rows: list[Row]) -> tuple[Row, ...]:
        """Notes beside their rows where they fit, else (for the whole display, since the notes
        share one column) each on a line of its own below its row."""
        formulas = max(self.measure(r.left, r.right) for r in rows)
        notes = max(
            visible_width(r"\text{" + self.fmt.sketch(r.note) + "}") if r.note else 0.0
            for r in rows
        )
        below = notes > 0 and formulas + notes + 2 + NUMBER_EMS > self.line_ems
        return tuple(replace(r, note_below=below and bool(r.note)) for r in rows)

    def step_display(self, step: Step, notes: bool = True) -> Display:
        """``lhs = form_1 = form_2 ...`` as aligned rows, each with the rule that justifies it."""
        lhs = self.form(step.lhs, step)
        forms = [self.form(f, step) for f in step.forms]
        show_notes = len(forms) > 1
        rows = []
        for n, (form, rule) in enumerate(zip(forms, step.rules, strict=True)):
            note = self.rule_note(step, rule) if show_notes else ""
            if n > 0 and rule is Rule.MATRIX_FORM and isinstance(step.forms[n - 1], EntryMatrix):
                # the column just written is the vector's entries: each row cites its own step
                note = Inline.of("the entries of ", form)
            left = lhs if n == 0 else EMPTY
            rows.append(self.row(step, left, equals(form), note, n == len(forms) - 1))
        spread = any(isinstance(f, EntryMatrix) for f in step.forms)
        return Display(self.placed(rows), spread=spread)

    def rule_note(self, step: Step, rule: Rule) -> Prose:
        """The note beside a row: the rule, with a reference where it names another step."""
        if rule in (Rule.CHAIN_RULE, Rule.MATRIX_FORM) and step.kind.twin is not None:
            # a matrix whose entries are given by the elementwise step
            return "by " + self.note_ref(self.d.step(step.id.twin()))
        if rule is Rule.KRONECKER:
            i, j = nt.I, nt.J
            kept = Math.of(j, Token.EQUALS, i)
            return Inline.of(Math.of(sp.KroneckerDelta(i, j)), " keeps the term ", kept)
        if rule is Rule.CANCEL:
            return Inline.of("cancel ", Math.of(nt.prediction(nt.J)))
        if rule is Rule.TARGETS_SUM_TO_ONE:
            return Inline.of("using ", targets_sum_to_one(nt.J))
        if rule in (Rule.ROWS, Rule.BATCH_MEAN):
            other = self.d.step(step.id.per_sample())
            word = "rows of" if rule is Rule.ROWS else "mean of"
            return f"{word} " + self.note_ref(other)
        return rule.note

    def compact_rows(self, steps: Sequence[Step], like: Sequence[Step]) -> list[Row]:
        """Each step on one line as ``lhs = final``, numbered, with a note pointing to the same
        step of the layer written in full (``like``); fractions stacked as in the full layer."""
        rows = []
        skipped = self.skip_shares()
        for step, model in zip(steps, like, strict=True):
            note: Prose = "as " + self.note_ref(model) if model is not step else ""
            if note and (step.id in skipped) != (model.id in skipped):
                # a skip connection adds its term to one of the two, not to the other
                note += ", plus the skip term" if step.id in skipped else ", without the skip term"
            left, right = self.form(step.lhs, step), self.form(step.final, step)
            rows.append(self.row(step, left, equals(right), note, True))
        return rows

    def skip_shares(self) -> frozenset[StepId]:
        """The gradient steps a skip connection adds a term to (the inputs an op adds
        unchanged, :meth:`~symgrad.ops.base.Op.skips`)."""
        net = self.net
        return frozenset(
            s.id
            for op in net.forward_order()
            for q in op.skips()
            for s in (*op.backward(net, q), *op.batch_backward(net, q))
        )

    def compact_step(self, step: Step, notes: Sequence[Prose]) -> list[Row]:
        """A step as compact as it prints: on one line, ``lhs = form_1 = form_2``, when that
        fits; else a line a form. Partials and sums are set as in every other display (stacked
        fractions, limits under the sum); slashes are for running text and table cells.
        ``notes`` justify the forms; on one line they are joined."""
        lhs = self.form(step.lhs, step)
        forms = [self.form(f, step) for f in step.forms]
        line = equals(*forms)
        joined = joined_prose("; ", [n for n in notes if n])
        notes = [n or "" for n in notes]
        if self.measure(lhs, line) + NUMBER_EMS <= self.line_ems or len(forms) == 1:
            return [self.row(step, lhs, line, joined, True)]
        return [
            self.row(step, lhs if n == 0 else EMPTY, equals(form), note, n == len(forms) - 1)
            for n, (form, note) in enumerate(zip(forms, notes, strict=True))
        ]

    def graph(self, example: WorkedExample | None, intro: Prose) -> Graph | None:
        """The computational graph with symbols, or the numbers of ``example``, after the
        paragraph ``intro`` (a deep network's with its middle layers elided)."""
        if example is not None and not self.layout.example_graph:
            return None
        caption = graph_caption(self.fmt.latex, example is not None)
        width = self.layout.graph_width
        return computational_graph(self.net, example, caption, intro, width)

    def ref(self, step: Step) -> Ref:
        """A reference to a step's equation in prose."""
        return Ref(step.key)

    def note_ref(self, step: Step) -> Ref:
        """A reference to a step's equation in a display's note or tag column."""
        return Ref(step.key, note=True)

    def bp_ref(self, n: int) -> Ref:
        """A reference to (BP1)-(BP4)."""
        return Ref(f"bp{n}", To.TAG)

    def section_ref(self, id: str) -> Ref:
        return Ref(id, To.SECTION)

    def appendix_ref(self, id: str) -> Ref:
        return Ref(id, To.APPENDIX)

    def with_refs(self, text: str) -> Prose:
        """Text whose ``{bp1}``...``{bp4}`` and ``{ref:KEY}`` (the step ``KEY``) are
        references, as the ops write their remarks."""
        keys = {s.key for s in self.d}
        parts: list[str | Ref] = []
        for n, piece in enumerate(TOKEN.split(text)):
            if n % 2 == 0:
                parts.append(piece)
            elif piece.startswith("bp"):
                parts.append(self.bp_ref(int(piece[2:])))
            else:
                key = piece.removeprefix("ref:")
                assert key in keys, f"a remark refers to no step: {key}"
                parts.append(Ref(key))
        return Inline.of(*parts) if len(parts) > 1 else text

    def refs_in(self, text: Prose) -> Prose:
        """Prose whose text has its ``{bp1}`` and ``{ref:KEY}`` made references
        (:meth:`with_refs`), its formulas and references kept."""
        if isinstance(text, str):
            return self.with_refs(text)
        parts = text if isinstance(text, Inline) else (text,)
        return Inline.of(*(self.with_refs(p) if isinstance(p, str) else p for p in parts))

    def remarks(self, part: str) -> list[Text]:
        """What the ops say in ``part`` (:meth:`~symgrad.network.Network.remarks`): their
        words with their formulas and references (:meth:`with_refs`)."""
        return [Text(self.remark(r)) for r in self.net.remarks(part)]

    def remark(self, remark: Remark) -> Prose:
        """A remark of an op as prose: its ``{0}``, ``{1}``... the formulas of its terms."""
        pieces = re.split(r"\{(\d+)\}", remark.text)
        parts = [
            remark.terms[int(piece)] if n % 2 else self.with_refs(piece)
            for n, piece in enumerate(pieces)
        ]
        return Inline.of(*parts) if len(parts) > 1 else self.with_refs(remark.text)
