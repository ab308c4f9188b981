"""The child process of ``symgrad check``: it runs the checked code, inside the sandbox.

Started by :mod:`symgrad.check.session` as ``python -I -B child.py`` (isolated: no environment
variables, no user site, neither the current folder nor the script's on the path; no bytecode
written). It reads the setup message, imports what it needs, closes the sandbox
(:mod:`symgrad.check.guard`), loads the checked code and then answers requests: call a function
of the contract, or evaluate the loss at moved parameters. It answers with data only
(:mod:`symgrad.check.wire`); the parent judges everything.

It imports nothing of symgrad as a package (that would import SymPy): its siblings are loaded
by their paths. A loader named ``package.module:function`` (a compiled target's) is imported
before the sandbox closes and called after.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import os
import sys
import traceback
import types
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent


def _sibling(name: str) -> types.ModuleType:
    """A module of this folder, or of symgrad's, by its path (without importing the package)."""
    path = HERE / f"{name}.py" if (HERE / f"{name}.py").exists() else HERE.parent / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"symgrad_check_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it runs
    spec.loader.exec_module(module)
    return module


class Checked:
    """The checked code and the state of the requests: parameters, data, directions."""

    def __init__(self, functions: Any) -> None:
        self.functions = functions
        self.params: dict[str, dict[str, np.ndarray]] = {}
        self.data: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.directions: dict[str, dict[str, list[np.ndarray]]] = {}

    def call(self, name: str, args: list[Any]) -> Any:
        return getattr(self.functions, name)(*args)


def describe(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    """A result as JSON-able data, its arrays set aside in ``arrays``."""
    if isinstance(value, (float, np.floating)) and not isinstance(value, np.ndarray):
        return {"type": type(value).__name__, "value": float(value)}
    if isinstance(value, np.ndarray):
        name = f"a{len(arrays)}"
        kind = value.dtype.str
        if value.dtype == np.float64 or value.dtype == np.float32:
            arrays[name] = value
        else:
            arrays[name] = (
                np.asarray(value, dtype=np.float64) if value.dtype.kind in "biuf" else np.zeros(0)
            )
        return {"type": "ndarray", "array": name, "dtype": kind, "shape": list(value.shape)}
    if isinstance(value, dict):
        return {
            "type": "dict",
            "items": [[str(k), describe(v, arrays)] for k, v in value.items()],
            "keys_are_str": all(isinstance(k, str) for k in value),
        }
    if isinstance(value, (tuple, list)):
        return {"type": type(value).__name__, "items": [describe(v, arrays) for v in value]}
    return {"type": type(value).__name__}


def serve(checked: Checked, guard: Any, reader: Any, out: int, wire: Any, moves: Any) -> None:
    """Answer requests until the parent closes the channel."""
    while True:
        try:
            request, arrays = reader.read()
        except EOFError:
            return
        op = request.get("op")
        reply: dict[str, Any] = {}
        payload: dict[str, np.ndarray] = {}
        try:
            if op == "params":
                checked.params[request["name"]] = arrays
            elif op == "data":
                checked.data[request["name"]] = (arrays["x"], arrays["y"])
            elif op == "directions":
                checked.directions[request["name"]] = {
                    k: [arrays[f"{k}/{n}"] for n in range(request["counts"][k])]
                    for k in request["counts"]
                }
            elif op == "call":
                params = checked.params[request["params"]]
                x, y = checked.data[request["data"]]
                args: list[Any] = (
                    [params, x] if request["function"] == "forward" else [params, x, y]
                )
                if request["function"] == "init_params":
                    args = [request["seed"]]
                reply["result"] = describe(checked.call(request["function"], args), payload)
            elif op == "losses":
                params = checked.params[request["params"]]
                x, y = checked.data[request["data"]]
                work = {k: v.copy() for k, v in params.items()}
                moved = [(str(k), int(w), float(t)) for k, w, t in request["moves"]]
                directions = checked.directions.get(request.get("directions", ""), {})
                loss = checked.functions.loss
                payload["values"] = moves.move_and_evaluate(
                    functools.partial(_loss_of, loss, x, y), params, work, directions, moved
                )
            elif op == "rows":
                params = checked.params[request["params"]]
                loss = checked.functions.loss
                payload["values"] = np.array(
                    [
                        float(loss(params, row, target))
                        for row, target in zip(arrays["x"], arrays["y"], strict=True)
                    ]
                )
            else:
                reply["error"] = f"unknown request {op!r}"
        except MemoryError:
            reply = {"error": "MemoryError", "memory": True}
            payload = {}
        except BaseException as exc:  # the checked code may raise anything
            reply = {"error": f"{type(exc).__name__}: {exc}"[:500], "line": _line(exc)}
            payload = {}
        if guard.refused is not None:
            wire.write(out, {"refused": guard.refused})
            os._exit(3)
        wire.write(out, reply, payload)


def _loss_of(loss: Any, x: np.ndarray, y: np.ndarray, params: dict[str, np.ndarray]) -> Any:
    return loss(params, x, y)


def _line(exc: BaseException) -> int | None:
    """The line of the checked code where ``exc`` was raised, if it was raised there."""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename == CHECKED_FILENAME:
            return frame.lineno
    return None


CHECKED_FILENAME = "<checked>"


def _address_space() -> int:
    """The bytes of address space this process has mapped (``VmSize``), 0 if unknown."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def load_python(source: str, filename: str) -> types.ModuleType:
    """Run the checked source as a module (inside the sandbox)."""
    global CHECKED_FILENAME
    CHECKED_FILENAME = filename
    module = types.ModuleType("symgrad_checked")
    module.__file__ = filename
    sys.modules[module.__name__] = module  # dataclasses and typing look modules up by name
    exec(compile(source, filename, "exec"), module.__dict__)  # noqa: S102 - sandboxed
    return module


def main() -> None:
    # The channel is a copy of stdin and stdout; what the checked code prints goes to stderr.
    channel_in, channel_out = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    os.close(devnull)
    wire = _sibling("wire")
    reader = wire.Reader(channel_in, 1 << 40)
    setup, _ = reader.read()
    sys.path[:] = [p for p in setup["sys_path"] if isinstance(p, str)]
    guard_module = _sibling("guard")
    moves = _sibling("gradcheck")
    for name in setup["preload"]:
        importlib.import_module(name)
    loader = setup["loader"]
    load = None
    if loader != "python":
        module_name, _, function = loader.partition(":")
        load = getattr(importlib.import_module(module_name), function)
    unlimited = guard_module.limit_resources(
        setup["cpu_seconds"], _address_space() + setup["memory_bytes"]
    )
    problem = guard_module.install_seccomp()
    if problem is not None and setup["native"]:
        wire.write(channel_out, {"unsandboxed": problem})
        return
    guard = guard_module.AuditGuard(tuple(setup["imports"]), setup.get("library"))
    if load is None:
        # The filter is in place; ctypes, which installed it, is not left for checked code.
        for name in [
            n for n in sys.modules if n == "ctypes" or n.startswith(("ctypes.", "_ctypes"))
        ]:
            del sys.modules[name]
    guard.install()
    try:
        if load is None:
            functions: Any = load_python(setup["source"], setup["filename"])
        else:
            functions = load(**setup["arguments"])
    except MemoryError:
        reply: dict[str, Any] = {"error": "MemoryError", "memory": True}
    except BaseException as exc:  # loading may raise anything
        reply = {"error": f"{type(exc).__name__}: {exc}"[:500], "line": _line(exc)}
    else:
        reply = {"ready": True, "seccomp": problem, "unlimited": unlimited}
    if guard.refused is not None:
        wire.write(channel_out, {"refused": guard.refused})
        os._exit(3)
    wire.write(channel_out, reply)
    if "ready" in reply:
        serve(Checked(functions), guard, reader, channel_out, wire, moves)


if __name__ == "__main__":
    main()
