"""The child process of ``symgrad check``: it runs the checked code, inside the sandbox.

Started by :mod:`symgrad.check.session` as ``python -I -B child.py`` inside bubblewrap (see
:mod:`symgrad.check.bwrap`): no environment, no user site, no bytecode written. Its stdin and stdout
are the message channel (:mod:`symgrad.check.wire`); what the checked code prints goes to
stderr. In order:

1. it reads the setup message and imports what the checked code will need (NumPy, the
   target's modules, a compiled target's loader, the array libraries of ``--arrays``);
2. it limits its address space and installs the ``run`` seccomp filter on all its threads
   (the filter bubblewrap installed before it started also allows ``execve``; this one does
   not), then removes ``ctypes``, which installed it, from its modules;
3. it installs the audit hook (:mod:`symgrad.check.guard`), which keeps no state: a refused
   action is written to the channel and ends the process at once;
4. it parses the checked source and says what it defines and imports; only when the parent
   agrees does it load the code (a compiled target through its loader);
5. it answers requests: call a function of the contract, evaluate the loss at moved parameters.
   Each call gets fresh copies of its inputs.

It answers with data only, each answer carrying the number of the request it answers; the
parent judges everything. It imports nothing of symgrad as a
package before its sandbox closes but a compiled target's loader: its siblings are loaded by
their paths.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import os
import sys
import traceback
import types
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CHECKED_FILENAME = "<checked>"
#: Names of the generated contract the parent asks about.
CONTRACT = ("LAYER_SIZES", "forward", "loss", "gradients", "loss_and_gradients", "init_params")


def _sibling(name: str) -> types.ModuleType:
    """A module of this folder by its path (without importing the package, and left out of
    ``sys.modules`` once loaded)."""
    spec = importlib.util.spec_from_file_location(f"symgrad_check_{name}", HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it runs
    spec.loader.exec_module(module)
    del sys.modules[spec.name]
    return module


def main() -> None:
    # The channel is a copy of stdin and stdout; what the checked code prints goes to stderr.
    channel_in, channel_out = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    os.close(devnull)
    wire = _sibling("wire")
    reader = wire.Reader(channel_in, 1 << 30)
    setup, arrays = reader.read()
    sys.path[:] = [p for p in setup["sys_path"] if isinstance(p, str)]
    guard = _sibling("guard")
    import numpy as np

    for name in setup["preload"]:
        importlib.import_module(name)
    libraries = guard.array_libraries(setup["libraries"])
    load = None
    if setup["loader"] != "python":
        module_name, _, function = setup["loader"].partition(":")
        load = getattr(importlib.import_module(module_name), function)
    limited = guard.limit_address_space(setup["memory_bytes"])
    # Without the filter (only with --unsandboxed) the parent says so in its report.
    problem = guard.install_filter(bytes(arrays["filter"]), setup["seccomp_call"])
    guard.forget_ctypes()
    guard.install_hook(tuple(setup["imports"]), setup.get("library"), channel_out, wire.encode)
    del guard, arrays
    # Every answer carries the number of the request it answers (``n``): a message the checked
    # code writes to the channel itself cannot take the place of one.
    answer = {"n": setup.get("n")}
    wire.write(channel_out, {**answer, "ready": True, "limited": limited, "seccomp": problem})
    functions = _load(setup, load, reader, channel_out, wire)
    if functions is not None:
        serve(Served(functions, libraries, np), reader, channel_out, wire)


def _load(setup: dict[str, Any], load: Any, reader: Any, out: int, wire: Any) -> Any:
    """Inspect the checked source (Python), wait for the parent's word, load the code."""
    source = setup.get("source", "")
    if load is None:
        wire.write(out, {"n": setup.get("n"), **inspect(source, setup["filename"])})
    try:
        request, _ = reader.read()
    except EOFError:
        return None
    if request.get("op") != "load":
        return None
    answer = {"n": request.get("n")}
    try:
        functions = (
            load_python(source, setup["filename"]) if load is None else load(**setup["arguments"])
        )
    except MemoryError:
        wire.write(out, {**answer, "error": "MemoryError", "memory": True})
        return None
    except BaseException as exc:  # loading may raise anything
        wire.write(out, {**answer, **_raised(exc)})
        return None
    # A compiled target's loader says the real type it computes in (C: real_t, read by the
    # loader); a Python module says nothing the checker would believe.
    dtype = getattr(functions, "dtype", None) if load is not None else None
    dtype_name = str(np_dtype_name(dtype)) if dtype else None
    wire.write(out, {**answer, "loaded": True, "dtype": dtype_name})
    return functions


def np_dtype_name(dtype: Any) -> str:
    import numpy as np

    return np.dtype(dtype).name


def inspect(source: str, filename: str) -> dict[str, Any]:
    """What the parent needs to recognize a generated module, read without running it: its
    top-level imports, the names it defines and the literal value of ``LAYER_SIZES``."""
    try:
        tree = ast.parse(source, filename=filename)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        return {"invalid": type(exc).__name__}
    imports: list[str] = []
    defined: dict[str, ast.stmt] = {}
    for node in tree.body:
        if isinstance(node, ast.Import):
            imports += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            imports.append("." * node.level + (node.module or ""))
        elif isinstance(node, ast.FunctionDef):
            defined[node.name] = node
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            defined.update((t.id, node) for t in targets if isinstance(t, ast.Name))
    sizes: Any = None
    found = defined.get("LAYER_SIZES")
    if isinstance(found, (ast.Assign, ast.AnnAssign)) and found.value is not None:
        try:
            value = ast.literal_eval(found.value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            value = None
        if isinstance(value, tuple) and all(type(n) is int for n in value) and len(value) < 100:
            sizes = list(value)
    return {
        "imports": imports[:64],
        "defines": [name for name in CONTRACT if name in defined],
        "layer_sizes": sizes,
    }


def load_python(source: str, filename: str) -> types.ModuleType:
    """Run the checked source as a module (inside the sandbox). The module's code object is
    called as a function, so loading it is no ``exec`` the audit hook could see."""
    global CHECKED_FILENAME
    CHECKED_FILENAME = filename
    module = types.ModuleType("symgrad_checked")
    module.__file__ = filename
    module.__dict__["__builtins__"] = __builtins__
    sys.modules[module.__name__] = module  # dataclasses and typing look modules up by name
    code = compile(source, filename, "exec")
    types.FunctionType(code, module.__dict__)()
    return module


class Served:
    """The checked code and the state of the requests: parameters, data, directions."""

    def __init__(self, functions: Any, libraries: dict[str, Any], np: Any) -> None:
        self.functions = functions
        self.libraries = libraries
        self.np = np
        self.params: dict[str, dict[str, Any]] = {}
        self.data: dict[str, tuple[Any, Any]] = {}
        self.directions: dict[str, dict[str, list[Any]]] = {}
        self.weights: dict[str, Any] = {}

    def convert(self, value: Any, library: str) -> Any:
        """A fresh copy of a NumPy array (or a dict of them) in ``library``."""
        if isinstance(value, dict):
            return {k: self.convert(v, library) for k, v in value.items()}
        return self.libraries[library](value.copy())

    def call(self, request: dict[str, Any]) -> Any:
        name = request["function"]
        library = request.get("library", "numpy")
        if name == "init_params":
            return self.functions.init_params(request["seed"])
        params = self.convert(self.params[request["params"]], library)
        x, y = self.data[request["data"]]
        if name == "forward":
            return self.functions.forward(params, self.convert(x, library))
        function = getattr(self.functions, name)
        options: dict[str, Any] = {}
        if request.get("weights"):
            options["sample_weight"] = self.convert(self.weights[request["weights"]], library)
        if request.get("reduction"):
            options["reduction"] = str(request["reduction"])
        return function(params, self.convert(x, library), self.convert(y, library), **options)


def describe(value: Any, arrays: dict[str, Any], np: Any) -> Any:
    """A result as JSON-able data, its arrays set aside in ``arrays`` (as NumPy arrays)."""
    if isinstance(value, (float, np.floating)) and not isinstance(value, np.ndarray):
        return {"type": type(value).__name__, "value": float(value)}
    library = _library_of(value)
    if library is not None:
        array = _to_numpy(value, library, np)
        name = f"a{len(arrays)}"
        if array.dtype == np.float64 or array.dtype == np.float32:
            arrays[name] = array
        else:
            arrays[name] = np.zeros(0)
        return {
            "type": "ndarray",
            "library": library,
            "array": name,
            "dtype": array.dtype.str,
            "shape": list(array.shape),
        }
    if isinstance(value, dict):
        return {
            "type": "dict",
            "items": [[str(k), describe(v, arrays, np)] for k, v in value.items()],
        }
    if isinstance(value, (tuple, list)):
        return {"type": type(value).__name__, "items": [describe(v, arrays, np) for v in value]}
    return {"type": type(value).__name__[:40]}


def _library_of(value: Any) -> str | None:
    module = type(value).__module__.split(".")[0]
    name = type(value).__name__
    if module == "numpy" and name == "ndarray":
        return "numpy"
    if module == "torch" and name == "Tensor":
        return "torch"
    if module in ("jax", "jaxlib") and "Array" in name:
        return "jax"
    return None


def _to_numpy(value: Any, library: str, np: Any) -> Any:
    if library == "torch":
        if value.device.type != "cpu" or value.requires_grad:
            return np.zeros(0)
        value = value.numpy()
    return np.array(value, copy=True)


def serve(served: Served, reader: Any, out: int, wire: Any) -> None:
    """Answer requests until the parent closes the channel."""
    np = served.np
    while True:
        try:
            request, arrays = reader.read()
        except EOFError:
            return
        op = request.get("op")
        reply: dict[str, Any] = {}
        payload: dict[str, Any] = {}
        try:
            if op == "params":
                served.params[request["name"]] = arrays
            elif op == "data":
                served.data[request["name"]] = (arrays["x"], arrays["y"])
            elif op == "weights":
                served.weights[request["name"]] = arrays["w"]
            elif op == "directions":
                served.directions[request["name"]] = {
                    k: [arrays[f"{k}/{n}"] for n in range(request["counts"][k])]
                    for k in request["counts"]
                }
            elif op == "call":
                reply["result"] = describe(served.call(request), payload, np)
            elif op == "losses":
                payload["values"] = losses(served, request)
            elif op == "rows":
                params = served.params[request["params"]]
                loss = served.functions.loss
                payload["values"] = np.array(
                    [
                        float(loss(dict(params), row.copy(), target.copy()))
                        for row, target in zip(arrays["x"], arrays["y"], strict=True)
                    ]
                )
            else:
                reply["error"] = "an unknown request"
        except MemoryError:
            reply, payload = {"error": "MemoryError", "memory": True}, {}
        except BaseException as exc:  # the checked code may raise anything
            reply, payload = _raised(exc), {}
        wire.write(out, {**reply, "n": request.get("n")}, payload)


#: Bytes of fresh inputs one ``losses`` request keeps alive (beyond it, copies are freed).
KEPT_BYTES = 256 << 20


def losses(served: Served, request: dict[str, Any]) -> Any:
    """The loss at each move of the request (``(key, where, t)``: entry ``where`` of
    ``params[key]`` moved by ``t``, or for ``where < 0`` the array moved by ``t`` times its
    direction ``-1 - where``). Every evaluation gets a new dict of parameters, a new array for
    the one moved and new copies of ``X`` and ``Y``, kept alive until the request is answered
    (up to :data:`KEPT_BYTES`), so that no cache keyed on the identity of an input can answer
    one evaluation for another. A loss that raises ``ValueError`` or ``ArithmeticError`` at a
    moved point (a step that left a restricted domain) is not finite there."""
    np = served.np
    params = served.params[request["params"]]
    x, y = served.data[request["data"]]
    directions = served.directions.get(request.get("directions", ""), {})
    loss = served.functions.loss
    kept: list[Any] = []
    room = KEPT_BYTES
    values = np.empty(len(request["moves"]))
    for n, (key, where, t) in enumerate(request["moves"]):
        key, where, t = str(key), int(where), float(t)
        origin = params[key]
        if where >= 0:
            moved = origin.copy()
            moved.reshape(-1)[where] = origin.reshape(-1)[where] + t
        else:
            moved = origin + t * directions[key][-1 - where]
        fresh = (dict(params), x.copy(), y.copy())
        fresh[0][key] = moved
        if room > 0:
            kept.append((fresh, moved))
            room -= moved.nbytes + x.nbytes + y.nbytes
        try:
            values[n] = float(loss(*fresh))
        except (ValueError, ArithmeticError):
            if t == 0:
                raise
            values[n] = np.nan
    return values


def _raised(exc: BaseException) -> dict[str, Any]:
    """An exception of the checked code, for the parent (which shortens and cleans it)."""
    return {"error": f"{type(exc).__name__}: {exc}"[:400], "line": _line(exc)}


def _line(exc: BaseException) -> int | None:
    """The line of the checked code where ``exc`` was raised, if it was raised there."""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename == CHECKED_FILENAME:
            return frame.lineno
    return None


if __name__ == "__main__":
    main()
