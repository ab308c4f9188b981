"""``symgrad exercises``: its options, and the run from parsed arguments to a directory.

Beside :mod:`symgrad.cli` (which adds the subcommand and calls :func:`run_exercises`). Every
option is checked before anything is written; the key file is made (mode 0600) only then, and
the directory of sheets last, whole or not at all.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from symgrad.errors import SpecError
from symgrad.spec import NetworkSpec

#: What adds a group of the cli's options to a parser (the network, the framing, ``--version``).
Adder = Callable[[argparse.ArgumentParser], None]


def exercises_command(
    commands: argparse._SubParsersAction,  # type: ignore[type-arg]
    common: Adder,
    framing: Adder,
    version: Adder,
) -> None:
    """The ``exercises`` subcommand and its options."""
    from symgrad.render.exercises.sheets import TITLE
    from symgrad.render.exercises.tasks import TASKS

    parser = commands.add_parser(
        "exercises",
        help="write an exercise sheet and its solutions for every student, a Moodle XML "
        "question bank and a CSV answer key",
    )
    common(parser)
    parser.add_argument(
        "--count", type=int, metavar="N", help="the number of sheets (or give --roster)"
    )
    parser.add_argument(
        "--roster",
        metavar="FILE",
        help="a CSV file of student ids, one a row in the first column (a first row 'id' or "
        "'student' is a header): one sheet per student, the id printed on it",
    )
    parser.add_argument(
        "--seed", type=int, default=0, metavar="S", help="the seed of the numbers (default 0)"
    )
    parser.add_argument(
        "--key",
        metavar="FILE",
        help="the lecturer's secret key: every sheet's numbers are drawn from HMAC-SHA256 of "
        "it, the seed and the student's id, so no one without it can make a sheet or its "
        "solutions; a missing FILE is created (mode 0600) with a new random key, which is "
        "never printed. Without --key the numbers follow from the seed and the id alone",
    )
    listed = "; ".join(f"{task}: {what}" for task, what in TASKS.items())
    parser.add_argument(
        "--tasks",
        metavar="ID[,ID...]",
        help=f"the tasks of every sheet, in this order (default: all): {listed}",
    )
    parser.add_argument(
        "--round",
        default="1",
        metavar="D",
        help="the parameters, the input and the target have D decimals (default 1)",
    )
    parser.add_argument(
        "--lr",
        default="0.5",
        metavar="ETA",
        help="the learning rate of the step of gradient descent (default 0.5)",
    )
    _output_options(parser)
    framing(parser)
    for action in parser._actions:
        if action.dest == "title":
            action.help = (
                f"the title of every sheet, followed by ': sheet ID' (default: {TITLE}); plain "
                "text, never markup"
            )
    parser.add_argument(
        "-o",
        "--output-dir",
        dest="out",
        required=True,
        metavar="DIR",
        help="a new directory for the sheets (sheets/), the solutions (solutions/), "
        "students.csv, answers.csv, moodle.xml and numbers.json (every sheet's numbers)",
    )
    version(parser)


def _output_options(parser: argparse.ArgumentParser) -> None:
    """What is written besides the LaTeX: PDFs, web pages."""
    parser.add_argument(
        "--pdf",
        action="store_true",
        help="also compile every sheet and solution to PDF with pdflatex (two at a time)",
    )
    parser.add_argument(
        "--html",
        action="store_true",
        help="also write every sheet and solution as a web page (MathML, no script needed), "
        "beside its LaTeX",
    )


def run_exercises(args: argparse.Namespace, spec: NetworkSpec, out: TextIO) -> int:
    """Check every option, then draw, write and rename the directory; 0 when done, with one
    line on ``out`` that says what was written where."""
    from symgrad.given import read_decimals, read_rate
    from symgrad.pipeline import derive
    from symgrad.render.document import Framing
    from symgrad.render.exercises import (
        ExerciseOptions,
        exercise_files,
        make_sheets,
        write_directory,
    )
    from symgrad.render.exercises.draw import read_key, student_ids
    from symgrad.render.exercises.tasks import parse_tasks
    from symgrad.worked import check_example

    framing = Framing(args.title, args.author, args.course, args.date)
    if problem := framing.problem():
        raise SpecError(problem)
    if args.count is not None and args.count < 1:
        raise SpecError(f"--count: the number of sheets must be at least 1, got {args.count}")
    ids = student_ids(args.count, args.roster)
    tasks = parse_tasks(args.tasks)
    decimals = read_decimals(args.round)
    lr = read_rate(args.lr)
    check_example(spec, args.seed)
    target = Path(args.out)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise SpecError(f"-o {args.out}: it exists; name a new directory")
    key = b""
    if args.key is not None:
        key, made = read_key(args.key)
        if made:
            sys.stderr.write(
                f"symgrad: a new key was written to {args.key} (readable by you only); keep it "
                "secret, and keep it to make these sheets again\n"
            )
    else:
        sys.stderr.write(
            "symgrad: warning: no --key: anyone with this command can make every sheet and "
            "its solutions from the seed and a student's id; give --key FILE to keep them "
            "secret\n"
        )
    derivation = derive(spec, method=args.proof)
    options = ExerciseOptions(ids, args.seed, key, tasks, decimals, lr, framing)
    sheets = make_sheets(derivation, options)
    write_directory(args.out, exercise_files(derivation, sheets, framing, args.html), args.pdf)
    n = len(sheets)
    kind = " and ".join(
        k for k, asked in (("LaTeX", True), ("PDF", args.pdf), ("HTML", args.html)) if asked
    )
    out.write(
        f"{n} sheet{'s' if n > 1 else ''} and {n} solution{'s' if n > 1 else ''} ({kind}), "
        f"students.csv, answers.csv, moodle.xml and numbers.json written to {args.out}\n"
    )
    return 0


__all__ = ["exercises_command", "run_exercises"]
