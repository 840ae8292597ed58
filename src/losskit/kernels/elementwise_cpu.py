"""CPU kernels for the elementwise losses: binary cross-entropy on logits,
sigmoid focal, Huber and squared error.

Each kernel reads ``input`` and ``target`` (flat, contiguous) once and, in the
same pass, writes the gradient of the reduced loss already multiplied by
``scale`` (``1/n`` for the mean, 1 for the sum and for ``"none"``), and either
each element's loss (``"none"``) or one float64 partial sum per chunk of
``CHUNK`` elements. A kernel works on chunks ``start:stop``; :mod:`._threads`
shares the chunks among threads. The chunk size does not depend on the thread
count, so the sum of the partial sums is the same for any number of threads.

A kernel is called with an empty ``grad`` when no gradient is wanted and an
empty ``loss`` unless the loss of each element is: the gradient (and the
values to be summed) then go to a block-sized scratch buffer, so evaluating a
loss allocates nothing input-sized. One loop serves every case, so that each
kernel compiles once and quickly: its body is the per-element function
inlined, and each copy of it is costly to compile.

The per-element formulas are those of :mod:`losskit.functional` (``softplus``
for the logs, the closed-form derivatives marked ``@derivatives_of``), written
so that a NaN or inf comes out as the reference gives it: every product the
reference forms with a possibly infinite factor (``0 * inf``) is formed here
too, and ``max``/clamps are written as selects that let NaN through (not as
``min``/``max``, whose NaN handling is not the reference's).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._numba import JIT, fast_exp, fast_log, fast_log1p

CHUNK = 1 << 15  # elements per partial sum; fixed, so sums do not depend on the thread count
BLOCK = 1024  # elements per inner loop (and per scratch buffer)
# A second thread pays only past about 0.1 ms of work per thread (waking a
# pool thread costs tens of microseconds, more on a busy machine): elements
# per thread at about 3 ns (focal), 1.5 ns (BCE) and 0.3 ns (Huber, squared error).
MIN_ELEMENTS_PER_THREAD = {"sigmoid_focal": 1 << 16, "binary_cross_entropy_with_logits": 1 << 17,
                           "huber": 1 << 19, "mse": 1 << 19}

# The per-element functions are inlined by numba (LLVM would leave them as calls).
_POINT = dict(JIT, cache=False, inline="always")

# Numba types ``1 - y`` as float64 for a float32 ``y`` (a Python int is an
# int64): every constant is made from ``one``, of the data's dtype.


@njit(**_POINT)
def _logistic(x, one):
    """softplus(x), softplus(-x), sigmoid(x), sigmoid(-x), as the reference
    forms them: max(x, 0) + log1p(exp(-|x|)); NaN propagates through e."""
    zero = one - one
    e = fast_exp(-abs(x))
    l1p = fast_log1p(e)
    sp_pos = (x if x > zero else zero) + l1p
    sp_neg = (-x if x < zero else zero) + l1p
    inv = one / (one + e)
    ex = e * inv
    a = inv if x >= zero else ex
    b = ex if x >= zero else inv
    return sp_pos, sp_neg, a, b


@njit(**_POINT)
def _bce_point(x, y, c, one):
    """Loss c y softplus(-x) + (1 - y) softplus(x) and its derivative
    (1 - y) sigmoid(x) - c y sigmoid(-x) (no cancellation where y = sigmoid(x))."""
    sp_pos, sp_neg, a, b = _logistic(x, one)
    return c * (y * sp_neg) + (one - y) * sp_pos, (one - y) * a - c * (y * b)


@njit(**_POINT)
def _focal_terms(x, y, alpha, use_alpha, one):
    """The parts of the sigmoid focal loss alpha_t (1 - p_t)^gamma BCE and of
    its derivative alpha_t q^gamma [gamma k r BCE + (1 - y) sigma(x) - y sigma(-x)]
    (``_sigmoid_focal_derivatives``: q = 1 - p_t, k = 1 - 2y, r = sigma(x) sigma(-x) / q).

    q = y sigma(-x) + (1 - y) sigma(x) is a sum of two nonnegative terms
    (q >= min(y, 1 - y) for a soft target: no cancellation, no underflow);
    r is sigma(x) or sigma(-x) for a hard target. Returns
    (BCE, q, k r, (1 - y) sigma(x) - y sigma(-x), alpha_t, softplus(x), softplus(-x))."""
    zero = one - one
    sp_pos, sp_neg, a, b = _logistic(x, one)
    ce = y * sp_neg + (one - y) * sp_pos
    q = y * b + (one - y) * a
    r = b if y <= zero else (a if y >= one else a * b / q)
    d = (one - y) * a - y * b
    at = alpha * y + (one - alpha) * (one - y) if use_alpha else one
    return ce, q, (one - (y + y)) * r, d, at, sp_pos, sp_neg


@njit(**_POINT)
def _focal_point(x, y, alpha, use_alpha, gamma, one, tiny_log, shift, down):
    """Any gamma: (1 - p_t)^gamma = exp(gamma log q), log q the log-sigmoid for
    a hard target (as the reference computes it) and log(q) for a soft one.

    ``fast_exp`` is 0 below ``tiny_log`` (the smallest normal number's log);
    there the factor is exp(t + shift) * down (down = exp(-shift)), a
    subnormal like the reference's, which matters where it meets an infinite
    cross-entropy (x = -inf with a tiny soft target: inf, not 0 * inf = NaN)."""
    zero = one - one
    ce, q, kr, d, at, sp_pos, sp_neg = _focal_terms(x, y, alpha, use_alpha, one)
    log_q = -sp_neg if y <= zero else (-sp_pos if y >= one else fast_log(q))
    t = gamma * log_q
    low = t < tiny_log
    # gamma = 0: (1 - p_t)^0 = 1, and no 0 * inf from the focal term
    plain = gamma == zero
    factor = one if plain else fast_exp(t + (shift if low else zero)) * (down if low else one)
    slope = d if plain else factor * (gamma * kr * ce + d)
    return at * (factor * ce), at * slope


@njit(**_POINT)
def _focal_point_square(x, y, alpha, use_alpha, one):
    """gamma = 2 (the default): (1 - p_t)^2 = q q, no log and no exp."""
    ce, q, kr, d, at, _, _ = _focal_terms(x, y, alpha, use_alpha, one)
    factor = q * q
    return at * (factor * ce), at * (factor * ((one + one) * kr * ce + d))


@njit(**_POINT)
def _huber_point(x, y, delta, half):
    """min(|r|, delta) (|r| - min(|r|, delta)/2) and r clamped to [-delta, delta]
    (the reference's autograd derivative, also at |r| = delta); NaN propagates."""
    r = x - y
    a = abs(r)
    small = a if a < delta else delta
    g = delta if r > delta else r
    g = -delta if r < -delta else g
    return small * (a - half * small), g


# A kernel takes the chunks ``start:stop`` (:mod:`._threads` shares the
# chunks among threads) and each chunk in blocks, each block's loop indexed
# from 0 (an index LLVM can prove nonnegative needs no wraparound test, so
# loads and stores stay contiguous). ``values``/``grads`` are the output
# slices, or the scratch buffers where that output is not wanted.


@njit(**JIT)
def bce_with_logits_kernel(start, stop, x, y, pos_weight_tile, params, loss, partial, grad):
    """``pos_weight_tile``: the positive weight of ``T`` consecutive elements
    (a whole number of label rows), repeated every ``T`` elements (chunks are
    a multiple of ``T``). ``params``: (keep, half_eps, scale), the targets
    smoothed as ``y keep + half_eps``."""
    n = x.size
    one = x.dtype.type(1)
    keep, half_eps, scale = params[0], params[1], params[2]
    period = pos_weight_tile.size
    chunk = period * max(1, CHUNK // period)  # chunk_size(period)
    per_element, want_grad = loss.size > 0, grad.size > 0
    scratch_values, scratch_grads = np.empty(period, x.dtype), np.empty(period, x.dtype)
    for ci in range(start, stop):
        acc = 0.0
        for lo in range(ci * chunk, min(ci * chunk + chunk, n), period):
            m = min(period, n - lo)
            xb, yb, c = x[lo:lo + m], y[lo:lo + m], pos_weight_tile[:m]
            values = loss[lo:lo + m] if per_element else scratch_values[:m]
            grads = grad[lo:lo + m] if want_grad else scratch_grads[:m]
            for k in range(m):
                values[k], g = _bce_point(xb[k], yb[k] * keep + half_eps, c[k], one)
                grads[k] = g * scale
            if not per_element:
                for k in range(m):
                    acc += values[k]
        partial[ci] = acc


@njit(**JIT)
def sigmoid_focal_kernel(start, stop, x, y, params, loss, partial, grad):
    """``params``: (alpha, gamma, use_alpha, scale); alpha_t = 1 where use_alpha is 0."""
    n = x.size
    one = x.dtype.type(1)
    alpha, gamma, use_alpha, scale = params[0], params[1], params[2] != 0, params[3]
    eps = np.finfo(x.dtype).eps
    tiny_log = x.dtype.type(np.log(np.finfo(x.dtype).tiny))
    shift, down = x.dtype.type(-2 * np.log(eps)), x.dtype.type(eps * eps)
    per_element, want_grad = loss.size > 0, grad.size > 0
    scratch_values, scratch_grads = np.empty(BLOCK, x.dtype), np.empty(BLOCK, x.dtype)
    for ci in range(start, stop):
        acc = 0.0
        for lo in range(ci * CHUNK, min(ci * CHUNK + CHUNK, n), BLOCK):
            m = min(BLOCK, n - lo)
            xb, yb = x[lo:lo + m], y[lo:lo + m]
            values = loss[lo:lo + m] if per_element else scratch_values[:m]
            grads = grad[lo:lo + m] if want_grad else scratch_grads[:m]
            for k in range(m):
                values[k], g = _focal_point(xb[k], yb[k], alpha, use_alpha, gamma, one, tiny_log, shift, down)
                grads[k] = g * scale
            if not per_element:
                for k in range(m):
                    acc += values[k]
        partial[ci] = acc


@njit(**JIT)
def sigmoid_focal_square_kernel(start, stop, x, y, params, loss, partial, grad):
    """:func:`sigmoid_focal` for gamma = 2 (its ``params[1]`` is not read)."""
    n = x.size
    one = x.dtype.type(1)
    alpha, use_alpha, scale = params[0], params[2] != 0, params[3]
    per_element, want_grad = loss.size > 0, grad.size > 0
    scratch_values, scratch_grads = np.empty(BLOCK, x.dtype), np.empty(BLOCK, x.dtype)
    for ci in range(start, stop):
        acc = 0.0
        for lo in range(ci * CHUNK, min(ci * CHUNK + CHUNK, n), BLOCK):
            m = min(BLOCK, n - lo)
            xb, yb = x[lo:lo + m], y[lo:lo + m]
            values = loss[lo:lo + m] if per_element else scratch_values[:m]
            grads = grad[lo:lo + m] if want_grad else scratch_grads[:m]
            for k in range(m):
                values[k], g = _focal_point_square(xb[k], yb[k], alpha, use_alpha, one)
                grads[k] = g * scale
            if not per_element:
                for k in range(m):
                    acc += values[k]
        partial[ci] = acc


@njit(**JIT)
def huber_kernel(start, stop, x, y, params, loss, partial, grad):
    """``params``: (delta, scale)."""
    n = x.size
    half = x.dtype.type(0.5)
    delta, scale = params[0], params[1]
    per_element, want_grad = loss.size > 0, grad.size > 0
    scratch_values, scratch_grads = np.empty(BLOCK, x.dtype), np.empty(BLOCK, x.dtype)
    for ci in range(start, stop):
        acc = 0.0
        for lo in range(ci * CHUNK, min(ci * CHUNK + CHUNK, n), BLOCK):
            m = min(BLOCK, n - lo)
            xb, yb = x[lo:lo + m], y[lo:lo + m]
            values = loss[lo:lo + m] if per_element else scratch_values[:m]
            grads = grad[lo:lo + m] if want_grad else scratch_grads[:m]
            for k in range(m):
                values[k], g = _huber_point(xb[k], yb[k], delta, half)
                grads[k] = g * scale
            if not per_element:
                for k in range(m):
                    acc += values[k]
        partial[ci] = acc


@njit(**JIT)
def mse_kernel(start, stop, x, y, params, loss, partial, grad):
    """(x - y)^2 and 2 (x - y); ``params``: (scale,)."""
    n = x.size
    two_scale = params[0] + params[0]
    per_element, want_grad = loss.size > 0, grad.size > 0
    scratch_values, scratch_grads = np.empty(BLOCK, x.dtype), np.empty(BLOCK, x.dtype)
    for ci in range(start, stop):
        acc = 0.0
        for lo in range(ci * CHUNK, min(ci * CHUNK + CHUNK, n), BLOCK):
            m = min(BLOCK, n - lo)
            xb, yb = x[lo:lo + m], y[lo:lo + m]
            values = loss[lo:lo + m] if per_element else scratch_values[:m]
            grads = grad[lo:lo + m] if want_grad else scratch_grads[:m]
            for k in range(m):
                r = xb[k] - yb[k]
                values[k] = r * r
                grads[k] = two_scale * r  # 2 r / n, as the reference's (r/n) + (r/n)
            if not per_element:
                for k in range(m):
                    acc += values[k]
        partial[ci] = acc


def chunk_size(period: int) -> int:
    """Elements per partial sum: a whole number of ``period``-element blocks."""
    return period * max(1, CHUNK // period)


def pos_weight_tile(pos_weight: np.ndarray, minimum: int = BLOCK) -> np.ndarray:
    """``pos_weight`` (one weight per label) repeated to at least ``minimum``
    elements, so that the kernel's inner loop is long enough to vectorise."""
    return np.ascontiguousarray(np.tile(pos_weight, max(1, -(-minimum // pos_weight.size))))
