"""Hostile ``--activation`` text (issue #5 item 2): refused, and nothing ever executed.

Property-based tests mix the tokens of code execution (dunders, attribute chains, lambdas,
comprehensions, imports, strings, calls of builtins) with the tokens of the grammar, wrap valid
expressions in hostile constructs, and build huge exponents and deep nesting. Every text is either
accepted, as a real SymPy expression in ``x`` alone, or refused with
:class:`~symgrad.errors.ExpressionError` (exit status 2 on the command line). An audit hook records
every ``exec``, ``open``, ``import``, ``os.*`` and ``subprocess.*`` event while parsing runs and
the tests require it to stay empty; ``compile`` is expected (``ast.parse`` raises it to build a
syntax tree, which runs nothing).
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
from collections.abc import Iterator

import mpmath
import pytest
import sympy as sp
from conftest import hang_guard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symgrad.cli import main
from symgrad.errors import ExpressionError
from symgrad.expressions import X, parse_activation

#: Parsing one text may take at most this long (it takes microseconds to milliseconds).
PARSE_SECONDS = 5.0

SETTINGS = settings(
    deadline=2_000,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


# The audit hook --------------------------------------------------------------------------------


class _Audit:
    """One process-wide audit hook (hooks cannot be removed) that records only while on."""

    def __init__(self) -> None:
        self.on = False
        self.events: list[tuple[str, str]] = []
        self.installed = False

    def hook(self, event: str, args: tuple[object, ...]) -> None:
        if not self.on:
            return
        if event in {"exec", "open", "import", "compile"} or event.startswith(
            ("os.", "subprocess.", "shutil.", "socket.", "ctypes.", "builtins.input")
        ):
            self.events.append((event, repr(args)[:200]))

    @contextlib.contextmanager
    def watching(self) -> Iterator[list[tuple[str, str]]]:
        if not self.installed:
            sys.addaudithook(self.hook)
            self.installed = True
        self.events = []
        self.on = True
        try:
            yield self.events
        finally:
            self.on = False


AUDIT = _Audit()


def forbidden(events: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The recorded events that mean code ran, a file was opened or a module was imported.

    ``compile`` comes from :func:`ast.parse` and builds a syntax tree only. An ``import`` of a
    SymPy or mpmath submodule is SymPy loading its own code lazily on first use of a feature
    (not user text being run); any other import is forbidden.
    """
    allowed_imports = ("'sympy.", "('sympy'", "'mpmath.", "('mpmath'")
    return [
        (event, args)
        for event, args in events
        if event != "compile" and not (event == "import" and args.startswith(allowed_imports))
    ]


def parse_or_refuse(text: str) -> sp.Expr | None:
    """Parse ``text`` under the audit hook and the timer; None when it is refused.

    Anything but :class:`ExpressionError` escapes and fails the test.
    """
    with hang_guard(PARSE_SECONDS), AUDIT.watching() as events:
        try:
            result: sp.Expr | None = parse_activation(text)
        except ExpressionError:
            result = None
    assert forbidden(events) == [], (text, events)
    return result


def assert_safe_result(text: str, result: sp.Expr | None) -> None:
    """An accepted text is a SymPy expression whose only free symbol is ``x``."""
    if result is None:
        return
    assert isinstance(result, sp.Expr), (text, type(result))
    assert result.free_symbols <= {X}, (text, result)
    assert not result.has(sp.zoo, sp.nan, sp.oo, -sp.oo), (text, result)


# fmt: off
#: Every function and operator once, and the refusals.
WARM_UP = [
    "x/(1+abs(x))", "exp(-x**2) + log(1 + x**2)", "sqrt(x**2+1) - 1", "tanh(x)*sin(x)+cos(x)",
    "2**3*x", "0.1*x", "x**-2", "(x+1)**64", "sqrt(2)*x", "log(2)*exp(3)*x", "sin(10**6)*x",
    "x**0.5", "abs(-3)*x", "cos(1)**64*x", "tanh(1)*x", "exp(exp(10))*x", "(-1)**0.5*x",
    "log(-1)*x", "1/0", "log(0)", "x/(x-x)", "0**-1",
]
# fmt: on


@pytest.fixture(scope="module", autouse=True)
def warm_sympy() -> None:
    """Use every function and operator once, so SymPy's lazy imports happen before auditing."""
    for text in WARM_UP:
        with contextlib.suppress(ExpressionError):
            parse_activation(text)


# Strategies ------------------------------------------------------------------------------------

# fmt: off
DANGEROUS = [
    "__", ".", "import", "__import__", "lambda", "[", "]", "{", "}", "for", " in ", ":", "'", '"',
    ";", "@", "os", "sys", "open", "eval", "exec", "compile", "globals", "locals", "getattr",
    "__class__", "__mro__", "__subclasses__", "__builtins__", "__globals__", "subprocess",
    "system", ",", "=", ":=", " if ", " else ", " not ", " and ", "<", "yield", "await", "f'",
    "\\", "#", "\n", "\t", ".real", "1j", "True", "None", "...", "*", "**", "!", "$", "`",
    "breakpoint", "input", "print", "vars", "dir", "type", "object", "sympify", "S", "Symbol",
]
ALLOWED = [
    "x", "x", "1", "2.5", "0", "10", "+", "-", "*", "/", "**", "(", ")", "(", ")",
    "exp(", "log(", "sqrt(", "tanh(", "sin(", "cos(", "abs(", " ",
]
# fmt: on


@st.composite
def token_soup(draw: st.DrawFn) -> str:
    """Dangerous and allowed tokens in any order."""
    tokens = draw(
        st.lists(
            st.one_of(st.sampled_from(DANGEROUS), st.sampled_from(ALLOWED)),
            min_size=1,
            max_size=25,
        )
    )
    return "".join(tokens)


def grammar(max_leaves: int = 12) -> st.SearchStrategy[str]:
    """Texts in the accepted grammar: numbers, x, operators, parentheses, allowed functions."""
    leaves = st.one_of(
        st.just("x"),
        st.integers(-20, 20).map(str),
        st.sampled_from(["0.5", "1.5", "2.25", "1e-3", "3."]),
    )

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            st.tuples(inner, st.sampled_from(["+", "-", "*", "/"]), inner).map(
                lambda t: f"({t[0]}{t[1]}{t[2]})"
            ),
            st.tuples(inner, st.integers(-4, 4)).map(lambda t: f"({t[0]})**{t[1]}"),
            st.tuples(
                st.sampled_from(["exp", "log", "sqrt", "tanh", "sin", "cos", "abs"]), inner
            ).map(lambda t: f"{t[0]}({t[1]})"),
            inner.map(lambda t: f"-{t}"),
        )

    return st.recursive(leaves, extend, max_leaves=max_leaves)


HOSTILE_WRAPPERS = [
    "{}.__class__",
    "({}).__class__.__mro__[1].__subclasses__()",
    "({}).real",
    "[{}]",
    "[{} for _ in ()]",
    "{{{}}}",
    "lambda: {}",
    "(lambda: {})()",
    "{} if x else 1",
    "__import__('os').system('{}')",
    "exp.__globals__",
    "exp({}).__class__",
    "getattr({}, 'real')",
    "eval('{}')",
    "exec('{}')",
    "open('{}')",
    "{}; import os",
    "{}\nimport os",
    "({} := 1)",
    "f'{{{}}}'",
    "'{}'",
    "{}[0]",
    "{}(1)",
    "exp({}, x)",
    "exp(*[{}])",
    "exp(x={})",
    "y*{}",
    "{}, {}",
    "{}**(10**10**10)",
    "(10**10**10)*{}",
    "{} < x",
    "not {}",
]


@st.composite
def wrapped(draw: st.DrawFn) -> str:
    """A valid expression inside a construct the grammar forbids: always refused."""
    inner = draw(grammar(max_leaves=4))
    return draw(st.sampled_from(HOSTILE_WRAPPERS)).replace("{}", inner)


@st.composite
def huge_powers(draw: st.DrawFn) -> str:
    """Power towers and exponents past the limit: always refused, in milliseconds."""
    base = draw(st.sampled_from(["x", "(x+1)", "2", "10", "exp(x)", "(1+x**2)"]))
    kind = draw(st.sampled_from(["tower", "big", "negative-big"]))
    if kind == "tower":
        height = draw(st.integers(2, 6))
        return base + "**" + "**".join(["10"] * height)
    exponent = draw(st.integers(65, 10**12))
    sign = "-" if kind == "negative-big" else ""
    return f"{base}**({sign}{exponent})"


@st.composite
def deep_nesting(draw: st.DrawFn) -> str:
    """Unary minus and function calls nested past the depth limit of the syntax tree."""
    depth = draw(st.integers(41, 400))
    kind = draw(st.sampled_from(["minus", "calls", "mixed", "parens-and-calls"]))
    if kind == "minus":
        return "-" * depth + "x"
    if kind == "calls":
        return "exp(" * depth + "x" + ")" * depth
    if kind == "mixed":
        return "(-sin(" * depth + "x" + "))" * depth
    return "((cos(" * depth + "x" + ")))" * depth


@st.composite
def deep_parentheses(draw: st.DrawFn) -> str:
    """Parentheses alone, up to far past Python's own limit of 200 nested parentheses."""
    depth = draw(st.integers(1, 1000))
    return "(" * depth + draw(st.sampled_from(["x", "-x", "x+1"])) + ")" * depth


# Properties ------------------------------------------------------------------------------------


@settings(SETTINGS, max_examples=1000)
@given(text=token_soup())
def test_token_soup_is_accepted_safely_or_refused(text: str) -> None:
    """Dangerous and allowed tokens mixed: accepted as a real expression in x, or refused."""
    result = parse_or_refuse(text)
    assert_safe_result(text, result)
    if result is not None:
        # What was accepted uses only the grammar's words.
        words = {w for w in "".join(c if c.isalpha() else " " for c in text).split()}
        assert words <= {"x", "exp", "log", "sqrt", "tanh", "sin", "cos", "abs", "e"}, text


@settings(SETTINGS, max_examples=300)
@given(text=wrapped())
def test_valid_expressions_inside_hostile_constructs_are_refused(text: str) -> None:
    """Attribute chains, lambdas, comprehensions, imports, strings around valid math: refused."""
    assert parse_or_refuse(text) is None, text


@settings(SETTINGS, max_examples=200)
@given(text=st.one_of(huge_powers(), deep_nesting()))
def test_huge_exponents_and_deep_nesting_are_refused_quickly(text: str) -> None:
    """``x**(10**10**10)`` and 400 nested calls: refused, never computed."""
    assert parse_or_refuse(text) is None, text


@settings(SETTINGS, max_examples=100)
@given(text=deep_parentheses())
def test_deep_parentheses_mean_what_is_inside_or_are_refused(text: str) -> None:
    """Parentheses add no syntax node: what is inside, or refused when past the length limit."""
    result = parse_or_refuse(text)
    assert result in (None, X, -X, X + 1), (text, result)
    if len(text) > 300:
        assert result is None


_NUMBER = re.compile(r"(?<![\w.])(\d+\.?\d*(?:e-?\d+)?)")


def _mp_value(text: str, x: str, digits: int) -> mpmath.mpf | None:
    """The value of a grammar text at ``x`` in ``digits``-digit arithmetic, None if undefined.

    Every literal becomes an exact mpmath number first, so the oracle shares no rounding with
    SymPy. This evaluates text the test generated from the grammar (never user input): it is the
    independent meaning the parser is compared against.
    """
    source = _NUMBER.sub(r"mpf('\1')", text)
    with mpmath.workdps(digits):
        names = {
            "x": mpmath.mpf(x),
            "mpf": mpmath.mpf,
            "exp": mpmath.exp,
            "log": mpmath.log,
            "sqrt": mpmath.sqrt,
            "tanh": mpmath.tanh,
            "sin": mpmath.sin,
            "cos": mpmath.cos,
            "abs": abs,
            "__builtins__": {},
        }
        try:
            value = eval(source, names)  # noqa: S307
        except (ValueError, ZeroDivisionError, OverflowError, TypeError):
            return None
        if not isinstance(value, mpmath.mpf) or not mpmath.isfinite(value):
            return None
        return +value


@settings(SETTINGS, max_examples=300)
@given(text=grammar())
def test_grammar_texts_parse_to_the_same_function(text: str) -> None:
    """Texts of the grammar are accepted (unless undefined or too large) and mean what the same
    arithmetic in mpmath says they mean, at two points, to 1e-15 relative."""
    result = parse_or_refuse(text)
    assert_safe_result(text, result)
    if result is None:
        return
    for point in ("0.37", "-1.3"):
        expected = _mp_value(text, point, 50)
        check = _mp_value(text, point, 90)
        if expected is None or check is None:
            continue
        if abs(expected - check) > 1e-30 * max(1, abs(check)):
            continue  # cancellation beyond 50 digits: the oracle itself is not accurate here
        value = complex(result.evalf(40, subs={X: sp.Rational(point)}))
        scale = max(1.0, abs(float(check)))
        assert abs(value.imag) <= 1e-15 * scale, (text, value)
        assert abs(value.real - float(check)) <= 1e-15 * scale, (text, value, check)


# The command line ------------------------------------------------------------------------------

HAND_WRITTEN = [
    "__import__('os').system('touch /tmp/symgrad-pwned')",
    "x.__class__.__mro__[1].__subclasses__()",
    "().__class__.__base__.__subclasses__()",
    "exp.__globals__['__builtins__']['eval']('1')",
    "x.__reduce_ex__(2)",
    "x.conjugate()",
    "x.subs(x, 1)",
    "(lambda: 1)()",
    "[c for c in ().__class__.__mro__]",
    "{x: 1}",
    "{x}",
    "open('/etc/passwd').read()",
    "exec('import os')",
    "eval('1+1')",
    "compile('1', '', 'eval')",
    "globals()",
    "breakpoint()",
    "sympify('x')",
    "S('x')",
    "Symbol('y')",
    "x; import os",
    "x\nimport os",
    "'x'",
    "b'x'",
    "f'{x}'",
    "x**(10**10**10)",
    "10**10**10",
    "x**10**10",
    "(x+1)**(2**100)",
    "x**1e10",
    "exp(exp(exp(exp(10))))*x",
    "(10**6)**64*x",
    "x+(-1)**0.5",
    "sqrt(-1)*x",
    "x*log(-1)",
    "(" * 160 + "x" + ")" * 160,
    "exp(" * 50 + "x" + ")" * 50,
    "ｘ",
    "x\u200b",
    "x + ％",
    "\u0455in(x)",  # Cyrillic dze looks like s
    "x or 1",
    "x if 1 else 0",
    "x @ x",
    "x // 2",
    "x % 2",
    "x << 2",
    "~x",
    "x[0]",
    "x(1)",
    "exp",
    "exp(x)(x)",
    "abs(x, x)",
    "...",
    "None",
    "1e400*x",
    "nan",
    "inf*x",
]


@pytest.mark.parametrize("text", HAND_WRITTEN)
def test_hand_written_attacks_give_status_2_and_run_nothing(text: str) -> None:
    """Through ``main``: status 2, one error line, and the audit hook sees nothing run."""
    out, err = io.StringIO(), io.StringIO()
    with hang_guard(PARSE_SECONDS), contextlib.redirect_stderr(err), AUDIT.watching() as events:
        status = main(["derive", "2", "2", "2", "--activation", text], stdout=out)
    assert status == 2, (text, out.getvalue()[:200])
    assert out.getvalue() == ""
    line = err.getvalue()
    assert line.startswith("symgrad: error: ") and line.count("\n") == 1, line
    assert forbidden(events) == [], events


@settings(SETTINGS, max_examples=200)
@given(text=st.one_of(wrapped(), huge_powers(), deep_nesting()))
def test_hostile_activations_on_the_command_line_give_status_2(text: str) -> None:
    """Every refused construct is exit status 2 and one error line through ``main``."""
    out, err = io.StringIO(), io.StringIO()
    with hang_guard(PARSE_SECONDS), contextlib.redirect_stderr(err), AUDIT.watching() as events:
        status = main(["derive", "2", "2", "2", "--activation", text], stdout=out)
    assert status == 2 and out.getvalue() == ""
    assert err.getvalue().startswith("symgrad: error: ") and err.getvalue().count("\n") == 1
    assert forbidden(events) == [], events
