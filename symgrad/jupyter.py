"""Derivations shown as typeset mathematics in Jupyter and IPython.

At the top of the pipeline, beside the command line: the data of a derivation knows nothing of
its renderers, so the display is registered with IPython's formatters from here. Importing
:mod:`symgrad` inside a running IPython registers it; ``%load_ext symgrad.jupyter`` does the same
explicitly.
"""

from __future__ import annotations

import sys
from typing import Any

from symgrad.derivation import Derivation


def _latex(derivation: Derivation) -> str:
    from symgrad.render.notes import render_fragment_for_jupyter

    return render_fragment_for_jupyter(derivation)


def _markdown(derivation: Derivation) -> str:
    from symgrad.render.notes import render_markdown

    return render_markdown(derivation)


def register(shell: Any = None) -> bool:
    """Register the LaTeX and Markdown display of :class:`Derivation` with ``shell``.

    Without ``shell``, the running IPython, if any. Returns True when registered.
    """
    if shell is None:
        ipython = sys.modules.get("IPython")
        shell = ipython.get_ipython() if ipython is not None else None
    if shell is None:
        return False
    formatters = shell.display_formatter.formatters
    formatters["text/latex"].for_type(Derivation, _latex)
    formatters["text/markdown"].for_type(Derivation, _markdown)
    return True


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext symgrad.jupyter``."""
    register(ipython)
