"""``symgrad export-weights``: trained parameters as a C initialiser for a generated C network.

Part of the C target. :func:`export_weights` reads a ``.npz`` file (``W1`` ... ``WL``, ``b1`` ...
``bL``, as ``numpy.savez(path, **params)`` writes them; read without unpickling anything) and the
header ``NAME.h`` that ``symgrad codegen --target c`` wrote, and returns a header that defines

    static const real_t NAME_STEM[NAME_N_PARAMS] = { ... };

in the layout of ``params`` (``W1`` row-major, ``b1``, ``W2``, ...), every value a hexadecimal
floating literal (``0x1.8p-3``) of ``real_t``: the file holds the exact bits, so a C program that
uses it computes with exactly the parameters Python saved (converted to ``float`` for a
``--dtype float`` network, rounded to nearest).
"""

from __future__ import annotations

import re
import textwrap
import zipfile
from pathlib import Path

import numpy as np

from symgrad import notation as nt
from symgrad.codegen.common import LINE_LENGTH, header_lines
from symgrad.errors import SymgradError


class WeightsError(SymgradError):
    """A parameter file or a header that cannot be exported."""


class NetworkHeader:
    """What ``NAME.h`` says of the network: the prefix of its names, real type and sizes."""

    def __init__(self, path: Path) -> None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise WeightsError(f"cannot read the header {path}: {exc}") from None

        def find(pattern: str) -> str:
            match = re.search(pattern, text, flags=re.MULTILINE)
            if match is None:
                raise WeightsError(
                    f"{path} is not a header written by symgrad codegen --target c; give the "
                    "NAME.h written with the network's NAME.c"
                )
            return match.group(1)

        self.path = path
        self.prefix = find(r"^int (\w+)_loss_and_gradients\(")
        self.macro = self.prefix.upper()
        self.real = find(r"^typedef (double|float) real_t;$")
        sizes = find(rf"^#define {re.escape(self.macro)}_LAYER_SIZES \{{([0-9, ]+)\}}$")
        self.sizes = tuple(int(n) for n in sizes.split(","))
        self.shapes: dict[str, tuple[int, ...]] = nt.parameter_shapes(self.sizes)


def header_path(name: str) -> Path:
    """``--header``'s file: ``NAME.h`` as given, the ``NAME.h`` of a ``NAME.c``, or ``NAME.h``
    for a bare ``NAME``."""
    path = Path(name)
    if path.suffix in (".h", ".c"):
        return path.with_suffix(".h")
    return path.with_name(path.name + ".h")


def read_parameters(path: Path, shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """The arrays of ``path`` (a ``.npz``) with exactly the keys and shapes of ``shapes``,
    finite and real; nothing in the file is unpickled."""
    if not path.is_file():
        raise WeightsError(f"{path} does not exist or is not a file")
    if not zipfile.is_zipfile(path):
        raise WeightsError(
            f"{path} is not a .npz file; save the parameters with numpy.savez(path, **params)"
        )
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except ValueError as exc:
        reason = (
            "it holds Python objects, which are never unpickled" if "pickle" in str(exc) else exc
        )
        raise WeightsError(f"cannot read {path} as parameters: {reason}") from None
    except (OSError, zipfile.BadZipFile, EOFError, KeyError) as exc:
        raise WeightsError(f"cannot read {path} as a .npz file of parameters: {exc}") from None
    missing = [key for key in shapes if key not in arrays]
    extra = sorted(key for key in arrays if key not in shapes)
    if missing or extra:
        problem = []
        if missing:
            problem.append(f"has no {', '.join(missing)}")
        if extra:
            problem.append(f"has {', '.join(extra)}, which the network does not")
        expected = ", ".join(f"{k} {v}" for k, v in shapes.items())
        raise WeightsError(f"{path} {' and '.join(problem)}; expected {expected}")
    for key, shape in shapes.items():
        value = arrays[key]
        if value.shape != shape:
            raise WeightsError(f"{path}: {key} has shape {value.shape}; expected {shape}")
        if value.dtype.kind not in "fiu":
            raise WeightsError(f"{path}: {key} holds {value.dtype} values; expected real numbers")
        if not np.all(np.isfinite(value)):
            index = tuple(int(i) for i in np.argwhere(~np.isfinite(value))[0])
            raise WeightsError(
                f"{path}: {key}{list(index)} is {value[index]}; parameters must be finite"
            )
    return {key: arrays[key] for key in shapes}


def hex_literal(value: float, real: str) -> str:
    """``value`` (exactly a ``real_t``) as a C hexadecimal floating literal: ``0x1.8p-3``
    (``0x1.8p-3f`` for float)."""
    text = float(value).hex()
    mantissa, exponent = text.split("p")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}p{exponent}" + ("f" if real == "float" else "")


def export_weights(
    params_path: Path, header: Path, command: str, output_stem: str = "weights"
) -> str:
    """The text of the weights header for the network of ``header`` (see the module)."""
    network = NetworkHeader(Path(header))
    arrays = read_parameters(Path(params_path), network.shapes)
    real = np.float64 if network.real == "double" else np.float32
    # NAME_<stem of -o>: an identifier whatever the stem (characters outside [A-Za-z0-9_] as _).
    name = f"{network.prefix}_{re.sub(r'[^A-Za-z0-9_]', '_', output_stem)}"
    guard = name.upper() + "_H"
    net = "-".join(map(str, network.sizes))
    lines = [*header_lines(command, comment="//"), "//"]
    about = (
        f"The parameters of the {net} network of {network.path.name} as a C initialiser, in the "
        "layout of params (W1 row-major, b1, W2, ...): each a hexadecimal literal of real_t "
        f"({network.real}), so that the bits are exactly those of {Path(params_path).name}."
    )
    lines += [
        f"// {line}" for line in textwrap.wrap(about, width=LINE_LENGTH - 3, break_on_hyphens=False)
    ]
    lines += [
        f"#ifndef {guard}",
        f"#define {guard}",
        "",
        f'#include "{network.path.name}"',
        "",
        f"static const real_t {name}[{network.macro}_N_PARAMS] = {{",
    ]
    for key, shape in network.shapes.items():
        lines.append(f"    // {key} ({' x '.join(map(str, shape))})")
        values = np.asarray(arrays[key], dtype=real).ravel()
        current = "   "
        for value in values:
            piece = f" {hex_literal(float(value), network.real)},"
            if len(current) + len(piece) > LINE_LENGTH:
                lines.append(current)
                current = "   "
            current += piece
        if current.strip():
            lines.append(current)
    lines += ["};", "", "#endif"]
    return "\n".join(lines) + "\n"


__all__ = ["NetworkHeader", "WeightsError", "export_weights", "header_path", "hex_literal"]
