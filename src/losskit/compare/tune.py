"""``losskit tune``: validation curves and Bayesian search over a loss's parameters and the L2 strength.

1. **Validation curves.** Each tuned parameter (and the L2 strength with
   ``l2=True``) is swept over a grid with the others held at their centre
   (the recommender's suggestion for this data when it names the loss, else
   the default); each point is a k-fold cross-validated mean with a corrected
   t interval (:func:`losskit.compare.stats.corrected_t`).
2. **Bayesian search.** Optuna's TPE sampler searches the parameters jointly
   (log scale for scale parameters), each trial the k-fold mean of the
   primary metric; a trial whose running mean after a fold is worse than the
   median of earlier trials at that fold is pruned (``MedianPruner``). Every
   model is trained with early stopping on its inner validation split.
3. **Confirmation.** ``compare`` runs the loss at its centre against the loss
   at the best parameters on *other* shuffles of the rows than the search's, so the report shows
   whether the tuned setting holds up; the same rows were seen while tuning,
   so the gain is still optimistic (the report says so).

Everything lands in OUT: ``tune/`` (settings, ``curves.jsonl``, optuna's
``study.db``: an interrupted search resumes), ``tune.json`` (what the report
reads), and the compare run (``config.json``, ``trials.jsonl``, ``report.html``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .. import domains as D
from .config import CONFIRM_SEEDS, GRID, MAX_EPOCHS, MODEL, PATIENCE, TRIALS, TUNE_FOLDS, LossChoice, fail
from .store import atomic_write, folder_errors, run_lock

L2_RANGE = (1e-6, 1.0)
# a domain end this far out is a guard against overflow (e.g. focal's gamma <= 1e6), not a range to search
UNBOUNDED = 1e6
# the search's folds come from a shuffle the closing compare (seeds 0, 1, ...) never uses
SEARCH_SEED = 10_000


@dataclass(frozen=True)
class Space:
    """Where one parameter is searched: [low, high], on a log or linear scale."""

    name: str
    low: float
    high: float
    log: bool

    def grid(self, n: int) -> list[float]:
        values = np.geomspace(self.low, self.high, n) if self.log else np.linspace(self.low, self.high, n)
        return [float(f"{v:.6g}") for v in values]


def default_space(param, center: float) -> Space:
    """A search range from the parameter's domain and its centre value.

    (0, inf): log, centre/10 .. centre*10; [0, inf): linear 0 .. 2*centre+1;
    a bounded interval: the interval (open ends moved in by 1e-3);
    (-inf, inf): linear centre-3 .. centre+3. An end at or beyond ``UNBOUNDED`` counts as infinite."""
    dom = param.domain
    if not isinstance(dom, D.Interval):
        raise fail("--param", "a real parameter with an interval domain", f"{param.name} (kind {param.kind})")
    lo = dom.low + (1e-3 if not dom.low_closed else 0.0)
    hi = dom.high - (1e-3 if not dom.high_closed else 0.0)
    if abs(dom.low) < UNBOUNDED and abs(dom.high) < UNBOUNDED:
        return Space(param.name, lo, hi, False)
    if dom.low == 0 and not dom.low_closed:
        c = center if center and center > 0 else 1.0
        return Space(param.name, c / 10, c * 10, True)
    if dom.low == 0:
        return Space(param.name, 0.0, 2 * max(center, 0.0) + 1.0, False)
    return Space(param.name, center - 3, center + 3, False)


def parse_space(text: str, params: dict, centers: dict) -> Space:
    """``delta`` or ``delta=0.1:10`` or ``delta=0.1:10:log``."""
    name, _, rng = text.partition("=")
    name = name.strip()
    if name not in params:
        raise fail("--param", f"a parameter of the loss ({', '.join(params) or 'it has none'})", repr(name))
    p = params[name]
    if p.kind not in ("real", "real_or_array"):
        raise fail("--param", "a real-valued parameter", f"{name} of kind {p.kind}")
    if not rng:
        return default_space(p, centers[name])
    parts = rng.split(":")
    try:
        low, high = float(parts[0]), float(parts[1])
    except (IndexError, ValueError):
        raise fail("--param", "NAME or NAME=LOW:HIGH[:log]", repr(text)) from None
    log = len(parts) > 2 and parts[2] == "log"
    if not low < high or (log and low <= 0):
        raise fail("--param", "LOW < HIGH (and LOW > 0 on a log scale)", repr(text))
    for v in (low, high):
        if not p.domain.contains_scalar(v):
            raise fail("--param", f"a range inside {name}'s domain {p.domain}", repr(text))
    return Space(name, low, high, log)


def _centers(spec, config, data) -> dict:
    """The recommender's suggestion for this loss on these data, else the defaults."""
    from ..recommend import recommend

    centers = {p.name: p.default for p in spec.params}
    rec = recommend(data.y, data.X, top=20)
    for entry in rec.ranked:
        if entry.loss == spec.name:
            centers.update({k: v for k, v in entry.params.items() if not isinstance(v, list)})
    return {k: (float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v) for k, v in centers.items()}


class Evaluator:
    """k-fold cross-validated primary metric of one setting (the folds of ``SEARCH_SEED``)."""

    def __init__(self, config, data):
        from .runner import splits

        self.config, self.data = config, data
        self.split = splits(config, data.y, seeds=[SEARCH_SEED])
        self.metric = config.metrics[0]

    def folds(self, params: dict, l2: float):
        """Yield the metric of each fold in turn (so a search can prune after any of them)."""
        from .runner import Trial, run_trial

        choice = LossChoice(self.config.losses[0].loss, params)
        config = replace(self.config, losses=(choice,), l2=float(l2))
        for fold in range(self.config.folds):
            train, test = self.split[fold, SEARCH_SEED]
            yield run_trial(Trial(choice, fold, SEARCH_SEED, train, test), config, self.data)["metrics"][self.metric]


def tune(data, target=None, *, loss: str, params=None, l2: bool = False, model: str = MODEL, folds: int = TUNE_FOLDS,
         metric=None, grid: int = GRID, trials: int = TRIALS, confirm_seeds: int = CONFIRM_SEEDS, features=None,
         eval_target=None, max_epochs: int = MAX_EPOCHS, patience: int = PATIENCE, out="losskit-tune",
         overwrite: bool = False, progress=None):
    """Tune ``loss`` on ``data``: validation curves, optuna search, confirmation compare. Returns the Comparison.

    ``params``: names or ``NAME=LOW:HIGH[:log]`` specs (default: every real
    parameter with an interval domain). ``progress(text, done, total)`` is
    called after each fitted setting."""
    import optuna

    from ..registry import spec as registered
    from . import compare
    from . import metrics as M
    from .runner import build
    from .stats import corrected_t

    for name, value, low in (("--grid", grid, 2), ("--trials", trials, 1), ("--confirm-seeds", confirm_seeds, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise fail(name, f"an integer >= {low}", repr(value))
    spec = registered(loss)
    config, data_arrays, notes = build(data, target, losses=spec.name, baseline=spec.name, model=model, folds=folds, seeds=1,
                                       metric=metric, features=features, eval_target=eval_target,
                                       max_epochs=max_epochs, patience=patience)
    centers = _centers(spec, config, data_arrays)
    by_name = {p.name: p for p in spec.params}
    wanted = params or [p.name for p in spec.params if p.kind in ("real", "real_or_array")
                        and isinstance(p.domain, D.Interval) and isinstance(centers.get(p.name), (float, type(None)))]
    spaces = [parse_space(t, by_name, {k: (v if isinstance(v, float) else 1.0) for k, v in centers.items()})
              for t in wanted]
    if not spaces and not l2:
        raise fail("--param", f"at least one real parameter of {spec.name} to tune, or --l2",
                   f"{spec.name}, which has none")
    center = {s.name: (centers[s.name] if isinstance(centers[s.name], float) else
                       (math.sqrt(s.low * s.high) if s.log else (s.low + s.high) / 2)) for s in spaces}
    fixed = {k: v for k, v in centers.items() if k not in center and v is not None and k in by_name
             and by_name[k].default != v}
    higher = M.higher_is_better(config.metrics[0])
    n_train, n_test = len(data_arrays.y) - len(data_arrays.y) // folds, len(data_arrays.y) // folds
    evaluator = Evaluator(config, data_arrays)

    # every input is checked; from here the folder is this run's (the closing compare re-enters the lock)
    with run_lock(out), folder_errors(out):
        state = Path(out) / "tune"
        _claim(state, {"config": config.as_dict(), "params": [s.__dict__ for s in spaces], "l2": l2, "grid": grid,
                       "trials": trials, "confirm_seeds": confirm_seeds}, overwrite)
        total = (len(spaces) + bool(l2)) * grid + trials
        done = [0]

        def tick(text):
            done[0] += 1
            if progress is not None:
                progress(text, done[0], total)

        # 1. validation curves, each point kept in curves.jsonl as it finishes
        kept = _read_jsonl(state / "curves.jsonl")
        curves = []
        axes = [(s.name, s.grid(grid)) for s in spaces] + ([("l2", list(np.geomspace(*L2_RANGE, grid)))] if l2 else [])
        for name, values in axes:
            means, lows, highs = [], [], []
            for value in values:
                key = f"{name}={value!r}"
                if key not in kept:
                    setting = {**fixed, **center, **({name: value} if name != "l2" else {})}
                    scores = list(evaluator.folds(setting, value if name == "l2" else 0.0))
                    kept[key] = {"key": key, "scores": scores}
                    _append_jsonl(state / "curves.jsonl", kept[key])
                tick(f"curve {key}")
                mean, low, high, _ = corrected_t(np.asarray(kept[key]["scores"]), n_train=n_train, n_test=n_test)
                means.append(mean), lows.append(low), highs.append(high)
            curves.append({"param": name, "values": [float(v) for v in values], "mean": means, "ci_low": lows,
                           "ci_high": highs, "metric": config.metrics[0], "log": name == "l2" or
                           next(s.log for s in spaces if s.name == name)})

        # 2. Bayesian search, resumable through optuna's SQLite storage
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(study_name="tune", storage=f"sqlite:///{(state / 'study.db').resolve()}",
                                    load_if_exists=True, direction="maximize" if higher else "minimize",
                                    sampler=optuna.samplers.TPESampler(seed=0),
                                    pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1))

        def objective(trial):
            setting = {**fixed}
            for s in spaces:
                setting[s.name] = trial.suggest_float(s.name, s.low, s.high, log=s.log)
            strength = trial.suggest_float("l2", *L2_RANGE, log=True) if l2 else 0.0
            scores = []
            for i, score in enumerate(evaluator.folds(setting, strength)):
                scores.append(score)
                trial.report(float(np.mean(scores)), i)
                if trial.should_prune():
                    raise optuna.TrialPruned()
            return float(np.mean(scores))

        finished = len([t for t in study.trials if t.state.is_finished()])
        for _ in range(finished):
            tick("search (resumed)")
        for _ in range(max(0, trials - finished)):
            study.optimize(objective, n_trials=1, catch=(ValueError, FloatingPointError))
            tick(f"search trial {len(study.trials)}")
        best = study.best_trial
        best_params = {k: float(f"{v:.4g}") for k, v in best.params.items()}

        # 3. confirmation: centre vs best, on other shuffles
        tuned = {**fixed, **{k: v for k, v in best_params.items() if k != "l2"}}
        base = {**fixed, **{k: float(f"{v:.4g}") for k, v in center.items()}}
        labels = [LossChoice(spec.name, base), LossChoice(spec.name, tuned)]
        if labels[0].label == labels[1].label:
            labels = labels[:1]
        summary = {
            "loss": spec.name, "metric": config.metrics[0], "direction": "maximize" if higher else "minimize",
            "param_curves": curves, "centre": base, "fixed": fixed,
            "trials": [{"number": t.number, "params": t.params, "value": t.value, "state": t.state.name}
                       for t in study.trials],
            "best": {"params": best_params, "value": best.value},
            "note": "the confirmation runs on other shuffles of the same rows the search saw: its gain is optimistic",
        }
        atomic_write(Path(out) / "tune.json", json.dumps(summary, indent=2))
        comparison = compare(data, target, losses=[c.as_dict() for c in labels], model=model, folds=folds,
                             seeds=confirm_seeds, metric=",".join(config.metrics), baseline=labels[0].label,
                             features=features, eval_target=eval_target, l2=best_params.get("l2", 0.0) if l2 else 0.0,
                             max_epochs=max_epochs, patience=patience, out=out, overwrite=overwrite)
        comparison.notes[:0] = notes
        comparison.tuning = summary  # tune.json is written first, so the report already has its section
        return comparison


def _claim(state: Path, settings: dict, overwrite: bool) -> None:
    """Own ``state`` for these settings: resume when they match, refuse when they differ."""
    file = state / "settings.json"
    if file.exists():
        old = json.loads(file.read_text())
        if old != json.loads(json.dumps(settings)):
            if not overwrite:
                changed = sorted(k for k in settings if old.get(k) != json.loads(json.dumps(settings[k])))
                raise fail("--out", "a new folder or one holding a tuning run with the same settings",
                           f"{str(state.parent)!r}, holding one whose {', '.join(changed)} differ "
                           "(use another --out, or --overwrite to move it aside)")
            from .store import _move_aside

            _move_aside(state.parent)
    state.mkdir(parents=True, exist_ok=True)
    atomic_write(file, json.dumps(settings, indent=2))


def _read_jsonl(file: Path) -> dict:
    """Finished curve points by key; a last line cut short by a kill is ignored (it is rerun)."""
    kept = {}
    lines = file.read_text().splitlines() if file.exists() else []
    for i, line in enumerate(lines):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if i == len(lines) - 1:
                continue
            record = None
        if not (isinstance(record, dict) and isinstance(record.get("key"), str)
                and isinstance(record.get("scores"), list)):
            raise fail("--out", "a folder whose tune/curves.jsonl holds one curve point per line",
                       f"line {i + 1} of {str(file)!r}, which is not one; remove that line (or the file, to "
                       "refit every point), or use another --out")
        kept[record["key"]] = record
    return kept


def _append_jsonl(file: Path, record: dict) -> None:
    import os

    with open(file, "a") as f:
        end = f.tell()
        try:
            f.write(json.dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())
        except OSError:  # a full disk: leave whole lines only
            f.truncate(end)
            raise
