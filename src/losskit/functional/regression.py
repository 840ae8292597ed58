"""Regression losses: ``input`` is the prediction, ``target`` the truth.

Every function follows the contract of DESIGN.md:
``name(input, target, *, <parameters>, weight=None, mask=None, reduction="mean")``.
Each loss is defined once here: ``@loss(...)`` above the function holds its
registry metadata (parameter defaults come from the signature), and the
function marked ``@derivatives_of(<loss>)`` returns the per-element gradient and Hessian with respect to the
raw input (the prediction itself, or the log of the mean for the Poisson,
Gamma and Tweedie deviances); the registry exposes them as
``losskit.get(name).gradient`` / ``.hessian``.
"""

from __future__ import annotations

import dataclasses
import math
import sys


from .. import domains as D
from .._array import (
    array_device,
    inv_1p_sq,
    is_array,
    log1p_sq,
    namespace,
    ratio_1p_sq,
    ratio_at_zero_one,
    safe_sqrt,
    softplus,
    split_at_one,
    sqrt1p_sq,
)
from .._reduce import reduce
from .._validate import check_param, check_reduction, elementwise
from ..kernels import elementwise as fast_elementwise
from ..registry import Param, derivatives_of, loss

__all__ = [
    "mse",
    "huber",
    "mae",
    "l1",
    "rmse",
    "smooth_l1",
    "pseudo_huber",
    "charbonnier",
    "log_cosh",
    "msle",
    "rmsle",
    "mape",
    "pinball",
    "expectile",
    "tukey",
    "cauchy",
    "welsch",
    "geman_mcclure",
    "barron",
]


# -- registry metadata shared by several definitions ---------------------------

_IDENTITY = lambda y: y


_ZHANG = ("Zhang, Z. (1997). Parameter estimation techniques: a tutorial with application to conic "
          "fitting. Image and Vision Computing 15(1), 59-76.")


_HOLLAND_WELSCH = ("Holland, P. W. & Welsch, R. E. (1977). Robust regression using iteratively reweighted "
                   "least-squares. Communications in Statistics - Theory and Methods 6(9), 813-827.")


_M_SCALE = "scale of the residual: rho(r) ~ r^2/2 for |r| << c"


@loss(
    aliases=("l2", "mean_squared_error"),
    task="regression",
    input_space="prediction",
    summary="Squared error; the default for regression with light-tailed noise.",
    estimates="mean",
    peers=("torch.nn.functional.mse_loss", "sklearn.metrics.mean_squared_error"),
    references=("Legendre (1805); Gauss (1809): least squares.",),
)
def mse(input, target, *, weight=None, mask=None, reduction="mean"):
    r"""Mean squared error, :math:`\ell = (x - y)^2`.

    .. math::
        \ell = r^2,\qquad r = x - y

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
    out = fast_elementwise.fused_mse(b, reduction=reduction, reference=lambda z: mse(z, target, reduction=reduction))
    if out is not None:
        return out
    r = b.input - b.target
    return reduce(b, r * r, reduction)


@derivatives_of(mse)
def _mse_derivatives(raw, target, *, full=False):
    b = elementwise("mse", raw, target, input_name="raw")
    r = b.input - b.target
    return b.out(2.0 * r), b.out(2.0 * b.xp.ones_like(r))


@loss(
    task="regression",
    input_space="prediction",
    summary="Quadratic near zero, linear beyond delta: robust to outliers, smooth at zero.",
    estimates="between the mean and the median (a Huber M-estimate)",
    params=(Param("delta", D.POSITIVE, "residual size where the loss turns from quadratic to linear"),),
    robust=True,
    peers=("torch.nn.functional.huber_loss",),
    references=("Huber, P. J. (1964). Robust Estimation of a Location Parameter. Ann. Math. Statist. 35(1).",),
)
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
    out = fast_elementwise.fused_huber(b, delta=delta, reduction=reduction, reference=lambda z: (
        huber(z, target, delta=delta, reduction=reduction)))
    if out is not None:
        return out
    xp = b.xp
    a = xp.abs(b.input - b.target)
    small = xp.minimum(a, delta)  # quadratic part; the rest is linear
    return reduce(b, small * (a - 0.5 * small), reduction)


@derivatives_of(huber)
def _huber_derivatives(raw, target, *, delta, full=False):
    b = elementwise("huber", raw, target, input_name="raw")
    xp = b.xp
    r = b.input - b.target
    inside = xp.abs(r) <= delta
    g = xp.where(inside, r, delta * xp.sign(r))
    h = xp.where(inside, xp.ones_like(r), xp.zeros_like(r))
    return b.out(g), b.out(h)


# -- shared helpers ----------------------------------------------------------

_EPS64 = sys.float_info.epsilon  # float64 machine epsilon, as scikit-learn's MAPE uses


def _aggregate_mean(b, values, reduction, name, per_element):
    """Weighted mean of ``values`` in the compute dtype (no cast back yet)."""
    if reduction != "mean":
        raise ValueError(
            f"{name}: reduction must be 'mean' ({name.upper()} is the square root of a mean, so it has no "
            f"per-element or summed form; use {per_element}(reduction='none') for per-element values); "
            f"received reduction={reduction!r}"
        )
    return reduce(dataclasses.replace(b, out_dtype=b.dtype), values, "mean")


# -- absolute and root-mean-square errors ------------------------------------


@loss(
    aliases=("l1", "mean_absolute_error"),
    task="regression",
    input_space="prediction",
    summary="Absolute error; robust to outliers, estimates the median. Hessian is 0.",
    estimates="median",
    robust=True,
    best_input=_IDENTITY,
    peers=("torch.nn.functional.l1_loss", "sklearn.metrics.mean_absolute_error"),
    references=("Laplace (1774); Koenker & Bassett (1978). Regression Quantiles. Econometrica 46(1).",),
    notes="Zero Hessian everywhere: second-order boosting needs a surrogate Hessian.",
)
def mae(input, target, *, weight=None, mask=None, reduction="mean"):
    r"""Mean absolute error (L1), :math:`\ell = |x - y|`.

    .. math::
        \ell = |r|,\qquad r = x - y

    Estimates the conditional median; robust to outliers in the target. Also
    available as ``losskit.l1``. Matches ``torch.nn.functional.l1_loss`` and
    ``sklearn.metrics.mean_absolute_error`` (with ``sample_weight``).

    Args:
        input: predictions, any shape, floating.
        target: truth, the shape of ``input``.
        weight, mask: per-element weights / boolean mask, the shape of ``input``.
        reduction: ``"mean"`` (weighted mean over unmasked elements), ``"sum"`` or ``"none"``.

    The gradient is :math:`\operatorname{sign}(x - y)` (0 at :math:`x = y`) and
    the Hessian is 0 everywhere (second-order boosting needs a surrogate).

    >>> import numpy as np, losskit
    >>> float(losskit.mae(np.array([1.0, 2.0]), np.array([1.5, 4.0])))
    1.25
    """
    b = elementwise("mae", input, target, weight=weight, mask=mask, reduction=reduction)
    return reduce(b, b.xp.abs(b.input - b.target), reduction)


l1 = mae


@derivatives_of(mae)
def _mae_derivatives(raw, target, *, full=False):
    b = elementwise("mae", raw, target, input_name="raw")
    r = b.input - b.target
    return b.out(b.xp.sign(r)), b.out(b.xp.zeros_like(r))


@loss(
    task="regression",
    input_space="prediction",
    summary="Square root of the (weighted) mean squared error; in the target's units.",
    estimates="mean",
    kind="aggregate",
    best_input=_IDENTITY,
    peers=("sklearn.metrics.root_mean_squared_error",),
    references=("Hyndman, R. J. & Koehler, A. B. (2006). Another look at measures of forecast accuracy. "
                "International Journal of Forecasting 22(4).",),
    notes="Defined on the whole batch: only reduction='mean'; per-element values are mse(reduction='none').",
)
def rmse(input, target, *, weight=None, mask=None, reduction="mean"):
    r"""Root mean squared error, :math:`\sqrt{\sum_i w_i m_i (x_i - y_i)^2 / \sum_i w_i m_i}`.

    .. math::
        \ell = \sqrt{\sum_i w_i m_i r_i^2 / \sum_i w_i m_i},\qquad r = x - y

    An aggregate loss: defined on the whole batch (all elements together, one
    scalar), so only ``reduction="mean"`` exists; for per-element squared
    errors use ``mse(reduction="none")``. Same minimiser as ``mse`` (the
    conditional mean), in the target's units. The square root is taken so that
    its gradient at a perfect prediction is 0 rather than inf. Matches
    ``sklearn.metrics.root_mean_squared_error`` (with ``sample_weight``; for a
    2-D target scikit-learn averages per-column RMSEs, losskit pools all
    elements).

    >>> import numpy as np, losskit
    >>> float(losskit.rmse(np.array([0.0, 0.0]), np.array([1.0, 7.0])))
    5.0
    """
    b = elementwise("rmse", input, target, weight=weight, mask=mask, reduction="mean")
    r = b.input - b.target
    return b.out(safe_sqrt(b.xp, _aggregate_mean(b, r * r, reduction, "rmse", "mse")))


# -- smooth approximations of L1 ----------------------------------------------


@loss(
    task="regression",
    input_space="prediction",
    summary="Fast R-CNN smooth L1: quadratic below beta, then |r| - beta/2 (slope 1); beta=0 is L1.",
    estimates="between the mean and the median (a Huber M-estimate with delta=beta)",
    params=(Param("beta", D.NONNEGATIVE_SCALE, "residual size where the loss turns from quadratic to linear"),),
    robust=True,
    best_input=_IDENTITY,
    param_grid=({"beta": 0.0}, {"beta": 0.1}, {"beta": 5.0}),
    peers=("torch.nn.functional.smooth_l1_loss",),
    references=("Girshick, R. (2015). Fast R-CNN. ICCV.",),
    notes="Equals huber(delta=beta) / beta.",
)
def smooth_l1(input, target, *, beta=1.0, weight=None, mask=None, reduction="mean"):
    r"""Smooth L1 loss (Fast R-CNN form).

    .. math::
        \ell = \frac{r^2}{2\beta} \text{ if } |r| < \beta,\quad
        |r| - \tfrac12\beta \text{ otherwise},\qquad r = x - y

    ``beta >= 0``; ``beta = 0`` is exactly L1. Equals ``huber(delta=beta) / beta``:
    the slope tends to 1 (not ``beta``) for large residuals. Minimiser between
    the mean and the median. Matches ``torch.nn.functional.smooth_l1_loss(beta=...)``.

    Derivatives: gradient :math:`\operatorname{clip}(r/\beta, -1, 1)`, Hessian
    :math:`1/\beta` where :math:`|r| < \beta`, else 0 (0 everywhere for ``beta = 0``).

    >>> import numpy as np, losskit
    >>> losskit.smooth_l1(np.array([0.5, 3.0]), np.zeros(2), beta=1.0, reduction="none").tolist()
    [0.125, 2.5]

    References: Girshick, R. (2015). Fast R-CNN. ICCV.
    """
    beta = check_param("smooth_l1", "beta", beta, D.NONNEGATIVE_SCALE)
    b = elementwise("smooth_l1", input, target, weight=weight, mask=mask, reduction=reduction)
    xp = b.xp
    a = xp.abs(b.input - b.target)
    if beta == 0.0:
        return reduce(b, a, reduction)
    s = xp.minimum(a, beta)
    return reduce(b, (s / beta) * (a - 0.5 * s), reduction)


@derivatives_of(smooth_l1)
def _smooth_l1_derivatives(raw, target, *, beta, full=False):
    b = elementwise("smooth_l1", raw, target, input_name="raw")
    xp = b.xp
    r = b.input - b.target
    if beta == 0.0:
        return b.out(xp.sign(r)), b.out(xp.zeros_like(r))
    a = xp.abs(r)
    g = xp.sign(r) * (xp.minimum(a, beta) / beta)
    h = xp.where(a < beta, xp.full_like(r, 1.0 / beta), xp.zeros_like(r))
    return b.out(g), b.out(h)


@loss(
    task="regression",
    input_space="prediction",
    summary="Smooth Huber: delta^2 (sqrt(1 + (r/delta)^2) - 1); quadratic near 0, ~delta |r| far out.",
    estimates="between the mean and the median (a smooth Huber-type M-estimate)",
    params=(Param("delta", D.SCALE, "residual size where the loss turns from quadratic to linear"),),
    robust=True,
    best_input=_IDENTITY,
    param_grid=({"delta": 0.1}, {"delta": 5.0}),
    peers=("scipy.special.pseudo_huber",),
    references=("Charbonnier, P., Blanc-Feraud, L., Aubert, G. & Barlaud, M. (1997). Deterministic "
                "edge-preserving regularization in computed imaging. IEEE Trans. Image Processing 6(2).",
                "Hartley, R. & Zisserman, A. (2003). Multiple View Geometry, 2nd ed., Appendix 6.8."),
)
def pseudo_huber(input, target, *, delta=1.0, weight=None, mask=None, reduction="mean"):
    r"""Pseudo-Huber loss, :math:`\ell = \delta^2\left(\sqrt{1 + (r/\delta)^2} - 1\right)`, :math:`r = x - y`.

    .. math::
        \ell = \delta^2\left(\sqrt{1 + (r/\delta)^2} - 1\right),\qquad r = x - y

    A smooth Huber: :math:`\approx r^2/2` for :math:`|r| \ll \delta` and
    :math:`\approx \delta |r|` for :math:`|r| \gg \delta`. Computed as
    :math:`|r| \cdot |r| / (1 + \sqrt{1 + (r/\delta)^2})` with an overflow-free
    square root, so it is exact for tiny residuals and finite for tiny or huge
    ``delta``. Minimiser between the mean and the median. Matches
    ``scipy.special.pseudo_huber(delta, r)``.

    Derivatives: gradient :math:`r / h`, Hessian :math:`1 / h^3`, with
    :math:`h = \sqrt{1 + (r/\delta)^2}`.

    >>> import numpy as np, losskit
    >>> round(float(losskit.pseudo_huber(np.array([3.0]), np.array([0.0]), delta=4.0)), 6)
    4.0

    References: Charbonnier et al. (1997); Hartley & Zisserman (2003), Multiple
    View Geometry, Appendix 6.8.
    """
    delta = check_param("pseudo_huber", "delta", delta, D.SCALE)
    b = elementwise("pseudo_huber", input, target, weight=weight, mask=mask, reduction=reduction)
    if delta > b.xp.finfo(b.dtype).max:
        delta = math.inf  # what it becomes in the compute dtype: its limit r^2/2, not inf * 0
    a_s, t_s, a_l, q_l = _pseudo_huber_parts(b.xp, b.xp.abs(b.input - b.target), delta)
    value = a_s * a_s / (1.0 + sqrt1p_sq(b.xp, t_s))
    if math.isfinite(delta):  # delta = inf: every residual is on the near side (the limit r^2/2)
        value = value + a_l * (delta * q_l)
    return reduce(b, value, reduction)


def _pseudo_huber_parts(xp, a, delta: float):
    """Safe pieces of the pseudo-Huber loss for a = |r| >= 0, split at a = delta.

    Near: a_s = a (0 elsewhere) and t_s = a_s / delta <= 1; the loss is
    a_s^2 / (1 + sqrt(1 + t_s^2)) (no cancellation for tiny a). Far: a_l = a
    (0 elsewhere) and q_l = sqrt(1 + u^2) - u with u = delta / a_l <= 1; the
    loss is delta * a_l * q_l. Each piece is 0 on the other side, so the loss
    is their sum (NaN falls on the far side and propagates). No branch forms delta^2, (a / delta)^2 or a
    quotient whose square overflows, so autograd stays exact for tiny and
    huge delta."""
    near = a <= delta
    zero = xp.zeros_like(a)
    a_s = xp.where(near, a, zero)
    a_l = xp.where(near, zero, a)
    one = xp.ones_like(a)
    u = xp.where(near, one, delta / xp.where(near, one, a))
    return a_s, a_s / delta, a_l, xp.sqrt(1.0 + u * u) - u


@derivatives_of(pseudo_huber)
def _pseudo_huber_derivatives(raw, target, *, delta, full=False):
    b = elementwise("pseudo_huber", raw, target, input_name="raw")
    xp = b.xp
    r = b.input - b.target
    ih = 1.0 / sqrt1p_sq(xp, xp.abs(r) / delta)
    return b.out(r * ih), b.out(ih * ih * ih)


@loss(
    task="regression",
    input_space="prediction",
    summary="Smooth L1: sqrt(r^2 + c^2) - c (the -c puts the minimum at 0).",
    estimates="approximately the median (a smooth L1)",
    params=(Param("c", D.SCALE, "smoothing width around r = 0"),),
    robust=True,
    best_input=_IDENTITY,
    param_grid=({"c": 0.1}, {"c": 1.0}),
    references=("Charbonnier, P., Blanc-Feraud, L., Aubert, G. & Barlaud, M. (1997). Deterministic "
                "edge-preserving regularization in computed imaging. IEEE Trans. Image Processing 6(2).",),
    notes="Equals pseudo_huber(delta=c) / c and barron(alpha=1, c=c) * c.",
)
def charbonnier(input, target, *, c=1e-3, weight=None, mask=None, reduction="mean"):
    r"""Charbonnier loss (L1-L2), :math:`\ell = \sqrt{r^2 + \varepsilon^2} - \varepsilon`, :math:`r = x - y`.

    .. math::
        \ell = \sqrt{r^2 + \varepsilon^2} - \varepsilon,\qquad r = x - y

    A smooth L1: :math:`\approx |r|` for :math:`|r| \gg \varepsilon`. The
    constant :math:`\varepsilon` is subtracted so that the minimum is 0 at a
    perfect prediction (some papers omit it; gradients are the same). Equals
    ``pseudo_huber(delta=c) / c``; computed the same overflow-free way.
    Estimates approximately the median.

    Derivatives: gradient :math:`r/\sqrt{r^2+\varepsilon^2}`, Hessian
    :math:`\varepsilon^2/(r^2+\varepsilon^2)^{3/2}`.

    >>> import numpy as np, losskit
    >>> float(losskit.charbonnier(np.array([4.0]), np.array([0.0]), c=3.0))
    2.0

    References: Charbonnier, Blanc-Féraud, Aubert & Barlaud (1997). Deterministic
    edge-preserving regularization in computed imaging. IEEE TIP 6(2).
    """
    c = check_param("charbonnier", "c", c, D.SCALE)
    b = elementwise("charbonnier", input, target, weight=weight, mask=mask, reduction=reduction)
    a_s, t_s, a_l, q_l = _pseudo_huber_parts(b.xp, b.xp.abs(b.input - b.target), c)
    return reduce(b, a_s * t_s / (1.0 + sqrt1p_sq(b.xp, t_s)) + a_l * q_l, reduction)


@derivatives_of(charbonnier)
def _charbonnier_derivatives(raw, target, *, c, full=False):
    b = elementwise("charbonnier", raw, target, input_name="raw")
    xp = b.xp
    r = b.input - b.target
    t = xp.abs(r) / c
    ih = 1.0 / sqrt1p_sq(xp, t)
    return b.out(xp.sign(r) * (t * ih)), b.out((ih * ih * ih) / c)


@loss(
    task="regression",
    input_space="prediction",
    summary="log(cosh(r)): ~r^2/2 near 0, ~|r| - log 2 far out; smooth, convex, robust.",
    estimates="between the mean and the median",
    robust=True,
    best_input=_IDENTITY,
    references=("Saleh, R. A. & Saleh, A. K. Md. E. (2022). Statistical properties of the log-cosh loss "
                "function used in machine learning. arXiv:2208.04564.",),
)
def log_cosh(input, target, *, weight=None, mask=None, reduction="mean"):
    r"""Log-cosh loss, :math:`\ell = \log\cosh(x - y)`.

    .. math::
        \ell = \log(\cosh r),\qquad r = x - y

    :math:`\approx r^2/2` for small residuals, :math:`\approx |r| - \log 2`
    for large. Computed as :math:`\log(1 + 2\sinh^2(r/2))` for :math:`|r| \le 1`
    (accurate for tiny residuals) and :math:`|r| + \operatorname{softplus}(-2|r|) - \log 2`
    otherwise (finite for :math:`|r|` up to the dtype's range). Minimiser
    between the mean and the median.

    Derivatives: gradient :math:`\tanh r`, Hessian :math:`\operatorname{sech}^2 r`.

    >>> import numpy as np, losskit
    >>> round(float(losskit.log_cosh(np.array([1e4]), np.array([0.0]))), 4)
    9999.3069
    """
    b = elementwise("log_cosh", input, target, weight=weight, mask=mask, reduction=reduction)
    xp = b.xp
    r = b.input - b.target
    a = xp.abs(r)
    small = a <= 1.0
    sh = xp.sinh(0.5 * xp.where(small, a, xp.zeros_like(a)))
    al = xp.where(small, xp.ones_like(a), a)
    value = xp.where(small, xp.log1p(2.0 * sh * sh), al + softplus(xp, -2.0 * al) - math.log(2.0))
    return reduce(b, value, reduction)


@derivatives_of(log_cosh)
def _log_cosh_derivatives(raw, target, *, full=False):
    b = elementwise("log_cosh", raw, target, input_name="raw")
    xp = b.xp
    r = b.input - b.target
    e = xp.exp(-2.0 * xp.abs(r))
    return b.out(xp.tanh(r)), b.out(4.0 * e / ((1.0 + e) * (1.0 + e)))


# -- logarithmic and relative errors -----------------------------------------


@loss(
    aliases=("mean_squared_log_error",),
    task="positive",
    input_space="prediction",
    summary="Squared error of log(1 + x): relative errors, under-prediction penalised more.",
    estimates="exp(mean(log(1 + y))) - 1 (a geometric-type mean)",
    input_domain=D.GREATER_THAN_MINUS_ONE,
    target_domain=D.GREATER_THAN_MINUS_ONE,
    raw_domain=D.GREATER_THAN_MINUS_ONE,
    convex=False,
    hessian_nonnegative=False,
    best_input=_IDENTITY,
    peers=("sklearn.metrics.mean_squared_log_error",),
    references=("Hyndman, R. J. & Koehler, A. B. (2006). Another look at measures of forecast accuracy. "
                "International Journal of Forecasting 22(4).",),
    notes="Not convex in the prediction: the Hessian 2(1 - d)/(1 + x)^2 is negative where "
          "d = log1p(x) - log1p(y) > 1. Equivalent to mse on log1p-transformed predictions.",
)
def msle(input, target, *, weight=None, mask=None, reduction="mean"):
    r"""Mean squared logarithmic error, :math:`\ell = (\log(1 + x) - \log(1 + y))^2`.

    .. math::
        \ell = \left(\log(1 + x) - \log(1 + y)\right)^2

    ``input`` and ``target`` must be > -1 (usually both are non-negative:
    counts, prices). Penalises relative rather than absolute errors, and
    under-prediction more than over-prediction. The minimiser is
    :math:`\exp(\mathbb{E}[\log(1+y)]) - 1`, a geometric-type mean. Matches
    ``sklearn.metrics.mean_squared_log_error``. Not convex in ``input``: its
    Hessian :math:`2(1 - d)/(1+x)^2`, :math:`d = \log(1+x) - \log(1+y)`, is
    negative where :math:`d > 1`.

    >>> import numpy as np, losskit
    >>> round(float(losskit.msle(np.array([np.e - 1.0]), np.array([0.0]))), 12)
    1.0
    """
    b = elementwise("msle", input, target, weight=weight, mask=mask, reduction=reduction,
                    input_domain=D.GREATER_THAN_MINUS_ONE, target_domain=D.GREATER_THAN_MINUS_ONE)
    xp = b.xp
    d = xp.log1p(b.input) - xp.log1p(b.target)
    return reduce(b, d * d, reduction)


@derivatives_of(msle)
def _msle_derivatives(raw, target, *, full=False):
    b = elementwise("msle", raw, target, input_name="raw",
                    input_domain=D.GREATER_THAN_MINUS_ONE, target_domain=D.GREATER_THAN_MINUS_ONE)
    xp = b.xp
    d = xp.log1p(b.input) - xp.log1p(b.target)
    inv = 1.0 / (1.0 + b.input)
    return b.out(2.0 * d * inv), b.out(2.0 * (1.0 - d) * inv * inv)


@loss(
    task="positive",
    input_space="prediction",
    summary="Square root of the mean squared log error.",
    estimates="exp(mean(log(1 + y))) - 1 (a geometric-type mean)",
    input_domain=D.GREATER_THAN_MINUS_ONE,
    target_domain=D.GREATER_THAN_MINUS_ONE,
    raw_domain=D.GREATER_THAN_MINUS_ONE,
    kind="aggregate",
    convex=False,
    hessian_nonnegative=False,
    best_input=_IDENTITY,
    peers=("sklearn.metrics.root_mean_squared_log_error",),
    references=("Hyndman, R. J. & Koehler, A. B. (2006). Another look at measures of forecast accuracy. "
                "International Journal of Forecasting 22(4).",),
    notes="Defined on the whole batch: only reduction='mean'; per-element values are msle(reduction='none').",
)
def rmsle(input, target, *, weight=None, mask=None, reduction="mean"):
    r"""Root mean squared logarithmic error, :math:`\sqrt{\operatorname{mean}\,(\log(1+x) - \log(1+y))^2}`.

    .. math::
        \ell = \sqrt{\sum_i w_i m_i d_i^2 / \sum_i w_i m_i},\qquad d = \log(1 + x) - \log(1 + y)

    An aggregate loss like ``rmse`` (only ``reduction="mean"``; per-element
    values are ``msle(reduction="none")``); ``input`` and ``target`` > -1.
    Matches ``sklearn.metrics.root_mean_squared_log_error`` (with ``sample_weight``).

    >>> import numpy as np, losskit
    >>> round(float(losskit.rmsle(np.array([np.e - 1.0, 0.0]), np.array([0.0, 0.0]))) ** 2, 12)
    0.5
    """
    b = elementwise("rmsle", input, target, weight=weight, mask=mask, reduction="mean",
                    input_domain=D.GREATER_THAN_MINUS_ONE, target_domain=D.GREATER_THAN_MINUS_ONE)
    xp = b.xp
    d = xp.log1p(b.input) - xp.log1p(b.target)
    return b.out(safe_sqrt(xp, _aggregate_mean(b, d * d, reduction, "rmsle", "msle")))


@loss(
    aliases=("mean_absolute_percentage_error",),
    task="regression",
    input_space="prediction",
    summary="Absolute error relative to |target| (a fraction, not percent); explodes near y = 0.",
    estimates="a weighted median with weights 1/|y| (biased towards small predictions)",
    best_input=_IDENTITY,
    peers=("sklearn.metrics.mean_absolute_percentage_error",),
    references=("Hyndman, R. J. & Koehler, A. B. (2006). Another look at measures of forecast accuracy. "
                "International Journal of Forecasting 22(4).",
                "de Myttenaere, A., Golden, B., Le Grand, B. & Rossi, F. (2016). Mean Absolute Percentage "
                "Error for regression models. Neurocomputing 192."),
    notes="|y| is floored at float64 machine epsilon, as in scikit-learn. Zero Hessian everywhere.",
)
def mape(input, target, *, weight=None, mask=None, reduction="mean"):
    r"""Mean absolute percentage error, :math:`\ell = |y - x| / \max(|y|, \epsilon)`.

    .. math::
        \ell = \frac{|y - x|}{\max(|y|, \epsilon)}

    :math:`\epsilon` is float64's machine epsilon (2.2e-16), as in scikit-learn,
    so a zero target gives a huge but finite loss. The value is a fraction,
    not a percentage (0.1 means 10 %). Matches
    ``sklearn.metrics.mean_absolute_percentage_error`` (with ``sample_weight``).
    Its minimiser is a weighted median with weights :math:`1/|y|`, which is
    biased towards small predictions.

    Derivatives: gradient :math:`\operatorname{sign}(x - y)/\max(|y|, \epsilon)`, Hessian 0.

    >>> import numpy as np, losskit
    >>> float(losskit.mape(np.array([90.0, 110.0]), np.array([100.0, 100.0])))
    0.1
    """
    b = elementwise("mape", input, target, weight=weight, mask=mask, reduction=reduction)
    xp = b.xp
    return reduce(b, xp.abs(b.target - b.input) / xp.maximum(xp.abs(b.target), _EPS64), reduction)


@derivatives_of(mape)
def _mape_derivatives(raw, target, *, full=False):
    b = elementwise("mape", raw, target, input_name="raw")
    xp = b.xp
    r = b.input - b.target
    return b.out(xp.sign(r) / xp.maximum(xp.abs(b.target), _EPS64)), b.out(xp.zeros_like(r))


# -- asymmetric losses: quantiles and expectiles -----------------------------


def _quantile_levels(loss, name, value):
    """A scalar level in (0, 1) (returned as a float) or a non-empty 1-D
    sequence/array of them (returned as a tuple of floats)."""
    if is_array(value):
        if value.ndim == 0:
            return check_param(loss, name, float(value), D.OPEN_UNIT)
        if value.ndim != 1:
            raise ValueError(
                f"{loss}: {name} must be a number in (0, 1) or a 1-D sequence of them; "
                f"received an array of shape {tuple(value.shape)}"
            )
        value = [float(value[i]) for i in range(value.shape[0])]
    if isinstance(value, (list, tuple)):
        if len(value) == 0:
            raise ValueError(f"{loss}: {name} must be a number in (0, 1) or a non-empty 1-D sequence of them; received []")
        return tuple(check_param(loss, name, v, D.OPEN_UNIT) for v in value)
    return check_param(loss, name, value, D.OPEN_UNIT)


def _quantile_batch(loss, input, target, levels, *, weight=None, mask=None, reduction="mean", input_name="input"):
    """The batch for one level (input and target of one shape) or for Q levels
    (input of shape ``target.shape + (Q,)``, target repeated along the last
    axis, weight and mask of the input's shape); and the levels as a float or
    a (Q,) array."""
    if isinstance(levels, float):
        b = elementwise(loss, input, target, weight=weight, mask=mask, reduction=reduction, input_name=input_name)
        return b, levels
    check_reduction(loss, reduction)
    xp, arrays = namespace(loss, {input_name: input, "target": target, "weight": weight, "mask": mask})
    x, y = arrays[input_name], arrays["target"]
    expected = (*tuple(y.shape), len(levels))
    if tuple(x.shape) != expected:
        raise ValueError(
            f"{loss}: {input_name} must have shape target.shape + (Q,) = {expected} when quantile holds "
            f"Q={len(levels)} levels (one prediction per level on the last axis); received shape {tuple(x.shape)}"
        )
    y = xp.broadcast_to(xp.expand_dims(y, axis=-1), expected)
    b = elementwise(loss, x, y, weight=arrays["weight"], mask=arrays["mask"], reduction=reduction, input_name=input_name)
    q = xp.asarray(levels, dtype=b.dtype, device=array_device(b.input))
    return b, q


@loss(
    aliases=("quantile", "mean_pinball_loss"),
    task="quantile",
    input_space="prediction",
    summary="Quantile (pinball) loss; several quantile levels at once with input of shape target.shape + (Q,).",
    estimates="quantile (the quantile-level conditional quantile)",
    params=(Param("quantile", D.OPEN_UNIT,
                  "quantile level in (0, 1), or a 1-D sequence of Q levels (input then has a trailing axis of Q)",
                  kind="real_or_array"),),
    robust=True,
    best_input=_IDENTITY,
    param_grid=({"quantile": 0.1}, {"quantile": 0.9}, {"quantile": [0.1, 0.5, 0.9]}),
    peers=("sklearn.metrics.mean_pinball_loss",),
    references=("Koenker, R. & Bassett, G. (1978). Regression Quantiles. Econometrica 46(1).",),
    notes="Gradient 1{x > y} - quantile, choosing -quantile at x == y; Hessian 0.",
)
def pinball(input, target, *, quantile=0.5, weight=None, mask=None, reduction="mean"):
    r"""Pinball (quantile) loss, :math:`\ell = \max(q\,r,\ (q - 1)\,r)`, :math:`r = y - x`.

    .. math::
        \ell = q\,r \text{ if } r \ge 0,\quad (q - 1)\,r \text{ otherwise},\qquad r = y - x,\quad q = \mathrm{quantile}

    Its minimiser is the conditional ``quantile``-quantile of the target
    (``quantile=0.5`` gives half the absolute error, the median). Matches
    ``sklearn.metrics.mean_pinball_loss(alpha=quantile)``.

    Several levels at once: ``quantile`` may be a non-empty 1-D sequence or
    array of Q levels, each in (0, 1). Then ``input`` must have shape
    ``target.shape + (Q,)`` (the prediction for level ``quantile[k]`` at
    ``input[..., k]``), the target is compared with every level's prediction,
    ``weight`` and ``mask`` have the shape of ``input``, ``"none"`` returns that
    shape and ``"mean"`` averages over the elements and the levels.

    Derivatives: gradient :math:`\mathbb{1}\{x > y\} - q` (at :math:`x = y` the
    subgradient :math:`-q` is chosen, the derivative from the side
    :math:`x < y`; autograd of losskit's formula gives the same), Hessian 0.

    >>> import numpy as np, losskit
    >>> losskit.pinball(np.array([0.0, 2.0]), np.array([1.0, 1.0]), quantile=0.9, reduction="none").tolist()
    [0.9, 0.09999999999999998]
    >>> losskit.pinball(np.array([[0.0, 1.0, 2.0]]), np.array([1.0]), quantile=[0.1, 0.5, 0.9], reduction="none").round(3).tolist()
    [[0.1, 0.0, 0.1]]

    References: Koenker, R. & Bassett, G. (1978). Regression Quantiles. Econometrica 46(1).
    """
    levels = _quantile_levels("pinball", "quantile", quantile)
    b, q = _quantile_batch("pinball", input, target, levels, weight=weight, mask=mask, reduction=reduction)
    r = b.target - b.input
    return reduce(b, b.xp.where(r >= 0, q * r, (q - 1.0) * r), reduction)


@derivatives_of(pinball)
def _pinball_derivatives(raw, target, *, quantile, full=False):
    levels = _quantile_levels("pinball", "quantile", quantile)
    b, q = _quantile_batch("pinball", raw, target, levels, input_name="raw")
    xp = b.xp
    above = xp.astype(b.input > b.target, b.dtype)
    return b.out(above - q), b.out(xp.zeros_like(b.input))


@loss(
    task="quantile",
    input_space="prediction",
    summary="Asymmetric squared error |e - 1{y < x}| (y - x)^2 at level e = expectile; 0.5 is half the squared error.",
    estimates="expectile (at the given level; 0.5: the mean)",
    params=(Param("expectile", D.OPEN_UNIT, "expectile level in (0, 1)"),),
    best_input=_IDENTITY,
    param_grid=({"expectile": 0.1}, {"expectile": 0.9}),
    references=("Newey, W. K. & Powell, J. L. (1987). Asymmetric Least Squares Estimation and Testing. "
                "Econometrica 55(4).",),
)
def expectile(input, target, *, expectile=0.5, weight=None, mask=None, reduction="mean"):
    r"""Expectile (asymmetric least squares) loss, :math:`\ell = |\tau - \mathbb{1}\{y < x\}|\,(y - x)^2`.

    .. math::
        \ell = \tau\,r^2 \text{ if } r \ge 0,\quad (1 - \tau)\,r^2 \text{ otherwise},\qquad r = y - x

    Its minimiser is the conditional :math:`\tau`-expectile of the target
    (``expectile=0.5``: the mean, and the loss is half the squared error). The
    squared-error analogue of the pinball loss; ``expectile`` in (0, 1).

    Derivatives: gradient :math:`2 w (x - y)`, Hessian :math:`2 w`, with
    :math:`w = 1 - \tau` if :math:`x > y` else :math:`\tau`.

    >>> import numpy as np, losskit
    >>> losskit.expectile(np.array([0.0, 2.0]), np.array([1.0, 1.0]), expectile=0.8, reduction="none").round(6).tolist()
    [0.8, 0.2]

    References: Newey, W. K. & Powell, J. L. (1987). Asymmetric Least Squares
    Estimation and Testing. Econometrica 55(4).
    """
    expectile = check_param("expectile", "expectile", expectile, D.OPEN_UNIT)
    b = elementwise("expectile", input, target, weight=weight, mask=mask, reduction=reduction)
    xp = b.xp
    r = b.target - b.input
    w = xp.where(r < 0, xp.full_like(r, 1.0 - expectile), xp.full_like(r, expectile))
    return reduce(b, w * (r * r), reduction)


@derivatives_of(expectile)
def _expectile_derivatives(raw, target, *, expectile, full=False):
    b = elementwise("expectile", raw, target, input_name="raw")
    xp = b.xp
    r = b.input - b.target
    w = xp.where(r > 0, xp.full_like(r, 1.0 - expectile), xp.full_like(r, expectile))
    return b.out(2.0 * w * r), b.out(2.0 * w)


# -- robust M-estimators -----------------------------------------------------
# Each is normalised so that rho(r) ~ r^2 / 2 for |r| << c, and computed as
# r^2 / 2 * K(|r| / c) with K bounded, so that neither a tiny nor a huge c
# overflows (no c^2 and no (r / c)^2 is ever formed for large r / c).


@loss(
    aliases=("tukey_biweight", "bisquare"),
    task="regression",
    input_space="prediction",
    summary="Tukey's biweight: redescending, constant beyond c, so gross outliers have no influence.",
    estimates="location by a redescending M-estimate (mode-seeking; ignores gross outliers)",
    params=(Param("c", D.SCALE, _M_SCALE + "; 4.685: 95 % Gaussian efficiency"),),
    robust=True,
    convex=False,
    hessian_nonnegative=False,
    best_input=_IDENTITY,
    param_grid=({"c": 1.0}, {"c": 10.0}),
    references=("Beaton, A. E. & Tukey, J. W. (1974). The fitting of power series, meaning polynomials, "
                "illustrated on band-spectroscopic data. Technometrics 16(2).", _HOLLAND_WELSCH, _ZHANG),
    notes="Non-convex: start from a robust fit (e.g. the median). Hessian (1-s)(1-5s), s = (r/c)^2.",
)
def tukey(input, target, *, c=4.685, weight=None, mask=None, reduction="mean"):
    r"""Tukey's biweight (bisquare) loss, redescending.

    .. math::
        \rho(r) = \frac{c^2}{6}\left(1 - \left(1 - (r/c)^2\right)^3\right) \text{ if } |r| \le c,
        \quad \frac{c^2}{6} \text{ otherwise},\qquad r = x - y

    Normalised so that :math:`\rho(r) \approx r^2/2` for small :math:`r`;
    residuals beyond ``c`` have zero influence. ``c > 0``; the default 4.685
    gives 95 % asymptotic efficiency under Gaussian noise. Not convex (the
    Hessian :math:`(1 - s)(1 - 5s)`, :math:`s = (r/c)^2`, is negative for
    :math:`c/\sqrt5 < |r| < c`): start from a good fit (e.g. the median).
    Estimates a location that ignores gross outliers (mode-seeking).

    >>> import numpy as np, losskit
    >>> losskit.tukey(np.array([0.0, 10.0]), np.array([0.0, 0.0]), c=3.0, reduction="none").tolist()
    [0.0, 1.5]

    References: Beaton, A. E. & Tukey, J. W. (1974). The fitting of power series,
    meaning polynomials, illustrated on band-spectroscopic data. Technometrics
    16(2). Holland, P. W. & Welsch, R. E. (1977). Robust regression using
    iteratively reweighted least-squares. Comm. Statist. 6(9). Zhang, Z. (1997).
    Parameter estimation techniques: a tutorial with application to conic
    fitting. Image Vision Comput. 15(1).
    """
    c = check_param("tukey", "c", c, D.SCALE)
    b = elementwise("tukey", input, target, weight=weight, mask=mask, reduction=reduction)
    xp = b.xp
    a = xp.minimum(xp.abs(b.input - b.target), c)  # beyond c the loss is flat
    q = a / c
    s = q * q
    return reduce(b, (a * a) * (3.0 - 3.0 * s + s * s) / 6.0, reduction)


@derivatives_of(tukey)
def _tukey_derivatives(raw, target, *, c, full=False):
    b = elementwise("tukey", raw, target, input_name="raw")
    xp = b.xp
    r = b.input - b.target
    q = xp.minimum(xp.abs(r), c) / c
    s = q * q
    return b.out(r * (1.0 - s) * (1.0 - s)), b.out((1.0 - s) * (1.0 - 5.0 * s))


@loss(
    aliases=("lorentzian",),
    task="regression",
    input_space="prediction",
    summary="Cauchy/Lorentzian: (c^2/2) log(1 + (r/c)^2); grows logarithmically, redescending influence.",
    estimates="location by a redescending M-estimate (mode-seeking; ignores gross outliers)",
    params=(Param("c", D.SCALE, _M_SCALE + "; 2.3849: 95 % Gaussian efficiency"),),
    robust=True,
    convex=False,
    hessian_nonnegative=False,
    best_input=_IDENTITY,
    param_grid=({"c": 0.5}, {"c": 10.0}),
    references=(_HOLLAND_WELSCH, _ZHANG),
)
def cauchy(input, target, *, c=2.3849, weight=None, mask=None, reduction="mean"):
    r"""Cauchy (Lorentzian) loss, :math:`\rho(r) = \frac{c^2}{2}\log\left(1 + (r/c)^2\right)`, :math:`r = x - y`.

    .. math::
        \rho(r) = \frac{c^2}{2}\log\left(1 + (r/c)^2\right),\qquad r = x - y

    Normalised so that :math:`\rho(r) \approx r^2/2` for small :math:`r`;
    grows only logarithmically, so outliers have vanishing influence
    (redescending :math:`\psi(r) = r/(1 + (r/c)^2)`). ``c > 0``; the default
    2.3849 gives 95 % asymptotic efficiency under Gaussian noise. Not convex:
    the Hessian :math:`(1 - t^2)/(1 + t^2)^2`, :math:`t = r/c`, is negative for
    :math:`|r| > c`. Computed without forming :math:`c^2` or :math:`(r/c)^2`,
    so tiny and huge ``c`` are safe. Estimates a location that ignores gross
    outliers (mode-seeking).

    >>> import numpy as np, losskit
    >>> round(float(losskit.cauchy(np.array([2.0]), np.array([0.0]), c=2.0)), 6)  # 2 log 2
    1.386294

    References: Holland & Welsch (1977), Comm. Statist. 6(9); Zhang, Z. (1997).
    Parameter estimation techniques: a tutorial with application to conic
    fitting. Image Vision Comput. 15(1); Black & Anandan (1996), CVIU 63(1).
    """
    c = check_param("cauchy", "c", c, D.SCALE)
    b = elementwise("cauchy", input, target, weight=weight, mask=mask, reduction=reduction)
    xp = b.xp
    r = b.input - b.target
    small, ts, tl, u = split_at_one(xp, xp.abs(r) / c)
    k_small = ratio_at_zero_one(xp, xp.log1p, ts * ts)
    k_large = (2.0 * xp.log(tl) + xp.log1p(u * u)) * (u * u)
    return reduce(b, 0.5 * (r * r) * xp.where(small, k_small, k_large), reduction)


@derivatives_of(cauchy)
def _cauchy_derivatives(raw, target, *, c, full=False):
    b = elementwise("cauchy", raw, target, input_name="raw")
    xp = b.xp
    r = b.input - b.target
    t = xp.abs(r) / c
    d = inv_1p_sq(xp, t)
    return b.out(r * d), b.out(d * ratio_1p_sq(xp, t, -1.0))


@loss(
    aliases=("leclerc",),
    task="regression",
    input_space="prediction",
    summary="Welsch/Leclerc: (c^2/2)(1 - exp(-(r/c)^2)); bounded, exponentially vanishing influence.",
    estimates="location by a redescending M-estimate (mode-seeking; ignores gross outliers)",
    params=(Param("c", D.SCALE, _M_SCALE + "; 2.9846: 95 % Gaussian efficiency"),),
    robust=True,
    convex=False,
    hessian_nonnegative=False,
    best_input=_IDENTITY,
    param_grid=({"c": 0.5}, {"c": 10.0}),
    references=("Dennis, J. E. & Welsch, R. E. (1978). Techniques for nonlinear least squares and robust "
                "regression. Communications in Statistics - Simulation and Computation 7(4).",
                _HOLLAND_WELSCH, _ZHANG),
)
def welsch(input, target, *, c=2.9846, weight=None, mask=None, reduction="mean"):
    r"""Welsch (Leclerc) loss, :math:`\rho(r) = \frac{c^2}{2}\left(1 - e^{-(r/c)^2}\right)`, :math:`r = x - y`.

    .. math::
        \rho(r) = \frac{c^2}{2}\left(1 - \exp(-(r/c)^2)\right),\qquad r = x - y

    Normalised so that :math:`\rho(r) \approx r^2/2` for small :math:`r`;
    bounded by :math:`c^2/2`, so outliers have (exponentially) vanishing
    influence. ``c > 0``; the default 2.9846 gives 95 % asymptotic efficiency
    under Gaussian noise. Not convex: the Hessian
    :math:`e^{-t^2}(1 - 2t^2)`, :math:`t = r/c`, is negative for
    :math:`|r| > c/\sqrt2`. Estimates a location that ignores gross outliers
    (mode-seeking).

    >>> import numpy as np, losskit
    >>> losskit.welsch(np.array([0.0, 1e4]), np.array([0.0, 0.0]), c=2.0, reduction="none").tolist()
    [0.0, 2.0]

    References: Dennis, J. E. & Welsch, R. E. (1978). Techniques for nonlinear
    least squares and robust regression. Comm. Statist. B 7(4). Holland &
    Welsch (1977); Zhang, Z. (1997). Parameter estimation techniques: a
    tutorial with application to conic fitting. Image Vision Comput. 15(1).
    """
    c = check_param("welsch", "c", c, D.SCALE)
    b = elementwise("welsch", input, target, weight=weight, mask=mask, reduction=reduction)
    xp = b.xp
    r = b.input - b.target
    small, ts, tl, u = split_at_one(xp, xp.abs(r) / c)
    k_small = ratio_at_zero_one(xp, lambda v: -xp.expm1(-v), ts * ts)
    tc = xp.minimum(tl, 40.0)  # exp(-1600) is 0 in every dtype
    k_large = -xp.expm1(-(tc * tc)) * (u * u)
    return reduce(b, 0.5 * (r * r) * xp.where(small, k_small, k_large), reduction)


@derivatives_of(welsch)
def _welsch_derivatives(raw, target, *, c, full=False):
    b = elementwise("welsch", raw, target, input_name="raw")
    xp = b.xp
    r = b.input - b.target
    tc = xp.minimum(xp.abs(r) / c, 40.0)
    s = tc * tc
    e = xp.exp(-s)
    return b.out(r * e), b.out(e * (1.0 - 2.0 * s))


@loss(
    task="regression",
    input_space="prediction",
    summary="Geman-McClure: (r^2/2) / (1 + (r/c)^2); bounded by c^2/2, redescending.",
    estimates="location by a redescending M-estimate (mode-seeking; ignores gross outliers)",
    params=(Param("c", D.SCALE, _M_SCALE),),
    robust=True,
    convex=False,
    hessian_nonnegative=False,
    best_input=_IDENTITY,
    param_grid=({"c": 0.5}, {"c": 10.0}),
    references=("Geman, S. & McClure, D. E. (1987). Statistical methods for tomographic image "
                "reconstruction. Bulletin of the International Statistical Institute 52(4).", _ZHANG),
)
def geman_mcclure(input, target, *, c=1.0, weight=None, mask=None, reduction="mean"):
    r"""Geman-McClure loss, :math:`\rho(r) = \frac{r^2/2}{1 + (r/c)^2}`, :math:`r = x - y`.

    .. math::
        \rho(r) = \frac{r^2/2}{1 + (r/c)^2},\qquad r = x - y

    Normalised so that :math:`\rho(r) \approx r^2/2` for small :math:`r`;
    bounded by :math:`c^2/2`. ``c > 0``. Gradient :math:`r/(1+t^2)^2` and
    Hessian :math:`(1 - 3t^2)/(1 + t^2)^3`, :math:`t = r/c`: not convex
    (negative for :math:`|r| > c/\sqrt3`). Estimates a location that ignores
    gross outliers (mode-seeking).

    >>> import numpy as np, losskit
    >>> float(losskit.geman_mcclure(np.array([1.0]), np.array([0.0]), c=1.0))
    0.25

    References: Geman, S. & McClure, D. E. (1987). Statistical methods for
    tomographic image reconstruction. Bull. Int. Statist. Inst. 52(4). Zhang,
    Z. (1997). Parameter estimation techniques: a tutorial with application to
    conic fitting. Image Vision Comput. 15(1).
    """
    c = check_param("geman_mcclure", "c", c, D.SCALE)
    b = elementwise("geman_mcclure", input, target, weight=weight, mask=mask, reduction=reduction)
    xp = b.xp
    r = b.input - b.target
    return reduce(b, 0.5 * (r * r) * inv_1p_sq(xp, xp.abs(r) / c), reduction)


@derivatives_of(geman_mcclure)
def _geman_mcclure_derivatives(raw, target, *, c, full=False):
    b = elementwise("geman_mcclure", raw, target, input_name="raw")
    xp = b.xp
    r = b.input - b.target
    t = xp.abs(r) / c
    d = inv_1p_sq(xp, t)
    return b.out(r * d * d), b.out(d * d * ratio_1p_sq(xp, t, -3.0))


# -- Barron's general robust loss --------------------------------------------

# A real number up to BIG, or -inf (the Welsch limit).
_ALPHA_DOMAIN = D.Interval(-math.inf, D.BIG, finite=False)
# |alpha| below this is evaluated as alpha = 0: the difference is O(alpha), far
# below float64 resolution, and beta/alpha would overflow float32.
_ALPHA_ZERO = 1e-20
# alpha below this is evaluated as alpha = -inf: the difference is O(1/|alpha|),
# far below float64 resolution, and (1 + w)^(alpha/2) would give inf * 0.
_ALPHA_MINUS_INF = -1e30


def _check_alpha(alpha) -> float:
    alpha = check_param("barron", "alpha", alpha, _ALPHA_DOMAIN)
    return -math.inf if alpha < _ALPHA_MINUS_INF else alpha


@loss(
    aliases=("general_robust", "adaptive_robust"),
    task="regression",
    input_space="prediction",
    summary="Barron's general robust loss: one shape parameter alpha spans L2 (2), "
            "Charbonnier (1), Cauchy (0), Geman-McClure (-2) and Welsch (-inf).",
    estimates="mean (alpha=2), ~median (alpha=1), mode-seeking (alpha<=0): set by alpha",
    params=(Param("alpha", _ALPHA_DOMAIN, "shape in [-inf, inf): smaller is more robust"),
            Param("c", D.SCALE, "width of the quadratic bowl around r = 0")),
    robust=True,
    convex=False,
    hessian_nonnegative=False,
    best_input=_IDENTITY,
    param_grid=({"alpha": -float("inf")}, {"alpha": -2.0}, {"alpha": 0.0}, {"alpha": 0.5},
                {"alpha": 2.0}, {"alpha": 4.0}, {"alpha": 1.0, "c": 0.3}, {"alpha": 1.999, "c": 2.0}),
    references=("Barron, J. T. (2019). A General and Adaptive Robust Loss Function. CVPR. arXiv:1701.03077.",),
    notes="Convex and with a non-negative Hessian only for alpha >= 1 (alpha=2 is the scaled squared "
          "error, not robust); the flags describe the family as a whole.",
)
def barron(input, target, *, alpha=1.0, c=1.0, weight=None, mask=None, reduction="mean"):
    r"""Barron's general and adaptive robust loss.

    .. math::
        \rho(r, \alpha, c) = \frac{|\alpha - 2|}{\alpha}
        \left(\left(\frac{(r/c)^2}{|\alpha - 2|} + 1\right)^{\alpha/2} - 1\right),
        \qquad r = x - y

    with its limits: :math:`\alpha = 2`: :math:`\tfrac12 (r/c)^2`;
    :math:`\alpha = 0`: :math:`\log(\tfrac12 (r/c)^2 + 1)`;
    :math:`\alpha = -\infty`: :math:`1 - \exp(-\tfrac12 (r/c)^2)`.
    ``alpha`` in [-inf, 1e6] (shape; smaller is more robust; below -1e30 it is
    evaluated as -inf), ``c`` > 0 or inf (width of the quadratic bowl). :math:`\alpha = 1` is
    ``pseudo_huber(delta=c) / c**2`` (Charbonnier), :math:`\alpha = 0` is
    ``cauchy(c=sqrt(2) c) / c**2``, :math:`\alpha = -2` is
    ``geman_mcclure(c=2 c) / c**2``, :math:`\alpha = -\infty` is
    ``welsch(c=sqrt(2) c) / c**2``. Evaluated as
    :math:`\tfrac{|\alpha-2|}{2} L \cdot \operatorname{expm1}(y)/y` with
    :math:`L = \log(1 + (r/c)^2/|\alpha-2|)` and :math:`y = \alpha L/2`, so it is
    accurate for :math:`\alpha` near 0 and near 2 (no division by a tiny
    :math:`\alpha` or :math:`|\alpha - 2|`); away from :math:`y = 0` the
    equal form :math:`\tfrac{|\alpha-2|}{\alpha}\operatorname{expm1}(y)` is used,
    whose autograd derivative does not cancel. :math:`|\alpha| < 10^{-20}` is
    evaluated as :math:`\alpha = 0`. Estimates the mean at
    :math:`\alpha = 2`, roughly the median at :math:`\alpha = 1`, and is
    mode-seeking for :math:`\alpha \le 0`. Convex only for :math:`\alpha \ge 1`.

    Derivatives: gradient :math:`\frac{r}{c^2}\left(\frac{(r/c)^2}{|\alpha-2|} + 1\right)^{\alpha/2 - 1}`,
    Hessian :math:`\frac{1}{c^2}(1 + w)^{\alpha/2 - 2}(1 + (\alpha - 1) w)`,
    :math:`w = (r/c)^2/|\alpha - 2|` (and the limits above).

    >>> import numpy as np, losskit
    >>> x, y = np.array([1.0, 3.0]), np.zeros(2)
    >>> losskit.barron(x, y, alpha=2.0, reduction="none").tolist()
    [0.5, 4.5]
    >>> np.allclose(losskit.barron(x, y, alpha=1.0, reduction="none"), np.sqrt(1 + x**2) - 1)
    True

    References: Barron, J. T. (2019). A General and Adaptive Robust Loss
    Function. CVPR. arXiv:1701.03077.
    """
    alpha = _check_alpha(alpha)
    c = check_param("barron", "c", c, D.SCALE)
    b = elementwise("barron", input, target, weight=weight, mask=mask, reduction=reduction)
    xp = b.xp
    r = b.input - b.target
    t = xp.abs(r) / c
    if alpha == 2.0:
        value = 0.5 * (t * t)
    elif alpha == -math.inf:
        tc = xp.minimum(t, 40.0)
        value = -xp.expm1(-0.5 * (tc * tc))
    else:
        beta = abs(alpha - 2.0)
        L = log1p_sq(xp, t / math.sqrt(beta))  # log(1 + (r/c)^2 / |alpha - 2|)
        if abs(alpha) < _ALPHA_ZERO:
            value = L
        else:
            # (beta/alpha) expm1(y), y = alpha L / 2. Near y = 0 it is written
            # (beta/2) L expm1(y)/y with a Taylor polynomial, so no form divides by a
            # tiny alpha or cancels; for y <= -1 expm1(y) is written exp(y) - 1, whose
            # autograd derivative is exp(y) itself (expm1's is expm1(y) + 1, which
            # rounds to 0 in float32 for very negative y).
            y = (0.5 * alpha) * L
            near = xp.abs(y) < 1e-3
            low = y <= -1.0
            zero, one = xp.zeros_like(y), xp.ones_like(y)
            ys = xp.where(near, y, zero)
            taylor = 1.0 + ys * (0.5 + ys * (1.0 / 6.0 + ys / 24.0))
            em1 = xp.where(low, xp.exp(xp.where(low, y, -one)) - 1.0, xp.expm1(xp.where(low | near, one, y)))
            value = xp.where(near, (0.5 * beta) * L * taylor, (beta / alpha) * em1)
    return reduce(b, value, reduction)


@derivatives_of(barron)
def _barron_derivatives(raw, target, *, alpha, c, full=False):
    alpha = _check_alpha(alpha)
    b = elementwise("barron", raw, target, input_name="raw")
    xp = b.xp
    r = b.input - b.target
    q = r / c
    if alpha == 2.0:
        return b.out(q / c), b.out(xp.full_like(r, 1.0) / c / c)
    if alpha == -math.inf:
        tc = xp.minimum(xp.abs(q), 40.0)
        e = xp.exp(-0.5 * (tc * tc))
        return b.out((q * e) / c), b.out(e * (1.0 - tc * tc) / c / c)
    beta = abs(alpha - 2.0)
    tb = xp.abs(q) / math.sqrt(beta)
    p = xp.exp((0.5 * alpha - 1.0) * log1p_sq(xp, tb))  # (1 + w)^(alpha/2 - 1)
    g = (q * p) / c
    h = (p * ratio_1p_sq(xp, tb, alpha - 1.0)) / c / c
    return b.out(g), b.out(h)
