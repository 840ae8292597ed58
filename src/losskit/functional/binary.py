"""Losses for binary and multi-label outputs: one independent prediction per element.

``input`` and ``target`` have the same shape; each element is its own binary
problem (a sample of a binary classifier, or one label of a multi-label
classifier, shape (N, L)). The input space is in the name:
``binary_cross_entropy`` takes probabilities, ``binary_cross_entropy_with_logits``
and ``sigmoid_focal`` take logits, the hinge losses take scores (margins).
``soft_fbeta`` is defined on a whole batch (it sums over the sample axis).

Each loss is defined once here: ``@loss(...)`` above the function holds its
registry metadata (parameter defaults come from the signature), and the
function marked ``@derivatives_of(<loss>)`` returns the per-element
gradient and Hessian with respect to the raw input:; the registry
exposes them as ``losskit.get(name).gradient`` / ``.hessian``. the logit for the logistic losses (also for
``binary_cross_entropy``, whose input is ``sigmoid(raw)``), the score itself
for the hinge losses.
"""

from __future__ import annotations

import numbers
from dataclasses import replace


from .. import domains as D
from .._array import clamped_log, clamped_log1m, log_sigmoid, namespace, sigmoid, softplus
from .._reduce import reduce
from .._validate import as_float, check_data, check_param, elementwise
from ..kernels import elementwise as fast_elementwise
from ..registry import Param, derivatives_of, loss

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "sigmoid_focal",
    "hinge",
    "soft_margin",
    "squared_hinge",
    "hinge_embedding",
    "soft_fbeta",
]

# label_smoothing lies in [0, 1], as in cross_entropy and PyTorch: at 1 every target becomes 1/2.
SMOOTHING = D.UNIT

_SIGN_HINT = " (targets are -1 or +1: map 0/1 labels with 2 * target - 1, so that 0 becomes -1)"


# -- helpers -------------------------------------------------------------------


def _sign_batch(loss, input, target, **kwargs):
    """``elementwise`` with target in {-1, +1}; a 0/1 target gets a hint."""
    try:
        return elementwise(loss, input, target, target_domain=D.SIGN, **kwargs)
    except ValueError as error:
        message = str(error)
        if message.startswith(f"{loss}: target must be "):
            raise ValueError(message + _SIGN_HINT) from None
        raise


def _pos_weight(loss, b, pos_weight):
    """A float, ``None``, or an array broadcastable along the input's last axis."""
    if pos_weight is None:
        return None
    if isinstance(pos_weight, numbers.Real) and not isinstance(pos_weight, bool):
        return check_param(loss, "pos_weight", pos_weight, D.BOUNDED_NONNEGATIVE)
    if isinstance(pos_weight, bool):
        raise TypeError(f"{loss}: pos_weight must be a real number or an array; received bool {pos_weight!r}")
    xp, arrays = namespace(loss, {"input": b.input, "pos_weight": pos_weight})
    pw = as_float(loss, "pos_weight", xp, arrays["pos_weight"], b.dtype)
    labels = b.input.shape[-1] if b.input.ndim >= 1 else None
    if pw.ndim > 1 or (pw.ndim == 1 and (labels is None or pw.shape[0] != labels)):
        expected = (
            f"a scalar or a 1-D array of length {labels} (one weight per label, along the input's last axis)"
            if labels is not None
            else "a scalar (the input has no label axis)"
        )
        raise ValueError(f"{loss}: pos_weight must be {expected}; received shape {tuple(pw.shape)}")
    check_data(loss, "pos_weight", xp, pw, D.BOUNDED_NONNEGATIVE)
    return pw


def _smoothed(xp, y, label_smoothing):
    return y if label_smoothing == 0.0 else y * (1.0 - label_smoothing) + 0.5 * label_smoothing


def _check_alpha(loss, alpha):
    return None if alpha is None else check_param(loss, "alpha", alpha, D.UNIT)


# -- binary cross-entropy on probabilities ----------------------------------------


# -- registry metadata shared by several definitions ---------------------------

_MULTILABEL = " Works for multi-label (N, L) outputs too: each label is its own binary problem."


@loss(
    aliases=("bce",),
    task="binary",
    input_space="probability",
    summary="Log loss on probabilities; each log term clamped at -100 as in PyTorch." + _MULTILABEL,
    estimates="probability P(y = 1 | x) (a strictly proper scoring rule)",
    input_domain=D.UNIT,
    target_domain=D.UNIT,
    link="sigmoid",
    best_input=None,
    peers=("torch.nn.functional.binary_cross_entropy", "sklearn.metrics.log_loss"),
    references=(
        "Good, I. J. (1952). Rational Decisions. J. R. Stat. Soc. B 14(1).",
        "Cox, D. R. (1958). The Regression Analysis of Binary Sequences. J. R. Stat. Soc. B 20(2).",
    ),
    notes="Derivatives are with respect to the logit (input = sigmoid(raw)). Prefer "
          "binary_cross_entropy_with_logits when the model produces logits.",
)
def binary_cross_entropy(input, target, *, weight=None, mask=None, reduction="mean"):
    r"""Binary cross-entropy on probabilities (log loss).

    .. math::
        \ell = -\bigl[\,y \max(\log p, -100) + (1 - y) \max(\log(1 - p), -100)\,\bigr]

    Each log term is clamped at -100, PyTorch's documented semantics, so a
    probability of exactly 0 or 1 gives a finite loss (at most 100) instead of
    infinity; the clamped terms have a zero gradient. Prefer
    :func:`binary_cross_entropy_with_logits` when the model produces logits:
    it is exact where ``sigmoid`` would round to 0 or 1.

    A strictly proper scoring rule: its minimiser is the conditional
    probability ``P(y = 1 | x)``. Matches ``torch.nn.functional.binary_cross_entropy``
    (and ``sklearn.metrics.log_loss`` for probabilities away from 0 and 1).

    Args:
        input: probabilities ``p`` in [0, 1], any shape (binary (N,) or multi-label (N, L)).
        target: ``y`` in [0, 1] (hard 0/1 labels or soft labels), the shape of ``input``.
        weight, mask: per-element weights / boolean mask, the shape of ``input``.
        reduction: ``"mean"`` (weighted mean over unmasked elements), ``"sum"`` or ``"none"``.

    NaN in ``input`` propagates; a probability outside [0, 1] raises.

    >>> import numpy as np, losskit
    >>> p, y = np.array([0.9, 0.2, 1.0]), np.array([1.0, 0.0, 0.0])
    >>> np.round(losskit.binary_cross_entropy(p, y, reduction="none"), 4).tolist()
    [0.1054, 0.2231, 100.0]

    References:
        Good, I. J. (1952). Rational Decisions. J. R. Stat. Soc. B 14(1).
    """
    b = elementwise("binary_cross_entropy", input, target, weight=weight, mask=mask, reduction=reduction,
                    input_domain=D.UNIT, target_domain=D.UNIT)
    xp, p, y = b.xp, b.input, b.target
    loss = -(y * clamped_log(xp, p) + (1.0 - y) * clamped_log1m(xp, p))
    return reduce(b, loss, reduction)


@derivatives_of(binary_cross_entropy)
def _binary_cross_entropy_derivatives(raw, target, *, full=False):
    """With respect to the logit ``raw`` (``input = sigmoid(raw)``): sigma - y and sigma (1 - sigma)."""
    b = elementwise("binary_cross_entropy", raw, target, target_domain=D.UNIT, input_name="raw")
    xp, x, y = b.xp, b.input, b.target
    s = sigmoid(xp, x)
    return b.out(s - y), b.out(s * sigmoid(xp, -x))


# -- binary cross-entropy on logits -------------------------------------------------


@loss(
    aliases=("bce_with_logits", "sigmoid_cross_entropy"),
    task="binary",
    input_space="logit",
    summary="Binary cross-entropy on logits (stable softplus form) with pos_weight and label smoothing."
            + _MULTILABEL,
    estimates="log-odds of P(y = 1 | x) (a strictly proper scoring rule on sigmoid(input))",
    target_domain=D.UNIT,
    params=(
        Param("pos_weight", D.BOUNDED_NONNEGATIVE,
              "weight of the positive term: a number, or one weight per label along the last axis",
              kind="real_or_array"),
        Param("label_smoothing", SMOOTHING, "targets become y (1 - eps) + eps / 2"),
    ),
    best_input=None,
    param_grid=({"pos_weight": 3.0}, {"pos_weight": 0.25, "label_smoothing": 0.1}, {"label_smoothing": 0.5}),
    peers=("torch.nn.functional.binary_cross_entropy_with_logits",),
    references=(
        "Cox, D. R. (1958). The Regression Analysis of Binary Sequences. J. R. Stat. Soc. B 20(2).",
        "Szegedy, C. et al. (2016). Rethinking the Inception Architecture for Computer Vision. CVPR "
        "(label smoothing).",
    ),
)
def binary_cross_entropy_with_logits(input, target, *, pos_weight=None, label_smoothing=0.0,
                                     weight=None, mask=None, reduction="mean"):
    r"""Binary cross-entropy on logits, with positive-class weight and label smoothing.

    .. math::
        \ell = c\, y'\, \mathrm{softplus}(-x) + (1 - y')\, \mathrm{softplus}(x),
        \qquad y' = y (1 - \varepsilon) + \varepsilon / 2

    where ``c = pos_weight`` (1 when not given) and ``\varepsilon = label_smoothing``.
    Computed with softplus (log-sigmoid), never ``log(sigmoid(x))``: finite with
    finite gradients for logits of any size (±1e4 in float32 included).

    Estimates the log-odds of ``P(y = 1 | x)`` (a proper scoring rule on
    ``sigmoid(x)``). With ``label_smoothing=0`` matches
    ``torch.nn.functional.binary_cross_entropy_with_logits(pos_weight=...)``.
    Label smoothing moves the targets towards 1/2 as Keras
    (``keras.losses.binary_crossentropy(label_smoothing=...)``) and optax
    (``optax.smooth_labels`` with two classes) do.

    Args:
        input: logits ``x``, any shape (binary (N,) or multi-label (N, L)).
        target: ``y`` in [0, 1], the shape of ``input``.
        pos_weight: weight ``c >= 0`` of the positive term: a number, or a 1-D array
            with one weight per label, of length ``input.shape[-1]``, applied along
            the last axis (PyTorch's rule for multi-label ``(N, L)`` inputs). No other
            shape is broadcast. ``c > 1`` raises recall, ``c < 1`` precision.
        label_smoothing: ``\varepsilon`` in [0, 1].
        weight, mask: per-element weights / boolean mask, the shape of ``input``.
        reduction: ``"mean"`` (weighted mean over unmasked elements), ``"sum"`` or ``"none"``.

    >>> import numpy as np, losskit
    >>> x, y = np.array([2.0, -1.0]), np.array([1.0, 0.0])
    >>> np.round(losskit.binary_cross_entropy_with_logits(x, y, reduction="none"), 4).tolist()
    [0.1269, 0.3133]
    >>> np.round(losskit.binary_cross_entropy_with_logits(x, y, pos_weight=2.0, reduction="none"), 4).tolist()
    [0.2539, 0.3133]

    References:
        Cox, D. R. (1958). The Regression Analysis of Binary Sequences. J. R. Stat. Soc. B 20(2).
        Szegedy, C. et al. (2016). Rethinking the Inception Architecture for Computer Vision. CVPR
        (label smoothing).
    """
    name = "binary_cross_entropy_with_logits"
    label_smoothing = check_param(name, "label_smoothing", label_smoothing, SMOOTHING)
    b = elementwise(name, input, target, weight=weight, mask=mask, reduction=reduction, target_domain=D.UNIT)
    pw = _pos_weight(name, b, pos_weight)
    out = fast_elementwise.fused_binary_cross_entropy_with_logits(
        b, pos_weight=pw, label_smoothing=label_smoothing, reduction=reduction,
        reference=lambda z: binary_cross_entropy_with_logits(
            z, target, pos_weight=pos_weight, label_smoothing=label_smoothing, reduction=reduction))
    if out is not None:
        return out
    xp, x = b.xp, b.input
    y = _smoothed(xp, b.target, label_smoothing)
    positive = y * softplus(xp, -x)
    if pw is not None:
        positive = pw * positive
    return reduce(b, positive + (1.0 - y) * softplus(xp, x), reduction)


@derivatives_of(binary_cross_entropy_with_logits)
def _binary_cross_entropy_with_logits_derivatives(raw, target, *, pos_weight, label_smoothing,
                                                  full=False):
    name = "binary_cross_entropy_with_logits"
    b = elementwise(name, raw, target, target_domain=D.UNIT, input_name="raw")
    pw = _pos_weight(name, b, pos_weight)
    xp, x = b.xp, b.input
    y = _smoothed(xp, b.target, label_smoothing)
    s, t = sigmoid(xp, x), sigmoid(xp, -x)
    cy = y if pw is None else pw * y
    gradient = (1.0 - y) * s - cy * t
    hessian = (cy + 1.0 - y) * (s * t)
    return b.out(gradient), b.out(hessian)


# -- sigmoid focal loss -------------------------------------------------------------------


def _focal_parts(xp, x, y):
    """log of the sigmoid of x and -x, log(1 - p_t), and the cross-entropy.

    1 - p_t = y sigmoid(-x) + (1 - y) sigmoid(x) is computed in log space
    (no cancellation, no underflow to log 0); for y in (0, 1) with a
    log-sum-exp, for y = 0 and y = 1 exactly as log-sigmoid."""
    la, lb = log_sigmoid(xp, x), log_sigmoid(xp, -x)
    hard0, hard1 = y <= 0, y >= 1
    y_in = xp.where(hard0, xp.full_like(y, 0.5), xp.where(hard1, xp.full_like(y, 0.5), y))
    u = xp.log(y_in) + lb
    v = xp.log1p(-y_in) + la
    mixed = xp.maximum(u, v) + xp.log1p(xp.exp(-xp.abs(u - v)))
    log_q = xp.where(hard0, la, xp.where(hard1, lb, mixed))
    ce = -(y * la + (1.0 - y) * lb)
    return la, lb, log_q, ce


def _focal_factor(xp, log_q, gamma):
    """(1 - p_t) ** gamma = exp(gamma * log(1 - p_t)); 1 for gamma = 0."""
    return xp.ones_like(log_q) if gamma == 0 else xp.exp(gamma * log_q)


def _alpha_t(y, alpha):
    return None if alpha is None else alpha * y + (1.0 - alpha) * (1.0 - y)


@loss(
    aliases=("binary_focal",),
    task="binary",
    input_space="logit",
    summary="Focal loss on logits: cross-entropy down-weighted on easy elements, for heavy class "
            "imbalance (dense detection)." + _MULTILABEL,
    estimates="a decision focused on hard elements; sigmoid(input) is not a calibrated probability "
              "for gamma > 0",
    target_domain=D.UNIT,
    params=(
        Param("alpha", D.UNIT, "weight of the positive class (alpha_t); None turns balancing off"),
        Param("gamma", D.BOUNDED_NONNEGATIVE, "focusing exponent; 0 gives alpha_t times cross-entropy"),
    ),
    convex=False,
    hessian_nonnegative=False,
    best_input=None,
    param_grid=({"gamma": 0.0}, {"gamma": 0.5, "alpha": None}, {"gamma": 5.0, "alpha": 0.75}),
    peers=(),
    references=(
        "Lin, T.-Y., Goyal, P., Girshick, R., He, K., Dollar, P. (2017). Focal Loss for Dense "
        "Object Detection. ICCV.",
    ),
    notes="Formula of torchvision.ops.sigmoid_focal_loss; alpha=None where torchvision uses alpha < 0. "
          "Not convex and its Hessian can be negative, so GBDT use needs a Hessian floor.",
)
def sigmoid_focal(input, target, *, alpha=0.25, gamma=2.0, weight=None, mask=None, reduction="mean"):
    r"""Sigmoid focal loss on logits (Lin et al. 2017), soft targets allowed.

    .. math::
        \ell = \alpha_t\,(1 - p_t)^{\gamma}\,\mathrm{BCE}(x, y),\qquad
        p = \sigma(x),\quad p_t = p\,y + (1 - p)(1 - y),\quad
        \alpha_t = \alpha\,y + (1 - \alpha)(1 - y)

    ``BCE`` is :func:`binary_cross_entropy_with_logits`. The factor
    :math:`(1 - p_t)^\gamma` down-weights well-classified elements, so the
    many easy negatives of dense detection do not swamp the loss. Exactly the
    formula of ``torchvision.ops.sigmoid_focal_loss`` (same defaults,
    ``alpha=0.25, gamma=2``); ``alpha=None`` turns the class balancing off
    (:math:`\alpha_t = 1`), where torchvision uses a negative ``alpha``.

    Here :math:`1 - p_t = y\,\sigma(-x) + (1 - y)\,\sigma(x)` is computed in log
    space, without the cancellation of ``1 - p_t``, so values and gradients stay
    finite and accurate at logits of any size. Not convex in the logit for
    ``gamma > 0``; its Hessian can be negative.

    Args:
        input: logits ``x``, any shape.
        target: ``y`` in [0, 1], the shape of ``input``.
        alpha: :math:`\alpha` in [0, 1], the weight of the positive class, or ``None``.
        gamma: focusing exponent :math:`\gamma \ge 0` (``0`` gives ``alpha_t`` times BCE).
        weight, mask: per-element weights / boolean mask, the shape of ``input``.
        reduction: ``"mean"`` (weighted mean over unmasked elements), ``"sum"`` or ``"none"``.

    >>> import numpy as np, losskit
    >>> x, y = np.array([2.0, -1.0]), np.array([1.0, 1.0])
    >>> np.round(losskit.sigmoid_focal(x, y, reduction="none"), 5).tolist()
    [0.00045, 0.17547]

    References:
        Lin, T.-Y., Goyal, P., Girshick, R., He, K., Dollar, P. (2017). Focal Loss for Dense
        Object Detection. ICCV.
    """
    name = "sigmoid_focal"
    alpha = _check_alpha(name, alpha)
    gamma = check_param(name, "gamma", gamma, D.BOUNDED_NONNEGATIVE)
    b = elementwise(name, input, target, weight=weight, mask=mask, reduction=reduction, target_domain=D.UNIT)
    out = fast_elementwise.fused_sigmoid_focal(b, alpha=alpha, gamma=gamma, reduction=reduction, reference=lambda z: (
        sigmoid_focal(z, target, alpha=alpha, gamma=gamma, reduction=reduction)))
    if out is not None:
        return out
    xp, x, y = b.xp, b.input, b.target
    _, _, log_q, ce = _focal_parts(xp, x, y)
    loss = _focal_factor(xp, log_q, gamma) * ce
    at = _alpha_t(y, alpha)
    if at is not None:
        loss = at * loss
    return reduce(b, loss, reduction)


@derivatives_of(sigmoid_focal)
def _sigmoid_focal_derivatives(raw, target, *, alpha, gamma, full=False):
    r"""Closed form, with q = 1 - p_t, k = 1 - 2y, r = sigma(x) sigma(-x) / q, a = sigma(x):

    d/dx  = alpha_t q^g [g k r ce + (a - y)]
    d2/dx2 = alpha_t q^g [g (g - 1) k^2 r^2 ce + g k r (1 - 2a) ce + 2 g k r (a - y) + a (1 - a)]

    (q' = k a (1 - a) and q'' = q' (1 - 2a); every power of q is factored into
    q^g, so nothing like q^(g - 2) is formed: finite when q underflows.)"""
    name = "sigmoid_focal"
    alpha = _check_alpha(name, alpha)
    b = elementwise(name, raw, target, target_domain=D.UNIT, input_name="raw")
    xp, x, y = b.xp, b.input, b.target
    la, lb, log_q, ce = _focal_parts(xp, x, y)
    a = sigmoid(xp, x)
    s = a * sigmoid(xp, -x)
    factor = _focal_factor(xp, log_q, gamma)
    k = 1.0 - 2.0 * y
    r = xp.exp(la + lb - log_q)  # sigma(x) sigma(-x) / (1 - p_t), at most 1
    gkr = gamma * k * r
    gradient = factor * (gkr * ce + (a - y))
    hessian = factor * (gkr * (gamma - 1.0) * k * r * ce + gkr * (1.0 - 2.0 * a) * ce + 2.0 * gkr * (a - y) + s)
    at = _alpha_t(y, alpha)
    if at is not None:
        gradient, hessian = at * gradient, at * hessian
    return b.out(gradient), b.out(hessian)


# -- hinge losses --------------------------------------------------------------------------


@loss(
    aliases=("svm",),
    task="binary",
    input_space="score",
    summary="SVM hinge loss max(0, 1 - y x) on scores, targets -1/+1." + _MULTILABEL,
    estimates="sign (margin): the Bayes decision sign(P(y = 1 | x) - 1/2), not a probability",
    target_domain=D.SIGN,
    best_input=lambda y: y,
    peers=("sklearn.metrics.hinge_loss",),
    references=("Cortes, C., Vapnik, V. (1995). Support-Vector Networks. Machine Learning 20(3).",),
    notes="Gradient is a subgradient (0 at the kink y x = 1); Hessian 0.",
)
def hinge(input, target, *, weight=None, mask=None, reduction="mean"):
    r"""Hinge loss of a binary classifier's score, :math:`\ell = \max(0, 1 - y x)`.

    .. math::
        \ell = \max(0, 1 - y\,x),\qquad y = -1 \text{ or } +1

    The loss of the soft-margin support vector machine: zero once the margin
    :math:`y x` reaches 1, then linear. Its minimiser estimates the sign of
    :math:`P(y = 1 \mid x) - 1/2` (the Bayes decision), not a probability.
    ``mean`` matches ``sklearn.metrics.hinge_loss`` for binary decision values.

    Args:
        input: scores / decision values ``x``, any shape.
        target: labels ``y`` in {-1, +1} (a 0/1 target raises: map it with ``2 * y - 1``).
        weight, mask: per-element weights / boolean mask, the shape of ``input``.
        reduction: ``"mean"`` (weighted mean over unmasked elements), ``"sum"`` or ``"none"``.

    >>> import numpy as np, losskit
    >>> x, y = np.array([2.0, 0.5, 0.5]), np.array([1.0, 1.0, -1.0])
    >>> losskit.hinge(x, y, reduction="none").tolist()
    [0.0, 0.5, 1.5]

    References:
        Cortes, C., Vapnik, V. (1995). Support-Vector Networks. Machine Learning 20(3).
    """
    b = _sign_batch("hinge", input, target, weight=weight, mask=mask, reduction=reduction)
    xp = b.xp
    slack = 1.0 - b.target * b.input
    return reduce(b, xp.where(slack <= 0, xp.zeros_like(slack), slack), reduction)  # NaN propagates


@derivatives_of(hinge)
def _hinge_derivatives(raw, target, *, full=False):
    """-y where y x < 1, else 0 (the subgradient 0 is taken at the kink); Hessian 0."""
    b = _sign_batch("hinge", raw, target, input_name="raw")
    xp, x, y = b.xp, b.input, b.target
    gradient = xp.where(1.0 - y * x > 0, -y, xp.zeros_like(x))
    return b.out(gradient), b.out(xp.zeros_like(x))


@loss(
    aliases=("soft_margin_loss",),
    task="binary",
    input_space="score",
    summary="Logistic loss of the margin, log(1 + exp(-y x)), on scores with targets -1/+1." + _MULTILABEL,
    estimates="log-odds of P(y = 1 | x) (the logit)",
    target_domain=D.SIGN,
    minimum=None,
    peers=("torch.nn.functional.soft_margin_loss",),
    references=("Zhang, T. (2004). Statistical behavior and consistency of classification methods based on "
                "convex risk minimization. Ann. Statist. 32(1).",),
    notes="binary_cross_entropy_with_logits with targets (y + 1) / 2; the infimum 0 is not attained.",
)
def soft_margin(input, target, *, weight=None, mask=None, reduction="mean"):
    r"""Soft-margin (logistic) loss of a score, :math:`\ell = \log(1 + e^{-y x})`.

    .. math::
        \ell = \log(1 + e^{-y\,x}),\qquad y = -1 \text{ or } +1

    The smooth counterpart of :func:`hinge`, written for -1/+1 labels: equal
    to ``binary_cross_entropy_with_logits(x, (y + 1) / 2)``. Computed as
    ``softplus(-y x)``, finite for any finite score. Matches
    ``torch.nn.functional.soft_margin_loss``.

    Derivatives: gradient :math:`-y\,\sigma(-y x)`, Hessian
    :math:`\sigma(x)\,\sigma(-x)`.

    >>> import numpy as np, losskit
    >>> x, y = np.array([0.0, 2.0]), np.array([1.0, -1.0])
    >>> losskit.soft_margin(x, y, reduction="none").round(6).tolist()
    [0.693147, 2.126928]
    """
    b = _sign_batch("soft_margin", input, target, weight=weight, mask=mask, reduction=reduction)
    return reduce(b, softplus(b.xp, -b.target * b.input), reduction)


@derivatives_of(soft_margin)
def _soft_margin_derivatives(raw, target, *, full=False):
    b = _sign_batch("soft_margin", raw, target, input_name="raw")
    xp, x, y = b.xp, b.input, b.target
    return b.out(-y * sigmoid(xp, -y * x)), b.out(sigmoid(xp, x) * sigmoid(xp, -x))


@loss(
    aliases=("l2_svm",),
    task="binary",
    input_space="score",
    summary="Squared hinge max(0, 1 - y x)^2: smooth SVM loss, heavier on violations." + _MULTILABEL,
    estimates="2 P(y = 1 | x) - 1 clipped to [-1, 1] (the sign and a scaled probability)",
    target_domain=D.SIGN,
    best_input=lambda y: y,
    peers=(),
    notes="Defined as keras.losses.squared_hinge (Keras is not a test dependency: checked against the naive reference).",
    references=(
        "Mangasarian, O. L., Musicant, D. R. (2001). Lagrangian Support Vector Machines. JMLR 1.",
        "Zhang, T. (2004). Statistical behavior and consistency of classification methods based on "
        "convex risk minimization. Ann. Statist. 32(1).",
    ),
)
def squared_hinge(input, target, *, weight=None, mask=None, reduction="mean"):
    r"""Squared hinge loss, :math:`\ell = \max(0, 1 - y x)^2`.

    .. math::
        \ell = \max(0, 1 - y\,x)^2,\qquad y = -1 \text{ or } +1

    The L2-SVM loss: differentiable everywhere (a continuous gradient), heavier
    on large violations than :func:`hinge`. Its minimiser is
    :math:`2P(y = 1 \mid x) - 1` clipped to [-1, 1], so it estimates a (scaled)
    probability as well as the decision. Matches ``keras.losses.squared_hinge``
    for -1/+1 labels.

    Args:
        input: scores ``x``, any shape.
        target: labels ``y`` in {-1, +1} (a 0/1 target raises: map it with ``2 * y - 1``).
        weight, mask: per-element weights / boolean mask, the shape of ``input``.
        reduction: ``"mean"`` (weighted mean over unmasked elements), ``"sum"`` or ``"none"``.

    >>> import numpy as np, losskit
    >>> x, y = np.array([2.0, 0.5, 0.5]), np.array([1.0, 1.0, -1.0])
    >>> losskit.squared_hinge(x, y, reduction="none").tolist()
    [0.0, 0.25, 2.25]

    References:
        Mangasarian, O. L., Musicant, D. R. (2001). Lagrangian Support Vector Machines. JMLR 1.
        Zhang, T. (2004). Statistical behavior and consistency of classification methods based on
        convex risk minimization. Ann. Statist. 32(1).
    """
    b = _sign_batch("squared_hinge", input, target, weight=weight, mask=mask, reduction=reduction)
    xp = b.xp
    slack = 1.0 - b.target * b.input
    slack = xp.where(slack <= 0, xp.zeros_like(slack), slack)  # NaN propagates
    return reduce(b, slack * slack, reduction)


@derivatives_of(squared_hinge)
def _squared_hinge_derivatives(raw, target, *, full=False):
    """-2 y (1 - y x) and 2 where y x < 1, else 0 and 0."""
    b = _sign_batch("squared_hinge", raw, target, input_name="raw")
    xp, x, y = b.xp, b.input, b.target
    slack = 1.0 - y * x
    active = slack > 0
    zero = xp.zeros_like(x)
    return b.out(xp.where(active, -2.0 * y * slack, zero)), b.out(xp.where(active, xp.full_like(x, 2.0), zero))


@loss(
    task="binary",
    input_space="distance",
    summary="x for similar pairs (y = 1), max(0, margin - x) for dissimilar ones (y = -1); "
            "PyTorch's HingeEmbeddingLoss.",
    estimates="a distance below the margin for similar pairs and beyond it for dissimilar ones",
    target_domain=D.SIGN,
    params=(Param("margin", D.AT_MOST_BIG, "distance dissimilar pairs are pushed beyond"),),
    minimum=None,
    best_input=None,
    param_grid=({"margin": 0.0}, {"margin": 2.5}),
    peers=("torch.nn.functional.hinge_embedding_loss",),
    references=(
        "Hadsell, R., Chopra, S., LeCun, Y. (2006). Dimensionality Reduction by Learning an Invariant "
        "Mapping. CVPR.",
    ),
    notes="Input is meant to be a nonnegative distance; negative inputs are accepted as in PyTorch.",
)
def hinge_embedding(input, target, *, margin=1.0, weight=None, mask=None, reduction="mean"):
    r"""Hinge embedding loss: pull similar pairs together, push dissimilar ones past ``margin``.

    .. math::
        \ell = x \text{ if } y = 1,\qquad \max(0, \text{margin} - x) \text{ if } y = -1

    ``input`` is usually a distance between two embeddings (e.g. their L1
    distance), ``target`` says whether the pair is similar (+1) or dissimilar
    (-1). Identical to ``torch.nn.functional.hinge_embedding_loss`` (same
    default ``margin=1``); like PyTorch, any real ``input`` is accepted, so for
    ``y = 1`` the loss is unbounded below when ``input`` is negative (it is
    meant to be a nonnegative distance).

    Args:
        input: distances ``x``, any shape.
        target: ``y`` in {-1, +1}, the shape of ``input``.
        margin: the distance dissimilar pairs are pushed beyond (any real, as in PyTorch).
        weight, mask: per-element weights / boolean mask, the shape of ``input``.
        reduction: ``"mean"`` (weighted mean over unmasked elements), ``"sum"`` or ``"none"``.

    >>> import numpy as np, losskit
    >>> x, y = np.array([0.3, 0.3, 1.5]), np.array([1.0, -1.0, -1.0])
    >>> losskit.hinge_embedding(x, y, reduction="none").tolist()
    [0.3, 0.7, 0.0]

    References:
        Hadsell, R., Chopra, S., LeCun, Y. (2006). Dimensionality Reduction by Learning an Invariant
        Mapping. CVPR.
    """
    margin = check_param("hinge_embedding", "margin", margin, D.AT_MOST_BIG)
    b = _sign_batch("hinge_embedding", input, target, weight=weight, mask=mask, reduction=reduction)
    xp, x = b.xp, b.input
    push = margin - x
    push = xp.where(push <= 0, xp.zeros_like(push), push)  # NaN propagates
    return reduce(b, xp.where(b.target == 1, x, push), reduction)


@derivatives_of(hinge_embedding)
def _hinge_embedding_derivatives(raw, target, *, margin, full=False):
    """1 where y = 1; -1 where y = -1 and x < margin; else 0. Hessian 0."""
    b = _sign_batch("hinge_embedding", raw, target, input_name="raw")
    xp, x = b.xp, b.input
    zero = xp.zeros_like(x)
    push = xp.where(margin - x > 0, -xp.ones_like(x), zero)
    return b.out(xp.where(b.target == 1, xp.ones_like(x), push)), b.out(zero)


# -- soft F-beta -------------------------------------------------------------------------------


@loss(
    aliases=("soft_f1", "fbeta"),
    task="binary",
    input_space="probability",
    summary="1 - soft F-beta over the batch, per label: optimise F-beta directly when it is the metric."
            + _MULTILABEL,
    estimates="F-beta-optimal predictions (a surrogate of the F-beta metric, not a calibrated probability)",
    input_domain=D.UNIT,
    target_domain=D.UNIT,
    params=(Param("beta", D.POSITIVE, "recall is beta times as important as precision"),),
    kind="aggregate",
    link="sigmoid",
    convex=False,
    hessian_nonnegative=False,
    best_input=None,
    param_grid=({"beta": 0.5}, {"beta": 2.0}),
    peers=("sklearn.metrics.fbeta_score",),
    references=(
        "van Rijsbergen, C. J. (1979). Information Retrieval, ch. 7 (F-measure).",
        "Jansche, M. (2005). Maximum Expected F-Measure Training of Logistic Regression Models. HLT/EMNLP.",
    ),
    notes="Equals 1 - sklearn.metrics.fbeta_score(average=None) per label for hard 0/1 probabilities; "
          "a label with nothing predicted and nothing true has loss 0.",
)
def soft_fbeta(input, target, *, beta=1.0, weight=None, mask=None, reduction="mean"):
    r"""Differentiable F-beta loss, :math:`1 - F_\beta` with soft counts, per label.

    With probabilities ``p`` and targets ``y`` summed over the sample axis 0
    (weights ``w`` per element, masked elements left out):

    .. math::
        TP = \sum_n w p y,\quad FP = \sum_n w p (1 - y),\quad FN = \sum_n w (1 - p) y,\qquad
        \ell = 1 - \frac{(1 + \beta^2)\,TP}{(1 + \beta^2)\,TP + \beta^2 FN + FP}

    With hard 0/1 probabilities this is ``1 - sklearn.metrics.fbeta_score(y, p,
    beta=beta, average=None)`` per label. When F-beta is the metric a model is
    judged by, optimise this directly rather than a cross-entropy tuned by a
    threshold. Where a label has nothing predicted and nothing true
    (TP + FP + FN = 0; in floating point, a denominator below the square root of
    the dtype's smallest normal number, which keeps gradients finite) its loss
    is 0 with a zero gradient.

    Not a per-element loss: it is defined on the whole batch (``kind="aggregate"``),
    so it has no closed-form gradient/Hessian and a mini-batch value is a
    biased estimate of the full-data value.

    Args:
        input: probabilities in [0, 1], shape (N,) (binary) or (N, L) (multi-label).
        target: ``y`` in [0, 1], the shape of ``input``.
        beta: :math:`\beta > 0`; recall is :math:`\beta` times as important as precision.
        weight, mask: per-element weights / boolean mask, the shape of ``input``
            (to drop a whole sample, mask its row).
        reduction: over labels: ``"none"`` gives shape (L,) (``()`` for binary input),
            ``"mean"`` / ``"sum"`` the mean / sum over labels.

    >>> import numpy as np, losskit
    >>> p = np.array([[0.9, 0.2], [0.8, 0.7], [0.1, 0.6]])
    >>> y = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    >>> np.round(losskit.soft_fbeta(p, y, reduction="none"), 4).tolist()
    [0.1053, 0.2571]

    References:
        van Rijsbergen, C. J. (1979). Information Retrieval, ch. 7 (F-measure).
        Jansche, M. (2005). Maximum Expected F-Measure Training of Logistic Regression Models.
        HLT/EMNLP.
    """
    name = "soft_fbeta"
    beta = check_param(name, "beta", beta, D.POSITIVE)
    b = elementwise(name, input, target, weight=weight, mask=mask, reduction=reduction,
                    input_domain=D.UNIT, target_domain=D.UNIT)
    xp, p, y = b.xp, b.input, b.target
    if p.ndim not in (1, 2):
        raise ValueError(
            f"{name}: input must have shape (N,) (binary) or (N, L) (multi-label); received shape {tuple(p.shape)}"
        )
    # F = TP / (TP + c FN + (1 - c) FP) with c = beta^2 / (1 + beta^2), finite for any beta.
    c = 1.0 / (1.0 + beta**-2) if beta >= 1.0 else beta**2 / (1.0 + beta**2)
    w = xp.ones_like(p) if b.weight is None else b.weight

    def total(terms):
        if b.mask is not None:
            terms = xp.where(b.mask, terms, xp.zeros_like(terms))
        return xp.sum(terms, axis=0)

    tp = total(w * p * y)
    fp = total(w * p * (1.0 - y))
    fn = total(w * (1.0 - p) * y)
    den = tp + c * fn + (1.0 - c) * fp
    empty = den <= xp.finfo(b.dtype).smallest_normal ** 0.5  # NaN is not empty: it propagates
    f = xp.where(empty, xp.ones_like(den), tp / xp.where(empty, xp.ones_like(den), den))
    per_label = 1.0 - f
    return reduce(replace(b, weight=None, mask=None), per_label, reduction)
