"""What the sandboxed child sets up on itself before a line of the checked code runs.

Run by :mod:`symgrad.check.child`, inside bubblewrap (:mod:`symgrad.check.bwrap`), after its
imports and before it loads the checked code:

1. a limit on its address space (the interpreter and the array library are loaded by then, so
   the limit is what they mapped plus the ``memory`` limit of the check);
2. the ``run`` seccomp filter (:mod:`symgrad.check.seccomp`, compiled by the parent), on every
   thread: the kernel then applies it to every system call of the checked code, native code
   included, and kills the process on any call it does not list. This is the guarantee;
3. an audit hook, as a first line that names what Python code tried: starting a process, a
   socket, opening a file to write or changing the file system, signals, limits, importing a
   module the target does not use, loading a native library other than the checked one, raw
   memory through ``ctypes``. The hook keeps no state: a refusal is written to the channel at
   once and the process ends, so nothing is left for the checked code to reset, and no frame,
   global or module of the child holds it (``sys.addaudithook`` offers no way to list hooks).
   It is advisory all the same: code that reaches it through the garbage collector can change
   it, and then meets the filter.

This module imports nothing of symgrad: the child loads it by its path, without the package.
"""

from __future__ import annotations

import os
import resource
import sys
from collections.abc import Callable
from typing import Any

#: Audit events that start a process.
PROCESS_EVENTS = frozenset(
    {
        "os.system",
        "os.exec",
        "os.spawn",
        "os.fork",
        "os.forkpty",
        "os.posix_spawn",
        "os.startfile",
        "subprocess.Popen",
        "pty.spawn",
    }
)
#: Audit events that change the file system.
FILE_EVENTS = frozenset(
    {
        "os.remove",
        "os.rename",
        "os.mkdir",
        "os.rmdir",
        "os.link",
        "os.symlink",
        "os.truncate",
        "os.chmod",
        "os.chown",
        "os.chflags",
        "os.lchflags",
        "os.utime",
        "os.mkfifo",
        "os.mknod",
        "os.setxattr",
        "os.removexattr",
        "shutil.copyfile",
        "shutil.copymode",
        "shutil.copystat",
        "shutil.copytree",
        "shutil.move",
        "shutil.rmtree",
        "shutil.chown",
        "shutil.make_archive",
        "shutil.unpack_archive",
        "tempfile.mkstemp",
        "tempfile.mkdtemp",
        "sqlite3.connect",
        "dbm.open",
    }
)
#: Other audit events that are refused, and what they would have done.
OTHER_EVENTS = {
    "os.kill": "send a signal to another process",
    "os.killpg": "send a signal to a process group",
    "signal.pthread_kill": "send a signal",
    "resource.setrlimit": "change its resource limits",
    "resource.prlimit": "change resource limits",
    "ctypes.cdata": "read or write raw memory through ctypes",
    "ctypes.cdata/buffer": "read or write raw memory through ctypes",
    "ctypes.string_at": "read raw memory through ctypes",
    "ctypes.wstring_at": "read raw memory through ctypes",
    "ctypes.dlsym/handle": "look up a native function",
    "urllib.Request": "open a network connection",
    "ftplib.connect": "open a network connection",
    "http.client.connect": "open a network connection",
    "smtplib.connect": "open a network connection",
    "webbrowser.open": "open a web browser",
}
#: Flags of ``open`` that write or create.
O_WRITING = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def limit_address_space(margin: int) -> str | None:
    """Limit this process's address space to what it has mapped plus ``margin`` bytes (soft and
    hard: it cannot be raised again). None, or why it could not be set."""
    mapped = 0
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    mapped = int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    try:
        resource.setrlimit(resource.RLIMIT_AS, (mapped + margin, mapped + margin))
    except (AttributeError, ValueError, OSError) as exc:
        return f"no limit on memory ({type(exc).__name__})"
    return None


def install_filter(program: bytes, seccomp_call: int) -> str | None:
    """Install the BPF ``program`` on every thread of this process (``seccomp`` with
    ``SECCOMP_FILTER_FLAG_TSYNC``, after ``PR_SET_NO_NEW_PRIVS``). None, or why not."""
    import ctypes

    class Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    if not program or len(program) % 8 or seccomp_call < 0:
        return "no seccomp filter for this machine"
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = Program(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        return f"prctl(PR_SET_NO_NEW_PRIVS) failed (errno {ctypes.get_errno()})"
    done = libc.syscall(
        ctypes.c_long(seccomp_call), ctypes.c_long(1), ctypes.c_long(1), ctypes.byref(fprog)
    )
    if done != 0:
        return f"the kernel refused the seccomp filter (errno {ctypes.get_errno()})"
    return None


def forget_ctypes() -> None:
    """Remove ``ctypes`` (which installed the filter) from the modules checked code finds."""
    for name in [n for n in sys.modules if n == "ctypes" or n.startswith(("ctypes.", "_ctypes"))]:
        del sys.modules[name]


def install_hook(
    imports: tuple[str, ...],
    library: str | None,
    channel: int,
    encode: Callable[[dict[str, Any]], bytes],
) -> None:
    """Add the audit hook. A refusal writes ``{"refused": what}`` to ``channel`` and ends the
    process with status 3; nothing of the hook is kept in a frame, a global or a module."""
    allowed = tuple(imports)

    def refuse(action: str) -> None:
        try:
            os.write(channel, encode({"refused": action}))
        finally:
            os._exit(3)

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event == "open":
            path, mode, flags = (list(args) + [None, None, None])[:3]
            writing = isinstance(mode, str) and any(c in mode for c in "wax+")
            if writing or (isinstance(flags, int) and flags & O_WRITING):
                refuse(f"write the file {_short(path)}")
        elif event == "import":
            module = str(args[0])
            if not any(module == p or module.startswith(p + ".") for p in allowed):
                refuse(f"import {module[:60]}")
        elif event in PROCESS_EVENTS:
            what = "run a shell command" if event == "os.system" else "start a process"
            refuse(f"{what} ({_shown(event, args)})")
        elif event.startswith("socket."):
            refuse(f"use the network ({_shown(event, args)})")
        elif event in FILE_EVENTS:
            refuse(f"change the file system ({_shown(event, args)})")
        elif event == "ctypes.dlopen":
            if library is None or args[0] != library:
                refuse(f"load the native library {_short(args[0])}")
        elif event == "ctypes.dlsym":
            if library is None or getattr(args[0], "_name", None) != library:
                refuse(f"look up the native function {_short(args[1])}")
        elif event in OTHER_EVENTS:
            refuse(f"{OTHER_EVENTS[event]} ({_shown(event, args)})")

    sys.addaudithook(hook)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _shown(event: str, args: tuple[Any, ...]) -> str:
    """``os.system: b'touch x'``: an event and its arguments, shortened."""
    text = ", ".join(repr(a) for a in args)
    text = text if len(text) <= 70 else text[:67] + "..."
    return f"{event}: {text}" if text else event


def array_libraries(names: list[str]) -> dict[str, Callable[[Any], Any]]:
    """For each array library of ``--arrays``, the function that makes its array of a NumPy
    array: imported and started now, before the sandbox closes (JAX in 64-bit mode, its CPU
    backend found and a first computation compiled), so that nothing is loaded later."""
    import numpy as np

    out: dict[str, Callable[[Any], Any]] = {"numpy": np.asarray}
    if "torch" in names:
        import torch

        torch.from_numpy(np.ones(2)).exp().sum()
        out["torch"] = torch.from_numpy
    if "jax" in names:
        import jax

        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp

        jax.devices()
        jnp.exp(jnp.asarray(np.ones(2))).sum().block_until_ready()
        out["jax"] = jnp.asarray
    return out
