"""The autograd side of the fused CPU/GPU kernels, and the checks every fast
path makes before it takes a call.

A fused kernel returns the loss and, when the input needs one, the gradient of
the *reduced* loss (``"mean"``/``"sum"``) or of each sample's loss
(``"none"``) with respect to the input, computed in the same pass. Backward
then only scales that gradient by the incoming one, in place: the saved
gradient is handed to autograd and dropped from the graph, so no second
logits-sized buffer is made. A graph kept with ``retain_graph=True`` and run
backward again has no gradient left; that second backward raises and says to
turn the fast path off.
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

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
    """``forward`` runs ``compute(input)`` -> (loss, grad or None)."""

    @staticmethod
    def forward(ctx, input, compute):
        value, grad = compute(input)
        ctx.grad = grad
        ctx.input_shape = input.shape
        return value

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output):
        grad = ctx.grad
        if grad is None:
            raise RuntimeError(
                "losskit fast kernel: this graph's gradient was already used by an earlier backward; "
                "to run backward twice (retain_graph=True), compute the loss inside "
                "`with losskit.kernels.disabled():`")
        ctx.grad = None
        if grad_output.ndim == 0:
            if bool(grad_output != 1):
                grad.mul_(grad_output.to(grad.dtype))
        else:  # reduction "none": one incoming value per sample
            shape = grad_output.shape + (1,) * (grad.ndim - grad_output.ndim)
            grad.mul_(grad_output.reshape(shape).to(grad.dtype))
        return grad.reshape(ctx.input_shape), None


def grad_in_forward(input, compute):
    """The loss from ``compute(input, needs_grad) -> (loss, grad or None)``,
    differentiable in ``input`` when it needs a gradient."""
    if not (input.requires_grad and torch.is_grad_enabled()):
        with torch.no_grad():
            return compute(input.detach(), False)[0]
    return _GradInForward.apply(input, lambda x: compute(x, True))
