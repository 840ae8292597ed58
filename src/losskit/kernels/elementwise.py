"""Where an elementwise loss (input and target of one shape) hands a validated
call to a kernel: :mod:`elementwise_cpu` (numba) for CPU tensors,
:mod:`elementwise_triton` for CUDA tensors.

Each hook takes the :class:`~losskit._validate.Batch` the reference math
built and returns the loss, or ``None`` when no kernel can serve the call (the
caller then runs the reference math). Every decision is recorded for
:func:`losskit.kernels.record`. The common checks are
:func:`dispatch._start`'s (a CPU or CUDA torch tensor of float32/float64, no
weight or mask, nothing but the input needing a gradient, not inside
torch.compile or TorchScript, numba resp. triton importable). Inputs of any
shape are read as flat arrays (a non-contiguous input or target is copied
first). Nothing here imports torch, numba or triton until a torch tensor
arrives.
"""

from __future__ import annotations

from . import dispatch, note


# Sizes below which the reference math is faster than the CPU kernel (the
# kernel's fixed cost, a Python autograd Function and its glue, is not paid
# back). Measured on one thread with `benchmarks/small_sizes.py --crossover`
# (benchmarks/RESULTS.md); the other kernels pay at every size measured.
MIN_CPU_ELEMENTS = {"mse": {"float32": 1 << 17, "float64": 1 << 16}}


def _flat(t):
    """A tensor's values as a flat NumPy view (a contiguous copy where needed)."""
    return t.detach().contiguous().reshape(-1).numpy()


def _call(loss, b, reduction, others, reference, cpu_bind, gpu_bind):
    """Run a kernel on the batch. ``cpu_bind(kernels_module, np_dtype, scale) ->
    (run, period)`` is called once a CPU kernel can serve (torch and numba are
    loaded by then): ``run(start, stop, x, y, values, partial, grad)`` is the
    kernel with its loss-specific arguments bound (chunks ``start:stop``),
    ``period`` its block length. ``gpu_bind(triton_module, dtype, device) ->
    run(x, y, scale, loss, grad, want_grad)`` is the Triton wrapper with its
    loss-specific arguments bound."""
    # the target must not need a gradient either
    _torch = dispatch._start(loss, b, b.target, *others, devices=("cpu", "cuda"), cpu_module="elementwise_cpu",
                             gpu_module="elementwise_triton")
    if _torch is None:
        return None

    dtype = b.input.dtype
    n = b.input.numel()
    on_cpu = b.input.device.type == "cpu"
    crossover = MIN_CPU_ELEMENTS.get(loss, {}).get(str(dtype).removeprefix("torch.")) if on_cpu else None
    if crossover is not None and n < crossover:
        note(loss, f"reference: {n} elements, below the CPU kernel's crossover ({crossover})")
        return None
    scale = 1.0 / n if reduction == "mean" else 1.0
    run = (_cpu_runner if on_cpu else _gpu_runner)(loss, b.target, reduction, scale, (cpu_bind, gpu_bind))

    def compute(x, want_grad):
        values, total, grad = run(x, want_grad)
        if reduction == "none":
            return values, grad
        return (total / n if reduction == "mean" else total).to(dtype), grad  # total: a float64 0-d tensor

    note(loss, "cpu" if on_cpu else "triton")
    return b.out(_torch.grad_in_forward(b.input, compute, reference))  # float16/bfloat16 inputs: back to their dtype


def _cpu_runner(loss, target, reduction, scale, binds):
    """``run(x, want_grad) -> (values of x's shape or None, total or None,
    grad or None)`` on the numba kernel; the total is a float64 0-d tensor, the
    sum of fixed-chunk partial sums (the same for any thread count).
    ``binds``: (cpu_bind, gpu_bind), as :func:`_call` takes them."""
    import numpy as np
    import torch

    from . import _buffers
    from ._threads import run_ranges
    cpu = dispatch.load("elementwise_cpu")
    y = _flat(target)
    per_element = reduction == "none"
    kernel, period = binds[0](cpu, y.dtype, scale)
    chunk = cpu.chunk_size(period)
    empty = np.empty(0, dtype=y.dtype)

    def run(x, want_grad):
        shape, dtype = x.shape, x.dtype
        partial = np.empty(-(-x.numel() // chunk), dtype=np.float64)
        values = torch.empty(shape, dtype=dtype) if per_element else None
        grad = _buffers.empty(shape, dtype) if want_grad else None  # already mapped memory, when a free one is cached
        run_ranges(kernel, partial.size, _flat(x), y, empty if values is None else values.view(-1).numpy(), partial,
                   empty if grad is None else grad.view(-1).numpy(), work_per_item=chunk,
                   min_work=cpu.MIN_ELEMENTS_PER_THREAD[loss])
        total = None if per_element else torch.tensor(partial.sum(), dtype=torch.float64)  # in a fixed order
        return values, total, grad

    return run


def _gpu_runner(loss, target, reduction, scale, binds):
    """``run`` as :func:`_cpu_runner`'s, on the Triton kernel: per-element
    losses, or one partial sum per block of the kernel's ``BLOCK`` elements,
    added up in float64 on the device (no atomics, no synchronisation)."""
    import torch

    gpu = dispatch.load("elementwise_triton")
    y = target.detach().contiguous().reshape(-1)
    per_element = reduction == "none"
    kernel = binds[1](gpu, y.dtype, y.device)

    def run(x, want_grad):
        shape, dtype, device = x.shape, x.dtype, x.device
        xf = x.detach().contiguous().reshape(-1)
        n = xf.numel()
        values = torch.empty(n if per_element else gpu.partial_count(n), dtype=dtype, device=device)
        grad = torch.empty(n if want_grad else 0, dtype=dtype, device=device)
        kernel(xf, y, scale, values, grad, want_grad)
        if per_element:
            return values.reshape(shape), None, grad.reshape(shape) if want_grad else None
        return None, values.sum(dtype=torch.float64), grad.reshape(shape) if want_grad else None

    return run


def fused_binary_cross_entropy_with_logits(b, *, pos_weight, label_smoothing, reduction, reference):
    """``pos_weight``: None, a float, or the validated array (a scalar, or
    one weight per label along the input's last axis)."""
    pw_array = None if pos_weight is None or isinstance(pos_weight, float) else pos_weight

    def cpu_bind(cpu, dtype, scale):
        import numpy as np
        if pw_array is None:
            pw = np.full(1, 1.0 if pos_weight is None else pos_weight, dtype=dtype)
        else:
            pw = np.ascontiguousarray(pw_array.detach().numpy(), dtype=dtype).reshape(-1)
        tile = cpu.pos_weight_tile(pw)
        params = np.array([1.0 - label_smoothing, 0.5 * label_smoothing, scale], dtype=dtype)

        def run(start, stop, x, y, values, partial, grad):
            cpu.bce_with_logits_kernel(start, stop, x, y, tile, params, values, partial, grad)

        return run, tile.size

    def gpu_bind(gpu, dtype, device):
        # a 0-d weight or one per label along the last axis: element i takes pw[i % L]
        pw = pos_weight if pw_array is None else \
            pw_array.detach().to(dtype=dtype, device=device).reshape(-1).contiguous()

        def run(x, y, scale, loss, grad, want_grad):
            gpu.bce_with_logits_kernel(x, y, pw, label_smoothing, scale, loss, grad, want_grad)

        return run

    return _call("binary_cross_entropy_with_logits", b, reduction, (pw_array,), reference, cpu_bind, gpu_bind)


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


def _gpu(kernel_name, *params):
    """``gpu_bind`` for a Triton wrapper whose arguments are (x, target,
    *params, scale, loss, grad, want_grad)."""

    def bind(gpu, dtype, device):
        kernel = getattr(gpu, kernel_name)

        def run(x, y, scale, loss, grad, want_grad):
            kernel(x, y, *params, scale, loss, grad, want_grad)

        return run

    return bind


def fused_sigmoid_focal(b, *, alpha, gamma, reduction, reference):
    """``alpha``: a float in [0, 1], or None (no class balancing)."""
    use_alpha = alpha is not None
    kernel = "sigmoid_focal_square_kernel" if gamma == 2.0 else "sigmoid_focal_kernel"  # the default gamma: no log or exp
    cpu_bind = _simple(kernel, alpha if use_alpha else 0.0, gamma, float(use_alpha))
    return _call("sigmoid_focal", b, reduction, (), reference, cpu_bind, _gpu("sigmoid_focal_kernel", alpha, gamma))


def fused_huber(b, *, delta, reduction, reference):
    return _call("huber", b, reduction, (), reference, _simple("huber_kernel", delta), _gpu("huber_kernel", delta))


def fused_mse(b, *, reduction, reference):
    return _call("mse", b, reduction, (), reference, _simple("mse_kernel"), _gpu("mse_kernel"))
