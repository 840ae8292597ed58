"""The autograd side of the fused CPU/GPU kernels, and the checks every fast
path makes before it takes a call.

A fused kernel returns the loss and, when the input needs one, the gradient of
the *reduced* loss (``"mean"``/``"sum"``) or of each sample's loss
(``"none"``) with respect to the input, computed in the same pass. Backward
then only scales that gradient by the incoming one, in place: the saved
gradient is handed to autograd and dropped from the graph, so no second
logits-sized buffer is made. A second backward of the same graph, or a
differentiable one, runs on the reference math (see ``_GradInForward``).
"""

from __future__ import annotations

import torch

try:  # functorch transforms (vmap, grad) hand wrapped tensors the kernels cannot read
    from torch._C._functorch import is_functorch_wrapped_tensor
except ImportError:  # pragma: no cover - older torch
    def is_functorch_wrapped_tensor(x):
        return False


def why_not(input, *others, dtypes=(torch.float32, torch.float64)) -> str | None:
    """Why no kernel can take this call (``None`` when one can). ``others`` are
    the remaining tensors of the call (targets, weights): they must not need a
    gradient, since the kernels differentiate the input only."""
    if torch.compiler.is_compiling():
        return "inside torch.compile (the compiler fuses the reference math)"
    if torch.jit.is_scripting() or torch.jit.is_tracing():
        return "inside TorchScript"
    if type(input) is not torch.Tensor or is_functorch_wrapped_tensor(input):
        return "input is a tensor subclass or a functorch-transformed tensor"
    if input.dtype not in dtypes:
        return f"dtype {input.dtype} (kernels: {', '.join(str(d) for d in dtypes)})"
    if input.numel() == 0:
        return "empty input"
    for t in others:
        if t is not None and isinstance(t, torch.Tensor):
            if t.requires_grad:
                return "a tensor other than the input needs a gradient"
            if t.device != input.device:
                return "tensors on different devices"
    return None


class _GradInForward(torch.autograd.Function):
    """``forward`` runs ``compute(input)`` -> (loss, grad). Backward scales the
    saved gradient in place and hands it over. Where that cannot serve, a
    graph run backward a second time (``retain_graph=True``) or
    differentiated twice (``create_graph=True``: Hessians, gradient
    penalties), backward differentiates ``reference`` (the same loss on the
    reference math) at the saved input instead, so every derivative is the
    reference's."""

    @staticmethod
    def forward(ctx, input, compute, reference):
        value, grad = compute(input)
        ctx.grad = grad
        ctx.reference = reference
        ctx.save_for_backward(input)  # a reference to the input, no copy
        return value

    @staticmethod
    def backward(ctx, grad_output):
        grad = ctx.grad
        if grad is None or torch.is_grad_enabled():
            return _reference_backward(ctx, grad_output), None, None
        ctx.grad = None
        if grad_output.ndim == 0:  # scaled unconditionally: testing for 1 would read it back to the host
            grad.mul_(grad_output.to(grad.dtype))
        else:  # reduction "none": one incoming value per sample
            shape = grad_output.shape + (1,) * (grad.ndim - grad_output.ndim)
            grad.mul_(grad_output.reshape(shape).to(grad.dtype))
        return grad.reshape(ctx.saved_tensors[0].shape), None, None


def _reference_backward(ctx, grad_output):
    from . import disabled

    if ctx.reference is None:
        raise RuntimeError(
            "losskit fast kernel: no reference math to differentiate again; compute the loss inside "
            "`with losskit.kernels.disabled():` to run backward twice or to differentiate its gradient")
    (input,) = ctx.saved_tensors
    create_graph = torch.is_grad_enabled()
    with torch.enable_grad(), disabled():
        x = input if create_graph else input.detach().requires_grad_()
        value = ctx.reference(x)
        (grad,) = torch.autograd.grad(value, x, grad_output, create_graph=create_graph)
    return grad


def grad_in_forward(input, compute, reference=None):
    """The loss from ``compute(input, needs_grad) -> (loss, grad or None)``,
    differentiable in ``input`` when it needs a gradient. ``reference(input)``
    computes the same loss on the reference math; backward falls back to it
    for a second backward or a differentiable one (``create_graph=True``)."""
    if not (input.requires_grad and torch.is_grad_enabled()):
        with torch.no_grad():
            return compute(input.detach(), False)[0]
    return _GradInForward.apply(input, lambda x: compute(x, True), reference)
