"""The recommender's rules: ONE table, read top to bottom.

Each ``Rule`` row says: when ``when(profile, metric)`` holds, add ``score`` to
``loss`` with the parameters ``params(profile, metric)``, because ``why(profile)``;
or, with ``avoid=True``, put ``loss`` on the avoid list for that reason.
Scores add up over the rows that fire; the metric rows score highest, so a
named evaluation metric leads the ranking. Every loss is a registered name and
every parameter is valid for it (the tests check both for every row).

Parameter choices:
- Huber ``delta = 1.345 * robust scale`` (MAD / 0.6745): Huber's constant for
  95 % efficiency at the normal model (Huber 1964; Holland & Welsch 1977).
- Class weights ``n / (C * count_c)``: scikit-learn's ``"balanced"`` weights.
- Binary ``pos_weight = negatives / positives`` (PyTorch's
  ``BCEWithLogitsLoss`` recipe); focal ``alpha`` = the share of negatives for
  the positive class (inverse frequency; Lin et al. 2017 tuned 0.25 with
  gamma = 2 on detection, so treat it as a starting point). Softmax focal
  ``alpha`` per class = the balanced class weights normalised to sum to 1.
- Tweedie ``power`` = the measured mean-variance slope clipped to [1.1, 1.9]
  for zero-inflated non-negative data (compound Poisson-gamma needs 1 < p < 2);
  a slope near 2 favours the gamma deviance, near 1 the Poisson.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from .profile import Profile, fail

REGRESSION = ("continuous", "positive", "counts", "proportion")
CLASSES = ("binary", "multiclass", "multilabel")
IMBALANCED = 10.0  # majority:minority at or above this is "imbalanced"
OUTLIERS = 0.01  # share of |modified z| > 3.5 above which outliers matter
HEAVY_TAIL = 3.5  # Hill tail index below this: the fourth moment does not exist
ZERO_INFLATED = 0.3  # share of exact zeros
WIDE_RANGE = 2.0  # orders of magnitude between the 5th and 95th percentiles


@dataclass(frozen=True)
class Metric:
    """An evaluation metric as parsed from e.g. ``"pinball@0.9"``."""

    name: str
    level: float | None = None


# metric name -> the tasks it is defined for
METRICS = {
    "mse": REGRESSION, "rmse": REGRESSION, "mae": REGRESSION, "pinball": REGRESSION, "mape": REGRESSION,
    "rmsle": ("positive", "counts", "proportion"), "poisson_deviance": ("counts", "positive"),
    "gamma_deviance": ("positive",), "tweedie_deviance": ("positive", "counts"),
    "f1": CLASSES, "auprc": CLASSES, "roc_auc": CLASSES, "log_loss": CLASSES, "accuracy": CLASSES,
}
ALIASES = {"quantile": "pinball", "average_precision": "auprc", "pr_auc": "auprc", "auc": "roc_auc",
           "logloss": "log_loss", "cross_entropy": "log_loss", "msle": "rmsle", "l1": "mae", "l2": "mse"}


def parse_metric(metric, task: str) -> Metric | None:
    """``"pinball@0.9"`` -> ``Metric("pinball", 0.9)``; checks the metric fits the task."""
    if metric is None:
        return None
    if not isinstance(metric, str):
        raise fail("metric", "a string such as 'f1' or 'pinball@0.9'", f"{type(metric).__name__} {metric!r}",
                   TypeError)
    match = re.fullmatch(r"\s*([a-z0-9_]+)\s*(?:@\s*([0-9.eE+-]+))?\s*", metric.lower())
    name = ALIASES.get(match.group(1), match.group(1)) if match else None
    if name not in METRICS:
        raise fail("metric", f"one of {', '.join(sorted(METRICS))} (pinball@q for a quantile)", f"metric={metric!r}")
    level = None
    if match.group(2) is not None:
        try:
            level = float(match.group(2))
        except ValueError:
            level = -1.0
    if name == "pinball":
        level = 0.5 if level is None else level
        if not 0 < level < 1:
            raise ValueError(f"recommend: metric pinball@q must have 0 < q < 1; received metric={metric!r}")
    if task not in METRICS[name]:
        raise ValueError(f"recommend: metric must suit a {task} target ({name} is for "
                         f"{', '.join(METRICS[name])}); received metric={metric!r}")
    return Metric(name, level)


@dataclass(frozen=True)
class Rule:
    """One row: when ``when(profile, metric)`` holds, ``loss`` gains ``score``
    with ``params(profile, metric)`` because ``why(profile)`` (or, with
    ``avoid``, goes on the avoid list). A ``metric`` row's parameters replace
    the others' for its loss, and its loss stays ranked even where a
    non-metric row would avoid it (that reason is kept as a caveat)."""

    name: str
    when: Callable[[Profile, Metric | None], bool]
    loss: str
    score: float
    why: Callable[[Profile], str]
    params: Callable[[Profile, Metric | None], dict] | None = None
    avoid: bool = False
    metric: bool = False  # a metric row: its loss stays ranked even if another row avoids it


# -- parameter suggestions -------------------------------------------------------


def huber_delta(p: Profile, m: Metric | None = None) -> dict:
    """Huber ``delta`` = 1.345 x the robust scale (95 % efficiency at the normal)."""
    return {"delta": round(1.345 * p.robust_scale, 6)}


def balanced_weights(p: Profile) -> list:
    """n / (C * count_c) per class, in label order."""
    return [round(p.n / (p.n_classes * c), 6) for c in p.class_counts]


def class_weight(p: Profile, m: Metric | None = None) -> dict:
    """``class_weight`` = n / (C * count_c), scikit-learn's "balanced"."""
    return {"class_weight": balanced_weights(p)}


def pos_weight(p: Profile, m: Metric | None = None) -> dict:
    """``pos_weight`` = negatives / positives (per label for multi-label)."""
    if p.task == "multilabel":
        return {"pos_weight": [round((p.n - c) / max(c, 1), 6) for c in p.class_counts]}
    neg, pos = p.class_counts
    return {"pos_weight": round(neg / pos, 6)}


def sigmoid_alpha(p: Profile, m: Metric | None = None) -> dict:
    """Focal ``alpha`` = the share of negatives (the larger label is the positive class), gamma 2."""
    neg, pos = p.class_counts
    return {"alpha": round(neg / (neg + pos), 6), "gamma": 2.0}


def softmax_alpha(p: Profile, m: Metric | None = None) -> dict:
    """Per-class focal ``alpha``: the balanced weights normalised to sum to 1, gamma 2."""
    w = balanced_weights(p)
    return {"alpha": [round(v / sum(w), 6) for v in w], "gamma": 2.0}


def tweedie_power(p: Profile, m: Metric | None = None) -> dict:
    """Tweedie ``power``: the measured variance power clipped to [1.1, 1.9]."""
    return {"power": round(min(max(p.variance_power, 1.1), 1.9), 6)}


# -- conditions --------------------------------------------------------------------


def task(*tasks):
    """Condition: the profile's task is one of ``tasks``."""
    return lambda p, m: p.task in tasks


def named(*metrics):
    """Condition: the metric is one of ``metrics``."""
    return lambda p, m: m is not None and m.name in metrics


def _imbalanced(p, m):
    return p.imbalance_ratio is not None and p.imbalance_ratio >= IMBALANCED


def _outliers(p, m):
    """Gross outliers; a positive target is judged on the log scale, where a
    right-skewed (gamma, log-normal) tail is not an outlier."""
    share = p.log_outlier_fraction if p.task == "positive" and p.log_outlier_fraction is not None \
        else p.outlier_fraction
    return p.task in ("continuous", "positive") and share >= OUTLIERS


def _outlier_share(p):
    if p.task == "positive" and p.log_outlier_fraction is not None:
        return f"{p.log_outlier_fraction:.1%} outliers on the log scale"
    return f"{p.outlier_fraction:.1%} outliers"


def _skewed_positive(p, m):
    return p.task == "positive" and p.minimum > 0 and p.skewness > 1


def _heavy(p, m):
    return p.task == "continuous" and p.tail_index is not None and p.tail_index < HEAVY_TAIL


def _zero_inflated(p, m):
    return p.task in ("positive", "counts") and p.zero_fraction >= ZERO_INFLATED and p.excess_kurtosis > 3


def _wide_positive(p, m):
    return (p.task == "positive" and p.minimum > 0 and p.orders_of_magnitude is not None
            and p.orders_of_magnitude >= WIDE_RANGE)


def _gamma_variance(p, m):
    return p.task == "positive" and p.minimum > 0 and p.variance_power_source.startswith("log") \
        and p.variance_power >= 1.6


def _ratio(p):
    return f"class ratio {p.imbalance_ratio:.3g}:1 (majority:minority, counts {list(p.class_counts)})"


def _codes_note(p):
    codes = p.class_values
    if codes is not None and list(codes) != list(range(len(codes))):
        return f"; re-encode the labels {list(codes)} as 0..{len(codes) - 1} (index order)"
    return ""


def _fmt(x):
    return "n/a" if x is None else f"{x:.3g}"


RULES: tuple[Rule, ...] = (
    # -- the task's default ---------------------------------------------------------
    Rule("continuous target", task("continuous", "positive"), "mse", 3.0,
         lambda p: f"{p.task} target ({p.task_reason}): squared error estimates the conditional mean"),
    Rule("count target", task("counts"), "poisson_nll", 4.0,
         lambda p: f"counts ({p.task_reason}); dispersion index var/mean = {_fmt(p.dispersion_index)}",
         lambda p, m: {"log_input": True}),
    Rule("counts are not classes", task("counts"), "cross_entropy", 0.0,
         lambda p: "integer counts are ordered magnitudes, not unordered classes", avoid=True),
    Rule("count target, squared error", task("counts"), "mse", 1.0,
         lambda p: "squared error also estimates the mean of counts, without the log link"),
    Rule("proportion target", task("proportion"), "binary_cross_entropy", 4.0,
         lambda p: f"proportions in [0, 1] ({p.task_reason}): cross-entropy with soft targets estimates the mean "
                   "share and keeps predictions inside [0, 1]"),
    Rule("proportion target, squared error", task("proportion"), "mse", 1.0,
         lambda p: "squared error estimates the mean share but can predict outside [0, 1]"),
    Rule("binary target", task("binary"), "binary_cross_entropy_with_logits", 4.0,
         lambda p: f"binary target ({p.task_reason}): log-loss on logits gives calibrated probabilities"
                   + _codes_note(p)),
    Rule("multi-label target", task("multilabel"), "binary_cross_entropy_with_logits", 4.0,
         lambda p: f"multi-label target ({p.task_reason}): one sigmoid log-loss per label"),
    Rule("multiclass target", task("multiclass"), "cross_entropy", 4.0,
         lambda p: f"multiclass target ({p.task_reason}): softmax cross-entropy gives class probabilities"
                   + _codes_note(p)),
    Rule("classes are not magnitudes", task("binary", "multiclass", "multilabel"), "mse", 0.0,
         lambda p: "class codes are labels, not magnitudes: squared error on them ranks no probabilities",
         avoid=True),
    # -- outliers and heavy tails -----------------------------------------------------
    Rule("gross outliers", _outliers, "huber", 4.0,
         lambda p: f"{_outlier_share(p)} (|modified z| > 3.5, Iglewicz & Hoaglin); Huber's delta = 1.345 x "
                   f"robust scale {p.robust_scale:.3g}" + (" (per column, standardise each first)" if p.n_outputs > 1
                                                           else ""),
         huber_delta),
    Rule("gross outliers, median", _outliers, "mae", 2.5,
         lambda p: f"{_outlier_share(p)}: absolute error estimates the median, which they barely move"),
    Rule("gross outliers, squared error", _outliers, "mse", 0.0,
         lambda p: f"{_outlier_share(p)} dominate a squared error (influence grows with the residual)",
         avoid=True),
    Rule("heavy tails", _heavy, "huber", 2.0,
         lambda p: f"heavy tails: Hill tail index {_fmt(p.tail_index)} < {HEAVY_TAIL}, excess kurtosis "
                   f"{p.excess_kurtosis:.3g}",
         huber_delta),
    Rule("heavy tails, log-cosh", _heavy, "log_cosh", 1.5,
         lambda p: f"heavy tails (Hill tail index {_fmt(p.tail_index)}): log-cosh grows linearly in the tails"),
    # -- positive, skewed, zero-inflated -------------------------------------------
    Rule("wide positive range", _wide_positive, "gamma_deviance", 4.0,
         lambda p: f"positive values spanning {p.orders_of_magnitude:.3g} orders of magnitude (q05..q95): the "
                   "gamma deviance weighs relative errors"),
    Rule("wide positive range, log error", _wide_positive, "msle", 2.0,
         lambda p: f"{p.orders_of_magnitude:.3g} orders of magnitude: squared log error weighs relative errors"),
    Rule("wide positive range, squared error", _wide_positive, "mse", 0.0,
         lambda p: f"over {p.orders_of_magnitude:.3g} orders of magnitude the largest values dominate squared error",
         avoid=True),
    Rule("right-skewed positive", _skewed_positive, "gamma_deviance", 3.5,
         lambda p: f"positive and right-skewed (skewness {p.skewness:.3g}): the gamma deviance (log link) models "
                   "a spread growing with the mean"),
    Rule("right-skewed positive, log error", _skewed_positive, "msle", 1.5,
         lambda p: f"right skew {p.skewness:.3g}: squared log error weighs relative errors"),
    Rule("variance grows as mean squared", _gamma_variance, "gamma_deviance", 2.0,
         lambda p: f"variance grows as mean^{p.variance_power:.3g} ({p.variance_power_source}): the gamma "
                   "deviance's variance function is mean^2"),
    Rule("zero-inflated heavy tail", _zero_inflated, "tweedie_deviance", 6.0,
         lambda p: f"{p.zero_fraction:.0%} exact zeros with a heavy tail (excess kurtosis {p.excess_kurtosis:.3g});"
                   f" Tweedie power from the mean-variance slope: {p.variance_power_source}",
         tweedie_power),
    Rule("zeros rule out gamma", lambda p, m: p.task in ("positive", "counts") and p.zero_fraction > 0,
         "gamma_deviance", 0.0,
         lambda p: f"{p.zero_fraction:.1%} exact zeros lie outside the gamma deviance's target domain (0, inf)",
         avoid=True),
    # -- class imbalance ------------------------------------------------------------
    Rule("imbalanced binary, weighted log-loss", lambda p, m: p.task in ("binary", "multilabel") and _imbalanced(p, m),
         "binary_cross_entropy_with_logits", 1.0,
         lambda p: f"{_ratio(p)}: pos_weight = negatives / positives re-balances the log-loss",
         pos_weight),
    Rule("imbalanced binary, focal", lambda p, m: p.task == "binary" and _imbalanced(p, m), "sigmoid_focal", 3.5,
         lambda p: f"{_ratio(p)}: focal loss down-weights the many easy negatives; alpha = share of negatives",
         sigmoid_alpha),
    Rule("imbalanced classes, weighted cross-entropy", lambda p, m: p.task == "multiclass" and _imbalanced(p, m),
         "cross_entropy", 1.0,
         lambda p: f"{_ratio(p)}: balanced class weights n / (C * count)",
         class_weight),
    Rule("imbalanced classes, focal", lambda p, m: p.task == "multiclass" and _imbalanced(p, m), "softmax_focal", 3.5,
         lambda p: f"{_ratio(p)}: softmax focal loss with per-class alpha from inverse frequencies",
         softmax_alpha),
    # -- the evaluation metric --------------------------------------------------
    Rule("metric: squared error", named("mse", "rmse"), "mse", 10.0,
         lambda p: "the metric is (root) mean squared error: train on squared error", metric=True),
    Rule("metric: absolute error", named("mae"), "mae", 10.0,
         lambda p: "the metric is mean absolute error: absolute error estimates the median it rewards", metric=True),
    Rule("metric: absolute error, Huber", named("mae"), "huber", 3.0,
         lambda p: "Huber approaches absolute error with a smooth centre (easier to optimise)", huber_delta,
         metric=True),
    Rule("metric: pinball", named("pinball"), "pinball", 10.0,
         lambda p: "the metric is the pinball loss: train on it at the same quantile",
         lambda p, m: {"quantile": m.level}, metric=True),
    Rule("metric: Poisson deviance", named("poisson_deviance"), "poisson_nll", 10.0,
         lambda p: "the metric is the Poisson deviance: the Poisson log-likelihood minimises it",
         lambda p, m: {"log_input": True}, metric=True),
    Rule("metric: gamma deviance", named("gamma_deviance"), "gamma_deviance", 10.0,
         lambda p: "the metric is the gamma deviance", metric=True),
    Rule("metric: Tweedie deviance", named("tweedie_deviance"), "tweedie_deviance", 10.0,
         lambda p: "the metric is the Tweedie deviance", tweedie_power, metric=True),
    Rule("metric: relative error", named("mape"), "mape", 10.0,
         lambda p: "the metric is mean absolute percentage error", metric=True),
    Rule("metric: log error", named("rmsle"), "msle", 10.0,
         lambda p: "the metric is (root) mean squared log error", metric=True),
    Rule("metric: F1, binary", lambda p, m: named("f1")(p, m) and p.task == "binary", "soft_fbeta", 12.0,
         lambda p: "the metric is F1: a soft F-beta (beta = 1) optimises it directly",
         lambda p, m: {"beta": 1.0}, metric=True),
    Rule("metric: F1 or AUPRC, focal", lambda p, m: named("f1", "auprc")(p, m) and p.task == "binary",
         "sigmoid_focal", 8.0,
         lambda p: "the metric rewards the rare positive class: focal loss concentrates on hard examples",
         sigmoid_alpha, metric=True),
    Rule("metric: F1 or AUPRC, multiclass focal", lambda p, m: named("f1", "auprc")(p, m) and p.task == "multiclass",
         "softmax_focal", 10.0,
         lambda p: "the metric rewards the rare classes: focal loss with per-class alpha",
         softmax_alpha, metric=True),
    Rule("metric: F1 or AUPRC, weighted", lambda p, m: named("f1", "auprc")(p, m) and p.task == "multiclass",
         "cross_entropy", 5.0,
         lambda p: "class-weighted cross-entropy also lifts the rare classes", class_weight, metric=True),
    Rule("metric: log-loss or AUC, binary", lambda p, m: named("log_loss", "roc_auc")(p, m)
         and p.task in ("binary", "multilabel"), "binary_cross_entropy_with_logits", 10.0,
         lambda p: "the metric is log-loss / ROC AUC: the log-loss itself, unweighted, keeps probabilities calibrated",
         metric=True),
    Rule("metric: log-loss or accuracy, multiclass", lambda p, m: named("log_loss", "roc_auc", "accuracy")(p, m)
         and p.task == "multiclass", "cross_entropy", 10.0,
         lambda p: "the metric is log-loss / accuracy: plain cross-entropy", metric=True),
    Rule("metric: accuracy, binary", lambda p, m: named("accuracy")(p, m) and p.task in ("binary", "multilabel"),
         "binary_cross_entropy_with_logits", 10.0,
         lambda p: "the metric is accuracy: log-loss gives probabilities to threshold", metric=True),
    Rule("metric: log-loss, no focal", lambda p, m: named("log_loss")(p, m), "sigmoid_focal", 0.0,
         lambda p: "focal loss is not a proper scoring rule (gamma > 0): it miscalibrates the log-loss",
         avoid=True),
)
