"""Report: generated C on a Cortex-M4, built with Debian's gcc-arm-none-eabi and run under QEMU.

Not a test (``tests/test_c_microcontroller.py`` builds and runs the same programs). Run as
``python bench/bench_cortex_m4.py``: for each network of the table, the training program of
``tests/c/cortex_m4/`` is cross-built (``-mcpu=cortex-m4 -mthumb -mfloat-abi=hard
-mfpu=fpv4-sp-d16 -Os``, float, ``-Werror``), its sizes and worst stack printed as the README's
table, then run under QEMU's mps2-an386 board and on this machine, and the two losses after 20
steps printed side by side.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]


def _helper() -> ModuleType:
    """``tests/cortex_m4.py``, imported by path (``tests`` is not a package)."""
    sys.path.insert(0, str(REPO))
    spec = importlib.util.spec_from_file_location("cortex_m4", REPO / "tests" / "cortex_m4.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["cortex_m4"] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


def main() -> int:
    m4 = _helper()
    #: (network, form, blocks, what the row says of the blocks)
    builds = [
        ([64, 32, 10], "looped", m4.SMALL_BLOCKS, "small blocks"),
        ([64, 32, 10], "looped", None, "header's blocks"),
        ([8, 8, 4], "unrolled", None, ""),
        ([8, 8, 4], "looped", m4.SMALL_BLOCKS, "small blocks"),
    ]
    version = subprocess.run(
        ["arm-none-eabi-gcc", "--version"], capture_output=True, text=True, check=True
    ).stdout.splitlines()[0]
    print(f"{version}; -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 -Os; float")
    print()
    head = "| network | form | net.o .text | .data | .bss | program .text | .data | .bss "
    head += "| worst stack of net.c (bytes) | deepest chain |"
    print(head)
    print("|---|---|--:|--:|--:|--:|--:|--:|--:|---|")
    runs = []
    with tempfile.TemporaryDirectory(prefix="symgrad-m4-") as scratch:
        for n, (sizes, style, blocks, note) in enumerate(builds):
            folder = Path(scratch) / str(n)
            m4.generate(folder, sizes, style)
            build = m4.cross_build(folder, blocks)
            form = f"{style}{', ' + note if note else ''}"
            cells = [*build.network, *build.program, build.stack]
            numbers = " | ".join(f"{value:,}" for value in cells)
            net = "-".join(map(str, sizes))
            print(f"| {net} | {form} | {numbers} | {build.stack_path} |")
            runs.append(
                (net, form, m4.losses(m4.run_qemu(build.elf)), m4.host_build(folder, blocks))
            )
    print()
    for net, form, on_m4, host in runs:
        on_host = m4.losses(host)
        difference = max(abs(a - b) / abs(b) for a, b in zip(on_m4, on_host, strict=True))
        print(
            f"{net} {form}: loss before / after 20 steps, Cortex-M4 under QEMU "
            f"{on_m4[0]:.9g} / {on_m4[1]:.9g}, host {on_host[0]:.9g} / {on_host[1]:.9g}, "
            f"largest relative difference {difference:.1e}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
