"""Cross-builds of generated C for a Cortex-M4, run under QEMU; used by the tests and by
``bench/bench_cortex_m4.py`` (the README's table of sizes).

The program is ``tests/c/cortex_m4/train.c``: ``NAME_init_params``, then steps of gradient descent
on fixed data, printing the loss before and after as float bits. It is built twice from the same
files: for QEMU's ``mps2-an386`` board (Cortex-M4 with its single-precision FPU, Debian's
``gcc-arm-none-eabi`` and newlib's ``libm``, ``startup.c`` and ``mps2_an386.ld``) and for the host
(gcc), so that the two losses can be compared. Sizes come from ``arm-none-eabi-size``, the stack
from gcc's call graph with stack use (``-fcallgraph-info=su``): the deepest chain of frames from a
public function of the network through the functions of its file.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

from symgrad.cli import main

HERE = Path(__file__).resolve().parent / "c" / "cortex_m4"
CPU = ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16")
STRICT = ("-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic")
#: Code size first; unused functions dropped at the link.
OPTIMIZE = ("-Os", "-ffunction-sections", "-fdata-sections")
#: Blocks for a small memory (defined for every file, as the header says): passes of 16 rows, a
#: 4 x 4 tile of floats in the FPU's 32 registers, blocks of 32 terms, 16 rows and 16 columns.
SMALL_BLOCKS = {
    "WORK_ROWS": 16,
    "GEMM_MR": 4,
    "GEMM_NR": 4,
    "GEMM_KC": 32,
    "GEMM_MC": 16,
    "GEMM_NC": 16,
}
QEMU = ("qemu-system-arm", "-M", "mps2-an386", "-nographic", "-monitor", "none", "-serial", "none")


@dataclass
class Build:
    """A cross-built training program: its ELF file, the sizes of the network's object file and
    of the whole program (``.text``, ``.data``, ``.bss``), the worst stack of the network."""

    elf: Path
    network: tuple[int, int, int]
    program: tuple[int, int, int]
    stack: int
    stack_path: str


def generate(folder: Path, sizes: list[int], style: str) -> Path:
    """``symgrad codegen SIZES --target c --dtype float --style STYLE -o folder/net.c``."""
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / "net.c"
    options = ["--target", "c", "--dtype", "float", "--style", style, "-o", str(source)]
    assert main(["codegen", *map(str, sizes), *options]) == 0
    return source


def defines(blocks: dict[str, int] | None) -> list[str]:
    return [f"-DNET_{name}={value}" for name, value in (blocks or {}).items()]


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    run = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)
    if run.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:3])}... failed:\n{run.stderr[-3000:]}")
    return run


def _sizes(path: Path, cwd: Path) -> tuple[int, int, int]:
    """``.text``, ``.data``, ``.bss`` of an object or ELF file (arm-none-eabi-size, Berkeley)."""
    lines = _run(["arm-none-eabi-size", str(path)], cwd).stdout.splitlines()
    text, data, bss = (int(n) for n in lines[1].split()[:3])
    return text, data, bss


def worst_stack(callgraph: Path) -> tuple[int, str]:
    """The deepest chain of stack frames from a public ``net_`` function through the functions
    of the file, from gcc's ``.ci`` call graph; the functions of other files (libm) not counted."""
    text = callgraph.read_text(encoding="utf-8")
    frames = {
        title: int(size)
        for title, size in re.findall(
            r'node: \{ title: "([^"]+)" label: "[^"]*\\n(\d+) bytes', text
        )
    }
    calls: dict[str, set[str]] = {}
    for source, target in re.findall(r'edge: \{ sourcename: "([^"]+)" targetname: "([^"]+)"', text):
        calls.setdefault(source, set()).add(target)

    def deepest(function: str, seen: frozenset[str]) -> tuple[int, list[str]]:
        best: tuple[int, list[str]] = (0, [])
        for callee in sorted(calls.get(function, ())):
            if callee in frames and callee not in seen:
                best = max(best, deepest(callee, seen | {callee}))
        return frames[function] + best[0], [function.split(":")[-1], *best[1]]

    chains = [deepest(f, frozenset({f})) for f in sorted(frames) if f.startswith("net_")]
    size, chain = max(chains)
    return size, " > ".join(chain)


def cross_build(
    folder: Path, blocks: dict[str, int] | None = None, source: Path | None = None
) -> Build:
    """The training program for the Cortex-M4 (QEMU's mps2-an386) from ``folder/net.c``."""
    source = source or folder / "net.c"
    flags = [*CPU, *OPTIMIZE]
    common = ["arm-none-eabi-gcc", *flags, f"-I{folder}", f"-I{HERE}", *defines(blocks)]
    _run([*common, *STRICT, "-fcallgraph-info=su", "-c", str(source), "-o", "net.o"], folder)
    _run([*common, *STRICT, "-c", str(HERE / "train.c"), "-o", "train.o"], folder)
    _run(
        [*common, "-std=gnu99", "-Wall", "-Wextra", "-Werror", "-c", str(HERE / "startup.c")],
        folder,
    )
    link = ["-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs"]
    link += ["-T", str(HERE / "mps2_an386.ld"), "-Wl,--gc-sections"]
    elf = folder / "train.elf"
    _run([*common, *link, "-o", str(elf), "startup.o", "train.o", "net.o", "-lm"], folder)
    stack, chain = worst_stack(folder / "net.ci")
    return Build(elf, _sizes(folder / "net.o", folder), _sizes(elf, folder), stack, chain)


def run_qemu(elf: Path) -> str:
    """What the program prints under QEMU (semihosting, into a file); an error when it fails."""
    printed = elf.with_suffix(".out")
    semihosting = ["-semihosting-config", "enable=on,target=native,chardev=printed"]
    semihosting += ["-chardev", f"file,id=printed,path={printed}"]
    command = [*QEMU, *semihosting, "-kernel", str(elf)]
    run = subprocess.run(command, capture_output=True, text=True, timeout=300)
    text = printed.read_text(encoding="utf-8") if printed.exists() else ""
    if run.returncode != 0:
        raise RuntimeError(f"QEMU: exit status {run.returncode}: {text}{run.stderr}")
    return text


def host_build(folder: Path, blocks: dict[str, int] | None = None) -> str:
    """The same program built for this machine (gcc, -O2); what it prints."""
    program = folder / "train_host"
    command = ["gcc", *STRICT, "-O2", f"-I{folder}", f"-I{HERE}", *defines(blocks), "-o"]
    sources = [str(HERE / "train.c"), str(HERE / "host.c"), str(folder / "net.c")]
    _run([*command, str(program), *sources, "-lm"], folder)
    return _run([str(program)], folder).stdout


def losses(output: str) -> tuple[float, float]:
    """The two losses a run printed, from their float bits."""
    first, last = output.split()
    return tuple(struct.unpack(">f", bytes.fromhex(bits))[0] for bits in (first, last))  # type: ignore[return-value]


def missing_tools() -> list[str]:
    """The tools of a cross-build that are missing (scripts/test.sh installs them)."""
    return [
        t
        for t in ("arm-none-eabi-gcc", "arm-none-eabi-size", "qemu-system-arm")
        if shutil.which(t) is None
    ]
