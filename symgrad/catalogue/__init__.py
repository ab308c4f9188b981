"""The catalogue: every primitive of symgrad, each written out once.

Sits between the spec (names chosen by the user) and the model. An entry carries everything the
rest of the pipeline needs to know about it, so no other module compares against a name:

- an :class:`Activation` ``g``: ``g(x)``, ``g'(x)``, ``g'`` in terms of its output ``h = g(x)``
  where that is how it is usually written (``sigmoid' = h (1 - h)``), and the forms generated code
  computes (``stable``, ``slope``), which cannot overflow for any ``x``;
- an :class:`OutputFunction` ``O``: ``yhat_i`` from the logits and ``d yhat_j / d a_{Li}``;
- a :class:`Loss`: its per-unit term and ``dL/dyhat_i``;
- an :class:`OutputLoss` pair: ``grad_{a_L} L`` in its simplest form (elementwise and as a matrix)
  and the row forms generated code computes the loss, the prediction and ``grad_{a_L} L`` with.

Mathematical forms take the notation's objects as arguments (callables such as ``yhat(i)``), so
this module needs no notation of its own. Code forms are written in the row calculus of
:mod:`symgrad.arrays`. The proof checks that every code form equals the definition it replaces.
"""

from __future__ import annotations

from symgrad.catalogue.activations import (
    ACTIVATIONS,
    DEFAULT_ACTIVATION,
    SIMPLIFY_LIMIT,
    Activation,
    activation,
)
from symgrad.catalogue.forms import LEAKY_SLOPE, H, difference
from symgrad.catalogue.outputs import (
    LOSSES,
    LOSSES_BY_NAME,
    OUTPUTS,
    OUTPUTS_BY_NAME,
    PAIRS,
    PAIRS_BY_NAMES,
    CodeStep,
    Loss,
    OutputFunction,
    OutputLoss,
    check_pair,
    default_loss,
    default_output,
    output_function,
    pair,
    per_sample_loss,
)

__all__ = [
    "ACTIVATIONS",
    "DEFAULT_ACTIVATION",
    "LEAKY_SLOPE",
    "LOSSES",
    "LOSSES_BY_NAME",
    "OUTPUTS",
    "OUTPUTS_BY_NAME",
    "PAIRS",
    "PAIRS_BY_NAMES",
    "SIMPLIFY_LIMIT",
    "Activation",
    "CodeStep",
    "H",
    "Loss",
    "OutputFunction",
    "OutputLoss",
    "activation",
    "check_pair",
    "default_loss",
    "default_output",
    "difference",
    "output_function",
    "pair",
    "per_sample_loss",
]
