"""Markdown notes: every equation number is the \\tag of its own display, every display has one
block id, and every link to an equation goes to the display that carries its number."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from symgrad.cli import main
from symgrad.pipeline import derive
from symgrad.render.notes import NotesOptions, render_markdown
from symgrad.spec import NetworkSpec
from symgrad.worked import worked_example


def displays(text: str) -> list[tuple[str, str]]:
    """(math, block id) of every display of ``text``, in order."""
    found = []
    for match in re.finditer(r"^\$\$\n(.*?)\n\$\$\n(?:\n\^([A-Za-z0-9-]+)\n)?", text, re.S | re.M):
        found.append((match.group(1), match.group(2) or ""))
    return found


def check_numbers(text: str, count: int) -> None:
    """Fails unless equations 1..count are each one display's \\tag, each display with an id
    once, and every link ``[(n)](#^id)`` lands on the display tagged n."""
    tagged: dict[int, str] = {}
    ids = []
    for math, block_id in displays(text):
        tags = re.findall(r"\\tag\{(\d+)\}", math)
        assert len(tags) <= 1, math
        # (a summary's column of references to earlier equations has no id: it numbers nothing)
        if block_id:
            assert not re.search(r"&& \\text\{\(\d+\)\}", math), f"a number in a column: {math}"
        if tags:
            assert block_id, f"tagged display without a block id: {math}"
            tagged[int(tags[0])] = block_id
        if block_id:
            ids.append(block_id)
    assert sorted(tagged) == list(range(1, count + 1))
    assert len(ids) == len(set(ids)), "a block id used twice"
    for number, block_id in re.findall(r"\[\((\d+)\)\]\(#\^([A-Za-z0-9-]+)\)", text):
        assert tagged[int(number)] == block_id, f"({number}) links to {block_id}"


@pytest.mark.parametrize(
    ("sizes", "activation", "seed"),
    [((3, 3, 2), None, None), ((2, 4, 4, 3, 2), "tanh", None), ((2, 2, 2), None, 0)],
)
def test_markdown_numbers_are_tags_and_links_land(
    sizes: tuple[int, ...], activation: str | None, seed: int | None
) -> None:
    derivation = derive(NetworkSpec.parse(list(sizes), activation), prove=False)
    text = render_markdown(derivation, options=NotesOptions(example=seed))
    check_numbers(text, max(step.number for step in derivation))


def test_the_check_fails_on_a_number_in_a_column_and_a_wrong_link() -> None:
    good = (
        "$$\na = b \\tag{1}\n$$\n\n^eq-a\n\n$$\nc = d \\tag{2}\n$$\n\n^eq-c\n\nsee [(2)](#^eq-c)\n"
    )
    check_numbers(good, 2)
    with pytest.raises(AssertionError, match="links to"):
        check_numbers(good.replace("[(2)](#^eq-c)", "[(2)](#^eq-a)"), 2)
    column = (
        "$$\n\\begin{aligned}\na &= b && \\text{(1)} \\\\\nc &= d && \\text{(2)}\n"
        "\\end{aligned}\n$$\n\n^eq-a\n"
    )
    with pytest.raises(AssertionError, match="a number in a column"):
        check_numbers(column, 2)


@pytest.mark.parametrize(
    ("name", "span"),
    [("a`b.json", "``{}``"), ("a``b.json", "```{}```"), ("c.json", "`{}`")],
)
def test_a_file_name_with_backticks_is_one_code_span(tmp_path: Path, name: str, span: str) -> None:
    """The given parameters' file name is one code span in Markdown, however many backticks it
    holds (a single backtick fence ended at the first one, and the rest was prose)."""
    spec = NetworkSpec.parse([2, 2, 2])
    params = {k: v.tolist() for k, v in worked_example(derive(spec, prove=False), 0).params.items()}
    given = tmp_path / name
    given.write_text(json.dumps({"params": params}))
    out = tmp_path / "notes.md"
    argv = ["markdown", "2", "2", "2", "--params", str(given), "--audience", "instructors"]
    assert main([*argv, "-o", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    command = f"--seed 0 --params {shlex.quote(str(given))} --format json"
    assert span.format(command) in text
