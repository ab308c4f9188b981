"""Imports point one way along the pipeline, and no primitive is spelled out twice.

spec -> catalogue / notation -> model -> derivation -> proof -> program -> targets / renderers ->
cli. A module may import modules of its own layer and of earlier layers, never of a later one;
imports inside functions and under ``TYPE_CHECKING`` count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "symgrad"

#: The layers, first to last. The name is the first part below ``symgrad`` (``derivation`` for
#: ``symgrad.derivation.steps``); ``""`` is the package itself.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"errors", "expressions", "arrays", "fileio"}),
    frozenset({"catalogue", "notation", "domain"}),
    frozenset({"spec"}),
    frozenset({"model"}),
    frozenset({"derivation"}),
    frozenset({"proof"}),
    frozenset({"program"}),
    frozenset(
        {"pipeline", "render", "codegen", "gradcheck", "check", "printing", "interop", "cache"}
    )
    | {"worked"},
    frozenset({"cli", "jupyter", "examples", "__main__", ""}),
)


def layer_of(unit: str) -> int:
    for number, members in enumerate(LAYERS):
        if unit in members:
            return number
    raise AssertionError(f"symgrad.{unit} is in no layer; add it to LAYERS")


def unit_of(module: str) -> str:
    """``symgrad.derivation.steps`` -> ``derivation``; ``symgrad`` -> ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, module: str, is_package: bool) -> list[tuple[int, str]]:
    """Every ``symgrad`` module ``source`` imports, with its line (absolute or relative)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                if not is_package:
                    anchor = anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            if base == "symgrad":
                # from symgrad import notation: each name may be a module of the package.
                found += [(node.lineno, f"symgrad.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, base))
    return [(line, name) for line, name in found if name.split(".")[0] == "symgrad"]


def violations(source: str, module: str, is_package: bool = False) -> list[str]:
    """``module`` importing something of a later layer, as readable lines."""
    own = layer_of(unit_of(module))
    problems = []
    known = frozenset().union(*LAYERS)
    for line, name in imported_modules(source, module, is_package):
        # ``from symgrad import __version__`` names an attribute of the package itself.
        target = unit_of(name) if unit_of(name) in known else ""
        if layer_of(target) > own:
            problems.append(f"{module}:{line} imports {name} (a later layer)")
    return problems


def all_modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_module_is_in_a_layer() -> None:
    for path in all_modules():
        layer_of(unit_of(module_name(path)))


def test_imports_point_one_way_along_the_pipeline() -> None:
    problems: list[str] = []
    for path in all_modules():
        source = path.read_text(encoding="utf-8")
        problems += violations(source, module_name(path), path.name == "__init__.py")
    assert problems == []


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("symgrad.derivation.steps", "from symgrad.render.notes import render_latex\n"),
        ("symgrad.derivation.steps", "def f():\n    from symgrad.proof import prove\n"),
        ("symgrad.catalogue", "from symgrad import model\n"),
        ("symgrad.proof.numeric", "from ..program import ir\n"),
        ("symgrad.model", "import symgrad.cli\n"),
        (
            "symgrad.spec",
            "import typing\nif typing.TYPE_CHECKING:\n    from symgrad.model import N\n",
        ),
    ],
)
def test_the_import_check_finds_an_import_against_the_order(module: str, source: str) -> None:
    """The check itself: each of these imports goes against the pipeline and must be reported."""
    assert len(violations(source, module)) == 1


def test_imports_with_the_order_are_accepted() -> None:
    source = "from symgrad.derivation import Kind\nfrom . import common\nimport numpy\n"
    assert violations(source, "symgrad.proof.numeric") == []
