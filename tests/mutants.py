"""Mutants of generated code: one statement of one code path changed, three ways.

Used by ``test_check_sweep.py`` and ``bench/check_grid.py``, for every target ``symgrad check``
runs. A code path is a function of the generated code that computes on its own:

- NumPy, ``vectorized``: ``forward``, ``loss``, ``loss_and_gradients``; ``unrolled``: those for
  one sample and their ``_batch`` twins;
- array API (``vectorized``, its one style): ``forward``, ``loss``, ``loss_and_gradients``;
- C, ``unrolled`` and ``looped``: ``NAME_forward``, ``NAME_loss``, ``NAME_loss_and_gradients``;
  looped C with packed products also ``products``: the routines every product of the three
  runs through (the register tile, the copies into panels, the product without copies).

A mutation changes one assignment of it, written on one line:

- ``factor``: its value times ``1 + 1e-4`` (``* (real_t)1.0001`` in C);
- ``sign``: its value negated (``+=`` made ``-=``);
- ``swap``: one index swapped. Python unrolled and C unrolled: a scalar such as ``h1_0`` read
  as ``h1_1``; Python vectorized: an array read with its units reversed, ``H1[:, ::-1]`` (not
  valid for every array library, but ``symgrad check`` runs array-API modules on NumPy
  arrays); C looped: one array read with the loop index of its units reversed,
  ``A1[r * 4 + i]`` read as ``A1[r * 4 + (3 - i)]`` (the rows' index ``r`` when the read has
  no other). Not in ``products``, whose copies would then read past the end of a block.

Statements are picked with a seeded generator among those whose mutant differs from the
original at every one of a few random points (:func:`differs` runs both in this process: C
compiled and loaded by :mod:`symgrad.codegen.c.loader`): a mutant that gives the
original's results (a sign flipped in the shift of a softmax, which cancels), or gives them at
some points (a factor on the shifted logit that is 0 where its unit is the largest), is no test
of a checker that evaluates at points, and the next statement is taken instead.
"""

from __future__ import annotations

import ast
import random
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from symgrad.check.points import draw
from symgrad.check.run import BATCH
from symgrad.check.source import DEFAULT_TARGET, header_command, parse_command
from symgrad.codegen import generate
from symgrad.pipeline import derive
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
#: The code paths of a C file, after its prefix ``NAME_`` (both forms).
C_PATHS = ("forward", "loss", "loss_and_gradients")
#: The path of looped C's products, and the file's functions it is made of.
PRODUCTS = "products"
PRODUCT_FUNCTIONS = ("kernel", "pack_rows", "pack_columns", "product_direct", "product")
KINDS = ("factor", "sign", "swap")
#: The factor of ``factor`` mutants by the real type computed in: 1 + 1e-4 in double, 100
#: times the tolerance of ``symgrad check`` there; 1 + 1e-2 in float (C's ``--dtype float``),
#: whose gradients are checked to 1e-3: a change of 1e-4 is below what central differences in
#: float32 resolve, so it would be no test of the checker.
FACTORS = {"double": "1.0001", "float": "1.01"}
_INDEXED = re.compile(r"\b([A-Za-z]+\d*)_(\d+)(?:_(\d+))?\b")
_NAMES = re.compile(r"\b[A-Za-z]+\d*_\d+(?:_\d+)?\b")
#: Statements left alone: unpacking the inputs, packing the outputs, the softmax shift.
_SKIP = re.compile(r"_inputs|_targets|\.shape|tolist|ascontiguousarray|frombuffer|astype|max")
#: A C statement on one line that assigns a real: ``[const] real_t NAME = ...;``,
#: ``NAME[index] op= ...;`` (pointers, sizes and ``*loss = ...`` do not match).
_C_STATEMENT = re.compile(
    r"(?P<declared>(?:const )?real_t )?(?P<target>[A-Za-z_]\w*(?:\[[^\]]*\])?)\s*"
    r"(?P<operator>[-+*/]?=)\s*(?P<value>.+);"
)
#: C statements left alone: unpacking the parameters and the rows of X and Y, sizes, sums
#: started at zero, packing the outputs (grad, yhat_row), the softmax shift, the step of a
#: pointer to the next panel of a copy.
_C_SKIP = re.compile(
    r"params|\bx\[|\by\[|\(real_t\)batch|= 0\.0f?[;,]|^grad\[|_row\[|rowmax|-fmax\(|^out \+="
)
#: A loop written on the line of the statement it runs (the register tile's rows):
#: ``if (MR > 1) for (size_t j = 0; j < NR; ++j) c1[j] += ap[1] * bp[j];``.
_C_LEAD = re.compile(r"(?:if \([^()]*\) )?for \(size_t (\w+) = (\w+); \1 < (\w+); \+\+\1\) ")
#: How :func:`differs` compiles C (the check compiles as the loader does).
C_DIFFERS_FLAGS = ("-std=c99", "-O0", "-fPIC")
_C_LOOP = re.compile(r"for \(size_t (\w+) = (\w+); \1 < (\w+); \+\+\1\)")
_C_READ = re.compile(r"\b\w+\[([^\[\]]+)\]")


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


@dataclass(frozen=True)
class _Statement:
    """A statement that may be mutated: its line (0-based), whether it updates its target
    (``+=``), and for C the loops around it, innermost first: ``(index, start, stop)``."""

    index: int
    augmented: bool
    loops: tuple[tuple[str, str, str], ...] = ()
    lead: str = ""


# The generated files -------------------------------------------------------------------------


def _options(text: str) -> dict[str, str]:
    """The options of the command named by the header of generated ``text``."""
    return parse_command(Path("generated"), header_command(Path("generated"), text)[1])[1]


def target_of(text: str) -> str:
    """The ``--target`` named by the header of generated ``text``."""
    return _options(text).get("target", DEFAULT_TARGET)


def generated(
    spec: NetworkSpec,
    target: str = "numpy",
    style: str | None = None,
    dtype: str | None = None,
    blas: str | None = None,
) -> tuple[str, str | None]:
    """The generated code of ``spec`` (no proof) and, for C (``mlp.c``), its header ``mlp.h``
    (``blas``: C's ``--blas``)."""
    derivation = derive(spec, prove=False)
    files = {f.suffix: f.text for f in generate(derivation, target, style, dtype, blas=blas)}
    if target == "c":
        return files[".c"], files[".h"]
    return files[".py"], None


def c_stem(text: str) -> str:
    """The file name (without ``.c``) a C file was generated as: the header it includes."""
    found = re.search(r'^#include "(.+)\.h"$', text, flags=re.MULTILINE)
    if found is None:
        raise ValueError("not a C file generated by symgrad: it includes no header of its own")
    return found.group(1)


def write(folder: Path, text: str, header: str | None = None, stem: str = "module") -> Path:
    """Write ``text`` in ``folder``: ``stem.py``, or for C ``NAME.c`` with ``header`` as
    ``NAME.h`` beside it (``NAME`` is the header it includes). The path to check."""
    folder.mkdir(parents=True, exist_ok=True)
    if header is None:
        path = folder / f"{stem}.py"
    else:
        path = folder / f"{c_stem(text)}.c"
        path.with_suffix(".h").write_text(header, encoding="utf-8")
    path.write_text(text, encoding="utf-8")
    return path


# Mutants ---------------------------------------------------------------------------------------


def paths(target: str, style: str) -> tuple[str, ...]:
    """The code paths of a file of ``target`` in ``style`` (for C, after the prefix; looped C
    with packed products, not ``--blas``)."""
    if target == "c":
        return (*C_PATHS, PRODUCTS) if style == "looped" else C_PATHS
    return PATHS[style]


def kinds(path: str) -> tuple[str, ...]:
    """The kinds of mutation of a code path."""
    return tuple(k for k in KINDS if k != "swap") if path == PRODUCTS else KINDS


def mutants(
    text: str,
    style: str,
    seed: int = 0,
    *,
    distinct: bool = True,
    header: str | None = None,
) -> Iterator[Mutant]:
    """One mutant per code path and kind (fewer where a path has no statement to change).

    ``text`` is generated code of any target (its header says which); a C file needs its
    ``header`` (``NAME.h``) to be compiled, and ``style`` is then its form (``unrolled`` or
    ``looped``). With ``distinct``, a statement whose mutant gives the original's results at
    some of a few random points (see :func:`differs`) is passed over for the next one.
    """
    original = load(text, header=header) if distinct else None
    lines = text.splitlines(keepends=True)
    rng = random.Random(seed)
    names = set(_NAMES.findall(text))
    if target_of(text) == "c":
        found = _c_statements(lines)
        factor = FACTORS[_options(text).get("dtype", "double")]

        def change(statement: _Statement, kind: str) -> str | None:
            body = lines[statement.index].strip()[len(statement.lead) :]
            new = _c_mutated(body, kind, names, style, statement, factor)
            return None if new is None else statement.lead + new

    else:
        found = _python_statements(text, lines, style)

        def change(statement: _Statement, kind: str) -> str | None:
            body = lines[statement.index].strip()
            return _mutated(body, kind, names, style, statement.augmented)

    for function, statements in found.items():
        for kind in kinds(function):
            mutant = _first(statements, kind, change, lines, rng, original, header)
            if mutant is not None:
                yield Mutant(function, kind, *mutant)


def _first(
    statements: list[_Statement],
    kind: str,
    change: Callable[[_Statement, str], str | None],
    lines: list[str],
    rng: random.Random,
    original: Any,
    header: str | None,
) -> tuple[int, str, str, str] | None:
    """The first statement (in a seeded order) whose mutant of ``kind`` differs from the
    original everywhere: its line (1-based), the statement before and after, the mutated text."""
    order = list(statements)
    rng.shuffle(order)
    for statement in order:
        line = lines[statement.index]
        new = change(statement, kind)
        if new is None:
            continue
        indent = line[: len(line) - len(line.lstrip())]
        changed = lines.copy()
        changed[statement.index] = f"{indent}{new}\n"
        mutated = "".join(changed)
        if original is not None and differs(original, mutated, header=header) != "everywhere":
            continue
        return statement.index + 1, line.strip(), new, mutated
    return None


# Python modules (NumPy and array API) ----------------------------------------------------------


def _python_statements(text: str, lines: list[str], style: str) -> dict[str, list[_Statement]]:
    """The statements that may be mutated, by code path, in line order."""
    tree = ast.parse(text)
    found = {}
    for function in PATHS[style]:
        found[function] = [
            _Statement(s.lineno - 1, isinstance(s, ast.AugAssign))
            for s in _assignments(tree, function)
            if not _SKIP.search(lines[s.lineno - 1])
        ]
    return found


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
        value = _scalar_swapped(value, names)
        return None if value is None else f"{target}={value}"
    for match in re.finditer(r"\b(H\d+|A\d+|G\d+|Delta\d+|Yhat|Y|X|E|Z|R)\b(?![.(\[])", value):
        start, end = match.span()
        return f"{target}={value[:start]}{match.group(1)}[:, ::-1]{value[end:]}"
    return None


def _scalar_swapped(value: str, names: set[str]) -> str | None:
    """``value`` with its first scalar that has a neighbour (``h1_0``: ``h1_1`` or ``h1_-1``)
    read as that neighbour, or None."""
    for match in _INDEXED.finditer(value):
        base, first, second = match.groups()
        index = int(second if second is not None else first)
        for other in (index + 1, index - 1):
            twin = f"{base}_{first}_{other}" if second is not None else f"{base}_{other}"
            if other >= 0 and twin in names:
                start, end = match.span()
                return f"{value[:start]}{twin}{value[end:]}"
    return None


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


# C files ---------------------------------------------------------------------------------------


def _c_statements(lines: list[str]) -> dict[str, list[_Statement]]:
    """The one-line statements of each code path of a C file that assign a computed real."""
    text = "".join(lines)
    prefix = re.search(r"^int (\w+)_loss_and_gradients\(", text, flags=re.MULTILINE)
    if prefix is None:
        raise ValueError("not a C file generated by symgrad: no NAME_loss_and_gradients")
    found: dict[str, list[_Statement]] = {}
    for path in C_PATHS:
        function = f"{prefix.group(1)}_{path}"
        found[function] = _c_function_statements(lines, f"int {function}(")
    products = [
        statement
        for function in PRODUCT_FUNCTIONS
        for statement in _c_function_statements(lines, f"static void {function}(")
    ]
    if products:
        found[PRODUCTS] = products
    return found


def _c_function_statements(lines: list[str], opening: str) -> list[_Statement]:
    """The statements of the function whose definition starts with ``opening`` (none when the
    file has no such function)."""
    start = next((n for n, line in enumerate(lines) if line.startswith(opening)), None)
    if start is None:
        return []
    end = next(n for n in range(start, len(lines)) if lines[n].rstrip() == "}")
    return [s for n in range(start + 1, end) if (s := _c_statement(lines, n, start)) is not None]


def _c_statement(lines: list[str], n: int, start: int) -> _Statement | None:
    """Line ``n`` as a statement that may be mutated, or None (not a whole statement, not an
    assignment of a real, or one left alone)."""
    body = lines[n].strip()
    lead = _C_LEAD.match(body)
    loops = ((lead[1], lead[2], lead[3]),) if lead else ()
    if lead:
        body = body[lead.end() :]
    match = _C_STATEMENT.fullmatch(body)
    if match is None or _C_SKIP.search(body) or _declares_several(match["value"]):
        return None
    previous = next((lines[k].strip() for k in range(n - 1, start - 1, -1) if _code(lines[k])), "")
    if not previous.endswith((";", "{", "}")):  # the continuation of a statement
        return None
    loops += _c_loops(lines, n, start)
    return _Statement(n, match["operator"] != "=", loops, lead[0] if lead else "")


def _declares_several(value: str) -> bool:
    """Whether the value of a declaration goes on to declare more (a comma outside brackets)."""
    depth = 0
    for char in value:
        depth += (char in "([") - (char in ")]")
        if char == "," and depth == 0:
            return True
    return False


def _code(line: str) -> bool:
    """Whether ``line`` holds C code (not blank, not a comment)."""
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("//")


def _c_loops(lines: list[str], n: int, start: int) -> tuple[tuple[str, str, str], ...]:
    """The ``for`` loops around line ``n`` (index, start, stop), innermost first."""
    loops = []
    depth = len(lines[n]) - len(lines[n].lstrip())
    for k in range(n - 1, start, -1):
        indent = len(lines[k]) - len(lines[k].lstrip())
        if _code(lines[k]) and indent < depth:
            depth = indent
            found = _C_LOOP.search(lines[k])
            if found:
                loops.append((found[1], found[2], found[3]))
    return tuple(loops)


def _c_mutated(
    body: str, kind: str, names: set[str], style: str, statement: _Statement, factor: str
) -> str | None:
    match = _C_STATEMENT.fullmatch(body)
    assert match is not None
    declared = match["declared"] or ""
    target, operator, value = match["target"], match["operator"], match["value"]
    if kind == "factor":
        return f"{declared}{target} {operator} ({value}) * (real_t){factor};"
    if kind == "sign":
        if operator in ("*=", "/="):
            return f"{declared}{target} {operator} -({value});"
        if statement.augmented:  # a += b  ->  a -= b
            return f"{target} {'-=' if operator == '+=' else '+='} {value};"
        return f"{declared}{target} = -({value});"
    if style == "unrolled":
        swapped = _scalar_swapped(value, names)
    else:
        swapped = _reversed_read(value, statement.loops)
    return None if swapped is None else f"{declared}{target} {operator} {swapped};"


def _reversed_read(value: str, loops: tuple[tuple[str, str, str], ...]) -> str | None:
    """``value`` with one array read's loop index reversed over its loop: the index of units
    (a loop with a fixed stop) in the first read that has one, else the index of rows."""
    fixed = [loop for loop in loops if loop[2].isdigit() and loop[1].isdigit()]
    for index, first, stop in fixed + [loop for loop in loops if loop not in fixed]:
        for read in _C_READ.finditer(value):
            inside = read.group(1)
            if not re.search(rf"\b{index}\b", inside):
                continue
            last = _last(first, stop)
            inside = re.sub(rf"\b{index}\b", f"({last} - {index})", inside)
            start, end = read.span(1)
            return f"{value[:start]}{inside}{value[end:]}"
    return None


def _last(first: str, stop: str) -> str:
    """``first + stop - 1`` in C, for a loop from ``first`` while below ``stop``."""
    if first.isdigit() and stop.isdigit():
        return str(int(first) + int(stop) - 1)
    return f"{stop} - 1" if first == "0" else f"{first} + {stop} - 1"


# Running them ----------------------------------------------------------------------------------


def load(text: str, name: str = "candidate", header: str | None = None) -> Any:
    """The module of ``text``, run in this process (trusted: it is ours, mutated); a C file
    (with its ``header``) compiled and loaded as a :class:`~symgrad.codegen.c.loader.CNetwork`."""
    if target_of(text) == "c":
        return _load_c(text, header)
    namespace: dict[str, Any] = {"__name__": name}
    exec(compile(text, name, "exec"), namespace)  # noqa: S102
    members = {k: staticmethod(v) if callable(v) else v for k, v in namespace.items()}
    return type("Module", (), members)


def _load_c(text: str, header: str | None) -> Any:
    """The C file compiled without optimizations (ten times faster to compile than the
    loader's flags; :func:`differs` compares an original and a mutant built alike, and a
    mutation changes far more than the optimizer's roundings) and loaded by the C loader."""
    from symgrad.codegen.c.build import FileFacts
    from symgrad.codegen.c.loader import build_library, load_library

    if header is None:
        raise ValueError("a C file is compiled with its header: give header=")
    with tempfile.TemporaryDirectory(prefix="symgrad-mutant-") as folder:
        source = write(Path(folder), text, header)
        library = Path(folder) / f"lib{source.stem}.so"
        # The header's facts name the CBLAS library a --blas file is linked with.
        build_library([source], library, flags=C_DIFFERS_FLAGS, facts=FileFacts.read(header))
        return load_library(library, source)


def results(module: Any, spec: NetworkSpec, seed: int = 0) -> list[np.ndarray]:
    """Every output of every path at the points ``symgrad check --seed seed`` draws (its default
    batch: other batches draw other rows), flattened."""
    points = draw(spec, seed, BATCH)
    out = []
    for x, y in ((points.X, points.Y), (points.x, points.y), (points.X1, points.Y1)):
        value, grads = module.loss_and_gradients(points.params, x, y)
        out += [np.atleast_1d(value), np.atleast_1d(module.loss(points.params, x, y))]
        out += [np.ravel(g) for g in grads.values()]
        out.append(np.ravel(module.forward(points.params, x)))
    return [np.asarray(array) for array in out]


def differs(
    original: Any,
    text: str,
    seeds: tuple[int, ...] = (0, 1, 2, 3),
    *,
    header: str | None = None,
) -> str:
    """Where the mutant's results differ from the original's (beyond 1e-13 relative) at random
    points: ``everywhere``, ``somewhere`` or ``nowhere`` (an equivalent mutant); ``broken`` for
    a mutant that cannot be compiled or loaded (no test of the checker, which refuses it).

    The original must run (its error is raised, not taken for a difference); a mutant that
    raises when it runs differs.
    """
    spec = parse_command(Path("mutant"), header_command(Path("mutant"), text)[1])[0]
    with np.errstate(all="ignore"):
        wanted = [results(original, spec, seed) for seed in seeds]
    try:
        mutated = load(text, header=header)
    except Exception:  # noqa: BLE001
        return "broken"
    try:
        with np.errstate(all="ignore"):
            found = [
                not all(
                    a.shape == b.shape and np.allclose(a, b, rtol=1e-13, atol=1e-300)
                    for a, b in zip(results(mutated, spec, seed), expected, strict=True)
                )
                for seed, expected in zip(seeds, wanted, strict=True)
            ]
    except Exception:  # a mutant that cannot run differs  # noqa: BLE001
        return "everywhere"
    return "everywhere" if all(found) else "somewhere" if any(found) else "nowhere"
