"""The web page in a real browser: Debian's headless Chromium, axe-core, the Nu HTML Checker.

One browser and one set of pages for the whole module: the 3-3-2 and 2-2-2 notes with the
worked example (seed 0), a page for instructors with a selection of sections (references to
sections left out), and the fragment put into a host page of its own. Each checker is also
shown to fail: on pages broken on purpose (too wide, a broken link, MathML outside Core, an
image without alt, an empty formula, an error in the console, a failed request, no dark
scheme), kept here as tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from symgrad.cli import main
from tests.pagecheck import chromium, serious, visit, vnu_errors

#: name -> the symgrad html command that writes it.
PAGES = {
    "mlp-3-3-2-example-0": ["html", "3", "3", "2", "--example", "0"],
    "mlp-2-2-2-example-0": ["html", "2", "2", "2", "--example", "0"],
    "mlp-2-3-3-2-residual-instructors": [
        "html",
        "2",
        "3",
        "3",
        "2",
        "--residual",
        "--audience",
        "instructors",
        "--sections",
        "hidden,parameters,general,checks",
        "--title",
        'Backprop <b>&</b> "co"',
    ],
}

#: name -> an exercise sheet's page, and its solutions', of symgrad exercises --html.
SHEETS = {
    "exercise-sheet": "sheets/sheet-01.html",
    "exercise-solutions": "solutions/solutions-01.html",
}

#: A host page for the fragment: its own headings and paragraphs, which the fragment's styles
#: must leave alone.
HOST = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Host</title>
<style>h2 { color: rgb(1, 2, 3); } p { margin: 7px; }</style></head>
<body>
<h2 class="host">The course</h2><p class="host">Read this first.</p>
<main>
FRAGMENT
</main>
</body>
</html>
"""

#: Pages broken on purpose, one checker each; every one of them is otherwise valid.
BROKEN = {
    "too-wide": '<div style="width: 600px">wide</div>',
    "broken-link": '<p><a href="#nowhere">(7)</a></p>',
    "non-core": "<p><math><mfenced><mi>x</mi></mfenced></math></p>",
    "empty-math": "<p><math></math></p>",
    "image-without-alt": '<figure><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw="></figure>',
    "console-error": "<script>console.error('broken on purpose')</script>",
    "failed-request": '<img alt="missing" src="missing-picture.png">',
}


def broken_page(body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Broken</title></head><body><main>{body}</main></body></html>\n"
    )


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("html")
    written = {}
    for name, argv in PAGES.items():
        written[name] = folder / f"{name}.html"
        assert main([*argv, "-o", str(written[name])]) == 0
    fragment = folder / "fragment.html"
    assert main(["html", "2", "2", "2", "--example", "0", "--fragment", "-o", str(fragment)]) == 0
    written["fragment-in-host"] = folder / "fragment-in-host.html"
    written["fragment-in-host"].write_text(
        HOST.replace("FRAGMENT", fragment.read_text(encoding="utf-8")), encoding="utf-8"
    )
    sheets = folder / "exercises"
    argv = ["exercises", "2", "2", "2", "--count", "1", "--seed", "1", "--html", "-o", str(sheets)]
    assert main(argv) == 0
    for name, page in SHEETS.items():
        written[name] = sheets / page
    for name, body in BROKEN.items():
        written[f"broken-{name}"] = folder / f"broken-{name}.html"
        written[f"broken-{name}"].write_text(broken_page(body), encoding="utf-8")
    return written


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


GOOD = [*PAGES, *SHEETS, "fragment-in-host"]


@pytest.mark.parametrize("name", GOOD)
def test_page_at_375_px(browser: Any, pages: dict[str, Path], name: str) -> None:
    """On a phone: no console error, no request at all, every formula laid out with a size,
    every internal link to an element, MathML Core only, nothing wider than the window outside
    a scroll box, every figure with a text alternative."""
    seen = visit(browser, pages[name], width=375, screenshot=f"{name}-375")
    problems = seen.measured
    assert seen.console_errors == []
    assert seen.failed_requests == [] and seen.other_requests == []
    assert problems["maths"] > 20  # a page of formulas (a sheet has about 50)
    assert problems["zeroMath"] == []
    assert problems["nonCore"] == []
    assert problems["brokenLinks"] == []
    assert problems["tooWide"] == []
    assert problems["noText"] == []


@pytest.mark.parametrize("name", GOOD)
def test_page_at_1280_px_with_axe(browser: Any, pages: dict[str, Path], name: str) -> None:
    """On a wide screen: the same, and axe-core finds no serious or critical violation."""
    seen = visit(browser, pages[name], width=1280, screenshot=f"{name}-1280", axe=True)
    problems = seen.measured
    assert seen.console_errors == [] and seen.failed_requests == []
    assert problems["zeroMath"] == [] and problems["brokenLinks"] == []
    assert problems["tooWide"] == []
    assert serious(problems["axe"]) == []


def test_dark_scheme_follows_the_reader(browser: Any, pages: dict[str, Path]) -> None:
    """Asked for dark, the browser shows the page dark (light text on a dark background), and
    axe-core finds the contrast there good as well."""
    page = pages["mlp-2-2-2-example-0"]
    light = visit(browser, page, scheme="light").measured["background"]
    dark = visit(browser, page, scheme="dark", screenshot="mlp-2-2-2-example-0-dark", axe=True)
    assert light == "rgb(255, 255, 255)"
    assert _luminance(dark.measured["background"]) < 0.1
    assert serious(dark.measured["axe"]) == []


def test_print_is_black_on_white_with_nothing_scrolled(
    browser: Any, pages: dict[str, Path]
) -> None:
    """Printed (even from a browser in dark mode): black text on white, the scroll boxes open
    so that a wide matrix is printed whole, the graph's table shown."""
    page = browser.new_page(color_scheme="dark")
    try:
        page.goto(pages["mlp-2-2-2-example-0"].resolve().as_uri())
        page.emulate_media(media="print")
        printed = page.evaluate(
            """() => {
              const scope = getComputedStyle(document.querySelector('.symgrad-notes'));
              const boxes = [...document.querySelectorAll('.scroll')];
              return {color: scope.color, background: scope.backgroundColor,
                      scrolled: boxes.filter(b => getComputedStyle(b).overflowX !== 'visible')
                                     .length,
                      boxes: boxes.length};
            }"""
        )
    finally:
        page.close()
    assert printed["color"] == "rgb(0, 0, 0)" and printed["background"] == "rgb(255, 255, 255)"
    assert printed["boxes"] > 10 and printed["scrolled"] == 0


def test_fragment_leaves_the_host_alone(browser: Any, pages: dict[str, Path]) -> None:
    """The fragment's styles are scoped: the host's own heading and paragraph keep theirs."""
    page = browser.new_page()
    try:
        page.goto(pages["fragment-in-host"].resolve().as_uri())
        host = page.evaluate(
            """() => ({
              color: getComputedStyle(document.querySelector('h2.host')).color,
              margin: getComputedStyle(document.querySelector('p.host')).marginTop,
              body: getComputedStyle(document.body).marginTop,
            })"""
        )
    finally:
        page.close()
    assert host["color"] == "rgb(1, 2, 3)" and host["margin"] == "7px"
    assert host["body"] == "8px"  # the browser's own: the fragment sets nothing on <body>


def test_nu_html_checker_once_over_every_page(pages: dict[str, Path]) -> None:
    """vnu.jar (one JVM start) finds no error in any page, and does find one in a page broken
    on purpose among them (so the check can fail)."""
    invalid = pages["mlp-2-2-2-example-0"].with_name("invalid.html")
    invalid.write_text(broken_page("<p><div></p>"), encoding="utf-8")
    checked = [pages[name] for name in GOOD] + [invalid]
    errors = vnu_errors(checked)
    assert {path.name: errors[path.resolve()] for path in checked[:-1]} == {
        path.name: [] for path in checked[:-1]
    }
    assert errors[invalid.resolve()] != []


# The checkers fail on pages broken on purpose ------------------------------------------------


def test_too_wide_element_is_found(browser: Any, pages: dict[str, Path]) -> None:
    assert visit(browser, pages["broken-too-wide"], width=375).measured["tooWide"] != []


def test_broken_internal_link_is_found(browser: Any, pages: dict[str, Path]) -> None:
    measured = visit(browser, pages["broken-broken-link"]).measured
    assert measured["brokenLinks"] == ["#nowhere"]


def test_element_outside_mathml_core_is_found(browser: Any, pages: dict[str, Path]) -> None:
    assert visit(browser, pages["broken-non-core"]).measured["nonCore"] == ["mfenced"]


def test_formula_without_size_is_found(browser: Any, pages: dict[str, Path]) -> None:
    assert visit(browser, pages["broken-empty-math"]).measured["zeroMath"] != []


def test_image_without_text_is_found(browser: Any, pages: dict[str, Path]) -> None:
    seen = visit(browser, pages["broken-image-without-alt"], axe=True)
    assert any("img without alt" in p for p in seen.measured["noText"])
    assert any(v["id"] == "image-alt" for v in serious(seen.measured["axe"]))


def test_console_error_and_failed_request_are_found(browser: Any, pages: dict[str, Path]) -> None:
    assert visit(browser, pages["broken-console-error"]).console_errors == ["broken on purpose"]
    seen = visit(browser, pages["broken-failed-request"])
    assert any(url.endswith("missing-picture.png") for url in seen.failed_requests)


def test_page_without_dark_scheme_is_found(browser: Any, pages: dict[str, Path]) -> None:
    """The dark check: a page with no dark styles stays light when the reader asks for dark."""
    dark = visit(browser, pages["broken-too-wide"], scheme="dark").measured["background"]
    assert not _luminance(dark) < 0.1


def _luminance(css: str) -> float:
    """The relative luminance of a CSS colour ``rgb(r, g, b)``; a transparent background (the
    browser's canvas, white) counts as white."""
    if css.startswith("rgba(") and css.rstrip(")").endswith(", 0"):
        return 1.0
    r, g, b = (int(v) / 255 for v in css[css.index("(") + 1 : -1].split(",")[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b
