"""Shared fixtures and named network specs for the test-suite."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, ModuleType

import pytest
from hypothesis import settings

from symgrad.spec import NetworkSpec

#: The built-in hidden activations of the catalogue, then a custom expression.
BUILTIN_ACTIVATIONS = ["sigmoid", "tanh", "relu", "leaky-relu", "softplus", "identity"]
ACTIVATIONS = [*BUILTIN_ACTIVATIONS, "x/(1+abs(x))"]
#: The output/loss pairs of the catalogue.
PAIRS = [
    ("softmax", "cross-entropy"),
    ("sigmoid", "binary-cross-entropy"),
    ("softmax", "squared-error"),
    ("sigmoid", "squared-error"),
    ("identity", "squared-error"),
]


@dataclass(frozen=True)
class Named:
    """A network spec with a readable test id."""

    id: str
    sizes: tuple[int, ...]
    activation: str | None = None
    output: str | None = None
    loss: str | None = None
    #: The layer kinds' options by their name (``(("residual", True),)``).
    kinds: tuple[tuple[str, object], ...] = ()

    def spec(self) -> NetworkSpec:
        return NetworkSpec.parse(
            list(self.sizes), self.activation, self.output, self.loss, kinds=dict(self.kinds)
        )

    @property
    def builtin(self) -> bool:
        """True when every hidden activation is a catalogue name (no custom expression)."""
        return all(a.builtin for a in self.spec().activations)


#: Small networks: depth 1 to 3, width 1, every activation and every output/loss pair.
SMALL_NETS = (
    [Named(f"3-3-2-{a}", (3, 3, 2), activation=a) for a in ACTIVATIONS]
    + [Named(f"2-3-2-{o}-{lo}", (2, 3, 2), output=o, loss=lo) for o, lo in PAIRS]
    + [
        Named("single-layer-3-2", (3, 2)),
        Named("width-1", (1, 1, 1), output="identity", loss="squared-error"),
        Named("depth-3-mixed", (2, 2, 2, 2), activation="tanh,relu"),
    ]
)


# In CI the property tests draw the same examples every run (reproducible, and a green run
# stays green); on a developer's machine they draw new ones each time, to keep finding bugs.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-generated",
        action="store_true",
        help="rewrite generated/ from the current code instead of failing on a difference",
    )


class Hang(BaseException):
    """Raised by :func:`hang_guard` in a block that runs too long (not an ``Exception``, so no
    ``except Exception`` in the code under test can swallow it)."""


@contextlib.contextmanager
def hang_guard(seconds: float) -> Iterator[None]:
    """Fail the block with :class:`Hang` if it runs longer than ``seconds`` (SIGALRM timer)."""

    def fire(signum: int, frame: FrameType | None) -> None:
        raise Hang(f"ran for more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "sandbox: runs symgrad check, which needs bubblewrap and user namespaces (skipped, saying "
        "why, where the sandbox cannot be built)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the tests marked ``sandbox`` where ``symgrad check``'s sandbox cannot be built (the
    reason is the line ``symgrad check`` itself would give)."""
    marked = [item for item in items if item.get_closest_marker("sandbox")]
    if not marked:
        return
    from symgrad.check.bwrap import availability

    problem = availability()
    if problem is None:
        return
    skip = pytest.mark.skip(reason=problem)
    for item in marked:
        item.add_marker(skip)


@pytest.fixture
def victim() -> Iterator[subprocess.Popen[bytes]]:
    """A process of the test's own, for checked code to attack (``symgrad check``'s tests)."""
    process = subprocess.Popen(["sleep", "120"])
    yield process
    process.kill()
    process.wait()


def import_file(path: Path) -> ModuleType:
    """The module in the file ``path``, imported under its stem."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """``symgrad ARGV`` in this process: its exit status, stdout and stderr."""
    from symgrad.cli import main

    out, err = io.StringIO(), io.StringIO()
    saved = sys.stderr
    sys.stderr = err
    try:
        status = main(argv, stdout=out)
    finally:
        sys.stderr = saved
    return status, out.getvalue(), err.getvalue()


def check_cli(path: Path) -> tuple[int, str]:
    """``symgrad check PATH`` in this process: its exit status and report."""
    status, out, _ = run_cli(["check", str(path)])
    return status, out


#: The lines of ``symgrad check`` that judge a file's functions with sample weights.
WEIGHTS_JUDGED = (
    "ok    with sample weights and reduction='none' on a batch of",
    "ok    loss(..., reduction='none') gives each row's loss as loss of that row alone",
    "ok    loss with sample_weight is sum_s w_s L(s) / sum_s w_s of the rows' losses",
    "ok    the gradients with sample_weight agree with central differences",
    "ok    input_gradient with sample_weight agrees with central differences",
)
