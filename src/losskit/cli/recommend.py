"""``losskit recommend``: ranked losses for a target column (the ranking is :mod:`losskit.recommend`)."""

from __future__ import annotations

import click

from losskit.recommend import TOP

from .errors import bad_parameter, user_errors


def _split(ctx, param, text):
    if text is None:
        return None
    names = [t.strip() for t in text.split(",")]
    if not all(names):
        raise bad_parameter("comma-separated column names, e.g. a,b,c", repr(text))
    return names

@click.command("recommend")
@click.argument("data", type=click.Path(dir_okay=False))
@click.option("--target", default=None, metavar="COL",
              help="the target column (a column index for a 2-D .npy; left out for a 1-D .npy)")
@click.option("--features", default=None, callback=_split, metavar="A,B,...",
              help="feature columns (default: every other numeric column without missing values)")
@click.option("--metric", default=None, metavar="M",
              help="the evaluation metric, e.g. mae, pinball@0.9, f1, auprc, poisson_deviance")
@click.option("--top", default=TOP, show_default=True, type=click.IntRange(min=1), help="how many losses to rank")
@click.option("--task", default=None, help="override the detected task (e.g. counts, multiclass)")
@click.option("--json", "as_json", is_flag=True, help="the recommendation as JSON (with the notes)")
def recommend_command(data, target, features, metric, top, task, as_json):
    """Recommend losses for the target column of DATA (.csv, .parquet or .npy):
    the ranked losses with suggested parameters and the evidence, and the
    losses to avoid. Notes say what was read (text targets encoded as
    classes, columns left out of the features). Exit 2 for bad input (a
    missing file or column, an empty file, NaN in the target, a constant
    target), with the reason."""
    from losskit.recommend import recommend
    from losskit.recommend.data import load_table

    with user_errors():
        table = load_table(data, target, features)
        rec = recommend(table.y, table.X, metric, top=top, task=task)
    if as_json:
        import json

        click.echo(json.dumps({**rec.as_dict(), "features": list(table.features), "notes": list(table.notes)},
                              indent=2))
        return
    for note in table.notes:
        click.echo(f"note: {note}")
    click.echo(str(rec))
