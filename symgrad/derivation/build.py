"""Building the derivation: the steps of the three stages of the notes, for every layer.

:func:`build_derivation` turns a :class:`~symgrad.spec.NetworkSpec` into an unproved
:class:`~symgrad.derivation.steps.Derivation`; :func:`symgrad.pipeline.derive` then proves it.
The layers are visited in the order of :mod:`symgrad.derivation.schedule`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from functools import partial

import sympy as sp

from symgrad import notation as nt
from symgrad.derivation.schedule import batch_pass, hidden_layers_backward, layers_backward
from symgrad.derivation.steps import Derivation, EntryMatrix, Kind, Rule, Stage, Step, StepId
from symgrad.model import I, J, Network, product
from symgrad.spec import NetworkSpec


def build_derivation(spec: NetworkSpec) -> Derivation:
    """Every step of the derivation for ``spec``, numbered in order, not yet proved."""
    network = Network(spec)
    steps = tuple(replace(s, number=n) for n, s in enumerate(_build_steps(network), start=1))
    return Derivation(spec, network, steps)


def build_step(net: Network, id: StepId) -> Step:  # noqa: A002 - the step's id
    """The single step ``id`` of ``net``'s derivation (unnumbered), without building the rest."""
    if id.kind.stage is Stage.BATCH:
        return _batch_step(net, id)
    if id.kind.stage is Stage.PARAMETERS:
        steps: Iterator[Step] = _parameter_steps(net, id.layer)
    elif id.kind.stage is Stage.HIDDEN:
        steps = _hidden_steps(net, id.layer)
    else:
        steps = iter([*_setup_steps(net), *_output_steps(net)])
    return next(s for s in steps if s.id == id)


def _step(
    kind: Kind,
    layer: int,
    lhs: sp.Basic | EntryMatrix,
    forms: tuple,
    rules: tuple[Rule, ...],
    indices: tuple[tuple[sp.Symbol, int], ...] = (),
) -> Step:
    return Step(StepId(kind, layer), lhs, forms, rules, indices)


def _build_steps(net: Network) -> Iterator[Step]:
    yield from _setup_steps(net)
    yield from _output_steps(net)
    for k in hidden_layers_backward(net.L):
        yield from _hidden_steps(net, k)
    for k in layers_backward(net.L):
        yield from _parameter_steps(net, k)
    for id in batch_pass(net.L):
        yield _batch_step(net, id)


def _setup_steps(net: Network) -> Iterator[Step]:
    L = net.L
    for k in range(1, L + 1):
        yield _step(
            Kind.FORWARD,
            k,
            nt.pre(k, I),
            (net.pre_activation(k, I),),
            (Rule.DEFINITION,),
            ((I, net.n(k)),),
        )
        if k < L:
            g = net.g(k)
            yield _step(
                Kind.ACTIVATION,
                k,
                nt.post(k, J),
                (g(nt.pre(k, J)), net.activation_value(k, J)),
                (Rule.DEFINITION, Rule.DEFINITION),
                ((J, net.n(k)),),
            )
    yield _step(
        Kind.PREDICTION,
        L,
        nt.prediction(I),
        (net.prediction(I),),
        (Rule.DEFINITION,),
        ((I, net.n(L)),),
    )
    yield _step(Kind.LOSS, L, nt.LOSS, (net.loss(),), (Rule.DEFINITION,))


def _output_steps(net: Network) -> Iterator[Step]:
    L, n = net.L, net.n(net.L)
    yield _step(
        Kind.LOSS_SLOPE,
        L,
        nt.partial(nt.prediction(I)),
        (net.loss_slope(I),),
        (Rule.LOSS_DERIVATIVE,),
        ((I, n),),
    )
    lhs = nt.partial(nt.pre(L, I))
    if net.diagonal_output:
        # yhat_i depends on a_{Li} alone: the sum over j has one term.
        chain = product(nt.partial(nt.prediction(I)), nt.partial(nt.prediction(I), nt.pre(L, I)))
        jacobian = net.output_jacobian(I, I).xreplace({sp.KroneckerDelta(I, I): sp.Integer(1)})
        jacobian = sp.Mul(*[f for f in jacobian.args if f != 1], evaluate=False)
        applied = product(net.loss_slope(I), jacobian) if jacobian != 1 else net.loss_slope(I)
    else:
        chain = sp.Sum(
            product(nt.partial(nt.prediction(J)), nt.partial(nt.prediction(J), nt.pre(L, I))),
            (J, 1, n),
        )
        applied = sp.Sum(product(net.loss_slope(J), net.output_jacobian(J, I)), (J, 1, n))
    last_rule = Rule.TARGETS_SUM_TO_ONE if net.assumes_targets_sum_to_one else Rule.ALGEBRA
    # Every step of the algebra from the chain rule to the simplest form, as the catalogue
    # writes it for the pair (softmax + cross-entropy: cancel yhat_j, then sum the delta).
    algebra = net.spec.pair.delta_algebra(nt.prediction, nt.target, I, J, n)
    forms: tuple[sp.Basic, ...] = (chain, applied, *(f for f, _ in algebra), net.output_delta(I))
    rules: tuple[Rule, ...] = (
        Rule.CHAIN_RULE,
        Rule.OUTPUT_DERIVATIVE,
        *(Rule[why] for _, why in algebra),
        last_rule,
    )
    if _evaluated(forms[-2]) == _evaluated(forms[-1]):
        # The last form would only reorder the factors of the one before: no step of its own.
        forms, rules = (*forms[:-2], forms[-1]), rules[:-1]
    yield _step(Kind.OUTPUT_DELTA, L, lhs, forms, rules, ((I, n),))
    yield _step(
        Kind.OUTPUT_DELTA_VECTOR,
        L,
        net.grad("a", L),
        (net.output_delta_vector(),),
        (Rule.MATRIX_FORM,),
    )


def _hidden_steps(net: Network, k: int) -> Iterator[Step]:
    n_next = net.n(k + 1)
    yield _step(
        Kind.HIDDEN_GRAD,
        k,
        nt.partial(nt.post(k, J)),
        (
            sp.Sum(
                product(nt.partial(nt.pre(k + 1, I)), nt.partial(nt.pre(k + 1, I), nt.post(k, J))),
                (I, 1, n_next),
            ),
            sp.Sum(product(nt.partial(nt.pre(k + 1, I)), nt.weight(k + 1, I, J)), (I, 1, n_next)),
        ),
        (Rule.CHAIN_RULE, Rule.LOCAL_DERIVATIVE),
        ((J, net.n(k)),),
    )
    yield _step(
        Kind.HIDDEN_GRAD_VECTOR,
        k,
        net.grad("h", k),
        (net.weight_matrix(k + 1).T * net.grad("a", k + 1),),
        (Rule.MATRIX_FORM,),
    )
    g_prime = net.g_prime(k)
    slope = net.activation_slope(k, J)
    upstream = nt.partial(nt.post(k, J))
    forms = [
        product(upstream, nt.partial(nt.post(k, J), nt.pre(k, J))),
        product(upstream, g_prime(nt.pre(k, J))),
        upstream if slope == 1 else product(upstream, slope),  # identity: no factor 1
    ]
    rules = [Rule.CHAIN_RULE, Rule.DEFINITION, Rule.ACTIVATION_DERIVATIVE]
    yield _step(
        Kind.HIDDEN_DELTA,
        k,
        nt.partial(nt.pre(k, J)),
        tuple(forms),
        tuple(rules),
        ((J, net.n(k)),),
    )
    gprime_vector = nt.matrix("gprime", k, net.n(k))
    vector_forms: list[sp.Basic] = [sp.HadamardProduct(net.grad("h", k), gprime_vector)]
    written = net.slope_vector(k)
    vector_forms.append(
        net.grad("h", k)
        if written == sp.OneMatrix(net.n(k), 1)
        else sp.HadamardProduct(net.grad("h", k), *_factors(written))
    )
    yield _step(
        Kind.HIDDEN_DELTA_VECTOR,
        k,
        net.grad("a", k),
        tuple(vector_forms),
        (Rule.MATRIX_FORM, Rule.ACTIVATION_DERIVATIVE)[: len(vector_forms)],
    )


def _evaluated(expr: sp.Basic) -> sp.Basic:
    """``expr`` rebuilt with SymPy's evaluation: equal for two forms that differ only in order."""
    if not expr.args or isinstance(expr, sp.Indexed):
        return expr
    return expr.func(*[_evaluated(arg) for arg in expr.args])


def _factors(expr: sp.MatrixExpr) -> tuple[sp.MatrixExpr, ...]:
    return expr.args if isinstance(expr, sp.HadamardProduct) else (expr,)


def _weight_partial(k: int, r: int, c: int) -> sp.Expr:
    """Entry (r, c) of the matrix of partials: ``dL/dW_{krc}``."""
    return nt.partial(nt.weight(k, r, c))


def _weight_applied(k: int, r: int, c: int) -> sp.Expr:
    """Entry (r, c) with the formula applied: ``dL/da_{kr} h_{k-1,c}``."""
    return product(nt.partial(nt.pre(k, r)), nt.post(k - 1, c))


def _bias_partial(k: int, r: int, c: int) -> sp.Expr:
    return nt.partial(nt.bias(k, r))


def _bias_applied(k: int, r: int, c: int) -> sp.Expr:
    return nt.partial(nt.pre(k, r))


def _parameter_steps(net: Network, k: int) -> Iterator[Step]:
    rows, cols = net.n(k), net.n(k - 1)
    weight, delta = nt.weight(k, I, J), nt.partial(nt.pre(k, I))
    yield _step(
        Kind.WEIGHT,
        k,
        nt.partial(weight),
        (product(delta, nt.partial(nt.pre(k, I), weight)), product(delta, nt.post(k - 1, J))),
        (Rule.CHAIN_RULE, Rule.LOCAL_DERIVATIVE),
        ((I, rows), (J, cols)),
    )
    yield _step(
        Kind.WEIGHT_MATRIX,
        k,
        net.grad("W", k),
        (
            EntryMatrix(rows, cols, partial(_weight_partial, k)),
            EntryMatrix(rows, cols, partial(_weight_applied, k)),
            net.grad("a", k) * net.vector("h", k - 1).T,
        ),
        (Rule.ENTRIES, Rule.CHAIN_RULE, Rule.OUTER_PRODUCT),
    )
    bias = nt.bias(k, I)
    yield _step(
        Kind.BIAS,
        k,
        nt.partial(bias),
        (product(delta, nt.partial(nt.pre(k, I), bias)), delta),
        (Rule.CHAIN_RULE, Rule.LOCAL_DERIVATIVE),
        ((I, rows),),
    )
    yield _step(
        Kind.BIAS_VECTOR,
        k,
        net.grad("b", k),
        (
            EntryMatrix(rows, 1, partial(_bias_partial, k)),
            EntryMatrix(rows, 1, partial(_bias_applied, k)),
            net.grad("a", k),
        ),
        (Rule.ENTRIES, Rule.CHAIN_RULE, Rule.MATRIX_FORM),
    )


# The mini-batch ------------------------------------------------------------------------------


def _batch_step(net: Network, id: StepId) -> Step:  # noqa: A002 - the step's id
    """One step of the mini-batch form, rows as samples (``A_k = H_{k-1} W_k^T + 1 b_k^T``).

    Each is the per-sample step ``id.per_sample()`` for every sample of a batch of ``B`` at once:
    row ``s`` of ``A_k`` is ``a_k`` of sample ``s``, transposed. The batch's loss is the mean of
    the per-sample losses, so ``Delta_k = grad_{A_k} Lbar`` has rows ``(grad_{a_k} L)^T / B`` and
    the parameter gradients sum over the rows.
    """
    k, L = id.layer, net.L
    batch = net.batch
    ones = sp.OneMatrix(nt.BATCH, 1)
    if id.kind is Kind.BATCH_LOSS:
        mean = sp.Mul(
            1 / nt.BATCH,
            sp.Sum(nt.sample_loss(nt.SAMPLE), (nt.SAMPLE, 1, nt.BATCH)),
            evaluate=False,
        )
        return _step(id.kind, k, nt.MEAN_LOSS, (mean,), (Rule.DEFINITION,))
    if id.kind is Kind.BATCH_FORWARD:
        weights = sp.MatMul(batch("H", k - 1), sp.Transpose(net.weight_matrix(k)))
        biases = sp.MatMul(ones, sp.Transpose(net.vector("b", k)))
        return _step(id.kind, k, batch("A", k), (sp.MatAdd(weights, biases),), (Rule.ROWS,))
    if id.kind is Kind.BATCH_ACTIVATION:
        forms = (net.batch_activation(k), net.batch_activation(k, written=True))
        return _step(id.kind, k, batch("H", k), forms, (Rule.ROWS, Rule.DEFINITION))
    if id.kind is Kind.BATCH_PREDICTION:
        return _step(id.kind, k, batch("Yhat", None), (net.batch_prediction(),), (Rule.ROWS,))
    if id.kind is Kind.BATCH_OUTPUT_DELTA:
        return _step(id.kind, k, batch("Delta", L), (net.batch_output_delta(),), (Rule.ROWS,))
    if id.kind is Kind.BATCH_WEIGHT:
        gradient = nt.mean_gradient("W", k, net.n(k), net.n(k - 1))
        form = sp.MatMul(sp.Transpose(batch("Delta", k)), batch("H", k - 1))
        return _step(id.kind, k, gradient, (form,), (Rule.BATCH_MEAN,))
    if id.kind is Kind.BATCH_BIAS:
        gradient = nt.mean_gradient("b", k, net.n(k))
        form = sp.MatMul(sp.Transpose(batch("Delta", k)), ones)
        return _step(id.kind, k, gradient, (form,), (Rule.BATCH_MEAN,))
    if id.kind is Kind.BATCH_HIDDEN_GRAD:
        form = sp.MatMul(batch("Delta", k + 1), net.weight_matrix(k + 1))
        return _step(id.kind, k, batch("G", k), (form,), (Rule.ROWS,))
    if id.kind is Kind.BATCH_HIDDEN_DELTA:
        upstream = batch("G", k)
        slope = net.slope_vector(k, batch=True)
        written = (
            upstream
            if slope == sp.OneMatrix(nt.BATCH, net.n(k))
            else sp.HadamardProduct(upstream, *_factors(slope))
        )
        forms = (sp.HadamardProduct(upstream, net.batch_slope(k)), written)
        rules = (Rule.ROWS, Rule.ACTIVATION_DERIVATIVE)
        return _step(id.kind, k, batch("Delta", k), forms, rules)
    raise ValueError(f"{id} is not a step of the mini-batch")
