"""The loss recommender: each rule fires on data with its property planted and
stays quiet without it; suggested parameters are valid; scikit-learn's toy
datasets get sensible answers; bad targets fail clearly."""

from __future__ import annotations

import json

import numpy as np
import pytest

import losskit
from losskit.recommend import RULES, profile, recommend
from losskit.registry import check_params


def _rng(seed=0):
    return np.random.default_rng(20261122 + seed)


def normal():
    return _rng(1).normal(size=1000)


def outliers():
    r = _rng(2)
    y = r.normal(size=1000)
    y[:50] += r.choice([-1.0, 1.0], 50) * r.uniform(10, 20, 50)  # 5 % gross outliers
    return y


def heavy():
    return _rng(3).standard_t(2.5, size=2000)


def counts():
    return _rng(4).poisson(3.0, size=1000)


def proportions():
    return _rng(5).beta(2.0, 5.0, size=500)


def binary():
    return (_rng(6).random(1000) < 0.4).astype(np.int64)


def rare_binary():
    return np.r_[np.zeros(990), np.ones(10)].astype(np.int64)  # 1:99


def multiclass():
    return _rng(7).integers(0, 4, size=800)


def rare_multiclass():
    return _rng(8).choice(3, size=2000, p=[0.01, 0.59, 0.40])


def multilabel():
    return (_rng(9).random((600, 3)) < 0.4).astype(np.int64)


def rare_multilabel():
    y = np.zeros((1000, 3), dtype=np.int64)
    y[:500, 0], y[:300, 1], y[:5, 2] = 1, 1, 1
    return y


def zero_inflated():
    r = _rng(10)
    y = r.lognormal(1.0, 1.5, size=1000)
    y[r.random(1000) < 0.7] = 0.0  # 70 % zeros, heavy tail
    return y


def skewed():
    return _rng(11).lognormal(0.0, 1.0, size=1000)


def wide():
    return _rng(12).lognormal(0.0, 2.0, size=1000)


def narrow_positive():
    return _rng(13).uniform(10.0, 20.0, size=1000)


def gamma_with_x():
    r = _rng(14)
    X = r.normal(size=(2000, 3))
    mu = np.exp(X @ np.array([0.5, 0.3, -0.2]) + 1.0)
    return r.gamma(2.0, mu / 2.0), X


# rule name -> (planted data, metric), (absent data, metric); data is y or (y, X)
CASES = {
    "continuous target": ((normal, None), (binary, None)),
    "count target": ((counts, None), (multiclass, None)),
    "counts are not classes": ((counts, None), (multiclass, None)),
    "count target, squared error": ((counts, None), (multiclass, None)),
    "proportion target": ((proportions, None), (normal, None)),
    "proportion target, squared error": ((proportions, None), (normal, None)),
    "binary target": ((binary, None), (multiclass, None)),
    "multi-label target": ((multilabel, None), (binary, None)),
    "multiclass target": ((multiclass, None), (counts, None)),
    "classes are not magnitudes": ((binary, None), (normal, None)),
    "gross outliers": ((outliers, None), (normal, None)),
    "gross outliers, median": ((outliers, None), (normal, None)),
    "gross outliers, squared error": ((outliers, None), (normal, None)),
    "heavy tails": ((heavy, None), (normal, None)),
    "heavy tails, log-cosh": ((heavy, None), (normal, None)),
    "wide positive range": ((wide, None), (narrow_positive, None)),
    "wide positive range, log error": ((wide, None), (narrow_positive, None)),
    "wide positive range, squared error": ((wide, None), (narrow_positive, None)),
    "right-skewed positive": ((skewed, None), (narrow_positive, None)),
    "right-skewed positive, log error": ((skewed, None), (narrow_positive, None)),
    "variance grows as mean squared": ((gamma_with_x, None), (lambda: gamma_with_x()[0], None)),
    "zero-inflated heavy tail": ((zero_inflated, None), (skewed, None)),
    "zeros rule out gamma": ((zero_inflated, None), (skewed, None)),
    "imbalanced binary, weighted log-loss": ((rare_binary, None), (binary, None)),
    "imbalanced binary, focal": ((rare_binary, None), (binary, None)),
    "imbalanced classes, weighted cross-entropy": ((rare_multiclass, None), (multiclass, None)),
    "imbalanced classes, focal": ((rare_multiclass, None), (multiclass, None)),
    "metric: squared error": ((normal, "rmse"), (normal, None)),
    "metric: absolute error": ((normal, "mae"), (normal, None)),
    "metric: absolute error, Huber": ((normal, "mae"), (normal, None)),
    "metric: pinball": ((normal, "pinball@0.9"), (normal, None)),
    "metric: Poisson deviance": ((counts, "poisson_deviance"), (counts, None)),
    "metric: gamma deviance": ((narrow_positive, "gamma_deviance"), (narrow_positive, None)),
    "metric: Tweedie deviance": ((zero_inflated, "tweedie_deviance"), (zero_inflated, None)),
    "metric: relative error": ((narrow_positive, "mape"), (narrow_positive, None)),
    "metric: log error": ((skewed, "rmsle"), (narrow_positive, None)),
    "metric: F1, binary": ((rare_binary, "f1"), (rare_binary, None)),
    "metric: F1 or AUPRC, focal": ((binary, "auprc"), (binary, None)),
    "metric: F1 or AUPRC, multiclass focal": ((rare_multiclass, "f1"), (rare_multiclass, None)),
    "metric: F1 or AUPRC, weighted": ((multiclass, "auprc"), (multiclass, None)),
    "metric: log-loss or AUC, binary": ((rare_binary, "roc_auc"), (rare_binary, None)),
    "metric: log-loss or accuracy, multiclass": ((multiclass, "accuracy"), (multiclass, None)),
    "metric: accuracy, binary": ((multilabel, "accuracy"), (multilabel, None)),
    "metric: log-loss, no focal": ((rare_binary, "log_loss"), (rare_binary, None)),
}
BY_NAME = {rule.name: rule for rule in RULES}


def _run(case):
    make, metric = case
    data = make()
    y, X = data if isinstance(data, tuple) else (data, None)
    return recommend(y, X, metric=metric, top=50)


def _fired(rec, rule):
    if rule.avoid:
        return any(a.loss == rule.loss and rule.why(rec.profile) in a.reason for a in rec.avoid) or any(
            e.loss == rule.loss and f"caveat: {rule.why(rec.profile)}" in e.reasons for e in rec.ranked)
    return any(e.loss == rule.loss and rule.name in e.rules for e in rec.ranked)


def test_every_rule_has_a_case_and_names_are_unique():
    assert len(BY_NAME) == len(RULES)
    assert set(CASES) == set(BY_NAME)


@pytest.mark.parametrize("name", list(CASES))
def test_rule_fires_with_its_property_and_not_without(name):
    rule = BY_NAME[name]
    planted, absent = CASES[name]
    assert _fired(_run(planted), rule), f"{name} did not fire on its planted data"
    assert not _fired(_run(absent), rule), f"{name} fired without its property"


@pytest.mark.parametrize("name", list(CASES))
def test_rule_loss_is_registered_and_its_parameters_valid(name):
    rec = _run(CASES[name][0])
    for entry in rec.ranked:
        check_params(losskit.spec(entry.loss), entry.params)  # raises on a bad name, value or range
    for avoid in rec.avoid:
        assert losskit.spec(avoid.loss).name == avoid.loss
    assert losskit.spec(BY_NAME[name].loss).name == BY_NAME[name].loss


def test_gross_outliers_give_huber_with_a_robust_delta_and_avoid_mse():
    rec = recommend(outliers())
    assert rec.best.loss == "huber"
    assert rec.profile.outlier_fraction == pytest.approx(0.05, abs=0.01)
    y = outliers()
    mad = np.median(np.abs(y - np.median(y)))
    assert rec.best.params["delta"] == pytest.approx(1.345 * mad / 0.6745, rel=1e-5)
    assert rec.best.params["delta"] == pytest.approx(1.345, rel=0.2)  # the outliers barely move the MAD of N(0, 1)
    assert "mse" in {a.loss for a in rec.avoid}
    clean = recommend(normal())
    assert clean.best.loss == "mse" and clean.profile.outlier_fraction < 0.01


def test_one_to_ninety_nine_gives_weighted_log_loss_and_focal():
    rec = recommend(rare_binary())
    assert rec.profile.imbalance_ratio == pytest.approx(99.0)
    assert rec.best.loss == "binary_cross_entropy_with_logits" and rec.best.params == {"pos_weight": 99.0}
    focal = next(e for e in rec.ranked if e.loss == "sigmoid_focal")
    assert focal.params == {"alpha": 0.99, "gamma": 2.0}
    assert recommend(rare_binary(), metric="auprc").best.loss == "sigmoid_focal"


def test_imbalanced_multiclass_gets_balanced_weights():
    y = rare_multiclass()
    rec = recommend(y)
    ce = next(e for e in rec.ranked if e.loss == "cross_entropy")
    counts = np.bincount(y)
    assert ce.params["class_weight"] == pytest.approx(len(y) / (3 * counts), rel=1e-5)  # sklearn "balanced"
    assert recommend(y, metric="f1").best.loss == "softmax_focal"


def test_seventy_percent_zeros_with_a_heavy_tail_gives_tweedie():
    rec = recommend(zero_inflated())
    assert rec.profile.zero_fraction == pytest.approx(0.7, abs=0.03)
    assert rec.best.loss == "tweedie_deviance" and rec.best.params == {"power": 1.5}
    assert "default 1.5" in rec.best.reasons[0]
    assert "gamma_deviance" in {a.loss for a in rec.avoid}


def test_tweedie_power_is_measured_from_the_features():
    r = _rng(15)
    X = r.normal(size=(3000, 2))
    mu = np.exp(X @ np.array([0.6, -0.4]) + 0.5)
    # compound Poisson-gamma: N ~ Poisson(lam), y = sum of N gamma draws; Var ∝ mu^p with 1 < p < 2
    n_events = r.poisson(mu / 2.0)
    y = np.array([r.gamma(2.0, 1.0, size=k).sum() for k in n_events])
    rec = recommend(y, X)
    assert rec.profile.variance_power_source.startswith("log-variance")
    assert 1.1 <= rec.best.params["power"] <= 1.9 and rec.best.loss == "tweedie_deviance"


def test_gamma_variance_is_detected_with_features():
    y, X = gamma_with_x()
    rec = recommend(y, X)
    assert rec.profile.variance_power == pytest.approx(2.0, abs=0.3)
    assert rec.best.loss == "gamma_deviance"


@pytest.mark.parametrize("mean", [0.5, 3.0, 10.0, 20.0])
@pytest.mark.parametrize("seed", range(3))
def test_poisson_counts_are_counts_not_classes(mean, seed):
    rec = recommend(_rng(20 + seed).poisson(mean, size=1000))
    assert rec.profile.task == "counts", rec.profile.task_reason
    assert rec.best.loss == "poisson_nll" and "cross_entropy" in {a.loss for a in rec.avoid}


def test_proportions_give_cross_entropy_on_soft_targets():
    rec = recommend(proportions())
    assert rec.profile.task == "proportion" and rec.best.loss == "binary_cross_entropy"


def test_metric_leads_the_ranking():
    assert recommend(normal(), metric="pinball@0.9").ranked[0].params == {"quantile": 0.9}
    assert recommend(normal(), metric="quantile@0.1").best.params == {"quantile": 0.1}
    rec = recommend(outliers(), metric="rmse")
    assert rec.best.loss == "mse" and any(r.startswith("caveat:") for r in rec.best.reasons)
    assert recommend(normal(), metric="MAE").best.loss == "mae"
    assert recommend(counts(), metric="poisson_deviance").best.loss == "poisson_nll"


SKLEARN = [
    ("load_diabetes", "positive", "mse"),
    ("load_breast_cancer", "binary", "binary_cross_entropy_with_logits"),
    ("load_digits", "multiclass", "cross_entropy"),
    ("load_wine", "multiclass", "cross_entropy"),
    ("load_iris", "multiclass", "cross_entropy"),
    ("load_linnerud", "positive", "mse"),  # 2-D target: a multi-output regression, columns pooled in robust units
]


@pytest.mark.parametrize("loader, task, top", SKLEARN, ids=[s[0] for s in SKLEARN])
def test_sklearn_datasets(loader, task, top):
    datasets = pytest.importorskip("sklearn.datasets", reason="scikit-learn provides the toy datasets")
    bunch = getattr(datasets, loader)()
    rec = recommend(bunch.target, bunch.data)
    assert rec.profile.task == task, rec.profile.task_reason
    assert rec.best.loss == top, str(rec)
    assert rec.profile.n_outputs == (3 if loader == "load_linnerud" else 1)


def test_deterministic_json_and_text():
    first, second = recommend(zero_inflated(), metric="mae"), recommend(zero_inflated(), metric="mae")
    assert first.as_dict() == second.as_dict()
    assert json.loads(json.dumps(first.as_dict())) == first.as_dict()
    text = str(first)
    assert text.startswith("target: positive") and "1. mae()" in text and "avoid:" in text
    scores = [e.score for e in first.ranked]
    assert scores == sorted(scores, reverse=True)


def test_top_limits_the_ranking_and_profile_is_plain():
    rec = recommend(outliers(), top=1)
    assert len(rec.ranked) == 1
    d = profile(outliers()).as_dict()
    assert all(v is None or isinstance(v, (int, float, str, list)) for v in d.values())


def test_f1_on_a_rare_binary_target_leads_with_soft_fbeta():
    rec = recommend(rare_binary(), metric="f1")
    assert [e.loss for e in rec.ranked[:2]] == ["soft_fbeta", "sigmoid_focal"]
    assert rec.best.params == {"beta": 1.0}


def test_labels_not_coded_from_zero():
    rec = recommend(_rng(30).integers(1, 4, size=300))
    assert rec.profile.task == "multiclass" and rec.profile.class_values == (1, 2, 3)
    assert "re-encode the labels [1, 2, 3] as 0..2" in rec.best.reasons[0]
    signs = recommend(np.r_[-np.ones(900), np.ones(50)])
    assert signs.profile.task == "binary" and signs.profile.class_values == (-1, 1)
    assert signs.best.params == {"pos_weight": 18.0}  # the larger label is the positive class
    assert "re-encode the labels [-1, 1] as 0..1" in signs.best.reasons[0]


def test_multi_output_columns_are_measured_in_their_own_units():
    r = _rng(31)
    y = np.c_[r.normal(size=500), 1000.0 * r.normal(size=500), np.ones(500)]  # very different scales, one constant
    rec = recommend(y)
    assert rec.profile.task == "continuous" and rec.profile.n_outputs == 3
    assert rec.profile.outlier_fraction < 0.01 and rec.best.loss == "mse"  # pooled raw values would look wild


def test_task_override():
    rec = recommend(np.arange(200) % 7, task="counts")
    assert rec.profile.task == "counts" and rec.profile.task_reason == "given by the caller"


@pytest.mark.parametrize(
    "y, kwargs, error, message",
    [
        (np.full(10, 3.0), {}, ValueError, r"recommend: y must be non-constant .*; received every value = 3\.0"),
        (np.array([1.0, np.nan, 2.0]), {}, ValueError, r"recommend: y must be finite .*; received 1 non-finite"),
        (np.array(["a", "b", "a"]), {}, TypeError, r"recommend: y must be numeric .*; received dtype <U1"),
        (np.array([]), {}, ValueError, r"recommend: y must be non-empty; received shape \(0,\)"),
        (np.zeros((2, 2, 2)), {}, ValueError, r"recommend: y must be 1-D .*; received shape \(2, 2, 2\)"),
        (normal(), {"metric": "f1"}, ValueError, r"recommend: metric must suit a continuous target"),
        (normal(), {"metric": "bleu"}, ValueError, r"recommend: metric must be one of .*received metric='bleu'"),
        (normal(), {"metric": "pinball@1.5"}, ValueError, r"0 < q < 1"),
        (normal(), {"metric": 3}, TypeError, r"recommend: metric must be a string"),
        (normal(), {"top": 0}, ValueError, r"recommend: top must be an integer >= 1; received top=0"),
        (normal(), {"task": "ordinal"}, ValueError, r"recommend: task must be one of .*received task='ordinal'"),
        (normal(), {"X": np.zeros((5, 2))}, ValueError, r"recommend: X must be 2-D with 1000 rows"),
        (normal(), {"task": "binary"}, ValueError,
         r"recommend: task must be a task the target fits \(binary needs .*\); received task='binary'"),
        (normal(), {"task": "counts"}, ValueError, r"counts need non-negative integers"),
    ],
    ids=["constant", "nan", "strings", "empty", "3d", "metric-task", "metric-unknown", "pinball-level",
         "metric-type", "top", "task", "X-rows", "task-binary-misfit", "task-counts-misfit"],
)
def test_bad_input(y, kwargs, error, message):
    with pytest.raises(error, match=message):
        recommend(y, **kwargs)
