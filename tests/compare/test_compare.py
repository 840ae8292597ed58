"""End to end: `losskit compare` and `losskit demo` on small data: records, summary, report,
interruption and resume, refusal to mix runs, parallel and Ray executors, bad input."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")
pytest.importorskip("rich")

from losskit.compare import compare
from losskit.compare.config import CompareConfig, parse_losses
from losskit.compare.runner import build, splits
from losskit.compare.store import read_records

LOSSKIT = [sys.executable, "-m", "losskit"]


@pytest.fixture(scope="module")
def regression_csv(tmp_path_factory):
    """200 rows: y = 2 x1 - x2 + noise, 10% gross errors."""
    import pandas as pd

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    line = 1.0 + 2 * X[:, 0] - X[:, 1]
    y = line + rng.normal(scale=0.5, size=200)
    y[rng.choice(200, 20, replace=False)] += 15
    path = tmp_path_factory.mktemp("data") / "reg.csv"
    pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "y": y, "line": line}).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def binary_csv(tmp_path_factory):
    import pandas as pd

    rng = np.random.default_rng(1)
    X = rng.normal(size=(240, 4))
    p = 1 / (1 + np.exp(-(2 * X[:, 0] - X[:, 1] - 2.5)))
    y = (rng.uniform(size=240) < p).astype(int)
    path = tmp_path_factory.mktemp("data") / "bin.csv"
    pd.DataFrame({**{f"f{i}": X[:, i] for i in range(4)}, "label": y}).to_csv(path, index=False)
    return path


def run_cli(*args, cwd=None, timeout=300):
    return subprocess.run([*LOSSKIT, *map(str, args)], check=False, capture_output=True, text=True, cwd=cwd, timeout=timeout)


# -- configuration --------------------------------------------------------------------


def test_parse_losses_reads_parameters_and_refuses_repeats():
    choices = parse_losses("huber(delta=2.0), mae, cross_entropy(class_weight=[1, 4])")
    assert [c.loss for c in choices] == ["huber", "mae", "cross_entropy"]
    assert choices[2].params == {"class_weight": [1, 4]}
    with pytest.raises(ValueError, match="distinct"):
        parse_losses("mae,mae")
    with pytest.raises(ValueError, match="registered loss names"):
        parse_losses("mse,no_such_loss")
    with pytest.raises(ValueError, match="k=v"):
        parse_losses("huber(2.0)")


def test_every_candidate_sees_the_same_stratified_folds(binary_csv):
    config, data, _ = build(str(binary_csv), "label", losses="binary_cross_entropy_with_logits,sigmoid_focal",
                            folds=4, seeds=2)
    split = splits(config, data.y)
    assert len(split) == 8
    rate = data.y.mean()
    for train, test in split.values():
        assert len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == len(data.y)
        assert abs(data.y[test].mean() - rate) < 0.05  # stratified
    again = splits(config, data.y)
    assert all(np.array_equal(split[k][1], again[k][1]) for k in split)
    assert not np.array_equal(split[0, 0][1], split[0, 1][1])  # another seed, another shuffle


def test_config_round_trips_and_the_fingerprint_follows_the_settings(regression_csv):
    config, _, notes = build(str(regression_csv), "y", losses="mae,huber(delta=1.5)", folds=3, seeds=1)
    assert config.baseline == "mse" and config.losses[0].loss == "mse"  # the baseline is added, with a note
    assert any("added the baseline" in n for n in notes)
    same = CompareConfig.from_dict(json.loads(json.dumps(config.as_dict())))
    assert same.fingerprint == config.fingerprint
    other, _, _ = build(str(regression_csv), "y", losses="mae,huber(delta=1.5)", folds=4, seeds=1)
    assert other.differences(config) == ["folds"]


# -- a run, end to end ----------------------------------------------------------------------


def test_compare_cli_writes_records_summary_and_report(regression_csv, tmp_path):
    out = tmp_path / "run"
    result = run_cli("compare", regression_csv, "--target", "y", "--losses", "mse,huber(delta=1.0),mae",
                     "--features", "a,b,c", "--eval-target", "line", "--folds", "3", "--seeds", "2", "--out", out)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in (out / "trials.jsonl").read_text().splitlines()]
    assert len(records) == 3 * 3 * 2 and len({r["key"] for r in records}) == 18
    r = records[0]
    assert set(r["metrics"]) == {"rmse", "mae", "median_ae", "r2"}
    assert len(r["prediction"]) == len(r["y_true"]) == len(r["test_rows"])
    assert len(r["curve"]["val_loss"]) == r["epochs"] and 1 <= r["best_epoch"] <= r["epochs"]
    # the metrics are judged on the noise-free line, and a robust loss recovers it better
    summary = (out / "summary.csv").read_text()
    assert "rmse" in summary and "median_ae" in summary
    assert "paired corrected t-test vs mse" in result.stdout
    mean = {lab: np.mean([x["metrics"]["rmse"] for x in records if x["label"] == lab]) for lab in ("mse", "mae")}
    assert mean["mae"] < mean["mse"]
    html = (out / "report.html").read_text()
    assert "<html" in html and "huber(delta=1)" in html
    assert f"report: {out / 'report.html'}" in result.stdout


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _slow_run_args(data, out):
    # MLP trials, long patience: slow enough (~0.5 s each) to be killed mid-run
    return [*LOSSKIT, "compare", str(data), "--target", "label", "--model", "mlp", "--patience", "40",
            "--losses", "binary_cross_entropy_with_logits,sigmoid_focal,mse,hinge", "--folds", "3", "--seeds", "2",
            "--no-report", "--out", str(out)]


def _start_and_wait_for(args, trials_file: Path, n: int, timeout=120):
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    start = time.monotonic()
    while len(_lines(trials_file)) < n:
        if proc.poll() is not None or time.monotonic() - start > timeout:
            proc.kill()
            raise AssertionError(f"the run ended or stalled before {n} trials: {proc.communicate()}")
        time.sleep(0.02)
    return proc


@pytest.mark.parametrize("how", ["kill", "interrupt"])
def test_an_interrupted_run_resumes_without_losing_or_repeating_a_trial(binary_csv, tmp_path, how):
    out = tmp_path / "run"
    trials_file = out / "trials.jsonl"
    args = _slow_run_args(binary_csv, out)
    proc = _start_and_wait_for(args, trials_file, 3)
    proc.send_signal(signal.SIGKILL if how == "kill" else signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    if how == "kill":
        assert proc.returncode == -signal.SIGKILL
    else:
        assert proc.returncode == 130, stderr
        assert "run the same command to resume" in stderr
    before = {json.loads(line)["key"]: line for line in _lines(trials_file) if line.strip()}
    assert 3 <= len(before) < 24, "the run must have been stopped mid-way"

    result = subprocess.run(args, check=False, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert f"resumed: {len(before)} finished trials kept" in result.stderr
    after = _lines(trials_file)
    keys = [json.loads(line)["key"] for line in after]
    assert len(keys) == 24 and len(set(keys)) == 24  # nothing lost, nothing run twice
    assert after[: len(before)] == list(before.values())  # finished trials untouched


def test_a_line_cut_short_by_a_kill_is_set_aside(regression_csv, tmp_path):
    out = tmp_path / "run"
    kwargs = {"losses": "mse,mae", "folds": 2, "seeds": 1, "out": out, "report": False, "features": ["a", "b", "c"]}
    first = compare(str(regression_csv), "y", **kwargs)
    assert first.complete
    lines = _lines(out / "trials.jsonl")
    (out / "trials.jsonl").write_text("\n".join(lines[:2]) + "\n" + lines[2][:50])  # a write cut mid-line
    again = compare(str(regression_csv), "y", **kwargs)
    assert again.complete and len(again.records) == 4
    assert (out / "trials.jsonl.partial").read_text() == lines[2][:50]
    assert [json.loads(x)["key"] for x in _lines(out / "trials.jsonl")][:2] == [json.loads(x)["key"] for x in lines[:2]]


def test_a_folder_holding_another_run_is_refused_and_left_untouched(regression_csv, tmp_path):
    out = tmp_path / "run"
    base = ["compare", regression_csv, "--target", "y", "--features", "a,b,c", "--seeds", "1", "--no-report",
            "--out", out]
    assert run_cli(*base, "--losses", "mse,mae", "--folds", "2").returncode == 0
    snapshot = {p.name: p.read_bytes() for p in out.iterdir()}

    refused = run_cli(*base, "--losses", "mse,mae", "--folds", "3")
    assert refused.returncode == 2
    assert "holding a run whose folds differ" in refused.stderr and "--overwrite" in refused.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == snapshot  # nothing overwritten

    blocked = run_cli(*base, "--losses", "mse,mae", "--folds", "3", "--reuse")
    assert blocked.returncode == 2 and "folds differ" in blocked.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == snapshot

    # another candidate, same protocol: --reuse keeps the shared trials and runs only the new ones
    extended = run_cli(*base, "--losses", "mse,mae,huber(delta=1.0)", "--folds", "2", "--reuse")
    assert extended.returncode == 0, extended.stderr
    records = read_records(out)
    assert len(records) == 6 and "resumed: 4 finished trials kept" in extended.stderr
    old = {json.loads(line)["key"]: json.loads(line) for line in snapshot["trials.jsonl"].decode().splitlines()}
    assert all(records[k] == v for k, v in old.items())
    assert any(p.name.startswith("previous-") for p in out.iterdir())  # the old run moved aside, not deleted

    fresh = run_cli(*base, "--losses", "mse", "--folds", "3", "--overwrite")
    assert fresh.returncode == 0, fresh.stderr
    assert len(read_records(out)) == 3
    assert len([p for p in out.iterdir() if p.name.startswith("previous-")]) >= 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["--losses", "mse,nonsense"], "registered loss names"),
        (["--losses", "cross_entropy"], "cross_entropy"),
        (["--folds", "150"], "at least 300 rows"),
        (["--model", "gbdt", "--losses", "rmse"], "rmse"),
        (["--metric", "accuracy"], "--metric"),
        (["--target", "nope"], "target must be a column of DATA"),
        (["--eval-target", "y"], "--eval-target"),
        (["--jobs", "0"], "--jobs"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(regression_csv, tmp_path, args, message):
    base = {"--target": "y", "--out": str(tmp_path / "run"), "--folds": "2", "--seeds": "1"}
    for key, value in zip(args[::2], args[1::2]):
        base[key] = value
    result = run_cli("compare", regression_csv, *[x for kv in base.items() for x in kv], "--no-report")
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert message in result.stderr
    assert not (tmp_path / "run" / "trials.jsonl").exists()


def test_too_few_rows_of_a_class_for_stratified_folds(binary_csv, tmp_path):
    result = run_cli("compare", binary_csv, "--target", "label", "--folds", "40", "--out", tmp_path / "r")
    assert result.returncode == 2 and "of every class for stratified --folds 40" in result.stderr


def test_an_output_folder_with_other_files_is_refused(regression_csv, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    result = run_cli("compare", regression_csv, "--target", "y", "--out", tmp_path)
    assert result.returncode == 2 and "holds other files (notes.txt)" in result.stderr
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_parallel_jobs_give_the_same_records_as_one_process(regression_csv, tmp_path):
    kwargs = {"losses": "mse,mae", "folds": 2, "seeds": 1, "report": False, "features": ["a", "b", "c"]}
    one = compare(str(regression_csv), "y", out=tmp_path / "one", **kwargs)
    two = compare(str(regression_csv), "y", out=tmp_path / "two", jobs=2, **kwargs)

    def strip(r):
        return {k: v for k, v in r.items() if k != "seconds"}

    assert {r["key"]: strip(r) for r in one.records} == {r["key"]: strip(r) for r in two.records}


def test_ray_executor_runs_the_trials(regression_csv, tmp_path):
    pytest.importorskip("ray")
    kwargs = {"losses": "mse,mae", "folds": 2, "seeds": 1, "report": False, "features": ["a", "b", "c"]}
    local = compare(str(regression_csv), "y", out=tmp_path / "local", **kwargs)
    on_ray = compare(str(regression_csv), "y", out=tmp_path / "ray", executor="ray", ray_address="local", **kwargs)
    import ray

    ray.shutdown()
    assert {r["key"]: r["metrics"] for r in local.records} == {r["key"]: r["metrics"] for r in on_ray.records}


def test_config_file_settings_and_command_line_overrides(regression_csv, tmp_path):
    config = tmp_path / "lesson.toml"
    config.write_text(f'data = "{regression_csv.name}"\ntarget = "y"\nlosses = "mse,mae"\nfolds = 2\nseeds = 1\n'
                      f'features = ["a", "b", "c"]\n')
    (tmp_path / regression_csv.name).write_bytes(regression_csv.read_bytes())
    result = run_cli("compare", "--config", config, "--seeds", "2", "--no-report", "--out", tmp_path / "run")
    assert result.returncode == 0, result.stderr
    assert len(read_records(tmp_path / "run")) == 2 * 2 * 2
    bad = tmp_path / "bad.toml"
    bad.write_text('data = "x.csv"\nfoldz = 3\n')
    result = run_cli("compare", "--config", bad)
    assert result.returncode == 2 and "foldz" in result.stderr


def test_demo_runs_both_parts_and_prints_the_reports(tmp_path):
    result = run_cli("demo", "--out", tmp_path / "demo", "--folds", "2", "--seeds", "1", timeout=600)
    assert result.returncode == 0, result.stderr
    for part in ("regression", "classification"):
        assert str(tmp_path / "demo" / part / "report.html") in result.stdout
        assert (tmp_path / "demo" / part / "report.html").stat().st_size > 10_000
    assert "recommend:" in result.stderr and "auprc" in result.stdout
