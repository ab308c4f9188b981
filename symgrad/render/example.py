"""The worked example in the notes, the slides and the terminal: equations with the numbers in.

Part of the renderers (worked example -> **example** -> notes, slides, cli). It walks the forward
pass and then the backward pass in the order and with the numbers of the derivation's equations:
each line is an equation in matrix form, the same equation with the numbers of one sample put in,
and its result, with the number of the equation it instantiates beside it. Every number comes from
:class:`~symgrad.worked.WorkedExample` (the program generated code runs), shown to 4 significant
digits; nothing here computes a value.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import sympy as sp

from symgrad import notation as nt
from symgrad import printing
from symgrad.derivation import Derivation, Stage, Step, StepId
from symgrad.model import instantiate
from symgrad.network import Network
from symgrad.notation import Quantity
from symgrad.printing.order import conventional_order, is_negative, negated, summand_in_front
from symgrad.render import wording
from symgrad.render.document import Prose
from symgrad.render.formula import (
    EMPTY,
    Call,
    Expr,
    Filled,
    FilledScalar,
    Group,
    Math,
    Matrix,
    Negative,
    Number,
    Numbers,
    Part,
    Power,
    Term,
    Token,
    latex,
)
from symgrad.render.numbers import SIGNIFICANT, number_text
from symgrad.worked import DATA_STREAM, WorkedExample

# Which quantity each step of the example computes --------------------------------------------


def forward_ids(net: Network) -> list[StepId]:
    """``a_1, h_1, ..., a_L``, ``yhat``, the loss: the forward steps, in the network's order."""
    return [s.id for op in net.forward_order() for s in op.forward(net)]


def backward_ids(net: Network) -> list[StepId]:
    """The matrix steps of the backward pass in the order (and numbering) of the derivation:
    the output layer, the hidden layers, the parameters."""
    return [
        s.id
        for q in net.backward_by_stage()
        for s in net.gradient_steps(q)
        if s.kind.twin is not None
    ]


def batch_only_ids(net: Network, forward: bool) -> list[StepId]:
    """The steps of a batch that stack no per-sample step (a layer kind's objective and its
    gradients), which the example shows for its batch of one sample: those of the forward pass
    (``forward``), or the others."""
    made = {s.id for op in net.forward_order() for s in op.batch_forward(net)}
    return [s.id for s in net.batch_only() if (s.id in made) == forward]


def result_of(step: Step) -> Quantity:
    """The quantity a step of the example computes: its left side."""
    lhs = step.lhs
    if isinstance(lhs, nt.QuantitySymbol):
        return lhs.quantity
    if lhs == nt.LOSS:
        return nt.quantity("loss")
    if isinstance(lhs, sp.Indexed):
        return nt.entry_quantity(lhs)[0]
    raise KeyError(f"step {step.key} computes no quantity of the example")


def matrix_numbers(example: WorkedExample) -> dict[Quantity, np.ndarray]:
    """The value of every vector and matrix of the notation the example has a number for."""
    numbers: dict[Quantity, np.ndarray] = {
        nt.quantity("x"): example.x,
        nt.quantity("y"): example.y,
    }
    for k in range(1, example.spec.depth + 1):
        for base in ("W", "b"):
            numbers[nt.quantity(base, k)] = example.value(nt.quantity(base, k))
    for q in example.order:
        numbers[q] = example.value(q)
    return numbers


def vector_forms(net: Network) -> dict[Quantity, tuple[sp.Basic, sp.Basic]]:
    """Each quantity of the forward pass and its definition as a vector, with the abstract and
    with the written functions, as its op gives them."""
    return {
        q: (form, written)
        for op in net.forward_order()
        for q, form, written in op.vector_forms(net)
    }


def entry_value(example: WorkedExample, entry: sp.Indexed) -> float | None:
    """The number of one entry of the notation (``a_{21}``, ``yhat_{1}``, ``y_{2}``)."""
    q, indices = nt.entry_quantity(entry)
    if not all(i.is_Integer for i in indices) or q.base not in ("yhat", "y", "x", "a", "h"):
        return None
    if q.base in ("a", "h") and q.layer is None:
        return None
    return float(example.value(q)[int(indices[0]) - 1])


#: A form of an example's line: the terms of its sum (one, if it is none), each a formula; every
#: term after the first starts with its sign (:class:`~symgrad.render.formula.Term`), so that a
#: long sum can go on over the next line term by term.
Terms = tuple[Math, ...]


@dataclass(frozen=True)
class ExampleLine:
    """One step of the example: the quantity, the formula, the formula with the numbers in, and
    the result, each as formulas (forms that print the same as the one before are left out)."""

    step: Step
    lhs: Math
    forms: tuple[Terms, ...]


def sum_terms(expr: sp.Basic, part: Callable[[sp.Basic], Part]) -> Terms:
    """``expr`` as the terms of its sum, each made a part by ``part``, in the order and with the
    signs the printer gives them (one term when ``expr`` is no sum)."""
    if isinstance(expr, sp.MatAdd):
        terms: list[Math] = []
        for n, term in enumerate(conventional_order(expr)):
            negative = is_negative(term)
            inner = Math.of(part(negated(term) if negative else term))
            if isinstance(term, sp.MatAdd):
                inner = Math.of(Group(inner))
            if n == 0:
                terms.append(Math.of(Negative(inner)) if negative else inner)
            else:
                terms.append(Math.of(Term(inner, negative)))
        return tuple(terms)
    if isinstance(expr, sp.Add):
        ordered = conventional_order(expr)
        first, rest = ordered[0], ordered[1:]
        signed = [
            Term(Math.of(part(-t)), True)
            if t.could_extract_minus_sign()
            else Term(Math.of(part(t)))
            for t in rest
        ]
        return (Math.of(part(first)), *(Math.of(t) for t in signed))
    return (Math.of(part(expr)),)


class ExampleLines:
    """The example's equations as formulas: ``lhs = formula = numbers = result``."""

    def __init__(self, derivation: Derivation, example: WorkedExample, row_gap: str) -> None:
        self.d = derivation
        self.example = example
        self.net = derivation.network
        self.L = derivation.spec.depth
        self.row_gap = row_gap
        self.numbers = matrix_numbers(example)
        self.vectors = vector_forms(self.net)
        #: The constants of the steps (weight decay's ``lambda``) as the numbers they are.
        self.constants = {s: sp.Float(float(v)) for s, v in self.net.constants().items()}

    def tex(self, expr: sp.Basic) -> Terms:
        return sum_terms(expr, Expr)

    def with_numbers(self, expr: sp.Basic) -> Terms:
        numbered = expr.xreplace(self.constants) if self.constants else expr
        return sum_terms(numbered, lambda e: Filled(e, self.numbers))

    def result(self, step: Step) -> Terms:
        value = self.example.value(result_of(step))
        if value.ndim == 0:
            return (Math.of(Number(float(value))),)
        return (Math.of(Numbers(value)),)

    def scalar(self, expr: sp.Basic, stacked: bool = False) -> FilledScalar:
        """``expr``, a formula of scalars, with the numbers of its entries."""
        values = {e: v for e in expr.atoms(sp.Indexed) if (v := self.value_of(e)) is not None}
        return FilledScalar(expr, values, stacked)

    def entries(self, expr: sp.Expr, n: int, index: str) -> Terms:
        """The column of ``expr`` at ``index = 1..n``, with the numbers of its entries."""
        column = [Math.of(self.scalar(instantiate(expr, **{index: r + 1}), True)) for r in range(n)]
        return (Math.of(Matrix(tuple((entry,) for entry in column))),)

    def value_of(self, entry: sp.Indexed) -> float | None:
        return entry_value(self.example, entry)

    def targets(self, term: sp.Expr) -> dict[sp.Basic, sp.Expr]:
        r"""The targets in ``term`` that are whole numbers (a one-hot label's 0 and 1), as
        those numbers: they are data, and ``0 \log`` vanishes, ``1 \log`` is ``\log``."""
        found = {}
        for entry in term.atoms(sp.Indexed):
            value = self.value_of(entry) if nt.is_entry_of(entry, "y") else None
            if value is not None and float(value).is_integer():
                found[entry] = sp.Integer(int(value))
        return found

    def in_order(self, term: sp.Expr) -> Math:
        """``term`` with its numbers, a sum in it (squared error's ``(yhat_i - y_i)^2``) kept in
        the order of the formula: ``(-1.031 - 0.9)^{2}``, not ``(-0.9 - 1.031)^{2}``, which the
        numbers' signs would make of it."""
        if isinstance(term, sp.Pow) and isinstance(term.base, sp.Add) and term.exp.is_Integer:
            return Math.of(Power(self.in_order(term.base), int(term.exp)))
        if not isinstance(term, sp.Add):
            return Math.of(self.scalar(term))
        parts = [Math.of(self.scalar(part)) for part in conventional_order(term)]
        return Math.of(parts[0], *(Term(p) for p in parts[1:]))

    def loss_terms(self, loss: sp.Expr) -> Terms:
        r"""The loss with the numbers put in, a term for each ``i`` in the formula's order and,
        within it, as the formula writes its terms; a term the target makes 0 (``y_i \log
        \hat{y}_i`` at ``y_i = 0``) is left out, and a target of 1 multiplies nothing:
        ``-\log 0.8299``, not ``-1 \log 0.8299 - 0 \log 0.1701``."""
        if not isinstance(loss, sp.Sum):
            return (Math.of(self.scalar(instantiate(loss))),)
        ((index, low, high),) = loss.limits
        # the sign stays with the terms (-\log 0.8299 - ...); a constant factor goes in front
        sign, coeff, body = summand_in_front(loss.function)
        body = -body if sign else body
        order = conventional_order(body) if isinstance(body, sp.Add) else [body]
        terms: list[Math] = []
        for v in range(int(low), int(high) + 1):
            for generic in order:
                term = generic.xreplace({index: v})
                term = term.xreplace(self.targets(term))
                if term == 0:
                    continue
                text = self.in_order(term)
                terms.append(Math.of(Term(text)) if terms else text)
        if not terms:
            terms = [Math.of(sp.Integer(0))]
        if coeff == 1:
            return tuple(terms)
        joined = Math.of(*terms)
        return (Math.of(coeff, Group(joined) if len(terms) > 1 else joined),)

    def printed(self, terms: Terms) -> str:
        """A form as LaTeX prints it, to tell two forms apart."""
        return latex(Math.of(*terms), self.row_gap)

    def line(self, id: StepId) -> ExampleLine:  # noqa: A002 - a step's id
        step = self.d.step(id)
        q = result_of(step)
        forms_of = self.vectors.get(q) if step.stage is Stage.SETUP else None
        if q == nt.quantity("yhat") and forms_of is not None:
            lhs = Math.of(self.net.symbol(q))
            forms = [self.tex(forms_of[0]), self.entries(step.final, self.net.n(self.L), "i")]
        elif q == nt.quantity("loss"):
            lhs = Math.of(step.lhs)
            forms = [self.tex(step.final), self.loss_terms(step.final)]
        elif forms_of is not None:
            lhs = Math.of(self.net.symbol(q))
            forms = [self.tex(forms_of[0]), self.with_numbers(forms_of[1])]
        else:
            lhs, forms = Math.of(step.lhs), [self.tex(step.final), self.with_numbers(step.final)]
        forms.append(self.result(step))
        kept: list[Terms] = []
        for form in forms:
            if not kept or self.printed(form) != self.printed(kept[-1]):
                kept.append(form)
        return ExampleLine(step, lhs, tuple(kept))

    def forward(self) -> Iterator[ExampleLine]:
        for id in forward_ids(self.net):
            yield self.line(id)

    def backward(self) -> Iterator[ExampleLine]:
        for id in backward_ids(self.net):
            yield self.line(id)

    def once_per_batch(self, forward: bool) -> Iterator[ExampleLine]:
        """The steps of :func:`batch_only_ids`, for the example's batch of one sample."""
        for id in batch_only_ids(self.net, forward):
            yield self.line(id)


# The rule for x and y, in words ----------------------------------------------------------------


def rule_sentences(example: WorkedExample, style: wording.Style) -> list[Prose]:
    """How ``x`` and ``y`` were drawn (or that they were given), for a reader (``style``
    marks up code and formulas for the output format)."""
    spec, given = example.spec, example.given
    n0, nL = spec.sizes[0], spec.sizes[-1]
    rng = style.code(f"numpy.random.default_rng([{example.seed}, {DATA_STREAM}])")
    x, y = (style.math(Math.of(nt.symbol(nt.quantity(name))), name) for name in "xy")
    decimals = given.decimals or 1
    places = "one decimal" if decimals == 1 else f"{decimals} decimals"
    interval = style.math(Math.of(_closed_interval(-1, 1)), "[-1, 1]")
    uniform = "drawn uniformly from " + interval + f" and rounded to {places}"
    target: Prose
    if spec.output == "softmax":
        target = f"one-hot, its class drawn uniformly among the {nL} output units"
    elif spec.output == "sigmoid":
        target = f"{nL} entries, each 0 or 1 with equal chance"
    else:
        target = f"{nL} entries " + uniform
    if given.x is not None and given.y is not None:
        return ["The input and the target are given."]
    if given.x is not None:
        return [
            "The input is given; the target is drawn from "
            + rng
            + ", after the parameters and apart from them, once the "
            + f"{n0} entries of an input are drawn (and left unused): "
            + y
            + ", "
            + target
            + "."
        ]
    if given.y is not None:
        return [
            "The target is given; the input is drawn from "
            + rng
            + ", after the parameters and apart from them: "
            + x
            + f", {n0} entries "
            + uniform
            + "."
        ]
    return [
        "The input and the target are drawn from "
        + rng
        + ", after the parameters and apart from them: first "
        + x
        + f", {n0} entries "
        + uniform
        + "; then "
        + y
        + ", "
        + target
        + "."
    ]


def _closed_interval(low: int, high: int) -> Call:
    """``[low, high]``, the numbers between two bounds, as a line of text writes it."""
    return Call(EMPTY, Math.of(low, Token.COMMA, high), square=True)


def parameter_origin(example: WorkedExample, style: wording.Style) -> Prose:
    """Where the parameters come from, as the end of a sentence that starts "The parameters
    are": ``init_params(SEED)`` of the generated module (rounded with ``--round``), or the
    file they were given in."""
    given = example.given
    if given.params_file is not None:
        return "given in " + style.code(given.params_file)
    rounded = f", rounded to {given.decimals} decimals" if given.decimals else ""
    return (
        "those that "
        + style.code(f"init_params({example.seed})")
        + " returns in the module "
        + style.code("symgrad codegen")
        + " generates for this network"
        + rounded
    )


def graph_caption(latex: bool, example: bool) -> str:
    """What the graph shows, in the words of the output format."""
    if not latex:
        what = "the numbers of the example" if example else "symbols"
        return (
            "The computational graph of one sample: each box is an operation, each arrow "
            "carries a quantity. The table gives, for each, where it comes from and goes, its "
            f"value and the gradient of the loss with respect to it, in {what}. The backward "
            "pass starts from 1 at the loss. The input and the target are data and get no "
            "gradient."
        )
    if not example:
        return (
            "The computational graph of one sample: operations in boxes; beside each edge its "
            "quantity (forward, green) and, in a dashed frame, its gradient (backward from 1 "
            "at the loss, red)."
        )
    return (
        "The computational graph of one sample: each box is an operation; beside each edge, "
        "its quantity's value (green) and, in a dashed frame, the gradient of the loss with "
        "respect to it (red). "
        "The backward pass starts from 1 at the loss. The input and the target are data and "
        "get no gradient."
    )


# The terminal ---------------------------------------------------------------------------------


def _vector(values: np.ndarray) -> str:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 0:
        return number_text(float(array))
    return "(" + ", ".join(number_text(v) for v in array) + ")"


def _matrix_lines(lead: str, values: np.ndarray) -> list[str]:
    array = np.asarray(values, dtype=np.float64)
    cells = [[number_text(v) for v in row] for row in array]
    widths = [max(len(row[c]) for row in cells) for c in range(array.shape[1])]
    lines = []
    for n, row in enumerate(cells):
        body = "  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True))
        left, right = (
            ("[", "]")
            if len(cells) == 1
            else (("⎡", "⎤") if n == 0 else ("⎣", "⎦") if n == len(cells) - 1 else ("⎢", "⎥"))
        )
        prefix = lead if n == 0 else " " * len(lead)
        lines.append(f"{prefix}{left} {body} {right}")
    return lines


def render_example_text(derivation: Derivation, example: WorkedExample) -> str:
    """``symgrad example``: the numbers in the order of the derivation, 4 significant digits."""
    spec = example.spec
    L = spec.depth
    sizes = " ".join(shlex.quote(a) for a in spec.command_args())
    given = example.given
    everything = given.params is not None and given.x is not None and given.y is not None
    seed = "" if everything else f", seed {example.seed}"
    if given.params_file is not None:
        origin = f"given in {given.params_file}"
    else:
        origin = f"init_params({example.seed}) of the module `symgrad codegen {sizes}` writes"
        origin += f", rounded to {given.decimals} decimals" if given.decimals else ""
    out = [
        f"Worked example for the {'-'.join(str(n) for n in spec.sizes)} network{seed}",
        "",
        f"Parameters: {origin}.",
        *map(wording.plain, rule_sentences(example, wording.PLAIN)),
        f"Every number is computed by the program generated code runs, in float64, and shown to "
        f"{SIGNIFICANT} significant digits; --format json gives every digit.",
        "",
    ]
    for k in range(1, L + 1):
        weight, bias = nt.quantity("W", k), nt.quantity("b", k)
        out += _matrix_lines(f"{weight.unicode} = ", example.value(weight))
        out.append(f"{bias.unicode} = {_vector(example.value(bias))}")
    out += [f"x = {_vector(example.x)}", f"y = {_vector(example.y)}", "", "Forward pass"]
    net = derivation.network
    vectors = vector_forms(net)
    for id in forward_ids(net):
        out += _text_line(derivation, example, id, vectors)
    out += _once_per_batch(derivation, example, batch_only_ids(net, forward=True), vectors)
    out += ["", "Backward pass"]
    for id in backward_ids(net):
        out += _text_line(derivation, example, id, vectors)
    out += _once_per_batch(derivation, example, batch_only_ids(net, forward=False), vectors)
    out += _step_lines(example)
    return "\n".join(out) + "\n"


def _step_lines(example: WorkedExample) -> list[str]:
    """One step of gradient descent (``--lr``): every parameter minus the learning rate times
    its gradient, for each layer."""
    if example.lr is None:
        return []
    out = [
        "",
        f"One step of gradient descent, learning rate η = {number_text(example.lr)}: each "
        "parameter minus η times its gradient",
    ]
    after = example.stepped()
    for q in example.parameters():
        value = after[q.json]
        lead = f"{q.unicode} - η {example.descent_gradient(q).unicode} = "
        if value.ndim == 2:
            out += _matrix_lines(lead, value)
        else:
            out.append(lead + _vector(value))
    return out


#: What introduces the steps a layer kind adds once per batch, in the example.
ONCE_PER_BATCH = "Once per batch, here the batch of this one sample:"


def _once_per_batch(
    derivation: Derivation,
    example: WorkedExample,
    ids: list[StepId],
    vectors: dict[Quantity, tuple[sp.Basic, sp.Basic]],
) -> list[str]:
    if not ids:
        return []
    lines = [ONCE_PER_BATCH]
    for id in ids:
        lines += _text_line(derivation, example, id, vectors)
    return lines


def _text_line(
    derivation: Derivation,
    example: WorkedExample,
    id: StepId,  # noqa: A002 - a step's id
    vectors: dict[Quantity, tuple[sp.Basic, sp.Basic]],
) -> list[str]:
    step = derivation.step(id)
    q = result_of(step)
    forms_of = vectors.get(q) if step.stage is Stage.SETUP else None
    if forms_of is not None:
        lhs, formula = q.unicode, printing.unicode(forms_of[0])
    else:
        lhs, formula = printing.unicode(step.lhs), printing.unicode(step.final)
    value = example.value(q)
    lead = f"({step.number}) {lhs} = {formula} = "
    if value.ndim == 2:
        return [f"({step.number}) {lhs} = {formula}", *_matrix_lines(" " * 4 + "= ", value)]
    return [lead + _vector(value)]


__all__ = [
    "ONCE_PER_BATCH",
    "ExampleLines",
    "backward_ids",
    "batch_only_ids",
    "forward_ids",
    "graph_caption",
    "matrix_numbers",
    "parameter_origin",
    "render_example_text",
    "result_of",
]
