"""Recommend losses from the data: profile the target, apply the rule table.

``recommend(y)`` reads the target (and optionally the features), measures
what matters for choosing a loss (task type, outliers, tails, skew, zeros,
range, class balance; see :mod:`losskit.recommend.profile`) and runs the one
table of rules in :mod:`losskit.recommend.rules`. The result ranks losses with
the evidence behind each and suggested parameters, and lists losses to avoid.
Deterministic: the same data give the same answer.
"""

from __future__ import annotations

import json
import sys
import types
from dataclasses import dataclass

from .profile import Profile, fail, profile
from .rules import RULES, Metric, Rule, parse_metric

__all__ = ["RULES", "Avoid", "Entry", "Metric", "Profile", "Recommendation", "Rule", "profile", "recommend"]


@dataclass(frozen=True)
class Entry:
    """One recommended loss: its total score, suggested parameters and the evidence."""

    loss: str
    score: float
    params: dict
    reasons: tuple
    rules: tuple  # the names of the rows that fired for it

    def as_dict(self) -> dict:
        """JSON-friendly dict."""
        return {"loss": self.loss, "score": self.score, "params": dict(self.params),
                "reasons": list(self.reasons), "rules": list(self.rules)}


@dataclass(frozen=True)
class Avoid:
    """A loss to avoid on this data, and why."""

    loss: str
    reason: str

    def as_dict(self) -> dict:
        """JSON-friendly dict."""
        return {"loss": self.loss, "reason": self.reason}


@dataclass(frozen=True)
class Recommendation:
    """``ranked`` entries (best first), ``avoid`` list, the ``profile``, the ``metric``."""

    ranked: tuple
    avoid: tuple
    profile: Profile
    metric: str | None = None

    @property
    def best(self) -> Entry:
        """The top-ranked entry."""
        return self.ranked[0]

    def as_dict(self) -> dict:
        """JSON-friendly: plain dicts, lists, strings and numbers."""
        return {"metric": self.metric, "ranked": [e.as_dict() for e in self.ranked],
                "avoid": [a.as_dict() for a in self.avoid], "profile": self.profile.as_dict()}

    def to_json(self, **kwargs) -> str:
        """``as_dict()`` as a JSON string (``kwargs`` go to ``json.dumps``)."""
        return json.dumps(self.as_dict(), **kwargs)

    def __str__(self) -> str:
        p = self.profile
        lines = [f"target: {p.task} ({p.task_reason}); n = {p.n}"
                 + (f"; metric: {self.metric}" if self.metric else "")]
        for i, e in enumerate(self.ranked, 1):
            args = ", ".join(f"{k}={v!r}" for k, v in e.params.items())
            lines.append(f"{i}. {e.loss}({args})  score {e.score:g}")
            lines += [f"     - {r}" for r in e.reasons]
        if self.avoid:
            lines.append("avoid:")
            lines += [f"  {a.loss}: {a.reason}" for a in self.avoid]
        return "\n".join(lines)


TOP = 5  # how many ranked losses recommend() and `losskit recommend` return


def recommend(y, X=None, metric: str | None = None, *, top: int = TOP, task: str | None = None) -> Recommendation:
    """Rank losses for the target ``y``, with evidence and suggested parameters.

    Args:
        y: the target: 1-D (binary / class codes 0..C-1 / counts / real values),
            or 2-D (0/1 columns: multi-label; real columns: multi-output
            regression, profiled over all values pooled).
        X: optional features, used to measure the mean-variance relation
            (the Tweedie power); without them a default power of 1.5 is used
            and the evidence says so.
        metric: the evaluation metric, which then leads the ranking: one of
            ``mse, rmse, mae, pinball@q, mape, rmsle, poisson_deviance,
            gamma_deviance, tweedie_deviance, f1, auprc, roc_auc, log_loss,
            accuracy`` (aliases: quantile@q, average_precision, auc, logloss).
        top: how many ranked losses to return (at least 1).
        task: override the detected task type (see ``profile.TASKS``).

    Returns:
        A :class:`Recommendation`; ``str()`` reads as a report, ``as_dict()``
        is JSON-friendly. Scores add over the rule rows that fire; ties break
        by loss name.

    >>> import numpy as np
    >>> rec = recommend(np.r_[np.zeros(99), 1.0].repeat(10))
    >>> rec.profile.task, rec.best.loss, rec.best.params
    ('binary', 'binary_cross_entropy_with_logits', {'pos_weight': 99.0})
    >>> recommend(np.random.default_rng(0).normal(size=200), metric="pinball@0.9").best.params
    {'quantile': 0.9}
    """
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise fail("top", "an integer >= 1", f"top={top!r}")
    prof = profile(y, X, task=task)
    parsed = parse_metric(metric, prof.task)

    scores: dict[str, float] = {}
    params: dict[str, dict] = {}
    metric_params: dict[str, dict] = {}
    reasons: dict[str, list] = {}
    fired: dict[str, list] = {}
    avoided: dict[str, list] = {}
    for rule in RULES:
        if not rule.when(prof, parsed):
            continue
        why = rule.why(prof)
        if rule.avoid:
            avoided.setdefault(rule.loss, []).append(why)
            continue
        scores[rule.loss] = scores.get(rule.loss, 0.0) + rule.score
        reasons.setdefault(rule.loss, []).append(why)
        fired.setdefault(rule.loss, []).append(rule.name)
        target = metric_params if rule.metric else params
        target.setdefault(rule.loss, {})
        if rule.params is not None:
            target[rule.loss].update(rule.params(prof, parsed))

    ranked = []
    for loss, score in scores.items():
        led_by_metric = loss in metric_params
        if loss in avoided and not led_by_metric:
            continue
        caveats = [f"caveat: {r}" for r in avoided.pop(loss, [])]
        ranked.append(Entry(loss, round(score, 6), metric_params.get(loss, params.get(loss, {})),
                            tuple(reasons[loss] + caveats), tuple(fired[loss])))
    ranked.sort(key=lambda e: (-e.score, e.loss))
    avoid = tuple(Avoid(loss, "; ".join(rs)) for loss, rs in sorted(avoided.items()))
    return Recommendation(tuple(ranked[:top]), avoid, prof, metric)


class _CallableModule(types.ModuleType):
    """``losskit.recommend(y, ...)`` is this package's ``recommend`` function. The package
    loads on first use (``import losskit`` does not load it), and importing it binds the
    package itself to ``losskit.recommend``; calling the package calls the function."""

    def __call__(self, *args, **kwargs) -> Recommendation:
        return recommend(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
