"""The derivation: the steps of the notes as data, their typed ids, and the backward schedule.

The visible middle of the pipeline (spec -> model -> **derivation** -> proof -> program ->
renderers). :func:`build_derivation` builds the steps; :func:`symgrad.pipeline.derive` builds and
proves them. Every renderer and every code target consumes the one :class:`Derivation`, so the
notes, the printout and the code cannot disagree.
"""

from __future__ import annotations

from symgrad.derivation.build import build_derivation, build_step
from symgrad.derivation.schedule import (
    backward_pass,
    batch_pass,
    forward_pass,
    hidden_layers_backward,
    layers_backward,
)
from symgrad.derivation.steps import (
    BATCH_OF,
    ELEMENTWISE_TWIN,
    PER_SAMPLE,
    Check,
    CheckMethod,
    Derivation,
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
    "BATCH_OF",
    "ELEMENTWISE_TWIN",
    "PER_SAMPLE",
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
    "backward_pass",
    "batch_pass",
    "build_derivation",
    "build_step",
    "forward_pass",
    "hidden_layers_backward",
    "layers_backward",
]
