"""Proof of every step of a derivation; a failed check raises :class:`ProofError`.

Sits right after the derivation: :func:`prove` returns the same derivation with a
:class:`~symgrad.derivation.Check` on every step. Three kinds of evidence, each exact where it can
be:

``symbolic``
    The forms of a step equal each other, proved by SymPy. Local derivatives
    (``da_{ki}/dW_{kij} = h_{k-1,j}``, ``dh_{kj}/da_{kj} = g'(a_{kj})``, ``dyhat_j/da_{Li}``) are
    recomputed by differentiating the layer equations, with generic indices ``i, j``, so one check
    covers every entry. Output-layer steps are proved for every output unit (a sample beyond
    :data:`OUTPUT_EXACT_LIMIT` units). Matrix forms are expanded entry by entry and compared with
    the elementwise form.
``composed``
    For networks with at most :data:`COMPOSED_LIMIT` parameters: every partial ``dL/dW_{kij}``,
    ``dL/db_{ki}``, ``dL/da_{ki}`` and ``dL/dh_{kj}`` built by the chain rule from the steps equals
    the direct SymPy derivative of the fully composed per-sample loss ``l(a_L(theta))``; the
    difference is exactly zero. The activation ``g`` and the output-and-loss ``l`` stay abstract
    there, and their concrete derivatives are proved separately (``symbolic``), which together
    prove the concrete partials.
``numeric``
    Beyond that size, at a random point in :data:`DIGITS`-digit arithmetic (mpmath): the
    chain-rule gradient from the matrix forms is compared with the derivative of the composed loss
    as a function of one parameter (mpmath's high-precision differentiation) for a deterministic
    sample of weights and biases of every layer, and the matrix forms with the elementwise ones.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass, replace
from functools import cache

import sympy as sp

from symgrad import notation as nt
from symgrad.derivation import Check, CheckMethod, Derivation, EntryMatrix, Kind, Stage, Step
from symgrad.errors import ProofError, SpecError
from symgrad.expressions import X
from symgrad.model import Network, instantiate

#: Largest network (parameters) proved by exact differentiation of the composed loss by default.
COMPOSED_LIMIT = 40
#: Largest network ``--proof composed`` accepts; the composed loss grows too large beyond it.
COMPOSED_HARD_LIMIT = 200
#: Output units proved one by one symbolically; beyond, a sample of them.
OUTPUT_EXACT_LIMIT = 6
#: Output units up to which output-layer steps are proved symbolically; a wider output layer
#: makes every softmax entry a sum of that many terms, so beyond it they are checked numerically.
OUTPUT_SYMBOLIC_LIMIT = 12
#: Output units sampled when a wide output layer is checked numerically.
WIDE_OUTPUT_SAMPLE = 4
#: Output units up to which output-layer identities are proved by cancelling symbolically.
CANCEL_LIMIT = 3
#: Exact rational points used beyond :data:`CANCEL_LIMIT`.
RATIONAL_POINTS = 3
#: Working precision of the numeric checks, in decimal digits.
DIGITS = 40
#: Largest relative difference a numeric check accepts.
TOLERANCE = 1e-25
#: Multiplications per layer allowed for checking every bias (every unit's error signal).
UNIT_BUDGET = 100_000
#: Parameters per weight matrix (and per bias vector, half of it) in the numeric sample.
SAMPLE_PER_LAYER = 6


class ProofMethod(enum.Enum):
    COMPOSED = "composed"
    NUMERIC = "numeric"


@dataclass(frozen=True)
class ProofSummary:
    """What the proof did as a whole, for the closing section of every rendering."""

    method: ProofMethod
    parameters: int
    composed_limit: int
    #: Partials compared with the direct derivative of the composed loss.
    partials_checked: int
    digits: int
    seed: int
    max_error: float


def prove(derivation: Derivation, method: str = "auto") -> Derivation:
    """Check every step of ``derivation`` and return it with the checks attached."""
    spec = derivation.spec
    if method not in {"auto", "composed", "numeric"}:
        raise SpecError(f"unknown proof method {method!r}; use auto, composed or numeric")
    if method == "composed" and spec.parameter_count > COMPOSED_HARD_LIMIT:
        raise SpecError(
            f"--proof composed handles at most {COMPOSED_HARD_LIMIT} parameters, the network has "
            f"{spec.parameter_count}; use --proof numeric"
        )
    chosen = ProofMethod.COMPOSED
    if method == "numeric" or (method == "auto" and spec.parameter_count > COMPOSED_LIMIT):
        chosen = ProofMethod.NUMERIC
    net = derivation.network
    seed = _seed(spec.sizes)
    _check_activations(net)
    steps = {s.key: _symbolic_check(net, s) for s in derivation.steps}
    if chosen is ProofMethod.COMPOSED:
        composed = _ComposedProof(derivation)
        partial_checks = composed.run()
        max_error = 0.0
    else:
        from symgrad.proof_numeric import NumericProof

        numeric = NumericProof(derivation, seed)
        partial_checks = numeric.run()
        max_error = numeric.max_error
    for key, check in partial_checks.items():
        steps[key] = check
    checked = tuple(replace(s, check=steps[s.key]) for s in derivation.steps)
    summary = ProofSummary(
        method=chosen,
        parameters=spec.parameter_count,
        composed_limit=COMPOSED_LIMIT,
        partials_checked=sum(c.entries for k, c in partial_checks.items()),
        digits=DIGITS if chosen is ProofMethod.NUMERIC else 0,
        seed=seed,
        max_error=max_error,
    )
    return derivation.with_steps(checked, summary)


def _seed(sizes: tuple[int, ...]) -> int:
    """A seed fixed by the sizes, so the same command checks the same points every time."""
    value = 17
    for n in sizes:
        value = (value * 1_000_003 + n) % (2**31)
    return value


# Activation identities -------------------------------------------------------------------------

_RATIONAL_POINTS = [
    sp.Rational(p, q) for p, q in [(-7, 3), (-1, 2), (-1, 7), (1, 9), (2, 5), (3, 1), (11, 4)]
]


def _check_activations(net: Network) -> None:
    """``g'`` of every hidden activation equals ``d g/dx``; ``g'`` in terms of ``h`` as well."""
    seen: set[str] = set()
    for k in range(1, net.L):
        act = net.activation(k)
        if act.name in seen:
            continue
        seen.add(act.name)
        direct = sp.diff(act.function, X)
        candidates = [act.derivative]
        if act.derivative_in_output is not None:
            candidates.append(
                act.derivative_in_output.xreplace({sp.Symbol("h", real=True): act.function})
            )
        for candidate in candidates:
            if not _zero_at_points(direct - candidate):
                raise ProofError(f"the derivative of activation {act.name} does not check")


def _zero_at_points(expr: sp.Expr) -> bool:
    """Exactly zero: symbolically, or, for piecewise functions, at rational points off the kinks."""
    if expr.has(sp.Heaviside, sp.Piecewise, sp.Max, sp.Abs, sp.sign):
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


# Symbolic checks of the forms of each step ---------------------------------------------------


def _symbolic_check(net: Network, step: Step) -> Check:
    if step.stage is Stage.SETUP:
        return Check(CheckMethod.DEFINITION)
    if step.kind is Kind.OUTPUT_DELTA_VECTOR and net.n(net.L) > OUTPUT_SYMBOLIC_LIMIT:
        from symgrad.proof_numeric import check_output_numeric

        return check_output_numeric(net, step)
    if step.kind in {Kind.OUTPUT_DELTA_VECTOR, Kind.HIDDEN_GRAD_VECTOR, Kind.HIDDEN_DELTA_VECTOR}:
        return _check_vector(net, step)
    if step.kind in {Kind.WEIGHT_MATRIX, Kind.BIAS_VECTOR}:
        return _check_entry_matrices(net, step)
    if step.stage is Stage.OUTPUT:
        if net.n(net.L) > OUTPUT_SYMBOLIC_LIMIT:
            from symgrad.proof_numeric import check_output_numeric

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
    expr = sp.expand(expr)
    if expr == 0:
        return True
    if expr.has(sp.Heaviside, sp.Piecewise, sp.Max):
        return sp.simplify(expr) == 0
    return sp.simplify(sp.cancel(expr.rewrite(sp.exp))) == 0


def _check_output(net: Network, step: Step) -> Check:
    """Output-layer steps: every form, for each output unit, equals the direct derivative."""
    L, n = net.L, net.n(net.L)
    units = _sample_units(n, OUTPUT_EXACT_LIMIT, _seed(net.spec.sizes))
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


def _build_twin(net: Network, kind: Kind, layer: int) -> Step:
    """The elementwise step of ``kind`` for ``layer``: the twin a matrix form summarizes."""
    from symgrad.derivation import _build_steps

    return next(s for s in _build_steps(net) if s.kind is kind and s.layer == layer)


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
    rng = random.Random(_seed(net.spec.sizes))
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


def _sample_units(n: int, limit: int, seed: int) -> list[int]:
    if n <= limit:
        return list(range(1, n + 1))
    rng = random.Random(seed)
    middle = rng.sample(range(2, n), limit - 2)
    return sorted({1, n, *middle})


def _check_vector(net: Network, step: Step) -> Check:
    """A vector form equals the elementwise step it summarizes, entry by entry."""
    elementwise = {
        Kind.OUTPUT_DELTA_VECTOR: Kind.OUTPUT_DELTA,
        Kind.HIDDEN_GRAD_VECTOR: Kind.HIDDEN_GRAD,
        Kind.HIDDEN_DELTA_VECTOR: Kind.HIDDEN_DELTA,
    }[step.kind]
    k = step.layer
    n = net.n(k)
    units = _sample_units(n, OUTPUT_EXACT_LIMIT, _seed(net.spec.sizes) + k)
    explicit = _ExplicitMatrices(net)
    twin = _build_twin(net, elementwise, k)
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
    seed = _seed(net.spec.sizes) + 7 * step.layer
    row_units = _sample_units(rows, 6, seed)
    col_units = _sample_units(cols, 6, seed + 1)
    explicit = _ExplicitMatrices(net)
    elementwise_kind = Kind.WEIGHT if step.kind is Kind.WEIGHT_MATRIX else Kind.BIAS
    twin = _build_twin(net, elementwise_kind, step.layer)
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


def _named_function(name: str) -> type[sp.Function]:
    """An undefined function ``name(...)``; used for the partials of the abstract functions."""
    return sp.Function(name)


def _abstract_function(name: str, partials: list[type[sp.Function]]) -> type[sp.Function]:
    """An unknown function whose partial derivative in argument m is ``partials[m-1](args)``."""

    def fdiff(self: sp.Function, argindex: int = 1) -> sp.Expr:
        return partials[argindex - 1](*self.args)

    return type(name, (sp.Function,), {"nargs": len(partials), "fdiff": fdiff})


# Composed loss: exact, for small networks -------------------------------------------------------


class _ComposedProof:
    """Chain-rule partials against ``sympy.diff`` of the composed loss ``l(a_L(theta))``."""

    def __init__(self, derivation: Derivation) -> None:
        self.derivation = derivation
        self.net = derivation.network
        net = self.net
        n_out = net.n(net.L)
        # Abstract l and g whose derivatives are named functions (not Subs objects): SymPy then
        # compares the two sides of every check by structure, which is fast.
        self.ell_partials = [_named_function(f"ell_{i}") for i in range(1, n_out + 1)]
        self.ell = _abstract_function("ell", self.ell_partials)
        self.g_prime_abstract = {k: _named_function(f"gp{k}") for k in range(1, net.L)}
        self.g = {
            k: _abstract_function(f"g{k}", [self.g_prime_abstract[k]]) for k in range(1, net.L)
        }
        self.composed_pre: dict[tuple[int, int], sp.Expr] = {}
        self.composed_post: dict[tuple[int, int], sp.Expr] = {}
        for j in range(1, net.n(0) + 1):
            self.composed_post[(0, j)] = nt.post(0, j)
        for k in range(1, net.L + 1):
            for i in range(1, net.n(k) + 1):
                a = instantiate(net.pre_activation(k, i)).xreplace(self._post_map(k - 1))
                self.composed_pre[(k, i)] = a
                if k < net.L:
                    self.composed_post[(k, i)] = self.g[k](a)
        self.loss = self.ell(*[self.composed_pre[(net.L, i)] for i in range(1, net.n(net.L) + 1)])

    def _post_map(self, k: int) -> dict[sp.Expr, sp.Expr]:
        return {nt.post(k, j): self.composed_post[(k, j)] for j in range(1, self.net.n(k) + 1)}

    def step(self, kind: Kind, k: int) -> Step:
        return self.derivation.step(kind, k)

    @cache  # noqa: B019 - one proof object per derivation, freed with it
    def delta(self, k: int, i: int) -> sp.Expr:
        """``dL/da_{ki}`` by the chain rule of the steps, with ``g`` and ``l`` abstract."""
        net = self.net
        if k == net.L:
            values = [self.composed_pre[(k, m)] for m in range(1, net.n(k) + 1)]
            return self.ell_partials[i - 1](*values)
        structural = self.step(Kind.HIDDEN_DELTA, k).forms[1]  # dL/dh_{kj} g'(a_{kj})
        value = instantiate(structural, j=i)
        value = value.xreplace({nt.partial(nt.post(k, i)): self.hidden_grad(k, i)})
        return self._abstract(value, k)

    @cache  # noqa: B019
    def hidden_grad(self, k: int, j: int) -> sp.Expr:
        """``dL/dh_{kj}`` from step hidden-grad-k."""
        value = instantiate(self.step(Kind.HIDDEN_GRAD, k).final, j=j)
        return value.xreplace(
            {
                nt.partial(nt.pre(k + 1, i)): self.delta(k + 1, i)
                for i in range(1, self.net.n(k + 1) + 1)
            }
        )

    def _abstract(self, value: sp.Expr, k: int) -> sp.Expr:
        """Replace ``g'(a_{kj})`` by the derivative of the abstract ``g_k``, composed."""
        g_prime = self.g_prime_abstract[k]

        def slope(call: sp.Function) -> sp.Expr:
            return g_prime(call.args[0].xreplace(self._pre_map(k)))

        return value.replace(
            lambda e: isinstance(e, sp.Function) and e.func == self.net.g_prime(k), slope
        )

    def _pre_map(self, k: int) -> dict[sp.Expr, sp.Expr]:
        return {nt.pre(k, i): self.composed_pre[(k, i)] for i in range(1, self.net.n(k) + 1)}

    def partial_value(self, kind: Kind, k: int, i: int, j: int = 0) -> sp.Expr:
        step = self.step(kind, k)
        value = (
            instantiate(step.final, i=i, j=j)
            if kind is Kind.WEIGHT
            else instantiate(step.final, i=i)
        )
        value = value.xreplace({nt.partial(nt.pre(k, i)): self.delta(k, i)})
        return value.xreplace(self._post_map(k - 1))

    def run(self) -> dict[str, Check]:
        net = self.net
        checks: dict[str, Check] = {}
        for k in range(1, net.L + 1):
            rows, cols = net.n(k), net.n(k - 1)
            for i in range(1, rows + 1):
                for j in range(1, cols + 1):
                    self._compare(
                        self.partial_value(Kind.WEIGHT, k, i, j), nt.weight(k, i, j), f"W_{k}{i}{j}"
                    )
                self._compare(self.partial_value(Kind.BIAS, k, i), nt.bias(k, i), f"b_{k}{i}")
            checks[f"weight-{k}"] = Check(
                CheckMethod.COMPOSED, entries=rows * cols, total=rows * cols
            )
            checks[f"bias-{k}"] = Check(CheckMethod.COMPOSED, entries=rows, total=rows)
        for k in range(1, net.L):
            # dL/dh_{kj} and dL/da_{kj}: differentiate the loss composed from layer k on.
            for j in range(1, net.n(k) + 1):
                self._compare_unit(k, j)
            n = net.n(k)
            checks[f"hidden-grad-{k}"] = Check(CheckMethod.COMPOSED, entries=n, total=n)
            checks[f"hidden-delta-{k}"] = Check(CheckMethod.COMPOSED, entries=n, total=n)
        return checks

    def _compare(self, chain: sp.Expr, parameter: sp.Expr, label: str) -> None:
        direct = sp.diff(self.loss, parameter)
        difference = sp.expand(direct - chain)
        if difference != 0 and sp.cancel(difference) != 0:
            raise ProofError(f"dL/d{label}: the chain rule differs from the composed derivative")

    def _compare_unit(self, k: int, j: int) -> None:
        """``dL/dh_{kj}`` and ``dL/da_{kj}`` against the loss composed from a free ``a_{kj}``."""
        free = sp.Symbol(f"free_{k}_{j}")
        net = self.net
        pre = dict(self.composed_pre)
        post = dict(self.composed_post)
        pre[(k, j)] = free
        post[(k, j)] = self.g[k](free)
        for m in range(k + 1, net.L + 1):
            for i in range(1, net.n(m) + 1):
                post_map = {nt.post(m - 1, q): post[(m - 1, q)] for q in range(1, net.n(m - 1) + 1)}
                pre[(m, i)] = instantiate(net.pre_activation(m, i)).xreplace(post_map)
                if m < net.L:
                    post[(m, i)] = self.g[m](pre[(m, i)])
        loss = self.ell(*[pre[(net.L, i)] for i in range(1, net.n(net.L) + 1)])
        direct = sp.diff(loss, free).xreplace({free: self.composed_pre[(k, j)]})
        if sp.expand(direct - self.delta(k, j)) != 0 and sp.cancel(direct - self.delta(k, j)) != 0:
            raise ProofError(f"dL/da_{k}{j}: the chain rule differs from the composed derivative")
        h_free = sp.Symbol(f"hfree_{k}_{j}")
        direct_h = sp.diff(loss.xreplace({self.g[k](free): h_free}), h_free)
        direct_h = direct_h.xreplace(
            {h_free: self.composed_post[(k, j)], free: self.composed_pre[(k, j)]}
        )
        chain_h = self.hidden_grad(k, j)
        if sp.expand(direct_h - chain_h) != 0 and sp.cancel(direct_h - chain_h) != 0:
            raise ProofError(f"dL/dh_{k}{j}: the chain rule differs from the composed derivative")
