"""The sandbox of the child process that runs checked code: limits, an audit hook, a seccomp filter.

Installed by :mod:`symgrad.check.child` after its own setup (NumPy imported, the library opened
by the loader known) and before a line of the checked code runs:

1. resource limits: processor time, address space, no file may grow (``RLIMIT_FSIZE`` 0) and no
   core file is written;
2. a Python audit hook (:class:`AuditGuard`) that refuses, with ``PermissionError``, every
   attempt of Python code to start a process, open a socket, open a file for writing or change
   the file system, import a module the target does not use, load a native library other than
   the one the checker built, or read raw memory through ``ctypes``; the first refusal is kept
   so the check ends with it even if the code catches the exception;
3. on Linux (x86_64 and aarch64) a seccomp filter (:func:`install_seccomp`) that the kernel
   applies to every system call of every thread, native code included: it kills the process on
   ``execve``/``execveat``, ``fork``/``vfork``, ``clone`` without ``CLONE_THREAD`` (a new process
   rather than a thread), sockets (``socket``, ``socketpair``, ``connect``, ``bind``, ``listen``,
   ``accept``), ``open``/``openat`` with any flag that writes or creates, and every call that
   changes the file system (``rename``, ``unlink``, ``mkdir``, ``link``, ``symlink``, ``chmod``,
   ``chown``, ``truncate``, ``mknod``, ``utimes``, extended attributes, ``mount``), besides
   ``ptrace``, ``process_vm_writev``, ``io_uring`` (which could do all of the above on the
   kernel's side), namespaces, ``bpf``, and signals to other processes.

The audit hook names what it refused; the kernel does not say which call it stopped, so the
parent reports a process killed by ``SIGSYS`` as one of the actions above.

This module imports nothing of symgrad: the child loads it by its path, without the package.
"""

from __future__ import annotations

import ctypes
import os
import platform
import resource
import signal
import struct
import sys
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
#: Other audit events that are refused: signals, limits, memory access through ctypes, network.
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
    "winreg.OpenKey": "open the registry",
}
#: Flags of ``open`` that write or create (the same on x86_64 and aarch64).
O_WRITING = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def _shown(event: str, args: tuple[Any, ...]) -> str:
    """``os.system: b'touch x'``: an event and its arguments, shortened."""
    text = ", ".join(repr(a) for a in args)
    text = text if len(text) <= 70 else text[:67] + "..."
    return f"{event}: {text}" if text else event


class AuditGuard:
    """The audit hook: refuses the events of the module docstring, keeping the first refusal."""

    def __init__(self, imports: tuple[str, ...], library: str | None) -> None:
        self.imports = imports
        self.library = library
        self.refused: str | None = None

    def install(self) -> None:
        sys.addaudithook(self.hook)

    def refuse(self, action: str) -> None:
        if self.refused is None:
            self.refused = action
        raise PermissionError(f"symgrad check refuses to let checked code {action}")

    def hook(self, event: str, args: tuple[Any, ...]) -> None:
        if event == "open":
            self._open(args)
        elif event == "import":
            name = str(args[0])
            if not any(name == p or name.startswith(p + ".") for p in self.imports):
                self.refuse(f"import {name}")
        elif event in PROCESS_EVENTS:
            what = "run a shell command" if event == "os.system" else "start a process"
            self.refuse(f"{what} ({_shown(event, args)})")
        elif event.startswith("socket."):
            self.refuse(f"use the network ({_shown(event, args)})")
        elif event in FILE_EVENTS:
            self.refuse(f"change the file system ({_shown(event, args)})")
        elif event == "ctypes.dlopen":
            if self.library is None or args[0] != self.library:
                self.refuse(f"load the native library {args[0]!r}")
        elif event == "ctypes.dlsym":
            owner = getattr(args[0], "_name", None)
            if self.library is None or owner != self.library:
                self.refuse(f"look up the native function {args[1]!r}")
        elif event in OTHER_EVENTS:
            self.refuse(f"{OTHER_EVENTS[event]} ({_shown(event, args)})")

    def _open(self, args: tuple[Any, ...]) -> None:
        path, mode, flags = (list(args) + [None, None, None])[:3]
        writing = isinstance(mode, str) and any(c in mode for c in "wax+")
        writing = writing or (isinstance(flags, int) and flags & O_WRITING != 0)
        if writing:
            self.refuse(f"write the file {path!r}")


def limit_resources(cpu_seconds: int, memory_bytes: int) -> list[str]:
    """Processor time and address space; no file may grow, no core file is written. Returns the
    limits this system would not set (macOS has no address-space limit, for one)."""
    missing = []
    limits = {
        "processor time": ("RLIMIT_CPU", (cpu_seconds, cpu_seconds + 5)),
        "memory": ("RLIMIT_AS", (memory_bytes, memory_bytes)),
        "file size": ("RLIMIT_FSIZE", (0, 0)),
        "core files": ("RLIMIT_CORE", (0, 0)),
    }
    for what, (name, value) in limits.items():
        try:
            resource.setrlimit(getattr(resource, name), value)
        except (AttributeError, ValueError, OSError):
            missing.append(what)
    # Past RLIMIT_FSIZE a write fails with EFBIG instead of killing the process.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    return missing


# Seccomp ---------------------------------------------------------------------------------------

AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
#: System calls the filter kills, by architecture (Linux's numbers for each).
PROCESS_CALLS = {
    "x86_64": {"fork": 57, "vfork": 58, "execve": 59, "execveat": 322},
    "aarch64": {"execve": 221, "execveat": 281},
}
NETWORK_CALLS = {
    "x86_64": {
        "socket": 41, "socketpair": 53, "connect": 42, "bind": 49, "listen": 50, "accept": 43,
        "accept4": 288,
    },
    "aarch64": {
        "socket": 198, "socketpair": 199, "bind": 200, "listen": 201, "accept": 202,
        "connect": 203, "accept4": 242,
    },
}  # fmt: skip
FILE_CALLS = {
    "x86_64": {
        "creat": 85, "rename": 82, "renameat": 264, "renameat2": 316, "unlink": 87,
        "unlinkat": 263, "mkdir": 83, "mkdirat": 258, "rmdir": 84, "link": 86, "linkat": 265,
        "symlink": 88, "symlinkat": 266, "truncate": 76, "ftruncate": 77, "chmod": 90,
        "fchmod": 91, "fchmodat": 268, "fchmodat2": 452, "chown": 92, "fchown": 93,
        "lchown": 94, "fchownat": 260, "mknod": 133, "mknodat": 259, "utime": 132,
        "utimes": 235, "utimensat": 280, "futimesat": 261, "setxattr": 188, "lsetxattr": 189,
        "fsetxattr": 190, "removexattr": 197, "lremovexattr": 198, "fremovexattr": 199,
        "fallocate": 285, "mount": 165, "umount2": 166, "open_tree": 428, "move_mount": 429,
        "fsopen": 430, "mount_setattr": 442, "name_to_handle_at": 303,
        "open_by_handle_at": 304,
    },
    "aarch64": {
        "renameat": 38, "renameat2": 276, "unlinkat": 35, "mkdirat": 34, "linkat": 37,
        "symlinkat": 36, "truncate": 45, "ftruncate": 46, "fchmod": 52, "fchmodat": 53,
        "fchmodat2": 452, "fchownat": 54, "fchown": 55, "mknodat": 33, "utimensat": 88,
        "setxattr": 5, "lsetxattr": 6, "fsetxattr": 7, "removexattr": 14, "lremovexattr": 15,
        "fremovexattr": 16, "fallocate": 47, "mount": 40, "umount2": 39, "open_tree": 428,
        "move_mount": 429, "fsopen": 430, "mount_setattr": 442, "name_to_handle_at": 264,
        "open_by_handle_at": 265,
    },
}  # fmt: skip
OTHER_CALLS = {
    "x86_64": {
        "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "io_uring_setup": 425,
        "io_uring_enter": 426, "io_uring_register": 427, "unshare": 272, "setns": 308,
        "bpf": 321, "pidfd_getfd": 438, "pidfd_send_signal": 424, "tkill": 200,
        "perf_event_open": 298,
    },
    "aarch64": {
        "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "io_uring_setup": 425,
        "io_uring_enter": 426, "io_uring_register": 427, "unshare": 97, "setns": 268,
        "bpf": 280, "pidfd_getfd": 438, "pidfd_send_signal": 424, "tkill": 130,
        "perf_event_open": 241,
    },
}  # fmt: skip
#: Calls whose arguments decide: clone (new thread or new process), open (read or write),
#: kill and tgkill (this process or another); and calls answered "not implemented", so that the
#: C library falls back to one the filter can inspect (clone3 and openat2 pass a structure).
CLONE = {"x86_64": 56, "aarch64": 220}
OPEN = {"x86_64": {2: 1, 257: 2}, "aarch64": {56: 2}}  # call -> index of its flags argument
SIGNAL = {"x86_64": {62: 0, 234: 0}, "aarch64": {129: 0, 131: 0}}  # kill, tgkill -> pid arg
NOT_IMPLEMENTED = {"clone3": 435, "openat2": 437}

CLONE_THREAD = 0x00010000
X32_SYSCALL_BIT = 0x40000000
SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_ALLOW = 0x7FFF0000
ENOSYS = 38

# Classic BPF opcodes.
_LD_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGE = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_JSET = 0x45  # BPF_JMP | BPF_JSET | BPF_K
_RET = 0x06  # BPF_RET | BPF_K
_NR, _ARCH = 0, 4


def _argument(n: int) -> int:
    """Offset of the low 32 bits of argument ``n`` in ``struct seccomp_data`` (little endian)."""
    return 16 + 8 * n


def machine() -> str:
    """``x86_64`` or ``aarch64`` (the architectures the filter knows), else the machine name."""
    name = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(name, name)


def filter_program(arch: str, pid: int) -> list[tuple[int, int, int, int]]:
    """The BPF program of the filter for ``arch``, as ``(code, jt, jf, k)`` instructions.

    Symbolic jumps to the labels ``kill``, ``allow`` and the argument checks are resolved at the
    end; every jump goes forward, as BPF requires.
    """
    program: list[tuple[int, Any, Any, int]] = [
        (_LD_ABS, 0, 0, _ARCH),
        (_JEQ, 1, 0, AUDIT_ARCH[arch]),
        (_RET, 0, 0, SECCOMP_RET_KILL_PROCESS),  # another ABI (i386 on x86_64): refused
        (_LD_ABS, 0, 0, _NR),
    ]
    if arch == "x86_64":
        program.append((_JGE, "kill", 0, X32_SYSCALL_BIT))  # the x32 ABI
    killed = {
        **PROCESS_CALLS[arch],
        **NETWORK_CALLS[arch],
        **FILE_CALLS[arch],
        **OTHER_CALLS[arch],
    }
    for number in sorted(killed.values()):
        program.append((_JEQ, "kill", 0, number))
    for number in NOT_IMPLEMENTED.values():
        program.append((_JEQ, "enosys", 0, number))
    program.append((_JEQ, "clone", 0, CLONE[arch]))
    for number, argument in OPEN[arch].items():
        program.append((_JEQ, f"open{argument}", 0, number))
    for number in SIGNAL[arch]:
        program.append((_JEQ, "signal", 0, number))
    labels: dict[str, int] = {}

    def label(name: str) -> None:
        labels[name] = len(program)

    program.append((_RET, 0, 0, SECCOMP_RET_ALLOW))  # any other call
    label("clone")
    program.append((_LD_ABS, 0, 0, _argument(0)))
    program.append((_JSET, "allow", "kill", CLONE_THREAD))
    for argument in sorted(set(OPEN[arch].values())):
        label(f"open{argument}")
        program.append((_LD_ABS, 0, 0, _argument(argument)))
        program.append((_JSET, "kill", "allow", O_WRITING))
    label("signal")  # kill(pid, ...) and tgkill(tgid, ...): this process (or 0) only
    program.append((_LD_ABS, 0, 0, _argument(0)))
    program.append((_JEQ, "allow", 0, pid))
    program.append((_JEQ, "allow", "kill", 0))
    # The outcomes last: BPF jumps only forward.
    label("allow")
    program.append((_RET, 0, 0, SECCOMP_RET_ALLOW))
    label("kill")
    program.append((_RET, 0, 0, SECCOMP_RET_KILL_PROCESS))
    label("enosys")
    program.append((_RET, 0, 0, SECCOMP_RET_ERRNO | ENOSYS))
    resolved = []
    for n, (code, jt, jf, k) in enumerate(program):
        jt = labels[jt] - n - 1 if isinstance(jt, str) else jt
        jf = labels[jf] - n - 1 if isinstance(jf, str) else jf
        if not (0 <= jt < 256 and 0 <= jf < 256):  # pragma: no cover - the program is short
            raise ValueError("a jump of the seccomp filter is out of range")
        resolved.append((code, jt, jf, k))
    return resolved


class _Filter(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


#: The seccomp system call, by architecture.
SECCOMP_CALL = {"x86_64": 317, "aarch64": 277}
PR_SET_NO_NEW_PRIVS = 38
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_TSYNC = 1
SECCOMP_GET_ACTION_AVAIL = 2


def install_seccomp() -> str | None:
    """Install the filter on every thread of this process; None, or why it cannot be done."""
    arch = machine()
    if not sys.platform.startswith("linux") or arch not in AUDIT_ARCH:
        return f"no seccomp filter for {sys.platform} on {arch}"
    program = filter_program(arch, os.getpid())
    raw = b"".join(struct.pack("<HBBI", *instruction) for instruction in program)
    buffer = ctypes.create_string_buffer(raw, len(raw))
    fprog = _Filter(len(program), ctypes.cast(buffer, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)
    syscall = libc.syscall
    syscall.restype = ctypes.c_long
    action = ctypes.c_uint32(SECCOMP_RET_KILL_PROCESS)
    number = SECCOMP_CALL[arch]
    if syscall(ctypes.c_long(number), ctypes.c_long(SECCOMP_GET_ACTION_AVAIL), ctypes.c_long(0),
               ctypes.byref(action)) != 0:  # fmt: skip
        return f"the kernel has no seccomp kill action (errno {ctypes.get_errno()})"
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return f"prctl(PR_SET_NO_NEW_PRIVS) failed (errno {ctypes.get_errno()})"
    done = syscall(
        ctypes.c_long(number),
        ctypes.c_long(SECCOMP_SET_MODE_FILTER),
        ctypes.c_long(SECCOMP_FILTER_FLAG_TSYNC),
        ctypes.byref(fprog),
    )
    if done != 0:
        return f"seccomp() failed (result {done}, errno {ctypes.get_errno()})"
    return None
