"""The sandbox of ``symgrad check``: checked code may not start processes, use the network or
write files, whether it tries from Python or from native code.

Each attack is shown to work outside the sandbox first (the same code run by a plain Python
creates its marker file or reaches the listening socket), then to be stopped inside it: exit
status 2, one ``symgrad: error:`` line naming what was refused, and no marker, no connection.
The attacks are written into generated files of every target ``check`` runs: NumPy and
array-API modules, and C files (calls declared by hand, since a C file that includes anything
but ``<math.h>``, ``<stddef.h>`` and its header is refused before it is compiled). Other native
attacks come from a tiny shared library these tests compile, loaded the way a compiled target
is (:class:`~symgrad.check.source.Prepared` with a child loader). Native code is stopped by the
kernel: by the namespaces and read-only view bubblewrap builds, and by the allowlist seccomp
filter, which kills the process (``SIGSYS``) on any call it does not list.
"""

from __future__ import annotations

import ast
import io
import os
import shutil
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from symgrad.check import bwrap, seccomp
from symgrad.check.session import Refused, Sandbox
from symgrad.check.source import Inspected, Prepared
from symgrad.cli import main
from symgrad.codegen import generate, generate_module
from symgrad.pipeline import derive
from symgrad.spec import NetworkSpec


@pytest.fixture(scope="module")
def module_text() -> str:
    return generate_module(derive(NetworkSpec.parse([2, 3, 2]), prove=False))


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.5)
    yield server
    server.close()


def connected(server: socket.socket) -> bool:
    try:
        client, _ = server.accept()
    except TimeoutError:
        return False
    client.close()
    return True


def happened(attack: str, marker: Path, server: socket.socket) -> bool:
    """Whether an attack reached the listening socket or made its marker (then removed)."""
    if attack in ("socket", "connect"):
        return connected(server)
    made = marker.exists()
    if made:
        marker.unlink()
    return made


def check(path: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stderr
    sys.stderr = err
    try:
        status = main(["check", str(path)], stdout=out)
    finally:
        sys.stderr = saved
    return status, out.getvalue(), err.getvalue()


def tampered(text: str, line: str, where: str = "imports") -> str:
    """The module with ``line`` after its imports, or at the start of ``loss``'s body (after
    its docstring)."""
    tree = ast.parse(text)
    if where == "imports":
        imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        after, indent = max(n.end_lineno or n.lineno for n in imports), ""
    else:
        (loss,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "loss"]
        after, indent = loss.body[0].end_lineno or loss.body[0].lineno, "    "
    lines = text.splitlines(keepends=True)
    return "".join([*lines[:after], f"{indent}{line}\n", *lines[after:]])


ATTACKS = {
    "shell": ('np.lib = __import__("os"); np.lib.system("touch {marker}")', "run a shell command"),
    "write": ('open("{marker}", "w").write("x")', "write the file"),
    "os-open": ('__import__("os").open("{marker}", 0o101)', "write the file"),
    "socket": (
        '__import__("socket").create_connection(("127.0.0.1", {port})).sendall(b"x")',
        "import socket",
    ),
    "spawn": (
        '__import__("os").posix_spawn("/usr/bin/touch", ["touch", "{marker}"], {{}})',
        "start a process",
    ),
    "ctypes": (
        '__import__("ctypes").CDLL(None).system(b"touch {marker}")',
        "import ctypes",
    ),
    "caught": (
        'exec("try:\\n open(\\"{marker}\\", \\"w\\")\\nexcept OSError:\\n pass")',
        "write the file",
    ),
}


@pytest.mark.parametrize("where", ["imports", "loss"])
@pytest.mark.parametrize("attack", ATTACKS)
def test_python_attacks_are_refused(
    module_text: str, tmp_path: Path, listener: socket.socket, attack: str, where: str
) -> None:
    code, refusal = ATTACKS[attack]
    assert_python_attack_refused(module_text, tmp_path, listener, attack, where, code, refusal)


def assert_python_attack_refused(
    text: str,
    tmp_path: Path,
    listener: socket.socket,
    attack: str,
    where: str,
    code: str,
    refusal: str,
) -> None:
    """``code`` added to the module ``text`` (after its imports, or in ``loss``) works outside
    the sandbox; ``symgrad check`` refuses it with one line naming ``refusal``, and it does not
    happen."""
    marker = tmp_path / "marker"
    line = code.format(marker=marker, port=listener.getsockname()[1])
    path = tmp_path / "tampered.py"
    path.write_text(tampered(text, line, where), encoding="utf-8")
    # Outside the sandbox the attack works (on the module's import, or on a call of loss).
    run = "" if where == "imports" else "m.loss(m.init_params(), [0.0, 0.0], [1.0, 0.0])"
    outside = (
        f"import importlib.util as u; s = u.spec_from_file_location('m', {str(path)!r}); "
        f"m = u.module_from_spec(s); s.loader.exec_module(m); {run}"
    )
    subprocess.run([sys.executable, "-c", outside], capture_output=True, timeout=60, check=False)
    assert happened(attack, marker, listener)
    # Inside, refused: one error line that names it, and nothing happened.
    status, out, err = check(path)
    assert (status, out) == (2, ""), err
    assert err.startswith("symgrad: error: ") and err.count("\n") == 1, err
    assert refusal in err and "checked code may not start processes" in err
    assert not happened(attack, marker, listener)


# The array API -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def array_api_text() -> str:
    (module,) = generate(derive(NetworkSpec.parse([2, 3, 2]), prove=False), "array-api")
    return module.text


#: Attacks on an array-API module (which has no ``np`` to hide behind). Its child has imported
#: ``socket`` before the sandbox closed (array_api_compat's imports do), so the socket is refused
#: when it is made rather than when its module is imported.
ARRAY_API_ATTACKS = {
    "shell": ('__import__("os").system("touch {marker}")', "run a shell command"),
    "write": ATTACKS["write"],
    "socket": (
        '__import__("socket").socket().connect(("127.0.0.1", {port}))',
        "use the network",
    ),
    "spawn": ATTACKS["spawn"],
}


@pytest.mark.parametrize("where", ["imports", "loss"])
@pytest.mark.parametrize("attack", ARRAY_API_ATTACKS)
def test_array_api_attacks_are_refused(
    array_api_text: str, tmp_path: Path, listener: socket.socket, attack: str, where: str
) -> None:
    code, refusal = ARRAY_API_ATTACKS[attack]
    assert_python_attack_refused(array_api_text, tmp_path, listener, attack, where, code, refusal)


# C files -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def c_files() -> dict[str, str]:
    """``net.c`` and ``net.h`` of a small network, by suffix."""
    files = generate(derive(NetworkSpec.parse([2, 3, 2]), prove=False), "c", "unrolled", name="net")
    return {f.suffix: f.text for f in files}


#: What a C attack declares (no header may be included) and what it runs; MARKER, HIGH and LOW
#: stand for the marker's path and the listener's port, high and low byte.
C_ATTACKS = {
    "system": ("int system(const char *);", 'system("touch MARKER");'),
    "open-write": ("int open(const char *, int, ...);", 'open("MARKER", 0101, 0644);'),
    "fopen": ("void *fopen(const char *, const char *);", 'fopen("MARKER", "w");'),
    "connect": (
        "int socket(int, int, int);\n"
        "int connect(int, const void *, unsigned int);\n"
        "struct probe_address {\n"
        "    unsigned short family;\n"
        "    unsigned char port[2], host[4], zero[8];\n"
        "};",
        "struct probe_address a = {2, {HIGH, LOW}, {127, 0, 0, 1}, {0}};\n"
        "    connect(socket(2, 1, 0), &a, sizeof a);",
    ),
}


def c_tampered(text: str, declarations: str, body: str, where: str) -> str:
    """``net.c`` with ``declarations`` and a function ``probe`` that runs ``body`` after its
    includes, ``probe`` called first thing in ``net_loss`` (``where="loss"``) or made a
    constructor, run when the library is loaded (``where="constructor"``)."""
    attribute = "__attribute__((constructor)) " if where == "constructor" else ""
    probe = f"{declarations}\n{attribute}static void probe(void)\n{{\n    {body}\n}}\n"
    text = text.replace("#include <stddef.h>\n", f"#include <stddef.h>\n\n{probe}", 1)
    if where == "loss":
        head, tail = text.split("\nint net_loss(", 1)
        signature, rest = tail.split("\n{\n", 1)
        text = f"{head}\nint net_loss({signature}\n{{\n    probe();\n{rest}"
    return text


def write_c(folder: Path, files: dict[str, str], source: str) -> Path:
    """``source`` as ``net.c`` with the generated ``net.h`` beside it, in ``folder``."""
    (folder / "net.h").write_text(files[".h"], encoding="utf-8")
    path = folder / "net.c"
    path.write_text(source, encoding="utf-8")
    return path


#: Each attack from inside ``net_loss``. (A constructor, which would run when the library is
#: loaded, needs ``__attribute__``, which the screen refuses before anything is compiled.)
C_CASES = [(attack, "loss") for attack in C_ATTACKS]


@pytest.mark.parametrize(("attack", "where"), C_CASES, ids=[f"{a}-{w}" for a, w in C_CASES])
def test_c_attacks_are_stopped_by_the_kernel(
    c_files: dict[str, str], tmp_path: Path, listener: socket.socket, attack: str, where: str
) -> None:
    declarations, body = C_ATTACKS[attack]
    marker, port = tmp_path / "marker", listener.getsockname()[1]
    body = body.replace("MARKER", str(marker)).replace("HIGH", str(port >> 8))
    body = body.replace("LOW", str(port & 0xFF))
    folder = tmp_path / "source"
    folder.mkdir()
    path = write_c(folder, c_files, c_tampered(c_files[".c"], declarations, body, where))
    # Outside the sandbox the attack works (when the library is loaded, or on a call of loss).
    run = "m.loss(m.init_params(), [0.0, 0.0], [1.0, 0.0])" if where == "loss" else ""
    outside = (
        "from pathlib import Path; from symgrad.codegen.c.loader import load_c; "
        f"m = load_c(Path({str(path)!r})); {run}"
    )
    subprocess.run([sys.executable, "-c", outside], capture_output=True, timeout=120, check=True)
    assert happened(attack, marker, listener)
    # Inside, the kernel stops the process at the system call: one error line, nothing happened.
    status, out, err = check(path)
    assert (status, out) == (2, ""), err
    assert err.startswith("symgrad: error: ") and err.count("\n") == 1, err
    assert "made a system call the sandbox does not allow" in err
    assert not happened(attack, marker, listener)


def test_a_constructor_is_refused_before_anything_runs(
    c_files: dict[str, str], tmp_path: Path
) -> None:
    """Code that would run when the library is loaded (``__attribute__((constructor))``) is
    refused by the screen, before the compiler sees it."""
    marker = tmp_path / "marker"
    attack = f'system("touch {marker}");'
    source = c_tampered(c_files[".c"], "int system(const char *);", attack, "constructor")
    status, out, err = check(write_c(tmp_path, c_files, source))
    assert (status, out) == (2, ""), err
    assert "uses the identifier __attribute__" in err and "so it is not run" in err
    assert not marker.exists()


@pytest.mark.parametrize("into", [".c", ".h"])
def test_c_includes_are_refused_before_anything_runs(
    c_files: dict[str, str], tmp_path: Path, into: str
) -> None:
    """A file that includes more than the generated C is refused before it is compiled: the
    refusal names the include, not the system call its code would make."""
    marker = tmp_path / "marker"
    attack = f'system("touch {marker}");'
    source = c_tampered(c_files[".c"], "int system(const char *);", attack, "loss")
    header = c_files[".h"]
    more = "#include <stddef.h>\n#include <stdlib.h>\n"
    if into == ".c":
        source = source.replace("#include <stddef.h>\n", more)
    else:
        header = header.replace("#include <stddef.h>\n", more)
    path = write_c(tmp_path, {".h": header}, source)
    status, out, err = check(path)
    assert (status, out) == (2, ""), err
    assert err.startswith("symgrad: error: ") and err.count("\n") == 1, err
    assert f"net{into} includes something other than" in err and "so it is not run" in err
    assert not marker.exists()


#: Other spellings of ``#include <stdlib.h>`` that the C preprocessor reads as it (a digraph, a
#: trigraph, which ``-std=c99`` turns on, a comment, a spliced line).
INCLUDE_SPELLINGS = {
    "digraph": "%:include <stdlib.h>",
    "trigraph": "??=include <stdlib.h>",
    "comment": "#/**/include <stdlib.h>",
    "spliced": "#\\\ninclude <stdlib.h>",
}


@pytest.mark.parametrize("spelling", INCLUDE_SPELLINGS)
def test_c_includes_are_refused_however_spelled(
    c_files: dict[str, str], tmp_path: Path, spelling: str
) -> None:
    line = INCLUDE_SPELLINGS[spelling]
    source = c_files[".c"].replace("#include <stddef.h>\n", f"#include <stddef.h>\n{line}\n")
    source += "\nint net_probe(void) { return EXIT_SUCCESS; } /* compiles only with stdlib.h */\n"
    status, _, err = check(write_c(tmp_path, c_files, source))
    assert status == 2 and ("includes" in err or "contains" in err), err


@pytest.fixture(scope="module")
def native(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A shared library whose ``attempt(kind, marker, port)`` tries what ``kind`` says, and a
    loader module that wraps it in the Python contract (``loss`` calls it)."""
    folder = tmp_path_factory.mktemp("native")
    compiler = shutil.which("cc") or shutil.which("gcc")
    assert compiler, "a C compiler is needed (scripts/test.sh installs gcc)"
    (folder / "probe.c").write_text(
        textwrap.dedent(
            """\
            #include <arpa/inet.h>
            #include <fcntl.h>
            #include <netinet/in.h>
            #include <stdlib.h>
            #include <string.h>
            #include <sys/socket.h>
            #include <sys/wait.h>
            #include <unistd.h>

            /* 0: nothing; 1: system(); 2: fork and exec; 3: connect; 4: open for writing. */
            double attempt(int kind, const char *marker, int port) {
                if (kind == 1) {
                    char command[600] = "touch ";
                    strncat(command, marker, 500);
                    return system(command);
                }
                if (kind == 2) {
                    pid_t pid = fork();
                    if (pid == 0) {
                        execl("/usr/bin/touch", "touch", marker, (char *)0);
                        _exit(1);
                    }
                    int status;
                    waitpid(pid, &status, 0);
                    return pid;
                }
                if (kind == 3) {
                    int s = socket(AF_INET, SOCK_STREAM, 0);
                    struct sockaddr_in a;
                    memset(&a, 0, sizeof a);
                    a.sin_family = AF_INET;
                    a.sin_port = htons(port);
                    a.sin_addr.s_addr = htonl(0x7f000001);
                    return connect(s, (struct sockaddr *)&a, sizeof a);
                }
                if (kind == 4) {
                    int fd = open(marker, O_WRONLY | O_CREAT, 0644);
                    return write(fd, "x", 1);
                }
                return 42.0;
            }
            """
        ),
        encoding="utf-8",
    )
    library = folder / "libprobe.so"
    subprocess.run(
        [compiler, "-shared", "-fPIC", "-o", str(library), str(folder / "probe.c")], check=True
    )
    (folder / "probe_loader.py").write_text(
        textwrap.dedent(
            """\
            import ctypes


            class Probe:
                def __init__(self, library, kind, marker, port):
                    self.library = ctypes.CDLL(library)
                    self.library.attempt.restype = ctypes.c_double
                    self.library.attempt.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
                    self.args = (int(kind), marker.encode(), int(port))

                def loss(self, params, X, Y):
                    return float(self.library.attempt(*self.args))


            def load(library, kind, marker, port):
                return Probe(library, kind, marker, port)
            """
        ),
        encoding="utf-8",
    )
    return folder


def native_call(folder: Path, kind: int, marker: Path, port: int) -> float:
    """``loss`` of the native probe, called in the sandbox (its folder shown read-only)."""
    library = str(folder / "libprobe.so")
    inspected = Inspected(
        folder / "probe.c",
        "native-test",
        "symgrad codegen 2 2",
        {},
        "",
        "probe_loader:load",
        ("numpy",),
        native=True,
    )
    arguments = {"library": library, "kind": str(kind), "marker": str(marker), "port": str(port)}
    prepared = Prepared(inspected, arguments, library, extra_paths=(str(folder),))
    with Sandbox(prepared) as box:
        box.load()
        box.request({"op": "params", "name": "p"}, {"W1": np.zeros((2, 2))})
        box.request({"op": "data", "name": "d"}, {"x": np.zeros(2), "y": np.zeros(2)})
        reply, _ = box.request({"op": "call", "function": "loss", "params": "p", "data": "d"})
    return float(reply["result"]["value"])


NATIVE = {"system": 1, "fork-exec": 2, "connect": 3, "open-write": 4}


@pytest.mark.parametrize("attack", NATIVE)
def test_native_attacks_are_stopped_by_the_kernel(
    native: Path, tmp_path: Path, listener: socket.socket, attack: str
) -> None:
    kind, port = NATIVE[attack], listener.getsockname()[1]
    marker = tmp_path / "marker"
    # Outside the sandbox the library does what it says.
    outside = (
        f"import sys; sys.path.insert(0, {str(native)!r}); import probe_loader; "
        f"probe_loader.load({str(native / 'libprobe.so')!r}, {kind}, {str(marker)!r}, {port})"
        ".loss(None, None, None)"
    )
    subprocess.run([sys.executable, "-c", outside], capture_output=True, timeout=60, check=True)
    assert happened(attack, marker, listener)
    # Inside, the kernel stops the process at the system call.
    with pytest.raises(Refused, match="made a system call the sandbox does not allow"):
        native_call(native, kind, marker, port)
    assert not happened(attack, marker, listener)


def test_native_code_that_behaves_runs_in_the_sandbox(native: Path, tmp_path: Path) -> None:
    assert native_call(native, 0, tmp_path / "unused", 0) == 42.0


#: Calls that reach beyond the checked code's process, or change the machine: no profile the
#: checked code runs under may allow them whatever their arguments.
NEVER = seccomp.names(
    "kill tkill rt_sigqueueinfo rt_tgsigqueueinfo pidfd_send_signal pidfd_open pidfd_getfd ptrace "
    "process_vm_readv process_vm_writev setpriority ioprio_set sched_setscheduler sched_setparam "
    "sched_setattr setrlimit socket socketpair connect bind execveat fork vfork flock shmget "
    "shmat msgget semget mq_open mq_unlink keyctl add_key request_key bpf perf_event_open "
    "userfaultfd io_uring_setup mount umount2 pivot_root chroot unshare setns init_module "
    "finit_module delete_module kexec_load kexec_file_load reboot swapon settimeofday "
    "clock_settime adjtimex fsopen fsconfig fsmount open_tree move_mount setxattr lsetxattr "
    "fsetxattr setxattrat removexattr fremovexattr chmod fchmod chown fchown unlink unlinkat "
    "rename renameat renameat2 mkdir rmdir link symlink truncate ftruncate mknod memfd_create "
    "personality acct quotactl setuid setgid setns"
)


@pytest.mark.parametrize("profile", ["run", "start"])
def test_the_allowlists_leave_out_what_reaches_beyond_the_process(profile: str) -> None:
    listed = {rule.name for rule in seccomp.PROFILES[profile]}
    assert not listed & set(NEVER)
    unconditional = {rule.name for rule in seccomp.PROFILES[profile] if not rule.conditions}
    # Calls allowed only with conditions on their arguments: what they may do is the
    # process's own business.
    for name in ("ioctl", "fcntl", "clone", "openat", "prctl"):
        assert name in listed and name not in unconditional, name
    assert "execve" in listed if profile == "start" else "execve" not in listed
    assert seccomp.program(profile).startswith(b" \x00\x00\x00\x04\x00\x00\x00")


def test_a_call_the_allowlist_leaves_out_kills_the_process() -> None:
    """What the tests of attacks rely on, shown on the filter alone: a Python process that
    installed the ``run`` filter is killed at ``os.setpriority`` (allowed without it)."""
    program = seccomp.program("run")
    code = (
        "import os, sys; sys.path.insert(0, {here!r}); import guard; "
        "problem = guard.install_filter(bytes.fromhex({hexed!r}), {call}); "
        "print(problem, flush=True); os.getpid(); print('alive', flush=True); "
        "os.setpriority(os.PRIO_PROCESS, 0, 1); print('not killed', flush=True)"
    ).format(
        here=str(Path(seccomp.__file__).parent),
        hexed=program.hex(),
        call=seccomp.syscall_number("seccomp"),
    )
    done = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True)
    assert done.stdout.split() == ["None", "alive"], done.stdout + done.stderr
    assert done.returncode == -31  # SIGSYS
    unfiltered = subprocess.run(
        [sys.executable, "-c", "import os; os.setpriority(os.PRIO_PROCESS, 0, 1); print('ok')"],
        capture_output=True,
        text=True,
    )
    assert unfiltered.stdout.strip() == "ok"


# Where the checked folder is shown ------------------------------------------------------------


def test_the_checked_folder_never_hides_a_path_the_sandbox_needs() -> None:
    """The checked folder is mounted at a path the host lacks, so no read-only path of a view
    (Python, site-packages, symgrad's own package, the compiler) lies under it, wherever the
    project was cloned (``/check/work/...`` hid symgrad from the compile step once)."""
    mount = bwrap.check_mount()
    assert not os.path.lexists(mount)
    compiler = shutil.which("cc") or shutil.which("gcc")
    for path in bwrap.system_view(compiler=compiler).read_only:
        assert not f"{path}/".startswith(f"{mount}/"), path


def test_a_checked_folder_over_symgrad_breaks_the_check(
    c_files: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mutation test of the above: mounted over the folder that holds symgrad's package, the
    checked folder hides the compile step's own script, and the check ends in an error."""
    path = write_c(tmp_path, c_files, c_files[".c"])
    assert check(path)[0] == 0
    package = Path(bwrap.__file__).resolve().parents[2]
    monkeypatch.setattr(bwrap, "check_mount", lambda: str(package))
    status, out, err = check(path)
    assert (status, out) == (2, ""), err
    assert "ended without a library" in err
