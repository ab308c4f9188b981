"""The naming table: every quantity of the notes as an object, and its name in every notation.

A :class:`Quantity` knows what it is (``W``, ``b``, ``a``, ``h``, ``x``, ``y``, ``yhat``, the
loss), its layer, and whether it is the gradient of the loss with respect to it. Its names all
come from :data:`NAMES`, one row per kind of quantity: the LaTeX of the notes and the Unicode of
the terminal, the SymPy symbol, the variable of the program and of generated code (whole, and one
entry), the key of ``symgrad example --format json`` and of ``params``. Nothing reads a name
back: the symbols made here carry their quantity (:class:`QuantitySymbol`), the elementwise bases
are objects compared as objects (:func:`entry_quantity`), and the undefined functions ``g``,
``g'`` carry their layer and their spellings. Indices are 1-based in the math and 0-based in code;
the translation happens only in :func:`python_index`.

Elementwise objects are :class:`sympy.Indexed` entries of the bases below, with the layer as the
first index (``W[k, i, j]`` is ``W_{kij}``); ``h_0`` is written ``x``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import sympy as sp
from sympy.core.symbol import Str

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

LATEX_LOSS = r"\mathcal{L}"
UNICODE_LOSS = "L"
LATEX_MEAN_LOSS = r"\bar{\mathcal{L}}"
UNICODE_MEAN_LOSS = "L̄"


# Quantities and their names ---------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Quantity:
    """A quantity of the network: ``base`` of layer ``layer``, or (``gradient``) the gradient of
    a scalar with respect to it: of the loss, or of the quantity ``scalar`` names (the objective
    a layer kind adds to the loss). ``h_0`` is ``x``: make it with :func:`quantity`."""

    base: str
    layer: int | None = None
    gradient: bool = False
    scalar: str = "loss"

    @property
    def of(self) -> Quantity:
        """The quantity a gradient is taken with respect to (itself when it is none)."""
        return Quantity(self.base, self.layer)

    def grad(self, scalar: str = "loss") -> Quantity:
        """The gradient of the loss (or of the scalar quantity ``scalar``) with respect to this
        quantity."""
        return Quantity(self.base, self.layer, gradient=True, scalar=scalar)

    @property
    def names(self) -> Names:
        return NAMES[(self.base, self.scalar if self.gradient else None)]

    @property
    def scalar_names(self) -> Names:
        """The names of the scalar a gradient is of (the loss: ``L``, ``Lbar``)."""
        return NAMES[(self.scalar, None)]

    @property
    def program(self) -> str:
        """The program variable holding it whole (rows are samples): ``A2``, ``Delta2``, ``X``."""
        return _formatted(self.names.program, self)

    def entry(self, *indices: int) -> str:
        """The program variable of one entry (0-based): ``W1_0_2``, ``d2_1``, ``x0``."""
        return self.names.scalar.format(k=self.layer, e="_".join(str(i) for i in indices))

    @property
    def json(self) -> str:
        """Its key in ``symgrad example --format json`` (``a1``, ``grad_W2``, ``yhat``), and in
        ``params`` for a parameter (``W1``)."""
        return _formatted(self.names.json, self)

    @property
    def plain(self) -> str:
        """Its name in plain text, where no subscript can be drawn (Mermaid): ``W1``."""
        return _formatted(self.names.plain, self)

    @property
    def text(self) -> str:
        """Its name in plain text, as code comments and messages write it: ``a_2``, ``W_1``,
        ``grad_{a_2} L``."""
        layer = "" if self.layer is None else f"_{self.layer}"
        plain = f"{self.base}{layer}"
        return f"grad_{{{plain}}} {self.scalar_names.unicode}" if self.gradient else plain

    def partial(self, *entry: int) -> str:
        """The partial of the loss with respect to one entry, for messages: ``dL/dW_2,1,3``."""
        return f"dL/d{self.label(*entry)}"

    def label(self, *entry: int) -> str:
        """One entry in plain text, 1-based, for messages: ``W_2,1,3``, ``b_1,2``."""
        return f"{self.base}_" + ",".join(str(i) for i in (self.layer, *entry) if i is not None)

    @property
    def latex(self) -> str:
        """The LaTeX of the vector or matrix: ``W_{2}``, ``\\nabla_{a_{2}} \\mathcal{L}``."""
        return _latex(self, Form.VECTOR)

    @property
    def unicode(self) -> str:
        return _unicode(self, Form.VECTOR)


def quantity(base: str, layer: int | None = None, gradient: bool = False) -> Quantity:
    """The quantity ``base`` of ``layer``; ``h_0`` is the input ``x``."""
    if base == "h" and layer == 0:
        return Quantity("x", None, gradient)
    return Quantity(base, layer, gradient)


@dataclass(frozen=True)
class Names:
    """How one kind of quantity is written (``{k}`` is the layer, ``{e}`` the 0-based entry).

    ``latex``, ``unicode``: the symbol of the notes and of the terminal (a gradient's is the
    ``\\nabla`` of its quantity); ``symbol``: the SymPy name; ``program``: the program's variable
    holding it whole, rows as samples; ``scalar``: one entry; ``json``: the key in ``symgrad
    example --format json`` and ``params``; ``batch_*``: the matrix of a mini-batch, rows as
    samples; ``plain``: plain text.
    """

    latex: str
    unicode: str
    symbol: str
    program: str
    scalar: str
    json: str
    batch_latex: str = ""
    batch_unicode: str = ""
    batch_symbol: str = ""
    plain: str = ""
    #: A parameter's gradient of the batch's mean loss (``meangrad_W``), shaped like it.
    mean_symbol: str = ""


#: The naming table, by ``(base, of)``: ``of`` is None for the quantity itself, or the scalar
#: its gradient is of (``"loss"``). Gradients of the activations are held divided by ``B`` in the
#: program (the rows of ``Delta_k`` and ``G_k``): the loss of a batch is the mean. A layer kind
#: that brings quantities of its own adds their rows with :func:`define_names`.
NAMES: dict[tuple[str, str | None], Names] = {
    ("x", None): Names("x", "x", "x", "X", "x{e}", "x", "X", "X", "X", "x"),
    ("y", None): Names("y", "y", "y", "Y", "y{e}", "y", "Y", "Y", "Y", "y"),
    ("W", None): Names("W", "W", "W", "W{k}", "W{k}_{e}", "W{k}", plain="W{k}"),
    ("b", None): Names("b", "b", "b", "b{k}", "b{k}_{e}", "b{k}", plain="b{k}"),
    ("a", None): Names("a", "a", "a", "A{k}", "a{k}_{e}", "a{k}", "A", "A", "A", "a{k}"),
    ("h", None): Names("h", "h", "h", "H{k}", "h{k}_{e}", "h{k}", "H", "H", "H", "h{k}"),
    ("yhat", None): Names(
        r"\hat{y}", "ŷ", "yhat", "Yhat", "yhat{e}", "yhat", r"\hat{Y}", "Ŷ", "Yhat", "yhat"
    ),
    ("loss", None): Names(
        LATEX_LOSS,
        UNICODE_LOSS,
        "L",
        "value",
        "value",
        "loss",
        LATEX_MEAN_LOSS,
        UNICODE_MEAN_LOSS,
        "Lbar",
    ),
    ("r", None): Names("r", "r", "r", "Rw", "rw", "row_weight", "r", "r", "R", "r"),
    ("a", "loss"): Names(
        "", "", "grad_a", "Delta{k}", "d{k}_{e}", "grad_a{k}", r"\Delta", "Δ", "Delta"
    ),
    ("yhat", "loss"): Names("", "", "grad_yhat", "Gyhat", "gyhat{e}", "grad_yhat"),
    ("h", "loss"): Names("", "", "grad_h", "G{k}", "gh{k}_{e}", "grad_h{k}", "G", "G", "G"),
    ("x", "loss"): Names("", "", "grad_x", "G0", "gx{e}", "grad_x", "G", "G", "G"),
    ("W", "loss"): Names(
        "", "", "grad_W", "dW{k}", "dW{k}_{e}", "grad_W{k}", mean_symbol="meangrad_W"
    ),
    ("b", "loss"): Names(
        "", "", "grad_b", "db{k}", "db{k}_{e}", "grad_b{k}", mean_symbol="meangrad_b"
    ),
}

#: The name of the gradient of the loss with respect to the input (one row per sample): the
#: program's output and the generated function that returns it.
INPUT_GRADIENT = "input_gradient"

#: The weight ``r_s`` of row ``s`` in the loss of a batch, an input of the program of generated
#: code: ``w_s / sum(w)`` for sample weights ``w``, ``1/B`` without (the mean). The loss of the
#: batch is ``sum_s r_s L^(s)`` and the rows of ``Delta_L`` are ``r_s grad_{a_L} L^(s)``.
ROW_WEIGHT = "r"

#: The program's output of the per-sample losses (one per row, before the weighted sum), what
#: ``loss(..., reduction="none")`` returns.
SAMPLE_LOSSES = "sample_losses"


def define_names(base: str, names: Names, of: str | None = None) -> None:
    """Add the row of a quantity a layer kind brings (``of``: the scalar of a gradient), refused
    when the row exists: every name comes from this table, and each is defined once."""
    if (base, of) in NAMES:
        raise ValueError(f"the naming table has a row for {base!r} ({of}) already")
    NAMES[(base, of)] = names


def _formatted(pattern: str, q: Quantity) -> str:
    return pattern.format(k=q.layer)


class Form(enum.Enum):
    """How a quantity is held by a symbol: a vector (or matrix) of one sample, the matrix of a
    mini-batch (rows are samples), or the gradient of the batch's mean loss."""

    VECTOR = "vector"
    BATCH = "batch"
    MEAN = "mean"


def _latex(q: Quantity, form: Form) -> str:
    names = q.names
    layer = "" if q.layer is None else f"_{{{q.layer}}}"
    if form is Form.BATCH:
        return f"{names.batch_latex}{layer}"
    if q.gradient:
        scalar = q.scalar_names
        loss = scalar.batch_latex if form is Form.MEAN and scalar.batch_latex else scalar.latex
        return rf"\nabla_{{{_latex(q.of, Form.VECTOR)}}} {loss}"
    return f"{names.latex}{layer}"


def _unicode(q: Quantity, form: Form) -> str:
    names = q.names
    layer = "" if q.layer is None else subscript(str(q.layer))
    if form is Form.BATCH:
        return f"{names.batch_unicode}{layer}"
    if q.gradient:
        scalar = q.scalar_names
        loss = (
            scalar.batch_unicode if form is Form.MEAN and scalar.batch_unicode else scalar.unicode
        )
        return f"∇_{_unicode(q.of, Form.VECTOR)} {loss}"
    return f"{names.unicode}{layer}"


_SUBSCRIPTS = str.maketrans("0123456789+-=()aehijklmnoprstuvx", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓ")
SUPERSCRIPTS = str.maketrans("0123456789+-()s", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁽⁾ˢ")


def subscript(text: str) -> str:
    """Unicode subscript of ``text`` where every character has one, else ``_text``."""
    translated = text.translate(_SUBSCRIPTS)
    if any(ch == orig and ch not in "," for ch, orig in zip(translated, text, strict=True)):
        return "_" + text
    return translated


# Symbols that carry their quantity ------------------------------------------------------------


class Meaning(sp.Atom):
    """What a :class:`QuantitySymbol` stands for: a quantity in a form (an argument of the symbol,
    so that it survives every rebuild of the expression)."""

    __slots__ = ("quantity", "form")

    def __new__(cls, quantity: Quantity, form: Form) -> Meaning:
        obj = sp.Basic.__new__(cls)
        obj.quantity = quantity
        obj.form = form
        return obj  # type: ignore[no-any-return]

    def __getnewargs__(self) -> tuple[Quantity, Form]:
        return (self.quantity, self.form)

    def _hashable_content(self) -> tuple[Quantity, Form]:
        return (self.quantity, self.form)

    def __str__(self) -> str:
        return f"{self.quantity}:{self.form.value}"

    __repr__ = __str__


class QuantitySymbol(sp.MatrixSymbol):
    """A vector or matrix of the notation, carrying the quantity it holds (never parsed from its
    name, which is only for SymPy)."""

    def __new__(cls, name: str | Str, rows: Any, cols: Any, meaning: Meaning) -> QuantitySymbol:
        name = name if isinstance(name, Str) else Str(name)
        rows, cols = sp.sympify(rows), sp.sympify(cols)
        return sp.Basic.__new__(cls, name, rows, cols, meaning)  # type: ignore[return-value]

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:  # type: ignore[override]
        return self.args[1], self.args[2]  # type: ignore[return-value]

    @property
    def meaning(self) -> Meaning:
        return self.args[3]  # type: ignore[return-value]

    @property
    def quantity(self) -> Quantity:
        return self.meaning.quantity

    @property
    def form(self) -> Form:
        return self.meaning.form

    @property
    def latex(self) -> str:
        return _latex(self.quantity, self.form)

    @property
    def unicode(self) -> str:
        return _unicode(self.quantity, self.form)

    def resized(self, rows: Any, cols: Any) -> QuantitySymbol:
        """The same quantity with another shape (a network with other widths)."""
        return QuantitySymbol(self.args[0], rows, cols, self.meaning)


def _symbol(q: Quantity, form: Form, rows: Any, cols: Any) -> QuantitySymbol:
    names = q.names
    base = {Form.VECTOR: names.symbol, Form.BATCH: names.batch_symbol, Form.MEAN: names.mean_symbol}
    name = base[form] if q.layer is None else f"{base[form]}_{q.layer}"
    return QuantitySymbol(name, rows, cols, Meaning(q, form))


def symbol(q: Quantity, form: Form = Form.VECTOR, rows: Any = 1, cols: Any = 1) -> QuantitySymbol:
    """The symbol of any quantity in ``form`` (a scalar such as an objective is ``1 x 1``)."""
    return _symbol(q, form, rows, cols)


def matrix(base: str, k: int | None, rows: int, cols: int = 1) -> QuantitySymbol:
    """The matrix or column vector ``base_k`` (``W_k``, ``h_k``, ...) of the given shape."""
    return _symbol(quantity(base, k), Form.VECTOR, rows, cols)


def gradient(of: str, k: int | None, rows: int, cols: int = 1) -> QuantitySymbol:
    """``grad_{of_k} L`` as a matrix symbol of the shape of ``of_k``."""
    return _symbol(quantity(of, k, gradient=True), Form.VECTOR, rows, cols)


def batch_matrix(base: str, k: int | None, cols: int, gradient: bool = False) -> QuantitySymbol:
    """A matrix of the mini-batch, one row per sample: ``A_k``, ``H_k``, ``Y``; with
    ``gradient``, ``Delta_k`` (``a``) or ``G_k`` (``h``), the rows ``grad / B``.

    ``H_0`` is ``X``. It has :data:`BATCH` rows and ``cols`` columns.
    """
    return _symbol(quantity(base, k, gradient), Form.BATCH, BATCH, cols)


def mean_gradient(of: str, k: int, rows: int, cols: int = 1) -> QuantitySymbol:
    """``grad_{of_k} Lbar``, the gradient of the batch's mean loss, shaped like ``of_k``."""
    return _symbol(quantity(of, k, gradient=True), Form.MEAN, rows, cols)


def quantity_of(expr: sp.Basic) -> Quantity | None:
    """The quantity a symbol of this table holds, or None for any other expression."""
    return expr.quantity if isinstance(expr, QuantitySymbol) else None


# Entries -------------------------------------------------------------------------------------


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


def entry(q: Quantity, row: sp.Expr | int, col: sp.Expr | int = 1) -> sp.Expr:
    """The entry ``(row, col)`` (1-based) of the vector or matrix of ``q``: ``W_{krc}``,
    ``a_{kr}``, ``x_r``; of a gradient, the partial ``dL/d(entry)``."""
    if q.gradient:
        return partial(entry(q.of, row, col))
    k = q.layer or 0
    if q.base == "W":
        return weight(k, row, col)
    makers = {"b": bias, "a": pre, "h": post}
    if q.base in makers:
        return makers[q.base](k, row)
    return {"x": X, "y": Y, "yhat": YHAT}[q.base][row]


def sample_loss(s: sp.Expr | int) -> sp.Indexed:
    """``L^(s)``: the per-sample loss of sample ``s`` of the batch."""
    return SAMPLE_LOSS[s]


#: The elementwise bases and the quantity each holds entries of (the layer is the first index
#: of the layered ones).
_BASES: dict[sp.IndexedBase, str] = {W: "W", B: "b", A: "a", H: "h", X: "x", Y: "y", YHAT: "yhat"}
#: Bases of the quantities that have a layer.
_LAYERED = frozenset({W, B, A, H})


def entry_quantity(entry: sp.Indexed) -> tuple[Quantity, tuple[sp.Expr, ...]]:
    """The quantity an elementwise object is an entry of, and its unit indices (1-based):
    ``W_{2,1,3}`` is ``(W_2, (1, 3))``; the layer of a symbolic entry is None."""
    base = entry.base
    if base not in _BASES:
        raise KeyError(f"{entry} is not an entry of the notation")
    indices = tuple(entry.indices)
    if base in _LAYERED:
        layer = int(indices[0]) if indices[0].is_Integer else None
        return Quantity(_BASES[base], layer), indices[1:]
    return Quantity(_BASES[base]), indices


def is_entry_of(entry: sp.Basic, base: str) -> bool:
    """True for an entry of the elementwise base ``base`` (``"yhat"``, ``"h"``...)."""
    return isinstance(entry, sp.Indexed) and _BASES.get(entry.base) == base


def latex_entry_base(entry: sp.Indexed) -> str:
    """The LaTeX of the base of an elementwise object: ``W``, ``\\hat{y}``."""
    return NAMES[(_BASES[entry.base], None)].latex


def unicode_entry_base(entry: sp.Indexed) -> str:
    return NAMES[(_BASES[entry.base], None)].unicode


def sample_copy(entry: sp.Indexed, s: int) -> sp.Indexed:
    """``entry`` of sample ``s`` of a batch: its own copy, ``a^{(s)}_{ki}``."""
    return sp.IndexedBase(f"{entry.base}^({s})")[entry.indices]


def sample_partial(variable: sp.Expr, s: int) -> sp.Symbol:
    """``dL^(s)/d(variable)``: the partial of sample ``s``'s loss, an opaque symbol."""
    return sp.Symbol(f"dL^({s})/d{variable}")


def join_indices(texts: list[str]) -> str:
    """``kij`` when every index is one character, ``12,3,4`` otherwise (never ambiguous)."""
    if all(len(t) == 1 for t in texts):
        return "".join(texts)
    return ",".join(texts)


# The activations' undefined functions ---------------------------------------------------------


def activation_function(k: int, uniform: bool) -> type[sp.Function]:
    """The undefined function ``g`` (or ``g_k`` when hidden layers differ), carrying its layer
    and how the notes and the terminal write it."""
    return _activation(k, uniform, prime=False)


def activation_derivative(k: int, uniform: bool) -> type[sp.Function]:
    """The undefined function ``g'`` (or ``g_k'``)."""
    return _activation(k, uniform, prime=True)


def _activation(k: int, uniform: bool, prime: bool) -> type[sp.Function]:
    mark = "'" if prime else ""
    name = "g" if uniform else f"g_{k}"
    latex = "g" if uniform else f"g_{{{k}}}"
    unicode = "g" if uniform else "g" + subscript(str(k))
    return sp.Function(
        name + mark,
        symgrad_layer=k,
        symgrad_uniform=uniform,
        symgrad_prime=prime,
        symgrad_latex=latex + mark,
        symgrad_unicode=unicode + mark,
    )


def activation_of(function: Any) -> tuple[int, bool] | None:
    """``(layer, prime)`` of an undefined function made by :func:`activation_function` or
    :func:`activation_derivative` (the layer of a shared ``g``: any hidden layer, so 1), or None."""
    layer = getattr(function, "symgrad_layer", None)
    if layer is None:
        return None
    return (1 if function.symgrad_uniform else layer), bool(function.symgrad_prime)


# Code ------------------------------------------------------------------------------------------


def param_key(base: str, k: int) -> str:
    """Key of ``params``: ``"W1"``, ``"b1"``, as every generated module names them."""
    return quantity(base, k).json


def parameter_keys(depth: int) -> list[str]:
    """``["W1", "b1", ..., "WL", "bL"]``: the keys of ``params`` in the order of the layers."""
    return [param_key(base, k) for k in range(1, depth + 1) for base in ("W", "b")]


def parameter_shapes(sizes: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    """``{"W1": (n_1, n_0), "b1": (n_1,), ...}``: every parameter and its shape."""
    shapes: dict[str, tuple[int, ...]] = {}
    for k in range(1, len(sizes)):
        shapes[param_key("W", k)] = (sizes[k], sizes[k - 1])
        shapes[param_key("b", k)] = (sizes[k],)
    return shapes


def code_temporary(name: str, layer: int, *entry: int) -> str:
    """An intermediate of the output layer's code forms in the scalar program: ``z2_0`` for
    entry 0 of ``Z`` (``r0`` for the residual ``R``), ``s2`` for one number per row."""
    if not entry:
        return f"{name.lower()}{layer}"
    if name == "R":
        return f"r{entry[0]}"
    return f"{name.lower()}{layer}_" + "_".join(str(i) for i in entry)


def python_index(index: int) -> int:
    """The 0-based code index of the 1-based math index ``index``."""
    return index - 1


def program_name(base: str, k: int | None = None) -> str:
    """The program variable holding ``base`` of layer ``k`` whole: ``A2``, ``Delta2``, ``X``;
    ``grad_a``, ``grad_h``, ``grad_W``, ``grad_b`` name the gradients."""
    gradient = base.startswith("grad_")
    return quantity(base.removeprefix("grad_"), k, gradient).program


def program_entry(base: str, k: int | None, *entry: int) -> str:
    """The program variable of one entry (0-based code indices): ``W1_0_2``, ``d2_1``, ``x0``."""
    gradient = base.startswith("grad_")
    return quantity(base.removeprefix("grad_"), k, gradient).entry(*entry)
