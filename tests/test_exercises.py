"""symgrad exercises: sheets for 30 students, their answers recomputed here with plain NumPy,
the Moodle XML bank checked for Moodle's numerical-question structure (and the checker shown to
fail on a broken bank), the key's contract, and bad input refused with nothing written.

One run of ``symgrad exercises 2 2 2 --count 30 --seed 1`` is shared by the module; the sheets
are compiled in ``test_exercises_compile.py``.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import hmac
import io
import json
import math
import os
import re
import stat
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from symgrad.cli import main

COUNT = 30


def run(*args: str) -> int:
    return main(["exercises", *args])


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("exercises") / "class"
    assert (
        main(["exercises", "2", "2", "2", "--count", str(COUNT), "--seed", "1", "-o", str(out)])
        == 0
    )
    return out


# An independent computation: the network written out with NumPy ------------------------------


def sigmoid(a: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-a))


def reference(record: dict, round_to: int | None = None) -> dict[str, np.ndarray]:
    """Every number a sheet asks for, for a sigmoid hidden layer, softmax and cross-entropy,
    computed here; with ``round_to``, every value written down rounded to that many significant
    digits as a student does."""

    def r(v: np.ndarray) -> np.ndarray:
        if round_to is None:
            return np.asarray(v, dtype=float)
        v = np.asarray(v, dtype=float)
        out = np.zeros_like(v)
        nonzero = v != 0
        digits = round_to - 1 - np.floor(np.log10(np.abs(v[nonzero])))
        out[nonzero] = [round(float(x), int(d)) for x, d in zip(v[nonzero], digits, strict=True)]
        return out

    W1, b1 = np.array(record["params"]["W1"]), np.array(record["params"]["b1"])
    W2, b2 = np.array(record["params"]["W2"]), np.array(record["params"]["b2"])
    x, y, lr = np.array(record["x"]), np.array(record["y"]), record["lr"]
    a1 = r(b1 + W1 @ x)
    h1 = r(sigmoid(a1))
    a2 = r(b2 + W2 @ h1)
    e = np.exp(a2 - a2.max())
    yhat = r(e / e.sum())
    loss = r(-np.sum(y * np.log(yhat)))
    d2 = r(yhat - y)
    gW2 = r(np.outer(d2, h1))
    dh1 = r(W2.T @ d2)
    d1 = r(dh1 * h1 * (1 - h1))
    gW1 = r(np.outer(d1, x))
    return {
        "a_1": a1,
        "h_1": h1,
        "a_2": a2,
        "yhat": yhat,
        "loss": loss,
        "grad_{a_2} L": d2,
        "grad_{W_1} L": gW1,
        "grad_{W_2} L": gW2,
        "W_1 after the step": r(W1 - r(lr * gW1)),
        "b_1 after the step": r(b1 - r(lr * d1)),
    }


def expected(values: dict[str, np.ndarray], part: str) -> float:
    """The number ``part`` of the answer key names (``h_1 entry 2``, ``W_1 after the step entry
    (1, 2)``, ``loss``) in ``values``."""
    name, _, place = part.partition(" entry ")
    array = np.asarray(values[name])
    if not place:
        return float(array)
    index = tuple(int(i) - 1 for i in place.strip("()").split(", "))
    return float(array[index])


def records(made: Path) -> dict[str, dict]:
    return {r["student"]: r for r in json.loads((made / "numbers.json").read_text())}


def key_rows(made: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO((made / "answers.csv").read_text())))


# The sheets ---------------------------------------------------------------------------------


def test_thirty_sheets_and_solutions_with_numbers_apart(made: Path) -> None:
    sheets = sorted((made / "sheets").glob("*.tex"))
    solutions = sorted((made / "solutions").glob("*.tex"))
    assert len(sheets) == len(solutions) == COUNT
    numbers = records(made)
    assert len(numbers) == COUNT
    drawn = [
        np.concatenate([np.ravel(v) for v in r["params"].values()] + [r["x"]])
        for r in numbers.values()
    ]
    for n, one in enumerate(drawn):
        for other in drawn[n + 1 :]:
            assert not np.array_equal(one, other)
    # a sheet shows its own numbers: W_1 of sheet 1 as the sheet prints it
    first = numbers["1"]
    w1 = first["params"]["W1"]
    printed = " \\\\ ".join(" & ".join(f"{v:g}" for v in row) for row in w1)
    assert printed in (made / first["sheet"]).read_text()


def test_every_answer_in_the_key_is_numpys_within_its_tolerance(made: Path) -> None:
    numbers = records(made)
    rows = key_rows(made)
    assert len(rows) == COUNT * 18  # 5 forward, 2 output gradient, 1 entry, 4 outer, 6 step
    for row in rows:
        values = reference(numbers[row["student"]])
        answer, tolerance = float(row["answer"]), float(row["tolerance"])
        assert 0 < tolerance < 0.01
        assert abs(answer - expected(values, row["part"])) <= 1e-12 * max(1.0, abs(answer))


def test_tolerances_cover_a_student_who_rounds_every_value(made: Path) -> None:
    numbers = records(made)
    for row in key_rows(made):
        rounded = reference(numbers[row["student"]], round_to=4)
        worked = expected(rounded, row["part"])
        assert abs(worked - float(row["answer"])) <= float(row["tolerance"]), row


def test_each_answer_differs_between_sheets_by_more_than_its_tolerance(made: Path) -> None:
    by_slot: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for row in key_rows(made):
        # a blank of the forward pass and the entry (i, j) are drawn for each sheet: their
        # slot is the task and the quantity
        drawn = row["task"] in ("1", "3")
        slot = (row["task"], row["part"].split(" entry ")[0] if drawn else row["part"])
        by_slot.setdefault(slot, []).append((float(row["answer"]), float(row["tolerance"])))
    assert len(by_slot) == 18
    for slot, answers in by_slot.items():
        assert len(answers) == COUNT, slot
        for n, (one, t1) in enumerate(answers):
            for two, t2 in answers[n + 1 :]:
                assert abs(one - two) > max(t1, t2), slot


# The Moodle XML question bank ----------------------------------------------------------------


def moodle_problems(root: ET.Element) -> list[str]:
    """What is not Moodle's XML format of numerical questions in categories."""
    problems = []
    if root.tag != "quiz":
        return [f"the root is <{root.tag}>, not <quiz>"]
    category = None
    for n, question in enumerate(root):
        kind = question.get("type")
        if question.tag != "question" or kind not in ("category", "numerical"):
            problems.append(f"{n}: <{question.tag} type={kind!r}>")
            continue
        if kind == "category":
            category = question.findtext("category/text")
            if not category or not category.startswith("$course$/top/"):
                problems.append(f"{n}: category {category!r}")
            continue
        if category is None:
            problems.append(f"{n}: a question before any category")
        if not (question.findtext("name/text") or "").strip():
            problems.append(f"{n}: no name")
        text = question.find("questiontext")
        if text is None or text.get("format") != "html" or not text.findtext("text"):
            problems.append(f"{n}: no questiontext in html")
        answers = question.findall("answer")
        if len(answers) != 1 or answers[0].get("fraction") != "100":
            problems.append(f"{n}: not one answer with fraction 100")
            continue
        for tag in ("text", "tolerance"):
            try:
                value = float(answers[0].findtext(tag) or "")
            except ValueError:
                problems.append(f"{n}: answer {tag} is not a number")
                continue
            if not math.isfinite(value) or (tag == "tolerance" and value <= 0):
                problems.append(f"{n}: answer {tag} {value}")
        if question.findtext("defaultgrade") is None:
            problems.append(f"{n}: no defaultgrade")
    return problems


def bank(made: Path) -> ET.Element:
    data = (made / "moodle.xml").read_bytes()
    assert data.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    return ET.fromstring(data)  # expat: a strict, non-validating XML parser


def test_the_moodle_bank_parses_and_has_moodles_structure(made: Path) -> None:
    root = bank(made)
    assert moodle_problems(root) == []
    categories = [q for q in root if q.get("type") == "category"]
    assert len(categories) == COUNT
    numbers = records(made)
    questions = [q for q in root if q.get("type") == "numerical"]
    assert len(questions) == COUNT * 18
    rows = key_rows(made)
    for question, row in zip(questions, rows, strict=True):
        student, _, part = question.findtext("name/text", "").partition(": task ")
        assert student == row["student"] and part.endswith(row["part"])
        answer = float(question.findtext("answer/text", ""))
        tolerance = float(question.findtext("answer/tolerance", ""))
        truth = expected(reference(numbers[student]), row["part"])
        assert abs(answer - truth) <= 1e-12 * max(1.0, abs(truth))
        assert tolerance == float(row["tolerance"])


@pytest.mark.parametrize(
    "breakage",
    ["fraction", "tolerance", "answer", "root", "category", "questiontext"],
)
def test_the_moodle_checker_fails_on_a_broken_bank(made: Path, breakage: str) -> None:
    root = copy.deepcopy(bank(made))
    question = next(q for q in root if q.get("type") == "numerical")
    answer = question.find("answer")
    assert answer is not None
    if breakage == "fraction":
        answer.set("fraction", "50")
    elif breakage == "tolerance":
        answer.remove(answer.find("tolerance"))  # type: ignore[arg-type]
    elif breakage == "answer":
        answer.find("text").text = "about 0.3"  # type: ignore[union-attr]
    elif breakage == "root":
        root.tag = "questions"
    elif breakage == "category":
        root.remove(root[0])
    else:
        question.remove(question.find("questiontext"))  # type: ignore[arg-type]
    assert moodle_problems(root) != []


# User text: a roster's ids in XML, CSV and LaTeX ---------------------------------------------


def test_roster_ids_are_escaped_everywhere(tmp_path: Path) -> None:
    roster = tmp_path / "roster.csv"
    ids = ["id", '=HYPERLINK("http://x")', "<b>&amp;</b> \\input{/etc/passwd}", "-2+3", "@sum"]
    roster.write_text("\n".join(f'"{i.replace(chr(34), chr(34) * 2)}"' for i in ids) + "\n")
    out = tmp_path / "out"
    assert (
        run("2", "2", "2", "--roster", str(roster), "--tasks", "weight-entry", "-o", str(out)) == 0
    )
    root = ET.fromstring((out / "moodle.xml").read_bytes())
    assert moodle_problems(root) == []
    paths = [q.findtext("category/text") for q in root if q.get("type") == "category"]
    assert paths[1] == "$course$/top/Backpropagation by hand/<b>&amp;<//b> \\input{//etc//passwd}"
    text = root[3].findtext("questiontext/text") or ""
    assert "&lt;b&gt;&amp;amp;&lt;/b&gt;" in text  # HTML-escaped inside the XML text
    for row in csv.reader(io.StringIO((out / "answers.csv").read_text())):
        assert not row[0].startswith(("=", "+", "-", "@")), row
    students = list(csv.reader(io.StringIO((out / "students.csv").read_text())))
    assert [r[0] for r in students[1:]] == ["'" + ids[1], ids[2], "'-2+3", "'@sum"]
    sheet = (out / "sheets" / "sheet-02.tex").read_text()
    assert "\\input{/etc" not in sheet and "\\textbackslash{}input" in sheet
    assert "learning rate" not in sheet and "eta" not in sheet  # no step task, no step


# The key --------------------------------------------------------------------------------------


def test_the_key_is_made_private_never_printed_and_changes_every_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "course.key"
    args = ["2", "2", "2", "--count", "2", "--seed", "1", "--tasks", "forward"]
    assert run(*args, "--key", str(key), "-o", str(tmp_path / "a")) == 0
    secret = key.read_text().strip()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and len(secret) == 64
    printed = capsys.readouterr()
    assert secret not in printed.out + printed.err and "warning" not in printed.err
    assert run(*args, "--key", str(key), "-o", str(tmp_path / "b")) == 0
    assert run(*args, "-o", str(tmp_path / "c")) == 0
    assert "warning: no --key" in capsys.readouterr().err
    same = [(tmp_path / d / "sheets" / "sheet-01.tex").read_bytes() for d in "abc"]
    assert same[0] == same[1] and same[0] != same[2]
    # the contract: sheet 1's numbers are a generator seeded with HMAC-SHA256(key, message)
    message = "\0".join(("symgrad exercises", "1", "1", "0")).encode()
    for directory, secret_bytes in (("a", secret.encode()), ("c", b"")):
        digest = hmac.new(secret_bytes, message, hashlib.sha256).digest()
        rng = np.random.default_rng(int.from_bytes(digest, "big"))
        w1 = np.round(rng.uniform(-1.0, 1.0, (2, 2)), 1) + 0.0
        record = json.loads((tmp_path / directory / "numbers.json").read_text())[0]
        assert np.array_equal(np.where(w1 == 0, 0.1, w1), record["params"]["W1"])


# Bad input: one line, exit 2, nothing written --------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "roster", "message"),
    [
        (["--roster", "{roster}"], "id\nana\nbo\nana\n", "comes twice"),
        (["--roster", "{roster}"], "id\n\n", "no student id"),
        (["--count", "0"], None, "at least 1"),
        (["--count", "2", "--tasks", "forward,integrals"], None, "unknown task 'integrals'"),
        (["--count", "2", "--key", "{dir}"], None, "--key"),
        (["--count", "2", "--round", "x"], None, "--round"),
        (["--count", "2", "--lr", "-1"], None, "--lr"),
    ],
)
def test_bad_input_is_one_line_and_exit_2_with_nothing_written(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    roster: str | None,
    message: str,
) -> None:
    (tmp_path / "roster.csv").write_text(roster or "")
    (tmp_path / "keydir").mkdir()
    words = [w.format(roster=tmp_path / "roster.csv", dir=tmp_path / "keydir") for w in extra]
    out = tmp_path / "out"
    assert run("2", "2", "2", *words, "-o", str(out)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("symgrad: error: ") and message in err
    assert sorted(os.listdir(tmp_path)) == ["keydir", "roster.csv"]


def test_an_existing_directory_is_left_alone(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("kept")
    assert run("2", "2", "2", "--count", "1", "-o", str(out)) == 2
    assert os.listdir(out) == ["mine.txt"]
    assert sorted(os.listdir(tmp_path)) == ["out"]


# Compiled -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_every_sheet_and_solution_compiles_with_no_warning(made: Path, tmp_path: Path) -> None:
    """All 60 documents through pdflatex, two at a time, until their references settle."""
    from concurrent.futures import ThreadPoolExecutor

    from symgrad.render.pdf import compile_pdf

    documents = sorted((made / "sheets").glob("*.tex")) + sorted((made / "solutions").glob("*.tex"))
    assert len(documents) == 2 * COUNT

    def compiled(path: Path) -> tuple[str, list[str], int]:
        result = compile_pdf(path.read_text(), tmp_path / path.stem, path.stem)
        warnings = [line for line in result.log.splitlines() if "Warning" in line]
        return path.name, result.problems + warnings, result.pages

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(compiled, documents))
    for name, problems, pages in results:
        assert problems == [], name
        assert 1 <= pages <= 4, name


def test_pdf_writes_each_pdf_beside_its_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["2", "2", "2", "--count", "1", "--tasks", "weight-entry", "--pdf"]
    assert run(*args, "-o", str(tmp_path / "out")) == 0
    for name in ("sheets/sheet-01.pdf", "solutions/solutions-01.pdf"):
        assert (tmp_path / "out" / name).read_bytes().startswith(b"%PDF-")
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    assert run(*args, "-o", str(tmp_path / "none")) == 2
    assert "pdflatex is not installed" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["out"]


def test_a_sheet_is_one_writer_away_from_another_format() -> None:
    """The sheet and its solutions are documents of the notes' model: the Markdown writer
    prints them as it prints the notes, blanks and answers included."""
    from symgrad.pipeline import derive
    from symgrad.render.document import Framing
    from symgrad.render.exercises import ExerciseOptions, make_sheets
    from symgrad.render.exercises.sheets import sheet_notes, solution_notes
    from symgrad.render.notes.formats import MarkdownFormat, markdown_math
    from symgrad.spec import NetworkSpec
    from symgrad.templating import render

    derivation = derive(NetworkSpec.parse([2, 2, 2]), prove=False)
    (sheet,) = make_sheets(derivation, ExerciseOptions(ids=("7",), seed=1))
    texts = [
        render(
            "markdown/derivation.md.jinja",
            notes=make(derivation, sheet, Framing(), MarkdownFormat),
            command="",
            math=markdown_math,
        )
        for make in (sheet_notes, solution_notes)
    ]
    assert "# Backpropagation by hand\\: sheet 7" in texts[0]
    blanks = [a.slot for a in sheet.answers if a.slot.task == "forward" and a.slot.index]
    assert all(markdown_math_of(slot.entry) in texts[0] for slot in blanks)
    assert "## Working" in texts[1] and "### One step of gradient descent" in texts[1]


def markdown_math_of(expr: object) -> str:
    from symgrad.render.formula import Math, markdown

    return markdown(Math.of(expr))  # type: ignore[arg-type]


def test_no_answer_is_within_its_tolerance_of_zero(made: Path) -> None:
    """A draw whose terms cancel (equal entries in a column of W_2 make a row of grad W_1 zero,
    its float noise) is drawn again."""
    for row in key_rows(made):
        assert abs(float(row["answer"])) > float(row["tolerance"]), row


def test_html_sheets_show_the_numbers_of_their_latex(tmp_path: Path) -> None:
    """With --html every sheet and solution is also a web page (MathML Core only) that shows
    the same numbers as its LaTeX, and a page broken on purpose is found."""
    from symgrad.render.html import non_core_elements

    assert run("2", "2", "2", "--count", "2", "--html", "-o", str(tmp_path / "x")) == 0
    pages = sorted((tmp_path / "x").rglob("*.html"))
    assert [p.relative_to(tmp_path / "x").as_posix() for p in pages] == [
        "sheets/sheet-01.html",
        "sheets/sheet-02.html",
        "solutions/solutions-01.html",
        "solutions/solutions-02.html",
    ]
    for page in pages:
        source = page.read_text(encoding="utf-8")
        assert non_core_elements(source) == []
        assert not re.search(r"</h[2-4]>\s*</section>", source)  # no heading of nothing
        latex = page.with_suffix(".tex").read_text(encoding="utf-8")
        assert shown_numbers(source, html=True) == shown_numbers(latex)
    broken = pages[2].read_text(encoding="utf-8").replace("<mn>0.", "<mn>9.", 1)
    assert shown_numbers(broken, html=True) != shown_numbers(
        pages[2].with_suffix(".tex").read_text()
    )


def shown_numbers(source: str, html: bool = False) -> list[str]:
    """The decimal numbers of the formulas of a page (MathML's numbers) or of a LaTeX document
    (its body without the figure's drawing and comments), sorted."""
    if html:
        return sorted(re.findall(r"<mn>(\d+\.\d+)</mn>", source))
    body = source.split("\\begin{document}")[1]
    body = re.sub(r"\\begin\{tikzpicture\}.*?\\end\{tikzpicture\}", "", body, flags=re.S)
    body = re.sub(r"(?m)(?<!\\)%.*$", "", body)
    lengths = r"(?<![\d.])\d+\.\d+(?![\d.]|\s*(?:ex|em|pt|cm))"  # not a length (1.5ex)
    return sorted(re.findall(lengths, body))
