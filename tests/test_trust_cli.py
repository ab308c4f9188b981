"""The command line under random input (issue #5 item 1).

Property-based tests call ``main(argv)`` in-process with argument lists hypothesis builds: numbers,
negative and huge sizes, floats, unknown names, unicode, empty strings and option soup. Whatever
comes in, the program ends with status 0 (only when everything was valid) or 2 with exactly one
``symgrad: error:`` line on stderr: never a traceback, never a hang (a timer stops any example that
runs for more than :data:`HANG_SECONDS`), never an attempt to allocate an absurd network.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import hang_guard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symgrad import catalogue
from symgrad.cli import main
from symgrad.errors import OutputError

#: An example running longer than this counts as a hang (valid runs here take well under 1 s).
HANG_SECONDS = 20.0
#: hypothesis settings shared by the property tests: a deadline per example, no shrinking storms.
FUZZ = settings(
    deadline=10_000,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    derandomize=False,
)


@dataclass
class Result:
    """What one run of ``main`` did."""

    status: int
    out: str
    err: str


def run_main(argv: list[str]) -> Result:
    """Run ``main(argv)`` in-process, capturing stdout, stderr and ``--help``'s ``SystemExit``.

    Any other exception escapes: that is a traceback a user would see, and fails the test.
    """
    out, err = io.StringIO(), io.StringIO()
    with (
        hang_guard(HANG_SECONDS),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        try:
            status = main(argv, stdout=out)
        except SystemExit as exited:  # --help and --version end through argparse
            assert exited.code == 0, f"SystemExit({exited.code!r}) for {argv!r}"
            status = 0
    return Result(status, out.getvalue(), err.getvalue())


def assert_one_error_line(result: Result, argv: list[str]) -> None:
    """Status 2, nothing on stdout, and exactly one ``symgrad: error:`` line on stderr."""
    assert result.status == 2, (argv, result)
    assert result.out == "", (argv, result.out[:200])
    assert result.err.startswith("symgrad: error: "), (argv, result.err)
    assert result.err.endswith("\n") and result.err.count("\n") == 1, (argv, result.err)
    assert "Traceback" not in result.err
    assert len(result.err) > len("symgrad: error: ") + 10, "the message says what to change"


# Strategies ------------------------------------------------------------------------------------

#: Text a real command line can carry: anything but NUL (argv strings are C strings), including
#: the lone surrogates Python uses for undecodable bytes.
ARG_CHARS = st.characters(blacklist_characters="\x00", blacklist_categories=())
ANY_TEXT = st.text(ARG_CHARS, max_size=12)

VALID_SIZE_TEXT = ["1", "2", "3", " 2", "3 ", "02", "0001"]
# fmt: off
BAD_SIZE_TEXT = [
    "0", "00", "-1", "-3", "1.5", "2.0", "1e3", "+2", "0x3", "0b1", "1_000", "３", "٣", "²", "",
    " ", "three", "nan", "inf", "-inf", "None", "True", "\udcff", "2\n3", "2 3", "9" * 5000,
    "0" * 3000 + "1" * 50, "100001", "4294967297", "1000000000", str(10**18), "-" + "9" * 100,
]
# fmt: on


@st.composite
def bad_size(draw: st.DrawFn) -> str:
    """A size token that is not a positive integer up to the supported maximum."""
    return draw(
        st.one_of(
            st.sampled_from(BAD_SIZE_TEXT),
            st.integers(max_value=0).map(str),
            st.integers(min_value=100_001, max_value=10**40).map(str),
            st.floats(allow_nan=True, allow_infinity=True).map(repr),
            # Not starting with "-": "-h", "--" or "-oFILE" would be options, not sizes.
            ANY_TEXT.filter(
                lambda t: (
                    (not t.strip().isdigit() or not t.strip().isascii()) and not t.startswith("-")
                )
            ),
        )
    )


#: Small networks only, so a valid run stays well under a second.
SMALL_SIZES = st.one_of(
    st.lists(st.integers(1, 3), min_size=2, max_size=3),
    st.lists(st.integers(1, 2), min_size=4, max_size=4),
)

# fmt: off
VALID_ACTIVATIONS = [
    "sigmoid", "tanh", "relu", "leaky-relu", "softplus", "identity", " tanh ", "x/(1+abs(x))",
    "x**2", "0.5*x", "log(1+exp(x))", "sqrt(x**2+1)", "x",
]
# fmt: on

# fmt: off
BAD_ACTIVATIONS = [
    "", " ", "sigmoidal", "ReLU", "Tanh", "swish", "x.__class__", "__import__('os')", "y", "x**x",
    "x**(10**10**10)", "1/0", "log(0)", "(lambda: x)()", "[x for x in ()]", "x;1", "exec('x')",
    "open('/etc/passwd')", "x\u00a0+1", "∞", "(" * 200 + "x" + ")" * 200, "x" * 400, "tanh,", ",",
    "relu,,relu",
]
# fmt: on
OUTPUT_NAMES = [*catalogue.OUTPUTS, " softmax", "Softmax", "", "linear", "softmax,sigmoid"]
LOSS_NAMES = [*catalogue.LOSSES, "cross-entropy ", "mse", "", "cross_entropy", "nll"]


@dataclass
class Request:
    """A structured command line and whether symgrad must accept it."""

    argv: list[str]
    valid: bool
    out_file: Path | None = None
    reasons: list[str] = field(default_factory=list)


def _pair_valid(output: str | None, loss: str | None) -> bool:
    """The output/loss rule of the catalogue, with the defaults of ``NetworkSpec.parse``."""
    out = output.strip() if output is not None else None
    los = loss.strip() if loss is not None else None
    if out is None and los is None:
        return True
    if los is None:
        return out in catalogue.OUTPUTS
    if out is None:
        return los in catalogue.LOSSES
    return (out, los) in catalogue.PAIRS


def _resolved_output(output: str | None, loss: str | None) -> str:
    """The output function ``NetworkSpec.parse`` settles on for a valid pair."""
    if output is not None:
        return output.strip()
    return catalogue.default_output(loss.strip()) if loss is not None else "softmax"


def _one_output_unit(sizes: list[str]) -> bool:
    """True when the last size reads as 1 (a softmax over it is refused)."""
    text = sizes[-1].strip().lstrip("0")
    return text == "1"


@st.composite
def requests(draw: st.DrawFn, folder: Path) -> Request:
    """A command line of known validity: each part is drawn valid or invalid on purpose."""
    reasons: list[str] = []
    command = draw(st.sampled_from(["derive", "latex", "markdown", "codegen"]))
    sizes = [str(n) for n in draw(SMALL_SIZES)]
    if draw(st.booleans()):
        sizes = [draw(st.sampled_from(VALID_SIZE_TEXT)) if s == "2" else s for s in sizes]
    if draw(st.integers(0, 3)) == 0:
        sizes[draw(st.integers(0, len(sizes) - 1))] = draw(bad_size())
        reasons.append("size")
    if draw(st.integers(0, 9)) == 0:
        sizes = sizes[:1]
        reasons.append("one size")
    depth = len(sizes) - 1
    options: list[str] = []

    activation_kind = draw(st.sampled_from(["none", "valid", "bad", "list"]))
    if activation_kind == "valid":
        options.append("--activation=" + draw(st.sampled_from(VALID_ACTIVATIONS)))
    elif activation_kind == "bad":
        options.append("--activation=" + draw(st.sampled_from(BAD_ACTIVATIONS)))
        reasons.append("activation")
    elif activation_kind == "list":
        names = draw(st.lists(st.sampled_from(VALID_ACTIVATIONS[:6]), min_size=2, max_size=3))
        options.append("--activation=" + ",".join(names))
        if len(names) != depth - 1:
            reasons.append("activation count")

    output = draw(st.none() | st.sampled_from(OUTPUT_NAMES))
    loss = draw(st.none() | st.sampled_from(LOSS_NAMES))
    if output is not None:
        options.append(f"--output={output}")
    if loss is not None:
        options.append(f"--loss={loss}")
    if not _pair_valid(output, loss):
        reasons.append("output/loss")
    elif _resolved_output(output, loss) == "softmax" and _one_output_unit(sizes):
        reasons.append("softmax over one unit")

    proof = draw(st.sampled_from([None, "auto", "numeric", "composed", "exact"]))
    if proof is not None:
        options.append(f"--proof={proof}")
        if proof == "exact":
            reasons.append("proof")

    if command == "latex" and draw(st.booleans()):
        options.append("--fragment")
    if command == "codegen":
        style = draw(st.sampled_from([None, "vectorized", "unrolled", "fast"]))
        if style is not None:
            options.append(f"--style={style}")
            if style == "fast":
                reasons.append("style")

    out_file: Path | None = None
    target = draw(st.sampled_from(["stdout", "stdout", "file", "missing-dir", "dir", "under-file"]))
    if target != "stdout":
        path = {
            "file": folder / "out.txt",
            "missing-dir": folder / "no-such-dir" / "out.txt",
            "dir": folder,
            "under-file": folder / "regular-file" / "out.txt",
        }[target]
        options.append(f"--output-file={path}")
        if target == "file" and command != "derive":
            out_file = path
        else:
            reasons.append("-o")
    if draw(st.integers(0, 9)) == 0:
        options.append(draw(st.sampled_from(["--bogus", "--verbose", "-x", "--style=vectorized"])))
        if not (command == "codegen" and options[-1] == "--style=vectorized"):
            reasons.append("unknown option")
    order = draw(st.permutations(options))
    return Request([command, *sizes, *order], not reasons, out_file, reasons)


@pytest.fixture(scope="module")
def warm() -> None:
    """Import every renderer once, so the first example is not charged for imports."""
    for argv in (
        ["derive", "1", "2"],
        ["latex", "1", "2"],
        ["markdown", "1", "2"],
        ["codegen", "1", "2"],
        ["codegen", "1", "2", "--style", "unrolled"],
    ):
        assert run_main(argv).status == 0


@settings(FUZZ, max_examples=300)
@given(data=st.data())
def test_structured_command_lines_end_in_0_or_one_error_line(
    data: st.DataObject, warm: None
) -> None:
    """Status 0 exactly when every part of the command line is valid; else one error line."""
    with tempfile.TemporaryDirectory() as name, contextlib.chdir(name):
        folder = Path(name)
        (folder / "regular-file").write_text("not a directory\n")
        request = data.draw(requests(folder))
        result = run_main(request.argv)
        if request.valid:
            assert result.status == 0, (request, result.err)
            assert result.err == ""
            if request.out_file is not None:
                assert result.out == ""
                assert request.out_file.read_text(encoding="utf-8").strip()
            else:
                assert result.out.strip()
        else:
            assert_one_error_line(result, request.argv)
        leftovers = [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]
        assert leftovers == []


# fmt: off
SOUP_WORDS = [
    "derive", "latex", "markdown", "codegen", "check", "help", "Derive", "", "--activation",
    "--output", "--loss", "--proof", "--style", "--fragment", "-o", "--output-file", "--act",
    "--out", "--lo", "--", "-", "--bogus", "-h", "--help", "--version", "sigmoid", "tanh", "relu",
    "softmax", "identity", "cross-entropy", "squared-error", "binary-cross-entropy", "numeric",
    "composed", "unrolled", "vectorized", "x/(1+abs(x))", "__import__('os')", "x.__class__",
    "x**(10**10**10)", "notes.tex", "out.py", "sub/out.md", ".", "..",
    "example", "slides", "--example", "--seed", "--format", "json", "text", "-1",
]
# fmt: on


@st.composite
def soup(draw: st.DrawFn) -> list[str]:
    """Option soup: commands, sizes, options and values in any order and number."""
    token = st.one_of(
        st.sampled_from(SOUP_WORDS),
        st.integers(1, 3).map(str),
        bad_size(),
        ANY_TEXT,
    )
    words = draw(st.lists(token, max_size=9))
    if words and draw(st.booleans()):
        words[0] = draw(
            st.sampled_from(
                ["derive", "latex", "markdown", "codegen", "check", "example", "slides"]
            )
        )
    return words


@settings(FUZZ, max_examples=1000)
@given(argv=soup())
def test_option_soup_never_raises(
    argv: list[str], warm: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Any argument list: status 0, or 2 with one error line; never an exception, never a hang."""
    written: list[str] = []

    def record(path: str | os.PathLike[str], data: str | bytes) -> None:
        # Random -o values must not write into the repository; the real writer has its own tests.
        if not os.fspath(path):
            raise OutputError("the output file name is empty; give a file name after -o")
        written.append(os.fspath(path))

    with tempfile.TemporaryDirectory() as name:
        monkeypatch.chdir(name)
        monkeypatch.setattr("symgrad.fileio.write_atomic", record)
        result = run_main(argv)
    if argv and argv[0] == "check":
        assert result.status in {0, 1, 2}, (argv, result)
    else:
        assert result.status in {0, 2}, (argv, result)
    if result.status == 2:
        assert_one_error_line(result, argv)
    else:
        assert "Traceback" not in result.err
        assert result.err == "" or "--help" in argv or "-h" in argv


# check with random files -----------------------------------------------------------------------


class ModuleText(str):
    """The text of a generated module, shown short in hypothesis's reports."""

    def __repr__(self) -> str:
        return f"<generated module, {len(self)} characters>"


@pytest.fixture(scope="module")
def generated_module(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The text of a real generated module, to corrupt."""
    path = tmp_path_factory.mktemp("gen") / "net.py"
    assert main(["codegen", "2", "2", "-o", str(path)]) == 0
    return ModuleText(path.read_text(encoding="utf-8"))


#: How a file given to ``symgrad check`` is made, and the statuses it may end with.
CHECK_FILE_KINDS: dict[str, set[int]] = {
    "random": {2},
    "header+random": {2},
    "truncated": {1, 2},
    "line-dropped": {0, 1, 2},
    "intact": {0},
}


@st.composite
def check_files(draw: st.DrawFn) -> tuple[str, int, str]:
    """How to make a file for ``symgrad check``: a kind, a position, and random text.

    Small values, so that a failing example prints short; :func:`make_check_file` builds it.
    """
    kind = draw(st.sampled_from(sorted(CHECK_FILE_KINDS)))
    position = draw(st.integers(0, 10**6))
    text = draw(st.text(ARG_CHARS, max_size=200)) if "random" in kind else ""
    return kind, position, text


def make_check_file(module: str, kind: str, position: int, text: str) -> str:
    """The content of the file described by :func:`check_files` for a generated ``module``."""
    lines = module.splitlines(keepends=True)
    if kind == "random":
        return text
    if kind == "header+random":
        return lines[0] + text
    if kind == "truncated":
        return module[: position % len(module)]
    if kind == "line-dropped":
        drop = 1 + position % (len(lines) - 1)
        return "".join(lines[:drop] + lines[drop + 1 :])
    return module


@pytest.mark.sandbox
@settings(FUZZ, max_examples=60)
@given(how=check_files())
def test_check_of_random_and_damaged_files(
    how: tuple[str, int, str], generated_module: str, warm: None
) -> None:
    """``symgrad check`` on random text, damaged modules and intact ones: 0, 1 or one error line."""
    text = make_check_file(generated_module, *how)
    # The same path for every example (a fresh folder each time, so no stale bytecode): a
    # traceback then points at the same file when hypothesis replays a failure.
    folder = Path(tempfile.gettempdir()) / f"symgrad-trust-check-{os.getpid()}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    try:
        path = folder / "candidate.py"
        # surrogatepass writes any lone surrogate as bytes that are not valid UTF-8, which the
        # checker must refuse like any other file that is not a generated module.
        path.write_bytes(text.encode("utf-8", errors="surrogatepass"))
        result = run_main(["check", str(path)])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert result.status in CHECK_FILE_KINDS[how[0]], (result, text[:300])
    if result.status == 2:
        assert_one_error_line(result, ["check", str(path)])
    else:
        assert "Traceback" not in result.err


@pytest.mark.parametrize(
    "path", ["/nonexistent/module.py", "/", "/dev/null", "/dev/zero", "", "\udcff.py"]
)
def test_check_of_special_paths(path: str) -> None:
    """Missing files, directories, endless devices and empty names give one error line, fast.

    Run in a child process with 2 GB of address space: a ``check`` that reads ``/dev/zero``
    whole would otherwise take the machine's memory (a MemoryError there is a failure too).
    """
    code = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))\n"
        "from symgrad.cli import main\n"
        "sys.exit(main(['check', sys.argv[1]]))\n"
    )
    env = {**os.environ, "PYTHONIOENCODING": "utf-8:surrogateescape"}
    child = subprocess.run(
        [sys.executable, "-c", code, path],
        capture_output=True,
        text=True,
        env=env,
        timeout=HANG_SECONDS,
        check=False,
        errors="surrogateescape",
    )
    result = Result(child.returncode, child.stdout, child.stderr)
    assert_one_error_line(result, ["check", path])
    assert "memory" not in result.err


# Absurd sizes, memory and pipes ----------------------------------------------------------------


@pytest.mark.parametrize(
    "sizes",
    [
        ["1000000000", "10"],
        ["10", "1000000000"],
        ["100000", "100000"],
        ["100000", "1000", "10"],
        ["9" * 5000, "2"],
        ["2"] * 70,
    ],
)
def test_absurd_networks_are_refused_before_any_work(sizes: list[str]) -> None:
    """A billion-unit layer or a 10^10-parameter network: an error in milliseconds, not an OOM."""
    for command in ("derive", "latex", "markdown", "codegen"):
        argv = [command, *sizes]
        with hang_guard(2.0):
            result = run_main(argv)
        assert_one_error_line(result, argv)
        assert "supported" in result.err


@pytest.mark.parametrize(
    "argv",
    [
        ["derive", "10", "8", "1", "--output", "sigmoid"],  # a binary classifier, numeric proof
        ["derive", "2", "2", "1", "--output", "sigmoid", "--proof", "numeric"],
        ["latex", "3", "3", "3", "1", "--output", "identity"],
    ],
)
def test_valid_networks_with_one_output_unit_run(argv: list[str]) -> None:
    """One output unit behind a hidden layer is a valid network: status 0 with any proof."""
    result = run_main(argv)
    assert (result.status, result.err) == (0, ""), result.err


@pytest.mark.parametrize("command", ["derive", "latex", "markdown", "codegen"])
@pytest.mark.parametrize("sizes", [["2", "1"], ["3", "4", "1"]])
def test_a_softmax_over_one_unit_is_refused_by_every_command(
    command: str, sizes: list[str]
) -> None:
    """The softmax of one unit is the constant 1: refused, pointing to --output sigmoid."""
    result = run_main([command, *sizes])
    assert_one_error_line(result, [command, *sizes])
    assert "--output sigmoid" in result.err


@pytest.mark.parametrize("sizes", [["10", "300"], ["784", "128", "10"]])
def test_wide_layers_finish_in_reasonable_time(sizes: list[str]) -> None:
    """Valid but wide networks (300 classes, MNIST size) finish, or are refused, quickly.

    A child process with a timeout, so that a hang fails this test instead of the run.
    """
    try:
        child = subprocess.run(
            [sys.executable, "-m", "symgrad", "derive", *sizes],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"symgrad derive {' '.join(sizes)} ran for more than 30 s")
    assert child.returncode in {0, 2}, child.stderr[-2000:]
    assert "Traceback" not in child.stderr


def test_memory_error_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """Running out of memory anyway ends with status 2 and a line that says what to change."""

    def exhausted(*args: object, **kwargs: object) -> None:
        raise MemoryError

    monkeypatch.setattr("symgrad.pipeline.derive", exhausted)
    result = run_main(["derive", "3", "2"])
    assert_one_error_line(result, ["derive", "3", "2"])
    assert "smaller layer sizes" in result.err


def test_recursion_error_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """A RecursionError deep in SymPy is reported as input too deeply nested, in one line."""

    def too_deep(*args: object, **kwargs: object) -> None:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr("symgrad.pipeline.derive", too_deep)
    assert_one_error_line(run_main(["derive", "3", "2"]), ["derive", "3", "2"])


class _ClosedPipe(io.StringIO):
    """A stdout whose reader went away (``symgrad latex ... | head``)."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_closed_pipe_ends_quietly() -> None:
    """A closed pipe ends the program quietly with 141 (128 + SIGPIPE), without a traceback."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        status = main(["derive", "3", "2"], stdout=_ClosedPipe())
    assert status == 141
    assert err.getvalue() == ""


def test_empty_output_file_name_is_an_error(tmp_path: Path) -> None:
    """``-o ''`` is a mistake to report, not a request to print to stdout."""
    result = run_main(["latex", "3", "2", "-o", ""])
    assert_one_error_line(result, ["latex", "3", "2", "-o", ""])
    assert "file name" in result.err


def test_empty_activation_is_an_error() -> None:
    """``--activation ''`` is reported, not silently taken for the default sigmoid."""
    result = run_main(["derive", "3", "3", "2", "--activation", ""])
    assert_one_error_line(result, ["derive", "3", "3", "2", "--activation", ""])
