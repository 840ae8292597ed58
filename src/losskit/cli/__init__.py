"""The ``losskit`` command line: one module per command group, imported when its command runs.

``COMMANDS`` maps each command to (module, attribute, short help). ``losskit --help``
reads the short help from the table, so listing the commands imports none of them;
a command whose module (or one of its optional imports) fails to import answers
with one line and exit status 2, and every other command still works.
"""

from __future__ import annotations

import importlib

import click

# command -> (module under losskit.cli, the click command in it, the short help `losskit --help` shows)
COMMANDS = {
    "list": ("losses", "list_losses", "The registry, with a worked value per loss."),
    "show": ("losses", "show_loss", "Everything about one loss: formula, parameters, gradient, advice."),
    "check": ("check", "check_loss", "Check a loss: derivatives, minimum, convexity, extremes, backends."),
    "plot": ("plot", "plot_command", "Loss and gradient curves against the residual or the logit."),
    "recommend": ("recommend", "recommend_command", "Recommend losses for the target column of a data file."),
    "compare": ("compare", "compare_command", "Train one model with each candidate loss on the same folds; compare."),
    "tune": ("compare", "tune_command", "Validation curves and Bayesian search over a loss's parameters."),
    "demo": ("compare", "demo_command", "Recommend, compare and report on the two bundled datasets."),
    "bench": ("bench", "bench_command", "Time losskit's fast paths against eager PyTorch, compile and peers."),
}

# names tests and docs import from losskit.cli (the list/show helpers), loaded on first use
_FROM_LOSSES = ("describe", "format_description", "format_table", "markdown_table", "parameter_table",
                "plain_formula",
                "worked_example")


class LazyGroup(click.Group):
    """A click group that imports a command's module only when that command runs (click's
    documented lazy-loading pattern), with each command's short help kept in ``COMMANDS``."""

    def list_commands(self, ctx):
        return list(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        module, attribute, short_help = COMMANDS[name]
        if ctx.resilient_parsing or _listing_help(ctx):
            return click.Command(name, short_help=short_help)  # `losskit --help`: the table's help, no import
        try:
            command = getattr(importlib.import_module(f"{__name__}.{module}"), attribute)
        except ImportError as error:
            return _unavailable(name, error)
        return command


def _listing_help(ctx) -> bool:
    """True while click formats the group's own help (``losskit --help``), which asks every command."""
    return getattr(ctx, "_losskit_listing", False)


def _unavailable(name: str, error: ImportError) -> click.Command:
    """A stand-in for a command that cannot be imported: any arguments, one line, exit 2."""
    from .errors import Refused, error_text

    def refuse():
        raise Refused(f"losskit {name} must have its modules importable (install losskit[all]); "
                      f"received {type(error).__name__}: {error_text(error)}")

    return click.Command(name, callback=refuse, add_help_option=False,
                         context_settings={"ignore_unknown_options": True, "allow_extra_args": True})


class _App(LazyGroup):
    def format_commands(self, ctx, formatter):
        ctx._losskit_listing = True  # short help from the table: --help imports no command module
        try:
            super().format_commands(ctx, formatter)
        finally:
            ctx._losskit_listing = False


@click.group(cls=_App, invoke_without_command=True)
@click.pass_context
def app(ctx):
    """losskit: loss functions for machine learning. With no command, lists the losses."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(app.get_command(ctx, "list"))


def main(argv=None):
    return app.main(args=argv, prog_name="losskit")


def __getattr__(name):
    if name in _FROM_LOSSES:
        from . import losses

        return getattr(losses, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
