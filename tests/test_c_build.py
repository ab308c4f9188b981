"""The C target's build and speed features: flags, products, style choice, init, lean calls.

1. The flags: one place (:func:`~symgrad.codegen.c.build.compile_flags`), nothing of
   ``-ffast-math``; ``symgrad check`` compiles through the same function as ``load_c``; the tile
   follows the vector unit the compiler reports; float32 gradients at saturated softmax outputs
   as accurate as torch's (and an unstable form fails that measure).
2. ``--blas cblas``: the products as CBLAS calls, the same numbers, ``symgrad check`` accepts
   ``<cblas.h>`` for such files only.
3. ``--style auto`` decides from statement counts and says so; the scalar program grows
   linearly with the output width.
4. ``NAME_init_params`` is the documented generator, bit for bit; the scratch sizes; the lean
   calls on flat parameters (no copy, the same numbers as the dict calls).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from types import ModuleType
from typing import Any

import cffi
import numpy as np
import pytest
import sympy as sp
import torch
from conftest import import_file as _import

from symgrad.check import check_file
from symgrad.cli import main
from symgrad.codegen import generate
from symgrad.codegen.c import build
from symgrad.codegen.c.build import FileFacts, compile_flags, tile_defines
from symgrad.codegen.c.init import init_params
from symgrad.codegen.c.loader import CNetwork, build_library, load_c, load_library
from symgrad.codegen.c.target import AUTO_UNROLLED_STATEMENTS
from symgrad.errors import SymgradError
from symgrad.ops import output_loss
from symgrad.pipeline import derive
from symgrad.program import lower_scalar
from symgrad.spec import NetworkSpec


def write_c(folder: Path, sizes: list[int], *options: str, name: str = "net") -> Path:
    """``symgrad codegen SIZES --target c OPTIONS -o folder/name.c``; returns the .c path."""
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / f"{name}.c"
    assert main(["codegen", *map(str, sizes), "--target", "c", *options, "-o", str(source)]) == 0
    return source


def reference(folder: Path, sizes: list[int], *options: str) -> ModuleType:
    """The NumPy module of the same network."""
    path = folder / f"ref_{'_'.join(map(str, sizes))}.py"
    assert main(["codegen", *map(str, sizes), *options, "-o", str(path)]) == 0
    return _import(path)


def relative_error(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-300))


# ------------------------------------------------------------------------------------------------
# 1. Flags
# ------------------------------------------------------------------------------------------------


def test_the_flags_keep_ieee_arithmetic() -> None:
    facts = FileFacts("NET", "looped", "double", "packed")
    attempts = compile_flags(facts)
    assert attempts, "at least one way to compile"
    for attempt in attempts:
        flags = " ".join(attempt.flags)
        for changes_results in ("fast-math", "associative", "finite-math", "reciprocal", "Ofast"):
            assert changes_results not in flags, flags
        assert "-O3" in attempt.flags and "-ffp-contract=fast" in attempt.flags
    assert attempts[-1].flags[: len(build.COMPILE_FLAGS)] == build.COMPILE_FLAGS


def test_check_compiles_as_load_c_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both go through build_c, which takes its flags from compile_flags alone: the flags the
    sandboxed compiler reports (and the report prints) are the ones load_c used here."""
    source = write_c(tmp_path, [3, 4, 2], "--style", "looped")
    seen: list[Any] = []
    original = build.build_library

    def recording(*args: Any, **kwargs: Any) -> Any:
        built = original(*args, **kwargs)
        seen.append(built)
        return built

    monkeypatch.setattr(build, "build_library", recording)
    load_c(source)
    report = check_file(source)
    assert report.passed
    assert len(seen) == 1 and "-O3" in seen[0].flags
    assert report.compiled == seen[0].describe()
    assert f"\ncompiled with {seen[0].describe()}\n" in report.report()


def test_check_reports_other_flags_than_load_c_s_as_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mutation test of the comparison above: with other flags in this process only, load_c's
    build and the sandbox's no longer agree, and the comparison sees it."""
    source = write_c(tmp_path, [3, 4, 2], "--style", "looped")
    original = build.compile_flags

    def other(facts: FileFacts, compiler: str | None = None) -> list[Any]:
        return [build.Attempt((*a.flags, "-O1")) for a in original(facts, compiler)]

    monkeypatch.setattr(build, "compile_flags", other)
    built = build.build_c(source, tmp_path / "build")
    assert check_file(source).compiled != built.describe()


@pytest.mark.parametrize(
    ("defined", "real", "expected"),
    [
        ({"__AVX512F__", "__AVX__", "__SSE2__"}, "double", ["MR=6", "NR=32"]),
        ({"__AVX512F__", "__AVX__", "__SSE2__"}, "float", ["MR=6", "NR=64"]),
        ({"__AVX__", "__SSE2__"}, "double", ["MR=4", "NR=8"]),
        ({"__SSE2__"}, "float", ["MR=4", "NR=8"]),
        ({"__aarch64__"}, "double", ["MR=6", "NR=8"]),
        (set(), "double", []),
    ],
)
def test_the_tile_follows_the_vector_unit(
    defined: set[str], real: str, expected: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(build, "_predefined", lambda compiler, machine: frozenset(defined))
    wide = ("-march=native", "-mprefer-vector-width=512")
    found = tile_defines("cc", wide, "NET", real)
    assert found == [f"-DNET_GEMM_{e}" for e in expected]


def _saturated(seed: int) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """A 20-16-10 softmax + squared-error network whose logits differ by hundreds: most
    outputs are 0 or 1 in float32, most gradient entries far below float32's smallest number."""
    rng = np.random.default_rng(seed)
    params = {
        "W1": 3 * rng.standard_normal((16, 20)),
        "b1": rng.standard_normal(16),
        "W2": 100 * rng.standard_normal((10, 16)),
        "b2": 100 * rng.standard_normal(10),
    }
    params = {k: v.astype(np.float32).astype(np.float64) for k, v in params.items()}
    X = rng.standard_normal((32, 20)).astype(np.float32).astype(np.float64)
    Y = np.eye(10)[rng.integers(0, 10, 32)]
    return params, X, Y


def _torch_gradients(params: dict[str, np.ndarray], X: np.ndarray, Y: np.ndarray) -> Any:
    leaves = {
        k: torch.tensor(v, dtype=torch.float32, requires_grad=True) for k, v in params.items()
    }
    x, y = torch.tensor(X, dtype=torch.float32), torch.tensor(Y, dtype=torch.float32)
    h = torch.sigmoid(x @ leaves["W1"].T + leaves["b1"])
    yhat = torch.softmax(h @ leaves["W2"].T + leaves["b2"], dim=1)
    (0.5 * ((yhat - y) ** 2).sum(1).mean()).backward()
    return {k: v.grad.numpy().astype(np.float64) for k, v in leaves.items()}  # type: ignore[union-attr]


def _worst_errors(network: CNetwork, truth_module: ModuleType) -> tuple[float, float]:
    """The largest error of any gradient entry over 6 saturated draws: C (float32) and torch
    (float32), both against float64 on the same float32 inputs (NaN counted as infinite)."""

    def error(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> float:
        errors = [float(np.abs(got[k] - want[k]).max()) for k in want]
        return max(errors) if all(np.isfinite(errors)) else float("inf")

    worst_c = worst_torch = 0.0
    for seed in range(6):
        params, X, Y = _saturated(seed)
        _, truth = truth_module.loss_and_gradients(params, X, Y)
        single = {k: v.astype(np.float32) for k, v in params.items()}
        _, got = network.loss_and_gradients(single, X.astype(np.float32), Y.astype(np.float32))
        worst_c = max(worst_c, error(got, truth))
        worst_torch = max(worst_torch, error(_torch_gradients(params, X, Y), truth))
    return worst_c, worst_torch


def test_float32_at_saturated_softmax_is_as_accurate_as_torch(tmp_path: Path) -> None:
    options = ["--output", "softmax", "--loss", "squared-error"]
    source = write_c(tmp_path, [20, 16, 10], "--style", "looped", "--dtype", "float", *options)
    truth = reference(tmp_path, [20, 16, 10], *options)
    worst_c, worst_torch = _worst_errors(load_c(source), truth)
    assert worst_c <= 2 * worst_torch, (worst_c, worst_torch)
    # The measure fails code that is less accurate: the softmax without its shift by the row
    # maximum (exp overflows at these logits).
    text = source.read_text(encoding="utf-8")
    unstable = re.sub(r"expf\((A2\[r \* 10 \+ i\]) - rowmax\d+\)", r"expf(\1)", text)
    assert unstable != text
    broken = tmp_path / "broken" / "net.c"
    broken.parent.mkdir()
    broken.write_text(unstable, encoding="utf-8")
    shutil.copyfile(source.with_suffix(".h"), broken.with_suffix(".h"))
    worst_broken, _ = _worst_errors(load_c(broken), truth)
    assert not worst_broken <= 2 * worst_torch


# ------------------------------------------------------------------------------------------------
# 2. --blas cblas
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["double", "float"])
def test_blas_products_give_the_numbers_of_the_numpy_target(dtype: str, tmp_path: Path) -> None:
    source = write_c(tmp_path, [7, 9, 5, 3], "--blas", "cblas", "--dtype", dtype)
    text = source.read_text(encoding="utf-8")
    assert (
        "#include <cblas.h>" in text and f"cblas_{'d' if dtype == 'double' else 's'}gemm(" in text
    )
    assert '_PRODUCTS "cblas"' in source.with_suffix(".h").read_text(encoding="utf-8")
    network, module = load_c(source), reference(tmp_path, [7, 9, 5, 3])
    tolerance = 1e-12 if dtype == "double" else 1e-5
    for batch in (1, 5, 150):
        rng = np.random.default_rng(batch)
        params = module.init_params(batch)
        X, Y = rng.standard_normal((batch, 7)), rng.uniform(0.1, 1.0, (batch, 3))
        want_loss, want = module.loss_and_gradients(params, X, Y)
        got_loss, got = network.loss_and_gradients(params, X, Y)
        assert abs(got_loss - want_loss) <= tolerance * abs(want_loss)
        assert all(relative_error(got[k], want[k]) <= tolerance for k in want)


def test_check_accepts_cblas_only_where_the_header_says_blas(tmp_path: Path) -> None:
    source = write_c(tmp_path / "blas", [3, 4, 2], "--blas", "cblas")
    report = check_file(source)
    assert report.passed, report.report()
    # The same file with --blas taken out of both headers: <cblas.h> is then refused.
    for path in (source, source.with_suffix(".h")):
        path.write_text(path.read_text().replace(" --blas cblas", ""), encoding="utf-8")
    with pytest.raises(SymgradError, match=r'other than "net\.h", <math\.h>, <stddef\.h> '):
        check_file(source)
    # A file that says --blas may include <cblas.h>, and still nothing else.
    other = write_c(tmp_path / "other", [3, 4, 2], "--blas", "cblas")
    text = other.read_text().replace("#include <cblas.h>", "#include <cblas.h>\n#include <stdio.h>")
    other.write_text(text, encoding="utf-8")
    with pytest.raises(SymgradError, match=r'other than "net\.h", <cblas\.h>, <math\.h>, '):
        check_file(other)


# ------------------------------------------------------------------------------------------------
# 3. --style auto, and generation linear in the output width
# ------------------------------------------------------------------------------------------------


def test_auto_counts_statements_and_says_so() -> None:
    small = derive(NetworkSpec.parse([3, 3, 2]), prove=False)
    header = generate(small, "c")[1].text
    found = re.search(
        r"--style auto chose the unrolled form: loss_and_gradients is (\d+) scalar", header
    )
    assert found and int(found.group(1)) <= AUTO_UNROLLED_STATEMENTS
    assert '_FORM "unrolled"' in header
    # Under the parameter limit, yet more statements than auto writes out: loops.
    wide = derive(NetworkSpec.parse([8, 16, 4]), prove=False)
    assert wide.spec.parameter_count <= 400
    header = generate(wide, "c")[1].text
    assert "--style auto chose the looped form: loss_and_gradients would be" in header
    assert '_FORM "looped"' in header
    large = derive(NetworkSpec.parse([10, 30, 4]), prove=False)
    assert "454 parameters, more than the 400" in generate(large, "c")[1].text


def _terms(sizes: list[int]) -> int:
    spec = NetworkSpec.parse(sizes, output="softmax", loss="squared-error")
    program = lower_scalar(derive(spec, prove=False))
    return sum(sp.count_ops(s.value) for s in program.statements)


def test_the_scalar_program_grows_linearly_with_the_output_width(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The softmax's Jacobian product is not written out as n_L^2 terms; with the reductions
    left inside every unit (the rule for rows of up to 3 units), the same measure fails."""
    assert _terms([2, 32]) <= 2.3 * _terms([2, 16])
    monkeypatch.setattr(output_loss, "INLINE_REDUCTION_UNITS", 1000)
    assert _terms([2, 32]) > 3 * _terms([2, 16])


# ------------------------------------------------------------------------------------------------
# 4. init_params, the scratch, the lean calls
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["double", "float"])
def test_init_params_is_the_documented_generator(dtype: str, tmp_path: Path) -> None:
    network = load_c(write_c(tmp_path, [5, 40, 3], "--dtype", dtype, "--style", "looped"))
    spec = NetworkSpec.parse([5, 40, 3])
    for seed in (0, 1, 2**64 - 1):
        theta = network.init_flat(seed)
        assert theta.dtype == network.dtype
        assert theta.tobytes() == init_params(spec, seed, dtype).tobytes()
    assert not np.array_equal(network.init_flat(0), network.init_flat(1))
    params = network.init_params(3)
    assert all(v.dtype == np.float64 for v in params.values())
    # Uniform in [-s, s): s = sqrt(3/40) for W2, variance 1/40.
    assert np.abs(params["W2"]).max() <= np.sqrt(3 / 40)
    assert 0.5 / 40 < params["W2"].var() < 2 / 40
    for bad in (-1, 2**64, 1.5, "0"):
        with pytest.raises(ValueError, match="seed"):
            network.init_flat(bad)  # type: ignore[arg-type]


def test_the_forward_scratch_holds_no_copy_of_the_weights(tmp_path: Path) -> None:
    """64-32-10 in float: NAME_FORWARD_WORK_SIZE(1) is the arrays of one row, a fraction of the
    parameters; a batch of a block holds the products' blocks too."""
    source = write_c(tmp_path, [64, 32, 10], "--dtype", "float")
    header = source.with_suffix(".h").read_text(encoding="utf-8")
    forward = re.search(r"^#define NET_FORWARD_WORK_SIZE\(batch\) \((.*)\)$", header, re.M)
    assert forward is not None
    per_row = int(re.search(r"\(size_t\)(\d+) \* NET_ROWS_PER_PASS", forward.group(1)).group(1))  # type: ignore[union-attr]
    # A1, |A1| (the sigmoid's two branches), H1 of 32 and A2, Z, E of 10 and S: under a tenth of
    # the 2,410 parameters, where a copy of W1 alone would be 2,048.
    assert per_row < 2410 // 10
    network = load_c(source)
    ffi = cffi.FFI()
    ffi.cdef("size_t net_forward_work_size(int); size_t net_work_size(int);")
    lib = ffi.dlopen(str(network.library_path))
    assert lib.net_forward_work_size(1) == per_row
    assert lib.net_forward_work_size(64) > 64 * per_row
    assert lib.net_work_size(0) == 0


def test_a_caller_built_with_other_sizes_gets_the_librarys(tmp_path: Path) -> None:
    """NAME_WORK_ROWS and the blocks may differ between the library and a caller's header:
    NAME_work_size gives the library's scratch, which is what a call needs."""
    source = write_c(tmp_path, [9, 12, 4], "--style", "looped")
    library = tmp_path / "libnet.so"
    flags = [*build.COMPILE_FLAGS, "-DNET_WORK_ROWS=3", "-DNET_GEMM_KC=2", "-DNET_GEMM_NR=2"]
    build_library([source], library, flags=flags)
    network = load_library(library, source)
    module = reference(tmp_path, [9, 12, 4])
    header = source.with_suffix(".h").read_text(encoding="utf-8")
    rows = int(re.search(r"^#define NET_WORK_ROWS (\d+)$", header, re.M).group(1))  # type: ignore[union-attr]
    assert rows == 64 and network.work_size < 64 * 12
    rng = np.random.default_rng(0)
    params, X, Y = module.init_params(0), rng.standard_normal((10, 9)), np.eye(4)[np.arange(10) % 4]
    want_loss, want = module.loss_and_gradients(params, X, Y)
    got_loss, got = network.loss_and_gradients(params, X, Y)
    assert abs(got_loss - want_loss) <= 1e-12 * abs(want_loss)
    assert all(relative_error(got[k], want[k]) <= 1e-12 for k in want)


@pytest.mark.parametrize("style", ["unrolled", "looped"])
def test_lean_calls_share_memory_and_give_the_dict_results(style: str, tmp_path: Path) -> None:
    network = load_c(write_c(tmp_path, [3, 4, 2], "--style", style))
    module = reference(tmp_path, [3, 4, 2])
    params = module.init_params(2)
    theta = network.flat(params)
    views = network.params(theta)
    assert all(
        np.shares_memory(views[k], theta) and np.array_equal(views[k], params[k]) for k in params
    )
    g = np.empty_like(theta)
    rng = np.random.default_rng(1)
    for X, Y in (
        (rng.standard_normal((5, 3)), rng.uniform(0.1, 1, (5, 2))),
        (rng.standard_normal(3), rng.uniform(0.1, 1, 2)),  # one sample
        (rng.standard_normal((4, 3)).astype(np.float32), np.array([0, 1, 1, 0])),  # converted
    ):
        want_loss, want = network.loss_and_gradients(params, X, Y)
        loss, out = network.loss_and_gradients_flat(theta, X, Y, out=g)
        assert out is g and loss == want_loss
        assert all(np.array_equal(network.params(g)[k], want[k]) for k in want)
        assert network.loss_flat(theta, X, Y) == network.loss(params, X, Y)
        assert np.array_equal(
            network.forward_flat(theta, np.atleast_2d(X)), np.atleast_2d(network.forward(params, X))
        )
    # A training step through the views: the next call sees the new parameters, no copy made.
    X, Y = rng.standard_normal((6, 3)), rng.uniform(0.1, 1, (6, 2))
    before, _ = network.loss_and_gradients_flat(theta, X, Y, out=g)
    theta -= 0.5 * g
    after, _ = network.loss_and_gradients_flat(theta, X, Y, out=g)
    assert after == network.loss(network.params(theta), X, Y) and after < before


def test_lean_calls_refuse_what_they_cannot_pass_as_it_is(tmp_path: Path) -> None:
    network = load_c(write_c(tmp_path, [3, 4, 2], "--style", "looped"))
    theta = network.init_flat(0)
    X, Y = np.zeros((2, 3)), np.zeros((2, 2))
    for bad_theta in (
        theta.astype(np.float32),
        theta[:-1],
        theta[::2],
        list(theta),
        theta.reshape(2, -1),
    ):
        with pytest.raises(ValueError, match="theta must be a contiguous float64 array"):
            network.loss_and_gradients_flat(bad_theta, X, Y)
    frozen = np.empty_like(theta)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="out must be a contiguous writable float64 array"):
        network.loss_and_gradients_flat(theta, X, Y, out=frozen)
    with pytest.raises(ValueError, match=r"X has shape \(2, 4\)"):
        network.loss_flat(theta, np.zeros((2, 4)), Y)
    # An array seen before and then reshaped in place is looked at again, not trusted.
    g = np.empty_like(theta)
    network.loss_and_gradients_flat(theta, X, Y, out=g)
    g.shape = (2, -1)
    with pytest.raises(ValueError, match="out must be"):
        network.loss_and_gradients_flat(theta, X, Y, out=g)


def test_blas_options_that_do_not_apply_are_one_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for argv, message in (
        (["--target", "c", "--blas", "mkl", "-o", str(tmp_path / "a.c")], "unknown --blas 'mkl'"),
        (["--blas", "cblas", "-o", str(tmp_path / "a.py")], "--blas is an option of --target c"),
        (
            ["--target", "array-api", "--blas", "cblas", "-o", str(tmp_path / "a.py")],
            "not of --target array-api",
        ),
        (["--target", "c", "--blas", "", "-o", str(tmp_path / "a.c")], "unknown --blas ''"),
        (["--target", "c", "--blas"], "argument --blas: expected one argument"),
        (
            [
                "--target",
                "c",
                "--style",
                "unrolled",
                "--blas",
                "cblas",
                "-o",
                str(tmp_path / "a.c"),
            ],
            "use --style looped",
        ),
    ):
        assert main(["codegen", "3", "3", "2", *argv]) == 2
        error = capsys.readouterr().err
        assert error.startswith("symgrad: error:") and message in error, error
        assert len(error.strip().splitlines()) == 1
    # Only codegen has the option.
    assert main(["derive", "3", "3", "2", "--blas", "cblas"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("symgrad: error: unrecognized arguments: --blas cblas"), error
    assert list(tmp_path.iterdir()) == []


def test_a_blas_file_that_cannot_be_built_or_names_another_library_is_one_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``check`` (exit status 2, one line) and ``load_c`` of a ``--blas cblas`` file where no
    CBLAS library links, and of a file whose header names a library symgrad does not write."""
    source = write_c(tmp_path, [3, 4, 2], "--blas", "cblas")
    other = tmp_path / "other"
    other.mkdir()
    for path in (source, source.with_suffix(".h")):
        text = path.read_text(encoding="utf-8").replace("--blas cblas", "--blas mkl")
        (other / path.name).write_text(text, encoding="utf-8")
    assert main(["check", str(other / "net.c")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("symgrad: error:") and "names --blas mkl; not generated C" in error
    assert len(error.strip().splitlines()) == 1
    # check compiles in the sandbox with build_c, the function load_c uses (the test above), so
    # the missing library is shown where this process can reach it: load_c.
    monkeypatch.setattr(build, "BLAS_LINK", (("-lsymgrad_no_such_blas",),))
    missing = "no CBLAS library to link (tried -lsymgrad_no_such_blas); install one"
    with pytest.raises(build.CCompilerError, match=re.escape(missing)):
        load_c(source)
