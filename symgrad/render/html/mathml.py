"""LaTeX of the notes' formulas as MathML Core, the mathematics browsers lay out natively.

Part of the web page writer (:mod:`symgrad.render.html`). One printing of the notation serves
every format: a formula value is printed to LaTeX by :func:`symgrad.render.formula.latex` (the
printer the proofs and the PDF notes use), and the few formulas of the prose still typed as
LaTeX are the same LaTeX; ``latex2mathml`` turns either into MathML. Its output is then made
MathML Core: styled letters (``\\mathbf{1}``) become the Unicode mathematical letters Core
draws, named or negative spaces become lengths or go, and any element outside Core (``menclose``,
``mfenced``, ``mlabeledtr``...) raises, so that a page never holds one. The LaTeX source goes
into an ``annotation`` of the ``semantics`` element, where it can be copied from.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from latex2mathml.converter import convert

from symgrad.errors import SymgradError

#: The elements of MathML Core (W3C, MathML Core, "Elements"); nothing else is written.
CORE_ELEMENTS = frozenset(
    {
        "annotation",
        "annotation-xml",
        "maction",
        "math",
        "merror",
        "mfrac",
        "mi",
        "mmultiscripts",
        "mn",
        "mo",
        "mover",
        "mpadded",
        "mphantom",
        "mprescripts",
        "mroot",
        "mrow",
        "ms",
        "mspace",
        "msqrt",
        "mstyle",
        "msub",
        "msubsup",
        "msup",
        "mtable",
        "mtd",
        "mtext",
        "mtr",
        "munder",
        "munderover",
        "semantics",
    }
)

#: The attributes Core gives its elements beyond the global ones (``displaystyle``,
#: ``scriptlevel``, ``mathvariant`` on ``mi``, ``dir``, ``id``, ``class``, ``style``).
_CORE_ATTRIBUTES = frozenset(
    {
        "display",
        "displaystyle",
        "scriptlevel",
        "mathvariant",
        "accent",
        "accentunder",
        "linethickness",
        "form",
        "fence",
        "separator",
        "lspace",
        "rspace",
        "stretchy",
        "symmetric",
        "maxsize",
        "minsize",
        "largeop",
        "movablelimits",
        "width",
        "height",
        "depth",
        "voffset",
        "columnspan",
        "rowspan",
        "encoding",
    }
)

#: Offsets of the Unicode mathematical alphanumerics (bold), which Core draws for
#: ``mathvariant``, an attribute it does not implement beyond ``normal``.
_BOLD = {"upper": 0x1D400, "lower": 0x1D41A, "digit": 0x1D7CE}

_TAG = re.compile(r"<\s*([A-Za-z][A-Za-z0-9-]*)")


class MathError(SymgradError):
    """A formula that cannot be written as MathML Core."""


def mathml(latex: str, display: bool = False) -> str:
    """``latex`` as one ``<math>`` element of MathML Core with its source as an annotation;
    ``display`` sets it in display style (full-size fractions, limits under sums)."""
    try:
        converted = convert(_matrices_in_fences(latex))
    except Exception as exc:  # the converter's own errors: one line, with the formula
        raise MathError(f"cannot write {latex!r} as MathML: {exc}") from exc
    root = ET.fromstring(converted.replace(' xmlns="http://www.w3.org/1998/Math/MathML"', ""))
    for element in list(root.iter()):
        _to_core(element)
        if display:
            _limits_below(element)
        _unraise_primes(element)
        _space_function_names(element)
    body = ET.Element("mrow")
    body.extend(list(root))
    semantics = ET.Element("semantics")
    semantics.append(body if len(body) != 1 else body[0])
    annotation = ET.SubElement(semantics, "annotation", encoding="application/x-tex")
    annotation.text = latex
    math = ET.Element("math")
    if display:
        math.set("displaystyle", "true")
    math.append(semantics)
    text = ET.tostring(math, encoding="unicode", short_empty_elements=False)
    outside = non_core_elements(text)
    if outside:
        raise MathError(f"{latex!r} needs {outside[0]!r}, which MathML Core does not have")
    return text


def _to_core(element: ET.Element) -> None:
    """One element made MathML Core in place."""
    variant = element.attrib.pop("mathvariant", "")
    if variant == "bold" and element.text:
        element.text = "".join(_bold(ch) for ch in element.text)
    elif variant == "normal" and element.tag == "mi":
        element.set("mathvariant", "normal")
    if element.tag == "mspace":
        element.attrib.pop("linebreak", None)
        width = element.get("width", "")
        if not re.fullmatch(r"\d*\.?\d+(em|ex|px|pt)?", width):
            element.attrib.pop("width", None)  # named and negative spaces: Core has neither
    for name in list(element.attrib):
        if name not in _CORE_ATTRIBUTES:
            del element.attrib[name]


#: ``bmatrix`` as a matrix between stretchy fences of its own (``latex2mathml`` sets its brackets
#: loose in the row, where they would stretch to the tallest thing beside them).
_FENCED = {"bmatrix": ("[", "]"), "pmatrix": ("(", ")"), "vmatrix": ("|", "|")}


def _matrices_in_fences(latex: str) -> str:
    for name, (left, right) in _FENCED.items():
        latex = latex.replace(rf"\begin{{{name}}}", rf"\left{left}\begin{{matrix}}")
        latex = latex.replace(rf"\end{{{name}}}", rf"\end{{matrix}}\right{right}")
    return latex


#: Operators whose limits go below and above them in display style, as TeX sets them.
_LARGE = frozenset("\u2211\u220f\u2210\u22c3\u22c2")
_BELOW = {"msub": "munder", "msup": "mover", "msubsup": "munderover"}


def _limits_below(element: ET.Element) -> None:
    """``\\sum_{j=1}^{n}`` with its limits under and over the sign, in display style."""
    operator = element[0] if element.tag in _BELOW and len(element) else None
    if operator is not None and operator.tag == "mo" and (operator.text or "").strip() in _LARGE:
        element.tag = _BELOW[element.tag]


def _unraise_primes(element: ET.Element) -> None:
    """``g'``: the prime is a raised sign already; set as a superscript it would be raised
    twice."""
    if element.tag != "msup" or len(element) != 2:
        return
    script = element[1]
    if script.tag == "mrow" and len(script) == 1:
        script = script[0]
    if script.tag in ("mi", "mo") and (script.text or "") in ("\u2032", "\u2033"):
        element.tag = "mrow"


def _space_function_names(element: ET.Element) -> None:
    """``\\log \\hat{y}``: a thin space either side of a function's name, as TeX sets an
    operator (MathML spaces operators, not a name in ``mi``), none before its bracket."""
    children = list(element)
    for n in range(len(children) - 1, -1, -1):
        child = children[n]
        name = child.text or ""
        if child.tag != "mi" or len(name) < 2 or not name.isalpha() or len(child):
            continue
        after = children[n + 1] if n + 1 < len(children) else None
        if after is not None and not (after.tag == "mo" and (after.text or "") in "(["):
            element.insert(n + 1, ET.Element("mspace", width="0.1667em"))
        if n > 0 and children[n - 1].tag != "mo":
            element.insert(n, ET.Element("mspace", width="0.1667em"))


def _bold(ch: str) -> str:
    if "A" <= ch <= "Z":
        return chr(_BOLD["upper"] + ord(ch) - ord("A"))
    if "a" <= ch <= "z":
        return chr(_BOLD["lower"] + ord(ch) - ord("a"))
    if "0" <= ch <= "9":
        return chr(_BOLD["digit"] + ord(ch) - ord("0"))
    return ch


def non_core_elements(html: str) -> list[str]:
    """The names of the elements inside ``<math>`` in ``html`` that MathML Core does not have,
    in order, each once: what a page must never hold."""
    found: dict[str, None] = {}
    for block in re.findall(r"<math\b.*?</math>", html, flags=re.S):
        for name in _TAG.findall(block):
            if name not in CORE_ELEMENTS:
                found[name] = None
    return list(found)


def inline_math(text: str) -> str:
    """Prose with its formulas in ``$...$`` (printed from values, or still typed as LaTeX)
    written as MathML in the line; the rest of the text is left as it is (already HTML)."""
    parts = text.split("$")
    if len(parts) % 2 == 0:
        raise MathError(f"an unmatched $ in {text!r}")
    return "".join(mathml(p) if n % 2 else p for n, p in enumerate(parts))
