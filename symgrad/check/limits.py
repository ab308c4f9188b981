"""The limits of ``symgrad check``: every bound on time, memory and disk, each a setting.

Beside the pipeline, for ``symgrad check``. :class:`Limits` holds them with their defaults;
``symgrad check --limit NAME=VALUE`` (repeatable) and ``check_file(..., limits=...)`` change
them, so that tests can run a bomb against a limit of seconds. Each is enforced outside the code
it bounds: by the kernel (resource limits, the size of a tmpfs) or by the checking process, which
kills what outlasts its time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

from symgrad.errors import ModuleCheckError

MB = 1 << 20


@dataclass(frozen=True)
class Limits:
    """Every limit of one check (times in seconds, sizes in megabytes)."""

    #: Wall-clock seconds the sandboxed run of the checked code may take (the processor time
    #: its process may use is this times the number of processors).
    time: float = 600.0
    #: Megabytes of address space the checked code may map beyond what its interpreter and the
    #: array library have mapped when it starts.
    memory: float = 4096.0
    #: Seconds to screen and compile a C file, and megabytes each compiler process may map.
    compile_time: float = 60.0
    compile_memory: float = 2048.0
    #: Megabytes the compiler may write (the size of its private tmpfs and of any one file).
    disk: float = 256.0
    #: Largest file ``check`` reads (the file, and a C file's header), in megabytes.
    file_size: float = 16.0
    #: Seconds to read the network the header names (its activations' domains, the points) and
    #: megabytes the process that does it may map beyond the checker's own.
    analysis_time: float = 30.0
    analysis_memory: float = 2048.0
    #: Seconds for symgrad's own high-precision evaluation of that network at every point (the
    #: second judge); past it, the check goes on with central differences alone.
    reference_time: float = 300.0
    #: Processes and threads each sandbox may run, and files it may hold open.
    processes: float = 512.0
    open_files: float = 256.0

    @property
    def memory_bytes(self) -> int:
        return int(self.memory * MB)

    @property
    def compile_memory_bytes(self) -> int:
        return int(self.compile_memory * MB)

    @property
    def disk_bytes(self) -> int:
        return int(self.disk * MB)

    @property
    def file_bytes(self) -> int:
        return int(self.file_size * MB)

    @property
    def analysis_memory_bytes(self) -> int:
        return int(self.analysis_memory * MB)

    def with_settings(self, settings: list[str] | tuple[str, ...]) -> Limits:
        """These limits with ``NAME=VALUE`` settings applied (``compile-time=5``)."""
        names = {f.name.replace("_", "-"): f.name for f in fields(self)}
        changed = self
        for setting in settings:
            name, _, text = setting.partition("=")
            field = names.get(name.strip())
            if field is None:
                raise ModuleCheckError(
                    f"--limit {setting!r} names no limit; the limits are "
                    f"{', '.join(sorted(names))} (seconds for times, megabytes for sizes)"
                )
            try:
                value = float(text)
            except ValueError:
                value = math.nan
            if not (math.isfinite(value) and value > 0):
                raise ModuleCheckError(
                    f"--limit {name.strip()} must be a positive number, got {text.strip()!r}"
                )
            changed = replace(changed, **{field: value})
        return changed


def describe(seconds: float) -> str:
    """``600 s``, ``0.5 s``: a limit of time as the messages give it."""
    return f"{seconds:g} s"
