"""An exercise sheet and its solutions as documents of the notes' model.

Part of the exercises (:mod:`symgrad.render.exercises`). Both are :class:`Notes`: sections of
typed blocks whose math is formula values (:mod:`symgrad.render.formula`), walked by the notes'
LaTeX writer and templates; a writer for another format (HTML) prints them as they are. The
sheet takes the network figure and the forward pass from the notes' setup; the solutions take
the displays of the notes' worked example (:class:`~symgrad.render.notes.example.ExampleSection`
and its step of gradient descent) for the working, and print the answers as numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import sympy as sp

from symgrad import notation as nt
from symgrad.derivation import Derivation, Kind
from symgrad.expressions import X
from symgrad.render.document import (
    Block,
    Display,
    Framing,
    Heading,
    Inline,
    Notes,
    Ref,
    Role,
    Row,
    Section,
    Text,
)
from symgrad.render.exercises.tasks import Answer, forward_quantities
from symgrad.render.formula import Math, Number, Numbers, Token, equals, matrix
from symgrad.render.html import render_page
from symgrad.render.notes import widths
from symgrad.render.notes.builder import Builder
from symgrad.render.notes.example import ExampleSection
from symgrad.render.notes.formats import Format, latex_math
from symgrad.render.notes.options import NotesOptions
from symgrad.render.notes.setup import diagram, forward_vector_rows
from symgrad.render.numbers import SIGNIFICANT
from symgrad.templating import render
from symgrad.worked import WorkedExample

#: The title of the sheets when ``--title`` gives none.
TITLE = "Backpropagation by hand"

#: What the lines of the working show.
FORWARD_WORDS = (
    "Each line is an equation in matrix form, then with the numbers put in, then its value:"
)

#: Numbers in words, for the rule of rounding.
_WORDS = {3: "three", 4: "four", 5: "five"}


@dataclass(frozen=True)
class Sheet:
    """One student's sheet: the id printed on it, the worked example of its numbers, and the
    answers of its tasks."""

    student: str
    example: WorkedExample
    answers: tuple[Answer, ...]
    tasks: tuple[str, ...]


def _builder(derivation: Derivation, example: WorkedExample, fmt: type[Format] = Format) -> Builder:
    options = NotesOptions(example=0, given=example.given).resolved(derivation.spec.depth)
    return Builder(derivation, fmt(derivation, ""), options, example)


def _framing(framing: Framing, what: str, student: str) -> Framing:
    title = framing.title or TITLE
    return replace(framing, title=f"{title}: {what} {student}")


def sheet_notes(
    derivation: Derivation, sheet: Sheet, framing: Framing, fmt: type[Format] = Format
) -> Notes:
    """The students' sheet: the network, the numbers, the tasks; its references and prose
    printed by ``fmt`` (LaTeX by default; the format of any other writer)."""
    b = _builder(derivation, sheet.example, fmt)
    sections = (
        Section("The network", "sec:network", _network(b), id="network"),
        Section(
            "The numbers",
            "sec:numbers",
            _numbers(b, sheet.example, "step" in sheet.tasks),
            id="numbers",
        ),
        Section("Tasks", "sec:tasks", tuple(_tasks(b, sheet)), id="tasks"),
    )
    return _document(b, sections, _framing(framing, "sheet", sheet.student))


def solution_notes(
    derivation: Derivation, sheet: Sheet, framing: Framing, fmt: type[Format] = Format
) -> Notes:
    """The solutions of one sheet: every answer, then the working, step by step (printed by
    ``fmt``, as :func:`sheet_notes`)."""
    b = _builder(derivation, sheet.example, fmt)
    answers: list[Block] = [
        Text(
            "Every number is computed exactly and then rounded to "
            f"{_WORDS.get(SIGNIFICANT, str(SIGNIFICANT))} significant digits; an answer "
            "computed from rounded values may differ in its last digit."
        )
    ]
    for n, task in enumerate(sheet.tasks, start=1):
        mine = [a for a in sheet.answers if a.slot.task == task]
        answers += [Heading(f"Task {n}"), Display(tuple(_answer_rows(mine)), kind="summary")]
    sections = (
        Section("Answers", "sec:answers", tuple(answers), id="answers"),
        Section("Working", "sec:working", tuple(_working(b, sheet.example)), id="working"),
    )
    return _document(b, sections, _framing(framing, "solutions to sheet", sheet.student))


def clean(value: float) -> float:
    """``value`` without the noise of binary fractions in its last bits (``-0.58`` for the
    ``-0.5800000000000001`` a sum of numbers with one decimal gives), so that it is shown as
    the exact number it is."""
    return float(f"{value:.12g}")


def _document(b: Builder, sections: tuple[Section, ...], framing: Framing) -> Notes:
    """The document of ``sections``, its references printed (the writers see no value)."""
    notes = Notes(TITLE, b.network_words(), "", (), sections, framing=framing)
    return b.fmt.resolve(notes, notes.numbering())


def _answer_rows(mine: Sequence[Answer]) -> list[Row]:
    """A task's answers: an entry as ``symbol = value``; a whole vector or matrix (every entry
    of a quantity asked for) as its symbol and its numbers, after the step with an arrow."""
    rows: list[Row] = []
    groups: dict[tuple[nt.Quantity, bool], list[Answer]] = {}
    for a in mine:
        groups.setdefault((a.slot.q, a.slot.stepped), []).append(a)
    for (q, stepped), group in groups.items():
        whole = len(group) > 1
        if not whole:
            (a,) = group
            rows.append(Row(Math.of(a.slot.entry), equals(Math.of(Number(clean(a.value))))))
            continue
        shape = tuple(
            max(a.slot.index[d] for a in group) + 1 for d in range(len(group[0].slot.index))
        )
        values = np.zeros(shape)
        for a in group:
            values[a.slot.index] = clean(a.value)
        relation = Token.LEFTARROW if stepped else Token.EQUALS
        rows.append(Row(Math.of(nt.symbol(q)), Math.of(relation, Numbers(values))))
    return rows


def render_sheet_html(notes: Notes, derivation: Derivation) -> str:
    """A sheet or its solutions as a web page (the notes' web page writer); ``notes`` built
    with its format (:func:`sheet_notes` with ``fmt=HtmlFormat``)."""
    return render_page(notes, derivation)


def render_sheet(notes: Notes) -> str:
    """A sheet or its solutions as a standalone LaTeX document (the notes' writer)."""
    return render(
        "latex/document.tex.jinja",
        notes=notes,
        command="",
        fragment=False,
        tag_numbers=False,
        breakable=widths.breakable,
        math=latex_math,
    )


# The sheet ------------------------------------------------------------------------------------


def _network(b: Builder) -> tuple[Block, ...]:
    """The figure, then the forward pass in matrix form, the activation and the loss."""
    loss = b.step(Kind.LOSS)
    rows = [replace(r, tag="") for r in forward_vector_rows(b)]
    rows += _activation_rows(b)
    blocks: list[Block] = [
        diagram(b),
        Text(
            Inline.of(
                "Each layer adds its biases to a weighted sum of the layer below (",
                Math.of(nt.symbol(nt.quantity("h", 0))),
                " is the input), then applies its activation to every unit:",
            )
        ),
        Display(tuple(rows)),
        Text("The loss of the sample:"),
        _unnumbered(b.step_display(loss, notes=False)),
    ]
    return tuple(blocks)


def _activation_rows(b: Builder) -> list[Row]:
    """``g(x) = ...`` for every activation the hidden layers use, once each."""
    uniform = len({b.spec.activation(k).name for k in range(1, b.L)}) == 1
    rows: list[Row] = []
    seen: set[str] = set()
    for k in range(1, b.L):
        activation = b.spec.activation(k)
        if not uniform or activation.name not in seen:
            seen.add(activation.name)
            g = nt.activation_function(k, uniform)(X)
            shown = activation.function_display or activation.function
            rows.append(Row(Math.of(g), equals(Math.of(shown))))
    return rows


def _unnumbered(display: Display) -> Display:
    """A display of the derivation without its equation numbers: a sheet refers to none."""
    rows = tuple(replace(r, label="", anchor="", number=0, tag="", key="") for r in display.rows)
    return replace(display, rows=rows)


def _numbers(b: Builder, example: WorkedExample, step: bool) -> tuple[Block, ...]:
    """The parameters, the input and the target, and with a ``step`` task its learning rate."""
    rows = []
    for k in range(1, b.L + 1):
        weight, bias = nt.quantity("W", k), nt.quantity("b", k)
        rows.append(_pair(weight, bias, example.value(weight), example.value(bias)))
    rows.append(_pair(nt.quantity("x"), nt.quantity("y"), example.x, example.y))
    if step and example.lr is not None:
        rows.append(Row(Math.of(_ETA), equals(Math.of(Number(example.lr)))))
        words = "Your parameters, input and target, and the learning rate of the last task:"
    else:
        words = "Your parameters, input and target:"
    return (Text(words), Display(tuple(rows), kind="summary"))


_ETA = sp.Symbol("eta")


def _pair(first: nt.Quantity, second: nt.Quantity, one: object, two: object) -> Row:
    right = equals(Math.of(Numbers(np.asarray(one))))
    right += Math.of(Token.COMMA, Token.QQUAD, nt.symbol(second))
    right += equals(Math.of(Numbers(np.asarray(two))))
    return Row(Math.of(nt.symbol(first)), right)


def _tasks(b: Builder, sheet: Sheet) -> list[Block]:
    digits = _WORDS.get(SIGNIFICANT, str(SIGNIFICANT))
    blocks: list[Block] = [
        Text(
            f"Write every number you compute to {digits} significant digits, and go on with "
            "the number as you wrote it."
        )
    ]
    example = sheet.example
    for n, task in enumerate(sheet.tasks, start=1):
        mine = [a for a in sheet.answers if a.slot.task == task]
        blocks.append(Heading(f"Task {n}"))
        blocks += _task(b, task, mine, example)
    return blocks


def _task(b: Builder, task: str, mine: list[Answer], example: WorkedExample) -> list[Block]:
    L = b.L
    if task == "forward":
        blanks = {a.slot.q: a.slot.index for a in mine if a.slot.index}
        rows = [
            _with_blank(q, example.value(q), blanks.get(q)) for q in forward_quantities(example)
        ]
        return [
            Text(
                Inline.of(
                    "The forward pass, with an entry of each vector left blank. Compute every "
                    "entry written as a symbol, then the loss ",
                    Math.of(nt.symbol(nt.quantity("loss"))),
                    ":",
                )
            ),
            Display(tuple(rows), kind="summary", spread=True),
        ]
    if task == "output-gradient":
        q = nt.quantity("a", L).grad()
        return [
            Text(
                Inline.of(
                    "Compute ",
                    Math.of(nt.symbol(q)),
                    ", the gradient of the loss with respect to the pre-activations of the "
                    "output layer.",
                )
            )
        ]
    if task == "weight-entry":
        slot = mine[0].slot
        i, j = (n + 1 for n in slot.index)
        return [
            Text(
                Inline.of(
                    "Compute ",
                    Math.of(slot.entry),
                    f", the entry in row {i} and column {j} of ",
                    Math.of(nt.symbol(nt.quantity("W", 1).grad())),
                    ".",
                )
            )
        ]
    if task == "outer-product":
        q = nt.quantity("W", L).grad()
        return [
            Text(
                Inline.of(
                    "Write out ",
                    Math.of(nt.symbol(q)),
                    " as the outer product of a column vector and a row vector, then compute "
                    "every entry.",
                )
            )
        ]
    weight, bias = nt.quantity("W", 1), nt.quantity("b", 1)
    return [
        Text(
            Inline.of(
                "Take one step of gradient descent with the learning rate ",
                Math.of(_ETA, Token.EQUALS, Number(example.lr or 0.0)),
                ": compute ",
                Math.of(nt.symbol(weight)),
                " and ",
                Math.of(nt.symbol(bias)),
                " after the step.",
            )
        )
    ]


def _with_blank(q: nt.Quantity, values: np.ndarray, blank: tuple[int, ...] | None) -> Row:
    """``q = [numbers]`` with the entry ``blank`` written as its symbol."""
    column = np.asarray(values)

    def cell(r: int, c: int) -> Math:
        if blank is not None and (r - 1,) == blank:
            return Math.of(nt.entry(q, r))
        return Math.of(Number(clean(float(column[r - 1]))))

    return Row(Math.of(nt.symbol(q)), equals(Math.of(matrix(len(column), 1, cell))))


# The solutions --------------------------------------------------------------------------------


def _working(b: Builder, example: WorkedExample) -> list[Block]:
    """The worked example's displays, forward and backward, and its step of gradient descent:
    every value of the sheet with the numbers put into its equation. The notes' sentences
    that refer to their other sections are left out, and so is the equations' numbering."""
    section = ExampleSection(b, example).section()
    kept: list[Block] = [Text("The numbers of the sheet:")]
    for block in section.blocks:
        if isinstance(block, Display):
            kept.append(_unnumbered(block))
        elif isinstance(block, Heading):
            kept.append(block)
        elif isinstance(block, Text) and len(kept) > 1 and block.role is not Role.PROVENANCE:
            # the notes' introduction (before the first display) speaks of "the equations
            # above"; its other sentences that refer to its sections are left out too
            if _refers(block.text):
                continue
            previous = kept[-1]
            if isinstance(previous, Heading) and previous.title == "Forward pass":
                block = Text(FORWARD_WORDS)  # the notes' sentence speaks of numbered equations
            kept.append(block)
    # a heading whose blocks were all left out (the web page's heading of the graph)
    return [b for n, b in enumerate(kept) if not _heads_nothing(kept, n)]


def _heads_nothing(blocks: Sequence[Block], n: int) -> bool:
    """Whether ``blocks[n]`` is a heading followed by another heading or by nothing."""
    following = blocks[n + 1] if n + 1 < len(blocks) else None
    return isinstance(blocks[n], Heading) and (following is None or isinstance(following, Heading))


def _refers(text: object) -> bool:
    """Whether prose refers to an equation or a section (of the notes, not of this sheet)."""
    if isinstance(text, Ref):
        return True
    return isinstance(text, Inline) and any(isinstance(p, Ref) for p in text)


__all__ = ["TITLE", "Sheet", "render_sheet", "sheet_notes", "solution_notes"]
