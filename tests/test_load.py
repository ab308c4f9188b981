"""``symgrad.load``: the generated code of a command in one call, from a private, checked cache.

The module (NumPy, array API) or the C object equals what ``symgrad codegen`` writes; a second
call, also from a fresh process, reads the cache instead of generating. The cache is attacked:
code written into a cached file, a file of another command put in an entry, an entry other users
may write, an entry that is a link to someone else's folder, a cache of another user, a bytecode
file planted beside a checked module, a file changed right after its check. None of it is ever
imported or compiled: the entry is made again (or the cache refused), and what runs is the bytes
that were checked. With the checks replaced by "read the files", the first attack succeeds, and
an ordinary import of the checked file runs the planted bytecode: the checks, and executing the
checked bytes, are what stop them.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import re
import shutil
import stat
import subprocess
import sys
from importlib._bootstrap_external import _code_to_timestamp_pyc as _timestamp_pyc
from pathlib import Path

import numpy as np
import pytest

import symgrad
from symgrad import NetworkSpec, cache, derive
from symgrad.codegen import generate
from symgrad.errors import SpecError

ROOT = Path(__file__).resolve().parents[1]
#: What an attacker's code does at import: a file that must never appear.
PAYLOAD = "\nimport pathlib\npathlib.Path({marker!r}).write_text('ran')\n"


@pytest.fixture(autouse=True)
def fresh_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts as a new process would: no module imported from the cache yet."""
    monkeypatch.setattr(cache, "_MODULES", {})


def _entry(root: Path, command: str) -> Path:
    return root / cache.entry_key(command)


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    return rng.standard_normal((5, 3)), rng.integers(0, 2, 5)


def test_load_gives_what_codegen_writes_and_keeps_it(tmp_path: Path) -> None:
    mlp = symgrad.load([3, 3, 2], activation="tanh", cache_dir=tmp_path)
    entry = _entry(tmp_path, "symgrad codegen 3 3 2 --activation tanh")
    (file,) = generate(derive(NetworkSpec.parse([3, 3, 2], activation="tanh"), prove=False))
    assert (entry / "net.py").read_text(encoding="utf-8") == file.text
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o700
    assert stat.S_IMODE(entry.stat().st_mode) == 0o700
    assert {stat.S_IMODE(p.stat().st_mode) for p in entry.iterdir()} == {0o600}
    X, labels = _data()
    value, grads = mlp.loss_and_gradients(mlp.init_params(1), X, labels)
    assert value == mlp.loss(mlp.init_params(1), X, labels)
    assert set(grads) == {"W1", "b1", "W2", "b2"}
    assert symgrad.load([3, 3, 2], activation="tanh", cache_dir=tmp_path) is mlp


def test_load_takes_the_layer_kinds(tmp_path: Path) -> None:
    """``weight_decay`` and ``residual`` as keywords: their own entry, their penalty."""
    mlp = symgrad.load([3, 4, 4, 2], weight_decay=0.05, residual=True, cache_dir=tmp_path)
    plain = symgrad.load([3, 4, 4, 2], residual=True, cache_dir=tmp_path)
    assert _entry(tmp_path, "symgrad codegen 3 4 4 2 --weight-decay 0.05 --residual").is_dir()
    X, labels = _data()
    params = mlp.init_params(1)
    penalty = 0.05 / 2 * sum(np.sum(np.square(params[f"W{k}"])) for k in (1, 2, 3))
    assert mlp.loss(params, X, labels) == pytest.approx(plain.loss(params, X, labels) + penalty)
    with pytest.raises(TypeError, match="weight_decy"):
        symgrad.load([3, 4, 4, 2], weight_decy=0.05, cache_dir=tmp_path)
    with pytest.raises(SpecError, match="--residual needs"):
        symgrad.load([3, 4, 2], residual=True, cache_dir=tmp_path)


def test_a_second_process_reads_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    symgrad.load([3, 3, 2], "array-api", cache_dir=tmp_path)
    monkeypatch.setattr(cache, "_MODULES", {})

    def refuse(*args: object) -> None:
        raise AssertionError("generated again although the cache holds the entry")

    monkeypatch.setattr(cache, "_make_entry", refuse)
    mlp = symgrad.load([3, 3, 2], "array-api", cache_dir=tmp_path)
    X, labels = _data()
    assert float(mlp.loss(mlp.init_params(0), X, labels)) > 0


def test_c_is_compiled_from_the_cache(tmp_path: Path) -> None:
    if shutil.which(os.environ.get("CC", "cc")) is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler on this machine")
    net = symgrad.load([3, 3, 2], "c", dtype="float", cache_dir=tmp_path)
    reference = symgrad.load([3, 3, 2], cache_dir=tmp_path)
    X, labels = _data()
    params = {k: v.astype(np.float32) for k, v in reference.init_params(2).items()}
    value, grads = net.loss_and_gradients(params, X.astype(np.float32), labels)
    expected, expected_grads = reference.loss_and_gradients(params, X.astype(np.float32), labels)
    assert isinstance(value, float) and abs(value - expected) < 1e-5
    assert all(np.allclose(grads[k], expected_grads[k], atol=1e-5) for k in grads)
    entry = _entry(tmp_path, "symgrad codegen 3 3 2 --target c --dtype float")
    assert sorted(p.name for p in entry.iterdir()) == ["manifest.json", "net.c", "net.h"]


def test_the_environment_chooses_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path / "chosen"))
    symgrad.load([2, 2])
    assert len(list((tmp_path / "chosen").iterdir())) == 1
    monkeypatch.delenv("SYMGRAD_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.default_cache_dir() == tmp_path / "xdg" / "symgrad"


def test_bad_requests_are_refused_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="positive integer"):
        symgrad.load([3, 0, 2], cache_dir=tmp_path)
    with pytest.raises(SpecError, match="unknown target"):
        symgrad.load([3, 2], "fortran", cache_dir=tmp_path)
    with pytest.raises(SpecError, match="only --style vectorized"):
        symgrad.load([3, 2], "array-api", style="unrolled", cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


# Attacks -----------------------------------------------------------------------------------------


def _plant(entry: Path, marker: Path) -> None:
    """Code appended to the cached module: it would write ``marker`` when imported."""
    path = entry / "net.py"
    path.write_text(path.read_text(encoding="utf-8") + PAYLOAD.format(marker=str(marker)))


def test_code_written_into_a_cached_file_never_runs(tmp_path: Path) -> None:
    symgrad.load([3, 3, 2], cache_dir=tmp_path)
    entry = _entry(tmp_path, "symgrad codegen 3 3 2")
    marker = tmp_path.parent / f"{tmp_path.name}-ran"
    _plant(entry, marker)
    cache._MODULES.clear()
    mlp = symgrad.load([3, 3, 2], cache_dir=tmp_path)
    assert not marker.exists()
    assert "pathlib" not in (entry / "net.py").read_text(encoding="utf-8")  # made again
    X, labels = _data()
    assert mlp.loss(mlp.init_params(0), X, labels) > 0


def test_without_the_checks_the_planted_code_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same attack on a cache that only asks whether the entry exists: it succeeds."""
    symgrad.load([3, 3, 2], cache_dir=tmp_path)
    marker = tmp_path.parent / f"{tmp_path.name}-ran"
    _plant(_entry(tmp_path, "symgrad codegen 3 3 2"), marker)
    cache._MODULES.clear()

    def unchecked(entry: Path, key: str, command: str) -> dict[str, bytes]:
        return {path.name: path.read_bytes() for path in entry.iterdir()}

    monkeypatch.setattr(cache, "_verified", unchecked)
    symgrad.load([3, 3, 2], cache_dir=tmp_path)
    assert marker.read_text() == "ran"


def _plant_bytecode(entry: Path, marker: Path) -> Path:
    """A bytecode file beside the cached module, stamped with the module's time and size as
    Python's import wants it, compiled from the module plus the attacker's code. The module
    itself is untouched: its hash is still the manifest's."""
    source = entry / "net.py"
    text = source.read_text(encoding="utf-8") + PAYLOAD.format(marker=str(marker))
    facts = source.stat()
    bytecode = Path(importlib.util.cache_from_source(str(source)))
    bytecode.parent.mkdir(exist_ok=True)
    data = _timestamp_pyc(compile(text, str(source), "exec"), facts.st_mtime, facts.st_size)
    bytecode.write_bytes(data)
    return source


def test_a_bytecode_file_planted_beside_the_module_never_runs(tmp_path: Path) -> None:
    symgrad.load([3, 3, 2], cache_dir=tmp_path)
    marker = tmp_path.parent / f"{tmp_path.name}-ran"
    _plant_bytecode(_entry(tmp_path, "symgrad codegen 3 3 2"), marker)
    cache._MODULES.clear()
    mlp = symgrad.load([3, 3, 2], cache_dir=tmp_path)
    assert not marker.exists()
    X, labels = _data()
    assert mlp.loss(mlp.init_params(0), X, labels) > 0


def test_an_ordinary_import_of_the_checked_file_runs_the_planted_bytecode(tmp_path: Path) -> None:
    """The attack of the test above works on an import of the file, which is why the module is
    executed from the checked bytes instead."""
    symgrad.load([3, 3, 2], cache_dir=tmp_path)
    marker = tmp_path.parent / f"{tmp_path.name}-ran"
    source = _plant_bytecode(_entry(tmp_path, "symgrad codegen 3 3 2"), marker)
    spec = importlib.util.spec_from_file_location("planted", source)
    assert spec is not None and spec.loader is not None
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    assert marker.read_text() == "ran"


def _changed_after_the_check(monkeypatch: pytest.MonkeyPatch, name: str, extra: str) -> None:
    """The entry's ``name`` gets ``extra`` appended right after each check of the entry passes,
    as a process racing ``load`` would do."""
    check = cache._verified

    def check_then_change(entry: Path, key: str, command: str) -> dict[str, bytes] | None:
        files = check(entry, key, command)
        if files is not None:
            with open(entry / name, "a", encoding="utf-8") as file:
                file.write(extra)
        return files

    monkeypatch.setattr(cache, "_verified", check_then_change)


def test_a_module_changed_after_its_check_is_not_what_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    symgrad.load([3, 3, 2], cache_dir=tmp_path)
    marker = tmp_path.parent / f"{tmp_path.name}-ran"
    _changed_after_the_check(monkeypatch, "net.py", PAYLOAD.format(marker=str(marker)))
    cache._MODULES.clear()
    mlp = symgrad.load([3, 3, 2], cache_dir=tmp_path)
    assert "pathlib" in (_entry(tmp_path, "symgrad codegen 3 3 2") / "net.py").read_text()
    assert not marker.exists()
    assert "pathlib" not in inspect.getsource(mlp.loss_and_gradients.__globals__["loss"])


def test_c_changed_after_its_check_is_not_what_is_compiled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which(os.environ.get("CC", "cc")) is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler on this machine")
    symgrad.load([3, 2], "c", cache_dir=tmp_path)
    # Code that does not compile, appended after the check: compiled, it would fail the load.
    _changed_after_the_check(monkeypatch, "net.c", "\nthis is not C;\n")
    net = symgrad.load([3, 2], "c", cache_dir=tmp_path)
    entry = _entry(tmp_path, "symgrad codegen 3 2 --target c")
    assert "this is not C" in (entry / "net.c").read_text()
    X, labels = _data()
    assert net.loss(net.init_params(0), X, labels) > 0


def test_the_files_of_another_command_are_not_taken(tmp_path: Path) -> None:
    """An entry whose files and manifest are those of another network, under this key."""
    symgrad.load([3, 3, 2], cache_dir=tmp_path)
    symgrad.load([3, 4, 2], cache_dir=tmp_path)
    mine, other = (_entry(tmp_path, f"symgrad codegen 3 {n} 2") for n in (3, 4))
    shutil.rmtree(mine)
    shutil.copytree(other, mine)
    cache._MODULES.clear()
    assert symgrad.load([3, 3, 2], cache_dir=tmp_path).LAYER_SIZES == (3, 3, 2)
    # The manifest rewritten to name this key, the file still the other command's: refused too.
    shutil.rmtree(mine)
    shutil.copytree(other, mine)
    manifest = (mine / "manifest.json").read_text(encoding="utf-8")
    manifest = re.sub(r'"key": "\w+"', f'"key": "{mine.name}"', manifest)
    (mine / "manifest.json").write_text(manifest.replace("3 4 2", "3 3 2"), encoding="utf-8")
    cache._MODULES.clear()
    assert symgrad.load([3, 3, 2], cache_dir=tmp_path).LAYER_SIZES == (3, 3, 2)


@pytest.mark.parametrize("what", ["entry", "file"])
def test_an_entry_others_may_write_is_not_used(tmp_path: Path, what: str) -> None:
    symgrad.load([3, 3, 2], cache_dir=tmp_path)
    entry = _entry(tmp_path, "symgrad codegen 3 3 2")
    (entry if what == "entry" else entry / "net.py").chmod(0o777)
    before = (entry / "net.py").stat().st_ino
    cache._MODULES.clear()
    symgrad.load([3, 3, 2], cache_dir=tmp_path)
    assert (entry / "net.py").stat().st_ino != before  # made again
    assert stat.S_IMODE(entry.stat().st_mode) == 0o700
    assert stat.S_IMODE((entry / "net.py").stat().st_mode) == 0o600


def test_an_entry_that_links_elsewhere_is_not_followed(tmp_path: Path) -> None:
    """The cache's entry is a link to a folder of someone else's, which holds a correct entry
    today (and whatever its owner writes tomorrow, after the check): never used."""
    root, elsewhere = tmp_path / "cache", tmp_path / "attacker"
    symgrad.load([3, 3, 2], cache_dir=root)
    entry = _entry(root, "symgrad codegen 3 3 2")
    shutil.copytree(entry, elsewhere)
    shutil.rmtree(entry)
    entry.symlink_to(elsewhere, target_is_directory=True)
    cache._MODULES.clear()
    mlp = symgrad.load([3, 3, 2], cache_dir=root)
    assert not entry.is_symlink() and Path(mlp.__file__).parent == entry
    assert (elsewhere / "net.py").exists()  # the other folder is left alone


def test_a_cache_of_another_user_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cache.os, "getuid", lambda: os.stat(tmp_path).st_uid + 1)
    with pytest.raises(cache.CacheError, match="belongs to another user"):
        symgrad.load([3, 2], cache_dir=tmp_path)


def test_a_cache_with_wide_permissions_is_narrowed(tmp_path: Path) -> None:
    tmp_path.chmod(0o777)
    symgrad.load([3, 2], cache_dir=tmp_path)
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o700


def test_the_readme_example_runs(tmp_path: Path) -> None:
    """The README's first Python example, as written, in a fresh process with its own cache."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first = readme.split("```python\n", 1)[1].split("```", 1)[0]
    assert "symgrad.load(" in first
    script = first + "\nprint(float(value), sorted(grads))\n"
    environment = {**os.environ, "SYMGRAD_CACHE_DIR": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=environment,
        cwd=tmp_path,
        check=True,
    )
    value, names = out.stdout.split(" ", 1)
    assert float(value) > 0 and names.strip() == "['W1', 'W2', 'b1', 'b2']"
