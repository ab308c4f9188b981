"""Mutants of generated modules: one statement of one code path changed, three ways.

Used by ``test_check_sweep.py`` and ``bench/check_grid.py``. A code path is a function of the
module that computes on its own (``vectorized``: ``forward``, ``loss``, ``loss_and_gradients``;
``unrolled``: those for one sample and their ``_batch`` twins). A mutation changes one
assignment of it:

- ``factor``: its value times ``1 + 1e-4``;
- ``sign``: its value negated;
- ``swap``: one index swapped (unrolled: a scalar such as ``h1_0`` read as ``h1_1``;
  vectorized: an array read with its units reversed, ``H1[:, ::-1]``).

Statements are picked with a seeded generator among those whose mutant differs from the
original at every one of a few random points (:func:`differs` runs both): a mutant that gives
the original's results (a sign flipped in the shift of a softmax, which cancels), or gives them
at some points (a factor on the shifted logit that is 0 where its unit is the largest), is no
test of a checker that evaluates at points, and the next statement is taken instead.
"""

from __future__ import annotations

import ast
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from symgrad.check.points import draw
from symgrad.check.source import header_command, parse_command
from symgrad.spec import NetworkSpec

PATHS = {
    "vectorized": ("forward", "loss", "loss_and_gradients"),
    "unrolled": (
        "forward",
        "_forward_batch",
        "loss",
        "_loss_batch",
        "loss_and_gradients",
        "_loss_and_gradients_batch",
    ),
}
KINDS = ("factor", "sign", "swap")
_INDEXED = re.compile(r"\b([A-Za-z]+\d*)_(\d+)(?:_(\d+))?\b")
#: Statements left alone: unpacking the inputs, packing the outputs, the softmax shift.
_SKIP = re.compile(r"_inputs|_targets|\.shape|tolist|ascontiguousarray|frombuffer|astype|max")


@dataclass(frozen=True)
class Mutant:
    function: str
    kind: str
    line: int
    before: str
    after: str
    text: str

    @property
    def name(self) -> str:
        return f"{self.function}:{self.kind}@{self.line}"


def _assignments(tree: ast.Module, function: str) -> list[ast.Assign | ast.AugAssign]:
    """The one-line assignments to a name in ``function`` (not the returned dict)."""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == function:
            found: list[ast.Assign | ast.AugAssign] = []
            for statement in ast.walk(node):
                if isinstance(statement, ast.AugAssign):
                    target = statement.target
                elif isinstance(statement, ast.Assign) and len(statement.targets) == 1:
                    target = statement.targets[0]
                else:
                    continue
                one_line = statement.lineno == statement.end_lineno
                if (
                    isinstance(target, ast.Name)
                    and target.id not in ("gradients", "B")
                    and one_line
                ):
                    found.append(statement)
            return sorted(found, key=lambda s: s.lineno)
    raise KeyError(function)


def _swapped(line: str, names: set[str], style: str) -> str | None:
    """``line`` with one index swapped, or None when it reads nothing that has a twin."""
    target, _, value = line.partition("=")
    if style == "unrolled":
        for match in _INDEXED.finditer(value):
            base, first, second = match.groups()
            index = int(second if second is not None else first)
            for other in (index + 1, index - 1):
                twin = f"{base}_{first}_{other}" if second is not None else f"{base}_{other}"
                if other >= 0 and twin in names:
                    start, end = match.span()
                    return f"{target}={value[:start]}{twin}{value[end:]}"
        return None
    for match in re.finditer(r"\b(H\d+|A\d+|G\d+|Delta\d+|Yhat|Y|X|E|Z|R)\b(?![.(\[])", value):
        start, end = match.span()
        return f"{target}={value[:start]}{match.group(1)}[:, ::-1]{value[end:]}"
    return None


def mutants(text: str, style: str, seed: int = 0, *, distinct: bool = True) -> Iterator[Mutant]:
    """One mutant per code path and kind (fewer where a path has no statement to change).

    With ``distinct``, a statement whose mutant gives the original's results at some of a few
    random points (see :func:`differs`) is passed over for the next one.
    """
    original = load(text) if distinct else None
    tree = ast.parse(text)
    lines = text.splitlines(keepends=True)
    rng = random.Random(seed)
    names = set(re.findall(r"\b[A-Za-z]+\d*_\d+(?:_\d+)?\b", text))
    for function in PATHS[style]:
        statements = [
            s for s in _assignments(tree, function) if not _SKIP.search(lines[s.lineno - 1])
        ]
        for kind in KINDS:
            order = list(statements)
            rng.shuffle(order)
            for statement in order:
                line = lines[statement.lineno - 1]
                indent = line[: len(line) - len(line.lstrip())]
                body = line.strip()
                new = _mutated(body, kind, names, style, isinstance(statement, ast.AugAssign))
                if new is None:
                    continue
                changed = lines.copy()
                changed[statement.lineno - 1] = f"{indent}{new}\n"
                mutated = "".join(changed)
                if original is not None and differs(original, mutated) != "everywhere":
                    continue
                yield Mutant(function, kind, statement.lineno, body, new, mutated)
                break


def _mutated(body: str, kind: str, names: set[str], style: str, augmented: bool) -> str | None:
    target, operator, value = re.match(r"(.*?)\s*([-+*/]?=)\s*(.*)", body).groups()  # type: ignore[union-attr]
    if kind == "factor":
        return f"{target} {operator} ({value}) * 1.0001"
    if kind == "sign":
        if augmented and operator in ("*=", "/="):
            return f"{target} {operator} -({value})"
        if augmented:  # a += b  ->  a -= b
            return f"{target} {'-=' if operator == '+=' else '+='} {value}"
        return f"{target} = -({value})"
    return _swapped(f"{target} {operator} {value}", names, style)


def load(text: str, name: str = "candidate") -> Any:
    """The module of ``text``, run in this process (trusted: it is ours, mutated)."""
    namespace: dict[str, Any] = {"__name__": name}
    exec(compile(text, name, "exec"), namespace)  # noqa: S102
    members = {k: staticmethod(v) if callable(v) else v for k, v in namespace.items()}
    return type("Module", (), members)


def results(module: Any, spec: NetworkSpec, seed: int = 0) -> list[np.ndarray]:
    """Every output of every path at points ``symgrad check`` could draw, flattened."""
    points = draw(spec, seed, 3)
    out = []
    for x, y in ((points.X, points.Y), (points.x, points.y), (points.X1, points.Y1)):
        value, grads = module.loss_and_gradients(points.params, x, y)
        out += [np.atleast_1d(value), np.atleast_1d(module.loss(points.params, x, y))]
        out += [np.ravel(g) for g in grads.values()]
        out.append(np.ravel(module.forward(points.params, x)))
    return out


def differs(original: Any, text: str, seeds: tuple[int, ...] = (0, 1, 2, 3)) -> str:
    """Where the mutant's results differ from the original's (beyond 1e-13 relative) at random
    points: ``everywhere``, ``somewhere`` or ``nowhere`` (an equivalent mutant)."""
    spec = parse_command(Path("mutant"), header_command(Path("mutant"), text)[1])[0]
    try:
        mutated = load(text)
        with np.errstate(all="ignore"):
            found = [
                not all(
                    a.shape == b.shape and np.allclose(a, b, rtol=1e-13, atol=1e-300)
                    for a, b in zip(
                        results(mutated, spec, seed), results(original, spec, seed), strict=True
                    )
                )
                for seed in seeds
            ]
    except Exception:  # a mutant that cannot run differs  # noqa: BLE001
        return "everywhere"
    return "everywhere" if all(found) else "somewhere" if any(found) else "nowhere"
