"""The composed proof: every partial of a small network against ``sympy.diff`` of the whole loss.

Part of the proof (derivation -> **proof** -> program). For networks with at most
:data:`~symgrad.proof.common.COMPOSED_LIMIT` parameters (``--proof composed``: up to
:data:`~symgrad.proof.common.COMPOSED_HARD_LIMIT`), every partial ``dL/dW_{kij}``, ``dL/db_{ki}``,
``dL/da_{ki}`` and ``dL/dh_{kj}`` built by the chain rule from the steps equals the direct SymPy
derivative of the fully composed per-sample loss ``l(a_L(theta))``; the difference is exactly
zero. The activation ``g`` and the output-and-loss ``l`` stay abstract here; their concrete
derivatives are proved by :mod:`symgrad.proof.symbolic`, which together prove the concrete partials.
"""

from __future__ import annotations

from functools import cache

import sympy as sp

from symgrad import notation as nt
from symgrad.derivation import Check, CheckMethod, Derivation, Kind, Step, StepId
from symgrad.errors import ProofError
from symgrad.model import instantiate


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
        return self.derivation.step(StepId(kind, k))

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

    def run(self) -> dict[StepId, Check]:
        net = self.net
        checks: dict[StepId, Check] = {}
        for k in range(1, net.L + 1):
            rows, cols = net.n(k), net.n(k - 1)
            for i in range(1, rows + 1):
                for j in range(1, cols + 1):
                    self._compare(
                        self.partial_value(Kind.WEIGHT, k, i, j), nt.weight(k, i, j), f"W_{k}{i}{j}"
                    )
                self._compare(self.partial_value(Kind.BIAS, k, i), nt.bias(k, i), f"b_{k}{i}")
            checks[StepId(Kind.WEIGHT, k)] = Check(
                CheckMethod.COMPOSED, entries=rows * cols, total=rows * cols
            )
            checks[StepId(Kind.BIAS, k)] = Check(CheckMethod.COMPOSED, entries=rows, total=rows)
        for k in range(1, net.L):
            # dL/dh_{kj} and dL/da_{kj}: differentiate the loss composed from layer k on.
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
