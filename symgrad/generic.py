"""The quantities of any network, for the statements that hold at every depth.

Beside the model (:mod:`symgrad.model`): a layer written as text (``k``, ``k-1``, ``L``), the
sizes ``n_{k}``, the vectors and matrices of one sample and of a batch, and a function applied
entry by entry, as SymPy values that the notation's printers print like any other quantity.
The documents' equations for any depth are made of them, and so are the layer kinds' remarks
(:meth:`symgrad.ops.base.Op.remarks`).
"""

from __future__ import annotations

import sympy as sp

from symgrad import notation as nt
from symgrad.expressions import X
from symgrad.model import Elementwise


def size(layer: str | int) -> sp.Symbol:
    """``n_{k}``, the number of units of layer ``layer`` (``k``, ``k-1``, ``L``, ``0``)."""
    return sp.Symbol(f"n_{{{layer}}}", integer=True, positive=True)


def general(base: str, layer: str | None, gradient: bool = False) -> nt.QuantitySymbol:
    """A vector or matrix of any network, its layer written as text (``k``, ``k+1``, ``L``) and
    its shape in the sizes ``n_{k}``: what the equations for any depth are made of. ``W`` is
    ``n_{k} x n_{k-1}``, every other quantity a column."""
    q = nt.Quantity(base, layer, gradient)  # type: ignore[arg-type]
    rows = size(layer or "L")
    cols = size(below(layer)) if base == "W" and layer else sp.Integer(1)
    return nt.symbol(q, nt.Form.VECTOR, rows, cols)


def batch(base: str, layer: str | None, gradient: bool = False) -> nt.QuantitySymbol:
    """A matrix of a batch of any network, one row a sample (``A_{k}``, ``\\Delta_{k}``,
    ``\\hat{Y}``): ``B x n_{k}``."""
    q = nt.Quantity(base, layer, gradient)  # type: ignore[arg-type]
    return nt.symbol(q, nt.Form.BATCH, nt.BATCH, size(layer or "L"))


def mean_gradient(base: str, layer: str, scalar: str = "loss") -> nt.QuantitySymbol:
    """The gradient of the batch's mean loss (or of the quantity ``scalar`` names, a layer
    kind's objective) with respect to a parameter of any network
    (``\\nabla_{W_{k}} \\bar{\\mathcal{L}}``), shaped like it."""
    like = general(base, layer)
    q = nt.Quantity(base, layer, True, scalar)  # type: ignore[arg-type]
    return nt.symbol(q, nt.Form.MEAN, *like.shape)


def below(layer: str) -> str:
    """The layer before ``layer``: ``k-1`` for ``k``, ``k`` for ``k+1``."""
    return layer[: -len("+1")] if layer.endswith("+1") else f"{layer}-1"


def applied(name: str, matrix: sp.MatrixExpr) -> Elementwise:
    """The function ``name`` (``g``, ``g'``, ``O``, as the document writes it) applied to every
    entry of ``matrix``."""
    function = sp.Function(name, symgrad_latex=name)
    return Elementwise(sp.Lambda(X, function(X)), matrix)


__all__ = ["applied", "batch", "below", "general", "mean_gradient", "size"]
