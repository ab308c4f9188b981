"""Messages between ``symgrad check`` and the sandboxed child that runs the checked code.

A message is a 4-byte big-endian length, a JSON object of that many bytes, then the raw bytes of
the arrays the object lists under ``"arrays"`` (name, dtype, shape), in that order. Nothing is
unpickled: the parent reads what the child says as data only, with a dtype from a short list and
sizes it checks before it reads.

This module imports nothing of symgrad: the child loads it by its path, without the package.
"""

from __future__ import annotations

import json
import os
import select
import time
from typing import Any

import numpy as np

#: The dtypes an array in a message may have.
DTYPES = frozenset({"<f8", "<f4", "<i8", "|b1", "|u1"})
#: Largest JSON part of a message (the setup message carries the checked source).
MAX_HEADER = 64 << 20


class WireError(Exception):
    """A message that is damaged, too large, or did not come in time."""


def encode(header: dict[str, Any], arrays: dict[str, np.ndarray] | None = None) -> bytes:
    """The bytes of one message."""
    listed = []
    parts = []
    for name, array in (arrays or {}).items():
        data = np.array(array, order="C", copy=True)  # keeps a 0-d array 0-d
        dtype = data.dtype.newbyteorder("<") if data.dtype.byteorder == ">" else data.dtype
        data = data.astype(dtype, copy=False)
        if dtype.str not in DTYPES:
            raise WireError(f"array {name} has dtype {dtype}, which messages do not carry")
        listed.append([name, dtype.str, list(data.shape)])
        parts.append(data.tobytes())
    text = json.dumps({**header, "arrays": listed}, allow_nan=True).encode("utf-8")
    return len(text).to_bytes(4, "big") + text + b"".join(parts)


def write(fd: int, header: dict[str, Any], arrays: dict[str, np.ndarray] | None = None) -> None:
    data = memoryview(encode(header, arrays))
    while data:
        sent = os.write(fd, data)
        data = data[sent:]


class Reader:
    """Reads messages from a file descriptor, each within a deadline and a size limit."""

    def __init__(self, fd: int, limit: int, header_limit: int = MAX_HEADER) -> None:
        self.fd = fd
        self.limit = limit
        self.header_limit = header_limit

    def read(self, deadline: float | None = None) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        size = int.from_bytes(self._exact(4, deadline), "big")
        if size > self.header_limit:
            raise WireError(f"a message of {size} bytes")
        try:
            header = json.loads(self._exact(size, deadline).decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise WireError(f"a damaged message ({type(exc).__name__})") from None
        if not isinstance(header, dict):
            raise WireError("a message that is not an object")
        arrays: dict[str, np.ndarray] = {}
        listed = header.pop("arrays", [])
        total = 0
        for entry in listed if isinstance(listed, list) else [None]:
            if not (
                isinstance(entry, list)
                and len(entry) == 3
                and isinstance(entry[0], str)
                and entry[1] in DTYPES
                and isinstance(entry[2], list)
                and all(isinstance(n, int) and 0 <= n < 1 << 40 for n in entry[2])
            ):
                raise WireError("a message with a damaged list of arrays")
            name, dtype, shape = entry
            count = 1
            for n in shape:
                count *= n
            nbytes = count * np.dtype(dtype).itemsize
            total += nbytes
            if total > self.limit:
                raise WireError(f"a message with more than {self.limit} bytes of arrays")
            data = self._exact(nbytes, deadline)
            arrays[name] = np.frombuffer(data, dtype=dtype).reshape(shape).copy()
        return header, arrays

    def _exact(self, size: int, deadline: float | None) -> bytes:
        chunks = []
        left = size
        while left:
            if deadline is not None:
                wait = deadline - time.monotonic()
                if wait <= 0 or not select.select([self.fd], [], [], wait)[0]:
                    raise TimeoutError
            chunk = os.read(self.fd, min(left, 1 << 20))
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
