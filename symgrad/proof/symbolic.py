"""Symbolic proof of each step: every form of a step equals the one before it, by SymPy.

The catalogue's identities are in :mod:`symgrad.proof.identities`, the mini-batch steps in
:mod:`symgrad.proof.batch`.

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

from symgrad import notation as nt
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
from symgrad.model import instantiate
from symgrad.network import Network
from symgrad.proof.batch import PROOF_BATCH, check_batch_step
from symgrad.proof.common import (
    CANCEL_LIMIT,
    OUTPUT_EXACT_LIMIT,
    OUTPUT_SYMBOLIC_LIMIT,
    RATIONAL_POINTS,
    sample_units,
    seed_for,
)
from symgrad.proof.entries import ExplicitMatrices, is_zero
from symgrad.spec import NetworkSpec

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
    return _network(replace(net.spec, sizes=sizes), net.input_gradient)


@functools.lru_cache(maxsize=4)
def _network(spec: NetworkSpec, input_gradient: bool) -> Network:
    """One shrunk copy per spec: its steps are built once for all the steps proved on it."""
    return Network(spec, input_gradient)


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
    if isinstance(expr, nt.QuantitySymbol):
        rows, cols = expr.shape
        return expr.resized(cut(rows), cut(cols))
    if isinstance(expr, sp.OneMatrix):
        rows, cols = expr.args
        return sp.Basic.__new__(sp.OneMatrix, cut(rows), cut(cols))
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
    if step.kind.prove is not None:  # a kind a layer kind brings, proved as it says
        return step.kind.prove(net, step)
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
        if not is_zero(normal(form) - reference):
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
                and not nt.is_entry_of(e.variables[0], "yhat")
            ),
            hide,
        )
        result = result.replace(
            lambda e: (
                isinstance(e, sp.Derivative)
                and e.expr == nt.LOSS
                and nt.is_entry_of(e.variables[0], "yhat")
            ),
            lambda e: self.assume(sp.diff(net.loss(), e.variables[0]).doit()),
        )
        result = result.replace(_is_slope_call, self.slope)
        # h_{kj} by its definition, with the concrete g (a residual layer's refers to h_{k-1}).
        while any(nt.is_entry_of(e, "h") for e in result.atoms(sp.Indexed)):
            result = result.replace(
                lambda e: nt.is_entry_of(e, "h"), lambda e: net.definition(e, self.over)
            )
        result = result.replace(
            lambda e: nt.is_entry_of(e, "yhat"),
            lambda e: net.prediction(e.indices[0], over=self.over),
        )
        return self.assume(result.doit())

    def slope(self, call: sp.Function) -> sp.Expr:
        """``g'`` of the layer the function was made for, as the catalogue defines it."""
        found = nt.activation_of(call.func)
        assert found is not None
        layer, _ = found
        return self.net.activation(layer).derivative.xreplace({X: call.args[0]})

    def local(self, of: sp.Expr, wrt: sp.Expr) -> sp.Expr:
        """``d(of)/d(wrt)`` by differentiating the definition of ``of`` (with the abstract ``g``
        for an activation: its derivative is the catalogue's ``g'``)."""
        net = self.net
        if nt.is_entry_of(of, "h"):
            op = net.producer(nt.entry_quantity(of)[0])
            definition = op.abstract_definition(net, of)  # type: ignore[union-attr]
            slopes = {
                call: self.slope(net.g_prime(int(of.indices[0]))(call.args[0]))
                for call in definition.atoms(sp.Function)
                if nt.activation_of(call.func)
            }
            derivative = sp.diff(definition, wrt).doit()
            derivative = derivative.replace(
                lambda e: isinstance(e, sp.Derivative) and e.expr in slopes,
                lambda e: slopes[e.expr],
            )
            return self.assume(derivative)
        if nt.is_entry_of(of, "a") or nt.is_entry_of(of, "yhat"):
            return self.assume(sp.diff(net.definition(of, self.over), wrt).doit())
        raise ProofError(f"no definition for {of}")

    def assume(self, expr: sp.Expr) -> sp.Expr:
        """Use ``1 <= i <= n`` for the generic indices of the step."""
        return expr.xreplace(self.in_range) if self.in_range else expr


def _is_slope_call(expr: sp.Basic) -> bool:
    """``g'(...)`` or ``g_k'(...)``: the abstract derivative of an activation."""
    if not isinstance(expr, sp.Function):
        return False
    found = nt.activation_of(expr.func)
    return found is not None and found[1]


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
        lambda e: nt.is_entry_of(e, "yhat"),
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
    explicit = ExplicitMatrices(net)
    twin = build_step(net, step.id.twin())
    index = twin.indices[0][0]
    normal = _Normalizer(net, ())
    for form in step.forms:
        for unit in units:
            entry = explicit.entry(form, unit)
            # Normalized, every form of the twin is the same concrete expression: use the last.
            expected = instantiate(twin.final, **{str(index): unit})
            if not is_zero(normal(entry) - normal(expected)):
                raise ProofError(f"step {step.key}: entry {unit} differs from step {twin.key}")
    return Check(CheckMethod.SYMBOLIC, entries=len(units), total=n)


def _check_entry_matrices(net: Network, step: Step) -> Check:
    """``grad_{W_k} L``: the matrix of partials, the formula applied and the outer product agree."""
    first = step.forms[0]
    assert isinstance(first, EntryMatrix)
    rows, cols = first.shape
    seed = seed_for(net.spec.sizes) + 7 * step.layer
    row_units = sample_units(rows, 6, seed)
    col_units = sample_units(cols, 6, seed + 1)
    explicit = ExplicitMatrices(net)
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
