"""Where a functional loss hands a validated call to a kernel.

Each function here takes the :class:`~losskit._validate.Batch` the reference
math built and returns the loss, or ``None`` when no kernel can serve the call
(the caller then runs the reference math). Every decision is recorded for
:func:`losskit.kernels.record`. Nothing here imports torch or numba until a
torch tensor arrives.
"""

from __future__ import annotations

from . import enabled, note
from .._array import array_namespace, is_torch
from .._reduce import denominator as mean_denominator

_loaded: dict = {}  # kernel module name -> the module, or the reason it cannot load


def load(module: str):
    """A kernel module of this package (``"softmax_cpu"``, ``"elementwise_cpu"``,
    ``"softmax_triton"``, ``"elementwise_triton"``), imported once; or a string
    saying why it cannot serve."""
    if module not in _loaded:
        import importlib
        try:
            loaded = importlib.import_module(f"{__package__}.{module}")
            _loaded[module] = getattr(loaded, "UNAVAILABLE", None) or loaded  # the Triton modules import without triton
        except ImportError as exc:  # numba missing or broken
            _loaded[module] = f"numba unavailable ({exc}); install losskit[fast]"
    return _loaded[module]


def _start(loss: str, b, *others, devices=("cpu",), cpu_module="softmax_cpu", gpu_module="softmax_triton"):
    """The common checks. Returns the torch helpers module, or None (recorded).
    ``devices``: the device types the caller has kernels for ("cpu": numba
    ``cpu_module``, "cuda": Triton ``gpu_module``)."""
    if not enabled():
        return None  # switched off: not even recorded, the user asked for it
    x = b.input
    if not is_torch(x):
        return None  # NumPy and JAX take the reference math (JAX's XLA already fuses it)
    from . import _torch
    reason = _torch.why_not(x, *others)
    if reason is None and (b.weight is not None or b.mask is not None):
        reason = "per-sample weight or mask given"
    if reason is None and x.device.type not in devices:
        reason = f"no kernel for device {x.device.type}"
    if reason is None:
        loaded = load(cpu_module if x.device.type == "cpu" else gpu_module)
        reason = loaded if isinstance(loaded, str) else None
    if reason is not None:
        note(loss, "reference: " + reason)
        return None
    return _torch


def _rows(b):
    """(logits as (N, C), labels, valid flags, unbatched?) for a class-axis batch;
    None unless the class axis is the last one."""
    x = b.input
    if x.ndim == 1:
        return x.reshape(1, -1), b.labels.reshape(1), None if b.valid is None else b.valid.reshape(1), True
    if x.ndim == 2:
        return x, b.labels, b.valid, False
    return None


def _softmax_call(loss, b, reduction, others, kernel_name, denominator_of, extra_args, reference):
    """Run a row kernel (:mod:`softmax_cpu` or :mod:`softmax_triton`) on a
    class-index batch. ``extra_args`` are the kernel's loss-specific arguments
    (None for an absent per-class vector); ``reference(input)`` is the loss on
    the reference math (for a second or differentiable backward)."""
    _torch = _start(loss, b, *others, devices=("cpu", "cuda"))
    if _torch is None:
        return None
    rows = _rows(b)
    if rows is None:
        note(loss, "reference: more than one sample axis (N, C, d1, ...)")
        return None
    import torch

    from . import _buffers
    x2, labels, valid, unbatched = rows
    n, c = x2.shape
    labels = labels.to(torch.int64).contiguous()
    denominator = denominator_of(labels, valid) if reduction == "mean" else 1.0
    scale = 0.0 if denominator == 0 else 1.0 / denominator
    on_cpu = x2.device.type == "cpu"
    run = _cpu_runner(kernel_name, x2, labels, valid, extra_args, scale) if on_cpu else \
        _gpu_runner(kernel_name, labels, valid, extra_args, scale)

    def compute(x, want_grad):
        xc = x.detach().reshape(n, c).contiguous()
        loss_rows = torch.empty(n, dtype=x.dtype, device=x.device)
        if not want_grad:
            grad = torch.empty((0, 0), dtype=x.dtype, device=x.device)
        elif on_cpu:
            grad = _buffers.empty((n, c), x.dtype)  # already mapped memory, when a free one is cached
        else:
            grad = torch.empty((n, c), dtype=x.dtype, device=x.device)
        run(xc, loss_rows, grad, want_grad)
        if reduction == "none":
            value = loss_rows[0] if unbatched else loss_rows
        else:
            value = loss_rows.sum()
            if reduction == "mean":
                value = value / denominator if denominator > 0 else value * 0
        return value, (grad if want_grad else None)

    note(loss, "cpu" if on_cpu else "triton")
    return b.out(_torch.grad_in_forward(b.input, compute, reference))  # float16/bfloat16 inputs: back to their dtype


def _cpu_runner(kernel_name, x2, labels, valid, extra_args, scale):
    import numpy as np

    from ._threads import run_ranges
    dtype = np.dtype(str(x2.dtype).removeprefix("torch."))
    labels_np = labels.numpy()
    valid_np = np.ones(x2.shape[0], dtype=np.bool_) if valid is None else valid.contiguous().numpy()
    args = tuple(np.zeros(0, dtype=dtype) if a is None else
                 a.detach().contiguous().numpy() if hasattr(a, "numpy") else dtype.type(a) for a in extra_args)
    kernel = getattr(load("softmax_cpu"), kernel_name)

    def run(x, loss_rows, grad, want_grad):
        xn = x.numpy()
        run_ranges(kernel, xn.shape[0], xn, labels_np, valid_np, *args, dtype.type(scale), loss_rows.numpy(),
                   grad.numpy(), want_grad, work_per_item=xn.shape[1])

    return run


def _gpu_runner(kernel_name, labels, valid, extra_args, scale):
    kernel = getattr(load("softmax_triton"), kernel_name)
    args = tuple(a.detach() if hasattr(a, "detach") else a for a in extra_args)

    def run(x, loss_rows, grad, want_grad):
        kernel(x, labels, valid, *args, scale, loss_rows, grad, want_grad)

    return run


def _count(labels, valid):
    """The ``"mean"`` denominator of an unweighted batch (``_reduce.denominator``)."""
    return float(mean_denominator(array_namespace(labels), labels, keep=valid))


def fused_cross_entropy(b, *, class_weight, label_smoothing, reduction, reference):
    """Class-index cross-entropy (``b.target is None``); ``class_weight`` is
    the validated per-class tensor or None."""

    def denominator(labels, valid):
        if class_weight is None:
            return _count(labels, valid)
        return float(mean_denominator(array_namespace(labels), labels, weight=class_weight[labels], keep=valid))

    return _softmax_call("cross_entropy", b, reduction, (class_weight,), "cross_entropy_rows_kernel", denominator,
                         (class_weight, label_smoothing), reference)


def fused_softmax_focal(b, *, alpha_vector, alpha_scalar, gamma, reduction, reference):
    """Softmax focal loss; ``alpha_vector`` the validated per-class tensor or
    None, ``alpha_scalar`` a number or None."""

    return _softmax_call("softmax_focal", b, reduction, (alpha_vector,), "softmax_focal_rows_kernel", _count,
                         (alpha_vector, 1.0 if alpha_scalar is None else alpha_scalar, gamma), reference)
