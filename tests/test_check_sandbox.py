"""The sandbox of ``symgrad check``: checked code may not start processes, use the network or
write files, whether it tries from Python or from native code.

Each attack is shown to work outside the sandbox first (the same code run by a plain Python
creates its marker file or reaches the listening socket), then to be stopped inside it: exit
status 2, one ``symgrad: error:`` line naming what was refused, and no marker, no connection.
The native attacks come from a tiny shared library these tests compile, loaded the way a
compiled target is (:class:`~symgrad.check.source.Prepared` with a child loader): only the
kernel's seccomp filter can stop them.
"""

from __future__ import annotations

import io
import shutil
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from symgrad.check import guard
from symgrad.check.session import Refused, Sandbox
from symgrad.check.source import Inspected, Prepared
from symgrad.cli import main
from symgrad.codegen import generate_module
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
    """The module with ``line`` after its imports, or at the start of ``loss``'s body."""
    if where == "imports":
        return text.replace("import numpy as np\n", f"import numpy as np\n{line}\n", 1)
    anchor = '    """The mean over the rows of the per-sample loss'
    head, tail = text.split(anchor, 1)
    docstring, rest = tail.split("\n", 1)
    return f"{head}{anchor}{docstring}\n    {line}\n{rest}"


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
    marker = tmp_path / "marker"
    line = code.format(marker=marker, port=listener.getsockname()[1])
    path = tmp_path / "tampered.py"
    path.write_text(tampered(module_text, line, where), encoding="utf-8")
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
    """``loss`` of the native probe, called in the sandbox."""
    library = str(folder / "libprobe.so")
    inspected = Inspected(
        folder / "probe.c",
        "native-test",
        NetworkSpec.parse([2, 2]),
        None,
        "",
        ("float64",),
        "probe_loader:load",
        ("numpy",),
        native=True,
    )
    arguments = {"library": library, "kind": str(kind), "marker": str(marker), "port": str(port)}
    sys.path.insert(0, str(folder))  # the child gets the checker's path
    try:
        with Sandbox(Prepared(inspected, arguments, library)) as box:
            box.request({"op": "params", "name": "p"}, {"W1": np.zeros((2, 2))})
            box.request({"op": "data", "name": "d"}, {"x": np.zeros(2), "y": np.zeros(2)})
            reply, _ = box.request({"op": "call", "function": "loss", "params": "p", "data": "d"})
    finally:
        sys.path.remove(str(folder))
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
    with pytest.raises(Refused, match="made a system call the sandbox refuses"):
        native_call(native, kind, marker, port)
    assert not happened(attack, marker, listener)


def test_native_code_that_behaves_runs_in_the_sandbox(native: Path, tmp_path: Path) -> None:
    assert native_call(native, 0, tmp_path / "unused", 0) == 42.0


@pytest.mark.parametrize("arch", sorted(guard.AUDIT_ARCH))
def test_the_filter_program_is_well_formed(arch: str) -> None:
    """Every jump lands inside the program and goes forward; the checks are all there."""
    program = guard.filter_program(arch, 1234)
    assert len(program) < 256
    for n, (code, jt, jf, _) in enumerate(program):
        if code & 0x07 == 0x05:  # a jump
            assert n + 1 + max(jt, jf) < len(program)
    numbers = {k for code, _, _, k in program if code == 0x15}
    for table in (guard.PROCESS_CALLS, guard.NETWORK_CALLS, guard.FILE_CALLS, guard.OTHER_CALLS):
        assert set(table[arch].values()) <= numbers
    assert guard.CLONE[arch] in numbers and set(guard.OPEN[arch]) <= numbers
    assert program[-3:] == [
        (0x06, 0, 0, guard.SECCOMP_RET_ALLOW),
        (0x06, 0, 0, guard.SECCOMP_RET_KILL_PROCESS),
        (0x06, 0, 0, guard.SECCOMP_RET_ERRNO | guard.ENOSYS),
    ]
