"""``symgrad check FILE``: every code path of generated code, judged twice.

Beside the pipeline, for its results. :func:`check_file` reads the file's header in this
process and nothing else of it (:mod:`symgrad.check.source`); works out the network the header
names, the points and symgrad's own evaluation of that network in a bounded process
(:mod:`symgrad.check.analysis`); compiles a C file in a sandbox (:mod:`symgrad.check.build`);
runs the code in the sandboxed child (:mod:`symgrad.check.session`); and checks, on each path
(a batch of ``B`` rows, one sample as a 1-D ``X``, a batch of one, and for code that works in
blocks of rows a batch of several blocks):

- the gradients of ``loss_and_gradients`` and of ``gradients``, entry by entry, against
  symgrad's high-precision evaluation of the header's network and against central differences
  of ``loss`` (:mod:`symgrad.gradcheck`), the verdicts joined by :mod:`symgrad.check.judge`;
- the loss of ``loss`` and of ``loss_and_gradients``, and ``forward``, against symgrad's
  evaluation; the loss of ``loss_and_gradients`` against ``loss``;

and once: the loss of a batch is the mean of its rows' losses, integer class labels give what
one-hot rows give, float32 inputs give float32 results within their own float32 noise of
symgrad's, ``init_params`` keeps its contract, and with ``--arrays`` the same on other array
libraries (:mod:`symgrad.check.extra`). Results of the wrong type or shape fail. The verdict:
PASS (exit 0), FAIL or UNVERIFIED (exit 1), or :class:`~symgrad.errors.ModuleCheckError`
(exit 2: not generated code, or it could not be run, or it tried what the sandbox refuses).
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from symgrad import notation as nt
from symgrad.check import bwrap, extra
from symgrad.check.analysis import Analysis, Found
from symgrad.check.contract import Expect, rebuild
from symgrad.check.judge import AGREEMENT, FAIL, Judged, join, judge, noises
from symgrad.check.limits import Limits
from symgrad.check.reference import Results
from symgrad.check.report import CheckReport, Finding
from symgrad.check.session import Raised, Sandbox
from symgrad.check.source import Inspected, command_options, inspect_file
from symgrad.errors import ModuleCheckError
from symgrad.gradcheck import TOLERANCE, Comparison, compare, make_plan, make_probes

#: Default batch size (more than 4 rows: code may branch on the batch), and the largest.
BATCH = 8
MAX_BATCH = 10_000
#: Default tolerance when the code computes in float32.
TOLERANCE_FLOAT32 = 1e-3
EPS = {"float64": float(np.finfo(np.float64).eps), "float32": float(np.finfo(np.float32).eps)}
TINY = float(np.finfo(np.float64).tiny)
FUNCTIONS = ("loss_and_gradients", "gradients")
#: The targets whose code has ``input_gradient`` (the gradient of the loss with respect to X).
INPUT_GRADIENT_TARGETS = ("numpy", "array-api", "c")
#: Array libraries ``--arrays`` may name.
ARRAYS = ("numpy", "torch", "jax")


def check_file(
    path: str | Path,
    *,
    seed: int = 0,
    batch: int = BATCH,
    tolerance: float | None = None,
    limits: Limits | None = None,
    arrays: Sequence[str] = ("numpy",),
    unsandboxed: bool = False,
) -> CheckReport:
    """Check the generated code at ``path``; see the module docstring. ``unsandboxed`` runs it
    without bubblewrap (still with limits, an empty environment and, where libseccomp is, the
    system-call filter); otherwise a machine that cannot build the sandbox is refused."""
    if not (isinstance(seed, int) and seed >= 0):
        raise ModuleCheckError(f"--seed must be a non-negative integer, got {seed!r}")
    if not (isinstance(batch, int) and 2 <= batch <= MAX_BATCH):
        raise ModuleCheckError(
            f"--batch must be an integer from 2 to {MAX_BATCH} (one sample and a batch of one "
            f"are always checked besides), got {batch!r}"
        )
    if tolerance is not None and not (
        isinstance(tolerance, float) and math.isfinite(tolerance) and 0 < tolerance < 1
    ):
        raise ModuleCheckError(f"--tolerance must be a number between 0 and 1, got {tolerance!r}")
    limits = limits or Limits()
    inspected, loader = inspect_file(path, limits)
    libraries = _arrays(arrays, inspected)
    sandboxed = not unsandboxed
    if sandboxed:
        problem = bwrap.availability()
        if problem is not None:
            raise ModuleCheckError(problem)
    sizes = [int(n) for n in command_options(inspected.path, inspected.command)[0]]
    numbers = _answer_numbers(sizes, max(batch, inspected.large_batch))
    analysis = Analysis(
        inspected.path,
        inspected.command,
        seed=seed,
        batch=batch,
        large=inspected.large_batch,
        limits=limits,
    )
    try:
        with tempfile.TemporaryDirectory(prefix="symgrad-check-") as work:
            prepared = loader.prepare(inspected, Path(work), limits, sandboxed)
            box = Sandbox(
                prepared,
                limits=limits,
                sandboxed=sandboxed,
                arrays=libraries,
                answer_numbers=numbers,
            )
            with box:
                found = analysis.first()
                if inspected.child_loader == "python":
                    loader.accept(inspected.path, box.inspection(), found.network.sizes)
                box.load()
                run = _Run(box, inspected, found, analysis, tolerance, seed, libraries, sandboxed)
                try:
                    return run.run()
                except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
                    # Answers are checked as they come; whatever slips through is still the
                    # file's doing, and ends the check as code that cannot be run.
                    raise ModuleCheckError(
                        f"the process running {inspected.path} answered with data symgrad "
                        f"check cannot use ({type(exc).__name__}); it is not working generated "
                        "code"
                    ) from None
    finally:
        analysis.close()


def _arrays(names: Sequence[str], inspected: Inspected) -> tuple[str, ...]:
    """The array libraries besides NumPy that ``--arrays`` names, for a target that takes them."""
    unknown = [n for n in names if n not in ARRAYS]
    if unknown:
        raise ModuleCheckError(
            f"--arrays names {', '.join(unknown)[:60]}; it takes {', '.join(ARRAYS)}"
        )
    others = tuple(n for n in dict.fromkeys(names) if n != "numpy")
    if others and not set(others) <= set(inspected.arrays):
        raise ModuleCheckError(
            f"--arrays {','.join(names)}: {inspected.path} is {inspected.target} code, which "
            "runs on NumPy arrays only; --arrays is for --target array-api modules"
        )
    return others


def _answer_numbers(sizes: list[int], rows: int) -> int:
    """The numbers an answer may need: the network's parameters, or a batch's inputs and
    outputs (``Sandbox`` allows a stated multiple of it)."""
    if len(sizes) < 2:
        return 1 << 10
    parameters = sum(sizes[k] * sizes[k - 1] + sizes[k] for k in range(1, len(sizes)))
    return max(parameters, rows * (sizes[0] + sizes[-1]), 1 << 10)


@dataclass(frozen=True)
class _Path:
    """One code path: a name for the messages, a label for the report, its data, the name of
    its parameters in the child, and whether central differences judge it too."""

    name: str
    label: str
    X: np.ndarray
    Y: np.ndarray
    params: str = "main"
    differences: bool = True


class _Run:
    """One check, talking to one sandbox."""

    def __init__(
        self,
        box: Sandbox,
        inspected: Inspected,
        found: Found,
        analysis: Analysis,
        tolerance: float | None,
        seed: int,
        arrays: tuple[str, ...],
        sandboxed: bool,
    ) -> None:
        self.box = box
        self.inspected = inspected
        self.found = found
        self.analysis = analysis
        self.network = found.network
        self.points = found.points
        self.seed = seed
        self.arrays = arrays
        self.sandboxed = sandboxed
        #: The real type the code computes in: a compiled target's own (C: ``real_t``).
        self.dtype = box.dtype or inspected.dtypes[0]
        if tolerance is None:
            tolerance = TOLERANCE if self.dtype == "float64" else TOLERANCE_FLOAT32
        self.tolerance = tolerance
        self.agreement = min(tolerance, AGREEMENT)
        self.shapes = self.network.shapes
        self.params = {k: v.astype(self.dtype) for k, v in self.points.params.items()}
        points = self.points
        self.paths: tuple[_Path, ...] = (
            _Path("batch", f"a batch of {points.X.shape[0]}", points.X, points.Y),
            _Path("one", "one sample (1-D)", points.x, points.y),
            _Path("single", "a batch of one", points.X1, points.Y1),
        )
        if len(points.XL):  # every branch of code that works by blocks of rows
            label = f"a batch of {len(points.XL)}"
            self.paths += (_Path("large", label, points.XL, points.YL),)
        if "saturated" in found.params:
            # Its own point, judged by symgrad's evaluation: the gradient through a saturated
            # unit is below what central differences (and a wrong statement about it) show.
            label = f"a batch of {points.X.shape[0]} with saturated units"
            self.paths += (_Path("saturated", label, points.X, points.Y, "saturated", False),)
        self.findings: list[Finding] = []
        self.noise: dict[str, float] = {}
        self.results: dict[str, dict[str, Any]] = {}
        self.expect = Expect(self.failed, self.shapes, inspected.loss_result)
        #: The names of the parameters sent to the child besides the point's.
        self.sent: set[str] = set()

    # Talking to the child ---------------------------------------------------------------------

    def send_params(self, name: str, params: Mapping[str, np.ndarray]) -> None:
        self.box.request({"op": "params", "name": name}, dict(params))

    def send_data(self, name: str, X: np.ndarray, Y: np.ndarray) -> None:
        self.box.request({"op": "data", "name": name}, {"x": X, "y": Y})

    def call(self, function: str, params: str, data: str, library: str = "numpy") -> Any:
        request = {
            "op": "call",
            "function": function,
            "params": params,
            "data": data,
            "seed": self.seed,
            "library": library,
        }
        reply, arrays = self.box.request(request)
        return rebuild(reply.get("result"), arrays)

    def row_losses(self, X: np.ndarray, Y: np.ndarray, params: str | None = None) -> np.ndarray:
        """``loss`` of each row of ``X`` and ``Y`` as one sample (1-D)."""
        data = {"x": X.astype(self.dtype), "y": Y.astype(self.dtype)}
        _, arrays = self.box.request({"op": "rows", "params": params or "main"}, data)
        values = arrays.get("values")
        if values is None or values.shape != (len(X),):
            raise Raised(self.inspected.path, "a damaged answer")
        return np.asarray(values, dtype=np.float64)

    # The check --------------------------------------------------------------------------------

    def run(self) -> CheckReport:
        self.send_params("main", self.params)
        if "saturated" in self.found.params:
            saturated = self.found.params["saturated"]
            self.send_params("saturated", {k: v.astype(self.dtype) for k, v in saturated.items()})
        # The same entries and directions on every path; directions are sent once.
        self.plan = make_plan(self.params, seed=self.seed)
        if self.plan.directions:
            counts = {k: len(v) for k, v in self.plan.directions.items()}
            arrays = {
                f"{k}/{n}": v.astype(self.dtype)
                for k, vs in self.plan.directions.items()
                for n, v in enumerate(vs)
            }
            self.box.request({"op": "directions", "name": "directions", "counts": counts}, arrays)
        for path in self.paths:
            self.send_data(path.name, path.X.astype(self.dtype), path.Y.astype(self.dtype))
        comparisons: list[Comparison] = []
        for path in self.paths:
            comparisons += self.guarded(f"on {path.label}", self.check_path, path) or []
        judged = self.guarded("while compared with symgrad's evaluation", self.check_reference)
        self.guarded("on the rows of a batch", extra.batch_mean, self)
        self.guarded("in input_gradient", extra.input_differences, self)
        if self.network.accepts_labels:
            self.guarded("with integer class labels", extra.labels, self)
        if self.dtype == "float64" and "float32" in self.inspected.dtypes:
            self.guarded("with float32 inputs", extra.float32_inputs, self)
        self.guarded("in init_params", extra.init_params, self)
        for library in self.arrays:
            self.guarded(f"with {library} arrays", extra.other_library, self, library)
        self.declared_dtype()
        missing = self.analysis.reference_problem
        entries = join(self.shapes, judged or [], comparisons, missing)
        from symgrad.gradcheck import summarize

        return CheckReport(
            self.inspected,
            self.network,
            self.seed,
            tuple(path.label for path in self.paths),
            self.tolerance,
            self.dtype,
            self.points.note,
            self.sandbox_description(),
            summarize(comparisons, self.shapes, self.tolerance),
            tuple(entries),
            tuple(self.findings),
            missing,
            self.box.prepared.compiled,
        )

    def sandbox_description(self) -> str:
        limits = self.box.limits
        parts = []
        if self.sandboxed:
            parts.append(bwrap.DESCRIPTION)
        else:
            parts.append("UNSANDBOXED (--unsandboxed): an empty environment and its own session")
        if self.box.seccomp is None:
            from symgrad.check import seccomp

            parts.append(f"an allowlist system-call filter (libseccomp {seccomp.version()})")
        else:
            parts.append(f"no system-call filter ({self.box.seccomp})")
        parts.append(
            f"limits {limits.time:g} s, {limits.memory:g} MB"
            + (f"; no limit on {', '.join(self.box.unlimited)}" if self.box.unlimited else "")
        )
        return "; ".join(parts)

    def declared_dtype(self) -> None:
        """A compiled file's real type is read from the code (C: ``typedef ... real_t``); the
        header's ``--dtype``, a comment, must agree with it."""
        declared = self.inspected.options.get("dtype")
        if self.box.dtype is None or declared is None:
            return
        named = {"double": "float64", "float": "float32"}.get(declared)
        if named != self.box.dtype:
            self.finding(
                False,
                f"the header names --dtype {declared[:20]} but the code computes in "
                f"{self.box.dtype} (its real_t); it was checked as {self.box.dtype}",
            )

    def finding(self, passed: bool | None, text: str) -> None:
        self.findings.append(Finding(passed, text))

    def failed(self, text: str) -> None:
        self.finding(False, text)

    def guarded(self, where: str, check: Callable[..., Any], *args: Any) -> Any:
        """``check(*args)``; an exception the checked code raised is a failure, reported."""
        try:
            return check(*args)
        except Raised as exc:
            self.finding(False, f"the checked code raised {exc.detail} {where}")
            return None

    def call_all(
        self,
        params: str,
        data: str,
        path: _Path,
        *,
        library: str = "numpy",
        dtype: str | None = None,
    ) -> dict[str, Any]:
        """Every function of the contract on one path (parameters and data as sent, in
        ``dtype``), each result as the contract wants it; a result that breaks the contract is
        reported and left out."""
        from symgrad.check.contract import unwrap

        dtype = dtype or self.dtype
        where = f"on {path.label}" + (f" with {library} arrays" if library != "numpy" else "")
        calls: dict[str, Any] = {}
        for name in (*FUNCTIONS, "loss", "forward"):
            value, wrong = unwrap(self.call(name, params, data, library), library)
            if wrong is not None:
                self.failed(f"{name} returned {wrong} arrays for {library} arrays, {where}")
                value = None
            calls[name] = value
        out: dict[str, Any] = {}
        if calls["loss_and_gradients"] is not None:
            pair = self.expect.pair(calls["loss_and_gradients"], where)
            if pair is not None:
                value = self.expect.loss(pair[0], "loss_and_gradients' loss", where, dtype)
                grads = self.expect.gradients(pair[1], "loss_and_gradients", where, dtype)
                out["loss_and_gradients"] = (value, grads)
        if calls["gradients"] is not None:
            out["gradients"] = self.expect.gradients(calls["gradients"], "gradients", where, dtype)
        if calls["loss"] is not None:
            out["loss"] = self.expect.loss(calls["loss"], "loss", where, dtype)
        shape = np.shape(path.X)[:-1] + (self.network.sizes[-1],)
        forward = calls["forward"]
        if forward is not None and self.expect.array(forward, shape, dtype, "forward", where):
            out["forward"] = forward
        if self.inspected.target in INPUT_GRADIENT_TARGETS:
            value, wrong = unwrap(self.call(nt.INPUT_GRADIENT, params, data, library), library)
            if wrong is not None:
                self.failed(f"input_gradient returned {wrong} arrays for {library} arrays, {where}")
            elif self.expect.array(value, np.shape(path.X), dtype, "input_gradient", where):
                out[nt.INPUT_GRADIENT] = value
        return out

    def check_path(self, path: _Path) -> list[Comparison]:
        """Every function on one path; the gradients against central differences."""
        results = self.call_all(path.params, path.name, path)
        self.results[path.name] = results
        if not path.differences:
            return []
        grads = {
            name: value
            for name, value in (
                ("loss_and_gradients", (results.get("loss_and_gradients") or (None, None))[1]),
                ("gradients", results.get("gradients")),
            )
            if value is not None
        }
        loss = results.get("loss")
        if not grads or loss is None:
            return []

        def loss_at(moves: Sequence[tuple[str, int, float]]) -> np.ndarray:
            request = {
                "op": "losses",
                "params": path.params,
                "data": path.name,
                "directions": "directions",
                "moves": [list(m) for m in moves],
            }
            values = self.box.request(request)[1].get("values")
            if values is None or values.shape != (len(moves),):
                raise Raised(self.inspected.path, "a damaged answer")
            return np.asarray(values, dtype=np.float64)

        probes = make_probes(self.params, grads, self.plan)
        try:
            found, _, level = compare(
                loss_at,
                probes,
                tolerance=self.tolerance,
                max_step=self.points.max_step,
                eps=EPS[self.dtype],
                dtype=np.dtype(self.dtype),
            )
        except ValueError as exc:
            self.failed(f"loss is not finite at the point on {path.label} ({exc})")
            return []
        self.noise[path.name] = level
        value = (results.get("loss_and_gradients") or (None, None))[0]
        if value is not None:
            self.compare_values(
                value,
                loss,
                level,
                f"loss_and_gradients and loss give the same loss on {path.label}",
            )
        return [replace(c, path=path.label) for c in found]

    def compare_values(self, a: float, b: float, level: float, text: str) -> None:
        """Two losses that must agree: within the tolerance, or within the rounding noise."""
        difference = abs(a - b)
        passed = difference <= max(self.agreement * max(abs(a), abs(b)), 4 * level)
        relative = difference / max(abs(a), abs(b), TINY)
        self.finding(passed, f"{text} (relative difference {relative:.1e})")

    # Against symgrad's evaluation -------------------------------------------------------------

    def check_reference(self) -> list[Judged]:
        """Every result on every path against symgrad's evaluation of the network; the loss
        and ``forward`` as findings, the gradients returned for the table."""
        reference = self.analysis.reference()
        if reference is None:
            self.finding(
                None,
                "the loss, forward and the gradients were not compared with symgrad's own "
                f"evaluation of the network: {self.analysis.reference_problem}",
            )
            return []
        judged: list[Judged] = []
        for path in self.paths:
            results = self.results.get(path.name, {})
            noises = self.float32_noise(path, results) if self.dtype == "float32" else {}
            judged += self.judge_results(path, results, reference[path.name], noises)
        return self.report_judged(judged, "")

    def judge_results(
        self,
        path: _Path,
        results: dict[str, Any],
        wanted: Results,
        noises: dict[str, np.ndarray],
        dtype: str | None = None,
        suffix: str = "",
    ) -> list[Judged]:
        """Each result of ``results`` (:meth:`call_all`) on ``path`` against ``wanted``."""
        dtype = dtype or self.dtype
        program = self.found.float64[path.name]
        label = path.label + suffix
        out = []

        tolerance = self.tolerance if dtype == self.dtype else TOLERANCE_FLOAT32

        def add(quantity: str, source: str, given: Any, want: Any, prog: Any) -> None:
            found = noises.get(f"{source}/{quantity}")
            computed = quantity in ("the loss", "forward")
            out.append(
                judge(quantity, source, label, given, want, prog, dtype, tolerance, found, computed)
            )

        yhat_shape = np.shape(path.X)[:-1] + (self.network.sizes[-1],)
        pair = results.get("loss_and_gradients")
        if pair is not None and pair[0] is not None:
            add("the loss", "loss_and_gradients", pair[0], wanted.loss, program.loss)
        if results.get("loss") is not None:
            add("the loss", "loss", results["loss"], wanted.loss, program.loss)
        if results.get("forward") is not None:
            shaped = (wanted.yhat.reshape(yhat_shape), program.yhat.reshape(yhat_shape))
            add("forward", "forward", results["forward"], *shaped)
        given_x, wanted_x = results.get(nt.INPUT_GRADIENT), wanted.input_gradient
        if given_x is not None and wanted_x is not None and program.input_gradient is not None:
            shaped = (
                wanted_x.reshape(np.shape(path.X)),
                program.input_gradient.reshape(given_x.shape),
            )
            add("the input gradient", nt.INPUT_GRADIENT, given_x, *shaped)
        for source in FUNCTIONS:
            value = results.get(source)
            grads = value[1] if source == "loss_and_gradients" and value else value
            if grads is None:
                continue
            for key in self.shapes:
                add(key, source, grads[key], wanted.gradients[key], program.gradients[key])
        return out

    def float32_noise(self, path: _Path, results: dict[str, Any]) -> dict[str, np.ndarray]:
        """The float32 noise of each result on ``path`` (:func:`symgrad.check.judge.noise`):
        the code run at the nearby points, against symgrad's program in float64 there."""
        moved, programs = [], []
        for j, (sets, inputs) in enumerate(self.found.nudged):
            name = f"nudge{j}-{path.params}"
            if name not in self.sent:  # each set of parameters once, the inputs of every path
                params = sets[path.params]
                self.send_params(name, {k: v.astype(self.dtype) for k, v in params.items()})
                self.sent.add(name)
            data = f"{path.name}-{name}"
            self.send_data(data, inputs[path.name].astype(self.dtype), path.Y.astype(self.dtype))
            moved.append(self.call_all(name, data, path))
            programs.append(self.found.float64_nudged[j][path.name])
        wanted = self.analysis.reference()
        assert wanted is not None
        program, program32 = self.found.float64[path.name], self.found.float32[path.name]
        return noises(results, moved, program, programs, wanted[path.name], program32)

    def report_judged(self, judged: list[Judged], suffix: str) -> list[Judged]:
        """Findings for the loss and ``forward``; the gradients' judgements returned."""
        for quantity in ("the loss", "forward", "the input gradient"):
            mine = [j for j in judged if j.quantity == quantity]
            if not mine:
                continue
            failing = [j for j in mine if np.any(j.verdicts == FAIL)]
            if failing:
                j = failing[0]
                flat = j.worst()
                self.finding(
                    False,
                    f"{quantity} ({j.source}) is not that of the network the header names on "
                    f"{j.path}: {j.place(flat)} is {j.given[flat]:.10g} where symgrad's "
                    f"evaluation gives {j.wanted[flat]:.10g} (relative error "
                    f"{j.error[flat]:.1e}, allowed {j.ok[flat]:.0e})" + suffix,
                )
            else:
                worst = max(float(np.max(j.error, initial=0.0)) for j in mine)
                unresolved = any(np.any(j.verdicts == 1) for j in mine)
                self.finding(
                    None if unresolved else True,
                    f"{quantity} agrees with symgrad's evaluation of the network on every path"
                    f"{suffix} (largest relative error {worst:.1e})"
                    + (" within rounding, not within the tolerance" if unresolved else ""),
                )
        return [j for j in judged if j.quantity in self.shapes]
