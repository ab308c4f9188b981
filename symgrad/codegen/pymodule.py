"""What every generated Python module says about itself: docstring, shapes, checks, unpacking.

Shared by the Python targets (NumPy, array API): strings for the templates, laid out as ruff
formats them.
"""

from __future__ import annotations

import textwrap

from symgrad import notation as nt
from symgrad.codegen.common import (
    LINE_LENGTH,
    header_lines,
    notes_command,
    program_description,
)
from symgrad.codegen.pylayout import return_lines, target_lines
from symgrad.network import Network
from symgrad.program import Program
from symgrad.program.ir import parameter_shapes
from symgrad.program.lower import LOSSES


def shape_text(shape: tuple[int, ...]) -> str:
    return repr(tuple(shape))


def function_outputs(program: Program) -> dict[str, tuple[str, ...]]:
    """The functions of a generated module and the program outputs each returns
    (``input_gradient`` when the program computes the gradient with respect to the input)."""
    spec = program.spec
    gradients = tuple(nt.param_key(b, k) for k in range(1, spec.depth + 1) for b in "Wb")
    functions = {
        "forward": ("yhat",),
        "loss": ("loss",),
        "gradients": ("loss", *gradients),
    }
    names = {out.name for out in program.outputs}
    if nt.SAMPLE_LOSSES in names:  # the weighted program: loss(..., reduction="none") too
        functions["loss"] = ("loss", nt.SAMPLE_LOSSES)
    if nt.INPUT_GRADIENT in names:
        functions[nt.INPUT_GRADIENT] = (nt.INPUT_GRADIENT,)
    return functions


def module_context(program: Program, style: str, command: str) -> dict[str, object]:
    """The template variables every generated Python module uses."""
    spec = program.spec
    sizes = spec.sizes
    shapes = parameter_shapes(spec)
    keys = list(shapes)
    args_fit = ", ".join(f'"{k}": {shape_text(s)}' for k, s in shapes.items())
    return {
        "style": style,
        "command": command,
        "header": header_lines(command),
        "output_name": spec.output,
        "net": "-".join(map(str, sizes)),
        "description": [
            textwrap.fill(p, width=LINE_LENGTH - 4, break_on_hyphens=False)
            for p in program_description(program)
        ],
        "layer_sizes": repr(tuple(sizes)),
        "shapes": [(k, shape_text(s)) for k, s in shapes.items()],
        "shape_lines": textwrap.wrap(
            f"params: {args_fit}",
            width=LINE_LENGTH,
            initial_indent="    ",
            subsequent_indent="        ",
            break_on_hyphens=False,
        ),
        "parameter_count": spec.parameter_count,
        "n_in": sizes[0],
        "n_out": sizes[-1],
        "labels": spec.pair.accepts_labels,
        "parameter_keys": keys,
        "unpack_parameters": target_lines(list(keys), "_parameters(params)"),
        "unpack_inputs": target_lines([list(keys), "X", "one"], "_inputs(params, X)"),
        "unpack_weights_tuple": target_lines(list(keys), "weights"),
        "return_parameters": return_lines(keys),
        "parameter_checks": _parameter_checks(shapes),
        "gradient_keys": [nt.param_key(b, k) for k in range(1, spec.depth + 1) for b in "Wb"],
        "notes_lines": textwrap.wrap(
            "Comments above the statements give the equation each implements; (eq. N) is its "
            f"number in the notes made by `{notes_command(spec)}`.",
            width=LINE_LENGTH - 4,
            break_long_words=False,
            break_on_hyphens=False,
        ),
        "loss_name": loss_variable(program),
        "losses_name": LOSSES,
        "loss_extra": _loss_extra(program),
    }


def loss_variable(program: Program) -> str:
    """The variable the program's loss is in (``value``; an objective's, under weight decay)."""
    whole = program.output("loss").whole
    assert whole is not None
    return whole.name


def _loss_extra(program: Program) -> str:
    """What the layer kinds add to the docstring of ``loss`` (their ops' ``"loss"`` remarks), as
    paragraphs after its first line (the paragraph on ``sample_weight`` follows); "" for the plain
    network."""
    remarks = Network(program.spec).comments("loss")
    paragraphs = [
        textwrap.fill(text, width=LINE_LENGTH - 4, initial_indent="    ", subsequent_indent="    ")
        for text in remarks
    ]
    return "".join(f"\n\n{paragraph}" for paragraph in paragraphs)


def _parameter_checks(shapes: dict[str, tuple[int, ...]]) -> list[str]:
    """``valid = W1.shape == (3, 3) and b1.shape == (3,)`` lines, one per layer."""
    lines = []
    keys = list(shapes)
    for n in range(0, len(keys), 2):
        w, b = keys[n], keys[n + 1]
        test = f"{w}.shape == {shape_text(shapes[w])} and {b}.shape == {shape_text(shapes[b])}"
        lines.append(f"valid = {test}" if n == 0 else f"valid = valid and {test}")
    return lines
