"""A generated module's loss inside PyTorch and JAX training code, with its own gradients.

Beside the pipeline, for its results: the module written by ``symgrad codegen --target
array-api`` already runs on torch tensors and JAX arrays, and both libraries can differentiate
its ``loss`` by themselves. These wrappers make them use the generated gradients instead (one
forward pass, no autodiff tape):

- :func:`torch_loss` gives a function whose result is a ``torch.autograd.Function``: ``.backward()``
  and optimizers see the generated gradient;
- :func:`jax_loss` gives a ``jax.custom_vjp`` function: ``jax.grad`` and ``jax.value_and_grad``
  (also under ``jax.jit``) return the generated gradient.

Both differentiate with respect to the parameters only; asking for the gradient with respect to
``X`` or ``Y`` raises. torch and jax are imported when a wrapper is made, never by ``import
symgrad``.

:func:`dask_loss_and_gradients` computes the loss and the gradient of a whole data set held as a
Dask array chunked along the rows, as Dask users write it: one task per chunk that calls the
module on that chunk's NumPy arrays and returns its sums, then a tree of additions.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.abc
import importlib.util
import inspect
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from symgrad import notation as nt
from symgrad.codegen.release import released_copy

Params = Mapping[str, Any]


def _keys(module: ModuleType) -> list[str]:
    """``["W1", "b1", ..., "WL", "bL"]`` of a generated module."""
    return nt.parameter_keys(len(module.LAYER_SIZES) - 1)


def torch_loss(module: ModuleType) -> Callable[..., Any]:
    """``loss(params, X, Y, *, sample_weight=None)`` of ``module`` as a torch function whose
    backward pass is the generated gradient.

    The result is the 0-d loss tensor. When grad mode is on and a parameter requires grad, one
    call of ``module.loss_and_gradients`` gives the loss and the gradients, which the backward
    pass scales by the incoming gradient; otherwise (evaluation, ``torch.no_grad()``) it runs
    ``module.loss`` alone. It works under ``torch.func`` (``grad``, ``vjp``, ``vmap``,
    ``jacrev``: the function has ``setup_context`` and a generated vmap rule) and under
    ``torch.compile(fullgraph=True)``. When ``X`` requires grad (or is differentiated by a
    ``torch.func`` transform), its gradient is the module's ``input_gradient``, computed in the
    same call; ``Y`` and ``sample_weight`` must not require grad (the module has no gradient for
    them). ``sample_weight`` (shape ``(B,)``) weighs the mean, as the module's functions do.
    Second derivatives (``grad`` of ``grad``, ``hessian``) raise: the generated gradient has no
    derivative of its own. It computes with a copy of ``module`` made for torch tensors, which
    gives the same results with less memory (:func:`_torch_first`).
    """
    import torch

    _trace_compat_caches_quietly(torch)
    keys = _keys(module)
    fast = _torch_first(module, torch)
    function, eager = _generated_loss(fast, keys)
    transforms_active = getattr(torch._C, "_are_functorch_transforms_active", None)

    def loss(params: Params, X: Any, Y: Any, *, sample_weight: Any = None) -> Any:
        weights = [params[key] for key in keys]
        for name, value in (("Y", Y), ("sample_weight", sample_weight)):
            if isinstance(value, torch.Tensor) and value.requires_grad:
                raise ValueError(
                    f"{name} requires grad, but the generated module computes gradients of the "
                    "parameters and of X only; pass it detached"
                )
        inputs = isinstance(X, torch.Tensor) and X.requires_grad
        wanted = inputs or any(isinstance(w, torch.Tensor) and w.requires_grad for w in weights)
        if not (torch.is_grad_enabled() and wanted):
            return fast.loss(params, X, Y, sample_weight=sample_weight)
        if torch.compiler.is_compiling() or transforms_active is None or transforms_active():
            return function.apply(X, Y, sample_weight, inputs, *weights)[0]
        return eager(X, Y, sample_weight, inputs, *weights)

    loss.function = function  # type: ignore[attr-defined]
    return loss


def _trace_compat_caches_quietly(torch: Any) -> None:
    """Let ``torch.compile`` trace ``array_api_compat``'s cached type checks without a warning.

    The generated module finds its array library through ``array_api_compat``, whose checks of a
    class (``is_torch_array``, ``array_namespace``) are memoized with ``functools.lru_cache``.
    Dynamo traces through such a cache and warns at every call site that it might be unsound; for
    these pure functions of a class it is exact, so they go on Dynamo's list of caches it may
    trace quietly (as torch does for the pure helpers of einops). Dynamo takes seconds to import:
    when it is not loaded yet, this waits for its import instead of causing it.
    """
    if "torch._dynamo.utils" in sys.modules:
        _allow_compat_caches(sys.modules["torch._dynamo.utils"])
    elif not any(isinstance(finder, _AfterDynamo) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AfterDynamo())


def _allow_compat_caches(utils: ModuleType) -> None:
    allow = getattr(utils, "allow_lru_cache_wrapper_trace_without_warning", None)
    if allow is None:  # a torch without the list
        return
    from array_api_compat.common import _helpers

    for value in vars(_helpers).values():
        if isinstance(value, functools._lru_cache_wrapper):
            allow(value)


class _AfterDynamo(importlib.abc.MetaPathFinder):
    """Runs :func:`_allow_compat_caches` once ``torch._dynamo.utils`` has been imported."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != "torch._dynamo.utils":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        loader, run = spec.loader, spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            run(module)
            _allow_compat_caches(module)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def _compute(
    module: ModuleType,
    keys: list[str],
    X: Any,
    Y: Any,
    sample_weight: Any,
    inputs: bool,
    weights: Any,
) -> tuple[Any, Any, list[Any]]:
    """The loss, the gradient in ``X`` (None unless ``inputs``), the parameters' gradients."""
    params = dict(zip(keys, weights, strict=True))
    value, grads = module.loss_and_gradients(params, X, Y, sample_weight=sample_weight)
    in_x = module.input_gradient(params, X, Y, sample_weight=sample_weight) if inputs else None
    return value, in_x, [grads[key] for key in keys]


def _torch_first(module: ModuleType, torch: Any) -> ModuleType:
    """``module`` run from its own source once more, for torch tensors: the same statements on
    the same arrays, with two differences that change no result.

    Each intermediate array is let go after its last use (:func:`released_copy`), which keeps
    the memory of a large batch in use from one call to the next instead of faulting it in
    again. ``array_api_compat``'s four questions about an argument (its namespace, whether it is
    an array, a NumPy array, its device) are answered for torch tensors before they are asked:
    what ``array_api_compat`` answers for them, without walking its list of libraries on every
    call (about a tenth of a small network's call); every other argument gets
    ``array_api_compat``'s own answer. ``module`` itself is left as it is. Without its source at
    hand, or with a source that is no longer the one it was made from (a file written again
    since it was imported), it is used as it is.
    """
    names = vars(module)
    if not all(callable(names.get(name)) for name in _COMPAT_QUESTIONS):
        return module
    try:
        source = _GeneratedSource.of(module)
    except ValueError:
        return module
    namespace, is_array, is_numpy, device = (names[name] for name in _COMPAT_QUESTIONS)
    Tensor = torch.Tensor
    torch_namespace = namespace(torch.empty(0))

    def array_namespace(*arrays: Any, **options: Any) -> Any:
        if not options and all(isinstance(array, Tensor) for array in arrays):
            return torch_namespace
        return namespace(*arrays, **options)

    def is_array_api_obj(value: Any) -> bool:
        return isinstance(value, Tensor) or is_array(value)

    def is_numpy_array(value: Any) -> bool:
        return not isinstance(value, Tensor) and is_numpy(value)

    def device_of(value: Any, /) -> Any:
        return value.device if isinstance(value, Tensor) else device(value)

    answers = (array_namespace, is_array_api_obj, is_numpy_array, device_of)
    copy = released_copy(module, source.text, dict(zip(_COMPAT_QUESTIONS, answers, strict=True)))
    return module if copy is None else copy


#: The names under which the generated array-API module imports ``array_api_compat``'s checks.
_COMPAT_QUESTIONS = ("array_namespace", "is_array_api_obj", "is_numpy_array", "device_of")


def _backward_pass(
    grad_value: Any, in_x: Any, grads: list[Any], dtypes: list[Any], known: bool
) -> tuple[Any, ...]:
    """What a backward pass returns for ``(X, Y, sample_weight, inputs, *weights)``: the
    gradients scaled by ``grad_value``, each in its input's dtype (``dtypes``: the parameters',
    then X's)."""
    if grad_value is None:
        return (None,) * (4 + len(grads))
    # ``loss.backward()`` passes a plain 1: the gradients are the result as they are, not a copy
    # scaled by 1 (a pass over every parameter). The value is asked only where it is at hand
    # (``known``: eager autograd) and on the CPU.
    unit = known and grad_value.device.type == "cpu" and grad_value.item() == 1.0
    if not unit:
        grads = [grad_value * g for g in grads]
    # A parameter's gradient has its dtype (bfloat16 parameters are computed in float32, float32
    # ones beside float64 X in float64).
    cast = [g if g.dtype == d else g.to(d) for g, d in zip(grads, dtypes[:-1], strict=True)]
    if in_x is not None:
        in_x = in_x if unit else grad_value * in_x
        in_x = in_x if in_x.dtype == dtypes[-1] else in_x.to(dtypes[-1])
    return (in_x, None, None, None, *cast)


def _refuse() -> None:
    raise RuntimeError(
        "torch_loss gives first derivatives only: the generated module has no second "
        "derivative (grad of grad, hessian)"
    )


def _generated_loss(module: ModuleType, keys: list[str]) -> tuple[Any, Any]:
    """The ``torch.autograd.Function`` of ``module``'s loss for ``torch.func`` and compilers, and
    the function that applies its eager form; they share one backward pass.

    The first serves ``torch.func`` and compilers: ``forward(X, Y, sample_weight, inputs,
    *weights)`` returns the loss and the gradients (first the one in ``X`` when ``inputs``), which
    ``setup_context`` saves (outputs, so that the transforms see every
    tensor the backward pass uses). The second, for plain eager autograd, keeps the gradients on
    its context: a third less overhead a call (no arguments bound to a signature, nothing saved
    with version checks), which is what a small network's step costs.
    """
    import torch

    def compute(*arguments: Any) -> tuple[Any, Any, list[Any]]:
        return _compute(module, keys, *arguments)

    class GeneratedLoss(torch.autograd.Function):
        """The generated module's loss; its backward pass is the generated gradient."""

        generate_vmap_rule = True

        @staticmethod
        def forward(X: Any, Y: Any, sample_weight: Any, inputs: bool, *weights: Any) -> tuple:
            value, in_x, grads = compute(X, Y, sample_weight, inputs, weights)
            return (value, *grads) if in_x is None else (value, in_x, *grads)

        @staticmethod
        def setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[Any, ...]) -> None:
            ctx.save_for_backward(*output[1:])
            ctx.set_materialize_grads(False)  # an unused output's gradient stays None
            ctx.inputs = bool(inputs[3])
            ctx.dtypes = [weight.dtype for weight in inputs[4:]] + [inputs[0].dtype]

        @staticmethod
        def backward(ctx: Any, grad_value: Any, *grad_grads: Any) -> tuple[Any, ...]:
            # A gradient flowing into the gradients means a second derivative is being taken
            # (torch.func.grad of grad); the generated code has none: refuse it rather than
            # return zero. (A compiler traces every output's gradient; compiled graphs refuse
            # double backward themselves.)
            if not torch.compiler.is_compiling() and any(g is not None for g in grad_grads):
                _refuse()
            saved = ctx.saved_tensors
            in_x, grads = (saved[0], saved[1:]) if ctx.inputs else (None, saved)
            return _backward_pass(grad_value, in_x, grads, ctx.dtypes, known=False)

    # torch binds the arguments of forward to its signature on every call; inspect reads a
    # signature kept on the function instead of working it out again (tens of microseconds).
    GeneratedLoss.forward.__signature__ = inspect.signature(GeneratedLoss.forward)  # type: ignore[attr-defined]
    return GeneratedLoss, _eager_loss(compute)


def _eager_loss(compute: Callable[..., tuple[Any, Any, list[Any]]]) -> Any:
    """The eager form: a function of ``(X, Y, sample_weight, inputs, *weights)`` that applies a
    ``torch.autograd.Function`` keeping the gradients of ``compute`` on its context."""
    import torch

    class EagerLoss(torch.autograd.Function):
        """The same for eager autograd, the gradients kept on the context."""

        @staticmethod
        def forward(
            ctx: Any, X: Any, Y: Any, sample_weight: Any, inputs: bool, *weights: Any
        ) -> Any:
            value, ctx.in_x, ctx.grads = compute(X, Y, sample_weight, inputs, weights)
            ctx.arguments = (X, Y, sample_weight, inputs, weights)
            return value

        @staticmethod
        def backward(ctx: Any, grad_value: Any) -> tuple[Any, ...]:
            # Grad mode in a backward pass: its graph is being recorded for a second
            # derivative (create_graph=True), which the gradients kept here would miss.
            if torch.is_grad_enabled():
                _refuse()
            # Let go of the gradients first: autograd then moves each into ``.grad`` as it is,
            # where a tensor still held here would be copied (a pass over every parameter). A
            # second backward pass of a retained graph (gradcheck) computes them again.
            if ctx.grads is None:
                _, ctx.in_x, ctx.grads = compute(*ctx.arguments)
            in_x, grads, ctx.in_x, ctx.grads = ctx.in_x, ctx.grads, None, None
            X, weights = ctx.arguments[0], ctx.arguments[4]
            # The common case at once: ``loss.backward()``'s 1 on the CPU, every gradient of its
            # parameter's dtype.
            if (
                in_x is None
                and grad_value.device.type == "cpu"
                and grad_value.item() == 1.0
                and all(g.dtype == w.dtype for g, w in zip(grads, weights, strict=True))
            ):
                return (None, None, None, None, *grads)
            dtypes = [weight.dtype for weight in weights] + [X.dtype]
            return _backward_pass(grad_value, in_x, grads, dtypes, known=True)

    # ``EagerLoss.apply`` without its Python layer, which binds no arguments for a function
    # without setup_context and dispatches to torch.func only under a transform (the caller has
    # ruled that out): the C++ apply, after the same unwrapping of tensors left over from a
    # finished transform.
    apply: Callable[..., Any] = super(torch.autograd.Function, EagerLoss).apply
    unwrap: Callable[[Any], Any] = torch._C._functorch.unwrap_if_dead
    Tensor = torch.Tensor

    def eager(*arguments: Any) -> Any:
        return apply(*[unwrap(a) if isinstance(a, Tensor) else a for a in arguments])

    return eager


def jax_loss(module: ModuleType) -> Callable[..., Any]:
    """``loss(params, X, Y, sample_weight=None)`` of ``module`` as a ``jax.custom_vjp`` function:
    ``jax.grad`` of it is the generated gradient.

    Differentiate with respect to ``params`` (the first argument, JAX's default) or ``X`` (its
    gradient is the module's ``input_gradient``, computed only when asked for); differentiating
    with respect to ``Y`` or ``sample_weight`` raises ``ValueError``. ``sample_weight`` (shape
    ``(B,)``) weighs the mean, as the module's functions do. Reverse mode only (``jax.grad``,
    ``jax.vjp``), as for every ``custom_vjp`` function; it composes with ``jax.jit`` and
    ``jax.vmap``.
    """
    import jax
    from jax.custom_derivatives import CustomVJPPrimal, SymbolicZero

    @jax.custom_vjp
    def loss(params: Params, X: Any, Y: Any, sample_weight: Any = None) -> Any:
        return module.loss(params, X, Y, sample_weight=sample_weight)

    def primal(tree: Any) -> Any:
        return jax.tree_util.tree_map(
            lambda leaf: leaf.value, tree, is_leaf=lambda leaf: isinstance(leaf, CustomVJPPrimal)
        )

    def forward(params: Any, X: Any, Y: Any, sample_weight: Any = None) -> tuple[Any, Any]:
        # With symbolic zeros, each argument says whether it is being differentiated.
        for name, argument in (("Y", Y), ("sample_weight", sample_weight)):
            if isinstance(argument, CustomVJPPrimal) and argument.perturbed:
                raise ValueError(
                    f"the gradient with respect to {name} was asked for, but the generated "
                    "module computes gradients of the parameters and of X only"
                )
        values, weights = primal(params), primal(sample_weight)
        value, grads = module.loss_and_gradients(values, X.value, Y.value, sample_weight=weights)
        in_x = None
        if X.perturbed:
            in_x = module.input_gradient(values, X.value, Y.value, sample_weight=weights)
            in_x = in_x.astype(X.value.dtype)
        # Each gradient in the dtype of its parameter (bfloat16 ones are computed in float32);
        # the dtypes travel as 0-d arrays, as residuals must be arrays.
        dtypes = {key: jax.numpy.zeros((), values[key].dtype) for key in grads}
        return value, (grads, dtypes, in_x)

    def backward(saved: Any, cotangent: Any) -> tuple[Any, Any, None, None]:
        grads, dtypes, in_x = saved
        if isinstance(cotangent, SymbolicZero):  # the loss was not used: no gradient
            zeros = {key: jax.numpy.zeros_like(grad) for key, grad in grads.items()}
            return zeros, None if in_x is None else jax.numpy.zeros_like(in_x), None, None
        scaled = {key: (cotangent * grad).astype(dtypes[key].dtype) for key, grad in grads.items()}
        moved = None if in_x is None else (cotangent * in_x).astype(in_x.dtype)
        return scaled, moved, None, None

    loss.defvjp(forward, backward, symbolic_zeros=True)
    return loss


# Dask ------------------------------------------------------------------------------------------

#: Partial results combined by one task of the reduction.
SPLIT_EVERY = 8


def dask_loss_and_gradients(
    module: ModuleType,
    params: Params,
    X: Any,
    Y: Any,
    *,
    sample_weight: Any = None,
    split_every: int = SPLIT_EVERY,
) -> Any:
    """The mean loss over every row of the Dask arrays ``X`` and ``Y`` and its gradient, as one
    lazy ``dask.delayed`` value of ``(loss, gradients)`` (``.compute()`` it, or hand it to a
    distributed client).

    The graph has one task per chunk of rows, which runs ``module.loss_and_gradients`` on the
    chunk (NumPy arrays, or whatever the chunks are) and returns the sums over its rows (the
    chunk's loss and gradients times its number of rows), and a tree of additions that combines
    ``split_every`` partial sums a task; the last task divides by the number of rows. The
    parameters (NumPy arrays) and the module's source are each one node of the graph, sent to a
    worker once per computation, not once per task; each worker process imports the module once.
    ``module`` is a generated NumPy or array-API module with its file at hand (``symgrad.load``
    gives one). Chunk sizes may be unknown (``nan``, as ``dask.dataframe``'s ``to_dask_array()``
    gives them): ``Y`` must then have the chunks of ``X``; empty chunks add nothing. ``Y`` holds
    rows like ``forward``'s result or class labels, with the module's contract.

    ``sample_weight`` (a Dask array of one weight per row, chunked like ``X`` or rechunked to it)
    weighs the mean, as the module's functions do: each task returns its sums weighted by its
    rows' weights and their total, and the last task divides by the total of every weight (a
    chunk whose weights are all 0 adds nothing).
    """
    import dask
    import dask.array as da

    if split_every < 2:
        raise ValueError(f"split_every must be at least 2, got {split_every}")
    source = _GeneratedSource.of(module)
    X, Y = _rows_aligned(da.asarray(X), da.asarray(Y))
    inputs, targets = X.to_delayed().ravel(), Y.to_delayed().ravel()
    weights: list[Any] = [None] * len(inputs)
    if sample_weight is not None:
        given = da.asarray(sample_weight)
        if given.ndim != 1:
            raise ValueError(f"sample_weight must have one weight per row, got shape {given.shape}")
        weights = list(_rows_aligned(X, given)[1].to_delayed().ravel())
    shared_module = dask.delayed(source, pure=True, traverse=False)
    shared_params = dask.delayed(dict(params), pure=True, traverse=False)
    chunk = dask.delayed(_chunk_sums, pure=True)
    parts = [
        chunk(shared_module, shared_params, x, y, w)
        for x, y, w in zip(inputs, targets, weights, strict=True)
    ]
    add = dask.delayed(_add_sums, pure=True)
    while len(parts) > 1:
        parts = [add(*parts[i : i + split_every]) for i in range(0, len(parts), split_every)]
    return dask.delayed(_mean, pure=True)(parts[0])


def _rows_aligned(X: Any, Y: Any) -> tuple[Any, Any]:
    """``X`` in one block of columns, ``Y`` in the row chunks of ``X`` (and one block of
    columns); refused when the row chunks cannot be matched."""
    if X.ndim != 2 or Y.ndim not in (1, 2):
        raise ValueError(
            f"X must be a Dask array (rows, n_0) and Y (rows, n_L) or (rows,); got X of shape "
            f"{X.shape} and Y of shape {Y.shape}"
        )
    if X.numblocks[1] > 1:
        X = X.rechunk({1: -1})
    if Y.ndim == 2 and Y.numblocks[1] > 1:
        Y = Y.rechunk({1: -1})
    unknown = _unknown(X) or _unknown(Y)
    if X.chunks[0] == Y.chunks[0] or unknown and X.numblocks[0] == Y.numblocks[0]:
        return X, Y
    if unknown:
        raise ValueError(
            f"X and Y are chunked differently along the rows ({X.numblocks[0]} and "
            f"{Y.numblocks[0]} chunks) and their sizes are unknown; give Y the chunks of X "
            "(for example both from one dask.dataframe)"
        )
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows and Y {Y.shape[0]}; they must match")
    return X, Y.rechunk({0: X.chunks[0]})


def _unknown(array: Any) -> bool:
    return any(size != size for size in array.chunks[0])  # nan: not known until computed


class _GeneratedSource:
    """A generated module travelling as its source text: pickled as text (kilobytes), imported
    once per process that needs it, by the hash of the text."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.key = hashlib.sha256(text.encode("utf-8")).hexdigest()

    @classmethod
    def of(cls, module: ModuleType) -> _GeneratedSource:
        """The source the module was made from: its loader's (for ``symgrad.load``'s modules,
        the text checked before it ran), else its file's."""
        text = ""
        with contextlib.suppress(ImportError, OSError, AttributeError, UnicodeDecodeError):
            loader: Any = module.__loader__
            text = loader.get_source(module.__name__) or ""
        path = getattr(module, "__file__", None)
        if not text and path:
            with contextlib.suppress(OSError, UnicodeDecodeError):
                text = Path(path).read_text(encoding="utf-8")
        if not text.startswith("# Generated by symgrad from: symgrad codegen"):
            raise ValueError(
                "dask_loss_and_gradients needs a generated NumPy or array-API module whose "
                "source is at hand, to send it to the workers; symgrad.load(sizes) gives one"
            )
        return cls(text)

    def module(self) -> ModuleType:
        found = _IMPORTED.get(self.key)
        if found is None:
            found = ModuleType(f"symgrad_net_{self.key[:16]}")
            exec(compile(self.text, f"<symgrad module {self.key[:16]}>", "exec"), vars(found))
            _IMPORTED[self.key] = found
        return found

    def __getstate__(self) -> str:
        return self.text

    def __setstate__(self, text: str) -> None:
        self.__init__(text)  # type: ignore[misc]


#: Modules imported in this process from their source, by the hash of the text.
_IMPORTED: dict[str, ModuleType] = {}

#: A chunk's sums: the loss times the chunk's weight, that weight (its rows, or the total of its
#: sample weights), the gradients times the weight (None for an empty chunk).
Sums = tuple[float, float, "dict[str, Any] | None"]


def _chunk_sums(
    source: _GeneratedSource, params: Params, X: Any, Y: Any, weights: Any = None
) -> Sums:
    rows = int(X.shape[0])
    if rows == 0:
        return 0.0, 0, None
    total: float = rows
    if weights is not None:
        import numpy as np

        total = float(np.sum(weights))
        if total == 0.0 and not np.any(np.asarray(weights) < 0):  # the rows are left out
            return 0.0, 0.0, None
    module = source.module()
    value, grads = module.loss_and_gradients(params, X, Y, sample_weight=weights)
    return float(value) * total, total, {key: grad * total for key, grad in grads.items()}


def _add_sums(*parts: Sums) -> Sums:
    total, rows, grads = 0.0, 0.0, None
    for value, count, part in parts:
        total, rows = total + value, rows + count
        if part is not None:
            grads = part if grads is None else {key: grads[key] + part[key] for key in part}
    return total, rows, grads


def _mean(sums: Sums) -> tuple[float, dict[str, Any]]:
    total, rows, grads = sums
    if rows == 0 or grads is None:
        raise ValueError(
            "X has no rows, or sample_weight sums to 0: the mean loss over no samples is not "
            "defined"
        )
    return total / rows, {key: grad / rows for key, grad in grads.items()}
