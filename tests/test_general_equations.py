"""BP1-BP4 are expressions of the quantities of any network, printed by the notes' printer.

Their shapes are SymPy's, so an equation whose product does not fit (a transpose left out) cannot
be built, and each side of an equation has the shape its note states.
"""

from __future__ import annotations

import pytest
import sympy as sp

from symgrad import printing
from symgrad.pipeline import derive
from symgrad.render.notes import render_latex
from symgrad.render.notes.summary import fitted, general, general_equations
from symgrad.spec import NetworkSpec


@pytest.mark.parametrize("diagonal", [True, False])
def test_both_sides_have_one_shape(diagonal: bool) -> None:
    equations = general_equations(diagonal, "g")
    assert len(equations) == 4
    shapes = [left.shape for left, _ in equations]
    n = {layer: sp.Symbol(f"n_{{{layer}}}", integer=True, positive=True) for layer in "Lk"}
    n["k-1"] = sp.Symbol("n_{k-1}", integer=True, positive=True)
    assert shapes == [(n["L"], 1), (n["k"], 1), (n["k"], 1), (n["k"], n["k-1"])]
    for left, right in equations:
        assert left.shape == right.shape


def test_a_product_that_does_not_fit_is_refused() -> None:
    grad_a_k, grad_a_next = (
        general("a", "k", gradient=True),
        general("a", "k+1", gradient=True),
    )
    w_next, h_prev = general("W", "k+1"), general("h", "k-1")
    grad_w = general("W", "k", gradient=True)
    fitted(grad_w, sp.MatMul(grad_a_k, h_prev.T))
    # BP4 without the transpose of h_{k-1}: a column times a column.
    with pytest.raises(ValueError, match="does not fit"):
        fitted(grad_w, sp.MatMul(grad_a_k, h_prev))
    # BP2 without the transpose of W_{k+1}.
    with pytest.raises(ValueError, match="does not fit"):
        fitted(grad_a_k, sp.MatMul(w_next, grad_a_next))
    # BP3 as the gradient of the layer above: the shape of the sides differs.
    with pytest.raises(ValueError, match="is"):
        fitted(general("b", "k", gradient=True), grad_a_next)
    # an elementwise product of a column of layer k+1 with one of layer k
    with pytest.raises(ValueError, match="differ in shape"):
        fitted(grad_a_k, sp.HadamardProduct(grad_a_next, grad_a_k))


def test_the_notes_print_the_expressions() -> None:
    spec = NetworkSpec.parse([3, 3, 3, 3], "tanh,relu", "sigmoid", "binary-cross-entropy")
    text = render_latex(derive(spec, prove=False))
    for n, (left, right) in enumerate(general_equations(True, "g_{k}"), 1):
        row = f"{printing.latex(left)} &= {printing.latex(right)}"
        assert row in text, n
        assert rf"\tag{{BP{n}}}" in text
    # the elementwise output's BP1: Nielsen's Hadamard product with O'(a_L)
    assert r"\left(\nabla_{\hat{y}} \mathcal{L}\right) \odot O'(a_{L})" in text
    assert r"\odot g_{k}'(a_{k})" in text
