"""The options of the notes: which layer is written in full, where the checks go, label prefixes.

Part of the notes renderer (:mod:`symgrad.render.notes`); checked before any work is done, so a
bad option is one line of error and no derivation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from symgrad.errors import SpecError
from symgrad.given import Given
from symgrad.render.document import Framing

#: LaTeX packages the fragment needs (stated in its top comment); the document loads them too.
FRAGMENT_PACKAGES = ("amsmath", "amssymb", "array", "booktabs", "longtable", "tikz", "graphicx")

#: The values of ``--checks``: the table of how each step was proved in the body, in an
#: appendix, or not at all (a sentence in the introduction says that every step was checked).
CHECKS = ("full", "appendix", "none")

#: The values of ``--audience``, the default first.
AUDIENCES = ("students", "instructors")

#: ``--checks`` when it is not given, per audience: students read nothing of the proof.
DEFAULT_CHECKS = {"students": "none", "instructors": "appendix"}

#: The sections of a document (``--sections``), in the order they come, each with what it
#: holds; a document has those that apply to it (the worked example needs ``--example``; the
#: lecturer's page and the checks are for instructors).
SECTIONS = {
    "setup": "notation, the network and the forward pass",
    "output": "the output layer",
    "hidden": "the hidden layers",
    "parameters": "the gradients of the weights and biases",
    "summary": "backpropagation for this network in matrix form",
    "example": "the worked example (with --example)",
    "general": "BP1-BP4 and the algorithm for any depth",
    "batch": "mini-batches",
    "derivatives": "the derivatives of the activation and output functions (appendix)",
    "lecturer": "the lecturer's page (instructors)",
    "checks": "how each equation was checked (instructors)",
}


def parse_sections(text: str | None) -> tuple[str, ...]:
    """``--sections ID[,ID...]`` as ids in the order of the document (empty: all).

    Raises :class:`~symgrad.errors.SpecError` for an unknown id.
    """
    if text is None:
        return ()
    ids = [part.strip() for part in text.split(",")]
    for id in ids:
        if id not in SECTIONS:
            raise SpecError(
                f"--sections: unknown section {id!r}; the sections are {', '.join(SECTIONS)}"
            )
    return tuple(id for id in SECTIONS if id in ids)


LABEL_PREFIX = re.compile(r"[A-Za-z0-9:._-]{0,40}")


@dataclass(frozen=True)
class NotesOptions:
    """The notes options and ``--expand``."""

    #: The layer whose chain rule and weight matrix are written in full (None: the default).
    expand: int | None = None
    #: Where the table of how each step was proved goes: one of :data:`CHECKS` (None: the
    #: audience's default, :data:`DEFAULT_CHECKS`).
    checks: str | None = None
    #: Prefixed to every LaTeX label (and Markdown block id), so two fragments can share one
    #: document.
    label_prefix: str = ""
    #: ``--example SEED``: a worked example with the numbers of one sample (None: none).
    example: int | None = None
    #: ``--audience``: who reads the document, one of :data:`AUDIENCES`.
    audience: str = AUDIENCES[0]
    #: ``--title``, ``--author``, ``--course``, ``--date``.
    framing: Framing = Framing()
    #: ``--sections``: the ids of the sections printed, in the document's order (empty: all).
    sections: tuple[str, ...] = ()
    #: Numbers of the worked example given instead of drawn from its seed (``--params``...).
    given: Given = Given()

    def resolved(self, depth: int) -> NotesOptions:
        """These options checked against a network of ``depth`` layers, ``expand`` filled in.

        Raises :class:`~symgrad.errors.SpecError` with what to change.
        """
        expand = depth if self.expand is None else self.expand
        if not 1 <= expand <= depth:
            raise SpecError(
                f"--expand must be a layer number from 1 to {depth} (L = {depth}), got {expand}"
            )
        if self.audience not in AUDIENCES:
            raise SpecError(
                f"--audience must be one of {', '.join(AUDIENCES)}, got {self.audience!r}"
            )
        if problem := self.framing.problem():
            raise SpecError(problem)
        checks = DEFAULT_CHECKS[self.audience] if self.checks is None else self.checks
        if checks not in CHECKS:
            raise SpecError(f"--checks must be one of {', '.join(CHECKS)}, got {checks!r}")
        if self.audience == "students" and checks != "none":
            raise SpecError(
                f"--checks {checks} is for --audience instructors (students read no proof)"
            )
        if not LABEL_PREFIX.fullmatch(self.label_prefix):
            raise SpecError(
                "--label-prefix may use letters, digits and : . _ - (at most 40), got "
                f"{self.label_prefix!r}"
            )
        if problem := sections_problem(self.sections, self.example, self.audience, checks):
            raise SpecError(problem)
        return replace(self, expand=expand, checks=checks)


def sections_problem(ids: tuple[str, ...], example: int | None, audience: str, checks: str) -> str:
    """Why a document with these options lacks a section of ``ids`` ("" when it has them all)."""
    for id in ids:
        if id == "example" and example is None:
            return "--sections example: the worked example needs --example SEED"
        if id in ("lecturer", "checks") and audience == "students":
            return f"--sections {id}: that section is for --audience instructors"
        if id == "checks" and checks == "none":
            return "--sections checks: this document has no checks (--checks none)"
    return ""
