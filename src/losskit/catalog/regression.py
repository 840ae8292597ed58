"""Registry entries: regression losses."""

from .. import domains as D
from ..functional import regression as F
from ..registry import LossSpec, Param, register

register(LossSpec(
    name="mse",
    function=F.mse,
    aliases=("l2", "mean_squared_error"),
    family="regression",
    task="regression",
    input_space="prediction",
    summary="Squared error; the default for regression with light-tailed noise.",
    estimates="mean",
    derivatives=F._mse_derivatives,
    peers=("torch.nn.functional.mse_loss", "sklearn.metrics.mean_squared_error"),
    references=("Legendre (1805); Gauss (1809): least squares.",),
))

register(LossSpec(
    name="huber",
    function=F.huber,
    family="regression",
    task="regression",
    input_space="prediction",
    summary="Quadratic near zero, linear beyond delta: robust to outliers, smooth at zero.",
    estimates="between the mean and the median (a Huber M-estimate)",
    params=(Param("delta", 1.0, D.POSITIVE, "residual size where the loss turns from quadratic to linear"),),
    robust=True,
    derivatives=F._huber_derivatives,
    peers=("torch.nn.functional.huber_loss",),
    references=("Huber, P. J. (1964). Robust Estimation of a Location Parameter. Ann. Math. Statist. 35(1).",),
))
