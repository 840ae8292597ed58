"""Naive float64 references for the binary losses: one Python loop per element,
written straight from the formulas (math module only), no losskit imports."""

from __future__ import annotations

import math

import numpy as np

from .reduction import reduce


def _elementwise(f, x, y):
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    out = np.empty(x.shape)
    for i in np.ndindex(x.shape):
        out[i] = f(float(x[i]), float(y[i]), i)
    return out


def _log_clamped(v):
    return max(math.log(v), -100.0) if v > 0 else -100.0


def _softplus(z):
    return max(z, 0.0) + math.log1p(math.exp(-abs(z)))


def _sigmoid(z):
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


def binary_cross_entropy(p, y, weight=None, mask=None, reduction="mean"):
    def f(pi, yi, _):
        return -(yi * _log_clamped(pi) + (1.0 - yi) * _log_clamped(1.0 - pi))

    return reduce(_elementwise(f, p, y), reduction, weight, mask)


def binary_cross_entropy_with_logits(x, y, pos_weight=None, label_smoothing=0.0, weight=None, mask=None,
                                     reduction="mean"):
    pw = None if pos_weight is None else np.asarray(pos_weight, dtype=np.float64)

    def f(xi, yi, index):
        ys = yi * (1.0 - label_smoothing) + label_smoothing / 2.0
        c = 1.0 if pw is None else float(pw if pw.ndim == 0 else pw[index[-1]])
        # -[c y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))]
        return c * ys * _softplus(-xi) + (1.0 - ys) * _softplus(xi)

    return reduce(_elementwise(f, x, y), reduction, weight, mask)


def sigmoid_focal(x, y, alpha=0.25, gamma=2.0, weight=None, mask=None, reduction="mean"):
    """torchvision.ops.sigmoid_focal_loss written out (alpha=None: no alpha_t)."""

    def f(xi, yi, _):
        p = _sigmoid(xi)
        ce = yi * _softplus(-xi) + (1.0 - yi) * _softplus(xi)
        one_minus_pt = yi * _sigmoid(-xi) + (1.0 - yi) * p  # = 1 - (p y + (1 - p)(1 - y))
        loss = ce * one_minus_pt**gamma
        if alpha is not None:
            loss *= alpha * yi + (1.0 - alpha) * (1.0 - yi)
        return loss

    return reduce(_elementwise(f, x, y), reduction, weight, mask)


def hinge(x, y, weight=None, mask=None, reduction="mean"):
    return reduce(_elementwise(lambda xi, yi, _: max(0.0, 1.0 - yi * xi), x, y), reduction, weight, mask)


def soft_margin(x, y, weight=None, mask=None, reduction="mean"):
    # log(1 + e^(-m)) written as max(-m, 0) + log1p(e^(-|m|)): no overflow at large margins
    return reduce(_elementwise(lambda xi, yi, _: max(-yi * xi, 0.0) + math.log1p(math.exp(-abs(yi * xi))), x, y),
                  reduction, weight, mask)


def squared_hinge(x, y, weight=None, mask=None, reduction="mean"):
    return reduce(_elementwise(lambda xi, yi, _: max(0.0, 1.0 - yi * xi) ** 2, x, y), reduction, weight, mask)


def hinge_embedding(x, y, margin=1.0, weight=None, mask=None, reduction="mean"):
    def f(xi, yi, _):
        return xi if yi == 1 else max(0.0, margin - xi)

    return reduce(_elementwise(f, x, y), reduction, weight, mask)


def soft_fbeta(p, y, beta=1.0, weight=None, mask=None, reduction="mean"):
    p, y = np.asarray(p, dtype=np.float64), np.asarray(y, dtype=np.float64)
    binary = p.ndim == 1
    if binary:
        p, y = p[:, None], y[:, None]
        weight = None if weight is None else np.asarray(weight)[:, None]
        mask = None if mask is None else np.asarray(mask)[:, None]
    n, labels = p.shape
    out = np.empty(labels)
    for j in range(labels):
        tp = fp = fn = 0.0
        for i in range(n):
            if mask is not None and not mask[i, j]:
                continue
            w = 1.0 if weight is None else float(weight[i, j])
            tp += w * p[i, j] * y[i, j]
            fp += w * p[i, j] * (1.0 - y[i, j])
            fn += w * (1.0 - p[i, j]) * y[i, j]
        den = (1 + beta**2) * tp + beta**2 * fn + fp
        out[j] = 0.0 if den == 0 else 1.0 - (1 + beta**2) * tp / den
    if reduction == "none":
        return out[0] if binary else out
    return float(out.sum()) if reduction == "sum" else float(out.mean())
