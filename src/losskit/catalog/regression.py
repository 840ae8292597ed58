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

_IDENTITY = lambda y: y  # noqa: E731 - the minimum is at input == target

_ZHANG = ("Zhang, Z. (1997). Parameter estimation techniques: a tutorial with application to conic "
          "fitting. Image and Vision Computing 15(1), 59-76.")
_HOLLAND_WELSCH = ("Holland, P. W. & Welsch, R. E. (1977). Robust regression using iteratively reweighted "
                   "least-squares. Communications in Statistics - Theory and Methods 6(9), 813-827.")
_M_SCALE = "scale of the residual: rho(r) ~ r^2/2 for |r| << c"

register(LossSpec(
    name="mae",
    function=F.mae,
    aliases=("l1", "mean_absolute_error"),
    family="regression",
    task="regression",
    input_space="prediction",
    summary="Absolute error; robust to outliers, estimates the median. Hessian is 0.",
    estimates="median",
    robust=True,
    derivatives=F._mae_derivatives,
    best_input=_IDENTITY,
    peers=("torch.nn.functional.l1_loss", "sklearn.metrics.mean_absolute_error"),
    references=("Laplace (1774); Koenker & Bassett (1978). Regression Quantiles. Econometrica 46(1).",),
    notes="Zero Hessian everywhere: second-order boosting needs a surrogate Hessian.",
))

register(LossSpec(
    name="rmse",
    function=F.rmse,
    family="regression",
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
))

register(LossSpec(
    name="smooth_l1",
    function=F.smooth_l1,
    family="regression",
    task="regression",
    input_space="prediction",
    summary="Fast R-CNN smooth L1: quadratic below beta, then |r| - beta/2 (slope 1); beta=0 is L1.",
    estimates="between the mean and the median (a Huber M-estimate with delta=beta)",
    params=(Param("beta", 1.0, D.NONNEGATIVE_SCALE, "residual size where the loss turns from quadratic to linear"),),
    robust=True,
    derivatives=F._smooth_l1_derivatives,
    best_input=_IDENTITY,
    param_grid=({"beta": 0.0}, {"beta": 0.1}, {"beta": 5.0}),
    peers=("torch.nn.functional.smooth_l1_loss",),
    references=("Girshick, R. (2015). Fast R-CNN. ICCV.",),
    notes="Equals huber(delta=beta) / beta.",
))

register(LossSpec(
    name="pseudo_huber",
    function=F.pseudo_huber,
    family="regression",
    task="regression",
    input_space="prediction",
    summary="Smooth Huber: delta^2 (sqrt(1 + (r/delta)^2) - 1); quadratic near 0, ~delta |r| far out.",
    estimates="between the mean and the median (a smooth Huber-type M-estimate)",
    params=(Param("delta", 1.0, D.SCALE, "residual size where the loss turns from quadratic to linear"),),
    robust=True,
    derivatives=F._pseudo_huber_derivatives,
    best_input=_IDENTITY,
    param_grid=({"delta": 0.1}, {"delta": 5.0}),
    peers=("scipy.special.pseudo_huber",),
    references=("Charbonnier, P., Blanc-Feraud, L., Aubert, G. & Barlaud, M. (1997). Deterministic "
                "edge-preserving regularization in computed imaging. IEEE Trans. Image Processing 6(2).",
                "Hartley, R. & Zisserman, A. (2003). Multiple View Geometry, 2nd ed., Appendix 6.8."),
))

register(LossSpec(
    name="charbonnier",
    function=F.charbonnier,
    family="regression",
    task="regression",
    input_space="prediction",
    summary="Smooth L1: sqrt(r^2 + eps^2) - eps (the -eps puts the minimum at 0).",
    estimates="approximately the median (a smooth L1)",
    params=(Param("eps", 1e-3, D.SCALE, "smoothing width around r = 0"),),
    robust=True,
    derivatives=F._charbonnier_derivatives,
    best_input=_IDENTITY,
    param_grid=({"eps": 0.1}, {"eps": 1.0}),
    references=("Charbonnier, P., Blanc-Feraud, L., Aubert, G. & Barlaud, M. (1997). Deterministic "
                "edge-preserving regularization in computed imaging. IEEE Trans. Image Processing 6(2).",),
    notes="Equals pseudo_huber(delta=eps) / eps and barron(alpha=1, scale=eps) * eps.",
))

register(LossSpec(
    name="log_cosh",
    function=F.log_cosh,
    family="regression",
    task="regression",
    input_space="prediction",
    summary="log(cosh(r)): ~r^2/2 near 0, ~|r| - log 2 far out; smooth, convex, robust.",
    estimates="between the mean and the median",
    robust=True,
    derivatives=F._log_cosh_derivatives,
    best_input=_IDENTITY,
    references=("Saleh, R. A. & Saleh, A. K. Md. E. (2022). Statistical properties of the log-cosh loss "
                "function used in machine learning. arXiv:2208.04564.",),
))

register(LossSpec(
    name="msle",
    function=F.msle,
    aliases=("mean_squared_log_error",),
    family="regression",
    task="positive",
    input_space="prediction",
    summary="Squared error of log(1 + x): relative errors, under-prediction penalised more.",
    estimates="exp(mean(log(1 + y))) - 1 (a geometric-type mean)",
    input_domain=D.GREATER_THAN_MINUS_ONE,
    target_domain=D.GREATER_THAN_MINUS_ONE,
    raw_domain=D.GREATER_THAN_MINUS_ONE,
    convex=False,
    hessian_nonnegative=False,
    derivatives=F._msle_derivatives,
    best_input=_IDENTITY,
    peers=("sklearn.metrics.mean_squared_log_error",),
    references=("Hyndman, R. J. & Koehler, A. B. (2006). Another look at measures of forecast accuracy. "
                "International Journal of Forecasting 22(4).",),
    notes="Not convex in the prediction: the Hessian 2(1 - d)/(1 + x)^2 is negative where "
          "d = log1p(x) - log1p(y) > 1. Equivalent to mse on log1p-transformed predictions.",
))

register(LossSpec(
    name="rmsle",
    function=F.rmsle,
    family="regression",
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
))

register(LossSpec(
    name="mape",
    function=F.mape,
    aliases=("mean_absolute_percentage_error",),
    family="regression",
    task="regression",
    input_space="prediction",
    summary="Absolute error relative to |target| (a fraction, not percent); explodes near y = 0.",
    estimates="a weighted median with weights 1/|y| (biased towards small predictions)",
    derivatives=F._mape_derivatives,
    best_input=_IDENTITY,
    peers=("sklearn.metrics.mean_absolute_percentage_error",),
    references=("Hyndman, R. J. & Koehler, A. B. (2006). Another look at measures of forecast accuracy. "
                "International Journal of Forecasting 22(4).",
                "de Myttenaere, A., Golden, B., Le Grand, B. & Rossi, F. (2016). Mean Absolute Percentage "
                "Error for regression models. Neurocomputing 192."),
    notes="|y| is floored at float64 machine epsilon, as in scikit-learn. Zero Hessian everywhere.",
))

register(LossSpec(
    name="pinball",
    function=F.pinball,
    aliases=("quantile", "mean_pinball_loss"),
    family="regression",
    task="quantile",
    input_space="prediction",
    summary="Quantile (pinball) loss; several quantile levels at once with input of shape target.shape + (Q,).",
    estimates="quantile (the quantile-level conditional quantile)",
    params=(Param("quantile", 0.5, D.OPEN_UNIT,
                  "quantile level in (0, 1), or a 1-D sequence of Q levels (input then has a trailing axis of Q)",
                  kind="real_or_array"),),
    robust=True,
    derivatives=F._pinball_derivatives,
    best_input=_IDENTITY,
    param_grid=({"quantile": 0.1}, {"quantile": 0.9}, {"quantile": [0.1, 0.5, 0.9]}),
    peers=("sklearn.metrics.mean_pinball_loss",),
    references=("Koenker, R. & Bassett, G. (1978). Regression Quantiles. Econometrica 46(1).",),
    notes="Gradient 1{x > y} - quantile, choosing -quantile at x == y; Hessian 0.",
))

register(LossSpec(
    name="expectile",
    function=F.expectile,
    family="regression",
    task="quantile",
    input_space="prediction",
    summary="Asymmetric squared error |tau - 1{y < x}| (y - x)^2; tau=0.5 is half the squared error.",
    estimates="expectile (the tau-expectile; tau=0.5: the mean)",
    params=(Param("tau", 0.5, D.OPEN_UNIT, "expectile level in (0, 1)"),),
    derivatives=F._expectile_derivatives,
    best_input=_IDENTITY,
    param_grid=({"tau": 0.1}, {"tau": 0.9}),
    references=("Newey, W. K. & Powell, J. L. (1987). Asymmetric Least Squares Estimation and Testing. "
                "Econometrica 55(4).",),
))

register(LossSpec(
    name="tukey",
    function=F.tukey,
    aliases=("tukey_biweight", "bisquare"),
    family="regression",
    task="regression",
    input_space="prediction",
    summary="Tukey's biweight: redescending, constant beyond c, so gross outliers have no influence.",
    estimates="location by a redescending M-estimate (mode-seeking; ignores gross outliers)",
    params=(Param("c", 4.685, D.SCALE, _M_SCALE + "; 4.685: 95 % Gaussian efficiency"),),
    robust=True,
    convex=False,
    hessian_nonnegative=False,
    derivatives=F._tukey_derivatives,
    best_input=_IDENTITY,
    param_grid=({"c": 1.0}, {"c": 10.0}),
    references=("Beaton, A. E. & Tukey, J. W. (1974). The fitting of power series, meaning polynomials, "
                "illustrated on band-spectroscopic data. Technometrics 16(2).", _HOLLAND_WELSCH, _ZHANG),
    notes="Non-convex: start from a robust fit (e.g. the median). Hessian (1-s)(1-5s), s = (r/c)^2.",
))

register(LossSpec(
    name="cauchy",
    function=F.cauchy,
    aliases=("lorentzian",),
    family="regression",
    task="regression",
    input_space="prediction",
    summary="Cauchy/Lorentzian: (c^2/2) log(1 + (r/c)^2); grows logarithmically, redescending influence.",
    estimates="location by a redescending M-estimate (mode-seeking; ignores gross outliers)",
    params=(Param("c", 2.3849, D.SCALE, _M_SCALE + "; 2.3849: 95 % Gaussian efficiency"),),
    robust=True,
    convex=False,
    hessian_nonnegative=False,
    derivatives=F._cauchy_derivatives,
    best_input=_IDENTITY,
    param_grid=({"c": 0.5}, {"c": 10.0}),
    references=(_HOLLAND_WELSCH, _ZHANG),
))

register(LossSpec(
    name="welsch",
    function=F.welsch,
    aliases=("leclerc",),
    family="regression",
    task="regression",
    input_space="prediction",
    summary="Welsch/Leclerc: (c^2/2)(1 - exp(-(r/c)^2)); bounded, exponentially vanishing influence.",
    estimates="location by a redescending M-estimate (mode-seeking; ignores gross outliers)",
    params=(Param("c", 2.9846, D.SCALE, _M_SCALE + "; 2.9846: 95 % Gaussian efficiency"),),
    robust=True,
    convex=False,
    hessian_nonnegative=False,
    derivatives=F._welsch_derivatives,
    best_input=_IDENTITY,
    param_grid=({"c": 0.5}, {"c": 10.0}),
    references=("Dennis, J. E. & Welsch, R. E. (1978). Techniques for nonlinear least squares and robust "
                "regression. Communications in Statistics - Simulation and Computation 7(4).",
                _HOLLAND_WELSCH, _ZHANG),
))

register(LossSpec(
    name="geman_mcclure",
    function=F.geman_mcclure,
    family="regression",
    task="regression",
    input_space="prediction",
    summary="Geman-McClure: (r^2/2) / (1 + (r/c)^2); bounded by c^2/2, redescending.",
    estimates="location by a redescending M-estimate (mode-seeking; ignores gross outliers)",
    params=(Param("c", 1.0, D.SCALE, _M_SCALE),),
    robust=True,
    convex=False,
    hessian_nonnegative=False,
    derivatives=F._geman_mcclure_derivatives,
    best_input=_IDENTITY,
    param_grid=({"c": 0.5}, {"c": 10.0}),
    references=("Geman, S. & McClure, D. E. (1987). Statistical methods for tomographic image "
                "reconstruction. Bulletin of the International Statistical Institute 52(4).", _ZHANG),
))

register(LossSpec(
    name="barron",
    function=F.barron,
    aliases=("general_robust", "adaptive_robust"),
    family="regression",
    task="regression",
    input_space="prediction",
    summary="Barron's general robust loss: one shape parameter alpha spans L2 (2), "
            "Charbonnier (1), Cauchy (0), Geman-McClure (-2) and Welsch (-inf).",
    estimates="mean (alpha=2), ~median (alpha=1), mode-seeking (alpha<=0): set by alpha",
    params=(Param("alpha", 1.0, F._ALPHA_DOMAIN, "shape in [-inf, inf): smaller is more robust"),
            Param("scale", 1.0, D.SCALE, "width of the quadratic bowl around r = 0")),
    robust=True,
    convex=False,
    hessian_nonnegative=False,
    derivatives=F._barron_derivatives,
    best_input=_IDENTITY,
    param_grid=({"alpha": -float("inf")}, {"alpha": -2.0}, {"alpha": 0.0}, {"alpha": 0.5},
                {"alpha": 2.0}, {"alpha": 4.0}, {"alpha": 1.0, "scale": 0.3}, {"alpha": 1.999, "scale": 2.0}),
    references=("Barron, J. T. (2019). A General and Adaptive Robust Loss Function. CVPR. arXiv:1701.03077.",),
    notes="Convex and with a non-negative Hessian only for alpha >= 1 (alpha=2 is the scaled squared "
          "error, not robust); the flags describe the family as a whole.",
))
