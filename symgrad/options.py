"""The options that describe a network and its generated code: one table, read by every user.

Beside the spec (**options** -> spec -> ...). Each :class:`Option` is an option of the command
line (``--activation``, ``--target``) with its help, and says how its value is written back into
a command. Three readers, none with a list of its own:

- the command line builds its arguments from :data:`NETWORK` and :data:`CODE`
  (:mod:`symgrad.cli`);
- the header of a generated file is written from them and read back by a parser built from them
  (:mod:`symgrad.header`), so a file names exactly the command that remakes it;
- the spec writes its command with them (:meth:`symgrad.spec.NetworkSpec.command_args`).

A layer kind (:mod:`symgrad.ops.layers`) adds its option here, with ``parse``: the check of a
value given (text) against the layer sizes, and the value the spec keeps.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sympy as sp

from symgrad.catalogue.activations import ACTIVATIONS
from symgrad.catalogue.outputs import LOSSES, OUTPUTS
from symgrad.errors import SpecError


@dataclass(frozen=True)
class Option:
    """One option: ``flag`` on the command line, ``dest`` its name in parsed arguments.

    ``switch`` options take no value (``--residual``). ``parse(text, sizes)`` checks a value of a
    layer kind and returns what the spec keeps (raising :class:`~symgrad.errors.SpecError`);
    None for the options the spec parses itself.
    """

    flag: str
    dest: str
    help: str
    metavar: str | None = None
    switch: bool = False
    choices: tuple[str, ...] | None = None
    default: str | None = None
    parse: Callable[[Any, tuple[int, ...]], Any] | None = None

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        """Add this option to ``parser``, as the command line has it."""
        if self.switch:
            parser.add_argument(self.flag, dest=self.dest, action="store_true", help=self.help)
            return
        parser.add_argument(
            self.flag,
            dest=self.dest,
            metavar=self.metavar,
            choices=self.choices,
            default=self.default,
            help=self.help,
        )

    def words(self, value: Any) -> list[str]:
        """The words that give ``value`` on the command line (none for a switch that is off)."""
        if self.switch:
            return [self.flag] if value else []
        return [self.flag, str(value)]


#: Largest ``--weight-decay``: past it the penalty swamps any loss.
MAX_WEIGHT_DECAY = 10**6
#: Smallest ``--weight-decay`` above 0: ``lambda/2`` stays a normal number in float code.
MIN_WEIGHT_DECAY = sp.Rational(1, 10**30)
_DECIMAL = re.compile(
    r"[+-]?(?:[0-9]{1,30}(?:\.[0-9]{0,30})?|\.[0-9]{1,30})(?:[eE][+-]?[0-9]{1,3})?"
)


def _weight_decay(text: Any, sizes: tuple[int, ...]) -> str | None:
    """``LAMBDA``: a finite decimal number, 0 or from :data:`MIN_WEIGHT_DECAY` to
    :data:`MAX_WEIGHT_DECAY`, kept as given (the header of generated code writes it back); 0 is
    no decay (None: the kind is not asked for)."""
    value = str(text).strip()
    if not _DECIMAL.fullmatch(value):
        raise SpecError(
            f"--weight-decay takes a finite decimal number such as 0.01 or 1e-4, got {value!r}"
        )
    number = sp.Rational(value)
    if number < 0:
        raise SpecError(f"--weight-decay must be 0 or more (0 is no decay), got {value}")
    if number > MAX_WEIGHT_DECAY:
        raise SpecError(f"--weight-decay is at most {MAX_WEIGHT_DECAY}, got {value}")
    if 0 < number < MIN_WEIGHT_DECAY:  # lambda/2 would be 0 in float code
        raise SpecError(f"--weight-decay is 0 (no decay) or at least 1e-30, got {value}")
    return None if number == 0 else value.lstrip("+")


def residual_layers(sizes: tuple[int, ...]) -> list[int]:
    """The hidden layers ``--residual`` makes residual: ``k >= 2`` with ``n_k = n_{k-1}`` (the
    input is never added; the output layer is not hidden)."""
    return [k for k in range(2, len(sizes) - 1) if sizes[k] == sizes[k - 1]]


def _residual(value: Any, sizes: tuple[int, ...]) -> bool:
    """``--residual``: refused when no hidden layer qualifies."""
    if not residual_layers(sizes):
        shown = "-".join(str(n) for n in sizes)
        raise SpecError(
            f"--residual needs a hidden layer k >= 2 as wide as the layer below it "
            f"(n_k = n_(k-1)); {shown} has none"
        )
    return True


def _names(catalogued: Iterable[str]) -> str:
    """The catalogue's names for a help text, its first (the default) marked: a new entry of the
    catalogue is named here without an edit."""
    first, *rest = catalogued
    return ", ".join([f"{first} (default)", *rest])


#: What the network is (every command that builds one has them), in the order a command names
#: them. The values of the first three are checked and kept by the spec itself.
NETWORK: tuple[Option, ...] = (
    Option(
        "--activation",
        "activation",
        f"hidden activation: {_names(ACTIVATIONS)}, "
        'or an expression in x such as "x/(1+abs(x))"; a comma list gives one per hidden layer',
    ),
    Option("--output", "output", f"output function: {_names(OUTPUTS)}"),
    Option("--loss", "loss", f"loss: {_names(LOSSES)}"),
    Option(
        "--weight-decay",
        "weight_decay",
        "L2 weight decay: the loss of a batch gains (LAMBDA/2) sum_k ||W_k||_F^2, once per "
        "batch (biases are not decayed)",
        metavar="LAMBDA",
        parse=_weight_decay,
    ),
    Option(
        "--residual",
        "residual",
        "residual connections: h_k = g(a_k) + h_{k-1} for every hidden layer k >= 2 as wide as "
        "the layer below (the input is never added)",
        switch=True,
        parse=_residual,
    ),
)

#: How the code is generated (``symgrad codegen``), in the order a command names them.
CODE: tuple[Option, ...] = (
    Option(
        "--target",
        "target",
        "numpy (default): a module importing only NumPy; array-api: one module for NumPy, "
        "PyTorch, JAX, CuPy and Dask arrays (imports array_api_compat); c: NAME.c and NAME.h in "
        "C99 (needs -o DIR/NAME.c)",
        metavar="TARGET",
        default="numpy",
    ),
    Option(
        "--style",
        "style",
        "vectorized (the default): matrix form over the batch; unrolled: every scalar "
        "written out, for small networks; --target c: auto (the default: unrolled up to the "
        "unrolled limit, else looped), unrolled or looped",
    ),
    Option(
        "--dtype", "dtype", "the real type of targets with a fixed one (--target c: double, float)"
    ),
    Option(
        "--blas",
        "blas",
        "--target c: the looped form's products as calls of a BLAS library (cblas: the file "
        "includes <cblas.h> and is linked with OpenBLAS or any CBLAS)",
        metavar="LIBRARY",
    ),
)

#: How the derivation is proved (every command that derives).
PROOF = Option(
    "--proof",
    "proof",
    "how each step is proved (default auto: composed for small networks, else numeric)",
    choices=("auto", "composed", "numeric"),
    default="auto",
)


def layer_kinds() -> tuple[Option, ...]:
    """The options of the network that layer kinds bring (those with ``parse``)."""
    return tuple(option for option in NETWORK if option.parse is not None)


def codegen_parser(prog: str, error: Callable[[str], Any]) -> argparse.ArgumentParser:
    """A parser of ``symgrad codegen``'s arguments (sizes, the network, the code), as the
    command line has them; ``error(message)`` is called for arguments it refuses (argparse only
    parses: no word is run)."""

    class Parser(argparse.ArgumentParser):
        def error(self, message: str) -> Any:  # type: ignore[override]
            return error(message)

    parser = Parser(prog=prog, add_help=False)
    parser.add_argument("sizes", nargs="+")
    for option in (*NETWORK, *CODE):
        option.add_to(parser)
    return parser


def given(values: Any, options: Sequence[Option]) -> dict[str, Any]:
    """The values of ``options`` in parsed arguments, by ``dest``."""
    return {option.dest: getattr(values, option.dest, None) for option in options}


__all__ = ["CODE", "NETWORK", "PROOF", "Option", "codegen_parser", "given", "layer_kinds"]
