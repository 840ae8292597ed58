"""``losskit check``: the property checks of one loss (the checker is :mod:`losskit.testing.checker`)."""

from __future__ import annotations

from functools import partial

import click

from losskit.compare.config import parse_assignment

from .errors import bad_parameter, user_errors


def _load_function(text: str, what: str):
    """``MODULE:FUNCTION`` or ``path/to/file.py:FUNCTION`` -> the callable."""
    import importlib
    import importlib.util
    from pathlib import Path

    where, _, attr = text.rpartition(":")
    if not where or not attr:
        raise bad_parameter("MODULE:FUNCTION or path/to/file.py:FUNCTION", repr(text), what)
    try:
        if where.endswith(".py") or "/" in where or "\\" in where:
            path = Path(where)
            if not path.is_file():
                raise click.BadParameter(f"file {where!r} does not exist", param_hint=what)
            found = importlib.util.spec_from_file_location(f"_losskit_check_{path.stem}", path)
            module = importlib.util.module_from_spec(found)
            found.loader.exec_module(module)
        else:
            import os
            import sys

            if os.getcwd() not in sys.path:  # the console script leaves the working directory out (as uvicorn does)
                sys.path.insert(0, os.getcwd())
            module = importlib.import_module(where)
    except click.BadParameter:
        raise
    except Exception as error:
        raise click.BadParameter(f"module {where!r} cannot be imported: {type(error).__name__}: {error}",
                                 param_hint=what) from error
    if not hasattr(module, attr):
        public = [n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n))]
        close = __import__("difflib").get_close_matches(attr, public, n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise click.BadParameter(f"module {where!r} has no attribute {attr!r}.{hint}", param_hint=what)
    function = getattr(module, attr)
    if not callable(function):
        raise click.BadParameter(f"{text} must be callable; received {type(function).__name__}", param_hint=what)
    return function

def _parse_param(text: str):
    return parse_assignment(text, "NAME=VALUE, e.g. gamma=2", partial(bad_parameter, param_hint="--param"))


@click.command("check")
@click.argument("target")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
              help="a parameter setting to check (repeatable); default: the loss's defaults")
@click.option("--grid", is_flag=True, help="also check every setting of the loss's param_grid")
@click.option("--json", "as_json", is_flag=True, help="the report as JSON")
@click.option("--seed", default=None, type=int, help="seed of the drawn inputs")
@click.option("--gradient", default=None, metavar="MODULE:FUNC",
              help="closed-form gradient w.r.t. the raw score (plain function only)")
@click.option("--hessian", default=None, metavar="MODULE:FUNC",
              help="closed-form Hessian w.r.t. the raw score (plain function only)")
@click.option("--link", default=None, type=click.Choice(["identity", "sigmoid", "exp"]),
              help="raw score -> input of a plain function (default identity)")
def check_loss(target, params, grid, as_json, seed, gradient, hessian, link):
    """Check a loss: gradient and Hessian vs finite differences, minimum,
    convexity, Hessian sign (GBDT), extreme inputs, float32, backends, reductions.

    TARGET is a registered loss NAME, or MODULE:FUNCTION (also
    path/to/file.py:FUNCTION): a function registered with register_loss is
    checked as registered; a plain per-element function f(input, target, *,
    xp, **params) is wrapped with define_loss (not registered). Exit status
    0 when no check fails (WARN allowed), 1 when one fails, 2 for usage errors.
    """
    from losskit.registry import spec as registered
    from losskit.testing.checker import SEED, check, resolve

    if ":" in target:
        loss = _load_function(target, "TARGET")
    else:
        try:
            loss = registered(target)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="TARGET") from error
    options = {"gradient": gradient and _load_function(gradient, "--gradient"),
               "hessian": hessian and _load_function(hessian, "--hessian"), "link": link}
    setting = dict(_parse_param(p) for p in params) if params else None
    with user_errors():  # a defined loss with --gradient, a bad parameter, structured
        spec = resolve(loss, **options)
        report = check(spec, params=setting, grid=grid, seed=SEED if seed is None else seed)
    click.echo(report.to_json(indent=2) if as_json else str(report))
    if not report.passed:
        raise SystemExit(1)
