"""What a comparison is: the data, the candidate losses, the model and the protocol.

``CompareConfig`` holds every setting that changes a trial's result; its
``fingerprint`` (SHA-256 of those settings and of the data's bytes) is what a
run folder is keyed by, so a rerun with the same settings resumes and a rerun
with other settings is refused (see :mod:`losskit.compare.store`).

Losses are written ``name`` or ``name(k=v, ...)``, e.g.
``huber(delta=1.5),mae,cross_entropy(class_weight=[1,4])``; values are read
as Python literals.
"""

from __future__ import annotations

import ast
import hashlib
import json
from dataclasses import dataclass, field, fields
from functools import partial
from pathlib import Path

import numpy as np

from .._validate import refusal

# every default of compare, tune and demo, written once: the library, the command line and the demo
# read them from here
MODELS = ("linear", "mlp", "gbdt")
MODEL = MODELS[0]  # the default --model
TASKS = ("regression", "quantile", "binary", "multiclass")  # see losskit.compare.tasks
FOLDS = 5  # compare's k of k-fold
SEEDS = 3  # compare's repeats with other shuffles and inits
AUTO_TOP = 3  # how many of the recommender's candidates `--losses auto` takes (and the demo shows)
MAX_EPOCHS = 200
PATIENCE = 15  # epochs without improvement on the inner validation split before stopping
TUNE_FOLDS = 3  # tune's k of k-fold
GRID = 7  # tune's points per validation curve
TRIALS = 30  # tune's optuna trials
CONFIRM_SEEDS = 3  # seeds of tune's closing compare
# the settings that make two trials with the same (loss, fold, seed) the same trial
TRIAL_SETTINGS = ("data_sha256", "target", "eval_target", "features", "task", "model", "folds", "l2",
                  "max_epochs", "patience", "n_rows", "n_classes")


# fail(arg, expectation, received, kind=ValueError) -> "compare: <arg> must be <expectation>; received <received>"
fail = partial(refusal, "compare")


def check_model(model) -> str:
    if model not in MODELS:
        raise fail("--model", f"one of {', '.join(MODELS)}", repr(model))
    return model


@dataclass(frozen=True)
class LossChoice:
    """One candidate: a registered loss, its parameters, and the label it is reported under."""

    loss: str
    params: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        if not self.params:
            return self.loss
        return f"{self.loss}({', '.join(f'{k}={_short(v)}' for k, v in self.params.items())})"

    def as_dict(self) -> dict:
        return {"loss": self.loss, "params": self.params, "label": self.label}


def _short(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_short(x) for x in v) + "]"
    return repr(v)


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside brackets: 'a(x=1,y=2),b' -> ['a(x=1,y=2)', 'b']."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch in "(["
        depth -= ch in ")]"
        if ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def parse_losses(text) -> list[LossChoice]:
    """``"huber(delta=2),mae"`` (or a list of such strings / dicts) -> LossChoice list.

    >>> [c.label for c in parse_losses("huber(delta=2.0), mae")]
    ['huber(delta=2)', 'mae']
    """
    import losskit

    items = text if isinstance(text, (list, tuple)) else _split_top_level(str(text))
    choices = []
    for item in items:
        if isinstance(item, dict):
            name, params = item.get("loss"), dict(item.get("params", {}))
        else:
            name, params = _parse_one(str(item))
        try:
            canonical = losskit.spec(name).name
        except (KeyError, ValueError) as error:
            raise fail("--losses", "registered loss names (see `losskit list`)", f"{name!r}: {error}") from None
        choices.append(LossChoice(canonical, params))
    labels = [c.label for c in choices]
    repeated = sorted({x for x in labels if labels.count(x) > 1})
    if repeated:
        raise fail("--losses", "distinct candidates", f"{', '.join(repeated)} more than once")
    if not choices:
        raise fail("--losses", "'auto' or at least one loss name", repr(text))
    return choices


def _parse_one(item: str) -> tuple[str, dict]:
    if "(" not in item:
        return item, {}
    if not item.endswith(")"):
        raise fail("--losses", "name or name(k=v, ...)", repr(item))
    name, inner = item[: item.index("(")].strip(), item[item.index("(") + 1: -1]

    def refuse(expectation, received):
        return fail("--losses", expectation, received)

    form = f"parameters written k=v in {name}(...)"
    return name, dict(parse_assignment(part, form, refuse) for part in _split_top_level(inner))


_WORDS = {"true": True, "false": False, "none": None, "null": None}


def parse_assignment(text: str, form: str, refuse) -> tuple[str, object]:
    """``NAME=VALUE`` -> (name, value): the one reader of a loss parameter written as text
    (``losskit check --param``, ``losskit plot --param``, ``--losses`` and the config file's losses).

    NAME is a Python identifier; VALUE is true/false/none/null, a Python literal
    (``2``, ``[1, 4]``, ``0.5,1`` a tuple), or a bare word read as a string (a choice
    such as ``mode=binary``). ``refuse(expectation, received)`` makes the caller's error;
    ``form`` is the expectation when the text is not NAME=VALUE at all.

    >>> parse_assignment("class_weight=[1, 4]", "NAME=VALUE", ValueError)
    ('class_weight', [1, 4])
    """
    key, sep, value = text.partition("=")
    key, value = key.strip(), value.strip()
    if not sep or not key.isidentifier():
        raise refuse(form, repr(text))
    if value.lower() in _WORDS:
        return key, _WORDS[value.lower()]
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        if value.isidentifier():
            return key, value
        raise refuse(f"a Python literal for {key!r}", repr(value)) from None


@dataclass(frozen=True)
class CompareConfig:
    """Every setting that changes a result (``jobs``, executor and output folder do not)."""

    data: str
    target: str | None
    task: str
    losses: tuple  # of LossChoice
    baseline: str  # a label in ``losses``
    model: str
    folds: int
    seeds: int
    metrics: tuple  # names; the first is the primary metric
    features: tuple | None = None
    eval_target: str | None = None
    l2: float = 0.0
    max_epochs: int = MAX_EPOCHS
    patience: int = PATIENCE
    n_rows: int = 0
    n_classes: int | None = None
    data_sha256: str = ""

    def as_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["losses"] = [c.as_dict() for c in self.losses]
        d["metrics"] = list(self.metrics)
        d["features"] = None if self.features is None else list(self.features)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> CompareConfig:
        d = dict(d)
        d["losses"] = tuple(LossChoice(c["loss"], dict(c.get("params", {}))) for c in d["losses"])
        d["metrics"] = tuple(d["metrics"])
        d["features"] = None if d.get("features") is None else tuple(d["features"])
        return cls(**d)

    def _keyed(self) -> dict:
        d = self.as_dict()
        del d["data"]  # the data are keyed by their bytes (data_sha256), not by where they lie
        return d

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self._keyed(), sort_keys=True).encode()).hexdigest()

    def differences(self, other: CompareConfig) -> list[str]:
        """Names of the settings that differ, e.g. ['folds', 'losses']."""
        mine, theirs = self._keyed(), other._keyed()
        return [k for k in mine if mine[k] != theirs[k]]


@dataclass
class Data:
    """The arrays a trial reads: features, training target, the target metrics are judged on."""

    X: np.ndarray
    y: np.ndarray
    y_eval: np.ndarray
    features: tuple
    notes: tuple
    sha256: str


def resolve_path(data: str) -> Path:
    """A file path, or the name of a dataset bundled with losskit (``losskit.datasets``)."""
    path = Path(data)
    if path.is_file():
        return path
    if path.exists():
        raise fail("DATA", "a CSV, Parquet or .npy file", f"{data!r}, which is a folder, not a file"
                   if path.is_dir() else f"{data!r}, which is not a regular file")
    try:
        from .. import datasets

        if data in datasets.NAMES:
            return datasets.path(data)
        bundled = ", ".join(datasets.NAMES)
    except ImportError:
        bundled = "none"
    raise fail("DATA", f"an existing CSV, Parquet or .npy file, or a bundled dataset ({bundled})",
               f"{data!r}, which does not exist", FileNotFoundError)


def load_data(data: str, target: str | None, features=None, eval_target: str | None = None) -> Data:
    """Read DATA into arrays, with the recommender's conventions (``recommend.data.load_table``).

    ``eval_target`` names a column that metrics are computed on instead of the
    training target (e.g. the noise-free value of a simulated target); it is
    never a feature."""
    from ..recommend.data import frame_to_table, load_table

    path = resolve_path(data)
    if eval_target is None:
        table = load_table(path, target, features)
        y_eval = table.y
    else:
        if path.suffix.lower() not in (".csv", ".parquet"):
            raise fail("--eval-target", "used with a CSV or Parquet file", f"a {path.suffix} file")
        import pandas as pd

        frame = pd.read_csv(path) if path.suffix.lower() == ".csv" else pd.read_parquet(path)
        if eval_target not in frame.columns:
            raise fail("--eval-target", "a column of DATA", repr(eval_target))
        if eval_target == target:
            raise fail("--eval-target", "a column other than --target", repr(eval_target))
        if features is not None and eval_target in features:
            raise fail("--features", "columns other than --eval-target", repr(eval_target))
        table = frame_to_table(frame.drop(columns=[eval_target]), target, features)
        y_eval = frame[eval_target].to_numpy(dtype=np.float64)
    if table.X is None:
        raise fail("DATA", "a table with at least one feature column", f"only the target {target!r}")
    X = np.asarray(table.X, dtype=np.float64)
    _check_finite(np.asarray(table.y), f"the target column {target!r}", "rescale or clean it")
    _check_finite(y_eval, f"the --eval-target column {eval_target!r}", "rescale or clean it")
    for j, name in enumerate(table.features):
        _check_finite(X[:, j], f"the feature column {name!r}", "rescale or clean it, or leave it out of --features")
    with open(path, "rb") as f:  # hashed only once read and checked (a folder or a bad file fails above)
        sha = hashlib.file_digest(f, "sha256").hexdigest()
    return Data(X, np.asarray(table.y), y_eval, table.features, table.notes, sha)


# Larger magnitudes overflow float64 in the squares and sums that training and metrics take
# (MSE, standardisation, plots): refuse them up front rather than fail after every trial.
MAX_MAGNITUDE = 1e150


def _check_finite(values: np.ndarray, what: str, todo: str) -> None:
    if not (np.issubdtype(values.dtype, np.number) or values.dtype == bool):
        return  # class labels (text) are coded later
    values = values.astype(np.float64, copy=False)
    bad = ~(np.abs(values) <= MAX_MAGNITUDE)  # NaN and inf fail the comparison too
    if bad.any():
        row = int(np.argmax(bad))
        raise fail(what, f"finite numbers of magnitude at most {MAX_MAGNITUDE:g}",
                   f"{int(bad.sum())} value(s) outside, the first {values[row]:g} at row {row}; {todo}")


def check_protocol(task: str, y: np.ndarray, folds: int, seeds: int) -> None:
    """Refuse folds the data cannot fill (stratified folds need every class in every fold)."""
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise fail("--folds", "an integer >= 2", repr(folds))
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise fail("--seeds", "an integer >= 1", repr(seeds))
    n = len(y)
    if n < 2 * folds:
        raise fail("DATA", f"at least {2 * folds} rows for --folds {folds} (two per test fold)", f"{n} rows")
    if task in ("binary", "multiclass"):
        classes, counts = np.unique(y, return_counts=True)
        small = [(c, k) for c, k in zip(classes, counts) if k < folds]
        if small:
            shown = ", ".join(f"class {c!r} has {k}" for c, k in small)
            raise fail("DATA", f"at least {folds} rows of every class for stratified --folds {folds}", shown)
