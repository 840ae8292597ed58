r"""Bounding-box regression losses: IoU, GIoU, DIoU and CIoU.

``input`` (the predicted boxes) and ``target`` (the true boxes) have the same
shape (..., 4), one box :math:`(x_1, y_1, x_2, y_2)` per row of the last axis
with :math:`x_1 \le x_2` and :math:`y_1 \le y_2`. Each loss gives one value
per box: ``reduction="none"`` returns shape (...), and ``weight`` and
``mask`` have that shape. A box with :math:`x_2 < x_1` or :math:`y_2 < y_1`
is an error (the message names the first one); zero-width, zero-height and
point boxes are valid and give finite losses and gradients.

Notation for a predicted box :math:`B` and a target box :math:`B^g`:
:math:`I` the intersection area (0 unless both overlaps are positive),
:math:`U = |B| + |B^g| - I` the union, :math:`\mathrm{IoU} = I / (U + \epsilon)`;
:math:`C` the smallest box enclosing both, :math:`c^2` its squared diagonal;
:math:`\rho^2` the squared distance between the two centres.

The formulas, including where :math:`\epsilon` enters, are those of
torchvision's ``generalized_box_iou_loss``, ``distance_box_iou_loss`` and
``complete_box_iou_loss`` (``torchvision.ops``), so values and gradients are
theirs wherever torchvision's result is finite; only the default
``reduction`` differs ("mean" here, "none" there). torchvision is not a test
dependency: the tests compare with a naive float64 reference written with
the same :math:`\epsilon` placement, and with finite differences.
NaN in ``input`` propagates; NaN in ``target`` is an error.
"""

from __future__ import annotations

import math

import numpy as np

from .. import domains as D
from .._array import array_size, is_concrete, stop_gradient
from .._reduce import reduce
from ..registry import Param, loss
from .._validate import (
    as_float,
    check_data,
    check_param,
    check_shape,
    per_sample,
    refuse_where,
    structured,
)

__all__ = ["ciou_loss", "diou_loss", "giou_loss", "iou_loss"]

EPS_DOMAIN = D.POSITIVE


# -- what every box loss shares in the registry ---------------------------------

_ZHENG = ("Zheng, Z., Wang, P., Liu, W., Li, J., Ye, R., Ren, D. (2020). Distance-IoU Loss: Faster and Better "
          "Learning for Bounding Box Regression. AAAI.")


def _example(rng, n=8):
    """True boxes with sides in [0.5, 5], and predictions jittered around them
    (corners re-sorted so x1 <= x2, y1 <= y2): overlapping, nested and
    disjoint pairs."""
    corner = rng.uniform(0.0, 10.0, size=(n, 2))
    target = np.concatenate([corner, corner + rng.uniform(0.5, 5.0, size=(n, 2))], axis=1)
    moved = target + rng.normal(0.0, 1.5, size=(n, 4))
    pred = np.stack([np.minimum(moved[:, 0], moved[:, 2]), np.minimum(moved[:, 1], moved[:, 3]),
                     np.maximum(moved[:, 0], moved[:, 2]), np.maximum(moved[:, 1], moved[:, 3])], axis=1)
    return (pred, target), {}


def _box_loss(summary, references, notes):
    """``loss`` with what the IoU family shares: boxes (x1, y1, x2, y2), one value per box."""
    return loss(
        task="detection",
        kind="structured",
        input_space="boxes (x1, y1, x2, y2)",
        summary=summary,
        estimates="box coordinates of maximal overlap",
        inputs=("input", "target"),
        example=_example,
        params=(Param("eps", EPS_DOMAIN, "added to the denominators (union; enclosing area or squared diagonal)"),),
        minimum=0.0,
        convex=False,
        hessian_nonnegative=False,
        references=references,
        notes=notes,
    )
_FOUR_OVER_PI2 = 4.0 / math.pi**2


# -- validation --------------------------------------------------------------


def _check_ordered(loss: str, name: str, xp, boxes) -> None:
    """Every box has x1 <= x2 and y1 <= y2 (NaN coordinates pass: NaN in
    ``input`` propagates, NaN in ``target`` is reported before this)."""
    if not is_concrete(boxes) or array_size(boxes) == 0:
        return
    flat = stop_gradient(xp, xp.reshape(boxes, (-1, 4)))  # read values without autograd
    bad = xp.logical_or(flat[:, 2] < flat[:, 0], flat[:, 3] < flat[:, 1])
    rule = f"{loss}: {name} must hold boxes (x1, y1, x2, y2) with x1 <= x2 and y1 <= y2"

    def message():
        k = int(xp.argmax(xp.astype(bad, xp.int32)))  # the first offending box
        index, rest = [], k
        for size in reversed(tuple(boxes.shape[:-1])):
            index.append(rest % size)
            rest //= size
        where = f"{name}[{', '.join(str(i) for i in reversed(index))}]" if index else name
        coords = ", ".join(repr(float(flat[k, j])) for j in range(4))
        return f"{rule}; received {where} = ({coords})"

    refuse_where(xp, bad, rule, message)


def _validate(loss, input, target, eps, weight, mask, reduction):
    eps = check_param(loss, "eps", eps, EPS_DOMAIN)
    xp, arrays, dtype, out_dtype = structured(
        loss, {"input": input, "target": target, "weight": weight, "mask": mask},
        reduction=reduction, floating=("input",),
    )
    p = arrays["input"]
    if p.ndim < 1 or p.shape[-1] != 4:
        raise ValueError(
            f"{loss}: input must have shape (..., 4) (boxes (x1, y1, x2, y2) on the last axis); "
            f"received shape {tuple(p.shape)}"
        )
    t = arrays["target"]
    check_shape(loss, "target", t, p.shape, "the shape of input")
    t = as_float(loss, "target", xp, t, dtype)
    check_data(loss, "target", xp, t, D.REAL)
    _check_ordered(loss, "input", xp, p)
    _check_ordered(loss, "target", xp, t)
    batch = per_sample(loss, xp, tuple(p.shape[:-1]), "one value per box", weight=arrays["weight"],
                       mask=arrays["mask"], dtype=dtype, out_dtype=out_dtype)
    return batch, p, t, eps


# -- geometry ----------------------------------------------------------------


def _coords(b):
    return b[..., 0], b[..., 1], b[..., 2], b[..., 3]


def _iou(xp, p, t, eps):
    """IoU = I / (U + eps) and the union U. The intersection is taken only
    where both overlaps are positive (``where``, as torchvision's mask), so
    touching boxes have I = 0 with a zero gradient."""
    x1, y1, x2, y2 = _coords(p)
    u1, v1, u2, v2 = _coords(t)
    iw = xp.minimum(x2, u2) - xp.maximum(x1, u1)
    ih = xp.minimum(y2, v2) - xp.maximum(y1, v1)
    overlap = xp.logical_and(iw > 0, ih > 0)
    inter = xp.where(overlap, iw * ih, xp.zeros_like(iw))
    union = (x2 - x1) * (y2 - y1) + (u2 - u1) * (v2 - v1) - inter
    return inter / (union + eps), union


def _enclosing(xp, p, t):
    """Width and height of the smallest box enclosing both."""
    x1, y1, x2, y2 = _coords(p)
    u1, v1, u2, v2 = _coords(t)
    return xp.maximum(x2, u2) - xp.minimum(x1, u1), xp.maximum(y2, v2) - xp.minimum(y1, v1)


def _diou(xp, p, t, eps):
    """1 - IoU + rho^2 / (c^2 + eps), and the IoU."""
    iou, _ = _iou(xp, p, t, eps)
    cw, ch = _enclosing(xp, p, t)
    diagonal = cw**2 + ch**2 + eps
    x1, y1, x2, y2 = _coords(p)
    u1, v1, u2, v2 = _coords(t)
    distance = ((x2 + x1) / 2 - (u1 + u2) / 2) ** 2 + ((y2 + y1) / 2 - (v1 + v2) / 2) ** 2
    return 1.0 - iou + distance / diagonal, iou


def _angle(xp, w, h):
    """arctan(w / h) for w, h >= 0, computed as the angle atan2(w, h): the
    smaller side is always divided by the larger, so the ratio lies in [0, 1],
    a zero height gives pi/2 (the limit) and a point box (0, 0) gives 0, with
    finite derivatives everywhere (the denominator of the branch ``where``
    discards is made nonzero first)."""
    wide = w > h
    h_safe = xp.where(h > 0, h, xp.ones_like(h))
    w_safe = xp.where(w > 0, w, xp.ones_like(w))
    return xp.where(wide, math.pi / 2 - xp.atan(h / w_safe), xp.atan(w / h_safe))


# -- losses ------------------------------------------------------------------


@_box_loss(
    "1 - IoU of predicted and true boxes; flat (zero gradient) for disjoint boxes.",
    ("Yu, J., Jiang, Y., Wang, Z., Cao, Z., Huang, T. (2016). UnitBox: An Advanced Object Detection Network. "
     "ACM Multimedia.",),
    "IoU = I / (U + eps) as inside torchvision.ops.generalized_box_iou_loss; the linear form 1 - IoU, not "
    "UnitBox's -ln IoU. Scale invariant, in [0, 1]; 1 for any disjoint pair.",
)
def iou_loss(input, target, *, eps=1e-7, weight=None, mask=None, reduction="mean"):
    r"""IoU loss for axis-aligned boxes, :math:`\ell = 1 - \mathrm{IoU}`.

    .. math::
        \mathrm{IoU} = \frac{I}{U + \epsilon}, \qquad
        I = \max(0, \min(x_2, x_2^g) - \max(x_1, x_1^g))\,\max(0, \min(y_2, y_2^g) - \max(y_1, y_1^g)),
        \qquad U = |B| + |B^g| - I

    :math:`\ell \in [0, 1]`: 1 for disjoint (or touching) boxes, whatever
    their distance, where the gradient is 0 — the gap that GIoU, DIoU and
    CIoU close. Identical boxes give :math:`\epsilon / (|B| + \epsilon)
    \approx 0`; a zero-area box has IoU 0 with any box, itself included.

    The IoU and the placement of :math:`\epsilon` are those inside
    torchvision's ``generalized_box_iou_loss`` / ``distance_box_iou_loss``
    (torchvision has no plain IoU loss); this is the linear form
    :math:`1 - \mathrm{IoU}`, not UnitBox's :math:`-\ln \mathrm{IoU}`.

    Args:
        input: predicted boxes (..., 4), floating, :math:`(x_1, y_1, x_2, y_2)`.
        target: true boxes of ``input``'s shape (cast to ``input``'s dtype).
        eps: :math:`\epsilon > 0` added to the union.
        weight, mask: per-box weights / boolean mask, shape (...).
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (one value per box).

    >>> import numpy as np, losskit
    >>> pred = np.array([[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 1.0, 1.0]])
    >>> true = np.array([[1.0, 0.0, 3.0, 2.0], [5.0, 5.0, 6.0, 6.0]])
    >>> np.round(losskit.iou_loss(pred, true, reduction="none"), 6)  # IoU 2/6 and 0
    array([0.666667, 1.      ])

    References: Yu, J. et al. (2016). UnitBox: An Advanced Object Detection
    Network. ACM Multimedia.
    """
    b, p, t, eps = _validate("iou_loss", input, target, eps, weight, mask, reduction)
    iou, _ = _iou(b.xp, p, t, eps)
    return reduce(b, 1.0 - iou, reduction)


@_box_loss(
    "Generalized IoU loss: 1 - IoU + (|C| - U) / |C| with C the enclosing box; > 1 for disjoint boxes.",
    ("Rezatofighi, H., Tsoi, N., Gwak, J., Sadeghian, A., Reid, I., Savarese, S. (2019). Generalized "
     "Intersection over Union: A Metric and A Loss for Bounding Box Regression. CVPR.",),
    "Matches torchvision.ops.generalized_box_iou_loss (same eps placement); default reduction 'mean' "
    "(torchvision: 'none'). In [0, 2).",
)
def giou_loss(input, target, *, eps=1e-7, weight=None, mask=None, reduction="mean"):
    r"""Generalized IoU loss (Rezatofighi et al. 2019).

    .. math::
        \ell = 1 - \mathrm{IoU} + \frac{|C| - U}{|C| + \epsilon}

    with :math:`|C|` the area of the smallest box enclosing both. :math:`\ell
    \in [0, 2)`: above 1 for disjoint boxes, growing as they move apart, so
    the gradient is nonzero where the IoU loss is flat.

    Matches ``torchvision.ops.generalized_box_iou_loss`` (same
    :math:`\epsilon` placement, in the IoU's and the penalty's denominators);
    the default reduction is "mean" here, "none" there.

    Args:
        input: predicted boxes (..., 4), floating, :math:`(x_1, y_1, x_2, y_2)`.
        target: true boxes of ``input``'s shape (cast to ``input``'s dtype).
        eps: :math:`\epsilon > 0` added to the union and the enclosing area.
        weight, mask: per-box weights / boolean mask, shape (...).
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (one value per box).

    >>> import numpy as np, losskit
    >>> pred = np.array([[0.0, 0.0, 1.0, 1.0]])
    >>> true = np.array([[2.0, 0.0, 3.0, 1.0]])
    >>> round(float(losskit.giou_loss(pred, true)), 6)  # IoU 0, |C| = 3, U = 2
    1.333333

    References: Rezatofighi, H. et al. (2019). Generalized Intersection over
    Union: A Metric and a Loss for Bounding Box Regression. CVPR.
    """
    b, p, t, eps = _validate("giou_loss", input, target, eps, weight, mask, reduction)
    xp = b.xp
    iou, union = _iou(xp, p, t, eps)
    cw, ch = _enclosing(xp, p, t)
    area_c = cw * ch
    return reduce(b, 1.0 - iou + (area_c - union) / (area_c + eps), reduction)


@_box_loss(
    "Distance-IoU loss: 1 - IoU + squared centre distance over the enclosing box's squared diagonal.",
    (_ZHENG,),
    "Matches torchvision.ops.distance_box_iou_loss (same eps placement); default reduction 'mean' "
    "(torchvision: 'none'). In [0, 2).",
)
def diou_loss(input, target, *, eps=1e-7, weight=None, mask=None, reduction="mean"):
    r"""Distance-IoU loss (Zheng et al. 2020).

    .. math::
        \ell = 1 - \mathrm{IoU} + \frac{\rho^2}{c^2 + \epsilon}

    with :math:`\rho` the distance between the boxes' centres and :math:`c`
    the diagonal of the smallest box enclosing both. :math:`\ell \in [0, 2)`;
    the penalty pulls the centres together directly, also for disjoint boxes.

    Matches ``torchvision.ops.distance_box_iou_loss`` (same :math:`\epsilon`
    placement, in the IoU's denominator and added to :math:`c^2`); the
    default reduction is "mean" here, "none" there.

    Args:
        input: predicted boxes (..., 4), floating, :math:`(x_1, y_1, x_2, y_2)`.
        target: true boxes of ``input``'s shape (cast to ``input``'s dtype).
        eps: :math:`\epsilon > 0` added to the union and the squared diagonal.
        weight, mask: per-box weights / boolean mask, shape (...).
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (one value per box).

    >>> import numpy as np, losskit
    >>> pred = np.array([[0.0, 0.0, 1.0, 1.0]])
    >>> true = np.array([[2.0, 0.0, 3.0, 1.0]])
    >>> round(float(losskit.diou_loss(pred, true)), 6)  # 1 - 0 + 2**2 / (3**2 + 1**2)
    1.4

    References: Zheng, Z. et al. (2020). Distance-IoU Loss: Faster and Better
    Learning for Bounding Box Regression. AAAI.
    """
    b, p, t, eps = _validate("diou_loss", input, target, eps, weight, mask, reduction)
    values, _ = _diou(b.xp, p, t, eps)
    return reduce(b, values, reduction)


@_box_loss(
    "Complete-IoU loss: DIoU plus alpha * v, an aspect-ratio (arctan w/h) consistency term.",
    (_ZHENG,),
    "Matches torchvision.ops.complete_box_iou_loss where that is finite; alpha = v / (1 - IoU + v + eps) is "
    "a constant for the gradient (torch.no_grad in torchvision, detach / stop_gradient here), so autograd "
    "is not the full derivative. arctan(w/h) is taken as atan2(w, h): finite for zero-height and point "
    "boxes (torchvision: NaN). Default reduction 'mean' (torchvision: 'none'). In [0, 3).",
)
def ciou_loss(input, target, *, eps=1e-7, weight=None, mask=None, reduction="mean"):
    r"""Complete-IoU loss (Zheng et al. 2020): DIoU plus an aspect-ratio term.

    .. math::
        \ell = 1 - \mathrm{IoU} + \frac{\rho^2}{c^2 + \epsilon} + \alpha v, \qquad
        v = \frac{4}{\pi^2}\left(\arctan\frac{w^g}{h^g} - \arctan\frac{w}{h}\right)^2, \qquad
        \alpha = \frac{v}{1 - \mathrm{IoU} + v + \epsilon}

    :math:`\alpha` is a constant for the gradient (detached in PyTorch,
    ``stop_gradient`` in JAX), as in the paper and in torchvision, which
    computes it under ``torch.no_grad``: the gradient is
    :math:`\partial(\mathrm{DIoU}) + \alpha\, \partial v`, not the full
    derivative of :math:`\ell`. :math:`\ell \in [0, 3)`.

    :math:`\arctan(w/h)` is evaluated as the angle :math:`\mathrm{atan2}(w, h)`
    (the smaller side over the larger), equal to it for :math:`h > 0`, with
    the limit :math:`\pi/2` for zero-height boxes and 0 for point boxes, and
    finite derivatives everywhere; torchvision divides :math:`w/h` directly
    and gives NaN for a zero-height box.

    Matches ``torchvision.ops.complete_box_iou_loss`` wherever that is
    finite (same :math:`\epsilon` placement and :math:`\alpha`); the default
    reduction is "mean" here, "none" there.

    Args:
        input: predicted boxes (..., 4), floating, :math:`(x_1, y_1, x_2, y_2)`.
        target: true boxes of ``input``'s shape (cast to ``input``'s dtype).
        eps: :math:`\epsilon > 0` added to the union, the squared diagonal
            and :math:`\alpha`'s denominator.
        weight, mask: per-box weights / boolean mask, shape (...).
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (one value per box).

    >>> import numpy as np, losskit
    >>> pred = np.array([[0.0, 0.0, 2.0, 2.0]])
    >>> true = np.array([[0.0, 0.0, 2.0, 4.0]])  # same centre column, IoU 1/2
    >>> round(float(losskit.ciou_loss(pred, true)), 6)
    0.553248

    References: Zheng, Z. et al. (2020). Distance-IoU Loss: Faster and Better
    Learning for Bounding Box Regression. AAAI.
    """
    b, p, t, eps = _validate("ciou_loss", input, target, eps, weight, mask, reduction)
    xp = b.xp
    diou, iou = _diou(xp, p, t, eps)
    x1, y1, x2, y2 = _coords(p)
    u1, v1, u2, v2 = _coords(t)
    v = _FOUR_OVER_PI2 * (_angle(xp, u2 - u1, v2 - v1) - _angle(xp, x2 - x1, y2 - y1)) ** 2
    alpha = stop_gradient(xp, v / (1.0 - iou + v + eps))
    return reduce(b, diou + alpha * v, reduction)
