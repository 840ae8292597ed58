"""Divergences between distributions along the class axis (axis 1).

One value per sample: the divergence summed over the distribution axis. So
``reduction="mean"`` is the mathematically right per-sample mean (PyTorch's
``reduction="batchmean"``), not PyTorch's ``"mean"`` over every element.
"""

from __future__ import annotations

from .. import domains as D
from .._array import log_softmax, xlogy
from .._reduce import reduce
from .._validate import Batch, check_bool, class_axis
from ..registry import Param, derivatives_of, loss

__all__ = ["kl_div", "js_div"]


def _distribution_batch(loss, input, target, *, weight, mask, reduction, target_domain, input_domain,
                        input_name="input") -> Batch:
    if hasattr(target, "dtype") and "int" in str(target.dtype):
        raise TypeError(
            f"{loss}: target must be a floating array of distributions with the input's shape; "
            f"received dtype {target.dtype}"
        )
    return class_axis(
        loss, input, target, weight=weight, mask=mask, reduction=reduction,
        probability_domain=target_domain, input_domain=input_domain, input_name=input_name,
    )


@loss(
    aliases=("kl_divergence",),
    task="distribution",
    kind="class_axis",
    input_space="log-probability",
    link="log_softmax",
    summary="KL(target || input) per sample; distillation and matching a target distribution.",
    estimates="the target distribution",
    input_domain=D.NONPOSITIVE,
    target_domain=D.UNIT,
    params=(Param("log_target", None, "target holds log-probabilities", kind="bool"),),
    minimum=0.0,
    param_grid=(),
    peers=('torch.nn.functional.kl_div(reduction="batchmean")', "scipy.stats.entropy(target, p)"),
    references=("Kullback, S. & Leibler, R. A. (1951). On Information and Sufficiency. Ann. Math. Statist. 22(1).",),
    notes="'mean' is the per-sample mean (PyTorch's 'batchmean'), not the mean over elements.",
)
def kl_div(input, target, *, log_target=False, weight=None, mask=None, reduction="mean"):
    r"""Kullback-Leibler divergence :math:`\mathrm{KL}(t \,\|\, p) = \sum_c t_c (\log t_c - \log p_c)`.

    .. math::
        \ell = \sum_c t_c\,(\log t_c - x_c),\qquad x = \log p,\quad 0 \log 0 = 0

    ``input`` holds log-probabilities :math:`\log p` (PyTorch's convention),
    ``target`` probabilities :math:`t`, or log-probabilities with
    ``log_target=True``. Both have shape (N, C, d1, ...) or (C,), the
    distribution along axis 1. Returns one value per sample; ``"mean"`` is the
    per-sample mean, equal to ``torch.nn.functional.kl_div(...,
    reduction="batchmean")`` for 2-D input and to
    ``scipy.stats.entropy(t, p)`` per row. :math:`0 \log 0 = 0`.

    The registry's gradient and Hessian are with respect to logits
    :math:`z` with :math:`\log p = \mathrm{log\_softmax}(z)`: gradient
    :math:`p \sum_c t_c - t`.

    >>> import numpy as np, losskit
    >>> t = np.array([[0.5, 0.5]]); logp = np.log(np.array([[0.25, 0.75]]))
    >>> round(float(losskit.kl_div(logp, t)), 6)
    0.143841

    References: Kullback & Leibler (1951), On Information and Sufficiency.
    """
    check_bool("kl_div", "log_target", log_target)
    b = _distribution_batch(
        "kl_div", input, target, weight=weight, mask=mask, reduction=reduction,
        target_domain=D.NONPOSITIVE if log_target else D.UNIT, input_domain=D.NONPOSITIVE,
    )
    xp, axis = b.xp, (1 if b.input.ndim >= 2 else 0)
    if log_target:
        per = xp.sum(xp.exp(b.target) * (b.target - b.input), axis=axis)
    else:
        per = xp.sum(xlogy(xp, b.target, b.target) - b.target * b.input, axis=axis)
    return reduce(b, per, reduction)


@derivatives_of(kl_div)
def _kl_div_derivatives(raw, target, *, log_target, full=False):
    check_bool("kl_div", "log_target", log_target)
    b = _distribution_batch(
        "kl_div", raw, target, weight=None, mask=None, reduction="none",
        target_domain=D.NONPOSITIVE if log_target else D.UNIT, input_domain=D.REAL, input_name="raw",
    )
    xp, axis = b.xp, (1 if b.input.ndim >= 2 else 0)
    t = xp.exp(b.target) if log_target else b.target
    p = xp.exp(log_softmax(xp, b.input, axis=axis))
    mass = xp.sum(t, axis=axis, keepdims=True)
    grad = mass * p - t
    if full:
        if b.input.ndim != 2:
            raise ValueError(f"kl_div: full=True needs raw of shape (N, C); received shape {tuple(b.input.shape)}")
        eye = xp.eye(b.num_classes, dtype=b.dtype)
        hess = mass[:, :, None] * (p[:, :, None] * eye - p[:, :, None] * p[:, None, :])
    else:
        hess = mass * p * (1.0 - p)
    return b.out(grad), b.out(hess)


@loss(
    aliases=("jensen_shannon",),
    task="distribution",
    kind="class_axis",
    input_space="probability",
    summary="Symmetric, bounded (by log 2) divergence between two distributions.",
    estimates="the target distribution",
    input_domain=D.UNIT,
    target_domain=D.UNIT,
    convex=True,
    best_input=lambda t: t,
    peers=("scipy.spatial.distance.jensenshannon(p, q) ** 2",),
    references=("Lin, J. (1991). Divergence measures based on the Shannon entropy. IEEE Trans. Inf. Theory 37(1).",),
)
def js_div(input, target, *, weight=None, mask=None, reduction="mean"):
    r"""Jensen-Shannon divergence between two distributions, in nats:

    .. math::
        \mathrm{JS}(p, q) = \tfrac12 \mathrm{KL}(p \,\|\, m) + \tfrac12 \mathrm{KL}(q \,\|\, m),
        \qquad m = \tfrac12 (p + q)

    Both ``input`` and ``target`` are probabilities of shape (N, C, ...) or
    (C,), the distribution along axis 1. Symmetric and bounded by
    :math:`\log 2`. Equals ``scipy.spatial.distance.jensenshannon(p, q) ** 2``
    per row (SciPy returns the distance, the square root).

    >>> import numpy as np, losskit
    >>> round(float(losskit.js_div(np.array([1.0, 0.0]), np.array([0.0, 1.0]))), 6)  # log 2
    0.693147

    References: Lin (1991), Divergence measures based on the Shannon entropy.
    """
    b = _distribution_batch(
        "js_div", input, target, weight=weight, mask=mask, reduction=reduction,
        target_domain=D.UNIT, input_domain=D.UNIT,
    )
    xp, axis = b.xp, (1 if b.input.ndim >= 2 else 0)
    p, q = b.input, b.target
    m = 0.5 * (p + q)
    # xlogy keeps 0 log 0 = 0; m > 0 wherever p or q is.
    per = 0.5 * xp.sum(xlogy(xp, p, p) + xlogy(xp, q, q) - xlogy(xp, p + q, m), axis=axis)
    # Rounding can leave -1e-17 where p == q; JS is >= 0 by definition.
    return reduce(b, xp.maximum(per, 0.0), reduction)

