"""How the worked example writes its numbers into formulas: the loss line and signs.

The loss line has a term for each output in the formula's order, without the terms a target of
0 makes vanish and without a factor 1 (``-\\log 0.8299``, not ``-1 \\log 0.8299 - 0 \\log
0.1701``); binary cross-entropy keeps the order of its formula and starts its numbers on a line
of their own when they do not fit after it; a negative number stays inside the function it is
put into (``\\tanh(-0.4054)``, not ``-\\tanh(0.4054)``).
"""

from __future__ import annotations

import re

import sympy as sp

from symgrad import notation as nt
from symgrad.pipeline import derive
from symgrad.render.notes import NotesOptions, render_latex
from symgrad.render.numbers import latex_scalar_with_numbers
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
