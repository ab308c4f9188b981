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
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

Params = Mapping[str, Any]


def _keys(module: ModuleType) -> list[str]:
    """``["W1", "b1", ..., "WL", "bL"]`` of a generated module."""
    depth = len(module.LAYER_SIZES) - 1
    return [f"{base}{k}" for k in range(1, depth + 1) for base in "Wb"]


def torch_loss(module: ModuleType) -> Callable[[Params, Any, Any], Any]:
    """``loss(params, X, Y)`` of ``module`` as a torch function whose backward pass is the
    generated gradient.

    The result is the 0-d loss tensor. When grad mode is on and a parameter requires grad, one
    call of ``module.loss_and_gradients`` gives the loss and the gradients, which the backward
    pass scales by the incoming gradient; otherwise (evaluation, ``torch.no_grad()``) it runs
    ``module.loss`` alone. It works under ``torch.func`` (``grad``, ``vjp``, ``vmap``,
    ``jacrev``: the function has ``setup_context`` and a generated vmap rule) and under
    ``torch.compile(fullgraph=True)``. ``X`` and ``Y`` must not require grad: the module has no
    gradient for them. Second derivatives (``grad`` of ``grad``, ``hessian``) raise: the
    generated gradient has no derivative of its own.
    """
    import torch

    keys = _keys(module)
    function = _generated_loss(module, keys)

    def loss(params: Params, X: Any, Y: Any) -> Any:
        weights = [params[key] for key in keys]
        for name, value in (("X", X), ("Y", Y)):
            if isinstance(value, torch.Tensor) and value.requires_grad:
                raise ValueError(
                    f"{name} requires grad, but the generated module computes gradients of the "
                    "parameters only; pass it detached"
                )
        wanted = any(isinstance(w, torch.Tensor) and w.requires_grad for w in weights)
        if torch.is_grad_enabled() and wanted:
            return function.apply(X, Y, *weights)[0]
        return module.loss(params, X, Y)

    loss.function = function  # type: ignore[attr-defined]
    return loss


def _generated_loss(module: ModuleType, keys: list[str]) -> Any:
    """The ``torch.autograd.Function`` of ``module``'s loss: ``forward(X, Y, *weights)`` returns
    the loss and the gradients, which ``setup_context`` saves for the backward pass (outputs, so
    that the ``torch.func`` transforms see every tensor the backward pass uses)."""
    import torch

    class GeneratedLoss(torch.autograd.Function):
        """The generated module's loss; its backward pass is the generated gradient."""

        generate_vmap_rule = True

        @staticmethod
        def forward(X: Any, Y: Any, *weights: Any) -> tuple[Any, ...]:
            value, grads = module.loss_and_gradients(dict(zip(keys, weights, strict=True)), X, Y)
            return (value, *(grads[key] for key in keys))

        @staticmethod
        def setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[Any, ...]) -> None:
            ctx.save_for_backward(*output[1:])
            ctx.set_materialize_grads(False)  # an unused output's gradient stays None

        @staticmethod
        def backward(ctx: Any, grad_value: Any, *grad_grads: Any) -> tuple[Any, ...]:
            # A gradient flowing into the gradients means a second derivative is being taken
            # (torch.func.grad of grad, hessian); the generated code has none: refuse it
            # rather than return zero. (A compiler traces every output's gradient; compiled
            # graphs refuse double backward themselves.)
            if not torch.compiler.is_compiling() and any(g is not None for g in grad_grads):
                raise RuntimeError(
                    "torch_loss gives first derivatives only: the generated module has no "
                    "second derivative (grad of grad, hessian)"
                )
            if grad_value is None:
                return (None,) * (2 + len(keys))
            return (None, None, *(grad_value * g for g in ctx.saved_tensors))

    return GeneratedLoss


def jax_loss(module: ModuleType) -> Callable[[Params, Any, Any], Any]:
    """``loss(params, X, Y)`` of ``module`` as a ``jax.custom_vjp`` function: ``jax.grad`` of it
    is the generated gradient.

    Differentiate with respect to ``params`` (the first argument, JAX's default); differentiating
    with respect to ``X`` or ``Y`` raises ``ValueError``. Reverse mode only (``jax.grad``,
    ``jax.vjp``), as for every ``custom_vjp`` function; it composes with ``jax.jit`` and
    ``jax.vmap``.
    """
    import jax
    from jax.custom_derivatives import CustomVJPPrimal, SymbolicZero

    @jax.custom_vjp
    def loss(params: Params, X: Any, Y: Any) -> Any:
        return module.loss(params, X, Y)

    def forward(params: Any, X: Any, Y: Any) -> tuple[Any, Any]:
        # With symbolic zeros, each argument says whether it is being differentiated.
        for name, argument in (("X", X), ("Y", Y)):
            if argument.perturbed:
                raise ValueError(
                    f"the gradient with respect to {name} was asked for, but the generated "
                    "module computes gradients of the parameters only"
                )
        values = jax.tree_util.tree_map(
            lambda leaf: leaf.value, params, is_leaf=lambda leaf: isinstance(leaf, CustomVJPPrimal)
        )
        value, grads = module.loss_and_gradients(values, X.value, Y.value)
        return value, grads

    def backward(grads: Any, cotangent: Any) -> tuple[Any, None, None]:
        if isinstance(cotangent, SymbolicZero):  # the loss was not used: no gradient
            return {key: jax.numpy.zeros_like(grad) for key, grad in grads.items()}, None, None
        return {key: cotangent * grad for key, grad in grads.items()}, None, None

    loss.defvjp(forward, backward, symbolic_zeros=True)
    return loss
