"""The custom-activation parser: the grammar the README states, and nothing else, ever executed."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

import pytest
import sympy as sp

from symgrad.errors import ExpressionError
from symgrad.expressions import X, parse_activation


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x/(1+abs(x))", X / (1 + sp.Abs(X))),
        ("x**2 + 0.5*x", X**2 + sp.Rational(1, 2) * X),
        ("-x", -X),
        ("+x", X),
        ("exp(-x**2)", sp.exp(-(X**2))),
        ("log(1 + exp(x))", sp.log(1 + sp.exp(X))),
        ("sqrt(x**2 + 1) - 1", sp.sqrt(X**2 + 1) - 1),
        ("tanh(x) * sin(x) + cos(x)", sp.tanh(X) * sp.sin(X) + sp.cos(X)),
        ("2**3 * x", 8 * X),
        ("0.1*x", sp.Rational(1, 10) * X),
    ],
)
def test_accepts_the_grammar(text: str, expected: sp.Expr) -> None:
    assert parse_activation(text) == expected


HOSTILE = [
    "__import__('os').system('echo pwned')",
    "x.__class__",
    "x.__class__.__mro__[1].__subclasses__()",
    "(lambda: 1)()",
    "[x for x in ()]",
    "exec('1')",
    "eval('x')",
    "open('/etc/passwd')",
    "x if x else 1",
    "x < 1",
    "x and 1",
    "getattr(x, 'y')",
    "sympify('x')",
    "y + 1",
    "exp(x, x)",
    "exp(x=1)",
    "exp(*[x])",
    "x[0]",
    "'x'",
    "1j * x",
    "True + x",
    "(x := 1)",
    "x**(10**10**10)",
    "x**100",
    "10**10**10",
    "x**x",
    "9" * 50,
    "(" * 300 + "x" + ")" * 300,
    "-" * 1000 + "x",
    "exp(" * 60 + "x" + ")" * 60,
    "x" + "+x" * 200,
    "",
    "   ",
    "x\u00a0+ 1",
    "x; import os",
    "1/0",
    "log(0)",
    "x/(x-x)",
    "f'{x}'",
    "x#import os",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_refuses_everything_else(text: str) -> None:
    with pytest.raises(ExpressionError):
        parse_activation(text)


@pytest.fixture
def audit_events() -> Iterator[list[str]]:
    """Record the audit events that matter: code execution, compilation of code, file access."""
    events: list[str] = []
    watching = [False]
    interesting = {"exec", "compile", "open", "import", "os.system", "subprocess.Popen"}

    def hook(event: str, args: tuple[object, ...]) -> None:
        if watching[0] and (event in interesting or event.startswith("os.")):
            events.append(event)

    sys.addaudithook(hook)  # audit hooks cannot be removed; this one only records when asked
    watching[0] = True
    yield events
    watching[0] = False


def _parse_all(texts: list[str]) -> None:
    for text in texts:
        with contextlib.suppress(ExpressionError):
            parse_activation(text)


def test_parsing_executes_nothing(audit_events: list[str]) -> None:
    texts = ["x/(1+abs(x))", "exp(-x**2) + log(1 + x**2)", *HOSTILE]
    _parse_all(texts)  # the first run may import parts of SymPy lazily: not what is audited
    audit_events.clear()
    _parse_all(texts)
    # ast.parse compiles to a syntax tree only; "compile" with the AST flag is allowed, code
    # objects (exec), file access and imports are not.
    assert [e for e in audit_events if e != "compile"] == []
