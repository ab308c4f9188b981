"""The document model of the notes: roles, and what an audience keeps of a document."""

from __future__ import annotations

import sympy as sp

from symgrad.render.document import Audience, Display, Notes, Role, Row, Section, Text
from symgrad.render.formula import Math, equals


def _notes() -> Notes:
    body = Section(
        "Body",
        "sec:body",
        (
            Text("The output layer first."),
            Text("Made by the tool.", role=Role.PROVENANCE),
            Text("Then the rest:"),
            Display((Row(Math.of(sp.Symbol("a")), equals(sp.Symbol("b"))),)),
        ),
        id="body",
    )
    checked = Section("Checks", "sec:checks", (Text("All proved."),), id="checks")
    checked = Section(
        checked.title, checked.label, checked.blocks, id="checks", role=Role.PROVENANCE
    )
    return Notes(
        title="t",
        subtitle="s",
        command="c",
        intro=(Text("We derive."), Text("Checked by computer algebra.", role=Role.PROVENANCE)),
        sections=(body, checked),
    )


def test_students_read_no_provenance() -> None:
    notes = _notes().for_audience(Audience.STUDENTS)
    assert [s.id for s in notes.sections] == ["body"]
    assert [t.text for t in notes.intro] == ["We derive."]
    texts = [b.text for b in notes.sections[0].blocks if isinstance(b, Text)]
    assert texts == ["The output layer first.", "Then the rest:"]
    # The prose before a display still runs on into it once a block is dropped.
    assert not notes.sections[0].blocks[1].par  # type: ignore[union-attr]


def test_instructors_read_everything() -> None:
    notes = _notes()
    assert notes.for_audience(Audience.INSTRUCTORS) == notes
    assert len(notes.sections[0].blocks) == 4
