"""Test metrics for the compare harness: which metrics fit a task, their direction, and their values.

The values come from :mod:`sklearn.metrics`; only the calibration error is written here.
A *prediction* follows the compare vocabulary: regression/quantile ``(n,)`` values in target
units; binary ``(n,)`` probability of class 1; multiclass ``(n, C)`` class probabilities.

Definitions worth stating:

- ``rmse``, ``mae``, ``median_ae``, ``r2``; ``pinball@q`` is the mean pinball loss at level
  ``q`` (``0 < q < 1``), e.g. ``pinball@0.9``.
- Binary hard labels: class 1 when ``p > 0.5`` (ties go to class 0, as ``argmax`` over
  ``[1 - p, p]`` would). Multiclass hard labels: ``argmax`` of the row.
- ``f1``: binary F1 of class 1; multiclass *macro* F1 over the classes that occur in the fold's
  truth or predictions.
- ``auroc``: binary ROC AUC; multiclass *macro* one-vs-rest.
- ``auprc``: average precision (step-wise area under the precision-recall curve); multiclass
  *macro* one-vs-rest.
- ``log_loss``: mean negative log-likelihood; probabilities are clipped only as sklearn clips
  them (to the float64 machine epsilon).
- ``ece``: expected calibration error of the top-label confidence with 15 equal-width bins,
  ``sum_b (n_b / n) * |accuracy_b - confidence_b|`` where a sample's confidence is its largest
  class probability (binary: ``max(p, 1 - p)``) and bin ``b`` holds confidences in
  ``((b-1)/15, b/15]`` (a confidence of 0 falls into the first bin). Guo et al. (2017).
- ``recall@k`` (task ``"embedding"``: the prediction is an ``(n, d)`` embedding, the truth the
  class labels): the share of rows whose ``k`` nearest other rows of the same test fold
  (Euclidean) hold at least one of the same label; a metric-learning lesson, not a compare task.

A metric that is undefined on a fold returns ``float('nan')`` and does not raise: AUROC with
one class in the truth (multiclass: any class missing), AUPRC with no positive (multiclass: any
class missing), binary F1 with no positive in truth and prediction, R² with a constant truth.
A prediction that holds NaN or infinity (a diverged fit) makes every metric NaN; the statistics
count such trials rather than drop them silently.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .config import fail

__all__ = ["METRICS", "TASKS", "Metric", "compute", "default_metrics", "higher_is_better", "parse_metrics"]

TASKS = ("regression", "quantile", "binary", "multiclass", "embedding")
_REGRESSION = frozenset({"regression", "quantile"})
_CLASSIFICATION = frozenset({"binary", "multiclass"})
_EMBEDDING = frozenset({"embedding"})
_N_BINS = 15
_ROW_SUM_TOL = 1e-5


@dataclass(frozen=True)
class Metric:
    """One metric: its canonical name, the tasks it fits, its direction and a short description."""

    name: str
    tasks: frozenset
    higher_is_better: bool
    description: str


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("rmse", _REGRESSION, False, "root mean squared error"),
        Metric("mae", _REGRESSION, False, "mean absolute error"),
        Metric("median_ae", _REGRESSION, False, "median absolute error"),
        Metric("r2", _REGRESSION, True, "coefficient of determination R²"),
        Metric("pinball", _REGRESSION, False, "mean pinball loss at level q; written pinball@q"),
        Metric("accuracy", _CLASSIFICATION, True, "share of correct hard labels"),
        Metric("balanced_accuracy", _CLASSIFICATION, True, "mean recall over classes"),
        Metric("f1", _CLASSIFICATION, True, "F1 of class 1 (binary) or macro F1 (multiclass)"),
        Metric("auroc", _CLASSIFICATION, True, "ROC AUC (multiclass: macro one-vs-rest)"),
        Metric("auprc", _CLASSIFICATION, True, "average precision (multiclass: macro one-vs-rest)"),
        Metric("log_loss", _CLASSIFICATION, False, "mean negative log-likelihood"),
        Metric("ece", _CLASSIFICATION, False, "expected calibration error, top label, 15 bins"),
        Metric("recall", _EMBEDDING, True, "share of rows with a same-label row among their k nearest; recall@k"),
    )
}
"""Canonical metric names -> :class:`Metric`; ``pinball`` stands for the family ``pinball@q``."""

_ALIASES = {
    "logloss": "log_loss",
    "log_likelihood_loss": "log_loss",
    "cross_entropy": "log_loss",
    "roc_auc": "auroc",
    "auc": "auroc",
    "average_precision": "auprc",
    "pr_auc": "auprc",
    "aupr": "auprc",
    "quantile": "pinball",
    "pinball_loss": "pinball",
    "median_absolute_error": "median_ae",
    "medae": "median_ae",
    "mean_absolute_error": "mae",
    "root_mean_squared_error": "rmse",
    "r_squared": "r2",
    "calibration_error": "ece",
    "balanced_acc": "balanced_accuracy",
    "acc": "accuracy",
}


def _check_task(task) -> str:
    if task not in TASKS:
        raise fail("task", f"one of {', '.join(TASKS)}", repr(task))
    return task


def _valid_names(task: str) -> str:
    names = [{"pinball": "pinball@q (0 < q < 1)", "recall": "recall@k (k >= 1)"}.get(n, n)
             for n, m in METRICS.items() if task in m.tasks]
    return ", ".join(names)


def _bad(task: str, received, why: str = "") -> ValueError:
    tail = f" ({why})" if why else ""
    return fail("--metric", f"one of {_valid_names(task)} for a {task} task", f"{received!r}{tail}")


def _canonical(name, task: str | None = None, *, quantile=None) -> str:
    """Canonical spelling of one metric name; ``task`` (when given) must fit. Raises ``ValueError``."""
    if not isinstance(name, str):
        raise fail("--metric names", "strings", f"{name!r} ({type(name).__name__})", TypeError)
    text = name.strip().lower()
    base, at, level = text.partition("@")
    base = re.sub(r"[\s\-]+", "_", base.strip())
    base = _ALIASES.get(base, base)
    if base not in METRICS:
        if task is None:
            valid = ", ".join({"pinball": "pinball@q", "recall": "recall@k"}.get(n, n) for n in METRICS)
            raise fail("--metric", f"one of {valid}", repr(name))
        raise _bad(task, name)
    if base == "pinball":
        if not at:
            if quantile is None:
                raise ValueError(f"compare: --metric pinball needs its level, written pinball@q with 0 < q < 1 "
                                 f"(e.g. pinball@0.9); received {name!r}")
            level = str(quantile)
        try:
            q = float(level)
        except ValueError:
            q = math.nan
        if not 0.0 < q < 1.0:
            raise ValueError(f"compare: --metric pinball@q needs a level 0 < q < 1; received {name!r}")
        canonical = f"pinball@{q!r}"
    elif base == "recall":
        if not level.strip().isdigit() or int(level) < 1:
            raise ValueError(f"compare: --metric recall@k needs an integer k >= 1 (e.g. recall@1); received {name!r}")
        canonical = f"recall@{int(level)}"
    elif at:
        raise ValueError(f"compare: --metric {base} takes no @level (only pinball@q and recall@k do); "
                         f"received {name!r}")
    else:
        canonical = base
    if task is not None and task not in METRICS[base].tasks:
        kind = {_REGRESSION: "regression", _EMBEDDING: "embedding"}.get(METRICS[base].tasks, "classification")
        raise _bad(task, name, f"{'an' if kind[0] in 'aeiou' else 'a'} {kind} metric")
    return canonical


def _level(name: str) -> float:
    return float(name.partition("@")[2])


def higher_is_better(name: str) -> bool:
    """Whether larger values of metric ``name`` (any accepted spelling) are better.

    >>> higher_is_better("auroc"), higher_is_better("RMSE"), higher_is_better("pinball@0.9")
    (True, False, False)
    """
    return METRICS[_canonical(name).partition("@")[0]].higher_is_better


def default_metrics(task: str, quantile: float | None = None) -> list[str]:
    """The metrics reported when ``--metric`` is not given; the first is the primary one.

    >>> default_metrics("regression")
    ['rmse', 'mae', 'median_ae', 'r2']
    >>> default_metrics("quantile", quantile=0.9)
    ['pinball@0.9', 'mae']
    """
    _check_task(task)
    if task == "regression":
        return ["rmse", "mae", "median_ae", "r2"]
    if task == "quantile":
        if quantile is None:
            raise fail("quantile", "the level 0 < q < 1 of the quantile task", "None")
        return [_canonical("pinball", task, quantile=quantile), "mae"]
    if task == "embedding":
        return ["recall@1"]
    if task == "binary":
        return ["auprc", "auroc", "log_loss", "balanced_accuracy", "f1", "accuracy", "ece"]
    return ["accuracy", "balanced_accuracy", "f1", "auroc", "log_loss", "ece"]


def parse_metrics(text_or_list, task: str, *, quantile: float | None = None) -> list[str]:
    """Canonical metric names from ``--metric`` text (comma-separated) or a list, checked against ``task``.

    Names are case-insensitive and accept aliases (``logloss``, ``roc_auc``, ``pr_auc``,
    ``quantile@0.9``...). A bare ``pinball`` takes the level ``quantile``.

    >>> parse_metrics("RMSE, quantile@0.9", "regression")
    ['rmse', 'pinball@0.9']
    >>> parse_metrics(["roc_auc", "logloss"], "binary")
    ['auroc', 'log_loss']
    """
    _check_task(task)
    if isinstance(text_or_list, str):
        items = [part.strip() for part in text_or_list.split(",")]
    elif isinstance(text_or_list, Iterable):
        items = list(text_or_list)
    else:
        raise _bad(task, text_or_list)
    if not items or any(isinstance(item, str) and not item.strip() for item in items):
        raise _bad(task, text_or_list, "an empty name")
    names = [_canonical(item, task, quantile=quantile) for item in items]
    seen = set()
    for item, name in zip(items, names):
        if name in seen:
            raise ValueError(f"compare: --metric must name each metric once; received {name!r} twice "
                             f"(in {text_or_list!r})")
        seen.add(name)
    return names


# ---------------------------------------------------------------------------------------------- values


def _ece(confidence: np.ndarray, correct: np.ndarray, n_bins: int = _N_BINS) -> float:
    """Expected calibration error of top-label ``confidence`` against ``correct`` (0/1), equal-width bins.

    >>> _ece(np.array([0.9, 0.9, 0.9, 0.9]), np.array([1, 1, 1, 0]))  # |0.75 - 0.9|
    0.15000000000000002
    """
    if confidence.size == 0:
        return math.nan
    index = np.clip(np.ceil(confidence * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    conf_sum = np.bincount(index, weights=confidence, minlength=n_bins)
    acc_sum = np.bincount(index, weights=correct.astype(np.float64), minlength=n_bins)
    return float(np.abs(acc_sum - conf_sum).sum() / confidence.size)


def _balanced_accuracy(y: np.ndarray, hard: np.ndarray) -> float:
    """Mean recall over the classes present in the truth: ``balanced_accuracy_score`` without its warning
    when the prediction holds a class the truth lacks."""
    from sklearn import metrics as skm

    present = np.unique(y)
    if present.size == np.unique(np.concatenate([y, hard])).size:
        return float(skm.balanced_accuracy_score(y, hard))
    return float(skm.recall_score(y, hard, labels=present, average="macro"))


def _regression_value(base: str, name: str, y: np.ndarray, p: np.ndarray) -> float:
    from sklearn import metrics as skm

    if base == "rmse":
        return float(skm.root_mean_squared_error(y, p))
    if base == "mae":
        return float(skm.mean_absolute_error(y, p))
    if base == "median_ae":
        return float(skm.median_absolute_error(y, p))
    if base == "r2":
        if y.size < 2 or np.all(y == y[0]):
            return math.nan
        return float(skm.r2_score(y, p))
    return float(skm.mean_pinball_loss(y, p, alpha=_level(name)))


def _binary_value(base: str, y: np.ndarray, p: np.ndarray) -> float:
    from sklearn import metrics as skm

    hard = (p > 0.5).astype(np.int64)
    n_pos = int(y.sum())
    if base == "accuracy":
        return float(skm.accuracy_score(y, hard))
    if base == "balanced_accuracy":
        return _balanced_accuracy(y, hard)
    if base == "f1":
        if n_pos == 0 and not hard.any():
            return math.nan
        return float(skm.f1_score(y, hard, pos_label=1, average="binary"))
    if base == "auroc":
        return math.nan if n_pos in (0, y.size) else float(skm.roc_auc_score(y, p))
    if base == "auprc":
        return math.nan if n_pos == 0 else float(skm.average_precision_score(y, p))
    if base == "log_loss":
        return float(skm.log_loss(y, p, labels=[0, 1]))
    return _ece(np.maximum(p, 1.0 - p), hard == y)


def _multiclass_value(base: str, y: np.ndarray, p: np.ndarray) -> float:
    from sklearn import metrics as skm

    n_classes = p.shape[1]
    labels = np.arange(n_classes)
    hard = np.argmax(p, axis=1)
    all_present = np.unique(y).size == n_classes
    if base == "accuracy":
        return float(skm.accuracy_score(y, hard))
    if base == "balanced_accuracy":
        return _balanced_accuracy(y, hard)
    if base == "f1":
        return float(skm.f1_score(y, hard, average="macro"))
    if base == "auroc":
        if not all_present:
            return math.nan
        return float(skm.roc_auc_score(y, p, multi_class="ovr", average="macro", labels=labels))
    if base == "auprc":
        if not all_present:
            return math.nan
        return float(skm.average_precision_score(np.eye(n_classes, dtype=np.int64)[y], p, average="macro"))
    if base == "log_loss":
        return float(skm.log_loss(y, p, labels=labels))
    return _ece(p.max(axis=1), hard == y)


def _recall_at_k(k: int, y: np.ndarray, embedding: np.ndarray) -> float:
    """Share of rows with a same-label row among their ``k`` nearest other rows (Euclidean).

    >>> _recall_at_k(1, np.array([0, 0, 1, 1]), np.array([[0.0], [0.1], [1.0], [5.0]]))
    0.75
    """
    from sklearn.metrics import pairwise_distances

    if y.size < 2:
        return math.nan
    d = pairwise_distances(embedding)
    np.fill_diagonal(d, np.inf)
    nearest = np.argsort(d, axis=1, kind="stable")[:, :k]
    return float(np.mean(np.any(y[nearest] == y[:, None], axis=1)))


def _as_labels(y: np.ndarray, n_classes: int, task: str) -> np.ndarray:
    if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)) or y.min() < 0 or y.max() > n_classes - 1:
        bad = y[~np.isfinite(y) | (y != np.round(y)) | (y < 0) | (y > n_classes - 1)][:5]
        raise ValueError(f"compare: y_true must hold class codes 0..{n_classes - 1} for a {task} task; "
                         f"received values such as {bad.tolist()}")
    return y.astype(np.int64)


def compute(names, task: str, y_true, prediction) -> dict[str, float]:
    """Values of metrics ``names`` (any accepted spelling) on one test fold, keyed by canonical name.

    See the module docstring for the definitions and for when a value is NaN. Multiclass rows must sum
    to 1 within 1e-5 (else ``ValueError``); they are divided by their sums only to remove that rounding.

    >>> compute(["rmse", "mae"], "regression", [1.0, 2.0, 3.0], [1.0, 2.0, 5.0])
    {'rmse': 1.1547005383792515, 'mae': 0.6666666666666666}
    >>> compute("accuracy,auroc", "binary", [0, 1, 1, 0], [0.2, 0.7, 0.4, 0.1])
    {'accuracy': 0.75, 'auroc': 1.0}
    """
    _check_task(task)
    canonical = parse_metrics(names, task)
    y = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(prediction, dtype=np.float64)
    if y.ndim != 1 or y.size == 0:
        raise fail("y_true", "a non-empty 1-D array", f"shape {y.shape}")
    if not np.all(np.isfinite(y)):
        raise fail("y_true", "finite", f"{int(np.sum(~np.isfinite(y)))} NaN/inf values")
    two_d = task in ("multiclass", "embedding")
    want = (y.size, p.shape[1] if p.ndim == 2 else -1) if two_d else (y.size,)
    if p.shape != want or (task == "multiclass" and p.shape[1] < 2):
        expected = {"multiclass": "(n, C) with C >= 2", "embedding": "(n, d)"}.get(task, "(n,)")
        raise ValueError(f"compare: prediction must have shape {expected} matching y_true (n={y.size}) for a "
                         f"{task} task; received shape {p.shape}")
    if not np.all(np.isfinite(p)):
        return {name: math.nan for name in canonical}
    if task in _CLASSIFICATION:
        if p.min() < 0.0 or p.max() > 1.0:
            raise ValueError(f"compare: prediction must hold probabilities in [0, 1] for a {task} task; "
                             f"received values in [{p.min()!r}, {p.max()!r}]")
        if task == "multiclass":
            sums = p.sum(axis=1)
            worst = float(np.max(np.abs(sums - 1.0)))
            if worst > _ROW_SUM_TOL:
                raise ValueError(f"compare: prediction rows must sum to 1 (within {_ROW_SUM_TOL}) for a multiclass "
                                 f"task; received a row summing to {float(sums[np.argmax(np.abs(sums - 1.0))])!r}")
            p = p / sums[:, None]  # rounding only (within the tolerance), so sklearn's exact checks pass
        y = _as_labels(y, p.shape[1] if task == "multiclass" else 2, task)
    out = {}
    for name in canonical:
        base = name.partition("@")[0]
        if task in _REGRESSION:
            out[name] = _regression_value(base, name, y, p)
        elif task == "embedding":
            out[name] = _recall_at_k(int(name.partition("@")[2]), y, p)
        elif task == "binary":
            out[name] = _binary_value(base, y, p)
        else:
            out[name] = _multiclass_value(base, y, p)
    return out
