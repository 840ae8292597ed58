"""`losskit tune`: validation curves, optuna search and the closing compare, resumable; bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("optuna")
pytest.importorskip("torch")

from losskit.compare.tune import Space, default_space, parse_space
from losskit.registry import spec

ARGS = ["outlier_regression", "--target", "y", "--features", "x1,x2,x3,x4", "--eval-target", "y_line",
        "--loss", "huber", "--grid", "3", "--trials", "4", "--folds", "2", "--confirm-seeds", "1"]


def run_tune(*args):
    return subprocess.run([sys.executable, "-m", "losskit", "tune", *map(str, args)], check=False,
                          capture_output=True, text=True, timeout=300)


def test_search_spaces_follow_the_domain():
    params = {p.name: p for p in spec("sigmoid_focal").params}
    assert default_space(params["alpha"], 0.25) == Space("alpha", 0.0, 1.0, False)
    assert default_space(params["gamma"], 2.0) == Space("gamma", 0.0, 5.0, False)
    delta = spec("huber").params[0]
    assert default_space(delta, 1.5) == Space("delta", 0.15, 15.0, True)
    assert parse_space("delta=0.5:4:log", {"delta": delta}, {"delta": 1.0}) == Space("delta", 0.5, 4.0, True)
    with pytest.raises(ValueError, match="inside delta's domain"):
        parse_space("delta=-1:4", {"delta": delta}, {"delta": 1.0})
    with pytest.raises(ValueError, match="a parameter of the loss"):
        parse_space("gamma", {"delta": delta}, {"delta": 1.0})
    assert Space("delta", 0.1, 10.0, True).grid(3) == [0.1, 1.0, 10.0]


def test_tune_writes_curves_search_and_the_confirming_compare_and_resumes(tmp_path):
    out = tmp_path / "tune"
    first = run_tune(*ARGS, "--l2", "--out", out)
    assert first.returncode == 0, first.stderr
    summary = json.loads((out / "tune.json").read_text())
    assert [c["param"] for c in summary["param_curves"]] == ["delta", "l2"]
    assert all(len(c["values"]) == len(c["mean"]) == 3 for c in summary["param_curves"])
    assert len(summary["trials"]) == 4 and set(summary["best"]["params"]) == {"delta", "l2"}
    assert "best rmse" in first.stdout
    html = (out / "report.html").read_text()
    assert 'id="fig-tune-curves"' in html and 'id="fig-tune-history"' in html and 'id="fig-metrics"' in html
    records = [json.loads(x) for x in (out / "trials.jsonl").read_text().splitlines()]
    assert len(records) in (2, 4)  # centre and best on 2 folds (one label when they coincide)

    curve_lines = (out / "tune" / "curves.jsonl").read_text()
    again = run_tune(*ARGS, "--l2", "--out", out)  # everything finished: nothing is refitted
    assert again.returncode == 0, again.stderr
    assert (out / "tune" / "curves.jsonl").read_text() == curve_lines
    assert len(json.loads((out / "tune.json").read_text())["trials"]) == 4

    other = run_tune(*ARGS, "--out", out)  # without --l2: another tuning run
    assert other.returncode == 2 and "l2 differ" in other.stderr


@pytest.mark.parametrize("args, message", [
    (["--loss", "nonsense"], "nonsense"),
    (["--loss", "mse"], "at least one real parameter"),
    (["--loss", "huber", "--param", "gamma"], "a parameter of the loss"),
    (["--loss", "huber", "--grid", "1"], "--grid"),
    (["--loss", "cross_entropy"], "cross_entropy"),
])
def test_tune_bad_input(tmp_path, args, message):
    result = run_tune("outlier_regression", "--target", "y", "--features", "x1,x2,x3,x4", *args,
                      "--out", tmp_path / "t")
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
