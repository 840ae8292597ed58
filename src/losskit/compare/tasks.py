"""Which losses a compare run can train on a target, and how a raw model output meets each loss.

A **task** is one of ``TASKS``: ``"regression"`` (a real target, positive and count targets
included), ``"quantile"`` (a real target judged by ``pinball@q``), ``"binary"`` (targets 0/1) and
``"multiclass"`` (class codes 0..C-1). The registry decides what fits, from each ``LossSpec``'s
task, kind, link, input space and target domain, so a newly registered loss is offered the moment
it is registered:

>>> task_of([0.5, 1.2, -3.0, 2.2, 0.1])
'regression'
>>> "huber" in fitting_losses("regression") and "gamma_deviance" not in fitting_losses("regression")
True
>>> "gamma_deviance" in fitting_losses("regression", y=[1.0, 2.5, 0.3])
True

Classification with regression losses: on a binary or multiclass task ``mse`` and ``mae`` are
trained **on the probability** (the sigmoid / softmax of the raw output against the 0/1 or one-hot
target: the Brier-type loss), which runs the classic lesson "cross-entropy vs MSE for
classification": the MSE gradient through a saturated sigmoid vanishes, so it converges slowly.
"""

from __future__ import annotations

import math

import numpy as np

from .. import domains as D
from ..registry import get as _get
from ..registry import spec as _spec
from ..registry import specs as _specs
from .config import MODEL, TASKS, check_model, fail

__all__ = ["TASKS", "Adapter", "baseline", "check_fits", "encode_labels", "fitting_losses", "task_of"]

_REAL_TASKS = ("regression", "quantile")
_REGRESSION_SPEC_TASKS = ("regression", "count", "positive")  # registry tasks with a real target of one value
_PROBABILITY_LOSSES = ("mse", "mae")  # regression losses run on the probability for classification
_BASELINES = {"regression": "mse", "quantile": "pinball", "binary": "binary_cross_entropy_with_logits",
              "multiclass": "cross_entropy"}
_MAD_TO_SIGMA = 1.4826


def _target(y) -> np.ndarray:
    try:
        arr = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError):
        raise fail("target", "numeric (encode class names with encode_labels)", f"{type(y).__name__}") from None
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    return arr


def task_of(y, metric_names=()) -> str:
    """The compare task of a target: ``recommend.profile(y).task`` read as one of ``TASKS``.

    continuous / positive / counts / proportion -> ``"regression"`` (``"quantile"`` when a
    metric ``pinball@q`` is asked for); binary -> ``"binary"``; multiclass -> ``"multiclass"``.
    Multi-label targets are refused. Class labels other than 0/1 or 0..C-1 are fine here (the
    task is the same); encode them with :func:`encode_labels` before training.

    >>> task_of([0, 1, 1, 0]), task_of([0, 2, 1, 2, 0]), task_of([1.0, 2.0, 3.5], ["pinball@0.9"])
    ('binary', 'multiclass', 'quantile')
    """
    from ..recommend.profile import profile

    try:
        found = profile(y).task
    except (TypeError, ValueError) as exc:
        raise fail("target", "a usable 1-D target", str(exc)) from None
    if found == "multilabel":
        raise fail("target", "one column (regression, binary or multiclass; multi-label is not supported)",
                    "a multi-label target (several 0/1 columns)")
    if found in ("binary", "multiclass"):
        return found
    if _target(y).ndim != 1:
        raise fail("target", "one column (multi-output regression is not supported)",
                    f"shape {np.shape(y)}")
    if any(str(m).startswith("pinball@") for m in metric_names):
        return "quantile"
    return "regression"


def encode_labels(y) -> tuple[np.ndarray, np.ndarray]:
    """Class codes 0..C-1 (float64) and the sorted original labels, so ``classes[codes]`` is ``y``.

    >>> codes, classes = encode_labels(["b", "a", "b"])
    >>> codes.tolist(), classes.tolist()
    ([1.0, 0.0, 1.0], ['a', 'b'])
    """
    classes, codes = np.unique(np.asarray(y), return_inverse=True)
    return codes.astype(np.float64).reshape(-1), classes


def _is_sign(domain) -> bool:
    return isinstance(domain, D.Discrete) and set(domain.values) == {-1, 1}


def _mode(spec, task: str) -> str | None:
    """How ``spec`` is trained on ``task`` (None: it is not): "direct" (the loss's own link),
    "probability" (mse/mae on sigmoid/softmax), "log1p" (msle/rmsle on an expm1 link)."""
    trainable = spec.kind in ("elementwise", "class_axis", "aggregate") and not spec.extra_inputs
    if not trainable:
        return None
    if task in _REAL_TASKS:
        if spec.kind == "class_axis" or spec.task not in (*_REGRESSION_SPEC_TASKS, "quantile"):
            return None
        if isinstance(spec.target_domain, D.Discrete):
            return None
        if spec.input_space == "prediction" and spec.input_domain == D.GREATER_THAN_MINUS_ONE:
            return "log1p"
        return "direct"
    if (task == "binary" and spec.task == "binary" and spec.kind != "class_axis"
            and spec.input_space in ("logit", "probability", "score")):
        return "direct"
    if (task == "multiclass" and spec.task == "multiclass" and spec.kind == "class_axis"
            and isinstance(spec.target_domain, D.ClassIndex) and spec.input_space in ("logit", "score", "log-probability")):
        return "direct"
    if task in ("binary", "multiclass") and spec.name in _PROBABILITY_LOSSES:
        return "probability"
    return None


def _domain_problem(spec, y) -> tuple[str, str] | None:
    """(expected, received) when the real target ``y`` lies outside ``spec``'s target domain
    (None: it does not)."""
    dom = spec.target_domain
    if y is None:
        return None if dom == D.REAL else (f"targets {dom.describe()}", "no target to check")
    arr = _target(y).ravel()
    inside = not arr.size or (dom.contains_scalar(float(arr.min())) and dom.contains_scalar(float(arr.max())))
    if isinstance(dom, D.Interval) and not inside:
        return f"targets {dom.describe()}", f"a target with min {arr.min():g} and max {arr.max():g}"
    return None


def fitting_losses(task: str, y=None) -> list[str]:
    """Registry names that ``fit_predict`` can train on ``task`` (linear / MLP; see
    :func:`check_fits` for GBDT), the task's own losses first.

    Pointwise losses (elementwise or class-axis) qualify, and the aggregate ones (``rmse``,
    ``rmsle``, ``soft_fbeta``), which are trained on each mini-batch's value. Losses needing
    extra arrays (``gaussian_nll``'s variance, ``crps_gaussian``'s std), structured losses and
    distribution targets are left out. Regression and quantile share the real-target losses.
    Losses whose target domain is not the whole real line (Poisson, Gamma, Tweedie, MSLE) are
    listed only when ``y`` is given and lies in it. On binary/multiclass tasks ``mse`` and
    ``mae`` are listed too: trained on the probability (Brier-type).

    >>> fitting_losses("binary")[:3]
    ['binary_cross_entropy', 'binary_cross_entropy_with_logits', 'sigmoid_focal']
    """
    if task not in TASKS:
        raise fail("task", f"one of {', '.join(TASKS)}", repr(task))
    own, other = [], []
    for s in _specs():
        mode = _mode(s, task)
        if mode is None or (task in _REAL_TASKS and _domain_problem(s, y)):
            continue
        first = s.task == task or (task == "regression" and s.task in _REGRESSION_SPEC_TASKS)
        (own if first and mode != "probability" else other).append(s.name)
    return own + other


def check_fits(loss: str, task: str, y, model: str = MODEL) -> None:
    """Raise a ``ValueError`` saying why ``loss`` cannot be trained by ``model`` on this data.

    >>> check_fits("huber", "regression", [1.0, -2.0, 3.0])
    >>> check_fits("cross_entropy", "regression", [1.0, -2.0, 3.0])
    Traceback (most recent call last):
    ...
    ValueError: compare: --losses: cross_entropy (a multiclass loss) does not fit the data's task; expected a loss for a regression task; received cross_entropy
    """
    check_model(model)
    try:
        s = _spec(loss)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"compare: --losses: {exc}") from None
    mode = _mode(s, task) if task in TASKS else None
    if task not in TASKS:
        raise fail("task", f"one of {', '.join(TASKS)}", repr(task))
    where = f"compare: --losses: {s.name} (a {s.task} loss)"
    if mode is None:
        why = ""
        if s.extra_inputs:
            why = f" (it needs extra arrays: {', '.join(s.extra_inputs)})"
        elif s.kind == "structured":
            why = " (a structured loss, not one value per row)"
        raise ValueError(f"{where} does not fit the data's task{why}; expected a loss for a {task} task; "
                         f"received {s.name}")
    if task in _REAL_TASKS:
        problem = _domain_problem(s, y)
        if problem:
            raise ValueError(f"{where} does not fit the target; expected {problem[0]}; received {problem[1]}")
    if model == "gbdt":
        if mode != "direct":
            raise ValueError(f"{where} cannot be a GBDT objective here; expected a loss with closed-form "
                             f"derivatives of the raw score; received {s.name} (trained on the "
                             f"{'probability' if mode == 'probability' else 'log1p scale'}; use linear or mlp)")
        from ..gbdt import objective

        try:
            objective(s.name)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where} cannot be a GBDT objective; expected a pointwise loss with closed-form "
                             f"derivatives; received {s.name} ({exc})") from None


def baseline(task: str) -> str:
    """The standard loss of a task, which every other loss is tested against.

    >>> [baseline(t) for t in TASKS]
    ['mse', 'pinball', 'binary_cross_entropy_with_logits', 'cross_entropy']
    """
    if task not in TASKS:
        raise fail("task", f"one of {', '.join(TASKS)}", repr(task))
    return _BASELINES[task]


def _spread(v: np.ndarray) -> float:
    """A robust spread: MAD * 1.4826, else the std, else 1."""
    if v.size == 0:
        return 1.0
    mad = float(np.median(np.abs(v - np.median(v)))) * _MAD_TO_SIGMA
    if mad > 0 and math.isfinite(mad):
        return mad
    std = float(np.std(v))
    return std if std > 0 and math.isfinite(std) else 1.0


class Adapter:
    """Raw model output -> loss input, target encoding, and predictions, for one loss on one task.

    ``raw`` is what the model's last layer (or the booster) outputs: shape (n,) for regression,
    quantile and binary, (n, C) for multiclass. Per mode:

    - regression / quantile, identity link: the raw output is the prediction in target units;
      ``exp`` link (Gamma, Tweedie) and Poisson (``log_input=True``): the raw output is the
      log-mean; ``msle`` / ``rmsle``: the raw output is on the log1p scale (prediction
      ``expm1(raw)``, so it stays above -1, the loss's input domain).
    - binary: logit losses take the raw output, probability losses (``binary_cross_entropy``,
      ``soft_fbeta``) its sigmoid; score losses (``hinge``, ``squared_hinge``) take it as a
      margin against targets encoded as their domain says ({-1, +1}). Predictions are
      ``sigmoid(raw)`` for all of them: for score and focal losses this is a ranking score
      mapped to [0, 1], not a calibrated probability.
    - multiclass: logits for softmax losses, ``log_softmax(raw)`` for ``nll``, scores for
      ``multi_margin``; predictions are ``softmax(raw)`` (for margin losses not calibrated).
    - ``mse`` / ``mae`` on binary / multiclass: on the probability (sigmoid / softmax) against
      the 0/1 or one-hot target (Brier-type); prediction is that probability.

    ``init_raw(y)`` is a constant start (mean, median, quantile, log-mean, log-odds, log class
    frequencies) used as the output bias; ``raw_scale(y)`` a robust spread of ``y`` (on the
    log or log1p scale where the link is) by which a model multiplies its output, so that
    optimisation is well conditioned without standardising the target (loss parameters such as
    Huber's ``delta`` stay in target units).

    >>> import numpy as np
    >>> a = Adapter("hinge", {}, "binary")
    >>> a.n_outputs, a.encode(np.array([0.0, 1.0])).tolist()
    (1, [-1.0, 1.0])
    >>> a.predict(np.array([0.0])).tolist()
    [0.5]
    """

    def __init__(self, loss: str, params: dict | None, task: str, n_classes: int | None = None, y_train=None):
        if task not in TASKS:
            raise fail("task", f"one of {', '.join(TASKS)}", repr(task))
        self.spec = _spec(loss)
        self.task = task
        self.params = dict(params or {})
        self.mode = _mode(self.spec, task)
        if self.mode is None:
            check_fits(self.spec.name, task, y_train)  # raises with the reason
        y = None if y_train is None else _target(y_train)
        if task in ("binary", "multiclass") and y is not None:
            _check_codes(y, task, n_classes)
        if task == "multiclass":
            if n_classes is None:
                if y is None:
                    raise fail("n_classes", "given (or y_train) for a multiclass task", "None")
                n_classes = int(y.max()) + 1
            if int(n_classes) < 2:
                raise fail("n_classes", ">= 2", repr(n_classes))
            n_classes = int(n_classes)
        elif task == "binary":
            n_classes = 2
        else:
            n_classes = None
        if task in _REAL_TASKS and y is not None:
            problem = _domain_problem(self.spec, y)
            if problem:
                raise fail(f"target of {self.spec.name}", problem[0], problem[1])
        quantile = self.params.get("quantile")
        if quantile is not None and np.ndim(quantile) > 0:
            raise fail(f"{self.spec.name}: quantile", "one level per trial", repr(quantile))
        self.n_classes = n_classes
        self.n_outputs = n_classes if task == "multiclass" else 1
        self.sign_target = self.mode == "direct" and _is_sign(self.spec.target_domain)
        self.fn = _get(self.spec.name, **self.params)
        self.y_train = y

    # -- encoding ------------------------------------------------------------

    def encode(self, y):
        """The target as the loss takes it: a torch tensor when ``y`` is one (float32; long class
        codes for class-axis losses; {-1, +1} for sign-target losses), else a NumPy array."""
        if _is_torch(y):
            if self.spec.kind == "class_axis":
                return y.long()
            y = y.float()
            return 2.0 * y - 1.0 if self.sign_target else y
        y = _target(y)
        if self.task in ("binary", "multiclass"):
            _check_codes(y, self.task, self.n_classes)
        if self.spec.kind == "class_axis":
            return y.astype(np.int64)
        return 2.0 * y - 1.0 if self.sign_target else y

    # -- the loss on torch ---------------------------------------------------

    def loss(self, raw, y):
        """Mean loss of raw outputs ``raw`` (torch, (n,) or (n, C)) against plain targets ``y`` (torch:
        values, 0/1 or class codes), differentiable in ``raw``."""
        return self.loss_encoded(raw, self.encode(y))

    def loss_encoded(self, raw, t):
        """As :meth:`loss`, for a target already returned by :meth:`encode` (the training loop's path)."""
        import torch

        s, mode = self.spec, self.mode
        if mode == "probability":
            if self.task == "binary":
                return self.fn(torch.sigmoid(raw), t)
            onehot = torch.nn.functional.one_hot(t.long(), self.n_classes).to(raw.dtype)
            return self.fn(torch.softmax(raw, dim=1), onehot)
        if mode == "log1p":
            return self.fn(torch.expm1(raw), t)
        if s.kind == "class_axis" and s.input_space.startswith("log-probability"):
            return self.fn(torch.log_softmax(raw, dim=1), t)
        link = s.link
        if link == "sigmoid":
            x = torch.sigmoid(raw)
        elif link == "exp":
            x = torch.exp(raw)
        elif link == "softmax":
            x = torch.softmax(raw, dim=1)
        elif link == "log_softmax":
            x = torch.log_softmax(raw, dim=1)
        elif s.name == "poisson_nll" and not self.fn.params.get("log_input", True):
            x = torch.exp(raw)  # the mean, kept positive
        else:
            x = raw
        return self.fn(x, t)

    # -- predictions ---------------------------------------------------------

    def predict(self, raw) -> np.ndarray:
        """Raw outputs -> the prediction metrics take (NumPy float64): target units (n,) for
        regression/quantile, P(y = 1) (n,) for binary (the sigmoid of the raw output; for score
        losses such as hinge a monotone map of the margin, not a calibrated probability), class
        probabilities (n, C) for multiclass (softmax)."""
        raw = np.asarray(raw, dtype=np.float64)
        if self.task == "multiclass":
            raw = raw.reshape(-1, self.n_classes)
            z = np.exp(raw - raw.max(axis=1, keepdims=True))
            return z / z.sum(axis=1, keepdims=True)
        raw = raw.reshape(-1)
        if self.task == "binary":
            return np.exp(-np.logaddexp(0.0, -raw))
        if self.mode == "log1p":
            return np.expm1(raw)
        if self.spec.link == "exp" or self.spec.name == "poisson_nll":
            return np.exp(raw)
        return raw

    def init_raw(self, y) -> np.ndarray:
        """A good constant raw output for targets ``y``: shape (n_outputs,).

        >>> Adapter("mae", {}, "regression").init_raw([1.0, 2.0, 10.0]).tolist()
        [2.0]
        """
        y = _target(y).ravel()
        if self.task == "multiclass":
            counts = np.bincount(y.astype(np.int64), minlength=self.n_classes)[: self.n_classes]
            freq = np.clip(counts / max(counts.sum(), 1), 1e-6, None)
            return np.log(freq / freq.sum()) - np.mean(np.log(freq / freq.sum()))
        if self.task == "binary":
            p = float(np.clip(np.mean(y), 1e-6, 1 - 1e-6))
            return np.array([math.log(p / (1 - p))])
        name = self.spec.name
        if self.mode == "log1p":
            return np.array([float(np.mean(np.log1p(y)))])
        if self.spec.link == "exp" or name == "poisson_nll":
            return np.array([math.log(max(float(np.mean(y)), 1e-12))])
        if name == "pinball":
            return np.array([float(np.quantile(y, float(self.fn.params["quantile"])))])
        if name in ("mse", "rmse", "expectile"):
            return np.array([float(np.mean(y))])
        return np.array([float(np.median(y))])

    def raw_scale(self, y) -> float:
        """The spread by which a model's output is multiplied: MAD * 1.4826 of ``y`` (of log y for
        log links, log1p y for msle; std, then 1, where that is 0); 1 for classification.

        >>> Adapter("mse", {}, "regression").raw_scale([0.0, 1.0, 2.0, 3.0, 100.0])
        1.4826
        """
        if self.task in ("binary", "multiclass"):
            return 1.0
        y = _target(y).ravel()
        if self.mode == "log1p":
            return _spread(np.log1p(y))
        if self.spec.link == "exp" or self.spec.name == "poisson_nll":
            return _spread(np.log(y[y > 0])) if np.any(y > 0) else 1.0
        return _spread(y)


def _check_codes(y: np.ndarray, task: str, n_classes: int | None) -> None:
    if task == "binary":
        bad = (y != 0) & (y != 1)
        if bad.any():
            raise fail("target", "0/1 for a binary task (encode labels with encode_labels)",
                        f"value {y[bad][0]:g}")
        return
    bad = (y < 0) | (y != np.round(y)) | ((y >= n_classes) if n_classes is not None else False)
    if bad.any():
        top = f"0..{n_classes - 1}" if n_classes is not None else "0..C-1"
        raise fail("target", f"class codes {top} for a multiclass task (encode labels with encode_labels)",
                    f"value {y[bad][0]:g}")


def _is_torch(x) -> bool:
    return type(x).__module__.startswith("torch")
