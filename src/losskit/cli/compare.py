"""``losskit compare``, ``tune`` and ``demo``: the command line of :mod:`losskit.compare`.

Settings may come from a TOML file (``--config FILE``) whose keys are the
long option names with underscores (``losses``, ``eval_target``, ...);
options given on the command line win over the file. A relative ``data`` in
the file is read relative to the file.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import click
import tomllib

from losskit.compare.config import (
    AUTO_TOP,
    CONFIRM_SEEDS,
    FOLDS,
    GRID,
    MAX_EPOCHS,
    MODEL,
    MODELS,
    PATIENCE,
    SEEDS,
    TASKS,
    TRIALS,
    TUNE_FOLDS,
)

from .console import interrupted, make_console, progress_bar, say, stdout_console
from .errors import bad_parameter, error_text, user_errors


def default_out(*parts) -> str:
    """A folder name from the command, data and target: ``compare-data-y`` (a column named
    ``a/b`` or ``..`` gives a name, not a path)."""
    return "-".join(re.sub(r"[^\w.=+-]+", "_", str(p)).strip(".") or "_" for p in parts)


def _csv(value):
    return None if value is None else [v.strip() for v in value.split(",") if v.strip()]


def _read_config(path: str) -> dict:
    file = Path(path)
    try:
        settings = tomllib.loads(file.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise bad_parameter("a readable UTF-8 TOML file", f"{path!r} ({error_text(error)})", "--config") from None
    data = settings.get("data")
    if isinstance(data, str) and not Path(data).is_absolute() and (file.parent / data).exists():
        settings["data"] = str(file.parent / data)
    return settings


def merged(ctx: click.Context, config_file: str | None, names) -> dict:
    """Command-line options, filled in from ``--config`` where not given on the line."""
    from_file = _read_config(config_file) if config_file else {}
    known = set(names) | {"description", "title"}
    unknown = sorted(set(from_file) - known)
    if unknown:
        raise click.BadParameter(f"keys must be among {', '.join(sorted(names))}; received {', '.join(unknown)}",
                                 param_hint="--config")
    out = {}
    for name in names:
        given = ctx.params.get(name)
        source = ctx.get_parameter_source(name) if name in ctx.params else None
        if name in from_file and (source is None or source.name == "DEFAULT"):
            out[name] = from_file[name]
        else:
            out[name] = given
    return out


def print_summary(comparison, console=None) -> None:
    """The primary metric's summary as a table on stdout (the title a line of its own, unwrapped)."""
    from rich.table import Table
    from rich.text import Text

    console = console or stdout_console()
    config, metric = comparison.config, comparison.metric
    say(console, f"{metric} on the test folds: {config.folds} folds x {config.seeds} seeds; mean and 95% CI; "
                 f"paired corrected t-test vs {config.baseline}, Holm-adjusted")
    table = Table()
    for column in ("rank", "loss", "n", metric, "95% CI", "diff vs baseline", "p (Holm)", "W/T/L"):
        table.add_column(Text(column), justify="left" if column == "loss" else "right", no_wrap=column == "loss")
    for r in comparison.rows:
        baseline = r.is_baseline
        cells = (str(r.rank), r.label, str(r.n), f"{r.mean:.4g}", f"[{r.ci_low:.4g}, {r.ci_high:.4g}]",
                 "" if baseline else f"{r.diff:+.3g}", "baseline" if baseline else _p(r.p_holm),
                 "" if baseline else f"{r.wins}/{r.ties}/{r.losses}")
        table.add_row(*map(Text, cells))  # Text: a label such as "[/]" is shown, not parsed
    console.print(table)


def _p(p) -> str:
    if math.isnan(p):
        return "n/a"
    return "<1e-4" if p < 1e-4 else f"{p:.3g}"


COMPARE_OPTIONS = ("data", "target", "losses", "model", "folds", "seeds", "metric", "baseline", "features",
                   "eval_target", "l2", "max_epochs", "patience", "task", "out", "jobs", "executor", "ray_address")


@click.command("compare")
@click.argument("data", required=False)
@click.option("--target", help="the target column (an index for .npy)")
@click.option("--losses", default="auto", show_default=True,
              help=f"'auto' (the recommender's top {AUTO_TOP} plus the standard loss) or e.g. 'mse,huber(delta=2),mae'")
@click.option("--model", default=MODEL, show_default=True, type=click.Choice(MODELS))
@click.option("--folds", default=FOLDS, show_default=True, type=int, help="k of k-fold (stratified for classes)")
@click.option("--seeds", default=SEEDS, show_default=True, type=int, help="repeats with other shuffles and inits")
@click.option("--metric", default=None, help="comma-separated metrics; the first is primary (default per task)")
@click.option("--baseline", default=None, help="the loss label tested against (default: the task's standard)")
@click.option("--features", default=None, help="comma-separated feature columns (default: all other numeric)")
@click.option("--eval-target", default=None, help="a column the metrics are computed on (e.g. a noise-free truth)")
@click.option("--l2", default=0.0, show_default=True, type=float, help="weight penalty 0.5*l2*||W||^2")
@click.option("--max-epochs", default=MAX_EPOCHS, show_default=True, type=int)
@click.option("--patience", default=PATIENCE, show_default=True, type=int, help="early-stopping patience (epochs)")
@click.option("--task", default=None, type=click.Choice(TASKS),
              help="override the detected task")
@click.option("--out", default=None, help="run folder (default: compare-<data>-<target>)")
@click.option("--jobs", default=1, show_default=True, type=int, help="trials in parallel on this machine")
@click.option("--executor", default="local", show_default=True, type=click.Choice(["local", "ray"]))
@click.option("--ray-address", default=None, help="Ray cluster address (default $RAY_ADDRESS or auto; 'local')")
@click.option("--reuse", is_flag=True, help="OUT holds a run with other losses/metrics: keep the shared trials")
@click.option("--overwrite", is_flag=True, help="OUT holds another run: move it to OUT/previous-<time>/")
@click.option("--config", "config_file", default=None, help="a TOML file of these settings")
@click.option("--no-report", is_flag=True, help="skip report.html")
@click.pass_context
def compare_command(ctx, config_file, reuse, overwrite, no_report, **_):
    """Train the same model with each candidate loss on the same folds and seeds; compare.

    Writes OUT/trials.jsonl (one record per finished trial: an interrupted
    run resumes where it stopped), OUT/summary.csv and OUT/report.html."""
    s = merged(ctx, config_file, COMPARE_OPTIONS)
    if not s["data"]:
        raise click.UsageError("compare: DATA must be a data file or a bundled dataset name; received none")
    run_compare(s, reuse=reuse, overwrite=overwrite, report=not no_report)


def run_compare(s: dict, *, reuse=False, overwrite=False, report=True, console=None):
    """Run one comparison from merged settings, with a progress bar and the summary; exit 130 on Ctrl-C."""
    from losskit.compare import compare

    console = console or make_console()
    with user_errors():
        if not isinstance(s["data"], str):
            raise ValueError(f"compare: DATA must be a file path or a bundled dataset name; received {s['data']!r}")
        out = s["out"] or default_out("compare", Path(s["data"]).stem, s["target"])
        features = _csv(s["features"]) if isinstance(s["features"], str) else s["features"]
        bar, update = progress_bar(console, "compare")
        try:
            with bar:
                comparison = compare(
                    s["data"], s["target"], losses=s["losses"], model=s["model"], folds=s["folds"], seeds=s["seeds"],
                    metric=s["metric"], baseline=s["baseline"], features=features, eval_target=s["eval_target"],
                    l2=s["l2"], max_epochs=s["max_epochs"], patience=s["patience"], task=s["task"], out=out,
                    jobs=s["jobs"], executor=s["executor"], ray_address=s["ray_address"], reuse=reuse,
                    overwrite=overwrite, report=report, progress=update)
        except KeyboardInterrupt:
            from losskit.compare.store import read_records

            kept = len(read_records(out, repair=False)) if Path(out).is_dir() else 0
            interrupted(console, f"{kept} finished trials are saved in {out}")
    for note in comparison.notes:
        say(console, f"note: {note}")
    print_summary(comparison)
    click.echo(f"trials: {comparison.out / 'trials.jsonl'}")
    if comparison.report:
        click.echo(f"report: {comparison.report}")
    return comparison


@click.command("tune")
@click.argument("data")
@click.option("--target", help="the target column")
@click.option("--loss", required=True, help="the loss to tune, e.g. huber")
@click.option("--param", "params", multiple=True, metavar="NAME[=LOW:HIGH[:log]]",
              help="a parameter to tune (repeatable); default: every real parameter of the loss")
@click.option("--l2", is_flag=True, help="also tune the L2 strength (log scale 1e-6..1)")
@click.option("--model", default=MODEL, show_default=True, type=click.Choice(MODELS))
@click.option("--folds", default=TUNE_FOLDS, show_default=True, type=int)
@click.option("--metric", default=None, help="the metric to optimise (first of a comma list; default per task)")
@click.option("--grid", default=GRID, show_default=True, type=int, help="points per validation curve")
@click.option("--trials", default=TRIALS, show_default=True, type=int, help="optuna trials")
@click.option("--confirm-seeds", default=CONFIRM_SEEDS, show_default=True, type=int,
              help="seeds of the closing compare of the centre vs the best setting")
@click.option("--features", default=None, help="comma-separated feature columns")
@click.option("--eval-target", default=None, help="a column the metrics are computed on")
@click.option("--max-epochs", default=MAX_EPOCHS, show_default=True, type=int)
@click.option("--patience", default=PATIENCE, show_default=True, type=int)
@click.option("--out", default=None, help="folder (default: tune-<data>-<loss>)")
@click.option("--overwrite", is_flag=True, help="OUT holds another tuning run: move it aside")
def tune_command(data, target, loss, params, l2, model, folds, metric, grid, trials, confirm_seeds, features,
                 eval_target, max_epochs, patience, out, overwrite):
    """Validation curves and Bayesian search (optuna) over a loss's parameters and L2; then a
    compare of the default vs the best setting, all in OUT/report.html. Resumable."""
    console = make_console()
    out = out or default_out("tune", Path(data).stem, loss)
    bar, _ = progress_bar(console, "tune")
    with user_errors():
        from losskit.compare.tune import tune

        try:
            with bar:
                result = tune(data, target, loss=loss, params=list(params) or None, l2=l2, model=model,
                              folds=folds, metric=metric, grid=grid, trials=trials, confirm_seeds=confirm_seeds,
                              features=features.split(",") if features else None, eval_target=eval_target,
                              max_epochs=max_epochs, patience=patience, out=out, overwrite=overwrite,
                              progress=bar.update)
        except KeyboardInterrupt:
            interrupted(console, f"finished work is saved in {out}")
    best = result.tuning["best"]
    click.echo(f"best {result.tuning['metric']} {best['value']:.4g} at "
               + ", ".join(f"{k}={v:g}" for k, v in best["params"].items()))
    print_summary(result)
    click.echo(f"report: {result.report}")


@click.command("demo")
@click.option("--out", default="losskit-demo", show_default=True, help="folder for the two runs")
@click.option("--folds", default=FOLDS, show_default=True, type=int)
@click.option("--seeds", default=SEEDS, show_default=True, type=int)
@click.option("--jobs", default=None, type=int, help="trials in parallel (default: up to 2)")
def demo_command(out, folds, seeds, jobs):
    """Recommend, compare and report on the two bundled datasets (no arguments, no network)."""
    with user_errors():
        run_demo(out, folds=folds, seeds=seeds, jobs=jobs)


def run_demo(out="losskit-demo", *, folds: int = FOLDS, seeds: int = SEEDS, jobs: int | None = None, console=None):
    """recommend -> compare -> report on each part of :data:`losskit.compare.demo.PARTS`; returns the Comparisons."""
    from losskit import datasets
    from losskit.compare.demo import PARTS
    from losskit.recommend import recommend
    from losskit.recommend.data import load_table

    console = console or make_console()
    jobs = jobs or min(2, os.cpu_count() or 1)
    results = []
    for title, part in PARTS:
        part = dict(part)
        name = part.pop("name")
        console.rule(f"[bold]{title}[/] ({part['data']})")
        table = load_table(datasets.path(part["data"]), part["target"], part.get("features"))
        rec = recommend(table.y, table.X, metric=part["metric"].split(",")[0], top=AUTO_TOP)
        say(console, "recommend:\n" + str(rec))
        settings = {k: None for k in ("baseline", "features", "eval_target", "task", "ray_address")}
        settings.update(losses="auto", model=MODEL, folds=folds, seeds=seeds, l2=0.0, max_epochs=MAX_EPOCHS,
                        patience=PATIENCE, jobs=jobs, executor="local", out=str(Path(out) / name), **part)
        results.append(run_compare(settings, console=console))
    click.echo("\nreports:")
    for r in results:
        click.echo(f"  {r.report}")
    return results
