"""No half-written files (issue #5 item 3).

``-o FILE`` renders the whole text first, writes it to a temporary file beside the target, flushes
it to disk and renames it over the target. These tests make each stage fail (the renderer, the
write, the flush, the rename, an interrupt) and show the old file intact and no temporary file left;
unwritable and missing directories give status 2 and one error line. Tests run as root in CI, where
``chmod`` does not stop writes, so the unwritable targets there are ones root cannot write either.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from symgrad import fileio
from symgrad.cli import main
from symgrad.errors import OutputError, SpecError
from symgrad.fileio import write_atomic

OLD = "% the lecturer's own notes, which must survive any failure\n"

#: (command, renderer module, renderer name) for every command that takes -o.
RENDERERS = [
    ("latex", "symgrad.render.notes", "render_latex"),
    ("markdown", "symgrad.render.notes", "render_markdown"),
    ("codegen", "symgrad.codegen", "generate"),
]


def run(argv: list[str]) -> tuple[int, str, str]:
    """``main(argv)`` with stdout and stderr captured."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err):
        status = main(argv, stdout=out)
    return status, out.getvalue(), err.getvalue()


def assert_one_error_line(status: int, out: str, err: str) -> None:
    assert status == 2, err
    assert out == ""
    assert err.startswith("symgrad: error: ") and err.count("\n") == 1 and err.endswith("\n")
    assert "Traceback" not in err


def leftovers(folder: Path) -> list[str]:
    """Temporary files of write_atomic still in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    """An existing output file with the user's content."""
    path = tmp_path / "notes.out"
    path.write_text(OLD, encoding="utf-8")
    return path


# The renderer fails midway ---------------------------------------------------------------------


@pytest.mark.parametrize(("command", "module", "name"), RENDERERS)
def test_renderer_failing_midway_leaves_the_old_file(
    command: str, module: str, name: str, notes: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A renderer that has produced part of its text and then fails never touches the file."""
    produced: list[str] = []

    def half_rendered(*args: Any, **kwargs: Any) -> str:
        produced.append("% the first half of the output\n")
        raise SpecError("the renderer failed halfway")

    monkeypatch.setattr(f"{module}.{name}", half_rendered)
    status, out, err = run([command, "3", "2", "-o", str(notes)])
    assert produced, "the renderer was reached"
    assert_one_error_line(status, out, err)
    assert notes.read_text(encoding="utf-8") == OLD
    assert leftovers(notes.parent) == []


@pytest.mark.parametrize(("command", "module", "name"), RENDERERS)
def test_renderer_crashing_leaves_the_old_file(
    command: str, module: str, name: str, notes: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even a bug (an unexpected exception) in a renderer leaves the old file as it was, and is
    reported as one "internal error" line with exit status 70, not a traceback."""

    def crash(*args: Any, **kwargs: Any) -> str:
        raise RuntimeError("a bug in the renderer")

    monkeypatch.setattr(f"{module}.{name}", crash)
    status, out, err = run([command, "3", "2", "-o", str(notes)])
    assert status == 70 and out == ""
    assert err.startswith("symgrad: error: internal error (RuntimeError: a bug in the renderer)")
    assert err.count("\n") == 1 and "Traceback" not in err
    assert notes.read_text(encoding="utf-8") == OLD
    assert leftovers(notes.parent) == []


# The disk write fails --------------------------------------------------------------------------


def _enospc(*args: Any, **kwargs: Any) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


class _FullDisk(io.BufferedWriter):
    """A file that accepts the first 100 bytes and then reports a full disk."""

    def write(self, data: Any) -> int:
        written = super().write(bytes(data[:100]))
        super().flush()
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), written)


def _full_disk_fdopen(fd: int, mode: str = "r", *args: Any, **kwargs: Any) -> io.BufferedWriter:
    return _FullDisk(io.FileIO(fd, "wb"))


@pytest.mark.parametrize(
    ("what", "target", "replacement"),
    [
        ("write", "fdopen", _full_disk_fdopen),
        ("fsync", "fsync", _enospc),
        ("rename", "replace", _enospc),
        ("chmod", "chmod", _enospc),
    ],
)
@pytest.mark.parametrize("command", ["latex", "markdown", "codegen"])
def test_disk_failure_leaves_the_old_file_and_no_temporary(
    command: str,
    what: str,
    target: str,
    replacement: Callable[..., Any],
    notes: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ENOSPC in the write, the flush to disk or the rename: status 2, old file whole."""
    monkeypatch.setattr(fileio.os, target, replacement)
    status, out, err = run([command, "3", "2", "-o", str(notes)])
    assert_one_error_line(status, out, err)
    assert "No space left on device" in err
    assert str(notes) in err
    assert notes.read_text(encoding="utf-8") == OLD
    assert leftovers(notes.parent) == []


def test_interrupt_during_the_write_removes_the_temporary(
    notes: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C between the write and the rename: the old file stays, the temporary goes."""

    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(fileio.os, "fsync", interrupted)
    status, out, err = run(["latex", "3", "2", "-o", str(notes)])
    assert status == 130 and err == "symgrad: error: interrupted\n"
    assert notes.read_text(encoding="utf-8") == OLD
    assert leftovers(notes.parent) == []


def test_the_temporary_is_beside_the_target_and_renamed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The text goes to a hidden ``.NAME.*.tmp`` in the target's folder, then one rename."""
    renames: list[tuple[str, str]] = []
    real_replace = os.replace

    def recording_replace(source: Any, destination: Any) -> None:
        renames.append((os.fspath(source), os.fspath(destination)))
        assert Path(source).read_text(encoding="utf-8").startswith("%")  # complete already
        real_replace(source, destination)

    monkeypatch.setattr(fileio.os, "replace", recording_replace)
    target = tmp_path / "notes.tex"
    assert run(["latex", "3", "2", "-o", str(target)])[0] == 0
    assert len(renames) == 1
    source, destination = renames[0]
    assert Path(source).parent == tmp_path
    assert Path(source).name.startswith(".notes.tex.") and source.endswith(".tmp")
    assert Path(destination) == target
    assert target.read_text(encoding="utf-8").startswith("%")
    assert leftovers(tmp_path) == []


def test_output_equals_stdout_and_replaces_the_old_file(notes: Path) -> None:
    """A successful -o writes exactly what stdout would show, replacing the old content."""
    status, printed, _ = run(["markdown", "2", "2"])
    assert status == 0
    assert run(["markdown", "2", "2", "-o", str(notes)]) == (0, "", "")
    assert notes.read_bytes() == printed.encode("utf-8")


def test_permissions_of_a_replaced_file_are_kept(notes: Path) -> None:
    """Replacing a file keeps the mode the user gave it; a new file gets 0666 minus the umask."""
    notes.chmod(0o640)
    assert run(["latex", "3", "2", "-o", str(notes)])[0] == 0
    assert stat.S_IMODE(notes.stat().st_mode) == 0o640
    fresh = notes.parent / "fresh.tex"
    umask = os.umask(0o022)
    try:
        assert run(["latex", "3", "2", "-o", str(fresh)])[0] == 0
    finally:
        os.umask(umask)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o644


# Paths that cannot be written ------------------------------------------------------------------


def _unwritable_directory(tmp_path: Path) -> Path:
    """A directory this process cannot create files in, also when it runs as root."""
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        return locked
    # Root ignores permission bits; /proc refuses new files to everyone.
    return Path("/proc")


def test_unwritable_directory_is_status_2(tmp_path: Path) -> None:
    folder = _unwritable_directory(tmp_path)
    try:
        status, out, err = run(["latex", "3", "2", "-o", str(folder / "notes.tex")])
        assert_one_error_line(status, out, err)
        assert "cannot write" in err
        assert not (folder / "notes.tex").exists()
    finally:
        if folder.is_relative_to(tmp_path):
            folder.chmod(0o700)


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda tmp: tmp / "missing" / "notes.tex", "does not exist"),
        (lambda tmp: tmp / "missing" / "deeper" / "notes.tex", "does not exist"),
        (lambda tmp: tmp, "is a directory"),
        (lambda tmp: tmp / "plain-file" / "notes.tex", "cannot write"),
        (lambda tmp: tmp / ("n" * 300 + ".tex"), "cannot write"),
        (lambda tmp: Path("/proc/self/notes.tex"), "cannot write"),
        (lambda tmp: Path("/dev/null/notes.tex"), "cannot write"),
    ],
    ids=[
        "missing-dir",
        "missing-dirs",
        "is-dir",
        "parent-is-file",
        "name-too-long",
        "proc",
        "under-device",
    ],
)
@pytest.mark.parametrize("command", ["latex", "markdown", "codegen"])
def test_paths_that_cannot_be_written_give_status_2(
    command: str, make: Callable[[Path], Path], fragment: str, tmp_path: Path
) -> None:
    """Missing folders, a folder as target, a file as folder, a too-long name: one error line."""
    (tmp_path / "plain-file").write_text("a file, not a folder\n")
    target = make(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    status, out, err = run([command, "2", "2", "-o", str(target)])
    assert_one_error_line(status, out, err)
    assert fragment in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_write_atomic_refuses_an_empty_name() -> None:
    with pytest.raises(OutputError, match="empty"):
        write_atomic("", "text")


def test_write_atomic_refuses_a_nul_byte(tmp_path: Path) -> None:
    """A NUL byte cannot reach argv, but the library may be called with one: an OutputError."""
    with pytest.raises(OutputError, match="null byte"):
        write_atomic(tmp_path / "a\x00b.tex", "text")
    assert list(tmp_path.iterdir()) == []


def test_write_atomic_of_bytes_and_text(tmp_path: Path) -> None:
    """Text is written as UTF-8; bytes as they are."""
    write_atomic(tmp_path / "a.md", "∂L/∂W₁ᵢⱼ\n")
    write_atomic(tmp_path / "b.bin", b"\x00\xff")
    assert (tmp_path / "a.md").read_bytes() == "∂L/∂W₁ᵢⱼ\n".encode()
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\xff"
    assert leftovers(tmp_path) == []
