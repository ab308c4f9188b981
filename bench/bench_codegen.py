"""Benchmark: loss + gradients of symgrad's generated NumPy code against hand-written and peer code.

Not a test. Run from anywhere as ``python bench/bench_codegen.py [--quick] [--json FILE]``.

For sigmoid hidden layers, a softmax output and the cross-entropy loss (float64), on a grid of
networks and batch sizes, it times one evaluation of the mean loss and all its gradients for:

- ``handwritten``: ``tests/reference_backprop.loss_and_gradients``, the baseline every other
  time is divided by;
- ``generated-vectorized`` / ``generated-unrolled``: modules written by
  ``python -m symgrad codegen`` into a temporary directory and imported;
  "refused" when the unrolled style declines a network (exit status 2), "unavailable" when
  generation or import fails;
- ``torch`` (eager, autograd), ``jax`` (``jit(value_and_grad)``), ``autograd`` (HIPS): optional
  peers, "not installed" when they cannot be imported;
- ``c``: the file of ``symgrad codegen --target c`` (``--style auto``), compiled and called
  through ``symgrad.codegen.c.loader`` (its flags: ``symgrad.codegen.c.build.compile_flags``);
  ``c-lean``: the same through the lean call on flat parameters
  (``loss_and_gradients_flat(theta, X, Y, out=g)``); ``c-raw``: the same function called from C
  in a loop by ``bench/time_c.c``, the generated file compiled with the same flags
  (``c_timer_flags``), the cost of the generated code without Python;
- the C table (``run_c_grid``): the looped form on the wide networks at batch 64 and 1024 against
  the NumPy module, compiled as the loader compiles it, with ``-march=native`` alone for the
  machine, with plain ``-O3 -march=native``, and with ``--blas cblas``, each through the dict
  call and the lean call; and the time to generate the unrolled form against the output width;
- ``forward``: the reference forward pass alone, for gradient/forward ratios.

A block of its own (``--torch-loss-only``, left out with ``--skip-torch-loss``) times
``symgrad.interop.torch_loss`` of the generated array-API module, as ``loss.backward()`` and as
``torch.func.grad``, against torch autograd on the network written in torch and on the generated
``loss``; its target is at most ``TORCH_LOSS_LIMIT`` times torch autograd at batch >= 64.

Each time is the median of many in-process calls after warm-up; the number of calls adapts to the
cost of one call so that the full grid stays within about ten minutes on two cores (``--quick``
uses a far smaller time budget). Within a cell the contestants' calls are interleaved in rounds,
so that load from other processes does not land on one contestant only. Still, run it on an idle
machine: with BLAS and OpenMP using every core, one core taken by another process can stall a
parallel region for a scheduler time slice (torch at batch 64 on two cores went from 0.2 ms to
50 ms per call). ``--threads N`` restarts the script with BLAS, OpenMP and XLA limited to N threads.

Every contestant's result is compared once with the baseline before it is timed, so a wrong
implementation is reported as "mismatch" instead of being timed. Batch 1 means ``X`` of shape
``(1, n_0)``. Data and parameters come from fixed seeds.
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import importlib.util
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]

NETS: tuple[tuple[int, ...], ...] = (
    (3, 3, 2),
    (2, 8, 8, 2),
    (64, 64, 64, 10),
    (784, 128, 10),
    (784, 512, 512, 10),
)
BATCHES: tuple[int, ...] = (1, 64, 1024)
CONTESTANTS: tuple[str, ...] = (
    "handwritten",
    "generated-vectorized",
    "generated-vectorized-f32",
    "generated-unrolled",
    "torch",
    "jax",
    "autograd",
    "c",
    "c-lean",
    "c-raw",
    "forward",
)
PEERS: tuple[str, ...] = ("torch", "jax", "autograd")
SMALL_NETS: tuple[tuple[int, ...], ...] = ((3, 3, 2), (2, 8, 8, 2))
"""Networks on which the summary compares generated-unrolled with the fastest peer at batch 1."""

CODEGEN_TIMEOUT_S = 300.0
# The configuration every contestant implements (the catalogue defaults, passed explicitly).
CONFIG = {"activation": "sigmoid", "output": "softmax", "loss": "cross-entropy"}

Params = dict[str, np.ndarray]
LossAndGrads = Callable[[], Any]


class NotInstalled(Exception):
    """A peer library cannot be imported."""


@dataclass
class Budget:
    """How long to measure one (network, batch, contestant) cell."""

    seconds: float
    """Target total time of the timed calls."""
    warmup_seconds: float
    min_calls: int
    max_calls: int
    rounds: int
    """The timed calls are interleaved across contestants in this many rounds."""


FULL = Budget(seconds=1.5, warmup_seconds=0.2, min_calls=15, max_calls=20000, rounds=5)
QUICK = Budget(seconds=0.1, warmup_seconds=0.02, min_calls=3, max_calls=500, rounds=3)


@dataclass
class Cell:
    """One measurement: a median time in microseconds, or a status saying why there is none."""

    net: str
    batch: int
    contestant: str
    status: str  # "ok", "unavailable", "refused", "not installed", "mismatch", "error"
    median_us: float | None = None
    min_us: float | None = None
    calls: int = 0
    first_call_us: float | None = None
    message: str = ""


# ----------------------------------------------------------------------------------------------
# Contestants. Each make_* returns a callable f() performing one loss + gradients evaluation.
# ----------------------------------------------------------------------------------------------


def load_reference() -> ModuleType:
    """Import ``tests/reference_backprop.py`` by path (``tests`` need not be a package)."""
    return _import_path(REPO / "tests" / "reference_backprop.py", "reference_backprop")


def _import_path(path: Path, name: str) -> ModuleType:
    """Import the Python file at ``path`` as a module called ``name``."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_handwritten(ref: ModuleType, params: Params, X: np.ndarray, Y: np.ndarray) -> LossAndGrads:
    """The baseline: hand-written NumPy backprop (``tests/reference_backprop.py``)."""
    n_hidden = len(params) // 2 - 1
    activations = [CONFIG["activation"]] * n_hidden
    output, loss = CONFIG["output"], CONFIG["loss"]

    def f() -> tuple[float, Params]:
        return ref.loss_and_gradients(
            params, X, Y, activations=activations, output=output, loss=loss
        )

    return f


def make_forward(ref: ModuleType, params: Params, X: np.ndarray) -> Callable[[], np.ndarray]:
    """The reference forward pass alone: ``yhat = softmax(a_L)``."""
    n_hidden = len(params) // 2 - 1
    activations = [CONFIG["activation"]] * n_hidden
    output = CONFIG["output"]
    return lambda: ref.forward(params, X, activations=activations, output=output)


def make_generated(
    module: ModuleType, params: Params, X: np.ndarray, Y: np.ndarray
) -> LossAndGrads:
    """A module generated by ``symgrad codegen``: ``loss_and_gradients(params, X, Y)``."""
    fn = module.loss_and_gradients
    return lambda: fn(params, X, Y)


def make_torch(params: Params, X: np.ndarray, Y: np.ndarray) -> LossAndGrads:
    """PyTorch eager in float64: leaf tensors with ``requires_grad``, ``torch.autograd.grad``.

    Each call wraps the NumPy inputs with ``torch.from_numpy`` (no copy), runs the forward pass
    with ``log_softmax``, the backward pass, and returns the loss as a float and the gradients as
    NumPy arrays (``Tensor.numpy()``, no copy), the same contract as the baseline.
    """
    try:
        import torch
        import torch.nn.functional as F
    except ImportError as exc:
        raise NotInstalled(str(exc)) from exc
    names = list(params)
    leaves = [torch.from_numpy(params[k]).requires_grad_() for k in names]
    n_layers = len(names) // 2
    weights = [leaves[names.index(f"W{k}")] for k in range(1, n_layers + 1)]
    biases = [leaves[names.index(f"b{k}")] for k in range(1, n_layers + 1)]

    def f() -> tuple[float, Params]:
        h = torch.from_numpy(X)
        y = torch.from_numpy(Y)
        for W, b in zip(weights[:-1], biases[:-1], strict=True):
            h = torch.sigmoid(F.linear(h, W, b))
        a = F.linear(h, weights[-1], biases[-1])
        loss = -(y * torch.log_softmax(a, dim=-1)).sum(dim=-1).mean()
        grads = torch.autograd.grad(loss, leaves)
        return loss.item(), {k: g.numpy() for k, g in zip(names, grads, strict=True)}

    return f


def make_jax(params: Params, X: np.ndarray, Y: np.ndarray) -> LossAndGrads:
    """JAX: ``jax.jit(jax.value_and_grad(loss))`` in float64 on jnp arrays made once.

    Each call blocks until the loss and gradients are computed (``jax.block_until_ready``); the
    first call compiles for the shapes at hand and is excluded by the warm-up.
    """
    try:
        import jax
        import jax.numpy as jnp
    except ImportError as exc:
        raise NotInstalled(str(exc)) from exc
    jax.config.update("jax_enable_x64", True)
    n_layers = len(params) // 2

    def loss(p: dict[str, Any], x: Any, y: Any) -> Any:
        h = x
        for k in range(1, n_layers):
            h = jax.nn.sigmoid(h @ p[f"W{k}"].T + p[f"b{k}"])
        a = h @ p[f"W{n_layers}"].T + p[f"b{n_layers}"]
        return -jnp.mean(jnp.sum(y * jax.nn.log_softmax(a, axis=-1), axis=-1))

    value_and_grad = jax.jit(jax.value_and_grad(loss))
    p = {k: jnp.asarray(v) for k, v in params.items()}
    x, y = jnp.asarray(X), jnp.asarray(Y)

    def f() -> Any:
        return jax.block_until_ready(value_and_grad(p, x, y))

    return f


def make_autograd(params: Params, X: np.ndarray, Y: np.ndarray) -> LossAndGrads:
    """HIPS autograd: ``value_and_grad`` of a loss written with ``autograd.numpy``.

    Sigmoid as ``(1 + tanh(a/2)) / 2`` and a max-shifted log-softmax keep it stable.
    """
    try:
        import autograd.numpy as anp
        from autograd import value_and_grad
    except ImportError as exc:
        raise NotInstalled(str(exc)) from exc
    n_layers = len(params) // 2

    def loss(p: Params) -> Any:
        h = X
        for k in range(1, n_layers):
            h = 0.5 * (anp.tanh(0.5 * (h @ p[f"W{k}"].T + p[f"b{k}"])) + 1.0)
        a = h @ p[f"W{n_layers}"].T + p[f"b{n_layers}"]
        z = a - anp.max(a, axis=1, keepdims=True)
        log_p = z - anp.log(anp.sum(anp.exp(z), axis=1, keepdims=True))
        return -anp.mean(anp.sum(Y * log_p, axis=1))

    vg = value_and_grad(loss)
    return lambda: vg(params)


PEER_FACTORIES: dict[str, Callable[[Params, np.ndarray, np.ndarray], LossAndGrads]] = {
    "torch": make_torch,
    "jax": make_jax,
    "autograd": make_autograd,
}


# ----------------------------------------------------------------------------------------------
# Code generation, data, checking and timing
# ----------------------------------------------------------------------------------------------


def net_name(sizes: Sequence[int]) -> str:
    """``(784, 128, 10)`` -> ``"784-128-10"``."""
    return "-".join(str(n) for n in sizes)


def generate(
    sizes: Sequence[int], style: str, outdir: Path, target: str = "numpy"
) -> tuple[str, ModuleType | None, str]:
    """Run ``python -m symgrad codegen`` for ``sizes`` (``--target target``) and import the result.

    Returns ``(status, module, message)`` with status "ok", "refused" (the command exits with
    status 2 and a ``symgrad: error:`` line, as the unrolled style does for large networks) or
    "unavailable" (any other failure: no symgrad yet, a crash, a timeout, an unimportable file).
    """
    stem = f"{target.replace('-', '_')}_{style}_{net_name(sizes).replace('-', '_')}"
    path = outdir / f"gen_{stem}.py"
    cmd = [sys.executable, "-m", "symgrad", "codegen", *map(str, sizes), "--style", style]
    if target != "numpy":
        cmd += ["--target", target]
    cmd += ["--activation", CONFIG["activation"], "--output", CONFIG["output"]]
    cmd += ["--loss", CONFIG["loss"], "-o", str(path)]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    try:
        proc = subprocess.run(
            cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=CODEGEN_TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        return "unavailable", None, f"codegen timed out after {CODEGEN_TIMEOUT_S:.0f} s"
    err = proc.stderr.strip()
    last = err.splitlines()[-1] if err else ""
    if proc.returncode == 2 and err.startswith("symgrad: error:"):
        return "refused", None, last
    if proc.returncode != 0:
        return "unavailable", None, f"exit {proc.returncode}: {last}"
    try:
        module = _import_path(path, f"bench_generated_{stem}")
    except Exception as exc:  # noqa: BLE001 - any import failure makes the contestant unavailable
        return "unavailable", None, f"import failed: {type(exc).__name__}: {exc}"
    return "ok", module, ""


def make_data(sizes: Sequence[int], batch: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic inputs ``X`` ``(batch, n_0)`` (standard normal) and one-hot targets ``Y``."""
    rng = np.random.default_rng(1000 * batch + sum(sizes))
    X = rng.standard_normal((batch, sizes[0]))
    Y = np.zeros((batch, sizes[-1]))
    Y[np.arange(batch), rng.integers(0, sizes[-1], size=batch)] = 1.0
    return X, Y


def _to_numpy(result: Any) -> tuple[float, Params]:
    """A contestant's ``(loss, grads)`` (NumPy, torch or jax values) as a float and ndarrays."""
    value, grads = result
    return float(value), {k: np.asarray(v, dtype=np.float64) for k, v in grads.items()}


def check_against(expected: tuple[float, Params], result: Any, rtol: float = 1e-9) -> str:
    """Empty string when ``result`` matches the baseline's loss and every gradient, else why not."""
    value, grads = _to_numpy(result)
    exp_value, exp_grads = expected
    if not np.isclose(value, exp_value, rtol=rtol, atol=0.0):
        return f"loss {value!r} != {exp_value!r}"
    if sorted(grads) != sorted(exp_grads):
        return f"gradient keys {sorted(grads)} != {sorted(exp_grads)}"
    for key, exp in exp_grads.items():
        scale = float(np.abs(exp).max()) or 1.0
        if grads[key].shape != exp.shape:
            return f"{key}: shape {grads[key].shape} != {exp.shape}"
        if not np.allclose(grads[key], exp, rtol=rtol, atol=rtol * scale):
            return f"{key}: max abs diff {float(np.abs(grads[key] - exp).max()):.3g}"
    return ""


def _warm_up(f: Callable[[], Any], budget: Budget) -> float:
    """Call ``f`` for ``budget.warmup_seconds`` (at least twice); return the seconds per call."""
    clock = time.perf_counter_ns
    calls = 0
    t0 = clock()
    while calls < 2 or (clock() - t0 < budget.warmup_seconds * 1e9 and calls < 10000):
        f()
        calls += 1
    return (clock() - t0) / 1e9 / calls


def _timed_calls(f: Callable[[], Any], calls: int, samples: list[int]) -> None:
    """Append the duration in ns of each of ``calls`` calls of ``f`` to ``samples``."""
    clock = time.perf_counter_ns
    for _ in range(calls):
        t0 = clock()
        f()
        samples.append(clock() - t0)


def log_row(net: str, batch: int, row: dict[str, Cell]) -> None:
    """One line per contestant of a measured cell on stderr, while the grid runs."""
    for cell in row.values():
        shown = f"{cell.median_us:.1f} us" if cell.median_us is not None else ""
        message = f"[{net} B={batch}] {cell.contestant}: {cell.status} {shown} {cell.message}"
        print(message.rstrip(), file=sys.stderr)


def measure_cell(
    contestants: dict[str, Callable[[], Any]], budget: Budget, cells: dict[str, Cell]
) -> None:
    """Time every contestant of one (network, batch) cell and fill in its ``Cell``.

    Each callable is warmed up; its number of timed calls is ``budget.seconds`` over its warm-up
    cost per call, clamped to ``[min_calls, max_calls]``. The calls are spread over
    ``budget.rounds`` rounds that visit the contestants in turn (in a rotating order), so that a
    burst of load from other processes hits all contestants alike instead of one. The garbage
    collector is off while timing, as in ``timeit``. A contestant that raises is marked "error".
    """
    plan: dict[str, int] = {}
    for name, f in contestants.items():
        try:
            per_call_s = _warm_up(f, budget)
        except Exception as exc:  # noqa: BLE001 - a failing contestant must not stop the run
            cells[name].status, cells[name].message = "error", f"{type(exc).__name__}: {exc}"
            continue
        plan[name] = int(min(max(budget.seconds / per_call_s, budget.min_calls), budget.max_calls))
    samples: dict[str, list[int]] = {name: [] for name in plan}
    order = list(plan)
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for r in range(budget.rounds):
            shift = r % len(order) if order else 0
            for name in order[shift:] + order[:shift]:
                if name not in samples:  # failed in an earlier round
                    continue
                # ceil-divide, so that every round runs at least one call of everyone
                per_round = -(-plan[name] // budget.rounds)
                try:
                    _timed_calls(contestants[name], per_round, samples[name])
                except Exception as exc:  # noqa: BLE001 - keep going without it
                    cells[name].status = "error"
                    cells[name].message = f"{type(exc).__name__}: {exc}"
                    del samples[name]
    finally:
        if gc_was_enabled:
            gc.enable()
    for name, ns in samples.items():
        cell = cells[name]
        cell.median_us = statistics.median(ns) / 1e3
        cell.min_us = min(ns) / 1e3
        cell.calls = len(ns)


def prepare(
    contestant: str,
    net: str,
    batch: int,
    build: Callable[[], Callable[[], Any]],
    expected: tuple[float, Params] | None,
) -> tuple[Cell, Callable[[], Any] | None]:
    """Build a contestant's callable, call it once (timed: this call includes any JIT
    compilation) and check its result against ``expected``.

    Returns the cell (status "ok", "not installed", "mismatch" or "error") and the callable to
    time, or None when there is nothing to time.
    """
    cell = Cell(net=net, batch=batch, contestant=contestant, status="ok")
    try:
        f = build()
        t0 = time.perf_counter_ns()
        result = f()
        cell.first_call_us = (time.perf_counter_ns() - t0) / 1e3
        if expected is not None:
            # float32 contestants agree with the float64 baseline to float32 accuracy
            problem = check_against(expected, result, 1e-3 if contestant.endswith("-f32") else 1e-9)
            if problem:
                cell.status, cell.message = "mismatch", problem
                return cell, None
    except NotInstalled as exc:
        cell.status, cell.message = "not installed", str(exc)
        return cell, None
    except Exception as exc:  # noqa: BLE001 - a failing contestant must not stop the benchmark
        cell.status, cell.message = "error", f"{type(exc).__name__}: {exc}"
        return cell, None
    return cell, f


def builders(
    ref: ModuleType,
    modules: dict[str, ModuleType | None],
    params: Params,
    X: np.ndarray,
    Y: np.ndarray,
    c_network: Any = None,
) -> dict[str, Callable[[], Callable[[], Any]]]:
    """For each contestant that can run, a function that builds its timed callable on this data.

    ``modules`` maps "generated-vectorized" / "generated-unrolled" to an imported module or None.
    Building is deferred so that a peer's import or set-up error is caught per cell.
    """
    out: dict[str, Callable[[], Callable[[], Any]]] = {
        "handwritten": lambda: make_handwritten(ref, params, X, Y),
        "forward": lambda: make_forward(ref, params, X),
    }
    for name, module in modules.items():
        if module is not None:
            out[name] = lambda m=module: make_generated(m, params, X, Y)
    vectorized = modules.get("generated-vectorized")
    if vectorized is not None:
        # Every parameter and X in float32: the generated module computes in float32.
        single = {k: v.astype(np.float32) for k, v in params.items()}
        x32, y32 = X.astype(np.float32), Y.astype(np.float32)
        out["generated-vectorized-f32"] = lambda m=vectorized: make_generated(m, single, x32, y32)
    for peer, factory in PEER_FACTORIES.items():
        out[peer] = lambda factory=factory: factory(params, X, Y)
    if c_network is not None:
        out["c"] = lambda: make_c(c_network, params, X, Y)
        out["c-lean"] = lambda: make_c_lean(c_network, params, X, Y)
    return out


# ----------------------------------------------------------------------------------------------
# The C target (--target c): "c" through symgrad's loader from Python, "c-raw" timed from C
# ----------------------------------------------------------------------------------------------


def c_timer_flags(source: Path) -> tuple[list[str], list[str]]:
    """How the generated file is compiled for "c-raw", as the loader compiles it first: the
    compiler's flags and what the link adds."""
    from symgrad.codegen.c.build import FileFacts, compile_flags, vector_math_declarations

    header = source.with_suffix(".h").read_text(encoding="utf-8")
    first = compile_flags(FileFacts.read(header))[0]
    if not first.vector_math:
        return list(first.flags), []
    declarations = source.parent / "vector_math.h"
    declarations.write_text(vector_math_declarations(), encoding="utf-8")
    return [*first.flags, "-include", str(declarations)], ["-lmvec"]


C_TIMER = REPO / "bench" / "time_c.c"
C_WIDE_NETS: tuple[tuple[int, ...], ...] = ((64, 64, 64, 10), (784, 128, 10), (784, 512, 512, 10))
"""Networks on which the summary compares c with generated-vectorized (BLAS)."""


@dataclass
class CBuild:
    """The C target's files for one network: status, the loaded object, the raw timer."""

    status: str
    message: str = ""
    network: Any = None
    timer: Path | None = None


def build_c(sizes: Sequence[int], outdir: Path) -> CBuild:
    """``symgrad codegen ... --target c -o DIR/net.c``, loaded through the loader, and
    bench/time_c.c compiled with it; status "unavailable" when any step fails."""
    folder = outdir / f"c_{net_name(sizes).replace('-', '_')}"
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / "net.c"
    cmd = [sys.executable, "-m", "symgrad", "codegen", *map(str, sizes), "--target", "c"]
    cmd += ["--activation", CONFIG["activation"], "--output", CONFIG["output"]]
    cmd += ["--loss", CONFIG["loss"], "-o", str(source)]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    try:
        proc = subprocess.run(
            cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=CODEGEN_TIMEOUT_S
        )
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or [""])[-1]
            return CBuild("unavailable", f"codegen exit {proc.returncode}: {last}")
        sys.path.insert(0, str(REPO))
        from symgrad.codegen.c.loader import load_c

        network = load_c(source)
        # The generated file built as the loader builds it, the timer itself plainly.
        obj, timer = folder / "net.o", folder / "time_c"
        flags, link = c_timer_flags(source)
        proc = subprocess.run(
            ["cc", *flags, "-c", "-o", str(obj), str(source)],
            capture_output=True,
            text=True,
            timeout=CODEGEN_TIMEOUT_S,
        )
        if proc.returncode == 0:
            proc = subprocess.run(
                ["cc", "-std=c99", "-O2", f"-I{folder}", "-o", str(timer), str(C_TIMER)]
                + [str(obj), *link, "-lm"],
                capture_output=True,
                text=True,
                timeout=CODEGEN_TIMEOUT_S,
            )
        if proc.returncode != 0:
            return CBuild("ok", f"time_c: {proc.stderr.strip()[:200]}", network)
    except Exception as exc:  # noqa: BLE001 - any failure makes the contestant unavailable
        return CBuild("unavailable", f"{type(exc).__name__}: {exc}")
    return CBuild("ok", "", network, timer)


def make_c(network: Any, params: Params, X: np.ndarray, Y: np.ndarray) -> LossAndGrads:
    """The C target through the loader: ``loss_and_gradients(params, X, Y)``."""
    fn = network.loss_and_gradients
    return lambda: fn(params, X, Y)


def make_c_lean(network: Any, params: Params, X: np.ndarray, Y: np.ndarray) -> LossAndGrads:
    """The C target through the loader's lean call: the parameters in one flat array and the
    gradient written into another, ``loss_and_gradients_flat(theta, X, Y, out=g)``, no copies.
    Returns the loss and the named views of ``g`` (made once: they see every call's numbers)."""
    theta = network.flat(params)
    g = np.empty_like(theta)
    views = network.params(g)
    fn = network.loss_and_gradients_flat

    def f() -> tuple[float, Params]:
        return fn(theta, X, Y, out=g)[0], views

    return f


def time_c_raw(
    build: CBuild,
    net: str,
    batch: int,
    params: Params,
    X: np.ndarray,
    Y: np.ndarray,
    expected: tuple[float, Params],
    budget: Budget,
) -> Cell:
    """The raw C function timed by bench/time_c.c (its result checked against ``expected``)."""
    cell = Cell(net=net, batch=batch, contestant="c-raw", status="ok")
    if build.timer is None:
        cell.status, cell.message = "unavailable", build.message or build.status
        return cell
    folder = build.timer.parent
    source, result = folder / f"in_{batch}", folder / f"out_{batch}"
    flat = np.concatenate([params[k].ravel() for k in params])
    source.write_bytes(np.int32(batch).tobytes() + flat.tobytes() + X.tobytes() + Y.tobytes())
    command = [str(build.timer), str(source), str(result), str(budget.seconds)]
    command.append(str(max(3, budget.rounds * 3)))
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        cell.status, cell.message = "error", "time_c timed out"
        return cell
    if proc.returncode != 0:
        cell.status, cell.message = "error", f"time_c exit {proc.returncode}"
        return cell
    numbers = np.frombuffer(result.read_bytes(), dtype=np.float64)
    grads, start = {}, 1
    for key, value in params.items():
        grads[key] = numbers[start : start + value.size].reshape(value.shape)
        start += value.size
    problem = check_against(expected, (numbers[0], grads))
    if problem:
        cell.status, cell.message = "mismatch", problem
        return cell
    median_ns, min_ns, calls = proc.stdout.split()
    cell.median_us, cell.min_us = float(median_ns) / 1e3, float(min_ns) / 1e3
    cell.calls = int(calls)
    return cell


def format_c_summary(cells: Sequence[Cell], nets: Sequence[str], batches: Sequence[int]) -> str:
    """The C target's targets: at batch 1 on the small networks, c-lean (the lean call) >= 5x
    and c-raw >= 50x faster than jax; at batch 1024 on them, c faster than every peer; on the
    wide networks, c within 1.5x of generated-vectorized."""
    by = _lookup(cells)
    lines = []

    def us(cell: Cell | None) -> str:
        if cell is None or cell.median_us is None:
            return cell.status if cell is not None else "not run"
        return f"{cell.median_us:.2f} us"

    for sizes in SMALL_NETS:
        net = net_name(sizes)
        if net not in nets:
            continue
        if 1 in batches:
            c, lean, raw, jax = (by.get((net, 1, n)) for n in ("c", "c-lean", "c-raw", "jax"))
            speed = _ratio(jax, lean)
            speed_raw = _ratio(jax, raw)
            lines.append(
                f"{net} batch 1: c {us(c)}, c-lean {us(lean)}, c-raw {us(raw)}, jax {us(jax)}: "
                "c-lean "
                + (f"{speed:.1f}x" if speed else "n/a")
                + " faster than jax (target 5x), c-raw "
                + (f"{speed_raw:.0f}x" if speed_raw else "n/a")
                + " (target 50x)"
            )
        big = max(batches)
        c = by.get((net, big, "c")) if big > 1 else None
        peers = [
            by[(net, big, p)]
            for p in PEERS
            if by.get((net, big, p)) and by[(net, big, p)].median_us
        ]
        if peers and c is not None and c.median_us:
            fastest = min(peers, key=lambda cell: cell.median_us or float("inf"))
            lines.append(
                f"{net} batch {big}: c {us(c)}; fastest peer {fastest.contestant} {us(fastest)}: "
                f"c {(fastest.median_us or 0) / c.median_us:.2f}x as fast (target > 1)"
            )
    for sizes in C_WIDE_NETS:
        net = net_name(sizes)
        if net not in nets:
            continue
        parts = []
        for batch in batches:
            ratio = _ratio(by.get((net, batch, "c")), by.get((net, batch, "generated-vectorized")))
            parts.append(f"batch {batch} " + (f"{ratio:.2f}" if ratio else "n/a"))
        lines.append(f"{net}: c / generated-vectorized: {', '.join(parts)} (target <= 1.5)")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# The C table: the looped form against the NumPy target, with the loader's flags, with plain
# -march=native, and with --blas cblas (OpenBLAS)
# ----------------------------------------------------------------------------------------------

C_BATCHES: tuple[int, ...] = (64, 1024)
#: Each contestant of the C table: the options of its file and how it is compiled: as the
#: loader compiles it ("loader"), with the loader's flags but -march=native alone for the machine
#: (the compiler's own tuning picks the vector width; the tile and the vector math follow what
#: it targets), or as by hand with plain -O3 -march=native (the header's tile, no vector math).
C_VARIANTS: dict[str, tuple[tuple[str, ...], str]] = {
    "c": (("--style", "looped"), "loader"),
    "c -march=native": (("--style", "looped"), "-march=native"),
    "c plain": (("--style", "looped"), "plain"),
    "c --blas": (("--blas", "cblas"), "loader"),
}
PLAIN_FLAGS = ("-std=c99", "-O3", "-fPIC", "-march=native")
#: The targets of the C table, at batch >= 64, against the NumPy target: per network, without
#: --blas, and with it everywhere.
C_TARGETS = {"64-64-64-10": 1.3, "784-128-10": 1.3, "784-512-512-10": 2.0}
C_BLAS_TARGET = 1.05


def build_c_variant(sizes: Sequence[int], outdir: Path, variant: str) -> Any:
    """The C network of one variant of the C table, loaded; None when any step fails (the
    reason on stderr)."""
    from symgrad.codegen.c.build import (
        FileFacts,
        build_library,
        compile_flags,
        vector_math_declarations,
    )
    from symgrad.codegen.c.loader import load_c, load_library

    options, how = C_VARIANTS[variant]
    folder = outdir / f"{net_name(sizes)}-{variant.replace(' ', '_')}"
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / "net.c"
    cmd = [sys.executable, "-m", "symgrad", "codegen", *map(str, sizes), "--target", "c"]
    cmd += [*options, "--activation", CONFIG["activation"], "--output", CONFIG["output"]]
    cmd += ["--loss", CONFIG["loss"], "-o", str(source)]
    try:
        subprocess.run(cmd, cwd=REPO, capture_output=True, check=True, timeout=CODEGEN_TIMEOUT_S)
        if how == "loader":
            return load_c(source)
        library, link = folder / "libnet.so", []
        flags = list(PLAIN_FLAGS)
        if how == "-march=native":
            facts = FileFacts.read(source.with_suffix(".h").read_text(encoding="utf-8"))
            attempt = next(
                a
                for a in compile_flags(facts)
                if "-march=native" in a.flags and "-mprefer-vector-width=512" not in a.flags
            )
            flags = list(attempt.flags)
            if attempt.vector_math:
                declarations = folder / "vector_math.h"
                declarations.write_text(vector_math_declarations(), encoding="utf-8")
                flags += ["-include", str(declarations)]
                link = ["-lmvec"]
        build_library([source], library, flags=flags, link=link)
        return load_library(library, source)
    except Exception as exc:  # noqa: BLE001 - the variant is then "unavailable"
        print(f"[{net_name(sizes)}] {variant}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None


def run_c_grid(budget: Budget, nets: Sequence[tuple[int, ...]]) -> list[Cell]:
    """The C table: on every wide network and batch of C_BATCHES, the NumPy target and each C
    variant through the dict call and the lean call, timed in interleaved rounds."""
    ref = load_reference()
    cells: list[Cell] = []
    with tempfile.TemporaryDirectory(prefix="symgrad-bench-c-") as tmp:
        for sizes in nets:
            net = net_name(sizes)
            _, module, message = generate(sizes, "vectorized", Path(tmp))
            variants = {v: build_c_variant(sizes, Path(tmp), v) for v in C_VARIANTS}
            params = ref.make_params(sizes, seed=0)
            for batch in C_BATCHES:
                X, Y = make_data(sizes, batch)
                expected = make_handwritten(ref, params, X, Y)()
                build: dict[str, Callable[[], Callable[[], Any]]] = {}
                data = (params, X, Y)
                if module is not None:
                    build["numpy"] = lambda m=module, d=data: make_generated(m, *d)
                for variant, network in variants.items():
                    if network is not None:
                        build[variant] = lambda n=network, d=data: make_c(n, *d)
                        build[f"{variant} lean"] = lambda n=network, d=data: make_c_lean(n, *d)
                row: dict[str, Cell] = {}
                timed: dict[str, Callable[[], Any]] = {}
                for name, make in build.items():
                    row[name], f = prepare(name, net, batch, make, expected)
                    if f is not None:
                        timed[name] = f
                measure_cell(timed, budget, row)
                log_row(net, batch, row)
                cells.extend(row.values())
    return cells


def format_c_tables(cells: Sequence[Cell]) -> str:
    """Two tables, the loader's flags and plain -march=native: median microseconds per
    loss+gradients call and, in parentheses, the ratio to the NumPy target; then the targets."""
    by = _lookup(cells)
    nets = sorted({c.net for c in cells}, key=lambda n: [int(x) for x in n.split("-")])
    out = []
    for title, variants in (
        ("the loader's flags", ["c", "c lean", "c --blas", "c --blas lean"]),
        (
            "-march=native alone for the machine, and plain -O3 -march=native",
            ["c -march=native", "c -march=native lean", "c plain", "c plain lean"],
        ),
    ):
        headers = ["net", "batch", "numpy", *variants]
        rows = []
        for net in nets:
            for batch in C_BATCHES:
                base = by.get((net, batch, "numpy"))
                row = [net, str(batch), f"{base.median_us:.1f}" if base and base.median_us else "-"]
                for name in variants:
                    cell = by.get((net, batch, name))
                    ratio = _ratio(cell, base)
                    if cell is None or cell.median_us is None:
                        row.append(cell.status if cell else "-")
                    else:
                        row.append(f"{cell.median_us:.1f} ({ratio:.2f})" if ratio else "-")
                rows.append(row)
        widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
        out.append(f"C looped form, {title}: median us per call (ratio to the NumPy target)")
        out.append("  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True)))
        out.append("  ".join("-" * w for w in widths))
        out += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
        out.append("")
    for variant, label in (
        ("c", "loader's flags"),
        ("c -march=native", "-march=native alone"),
        ("c plain", "plain -O3 -march=native"),
        ("c --blas", "--blas cblas"),
    ):
        parts = []
        for net in nets:
            worst = {
                call: max(
                    (
                        r
                        for batch in C_BATCHES
                        if (r := _ratio(by.get((net, batch, name)), by.get((net, batch, "numpy"))))
                    ),
                    default=None,
                )
                for call, name in (("dict", variant), ("lean", f"{variant} lean"))
            }
            limit = C_BLAS_TARGET if variant == "c --blas" else C_TARGETS.get(net)
            shown = ", ".join(f"{v:.2f} {k}" if v else f"n/a {k}" for k, v in worst.items())
            parts.append(f"{net} max {shown}" + (f" (target {limit})" if limit else ""))
        out.append(f"C / NumPy at batch >= 64, {label}: " + "; ".join(parts))
    return "\n".join(out)


#: Output widths of the generation benchmark (networks 2-n_L, the unrolled C form).
GENERATION_WIDTHS: tuple[int, ...] = (16, 32, 64, 128)


def generation_times() -> dict[str, list[float]]:
    """Seconds to generate the unrolled C form of 2-n_L for each width of GENERATION_WIDTHS, per
    output/loss pair: the derivation (without its proof, whose method changes with the size) and
    the C files, in this process, best of two after one warm-up."""
    from symgrad.catalogue import PAIRS as CATALOGUE_PAIRS
    from symgrad.codegen import generate as generate_files
    from symgrad.pipeline import derive
    from symgrad.spec import NetworkSpec

    def seconds(spec: NetworkSpec) -> float:
        # Processor time of this process: on a machine shared with other work, wall time
        # measures the others too.
        best = float("inf")
        for _ in range(2):
            t0 = time.process_time()
            generate_files(derive(spec, prove=False), "c", "unrolled")
            best = min(best, time.process_time() - t0)
        return best

    seconds(NetworkSpec.parse([2, GENERATION_WIDTHS[0]]))  # warm-up: imports, caches
    return {
        f"{output} + {loss}": [
            seconds(NetworkSpec.parse([2, w], output=output, loss=loss)) for w in GENERATION_WIDTHS
        ]
        for output, loss in CATALOGUE_PAIRS
    }


def generation_lines() -> list[str]:
    """How generating the unrolled C form grows with the output width n_L, per output/loss pair
    (:func:`generation_times`, run in a fresh process, in processor time), with the exponent of
    the growth from the narrowest to the widest (1 is linear), as symgrad runs (it makes SymPy's
    cache of results 200 times larger than SymPy's default); again with SymPy's default
    (SYMPY_CACHE_SIZE=1000, read when SymPy is imported), whose evictions cost more as n_L
    grows; then the wall and processor time of ``symgrad
    codegen 2 30 --output softmax --loss squared-error --target c``, proof and interpreter start
    included."""
    runs = {}
    for label, cache in (("", None), ("SYMPY_CACHE_SIZE=1000", "1000")):
        env = dict(os.environ)
        if cache is not None:
            env["SYMPY_CACHE_SIZE"] = cache
        probe = [sys.executable, str(Path(__file__).resolve()), "--generation-probe"]
        proc = subprocess.run(probe, cwd=REPO, env=env, capture_output=True, text=True)
        runs[label] = json.loads(proc.stdout) if proc.returncode == 0 else {}
    widths = GENERATION_WIDTHS
    lines = []
    for pair, times in runs[""].items():
        growth = np.log(times[-1] / times[0]) / np.log(widths[-1] / widths[0])
        shown = ", ".join(f"{w}: {t:.2f} s" for w, t in zip(widths, times, strict=True))
        line = f"unrolled C generation, {pair}, n_L {shown}; time ~ n_L^{growth:.2f}"
        smaller = runs["SYMPY_CACHE_SIZE=1000"].get(pair)
        if smaller:
            exponent = np.log(smaller[-1] / smaller[0]) / np.log(widths[-1] / widths[0])
            line += f" (n_L^{exponent:.2f} with SymPy's default cache, SYMPY_CACHE_SIZE=1000)"
        lines.append(line + "; target: at most linear")
    with tempfile.TemporaryDirectory(prefix="symgrad-bench-gen-") as tmp:
        cmd = [sys.executable, "-m", "symgrad", "codegen", "2", "30", "--output", "softmax"]
        cmd += ["--loss", "squared-error", "--target", "c", "-o", str(Path(tmp) / "net.c")]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    status = "" if proc.returncode == 0 else f" (exit {proc.returncode})"
    lines.append(
        "symgrad codegen 2 30 --output softmax --loss squared-error --target c: "
        f"{seconds:.2f} s wall, {cpu:.2f} s of processor time, interpreter start included"
        f"{status} (target < 5 s)"
    )
    return lines


# ----------------------------------------------------------------------------------------------
# The grid, the table and the summary
# ----------------------------------------------------------------------------------------------


def run_grid(budget: Budget, nets: Sequence[tuple[int, ...]], batches: Sequence[int]) -> list[Cell]:
    """Measure every contestant on every (network, batch); progress goes to stderr."""
    ref = load_reference()
    cells: list[Cell] = []
    with tempfile.TemporaryDirectory(prefix="symgrad-bench-") as tmp:
        for sizes in nets:
            net = net_name(sizes)
            generated: dict[str, tuple[str, ModuleType | None, str]] = {}
            for style in ("vectorized", "unrolled"):
                t0 = time.perf_counter()
                generated[f"generated-{style}"] = status, _, message = generate(
                    sizes, style, Path(tmp)
                )
                seconds = time.perf_counter() - t0
                print(
                    f"[{net}] codegen --style {style}: {status} ({seconds:.1f} s) {message}",
                    file=sys.stderr,
                )
            modules = {name: module for name, (_, module, _) in generated.items()}
            t0 = time.perf_counter()
            c_build = build_c(sizes, Path(tmp))  # the C target
            generated["c"] = generated["c-lean"] = generated["c-raw"] = (
                c_build.status,
                None,
                c_build.message,
            )
            print(
                f"[{net}] codegen --target c: {c_build.status} "
                f"({time.perf_counter() - t0:.1f} s) {c_build.message}".rstrip(),
                file=sys.stderr,
            )
            params = ref.make_params(sizes, seed=0)
            for batch in batches:
                X, Y = make_data(sizes, batch)
                expected = make_handwritten(ref, params, X, Y)()
                build = builders(ref, modules, params, X, Y, c_build.network)
                row: dict[str, Cell] = {}
                timed: dict[str, Callable[[], Any]] = {}
                for contestant in CONTESTANTS:
                    if contestant == "c-raw":  # timed from C below
                        continue
                    if contestant not in build:  # a generated module that does not exist
                        origin = contestant.removesuffix("-f32")
                        status, _, message = generated[origin]
                        row[contestant] = Cell(net, batch, contestant, status, message=message)
                        continue
                    check = None if contestant in ("handwritten", "forward") else expected
                    row[contestant], f = prepare(contestant, net, batch, build[contestant], check)
                    if f is not None:
                        timed[contestant] = f
                measure_cell(timed, budget, row)
                row["c-raw"] = time_c_raw(c_build, net, batch, params, X, Y, expected, budget)
                log_row(net, batch, row)
                cells.extend(row.values())
    return cells


def _lookup(cells: Sequence[Cell]) -> dict[tuple[str, int, str], Cell]:
    return {(c.net, c.batch, c.contestant): c for c in cells}


def _ratio(num: Cell | None, den: Cell | None) -> float | None:
    """``num.median / den.median`` when both were measured."""
    if num is None or den is None or num.median_us is None or den.median_us is None:
        return None
    return num.median_us / den.median_us


def format_table(cells: Sequence[Cell], nets: Sequence[str], batches: Sequence[int]) -> str:
    """One row per (network, batch): each contestant's median in microseconds and, in
    parentheses, its ratio to handwritten; then the gradient/forward ratios of handwritten and
    generated-vectorized."""
    by = _lookup(cells)
    headers = ["net", "batch", *CONTESTANTS, "grad/fwd hw", "grad/fwd gen-vec"]
    rows: list[list[str]] = []
    for net in nets:
        for batch in batches:
            base = by.get((net, batch, "handwritten"))
            row = [net, str(batch)]
            for contestant in CONTESTANTS:
                cell = by.get((net, batch, contestant))
                if cell is None:
                    row.append("-")
                elif cell.median_us is None:
                    row.append(cell.status)
                else:
                    ratio = _ratio(cell, base)
                    shown = f"{cell.median_us:.1f}"
                    row.append(f"{shown} ({ratio:.2f})" if ratio is not None else shown)
            fwd = by.get((net, batch, "forward"))
            for contestant in ("handwritten", "generated-vectorized"):
                ratio = _ratio(by.get((net, batch, contestant)), fwd)
                row.append(f"{ratio:.2f}" if ratio is not None else "-")
            rows.append(row)
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    lines = ["  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def format_summary(cells: Sequence[Cell], nets: Sequence[str], batches: Sequence[int]) -> str:
    """Median and maximum over the grid of generated-vectorized / handwritten, and at batch 1 on
    the small networks the speedup of generated-unrolled over the fastest available peer."""
    by = _lookup(cells)
    lines = []
    ratios = {
        (net, batch): r
        for net in nets
        for batch in batches
        if (
            r := _ratio(
                by.get((net, batch, "generated-vectorized")), by.get((net, batch, "handwritten"))
            )
        )
        is not None
    }
    if ratios:
        worst = max(ratios, key=lambda key: ratios[key])
        lines.append(
            f"generated-vectorized / handwritten: median {statistics.median(ratios.values()):.2f} "
            f"over {len(ratios)} cells, max {ratios[worst]:.2f} ({worst[0]}, batch {worst[1]})"
        )
    else:
        lines.append("generated-vectorized / handwritten: n/a (generated-vectorized not measured)")
    for net, batch in (("784-128-10", 1024), ("784-512-512-10", 1024)):
        ratio = _ratio(
            by.get((net, batch, "generated-vectorized")),
            by.get((net, batch, "generated-vectorized-f32")),
        )
        if ratio is not None:
            lines.append(f"{net} batch {batch}: float32 is {ratio:.2f}x faster than float64")
    for sizes in SMALL_NETS:
        net = net_name(sizes)
        if net not in nets or 1 not in batches:
            continue
        unrolled = by.get((net, 1, "generated-unrolled"))
        peers = [
            by[(net, 1, p)] for p in PEERS if by.get((net, 1, p)) and by[(net, 1, p)].median_us
        ]
        if not peers:
            lines.append(
                f"{net} batch 1: generated-unrolled vs fastest peer: n/a (no peer measured)"
            )
            continue
        fastest = min(peers, key=lambda c: c.median_us or float("inf"))
        if unrolled is None or unrolled.median_us is None:
            status = unrolled.status if unrolled else "not run"
            lines.append(
                f"{net} batch 1: generated-unrolled {status}; fastest peer {fastest.contestant} "
                f"{fastest.median_us:.1f} us"
            )
            continue
        speedup = (fastest.median_us or 0.0) / unrolled.median_us
        lines.append(
            f"{net} batch 1: generated-unrolled {unrolled.median_us:.1f} us, speedup "
            f"{speedup:.2f}x over the fastest peer ({fastest.contestant}, "
            f"{fastest.median_us:.1f} us)"
        )
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# The array-API block: the module of ``symgrad codegen --target array-api`` on JAX and PyTorch
# against the same libraries' own autodiff, in float64 and float32 (a table of its own).
# ----------------------------------------------------------------------------------------------

ARRAY_API_DTYPES: tuple[str, ...] = ("float64", "float32")
#: Each generated contestant and the peer it is divided by.
ARRAY_API_PAIRS: dict[str, str] = {"array-api jax.jit": "jax", "array-api torch": "torch"}
#: float32 results against the float64 baseline (relative to each gradient's largest entry).
FLOAT32_RTOL = 1e-4


def make_array_api_jax(
    module: ModuleType, params: Params, X: np.ndarray, Y: np.ndarray
) -> LossAndGrads:
    """The array-API module under ``jax.jit`` on jnp arrays made once (as ``make_jax``)."""
    try:
        import jax
        import jax.numpy as jnp
    except ImportError as exc:
        raise NotInstalled(str(exc)) from exc
    jax.config.update("jax_enable_x64", True)
    fn = jax.jit(module.loss_and_gradients)
    p = {k: jnp.asarray(v) for k, v in params.items()}
    x, y = jnp.asarray(X), jnp.asarray(Y)
    return lambda: jax.block_until_ready(fn(p, x, y))


def make_array_api_torch(
    module: ModuleType, params: Params, X: np.ndarray, Y: np.ndarray
) -> LossAndGrads:
    """The array-API module in torch eager mode; results converted as ``make_torch`` does."""
    try:
        import torch
    except ImportError as exc:
        raise NotInstalled(str(exc)) from exc
    fn = module.loss_and_gradients
    p = {k: torch.from_numpy(v) for k, v in params.items()}

    def f() -> tuple[float, Params]:
        value, grads = fn(p, torch.from_numpy(X), torch.from_numpy(Y))
        return value.item(), {k: g.numpy() for k, g in grads.items()}

    return f


def _array_api_builders(
    module: ModuleType | None, params: Params, X: np.ndarray, Y: np.ndarray
) -> dict[str, Callable[[], Callable[[], Any]]]:
    """For each contestant of the block that can run, a function building its timed callable."""
    build: dict[str, Callable[[], Callable[[], Any]]] = {
        "jax": lambda: make_jax(params, X, Y),
        "torch": lambda: make_torch(params, X, Y),
    }
    if module is not None:
        build["array-api jax.jit"] = lambda: make_array_api_jax(module, params, X, Y)
        build["array-api torch"] = lambda: make_array_api_torch(module, params, X, Y)
    return build


def run_array_api_grid(
    budget: Budget, nets: Sequence[tuple[int, ...]], batches: Sequence[int]
) -> list[Cell]:
    """The array-API module and its peers on every (network, batch), in each dtype; a cell's
    ``contestant`` is ``"<name> <dtype>"``. Progress goes to stderr."""
    ref = load_reference()
    cells: list[Cell] = []
    with tempfile.TemporaryDirectory(prefix="symgrad-bench-aapi-") as tmp:
        for sizes in nets:
            net = net_name(sizes)
            status, module, message = generate(sizes, "vectorized", Path(tmp), "array-api")
            print(f"[{net}] codegen --target array-api: {status} {message}", file=sys.stderr)
            params64 = ref.make_params(sizes, seed=0)
            for batch in batches:
                X64, Y64 = make_data(sizes, batch)
                expected = make_handwritten(ref, params64, X64, Y64)()
                for dtype in ARRAY_API_DTYPES:
                    params = {k: v.astype(dtype) for k, v in params64.items()}
                    X, Y = X64.astype(dtype), Y64.astype(dtype)
                    build = _array_api_builders(module, params, X, Y)
                    row: dict[str, Cell] = {}
                    timed: dict[str, Callable[[], Any]] = {}
                    for name in ("jax", "array-api jax.jit", "torch", "array-api torch"):
                        label = f"{name} {dtype}"
                        if name not in build:
                            row[name] = Cell(net, batch, label, status, message=message)
                            continue
                        row[name], f = prepare(label, net, batch, build[name], None)
                        if f is not None:
                            problem = check_against(
                                expected, f(), rtol=1e-9 if dtype == "float64" else FLOAT32_RTOL
                            )
                            if problem:
                                row[name].status, row[name].message = "mismatch", problem
                            else:
                                timed[name] = f
                    measure_cell(timed, budget, row)
                    log_row(net, batch, row)
                    cells.extend(row.values())
    return cells


def format_array_api_table(
    cells: Sequence[Cell], nets: Sequence[str], batches: Sequence[int]
) -> str:
    """One row per (network, batch, dtype): each contestant's median in microseconds, and each
    generated contestant's ratio to its peer (below 1: the generated module is faster)."""
    by = _lookup(cells)
    names = ["jax", "array-api jax.jit", "torch", "array-api torch"]
    headers = ["net", "batch", "dtype", *names, "jit/jax", "eager/torch"]
    rows: list[list[str]] = []
    for net in nets:
        for batch in batches:
            for dtype in ARRAY_API_DTYPES:
                row = [net, str(batch), dtype]
                for name in names:
                    cell = by.get((net, batch, f"{name} {dtype}"))
                    if cell is None:
                        row.append("-")
                    else:
                        row.append(f"{cell.median_us:.1f}" if cell.median_us else cell.status)
                for generated, peer in ARRAY_API_PAIRS.items():
                    ratio = _ratio(
                        by.get((net, batch, f"{generated} {dtype}")),
                        by.get((net, batch, f"{peer} {dtype}")),
                    )
                    row.append(f"{ratio:.2f}" if ratio is not None else "-")
                rows.append(row)
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    lines = ["  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def format_array_api_summary(
    cells: Sequence[Cell], nets: Sequence[str], batches: Sequence[int]
) -> str:
    """The targets: at batch >= 64 the jitted module at most 1.05x jax.jit(value_and_grad) in
    every cell and faster in most, torch eager at most 1.0x torch autograd; on the small networks
    at batch 1024 the jitted module at least as fast as every peer (both tables' peers)."""
    by = _lookup(cells)
    lines = []
    for generated, peer, limit in (
        ("array-api jax.jit", "jax", 1.05),
        ("array-api torch", "torch", 1.0),
    ):
        ratios = {
            (net, batch, dtype): r
            for net in nets
            for batch in batches
            if batch >= 64
            for dtype in ARRAY_API_DTYPES
            if (
                r := _ratio(
                    by.get((net, batch, f"{generated} {dtype}")),
                    by.get((net, batch, f"{peer} {dtype}")),
                )
            )
            is not None
        }
        if not ratios:
            lines.append(f"{generated} / {peer}: n/a (not measured)")
            continue
        worst = max(ratios, key=lambda key: ratios[key])
        over = sorted(k for k, r in ratios.items() if r > limit)
        faster = sum(r < 1.0 for r in ratios.values())
        lines.append(
            f"{generated} / {peer} at batch >= 64: faster in {faster} of {len(ratios)} cells, "
            f"max {ratios[worst]:.2f} ({worst[0]}, batch {worst[1]}, {worst[2]}); "
            + (
                f"above {limit:.2f} in {len(over)}: "
                + ", ".join(f"{n} B={b} {d} {ratios[(n, b, d)]:.2f}" for n, b, d in over)
                if over
                else f"at most {limit:.2f} everywhere"
            )
        )
    return "\n".join(lines)


def format_small_net_summary(cells: Sequence[Cell], nets: Sequence[str], batch: int = 1024) -> str:
    """On the small networks at ``batch``: the jitted module (float64) against every peer
    library: jax and torch as measured beside it in the array-API table (the same library timed
    minutes apart in the other table can differ by more than the margin), HIPS autograd from
    the first table; for reference, symgrad's own NumPy modules and the hand-written baseline."""
    by = _lookup(cells)
    peers = {"jax float64", "torch float64", "autograd"}
    ours = {"handwritten", "generated-vectorized", "generated-unrolled"}
    lines = []
    for sizes in SMALL_NETS:
        net = net_name(sizes)
        mine = by.get((net, batch, "array-api jax.jit float64"))
        if net not in nets or mine is None or mine.median_us is None:
            continue
        here = [c for c in cells if c.net == net and c.batch == batch and c.median_us]
        others = [c for c in here if c.contestant in peers]
        numpy = [c for c in here if c.contestant in ours]
        if not others:
            continue
        fastest = min(others, key=lambda c: c.median_us or float("inf"))
        line = (
            f"{net} batch {batch}: array-api jax.jit {mine.median_us:.1f} us; fastest peer "
            f"{fastest.contestant} {fastest.median_us:.1f} us, ratio "
            f"{mine.median_us / (fastest.median_us or 1.0):.2f}"
        )
        if numpy:
            best = min(numpy, key=lambda c: c.median_us or float("inf"))
            line += f"; fastest NumPy code {best.contestant} {best.median_us:.1f} us"
        lines.append(line)
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# The torch_loss block: ``symgrad.interop.torch_loss`` (the generated gradient as a torch
# autograd.Function) against torch autograd, float64, on two baselines: ``torch``, the network
# written in torch (``make_torch``: fused addmm, torch.sigmoid), and ``autograd-generated``, torch
# autograd differentiating the generated module's own ``loss`` (the same forward code, torch's
# tape instead of the generated gradient). Target: at batch >= 64 a training step's loss and
# gradients at most TORCH_LOSS_LIMIT times torch autograd's time. ``module alone`` is the
# generated ``loss_and_gradients`` on the same tensors without autograd (the copy torch_loss
# computes with): the arithmetic of a step, which no wrapper can make faster than itself.
# ----------------------------------------------------------------------------------------------

TORCH_LOSS_LIMIT = 1.2
#: Each contestant of the block; the first two are the baselines.
TORCH_LOSS_CONTESTANTS: tuple[str, ...] = (
    "torch",
    "autograd-generated",
    "torch_loss",
    "torch.func.grad",
    "module alone",
)
TORCH_LOSS_BASELINES = TORCH_LOSS_CONTESTANTS[:2]


def make_autograd_generated(
    module: ModuleType, params: Params, X: np.ndarray, Y: np.ndarray
) -> LossAndGrads:
    """torch autograd through the generated ``loss`` on torch tensors: leaf tensors with
    ``requires_grad``, ``module.loss``, ``torch.autograd.grad``."""
    try:
        import torch
    except ImportError as exc:
        raise NotInstalled(str(exc)) from exc

    leaves = {k: torch.from_numpy(v).requires_grad_() for k, v in params.items()}
    names = list(leaves)

    def f() -> tuple[float, Params]:
        value = module.loss(leaves, torch.from_numpy(X), torch.from_numpy(Y))
        grads = torch.autograd.grad(value, list(leaves.values()))
        return value.item(), {k: g.numpy() for k, g in zip(names, grads, strict=True)}

    return f


def make_torch_loss(
    module: ModuleType, params: Params, X: np.ndarray, Y: np.ndarray
) -> LossAndGrads:
    """A training step with ``torch_loss(module)``: leaf tensors with ``requires_grad``, the
    loss, ``torch.autograd.grad``; results converted as ``make_torch`` does."""
    try:
        import torch
    except ImportError as exc:
        raise NotInstalled(str(exc)) from exc
    from symgrad.interop import torch_loss

    loss = torch_loss(module)
    leaves = {k: torch.from_numpy(v).requires_grad_() for k, v in params.items()}
    names = list(leaves)

    def f() -> tuple[float, Params]:
        value = loss(leaves, torch.from_numpy(X), torch.from_numpy(Y))
        grads = torch.autograd.grad(value, list(leaves.values()))
        return value.item(), {k: g.numpy() for k, g in zip(names, grads, strict=True)}

    return f


def make_torch_func_grad(
    module: ModuleType, params: Params, X: np.ndarray, Y: np.ndarray
) -> LossAndGrads:
    """``torch.func.grad_and_value(torch_loss(module))`` on plain tensors."""
    try:
        import torch
    except ImportError as exc:
        raise NotInstalled(str(exc)) from exc
    from symgrad.interop import torch_loss

    step = torch.func.grad_and_value(torch_loss(module))
    tensors = {k: torch.from_numpy(v) for k, v in params.items()}

    def f() -> tuple[float, Params]:
        grads, value = step(tensors, torch.from_numpy(X), torch.from_numpy(Y))
        return value.item(), {k: g.numpy() for k, g in grads.items()}

    return f


def make_module_alone(
    module: ModuleType, params: Params, X: np.ndarray, Y: np.ndarray
) -> LossAndGrads:
    """The generated ``loss_and_gradients`` on plain tensors, as torch_loss's forward pass runs
    it (its copy of the module), without autograd; results converted as ``make_torch`` does."""
    try:
        import torch
    except ImportError as exc:
        raise NotInstalled(str(exc)) from exc
    from symgrad.interop import _torch_first

    copy = _torch_first(module, torch)
    tensors = {k: torch.from_numpy(v) for k, v in params.items()}

    def f() -> tuple[float, Params]:
        value, grads = copy.loss_and_gradients(tensors, torch.from_numpy(X), torch.from_numpy(Y))
        return value.item(), {k: g.numpy() for k, g in grads.items()}

    return f


def _torch_loss_builders(
    module: ModuleType | None, params: Params, X: np.ndarray, Y: np.ndarray
) -> dict[str, Callable[[], Callable[[], Any]]]:
    """For each contestant of the block that can run, a function building its timed callable."""
    build: dict[str, Callable[[], Callable[[], Any]]] = {"torch": lambda: make_torch(params, X, Y)}
    if module is not None:
        build["autograd-generated"] = lambda: make_autograd_generated(module, params, X, Y)
        build["torch_loss"] = lambda: make_torch_loss(module, params, X, Y)
        build["torch.func.grad"] = lambda: make_torch_func_grad(module, params, X, Y)
        build["module alone"] = lambda: make_module_alone(module, params, X, Y)
    return build


def run_torch_loss_grid(
    budget: Budget, nets: Sequence[tuple[int, ...]], batches: Sequence[int]
) -> list[Cell]:
    """The block's contestants on every (network, batch); a cell's contestant is its name."""
    ref = load_reference()
    cells: list[Cell] = []
    with tempfile.TemporaryDirectory(prefix="symgrad-bench-torch-loss-") as tmp:
        for sizes in nets:
            net = net_name(sizes)
            status, module, message = generate(sizes, "vectorized", Path(tmp), "array-api")
            print(f"[{net}] codegen --target array-api: {status} {message}", file=sys.stderr)
            params = ref.make_params(sizes, seed=0)
            for batch in batches:
                X, Y = make_data(sizes, batch)
                expected = make_handwritten(ref, params, X, Y)()
                build = _torch_loss_builders(module, params, X, Y)
                row: dict[str, Cell] = {}
                timed: dict[str, Callable[[], Any]] = {}
                for name in TORCH_LOSS_CONTESTANTS:
                    if name not in build:
                        row[name] = Cell(net, batch, name, status, message=message)
                        continue
                    row[name], f = prepare(name, net, batch, build[name], expected)
                    if f is not None:
                        timed[name] = f
                measure_cell(timed, budget, row)
                log_row(net, batch, row)
                cells.extend(row.values())
    return cells


#: Short names of contestants in the ratio columns.
_SHORT = {"torch.func.grad": "func", "module alone": "module"}
#: Short names of the ratio columns: (contestant, baseline) -> header.
_TORCH_LOSS_RATIOS = {
    (name, base): f"{_SHORT.get(name, name)}/{base.replace('-generated', '')}"
    for name in TORCH_LOSS_CONTESTANTS[2:]
    for base in TORCH_LOSS_BASELINES
}


def format_torch_loss_table(
    cells: Sequence[Cell], nets: Sequence[str], batches: Sequence[int]
) -> str:
    """One row per (network, batch): medians in microseconds and the ratios of ``torch_loss``
    and ``torch.func.grad`` to each baseline."""
    by = _lookup(cells)
    headers = ["net", "batch", *TORCH_LOSS_CONTESTANTS, *_TORCH_LOSS_RATIOS.values()]
    rows: list[list[str]] = []
    for net in nets:
        for batch in batches:
            row = [net, str(batch)]
            for name in TORCH_LOSS_CONTESTANTS:
                cell = by.get((net, batch, name))
                row.append(
                    "-"
                    if cell is None
                    else f"{cell.median_us:.1f}"
                    if cell.median_us
                    else cell.status
                )
            for name, base in _TORCH_LOSS_RATIOS:
                ratio = _ratio(by.get((net, batch, name)), by.get((net, batch, base)))
                row.append(f"{ratio:.2f}" if ratio is not None else "-")
            rows.append(row)
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    lines = ["  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def format_torch_loss_summary(
    cells: Sequence[Cell], nets: Sequence[str], batches: Sequence[int]
) -> str:
    """The figure: ``torch_loss`` and ``torch.func.grad`` over each baseline at batch >= 64, the
    worst cell and the cells over the limit."""
    by = _lookup(cells)
    lines = []
    for name, base in _TORCH_LOSS_RATIOS:
        ratios = {
            (net, batch): r
            for net in nets
            for batch in batches
            if batch >= 64
            if (r := _ratio(by.get((net, batch, name)), by.get((net, batch, base)))) is not None
        }
        if not ratios:
            lines.append(f"{name} / {base}: n/a (not measured)")
            continue
        worst = max(ratios, key=lambda key: ratios[key])
        over = sorted(k for k, r in ratios.items() if r > TORCH_LOSS_LIMIT)
        lines.append(
            f"{name} / {base} at batch >= 64: max {ratios[worst]:.2f} "
            f"({worst[0]}, batch {worst[1]}); "
            + (
                f"above {TORCH_LOSS_LIMIT:.2f} in {len(over)} of {len(ratios)}: "
                + ", ".join(f"{n} B={b} {ratios[(n, b)]:.2f}" for n, b in over)
                if over
                else f"at most {TORCH_LOSS_LIMIT:.2f} in all {len(ratios)} cells"
            )
        )
    return "\n".join(lines)


def environment() -> dict[str, Any]:
    """Versions and machine facts worth keeping with the numbers."""
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
    }
    for name in ("torch", "jax", "autograd"):
        try:
            info[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            info[name] = None
    # glibc's malloc returns large freed blocks to the OS, so every new temporary array page-faults
    # again; where page faults are slow (VMs) that alone can double NumPy times. Record the knobs.
    info["malloc_env"] = {k: v for k, v in os.environ.items() if k.startswith("MALLOC_")}
    info["thread_env"] = {k: os.environ[k] for k in THREAD_VARIABLES if k in os.environ}
    if info.get("torch"):
        import torch

        info["torch_threads"] = torch.get_num_threads()
    return info


def build_parser() -> argparse.ArgumentParser:
    """Command-line options of the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="far fewer calls per measurement")
    parser.add_argument("--json", metavar="FILE", type=Path, help="also write raw results here")
    parser.add_argument(
        "--array-api-only",
        action="store_true",
        help="only the array-API block (the generated array-API module against jax and torch)",
    )
    parser.add_argument(
        "--skip-array-api", action="store_true", help="leave the array-API block out"
    )
    parser.add_argument(
        "--torch-loss-only",
        action="store_true",
        help="only the torch_loss block (symgrad.interop.torch_loss against torch autograd)",
    )
    parser.add_argument(
        "--skip-torch-loss", action="store_true", help="leave the torch_loss block out"
    )
    parser.add_argument(
        "--generation-probe", action="store_true", help=argparse.SUPPRESS
    )  # internal: print generation_times() as JSON
    parser.add_argument(
        "--c-only",
        action="store_true",
        help="only the C target: the C table (loader's flags, -march=native, --blas), the "
        "small networks at batch 1 against jax, and the generation times",
    )
    parser.add_argument(
        "--threads",
        metavar="N",
        type=int,
        help="limit BLAS, OpenMP and XLA (NumPy, torch, jax) to N threads; default: the "
        "libraries' own choice (all cores). 1 gives stable numbers on a machine shared with "
        "other work",
    )
    return parser


THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
"""Read by OpenBLAS, MKL and OpenMP when they load, hence set by restarting the process."""


def _restart_with_threads(n: int, argv: Sequence[str]) -> None:
    """Re-execute this script with every variable of ``THREAD_VARIABLES`` set to ``n``, unless
    they already are (which is the case in the restarted process)."""
    if all(os.environ.get(var) == str(n) for var in THREAD_VARIABLES):
        return
    env = dict(os.environ, **{var: str(n) for var in THREAD_VARIABLES})
    # XLA (jax) has a thread pool of its own: on a shared machine it fights other processes as
    # BLAS does (the same jitted call varied 2x from run to run on two busy cores).
    xla = f"--xla_cpu_multi_thread_eigen={'true' if n > 1 else 'false'}"
    env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {xla} intra_op_parallelism_threads={n}".strip()
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, str(Path(__file__).resolve()), *argv], env)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the grid, print the table and the summary, optionally dump JSON; returns 0."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if args.threads is not None:
        if args.threads < 1:
            build_parser().error("--threads must be at least 1")
        _restart_with_threads(args.threads, argv)
    if args.generation_probe:
        print(json.dumps(generation_times()))
        return 0
    budget = QUICK if args.quick else FULL
    env = environment()
    print(
        "symgrad codegen benchmark: sigmoid hidden, softmax output, cross-entropy, float64; "
        f"{'quick' if args.quick else 'full'} run",
    )
    print(
        f"python {env['python']}, numpy {env['numpy']}, torch {env['torch']}, jax {env['jax']}, "
        f"autograd {env['autograd']}, {env['cpu_count']} CPUs, "
        f"threads: {env['thread_env'] or 'library defaults'}"
    )
    load_before = os.getloadavg()[0]
    if load_before > 0.5:
        print(f"warning: load average {load_before:.2f}: other processes will distort the times")
    t0 = time.perf_counter()
    only_torch_loss = args.torch_loss_only
    no_c = args.array_api_only or only_torch_loss
    grid_nets, grid_batches = (SMALL_NETS, (1,)) if args.c_only else (NETS, BATCHES)
    cells = [] if no_c else run_grid(budget, grid_nets, grid_batches)
    # The C table and the generation times (the C target's own), then the array-API block.
    c_cells = [] if no_c else run_c_grid(budget, C_WIDE_NETS)
    generation = [] if no_c else generation_lines()
    skip_array_api = args.skip_array_api or args.c_only or only_torch_loss
    array_api = [] if skip_array_api else run_array_api_grid(budget, NETS, BATCHES)
    skip_torch_loss = args.skip_torch_loss or args.array_api_only or args.c_only
    torch_loss = [] if skip_torch_loss else run_torch_loss_grid(budget, NETS, BATCHES)
    elapsed = time.perf_counter() - t0
    env["load_average_1min"] = {"before": load_before, "after": os.getloadavg()[0]}
    nets = [net_name(s) for s in grid_nets]
    if cells:
        print()
        print("median time per loss+gradients call in microseconds (ratio to handwritten)")
        print(format_table(cells, nets, grid_batches))
        print()
        print(format_summary(cells, nets, grid_batches))
        print(format_c_summary(cells, nets, grid_batches))
    if c_cells:
        print()
        print(format_c_tables(c_cells))
    if generation:
        print()
        print("\n".join(generation))
    if array_api:
        print()
        print(
            "array-API module (symgrad codegen --target array-api) against the libraries' own "
            "autodiff: median microseconds per loss+gradients call; ratios below 1 are faster"
        )
        print(format_array_api_table(array_api, nets, BATCHES))
        print()
        print(format_array_api_summary(array_api, nets, BATCHES))
        print(format_small_net_summary([*cells, *array_api], nets))
    if torch_loss:
        all_nets = [net_name(s) for s in NETS]
        print()
        print(
            "torch_loss (symgrad.interop: the generated gradient as a torch autograd.Function) "
            "against torch autograd on the network written in torch (torch) and on the "
            "generated loss (autograd-generated), float64: median microseconds per "
            "loss+gradients call"
        )
        print(format_torch_loss_table(torch_loss, all_nets, BATCHES))
        print()
        print(format_torch_loss_summary(torch_loss, all_nets, BATCHES))
    cells = [*cells, *c_cells, *array_api, *torch_loss]
    notes = sorted({f"{c.contestant}: {c.status}: {c.message}" for c in cells if c.message})
    if notes:
        print()
        print("notes:")
        for note in notes:
            print(f"  {note}")
    print(
        f"\ntotal {elapsed:.0f} s; 1-minute load average {load_before:.2f} before, "
        f"{env['load_average_1min']['after']:.2f} after"
    )
    if args.json:
        payload = {
            "environment": env,
            "budget": asdict(budget),
            "elapsed_s": elapsed,
            "cells": [asdict(c) for c in cells],
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
