"""The run folder of a lesson that trains outside ``losskit compare`` (metric learning, multi-task).

Writes the same files as ``losskit compare`` -- ``config.json`` (settings and their SHA-256
fingerprint), ``trials.jsonl`` (one record per (candidate, fold, seed)), ``summary.csv``
(``losskit.compare.stats`` over every metric) and ``report.html``
(``losskit.compare.report.write_report``) -- so the lessons are read and compared the same way.
Records carry no ``y_true``/``prediction``: the report then leaves out residuals and reliability.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np


def protocol_parser(doc: str, out: str, quick_help: str) -> argparse.ArgumentParser:
    """The options every lesson script shares: --quick, --folds, --seeds, --out."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", default=out)
    return parser


def splits(y: np.ndarray, folds: int, seeds: int):
    """(fold, seed, train rows, test rows): stratified k-fold shuffled by each seed, as compare does."""
    from sklearn.model_selection import StratifiedKFold

    for seed in range(seeds):
        cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
        for fold, (train, test) in enumerate(cv.split(np.zeros(len(y)), y)):
            yield fold, seed, train, test


def sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def write_run(out, config: dict, records: list[dict], *, report: bool = True) -> Path:
    """Replace ``out`` with a run folder of ``config`` and ``records``; returns the folder."""
    import pandas as pd

    from losskit.compare import stats
    from losskit.compare.report import write_report

    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    fingerprint = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()
    (out / "config.json").write_text(json.dumps({"config": config, "fingerprint": fingerprint}, indent=1))
    with open(out / "trials.jsonl", "w") as f:
        f.writelines(json.dumps(record) + "\n" for record in records)
    n_test = config["n_rows"] // config["folds"]
    frames = [stats.summary_frame(stats.summarize(records, metric, config["baseline"],
                                                  n_train=config["n_rows"] - n_test, n_test=n_test))
              for metric in config["metrics"]]
    pd.concat(frames, ignore_index=True).to_csv(out / "summary.csv", index=False)
    if report:
        write_report(out)
    return out


def print_summary(out) -> None:
    """Each metric's mean, interval and paired difference against the baseline, from summary.csv."""
    import pandas as pd

    frame = pd.read_csv(Path(out) / "summary.csv")
    columns = ["metric", "label", "n", "mean", "ci_low", "ci_high", "diff", "p_holm", "wins", "ties", "losses"]
    print(frame[columns].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
