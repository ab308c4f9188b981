"""The printers: exact strings, as SymPy's own printer tests compare them.

Conventional order and brackets are decided by the printers (``symgrad.printing``), never by
editing printed text; these tests pin what a reader of the notes sees.
"""

from __future__ import annotations

import pytest
import sympy as sp

from symgrad import notation as nt
from symgrad.catalogue import ACTIVATIONS, LOSSES_BY_NAME, difference
from symgrad.expressions import X
from symgrad.model import Elementwise, product
from symgrad.network import Network
from symgrad.printing import latex, unicode
from symgrad.spec import NetworkSpec

I, J = nt.I, nt.J  # noqa: E741 - the notes' indices i, j
YHAT, Y = nt.prediction(I), nt.target(I)


@pytest.mark.parametrize(
    ("expr", "text"),
    [
        # a positive term first, as written by hand
        (Y * -1 + YHAT, r"\hat{y}_{i} - y_{i}"),
        (sp.Add(-nt.post(1, J), 1, evaluate=False), r"1 - h_{1j}"),
        (1 - nt.post(1, J) ** 2, r"1 - h_{1j}^{2}"),
        # the simpler term first: y log yhat before (1 - y) log(1 - yhat)
        (
            LOSSES_BY_NAME["binary-cross-entropy"].term(YHAT, Y),
            r"-y_{i} \log \hat{y}_{i} - \left(1 - y_{i}\right) \log \left(1 - \hat{y}_{i}\right)",
        ),
        # polynomials by falling degree
        (X**4 + 2 * X**2 + 1, r"x^{4} + 2 x^{2} + 1"),
        # nested sums written out: no brackets around a - b in (a - b) - c
        (
            difference(difference(YHAT, Y), nt.target(J)),
            r"\hat{y}_{i} - y_{i} - y_{j}",
        ),
        # numbers before letters, letters before brackets, brackets before functions
        (product(Y, difference(sp.Integer(1), YHAT)), r"y_{i} \left(1 - \hat{y}_{i}\right)"),
        (
            product(difference(sp.Integer(1), Y), sp.log(difference(sp.Integer(1), YHAT))),
            r"\left(1 - y_{i}\right) \log \left(1 - \hat{y}_{i}\right)",
        ),
        # what multiplies a sum goes in front of it
        (product(YHAT, sp.Sum(nt.target(J), (J, 1, 3))), r"\hat{y}_{i} \sum_{j=1}^{3} y_{j}"),
        (
            sp.Mul(1 / nt.BATCH, sp.Sum(nt.sample_loss(nt.SAMPLE), (nt.SAMPLE, 1, nt.BATCH))),
            r"\frac{1}{B} \sum_{s=1}^{B} \mathcal{L}^{(s)}",
        ),
        # the leaky-relu slope as a decimal, its indicators with their relation
        (ACTIVATIONS["leaky-relu"].shown_function, r"\max(x, 0.01 x)"),
        (
            ACTIVATIONS["leaky-relu"].shown_derivative,
            r"\mathbf{1}[x > 0] + 0.01 \mathbf{1}[x \le 0]",
        ),
        (sp.tanh(nt.pre(1, J)), r"\tanh(a_{1j})"),
    ],
)
def test_latex_order_and_typography(expr: sp.Expr, text: str) -> None:
    assert latex(expr) == text


def test_products_of_the_derivation_keep_their_order_and_bracket_what_would_run_on() -> None:
    dh = nt.partial(nt.post(1, J))
    assert latex(product(dh, 2 * nt.pre(1, J))) == (
        r"\frac{\partial \mathcal{L}}{\partial h_{1j}} \left(2 a_{1j}\right)"
    )
    applied = product(product(-1, Y, 1 / YHAT), product(YHAT, difference(1, YHAT)))
    assert latex(applied) == (
        r"\left(- \frac{y_{i}}{\hat{y}_{i}}\right) \hat{y}_{i} \left(1 - \hat{y}_{i}\right)"
    )


def test_a_gradient_is_bracketed_before_another_factor() -> None:
    net = Network(NetworkSpec.parse([3, 3, 2]))
    outer = net.grad("a", 2) * net.vector("h", 1).T
    assert latex(outer) == r"\left(\nabla_{a_{2}} \mathcal{L}\right) h_{1}^{\top}"
    assert unicode(outer) == "(∇_a₂ L) h₁ᵀ"
    last = net.weight_matrix(2).T * net.grad("a", 2)
    assert latex(last) == r"W_{2}^{\top} \nabla_{a_{2}} \mathcal{L}"


def test_elementwise_functions_print_with_the_matrix_for_the_variable() -> None:
    a = nt.matrix("a", 1, 3)
    g = nt.gradient("h", 1, 3)
    relu = Elementwise(sp.Lambda(X, ACTIVATIONS["relu"].derivative), a)
    assert latex(relu) == r"\mathbf{1}[a_{1} > 0]"
    leaky = Elementwise(sp.Lambda(X, ACTIVATIONS["leaky-relu"].shown_derivative), a)
    assert latex(sp.HadamardProduct(nt.gradient("h", 1, 3), leaky)) == (
        r"\left(\nabla_{h_{1}} \mathcal{L}\right) \odot "
        r"\left(\mathbf{1}[a_{1} > 0] + 0.01 \mathbf{1}[a_{1} \le 0]\right)"
    )
    assert unicode(relu) == "𝟙[a₁ > 0]"
    del g


def test_a_hadamard_square_is_written_as_a_product() -> None:
    h = nt.matrix("h", 1, 3)
    assert latex(sp.HadamardPower(h, 2)) == r"h_{1} \odot h_{1}"


def test_transposed_sums_stay_whole() -> None:
    net = Network(NetworkSpec.parse([3, 3, 2], output="softmax", loss="squared-error"))
    assert latex(net.output.delta_vector(net)) == (
        r"\hat{y} \odot \left(\hat{y} - y - \mathbf{1} "
        r"\left(\hat{y} - y\right)^{\top} \hat{y}\right)"
    )


def test_one_index_style_with_commas() -> None:
    w = nt.weight(2, 1, 3)
    assert latex(w) == "W_{213}"
    assert latex(w, index_commas=True) == "W_{2,1,3}"
    assert latex(nt.weight(1, 10, 3)) == "W_{1,10,3}"
    assert latex(nt.post(sp.Symbol("k") - 1, J)) == "h_{k-1,j}"


def test_inline_partials_and_sums() -> None:
    step = sp.Sum(product(nt.partial(nt.pre(2, I)), nt.weight(2, I, J)), (I, 1, 2))
    assert latex(step, inline=True) == (
        r"\sum\nolimits_{i=1}^{2} (\partial \mathcal{L} / \partial a_{2i}) W_{2ij}"
    )


def test_unicode_order_and_decimals() -> None:
    assert unicode(Y * -1 + YHAT) == "ŷᵢ - yᵢ"
    assert unicode(ACTIVATIONS["leaky-relu"].shown_function) == "max(x, 0.01·x)"
    assert unicode(nt.mean_gradient("W", 2, 2, 3)) == "∇_W₂ L̄"
    assert unicode(nt.batch_matrix("a", 2, 3, gradient=True)) == "Δ₂"
