"""The network spec: layer sizes, hidden activations, output function and loss, validated.

The first stage of the pipeline. Everything a user types reaches the rest of symgrad only
through :meth:`NetworkSpec.parse`, which checks it and raises
:class:`~symgrad.errors.SpecError` with a message that says what to change.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from symgrad import catalogue, options
from symgrad.catalogue import Activation, OutputLoss
from symgrad.errors import SpecError

#: Largest accepted layer; a wider one is surely a typo (and would not fit in memory as code).
MAX_LAYER_SIZE = 100_000
#: Largest accepted number of parameters, sum of ``n_k n_{k-1} + n_k``.
MAX_PARAMETERS = 20_000_000
#: Largest accepted number of layers ``L``.
MAX_LAYERS = 64

_SIZE = re.compile(r"[0-9]+")
#: More digits than this (leading zeros aside) cannot be a size below :data:`MAX_LAYER_SIZE`.
_MAX_SIZE_DIGITS = 40


@dataclass(frozen=True)
class NetworkSpec:
    """A feed-forward network ``n_0, ..., n_L`` with one activation per hidden layer."""

    sizes: tuple[int, ...]
    activations: tuple[Activation, ...]
    output: str = catalogue.PAIRS[0][0]
    loss: str = catalogue.PAIRS[0][1]
    #: The values of the layer kinds' options asked for (:func:`symgrad.options.layer_kinds`),
    #: by ``dest``, in the table's order: ``(("weight_decay", 1/1000),)``.
    kinds: tuple[tuple[str, Any], ...] = ()

    def kind(self, dest: str) -> Any:
        """The value of the layer kind's option ``dest``, or None when it was not asked for."""
        return dict(self.kinds).get(dest)

    @property
    def depth(self) -> int:
        """``L``, the number of weight layers."""
        return len(self.sizes) - 1

    @property
    def parameter_count(self) -> int:
        """Number of scalar parameters, ``sum_k n_k (n_{k-1} + 1)``."""
        return sum(self.sizes[k] * (self.sizes[k - 1] + 1) for k in range(1, len(self.sizes)))

    def activation(self, k: int) -> Activation:
        """The activation ``g`` of hidden layer ``k`` (1-based, ``1 <= k < L``)."""
        return self.activations[k - 1]

    @property
    def pair(self) -> OutputLoss:
        """The catalogue entry of the output function and loss."""
        return catalogue.pair(self.output, self.loss)

    @property
    def uniform_activation(self) -> bool:
        """True when every hidden layer uses the same ``g`` (written ``g``, not ``g_k``)."""
        return len({a.name for a in self.activations}) <= 1

    @property
    def activation_text(self) -> str:
        """The ``--activation`` value that rebuilds this spec."""
        names = [a.name for a in self.activations]
        if not names:
            return catalogue.DEFAULT_ACTIVATION
        return names[0] if self.uniform_activation else ",".join(names)

    def command_args(self) -> list[str]:
        """Arguments that rebuild this spec on the command line (sizes and common options)."""
        args = [str(n) for n in self.sizes]
        if self.activations and self.activation_text != catalogue.DEFAULT_ACTIVATION:
            args += ["--activation", self.activation_text]
        if self.output != catalogue.PAIRS[0][0]:
            args += ["--output", self.output]
        if self.loss != catalogue.default_loss(self.output):
            args += ["--loss", self.loss]
        for option in options.layer_kinds():
            if self.kind(option.dest) is not None:
                args += option.words(self.kind(option.dest))
        return args

    @classmethod
    def parse(
        cls,
        sizes: Sequence[str | int],
        activation: str | None = None,
        output: str | None = None,
        loss: str | None = None,
        kinds: Mapping[str, Any] | None = None,
    ) -> NetworkSpec:
        """Validate user input and build the spec.

        ``activation`` is one name for every hidden layer or a comma list with one name per
        hidden layer. When only one of ``output`` and ``loss`` is given, the other defaults to
        the one that pairs with it; with neither, softmax and cross-entropy. ``kinds`` holds the
        values given for the layer kinds' options, by ``dest`` (None or False: not asked for).
        """
        parsed = _parse_sizes(sizes)
        depth = len(parsed) - 1
        # An empty --activation is an error (the parser says so), not the default.
        given = catalogue.DEFAULT_ACTIVATION if activation is None else activation
        names = [part.strip() for part in given.split(",")]
        if len(names) == 1:
            # A single-layer network has no hidden activation; the name is still validated.
            catalogue.activation(names[0])
            names = names * (depth - 1)
        elif len(names) != depth - 1:
            hidden = depth - 1
            raise SpecError(
                f"--activation lists {len(names)} activations but the network has {hidden} "
                f"hidden layer{'s' if hidden != 1 else ''}; give one name, or one per hidden layer"
            )
        activations = tuple(catalogue.activation(name) for name in names)
        out = output.strip() if output is not None else None
        los = loss.strip() if loss is not None else None
        if out is None and los is None:
            out, los = catalogue.PAIRS[0]
        elif out is None:
            if los not in catalogue.LOSSES:
                catalogue.check_pair(catalogue.OUTPUTS[0], los or "")  # names the unknown loss
            out = catalogue.default_output(los or "")
        elif los is None:
            if out not in catalogue.OUTPUTS:
                catalogue.check_pair(out, catalogue.LOSSES[0])
            los = catalogue.default_loss(out)
        catalogue.check_pair(out, los or "")
        if catalogue.OUTPUTS_BY_NAME[out].sums_to_one and parsed[-1] == 1:
            raise SpecError(
                f"a {out} over a single output unit is the constant 1 (its loss and gradients "
                "are zero); use --output sigmoid for one output unit"
            )
        return cls(parsed, activations, out, los or "", _kinds(kinds or {}, parsed))


def _kinds(given: Mapping[str, Any], sizes: tuple[int, ...]) -> tuple[tuple[str, Any], ...]:
    """The values of the layer kinds asked for, each checked by its option, in table order."""
    found = []
    for option in options.layer_kinds():
        text = given.get(option.dest)
        if text is None or text is False:
            continue
        assert option.parse is not None
        value = option.parse(text, sizes)
        if value is not None:  # a value that asks for nothing (--weight-decay 0)
            found.append((option.dest, value))
    return tuple(found)


def _parse_sizes(sizes: Sequence[str | int]) -> tuple[int, ...]:
    if len(sizes) < 2:
        raise SpecError(f"give at least two layer sizes N0 N1 (input and output), got {len(sizes)}")
    if len(sizes) - 1 > MAX_LAYERS:
        raise SpecError(f"at most {MAX_LAYERS} layers are supported, got {len(sizes) - 1}")
    parsed = []
    for k, raw in enumerate(sizes):
        text = str(raw).strip()
        # Leading zeros go and the number of digits is bounded before int(): int() of thousands
        # of digits is slow, and past 4300 digits Python refuses it with a ValueError of its own.
        digits = text.lstrip("0")
        if isinstance(raw, bool) or not _SIZE.fullmatch(text) or not digits:
            shown = text if len(text) <= 20 else text[:20] + "..."
            raise SpecError(f"layer size n_{k} must be a positive integer, got {shown!r}")
        value = int(digits) if len(digits) <= _MAX_SIZE_DIGITS else MAX_LAYER_SIZE + 1
        if value > MAX_LAYER_SIZE:
            shown = digits if len(digits) <= 20 else f"{digits[:20]}... ({len(digits)} digits)"
            raise SpecError(
                f"layer size n_{k} is {shown}; at most {MAX_LAYER_SIZE} units per layer are "
                "supported"
            )
        parsed.append(value)
    count = sum(parsed[k] * (parsed[k - 1] + 1) for k in range(1, len(parsed)))
    if count > MAX_PARAMETERS:
        raise SpecError(
            f"the network has {count} parameters; at most {MAX_PARAMETERS} are supported"
        )
    return tuple(parsed)
