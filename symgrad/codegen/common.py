"""What every code target shares: the provenance header, the comments, statements in blocks.

Part of the targets stage (program -> **targets**). The comment above each block of generated code
is the equation of the step the block implements, printed from the derivation (so its number is
the one of the notes), followed by the notes of its statements; the header names the one command
that remakes the file, built here and nowhere else.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from symgrad import header, printing
from symgrad import notation as nt
from symgrad.derivation import Derivation, StepId
from symgrad.errors import SpecError
from symgrad.network import Network
from symgrad.program import Program, Statement
from symgrad.program.lower import SCALAR_MAX_PARAMETERS
from symgrad.spec import NetworkSpec

#: Largest network (number of scalar parameters ``sum_k n_k (n_{k-1} + 1)``) written out scalar
#: by scalar (``--style unrolled``); 2-8-8-2 has 114, 4-16-3 has 131, 10-20-10 has 430.
UNROLLED_MAX_PARAMETERS = SCALAR_MAX_PARAMETERS

#: Longest line of generated code (the project's ruff setting).
LINE_LENGTH = 100
#: Column of the statements in a function body.
BODY_INDENT = 4


def check_dtype(target: str, dtypes: tuple[str, ...], dtype: str | None) -> None:
    """Refuse a ``--dtype`` the target does not have (any, for a target whose code follows the
    dtype of its inputs)."""
    if dtype is None or dtype in dtypes:
        return
    if not dtypes:
        raise SpecError(
            f"--target {target} computes in the dtype of its inputs (float32 when every "
            "parameter and X are float32, else float64); --dtype is for --target c"
        )
    raise SpecError(
        f"unknown --dtype {dtype!r} for --target {target}; use one of {', '.join(dtypes)}"
    )


def check_style(spec: NetworkSpec, style: str, styles: tuple[str, ...]) -> None:
    """Refuse an unknown style, or ``unrolled`` on too large a network."""
    if style not in styles:
        raise SpecError(f"unknown style {style!r}; use one of {', '.join(styles)}")
    if style == "unrolled" and spec.parameter_count > UNROLLED_MAX_PARAMETERS:
        raise SpecError(
            f"the unrolled style writes every scalar out and is limited to "
            f"{UNROLLED_MAX_PARAMETERS} parameters; {'-'.join(map(str, spec.sizes))} has "
            f"{spec.parameter_count}; use --style "
            + " or ".join(s for s in styles if s != "unrolled")
        )


def command_for(
    spec: NetworkSpec,
    target: str,
    style: str,
    *,
    default_target: str,
    default_style: str,
    extra: Mapping[str, str | None] | None = None,
) -> str:
    """``symgrad codegen <sizes> [options]``: the one command that remakes a generated file
    (:func:`symgrad.header.command`), options at their default value left out.

    ``extra`` holds the other code options by name (``dtype`` when it is not the target's
    default, ``blas``), None where not given.
    """
    code = {
        "target": target if target != default_target else None,
        "style": style if style != default_style else None,
        **(extra or {}),
    }
    return header.command(spec, code)


def notes_command(spec: NetworkSpec) -> str:
    """The command that makes the notes whose equation numbers the comments cite."""
    return header.command(spec, {}, verb="latex")


def header_lines(command: str, comment: str = "#") -> list[str]:
    """The first lines of a generated file (:func:`symgrad.header.lines`)."""
    return header.lines(command, comment)


@dataclass(frozen=True)
class Block:
    """Statements with the comment lines above them (the equation they implement)."""

    comments: tuple[str, ...]
    code: tuple[str, ...]
    blank_before: bool = True


def comment_lines(texts: Iterable[str], indent: int = BODY_INDENT) -> tuple[str, ...]:
    """Comment paragraphs wrapped to the line length (the template adds ``# `` or ``// ``)."""
    width = LINE_LENGTH - indent - 2
    lines: list[str] = []
    for text in texts:
        lines += textwrap.wrap(
            text,
            width=width,
            break_long_words=False,
            break_on_hyphens=False,
            subsequent_indent="  ",
        ) or [""]
    return tuple(lines)


def equation(derivation: Derivation, id: StepId) -> str:  # noqa: A002 - the step's id
    """``(eq. N) lhs = rhs`` of a step, in the Unicode of the terminal printout."""
    step = derivation.step(id)
    text = f"{printing.unicode(step.lhs)} = {printing.unicode(step.final)}"  # type: ignore[arg-type]
    if not step.number:  # the gradient with respect to the input: not in the notes
        return f"(not in the notes) {text}"
    return f"(eq. {step.number}) {text}"


def sentence(note: str) -> str:
    """A note as a sentence: a capital first letter (unless it names a function, ``g'(a)``,
    ``sigmoid'(a)``), a full stop at the end."""
    note = note.strip()
    if not note:
        return note
    first = re.match(r"[a-z]+", note)
    if first is not None and note[first.end() : first.end() + 1] not in {"'", "(", "_"}:
        note = note[0].upper() + note[1:]
    return note if note.endswith((".", ")")) else note + "."


def statement_blocks(
    derivation: Derivation,
    statements: Sequence[Statement],
    lines: Callable[[Statement], list[str]],
    extra_notes: Callable[[list[Statement]], list[str]] | None = None,
) -> list[Block]:
    """Consecutive statements of one step in one block, under that step's equation and notes.

    ``lines(statement)`` prints a statement; ``extra_notes(group)`` adds a target's own remarks
    on a block (such as which arrays it overwrites).
    """
    blocks: list[Block] = []
    group: list[Statement] = []

    def close() -> None:
        if not group:
            return
        comments: list[str] = []
        step = group[0].step
        if step is not None:
            comments.append(equation(derivation, step))
        notes = [statement.note for statement in group]
        notes += extra_notes(list(group)) if extra_notes else []
        for note in notes:
            text = sentence(note)
            if text and text not in comments:
                comments.append(text)
        code = [line for statement in group for line in lines(statement)]
        blocks.append(Block(comment_lines(comments), tuple(code)))
        group.clear()

    for statement in statements:
        if group and statement.step != group[0].step:
            close()
        group.append(statement)
    close()
    return blocks


def program_description(program: Program) -> list[str]:
    """Plain-text paragraphs on the network, for a generated file's opening comment."""
    spec = program.spec
    L = spec.depth
    pair = spec.pair
    if L > 1 and spec.uniform_activation:
        hidden = f"hidden activation g = {spec.activation(1).name}, "
    elif L > 1:
        hidden = (
            "hidden activations "
            + ", ".join(f"g_{k} = {spec.activation(k).name}" for k in range(1, L))
            + ", "
        )
    else:
        hidden = "no hidden layer, "
    net = "-".join(map(str, spec.sizes))
    paragraphs = [
        f"Network {net}: layer sizes n = {tuple(spec.sizes)!r}, {hidden}output yhat = "
        f"{pair.output.name}({nt.quantity('a', L).text}), per-sample loss {pair.loss.display}, "
        f"{pair.loss.formula}; the loss of a batch is the mean over its rows.",
        "Layer k computes a_k = b_k + W_k h_{k-1} from h_0 = x"
        + (", then h_k = g(a_k)." if L > 1 else "."),
    ]
    network = Network(spec)
    paragraphs += network.comments("code")
    if pair.assumes_targets_sum_to_one:
        paragraphs.append(
            "The notes simplify grad_{a_L} L = yhat sum_i y_i - y to yhat - y under sum_i y_i = 1 "
            "(one-hot or probability targets); the code uses the general form, so it is the "
            "gradient of `loss` for any Y."
        )
    return paragraphs
