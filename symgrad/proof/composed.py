"""The composed proof: every partial of a small network against ``sympy.diff`` of the whole loss.

Part of the proof (derivation -> **proof** -> program). For networks with at most
:data:`~symgrad.proof.common.COMPOSED_LIMIT` parameters (``--proof composed``: up to
:data:`~symgrad.proof.common.COMPOSED_HARD_LIMIT`), every partial ``dL/dW_{kij}``, ``dL/db_{ki}``,
``dL/da_{ki}`` and ``dL/dh_{kj}`` built by the chain rule from the steps equals the direct SymPy
derivative of the fully composed per-sample loss ``l(a_L(theta))``; the difference is exactly
zero. The loss is composed by walking the network's ops in forward order, each giving its
definition with the activation ``g`` left abstract, and the output-and-loss ``l`` is abstract too;
their concrete derivatives are proved by :mod:`symgrad.proof.symbolic`, which together prove the
concrete partials.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import sympy as sp

from symgrad import notation as nt
from symgrad.derivation import Check, CheckMethod, Derivation, Kind, StepId
from symgrad.errors import ProofError
from symgrad.model import instantiate
from symgrad.ops.output_loss import OutputAndLoss
from symgrad.steps import Step


def _named_function(name: str) -> type[sp.Function]:
    """An undefined function ``name(...)``; used for the partials of the abstract functions."""
    return sp.Function(name)


def _abstract_function(name: str, partials: list[type[sp.Function]]) -> type[sp.Function]:
    """An unknown function whose partial derivative in argument m is ``partials[m-1](args)``."""

    def fdiff(self: sp.Function, argindex: int = 1) -> sp.Expr:
        return partials[argindex - 1](*self.args)

    return type(name, (sp.Function,), {"nargs": len(partials), "fdiff": fdiff})


class ComposedProof:
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
        self.g: dict[int, Any] = {
            k: _abstract_function(f"g{k}", [self.g_prime_abstract[k]]) for k in range(1, net.L)
        }
        self.values = self.compose({})
        self.loss = self.loss_of(self.values)

    def compose(self, overrides: dict[sp.Expr, sp.Expr]) -> dict[sp.Expr, sp.Expr]:
        """Every entry of the forward pass (``a_{ki}``, ``h_{kj}``) as an expression of the
        parameters and ``x``, op by op in forward order; an entry of ``overrides`` is taken as
        given (a free symbol) instead of its definition."""
        net = self.net
        values: dict[sp.Expr, sp.Expr] = {
            nt.post(0, j): nt.post(0, j) for j in range(1, net.n(0) + 1)
        }
        for op in net.forward_order():
            if isinstance(op, OutputAndLoss) or next(op.forward(net), None) is None:
                continue  # the loss is composed apart; an op of the batch alone has no entries
            for q in op.outputs:
                for i in range(1, net.n(q.layer or 0) + 1):
                    entry = nt.entry(q, i)
                    if entry in overrides:
                        values[entry] = overrides[entry]
                        continue
                    definition = op.composed(net, entry, self.g)
                    values[entry] = definition.xreplace(values)
        return values

    def loss_of(self, values: dict[sp.Expr, sp.Expr]) -> sp.Expr:
        net = self.net
        return self.ell(*[values[nt.pre(net.L, i)] for i in range(1, net.n(net.L) + 1)])

    def step(self, kind: Kind, k: int) -> Step:
        return self.derivation.step(StepId(kind, k))

    @cache  # noqa: B019 - one proof object per derivation, freed with it
    def delta(self, k: int, i: int) -> sp.Expr:
        """``dL/da_{ki}`` by the chain rule of the steps, with ``g`` and ``l`` abstract."""
        net = self.net
        if k == net.L:
            values = [self.values[nt.pre(k, m)] for m in range(1, net.n(k) + 1)]
            return self.ell_partials[i - 1](*values)
        structural = self.step(Kind.HIDDEN_DELTA, k).forms[1]  # dL/dh_{kj} g'(a_{kj})
        return self._abstract(self._partials(instantiate(structural, j=i)), k)

    @cache  # noqa: B019
    def hidden_grad(self, k: int, j: int) -> sp.Expr:
        """``dL/dh_{kj}`` from step hidden-grad-k (every op that reads ``h_k`` has its share)."""
        return self._partials(instantiate(self.step(Kind.HIDDEN_GRAD, k).final, j=j))

    def _partials(self, value: sp.Expr) -> sp.Expr:
        """``value`` with every partial ``dL/da_{ki}``, ``dL/dh_{kj}`` in it replaced by its own
        chain rule."""
        found: dict[sp.Basic, sp.Expr] = {}
        for partial in value.atoms(sp.Derivative):
            if partial.expr != nt.LOSS:
                continue
            of = partial.variables[0]
            q, indices = nt.entry_quantity(of)
            unit = int(indices[0])
            if q.base == "a":
                found[partial] = self.delta(q.layer or 0, unit)
            elif q.base == "h":
                found[partial] = self.hidden_grad(q.layer or 0, unit)
        return value.xreplace(found)

    def _abstract(self, value: sp.Expr, k: int) -> sp.Expr:
        """Replace ``g'(a_{kj})`` by the derivative of the abstract ``g_k``, composed."""
        g_prime = self.g_prime_abstract[k]

        def slope(call: sp.Function) -> sp.Expr:
            return g_prime(call.args[0].xreplace(self.values))

        return value.replace(
            lambda e: isinstance(e, sp.Function) and e.func == self.net.g_prime(k), slope
        )

    def partial_value(self, kind: Kind, k: int, i: int, j: int = 0) -> sp.Expr:
        step = self.step(kind, k)
        value = (
            instantiate(step.final, i=i, j=j)
            if kind is Kind.WEIGHT
            else instantiate(step.final, i=i)
        )
        value = value.xreplace({nt.partial(nt.pre(k, i)): self.delta(k, i)})
        return value.xreplace(self.values)

    def run(self) -> dict[StepId, Check]:
        net = self.net
        checks: dict[StepId, Check] = {}
        for k in range(1, net.L + 1):
            rows, cols = net.n(k), net.n(k - 1)
            for i in range(1, rows + 1):
                for j in range(1, cols + 1):
                    label = nt.quantity("W", k).partial(i, j)
                    self._compare(
                        self.partial_value(Kind.WEIGHT, k, i, j), nt.weight(k, i, j), label
                    )
                label = nt.quantity("b", k).partial(i)
                self._compare(self.partial_value(Kind.BIAS, k, i), nt.bias(k, i), label)
            checks[StepId(Kind.WEIGHT, k)] = Check(
                CheckMethod.COMPOSED, entries=rows * cols, total=rows * cols
            )
            checks[StepId(Kind.BIAS, k)] = Check(CheckMethod.COMPOSED, entries=rows, total=rows)
        for k in range(1, net.L):
            # dL/dh_{kj} and dL/da_{kj}: differentiate the loss composed from a free one.
            for j in range(1, net.n(k) + 1):
                self._compare_unit(k, j)
            n = net.n(k)
            checks[StepId(Kind.HIDDEN_GRAD, k)] = Check(CheckMethod.COMPOSED, entries=n, total=n)
            checks[StepId(Kind.HIDDEN_DELTA, k)] = Check(CheckMethod.COMPOSED, entries=n, total=n)
        return checks

    def _compare(self, chain: sp.Expr, parameter: sp.Expr, label: str) -> None:
        direct = sp.diff(self.loss, parameter)
        difference = sp.expand(direct - chain)
        if difference != 0 and sp.cancel(difference) != 0:
            raise ProofError(f"{label}: the chain rule differs from the composed derivative")

    def _compare_unit(self, k: int, j: int) -> None:
        """``dL/da_{kj}`` and ``dL/dh_{kj}`` against the loss composed from a free ``a_{kj}``,
        then from a free ``h_{kj}``."""
        for entry, q, chain in (
            (nt.pre(k, j), nt.quantity("a", k), self.delta(k, j)),
            (nt.post(k, j), nt.quantity("h", k), self.hidden_grad(k, j)),
        ):
            free = sp.Dummy(f"free_{k}_{j}")
            loss = self.loss_of(self.compose({entry: free}))
            direct = sp.diff(loss, free).xreplace({free: self.values[entry]})
            if sp.expand(direct - chain) != 0 and sp.cancel(direct - chain) != 0:
                raise ProofError(
                    f"{q.partial(j)}: the chain rule differs from the composed derivative"
                )
