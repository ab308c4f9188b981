"""Load a file of ``symgrad codegen --target c`` and call it from Python like a NumPy module.

Part of the C target. Three steps, kept apart because ``symgrad check`` compiles before it enters
a sandbox in which no process may start:

- :func:`compile_c` (:mod:`symgrad.codegen.c.build`) runs the system C compiler (``$CC``, else
  ``cc``, ``gcc`` or ``clang``) on ``NAME.c`` (with ``NAME.h`` beside it), with the flags of
  :func:`~symgrad.codegen.c.build.compile_flags`, and returns the shared library;
- :func:`load_library` opens the library and returns a :class:`CNetwork`, an object with the
  contract of a generated NumPy module: ``LAYER_SIZES``, ``forward(params, X)``,
  ``loss(params, X, Y, *, sample_weight=None, reduction="mean")``, ``gradients``,
  ``loss_and_gradients`` and ``input_gradient`` (each ``(params, X, Y, *, sample_weight=None)``)
  and ``init_params(seed=0)``, taking the same arguments and raising the same ``ValueError``s
  (weights and per-sample losses: the file's weighted functions and ``NAME_sample_losses``);
- :func:`load_c` does both in a temporary directory.

Calls go through cffi's ABI mode (no compiler needed for it). The dict functions copy the
arguments into buffers that the object keeps per thread (the parameters into one flat array in the
layout of the C code), a few microseconds a call; ``loss_and_gradients`` passes a C-contiguous
float64 ``X`` and ``Y`` of the last call's shapes to double C code without copying them. The
lean functions (:mod:`symgrad.codegen.c.flat`: ``loss_and_gradients_flat(theta, X, Y, out=g)``,
``params(theta)``) pass the caller's flat arrays to the C code as they are: no copy in or out.
"""

from __future__ import annotations

import operator
import re
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cffi
import numpy as np

from symgrad import notation as nt
from symgrad.catalogue import pair as catalogue_pair
from symgrad.codegen.c.build import (
    COMPILE_FLAGS,
    CCompilerError,
    FileFacts,
    build_library,
    compile_c,
    compile_flags,
    find_compiler,
)
from symgrad.codegen.c.flat import FlatCalls
from symgrad.codegen.c.weighted_calls import WeightedCalls, check_reduction
from symgrad.errors import SymgradError

#: From this many parameters on, the C code writes the gradient straight into the arrays
#: returned (one address to take per call) instead of into the thread's buffer, copied after.
DIRECT_GRADIENT_SIZE = 4096
#: From this many values on, ``loss_and_gradients`` passes a C-contiguous float64 ``X`` or ``Y``
#: to double C code as it is instead of copying it into its buffer.
IN_PLACE_SIZE = 4096
#: The largest batch ``NAME_work_size`` is asked about: the scratch of a block of rows, the most
#: any batch needs.
_ANY_BATCH = 2**31 - 1

Array = np.ndarray
Params = dict[str, Array]


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
        output = find(rf'^#define {macro}_OUTPUT "([a-z-]+)"$')
        loss = find(rf'^#define {macro}_LOSS "([a-z-]+)"$')
        self.accepts_labels = catalogue_pair(output, loss).accepts_labels
        #: Whether the file has the weighted and per-sample functions (files of symgrad
        #: versions before them do not).
        self.weighted = re.search(rf"^int {re.escape(self.prefix)}_loss_weighted\(", text, re.M)


class _Buffers(threading.local):
    """The arrays one thread passes to the C functions: one per argument, kept between calls,
    with a view of each parameter's place in the flat ``params`` and ``grad``."""

    def __init__(self, network: CNetwork) -> None:
        real = network.dtype
        self.address = network._address
        self.params = np.zeros(network._n_params, dtype=real)
        self.grad = np.zeros(network._n_params, dtype=real)
        self.param_views = [self.params[a:b].reshape(s) for _, a, b, s in network._slices]
        self.grad_views = [self.grad[a:b].reshape(s) for _, a, b, s in network._slices]
        self.loss = np.zeros(1, dtype=real)
        self.work = np.zeros(max(network.work_size, 1), dtype=real)
        self.n_in, self.n_out = network._n_in, network._n_out
        self.room(1)
        self.p_params, self.p_grad = self.address(self.params), self.address(self.grad)
        self.p_loss, self.p_work = self.address(self.loss), self.address(self.work)

    def room(self, rows: int) -> None:
        """Make X, Y and yhat hold exactly ``rows`` rows (whole arrays copy fastest)."""
        real = self.params.dtype
        self.X = np.zeros((rows, self.n_in), dtype=real)
        self.Y = np.zeros((rows, self.n_out), dtype=real)
        self.yhat = np.zeros((rows, self.n_out), dtype=real)
        self.grad_x = np.zeros((rows, self.n_in), dtype=real)
        self.weights = np.zeros(rows, dtype=real)
        self.losses = np.zeros(rows, dtype=real)
        self.rows = rows
        self.X_shape, self.Y_shape = self.X.shape, self.Y.shape
        self.p_X, self.p_Y = self.address(self.X), self.address(self.Y)
        self.p_yhat = self.address(self.yhat)
        self.p_grad_x = self.address(self.grad_x)
        self.p_weights, self.p_losses = self.address(self.weights), self.address(self.losses)


_F64 = np.dtype(np.float64)
_F32 = np.dtype(np.float32)
_HALF = ("float16", "bfloat16")


def _narrow(arrays: Sequence[Array]) -> bool:
    """Results in float32, the rule of the Python modules: no float64, and every array float32
    or half precision, or some half precision (integers and booleans then join it)."""
    dtypes = [array.dtype for array in arrays]
    if any(d.kind == "f" and d.name not in ("float32", *_HALF) for d in dtypes):
        return False
    names = {d.name for d in dtypes}
    return names <= {"float32", *_HALF} or bool(names & set(_HALF))


_shape_and_dtype = operator.attrgetter("shape", "dtype")


class CNetwork(FlatCalls, WeightedCalls):
    """A compiled network with the Python contract of a generated NumPy module, and the lean
    calls on flat parameters of :class:`~symgrad.codegen.c.flat.FlatCalls`.

    ``dtype`` is the C code's real type: the computation runs in it. Results are float32 when
    every parameter and ``X`` are float32, else float64, as for the NumPy module.
    """

    def __init__(self, library: Path, header: _Header) -> None:
        self.library_path = Path(library)
        self.prefix = header.prefix
        self.dtype: type[np.floating[Any]] = np.float64 if header.real == "double" else np.float32
        self.LAYER_SIZES: tuple[int, ...] = header.layer_sizes
        sizes = self.LAYER_SIZES
        self.PARAMETER_SHAPES: dict[str, tuple[int, ...]] = nt.parameter_shapes(sizes)
        self._keys = tuple(self.PARAMETER_SHAPES)
        self._shapes = tuple(self.PARAMETER_SHAPES.values())
        self._shape_list = list(self._shapes)
        self._float64_parameters = [(shape, _F64) for shape in self._shapes]
        self._take = operator.itemgetter(*self._keys)
        self._n_params = header.n_params
        self.N_PARAMS = header.n_params
        self._labels = header.accepts_labels
        self._n_in, self._n_out = sizes[0], sizes[-1]
        self._slices: list[tuple[str, int, int, tuple[int, ...]]] = []
        start = 0
        for key, shape in self.PARAMETER_SHAPES.items():
            size = int(np.prod(shape))
            self._slices.append((key, start, start + size, shape))
            start += size
        self._bind(header.real, bool(header.weighted))
        #: Values of scratch a call needs, whatever its batch (as the library was compiled).
        self.work_size: int = int(self._c_work_size(_ANY_BATCH))
        self._buffers = _Buffers(self)

    def _bind(self, real: str, weighted: bool) -> None:
        """The C functions, called through cffi's ABI mode (no compiler involved): a call with
        the addresses prepared once costs about half what the same call costs in ctypes."""
        ffi = cffi.FFI()
        p = self.prefix
        r = f"const {real} *"
        if weighted:
            ffi.cdef(
                f"int {p}_loss_weighted({r}, {r}, {r}, {r}, int, {real} *, {real} *);"
                f"int {p}_loss_and_gradients_weighted({r}, {r}, {r}, {r}, int, {real} *,"
                f" {real} *, {real} *);"
                f"int {p}_input_gradient_weighted({r}, {r}, {r}, {r}, int, {real} *, {real} *);"
                f"int {p}_sample_losses({r}, {r}, {r}, int, {real} *, {real} *);"
            )
        ffi.cdef(
            f"int {p}_forward(const {real} *, const {real} *, int, {real} *, {real} *);"
            f"int {p}_loss(const {real} *, const {real} *, const {real} *, int, {real} *,"
            f" {real} *);"
            f"int {p}_loss_and_gradients(const {real} *, const {real} *, const {real} *, int,"
            f" {real} *, {real} *, {real} *);"
            f"int {p}_input_gradient(const {real} *, const {real} *, const {real} *, int,"
            f" {real} *, {real} *);"
            f"size_t {p}_work_size(int);"
            f"int {p}_init_params(unsigned long long, {real} *);"
        )
        library = ffi.dlopen(str(self.library_path))
        self._c_forward = getattr(library, f"{p}_forward")
        self._c_loss = getattr(library, f"{p}_loss")
        self._c_loss_and_gradients = getattr(library, f"{p}_loss_and_gradients")
        self._c_input_gradient = getattr(library, f"{p}_input_gradient")
        self._c_work_size = getattr(library, f"{p}_work_size")
        self._c_init_params = getattr(library, f"{p}_init_params")
        self._c_weighted: dict[str, Any] = {
            name: getattr(library, f"{p}_{name}")
            for name in (
                "loss_weighted",
                "loss_and_gradients_weighted",
                "input_gradient_weighted",
                "sample_losses",
            )
            if weighted
        }
        self._ffi, self._library = ffi, library
        pointer = f"{real} *"
        self._pointer = f"{real}[]"

        def address(array: Array) -> Any:
            return ffi.cast(pointer, array.ctypes.data)

        self._address = address

    def __repr__(self) -> str:
        net = "-".join(map(str, self.LAYER_SIZES))
        return f"<CNetwork {net} ({np.dtype(self.dtype).name}) from {self.library_path.name}>"

    # arguments, as the NumPy module checks them -------------------------------------------

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

    def _inputs(self, params: Params, X: Any, buffers: _Buffers) -> tuple[Any, int, bool]:
        """Copies the parameters and ``X`` into this thread's buffers; returns the dtype of the
        results, the number of rows and whether ``X`` was one sample."""
        try:
            arrays = self._take(params)
            # The shapes and dtypes at once: float64 arrays of the right shapes are the rule.
            described = list(map(_shape_and_dtype, arrays))
        except (KeyError, TypeError, AttributeError):
            raise ValueError(self._parameter_problem(params)) from None
        float64 = described == self._float64_parameters
        if not float64 and [shape for shape, _ in described] != self._shape_list:
            raise ValueError(self._parameter_problem(params))
        if type(X) is not np.ndarray:
            X = np.asarray(X)
        result: Any = np.float64
        if not float64 or X.dtype is not _F64:
            for array in (*arrays, X):
                if array.dtype.kind == "c":
                    raise ValueError("complex numbers are not supported; give real arrays")
            if _narrow([*arrays, X]):
                result = np.float32
        for view, array in zip(buffers.param_views, arrays, strict=True):
            view[...] = array
        n_in = self._n_in
        if X.ndim == 2 and X.shape[1] == n_in and X.shape[0] > 0:
            rows, one = X.shape[0], False
        elif X.shape == (n_in,):
            rows, one = 1, True
        else:
            raise ValueError(f"X has shape {X.shape}; expected (B, {n_in}), B >= 1, or ({n_in},)")
        if rows != buffers.rows:
            buffers.room(rows)
        buffers.X[...] = X
        return result, rows, one

    def _targets(self, Y: Any, rows: int, one: bool, buffers: _Buffers) -> None:
        """Copies ``Y`` (rows, or class indices for softmax + cross-entropy) into the buffer."""
        if type(Y) is not np.ndarray:
            Y = np.asarray(Y)
        n_out = self._n_out
        if Y.shape == ((n_out,) if one else (rows, n_out)) and Y.dtype.kind in "fiub":
            buffers.Y[...] = Y
            return
        if Y.dtype.kind == "c":
            raise ValueError("complex numbers are not supported; give real arrays")
        target = buffers.Y
        if self._labels and Y.dtype.kind in "iu" and Y.shape == (() if one else (rows,)):
            labels = Y.reshape(-1)
            wrong = labels[(labels < 0) | (labels >= n_out)]
            if wrong.size:
                raise ValueError(f"Y holds the class index {wrong[0]}; expected 0 ... {n_out - 1}")
            target[...] = 0.0
            target[np.arange(rows), labels] = 1.0
            return
        expected = (n_out,) if one else (rows, n_out)
        raise ValueError(
            f"Y has shape {Y.shape}; expected {expected}, the shape of forward(params, X)"
        )

    def _in_place(self, array: Array, buffer: Array, p_buffer: Any) -> Any:
        """The address the C code reads ``array`` (float64, of ``buffer``'s shape) from: its own
        when it is large, C-contiguous and the C code computes in double, else ``buffer``'s,
        after a copy (below ``IN_PLACE_SIZE`` values the copy costs less than the address)."""
        if array.size >= IN_PLACE_SIZE and self.dtype is np.float64 and array.flags.c_contiguous:
            return self._ffi.from_buffer(self._pointer, array)
        buffer[...] = array
        return p_buffer

    # the contract ----------------------------------------------------------------------------

    def forward(self, params: Params, X: Any) -> Array:
        """``yhat``: ``X`` of shape ``(B, n_0)`` gives ``(B, n_L)``; ``(n_0,)`` gives ``(n_L,)``."""
        b = self._buffers
        result, rows, one = self._inputs(params, X, b)
        status = self._c_forward(b.p_params, b.p_X, rows, b.p_yhat, b.p_work)
        if status:
            raise self._failed(status, "forward")
        yhat = b.yhat.astype(result)
        return yhat[0] if one else yhat

    def loss(
        self,
        params: Params,
        X: Any,
        Y: Any,
        *,
        sample_weight: Any = None,
        reduction: str = "mean",
    ) -> Any:
        """The mean over the rows of the per-sample loss (the per-sample loss for a 1-D ``X``).

        ``sample_weight`` (shape ``(B,)``) weighs the mean: ``sum_s w_s L(s) / sum_s w_s``.
        ``reduction="none"`` returns the loss of each row instead, shape ``(B,)``.
        """
        check_reduction(reduction, sample_weight)
        b = self._buffers
        result, rows, one = self._inputs(params, X, b)
        self._targets(Y, rows, one, b)
        if reduction == "none":
            return self._sample_losses(result, rows, one)
        if sample_weight is not None:
            return self._weighted_loss(sample_weight, rows, one)
        status = self._c_loss(b.p_params, b.p_X, b.p_Y, rows, b.p_loss, b.p_work)
        if status:
            raise self._failed(status, "loss")
        return b.loss.item(0)

    def loss_and_gradients(
        self, params: Params, X: Any, Y: Any, *, sample_weight: Any = None
    ) -> tuple[float, Params]:
        """``(loss(params, X, Y), gradients(params, X, Y))`` from one call of the C code (both
        weighted by ``sample_weight`` when given)."""
        if sample_weight is not None:
            return self._weighted_loss_and_gradients(params, X, Y, sample_weight)
        b = self._buffers
        # The common case first, checked in few steps: float64 arrays of the right shapes, a
        # batch of the size of the last call.
        try:
            arrays = self._take(params)
        except (KeyError, TypeError):
            arrays = ()
        if (
            arrays
            and type(X) is np.ndarray
            and type(Y) is np.ndarray
            and X.shape == b.X_shape
            and Y.shape == b.Y_shape
            and X.dtype is _F64
            and Y.dtype is _F64
            and list(map(_shape_and_dtype, arrays)) == self._float64_parameters
        ):
            for view, array in zip(b.param_views, arrays, strict=True):
                view[...] = array
            # X and Y go to the C code as they are when it can read them in place: a batch of
            # 1024 MNIST rows is 6.4 MB, whose copy costs about a twentieth of the call.
            p_X = self._in_place(X, b.X, b.p_X)
            p_Y = self._in_place(Y, b.Y, b.p_Y)
            result: Any = np.float64
            rows = b.rows
        else:
            result, rows, one = self._inputs(params, X, b)
            self._targets(Y, rows, one, b)
            p_X, p_Y = b.p_X, b.p_Y
        if self._n_params >= DIRECT_GRADIENT_SIZE and result is self.dtype:
            # A large gradient is written by the C code straight into the array returned.
            flat = np.empty(self._n_params, dtype=self.dtype)
            grad = self._ffi.from_buffer(self._pointer, flat)
            status = self._c_loss_and_gradients(
                b.p_params, p_X, p_Y, rows, b.p_loss, grad, b.p_work
            )
            if status:
                raise self._failed(status, "loss_and_gradients")
            return b.loss.item(0), {
                key: flat[start:stop].reshape(shape) for key, start, stop, shape in self._slices
            }
        status = self._c_loss_and_gradients(
            b.p_params, p_X, p_Y, rows, b.p_loss, b.p_grad, b.p_work
        )
        if status:
            raise self._failed(status, "loss_and_gradients")
        return b.loss.item(0), self._gradient_copy(result)

    def gradients(self, params: Params, X: Any, Y: Any, *, sample_weight: Any = None) -> Params:
        """The gradient of ``loss(params, X, Y)`` (weighted by ``sample_weight`` when given),
        shaped like ``params``."""
        return self.loss_and_gradients(params, X, Y, sample_weight=sample_weight)[1]

    def input_gradient(self, params: Params, X: Any, Y: Any, *, sample_weight: Any = None) -> Array:
        """The gradient of ``loss(params, X, Y)`` (weighted by ``sample_weight`` when given)
        with respect to ``X``, shaped like ``X``."""
        b = self._buffers
        result, rows, one = self._inputs(params, X, b)
        self._targets(Y, rows, one, b)
        if sample_weight is not None:
            self._weighted_input_gradient(sample_weight, rows, one)
        else:
            status = self._c_input_gradient(b.p_params, b.p_X, b.p_Y, rows, b.p_grad_x, b.p_work)
            if status:
                raise self._failed(status, "input_gradient")
        grad_x = b.grad_x.astype(result)
        return grad_x[0] if one else grad_x

    def init_params(self, seed: int = 0) -> Params:
        """Random float64 parameters from the C code's ``NAME_init_params(seed, params)``: a C
        program that calls it starts from the same numbers. Entries uniform in ``[-s, s)`` with
        the variances of the NumPy module's (``1/n_{k-1}`` for ``W_k``, ``0.01`` for ``b_k``),
        from another stream (:mod:`symgrad.codegen.c.init`)."""
        flat = self.init_flat(seed)
        return {
            key: flat[start:stop].reshape(shape).astype(np.float64)
            for key, start, stop, shape in self._slices
        }


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
    except (OSError, AttributeError, cffi.CDefError, cffi.FFIError) as exc:
        raise SymgradError(f"cannot load {library}: {exc}") from None


def load_c(source: Path) -> CNetwork:
    """Compile ``source`` (``NAME.c`` with ``NAME.h``) in a temporary directory and load it."""
    with tempfile.TemporaryDirectory(prefix="symgrad-c-") as workdir:
        library = compile_c(Path(source), Path(workdir))
        # Once loaded, the library stays mapped after its file is removed.
        return load_library(library, Path(source))


__all__ = [
    "COMPILE_FLAGS",
    "CCompilerError",
    "CNetwork",
    "FileFacts",
    "build_library",
    "compile_c",
    "compile_flags",
    "find_compiler",
    "load_c",
    "load_library",
]
