"""The worked example: every number of one sample, read off the program generated code runs.

Beside the code targets and the renderers (program -> **worked example** -> notes, slides, cli).
Nothing here computes a layer, a loss or a gradient of its own: the parameters are
``init_params(SEED)`` of the generated NumPy module (the module is generated and its function
called), and every other number is a variable of the matrix program that the code targets print
(:func:`symgrad.program.lower_matrix`), evaluated in float64 for a batch of one sample and read
off by what it means (:class:`symgrad.program.Quantity`). So the numbers in the notes, the slides,
``symgrad example`` and the generated code agree by construction.

The input and the target come from the same seed, by the rule of :func:`input_and_target`.
"""

from __future__ import annotations

import json
import types
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from symgrad import notation as nt
from symgrad.derivation import Derivation
from symgrad.errors import SpecError
from symgrad.given import Given
from symgrad.network import Network
from symgrad.notation import Quantity
from symgrad.spec import NetworkSpec

#: The worked example is for networks small enough to read: at most this many units a layer...
MAX_UNITS = 3
#: ... and at most this many layers of weights (``n_0 ... n_3``).
MAX_LAYERS = 3

#: The second word of the seed of the input and the target: ``default_rng([SEED, 1])``, a stream
#: of its own, apart from the parameters' (whatever ``init_params`` draws them from).
DATA_STREAM = 1


def check_seed(seed: int) -> None:
    """Refuse a seed numpy cannot take."""
    if seed < 0:
        raise SpecError(f"the seed of the worked example must be 0 or more, got {seed}")


def check_example(spec: NetworkSpec, seed: int) -> None:
    """Refuse, with what to change, a network too large to read in the notes or the slides
    (``symgrad example`` prints any network) or a seed numpy cannot take."""
    check_seed(seed)
    sizes = "-".join(str(n) for n in spec.sizes)
    limit = (
        f"the worked example is for networks small enough to read: at most {MAX_UNITS} units "
        f"in every layer and at most {MAX_LAYERS} layers of weights"
    )
    if spec.depth > MAX_LAYERS:
        raise SpecError(f"{limit}; {sizes} has {spec.depth} layers of weights")
    for k, n in enumerate(spec.sizes):
        if n > MAX_UNITS:
            raise SpecError(f"{limit}; {sizes} has n_{k} = {n}")


def input_and_target(
    spec: NetworkSpec, seed: int, decimals: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """The input ``x`` and target ``y`` of the example for ``seed``.

    Drawn from ``numpy.random.default_rng([seed, 1])``: first ``x``, ``n_0`` numbers uniform in
    ``[-1, 1]`` rounded to ``decimals`` (one unless ``--round`` says otherwise); then ``y``: for
    a softmax output one-hot, its class uniform among the ``n_L`` units; for a sigmoid output
    ``n_L`` numbers 0 or 1; for an identity output ``n_L`` numbers uniform in ``[-1, 1]``
    rounded to ``decimals``.
    """
    rng = np.random.default_rng([seed, DATA_STREAM])
    x = _decimals(rng.uniform(-1.0, 1.0, spec.sizes[0]), decimals)
    return x, draw_target(spec, rng, decimals)


def draw_target(spec: NetworkSpec, rng: np.random.Generator, decimals: int) -> np.ndarray:
    """A target drawn from ``rng`` as :func:`input_and_target` draws it (the exercises draw
    theirs so too)."""
    nL = spec.sizes[-1]
    if spec.output == "softmax":
        y = np.zeros(nL)
        y[int(rng.integers(nL))] = 1.0
        return y
    if spec.output == "sigmoid":
        return rng.integers(0, 2, nL).astype(np.float64)
    return _decimals(rng.uniform(-1.0, 1.0, nL), decimals)


def _decimals(values: np.ndarray, decimals: int = 1) -> np.ndarray:
    # Adding 0.0 turns the -0.0 that rounding a small negative number gives into 0.0.
    return np.round(values, decimals) + 0.0


def generated_parameters(derivation: Derivation, seed: int) -> dict[str, np.ndarray]:
    """``init_params(seed)`` of the NumPy module symgrad generates for this network.

    The module is generated (vectorized style) and run in a fresh module object of its own; it
    is symgrad's own output, built from the parsed network, never from text a user typed.
    """
    from symgrad.codegen import generate_module

    module = types.ModuleType("symgrad_worked_example")
    exec(compile(generate_module(derivation), "<generated module>", "exec"), module.__dict__)
    params: dict[str, np.ndarray] = module.init_params(seed)
    return params


def quantities(net: Network) -> Iterator[Quantity]:
    """Every quantity of the example in the order of the derivation: the forward pass, then the
    gradients of the output layer, the hidden layers and the parameters, as the network's
    backward order takes them stage by stage; then what the steps of a batch that stack no
    per-sample step compute (a layer kind's objective and its gradients)."""
    found = [*net.forward_quantities(), *(q.grad() for q in net.backward_by_stage())]
    for step in net.batch_only():
        q = nt.quantity_of(step.lhs)  # type: ignore[arg-type]
        if q is not None and q not in found:
            found.append(q)
    yield from found


@dataclass(frozen=True)
class WorkedExample:
    """The numbers of one sample ``(x, y)`` through one network, in float64.

    ``values`` maps every quantity of :func:`quantities` (``a_1``, ``h_1``, ``grad_{a_2} L``,
    ``yhat``, the loss) to an array shaped as in the notes: vectors ``(n_k,)``, matrices
    ``(n_k, n_{k-1})``, the loss a 0-d array; ``order`` is their order in the derivation.
    """

    spec: NetworkSpec
    seed: int
    params: dict[str, np.ndarray]
    x: np.ndarray
    y: np.ndarray
    values: dict[Quantity, np.ndarray]
    order: tuple[Quantity, ...] = ()
    #: The numbers given instead of drawn (``--params``, ``--x``, ``--y``, ``--round``, ``--lr``).
    given: Given = Given()

    def value(self, q: Quantity) -> np.ndarray:
        """The value of ``q``: a quantity of the example, a parameter (``W``, ``b``), ``x`` or
        ``y``."""
        if q.base in ("W", "b") and not q.gradient:
            return self.params[q.json]
        if q.base == "x" and not q.gradient:
            return self.x
        if q.base == "y" and not q.gradient:
            return self.y
        return self.values[q]

    @property
    def loss(self) -> float:
        return float(self.values[nt.quantity("loss")])

    @property
    def lr(self) -> float | None:
        """The learning rate of the step of gradient descent shown (``--lr``), or None."""
        return self.given.lr

    def parameters(self) -> list[Quantity]:
        """``W_1, b_1, ..., W_L, b_L``: the parameters, in the order of ``params``."""
        return [nt.quantity(base, k) for k in range(1, self.spec.depth + 1) for base in "Wb"]

    def descent_gradient(self, param: Quantity) -> Quantity:
        """The gradient a step of gradient descent follows for the parameter ``param``: that of
        the objective a layer kind adds to the loss (weight decay's ``J``) where the example
        has one, else that of the loss."""
        for q in self.order:
            if q.gradient and q.of == param and q.scalar != "loss":
                return q
        return param.grad()

    def stepped(self) -> dict[str, np.ndarray]:
        """The parameters after one step of gradient descent with :attr:`lr`:
        ``W_k - eta grad_{W_k} L`` and ``b_k - eta grad_{b_k} L`` (the objective's gradient
        where there is one, :meth:`descent_gradient`), keyed as ``params``."""
        if self.lr is None:
            raise ValueError("the example has no learning rate (--lr)")
        eta = self.lr
        return {
            q.json: self.params[q.json] - eta * self.values[self.descent_gradient(q)]
            for q in self.parameters()
        }

    def as_dict(self) -> dict[str, Any]:
        """The JSON object of ``symgrad example --format json``: ``params``, ``x``, ``y``, then
        every quantity in the order of the derivation (keys of the naming table), as nested
        lists of floats; with ``--lr``, last, ``step``: its ``lr`` and the ``params`` after it."""
        data: dict[str, Any] = {
            "params": {name: array.tolist() for name, array in self.params.items()},
            "x": self.x.tolist(),
            "y": self.y.tolist(),
        }
        for q in self.order:
            data[q.json] = self.values[q].tolist()
        if self.lr is not None:
            after = {name: array.tolist() for name, array in self.stepped().items()}
            data["step"] = {"lr": self.lr, "params": after}
        return data

    def to_json(self) -> str:
        """:meth:`as_dict` as JSON text, one quantity a line; every float with all its digits
        (Python's shortest representation that reads back to the same float64)."""
        data = self.as_dict()
        lines = [f'  "params": {_json_params(data["params"], "    ")}']
        lines += [
            f"  {json.dumps(k)}: {json.dumps(v)}"
            for k, v in data.items()
            if k not in ("params", "step")
        ]
        if "step" in data:
            step = data["step"]
            lines.append(
                f'  "step": {{\n    "lr": {json.dumps(step["lr"])},\n'
                f'    "params": {_json_params(step["params"], "      ")}\n  }}'
            )
        return "{\n" + ",\n".join(lines) + "\n}\n"


def _json_params(params: dict[str, Any], indent: str) -> str:
    """A parameter dict as JSON, one parameter a line at ``indent``."""
    body = ",\n".join(f"{indent}{json.dumps(k)}: {json.dumps(v)}" for k, v in params.items())
    return "{\n" + body + "\n" + indent[:-2] + "}"


def worked_example(
    derivation: Derivation, seed: int = 0, given: Given | None = None, watch: Any = None
) -> WorkedExample:
    """The example of ``derivation`` for ``seed``: the program run on one sample.

    The numbers ``given`` (checked against the network by :func:`symgrad.given.read_given`)
    replace those the seed would draw; ``given.decimals`` rounds the drawn parameters and data
    to that many decimals. Any network size works (the notes and the slides refuse large ones
    with :func:`check_example`). Raises :class:`~symgrad.errors.SpecError` for a negative seed.

    ``watch`` (:data:`symgrad.program.evaluate.Watch`) sees every value as the program computes
    it and may change it: the exercises round an intermediate value there, as a student does.
    """
    from symgrad.program import evaluate, lower_matrix

    spec = derivation.spec
    given = given if given is not None else Given()
    check_seed(seed)
    if given.params is not None:
        params = {name: np.array(array, dtype=np.float64) for name, array in given.params.items()}
    else:
        params = generated_parameters(derivation, seed)
        if given.decimals is not None:
            params = {name: _decimals(array, given.decimals) for name, array in params.items()}
    x, y = input_and_target(spec, seed, given.decimals or 1)
    x = x if given.x is None else given.x
    y = y if given.y is None else given.y
    # The program as lowered, before any pass: every quantity of the notes is one of its
    # variables (a pass may remove or merge intermediates the example shows).
    program = lower_matrix(derivation)
    evaluation = evaluate(program, params, x.reshape(1, -1), y.reshape(1, -1), watch=watch)
    batch = evaluation.values["B"]  # the number of rows: one
    found: dict[Quantity, np.ndarray] = {}
    for var in program.variables.values():
        meaning = var.meaning
        if meaning is None or meaning.quantity is None or meaning.entry:
            continue
        value = np.asarray(evaluation.values[var.name], dtype=np.float64)
        if meaning.per_batch:  # Delta_k and G_k hold the gradient of a sample divided by B
            value = value * batch
        if var.shape and var.shape[0] == "B":
            value = value[0]  # the one row of the batch
        q = meaning.quantity
        if q in found and not np.array_equal(found[q], value):
            raise AssertionError(f"two variables of the program hold {q.json} with other values")
        found[q] = value
    order = tuple(quantities(derivation.network))
    values = {}
    for q in order:
        if q not in found:
            raise AssertionError(f"the program has no variable holding {q.json}")
        values[q] = found[q]
    return WorkedExample(spec, seed, params, x, y, values, order, given)


__all__ = [
    "MAX_LAYERS",
    "MAX_UNITS",
    "WorkedExample",
    "check_example",
    "check_seed",
    "draw_target",
    "generated_parameters",
    "input_and_target",
    "quantities",
    "worked_example",
]
