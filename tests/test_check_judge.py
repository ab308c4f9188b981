"""Wrong gradients fail, and nothing unverified passes: ``symgrad check``'s two judges.

Each case below PASSed the checker that compared the code with central differences alone and
counted what they could not resolve as agreement: gradients of zero beside a loss with a
deterministic jitter, a loss memoized on the identity of its input, a first-layer gradient of a
deep sigmoid network doubled, zeroed or negated (its entries, near 1e-17, are below what
central differences resolve), a module of another network than its header names, a C file
whose header claims ``--dtype float`` to get float32's tolerance. They FAIL now, because the
code is also compared, entry by entry, with symgrad's own evaluation of the network the header
names. Without that evaluation (past its time limit) the check says UNVERIFIED, never PASS.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import Named
from conftest import run_cli as run

from symgrad.check.limits import Limits
from symgrad.check.run import check_file
from symgrad.codegen import generate_module
from symgrad.pipeline import derive
from symgrad.spec import NetworkSpec

try:
    import mutants
except ImportError:  # run from the repository root
    from tests import mutants

pytestmark = pytest.mark.sandbox


def body_of(text: str, function: str) -> tuple[int, int]:
    """The lines (first after the docstring, last) of a top-level function of a module."""
    import ast

    tree = ast.parse(text)
    (node,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == function]
    first = node.body[1] if isinstance(node.body[0], ast.Expr) else node.body[0]
    return first.lineno, node.end_lineno or node.lineno


def replace_body(text: str, function: str, body: str) -> str:
    """``text`` with the body of ``function`` (after its docstring) replaced by ``body``."""
    start, end = body_of(text, function)
    lines = text.splitlines(keepends=True)
    indented = "".join(f"    {line}\n" if line else "\n" for line in body.strip().splitlines())
    return "".join([*lines[: start - 1], indented, *lines[end:]])


#: A loss with a deterministic jitter of up to 5% and gradients of zero: central differences
#: of the jittered loss resolve nothing, so every entry was "below resolution". RESULT wraps
#: the loss as the target returns it.
NOISY = {
    "loss": (
        "np = __import__('numpy')\n"
        "value = _exact_loss(params, X, Y)\n"
        "seed = float(np.sum(np.abs(np.asarray(X, dtype=np.float64))))\n"
        "for p in params.values():\n"
        "    seed += float(np.sum(np.abs(np.asarray(p, dtype=np.float64)) * 1e3))\n"
        "return RESULT(value * (1 + 0.05 * np.sin(1e6 * seed)))"
    ),
    "gradients": (
        "np = __import__('numpy')\n"
        "return {k: np.zeros_like(np.asarray(v)) for k, v in params.items()}"
    ),
    "loss_and_gradients": "return loss(params, X, Y), gradients(params, X, Y)",
}
#: A loss that answers the first value it computed for an input object (as long as the
#: object holds the same numbers, so that a reused id gives nothing away), with gradients of
#: zero: every difference quotient was 0, and so was every error.
MEMOIZED = {
    "loss": (
        "np = __import__('numpy')\n"
        "hit = _MEMO.get(id(X))\n"
        "if hit is not None and np.array_equal(hit[0], X) and np.array_equal(hit[1], Y):\n"
        "    return hit[2]\n"
        "value = _exact_loss(params, X, Y)\n"
        "_MEMO[id(X)] = (np.array(X, copy=True), np.array(Y, copy=True), value)\n"
        "return value"
    ),
    "gradients": NOISY["gradients"],
    "loss_and_gradients": NOISY["loss_and_gradients"],
}


def python_attack(text: str, bodies: dict[str, str], result: str) -> str:
    """A NumPy or array-API module whose functions get ``bodies`` (the generated loss stays,
    as ``_exact_loss``); ``result`` makes the loss's type (``float``, ``np.asarray``)."""
    exact = text.replace("\ndef loss(", "\ndef _exact_loss(", 1)
    exact += "\n\n_MEMO = {}\n\n\ndef loss(params, X, Y):\n    pass\n"
    for function, body in bodies.items():
        exact = replace_body(exact, function, body.replace("RESULT", result))
    return exact


@pytest.mark.parametrize("attack", ["noisy", "memoized"])
@pytest.mark.parametrize("target", ["numpy", "array-api"])
def test_zero_gradients_beside_a_forged_loss_fail(tmp_path: Path, attack: str, target: str) -> None:
    text, _ = mutants.generated(NetworkSpec.parse([3, 4, 2]), target)
    result = "float" if target == "numpy" else "np.asarray"
    forged = python_attack(text, NOISY if attack == "noisy" else MEMOIZED, result)
    status, out, err = run(["check", str(mutants.write(tmp_path, forged))])
    assert status == 1, out + err
    assert out.rstrip().endswith("FAIL")
    assert re.search(r"^W1 .*FAIL", out, flags=re.MULTILINE), out


NOISY_C = """
static double jitter(const real_t *params, const real_t *X, int batch)
{
    double seed = 0;
    for (int i = 0; i < 26; ++i) seed += 1e3 * (params[i] < 0 ? -params[i] : params[i]);
    for (int i = 0; i < 3 * batch; ++i) seed += X[i] < 0 ? -X[i] : X[i];
    return 1 + 0.05 * sin(1e6 * seed);
}
"""


def test_zero_gradients_beside_a_noisy_loss_fail_in_c(tmp_path: Path) -> None:
    text, header = mutants.generated(NetworkSpec.parse([3, 4, 2]), "c", "unrolled")
    prefix = mutants.c_stem(text)
    text = text.replace("#include <stddef.h>\n", "#include <stddef.h>\n" + NOISY_C, 1)
    # The loss jittered, every gradient zero.
    loss_end = f"int {prefix}_loss("
    head, tail = text.split(loss_end, 1)
    tail = tail.replace("    *loss = ", "    *loss = jitter(params, X, batch) * ", 1)
    text = head + loss_end + tail
    grad_start = f"int {prefix}_loss_and_gradients("
    head, tail = text.split(grad_start, 1)
    tail = re.sub(r"(\n    grad\[\d+\] = )[^;]+;", r"\g<1>0;", tail)
    text = head + grad_start + tail
    path = mutants.write(tmp_path, text, header)
    status, out, err = run(["check", str(path)])
    assert status == 1, out + err
    assert out.rstrip().endswith("FAIL")


def deep(depth: int) -> str:
    """The vectorized module of 3-4x``depth``-2 with sigmoid hidden layers."""
    spec = NetworkSpec.parse([3, *[4] * depth, 2])
    return generate_module(derive(spec, prove=False), "vectorized")


@pytest.fixture(scope="module")
def deep_modules() -> dict[int, str]:
    return {depth: deep(depth) for depth in (21, 24, 30)}


#: dW1 doubled, zeroed and negated in the 3-4x24-2 network, doubled and zeroed at depth 21,
#: negated at depth 30 (each check of so deep a network takes seconds).
DEEP_CASES = [(24, "* 2"), (24, "* 0"), (24, "* -1"), (21, "* 2"), (21, "* 0"), (30, "* -1")]


@pytest.mark.parametrize(("depth", "change"), DEEP_CASES)
def test_a_wrong_first_layer_of_a_deep_sigmoid_network_fails(
    tmp_path: Path, deep_modules: dict[int, str], depth: int, change: str
) -> None:
    """``dW1`` of the order of 1e-17, below what central differences resolve."""
    text = deep_modules[depth]
    line = next(ln for ln in text.splitlines() if ln.strip().startswith("dW1 = "))
    path = tmp_path / "deep.py"
    path.write_text(text.replace(line, f"{line} {change}"), encoding="utf-8")
    report = check_file(path, batch=2)
    assert report.verdict == "FAIL", report.report()
    w1 = next(e for e in report.entries if e.key == "W1")
    assert w1.failures() > 0
    assert re.search(r"^W1 .*FAIL", report.report(), flags=re.MULTILINE)


def test_without_symgrad_s_evaluation_nothing_unresolved_passes(
    tmp_path: Path, deep_modules: dict[int, str]
) -> None:
    """The same network, correct and with ``dW1`` doubled, when symgrad's evaluation does not
    come in time: central differences alone cannot tell them apart, and neither PASSes."""
    text = deep_modules[24]
    line = next(ln for ln in text.splitlines() if ln.strip().startswith("dW1 = "))
    right, doubled = tmp_path / "right.py", tmp_path / "doubled.py"
    right.write_text(text, encoding="utf-8")
    doubled.write_text(text.replace(line, f"{line} * 2"), encoding="utf-8")
    report = check_file(right, batch=2, limits=Limits(reference_time=1e-3))
    assert report.verdict == "UNVERIFIED", report.report()
    status, out, _ = run(["check", str(doubled), "--batch", "2", "--limit", "reference-time=0.001"])
    assert status == 1, out
    for shown in (report.report(), out):
        assert "unverified:" in shown
        assert re.search(r"W1\[\d,\d\], \w+, [^:]+: \de[-+]\d\d", shown), shown
        assert shown.rstrip().endswith("UNVERIFIED")


def test_a_module_of_another_network_fails(tmp_path: Path) -> None:
    """A tanh module under a header that names sigmoid: forward and the gradients are not the
    sigmoid network's, and the report says which."""
    text = generate_module(derive(NetworkSpec.parse([3, 4, 2], "tanh"), prove=False))
    first, rest = text.split("\n", 1)
    assert "--activation tanh" in first
    path = tmp_path / "tanh.py"
    path.write_text(first.replace(" --activation tanh", "") + "\n" + rest, encoding="utf-8")
    status, out, _ = run(["check", str(path)])
    assert status == 1, out
    assert "hidden activation sigmoid" in out
    assert "FAIL  forward (forward) is not that of the network the header names" in out
    assert re.search(r"^W1 .*FAIL", out, flags=re.MULTILINE)


def test_a_c_file_cannot_claim_float_in_a_comment(tmp_path: Path) -> None:
    """A double C file with one gradient entry off by 5e-4 and a header that says
    ``--dtype float``: checked as the double code it is (its ``real_t``), it fails."""
    text, header = mutants.generated(NetworkSpec.parse([3, 4, 2]), "c", "unrolled")
    grad = re.search(r"\n    grad\[3\] = ([^;]+);", text)
    assert grad is not None
    text = text.replace(grad.group(0), f"\n    grad[3] = 1.0005 * ({grad.group(1)});", 1)
    command = text.splitlines()[0]
    lie = command + " --dtype float"
    text = text.replace(command, lie, 1)
    header = header.replace(command, lie, 1)  # type: ignore[union-attr]
    path = mutants.write(tmp_path, text, header)
    status, out, _ = run(["check", str(path)])
    assert status == 1, out
    assert "computing in float64" in out
    assert "the header names --dtype float but the code computes in float64" in out
    assert re.search(r"^W1 .*FAIL", out, flags=re.MULTILINE), out


@pytest.mark.parametrize("factor", ["1.001", "1.0005"])
def test_float32_is_judged_by_its_own_noise(tmp_path: Path, factor: str) -> None:
    """A float C file with the bias gradient b1[2] off by a factor 1.001 or 1.0005 (both within
    the 1e-3 floor that float32 had): that entry's float32 noise is far smaller, so it fails,
    with the bound it had in the report; the file as generated passes."""
    case = Named("3-4-2", (3, 4, 2), "tanh")
    text, header = mutants.generated(case.spec(), "c", "unrolled", "float")
    assert check_file(mutants.write(tmp_path / "right", text, header)).verdict == "PASS"
    grad = re.search(r"\n    grad\[13\] = (db1_1);", text)  # b1[2], 1-based
    assert grad is not None
    wrong = text.replace(grad.group(0), f"\n    grad[13] = (real_t){factor} * db1_1;", 1)
    report = check_file(mutants.write(tmp_path / "wrong", wrong, header))
    out = report.report()
    assert report.verdict == "FAIL", out
    row = next(line for line in out.splitlines() if line.startswith("b1 ") and "b1[2]" in line)
    assert "FAIL" in row
    allowed = re.search(r"\s(\de-\d\d)\s+FAIL", row)
    assert allowed is not None and float(allowed.group(1)) < 1e-4, row
