"""Code generation: the derivation as a NumPy module of loss and gradients (SPEC section 3).

:func:`generate_module` is the entry point; :mod:`symgrad.codegen.numpy_printer` holds the printers
and :mod:`symgrad.codegen.generate` the statements; the layout is in ``templates/numpy/``.
"""

from __future__ import annotations

from symgrad.codegen.generate import (
    STYLES,
    UNROLLED_MAX_PARAMETERS,
    default_command,
    generate_module,
)

__all__ = [
    "STYLES",
    "UNROLLED_MAX_PARAMETERS",
    "default_command",
    "generate_module",
]
