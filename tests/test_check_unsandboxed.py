"""``symgrad check`` where its sandbox cannot be built, and ``--unsandboxed``.

Where bubblewrap is missing, or cannot create user namespaces (Docker's default profile, some
CI runners), the check refuses to run the file with one line that says what to install or
enable; ``--unsandboxed`` runs it anyway, with a warning line, the limits, an empty
environment, the audit hook and the system-call filter. These tests make the machine look like
such a machine (a ``PATH`` without ``bwrap``, or a ``bwrap`` that fails as it does there), so
they run everywhere; the last one shows that without bubblewrap's namespaces it is the filter
that stops a call reaching another process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from symgrad.check import seccomp
from symgrad.check.run import check_file
from symgrad.codegen import generate_module
from symgrad.errors import ModuleCheckError
from symgrad.pipeline import derive
from symgrad.spec import NetworkSpec


@pytest.fixture(scope="module")
def module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("unsandboxed") / "mlp.py"
    path.write_text(generate_module(derive(NetworkSpec.parse([2, 3, 2]), prove=False)))
    return path


def check(path: Path, *options: str, bin_folder: Path) -> subprocess.CompletedProcess[str]:
    """``symgrad check`` with ``bin_folder`` as the whole ``PATH`` (the interpreter is named
    by its full path; a NumPy module needs no compiler)."""
    environment = {**os.environ, "PATH": str(bin_folder)}
    return subprocess.run(
        [sys.executable, "-m", "symgrad", "check", str(path), *options],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )


def test_without_bubblewrap_the_check_refuses_with_one_line(module: Path, tmp_path: Path) -> None:
    done = check(module, bin_folder=tmp_path)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith("symgrad: error: sandbox unavailable: bubblewrap is not ")
    assert done.stderr.count("\n") == 1
    assert "apt-get install bubblewrap" in done.stderr and "--unsandboxed" in done.stderr


def test_without_user_namespaces_the_check_refuses_with_one_line(
    module: Path, tmp_path: Path
) -> None:
    """A ``bwrap`` that fails as it does where user namespaces are forbidden."""
    fake = tmp_path / "bwrap"
    fake.write_text(
        textwrap.dedent(
            """\
            #!/bin/sh
            echo "bwrap: No permissions to create a new namespace, likely because the kernel \
            does not allow non-privileged user namespaces." >&2
            exit 1
            """
        )
    )
    fake.chmod(0o755)
    done = check(module, bin_folder=tmp_path)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith("symgrad: error: sandbox unavailable: bubblewrap cannot build")
    assert "No permissions to create a new namespace" in done.stderr
    assert "user namespaces" in done.stderr and "--unsandboxed" in done.stderr
    assert done.stderr.count("\n") == 1


def test_unsandboxed_runs_with_a_warning(module: Path, tmp_path: Path) -> None:
    done = check(module, "--unsandboxed", bin_folder=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr.startswith("symgrad: warning: --unsandboxed: ")
    assert done.stderr.count("\n") == 1 and "only on code you trust" in done.stderr
    assert "UNSANDBOXED" in done.stdout and "an allowlist system-call filter" in done.stdout
    assert done.stdout.rstrip().endswith("PASS")


def in_loss(text: str, line: str) -> str:
    """The module ``text`` with ``line`` first in ``loss``'s body (after its docstring)."""
    start = text.index("\ndef loss(")
    after = text.index('"""', text.index('"""', start) + 3) + 3
    return text[:after] + f"\n    {line}" + text[after:]


def test_unsandboxed_still_refuses_a_shell(module: Path, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    path = tmp_path / "shell.py"
    path.write_text(in_loss(module.read_text(), f"__import__('os').system('touch {marker}')"))
    done = check(path, "--unsandboxed", bin_folder=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "tried to run a shell command" in done.stderr
    assert not marker.exists()


def test_without_namespaces_the_filter_is_what_stops_a_call(
    module: Path,
    tmp_path: Path,
    victim: subprocess.Popen[bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``os.setpriority`` on another process (no audit event covers it), run with
    ``--unsandboxed`` (no PID namespace hides the victim): refused with the filter; with the
    filter weakened to allow ``setpriority``, the victim is reniced."""
    attack = f"__import__('os').setpriority(0, {victim.pid}, 19)"
    path = tmp_path / "renice.py"
    path.write_text(in_loss(module.read_text(), attack))
    before = os.getpriority(os.PRIO_PROCESS, victim.pid)
    with pytest.raises(ModuleCheckError, match="system call the sandbox does not allow"):
        check_file(path, unsandboxed=True)
    assert os.getpriority(os.PRIO_PROCESS, victim.pid) == before
    weakened = [*seccomp.PROFILES["run"], seccomp.Rule("setpriority")]
    monkeypatch.setitem(seccomp.PROFILES, "run", weakened)
    seccomp.program.cache_clear()
    try:
        check_file(path, unsandboxed=True)
    except ModuleCheckError:
        pass
    finally:
        seccomp.program.cache_clear()
    assert os.getpriority(os.PRIO_PROCESS, victim.pid) == 19
