"""``losskit list`` and ``losskit show``: the registry, and everything about one loss.

``losskit`` with no arguments prints the registry too: every loss with a worked
value computed on a small fixed example, so the table doubles as a smoke test
of the install. Only NumPy and the registry are imported here.
"""

from __future__ import annotations

import math

import numpy as np

import click

from losskit import domains as D
from losskit.registry import LossSpec, specs

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



def _short(doc: str, width: int = 90) -> str:
    """DOC's first clause (up to "; "), cut at a word boundary to WIDTH characters, for a table cell."""
    doc = doc.split("; ")[0]
    if len(doc) <= width:
        return doc
    return doc[: doc.rfind(" ", 0, width - 1)].rstrip(",;:") + " …"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _param_domain(p) -> str:
    if isinstance(p.domain, tuple):
        return "one of " + ", ".join(f"`{v!r}`" for v in p.domain)
    return p.kind if p.domain is None else _domain_text(p.domain)


def parameter_table(selected) -> str:
    """docs/parameters.md's table: every parameter name of the SELECTED specs, one row per
    (name, meaning), with the losses that use it grouped by family, its domains and defaults."""
    rows: dict[tuple[str, str], list] = {}
    for s in selected:
        for p in s.params:
            rows.setdefault((p.name, _short(p.doc)), []).append((s, p))
    lines = ["| parameter | meaning | losses (by family) | domain | default |", "|---|---|---|---|---|"]
    for (name, doc), uses in sorted(rows.items(), key=lambda kv: kv[0][0]):
        families: dict[str, list[str]] = {}
        for s, _ in uses:
            families.setdefault(s.family, []).append(f"`{s.name}`")
        losses = "<br>".join(f"{family}: {', '.join(names)}" for family, names in families.items())
        domains = "; ".join(dict.fromkeys(_param_domain(p) for _, p in uses))
        defaults = {f"`{p.default!r}`" for _, p in uses}
        defaults = defaults.pop() if len(defaults) == 1 else ", ".join(f"{s.name} `{p.default!r}`" for s, p in uses)
        lines.append(f"| `{name}` | {_cell(doc)} | {losses} | {_cell(domains)} | {defaults} |")
    return "\n".join(lines)

# LaTeX in the docstrings' ``.. math::`` blocks -> plain text for ``losskit show``.
_TEX = (
    (r"\tfrac12", "½"), (r"\frac12", "½"), (r"\left", ""), (r"\right", ""), (r"\bigl", ""), (r"\bigr", ""),
    (r"\Bigl", ""), (r"\Bigr", ""), (r"\qquad", "    "), (r"\quad", "  "), (r"\,", " "), (r"\;", " "), (r"\!", ""),
    (r"\le", "<="), (r"\ge", ">="), (r"\cdot", "*"), (r"\times", "x"), (r"\sum", "sum"), (r"\prod", "prod"),
    (r"\log", "log"), (r"\exp", "exp"), (r"\max", "max"), (r"\min", "min"), (r"\in", "in"), (r"\infty", "inf"),
    (r"\mid", "|"), (r"\lvert", "|"), (r"\rvert", "|"), (r"\lVert", "||"), (r"\rVert", "||"), (r"\_", "_"),
    (r"\alpha", "α"), (r"\beta", "β"), (r"\gamma", "γ"), (r"\delta", "δ"), (r"\varepsilon", "ε"), (r"\epsilon", "ε"),
    (r"\lambda", "λ"), (r"\mu", "μ"), (r"\sigma", "σ"), (r"\tau", "τ"), (r"\rho", "ρ"), (r"\pi", "π"),
    (r"\theta", "θ"), (r"\psi", "ψ"), (r"\phi", "φ"), (r"\ell", "ℓ"), (r"\sqrt", "sqrt"), (r"\operatorname", ""),
    (r"\tanh", "tanh"), (r"\cosh", "cosh"), (r"\sign", "sign"), (r"\hat", ""), (r"\tilde", ""), (r"\bar", ""),
)


def plain_formula(docstring: str | None) -> str | None:
    r"""The first ``.. math::`` block of a docstring as plain text (LaTeX
    macros spelled out, ``\frac{a}{b}`` as ``(a)/(b)``); None without one.

    >>> plain_formula(".. math::\n    \\ell = \\tfrac12 r^2,\\quad \\frac{a}{b}\n\nText.")
    'ℓ = ½ r^2, (a)/(b)'
    """
    import re

    lines = (docstring or "").expandtabs().splitlines()
    for i, line in enumerate(lines):
        if line.strip().startswith(".. math::"):
            indent = len(line) - len(line.lstrip())
            block = []
            for follow in lines[i + 1:]:
                if follow.strip() and len(follow) - len(follow.lstrip()) <= indent:
                    break
                block.append(follow.strip())
            text = " ".join(b for b in block if b)
            break
    else:
        return None
    text = re.sub(r"\\(?:text|mathrm|mathcal|mathbf|mathbb|operatorname)\{([^{}]*)\}", r"\1", text)
    for _ in range(3):  # nested fractions
        text = re.sub(r"\\[dt]?frac\{([^{}]*)\}\{([^{}]*)\}", r"(\1)/(\2)", text)
    for tex, plain in sorted(_TEX, key=lambda t: -len(t[0])):  # longest first: \left before \le
        tail = r"(?![A-Za-z])" if tex[-1].isalpha() else ""  # \le is not \left; \_ may precede a letter
        text = re.sub(re.escape(tex) + tail, lambda _m, p=plain: p, text)
    return re.sub(r"\s+", " ", text).strip()


def _raw_for_example(spec: LossSpec, x):
    """The raw score (margin, logit, log-mean) behind worked_example's input."""
    if spec.link in ("softmax", "log_softmax"):
        return _LOGITS
    if spec.link in ("sigmoid", "exp"):
        return _RAW
    return x


def _array_text(a) -> str:
    a = np.asarray(a)
    if a.size > 12:
        return f"<array shape {a.shape}, dtype {a.dtype}>"
    return np.array2string(a, precision=4, separator=", ").replace("\n", "")


def _domain_text(domain) -> str:
    return domain.describe() if hasattr(domain, "describe") else str(domain)


def describe(spec: LossSpec) -> dict:
    """Everything ``losskit show`` prints, as a JSON-ready dict."""
    from losskit.registry import Loss

    x, target, extras, value = worked_example(spec)
    example = {"input": _array_text(x), "target": _array_text(target),
               "extras": {k: _array_text(v) for k, v in extras.items() if isinstance(v, np.ndarray)},
               "options": {k: v for k, v in extras.items() if not isinstance(v, np.ndarray)},
               "value (mean)": value}
    gradient = {"closed_form": spec.derivatives is not None, "with_respect_to": "raw score" if spec.pointwise
                else spec.inputs[0], "link (raw -> input)": spec.link}
    if spec.derivatives is not None:
        loss = Loss(spec)
        if spec.kind == "structured":
            grad = loss.gradient(x, target, *[v for v in extras.values() if isinstance(v, np.ndarray)])
            example["gradient"] = _array_text(grad)
        else:
            raw = _raw_for_example(spec, x)
            example["raw"] = _array_text(raw)
            # extra arrays (gaussian_nll's var) go to the derivatives by name
            example["gradient"] = _array_text(loss.gradient(raw, target, **extras))
            example["hessian"] = _array_text(loss.hessian(raw, target, **extras))
    use, avoid = _when(spec)
    return {
        "name": spec.name, "aliases": list(spec.aliases), "summary": spec.summary,
        "family": spec.family, "task": spec.task, "kind": spec.kind,
        "input": spec.input_space, "input_domain": _domain_text(spec.input_domain),
        "target_domain": _domain_text(spec.target_domain), "raw_domain": _domain_text(spec.raw_domain),
        "formula": plain_formula(spec.function.__doc__),
        "parameters": [{"name": p.name, "default": p.default, "kind": p.kind,
                        "range": _domain_text(p.domain) if p.domain is not None else None, "doc": p.doc}
                       for p in spec.params],
        "estimates": spec.estimates, "robust": spec.robust, "convex": spec.convex,
        "hessian_nonnegative": spec.hessian_nonnegative if spec.pointwise else None,
        "gradient": gradient, "use_when": use, "avoid_when": avoid,
        "peers": list(spec.peers), "references": list(spec.references), "notes": spec.notes,
        "example": example,
    }


def _when(spec: LossSpec):
    """"Use when" / "avoid when" lines from the spec's flags and from the
    recommender's rule table (the rows that rank or avoid this loss), so the
    advice here and ``losskit recommend`` come from one place."""
    from losskit.recommend.rules import RULES
    use = [f"a {spec.task} task with {spec.input_space} inputs, to estimate: {spec.estimates}"]
    avoid = []
    noisy = "outliers in the target" if spec.family in ("regression", "probabilistic") else "label noise or outliers"
    if spec.robust:
        use.append(f"{noisy} (robust)")
    elif spec.family in ("regression", "probabilistic", "classification", "binary"):
        avoid.append(f"{noisy} (not robust)")
    if not spec.convex:
        avoid.append("there is no good starting point (non-convex)")
    if spec.pointwise and not spec.hessian_nonnegative:
        avoid.append("second-order boosting without a surrogate Hessian (the Hessian can be negative)")
    for lines, avoided in ((use, False), (avoid, True)):
        names = [rule.name for rule in RULES if rule.loss == spec.name and rule.avoid == avoided]
        if names:
            lines.append("the recommender's rules " + ", ".join(f'"{n}"' for n in names))
    if spec.notes:
        use.append(f"see the notes: {spec.notes}")
    return use, avoid


def format_description(d: dict) -> str:
    """``describe``'s dict as the text ``losskit show`` prints."""
    yes = {True: "yes", False: "no", None: "n/a"}
    out = [f"{d['name']}" + (f" (aliases: {', '.join(d['aliases'])})" if d["aliases"] else ""), f"  {d['summary']}", ""]
    out.append(f"family / task:  {d['family']} / {d['task']} ({d['kind']})")
    out.append(f"input:          {d['input']} in {d['input_domain']}; target in {d['target_domain']}")
    out.append(f"formula:        {d['formula'] or 'not given in the docstring; see the summary'}")
    out.append("parameters:" + ("" if d["parameters"] else "     none"))
    for p in d["parameters"]:
        rng = f", {p['range']}" if p["range"] else ""
        out.append(f"  {p['name']} = {p['default']!r} ({p['kind']}{rng}): {p['doc']}")
    g = d["gradient"]
    out.append(f"gradient:       {'closed form' if g['closed_form'] else 'autograd only'} w.r.t. the "
               f"{g['with_respect_to']} (link {g['link (raw -> input)']})")
    out.append(f"estimates:      {d['estimates']}")
    out.append(f"robust: {yes[d['robust']]}   convex: {yes[d['convex']]}   Hessian >= 0: {yes[d['hessian_nonnegative']]}")
    out.append("use when:       " + "; ".join(d["use_when"]))
    out.append("avoid when:     " + ("; ".join(d["avoid_when"]) or "nothing the spec flags"))
    if d["peers"]:
        out.append("matches:        " + ", ".join(d["peers"]))
    out.append("references:" + ("" if d["references"] else "     none listed"))
    out += [f"  - {r}" for r in d["references"]]
    e = d["example"]
    out.append("worked example (default parameters):")
    for key in ("raw", "input", "target"):
        if key in e:
            out.append(f"  {key + ':':9} {e[key]}")
    for k, v in {**e["extras"], **e["options"]}.items():
        out.append(f"  {k}: {v}")
    out.append(f"  loss (mean): {e['value (mean)']:.6g}")
    for key in ("gradient", "hessian"):
        if key in e:
            out.append(f"  {key}: {e[key]}")
    return "\n".join(out)


# -- the commands ---------------------------------------------------------------------

def _registered(field):
    def check(ctx, param, value):
        known = sorted({getattr(s, field) for s in specs()})
        if value is not None and value not in known:
            from .errors import bad_parameter

            raise bad_parameter(f"one of {', '.join(known)}", repr(value))
        return value

    return check


@click.command("list")
@click.option("--family", default=None, callback=_registered("family"),
              help="regression, classification, divergence, metric, segmentation, sequence or boxes")
@click.option("--task", default=None, callback=_registered("task"),
              help="e.g. regression, binary, multiclass, count, embedding, segmentation, detection")
@click.option("--markdown", is_flag=True, help="a Markdown table of the specs (the README's)")
@click.option("--parameters", is_flag=True,
              help="a Markdown table of every parameter name across the families (docs/parameters.md's)")
def list_losses(family, task, markdown, parameters):
    """The registry, with a worked value per loss (mean over a small fixed example)."""
    if parameters:
        click.echo(parameter_table(specs(family=family, task=task)))
        return
    if markdown:
        click.echo(markdown_table(specs(family=family, task=task)))
        return
    rows = _rows(family, task)
    header = ("name", "task", "input", "estimates", "flags", "example")
    click.echo(format_table(rows, header))
    click.echo(f"\n{len(rows)} losses. Example values: default parameters, reduction='mean'.")
    if any(r[-1].startswith("ERROR") for r in rows):
        raise SystemExit(1)


def lookup(name: str) -> LossSpec:
    """The registered loss NAME, or click's usage error (exit 2) with the registry's suggestion."""
    from losskit.registry import spec as registered

    try:
        return registered(name)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="NAME") from error


@click.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="the description as JSON")
def show_loss(name, as_json):
    """Everything about one loss: formula, parameters and ranges, gradient,
    what it estimates, robustness, convexity, when to use it, references and a
    worked example. Exit 2 for an unknown NAME."""
    import json

    d = describe(lookup(name))
    click.echo(json.dumps(d, indent=2, default=str) if as_json else format_description(d))
