"""The derivation: the steps of the notes, in order, for one network.

The visible middle of the pipeline (spec -> network of ops -> **derivation** -> proof -> program
-> renderers). :func:`build_derivation` walks the network's graph and numbers the steps its ops
give; :func:`symgrad.pipeline.derive` builds and proves them. Every renderer and every code target
consumes the one :class:`Derivation`, so the notes, the printout and the code cannot disagree. The
records the steps are made of live in :mod:`symgrad.steps`.
"""

from __future__ import annotations

from symgrad.derivation.build import Derivation, build_derivation, build_step
from symgrad.steps import (
    Check,
    CheckMethod,
    EntryMatrix,
    Form,
    Kind,
    ProofMethod,
    ProofSummary,
    Rule,
    Stage,
    Step,
    StepId,
)

__all__ = [
    "Check",
    "CheckMethod",
    "Derivation",
    "EntryMatrix",
    "Form",
    "Kind",
    "ProofMethod",
    "ProofSummary",
    "Rule",
    "Stage",
    "Step",
    "StepId",
    "build_derivation",
    "build_step",
]
