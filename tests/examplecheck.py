"""Checks of the worked example against the generated NumPy module, and of printed numbers.

The example's numbers come from symgrad's program; these checks compare them with what the
generated NumPy module computes on the same parameters and data, and compare the numbers printed
in the notes and the slides with the JSON values rounded to 4 significant digits, parsed back out
of the rendered text. Each check returns the list of what disagrees (empty when all agree), so a
test can also show that it fails on a broken input.
"""

from __future__ import annotations

import importlib.util
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from symgrad.codegen import generate_module
from symgrad.pipeline import derive
from symgrad.spec import NetworkSpec

#: Relative agreement required between the example and the generated module (float64).
RELATIVE = 1e-12


def generated_module(argv: Sequence[str]) -> ModuleType:
    """The module ``symgrad codegen ARGV`` writes (sizes and common options), imported from a
    temporary file. Built without the proof, which does not change the code."""
    sizes = [a for a in argv if a.isdigit()]
    options = dict(zip(argv[len(sizes) :: 2], argv[len(sizes) + 1 :: 2], strict=True))
    spec = NetworkSpec.parse(
        sizes, options.get("--activation"), options.get("--output"), options.get("--loss")
    )
    source = generate_module(derive(spec, prove=False))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "net.py"
        path.write_text(source, encoding="utf-8")
        name = "example_check_" + "_".join(re.sub(r"\W", "_", a) for a in argv)
        module_spec = importlib.util.spec_from_file_location(name, path)
        assert module_spec is not None and module_spec.loader is not None
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    return module


def _options(activation: str | None, output: str | None, loss: str | None) -> list[str]:
    args = []
    for flag, value in (("--activation", activation), ("--output", output), ("--loss", loss)):
        if value is not None:
            args += [flag, value]
    return args


def module_values(
    sizes: Sequence[int],
    activations: Sequence[str],
    output: str | None,
    loss: str | None,
    params: Mapping[str, np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
) -> dict[str, np.ndarray]:
    """Every quantity of the example as generated NumPy modules compute it.

    ``yhat``, ``loss``, ``grad_W`` and ``grad_b`` from the module of the network; ``grad_a_k`` is
    the module's ``grad_b_k`` (``b_k`` enters ``a_k`` with weight 1); ``a_k`` is ``forward`` of the
    module of the first ``k`` layers with an identity output, and ``h_k`` the same with one more
    layer ``W = I``, ``b = 0``, identity output (both exact in float64); ``grad_h_k`` is
    ``W_{k+1}^T grad_a_{k+1}`` of the module's numbers.
    """
    L = len(sizes) - 1
    args = [str(n) for n in sizes]
    activation = ",".join(activations) if activations else None
    full = generated_module([*args, *_options(activation, output, loss)])
    values: dict[str, np.ndarray] = {
        "yhat": np.asarray(full.forward(params, x)),
        "loss": np.asarray(full.loss(params, x, y)),
    }
    gradients = full.gradients(params, x, y)
    for k in range(1, L + 1):
        values[f"grad_W{k}"] = gradients[f"W{k}"]
        values[f"grad_b{k}"] = gradients[f"b{k}"]
        values[f"grad_a{k}"] = gradients[f"b{k}"]
    for k in range(1, L + 1):
        head = args[: k + 1]
        hidden = list(activations[: k - 1])
        prefix = {f"{p}{j}": params[f"{p}{j}"] for j in range(1, k + 1) for p in "Wb"}
        options = _options(",".join(hidden) if hidden else None, "identity", "squared-error")
        values[f"a{k}"] = np.asarray(generated_module([*head, *options]).forward(prefix, x))
        if k < L:
            n = sizes[k]
            layers = [*hidden, activations[k - 1]]
            more = {**prefix, f"W{k + 1}": np.eye(n), f"b{k + 1}": np.zeros(n)}
            options = _options(",".join(layers), "identity", "squared-error")
            module = generated_module([*head, str(n), *options])
            values[f"h{k}"] = np.asarray(module.forward(more, x))
            values[f"grad_h{k}"] = params[f"W{k + 1}"].T @ values[f"grad_a{k + 1}"]
    return values


def disagreements(
    example: Mapping[str, Any], expected: Mapping[str, np.ndarray], relative: float = RELATIVE
) -> list[str]:
    """The quantities of ``example`` (the JSON object) that differ from ``expected`` by more
    than ``relative`` of the largest entry, or are missing."""
    found = []
    for name, want in expected.items():
        if name not in example:
            found.append(f"{name} is missing")
            continue
        have = np.asarray(example[name], dtype=np.float64)
        want = np.asarray(want, dtype=np.float64)
        scale = max(float(np.max(np.abs(want))), 1e-300)
        if have.shape != want.shape or np.max(np.abs(have - want)) > relative * scale:
            found.append(f"{name}: {have.tolist()} != {want.tolist()}")
    return found


# Numbers printed in rendered text -----------------------------------------------------------

_NUMBER = re.compile(r"(?<![\w.{^_])-?\d+\.\d+(?: \\times 10\^\{-?\d+\})?")


def parse_number(text: str) -> float:
    """``-0.1234`` or ``1.235 \\times 10^{-5}`` as a float."""
    if "times" in text:
        mantissa, exponent = re.match(r"(-?[\d.]+) \\times 10\^\{(-?\d+)\}", text).groups()  # type: ignore[union-attr]
        return float(f"{mantissa}e{exponent}")
    return float(text)


def rounded(value: float) -> float:
    return float(f"{value:.4g}")


def rounded_values(example: Mapping[str, Any]) -> set[float]:
    """Every number of the JSON object, rounded to 4 significant digits, with its sign flipped
    too (a formula may carry a negative number's sign outside it: ``e^{0.5}`` for ``a = -0.5``)."""
    found: set[float] = set()

    def walk(value: Any) -> None:
        if isinstance(value, Mapping):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        else:
            found.add(rounded(float(value)))
            found.add(-rounded(float(value)))

    walk(example)
    return found


def matrices(text: str) -> list[list[list[float]]]:
    """Every ``bmatrix`` of numbers in ``text``, as rows of floats (matrices of formulas are
    left out)."""
    found = []
    for body in re.findall(r"\\begin\{bmatrix\}(.*?)\\end\{bmatrix\}", text, re.S):
        rows = []
        for row in re.split(r"\\\\(?:\[[^]]*\])?(?:\s*\\noalign\{[^}]*\})?", body):
            cells = [c.strip() for c in row.split("&")]
            if not all(
                re.fullmatch(r"-?\d+(?:\.\d+)?(?: \\times 10\^\{-?\d+\})?", c) for c in cells
            ):
                break
            rows.append([parse_number(c) for c in cells])
        else:
            found.append(rows)
    return found


def example_section(text: str, start: str, end: str) -> str:
    """The part of ``text`` from the heading ``start`` to ``end``."""
    assert start in text, f"no {start!r} in the text"
    return text.split(start, 1)[1].split(end, 1)[0]


def printed_math(section: str) -> str:
    """The mathematics of ``section``: its displays and its ``$...$`` (TikZ labels too), without
    the spacing between rows (``\\noalign{\\vskip 1.5ex}``, ``\\\\[1ex]``)."""
    environments = r"\\begin\{(align\*?|equation\*?)\}(.*?)\\end\{\1\}"
    displays = [body for _, body in re.findall(environments, section, re.S)]
    displays += re.findall(r"^\$\$\n(.*?)\n\$\$$", section, re.S | re.M)
    inline = re.findall(r"(?<!\$)\$([^$\n]+)\$(?!\$)", section)
    math = "\n".join(displays + inline)
    return re.sub(r"\\noalign\{[^}]*\}|\\\\\[[^]]*\]", " ", math)


def prediction_slopes(example: Mapping[str, Any], loss: str) -> list[float]:
    """``dL/dyhat`` of the example (the graph shows it; the JSON has no key for it), computed
    here from its prediction and target: ``-y/yhat`` for cross-entropy, ``(yhat - y) / (yhat
    (1 - yhat))`` for binary cross-entropy, ``yhat - y`` for squared error."""
    yhat, y = np.asarray(example["yhat"]), np.asarray(example["y"])
    slopes = {
        "cross-entropy": lambda: -y / yhat,
        "binary-cross-entropy": lambda: (yhat - y) / (yhat * (1 - yhat)),
        "squared-error": lambda: yhat - y,
    }[loss]()
    return [float(v) for v in slopes]


def stray_numbers(
    section: str, example: Mapping[str, Any], also: Iterable[float] = ()
) -> list[str]:
    """Decimal numbers in the mathematics of ``section`` that are no value of the example (nor
    one of ``also``), rounded."""
    allowed = rounded_values({"example": example, "also": list(also)}) | {0.01, -0.01}
    return [m for m in _NUMBER.findall(printed_math(section)) if parse_number(m) not in allowed]


def result_mismatches(
    displays: Iterable[tuple[str, str]], example: Mapping[str, Any], keys: Mapping[str, str]
) -> list[str]:
    """For each display ``(tag, latex)`` of the example, its result (its last matrix of numbers,
    or for the loss its last number) against the JSON value of the quantity its equation
    computes (``keys`` maps a tag to a JSON name)."""
    problems = []
    seen = set()
    for tag, latex in displays:
        name = keys.get(tag)
        if name is None:
            continue
        seen.add(name)
        want = np.vectorize(rounded)(np.asarray(example[name], dtype=np.float64))
        if want.ndim == 0:
            numbers = _NUMBER.findall(latex)
            have = np.asarray(parse_number(numbers[-1])) if numbers else None
        else:
            found = matrices(latex)
            have = np.asarray(found[-1]) if found else None
            if have is not None and want.ndim == 1:
                have = have.ravel()
        if have is None or have.shape != want.shape or not np.array_equal(have, want):
            problems.append(f"({tag}) {name}: printed {have!r}, JSON rounded {want.tolist()}")
    missing = set(keys.values()) - seen
    problems += [f"{name} is not printed" for name in sorted(missing)]
    return problems
