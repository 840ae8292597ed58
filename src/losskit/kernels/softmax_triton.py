"""GPU (Triton) kernels for the softmax losses: cross-entropy and softmax focal.

The same per-row contract as :mod:`losskit.kernels.softmax_cpu`: for row ``i``
a kernel writes ``loss[i]`` and, when asked, the row of the gradient of the
reduced loss already multiplied by ``scale`` (``1/denominator`` for the mean),
so backward only scales it by the incoming gradient. Rows whose ``valid`` flag
is False get loss 0 and a zero gradient row (their label is never read as an
index).

One program handles one row. A first sweep reads the row in ``BLOCK``-wide
tiles and keeps an online softmax per lane (running maximum, and the sum of
``exp(z - max)`` rescaled whenever the maximum grows), plus the label-smoothing
dot product; the lanes are combined once at the end. A second sweep reads the
row again and writes the gradient. So the logits are read twice and the
gradient written once: the least traffic possible when a row (up to 256k
classes) is too long to stay in registers between the sweeps.

Computation is in the input's precision: float32 for float32, float64 for
float64. The scalar options travel in a small tensor of that dtype (a Python
float argument would reach the kernel as float32 and lose float64 precision).

``exp`` and ``log`` are Triton's; ``expm1`` is written out here from them
(libdevice functions do not run in Triton's CPU interpreter, which the tests
use where no GPU is present).

Importing this module never fails: without triton the wrappers raise
ImportError when called (``UNAVAILABLE`` says why), so the dispatcher can ask
first.
"""

from __future__ import annotations

from ._triton import UNAVAILABLE, tl
from ._triton import jit as _jit

__all__ = ["UNAVAILABLE", "cross_entropy_rows_kernel", "launch_config", "softmax_focal_rows_kernel"]

# Tiles: up to 4096 float32 or 2048 float64 values (16 KiB), spread so that
# each thread holds 32 bytes of a tile (8 float32 / 4 float64: two 16-byte
# loads), i.e. 16 warps for a full tile. Long rows (up to 256k classes) then
# keep 16 KiB of loads in flight per program, while the per-lane accumulators
# (max, sum, smoothing dot) stay small: the sm_90 build of the cross-entropy
# kernel takes 64 registers per thread for float32 (two programs, 32 warps,
# per SM) and 96 for float64, with no spills. Twice the values per thread,
# tried first, took 128 and 250 registers, which caps the resident warps.
# (Register counts from an offline ptxas build; no GPU measurement.) A row
# shorter than a tile gets one tile of the next power of two and fewer warps
# (a 10-class row gets one warp, not sixteen idle ones).
_MAX_BLOCK = {4: 4096, 8: 2048}
_BYTES_PER_THREAD = 32


def launch_config(n_classes: int, element_size: int) -> tuple[int, int]:
    """(BLOCK, num_warps) for rows of ``n_classes`` values of ``element_size`` bytes."""
    block = min(1 << (n_classes - 1).bit_length(), _MAX_BLOCK[element_size])  # next power of two
    num_warps = max(1, min(16, block * element_size // (32 * _BYTES_PER_THREAD)))
    return block, num_warps


# -- device functions ---------------------------------------------------------


@_jit
def _expm1(v):
    """exp(v) - 1 without cancellation near 0 (Kahan's method): the rounding
    error of e = exp(v) cancels in (e - 1) * v / log(e)."""
    e = tl.exp(v)
    em1 = e - 1.0
    safe_log = tl.where((e == 1.0) | (em1 == -1.0), 1.0, tl.log(e))  # no 0/0 or x/-inf in lanes not taken
    return tl.where(e == 1.0, v, tl.where(em1 == -1.0, -1.0, em1 * v / safe_log))


@_jit
def _row_max_and_sum(x_row, cw_ptr, n_classes, WEIGHTED: tl.constexpr, DOT: tl.constexpr, BLOCK: tl.constexpr):
    """First sweep over a row: (shift m, sum exp(z - m), sum w_c z_c), m the
    row's maximum where that is finite, else 0. Each lane keeps its own
    running max and rescaled sum, so the loop needs no cross-thread
    reduction; lanes still at -inf (tile padding, -inf logits) contribute 0
    instead of exp(-inf - -inf) = NaN. NaN in the row reaches the sum and so
    the loss."""
    dtype = x_row.dtype.element_ty
    cols = tl.arange(0, BLOCK)
    m_vec = tl.full([BLOCK], float("-inf"), dtype)
    s_vec = tl.zeros([BLOCK], dtype)
    d_vec = tl.zeros([BLOCK], dtype)
    for start in range(0, n_classes, BLOCK):
        offs = start + cols
        inside = offs < n_classes
        z = tl.load(x_row + offs, mask=inside, other=float("-inf"))
        m_new = tl.maximum(m_vec, z, propagate_nan=tl.PropagateNan.ALL)
        live = m_new != float("-inf")
        safe_m = tl.where(live, m_new, 0.0)
        s_vec = tl.where(live, s_vec * tl.exp(m_vec - safe_m) + tl.exp(z - safe_m), 0.0)
        m_vec = m_new
        if DOT:
            z_in = tl.where(inside, z, 0.0)  # not the -inf padding: 0 * -inf would be NaN
            if WEIGHTED:
                d_vec += tl.load(cw_ptr + offs, mask=inside, other=0.0) * z_in
            else:
                d_vec += z_in
    m = tl.max(m_vec, axis=0)
    finite = m - m == 0
    safe_row_m = tl.where(finite, m, 0.0)
    s = tl.sum(tl.where(m_vec == float("-inf"), 0.0, s_vec * tl.exp(m_vec - safe_row_m)), axis=0)
    if not finite:
        # The maximum is +-inf (or NaN): shift by 0 instead, as the reference's
        # log-sum-exp does, so inf logits give its inf/NaN values and
        # gradients (a rare row: one more sweep).
        s = tl.zeros([], dtype)
        for start in range(0, n_classes, BLOCK):
            offs = start + cols
            s += tl.sum(tl.exp(tl.load(x_row + offs, mask=offs < n_classes, other=float("-inf"))), axis=0)
    return safe_row_m, s, tl.sum(d_vec, axis=0)


@_jit
def _zero_row(loss_ptr, grad_row, row, n_classes, WANT_GRAD: tl.constexpr, BLOCK: tl.constexpr):
    """An ignored row: loss 0 and, when wanted, a zero gradient row."""
    dtype = grad_row.dtype.element_ty
    tl.store(loss_ptr + row, tl.zeros([], dtype))
    if WANT_GRAD:
        cols = tl.arange(0, BLOCK)
        for start in range(0, n_classes, BLOCK):
            offs = start + cols
            tl.store(grad_row + offs, tl.zeros([BLOCK], dtype), mask=offs < n_classes)


# -- kernels ------------------------------------------------------------------


@_jit
def _cross_entropy_kernel(x_ptr, labels_ptr, valid_ptr, cw_ptr, params_ptr, loss_ptr, grad_ptr,
                          n_classes, x_stride, grad_stride,
                          HAS_VALID: tl.constexpr, WEIGHTED: tl.constexpr, SMOOTHING: tl.constexpr,
                          WANT_GRAD: tl.constexpr, BLOCK: tl.constexpr):
    """``loss = -sum_c a_c log p_c`` with ``a = (1-eps) w_y onehot(y) + (eps/C) w``;
    gradient ``scale (S p - a)`` with ``S = sum(a)``. ``params``: scale,
    eps, eps/C, sum of the class weights (C without weights)."""
    row = tl.program_id(0).to(tl.int64)
    x_row = x_ptr + row * x_stride
    grad_row = grad_ptr + row * grad_stride
    if HAS_VALID:  # noqa: SIM102 - a compile-time switch around a runtime branch
        if tl.load(valid_ptr + row) == 0:
            _zero_row(loss_ptr, grad_row, row, n_classes, WANT_GRAD, BLOCK)
            return
    scale = tl.load(params_ptr)
    smoothing = tl.load(params_ptr + 1)
    eps_c = tl.load(params_ptr + 2)
    total_w = tl.load(params_ptr + 3)
    y = tl.load(labels_ptr + row)
    m, s, dot = _row_max_and_sum(x_row, cw_ptr, n_classes, WEIGHTED, SMOOTHING, BLOCK)
    lse = m + tl.log(s)
    z_y = tl.load(x_row + y)
    if WEIGHTED:
        w_y = tl.load(cw_ptr + y)
    else:
        w_y = 1.0
    hard = (1.0 - smoothing) * w_y
    value = hard * (lse - z_y)
    if SMOOTHING:
        value += eps_c * (lse * total_w - dot)
    tl.store(loss_ptr + row, value)
    if WANT_GRAD:
        coef = scale * (hard + eps_c * total_w) / s  # S p_c = S exp(z_c - m) / s
        soft = scale * eps_c
        hard_g = scale * hard
        cols = tl.arange(0, BLOCK)
        for start in range(0, n_classes, BLOCK):
            offs = start + cols
            inside = offs < n_classes
            z = tl.load(x_row + offs, mask=inside, other=0.0)
            g = coef * tl.exp(z - m)
            if SMOOTHING:
                if WEIGHTED:
                    g -= soft * tl.load(cw_ptr + offs, mask=inside, other=0.0)
                else:
                    g -= soft
            g = tl.where(offs == y, g - hard_g, g)
            tl.store(grad_row + offs, g, mask=inside)


@_jit
def _softmax_focal_kernel(x_ptr, labels_ptr, valid_ptr, alpha_ptr, params_ptr, loss_ptr, grad_ptr,
                          n_classes, x_stride, grad_stride,
                          HAS_VALID: tl.constexpr, PER_CLASS: tl.constexpr,
                          WANT_GRAD: tl.constexpr, BLOCK: tl.constexpr):
    """``loss = -alpha_y (1 - p_y)^gamma log p_y``; gradient
    ``scale alpha_y A (p - onehot(y))`` with ``A = u^gamma (1 - gamma p_y s/u)``,
    ``u = 1 - p_y = -expm1(s)``, ``s = log p_y`` (``s/u -> -1`` as ``u -> 0``).
    ``params``: scale, the scalar alpha (1 when none), gamma."""
    row = tl.program_id(0).to(tl.int64)
    x_row = x_ptr + row * x_stride
    grad_row = grad_ptr + row * grad_stride
    if HAS_VALID:  # noqa: SIM102 - a compile-time switch around a runtime branch
        if tl.load(valid_ptr + row) == 0:
            _zero_row(loss_ptr, grad_row, row, n_classes, WANT_GRAD, BLOCK)
            return
    scale = tl.load(params_ptr)
    a_y = tl.load(params_ptr + 1)
    gamma = tl.load(params_ptr + 2)
    y = tl.load(labels_ptr + row)
    m, s, _ = _row_max_and_sum(x_row, alpha_ptr, n_classes, False, False, BLOCK)
    log_py = tl.load(x_row + y) - m - tl.log(s)
    u = -_expm1(log_py)
    if PER_CLASS:
        a_y *= tl.load(alpha_ptr + y)
    positive = u > 0
    safe_u = tl.where(positive, u, 1.0)
    # u ** gamma; the common gammas exactly, the rest as exp(gamma log u)
    u_g = tl.where(gamma == 2.0, safe_u * safe_u,
                   tl.where(gamma == 1.0, safe_u, tl.exp(gamma * tl.log(safe_u))))
    u_g = tl.where(positive, u_g, tl.where(u != u, u, 0.0))  # noqa: PLR0124 - NaN stays NaN; 0**gamma = 0
    u_g = tl.where(gamma == 0.0, 1.0, u_g)
    tl.store(loss_ptr + row, -a_y * u_g * log_py)
    if WANT_GRAD:
        p_y = tl.exp(log_py)
        ratio = tl.where(positive, log_py / safe_u, -1.0)
        coef = scale * a_y * u_g * (1.0 - gamma * p_y * ratio)
        k = coef / s
        cols = tl.arange(0, BLOCK)
        for start in range(0, n_classes, BLOCK):
            offs = start + cols
            inside = offs < n_classes
            z = tl.load(x_row + offs, mask=inside, other=0.0)
            g = k * tl.exp(z - m)
            g = tl.where(offs == y, g - coef, g)
            tl.store(grad_row + offs, g, mask=inside)


# -- wrappers -----------------------------------------------------------------


def _require_triton(name):
    if UNAVAILABLE is not None:
        raise ImportError(f"{name}: {UNAVAILABLE}; install triton to use the GPU kernels")


def _check_rows(name, x, labels, valid, per_class, per_class_name, loss, grad, want_grad):
    """The wrappers' argument checks; returns (valid as int8 or None, per-class
    vector or None)."""
    import torch

    if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"{name}: x must be a 2-D float32 or float64 tensor (N, C); received "
                         f"{type(x).__name__} {getattr(x, 'dtype', '')} {tuple(getattr(x, 'shape', ()))}")
    n, c = x.shape
    if n == 0 or c == 0:
        raise ValueError(f"{name}: x must have at least one row and one class; received shape {tuple(x.shape)}")
    if x.stride(1) != 1:
        raise ValueError(f"{name}: x must have contiguous rows (stride 1 along classes); received strides "
                         f"{tuple(x.stride())}")

    def same_device(arg, t):
        if t.device != x.device:
            raise ValueError(f"{name}: {arg} must be on x's device {x.device}; received {t.device}")

    if not isinstance(labels, torch.Tensor) or labels.shape != (n,) or labels.dtype != torch.int64:
        raise ValueError(f"{name}: labels must be an int64 tensor of shape ({n},); received "
                         f"{getattr(labels, 'dtype', type(labels).__name__)} {tuple(getattr(labels, 'shape', ()))}")
    same_device("labels", labels)
    if valid is not None:
        if not isinstance(valid, torch.Tensor) or valid.shape != (n,) or valid.dtype != torch.bool:
            raise ValueError(f"{name}: valid must be None or a bool tensor of shape ({n},); received "
                             f"{getattr(valid, 'dtype', type(valid).__name__)} {tuple(getattr(valid, 'shape', ()))}")
        same_device("valid", valid)
        valid = valid.contiguous().view(torch.int8)
    if per_class is not None and per_class.numel() == 0:
        per_class = None  # the CPU kernels' spelling of "none"
    if per_class is not None:
        if per_class.shape != (c,) or per_class.dtype != x.dtype:
            raise ValueError(f"{name}: {per_class_name} must be None or a {x.dtype} tensor of shape ({c},); "
                             f"received {per_class.dtype} {tuple(per_class.shape)}")
        same_device(per_class_name, per_class)
        per_class = per_class.contiguous()
    if loss.shape != (n,) or loss.dtype != x.dtype:
        raise ValueError(f"{name}: loss must be a {x.dtype} tensor of shape ({n},); received "
                         f"{loss.dtype} {tuple(loss.shape)}")
    same_device("loss", loss)
    if want_grad:
        if grad.shape != x.shape or grad.dtype != x.dtype or grad.stride(1) != 1:
            raise ValueError(f"{name}: grad must be a {x.dtype} tensor of x's shape {tuple(x.shape)} with "
                             f"contiguous rows; received {grad.dtype} {tuple(grad.shape)} "
                             f"strides {tuple(grad.stride())}")
        same_device("grad", grad)
    return valid, per_class


def _launch(kernel, x, labels, valid, per_class, params, loss, grad, want_grad, block, num_warps, **flags):
    n, c = x.shape
    if block is None:
        block, default_warps = launch_config(c, x.element_size())
        num_warps = default_warps if num_warps is None else num_warps
    elif num_warps is None:
        num_warps = max(1, min(16, block * x.element_size() // (32 * _BYTES_PER_THREAD)))
    dummy = loss  # any pointer of x's dtype where a tensor is absent (never read)
    grad_arg = grad if want_grad else dummy
    kernel[(n,)](
        x, labels, dummy if valid is None else valid, dummy if per_class is None else per_class,
        params, loss, grad_arg, c, x.stride(0), grad_arg.stride(0) if want_grad else 0,
        HAS_VALID=valid is not None, WANT_GRAD=bool(want_grad), BLOCK=block, num_warps=num_warps, **flags)


def cross_entropy_rows_kernel(x, labels, valid, class_weight, smoothing, scale, loss, grad, want_grad, *,
                       block=None, num_warps=None):
    """Cross-entropy per row, and the gradient of the reduced loss, on x's device.

    Args:
        x: logits, float32 or float64 (N, C), rows contiguous.
        labels: int64 (N,); read only where ``valid`` (ignored rows may hold any value).
        valid: bool (N,), or None when every row counts.
        class_weight: (C,) of x's dtype, or None (or an empty tensor) for none.
        smoothing: label smoothing ``eps`` in [0, 1] (a number).
        scale: the factor of the gradient (``1/denominator`` for a mean, 1 for a sum).
        loss: output (N,), x's dtype: each row's loss (0 where ignored).
        grad: output (N, C), x's dtype, rows contiguous: ``scale`` times the
            gradient of row i's loss in row i; not touched unless ``want_grad``.
        want_grad: whether to write ``grad``.
        block, num_warps: override :func:`launch_config` (tests, tuning).
    """
    _require_triton("cross_entropy_rows_kernel")
    import torch

    valid, class_weight = _check_rows("cross_entropy_rows_kernel", x, labels, valid, class_weight, "class_weight",
                                      loss, grad, want_grad)
    c = x.shape[1]
    params = torch.tensor([scale, smoothing, smoothing / c, c], dtype=x.dtype, device=x.device)
    if class_weight is not None:
        params[3] = class_weight.sum()  # on the device: no synchronisation
    _launch(_cross_entropy_kernel, x, labels, valid, class_weight, params, loss, grad, want_grad, block, num_warps,
            WEIGHTED=class_weight is not None, SMOOTHING=smoothing != 0)


def softmax_focal_rows_kernel(x, labels, valid, alpha, alpha_scalar, gamma, scale, loss, grad, want_grad, *,
                       block=None, num_warps=None):
    """Softmax focal loss per row, and the gradient of the reduced loss, on x's device.

    Args as :func:`cross_entropy_rows_kernel`, with ``alpha`` a (C,) tensor of x's
    dtype or None (or empty) instead of ``class_weight``, ``alpha_scalar`` a
    number multiplying the loss (1 for none) and ``gamma >= 0`` the focusing
    exponent; no smoothing.
    """
    _require_triton("softmax_focal_rows_kernel")
    import torch

    valid, alpha = _check_rows("softmax_focal_rows_kernel", x, labels, valid, alpha, "alpha", loss, grad, want_grad)
    params = torch.tensor([scale, alpha_scalar, gamma], dtype=x.dtype, device=x.device)
    _launch(_softmax_focal_kernel, x, labels, valid, alpha, params, loss, grad, want_grad, block, num_warps,
            PER_CLASS=alpha is not None)
