"""Where an elementwise loss (input and target of one shape) hands a validated
call to a kernel of :mod:`elementwise_cpu`.

Each hook takes the :class:`~losskit._validate.Batch` the reference math
built and returns the loss, or ``None`` when no kernel can serve the call (the
caller then runs the reference math). Every decision is recorded for
:func:`losskit.kernels.record`. The common checks are
:func:`dispatch._start`'s (a CPU torch tensor of float32/float64, no weight or
mask, nothing but the input needing a gradient, not inside torch.compile).
Inputs of any shape are read as flat arrays (a non-contiguous input or target
is copied first). Nothing here imports torch or numba until a torch tensor
arrives.
"""

from __future__ import annotations

from . import dispatch, note


def _flat(t):
    """A tensor's values as a flat NumPy view (a contiguous copy where needed)."""
    return t.detach().contiguous().reshape(-1).numpy()


def _call(loss, b, reduction, others, reference, bind):
    """Run a kernel on the batch. ``bind(kernels_module, np_dtype, scale) ->
    (run, period)`` is called once a kernel can serve (torch and numba are
    loaded by then): ``run(start, stop, x, y, values, partial, grad)`` is the
    kernel with its loss-specific arguments bound (chunks ``start:stop``),
    ``period`` its block length."""
    # the target must not need a gradient either
    _torch = dispatch._start(loss, b, b.target, *others, cpu_module="elementwise_cpu")
    if _torch is None:
        return None
    cpu = dispatch.load("elementwise_cpu")
    import numpy as np
    import torch

    from . import _buffers
    from ._threads import run_ranges

    shape, dtype = b.input.shape, b.input.dtype
    n = b.input.numel()
    y = _flat(b.target)
    per_element = reduction == "none"
    run, period = bind(cpu, y.dtype, 1.0 / n if reduction == "mean" else 1.0)
    chunk = cpu.chunk_size(period)
    partial = np.empty(-(-n // chunk), dtype=np.float64)
    empty = np.empty(0, dtype=y.dtype)

    def compute(x, want_grad):
        values = torch.empty(shape, dtype=dtype) if per_element else None
        grad = _buffers.empty(shape, dtype) if want_grad else None  # already mapped memory, when a free one is cached
        run_ranges(run, partial.size, _flat(x), y, empty if values is None else values.view(-1).numpy(), partial,
                   empty if grad is None else grad.view(-1).numpy(), work_per_item=chunk,
                   min_work=cpu.MIN_ELEMENTS_PER_THREAD[loss])
        if per_element:
            return values, grad
        total = float(partial.sum())  # float64 partial sums, added in a fixed order
        return torch.tensor(total / n if reduction == "mean" else total, dtype=dtype), grad

    note(loss, "cpu")
    return b.out(_torch.grad_in_forward(b.input, compute, reference))  # float16/bfloat16 inputs: back to their dtype


def binary_cross_entropy_with_logits(b, *, pos_weight, label_smoothing, reduction, reference):
    """``pos_weight``: None, a float, or the validated array (a scalar, or
    one weight per label along the input's last axis)."""
    pw_array = None if pos_weight is None or isinstance(pos_weight, float) else pos_weight

    def bind(cpu, dtype, scale):
        import numpy as np
        if pw_array is None:
            pw = np.full(1, 1.0 if pos_weight is None else pos_weight, dtype=dtype)
        else:
            pw = np.ascontiguousarray(pw_array.detach().numpy(), dtype=dtype).reshape(-1)
        tile = cpu.pos_weight_tile(pw)
        params = np.array([1.0 - label_smoothing, 0.5 * label_smoothing, scale], dtype=dtype)

        def run(start, stop, x, y, values, partial, grad):
            cpu.bce_with_logits(start, stop, x, y, tile, params, values, partial, grad)

        return run, tile.size

    return _call("binary_cross_entropy_with_logits", b, reduction, (pw_array,), reference, bind)


def _simple(kernel_name, *params):
    """``bind`` for a kernel whose arguments are (start, stop, x, y, params,
    values, partial, grad), ``params`` the loss's parameters and the scale."""

    def bind(cpu, dtype, scale):
        import numpy as np
        kernel = getattr(cpu, kernel_name)
        array = np.array([*params, scale], dtype=dtype)

        def run(start, stop, x, y, values, partial, grad):
            kernel(start, stop, x, y, array, values, partial, grad)

        return run, cpu.BLOCK

    return bind


def sigmoid_focal(b, *, alpha, gamma, reduction, reference):
    """``alpha``: a float in [0, 1], or None (no class balancing)."""
    use_alpha = alpha is not None
    kernel = "sigmoid_focal_square" if gamma == 2.0 else "sigmoid_focal"  # the default gamma: no log or exp
    bind = _simple(kernel, alpha if use_alpha else 0.0, gamma, float(use_alpha))
    return _call("sigmoid_focal", b, reduction, (), reference, bind)


def huber(b, *, delta, reduction, reference):
    return _call("huber", b, reduction, (), reference, _simple("huber", delta))


def mse(b, *, reduction, reference):
    return _call("mse", b, reduction, (), reference, _simple("mse"))
