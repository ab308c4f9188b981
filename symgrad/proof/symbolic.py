"""Symbolic proof of each step: every form of a step equals the one before it, by SymPy.

Part of the proof (derivation -> **proof** -> program). Local derivatives
(``da_{ki}/dW_{kij} = h_{k-1,j}``, ``dh_{kj}/da_{kj} = g'(a_{kj})``, ``dyhat_j/da_{Li}``) are
recomputed by differentiating the layer equations, with generic indices ``i, j``, so one check
covers every entry. Output-layer steps are proved for every output unit (a sample beyond
:data:`~symgrad.proof.common.OUTPUT_EXACT_LIMIT` units). Matrix forms are expanded entry by entry
and compared with the elementwise step they summarize. The catalogue's identities (``g'`` against
``d g/dx``, and every form generated code computes against its definition) are proved here too.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from dataclasses import replace

import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p

from symgrad import arrays, catalogue
from symgrad import notation as nt
from symgrad.arrays import LogAddExp
from symgrad.catalogue import Activation
from symgrad.catalogue import H as H_OUTPUT
from symgrad.derivation import (
    Check,
    CheckMethod,
    EntryMatrix,
    Kind,
    Stage,
    Step,
    build_step,
)
from symgrad.errors import ProofError
from symgrad.expressions import X
from symgrad.model import Elementwise, Network, instantiate
from symgrad.proof.common import (
    CANCEL_LIMIT,
    OUTPUT_EXACT_LIMIT,
    OUTPUT_SYMBOLIC_LIMIT,
    RATIONAL_POINTS,
    sample_units,
    seed_for,
)

# Activation identities -------------------------------------------------------------------------

_RATIONAL_POINTS = [
    sp.Rational(p, q) for p, q in [(-7, 3), (-1, 2), (-1, 7), (1, 9), (2, 5), (3, 1), (11, 4)]
]


def _distinct_activations(net: Network) -> list[Activation]:
    """The hidden activations of ``net``, each once, in layer order."""
    found: dict[str, Activation] = {}
    for k in range(1, net.L):
        found.setdefault(net.activation(k).name, net.activation(k))
    return list(found.values())


def check_activations(net: Network) -> None:
    """``g'`` of every hidden activation equals ``d g/dx``; ``g'`` in terms of ``h`` as well."""
    for act in _distinct_activations(net):
        direct = sp.diff(act.function, X)
        candidates = [act.derivative, act.shown_derivative]
        if act.derivative_in_output is not None:
            candidates.append(
                act.derivative_in_output.xreplace({sp.Symbol("h", real=True): act.function})
            )
        for candidate in candidates:
            if not _zero_at_points(direct - candidate):
                raise ProofError(f"the derivative of activation {act.name} does not check")
        if not _zero_at_points(act.shown_function - act.function):
            raise ProofError(f"activation {act.name} as the notes write it does not check")
        if act.derivative_at_kink is not None:
            # The convention at 0 (no derivative there): the notes' g' and the code's agree on it.
            for candidate in (act.derivative, act.shown_derivative):
                if candidate.xreplace({X: 0}) != act.derivative_at_kink:
                    raise ProofError(f"activation {act.name}: g'(0) is not the stated value")


def check_code_forms(net: Network) -> None:
    """Every form generated code computes equals the definition it replaces.

    For each activation: the stable ``g`` against ``g``, and the code's ``g'`` (often in terms of
    ``h = g(a)``) against ``g'``. For the output layer: the prediction, the per-sample loss and its
    gradient with respect to the logits, as the code computes them from the logits (shifted by
    their maximum, which must cancel, so the maximum is left a free number ``m``), against the
    definitions, for any targets (not only those summing to 1): exactly where SymPy can decide it,
    else at random points in high precision.
    """
    for act in _distinct_activations(net):
        stable = _meaning(act.code_function) - act.function
        slope = _meaning(act.code_slope).xreplace({H_OUTPUT: act.function}) - act.derivative
        for what, difference in (("g", stable), ("g'", slope)):
            if not _zero_at_points(difference):
                raise ProofError(f"the code's {what} of activation {act.name} is not its {what}")
    output = net.spec.pair.output
    if output.diagonal:  # a unit's prediction from its own logit: proved as an activation's g
        code = _meaning(output.code.xreplace({arrays.ROW_A: X}))
        if not _zero_at_points(code - output.values([X])[0]):
            raise ProofError(f"the code's {output.name} output is not its definition")
    _check_pair_code(net)


def _meaning(expr: sp.Expr) -> sp.Expr:
    """A code form in plain functions: ``logaddexp``, ``log1p``, ``expm1`` written out."""
    return expr.replace(lambda e: isinstance(e, LogAddExp), lambda e: e.meaning()).replace(
        lambda e: isinstance(e, (log1p, expm1)),
        lambda e: sp.log(1 + e.args[0]) if isinstance(e, log1p) else sp.exp(e.args[0]) - 1,
    )


#: Output units the code forms of a pair are checked on (they are written for any width).
CODE_FORM_UNITS = 3


def _check_pair_code(net: Network) -> None:
    pair = net.spec.pair
    n = min(net.n(net.L), CODE_FORM_UNITS)
    a = [sp.Symbol(f"a{i}", real=True) for i in range(n)]
    y = [sp.Symbol(f"y{i}", real=True) for i in range(n)]
    shift = sp.Symbol("m", real=True)
    units: list[dict[sp.Symbol, sp.Expr]] = [
        {arrays.ROW_A: a[i], arrays.ROW_Y: y[i]} for i in range(n)
    ]

    def written_out(form: sp.Expr) -> list[sp.Expr]:
        form = form.replace(lambda e: isinstance(e, arrays.RowMax), lambda e: shift)
        return [_meaning(e) for e in arrays.expand_row(form, units)]

    for code in pair.code_steps:
        for unit, value in zip(units, written_out(code.value), strict=True):
            unit[sp.Symbol(code.name, real=True)] = value
    yhat = catalogue.output_function(pair.output.name, list(a))
    loss = catalogue.per_sample_loss(pair.loss.name, yhat, list(y))
    predicted = written_out(pair.code_prediction)
    identities = [("prediction", p - q) for p, q in zip(predicted, yhat, strict=True)]
    identities.append(("loss", written_out(pair.code_loss)[0] - loss))
    for i, value in enumerate(written_out(pair.code_delta)):
        identities.append(("gradient", value - sp.diff(loss, a[i])))
    points = _random_points([*a, *y, shift], seed_for(net.spec.sizes))
    for what, difference in identities:
        if not _zero_numerically(difference, points):
            names = f"{pair.output.name} + {pair.loss.name}"
            raise ProofError(f"the code's {what} of {names} is not the definition's")


def _random_points(symbols: list[sp.Symbol], seed: int) -> list[dict[sp.Symbol, sp.Expr]]:
    rng = random.Random(seed)
    return [
        {s: sp.Rational(rng.randint(-300, 300), rng.randint(50, 150)) for s in symbols}
        for _ in range(RATIONAL_POINTS)
    ]


def _zero_numerically(expr: sp.Expr, points: list[dict[sp.Symbol, sp.Expr]]) -> bool:
    """Zero at every point to 10^-40 relative, in 60-digit arithmetic (exactly zero first)."""
    if expr == 0:
        return True
    for point in points:
        value = sp.N(expr.xreplace(point), 60)
        scale = max(1, max(abs(sp.N(v, 60)) for v in point.values()))
        if not abs(value) <= sp.Float("1e-40", 60) * scale:
            return False
    return True


def _zero_at_points(expr: sp.Expr) -> bool:
    """Exactly zero: symbolically, for piecewise functions case by case on the sign of ``x``
    (:func:`zero_by_sign`), and where those cases leave a choice, at rational points off the
    kinks."""
    if expr.has(sp.Heaviside, sp.Piecewise, sp.Max, sp.Abs, sp.sign):
        if zero_by_sign(expr):
            return True
        for point in _RATIONAL_POINTS:
            value = expr.xreplace({X: point})
            value = value.rewrite(sp.exp) if value.has(sp.tanh) else value
            if sp.nsimplify(sp.simplify(value)) != 0:
                return False
        return True
    # Exponentials become a positive symbol T = exp(x): an identity between rational functions of
    # T is decided by cancel, much faster than simplify; simplify remains the fallback.
    t = sp.Symbol("T", positive=True)
    rational = expr.rewrite(sp.exp).xreplace({X: sp.log(t)})
    if sp.cancel(sp.together(rational)) == 0:
        return True
    return sp.simplify(expr.rewrite(sp.exp)) == 0


def zero_by_sign(expr: sp.Expr) -> bool:
    """``expr`` in ``x`` is zero for every real ``x``, proved in three cases: ``x = p``, ``x = -p``
    (``p > 0``) and ``x = 0``. In each case SymPy knows the sign of ``x``, so ``|x|``, ``max``,
    steps and choices on the sign of ``x`` resolve (``exp(-|x|)`` is ``exp(-p)`` in the first case,
    ``exp(p)`` in the second), and what is left is decided as an identity in ``exp(p)``. False
    when a case keeps a choice or SymPy cannot decide it."""
    p = sp.Symbol("p", positive=True)
    t = sp.Symbol("T", positive=True)
    for case in (p, -p, sp.Integer(0)):
        value = expr.xreplace({X: case})
        if value.has(sp.Heaviside, sp.Piecewise, sp.Max, sp.Min, sp.Abs, sp.sign):
            return False
        rational = value.rewrite(sp.exp).xreplace({p: sp.log(t)})
        if sp.cancel(sp.together(rational)) != 0 and sp.simplify(value.rewrite(sp.exp)) != 0:
            return False
    return True


# Symbolic checks of the forms of each step ---------------------------------------------------


#: Widths up to this many units are kept when a wide network is shrunk for the symbolic proof.
CAPPED_WIDTH = 6


def shrink_map(sizes: tuple[int, ...]) -> dict[int, int]:
    """Each width of the network, and the width it has in the shrunk copy.

    Widths up to :data:`CAPPED_WIDTH` stay; the wider ones become ``CAPPED_WIDTH + 1``,
    ``+ 2``, ... in increasing order, so that layers of different widths keep different widths
    (a sum that runs over the wrong layer still shows) at a cost that does not grow with them.
    """
    wide = sorted({n for n in sizes if n > CAPPED_WIDTH})
    mapping = {n: n for n in sizes if n <= CAPPED_WIDTH}
    mapping.update({n: CAPPED_WIDTH + 1 + rank for rank, n in enumerate(wide)})
    return mapping


def capped(net: Network) -> Network:
    """``net`` with its widths shrunk by :func:`shrink_map` (itself when no layer is wide)."""
    mapping = shrink_map(net.spec.sizes)
    sizes = tuple(mapping[n] for n in net.spec.sizes)
    if sizes == net.spec.sizes:
        return net
    return Network(replace(net.spec, sizes=sizes))


def check_step(net: Network, step: Step) -> Check:
    """The symbolic check of one step; raises :class:`ProofError` when a form differs.

    Steps of the hidden layers, of the parameters and of the mini-batch of a wide network are
    proved on the shrunk copy (:func:`capped`), after checking that the step is the copy's step
    but for the widths (:func:`same_formulas`); the check then says so (``capped``) and counts
    the step's own entries.
    """
    if step.stage in (Stage.HIDDEN, Stage.PARAMETERS, Stage.BATCH):
        small = capped(net)
        if small is not net:
            proved = build_step(small, step.id)
            if not same_formulas(step, proved, shrink_map(net.spec.sizes)):
                raise ProofError(
                    f"step {step.key} is not the formula proved on the network with its widths "
                    "shrunk"
                )
            check = _check_in(small, proved)
            widest = max(small.spec.sizes)
            return replace(check, total=_full_count(net, step), capped=widest)
    return _check_in(net, step)


def same_formulas(step: Step, proved: Step, mapping: dict[int, int]) -> bool:
    """True when ``step`` is ``proved`` but for the widths: every sum's upper limit and every
    matrix's shape mapped by ``mapping``, nothing else changed (compared structurally). A limit
    or a shape that is not a width of the network matches nothing."""

    def cut(n: sp.Expr) -> sp.Expr:
        if not n.is_Integer or n == 1:  # a column vector's one column
            return n
        if int(n) in mapping:
            return sp.Integer(mapping[int(n)])
        return sp.Symbol(f"not_a_width_{int(n)}")

    def same(full: object, small: object) -> bool:
        if isinstance(full, EntryMatrix) and isinstance(small, EntryMatrix):
            if (cut(sp.Integer(full.rows)), cut(sp.Integer(full.cols))) != small.shape:
                return False
            return all(
                _resized(full.entry(r, c), cut) == _resized(small.entry(r, c), lambda n: n)
                for r in range(1, small.rows + 1)
                for c in range(1, small.cols + 1)
            )
        if isinstance(full, sp.Basic) and isinstance(small, sp.Basic):
            return _resized(full, cut) == _resized(small, lambda n: n)
        return False

    ranges = [(index, cut(sp.Integer(n))) for index, n in step.indices]
    return (
        step.id == proved.id
        and step.rules == proved.rules
        and ranges == [(index, sp.Integer(n)) for index, n in proved.indices]
        and len(step.forms) == len(proved.forms)
        and same(step.lhs, proved.lhs)
        and all(same(f, g) for f, g in zip(step.forms, proved.forms, strict=True))
    )


def _resized(expr: sp.Basic, cut: Callable[[sp.Expr], sp.Expr]) -> sp.Basic:
    """``expr`` with ``cut`` applied to sum limits and matrix shapes, rebuilt as a bare tree
    without any class's constructor (nothing is evaluated or reordered; both sides of a
    comparison are rebuilt the same way)."""
    if isinstance(expr, sp.Sum):
        limits = [sp.Tuple(i, low, cut(high)) for i, low, high in expr.limits]
        return sp.Basic.__new__(sp.Sum, _resized(expr.function, cut), *limits)
    if isinstance(expr, (sp.MatrixSymbol, sp.OneMatrix)):
        *head, rows, cols = expr.args
        return sp.Basic.__new__(type(expr), *head, cut(rows), cut(cols))
    if not expr.args or isinstance(expr, (sp.Indexed, sp.Derivative)):
        return expr
    return sp.Basic.__new__(type(expr), *[_resized(arg, cut) for arg in expr.args])


def _full_count(net: Network, step: Step) -> int:
    """The number of entries of ``step`` in ``net`` (a batch of :data:`PROOF_BATCH` rows)."""
    if step.stage is Stage.BATCH:
        shape = getattr(step.lhs, "shape", (1, 1))
        sizes = [int(sp.sympify(n).xreplace({nt.BATCH: PROOF_BATCH})) for n in shape]
        return sizes[0] * sizes[1]
    k = step.layer
    if step.kind is Kind.WEIGHT_MATRIX:
        return net.n(k) * net.n(k - 1)
    if step.kind in {Kind.BIAS_VECTOR, Kind.HIDDEN_DELTA_VECTOR, Kind.HIDDEN_GRAD_VECTOR}:
        return net.n(k)
    return _entry_count(step)


def _check_in(net: Network, step: Step) -> Check:
    if step.stage is Stage.SETUP:
        return Check(CheckMethod.DEFINITION)
    if step.stage is Stage.BATCH:
        return check_batch_step(net, step)
    if step.kind is Kind.OUTPUT_DELTA_VECTOR and net.n(net.L) > OUTPUT_SYMBOLIC_LIMIT:
        from symgrad.proof.numeric import check_output_numeric

        return check_output_numeric(net, step)
    if step.kind in {Kind.OUTPUT_DELTA_VECTOR, Kind.HIDDEN_GRAD_VECTOR, Kind.HIDDEN_DELTA_VECTOR}:
        return _check_vector(net, step)
    if step.kind in {Kind.WEIGHT_MATRIX, Kind.BIAS_VECTOR}:
        return _check_entry_matrices(net, step)
    if step.stage is Stage.OUTPUT:
        if net.n(net.L) > OUTPUT_SYMBOLIC_LIMIT:
            from symgrad.proof.numeric import check_output_numeric

            return check_output_numeric(net, step)
        return _check_output(net, step)
    total = _entry_count(step)
    normal = _Normalizer(net, step.indices)
    reference = normal(step.forms[0])
    for form in step.forms[1:]:
        if not _is_zero(normal(form) - reference):
            raise ProofError(f"step {step.key}: a form does not equal the chain-rule form")
    return Check(CheckMethod.SYMBOLIC, entries=total, total=total)


def _entry_count(step: Step) -> int:
    count = 1
    for _, n in step.indices:
        count *= n
    return count


class _Normalizer:
    """Rewrites a form with every local derivative and definition made explicit and concrete."""

    def __init__(self, net: Network, ranges: tuple[tuple[sp.Symbol, int], ...]) -> None:
        self.net = net
        self.over = sp.Dummy("m", integer=True, positive=True)
        # dL/d(...) is a plain symbol L differentiated: SymPy would "evaluate" it to zero in
        # doit() and simplify(), so every such partial becomes an opaque symbol here and stays one.
        self.opaque: dict[sp.Expr, sp.Expr] = {}
        self.in_range: dict[sp.Basic, sp.Basic] = {}
        # An index that ranges over one value is that value (SymPy writes KroneckerDelta(1, j)).
        self.only: dict[sp.Basic, sp.Basic] = {
            index: sp.Integer(1) for index, n in ranges if n == 1
        }
        for index, n in ranges:
            self.in_range[sp.Le(index, n)] = sp.true
            self.in_range[sp.Ge(index, 1)] = sp.true
            self.in_range[sp.Le(1, index)] = sp.true

    def __call__(self, expr: sp.Expr) -> sp.Expr:
        net = self.net
        result = expr.xreplace(self.only) if self.only else expr
        result = result.replace(
            lambda e: isinstance(e, sp.Derivative) and e.expr != nt.LOSS,
            lambda e: self.local(e.expr, e.variables[0]),
        )

        def hide(e: sp.Derivative) -> sp.Expr:
            return self.opaque.setdefault(e, sp.Dummy("dL"))

        result = result.replace(
            lambda e: (
                isinstance(e, sp.Derivative)
                and e.expr == nt.LOSS
                and not (
                    isinstance(e.variables[0], sp.Indexed) and str(e.variables[0].base) == "yhat"
                )
            ),
            hide,
        )
        result = result.replace(
            lambda e: (
                isinstance(e, sp.Derivative)
                and e.expr == nt.LOSS
                and isinstance(e.variables[0], sp.Indexed)
                and str(e.variables[0].base) == "yhat"
            ),
            lambda e: self.assume(sp.diff(net.loss(), e.variables[0]).doit()),
        )
        result = result.replace(
            lambda e: (
                isinstance(e, sp.Function)
                and getattr(e.func, "__name__", "").startswith("g")
                and e.func.__name__.endswith("'")
            ),
            lambda e: self.slope(e),
        )
        result = result.replace(
            lambda e: isinstance(e, sp.Indexed) and str(e.base) == "h",
            lambda e: net.activation(int(e.indices[0])).function_at(
                nt.pre(int(e.indices[0]), e.indices[1])
            ),
        )
        result = result.replace(
            lambda e: isinstance(e, sp.Indexed) and str(e.base) == "yhat",
            lambda e: net.prediction(e.indices[0], over=self.over),
        )
        return self.assume(result.doit())

    def slope(self, call: sp.Function) -> sp.Expr:
        name = call.func.__name__
        # "g'" is shared by every hidden layer (they all use one activation); "g_k'" is layer k's.
        layer = 1 if name == "g'" else int(name[2:-1])
        return self.net.activation(layer).derivative.xreplace({X: call.args[0]})

    def local(self, of: sp.Expr, wrt: sp.Expr) -> sp.Expr:
        """``d(of)/d(wrt)`` by differentiating the definition of ``of``."""
        net = self.net
        base, indices = str(of.base), of.indices
        if base == "a":
            definition = net.pre_activation(int(indices[0]), indices[1], over=self.over)
        elif base == "h":
            k = int(indices[0])
            definition = net.g(k)(nt.pre(k, indices[1]))
            return self.assume(sp.diff(definition, wrt).doit()).replace(
                lambda e: isinstance(e, sp.Derivative), lambda e: self.slope(net.g_prime(k)(wrt))
            )
        elif base == "yhat":
            definition = net.prediction(indices[0], over=self.over)
        else:
            raise ProofError(f"no definition for {of}")
        return self.assume(sp.diff(definition, wrt).doit())

    def assume(self, expr: sp.Expr) -> sp.Expr:
        """Use ``1 <= i <= n`` for the generic indices of the step."""
        return expr.xreplace(self.in_range) if self.in_range else expr


def _is_zero(expr: sp.Expr) -> bool:
    if expr == 0:  # the terms cancelled as the difference was built: no expansion needed
        return True
    expr = sp.expand(expr)
    if expr == 0:
        return True
    if expr.has(sp.Heaviside, sp.Piecewise, sp.Max):
        # Indicators as pieces, so that 1[a > 0] + 0.01 1[a <= 0] meets its piecewise definition.
        return sp.simplify(expr.rewrite(sp.Piecewise)) == 0
    return sp.simplify(sp.cancel(expr.rewrite(sp.exp))) == 0


def _check_output(net: Network, step: Step) -> Check:
    """Output-layer steps: every form, for each output unit, equals the direct derivative."""
    L, n = net.L, net.n(net.L)
    units = sample_units(n, OUTPUT_EXACT_LIMIT, seed_for(net.spec.sizes))
    normal = _Normalizer(net, ())
    logits = [sp.Symbol(f"E{m}", positive=True) for m in range(1, n + 1)]
    to_exp = {nt.pre(L, m): sp.log(logits[m - 1]) for m in range(1, n + 1)}
    assumption: dict[sp.Expr, sp.Expr] = {}
    if net.assumes_targets_sum_to_one:
        assumption = {nt.target(n): 1 - sp.Add(*[nt.target(m) for m in range(1, n)])}
    composed_loss = instantiate(net.loss()).replace(
        lambda e: isinstance(e, sp.Indexed) and str(e.base) == "yhat",
        lambda e: instantiate(net.prediction(e.indices[0])),
    )
    points = [] if n <= CANCEL_LIMIT else _rational_points(net, logits, RATIONAL_POINTS)
    for unit in units:
        if step.kind is Kind.LOSS_SLOPE:
            loss = instantiate(net.loss())
            direct = sp.diff(loss, nt.prediction(unit))
            forms = [instantiate(f, i=unit) for f in step.forms]
            for form in forms:
                if sp.simplify(form - direct) != 0:
                    raise ProofError(f"step {step.key} fails for unit {unit}")
            continue
        direct = sp.diff(composed_loss, nt.pre(L, unit))
        for number, form in enumerate(step.forms):
            value = normal(instantiate(form, i=unit))
            value = instantiate(value)
            difference = (value - direct).xreplace(to_exp)
            if number == len(step.forms) - 1 and assumption:
                difference = difference.xreplace(assumption)
            if not _rational_zero(difference.rewrite(sp.exp), logits, n, points):
                raise ProofError(f"step {step.key} fails for output unit {unit}")
    return Check(CheckMethod.SYMBOLIC, entries=len(units), total=n, points=len(points))


def _rational_zero(
    difference: sp.Expr, logits: list[sp.Symbol], n: int, points: list[dict[sp.Expr, sp.Expr]]
) -> bool:
    """Zero as a rational function of ``E_m = exp(a_{Lm})`` and ``y``.

    Up to :data:`CANCEL_LIMIT` outputs by cancelling symbolically; beyond, by exact evaluation at
    random rational points (a nonzero rational function vanishes at a random point with
    negligible probability), which is far faster than cancelling in many variables.
    """
    if not points:
        return sp.cancel(sp.expand(difference)) == 0
    return all(difference.xreplace(point) == 0 for point in points)


def _rational_points(net: Network, logits: list[sp.Symbol], count: int) -> list[dict]:
    rng = random.Random(seed_for(net.spec.sizes))
    n = net.n(net.L)
    points = []
    for _ in range(count):
        point: dict[sp.Expr, sp.Expr] = {
            e: sp.Rational(rng.randint(1, 97), rng.randint(1, 97)) for e in logits
        }
        for m in range(1, n + 1):
            point[nt.target(m)] = sp.Rational(rng.randint(-97, 97), rng.randint(1, 97))
        points.append(point)
    return points


def _check_vector(net: Network, step: Step) -> Check:
    """A vector form equals the elementwise step it summarizes, entry by entry."""
    k = step.layer
    n = net.n(k)
    units = sample_units(n, OUTPUT_EXACT_LIMIT, seed_for(net.spec.sizes) + k)
    explicit = _ExplicitMatrices(net)
    twin = build_step(net, step.id.twin())
    index = twin.indices[0][0]
    normal = _Normalizer(net, ())
    for form in step.forms:
        for unit in units:
            entry = explicit.entry(form, unit)
            # Normalized, every form of the twin is the same concrete expression: use the last.
            expected = instantiate(twin.final, **{str(index): unit})
            if not _is_zero(normal(entry) - normal(expected)):
                raise ProofError(f"step {step.key}: entry {unit} differs from step {twin.key}")
    return Check(CheckMethod.SYMBOLIC, entries=len(units), total=n)


class _ExplicitMatrices:
    """Entries of a matrix expression of the notation, one at a time, as elementwise SymPy."""

    def __init__(self, net: Network) -> None:
        self.net = net

    def entry(self, expr: sp.MatrixExpr, row: int, col: int = 1) -> sp.Expr:
        return self._entry(expr, row, col)

    def _entry(self, expr: sp.Basic, r: int, c: int) -> sp.Expr:
        net = self.net
        if isinstance(expr, sp.MatrixSymbol):
            kind = nt.matrix_kind(expr.name)
            if kind.base == "grad":
                of = kind.of or ""
                if of == "W":
                    return nt.partial(nt.weight(kind.layer or 0, r, c))
                objects = {"a": nt.pre, "h": nt.post, "b": nt.bias}
                return nt.partial(objects[of](kind.layer or 0, r))
            if kind.base == "W":
                return nt.weight(kind.layer or 0, r, c)
            if kind.base == "gprime":
                k = kind.layer or 0
                return net.g_prime(k)(nt.pre(k, r))
            if kind.base in {"yhat", "y", "x"}:
                return {"yhat": nt.prediction, "y": nt.target, "x": lambda i: nt.post(0, i)}[
                    kind.base
                ](r)
            return {"h": nt.post, "a": nt.pre, "b": nt.bias}[kind.base](kind.layer or 0, r)
        if isinstance(expr, sp.OneMatrix):
            return sp.Integer(1)
        if isinstance(expr, Elementwise):
            return expr.at(self._entry(expr.arg, r, c))
        if isinstance(expr, sp.Transpose):
            return self._entry(expr.arg, c, r)
        if isinstance(expr, sp.MatAdd):
            return sp.Add(*[self._entry(a, r, c) for a in expr.args])
        if isinstance(expr, sp.HadamardProduct):
            return sp.Mul(*[self._entry(a, r, c) for a in expr.args])
        if isinstance(expr, sp.HadamardPower):
            return self._entry(expr.base, r, c) ** expr.exp
        if isinstance(expr, sp.MatMul):
            scalars = [a for a in expr.args if not a.is_Matrix]
            matrices = [a for a in expr.args if a.is_Matrix]
            coefficient = sp.Mul(*scalars)
            return coefficient * self._product(matrices, r, c)
        raise ProofError(f"cannot expand {type(expr).__name__} entrywise")

    def _product(self, matrices: list[sp.MatrixExpr], r: int, c: int) -> sp.Expr:
        if len(matrices) == 1:
            return self._entry(matrices[0], r, c)
        first, rest = matrices[0], matrices[1:]
        inner = first.shape[1]
        rest_expr = rest[0] if len(rest) == 1 else sp.MatMul(*rest)
        return sp.Add(
            *[
                self._entry(first, r, m) * self._product(rest, m, c)
                if len(rest) > 1
                else self._entry(first, r, m) * self._entry(rest_expr, m, c)
                for m in range(1, inner + 1)
            ]
        )


def _check_entry_matrices(net: Network, step: Step) -> Check:
    """``grad_{W_k} L``: the matrix of partials, the formula applied and the outer product agree."""
    first = step.forms[0]
    assert isinstance(first, EntryMatrix)
    rows, cols = first.shape
    seed = seed_for(net.spec.sizes) + 7 * step.layer
    row_units = sample_units(rows, 6, seed)
    col_units = sample_units(cols, 6, seed + 1)
    explicit = _ExplicitMatrices(net)
    twin = build_step(net, step.id.twin())
    for r in row_units:
        for c in col_units:
            values = []
            for form in step.forms:
                if isinstance(form, EntryMatrix):
                    values.append(form.entry(r, c))
                else:
                    values.append(explicit.entry(form, r, c))
            # Entry (r, c) of the matrix of partials is dL/dW_{k r c}; the rest is its value.
            lhs = values[0]
            expected = instantiate(twin.forms[-1], i=r, j=c)
            if lhs != instantiate(twin.lhs, i=r, j=c):
                raise ProofError(f"step {step.key}: entry ({r}, {c}) is not the partial")
            for value in values[1:]:
                if sp.expand(value - expected) != 0:
                    raise ProofError(f"step {step.key}: entry ({r}, {c}) differs")
    return Check(CheckMethod.SYMBOLIC, entries=len(row_units) * len(col_units), total=rows * cols)


# The mini-batch ------------------------------------------------------------------------------

#: The batch size the mini-batch steps are expanded for, entry by entry.
PROOF_BATCH = 2
#: Products written out per mini-batch forward check: a wide layer checks fewer units.
BATCH_TERM_BUDGET = 4000

_SAMPLE_BASES = frozenset({"a", "h", "x", "y", "yhat"})


def check_batch_step(net: Network, step: Step) -> Check:
    """A mini-batch step against the per-sample step it stacks, for a batch of two.

    The batch form is expanded entry by entry with ``B = 2``; each sample gets its own copy of
    every per-sample quantity (``a_{ki}``, ``h_{kj}``, ``y_i``, ``dL/da_{ki}``...), weights and
    biases are shared. Row ``s`` of ``A_k`` must be the pre-activation of sample ``s``; row ``s``
    of ``Delta_k`` and ``G_k`` is ``1/B`` times the per-sample gradient of sample ``s`` (the batch
    loss is the mean), and ``grad_{W_k} Lbar`` must be the mean of the per-sample gradients.
    """
    if step.kind in {Kind.BATCH_LOSS, Kind.BATCH_PREDICTION}:
        return Check(CheckMethod.DEFINITION)  # the mean loss; the output function row by row
    per_sample = build_step(net, step.id.per_sample())
    expand = _BatchEntries(net)
    rows, cols = (int(sp.sympify(n).xreplace({nt.BATCH: PROOF_BATCH})) for n in step.lhs.shape)
    seed = seed_for(net.spec.sizes) + 11 * step.layer
    if step.kind in {Kind.BATCH_WEIGHT, Kind.BATCH_BIAS}:
        # grad_{W_k} Lbar: entry (r, c) is the mean over the samples of (grad_{W_k} L)_{rc}.
        row_units = sample_units(rows, OUTPUT_EXACT_LIMIT, seed)
        entries = [(r, c) for r in row_units for c in sample_units(cols, OUTPUT_EXACT_LIMIT, seed)]
        total = rows * cols

        def expected(form: sp.Basic, r: int, c: int) -> sp.Expr:
            samples = [
                _for_sample(expand.explicit.entry(form, r, c), s) for s in range(1, PROOF_BATCH + 1)
            ]
            return sp.Add(*samples) / PROOF_BATCH

    else:
        # Row s, column c: the per-sample quantity of unit c for sample s (over B for gradients).
        forward = step.kind in {Kind.BATCH_FORWARD, Kind.BATCH_ACTIVATION}
        scale = 1 if forward else sp.Rational(1, PROOF_BATCH)
        limit = OUTPUT_EXACT_LIMIT
        if step.kind is Kind.BATCH_FORWARD:
            # Each entry of A_k is a sum of n_{k-1} products: fewer units of a wide layer.
            limit = max(2, min(limit, BATCH_TERM_BUDGET // (net.n(step.layer - 1) * PROOF_BATCH)))
        units = sample_units(cols, limit, seed)
        entries = [(s, c) for s in range(1, PROOF_BATCH + 1) for c in units]
        total = PROOF_BATCH * cols

        @functools.cache
        def unit_value(form: sp.Basic, c: int) -> sp.Expr:
            if per_sample.kind is Kind.FORWARD:
                return instantiate(form, i=c)
            if per_sample.kind is Kind.ACTIVATION:
                return instantiate(form, j=c)
            return expand.explicit.entry(form, c)

        def expected(form: sp.Basic, r: int, c: int) -> sp.Expr:
            return scale * _for_sample(unit_value(form, c), r)

    # Form n of the batch step stacks form n of the per-sample step (g'(A_k), then g' written
    # out); a parameter gradient is the mean of the per-sample gradient's last form.
    summed = step.kind in {Kind.BATCH_WEIGHT, Kind.BATCH_BIAS}
    for n, form in enumerate(step.forms):
        target = per_sample.final if summed else per_sample.forms[n]
        for r, c in entries:
            if not _is_zero(expand.entry(form, r, c) - expected(target, r, c)):
                raise ProofError(
                    f"step {step.key}: entry ({r}, {c}) is not the per-sample step "
                    f"{per_sample.key} for a batch of {PROOF_BATCH}"
                )
    return Check(CheckMethod.SYMBOLIC, entries=len(entries), total=total)


@functools.lru_cache(maxsize=8192)
def _for_sample(expr: sp.Expr, s: int) -> sp.Expr:
    """``expr`` for sample ``s`` of the batch: every per-sample quantity gets its own copy."""
    if isinstance(expr, sp.Indexed):  # the common cases, leaves, without walking a tree
        if str(expr.base) not in _SAMPLE_BASES:
            return expr
        return sp.IndexedBase(f"{expr.base}^({s})")[expr.indices]
    if isinstance(expr, sp.Derivative) and expr.expr == nt.LOSS:
        return sp.Symbol(f"dL^({s})/d{_for_sample(expr.variables[0], s)}")
    copies: dict[sp.Basic, sp.Basic] = {}
    for partial in expr.atoms(sp.Derivative):
        if partial.expr == nt.LOSS:
            copies[partial] = sp.Symbol(f"dL^({s})/d{_for_sample(partial.variables[0], s)}")
    for entry in expr.atoms(sp.Indexed):
        if str(entry.base) in _SAMPLE_BASES and entry not in copies:
            copies[entry] = sp.IndexedBase(f"{entry.base}^({s})")[entry.indices]
    return expr.xreplace(copies)


class _BatchEntries:
    """Entries of a mini-batch matrix expression for a batch of :data:`PROOF_BATCH` samples."""

    def __init__(self, net: Network) -> None:
        self.net = net
        self.explicit = _ExplicitMatrices(net)

    def entry(self, expr: sp.Basic, r: int, c: int) -> sp.Expr:
        concrete = expr.xreplace({nt.BATCH: PROOF_BATCH})
        return self._entry(concrete, r, c)

    def _entry(self, expr: sp.Basic, r: int, c: int) -> sp.Expr:
        if isinstance(expr, sp.MatrixSymbol):
            kind = nt.matrix_kind(expr.name)
            k = kind.layer or 0
            per_sample = {
                "A": lambda: nt.pre(k, c),
                "H": lambda: nt.post(k, c),
                "X": lambda: nt.post(0, c),
                "Y": lambda: nt.target(c),
                "Yhat": lambda: nt.prediction(c),
                "Delta": lambda: nt.partial(nt.pre(k, c)) / PROOF_BATCH,
                "G": lambda: nt.partial(nt.post(k, c)) / PROOF_BATCH,
            }.get(kind.base)
            if per_sample is not None:
                return _for_sample(per_sample(), r)
            return self.explicit.entry(expr, r, c)  # W_k, b_k: shared by every sample
        if isinstance(expr, sp.OneMatrix):
            return sp.Integer(1)
        if isinstance(expr, Elementwise):
            return expr.at(self._entry(expr.arg, r, c))
        if isinstance(expr, sp.Transpose):
            return self._entry(expr.arg, c, r)
        if isinstance(expr, sp.MatAdd):
            return sp.Add(*[self._entry(a, r, c) for a in expr.args])
        if isinstance(expr, sp.HadamardProduct):
            return sp.Mul(*[self._entry(a, r, c) for a in expr.args])
        if isinstance(expr, sp.HadamardPower):
            return self._entry(expr.base, r, c) ** expr.exp
        if isinstance(expr, sp.MatMul):
            scalars = [a for a in expr.args if not a.is_Matrix]
            matrices = [a for a in expr.args if a.is_Matrix]
            return sp.Mul(*scalars) * self._product(matrices, r, c)
        raise ProofError(f"cannot expand {type(expr).__name__} entrywise for a batch")

    def _product(self, matrices: list[sp.MatrixExpr], r: int, c: int) -> sp.Expr:
        if len(matrices) == 1:
            return self._entry(matrices[0], r, c)
        first, rest = matrices[0], matrices[1:]
        rest_expr = rest[0] if len(rest) == 1 else sp.MatMul(*rest)
        inner = int(first.shape[1])
        return sp.Add(
            *[self._entry(first, r, m) * self._entry(rest_expr, m, c) for m in range(1, inner + 1)]
        )
