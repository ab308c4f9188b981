"""The contract of generated code, as the checker reads the child's answers.

Beside the pipeline, for ``symgrad check``. The child describes each result as data
(:func:`symgrad.check.child.describe`); :func:`rebuild` turns the description back into Python
floats, NumPy arrays, dicts and tuples, and anything else into an :class:`Opaque` that only
names what it was. :class:`Expect` says whether a result keeps the contract (a Python float or
a 0-d array for a loss, a dict of arrays of the right shapes and dtype for gradients) and
records a failure when not. Every answer is untrusted: a damaged one is a failure of the code,
never an error of the checker.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Opaque:
    """A result the child could only name (not a number, array, dict or tuple)."""

    name: str


@dataclass(frozen=True)
class Described:
    """An array of a result, and the array library the child found it in."""

    array: np.ndarray
    library: str


def rebuild(data: Any, arrays: Mapping[str, np.ndarray], depth: int = 0) -> Any:
    """A result as the child described it; arrays of other libraries than NumPy come back as
    :class:`Described`, which :func:`unwrap` opens."""
    if not isinstance(data, dict) or depth > 8:
        return Opaque("damaged answer")
    kind = data.get("type")
    if kind in ("float", "float64", "float32", "float16", "longdouble", "float128"):
        value = data.get("value")
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return Opaque("damaged answer")
        return float(value) if kind in ("float", "float64") else Opaque(f"NumPy {kind} scalar")
    if kind == "ndarray":
        array = arrays.get(str(data.get("array")))
        if array is None:
            return Opaque("damaged answer")
        if data.get("dtype") not in ("<f8", "<f4") or list(array.shape) != data.get("shape"):
            return Opaque(f"array of dtype {str(data.get('dtype'))[:20]}")
        library = data.get("library", "numpy")
        return array if library == "numpy" else Described(array, str(library)[:20])
    if kind == "dict":
        items = data.get("items")
        if not isinstance(items, list):
            return Opaque("damaged answer")
        out = {}
        for item in items:
            if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)):
                return Opaque("damaged answer")
            out[item[0]] = rebuild(item[1], arrays, depth + 1)
        return out
    if kind in ("tuple", "list"):
        items = data.get("items")
        if not isinstance(items, list):
            return Opaque("damaged answer")
        rebuilt = [rebuild(v, arrays, depth + 1) for v in items]
        return tuple(rebuilt) if kind == "tuple" else rebuilt
    return Opaque(str(kind)[:40])


def unwrap(value: Any, library: str) -> tuple[Any, str | None]:
    """A result of ``library`` as NumPy data, and the first array found in another library
    (None when every array is of ``library``)."""
    if isinstance(value, Described):
        return value.array, (None if value.library == library else value.library)
    if isinstance(value, np.ndarray):
        return value, (None if library == "numpy" else "numpy")
    if isinstance(value, dict):
        wrong = None
        out = {}
        for key, item in value.items():
            out[key], found = unwrap(item, library)
            wrong = wrong or found
        return out, wrong
    if isinstance(value, tuple):
        parts = [unwrap(v, library) for v in value]
        return tuple(p[0] for p in parts), next((p[1] for p in parts if p[1]), None)
    return value, None


def kind(value: Any) -> str:
    """What a result is, for a message."""
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    if isinstance(value, Opaque):
        return f"a {value.name}"
    return f"a {type(value).__name__}"


class Expect:
    """Contract checks that record a failure (``failed(text)``) and return what they found."""

    def __init__(
        self, failed: Callable[[str], None], shapes: Mapping[str, tuple[int, ...]], loss_result: str
    ) -> None:
        self.failed = failed
        self.shapes = shapes
        self.loss_result = loss_result

    def loss(self, value: Any, what: str, where: str, dtype: str) -> float | None:
        """A loss as the target returns it: a Python float, or a 0-d array of the dtype of the
        computation (array-API modules)."""
        if self.loss_result == "float":
            if isinstance(value, float):
                return value
            expected = "a Python float"
        else:
            if isinstance(value, np.ndarray) and value.shape == () and value.dtype == dtype:
                return float(value)
            expected = f"a 0-d {dtype} array"
        self.failed(f"{what} returned {kind(value)}, not {expected}, {where}")
        return None

    def gradients(
        self, value: Any, what: str, where: str, dtype: str
    ) -> dict[str, np.ndarray] | None:
        if not isinstance(value, dict) or set(value) != set(self.shapes):
            self.failed(
                f"{what} returned {kind(value)} without exactly the keys "
                f"{', '.join(self.shapes)}, {where}"
            )
            return None
        for key, shape in self.shapes.items():
            if not self.array(value[key], shape, dtype, f"{what}[{key!r}]", where):
                return None
        return value

    def array(self, value: Any, shape: tuple[int, ...], dtype: str, what: str, where: str) -> bool:
        if isinstance(value, np.ndarray) and value.shape == shape and value.dtype == dtype:
            return True
        self.failed(f"{what} is {kind(value)}; expected {dtype} of shape {shape}, {where}")
        return False

    def pair(self, value: Any, where: str) -> tuple[Any, Any] | None:
        """``(loss, gradients)`` of ``loss_and_gradients``."""
        if isinstance(value, tuple) and len(value) == 2:
            return value
        self.failed(f"loss_and_gradients returned {kind(value)}, not (loss, gradients), {where}")
        return None
