"""The ``compare``, ``tune`` and ``demo`` commands (click), added to ``losskit``'s command group.

Settings may come from a TOML file (``--config FILE``) whose keys are the
long option names with underscores (``losses``, ``eval_target``, ...);
options given on the command line win over the file. A relative ``data`` in
the file is read relative to the file.
"""

from __future__ import annotations

import contextlib
import math
import re
import sys
from pathlib import Path

import click
import tomllib

# errors of the user's making: the library raises these with a message naming the argument;
# OSError and MemoryError too (a file or folder that cannot be read or written, data too large)
USER_ERRORS = (ValueError, TypeError, OSError, MemoryError, ImportError)


class Refused(click.ClickException):
    """A user error: one line on stderr ("Error: ..."), exit status 2, no traceback."""

    exit_code = 2


def error_text(error: BaseException) -> str:
    """One line saying what is wrong: the library's house message, or the OS's reason and file."""
    if isinstance(error, MemoryError):
        return f"not enough memory ({error or 'MemoryError'}); use smaller data, or fewer --jobs"
    if isinstance(error, OSError) and error.strerror:  # raised by the OS, not by losskit
        return f"{error.strerror}: {str(error.filename)!r}" if error.filename else error.strerror
    return " ".join(str(error).split()) or type(error).__name__


@contextlib.contextmanager
def user_errors():
    """Around a command's work: an error of the user's making exits 2 with one line."""
    try:
        yield
    except click.ClickException:
        raise
    except USER_ERRORS as error:
        raise Refused(error_text(error)) from None


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
        raise click.BadParameter(f"must be a readable UTF-8 TOML file; received {path!r} ({error_text(error)})",
                                 param_hint="--config") from None
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


def _console(**kwargs):
    """stderr, messages unwrapped (soft_wrap): a message is one line whatever the terminal's width."""
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True, **kwargs)


def say(console, text: str) -> None:
    """Print ``text`` as it is: user data (column names, labels, paths) is never read as markup."""
    console.print(text, markup=False, highlight=False)


class _Bar:
    """A rich progress bar drawn only from its first update, so that every input error is
    reported before any bar (``update`` comes after the checks); stopped on leaving ``with``."""

    def __init__(self, progress, description: str):
        self.progress = progress
        self.task = progress.add_task(description, total=None, last="")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.progress.stop()

    def update(self, text: str, done: int, total: int) -> None:
        self.progress.start()  # a no-op once started
        self.progress.update(self.task, completed=done, total=total, last=text)


def progress_bar(console, description: str):
    """A rich progress bar; returns (the bar, a callback for ``execute``: (record, done, total))."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[last]}", markup=False), TimeElapsedColumn(), TimeRemainingColumn(),
                        console=console, transient=False)
    bar = _Bar(progress, description)

    def update(record, done, total):
        last = "" if record is None else f"{record['label']} fold {record['fold']} seed {record['seed']}"
        bar.update(last, done, total)
    return bar, update


def print_summary(comparison, console=None) -> None:
    """The primary metric's summary as a table on stdout (the title a line of its own, unwrapped)."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = console or Console(width=None if sys.stdout.isatty() else 140, soft_wrap=True)
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


def register(app: click.Group) -> None:
    """Add ``compare``, ``tune`` and ``demo`` to the ``losskit`` command group."""

    @app.command("compare")
    @click.argument("data", required=False)
    @click.option("--target", help="the target column (an index for .npy)")
    @click.option("--losses", default="auto", show_default=True,
                  help="'auto' (the recommender's top 3 plus the standard loss) or e.g. 'mse,huber(delta=2),mae'")
    @click.option("--model", default="linear", show_default=True, type=click.Choice(["linear", "mlp", "gbdt"]))
    @click.option("--folds", default=5, show_default=True, type=int, help="k of k-fold (stratified for classes)")
    @click.option("--seeds", default=3, show_default=True, type=int, help="repeats with other shuffles and inits")
    @click.option("--metric", default=None, help="comma-separated metrics; the first is primary (default per task)")
    @click.option("--baseline", default=None, help="the loss label tested against (default: the task's standard)")
    @click.option("--features", default=None, help="comma-separated feature columns (default: all other numeric)")
    @click.option("--eval-target", default=None, help="a column the metrics are computed on (e.g. a noise-free truth)")
    @click.option("--l2", default=0.0, show_default=True, type=float, help="weight penalty 0.5*l2*||W||^2")
    @click.option("--max-epochs", default=200, show_default=True, type=int)
    @click.option("--patience", default=15, show_default=True, type=int, help="early-stopping patience (epochs)")
    @click.option("--task", default=None, type=click.Choice(["regression", "quantile", "binary", "multiclass"]),
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

    from .demo import register as register_demo
    from .tune import register as register_tune

    register_tune(app)
    register_demo(app)


def run_compare(s: dict, *, reuse=False, overwrite=False, report=True, console=None):
    """Run one comparison from merged settings, with a progress bar and the summary; exit 130 on Ctrl-C."""
    from . import compare

    console = console or _console()
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
            from .store import read_records

            kept = len(read_records(out, repair=False)) if Path(out).is_dir() else 0
            interrupted(console, f"{kept} finished trials are saved in {out}")
    for note in comparison.notes:
        say(console, f"note: {note}")
    print_summary(comparison)
    click.echo(f"trials: {comparison.out / 'trials.jsonl'}")
    if comparison.report:
        click.echo(f"report: {comparison.report}")
    return comparison


def interrupted(console, saved: str):
    """Ctrl-C: say what is kept and how to resume (one unwrapped line), exit 130."""
    from rich.text import Text

    console.print(Text.assemble(("interrupted", "yellow"), f": {saved}; run the same command to resume."),
                  highlight=False)
    sys.exit(130)
