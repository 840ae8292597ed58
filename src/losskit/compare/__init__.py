"""Prove a loss on the user's data: train the same model with each candidate, compare.

``compare(data, target, losses="auto")`` runs every (candidate loss, fold,
seed) trial, keeps each finished trial in the output folder (resumable),
summarises the test metrics with confidence intervals and a paired test
against the baseline (:mod:`losskit.compare.stats`), and writes a
self-contained ``report.html`` (:mod:`losskit.compare.report`).

Modules: ``config`` (settings, fingerprint), ``tasks`` (which losses fit a
target, output -> prediction), ``models`` (linear / MLP / GBDT training with
early stopping), ``metrics``, ``stats``, ``store`` (the run folder),
``runner`` (trials and executors), ``report``, ``tune`` (validation curves and
Bayesian search), ``demo``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .config import FOLDS, MAX_EPOCHS, MODEL, PATIENCE, SEEDS

__all__ = ["Comparison", "compare"]


@dataclass
class Comparison:
    """A finished (or partly finished) comparison: its settings, records and summary."""

    config: object  # CompareConfig
    records: list
    rows: list  # stats rows of the primary metric, best first
    out: Path
    report: Path | None
    notes: list
    complete: bool

    @property
    def metric(self) -> str:
        return self.config.metrics[0]

    def table(self) -> str:
        """The primary metric's summary as aligned text."""
        from .stats import format_table

        return format_table(self.rows, self.metric)

    def summary_frame(self):
        """Every metric's summary as one pandas DataFrame (the ``summary.csv`` of the folder)."""
        return summary_frame(self.config, self.records)


def sizes(config) -> tuple[int, int]:
    """Rows in a training and a test part of a fold (for the corrected t-test's n_test/n_train)."""
    n_test = config.n_rows // config.folds
    return config.n_rows - n_test, n_test


def summary_frame(config, records):
    import pandas as pd

    from .stats import summarize
    from .stats import summary_frame as frame

    n_train, n_test = sizes(config)
    parts = []
    for metric in config.metrics:
        rows = summarize(records, metric, config.baseline, n_train=n_train, n_test=n_test)
        parts.append(frame(rows))
    return pd.concat(parts, ignore_index=True)


def compare(data, target=None, *, losses="auto", model: str = MODEL, folds: int = FOLDS, seeds: int = SEEDS,
            metric=None, baseline=None, features=None, eval_target=None, l2: float = 0.0,
            max_epochs: int = MAX_EPOCHS, patience: int = PATIENCE, task=None, out="losskit-compare", jobs: int = 1,
            executor: str = "local", ray_address=None, reuse: bool = False, overwrite: bool = False, report: bool = True,
            progress=None) -> Comparison:
    """Compare losses on ``data`` (a CSV/Parquet/.npy path or a bundled dataset name).

    Args:
        target: the target column (a column index for .npy).
        losses: ``"auto"`` (the recommender's top candidates plus the task's
            standard loss) or ``"huber(delta=2),mae"`` / a list of such.
        model: ``linear``, ``mlp`` (PyTorch, early stopping on an inner
            validation split) or ``gbdt`` (XGBoost with the loss as objective).
        folds, seeds: k-fold (stratified for classification), repeated with
            ``seeds`` shuffles; every candidate sees the same splits.
        metric: comma-separated names; the first is primary (default: per task).
        baseline: the label the others are tested against (default: the
            task's standard loss, added when absent).
        features: feature columns (default: every other numeric column).
        eval_target: a column the metrics are computed on instead of the target.
        l2: weight penalty 0.5 * l2 * ||W||^2 (linear/mlp).
        out: the run folder; an existing run with the same settings resumes.
        jobs: worker processes; ``executor="ray"`` runs trials on Ray
            (``ray_address``: a cluster address, default $RAY_ADDRESS or
            'auto'; 'local' starts one here).
        reuse / overwrite: what to do when ``out`` holds a run with other
            settings (see :mod:`losskit.compare.store`); by default it is refused.
        progress: ``progress(record, done, total)`` after each saved trial.
    """
    from .runner import build, check_execution, execute
    from .store import RunFolder, run_lock

    config, data_arrays, notes = build(data, target, losses=losses, model=model, folds=folds, seeds=seeds,
                                       metric=metric, baseline=baseline, features=features,
                                       eval_target=eval_target, l2=l2, max_epochs=max_epochs, patience=patience,
                                       task=task)
    check_execution(jobs, executor)
    with run_lock(out):  # every input is checked first; then the folder is ours until the run ends
        folder = RunFolder.open(out, config, reuse=reuse, overwrite=overwrite)
        if folder.records:
            notes.append(f"resumed: {len(folder.records)} finished trials kept from {folder.path}")
        execute(folder, data_arrays, jobs=jobs, executor=executor, ray_address=ray_address, progress=progress)
        return finish(folder, notes, write_report=report)


def finish(folder, notes, *, write_report: bool = True) -> Comparison:
    """Summarise the folder's records; write summary.csv and report.html."""
    from .stats import summarize
    from .store import atomic_write, folder_errors

    config = folder.config
    records = list(folder.records.values())
    n_train, n_test = sizes(config)
    rows = summarize(records, config.metrics[0], config.baseline, n_train=n_train, n_test=n_test)
    report_path = None
    with folder_errors(folder.path):
        atomic_write(folder.path / "summary.csv", summary_frame(config, records).to_csv(index=False))
        if write_report:
            from .report import write_report as write

            report_path = write(folder.path)
    total = len(config.losses) * config.folds * config.seeds
    return Comparison(config, records, rows, folder.path, report_path, notes, len(records) == total)
