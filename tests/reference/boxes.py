"""Naive float64 references for the box losses (IoU, GIoU, DIoU, CIoU).

One box pair at a time with plain ``math`` and Python floats, written from
the papers' definitions with epsilon where torchvision.ops puts it
(``generalized_box_iou_loss``, ``distance_box_iou_loss``,
``complete_box_iou_loss``); nothing here imports losskit. Boxes are
(x1, y1, x2, y2) on the last axis; ``per_box(f, input, target)`` gives one
value per box and ``REFERENCES[name](input, target, eps=..., weight=...,
mask=..., reduction=...)`` the reduced loss.
"""

from __future__ import annotations

import math

import numpy as np

from .reduction import reduce


def area(b):
    x1, y1, x2, y2 = b
    return (x2 - x1) * (y2 - y1)


def intersection(b, g):
    """Overlap area; 0 unless the boxes overlap with positive width and height."""
    w = min(b[2], g[2]) - max(b[0], g[0])
    h = min(b[3], g[3]) - max(b[1], g[1])
    if w > 0 and h > 0:
        return w * h
    return 0.0


def union(b, g):
    return area(b) + area(g) - intersection(b, g)


def iou(b, g, eps):
    return intersection(b, g) / (union(b, g) + eps)


def enclosing(b, g):
    """The smallest box holding both."""
    return (min(b[0], g[0]), min(b[1], g[1]), max(b[2], g[2]), max(b[3], g[3]))


def centre(b):
    return ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)


def iou_box(b, g, eps):
    return 1.0 - iou(b, g, eps)


def giou_box(b, g, eps):
    c = area(enclosing(b, g))
    return 1.0 - iou(b, g, eps) + (c - union(b, g)) / (c + eps)


def diou_box(b, g, eps):
    c = enclosing(b, g)
    diagonal2 = (c[2] - c[0]) ** 2 + (c[3] - c[1]) ** 2
    (px, py), (gx, gy) = centre(b), centre(g)
    rho2 = (px - gx) ** 2 + (py - gy) ** 2
    return 1.0 - iou(b, g, eps) + rho2 / (diagonal2 + eps)


def aspect_angle(w, h):
    """arctan(w / h); its limit pi/2 at h = 0 < w, and 0 for a point box."""
    if h > 0:
        return math.atan(w / h)
    return math.pi / 2 if w > 0 else 0.0


def aspect_term(b, g):
    """v = 4 / pi^2 (arctan(w_g / h_g) - arctan(w / h))^2."""
    a_g = aspect_angle(g[2] - g[0], g[3] - g[1])
    a_b = aspect_angle(b[2] - b[0], b[3] - b[1])
    return 4.0 / math.pi**2 * (a_g - a_b) ** 2


def ciou_alpha(b, g, eps):
    v = aspect_term(b, g)
    return v / (1.0 - iou(b, g, eps) + v + eps)


def ciou_box(b, g, eps, alpha=None):
    """CIoU; ``alpha`` given freezes the trade-off weight (the gradient of
    the loss with alpha held constant is the derivative of this at fixed alpha)."""
    a = ciou_alpha(b, g, eps) if alpha is None else alpha
    return diou_box(b, g, eps) + a * aspect_term(b, g)


BOX = {"iou_loss": iou_box, "giou_loss": giou_box, "diou_loss": diou_box, "ciou_loss": ciou_box}


def per_box(f, input, target, *args):
    """``f(box, target_box, *args)`` for every box: shape ``input.shape[:-1]``.
    Array arguments in ``args`` (e.g. frozen alphas) are read per box too."""
    p = np.asarray(input, dtype=np.float64)
    t = np.asarray(target, dtype=np.float64)
    out = np.empty(p.shape[:-1], dtype=np.float64)
    for i in np.ndindex(out.shape):
        extra = [a[i] if isinstance(a, np.ndarray) else a for a in args]
        out[i] = f(tuple(float(v) for v in p[i]), tuple(float(v) for v in t[i]), *extra)
    return out


def _reference(name):
    def loss(input, target, *, eps=1e-7, weight=None, mask=None, reduction="mean"):
        return reduce(per_box(BOX[name], input, target, eps), reduction, weight, mask)

    loss.__name__ = name
    return loss


REFERENCES = {name: _reference(name) for name in BOX}
