"""``losskit plot``: loss and gradient curves (the drawing is :mod:`losskit.plots`)."""

from __future__ import annotations

import click

from losskit.compare.config import parse_assignment

from .errors import bad_parameter, user_errors
from .losses import lookup


def _parse_values(ctx, param, texts):
    """``NAME=V1,V2,...`` (repeatable) -> {name: [v1, v2, ...]}, read by the one NAME=VALUE reader."""
    values = {}
    for text in texts:
        key, value = parse_assignment(text, "NAME=V1,V2,..., e.g. delta=0.5,1,2", bad_parameter)
        numbers = value if isinstance(value, tuple) else (value,)
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in numbers):
            raise click.BadParameter(f"values must be numbers; received {text!r}")
        values[key] = [float(v) for v in numbers]
    return values


def _parse_what(ctx, param, text):
    from losskit.plots import WHATS

    what = tuple(w.strip() for w in text.split(","))
    if not all(w in WHATS for w in what):
        raise bad_parameter("loss, gradient or loss,gradient", repr(text))
    return what

def _check_out(ctx, param, value):
    from pathlib import Path

    if value is not None and not value.lower().endswith((".png", ".svg")):
        raise click.BadParameter(f"must end in .png or .svg; received {value!r}")
    if value is not None and not Path(value).absolute().parent.is_dir():
        raise bad_parameter("a file in an existing folder", repr(value))
    return value

@click.command("plot")
@click.argument("names", nargs=-1)
@click.option("--preset", type=click.Choice(["robust", "saturation"]), default=None,
              help="robust: MSE/MAE/Huber/Tukey on residuals; saturation: cross-entropy vs MSE on a sigmoid")
@click.option("--param", "params", multiple=True, callback=_parse_values, metavar="NAME=V1,V2",
              help="one curve per value for each loss with that parameter (repeatable)")
@click.option("--what", default="loss,gradient", callback=_parse_what, help="loss, gradient or loss,gradient")
@click.option("--link", type=click.Choice(["sigmoid"]), default=None,
              help="apply regression losses to sigmoid(x) (x: the logit, target 1)")
@click.option("--out", default=None, callback=_check_out, help="FILE.png or FILE.svg (default NAME.png here)")
def plot_command(names, preset, params, what, link, out):
    """Loss and gradient curves against the residual (regression) or the
    logit / margin (binary, target 1). Exit 2 for usage errors."""
    from losskit.plots import PRESETS, plot_losses

    if preset:
        if names:
            raise click.UsageError("give NAMES or --preset, not both")
        names, link = PRESETS[preset]["names"], PRESETS[preset].get("link", link)
    if not names:
        raise click.UsageError("give at least one loss NAME, or --preset robust|saturation")
    for name in names:
        lookup(name)
    out = out or f"{preset or '_'.join(names)}.png"
    with user_errors():  # a bad parameter, an --out folder that does not exist or cannot be written
        import matplotlib.pyplot as plt

        fig = plot_losses(list(names), params=params, what=what, link=link, out=out,
                          title=preset and f"losskit plot --preset {preset}")
        plt.close(fig)
    click.echo(out)
