"""The lean calls of a loaded C network: flat parameters, no copy in or out.

Part of the C target's loader. A training loop keeps the parameters in one flat array ``theta`` in
the layout of the C code (``W1`` row-major, ``b1``, ``W2``, ...) and the gradient in another:

    theta = net.init_flat(0)            # or net.flat(params)
    g = np.empty_like(theta)
    for X, Y in batches:
        loss, _ = net.loss_and_gradients_flat(theta, X, Y, out=g)
        theta -= eta * g
    net.params(theta)["W1"]             # the named arrays: views into theta

``theta`` and ``out`` must be one-dimensional, contiguous arrays of the C code's real type
(``net.dtype``) with ``net.N_PARAMS`` entries: they are handed to the C code as they are (a
``ValueError`` says what is wrong otherwise). ``X`` and ``Y`` are passed as they are too when they
are contiguous arrays of that type and shape ``(B, n_0)`` / ``(B, n_L)``; anything else (a 1-D
sample, class labels, another dtype) is converted first, as the dict functions convert it.
The address of each array is looked up once and kept while the same array object comes back.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

Array = np.ndarray


class _Lean(threading.local):
    """Per thread: the scratch, the loss, and the last arrays seen with their addresses."""

    def __init__(self, network: FlatCalls) -> None:
        self.work = np.zeros(max(network.work_size, 1), dtype=network.dtype)
        self.loss = np.zeros(1, dtype=network.dtype)
        self.p_work = network._pointer_of(self.work)
        self.p_loss = network._pointer_of(self.loss)
        self.seen: dict[str, tuple[Any, Any, Any]] = {}  # role: (array, shape, address)


class FlatCalls:
    """Lean calls on flat parameters, mixed into :class:`~symgrad.codegen.c.loader.CNetwork`."""

    # What CNetwork provides.
    dtype: Any
    prefix: str
    N_PARAMS: int
    work_size: int
    LAYER_SIZES: tuple[int, ...]
    _slices: list[tuple[str, int, int, tuple[int, ...]]]
    _ffi: Any
    _pointer: str
    _c_forward: Any
    _c_loss: Any
    _c_loss_and_gradients: Any
    _c_init_params: Any
    _buffers: Any
    _targets: Any
    _lean_state: _Lean | None = None

    def _pointer_of(self, array: Array) -> Any:
        return self._ffi.from_buffer(self._pointer, array)

    @property
    def _lean(self) -> _Lean:
        if self._lean_state is None:
            self._lean_state = _Lean(self)
        return self._lean_state

    # parameters ------------------------------------------------------------------------------

    def flat(self, params: dict[str, Any] | None = None) -> Array:
        """A new flat parameter array (``N_PARAMS`` entries of ``dtype``): ``params`` (a dict as
        the other functions take) copied in, or zeros."""
        theta = np.zeros(self.N_PARAMS, dtype=self.dtype)
        if params is not None:
            for key, start, stop, shape in self._slices:
                value = np.asarray(params[key]) if key in params else None
                if value is None or value.shape != shape:
                    found = "nothing" if value is None else f"shape {value.shape}"
                    raise ValueError(f'params["{key}"] is {found}; expected shape {shape}')
                theta[start:stop] = value.ravel()
        return theta

    def params(self, theta: Array) -> dict[str, Array]:
        """The named arrays of ``theta`` (``W1`` ``(n_1, n_0)``, ``b1``, ...): views, no copies."""
        self._checked(theta, "theta")
        return {key: theta[start:stop].reshape(shape) for key, start, stop, shape in self._slices}

    def init_flat(self, seed: int = 0) -> Array:
        """``NAME_init_params(seed, theta)`` of the C code, in a new flat array of ``dtype``."""
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        if seed >= 2**64:
            raise ValueError(f"seed must be below 2**64, got {seed}")
        theta = np.empty(self.N_PARAMS, dtype=self.dtype)
        status = self._c_init_params(int(seed), self._pointer_of(theta))
        if status:
            raise ValueError(f"{self.prefix}_init_params returned {status}")
        return theta

    # the calls -------------------------------------------------------------------------------

    def loss_and_gradients_flat(
        self, theta: Array, X: Any, Y: Any, out: Array | None = None
    ) -> tuple[float, Array]:
        """``(loss, g)``: the mean loss and its gradient, written into ``out`` (a new array when
        None) in the layout of ``theta``; ``g`` is ``out``."""
        lean = self._lean
        seen = lean.seen
        if out is None:
            out = np.empty(self.N_PARAMS, dtype=self.dtype)
        p_theta = self._kept_address(seen, "theta", theta)
        p_out = self._kept_address(seen, "out", out, writable=True)
        rows, p_X = self._rows(seen, X)
        p_Y = self._targets_address(seen, Y, rows, np.ndim(X) == 1)
        status = self._c_loss_and_gradients(
            p_theta, p_X, p_Y, rows, lean.p_loss, p_out, lean.p_work
        )
        if status:
            raise ValueError(f"{self.prefix}_loss_and_gradients returned {status}")
        return lean.loss.item(0), out

    def loss_flat(self, theta: Array, X: Any, Y: Any) -> float:
        """The mean loss over the rows of ``X`` (the loss of one sample for a 1-D ``X``)."""
        lean = self._lean
        seen = lean.seen
        p_theta = self._kept_address(seen, "theta", theta)
        rows, p_X = self._rows(seen, X)
        p_Y = self._targets_address(seen, Y, rows, np.ndim(X) == 1)
        status = self._c_loss(p_theta, p_X, p_Y, rows, lean.p_loss, lean.p_work)
        if status:
            raise ValueError(f"{self.prefix}_loss returned {status}")
        return lean.loss.item(0)

    def forward_flat(self, theta: Array, X: Any, out: Array | None = None) -> Array:
        """``yhat`` of shape ``(B, n_L)``, written into ``out`` (a new array when None)."""
        lean = self._lean
        seen = lean.seen
        p_theta = self._kept_address(seen, "theta", theta)
        rows, p_X = self._rows(seen, X)
        shape = (rows, self.LAYER_SIZES[-1])
        if out is None:
            out = np.empty(shape, dtype=self.dtype)
        elif out.shape != shape:
            raise ValueError(f"out has shape {out.shape}; expected {shape}")
        p_out = self._kept_address(seen, "yhat", out, writable=True, flat=False)
        status = self._c_forward(p_theta, p_X, rows, p_out, lean.p_work)
        if status:
            raise ValueError(f"{self.prefix}_forward returned {status}")
        return out

    # arguments -------------------------------------------------------------------------------

    def _checked(self, array: Any, name: str, writable: bool = False, flat: bool = True) -> Array:
        if (
            type(array) is not np.ndarray
            or array.dtype != self.dtype
            or (flat and array.shape != (self.N_PARAMS,))
            or not array.flags.c_contiguous
            or (writable and not array.flags.writeable)
        ):
            kind = np.dtype(self.dtype).name
            what = f"{self.N_PARAMS} values" if flat else "values"
            described = (
                f"a {array.dtype} array of shape {array.shape}"
                if isinstance(array, np.ndarray)
                else f"a {type(array).__name__}"
            )
            raise ValueError(
                f"{name} must be a contiguous{' writable' if writable else ''} {kind} array of "
                f"{what} (net.flat(params) makes one); got {described}"
            )
        return array

    def _kept_address(
        self,
        seen: dict[str, tuple[Any, Any, Any]],
        role: str,
        array: Any,
        writable: bool = False,
        flat: bool = True,
    ) -> Any:
        """The address of ``array`` for the C code: kept while the same array comes back (with
        the same shape and dtype: both can be changed in place)."""
        last = seen.get(role)
        if last is not None and last[0] is array and last[1] == (array.shape, array.dtype):
            return last[2]
        self._checked(array, role, writable, flat)
        pointer = self._pointer_of(array)
        seen[role] = (array, (array.shape, array.dtype), pointer)
        return pointer

    def _rows(self, seen: dict[str, tuple[Any, Any, Any]], X: Any) -> tuple[int, Any]:
        """The number of rows of ``X`` and its address (a converted copy when it is not a
        contiguous ``(B, n_0)`` array of ``dtype``)."""
        last = seen.get("X")
        if last is not None and last[0] is X and last[1] == (X.shape, X.dtype):
            return X.shape[0], last[2]
        n_in = self.LAYER_SIZES[0]
        given = X
        if not (
            type(X) is np.ndarray
            and X.ndim == 2
            and X.dtype == self.dtype
            and X.flags.c_contiguous
            and X.shape[1] == n_in
        ):
            X = np.asarray(X)
            if X.dtype.kind == "c":
                raise ValueError("complex numbers are not supported; give real arrays")
            if X.shape == (n_in,):
                X = X.reshape(1, n_in)
            if X.ndim != 2 or X.shape[1] != n_in:
                raise ValueError(
                    f"X has shape {X.shape}; expected (B, {n_in}), B >= 1, or ({n_in},)"
                )
            X = np.ascontiguousarray(X, dtype=self.dtype)
        if X.shape[0] < 1:
            raise ValueError(f"X has shape {X.shape}; expected (B, {n_in}), B >= 1, or ({n_in},)")
        pointer = self._pointer_of(X)
        if X is given:
            seen["X"] = (X, (X.shape, X.dtype), pointer)
        else:
            seen["X converted"] = (X, None, pointer)  # kept alive until the next call
        return X.shape[0], pointer

    def _targets_address(
        self, seen: dict[str, tuple[Any, Any, Any]], Y: Any, rows: int, one: bool
    ) -> Any:
        """The address of ``Y`` as rows of ``dtype`` (converted, or made one-hot from class
        labels, when it is not that already)."""
        n_out = self.LAYER_SIZES[-1]
        last = seen.get("Y")
        if last is not None and last[0] is Y and last[1] == (Y.shape, Y.dtype, rows):
            return last[2]
        given = Y
        if not (
            type(Y) is np.ndarray
            and Y.dtype == self.dtype
            and Y.shape == (rows, n_out)
            and Y.flags.c_contiguous
        ):
            Y = self._target_rows(Y, rows, one)
        pointer = self._pointer_of(Y)
        if Y is given:
            seen["Y"] = (Y, (Y.shape, Y.dtype, rows), pointer)
        else:
            seen["Y converted"] = (Y, None, pointer)
        return pointer

    def _target_rows(self, Y: Any, rows: int, one: bool) -> Array:
        # The dict functions' rules: rows of targets, or class indices (softmax + cross-entropy).
        buffers = self._buffers
        if rows != buffers.rows:
            buffers.room(rows)
        self._targets(Y, rows, one, buffers)
        return np.array(buffers.Y, dtype=self.dtype)


__all__ = ["FlatCalls"]
