"""A generated Python module's code with each intermediate array let go after its last use.

The functions of a generated module assign every intermediate to a local name of its own (``A1``,
``H1``, ``Delta2``, ...), so each array lives until the function returns: at the end of
``loss_and_gradients`` every activation and error signal of the batch is held at once. For a
wide layer and a large batch that is many megabytes freed at once when the call returns, which
the C library's allocator gives back to the operating system and takes again, page by page, on
the next call (tens of thousands of page faults a call at 784-512-512-10, batch 1024).

:func:`released` compiles the module's source with a ``del`` of each local name placed right after
the last statement of the function that reads it: the same statements, in the same order, on the
same arrays; only the lifetimes are shorter, so memory is reused within the call and the peak is a
few arrays instead of all of them. The text users read and the golden files are untouched.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from types import CodeType, ModuleType
from typing import Any


def released(source: str, filename: str) -> CodeType:
    """``source`` compiled with every function's local names deleted after their last use."""
    tree = ast.parse(source, filename)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            node.body = _with_deletions(node)
    return compile(ast.fix_missing_locations(tree), filename, "exec")


def released_copy(
    module: ModuleType, source: str, replaced: Mapping[str, Any]
) -> ModuleType | None:
    """A new module run from ``module``'s ``source``, released (:func:`released`), with the
    globals ``replaced`` set in it; None when ``source`` is not what ``module`` was made from.

    Made from means: every function the source defines is the module's function of that name
    (equal code objects: the same bytecode, constants and names), and every constant the source
    binds (``LAYER_SIZES``, ``PARAMETER_SHAPES``, ...) equals the module's. A file written
    again after the module was imported therefore gives None, never a module running the new
    text. ``module`` itself is not touched.
    """
    filename = getattr(module, "__file__", None) or f"<{module.__name__}>"
    plain = compile(source, filename, "exec")
    functions = [const for const in plain.co_consts if isinstance(const, CodeType)]
    if not functions or any(
        getattr(getattr(module, code.co_name, None), "__code__", None) != code for code in functions
    ):
        return None
    copy = ModuleType(module.__name__, module.__doc__)
    copy.__file__ = filename
    exec(released(source, filename), vars(copy))  # the module's own text, checked above
    theirs = vars(module)
    constants = (int, float, str, tuple, dict, frozenset)
    if any(
        type(value) is not type(theirs.get(name)) or value != theirs[name]
        for name, value in vars(copy).items()
        if isinstance(value, constants) and not name.startswith("__")
    ):
        return None
    vars(copy).update(replaced)
    return copy


def _with_deletions(function: ast.FunctionDef) -> list[ast.stmt]:
    """The body of ``function`` with ``del`` statements between its top-level statements.

    Only names bound by a top-level assignment are deleted, once no later statement of the
    function reads them (a read anywhere inside a later statement counts, also inside a nested
    block or a comprehension); a name bound again later is deleted again after its new last use.
    A function with a nested function, a lambda, ``global`` or ``nonlocal`` is left as it is:
    a closure could read a name after its last statement.
    """
    body = function.body
    if any(isinstance(node, _OPAQUE) for node in ast.walk(function) if node is not function):
        return body
    read_after: list[set[str]] = []
    reads: set[str] = set()
    for statement in reversed(body):
        read_after.append(set(reads))
        reads |= _reads(statement)
    read_after.reverse()
    result: list[ast.stmt] = []
    held: set[str] = set()
    for index, statement in enumerate(body):
        result.append(statement)
        held |= _assigned(statement)
        if index == len(body) - 1 or isinstance(statement, _EXITS):
            continue
        done = sorted(held - read_after[index])
        if done:
            result.append(ast.Delete(targets=[ast.Name(name, ast.Del()) for name in done]))
            held -= set(done)
    return result


#: Nodes that make a function's lifetimes not plain to see from its statements.
_OPAQUE = (
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.Lambda,
    ast.ClassDef,
    ast.Global,
    ast.Nonlocal,
)
#: Statements after which nothing runs.
_EXITS = (ast.Return, ast.Raise)


def _reads(statement: ast.stmt) -> set[str]:
    """Names ``statement`` reads anywhere in it (``x += 1`` reads ``x`` too)."""
    found = set()
    for node in ast.walk(statement):
        if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            found.add(node.target.id)
        elif isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Store):
            found.add(node.id)
    return found


def _assigned(statement: ast.stmt) -> set[str]:
    """Names a top-level ``=`` or annotated ``=`` binds (also by unpacking)."""
    if isinstance(statement, ast.Assign):
        targets = statement.targets
    elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
        targets = [statement.target]
    else:
        return set()
    return {
        node.id
        for target in targets
        for node in ast.walk(target)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)
    }
