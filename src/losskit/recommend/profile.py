"""Profile a target: its task type and the statistics the loss rules read.

Every statistic is a plain Python number or string (``None`` where it does not
apply), so a profile prints, compares and serialises to JSON as it is.

References
----------
- B. Iglewicz, D. C. Hoaglin (1993), *How to Detect and Handle Outliers*:
  the modified z-score ``0.6745 (y - median) / MAD`` and the cut-off 3.5.
- B. M. Hill (1975), "A simple general approach to inference about the tail
  of a distribution", *Annals of Statistics* 3(5): the tail-index estimator.
- B. Jørgensen (1987), "Exponential dispersion models": Tweedie's
  ``Var(y) = phi * mean**p``, the variance power ``p`` estimated here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import partial

import numpy as np

from .._validate import refusal

TASKS = ("binary", "multiclass", "multilabel", "continuous", "counts", "proportion", "positive")

OUTLIER_Z = 3.5  # Iglewicz & Hoaglin's cut-off for the modified z-score
MAD_TO_SIGMA = 0.6745  # MAD / 0.6745 estimates the standard deviation of a normal sample
LARGE_COUNTS_P5 = 20  # integer targets whose 5th percentile is above this are read as measurements
DEFAULT_VARIANCE_POWER = 1.5  # Tweedie power used when the mean-variance relation cannot be measured


@dataclass(frozen=True)
class Profile:
    """What :func:`profile` measured in a target (see its docstring for each field)."""

    n: int
    n_outputs: int
    task: str
    task_reason: str
    n_classes: int | None
    class_values: tuple | None  # the distinct labels (binary / multiclass), sorted
    class_counts: tuple | None  # counts per class (per label's positives for multi-label), in label order
    imbalance_ratio: float | None  # majority / minority count (positives vs negatives for binary/multi-label)
    minimum: float
    maximum: float
    mean: float
    std: float
    median: float
    robust_scale: float  # MAD / 0.6745 (mean absolute deviation * 1.2533 where MAD is 0); 1.0 for
    # multi-output, whose columns are measured each in its own robust units
    outlier_fraction: float  # share with |modified z| > 3.5 (multi-output: each column in its own units)
    log_outlier_fraction: float | None  # the same on log(y), where every value is > 0
    excess_kurtosis: float
    skewness: float
    tail_index: float | None  # Hill estimate on the top k = max(10, sqrt(n)) absolute deviations
    zero_fraction: float
    orders_of_magnitude: float | None  # log10(q95 / q05) over the positive values
    dispersion_index: float | None  # variance / mean, for counts
    variance_power: float  # p in Var ∝ mean**p (DEFAULT_VARIANCE_POWER when not measured)
    variance_power_source: str

    def as_dict(self) -> dict:
        """The profile as a JSON-friendly dict."""
        out = asdict(self)
        for key in ("class_values", "class_counts"):
            out[key] = list(out[key]) if out[key] is not None else None
        return out


# fail(arg, expectation, received, kind=ValueError) -> "recommend: <arg> must be <expectation>; received <received>"
fail = partial(refusal, "recommend")


def _as_target(y) -> np.ndarray:
    try:
        arr = np.asarray(y)
    except (ValueError, TypeError) as exc:  # ragged lists and the like
        raise fail("y", "an array of numbers", f"{type(y).__name__} ({exc})", TypeError) from None
    if arr.dtype == bool:
        arr = arr.astype(np.int64)
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise fail("y", "numeric (encode class names as integers 0..C-1)", f"dtype {arr.dtype}", TypeError)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim not in (1, 2):
        raise fail("y", "1-D (or 2-D for multi-label / multi-output)", f"shape {arr.shape}")
    if arr.size == 0:
        raise fail("y", "non-empty", f"shape {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        raise fail("y", "finite (no NaN or inf)", f"{int(bad.sum())} non-finite value(s)")
    if np.all(arr == arr.flat[0]):
        raise fail("y", "non-constant (a constant target has nothing to learn)", f"every value = {arr.flat[0].item()!r}")
    return arr


def _as_features(X, n: int) -> np.ndarray | None:
    if X is None:
        return None
    X = np.asarray(X)
    if not (np.issubdtype(X.dtype, np.number) or X.dtype == bool):
        raise fail("X", "numeric", f"dtype {X.dtype}", TypeError)
    X = X.astype(np.float64)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2 or X.shape[0] != n:
        raise fail("X", f"2-D with {n} rows (one per target row)", f"shape {X.shape}")
    if not np.isfinite(X).all():
        raise fail("X", "finite (no NaN or inf)", f"{int((~np.isfinite(X)).sum())} non-finite value(s)")
    return X


def _count_like(values: np.ndarray, counts: np.ndarray) -> str | None:
    """Why non-negative integers read as counts rather than class codes (None: classes).

    Class codes are 0..C-1 (or 1..C) with every class present; counts are not
    bound to that: a gap in the values, a smallest value of 2 or more, or (with
    4+ distinct values) a right tail whose largest value is under a tenth as
    frequent as the mode, as a count distribution has and class codes do not."""
    if len(values) <= 2:
        return None
    if values[-1] - values[0] + 1 != len(values):
        return "the values have gaps (class codes 0..C-1 would all be present)"
    if values[0] >= 2:
        return f"the smallest value is {int(values[0])} (class codes start at 0 or 1)"
    if len(values) >= 4 and counts[-1] < 0.1 * counts.max():
        return "the largest value is under a tenth as frequent as the mode (a count-like right tail)"
    return None


def _detect(y: np.ndarray) -> tuple[str, str, np.ndarray | None, np.ndarray | None]:
    """(task, reason, class values, class counts)."""
    values, counts = np.unique(y, return_counts=True)
    integral = bool(np.all(y == np.round(y)))
    if y.ndim == 2:
        if set(values.tolist()) <= {0, 1}:
            return "multilabel", f"2-D with {y.shape[1]} columns of 0/1", None, None
    elif len(values) == 2:
        return "binary", f"two distinct values {values[0]:g} and {values[1]:g}", values, counts
    elif integral and values[0] >= 0:
        p5 = float(np.percentile(y, 5))
        why = _count_like(values, counts)
        if p5 > LARGE_COUNTS_P5:
            pass  # large integers: a measurement (a Poisson with such a mean is near-normal)
        elif why is not None:
            return "counts", f"non-negative integers; {why}", None, None
        else:
            return "multiclass", f"{len(values)} contiguous integer codes from {int(values[0])}", values, counts
    elif integral and len(values) <= 20:
        return "multiclass", f"{len(values)} distinct integer codes", values, counts
    lead = "multi-output: " if y.ndim == 2 else ""
    if integral and values[0] >= 0 and y.ndim == 1:
        lead = f"integers with 5th percentile {p5:g} > {LARGE_COUNTS_P5}, read as a measurement; "
    if values[0] >= 0 and values[-1] <= 1:
        return "proportion", lead + "non-integer values inside [0, 1]", None, None
    if values[0] > 0:
        return "positive", lead + "every value > 0", None, None
    if values[0] >= 0 and not integral:
        return "positive", lead + "non-negative values (zeros included)", None, None
    return "continuous", lead + "real values of both signs" if values[0] < 0 else lead + "real values", None, None


def _robust(y: np.ndarray):
    """(median, robust scale) along axis 0: MAD / 0.6745; where MAD is 0, the mean
    absolute deviation x 1.2533, as Iglewicz & Hoaglin advise."""
    med = np.median(y, axis=0)
    dev = np.abs(y - med)
    mad = np.median(dev, axis=0)
    scale = np.where(mad > 0, mad / MAD_TO_SIGMA, np.mean(dev, axis=0) * 1.2533)
    # a constant column of a multi-output target: any unit will do (its z-scores are 0)
    return med, np.where(scale > 0, scale, 1.0)


def _misfit(task: str, y: np.ndarray) -> str | None:
    """Why ``y`` cannot be read as ``task`` (None: it can)."""
    integral = bool(np.all(y == np.round(y)))
    values = np.unique(y)
    needs = {
        "binary": (y.ndim == 1 and len(values) == 2, "binary needs a 1-D target with two distinct values"),
        "multiclass": (y.ndim == 1 and integral, "multiclass needs 1-D integer class codes"),
        "multilabel": (y.ndim == 2 and set(values.tolist()) <= {0, 1}, "multilabel needs 2-D 0/1 columns"),
        "counts": (integral and values[0] >= 0, "counts need non-negative integers"),
        "proportion": (values[0] >= 0 and values[-1] <= 1, "proportions need values in [0, 1]"),
        "positive": (values[0] >= 0, "positive needs non-negative values"),
        "continuous": (True, ""),
    }
    ok, why = needs[task]
    return None if ok else why


def _hill(dev: np.ndarray) -> float | None:
    """Hill's tail index on the k = max(10, floor(sqrt(n))) largest absolute
    deviations: alpha = k / sum(log(x_(i) / x_(k+1))), i = 1..k. Smaller is
    heavier: moments of order >= alpha do not exist (a normal tail gives large values)."""
    x = np.sort(dev)[::-1]
    k = max(10, int(np.sqrt(len(x))))
    if len(x) <= k or x[k] <= 0:
        return None
    total = float(np.sum(np.log(x[:k] / x[k])))
    return float(k / total) if total > 0 else None


def _variance_power(y: np.ndarray, X: np.ndarray | None) -> tuple[float, str]:
    """Slope of log Var(y) on log mean(y) over groups of similar predictions."""
    if X is None:
        return DEFAULT_VARIANCE_POWER, f"default {DEFAULT_VARIANCE_POWER} (no X to group rows by)"
    design = np.column_stack([np.ones(len(y)), X])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    pred = design @ coef
    bins = int(np.clip(len(y) // 30, 3, 10))
    edges = np.quantile(pred, np.linspace(0, 1, bins + 1))
    group = np.clip(np.searchsorted(edges, pred, side="right") - 1, 0, bins - 1)
    means, variances = [], []
    for g in range(bins):
        part = y[group == g]
        if len(part) >= 5 and part.mean() > 0 and part.var(ddof=1) > 0:
            means.append(part.mean())
            variances.append(part.var(ddof=1))
    if len(means) < 3 or np.ptp(np.log(means)) < 1e-6:
        return DEFAULT_VARIANCE_POWER, f"default {DEFAULT_VARIANCE_POWER} (too few distinct groups)"
    slope = float(np.polyfit(np.log(means), np.log(variances), 1)[0])
    return slope, f"log-variance on log-mean slope over {len(means)} groups of a least-squares fit's predictions"


def profile(y, X=None, *, task: str | None = None) -> Profile:
    """Measure a target ``y`` (and optionally features ``X``) for loss selection.

    Args:
        y: 1-D target, or 2-D: 0/1 columns are multi-label, other columns a
            multi-output regression (statistics pooled over all values).
        X: optional features (n rows); used only to measure the mean-variance
            relation (Tweedie power) by grouping rows by a least-squares fit.
        task: override the detected task (one of ``TASKS``).

    Task rules (first match): 2-D 0/1 -> multilabel; two distinct values ->
    binary; non-negative integers -> counts when count-like (gaps, smallest
    value >= 2, or a thin right tail; see ``_count_like``) else multiclass,
    except integers whose 5th percentile exceeds 20, read as measurements;
    other integers with <= 20 distinct values -> multiclass; values in [0, 1]
    -> proportion; non-negative -> positive; otherwise continuous.

    Outliers: modified z = 0.6745 (y - median) / MAD, outlier when |z| > 3.5
    (Iglewicz & Hoaglin). Kurtosis and skewness are the moment estimates.

    >>> p = profile([0, 1, 0, 0, 1, 0])
    >>> p.task, p.n_classes, p.imbalance_ratio
    ('binary', 2, 2.0)
    """
    arr = _as_target(y)
    n = int(arr.shape[0])
    Xf = _as_features(X, n)
    y64 = arr.astype(np.float64)
    detected, reason, classes, class_counts = _detect(y64)
    if task is not None:
        if task not in TASKS:
            raise fail("task", f"one of {', '.join(TASKS)}", f"task={task!r}")
        problem = _misfit(task, y64)
        if problem:
            raise fail("task", f"a task the target fits ({problem})", f"task={task!r}")
        detected, reason = task, "given by the caller"
        if task in ("binary", "multiclass"):
            classes, class_counts = np.unique(y64, return_counts=True)
    flat = y64.ravel()

    n_classes = imbalance = None
    counts_out = values_out = None
    if detected in ("binary", "multiclass") and class_counts is not None:
        n_classes = len(classes)
        counts_out = tuple(int(c) for c in class_counts)
        values_out = tuple(int(v) if v == int(v) else float(v) for v in classes)
        imbalance = float(class_counts.max() / class_counts.min())
    elif detected == "multilabel":
        positives = y64.sum(axis=0)
        n_classes = y64.shape[1]
        counts_out = tuple(int(c) for c in positives)
        ratios = [max(p, n - p) / max(min(p, n - p), 1) for p in positives]
        imbalance = float(max(ratios))

    median = float(np.median(flat))
    if arr.ndim == 2 and detected != "multilabel":
        # multi-output: each column in its own robust units, then pooled
        med, col_scale = _robust(y64)
        z = ((y64 - med) / col_scale).ravel()
        scale = 1.0
    else:
        med, scale = _robust(flat)
        z = (flat - med) / scale
    log_outliers = None
    if flat.min() > 0:
        lm, ls = _robust(np.log(y64))
        log_outliers = float(np.mean(np.abs((np.log(y64) - lm) / ls) > OUTLIER_Z))
    dev = np.abs(z)
    mean, std = float(flat.mean()), float(flat.std())
    centred = (flat - mean) / std
    positive = flat[flat > 0]
    lo, hi = np.quantile(positive, [0.05, 0.95]) if len(positive) else (0.0, 0.0)
    orders = float(np.log10(hi / lo)) if lo > 0 else None
    dispersion = float(flat.var(ddof=1) / mean) if detected == "counts" and mean > 0 else None
    if flat.min() >= 0 and detected not in ("binary", "multiclass", "multilabel") and arr.ndim == 1:
        power, source = _variance_power(y64, Xf)
    else:
        power, source = DEFAULT_VARIANCE_POWER, "not measured (not a non-negative 1-D target)"
    return Profile(
        n=n,
        n_outputs=1 if arr.ndim == 1 else int(arr.shape[1]),
        task=detected,
        task_reason=reason,
        n_classes=n_classes,
        class_values=values_out,
        class_counts=counts_out,
        imbalance_ratio=imbalance,
        minimum=float(flat.min()),
        maximum=float(flat.max()),
        mean=mean,
        std=std,
        median=median,
        robust_scale=float(scale),
        outlier_fraction=float(np.mean(np.abs(z) > OUTLIER_Z)),
        log_outlier_fraction=log_outliers,
        excess_kurtosis=float(np.mean(centred**4) - 3.0),
        skewness=float(np.mean(centred**3)),
        tail_index=_hill(dev),
        zero_fraction=float(np.mean(flat == 0)),
        orders_of_magnitude=orders,
        dispersion_index=dispersion,
        variance_power=power,
        variance_power_source=source,
    )
