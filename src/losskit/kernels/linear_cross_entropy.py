"""The blockwise kernel behind :func:`losskit.linear_cross_entropy`: the
cross-entropy of a linear layer's output, computed in chunks of rows so that
the N x V logits never exist at once.

This module holds the machinery only (the row loop, the block loss in numba or
torch ops, the custom autograd Function). The public function, its argument
checks and its reference math live in :mod:`losskit.functional.classification`,
which builds a :class:`Call` and hands it to :func:`forward` with the reference
math as ``reference`` (as :mod:`losskit.kernels.dispatch` does for the other
fast paths); the module form is :class:`losskit.torch.LinearCrossEntropyLoss`.

A language model's head turns N hidden states (N, H) into N x V logits with a
(V, H) weight; at N = 8192 and V = 65536 that is 2 GiB in float32, and the
plain ``F.linear`` + ``F.cross_entropy`` keeps the logits, their log-softmax
and their gradient alive together. Here forward walks over blocks of
``chunk_size`` rows. Per block it forms the block's logits
``Z = H_c W^T (+ b)``, computes their losses and the gradient ``G`` of the
reduced loss with respect to them in one pass (the numba kernel
:func:`losskit.kernels.softmax_cpu.cross_entropy_rows_kernel` on CPU, in-place torch
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

import torch

from . import enabled, note

try:  # functorch transforms (vmap, grad) hand wrapped tensors the loop cannot read
    from torch._C._functorch import is_functorch_wrapped_tensor
except ImportError:  # pragma: no cover - older torch
    def is_functorch_wrapped_tensor(x):
        return False

__all__ = ["Call", "default_chunk_size", "forward"]

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


def forward(call, weight, bias, *, reference):
    """The loss of ``call`` (``hidden`` in ``call.hidden``, the linear layer's
    ``weight`` and ``bias``) on the blockwise path, or None when that path
    cannot serve it (the reason is recorded for :func:`losskit.kernels.record`;
    the caller then runs the reference math).

    ``reference(call, hidden, weight, bias)`` is the loss on the plain math
    (full logits); it serves a second or differentiable backward."""
    if not enabled():  # switched off: not recorded, as for the other fast paths
        return None
    reason = _why_plain(call)
    if reason is not None:
        note(_LOSS, "reference: " + reason)
        return None
    call.reference = reference
    call.denominator = call.denominator_of()
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


# -- the call --------------------------------------------------------------------


class Call:
    """A validated call, built by the public function: ``hidden`` as (N, H)
    rows, ``target`` as given, ``labels`` (int64, ignored rows set to 0),
    ``valid`` (None when every row counts), ``class_weight`` (None or a
    length-V tensor), ``ignore_index``, ``label_smoothing``, ``reduction``,
    ``chunk_size`` (None: :func:`default_chunk_size`), ``out_shape`` (the
    shape ``"none"`` returns) and ``denominator_of`` (returns the mean's
    denominator as a float, 1 for the other reductions: a host read, so asked
    only on the blockwise path). :func:`forward` fills ``denominator``,
    ``kernels``, ``np_cache`` and ``reference``."""

    __slots__ = (
        "chunk_size",
        "class_weight",
        "denominator",
        "denominator_of",
        "hidden",
        "ignore_index",
        "kernels",
        "label_smoothing",
        "labels",
        "np_cache",
        "out_shape",
        "reference",
        "reduction",
        "target",
        "valid",
    )



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
        run_ranges(call.kernels.cross_entropy_rows_kernel, z.shape[0], z.numpy(), labels[start:stop], valid[start:stop],
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
        value = call.reference(call, *xs)
        wrt = [x for x, w in zip(xs, wanted) if w]
        got = iter(torch.autograd.grad(value, wrt, grad_output, create_graph=create_graph))
    return tuple(next(got) if w else None for w in wanted)
