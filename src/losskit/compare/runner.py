"""Build the comparison, run its trials (here, in processes, or on Ray), keep each one.

A trial is one (candidate loss, fold, seed). Every candidate sees the same
folds (stratified for classification, shuffled with the seed) and the same
seeds, so results pair up for the test against the baseline. Trials run in
the order fold-major so that an interrupted run has whole folds for as many
candidates as possible.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np

from . import metrics as M
from . import tasks
from .config import (
    AUTO_TOP,
    FOLDS,
    MAX_EPOCHS,
    MODEL,
    PATIENCE,
    SEEDS,
    CompareConfig,
    Data,
    LossChoice,
    check_model,
    check_protocol,
    fail,
    load_data,
    parse_losses,
)
from .models import check_inner_split
from .store import RunFolder, trial_key

EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class Trial:
    choice: LossChoice
    fold: int
    seed: int
    train: np.ndarray
    test: np.ndarray

    @property
    def key(self) -> str:
        return trial_key(self.choice.label, self.fold, self.seed)


def build(data: str, target: str | None, *, losses="auto", model: str = MODEL, folds: int = FOLDS, seeds: int = SEEDS,
          metric=None, baseline: str | None = None, features=None, eval_target: str | None = None,
          l2: float = 0.0, max_epochs: int = MAX_EPOCHS, patience: int = PATIENCE, task: str | None = None,
          top: int = AUTO_TOP) -> tuple[CompareConfig, Data, list[str]]:
    """Read the data and settle every setting; returns (config, data, notes for the user)."""
    check_model(model)
    d = load_data(data, target, features, eval_target)
    notes = list(d.notes)
    metric_names = M.parse_metrics(metric, _task_guess(d.y, metric, task)) if metric else None
    task = task or tasks.task_of(d.y, metric_names or ())
    metric_names = metric_names or M.default_metrics(task, quantile=_quantile(metric_names))
    check_protocol(task, d.y, folds, seeds)
    base = LossChoice(tasks.baseline(task), _baseline_params(task, metric_names))
    if isinstance(losses, str) and losses.strip() == "auto":
        choices, more = _auto(d, task, metric_names, model, top)
        notes += more
    else:
        choices = parse_losses(losses)
    for c in choices:
        tasks.check_fits(c.loss, task, d.y, model=model)
    labels = [c.label for c in choices]
    if baseline is None:  # the standard loss at its defaults: what a user would have used anyway
        if base.label not in labels:
            choices.insert(0, base)
            notes.append(f"added the baseline {base.label} (the standard loss for a {task} target)")
        baseline = base.label
    elif baseline not in labels:
        raise fail("--baseline", f"one of the compared losses ({', '.join(labels)})", repr(baseline))
    n_classes = None
    if task in ("binary", "multiclass"):
        codes, classes = tasks.encode_labels(d.y)
        if not np.array_equal(codes, d.y):
            notes.append("classes " + ", ".join(f"{c!r} -> {i}" for i, c in enumerate(classes.tolist()))
                         + " (coded 0..C-1 for training)")
            d.y = d.y_eval = codes
        n_classes = len(classes)
    config = CompareConfig(
        data=str(data), target=target, task=task, losses=tuple(choices), baseline=baseline, model=model,
        folds=folds, seeds=seeds, metrics=tuple(metric_names), features=None if features is None else tuple(features),
        eval_target=eval_target, l2=float(l2), max_epochs=int(max_epochs), patience=int(patience),
        n_rows=len(d.y), n_classes=n_classes, data_sha256=d.sha256)
    check_inner_split(config, d.y, splits(config, d.y))
    return config, d, notes


def _task_guess(y, metric, task):
    return task or tasks.task_of(y, [m.strip() for m in str(metric).split(",")] if isinstance(metric, str) else metric)


def _quantile(names) -> float | None:
    for name in names or ():
        if name.startswith("pinball@"):
            return float(name.split("@", 1)[1])
    return None


def _baseline_params(task: str, metric_names) -> dict:
    q = _quantile(metric_names)
    return {"quantile": q} if task == "quantile" and q is not None else {}


def _auto(d: Data, task: str, metric_names, model: str, top: int) -> tuple[list[LossChoice], list[str]]:
    """The recommender's top candidates that this model can train on this task."""
    from ..recommend import recommend
    from ..recommend.rules import parse_metric

    metric = next((m for m in metric_names if _recommender_knows(m, parse_metric, d.y)), None)
    rec = recommend(d.y, d.X, metric=metric, top=10)
    choices, notes = [], []
    for entry in rec.ranked:
        try:
            tasks.check_fits(entry.loss, task, d.y, model=model)
        except ValueError as why:
            notes.append(f"auto: left out {entry.loss}: {why}")
            continue
        choices.append(LossChoice(entry.loss, dict(entry.params)))
        if len(choices) == top:
            break
    notes.append("auto: the recommender's top candidates: " + ", ".join(c.label for c in choices))
    return choices, notes


def _recommender_knows(metric: str, parse_metric, y) -> bool:
    from ..recommend.profile import profile

    try:
        return parse_metric(metric, profile(y).task) is not None
    except ValueError:
        return False


def splits(config: CompareConfig, y: np.ndarray, seeds=None) -> dict:
    """(fold, seed) -> (train rows, test rows): the same for every candidate.

    ``seeds``: the shuffles to make (default ``range(config.seeds)``)."""
    from sklearn.model_selection import KFold, StratifiedKFold

    out = {}
    for seed in range(config.seeds) if seeds is None else seeds:
        if config.task in ("binary", "multiclass"):
            folds = StratifiedKFold(config.folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y)
        else:
            folds = KFold(config.folds, shuffle=True, random_state=seed).split(np.zeros(len(y)))
        for fold, (train, test) in enumerate(folds):
            out[fold, seed] = (train, test)
    return out


def trials(config: CompareConfig, y: np.ndarray) -> list[Trial]:
    """Every trial, fold-major: all candidates of (fold 0, seed 0) first."""
    split = splits(config, y)
    return [Trial(c, fold, seed, *split[fold, seed])
            for seed in range(config.seeds) for fold in range(config.folds) for c in config.losses]


def run_trial(trial: Trial, config: CompareConfig, data: Data) -> dict:
    """Train on the trial's training rows, predict its test rows, score: one record."""
    from .models import fit_predict

    task, primary = config.task, config.metrics[0]
    y_train = data.y[trial.train]
    adapter = tasks.Adapter(trial.choice.loss, trial.choice.params, task, config.n_classes, y_train=y_train)

    def monitor(prediction, y_val):
        return M.compute([primary], task, y_val, prediction)[primary]

    start = time.perf_counter()
    fit = fit_predict(adapter, data.X[trial.train], y_train, data.X[trial.test], model=config.model,
                      seed=1000 * trial.seed + trial.fold, monitor=monitor, l2=config.l2,
                      max_epochs=config.max_epochs, patience=config.patience)
    y_true = data.y_eval[trial.test]
    prediction = np.asarray(fit.prediction, dtype=np.float64)
    return {
        "key": trial.key, "loss": trial.choice.loss, "label": trial.choice.label, "params": trial.choice.params,
        "fold": trial.fold, "seed": trial.seed, "task": task, "model": config.model,
        "metrics": M.compute(list(config.metrics), task, y_true, prediction),
        "curve": fit.curve, "best_epoch": fit.best_epoch, "epochs": fit.epochs,
        "seconds": round(time.perf_counter() - start, 4),
        "test_rows": trial.test.tolist(), "y_true": y_true.tolist(), "prediction": prediction.tolist(),
    }


# -- executors ---------------------------------------------------------------------------
# Each yields finished records as they come; the caller saves each one at once.

_WORKER: dict = {}
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _die_with(parent: int) -> None:
    """End this worker when ``parent`` dies, however it dies (kill -9 included): otherwise an
    orphaned worker runs on, holding its memory and the parent's stdout (a reader of that pipe
    would wait forever). Linux: the kernel's parent-death signal; everywhere: a watching thread."""
    import signal
    import sys
    import threading

    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)

    def watch():
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="losskit-parent-watch", daemon=True).start()


def _init_worker(config: CompareConfig, data: Data, parent: int | None = None) -> None:
    if parent is not None:
        _die_with(parent)
    import torch

    torch.set_num_threads(1)
    _WORKER["config"], _WORKER["data"] = config, data


def _run_in_worker(trial: Trial) -> dict:
    return run_trial(trial, _WORKER["config"], _WORKER["data"])


def run_local(todo: list[Trial], config: CompareConfig, data: Data, jobs: int = 1):
    """In this process (jobs=1) or in ``jobs`` worker processes, one torch thread each."""
    if jobs == 1:
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            for t in todo:
                yield run_trial(t, config, data)
        finally:
            torch.set_num_threads(threads)
        return
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    # spawn, not fork: a forked child of a process that has run torch can hang in its thread pools
    pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_worker, initargs=(config, data, os.getpid()))
    pending = {pool.submit(_run_in_worker, t) for t in todo}
    try:
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()
    finally:  # on Ctrl-C or an error: drop the queued trials, do not wait for them
        pool.shutdown(wait=False, cancel_futures=True)


def run_ray(todo: list[Trial], config: CompareConfig, data: Data, address: str | None = None):
    """On a Ray cluster: ``address`` (default: $RAY_ADDRESS or 'auto', an existing cluster), or
    'local' to start one on this machine."""
    try:
        import ray
    except ImportError:
        raise fail("--executor", "'local', or 'ray' with Ray installed (pip install 'losskit[ray]')",
                   "'ray' without Ray", ImportError) from None
    if not ray.is_initialized():
        target = address or os.environ.get("RAY_ADDRESS") or "auto"
        try:
            if target == "local":
                ray.init(num_cpus=max(1, os.cpu_count() or 1), include_dashboard=False, log_to_driver=False)
            else:
                ray.init(address=target, log_to_driver=False)
        except ConnectionError as error:
            raise fail("--ray-address", "the address of a running Ray cluster, or 'local'",
                       f"{target!r} ({error})", ConnectionError) from None
    remote = ray.remote(num_cpus=1)(_ray_trial)
    config_ref, data_ref = ray.put(config), ray.put(data)
    pending = [remote.remote(t, config_ref, data_ref) for t in todo]
    try:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                yield ray.get(ref)
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)


def _ray_trial(trial: Trial, config: CompareConfig, data: Data) -> dict:
    import torch

    torch.set_num_threads(1)
    return run_trial(trial, config, data)


def check_execution(jobs, executor) -> None:
    """Refuse a bad ``jobs`` or ``executor`` (before the run folder is touched)."""
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise fail("--jobs", "an integer >= 1", repr(jobs))
    if executor not in EXECUTORS:
        raise fail("--executor", f"one of {', '.join(EXECUTORS)}", repr(executor))


def execute(folder: RunFolder, data: Data, *, jobs: int = 1, executor: str = "local", ray_address=None,
            progress=None) -> int:
    """Run the trials the folder lacks; save each as it finishes. Returns how many ran.

    ``progress(record, done, total)`` is called after each save (and once
    before the first, with ``record=None``)."""
    check_execution(jobs, executor)
    config = folder.config
    everything = trials(config, data.y)
    todo = [t for t in everything if t.key not in folder.records]
    done = len(everything) - len(todo)
    stream = run_ray(todo, config, data, ray_address) if executor == "ray" else run_local(todo, config, data, jobs)
    ran = 0
    if progress is not None:
        progress(None, done, len(everything))
    for record in stream:
        folder.append(record)
        ran += 1
        if progress is not None:
            progress(record, done + ran, len(everything))
    return ran
