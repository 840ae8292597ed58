"""The ``losskit`` command line.

``losskit`` with no arguments (the README's main job until the compare
harness lands) prints the registry: every loss with a worked value computed
on a small fixed example, so the table doubles as a smoke test of the install.
"""

from __future__ import annotations

import math

import numpy as np

from . import domains as D
from .registry import LossSpec, specs

try:
    import click
except ImportError:  # pragma: no cover - the cli extra is missing
    click = None

# A fixed example per kind of input, chosen inside every domain.
_RAW = np.array([-1.0, 0.5, 2.0])
_REAL_TARGET = np.array([0.5, 1.0, 2.5])  # no zero: mape divides by |target|
_POSITIVE_TARGET = np.array([0.5, 1.0, 3.0])
_LOGITS = np.array([[2.0, -1.0, 0.5], [0.1, 0.2, 3.0]])


def _example_target(domain, shape):
    if isinstance(domain, D.ClassIndex):
        return np.array([0, 2])
    if isinstance(domain, D.Discrete):
        values = np.asarray(domain.values, dtype=np.float64)
        return np.resize(values[::-1], shape)
    if domain.low >= 0 and domain.high <= 1:
        return np.resize(np.array([1.0, 0.0, 1.0]), shape)
    if math.isfinite(domain.low) and domain.low >= 0:
        return np.resize(_POSITIVE_TARGET, shape)
    return np.resize(_REAL_TARGET, shape)


def worked_example(spec: LossSpec):
    """(input, target, extras, value) of the loss on a small fixed example."""
    if spec.kind == "structured":  # embeddings, lattices, boxes: the spec's own example
        args, kwargs = spec.example(np.random.default_rng(0))
        extras = {**dict(zip(spec.inputs[2:], args[2:])), **kwargs}
        return args[0], args[1], extras, float(spec.function(*args, **kwargs))
    if spec.kind == "class_axis":
        raw = _LOGITS
        target = _example_target(spec.target_domain, (2,))
        if isinstance(spec.target_domain, D.Interval):
            target = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    else:
        raw = _RAW
        target = _example_target(spec.target_domain, raw.shape)
    x = raw
    if spec.link == "sigmoid":
        x = 1.0 / (1.0 + np.exp(-raw))
    elif spec.link == "exp":
        x = np.exp(raw)
    elif spec.link in ("softmax", "log_softmax"):
        logp = raw - np.log(np.exp(raw).sum(axis=1, keepdims=True))
        x = np.exp(logp) if spec.link == "softmax" else logp
    elif spec.input_domain is D.UNIT:
        x = np.array([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6]]) if spec.kind == "class_axis" else np.array([0.8, 0.3, 0.6])
    elif isinstance(spec.input_domain, D.Interval) and math.isfinite(spec.input_domain.low):
        x = np.abs(raw) + max(spec.input_domain.low, 0.0) + 0.1
    elif isinstance(spec.input_domain, D.Interval) and math.isfinite(spec.input_domain.high):
        x = -np.abs(raw) - 0.1
    extras = {name: np.full(x.shape, 0.8) for name in spec.extra_inputs}
    value = float(spec.function(x, target, *extras.values()))
    return x, target, extras, value


def _rows(family, task):
    rows = []
    for spec in specs(family=family, task=task):
        try:
            value = f"{worked_example(spec)[3]:.4f}"
        except Exception as error:  # noqa: BLE001 - shown in the table, loudly
            value = f"ERROR: {error}"
        flags = ",".join(f for f, on in (("robust", spec.robust), ("convex", spec.convex)) if on)
        rows.append((spec.name, spec.task, _clip(spec.input_space, 22), _clip(spec.estimates, 30), flags, value))
    return rows


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def format_table(rows, header) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(header, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)


def markdown_table(selected) -> str:
    """The README's table of losses, made from the registry."""
    lines = [
        "| loss (aliases) | family / task | input | estimates | robust | convex | Hessian >= 0 | matches |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in selected:
        aliases = f" ({', '.join(s.aliases)})" if s.aliases else ""
        params = ", ".join(f"{p.name}={p.default!r}" for p in s.params)
        name = f"`{s.name}`{aliases}" + (f"<br>{params}" if params else "")
        hess = "n/a" if not s.pointwise else ("yes" if s.hessian_nonnegative else "no")
        yes = {True: "yes", False: "no"}
        peers = "<br>".join(f"`{p}`" for p in s.peers) or "reference math"
        lines.append(
            f"| {name} | {s.family} / {s.task} | {s.input_space} | {s.estimates} | {yes[s.robust]} | "
            f"{yes[s.convex]} | {hess} | {peers} |"
        )
    return "\n".join(lines)


if click is not None:

    @click.group(invoke_without_command=True)
    @click.pass_context
    def app(ctx):
        """losskit: loss functions for machine learning. With no command, lists the losses."""
        if ctx.invoked_subcommand is None:
            ctx.invoke(list_losses)

    def _registered(field):
        def check(ctx, param, value):
            known = sorted({getattr(s, field) for s in specs()})
            if value is not None and value not in known:
                raise click.BadParameter(f"must be one of {', '.join(known)}; received {value!r}")
            return value

        return check

    @app.command("list")
    @click.option("--family", default=None, callback=_registered("family"),
                  help="regression, classification, divergence, metric, segmentation, sequence or boxes")
    @click.option("--task", default=None, callback=_registered("task"),
                  help="e.g. regression, binary, multiclass, count, embedding, segmentation, detection")
    @click.option("--markdown", is_flag=True, help="a Markdown table of the specs (the README's)")
    def list_losses(family, task, markdown):
        """The registry, with a worked value per loss (mean over a small fixed example)."""
        if markdown:
            click.echo(markdown_table(specs(family=family, task=task)))
            return
        rows = _rows(family, task)
        header = ("name", "task", "input", "estimates", "flags", "example")
        click.echo(format_table(rows, header))
        click.echo(f"\n{len(rows)} losses. Example values: default parameters, reduction='mean'.")
        if any(r[-1].startswith("ERROR") for r in rows):
            raise SystemExit(1)

    def _load_function(text: str, what: str):
        """``MODULE:FUNCTION`` or ``path/to/file.py:FUNCTION`` -> the callable."""
        import importlib
        import importlib.util
        from pathlib import Path

        where, _, attr = text.rpartition(":")
        if not where or not attr:
            raise click.BadParameter(f"must be MODULE:FUNCTION or path/to/file.py:FUNCTION; received {text!r}",
                                     param_hint=what)
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
        except Exception as error:  # noqa: BLE001 - the user's module: say why it did not import
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
        key, sep, value = text.partition("=")
        if not sep or not key.isidentifier():
            raise click.BadParameter(f"must be NAME=VALUE, e.g. gamma=2; received {text!r}", param_hint="--param")
        words = {"true": True, "false": False, "none": None, "null": None}
        if value.lower() in words:
            return key, words[value.lower()]
        import ast

        try:
            return key, ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return key, value  # a choice such as mode=binary

    @app.command("check")
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
        from .checker import SEED, check, resolve
        from .registry import spec as registered

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
        try:
            spec = resolve(loss, **options)
            report = check(spec, params=setting, grid=grid, seed=SEED if seed is None else seed)
        except (ValueError, TypeError) as error:  # a defined loss with --gradient, a bad parameter, structured
            raise click.UsageError(str(error)) from error
        click.echo(report.to_json(indent=2) if as_json else str(report))
        if not report.passed:
            raise SystemExit(1)


def main(argv=None):
    if click is None:
        raise SystemExit("losskit: the command line needs click; install it with pip install 'losskit[cli]'")
    return app.main(args=argv, prog_name="losskit")
