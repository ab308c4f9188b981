"""Code generation: the program printed for a code target (numpy, and the targets registered here).

program -> **targets**. Each target is a config, a printer and a template folder
(:mod:`symgrad.codegen.config`); :func:`generate` runs one on a derivation. The header of every
file names the command that remakes it, built by :func:`default_command` alone.
"""

from __future__ import annotations

from symgrad.codegen.array_api.target import ArrayApiTarget
from symgrad.codegen.c.target import CTarget
from symgrad.codegen.common import UNROLLED_MAX_PARAMETERS
from symgrad.codegen.config import GeneratedFile, Target
from symgrad.codegen.numpy.target import NumpyTarget
from symgrad.derivation import Derivation
from symgrad.errors import SpecError
from symgrad.spec import NetworkSpec

#: Every target, by its ``--target`` name; the first is the default.
TARGETS: dict[str, Target] = {
    "numpy": NumpyTarget(),
    "array-api": ArrayApiTarget(),
    "c": CTarget(),
}
#: The styles of the NumPy target (``--style``); the first is the default.
STYLES: tuple[str, ...] = NumpyTarget.styles


def target(name: str) -> Target:
    """The target called ``name``, or :class:`SpecError` naming the ones there are."""
    if name not in TARGETS:
        raise SpecError(f"unknown target {name!r}; use one of {', '.join(TARGETS)}")
    return TARGETS[name]


def default_style(name: str) -> str:
    return target(name).styles[0]


def check_blas(chosen: Target, spec: NetworkSpec, style: str, dtype: str | None, blas: str) -> None:
    """Refuse ``--blas`` for a target without it, else what the target refuses with it."""
    if not isinstance(chosen, CTarget):
        raise SpecError(f"--blas is an option of --target c, not of --target {chosen.name}")
    chosen.check(spec, style, dtype, blas)


def default_command(
    spec: NetworkSpec,
    target_name: str = "numpy",
    style: str | None = None,
    dtype: str | None = None,
    blas: str | None = None,
) -> str:
    """``symgrad codegen <sizes and options>``: the one command that remakes a generated file.

    Options at their default are left out, so the API and the command line name the same
    command for the same file.
    """
    from symgrad.codegen.common import command_for

    chosen = target(target_name)
    extra: dict[str, str | None] = {"blas": blas}
    if dtype is not None and chosen.dtypes and dtype != chosen.dtypes[0]:
        extra["dtype"] = dtype
    return command_for(
        spec,
        target_name,
        style if style is not None else chosen.styles[0],
        default_target=next(iter(TARGETS)),
        default_style=chosen.styles[0],
        extra=extra,
    )


def generate(
    derivation: Derivation,
    target_name: str = "numpy",
    style: str | None = None,
    dtype: str | None = None,
    name: str = "mlp",
    blas: str | None = None,
) -> tuple[GeneratedFile, ...]:
    """The files of ``derivation`` for a target, in a style and dtype (the target's defaults
    when None). ``name`` is the stem of the output file, which a target may use for its public
    names (C's ``NAME_loss``); ``blas`` names the BLAS library of C's products (``--blas``).
    """
    chosen = target(target_name)
    if not derivation.network.input_gradient:  # generated code has ``input_gradient``
        from symgrad.pipeline import derive

        proved = derivation.proof is not None
        derivation = derive(derivation.spec, prove=proved, input_gradient=True)
    style = style if style is not None else chosen.styles[0]
    if dtype is None and chosen.dtypes:
        dtype = chosen.dtypes[0]
    command = default_command(derivation.spec, target_name, style, dtype, blas)
    if blas is None:
        chosen.check(derivation.spec, style, dtype)
        return chosen.generate(derivation, style, dtype, command, name)
    check_blas(chosen, derivation.spec, style, dtype, blas)
    assert isinstance(chosen, CTarget)
    return chosen.generate(derivation, style, dtype, command, name, blas=blas)


def generate_module(derivation: Derivation, style: str = "vectorized") -> str:
    """The source of the generated NumPy module for ``derivation`` in ``style``."""
    (module,) = generate(derivation, "numpy", style)
    return module.text


__all__ = [
    "STYLES",
    "TARGETS",
    "UNROLLED_MAX_PARAMETERS",
    "check_blas",
    "GeneratedFile",
    "Target",
    "default_command",
    "generate",
    "generate_module",
    "target",
]
