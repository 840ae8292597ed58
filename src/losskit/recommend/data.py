"""Data for the recommender: a data file, or a dataset that ships with a library.

``load_table(path, target, features)`` reads CSV (``pandas.read_csv``),
Parquet (``pandas.read_parquet``) or NumPy ``.npy`` files into the target
``y`` and the features ``X`` that :func:`losskit.recommend.recommend` takes.
``load_dataset(name)`` does the same for the datasets bundled with
scikit-learn and statsmodels (no network), and ``dataset_table()`` prints
every one's recommendation (the table in ``docs/recommend.md``).

Conventions (nothing is dropped or recoded silently: each change is a note):

- Features default to every other numeric column. Non-numeric columns and
  numeric columns holding NaN are left out of the default features, and a note
  names them. Asked for with ``features``, either is an error.
- A string (or categorical) target is encoded as class codes 0..C-1 in sorted
  order of its values (two values: 0/1), with a note giving the mapping; more
  than ``MAX_STRING_CLASSES`` distinct strings is an error (free text is not a
  target).
- NaN in the target is an error naming the column, the count and the first row.
- ``.npy``: a 2-D array's ``target`` is a column index (negative counts from
  the end) and ``features`` are column indices; a 1-D array is the target
  itself, with no features (``target`` must then be None).

pandas (and pyarrow for Parquet, statsmodels for its datasets) are imported
inside the functions, so ``import losskit`` does not import them.
"""

from __future__ import annotations

import difflib
import math
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .profile import fail

MAX_STRING_CLASSES = 50
SUFFIXES = (".csv", ".parquet", ".npy")


class Table(NamedTuple):
    """The target ``y``, features ``X`` (None without any), their names, and notes on what was done."""

    y: np.ndarray
    X: np.ndarray | None
    features: tuple
    notes: tuple


def _columns_hint(name, columns) -> str:
    columns = [str(c) for c in columns]
    shown = ", ".join(columns[:20]) + (f", ... ({len(columns)} in all)" if len(columns) > 20 else "")
    close = difflib.get_close_matches(str(name), columns, n=1)
    return f"(columns: {shown}" + (f"; did you mean {close[0]!r}?)" if close else ")")


def _encode_strings(values, column: str):
    """String target -> (codes 0..C-1 in sorted order, note)."""
    import pandas as pd

    labels = sorted(pd.unique(values).tolist(), key=str)
    if len(labels) > MAX_STRING_CLASSES:
        raise fail(f"target column {column!r}", f"numeric, or text with at most {MAX_STRING_CLASSES} distinct "
                    "values (class names)", f"{len(labels)} distinct text values such as {labels[:3]!r}", TypeError)
    codes = {label: i for i, label in enumerate(labels)}
    mapping = ", ".join(f"{label!r} -> {i}" for label, i in codes.items())
    note = f"target {column!r} is text: encoded as class codes in sorted order ({mapping})"
    return np.array([codes[v] for v in values], dtype=np.int64), note


def _is_numeric(series) -> bool:
    import pandas as pd

    return pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)


def frame_to_table(frame, target, features=None) -> Table:
    """A pandas DataFrame -> :class:`Table`, by column names (see the module's conventions).

    >>> import pandas as pd
    >>> t = frame_to_table(pd.DataFrame({"y": ["no", "yes", "no"], "a": [1.0, 2, 3], "c": list("xyz")}), "y")
    >>> t.y.tolist(), t.features
    ([0, 1, 0], ('a',))
    >>> for note in t.notes: print(note)
    target 'y' is text: encoded as class codes in sorted order ('no' -> 0, 'yes' -> 1)
    left out of the features (not numeric): 'c'
    """
    columns = list(frame.columns)
    if frame.shape[0] == 0:
        raise fail("DATA", "a table with at least one row", f"columns {[str(c) for c in columns]} and no rows")
    if target not in columns:
        raise fail("target", "a column of DATA", f"{target!r} {_columns_hint(target, columns)}")
    notes = []
    column = frame[target]
    missing = column.isna().to_numpy()
    if missing.any():
        first = frame.index[np.argmax(missing)]
        raise fail(f"target column {target!r}", "free of missing values (NaN)",
                    f"{int(missing.sum())} missing of {len(column)}, the first at row {first!r}")
    if _is_numeric(column):
        y = column.to_numpy()
        if y.dtype == bool:
            y = y.astype(np.int64)
    else:
        y, note = _encode_strings(column.to_numpy(), str(target))
        notes.append(note)

    if features is None:
        others = [c for c in columns if c != target]
        text = [c for c in others if not _is_numeric(frame[c])]
        with_nan = [c for c in others if c not in text and frame[c].isna().any()]
        chosen = [c for c in others if c not in text and c not in with_nan]
        if text:
            notes.append("left out of the features (not numeric): " + ", ".join(repr(str(c)) for c in text))
        if with_nan:
            notes.append("left out of the features (missing values): " + ", ".join(repr(str(c)) for c in with_nan))
    else:
        chosen = list(features)
        for c in chosen:
            if c not in columns:
                raise fail("features", "columns of DATA", f"{c!r} {_columns_hint(c, columns)}")
            if c == target:
                raise fail("features", "columns other than the target", f"{c!r}")
            if not _is_numeric(frame[c]):
                raise fail("features", "numeric columns", f"{c!r} of dtype {frame[c].dtype}", TypeError)
            if frame[c].isna().any():
                raise fail("features", "columns without missing values",
                            f"{c!r} with {int(frame[c].isna().sum())} missing")
    X = frame[chosen].to_numpy(dtype=np.float64) if chosen else None
    return Table(y, X, tuple(str(c) for c in chosen), tuple(notes))


def _npy_index(text, width: int, what: str) -> int:
    try:
        i = int(text)
    except (TypeError, ValueError):
        raise fail(what, f"a column index -{width}..{width - 1} for a .npy file", repr(text)) from None
    if not -width <= i < width:
        raise fail(what, f"a column index -{width}..{width - 1} for a .npy file", repr(text))
    return i % width


def _npy_sizes(path: Path):
    """(bytes the header claims, bytes the file holds after it, shape, dtype) of a .npy file,
    read without loading it (numpy's own checks apply to a version 3.0 header: claims 0)."""
    from numpy.lib import format as npy

    with open(path, "rb") as f:
        version = npy.read_magic(f)
        read = {(1, 0): npy.read_array_header_1_0, (2, 0): npy.read_array_header_2_0}.get(version)
        if read is None:
            return 0, 0, None, None
        shape, _, dtype = read(f)
        held = path.stat().st_size - f.tell()
    return math.prod(shape) * dtype.itemsize, held, shape, dtype


def _load_npy(path: Path, target, features) -> Table:
    # the header is checked before numpy allocates: a 1 kB file may claim 1e11 elements
    try:
        claimed, held, shape, dtype = _npy_sizes(path)
        arr = np.load(path, allow_pickle=False) if claimed <= held else None
    except (ValueError, OSError, EOFError) as error:
        raise fail("DATA", "a readable .npy file", f"{str(path)!r} ({error})") from None
    if arr is None:
        raise fail("DATA", "a complete .npy file", f"{str(path)!r}, whose header claims shape {shape} of "
                    f"{dtype} ({claimed:,} bytes) but which holds {held:,} bytes of data (a truncated or "
                    "forged file); write it again with numpy.save")
    if arr.size == 0:
        raise fail("DATA", "a non-empty array", f"shape {arr.shape} in {str(path)!r}")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise fail("DATA", "a numeric .npy array", f"dtype {arr.dtype}", TypeError)
    if arr.ndim == 1:
        if target is not None or features:
            raise fail("target", "left out for a 1-D .npy array (the array is the target)", repr(target))
        return Table(arr, None, (), ())
    if arr.ndim != 2:
        raise fail("DATA", "a 1-D or 2-D .npy array", f"shape {arr.shape}")
    if target is None:
        raise fail("target", "a column index for a 2-D .npy array", "none (give --target)")
    t = _npy_index(target, arr.shape[1], "target")
    cols = [i for i in range(arr.shape[1]) if i != t] if features is None else \
        [_npy_index(f, arr.shape[1], "features") for f in features]
    if t in cols:
        raise fail("features", "columns other than the target", repr(t))
    y = arr[:, t]
    missing = np.isnan(y) if np.issubdtype(y.dtype, np.floating) else np.zeros(len(y), bool)
    if missing.any():
        raise fail(f"target column {t}", "free of missing values (NaN)",
                    f"{int(missing.sum())} missing of {len(y)}, the first at row {int(np.argmax(missing))}")
    X = arr[:, cols].astype(np.float64) if cols else None
    return Table(y, X, tuple(str(c) for c in cols), ())


def load_table(path, target=None, features=None) -> Table:
    """Read a data file into a :class:`Table` (``y``, ``X``, feature names, notes).

    Args:
        path: a ``.csv``, ``.parquet`` or ``.npy`` file.
        target: the target's column name (CSV, Parquet) or index (2-D ``.npy``;
            None for a 1-D ``.npy``, which is the target itself).
        features: the feature columns (names, or indices for ``.npy``); default
            every other numeric column (see the module's conventions).

    Errors are ``ValueError`` / ``TypeError`` saying what was expected and what
    was received, naming the column and suggesting a close column name.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise fail("DATA", "a .csv, .parquet or .npy file", f"{str(path)!r}")
    if not path.is_file():
        raise fail("DATA", "an existing file", f"{str(path)!r} (no such file)", FileNotFoundError)
    if suffix == ".npy":
        return _load_npy(path, target, features)
    import pandas as pd

    if target is None:
        raise fail("target", f"a column of DATA for a {suffix} file", "none (give --target)")
    try:
        frame = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
    except pd.errors.EmptyDataError:
        raise fail("DATA", "a CSV file with a header row and data", f"an empty file {str(path)!r}") from None
    except (ValueError, OSError, pd.errors.ParserError) as error:
        raise fail("DATA", f"a readable {suffix} file", f"{str(path)!r} ({type(error).__name__}: {error})") from None
    return frame_to_table(frame, target, features)


# -- the datasets shipped with scikit-learn and statsmodels --------------------------


def _sklearn(name):
    def load():
        from sklearn import datasets

        bunch = getattr(datasets, f"load_{name}")()
        return Table(bunch.target, bunch.data, tuple(bunch.feature_names), ())
    return load


def _linnerud():
    from sklearn.datasets import load_linnerud

    b = load_linnerud()  # three physiological targets: a multi-output regression
    return Table(b.target, b.data, tuple(b.feature_names), (f"targets {', '.join(b.target_names)} (multi-output)",))


def _statsmodels(name, target, derive=None):
    def load():
        from statsmodels import api as sm

        frame = getattr(sm.datasets, name).load_pandas().data
        notes = ()
        if derive is not None:
            frame, note = derive(frame)
            notes = (note,)
        table = frame_to_table(frame, target, None)
        return table._replace(notes=notes + table.notes)
    return load


def _star98_share(frame):
    frame = frame.copy()
    frame["share_above"] = frame["NABOVE"] / (frame["NABOVE"] + frame["NBELOW"])
    return frame.drop(columns=["NABOVE", "NBELOW"]), \
        "binomial endog (NABOVE, NBELOW) read as the share NABOVE / (NABOVE + NBELOW)"


def _losskit(name, target, features, note):
    def load():
        from losskit import datasets

        table = frame_to_table(datasets.load(name), target, features)
        return table._replace(notes=(note,) + table.notes)
    return load


# name -> (library, target, loader)
DATASETS = {
    "diabetes": ("scikit-learn", "disease progression", _sklearn("diabetes")),
    "breast_cancer": ("scikit-learn", "malignant / benign", _sklearn("breast_cancer")),
    "digits": ("scikit-learn", "digit 0-9", _sklearn("digits")),
    "wine": ("scikit-learn", "cultivar", _sklearn("wine")),
    "iris": ("scikit-learn", "species", _sklearn("iris")),
    "linnerud": ("scikit-learn", "weight, waist, pulse", _linnerud),
    "stackloss": ("statsmodels", "STACKLOSS", _statsmodels("stackloss", "STACKLOSS")),
    "fair": ("statsmodels", "affairs", _statsmodels("fair", "affairs")),
    "randhie": ("statsmodels", "mdvis", _statsmodels("randhie", "mdvis")),
    "star98": ("statsmodels", "NABOVE / (NABOVE + NBELOW)", _statsmodels("star98", "share_above", _star98_share)),
    "engel": ("statsmodels", "foodexp", _statsmodels("engel", "foodexp")),
    "scotland": ("statsmodels", "YES", _statsmodels("scotland", "YES")),
    "spector": ("statsmodels", "GRADE", _statsmodels("spector", "GRADE")),
    "longley": ("statsmodels", "TOTEMP", _statsmodels("longley", "TOTEMP")),
    "grunfeld": ("statsmodels", "invest", _statsmodels("grunfeld", "invest")),
    "committee": ("statsmodels", "BILLS104", _statsmodels("committee", "BILLS104")),
    "cpunish": ("statsmodels", "EXECUTIONS", _statsmodels("cpunish", "EXECUTIONS")),
    "outlier_regression": ("losskit", "y", _losskit(
        "outlier_regression", "y", ("x1", "x2", "x3", "x4"),
        "features x1..x4 only: y_line (the true line) and is_outlier (the outlier flag) document the data")),
    "imbalanced_classification": ("losskit", "label", _losskit(
        "imbalanced_classification", "label", None, "about 4 % positives (see losskit.datasets.card)")),
}


def load_dataset(name: str) -> Table:
    """One of ``DATASETS`` (bundled with scikit-learn or statsmodels; no network) as a :class:`Table`."""
    if name not in DATASETS:
        raise fail("dataset", f"one of {', '.join(DATASETS)}", repr(name))
    return DATASETS[name][2]()


def _evidence(p) -> str:
    if p.task in ("binary", "multiclass"):
        return f"{p.n_classes} classes, ratio {p.imbalance_ratio:.3g}:1"
    parts = [f"outliers {p.outlier_fraction:.1%}"]
    if p.log_outlier_fraction is not None:
        parts.append(f"log-scale outliers {p.log_outlier_fraction:.1%}")
    if p.zero_fraction:
        parts.append(f"zeros {p.zero_fraction:.0%}")
    parts.append(f"skew {p.skewness:.2f}")
    if p.dispersion_index is not None:
        parts.append(f"var/mean {p.dispersion_index:.3g}")
    if p.tail_index is not None:
        parts.append(f"tail index {p.tail_index:.3g}")
    return ", ".join(parts)


def _loss_text(e) -> str:
    def value(v):
        if isinstance(v, list):
            return "[" + ", ".join(f"{x:.3g}" for x in v) + "]"
        return f"{v:.4g}" if isinstance(v, float) else repr(v)

    args = ", ".join(f"{k}={value(v)}" for k, v in e.params.items())
    return f"`{e.loss}({args})`"


def dataset_table(names=None) -> str:
    """Markdown: every dataset's recommendation (task, top 3, avoided, evidence).

    Runs :func:`losskit.recommend.recommend` on ``load_dataset(name)`` for each
    name (default: all of ``DATASETS``)."""
    from . import recommend

    lines = ["| dataset | target | n | task | top 3 (score) | avoid | evidence |", "|---|---|---|---|---|---|---|"]
    for name in names or DATASETS:
        library, what, _ = DATASETS[name]
        table = load_dataset(name)
        rec = recommend(table.y, table.X, top=3)
        p = rec.profile
        top = "<br>".join(f"{_loss_text(e)} ({e.score:g})" for e in rec.ranked)
        avoid = ", ".join(f"`{a.loss}`" for a in rec.avoid) or "-"
        lines.append(f"| {name} ({library}) | {what} | {p.n} | {p.task} | {top} | {avoid} | {_evidence(p)} |")
    return "\n".join(lines)


def _params_text(rule) -> str:
    if rule.avoid:
        return "-"
    if rule.params is None:
        return "defaults"
    if rule.params.__name__ != "<lambda>":
        return (rule.params.__doc__ or rule.params.__name__).strip().splitlines()[0].replace("``", "`")
    try:  # a fixed setting such as {"log_input": True}
        return ", ".join(f"{k}={v!r}" for k, v in rule.params(None, None).items())
    except AttributeError:  # it reads the metric, e.g. the pinball quantile
        return "from the metric (pinball@q: quantile=q)"


def rules_table() -> str:
    """Markdown: the rows of :data:`losskit.recommend.RULES`, in order
    (condition, loss, score or avoid, parameters).

    >>> rules_table().splitlines()[2].startswith("| 1 | continuous target | `mse` | 3")
    True
    """
    from .rules import RULES

    lines = ["| # | condition (row) | loss | score | parameters |", "|---|---|---|---|---|"]
    for i, rule in enumerate(RULES, 1):
        score = "avoid" if rule.avoid else f"{rule.score:g}"
        lines.append(f"| {i} | {rule.name} | `{rule.loss}` | {score} | {_params_text(rule)} |")
    return "\n".join(lines)
