"""Loss and gradient curves of registered losses (matplotlib, imported lazily).

Each loss is drawn against one scalar: the **residual** ``input - target``
(regression-like losses with an identity link, target 0) or the **raw score**
(the logit or margin of a binary loss, target 1; the log-mean of an ``exp``
link, target 1). A loss on probabilities (``binary_cross_entropy``) is applied
to ``sigmoid(x)``; ``link="sigmoid"`` does the same for a regression loss
(``mse`` on a sigmoid output), its gradient taken through the sigmoid by the
chain rule. Gradients are with respect to that x axis: the closed form
(``Loss.gradient``) where the spec has one, central differences otherwise.

Two presets draw the classic pictures:

- ``"robust"``: MSE, MAE, Huber and Tukey on residuals. The gradient panel is
  the influence function: MSE's grows without bound, MAE's and Huber's are
  capped, Tukey's redescends to 0 beyond ``c``.
- ``"saturation"``: a sigmoid output with target 1. Cross-entropy's gradient
  with respect to the logit is ``p - 1`` (about -1 when confidently wrong);
  MSE on the probability has ``2 (p - 1) p (1 - p)``, which vanishes there.

References: Hampel, F. R. et al. (1986), Robust Statistics: The Approach Based
on Influence Functions; Golik, P., Doetsch, P. & Ney, H. (2013), Cross-entropy
vs. squared error training: a theoretical and experimental comparison.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from . import domains as D
from .registry import Loss, spec as _spec

__all__ = ["plot_losses", "PRESETS", "axis_kind"]

WHATS = ("loss", "gradient")

PRESETS = {
    "robust": {"names": ("mse", "mae", "huber", "tukey"), "what": ("loss", "gradient")},
    "saturation": {"names": ("binary_cross_entropy", "mse"), "link": "sigmoid", "what": ("loss", "gradient")},
}


def axis_kind(spec, link: str | None = None) -> str:
    """``"residual"`` (identity link, real target: x = input - target, target 0)
    or ``"raw"`` (x = logit / margin / log-mean, target 1 or a value in the
    target domain) for an elementwise ``spec``; ``link="sigmoid"`` forces the
    raw axis.

    >>> import losskit
    >>> axis_kind(losskit.spec("huber")), axis_kind(losskit.spec("bce"))
    ('residual', 'raw')
    """
    if spec.kind != "elementwise":
        raise ValueError(f"plot_losses: name must be an elementwise loss; received {spec.name!r} "
                         f"(a {spec.kind} loss has no single residual or margin to plot against)")
    if link is None and spec.link == "identity" and spec.input_domain is D.REAL and spec.task != "binary":
        return "residual"
    return "raw"


def _target(spec) -> float:
    """Target 0 for residual plots, else 1 (the positive class) where allowed."""
    for value in (1.0, 0.5):
        if spec.target_domain.contains_scalar(value):
            return value
    raise ValueError(f"plot_losses: {spec.name} has no target 1 to plot against")


def _curve(loss: Loss, x: np.ndarray, link: str | None):
    """(loss values, gradient values) of ``loss`` along ``x`` (see the module doc)."""
    spec = loss.spec
    if axis_kind(spec, link) == "residual":
        target = np.zeros_like(x)
        to_input, chain = (lambda r: r), np.ones_like(x)
    elif link == "sigmoid" and spec.link == "identity":  # a regression loss on a sigmoid output
        target = np.ones_like(x)
        p = 1.0 / (1.0 + np.exp(-x))
        to_input, chain = (lambda z: 1.0 / (1.0 + np.exp(-z))), p * (1.0 - p)
    else:
        target = np.full_like(x, _target(spec))
        to_input, chain = None, None  # the spec's own link; its derivatives are w.r.t. raw already
    if to_input is None:
        from ._array import inverse_link

        to_input = lambda z: inverse_link(np, spec.link, z)  # noqa: E731
    values = np.asarray(loss(to_input(x), target, reduction="none"), dtype=np.float64)
    if spec.derivatives is not None:
        raw = x if chain is None or link is None else to_input(x)  # the spec's raw is its input here
        grad = np.asarray(loss.gradient(raw, target), dtype=np.float64)
        grad = grad if chain is None else grad * chain
    else:  # no closed form: central differences along x
        h = 1e-5
        up = np.asarray(loss(to_input(x + h), target, reduction="none"), dtype=np.float64)
        down = np.asarray(loss(to_input(x - h), target, reduction="none"), dtype=np.float64)
        grad = (up - down) / (2 * h)
    return values, grad


def _settings(spec, params: dict) -> list[dict]:
    """One parameter setting per combination of the values ``spec`` takes."""
    mine = {k: v for k, v in params.items() if any(p.name == k for p in spec.params)}
    keys = list(mine)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(mine[k] for k in keys))] or [{}]


def plot_losses(names, params=None, what=WHATS, x=None, ax=None, out=None, *, link=None, title=None):
    """Draw each loss (and its gradient) against the residual or the raw score.

    Args:
        names: registered loss names (elementwise losses), or ``LossSpec`` objects
            (e.g. from ``losskit.define_loss``).
        params: ``{"delta": [0.5, 1, 2]}``: one curve per value for each loss
            that has the parameter; a name no loss has is an error.
        what: panels, a subset of ``("loss", "gradient")``, in order.
        x: the x values (default: residuals in [-8, 8] or raw scores in [-10, 10]).
        ax: matplotlib axes to draw on, one per panel (default: a new figure).
        out: a ``.png`` or ``.svg`` path to save the figure to (Agg backend).
        link: ``"sigmoid"`` applies identity-link losses to ``sigmoid(x)`` (target 1).
        title: the figure's title.

    Returns the matplotlib ``Figure``; each panel's lines carry labels such as
    ``"huber (delta=0.5)"`` and the plotted arrays (``line.get_ydata()``).

    >>> fig = plot_losses(["mse", "huber"], params={"delta": [0.5, 2.0]})
    >>> [line.get_label() for line in fig.axes[0].lines]  # one per loss and setting
    ['mse', 'huber (delta=0.5)', 'huber (delta=2.0)']
    """
    names = [names] if isinstance(names, str) else list(names)
    if not names:
        raise ValueError("plot_losses: names must name at least one loss; received none")
    what = (what,) if isinstance(what, str) else tuple(what)
    if not what or any(w not in WHATS for w in what):
        raise ValueError(f"plot_losses: what must be a non-empty subset of {WHATS}; received {what!r}")
    if link not in (None, "sigmoid"):
        raise ValueError(f"plot_losses: link must be None or 'sigmoid'; received {link!r}")
    if out is not None and Path(out).suffix.lower() not in (".png", ".svg"):
        raise ValueError(f"plot_losses: out must end in .png or .svg; received {str(out)!r}")
    params = {k: list(v) if isinstance(v, (list, tuple)) else [v] for k, v in (params or {}).items()}
    specs = [_spec(n) if isinstance(n, str) else n for n in names]  # a define_loss spec works too
    kinds = {axis_kind(s, link) for s in specs}
    if len(kinds) > 1:
        raise ValueError(f"plot_losses: names must share one x axis (all residual or all raw score); received "
                         f"{', '.join(f'{s.name} ({axis_kind(s, link)})' for s in specs)}")
    for key in params:
        if not any(p.name == key for s in specs for p in s.params):
            raise ValueError(f"plot_losses: params must name a parameter of {', '.join(s.name for s in specs)}; received {key!r}")
    kind = kinds.pop()
    if x is None:
        x = np.linspace(-8.0, 8.0, 401) if kind == "residual" else np.linspace(-10.0, 10.0, 401)
    x = np.asarray(x, dtype=np.float64)

    import matplotlib

    if ax is None:
        matplotlib.use("Agg")  # files only; no display needed
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, len(what), figsize=(5.5 * len(what), 4.2), squeeze=False)
        axes = list(axes[0])
    else:
        axes = list(ax) if isinstance(ax, (list, tuple, np.ndarray)) else [ax]
        if len(axes) != len(what):
            raise ValueError(f"plot_losses: ax must hold one axes per panel ({len(what)}); received {len(axes)}")
        fig = axes[0].figure
    for spec in specs:
        for setting in _settings(spec, params):
            values, grad = _curve(Loss(spec, **setting), x, link)
            label = spec.name + (f" ({', '.join(f'{k}={v}' for k, v in setting.items())})" if setting else "")
            if link == "sigmoid" and spec.link == "identity":
                label += " on sigmoid"
            for panel, w in zip(axes, what):
                panel.plot(x, values if w == "loss" else grad, label=label)
    xlabel = "residual (input - target)" if kind == "residual" else (
        "logit x (target 1, input sigmoid(x))" if link == "sigmoid" else "raw score: logit / margin (target 1)")
    for panel, w in zip(axes, what):
        panel.set_xlabel(xlabel)
        panel.set_ylabel("loss" if w == "loss" else "gradient w.r.t. x")
        panel.grid(alpha=0.3)
        panel.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if out is not None:
        fig.savefig(out)
    return fig
