"""Attacks on ``symgrad check``, each written as the attacker would, each stopped.

Every file here was first run against the checker as it was before its sandbox was rebuilt on
bubblewrap, and the attack worked there: a process killed or reniced, a command typed into the
terminal, an extended attribute written, a lock held, an IPC object left behind, a secret in the
report, a C screen bypassed, the compiler or the header's analysis holding the machine, a FIFO
hanging the check, a forged reply ending in an internal error. Each test asserts what must hold
now: exit status 2 (the check ends with one ``symgrad: error:`` line) and no effect outside.

The attacks on processes target a ``sleep`` the test starts; the C ones call the kernel through
``syscall`` with x86_64's numbers (a file that includes anything is refused before it is
compiled, so the attacker declares what it calls), and are skipped on other machines.
"""

from __future__ import annotations

import ast
import ctypes
import errno
import fcntl
import io
import os
import platform
import resource
import select
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from symgrad.cli import main
from symgrad.codegen import generate, generate_module
from symgrad.pipeline import derive
from symgrad.spec import NetworkSpec

pytestmark = pytest.mark.sandbox

#: Limits of seconds for the bombs (the defaults are minutes).
LIMITS = ("--limit", "compile-time=8", "--limit", "analysis-time=5", "--limit", "disk=64")
X86_64 = platform.machine() in ("x86_64", "AMD64")
native = pytest.mark.skipif(not X86_64, reason="the attacks use x86_64 system call numbers")


def check(*argv: str) -> tuple[int, str, str]:
    """``symgrad check`` in this process: the exit status, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stderr
    sys.stderr = err
    try:
        status = main(["check", *argv], stdout=out)
    finally:
        sys.stderr = saved
    return status, out.getvalue(), err.getvalue()


def check_process(
    *argv: str, timeout: float = 150, **options: object
) -> tuple[int, str, str, float]:
    """``symgrad check`` as a command: the exit status, stdout, stderr and its wall time."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "symgrad", "check", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        **options,  # type: ignore[arg-type]
    )
    return done.returncode, done.stdout, done.stderr, time.monotonic() - started


def refused(status: int, out: str, err: str) -> None:
    """Exit status 2, nothing on stdout, one error line."""
    assert (status, out) == (2, ""), (status, out, err)
    assert err.startswith("symgrad: error: ") and err.count("\n") == 1, err


@pytest.fixture(scope="module")
def module_text() -> str:
    return generate_module(derive(NetworkSpec.parse([2, 3, 2]), prove=False))


@pytest.fixture(scope="module")
def c_files() -> dict[str, str]:
    """``net.c`` and ``net.h`` of a small network, by suffix."""
    files = generate(derive(NetworkSpec.parse([2, 3, 2]), prove=False), "c", "unrolled", name="net")
    return {f.suffix: f.text for f in files}


def in_loss(text: str, code: str) -> str:
    """The module ``text`` with the lines ``code`` at the start of ``loss``'s body."""
    tree = ast.parse(text)
    (loss,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "loss"]
    after = loss.body[0].end_lineno or loss.body[0].lineno  # after the docstring
    lines = text.splitlines(keepends=True)
    block = textwrap.indent(textwrap.dedent(code).strip() + "\n", "    ")
    return "".join([*lines[:after], block, *lines[after:]])


def c_attack(files: dict[str, str], folder: Path, body: str, declarations: str = "") -> Path:
    """``net.c`` whose ``net_loss`` first runs ``body`` (C, with ``syscall`` declared), and
    ``net.h``, written in ``folder``."""
    probe = (
        "long syscall(long number, ...);\n"
        f"{declarations}\n"
        "static void probe(void)\n{\n" + textwrap.indent(textwrap.dedent(body).strip(), "    ")
    ) + "\n}\n"
    text = files[".c"].replace("#include <stddef.h>\n", f"#include <stddef.h>\n\n{probe}", 1)
    head, tail = text.split("\nint net_loss(", 1)
    signature, rest = tail.split("\n{\n", 1)
    text = f"{head}\nint net_loss({signature}\n{{\n    probe();\n{rest}"
    folder.mkdir(exist_ok=True)
    (folder / "net.h").write_text(files[".h"], encoding="utf-8")
    path = folder / "net.c"
    path.write_text(text, encoding="utf-8")
    return path


def alive(process: subprocess.Popen[bytes]) -> bool:
    return process.poll() is None


# ------------------------------------------------------------------------------------------------
# Python: the audit hook switched off, then a shell; other processes reniced and re-pinned
# ------------------------------------------------------------------------------------------------

FRAME_WALK = """
import sys
frame = sys._getframe()
while frame is not None:
    for value in list(frame.f_locals.values()):
        if hasattr(value, "refuse"):
            value.refuse = lambda *args: None
            value.refused = None
    frame = frame.f_back
__import__("os").system("touch {marker}")
"""

#: Runs a command where the kernel offers no seccomp (as on macOS, or an architecture the old
#: filter did not know): ``seccomp`` and ``prctl(PR_SET_SECCOMP)`` fail with ENOSYS/EINVAL.
WITHOUT_SECCOMP = """
import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
nr, arg0 = 0, 16
program = [
    (0x20, 0, 0, nr),            # load the call's number
    (0x15, 0, 1, 317),           # seccomp(): ENOSYS
    (0x06, 0, 0, 0x00050000 | 38),
    (0x15, 0, 3, 157),           # prctl(...)
    (0x20, 0, 0, arg0),
    (0x15, 0, 1, 22),            # prctl(PR_SET_SECCOMP): EINVAL
    (0x06, 0, 0, 0x00050000 | 22),
    (0x06, 0, 0, 0x7FFF0000),    # anything else
]
raw = b"".join(struct.pack("<HBBI", *i) for i in program)
buffer = ctypes.create_string_buffer(raw, len(raw))
class Program(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
fprog = Program(len(program), ctypes.cast(buffer, ctypes.c_void_p))
assert libc.prctl(38, 1, 0, 0, 0) == 0
assert libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) == 0
os.execv(sys.argv[1], sys.argv[1:])
"""


@pytest.mark.parametrize("seccomp", ["with seccomp", "without seccomp"])
def test_frame_walk_then_a_shell(module_text: str, tmp_path: Path, seccomp: str) -> None:
    """The old guard sat in a local of the child's frames: set to do nothing, it let
    ``os.system`` through, which on a kernel without seccomp ran the command."""
    marker = tmp_path / "marker"
    path = tmp_path / "walk.py"
    path.write_text(in_loss(module_text, FRAME_WALK.format(marker=marker)), encoding="utf-8")
    command = [sys.executable, "-m", "symgrad", "check", str(path)]
    if seccomp == "without seccomp":
        command = [sys.executable, "-c", WITHOUT_SECCOMP, *command]
    done = subprocess.run(command, capture_output=True, text=True, timeout=150, check=False)
    assert not marker.exists(), done.stdout + done.stderr
    refused(done.returncode, done.stdout, done.stderr)


def test_a_refusal_cannot_be_forgotten(module_text: str, tmp_path: Path) -> None:
    """The old guard kept its first refusal in an attribute: cleared, the check PASSed."""
    code = """
    try:
        open("{marker}", "w")
    except OSError:
        pass
    import sys
    frame = sys._getframe()
    while frame is not None:
        for value in list(frame.f_locals.values()):
            if hasattr(value, "refused"):
                value.refused = None
        frame = frame.f_back
    """
    path = tmp_path / "forget.py"
    marker = tmp_path / "marker"
    path.write_text(in_loss(module_text, code.format(marker=marker)), encoding="utf-8")
    refused(*check(str(path)))
    assert not marker.exists()


@pytest.mark.parametrize("call", ["setpriority", "sched_setaffinity"])
def test_python_cannot_renice_or_repin_another_process(
    module_text: str, tmp_path: Path, victim: subprocess.Popen[bytes], call: str
) -> None:
    before = (os.getpriority(os.PRIO_PROCESS, victim.pid), os.sched_getaffinity(victim.pid))
    code = {
        "setpriority": f'__import__("os").setpriority(0, {victim.pid}, 19)',
        "sched_setaffinity": f'__import__("os").sched_setaffinity({victim.pid}, {{0}})',
    }[call]
    path = tmp_path / f"{call}.py"
    path.write_text(in_loss(module_text, code), encoding="utf-8")
    status, out, err = check(str(path))
    after = (os.getpriority(os.PRIO_PROCESS, victim.pid), os.sched_getaffinity(victim.pid))
    assert after == before
    refused(status, out, err)


# ------------------------------------------------------------------------------------------------
# C: other processes signalled, reniced, limited; the terminal typed into; files and IPC
# ------------------------------------------------------------------------------------------------

#: ``name: (body, declarations)``; PID is the victim's process id.
C_PROCESS_ATTACKS = {
    # A queued SIGKILL, allowed to any process of the same user (root: any process).
    "rt_sigqueueinfo": ("int info[32] = {9, 0, -1};\nsyscall(129, PID, 9, info);", ""),
    # SIGIO redirected to the victim as SIGKILL, raised by writing into a pipe.
    "F_SETOWN-F_SETSIG": (
        "int fds[2];\n"
        "syscall(293, fds, 0);\n"
        "syscall(72, fds[0], 8, PID);\n"
        "syscall(72, fds[0], 10, 9);\n"
        "syscall(72, fds[0], 4, 020000 | 04000);\n"
        'syscall(1, fds[1], "x", 1);',
        "",
    ),
    "setpriority": ("syscall(141, 0, PID, 19);", ""),
    # RLIMIT_NOFILE of the victim lowered to 7.
    "prlimit64": ("unsigned long limit[2] = {7, 7};\nsyscall(302, PID, 7, limit, 0);", ""),
    # The victim pinned to the first processor.
    "sched_setaffinity": ("unsigned long mask = 1;\nsyscall(203, PID, sizeof mask, &mask);", ""),
    # The victim's I/O priority set to idle (IOPRIO_WHO_PROCESS, class 3).
    "ioprio_set": ("syscall(251, 1, PID, 3 << 13);", ""),
}


def victim_state(process: subprocess.Popen[bytes]) -> tuple[object, ...]:
    if not alive(process):
        return (False,)
    ioprio_get = ctypes.CDLL(None, use_errno=True).syscall
    return (
        True,
        os.getpriority(os.PRIO_PROCESS, process.pid),
        resource.prlimit(process.pid, resource.RLIMIT_NOFILE),
        os.sched_getaffinity(process.pid),
        ioprio_get(252, 1, process.pid),  # IOPRIO_WHO_PROCESS
    )


@native
@pytest.mark.parametrize("attack", C_PROCESS_ATTACKS)
def test_c_cannot_signal_renice_or_limit_another_process(
    c_files: dict[str, str], tmp_path: Path, victim: subprocess.Popen[bytes], attack: str
) -> None:
    body, declarations = C_PROCESS_ATTACKS[attack]
    before = victim_state(victim)
    path = c_attack(c_files, tmp_path / "c", body.replace("PID", str(victim.pid)), declarations)
    status, out, err = check(str(path))
    time.sleep(0.2)  # a signal is delivered at once; give the victim time to die if it was sent
    assert victim_state(victim) == before
    refused(status, out, err)


#: Calls that take the machine, as root may make them, here with arguments the kernel refuses
#: or that change nothing (the old checker's filter let each through to the kernel, and the
#: file PASSed): the allowlist stops the call itself.
C_MACHINE_CALLS = {
    "reboot": "syscall(169, 0, 0, 0, 0);",  # no magic numbers: EINVAL
    "kexec_load": "syscall(246, 0, 0, 0, 0xdead0000UL);",  # unknown flags: EINVAL
    "finit_module": 'syscall(313, -1, "", 0);',  # no file: EBADF
    "fsconfig": "syscall(431, -1, 0, 0, 0, 0);",  # no file-system context: EBADF
    "settimeofday": "syscall(164, 0, 0);",  # neither time nor zone: nothing set
}


@native
@pytest.mark.parametrize("call", C_MACHINE_CALLS)
def test_c_cannot_make_calls_that_take_the_machine(
    c_files: dict[str, str], tmp_path: Path, call: str
) -> None:
    path = c_attack(c_files, tmp_path / "c", C_MACHINE_CALLS[call])
    status, out, err = check(str(path))
    refused(status, out, err)
    assert "system call" in err, err


TIOCSTI = """
char path[64];
sprintf(path, "/proc/%d/fd/0", (int)syscall(110));
int fd = (int)syscall(2, path, 0);
const char *typed = "echo typed-by-the-checked-code\\n";
for (const char *c = typed; *c; ++c) {
    syscall(16, fd, 0x5412, c);
    syscall(16, 0, 0x5412, c);
}
"""


@native
def test_c_cannot_type_into_the_terminal(c_files: dict[str, str], tmp_path: Path) -> None:
    """TIOCSTI on the terminal ``symgrad check`` was run from (its parent's stdin): the shell
    would run what it typed after the check."""
    path = c_attack(c_files, tmp_path / "c", TIOCSTI, "int sprintf(char *, const char *, ...);")
    primary, secondary = os.openpty()
    try:
        status, out, err, _ = check_process(str(path), stdin=secondary)
        os.set_blocking(secondary, False)
        typed = b""
        while select.select([secondary], [], [], 0.2)[0]:
            try:
                chunk = os.read(secondary, 4096)
            except OSError:
                break
            if not chunk:
                break
            typed += chunk
    finally:
        os.close(primary)
        os.close(secondary)
    assert typed == b""
    refused(status, out, err)


FS_IOC_GETFLAGS, FS_IOC_SETFLAGS, FS_IMMUTABLE_FL = 0x80086601, 0x40086602, 0x10


def file_flags(path: Path) -> int:
    with open(path, "rb") as stream:
        flags = ctypes.c_long(0)
        fcntl.ioctl(stream.fileno(), FS_IOC_GETFLAGS, flags)
        return flags.value


def clear_immutable(path: Path) -> None:
    flags = file_flags(path)
    if flags & FS_IMMUTABLE_FL:
        with open(path, "rb") as stream:
            fcntl.ioctl(stream.fileno(), FS_IOC_SETFLAGS, ctypes.c_long(flags & ~FS_IMMUTABLE_FL))


@native
def test_c_cannot_write_an_extended_attribute(c_files: dict[str, str], tmp_path: Path) -> None:
    target = tmp_path / "target.txt"
    target.write_text("data\n", encoding="utf-8")
    body = (
        'unsigned long args[2] = {(unsigned long)"owned", 5};\n'
        f'syscall(463, -100, "{target}", 0, "user.symgrad-attack", args, 16);'
    )
    status, out, err = check(str(c_attack(c_files, tmp_path / "c", body)))
    assert "user.symgrad-attack" not in os.listxattr(target)
    refused(status, out, err)


@native
def test_c_cannot_make_a_file_immutable(c_files: dict[str, str], tmp_path: Path) -> None:
    target = tmp_path / "target.txt"
    target.write_text("data\n", encoding="utf-8")
    try:
        file_flags(target)
    except OSError as exc:  # pragma: no cover - a file system without flags
        pytest.skip(f"the file system of {tmp_path} has no file flags ({exc})")
    body = (
        f'int fd = (int)syscall(2, "{target}", 0);\n'
        "long flags = 0;\n"
        "syscall(16, fd, 0x80086601, &flags);\n"
        "flags |= 0x10;\n"
        "syscall(16, fd, 0x40086602, &flags);"
    )
    try:
        status, out, err = check(str(c_attack(c_files, tmp_path / "c", body)))
        assert file_flags(target) & FS_IMMUTABLE_FL == 0
    finally:
        clear_immutable(target)
    refused(status, out, err)


@native
def test_c_cannot_hold_a_lock(c_files: dict[str, str], tmp_path: Path) -> None:
    """``flock`` on a file opened for reading, held while the check runs: seen from here."""
    target = tmp_path / "target.txt"
    target.write_text("data\n", encoding="utf-8")
    body = (
        "static int once = 0;\n"
        f'int fd = (int)syscall(2, "{target}", 0);\n'
        "if (!once && syscall(73, fd, 2) == 0) {\n"
        "    long pause[2] = {2, 0};\n"
        "    once = 1;\n"
        "    syscall(35, pause, 0);\n"
        "}"
    )
    path = c_attack(c_files, tmp_path / "c", body)
    process = subprocess.Popen(
        [sys.executable, "-m", "symgrad", "check", *LIMITS, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    held = False
    with open(target, "rb") as stream:
        while process.poll() is None:
            try:
                fcntl.flock(stream.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(stream.fileno(), fcntl.LOCK_UN)
            except OSError as exc:
                held = held or exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN)
            time.sleep(0.02)
    out, err = process.communicate()
    assert not held
    refused(process.returncode, out, err)


SHM_KEY = 0x5EED1701
MQ_NAME = b"/symgrad-attack"


def leftover_shm() -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    return int(libc.shmget(SHM_KEY, 0, 0))


def leftover_mq() -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    return int(libc.mq_open(MQ_NAME, os.O_RDONLY))


@native
@pytest.mark.parametrize("call", ["shmget", "mq_open"])
def test_c_leaves_no_ipc_object(c_files: dict[str, str], tmp_path: Path, call: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    body = {
        "shmget": f"syscall(29, {SHM_KEY}, 4096, 01000 | 0600);",
        "mq_open": f'syscall(240, "{MQ_NAME[1:].decode()}", 0100 | 02, 0600, 0);',
    }[call]
    status, out, err = check(str(c_attack(c_files, tmp_path / "c", body)))
    try:
        if call == "shmget":
            found = leftover_shm()
            assert found < 0
        else:
            found = leftover_mq()
            assert found < 0
    finally:
        if call == "shmget" and leftover_shm() >= 0:
            libc.shmctl(leftover_shm(), 0, None)
        if call == "mq_open":
            libc.mq_unlink(MQ_NAME)
    refused(status, out, err)


# ------------------------------------------------------------------------------------------------
# Leaks: the environment and files outside the folder, through the report
# ------------------------------------------------------------------------------------------------


def test_no_secret_reaches_the_report(module_text: str, tmp_path: Path) -> None:
    secret_file = tmp_path.parent / f"{tmp_path.name}-secret.txt"
    secret_file.write_text("file-secret-7d1e", encoding="utf-8")
    code = f"""
    import os
    found = [os.environ.get("SYMGRAD_ATTACK_TOKEN", "")]
    for where in ["/proc/" + pid + "/environ" for pid in os.listdir("/proc") if pid.isdigit()]:
        try:
            found += [v for v in open(where).read().split("\\0") if "ATTACK_TOKEN" in v]
        except OSError:
            pass
    try:
        found.append(open({str(secret_file)!r}).read())
    except OSError as exc:
        found.append(str(exc))
    raise ValueError(" ".join(found))
    """
    path = tmp_path / "leak.py"
    path.write_text(in_loss(module_text, code), encoding="utf-8")
    environment = {**os.environ, "SYMGRAD_ATTACK_TOKEN": "env-secret-93c4"}
    try:
        status, out, err, _ = check_process(str(path), env=environment)
    finally:
        secret_file.unlink()
    report = out + err
    assert "env-secret-93c4" not in report and "file-secret-7d1e" not in report, report
    assert status in (1, 2), report


def test_the_report_carries_only_a_short_clean_excerpt(module_text: str, tmp_path: Path) -> None:
    code = 'raise ValueError("\\x1b]0;title\\x07\\x1b[2J" + "x" * 100000)'
    path = tmp_path / "noisy.py"
    path.write_text(in_loss(module_text, code), encoding="utf-8")
    status, out, err = check(str(path))
    report = out + err
    assert "\x1b" not in report and "\x07" not in report
    assert "x" * 300 not in report
    assert status == 1, report


# ------------------------------------------------------------------------------------------------
# The C screen: directives in disguise, the assembler's own includes
# ------------------------------------------------------------------------------------------------

#: A line of C that includes SECRET, each spelled so that the old screen did not see it.
SCREEN_BYPASSES = {
    "vertical-tab": '\v#include "SECRET"\n',
    "form-feed": '\f#include "SECRET"\n',
    "nul": '\0#include "SECRET"\n',
    "carriage-return": '// a comment\r#include "SECRET"\n',
    # An unterminated character constant: the compiler takes the rest of its line as the
    # constant (and warns), the old screen took its "/*" for a comment that hid a line.
    "quote-comment-desync": '#define QUOTE \' /*\n#include "SECRET"\n/* */\n',
    "token-pasted-pragma": (
        "#define PASTE(a, b) a##b\n"
        "#define PRAGMA(x) PASTE(_Pra, gma)(x)\n"
        'PRAGMA("GCC dependency \\"SECRET\\"")\n'
    ),
    "asm-include": '__asm__(".include \\"SECRET\\"");\n',
    "asm-incbin": (
        '__asm__(".section .rodata\\n.globl leaked\\nleaked:\\n.incbin \\"SECRET\\"\\n'
        '.byte 0\\n.text");\n'
    ),
}


@native
@pytest.mark.parametrize("bypass", SCREEN_BYPASSES)
def test_the_c_screen_cannot_be_bypassed(
    c_files: dict[str, str], tmp_path: Path, bypass: str
) -> None:
    secret = tmp_path.parent / f"{tmp_path.name}-secret.h"
    secret.write_text("screen_secret_5f2a is a secret\n", encoding="utf-8")
    line = SCREEN_BYPASSES[bypass].replace("SECRET", str(secret))
    source = c_files[".c"].replace("#include <stddef.h>\n", f"#include <stddef.h>\n{line}", 1)
    if bypass == "asm-incbin":  # the library writes what it embedded to stderr, then exits
        source = c_attack(
            {".c": source, ".h": c_files[".h"]},
            tmp_path / "c",
            "syscall(1, 2, leaked, 18);\nsyscall(231, 1);",
            "extern const char leaked[];",
        ).read_text(encoding="utf-8")
    folder = tmp_path / "screen"
    folder.mkdir()
    (folder / "net.h").write_text(c_files[".h"], encoding="utf-8")
    path = folder / "net.c"
    path.write_bytes(source.encode("utf-8"))
    try:
        status, out, err = check(str(path), *LIMITS)
    finally:
        secret.unlink()
    assert "screen_secret_5f2a" not in out + err
    refused(status, out, err)


# ------------------------------------------------------------------------------------------------
# Bombs: the compiler, the header's analysis, a FIFO
# ------------------------------------------------------------------------------------------------

#: Code that makes the compiler or the assembler write gigabytes, or expand for minutes.
BOMBS = {
    "fill": '__asm__(".section .data\\n.fill 500000000, 1, 1\\n.text");\n',
    "initialized-array": "const double bomb_data[200000000] = {1.0};\n",
    "macro": "".join(
        ["#define M0 x + x\n"] + [f"#define M{n} M{n - 1} + M{n - 1}\n" for n in range(1, 31)]
    )
    + "double bomb(double x) { return M30; }\n",
}


@native
@pytest.mark.parametrize("bomb", BOMBS)
def test_compiler_bombs_end_in_seconds(c_files: dict[str, str], tmp_path: Path, bomb: str) -> None:
    source = c_files[".c"].replace(
        "#include <stddef.h>\n", f"#include <stddef.h>\n{BOMBS[bomb]}", 1
    )
    folder = tmp_path / "bomb"
    folder.mkdir()
    (folder / "net.h").write_text(c_files[".h"], encoding="utf-8")
    path = folder / "net.c"
    path.write_text(source, encoding="utf-8")
    free = os.statvfs(tmp_path).f_bavail * os.statvfs(tmp_path).f_frsize
    status, out, err, seconds = check_process(*LIMITS, str(path), timeout=150)
    refused(status, out, err)
    assert seconds < 120
    # The disk it could fill is bounded by the limit (64 MB here), whatever was written.
    assert free - os.statvfs(tmp_path).f_bavail * os.statvfs(tmp_path).f_frsize < 256 << 20


def test_a_slow_activation_in_the_header_ends_in_seconds(module_text: str, tmp_path: Path) -> None:
    """SymPy took minutes to analyse this activation, in the checking process itself."""
    slow = "sqrt(sin(x**7)-cos(x**5)+tanh(x**3))"
    first, rest = module_text.split("\n", 1)
    path = tmp_path / "slow.py"
    path.write_text(f"{first} --activation '{slow}'\n{rest}", encoding="utf-8")
    status, out, err, seconds = check_process(*LIMITS, str(path), timeout=60)
    refused(status, out, err)
    assert "timeout" in err or "time limit" in err, err
    assert seconds < 60


@pytest.mark.parametrize(
    ("bomb", "limit", "said"),
    [
        ("while True:\n    pass", "time=3", "did not finish within the 3 s limit"),
        ("_ = bytearray(8 << 30)", "memory=256", "needed more memory than the 256 MB"),
    ],
    ids=["loop", "memory"],
)
def test_the_checked_code_is_held_to_its_limits(
    module_text: str, tmp_path: Path, bomb: str, limit: str, said: str
) -> None:
    path = tmp_path / "bomb.py"
    path.write_text(in_loss(module_text, bomb), encoding="utf-8")
    started = time.monotonic()
    status, out, err = check(str(path), "--limit", limit)
    refused(status, out, err)
    assert said in err and f"--limit {limit.split('=')[0]}=" in err, err
    assert time.monotonic() - started < 30


def test_a_huge_file_is_refused_by_its_size(module_text: str, tmp_path: Path) -> None:
    """An 18 MB module: the old checker parsed it in its own process, for 100 s and with
    5.5 GB of memory (a list of 4.7 million numbers)."""
    path = tmp_path / "huge.py"
    path.write_text(module_text + "_PADDING = [" + "1.0," * (18 << 18) + "]\n", "utf-8")
    status, out, err, seconds = check_process(str(path), timeout=60)
    refused(status, out, err)
    assert "larger than the 16 MB symgrad check reads" in err
    assert seconds < 20


def test_a_fifo_is_refused_at_once(tmp_path: Path) -> None:
    path = tmp_path / "fifo.py"
    os.mkfifo(path)
    status, out, err, seconds = check_process(str(path), timeout=30)
    refused(status, out, err)
    assert seconds < 20


# ------------------------------------------------------------------------------------------------
# A forged reply on the channel
# ------------------------------------------------------------------------------------------------

#: A message that is well formed but not what was asked (no result): the old checker took it
#: for the answer and ended in an internal error, exit status 70. NUMBER is the number of the
#: request it claims to answer (the attacker finds the request being served in the frames).
FORGED = """
import json, os, sys
frame, number = sys._getframe(), None
while frame is not None and NUMBER:
    request = frame.f_locals.get("request")
    if isinstance(request, dict) and "n" in request:
        number = request["n"]
    frame = frame.f_back
message = json.dumps({"n": number} if number is not None else {}).encode()
for fd in range(3, 12):
    try:
        os.write(fd, len(message).to_bytes(4, "big") + message)
    except OSError:
        pass
"""


@pytest.mark.parametrize("numbered", [False, True], ids=["unnumbered", "numbered"])
def test_a_forged_reply_ends_with_status_2(
    module_text: str, tmp_path: Path, numbered: bool
) -> None:
    """A forged message taken for the answer to one request leaves the child's own answer to
    be read as the next one's, which carries the wrong number."""
    path = tmp_path / "forged.py"
    path.write_text(in_loss(module_text, FORGED.replace("NUMBER", str(numbered))), "utf-8")
    status, out, err = check(str(path))
    refused(status, out, err)
    assert "answered with a message symgrad check cannot read" in err, err


#: An answer of 1 GiB of arrays, written in full, for a network of 20 parameters.
HUGE = """
import os, stat
message = b'{"arrays": [["a", "<f8", [134217728]]]}'
block = bytes(1 << 20)
for fd in range(3, 12):
    try:
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            continue
        os.write(fd, len(message).to_bytes(4, "big") + message)
        for _ in range(1024):
            os.write(fd, block)
    except OSError:
        pass
"""


def test_a_huge_reply_is_refused_before_it_is_read(module_text: str, tmp_path: Path) -> None:
    """The old checker read it all (2.2 GB of its memory), then ended in an internal error."""
    path = tmp_path / "huge.py"
    path.write_text(in_loss(module_text, HUGE), encoding="utf-8")
    status, out, err = check(str(path))
    refused(status, out, err)
