"""Jinja2 environments for code targets and renderers: ``templates/<format>/<file>.<ext>.jinja``.

Shared by the code targets and the renderers, below both. Templates loop over strings that the
targets and renderers have prepared in Python and insert them; they never see SymPy objects. The
extension in front of ``.jinja`` picks the environment: ``.tex`` templates use LaTeX-looking
delimiters (``\\VAR{...}``, ``\\BLOCK{...}``, ``\\#{...}`` and ``%-`` line statements), because
LaTeX's braces clash with Jinja's defaults (``{#1}`` opens a comment); every other extension keeps
the default delimiters.
"""

from __future__ import annotations

import functools
from pathlib import Path

import jinja2

#: Characters that are special in LaTeX text mode, and how to write them.
_TEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def tex_escape(text: str) -> str:
    """``text`` typeset literally in LaTeX text mode; for user prose only, never printer output."""
    return "".join(_TEX_SPECIALS.get(ch, ch) for ch in str(text))


#: What TeX would set otherwise in text typed by a user: ``--`` as an en dash, quotes curled.
_TEX_LIGATURES = {"-": "-{}", "`": r"\textasciigrave{}", "'": r"\textquotesingle{}"}


def tex_literal(text: str) -> str:
    """User text (a title, an author) set exactly as typed: escaped, and with no ligature that
    would change a character (``--``, quotes)."""
    return "".join(_TEX_LIGATURES.get(ch) or tex_escape(ch) for ch in str(text))


def tex_code(text: str) -> str:
    """``text`` in a typewriter face, literally: escaped, and ``-{}-`` so that two hyphens stay
    two hyphens (a copied option is right), never an en dash."""
    return rf"\texttt{{{tex_escape(text).replace('-', '-{}')}}}"


#: ASCII punctuation: Markdown (CommonMark) lets a backslash make each of them literal.
_MARKDOWN_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


def markdown_escape(text: str) -> str:
    """``text`` shown literally in Markdown: no emphasis, link, HTML tag or ``$`` formula
    survives (every ASCII punctuation mark backslash-escaped)."""
    return "".join("\\" + ch if ch in _MARKDOWN_PUNCTUATION else ch for ch in str(text))


def template_dir() -> Path:
    """``symgrad/templates`` in an installed wheel, else ``<repo>/templates`` in a checkout."""
    package = Path(__file__).resolve().parent
    installed = package / "templates"
    if installed.is_dir():
        return installed
    return package.parent / "templates"


def _common_options() -> dict[str, object]:
    return {
        "loader": jinja2.FileSystemLoader(str(template_dir())),
        "undefined": jinja2.StrictUndefined,
        "trim_blocks": True,
        "lstrip_blocks": True,
        "keep_trailing_newline": True,
        "autoescape": False,
    }


@functools.cache
def environment(extension: str) -> jinja2.Environment:
    """The environment for templates whose name ends ``.<extension>.jinja``."""
    if extension == "tex":
        env = jinja2.Environment(
            block_start_string=r"\BLOCK{",
            block_end_string="}",
            variable_start_string=r"\VAR{",
            variable_end_string="}",
            comment_start_string=r"\#{",
            comment_end_string="}",
            line_statement_prefix="%-",
            line_comment_prefix="%#",
            **_common_options(),  # type: ignore[arg-type]
        )
    else:
        env = jinja2.Environment(**_common_options())  # type: ignore[arg-type]
    env.filters["tex_escape"] = tex_escape
    env.filters["tex_code"] = tex_code
    env.filters["tex_literal"] = tex_literal
    env.filters["markdown_escape"] = markdown_escape
    return env


def extension_of(template: str) -> str:
    """``tex`` for ``latex/document.tex.jinja``: the extension in front of ``.jinja``."""
    if not template.endswith(".jinja"):
        raise ValueError(f"template names end in .jinja, got {template!r}")
    stem = template[: -len(".jinja")]
    return stem.rsplit(".", 1)[-1] if "." in Path(stem).name else ""


def render(template: str, **context: object) -> str:
    """Render ``templates/<template>`` (e.g. ``latex/document.tex.jinja``) with ``context``."""
    env = environment(extension_of(template))
    return env.get_template(template).render(**context)
