"""``symgrad check`` of sample weights and per-sample losses, by both judges.

Beside the pipeline, for ``symgrad check`` (called by :mod:`symgrad.check.run` for the targets
whose modules take ``sample_weight`` and ``reduction``). On the batch path, with unequal
weights (:func:`sample_weights`, one of them 0), the file's ``loss(..., reduction="none")``,
and its ``loss``, ``loss_and_gradients`` and ``input_gradient`` with ``sample_weight``, are
judged twice:

- against symgrad's high-precision evaluation of the network the header names, with the same
  weights (:func:`symgrad.check.reference.high_precision`, worked out in the analysis process);
- by the file itself: each per-sample loss against its ``loss`` of that row alone, the weighted
  loss against ``sum_s w_s L(s) / sum_s w_s`` of those, and the weighted gradients (in the
  parameters and in ``X``) against central differences of the weighted ``loss`` along a random
  direction.

With weight decay, the loss of one row carries the penalty ``(lambda/2) sum_k ||W_k||^2`` and
the per-sample losses of ``reduction="none"`` do not (:func:`penalty`): both judges add it.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from symgrad.check.source import command_options

#: The targets whose modules take ``sample_weight`` and ``reduction`` (C code has neither).
TARGETS = ("numpy", "array-api")

#: The name of the weighted batch: in the analysis's reference and of the weights in the child.
WEIGHTED = "weighted"


def sample_weights(seed: int, rows: int) -> np.ndarray:
    """Unequal weights for a batch of ``rows``: uniform in [0.25, 2), float32 numbers (the same
    in both dtypes), the first 0 (a sample left out) when there are two or more rows."""
    weights = np.random.default_rng([seed, 41]).uniform(0.25, 2.0, rows)
    weights = weights.astype(np.float32).astype(np.float64)
    if rows > 1:
        weights[0] = 0.0
    return weights


def penalty(run: Any) -> float:
    """The weight-decay penalty ``(lambda/2) sum_k ||W_k||_F^2`` of the main parameters, with
    ``lambda`` from the header's command (0 without weight decay): what the loss of one sample
    carries besides its per-sample loss."""
    decay = command_options(run.inspected.path, run.inspected.command)[1].get("weight_decay")
    if decay is None:
        return 0.0
    weights = [v for k, v in run.params.items() if re.fullmatch(r"W\d+", k)]
    return float(decay) / 2 * sum(float(np.sum(np.square(w, dtype=np.float64))) for w in weights)


def check(run: Any) -> None:
    """Both judges of the weighted batch and of the per-sample losses (module docstring)."""
    path = next(p for p in run.paths if p.name == "batch")
    weights = sample_weights(run.seed, path.X.shape[0])
    run.box.request({"op": "weights", "name": WEIGHTED}, {"w": weights.astype(run.dtype)})
    rows = _array(run.call("loss", path.params, path.name, reduction="none"))
    if rows is None or rows.shape != (path.X.shape[0],):
        shape = None if rows is None else rows.shape
        run.failed(f'loss(..., reduction="none") gave {shape} on {path.label}, not one per row')
        rows = None
    value = _number(run.call("loss", path.params, path.name, weights=WEIGHTED))
    pair = run.call("loss_and_gradients", path.params, path.name, weights=WEIGHTED)
    gradients = {k: _array(v) for k, v in pair[1].items()} if _is_pair(pair) else None
    given_x = _array(run.call("input_gradient", path.params, path.name, weights=WEIGHTED))
    given = {"per-sample losses": rows, "weighted loss": value, "input gradient": given_x}
    for key, gradient in (gradients or {}).items():
        given[f"gradient of {key}"] = gradient
    shift = penalty(run)
    _against_reference(run, given, path.label, shift)
    _against_itself(run, path, weights, given, shift)


def _against_reference(run: Any, given: dict[str, Any], label: str, shift: float) -> None:
    """Every weighted result against symgrad's evaluation with the same weights (whose
    per-sample losses are one-sample losses: ``shift``, the penalty, above the file's)."""
    reference = run.analysis.reference()
    if reference is None or WEIGHTED not in reference:
        run.finding(None, "sample weights were not compared with symgrad's evaluation")
        return
    wanted = reference[WEIGHTED]
    expected: dict[str, Any] = {
        "per-sample losses": (
            None if wanted.sample_losses is None else wanted.sample_losses - shift
        ),
        "weighted loss": wanted.loss,
        "input gradient": wanted.input_gradient,
        **{f"gradient of {k}": v for k, v in wanted.gradients.items()},
    }
    worst, wrong = 0.0, []
    for name, value in given.items():
        if value is None or expected.get(name) is None:
            continue
        error = _relative(value, expected[name])
        worst = max(worst, error)
        if not error <= _allowed(run):
            wrong.append(f"{name} (relative error {error:.1e})")
    run.finding(
        not wrong,
        f"with sample weights and reduction='none' on {label}, "
        + (
            "the per-sample losses, the loss and the gradients agree with symgrad's evaluation "
            f"of the network (largest relative error {worst:.1e})"
            if not wrong
            else "these are not those of the network the header names: " + ", ".join(wrong)
        ),
    )


def _against_itself(
    run: Any, path: Any, weights: np.ndarray, given: dict[str, Any], shift: float
) -> None:
    """The file's weighted results against its own ``loss``: row by row (``shift``, the
    penalty, above the per-sample losses), and moved."""
    singles = run.row_losses(path.X, path.Y)
    mean = float(np.dot(weights, singles) / weights.sum())
    rows, value = given["per-sample losses"], given["weighted loss"]
    if rows is not None:
        error = _relative(rows + shift, singles)
        run.finding(
            error <= _allowed(run),
            "loss(..., reduction='none') gives each row's loss as loss of that row alone "
            f"(relative difference {error:.1e})",
        )
    if value is not None:
        error = _relative(value, mean)
        run.finding(
            error <= _allowed(run),
            "loss with sample_weight is sum_s w_s L(s) / sum_s w_s of the rows' losses "
            f"(relative difference {error:.1e})",
        )
    gradients = {k[len("gradient of ") :]: v for k, v in given.items() if k.startswith("gradient")}
    if gradients and all(v is not None for v in gradients.values()) and value is not None:
        what = "the gradients with sample_weight agree"
        _differences(run, path, what, gradients, value, "params")
    if given["input gradient"] is not None and value is not None:
        moved = {"X": given["input gradient"]}
        what = "input_gradient with sample_weight agrees"
        _differences(run, path, what, moved, value, "X")


def _differences(
    run: Any, path: Any, what: str, gradient: dict[str, np.ndarray], value: float, moving: str
) -> None:
    """``gradient`` (of the parameters, or of ``X``) against central differences of the
    weighted ``loss`` along a random direction, at two steps; the closer counts."""
    rng = np.random.default_rng([run.seed, 42 if moving == "params" else 43])
    origin = (
        {k: np.asarray(v, dtype=np.float64) for k, v in run.params.items()}
        if moving == "params"
        else {"X": np.asarray(path.X, dtype=np.float64)}
    )
    direction = {k: rng.uniform(-1.0, 1.0, v.shape) for k, v in origin.items()}
    eps = float(np.finfo(np.dtype(run.dtype)).eps)
    biggest = max(float(np.max(np.abs(v), initial=0.0)) for v in origin.values())
    step = eps ** (1 / 3) * max(1.0, biggest)
    errors = []
    for h in (step, step / 2):
        losses, moves = [], []
        for n, sign in enumerate((1, -1)):
            moved = {k: (v + sign * h * direction[k]).astype(run.dtype) for k, v in origin.items()}
            moves.append(moved)
            name = f"{WEIGHTED}-{moving}{h!r}-{n}"
            if moving == "params":
                run.send_params(name, moved)
                result = run.call("loss", name, path.name, weights=WEIGHTED)
            else:
                run.send_data(name, moved["X"], path.Y.astype(run.dtype))
                result = run.call("loss", path.params, name, weights=WEIGHTED)
            losses.append(_number(result))
        up, down = losses
        if up is None or down is None:
            run.failed(f"loss with sample_weight gave no number on {path.label}")
            return
        along = sum(
            float(np.vdot(np.asarray(gradient[k], dtype=np.float64), moves[0][k] - moves[1][k]))
            for k in origin
        )
        errors.append((abs(up - down - along), abs(along)))
    error, size = min(errors)
    allowed = max(run.tolerance * size, 16 * eps * abs(value))
    run.finding(
        bool(error <= allowed),
        f"{what} with central differences of the weighted loss on {path.label} "
        f"(along a random direction: difference {error:.1e}, allowed {allowed:.1e})",
    )


def _allowed(run: Any) -> float:
    return max(float(run.tolerance), 64 * float(np.finfo(np.dtype(run.dtype)).eps))


def _relative(given: Any, wanted: Any) -> float:
    """The largest difference relative to the largest magnitude of ``wanted`` (inf when the
    shapes differ or a value is not finite)."""
    a, b = np.asarray(given, dtype=np.float64), np.asarray(wanted, dtype=np.float64)
    if a.size != b.size:
        return float("inf")
    difference = float(np.max(np.abs(a.ravel() - b.ravel()), initial=0.0))
    if not np.isfinite(difference):
        return float("inf")
    return difference / max(float(np.max(np.abs(b), initial=0.0)), float(np.finfo(float).tiny))


def _array(value: Any) -> np.ndarray | None:
    return value if isinstance(value, np.ndarray) else None


def _number(value: Any) -> float | None:
    if isinstance(value, (float, int)) or (isinstance(value, np.ndarray) and value.shape == ()):
        return float(value)
    return None


def _is_pair(value: Any) -> bool:
    return isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], dict)
