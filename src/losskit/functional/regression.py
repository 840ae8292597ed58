"""Regression losses: ``input`` is the prediction, ``target`` the truth.

Every function follows the contract of DESIGN.md:
``name(input, target, *, <parameters>, weight=None, mask=None, reduction="mean")``.
Each pointwise loss has a private ``_<name>_derivatives(raw, target, *, full,
**params)`` returning the per-element gradient and Hessian with respect to the
raw input (the prediction itself, or the log of the mean for the Poisson,
Gamma and Tweedie deviances); the registry exposes them as
``losskit.get(name).gradient`` / ``.hessian``.
"""

from __future__ import annotations

from .. import domains as D
from .._reduce import reduce
from .._validate import check_param, elementwise

__all__ = ["mse", "huber"]


def mse(input, target, *, weight=None, mask=None, reduction="mean"):
    r"""Mean squared error, :math:`\ell = (x - y)^2`.

    Estimates the conditional mean. Matches ``torch.nn.functional.mse_loss``
    and ``sklearn.metrics.mean_squared_error``.

    Args:
        input: predictions, any shape, floating.
        target: truth, the shape of ``input``.
        weight, mask: per-element weights / boolean mask, the shape of ``input``.
        reduction: ``"mean"`` (weighted mean over unmasked elements), ``"sum"`` or ``"none"``.

    >>> import numpy as np, losskit
    >>> float(losskit.mse(np.array([1.0, 2.0]), np.array([1.0, 4.0])))
    2.0
    """
    b = elementwise("mse", input, target, weight=weight, mask=mask, reduction=reduction)
    r = b.input - b.target
    return reduce(b, r * r, reduction)


def _mse_derivatives(raw, target, *, full=False):
    b = elementwise("mse", raw, target, input_name="raw")
    r = b.input - b.target
    return b.out(2.0 * r), b.out(2.0 * b.xp.ones_like(r))


def huber(input, target, *, delta=1.0, weight=None, mask=None, reduction="mean"):
    r"""Huber loss: quadratic for small residuals, linear beyond ``delta``.

    .. math::
        \ell = \tfrac12 r^2 \text{ if } |r| \le \delta,\quad
        \delta\,(|r| - \tfrac12\delta) \text{ otherwise},\qquad r = x - y

    Robust to outliers in the target; its minimiser lies between the mean and
    the median. Matches ``torch.nn.functional.huber_loss(delta=...)``.

    >>> import numpy as np, losskit
    >>> losskit.huber(np.array([0.5, 3.0]), np.zeros(2), delta=1.0, reduction="none").tolist()
    [0.125, 2.5]
    """
    delta = check_param("huber", "delta", delta, D.POSITIVE)
    b = elementwise("huber", input, target, weight=weight, mask=mask, reduction=reduction)
    xp = b.xp
    a = xp.abs(b.input - b.target)
    small = xp.minimum(a, delta)  # quadratic part; the rest is linear
    return reduce(b, small * (a - 0.5 * small), reduction)


def _huber_derivatives(raw, target, *, delta=1.0, full=False):
    delta = check_param("huber", "delta", delta, D.POSITIVE)
    b = elementwise("huber", raw, target, input_name="raw")
    xp = b.xp
    r = b.input - b.target
    inside = xp.abs(r) <= delta
    g = xp.where(inside, r, delta * xp.sign(r))
    h = xp.where(inside, xp.ones_like(r), xp.zeros_like(r))
    return b.out(g), b.out(h)
