"""The compare report: a synthetic run folder in, one self-contained report.html out.

The run folders are built here by hand (config.json + trials.jsonl, optionally tune.json)
with the record layout the runner writes, so the report is tested without training.
"""

import html
import json
import re
from html.parser import HTMLParser

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from losskit.compare import metrics, stats
from losskit.compare.report import write_report

LOSSES = {
    "regression": [("mse", {}, "mse"), ("mae", {}, "mae"), ("huber", {"delta": 1.35}, "huber(delta=1.35)")],
    "quantile": [("pinball", {"quantile": 0.9}, "pinball(quantile=0.9)"),
                 ("expectile", {"expectile": 0.9}, "expectile(expectile=0.9)"), ("mae", {}, "mae")],
    "binary": [("binary_cross_entropy_with_logits", {}, "binary_cross_entropy_with_logits"),
               ("hinge", {}, "hinge"), ("binary_focal", {"alpha": 0.25, "gamma": 2.0}, "focal<γ=2>")],
    "multiclass": [("cross_entropy", {}, "cross_entropy"), ("multiclass_focal", {"gamma": 2.0}, "focal"),
                   ("multi_margin", {}, "multi_margin")],
}
METRICS = {"regression": ["rmse", "mae", "r2"], "quantile": ["pinball@0.9", "mae"],
           "binary": ["auprc", "accuracy", "log_loss", "ece"], "multiclass": ["accuracy", "log_loss"]}
FOLDS, SEEDS, N_ROWS = 3, 2, 90


def _prediction(task, y, noise, rng):
    if task in ("regression", "quantile"):
        return y + noise * rng.standard_normal(y.size)
    if task == "binary":
        return 1 / (1 + np.exp(-((2 * y - 1) * 2 + noise * rng.standard_normal(y.size))))
    logits = 2.0 * np.eye(3)[y.astype(int)] + noise * rng.standard_normal((y.size, 3))
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def make_run(path, task="regression", *, tune=False, trials=True, model="linear"):
    """Write a run folder for ``task`` (3 losses x 3 folds x 2 seeds) under ``path``; return ``path``."""
    rng = np.random.default_rng(7)
    losses = LOSSES[task]
    names = METRICS[task]
    y_all = {"regression": rng.normal(10, 3, N_ROWS), "quantile": rng.normal(10, 3, N_ROWS),
             "binary": (rng.random(N_ROWS) < 0.3).astype(float),
             "multiclass": rng.integers(0, 3, N_ROWS).astype(float)}[task]
    config = {"data": "data/<odd & name>.csv", "target": "y", "task": task,
              "losses": [{"loss": n, "params": p, "label": lab} for n, p, lab in losses],
              "baseline": losses[0][2], "model": model, "folds": FOLDS, "seeds": SEEDS, "metrics": names,
              "n_rows": N_ROWS, "n_classes": 3 if task == "multiclass" else None, "data_sha256": "ab" * 32,
              "eval_target": None}
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps({"config": config, "fingerprint": "sha256:" + "cd" * 32}))
    records = []
    for k, (name, params, label) in enumerate(losses):
        for fold in range(FOLDS):
            for seed in range(SEEDS):
                rows = list(range(fold, N_ROWS, FOLDS))
                y = y_all[rows]
                pred = _prediction(task, y, 0.8 + 0.4 * k, rng)
                epochs = 5 + 3 * k + fold + seed  # curves of different lengths
                val = list(np.exp(-np.arange(epochs) / 4) + 0.1 * k)
                records.append({
                    "key": f"{label}|{fold}|{seed}", "loss": name, "label": label, "params": params,
                    "fold": fold, "seed": seed, "task": task, "model": model,
                    "metrics": metrics.compute(names, task, y, pred),
                    "curve": {"epoch": list(range(1, epochs + 1)), "train_loss": val, "val_loss": val,
                              "val_metric": [v * 2 for v in val]},
                    "best_epoch": epochs - 2, "epochs": epochs, "seconds": 0.1 * (k + 1),
                    "test_rows": rows, "y_true": y.tolist(), "prediction": pred.tolist()})
    if trials:
        (path / "trials.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    if tune:
        values = [0.3, 1.0, 3.0, 10.0, 30.0]
        (path / "tune.json").write_text(json.dumps({
            "loss": "huber",
            "param_curves": [{"param": "delta", "values": values, "mean": [2.1, 1.9, 1.8, 2.0, 2.2],
                              "ci_low": [1.9, 1.7, 1.6, 1.8, 2.0], "ci_high": [2.3, 2.1, 2.0, 2.2, 2.4],
                              "metric": "mae"}],
            "trials": [{"number": i, "params": {"delta": v, "l2": 0.01}, "value": 2.0 - 0.03 * i + 0.1 * (i % 2),
                        "state": "COMPLETE"} for i, v in enumerate(values)]
            + [{"number": 5, "params": {"delta": 100.0}, "value": None, "state": "FAIL"}],
            "best": {"params": {"delta": 3.0, "l2": 0.01}, "value": 1.8}, "metric": "mae",
            "direction": "minimize"}))
    return path


class _Page(HTMLParser):
    """Figures (id -> has svg/img), section ids, tables (rows of cell texts), src/href values, text."""

    def __init__(self):
        super().__init__()
        self.figures, self.sections, self.links, self.tables, self.text = {}, [], [], [], []
        self._figure, self._cell, self._row = None, None, None
        self.alts = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("src", "href", "xlink:href"):
            if key in attrs:
                self.links.append(attrs[key])
        if tag == "section":
            self.sections.append(attrs.get("id"))
        elif tag == "figure":
            self._figure = attrs.get("id")
            self.figures[self._figure] = False
        elif tag in ("svg", "img") and self._figure is not None:
            self.figures[self._figure] = True
            self.alts[self._figure] = attrs.get("aria-label") or attrs.get("alt")
        elif tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self._row = []
            self.tables[-1].append(self._row)
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "figure":
            self._figure = None
        elif tag in ("td", "th") and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def _parse(path):
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """One report per task (regression with tune.json), written once for the module."""
    out = {}
    for task in LOSSES:
        run = make_run(tmp_path_factory.mktemp(task), task, tune=task == "regression")
        out[task] = (run, write_report(run))
    return out


@pytest.mark.parametrize("task", list(LOSSES))
def test_sections_and_figures(reports, task):
    run, path = reports[task]
    assert path == run / "report.html"
    page = _parse(path)
    assert {"configuration", "summary", "metric-comparison", "learning-curves", "losses", "trials"} <= set(
        page.sections)
    expected = {"fig-metrics", "fig-learning"}
    expected |= {"fig-reliability"} if task in ("binary", "multiclass") else {"fig-residuals", "fig-residual-hist"}
    if task != "multiclass":  # no multiclass loss has a single residual or margin to draw
        expected.add("fig-losses")
    if task == "regression":
        expected |= {"fig-tune-curves", "fig-tune-history"}
    assert expected <= set(page.figures)
    assert all(page.figures[f] for f in expected), "every figure holds an svg or img"
    assert all(page.alts[f] for f in expected), "every figure has an alt text"
    text = " ".join(page.text)
    assert "Nadeau & Bengio" in text and "Holm" in text  # the test is named
    assert "data/<odd & name>.csv" in text  # escaped in the source, intact once parsed


def test_self_contained(reports):
    for _, path in reports.values():
        source = path.read_text(encoding="utf-8")
        page = _parse(path)
        assert all(link.startswith(("data:", "#")) for link in page.links), page.links
        assert "http://" not in source and "https://" not in source
        assert "<script" not in source
        assert "<odd & name>" not in source  # escaped
        assert path.stat().st_size < 3_000_000


def _numbers(cell):
    return [float(x) for x in re.findall(r"-?\d+\.?\d*(?:e[-+]?\d+)?", cell)]


def _summary(run, metric=None):
    config = json.loads((run / "config.json").read_text())["config"]
    records = [json.loads(line) for line in (run / "trials.jsonl").read_text().splitlines()]
    n_test = N_ROWS // FOLDS
    return config, stats.summarize(records, metric or config["metrics"][0], config["baseline"],
                                   n_train=N_ROWS - n_test, n_test=n_test)


@pytest.mark.parametrize("task", list(LOSSES))
def test_summary_table_matches_stats(reports, task):
    run, path = reports[task]
    _, rows = _summary(run)
    table = _parse(path).tables[0]
    assert table[0][:5] == ["loss", "n", "mean [95% CI]", "std", "diff vs baseline [95% CI]"]
    assert [r[0].replace(" (baseline)", "") for r in table[1:]] == [r.label for r in rows]  # best first
    for row, cells in zip(rows, table[1:]):
        assert cells[1] == str(row.n)
        assert _numbers(cells[2]) == pytest.approx([row.mean, row.ci_low, row.ci_high], rel=1e-3)
        assert cells[-1] == str(row.rank)
        if row.is_baseline:
            assert cells[4] == cells[5] == cells[6] == "–"
        else:
            assert _numbers(cells[4]) == pytest.approx([row.diff, row.diff_ci_low, row.diff_ci_high], rel=1e-3)
            assert cells[6] == ("<0.001" if row.p_holm < 1e-3 else f"{row.p_holm:.3f}")
            assert cells[8] == f"{row.wins}/{row.ties}/{row.losses}"


def test_other_metric_tables_match_stats(reports):
    run, path = reports["binary"]
    tables = _parse(path).tables
    for metric, table in zip(METRICS["binary"][1:], tables[1:]):
        _, rows = _summary(run, metric)
        assert [r[0].replace(" (baseline)", "") for r in table[1:]] == [r.label for r in rows]
        for row, cells in zip(rows, table[1:]):
            assert _numbers(cells[2]) == pytest.approx([row.mean, row.ci_low, row.ci_high], rel=1e-3)


def test_best_is_highlighted(reports):
    run, path = reports["binary"]
    _, rows = _summary(run)
    first = path.read_text(encoding="utf-8").split("<table>")[1]
    best_rows = re.findall(r'<tr class="best[^"]*"><td class="l">([^<]*)', first)
    assert [b.strip() for b in best_rows] == [html.escape(r.label) for r in rows if r.rank == 1]
    assert metrics.higher_is_better("auprc")


def test_other_metrics_and_trial_table(reports):
    _run, path = reports["regression"]
    page = _parse(path)
    source = path.read_text(encoding="utf-8")
    assert source.count("<table>") >= 1 + 2 + 1 + 1  # primary, rmse's two others, best params, trials
    assert "<details>" in source
    trial_table = page.tables[-1]
    assert len(trial_table) == 1 + 3 * FOLDS * SEEDS
    assert trial_table[0][:4] == ["key", "loss", "fold", "seed"]


def test_undrawable_losses_get_a_note(reports):
    _, path = reports["multiclass"]
    text = " ".join(_parse(path).text)
    assert "cross_entropy: not drawn" in text and "multi_margin: not drawn" in text


def test_tune_only_folder_and_errors(tmp_path):
    run = make_run(tmp_path / "tune", "regression", tune=True, trials=False)
    page = _parse(write_report(run))
    assert {"fig-tune-curves", "fig-tune-history"} <= set(page.figures)
    assert "summary" not in page.sections
    with pytest.raises(ValueError, match="run_dir must hold config.json"):
        write_report(tmp_path)
    with pytest.raises(ValueError, match="run_dir must be a run folder"):
        write_report(tmp_path / "missing")
    empty = make_run(tmp_path / "empty", trials=False)
    with pytest.raises(ValueError, match="finished trials"):
        write_report(empty)


def test_report_is_reproducible(tmp_path):
    run = make_run(tmp_path / "r", "binary")
    first = write_report(run).read_text()
    assert write_report(run).read_text() == first


def test_nan_metric_is_counted_not_hidden(tmp_path):
    run = make_run(tmp_path / "nan", "binary")
    lines = (run / "trials.jsonl").read_text().splitlines()
    record = json.loads(lines[-1])
    record["metrics"]["auprc"] = float("nan")  # e.g. a fold without a positive
    record["prediction"] = []  # and no stored prediction: left out of the reliability pool
    (run / "trials.jsonl").write_text("\n".join(lines[:-1] + [json.dumps(record)]) + "\n")
    page = _parse(write_report(run))
    row = next(r for r in page.tables[0][1:] if r[0].startswith(record["label"]))
    assert row[1] == f"{FOLDS * SEEDS - 1} (1 NaN)"
    assert page.figures["fig-reliability"]
