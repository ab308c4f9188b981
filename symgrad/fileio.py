"""Writing output files whole or not at all.

``-o FILE`` never leaves a half-written file: the text is rendered completely first, written to a
temporary file beside the target, flushed to disk and renamed over the target in one step. A
target that writes several files (C: ``NAME.c`` and ``NAME.h``) stages all of them before the
first rename.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from symgrad.errors import OutputError


def write_atomic(path: str | os.PathLike[str], data: str | bytes) -> None:
    """Write ``data`` to ``path`` atomically; raise :class:`OutputError` if it cannot be written."""
    write_all_atomic([(path, data)])


def write_all_atomic(files: Sequence[tuple[str | os.PathLike[str], str | bytes]]) -> None:
    """Write every ``(path, data)``, all or none; raise :class:`OutputError` if one cannot be.

    Every file is written to a temporary file beside its target first; only when all are
    written are they renamed over their targets.
    """
    staged: list[tuple[str, Path]] = []
    try:
        for path, data in files:
            target = Path(_checked(path))
            staged.append((_stage(target, data), target))
        for temporary, target in staged:
            try:
                os.replace(temporary, target)
            except OSError as exc:
                raise OutputError(f"cannot write {target}: {_reason(exc)}") from None
    finally:
        for temporary, _ in staged:
            with contextlib.suppress(OSError):
                os.unlink(temporary)


def _checked(path: str | os.PathLike[str]) -> str | os.PathLike[str]:
    if not os.fspath(path):
        raise OutputError("the output file name is empty; give a file name after -o")
    return path


def _stage(target: Path, data: str | bytes) -> str:
    """``data`` in a temporary file beside ``target``, with the permissions it will have."""
    folder = target.parent if str(target.parent) else Path(".")
    try:
        is_directory, folder_exists = target.is_dir(), folder.is_dir()
    except (OSError, ValueError) as exc:  # a name too long, a NUL byte
        raise OutputError(f"cannot write {target}: {_reason(exc)}") from None
    if is_directory:
        raise OutputError(f"cannot write {target}: it is a directory; give a file name")
    if not folder_exists:
        raise OutputError(f"cannot write {target}: the directory {folder} does not exist")
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    except (OSError, ValueError) as exc:
        raise OutputError(f"cannot write {target}: {_reason(exc)}") from None
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(payload)
            stream.flush()
            os.fsync(stream.fileno())
        if target.exists():
            # Keep the permissions the user gave the file being replaced.
            os.chmod(temporary, target.stat().st_mode & 0o7777)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(temporary, 0o666 & ~umask)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise OutputError(f"cannot write {target}: {_reason(exc)}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return temporary


def _reason(exc: Exception) -> str:
    """The operating system's words for ``exc`` ("No space left on device")."""
    return (exc.strerror if isinstance(exc, OSError) and exc.strerror else None) or str(exc)
