"""The C target: files that compile cleanly, numbers equal to the NumPy target's, memory safety.

Every named network (every activation, a custom one, every output/loss pair, depth 1 and 3,
width 1) is generated in both forms (unrolled, looped) and checked

1. to compile with ``-std=c99 -Wall -Wextra -Werror -pedantic`` under gcc and clang;
2. through the loader (:mod:`symgrad.codegen.c.loader`) against the NumPy target, 1e-12 relative
   in double and 1e-4 in float, at batch 1, 37 and 70 (the looped form runs blocks of 64 rows);
3. in a C harness built with ``-fsanitize=address,undefined`` on exactly sized buffers, with the
   same numbers and no report (and a file edited to write one past the end is caught);
4. for the return codes: a NULL pointer or ``batch < 1`` returns a negative number and writes
   nothing;
5. at pre-activations of 1e4 (finite results), and by a C program that trains a network with
   nothing but the generated header.

Each file is generated and compiled once per module (fixtures), so the whole file takes seconds.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import cffi
import numpy as np
import pytest
import sympy as sp
from conftest import ACTIVATIONS, PAIRS, Named
from conftest import import_file as _import

from symgrad.arrays import LogAddExp
from symgrad.cli import main
from symgrad.codegen import generate
from symgrad.codegen.c import loader
from symgrad.codegen.c.build import FileFacts, compile_flags, vector_math_declarations
from symgrad.codegen.c.init import init_params
from symgrad.codegen.c.loader import (
    CCompilerError,
    CNetwork,
    build_library,
    compile_c,
    load_c,
    load_library,
)
from symgrad.codegen.c.printer import CPrinter
from symgrad.codegen.c.target import c_prefix
from symgrad.codegen.pyprinter import CodegenError
from symgrad.errors import SpecError
from symgrad.pipeline import derive

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
PEDANTIC = ("-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic")
SANITIZE = ("-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g")
BATCHES = (1, 37, 70)
FLOAT_TOLERANCE = 1e-4

CASES = (
    [Named(f"act-{n}", (3, 3, 2), activation=a) for n, a in enumerate(ACTIVATIONS)]
    + [Named(f"pair-{o}-{lo}", (2, 3, 2), output=o, loss=lo) for o, lo in PAIRS]
    + [
        Named("depth-1", (3, 2)),
        Named("width-1", (1, 1, 1), output="identity", loss="squared-error"),
        Named("depth-3-mixed", (2, 2, 2, 2), activation="tanh,relu"),
        # The layer kinds: the penalty after the batch loop, the skip inside it.
        Named(
            "kinds-decay-residual",
            (3, 4, 4, 2),
            activation="tanh",
            kinds=(("weight_decay", "0.05"), ("residual", True)),
        ),
    ]
)
FORMS = ("unrolled", "looped")
#: Float32 code for the pairs with a log in the loss and for the custom activation.
FLOAT_CASES = [
    c
    for c in CASES
    if "cross-entropy" in (c.loss or "") or c.activation == ACTIVATIONS[-1] or c.kinds
]


@dataclass
class Built:
    """One generated network: its files, its library, the NumPy module it must agree with."""

    case: Named
    form: str
    dtype: str
    source: Path
    reference: ModuleType

    @property
    def prefix(self) -> str:
        return self.source.stem


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str, str], Built]:
    """Every case in both forms (double) and the float cases, with their NumPy references."""
    folder = tmp_path_factory.mktemp("c-target")
    out: dict[tuple[str, str, str], Built] = {}
    for case in CASES:
        derivation = derive(case.spec(), prove=False)
        (module,) = generate(derivation, "numpy", "vectorized")
        reference_path = folder / f"ref_{_slug(case.id)}.py"
        reference_path.write_text(module.text, encoding="utf-8")
        reference = _import(reference_path)
        for form in FORMS:
            dtypes = ("double", "float") if case in FLOAT_CASES else ("double",)
            for dtype in dtypes:
                name = f"n_{_slug(case.id)}_{form}_{dtype}"
                directory = folder / name
                directory.mkdir()
                for file in generate(derivation, "c", form, dtype, name=name):
                    (directory / f"{name}{file.suffix}").write_text(file.text, encoding="utf-8")
                key = (case.id, form, dtype)
                out[key] = Built(case, form, dtype, directory / f"{name}.c", reference)
    return out


@dataclass
class Library:
    """Every generated file of one form compiled into one shared library, and what the
    compiler said."""

    path: Path
    returncode: int
    stderr: str


@pytest.fixture(scope="module")
def libraries(
    built: dict[tuple[str, str, str], Built], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Library]:
    """The files of each form built as the loader builds them (its first optimization flags:
    what users get), with the warnings of the C target's promise as errors (some of gcc's need
    the optimizer)."""
    folder = tmp_path_factory.mktemp("c-library")
    declarations = folder / "vector_math.h"
    declarations.write_text(vector_math_declarations(), encoding="utf-8")
    out = {}
    for form in FORMS:
        path = folder / f"lib{form}.so"
        sources = [b.source for key, b in built.items() if key[1] == form]
        flags: list[str] = [*PEDANTIC]
        link: tuple[str, ...] = ()
        for source in sources:  # the first way the loader tries, for every file (its tile)
            first = compile_flags(FileFacts.read(source.with_suffix(".h").read_text()))[0]
            flags += [f for f in first.flags if f not in flags]
            if first.vector_math and "-include" not in flags:
                flags += ["-include", str(declarations)]
                link = ("-lmvec",)
        try:
            out[form] = Library(path, 0, build_library(sources, path, flags, link=link).warnings)
        except CCompilerError as exc:
            out[form] = Library(path, 1, str(exc))
    return out


@pytest.fixture(scope="module")
def networks(
    built: dict[tuple[str, str, str], Built], libraries: dict[str, Library]
) -> dict[tuple[str, str, str], CNetwork]:
    """Every network, loaded by the loader from the library of its form."""
    for library in libraries.values():
        assert library.returncode == 0, library.stderr[:3000]
    return {key: load_library(libraries[key[1]].path, b.source) for key, b in built.items()}


def _keys(dtype: str = "double") -> list[tuple[str, str, str]]:
    cases = CASES if dtype == "double" else FLOAT_CASES
    return [(case.id, form, dtype) for case in cases for form in FORMS]


def _id(key: tuple[str, str, str]) -> str:
    return "-".join(key)


def data(
    case: Named, batch: int, seed: int
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Parameters, X and Y (cross-entropy targets that do not sum to 1: the code must be right
    for any targets)."""
    spec = case.spec()
    rng = np.random.default_rng(seed)
    params = {}
    for k in range(1, spec.depth + 1):
        rows, cols = spec.sizes[k], spec.sizes[k - 1]
        params[f"W{k}"] = rng.standard_normal((rows, cols)) / np.sqrt(cols)
        params[f"b{k}"] = 0.3 * rng.standard_normal(rows)
    X = rng.standard_normal((batch, spec.sizes[0]))
    if spec.loss == "cross-entropy":
        Y = rng.uniform(0.1, 1.0, size=(batch, spec.sizes[-1]))
    elif spec.loss == "binary-cross-entropy":
        Y = rng.uniform(0.05, 0.95, size=(batch, spec.sizes[-1]))
    else:
        Y = rng.standard_normal((batch, spec.sizes[-1]))
    return params, X, Y


def relative_error(got: np.ndarray, want: np.ndarray) -> float:
    """The largest difference over the largest entry of ``want``."""
    scale = max(float(np.abs(want).max(initial=0.0)), 1e-300)
    return float(np.abs(np.asarray(got, dtype=np.float64) - want).max(initial=0.0)) / scale


def assert_agree(network: CNetwork, reference: ModuleType, case: Named, tolerance: float) -> None:
    for batch in BATCHES:
        params, X, Y = data(case, batch, seed=batch)
        want_loss, want = reference.loss_and_gradients(params, X, Y)
        got_loss, got = network.loss_and_gradients(params, X, Y)
        assert sorted(got) == sorted(want)
        assert abs(got_loss - want_loss) <= tolerance * abs(want_loss), (batch, got_loss)
        assert abs(network.loss(params, X, Y) - want_loss) <= tolerance * abs(want_loss)
        for key in want:
            assert got[key].shape == want[key].shape
            assert relative_error(got[key], want[key]) <= tolerance, (batch, key)
        yhat = network.forward(params, X)
        assert relative_error(yhat, reference.forward(params, X)) <= tolerance, batch


# ------------------------------------------------------------------------------------------------
# 1. Clean compilation
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", FORMS)
def test_every_file_compiles_without_a_warning_with_gcc(
    form: str, libraries: dict[str, Library]
) -> None:
    library = libraries[form]
    assert library.returncode == 0, library.stderr[:3000]
    assert library.stderr == ""


def test_every_file_compiles_without_a_warning_with_clang(
    built: dict[tuple[str, str, str], Built], tmp_path: Path
) -> None:
    if shutil.which("clang") is None:
        pytest.fail("clang is missing: scripts/test.sh installs it")
    sources = [str(b.source) for b in built.values()]
    # clang's warnings come from its front end: checking the syntax gives them all.
    run = subprocess.run(
        ["clang", *PEDANTIC, "-fsyntax-only", *sources], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr[:3000]
    assert run.stderr == ""


def test_includes_only_math_stddef_and_its_header(built: dict[tuple[str, str, str], Built]) -> None:
    for b in built.values():
        source = b.source.read_text(encoding="utf-8")
        header = b.source.with_suffix(".h").read_text(encoding="utf-8")
        assert re.findall(r"^#include .*$", source, flags=re.M) == [
            f'#include "{b.prefix}.h"',
            "#include <math.h>",
            "#include <stddef.h>",
        ]
        assert re.findall(r"^#include .*$", header, flags=re.M) == ["#include <stddef.h>"]
        for forbidden in ("malloc", "calloc", "alloca", "static real_t", "[rows]"):
            assert forbidden not in source, (b.prefix, forbidden)


# ------------------------------------------------------------------------------------------------
# 2. The numbers, through the loader
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", _keys(), ids=_id)
def test_double_equals_the_numpy_target(
    key: tuple[str, str, str],
    built: dict[tuple[str, str, str], Built],
    networks: dict[tuple[str, str, str], CNetwork],
) -> None:
    b = built[key]
    assert_agree(networks[key], b.reference, b.case, 1e-12)


@pytest.mark.parametrize("key", _keys("float"), ids=_id)
def test_float_equals_the_numpy_target_to_single_precision(
    key: tuple[str, str, str],
    built: dict[tuple[str, str, str], Built],
    networks: dict[tuple[str, str, str], CNetwork],
) -> None:
    b = built[key]
    network = networks[key]
    assert network.dtype is np.float32
    assert_agree(network, b.reference, b.case, FLOAT_TOLERANCE)


def test_results_follow_the_numpy_dtype_rule(
    networks: dict[tuple[str, str, str], CNetwork],
) -> None:
    case = CASES[0]
    network = networks[(case.id, "looped", "double")]
    params, X, Y = data(case, 5, seed=0)
    single = {k: v.astype(np.float32) for k, v in params.items()}
    _, grads = network.loss_and_gradients(single, X.astype(np.float32), Y)
    assert all(g.dtype == np.float32 for g in grads.values())
    assert network.forward(single, X.astype(np.float32)).dtype == np.float32
    _, grads = network.loss_and_gradients(single, X, Y)  # X float64: float64 results
    assert all(g.dtype == np.float64 for g in grads.values())
    integers = {k: np.round(v * 4).astype(np.int64) for k, v in params.items()}
    as_float = {k: v.astype(np.float64) for k, v in integers.items()}
    assert network.loss(integers, X, Y) == network.loss(as_float, X, Y)


@pytest.mark.parametrize("in_place", [1, 10**9], ids=["in-place", "copied"])
def test_repeated_calls_read_each_call_s_own_x_and_y(
    built: dict[tuple[str, str, str], Built],
    networks: dict[tuple[str, str, str], CNetwork],
    monkeypatch: pytest.MonkeyPatch,
    in_place: int,
) -> None:
    """A large batch of the last call's shape reaches double C code without a copy when it is
    C-contiguous, and through the buffers when it is not (or when it is small): every layout
    gives the reference's numbers for its own X and Y, never those of the call before."""
    monkeypatch.setattr(loader, "IN_PLACE_SIZE", in_place)
    case = CASES[0]
    key = (case.id, "looped", "double")
    network, reference = networks[key], built[key].reference
    params, X, Y = data(case, 7, seed=1)
    _, X2, Y2 = data(case, 7, seed=2)
    network.loss_and_gradients(params, X, Y)
    wide = np.zeros((7, 2 * X2.shape[1]))
    wide[:, ::2] = X2
    for x, y in ((X2, Y2), (np.asfortranarray(X2), Y2), (wide[:, ::2], np.asfortranarray(Y2))):
        want_loss, want = reference.loss_and_gradients(params, X2, Y2)
        got_loss, got = network.loss_and_gradients(params, x, y)
        assert abs(got_loss - want_loss) <= 1e-12 * abs(want_loss)
        assert all(relative_error(got[k], want[k]) <= 1e-12 for k in want)
        network.loss_and_gradients(params, X, Y)  # the next call starts from other numbers


def test_one_sample_labels_and_errors_as_the_numpy_module(
    built: dict[tuple[str, str, str], Built], networks: dict[tuple[str, str, str], CNetwork]
) -> None:
    case = CASES[0]  # 3-3-2, softmax + cross-entropy: class labels are accepted
    for form in FORMS:
        key = (case.id, form, "double")
        network, reference = networks[key], built[key].reference
        params, X, Y = data(case, 4, seed=3)
        labels = np.array([1, 0, 1, 1])
        assert network.LAYER_SIZES == reference.LAYER_SIZES
        for a, b in ((X[0], Y[0]), (X, labels), (X[1], np.int64(0))):
            want_loss, want = reference.loss_and_gradients(params, a, b)
            got_loss, got = network.loss_and_gradients(params, a, b)
            assert abs(got_loss - want_loss) <= 1e-12 * abs(want_loss)
            assert all(relative_error(got[k], want[k]) <= 1e-12 for k in want)
        assert network.forward(params, X[0]).shape == (2,)
        init = network.init_params(7)
        documented = init_params(case.spec(), 7)  # the generator the C code documents
        assert np.array_equal(np.concatenate([v.ravel() for v in init.values()]), documented)
        assert all(init[k].shape == reference.init_params(7)[k].shape for k in init)
        bad_inputs = [
            (dict(params, W2=np.zeros((3, 4))), X, Y),
            ({k: v for k, v in params.items() if k != "b1"}, X, Y),
            (dict(params, b1=[0.0, 0.0, 0.0]), X, Y),
            ([1, 2], X, Y),
            (params, X[:, :2], Y),
            (params, np.zeros((0, 3)), np.zeros((0, 2))),
            (params, X, np.zeros((4, 3))),
            (params, X[0], Y),
            (params, X, np.array([0, 2, 1, 1])),
            (params, X.astype(complex), Y),
        ]
        for p, a, b in bad_inputs:
            with pytest.raises(ValueError) as expected:
                reference.loss_and_gradients(p, a, b)
            with pytest.raises(ValueError) as got:
                network.loss_and_gradients(p, a, b)
            assert str(got.value) == str(expected.value)


# ------------------------------------------------------------------------------------------------
# 3. Under the address and undefined-behaviour sanitizers
# ------------------------------------------------------------------------------------------------


def _table(entries: list[Built]) -> str:
    """networks.h for tests/c/harness.c: every network, by name."""
    lines = [f'#include "{b.prefix}.h"' for b in entries]
    lines += [
        "",
        "typedef int (*forward_fn)(const double *, const double *, int, double *, double *);",
        "typedef int (*loss_fn)(const double *, const double *, const double *, int, double *,",
        "                       double *);",
        "typedef int (*gradients_fn)(const double *, const double *, const double *, int,",
        "                            double *, double *, double *);",
        "typedef int (*weighted_loss_fn)(const double *, const double *, const double *,",
        "                                const double *, int, double *, double *);",
        "typedef int (*weighted_gradients_fn)(const double *, const double *, const double *,",
        "                                     const double *, int, double *, double *, double *);",
        "struct network {",
        "    const char *name;",
        "    size_t n_in, n_out, n_params;",
        "    size_t (*work)(int batch);",
        "    size_t (*forward_work)(int batch);",
        "    size_t (*library_work)(int batch);",
        "    size_t (*library_forward_work)(int batch);",
        "    forward_fn forward;",
        "    loss_fn loss;",
        "    gradients_fn loss_and_gradients;",
        "    weighted_loss_fn loss_weighted;",
        "    weighted_gradients_fn loss_and_gradients_weighted;",
        "    weighted_loss_fn input_gradient_weighted;",
        "    loss_fn sample_losses;",
        "};",
    ]
    for b in entries:
        macro = b.prefix.upper()
        lines += [
            f"static size_t work_{b.prefix}(int batch)",
            "{",
            "    (void)batch;",
            f"    return {macro}_WORK_SIZE(batch);",
            "}",
            f"static size_t forward_work_{b.prefix}(int batch)",
            "{",
            "    (void)batch;",
            f"    return {macro}_FORWARD_WORK_SIZE(batch);",
            "}",
        ]
    lines.append("static const struct network networks[] = {")
    for b in entries:
        p, m = b.prefix, b.prefix.upper()
        lines.append(
            f'    {{"{p}", {m}_N_INPUTS, {m}_N_OUTPUTS, {m}_N_PARAMS, work_{p}, forward_work_{p}, '
            f"{p}_work_size, {p}_forward_work_size, {p}_forward, {p}_loss, "
            f"{p}_loss_and_gradients, {p}_loss_weighted, {p}_loss_and_gradients_weighted, "
            f"{p}_input_gradient_weighted, {p}_sample_losses}},"
        )
    lines.append("};")
    return "\n".join(lines) + "\n"


def build_harness(entries: list[Built], folder: Path, sizes: dict[str, int] | None = None) -> Path:
    """tests/c/harness.c linked with ``entries``, every file built with the sanitizers (and
    ``sizes``, ``NAME_<size>`` defined for every network: its block sizes, on the command line as
    the header says)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "networks.h").write_text(_table(entries), encoding="utf-8")
    includes = [f"-I{folder}"] + [f"-I{b.source.parent}" for b in entries]
    defines = [
        f"-D{b.prefix.upper()}_{name}={value}"
        for b in entries
        for name, value in (sizes or {}).items()
    ]
    program = folder / "harness"
    sources = [str(HERE / "c" / "harness.c")] + [str(b.source) for b in entries]
    run = subprocess.run(
        ["gcc", *PEDANTIC, *SANITIZE, *includes, *defines, "-o", str(program), *sources, "-lm"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr[:3000]
    return program


def run_harness(
    program: Path, b: Built, batch: int, folder: Path
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    params, X, Y = data(b.case, batch, seed=batch + 1)
    flat = np.concatenate([v.ravel() for v in params.values()])
    source, result = folder / f"{b.prefix}-{batch}.in", folder / f"{b.prefix}-{batch}.out"
    weights = np.random.default_rng(batch).uniform(0.0, 2.0, batch)
    weights[batch // 2] = 0.0 if batch > 1 else 0.5  # a sample left out
    source.write_bytes(
        np.int32(batch).tobytes() + flat.tobytes() + X.tobytes() + Y.tobytes() + weights.tobytes()
    )
    run = subprocess.run(
        [str(program), b.prefix, str(source), str(result)], capture_output=True, text=True
    )
    if run.returncode != 0:
        return run, {}
    numbers = np.frombuffer(result.read_bytes(), dtype=np.float64)
    n_in, n_out, n_params = b.case.sizes[0], b.case.sizes[-1], flat.size
    parts = np.split(numbers, np.cumsum([batch * n_out, 2, n_params, 2, n_params, batch * n_in]))
    yhat, losses, grad, weighted, weighted_grad, grad_x, sample_losses = parts
    return run, {
        "params": params,
        "X": X,
        "Y": Y,
        "weights": weights,
        "yhat": yhat.reshape(batch, n_out),
        "loss": tuple(losses),
        "grad": grad,
        "weighted loss": tuple(weighted),
        "weighted grad": weighted_grad,
        "weighted grad_x": grad_x.reshape(batch, n_in),
        "sample losses": sample_losses,
    }


def assert_weighted_agree(b: Built, out: dict[str, Any]) -> None:
    """The harness's weighted results and per-sample losses against the NumPy module's."""
    params, X, Y, w = out["params"], out["X"], out["Y"], out["weights"]
    want_loss, want = b.reference.loss_and_gradients(params, X, Y, sample_weight=w)
    for loss in out["weighted loss"]:
        assert abs(loss - want_loss) <= 1e-12 * abs(want_loss)
    flat = np.concatenate([g.ravel() for g in want.values()])
    assert relative_error(out["weighted grad"], flat) <= 1e-12
    want_x = b.reference.input_gradient(params, X, Y, sample_weight=w)
    assert relative_error(out["weighted grad_x"], want_x) <= 1e-12
    rows = b.reference.loss(params, X, Y, reduction="none")
    assert relative_error(out["sample losses"], rows) <= 1e-12


@pytest.fixture(scope="module")
def harness(
    built: dict[tuple[str, str, str], Built], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    entries = [b for key, b in built.items() if key[2] == "double"]
    return build_harness(entries, tmp_path_factory.mktemp("harness"))


@pytest.mark.parametrize("key", _keys(), ids=_id)
def test_no_sanitizer_report_and_the_same_numbers(
    key: tuple[str, str, str],
    built: dict[tuple[str, str, str], Built],
    harness: Path,
    tmp_path: Path,
) -> None:
    b = built[key]
    for batch in BATCHES:
        run, out = run_harness(harness, b, batch, tmp_path)
        assert run.returncode == 0, run.stderr[-3000:]
        assert run.stderr == ""
        want_loss, want = b.reference.loss_and_gradients(out["params"], out["X"], out["Y"])
        flat = np.concatenate([g.ravel() for g in want.values()])
        for loss in out["loss"]:  # type: ignore[attr-defined]
            assert abs(loss - want_loss) <= 1e-12 * abs(want_loss)
        assert relative_error(out["grad"], flat) <= 1e-12  # type: ignore[arg-type]
        yhat = b.reference.forward(out["params"], out["X"])
        assert relative_error(out["yhat"], yhat) <= 1e-12  # type: ignore[arg-type]
        assert_weighted_agree(b, out)


#: Block sizes of the looped form other than the header's: the smallest, tiles and blocks that
#: divide nothing, the largest tile (every edge of the products, a pass of fewer rows than a tile).
ODD_BLOCKS = {
    "ones": dict(GEMM_MR=1, GEMM_NR=1, GEMM_KC=1, GEMM_MC=1, GEMM_NC=1, WORK_ROWS=1),
    "odd": dict(GEMM_MR=3, GEMM_NR=5, GEMM_KC=2, GEMM_MC=4, GEMM_NC=7, WORK_ROWS=5),
    "wide": dict(GEMM_MR=8, GEMM_NR=3, GEMM_KC=7, GEMM_MC=17, GEMM_NC=2, WORK_ROWS=9),
}


@pytest.mark.parametrize("blocks", ODD_BLOCKS)
def test_other_block_sizes_give_the_same_numbers_within_the_buffers(
    blocks: str, built: dict[tuple[str, str, str], Built], tmp_path: Path
) -> None:
    """The block sizes a caller may define before including the header: the same numbers,
    under the sanitizers, with the scratch of NAME_WORK_SIZE at those sizes (and the library's
    NAME_work_size agreeing)."""
    cases = ("act-0", "pair-softmax-squared-error", "depth-1", "depth-3-mixed")
    entries = [built[(case, "looped", "double")] for case in cases]
    program = build_harness(entries, tmp_path / "build", ODD_BLOCKS[blocks])
    for b in entries:
        for batch in (1, 4, 23):
            run, out = run_harness(program, b, batch, tmp_path)
            assert run.returncode == 0, run.stderr[-3000:]
            want_loss, want = b.reference.loss_and_gradients(out["params"], out["X"], out["Y"])
            flat = np.concatenate([g.ravel() for g in want.values()])
            assert relative_error(out["grad"], flat) <= 1e-12  # type: ignore[arg-type]
            yhat = b.reference.forward(out["params"], out["X"])
            assert relative_error(out["yhat"], yhat) <= 1e-12  # type: ignore[arg-type]
            assert_weighted_agree(b, out)


def test_the_sanitizer_catches_a_write_past_the_end(
    built: dict[tuple[str, str, str], Built], tmp_path: Path
) -> None:
    """Mutation test of the check above: one write one past the end of grad is reported."""
    for form in FORMS:
        original = built[(CASES[0].id, form, "double")]
        folder = tmp_path / form
        folder.mkdir()
        source = folder / original.source.name
        shutil.copyfile(original.source.with_suffix(".h"), source.with_suffix(".h"))
        text = original.source.read_text(encoding="utf-8")
        if form == "unrolled":
            broken = text.replace("grad[19] = db2_1;", "grad[20] = db2_1;")
        else:
            broken = text.replace(
                "for (size_t i = 0; i < 2; ++i) {\n                db2[i]",
                "for (size_t i = 0; i < 3; ++i) {\n                db2[i]",
            )
        assert broken != text
        source.write_text(broken, encoding="utf-8")
        mutant = Built(original.case, form, "double", source, original.reference)
        program = build_harness([mutant], folder / "build")
        run, _ = run_harness(program, mutant, 4, folder)
        assert run.returncode != 0
        assert "AddressSanitizer" in run.stderr


# ------------------------------------------------------------------------------------------------
# 4. Return codes
# ------------------------------------------------------------------------------------------------


SENTINEL = 123.25


@pytest.mark.parametrize("form", FORMS)
def test_null_pointers_and_bad_batches_return_negative_and_write_nothing(
    form: str, networks: dict[tuple[str, str, str], CNetwork]
) -> None:
    network = networks[(CASES[0].id, form, "double")]
    ffi = cffi.FFI()
    p = network.prefix
    ffi.cdef(
        f"int {p}_forward(const double *, const double *, int, double *, double *);"
        f"int {p}_loss(const double *, const double *, const double *, int, double *, double *);"
        f"int {p}_loss_and_gradients(const double *, const double *, const double *, int,"
        " double *, double *, double *);"
        f"int {p}_loss_weighted(const double *, const double *, const double *, const double *,"
        " int, double *, double *);"
        f"int {p}_loss_and_gradients_weighted(const double *, const double *, const double *,"
        " const double *, int, double *, double *, double *);"
        f"int {p}_input_gradient_weighted(const double *, const double *, const double *,"
        " const double *, int, double *, double *);"
        f"int {p}_sample_losses(const double *, const double *, const double *, int, double *,"
        " double *);"
    )
    lib = ffi.dlopen(str(network.library_path))
    batch = 3
    sizes = {
        "params": network._n_params,
        "X": batch * 3,
        "Y": batch * 2,
        "yhat": batch * 2,
        "loss": 1,
        "grad": network._n_params,
        "work": network.work_size,
        "weights": batch,
        "grad_x": batch * 3,
        "losses": batch,
    }
    arguments = {
        "forward": ["params", "X", "batch", "yhat", "work"],
        "loss": ["params", "X", "Y", "batch", "loss", "work"],
        "loss_and_gradients": ["params", "X", "Y", "batch", "loss", "grad", "work"],
        "loss_weighted": ["params", "X", "Y", "weights", "batch", "loss", "work"],
        "loss_and_gradients_weighted": [
            "params",
            "X",
            "Y",
            "weights",
            "batch",
            "loss",
            "grad",
            "work",
        ],
        "input_gradient_weighted": ["params", "X", "Y", "weights", "batch", "grad_x", "work"],
        "sample_losses": ["params", "X", "Y", "batch", "losses", "work"],
    }
    for function, names in arguments.items():
        call = getattr(lib, f"{p}_{function}")
        cases: list[tuple[str | None, int]] = [(n, batch) for n in names if n != "batch"]
        cases += [(None, 0), (None, -1), (None, -(2**31))]
        for null, size in cases:
            buffers = {n: np.full(max(s, 1), SENTINEL) for n, s in sizes.items()}
            args = []
            for n in names:
                if n == "batch":
                    args.append(size)
                elif n == null:
                    args.append(ffi.NULL)
                else:
                    args.append(ffi.cast("double *", buffers[n].ctypes.data))
            status = call(*args)
            assert status < 0, (function, null, size)
            for n, values in buffers.items():
                assert np.all(values == SENTINEL), (function, null, size, n)
        good = {n: np.full(max(s, 1), 0.5) for n, s in sizes.items()}
        args = [batch if n == "batch" else ffi.cast("double *", good[n].ctypes.data) for n in names]
        assert call(*args) == 0


# ------------------------------------------------------------------------------------------------
# 5. Stability, and training in plain C
# ------------------------------------------------------------------------------------------------


def large_preactivation_params(case: Named) -> dict[str, np.ndarray]:
    """Tiny weights and biases of +-1e4: every pre-activation has magnitude about 1e4."""
    spec = case.spec()
    rng = np.random.default_rng(0)
    params = {}
    for k in range(1, spec.depth + 1):
        rows, cols = spec.sizes[k], spec.sizes[k - 1]
        params[f"W{k}"] = 1e-4 * rng.standard_normal((rows, cols))
        params[f"b{k}"] = 1e4 * np.where(np.arange(rows) % 2 == 0, 1.0, -1.0)
    return params


@pytest.mark.parametrize("dtype", ("double", "float"))
def test_finite_at_preactivations_of_1e4(
    dtype: str, networks: dict[tuple[str, str, str], CNetwork]
) -> None:
    for key in _keys(dtype):
        case = next(c for c in CASES if c.id == key[0])
        if not case.builtin:  # a custom activation promises nothing at 1e4
            continue
        network = networks[key]
        params = large_preactivation_params(case)
        if dtype == "float":
            params = {k: v.astype(np.float32) for k, v in params.items()}
        _, X, Y = data(case, 4, seed=2)
        X = X.astype(params["W1"].dtype)
        for x, y in ((X, Y), (X[0], Y[0])):
            value, grads = network.loss_and_gradients(params, x, y)
            assert np.isfinite(value), key
            assert all(np.all(np.isfinite(g)) for g in grads.values()), key
            assert np.all(np.isfinite(network.forward(params, x))), key


@pytest.mark.parametrize("style", ("unrolled", "looped"))
def test_a_c_program_trains_a_network_with_the_header_alone(style: str, tmp_path: Path) -> None:
    options = ["--activation", "tanh", "--target", "c", "--style", style, "--dtype", "float"]
    status = main(["codegen", "2", "8", "2", *options, "-o", str(tmp_path / "net.c")])
    assert status == 0
    program = tmp_path / "train"
    shutil.copyfile(HERE / "c" / "train.c", tmp_path / "train.c")
    run = subprocess.run(
        ["cc", *PEDANTIC, "-O2", "-o", str(program), "train.c", "net.c", "-lm"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    run = subprocess.run([str(program)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    first, last = (float(v) for v in run.stdout.split())
    assert last < 0.5 * first, run.stdout


def test_the_example_trains_xor(tmp_path: Path) -> None:
    """The README's commands for examples/train_xor.c, run as written."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"^(symgrad codegen .*--target c.* -o xor_net\.c)$", readme, flags=re.M)
    builds = re.findall(r"^(cc .*examples/train_xor\.c.*)$", readme, flags=re.M)
    assert commands and builds, "the README gives the commands of the C example"
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    codegen = commands[0].split()[1:]
    assert main(codegen[:-1] + [str(tmp_path / codegen[-1])]) == 0
    run = subprocess.run(builds[0], shell=True, cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    run = subprocess.run(["./train_xor"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip().splitlines()
    first = float(lines[0].split()[-1])
    last = float(lines[-2].split()[-1])
    assert last < 0.1 * first, run.stdout
    assert lines[-1] == "predictions: 0 1 1 0", run.stdout


# ------------------------------------------------------------------------------------------------
# The command line and the loader's errors
# ------------------------------------------------------------------------------------------------


def test_codegen_writes_both_files_and_names_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "my-net.c"
    assert main(["codegen", "3", "3", "2", "--target", "c", "-o", str(out)]) == 0
    header = out.with_suffix(".h").read_text(encoding="utf-8")
    for line in (
        "typedef double real_t;",
        "#define MY_NET_N_INPUTS 3",
        "#define MY_NET_N_OUTPUTS 2",
        "#define MY_NET_N_PARAMS 20",
        "int my_net_forward(const real_t *params, const real_t *X, int batch, real_t *yhat, "
        "real_t *work);",
    ):
        assert line in header
    assert re.search(r"^#define MY_NET_WORK_SIZE\(batch\) ", header, flags=re.M)
    assert (
        "int my_net_loss_and_gradients(const real_t *params, const real_t *X, const real_t *Y, "
        "int batch," in header
    )
    assert out.read_text(encoding="utf-8").count("// (eq. ") > 10
    assert (
        main(["codegen", "3", "3", "2", "--target", "c", "--dtype", "float", "-o", str(out)]) == 0
    )
    assert "typedef float real_t;" in out.with_suffix(".h").read_text(encoding="utf-8")
    for argv, message in (
        ([], "give -o DIR/NAME.c"),
        (["-o", str(tmp_path / "a.py")], "give -o DIR/NAME.c"),
        (["-o", str(tmp_path / "9lives.c")], "starts with a digit"),
        (["--dtype", "half", "-o", str(out)], "unknown --dtype 'half'"),
        (["--style", "vectorized", "-o", str(out)], "unknown style 'vectorized'"),
    ):
        assert main(["codegen", "3", "3", "2", "--target", "c", *argv]) == 2
        error = capsys.readouterr().err
        assert error.startswith("symgrad: error:") and message in error, error
        assert len(error.strip().splitlines()) == 1
    assert not (tmp_path / "a.py").exists() and not (tmp_path / "9lives.c").exists()


def test_prefix_rule() -> None:
    assert c_prefix("mlp") == "mlp"
    assert c_prefix("my-net.v2") == "my_net_v2"
    with pytest.raises(SpecError):
        c_prefix("2net")


def test_auto_picks_the_form_by_size(tmp_path: Path) -> None:
    small = derive(Named("s", (3, 3, 2)).spec(), prove=False)
    large = derive(Named("l", (10, 30, 4)).spec(), prove=False)
    assert "(double, unrolled)" in generate(small, "c")[0].text
    assert "(double, looped)" in generate(large, "c")[0].text
    with pytest.raises(SpecError, match="limited to 400 parameters"):
        generate(large, "c", "unrolled")


def test_a_larger_looped_network_over_several_blocks(tmp_path: Path) -> None:
    """Over 4096 parameters: the loader has the gradient written straight into its result."""
    case = Named("50-80-5", (50, 80, 5), activation="softplus")
    derivation = derive(case.spec(), prove=False)
    for file in generate(derivation, "c", name="wide"):
        (tmp_path / f"wide{file.suffix}").write_text(file.text, encoding="utf-8")
    (module,) = generate(derivation, "numpy")
    (tmp_path / "ref_wide.py").write_text(module.text, encoding="utf-8")
    reference = _import(tmp_path / "ref_wide.py")
    network = load_c(tmp_path / "wide.c")
    params, X, Y = data(case, 100, seed=5)
    want_loss, want = reference.loss_and_gradients(params, X, Y)
    got_loss, got = network.loss_and_gradients(params, X, Y)
    assert abs(got_loss - want_loss) <= 1e-12 * abs(want_loss)
    assert all(relative_error(got[k], want[k]) <= 1e-12 for k in want)
    again = network.gradients(params, X[:3], Y[:3])  # new arrays, not views of the last ones
    assert all(relative_error(got[k], want[k]) <= 1e-12 for k in want)
    assert all(not np.shares_memory(again[k], got[k]) for k in want)


def test_loading_leaves_tiny_numbers_alone(tmp_path: Path) -> None:
    """No flag of the build makes the process flush subnormal numbers to zero (as a library
    linked with -ffast-math would, for every computation of the process)."""
    main(["codegen", "3", "3", "2", "--target", "c", "-o", str(tmp_path / "net.c")])
    tiny = np.float64(1e-310)
    assert tiny * 0.5 > 0
    load_c(tmp_path / "net.c")
    assert tiny * 0.5 > 0
    assert np.nextafter(0.0, 1.0) > 0


def test_no_compiler_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    main(["codegen", "3", "3", "2", "--target", "c", "-o", str(tmp_path / "net.c")])
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(CCompilerError, match="no C compiler found"):
        compile_c(tmp_path / "net.c", tmp_path / "build")
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    with pytest.raises(CCompilerError, match="was not found"):
        compile_c(tmp_path / "net.c", tmp_path / "build")


def test_a_file_that_does_not_compile_is_one_clear_error(tmp_path: Path) -> None:
    main(["codegen", "3", "3", "2", "--target", "c", "-o", str(tmp_path / "net.c")])
    (tmp_path / "net.c").write_text("int broken(\n", encoding="utf-8")
    with pytest.raises(CCompilerError, match="could not compile net.c"):
        compile_c(tmp_path / "net.c", tmp_path / "build")
    (tmp_path / "lone.c").write_text("int x;\n", encoding="utf-8")
    with pytest.raises(CCompilerError, match="needs lone.h beside it"):
        compile_c(tmp_path / "lone.c", tmp_path / "build")


X_, Y_, H_ = sp.symbols("x y h", real=True)


@pytest.mark.parametrize(
    ("expr", "double", "single"),
    [
        (
            sp.Rational(1, 2) + sp.tanh(X_ / 2) / 2,
            "0.5 * tanh(0.5 * x) + 0.5",
            "0.5f * tanhf(0.5f * x) + 0.5f",
        ),
        (H_ * (1 - H_), "h * (1.0 - h)", "h * (1.0f - h)"),
        (1 - H_**2, "1.0 - (h * h)", "1.0f - (h * h)"),
        (sp.Max(X_, 0), "fmax(x, 0.0)", "fmaxf(x, 0.0f)"),
        (sp.Heaviside(H_, 0), "(h <= 0.0 ? 0.0 : 1.0)", "(h <= 0.0f ? 0.0f : 1.0f)"),
        (
            LogAddExp(X_, 0),
            "(log1p(exp(-fabs(x))) + fmax(x, 0.0))",
            "(log1pf(expf(-fabsf(x))) + fmaxf(x, 0.0f))",
        ),
        (X_ / (1 + sp.Abs(X_)), "x / (fabs(x) + 1.0)", "x / (fabsf(x) + 1.0f)"),
        (
            sp.Piecewise((1, H_ > 0), (sp.Rational(1, 100), True)),
            "(h > 0.0 ? 1.0 : 0.01)",
            "(h > 0.0f ? 1.0f : 0.01f)",
        ),
        (X_ ** sp.Rational(-1, 2), "1.0 / sqrt(x)", "1.0f / sqrtf(x)"),
        (
            (X_ - Y_) / 3,
            "0.3333333333333333 * x - 0.3333333333333333 * y",
            "0.33333334f * x - 0.33333334f * y",
        ),
    ],
)
def test_printer(expr: sp.Expr, double: str, single: str) -> None:
    assert CPrinter("double").doprint(expr) == double
    assert CPrinter("float").doprint(expr) == single


def test_printer_refuses_unsupported_functions() -> None:
    with pytest.raises(CodegenError, match="cannot generate C for the function gamma"):
        CPrinter().doprint(sp.gamma(X_))
