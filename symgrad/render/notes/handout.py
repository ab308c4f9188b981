"""The one-page summary (``symgrad summary``): BP1-BP4 with the shape of every quantity, the
algorithm for one sample, and the mini-batch form, for a handout.

Part of the notes renderer (:mod:`symgrad.render.notes`): a document of its own, built from the
same builder and the same blocks as the notes (BP1-BP4 and the algorithm are the notes' own,
from :mod:`~symgrad.render.notes.summary`), written by the same writers. It is for students: no
word about how it was made.
"""

from __future__ import annotations

import shlex

import sympy as sp

from symgrad import notation as nt
from symgrad.derivation import Derivation, Kind
from symgrad.generic import applied, batch, general, mean_gradient, size
from symgrad.render.document import (
    Block,
    Display,
    Framing,
    Inline,
    Notes,
    Piece,
    Prose,
    Ref,
    Row,
    Section,
    Steps,
    Table,
    Text,
    To,
)
from symgrad.render.formula import Group, Math, Paren, Token, equals
from symgrad.render.notes import summary
from symgrad.render.notes.builder import Builder, shape
from symgrad.render.notes.formats import Format, MarkdownFormat, latex_math, markdown_math
from symgrad.render.notes.options import NotesOptions
from symgrad.render.notes.symbols import (
    AFFINE,
    DEPTH,
    applied_to,
    derivative,
    function,
    gradient_of,
    letter,
    listed,
    partial_of,
    sample_row,
)
from symgrad.templating import render

#: The formats of ``symgrad summary --format``, the default first.
SUMMARY_FORMATS = ("latex", "markdown")


#: No title, author, course or date of the user's.
NO_FRAMING = Framing()


def build_summary(
    derivation: Derivation, markdown: bool = False, framing: Framing = NO_FRAMING
) -> Notes:
    """The one-page summary of ``derivation`` as a document, its references printed."""
    options = NotesOptions(framing=framing).resolved(derivation.spec.depth)
    fmt_class = MarkdownFormat if markdown else Format
    b = Builder(derivation, fmt_class(derivation, ""), options)
    g = b.g("k")
    sections = [
        Section("Notation and shapes", b.fmt.section_label("shapes"), _shapes(b), id="shapes"),
        Section(
            "The four equations",
            b.fmt.section_label("equations"),
            _equations(b, g),
            id="equations",
        ),
        Section(
            "The algorithm, for one sample",
            b.fmt.section_label("algorithm"),
            _algorithm(b, g),
            id="algorithm",
        ),
        Section("A mini-batch", b.fmt.section_label("batch"), _batch(b, g), id="batch"),
    ]
    sections = b.fmt.layout(sections)
    notes = Notes(
        title="Backpropagation on one page",
        subtitle=f"a {b.sizes_text()} network: {b.network_words()}",
        command="symgrad summary "
        + " ".join(shlex.quote(a) for a in (*derivation.spec.command_args(), *framing.args))
        + (" --format markdown" if markdown else ""),
        intro=(),
        sections=tuple(sections),
        framing=framing,
    )
    return b.fmt.resolve(notes, notes.numbering())


def render_summary(
    derivation: Derivation, format: str = "latex", framing: Framing = NO_FRAMING
) -> str:
    """The summary as a standalone LaTeX document (one page) or as Markdown."""
    if format == "markdown":
        notes = build_summary(derivation, markdown=True, framing=framing)
        return render(
            "markdown/derivation.md.jinja",
            notes=notes,
            command=notes.command,
            math=markdown_math,
        )
    notes = build_summary(derivation, framing=framing)
    return render("latex/summary.tex.jinja", notes=notes, command=notes.command, math=latex_math)


def _shapes(b: Builder) -> tuple[Block, ...]:
    k, L = letter("k"), DEPTH
    x, y, yhat = (general(base, None) for base in ("x", "y", "yhat"))
    a, bias, w, below = (general(base, layer) for base, layer in AFFINE)
    h, g = general("h", "k"), function(b.spec.uniform_activation)
    hidden: tuple[Prose | Math, ...] = ()
    if b.L > 1:
        activation = Math.of(h, Token.EQUALS, applied_to(g, a))
        hidden = (activation, " for ", Math.of(k, Token.LESS, L), ", ")
    intro = Text(
        Inline.of(
            "A network of ",
            Math.of(L, Token.EQUALS, b.L),
            " layers of weights, with ",
            _sizes(b.spec.sizes),
            " units. Vectors are columns. For one sample ",
            Paren(Math.of(x, Token.COMMA, y)),
            ", layer ",
            k,
            " computes ",
            Math.of(a, Token.EQUALS, bias, Token.PLUS, w * below),
            ", then ",
            *hidden,
            "and the output is ",
            Math.of(yhat, Token.EQUALS, applied_to(letter("O"), general("a", "L"))),
            f" ({b.spec.pair.output.name}), with ",
            Math.of(general("h", "0"), Token.EQUALS, x),
            "; the loss is ",
            applied_to(nt.LOSS, yhat, Token.COMMA, y),
            f" ({b.spec.pair.loss.display}).",
        )
    )
    col = shape(size("k"), 1)
    v = letter("v")
    rows: tuple[tuple[Prose, ...], ...] = (
        (Inline.of(Math.of(x, Token.EQUALS, general("h", "0"))), "the input", shape(size(0), 1)),
        (
            Inline.of(listed(w, bias)),
            Inline.of("the weights and the biases of layer ", k),
            shape(size("k"), size("k-1")) + ", " + col,
        ),
        (Inline.of(listed(a, h)), "its pre-activations and activations", col),
        (Inline.of(listed(yhat, y)), "the prediction and the target", shape(size("L"), 1)),
        (Inline.of(nt.LOSS), "the loss of the sample", "a number"),
        (
            Inline.of(gradient_of(v)),
            Inline.of(
                "the gradient of the loss with respect to ",
                v,
                ", entry ",
                nt.I,
                " is ",
                partial_of(v),
            ),
            Inline.of("the shape of ", v),
        ),
    )
    table = Table(
        ("symbol", "meaning", "shape"),
        rows,
        r"@{}l >{\raggedright\arraybackslash}p{0.55\linewidth} l@{}",
        ("left", "left", "left"),
    )
    return (intro, table)


def _equations(b: Builder, g: str) -> tuple[Block, ...]:
    return (
        Text(
            Inline.of(
                "Backpropagation is four equations, each shown with the shape of its result (",
                letter("O"),
                " is the output function, ",
                derivative(b.spec.uniform_activation),
                " the derivative of the activation, ",
                Token.ODOT,
                " the product entry by entry):",
            )
        ),
        Display(summary.bp_rows(b, g, cite=False), kind="general"),
        *(Text(_uncited(t.text)) for t in b.remarks("general")),
    )


def _uncited(text: Prose) -> Prose:
    """A remark without its references to the notes' numbered equations, which this page
    does not hold (references to BP1-BP4 stay)."""
    if not isinstance(text, Inline):
        return text
    parts: list[str | Piece] = []
    for part in text:
        if isinstance(part, Ref) and part.to is not To.TAG:
            if parts and isinstance(parts[-1], str):
                parts[-1] = parts[-1].rstrip()
            continue
        parts.append(part)
    return Inline.of(*parts)


def _algorithm(b: Builder, g: str) -> tuple[Block, ...]:
    """The notes' algorithm, its steps only (the heading says what they are)."""
    steps = [block for block in summary.algorithm(g) if isinstance(block, Steps)]
    return tuple(Steps(tuple(b.refs_in(i) for i in s.items)) for s in steps)


def _sizes(sizes: tuple[int, ...]) -> Math:
    r"""``n_{0} = 4, n_{1} = \dots = n_{8} = 6, n_{9} = 3``: a run of equal sizes at once."""
    runs: list[list[int]] = []
    for k, n in enumerate(sizes):
        if runs and sizes[runs[-1][0]] == n:
            runs[-1].append(k)
        else:
            runs.append([k])
    parts: list[Math] = []
    for run in runs:
        n = sizes[run[0]]
        if len(run) > 2:
            parts.append(
                Math.of(size(run[0]), Token.EQUALS, Token.DOTS, Token.EQUALS, size(run[-1]))
                + equals(sp.Integer(n))
            )
        else:
            parts += [Math.of(size(k)) + equals(sp.Integer(n)) for k in run]
    joined = Math()
    for part in parts:
        joined += Math.of(Token.COMMA, part) if joined else part
    return joined


def _batch(b: Builder, g: str) -> tuple[Block, ...]:
    delta = b.step(Kind.BATCH_OUTPUT_DELTA)
    bn = shape(nt.BATCH, size("k"))
    ones = sp.OneMatrix(nt.BATCH, 1)
    delta_k, h_prev = batch("a", "k", gradient=True), batch("h", "k-1")
    then = Math.of(Token.COMMA, Token.QQUAD)
    forward = sp.MatAdd(
        sp.MatMul(h_prev, general("W", "k").T), sp.MatMul(ones, general("b", "k").T)
    )
    back = sp.MatMul(batch("a", "k+1", gradient=True), general("W", "k+1"))
    rows = (
        Row(
            Math.of(batch("a", "k")),
            equals(forward)
            + then
            + Math.of(batch("h", "k"))
            + equals(applied(g, batch("a", "k")))
            + then
            + Math.of(batch("yhat", None))
            + equals(applied("O", batch("a", "L"))),
            bn,
        ),
        Row(
            Math.of(batch("a", "L", gradient=True)),
            equals(delta.final),
            shape(nt.BATCH, size("L")),
        ),
        Row(
            Math.of(delta_k),
            equals(Math.of(Group(Math.of(back)), Token.ODOT, applied(g + "'", batch("a", "k")))),
            bn,
        ),
        Row(
            Math.of(mean_gradient("W", "k")),
            equals(sp.MatMul(delta_k.T, h_prev))
            + then
            + Math.of(mean_gradient("b", "k"))
            + equals(sp.MatMul(delta_k.T, ones)),
            shape(size("k"), size("k-1")) + ", " + shape(size("k"), 1),
        ),
    )
    return (
        Text(
            Inline.of(
                "For ",
                nt.BATCH,
                " samples at once, each sample is a row: ",
                Math.of(batch("x", None), Token.EQUALS, batch("h", "0")),
                " is ",
                shape(nt.BATCH, size(0)),
                ", ",
                Math.of(batch("y", None), Token.COMMA, batch("yhat", None)),
                " are ",
                shape(nt.BATCH, size("L")),
                ", ",
                Token.ONES,
                " is a column of ones, and the loss ",
                nt.MEAN_LOSS,
                " is the mean over the batch. Row ",
                nt.SAMPLE,
                " of ",
                Math.of(batch("a", "k", True), Token.EQUALS)
                + gradient_of(batch("a", "k"), nt.MEAN_LOSS),
                " is ",
                sample_row("a"),
                "; the parameter gradients add up the rows:",
            )
        ),
        Display(rows),
    )
