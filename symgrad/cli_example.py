"""Command line of the worked example: ``symgrad example`` and ``--example`` with given numbers.

Part of the command line (:mod:`symgrad.cli`): the options that choose the numbers of the worked
example (a seed, or numbers given with ``--params``, ``--x``, ``--y``, ``--round``, ``--lr``) and
their reading into a :class:`~symgrad.given.Given`. No mathematics here.
"""

from __future__ import annotations

import argparse
import re

from symgrad.given import MAX_DECIMALS, Given, read_given
from symgrad.spec import NetworkSpec

#: What every command that shows the example says of the given numbers.
_GIVEN_HELP = {
    "params": (
        "FILE",
        "the parameters: JSON with W1, b1, ..., WL, bL as symgrad example --format json "
        "writes them (its whole output works too), or a .npz as numpy.savez writes it",
    ),
    "x": ("X1,X2,...", "the input: n_0 numbers separated by commas, e.g. 0.05,0.10"),
    "y": (
        "Y1,Y2,...",
        "the target: n_L numbers separated by commas (a distribution for softmax + "
        "cross-entropy, entries in [0, 1] for binary cross-entropy), or for softmax + "
        "cross-entropy a class index K, counted from 0 (the one-hot target with y_{K+1} = 1)",
    ),
    "round": (
        "D",
        f"draw the parameters and the input (what is not given) with D decimals, 1 to "
        f"{MAX_DECIMALS}, for calculation by hand",
    ),
    "lr": (
        "ETA",
        "show one step of gradient descent with learning rate ETA: W_k - ETA grad_{W_k} L "
        "and b_k - ETA grad_{b_k} L",
    ),
}


def given_options(parser: argparse.ArgumentParser, notes: bool) -> None:
    """``--params``, ``--x``, ``--y``, ``--round``, ``--lr``; in the notes and the slides each
    adds the worked example."""
    adds = "; adds the worked example" if notes else ""
    for name, (metavar, text) in _GIVEN_HELP.items():
        parser.add_argument(f"--{name}", dest=f"given_{name}", metavar=metavar, help=text + adds)


def example_option(parser: argparse.ArgumentParser) -> None:
    """``--example [SEED]`` and the options of given numbers, for the notes and the slides."""
    parser.add_argument(
        "--example",
        type=int,
        nargs="?",
        const=0,
        metavar="SEED",
        help="add a worked example: the numbers of one sample, parameters init_params(SEED) of "
        "the generated module (SEED 0 when left out), input and target drawn from the same "
        "seed, unless given by the options below (networks of at most 3 units a layer and 3 "
        "layers)",
    )
    given_options(parser, notes=True)


def example_options(example: argparse.ArgumentParser) -> None:
    """``--seed``, ``--format`` and the given numbers of ``symgrad example``."""
    example.add_argument(
        "--seed",
        type=int,
        default=0,
        metavar="S",
        help="parameters init_params(S) of the generated module; input and target drawn from "
        "numpy.random.default_rng([S, 1]) (default 0); numbers given by the options below "
        "replace those drawn",
    )
    example.add_argument(
        "--format",
        default="text",
        choices=["text", "json"],
        help="text (default): 4 significant digits in the order of the derivation; json: every "
        "quantity with every digit",
    )
    given_options(example, notes=False)


#: The options whose value may start with a minus sign (``--x -0.5,0.2``).
_SIGNED = ("--x", "--y", "--lr")
_NUMBERS = re.compile(r"-[0-9.][0-9.,eE+\- ]*")


def attach_signed_values(arguments: list[str]) -> list[str]:
    """``--x -0.5,0.2`` as ``--x=-0.5,0.2``: argparse would take a value that starts with a
    minus sign (and is not one plain number) for an option of its own."""
    joined: list[str] = []
    for word in arguments:
        if joined and joined[-1] in _SIGNED and _NUMBERS.fullmatch(word):
            joined[-1] = f"{joined[-1]}={word}"
        else:
            joined.append(word)
    return joined


def given_from_args(spec: NetworkSpec, args: argparse.Namespace) -> Given:
    """The numbers given on the command line, checked against ``spec`` (every problem one
    line of :class:`~symgrad.given.GivenError`)."""
    return read_given(
        spec,
        params=getattr(args, "given_params", None),
        x=getattr(args, "given_x", None),
        y=getattr(args, "given_y", None),
        decimals=getattr(args, "given_round", None),
        lr=getattr(args, "given_lr", None),
    )


def example_seed(args: argparse.Namespace, given: Given) -> int | None:
    """The seed of the example a document shows: ``--example SEED``, 0 when only numbers are
    given, None for no example."""
    seed: int | None = getattr(args, "example", None)
    if seed is None and given.any:
        return 0
    return seed


__all__ = [
    "attach_signed_values",
    "example_option",
    "example_options",
    "example_seed",
    "given_from_args",
    "given_options",
]
