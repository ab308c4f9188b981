"""The web page without a browser: MathML Core only, the LaTeX kept, user text escaped, the
fragment's styles scoped, references as links, a math font with an OpenType MATH table.

The browser's own checks are in ``tests/test_html_browser.py``. Pages are rendered once per
network for the module.
"""

from __future__ import annotations

import json
import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from symgrad.cli import main
from symgrad.pipeline import derive
from symgrad.render.html import SCOPE, non_core_elements, render_html
from symgrad.render.html.mathml import MathError, mathml
from symgrad.render.notes import NotesOptions
from symgrad.spec import NetworkSpec

#: Networks whose pages are searched: every kind of formula and figure the notes have.
NETWORKS = {
    "3-3-2-example": (["3", "3", "2"], None, None, None, {}, 0),
    "2-4-4-3-2-tanh": (["2", "4", "4", "3", "2"], "tanh", None, None, {}, None),
    "kinds-example": (
        ["3", "3", "3", "3"],
        "tanh",
        None,
        None,
        {"weight_decay": "0.05", "residual": True},
        0,
    ),
    "bce-custom": (["2", "3", "1"], "log(1+exp(x))", "sigmoid", "binary-cross-entropy", {}, None),
}


@pytest.fixture(scope="module")
def pages() -> dict[str, str]:
    rendered = {}
    for name, (sizes, activation, output, loss, kinds, seed) in NETWORKS.items():
        spec = NetworkSpec.parse(sizes, activation, output, loss, kinds=kinds)
        options = NotesOptions(example=seed, audience="instructors")
        rendered[name] = render_html(derive(spec, prove=False), options)
    return rendered


class _Tags(HTMLParser):
    """Every start tag of a page with its attributes, and its ids."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags(page: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(page)
    return parser.tags


@pytest.mark.parametrize("name", NETWORKS)
def test_every_formula_is_mathml_core_with_its_latex(pages: dict[str, str], name: str) -> None:
    page = pages[name]
    maths = re.findall(r"<math\b.*?</math>", page, flags=re.S)
    assert len(maths) > 100
    assert non_core_elements(page) == []
    assert "$" not in re.sub(r"<math\b.*?</math>|<style>.*?</style>", "", page, flags=re.S)
    for math in maths:
        assert re.search(r'<annotation encoding="application/x-tex">[^<]+</annotation>', math)


@pytest.mark.parametrize("name", NETWORKS)
def test_every_internal_link_has_its_target(pages: dict[str, str], name: str) -> None:
    found = tags(pages[name])
    ids = [attrs["id"] for _, attrs in found if attrs.get("id")]
    assert len(ids) == len(set(ids)), "an id is used twice"
    links = [attrs["href"] for tag, attrs in found if tag == "a"]
    assert links and all(link and link.startswith("#") for link in links)
    assert {link[1:] for link in links if link} <= set(ids)


@pytest.mark.parametrize("name", NETWORKS)
def test_page_is_self_contained_without_script(pages: dict[str, str], name: str) -> None:
    """No script, no stylesheet or image to fetch, no URL but the page's own ids (the arrow
    heads of the figures)."""
    page = pages[name]
    found = tags(page)
    assert {tag for tag, _ in found}.isdisjoint({"script", "link", "img", "iframe", "object"})
    assert all("src" not in attrs for _, attrs in found)
    assert re.findall(r"url\((?!#)", page) == [] and "@import" not in page
    assert re.findall(r"https?://(?!www\.w3\.org/)", page) == []


def test_core_check_finds_what_core_lacks() -> None:
    """The check can fail: an element outside Core is named, and the writer refuses LaTeX that
    needs one (``\\boxed`` is ``menclose``)."""
    assert non_core_elements("<math><mfenced><mi>x</mi></mfenced><mlabeledtr/></math>") == [
        "mfenced",
        "mlabeledtr",
    ]
    assert non_core_elements("<p><mfenced></mfenced></p>") == []  # outside <math>: not MathML
    with pytest.raises(MathError, match="menclose"):
        mathml(r"\boxed{x}")


def test_notation_as_core_draws_it() -> None:
    """Bold letters as Unicode (Core draws no mathvariant="bold"), limits under a sum in
    display style and beside it in the line, a prime not raised twice, a thin space after a
    function's name, and a bracketed matrix in fences of its own."""
    assert "<mn>𝟏</mn>" in mathml(r"\mathbf{1}") and "mathvariant" not in mathml(r"\mathbf{1}")
    assert "<munderover>" in mathml(r"\sum_{j=1}^{2} y_j", display=True)
    assert "<msubsup>" in mathml(r"\sum_{j=1}^{2} y_j")
    assert "<msup>" not in mathml("g'(a)")
    assert '<mi>log</mi><mspace width="0.1667em"></mspace>' in mathml(r"\log y")
    fenced = mathml(r"\begin{bmatrix} 1 \\ 2 \end{bmatrix} x")
    assert re.search(r'<mrow><mo [^>]*form="prefix">\[</mo><mtable>', fenced)


ATTACK = '</title><script>alert(1)</script><img src=x onerror="alert(2)"> & $x$ <!--'


def test_user_text_is_escaped(tmp_path: Path) -> None:
    """A title, author, course and date full of markup reach the page as text: no script, no
    image, no formula, no comment made of them."""
    out = tmp_path / "page.html"
    argv = ["html", "2", "2", "2", "-o", str(out)]
    for field in ("--title", "--author", "--course", "--date"):
        argv += [field, ATTACK]
    assert main(argv) == 0
    page = out.read_text(encoding="utf-8")
    assert {tag for tag, _ in tags(page)}.isdisjoint({"script", "img"})
    # <title>, <h1>, the course, author and date under it, and the four in the command's comment
    assert page.count("&lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt;") == 9
    assert "<!--" not in page.split("-->", 1)[1]


def css_selectors(page: str) -> list[str]:
    """The selectors of every rule in the page's ``<style>`` (inside ``@media`` too)."""
    css = re.search(r"<style>(.*?)</style>", page, flags=re.S)
    assert css is not None
    text = re.sub(r"/\*.*?\*/", "", css.group(1), flags=re.S)
    selectors = []
    for head in re.findall(r"([^{}]+)\{", text):
        head = head.strip()
        if not head.startswith("@"):
            selectors += [s.strip() for s in head.split(",")]
    return selectors


def unscoped(selectors: list[str]) -> list[str]:
    return [s for s in selectors if not re.match(rf"(main)?\.{SCOPE}\b", s)]


def test_fragment_is_a_body_with_its_styles_scoped() -> None:
    spec = NetworkSpec.parse(["2", "2", "2"], None, None, None)
    fragment = render_html(derive(spec, prove=False), NotesOptions(example=0), fragment=True)
    assert not re.search(r"<(html|head|body|title|meta)\b|<!DOCTYPE", fragment, flags=re.I)
    assert fragment.splitlines()[1] == f'<div class="{SCOPE}">'
    assert "@page" not in fragment
    selectors = css_selectors(fragment)
    assert len(selectors) > 40 and unscoped(selectors) == []
    # the check can fail: the whole page styles its <html> and <body>, outside the scope
    page = render_html(derive(spec, prove=False), NotesOptions(example=0))
    assert unscoped(css_selectors(page)) == ["html", "body"]


def test_sections_left_out_are_named_in_text() -> None:
    """With --sections, a reference to an equation that is printed is a link, and one to an
    equation left out says its number and where it is, as the LaTeX notes do."""
    spec = NetworkSpec.parse(["3", "3", "2"], None, None, None)
    options = NotesOptions(sections=("parameters", "general"))
    page = render_html(derive(spec, prove=False), options)
    assert '<a href="#eq-weight-matrix-2">(14)</a>' in page
    assert "(8) in Section\N{NO-BREAK SPACE}2" in page
    assert '<h2 id="sec-parameters-title"><span class="number">4</span> The parameters</h2>' in (
        page
    )


def test_label_prefix_prefixes_every_id() -> None:
    spec = NetworkSpec.parse(["2", "2", "2"], None, None, None)
    page = render_html(derive(spec, prove=False), NotesOptions(label_prefix="ch3:"))
    ids = [a["id"] for _, a in tags(page) if a.get("id")]
    assert ids and all(i and i.startswith("ch3-") for i in ids if not i.endswith("-caption"))


def test_bad_input_is_one_line_and_no_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "page.html"
    assert main(["html", "2", "2", "2", "--sections", "nowhere", "-o", str(out)]) == 2
    assert main(["html", "2", "2", "2", "--expand", "7", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 2 and all(
        line.startswith("symgrad: error: ") for line in err.splitlines()
    )
    assert not out.exists()


def _has_math_table(font: Path) -> bool:
    """Whether the OpenType font ``font`` has a MATH table (its table directory names it)."""
    data = font.read_bytes()
    tables = int.from_bytes(data[4:6], "big")
    return any(data[12 + 16 * n : 16 + 16 * n] == b"MATH" for n in range(tables))


def test_the_page_names_an_installed_math_font() -> None:
    """The first font of the page's math stack is installed and has an OpenType MATH table,
    which Chromium lays MathML out with; a text font has none (the check can fail)."""
    spec = NetworkSpec.parse(["2", "2", "2"], None, None, None)
    page = render_html(derive(spec, prove=False))
    stack = re.search(r"math \{\s*font-family: \"([^\"]+)\"", page)
    assert stack is not None and stack.group(1) == "Latin Modern Math"
    found = subprocess.run(
        ["fc-match", "--format=%{file}", "Latin Modern Math"], capture_output=True, text=True
    ).stdout
    assert _has_math_table(Path(found))
    text = subprocess.run(
        ["fc-match", "--format=%{file}", "Latin Modern Roman"], capture_output=True, text=True
    ).stdout
    assert not _has_math_table(Path(text))


def test_bold_words_are_strong_and_escaped() -> None:
    """A run-in title (``Strong``) is ``<strong>`` on the page, its words escaped; no TeX."""
    from symgrad.render.document import Inline, Strong
    from symgrad.render.html import HtmlFormat

    spec = NetworkSpec.parse(["2", "2", "2"], None, None, None)
    fmt = HtmlFormat(derive(spec, prove=False), "notes")
    printed = fmt.joined(Inline.of(Strong("A <b> & c."), " then"), lambda ref: "")
    assert printed == "<strong>A &lt;b&gt; &amp; c.</strong> then"


def test_a_file_name_with_dollars_stays_code(tmp_path: Path) -> None:
    """The given parameters' file name is code on the page: a ``$`` in it opens no formula
    (the page's prose was scanned for ``$`` after printing, so ``one$.json`` and the next ``$``
    of the paragraph made one formula of the words between them)."""
    given = tmp_path / "one$x.json"
    example = subprocess.run(
        ["python3", "-m", "symgrad", "example", "2", "2", "2", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    given.write_text(json.dumps({"params": json.loads(example.stdout)["params"]}))
    out = tmp_path / "page.html"
    argv = ["html", "2", "2", "2", "--params", str(given), "--audience", "instructors"]
    assert main([*argv, "-o", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    assert "one&#36;x.json</code>" in page
    assert not any("<math" in code for code in re.findall(r"<code>(.*?)</code>", page, flags=re.S))
    for annotation in re.findall(
        r'<annotation encoding="application/x-tex">(.*?)</annotation>', page, flags=re.S
    ):
        assert "code" not in annotation and "json" not in annotation, annotation
