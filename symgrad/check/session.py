"""The parent's side of the sandbox: start the child, talk to it, turn its end into one line.

:class:`Sandbox` starts :mod:`symgrad.check.child` in its own session (``setsid``, so a signal
to its group cannot reach the checker), with a private empty working folder, stdin and stdout
as the message channel and stderr captured. Every answer must come within the time left of the
check's budget; the child is killed when the check ends, whatever the reason. What the child
sends is data (:mod:`symgrad.check.wire`); what goes wrong becomes a
:class:`~symgrad.errors.ModuleCheckError` whose message names what happened: a refused action,
a system call the kernel stopped, time or memory used up, an exception of the checked code.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

import numpy as np

from symgrad.check import wire
from symgrad.check.source import Prepared
from symgrad.errors import ModuleCheckError

CHILD = Path(__file__).with_name("child.py")
#: Wall-clock seconds a whole check may take, and the processor seconds the child may use.
TIME_LIMIT = 600.0
#: Seconds the child has to start and load the checked code.
START_LIMIT = 120.0
#: Address space the child may use beyond what it has after its setup.
MEMORY_MARGIN = 4 << 30
#: Modules the child imports before its sandbox closes, so checked code finds them loaded.
PRELOAD = ("__future__", "typing", "math", "struct", "numpy", "numpy.typing", "numpy.random")
#: The largest answer (bytes of arrays) the checker reads from the child.
ANSWER_LIMIT = 8 << 30


class Refused(ModuleCheckError):
    """The checked code tried something the sandbox does not allow."""


class Raised(ModuleCheckError):
    """The checked code raised an exception while answering a request (``detail`` says which,
    and where): the check counts that as a failure of the code, not as code it cannot run."""

    def __init__(self, path: Path, detail: str) -> None:
        super().__init__(f"{path} raised {detail} while being checked")
        self.detail = detail


class Sandbox:
    """The child process running the checked code, and its message channel."""

    def __init__(
        self,
        prepared: Prepared,
        *,
        memory_bytes: int = MEMORY_MARGIN,
        time_limit: float = TIME_LIMIT,
    ) -> None:
        self.prepared = prepared
        self.path = prepared.inspected.path
        self.deadline = time.monotonic() + time_limit
        self.time_limit = time_limit
        self.memory_bytes = memory_bytes
        self.process: subprocess.Popen[bytes] | None = None
        self.stderr: list[bytes] = []
        self.seccomp: str | None = None
        #: The resource limits the child could not set.
        self.unlimited: list[str] = []

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        inspected = self.prepared.inspected
        self.folder = tempfile.TemporaryDirectory(prefix="symgrad-check-")
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-B", str(CHILD)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=self.folder.name,
            start_new_session=True,
            close_fds=True,
        )
        assert self.process.stdin and self.process.stdout and self.process.stderr
        self._drain(self.process.stderr)
        self.reader = wire.Reader(self.process.stdout.fileno(), ANSWER_LIMIT)
        cpu = int(self.time_limit * max(1, os.cpu_count() or 1))
        setup = {
            "sys_path": [p for p in sys.path if p and os.path.isabs(p)],
            "preload": [*PRELOAD, *inspected.preload],
            "loader": inspected.child_loader,
            "arguments": self.prepared.arguments,
            "library": self.prepared.library,
            "native": inspected.native,
            "imports": list(inspected.imports),
            "source": inspected.source if inspected.child_loader == "python" else "",
            "filename": str(self.path),
            "cpu_seconds": cpu,
            "memory_bytes": self.memory_bytes,
        }
        try:
            reply, _ = self._exchange(setup, {}, min(self.deadline, time.monotonic() + START_LIMIT))
        except Raised as exc:
            raise ModuleCheckError(
                f"{self.path} raised {exc.detail} when it was loaded; it is not working "
                "generated code: regenerate it with symgrad codegen"
            ) from None
        if "unsandboxed" in reply:
            raise ModuleCheckError(
                f"{self.path} is native code, and this system cannot filter its system calls "
                f"({reply['unsandboxed']}); symgrad check runs native code only inside that "
                "filter"
            )
        self.seccomp = reply.get("seccomp")
        self.unlimited = [str(x) for x in reply.get("unlimited", [])]

    def _drain(self, stream: IO[bytes]) -> None:
        """Keep the last few kilobytes of the child's stderr (read on a thread, so a child
        that writes a lot cannot block)."""

        def run() -> None:
            while chunk := stream.read(4096):
                self.stderr.append(chunk)
                if len(self.stderr) > 16:
                    del self.stderr[:-16]

        self.drainer = threading.Thread(target=run, daemon=True)
        self.drainer.start()

    def last_words(self) -> str:
        """The last line the child wrote to stderr (after it ended), or ""."""
        drainer = getattr(self, "drainer", None)
        if drainer is not None:
            drainer.join(timeout=2)
        lines = b"".join(self.stderr).decode("utf-8", "replace").strip().splitlines()
        return " ".join(lines[-1].split())[:300] if lines else ""

    def request(
        self, header: dict[str, Any], arrays: dict[str, np.ndarray] | None = None
    ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Send one request and read its answer, or raise what went wrong."""
        return self._exchange(header, arrays or {}, self.deadline)

    def _exchange(
        self, header: dict[str, Any], arrays: dict[str, np.ndarray], deadline: float
    ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        assert self.process is not None and self.process.stdin is not None
        try:
            self.process.stdin.write(wire.encode(header, arrays))
            self.process.stdin.flush()
            reply, payload = self.reader.read(deadline)
        except (BrokenPipeError, EOFError, OSError, wire.WireError) as exc:
            raise self._ended(exc) from None
        except TimeoutError:
            self.close()
            raise ModuleCheckError(
                f"{self.path} did not finish within the {self.time_limit:.0f} s symgrad check "
                "allows; it was stopped"
            ) from None
        if "refused" in reply:
            self.close()
            raise Refused(
                f"{self.path} tried to {reply['refused']}; checked code may not start processes, "
                "use the network or write files, so the check stopped there"
            )
        if "error" in reply:
            if reply.get("memory"):
                raise ModuleCheckError(
                    f"{self.path} needed more memory than the {self.memory_bytes >> 20} MB "
                    "symgrad check allows"
                )
            line = f" at line {reply['line']}" if reply.get("line") else ""
            raise Raised(self.path, f"{reply['error']}{line}")
        return reply, payload

    def _ended(self, exc: BaseException) -> ModuleCheckError:
        """Why the child stopped answering."""
        assert self.process is not None
        try:
            status = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            status = None
        words = self.last_words()
        self.close()
        if status is not None and status < 0:
            number = -status
            if number == signal.SIGSYS:
                return Refused(
                    f"{self.path}: the checked code made a system call the sandbox refuses (to "
                    "start a process, use the network or write a file) and the kernel stopped it"
                )
            if number in (signal.SIGXCPU, signal.SIGKILL):
                return ModuleCheckError(
                    f"{self.path} used more processor time than symgrad check allows and was "
                    "stopped"
                )
            return ModuleCheckError(
                f"{self.path} crashed the process running it ({signal.Signals(number).name}) "
                "while being checked"
            )
        return ModuleCheckError(
            f"{self.path} ended or broke the channel of the process running it "
            f"({type(exc).__name__}, exit status {status}"
            + (f"; it said: {words}" if words else "")
            + "); it is not working generated code"
        )

    def close(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        for stream in (process.stdin,):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
        folder = getattr(self, "folder", None)
        if folder is not None:
            folder.cleanup()
