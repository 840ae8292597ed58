"""GPU (Triton) kernels for the elementwise losses: binary cross-entropy on
logits (with ``pos_weight`` and label smoothing), sigmoid focal, Huber and MSE.

Every wrapper takes flat (1-D, contiguous) tensors of one dtype, float32 or
float64, on one device, and makes one pass over them: each program reads a
``BLOCK`` of inputs and targets, and writes

- into ``loss``: each element's loss when ``loss`` has ``n`` entries, or the
  sum of its block's losses when it has ``partial_count(n)`` entries (the
  caller adds those up for ``"sum"``/``"mean"``; for ``n = 1`` the two
  coincide);
- into ``grad``, when ``want_grad``: ``scale`` times the derivative of each
  element's loss (``scale = 1/n`` for a mean, 1 for a sum or per-element
  losses), computed in closed form in the same pass.

The math is the reference's in :mod:`losskit.functional.binary` and
:mod:`losskit.functional.regression` (softplus and log-space ``1 - p_t``,
never ``log(sigmoid(x))``), in the input's precision. ``log1p`` is written out
from ``log`` (libdevice does not run in Triton's CPU interpreter, which the
tests use where no GPU is present). Scalar options travel in a small tensor
of the input's dtype, so float64 keeps its precision.

Importing this module never fails: without triton the wrappers raise
ImportError when called (``UNAVAILABLE`` says why).
"""

from __future__ import annotations

from ._triton import UNAVAILABLE, tl
from ._triton import jit as _jit

__all__ = ["BLOCK", "UNAVAILABLE", "bce_with_logits_kernel", "huber_kernel", "mse_kernel", "partial_count",
           "sigmoid_focal_kernel"]

# 1024 values per program over 8 warps: each thread handles 4 (one 16-byte
# load per float32 input, two for float64), which keeps the sm_90 build at
# <= 60 registers per thread for float32 and ~150 for float64 (libdevice's
# float64 log and exp are register-hungry; 8 values per thread took 255),
# so many warps stay resident to hide memory latency. One partial sum per
# 1024 elements: a 10^8-element mean leaves ~10^5 partials for torch to add.
# (Register counts from an offline ptxas build; no GPU measurement.)
BLOCK = 1024
_NUM_WARPS = 8

# which loss the shared kernel computes
_BCE, _FOCAL, _HUBER, _MSE = 0, 1, 2, 3
# pos_weight: none, one number (in params), one per label (a vector)
_PW_NONE, _PW_SCALAR, _PW_VECTOR = 0, 1, 2


def partial_count(n: int) -> int:
    """Entries of ``loss`` for block partial sums over ``n`` elements."""
    return -(-n // BLOCK)


# -- device functions ---------------------------------------------------------


@_jit
def _log1p(v):
    """log(1 + v) without cancellation near 0 (Goldberg's method), for v > -1
    finite: the rounding error of u = 1 + v cancels in log(u) * v / (u - 1)."""
    u = 1.0 + v
    safe = tl.where(u == 1.0, 2.0, u)  # no 0/0 in the lanes that take v
    return tl.where(u == 1.0, v, tl.log(safe) * (v / (safe - 1.0)))


@_jit
def _softplus(x):
    """log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)); never overflows."""
    return tl.maximum(x, 0.0) + _log1p(tl.exp(-tl.abs(x)))


@_jit
def _sigmoid(x):
    """1/(1 + exp(-x)) from t = exp(-|x|) <= 1, so nothing overflows; NaN
    stays NaN."""
    t = tl.exp(-tl.abs(x))
    return tl.where(x >= 0, 1.0 / (1.0 + t), t / (1.0 + t))


@_jit
def _bce_terms(x, y, c, smoothing, SMOOTHING: tl.constexpr):
    """c y' softplus(-x) + (1 - y') softplus(x) and its derivative
    (1 - y') sigmoid(x) - c y' sigmoid(-x), y' = y (1 - eps) + eps/2."""
    if SMOOTHING:
        y = y * (1.0 - smoothing) + 0.5 * smoothing
    loss = c * y * _softplus(-x) + (1.0 - y) * _softplus(x)
    grad = (1.0 - y) * _sigmoid(x) - c * y * _sigmoid(-x)
    return loss, grad


@_jit
def _focal_terms(x, y, alpha, gamma, HAS_ALPHA: tl.constexpr):
    """alpha_t (1 - p_t)^gamma BCE(x, y) and its derivative, with
    log(1 - p_t) in log space (see ``_focal_parts`` and
    ``_sigmoid_focal_derivatives`` in :mod:`losskit.functional.binary`)."""
    la = -_softplus(-x)  # log sigmoid(x)
    lb = -_softplus(x)  # log sigmoid(-x)
    hard0 = y <= 0.0
    hard1 = y >= 1.0
    y_in = tl.where(hard0 | hard1, 0.5, y)
    u = tl.log(y_in) + lb
    v = _log1p(-y_in) + la
    mixed = tl.maximum(u, v) + _log1p(tl.exp(-tl.abs(u - v)))
    log_q = tl.where(hard0, la, tl.where(hard1, lb, mixed))  # log(1 - p_t)
    ce = -(y * la + (1.0 - y) * lb)
    factor = tl.where(gamma == 0.0, 1.0, tl.exp(gamma * log_q))
    k = 1.0 - 2.0 * y
    r = tl.exp(la + lb - log_q)  # sigma(x) sigma(-x) / (1 - p_t), at most 1
    loss = factor * ce
    d = _sigmoid(x) - y
    # gamma = 0: the BCE derivative alone, no 0 * inf from the focal term at an infinite logit
    grad = tl.where(gamma == 0.0, d, factor * (gamma * k * r * ce + d))
    if HAS_ALPHA:
        alpha_t = alpha * y + (1.0 - alpha) * (1.0 - y)
        loss = alpha_t * loss
        grad = alpha_t * grad
    return loss, grad


@_jit
def _elementwise_kernel(x_ptr, t_ptr, pw_ptr, params_ptr, loss_ptr, grad_ptr, n, pw_len,
                        LOSS: tl.constexpr, PW: tl.constexpr, SMOOTHING: tl.constexpr, HAS_ALPHA: tl.constexpr,
                        PER_ELEMENT: tl.constexpr, WANT_GRAD: tl.constexpr, BLOCK: tl.constexpr):
    """``params``: scale, then the loss's options (bce: eps, pos_weight;
    focal: alpha, gamma; huber: delta)."""
    pid = tl.program_id(0)
    offs = pid.to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    inside = offs < n
    x = tl.load(x_ptr + offs, mask=inside, other=0.0)
    y = tl.load(t_ptr + offs, mask=inside, other=0.0)
    scale = tl.load(params_ptr)
    if LOSS == 0:  # binary cross-entropy on logits
        smoothing = tl.load(params_ptr + 1)
        if PW == 0:
            c = 1.0
        elif PW == 1:
            c = tl.load(params_ptr + 2)
        else:
            # label index i % L along the last axis; the block's start taken mod L once
            # (int64), so the per-element modulo is an int32 one
            first = (pid.to(tl.int64) * BLOCK % pw_len).to(tl.int32)
            label = (first + tl.arange(0, BLOCK)) % pw_len
            c = tl.load(pw_ptr + label, mask=inside, other=1.0)
        loss, grad = _bce_terms(x, y, c, smoothing, SMOOTHING)
    elif LOSS == 1:  # sigmoid focal
        loss, grad = _focal_terms(x, y, tl.load(params_ptr + 1), tl.load(params_ptr + 2), HAS_ALPHA)
    elif LOSS == 2:  # Huber
        delta = tl.load(params_ptr + 1)
        r = x - y
        a = tl.abs(r)
        small = tl.minimum(a, delta)
        loss = small * (a - 0.5 * small)
        grad = tl.where(r > delta, delta, tl.where(r < -delta, -delta, r))  # NaN stays NaN
    else:  # squared error
        r = x - y
        loss = r * r
        grad = 2.0 * r
    if PER_ELEMENT:
        tl.store(loss_ptr + offs, loss, mask=inside)
    else:
        tl.store(loss_ptr + pid, tl.sum(tl.where(inside, loss, 0.0), axis=0))
    if WANT_GRAD:
        tl.store(grad_ptr + offs, scale * grad, mask=inside)


# -- wrappers -----------------------------------------------------------------


def _run(name, x, target, loss, grad, want_grad, loss_kind, params, *, pos_weight=None, pw_kind=_PW_NONE,
         smoothing=False, has_alpha=False):
    if UNAVAILABLE is not None:
        raise ImportError(f"{name}: {UNAVAILABLE}; install triton to use the GPU kernels")
    import torch

    def describe(t):
        if not isinstance(t, torch.Tensor):
            return type(t).__name__
        return f"{t.dtype} shape {tuple(t.shape)} on {t.device}" + ("" if t.is_contiguous() else " (not contiguous)")

    def check(arg, t, size, dtype):
        ok = (isinstance(t, torch.Tensor) and t.ndim == 1 and t.is_contiguous() and t.dtype == dtype
              and t.device == x.device and (size is None or t.numel() == size))
        if not ok:
            raise ValueError(f"{name}: {arg} must be a contiguous 1-D {dtype} tensor"
                             + ("" if size is None else f" of {size} entries") + f" on {x.device}; received "
                             + describe(t))

    if not (isinstance(x, torch.Tensor) and x.dtype in (torch.float32, torch.float64)):
        raise ValueError(f"{name}: x must be a float32 or float64 tensor; received {describe(x)}")
    check("x", x, None, x.dtype)
    n = x.numel()
    if n == 0:
        raise ValueError(f"{name}: x must not be empty")
    check("target", target, n, x.dtype)
    if loss.numel() not in (n, partial_count(n)):
        raise ValueError(f"{name}: loss must have {n} entries (per element) or {partial_count(n)} "
                         f"(block partial sums); received {describe(loss)}")
    check("loss", loss, None, x.dtype)
    if want_grad:
        check("grad", grad, n, x.dtype)
    if pw_kind == _PW_VECTOR:
        check("pos_weight", pos_weight, None, x.dtype)
        if pos_weight.numel() == 0 or n % pos_weight.numel() != 0:
            raise ValueError(f"{name}: pos_weight must have one entry per label, a length L that divides the "
                             f"{n} elements (the input's last axis); received {pos_weight.numel()} entries")
    params_t = torch.tensor([float(p) for p in params], dtype=x.dtype, device=x.device)
    dummy = loss  # any pointer of x's dtype where a tensor is absent (never read)
    per_element = loss.numel() == n
    _elementwise_kernel[(partial_count(n),)](
        x, target, pos_weight if pw_kind == _PW_VECTOR else dummy, params_t, loss, grad if want_grad else dummy,
        n, pos_weight.numel() if pw_kind == _PW_VECTOR else 1,
        LOSS=loss_kind, PW=pw_kind, SMOOTHING=smoothing, HAS_ALPHA=has_alpha, PER_ELEMENT=per_element,
        WANT_GRAD=bool(want_grad), BLOCK=BLOCK, num_warps=_NUM_WARPS)


def bce_with_logits_kernel(x, target, pos_weight, smoothing, scale, loss, grad, want_grad):
    """Binary cross-entropy on logits, per element or per block, and its gradient.

    Args:
        x, target: logits and targets in [0, 1], contiguous 1-D, same dtype and size ``n``.
        pos_weight: None, a number ``c >= 0``, or a 1-D tensor of ``L`` weights, one per label
            of the original ``(..., L)`` input, so that element ``i`` of the flattened input
            gets ``pos_weight[i % L]``.
        smoothing: label smoothing ``eps`` in [0, 1].
        scale: factor of the gradient.
        loss: output, ``n`` (per element) or ``partial_count(n)`` (block sums) entries.
        grad: output, ``n`` entries; written only when ``want_grad``.
    """
    import torch

    if pos_weight is None:
        kind, c = _PW_NONE, 1.0
    elif isinstance(pos_weight, torch.Tensor):
        kind, c = _PW_VECTOR, 1.0
    else:
        kind, c = _PW_SCALAR, float(pos_weight)
    _run("bce_with_logits", x, target, loss, grad, want_grad, _BCE, (scale, smoothing, c), pos_weight=pos_weight,
         pw_kind=kind, smoothing=smoothing != 0)


def sigmoid_focal_kernel(x, target, alpha, gamma, scale, loss, grad, want_grad):
    """Sigmoid focal loss on logits (soft targets allowed), per element or per
    block, and its gradient. ``alpha`` in [0, 1] or None (no class
    balancing), ``gamma >= 0``; the other arguments as :func:`bce_with_logits`."""
    _run("sigmoid_focal", x, target, loss, grad, want_grad, _FOCAL,
         (scale, 0.0 if alpha is None else alpha, gamma), has_alpha=alpha is not None)


def huber_kernel(x, target, delta, scale, loss, grad, want_grad):
    """Huber loss with threshold ``delta > 0``, per element or per block, and
    its gradient (``r`` inside ``[-delta, delta]``, ``±delta`` outside); the
    other arguments as :func:`bce_with_logits`."""
    _run("huber", x, target, loss, grad, want_grad, _HUBER, (scale, delta))


def mse_kernel(x, target, scale, loss, grad, want_grad):
    """Squared error ``(x - y)^2``, per element or per block, and its gradient
    ``2 (x - y)``; the arguments as :func:`bce_with_logits`."""
    _run("mse", x, target, loss, grad, want_grad, _MSE, (scale,))
