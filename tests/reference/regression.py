"""Naive float64 NumPy references for the regression losses.

Written for clarity, one element at a time with plain ``math``; nothing here
imports losskit. Each ``<name>(x, y, **params)`` returns the per-element loss
(unweighted, unreduced) as a float64 array of the input's shape;
``reduce_ref`` applies weights, mask and reduction the naive way.
"""

from __future__ import annotations

import math

import numpy as np

from .reduction import reduce

EPS64 = float(np.finfo(np.float64).eps)


def _each(f, x, y):
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    out = np.empty(x.shape, dtype=np.float64)
    for i in np.ndindex(x.shape):
        out[i] = f(float(x[i]), float(y[i]))
    return out


def reduce_ref(values, weight=None, mask=None, reduction="mean"):
    return reduce(values, reduction, weight, mask)


def mae(x, y):
    return _each(lambda a, b: abs(a - b), x, y)


def mse(x, y):
    return _each(lambda a, b: (a - b) ** 2, x, y)


def rmse(x, y, weight=None, mask=None):
    return math.sqrt(reduce_ref(mse(x, y), weight, mask, "mean"))


def smooth_l1(x, y, beta=1.0):
    def f(a, b):
        r = abs(a - b)
        if r < beta:
            return 0.5 * r * r / beta
        return r - 0.5 * beta

    return _each(f, x, y)


# sqrt(1 + s) - 1 is written s / (sqrt(1 + s) + 1), the same number without
# the cancellation that would make the reference itself inaccurate for |r| << delta.
def pseudo_huber(x, y, delta=1.0):
    return _each(lambda a, b: (a - b) ** 2 / (math.sqrt(1.0 + ((a - b) / delta) ** 2) + 1.0), x, y)


def charbonnier(x, y, c=1e-3):
    return _each(lambda a, b: (a - b) ** 2 / (math.sqrt((a - b) ** 2 + c**2) + c), x, y)


def log_cosh(x, y):
    return _each(lambda a, b: math.log(math.cosh(a - b)), x, y)


def msle(x, y):
    return _each(lambda a, b: (math.log(1.0 + a) - math.log(1.0 + b)) ** 2, x, y)


def rmsle(x, y, weight=None, mask=None):
    return math.sqrt(reduce_ref(msle(x, y), weight, mask, "mean"))


def mape(x, y):
    return _each(lambda a, b: abs(b - a) / max(abs(b), EPS64), x, y)


def pinball(x, y, quantile=0.5):
    def f(a, b):
        r = b - a
        return quantile * r if r >= 0 else (quantile - 1.0) * r

    return _each(f, x, y)


def pinball_multi(x, y, quantiles):
    """x of shape y.shape + (Q,): level k's loss at x[..., k]."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty(x.shape)
    for k, q in enumerate(quantiles):
        out[..., k] = pinball(x[..., k], y, q)
    return out


def expectile(x, y, expectile=0.5):
    def f(a, b):
        w = (1.0 - expectile) if b < a else expectile
        return w * (b - a) ** 2

    return _each(f, x, y)


def tukey(x, y, c=4.685):
    def f(a, b):
        r = a - b
        if abs(r) <= c:  # c^2/6 (1 - (1 - s)^3) with the cubic expanded (no cancellation for small s)
            s = (r / c) ** 2
            return c * c / 6.0 * s * (3.0 - 3.0 * s + s * s)
        return c * c / 6.0

    return _each(f, x, y)


def cauchy(x, y, c=2.3849):
    return _each(lambda a, b: c * c / 2.0 * math.log1p(((a - b) / c) ** 2), x, y)


def welsch(x, y, c=2.9846):
    return _each(lambda a, b: -c * c / 2.0 * math.expm1(-(((a - b) / c) ** 2)), x, y)


def geman_mcclure(x, y, c=1.0):
    return _each(lambda a, b: 0.5 * (a - b) ** 2 / (1.0 + ((a - b) / c) ** 2), x, y)


def barron(x, y, alpha=1.0, c=1.0):
    def f(a, b):
        z = ((a - b) / c) ** 2
        if alpha == 2.0:
            return 0.5 * z
        if alpha == 0.0:
            return math.log(0.5 * z + 1.0)
        if alpha == -math.inf:
            return 1.0 - math.exp(-0.5 * z)
        beta = abs(alpha - 2.0)
        # beta/alpha ((z/beta + 1)^(alpha/2) - 1), the power written with expm1/log1p (the paper's
        # formula as is loses digits to cancellation for alpha near 0)
        return beta / alpha * math.expm1(alpha / 2.0 * math.log1p(z / beta))

    return _each(f, x, y)


# Per-element (gradient, hessian) with respect to the prediction, from the
# textbook formulas, for the losses with a closed form.
def derivatives(name, x, y, **p):
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    r = x - y
    if name == "mae":
        return np.sign(r), np.zeros_like(r)
    if name == "log_cosh":
        return np.tanh(r), 1.0 / np.cosh(r) ** 2
    if name == "pseudo_huber":
        h = np.sqrt(1 + (r / p.get("delta", 1.0)) ** 2)
        return r / h, 1 / h**3
    if name == "expectile":
        tau = p.get("expectile", 0.5)
        w = np.where(r > 0, 1 - tau, tau)
        return 2 * w * r, 2 * w
    if name == "cauchy":
        c = p.get("c", 2.3849)
        t2 = (r / c) ** 2
        return r / (1 + t2), (1 - t2) / (1 + t2) ** 2
    raise KeyError(name)
