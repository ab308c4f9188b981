"""``python -m symgrad``: the same program as the ``symgrad`` console script."""

from symgrad.cli import entry_point

entry_point()
