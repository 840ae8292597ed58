"""``losskit recommend DATA``: files read as the Python API reads arrays, bad
input refused with a clear message, and the shipped datasets' recommendations."""

from __future__ import annotations

import json

import numpy as np
import pytest

pd = pytest.importorskip("pandas", reason="the data extra (pandas) reads data files")
pytest.importorskip("click.testing", reason="the cli extra (click) is missing")

from losskit.recommend import recommend
from losskit.recommend.data import DATASETS, load_dataset
from helpers import cli


def run(*args):
    return cli("recommend", *args)


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(0)
    n = 300
    a, b = rng.normal(size=n), rng.uniform(1, 2, size=n)
    y = 2 * a + b + rng.standard_t(2, size=n)  # heavy tails: huber leads
    return pd.DataFrame({"a": a, "b": b, "price": y, "city": rng.choice(["x", "y"], size=n)})


def expected(frame, metric=None, features=("a", "b")):
    return recommend(frame["price"].to_numpy(), frame[list(features)].to_numpy(), metric)


def test_csv_parquet_and_npy_match_the_python_api(frame, tmp_path):
    pytest.importorskip("pyarrow", reason="Parquet needs pyarrow")
    frame.to_csv(tmp_path / "d.csv", index=False)
    frame.to_parquet(tmp_path / "d.parquet")
    np.save(tmp_path / "d.npy", frame[["a", "b", "price"]].to_numpy())
    want = expected(frame).as_dict()
    outs = [run(tmp_path / "d.csv", "--target", "price", "--json"),
            run(tmp_path / "d.parquet", "--target", "price", "--json"),
            run(tmp_path / "d.npy", "--target", "2", "--json")]
    for out in outs:
        assert out.exit_code == 0, out.output
        got = json.loads(out.output)
        assert got["ranked"] == want["ranked"] and got["avoid"] == want["avoid"]
    assert json.loads(outs[0].output)["notes"] == ["left out of the features (not numeric): 'city'"]
    assert json.loads(outs[2].output)["features"] == ["0", "1"]


def test_text_output_names_the_left_out_column_and_the_best_loss(frame, tmp_path):
    frame.to_csv(tmp_path / "d.csv", index=False)
    out = run(tmp_path / "d.csv", "--target", "price")
    assert out.exit_code == 0, out.output
    assert "note: left out of the features (not numeric): 'city'" in out.output
    assert f"1. {expected(frame).best.loss}(" in out.output


def test_metric_changes_the_ranking(frame, tmp_path):
    frame.to_csv(tmp_path / "d.csv", index=False)
    out = json.loads(run(tmp_path / "d.csv", "--target", "price", "--json", "--metric", "pinball@0.9").output)
    plain = json.loads(run(tmp_path / "d.csv", "--target", "price", "--json").output)
    assert out["ranked"][0]["loss"] == "pinball" and out["ranked"][0]["params"] == {"quantile": 0.9}
    assert plain["ranked"][0]["loss"] != "pinball"
    assert out["ranked"] == expected(frame, "pinball@0.9").as_dict()["ranked"]


def test_features_select_columns(frame, tmp_path):
    frame.to_csv(tmp_path / "d.csv", index=False)
    out = run(tmp_path / "d.csv", "--target", "price", "--features", "b", "--json")
    got = json.loads(out.output)
    assert got["features"] == ["b"] and got["notes"] == []
    assert got["ranked"] == expected(frame, features=("b",)).as_dict()["ranked"]


def test_two_valued_text_target_is_encoded_with_a_note(tmp_path):
    pd.DataFrame({"x": range(40), "churn": ["no"] * 30 + ["yes"] * 10}).to_csv(tmp_path / "c.csv", index=False)
    got = json.loads(run(tmp_path / "c.csv", "--target", "churn", "--json").output)
    assert got["profile"]["task"] == "binary" and got["profile"]["class_counts"] == [30, 10]
    assert got["notes"] == ["target 'churn' is text: encoded as class codes in sorted order ('no' -> 0, 'yes' -> 1)"]


def test_one_dimensional_npy_is_the_target(tmp_path):
    y = np.random.default_rng(1).poisson(3, size=200)
    np.save(tmp_path / "y.npy", y)
    out = json.loads(run(tmp_path / "y.npy", "--json").output)
    assert out["ranked"] == recommend(y).as_dict()["ranked"]


def bad_inputs(tmp_path):
    good = pd.DataFrame({"price": [1.0, 2.0, 3.5], "a": [1, 2, 3]})
    good.to_csv(tmp_path / "good.csv", index=False)
    (tmp_path / "empty.csv").write_text("")
    pd.DataFrame({"price": [2.0] * 5, "a": range(5)}).to_csv(tmp_path / "const.csv", index=False)
    pd.DataFrame({"price": [1.0, None, 3.0, None], "a": range(4)}).to_csv(tmp_path / "nan.csv", index=False)
    pd.DataFrame({"price": [f"w{i}" for i in range(60)]}).to_csv(tmp_path / "text.csv", index=False)
    (tmp_path / "d.txt").write_text("price\n1\n")
    d = str(tmp_path)
    return {
        "missing target column": ([f"{d}/good.csv", "--target", "pricee"],
                                  ["target must be a column of DATA", "'pricee'", "did you mean 'price'?"]),
        "empty file": ([f"{d}/empty.csv", "--target", "price"], ["an empty file"]),
        "constant target": ([f"{d}/const.csv", "--target", "price"], ["non-constant", "every value = 2.0"]),
        "NaN in target": ([f"{d}/nan.csv", "--target", "price"],
                          ["target column 'price' must be free of missing values", "2 missing of 4", "row 1"]),
        "non-numeric target": ([f"{d}/text.csv", "--target", "price"], ["60 distinct text values"]),
        "missing file": ([f"{d}/nope.csv", "--target", "price"], ["an existing file", "nope.csv"]),
        "bad extension": ([f"{d}/d.txt", "--target", "price"], ["a .csv, .parquet or .npy file"]),
        "unknown feature": ([f"{d}/good.csv", "--target", "price", "--features", "b"], ["features must be columns"]),
        "bad metric": ([f"{d}/good.csv", "--target", "price", "--metric", "f1"], ["metric must suit"]),
    }


@pytest.mark.parametrize("case", ["missing target column", "empty file", "constant target", "NaN in target",
                                  "non-numeric target", "missing file", "bad extension", "unknown feature",
                                  "bad metric"])
def test_bad_input_exits_2_with_a_clear_message(case, tmp_path):
    args, phrases = bad_inputs(tmp_path)[case]
    out = run(*args)
    assert out.exit_code == 2, out.output
    assert "Traceback" not in out.output and not isinstance(out.exception, (ValueError, TypeError))
    for phrase in phrases:
        assert phrase in out.output, (phrase, out.output)


# dataset -> (task, top loss, key evidence: profile field, expected value rounded to 3 places)
SHIPPED = {
    "diabetes": ("positive", "mse", "outlier_fraction", 0.0),
    "breast_cancer": ("binary", "binary_cross_entropy_with_logits", "imbalance_ratio", 1.684),
    "digits": ("multiclass", "cross_entropy", "n_classes", 10),
    "wine": ("multiclass", "cross_entropy", "imbalance_ratio", 1.479),
    "iris": ("multiclass", "cross_entropy", "imbalance_ratio", 1.0),
    "linnerud": ("positive", "mse", "n_outputs", 3),
    "stackloss": ("counts", "poisson_nll", "dispersion_index", 5.904),
    "fair": ("positive", "tweedie_deviance", "zero_fraction", 0.678),
    "randhie": ("counts", "tweedie_deviance", "zero_fraction", 0.3124),
    "star98": ("proportion", "binary_cross_entropy", "outlier_fraction", 0.0),
    "engel": ("positive", "gamma_deviance", "skewness", 1.711),
    "scotland": ("positive", "mse", "outlier_fraction", 0.0),
    "spector": ("binary", "binary_cross_entropy_with_logits", "imbalance_ratio", 1.909),
    "longley": ("positive", "mse", "outlier_fraction", 0.0),
    "grunfeld": ("positive", "gamma_deviance", "outlier_fraction", 0.177),
    "committee": ("counts", "poisson_nll", "dispersion_index", 96.37),
    "cpunish": ("counts", "poisson_nll", "dispersion_index", 17.37),
    "outlier_regression": ("continuous", "huber", "outlier_fraction", 0.07833),
    "imbalanced_classification": ("binary", "binary_cross_entropy_with_logits", "imbalance_ratio", 23.0),
}


def test_every_shipped_dataset_is_covered():
    assert set(SHIPPED) == set(DATASETS)


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_dataset_recommendation(name):
    lib = "sklearn" if DATASETS[name][0] == "scikit-learn" else "statsmodels"
    pytest.importorskip(lib, reason=f"the {name} dataset ships with {lib}")
    task, top, field, value = SHIPPED[name]
    table = load_dataset(name)
    rec = recommend(table.y, table.X)
    assert (rec.profile.task, rec.best.loss) == (task, top)
    assert getattr(rec.profile, field) == pytest.approx(value, abs=1e-3, rel=1e-3)


def test_the_docs_static_tables_match_the_code():
    """docs/recommend.md pastes the printed rule and dataset tables; they must match the code's output."""
    import re
    from pathlib import Path

    from losskit.recommend.data import dataset_table, rules_table

    page = Path(__file__).resolve().parents[2] / "docs" / "recommend.md"
    if not page.exists():
        pytest.skip("docs/recommend.md is not in this checkout")
    pytest.importorskip("statsmodels", reason="the dataset table needs statsmodels' datasets")
    text = page.read_text(encoding="utf-8")
    for marker, table in (("rules-table", rules_table()), ("dataset-table", dataset_table())):
        found = re.search(f"<!-- {marker}:start -->\n(.*?)\n<!-- {marker}:end -->", text, flags=re.DOTALL)
        assert found, f"docs/recommend.md has no {marker} block"
        assert found.group(1) == table, f"docs/recommend.md's {marker} is stale: paste the printed table"
