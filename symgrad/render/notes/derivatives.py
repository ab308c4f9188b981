"""The appendix that derives the local derivatives: ``g'`` of each activation, the output's.

Part of the notes renderer (:mod:`symgrad.render.notes`). The steps of the notes use
``sigma' = sigma (1 - sigma)``, ``tanh' = 1 - tanh^2`` and the softmax's Jacobian; this section
derives each one the network uses, a step a row with its rule beside it. The steps are SymPy
expressions, each checked against the one before it when it is built
(:mod:`symgrad.catalogue.derivatives`); here they are only printed. The output and hidden
sections refer here (:func:`reference`); a custom activation defined only on part of the real
line gets a remark on its domain (:func:`domain_remark`), the set ``symgrad codegen`` warns of.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import sympy as sp

from symgrad import notation as nt
from symgrad.catalogue import ACTIVATIONS, OUTPUTS_BY_NAME, Activation
from symgrad.catalogue import derivatives as local
from symgrad.domain import DESCRIBED_PIECES, restriction
from symgrad.expressions import X
from symgrad.render.document import (
    Block,
    Code,
    Display,
    Heading,
    Inline,
    Prose,
    Ref,
    Role,
    Row,
    Section,
    Text,
)
from symgrad.render.formula import EMPTY, Expr, Math, Negative, Over, Paren, Token, equals
from symgrad.render.notes.builder import Builder
from symgrad.render.notes.symbols import applied_to, letter

TITLE = "Derivatives of the activation and output functions"
ID = "derivatives"


@functools.lru_cache(maxsize=32)
def _activation(activation: Activation) -> local.LocalDerivation:
    return local.activation_derivation(activation)


@functools.lru_cache(maxsize=8)
def _softmax(layer: int, units: int) -> local.LocalDerivation:
    return local.softmax_derivation(
        lambda m: nt.pre(layer, m),
        nt.prediction,
        OUTPUTS_BY_NAME["softmax"].jacobian,
        units,
        nt.I,
        nt.J,
    )


def distinct_activations(b: Builder) -> list[Activation]:
    """The hidden activations, each once, in layer order."""
    found: dict[str, Activation] = {}
    for k in range(1, b.L):
        found.setdefault(b.spec.activation(k).name, b.spec.activation(k))
    return list(found.values())


def _output(b: Builder) -> Activation | None:
    """The output function as an activation when it is elementwise (sigmoid, identity)."""
    name = b.spec.pair.output.name
    return ACTIVATIONS.get(name)


def reference(b: Builder) -> Ref:
    """Where the derivatives are derived, for prose (``Appendix~\\ref{...}`` in LaTeX)."""
    return b.appendix_ref(ID)


def activation_phrase(b: Builder, k: int) -> Prose:
    """``the derivative of the sigmoid is derived in Appendix A``, for the hidden section."""
    act = b.spec.activation(k)
    name = _activation(act).title
    if not act.builtin:
        named = f"; it is the {act.derivative_name}" if act.derivative_name else ""
        return (
            Inline.of("the derivative of ", letter("g"), " is derived in ") + reference(b) + named
        )
    return f"the derivative of {name} is derived in " + reference(b)


def derivatives_section(b: Builder) -> Section:
    blocks: list[Block] = [
        Text(
            "The steps above use the derivatives of the activation and output functions of this "
            "network. Each is derived here from the function's definition, a rule of "
            "differentiation in every step.",
            role=Role.DEFINITION,
        )
    ]
    done: set[str] = set()
    output = _output(b)
    for act in distinct_activations(b):
        blocks += _activation_blocks(b, act, output=output is not None and output.name == act.name)
        done.add(act.name)
    if b.spec.pair.output.name == "softmax":
        blocks += _softmax_blocks(b)
    elif output is not None and output.name not in done:
        blocks += _activation_blocks(b, output, output=True, hidden=False)
    return Section(TITLE, b.fmt.section_label(ID), tuple(blocks), appendix=True, id=ID)


def _rows(b: Builder, chain: local.Chain, lhs: bool = True) -> list[Row]:
    rows = []
    for n, step in enumerate(chain.steps):
        left = Math.of(chain.lhs) if n == 0 and lhs else EMPTY
        rows.append(Row(left, equals(step.expr), _reason(step)))
    return rows


def _reason(step: local.Step) -> Prose:
    """Why a step holds, its ``{0}``, ``{1}``... the formulas of its terms."""
    if not step.terms:
        return step.reason
    pieces = re.split(r"\{(\d+)\}", step.reason)
    parts: list[str | Math] = [
        _term(step.terms[int(piece)], step.slashed) if n % 2 else piece
        for n, piece in enumerate(pieces)
    ]
    return Inline.of(*parts)


def _term(term: Any, slashed: bool) -> Math:
    """A formula of a reason: a named function by its name (``\\tanh``), an expression as a
    display sets it or (``slashed``) as a line of text does (:func:`in_text`)."""
    if isinstance(term, sp.FunctionClass):
        return Math.of(Expr(term))
    return in_text(term) if slashed else Math.of(term)


def in_text(expr: sp.Basic) -> Math:
    """``expr`` as a line of text writes it: a fraction with a slash, close between single
    factors (``u'/u``) and spaced before a bracketed sum (``1 / (1 + e^{-x})``); a derivative
    in ``x`` with a prime (``(1/u)'``)."""
    if isinstance(expr, sp.Equality):
        return Math.of(in_text(expr.lhs), Token.EQUALS, in_text(expr.rhs))
    if isinstance(expr, sp.Derivative):
        inner = expr.expr
        if isinstance(inner, sp.Symbol):
            return Math.of(inner, Token.PRIME)
        return Math.of(Paren(in_text(inner)), Token.PRIME)
    if isinstance(expr, sp.Mul | sp.Pow) and expr.could_extract_minus_sign():
        return Math.of(Negative(in_text(-expr)))
    if isinstance(expr, sp.Mul | sp.Pow):
        top, bottom = sp.fraction(expr)
        if bottom != 1:
            if isinstance(bottom, sp.Add):
                return Math.of(in_text(top), Token.SLASH, Paren(Math.of(bottom)))
            return Math.of(Over(in_text(top), in_text(bottom)))
    return Math.of(expr)


def _activation_blocks(
    b: Builder, act: Activation, output: bool = False, hidden: bool = True
) -> list[Block]:
    derivation = _activation(act)
    left, right = derivation.definition
    heading: Prose = derivation.title[0].upper() + derivation.title[1:]
    if not act.builtin:
        heading = "The custom activation " + Code(act.name)
    where = [
        w for w, used in (("a hidden activation", hidden), ("the output function", output)) if used
    ]
    blocks: list[Block] = [
        Heading(heading),
        Text(
            heading + f", {' and '.join(where)} of this network: its definition and derivative,",
            role=Role.DEFINITION,
        ),
    ]
    definition = Row(Math.of(left), equals(right), "definition")
    for chain in derivation.chains:
        blocks.append(Display(tuple(b.placed([definition, *_rows(b, chain)]))))
    blocks += _afterwards(b, act, derivation)
    return blocks


def _afterwards(b: Builder, act: Activation, derivation: local.LocalDerivation) -> list[Block]:
    """What the result means where it is used: in terms of the activation, or its name."""
    blocks: list[Block] = []
    if act.derivative_in_output is not None and act.name in ("sigmoid", "tanh"):
        value = act.derivative_in_output
        named = derivation.definition[0].xreplace({X: sp.Symbol("a")})
        blocks.append(
            Text(
                Inline.of(
                    "With ",
                    Math.of(sp.Symbol("h"), Token.EQUALS, named),
                    " kept from the forward pass, the derivative at ",
                    Math.of(sp.Symbol("a")),
                    " is ",
                    Math.of(value),
                    ": no exponential has to be computed again.",
                ),
                role=Role.REASON,
            )
        )
    if derivation.name:
        blocks.append(
            Text(
                f"So the derivative of this activation is the {derivation.name}, "
                + Inline.of(_named(derivation.name))
                + ".",
                role=Role.REASON,
            )
        )
    remark = domain_remark(b, act)
    if remark is not None:
        blocks.append(remark)
    return blocks


def _named(name: str) -> Math:
    """``\\sigma(x) = 1 / (1 + e^{-x})``: a named function and its formula."""
    function, formula = local.NAMED[name]
    return in_text(sp.Eq(function(X), formula, evaluate=False))


def _case(chain: local.Chain) -> Math:
    """The case of a chain, ``i = j`` or ``i \\ne j``."""
    condition = chain.condition
    assert condition is not None, "a chain of one case has no condition"
    relation = Token.EQUALS if isinstance(condition, sp.Equality) else Token.NE
    return Math.of(condition.lhs, relation, condition.rhs)


def _softmax_blocks(b: Builder) -> list[Block]:
    L = b.L
    derivation = _softmax(L, b.spec.sizes[L])
    top, bottom, general, same, other = derivation.chains
    left, right = derivation.definition
    short, total = derivation.abbreviations[0]
    return [
        Heading("The softmax"),
        Text(
            Inline.of(
                "The softmax, the output function of this network: its definition, with ",
                Math.of(short),
                " the sum below its fraction,",
            ),
            role=Role.DEFINITION,
        ),
        Display(
            (
                Row(Math.of(left), equals(right.xreplace({total: short})), "definition"),
                Row(Math.of(short), equals(total)),
            )
        ),
        Text(
            Inline.of(
                "Every ",
                Math.of(left),
                " depends on every ",
                Math.of(nt.pre(L, nt.I)),
                ". The quotient rule needs the derivatives of the numerator and of ",
                Math.of(short),
                ",",
            ),
            role=Role.STEP,
        ),
        Display(tuple(b.placed(_rows(b, top) + _rows(b, bottom)))),
        Text("so that", role=Role.STEP),
        Display(tuple(b.placed(_rows(b, general)))),
        Text(
            Inline.of(
                "The Kronecker delta gives the two cases: a unit's own logit, ",
                _case(same),
                ", and another unit's, ",
                _case(other),
                ":",
            ),
            role=Role.STEP,
        ),
        Display(tuple(b.placed(_rows(b, same) + _rows(b, other)))),
        Text(
            "Raising one logit raises its own prediction and lowers every other: the "
            "predictions keep summing to 1.",
            role=Role.REASON,
        ),
    ]


def domain_remark(b: Builder, act: Activation) -> Text | None:
    """Where a custom activation and its derivative are defined, when not on every real."""
    found = restriction(act)
    if found is None:
        return None
    x, g = letter("x"), letter("g")
    where: Prose
    if found == sp.S.EmptySet:
        where = "for no real number: every value it gives is undefined"
    else:
        where = Inline.of("only for ", Math.of(x, Token.IN, _set(found)))
    return Text(
        Inline.of(
            "The activation ",
            Math.of(applied_to(g, x), Token.EQUALS, act.shown_function),
            " and its derivative ",
            Math.of(applied_to(Math.of(g, Token.PRIME), x), Token.EQUALS, act.shown_derivative),
            " are defined ",
            where,
            "; every pre-activation of a layer that applies ",
            g,
            " must lie there, or the forward and the backward pass have no value.",
        ),
        role=Role.REMARK,
    )


def _set(found: sp.Set) -> Math:
    """A set of reals; a union of many pieces is cut short after the first few."""
    pieces = found.args if isinstance(found, sp.Union) else (found,)
    if len(pieces) > DESCRIBED_PIECES + 1:
        parts: list[sp.Basic | Token] = []
        for piece in pieces[:DESCRIBED_PIECES]:
            parts += [piece, Token.CUP]
        return Math.of(*parts, Token.DOTS)
    return Math.of(found)


__all__ = [
    "ID",
    "TITLE",
    "activation_phrase",
    "distinct_activations",
    "derivatives_section",
    "domain_remark",
]
