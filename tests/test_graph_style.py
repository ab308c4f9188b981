"""The computational graph tells values from gradients without colour: gradients are framed
with a dashed line, values are not, so a photocopy or a red-green colour-blind reader still
sees which is which."""

from __future__ import annotations

import re

from symgrad.pipeline import derive
from symgrad.render.notes import NotesOptions, render_latex
from symgrad.spec import NetworkSpec


def styles(source: str) -> dict[str, str]:
    """The TikZ styles of the graph's labels, by name."""
    return dict(re.findall(r"^\s*(value|gradient)/\.style=\{(.*)\},$", source, re.M))


def apart_without_colour(style: dict[str, str]) -> bool:
    """The gradient's style draws a dashed frame and the value's does not."""
    return (
        "dashed" in style["gradient"]
        and "draw" in style["gradient"]
        and ("dashed" not in style["value"] and "draw" not in style["value"])
    )


def test_gradients_are_framed_and_values_are_not() -> None:
    derivation = derive(NetworkSpec.parse([2, 2, 2]), prove=False)
    source = render_latex(derivation, options=NotesOptions(example=0))
    found = styles(source)
    assert apart_without_colour(found)
    # and every gradient label on the graph uses that style
    assert re.search(r"\\node\[gradient, anchor=", source)
    assert "dashed frame" in source  # the caption says so, in words, not colours alone


def test_the_check_fails_on_colour_alone() -> None:
    colour_only = {"value": "text=green!40!black", "gradient": "text=red!70!black"}
    assert not apart_without_colour(colour_only)
