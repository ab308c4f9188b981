"""The network a file's header names, analysed in a process of its own, bounded in time and memory.

Beside the pipeline, for ``symgrad check``. The header is text of the file's author: its custom
activation is parsed by symgrad's grammar (never run), but SymPy can take minutes to work out
where a hostile expression is defined. So everything that follows from the header runs in a
forked process with a limit on its address space and processor time, which the checker kills
when it outlasts ``analysis-time`` (or ``reference-time``):

1. the network spec, the points of the check (:func:`symgrad.check.points.draw`, then rounded
   to float32 so that float32 code is checked at the very same point), and the nearby points
   at which float32 rounding is measured (each number moved by a few float32 roundings);
2. the program symgrad lowers from the derivation of that network, evaluated in float64 at
   each of them (how far rounding moves a correct computation there);
3. that program in high precision at the points (:mod:`symgrad.check.reference`): the second
   judge. Sent apart, later; without it the check goes on with central differences alone.

The results come back as data (:mod:`symgrad.check.wire`), never pickled.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from symgrad import notation as nt
from symgrad.check import wire
from symgrad.check.limits import Limits, describe
from symgrad.check.points import Points
from symgrad.check.reference import Results
from symgrad.errors import ModuleCheckError

EPS32 = float(np.finfo(np.float32).eps)
#: Nearby points where float32 rounding is measured: how far each moves every number,
#: relatively. A few float32 roundings show rounding that changes from point to point; a
#: thousandth shows rounding that stays the same over small moves (the float32 rounding of a
#: saturated sigmoid, 1 - 1.7e-5, is the same for any pre-activation within 1e-3 of 11).
NUDGES = (4 * EPS32, 4 * EPS32, 1e-3, 1e-3)


@dataclass(frozen=True)
class Network:
    """What the checker needs of the network the header names."""

    sizes: tuple[int, ...]
    activations: tuple[str, ...]
    output: str
    loss: str
    accepts_labels: bool

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        """``{"W1": (n_1, n_0), "b1": (n_1,), ...}``."""
        return nt.parameter_shapes(self.sizes)

    @property
    def parameters(self) -> int:
        return sum(int(np.prod(s)) for s in self.shapes.values())


@dataclass(frozen=True)
class Found:
    """The first answer: the network, the points, the nearby points, the program in float64."""

    network: Network
    points: Points
    #: The parameters of each set by name: ``main`` (every path but one) and, when an
    #: activation saturates, ``saturated`` (the path of that name).
    params: dict[str, dict[str, np.ndarray]]
    #: ``nudged[j]``: each set of parameters, and the inputs of each path, moved a little.
    nudged: tuple[tuple[dict[str, dict[str, np.ndarray]], dict[str, np.ndarray]], ...]
    #: The program in float64 at the point of each path, and at each nudged point; in float32
    #: at the point of each path.
    float64: dict[str, Results]
    float64_nudged: tuple[dict[str, Results], ...]
    float32: dict[str, Results]


def paths(
    points: Points, saturated: Points | None = None
) -> dict[str, tuple[np.ndarray, np.ndarray, str]]:
    """The inputs, targets and parameter set of each path by name (``one``: one sample, 1-D;
    ``saturated``: the batch at the point where the last unit of each layer saturates)."""
    out = {
        "batch": (points.X, points.Y, "main"),
        "one": (points.x, points.y, "main"),
        "single": (points.X1, points.Y1, "main"),
    }
    if len(points.XL):
        out["large"] = (points.XL, points.YL, "main")
    if saturated is not None and saturated.saturated:
        out["saturated"] = (saturated.X, saturated.Y, "saturated")
    return out


def _float32(array: np.ndarray) -> np.ndarray:
    return np.asarray(array, dtype=np.float64).astype(np.float32).astype(np.float64)


def _nudge(array: np.ndarray, size: float, rng: np.random.Generator) -> np.ndarray:
    moved = array * (1 + size * rng.uniform(-1, 1, np.shape(array)))
    return _float32(moved)


# The process -----------------------------------------------------------------------------------


class Analysis:
    """The forked process that analyses a header, and its two answers."""

    def __init__(
        self,
        path: Path,
        command: str,
        *,
        seed: int,
        batch: int,
        large: int,
        limits: Limits,
    ) -> None:
        self.path = path
        self.limits = limits
        read, write = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # pragma: no cover - the child ends in os._exit
            os.close(read)
            _child(write, path, command, seed, batch, large, limits)
        os.close(write)
        self.reader = wire.Reader(read, 1 << 34)
        self.fd = read
        self.started = time.monotonic()
        self.found: Found | None = None
        self._reference: dict[str, Results] | None = None
        self.reference_problem: str | None = None

    def first(self) -> Found:
        """The network, the points and the program in float64 (or ModuleCheckError)."""
        deadline = self.started + self.limits.analysis_time
        what = f"the analysis of the network the header of {self.path} names"
        header, arrays = self._read(deadline, what, "analysis-time", self.limits.analysis_time)
        self.found = _found(header, arrays)
        self.first_at = time.monotonic()
        return self.found

    def reference(self) -> dict[str, Results] | None:
        """symgrad's high-precision results on each path, or None (``reference_problem`` says
        why): past ``reference-time`` the process is stopped and the check goes on without."""
        if self._reference is not None or self.reference_problem is not None:
            return self._reference
        deadline = self.first_at + self.limits.reference_time
        what = "symgrad's evaluation of the network"
        try:
            header, arrays = self._read(
                deadline, what, "reference-time", self.limits.reference_time
            )
        except ModuleCheckError as exc:
            self.reference_problem = str(exc)
            return None
        if "too_slow" in header:
            self.reference_problem = (
                f"{what} did not finish within the {describe(self.limits.reference_time)} "
                "limit (a timeout; --limit reference-time=SECONDS sets it)"
            )
            return None
        self._reference = {name: _results(arrays, f"ref/{name}") for name in header["paths"]}
        self.close()
        return self._reference

    def _read(
        self, deadline: float, what: str, setting: str, seconds: float
    ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        try:
            header, arrays = self.reader.read(deadline)
        except TimeoutError:
            self.close()
            raise ModuleCheckError(
                f"{what} did not finish within the {describe(seconds)} limit (a timeout; "
                f"--limit {setting}=SECONDS sets it)"
            ) from None
        except (EOFError, wire.WireError, OSError):
            status = self.close()
            reason = "ran out of its memory or processor time" if status else "ended"
            raise ModuleCheckError(
                f"{what} {reason} (--limit analysis-memory=MB sets its memory)"
            ) from None
        if "error" in header:
            self.close()
            raise ModuleCheckError(str(header["error"]))
        return header, arrays

    def close(self) -> int | None:
        """Stop the process (if it still runs); its status, None if it was already reaped."""
        if self.pid <= 0:
            return None
        pid, self.pid = self.pid, -1
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        os.close(self.fd)
        return status


def _child(  # pragma: no cover - runs in the forked process, which ends in os._exit
    out: int,
    path: Path,
    command: str,
    seed: int,
    batch: int,
    large: int,
    limits: Limits,
) -> None:
    status = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        _die_with_parent()
        _bound(limits)
        _analyse(out, path, command, seed, batch, large, limits)
    except MemoryError:
        _send(
            out,
            {
                "error": f"the analysis of the network the header of {path} names needed "
                f"more than the {limits.analysis_memory:g} MB it may use (--limit "
                "analysis-memory=MB sets it)"
            },
        )
    except ModuleCheckError as exc:
        _send(out, {"error": str(exc)})
    except BaseException as exc:  # anything else: a network symgrad cannot analyse
        _send(
            out,
            {
                "error": f"symgrad could not analyse the network the header of {path} "
                f"names ({type(exc).__name__})"
            },
        )
        status = 1
    finally:
        os._exit(status)


def _send(out: int, header: dict[str, Any], arrays: dict[str, np.ndarray] | None = None) -> None:
    with contextlib.suppress(OSError):
        wire.write(out, header, arrays)


def _die_with_parent() -> None:  # pragma: no cover - runs in the forked process
    """Ask the kernel to kill this process when the checker dies (``PR_SET_PDEATHSIG``)."""
    import contextlib
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)


def _bound(limits: Limits) -> None:
    """This process's own limits: address space and processor time."""
    mapped = 0
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmSize:"):
                mapped = int(line.split()[1]) * 1024
    memory = mapped + limits.analysis_memory_bytes
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    seconds = int(limits.analysis_time + limits.reference_time) + 5
    resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _analyse(  # pragma: no cover - runs in the forked process
    out: int, path: Path, command: str, seed: int, batch: int, large: int, limits: Limits
) -> None:
    from symgrad.check import reference
    from symgrad.check.points import draw
    from symgrad.check.source import parse_command
    from symgrad.derivation import build_derivation
    from symgrad.program import lower_matrix

    spec, _ = parse_command(path, command)
    points = _rounded(draw(spec, seed, batch, large))
    # The same draws (the same inputs and targets), with saturated units.
    saturated = _rounded(draw(spec, seed, batch, large, saturate=True))
    sets = {"main": points.params, "saturated": saturated.params}
    program = lower_matrix(build_derivation(spec, input_gradient=True))
    rng = np.random.default_rng([seed, 32])
    by_path = paths(points, saturated)
    header: dict[str, Any] = {
        "network": {
            "sizes": list(spec.sizes),
            "activations": [a.display for a in spec.activations],
            "output": spec.output,
            "loss": spec.loss,
            "accepts_labels": bool(spec.pair.accepts_labels),
        },
        "max_step": points.max_step,
        "note": points.note,
        "paths": {name: key for name, (_, _, key) in by_path.items()},
        "nudges": len(NUDGES),
    }
    arrays: dict[str, np.ndarray] = {}
    for key, params in sets.items():
        arrays.update({f"params/{key}/{k}": v for k, v in params.items()})
    for name in ("X", "Y", "x", "y", "X1", "Y1", "XL", "YL", "labels"):
        arrays[f"points/{name}"] = np.asarray(getattr(points, name))
    for name, (X, Y, key) in by_path.items():
        params = sets[key]
        _put(arrays, f"f64/{name}", reference.float64(program, params, _rows(X), _rows(Y)))
        _put(arrays, f"f32/{name}", reference.float32(program, params, _rows(X), _rows(Y)))
    for j, size in enumerate(NUDGES):
        moved_sets = {}
        for key, params in sets.items():
            moved_sets[key] = {k: _nudge(v, size, rng) for k, v in params.items()}
            arrays.update({f"nudge{j}/params/{key}/{k}": v for k, v in moved_sets[key].items()})
        for name, (X, Y, key) in by_path.items():
            moved = _nudge(X, size, rng)
            arrays[f"nudge{j}/X/{name}"] = moved
            results = reference.float64(program, moved_sets[key], _rows(moved), _rows(Y))
            _put(arrays, f"f64/nudge{j}/{name}", results)
    wire.write(out, header, arrays)
    deadline = time.monotonic() + limits.reference_time
    found: dict[str, np.ndarray] = {}
    try:
        for name, (X, Y, key) in by_path.items():
            results = reference.high_precision(program, sets[key], _rows(X), _rows(Y), deadline)
            _put(found, f"ref/{name}", results)
    except reference.TooSlow:
        wire.write(out, {"too_slow": True})
        return
    wire.write(out, {"paths": list(by_path)}, found)


def _rounded(points: Points) -> Points:
    """``points`` with every number rounded to float32 (so that float32 inputs are the same
    point)."""
    data: dict[str, Any] = {
        name: _float32(getattr(points, name))
        for name in ("X", "Y", "x", "y", "X1", "Y1", "XL", "YL")
    }
    return replace(points, params={k: _float32(v) for k, v in points.params.items()}, **data)


def _rows(values: np.ndarray) -> np.ndarray:
    return values.reshape(1, -1) if values.ndim == 1 else values


def _put(arrays: dict[str, np.ndarray], prefix: str, results: Results) -> None:
    arrays[f"{prefix}/loss"] = np.array(results.loss)
    arrays[f"{prefix}/yhat"] = results.yhat
    arrays.update({f"{prefix}/grad/{k}": v for k, v in results.gradients.items()})
    if results.input_gradient is not None:
        arrays[f"{prefix}/input_gradient"] = results.input_gradient


def _results(arrays: dict[str, np.ndarray], prefix: str) -> Results:
    gradients = {
        name.rsplit("/", 1)[1]: value
        for name, value in arrays.items()
        if name.startswith(f"{prefix}/grad/")
    }
    gradient_x = arrays.get(f"{prefix}/input_gradient")
    loss, yhat = float(arrays[f"{prefix}/loss"]), arrays[f"{prefix}/yhat"]
    return Results(loss, yhat, gradients, gradient_x)


def _prefixed(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """The arrays under ``prefix``, by the rest of their names."""
    return {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}


def _found(header: dict[str, Any], arrays: dict[str, np.ndarray]) -> Found:
    network = Network(
        tuple(header["network"]["sizes"]),
        tuple(header["network"]["activations"]),
        header["network"]["output"],
        header["network"]["loss"],
        header["network"]["accepts_labels"],
    )
    get = {name: arrays[f"points/{name}"] for name in ("X", "Y", "x", "y", "X1", "Y1", "XL", "YL")}
    keys = sorted(set(header["paths"].values()))
    sets = {key: _prefixed(arrays, f"params/{key}/") for key in keys}
    points = Points(
        sets["main"],
        get["X"],
        get["Y"],
        get["x"],
        get["y"],
        get["X1"],
        get["Y1"],
        arrays["points/labels"],
        get["XL"],
        get["YL"],
        float(header["max_step"]),
        str(header["note"]),
    )
    names = list(header["paths"])
    nudged = []
    for j in range(header["nudges"]):
        moved = {key: _prefixed(arrays, f"nudge{j}/params/{key}/") for key in keys}
        inputs = {name: arrays[f"nudge{j}/X/{name}"] for name in names}
        nudged.append((moved, inputs))
    return Found(
        network,
        points,
        sets,
        tuple(nudged),
        {name: _results(arrays, f"f64/{name}") for name in names},
        tuple(
            {name: _results(arrays, f"f64/nudge{j}/{name}") for name in names}
            for j in range(header["nudges"])
        ),
        {name: _results(arrays, f"f32/{name}") for name in names},
    )
