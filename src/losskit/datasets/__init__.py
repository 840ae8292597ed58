"""Small datasets that ship with losskit (no network), for the lessons and the compare harness.

- ``outlier_regression``: a known line plus 10 % one-sided, high-leverage gross errors;
  least squares tilts, a robust loss recovers the line.
- ``imbalanced_classification``: binary, about 4 % positives; ranking is easy-ish
  (AUROC ~0.9), precision on the positives is not (AUPRC ~0.7), so losses can differ.

Each has a card (``card(name)``) saying how it was made (``scripts/make_datasets.py``,
fixed seeds), its columns, the true coefficients or class ratio, and reference fits.

>>> from losskit import datasets
>>> datasets.NAMES
('outlier_regression', 'imbalanced_classification')
>>> datasets.path("outlier_regression").name
'outlier_regression.csv'
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

NAMES = ("outlier_regression", "imbalanced_classification")

__all__ = ["NAMES", "card", "load", "path"]


def _check(name) -> str:
    if not isinstance(name, str) or name not in NAMES:
        raise ValueError(f"datasets: name must be one of {', '.join(NAMES)}; received {name!r}")
    return name


def _file(name, suffix: str) -> Path:
    # the package is installed as plain files (setuptools package data), so the traversable is a real path
    return Path(str(resources.files(__name__).joinpath(f"{_check(name)}{suffix}")))


def path(name: str) -> Path:
    """The shipped CSV file of ``name`` (for ``losskit compare PATH`` or ``pandas.read_csv``)."""
    return _file(name, ".csv")


def load(name: str):
    """The dataset ``name`` as a ``pandas.DataFrame`` (all columns, including the documented extras)."""
    import pandas as pd

    return pd.read_csv(path(name))


def card(name: str) -> str:
    """The markdown card of ``name``: what it is, how it was made, columns, reference fits."""
    return _file(name, ".md").read_text(encoding="utf-8")
