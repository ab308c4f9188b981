"""The tasks of an exercise sheet, their answers, and how far an answer may be off.

Part of the exercises (:mod:`symgrad.render.exercises`). A task is drawn from the derivation: the
blanks of the forward pass, the gradient with respect to the output layer's pre-activations, one
entry of the gradient of the first weight matrix, the gradient of the output layer's weights as
an outer product, the first layer's parameters after one step of gradient descent. Every answer
is read off the worked example (:func:`symgrad.worked.worked_example`, the program that
generated code runs); nothing here computes a layer or a gradient.

Tolerances. A sheet tells students to write every number they compute to
:data:`~symgrad.render.numbers.SIGNIFICANT` significant digits and to go on with the rounded
value. The tolerance of an answer covers that: the program is run again once for every entry of
every quantity a student writes down, that entry moved by half a unit of its last digit, and
the moves of the answer are added (a first-order bound of every rounding at once, whatever
their signs); then half a unit of the answer's own last digit (and of the product ``eta grad``
for a step), all of it doubled for what a first-order bound leaves out and rounded up to two
significant digits.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

from symgrad import notation as nt
from symgrad.derivation import Derivation
from symgrad.given import Given
from symgrad.render.numbers import SIGNIFICANT
from symgrad.worked import WorkedExample, worked_example

#: The tasks, in the order a sheet sets them, with what each asks (``--tasks``).
TASKS = {
    "forward": "blanks in the forward pass, and the loss",
    "output-gradient": "the gradient of the loss with respect to the output layer's a_L",
    "weight-entry": "one entry (i, j) of the gradient with respect to W_1",
    "outer-product": "the gradient with respect to W_L written out as an outer product",
    "step": "W_1 and b_1 after one step of gradient descent",
}

#: How much wider than the first-order bound a tolerance is.
MARGIN = 2.0


def parse_tasks(text: str | None) -> tuple[str, ...]:
    """``--tasks ID[,ID...]`` in the order of :data:`TASKS` (all when not given)."""
    from symgrad.errors import SpecError

    if text is None:
        return tuple(TASKS)
    asked = [t.strip() for t in text.split(",")]
    for task in asked:
        if task not in TASKS:
            raise SpecError(f"--tasks: unknown task {task!r}; the tasks are {', '.join(TASKS)}")
    return tuple(t for t in TASKS if t in asked)


@dataclass(frozen=True)
class Slot:
    """One number a sheet asks for: entry ``index`` (0-based) of quantity ``q``, or of the
    parameter ``q`` after the step (``stepped``). ``key`` names the slot alike on every sheet."""

    task: str
    key: str
    q: nt.Quantity
    index: tuple[int, ...] = ()
    stepped: bool = False

    def value(self, example: WorkedExample) -> float:
        if self.stepped:
            return float(example.stepped()[self.q.json][self.index])
        return float(np.asarray(example.value(self.q))[self.index])

    @property
    def entry(self) -> sp.Basic:
        """The symbol of the entry (``h_{12}``, ``dL/dW_{112}``), or the quantity's own symbol
        (the loss)."""
        if not self.index:
            return nt.symbol(self.q)
        return nt.entry(self.q, *(i + 1 for i in self.index))

    @property
    def name(self) -> str:
        """The slot in plain text: ``h_1 entry 2``, ``W_1 after the step entry (1, 2)``."""
        what = self.q.text + (" after the step" if self.stepped else "")
        if not self.index:
            return what
        place = ", ".join(str(i + 1) for i in self.index)
        return f"{what} entry ({place})" if len(self.index) > 1 else f"{what} entry {place}"


@dataclass(frozen=True)
class Answer:
    """The answer of one slot on one sheet: its value and how far an answer may be from it."""

    slot: Slot
    number: int
    value: float
    tolerance: float


def half_unit(value: float) -> float:
    """Half a unit of the last of :data:`SIGNIFICANT` significant digits of ``value``."""
    if value == 0 or not math.isfinite(value):
        return 0.0
    return 0.5 * 10.0 ** (math.floor(math.log10(abs(value))) - SIGNIFICANT + 1)


def rounded_up(value: float) -> float:
    """``value`` rounded up to two significant digits (a tolerance as a person writes it)."""
    if value <= 0 or not math.isfinite(value):
        return value
    unit = 10.0 ** (math.floor(math.log10(value)) - 1)
    return float(f"{math.ceil(value / unit - 1e-9) * unit:.2g}")


def forward_quantities(example: WorkedExample) -> list[nt.Quantity]:
    """The vectors of the forward pass a sheet shows: ``a_k``, ``h_k``, ``yhat``."""
    return [q for q in example.order if not q.gradient and q.base in ("a", "h", "yhat")]


def slots(tasks: Sequence[str], example: WorkedExample, rng: np.random.Generator) -> list[Slot]:
    """The numbers the tasks ask for on one sheet; the blanks and the entry drawn by ``rng``."""
    L = example.spec.depth
    found: list[Slot] = []
    for task in tasks:
        if task == "forward":
            for n, q in enumerate(forward_quantities(example), start=1):
                i = int(rng.integers(len(example.value(q))))
                found.append(Slot(task, f"{task}.{n}", q, (i,)))
            found.append(Slot(task, f"{task}.loss", nt.quantity("loss")))
        elif task == "output-gradient":
            q = nt.quantity("a", L).grad()
            found += [Slot(task, f"{task}.{i + 1}", q, (i,)) for i in range(example.spec.sizes[-1])]
        elif task == "weight-entry":
            q = nt.quantity("W", 1).grad()
            rows, cols = example.spec.sizes[1], example.spec.sizes[0]
            index = (int(rng.integers(rows)), int(rng.integers(cols)))
            found.append(Slot(task, task, q, index))
        elif task == "outer-product":
            q = nt.quantity("W", L).grad()
            found += _matrix_slots(task, q, example.spec.sizes[L], example.spec.sizes[L - 1])
        elif task == "step":
            weight, bias = nt.quantity("W", 1), nt.quantity("b", 1)
            rows, cols = example.spec.sizes[1], example.spec.sizes[0]
            found += _matrix_slots(task, weight, rows, cols, stepped=True)
            found += [
                Slot(task, f"{task}.b.{i + 1}", bias, (i,), stepped=True) for i in range(rows)
            ]
    return found


def _matrix_slots(
    task: str, q: nt.Quantity, rows: int, cols: int, stepped: bool = False
) -> list[Slot]:
    tag = f"{task}.{q.base}" if stepped else task
    return [
        Slot(task, f"{tag}.{i + 1}.{j + 1}", q, (i, j), stepped)
        for i in range(rows)
        for j in range(cols)
    ]


def answers(
    derivation: Derivation, given: Given, found: Sequence[Slot], tasks: Sequence[str]
) -> list[Answer]:
    """The answer of every slot with its tolerance (the module's rule)."""
    example = worked_example(derivation, 0, given)
    exact = np.array([slot.value(example) for slot in found])
    bound = np.zeros(len(found))
    for name, size in _written_down(derivation, given, example):
        for flat in range(size):
            moved = worked_example(derivation, 0, given, _mover(name, flat))
            bound += np.abs(np.array([slot.value(moved) for slot in found]) - exact)
    lr = given.lr or 0.0
    result = []
    for slot, value, first_order in zip(found, exact, bound, strict=True):
        own = half_unit(value)
        if slot.stepped:
            gradient = example.value(example.descent_gradient(slot.q))[slot.index]
            own += half_unit(lr * float(gradient))
        number = tasks.index(slot.task) + 1
        tolerance = rounded_up(MARGIN * (first_order + own))
        result.append(Answer(slot, number, float(value), tolerance))
    return result


def _written_down(
    derivation: Derivation, given: Given, example: WorkedExample
) -> list[tuple[str, int]]:
    """The program variables that hold a quantity the worked example shows (what a student
    writes down and rounds), with their number of entries."""
    shown = set(example.order)
    seen: list[tuple[str, int]] = []

    def watch(var: Any, value: Any) -> Any:
        meaning = var.meaning
        if meaning is not None and meaning.quantity in shown and not meaning.entry:
            seen.append((var.name, int(np.size(value))))
        return value

    worked_example(derivation, 0, given, watch)
    return seen


def _mover(name: str, flat: int) -> Callable[[Any, Any], Any]:
    """A watch that moves entry ``flat`` of variable ``name`` by half a unit of its last
    significant digit, as rounding it may."""

    def watch(var: Any, value: Any) -> Any:
        if var.name != name:
            return value
        moved = np.array(value, dtype=np.float64, copy=True)
        entry = float(moved.flat[flat])
        moved.flat[flat] = entry + half_unit(entry)
        return moved

    return watch


def distinct(one: Sequence[Answer], other: Sequence[Answer]) -> bool:
    """Whether every answer of one sheet differs from that of the same slot on the other by
    more than the tolerance of either."""
    theirs = {a.slot.key: a for a in other}
    for mine in one:
        other_answer = theirs.get(mine.slot.key)
        if other_answer is None:
            continue
        if abs(mine.value - other_answer.value) <= max(mine.tolerance, other_answer.tolerance):
            return False
    return True


__all__ = [
    "TASKS",
    "Answer",
    "Slot",
    "answers",
    "distinct",
    "half_unit",
    "parse_tasks",
    "slots",
]
