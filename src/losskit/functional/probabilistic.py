r"""Probabilistic regression: deviances of exponential-family models and scores
of predictive distributions.

The deviances (``poisson_nll``, ``gamma_deviance``, ``tweedie_deviance``) take
the predicted **mean** :math:`\mu` as ``input`` (``poisson_nll`` takes its log
by default, as PyTorch does); their raw input, the output of a GBDT or of a
final linear layer, is the log of the mean, :math:`\mu = e^{\text{raw}}`
(link ``"exp"`` in the registry). ``gaussian_nll`` and ``crps_gaussian`` score a
Gaussian predictive distribution whose mean is ``input`` and whose variance or
standard deviation is given as a third array; their raw input is the mean
itself.

Every function follows the contract of DESIGN.md. Each is defined once:
``@loss(...)`` above the function holds its registry metadata (parameter
defaults come from the signature), and the function marked
``@derivatives_of(<loss>)`` returns the per-element gradient and Hessian with
respect to the raw input, in closed form.
"""

from __future__ import annotations

import math

from .. import domains as D
from .._array import erf_erfc, safe_pow, xlogy
from .._reduce import reduce
from .._validate import check_bool, check_param, check_values, elementwise
import numpy as np
from ..registry import Param, derivatives_of, loss

__all__ = ["poisson_nll", "gamma_deviance", "tweedie_deviance", "gaussian_nll", "crps_gaussian"]

_LOG_2PI = math.log(2.0 * math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_INV_SQRT_PI = 1.0 / math.sqrt(math.pi)
_SQRT1_2 = math.sqrt(0.5)


# -- Poisson -----------------------------------------------------------------


def _stirling(xp, y):
    """Stirling term of log(y!): y log y - y + 0.5 log(2 pi y) for y > 1, else 0
    (PyTorch's ``full=True``)."""
    big = y > 1
    ys = xp.where(big, y, xp.ones_like(y))
    term = ys * xp.log(ys) - ys + 0.5 * (xp.log(ys) + _LOG_2PI)
    return xp.where(big, term, xp.zeros_like(y))


def _poisson_params(log_input, full, eps):
    log_input = check_bool("poisson_nll", "log_input", log_input)
    full = check_bool("poisson_nll", "full", full)
    eps = check_param("poisson_nll", "eps", eps, D.NONNEGATIVE)
    return log_input, full, eps


# -- registry metadata shared by several definitions ---------------------------

_MCCULLAGH_NELDER = "McCullagh, P. & Nelder, J. A. (1989). Generalized Linear Models, 2nd ed. Chapman & Hall."


def _identity(y):
    return y


def _log_mean(y):
    """The log-mean that minimises the Poisson NLL: log(y) (-inf, not attained, at y = 0)."""
    with np.errstate(divide="ignore"):
        return np.log(y)


@loss(
    aliases=("poisson_nll_loss",),
    task="count",
    input_space="log-mean (the mean if log_input=False)",
    summary="Poisson negative log-likelihood for counts; takes the log of the mean, like PyTorch.",
    estimates="mean",
    input_domain=D.REAL,
    target_domain=D.NONNEGATIVE,
    params=(
        Param("log_input", doc="input is the log of the mean (True) or the mean itself (False)", kind="bool"),
        Param("full", doc="add the Stirling approximation of log(target!)", kind="bool"),
        Param("eps", D.NONNEGATIVE, "added to the mean inside the log when log_input=False"),
    ),
    link="identity",
    raw_domain=D.REAL,
    minimum=None,
    best_input=_log_mean,
    peers=("torch.nn.functional.poisson_nll_loss",),
    references=(_MCCULLAGH_NELDER + " Ch. 6, log-linear models.",),
    notes="The function also takes full=False (add the Stirling term of log y!, as PyTorch); it is not a "
        "registry Param because `full` is the derivatives protocol's own keyword (full Hessian matrix), and "
        "it changes no derivative. Convexity and the non-negative Hessian hold for log_input=True (the "
        "default) and for eps=0; with log_input=False and eps>0 the Hessian in raw=log(mean) is negative "
        "where mean < sqrt(target*eps) - eps. An input of +1e4 (a mean of e^10000) overflows to inf, as the "
        "true value does.",
)
def poisson_nll(input, target, *, log_input=True, full=False, eps=1e-8, weight=None, mask=None, reduction="mean"):
    r"""Poisson negative log-likelihood of counts ``target`` under mean :math:`\mu`.

    .. math::
        \ell = e^{x} - y\,x \quad(\text{log\_input=True, } x = \log\mu),\qquad
        \ell = \mu - y \log(\mu + \varepsilon) \quad(\text{log\_input=False, } x = \mu)

    plus, with ``full=True``, the Stirling term
    :math:`y\log y - y + \tfrac12\log(2\pi y)` for :math:`y > 1` (it does not
    depend on the input). The :math:`\log y!` constant is otherwise left out,
    so the loss can be negative; its minimum over the input, at
    :math:`\mu = y`, depends on :math:`y`.

    Estimates the conditional **mean** of a count (or any non-negative
    quantity: ``target`` need not be integer). Matches
    ``torch.nn.functional.poisson_nll_loss(log_input=..., full=..., eps=...)``,
    except that :math:`0\cdot\log 0` is taken as 0 where PyTorch returns NaN
    (``target = 0``, ``input = 0``, ``eps = 0``).

    Args:
        input: log-means (``log_input=True``, the default; any real) or means
            (``log_input=False``; >= 0), any shape, floating.
        target: counts >= 0, the shape of ``input``.
        log_input: whether ``input`` is the log of the mean.
        full: add the Stirling approximation of :math:`\log y!`.
        eps: >= 0, added to the mean inside the log when ``log_input=False``
            (with ``eps=0`` a zero mean against a positive count gives ``inf``).
        weight, mask: per-element weights / boolean mask, the shape of ``input``.
        reduction: ``"mean"`` (weighted mean over unmasked elements), ``"sum"`` or ``"none"``.

    The raw input of the registry's gradient and Hessian is always the log of
    the mean: for ``log_input=True`` it *is* ``input`` (link identity), for
    ``log_input=False`` the input is its exponential. With ``log_input=False``
    and ``eps > 0`` the Hessian is negative where :math:`\mu < \sqrt{y\varepsilon} - \varepsilon`.

    >>> import numpy as np, losskit
    >>> losskit.poisson_nll(np.array([0.0, np.log(2.0)]), np.array([1.0, 2.0]), reduction="none").round(6).tolist()
    [1.0, 0.613706]

    References:
        McCullagh, P. & Nelder, J. A. (1989). Generalized Linear Models, 2nd ed.
        Chapman & Hall, ch. 6 (log-linear models for counts).
    """
    log_input, full, eps = _poisson_params(log_input, full, eps)
    b = elementwise(
        "poisson_nll", input, target, weight=weight, mask=mask, reduction=reduction, target_domain=D.NONNEGATIVE
    )
    xp, x, y = b.xp, b.input, b.target
    if log_input:
        loss = xp.exp(x) - y * x
    else:
        check_values("poisson_nll", "input", xp, x, D.NONNEGATIVE, "when log_input=False (it is the mean)")
        loss = x - xlogy(xp, y, x + eps)
    if full:
        loss = loss + _stirling(xp, y)
    return reduce(b, loss, reduction)


@derivatives_of(poisson_nll)
def _poisson_nll_derivatives(raw, target, *, log_input, eps, full=False):
    # ``full`` is accepted once: for the loss it adds a constant (the Stirling
    # term), for the derivatives protocol it asks for a full Hessian matrix; an
    # elementwise loss has neither effect, so the result never depends on it.
    log_input, _, eps = _poisson_params(log_input, bool(full), eps)
    b = elementwise("poisson_nll", raw, target, input_name="raw", target_domain=D.NONNEGATIVE)
    xp, y = b.xp, b.target
    mu = xp.exp(b.input)
    if log_input or eps == 0.0:
        g, h = mu - y, mu
    else:  # d/draw of mu - y log(mu + eps), mu = exp(raw)
        s = mu / (mu + eps)
        g = mu - y * s
        h = mu - y * s * (eps / (mu + eps))
    return b.out(g), b.out(h)


# -- Gamma -------------------------------------------------------------------


def _gamma_unit(xp, mu, y):
    """log(mu/y) + y/mu - 1 = t - log1p(t) with t = (y - mu)/mu, accurate near
    mu = y (the log1p form) and free of overflow in mu/y far from it."""
    t = (y - mu) / mu
    near = xp.abs(t) < 0.5
    tn = xp.where(near, t, xp.zeros_like(t))
    close = tn - xp.log1p(tn)
    far = (xp.log(mu) - xp.log(y)) + t
    return xp.where(near, close, far)


@loss(
    aliases=("mean_gamma_deviance",),
    task="positive",
    input_space="mean",
    summary="Gamma deviance for positive, skewed targets with constant coefficient of variation; scale-free.",
    estimates="mean",
    input_domain=D.POSITIVE,
    target_domain=D.POSITIVE,
    link="exp",
    raw_domain=D.REAL,
    best_input=_identity,
    peers=("sklearn.metrics.mean_gamma_deviance", "sklearn.metrics.mean_tweedie_deviance"),
    references=(_MCCULLAGH_NELDER + " Ch. 8, models with constant coefficient of variation.",),
)
def gamma_deviance(input, target, *, weight=None, mask=None, reduction="mean"):
    r"""Gamma deviance of a positive mean :math:`\mu` against a positive target.

    .. math::
        \ell = 2\left(\log\frac{\mu}{y} + \frac{y}{\mu} - 1\right)

    Zero exactly at :math:`\mu = y`. The unit deviance of the Gamma GLM: it
    estimates the conditional **mean** of a positive, right-skewed quantity
    whose spread grows with its mean (constant coefficient of variation); it is
    scale-free (the loss of :math:`c\mu` against :math:`cy` is the same).
    Matches ``sklearn.metrics.mean_gamma_deviance`` (per element, and its
    weighted mean with ``sample_weight``) and
    ``sklearn.metrics.mean_tweedie_deviance(power=2)``.

    Raw input: :math:`\log\mu`; gradient :math:`2(1 - y e^{-\text{raw}})`,
    Hessian :math:`2 y e^{-\text{raw}} > 0` (convex in the raw input).

    Args:
        input: predicted means > 0, any shape, floating.
        target: values > 0, the shape of ``input``.
        weight, mask: per-element weights / boolean mask, the shape of ``input``.
        reduction: ``"mean"`` (weighted mean over unmasked elements), ``"sum"`` or ``"none"``.

    >>> import numpy as np, losskit
    >>> losskit.gamma_deviance(np.array([2.0, 1.0]), np.array([2.0, 2.0]), reduction="none").round(6).tolist()
    [0.0, 0.613706]

    References:
        McCullagh, P. & Nelder, J. A. (1989). Generalized Linear Models, 2nd ed.
        Chapman & Hall, ch. 8 (models with constant coefficient of variation).
    """
    b = elementwise(
        "gamma_deviance", input, target, weight=weight, mask=mask, reduction=reduction,
        input_domain=D.POSITIVE, target_domain=D.POSITIVE,
    )
    return reduce(b, 2.0 * _gamma_unit(b.xp, b.input, b.target), reduction)


@derivatives_of(gamma_deviance)
def _gamma_deviance_derivatives(raw, target, *, full=False):
    b = elementwise("gamma_deviance", raw, target, input_name="raw", target_domain=D.POSITIVE)
    xp = b.xp
    r = b.target * xp.exp(-b.input)  # y / mu
    return b.out(2.0 * (1.0 - r)), b.out(2.0 * r)


# -- Tweedie -----------------------------------------------------------------


# |power| beyond about 25 overflows mu^(2 - power) expm1(...) in float32
# already at moderate means (inf, or NaN as inf - inf; 1e308 does in float64).
POWER_DOMAIN = D.Interval(-20.0, 20.0)


def _check_power(power) -> float:
    p = check_param("tweedie_deviance", "power", power, POWER_DOMAIN)
    if 0.0 < p < 1.0:
        raise ValueError(
            "tweedie_deviance: power must be <= 0 or >= 1 (no Tweedie distribution has 0 < power < 1); "
            f"received power={p!r}"
        )
    return p


def _tweedie_domains(p):
    """(input domain, target domain, wording) for a power."""
    if p == 0.0:
        return D.REAL, D.REAL, "when power=0"
    if p < 0.0:
        return D.POSITIVE, D.REAL, "when power < 0"
    if p < 2.0:
        return D.POSITIVE, D.NONNEGATIVE, "when 1 <= power < 2"
    return D.POSITIVE, D.POSITIVE, "when power >= 2"


def _tweedie_unit(xp, mu, y, p):
    """Unit deviance d(y, mu) for power p (sklearn's cases, written stably)."""
    zero = xp.zeros_like(mu)
    if p == 0.0:
        r = y - mu
        return r * r
    if p == 1.0:  # y log(y / mu) - y + mu = y (t - log1p t), t = (mu - y) / y, near mu = y
        pos = y > 0
        ys = xp.where(pos, y, xp.ones_like(y))
        t = (mu - ys) / ys
        near = xp.logical_and(pos, xp.abs(t) < 0.5)
        tn = xp.where(near, t, zero)
        far = xlogy(xp, y, y) - xlogy(xp, y, mu) - y + mu
        return xp.maximum(2.0 * xp.where(near, ys * (tn - xp.log1p(tn)), far), zero)
    if p == 2.0:
        return 2.0 * _gamma_unit(xp, mu, y)
    a, b = 1.0 - p, 2.0 - p
    if p < 0.0:  # "extreme stable": y any real, its positive part in the first term
        ypos = xp.where(y > 0, y, zero)
        d = safe_pow(xp, ypos, b) / (a * b) - y * mu**a / a + mu**b / b
        return xp.maximum(2.0 * d, zero)
    # 1 < p < 2 (y >= 0) or p > 2 (y > 0), L = log(y / mu). Two exact rewritings
    # of the sum above, each free of the 1/(1-p) or 1/(2-p) cancellation near
    # its own end, and both exactly 0 at mu = y with relative accuracy nearby:
    #   p < 1.5:  d / 2 = mu^a [y expm1(a L) / a + mu - y] / b
    #   p >= 1.5: d / 2 = mu^b [expm1(b L) - b expm1(L)] / (b (b - 1))
    # At y = 0 (1 < p < 2) both are mu^b / b.
    # L is log1p(t), t = y / mu - 1, near mu = y (a difference of two large logs
    # would lose its digits there), and log y - log mu (no overflow) elsewhere.
    pos = y > 0
    ys = xp.where(pos, y, xp.ones_like(y))
    t = (ys - mu) / mu
    near = xp.abs(t) < 0.5
    L = xp.where(near, xp.log1p(xp.where(near, t, zero)), xp.log(ys) - xp.log(mu))
    mub = mu**b
    if p < 1.5:
        d = mu**a * (ys * xp.expm1(a * L) / a + (mu - ys)) / b
    else:
        d = mub * (xp.expm1(b * L) - b * t) / (b * (b - 1.0))
    d = xp.where(pos, d, mub / b)
    return xp.maximum(2.0 * d, zero)


@loss(
    aliases=("mean_tweedie_deviance",),
    task="positive",
    input_space="mean",
    summary="Tweedie deviance, variance proportional to mean^power: 1 < power < 2 for non-negative data "
        "with exact zeros; power 0, 1, 2 give squared error, Poisson and Gamma.",
    estimates="mean",
    input_domain=D.POSITIVE,
    target_domain=D.NONNEGATIVE,
    params=(Param("power", POWER_DOMAIN, "Tweedie power p (<= 0 or >= 1): variance proportional to mean^p"),),
    link="exp",
    raw_domain=D.REAL,
    convex=False,
    hessian_nonnegative=False,
    best_input=_identity,
    param_grid=({"power": 0.0}, {"power": 1.0}, {"power": 1.2}, {"power": 2.0}, {"power": 3.0}),
    peers=(
        "sklearn.metrics.mean_tweedie_deviance",
        "sklearn.metrics.mean_poisson_deviance",  # at power=1
        "sklearn.metrics.mean_gamma_deviance",  # at power=2
    ),
    references=(
        "Jørgensen, B. (1987). Exponential dispersion models. J. R. Statist. Soc. B 49(2), 127-162.",
        "Tweedie, M. C. K. (1984). An index which distinguishes between some important exponential "
        "families. Proc. Indian Statistical Institute Golden Jubilee Int. Conf., 579-604.",
        _MCCULLAGH_NELDER,
    ),
    notes="Domains depend on power: p < 0: target real, input > 0; p = 0: both real; 1 <= p < 2: "
        "target >= 0, input > 0; p >= 2: both > 0; 0 < p < 1 is an error. Convex in raw = log(mean) "
        "with a non-negative Hessian for 1 <= p <= 2 (the default); the flags are False because "
        "p < 1 and p > 2 are not.",
)
def tweedie_deviance(input, target, *, power=1.5, weight=None, mask=None, reduction="mean"):
    r"""Tweedie deviance with power :math:`p` of a mean :math:`\mu` against ``target``.

    .. math::
        \ell = 2\left(\frac{\max(y,0)^{2-p}}{(1-p)(2-p)} - \frac{y\,\mu^{1-p}}{1-p}
        + \frac{\mu^{2-p}}{2-p}\right)

    with the limits :math:`p = 0` (squared error :math:`(y-\mu)^2`),
    :math:`p = 1` (Poisson, :math:`2(y\log(y/\mu) - y + \mu)`) and :math:`p = 2`
    (Gamma, :math:`2(\log(\mu/y) + y/\mu - 1)`). The unit deviance of the
    Tweedie exponential dispersion model with variance :math:`\mu^p`; it
    estimates the conditional **mean**. :math:`1 < p < 2` is the compound
    Poisson-Gamma model of non-negative data with exact zeros (insurance
    claims, rainfall). Zero exactly at :math:`\mu = y`. Matches
    ``sklearn.metrics.mean_tweedie_deviance(power=p)``, hence
    ``sklearn.metrics.mean_poisson_deviance`` at :math:`p = 1` and
    ``sklearn.metrics.mean_gamma_deviance`` at :math:`p = 2`, and is more
    accurate than them near :math:`\mu = y` and near :math:`p = 1, 2`.

    Domains by power: :math:`p < 0`: ``target`` any real, ``input`` > 0;
    :math:`p = 0`: both any real; :math:`1 \le p < 2`: ``target`` >= 0,
    ``input`` > 0; :math:`p \ge 2`: both > 0; :math:`0 < p < 1` is an error,
    and so is :math:`|p| > 20` (beyond it the powers of :math:`\mu` overflow
    float32 at moderate means).

    Raw input :math:`\log\mu`: gradient :math:`2\mu^{1-p}(\mu - y)`, Hessian
    :math:`2\mu^{1-p}((2-p)\mu - (1-p)y)`, non-negative (convex in the raw
    input) for :math:`1 \le p \le 2`; for :math:`p < 1` or :math:`p > 2` it can
    be negative.

    Args:
        input: predicted means, any shape, floating.
        target: the shape of ``input``, in the domain given above.
        power: the Tweedie power :math:`p` (variance :math:`\propto \mu^p`).
        weight, mask: per-element weights / boolean mask, the shape of ``input``.
        reduction: ``"mean"`` (weighted mean over unmasked elements), ``"sum"`` or ``"none"``.

    >>> import numpy as np, losskit
    >>> losskit.tweedie_deviance(np.array([1.0, 2.0]), np.array([0.0, 2.0]), power=1.5, reduction="none").tolist()
    [4.0, 0.0]

    References:
        Jørgensen, B. (1987). Exponential dispersion models. J. R. Statist.
        Soc. B 49(2), 127-162.
        Tweedie, M. C. K. (1984). An index which distinguishes between some
        important exponential families. Proc. Indian Statistical Institute
        Golden Jubilee International Conference, 579-604.
    """
    p = _check_power(power)
    in_dom, tg_dom, when = _tweedie_domains(p)
    b = elementwise("tweedie_deviance", input, target, weight=weight, mask=mask, reduction=reduction)
    xp = b.xp
    check_values("tweedie_deviance", "target", xp, b.target, tg_dom, when)
    check_values("tweedie_deviance", "input", xp, b.input, in_dom, when)
    return reduce(b, _tweedie_unit(xp, b.input, b.target, p), reduction)


@derivatives_of(tweedie_deviance)
def _tweedie_deviance_derivatives(raw, target, *, power, full=False):
    p = _check_power(power)
    _, tg_dom, when = _tweedie_domains(p)
    b = elementwise("tweedie_deviance", raw, target, input_name="raw")
    xp, y = b.xp, b.target
    check_values("tweedie_deviance", "target", xp, y, tg_dom, when)
    a, c = 1.0 - p, 2.0 - p
    mu_a = xp.exp(a * b.input)  # mu^(1-p); exactly 1 at p = 1
    mu_c = xp.exp(c * b.input)  # mu^(2-p); exactly 1 at p = 2
    g = 2.0 * (mu_c - y * mu_a)
    h = 2.0 * (c * mu_c - a * y * mu_a)
    return b.out(g), b.out(h)


# -- Gaussian ----------------------------------------------------------------


def _gaussian_batch(input, target, var, eps, weight, mask, reduction, input_name="input"):
    eps = check_param("gaussian_nll", "eps", eps, D.BOUNDED_POSITIVE)
    b = elementwise(
        "gaussian_nll", input, target, weight=weight, mask=mask, reduction=reduction,
        extras={"var": (var, D.NONNEGATIVE)}, input_name=input_name,
    )
    v = b.extras["var"]
    return b, b.xp.maximum(v, eps)


@loss(
    aliases=("gaussian_nll_loss",),
    task="probabilistic",
    input_space="mean (with the variance as a third array)",
    summary="Gaussian negative log-likelihood: predict a mean and a variance per element.",
    estimates="mean and variance",
    input_domain=D.REAL,
    target_domain=D.REAL,
    params=(
        Param("full", doc="add the constant 0.5 log(2 pi)", kind="bool"),
        Param("eps", D.BOUNDED_POSITIVE, "smallest variance used (var is clamped to it)"),
    ),
    extra_inputs={"var": D.NONNEGATIVE},
    link="identity",
    minimum=None,
    best_input=_identity,
    peers=("torch.nn.functional.gaussian_nll_loss",),
    references=(
        "Nix, D. A. & Weigend, A. S. (1994). Estimating the mean and variance of the target probability "
        "distribution. Proc. IEEE ICNN'94, 55-60.",
    ),
    notes="The function also takes full=False (add 0.5 log(2 pi), as PyTorch); it is not a registry Param "
        "because `full` is the derivatives protocol's own keyword, and it changes no derivative. "
        "Derivatives are with respect to the mean, var passed as a keyword. var must have the input's "
        "shape (no broadcasting) and be >= 0, without NaN.",
)
def gaussian_nll(input, target, var, *, full=False, eps=1e-6, weight=None, mask=None, reduction="mean"):
    r"""Gaussian negative log-likelihood of ``target`` under :math:`N(\mu, \sigma^2)`.

    .. math::
        \ell = \tfrac12\left(\log v + \frac{(x - y)^2}{v}\right)
        \;\left(+\tfrac12\log 2\pi \text{ if full}\right),\qquad v = \max(\text{var}, \varepsilon)

    Trains a model that predicts both the **mean** (``input``) and the
    **variance** (``var``) of a heteroscedastic target; for a fixed ``var`` it
    is a weighted squared error. Matches
    ``torch.nn.functional.gaussian_nll_loss(full=..., eps=...)`` when ``var``
    has the shape of ``input``. Differences, on purpose: ``var`` must have
    exactly the shape of ``input`` (PyTorch broadcasts a trailing singleton or a
    missing last axis); NaN in ``var`` is an error; the clamp at ``eps`` is part
    of the function, so where ``var < eps`` the gradient with respect to ``var``
    is 0 (PyTorch clamps outside autograd and passes the gradient through).

    Args:
        input: predicted means, any shape, floating.
        target: values, the shape of ``input``.
        var: predicted variances >= 0, the shape of ``input``.
        full: add the constant :math:`\tfrac12\log 2\pi`.
        eps: > 0, the smallest variance used.
        weight, mask: per-element weights / boolean mask, the shape of ``input``.
        reduction: ``"mean"`` (weighted mean over unmasked elements), ``"sum"`` or ``"none"``.

    The registry's gradient and Hessian are with respect to the mean (raw input
    = ``input``, identity link), ``var`` given as a keyword:
    :math:`(x - y)/v` and :math:`1/v`.

    >>> import numpy as np, losskit
    >>> losskit.gaussian_nll(np.array([0.0, 1.0]), np.array([1.0, 1.0]), np.array([1.0, np.e]), reduction="none").tolist()
    [0.5, 0.5]

    References:
        Nix, D. A. & Weigend, A. S. (1994). Estimating the mean and variance of
        the target probability distribution. Proc. IEEE ICNN'94, 55-60.
    """
    full = check_bool("gaussian_nll", "full", full)
    b, v = _gaussian_batch(input, target, var, eps, weight, mask, reduction)
    xp = b.xp
    r = b.input - b.target
    loss = 0.5 * (xp.log(v) + r * r / v)
    if full:
        loss = loss + 0.5 * _LOG_2PI
    return reduce(b, loss, reduction)


@derivatives_of(gaussian_nll)
def _gaussian_nll_derivatives(raw, target, var, *, full=False, eps):
    # ``full`` is accepted once: the loss's constant term and the protocol's
    # "full Hessian matrix" both leave these elementwise derivatives unchanged.
    check_bool("gaussian_nll", "full", bool(full))
    b, v = _gaussian_batch(raw, target, var, eps, None, None, "none", input_name="raw")
    r = b.input - b.target
    return b.out(r / v), b.out(1.0 / v)


# -- CRPS ----------------------------------------------------------------------

def _crps_parts(xp, mu, y, s):
    """(2 Phi(z) - 1, phi(z)) at z = (y - mu) / s, with z clipped to +-40 where
    both are constant to every float precision (keeps gradients finite when z
    overflows)."""
    z = xp.clip((y - mu) / s, min=-40.0, max=40.0)
    return erf_erfc(xp, z * _SQRT1_2)[0], _INV_SQRT_2PI * xp.exp(-0.5 * z * z)


def _crps_batch(input, target, std, weight, mask, reduction, input_name="input"):
    b = elementwise(
        "crps_gaussian", input, target, weight=weight, mask=mask, reduction=reduction,
        extras={"std": (std, D.POSITIVE)}, input_name=input_name,
    )
    return b, b.extras["std"]


@loss(
    aliases=("crps_normal",),
    task="probabilistic",
    input_space="mean (with the standard deviation as a third array)",
    summary="Continuous ranked probability score of a Gaussian forecast: proper, in target units, linear tails.",
    estimates="mean and standard deviation of a Gaussian forecast",
    input_domain=D.REAL,
    target_domain=D.REAL,
    extra_inputs={"std": D.POSITIVE},
    link="identity",
    robust=True,
    notes="A strictly proper score. For a fixed std the best input lies between the median of the target "
        "(std -> 0, where CRPS tends to the absolute error) and its mean (std -> inf). The normal CDF is "
        "computed from Cody's (1969) rational approximations (the array API has no erf).",
    minimum=None,
    best_input=_identity,
    peers=("scipy.integrate.quad", "scipy.stats.norm.cdf"),
    references=(
        "Gneiting, T. & Raftery, A. E. (2007). Strictly proper scoring rules, prediction, and estimation. "
        "J. Amer. Statist. Assoc. 102(477), 359-378.",
        "Cody, W. J. (1969). Rational Chebyshev approximations for the error function. Math. Comp. 23(107), "
        "631-637.",
    ),
)
def crps_gaussian(input, target, std, *, weight=None, mask=None, reduction="mean"):
    r"""Continuous ranked probability score of :math:`N(\mu, \sigma^2)` at ``target``.

    .. math::
        \ell = \int (F(t) - \mathbf 1\{t \ge y\})^2\,dt
        = \sigma\left[z\,(2\Phi(z) - 1) + 2\varphi(z) - \tfrac{1}{\sqrt\pi}\right],
        \qquad z = \frac{y - \mu}{\sigma}

    A strictly proper scoring rule for the Gaussian predictive distribution
    (``input`` its mean :math:`\mu`, ``std`` its standard deviation
    :math:`\sigma`), in the units of the target; it grows linearly, not
    quadratically, in the residual (robust) and tends to the absolute error as
    :math:`\sigma \to 0`. For a fixed :math:`\sigma` the best :math:`\mu` lies
    between the median (:math:`\sigma \to 0`) and the mean
    (:math:`\sigma \to \infty`) of the target. Checked against
    ``scipy.integrate.quad`` of the integral above with
    ``scipy.stats.norm.cdf``. :math:`\Phi` is computed without ``erf`` (the
    array API has none), from W. J. Cody's rational approximations.

    Raw input :math:`\mu`: gradient :math:`1 - 2\Phi(z)`, Hessian
    :math:`2\varphi(z)/\sigma > 0`.

    Args:
        input: predicted means, any shape, floating.
        target: values, the shape of ``input``.
        std: predicted standard deviations > 0, the shape of ``input``.
        weight, mask: per-element weights / boolean mask, the shape of ``input``.
        reduction: ``"mean"`` (weighted mean over unmasked elements), ``"sum"`` or ``"none"``.

    >>> import numpy as np, losskit
    >>> losskit.crps_gaussian(np.array([0.0, 0.0]), np.array([0.0, 2.0]), np.array([1.0, 1.0]), reduction="none").round(6).tolist()
    [0.233695, 1.452792]

    References:
        Gneiting, T. & Raftery, A. E. (2007). Strictly proper scoring rules,
        prediction, and estimation. J. Amer. Statist. Assoc. 102(477), 359-378.
        Cody, W. J. (1969). Rational Chebyshev approximations for the error
        function. Math. Comp. 23(107), 631-637.
    """
    b, s = _crps_batch(input, target, std, weight, mask, reduction)
    xp = b.xp
    e, pdf = _crps_parts(xp, b.input, b.target, s)
    # sigma * z * (2 Phi - 1) written as (y - mu) * (2 Phi - 1): no overflow of z.
    loss = (b.target - b.input) * e + s * (2.0 * pdf - _INV_SQRT_PI)
    return reduce(b, loss, reduction)


@derivatives_of(crps_gaussian)
def _crps_gaussian_derivatives(raw, target, std, *, full=False):
    b, s = _crps_batch(raw, target, std, None, None, "none", input_name="raw")
    e, pdf = _crps_parts(b.xp, b.input, b.target, s)
    return b.out(-e), b.out(2.0 * pdf / s)
