"""Cross-entropy of a linear layer's output, computed in chunks of rows so that
the N x V logits never exist at once.

A language model's head turns N hidden states (N, H) into N x V logits with a
(V, H) weight; at N = 8192 and V = 65536 that is 2 GiB in float32, and the
plain ``F.linear`` + ``F.cross_entropy`` keeps the logits, their log-softmax
and their gradient alive together. Here forward walks over blocks of
``chunk_size`` rows. Per block it forms the block's logits
``Z = H_c W^T (+ b)``, computes their losses and the gradient ``G`` of the
reduced loss with respect to them in one pass (the numba kernel
:func:`losskit.kernels.softmax_cpu.cross_entropy_rows` on CPU, in-place torch
ops elsewhere), and turns ``G`` into the parameter gradients at once:
``dH_c = G W``, ``dW += G^T H_c``, ``db += sum(G)``. Only the gradients of
``hidden``, ``weight`` and ``bias`` are kept; backward scales them by the
incoming gradient. The extra memory is those gradients (which any backward
makes) plus two blocks of logits.

With ``reduction="none"`` the incoming gradient differs per row and the
weight gradient cannot be scaled afterwards, so forward keeps nothing and
backward computes the blocks again (one more matmul). A second backward of a
``"mean"``/``"sum"`` graph (``retain_graph=True``) and a differentiable one
(``create_graph=True``) run on the plain path at the saved inputs.
"""

from __future__ import annotations

import numbers

import torch

from .. import domains as D
from .._validate import check_int, check_param, check_reduction
from . import enabled, note

try:  # functorch transforms (vmap, grad) hand wrapped tensors the loop cannot read
    from torch._C._functorch import is_functorch_wrapped_tensor
except ImportError:  # pragma: no cover - older torch
    def is_functorch_wrapped_tensor(x):
        return False

__all__ = ["LinearCrossEntropyLoss", "default_chunk_size", "linear_cross_entropy"]

_LOSS = "linear_cross_entropy"

# Default rows per block. The cost of a block beyond its arithmetic is
# per matmul call (MKL packs the (V, H) weight once per call, and
# ``dW += G^T H_c`` reads and writes all of dW once per block), so it falls
# as 1/rows whatever V is. Measured with benchmarks/linear_cross_entropy_bench.py
# (2-core AMD EPYC, float32, N=2048 H=1024 V=65536, CPU time against the plain
# path): 128 rows 1.18x, 256 rows 1.08x, 512 rows 0.99x, 1024 rows 1.02x,
# 2048 rows 1.00x; the extra memory is two blocks (rows x V) beside the
# gradients (288 MiB here): 530 MiB at 512 rows against 1546 MiB for the
# plain path at N=2048 (and about 6 GiB at N=8192). 512 rows is where the
# time stops falling. A block is kept to 2^27 elements (512 MiB in float32)
# for very large vocabularies (V > 262144), at the price of some speed.
_DEFAULT_ROWS = 512
_MAX_BLOCK_ELEMENTS = 1 << 27


def default_chunk_size(num_rows: int, num_classes: int) -> int:
    """Rows per block when ``chunk_size`` is None: 512, fewer where a block
    would pass 2^27 logits elements, never more than ``num_rows``."""
    rows = min(_DEFAULT_ROWS, max(1, _MAX_BLOCK_ELEMENTS // max(num_classes, 1)))
    return max(1, min(rows, num_rows))


def linear_cross_entropy(hidden, weight, target, *, bias=None, class_weight=None, ignore_index=-100,
                         label_smoothing=0.0, reduction="mean", chunk_size=None):
    r"""Cross-entropy of the logits ``hidden @ weight.T + bias`` without
    forming them all at once.

    Equal to ``losskit.cross_entropy(hidden @ weight.T + bias, target,
    class_weight=..., ignore_index=..., label_smoothing=..., reduction=...)``
    (itself equal to ``torch.nn.functional.cross_entropy``) for 2-D
    ``hidden``, values and gradients for ``hidden``, ``weight`` and ``bias``
    (each where it requires a gradient). Leading axes of ``hidden`` are
    flattened into rows: ``hidden`` (..., H) with ``target`` (...) is the
    cross-entropy of the rows, and ``reduction="none"`` returns shape (...).
    As in ``cross_entropy``, ``"mean"`` divides by the summed class weights
    of the rows that count, and a batch where nothing counts gives 0 with a
    zero gradient.

    Memory: the gradients of the inputs plus two blocks of
    ``chunk_size`` x V logits, instead of several N x V buffers.
    float32 and float64 take the chunked path (the numba kernel on CPU,
    torch ops on other devices). float16/bfloat16 take the plain path:
    ``F.linear`` in the input dtype, the loss computed in float32 and
    returned in the input dtype. So do calls inside ``torch.compile`` or a
    functorch transform, a ``class_weight`` that requires a gradient, and any
    call inside ``losskit.kernels.disabled()``; ``losskit.kernels.record()``
    says which path a call took. Under ``torch.autocast`` the chunked path
    computes in the inputs' own dtype.

    Args:
        hidden: (N, H), (..., H) or (H,) floating tensor.
        weight: (V, H) tensor of ``hidden``'s dtype and device.
        target: integer class indices of shape ``hidden.shape[:-1]``.
        bias: optional (V,) tensor of ``hidden``'s dtype.
        class_weight: optional length-V non-negative weights.
        ignore_index: label whose rows are left out (None: none).
        label_smoothing: :math:`\varepsilon \in [0, 1]`.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
        chunk_size: rows per block, a positive integer; None picks 512
            (fewer for V > 262144; :func:`default_chunk_size`).

    >>> import torch
    >>> from losskit.torch import linear_cross_entropy
    >>> h, w = torch.randn(10, 4, requires_grad=True), torch.randn(7, 4, requires_grad=True)
    >>> y = torch.randint(0, 7, (10,))
    >>> loss = linear_cross_entropy(h, w, y, chunk_size=3)
    >>> bool(torch.isclose(loss, torch.nn.functional.cross_entropy(h @ w.T, y)))
    True
    >>> loss.backward(); h.grad.shape, w.grad.shape
    (torch.Size([10, 4]), torch.Size([7, 4]))
    """
    call = _validate(hidden, weight, target, bias, class_weight, ignore_index, label_smoothing, reduction,
                     chunk_size)
    if not enabled():  # switched off: not recorded, as for the other fast paths
        return _plain(call, call.hidden, weight, bias)
    reason = _why_plain(call)
    if reason is not None:
        note(_LOSS, "reference: " + reason)
        return _plain(call, call.hidden, weight, bias)
    kernels = _cpu_kernels() if call.hidden.device.type == "cpu" else None
    call.kernels = None if isinstance(kernels, str) else kernels
    note(_LOSS, "cpu" if call.kernels is not None else "torch")
    with torch.autocast(call.hidden.device.type, enabled=False):
        wants = torch.is_grad_enabled() and any(
            t is not None and t.requires_grad for t in (call.hidden, weight, bias))
        if not wants:
            with torch.no_grad():
                loss_rows = _loop(call, call.hidden, weight, bias, None)[0]
            return _reduced(call, loss_rows)
        return _LinearCrossEntropy.apply(call.hidden, weight, bias, call)


class LinearCrossEntropyLoss(torch.nn.Module):
    """The module form of :func:`linear_cross_entropy`: it holds the options
    (``class_weight`` as a buffer, so it follows ``.to(device)``), not the
    linear layer; ``forward(hidden, weight, target, bias=None)``."""

    def __init__(self, *, class_weight=None, ignore_index=-100, label_smoothing=0.0, reduction="mean",
                 chunk_size=None):
        super().__init__()
        where = type(self).__name__
        self.reduction = check_reduction(where, reduction)
        self.ignore_index = None if ignore_index is None else check_int(where, "ignore_index", ignore_index)
        self.label_smoothing = check_param(where, "label_smoothing", label_smoothing, D.UNIT)
        self.chunk_size = _check_chunk_size(where, chunk_size)
        if class_weight is not None and not isinstance(class_weight, torch.Tensor):
            class_weight = torch.as_tensor(class_weight, dtype=torch.get_default_dtype())
        self.register_buffer("class_weight", None if class_weight is None else class_weight.detach().clone())

    def forward(self, hidden, weight, target, bias=None):
        return linear_cross_entropy(hidden, weight, target, bias=bias, class_weight=self.class_weight,
                                    ignore_index=self.ignore_index, label_smoothing=self.label_smoothing,
                                    reduction=self.reduction, chunk_size=self.chunk_size)

    def extra_repr(self) -> str:
        cw = self.class_weight
        cw = None if cw is None else (cw.tolist() if cw.numel() <= 8 else f"tensor of shape {tuple(cw.shape)}")
        return (f"class_weight={cw!r}, ignore_index={self.ignore_index!r}, "
                f"label_smoothing={self.label_smoothing!r}, reduction={self.reduction!r}, "
                f"chunk_size={self.chunk_size!r}")


# -- validation ----------------------------------------------------------------


class _Call:
    """A validated call: ``hidden`` as (N, H) rows, labels with ignored rows
    set to 0, ``valid`` (None when every row counts), the mean's
    denominator."""

    __slots__ = (
        "chunk_size",
        "class_weight",
        "denominator",
        "hidden",
        "ignore_index",
        "kernels",
        "label_smoothing",
        "labels",
        "np_cache",
        "out_shape",
        "reduction",
        "target",
        "valid",
    )


def _check_chunk_size(where, chunk_size):
    if chunk_size is None:
        return None
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, numbers.Integral):
        raise TypeError(f"{where}: chunk_size must be a positive integer or None; "
                        f"received {type(chunk_size).__name__} {chunk_size!r}")
    if chunk_size < 1:
        raise ValueError(f"{where}: chunk_size must be a positive integer or None; received chunk_size={chunk_size!r}")
    return int(chunk_size)


def _check_tensor(name, x):
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{_LOSS}: {name} must be a torch.Tensor; received {type(x).__name__}")


def _validate(hidden, weight, target, bias, class_weight, ignore_index, label_smoothing, reduction, chunk_size):
    check_reduction(_LOSS, reduction)
    eps = check_param(_LOSS, "label_smoothing", label_smoothing, D.UNIT)
    if ignore_index is not None:
        ignore_index = check_int(_LOSS, "ignore_index", ignore_index)
    chunk_size = _check_chunk_size(_LOSS, chunk_size)
    for name, x in (("hidden", hidden), ("weight", weight), ("target", target)):
        _check_tensor(name, x)
    if not hidden.is_floating_point():
        raise TypeError(f"{_LOSS}: hidden must have a floating dtype; received dtype {hidden.dtype}")
    if hidden.ndim < 1:
        raise ValueError(f"{_LOSS}: hidden must have a feature axis, shape (N, H), (..., H) or (H,); "
                         f"received shape ()")
    H = hidden.shape[-1]
    if weight.ndim != 2 or weight.shape[1] != H:
        raise ValueError(f"{_LOSS}: weight must have shape (V, {H}) (one row of H={H} features per class, "
                         f"as hidden's last axis); received shape {tuple(weight.shape)}")
    V = weight.shape[0]
    if weight.dtype != hidden.dtype:
        raise TypeError(f"{_LOSS}: weight must have hidden's dtype {hidden.dtype}; received dtype {weight.dtype}")
    if bias is not None:
        _check_tensor("bias", bias)
        if tuple(bias.shape) != (V,):
            raise ValueError(f"{_LOSS}: bias must have shape ({V},) (one value per class, V = weight.shape[0]); "
                             f"received shape {tuple(bias.shape)}")
        if bias.dtype != hidden.dtype:
            raise TypeError(f"{_LOSS}: bias must have hidden's dtype {hidden.dtype}; received dtype {bias.dtype}")
    sample_shape = tuple(hidden.shape[:-1])
    if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
        raise TypeError(f"{_LOSS}: target must hold integer class indices of shape {sample_shape}; "
                        f"received dtype {target.dtype}")
    if tuple(target.shape) != sample_shape:
        raise ValueError(f"{_LOSS}: target must have shape {sample_shape} (hidden's shape without its last "
                         f"axis); received shape {tuple(target.shape)}")
    for name, x in (("weight", weight), ("target", target), ("bias", bias), ("class_weight", class_weight)):
        if isinstance(x, torch.Tensor) and x.device != hidden.device:
            raise ValueError(f"{_LOSS}: {name} must be on hidden's device {hidden.device}; "
                             f"received device {x.device}")
    compute = hidden.dtype if hidden.dtype in (torch.float32, torch.float64) else torch.float32
    if class_weight is not None:
        _check_tensor("class_weight", class_weight)
        if tuple(class_weight.shape) != (V,):
            raise ValueError(f"{_LOSS}: class_weight must have shape ({V},) (one weight per class); "
                             f"received shape {tuple(class_weight.shape)}")
        if class_weight.is_complex():
            raise TypeError(f"{_LOSS}: class_weight must have a real dtype; received dtype {class_weight.dtype}")
        if class_weight.is_floating_point() and bool(torch.isnan(class_weight).any()):
            raise ValueError(f"{_LOSS}: class_weight must not contain NaN; received class_weight with NaN")
        if bool((class_weight < 0).any()):
            bad = float(class_weight[class_weight < 0][0])
            raise ValueError(f"{_LOSS}: class_weight must be >= 0; received {bad!r}")
        if class_weight.dtype != compute and not class_weight.requires_grad:
            class_weight = class_weight.to(compute)
    y = target.reshape(-1)
    valid = None if ignore_index is None else y != ignore_index
    if y.numel():
        bad = (y < 0) | (y >= V)
        if valid is not None:
            bad &= valid
        if bool(bad.any()):
            ign = f" or ignore_index={ignore_index}" if ignore_index is not None else ""
            raise ValueError(f"{_LOSS}: target must hold class indices in [0, {V}){ign}; "
                             f"received {int(y[bad][0])}")
    call = _Call()
    call.hidden = hidden.reshape(-1, H)
    call.out_shape = sample_shape
    call.target = target
    call.labels = y.to(torch.int64) if valid is None else torch.where(valid, y, 0).to(torch.int64)
    call.valid = None if valid is None or bool(valid.all()) else valid
    call.class_weight = class_weight
    call.ignore_index = ignore_index
    call.label_smoothing = eps
    call.reduction = reduction
    call.chunk_size = chunk_size
    call.kernels = None
    call.np_cache = None
    if reduction == "mean":
        if class_weight is None:
            call.denominator = float(y.numel() if call.valid is None else call.valid.sum())
        else:
            w_y = class_weight.detach()[call.labels]
            call.denominator = float(w_y.sum() if call.valid is None else w_y[call.valid].sum())
    else:
        call.denominator = 1.0
    return call


def _why_plain(call) -> str | None:
    """Why the chunked loop cannot take this call (None when it can)."""
    x = call.hidden
    if torch.compiler.is_compiling():
        return "inside torch.compile (the compiler sees the plain math)"
    if torch.jit.is_scripting() or torch.jit.is_tracing():
        return "inside TorchScript"
    if type(x) is not torch.Tensor or is_functorch_wrapped_tensor(x):
        return "hidden is a tensor subclass or a functorch-transformed tensor"
    if x.dtype not in (torch.float32, torch.float64):
        return f"dtype {x.dtype}: plain linear, loss computed in float32"
    if x.shape[0] == 0:
        return "no rows"
    if call.class_weight is not None and call.class_weight.requires_grad:
        return "class_weight needs a gradient"
    return None


_cpu = None


def _cpu_kernels():
    """The numba kernels module, or a string saying why it cannot load."""
    global _cpu
    if _cpu is None:
        try:
            from . import softmax_cpu
            _cpu = softmax_cpu
        except ImportError as exc:  # numba missing or broken: torch ops serve
            _cpu = f"numba unavailable ({exc})"
    return _cpu


# -- the plain path ------------------------------------------------------------


def _plain(call, hidden, weight, bias):
    """``losskit.cross_entropy`` of the full logits (the reference math)."""
    from ..functional.classification import cross_entropy

    logits = torch.nn.functional.linear(hidden, weight, bias)
    value = cross_entropy(logits, call.target.reshape(-1), class_weight=call.class_weight,
                          ignore_index=call.ignore_index, label_smoothing=call.label_smoothing,
                          reduction=call.reduction)
    return value.reshape(call.out_shape) if call.reduction == "none" else value


# -- the chunked loop ----------------------------------------------------------


def _reduced(call, loss_rows):
    if call.reduction == "none":
        return loss_rows.reshape(call.out_shape)
    total = loss_rows.sum()
    if call.reduction == "sum":
        return total
    return total / call.denominator if call.denominator > 0 else total * 0


def _loop(call, hidden, weight, bias, wanted, row_scale=None):
    """Walk the row blocks. ``wanted`` is None (losses only) or three flags
    (gradients of hidden, weight, bias to make). The gradients are of the
    reduced loss, or, with ``row_scale``, of ``sum(row_scale * loss_rows)``.
    Returns ``(loss_rows, grad_hidden, grad_weight, grad_bias)``."""
    N, H = hidden.shape
    V = weight.shape[0]
    dtype, device = hidden.dtype, hidden.device
    rows = call.chunk_size or default_chunk_size(N, V)
    rows = min(rows, N)
    loss_rows = torch.empty(N, dtype=dtype, device=device)
    want_grad = wanted is not None and any(wanted)
    want_h, want_w, want_b = wanted if want_grad else (False, False, False)
    grad_h = torch.empty(N, H, dtype=dtype, device=device) if want_h else None
    grad_w = torch.empty(V, H, dtype=dtype, device=device) if want_w else None
    grad_b = torch.zeros(V, dtype=dtype, device=device) if want_b else None
    block = torch.empty(rows, V, dtype=dtype, device=device)
    # The kernel can write the gradient over its own logits (it reads a row
    # fully before writing it; tested), but then LLVM's runtime alias check
    # fails and the row loops run unvectorised, 2-4x slower: a second block
    # costs less than that.
    grad_block = torch.empty(rows, V, dtype=dtype, device=device) if want_grad else None
    scale = 0.0 if call.denominator == 0 else 1.0 / call.denominator
    if row_scale is not None:
        scale = 1.0
    weight_t = weight.t()
    for start in range(0, N, rows):
        stop = min(start + rows, N)
        n = stop - start
        h_c = hidden[start:stop]
        z = block[:n]
        if bias is None:
            torch.mm(h_c, weight_t, out=z)
        else:
            torch.addmm(bias, h_c, weight_t, out=z)
        g = grad_block[:n] if want_grad else None
        _block_loss(call, z, start, stop, scale, loss_rows[start:stop], g)
        if not want_grad:
            continue
        if row_scale is not None:
            g.mul_(row_scale[start:stop, None])
        if want_h:
            torch.mm(g, weight, out=grad_h[start:stop])
        if want_w:
            grad_w.addmm_(g.t(), h_c, beta=0 if start == 0 else 1)
        if want_b:
            grad_b.add_(g.sum(0))
    return loss_rows, grad_h, grad_w, grad_b


def _numpy_args(call, dtype):
    """The kernel's whole-batch arguments as NumPy arrays, made once per call."""
    if call.np_cache is None:
        import numpy as np
        np_dtype = np.dtype(str(dtype).removeprefix("torch."))
        labels = call.labels.contiguous().numpy()
        valid = np.ones(labels.shape[0], dtype=np.bool_) if call.valid is None else call.valid.contiguous().numpy()
        cw = np.zeros(0, dtype=np_dtype) if call.class_weight is None else \
            call.class_weight.detach().contiguous().numpy()
        call.np_cache = (np_dtype, labels, valid, cw)
    return call.np_cache


def _block_loss(call, z, start, stop, scale, loss_out, grad_out):
    """Losses of the block's rows into ``loss_out``; where ``grad_out`` is
    given, the gradient ``scale * (S p - a)`` of those losses with respect to
    the logits ``z`` (zero rows where ignored)."""
    if call.kernels is not None:
        np_dtype, labels, valid, cw = _numpy_args(call, z.dtype)
        grad = grad_out.numpy() if grad_out is not None else _EMPTY.setdefault(np_dtype, _empty(np_dtype))
        from ._threads import run_ranges
        run_ranges(call.kernels.cross_entropy_rows, z.shape[0], z.numpy(), labels[start:stop], valid[start:stop],
                   cw, np_dtype.type(call.label_smoothing), np_dtype.type(scale), loss_out.numpy(), grad,
                   grad_out is not None, work_per_item=z.shape[1])
        return
    _block_loss_torch(call, z, start, stop, scale, loss_out, grad_out)


_EMPTY: dict = {}


def _empty(np_dtype):
    import numpy as np
    return np.zeros((0, 0), dtype=np_dtype)


def _block_loss_torch(call, z, start, stop, scale, loss_out, grad_out):
    """The kernel's math in torch ops (devices without a kernel, or no numba)."""
    y = call.labels[start:stop]
    valid = None if call.valid is None else call.valid[start:stop]
    cw = call.class_weight
    eps = call.label_smoothing
    C = z.shape[1]
    lse = torch.logsumexp(z, dim=1)
    w_y = 1.0 if cw is None else cw[y]
    hard = (1.0 - eps) * w_y if cw is not None else torch.full_like(lse, 1.0 - eps)
    values = hard * (lse - z.gather(1, y[:, None]).squeeze(1))
    total_w = float(C) if cw is None else cw.sum()
    if eps != 0:
        dot = z.sum(1) if cw is None else z @ cw
        values = values + (eps / C) * (lse * total_w - dot)
    if valid is not None:
        values = torch.where(valid, values, 0)
    loss_out.copy_(values)
    if grad_out is None:
        return
    g = torch.sub(z, lse[:, None], out=grad_out).exp_()  # softmax p
    g.mul_((scale * (hard + (eps / C) * total_w))[:, None])  # S p, S = sum_c a_c
    if eps != 0:
        if cw is None:
            g.sub_(scale * eps / C)
        else:
            g.sub_((scale * eps / C) * cw)
    g.scatter_add_(1, y[:, None], (-scale * hard)[:, None].to(g.dtype))
    if valid is not None:
        g.masked_fill_(~valid[:, None], 0)


class _LinearCrossEntropy(torch.autograd.Function):
    """Forward makes the input gradients of the reduced loss; backward scales
    them (``"mean"``/``"sum"``) or runs the blocks again (``"none"``)."""

    @staticmethod
    def forward(ctx, hidden, weight, bias, call):
        wanted = tuple(ctx.needs_input_grad[:3])
        ctx.call = call
        ctx.save_for_backward(hidden, weight, bias)
        if call.reduction == "none":
            loss_rows = _loop(call, hidden, weight, bias, None)[0]
            ctx.grads = None
        else:
            loss_rows, *grads = _loop(call, hidden, weight, bias, wanted)
            ctx.grads = grads
        return _reduced(call, loss_rows)

    @staticmethod
    def backward(ctx, grad_output):
        call = ctx.call
        hidden, weight, bias = ctx.saved_tensors
        wanted = tuple(ctx.needs_input_grad[:3])
        if torch.is_grad_enabled() or (call.reduction != "none" and ctx.grads is None):
            return (*_plain_backward(call, (hidden, weight, bias), wanted, grad_output), None)
        with torch.autocast(hidden.device.type, enabled=False):
            if call.reduction == "none":
                row_scale = grad_output.reshape(-1).to(hidden.dtype)
                _, *grads = _loop(call, hidden, weight, bias, wanted, row_scale=row_scale)
            else:
                grads, ctx.grads = ctx.grads, None
                if bool(grad_output != 1):
                    go = grad_output.to(hidden.dtype)
                    for g in grads:
                        if g is not None:
                            g.mul_(go)
        return (*grads, None)


def _plain_backward(call, inputs, wanted, grad_output):
    """Gradients of the plain path at the saved inputs: for a second backward
    of a ``"mean"``/``"sum"`` graph, or a differentiable one."""
    from . import disabled

    create_graph = torch.is_grad_enabled()
    with torch.enable_grad(), disabled():
        xs = [x if (x is None or create_graph) else x.detach().requires_grad_(w) for x, w in zip(inputs, wanted)]
        value = _plain(call, *xs)
        wrt = [x for x, w in zip(xs, wanted) if w]
        got = iter(torch.autograd.grad(value, wrt, grad_output, create_graph=create_graph))
    return tuple(next(got) if w else None for w in wanted)
