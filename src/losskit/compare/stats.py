"""Summary statistics of a compare run: per loss, the mean test metric with a confidence interval and a
paired test against the baseline loss.

The test is the **corrected resampled t-test** of Nadeau & Bengio (2003), in the repeated k-fold form
of Bouckaert & Frank (2004). Trials of k folds x r seeds reuse the same rows, so their test metrics are
correlated and the plain t-test is far too confident. With ``J = k * r`` trials, ``n_train`` and
``n_test`` the rows a model trains and is tested on, and ``s²`` the sample variance over trials, the
variance of the mean is taken as ``(1/J + n_test/n_train) * s²`` and the statistic has ``J - 1``
degrees of freedom. The same corrected variance gives

- the confidence interval of each loss's mean metric, and
- for the paired differences ``loss - baseline`` (paired by ``(fold, seed)``), their interval and the
  two-sided p-value; the p-values of the non-baseline losses are then Holm-adjusted (Holm 1979).

A Wilcoxon signed-rank p-value of the same differences is given for reference only (it ignores the
overlap between training sets, so it is too optimistic as well). ``wins / ties / losses`` count the
pairs in which the loss is better than / equal to / worse than the baseline, in the metric's better
direction. NaN metric values (a diverged fit, a metric undefined on the fold) are excluded pairwise and
counted in ``n_nan``, never dropped silently.

References: C. Nadeau and Y. Bengio, "Inference for the Generalization Error", Machine Learning 52
(2003); R. Bouckaert and E. Frank, "Evaluating the Replicability of Significance Tests for Comparing
Learning Algorithms", PAKDD 2004; S. Holm, "A Simple Sequentially Rejective Multiple Test Procedure",
Scand. J. Statist. 6 (1979).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import numpy as np

from losskit.compare.metrics import higher_is_better

__all__ = ["TEST_NAME", "Row", "corrected_t", "format_table", "holm", "rows_as_dicts", "summarize", "summary_frame"]

TEST_NAME = "corrected resampled t-test (Nadeau & Bengio 2003; Bouckaert & Frank 2004), Holm-adjusted"


@dataclass(frozen=True)
class Row:
    """One loss's summary on one metric. ``diff`` is ``mean(loss - baseline)`` over the paired trials, in
    metric units (not flipped by direction); ``n`` counts trials with a finite value, ``n_pairs`` the
    pairs with the baseline where both are finite, ``n_nan`` the trials whose value is NaN."""

    label: str
    loss: str
    n: int
    mean: float
    std: float
    ci_low: float
    ci_high: float
    diff: float
    diff_ci_low: float
    diff_ci_high: float
    p_value: float
    p_holm: float
    p_wilcoxon: float
    wins: int
    ties: int
    losses: int
    rank: int
    is_baseline: bool
    n_nan: int = 0
    n_pairs: int = 0
    metric: str = ""
    confidence: float = 0.95


def corrected_t(values, *, n_train: int, n_test: int, confidence: float = 0.95) -> tuple[float, float, float, float]:
    """Mean, corrected-interval low and high, and two-sided p-value (of mean = 0) of ``values``.

    The variance of the mean is ``(1/J + n_test/n_train) * s²`` with ``J = len(values)`` and ``J - 1``
    degrees of freedom (Nadeau & Bengio 2003). Fewer than two values give NaN interval and p. Values
    with zero spread give a zero-width interval and p = 1 when the mean is 0, p = 0 otherwise.

    >>> m, lo, hi, p = corrected_t([1.0, 2.0, 3.0, 4.0], n_train=80, n_test=20)
    >>> round(m, 3), round(lo, 3), round(hi, 3), round(p, 4)
    (2.5, -0.405, 5.405, 0.0714)
    """
    from scipy import stats

    x = np.asarray(values, dtype=np.float64)
    j = x.size
    if j == 0:
        return math.nan, math.nan, math.nan, math.nan
    mean = float(x.mean())
    if j < 2:
        return mean, math.nan, math.nan, math.nan
    se = math.sqrt((1.0 / j + n_test / n_train) * float(x.var(ddof=1)))
    if se == 0.0:
        return mean, mean, mean, (1.0 if mean == 0.0 else 0.0)
    half = float(stats.t.ppf(0.5 + confidence / 2.0, j - 1)) * se
    p = float(2.0 * stats.t.sf(abs(mean) / se, j - 1))
    return mean, mean - half, mean + half, p


def holm(p_values) -> list[float]:
    """Holm's step-down adjustment of ``p_values``; NaN entries stay NaN and do not count in ``m``.

    >>> holm([0.01, 0.04, 0.03, math.nan])
    [0.03, 0.06, 0.06, nan]
    """
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, math.nan)
    finite = np.flatnonzero(np.isfinite(p))
    m = finite.size
    order = finite[np.argsort(p[finite], kind="stable")]
    running = 0.0
    for i, idx in enumerate(order):
        running = max(running, min(1.0, (m - i) * p[idx]))
        out[idx] = running
    return [float(v) for v in out]


def _wilcoxon(diffs: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p; NaN with fewer than two non-zero differences (no test possible)."""
    from scipy import stats

    if np.count_nonzero(diffs) < 2:
        return math.nan
    return float(stats.wilcoxon(diffs, zero_method="wilcox", alternative="two-sided").pvalue)


def _value(record: dict, metric: str) -> float:
    values = record.get("metrics") or {}
    if metric not in values:
        raise ValueError(f"summarize: metric must be one of the record's metrics {sorted(values)}; received "
                         f"{metric!r} (record {record.get('key', record.get('label'))!r})")
    value = values[metric]
    return math.nan if value is None else float(value)


def summarize(records, metric: str, baseline_label: str, *, confidence: float = 0.95, n_train: int,
              n_test: int) -> list[Row]:
    """Per loss label, the summary of ``metric`` over its trials and against ``baseline_label``.

    ``records`` are trial records (dicts with ``label``, ``loss``, ``fold``, ``seed`` and ``metrics``);
    ``n_train`` / ``n_test`` are the rows of one training part and one test fold. Rows come back best
    first (rank 1 = best mean in the metric's direction; NaN means rank last). See the module docstring
    for the test.

    >>> recs = [{"label": lab, "loss": lab, "fold": f, "seed": 0, "metrics": {"rmse": v + f}}
    ...         for lab, v in (("mse", 1.0), ("huber", 0.5)) for f in range(5)]
    >>> [(r.label, r.rank, r.diff, r.wins) for r in summarize(recs, "rmse", "mse", n_train=80, n_test=20)]
    [('huber', 1, -0.5, 5), ('mse', 2, 0.0, 0)]
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"summarize: confidence must be in (0, 1); received {confidence!r}")
    for name, value in (("n_train", n_train), ("n_test", n_test)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"summarize: {name} must be a positive integer; received {value!r}")
    higher = higher_is_better(metric)

    by_label: dict[str, dict[tuple, float]] = {}
    loss_of: dict[str, str] = {}
    for record in records:
        label = record["label"]
        key = (record["fold"], record["seed"])
        trials = by_label.setdefault(label, {})
        if key in trials:
            raise ValueError(f"summarize: records must hold each (fold, seed) once per label; received "
                             f"(fold={key[0]!r}, seed={key[1]!r}) twice for {label!r}")
        trials[key] = _value(record, metric)
        loss_of.setdefault(label, record.get("loss", label))
    if baseline_label not in by_label:
        raise ValueError(f"summarize: baseline_label must be one of the records' labels {sorted(by_label)}; "
                         f"received {baseline_label!r}")
    base = by_label[baseline_label]

    partial = []
    for label, trials in by_label.items():
        values = np.array(list(trials.values()), dtype=np.float64)
        finite = values[np.isfinite(values)]
        mean, lo, hi, _ = corrected_t(finite, n_train=n_train, n_test=n_test, confidence=confidence)
        std = float(finite.std(ddof=1)) if finite.size >= 2 else math.nan
        pairs = [(v, base[k]) for k, v in trials.items() if k in base and math.isfinite(v) and math.isfinite(base[k])]
        diffs = np.array([v - b for v, b in pairs], dtype=np.float64)
        is_base = label == baseline_label
        if is_base:
            d, dlo, dhi, p, pw = 0.0, 0.0, 0.0, math.nan, math.nan
            wins = ties = losses = 0
        else:
            d, dlo, dhi, p = corrected_t(diffs, n_train=n_train, n_test=n_test, confidence=confidence)
            pw = _wilcoxon(diffs)
            better = diffs > 0 if higher else diffs < 0
            wins, ties = int(better.sum()), int((diffs == 0).sum())
            losses = int(diffs.size) - wins - ties
        partial.append({
            "label": label, "loss": loss_of[label], "n": int(finite.size), "mean": mean, "std": std, "ci_low": lo,
            "ci_high": hi, "diff": d, "diff_ci_low": dlo, "diff_ci_high": dhi, "p_value": p, "p_wilcoxon": pw,
            "wins": wins, "ties": ties, "losses": losses, "is_baseline": is_base,
            "n_nan": int(values.size - finite.size), "n_pairs": int(diffs.size), "metric": metric,
            "confidence": confidence,
        })

    others = [row for row in partial if not row["is_baseline"]]
    for row, adjusted in zip(others, holm([row["p_value"] for row in others])):
        row["p_holm"] = adjusted
    for row in partial:
        row.setdefault("p_holm", math.nan)

    def score(row):  # smaller is better; NaN last
        m = row["mean"]
        return (1, 0.0) if not math.isfinite(m) else (0, -m if higher else m)

    ordered = sorted(partial, key=score)  # stable: ties keep the records' order
    rows, previous, rank = [], None, 0
    for position, row in enumerate(ordered, start=1):
        if score(row) != previous:
            rank, previous = position, score(row)
        rows.append(Row(rank=rank, **row))
    return rows


def rows_as_dicts(rows, *, json_safe: bool = False) -> list[dict]:
    """Rows as plain dicts (field order of :class:`Row`); ``json_safe`` writes NaN as ``None``."""
    out = [asdict(row) for row in rows]
    if json_safe:
        out = [{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()} for d in out]
    return out


def summary_frame(rows):
    """Rows as a :class:`pandas.DataFrame`, one row per loss, columns in :class:`Row` order."""
    import pandas as pd

    return pd.DataFrame(rows_as_dicts(rows), columns=[f.name for f in fields(Row)])


def _num(x: float) -> str:
    return "nan" if not math.isfinite(x) else f"{x:.4g}"


def _p(x: float) -> str:
    return "" if not math.isfinite(x) else ("<1e-4" if x < 1e-4 else f"{x:.4f}")


def format_table(rows, metric: str) -> str:
    """A plain aligned text table of ``rows`` for the terminal, titled with the metric, direction and test."""
    rows = list(rows)
    conf = rows[0].confidence if rows else 0.95
    direction = "higher" if higher_is_better(metric) else "lower"
    baseline = next((r.label for r in rows if r.is_baseline), "?")
    header = ["rank", "loss", "n", "mean", f"{conf:.0%} CI", "diff vs baseline", "p", "p Holm", "W/T/L"]
    body = []
    for r in rows:
        nan_note = f" ({r.n_nan} NaN)" if r.n_nan else ""
        diff = "baseline" if r.is_baseline else f"{r.diff:+.4g} [{_num(r.diff_ci_low)}, {_num(r.diff_ci_high)}]"
        wtl = "" if r.is_baseline else f"{r.wins}/{r.ties}/{r.losses}"
        body.append([str(r.rank), r.label, f"{r.n}{nan_note}", _num(r.mean), f"[{_num(r.ci_low)}, {_num(r.ci_high)}]",
                     diff, _p(r.p_value), _p(r.p_holm), wtl])
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    right = {0, 2, 3, 6, 7}

    def fmt(line):
        return "  ".join(cell.rjust(w) if i in right else cell.ljust(w) for i, (cell, w) in enumerate(zip(line, widths)))

    title = f"{metric} ({direction} is better); baseline {baseline}; test: {TEST_NAME}"
    return "\n".join([title, fmt(header), "  ".join("-" * w for w in widths), *(fmt(b).rstrip() for b in body)])
