"""CPU kernels for the softmax losses: cross-entropy and softmax focal.

One row of logits is read from memory once: a first sweep finds its maximum
(and the label-smoothing sum), a second sums ``exp(z - max)`` while the row
sits in cache, and, where a gradient is wanted, a third writes it. A kernel
works on rows ``start:stop``; :mod:`._threads` shares the rows among threads.
Per row the kernels write the loss
value and the gradient already multiplied by ``scale`` (``1/denominator`` for
the mean), so backward only has to scale it by the incoming gradient.
"""

from __future__ import annotations

import math

from numba import njit

from ._numba import JIT, fast_exp, shifted_difference


@njit(**JIT)
def _row_max(row):
    """The shift for log-sum-exp: the row's maximum, or 0 where that is not
    finite (as the reference math does, so inf logits give the same inf/NaN)."""
    m = row[0]
    for j in range(row.size):
        v = row[j]
        m = v if v > m else m
    return m if m - m == 0 else row.dtype.type(0)


@njit(**JIT)
def _sum_exp(row, m):
    s = row.dtype.type(0)
    for j in range(row.size):
        s += fast_exp(row[j] - m)
    return s


@njit(**JIT)
def _skip_row(i, loss, grad, want_grad):
    """A row that does not count: loss 0 and, where a gradient is wanted, a zero row."""
    loss[i] = 0
    if want_grad:
        grad[i, :] = 0


@njit(**JIT)
def cross_entropy_rows_kernel(start, stop, x, labels, valid, class_weight, smoothing, scale, loss, grad, want_grad):
    """Row ``i``: ``loss[i] = -sum_c a_c log p_c`` with
    ``a = (1-eps) w_y onehot(y) + (eps/C) w``; gradient ``scale (S p - a)``
    with ``S = sum(a)``; 0 (and a zero row) where ``valid[i]`` is False."""
    c = x.shape[1]
    weighted = class_weight.size > 0
    zero, one = x.dtype.type(0), x.dtype.type(1)  # typed constants: a bare 1 would make float32 math float64
    total_w = zero
    if weighted:
        for j in range(c):
            total_w += class_weight[j]
    else:
        total_w = x.dtype.type(c)
    eps_c = smoothing / x.dtype.type(c)
    for i in range(start, stop):
        row = x[i]
        if not valid[i]:
            _skip_row(i, loss, grad, want_grad)
            continue
        y = labels[i]
        m = _row_max(row)
        # -log p_y = log s - (z_y - m), shifted first as the reference does
        s = _sum_exp(row, m)
        log_s = math.log(s)
        w_y = class_weight[y] if weighted else one
        hard = (one - smoothing) * w_y
        loss[i] = hard * shifted_difference(log_s, row[y], m)
        if smoothing != 0:
            shifted = zero  # sum_c w_c (z_c - m)
            if weighted:
                for j in range(c):
                    shifted += class_weight[j] * (row[j] - m)
            else:
                for j in range(c):
                    shifted += row[j] - m
            loss[i] += eps_c * (log_s * total_w - shifted)
        if want_grad:
            g = grad[i]
            coef = scale * (hard + eps_c * total_w) / s  # S p_c = S exp(z_c - m) / s
            if smoothing != 0 and weighted:
                soft = scale * eps_c
                for j in range(c):
                    g[j] = coef * fast_exp(row[j] - m) - soft * class_weight[j]
            else:
                soft = scale * eps_c
                for j in range(c):
                    g[j] = coef * fast_exp(row[j] - m) - soft
            g[y] -= scale * hard


@njit(**JIT)
def softmax_focal_rows_kernel(start, stop, x, labels, valid, alpha, alpha_scalar, gamma, scale, loss, grad, want_grad):
    """Row ``i``: ``loss[i] = -alpha_y (1 - p_y)^gamma log p_y``; gradient
    ``scale alpha_y A (p - onehot(y))`` with ``A = u^gamma (1 - gamma p_y s/u)``,
    ``u = 1 - p_y = -expm1(s)``, ``s = log p_y`` (``s/u -> -1`` as ``u -> 0``)."""
    c = x.shape[1]
    per_class = alpha.size > 0
    zero, one = x.dtype.type(0), x.dtype.type(1)
    for i in range(start, stop):
        row = x[i]
        if not valid[i]:
            _skip_row(i, loss, grad, want_grad)
            continue
        y = labels[i]
        m = _row_max(row)
        s = _sum_exp(row, m)
        log_py = -shifted_difference(math.log(s), row[y], m)
        u = -math.expm1(log_py)
        a_y = alpha_scalar * (alpha[y] if per_class else one)
        if gamma == 0:
            u_g = one
        elif u > 0:
            u_g = u ** gamma
        else:
            u_g = u if u != u else zero  # NaN stays NaN; 0**gamma = 0
        loss[i] = -a_y * u_g * log_py
        if want_grad:
            p_y = math.exp(log_py)
            # gamma = 0 has no focal term (its 0 * p_y log p_y would be NaN at a label logit of -inf)
            ratio = log_py / u if u > 0 else -one
            coef = scale * a_y * u_g * (one - gamma * p_y * ratio) if gamma != 0 else scale * a_y
            g = grad[i]
            k = coef / s
            for j in range(c):
                g[j] = k * fast_exp(row[j] - m)
            g[y] -= coef
