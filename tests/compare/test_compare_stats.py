"""compare.metrics and compare.stats: metric values against hand computations / scikit-learn, parsing and
errors, and the corrected resampled t-test summary against a hand computation."""

import json
import math

import numpy as np
import pytest
from scipy import stats as ss
from sklearn import metrics as skm

from losskit.compare import metrics as M
from losskit.compare import stats as S

# ----------------------------------------------------------------------------------------------- metrics

Y_REG = np.array([3.0, -0.5, 2.0, 7.0, 4.0])
P_REG = np.array([2.5, 0.0, 2.0, 8.0, 3.0])


def test_regression_metrics_by_hand():
    err = P_REG - Y_REG
    got = M.compute(["rmse", "mae", "median_ae", "r2", "pinball@0.9", "pinball@0.5"], "regression", Y_REG, P_REG)
    assert got["rmse"] == pytest.approx(math.sqrt(np.mean(err**2)))
    assert got["mae"] == pytest.approx(np.mean(np.abs(err)))
    assert got["median_ae"] == pytest.approx(np.median(np.abs(err)))
    assert got["r2"] == pytest.approx(1 - np.sum(err**2) / np.sum((Y_REG - Y_REG.mean()) ** 2))
    r = Y_REG - P_REG
    assert got["pinball@0.9"] == pytest.approx(np.mean(np.maximum(0.9 * r, (0.9 - 1) * r)))
    assert got["pinball@0.5"] == pytest.approx(0.5 * got["mae"])
    assert all(isinstance(v, float) for v in got.values())


def test_quantile_task_takes_regression_metrics():
    got = M.compute(M.default_metrics("quantile", quantile=0.1), "quantile", Y_REG, P_REG)
    assert list(got) == ["pinball@0.1", "mae"]
    assert got["pinball@0.1"] == pytest.approx(skm.mean_pinball_loss(Y_REG, P_REG, alpha=0.1))


Y_BIN = np.array([0, 1, 1, 0, 1, 0, 0, 1, 1, 0])
P_BIN = np.array([0.1, 0.8, 0.4, 0.3, 0.9, 0.6, 0.2, 0.7, 0.5, 0.05])


def test_binary_metrics_against_sklearn():
    got = M.compute(M.default_metrics("binary"), "binary", Y_BIN, P_BIN)
    hard = (P_BIN > 0.5).astype(int)  # 0.5 itself goes to class 0
    assert got["accuracy"] == pytest.approx(np.mean(hard == Y_BIN)) == pytest.approx(0.7)
    assert got["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(Y_BIN, hard))
    assert got["f1"] == pytest.approx(skm.f1_score(Y_BIN, hard))
    assert got["auroc"] == pytest.approx(skm.roc_auc_score(Y_BIN, P_BIN))
    assert got["auprc"] == pytest.approx(skm.average_precision_score(Y_BIN, P_BIN))
    ll = -np.mean(Y_BIN * np.log(P_BIN) + (1 - Y_BIN) * np.log(1 - P_BIN))
    assert got["log_loss"] == pytest.approx(ll)
    conf = np.maximum(P_BIN, 1 - P_BIN)
    assert 0.0 <= got["ece"] <= 1.0
    assert got["ece"] == pytest.approx(_ece_by_hand(conf, hard == Y_BIN))


def _ece_by_hand(conf, correct, bins=15):
    total = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        inside = (conf > lo) & (conf <= hi) if b else (conf >= lo) & (conf <= hi)
        if inside.any():
            total += inside.mean() * abs(correct[inside].mean() - conf[inside].mean())
    return total


def test_multiclass_metrics_against_sklearn():
    rng = np.random.default_rng(0)
    p = rng.dirichlet([1.0, 1.0, 1.0], size=40)
    y = np.r_[0, 1, 2, rng.integers(0, 3, 37)]
    got = M.compute(M.default_metrics("multiclass"), "multiclass", y, p)
    hard = p.argmax(axis=1)
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, hard))
    assert got["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, hard))
    assert got["f1"] == pytest.approx(skm.f1_score(y, hard, average="macro"))
    assert got["auroc"] == pytest.approx(skm.roc_auc_score(y, p, multi_class="ovr", average="macro"))
    assert got["log_loss"] == pytest.approx(-np.mean(np.log(p[np.arange(40), y])))
    assert got["ece"] == pytest.approx(_ece_by_hand(p.max(axis=1), hard == y))
    auprc = M.compute(["auprc"], "multiclass", y, p)["auprc"]
    assert auprc == pytest.approx(np.mean([skm.average_precision_score(y == c, p[:, c]) for c in range(3)]))


def test_ece_zero_when_exactly_calibrated():
    # at confidence 0.6 / 0.8 / 1.0 exactly that share of the top labels is right
    p = np.repeat([0.6, 0.8, 1.0], 10)
    y = np.r_[np.repeat([1, 0], [6, 4]), np.repeat([1, 0], [8, 2]), np.ones(10)]
    assert M.compute(["ece"], "binary", y, p)["ece"] == pytest.approx(0.0, abs=1e-12)


def test_ece_small_on_calibrated_draws_and_known_when_overconfident():
    rng = np.random.default_rng(1)
    p = rng.random(40_000)
    y = (rng.random(p.size) < p).astype(float)
    assert M.compute(["ece"], "binary", y, p)["ece"] < 0.02
    # always 90 % sure of class 1, right 60 % of the time: ECE = |0.6 - 0.9| = 0.3
    p = np.full(10, 0.9)
    y = np.r_[np.ones(6), np.zeros(4)]
    assert M.compute(["ece"], "binary", y, p)["ece"] == pytest.approx(0.3)
    # the binary top label is class 0 when p < 0.5: confidence 0.8, right 50 % -> 0.3
    assert M.compute(["ece"], "binary", [0, 1], [0.2, 0.2])["ece"] == pytest.approx(0.3)


def test_undefined_metrics_are_nan_not_errors():
    got = M.compute(["auroc", "auprc", "f1", "accuracy", "log_loss"], "binary", np.zeros(4), [0.1, 0.2, 0.3, 0.4])
    assert math.isnan(got["auroc"]) and math.isnan(got["auprc"]) and math.isnan(got["f1"])
    assert got["accuracy"] == 1.0 and math.isfinite(got["log_loss"])
    assert math.isnan(M.compute(["auroc"], "binary", np.ones(3), [0.1, 0.2, 0.9])["auroc"])
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1]])
    got = M.compute(["auroc", "auprc", "log_loss"], "multiclass", [0, 1], p)  # class 2 absent
    assert math.isnan(got["auroc"]) and math.isnan(got["auprc"]) and math.isfinite(got["log_loss"])
    assert math.isnan(M.compute(["r2"], "regression", [2.0, 2.0, 2.0], [1.0, 2.0, 3.0])["r2"])


def test_non_finite_prediction_gives_nan_metrics():
    got = M.compute(["rmse", "r2"], "regression", Y_REG, np.r_[P_REG[:-1], np.nan])
    assert all(math.isnan(v) for v in got.values())
    got = M.compute(["auroc", "ece"], "binary", [0, 1], [0.2, np.nan])
    assert all(math.isnan(v) for v in got.values())


@pytest.mark.parametrize(("task", "y", "p", "match"), [
    ("regression", [1.0, 2.0], [1.0], "prediction must have shape"),
    ("regression", [1.0, np.nan], [1.0, 2.0], "y_true must be finite"),
    ("regression", [], [], "non-empty"),
    ("binary", [0, 1], [0.2, 1.2], r"probabilities in \[0, 1\]"),
    ("binary", [0, 2], [0.2, 0.3], "class codes 0..1"),
    ("multiclass", [0, 1], [[0.5, 0.4, 0.0], [0.2, 0.2, 0.6]], "rows must sum to 1"),
    ("multiclass", [0, 3], [[0.5, 0.5, 0.0], [0.2, 0.2, 0.6]], "class codes 0..2"),
    ("multiclass", [0, 1], [0.5, 0.5], r"shape \(n, C\)"),
])
def test_compute_rejects_bad_input(task, y, p, match):
    with pytest.raises(ValueError, match=match):
        M.compute(["accuracy"] if task in ("binary", "multiclass") else ["rmse"], task, y, p)


def test_aliases_and_case():
    assert M.parse_metrics("LogLoss,ROC_AUC,Average_Precision", "binary") == ["log_loss", "auroc", "auprc"]
    assert M.parse_metrics(["log-loss", "AUC", "pr_auc", "Balanced-Accuracy"], "multiclass") == [
        "log_loss", "auroc", "auprc", "balanced_accuracy"]
    assert M.parse_metrics("quantile@0.90, PINBALL@.1", "quantile") == ["pinball@0.9", "pinball@0.1"]
    assert M.parse_metrics("pinball", "quantile", quantile=0.25) == ["pinball@0.25"]
    assert M.compute(["LOGLOSS"], "binary", [0, 1], [0.5, 0.5]) == {"log_loss": pytest.approx(math.log(2))}


def test_higher_is_better_and_defaults():
    for name in ("accuracy", "balanced_accuracy", "f1", "auroc", "auprc", "r2", "roc_auc"):
        assert M.higher_is_better(name)
    for name in ("rmse", "mae", "median_ae", "log_loss", "ece", "pinball@0.3", "logloss"):
        assert not M.higher_is_better(name)
    assert M.default_metrics("regression") == ["rmse", "mae", "median_ae", "r2"]
    assert M.default_metrics("binary")[0] == "auprc"
    assert M.default_metrics("multiclass") == ["accuracy", "balanced_accuracy", "f1", "auroc", "log_loss", "ece"]
    for task in M.TASKS:
        metrics = M.default_metrics(task, quantile=0.5)
        assert M.parse_metrics(metrics, task) == metrics
    with pytest.raises(ValueError, match="quantile must be"):
        M.default_metrics("quantile")
    with pytest.raises(ValueError, match="task must be one of"):
        M.default_metrics("ranking")
    with pytest.raises(ValueError, match="--metric must be one of"):
        M.higher_is_better("nope")


@pytest.mark.parametrize(("text", "task", "match"), [
    ("accuracy", "regression", r"--metric must be one of rmse, mae, median_ae, r2, pinball@q .*received 'accuracy'"),
    ("rmse", "binary", r"--metric must be one of accuracy, .*ece for a binary task; received 'rmse'"),
    ("bogus", "multiclass", r"--metric must be .*received 'bogus'"),
    ("pinball", "regression", r"pinball@q"),
    ("pinball@1", "quantile", r"0 < q < 1; received 'pinball@1'"),
    ("pinball@x", "quantile", r"0 < q < 1"),
    ("rmse@0.5", "regression", "takes no @level"),
    ("mae,MAE", "regression", "each metric once"),
    ("rmse,,mae", "regression", "empty name"),
    ("", "regression", "empty name"),
])
def test_parse_metrics_errors(text, task, match):
    with pytest.raises(ValueError, match=match):
        M.parse_metrics(text, task)


def test_metrics_table_lists_tasks():
    assert set(M.METRICS) >= {"rmse", "mae", "median_ae", "r2", "pinball", "accuracy", "balanced_accuracy", "f1",
                              "auroc", "auprc", "log_loss", "ece"}
    assert "binary" in M.METRICS["ece"].tasks and "regression" not in M.METRICS["ece"].tasks


# ------------------------------------------------------------------------------------------------- stats


def _records(values_by_label, metric="rmse", seeds=(0,)):
    """Records from {label: array of shape (folds, seeds)}."""
    out = []
    for label, values in values_by_label.items():
        values = np.asarray(values, dtype=float).reshape(-1, len(seeds))
        for fold in range(values.shape[0]):
            for s, seed in enumerate(seeds):
                out.append({"key": f"{label}|{fold}|{seed}", "label": label, "loss": label.split("(")[0],
                            "fold": fold, "seed": seed, "metrics": {metric: float(values[fold, s])}})
    return out


def _hand_corrected_t(x, n_train, n_test, conf=0.95):
    x = np.asarray(x, dtype=float)
    j = x.size
    se = math.sqrt((1 / j + n_test / n_train) * x.var(ddof=1))
    t = x.mean() / se
    half = ss.t.ppf(0.5 + conf / 2, j - 1) * se
    return x.mean(), x.mean() - half, x.mean() + half, 2 * ss.t.sf(abs(t), j - 1)


def test_corrected_t_matches_hand_computation():
    rng = np.random.default_rng(2)
    base = rng.normal(3.0, 0.3, size=(5, 3))
    other = base + rng.normal(-0.1, 0.1, size=(5, 3))
    rows = S.summarize(_records({"mse": base, "huber(delta=1.35)": other}, seeds=(0, 1, 2)), "rmse", "mse",
                       n_train=400, n_test=100, confidence=0.9)
    row = next(r for r in rows if not r.is_baseline)
    d = (other - base).ravel()
    mean, lo, hi, p = _hand_corrected_t(d, 400, 100, 0.9)
    assert (row.diff, row.diff_ci_low, row.diff_ci_high, row.p_value) == pytest.approx((mean, lo, hi, p))
    assert row.p_holm == pytest.approx(p)  # one comparison: Holm leaves it
    assert row.p_wilcoxon == pytest.approx(ss.wilcoxon(d).pvalue)
    assert row.n == row.n_pairs == 15 and row.loss == "huber" and row.confidence == 0.9
    m, lo, hi, _ = _hand_corrected_t(other.ravel(), 400, 100, 0.9)
    assert (row.mean, row.ci_low, row.ci_high) == pytest.approx((m, lo, hi))
    assert row.std == pytest.approx(other.std(ddof=1))
    # the correction widens the interval compared with the naive t interval
    naive = ss.t.ppf(0.95, 14) * other.std(ddof=1) / math.sqrt(15)
    assert row.ci_high - row.mean > naive


def test_ci_contains_mean_and_baseline_row():
    rng = np.random.default_rng(3)
    vals = {lab: rng.normal(mu, 0.2, size=10) for lab, mu in (("mse", 1.0), ("mae", 1.1), ("huber", 0.95))}
    rows = S.summarize(_records(vals), "rmse", "mse", n_train=90, n_test=10)
    for r in rows:
        assert r.ci_low < r.mean < r.ci_high
        assert r.diff_ci_low <= r.diff <= r.diff_ci_high
    base = next(r for r in rows if r.is_baseline)
    assert base.label == "mse" and base.diff == 0.0
    assert math.isnan(base.p_value) and math.isnan(base.p_holm) and math.isnan(base.p_wilcoxon)
    assert sorted(r.rank for r in rows) == [1, 2, 3]
    assert [r.mean for r in rows] == sorted(r.mean for r in rows)  # lower rmse first


def test_holm_matches_statsmodels():
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    rng = np.random.default_rng(4)
    base = rng.normal(1.0, 0.1, size=10)
    vals = {"mse": base}
    for i, shift in enumerate([0.0, 0.01, 0.03, 0.05, 0.2]):
        vals[f"l{i}"] = base + shift + rng.normal(0, 0.05, size=10)
    rows = S.summarize(_records(vals), "rmse", "mse", n_train=90, n_test=10)
    others = [r for r in rows if not r.is_baseline]
    expected = multitest.multipletests([r.p_value for r in others], method="holm")[1]
    assert [r.p_holm for r in others] == pytest.approx(list(expected))
    raw = [0.01, 0.04, 0.03, 0.5]
    assert S.holm(raw + [math.nan])[:4] == pytest.approx(list(multitest.multipletests(raw, method="holm")[1]))


def test_clearly_better_loss_wins():
    rng = np.random.default_rng(5)
    base = rng.normal(2.0, 0.5, size=(5, 3))  # fold-to-fold spread shared by both losses
    better = base - 0.3 + rng.normal(0, 0.02, size=(5, 3))
    rows = S.summarize(_records({"mse": base, "tukey": better}, seeds=(0, 1, 2)), "rmse", "mse",
                       n_train=800, n_test=200)
    top = rows[0]
    assert top.label == "tukey" and top.rank == 1
    assert top.p_value < 0.05 and top.p_holm < 0.05 and top.p_wilcoxon < 0.05
    assert (top.wins, top.ties, top.losses) == (15, 0, 0)
    assert top.diff < 0 and top.diff_ci_high < 0


def test_direction_for_higher_is_better_metric():
    base = np.array([0.70, 0.72, 0.68, 0.71, 0.69])
    rows = S.summarize(_records({"ce": base, "focal": base + 0.05, "mse": base - 0.02}, metric="auroc"), "auroc",
                       "ce", n_train=80, n_test=20)
    assert [r.label for r in rows] == ["focal", "ce", "mse"]
    focal, mse = rows[0], rows[2]
    assert (focal.wins, focal.losses) == (5, 0) and focal.diff == pytest.approx(0.05)
    assert (mse.wins, mse.losses) == (0, 5) and mse.diff == pytest.approx(-0.02)
    table = S.format_table(rows, "auroc")
    assert "higher is better" in table and "Nadeau & Bengio" in table


def test_ties_and_equal_losses():
    base = np.array([0.8, 0.9, 0.85, 0.8])
    rows = S.summarize(_records({"a": base, "b": base.copy()}, metric="accuracy"), "accuracy", "a",
                       n_train=30, n_test=10)
    b = next(r for r in rows if r.label == "b")
    assert (b.wins, b.ties, b.losses) == (0, 4, 0)
    assert b.diff == 0.0 and b.p_value == 1.0 and math.isnan(b.p_wilcoxon)
    assert [r.rank for r in rows] == [1, 1]


def test_nan_values_are_excluded_pairwise_and_counted():
    base = np.array([1.0, 1.1, 0.9, 1.2, 1.0, np.nan])
    other = np.array([0.9, np.nan, 0.8, 1.0, 0.95, 0.7])
    rows = {r.label: r for r in S.summarize(_records({"mse": base, "mae": other}), "rmse", "mse",
                                            n_train=50, n_test=10)}
    mae, mse = rows["mae"], rows["mse"]
    assert (mae.n, mae.n_nan, mae.n_pairs) == (5, 1, 4)
    assert (mse.n, mse.n_nan) == (5, 1)
    keep = np.isfinite(base) & np.isfinite(other)
    d = other[keep] - base[keep]
    assert mae.diff == pytest.approx(d.mean())
    assert mae.p_value == pytest.approx(_hand_corrected_t(d, 50, 10)[3])
    assert mae.mean == pytest.approx(np.nanmean(other))
    assert mae.wins + mae.ties + mae.losses == 4
    assert "(1 NaN)" in S.format_table(list(rows.values()), "rmse")


def test_missing_pairs_and_all_nan_loss():
    recs = _records({"mse": [1.0, 1.1, 0.9, 1.2], "huber": [0.9, 1.0, 0.8], "broken": [np.nan] * 4})
    rows = {r.label: r for r in S.summarize(recs, "rmse", "mse", n_train=30, n_test=10)}
    assert rows["huber"].n_pairs == 3 and rows["huber"].n == 3
    broken = rows["broken"]
    assert broken.n == 0 and broken.n_nan == 4 and math.isnan(broken.mean) and math.isnan(broken.p_value)
    assert broken.rank == 3 and math.isnan(broken.p_holm)


def test_summarize_errors():
    recs = _records({"mse": [1.0, 1.1], "mae": [1.0, 1.2]})
    with pytest.raises(ValueError, match="baseline_label must be one of"):
        S.summarize(recs, "rmse", "huber", n_train=10, n_test=5)
    with pytest.raises(ValueError, match="metric must be one of the record's metrics"):
        S.summarize(recs, "mae", "mse", n_train=10, n_test=5)
    with pytest.raises(ValueError, match=r"\(fold, seed\) once"):
        S.summarize(recs + recs[:1], "rmse", "mse", n_train=10, n_test=5)
    with pytest.raises(ValueError, match="n_test must be a positive integer"):
        S.summarize(recs, "rmse", "mse", n_train=10, n_test=0)
    with pytest.raises(ValueError, match="confidence must be"):
        S.summarize(recs, "rmse", "mse", n_train=10, n_test=5, confidence=95)


def test_frame_dicts_and_table():
    rows = S.summarize(_records({"mse": [1.0, 1.1, 0.9], "mae": [0.9, 1.0, 0.85]}), "rmse", "mse",
                       n_train=20, n_test=10)
    frame = S.summary_frame(rows)
    assert list(frame["label"]) == ["mae", "mse"] and "p_holm" in frame.columns and len(frame) == 2
    dicts = S.rows_as_dicts(rows, json_safe=True)
    assert dicts[1]["p_value"] is None
    json.dumps(dicts, allow_nan=False)
    table = S.format_table(rows, "rmse")
    lines = table.splitlines()
    assert "lower is better" in lines[0] and "baseline mse" in lines[0]
    assert "95% CI" in lines[1] and lines[3].split()[1] == "mae" and "baseline" in lines[4]
