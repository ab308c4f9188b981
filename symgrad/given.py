"""Given numbers for the worked example: parameters from a file, an input, a target, a step.

Beside the worked example (spec -> **given numbers** -> worked example -> renderers, cli). A
lecturer who reproduces a published example or an exam question gives its numbers instead of a
seed: ``--params FILE`` (JSON in the schema ``symgrad example --format json`` writes for
``params``, or a ``.npz`` as ``numpy.savez`` writes it), ``--x``, ``--y`` (a comma list, or for
softmax + cross-entropy a class index), ``--round D`` (drawn numbers with D decimals) and
``--lr ETA`` (one step of gradient descent). What is not given is drawn from the seed, as before.

Everything here reads text as data: a number is read with :func:`float` and nothing else, a file
is read as JSON or as a ``.npz`` archive with pickles refused, and its size is checked before a
byte of an array is read. Every problem found is collected; :class:`GivenError` carries them all,
one line each, in the notation of the notes.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from symgrad import notation as nt
from symgrad.errors import SpecError
from symgrad.spec import NetworkSpec

#: The largest parameter file read (bytes), and the largest array a ``.npz`` may unpack to: far
#: beyond any network a worked example is for (784-128-10 is under 2 MB of JSON), far below
#: what would strain memory.
MAX_FILE_BYTES = 64 * 2**20

#: ``--round D``: D from 1 to this.
MAX_DECIMALS = 10

#: How far the entries of a softmax + cross-entropy target may sum from 1 (``0.1,0.2,0.7`` sums
#: to 0.9999999999999999 in float64).
SUM_TOLERANCE = 1e-9


class GivenError(SpecError):
    """Given numbers that cannot be used: one line for every problem found."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = tuple(problems)


@dataclass(frozen=True, eq=False)
class Given:
    """The numbers given on the command line; None where the seed draws them.

    ``words`` are the options that gave them, as typed (the command that remakes a document).
    Compared by identity: arrays have no single truth value to compare by.
    """

    params: dict[str, np.ndarray] | None = None
    params_file: str | None = None
    x: np.ndarray | None = None
    y: np.ndarray | None = None
    #: ``--y K``: the class index given for a one-hot target (counted from 0), else None.
    label: int | None = None
    decimals: int | None = None
    lr: float | None = None
    words: tuple[str, ...] = field(default=())

    @property
    def any(self) -> bool:
        """Whether anything at all was given (the notes then have a worked example)."""
        return bool(self.words)


#: No numbers given: the seed draws them all.
NOTHING_GIVEN = Given()


def read_given(
    spec: NetworkSpec,
    params: str | None = None,
    x: str | None = None,
    y: str | None = None,
    decimals: str | None = None,
    lr: str | None = None,
) -> Given:
    """The given numbers for ``spec`` from the options' text, each checked against the network.

    Raises :class:`GivenError` with every problem: a file that cannot be read, a shape that is
    not the parameter's, a number that is not finite, a target that is not a distribution
    where the loss needs one, a class index out of range, text that is not a number.
    """
    problems: list[str] = []
    words: list[str] = []
    given: dict[str, Any] = {}
    if params is not None:
        words += ["--params", params]
        given["params"] = _collect(problems, read_params, params, spec.sizes)
        given["params_file"] = params
    if x is not None:
        words += ["--x", x]
        given["x"] = _collect(problems, read_vector, "--x", x, spec.sizes[0], "n_0")
    if y is not None:
        words += ["--y", y]
        target = _collect(problems, read_target, spec, y)
        if target is not None:
            given["y"], given["label"] = target
    if decimals is not None:
        words += ["--round", decimals]
        given["decimals"] = _collect(problems, read_decimals, decimals)
    if lr is not None:
        words += ["--lr", lr]
        given["lr"] = _collect(problems, read_rate, lr)
    if problems:
        raise GivenError(problems)
    return Given(**given, words=tuple(words))


def _collect(problems: list[str], read: Any, *args: Any) -> Any:
    """``read(*args)``, or None with its problems added to ``problems``."""
    try:
        return read(*args)
    except GivenError as exc:
        problems.extend(exc.problems)
        return None


# Numbers typed on the command line ------------------------------------------------------------


def read_number(option: str, text: str, where: str = "") -> float:
    """One finite number, read with :func:`float` (nothing is evaluated)."""
    try:
        value = float(text)
    except ValueError:
        raise GivenError([f"{option}: cannot read {text.strip()!r}{where} as a number"]) from None
    if not math.isfinite(value):
        raise GivenError([f"{option}: {text.strip()!r}{where} is not a finite number"])
    return value + 0.0  # -0.0 reads as 0.0


def read_vector(option: str, text: str, n: int, size: str) -> np.ndarray:
    """``"0.05,0.10"``: ``n`` finite numbers separated by commas."""
    parts = text.split(",")
    problems: list[str] = []
    values = []
    for i, part in enumerate(parts, start=1):
        try:
            values.append(read_number(option, part, f" (entry {i})" if len(parts) > 1 else ""))
        except GivenError as exc:
            problems.extend(exc.problems)
    if len(parts) != n:
        problems.insert(
            0, f"{option}: expected {size} = {n} numbers separated by commas, got {len(parts)}"
        )
    if problems:
        raise GivenError(problems)
    return np.array(values, dtype=np.float64)


def read_target(spec: NetworkSpec, text: str) -> tuple[np.ndarray, int | None]:
    """``--y``: ``n_L`` numbers, or for softmax + cross-entropy a class index ``K`` (counted
    from 0, as generated code takes class indices), the one-hot target with ``y_{K+1} = 1``.

    The target must be what the loss is defined for: for softmax + cross-entropy a
    distribution (entries in [0, 1] that sum to 1); for binary cross-entropy entries in [0, 1].
    """
    nL = spec.sizes[-1]
    size = f"n_{spec.depth}"
    one_hot = spec.pair.assumes_targets_sum_to_one
    if one_hot and "," not in text and text.strip().isascii() and text.strip().isdigit():
        k = int(text.strip()) if len(text.strip()) <= 18 else nL
        if k >= nL:
            raise GivenError(
                [
                    f"--y: class index {text.strip()} is out of range for {size} = {nL} output "
                    f"units; a class index is 0 to {nL - 1} (counted from 0)"
                ]
            )
        y = np.zeros(nL)
        y[k] = 1.0
        return y, k
    try:
        y = read_vector("--y", text, nL, size)
    except GivenError as exc:
        if one_hot and "," not in text:
            raise GivenError([*exc.problems, f"--y: or a class index from 0 to {nL - 1}"]) from None
        raise
    pair = f"{spec.output} + {spec.loss}"
    if one_hot:
        outside = _outside_unit_interval(y)
        if outside or abs(float(y.sum()) - 1.0) > SUM_TOLERANCE:
            why = outside or f"its entries sum to {float(y.sum())!r}"
            raise GivenError(
                [
                    f"--y: the target of {pair} must be a distribution (entries in [0, 1] that "
                    f"sum to 1), but {why}; or give a class index from 0 to {nL - 1}"
                ]
            )
    elif spec.loss == "binary-cross-entropy" and (outside := _outside_unit_interval(y)):
        raise GivenError([f"--y: the target of {pair} needs every entry in [0, 1], but {outside}"])
    return y, None


def _outside_unit_interval(y: np.ndarray) -> str:
    for i, value in enumerate(y.tolist(), start=1):
        if not 0.0 <= value <= 1.0:
            return f"y_{i} = {value!r}"
    return ""


def read_decimals(text: str) -> int:
    """``--round D``: a whole number of decimals from 1 to :data:`MAX_DECIMALS`."""
    stripped = text.strip()
    whole = stripped.isascii() and stripped.isdigit()
    if not whole or not 1 <= int(stripped[:3]) <= MAX_DECIMALS:
        raise GivenError(
            [
                f"--round: the number of decimals must be a whole number from 1 to {MAX_DECIMALS}, "
                f"got {text!r}"
            ]
        )
    return int(stripped)


def read_rate(text: str) -> float:
    """``--lr ETA``: a finite learning rate above 0."""
    value = read_number("--lr", text)
    if value <= 0:
        raise GivenError([f"--lr: the learning rate must be greater than 0, got {text.strip()!r}"])
    return value


# Parameter files --------------------------------------------------------------------------------


def read_params(path_text: str, sizes: tuple[int, ...]) -> dict[str, np.ndarray]:
    """The parameters in ``path_text`` for a network of layer sizes ``sizes``: every ``W_k`` of
    shape ``(n_k, n_{k-1})`` and ``b_k`` of shape ``(n_k,)``, finite, as float64.

    A ``.npz`` file (a zip archive) is read with pickles refused; anything else as JSON: an
    object with the keys ``W1``, ``b1``, ..., or an object whose ``params`` holds them (the
    whole output of ``symgrad example --format json``). Its size is checked first.
    """
    option = f"--params {path_text}"
    path = Path(path_text)
    try:
        size = os.stat(path).st_size
        regular = path.is_file()
    except (OSError, ValueError) as exc:
        raise GivenError([f"{option}: cannot read it: {_reason(exc)}"]) from None
    if not regular:
        raise GivenError([f"{option}: not a file"])
    if size > MAX_FILE_BYTES:
        raise GivenError(
            [f"{option}: the file has {size} bytes, more than the {MAX_FILE_BYTES} read"]
        )
    found = _read_npz(option, path) if zipfile.is_zipfile(path) else _read_json(option, path)
    return _checked_params(option, found, sizes)


def _reason(exc: BaseException) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


def _read_npz(option: str, path: Path) -> dict[str, Any]:
    """The arrays of a ``.npz``; each member's unpacked size checked before it is read, and
    object arrays (pickles) refused."""
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if info.file_size > MAX_FILE_BYTES:
                    raise GivenError(
                        [
                            f"{option}: {info.filename} unpacks to {info.file_size} bytes, more "
                            f"than the {MAX_FILE_BYTES} read"
                        ]
                    )
        with np.load(path, allow_pickle=False) as arrays:
            return {key: arrays[key] for key in arrays.files}
    except ValueError as exc:
        if "pickle" in str(exc):
            raise GivenError(
                [f"{option}: it holds Python objects (pickles), which are never loaded"]
            ) from None
        raise GivenError([f"{option}: cannot read it as a .npz file: {exc}"]) from None
    except (OSError, zipfile.BadZipFile, EOFError, KeyError) as exc:
        raise GivenError([f"{option}: cannot read it as a .npz file: {exc}"]) from None


def _read_json(option: str, path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
        # NaN and Infinity read as the floats they name, and are refused by name below
        data = json.loads(text, parse_constant=float)
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else _reason(exc)
        raise GivenError(
            [f"{option}: cannot read it as JSON or as a .npz file ({reason})"]
        ) from None
    if isinstance(data, dict) and isinstance(data.get("params"), dict):
        data = data["params"]
    if not isinstance(data, dict):
        raise GivenError(
            [
                f"{option}: expected a JSON object with the keys W1, b1, ... (or one whose "
                '"params" holds them)'
            ]
        )
    return data


def _checked_params(
    option: str, found: dict[str, Any], sizes: tuple[int, ...]
) -> dict[str, np.ndarray]:
    shapes = nt.parameter_shapes(sizes)
    expected = _shape_words(sizes)
    network = "-".join(str(n) for n in sizes)
    problems = []
    for key in shapes:
        if key not in found:
            problems.append(f"{option}: no {key}; expected {expected[key]}")
    extra = sorted(str(key) for key in found if key not in shapes)
    if extra:
        names = ", ".join(extra)
        problems.append(f"{option}: {names}: the {network} network has no such parameter")
    params = {}
    for key, shape in shapes.items():
        if key not in found:
            continue
        array = _as_array(option, key, found[key], problems)
        if array is None:
            continue
        if array.shape != shape:
            problems.append(
                f"{option}: {key} has shape {_shape(array.shape)}; expected {expected[key]}"
            )
            continue
        bad = np.argwhere(~np.isfinite(array))
        if bad.size:
            index = tuple(int(i) for i in bad[0])
            problems.append(
                f"{option}: {key}{list(index)} is {float(array[index])!r}; every number must be "
                "finite"
            )
            continue
        params[key] = array + 0.0
    if problems:
        raise GivenError(problems)
    return params


def _as_array(option: str, key: str, value: Any, problems: list[str]) -> np.ndarray | None:
    """``value`` (a NumPy array, or nested JSON lists of numbers) as a float64 array."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "fiu":
            problems.append(f"{option}: {key} holds {value.dtype} values; expected real numbers")
            return None
        return value.astype(np.float64)
    if not _numbers_only(value):
        problems.append(
            f"{option}: {key} must be a list of numbers (a matrix: a list of rows of numbers)"
        )
        return None
    try:
        return np.array(value, dtype=np.float64)
    except (ValueError, OverflowError):  # rows of different lengths
        problems.append(f"{option}: {key} has rows of different lengths")
        return None


def _numbers_only(value: Any, depth: int = 0) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return depth > 0
    if isinstance(value, list) and depth < 2:
        return all(_numbers_only(v, depth + 1) for v in value)
    return False


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"


def _shape_words(sizes: tuple[int, ...]) -> dict[str, str]:
    """Each parameter's shape and what it is in the layer sizes: ``(2, 3), n_1 x n_0``."""
    words = {}
    for k in range(1, len(sizes)):
        words[nt.param_key("W", k)] = f"{_shape((sizes[k], sizes[k - 1]))}, n_{k} x n_{k - 1}"
        words[nt.param_key("b", k)] = f"{_shape((sizes[k],))}, n_{k} entries"
    return words


__all__ = [
    "MAX_DECIMALS",
    "MAX_FILE_BYTES",
    "NOTHING_GIVEN",
    "Given",
    "GivenError",
    "read_given",
    "read_params",
    "read_target",
    "read_vector",
]
