"""Naive float64 references for the probabilistic losses: one element at a
time, straight from the textbook formulas, with Python's ``math``. Clarity over
speed; losskit is not imported here."""

from __future__ import annotations

import math

import numpy as np

from .reduction import reduce  # noqa: F401  (tests call ref.reduce)


def _each(fn, *arrays):
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    out = np.zeros(arrays[0].shape)
    for idx in np.ndindex(out.shape):
        out[idx] = fn(*(float(a[idx]) for a in arrays))
    return out


def poisson_nll(x, y, *, log_input=True, full=False, eps=1e-8):
    def one(xi, yi):
        if log_input:
            v = math.exp(xi) - yi * xi
        else:
            v = xi - (0.0 if yi == 0 else yi * math.log(xi + eps))
        if full and yi > 1:
            v += yi * math.log(yi) - yi + 0.5 * math.log(2 * math.pi * yi)
        return v

    return _each(one, x, y)


def gamma_deviance(mu, y):
    return _each(lambda m, t: 2 * (math.log(m / t) + t / m - 1), mu, y)


def tweedie_deviance(mu, y, *, power):
    p = power

    def one(m, t):
        if p == 0:
            return (t - m) ** 2
        if p == 1:
            return 2 * ((t * math.log(t / m) if t > 0 else 0.0) - t + m)
        if p == 2:
            return 2 * (math.log(m / t) + t / m - 1)
        first = max(t, 0.0) ** (2 - p) / ((1 - p) * (2 - p))
        return 2 * (first - t * m ** (1 - p) / (1 - p) + m ** (2 - p) / (2 - p))

    return _each(one, mu, y)


def gaussian_nll(x, y, var, *, full=False, eps=1e-6):
    def one(xi, yi, vi):
        v = max(vi, eps)
        out = 0.5 * (math.log(v) + (xi - yi) ** 2 / v)
        return out + (0.5 * math.log(2 * math.pi) if full else 0.0)

    return _each(one, x, y, var)


def normal_cdf(z):
    return 0.5 * math.erfc(-z / math.sqrt(2))


def normal_pdf(z):
    return math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)


def crps_gaussian(mu, y, std):
    def one(m, t, s):
        z = (t - m) / s
        return s * (z * (2 * normal_cdf(z) - 1) + 2 * normal_pdf(z) - 1 / math.sqrt(math.pi))

    return _each(one, mu, y, std)


# -- derivatives with respect to the raw input, by hand ------------------------


def poisson_nll_derivatives(raw, y, *, log_input=True, eps=1e-8):
    """raw = log(mean) in both modes."""
    def grad(r, t):
        m = math.exp(r)
        return m - t if log_input else m - t * m / (m + eps)

    def hess(r, t):
        m = math.exp(r)
        return m if log_input else m - t * m * eps / (m + eps) ** 2

    return _each(grad, raw, y), _each(hess, raw, y)


def tweedie_derivatives(raw, y, *, power):
    """raw = log(mean): d/draw of the unit deviance."""
    p = power
    g = _each(lambda r, t: 2 * (math.exp((2 - p) * r) - t * math.exp((1 - p) * r)), raw, y)
    h = _each(lambda r, t: 2 * ((2 - p) * math.exp((2 - p) * r) - (1 - p) * t * math.exp((1 - p) * r)), raw, y)
    return g, h


