"""Gradient-boosting objectives from losskit losses: XGBoost, LightGBM, CatBoost.

``GBDTLoss`` (or ``objective(name, **params)``) wraps a pointwise loss (a
registered name, a ``losskit.Loss`` or a ``LossSpec`` from
``losskit.custom.define_loss``) and hands its closed-form gradient and Hessian
with respect to the raw score (margin, logit, log-mean: the link is inside the
derivatives) to the boosting libraries, computed in NumPy float64:

>>> import numpy as np, losskit.gbdt as gbdt
>>> obj = gbdt.objective("binary_cross_entropy_with_logits", hessian="exact")
>>> y = np.array([0.0, 1.0, 1.0, 1.0])
>>> round(float(obj.base_score(y)), 4)           # logit of the mean: log(3)
1.0986
>>> grad, hess = obj.lightgbm_objective()(y, np.zeros(4))   # (y_true, y_pred), raw scores
>>> grad.tolist(), hess.tolist()
([0.5, -0.5, -0.5, -0.5], [0.25, 0.25, 0.25, 0.25])
>>> obj.inverse_link(np.array([0.0])).tolist()   # raw score -> probability
[0.5]

Conventions (checked by ``tests/test_gbdt.py`` against each library):

- **Raw scores in.** XGBoost and LightGBM pass the raw margin (base score or
  init score included) to a custom objective; CatBoost passes ``approxes``
  (baseline included).
- **Starting score.** ``base_score(y, weight)`` is the loss's best constant
  raw score. Give it to XGBoost as ``base_score`` (stored in the model), to
  LightGBM as ``Dataset(init_score=...)`` and to CatBoost as
  ``Pool(baseline=...)``; ``init_score(y)`` builds that per-row array. Neither
  LightGBM nor CatBoost stores it, so ``predict`` adds it back for them.
- **CatBoost's sign.** CatBoost maximises: its objective returns the first
  and second derivatives of the *negative* loss; ``catboost_objective`` does so.
- **Weights.** Sample weights multiply the gradient and the Hessian (the
  libraries leave this to a custom objective).
- **Hessian safeguard** (``hessian=``): see ``GBDTLoss``. Never silent:
  ``"exact"`` warns (``HessianWarning``) when a Hessian is <= 0; ``"floor"``
  counts what it floored in ``stats``.

References: Chen & Guestrin, "XGBoost" (KDD 2016), second-order split gain
and leaf value ``-G / (H + lambda)``; Friedman, "Greedy function
approximation" (Ann. Stat. 2001), gradient boosting with unit Hessian for
L1 / quantile losses; XGBoost "Custom Objective and Evaluation Metric"
tutorial; LightGBM ``lightgbm.train`` (callable ``objective``); CatBoost
"User-defined loss functions" (``calc_ders_range``, ``calc_ders_multi``).
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from . import domains as D
from ._validate import check_choice, check_param
from .registry import Loss, LossSpec, check_params
from .registry import spec as _registered

__all__ = ["GBDTLoss", "HessianWarning", "objective", "HESSIAN_MODES"]

HESSIAN_MODES = ("auto", "exact", "floor", "abs", "unit", "expected")
# Losses whose Hessian is zero almost everywhere (piecewise linear): "auto"
# boosts them with a unit Hessian (Friedman's L1 / quantile gradient boosting).
_PIECEWISE_LINEAR = ("mae", "pinball", "hinge")
# Losses whose Hessian is affine in the target, so its expectation under the
# model is the Hessian at target = the model's mean (the Fisher information of
# a GLM deviance): "expected" is defined for these built-ins.
_AFFINE_IN_TARGET = ("mse", "binary_cross_entropy", "binary_cross_entropy_with_logits", "poisson_nll",
                     "gamma_deviance", "tweedie_deviance", "cross_entropy")
_CLIP = 1e-12  # a mean of exactly 0 or 1 (or an absent class) starts at log(1e-12) instead of -inf


class HessianWarning(RuntimeWarning):
    """A Hessian entry <= 0 reached a boosting library with ``hessian="exact"``."""


def objective(loss, **options) -> "GBDTLoss":
    """Shorthand for ``GBDTLoss(loss, **options)``.

    >>> objective("huber", delta=2.0).params
    {'delta': 2.0}
    """
    return GBDTLoss(loss, **options)


class GBDTLoss:
    """A pointwise loss as a gradient-boosting objective and metric.

    Args:
        loss: a registered name (``"huber"``), a ``losskit.Loss`` (its bound
            parameters are used) or a ``LossSpec`` (e.g. ``define_loss(...)``).
            It must be pointwise with unconstrained raw scores: an elementwise
            loss, or a class-axis loss whose logits go through a softmax
            (``cross_entropy``, ``softmax_focal``...), with class-index targets.
        hessian: how the Hessian reaches the library.
            ``"exact"``: as the loss gives it; entries <= 0 raise a
            ``HessianWarning`` (XGBoost and LightGBM need ``H + lambda > 0``
            and ``min_child_weight`` / ``min_sum_hessian_in_leaf`` compare sums
            of Hessians: zero Hessians stop splits, negative ones flip leaves).
            ``"floor"``: ``max(h, hessian_floor)``. ``"abs"``: ``max(|h|,
            hessian_floor)`` (non-convex losses: Tukey, Cauchy, focal).
            ``"unit"``: 1 everywhere (first-order boosting; the standard for
            MAE and pinball, as LightGBM's ``l1`` / ``quantile`` objectives do).
            ``"expected"``: the expected (Fisher) Hessian, floored, for the
            GLM-type built-ins whose Hessian is affine in the target (``mse``,
            binary cross-entropy, Poisson, Gamma, Tweedie, ``cross_entropy``).
            ``"auto"`` (default): ``"unit"`` for MAE, pinball and hinge (zero
            Hessian almost everywhere), ``"floor"`` otherwise, which leaves
            every Hessian above the floor untouched.
        hessian_floor: the positive floor of ``"floor"``, ``"abs"`` and
            ``"expected"``; default 1e-6.
        scale: multiplies gradient and Hessian. The library's ``lambda``,
            ``min_child_weight`` and ``gamma`` are in Hessian units, so e.g.
            ``mse`` (whose Hessian is 2) with ``scale=0.5`` is XGBoost's
            ``reg:squarederror`` (1/2 r^2) with the same hyper-parameters.
        **params: the loss's parameters (``delta=1.0``, ``quantile=0.9``).

    ``stats`` counts, over every objective call: ``elements``, ``floored``
    (entries raised to the floor) and ``nonpositive`` (entries <= 0 before
    any safeguard).

    >>> obj = GBDTLoss("mae")
    >>> obj.hessian_mode, obj.base_score(np.array([3.0, 1.0, 2.0]))
    ('unit', 2.0)
    """

    def __init__(self, loss, *, hessian: str = "auto", hessian_floor: float = 1e-6, scale: float = 1.0, **params):
        where = "losskit.gbdt"
        if isinstance(loss, str):
            spec = _registered(loss)
        elif isinstance(loss, Loss):
            spec, params = loss.spec, {**loss.params, **params}
        elif isinstance(loss, LossSpec):
            spec = loss
        else:
            raise TypeError(f"{where}: loss must be a registered name, a losskit.Loss or a LossSpec; "
                            f"received {type(loss).__name__}")
        _check_pointwise(spec)
        self.spec = spec
        self._all = check_params(spec, params, where=where)  # every parameter, defaults included
        self.params = {k: self._all[k] for k in params}
        check_choice(where, "hessian", hessian, HESSIAN_MODES)
        self.hessian_floor = check_param(where, "hessian_floor", hessian_floor, D.POSITIVE)
        self.scale = check_param(where, "scale", scale, D.POSITIVE)
        if hessian == "auto":
            hessian = "unit" if spec.name in _PIECEWISE_LINEAR and spec.family != "custom" else "floor"
        if hessian == "expected" and (spec.family == "custom" or spec.name not in _AFFINE_IN_TARGET
                                      or (spec.name == "poisson_nll" and not self._all["log_input"])):
            raise ValueError(f"{where}: hessian must be 'exact', 'floor', 'abs' or 'unit' for {spec.name} "
                             f"('expected' is defined where the Hessian is affine in the target: "
                             f"{', '.join(_AFFINE_IN_TARGET)}); received hessian='expected'")
        self.hessian_mode = hessian
        self.multiclass = spec.kind == "class_axis"
        self.base_score_ = None
        self.stats = {"elements": 0, "floored": 0, "nonpositive": 0}

    @property
    def name(self) -> str:
        return self.spec.name

    def __repr__(self) -> str:
        args = "".join(f", {k}={v!r}" for k, v in self.params.items())
        return f"GBDTLoss({self.name!r}{args}, hessian={self.hessian_mode!r})"

    # -- the math ----------------------------------------------------------

    def _response(self) -> str:
        s = self.spec
        if self.multiclass or s.link in ("softmax", "log_softmax"):
            return "softmax"
        if s.link == "sigmoid" or s.input_space == "logit":
            return "sigmoid"
        if s.link == "exp" or (s.name == "poisson_nll" and s.family != "custom" and self._all["log_input"]):
            return "exp"
        return "identity"

    def inverse_link(self, raw):
        """Raw scores -> what the loss estimates: probabilities (sigmoid, or a
        softmax over the class axis 1), means (exp of a log-mean), or the
        score itself. ``raw`` must already include the base score.

        >>> GBDTLoss("poisson_nll").inverse_link(np.log([2.0, 5.0])).round(6).tolist()
        [2.0, 5.0]
        """
        raw = np.asarray(raw, dtype=np.float64)
        kind = self._response()
        if kind == "sigmoid":
            return np.exp(-np.logaddexp(0.0, -raw))
        if kind == "exp":
            return np.exp(raw)
        if kind == "softmax":
            z = raw - raw.max(axis=-1, keepdims=True)
            e = np.exp(z)
            return e / e.sum(axis=-1, keepdims=True)
        return raw

    def _target(self, y, n_classes=None, where="target"):
        y = np.asarray(y, dtype=np.float64)
        if not self.multiclass:
            return y.reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else y
        y = y.reshape(-1)
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)) or np.any(y < 0):
            raise ValueError(f"{self.name}: {where} must hold class indices 0, 1, ...; received "
                             f"{y[(~np.isfinite(y)) | (y != np.round(y)) | (y < 0)][0]!r}")
        labels = y.astype(np.int64)
        if n_classes is not None and labels.size and labels.max() >= n_classes:
            raise ValueError(f"{self.name}: {where} must hold class indices in [0, {n_classes}); "
                             f"received {int(labels.max())}")
        return labels

    def _raw(self, preds, n, where="predictions"):
        raw = np.asarray(preds, dtype=np.float64)
        if self.multiclass:
            if raw.ndim != 2 or raw.shape[0] != n or raw.shape[1] < 2:
                raise ValueError(f"{self.name}: {where} must have shape ({n}, n_classes) (one raw score per "
                                 f"class; set num_class / num_classes); received shape {raw.shape}")
        elif raw.shape != (n,):
            raise ValueError(f"{self.name}: {where} must have shape ({n},) (one raw score per row); "
                             f"received shape {raw.shape}")
        return raw

    def _weight(self, weight, n):
        if weight is None or np.size(weight) == 0:
            return None
        w = np.asarray(weight, dtype=np.float64).reshape(-1)
        if w.shape != (n,):
            raise ValueError(f"{self.name}: weight must have shape ({n},) (one weight per row); "
                             f"received shape {w.shape}")
        return w

    def gradient_hessian(self, raw, y, weight=None):
        """Gradient and safeguarded Hessian of the loss at raw scores ``raw``
        ((N,), or (N, C) for softmax losses: the diagonal Hessian), weighted
        and scaled, as float64 arrays of ``raw``'s shape."""
        y = self._target(y)
        raw = self._raw(raw, y.shape[0])
        w = self._weight(weight, y.shape[0])
        grad, hess = self.spec.derivatives(raw, y, **self._all)
        grad, hess = np.asarray(grad, dtype=np.float64), np.asarray(hess, dtype=np.float64)
        nonpositive = int(np.count_nonzero(~(hess > 0)))
        self.stats["elements"] += hess.size
        self.stats["nonpositive"] += nonpositive
        mode, floor = self.hessian_mode, self.hessian_floor
        if mode == "unit":
            hess = np.ones_like(hess)
        elif mode == "exact":
            if nonpositive:
                warnings.warn(f"{self.name}: {nonpositive} of {hess.size} Hessian entries are <= 0 "
                              f"(hessian='exact'); XGBoost/LightGBM leaves need a positive Hessian sum: "
                              f"use hessian='floor', 'abs' or 'unit'", HessianWarning, stacklevel=3)
        else:
            if mode == "expected":
                mean = self.inverse_link(raw)
                _, hess = self.spec.derivatives(raw, mean, **self._all)
                hess = np.asarray(hess, dtype=np.float64)
            elif mode == "abs":
                hess = np.abs(hess)
            low = ~(hess >= floor)
            self.stats["floored"] += int(np.count_nonzero(low))
            hess = np.where(low, floor, hess)
        if w is not None:
            w = w[:, None] if self.multiclass else w
            grad, hess = grad * w, hess * w
        return grad * self.scale, hess * self.scale

    def loss(self, raw, y, weight=None) -> float:
        """Weighted mean loss at raw scores ``raw`` (the eval metrics' value)."""
        y = self._target(y)
        raw = self._raw(raw, y.shape[0])
        values = np.asarray(self.spec.function(self._input(raw), y, reduction="none", **self._all), np.float64)
        w = self._weight(weight, y.shape[0])
        return float(np.mean(values) if w is None else np.sum(w * values) / np.sum(w))

    def _input(self, raw):
        """Raw score -> the loss function's ``input`` (its own link)."""
        link = self.spec.link
        if link == "sigmoid":
            return np.exp(-np.logaddexp(0.0, -raw))
        if link == "exp":
            return np.exp(raw)
        if link in ("softmax", "log_softmax"):
            z = raw - raw.max(axis=1, keepdims=True)
            logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
            return np.exp(logp) if link == "softmax" else logp
        return raw

    # -- the starting score ------------------------------------------------

    def base_score(self, y, weight=None, *, num_classes: int | None = None):
        """The best constant raw score: argmin over c of the weighted mean loss
        of ``c`` against ``y``; a float, or a length-C array for softmax losses.
        Remembered as ``base_score_`` for ``predict``.

        Closed forms: ``mse`` the mean; ``mae`` the weighted median;
        ``pinball`` the weighted quantile; binary cross-entropy the logit of
        the mean; Poisson, Gamma, Tweedie (log link) the log of the mean;
        ``cross_entropy`` the log class frequencies (a mean of exactly 0 or 1
        or an absent class gives log(1e-12), not -inf). Other losses: a
        bracketed bisection on the mean gradient (elementwise; from the
        weighted median, so redescending losses find the robust stationary
        point) or a damped diagonal Newton from the log class frequencies
        (softmax losses).

        >>> GBDTLoss("pinball", quantile=0.75).base_score(np.arange(5.0))
        3.0
        """
        y = self._target(y, num_classes, where="y")
        w = self._weight(weight, y.shape[0])
        if y.shape[0] == 0:
            raise ValueError(f"{self.name}: y must have at least one row; received shape {y.shape}")
        if self.multiclass:
            score = self._base_multiclass(y, w, num_classes)
        else:
            score = float(self._base_elementwise(y, w))
        self.base_score_ = score
        return score

    def _closed_form(self, y, w):
        name, p = self.spec.name, self._all
        if self.spec.family == "custom":
            return None
        mean = float(np.average(y, weights=w))
        if name == "mse" or (name == "expectile" and p["expectile"] == 0.5):
            return mean
        if name == "mae":
            return _weighted_quantile(y, w, 0.5)
        if name == "pinball" and np.ndim(p["quantile"]) == 0:
            return _weighted_quantile(y, w, float(p["quantile"]))
        if name in ("binary_cross_entropy", "binary_cross_entropy_with_logits") and not p.get("pos_weight") \
                and not p.get("label_smoothing"):
            m = min(max(mean, _CLIP), 1 - _CLIP)
            return math.log(m / (1 - m))
        if name in ("gamma_deviance", "tweedie_deviance") or (name == "poisson_nll" and p["log_input"]):
            return math.log(max(mean, _CLIP))
        return None

    def _base_elementwise(self, y, w):
        closed = self._closed_form(y, w)
        if closed is not None:
            return closed

        def mean_grad(c):
            g, _ = self.spec.derivatives(np.full(y.shape, c), y, **self._all)
            return float(np.average(np.asarray(g, np.float64), weights=w))

        kind = self._response()
        med = _weighted_quantile(y, w, 0.5)
        start = {"identity": med, "exp": math.log(max(med, _CLIP)) if med > 0 else 0.0,
                 "sigmoid": 0.0, "softmax": 0.0}[kind]
        step = max(float(np.std(y)), 1.0) if kind == "identity" else 1.0
        a, ga = start, mean_grad(start)
        if ga == 0.0:
            return start
        direction = -1.0 if ga > 0 else 1.0
        for _ in range(64):  # step away, doubling, until the mean gradient changes sign
            b = a + direction * step
            gb = mean_grad(b)
            if (gb > 0) != (ga > 0):
                break
            a, ga, step = b, gb, 2.0 * step
        else:
            raise ValueError(f"{self.name}: y must admit a finite best constant score (the mean gradient "
                             f"never changes sign); received y with mean {float(np.mean(y))!r}")
        lo, hi = sorted((a, b))
        glo = mean_grad(lo)
        for _ in range(200):  # bisection on the sign of the mean gradient
            mid = 0.5 * (lo + hi)
            if mid in (lo, hi):
                break
            if (mean_grad(mid) > 0) == (glo > 0):
                lo = mid
            else:
                hi = mid
        return 0.5 * (lo + hi)

    def _base_multiclass(self, y, w, num_classes):
        C = int(num_classes) if num_classes is not None else int(y.max()) + 1
        if C < 2:
            raise ValueError(f"{self.name}: num_classes must be >= 2; received {C}")
        freq = np.bincount(y, weights=w, minlength=C) / (y.size if w is None else np.sum(w))
        c = np.log(np.maximum(freq, _CLIP))
        if self.spec.name == "cross_entropy" and self.spec.family != "custom" and \
                self._all.get("class_weight") is None and not self._all.get("label_smoothing"):
            return c

        def mean_loss(c):
            return self.loss(np.broadcast_to(c, (y.size, C)), y, w)

        current = mean_loss(c)
        for _ in range(50):  # damped diagonal Newton on the mean loss
            g, h = self.spec.derivatives(np.broadcast_to(c, (y.size, C)).copy(), y, **self._all)
            g = np.average(np.asarray(g, np.float64), axis=0, weights=w)
            h = np.maximum(np.average(np.asarray(h, np.float64), axis=0, weights=w), 1e-6)
            step = g / h
            for _ in range(30):
                trial = c - step
                value = mean_loss(trial)
                if value <= current:
                    break
                step = step / 2
            else:
                break
            converged = current - value < 1e-12 * (1 + abs(current))
            c, current = trial, value
            if converged:
                break
        return c

    def init_score(self, y, weight=None, *, num_classes: int | None = None):
        """``base_score(y, weight)`` repeated per row: shape (N,), or (N, C)
        for softmax losses; for LightGBM's ``init_score`` and CatBoost's
        ``baseline``."""
        score = self.base_score(y, weight, num_classes=num_classes)
        n = np.shape(y)[0]
        return np.tile(score, (n, 1)) if self.multiclass else np.full(n, score)

    def xgboost_params(self, y, weight=None, *, num_classes: int | None = None) -> dict:
        """XGBoost parameters that go with this objective: ``base_score`` (a
        margin: with a custom objective XGBoost applies no link to it; a list
        for softmax losses), ``num_class`` and ``disable_default_eval_metric``."""
        score = self.base_score(y, weight, num_classes=num_classes)
        params = {"disable_default_eval_metric": 1}
        if self.multiclass:
            params.update(base_score=[float(v) for v in score], num_class=len(score))
        else:
            params["base_score"] = score
        return params

    # -- XGBoost -----------------------------------------------------------

    def xgboost_objective(self):
        """A callable for ``xgb.train(obj=...)``, ``(preds, dtrain) -> (grad,
        hess)``, which also serves the scikit-learn API
        (``XGBRegressor(objective=...)``: ``(y_true, y_pred, *, sample_weight)``).
        ``preds`` are raw margins, (N,) or (N, C)."""

        def xgb_objective(first, second, *, sample_weight=None):
            if hasattr(second, "get_label"):  # xgb.train: (preds, dtrain)
                return self.gradient_hessian(first, second.get_label(), second.get_weight())
            return self.gradient_hessian(second, first, sample_weight)

        return xgb_objective

    def xgboost_metric(self):
        """A callable for ``xgb.train(custom_metric=...)``: ``(preds, dtrain)
        -> (name, weighted mean loss)``; ``preds`` are raw margins (as XGBoost
        gives them to a custom metric when the objective is custom)."""

        def xgb_metric(preds, dtrain):
            return self.name, self.loss(preds, dtrain.get_label(), dtrain.get_weight())

        return xgb_metric

    # -- LightGBM ----------------------------------------------------------

    def lightgbm_objective(self):
        """A callable for ``params["objective"]`` of ``lightgbm.train``
        (``(preds, train_set)``) or of the scikit-learn API (``(y_true,
        y_pred[, weight[, group]])``) -> ``(grad, hess)``. Raw scores in
        (init score included), (N,) or (N, C) for multiclass."""

        def lgb_objective(first, second, weight=None, group=None):
            if hasattr(second, "get_label"):  # lightgbm.train: (preds, train_set)
                return self.gradient_hessian(first, second.get_label(), second.get_weight())
            return self.gradient_hessian(second, first, weight)

        return lgb_objective

    def lightgbm_metric(self):
        """A callable for ``lightgbm.train(feval=...)`` or ``LGBM*(eval_metric=...)``:
        ``-> (name, weighted mean loss, is_higher_better=False)``."""

        def lgb_metric(first, second, weight=None, group=None):
            if hasattr(second, "get_label"):
                return self.name, self.loss(first, second.get_label(), second.get_weight()), False
            return self.name, self.loss(second, first, weight), False

        return lgb_metric

    # -- CatBoost ----------------------------------------------------------

    def catboost_objective(self):
        """An object for ``CatBoost*(loss_function=...)``: ``calc_ders_range``
        (one raw score per object) or ``calc_ders_multi`` (softmax losses:
        the full C x C Hessian with ``hessian="exact"``, as CatBoost's
        MultiClass uses, else the safeguarded diagonal), returning CatBoost's convention: derivatives of
        the negative loss (CatBoost maximises)."""
        return _CatBoostObjective(self)

    def catboost_metric(self):
        """An object for ``CatBoost*(eval_metric=...)``: the weighted mean loss
        (lower is better)."""
        return _CatBoostMetric(self)

    # -- prediction --------------------------------------------------------

    def predict(self, model, X, *, raw: bool = False, base_score=None):
        """Predictions of a model trained with this objective: the inverse
        link of the raw score (probabilities, means), or the raw score with
        ``raw=True``.

        ``model`` is an ``xgboost.Booster`` or XGBoost scikit-learn model
        (``base_score`` is stored in it), a ``lightgbm.Booster`` or LightGBM
        scikit-learn model, or a CatBoost model: for these two the base score
        (``base_score``, default the last ``base_score_`` computed) is added.
        """
        module = type(model).__module__.split(".")[0]
        if module == "xgboost":
            import xgboost as xgb

            if isinstance(model, xgb.Booster):
                margin = model.predict(X if isinstance(X, xgb.DMatrix) else xgb.DMatrix(X), output_margin=True)
            else:
                margin = model.predict(X, output_margin=True)
        elif module in ("lightgbm", "catboost"):
            if module == "lightgbm":
                booster = getattr(model, "booster_", model)
                margin = booster.predict(X, raw_score=True)
            else:
                margin = model.predict(X, prediction_type="RawFormulaVal")
            score = self.base_score_ if base_score is None else base_score
            if score is None:
                raise ValueError(f"{self.name}: base_score must be given (or base_score(y) called first): "
                                 f"{module} does not store the init score / baseline; received None")
            margin = np.asarray(margin, np.float64) + np.asarray(score, np.float64)
        else:
            raise TypeError(f"{self.name}: model must be an XGBoost, LightGBM or CatBoost model; "
                            f"received {type(model).__name__}")
        margin = np.asarray(margin, dtype=np.float64)
        return margin if raw else self.inverse_link(margin)


class _CatBoostObjective:
    def __init__(self, loss: GBDTLoss):
        self.loss = loss

    def calc_ders_range(self, approxes, targets, weights):
        grad, hess = self.loss.gradient_hessian(np.asarray(approxes, np.float64), targets, weights)
        return list(zip((-grad).tolist(), (-hess).tolist()))

    def calc_ders_multi(self, approx, target, weight):
        loss, raw = self.loss, np.asarray(approx, np.float64)[None, :]
        grad, hess = loss.gradient_hessian(raw, [target], None if weight is None else [weight])
        if loss.hessian_mode != "exact":
            return (-grad[0]).tolist(), np.diag(-hess[0]).tolist()
        # CatBoost takes the full C x C Hessian (its MultiClass does); "exact" gives it
        _, full = loss.spec.derivatives(raw, loss._target([target]), **{**loss._all, "full": True})
        factor = loss.scale * (1.0 if weight is None else float(weight))
        return (-grad[0]).tolist(), (-factor * np.asarray(full, np.float64)[0]).tolist()


class _CatBoostMetric:
    def __init__(self, loss: GBDTLoss):
        self.loss = loss

    def is_max_optimal(self):
        return False

    def evaluate(self, approxes, target, weight):
        raw = np.asarray(approxes, np.float64)
        raw = raw.T if self.loss.multiclass else raw[0]
        w = None if weight is None or len(weight) == 0 else np.asarray(weight, np.float64)
        value = self.loss.loss(raw, target, w)
        total = float(len(target) if w is None else np.sum(w))
        return value * total, total

    def get_final_error(self, error, weight):
        return error / weight if weight else 0.0


def _weighted_quantile(y, w, q):
    """The q-quantile minimising the weighted pinball loss (lower one on ties)."""
    order = np.argsort(y, kind="stable")
    ys = y[order]
    ws = np.ones_like(ys) if w is None else w[order]
    cum = np.cumsum(ws)
    i = int(np.searchsorted(cum, q * cum[-1], side="left"))
    return float(ys[min(i, ys.size - 1)])


def _check_pointwise(spec: LossSpec) -> None:
    where = f"losskit.gbdt: {spec.name}"
    why = None
    if not spec.pointwise:
        why = f"a {spec.kind} loss has no per-row gradient and Hessian"
    elif spec.extra_inputs:
        why = f"it needs extra arrays ({', '.join(spec.extra_inputs)}) besides the prediction"
    elif spec.kind == "class_axis" and not (spec.input_space == "logit" or spec.link in ("softmax", "log_softmax")):
        why = f"a class-axis loss must take logits through a softmax; it takes {spec.input_space}"
    elif spec.kind == "class_axis" and not isinstance(spec.target_domain, D.ClassIndex):
        why = "a class-axis loss must take class-index targets"
    elif spec.raw_domain != D.REAL:
        why = f"a boosted raw score is unbounded and this loss's raw input must be {spec.raw_domain.describe()}"
    if why:
        raise ValueError(f"{where}: loss must be pointwise with unconstrained raw scores; received {spec.name} ({why})")
