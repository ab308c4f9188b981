"""Compile a file of ``symgrad codegen --target c`` and call it from Python like a NumPy module.

Part of the C target. Three steps, kept apart because ``symgrad check`` compiles before it enters
a sandbox in which no process may start:

- :func:`compile_c` runs the system C compiler (``$CC``, else ``cc``, ``gcc`` or ``clang``) on
  ``NAME.c`` (with ``NAME.h`` beside it) and returns the shared library;
- :func:`load_library` opens the library and returns a :class:`CNetwork`, an object with the
  contract of a generated NumPy module: ``LAYER_SIZES``, ``forward(params, X)``,
  ``loss(params, X, Y)``, ``gradients(params, X, Y)``, ``loss_and_gradients(params, X, Y)`` and
  ``init_params(seed=0)``, taking the same arguments and raising the same ``ValueError``s;
- :func:`load_c` does both in a temporary directory.

Calls go through :mod:`ctypes` with every pointer computed once: the arguments are copied into
buffers that the object keeps per thread (the parameters into one flat array in the layout of
the C code), so a call costs the copies and one foreign call, a few microseconds.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from symgrad.catalogue import pair as catalogue_pair
from symgrad.errors import SymgradError

#: Flags of every compilation: C99, optimized, position-independent code for a shared library.
COMPILE_FLAGS: tuple[str, ...] = ("-std=c99", "-O3", "-fPIC", "-shared")
#: Tried first: code for this machine's processor (vector instructions). Dropped when the
#: compiler refuses it. Fused multiply-adds stay off, so results match other machines' builds.
NATIVE_FLAGS: tuple[str, ...] = ("-march=native", "-ffp-contract=off")
COMPILE_TIMEOUT_S = 600

Array = np.ndarray
Params = dict[str, Array]


class CCompilerError(SymgradError):
    """No C compiler, or one that rejects the file."""


def find_compiler() -> str:
    """The C compiler to use: ``$CC``, else the first of ``cc``, ``gcc``, ``clang`` on PATH."""
    chosen = os.environ.get("CC")
    if chosen:
        return chosen
    for name in ("cc", "gcc", "clang"):
        found = shutil.which(name)
        if found:
            return found
    raise CCompilerError(
        "no C compiler found (looked for $CC, cc, gcc and clang); install one, for example "
        "with `apt-get install gcc`, to load C code from Python"
    )


def compile_c(source: Path, workdir: Path) -> Path:
    """Compile ``source`` (``NAME.c``, with ``NAME.h`` beside it) into a shared library in
    ``workdir`` and return its path (``libNAME.so``). Raises :class:`CCompilerError`."""
    source = Path(source)
    header = source.with_suffix(".h")
    if not source.is_file() or not header.is_file():
        raise CCompilerError(f"{source} needs {header.name} beside it; write both with -o")
    compiler = find_compiler()
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    library = workdir / f"lib{source.stem}.so"
    # A new file under the final name (not an overwrite), so that a library loaded before from
    # that path is never the one a later load finds.
    partial = Path(tempfile.mkstemp(prefix=f".lib{source.stem}-", suffix=".so", dir=workdir)[1])
    problem = ""
    try:
        for extra in (NATIVE_FLAGS, ()):
            command = [compiler, *COMPILE_FLAGS, *extra, "-o", str(partial), str(source), "-lm"]
            try:
                run = subprocess.run(
                    command, capture_output=True, text=True, timeout=COMPILE_TIMEOUT_S
                )
            except FileNotFoundError:
                raise CCompilerError(
                    f"the C compiler {compiler!r} was not found; install one or set CC"
                ) from None
            except subprocess.TimeoutExpired:
                raise CCompilerError(
                    f"{compiler} took more than {COMPILE_TIMEOUT_S} s to compile {source.name}"
                ) from None
            if run.returncode == 0:
                os.replace(partial, library)
                return library
            problem = next((ln for ln in run.stderr.splitlines() if "error" in ln), "")
            problem = problem or (run.stderr.strip().splitlines() or ["no message"])[-1]
    finally:
        partial.unlink(missing_ok=True)
    raise CCompilerError(f"{Path(compiler).name} could not compile {source.name}: {problem}")


# ------------------------------------------------------------------------------------------------
# What the header says
# ------------------------------------------------------------------------------------------------


class _Header:
    """The facts the loader reads from ``NAME.h``: prefix, real type, sizes, output and loss."""

    def __init__(self, text: str, name: str) -> None:
        def find(pattern: str) -> str:
            match = re.search(pattern, text, flags=re.MULTILINE)
            if match is None:
                raise SymgradError(f"{name} is not a header written by symgrad codegen --target c")
            return match.group(1)

        self.prefix = find(r"^int (\w+)_loss_and_gradients\(")
        macro = re.escape(self.prefix.upper())
        self.real = find(r"^typedef (double|float) real_t;")
        sizes = find(rf"^#define {macro}_LAYER_SIZES \{{([0-9, ]+)\}}$")
        self.layer_sizes = tuple(int(n) for n in sizes.split(","))
        self.n_params = int(find(rf"^#define {macro}_N_PARAMS (\d+)$"))
        self.work_size = int(find(rf"^#define {macro}_WORK_SIZE\(batch\) \(\(size_t\)(\d+)\)$"))
        output = find(rf'^#define {macro}_OUTPUT "([a-z-]+)"$')
        loss = find(rf'^#define {macro}_LOSS "([a-z-]+)"$')
        self.accepts_labels = catalogue_pair(output, loss).accepts_labels


class _Buffers(threading.local):
    """The arrays one thread passes to the C functions, and their addresses."""

    def __init__(self, real: type[np.floating[Any]], n_params: int, work: int) -> None:
        self.params = np.zeros(n_params, dtype=real)
        self.grad = np.zeros(n_params, dtype=real)
        self.loss = np.zeros(1, dtype=real)
        self.work = np.zeros(max(work, 1), dtype=real)
        self.rows = 0
        self.X = self.Y = self.yhat = np.zeros(0, dtype=real)
        self.pointers = {
            name: getattr(self, name).ctypes.data for name in ("params", "grad", "loss", "work")
        }

    def room(self, rows: int, n_in: int, n_out: int) -> None:
        """Make X, Y and yhat hold at least ``rows`` rows."""
        if rows <= self.rows:
            return
        real = self.params.dtype
        self.X = np.zeros((rows, n_in), dtype=real)
        self.Y = np.zeros((rows, n_out), dtype=real)
        self.yhat = np.zeros((rows, n_out), dtype=real)
        self.rows = rows
        for name in ("X", "Y", "yhat"):
            self.pointers[name] = getattr(self, name).ctypes.data


class CNetwork:
    """A compiled network with the Python contract of a generated NumPy module.

    ``dtype`` is the C code's real type: the computation runs in it. Results are float32 when
    every parameter and ``X`` are float32, else float64, as for the NumPy module.
    """

    def __init__(self, library: Path, header: _Header) -> None:
        self.library_path = Path(library)
        self._lib = ctypes.CDLL(str(library))
        self.prefix = header.prefix
        self.dtype: type[np.floating[Any]] = np.float64 if header.real == "double" else np.float32
        self.LAYER_SIZES: tuple[int, ...] = header.layer_sizes
        sizes = self.LAYER_SIZES
        self.PARAMETER_SHAPES: dict[str, tuple[int, ...]] = {}
        for k in range(1, len(sizes)):
            self.PARAMETER_SHAPES[f"W{k}"] = (sizes[k], sizes[k - 1])
            self.PARAMETER_SHAPES[f"b{k}"] = (sizes[k],)
        self._keys = tuple(self.PARAMETER_SHAPES)
        self._shapes = tuple(self.PARAMETER_SHAPES.values())
        self._n_params = header.n_params
        self._labels = header.accepts_labels
        self._n_in, self._n_out = sizes[0], sizes[-1]
        self._slices: list[tuple[str, int, int, tuple[int, ...]]] = []
        start = 0
        for key, shape in self.PARAMETER_SHAPES.items():
            size = int(np.prod(shape))
            self._slices.append((key, start, start + size, shape))
            start += size
        self._buffers = _Buffers(self.dtype, header.n_params, header.work_size)
        pointer, integer = ctypes.c_void_p, ctypes.c_int
        self._forward = self._function("forward", [pointer, pointer, integer, pointer, pointer])
        self._loss = self._function("loss", [pointer, pointer, pointer, integer, pointer, pointer])
        self._loss_and_gradients = self._function(
            "loss_and_gradients", [pointer, pointer, pointer, integer, pointer, pointer, pointer]
        )

    def _function(self, name: str, argtypes: Sequence[Any]) -> Any:
        function = getattr(self._lib, f"{self.prefix}_{name}")
        function.argtypes = list(argtypes)
        function.restype = ctypes.c_int
        return function

    def __repr__(self) -> str:
        net = "-".join(map(str, self.LAYER_SIZES))
        return f"<CNetwork {net} ({np.dtype(self.dtype).name}) from {self.library_path.name}>"

    # arguments, as the NumPy module checks them -------------------------------------------

    def _parameters(self, params: Params) -> list[Array]:
        try:
            arrays = [params[key] for key in self._keys]
            valid = [a.shape for a in arrays] == list(self._shapes)
        except (KeyError, AttributeError, TypeError):
            valid = False
        if not valid:
            raise ValueError(self._parameter_problem(params))
        return arrays

    def _parameter_problem(self, params: object) -> str:
        if not isinstance(params, dict):
            return f"params must be a dict of NumPy arrays, got {type(params).__name__}"
        for key, shape in self.PARAMETER_SHAPES.items():
            if key not in params:
                return f'params has no "{key}"; expected an array of shape {shape}'
            found = getattr(params[key], "shape", None)
            if found is None:
                kind = type(params[key]).__name__
                return f'params["{key}"] is a {kind}; expected a NumPy array of shape {shape}'
            if tuple(found) != shape:
                return f'params["{key}"] has shape {tuple(found)}; expected {shape}'
        return "params must be a dict of NumPy arrays"

    def _inputs(self, params: Params, X: Any) -> tuple[Any, Array, bool, _Buffers]:
        """Copies the parameters and ``X`` into this thread's buffers; returns the result dtype,
        ``X`` as an array, whether it was one sample, and the buffers."""
        arrays = self._parameters(params)
        X = np.asarray(X)
        result: type[np.floating[Any]] = np.float64
        for array in (*arrays, X):
            if array.dtype.kind == "c":
                raise ValueError("complex numbers are not supported; give real arrays")
        if X.dtype == np.float32 and all(a.dtype == np.float32 for a in arrays):
            result = np.float32
        n_in = self._n_in
        if X.ndim == 2 and X.shape[1] == n_in and X.shape[0] > 0:
            one = False
        elif X.shape == (n_in,):
            one = True
        else:
            raise ValueError(f"X has shape {X.shape}; expected (B, {n_in}), B >= 1, or ({n_in},)")
        buffers = self._buffers
        np.concatenate([a.reshape(-1) for a in arrays], out=buffers.params, casting="unsafe")
        rows = 1 if one else X.shape[0]
        buffers.room(rows, n_in, self._n_out)
        np.copyto(buffers.X[:rows], X, casting="unsafe")
        return result, X, one, buffers

    def _targets(self, Y: Any, rows: int, one: bool, buffers: _Buffers) -> None:
        """Copies ``Y`` (rows, or class indices for softmax + cross-entropy) into the buffer."""
        array = np.asarray(Y)
        if array.dtype.kind == "c":
            raise ValueError("complex numbers are not supported; give real arrays")
        n_out = self._n_out
        target = buffers.Y[:rows]
        if self._labels and array.dtype.kind in "iu" and array.shape == (() if one else (rows,)):
            labels = array.reshape(-1)
            wrong = labels[(labels < 0) | (labels >= n_out)]
            if wrong.size:
                raise ValueError(f"Y holds the class index {wrong[0]}; expected 0 ... {n_out - 1}")
            target[...] = 0.0
            target[np.arange(rows), labels] = 1.0
            return
        expected = (n_out,) if one else (rows, n_out)
        if array.shape != expected:
            raise ValueError(
                f"Y has shape {array.shape}; expected {expected}, the shape of forward(params, X)"
            )
        np.copyto(target, array.reshape(rows, n_out), casting="unsafe")

    def _check(self, status: int, name: str) -> None:
        if status != 0:
            raise SymgradError(f"{self.prefix}_{name} returned {status}")

    # the contract ----------------------------------------------------------------------------

    def forward(self, params: Params, X: Any) -> Array:
        """``yhat``: ``X`` of shape ``(B, n_0)`` gives ``(B, n_L)``; ``(n_0,)`` gives ``(n_L,)``."""
        result, X, one, buffers = self._inputs(params, X)
        rows = 1 if one else X.shape[0]
        p = buffers.pointers
        self._check(self._forward(p["params"], p["X"], rows, p["yhat"], p["work"]), "forward")
        yhat = buffers.yhat[:rows].astype(result)
        return yhat[0] if one else yhat

    def loss(self, params: Params, X: Any, Y: Any) -> float:
        """The mean over the rows of the per-sample loss (the per-sample loss for a 1-D ``X``)."""
        result, X, one, buffers = self._inputs(params, X)
        rows = 1 if one else X.shape[0]
        self._targets(Y, rows, one, buffers)
        p = buffers.pointers
        status = self._loss(p["params"], p["X"], p["Y"], rows, p["loss"], p["work"])
        self._check(status, "loss")
        return float(buffers.loss[0])

    def loss_and_gradients(self, params: Params, X: Any, Y: Any) -> tuple[float, Params]:
        """``(loss(params, X, Y), gradients(params, X, Y))`` from one call of the C code."""
        result, X, one, buffers = self._inputs(params, X)
        rows = 1 if one else X.shape[0]
        self._targets(Y, rows, one, buffers)
        p = buffers.pointers
        status = self._loss_and_gradients(
            p["params"], p["X"], p["Y"], rows, p["loss"], p["grad"], p["work"]
        )
        self._check(status, "loss_and_gradients")
        flat = buffers.grad.astype(result)
        gradients = {
            key: flat[start:stop].reshape(shape) for key, start, stop, shape in self._slices
        }
        return float(buffers.loss[0]), gradients

    def gradients(self, params: Params, X: Any, Y: Any) -> Params:
        """The gradient of ``loss(params, X, Y)``, shaped like ``params``."""
        return self.loss_and_gradients(params, X, Y)[1]

    def init_params(self, seed: int = 0) -> Params:
        """Random float64 parameters: ``W_k`` entries N(0, 1/n_{k-1}), ``b_k`` entries N(0, 0.01),
        the same numbers as a generated NumPy module's ``init_params(seed)``."""
        rng = np.random.default_rng(seed)
        params: Params = {}
        sizes = self.LAYER_SIZES
        for k in range(1, len(sizes)):
            n_out, n_in = sizes[k], sizes[k - 1]
            params[f"W{k}"] = rng.standard_normal((n_out, n_in)) / np.sqrt(n_in)
            params[f"b{k}"] = 0.1 * rng.standard_normal(n_out)
        return params


def load_library(library: Path, source: Path) -> CNetwork:
    """The compiled ``library`` of ``source`` (``NAME.c``; its sizes and real type are read from
    ``NAME.h``) as a :class:`CNetwork`. Starts no process."""
    header = Path(source).with_suffix(".h")
    try:
        text = header.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SymgradError(f"cannot read {header}: {exc}") from None
    facts = _Header(text, header.name)
    try:
        return CNetwork(Path(library), facts)
    except (OSError, AttributeError) as exc:
        raise SymgradError(f"cannot load {library}: {exc}") from None


def load_c(source: Path) -> CNetwork:
    """Compile ``source`` (``NAME.c`` with ``NAME.h``) in a temporary directory and load it."""
    with tempfile.TemporaryDirectory(prefix="symgrad-c-") as workdir:
        library = compile_c(Path(source), Path(workdir))
        # Once loaded, the library stays mapped after its file is removed.
        return load_library(library, Path(source))


__all__ = ["CCompilerError", "CNetwork", "compile_c", "find_compiler", "load_c", "load_library"]
