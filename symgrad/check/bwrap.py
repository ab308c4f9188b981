"""Processes of ``symgrad check`` run in bubblewrap, with limits and an allowlist filter.

Beside the pipeline, for ``symgrad check``. :func:`popen` starts a command in a sandbox built by
bubblewrap (``bwrap``, the sandbox of Flatpak): new user, PID, network, IPC, UTS and cgroup
namespaces (no other process, no network, no IPC object is reachable from inside), a new
session (no controlling terminal: nothing can be typed into one), an empty environment but for
the few variables given, a root of its own that shows read-only only what the interpreter,
its packages and the C compiler need (the system's ``/usr``, the Python installation, the
site-packages on the path, symgrad itself) and a private tmpfs at ``/tmp`` of bounded size, the
only writable place. The process dies with the checker (``--die-with-parent``). Inside, the
seccomp allowlist of :mod:`symgrad.check.seccomp` applies to every call, and resource limits
set before ``bwrap`` starts bound processor time, file sizes, processes and open files (they
cannot be raised from inside: that needs a capability of the host's user namespace).

:func:`availability` tells, once per process, whether this machine can build that sandbox, and
if not, why, in a sentence that says what to install or enable.
"""

from __future__ import annotations

import functools
import itertools
import os
import resource
import shutil
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from symgrad.check import seccomp

NAMESPACES = (
    "--unshare-user",
    "--unshare-pid",
    "--unshare-net",
    "--unshare-ipc",
    "--unshare-uts",
    "--unshare-cgroup",
)
#: What the report says the sandbox is made of.
DESCRIPTION = (
    "bubblewrap: new user, PID, network, IPC, UTS and cgroup namespaces, a new session, an "
    "empty environment, system files read-only, a private tmpfs"
)


@dataclass(frozen=True)
class Resources:
    """Resource limits of a sandboxed process tree (None: not set)."""

    cpu_seconds: int | None = None
    file_bytes: int | None = None
    address_space: int | None = None
    processes: int | None = None
    open_files: int | None = None

    def apply(self) -> None:
        """Set them (in the child, before ``bwrap`` runs); no core files either."""
        limits = {
            resource.RLIMIT_CPU: self.cpu_seconds,
            resource.RLIMIT_FSIZE: self.file_bytes,
            resource.RLIMIT_AS: self.address_space,
            resource.RLIMIT_NPROC: self.processes,
            resource.RLIMIT_NOFILE: self.open_files,
            resource.RLIMIT_CORE: 0,
        }
        for which, value in limits.items():
            if value is not None:
                resource.setrlimit(which, (value, value))
        # Past RLIMIT_FSIZE a write fails with EFBIG instead of killing the process.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def process_limit(processes: int) -> int:
    """RLIMIT_NPROC for ``processes`` in the sandbox. Inside a new user namespace the kernel
    counts the sandbox's own tasks against it, and, for a user other than root, the user's
    tasks on the whole machine too: those are added."""
    if os.geteuid() == 0:
        return processes
    try:
        with open("/proc/loadavg", encoding="ascii") as stream:
            running = int(stream.read().split()[3].split("/")[1])
    except (OSError, ValueError, IndexError):
        running = 1 << 15
    return processes + running


@functools.cache
def check_mount() -> str:
    """Where the sandbox shows the checked folder: ``/check``, or ``/check-2``, ``/check-3`` ...
    when the host has that path. A path the host lacks cannot hold any of the read-only paths a
    view binds, so the folder never hides one (a project cloned under ``/check`` still sees its
    own package)."""
    candidates = itertools.chain(["/check"], (f"/check-{n}" for n in itertools.count(2)))
    return next(path for path in candidates if not os.path.lexists(path))


@dataclass(frozen=True)
class View:
    """What a sandbox shows: read-only paths (and the folder given at :func:`check_mount`)."""

    read_only: tuple[str, ...]
    symlinks: tuple[tuple[str, str], ...]
    check_folder: str | None = None


def system_view(compiler: str | None = None, extra: Sequence[str] = ()) -> View:
    """The read-only view: ``/usr`` (and ``/bin``, ``/lib``, ... as on the host), the dynamic
    linker's cache, Python's installation and every site-packages folder on ``sys.path``,
    symgrad's own package, the compiler's folder and ``/etc/alternatives`` when compiling."""
    paths: list[str] = ["/usr"]
    symlinks: list[tuple[str, str]] = []
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            symlinks.append((os.readlink(top), top))
        elif os.path.isdir(top):
            paths.append(top)
    for path in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d"):
        if os.path.exists(path):
            paths.append(path)
    for prefix in {sys.base_prefix, sys.prefix, sys.exec_prefix, sys.base_exec_prefix}:
        paths.append(os.path.realpath(prefix))
    for entry in sys.path:
        if (
            entry
            and os.path.isabs(entry)
            and entry.rstrip("/").endswith(("site-packages", "dist-packages"))
        ):
            paths.append(os.path.realpath(entry))
    paths.append(str(Path(__file__).resolve().parent.parent))  # symgrad itself
    paths.append(os.path.dirname(os.path.realpath(sys.executable)))
    if compiler is not None:
        paths.append(os.path.dirname(os.path.realpath(compiler)))
        if os.path.isdir("/etc/alternatives"):
            paths.append("/etc/alternatives")
    paths += [os.path.realpath(p) for p in extra]
    kept = [p for p in dict.fromkeys(paths) if os.path.exists(p)]
    # A path inside another bound path needs no bind of its own.
    kept = [p for p in kept if not any(p != q and p.startswith(q.rstrip("/") + "/") for q in kept)]
    return View(tuple(sorted(kept)), tuple(symlinks))


def command(
    bwrap: str,
    view: View,
    argv: Sequence[str],
    seccomp_fd: int,
    environment: dict[str, str],
    tmpfs_bytes: int,
) -> list[str]:
    """The ``bwrap`` command line that runs ``argv`` in the sandbox."""
    out = [bwrap, *NAMESPACES, "--disable-userns", "--die-with-parent", "--new-session"]
    out.append("--clearenv")
    for name, value in sorted(environment.items()):
        out += ["--setenv", name, value]
    # The tmpfs first: a read-only path under /tmp is bound on top of it, not hidden by it.
    out += ["--proc", "/proc", "--dev", "/dev", "--size", str(tmpfs_bytes), "--tmpfs", "/tmp"]
    for path in view.read_only:
        out += ["--ro-bind", path, path]
    for target, link in view.symlinks:
        out += ["--symlink", target, link]
    if view.check_folder is not None:
        out += ["--ro-bind", view.check_folder, check_mount()]
    out += ["--chdir", "/tmp", "--seccomp", str(seccomp_fd), "--", *argv]
    return out


def find() -> str | None:
    """The ``bwrap`` executable, or None."""
    return shutil.which("bwrap")


def popen(
    argv: Sequence[str],
    *,
    profile: str,
    limits: Resources,
    view: View,
    environment: dict[str, str] | None = None,
    tmpfs_bytes: int = 16 << 20,
    arrays: tuple[str, ...] = (),
    stdin: int | None = subprocess.PIPE,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in the sandbox (stdin, stdout and stderr are pipes)."""
    bwrap = find()
    if bwrap is None:  # pragma: no cover - availability() is asked first
        raise OSError(NOT_INSTALLED)
    program = seccomp.program(profile, arrays)
    read, write = os.pipe()
    try:
        os.write(write, program)  # far below a pipe's buffer
        os.close(write)
        write = -1
        full = command(bwrap, view, argv, read, environment or {}, tmpfs_bytes)
        return subprocess.Popen(
            full,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            # bubblewrap itself gets no environment either: it stays PID 1 of the sandbox,
            # whose /proc/1/environ the sandboxed process could read.
            env={},
            pass_fds=(read,),
            start_new_session=True,
            preexec_fn=limits.apply,  # noqa: PLW1509 - only setrlimit and signal in the child
        )
    finally:
        os.close(read)
        if write >= 0:
            os.close(write)


NOT_INSTALLED = (
    "sandbox unavailable: bubblewrap is not installed (no `bwrap` on PATH); install it (Debian "
    "and Ubuntu: apt-get install bubblewrap; Fedora: dnf install bubblewrap) or, for code you "
    "trust, pass --unsandboxed"
)


@functools.lru_cache(maxsize=1)
def availability() -> str | None:
    """None when the sandbox can be built here, else the line that says why not."""
    if not sys.platform.startswith("linux"):
        return (
            f"sandbox unavailable: symgrad check sandboxes code with Linux's namespaces and "
            f"seccomp, which {sys.platform} does not have; run it on Linux or, for code you "
            "trust, pass --unsandboxed"
        )
    if find() is None:
        return NOT_INSTALLED
    try:
        seccomp.program("start")
    except seccomp.SeccompUnavailable as exc:
        return f"sandbox unavailable: {exc}, or, for code you trust, pass --unsandboxed"
    true = shutil.which("true", path="/usr/bin:/bin") or "/usr/bin/true"
    try:
        process = popen([true], profile="start", limits=Resources(), view=system_view(), stdin=None)
        _, err = process.communicate(timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"sandbox unavailable: bubblewrap could not run ({exc}); pass --unsandboxed"
    if process.returncode != 0:
        said = " ".join(err.decode("utf-8", "replace").split())[:200] or "no message"
        return (
            f"sandbox unavailable: bubblewrap cannot build the sandbox here ({said}); it needs "
            "unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1 and "
            "user.max_user_namespaces > 0; in Docker, a seccomp profile that allows them) and "
            "seccomp; enable them or, for code you trust, pass --unsandboxed"
        )
    return None
