"""Text of the checked code's choosing, made safe to print: short, one line, no control.

Beside the pipeline, for ``symgrad check``. An exception message, the last line the checked code
wrote to stderr, what the compiler said: the report carries them only as an :func:`excerpt`.
The sandbox has no environment and shows no file outside the system's and symgrad's, so an
excerpt cannot carry a secret; this keeps it short and keeps terminal escapes out.
"""

from __future__ import annotations

import re

#: Characters of an excerpt, by default.
EXCERPT = 160
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")


def excerpt(text: str, limit: int = EXCERPT) -> str:
    """``text`` on one line, every character outside printable ASCII shown as ``?``, cut to
    ``limit`` characters (``...`` marks a cut)."""
    line = _UNPRINTABLE.sub("?", " ".join(text[: 4 * limit].split()))
    return line if len(line) <= limit else line[: limit - 3] + "..."
