"""``symgrad check FILE``: every code path of generated code against central differences.

Beside the pipeline, for its results. :func:`check_file` recognizes the file without running it
(:mod:`symgrad.check.source`), draws points where the network is defined
(:mod:`symgrad.check.points`), starts the sandboxed child that runs it
(:mod:`symgrad.check.session`), and checks, on each path (a batch of ``B`` rows, one sample
as a 1-D ``X``, a batch of one):

- the gradients of ``loss_and_gradients`` and of ``gradients`` against central differences of
  ``loss``, entry by entry, each at the resolution it has (:mod:`symgrad.gradcheck`);
- the loss of ``loss_and_gradients`` against ``loss``;
- ``forward`` against the prediction the loss itself implies: for a loss ``sum_i term(yhat_i,
  y_i)``, ``L(x, e_i) - L(x, 0) = term(yhat_i, 1) - term(yhat_i, 0)``, solved for ``yhat_i`` by
  SymPy from the catalogue's definition (``exp(-s)`` for cross-entropy);

and once: the loss of a batch is the mean of its rows' losses; integer class labels give what
one-hot rows give (where the loss accepts them); float32 inputs give float32 results close to
float64 ones (where the target follows its inputs' dtype); ``init_params`` keeps its contract.
Results of the wrong type or shape are failures too. The verdict: exit status 0, 1 (a failure)
or 2 (:class:`~symgrad.errors.ModuleCheckError`: not generated code, or it could not be run).
"""

from __future__ import annotations

import functools
import math
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import sympy as sp

from symgrad import catalogue
from symgrad.check.points import Points, draw
from symgrad.check.report import CheckReport, Finding
from symgrad.check.session import Raised, Sandbox
from symgrad.check.source import Inspected, inspect_file
from symgrad.errors import ModuleCheckError
from symgrad.gradcheck import (
    FLOOR,
    TOLERANCE,
    Comparison,
    compare,
    make_plan,
    make_probes,
    summarize,
)
from symgrad.program.ir import parameter_shapes

#: Default batch size, and the largest accepted.
BATCH = 4
MAX_BATCH = 10_000
#: Two computations of the same quantity by the checked code (forward and the prediction its loss
#: implies; loss and the loss of loss_and_gradients; labels and one-hot rows) must agree to this,
#: or to the rounding noise measured, whichever is larger (or to the tolerance, if smaller):
#: they differ by rounding alone, far below what central differences resolve.
AGREEMENT = 1e-12
#: Default tolerance when the code computes in float32 only.
TOLERANCE_FLOAT32 = 1e-3
#: How far float32 results may be from float64 ones, relative to the largest entry of each array
#: (float32 keeps about 7 digits; deep networks lose some of them).
FLOAT32_AGREEMENT = 1e-3
#: Results at inputs moved at random by this many roundings (NUDGES times) show how much
#: rounding can move them: float32 ones (FLOAT32_NUDGE float32 roundings) may be FLOAT32_SAFETY
#: times as far from float64 ones; forward's and the loss's predictions may differ by
#: NUDGE_SAFETY times as much as NUDGE roundings of the dtype move them.
FLOAT32_NUDGE = 4
FLOAT32_SAFETY = 10.0
NUDGE = 4
NUDGE_SAFETY = 10.0
NUDGES = 2
#: Rows and output units whose prediction is compared with the loss's, per path.
PREDICTION_ROWS = 4
PREDICTION_UNITS = 32

EPS = {"float64": float(np.finfo(np.float64).eps), "float32": float(np.finfo(np.float32).eps)}
TINY = float(np.finfo(np.float64).tiny)
FUNCTIONS = ("loss_and_gradients", "gradients")


def check_file(
    path: str | Path, *, seed: int = 0, batch: int = BATCH, tolerance: float | None = None
) -> CheckReport:
    """Check the generated code at ``path``; see the module docstring."""
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
    inspected, loader = inspect_file(path)
    reference = inspected.dtypes[0]
    if tolerance is None:
        tolerance = TOLERANCE if reference == "float64" else TOLERANCE_FLOAT32
    large = inspected.large_batch or 0
    points = draw(inspected.spec, seed, batch, large if large > batch else 0)
    with tempfile.TemporaryDirectory(prefix="symgrad-check-") as work:
        prepared = loader.prepare(inspected, Path(work))
        with Sandbox(prepared) as box:
            run = _Run(box, inspected, points, tolerance, seed)
            return run.run()


@dataclass(frozen=True)
class _Path:
    """One code path: a name for the messages, a label for the report, its data."""

    name: str
    label: str
    X: np.ndarray
    Y: np.ndarray


class _Run:
    """One check, talking to one sandbox."""

    def __init__(
        self, box: Sandbox, inspected: Inspected, points: Points, tolerance: float, seed: int
    ) -> None:
        self.box = box
        self.inspected = inspected
        self.spec = inspected.spec
        self.points = points
        self.tolerance = tolerance
        self.agreement = min(tolerance, AGREEMENT)
        self.seed = seed
        self.reference = inspected.dtypes[0]
        self.shapes = parameter_shapes(self.spec)
        self.params = {k: v.astype(self.reference) for k, v in points.params.items()}
        batch = points.X.shape[0]
        self.paths: tuple[_Path, ...] = (
            _Path("batch", f"a batch of {batch}", points.X, points.Y),
            _Path("one", "one sample (1-D)", points.x, points.y),
            _Path("single", "a batch of one", points.X1, points.Y1),
        )
        if len(points.XL):  # every branch of code that works by blocks of rows
            label = f"a batch of {len(points.XL)}"
            self.paths += (_Path("large", label, points.XL, points.YL),)
        self.findings: list[Finding] = []
        self.noise: dict[str, float] = {}

    # Talking to the child ---------------------------------------------------------------------

    def send_params(self, name: str, params: Mapping[str, np.ndarray]) -> None:
        self.box.request({"op": "params", "name": name}, dict(params))

    def send_data(self, name: str, X: np.ndarray, Y: np.ndarray) -> None:
        self.box.request({"op": "data", "name": name}, {"x": X, "y": Y})

    def call(self, function: str, params: str, data: str) -> Any:
        reply, arrays = self.box.request(
            {"op": "call", "function": function, "params": params, "data": data, "seed": self.seed}
        )
        return _rebuild(reply["result"], arrays)

    # The check --------------------------------------------------------------------------------

    def run(self) -> CheckReport:
        self.send_params(self.reference, self.params)
        # The same entries and directions on every path; directions are sent once.
        self.plan = make_plan(self.params, seed=self.seed)
        if self.plan.directions:
            counts = {k: len(v) for k, v in self.plan.directions.items()}
            arrays = {
                f"{k}/{n}": v.astype(self.reference)
                for k, vs in self.plan.directions.items()
                for n, v in enumerate(vs)
            }
            self.box.request({"op": "directions", "name": "directions", "counts": counts}, arrays)
        for path in self.paths:
            self.send_data(path.name, path.X.astype(self.reference), path.Y.astype(self.reference))
        comparisons: list[Comparison] = []
        losses: dict[str, float] = {}
        for path in self.paths:
            found, value = self.guarded(f"on {path.label}", self.check_path, path) or ([], None)
            comparisons += found
            if value is not None:
                losses[path.name] = value
        self.guarded("while forward was checked", self.check_predictions)
        self.guarded("on the rows of a batch", self.check_batch_mean, losses.get("batch"))
        if self.spec.pair.accepts_labels:
            self.guarded("with integer class labels", self.check_labels)
        if "float32" in self.inspected.dtypes[1:]:
            self.guarded("with float32 inputs", self.check_float32)
        self.guarded("in init_params", self.check_init_params)
        records = summarize(comparisons, self.shapes, self.tolerance)
        return CheckReport(
            self.inspected,
            self.seed,
            tuple(path.label for path in self.paths),
            self.tolerance,
            self.reference,
            self.points.note,
            self.box.seccomp,
            tuple(self.box.unlimited),
            records,
            tuple(self.findings),
        )

    def finding(self, passed: bool, text: str) -> None:
        self.findings.append(Finding(passed, text))

    def guarded(self, where: str, check: Callable[..., Any], *args: Any) -> Any:
        """``check(*args)``; an exception the checked code raised is a failure, reported."""
        try:
            return check(*args)
        except Raised as exc:
            self.finding(False, f"the checked code raised {exc.detail} {where}")
            return None

    def check_path(self, path: _Path) -> tuple[list[Comparison], float | None]:
        """Gradients and the loss on one path; the comparisons and the loss."""
        grads: dict[str, dict[str, np.ndarray]] = {}
        value = None
        result = self.call("loss_and_gradients", self.reference, path.name)
        if not (isinstance(result, tuple) and len(result) == 2):
            self.finding(
                False,
                f"loss_and_gradients returned {_kind(result)}, not (loss, gradients), "
                f"on {path.label}",
            )
        else:
            value = self.expect_float(result[0], "loss_and_gradients' loss", path)
            found = self.expect_gradients(result[1], "loss_and_gradients", path)
            if found is not None:
                grads["loss_and_gradients"] = found
        found = self.expect_gradients(
            self.call("gradients", self.reference, path.name), "gradients", path
        )
        if found is not None:
            grads["gradients"] = found
        loss = self.expect_float(self.call("loss", self.reference, path.name), "loss", path)
        if not grads or loss is None:
            return [], loss

        def loss_at(moves: Sequence[tuple[str, int, float]]) -> np.ndarray:
            request = {
                "op": "losses",
                "params": self.reference,
                "data": path.name,
                "directions": "directions",
                "moves": [list(m) for m in moves],
            }
            return np.asarray(self.box.request(request)[1]["values"], dtype=np.float64)

        probes = make_probes(self.params, grads, self.plan)
        try:
            found_comparisons, _, noise = compare(
                loss_at,
                probes,
                tolerance=self.tolerance,
                max_step=self.points.max_step,
                eps=EPS[self.reference],
                dtype=np.dtype(self.reference),
            )
        except ValueError as exc:
            self.finding(False, f"loss is not finite at the point on {path.label} ({exc})")
            return [], loss
        self.noise[path.name] = noise
        if value is not None:
            self.compare_values(
                value,
                loss,
                noise,
                f"loss_and_gradients and loss give the same loss on {path.label}",
            )
        return [replace(c, path=path.label) for c in found_comparisons], loss

    def compare_values(self, a: float, b: float, noise: float, text: str) -> None:
        """Two losses that must agree: within the tolerance, or within the rounding noise."""
        difference = abs(a - b)
        passed = difference <= max(self.agreement * max(abs(a), abs(b)), 4 * noise)
        relative = difference / max(abs(a), abs(b), TINY)
        self.finding(passed, f"{text} (relative difference {relative:.1e})")

    def check_predictions(self) -> None:
        """``forward`` on every path against the prediction the 1-D loss implies.

        For a sample ``x`` and unit ``i``, ``L(x, e_i) - L(x, 0)`` must equal ``gap(yhat_i) =
        term(yhat_i, 1) - term(yhat_i, 0)``; the difference over ``gap'(yhat_i)`` is, to first
        order, how far ``forward``'s ``yhat_i`` is from the loss's. Both are rounded, by as much
        as the network amplifies rounding: the comparison is repeated at inputs moved by a few
        roundings, and :data:`NUDGE_SAFETY` times how far that moves either side is allowed too.
        """
        n_out = self.spec.sizes[-1]
        units = np.unique(np.linspace(0, n_out - 1, min(n_out, PREDICTION_UNITS)).astype(int))
        rng = np.random.default_rng(self.seed + 1)
        nudge = NUDGE * EPS[self.reference]
        for n in range(NUDGES):
            nudged = {
                k: _nudged(v, nudge, rng).astype(self.reference) for k, v in self.params.items()
            }
            self.send_params(f"nudged-{n}", nudged)
        worst = 0.0
        failed: list[str] = []
        for path in self.paths:
            found = self.predictions(self.reference, path.name, path, units)
            if found is None:
                continue
            yhat, implied, slope = found
            spread = np.zeros_like(yhat)
            for n in range(NUDGES):
                X = _nudged(path.X, nudge, rng).astype(self.reference)
                self.send_data(f"{path.name}-nudged-{n}", X, path.Y.astype(self.reference))
                moved = self.predictions(f"nudged-{n}", f"{path.name}-nudged-{n}", path, units, X)
                if moved is not None:
                    spread = np.maximum(
                        spread, np.abs(moved[0] - yhat) + np.abs(moved[1] - implied)
                    )
            with np.errstate(all="ignore"):  # a broken forward may give 0, 1 or nan
                difference = np.abs(yhat - implied)
                scale = np.maximum(np.abs(yhat), FLOOR * np.abs(yhat).max(initial=0.0))
                resolution = (
                    NUDGE_SAFETY * spread
                    + 8 * self.noise.get("one", 0.0) / np.abs(slope)
                    + 8 * EPS[self.reference] * np.maximum(1.0, np.abs(yhat))
                )
                bad = ~((difference <= self.agreement * scale) | (difference <= resolution))
                worst = max(worst, float(np.max(difference / scale, initial=0.0)))
            if np.any(bad):
                r, i = np.argwhere(bad)[0]
                failed.append(
                    f"yhat[{r + 1},{units[i] + 1}] (1-based) on {path.label}: forward gives "
                    f"{yhat[r, i]:.12g}, loss implies {implied[r, i]:.12g}"
                )
        if failed:
            self.finding(
                False, f"forward disagrees with the prediction implied by loss: {failed[0]}"
            )
        else:
            self.finding(
                True,
                "forward agrees with the prediction implied by loss on every path (largest "
                f"relative difference {worst:.1e})",
            )

    def predictions(
        self,
        params: str,
        data: str,
        path: _Path,
        units: np.ndarray,
        X: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """``forward``'s ``yhat`` (first rows, sampled units), the prediction the 1-D loss
        implies there, and the slope of the loss's gap (None after a failure is reported)."""
        n_out = self.spec.sizes[-1]
        yhat = self.call("forward", params, data)
        shape = (n_out,) if path.X.ndim == 1 else (path.X.shape[0], n_out)
        if not self.expect_array(yhat, shape, self.reference, "forward", path):
            return None
        X = path.X if X is None else X
        rows = X.reshape(-1, X.shape[-1])[:PREDICTION_ROWS]
        # For each row: the loss at e_i for every sampled unit i, then at 0.
        inputs = np.repeat(rows, len(units) + 1, axis=0)
        targets = np.zeros((len(inputs), n_out))
        for r in range(len(rows)):
            targets[r * (len(units) + 1) + np.arange(len(units)), units] = 1.0
        losses = self.row_losses(inputs, targets, params).reshape(len(rows), len(units) + 1)
        gaps = losses[:, :-1] - losses[:, -1:]
        found = yhat.reshape(-1, n_out)[: len(rows)][:, units].astype(np.float64)
        with np.errstate(all="ignore"):
            expected, slope = _loss_gap(self.spec.loss)(found)
            implied = found - (expected - gaps) / slope
        return found, implied, slope

    def row_losses(self, X: np.ndarray, Y: np.ndarray, params: str | None = None) -> np.ndarray:
        """``loss`` of each row of ``X`` and ``Y`` as one sample (1-D)."""
        data = {"x": X.astype(self.reference), "y": Y.astype(self.reference)}
        request = {"op": "rows", "params": params or self.reference}
        _, arrays = self.box.request(request, data)
        return np.asarray(arrays["values"], dtype=np.float64)

    def check_batch_mean(self, value: float | None) -> None:
        if value is None:
            return
        mean = float(np.mean(self.row_losses(self.paths[0].X, self.paths[0].Y)))
        noise = max(self.noise.get("batch", 0.0), self.noise.get("one", 0.0))
        self.compare_values(
            value, mean, noise, "the loss of a batch is the mean of its rows' losses"
        )

    def check_labels(self) -> None:
        """Integer class indices give the loss and gradients one-hot rows give."""
        labels = self.points.labels
        onehot = np.eye(self.spec.sizes[-1])[labels]
        cases = (
            ("a batch", self.points.X, labels, onehot),
            ("one sample", self.points.X[0], np.array(labels[0]), onehot[0]),
        )
        noise = max(self.noise.values(), default=0.0)
        worst, problems = 0.0, []
        for label, X, indices, rows in cases:
            name = f"labels-{label}"
            self.send_data(name, X.astype(self.reference), indices.astype(np.int64))
            self.send_data(name + "-rows", X.astype(self.reference), rows.astype(self.reference))
            given = self.call("loss_and_gradients", self.reference, name)
            wanted = self.call("loss_and_gradients", self.reference, name + "-rows")
            for what, gap, scale in _differences(given, wanted):
                worst = max(worst, gap / scale)
                if not gap <= max(self.agreement * scale, 4 * noise):
                    problems.append(f"{what} differs by {gap / scale:.1e} on {label}")
        if problems:
            self.finding(
                False, f"integer class labels do not give what one-hot rows give: {problems[0]}"
            )
        else:
            self.finding(
                True,
                f"integer class labels give what one-hot rows give (relative difference "
                f"{worst:.1e})",
            )

    def check_float32(self) -> None:
        """float32 in, float32 out, close to float64 results at the same (rounded) inputs.

        How close depends on the network: each float32 operation rounds by about ``eps32``,
        and a deep or ill-conditioned network amplifies that. So the float64 results are also
        computed at inputs moved at random by ``FLOAT32_NUDGE`` float32 roundings; float32
        results may differ from float64 by :data:`FLOAT32_SAFETY` times that spread, and in any
        case by :data:`FLOAT32_AGREEMENT` of each array's largest entry.
        """
        rng = np.random.default_rng(self.seed)
        single = {k: v.astype(np.float32) for k, v in self.points.params.items()}
        rounded = {k: v.astype(np.float64) for k, v in single.items()}
        nudge = FLOAT32_NUDGE * EPS["float32"]
        self.send_params("float32", single)
        self.send_params("rounded", rounded)
        for n in range(NUDGES):
            self.send_params(
                f"nudged32-{n}", {k: _nudged(v, nudge, rng) for k, v in rounded.items()}
            )
        worst, problems, unjudged = 0.0, [], set()
        for path in self.paths[:2]:
            X, Y = path.X.astype(np.float32), path.Y.astype(np.float32)
            self.send_data(path.name + "-32", X, Y)
            self.send_data(path.name + "-64", X.astype(np.float64), Y.astype(np.float64))
            for n in range(NUDGES):
                nudged = _nudged(X.astype(np.float64), nudge, rng)
                self.send_data(f"{path.name}-nudged32-{n}", nudged, Y.astype(np.float64))
            for function in ("loss_and_gradients", "forward"):
                low = self.call(function, "float32", path.name + "-32")
                high = self.call(function, "rounded", path.name + "-64")
                spread: dict[str, float] = {}
                for n in range(NUDGES):
                    moved = self.call(function, f"nudged32-{n}", f"{path.name}-nudged32-{n}")
                    for what, gap, _ in _differences(moved, high):
                        spread[what] = max(spread.get(what, 0.0), gap)
                for what, value in _arrays(low):
                    if value.dtype != np.float32:
                        problems.append(
                            f"{what} is {value.dtype} for float32 inputs on {path.label}"
                        )
                for what, gap, scale in _differences(low, high):
                    if not np.isfinite(spread.get(what, 0.0)) or not np.isfinite(scale):
                        # float64 itself leaves the domain a few float32 roundings away: this
                        # point is too ill-conditioned to judge float32 at.
                        unjudged.add(f"{what} on {path.label}")
                        continue
                    allowed = max(FLOAT32_AGREEMENT * scale, FLOAT32_SAFETY * spread.get(what, 0))
                    worst = max(worst, gap / allowed)
                    if not gap <= allowed:
                        problems.append(
                            f"{what} is {gap / scale:.1e} from float64 on {path.label}, more "
                            f"than float32 rounding explains ({allowed / scale:.1e})"
                        )
        if problems:
            self.finding(False, f"float32: {problems[0]}")
        else:
            self.finding(
                True,
                "float32 inputs give float32 results close to float64 ones (largest difference "
                f"{worst:.1e} of what float32 rounding allows)"
                + (
                    f"; not judged where float64 is not finite a few float32 roundings away "
                    f"({len(unjudged)} results)"
                    if unjudged
                    else ""
                ),
            )

    def check_init_params(self) -> None:
        first = self.call("init_params", self.reference, "batch")
        again = self.call("init_params", self.reference, "batch")
        call = f"init_params({self.seed})"
        problem = None
        if not isinstance(first, dict) or set(first) != set(self.shapes):
            problem = (
                f"{call} returned {_kind(first)} without exactly the keys {', '.join(self.shapes)}"
            )
        else:
            for key, shape in self.shapes.items():
                value = first[key]
                if not (
                    isinstance(value, np.ndarray)
                    and value.shape == shape
                    and value.dtype == np.float64
                ):
                    problem = (
                        f"{call}[{key!r}] is {_kind(value)}; expected float64 of shape {shape}"
                    )
                    break
                if not np.all(np.isfinite(value)):
                    problem = f"{call}[{key!r}] is not finite"
                    break
        if problem is None and not all(np.array_equal(first[k], again[k]) for k in self.shapes):
            problem = f"{call} gives other parameters when called again"
        if problem:
            self.finding(False, problem)
        else:
            self.finding(
                True, f"{call} gives float64 parameters of the right shapes, the same each time"
            )

    # Contract checks --------------------------------------------------------------------------

    def expect_float(self, value: Any, what: str, path: _Path) -> float | None:
        """A loss as the target returns it: a Python float, or a 0-d array of the dtype of the
        computation (array-API modules)."""
        if self.inspected.loss_result == "float":
            if isinstance(value, float):
                return value
            expected = "a Python float"
        else:
            if (
                isinstance(value, np.ndarray)
                and value.shape == ()
                and value.dtype == self.reference
            ):
                return float(value)
            expected = f"a 0-d {self.reference} array"
        self.finding(False, f"{what} returned {_kind(value)}, not {expected}, on {path.label}")
        return None

    def expect_gradients(self, value: Any, what: str, path: _Path) -> dict[str, np.ndarray] | None:
        if not isinstance(value, dict) or set(value) != set(self.shapes):
            self.finding(
                False,
                f"{what} returned {_kind(value)} without exactly the keys "
                f"{', '.join(self.shapes)}, on {path.label}",
            )
            return None
        for key, shape in self.shapes.items():
            if not self.expect_array(value[key], shape, self.reference, f"{what}[{key!r}]", path):
                return None
        return value

    def expect_array(
        self, value: Any, shape: tuple[int, ...], dtype: str, what: str, path: _Path
    ) -> bool:
        if isinstance(value, np.ndarray) and value.shape == shape and value.dtype == dtype:
            return True
        self.finding(
            False, f"{what} is {_kind(value)}; expected {dtype} of shape {shape}, on {path.label}"
        )
        return False


def _nudged(array: np.ndarray, size: float, rng: np.random.Generator) -> np.ndarray:
    """``array`` with each entry moved by a random relative amount of at most ``size``."""
    return array * (1 + size * rng.uniform(-1, 1, array.shape))


def _arrays(result: Any) -> list[tuple[str, np.ndarray]]:
    """The arrays of a result of ``forward`` or ``loss_and_gradients``, named."""
    if isinstance(result, np.ndarray):
        return [("forward", result)]
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], dict):
        return [(f"gradient {k}", v) for k, v in result[1].items() if isinstance(v, np.ndarray)]
    return []


def _differences(given: Any, wanted: Any) -> list[tuple[str, float, float]]:
    """``(what, largest difference, scale)`` for each part of two results of the same function
    (``forward``'s array, or ``loss_and_gradients``' loss and each gradient); a part that cannot
    be compared counts as an infinite difference."""
    if isinstance(wanted, np.ndarray):
        pairs = [("forward", given, wanted)]
    elif isinstance(wanted, tuple) and len(wanted) == 2 and isinstance(wanted[1], dict):
        got = given if isinstance(given, tuple) and len(given) == 2 else (None, {})
        parts = got[1] if isinstance(got[1], dict) else {}
        pairs = [("the loss", got[0], wanted[0])]
        pairs += [(f"gradient {k}", parts.get(k), v) for k, v in wanted[1].items()]
    else:
        return [("the result", np.inf, 1.0)]
    out = []
    for what, a, b in pairs:
        scale = max(float(np.abs(np.asarray(b, dtype=np.float64)).max(initial=0.0)), TINY)
        if not (np.shape(a) == np.shape(b) and isinstance(a, (float, np.ndarray))):
            out.append((what, np.inf, scale))
            continue
        gap = np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))
        out.append((what, float(np.max(gap, initial=0.0)), scale))
    return out


def _kind(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    if isinstance(value, _Opaque):
        return f"a {value.name}"
    return f"a {type(value).__name__}"


@dataclass(frozen=True)
class _Opaque:
    """A result the child could only name (not a number, array, dict or tuple)."""

    name: str


def _rebuild(data: Any, arrays: Mapping[str, np.ndarray]) -> Any:
    """A result as the child described it (:func:`symgrad.check.child.describe`)."""
    if not isinstance(data, dict):
        return _Opaque("damaged answer")
    kind = data.get("type")
    if kind in ("float", "float64", "float32", "float16", "longdouble", "float128"):
        value = data.get("value")
        if not isinstance(value, (int, float)):
            return _Opaque("damaged answer")
        return float(value) if kind in ("float", "float64") else _Opaque(f"NumPy {kind} scalar")
    if kind == "ndarray":
        array = arrays.get(str(data.get("array")))
        if array is None:
            return _Opaque("damaged answer")
        if data.get("dtype") not in ("<f8", "<f4"):
            return _Opaque(f"array of dtype {data.get('dtype')}")
        return array
    if kind == "dict":
        items = data.get("items")
        if not isinstance(items, list):
            return _Opaque("damaged answer")
        return {str(k): _rebuild(v, arrays) for k, v in items if isinstance(k, str)}
    if kind in ("tuple", "list"):
        items = data.get("items")
        if not isinstance(items, list):
            return _Opaque("damaged answer")
        rebuilt = [_rebuild(v, arrays) for v in items]
        return tuple(rebuilt) if kind == "tuple" else rebuilt
    return _Opaque(str(kind))


@functools.lru_cache(maxsize=8)
def _loss_gap(loss: str) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``yhat -> (term(yhat, 1) - term(yhat, 0), its derivative)`` for the catalogue's loss: what
    ``L(x, e_i) - L(x, 0)`` is when the prediction is ``yhat``."""
    p = sp.Symbol("p", real=True)
    term = catalogue.LOSSES_BY_NAME[loss].term
    gap = term(p, sp.Integer(1)) - term(p, sp.Integer(0))
    value = sp.lambdify(p, gap, modules="numpy")
    slope = sp.lambdify(p, sp.diff(gap, p), modules="numpy")

    def evaluate(yhat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with np.errstate(all="ignore"):
            return (
                np.broadcast_to(value(yhat), yhat.shape).astype(np.float64),
                np.broadcast_to(slope(yhat), yhat.shape).astype(np.float64),
            )

    return evaluate
