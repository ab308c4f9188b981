"""The quantities of any network, for the equations that hold at every depth.

Part of the notes renderer (:mod:`symgrad.render.notes`): a layer written as text (``k``,
``k-1``, ``L``), the sizes ``n_{k}``, the matrices of one sample and of a batch, and a function
applied entry by entry, as SymPy values; BP1-BP4, their shapes, the mini-batch and the summary's
prose are made of them, and the writers print them as every other formula.
"""

from __future__ import annotations

import sympy as sp

from symgrad import notation as nt
from symgrad.generic import general
from symgrad.render.formula import Call, Math, Paren, Sampled, Scripted, Summation, Token

# The letters of prose -----------------------------------------------------------------------

#: The layer of the equations for any depth, ``k``.
LAYER = sp.Symbol("k", integer=True, positive=True)
#: The number of layers of weights, ``L`` (the loss is another symbol, ``\\mathcal{L}``).
DEPTH = sp.Symbol("L", integer=True, positive=True)


def letter(name: str) -> sp.Symbol:
    """A symbol the prose names by its letter: an index (``i``), a vector of any shape (``u``,
    ``v``), a condition (``P``), a function (``O``, ``g``)."""
    return sp.Symbol(name)


def space(*dims: sp.Basic | int) -> Scripted:
    """The space of a vector (``\\mathbb{R}^{n_{k}}``) or a matrix (``n_{k} \\times n_{k-1}``)."""
    sizes: list[Token | sp.Basic | int] = []
    for dim in dims:
        sizes += [Token.TIMES, dim] if sizes else [dim]
    return Scripted(Math.of(Token.REALS), sup=Math.of(*sizes))


def gradient_of(v: sp.Basic, loss: sp.Basic = nt.LOSS) -> Math:
    """``\\nabla_{v} \\mathcal{L}``: the gradient of the loss with respect to ``v``."""
    return Math.of(Scripted(Math.of(Token.NABLA), sub=Math.of(v)), loss)


def subscripted(base: sp.Basic | Math, *index: sp.Basic | Math | Token) -> Scripted:
    """``base_{index}``: a function of a layer (``g_{k}``), an entry of a formula."""
    return Scripted(Math.of(base), sub=Math.of(*index))


def function(uniform: bool, layer: sp.Basic | int = LAYER) -> Math:
    """The activation ``g`` of the prose, ``g_{k}`` when the layers have different ones."""
    g = letter("g")
    return Math.of(g) if uniform else Math.of(subscripted(g, layer))


def derivative(uniform: bool, layer: sp.Basic | int = LAYER) -> Math:
    """``g'`` (``g_{k}'``)."""
    return function(uniform, layer) + Token.PRIME


def applied_to(function: Math | sp.Basic, *argument: sp.Basic | Math | Token) -> Call:
    """``function(argument)``: ``g(a_{k})``, ``O(a_{L})``."""
    return Call(Math.of(function), Math.of(*argument))


def listed(*symbols: sp.Basic) -> Math:
    """Symbols named together in a table's first column: ``X, \\; Y``."""
    parts: list[Token | sp.Basic] = []
    for symbol in symbols:
        parts += [Token.COMMA, Token.THICK, symbol] if parts else [symbol]
    return Math.of(*parts)


def sample_row(base: str) -> Math:
    """``\\frac{1}{B} (\\nabla_{a_{k}} \\mathcal{L}^{(s)})^{\\top}``: row ``s`` of the
    gradient of the batch's mean loss with respect to ``A_{k}`` (``base`` ``a``) or ``H_{k}``."""
    gradient = Sampled(general(base, "k", True), nt.SAMPLE)
    transposed = Scripted(Math.of(Paren(Math.of(gradient))), sup=Math.of(Token.TOP))
    return Math.of(1 / nt.BATCH, transposed)


#: ``a_{k} = b_{k} + W_{k} h_{k-1}``: its quantities, in order (base and layer).
AFFINE = (("a", "k"), ("b", "k"), ("W", "k"), ("h", "k-1"))


def partial_of(v: sp.Basic, loss: sp.Basic = nt.LOSS) -> Math:
    """``\\partial \\mathcal{L} / \\partial v_{i}``: an entry of the gradient of the loss
    with respect to a vector ``v`` of any shape, in a line of text."""
    return Math.of(Token.PARTIAL, loss, Token.SLASH, Token.PARTIAL, subscripted(v, nt.I))


def targets_sum_to_one(index: sp.Symbol) -> Math:
    """``\\sum_{j} y_{j} = 1``: the targets are a distribution (summed over ``index``)."""
    return Math.of(Summation(index, None, None, Math.of(nt.target(index))), Token.EQUALS, 1)
