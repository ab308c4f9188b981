"""Exercise sheets: a different sheet for every student, its solutions, and the answers for a
course platform (``symgrad exercises``).

A renderer (derivation -> worked example -> **exercises** -> cli). For every student: numbers
drawn from the lecturer's key, the seed and the student's id (:mod:`.draw`), the worked example
of those numbers (the program generated code runs), the tasks and their answers with tolerances
(:mod:`.tasks`), a sheet and its solutions as documents of the notes' model (:mod:`.sheets`),
and, for all students, a Moodle XML question bank, a CSV answer key and the map from students to
sheets (:mod:`.export`). Sheets are drawn again until every answer is further from 0 than its
tolerance and differs from that of the same task on every sheet before it by more than either
tolerance.

Everything is written into a new directory beside the one asked for, then renamed to it: a
run that fails leaves nothing behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from symgrad.derivation import Derivation
from symgrad.errors import SpecError
from symgrad.given import Given
from symgrad.render.document import Framing
from symgrad.render.exercises.draw import draw_numbers, stream
from symgrad.render.exercises.export import answer_key, moodle_xml, numbers_json, roster_map
from symgrad.render.exercises.sheets import (
    TITLE,
    Sheet,
    render_sheet,
    render_sheet_html,
    sheet_notes,
    solution_notes,
)
from symgrad.render.exercises.tasks import TASKS, answers, distinct, slots
from symgrad.render.html import HtmlFormat
from symgrad.worked import check_example, worked_example

#: How many times one student's numbers are drawn before the sheets are given up on.
MAX_DRAWS = 100


@dataclass(frozen=True)
class ExerciseOptions:
    """What ``symgrad exercises`` was asked for: the sheets' ids, the seed and the key (empty:
    none), the tasks, the decimals of the numbers, the learning rate, the framing."""

    ids: tuple[str, ...]
    seed: int = 0
    key: bytes = b""
    tasks: tuple[str, ...] = tuple(TASKS)
    decimals: int = 1
    lr: float = 0.5
    framing: Framing = Framing()


def make_sheets(derivation: Derivation, options: ExerciseOptions) -> list[Sheet]:
    """Every student's sheet, drawn in the order of ``options.ids``.

    Raises :class:`~symgrad.errors.SpecError` for a network too large to work by hand, or
    when no draw gives a student answers apart from those of the sheets before.
    """
    check_example(derivation.spec, options.seed)
    made: list[Sheet] = []
    for student in options.ids:
        made.append(_sheet(derivation, options, student, made))
    return made


def _sheet(
    derivation: Derivation, options: ExerciseOptions, student: str, made: Sequence[Sheet]
) -> Sheet:
    spec = derivation.spec
    for draw in range(MAX_DRAWS):
        rng = stream(options.key, options.seed, student, draw)
        numbers = draw_numbers(rng, spec, options.decimals)
        given = Given(
            params=numbers.params,
            x=numbers.x,
            y=numbers.y,
            lr=options.lr,
            words=("--params", "(drawn for the sheet)"),
        )
        example = worked_example(derivation, options.seed, given)
        found = slots(options.tasks, example, rng)
        worked = answers(derivation, given, found, options.tasks)
        if not all(np.isfinite([a.value for a in worked] + [a.tolerance for a in worked])):
            continue
        if any(abs(a.value) <= a.tolerance for a in worked):
            # an answer that rounds to 0 (terms that cancel: two equal weights of W_2 make a
            # row of grad W_1 zero) is no exercise, and its float has noise for digits
            continue
        if all(distinct(worked, other.answers) for other in made):
            return Sheet(student, example, tuple(worked), options.tasks)
    raise SpecError(
        f"no numbers for sheet {student!r} in {MAX_DRAWS} draws give answers apart from those "
        "of every sheet before it; give more decimals (--round) or make fewer sheets"
    )


def exercise_files(
    derivation: Derivation, sheets: Sequence[Sheet], framing: Framing, html: bool = False
) -> list[tuple[str, bytes]]:
    """Every file of the exercises, as (path inside the directory, bytes); with ``html``, every
    sheet and solution as a web page too, beside its LaTeX."""
    width = max(2, len(str(len(sheets))))
    names = [f"sheets/sheet-{n:0{width}d}.tex" for n in range(1, len(sheets) + 1)]
    solved = [f"solutions/solutions-{n:0{width}d}.tex" for n in range(1, len(sheets) + 1)]
    files: list[tuple[str, bytes]] = []
    for sheet, name, solution in zip(sheets, names, solved, strict=True):
        files.append((name, render_sheet(sheet_notes(derivation, sheet, framing)).encode()))
        text = render_sheet(solution_notes(derivation, sheet, framing))
        files.append((solution, text.encode()))
    if html:
        for sheet, name, solution in zip(sheets, names, solved, strict=True):
            for path, make in ((name, sheet_notes), (solution, solution_notes)):
                notes = make(derivation, sheet, framing, HtmlFormat)
                page = render_sheet_html(notes, derivation)
                files.append((path.removesuffix(".tex") + ".html", page.encode()))
    files.append(("students.csv", roster_map(sheets, names, solved).encode()))
    files.append(("answers.csv", answer_key(sheets, names).encode()))
    files.append(("moodle.xml", moodle_xml(sheets, framing.title or TITLE)))
    files.append(("numbers.json", numbers_json(sheets, names).encode()))
    return files


def write_directory(directory: str, files: Sequence[tuple[str, bytes]], pdf: bool = False) -> None:
    """Write ``files`` into a new directory beside ``directory``, then rename it to
    ``directory``; refuse a ``directory`` that exists and is not empty. The directory is
    readable by its owner only (mode 0700, as made): it holds the solutions. With ``pdf``,
    every ``.tex`` file is compiled there too (:func:`compile_all`)."""
    target = Path(directory)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise SpecError(f"-o {directory}: it exists; name a new directory")
    parent = target.absolute().parent
    if not parent.is_dir():
        raise SpecError(f"-o {directory}: no directory {str(parent)!r} to make it in")
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=parent))
    except OSError as exc:
        raise SpecError(f"-o {directory}: cannot write there: {exc.strerror or exc}") from None
    try:
        for name, data in files:
            path = staging / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        if pdf:
            compile_all(staging, [name for name, _ in files if name.endswith(".tex")])
        os.replace(staging, target)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise SpecError(f"-o {directory}: cannot write there: {exc.strerror or exc}") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


#: How many pdflatex processes run at once.
PDFLATEX_PROCESSES = 2


def compile_all(directory: Path, names: Sequence[str]) -> None:
    """Compile the LaTeX files ``names`` of ``directory`` with pdflatex, two at a time, each
    PDF beside its source (the auxiliary files in a directory of their own, removed after).

    Raises :class:`~symgrad.errors.SpecError` when pdflatex is missing or fails.
    """
    from concurrent.futures import ThreadPoolExecutor

    from symgrad.render.pdf import compile_pdf

    def compiled(name: str) -> None:
        source = directory / name
        with tempfile.TemporaryDirectory() as work:
            result = compile_pdf(source.read_text(encoding="utf-8"), Path(work), source.stem)
        source.with_suffix(".pdf").write_bytes(result.pdf)

    try:
        with ThreadPoolExecutor(max_workers=PDFLATEX_PROCESSES) as pool:
            list(pool.map(compiled, names))
    except FileNotFoundError:
        raise SpecError("--pdf: pdflatex is not installed; leave out --pdf") from None
    except RuntimeError as exc:
        raise SpecError(f"--pdf: {exc}") from None


__all__ = [
    "MAX_DRAWS",
    "ExerciseOptions",
    "compile_all",
    "exercise_files",
    "make_sheets",
    "write_directory",
]
