"""Numbers and shapes in formulas: the worked example's loss line and signs, shapes of products.

The loss line has a term for each output in the formula's order, without the terms a target of
0 makes vanish and without a factor 1 (``-\\log 0.8299``, not ``-1 \\log 0.8299 - 0 \\log
0.1701``); binary cross-entropy keeps the order of its formula and starts its numbers on a line
of their own when they do not fit after it; a negative number stays inside the function it is
put into (``\\tanh(-0.4054)``, not ``-\\tanh(0.4054)``). And the products of the general
and mini-batch forms carry the shape of each factor underneath, shapes that multiply.
"""

from __future__ import annotations

import re

import sympy as sp
from conftest import run_cli

from symgrad import notation as nt
from symgrad.pipeline import derive
from symgrad.render.notes import NotesOptions, render_latex
from symgrad.render.numbers import latex_scalar_with_numbers
from symgrad.render.terminal import render_terminal
from symgrad.spec import NetworkSpec


def notes(
    sizes: list[int], activation: str | None = None, output: str | None = None, seed: int = 0
) -> str:
    spec = NetworkSpec.parse(sizes, activation, output)
    return render_latex(derive(spec, prove=False), options=NotesOptions(example=seed))


def loss_line(text: str) -> str:
    """The rows of the example's loss line, joined, without the tag."""
    at = text.index(r"\mathcal{L} &= -\sum")
    end = text.index(r"\end{align*}", at)
    return re.sub(r"\\tag\*\{[^}]*\}\}", "", text[at:end])


def test_cross_entropy_writes_the_one_term_of_the_one_hot_target() -> None:
    line = loss_line(notes([2, 2, 2]))
    assert r"= -\log 0.8299 = 0.1864" in line
    assert "0 \\log" not in line and "-1 \\log" not in line


def test_binary_cross_entropy_keeps_its_order_and_drops_the_vanishing_terms() -> None:
    line = loss_line(notes([3, 3, 3, 3], output="sigmoid"))
    rows = [r for r in line.split(r"\\") if r.strip()]
    # the formula alone on its row, the numbers on the next, in the formula's order:
    # y = (0, 1, 1), so the first output keeps its (1 - y) term, the others their y term
    assert rows[0].rstrip().endswith(r"\right)\right)"), rows
    assert r"&= -\log \left(1 - 0.4864\right) - \log 0.4671 - \log 0.4474 = 2.232" in rows[1]
    assert "(1 - 1)" not in line and "(1 - 0)" not in line and "0 \\log" not in line


def test_squared_error_keeps_the_order_of_its_formula() -> None:
    # yhat = (-1.031, -0.2697), y = (0.9, -0.9): (yhat_i - y_i) with yhat_i first
    text = notes([3, 2, 2], output="identity")
    line = text[text.index(r"\mathcal{L} &= \frac{1}{2} \sum") :].split("\n")[0]
    assert (
        r"= \frac{1}{2} \left(\left(-1.031 - 0.9\right)^{2} + \left(-0.2697 + 0.9\right)^{2}\right)"
        in line
    )


def test_a_negative_number_stays_inside_its_function() -> None:
    text = notes([2, 2, 2], "tanh", seed=3)  # a_1 = (-0.4054, -0.08909)
    h = next(r for r in text.splitlines() if r.lstrip().startswith("h_{1} &= g(a_{1}) ="))
    assert r"\tanh(-0.4054)" in h and r"-\tanh" not in h
    # odd functions would pull the sign out of a negated number; the sign stays in
    assert latex_scalar_with_numbers(sp.tanh(nt.pre(1, 1)), lambda e: -0.04891) == (
        r"\tanh(-0.04891)"
    )
    assert latex_scalar_with_numbers(sp.sin(nt.pre(1, 1)), lambda e: -0.5) == r"\sin(-0.5)"
    # elsewhere signs combine as by hand: e^{-a} at a = -0.5 is e^{0.5}
    assert latex_scalar_with_numbers(sp.exp(-nt.pre(1, 1)), lambda e: -0.5) == "e^{0.5}"


# Shapes under the products of the general and the mini-batch forms ---------------------------

_UNDER = re.compile(
    r"\\underbrace\{.*?\}_\{([^{}]*(?:\{[^{}]*\}[^{}]*)*) \\times ([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}"
)


def shape_errors(row: str) -> list[str]:
    """What is wrong with the shapes written under a row ``lhs &= f_1 f_2 + g_1 g_2``: every
    product's inner sizes must agree, and every term must have the shape of the left side."""
    left, right = row.split("&=")
    (lhs,) = _UNDER.findall(left)
    errors = []
    for term in right.split(" + "):
        shapes = _UNDER.findall(term)
        for (_, cols), (rows, _) in zip(shapes, shapes[1:], strict=False):
            if cols != rows:
                errors.append(f"{cols} against {rows}")
        if shapes and (shapes[0][0], shapes[-1][1]) != lhs:
            errors.append(f"{shapes[0][0]} x {shapes[-1][1]} is not {lhs[0]} x {lhs[1]}")
    return errors


def shape_rows(text: str, section: str) -> list[str]:
    part = text.split(rf"\label{{sec:{section}}}")[1].split(r"\section")[0]
    return [r for r in part.splitlines() if r"\underbrace" in r]


def test_products_carry_their_shapes_in_the_general_and_batch_forms() -> None:
    spec = NetworkSpec.parse([3, 3, 2])
    text = render_latex(derive(spec, prove=False))
    general, batch = shape_rows(text, "general"), shape_rows(text, "batch")
    assert len(general) == 3 and len(batch) == 3
    w_h = r"\underbrace{W_{k}}_{n_{k} \times n_{k-1}} \; \underbrace{h_{k-1}}_{n_{k-1} \times 1}"
    assert w_h in general[0]
    delta_h = r"\underbrace{\Delta_{k}^{\top}}_{n_{k} \times B} \; \underbrace{H_{k-1}}"
    assert delta_h + r"_{B \times n_{k-1}}" in batch[2]
    for row in general + batch:
        assert shape_errors(row) == [], row


def test_the_shape_check_fails_on_a_wrong_shape() -> None:
    right = (
        r"\underbrace{A_{k}}_{B \times n_{k}} &= \underbrace{H_{k-1}}_{B \times n_{k-1}} \; "
        r"\underbrace{W_{k}^{\top}}_{n_{k-1} \times n_{k}}"
    )
    assert shape_errors(right) == []
    assert shape_errors(right.replace(r"{n_{k-1} \times n_{k}}", r"{n_{k} \times n_{k-1}}"))
    assert shape_errors(right.replace(r"{B \times n_{k}} &", r"{n_{k} \times B} &"))


def test_the_terminal_writes_the_loss_as_the_notes() -> None:
    outputs = {
        "softmax": "(5) L = -Σ[i=1..2] yᵢ·log(ŷᵢ)   [definition]",
        "sigmoid": "(5) L = -Σ[i=1..2] (yᵢ·log(ŷᵢ) + (1 - yᵢ)·log(1 - ŷᵢ))   [definition]",
        "identity": "(5) L = (1/2) Σ[i=1..2] (ŷᵢ - yᵢ)²   [definition]",
    }
    for output, line in outputs.items():
        spec = NetworkSpec.parse([3, 3, 2], output=output)
        assert line in render_terminal(derive(spec, prove=False)).splitlines(), output
    example = run_cli(["example", "2", "2", "2"])[1]
    assert "(5) L = -Σ[i=1..2] yᵢ·log(ŷᵢ) = 0.1864" in example
