"""The answers for a course platform: a Moodle XML question bank and a CSV answer key.

Part of the exercises (:mod:`symgrad.render.exercises`). The question bank is built as a tree
with :mod:`xml.etree.ElementTree` (which escapes every text it holds; a student id inside the
HTML of a question is escaped for HTML first): one category per student, holding a numerical
question for every number the student's sheet asks for, its answer with ``fraction="100"`` and
the answer's tolerance. The answer key is CSV (student, sheet, task, part, answer, tolerance);
a text cell that a spreadsheet would take for a formula (one that starts with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return) is made inert with a leading apostrophe. The answer
and the tolerance are numbers this module writes, never text from a user.
"""

from __future__ import annotations

import csv
import html
import io
import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence

import numpy as np

from symgrad.render.exercises.sheets import Sheet
from symgrad.render.formula import Math, latex

#: What makes a spreadsheet read a cell as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def number(value: float) -> str:
    """``value`` in positional notation with every digit that reads back to it."""
    return str(np.format_float_positional(float(value), trim="-"))


def inert(cell: str) -> str:
    """A text cell a spreadsheet shows as text, never evaluates."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def answer_key(sheets: Sequence[Sheet], files: Sequence[str]) -> str:
    """The CSV answer key: a header, then one row per answer of every sheet."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["student", "sheet", "task", "part", "answer", "tolerance"])
    for sheet, file in zip(sheets, files, strict=True):
        for a in sheet.answers:
            writer.writerow(
                [
                    inert(sheet.student),
                    inert(file),
                    str(a.number),
                    inert(a.slot.name),
                    number(a.value),
                    number(a.tolerance),
                ]
            )
    return out.getvalue()


def roster_map(sheets: Sequence[Sheet], files: Sequence[str], solutions: Sequence[str]) -> str:
    """Which student has which sheet (CSV: student, sheet, solutions)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["student", "sheet", "solutions"])
    for sheet, file, solution in zip(sheets, files, solutions, strict=True):
        writer.writerow([inert(sheet.student), inert(file), inert(solution)])
    return out.getvalue()


def numbers_json(sheets: Sequence[Sheet], files: Sequence[str]) -> str:
    """Every sheet's numbers, for the lecturer's record: a JSON list, one object per student
    (``student``, ``sheet``, ``params``, ``x``, ``y``, ``lr``), every float with all its
    digits."""
    records = [
        {
            "student": sheet.student,
            "sheet": file,
            "params": {name: array.tolist() for name, array in sheet.example.params.items()},
            "x": sheet.example.x.tolist(),
            "y": sheet.example.y.tolist(),
            "lr": sheet.example.lr,
        }
        for sheet, file in zip(sheets, files, strict=True)
    ]
    return json.dumps(records, indent=1) + "\n"


def _text(parent: ET.Element, tag: str, text: str, **attributes: str) -> ET.Element:
    """``<tag ...><text>text</text></tag>`` under ``parent``."""
    element = ET.SubElement(parent, tag, attributes)
    ET.SubElement(element, "text").text = text
    return element


def _category(name: str) -> str:
    """A category name in Moodle's path, where ``/`` separates categories (doubled to stay)."""
    return name.replace("/", "//")


def moodle_xml(sheets: Sequence[Sheet], title: str) -> bytes:
    """The Moodle XML question bank: one category per student under ``title``, a numerical
    question per answer."""
    quiz = ET.Element("quiz")
    for sheet in sheets:
        category = ET.SubElement(quiz, "question", {"type": "category"})
        path = f"$course$/top/{_category(title)}/{_category(sheet.student)}"
        _text(category, "category", path)
        for a in sheet.answers:
            question = ET.SubElement(quiz, "question", {"type": "numerical"})
            _text(question, "name", f"{sheet.student}: task {a.number}, {a.slot.name}")
            symbol = latex(Math.of(a.slot.entry))
            body = (
                f"<p>Sheet {html.escape(sheet.student)}, task {a.number}: "
                f"\\({html.escape(symbol)}\\) = ?</p>"
            )
            _text(question, "questiontext", body, format="html")
            _text(question, "generalfeedback", "", format="html")
            ET.SubElement(question, "defaultgrade").text = "1"
            ET.SubElement(question, "penalty").text = "0"
            ET.SubElement(question, "hidden").text = "0"
            answer = ET.SubElement(
                question, "answer", {"fraction": "100", "format": "moodle_auto_format"}
            )
            ET.SubElement(answer, "text").text = number(a.value)
            _text(answer, "feedback", "", format="html")
            ET.SubElement(answer, "tolerance").text = number(a.tolerance)
            ET.SubElement(question, "unitgradingtype").text = "0"
            ET.SubElement(question, "unitpenalty").text = "0"
            ET.SubElement(question, "showunits").text = "3"
            ET.SubElement(question, "unitsleft").text = "0"
    ET.indent(quiz)
    return ET.tostring(quiz, encoding="utf-8", xml_declaration=True) + b"\n"


__all__ = ["answer_key", "inert", "moodle_xml", "number", "numbers_json", "roster_map"]
