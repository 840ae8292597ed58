"""``losskit demo``: recommend -> compare -> report on the two datasets that ship with losskit.

(a) ``outlier_regression``: a known line with 10 % gross, high-leverage
errors in the target; metrics are computed against the noise-free line
(``--eval-target y_line``), so the report shows which loss recovers it.
(b) ``imbalanced_classification``: about 4 % positives, judged by AUPRC.

No arguments and no network; under a minute on two cores. Each part is an
ordinary resumable ``compare`` run folder under ``OUT/``.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

# (title, compare settings); features and eval_target follow the dataset cards
PARTS = (
    ("regression with gross outliers", {
        "data": "outlier_regression", "target": "y", "features": ["x1", "x2", "x3", "x4"], "eval_target": "y_line",
        "metric": "rmse,mae,median_ae,r2", "name": "regression"}),
    ("imbalanced classification", {
        "data": "imbalanced_classification", "target": "label",
        "metric": "auprc,auroc,log_loss,balanced_accuracy,f1,ece", "name": "classification"}),
)


def run_demo(out="losskit-demo", *, folds: int = 5, seeds: int = 3, jobs: int | None = None, console=None):
    """Run both parts; returns the two Comparisons."""
    from .. import datasets
    from ..recommend import recommend
    from ..recommend.data import load_table
    from .commands import _console, run_compare, say

    console = console or _console()
    jobs = jobs or min(2, os.cpu_count() or 1)
    results = []
    for title, part in PARTS:
        part = dict(part)
        name = part.pop("name")
        console.rule(f"[bold]{title}[/] ({part['data']})")
        table = load_table(datasets.path(part["data"]), part["target"], part.get("features"))
        rec = recommend(table.y, table.X, metric=part["metric"].split(",")[0], top=3)
        say(console, "recommend:\n" + str(rec))
        settings = {k: None for k in ("baseline", "features", "eval_target", "task", "ray_address")}
        settings.update(losses="auto", model="linear", folds=folds, seeds=seeds, l2=0.0, max_epochs=200,
                        patience=15, jobs=jobs, executor="local", out=str(Path(out) / name), **part)
        results.append(run_compare(settings, console=console))
    click.echo("\nreports:")
    for r in results:
        click.echo(f"  {r.report}")
    return results


def register(app: click.Group) -> None:
    @app.command("demo")
    @click.option("--out", default="losskit-demo", show_default=True, help="folder for the two runs")
    @click.option("--folds", default=5, show_default=True, type=int)
    @click.option("--seeds", default=3, show_default=True, type=int)
    @click.option("--jobs", default=None, type=int, help="trials in parallel (default: up to 2)")
    def demo_command(out, folds, seeds, jobs):
        """Recommend, compare and report on the two bundled datasets (no arguments, no network)."""
        from .commands import user_errors

        with user_errors():
            run_demo(out, folds=folds, seeds=seeds, jobs=jobs)
