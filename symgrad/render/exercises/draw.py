"""Who gets which numbers: the class roster, the lecturer's secret key, each sheet's draw.

Part of the exercises (:mod:`symgrad.render.exercises`). A sheet's numbers come from
HMAC-SHA256 of the lecturer's key and the seed, the student's id and a draw counter: without the
key, a student who has the tool, the command and a sheet cannot make the numbers of any sheet
(and so not its solutions), and the id printed on a sheet says nothing of the key. Without a key
the numbers follow from the seed and the id alone, which anyone can repeat.

Text is read as data only: the roster as CSV cells, the key as bytes.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from symgrad import notation as nt
from symgrad.errors import SpecError
from symgrad.spec import NetworkSpec
from symgrad.worked import draw_target

#: The largest roster and key file read (bytes).
MAX_ROSTER_BYTES = 2**20
MAX_KEY_BYTES = 4096
#: The most sheets one command writes.
MAX_SHEETS = 2000
#: The longest student id.
MAX_ID = 100
#: Random bytes of a new key (written as hexadecimal digits).
KEY_BYTES = 32
#: The words that may head the roster's first column (a header row, not a student).
HEADERS = frozenset({"id", "student", "student id", "student_id", "studentid"})


def read_roster(path_text: str) -> tuple[str, ...]:
    """The student ids of a roster: the first cell of every non-empty row of a CSV file, a
    header row (``id``, ``student``) left out. Refuses an empty roster, a repeated id, an id
    with a control character or longer than :data:`MAX_ID`."""
    option = f"--roster {path_text}"
    try:
        with open(path_text, "rb") as file:
            data = file.read(MAX_ROSTER_BYTES + 1)
    except OSError as exc:
        raise SpecError(f"{option}: cannot read it: {exc.strerror or exc}") from None
    if len(data) > MAX_ROSTER_BYTES:
        raise SpecError(f"{option}: the roster is larger than {MAX_ROSTER_BYTES} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SpecError(f"{option}: the roster is not UTF-8 text") from None
    ids: list[str] = []
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise SpecError(f"{option}: cannot read it as CSV: {exc}") from None
    for number, row in enumerate(rows, start=1):
        cell = row[0].strip() if row else ""
        if not cell:
            continue
        if not ids and cell.lower() in HEADERS:
            continue
        if len(cell) > MAX_ID or any(ord(ch) < 32 or ord(ch) == 127 for ch in cell):
            raise SpecError(
                f"{option}: row {number}: a student id is at most {MAX_ID} characters of text, "
                "with no control character"
            )
        if cell in ids:
            raise SpecError(f"{option}: row {number}: the student id {cell!r} comes twice")
        ids.append(cell)
    if not ids:
        raise SpecError(f"{option}: the roster has no student id")
    if len(ids) > MAX_SHEETS:
        raise SpecError(f"{option}: at most {MAX_SHEETS} students, got {len(ids)}")
    return tuple(ids)


def student_ids(count: int | None, roster: str | None) -> tuple[str, ...]:
    """The ids of the sheets: the roster's, or ``1`` to ``count``."""
    if roster is not None:
        ids = read_roster(roster)
        if count is not None and count != len(ids):
            raise SpecError(f"--count {count} but the roster has {len(ids)} students")
        return ids
    if count is None:
        raise SpecError("give --count N (the number of sheets) or --roster FILE")
    if not 1 <= count <= MAX_SHEETS:
        raise SpecError(
            f"--count: the number of sheets must be from 1 to {MAX_SHEETS}, got {count}"
        )
    return tuple(str(n) for n in range(1, count + 1))


def read_key(path_text: str) -> tuple[bytes, bool]:
    """The lecturer's key in ``path_text`` and whether it was made now: a missing file is
    created with a new random key, readable by its owner only (mode 0600). The key is never
    printed; an unreadable, empty or oversized key file is refused."""
    option = f"--key {path_text}"
    path = Path(path_text)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    except OSError as exc:
        raise SpecError(f"{option}: cannot create it: {exc.strerror or exc}") from None
    else:
        with os.fdopen(descriptor, "w", encoding="ascii") as file:
            file.write(secrets.token_hex(KEY_BYTES) + "\n")
        return read_key(path_text)[0], True
    try:
        if not path.is_file():
            raise SpecError(f"{option}: not a file")
        with open(path, "rb") as file:
            key = file.read(MAX_KEY_BYTES + 1).strip()
    except OSError as exc:
        raise SpecError(f"{option}: cannot read it: {exc.strerror or exc}") from None
    if len(key) > MAX_KEY_BYTES:
        raise SpecError(f"{option}: a key file is at most {MAX_KEY_BYTES} bytes")
    if len(key) < 16:
        raise SpecError(f"{option}: the key must hold at least 16 bytes (a new file gets 64)")
    return key, False


def stream(key: bytes, seed: int, student: str, draw: int) -> np.random.Generator:
    """The random numbers of one draw of one student's sheet: a generator seeded with
    HMAC-SHA256 of ``key`` and the seed, the id and the draw."""
    message = "\0".join(("symgrad exercises", str(seed), student, str(draw))).encode("utf-8")
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return np.random.default_rng(int.from_bytes(digest, "big"))


@dataclass(frozen=True, eq=False)
class Numbers:
    """The numbers of one sheet: the parameters, the input and the target."""

    params: dict[str, np.ndarray]
    x: np.ndarray
    y: np.ndarray


def draw_numbers(rng: np.random.Generator, spec: NetworkSpec, decimals: int) -> Numbers:
    """Parameters and input uniform in [-1, 1] with ``decimals`` decimals, none of them 0 (a
    zero makes a gradient entry 0 on every sheet); the target as the worked example draws it:
    one-hot for softmax, 0 or 1 for a sigmoid output, else like the input."""

    def uniform(shape: Sequence[int]) -> np.ndarray:
        step = 10.0**-decimals
        values = np.round(rng.uniform(-1.0, 1.0, tuple(shape)), decimals) + 0.0
        return np.where(values == 0.0, step, values)

    shapes = nt.parameter_shapes(spec.sizes)
    params = {key: uniform(shape) for key, shape in shapes.items()}
    x = uniform((spec.sizes[0],))
    y = draw_target(spec, rng, decimals)
    return Numbers(params, x, y)


__all__ = [
    "MAX_SHEETS",
    "Numbers",
    "draw_numbers",
    "read_key",
    "read_roster",
    "stream",
    "student_ids",
]
