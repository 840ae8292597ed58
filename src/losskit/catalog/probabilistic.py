"""Registry entries: probabilistic losses (exponential-family deviances, scores
of predictive distributions). Family "regression": they score predictions of a
real-valued target."""

import numpy as np

from .. import domains as D
from ..functional import probabilistic as F
from ..registry import LossSpec, Param, register

_MCCULLAGH_NELDER = "McCullagh, P. & Nelder, J. A. (1989). Generalized Linear Models, 2nd ed. Chapman & Hall."


def _identity(y):
    return y


def _log_mean(y):
    """The log-mean that minimises the Poisson NLL: log(y) (-inf, not attained, at y = 0)."""
    with np.errstate(divide="ignore"):
        return np.log(y)


register(LossSpec(
    name="poisson_nll",
    function=F.poisson_nll,
    aliases=("poisson_nll_loss",),
    family="probabilistic",
    task="count",
    input_space="log-mean (the mean if log_input=False)",
    summary="Poisson negative log-likelihood for counts; takes the log of the mean, like PyTorch.",
    estimates="mean",
    input_domain=D.REAL,
    target_domain=D.NONNEGATIVE,
    params=(
        Param("log_input", True, doc="input is the log of the mean (True) or the mean itself (False)", kind="bool"),
        Param("full", False, doc="add the Stirling approximation of log(target!)", kind="bool"),
        Param("eps", 1e-8, D.NONNEGATIVE, "added to the mean inside the log when log_input=False"),
    ),
    # With the default log_input=True the function's input IS the raw input
    # (the log-mean), so the link from raw to input is the identity. The
    # derivatives always take raw = log(mean), also for log_input=False.
    link="identity",
    raw_domain=D.REAL,
    derivatives=F._poisson_nll_derivatives,
    minimum=None,  # exp(x) - y x is minimal at x = log y with value y - y log y: depends on y
    best_input=_log_mean,
    peers=("torch.nn.functional.poisson_nll_loss",),
    references=(_MCCULLAGH_NELDER + " Ch. 6, log-linear models.",),
    notes=(
        "The function also takes full=False (add the Stirling term of log y!, as PyTorch); it is not a "
        "registry Param because `full` is the derivatives protocol's own keyword (full Hessian matrix), and "
        "it changes no derivative. Convexity and the non-negative Hessian hold for log_input=True (the "
        "default) and for eps=0; with log_input=False and eps>0 the Hessian in raw=log(mean) is negative "
        "where mean < sqrt(target*eps) - eps. An input of +1e4 (a mean of e^10000) overflows to inf, as the "
        "true value does."
    ),
))

register(LossSpec(
    name="gamma_deviance",
    function=F.gamma_deviance,
    aliases=("mean_gamma_deviance",),
    family="probabilistic",
    task="positive",
    input_space="mean",
    summary="Gamma deviance for positive, skewed targets with constant coefficient of variation; scale-free.",
    estimates="mean",
    input_domain=D.POSITIVE,
    target_domain=D.POSITIVE,
    link="exp",
    raw_domain=D.REAL,
    derivatives=F._gamma_deviance_derivatives,
    best_input=_identity,
    peers=("sklearn.metrics.mean_gamma_deviance", "sklearn.metrics.mean_tweedie_deviance"),  # the latter at power=2
    references=(_MCCULLAGH_NELDER + " Ch. 8, models with constant coefficient of variation.",),
))

register(LossSpec(
    name="tweedie_deviance",
    function=F.tweedie_deviance,
    aliases=("mean_tweedie_deviance",),
    family="probabilistic",
    task="positive",
    input_space="mean",
    summary=(
        "Tweedie deviance, variance proportional to mean^power: 1 < power < 2 for non-negative data "
        "with exact zeros; power 0, 1, 2 give squared error, Poisson and Gamma."
    ),
    estimates="mean",
    # the domains of the default power=1.5; see notes for other powers
    input_domain=D.POSITIVE,
    target_domain=D.NONNEGATIVE,
    params=(Param("power", 1.5, F.POWER_DOMAIN, "Tweedie power p (<= 0 or >= 1): variance proportional to mean^p"),),
    link="exp",
    raw_domain=D.REAL,
    # The Hessian in raw = log(mean) is 2 mu^(1-p) ((2-p) mu - (1-p) y): non-negative for 1 <= p <= 2
    # (the default 1.5 included), negative somewhere for p < 1 and p > 2, both in param_grid.
    convex=False,
    hessian_nonnegative=False,
    derivatives=F._tweedie_deviance_derivatives,
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
    notes=(
        "Domains depend on power: p < 0: target real, input > 0; p = 0: both real; 1 <= p < 2: "
        "target >= 0, input > 0; p >= 2: both > 0; 0 < p < 1 is an error. Convex in raw = log(mean) "
        "with a non-negative Hessian for 1 <= p <= 2 (the default); the flags are False because "
        "p < 1 and p > 2 are not."
    ),
))

register(LossSpec(
    name="gaussian_nll",
    function=F.gaussian_nll,
    aliases=("gaussian_nll_loss",),
    family="probabilistic",
    task="probabilistic",
    input_space="mean (with the variance as a third array)",
    summary="Gaussian negative log-likelihood: predict a mean and a variance per element.",
    estimates="mean and variance",
    input_domain=D.REAL,
    target_domain=D.REAL,
    params=(
        Param("full", False, doc="add the constant 0.5 log(2 pi)", kind="bool"),
        Param("eps", 1e-6, D.BOUNDED_POSITIVE, "smallest variance used (var is clamped to it)"),
    ),
    extra_inputs={"var": D.NONNEGATIVE},
    link="identity",
    derivatives=F._gaussian_nll_derivatives,
    minimum=None,  # 0.5 log(var) at input = target: depends on var
    best_input=_identity,
    peers=("torch.nn.functional.gaussian_nll_loss",),
    references=(
        "Nix, D. A. & Weigend, A. S. (1994). Estimating the mean and variance of the target probability "
        "distribution. Proc. IEEE ICNN'94, 55-60.",
    ),
    notes=(
        "The function also takes full=False (add 0.5 log(2 pi), as PyTorch); it is not a registry Param "
        "because `full` is the derivatives protocol's own keyword, and it changes no derivative. "
        "Derivatives are with respect to the mean, var passed as a keyword. var must have the input's "
        "shape (no broadcasting) and be >= 0, without NaN."
    ),
))

register(LossSpec(
    name="crps_gaussian",
    function=F.crps_gaussian,
    aliases=("crps_normal",),
    family="probabilistic",
    task="probabilistic",
    input_space="mean (with the standard deviation as a third array)",
    summary="Continuous ranked probability score of a Gaussian forecast: proper, in target units, linear tails.",
    estimates="mean and standard deviation of a Gaussian forecast",
    input_domain=D.REAL,
    target_domain=D.REAL,
    extra_inputs={"std": D.POSITIVE},
    link="identity",
    robust=True,
    notes=(
        "A strictly proper score. For a fixed std the best input lies between the median of the target "
        "(std -> 0, where CRPS tends to the absolute error) and its mean (std -> inf). The normal CDF is "
        "computed from Cody's (1969) rational approximations (the array API has no erf)."
    ),
    derivatives=F._crps_gaussian_derivatives,
    minimum=None,  # std (sqrt 2 - 1) / sqrt(pi) at input = target: depends on std
    best_input=_identity,
    peers=("scipy.integrate.quad", "scipy.stats.norm.cdf"),  # quad of the defining integral of the cdf
    references=(
        "Gneiting, T. & Raftery, A. E. (2007). Strictly proper scoring rules, prediction, and estimation. "
        "J. Amer. Statist. Assoc. 102(477), 359-378.",
        "Cody, W. J. (1969). Rational Chebyshev approximations for the error function. Math. Comp. 23(107), "
        "631-637.",
    ),
))
