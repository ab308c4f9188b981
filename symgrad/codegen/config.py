"""A code target: what it generates (config), how expressions read (printer), where (templates).

Part of the targets stage (program -> **targets**). A target is an object with this interface;
adding one means writing a printer, a template folder and one :class:`Target`, then registering it
in :data:`symgrad.codegen.TARGETS`. Everything else (the program, its passes, the comments that
cite the notes, the provenance header) is shared.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from symgrad.derivation import Derivation
from symgrad.spec import NetworkSpec


@dataclass(frozen=True)
class GeneratedFile:
    """One file of generated code: its name relative to the one ``-o`` names, and its text.

    ``suffix`` replaces the suffix of the ``-o`` path (``.py``; ``.c`` and ``.h`` for C).
    """

    suffix: str
    text: str


class Target(Protocol):
    """A code target: a name for ``--target``, its styles (the first is the default)."""

    name: str
    styles: tuple[str, ...]
    #: The values of ``--dtype`` (the first is the default), or () when the dtype of generated
    #: code follows its inputs and ``--dtype`` is refused.
    dtypes: tuple[str, ...]
    #: The suffix ``-o`` must end with, or "" when any is accepted.
    suffix: str
    #: True when ``-o`` is required (a target that writes several files).
    needs_output_file: bool

    def check(self, spec: NetworkSpec, style: str, dtype: str | None) -> None:
        """Refuse, with :class:`~symgrad.errors.SpecError`, what this target cannot generate.

        Cheap: the command line calls it before deriving, so a refusal is immediate.
        """

    def generate(
        self, derivation: Derivation, style: str, dtype: str | None, command: str, name: str
    ) -> tuple[GeneratedFile, ...]:
        """The files for ``derivation`` in ``style`` (and ``dtype``, for targets with one);
        ``command`` goes into their header and ``name`` is the stem of the output file (the
        prefix of C's public names)."""
        ...
