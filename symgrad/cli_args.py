"""Command line: the arguments every subcommand shares (the network's sizes and options, --version).

Part of the command line (:mod:`symgrad.cli`). No mathematics here.
"""

from __future__ import annotations

import argparse

from symgrad import __version__, options

PROG = "symgrad"


def network_arguments(parser: argparse.ArgumentParser) -> None:
    """The sizes and the options of the network (and its proof), from the option table."""
    parser.add_argument(
        "sizes", nargs="+", metavar="N", help="layer sizes n_0 ... n_L (input first)"
    )
    for option in (*options.NETWORK, options.PROOF):
        option.add_to(parser)


def version_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")


def output_argument(parser: argparse.ArgumentParser) -> None:
    """``-o FILE``: where a command that writes one file writes it (standard output without)."""
    parser.add_argument("-o", "--output-file", dest="out", metavar="FILE", help="write to FILE")
