"""A self-contained ``report.html`` for a compare (and tune) run folder.

One file, readable offline and mailable: inline CSS, every figure drawn by
matplotlib (Agg) and inlined as SVG (dense scatter points rasterised inside the
SVG so the file stays small), no script, no external URL. Sections, one
function each: configuration, summary tables (``stats.summarize``), metric
comparison with intervals, learning curves, residuals (regression, quantile) or
reliability diagrams (binary, multiclass), loss and gradient curves
(``losskit.plots.plot_losses``), the tuning results when ``tune.json`` exists,
and the per-trial table.

Learning curves: each trial is drawn as a thin line and each loss's mean as a
thick line; the mean at epoch ``e`` is over the trials still running at ``e``
(early stopping ends trials at different epochs), so the tail of a mean rests
on fewer trials -- the thin lines show how many.
"""

from __future__ import annotations

import html
import io
import json
import math
import re
from pathlib import Path

import numpy as np

__all__ = ["write_report"]

MAX_POINTS = 2000  # scatter points per panel
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1150px;
padding:1.2em 1.5em 3em;color:#1d1d1f;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.2em}
h3{margin-bottom:.3em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
th,td{border:1px solid #d0d0d0;padding:.25em .6em;text-align:right;white-space:nowrap}
th{background:#f3f3f3}td.l,th.l{text-align:left}
tr.best td{background:#e5f5e0;font-weight:600}tr.baseline td{font-style:italic}
dl.cfg{display:grid;grid-template-columns:max-content auto;gap:.15em 1em}dl.cfg dt{font-weight:600}
dl.cfg dd{margin:0;overflow-wrap:anywhere}
figure{margin:1em 0;overflow-x:auto}figure svg{max-width:100%;height:auto;display:block}
figcaption{font-size:.88em;color:#444;margin-top:.3em}
.note{background:#fff8e1;border-left:4px solid #f0b400;padding:.4em .8em;margin:.6em 0}
.wide{overflow-x:auto;max-width:100%}.note ul{margin:.2em 0}
.muted{color:#666;font-size:.9em}details summary{cursor:pointer;font-weight:600}
"""


# ----------------------------------------------------------------------------- reading


def _read_run(run_dir: Path):
    """(config dict, trial records, tune dict or None) of a run folder, with clear errors."""
    config_path = run_dir / "config.json"
    if not config_path.is_file():
        raise ValueError(f"write_report: run_dir must hold config.json; received {str(run_dir)!r} "
                         f"without it")
    try:
        loaded = json.loads(config_path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"write_report: config.json must be JSON; received {str(config_path)!r} ({err})") from None
    config = loaded.get("config", loaded) if isinstance(loaded, dict) else None
    if not isinstance(config, dict):
        raise TypeError(f"write_report: config.json must hold an object with a 'config' object; "
                         f"received {type(loaded).__name__}")
    records = []
    trials_path = run_dir / "trials.jsonl"
    if trials_path.is_file():
        for number, line in enumerate(trials_path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise ValueError(f"write_report: trials.jsonl line {number} must be one JSON object; "
                                 f"received {line[:60]!r}... ({err})") from None
    tune = None
    if (run_dir / "tune.json").is_file():
        tune = json.loads((run_dir / "tune.json").read_text())
    if not records and tune is None:
        raise ValueError(f"write_report: run_dir must hold finished trials (trials.jsonl) or tune.json; "
                         f"received {str(run_dir)!r} with neither")
    return config, records, tune


def _labels(config: dict, records: list) -> list[str]:
    """Loss labels in the configuration's order, then any others found in the records."""
    order = [entry.get("label") or entry.get("loss") for entry in config.get("losses", [])]
    seen = {r["label"] for r in records}
    return [lab for lab in order if lab in seen] + sorted(seen - set(order))


def _sizes(config: dict) -> tuple[int, int]:
    """(n_train, n_test) of one outer fold: n_test = n_rows // folds (as the terminal summary has it)."""
    n_rows, folds = int(config.get("n_rows") or 0), int(config.get("folds") or 0)
    if n_rows <= 0 or folds < 2:
        raise ValueError(f"write_report: config must give n_rows > 0 and folds >= 2; received "
                         f"n_rows={config.get('n_rows')!r}, folds={config.get('folds')!r}")
    n_test = max(1, n_rows // folds)
    return n_rows - n_test, n_test


# ----------------------------------------------------------------------------- html helpers


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value, digits: int = 4) -> str:
    """A number for a table cell: 4 significant digits; NaN / None as an en dash."""
    if value is None:
        return "–"
    if isinstance(value, (bool, np.bool_)):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    try:
        value = float(value)
    except (TypeError, ValueError):
        return _e(value)
    if math.isnan(value):
        return "–"
    return f"{value:.{digits}g}"


def _fmt_p(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return "&lt;0.001" if float(value) < 1e-3 else f"{float(value):.3f}"


def _table(head: list[str], rows: list[list[str]], classes: list[str] | None = None, left: int = 1) -> str:
    """An HTML table; cells are already escaped / formatted; the first ``left`` columns align left."""
    cls = lambda i: ' class="l"' if i < left else ""
    out = ['<div class="wide"><table><thead><tr>', *(f"<th{cls(i)}>{h}</th>" for i, h in enumerate(head)), "</tr></thead><tbody>"]
    for k, row in enumerate(rows):
        css = f' class="{classes[k]}"' if classes and classes[k] else ""
        out.append(f"<tr{css}>" + "".join(f"<td{cls(i)}>{c}</td>" for i, c in enumerate(row)) + "</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def _section(sid: str, title: str, body: str) -> str:
    return f'<section id="{_e(sid)}"><h2>{_e(title)}</h2>\n{body}\n</section>\n'


def _note(text: str) -> str:
    return f'<p class="note">{_e(text)}</p>'


# ----------------------------------------------------------------------------- figures


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _svg(fig, fid: str) -> str:
    """The figure as inline SVG markup: text kept as text, ids salted per figure so that
    several SVGs in one page never share an id, no metadata, no DOCTYPE, no namespace URLs."""
    import matplotlib

    plt = _pyplot()
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": fid}):
        fig.savefig(buf, format="svg", bbox_inches="tight", dpi=110, metadata={"Date": None})
    plt.close(fig)
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.DOTALL)
    text = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", text)
    return text


def _figure(fig, fid: str, alt: str, caption: str) -> str:
    svg = _svg(fig, fid).replace("<svg", f'<svg role="img" aria-label="{_e(alt)}"', 1)
    return f'<figure id="{_e(fid)}">{svg}<figcaption>{_e(caption)}</figcaption></figure>'


def _colors(labels: list[str]) -> dict[str, str]:
    import matplotlib

    cycle = matplotlib.colormaps["tab10"].colors
    return {lab: matplotlib.colors.to_hex(cycle[i % len(cycle)]) for i, lab in enumerate(labels)}


# ----------------------------------------------------------------------------- statistics


def _summaries(config: dict, records: list) -> dict[str, list]:
    """``stats.summarize`` rows (best first) per metric the records carry, primary first."""
    from . import stats

    n_train, n_test = _sizes(config)
    out = {}
    for metric in config.get("metrics", []):
        if any(metric in (r.get("metrics") or {}) for r in records):
            out[metric] = stats.summarize(records, metric, config["baseline"], n_train=n_train, n_test=n_test)
    return out


def _higher(metric: str) -> bool:
    from . import metrics

    return metrics.higher_is_better(metric)


def _mean_ci(row) -> str:
    return f"{_fmt(row.mean)} [{_fmt(row.ci_low)}, {_fmt(row.ci_high)}]"


def _diff_ci(row) -> str:
    return "–" if row.is_baseline else f"{_fmt(row.diff)} [{_fmt(row.diff_ci_low)}, {_fmt(row.diff_ci_high)}]"


def _loss_cell(row) -> str:
    return _e(row.label) + (" <span class='muted'>(baseline)</span>" if row.is_baseline else "")


def _row_classes(rows) -> list[str]:
    """``best`` for rank 1 (ties share it), ``baseline`` for the baseline row."""
    return [" ".join(c for c, on in (("best", r.rank == 1), ("baseline", r.is_baseline)) if on) for r in rows]


def _n_cell(row) -> str:
    return str(row.n) + (f" ({row.n_nan} NaN)" if row.n_nan else "")


# ----------------------------------------------------------------------------- sections


def section_config(config: dict, records: list, fingerprint: str | None) -> str:
    """What was run: data, target, task, model, folds x seeds, metrics, losses, the test."""
    from .stats import TEST_NAME

    losses = config.get("losses", [])
    items = [
        ("data", config.get("data")), ("target", config.get("target")), ("task", config.get("task")),
        ("model", config.get("model")),
        ("folds x seeds", (f"{config.get('folds')} x {config.get('seeds')} "
                          f"({config.get('n_rows')} rows; same splits for every loss)")),
        ("metrics", ", ".join(config.get("metrics", [])) + " (first is primary)"),
        ("losses", ", ".join(str(e.get("label") or e.get("loss")) for e in losses)),
        ("baseline", config.get("baseline")),
        ("classes", config.get("n_classes")), ("evaluation target", config.get("eval_target")),
        ("trials finished", len(records)), ("paired test", TEST_NAME + ", paired by (fold, seed)"),
        ("data sha256", config.get("data_sha256")), ("configuration fingerprint", fingerprint),
    ]
    body = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in items if v is not None)
    return _section("configuration", "Configuration", f'<dl class="cfg">{body}</dl>')


def section_summary(config: dict, summaries: dict) -> str:
    """The primary metric's full table, then a compact table for every other metric (rows best first)."""
    from .stats import TEST_NAME

    parts = []
    for k, (metric, rows) in enumerate(summaries.items()):
        level = f"{round(100 * rows[0].confidence)}%" if rows else ""
        direction = "higher is better" if _higher(metric) else "lower is better"
        if k == 0:
            head = ["loss", "n", f"mean [{level} CI]", "std", f"diff vs baseline [{level} CI]", "p (corrected t)",
                    "p Holm", "p Wilcoxon", "W/T/L", "rank"]
            cells = [[_loss_cell(r), _n_cell(r), _mean_ci(r), _fmt(r.std), _diff_ci(r),
                      "–" if r.is_baseline else _fmt_p(r.p_value), "–" if r.is_baseline else _fmt_p(r.p_holm),
                      "–" if r.is_baseline else _fmt_p(r.p_wilcoxon),
                      "–" if r.is_baseline else f"{r.wins}/{r.ties}/{r.losses}", str(r.rank)] for r in rows]
            parts.append(f"<h3>{_e(metric)} (primary; {direction})</h3>")
        else:
            if k == 1:
                parts.append("<h3>Other metrics</h3>")
            head = ["loss", "n", f"mean [{level} CI]", f"diff vs baseline [{level} CI]", "p Holm", "rank"]
            cells = [[_loss_cell(r), _n_cell(r), _mean_ci(r), _diff_ci(r), "–" if r.is_baseline else _fmt_p(r.p_holm),
                      str(r.rank)] for r in rows]
            parts.append(f"<p><b>{_e(metric)}</b> <span class='muted'>({direction})</span></p>")
        parts.append(_table(head, cells, _row_classes(rows)))
    parts.append(f'<p class="muted">Test: {_e(TEST_NAME)}; paired by (fold, seed), two-sided; intervals use the '
                 f'same corrected variance (1/J + n_test/n_train). p Wilcoxon: signed-rank test of the same '
                 f'differences, for reference only. W/T/L: trials where the loss beat / tied / lost to the baseline '
                 f'on the same (fold, seed). Highlighted: the best mean (rank 1). NaN values (a diverged fit, an '
                 f'undefined metric) are counted in n, not hidden.</p>')
    return _section("summary", "Summary", "\n".join(parts))


def section_metric_plot(config: dict, summaries: dict, labels: list, colors: dict) -> str:
    """One panel per metric: each loss's mean with its interval; the baseline's mean dashed."""
    plt = _pyplot()
    metrics_ = list(summaries)
    n = len(metrics_)
    fig, axes = plt.subplots(1, n, figsize=(min(3.4 * n, 14), 0.45 * len(labels) + 1.4), squeeze=False,
                             sharey=True)
    for ax, metric in zip(axes[0], metrics_):
        rows = {r.label: r for r in summaries[metric]}
        for y, lab in enumerate(labels):
            r = rows.get(lab)
            if r is None or not math.isfinite(r.mean):
                continue
            err = None
            if math.isfinite(r.ci_low) and math.isfinite(r.ci_high):
                err = [[max(r.mean - r.ci_low, 0)], [max(r.ci_high - r.mean, 0)]]
            ax.errorbar([r.mean], [y], xerr=err, fmt="s" if r.is_baseline else "o", color=colors[lab], capsize=3,
                        markersize=6 if r.is_baseline else 5)
            if r.is_baseline:
                ax.axvline(r.mean, color=colors[lab], ls="--", lw=0.8)
        ax.set_title(f"{metric} ({'↑' if _higher(metric) else '↓'} better)", fontsize=9)
        ax.grid(axis="x", alpha=0.3)
        ax.tick_params(labelsize=8)
    axes[0][0].set_yticks(range(len(labels)))
    axes[0][0].set_yticklabels([lab + (" (baseline)" if lab == config["baseline"] else "") for lab in labels])
    axes[0][0].invert_yaxis()
    fig.tight_layout()
    fig_html = _figure(fig, "fig-metrics", "Mean of each metric per loss with confidence intervals",
                       "Mean over folds x seeds with the corrected confidence interval; dashed line and square: "
                       "the baseline.")
    return _section("metric-comparison", "Metric comparison", fig_html)


def _mean_running(curves: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Epoch index and the mean over the curves still running at each epoch.

    >>> _mean_running([np.array([1.0, 2.0, 3.0]), np.array([3.0])])[1].tolist()
    [2.0, 2.0, 3.0]
    """
    longest = max(len(c) for c in curves)
    stack = np.full((len(curves), longest), np.nan)
    for i, c in enumerate(curves):
        stack[i, :len(c)] = c
    counts = np.sum(~np.isnan(stack), axis=0)
    return np.arange(1, longest + 1), np.nansum(stack, axis=0) / counts


def section_learning(config: dict, records: list, labels: list, colors: dict) -> str:
    """Validation loss and validation metric per epoch: thin lines per trial, thick means."""
    plt = _pyplot()
    primary = config.get("metrics", ["metric"])[0]
    keys = [("val_loss", "validation loss (each loss on its own scale)"), ("val_metric", f"validation {primary}")]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    drawn = False
    for ax, (key, title) in zip(axes, keys):
        for lab in labels:
            curves = []
            for r in records:
                curve = (r.get("curve") or {})
                if r["label"] != lab or not curve.get(key):
                    continue
                ys = np.asarray([np.nan if v is None else v for v in curve[key]], dtype=np.float64)
                xs = np.asarray(curve.get("epoch") or range(1, len(ys) + 1), dtype=np.float64)
                ax.plot(xs, ys, color=colors[lab], lw=0.5, alpha=0.25)
                curves.append(ys)
            if curves:
                xs, mean = _mean_running(curves)
                ax.plot(xs, mean, color=colors[lab], lw=2, label=lab)
                drawn = True
        low, high = ax.dataLim.y0, ax.dataLim.y1
        if drawn and low > 0 and high / low > 100:  # losses on very different scales
            ax.set_yscale("log")
        ax.set_xlabel("boosting round" if config.get("model") == "gbdt" else "epoch")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    if not drawn:
        plt.close(fig)
        return _section("learning-curves", "Learning curves", _note("No trial recorded a learning curve."))
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    direction = "higher" if _higher(primary) else "lower"
    fig_html = _figure(fig, "fig-learning", "Validation loss and validation metric per epoch for each loss",
                       f"Inner-validation curves: thin lines are single trials, thick lines the mean over the trials "
                       f"still running at that epoch (early stopping ends trials at different epochs). "
                       f"{primary}: {direction} is better. Validation losses of different losses are not on one "
                       f"scale; compare their shapes.")
    return _section("learning-curves", "Learning curves", fig_html)


def _pooled(records: list, lab: str):
    ys = [np.asarray(r["y_true"], dtype=np.float64) for r in records if r["label"] == lab and r.get("prediction")]
    ps = [np.asarray(r["prediction"], dtype=np.float64) for r in records if r["label"] == lab and r.get("prediction")]
    if not ys:
        return None, None
    return np.concatenate(ys), np.concatenate(ps)


def _subsample(n: int, k: int, seed: int = 0) -> np.ndarray:
    """At most ``k`` of ``n`` indices, the same every time (a fixed seed)."""
    if n <= k:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=k, replace=False))


def section_residuals(records: list, labels: list, colors: dict) -> str:
    """Residual (truth - prediction) against prediction per loss, and overlaid residual histograms."""
    plt = _pyplot()
    pooled = {lab: _pooled(records, lab) for lab in labels}
    pooled = {lab: v for lab, v in pooled.items() if v[0] is not None}
    if not pooled:
        return _section("residuals", "Residuals", _note("No trial recorded its test predictions."))
    n = len(pooled)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.8 * cols, 3.0 * rows), squeeze=False, sharey=True)
    all_res = np.concatenate([y - p for y, p in pooled.values()])
    lo, hi = np.nanpercentile(all_res, [0.5, 99.5]) if all_res.size else (-1, 1)
    for ax, (lab, (y, p)) in zip(axes.flat, pooled.items()):
        res = y - p
        idx = _subsample(res.size, MAX_POINTS)
        ax.scatter(p[idx], res[idx], s=7, alpha=0.5, color=colors[lab], rasterized=True, linewidths=0)
        ax.axhline(0, color="k", lw=0.7)
        ax.set_title(f"{lab} (n={res.size})", fontsize=9)
        ax.set_xlabel("prediction", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in axes[:, 0]:
        ax.set_ylabel("residual (truth - prediction)", fontsize=8)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.tight_layout()
    scatter = _figure(fig, "fig-residuals", "Residual against prediction for each loss",
                      f"Out-of-fold predictions pooled over folds and seeds (at most {MAX_POINTS} points drawn "
                      f"per panel, chosen at random with a fixed seed).")
    fig, ax = plt.subplots(figsize=(7, 3.6))
    bins = np.linspace(lo, hi, 50) if hi > lo else 30
    for lab, (y, p) in pooled.items():
        ax.hist(y - p, bins=bins, histtype="step", lw=1.4, color=colors[lab], label=lab, density=True)
    ax.set_xlabel("residual (truth - prediction); central 99% range")
    ax.set_ylabel("density")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    hist = _figure(fig, "fig-residual-hist", "Overlaid histograms of the residuals of each loss",
                   "Residual distributions (density), one outline per loss.")
    return _section("residuals", "Residuals", scatter + hist)


def _top_label(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(confidence of the predicted class, whether it is right) for binary or multiclass predictions.

    >>> c, ok = _top_label(np.array([1.0, 0.0]), np.array([0.9, 0.3]))
    >>> c.tolist(), ok.tolist()
    ([0.9, 0.7], [True, True])
    """
    if p.ndim == 1:
        pred = (p > 0.5).astype(np.float64)  # ties go to class 0, as in metrics.py
        return np.where(pred == 1, p, 1 - p), pred == y
    return p.max(axis=1), p.argmax(axis=1) == y.astype(np.int64)


def section_reliability(records: list, labels: list, colors: dict, bins: int = 10) -> str:
    """Top-label reliability diagram (one line per loss, diagonal = calibrated) and confidence histogram."""
    plt = _pyplot()
    fig, (ax, axh) = plt.subplots(1, 2, figsize=(11, 4.2))
    edges = np.linspace(0, 1, bins + 1)
    drawn = False
    for lab in labels:
        y, p = _pooled(records, lab)
        if y is None:
            continue
        conf, right = _top_label(y, p)
        which = np.clip(np.digitize(conf, edges[1:-1]), 0, bins - 1)
        xs, accs = [], []
        for b in range(bins):
            mask = which == b
            if mask.any():
                xs.append(conf[mask].mean())
                accs.append(right[mask].mean())
        ax.plot(xs, accs, "o-", color=colors[lab], label=lab, markersize=4)
        axh.hist(conf, bins=edges, histtype="step", color=colors[lab], lw=1.4, label=lab)
        drawn = True
    if not drawn:
        plt.close(fig)
        return _section("reliability", "Reliability", _note("No trial recorded its test predictions."))
    ax.plot([0, 1], [0, 1], color="k", ls="--", lw=0.8, label="calibrated")
    ax.set_xlabel("confidence of the predicted class (bin mean)")
    ax.set_ylabel("accuracy in the bin")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    axh.set_xlabel("confidence of the predicted class")
    axh.set_ylabel("test predictions")
    for a in (ax, axh):
        a.grid(alpha=0.3)
    fig.tight_layout()
    fig_html = _figure(fig, "fig-reliability", "Top-label reliability diagram and confidence histogram per loss",
                       f"Out-of-fold predictions pooled over folds and seeds, {bins} equal-width confidence bins; "
                       f"points under the diagonal are over-confident.")
    return _section("reliability", "Reliability", fig_html)


def section_losses(config: dict) -> str:
    """The compared losses and their gradients (``plots.plot_losses``), one row per x axis kind."""
    import losskit
    from losskit.plots import axis_kind, plot_losses

    plt = _pyplot()
    groups: dict[str, list] = {}
    notes = []
    for entry in config.get("losses", []):
        name, params = entry["loss"], dict(entry.get("params") or {})
        try:
            kind = axis_kind(losskit.spec(name))
        except (ValueError, KeyError) as err:
            notes.append(f"{entry.get('label') or name}: not drawn ({err}).")
            continue
        groups.setdefault(kind, []).append((name, params, entry.get("label") or name))
    body = []
    if groups:
        fig, axes = plt.subplots(len(groups), 2, figsize=(11, 3.9 * len(groups)), squeeze=False)
        for row, (kind, items) in zip(axes, groups.items()):
            for name, params, label in items:
                scalar = {k: [v] for k, v in params.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
                if len(scalar) < len(params):
                    notes.append(f"{label}: drawn without its non-scalar parameters "
                                 f"({', '.join(sorted(set(params) - set(scalar)))}).")
                before = len(row[0].lines)
                try:
                    plot_losses([name], params=scalar, ax=list(row))
                except (ValueError, TypeError) as err:
                    notes.append(f"{label}: not drawn ({err}).")
                    continue
                for a in row:  # the run's label, not the registry's canonical name
                    for line in a.lines[before:]:
                        line.set_label(label)
            for a in row:
                if a.lines:
                    a.legend(fontsize=8)
            if not row[0].lines:
                for a in row:
                    a.set_visible(False)
        fig.tight_layout()
        body.append(_figure(fig, "fig-losses", "Loss and gradient curves of the compared losses",
                            "Left: the loss; right: its gradient (residual axis: input - target, target 0; "
                            "raw axis: logit or margin, target 1). Drawn by losskit.plots.plot_losses with the "
                            "parameters used in the run."))
    if notes:
        body.append('<div class="note">Not drawn:<ul>' + "".join(f"<li>{_e(t)}</li>" for t in notes)
                    + "</ul></div>")
    return _section("losses", "Loss and gradient curves", "\n".join(body))


def section_tune(tune: dict) -> str:
    """Validation curves over each parameter grid (with bands) and the optimisation history."""
    plt = _pyplot()
    metric, direction = tune.get("metric", "metric"), tune.get("direction", "minimize")
    parts = [f"<p>Loss <b>{_e(tune.get('loss'))}</b>; objective {_e(metric)} ({_e(direction)}).</p>"]
    curves = tune.get("param_curves") or []
    if curves:
        fig, axes = plt.subplots(1, len(curves), figsize=(min(4.6 * len(curves), 14), 3.6), squeeze=False)
        for ax, c in zip(axes[0], curves):
            xs = np.asarray(c["values"], dtype=np.float64)
            mean = np.asarray(c["mean"], dtype=np.float64)
            ax.plot(xs, mean, "o-", color="C0", label="mean")
            if c.get("ci_low") is not None and c.get("ci_high") is not None:
                ax.fill_between(xs, c["ci_low"], c["ci_high"], color="C0", alpha=0.2, label="interval")
            if np.all(xs > 0) and xs.max() / xs.min() >= 100:
                ax.set_xscale("log")
            best_value = ((tune.get("best") or {}).get("params") or {}).get(c["param"])
            if isinstance(best_value, (int, float)):
                ax.axvline(best_value, color="C3", ls="--", lw=0.9, label=f"best {c['param']}={best_value:g}")
            ax.set_xlabel(c["param"])
            ax.set_ylabel(c.get("metric", metric))
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        fig.tight_layout()
        parts.append(_figure(fig, "fig-tune-curves", "Validation curves of the tuned parameters",
                             "Validation curve per parameter: the mean over folds x seeds with its interval band; "
                             "dashed: the best value of the search."))
    trials = [t for t in tune.get("trials") or [] if t.get("value") is not None]
    if trials:
        fig, ax = plt.subplots(figsize=(7, 3.6))
        done = [t for t in trials if t.get("state", "COMPLETE") == "COMPLETE"]
        ax.plot([t["number"] for t in done], [t["value"] for t in done], "o", color="C0", markersize=4,
                label="trial value")
        pick = np.minimum.accumulate if direction == "minimize" else np.maximum.accumulate
        if done:
            ax.step([t["number"] for t in done], pick(np.asarray([t["value"] for t in done], dtype=np.float64)),
                    where="post", color="C3", label="best so far")
        ax.set_xlabel("trial")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        parts.append(_figure(fig, "fig-tune-history", "Optimisation history: value per trial and best so far",
                             f"Each finished trial's {metric}; the line is the best so far ({direction})."))
    best = tune.get("best")
    if best:
        rows = [[_e(k), _e(v)] for k, v in (best.get("params") or {}).items()]
        rows.append([f"<b>{_e(metric)}</b>", _fmt(best.get("value"))])
        parts.append("<h3>Best parameters</h3>" + _table(["parameter", "value"], rows))
    return _section("tuning", "Tuning", "\n".join(parts))


def section_trials(config: dict, records: list) -> str:
    """Every trial's metrics, epochs and time, collapsed."""
    names = list(config.get("metrics", []))
    head = ["key", "loss", "fold", "seed", *map(_e, names), "best epoch", "epochs", "seconds"]
    rows = [[_e(r.get("key")), _e(r.get("label")), _fmt(r.get("fold")), _fmt(r.get("seed")),
             *(_fmt((r.get("metrics") or {}).get(m)) for m in names),
             _fmt(r.get("best_epoch")), _fmt(r.get("epochs")), _fmt(r.get("seconds"), 3)]
            for r in sorted(records, key=lambda r: (str(r.get("label")), r.get("fold", 0), r.get("seed", 0)))]
    body = f"<details><summary>{len(records)} trials</summary>{_table(head, rows, left=2)}</details>"
    return _section("trials", "Trials", body)


# ----------------------------------------------------------------------------- the report


def write_report(run_dir) -> Path:
    """Write ``run_dir/report.html`` from ``config.json``, ``trials.jsonl`` (and ``tune.json``); return its path.

    The page holds everything it shows (no network, no script), so it can be
    archived or sent as one file.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ValueError(f"write_report: run_dir must be a run folder; received {str(run_dir)!r} (not a folder)")
    config, records, tune = _read_run(run_dir)
    fingerprint = json.loads((run_dir / "config.json").read_text()).get("fingerprint")
    title = f"losskit compare: {config.get('target', '')} in {Path(str(config.get('data', ''))).name}"
    parts = [section_config(config, records, fingerprint)]
    if records:
        labels = _labels(config, records)
        colors = _colors(labels)
        summaries = _summaries(config, records)
        if summaries:
            parts.append(section_summary(config, summaries))
            parts.append(_panel("metric plot", section_metric_plot, config, summaries, labels, colors))
        parts.append(_panel("learning curves", section_learning, config, records, labels, colors))
        if not any(r.get("prediction") for r in records):
            pass  # records without test predictions (e.g. embeddings): no residuals or reliability to draw
        elif config.get("task") in ("binary", "multiclass"):
            parts.append(_panel("reliability", section_reliability, records, labels, colors))
        else:
            parts.append(_panel("residuals", section_residuals, records, labels, colors))
        parts.append(_panel("losses", section_losses, config))
    if tune is not None:
        parts.append(_panel("tuning", section_tune, tune))
    if records:
        parts.append(section_trials(config, records))
    page = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>\n<h1>{_e(title)}</h1>\n"
            + "".join(parts) + "</body></html>\n")
    from .store import atomic_write

    out = run_dir / "report.html"
    atomic_write(out, page)
    return out


def _panel(name: str, section, *args) -> str:
    """One section of the report; one that cannot be drawn (data matplotlib cannot lay out, say)
    becomes a note, and the rest of the report is still written."""
    try:
        return section(*args)
    except Exception as error:  # noqa: BLE001 - a figure is a view: its failure must not cost the others
        _pyplot().close("all")
        return _section(f"failed-{name.replace(' ', '-')}", name.capitalize(),
                        _note(f"This panel could not be drawn ({type(error).__name__}: {error})."))
