"""The one place that names every mathematical object of the notes.

Each object (``W_k``, ``W_{kij}``, ``b_{ki}``, ``a_k``, ``h_k``, ``x``, ``y``, ``yhat``, the loss
``L``, the error signal ``dL/da_k`` and the gradients) is a SymPy object built here, and here it
gets its LaTeX, its Unicode and its Python identifier. Indices are 1-based in the math and
0-based in code; the translation happens only in :func:`python_index`.

Elementwise objects are :class:`sympy.Indexed` entries of the bases below, with the layer as the
first index (``W[k, i, j]`` is ``W_{kij}``); ``h_0`` is written ``x``. Vectors and matrices are
:class:`sympy.MatrixSymbol` objects whose names are looked up in :data:`MATRIX_KINDS`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sympy as sp

#: The generic unit indices of the notes.
I = sp.Symbol("i", integer=True, positive=True)  # noqa: E741 - the notes' index i
J = sp.Symbol("j", integer=True, positive=True)

#: The per-sample loss ``L(theta)``.
LOSS = sp.Symbol("L")

W = sp.IndexedBase("W")
B = sp.IndexedBase("b")
A = sp.IndexedBase("a")
H = sp.IndexedBase("h")
X = sp.IndexedBase("x")
Y = sp.IndexedBase("y")
YHAT = sp.IndexedBase("yhat")

#: The batch size ``B`` and the sample index ``s`` of the mini-batch equations.
BATCH = sp.Symbol("B", integer=True, positive=True)
SAMPLE = sp.Symbol("s", integer=True, positive=True)
#: The loss of a batch, the mean of the per-sample losses: ``Lbar = (1/B) sum_s L^(s)``.
MEAN_LOSS = sp.Symbol("Lbar")
#: ``L^(s)``, the per-sample loss of sample ``s`` (an entry of this base).
SAMPLE_LOSS = sp.IndexedBase("Lsample")

_LATEX_BASES = {
    "W": "W",
    "b": "b",
    "a": "a",
    "h": "h",
    "x": "x",
    "y": "y",
    "yhat": r"\hat{y}",
    # the mini-batch matrices, rows as samples
    "A": "A",
    "H": "H",
    "X": "X",
    "Y": "Y",
    "Yhat": r"\hat{Y}",
    "Delta": r"\Delta",
    "G": "G",
}
_UNICODE_BASES = {
    "W": "W",
    "b": "b",
    "a": "a",
    "h": "h",
    "x": "x",
    "y": "y",
    "yhat": "ŷ",
    "A": "A",
    "H": "H",
    "X": "X",
    "Y": "Y",
    "Yhat": "Ŷ",
    "Delta": "Δ",
    "G": "G",
}
LATEX_LOSS = r"\mathcal{L}"
UNICODE_LOSS = "L"
LATEX_MEAN_LOSS = r"\bar{\mathcal{L}}"
UNICODE_MEAN_LOSS = "L̄"


def weight(k: int, i: sp.Expr | int, j: sp.Expr | int) -> sp.Indexed:
    """``W_{kij}``: the weight from unit j of layer k-1 to unit i of layer k."""
    return W[k, i, j]


def bias(k: int, i: sp.Expr | int) -> sp.Indexed:
    """``b_{ki}``: the bias of unit i of layer k (two indices)."""
    return B[k, i]


def pre(k: int, i: sp.Expr | int) -> sp.Indexed:
    """``a_{ki}``: the pre-activation of unit i of layer k."""
    return A[k, i]


def post(k: int, j: sp.Expr | int) -> sp.Indexed:
    """``h_{kj}``, with ``h_{0j} = x_j``."""
    return X[j] if k == 0 else H[k, j]


def target(i: sp.Expr | int) -> sp.Indexed:
    return Y[i]


def prediction(i: sp.Expr | int) -> sp.Indexed:
    return YHAT[i]


def partial(of: sp.Expr, wrt: sp.Expr | None = None) -> sp.Derivative:
    """``dL/d(of)``, or ``d(of)/d(wrt)`` when ``wrt`` is given, unevaluated."""
    if wrt is None:
        return sp.Derivative(LOSS, of, evaluate=False)
    return sp.Derivative(of, wrt, evaluate=False)


def activation_function(k: int, uniform: bool) -> type[sp.Function]:
    """The undefined function ``g`` (or ``g_k`` when hidden layers differ)."""
    return sp.Function("g" if uniform else f"g_{k}")


def activation_derivative(k: int, uniform: bool) -> type[sp.Function]:
    """The undefined function ``g'`` (or ``g_k'``)."""
    return sp.Function("g'" if uniform else f"g_{k}'")


# Vectors and matrices --------------------------------------------------------------------------


@dataclass(frozen=True)
class MatrixKind:
    """What a :class:`sympy.MatrixSymbol` name stands for: ``base`` of layer ``layer``."""

    base: str  # "W", "b", "a", "h", "x", "y", "yhat", "grad", "gprime", or a batch matrix
    layer: int | None
    of: str | None = None  # for "grad": the object the gradient is taken with respect to
    #: For "grad": True for the gradient of the batch's mean loss, not of the per-sample loss.
    mean: bool = False


_MATRIX_NAME = re.compile(
    r"(?:(grad|meangrad)_)?(W|b|a|h|x|y|yhat|gprime|A|H|X|Y|Yhat|Delta|G)(?:_(\d+))?"
)


def matrix_kind(name: str) -> MatrixKind:
    """Decode a matrix symbol name built by this module."""
    match = _MATRIX_NAME.fullmatch(name)
    if match is None:
        raise ValueError(f"not a symgrad matrix name: {name!r}")
    grad, base, layer = match.groups()
    number = int(layer) if layer is not None else None
    if grad:
        return MatrixKind("grad", number, base, mean=grad == "meangrad")
    return MatrixKind(base, number)


def matrix(base: str, k: int | None, rows: int, cols: int = 1) -> sp.MatrixSymbol:
    """The matrix or column vector ``base_k`` (``W_k``, ``h_k``, ...) of the given shape."""
    if base == "h" and k == 0:
        base, k = "x", None
    name = base if k is None else f"{base}_{k}"
    return sp.MatrixSymbol(name, rows, cols)


def gradient(of: str, k: int | None, rows: int, cols: int = 1) -> sp.MatrixSymbol:
    """``grad_{of_k} L`` as a matrix symbol of the shape of ``of_k``."""
    name = f"grad_{of}" if k is None else f"grad_{of}_{k}"
    return sp.MatrixSymbol(name, rows, cols)


def batch_matrix(base: str, k: int | None, cols: int) -> sp.MatrixSymbol:
    """A matrix of the mini-batch, one row per sample: ``A_k``, ``H_k``, ``Delta_k``, ``Y``...

    ``H_0`` is ``X``. It has :data:`BATCH` rows and ``cols`` columns.
    """
    if base == "H" and k == 0:
        base, k = "X", None
    name = base if k is None else f"{base}_{k}"
    return sp.MatrixSymbol(name, BATCH, cols)


def mean_gradient(of: str, k: int, rows: int, cols: int = 1) -> sp.MatrixSymbol:
    """``grad_{of_k} Lbar``, the gradient of the batch's mean loss, shaped like ``of_k``."""
    return sp.MatrixSymbol(f"meangrad_{of}_{k}", rows, cols)


def sample_loss(s: sp.Expr | int) -> sp.Indexed:
    """``L^(s)``: the per-sample loss of sample ``s`` of the batch."""
    return SAMPLE_LOSS[s]


# Index text ------------------------------------------------------------------------------------


def index_parts(entry: sp.Indexed) -> tuple[str, list[sp.Expr]]:
    """Base name and 1-based index list of an elementwise object (``h_{0j}`` is ``x_j``)."""
    base = str(entry.base.label)
    return base, list(entry.indices)


def join_indices(texts: list[str]) -> str:
    """``kij`` when every index is one character, ``12,3,4`` otherwise (never ambiguous)."""
    if all(len(t) == 1 for t in texts):
        return "".join(texts)
    return ",".join(texts)


def latex_base(base: str) -> str:
    return _LATEX_BASES[base]


def unicode_base(base: str) -> str:
    return _UNICODE_BASES[base]


# Python identifiers of generated code ----------------------------------------------------------


def python_name(base: str, k: int | None = None) -> str:
    """Identifier of a parameter or intermediate in generated code: ``W2``, ``b2``, ``H1``."""
    return base if k is None else f"{base}{k}"


def param_key(base: str, k: int) -> str:
    """Key of ``params``: ``"W1"``, ``"b1"``, as every generated module names them."""
    return f"{base}{k}"


def python_index(index: int) -> int:
    """The 0-based code index of the 1-based math index ``index``."""
    return index - 1


def python_entry(base: str, k: int | None, *indices: int) -> str:
    """Identifier of one scalar in unrolled code, from 0-based code indices.

    ``python_entry("W", 1, 0, 2)`` is ``W1_0_2`` (``W_{1,1,3}`` in the math), ``python_entry("a",
    2, 1)`` is ``a2_1``, ``python_entry("x", None, 0)`` is ``x0``.
    """
    head = base if k is None else f"{base}{k}"
    if not indices:
        return head
    return head + ("" if k is None else "_") + "_".join(str(i) for i in indices)


# Variables of the program (generated code) ------------------------------------------------------

#: The program's name of each object, whole (matrix lowering, rows are samples): ``{k}`` is the
#: layer. ``Delta_k`` holds the rows ``grad_{a_k} L / B``.
_MATRIX_NAMES = {
    "x": "X",
    "y": "Y",
    "W": "W{k}",
    "b": "b{k}",
    "a": "A{k}",
    "h": "H{k}",
    "yhat": "Yhat",
    "loss": "value",
    "grad_a": "Delta{k}",
    "grad_h": "G{k}",
    "grad_W": "dW{k}",
    "grad_b": "db{k}",
}
#: The program's name of one entry (scalar lowering); ``{e}`` is the 0-based entry, ``_``-joined.
_SCALAR_NAMES = {
    "x": "x{e}",
    "y": "y{e}",
    "W": "W{k}_{e}",
    "b": "b{k}_{e}",
    "a": "a{k}_{e}",
    "h": "h{k}_{e}",
    "yhat": "yhat{e}",
    "loss": "value",
    "grad_a": "d{k}_{e}",
    "grad_h": "gh{k}_{e}",
    "grad_W": "dW{k}_{e}",
    "grad_b": "db{k}_{e}",
}


def program_name(base: str, k: int | None = None) -> str:
    """The program variable holding ``base`` of layer ``k`` whole: ``A2``, ``Delta2``, ``X``."""
    if base == "h" and k == 0:
        base = "x"
    return _MATRIX_NAMES[base].format(k=k)


def program_entry(base: str, k: int | None, *entry: int) -> str:
    """The program variable of one entry (0-based code indices): ``W1_0_2``, ``d2_1``, ``x0``."""
    if base == "h" and k == 0:
        base = "x"
    return _SCALAR_NAMES[base].format(k=k, e="_".join(str(i) for i in entry))
