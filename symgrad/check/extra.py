"""The checks ``symgrad check`` runs once, besides every path: contract and consistency.

Beside the pipeline, for ``symgrad check``; each function takes the running check
(:class:`symgrad.check.run._Run`) and adds its finding:

- :func:`batch_mean`: the loss of a batch is the mean of its rows' losses;
- :func:`labels`: integer class labels give the loss and gradients one-hot rows give;
- :func:`float32_inputs`: float32 inputs give float32 results, each entry within its own
  float32 noise of symgrad's evaluation (:mod:`symgrad.check.judge`);
- :func:`init_params`: float64 arrays of the right shapes, the same each time;
- :func:`other_library`: with ``--arrays``, every function on every path on another array
  library gives that library's arrays, which agree with symgrad's evaluation.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from symgrad.check.contract import kind
from symgrad.check.judge import FAIL, noises


def batch_mean(run: Any) -> None:
    results = run.results.get("batch", {})
    value = results.get("loss")
    if value is None:
        return
    batch = run.paths[0]
    mean = float(np.mean(run.row_losses(batch.X, batch.Y)))
    level = max(run.noise.get("batch", 0.0), run.noise.get("one", 0.0))
    run.compare_values(value, mean, level, "the loss of a batch is the mean of its rows' losses")


def input_differences(run: Any) -> None:
    """``input_gradient`` on the batch against central differences of ``loss`` in ``X``: the
    change of the loss between ``X + h D`` and ``X - h D`` (a random direction ``D``, the points as
    the code's dtype holds them) against the gradient's inner product with that move, at two
    steps ``h``; the closer one counts, within the tolerance or the loss's rounding."""
    path = run.paths[0]
    given = run.results.get(path.name, {}).get("input_gradient")
    value = run.results.get(path.name, {}).get("loss")
    if given is None or value is None:
        return
    X = np.asarray(path.X, dtype=np.float64)
    direction = np.random.default_rng([run.seed, 24]).uniform(-1.0, 1.0, X.shape)
    eps = float(np.finfo(np.dtype(run.dtype)).eps)
    step = eps ** (1 / 3) * max(1.0, float(np.max(np.abs(X))))
    errors, along = [], 0.0
    for h in (step, step / 2):
        moved = [(X + sign * h * direction).astype(run.dtype) for sign in (1, -1)]
        losses = []
        for n, points in enumerate(moved):
            name = f"{path.name}-input{h!r}-{n}"
            run.send_data(name, points, path.Y.astype(run.dtype))
            losses.append(float(run.call("loss", path.params, name)))
        along = float(np.vdot(given.astype(np.float64), moved[0] - moved[1]))
        errors.append((abs(losses[0] - losses[1] - along), abs(along)))
    error, size = min(errors)
    allowed = max(run.tolerance * size, 16 * eps * abs(value))
    run.finding(
        bool(error <= allowed),
        f"input_gradient agrees with central differences of loss in X on {path.label} "
        f"(along a random direction: difference {error:.1e}, allowed {allowed:.1e})",
    )


def labels(run: Any) -> None:
    """Integer class indices give the loss and gradients one-hot rows give."""
    points = run.points
    onehot = np.eye(run.network.sizes[-1])[points.labels]
    cases = (
        ("a batch", points.X, points.labels, onehot),
        ("one sample", points.X[0], np.array(points.labels[0]), onehot[0]),
    )
    level = max(run.noise.values(), default=0.0)
    worst, problems = 0.0, []
    for label, X, indices, rows in cases:
        name = f"labels-{label}"
        run.send_data(name, X.astype(run.dtype), indices.astype(np.int64))
        run.send_data(name + "-rows", X.astype(run.dtype), rows.astype(run.dtype))
        given = run.call("loss_and_gradients", "main", name)
        wanted = run.call("loss_and_gradients", "main", name + "-rows")
        for what, gap, scale in _differences(given, wanted):
            worst = max(worst, gap / scale)
            if not gap <= max(run.agreement * scale, 4 * level):
                problems.append(f"{what} differs by {gap / scale:.1e} on {label}")
    if problems:
        run.failed(f"integer class labels do not give what one-hot rows give: {problems[0]}")
    else:
        run.finding(
            True,
            f"integer class labels give what one-hot rows give (relative difference {worst:.1e})",
        )


def float32_inputs(run: Any) -> None:
    """float32 in, float32 out, each entry within its own float32 noise of symgrad's value at
    the same point (the points are float32 numbers, so it is the same point)."""
    reference = run.analysis.reference()
    problems, worst, unresolved = [], 0.0, 0
    single = {k: v.astype(np.float32) for k, v in run.points.params.items()}
    run.send_params("float32", single)
    for path in run.paths[:2]:
        X, Y = path.X.astype(np.float32), path.Y.astype(np.float32)
        run.send_data(path.name + "-32", X, Y)
        results = run.call_all("float32", path.name + "-32", path, dtype="float32")
        if reference is None:
            wanted = run.results.get(path.name, {})  # the code's own float64 results
            results_ref = _as_results(wanted, run.found.float64[path.name])
        else:
            results_ref = reference[path.name]
        moved, programs = [], []
        for j, (sets, inputs) in enumerate(run.found.nudged):
            name = f"nudge{j}-32"
            if name not in run.sent:
                run.send_params(name, {k: v.astype(np.float32) for k, v in sets["main"].items()})
                run.sent.add(name)
            data = f"{path.name}-{name}"
            run.send_data(data, inputs[path.name].astype(np.float32), Y)
            moved.append(run.call_all(name, data, path, dtype="float32"))
            programs.append(run.found.float64_nudged[j][path.name])
        program, program32 = run.found.float64[path.name], run.found.float32[path.name]
        found = noises(results, moved, program, programs, results_ref, program32)
        judged = run.judge_results(path, results, results_ref, found, "float32")
        for j in judged:
            verdicts = j.verdicts
            unresolved += int(np.sum(verdicts == 1))
            flat = j.worst()
            worst = max(worst, float(j.error[flat] / max(j.ok[flat], 1e-300)))
            if np.any(verdicts == FAIL):
                problems.append(
                    f"{j.place(flat)} ({j.source}) on {j.path} is {j.error[flat]:.1e} from "
                    f"symgrad's evaluation, more than its float32 noise allows "
                    f"({j.bound[flat]:.1e})"
                )
    if problems:
        run.failed(f"float32: {problems[0]}")
    else:
        against = (
            "symgrad's evaluation" if reference is not None else "the code's own float64 results"
        )
        run.finding(
            None if unresolved else True,
            f"float32 inputs give float32 results within their own float32 noise of {against} "
            f"(largest error {worst:.1e} of what each entry's noise allows)"
            + (f"; {unresolved} entries noisier than the tolerance" if unresolved else ""),
        )


def _as_results(results: dict[str, Any], program: Any) -> Any:
    """The code's own float64 results as :class:`~symgrad.check.reference.Results` (what
    float32 is compared with when symgrad's evaluation is missing)."""
    from symgrad.check.reference import Results

    pair = results.get("loss_and_gradients") or (program.loss, program.gradients)
    return Results(
        float(pair[0] if pair[0] is not None else program.loss),
        np.asarray(results.get("forward", program.yhat)),
        dict(pair[1] or program.gradients),
    )


def init_params(run: Any) -> None:
    first = run.call("init_params", "main", "batch")
    again = run.call("init_params", "main", "batch")
    call = f"init_params({run.seed})"
    problem = None
    shapes = run.shapes
    if not isinstance(first, dict) or set(first) != set(shapes):
        problem = f"{call} returned {kind(first)} without exactly the keys {', '.join(shapes)}"
    else:
        for key, shape in shapes.items():
            value = first[key]
            if not (
                isinstance(value, np.ndarray) and value.shape == shape and value.dtype == np.float64
            ):
                problem = f"{call}[{key!r}] is {kind(value)}; expected float64 of shape {shape}"
                break
            if not np.all(np.isfinite(value)):
                problem = f"{call}[{key!r}] is not finite"
                break
    if problem is None and not (
        isinstance(again, dict)
        and all(
            isinstance(again.get(k), np.ndarray) and np.array_equal(first[k], again[k])
            for k in shapes
        )
    ):
        problem = f"{call} gives other parameters when called again"
    if problem:
        run.failed(problem)
    else:
        run.finding(
            True, f"{call} gives float64 parameters of the right shapes, the same each time"
        )


def other_library(run: Any, library: str) -> None:
    """Every function on every path with ``library``'s arrays (float64): that library's arrays
    back, agreeing with symgrad's evaluation as NumPy's must."""
    reference = run.analysis.reference()
    before = len(run.findings)
    judged = []
    for path in run.paths:
        results = run.call_all(path.params, path.name, path, library=library)
        if reference is not None:
            suffix = f" with {library} arrays"
            judged += run.judge_results(path, results, reference[path.name], {}, None, suffix)
    failed = [f for f in run.findings[before:] if f.passed is False]
    bad = [j for j in judged if np.any(j.verdicts == FAIL)]
    if bad:
        j = bad[0]
        flat = j.worst()
        run.failed(
            f"with {library} arrays, {j.place(flat)} ({j.source}) on {j.path} is "
            f"{j.given[flat]:.10g} where symgrad's evaluation gives {j.wanted[flat]:.10g}"
        )
    elif not failed:
        worst = max((float(np.max(j.error, initial=0.0)) for j in judged), default=0.0)
        run.finding(
            True if reference is not None else None,
            f"with {library} arrays every function gives {library} arrays on every path"
            + (
                f", which agree with symgrad's evaluation (largest relative error {worst:.1e})"
                if reference is not None
                else " (not compared: symgrad's evaluation is missing)"
            ),
        )


def _differences(given: Any, wanted: Any) -> list[tuple[str, float, float]]:
    """``(what, largest difference, scale)`` for each part of two results of
    ``loss_and_gradients``; a part that cannot be compared counts as an infinite difference."""
    if not (isinstance(wanted, tuple) and len(wanted) == 2 and isinstance(wanted[1], dict)):
        return [("the result", np.inf, 1.0)]
    got = given if isinstance(given, tuple) and len(given) == 2 else (None, {})
    parts = got[1] if isinstance(got[1], dict) else {}
    pairs = [("the loss", got[0], wanted[0])]
    pairs += [(f"gradient {k}", parts.get(k), v) for k, v in wanted[1].items()]
    out = []
    for what, a, b in pairs:
        try:
            scale = max(float(np.abs(np.asarray(b, dtype=np.float64)).max(initial=0.0)), 1e-300)
        except (TypeError, ValueError):
            out.append((what, np.inf, 1.0))
            continue
        if not (isinstance(a, (float, np.ndarray)) and np.shape(a) == np.shape(b)):
            out.append((what, np.inf, scale))
            continue
        gap = np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))
        out.append((what, float(np.max(gap, initial=0.0)), scale))
    return out
