"""C files checked by ``symgrad check``: screened and compiled in a sandbox of their own.

Beside the pipeline, for ``symgrad check``. :func:`compile_checked` (in the checking process)
runs this file as a script in bubblewrap (:mod:`symgrad.check.bwrap`) with the ``compile``
seccomp profile, the folder holding the C file and its header read-only (at
:func:`symgrad.check.bwrap.check_mount`), a tmpfs of ``disk`` megabytes as the only writable
place, and limits on each process's processor time, address space and file size, on processes
and open files; the checker kills it after ``compile-time`` seconds. Inside, the script screens
both files (:mod:`symgrad.check.screen`), then compiles them with
:func:`symgrad.codegen.c.loader.compile_c`, so the compiler, its flags and the link are the
loader's, and writes the library back on its stdout. A compiler that runs out of time, memory or
disk ends the check with exit status 2 and a line saying which limit; what the compiler said
reaches the report only as a short excerpt with no character of control."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def compile_checked(
    path: Path,
    folder: Path,
    name: str,
    includes: dict[str, frozenset[str]],
    limits: Any,
    sandboxed: bool,
) -> tuple[str, str]:
    """Screen and compile ``folder/name`` (with its header) in the sandbox; write the library
    into ``folder`` and return its file name, and how it was compiled and linked (for the
    report). ``path`` is the file as the user named it."""
    from symgrad.check import bwrap, wire
    from symgrad.check.limits import describe
    from symgrad.check.text import excerpt
    from symgrad.codegen.c.loader import CCompilerError, find_compiler
    from symgrad.errors import ModuleCheckError

    try:
        compiler = find_compiler()
    except CCompilerError as exc:
        raise ModuleCheckError(f"cannot check {path}: {exc}") from None
    found = _which(compiler)
    inside = bwrap.check_mount() if sandboxed else str(folder)
    setup = {
        "sys_path": _sys_path(),
        "folder": inside,
        "source": name,
        "includes": {k: sorted(v) for k, v in includes.items()},
    }
    process = _start(found, folder, limits, sandboxed)
    assert process.stdin is not None and process.stdout is not None
    deadline = time.monotonic() + limits.compile_time
    try:
        process.stdin.write(wire.encode(setup))
        process.stdin.close()
        reader = wire.Reader(process.stdout.fileno(), limits.disk_bytes + (1 << 20))
        reply, arrays = reader.read(deadline)
    except TimeoutError:
        _stop(process)
        raise ModuleCheckError(
            f"compiling {path} did not finish within the {describe(limits.compile_time)} limit "
            "(a timeout; --limit compile-time=SECONDS sets it); it was stopped"
        ) from None
    except (EOFError, OSError, wire.WireError):
        status = _stop(process)
        said = excerpt(
            process.stderr.read(4096).decode("utf-8", "replace") if process.stderr else ""
        )
        raise ModuleCheckError(
            f"compiling {path} ended without a library ({_why(status, limits)})"
            + (f"; the compiler said: {said}" if said else "")
        ) from None
    _stop(process)
    if "refused" in reply:
        raise ModuleCheckError(f"{excerpt(str(reply['refused']), 300)}, so it is not run")
    if "failed" in reply:
        said = str(reply["failed"])
        hint = any(s in said for s in ("limit exceeded", "signal terminated", "memory", "Killed"))
        raise ModuleCheckError(
            f"cannot check {path}: {excerpt(said)}" + (f" ({_why(None, limits)})" if hint else "")
        )
    data = arrays.get("library")
    if data is None or data.dtype != "u1" or data.ndim != 1:
        raise ModuleCheckError(f"compiling {path} gave no library")
    library = f"lib{Path(name).stem}.so"
    (folder / library).write_bytes(data.tobytes())
    return library, excerpt(str(reply.get("compiled", "")), 400)


def _start(found: str, folder: Path, limits: Any, sandboxed: bool) -> subprocess.Popen[bytes]:
    """The compiling process (this module run as a script), in bubblewrap unless not
    ``sandboxed``, with the limits of a compilation and an environment of its own."""
    from symgrad.check import bwrap

    environment = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "TMPDIR": "/tmp" if sandboxed else str(folder),
        "LC_ALL": "C",
        "CC": found,
        "HOME": "/tmp",
    }
    resources = bwrap.Resources(
        cpu_seconds=int(limits.compile_time) + 1,
        file_bytes=limits.disk_bytes,
        address_space=limits.compile_memory_bytes,
        processes=bwrap.process_limit(int(limits.processes)),
        open_files=int(limits.open_files),
    )
    argv = [sys.executable, "-I", "-B", str(HERE / "build.py")]
    if sandboxed:
        view = bwrap.system_view(compiler=found)
        view = bwrap.View(view.read_only, view.symlinks, check_folder=str(folder))
        process = bwrap.popen(
            argv,
            profile="compile",
            limits=resources,
            view=view,
            environment=environment,
            tmpfs_bytes=limits.disk_bytes,
        )
    else:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=environment,
            cwd=str(folder),
            start_new_session=True,
            preexec_fn=resources.apply,  # noqa: PLW1509 - only setrlimit and signal
        )
    return process


def _why(status: int | None, limits: Any) -> str:
    """Which limit a compiler that died ran into, as far as its exit status tells."""
    import signal

    if status is not None and status < 0 and -status in (signal.SIGXCPU, signal.SIGKILL):
        return f"it used up its processor time, {limits.compile_time:g} s"
    if status is not None and status < 0 and -status == signal.SIGSYS:
        return "the compiler made a system call the sandbox does not allow"
    return (
        f"the compiler may write {limits.disk:g} MB (--limit disk=MB) and use "
        f"{limits.compile_memory:g} MB of memory per process (--limit compile-memory=MB)"
    )


def _which(compiler: str) -> str:
    import shutil

    return shutil.which(compiler) or compiler


def _sys_path() -> list[str]:
    package = str(HERE.parent.parent)  # the folder holding symgrad
    return [p for p in sys.path if p and os.path.isabs(p)] + [package]


def _stop(process: subprocess.Popen[bytes]) -> int | None:
    """Kill the sandbox (if it still runs) and return its exit status."""
    import contextlib
    import signal

    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)
    return process.returncode


# In the sandbox --------------------------------------------------------------------------------


def _sibling(name: str) -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"symgrad_check_{name}", HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:  # pragma: no cover - runs in the sandbox
    wire = _sibling("wire")
    screen = _sibling("screen")
    out = sys.stdout.fileno()
    setup, _ = wire.Reader(sys.stdin.fileno(), 1 << 20).read()
    folder = Path(setup["folder"])
    try:
        for name, includes in setup["includes"].items():
            text = (folder / name).read_text(encoding="utf-8")
            screen.screen(name, text, frozenset(includes))
    except screen.Refused as exc:
        wire.write(out, {"refused": str(exc)})
        return
    sys.path[:] = setup["sys_path"]
    import numpy as np

    from symgrad.codegen.c.build import build_c
    from symgrad.errors import SymgradError

    try:
        built = build_c(folder / setup["source"], Path(os.environ["TMPDIR"]) / "build")
    except SymgradError as exc:
        wire.write(out, {"failed": str(exc)})
        return
    data = np.frombuffer(built.library.read_bytes(), dtype=np.uint8)
    wire.write(out, {"library": True, "compiled": built.describe()}, {"library": data})


if __name__ == "__main__":
    main()
