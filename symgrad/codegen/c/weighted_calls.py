"""The weighted calls of a loaded C network: ``sample_weight`` and ``reduction="none"``.

Part of the C target, beside :mod:`symgrad.codegen.c.loader`: the weights checked as the NumPy
module checks them (the same ``ValueError``s), copied into the thread's buffer and handed to the
file's ``NAME_*_weighted`` functions; ``reduction="none"`` calls ``NAME_sample_losses``. A file
of a symgrad before these functions loads, and refuses weights with a ``ValueError``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from symgrad.errors import SymgradError

#: ``NAME_ERROR_WEIGHTS``: a weighted C function refused its weights.
ERROR_WEIGHTS = -3


def check_reduction(reduction: str, sample_weight: Any) -> None:
    """Refuse a ``reduction`` other than ``"mean"`` and ``"none"``, and weights without a mean."""
    if reduction not in ("mean", "none"):
        raise ValueError(f'reduction must be "mean" or "none", got {reduction!r}')
    if reduction == "none" and sample_weight is not None:
        raise ValueError('sample_weight weighs the mean; reduction="none" returns every loss')


class WeightedCalls:
    """The weighted functions of :class:`~symgrad.codegen.c.loader.CNetwork` (which binds
    ``_c_weighted`` and keeps the buffers), called after ``X`` and ``Y`` are in the buffers."""

    library_path: Path
    prefix: str
    dtype: Any
    _keys: tuple[str, ...]
    _c_weighted: dict[str, Any]
    _buffers: Any

    def _failed(self, status: int, name: str) -> SymgradError:
        return SymgradError(f"{self.prefix}_{name} returned {status}")

    def _gradient_copy(self, result: Any) -> dict[str, np.ndarray]:
        """The gradient in this thread's buffer, as new arrays of the dtype ``result``."""
        views = self._buffers.grad_views
        if result is self.dtype:
            return dict(zip(self._keys, map(np.ndarray.copy, views), strict=True))
        return {k: v.astype(result) for k, v in zip(self._keys, views, strict=True)}

    def _inputs(self, params: Any, X: Any, buffers: Any) -> tuple[Any, int, bool]:
        raise NotImplementedError

    def _targets(self, Y: Any, rows: int, one: bool, buffers: Any) -> None:
        raise NotImplementedError

    def _weights(self, sample_weight: Any, rows: int, one: bool, buffers: Any) -> None:
        """Checks ``sample_weight`` as the NumPy module does and copies it into the buffer."""
        self._require_weighted("sample_weight")
        w = sample_weight if type(sample_weight) is np.ndarray else np.asarray(sample_weight)
        expected = () if one else (rows,)
        if w.shape != expected:
            raise ValueError(
                f"sample_weight has shape {w.shape}; expected {expected}, one weight per row of X"
            )
        if w.dtype.kind not in "biuf":
            raise ValueError(f"sample_weight must hold real numbers, not {w.dtype}")
        w = w.astype(np.float64).reshape(rows)
        if not np.isfinite(w).all():
            raise ValueError("sample_weight holds a weight that is not finite")
        if (w < 0).any():
            raise ValueError("sample_weight holds a negative weight")
        if not w.sum() > 0:
            raise ValueError("sample_weight sums to 0; give at least one positive weight")
        if w.max() > np.finfo(self.dtype).max:  # finite in float64, not in the C code's float
            real = np.dtype(self.dtype).name
            raise ValueError(f"sample_weight holds a weight past the largest {real}")
        buffers.weights[...] = w

    def _require_weighted(self, what: str) -> None:
        if not self._c_weighted:
            raise ValueError(
                f"{self.library_path.name} has no weighted or per-sample functions; generate it "
                f"again with this symgrad to pass {what}"
            )

    def _call_weighted(self, name: str, *arguments: Any) -> None:
        """Calls the C function ``NAME_<name>``; its refusal of the weights is a ValueError
        (in float C code, a weight or a sum past the largest float)."""
        status = self._c_weighted[name](*arguments)
        if status == ERROR_WEIGHTS:
            real = np.dtype(self.dtype).name
            raise ValueError(f"sample_weight sums to a number past the largest {real}")
        if status:
            raise self._failed(status, name)

    def _sample_losses(self, result: Any, rows: int, one: bool) -> Any:
        self._require_weighted('reduction="none"')
        b = self._buffers
        self._call_weighted("sample_losses", b.p_params, b.p_X, b.p_Y, rows, b.p_losses, b.p_work)
        return b.losses.item(0) if one else b.losses.astype(result)

    def _weighted_loss(self, sample_weight: Any, rows: int, one: bool) -> float:
        b = self._buffers
        self._weights(sample_weight, rows, one, b)
        arguments = (b.p_params, b.p_X, b.p_Y, b.p_weights, rows, b.p_loss, b.p_work)
        self._call_weighted("loss_weighted", *arguments)
        return float(b.loss.item(0))

    def _weighted_input_gradient(self, sample_weight: Any, rows: int, one: bool) -> None:
        b = self._buffers
        self._weights(sample_weight, rows, one, b)
        self._call_weighted(
            "input_gradient_weighted",
            *(b.p_params, b.p_X, b.p_Y, b.p_weights, rows, b.p_grad_x, b.p_work),
        )

    def _weighted_loss_and_gradients(
        self, params: Any, X: Any, Y: Any, sample_weight: Any
    ) -> tuple[float, dict[str, np.ndarray]]:
        b = self._buffers
        result, rows, one = self._inputs(params, X, b)
        self._targets(Y, rows, one, b)
        self._weights(sample_weight, rows, one, b)
        self._call_weighted(
            "loss_and_gradients_weighted",
            *(b.p_params, b.p_X, b.p_Y, b.p_weights, rows, b.p_loss, b.p_grad, b.p_work),
        )
        return b.loss.item(0), self._gradient_copy(result)


__all__ = ["ERROR_WEIGHTS", "WeightedCalls", "check_reduction"]
