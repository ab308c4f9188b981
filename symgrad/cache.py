"""``symgrad.load``: generated code for a network in one call, made once and kept in a cache.

Beside the pipeline, after the targets: :func:`load` does what ``symgrad codegen`` and an import
(or a compilation, for C) do, for a notebook or a training script. The files are generated into
a private cache directory (mode 0700, owned by the user), one entry per key: the SHA-256 of the
command that makes them (``symgrad codegen 784 128 10 --target array-api``), the symgrad version
and a hash of the templates and of the package's own sources (the code that fills them). An
entry holds the generated files and ``manifest.json``, which states the key, the command and the
SHA-256 of every file. Before a file is imported or compiled, the entry is checked against its
key: the manifest must name the key expected, every file must have the hash the manifest states
and begin with the header of that command, and the entry must be the user's and writable by no
one else. An entry that fails any of these is made again, never used. What runs is the bytes
that were checked, read once: the module is executed from them (never from a bytecode file
beside it, which no manifest covers), and C is compiled from a private copy of them, so a file
changed after its check is not the one that runs.

The cache is ``$SYMGRAD_CACHE_DIR``, else ``$XDG_CACHE_HOME/symgrad``, else
``~/.cache/symgrad``; ``cache_dir=`` overrides all three.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.abc
import importlib.metadata
import importlib.util
import json
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from symgrad.errors import SymgradError

#: The file of an entry that states its key and the hash of every file.
MANIFEST = "manifest.json"
#: The stem of the generated file in an entry (``net.py``; ``net.c`` and ``net.h`` for C).
STEM = "net"
_PRIVATE = 0o700


class CacheError(SymgradError):
    """A cache directory that cannot be used safely (another owner, writable by others)."""


def load(
    sizes: Sequence[int],
    target: str = "numpy",
    *,
    activation: str | None = None,
    output: str | None = None,
    loss: str | None = None,
    style: str | None = None,
    dtype: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    **kinds: Any,
) -> Any:
    """The generated code of ``symgrad codegen SIZES --target TARGET [options]``, ready to call.

    For ``numpy`` and ``array-api`` the imported module; for ``c`` the compiled file as a
    :class:`~symgrad.codegen.c.loader.CNetwork` (the module's contract, through the system C
    compiler). ``activation``, ``output``, ``loss``, ``style`` and ``dtype`` are the options of
    ``symgrad codegen``, and so are the layer kinds' options, as keywords named as in Python
    (``weight_decay=0.01``, ``residual=True``). The first call for a command derives, proves
    and generates (seconds); later ones read the cache (milliseconds), after checking it (see
    the module docstring).

    >>> import symgrad
    >>> mlp = symgrad.load([784, 128, 10], target="array-api")  # doctest: +SKIP
    """
    from symgrad import codegen, options
    from symgrad.spec import NetworkSpec

    unknown = sorted(set(kinds) - {option.dest for option in options.layer_kinds()})
    if unknown:
        raise TypeError(f"load() got an unexpected keyword argument {unknown[0]!r}")
    spec = NetworkSpec.parse([int(n) for n in sizes], activation, output, loss, kinds)
    chosen = codegen.target(target)
    style = style if style is not None else chosen.styles[0]
    if dtype is None and chosen.dtypes:
        dtype = chosen.dtypes[0]
    chosen.check(spec, style, dtype)  # refuse before deriving and proving
    command = codegen.default_command(spec, target, style, dtype)
    key = entry_key(command)
    root = _private_root(cache_dir)
    entry = root / key
    files = _verified(entry, key, command)
    if files is None:
        files = _make_entry(root, entry, key, command, spec, target, style, dtype)
    if target == "c":
        return _compile(files)
    return _import(entry / f"{STEM}.py", key, files[f"{STEM}.py"])


def entry_key(command: str) -> str:
    """The SHA-256 (hex) of the command, the symgrad version and :func:`generator_hash`."""
    facts = {"command": command, "symgrad": _version(), "generator": generator_hash()}
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()


def _version() -> str:
    """The installed symgrad's version (the package's ``__version__``, which this stage does
    not import)."""
    try:
        return importlib.metadata.version("symgrad")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


@functools.cache
def generator_hash() -> str:
    """The SHA-256 of every template and every source file of the package, by relative path."""
    from symgrad.templating import template_dir

    digest = hashlib.sha256()
    package = Path(__file__).resolve().parent
    for folder, pattern in ((template_dir(), "*.jinja"), (package, "*.py")):
        for path in sorted(folder.rglob(pattern)):
            digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def default_cache_dir() -> Path:
    """``$SYMGRAD_CACHE_DIR``, else ``$XDG_CACHE_HOME/symgrad``, else ``~/.cache/symgrad``."""
    chosen = os.environ.get("SYMGRAD_CACHE_DIR")
    if chosen:
        return Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "symgrad"


def _private_root(cache_dir: str | os.PathLike[str] | None) -> Path:
    """The cache directory, made (mode 0700) when missing; refused unless it is the user's.

    A directory of the user's with wider permissions is narrowed to 0700.
    """
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    try:
        root.mkdir(mode=_PRIVATE, parents=True, exist_ok=True)
        facts = root.stat()
        if facts.st_uid != os.getuid():
            raise CacheError(f"the cache directory {root} belongs to another user; give your own")
        if stat.S_IMODE(facts.st_mode) != _PRIVATE:
            root.chmod(_PRIVATE)
    except OSError as exc:
        raise CacheError(f"cannot use {root} as the cache directory: {exc.strerror}") from None
    return root


def _private(path: Path) -> bool:
    """``path`` (not followed if a link) is the user's and writable by no one else."""
    facts = path.lstat()
    return (
        facts.st_uid == os.getuid()
        and not stat.S_ISLNK(facts.st_mode)
        and not facts.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    )


#: The files of an entry, by name: the bytes that were checked (or written).
Files = dict[str, bytes]


def _verified(entry: Path, key: str, command: str) -> Files | None:
    """The files of the entry, each read once, when the entry is what its key says (see the
    module docstring); None when any check fails."""
    contents: Files = {}
    try:
        if not entry.is_dir() or not _private(entry):
            return None
        manifest = json.loads((entry / MANIFEST).read_text(encoding="utf-8"))
        if manifest.get("key") != key or manifest.get("command") != command:
            return None
        files = manifest.get("files")
        if not isinstance(files, dict) or not files:
            return None
        for name, digest in files.items():
            path = entry / name
            if Path(name).name != name or not _private(path):
                return None
            data = path.read_bytes()
            if hashlib.sha256(data).hexdigest() != digest or not _made_by(data, command):
                return None
            contents[name] = data
    except (OSError, ValueError, AttributeError):
        return None
    return contents


def _made_by(data: bytes, command: str) -> bool:
    """The file's first line is the header of ``command`` (``# Generated by symgrad from:
    COMMAND`` in Python, the same after ``//`` in C)."""
    line = data.split(b"\n", 1)[0].decode("utf-8", errors="replace")
    return line in {f"{mark} Generated by symgrad from: {command}" for mark in ("#", "//")}


def _make_entry(
    root: Path,
    entry: Path,
    key: str,
    command: str,
    spec: Any,
    target: str,
    style: str,
    dtype: str | None,
) -> Files:
    """Generate the files of ``command`` into a new private folder, put it at ``entry``, and
    return the files."""
    from symgrad.codegen import generate
    from symgrad.pipeline import derive

    files = generate(derive(spec, input_gradient=True), target, style, dtype, name=STEM)
    folder = Path(tempfile.mkdtemp(prefix=".partial-", dir=root))  # mode 0700
    try:
        contents: Files = {}
        for file in files:
            name = f"{STEM}{file.suffix}"
            contents[name] = file.text.encode("utf-8")
            _write_private(folder / name, contents[name])
        digests = {name: hashlib.sha256(data).hexdigest() for name, data in contents.items()}
        manifest = {"key": key, "command": command, "files": digests}
        _write_private(folder / MANIFEST, json.dumps(manifest, indent=1).encode("utf-8"))
        if _verified(entry, key, command) is None:  # else another process made it meanwhile
            if entry.exists() or entry.is_symlink():  # an entry that failed its check
                _remove(entry)
            try:
                folder.rename(entry)
            except OSError:
                # Another process put a good entry there first; anything else is an error.
                if _verified(entry, key, command) is None:
                    raise CacheError(f"cannot write the cache entry {entry}") from None
        return contents
    finally:
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)


def _write_private(path: Path, data: bytes) -> None:
    """A new file of the user's alone (mode 0600)."""
    handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(handle, "wb") as file:
        file.write(data)


def _remove(path: Path) -> None:
    if path.is_symlink() or not path.is_dir():
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    else:
        shutil.rmtree(path, ignore_errors=True)


#: Modules imported by this process, by key: the same command gives the same module object.
_MODULES: dict[str, ModuleType] = {}


class _CheckedSource(importlib.abc.Loader):
    """Executes a module from the source that was checked, never from its file again or from a
    bytecode file beside it; gives that source to ``inspect`` and to Dask's workers."""

    def __init__(self, path: Path, source: bytes) -> None:
        self.path, self.source = path, source

    def exec_module(self, module: ModuleType) -> None:
        code = compile(self.source, str(self.path), "exec", dont_inherit=True)
        exec(code, vars(module))

    def get_source(self, name: str) -> str:
        return self.source.decode("utf-8")


def _import(path: Path, key: str, source: bytes) -> ModuleType:
    """The module of ``source`` (checked, from ``path``), imported as ``symgrad_net_<key>`` and
    registered in ``sys.modules`` as an import would (``torch.compile`` looks a function's
    module up there)."""
    if key in _MODULES:
        return _MODULES[key]
    name = f"symgrad_net_{key[:16]}"
    spec = importlib.util.spec_from_file_location(name, path, loader=_CheckedSource(path, source))
    if spec is None or spec.loader is None:
        raise SymgradError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    _MODULES[key] = module
    return module


def _compile(files: Files) -> Any:
    """The C files, checked, compiled from a private copy: a file changed in the cache after its
    check is not the one compiled."""
    from symgrad.codegen.c.loader import load_c

    with tempfile.TemporaryDirectory(prefix="symgrad-load-") as folder:  # mode 0700
        for name, data in files.items():
            _write_private(Path(folder) / name, data)
        return load_c(Path(folder) / f"{STEM}.c")


__all__ = ["CacheError", "default_cache_dir", "entry_key", "generator_hash", "load"]
