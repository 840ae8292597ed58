"""Multiclass losses over a class axis, on the softmax of logits.

``input`` has shape (N, C, d1, ...) (class axis 1) or (C,) for one unbatched
row; ``target`` holds integer class indices of shape (N, d1, ...) (or () for
one row), or, where a function says so, class probabilities of the input's
shape. One loss value per sample: ``reduction="none"`` returns shape
(N, d1, ...). ``ignore_index`` removes samples from the numerator and the
denominator of ``"mean"``; ``weight`` and ``mask`` are per sample.

Each loss is defined once here: ``@loss(...)`` above the function holds its
registry metadata (parameter defaults come from the signature), and the
function marked ``@derivatives_of(<loss>)`` returns the per-sample gradient with respect to the raw input
(the logits; the log-probabilities for ``nll``), shape of ``raw``, and the
Hessian's diagonal (shape of ``raw``) or, with ``full=True`` and 2-D ``raw``,
the full (N, C, C) matrix per sample. Ignored samples give zero rows. The
registry exposes them as ``losskit.get(name).gradient`` / ``.hessian``.

Notation: :math:`z` logits, :math:`\\log p = \\mathrm{log\\_softmax}(z)`,
:math:`y` the label, :math:`s = \\log p_y`, :math:`v = p - e_y`.
"""

from __future__ import annotations

import numbers

import numpy as np


from .. import domains as D
from .._array import (
    array_device,
    array_namespace,
    is_concrete,
    is_torch,
    log_softmax,
    namespace,
    one_hot,
    safe_pow,
    softmax_shift,
)
from .._reduce import denominator as mean_denominator, reduce
from .._validate import (
    check_bool,
    check_choice,
    check_chunk_size,
    check_int,
    check_param,
    check_reduction,
    check_values,
    class_axis,
    refuse_where,
    value_checks,
)
from ..kernels import dispatch as fast
from ..registry import Param, derivatives_of, loss

__all__ = [
    "cross_entropy",
    "nll",
    "softmax_focal",
    "poly1_cross_entropy",
    "multi_margin",
    "generalized_cross_entropy",
    "linear_cross_entropy",
]

# Parameter domains, shared by the definitions (@loss) and the functions.
EPSILON_DOMAIN = D.Interval(-1.0, D.BIG)  # poly1_cross_entropy: epsilon >= -1
Q_DOMAIN = D.Interval(0.0, 1.0, low_closed=False)  # generalized_cross_entropy: q in (0, 1]
MARGIN_POWERS = (1, 2)


# -- helpers -----------------------------------------------------------------


def _axis(x) -> int:
    return 1 if x.ndim >= 2 else 0


def _per_class(xp, vec, ndim: int, axis: int):
    """A length-C vector shaped to broadcast along the class axis."""
    shape = [1] * ndim
    shape[axis] = vec.shape[0]
    return xp.reshape(vec, tuple(shape))


def _gather(xp, x, hot, axis: int):
    """x at the label along the class axis (``hot`` is the boolean one-hot);
    ``where`` rather than a product, so -inf log-probabilities of other
    classes do not turn into NaN."""
    return xp.sum(xp.where(hot, x, xp.zeros_like(x)), axis=axis)


def _class_value(xp, vec, hot, ndim: int, axis: int):
    """vec[label] per sample for a length-C vector."""
    b = _per_class(xp, vec, ndim, axis)
    return xp.sum(xp.where(hot, b, xp.zeros_like(b)), axis=axis)


def _hot(b):
    xp = b.xp
    return one_hot(xp, b.labels, b.num_classes, axis=_axis(b.input), dtype=xp.bool)


def _softmax_parts(xp, z, axis: int):
    """log p, p and 1 - p (the latter accurate near p = 1)."""
    logp = log_softmax(xp, z, axis=axis)
    return logp, xp.exp(logp), -xp.expm1(logp)


def _check_full(loss: str, full, raw) -> bool:
    check_bool(loss, "full", full)
    if full and raw.ndim != 2:
        raise ValueError(
            f"{loss}: full=True needs raw of shape (N, C) (one C x C Hessian per sample); "
            f"received shape {tuple(raw.shape)}"
        )
    return full


def _expand(xp, c, axis: int):
    """A per-sample coefficient broadcast against (N, C, ...)."""
    return xp.expand_dims(c, axis=axis)


def _cov_full(xp, p):
    """diag(p) - p p^T per row of a (N, C) array -> (N, C, C)."""
    eye = xp.eye(p.shape[1], dtype=p.dtype, device=array_device(p))
    pi = xp.expand_dims(p, axis=2)
    return pi * eye - pi * xp.expand_dims(p, axis=1)


def _outer(xp, a, c):
    return xp.expand_dims(a, axis=2) * xp.expand_dims(c, axis=1)


def _zeros_full(xp, x):
    """(N, C, C) zeros on x's device."""
    return xp.zeros((x.shape[0], x.shape[1], x.shape[1]), dtype=x.dtype, device=array_device(x))


def _zero_ignored(b, arr, axis: int, full: bool):
    """Zero the rows of ignored samples in a gradient/Hessian."""
    if b.valid is None:
        return arr
    xp = b.xp
    keep = _expand(xp, b.valid, axis)
    if full:
        keep = xp.expand_dims(keep, axis=2)
    return xp.where(keep, arr, xp.zeros_like(arr))


def _row_form(b, *, c1, c2, k=0.0, cw=None, full=False):
    """Gradient and Hessian of a row loss whose logit dependence is
    ``h(s) + k * (-sum_c w_c log p_c)``, given ``c1 = -h'(s)`` and
    ``c2 = h''(s)`` per sample:

    gradient  = c1 v + k (W p - w),                 W = sum_c w_c
    Hessian   = (c1 + k W) (diag p - p p^T) + c2 v v^T
    """
    xp, z = b.xp, b.input
    axis = _axis(z)
    logp, p, u = _softmax_parts(xp, z, axis)
    hot = _hot(b)
    v = xp.where(hot, -u, p)  # p - e_y, accurate at p_y -> 1
    c1e, c2e = _expand(xp, c1, axis), _expand(xp, c2, axis)
    grad = c1e * v
    cov_scale = c1e
    if k:
        w = xp.ones_like(p) if cw is None else _per_class(xp, cw, z.ndim, axis)
        total = xp.sum(w * xp.ones_like(p), axis=axis, keepdims=True)
        grad = grad + k * (total * p - w)
        cov_scale = cov_scale + k * total
    if full:
        hess = xp.expand_dims(cov_scale, axis=2) * _cov_full(xp, p) + xp.expand_dims(c2e, axis=2) * _outer(xp, v, v)
    else:
        hess = cov_scale * p * u + c2e * v * v
    return _zero_ignored(b, grad, axis, False), _zero_ignored(b, hess, axis, full)


def _reduce_class_weighted(b, values, class_weight_y, reduction):
    """Reduction where ``values`` already hold the class weights but the mean
    divides by ``sum(weight * class_weight[target])`` over the samples that
    count, as ``torch.nn.functional.cross_entropy`` does when label smoothing
    meets class weights (the smoothing term is not proportional to
    class_weight[target])."""
    return reduce(b, values, reduction, valid=b.valid, denominator_class_weight=class_weight_y)


def _label_smoothing(loss, label_smoothing):
    return check_param(loss, "label_smoothing", label_smoothing, D.UNIT)


# -- cross-entropy -------------------------------------------------------------


# -- registry metadata shared by several definitions ---------------------------

_CLASS_WEIGHT = Param("class_weight", D.NONNEGATIVE,
                      "optional length-C per-class weights (PyTorch's weight)", kind="array")


_IGNORE = Param("ignore_index", None, "label whose samples are left out of the loss and the mean", kind="int")


_SMOOTHING = Param("label_smoothing", D.UNIT, "mass spread uniformly over the C classes")


def _one_hot_mask(y, num_classes):
    """(N,) labels -> (N, C) booleans; C is not in the target, so it is given
    (default 4, the property suite's class count) or the largest label + 1."""
    y = np.asarray(y)
    c = max(num_classes, int(y.max()) + 1 if y.size else 0)
    return np.arange(c)[None, :] == y[:, None]


def _best_log_probabilities(y, num_classes=4):
    """Log-probabilities with log p_y = 0 (the loss's minimum) and -50 elsewhere."""
    return np.where(_one_hot_mask(y, num_classes), 0.0, -50.0)


def _best_scores(y, num_classes=4):
    """Scores with the label's 10 above every other: zero hinge loss for margin < 10."""
    return 10.0 * _one_hot_mask(y, num_classes)


@loss(
    aliases=("softmax_cross_entropy", "categorical_cross_entropy"),
    task="multiclass",
    kind="class_axis",
    input_space="logit",
    link="identity",
    summary="Softmax cross-entropy (log loss) on logits; the default for multiclass classification.",
    estimates="class probabilities",
    input_domain=D.REAL,
    target_domain=D.CLASS_INDEX,
    params=(_CLASS_WEIGHT, _IGNORE, _SMOOTHING),
    minimum=0.0,
    best_input=None,
    param_grid=({"label_smoothing": 0.1},),
    peers=("torch.nn.functional.cross_entropy", "sklearn.metrics.log_loss (on softmax(input))"),
    references=(
        "Cox, D. R. (1958). The regression analysis of binary sequences. J. R. Stat. Soc. B 20(2).",
        "Szegedy, C. et al. (2016). Rethinking the Inception Architecture for Computer Vision. CVPR (label smoothing).",
    ),
    notes="Also takes class-probability targets of the input's shape. A proper scoring rule. 'mean' with "
          "class_weight divides by the summed class weights of the targets (as PyTorch); with probability "
          "targets by the number of samples.",
)
def cross_entropy(
    input, target, *, class_weight=None, ignore_index=-100, label_smoothing=0.0, weight=None, mask=None,
    reduction="mean",
):
    r"""Softmax cross-entropy on logits.

    With class indices :math:`y`, class weights :math:`w` and label smoothing
    :math:`\varepsilon`:

    .. math::
        \ell = -(1-\varepsilon)\, w_y \log p_y - \frac{\varepsilon}{C} \sum_c w_c \log p_c,
        \qquad \log p = \mathrm{log\_softmax}(z)

    With class probabilities :math:`t` (a float target of the input's shape):
    :math:`\ell = -\sum_c w_c\, t'_c \log p_c`, :math:`t' = (1-\varepsilon) t + \varepsilon / C`.

    Identical to ``torch.nn.functional.cross_entropy(input, target,
    weight=class_weight, ignore_index=..., label_smoothing=...)`` for every
    combination, including its ``"mean"``: with class indices the mean divides
    by :math:`\sum_n \mathrm{weight}_n\, w_{y_n}` over the samples that count;
    with probability targets it divides by the (weighted) number of samples,
    class weights not included. On probabilities
    :math:`\mathrm{softmax}(z)` it equals ``sklearn.metrics.log_loss``.
    A proper scoring rule: its minimiser is the class probabilities.

    Args:
        input: logits, (N, C, d1, ...) or (C,), floating.
        target: class indices (N, d1, ...) / (), or probabilities of ``input``'s shape.
        class_weight: optional length-C non-negative weights (PyTorch's ``weight``).
        ignore_index: label whose samples are left out (class indices only).
        label_smoothing: :math:`\varepsilon \in [0, 1]`.
        weight, mask: per-sample weights / boolean mask, shape (N, d1, ...).
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (one value per sample).

    Stable at logits of :math:`\pm 10^4` in float32 (log-sum-exp).

    >>> import numpy as np, losskit
    >>> round(float(losskit.cross_entropy(np.array([[2.0, 0.0, -1.0]]), np.array([0]))), 6)
    0.169846

    References: Cox (1958), The regression analysis of binary sequences;
    Szegedy et al. (2016), Rethinking the Inception Architecture (label smoothing).
    """
    loss = "cross_entropy"
    ls = _label_smoothing(loss, label_smoothing)
    b = class_axis(loss, input, target, weight=weight, mask=mask, reduction=reduction,
                   ignore_index=ignore_index, class_weight=class_weight)
    xp, z = b.xp, b.input
    cw = b.extras["class_weight"]
    if b.target is None:
        out = fast.fused_cross_entropy(b, class_weight=cw, label_smoothing=ls, reduction=reduction, reference=lambda z: (
            cross_entropy(z, target, class_weight=class_weight, ignore_index=ignore_index,
                          label_smoothing=label_smoothing, reduction=reduction)))
        if out is not None:
            return out
    axis, C = _axis(z), max(b.num_classes, 1)
    if b.target is None and ls == 0.0 and cw is None:
        # the common call: -log p_y = log s - (z_y - m), s = sum exp(z - m), the same arithmetic as
        # log_softmax's, with the label's logit picked by index (no whole log-softmax, no one-hot)
        m = softmax_shift(xp, z, axis)
        labels = xp.expand_dims(b.labels if not is_torch(z) else b.labels.long(), axis=axis)  # torch: int64
        z_y = xp.squeeze(xp.take_along_axis(z, labels, axis=axis) - m, axis=axis)
        log_s = xp.log(xp.sum(xp.exp(z - m), axis=axis))
        return reduce(b, log_s - z_y, reduction, valid=b.valid)
    logp = log_softmax(xp, z, axis=axis)
    if b.target is not None:  # class probabilities
        t = b.target if ls == 0.0 else (1.0 - ls) * b.target + ls / C
        coef = t if cw is None else t * _per_class(xp, cw, z.ndim, axis)
        return reduce(b, -xp.sum(coef * logp, axis=axis), reduction)
    hot = _hot(b)
    nll_y = -_gather(xp, logp, hot, axis)
    if ls > 0.0:
        smooth = -xp.sum(logp if cw is None else logp * _per_class(xp, cw, z.ndim, axis), axis=axis)
    if cw is None:
        values = nll_y if ls == 0.0 else (1.0 - ls) * nll_y + (ls / C) * smooth
        return reduce(b, values, reduction, valid=b.valid)
    cw_y = _class_value(xp, cw, hot, z.ndim, axis)
    if ls == 0.0:
        return reduce(b, nll_y, reduction, valid=b.valid, class_weight=cw_y)
    values = (1.0 - ls) * cw_y * nll_y + (ls / C) * smooth
    return _reduce_class_weighted(b, values, cw_y, reduction)


@derivatives_of(cross_entropy)
def _cross_entropy_derivatives(raw, target, *, full=False, class_weight, ignore_index, label_smoothing):
    r"""Gradient :math:`S p - a` and Hessian :math:`S(\mathrm{diag}\,p - p p^T)`
    where :math:`\ell = -\sum_c a_c \log p_c`, :math:`S = \sum_c a_c`."""
    loss = "cross_entropy"
    ls = _label_smoothing(loss, label_smoothing)
    b = class_axis(loss, raw, target, input_name="raw", ignore_index=ignore_index, class_weight=class_weight)
    full = _check_full(loss, full, b.input)
    xp, z = b.xp, b.input
    axis, C = _axis(z), max(b.num_classes, 1)
    cw = b.extras["class_weight"]
    if b.target is not None:
        logp, p, u = _softmax_parts(xp, z, axis)
        t = b.target if ls == 0.0 else (1.0 - ls) * b.target + ls / C
        a = t if cw is None else t * _per_class(xp, cw, z.ndim, axis)
        total = xp.sum(a, axis=axis, keepdims=True)
        grad = total * p - a
        if full:
            hess = xp.expand_dims(total, axis=2) * _cov_full(xp, p)
        else:
            hess = total * p * u
        return b.out(grad), b.out(hess)
    hot = _hot(b)
    cw_y = xp.ones_like(xp.sum(z, axis=axis)) if cw is None else _class_value(xp, cw, hot, z.ndim, axis)
    c1 = (1.0 - ls) * cw_y
    g, h = _row_form(b, c1=c1, c2=xp.zeros_like(c1), k=ls / C, cw=cw, full=full)
    return b.out(g), b.out(h)


# -- negative log-likelihood ---------------------------------------------------


@loss(
    aliases=("nll_loss",),
    task="multiclass",
    kind="class_axis",
    input_space="log-probability",
    link="identity",
    summary="Negative log-likelihood of log-probabilities (after log_softmax).",
    estimates="class probabilities",
    input_domain=D.NONPOSITIVE,
    target_domain=D.CLASS_INDEX,
    params=(_CLASS_WEIGHT, _IGNORE),
    minimum=0.0,
    best_input=_best_log_probabilities,
    peers=("torch.nn.functional.nll_loss",),
    references=("Fisher, R. A. (1922). On the mathematical foundations of theoretical statistics. Phil. Trans. R. Soc. A 222.",),
    notes="Linear in its input (Hessian 0). nll(log_softmax(z), y) equals cross_entropy(z, y).",
)
def nll(input, target, *, class_weight=None, ignore_index=-100, weight=None, mask=None, reduction="mean"):
    r"""Negative log-likelihood of log-probabilities, :math:`\ell = -w_y\, x_y`.

    .. math::
        \ell = -w_y\, x_y,\qquad w = \mathrm{class\_weight} \text{ (1 without it)}

    ``input`` holds log-probabilities (e.g. ``log_softmax`` outputs, <= 0;
    -inf is allowed for impossible classes), ``target`` class indices.
    Identical to ``torch.nn.functional.nll_loss(input, target,
    weight=class_weight, ignore_index=...)``, its ``"mean"`` dividing by
    :math:`\sum_n \mathrm{weight}_n\, w_{y_n}`. ``nll(log_softmax(z), y)``
    equals ``cross_entropy(z, y)``.

    The raw input of the registry's derivatives is the log-probabilities
    themselves: gradient :math:`-w_y e_y`, Hessian 0.

    >>> import numpy as np, losskit
    >>> float(losskit.nll(np.log(np.array([[0.5, 0.25, 0.25]])), np.array([1])))  # -log 0.25
    1.3862943611198906

    References: Fisher (1922), On the mathematical foundations of theoretical statistics.
    """
    loss = "nll"
    b = class_axis(loss, input, target, weight=weight, mask=mask, reduction=reduction, ignore_index=ignore_index,
                   class_weight=class_weight, allow_probabilities=False, input_domain=D.NONPOSITIVE)
    xp, x = b.xp, b.input
    axis = _axis(x)
    hot = _hot(b)
    values = -_gather(xp, x, hot, axis)
    cw = b.extras["class_weight"]
    cw_y = None if cw is None else _class_value(xp, cw, hot, x.ndim, axis)
    return reduce(b, values, reduction, valid=b.valid, class_weight=cw_y)


@derivatives_of(nll)
def _nll_derivatives(raw, target, *, full=False, class_weight, ignore_index):
    loss = "nll"
    b = class_axis(loss, raw, target, input_name="raw", ignore_index=ignore_index, class_weight=class_weight,
                   allow_probabilities=False, input_domain=D.NONPOSITIVE)
    full = _check_full(loss, full, b.input)
    xp, x = b.xp, b.input
    axis = _axis(x)
    hot = _hot(b)
    cw = b.extras["class_weight"]
    scale = xp.ones_like(x) if cw is None else _per_class(xp, cw, x.ndim, axis) * xp.ones_like(x)
    grad = _zero_ignored(b, xp.where(hot, -scale, xp.zeros_like(x)), axis, False)
    if full:
        hess = _zeros_full(xp, x)
    else:
        hess = xp.zeros_like(x)
    return b.out(grad), b.out(hess)


# -- focal -----------------------------------------------------------------------


def _focal_batch(loss, input, target, *, alpha, gamma, ignore_index, weight=None, mask=None, reduction="mean"):
    gamma = check_param(loss, "gamma", gamma, D.BOUNDED_NONNEGATIVE)
    if isinstance(alpha, bool):
        raise TypeError(f"{loss}: alpha must be None, a real number or a length-C array; received bool {alpha!r}")
    scalar = None
    extras = {}
    if alpha is not None and isinstance(alpha, numbers.Real):
        scalar = check_param(loss, "alpha", alpha, D.BOUNDED_NONNEGATIVE)
    elif alpha is not None:
        extras = {"alpha": alpha}
    b = class_axis(loss, input, target, weight=weight, mask=mask, reduction=reduction, ignore_index=ignore_index,
                   allow_probabilities=False, extras=extras)
    xp = b.xp
    alpha_y = None
    if extras:
        vec = b.extras["alpha"]
        check_values(loss, "alpha", xp, vec, D.BOUNDED_NONNEGATIVE)
        alpha_y = _class_value(xp, vec, _hot(b), b.input.ndim, _axis(b.input))
    return b, gamma, scalar, alpha_y


@loss(
    aliases=("multiclass_focal",),
    task="multiclass",
    kind="class_axis",
    input_space="logit",
    link="identity",
    summary="Focal loss on softmax probabilities: down-weights easy samples (class imbalance, dense detection).",
    estimates="a sharpened, not calibrated, class ranking (not a proper scoring rule for gamma > 0)",
    input_domain=D.REAL,
    target_domain=D.CLASS_INDEX,
    params=(
        Param("alpha", D.BOUNDED_NONNEGATIVE, "None, a scalar, or a length-C per-class weight multiplying the loss",
              kind="real_or_array"),
        Param("gamma", D.BOUNDED_NONNEGATIVE, "focusing exponent; 0 gives cross-entropy"),
        _IGNORE,
    ),
    convex=False,
    hessian_nonnegative=False,
    minimum=0.0,
    param_grid=({"gamma": 0.0}, {"gamma": 0.5}, {"gamma": 1.0}, {"gamma": 5.0}, {"alpha": 0.25}),
    references=("Lin, T.-Y., Goyal, P., Girshick, R., He, K., Dollar, P. (2017). Focal Loss for Dense Object "
                "Detection. ICCV.",),
    notes="Not a proper scoring rule: its minimiser is not the class probabilities (gamma > 0); calibrate "
          "afterwards if probabilities matter. alpha multiplies the loss and is not in the 'mean' denominator.",
)
def softmax_focal(input, target, *, alpha=None, gamma=2.0, ignore_index=-100, weight=None, mask=None,
                  reduction="mean"):
    r"""Multiclass (softmax) focal loss on logits (Lin et al. 2017):

    .. math::
        \ell = -\alpha_y\, (1 - p_y)^{\gamma} \log p_y,\qquad p = \mathrm{softmax}(z)

    Down-weights well-classified samples; ``gamma=0`` (and no ``alpha``) is
    :func:`cross_entropy`. ``alpha`` is None (no balancing), a scalar, or a
    length-C per-class vector; it multiplies the loss and is *not* part of the
    ``"mean"`` denominator, which is the (weighted) number of samples that
    count. ``gamma >= 0``. :math:`1 - p_y` is computed as
    :math:`-\mathrm{expm1}(\log p_y)`, so values and gradients stay finite as
    :math:`p_y \to 1`, also for ``gamma < 1``.

    Not a proper scoring rule for ``gamma > 0``: its minimiser is pushed
    away from the class probabilities. Not convex; its Hessian diagonal can be
    negative. No library peer (torchvision's ``sigmoid_focal_loss`` is the
    binary, sigmoid form).

    >>> import numpy as np, losskit
    >>> z, y = np.array([[2.0, 0.0, -1.0]]), np.array([0])
    >>> round(float(losskit.softmax_focal(z, y, gamma=2.0)), 6)
    0.004144

    References: Lin, Goyal, Girshick, He, Dollar (2017), Focal Loss for Dense
    Object Detection, ICCV.
    """
    loss = "softmax_focal"
    b, gamma, scalar, alpha_y = _focal_batch(loss, input, target, alpha=alpha, gamma=gamma, ignore_index=ignore_index,
                                             weight=weight, mask=mask, reduction=reduction)
    out = fast.fused_softmax_focal(b, alpha_vector=b.extras.get("alpha"), alpha_scalar=scalar, gamma=gamma,
                             reduction=reduction, reference=lambda z: softmax_focal(
                                 z, target, alpha=alpha, gamma=gamma, ignore_index=ignore_index, reduction=reduction))
    if out is not None:
        return out
    xp, z = b.xp, b.input
    axis = _axis(z)
    s = _gather(xp, log_softmax(xp, z, axis=axis), _hot(b), axis)
    u = -xp.expm1(s)
    values = safe_pow(xp, u, gamma) * (-s)
    if scalar is not None:
        values = scalar * values
    if alpha_y is not None:
        values = alpha_y * values
    return reduce(b, values, reduction, valid=b.valid)


@derivatives_of(softmax_focal)
def _softmax_focal_derivatives(raw, target, *, full=False, alpha, gamma, ignore_index):
    r"""With :math:`u = 1 - p_y`, :math:`r = s / u` (-> -1 as u -> 0):

    :math:`A = u^\gamma (1 - \gamma p_y r)`, gradient :math:`\alpha_y A\, v`;
    :math:`A' = dA/ds = \gamma p_y u^{\gamma-1} (-(s+2) + (\gamma-1) p_y r)`,
    Hessian :math:`\alpha_y (A (\mathrm{diag}\,p - pp^T) - A' v v^T)`.
    :math:`A' v v^T` is finite as :math:`u \to 0` for every gamma >= 0
    (:math:`|v| \le 2u`)."""
    loss = "softmax_focal"
    b, gamma, scalar, alpha_y = _focal_batch(loss, raw, target, alpha=alpha, gamma=gamma, ignore_index=ignore_index)
    full = _check_full(loss, full, b.input)
    xp, z = b.xp, b.input
    axis = _axis(z)
    s = _gather(xp, log_softmax(xp, z, axis=axis), _hot(b), axis)
    u = -xp.expm1(s)
    py = xp.exp(s)
    positive = u > 0
    r = xp.where(positive, s / xp.where(positive, u, xp.ones_like(u)), -xp.ones_like(u))
    A = safe_pow(xp, u, gamma) * (1.0 - gamma * py * r)
    if gamma == 0.0:
        dA = xp.zeros_like(A)
    else:
        dA = gamma * py * safe_pow(xp, u, gamma - 1.0) * (-(s + 2.0) + (gamma - 1.0) * py * r)
    scale = 1.0 if scalar is None else scalar
    if alpha_y is not None:
        A, dA = alpha_y * A, alpha_y * dA
    g, h = _row_form(b, c1=scale * A, c2=-scale * dA, full=full)
    return b.out(g), b.out(h)


# -- PolyLoss ----------------------------------------------------------------------


@loss(
    aliases=("poly1", "polyloss"),
    task="multiclass",
    kind="class_axis",
    input_space="logit",
    link="identity",
    summary="PolyLoss Poly-1: cross-entropy plus epsilon * (1 - p_t), a tunable first polynomial term.",
    estimates="class probabilities only at epsilon = 0 (otherwise a reweighted fit)",
    input_domain=D.REAL,
    target_domain=D.CLASS_INDEX,
    params=(
        Param("epsilon", EPSILON_DOMAIN, "coefficient of the (1 - p_t) term; 0 gives cross-entropy"),
        _CLASS_WEIGHT, _IGNORE, _SMOOTHING,
    ),
    convex=False,
    hessian_nonnegative=False,
    minimum=0.0,
    param_grid=({"epsilon": -1.0}, {"epsilon": 0.0}, {"epsilon": 3.0}, {"label_smoothing": 0.1}),
    references=("Leng, Z., Tan, M., Liu, C., et al. (2022). PolyLoss: A Polynomial Expansion Perspective of "
                "Classification Loss Functions. ICLR.",),
    notes="Convex with a non-negative Hessian diagonal for epsilon in [-1, 1]; not for epsilon > 1. "
          "epsilon = 0 is exactly cross_entropy (same 'mean' with class_weight).",
)
def poly1_cross_entropy(
    input, target, *, epsilon=1.0, class_weight=None, ignore_index=-100, label_smoothing=0.0, weight=None, mask=None,
    reduction="mean",
):
    r"""Poly-1 cross-entropy (PolyLoss, Leng et al. 2022): cross-entropy plus
    :math:`\epsilon` times the first polynomial term,

    .. math::
        \ell = \mathrm{CE} + \epsilon\, w_y\, (1 - p_t),\qquad
        p_t = \sum_c t_c p_c = (1-\varepsilon_{ls}) p_y + \varepsilon_{ls}/C

    where CE is :func:`cross_entropy` per sample (with ``class_weight`` and
    ``label_smoothing``), :math:`t` the (smoothed) one-hot target and
    :math:`w_y` the class weight (1 without ``class_weight``). ``"mean"``
    divides like :func:`cross_entropy` (by the summed ``weight *
    class_weight[target]``), so ``epsilon=0`` is exactly
    :func:`cross_entropy`. ``epsilon >= -1`` keeps the loss non-negative.
    :math:`1 - p_y` is computed as :math:`-\mathrm{expm1}(\log p_y)`.

    Not convex for ``epsilon > 1``; its Hessian diagonal can then be negative.
    Minimiser: the class probabilities only at ``epsilon = 0``.

    >>> import numpy as np, losskit
    >>> z, y = np.array([[2.0, 0.0, -1.0]]), np.array([0])
    >>> round(float(losskit.poly1_cross_entropy(z, y, epsilon=1.0)), 6)
    0.326051

    References: Leng, Xu, Tan, et al. (2022), PolyLoss: A Polynomial Expansion
    Perspective of Classification Loss Functions, ICLR.
    """
    loss = "poly1_cross_entropy"
    eps = check_param(loss, "epsilon", epsilon, EPSILON_DOMAIN)
    ls = _label_smoothing(loss, label_smoothing)
    b = class_axis(loss, input, target, weight=weight, mask=mask, reduction=reduction, ignore_index=ignore_index,
                   class_weight=class_weight, allow_probabilities=False)
    xp, z = b.xp, b.input
    axis, C = _axis(z), max(b.num_classes, 1)
    logp = log_softmax(xp, z, axis=axis)
    hot = _hot(b)
    s = _gather(xp, logp, hot, axis)
    one_minus_pt = (1.0 - ls) * (-xp.expm1(s)) + ls * (1.0 - 1.0 / C)
    cw = b.extras["class_weight"]
    if ls > 0.0:
        smooth = -xp.sum(logp if cw is None else logp * _per_class(xp, cw, z.ndim, axis), axis=axis)
    if cw is None:
        values = (1.0 - ls) * (-s) + eps * one_minus_pt
        if ls > 0.0:
            values = values + (ls / C) * smooth
        return reduce(b, values, reduction, valid=b.valid)
    cw_y = _class_value(xp, cw, hot, z.ndim, axis)
    if ls == 0.0:
        return reduce(b, -s + eps * one_minus_pt, reduction, valid=b.valid, class_weight=cw_y)
    values = cw_y * ((1.0 - ls) * (-s) + eps * one_minus_pt) + (ls / C) * smooth
    return _reduce_class_weighted(b, values, cw_y, reduction)


@derivatives_of(poly1_cross_entropy)
def _poly1_cross_entropy_derivatives(raw, target, *, full=False, epsilon, class_weight, ignore_index,
                                     label_smoothing):
    r"""Cross-entropy's derivatives plus those of :math:`\kappa (1 - p_y)`,
    :math:`\kappa = \epsilon w_y (1-\varepsilon_{ls})`: gradient
    :math:`\kappa p_y v`, Hessian :math:`\kappa p_y (\mathrm{diag}\,p - pp^T - vv^T)`."""
    loss = "poly1_cross_entropy"
    eps = check_param(loss, "epsilon", epsilon, EPSILON_DOMAIN)
    ls = _label_smoothing(loss, label_smoothing)
    b = class_axis(loss, raw, target, input_name="raw", ignore_index=ignore_index, class_weight=class_weight, allow_probabilities=False)
    full = _check_full(loss, full, b.input)
    xp, z = b.xp, b.input
    axis, C = _axis(z), max(b.num_classes, 1)
    hot = _hot(b)
    cw = b.extras["class_weight"]
    s = _gather(xp, log_softmax(xp, z, axis=axis), hot, axis)
    py = xp.exp(s)
    cw_y = xp.ones_like(s) if cw is None else _class_value(xp, cw, hot, z.ndim, axis)
    kappa = eps * (1.0 - ls) * cw_y
    g, h = _row_form(b, c1=(1.0 - ls) * cw_y + kappa * py, c2=-kappa * py, k=ls / C, cw=cw, full=full)
    return b.out(g), b.out(h)


# -- multi-class margin ------------------------------------------------------------


def _margin_batch(loss, input, target, *, p, margin, class_weight, ignore_index, weight=None, mask=None,
                  reduction="mean"):
    if isinstance(p, bool) or not isinstance(p, numbers.Integral):
        raise TypeError(f"{loss}: p must be an integer, 1 or 2; received {type(p).__name__} {p!r}")
    p = check_choice(loss, "p", int(p), MARGIN_POWERS)
    margin = check_param(loss, "margin", margin, D.BOUNDED_NONNEGATIVE)
    b = class_axis(loss, input, target, weight=weight, mask=mask, reduction=reduction, ignore_index=ignore_index,
                   class_weight=class_weight, allow_probabilities=False)
    xp, x = b.xp, b.input
    axis = _axis(x)
    hot = _hot(b)
    xy = _expand(xp, _gather(xp, x, hot, axis), axis)
    zm = margin - xy + x
    active = xp.logical_and(zm > 0, xp.logical_not(hot))  # strict, as PyTorch: no subgradient at the kink
    cw = b.extras["class_weight"]
    cw_y = None if cw is None else _class_value(xp, cw, hot, x.ndim, axis)
    return b, p, hot, zm, active, cw_y


@loss(
    aliases=("multi_margin_loss", "multiclass_hinge"),
    task="multiclass",
    kind="class_axis",
    input_space="score",
    link="identity",
    summary="Multi-class hinge (Weston-Watkins): penalise every class scoring within margin of the label.",
    estimates="the most probable class (mode); scores are not probabilities",
    input_domain=D.REAL,
    target_domain=D.CLASS_INDEX,
    params=(
        Param("p", MARGIN_POWERS, "1 (hinge) or 2 (squared hinge)", kind="choice"),
        Param("margin", D.BOUNDED_NONNEGATIVE, "required gap between the label's score and the others"),
        _CLASS_WEIGHT, _IGNORE,
    ),
    minimum=0.0,
    best_input=_best_scores,
    param_grid=({"p": 2}, {"margin": 0.5}, {"p": 2, "margin": 2.0}),
    peers=("torch.nn.functional.multi_margin_loss",),
    references=(
        "Weston, J. & Watkins, C. (1999). Support Vector Machines for Multi-Class Pattern Recognition. ESANN.",
        "Crammer, K. & Singer, Y. (2001). On the Algorithmic Implementation of Multiclass Kernel-based Vector "
        "Machines. JMLR 2.",
    ),
    notes="Piecewise: Hessian 0 for p=1, piecewise constant for p=2 (derivatives at kinks are those of "
          "PyTorch: 0). 'mean' with class_weight divides by the number of samples (as PyTorch), not by the "
          "class weights.",
)
def multi_margin(input, target, *, p=1, margin=1.0, class_weight=None, ignore_index=-100, weight=None, mask=None,
                 reduction="mean"):
    r"""Multi-class hinge loss (Weston & Watkins form) on scores:

    .. math::
        \ell = \frac{w_y}{C} \sum_{i \ne y} \max(0,\ \mathrm{margin} - x_y + x_i)^p,\qquad p \in \{1, 2\}

    Identical to ``torch.nn.functional.multi_margin_loss(input, target, p=p,
    margin=margin, weight=class_weight)``, whose class weight multiplies the
    loss but is not in the ``"mean"`` denominator: ``"mean"`` divides by the
    (weighted) number of samples, as PyTorch divides by N. ``margin >= 0``.
    Convex; zero once the label's score beats every other by ``margin``.
    Estimates the most probable class (the mode), not probabilities.

    >>> import numpy as np, losskit
    >>> round(float(losskit.multi_margin(np.array([[0.1, 0.2, 0.4, 0.8]]), np.array([3]))), 6)
    0.325

    References: Weston & Watkins (1999), Support Vector Machines for Multi-Class
    Pattern Recognition, ESANN; Crammer & Singer (2001).
    """
    loss = "multi_margin"
    b, p, hot, zm, active, cw_y = _margin_batch(loss, input, target, p=p, margin=margin, class_weight=class_weight,
                                                ignore_index=ignore_index, weight=weight, mask=mask,
                                                reduction=reduction)
    xp, x = b.xp, b.input
    axis = _axis(x)
    pos = xp.where(active, zm, xp.zeros_like(zm))
    terms = pos if p == 1 else pos * pos
    values = xp.sum(terms, axis=axis) / max(b.num_classes, 1)
    if cw_y is not None:
        values = cw_y * values
    return reduce(b, values, reduction, valid=b.valid)


@derivatives_of(multi_margin)
def _multi_margin_derivatives(raw, target, *, full=False, p, margin, class_weight, ignore_index):
    r"""Piecewise: with :math:`a_i = [\mathrm{margin} - x_y + x_i > 0]` (i != y),
    :math:`k = w_y / C`: p=1 gradient :math:`k(a - e_y \sum a)`, Hessian 0;
    p=2 gradient :math:`2k(z_+ - e_y \sum z_+)`, Hessian
    :math:`2k \sum_i a_i (e_i - e_y)(e_i - e_y)^T`."""
    loss = "multi_margin"
    b, p, hot, zm, active, cw_y = _margin_batch(loss, raw, target, p=p, margin=margin, class_weight=class_weight,
                                                ignore_index=ignore_index)
    full = _check_full(loss, full, b.input)
    xp, x = b.xp, b.input
    axis = _axis(x)
    k = 1.0 / max(b.num_classes, 1)
    if cw_y is not None:
        k = k * _expand(xp, cw_y, axis)
    a = xp.astype(active, x.dtype)
    hotf = xp.astype(hot, x.dtype)
    count = xp.sum(a, axis=axis, keepdims=True)
    if p == 1:
        grad = k * (a - hotf * count)
        hess = _zeros_full(xp, x) if full else xp.zeros_like(x)
    else:
        pos = xp.where(active, zm, xp.zeros_like(zm))
        grad = 2.0 * k * (pos - hotf * xp.sum(pos, axis=axis, keepdims=True))
        if full:
            eye = xp.eye(x.shape[1], dtype=x.dtype, device=array_device(x))
            m = (xp.expand_dims(a, axis=2) * eye - _outer(xp, a, hotf) - _outer(xp, hotf, a)
                 + xp.expand_dims(count, axis=2) * _outer(xp, hotf, hotf))
            kk = k if isinstance(k, float) else xp.expand_dims(k, axis=2)
            hess = 2.0 * kk * m
        else:
            hess = 2.0 * k * (a + hotf * count)
    return b.out(_zero_ignored(b, grad, axis, False)), b.out(_zero_ignored(b, hess, axis, full))


# -- generalized cross-entropy -------------------------------------------------------


@loss(
    aliases=("gce",),
    task="multiclass",
    kind="class_axis",
    input_space="logit",
    link="identity",
    summary="(1 - p_y^q) / q: between cross-entropy (q -> 0) and MAE on probabilities (q = 1); noisy labels.",
    estimates="the most probable class; not calibrated probabilities (not a proper scoring rule for q > 0)",
    input_domain=D.REAL,
    target_domain=D.CLASS_INDEX,
    params=(Param("q", Q_DOMAIN, "Box-Cox exponent; q -> 0 cross-entropy, q = 1 MAE"), _IGNORE),
    robust=True,
    convex=False,
    hessian_nonnegative=False,
    minimum=0.0,
    param_grid=({"q": 1.0}, {"q": 0.1}, {"q": 1e-4}),
    references=("Zhang, Z. & Sabuncu, M. R. (2018). Generalized Cross Entropy Loss for Training Deep Neural "
                "Networks with Noisy Labels. NeurIPS.",),
    notes="Bounded by 1/q, hence robust to mislabelled samples (noise-tolerant at q = 1, MAE); converges "
          "slower than cross-entropy. Not a proper scoring rule.",
)
def generalized_cross_entropy(input, target, *, q=0.7, ignore_index=-100, weight=None, mask=None, reduction="mean"):
    r"""Generalized cross-entropy (Zhang & Sabuncu 2018), robust to noisy labels:

    .. math::
        \ell = \frac{1 - p_y^{\,q}}{q} = -\frac{\mathrm{expm1}(q \log p_y)}{q},
        \qquad q \in (0, 1]

    The negative Box-Cox transform of :math:`p_y`: :math:`q \to 0` gives
    cross-entropy, ``q=1`` the mean absolute error on probabilities
    :math:`1 - p_y`. Bounded by :math:`1/q`, hence robust to mislabelled
    samples; not a proper scoring rule and not convex (the Hessian diagonal
    can be negative). ``"mean"`` is over the samples that count.

    >>> import numpy as np, losskit
    >>> round(float(losskit.generalized_cross_entropy(np.array([[2.0, 0.0, -1.0]]), np.array([0]), q=1.0)), 6)
    0.156205

    References: Zhang, Z. & Sabuncu, M. R. (2018), Generalized Cross Entropy
    Loss for Training Deep Neural Networks with Noisy Labels, NeurIPS.
    """
    loss = "generalized_cross_entropy"
    q = check_param(loss, "q", q, Q_DOMAIN)
    b = class_axis(loss, input, target, weight=weight, mask=mask, reduction=reduction, ignore_index=ignore_index,
                   allow_probabilities=False)
    xp, z = b.xp, b.input
    axis = _axis(z)
    s = _gather(xp, log_softmax(xp, z, axis=axis), _hot(b), axis)
    return reduce(b, -xp.expm1(q * s) / q, reduction, valid=b.valid)


@derivatives_of(generalized_cross_entropy)
def _generalized_cross_entropy_derivatives(raw, target, *, full=False, q, ignore_index):
    r"""Gradient :math:`p_y^q v`; Hessian :math:`p_y^q (\mathrm{diag}\,p - pp^T - q v v^T)`."""
    loss = "generalized_cross_entropy"
    b = class_axis(loss, raw, target, input_name="raw", ignore_index=ignore_index, allow_probabilities=False)
    full = _check_full(loss, full, b.input)
    xp, z = b.xp, b.input
    axis = _axis(z)
    s = _gather(xp, log_softmax(xp, z, axis=axis), _hot(b), axis)
    pq = xp.exp(q * s)
    g, h = _row_form(b, c1=pq, c2=-q * pq, full=full)
    return b.out(g), b.out(h)


# -- linear_cross_entropy: the loss of a linear head, in blocks of rows ------------

_LCE = "linear_cross_entropy"


def _linear_example(rng, n=6, hidden=5, classes=4):
    """Hidden states, a head and labels (every row counts: the property
    suite's mean is over all rows; ignore_index and linear_bias are tested in
    tests/functional/test_linear_cross_entropy.py)."""
    target = rng.integers(0, classes, size=n)
    return (rng.normal(size=(n, hidden)), rng.normal(size=(classes, hidden)), target), {}


@loss(
    task="multiclass",
    kind="structured",
    input_space="hidden states (..., H) and a linear head (V, H)",
    summary="Cross-entropy of the logits input @ linear_weight.T + linear_bias, in blocks of rows: the N x V "
            "logits are never all in memory.",
    estimates="class probabilities (softmax of the head's logits)",
    inputs=("input", "linear_weight", "target"),
    example=_linear_example,
    params=(_CLASS_WEIGHT, _IGNORE, _SMOOTHING,
            Param("chunk_size", D.POSITIVE, "rows per block; None: 512, fewer for V > 262144", kind="int")),
    param_grid=({"label_smoothing": 0.2, "chunk_size": 2}, {"ignore_index": None}, {"class_weight": [0.5, 1.0, 2.0, 0.0]}),
    minimum=None,
    peers=("torch.nn.functional.linear_cross_entropy",),
    references=("Wijmans, E., Huval, B., Hertzberg, A., Koltun, V., Krähenbühl, P. (2025). Cut Your Losses in "
                "Large-Vocabulary Language Models. ICLR.",),
    notes="Takes PyTorch's names: linear_weight, linear_bias; class_weight is PyTorch's weight, and weight is "
          "the per-sample weight of every losskit loss. The blockwise path serves float32/float64 torch tensors "
          "without weight or mask; everything else computes the full logits.",
)
def linear_cross_entropy(input, linear_weight, target, *, linear_bias=None, class_weight=None, ignore_index=-100,
                         label_smoothing=0.0, chunk_size=None, weight=None, mask=None, reduction="mean"):
    r"""Cross-entropy of the logits ``input @ linear_weight.T + linear_bias``
    without forming them all at once.

    Equal to ``losskit.cross_entropy(input @ linear_weight.T + linear_bias,
    target, ...)`` with the same options (itself equal to
    ``torch.nn.functional.cross_entropy``), values and gradients for
    ``input``, ``linear_weight`` and ``linear_bias`` (each where it requires a
    gradient). The names are those of
    ``torch.nn.functional.linear_cross_entropy``; as everywhere in losskit,
    ``class_weight`` weighs classes (PyTorch's ``weight``) and ``weight`` and
    ``mask`` are per sample. Leading axes of ``input`` are flattened into
    rows: ``input`` (..., H) with ``target`` (...) is the cross-entropy of the
    rows, and ``reduction="none"`` returns shape (...). ``"mean"`` divides by
    the summed class and sample weights of the rows that count, and a batch
    where nothing counts gives 0 with a zero gradient.

    Memory: float32 and float64 torch tensors without ``weight`` or ``mask``
    take the blockwise path (the numba kernel on CPU, torch ops on other
    devices): the gradients of the inputs plus two blocks of ``chunk_size``
    x V logits, instead of several N x V buffers. So do not calls inside
    ``torch.compile`` or a functorch transform, a ``class_weight`` that
    requires a gradient, or any call inside ``losskit.kernels.disabled()``:
    these, NumPy and JAX arrays, and per-sample ``weight`` or ``mask`` compute
    the full logits (float16/bfloat16 in float32, returned in the input
    dtype). ``losskit.kernels.record()`` says which path a call took. Under
    ``torch.autocast`` the blockwise path computes in the inputs' own dtype.

    Args:
        input: (N, H), (..., H) or (H,) floating array: the hidden states.
        linear_weight: (V, H) array of ``input``'s dtype: the head.
        target: integer class indices of shape ``input.shape[:-1]``.
        linear_bias: optional (V,) array of ``input``'s dtype.
        class_weight: optional length-V non-negative weights.
        ignore_index: label whose rows are left out (None: none).
        label_smoothing: :math:`\varepsilon \in [0, 1]`.
        chunk_size: rows per block, a positive integer; None picks 512
            (fewer for V > 262144;
            :func:`losskit.kernels.linear_cross_entropy.default_chunk_size`).
        weight, mask: optional per-sample arrays of ``target``'s shape.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    >>> import torch
    >>> from losskit.torch import linear_cross_entropy
    >>> h, w = torch.randn(10, 4, requires_grad=True), torch.randn(7, 4, requires_grad=True)
    >>> y = torch.randint(0, 7, (10,))
    >>> loss = linear_cross_entropy(h, w, y, chunk_size=3)
    >>> bool(torch.isclose(loss, torch.nn.functional.cross_entropy(h @ w.T, y)))
    True
    >>> loss.backward(); h.grad.shape, w.grad.shape
    (torch.Size([10, 4]), torch.Size([7, 4]))
    """
    if is_torch(input) and weight is None and mask is None:
        from ..kernels import linear_cross_entropy as blockwise

        call = _linear_call(blockwise, input, linear_weight, target, linear_bias, class_weight, ignore_index,
                            label_smoothing, reduction, chunk_size)
        out = blockwise.forward(call, linear_weight, linear_bias, reference=_linear_plain)
        return _linear_plain(call, call.hidden, linear_weight, linear_bias) if out is None else out
    return _linear_full_logits(input, linear_weight, target, linear_bias, class_weight, ignore_index,
                               label_smoothing, chunk_size, weight, mask, reduction)


def _linear_full_logits(input, linear_weight, target, linear_bias, class_weight, ignore_index, label_smoothing,
                        chunk_size, weight, mask, reduction):
    """The reference math on any backend: ``cross_entropy`` of the full
    logits, rows flattened, half precision computed in float32."""
    check_chunk_size(_LCE, chunk_size)
    xp, arrays = namespace(_LCE, {"input": input, "linear_weight": linear_weight, "target": target,
                                  "linear_bias": linear_bias, "weight": weight, "mask": mask},
                           ("input", "linear_weight", "target"))
    input, linear_weight, target, linear_bias, weight, mask = (
        arrays[k] for k in ("input", "linear_weight", "target", "linear_bias", "weight", "mask"))
    if not xp.isdtype(input.dtype, "real floating"):
        raise TypeError(f"{_LCE}: input must have a floating dtype; received dtype {input.dtype}")
    if input.ndim < 1:
        raise ValueError(f"{_LCE}: input must have a feature axis, shape (N, H), (..., H) or (H,); received shape ()")
    H = input.shape[-1]
    if linear_weight.ndim != 2 or linear_weight.shape[1] != H:
        raise ValueError(f"{_LCE}: linear_weight must have shape (V, {H}) (one row of H={H} features per class, "
                         f"as input's last axis); received shape {tuple(linear_weight.shape)}")
    V = linear_weight.shape[0]
    parts = [("linear_weight", linear_weight)] + ([("linear_bias", linear_bias)] if linear_bias is not None else [])
    for name, x in parts:
        if x.dtype != input.dtype:
            raise TypeError(f"{_LCE}: {name} must have input's dtype {input.dtype}; received dtype {x.dtype}")
    if linear_bias is not None and tuple(linear_bias.shape) != (V,):
        raise ValueError(f"{_LCE}: linear_bias must have shape ({V},) (one value per class, V = "
                         f"linear_weight.shape[0]); received shape {tuple(linear_bias.shape)}")
    sample_shape = tuple(input.shape[:-1])
    for name, x in (("target", target), ("weight", weight), ("mask", mask)):
        if x is not None and tuple(x.shape) != sample_shape:
            raise ValueError(f"{_LCE}: {name} must have shape {sample_shape} (input's shape without its last "
                             f"axis); received shape {tuple(x.shape)}")
    half = input.dtype in tuple(getattr(xp, name) for name in ("float16", "bfloat16") if hasattr(xp, name))
    compute = xp.float32 if half else input.dtype
    rows = xp.reshape(xp.astype(input, compute), (-1, H))
    logits = xp.matmul(rows, xp.permute_dims(xp.astype(linear_weight, compute), (1, 0)))
    if linear_bias is not None:
        logits = logits + xp.astype(linear_bias, compute)
    flat = (lambda a: None if a is None else xp.reshape(a, (-1,)))
    value = cross_entropy(logits, flat(target), class_weight=class_weight, ignore_index=ignore_index,
                          label_smoothing=label_smoothing, weight=flat(weight), mask=flat(mask), reduction=reduction)
    value = xp.reshape(value, sample_shape) if reduction == "none" else value
    return xp.astype(value, input.dtype) if half else value


def _linear_check_tensor(name, x):
    import torch

    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{_LCE}: {name} must be a torch.Tensor; received {type(x).__name__}")


def _linear_call(blockwise, hidden, linear_weight, target, linear_bias, class_weight, ignore_index, label_smoothing, reduction,
                 chunk_size):
    """The arguments of ``linear_cross_entropy`` checked, as a ``blockwise.Call``."""
    import torch

    check_reduction(_LCE, reduction)
    eps = check_param(_LCE, "label_smoothing", label_smoothing, D.UNIT)
    if ignore_index is not None:
        ignore_index = check_int(_LCE, "ignore_index", ignore_index)
    chunk_size = check_chunk_size(_LCE, chunk_size)
    for name, x in (("input", hidden), ("linear_weight", linear_weight), ("target", target)):
        _linear_check_tensor(name, x)
    if not hidden.is_floating_point():
        raise TypeError(f"{_LCE}: input must have a floating dtype; received dtype {hidden.dtype}")
    if hidden.ndim < 1:
        raise ValueError(f"{_LCE}: input must have a feature axis, shape (N, H), (..., H) or (H,); "
                         f"received shape ()")
    H = hidden.shape[-1]
    if linear_weight.ndim != 2 or linear_weight.shape[1] != H:
        raise ValueError(f"{_LCE}: linear_weight must have shape (V, {H}) (one row of H={H} features per class, "
                         f"as input's last axis); received shape {tuple(linear_weight.shape)}")
    V = linear_weight.shape[0]
    if linear_weight.dtype != hidden.dtype:
        raise TypeError(f"{_LCE}: linear_weight must have input's dtype {hidden.dtype}; received dtype "
                        f"{linear_weight.dtype}")
    if linear_bias is not None:
        _linear_check_tensor("linear_bias", linear_bias)
        if tuple(linear_bias.shape) != (V,):
            raise ValueError(f"{_LCE}: linear_bias must have shape ({V},) (one value per class, V = "
                             f"linear_weight.shape[0]); received shape {tuple(linear_bias.shape)}")
        if linear_bias.dtype != hidden.dtype:
            raise TypeError(f"{_LCE}: linear_bias must have input's dtype {hidden.dtype}; received dtype "
                            f"{linear_bias.dtype}")
    sample_shape = tuple(hidden.shape[:-1])
    if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
        raise TypeError(f"{_LCE}: target must hold integer class indices of shape {sample_shape}; "
                        f"received dtype {target.dtype}")
    if tuple(target.shape) != sample_shape:
        raise ValueError(f"{_LCE}: target must have shape {sample_shape} (input's shape without its last "
                         f"axis); received shape {tuple(target.shape)}")
    for name, x in (("linear_weight", linear_weight), ("target", target), ("linear_bias", linear_bias),
                    ("class_weight", class_weight)):
        if isinstance(x, torch.Tensor) and x.device != hidden.device:
            raise ValueError(f"{_LCE}: {name} must be on input's device {hidden.device}; "
                             f"received device {x.device}")
    compute = hidden.dtype if hidden.dtype in (torch.float32, torch.float64) else torch.float32
    if class_weight is not None:
        _linear_check_tensor("class_weight", class_weight)
        if tuple(class_weight.shape) != (V,):
            raise ValueError(f"{_LCE}: class_weight must have shape ({V},) (one weight per class); "
                             f"received shape {tuple(class_weight.shape)}")
        if class_weight.is_complex():
            raise TypeError(f"{_LCE}: class_weight must have a real dtype; received dtype {class_weight.dtype}")
        if class_weight.is_floating_point():
            rule = f"{_LCE}: class_weight must not contain NaN"
            refuse_where(torch, torch.isnan(class_weight), rule, lambda: f"{rule}; received class_weight with NaN")
        rule = f"{_LCE}: class_weight must be >= 0"
        refuse_where(torch, class_weight < 0, rule,
                     lambda: f"{rule}; received {float(class_weight[class_weight < 0][0])!r}")
        if class_weight.dtype != compute and not class_weight.requires_grad:
            class_weight = class_weight.to(compute)
    y = target.reshape(-1)
    valid = None if ignore_index is None else y != ignore_index
    if y.numel():
        bad = (y < 0) | (y >= V)
        if valid is not None:
            bad &= valid
        ign = f" or ignore_index={ignore_index}" if ignore_index is not None else ""
        rule = f"{_LCE}: target must hold class indices in [0, {V}){ign}"
        refuse_where(torch, bad, rule, lambda: f"{rule}; received {int(y[bad][0])}")
    call = blockwise.Call()
    call.hidden = hidden.reshape(-1, H)
    call.out_shape = sample_shape
    call.target = target
    call.labels = y.to(torch.int64) if valid is None else torch.where(valid, y, 0).to(torch.int64)
    # dropping an all-true mask saves the kernels a read, but asking costs a host read: only under "full"
    call.valid = None if valid is None or (value_checks(valid) == "full" and is_concrete(valid)
                                           and bool(valid.all())) else valid
    call.class_weight = class_weight
    call.ignore_index = ignore_index
    call.label_smoothing = eps
    call.reduction = reduction
    call.chunk_size = chunk_size
    call.kernels = None
    call.np_cache = None
    call.reference = None

    def denominator_of() -> float:
        if reduction != "mean":
            return 1.0
        w_y = None if class_weight is None else class_weight.detach()[call.labels]
        return float(mean_denominator(array_namespace(call.labels), call.labels, weight=w_y, keep=call.valid))

    call.denominator_of = denominator_of
    call.denominator = None
    return call


def _linear_plain(call, hidden, linear_weight, linear_bias):
    """``losskit.cross_entropy`` of the full logits (the reference math)."""
    import torch

    dtype = hidden.dtype
    if dtype in (torch.float16, torch.bfloat16):  # computed in float32, returned in the input dtype
        hidden, linear_weight = hidden.float(), linear_weight.float()
        linear_bias = None if linear_bias is None else linear_bias.float()
    logits = torch.nn.functional.linear(hidden, linear_weight, linear_bias)
    value = cross_entropy(logits, call.target.reshape(-1), class_weight=call.class_weight,
                          ignore_index=call.ignore_index, label_smoothing=call.label_smoothing,
                          reduction=call.reduction)
    return (value.reshape(call.out_shape) if call.reduction == "none" else value).to(dtype)
