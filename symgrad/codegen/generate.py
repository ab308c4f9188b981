"""The NumPy renderer: a derivation becomes one Python module of loss and gradients.

Last renderer of the pipeline (spec -> model -> derivation -> **numpy**). Everything that decides
what the code says is here, in Python: each statement is paired with the step of the derivation
it implements (its equation number is the one of the LaTeX notes) and printed with
:mod:`symgrad.codegen.numpy_printer`; the templates in ``templates/numpy/`` only loop over the
prepared strings and insert them. Two styles keep one contract (SPEC section 3):

``vectorized``
    Matrix form over the batch, rows are samples: ``A_k = H_{k-1} W_k^T + b_k``,
    ``Delta_k = (grad_{a_k} L)^T / B`` row by row, ``dW_k = Delta_k^T H_{k-1}``,
    ``db_k = sum of the rows of Delta_k``. Stable sigmoid, softmax, log-softmax and log-sigmoid.
``unrolled``
    Every scalar of the forward and backward pass as its own statement, after ``sympy.cse``
    (temporaries ``t0, t1, ...``). One sample runs on Python floats and :mod:`math`; a batch runs
    the same statements on columns (NumPy arrays of shape ``(B,)``). Refused above
    :data:`UNROLLED_MAX_PARAMETERS` parameters.

The output is deterministic (same command, same bytes), ruff-clean and ``ruff format``-stable.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import sympy as sp

from symgrad import notation as nt
from symgrad import printing
from symgrad.catalogue import Activation
from symgrad.codegen.numpy_printer import (
    BatchSum,
    MathPrinter,
    NumpyPrinter,
    log1p,
)
from symgrad.derivation import Derivation, Step
from symgrad.errors import SpecError
from symgrad.expressions import X as ACTIVATION_VARIABLE
from symgrad.spec import NetworkSpec

#: The styles ``--style`` accepts; the first is the default.
STYLES: tuple[str, ...] = ("vectorized", "unrolled")

#: Largest network (number of scalar parameters ``sum_k n_k (n_{k-1} + 1)``) the unrolled style
#: writes out; 2-8-8-2 has 114, 4-16-3 has 131, 10-20-10 has 430 and is refused.
UNROLLED_MAX_PARAMETERS = 400

LINE_LENGTH = 100
#: Column of the statements in a function body.
BODY_INDENT = 4
TEMPLATE = "numpy/module.py.jinja"


def check_style(spec: NetworkSpec, style: str) -> None:
    """Raise :class:`SpecError` for an unknown style, or ``unrolled`` on too large a network.

    Cheap: the command line calls it before deriving, so a refusal is immediate.
    """
    if style not in STYLES:
        raise SpecError(f"unknown style {style!r}; use one of {', '.join(STYLES)}")
    if style == "unrolled" and spec.parameter_count > UNROLLED_MAX_PARAMETERS:
        raise SpecError(
            f"the unrolled style writes every scalar out and is limited to "
            f"{UNROLLED_MAX_PARAMETERS} parameters; {'-'.join(map(str, spec.sizes))} has "
            f"{spec.parameter_count}; use --style vectorized"
        )


def generate_module(
    derivation: Derivation, style: str = "vectorized", command: str | None = None
) -> str:
    """The source of the generated module for ``derivation`` in ``style``.

    ``command`` is the command line written into the header (``symgrad codegen 3 3 2 --style
    unrolled``); by default it is rebuilt from the spec. Raises :class:`SpecError` for an unknown
    style, or for ``unrolled`` above :data:`UNROLLED_MAX_PARAMETERS` parameters.
    """
    from symgrad.render.templating import render

    spec = derivation.spec
    check_style(spec, style)
    if command is None:
        command = default_command(spec, style)
    context = _common_context(derivation, style, command)
    if style == "vectorized":
        context.update(_VectorizedWriter(derivation).context())
    else:
        context.update(_UnrolledWriter(derivation).context())
    return render(TEMPLATE, **context)


def default_command(spec: NetworkSpec, style: str) -> str:
    """``symgrad codegen <sizes and options> [--style unrolled]``: the command that remakes it."""
    args = ["symgrad", "codegen", *spec.command_args()]
    if style != STYLES[0]:
        args += ["--style", style]
    return " ".join(_shell_quote(a) for a in args)


def _shell_quote(arg: str) -> str:
    safe = all(ch.isalnum() or ch in "-_.,/=+" for ch in arg)
    return arg if safe and arg else "'" + arg.replace("'", "'\"'\"'") + "'"


# ---------------------------------------------------------------------------------------------
# What every module has: header, docstring, shapes, parameter checks
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    """Statements with the comment lines above them (the equation they implement)."""

    comments: tuple[str, ...]
    code: tuple[str, ...]
    blank_before: bool = True


def _comment_lines(texts: Iterable[str], indent: int = BODY_INDENT) -> tuple[str, ...]:
    """Comment paragraphs wrapped to the line length (``# `` is added by the template)."""
    width = LINE_LENGTH - indent - 2
    lines: list[str] = []
    for text in texts:
        lines += textwrap.wrap(
            text,
            width=width,
            break_long_words=False,
            break_on_hyphens=False,
            subsequent_indent="  ",
        ) or [""]
    return tuple(lines)


def _equation(derivation: Derivation, step: Step, form: int = -1) -> str:
    """``(eq. N) lhs = form`` of ``step`` in the Unicode of the terminal printout."""
    rhs = step.forms[form]
    text = f"{printing.unicode(step.lhs)} = {printing.unicode(rhs)}"  # type: ignore[arg-type]
    return f"(eq. {step.number}) {text}"


def _steps(derivation: Derivation) -> dict[str, Step]:
    return {step.key: step for step in derivation}


def _shape_text(shape: tuple[int, ...]) -> str:
    return repr(tuple(shape))


def _common_context(derivation: Derivation, style: str, command: str) -> dict[str, object]:
    spec = derivation.spec
    sizes = spec.sizes
    L = spec.depth
    keys: list[str] = []
    shapes: list[tuple[str, str]] = []
    for k in range(1, L + 1):
        w, b = nt.param_key("W", k), nt.param_key("b", k)
        keys += [w, b]
        shapes += [(w, _shape_text((sizes[k], sizes[k - 1]))), (b, _shape_text((sizes[k],)))]
    hidden = ", ".join(
        f"g_{k} = {spec.activation(k).name}"
        if not spec.uniform_activation
        else f"g = {spec.activation(k).name}"
        for k in (range(1, L) if not spec.uniform_activation else range(1, min(L, 2)))
    )
    net = "-".join(map(str, sizes))
    loss_text = {
        "cross-entropy": "cross-entropy, -sum_i y_i log yhat_i",
        "binary-cross-entropy": (
            "binary cross-entropy, -sum_i [y_i log yhat_i + (1 - y_i) log(1 - yhat_i)]"
        ),
        "squared-error": "squared error, 1/2 sum_i (yhat_i - y_i)^2",
    }[spec.loss]
    description = [
        f"Network {net}: layer sizes n = {tuple(sizes)!r}, "
        + (f"hidden activation {hidden}, " if L > 1 else "no hidden layer, ")
        + f"output yhat = {spec.output}(a_{L}), per-sample loss {loss_text}; the loss of a batch "
        "is the mean over its rows.",
        "Layer k computes a_k = b_k + W_k h_{k-1} from h_0 = x"
        + (", then h_k = g(a_k)." if L > 1 else "."),
    ]
    if (spec.output, spec.loss) == ("softmax", "cross-entropy"):
        description.append(
            "The notes simplify grad_{a_L} L = yhat sum_i y_i - y to yhat - y under sum_i y_i = 1 "
            "(one-hot or probability targets); the code uses the general form, so it is the "
            "gradient of `loss` for any Y."
        )
    args_fit = ", ".join(f'"{k}": {s}' for k, s in shapes)
    return {
        "style": style,
        "command": command,
        "output_name": spec.output,
        "net": net,
        "description": [
            textwrap.fill(p, width=LINE_LENGTH - 4, break_on_hyphens=False) for p in description
        ],
        "layer_sizes": repr(tuple(sizes)),
        "shapes": shapes,
        "shape_lines": textwrap.wrap(
            f"params: {args_fit}",
            width=LINE_LENGTH,
            initial_indent="    ",
            subsequent_indent="        ",
            break_on_hyphens=False,
        ),
        "parameter_count": spec.parameter_count,
        "n_in": sizes[0],
        "n_out": sizes[-1],
        "parameter_keys": keys,
        "unpack_parameters": _target_lines(list(keys), "_parameters(params)"),
        "unpack_weights_tuple": _target_lines(list(keys), "weights"),
        "return_parameters": _return_lines(keys),
        "header": _header_lines(command),
        "parameter_checks": _parameter_checks(derivation),
        "notes_lines": textwrap.wrap(
            "Comments above the statements give the equation each implements; (eq. N) is its "
            "number in the notes made by `"
            + " ".join(_shell_quote(a) for a in ["symgrad", "latex", *spec.command_args()])
            + "`.",
            width=LINE_LENGTH - 4,
            break_long_words=False,
            break_on_hyphens=False,
        ),
    }


def _header_lines(command: str) -> list[str]:
    """The first comment lines: made by symgrad, from which command, do not edit."""
    first = f"# Generated by symgrad from: {command}"
    if len(first) <= LINE_LENGTH:
        lines = [first]
    else:
        lines = ["# Generated by symgrad from:"]
        for part in textwrap.wrap(
            command, width=LINE_LENGTH - 6, break_long_words=False, break_on_hyphens=False
        ):
            # A long custom activation is one word: keep it whole, copyable, and tell ruff so.
            lines.append(f"#   {part}" + ("  # noqa: E501" if len(part) > LINE_LENGTH - 4 else ""))
    return [
        *lines,
        "# Do not edit: changes are lost when the file is regenerated. To regenerate it, run that",
        "# command with -o and the path of this file.",
    ]


def _parameter_checks(derivation: Derivation) -> list[str]:
    """``valid = W1.shape == (3, 3) and b1.shape == (3,)`` lines, one per layer."""
    sizes = derivation.spec.sizes
    lines = []
    for k in range(1, len(sizes)):
        w, b = nt.param_key("W", k), nt.param_key("b", k)
        test = (
            f"{w}.shape == {_shape_text((sizes[k], sizes[k - 1]))} "
            f"and {b}.shape == {_shape_text((sizes[k],))}"
        )
        lines.append(f"valid = {test}" if k == 1 else f"valid = valid and {test}")
    return lines


# ---------------------------------------------------------------------------------------------
# Line formatting in ruff's style (generated files must pass `ruff format --check` unchanged)
# ---------------------------------------------------------------------------------------------


Target = str | list["Target"]


def _target_inline(target: Target) -> str:
    if isinstance(target, str):
        return target
    inner = ", ".join(_target_inline(t) for t in target)
    return f"({inner},)" if len(target) == 1 else f"({inner})"


def _item_lines(item: Target, indent: int) -> list[str]:
    """One item of an exploded tuple: inline when it fits, else exploded itself."""
    inline = _target_inline(item)
    if isinstance(item, str) or indent + len(inline) + 1 <= LINE_LENGTH or len(item) < 2:
        return [inline]
    lines = ["("]
    for sub in item:
        sub_lines = _item_lines(sub, indent + 4)
        sub_lines[-1] += ","
        lines += ["    " + line for line in sub_lines]
    return [*lines, ")"]


def _target_lines(target: list[Target], rhs: str, indent: int = BODY_INDENT) -> list[str]:
    """``a, b, c = rhs``, or ruff's exploded form (one item a line) when it does not fit.

    A target of one item is written ``(a,) = rhs``; callers give a flat list then.
    """
    if len(target) == 1:
        return [f"{_target_inline(target)} = {rhs}"]
    one_line = f"{', '.join(_target_inline(t) for t in target)} = {rhs}"
    if indent + len(one_line) <= LINE_LENGTH:
        return [one_line]
    lines = ["("]
    for item in target:
        sub = _item_lines(item, indent + 4)
        sub[-1] += ","
        lines += ["    " + line for line in sub]
    return [*lines, f") = {rhs}"]


def _return_lines(names: Sequence[str], indent: int = BODY_INDENT) -> list[str]:
    """``return a, b`` or its exploded form."""
    one_line = f"return {', '.join(names)}"
    if indent + len(one_line) <= LINE_LENGTH:
        return [one_line]
    return ["return (", *[f"    {name}," for name in names], ")"]


def _sequence_lines(head: str, items: Sequence[str], tail: str) -> list[str]:
    """``head((item, ...))tail`` with the tuple exploded one item a line (ruff's layout)."""
    if len(items) == 1:
        return [f"{head}(({items[0]},)){tail}"]
    return [f"{head}(", "    (", *[f"        {item}," for item in items], "    )", f"){tail}"]


def _assignment_lines(
    name: str, rhs: str, terms: list[str] | None, indent: int = BODY_INDENT
) -> list[str]:
    """``name = rhs`` in ruff's layout: one line, or parenthesized, or split at ``+``/``-``."""
    if indent + len(name) + 3 + len(rhs) <= LINE_LENGTH:
        return [f"{name} = {rhs}"]
    if indent + 4 + len(rhs) <= LINE_LENGTH or not terms or len(terms) < 2:
        return [f"{name} = (", f"    {rhs}", ")"]
    return [f"{name} = (", *[f"    {term}" for term in terms], ")"]


#: Functions printed as a conditional expression in parentheses, which ruff drops on a right side.
_CONDITIONALS = (sp.Piecewise, sp.Heaviside, sp.sign)


class _StatementWriter:
    """Prints ``name = expr`` within the line length, in the layout ``ruff format`` keeps.

    A line that is too long is split at the ``+``/``-`` of a sum when every term fits on a line;
    otherwise its longest argument becomes a new temporary first (the next name of
    ``temporaries``), until every line fits. So no generated line needs a formatter.
    """

    def __init__(self, printer: MathPrinter, temporaries: Iterator[sp.Symbol]) -> None:
        self.printer = printer
        self.temporaries = temporaries

    def text(self, expr: sp.Expr) -> str:
        if expr.is_number:
            return repr(float(expr))
        code = self.printer.doprint(expr)
        if isinstance(expr, _CONDITIONALS) and code.startswith("(") and code.endswith(")"):
            code = code[1:-1]
        return code

    def lines(self, name: str, expr: sp.Expr, op: str = "=") -> list[str]:
        code = self.text(expr)
        if BODY_INDENT + len(name) + len(op) + 2 + len(code) <= LINE_LENGTH:
            return [f"{name} {op} {code}"]
        if isinstance(expr, sp.Add):
            if BODY_INDENT + 4 + len(code) <= LINE_LENGTH:
                return [f"{name} {op} (", f"    {code}", ")"]
            terms = self.printer.add_terms(expr)
            if all(BODY_INDENT + 4 + len(t) <= LINE_LENGTH for t in terms):
                return [f"{name} {op} (", *[f"    {t}" for t in terms], ")"]
        candidates = [a for a in _arguments(expr) if not (a.is_Atom or a.is_number)]
        if not candidates:
            return [f"{name} {op} {code}"]  # one name or number cannot be shortened
        longest = max(candidates, key=lambda a: len(self.text(a)))
        temp = next(self.temporaries)
        return self.lines(str(temp), longest) + self.lines(name, expr.xreplace({longest: temp}), op)


def _arguments(expr: sp.Expr) -> list[sp.Expr]:
    """The subexpressions a long statement may move into a temporary (never a condition)."""
    if isinstance(expr, sp.Piecewise):
        return [pair.expr for pair in expr.args]
    return list(expr.args)


# ---------------------------------------------------------------------------------------------
# The vectorized style
# ---------------------------------------------------------------------------------------------


@dataclass
class _VectorizedWriter:
    """Statements of the matrix form; rows are samples, ``B`` is the batch size.

    Matrix products are written ``np.dot``: for ``B = 1`` the outer product ``Delta^T H`` has an
    inner dimension of 1, which ``@`` computes in a generic loop (4x slower at 784-128-10) while
    ``np.dot`` calls BLAS; for larger batches the two are the same.
    """

    derivation: Derivation
    printer: NumpyPrinter = field(default_factory=NumpyPrinter)

    def __post_init__(self) -> None:
        self.spec = self.derivation.spec
        self.L = self.spec.depth
        self.steps = _steps(self.derivation)

    def eq(self, key: str, form: int = -1) -> str:
        return _equation(self.derivation, self.steps[key], form)

    def h(self, k: int) -> str:
        return "X" if k == 0 else f"H{k}"

    def keeps_pre_activation(self, k: int) -> bool:
        """True when ``g'`` of layer k is computed from ``a_k`` (custom activations)."""
        return not self.spec.activation(k).builtin

    # forward ------------------------------------------------------------------------------

    def forward(self) -> list[Block]:
        blocks: list[Block] = []
        for k in range(1, self.L + 1):
            prev, a = self.h(k - 1), f"A{k}"
            blocks.append(
                Block(
                    _comment_lines(
                        [
                            self.eq(f"forward-{k}"),
                            f"All rows at once: A{k} = {prev} W{k}ᵀ + b{k}, "
                            f"shape (B, {self.spec.sizes[k]}).",
                        ]
                    ),
                    (f"{a} = np.dot({prev}, W{k}.T)", f"{a} += b{k}"),
                )
            )
            if k < self.L:
                blocks.append(self.activation(k))
        return blocks

    def activation(self, k: int) -> Block:
        act = self.spec.activation(k)
        a, h = f"A{k}", f"H{k}"
        eq = self.eq(f"activation-{k}")
        name = act.name if act.builtin else None
        if name == "sigmoid":
            return Block(
                _comment_lines(
                    [
                        eq,
                        "Computed as (1 + tanh(a/2))/2, which cannot overflow; in place, "
                        f"since g' is taken from h_{k} and A{k} is not needed again.",
                    ]
                ),
                (f"{a} *= 0.5", f"{h} = np.tanh({a}, out={a})", f"{h} += 1.0", f"{h} *= 0.5"),
            )
        if name == "tanh":
            return Block(
                _comment_lines([eq, f"In place: g' is taken from h_{k}."]),
                (f"{h} = np.tanh({a}, out={a})",),
            )
        if name == "relu":
            return Block(
                _comment_lines([eq, f"In place: g'(a) = [a > 0] = [h > 0] is taken from h_{k}."]),
                (f"{h} = np.maximum({a}, 0.0, out={a})",),
            )
        if name == "leaky-relu":
            return Block(
                _comment_lines([eq, "max(a, a/100) is a for a > 0 and a/100 otherwise."]),
                (f"{h} = np.maximum({a}, 0.01 * {a}, out={a})",),
            )
        if name == "softplus":
            return Block(
                _comment_lines([eq, "log(1 + exp(a)) = logaddexp(a, 0), which cannot overflow."]),
                (f"{h} = np.logaddexp({a}, 0.0)",),
            )
        if name == "identity":
            return Block(_comment_lines([eq]), (f"{h} = {a}",))
        writer = _StatementWriter(self.printer, sp.numbered_symbols(f"T{k}_"))
        value = act.function.xreplace({ACTIVATION_VARIABLE: sp.Symbol(a)})
        return Block(_comment_lines([eq]), tuple(writer.lines(h, value)))

    # output and loss -----------------------------------------------------------------------

    def prediction(self) -> list[Block]:
        """``Yhat = O(A_L)`` (for ``forward``)."""
        L, out = self.L, self.spec.output
        a = f"A{L}"
        eq = self.eq("prediction")
        if out == "softmax":
            return [
                Block(
                    _comment_lines(
                        [
                            eq,
                            "The row maximum is subtracted first, so exp cannot overflow.",
                        ]
                    ),
                    (
                        f"{a} -= {a}.max(axis=1, keepdims=True)",
                        f"Yhat = np.exp({a}, out={a})",
                        "Yhat /= Yhat.sum(axis=1, keepdims=True)",
                    ),
                )
            ]
        if out == "sigmoid":
            return [
                Block(
                    _comment_lines([eq, "Computed as (1 + tanh(a/2))/2, which cannot overflow."]),
                    (f"{a} *= 0.5", f"Yhat = np.tanh({a}, out={a})", "Yhat += 1.0", "Yhat *= 0.5"),
                )
            ]
        return [Block(_comment_lines([eq]), (f"Yhat = {a}",))]

    def loss(self, with_gradient: bool) -> list[Block]:
        """The mean loss ``value`` and, with ``with_gradient``, ``Delta_L``."""
        L, out, loss = self.L, self.spec.output, self.spec.loss
        a, d = f"A{L}", f"Delta{L}"
        eq_loss = self.eq("loss")
        eq_delta = self.eq("output-delta-vector")
        blocks: list[Block] = []
        if (out, loss) == ("softmax", "cross-entropy"):
            blocks.append(
                Block(
                    _comment_lines(
                        [
                            eq_loss,
                            "From a_L without forming yhat: with z_i = a_Li - max_j a_Lj "
                            "and s = sum_j exp(z_j), log yhat_i = z_i - log s, so "
                            "L = (sum_i y_i) log s - sum_i y_i z_i. Mean over the rows.",
                        ]
                    ),
                    (
                        f"{a} -= {a}.max(axis=1, keepdims=True)",
                        *(
                            (f"E = np.exp({a})", "S = E.sum(axis=1, keepdims=True)")
                            if with_gradient
                            else (f"S = np.exp({a}).sum(axis=1, keepdims=True)",)
                        ),
                        "Ysum = Y.sum(axis=1, keepdims=True)",
                        f"value = float(np.vdot(Ysum, np.log(S)) - np.vdot(Y, {a})) / B",
                    ),
                )
            )
            if with_gradient:
                blocks.append(
                    Block(
                        _comment_lines(
                            [
                                eq_delta,
                                "That form assumes sum_i y_i = 1; the code uses "
                                "yhat sum_i y_i - y, the gradient of L for any y. Delta holds "
                                "the rows of the gradient divided by B (the mean); E becomes "
                                "Delta in place.",
                            ]
                        ),
                        (f"{d} = E", f"{d} *= Ysum / S", f"{d} -= Y", f"{d} /= B"),
                    )
                )
            return blocks
        if (out, loss) == ("sigmoid", "binary-cross-entropy"):
            blocks.append(
                Block(
                    _comment_lines(
                        [
                            eq_loss,
                            "From a_L without forming yhat: log yhat = -softplus(-a) and "
                            "log(1 - yhat) = -softplus(a), so L = sum_i [softplus(a_Li) - "
                            "y_i a_Li], with softplus(a) = logaddexp(a, 0). Mean over the rows.",
                        ]
                    ),
                    (f"value = float(np.logaddexp({a}, 0.0).sum() - np.vdot(Y, {a})) / B",),
                )
            )
            if with_gradient:
                blocks.append(
                    Block(
                        _comment_lines(
                            [
                                eq_delta,
                                "yhat = (1 + tanh(a/2))/2 cannot overflow. Delta holds the rows of "
                                "the gradient divided by B (the mean); A becomes Delta in place.",
                            ]
                        ),
                        (
                            f"{a} *= 0.5",
                            f"{d} = np.tanh({a}, out={a})",
                            f"{d} += 1.0",
                            f"{d} *= 0.5",
                            f"{d} -= Y",
                            f"{d} /= B",
                        ),
                    )
                )
            return blocks
        # squared error, after any output function
        blocks += self.prediction()
        blocks.append(
            Block(
                _comment_lines([eq_loss, "With R = Yhat - Y: the mean over the rows of |r|²/2."]),
                ("R = Yhat - Y", "value = 0.5 * float(np.vdot(R, R)) / B"),
            )
        )
        if not with_gradient:
            return blocks
        slope = self.eq("output-loss-slope")
        if out == "identity":
            code: tuple[str, ...] = (f"{d} = R", f"{d} /= B")
            note = "Here yhat = a_L, so it is R, divided by B (the mean)."
        elif out == "sigmoid":
            code = (
                f"{d} = R",
                f"{d} *= Yhat",
                "np.subtract(1.0, Yhat, out=Yhat)",
                f"{d} *= Yhat",
                f"{d} /= B",
            )
            note = "R is ∂L/∂ŷ row by row; Delta is the rows divided by B (the mean)."
        else:
            code = (
                f"{d} = R",
                f"{d} -= (R * Yhat).sum(axis=1, keepdims=True)",
                f"{d} *= Yhat",
                f"{d} /= B",
            )
            note = "R is ∂L/∂ŷ row by row; Delta is the rows divided by B (the mean)."
        blocks.append(Block(_comment_lines([slope, eq_delta, note]), code))
        return blocks

    # backward ------------------------------------------------------------------------------

    def backward(self) -> list[Block]:
        blocks: list[Block] = []
        for k in range(self.L, 0, -1):
            d, prev = f"Delta{k}", self.h(k - 1)
            blocks.append(
                Block(
                    _comment_lines(
                        [
                            self.eq(f"weight-matrix-{k}"),
                            f"Summed over the rows: dW{k} = Delta{k}ᵀ {prev}.",
                        ]
                    ),
                    (f"dW{k} = np.dot({d}.T, {prev})",),
                )
            )
            blocks.append(
                Block(
                    _comment_lines([self.eq(f"bias-vector-{k}"), "Summed over the rows."]),
                    (f"db{k} = {d}.sum(axis=0)",),
                )
            )
            if k > 1:
                blocks.append(
                    Block(
                        _comment_lines(
                            [
                                self.eq(f"hidden-grad-vector-{k - 1}"),
                                f"All rows at once: Delta{k} W{k}.",
                            ]
                        ),
                        (f"Delta{k - 1} = np.dot({d}, W{k})",),
                    )
                )
                blocks.append(self.hidden_delta(k - 1))
        return blocks

    def hidden_delta(self, k: int) -> Block:
        act = self.spec.activation(k)
        d, h, a = f"Delta{k}", f"H{k}", f"A{k}"
        eq = self.eq(f"hidden-delta-vector-{k}")
        name = act.name if act.builtin else None
        if name == "sigmoid":
            return Block(
                _comment_lines([eq, f"H{k} is not needed again and becomes 1 - h in place."]),
                (f"{d} *= {h}", f"np.subtract(1.0, {h}, out={h})", f"{d} *= {h}"),
            )
        if name == "tanh":
            return Block(
                _comment_lines([eq, f"H{k} is not needed again and becomes 1 - h² in place."]),
                (f"{h} *= {h}", f"np.subtract(1.0, {h}, out={h})", f"{d} *= {h}"),
            )
        if name == "relu":
            return Block(
                _comment_lines([eq, "relu'(a) = [a > 0] = [h > 0] (0 at a = 0)."]),
                (f"{d} *= {h} > 0.0",),
            )
        if name == "leaky-relu":
            return Block(
                _comment_lines([eq, "g'(a) = 1 for a > 0 and 0.01 otherwise (also at a = 0)."]),
                (f"{d} *= np.where({h} > 0.0, 1.0, 0.01)",),
            )
        if name == "softplus":
            return Block(
                _comment_lines(
                    [
                        eq,
                        "softplus'(a) = σ(a) = 1 - exp(-h) since h = log(1 + exp(a)); "
                        "-expm1(-h) keeps it exact for small h.",
                    ]
                ),
                (f"{d} *= -np.expm1(-{h})",),
            )
        if name == "identity":
            return Block(_comment_lines([eq, "g' = 1: nothing to multiply."]), ())
        slope = act.derivative.xreplace({ACTIVATION_VARIABLE: sp.Symbol(a)})
        writer = _StatementWriter(self.printer, sp.numbered_symbols(f"T{k}_"))
        return Block(
            _comment_lines([eq, f"g'(a) = {printing.unicode(act.derivative)}, at a = A{k}."]),
            (*writer.lines(f"G{k}", slope), f"{d} *= G{k}"),
        )

    # functions -----------------------------------------------------------------------------

    def context(self) -> dict[str, object]:
        forward = self.forward()
        hidden_kept = any(self.keeps_pre_activation(k) for k in range(1, self.L))
        del hidden_kept  # A_k is simply kept alive by name where a custom g' needs it
        return {
            "forward_body": [*forward, *self.prediction()],
            "loss_body": [*self.forward(), *self.loss(with_gradient=False)],
            "gradient_body": [*self.forward(), *self.loss(with_gradient=True), *self.backward()],
            "gradient_names": [
                (nt.param_key(base, k), f"d{base}{k}")
                for k in range(1, self.L + 1)
                for base in ("W", "b")
            ],
        }


# ---------------------------------------------------------------------------------------------
# The unrolled style
# ---------------------------------------------------------------------------------------------


@dataclass
class _Section:
    comments: tuple[str, ...]
    statements: list[tuple[sp.Symbol, sp.Expr]] = field(default_factory=list)


class _Program:
    """A straight-line program of scalar assignments in commented sections.

    :meth:`let` drops an assignment whose value is a number or another name and returns that
    value instead, so ``h = a`` (identity) or a constant never becomes a statement. The results
    (``value``, ``dW..``, ``yhat..``) are kept in :attr:`results` as names or numbers.
    """

    def __init__(self) -> None:
        self.sections: list[_Section] = []
        self.results: dict[str, sp.Expr] = {}

    def section(self, comments: Sequence[str]) -> None:
        self.sections.append(_Section(_comment_lines(comments)))

    def let(self, name: str, expr: sp.Expr, always: bool = False) -> sp.Expr:
        expr = sp.sympify(expr)
        if (expr.is_number or expr.is_Symbol) and not always:
            return expr
        symbol = sp.Symbol(name, real=True)
        self.sections[-1].statements.append((symbol, expr))
        return symbol

    def result(self, name: str, expr: sp.Expr, always: bool = False) -> None:
        self.results[name] = self.let(name, expr, always)

    def _drop_unused(self) -> None:
        """Remove statements no result depends on (``a2_0`` of a one-unit softmax, say)."""
        live: set[sp.Symbol] = set()
        for value in self.results.values():
            live |= value.free_symbols
        for section in reversed(self.sections):
            kept = []
            for symbol, expr in reversed(section.statements):
                if symbol in live:
                    kept.append((symbol, expr))
                    live |= expr.free_symbols
            section.statements = kept[::-1]

    def blocks(self, printer: MathPrinter) -> list[Block]:
        """The sections printed, after common-subexpression elimination over the whole program.

        A temporary ``t<n>`` is written just before the first statement that needs it, so every
        section keeps its own statements under its comment.
        """
        self._drop_unused()
        statements = [s for section in self.sections for s in section.statements]
        exprs = [e for _, e in statements]
        taken = sorted({str(s) for e in exprs for s in e.free_symbols})
        temporaries = sp.numbered_symbols(
            "t", cls=sp.Symbol, real=True, exclude=[sp.Symbol(n, real=True) for n in taken]
        )
        replacements, reduced = sp.cse(exprs, symbols=temporaries, order="canonical")
        defs = dict(replacements)
        order = {sym: n for n, (sym, _) in enumerate(replacements)}
        emitted: set[sp.Symbol] = set()

        def needed(expr: sp.Expr) -> list[sp.Symbol]:
            """Temporaries ``expr`` needs that are not yet written, dependencies first."""
            found: list[sp.Symbol] = []
            for sym in sorted(expr.free_symbols & defs.keys(), key=order.__getitem__):
                if sym in emitted or sym in found:
                    continue
                for dep in needed(defs[sym]):
                    if dep not in found:
                        found.append(dep)
                found.append(sym)
            return found

        writer = _StatementWriter(printer, temporaries)
        lines_for = writer.lines

        blocks: list[Block] = []
        position = 0
        for section in self.sections:
            code: list[str] = []
            for symbol, _ in section.statements:
                expr = reduced[position]
                position += 1
                for temp in needed(expr):
                    emitted.add(temp)
                    code += lines_for(str(temp), defs[temp])
                code += lines_for(str(symbol), expr)
            blocks.append(Block(section.comments, tuple(code)))
        return blocks


def _symbol(name: str) -> sp.Symbol:
    return sp.Symbol(name, real=True)


def _stable_sigmoid(a: sp.Expr) -> sp.Expr:
    """``1/(1 + exp(-a)) = (1 + tanh(a/2))/2``, which never overflows."""
    return sp.Rational(1, 2) * sp.tanh(a / 2) + sp.Rational(1, 2)


def _softplus(a: sp.Expr) -> sp.Expr:
    """``log(1 + exp(a)) = max(a, 0) + log1p(exp(-|a|))``, which never overflows."""
    return sp.Max(a, 0) + log1p(sp.exp(-sp.Abs(a)))


@dataclass
class _UnrolledWriter:
    """The scalar program, once on floats (one sample) and once on batch columns."""

    derivation: Derivation

    def __post_init__(self) -> None:
        self.spec = self.derivation.spec
        self.L = self.spec.depth
        self.sizes = self.spec.sizes
        self.steps = _steps(self.derivation)

    def eq(self, key: str, form: int = -1) -> str:
        return _equation(self.derivation, self.steps[key], form)

    def n(self, k: int) -> int:
        return self.sizes[k]

    # names ---------------------------------------------------------------------------------

    def x(self) -> list[sp.Symbol]:
        return [_symbol(nt.python_entry("x", None, j)) for j in range(self.n(0))]

    def y(self) -> list[sp.Symbol]:
        return [_symbol(nt.python_entry("y", None, i)) for i in range(self.n(self.L))]

    def w(self, k: int) -> list[list[sp.Symbol]]:
        return [
            [_symbol(nt.python_entry("W", k, i, j)) for j in range(self.n(k - 1))]
            for i in range(self.n(k))
        ]

    def b(self, k: int) -> list[sp.Symbol]:
        return [_symbol(nt.python_entry("b", k, i)) for i in range(self.n(k))]

    # the program ---------------------------------------------------------------------------

    def program(self, what: str, batch: bool) -> _Program:
        """``what`` is ``forward``, ``loss`` or ``gradients``; ``batch`` for columns."""
        p = _Program()
        L, spec = self.L, self.spec
        h: list[sp.Expr] = list(self.x())
        pre: dict[int, list[sp.Expr]] = {}
        post: dict[int, list[sp.Expr]] = {0: h}
        for k in range(1, L + 1):
            p.section([self.eq(f"forward-{k}")])
            W, b = self.w(k), self.b(k)
            a = [
                p.let(
                    nt.python_entry("a", k, i),
                    sp.Add(b[i], *[W[i][j] * h[j] for j in range(self.n(k - 1))]),
                )
                for i in range(self.n(k))
            ]
            pre[k] = a
            if k < L:
                act = spec.activation(k)
                note = ""
                if act.builtin and act.name == "sigmoid":
                    note = "Computed as (1 + tanh(a/2))/2, which cannot overflow."
                elif act.builtin and act.name == "softplus":
                    note = "Computed as max(a, 0) + log1p(exp(-|a|)), which cannot overflow."
                p.section([self.eq(f"activation-{k}")] + ([note] if note else []))
                h = [p.let(nt.python_entry("h", k, j), self.g(act, a[j])) for j in range(len(a))]
                post[k] = h
        a = pre[L]
        yhat, loss_value, delta = self.output_layer(p, a, what, batch)
        for i, value in enumerate(yhat):
            p.results[f"yhat{i}"] = value
        if what != "gradients":
            return p
        # backward: delta holds dL/da_L (divided by B on a batch)
        for k in range(L, 0, -1):
            p.section([self.eq(f"weight-{k}"), self.eq(f"bias-{k}")])
            prev = post[k - 1]
            for i in range(self.n(k)):
                for j in range(self.n(k - 1)):
                    product = delta[i] * prev[j]
                    p.result(
                        nt.python_entry("dW", k, i, j), _batch_sum(product) if batch else product
                    )
            for i in range(self.n(k)):
                p.result(nt.python_entry("db", k, i), _batch_sum(delta[i]) if batch else delta[i])
            if k == 1:
                break
            p.section([self.eq(f"hidden-grad-{k - 1}")])
            W = self.w(k)
            grad_h = [
                p.let(
                    nt.python_entry("gh", k - 1, j),
                    sp.Add(*[delta[i] * W[i][j] for i in range(self.n(k))]),
                )
                for j in range(self.n(k - 1))
            ]
            act = spec.activation(k - 1)
            p.section([self.eq(f"hidden-delta-{k - 1}")])
            delta = [
                p.let(
                    nt.python_entry("d", k - 1, j),
                    grad_h[j] * self.g_prime(act, pre[k - 1][j], post[k - 1][j]),
                )
                for j in range(self.n(k - 1))
            ]
        return p

    def g(self, act: Activation, a: sp.Expr) -> sp.Expr:
        """``g(a)`` in a form that cannot overflow for the built-in activations."""
        if act.builtin and act.name == "sigmoid":
            return _stable_sigmoid(a)
        if act.builtin and act.name == "softplus":
            return _softplus(a)
        return act.function_at(a)

    def g_prime(self, act: Activation, a: sp.Expr, h: sp.Expr) -> sp.Expr:
        """``g'(a)``, from ``h = g(a)`` where the catalogue writes it so (``h (1 - h)``)."""
        if act.builtin and act.name == "softplus":
            return _stable_sigmoid(a)
        if act.derivative_in_output is not None:
            return sp.sympify(act.derivative_in_output).xreplace({_h_symbol(): h})
        return act.derivative.xreplace({ACTIVATION_VARIABLE: a})

    def output_layer(
        self, p: _Program, a: list[sp.Expr], what: str, batch: bool
    ) -> tuple[list[sp.Expr], sp.Expr, list[sp.Expr]]:
        """``yhat``, the per-sample loss (summed over the batch and divided by B on a batch), and
        ``dL/da_L`` (divided by B on a batch)."""
        L, out, loss = self.L, self.spec.output, self.spec.loss
        n = len(a)
        y = self.y()
        inv_b = _symbol("inv_B")
        scale = inv_b if batch else sp.Integer(1)
        need_yhat = what == "forward" or what == "gradients" or loss == "squared-error"
        yhat: list[sp.Expr] = []
        z: list[sp.Expr] = []
        s: sp.Expr = sp.Integer(1)
        if out == "softmax":
            p.section(
                [
                    self.eq("prediction"),
                    f"With z_i = a_{L}i - max_j a_{L}j, so that exp cannot overflow.",
                ]
            )
            m = a[0]
            for i in range(1, n):  # one max of two at a time keeps every line short
                m = p.let(f"m{L}" if i == n - 1 else f"m{L}_{i}", sp.Max(m, a[i]))
            z = [p.let(nt.python_entry("z", L, i), a[i] - m) for i in range(n)]
            e = [p.let(nt.python_entry("e", L, i), sp.exp(z[i])) for i in range(n)]
            s = p.let(f"s{L}", sp.Add(*e))
            if need_yhat:
                yhat = [p.let(nt.python_entry("yhat", None, i), e[i] / s) for i in range(n)]
        elif out == "sigmoid":
            p.section([self.eq("prediction"), "As (1 + tanh(a/2))/2, which cannot overflow."])
            if need_yhat:
                yhat = [
                    p.let(nt.python_entry("yhat", None, i), _stable_sigmoid(a[i])) for i in range(n)
                ]
        else:
            yhat = list(a)
        if what == "forward":
            return yhat, sp.Integer(0), []

        # the per-sample loss, from a_L where the output function allows it
        if (out, loss) == ("softmax", "cross-entropy"):
            p.section(
                [
                    self.eq("loss"),
                    "From a_L: log yhat_i = z_i - log s, so L = (sum_i y_i) log s - sum_i y_i z_i.",
                ]
            )
            sample = sp.log(s) * sp.Add(*y) - sp.Add(*[y[i] * z[i] for i in range(n)])
        elif (out, loss) == ("sigmoid", "binary-cross-entropy"):
            p.section(
                [
                    self.eq("loss"),
                    "From a_L: L = sum_i [softplus(a_i) - y_i a_i], with softplus(a) = max(a, 0) + "
                    "log1p(exp(-|a|)), which cannot overflow.",
                ]
            )
            sample = sp.Add(*[_softplus(a[i]) - y[i] * a[i] for i in range(n)])
        else:
            p.section([self.eq("loss"), "With r_i = yhat_i - y_i: L = sum_i r_i²/2."])
            r = [p.let(nt.python_entry("r", None, i), yhat[i] - y[i]) for i in range(n)]
            sample = sp.Rational(1, 2) * sp.Add(*[ri**2 for ri in r])
        if batch:
            sample_symbol = p.let("sample_loss", sample)
            p.result("value", _batch_sum(sample_symbol) * inv_b, always=True)
        else:
            p.result("value", sample, always=True)
        loss_value = p.results["value"]
        if what == "loss":
            return yhat, loss_value, []

        pair = (out, loss)
        if pair == ("softmax", "cross-entropy"):
            p.section(
                [
                    self.eq("output-delta"),
                    "That form assumes sum_i y_i = 1; the code uses yhat_i sum_j y_j - y_i, the "
                    "gradient of L for any y." + (" Divided by B for the mean." if batch else ""),
                ]
            )
            total = sp.Add(*y)
            delta = [
                p.let(nt.python_entry("d", L, i), (yhat[i] * total - y[i]) * scale)
                for i in range(n)
            ]
        else:
            p.section(
                [
                    self.eq("output-delta"),
                    *(["Divided by B for the mean."] if batch else []),
                ]
            )
            if pair == ("sigmoid", "binary-cross-entropy") or pair == ("identity", "squared-error"):
                raw = [yhat[i] - y[i] for i in range(n)]
            elif pair == ("sigmoid", "squared-error"):
                raw = [r[i] * yhat[i] * (1 - yhat[i]) for i in range(n)]
            else:  # softmax + squared error
                q = p.let(f"q{L}", sp.Add(*[r[j] * yhat[j] for j in range(n)]))
                raw = [yhat[i] * (r[i] - q) for i in range(n)]
            delta = [p.let(nt.python_entry("d", L, i), raw[i] * scale) for i in range(n)]
        return yhat, loss_value, delta

    # code ----------------------------------------------------------------------------------

    def context(self) -> dict[str, object]:
        L = self.L
        unpack: list[str] = []
        for k in range(1, L + 1):
            if self.n(k) == 1:
                row: list[Target] = [str(s) for s in self.w(k)[0]]
                unpack += _target_lines(row, f"W{k}.ravel().tolist()")
            else:
                rows: list[Target] = [[str(s) for s in r] for r in self.w(k)]
                unpack += _target_lines(rows, f"W{k}.tolist()")
            unpack += _target_lines([str(s) for s in self.b(k)], f"b{k}.tolist()")
        x_names: list[Target] = [str(s) for s in self.x()]
        y_names: list[Target] = [str(s) for s in self.y()]
        functions: dict[str, dict[str, object]] = {}
        uses_math = False
        for what in ("forward", "loss", "gradients"):
            for batch in (False, True):
                printer: MathPrinter = NumpyPrinter() if batch else MathPrinter()
                program = self.program(what, batch)
                blocks = program.blocks(printer)
                blocks.append(self.results(what, batch, program.results, printer))
                text = "\n".join(line for block in blocks for line in block.code)
                uses_math = uses_math or "math." in text
                functions[f"{what}_{'batch' if batch else 'one'}"] = {
                    "blocks": blocks,
                    "uses_B": re.search(r"\bB\b", text) is not None,
                    "uses_inv_B": re.search(r"\binv_B\b", text) is not None,
                }
        return {
            "uses_math": uses_math,
            "unpack_weights": unpack,
            "unpack_x_one": _target_lines(x_names, "X.ravel().tolist()"),
            "unpack_y_one": _target_lines(y_names, "Y.ravel().tolist()"),
            "unpack_x_batch": _target_lines(x_names, "np.ascontiguousarray(X.T)"),
            "unpack_y_batch": _target_lines(y_names, "np.ascontiguousarray(Y.T)"),
            "functions": functions,
            "return_gradients": self.gradient_views(),
        }

    def results(
        self, what: str, batch: bool, results: dict[str, sp.Expr], printer: MathPrinter
    ) -> Block:
        """The statements that pack the results (names or numbers) into arrays."""
        L = self.L

        def text(name: str) -> str:
            value = results[name]
            return repr(float(value)) if value.is_number else printer.doprint(value)

        if what == "forward":
            items = [text(f"yhat{i}") for i in range(self.n(L))]
            if batch:
                items = [f"np.full(B, {v})" if _is_number(v) else v for v in items]
                code = _sequence_lines("Yhat = np.column_stack", items, "")
            else:
                code = _sequence_lines("Yhat = np.array", items, "")
            return Block(("The prediction, one entry per output unit.",), tuple(code))
        if what == "loss":
            return Block((), ())
        items = []
        for k in range(1, L + 1):
            rows, cols = self.n(k), self.n(k - 1)
            items += [
                text(nt.python_entry("dW", k, i, j)) for i in range(rows) for j in range(cols)
            ]
            items += [text(nt.python_entry("db", k, i)) for i in range(rows)]
        code = [
            "flat = np.frombuffer(",
            "    bytearray(",
            "        struct.pack(",
            f'            "{len(items)}d",',
            *[f"            {item}," for item in items],
            "        )",
            "    )",
            ")",
        ]
        return Block(
            _comment_lines(
                [
                    "The gradients in one new buffer of doubles, which the arrays below view: one "
                    "NumPy call instead of one per parameter.",
                ]
            ),
            tuple(code),
        )

    def gradient_views(self) -> list[tuple[str, str]]:
        """``("W1", "flat[0:9].reshape(3, 3)")``: each gradient as a view of the buffer."""
        views = []
        start = 0
        for k in range(1, self.L + 1):
            rows, cols = self.n(k), self.n(k - 1)
            stop = start + rows * cols
            views.append((nt.param_key("W", k), f"flat[{start}:{stop}].reshape({rows}, {cols})"))
            start, stop = stop, stop + rows
            views.append((nt.param_key("b", k), f"flat[{start}:{stop}]"))
            start = stop
        return views


def _batch_sum(expr: sp.Expr) -> sp.Expr:
    """The sum over the batch of a column; ``c B`` for a constant ``c``."""
    if expr == 0:
        return sp.Integer(0)
    if expr.is_number:
        return expr * _symbol("B")
    return BatchSum(expr)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _h_symbol() -> sp.Symbol:
    from symgrad.catalogue import H

    return H
