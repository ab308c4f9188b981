"""Compile a file of ``symgrad codegen --target c`` into a shared library; its flags, in one place.

Part of the C target. :func:`compile_c` is what ``load_c`` and ``symgrad check`` both run, and
:func:`compile_flags` is where their flags come from:

- :data:`COMPILE_FLAGS`: C99 at ``-O3``, position-independent, ``-fno-math-errno`` (math
  functions need not set ``errno``) and ``-ffp-contract=fast`` (a product and a sum may be one
  fused multiply-add, rounded once). Nothing that changes the value of an operation on the
  numbers the code meets: no ``-ffast-math``, whose reordered sums and finite-only arithmetic
  moved saturated float32 gradients by orders of magnitude;
- the instructions of this machine, with vectors of up to 512 bits where it has them
  (:data:`MACHINE_FLAGS`, tried in turn until the compiler accepts one). ``-march=native`` alone
  leaves the vector width to the compiler's tuning of the processor, which some releases get badly
  wrong (gcc 12 on Cooper Lake);
- for the looped form, the register tile of its products (``NAME_GEMM_MR`` x ``NAME_GEMM_NR``),
  from what the compiler says it targets with those flags (its predefined macros, never a
  measurement): 6 rows by 4 vectors where there are 32 vector registers (AVX-512, AArch64), 4 rows
  by 2 vectors where there are 16 (AVX, SSE2), the header's portable default elsewhere;
- with gcc on x86-64 and glibc 2.35 or later, the declarations of :data:`VECTOR_MATH` (a file
  the compiler reads first): glibc's vector math library (libmvec) has each of these functions
  for vectors of every width, within 4 ulp of the exact value as NumPy's own vector functions, and
  so declared gcc vectorizes the loops that call them (the sigmoid's tanh over a layer: 1.7x the
  whole looped call at 64-64-64-10); the arithmetic stays IEEE;
- for a file made with ``--blas cblas``, a CBLAS library to link (:data:`BLAS_LINK`, in turn).

A flag set the compiler refuses (or a library it cannot link) is dropped for the next one.
"""

from __future__ import annotations

import functools
import os
import platform
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from symgrad.errors import SymgradError

#: Flags of every compilation (see the module's docstring).
COMPILE_FLAGS: tuple[str, ...] = (
    "-std=c99",
    "-O3",
    "-fPIC",
    "-fno-math-errno",
    "-ffp-contract=fast",
)
#: The machine's instructions, tried in turn until the compiler accepts one.
MACHINE_FLAGS: tuple[tuple[str, ...], ...] = (
    ("-march=native", "-mprefer-vector-width=512"),
    ("-march=native",),
    (),
)
#: Libraries tried in turn for a ``--blas cblas`` file: OpenBLAS (Debian's libopenblas-dev), a
#: CBLAS of its own, the system's BLAS (which, on Debian, has the CBLAS functions too).
BLAS_LINK: tuple[tuple[str, ...], ...] = (("-lopenblas",), ("-lcblas",), ("-lblas",))
COMPILE_TIMEOUT_S = 600
#: The functions of generated C that glibc's libmvec has in vector versions (x86-64, glibc 2.35 on).
VECTOR_MATH: tuple[tuple[str, int], ...] = (
    ("exp", 1),
    ("log", 1),
    ("log1p", 1),
    ("expm1", 1),
    ("tanh", 1),
    ("sin", 1),
    ("cos", 1),
    ("pow", 2),
)
_VECTOR_MATH_GLIBC = (2, 35)


class CCompilerError(SymgradError):
    """No C compiler, or one that rejects the file."""


def find_compiler() -> str:
    """The C compiler to use: ``$CC``, else the first of ``cc``, ``gcc``, ``clang`` on PATH."""
    chosen = os.environ.get("CC")
    if chosen:
        return chosen
    for name in ("cc", "gcc", "clang"):
        found = shutil.which(name)
        if found:
            return found
    raise CCompilerError(
        "no C compiler found (looked for $CC, cc, gcc and clang); install one, for example "
        "with `apt-get install gcc`, to load C code from Python"
    )


@dataclass(frozen=True)
class FileFacts:
    """What the flags depend on, read from ``NAME.h``: the prefix of its macros, its form, its
    real type and its products (``packed``, ``cblas`` or none for the unrolled form)."""

    macro: str
    form: str
    real: str
    products: str

    @classmethod
    def read(cls, header: str) -> FileFacts:
        def find(pattern: str, default: str) -> str:
            match = re.search(pattern, header, flags=re.MULTILINE)
            return match.group(1) if match else default

        macro = find(r'^#define (\w+)_FORM "(?:unrolled|looped)"$', "")
        form = find(r'^#define \w+_FORM "(unrolled|looped)"$', "looped")
        products = find(r'^#define \w+_PRODUCTS "(packed|cblas)"$', "")
        return cls(macro, form, find(r"^typedef (double|float) real_t;$", "double"), products)


@dataclass(frozen=True)
class Attempt:
    """One way to build: the compiler's flags, and whether the vector math declarations come
    first (then the library links libmvec)."""

    flags: tuple[str, ...]
    vector_math: bool = False


def compile_flags(facts: FileFacts, compiler: str | None = None) -> list[Attempt]:
    """The ways tried in turn to compile a file: the flags of every compilation, the machine's
    (widest first) and, for packed products, the tile for the machine they target; first with
    the vector math declarations where the compiler and the C library have them."""
    compiler = compiler or find_compiler()
    attempts = []
    for machine in MACHINE_FLAGS:
        flags = [*COMPILE_FLAGS, *machine]
        if facts.products == "packed" and facts.macro:
            flags += tile_defines(compiler, tuple(machine), facts.macro, facts.real)
        if machine and _has_vector_math(compiler, tuple(machine)):
            attempts.append(Attempt(tuple(flags), vector_math=True))
        attempts.append(Attempt(tuple(flags)))
    return attempts


def vector_math_declarations() -> str:
    """The file the compiler reads before a source (``-include``): each function of
    :data:`VECTOR_MATH` declared with gcc's ``simd`` attribute, in double and float."""
    lines = [
        "// Written by symgrad's C loader: glibc's vector math library (libmvec) has these",
        "// functions for vectors of every width; so declared, gcc vectorizes loops calling them.",
    ]
    for name, arguments in VECTOR_MATH:
        for real, suffix in (("double", ""), ("float", "f")):
            parameters = ", ".join([real] * arguments)
            lines.append(
                f'__attribute__((__simd__("notinbranch"))) {real} {name}{suffix}({parameters});'
            )
    return "\n".join(lines) + "\n"


def tile_defines(compiler: str, machine: tuple[str, ...], macro: str, real: str) -> list[str]:
    """``-DNAME_GEMM_MR=.. -DNAME_GEMM_NR=..`` for the vector unit ``machine`` targets, or none."""
    found = _vector_unit(compiler, machine)
    if found is None:
        return []
    bits, registers = found
    lanes = bits // (64 if real == "double" else 32)
    rows, vectors = (6, 4) if registers >= 32 else (4, 2)
    return [f"-D{macro}_GEMM_MR={rows}", f"-D{macro}_GEMM_NR={vectors * lanes}"]


@functools.cache
def _predefined(compiler: str, machine: tuple[str, ...]) -> frozenset[str]:
    """The macros ``compiler`` predefines with the flags of every compilation and ``machine``
    (none when it refuses them)."""
    try:
        run = subprocess.run(
            [compiler, *COMPILE_FLAGS, *machine, "-dM", "-E", "-x", "c", os.devnull],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return frozenset()
    if run.returncode != 0:
        return frozenset()
    return frozenset(re.findall(r"^#define (\w+)", run.stdout, flags=re.MULTILINE))


def _has_vector_math(compiler: str, machine: tuple[str, ...]) -> bool:
    """gcc (not clang, which ignores the attribute) for x86-64, with glibc 2.35 or later."""
    defined = _predefined(compiler, machine)
    if "__x86_64__" not in defined or "__GNUC__" not in defined or "__clang__" in defined:
        return False
    library, version = platform.libc_ver()
    numbers = tuple(int(n) for n in re.findall(r"\d+", version)[:2])
    return library == "glibc" and numbers >= _VECTOR_MATH_GLIBC


def _vector_unit(compiler: str, machine: tuple[str, ...]) -> tuple[int, int] | None:
    """(vector bits, vector registers) of what ``compiler`` with ``machine`` flags targets, read
    from its predefined macros; None when it names no vector unit known here."""
    defined = _predefined(compiler, machine)
    wide = "-mprefer-vector-width=512" in machine
    if "__AVX512F__" in defined:
        return (512, 32) if wide else (256, 32)
    if "__AVX__" in defined:
        return 256, 16
    if "__aarch64__" in defined:
        return 128, 32
    if "__SSE2__" in defined or "__ARM_NEON" in defined:
        return 128, 16
    return None


@dataclass(frozen=True)
class Built:
    """A library :func:`build_library` made, and how: what the compiler printed (its warnings),
    the compiler and flags that compiled it, and what it was linked with."""

    library: Path
    warnings: str
    compiler: str
    flags: tuple[str, ...]
    linked: tuple[str, ...]

    def describe(self) -> str:
        """``gcc -std=c99 -O3 ...; linked with -lm``, for a report."""
        return f"{' '.join([self.compiler, *self.flags])}; linked with {' '.join(self.linked)}"


def compile_c(source: Path, workdir: Path) -> Path:
    """Compile ``source`` (``NAME.c``, with ``NAME.h`` beside it) into a shared library in
    ``workdir`` and return its path (``libNAME.so``). Raises :class:`CCompilerError`."""
    return build_c(source, workdir).library


def build_c(source: Path, workdir: Path) -> Built:
    """:func:`compile_c`, saying how the library was built."""
    source = Path(source)
    header = source.with_suffix(".h")
    if not source.is_file() or not header.is_file():
        raise CCompilerError(f"{source} needs {header.name} beside it; write both with -o")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    library = workdir / f"lib{source.stem}.so"
    facts = FileFacts.read(header.read_text(encoding="utf-8", errors="replace"))
    return build_library([source], library, facts=facts)


def build_library(
    sources: Sequence[Path],
    library: Path,
    flags: Sequence[str] | None = None,
    facts: FileFacts | None = None,
    link: Sequence[str] = (),
) -> Built:
    """Compile ``sources`` and link them into the shared library ``library``; return it with
    what the compiler printed (its warnings) and the flags that built it.

    ``flags`` replaces the default, :func:`compile_flags` of ``facts`` (a looped file of double
    when None). Compiling and linking are two steps, the link without the optimization flags;
    a file with CBLAS products is linked with the first of :data:`BLAS_LINK` that links, other
    libraries with ``link``.
    """
    compiler = find_compiler()
    library = Path(library)
    facts = facts or FileFacts("", "looped", "double", "")
    attempts = [Attempt(tuple(flags))] if flags is not None else compile_flags(facts, compiler)
    libraries = BLAS_LINK if facts.products == "cblas" else ((),)
    names = ", ".join(Path(s).name for s in sources)
    problem = ""
    with tempfile.TemporaryDirectory(prefix="symgrad-cc-") as scratch:
        objects = [Path(scratch) / f"{n}_{Path(s).stem}.o" for n, s in enumerate(sources)]
        # A new file renamed to the final name (not an overwrite), so that a library loaded
        # before from that path is never the one a later load finds.
        partial = Path(scratch) / library.name
        declarations = Path(scratch) / "symgrad_vector_math.h"
        declarations.write_text(vector_math_declarations(), encoding="utf-8")
        for attempt in attempts:
            first = ["-include", str(declarations)] if attempt.vector_math else []
            compiled = [
                _run([compiler, *attempt.flags, *first, "-c", "-o", str(o), str(s)])
                for o, s in zip(objects, sources, strict=True)
            ]
            failed = next((run for run in compiled if run.returncode != 0), None)
            if failed is None:
                vector = ["-lmvec"] if attempt.vector_math else []
                for blas in libraries:
                    command = [compiler, "-shared", "-o", str(partial), *map(str, objects)]
                    libraries_used = (*blas, *link, *vector, "-lm")
                    linked = _run([*command, *libraries_used])
                    if linked.returncode == 0:
                        shutil.move(str(partial), library)
                        return Built(
                            library,
                            "".join(run.stderr for run in compiled),
                            Path(compiler).name,
                            attempt.flags,
                            libraries_used,
                        )
                failed = linked
                if facts.products == "cblas" and not attempt.vector_math:
                    problem = (
                        "no CBLAS library to link (tried "
                        + ", ".join(" ".join(b) for b in libraries)
                        + "); install one, for example with `apt-get install libopenblas-dev`"
                    )
                    break
            problem = next((ln for ln in failed.stderr.splitlines() if "error" in ln), "")
            problem = problem or (failed.stderr.strip().splitlines() or ["no message"])[-1]
    raise CCompilerError(f"{Path(compiler).name} could not compile {names}: {problem}")


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=COMPILE_TIMEOUT_S)
    except FileNotFoundError:
        raise CCompilerError(
            f"the C compiler {command[0]!r} was not found; install one or set CC"
        ) from None
    except subprocess.TimeoutExpired:
        raise CCompilerError(
            f"{command[0]} took more than {COMPILE_TIMEOUT_S} s to compile {command[-1]}"
        ) from None


__all__ = [
    "Built",
    "BLAS_LINK",
    "VECTOR_MATH",
    "Attempt",
    "COMPILE_FLAGS",
    "MACHINE_FLAGS",
    "CCompilerError",
    "FileFacts",
    "build_c",
    "build_library",
    "compile_c",
    "compile_flags",
    "find_compiler",
    "tile_defines",
    "vector_math_declarations",
]
