"""Regenerate the datasets that ship in ``losskit.datasets`` (no network needed).

Run from the repository root::

    python scripts/make_datasets.py              # writes src/losskit/datasets/*.csv
    python scripts/make_datasets.py --out DIR    # writes them elsewhere (the tests compare)

Both files are deterministic: NumPy's ``default_rng`` and scikit-learn's
``make_classification`` with fixed seeds; numbers are written with 5
significant digits, so the committed CSV is byte-for-byte what this prints.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

OUTLIER_SEED = 20240607
CLASSIFICATION_SEED = 6
TRUE_LINE = {"intercept": 3.0, "x1": 2.0, "x2": -1.0, "x3": 0.5, "x4": 0.0}
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src" / "losskit" / "datasets"


def outlier_regression(seed: int = OUTLIER_SEED, n: int = 600, outlier_share: float = 0.10) -> pd.DataFrame:
    """A linear regression whose gross errors sit on one side at high x1, so least squares tilts.

    Outliers are drawn among rows with x1 > 0.5 and get y = y_line - 12 - 10 * U(0, 1): one-sided and
    at high leverage, they pull the OLS slope of x1 (and the intercept) down, not only shift the line.
    """
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4))
    y_line = TRUE_LINE["intercept"] + x @ np.array([TRUE_LINE[f"x{j}"] for j in range(1, 5)])
    y = y_line + rng.standard_normal(n)
    n_out = round(outlier_share * n)
    candidates = np.flatnonzero(x[:, 0] > 0.5)
    rows = np.sort(rng.choice(candidates, size=n_out, replace=False))
    y[rows] = y_line[rows] - 12.0 - 10.0 * rng.uniform(size=n_out)
    is_outlier = np.zeros(n, dtype=int)
    is_outlier[rows] = 1
    frame = pd.DataFrame(x, columns=["x1", "x2", "x3", "x4"])
    frame["y"] = y
    frame["y_line"] = y_line
    frame["is_outlier"] = is_outlier
    return frame


def imbalanced_classification(seed: int = CLASSIFICATION_SEED, n: int = 3000) -> pd.DataFrame:
    """A binary task with about 4 % positives that a linear model ranks well but not easily."""
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=n, n_features=8, n_informative=5, n_redundant=1, weights=[0.96],
                               flip_y=0.01, class_sep=0.8, random_state=seed)
    frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(1, 9)])
    frame["label"] = y.astype(int)
    return frame


def write(frame: pd.DataFrame, path: Path) -> Path:
    """CSV with 5 significant digits and Unix line ends, so regeneration is byte-identical."""
    frame.to_csv(path, index=False, float_format="%.5g", lineterminator="\n")
    return path


def main(out=DEFAULT_OUT) -> list[Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    return [write(outlier_regression(), out / "outlier_regression.csv"),
            write(imbalanced_classification(), out / "imbalanced_classification.csv")]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=DEFAULT_OUT, type=Path, help="folder to write the CSV files into")
    for written in main(parser.parse_args().out):
        print(f"{written} ({written.stat().st_size} bytes)")
