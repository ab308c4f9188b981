"""The parent's side of the sandbox: start the child, talk to it, turn its end into one line.

:class:`Sandbox` starts :mod:`symgrad.check.child` in bubblewrap (:mod:`symgrad.check.bwrap`,
profile ``start``; the child narrows it to ``run`` itself), or, with ``--unsandboxed``, as a
plain process with the same limits, an empty environment and its own session. Its stdin and
stdout are the message channel, its stderr is kept (the last few kilobytes). Every answer must
come within the time left of the ``time`` limit and within :attr:`Sandbox.answer_bytes` (a
stated multiple of the network's size): the parent never holds more than that of what the
child says. Every request is numbered and its answer must carry that number; an answer that
is not what was asked for (a message the checked code wrote to the channel itself, which
leaves the child's own answer to pass for the next) ends the check with exit status 2, as does
every way the child can end: a refused action, a system call the kernel stopped, time or memory
used up (each named, with its limit).
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

from symgrad.check import bwrap, seccomp, wire
from symgrad.check.limits import Limits, describe
from symgrad.check.source import Prepared
from symgrad.check.text import excerpt
from symgrad.errors import ModuleCheckError

CHILD = Path(__file__).with_name("child.py")
#: Seconds the child has to start and load the checked code (within the ``time`` limit).
START_LIMIT = 120.0
#: Modules the child imports before its sandbox closes, so checked code finds them loaded.
PRELOAD = ("__future__", "typing", "math", "struct", "numpy", "numpy.typing", "numpy.random")
#: An answer may carry this many float64 numbers per parameter of the network (or per number
#: of the largest batch's inputs and targets, if more), plus ANSWER_HEADROOM bytes.
ANSWER_FACTOR = 16
ANSWER_HEADROOM = 1 << 20


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
        limits: Limits | None = None,
        sandboxed: bool = True,
        arrays: tuple[str, ...] = (),
        answer_numbers: int = 1 << 20,
    ) -> None:
        self.prepared = prepared
        self.path = prepared.inspected.path
        self.limits = limits or Limits()
        self.sandboxed = sandboxed
        self.arrays = arrays
        self.answer_bytes = ANSWER_HEADROOM + 8 * ANSWER_FACTOR * answer_numbers
        self.deadline = time.monotonic() + self.limits.time
        self.process: subprocess.Popen[bytes] | None = None
        self.stderr: list[bytes] = []
        #: Why the system-call filter is missing (None when in place), and what else is.
        self.seccomp: str | None = None
        self.unlimited: list[str] = []
        #: The real type the loaded code computes in, when it says (compiled code).
        self.dtype: str | None = None
        #: The number of the last request sent; the child's answer must carry it.
        self.sent = 0

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Starting --------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the child and close its sandbox; the checked code is not loaded yet."""
        inspected = self.prepared.inspected
        cpu = int(self.limits.time * max(1, os.cpu_count() or 1)) + 1
        resources = bwrap.Resources(
            cpu_seconds=cpu,
            file_bytes=0,  # no file may grow
            processes=bwrap.process_limit(int(self.limits.processes)),
            open_files=int(self.limits.open_files),
        )
        argv = [sys.executable, "-I", "-B", str(CHILD)]
        environment = {"HOME": "/tmp", "LC_ALL": "C.UTF-8"}
        if self.sandboxed:
            view = bwrap.system_view(extra=self.prepared.extra_paths)
            view = bwrap.View(view.read_only, view.symlinks, check_folder=self.prepared.folder)
            self.process = bwrap.popen(
                argv,
                profile="start",
                limits=resources,
                view=view,
                environment=environment,
                arrays=self.arrays,
            )
        else:
            self.folder = tempfile.TemporaryDirectory(prefix="symgrad-check-")
            self.process = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=self.folder.name,
                env=environment,
                start_new_session=True,
                close_fds=True,
                preexec_fn=resources.apply,  # noqa: PLW1509 - only setrlimit and signal
            )
        assert self.process.stdin and self.process.stdout and self.process.stderr
        self._drain(self.process.stderr)
        self.reader = wire.Reader(
            self.process.stdout.fileno(), self.answer_bytes, self.answer_bytes
        )
        try:
            program = seccomp.program("run", self.arrays, 0 if self.sandboxed else self.process.pid)
            call = seccomp.syscall_number("seccomp")
        except seccomp.SeccompUnavailable as exc:
            if self.sandboxed:  # pragma: no cover - availability() checked it
                raise ModuleCheckError(f"sandbox unavailable: {exc}") from None
            program, call = b"", -1
        package = str(CHILD.resolve().parent.parent.parent)  # the folder holding symgrad
        setup = {
            "sys_path": [p for p in sys.path if p and os.path.isabs(p)]
            + [package, *self.prepared.extra_paths],
            "preload": [*PRELOAD, *inspected.preload],
            "libraries": list(self.arrays),
            "loader": inspected.child_loader,
            "arguments": self.prepared.arguments,
            "library": self.prepared.library,
            "imports": list(inspected.imports),
            "source": inspected.source if inspected.child_loader == "python" else "",
            "filename": str(self.path),
            "memory_bytes": self.limits.memory_bytes,
            "seccomp_call": call,
        }
        filter_bytes = np.frombuffer(program, dtype=np.uint8)
        started = min(self.deadline, time.monotonic() + START_LIMIT)
        reply, _ = self._exchange(setup, {"filter": filter_bytes}, started)
        if reply.get("ready") is not True:
            raise self._nonsense()
        if reply.get("seccomp") is not None:
            problem = excerpt(str(reply["seccomp"]))
            if self.sandboxed:
                self.close()
                raise ModuleCheckError(
                    f"sandbox unavailable: the checked code's process could not install its "
                    f"system-call filter ({problem})"
                )
            self.seccomp = problem
        if reply.get("limited"):
            self.unlimited.append("memory")
        self.started_at = started

    def inspection(self) -> dict[str, Any]:
        """What the child read of a Python module (before it runs any of it)."""
        reply, _ = self._exchange(None, {}, self.started_at)
        return reply

    def load(self) -> None:
        """Load the checked code (the parent accepted what it read)."""
        try:
            reply, _ = self._exchange({"op": "load"}, {}, self.started_at)
        except Raised as exc:
            raise ModuleCheckError(
                f"{self.path} raised {exc.detail} when it was loaded; it is not working "
                "generated code: regenerate it with symgrad codegen"
            ) from None
        if reply.get("loaded") is not True:
            raise self._nonsense()
        dtype = reply.get("dtype")
        if dtype not in (None, "float64", "float32"):
            raise self._nonsense()
        self.dtype = dtype

    # Talking ---------------------------------------------------------------------------------

    def request(
        self, header: dict[str, Any], arrays: dict[str, np.ndarray] | None = None
    ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Send one request and read its answer, or raise what went wrong."""
        return self._exchange(header, arrays or {}, self.deadline)

    def _exchange(
        self,
        header: dict[str, Any] | None,
        arrays: dict[str, np.ndarray],
        deadline: float,
    ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Send ``header`` (unless None) and read the next answer."""
        if self.process is None:
            raise ModuleCheckError(f"the process checking {self.path} is gone")
        assert self.process.stdin is not None
        try:
            if header is not None:
                self.sent += 1
                self.process.stdin.write(wire.encode({**header, "n": self.sent}, arrays))
                self.process.stdin.flush()
            reply, payload = self.reader.read(deadline)
        except TimeoutError:
            self.close()
            raise ModuleCheckError(
                f"{self.path} did not finish within the {describe(self.limits.time)} limit of "
                "symgrad check (a timeout; --limit time=SECONDS sets it); it was stopped"
            ) from None
        except wire.WireError as exc:
            self.close()
            raise self._nonsense(str(exc)) from None
        except (BrokenPipeError, EOFError, OSError) as exc:
            raise self._ended(exc) from None
        if "refused" in reply:
            self.close()
            raise Refused(
                f"{self.path} tried to {excerpt(str(reply['refused']), 200)}; checked code may "
                "not start processes, use the network, write files or signal other processes, "
                "so the check stopped there"
            )
        number = reply.get("n")
        if type(number) is not int or number != self.sent:
            # Not the answer to this request: a message the checked code wrote to the channel
            # itself (a refusal, which ends the check anyway, is the only one without a number).
            raise self._nonsense("not the answer to the request")
        if "error" in reply:
            if reply.get("memory"):
                self.close()
                raise ModuleCheckError(
                    f"{self.path} needed more memory than the {self.limits.memory:g} MB symgrad "
                    "check allows (--limit memory=MB sets it)"
                )
            line = reply.get("line")
            where = (
                f" at line {line}" if isinstance(line, int) and not isinstance(line, bool) else ""
            )
            raise Raised(self.path, f"{excerpt(str(reply['error']))}{where}")
        return reply, payload

    def _nonsense(self, detail: str = "") -> ModuleCheckError:
        self.close()
        return ModuleCheckError(
            f"the process running {self.path} answered with a message symgrad check cannot "
            f"read ({excerpt(detail, 80) or 'not what was asked'}); checked code may have "
            "written to the channel: it is not working generated code"
        )

    def _ended(self, exc: BaseException) -> ModuleCheckError:
        """Why the child stopped answering."""
        assert self.process is not None
        try:
            status = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            status = None
        words = self.last_words()
        self.close()
        # bubblewrap ends with the status of the command: a signal as 128 + its number.
        number = -status if status is not None and status < 0 else None
        if status is not None and status > 128 and self.sandboxed:
            number = status - 128
        if number == signal.SIGSYS:
            return Refused(
                f"{self.path}: the checked code made a system call the sandbox does not allow "
                "(to start a process, reach the network, write a file, signal or change another "
                "process, or reach a terminal) and the kernel stopped it"
            )
        if number in (signal.SIGXCPU, signal.SIGKILL):
            return ModuleCheckError(
                f"{self.path} used more processor time than symgrad check allows "
                f"({describe(self.limits.time)} per processor; --limit time=SECONDS sets it) "
                "and was stopped"
            )
        if number is not None:
            try:
                name = signal.Signals(number).name
            except ValueError:
                name = f"signal {number}"
            return ModuleCheckError(
                f"{self.path} crashed the process running it ({name}) while being checked"
            )
        return ModuleCheckError(
            f"{self.path} ended the process running it ({type(exc).__name__}, exit status "
            f"{status}" + (f"; it said: {words}" if words else "") + "); it is not working "
            "generated code"
        )

    def _drain(self, stream: IO[bytes]) -> None:
        """Keep the last few kilobytes of the child's stderr (read on a thread, so a child
        that writes a lot cannot block)."""

        def run() -> None:
            while chunk := stream.read(4096):
                self.stderr.append(chunk)
                if len(self.stderr) > 4:
                    del self.stderr[:-4]

        self.drainer = threading.Thread(target=run, daemon=True)
        self.drainer.start()

    def last_words(self) -> str:
        """The last line the child wrote to stderr (after it ended), as a short excerpt."""
        drainer = getattr(self, "drainer", None)
        if drainer is not None:
            drainer.join(timeout=2)
        lines = b"".join(self.stderr).decode("utf-8", "replace").strip().splitlines()
        return excerpt(lines[-1]) if lines else ""

    def close(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        with contextlib.suppress(OSError):
            if process.stdin is not None:
                process.stdin.close()
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
