"""The system-call allowlists of ``symgrad check``'s sandboxes, compiled by libseccomp.

Beside the pipeline, for ``symgrad check``. Each profile names the calls a sandboxed process may
make, with conditions on their arguments where a call can reach beyond the process (``ioctl``,
``fcntl``, ``clone``, ``openat``, ``prlimit64``, ``tgkill``); every other call kills the process
(``SECCOMP_RET_KILL_PROCESS``), and so does a call of another ABI (i386 or x32 on x86_64).

Why libseccomp, through ``ctypes``: it is the engine of bubblewrap's users (Flatpak), of
systemd and of container runtimes, and it is on every Linux system that has apt or systemd
(``libseccomp.so.2``). It resolves call names for the machine it runs on (so the profiles are
names, not x86_64 numbers), compares 64-bit arguments correctly, and rejects the other ABIs of
the architecture; the filter it exports is a classic BPF program that ``bwrap --seccomp FD``
installs, and that the checked code's process installs once more on itself (without
``execve``) before it runs a line of the checked code. Python's bindings are not used: Debian's
do not import into other Python builds, and PyPI's are unmaintained.

Profiles (:data:`PROFILES`):

- ``run``: what the interpreter, NumPy, OpenBLAS, cffi and the compiled library need while the
  checked code runs: memory, reading files already visible, threads (``clone`` with
  ``CLONE_THREAD`` only), futexes, signals to its own threads, time, polling its own
  descriptors. ``ioctl`` only ``TCGETS``, ``FIOCLEX`` and ``FIONCLEX``; ``fcntl`` only the
  commands on its own descriptors (no locks, no ``F_SETOWN``/``F_SETSIG``); ``openat`` only
  without a flag that writes or creates; ``prlimit64`` only to read its own limits.
- ``start``: ``run`` and what the process needs before the checked code loads: ``execve`` (the
  interpreter itself), setting its own limits and installing the ``run`` filter.
- ``compile``: ``start`` and what a C compiler, assembler and linker need: processes
  (``vfork``, ``clone`` without new namespaces, ``wait4``), and writing files (the only
  writable place is the sandbox's private tmpfs).
- ``torch``, ``jax``: added to ``run`` and ``start`` with ``--arrays``: the few more calls
  their runtimes make.

On other architectures libseccomp resolves the same names to that machine's numbers; a name the
machine does not have (``open``, ``stat`` on aarch64) is left out.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import functools
import os
from dataclasses import dataclass

#: Actions (``seccomp.h``).
ACT_KILL_PROCESS = 0x80000000
ACT_ALLOW = 0x7FFF0000
ACT_ERRNO = 0x00050000
#: Comparisons (``enum scmp_compare``) and filter attributes.
CMP_EQ = 4
CMP_MASKED_EQ = 7
ATTR_ACT_BADARCH = 2

#: Flags of open that write or create (Linux's, the same on every architecture libseccomp
#: supports but a few old ones): O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, O_APPEND, __O_TMPFILE.
O_WRITING = 0o1 | 0o2 | 0o100 | 0o1000 | 0o2000 | 0o20000000
#: Every CLONE_NEW* flag, and CLONE_THREAD.
CLONE_NAMESPACES = 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000
CLONE_NAMESPACES |= 0x00020000 | 0x00000080  # CLONE_NEWNS, CLONE_NEWTIME
CLONE_THREAD = 0x00010000
TCGETS, FIONCLEX, FIOCLEX = 0x5401, 0x5450, 0x5451
F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_DUPFD_CLOEXEC = 0, 1, 2, 3, 1030
PR_SET_NAME, PR_GET_NAME, PR_SET_NO_NEW_PRIVS, PR_GET_NO_NEW_PRIVS = 15, 16, 38, 39
PR_SET_SECCOMP, PR_SET_VMA = 22, 0x53564D41

#: One condition: (argument index, comparison, first datum, second datum).
Condition = tuple[int, int, int, int]


@dataclass(frozen=True)
class Rule:
    """A call allowed when all its conditions hold (a call with several rules: when any does)."""

    name: str
    conditions: tuple[Condition, ...] = ()


def names(text: str) -> tuple[str, ...]:
    """The call names of a space-separated list."""
    return tuple(text.split())


def _each(name: str, argument: int, values: tuple[int, ...]) -> list[Rule]:
    return [Rule(name, ((argument, CMP_EQ, value, 0),)) for value in values]


#: Calls allowed whatever their arguments: they act on this process, its memory, its own
#: descriptors or its own threads only.
_PLAIN = (
    # memory
    names("brk mmap munmap mremap mprotect madvise mbind get_mempolicy set_mempolicy membarrier")
    # descriptors already open, and reading what the sandbox shows
    + names(
        "read pread64 readv preadv preadv2 write writev close close_range dup dup2 dup3 lseek "
        "fstat newfstatat stat lstat statx access faccessat faccessat2 readlink readlinkat "
        "getdents64 getcwd fstatfs statfs"
    )
    # threads, waiting, time
    + names(
        "futex futex_waitv set_robust_list rseq set_tid_address sched_yield sched_getparam "
        "sched_getscheduler getcpu nanosleep clock_nanosleep clock_gettime clock_getres "
        "gettimeofday time poll ppoll select pselect6 epoll_create epoll_create1 epoll_ctl "
        "epoll_wait epoll_pwait epoll_pwait2 restart_syscall exit exit_group"
    )
    # signals to itself, and about itself
    + names(
        "rt_sigaction rt_sigprocmask rt_sigreturn rt_sigpending rt_sigsuspend sigaltstack "
        "getpid gettid getppid getuid geteuid getgid getegid getresuid getresgid getgroups "
        "uname sysinfo getrandom getrusage times arch_prctl"
    )
)

RUN = [
    *(Rule(name) for name in _PLAIN),
    # A thread, never a process: clone3 passes its flags in memory the filter cannot read, so
    # it is answered ENOSYS (below) and the C library falls back to clone.
    Rule("clone", ((0, CMP_MASKED_EQ, CLONE_THREAD | CLONE_NAMESPACES, CLONE_THREAD),)),
    # Files are opened to read.
    Rule("openat", ((2, CMP_MASKED_EQ, O_WRITING, 0),)),
    Rule("open", ((1, CMP_MASKED_EQ, O_WRITING, 0),)),
    *_each("ioctl", 1, (TCGETS, FIONCLEX, FIOCLEX)),
    *_each("fcntl", 1, (F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_DUPFD_CLOEXEC)),
    # Its own limits, read (glibc's getrlimit).
    Rule("prlimit64", ((0, CMP_EQ, 0, 0), (2, CMP_EQ, 0, 0))),
    *_each("prctl", 0, (PR_SET_NAME, PR_GET_NAME, PR_GET_NO_NEW_PRIVS, PR_SET_VMA)),
    Rule("sched_getaffinity"),
]
#: Before the checked code loads: the interpreter's own execve, its limits, its second filter.
START = [
    Rule("execve"),
    # bubblewrap's init (PID 1 of the sandbox, under the same filter) waits for the command.
    Rule("wait4"),
    Rule("prlimit64", ((0, CMP_EQ, 0, 0),)),
    Rule("seccomp"),
    *_each("prctl", 0, (PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP)),
]
#: A C compiler, an assembler and a linker, writing in the sandbox's tmpfs.
COMPILE = [
    Rule("vfork"),
    Rule("fork"),
    Rule("clone", ((0, CMP_MASKED_EQ, CLONE_NAMESPACES, 0),)),
    *(
        Rule(name)
        for name in names(
            "wait4 waitid kill tgkill openat open creat unlink unlinkat rename renameat renameat2 "
            "mkdir mkdirat rmdir chmod fchmod fchmodat umask pipe pipe2 chdir fchdir ftruncate "
            "fallocate pwrite64 fsync fdatasync utimensat link linkat symlink symlinkat sendfile "
            "copy_file_range sched_getaffinity vmsplice"
        )
    ),
    *_each("fcntl", 1, (4,)),  # F_SETFL
]
#: What PyTorch and JAX (XLA) add, while the checked code runs with their arrays.
ARRAYS: dict[str, list[Rule]] = {
    # Their thread pools pin their own threads (pid 0: the calling thread).
    "torch": [*_each("sched_setaffinity", 0, (0,)), Rule("eventfd2"), Rule("pipe2")],
    "jax": [*_each("sched_setaffinity", 0, (0,)), Rule("eventfd2"), Rule("pipe2")],
}
#: With those runtimes, a file opened to write (their threads rename themselves through
#: ``/proc/self/task/*/comm``) is answered "permission denied" rather than killing the process;
#: the file system is read-only anyway, but for the sandbox's own tmpfs.
DENIED_WRITES = {
    "openat": 2,
    "open": 1,
}
#: Calls answered "not implemented" rather than killing, so that the C library uses another:
#: clone3 (its flags are in memory) and rseq's successors are tried first by new libcs.
ENOSYS_CALLS = ("clone3",)

PROFILES: dict[str, list[Rule]] = {
    "run": RUN,
    "start": [*RUN, *START],
    "compile": [*RUN, *START, *COMPILE],
}


class SeccompUnavailable(Exception):
    """libseccomp cannot be loaded or cannot build a filter here (the message says why)."""


class _Compare(ctypes.Structure):
    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


@functools.lru_cache(maxsize=1)
def library() -> ctypes.CDLL:
    """libseccomp, or :class:`SeccompUnavailable`."""
    name = ctypes.util.find_library("seccomp") or "libseccomp.so.2"
    try:
        lib = ctypes.CDLL(name, use_errno=True)
    except OSError as exc:
        raise SeccompUnavailable(
            f"libseccomp cannot be loaded ({exc}); install it (Debian and Ubuntu: apt-get "
            "install libseccomp2)"
        ) from None
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [
        ctypes.c_void_p,
        ctypes.c_uint32,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.POINTER(_Compare),
    ]
    lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.seccomp_version.restype = ctypes.POINTER(ctypes.c_uint * 3)
    return lib


def version() -> str:
    """libseccomp's version, ``2.5.4``."""
    numbers = library().seccomp_version().contents
    return ".".join(str(n) for n in numbers)


def syscall_number(name: str) -> int:
    """The number of a call on this machine, or -1 when it has none."""
    return int(library().seccomp_syscall_resolve_name(name.encode()))


@functools.lru_cache(maxsize=32)
def program(profile: str, arrays: tuple[str, ...] = (), pid: int = 0) -> bytes:
    """The BPF program of ``profile`` (plus the runtimes of ``arrays``), as the kernel and
    ``bwrap --seccomp`` read it. With ``pid``, ``tgkill`` may signal that process's threads
    only; without, any thread in the sandbox's own PID namespace."""
    lib = library()
    context = lib.seccomp_init(ACT_KILL_PROCESS)
    if not context:
        raise SeccompUnavailable("libseccomp could not start a filter")
    try:
        if lib.seccomp_attr_set(context, ATTR_ACT_BADARCH, ACT_KILL_PROCESS) != 0:
            raise SeccompUnavailable("libseccomp cannot kill calls of another ABI")
        rules = list(PROFILES[profile])
        if profile != "compile":
            for name in arrays:
                rules += ARRAYS[name]
        rules.append(Rule("tgkill", ((0, CMP_EQ, pid, 0),)) if pid else Rule("tgkill"))
        for rule in rules:
            _add(lib, context, ACT_ALLOW, rule)
        for name in ENOSYS_CALLS:
            _add(lib, context, ACT_ERRNO | errno.ENOSYS, Rule(name))
        if arrays and profile != "compile":
            for name, argument in DENIED_WRITES.items():
                for bit in (1 << n for n in range(32) if O_WRITING & (1 << n)):
                    condition = ((argument, CMP_MASKED_EQ, bit, bit),)
                    _add(lib, context, ACT_ERRNO | errno.EACCES, Rule(name, condition))
        read, write = os.pipe()
        try:
            if lib.seccomp_export_bpf(context, write) != 0:
                raise SeccompUnavailable("libseccomp could not export the filter")
            os.close(write)
            write = -1
            chunks = []
            while chunk := os.read(read, 1 << 16):
                chunks.append(chunk)
        finally:
            os.close(read)
            if write >= 0:
                os.close(write)
        return b"".join(chunks)
    finally:
        lib.seccomp_release(context)


def _add(lib: ctypes.CDLL, context: int, action: int, rule: Rule) -> None:
    number = syscall_number(rule.name)
    if number < 0:
        return  # a call this machine does not have
    array = (_Compare * max(1, len(rule.conditions)))(
        *(_Compare(a, op, x, y) for a, op, x, y in rule.conditions)
    )
    done = lib.seccomp_rule_add_array(context, action, number, len(rule.conditions), array)
    if done != 0:
        raise SeccompUnavailable(
            f"libseccomp refused the rule for {rule.name} ({os.strerror(-done)})"
        )
