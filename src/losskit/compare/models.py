"""Train one model with one loss and predict: a linear model or a small MLP in PyTorch, or XGBoost.

Every trial of a compare run goes through :func:`fit_predict`, so each loss gets the same
model, the same inner validation split, the same early stopping and the same seed.

- **Inner validation.** ``val_fraction`` of the training rows (scikit-learn
  ``train_test_split``, seeded, stratified for classification) drive early stopping on the
  validation value of the *trained* loss; the weights (or boosting rounds) of the best epoch are
  kept. Features are standardised with the inner training part's mean and std.
- **Output scale.** The target is not standardised (loss parameters such as Huber's ``delta``
  are in target units, as the recommender suggests them); instead the model's output is
  ``raw = init_raw + scale * net(x)`` with ``init_raw`` the loss's constant start and ``scale``
  a robust spread of ``y`` (``Adapter.init_raw``, ``Adapter.raw_scale``; on the log scale for
  log links), so the optimisation is equally well conditioned for every target unit. XGBoost
  boosts the raw output itself (from ``losskit.gbdt``'s base score); only zero or vanishing
  Hessians are set in target units by the same scale (see ``_gbdt_objective``).
- **Optimiser** (linear, MLP): Adam (lr 3e-2 linear, 3e-3 MLP), mini-batches of 128 (the full
  batch below 256 training rows), shuffled by a ``torch.Generator`` seeded from ``seed``;
  ``l2`` is the explicit penalty ``0.5 * l2 * ||W||^2`` on the weights (not the biases), added
  to the mean loss, so its strength is relative to the loss's own units.
- **GBDT**: ``xgb.train`` with ``losskit.gbdt.objective(loss, **params)``, eta 0.1, depth 4, at most 300 rounds, early stopping after 20 rounds without a
  better validation loss, one thread, seeded.

Aggregate losses (``rmse``, ``rmsle``, ``soft_fbeta``) are trained on each mini-batch's value.
A non-finite validation loss stops training (the best finite epoch is kept).
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field

import numpy as np

from .config import MAX_EPOCHS, MODEL, PATIENCE, check_model, fail
from .tasks import Adapter

__all__ = ["Fit", "fit_predict"]

_LR = {"linear": 3e-2, "mlp": 3e-3}
_BATCH = 128
_HIDDEN = (64, 64)
_GBDT = {"eta": 0.1, "max_depth": 4, "rounds": 300, "early_stopping": 20}


@dataclass
class Fit:
    """One trained model's result: ``prediction`` on the test rows (see ``Adapter.predict``), the
    learning ``curve`` (``epoch``, ``train_loss``, ``val_loss``, ``val_metric``: one value per epoch
    or boosting round; ``val_metric`` is empty without a ``monitor``), the 1-based ``best_epoch``
    whose weights were kept, the number of ``epochs`` run, and the wall-clock ``seconds``."""

    prediction: np.ndarray
    curve: dict = field(default_factory=dict)
    best_epoch: int = 0
    epochs: int = 0
    seconds: float = 0.0


def _features(X, name: str) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2:
        raise fail(name, "2-D (rows x features)", f"shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise fail(name, "finite (no NaN or inf; impute missing values first)",
                    f"{int(np.sum(~np.isfinite(X)))} non-finite value(s)")
    return X


VAL_FRACTION = 0.2  # of a fold's training rows, for early stopping


def inner_split_sizes(n: int, val_fraction: float = VAL_FRACTION) -> tuple[int, int]:
    """(validation rows, fitting rows) of ``n`` training rows, as ``train_test_split`` makes them."""
    n_val = math.ceil(val_fraction * n)
    return n_val, n - n_val


def _split(n: int, y: np.ndarray, adapter: Adapter, seed: int, val_fraction: float, stratify):
    from sklearn.model_selection import train_test_split

    if not 0.0 < val_fraction < 1.0:
        raise fail("val_fraction", "in (0, 1)", repr(val_fraction))
    n_val = inner_split_sizes(n, val_fraction)[0]
    if n - n_val < 2 or n_val < 1:
        raise fail("training rows", f"enough for an inner validation split of {val_fraction:g}", f"{n} row(s)")
    classification = adapter.task in ("binary", "multiclass")
    if stratify is None:
        # automatic: by class, where every class has at least two rows
        labels = y if classification and np.min(np.unique(y, return_counts=True)[1]) >= 2 else None
    elif stratify is True:
        labels = y
    elif stratify is False:
        labels = None
    else:
        labels = np.asarray(stratify)
        if labels.shape[0] != n:
            raise fail("stratify", f"None, a bool or {n} labels (one per training row)", f"shape {labels.shape}")
    idx = np.arange(n)
    return train_test_split(idx, test_size=val_fraction, random_state=seed, stratify=labels)


def fit_predict(adapter: Adapter, X_train, y_train, X_test, *, model: str = MODEL, seed: int = 0, monitor=None,
                l2: float = 0.0, max_epochs: int = MAX_EPOCHS, patience: int = PATIENCE, val_fraction: float = VAL_FRACTION,
                stratify=None, batch_size: int = _BATCH, lr: float | None = None, rounds: int = _GBDT["rounds"],
                early_stopping_rounds: int = _GBDT["early_stopping"]) -> Fit:
    """Train ``model`` with ``adapter``'s loss on ``(X_train, y_train)``; predict ``X_test``.

    ``monitor(prediction_val, y_val) -> float`` is evaluated after each epoch (boosting round) on
    the inner validation split for the curve's ``val_metric``; it does not drive early stopping
    (the validation loss does). ``stratify``: None (by class for classification, when every class
    has two rows), True, False, or labels to stratify the inner split on. ``max_epochs``,
    ``patience``, ``batch_size`` and ``lr`` (default 3e-2 linear, 3e-3 MLP) are for the torch
    models; ``rounds`` and ``early_stopping_rounds`` for ``gbdt``. Deterministic for a ``seed``.

    >>> import numpy as np
    >>> from losskit.compare.tasks import Adapter
    >>> X = np.linspace(-1, 1, 60)[:, None]; y = 3 * X[:, 0] + 1
    >>> fit = fit_predict(Adapter("mse", {}, "regression"), X, y, X[:2], seed=0)
    >>> np.round(fit.prediction, 1).tolist(), fit.best_epoch <= fit.epochs
    ([-2.0, -1.9], True)
    """
    start = time.perf_counter()
    check_model(model)
    if not (isinstance(l2, (int, float)) and l2 >= 0 and math.isfinite(l2)):
        raise fail("l2", "a finite number >= 0", repr(l2))
    for name, value in (("max_epochs", max_epochs), ("patience", patience), ("batch_size", batch_size),
                        ("rounds", rounds), ("early_stopping_rounds", early_stopping_rounds)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise fail(name, "an integer >= 1", repr(value))
    X_train, X_test = _features(X_train, "X_train"), _features(X_test, "X_test")
    y = np.asarray(y_train, dtype=np.float64).reshape(-1)
    if y.shape[0] != X_train.shape[0]:
        raise fail("y_train", f"one value per row of X_train ({X_train.shape[0]})", f"{y.shape[0]} values")
    if X_test.shape[1] != X_train.shape[1]:
        raise fail("X_test", f"{X_train.shape[1]} feature column(s) like X_train", f"{X_test.shape[1]}")
    adapter.encode(y)  # checks the target's coding (0/1, class codes) before any work
    tr, va = _split(len(y), y, adapter, seed, val_fraction, stratify)
    mean = X_train[tr].mean(axis=0)
    std = X_train[tr].std(axis=0)
    std[std == 0] = 1.0
    Xs = (X_train - mean) / std
    Xt = (X_test - mean) / std
    if model == "gbdt":
        result = _fit_gbdt(adapter, Xs[tr], y[tr], Xs[va], y[va], Xt, seed=seed, monitor=monitor,
                           rounds=int(rounds), patience=int(early_stopping_rounds))
    else:
        result = _fit_torch(adapter, Xs[tr], y[tr], Xs[va], y[va], Xt, model=model, seed=seed, monitor=monitor,
                            l2=float(l2), max_epochs=int(max_epochs), patience=int(patience),
                            batch_size=int(batch_size), lr=_LR[model] if lr is None else float(lr))
    result.seconds = time.perf_counter() - start
    return result


def _improved(value: float, best: float) -> bool:
    return math.isfinite(value) and (not math.isfinite(best) or value < best - 1e-7 * abs(best))


def _fit_torch(adapter, Xtr, ytr, Xva, yva, Xte, *, model, seed, monitor, l2, max_epochs, patience, batch_size, lr):
    import torch

    gen = torch.Generator().manual_seed(int(seed))
    dtype = torch.float32
    d, k = Xtr.shape[1], adapter.n_outputs
    sizes = (d, *(_HIDDEN if model == "mlp" else ()), k)
    weights, biases = [], []
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        last = i == len(sizes) - 2
        if last:  # the output layer starts at 0: the model starts at init_raw
            w = torch.zeros(fan_out, fan_in, dtype=dtype)
        else:  # He-uniform for ReLU layers, from the seeded generator
            bound = math.sqrt(6.0 / fan_in)
            w = (torch.rand(fan_out, fan_in, generator=gen, dtype=dtype) * 2 - 1) * bound
        weights.append(w.requires_grad_())
        biases.append(torch.zeros(fan_out, dtype=dtype, requires_grad=True))
    params = [*weights, *biases]
    init = torch.as_tensor(adapter.init_raw(ytr), dtype=dtype)
    scale = float(adapter.raw_scale(ytr))

    def forward(x):
        h = x
        for w, b in zip(weights[:-1], biases[:-1]):
            h = torch.relu(h @ w.T + b)
        out = init + scale * (h @ weights[-1].T + biases[-1])
        return out[:, 0] if k == 1 else out

    xtr, xva, xte = (torch.as_tensor(a, dtype=dtype) for a in (Xtr, Xva, Xte))
    ttr = adapter.encode(torch.as_tensor(ytr, dtype=dtype))
    tva = adapter.encode(torch.as_tensor(yva, dtype=dtype))
    opt = torch.optim.Adam(params, lr=lr)
    n = xtr.shape[0]
    full = n < 2 * batch_size
    curve = {"epoch": [], "train_loss": [], "val_loss": [], "val_metric": []}
    best, best_epoch = math.inf, 0
    best_state = [p.detach().clone() for p in params]
    epoch = 0
    for epoch in range(1, max_epochs + 1):
        order = torch.arange(n) if full else torch.randperm(n, generator=gen)
        total = 0.0
        for s in range(0, n, n if full else batch_size):
            rows = order[s:s + (n if full else batch_size)]
            loss = adapter.loss_encoded(forward(xtr[rows]), ttr[rows])
            objective = loss
            if l2 > 0:
                objective = loss + 0.5 * l2 * sum((w * w).sum() for w in weights)
            opt.zero_grad(set_to_none=True)
            objective.backward()
            opt.step()
            total += float(loss.detach()) * len(rows)
        with torch.no_grad():
            raw_va = forward(xva)
            val = float(adapter.loss_encoded(raw_va, tva))
        curve["epoch"].append(epoch)
        curve["train_loss"].append(total / n)
        curve["val_loss"].append(val)
        if monitor is not None:
            curve["val_metric"].append(float(monitor(adapter.predict(raw_va.numpy()), yva)))
        if _improved(val, best):
            best, best_epoch = val, epoch
            best_state = [p.detach().clone() for p in params]
        if not math.isfinite(val) or epoch - best_epoch >= patience:
            break
    with torch.no_grad():
        for p, saved in zip(params, best_state):
            p.copy_(saved)
        raw_te = forward(xte).numpy()
    return Fit(prediction=adapter.predict(raw_te), curve=curve, best_epoch=best_epoch, epochs=epoch)


def _gbdt_objective(adapter, y):
    """The XGBoost objective and the per-row Hessian used for first-order losses.

    Identity-link regression losses get Hessians in target units: where a loss's Hessian is zero
    (MAE, pinball: ``hessian="unit"``) it is replaced by ``1 / scale``, so a round moves the output
    by ``eta * scale * mean(-gradient)`` (target-sized steps, like LightGBM's ``l1``); Huber-type
    and redescending losses, whose Hessian vanishes or turns negative in the tails, get it floored
    at ``min(1, 1 / scale)`` (``"floor"``, or ``"abs"`` where it can be negative), so tail rows
    cannot blow a leaf up. Classification and log-link losses use ``losskit.gbdt``'s defaults."""
    from ..gbdt import objective

    s = adapter.spec
    scale = float(adapter.raw_scale(y))
    if adapter.task in ("regression", "quantile") and s.link == "identity" and s.name != "poisson_nll":
        probe = objective(s.name, **adapter.params)
        if probe.hessian_mode == "unit":
            return probe, 1.0 / scale
        mode = "floor" if s.hessian_nonnegative else "abs"
        return objective(s.name, hessian=mode, hessian_floor=min(1.0, 1.0 / scale), **adapter.params), None
    return objective(s.name, **adapter.params), None


def _fit_gbdt(adapter, Xtr, ytr, Xva, yva, Xte, *, seed, monitor, rounds, patience):
    import xgboost as xgb

    if adapter.mode != "direct":
        raise fail(f"--losses ({adapter.spec.name})", "a loss with closed-form derivatives of the raw score for gbdt",
                    f"{adapter.spec.name} on the {adapter.mode} scale (use linear or mlp)")
    obj, unit_hessian = _gbdt_objective(adapter, ytr)
    ttr, tva = adapter.encode(ytr), adapter.encode(yva)
    multi = adapter.task == "multiclass"

    def xgb_obj(preds, dtrain):
        g, h = obj.gradient_hessian(preds, ttr)
        return g, (h if unit_hessian is None else np.full_like(h, unit_hessian))

    def xgb_metric(preds, dmat):
        return adapter.spec.name, obj.loss(preds, ttr if dmat is dtrain else tva)

    dtrain, dval = xgb.DMatrix(Xtr, ttr), xgb.DMatrix(Xva, tva)
    params = {"eta": _GBDT["eta"], "max_depth": _GBDT["max_depth"], "nthread": 1, "seed": int(seed),
              "tree_method": "hist", **obj.xgboost_params(ttr, num_classes=adapter.n_outputs if multi else None)}
    metric_values = []

    class _Monitor(xgb.callback.TrainingCallback):
        def after_iteration(self, booster, epoch, evals_log):
            if monitor is not None:
                margin = booster.predict(dval, output_margin=True)
                metric_values.append(float(monitor(adapter.predict(margin), yva)))
            return False

    log: dict = {}
    booster = xgb.train(params, dtrain, num_boost_round=rounds, evals=[(dtrain, "train"), (dval, "val")],
                        obj=xgb_obj, custom_metric=xgb_metric, early_stopping_rounds=patience, evals_result=log,
                        verbose_eval=False, callbacks=[_Monitor()])
    name = adapter.spec.name
    train_loss, val_loss = log["train"][name], log["val"][name]
    epochs = len(val_loss)
    best_epoch = int(booster.best_iteration) + 1
    margin = booster.predict(xgb.DMatrix(Xte), output_margin=True, iteration_range=(0, best_epoch))
    curve = {"epoch": list(range(1, epochs + 1)), "train_loss": [float(v) for v in train_loss],
             "val_loss": [float(v) for v in val_loss], "val_metric": metric_values[:epochs]}
    return Fit(prediction=adapter.predict(margin), curve=curve, best_epoch=best_epoch, epochs=epochs)


def check_inner_split(config, y: np.ndarray, split: dict) -> None:
    """Refuse folds whose training rows cannot hold the models' inner validation split.

    Mirrors ``models._split``: where every class has two training rows, the split is stratified
    and scikit-learn needs at least one row per class on each side of it."""
    if config.task not in ("binary", "multiclass"):
        return
    classes, counts = np.unique(y, return_counts=True)
    for (fold, seed), (train, _) in split.items():
        n_val, n_fit = inner_split_sizes(len(train))
        in_train = np.unique(y[train], return_counts=True)[1]
        if in_train.min() >= 2 and min(n_val, n_fit) < len(in_train):
            shown = ", ".join(f"{c!r}: {k}" for c, k in zip(classes.tolist(), counts.tolist()))
            more = next((k for k in range(config.folds + 1, len(y) // 2 + 1)
                         if min(inner_split_sizes(len(y) - -(-len(y) // k))) >= len(classes)), None)
            hint = f"use --folds {more} or more, or more rows" if more else "use more rows, or merge rare classes"
            raise fail("DATA", f"training folds whose inner validation split ({VAL_FRACTION:g} of them, "
                       f"stratified) holds every one of the {len(classes)} classes",
                       f"{len(y)} rows: {len(train)} per training fold with --folds {config.folds}, "
                       f"{n_val} of them for validation (class counts {shown}); {hint}")
