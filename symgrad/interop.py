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

from symgrad import notation as nt

Params = Mapping[str, Any]


def _keys(module: ModuleType) -> list[str]:
    """``["W1", "b1", ..., "WL", "bL"]`` of a generated module."""
    return nt.parameter_keys(len(module.LAYER_SIZES) - 1)


def torch_loss(module: ModuleType) -> Callable[[Params, Any, Any], Any]:
    """``loss(params, X, Y)`` of ``module`` as a torch function whose backward pass is the
    generated gradient.

    The result is the 0-d loss tensor. When grad mode is on and a parameter requires grad, the
    forward pass runs ``module.loss_and_gradients`` once and keeps the gradients; ``backward``
    scales them by the incoming gradient. Otherwise (evaluation, ``torch.no_grad()``) it runs
    ``module.loss`` alone. ``X`` and ``Y`` must not require grad: the module has no gradient for
    them. Second derivatives are not available (``once_differentiable``).
    """
    import torch
    from torch.autograd.function import once_differentiable

    keys = _keys(module)

    class GeneratedLoss(torch.autograd.Function):
        """The generated module's loss; its backward pass is the generated gradient."""

        @staticmethod
        def forward(ctx: Any, X: Any, Y: Any, *weights: Any) -> Any:
            value, grads = module.loss_and_gradients(dict(zip(keys, weights, strict=True)), X, Y)
            ctx.grads = [grads[key] for key in keys]
            return value

        @staticmethod
        @once_differentiable
        def backward(ctx: Any, grad_output: Any) -> tuple[Any, ...]:
            return (None, None, *(grad_output * g for g in ctx.grads))

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
            return GeneratedLoss.apply(X, Y, *weights)
        return module.loss(params, X, Y)

    loss.function = GeneratedLoss  # type: ignore[attr-defined]
    return loss


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
