"""Imports point one way along the pipeline, nothing imports in a circle, and modules stay small.

errors / arrays / fileio / functions -> expressions -> catalogue / notation / domain -> initial ->
options -> spec -> header / model / steps -> ops -> network -> derivation -> proof -> program ->
pipeline / printing / templating -> codegen -> worked / gradcheck / interop / cache -> render /
check -> cli.

A module may import modules of its own layer and of earlier layers, never of a later one; imports
inside functions and under ``TYPE_CHECKING`` count too. Besides: no import cycle between modules
(a cycle within a layer is still one), no import of a ``_private`` name from another module, and
no code target imports a renderer (they share :mod:`symgrad.templating` and
:mod:`symgrad.printing`, which sit below both). No module is over 600 lines, no class over 300,
no function over 80. Each check is also run on a broken input, to show it fails.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "symgrad"

#: The layers, first to last. A unit is the first part below ``symgrad`` (``derivation`` for
#: ``symgrad.derivation.build``); ``""`` is the package itself.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"errors", "arrays", "fileio", "functions"}),
    frozenset({"expressions"}),
    frozenset({"catalogue", "notation", "domain"}),
    frozenset({"initial"}),
    frozenset({"options"}),
    frozenset({"spec"}),
    frozenset({"header", "model", "steps", "generic"}),
    frozenset({"ops"}),
    frozenset({"network"}),
    frozenset({"derivation"}),
    frozenset({"proof"}),
    frozenset({"program"}),
    frozenset({"pipeline", "printing", "templating"}),
    frozenset({"codegen"}),
    frozenset({"given", "worked", "gradcheck", "interop", "cache"}),
    frozenset({"render", "check"}),
    frozenset(
        {
            "cli",
            "cli_args",
            "cli_documents",
            "cli_example",
            "cli_exercises",
            "jupyter",
            "examples",
            "__main__",
            "",
        }
    ),
)


def layer_of(unit: str) -> int:
    for number, members in enumerate(LAYERS):
        if unit in members:
            return number
    raise AssertionError(f"symgrad.{unit} is in no layer; add it to LAYERS")


def unit_of(module: str) -> str:
    """``symgrad.derivation.build`` -> ``derivation``; ``symgrad`` -> ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(source: str, module: str, is_package: bool) -> list[tuple[int, str, list[str]]]:
    """Every ``symgrad`` module ``source`` imports, with its line and the names taken from it
    (absolute or relative; ``from symgrad import notation`` imports ``symgrad.notation``)."""
    found: list[tuple[int, str, list[str]]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                if not is_package:
                    anchor = anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names = [alias.name for alias in node.names]
            if base == "symgrad":
                # from symgrad import notation: each name may be a module of the package.
                found += [(node.lineno, f"symgrad.{name}", []) for name in names]
            else:
                found.append((node.lineno, base, names))
    return [(line, name, names) for line, name, names in found if name.split(".")[0] == "symgrad"]


def violations(source: str, module: str, is_package: bool = False) -> list[str]:
    """``module`` importing a later layer, a ``_private`` name of another module, or (a code
    target) a renderer, as readable lines."""
    own = layer_of(unit_of(module))
    problems = []
    known = frozenset().union(*LAYERS)
    for line, name, names in imports(source, module, is_package):
        # ``from symgrad import __version__`` names an attribute of the package itself.
        target = unit_of(name) if unit_of(name) in known else ""
        if layer_of(target) > own:
            problems.append(f"{module}:{line} imports {name} (a later layer)")
        private = [n for n in names if n.startswith("_") and not n.startswith("__")]
        if private and name != module:
            problems.append(f"{module}:{line} imports the private {', '.join(private)} of {name}")
        if unit_of(module) == "codegen" and unit_of(name) == "render":
            problems.append(f"{module}:{line} imports {name} (a code target imports a renderer)")
    return problems


def all_modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def import_graph(sources: dict[str, tuple[str, bool]]) -> dict[str, set[str]]:
    """Module -> the modules of ``sources`` it imports (a name of a package imported from it
    counts as the module of that name where there is one)."""
    graph: dict[str, set[str]] = {}
    for module, (source, is_package) in sources.items():
        edges: set[str] = set()
        for _, name, names in imports(source, module, is_package):
            for candidate in [f"{name}.{n}" for n in names] or [name]:
                target = candidate if candidate in sources else name
                while target not in sources and "." in target:
                    target = target.rsplit(".", 1)[0]
                if target in sources and target != module:
                    edges.add(target)
        graph[module] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected set of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            members = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                members.append(member)
                if member == node:
                    break
            if len(members) > 1:
                found.append(sorted(members))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def package_sources() -> dict[str, tuple[str, bool]]:
    return {
        module_name(path): (path.read_text(encoding="utf-8"), path.name == "__init__.py")
        for path in all_modules()
    }


def test_every_module_is_in_a_layer() -> None:
    for path in all_modules():
        layer_of(unit_of(module_name(path)))


def test_imports_point_one_way_along_the_pipeline() -> None:
    problems: list[str] = []
    for module, (source, is_package) in package_sources().items():
        problems += violations(source, module, is_package)
    assert problems == []


def test_no_module_imports_in_a_circle() -> None:
    assert cycles(import_graph(package_sources())) == []


@pytest.mark.parametrize(
    ("module", "source", "reason"),
    [
        ("symgrad.derivation.build", "from symgrad.render.notes import render_latex\n", "later"),
        ("symgrad.derivation.build", "def f():\n    from symgrad.proof import prove\n", "later"),
        ("symgrad.catalogue", "from symgrad import model\n", "later"),
        ("symgrad.proof.numeric", "from ..program import ir\n", "later"),
        ("symgrad.model", "import symgrad.cli\n", "later"),
        ("symgrad.ops.affine", "from symgrad.network import Network\n", "later"),
        (
            "symgrad.spec",
            "import typing\nif typing.TYPE_CHECKING:\n    from symgrad.model import N\n",
            "later",
        ),
        ("symgrad.render.slides", "from symgrad.render.notes import _Builder\n", "private"),
        ("symgrad.codegen.numpy.target", "from symgrad.render import wording\n", "renderer"),
    ],
)
def test_the_import_check_finds_an_import_against_the_rules(
    module: str, source: str, reason: str
) -> None:
    """The check itself: each of these imports breaks a rule and must be reported."""
    problems = violations(source, module)
    assert problems and any(reason in problem for problem in problems), problems


def test_imports_with_the_rules_are_accepted() -> None:
    source = "from symgrad.derivation import Kind\nfrom . import common\nimport numpy\n"
    assert violations(source, "symgrad.proof.numeric") == []
    own = "from symgrad.proof.numeric import _unit\n"
    assert violations(own, "symgrad.proof.numeric") == []


def test_the_cycle_check_finds_a_circle_of_imports() -> None:
    """Two renderers that import each other (one only for its types) form a cycle."""
    sources = {
        "symgrad.render.notes": ("from symgrad.render.example import ExampleSection\n", False),
        "symgrad.render.example": (
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from symgrad.render.notes import Builder\n",
            False,
        ),
        "symgrad.render.graph": ("from symgrad.render import notes\n", False),
    }
    assert cycles(import_graph(sources)) == [["symgrad.render.example", "symgrad.render.notes"]]
    del sources["symgrad.render.example"]
    assert cycles(import_graph(sources)) == []


# Names: built and read in the naming table only ------------------------------------------------

#: Source that builds the name of a quantity from its layer (``f"W{k}"``, ``f"a_{{{k}}}"``,
#: ``f"{base}{k}"``, ``f"grad_{of}"``) or reads one back (a regex over names, the base of an
#: entry as a string, a layer read from a function's name).
NAME_PATTERNS = {
    "builds a name from a layer": re.compile(
        r"""f["'][^"'\n]*\b(?:W|b|a|h|A|H|G|dW|db|d|gh|Delta|Yhat|yhat)_?(?:\{\{)?\{"""
        r"""[A-Za-z_][\w.]*(?: ?[-+] ?1)?\}"""
    ),
    "builds a name from a base": re.compile(r"""f["'][^"'\n]*\{base\}_?\{"""),
    "builds a gradient's name": re.compile(r"""f["'](?:mean)?grad_\{"""),
    "reads a base as text": re.compile(r"str\([\w.]*\.base(?:\.label)?\)"),
    "reads a function's name": re.compile(r"__name__\.(?:startswith|endswith|rstrip)|name\[\d*:"),
    "parses a name with a regex": re.compile(r"re\.compile\([^)]*\((?:grad|W\|b)"),
}
#: The naming table, where names are made.
NAMING_TABLE = PACKAGE / "notation.py"


def name_problems(source: str, where: str) -> list[str]:
    return [
        f"{where}:{number} {what}: {line.strip()}"
        for number, line in enumerate(source.splitlines(), start=1)
        for what, pattern in NAME_PATTERNS.items()
        if pattern.search(line)
    ]


def test_names_are_built_and_read_only_in_the_naming_table() -> None:
    problems: list[str] = []
    for path in all_modules():
        if path != NAMING_TABLE:
            problems += name_problems(path.read_text(encoding="utf-8"), module_name(path))
    assert problems == []


@pytest.mark.parametrize(
    "line",
    [
        'params[f"W{k}"] = W',
        'name = f"{base}_{k}"',
        'label = rf"\\nabla_{{a_{{{k}}}}} \\mathcal{{L}}"',
        'previous = f"h_{{{k - 1}}}"',
        'symbol = f"grad_{of}_{k}"',
        'if str(e.base) == "yhat":',
        "layer = int(name[2:-1])",
        'if e.func.__name__.startswith("g"):',
        '_NAME = re.compile(r"(?:(grad|meangrad)_)?(W|b|a)(?:_(\\d+))?")',
    ],
)
def test_the_name_check_finds_a_name_built_or_read_outside_the_table(line: str) -> None:
    assert name_problems(line, "symgrad.example") != []


def test_the_name_check_accepts_generic_indices_and_the_table() -> None:
    assert name_problems('text = inline(f"h_{{k}} = {g}(a_{{k}})")', "symgrad.x") == []
    assert name_problems('weight = nt.quantity("W", k).latex', "symgrad.x") == []


# Sizes: no module over 600 lines, no class over 300, no function over 80 ---------------------

#: The limits, in lines (a definition's lines run from its ``def``/``class`` to its last line).
LIMITS = {"module": 600, "class": 300, "function": 80}

#: Parts written before these limits, in files whose rewrite belongs to work under way elsewhere
#: (the sandboxed check run, the numeric comparison, the C loops). Each may not grow past the
#: size given; a new entry needs a reason.
GRANDFATHERED = {
    ("module", "symgrad.check.run"): 668,
    ("class", "symgrad.check.run._Run"): 443,
    ("function", "symgrad.gradcheck.differences.compare"): 83,
    ("function", "symgrad.codegen.c.loops.looped_body"): 206,
}


def oversized(source: str, module: str) -> list[str]:
    """Each part of ``source`` longer than its limit, as ``"kind name: lines"``."""
    sizes = [("module", module, len(source.splitlines()))]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            kind = "class" if isinstance(node, ast.ClassDef) else "function"
            assert node.end_lineno is not None
            sizes.append((kind, f"{module}.{node.name}", node.end_lineno - node.lineno + 1))
    return [
        f"{kind} {name}: {lines} lines"
        for kind, name, lines in sizes
        if lines > GRANDFATHERED.get((kind, name), LIMITS[kind])
    ]


def test_modules_classes_and_functions_stay_small() -> None:
    problems: list[str] = []
    for path in all_modules():
        problems += oversized(path.read_text(encoding="utf-8"), module_name(path))
    assert problems == []


def test_the_size_check_finds_a_long_module_class_and_function() -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(85))
    function = "def long():\n" + body
    klass = "class Long:\n" + "".join(
        f"    def m{i}(self):\n        return {i}\n" for i in range(160)
    )
    padding = "\n" * 600
    found = oversized(function + klass + padding, "symgrad.example")
    assert [problem.split(":")[0] for problem in found] == [
        "module symgrad.example",
        "function symgrad.example.long",
        "class symgrad.example.Long",
    ]
    assert oversized("def short():\n    return 1\n", "symgrad.example") == []
    assert oversized(function, "symgrad.gradcheck") != []  # grandfathered names only, sizes too
