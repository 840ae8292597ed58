"""The lessons in examples/lessons run (quick mode) and leave a complete run folder with a report."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("pandas")
torch = pytest.importorskip("torch")

LESSONS = Path(__file__).resolve().parent.parent / "examples" / "lessons"
QUICK = ["--folds", "2", "--seeds", "1", "--max-epochs", "10"]


def _records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "trials.jsonl").read_text().splitlines() if line.strip()]


def _check_folder(out: Path, n_trials: int, metrics: list[str]) -> list[dict]:
    import pandas as pd

    config = json.loads((out / "config.json").read_text())["config"]
    records = _records(out)
    assert len(records) == n_trials
    assert config["metrics"] == metrics
    assert {r["label"] for r in records} == {c["label"] for c in config["losses"]}
    for r in records:
        assert set(metrics) <= set(r["metrics"]) and r["curve"]["val_metric"] and 1 <= r["best_epoch"] <= r["epochs"]
    summary = pd.read_csv(out / "summary.csv")
    assert set(summary["metric"]) == set(metrics)
    page = (out / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "Learning curves" in page and "<script" not in page
    return records


def _compare(config: str, out: Path):
    from click.testing import CliRunner

    from losskit.cli import app

    result = CliRunner().invoke(app, ["compare", "--config", str(LESSONS / config), *QUICK, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return result


def test_robust_regression(tmp_path):
    _compare("robust_regression.toml", tmp_path)
    records = _check_folder(tmp_path, 4 * 2, ["rmse", "mae"])
    rmse = {lab: sum(r["metrics"]["rmse"] for r in records if r["label"] == lab) / 2 for lab in ("mse", "tukey")}
    assert rmse["tukey"] < rmse["mse"]  # the lesson shows even in quick mode: least squares is pulled off the line


def test_ce_vs_mse(tmp_path):
    _compare("ce_vs_mse.toml", tmp_path)
    records = _check_folder(tmp_path, 2 * 2, ["accuracy", "log_loss", "ece"])
    assert all(len(r["prediction"][0]) == 10 for r in records)


def test_imbalance(tmp_path):
    _compare("imbalance.toml", tmp_path)
    _check_folder(tmp_path, 3 * 2, ["auprc", "auroc", "log_loss", "balanced_accuracy", "ece"])


def _script(name: str):
    spec = importlib.util.spec_from_file_location(f"lesson_{name}", LESSONS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
    sys.modules.pop("lesson_run", None)


def test_metric_learning_digits(tmp_path, one_thread):
    out = _script("metric_learning_digits").main(["--quick", "--out", str(tmp_path)])
    records = _check_folder(out, 3 * 2, ["recall@1"])
    assert all(0.0 <= r["metrics"]["recall@1"] <= 1.0 and "prediction" not in r for r in records)
    page = (out / "report.html").read_text()
    assert "Residuals" not in page and "Reliability" not in page


def test_multitask_weighting(tmp_path, one_thread):
    out = _script("multitask_weighting").main(["--quick", "--out", str(tmp_path)])
    records = _check_folder(out, 3 * 2, ["accuracy", "rmse"])
    weights = {r["label"]: r["weights"] for r in records}
    assert weights["Fixed"] == [1.0, 1.0] and weights["Uncertainty"] != [1.0, 1.0]


def test_digits_csv_regenerates(tmp_path):
    path = _script("make_data").main(tmp_path / "digits.csv")
    assert path.read_bytes() == (LESSONS / "data" / "digits.csv").read_bytes()
