"""The worked example as a section of the notes (LaTeX or Markdown): ``--example SEED``.

Part of the notes renderer (:mod:`symgrad.render.notes`). The lines of equations with the numbers
put in come from :mod:`symgrad.render.example`; here they are laid out as displays, with the
parameters and the data first and the gradients and the computational graph after.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import replace
from typing import Any

import numpy as np
import sympy as sp

from symgrad import notation as nt
from symgrad.derivation import Kind
from symgrad.render.document import (
    Block,
    Code,
    Display,
    Heading,
    Inline,
    Prose,
    Role,
    Row,
    Section,
    Strong,
    Text,
    joined_prose,
)
from symgrad.render.example import (
    ONCE_PER_BATCH,
    ExampleLine,
    ExampleLines,
    parameter_origin,
    result_of,
    rule_sentences,
)
from symgrad.render.formula import EMPTY, Math, Numbers, Token, equals
from symgrad.render.notes.builder import Builder
from symgrad.render.notes.step import step_blocks
from symgrad.render.notes.symbols import targets_sum_to_one
from symgrad.render.numbers import SIGNIFICANT
from symgrad.worked import WorkedExample

#: A number as :func:`~symgrad.render.numbers.number_tex` writes it.
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?: \\times 10\^\{-?\d+\})?")


class ExampleSection:
    """The worked example as a section of the notes (LaTeX or Markdown)."""

    def __init__(self, builder: Builder, example: WorkedExample) -> None:
        self.b = builder
        self.fmt = builder.fmt
        self.example = example
        self.lines = ExampleLines(builder.d, example, builder.fmt.row_gap)

    def display(self, line: ExampleLine) -> Display:
        """One step: as many forms on a line as fit, the reference to its equation beside the
        first; a sum too long for a line goes on over the next, term by term."""
        tag = self.b.note_ref(line.step)
        room = self.b.line_ems - 3.0
        forms: list[list[Math]] = []
        for n, terms in enumerate(line.forms):
            middle = 0 < n < len(line.forms) - 1
            if middle and max(self.measure(equals(t)) for t in terms) > room:
                continue  # numbers put into a formula too wide for a line: the value is enough
            forms.append([equals(terms[0]), *terms[1:]])
        rows: list[Row] = []
        current = EMPTY

        def row() -> Row:
            if rows:
                return Row(EMPTY, current)
            return Row(line.lhs, current, tag=tag)

        def fits(formula: Math) -> bool:
            left = line.lhs if not rows else EMPTY
            return self.measure(left, formula) + 3.0 <= self.b.line_ems

        for pieces in forms:
            whole = Math.of(*pieces)
            if current and not fits(current + whole):
                # a form that does not fit after the one before starts a line of its own,
                # rather than leave its first term alone at the end of this one
                rows.append(row())
                current = EMPTY
            for piece in pieces:
                trial = current + piece
                if current and not fits(trial):
                    rows.append(row())
                    current = piece if piece[0] is Token.EQUALS else Math.of(Token.QUAD) + piece
                else:
                    current = trial
        rows.append(row())
        spread = any(r"\frac" in self.lines.printed(form) for form in line.forms)
        return Display(tuple(rows), kind="summary", spread=spread)

    def measure(self, *formulas: Math) -> float:
        """About how many ems ``formulas`` take, side by side (:meth:`width`)."""
        return self.width(" ".join(self.fmt.formula(f) for f in formulas))

    def width(self, latex: str) -> float:
        """About how many ems ``latex`` takes, numbers measured as typeset (a digit is half an
        em; the minus of a negative number is no binary operator with space around it)."""

        def measured(match: re.Match[str]) -> str:
            text = match.group(0)
            ems = 0.5 * sum(ch.isdigit() for ch in text) + 0.28 * text.count(".")
            ems += 0.78 * text.startswith("-") + (2.5 if "times" in text else 0.0)
            return "0" * max(1, round(ems / 0.55))

        return self.b.width(_NUMBER.sub(measured, latex))

    def section(self) -> Section:
        fmt = self.fmt
        introduction, provenance = self._introduction()
        blocks: list[Block] = [introduction, self._inputs(), provenance]
        blocks += [
            Heading("Forward pass"),
            Text(
                "Each line is an equation of the derivation, its number at the right, in matrix "
                "form, then with the numbers put in, then its value:"
            ),
        ]
        blocks += [self.display(line) for line in self.lines.forward()]
        blocks += self._once_per_batch(forward=True)
        blocks += [Heading("Backward pass"), self._going_backwards()]
        blocks += [self.display(line) for line in self.lines.backward()]
        blocks += self._gradients()
        blocks += self._once_per_batch(forward=False)
        blocks += step_blocks(self.example, self.measure, self.b.line_ems)
        intro = (
            "The same numbers on the computational graph of "
            + self.b.section_ref("summary")
            + ": each quantity's value beside its edge, and the gradient of the loss with "
            "respect to it."
        )
        title = "On the computational graph"
        if fmt.latex:
            # a float with its title and words, so that a graph too tall for the rest of the
            # page leaves no gap: the text goes on and the graph takes the top of a page
            graph = self.b.graph(self.example, Inline.of(Strong(title + "."), " ", intro))
            blocks += [replace(graph, floating=True)] if graph is not None else []
        else:
            graph = self.b.graph(self.example, intro)
            blocks += [Heading(title), graph] if graph is not None else []
        return Section(
            "A worked example", fmt.section_label("example"), tuple(blocks), id="example"
        )

    def _introduction(self) -> tuple[Text, Text]:
        """What the example is (for everyone), then where its numbers come from (provenance,
        for the instructors)."""
        fmt, seed = self.fmt, self.example.seed
        students = Text(
            "The equations above, with numbers a student can check: every number is computed "
            "from the parameters, the input and the target in double precision and shown to "
            f"{SIGNIFICANT} significant digits. The parameters, the input and the target are",
            role=Role.EXAMPLE,
        )
        options = " ".join([f"--seed {seed}", *map(shlex.quote, self.example.given.words)])
        provenance = Text(
            "The parameters are "
            + parameter_origin(self.example, fmt.words)
            + "; every other number is computed by the program "
            "that generated code runs ("
            + Code("symgrad example")
            + " with "
            + Code(f"{options} --format json")
            + " prints them with every digit). "
            + joined_prose(" ", rule_sentences(self.example, fmt.words)),
            role=Role.PROVENANCE,
        )
        return students, provenance

    def _inputs(self) -> Display:
        """The parameters, the input and the target, one layer a row."""
        ex = self.example
        rows = []
        for k in range(1, ex.spec.depth + 1):
            weight, bias = nt.quantity("W", k), nt.quantity("b", k)
            symbols = self.b.net.symbol(weight), self.b.net.symbol(bias)
            rows.append(self._values(symbols, (ex.value(weight), ex.value(bias))))
        symbols = self.b.net.symbol(nt.quantity("x")), self.b.net.symbol(nt.quantity("y"))
        rows.append(self._values(symbols, (ex.x, ex.y)))
        return Display(tuple(rows), kind="summary")

    def _values(self, symbols: tuple[sp.Basic, sp.Basic], values: tuple[Any, Any]) -> Row:
        """``W_k = [numbers], b_k = [numbers]``: two quantities and their numbers."""
        right = equals(Math.of(Numbers(np.asarray(values[0]))))
        right += Math.of(Token.COMMA, Token.QQUAD, symbols[1])
        right += equals(Math.of(Numbers(np.asarray(values[1]))))
        return Row(Math.of(symbols[0]), right)

    def _going_backwards(self) -> Text:
        if not self.b.net.assumes_targets_sum_to_one:
            return Text("Going backwards:")
        delta = self.b.step(Kind.OUTPUT_DELTA_VECTOR)
        one_hot = max(self.example.y.tolist()) == 1.0  # entries in [0, 1] that sum to 1
        return Text(
            ("The target is one-hot, so " if one_hot else "The target is a distribution, so ")
            + Inline.of(targets_sum_to_one(nt.I))
            + " and "
            + self.b.ref(delta)
            + " holds. Going backwards:"
        )

    def _once_per_batch(self, forward: bool) -> list[Block]:
        """The steps a layer kind adds once per batch (an objective, its gradients), for the
        batch of this one sample; none for the plain network."""
        lines = [self.display(line) for line in self.lines.once_per_batch(forward)]
        if not lines:
            return []
        return [Text(ONCE_PER_BATCH), *lines]

    def _gradients(self) -> list[Block]:
        """The parameters' gradients are the results of the backward pass's last lines: a
        sentence points to them rather than printing their matrices again."""
        wanted = {
            nt.quantity(name, k).grad() for k in self.b.net.layers_backward() for name in "Wb"
        }
        steps = [line.step for line in self.lines.backward() if result_of(line.step) in wanted]
        if not steps:
            return []
        refs = [self.b.ref(step) for step in steps]
        listed: Prose = refs[0]
        if len(refs) > 1:
            listed = joined_prose(", ", refs[:-1]) + " and " + refs[-1]
        return [
            Text(
                "The results of " + listed + " are the gradient of the loss of this sample with "
                "respect to every parameter: what a step of gradient descent subtracts, times "
                "the learning rate."
            )
        ]
