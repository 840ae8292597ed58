"""The datasets shipped in ``losskit.datasets``: present as package data, loadable, regenerated
byte-for-byte by ``scripts/make_datasets.py``, and showing what their cards promise."""

from __future__ import annotations

import importlib.util
import re
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pandas", reason="losskit.datasets.load needs pandas")

from losskit import datasets

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "make_datasets.py"

SHAPES = {"outlier_regression": (600, ["x1", "x2", "x3", "x4", "y", "y_line", "is_outlier"]),
          "imbalanced_classification": (3000, [f"f{j}" for j in range(1, 9)] + ["label"])}
TRUTH = np.array([3.0, 2.0, -1.0, 0.5, 0.0])  # intercept, x1..x4


@pytest.fixture(scope="module")
def regression():
    return datasets.load("outlier_regression")


def test_names_are_the_shipped_files():
    assert set(datasets.NAMES) == set(SHAPES)
    shipped = {p.name for p in resources.files("losskit.datasets").iterdir()}
    for name in datasets.NAMES:
        assert {f"{name}.csv", f"{name}.md"} <= shipped
        assert datasets.path(name).is_file() and datasets.path(name).stat().st_size < 250_000


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_load_shape_columns_and_card(name):
    frame = datasets.load(name)
    n, columns = SHAPES[name]
    assert frame.shape == (n, len(columns)) and list(frame.columns) == columns
    assert not frame.isna().any().any()
    text = datasets.card(name)
    assert text.startswith(f"# {name}\n") and "scripts/make_datasets.py" in text


@pytest.mark.parametrize("call", [datasets.path, datasets.load, datasets.card])
@pytest.mark.parametrize("bad", ["outliers", "", None, "../README"])
def test_unknown_names_are_refused_listing_the_valid_ones(call, bad):
    expected = f"datasets: name must be one of outlier_regression, imbalanced_classification; received {bad!r}"
    with pytest.raises(ValueError, match=re.escape(expected)):
        call(bad)


def test_the_generator_reproduces_the_shipped_files_exactly(tmp_path):
    pytest.importorskip("sklearn", reason="the generator uses sklearn.datasets.make_classification")
    if not SCRIPT.exists():
        pytest.skip("scripts/ is not in this checkout")
    spec = importlib.util.spec_from_file_location("make_datasets", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    written = module.main(tmp_path)
    assert sorted(p.name for p in written) == sorted(f"{n}.csv" for n in datasets.NAMES)
    for path in written:
        assert path.read_bytes() == datasets.path(path.stem).read_bytes(), f"{path.name} differs from the shipped file"


def test_outliers_are_ten_percent_one_sided_and_at_high_x1(regression):
    out = regression["is_outlier"]
    assert set(out.unique()) == {0, 1} and out.sum() == 60
    residual = (regression["y"] - regression["y_line"])[out == 1]
    assert residual.between(-22, -12).all()
    assert (regression.loc[out == 1, "x1"] > 0.5).all()
    line = TRUTH[0] + regression[["x1", "x2", "x3", "x4"]].to_numpy() @ TRUTH[1:]
    np.testing.assert_allclose(regression["y_line"], line, atol=5e-4 * np.abs(line).max())


def test_least_squares_tilts_and_a_robust_fit_recovers_the_line(regression):
    sm = pytest.importorskip("statsmodels.api", reason="the robust reference fit uses statsmodels RLM")
    X = sm.add_constant(regression[["x1", "x2", "x3", "x4"]].to_numpy())
    y = regression["y"].to_numpy()
    ols = np.linalg.lstsq(X, y, rcond=None)[0]
    assert abs(ols[1] - TRUTH[1]) > 0.5 and abs(ols[0] - TRUTH[0]) > 0.5  # slope and intercept, not a shift
    tukey = sm.RLM(y, X, M=sm.robust.norms.TukeyBiweight()).fit().params
    np.testing.assert_allclose(tukey, TRUTH, atol=0.15)
    np.testing.assert_allclose(ols, [1.306, 0.050, -1.171, 0.702, -0.125], atol=1e-3)  # the card's numbers
    np.testing.assert_allclose(tukey, [3.001, 2.063, -0.931, 0.535, -0.046], atol=1e-3)


def test_positives_are_about_four_percent_and_a_linear_model_is_good_not_perfect():
    pytest.importorskip("sklearn", reason="the reference fit uses scikit-learn")
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import average_precision_score, roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    frame = datasets.load("imbalanced_classification")
    y = frame["label"].to_numpy()
    assert set(np.unique(y)) == {0, 1} and y.sum() == 125  # 4.17 %
    X = frame.drop(columns="label").to_numpy()
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    p = cross_val_predict(LogisticRegression(max_iter=1000), X, y, cv=cv, method="predict_proba")[:, 1]
    auroc, auprc = roc_auc_score(y, p), average_precision_score(y, p)
    assert 0.85 <= auroc <= 0.93 and auprc < 0.8
    assert (round(auroc, 3), round(auprc, 3)) == (0.911, 0.689)  # the card's numbers


def test_the_recommender_reads_the_regression_with_four_features_only():
    from losskit.recommend.data import DATASETS, load_dataset

    for name in datasets.NAMES:
        assert DATASETS[name][0] == "losskit"
    table = load_dataset("outlier_regression")
    assert table.features == ("x1", "x2", "x3", "x4") and table.X.shape == (600, 4)
    np.testing.assert_array_equal(table.y, datasets.load("outlier_regression")["y"].to_numpy())
    table = load_dataset("imbalanced_classification")
    assert table.features == tuple(f"f{j}" for j in range(1, 9)) and table.y.sum() == 125
