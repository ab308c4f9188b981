"""Generated C on a microcontroller: a Cortex-M4 cross-build run under QEMU, and trained weights
shipped as C initialisers (``symgrad export-weights``).

- The training program of ``tests/c/cortex_m4/`` built for a Cortex-M4 (hard float, ``-Os``,
  ``-Werror``) around a 64-32-10 looped network with small blocks and an unrolled 8-8-4 network,
  run in QEMU's mps2-an386 board: its losses after 20 steps equal the host build's to float
  precision (and a build with one wrong product does not); the README's table of sizes holds.
- ``export-weights``: hexadecimal literals that read back bit for bit, a C program that loads them
  and computes the NumPy module's loss, and every bad input one clear error (a pickled payload
  in the ``.npz`` is never run).
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
from pathlib import Path
from types import ModuleType

import cortex_m4
import numpy as np
import pytest

from symgrad.cli import main
from symgrad.codegen.c.weights import hex_literal

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
#: The networks of the cross-build, as rows of the README's table ("network | form"): (sizes,
#: style, blocks).
M4_BUILDS = {
    "64-32-10 | looped, small blocks": ([64, 32, 10], "looped", cortex_m4.SMALL_BLOCKS),
    "8-8-4 | unrolled": ([8, 8, 4], "unrolled", None),
}


@pytest.fixture(scope="module")
def m4(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, cortex_m4.Build]]:
    assert cortex_m4.missing_tools() == [], "scripts/test.sh installs the cross-build's tools"
    out = {}
    for name, (sizes, style, blocks) in M4_BUILDS.items():
        folder = tmp_path_factory.mktemp(name.split()[0])
        cortex_m4.generate(folder, sizes, style)
        out[name] = (folder, cortex_m4.cross_build(folder, blocks))
    return out


@pytest.mark.parametrize("name", M4_BUILDS)
def test_the_cortex_m4_build_trains_as_the_host_build(
    name: str, m4: dict[str, tuple[Path, cortex_m4.Build]]
) -> None:
    folder, build = m4[name]
    on_m4 = cortex_m4.losses(cortex_m4.run_qemu(build.elf))
    on_host = cortex_m4.losses(cortex_m4.host_build(folder, M4_BUILDS[name][2]))
    assert on_m4[1] < on_m4[0], on_m4  # it trained
    for m4_loss, host_loss in zip(on_m4, on_host, strict=True):
        assert abs(m4_loss - host_loss) <= 1e-5 * abs(host_loss), (on_m4, on_host)


def test_a_wrong_product_on_the_cortex_m4_is_caught(
    m4: dict[str, tuple[Path, cortex_m4.Build]], tmp_path: Path
) -> None:
    """Mutation test of the comparison above: one row of the register tile reads the wrong
    entry of A on the Cortex-M4 build only; its loss is no longer the host's."""
    folder, _ = m4["64-32-10 | looped, small blocks"]
    text = (folder / "net.c").read_text(encoding="utf-8")
    broken = text.replace("c1[j] += ap[1] * bp[j];", "c1[j] += ap[0] * bp[j];")
    assert broken != text
    for name in ("net.c", "net.h"):
        (tmp_path / name).write_text((folder / name).read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "net.c").write_text(broken, encoding="utf-8")
    build = cortex_m4.cross_build(tmp_path, cortex_m4.SMALL_BLOCKS)
    on_m4 = cortex_m4.losses(cortex_m4.run_qemu(build.elf))
    on_host = cortex_m4.losses(cortex_m4.host_build(folder, cortex_m4.SMALL_BLOCKS))
    assert abs(on_m4[1] - on_host[1]) > 1e-5 * abs(on_host[1])


def test_the_readme_table_is_what_the_build_measures(
    m4: dict[str, tuple[Path, cortex_m4.Build]],
) -> None:
    """The README's table of Cortex-M4 sizes (bench/bench_cortex_m4.py prints it), within 5%:
    the same toolchain gives the same bytes, a newer one a little other."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name, (_, build) in m4.items():
        row = re.search(rf"^\| {re.escape(name)} \|.*$", readme, re.M)
        assert row is not None, f"the README has no row for {name}"
        numbers = [int(n.replace(",", "")) for n in re.findall(r"\| ([\d,]+) (?=\|)", row.group(0))]
        measured = [*build.network, *build.program, build.stack]
        assert len(numbers) == len(measured), row.group(0)
        for shown, actual in zip(numbers, measured, strict=True):
            assert abs(shown - actual) <= 0.05 * max(actual, 20), (name, numbers, measured)


# ------------------------------------------------------------------------------------------------
# export-weights
# ------------------------------------------------------------------------------------------------


def _module(folder: Path, sizes: list[int]) -> ModuleType:
    path = folder / "reference.py"
    assert main(["codegen", *map(str, sizes), "-o", str(path)]) == 0
    spec = importlib.util.spec_from_file_location("reference", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _literals(text: str) -> list[float]:
    """The values of the initialiser of an exported header, read back from its literals."""
    body = text[text.index("= {") + 3 : text.index("};")]
    body = re.sub(r"//[^\n]*", "", body)
    return [float.fromhex(word.strip().rstrip("f")) for word in body.split(",") if word.strip()]


@pytest.mark.parametrize("dtype", ["double", "float"])
def test_exported_literals_read_back_bit_for_bit(dtype: str, tmp_path: Path) -> None:
    assert (
        main(
            [
                "codegen",
                "3",
                "4",
                "2",
                "--target",
                "c",
                "--dtype",
                dtype,
                "-o",
                str(tmp_path / "net.c"),
            ]
        )
        == 0
    )
    rng = np.random.default_rng(0)
    special = np.array([0.0, -0.0, 5e-324, -2.5e-310, 1.5e-45, 3.4e38, -1e300, 1 / 3])
    params = {
        "W1": rng.standard_normal((4, 3)),
        "b1": special[:4],
        "W2": np.reshape(special[4:], (2, 2)).repeat(2, 1),
        "b2": rng.standard_normal(2) * 1e-30,
    }
    if dtype == "float":
        params = {k: np.clip(v, -3e38, 3e38) for k, v in params.items()}
    np.savez(tmp_path / "params.npz", **params)
    out = tmp_path / "weights.h"
    assert (
        main(
            [
                "export-weights",
                str(tmp_path / "params.npz"),
                "--header",
                str(tmp_path / "net.h"),
                "-o",
                str(out),
            ]
        )
        == 0
    )
    text = out.read_text(encoding="utf-8")
    assert re.search(r"^static const real_t net_weights\[NET_N_PARAMS\] = \{$", text, re.M)
    real = np.float64 if dtype == "double" else np.float32
    want = np.concatenate([np.asarray(v, dtype=real).ravel() for v in params.values()])
    got = np.array(_literals(text), dtype=real)
    assert got.tobytes() == want.tobytes()  # the same bits, -0.0 and subnormals included
    assert hex_literal(0.5, "float") == "0x1p-1f" and hex_literal(-0.0, "double") == "-0x0p+0"


@pytest.mark.parametrize(
    ("dtype", "style"), [("double", "unrolled"), ("double", "looped"), ("float", "looped")]
)
def test_exported_weights_in_a_c_program_give_the_modules_loss(
    dtype: str, style: str, tmp_path: Path
) -> None:
    sizes = [5, 6, 3]
    assert (
        main(
            [
                "codegen",
                *map(str, sizes),
                "--target",
                "c",
                "--dtype",
                dtype,
                "--style",
                style,
                "-o",
                str(tmp_path / "net.c"),
            ]
        )
        == 0
    )
    module = _module(tmp_path, sizes)
    rng = np.random.default_rng(4)
    params = module.init_params(4)
    X, labels = rng.standard_normal((7, 5)), rng.integers(0, 3, 7)
    for _ in range(3):  # a few steps of training: weights that are not init_params'
        _, grads = module.loss_and_gradients(params, X, labels)
        params = {k: v - 0.5 * grads[k] for k, v in params.items()}
    np.savez(tmp_path / "trained.npz", **params)
    assert (
        main(
            [
                "export-weights",
                str(tmp_path / "trained.npz"),
                "--header",
                str(tmp_path / "net"),
                "-o",
                str(tmp_path / "weights.h"),
            ]
        )
        == 0
    )
    real = "double" if dtype == "double" else "float"
    Y = np.eye(3)[labels]
    data = [f"#define BATCH {len(X)}"]
    for name, array in (("X", X), ("Y", Y)):
        values = ", ".join(
            hex_literal(
                float(np.asarray(v, dtype=np.float64 if real == "double" else np.float32)), real
            )
            for v in array.ravel()
        )
        data.append(f"static const real_t {name}[] = {{{values}}};")
    (tmp_path / "data.h").write_text("\n".join(data) + "\n", encoding="utf-8")
    program = tmp_path / "loss"
    build = subprocess.run(
        [
            "gcc",
            "-std=c99",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
            "-O2",
            f"-I{tmp_path}",
            "-o",
            str(program),
            str(HERE / "c" / "weights_loss.c"),
            str(tmp_path / "net.c"),
            "-lm",
        ],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr
    printed = subprocess.run([str(program)], capture_output=True, text=True, timeout=60)
    assert printed.returncode == 0, printed.stderr
    loss = float.fromhex(printed.stdout.strip())
    if dtype == "double":
        want = module.loss(params, X, Y)
        assert abs(loss - want) <= 1e-12 * abs(want)
    else:
        single = {k: v.astype(np.float32) for k, v in params.items()}
        want = module.loss(single, X.astype(np.float32), Y.astype(np.float32))
        assert abs(loss - want) <= 1e-5 * abs(want)


class _Payload:
    """Unpickling this writes a file: what a hostile .npz would do if it were unpickled."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (Path.write_text, (self.path, "unpickled"))  # type: ignore[return-value]


def test_export_weights_refuses_bad_input_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["codegen", "3", "4", "2", "--target", "c", "-o", str(tmp_path / "net.c")]) == 0
    good = {"W1": np.zeros((4, 3)), "b1": np.zeros(4), "W2": np.zeros((2, 4)), "b2": np.zeros(2)}
    marker = tmp_path / "unpickled.txt"
    hostile = np.empty(1, dtype=object)
    hostile[0] = _Payload(marker)
    cases = {
        "pickled": (dict(good, b2=hostile), "holds Python objects, which are never unpickled"),
        "missing": ({k: v for k, v in good.items() if k != "b1"}, "has no b1"),
        "extra": (dict(good, W3=np.zeros(2)), "has W3, which the network does not"),
        "shape": (dict(good, W2=np.zeros((4, 2))), "W2 has shape (4, 2); expected (2, 4)"),
        "nan": (
            dict(good, b1=np.array([0, np.nan, 0, 0])),
            "b1[1] is nan; parameters must be finite",
        ),
        "complex": (dict(good, b2=np.zeros(2, dtype=complex)), "holds complex128 values"),
    }
    for name, (params, message) in cases.items():
        np.savez(tmp_path / f"{name}.npz", **params)
        out = tmp_path / f"{name}.h"
        status = main(
            [
                "export-weights",
                str(tmp_path / f"{name}.npz"),
                "--header",
                str(tmp_path / "net.h"),
                "-o",
                str(out),
            ]
        )
        error = capsys.readouterr().err
        assert status == 2 and error.startswith("symgrad: error:") and message in error, (
            name,
            error,
        )
        assert len(error.strip().splitlines()) == 1 and not out.exists()
    assert not marker.exists()
    np.save(tmp_path / "one.npy", np.zeros(3))
    (tmp_path / "other.h").write_text("#define X 1\n", encoding="utf-8")
    np.savez(tmp_path / "good.npz", **good)
    for argv, message in (
        ([str(tmp_path / "one.npy"), "--header", str(tmp_path / "net.h")], "is not a .npz file"),
        ([str(tmp_path / "absent.npz"), "--header", str(tmp_path / "net.h")], "does not exist"),
        (
            [str(tmp_path / "good.npz"), "--header", str(tmp_path / "other.h")],
            "not a header written by symgrad",
        ),
        ([str(tmp_path / "good.npz")], "--header"),
    ):
        assert main(["export-weights", *argv]) == 2
        error = capsys.readouterr().err
        assert error.startswith("symgrad: error:") and message in error, error
