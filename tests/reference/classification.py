"""Naive float64 NumPy references for the classification losses.

Written for clarity, one sample (one row of C logits) at a time, with Python
loops; no losskit import. Layout: ``x`` is (N, C, d1, ...) or (C,) with the
class axis 1 (0 for one row); ``y`` integer labels (N, d1, ...) / () or class
probabilities of ``x``'s shape.
"""

from __future__ import annotations

import math

import numpy as np


# -- layout and reduction -------------------------------------------------------


def rows(x, y, *, probabilities=False):
    """(M, C) rows, their labels (M,) or target rows (M, C), and the sample shape."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        xr = x[None, :]
        yr = np.asarray(y, dtype=np.float64)[None, :] if probabilities else np.asarray(y).reshape(1)
        return xr, yr, ()
    C = x.shape[1]
    xr = np.moveaxis(x, 1, -1).reshape(-1, C)
    if probabilities:
        yr = np.moveaxis(np.asarray(y, dtype=np.float64), 1, -1).reshape(-1, C)
    else:
        yr = np.asarray(y).reshape(-1)
    sample_shape = tuple(s for i, s in enumerate(x.shape) if i != 1)
    return xr, yr, sample_shape


def naive_reduce(per, counts, sample_weight, denominator_weight, reduction, sample_shape):
    """``per``: per-sample losses (M,); ``counts``: booleans; weighted mean =
    sum(w * l * counts) / sum(w * d * counts), 0 when nothing counts."""
    M = len(per)
    w = np.ones(M) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64).reshape(-1)
    d = np.ones(M) if denominator_weight is None else np.asarray(denominator_weight, dtype=np.float64)
    contrib = np.zeros(M)
    num = 0.0
    den = 0.0
    for i in range(M):
        if counts[i]:
            contrib[i] = w[i] * per[i]
            num += w[i] * per[i]
            den += w[i] * d[i]
    if reduction == "none":
        return contrib.reshape(sample_shape)
    if reduction == "sum":
        return num
    return num / den if den > 0 else 0.0


def counting(labels, mask, ignore_index):
    keep = []
    m = None if mask is None else np.asarray(mask).reshape(-1)
    for i, label in enumerate(labels):
        ok = label != ignore_index if ignore_index is not None else True
        if m is not None and not m[i]:
            ok = False
        keep.append(bool(ok))
    return keep


def log_softmax_row(z):
    m = max(z)
    total = sum(math.exp(v - m) for v in z)
    return [v - m - math.log(total) for v in z]


# -- per-row losses --------------------------------------------------------------


def ce_row(z, label, class_weight, label_smoothing):
    C = len(z)
    logp = log_softmax_row(z)
    w = [1.0] * C if class_weight is None else list(class_weight)
    loss = -(1 - label_smoothing) * w[label] * logp[label]
    loss += -(label_smoothing / C) * sum(w[c] * logp[c] for c in range(C))
    return loss


def ce_probability_row(z, t, class_weight, label_smoothing):
    C = len(z)
    logp = log_softmax_row(z)
    w = [1.0] * C if class_weight is None else list(class_weight)
    return -sum(w[c] * ((1 - label_smoothing) * t[c] + label_smoothing / C) * logp[c] for c in range(C))


def focal_row(z, label, alpha, gamma):
    p = math.exp(log_softmax_row(z)[label])
    if alpha is None:
        a = 1.0
    elif np.ndim(alpha) == 0:
        a = float(alpha)
    else:
        a = float(alpha[label])
    return -a * (1 - p) ** gamma * math.log(p)


def poly1_row(z, label, epsilon, class_weight, label_smoothing):
    C = len(z)
    p = [math.exp(v) for v in log_softmax_row(z)]
    t = [(1 - label_smoothing) * (c == label) + label_smoothing / C for c in range(C)]
    pt = sum(t[c] * p[c] for c in range(C))
    w = 1.0 if class_weight is None else class_weight[label]
    return ce_row(z, label, class_weight, label_smoothing) + epsilon * w * (1 - pt)


def multi_margin_row(x, label, p, margin, class_weight):
    C = len(x)
    total = 0.0
    for i in range(C):
        if i != label:
            total += max(0.0, margin - x[label] + x[i]) ** p
    w = 1.0 if class_weight is None else class_weight[label]
    return w * total / C


def gce_row(z, label, q):
    p = math.exp(log_softmax_row(z)[label])
    return (1 - p ** q) / q


# -- losses ------------------------------------------------------------------------


def _labelled(row_fn, x, y, *, ignore_index, class_weight, weight, mask, reduction, class_weighted_mean):
    xr, yr, shape = rows(x, y)
    keep = counting(yr, mask, ignore_index)
    per = [row_fn(list(xr[i]), int(yr[i])) if keep[i] else 0.0 for i in range(len(yr))]
    den = None
    if class_weighted_mean and class_weight is not None:
        den = [class_weight[int(label)] if k else 0.0 for label, k in zip(yr, keep)]
    return naive_reduce(per, keep, weight, den, reduction, shape)


def cross_entropy(x, y, *, class_weight=None, ignore_index=-100, label_smoothing=0.0, weight=None, mask=None,
                  reduction="mean"):
    if np.asarray(y).dtype.kind == "f":  # probability targets: the mean divides by the samples
        xr, yr, shape = rows(x, y, probabilities=True)
        keep = counting([0] * len(yr), mask, None)
        per = [ce_probability_row(list(xr[i]), list(yr[i]), class_weight, label_smoothing) for i in range(len(yr))]
        return naive_reduce(per, keep, weight, None, reduction, shape)
    return _labelled(lambda z, label: ce_row(z, label, class_weight, label_smoothing), x, y,
                     ignore_index=ignore_index, class_weight=class_weight, weight=weight, mask=mask,
                     reduction=reduction, class_weighted_mean=True)


def nll(x, y, *, class_weight=None, ignore_index=-100, weight=None, mask=None, reduction="mean"):
    def row(lp, label):
        return -(1.0 if class_weight is None else class_weight[label]) * lp[label]

    return _labelled(row, x, y, ignore_index=ignore_index, class_weight=class_weight, weight=weight, mask=mask,
                     reduction=reduction, class_weighted_mean=True)


def softmax_focal(x, y, *, alpha=None, gamma=2.0, ignore_index=-100, weight=None, mask=None, reduction="mean"):
    return _labelled(lambda z, label: focal_row(z, label, alpha, gamma), x, y, ignore_index=ignore_index,
                     class_weight=None, weight=weight, mask=mask, reduction=reduction, class_weighted_mean=False)


def poly1_cross_entropy(x, y, *, epsilon=1.0, class_weight=None, ignore_index=-100, label_smoothing=0.0,
                        weight=None, mask=None, reduction="mean"):
    return _labelled(lambda z, label: poly1_row(z, label, epsilon, class_weight, label_smoothing), x, y,
                     ignore_index=ignore_index, class_weight=class_weight, weight=weight, mask=mask,
                     reduction=reduction, class_weighted_mean=True)


def multi_margin(x, y, *, p=1, margin=1.0, class_weight=None, ignore_index=-100, weight=None, mask=None,
                 reduction="mean"):
    # PyTorch's mean divides by the samples, not by the class weights.
    return _labelled(lambda z, label: multi_margin_row(z, label, p, margin, class_weight), x, y,
                     ignore_index=ignore_index, class_weight=class_weight, weight=weight, mask=mask,
                     reduction=reduction, class_weighted_mean=False)


def generalized_cross_entropy(x, y, *, q=0.7, ignore_index=-100, weight=None, mask=None, reduction="mean"):
    return _labelled(lambda z, label: gce_row(z, label, q), x, y, ignore_index=ignore_index, class_weight=None,
                     weight=weight, mask=mask, reduction=reduction, class_weighted_mean=False)


REFERENCES = {
    "cross_entropy": cross_entropy,
    "nll": nll,
    "softmax_focal": softmax_focal,
    "poly1_cross_entropy": poly1_cross_entropy,
    "multi_margin": multi_margin,
    "generalized_cross_entropy": generalized_cross_entropy,
}
