r"""Segmentation losses: overlap scores of soft masks (Dice, Jaccard, Tversky,
focal Tversky, generalized Dice), their combination with cross-entropy, and
the Lovász losses, all on logits.

**Modes and shapes.** ``input`` holds logits; ``mode`` says how they become
probabilities and what ``target`` is. Every array has a batch axis first and
at least one more axis.

=============  ===========================  =====================================  ===========
mode           input                        target                                 probability
=============  ===========================  =====================================  ===========
"multiclass"   (N, C, d1, ...) logits       (N, d1, ...) integer class indices     softmax over axis 1
"multilabel"   (N, C, d1, ...) logits       (N, C, d1, ...) 0/1 (int, bool, float)  sigmoid per channel
"binary"       (N, d1, ...) logits          (N, d1, ...) 0/1 (int, bool, float)    sigmoid
=============  ===========================  =====================================  ===========

The rule is exact: in binary mode ``target`` has the shape of ``input``
(``input`` of shape (N, 1, H, W) takes a target of shape (N, 1, H, W), and
(N, H, W) takes (N, H, W)); nothing is broadcast, squeezed or added. Binary
mode scores the foreground only: it is one class (C = 1).

**Scores.** For one sample :math:`n` and class :math:`c`, over its pixels
:math:`i` (every axis after the class axis) that are not ignored, with
probabilities :math:`p` and 0/1 targets :math:`t`:

.. math::
    I = \sum_i p_i t_i, \quad FP = \sum_i p_i (1 - t_i), \quad FN = \sum_i (1 - p_i) t_i,

so :math:`P = \sum_i p_i = I + FP` and :math:`T = \sum_i t_i = I + FN`. The
losses are written as :math:`1 - \text{score}` rearranged so that a perfect
prediction gives exactly 0 and ``1 - p`` is computed without cancellation:

.. math::
    \text{dice} = 1 - \frac{2I + s}{P + T + s} = \frac{FP + FN}{2I + FP + FN + s}, \qquad
    \text{jaccard} = 1 - \frac{I + s}{P + T - I + s}, \qquad
    \text{tversky} = 1 - \frac{I + s}{I + \alpha FP + \beta FN + s}.

**Smoothing** ``smooth`` (:math:`s`, default 1.0) is added to the numerator
and the denominator of the score alike. It makes an empty target with an
empty prediction a perfect score (loss 0: :math:`I = FP = FN = 0`), keeps the
loss defined when a sample has no positive pixel, and softens the loss of
small objects: an empty target with a confident false positive of :math:`k`
pixels costs :math:`k / (k + s)` (Dice), so it is penalised, more so the
larger the false positive. ``smooth=0`` is allowed: it is then replaced by
the fourth root of the dtype's smallest normal number (about 3e-10 in
float32, 1e-77 in float64), so a score of 0/0 (nothing predicted, nothing to
find) is perfect too, and counts as small as confident logits give (1e-26)
do not overflow the gradient; the value changes only for counts that small.

**Averaging** over classes, per sample: ``average="macro"`` (default) scores
each class and averages the per-class losses (over the classes that have at
least one pixel not ignored); ``"micro"`` pools :math:`I`, :math:`FP`,
:math:`FN` over the classes and scores once; ``"none"`` keeps one loss per
sample and class, shape (N, C). So ``reduction="none"`` returns shape (N,)
(or (N, C) with ``average="none"``), and ``weight`` and ``mask`` have that
shape; then the one reduction applies (``"mean"`` averages samples). A
weight of shape (N, C) with ``average="none"`` weights classes, e.g. a 0
leaves the background out.

**Batch pooling.** Scores are per sample (each image on its own), as in
``optax.losses.dice_loss`` (which sums over the axes between batch and
channel) and MONAI's default. segmentation_models_pytorch's ``DiceLoss``
pools the counts over the whole batch instead; ``per_image=False`` does that
here: the batch is scored as one image, the unreduced loss has shape (1,)
(or (1, C)), and ``weight``/``mask`` have that shape.

**ignore_index.** Pixels whose target equals ``ignore_index`` are left out
of :math:`I`, :math:`FP`, :math:`FN` (and of the cross-entropy term of
``dice_cross_entropy``). In multiclass mode a pixel is ignored for every
class; in binary and multilabel modes the target must then be an integer
array and each element is ignored on its own. A sample with no pixel left
(or, with ``average="none"``, a sample-class pair) does not count in the
``"mean"`` and is 0 in ``"none"``.

NaN in ``input`` propagates; NaN in ``target`` is an error. Logits of
:math:`\pm 10^4` in float32 give finite values and gradients.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


from .. import domains as D
from .._array import array_device, array_size, divide_or_zero, is_concrete, log_softmax, one_hot, sigmoid, softplus
from .._reduce import masked_mean, reduce
from ..registry import Param, loss
from .._validate import (
    check_bool,
    check_choice,
    check_int,
    check_no_nan,
    check_param,
    check_real,
    check_shape,
    not_ignored,
    per_sample,
    refuse_where,
    structured,
)

__all__ = [
    "dice",
    "dice_cross_entropy",
    "focal_tversky",
    "generalized_dice",
    "jaccard",
    "lovasz_hinge",
    "lovasz_softmax",
    "tversky",
]

MODES = ("binary", "multiclass", "multilabel")
AVERAGES = ("macro", "micro", "none")
LOVASZ_CLASSES = ("present", "all")


# -- what every segmentation loss shares in the registry ------------------------
# Examples are multiclass (logits (3, 3, 4, 5), class indices (3, 4, 5)) except
# lovasz_hinge (binary); tests/functional/test_segmentation.py covers the other modes.

_N, _C, _H, _W = 3, 3, 4, 5

_MODE = Param("mode", MODES,
              "multiclass: softmax logits (N, C, ...) and class indices (N, ...); multilabel: sigmoid logits "
              "(N, C, ...) and 0/1 targets of that shape; binary: sigmoid logits (N, ...) and 0/1 targets of "
              "that shape", kind="choice")
_AVERAGE = Param("average", AVERAGES,
                 "over classes, per sample: mean of per-class losses (macro), one score of pooled counts "
                 "(micro), or per class, shape (N, C) (none)", kind="choice")
_SMOOTH = Param("smooth", D.NONNEGATIVE,
                "added to the score's numerator and denominator; an empty target predicted empty scores 0")
_IGNORE = Param("ignore_index", None,
                "target value whose pixels are left out of every count (integer targets)", kind="int")
_PER_IMAGE = Param("per_image", None,
                   "score each sample (True) or the batch as one image (False; output shape (1,))", kind="bool")
_ALPHA = Param("alpha", D.BOUNDED_NONNEGATIVE, "weight of false positives")
_BETA = Param("beta", D.BOUNDED_NONNEGATIVE, "weight of false negatives")

_REF_LOVASZ = (("Berman, M., Rannen Triki, A., Blaschko, M. B. (2018). The Lovász-Softmax loss: A tractable "
               "surrogate for the optimization of the intersection-over-union measure in neural networks. CVPR."),)


def _multiclass_example(rng):
    logits = rng.normal(0.0, 2.0, size=(_N, _C, _H, _W))
    labels = rng.integers(0, _C, size=(_N, _H, _W))
    return (logits, labels), {}


def _binary_example(rng):
    logits = rng.normal(0.0, 2.0, size=(_N, _H, _W))
    labels = rng.integers(0, 2, size=(_N, _H, _W))
    return (logits, labels), {}


def _segmentation_loss(summary, params, *, references, peers=(), aliases=(), convex=False,
                       example=_multiclass_example, target_domain=D.CLASS_INDEX, param_grid=(), notes=""):
    """``loss`` with what the segmentation family shares: logits and masks, one value per sample."""
    return loss(
        aliases=aliases,
        task="segmentation",
        kind="structured",
        input_space="logits",
        summary=summary,
        estimates="a mask maximising the overlap score (not calibrated probabilities)",
        target_domain=target_domain,
        params=params,
        inputs=("input", "target"),
        example=example,
        convex=convex,
        hessian_nonnegative=convex,
        minimum=0.0,
        param_grid=param_grid,
        peers=peers,
        references=references,
        notes=notes,
    )


_COMMON_NOTES = ("Scores are per sample (optax's convention; segmentation_models_pytorch pools the batch: "
                 "per_image=False). smooth is in numerator and denominator alike: empty target + empty "
                 "prediction = 0, empty target + non-empty prediction > 0.")


# -- validation and layout -----------------------------------------------------


@dataclass
class _Masks:
    """A validated call, laid out as (N, C, S): S the pixels of a sample (or
    of the whole batch with ``per_image=False``)."""

    xp: Any
    mode: str
    z: Any  # logits (N, C, S), compute dtype
    t: Any  # 0/1 targets (N, C, S), compute dtype, 0 where ignored
    valid: Any  # None, or boolean (N, 1, S) (multiclass) / (N, C, S): pixel not ignored
    dtype: Any
    out_dtype: Any
    weight: Any
    mask: Any
    per_image: bool

    @property
    def n(self) -> int:
        return self.z.shape[0]

    @property
    def c(self) -> int:
        return self.z.shape[1]

    def class_valid(self):
        """(N, C) booleans: the sample-class pair has a pixel not ignored; None
        without ignore_index."""
        if self.valid is None:
            return None
        xp = self.xp
        anyv = xp.any(self.valid, axis=2)
        return xp.broadcast_to(anyv, (self.n, self.c))

    def batch(self, loss, shape, what):
        return per_sample(loss, self.xp, shape, what, weight=self.weight, mask=self.mask,
                          dtype=self.dtype, out_dtype=self.out_dtype)


def _shape_words(mode: str) -> str:
    return "(N, d1, ...)" if mode == "binary" else "(N, C, d1, ...)"


def _prepare(loss, input, target, *, mode, ignore_index, per_image, weight, mask, reduction) -> _Masks:
    check_choice(loss, "mode", mode, MODES)
    check_bool(loss, "per_image", per_image)
    if ignore_index is not None:
        ignore_index = check_int(loss, "ignore_index", ignore_index)
    xp, arrays, dtype, out_dtype = structured(
        loss, {"input": input, "target": target, "weight": weight, "mask": mask},
        reduction=reduction, floating=("input",),
    )
    x, y = arrays["input"], arrays["target"]
    if x.ndim < 2:
        raise ValueError(
            f"{loss}: input must have shape {_shape_words(mode)} (a batch axis and at least one more) in "
            f"{mode} mode; received shape {tuple(x.shape)}"
        )
    check_real(loss, "target", xp, y)
    n = x.shape[0]
    if mode == "multiclass":
        c = x.shape[1]
        spatial = tuple(x.shape[2:])
        if not xp.isdtype(y.dtype, "integral"):
            raise TypeError(
                f"{loss}: target must have an integer dtype (class indices) in multiclass mode; "
                f"received dtype {y.dtype}"
            )
        check_shape(loss, "target", y, (n, *spatial), "the input's shape without the class axis, in multiclass mode")
        valid = not_ignored(xp, y, ignore_index)
        if is_concrete(y) and array_size(y):
            ok = xp.logical_and(y >= 0, y < c)
            if valid is not None:
                ok = xp.logical_or(ok, xp.logical_not(valid))
            bad = xp.logical_not(ok)
            ign = f" or ignore_index={ignore_index}" if ignore_index is not None else ""
            rule = f"{loss}: target must hold class indices in [0, {c}){ign}"
            refuse_where(xp, bad, rule, lambda: f"{rule}; received {int(y[bad][0])}")
        labels = y if valid is None else xp.where(valid, y, xp.zeros_like(y))
        s = math.prod(spatial)
        t = one_hot(xp, xp.reshape(labels, (n, s)), c, axis=1, dtype=dtype)
        z = xp.reshape(x, (n, c, s))
        if valid is not None:
            valid = xp.reshape(valid, (n, 1, s))
    else:
        check_shape(loss, "target", y, tuple(x.shape), f"the input's shape, in {mode} mode")
        integral = xp.isdtype(y.dtype, "integral")
        if ignore_index is not None and not integral:
            raise TypeError(
                f"{loss}: target must have an integer dtype when ignore_index is set in {mode} mode; "
                f"received dtype {y.dtype}"
            )
        check_no_nan(loss, "target", xp, y)
        valid = not_ignored(xp, y, ignore_index)
        if is_concrete(y) and array_size(y) and y.dtype != xp.bool:
            ok = xp.logical_or(y == 0, y == 1)
            if valid is not None:
                ok = xp.logical_or(ok, xp.logical_not(valid))
            bad = xp.logical_not(ok)
            ign = f" or ignore_index={ignore_index}" if ignore_index is not None else ""
            rule = f"{loss}: target must be 0 or 1{ign} in {mode} mode"
            refuse_where(xp, bad, rule,
                         lambda: f"{rule}; received {int(y[bad][0]) if integral else float(y[bad][0])}")
        yf = xp.astype(y, dtype)
        if valid is not None:
            yf = xp.where(valid, yf, xp.zeros_like(yf))
        c = 1 if mode == "binary" else x.shape[1]
        s = math.prod(x.shape[1:]) // c if c else 0
        z = xp.reshape(x, (n, c, s))
        t = xp.reshape(yf, (n, c, s))
        if valid is not None:
            valid = xp.reshape(valid, (n, c, s))
    if valid is not None:
        t = xp.where(valid, t, xp.zeros_like(t))
    if not per_image:
        z, t = _pool(xp, z), _pool(xp, t)
        valid = None if valid is None else _pool(xp, valid)
    return _Masks(xp, mode, z, t, valid, dtype, out_dtype, arrays["weight"], arrays["mask"], per_image)


def _pool(xp, a):
    """(N, C, S) -> (1, C, N * S): the batch as one image."""
    n, c, s = a.shape
    return xp.reshape(xp.permute_dims(a, (1, 0, 2)), (1, c, n * s))


def _probabilities(m: _Masks):
    """p and 1 - p, (N, C, S); 1 - p without cancellation near p = 1."""
    xp, z = m.xp, m.z
    if m.mode == "multiclass":
        logp = log_softmax(xp, z, axis=1)
        return xp.exp(logp), -xp.expm1(logp)
    return sigmoid(xp, z), sigmoid(xp, -z)


def _counts(m: _Masks):
    """Soft true positives I, false positives FP and false negatives FN per
    sample and class, (N, C), over the pixels not ignored."""
    xp = m.xp
    p, q = _probabilities(m)
    t = m.t
    if m.valid is not None:
        zero = xp.zeros_like(p)
        p = xp.where(m.valid, p, zero)
        q = xp.where(m.valid, q, zero)
    inter = xp.sum(p * t, axis=2)
    fp = xp.sum(p * (1.0 - t), axis=2)
    fn = xp.sum(q * t, axis=2)
    return inter, fp, fn


def _tiny(xp, dtype) -> float:
    """The fourth root of the dtype's smallest normal number (about 3e-10 in
    float32, 1e-77 in float64): a denominator at least this large keeps
    g / den^2 (in the gradient of a quotient, g the incoming gradient) finite
    in float32 even for the steep focal Tversky."""
    return float(xp.finfo(dtype).smallest_normal) ** 0.25


def _tversky_loss(xp, inter, fp, fn, alpha, beta, smooth):
    """1 - (I + s) / (I + alpha FP + beta FN + s), as a ratio of non-negative
    terms. ``smooth`` is floored at ``_tiny``: with smooth=0 an empty target
    predicted empty gives 0/tiny = 0, and counts of 1e-30 (confident logits)
    give finite gradients; any larger smooth is used as is."""
    num = alpha * fp + beta * fn
    return num / (inter + num + max(smooth, _tiny(xp, inter.dtype)))


def _average(loss, m: _Masks, counts, per_class, average, reduction):
    """Per-class losses -> the reduced loss for ``average``. ``per_class`` maps
    (I, FP, FN) of shape (N, C) or (N,) to losses of that shape."""
    if average == "none":
        b = m.batch(loss, (m.n, m.c), _what(m, "one value per sample and class (average='none')"))
        return reduce(b, per_class(*counts), reduction, valid=m.class_valid())
    values, valid = _over_classes(m, counts, per_class, average)
    b = m.batch(loss, (m.n,), _what(m, "one value per sample"))
    return reduce(b, values, reduction, valid=valid)


def _over_classes(m: _Masks, counts, per_class, average):
    """One loss per sample, (N,), for ``average`` "macro" or "micro", and
    which samples count (None: all)."""
    xp = m.xp
    inter, fp, fn = counts
    cvalid = m.class_valid()
    if average == "micro":
        values = per_class(xp.sum(inter, axis=1), xp.sum(fp, axis=1), xp.sum(fn, axis=1))
        return values, None if cvalid is None else xp.any(cvalid, axis=1)
    return masked_mean(xp, per_class(inter, fp, fn), cvalid)



def _what(m: _Masks, what: str) -> str:
    return what if m.per_image else "the batch scored as one image (per_image=False)"


def _check_average(loss, average, choices=AVERAGES):
    return check_choice(loss, "average", average, choices)


def _smooth(loss, smooth):
    return check_param(loss, "smooth", smooth, D.NONNEGATIVE)


# -- overlap losses ---------------------------------------------------------------


@_segmentation_loss(
    "Soft Dice loss 1 - (2I + s)/(P + T + s) per sample and class; the standard overlap loss for segmentation.",
    (_MODE, _AVERAGE, _SMOOTH, _IGNORE, _PER_IMAGE),
    aliases=("soft_dice",),
    peers=("optax.losses.dice_loss", "optax.losses.binary_dice_loss",
           "optax.losses.multiclass_generalized_dice_loss"),
    references=(("Milletari, F., Navab, N., Ahmadi, S.-A. (2016). V-Net: Fully Convolutional Neural Networks for "
                "Volumetric Medical Image Segmentation. 3DV."),),
    param_grid=({"average": "micro"}, {"average": "none"}, {"per_image": False}, {"smooth": 0.0}),
    notes=_COMMON_NOTES + " optax's smooth is half of this one (its score is (I + s)/(I + FP/2 + FN/2 + s)). "
          "optax's multiclass_generalized_dice_loss is this loss with average='none' and its class weights "
          "as weight (it is not Sudre's generalized Dice).",
)
def dice(input, target, *, mode="multiclass", average="macro", smooth=1.0, ignore_index=None, per_image=True,
         weight=None, mask=None, reduction="mean"):
    r"""Soft Dice loss (Milletari et al. 2016) on logits.

    Per sample and class, over the pixels not ignored (see the module
    docstring for shapes, modes, averaging and ``ignore_index``):

    .. math::
        \ell = 1 - \frac{2I + s}{P + T + s} = \frac{FP + FN}{2I + FP + FN + s}

    with :math:`I = \sum p t`, :math:`P = \sum p`, :math:`T = \sum t` and the
    smoothing :math:`s` in numerator and denominator alike (an empty target
    predicted empty scores 0; one predicted non-empty is penalised).

    Peers: ``optax.losses.dice_loss(logits, one_hot, smooth=s / 2)`` (channel
    last) equals ``dice(..., smooth=s)`` per sample: optax writes the score as
    :math:`(I + s')/(I + \tfrac12 FP + \tfrac12 FN + s')`, so its ``smooth``
    is half of ours; its ``reduction="mean"`` is our ``average="macro"``, its
    ``"none"`` ours ``"none"``. ``optax.losses.binary_dice_loss`` equals
    binary mode the same way. ``optax.losses.multiclass_generalized_dice_loss``
    is not Sudre's generalized Dice (see ``generalized_dice``): it is the
    per-class Dice loss weighted by batch-wide normalised inverse squared
    class volumes, i.e. ``dice(..., average="none", weight=w)`` with ``w``
    broadcast to (N, C). segmentation_models_pytorch's ``DiceLoss`` pools the
    batch (``per_image=False`` here) and uses ``smooth=0`` by default.

    Args:
        input: logits, (N, C, d1, ...) or, in binary mode, (N, d1, ...).
        target: class indices (N, d1, ...) (multiclass) or 0/1 of ``input``'s shape.
        mode: ``"multiclass"`` (softmax), ``"multilabel"`` (sigmoid per channel) or ``"binary"``.
        average: ``"macro"``, ``"micro"`` or ``"none"`` (per class, (N, C)).
        smooth: :math:`s \ge 0`, default 1.0.
        ignore_index: target value whose pixels are left out (integer targets).
        per_image: score each sample (True) or the whole batch as one image.
        weight, mask: shape (N,), or (N, C) with ``average="none"``.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    >>> import numpy as np, losskit
    >>> logits = np.array([[[4.0, -4.0], [-4.0, 4.0]]])  # (N=1, C=2, 2 pixels)
    >>> round(float(losskit.dice(logits, np.array([[0, 1]]))), 6)
    0.000224
    >>> empty = np.zeros((1, 3))  # an empty target: predicted empty, then 3 confident false positives
    >>> round(float(losskit.dice(np.full((1, 3), -20.0), empty, mode="binary")), 6)
    0.0
    >>> round(float(losskit.dice(np.full((1, 3), 20.0), empty, mode="binary")), 6)  # 3 / (3 + smooth)
    0.75

    References: Milletari, F., Navab, N., Ahmadi, S.-A. (2016). V-Net: Fully
    Convolutional Neural Networks for Volumetric Medical Image Segmentation. 3DV.
    """
    loss = "dice"
    _check_average(loss, average)
    s = _smooth(loss, smooth)
    m = _prepare(loss, input, target, mode=mode, ignore_index=ignore_index, per_image=per_image,
                 weight=weight, mask=mask, reduction=reduction)
    xp = m.xp
    return _average(loss, m, _counts(m), lambda i, fp, fn: _tversky_loss(xp, i, fp, fn, 0.5, 0.5, 0.5 * s),
                    average, reduction)


@_segmentation_loss(
    "Soft Jaccard (IoU) loss 1 - (I + s)/(P + T - I + s) per sample and class.",
    (_MODE, _AVERAGE, _SMOOTH, _IGNORE, _PER_IMAGE),
    aliases=("soft_jaccard", "soft_iou"),
    peers=("optax.losses.dice_loss (alpha=1, beta=1)",),
    references=(("Rahman, M. A., Wang, Y. (2016). Optimizing Intersection-over-Union in Deep Neural Networks for "
                "Image Segmentation. ISVC."),),
    param_grid=({"average": "micro"}, {"average": "none"}, {"per_image": False}),
    notes=_COMMON_NOTES + " tversky with alpha = beta = 1.",
)
def jaccard(input, target, *, mode="multiclass", average="macro", smooth=1.0, ignore_index=None, per_image=True,
            weight=None, mask=None, reduction="mean"):
    r"""Soft Jaccard (IoU) loss on logits.

    Per sample and class (module docstring: shapes, modes, averaging):

    .. math::
        \ell = 1 - \frac{I + s}{P + T - I + s} = \frac{FP + FN}{I + FP + FN + s}

    the soft intersection over the soft union (Rahman & Wang 2016), with the
    smoothing :math:`s` in numerator and denominator. It is the IoU loss
    ``1 - (I + s)/(U + s)``; it equals ``tversky`` with
    :math:`\alpha = \beta = 1`, and ``optax.losses.dice_loss`` with
    ``alpha=1, beta=1`` and the same ``smooth`` (channel last).

    Args:
        input, target, mode, average, smooth, ignore_index, per_image, weight, mask, reduction:
            as in ``dice``.

    >>> import numpy as np, losskit
    >>> logits = np.array([[[4.0, -4.0], [-4.0, 4.0]]])
    >>> round(float(losskit.jaccard(logits, np.array([[0, 1]]))), 6)
    0.000335

    References: Rahman, M. A., Wang, Y. (2016). Optimizing Intersection-over-Union
    in Deep Neural Networks for Image Segmentation. ISVC.
    """
    loss = "jaccard"
    _check_average(loss, average)
    s = _smooth(loss, smooth)
    m = _prepare(loss, input, target, mode=mode, ignore_index=ignore_index, per_image=per_image,
                 weight=weight, mask=mask, reduction=reduction)
    xp = m.xp
    return _average(loss, m, _counts(m), lambda i, fp, fn: _tversky_loss(xp, i, fp, fn, 1.0, 1.0, s),
                    average, reduction)


@_segmentation_loss(
    "Tversky loss 1 - (I + s)/(I + alpha FP + beta FN + s): Dice with false positives and negatives weighted apart.",
    (_MODE, _ALPHA, _BETA, _AVERAGE, _SMOOTH, _IGNORE, _PER_IMAGE),
    peers=("optax.losses.dice_loss",),
    references=(("Salehi, S. S. M., Erdogmus, D., Gholipour, A. (2017). Tversky loss function for image "
                "segmentation using 3D fully convolutional deep networks. MLMI."),),
    param_grid=({"alpha": 0.5, "beta": 0.5}, {"alpha": 1.0, "beta": 0.0}, {"average": "none"},
                {"average": "micro", "per_image": False}),
    notes=_COMMON_NOTES + " alpha weighs false positives, beta false negatives (Salehi et al., optax, "
          "segmentation_models_pytorch).",
)
def tversky(input, target, *, mode="multiclass", alpha=0.3, beta=0.7, average="macro", smooth=1.0,
            ignore_index=None, per_image=True, weight=None, mask=None, reduction="mean"):
    r"""Tversky loss (Salehi et al. 2017) on logits: Dice with false positives
    and false negatives weighted apart.

    .. math::
        \ell = 1 - \frac{I + s}{I + \alpha FP + \beta FN + s}

    :math:`\alpha` weighs false positives, :math:`\beta` false negatives (as
    in Salehi et al., optax and segmentation_models_pytorch; defaults 0.3 and
    0.7, the paper's best setting, favour recall). :math:`\alpha = \beta = 1`
    is ``jaccard``; :math:`\alpha = \beta = \tfrac12` with smoothing
    :math:`s` is ``dice`` with smoothing :math:`2s`. Equals
    ``optax.losses.dice_loss(..., alpha=alpha, beta=beta, smooth=smooth)``
    (channel last) for every alpha, beta and smooth.

    Args:
        alpha, beta: weights of FP and FN, >= 0.
        input, target, mode, average, smooth, ignore_index, per_image, weight, mask, reduction:
            as in ``dice``.

    >>> import numpy as np, losskit
    >>> x = np.array([[2.0, 2.0, -2.0]]); y = np.array([[1, 0, 0]])
    >>> round(float(losskit.tversky(x, y, mode="binary")), 6)
    0.169347

    References: Salehi, S. S. M., Erdogmus, D., Gholipour, A. (2017). Tversky loss
    function for image segmentation using 3D fully convolutional deep networks. MLMI.
    """
    loss = "tversky"
    a = check_param(loss, "alpha", alpha, D.BOUNDED_NONNEGATIVE)
    bt = check_param(loss, "beta", beta, D.BOUNDED_NONNEGATIVE)
    _check_average(loss, average)
    s = _smooth(loss, smooth)
    m = _prepare(loss, input, target, mode=mode, ignore_index=ignore_index, per_image=per_image,
                 weight=weight, mask=mask, reduction=reduction)
    xp = m.xp
    return _average(loss, m, _counts(m), lambda i, fp, fn: _tversky_loss(xp, i, fp, fn, a, bt, s),
                    average, reduction)


@_segmentation_loss(
    "Focal Tversky loss (1 - TI)^gamma per class: emphasises poorly segmented (small) structures.",
    (_MODE, _ALPHA, _BETA, Param("gamma", D.POSITIVE, "exponent of the Tversky loss (Abraham & Khan's 1/gamma)"),
     _AVERAGE, _SMOOTH, _IGNORE, _PER_IMAGE),
    references=(("Abraham, N., Khan, N. M. (2019). A Novel Focal Tversky Loss Function with Improved Attention "
                "U-Net for Lesion Segmentation. ISBI."),),
    param_grid=({"gamma": 1.0}, {"gamma": 2.0}, {"gamma": 0.5, "average": "micro"}, {"average": "none"}),
    notes=_COMMON_NOTES + " gamma is the exponent itself: Abraham & Khan's (1 - TI)^(1/gamma) with gamma = 4/3 "
          "is gamma=0.75 here. Their alpha weighs false negatives (beta here). Classes are averaged, not summed.",
)
def focal_tversky(input, target, *, mode="multiclass", alpha=0.3, beta=0.7, gamma=0.75, average="macro",
                  smooth=1.0, ignore_index=None, per_image=True, weight=None, mask=None, reduction="mean"):
    r"""Focal Tversky loss (Abraham & Khan 2019): the Tversky loss raised to a power.

    .. math::
        \ell = (1 - TI)^{\gamma}, \qquad TI = \frac{I + s}{I + \alpha FP + \beta FN + s}

    per class, then averaged (``average="macro"``), or once on pooled counts
    (``"micro"``). **Convention:** ``gamma`` is the exponent itself. Abraham
    & Khan write :math:`(1 - TI)^{1/\gamma}` with :math:`\gamma \in [1, 3]`
    and recommend :math:`\gamma = 4/3`, which is ``gamma=0.75`` here (the
    default); ``gamma=1`` is ``tversky``. Their :math:`\alpha` weighs false
    negatives; here, as in ``tversky``, ``alpha`` weighs false positives and
    ``beta`` false negatives, so their :math:`\alpha = 0.7` is ``beta=0.7``.
    They sum over classes where ``"macro"`` takes the mean. With
    ``gamma < 1`` the gradient grows as the loss nears 0; a Tversky loss
    below the fourth root of the dtype's smallest normal number (about 3e-10
    in float32) is taken as 0, so the gradient stays finite and is 0 at a
    (nearly) perfect class.

    Args:
        gamma: exponent > 0.
        alpha, beta: as in ``tversky``.
        input, target, mode, average, smooth, ignore_index, per_image, weight, mask, reduction:
            as in ``dice``.

    >>> import numpy as np, losskit
    >>> x = np.array([[2.0, 2.0, -2.0]]); y = np.array([[1, 0, 0]])
    >>> round(float(losskit.focal_tversky(x, y, mode="binary", gamma=1.0)), 6)  # = tversky
    0.169347
    >>> round(float(losskit.focal_tversky(x, y, mode="binary")), 6)
    0.263987

    References: Abraham, N., Khan, N. M. (2019). A Novel Focal Tversky Loss Function
    with Improved Attention U-Net for Lesion Segmentation. ISBI.
    """
    loss = "focal_tversky"
    a = check_param(loss, "alpha", alpha, D.BOUNDED_NONNEGATIVE)
    bt = check_param(loss, "beta", beta, D.BOUNDED_NONNEGATIVE)
    g = check_param(loss, "gamma", gamma, D.POSITIVE)
    _check_average(loss, average)
    s = _smooth(loss, smooth)
    m = _prepare(loss, input, target, mode=mode, ignore_index=ignore_index, per_image=per_image,
                 weight=weight, mask=mask, reduction=reduction)
    xp = m.xp

    def per_class(i, fp, fn):
        base = _tversky_loss(xp, i, fp, fn, a, bt, s)
        # below _tiny the base counts as 0 (the slope gamma * base^(gamma - 1) would overflow
        # float32); NaN is not small: it propagates
        small = base <= _tiny(xp, base.dtype)
        safe = xp.where(small, xp.ones_like(base), base)
        return xp.where(small, xp.zeros_like(base), safe**g)

    return _average(loss, m, _counts(m), per_class, average, reduction)


def _gdl_weights(xp, vol):
    """Sudre's class weights 1 / T_c^2 per sample, (N, C). A class absent from
    the sample (T_c = 0) takes the largest weight of the present classes (as
    MONAI does), so predicting it is penalised; with no class present every
    weight is 1. The weights are then scaled so that sum_c w_c T_c = sum_c T_c
    (the loss is invariant to a common scale but for the smoothing, which
    this puts on the scale of pixel counts, as in dice)."""
    present = vol > 0
    one = xp.ones_like(vol)
    r = 1.0 / xp.where(present, vol, one) ** 2
    rmax = xp.max(xp.where(present, r, xp.zeros_like(r)), axis=1, keepdims=True)
    rmax = xp.where(rmax > 0, rmax, xp.ones_like(rmax))
    r = xp.where(present, r, rmax * one)
    total = xp.sum(vol, axis=1, keepdims=True)
    weighted = xp.sum(r * vol, axis=1, keepdims=True)
    scale = xp.where(total > 0, total / xp.where(weighted > 0, weighted, xp.ones_like(weighted)), xp.ones_like(total))
    return r * scale


@_segmentation_loss(
    "Generalized Dice loss: one Dice score over all classes weighted by 1/volume^2; for highly unbalanced classes.",
    (_MODE, _SMOOTH, _IGNORE, _PER_IMAGE),
    references=(("Sudre, C. H., Li, W., Vercauteren, T., Ourselin, S., Cardoso, M. J. (2017). Generalised Dice "
                "overlap as a deep learning loss function for highly unbalanced segmentations. DLMIA."),),
    param_grid=({"per_image": False}, {"smooth": 0.0}),
    notes="Weights 1/T_c^2 per sample; an absent class takes the largest weight of the present ones (MONAI); "
          "weights scaled so that sum_c w_c T_c = sum_c T_c (puts smooth on the scale of pixel counts). "
          "Binary mode scores background and foreground as two classes (Sudre et al.). "
          "optax.losses.multiclass_generalized_dice_loss computes a different quantity (see dice).",
)
def generalized_dice(input, target, *, mode="multiclass", smooth=1.0, ignore_index=None, per_image=True,
                     weight=None, mask=None, reduction="mean"):
    r"""Generalized Dice loss (Sudre et al. 2017) on logits: one score over
    all classes, each weighted by its inverse squared volume.

    .. math::
        \ell = 1 - \frac{2 \sum_c w_c I_c + s}{\sum_c w_c (P_c + T_c) + s}
             = \frac{\sum_c w_c (FP_c + FN_c)}{\sum_c w_c (2 I_c + FP_c + FN_c) + s},
        \qquad w_c \propto \frac{1}{T_c^2}

    per sample (or per batch, ``per_image=False``), :math:`T_c` the class's
    volume in the target over the pixels not ignored. **Absent classes**
    (:math:`T_c = 0`) take the largest weight among the present classes (as
    MONAI's ``GeneralizedDiceLoss``), so predicting an absent class is
    penalised; with no class present every weight is 1. **Scale:** the
    weights are normalised so that :math:`\sum_c w_c T_c = \sum_c T_c`,
    which leaves Sudre's unsmoothed loss unchanged and puts ``smooth`` on the
    scale of pixel counts as in ``dice`` (MONAI's unnormalised weights make
    the smoothing dominate); with equal class volumes the loss is
    micro-averaged ``dice``.

    The class weighting is the averaging, so there is no ``average``
    parameter: one value per sample. **Binary mode** scores the background
    (:math:`1 - p`, :math:`1 - t`) and the foreground as two classes, as
    Sudre et al. do; with one class the weights would cancel into ``dice``.

    ``optax.losses.multiclass_generalized_dice_loss`` computes something else
    (per-class Dice losses weighted by normalised inverse squared batch
    volumes, then averaged; see ``dice``), so it is not a peer.

    Args:
        input, target, mode, smooth, ignore_index, per_image: as in ``dice``.
        weight, mask: shape (N,) (one value per sample).
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    >>> import numpy as np, losskit
    >>> logits = np.array([[[3.0, 3.0, 3.0, -3.0], [-3.0, -3.0, -3.0, 3.0]]])
    >>> round(float(losskit.generalized_dice(logits, np.array([[0, 0, 0, 1]]))), 6)
    0.003658

    References: Sudre, C. H., Li, W., Vercauteren, T., Ourselin, S., Cardoso, M. J.
    (2017). Generalised Dice overlap as a deep learning loss function for highly
    unbalanced segmentations. DLMIA.
    """
    loss = "generalized_dice"
    s = _smooth(loss, smooth)
    m = _prepare(loss, input, target, mode=mode, ignore_index=ignore_index, per_image=per_image,
                 weight=weight, mask=mask, reduction=reduction)
    xp = m.xp
    inter, fp, fn = _counts(m)
    vol = xp.sum(m.t, axis=2)  # T_c, from the target alone (m.t is 0 where ignored): no gradient
    if m.mode == "binary":  # background as a second class: its I is the true negatives
        _, q = _probabilities(m)
        background = 1.0 - m.t
        if m.valid is not None:
            background = xp.where(m.valid, background, xp.zeros_like(background))
        tn = xp.sum(q * background, axis=2)
        inter, fp, fn = xp.concat([tn, inter], axis=1), xp.concat([fn, fp], axis=1), xp.concat([fp, fn], axis=1)
        vol = xp.concat([xp.sum(background, axis=2), vol], axis=1)
    w = _gdl_weights(xp, vol)
    num = xp.sum(w * (fp + fn), axis=1)
    den = xp.sum(w * (2.0 * inter + fp + fn), axis=1) + max(s, _tiny(xp, num.dtype))
    values = num / den
    cvalid = m.class_valid()
    valid = None if cvalid is None else xp.any(cvalid, axis=1)
    b = m.batch(loss, (m.n,), _what(m, "one value per sample"))
    return reduce(b, values, reduction, valid=valid)


@_segmentation_loss(
    "Dice loss plus cross-entropy per sample (weighted sum); overlap plus a per-pixel gradient (nnU-Net, MONAI DiceCE).",
    (_MODE, Param("dice_weight", D.BOUNDED_NONNEGATIVE, "weight of the Dice term"),
     Param("ce_weight", D.BOUNDED_NONNEGATIVE, "weight of the cross-entropy term"),
     Param("average", ("macro", "micro"), "class averaging of the Dice term", kind="choice"),
     _SMOOTH, _IGNORE, _PER_IMAGE),
    aliases=("dice_ce",),
    references=(("Isensee, F. et al. (2021). nnU-Net: a self-configuring method for deep learning-based biomedical "
                "image segmentation. Nature Methods 18."),),
    param_grid=({"average": "micro"}, {"dice_weight": 0.0}, {"ce_weight": 0.0}, {"per_image": False}),
    notes="Cross-entropy is averaged over each sample's pixels (softmax CE in multiclass mode, binary CE with "
          "logits over pixels and channels otherwise), then over samples; MONAI's DiceCELoss averages CE over "
          "the batch's pixels.",
)
def dice_cross_entropy(input, target, *, mode="multiclass", dice_weight=1.0, ce_weight=1.0, average="macro",
                       smooth=1.0, ignore_index=None, per_image=True, weight=None, mask=None, reduction="mean"):
    r"""Dice plus cross-entropy, per sample:

    .. math::
        \ell = w_d\, \mathrm{dice} + w_{ce}\, \mathrm{CE},
        \qquad w_d = \mathrm{dice\_weight},\quad w_{ce} = \mathrm{ce\_weight}

    ``dice`` is the loss of ``dice`` (same ``mode``, ``average`` — ``"macro"``
    or ``"micro"`` —, ``smooth``); CE is the sample's mean over its pixels not
    ignored of the softmax cross-entropy (multiclass) or of the binary
    cross-entropy with logits, averaged over pixels and channels (binary,
    multilabel). The Dice term follows overlap, the CE term gives every pixel
    a gradient (MONAI's ``DiceCELoss``, nnU-Net). Unlike MONAI, whose CE is
    the mean over every pixel of the batch, CE is averaged per sample, so
    samples count equally (the same when they have equally many pixels).

    Args:
        dice_weight, ce_weight: the two terms' weights, >= 0.
        average: ``"macro"`` or ``"micro"`` (the Dice term; CE has no classes to keep apart).
        input, target, mode, smooth, ignore_index, per_image, weight, mask, reduction:
            as in ``dice``.

    >>> import numpy as np, losskit
    >>> logits = np.array([[[4.0, -4.0], [-4.0, 4.0]]])
    >>> round(float(losskit.dice_cross_entropy(logits, np.array([[0, 1]]))), 6)
    0.000559

    References: Isensee, F. et al. (2021). nnU-Net: a self-configuring method for deep
    learning-based biomedical image segmentation. Nature Methods 18.
    """
    loss = "dice_cross_entropy"
    wd = check_param(loss, "dice_weight", dice_weight, D.BOUNDED_NONNEGATIVE)
    wc = check_param(loss, "ce_weight", ce_weight, D.BOUNDED_NONNEGATIVE)
    _check_average(loss, average, ("macro", "micro"))
    s = _smooth(loss, smooth)
    m = _prepare(loss, input, target, mode=mode, ignore_index=ignore_index, per_image=per_image,
                 weight=weight, mask=mask, reduction=reduction)
    xp = m.xp
    overlap, _ = _over_classes(m, _counts(m), lambda i, fp, fn: _tversky_loss(xp, i, fp, fn, 0.5, 0.5, 0.5 * s),
                               average)
    z, t = m.z, m.t
    if m.mode == "multiclass":
        logp = log_softmax(xp, z, axis=1)
        terms = xp.sum(xp.where(t > 0.5, -logp, xp.zeros_like(logp)), axis=1)  # (N, S)
        valid = None if m.valid is None else m.valid[:, 0, :]
    else:
        terms = xp.where(t > 0.5, softplus(xp, -z), softplus(xp, z))  # (N, C, S)
        valid = m.valid
    k = math.prod(terms.shape[1:])
    if valid is None:
        ce = xp.sum(xp.reshape(terms, (m.n, k)), axis=1) / max(k, 1)
        sample_valid = None
    else:
        terms = xp.where(valid, terms, xp.zeros_like(terms))
        count = xp.sum(xp.reshape(xp.astype(valid, z.dtype), (m.n, k)), axis=1)
        ce = divide_or_zero(xp, xp.sum(xp.reshape(terms, (m.n, k)), axis=1), count)
        sample_valid = count > 0
    values = wd * overlap + wc * ce
    b = m.batch(loss, (m.n,), _what(m, "one value per sample"))
    return reduce(b, values, reduction, valid=sample_valid)


# -- Lovász losses ----------------------------------------------------------------------


def _lovasz(xp, errors, fg, valid):
    r"""The Lovász extension of the Jaccard loss, one value per row of the
    (R, S) ``errors`` (>= 0 where they count), ``fg`` the 0/1 ground truth,
    ``valid`` booleans or None. Errors are sorted in decreasing order; the
    extension is :math:`\sum_k e_{(k)} (J(S_k) - J(S_{k-1}))` with :math:`S_k`
    the k largest errors and :math:`J(S) = 1 - |G \setminus S| / |G \cup S|`
    (:math:`J(\emptyset) = 0`). Ignored pixels sort last and add nothing."""
    r, s = errors.shape
    if s == 0:
        return xp.sum(errors, axis=1)
    key = errors if valid is None else xp.where(valid, errors, xp.full_like(errors, -math.inf))
    order = xp.argsort(key, axis=1, descending=True, stable=True)
    offsets = xp.reshape(xp.arange(r, dtype=order.dtype, device=array_device(order)) * s, (r, 1))
    flat = xp.reshape(order + offsets, (r * s,))

    def gather(a):
        return xp.reshape(xp.take(xp.reshape(a, (r * s,)), flat, axis=0), (r, s))

    e = gather(errors)
    g = gather(fg)
    v = xp.ones_like(g) if valid is None else gather(xp.astype(valid, fg.dtype))
    if valid is not None:
        e = xp.where(v > 0, e, xp.zeros_like(e))
    gts = xp.sum(g, axis=1, keepdims=True)
    inter = gts - xp.cumulative_sum(g, axis=1)
    union = gts + xp.cumulative_sum(v - g, axis=1)
    jac = 1.0 - divide_or_zero(xp, inter, union)
    jac = xp.where(union > 0, jac, xp.zeros_like(jac))
    previous = xp.concat([xp.zeros_like(jac[:, :1]), jac[:, :-1]], axis=1)
    return xp.sum(e * (jac - previous), axis=1)


@_segmentation_loss(
    "Lovász hinge: the Lovász extension of the Jaccard loss at the hinge errors; a convex surrogate of 1 - IoU (binary).",
    (_IGNORE, _PER_IMAGE),
    convex=True,
    example=_binary_example,
    target_domain=D.BINARY,
    references=_REF_LOVASZ,
    param_grid=({"per_image": False},),
    notes="Binary: logits (N, ...) and 0/1 targets of that shape. Piecewise linear, convex in the logits. An "
          "empty target makes it the largest hinge error.",
)
def lovasz_hinge(input, target, *, ignore_index=None, per_image=True, weight=None, mask=None, reduction="mean"):
    r"""Lovász hinge loss (Berman et al. 2018) for binary segmentation, on logits.

    With signs :math:`\sigma_i = 2 t_i - 1` and hinge errors
    :math:`m_i = \max(0, 1 - \sigma_i x_i)`, the loss is the Lovász
    extension of the Jaccard loss :math:`\Delta_J` evaluated at :math:`m`:

    .. math::
        \ell = \sum_{k} m_{\pi_k}\, g_k, \qquad g_k = \Delta_J(\{\pi_1..\pi_k\}) - \Delta_J(\{\pi_1..\pi_{k-1}\})

    with :math:`\pi` sorting the errors in decreasing order and
    :math:`\Delta_J(S) = 1 - |G \setminus S| / |G \cup S|` for the set
    :math:`S` of mispredicted pixels and the ground truth :math:`G`. A convex,
    piecewise-linear surrogate of :math:`1 - \mathrm{IoU}` of the foreground;
    its gradient flows through the sorted errors (the sort itself is
    constant). An empty target makes it the largest hinge error (any false
    positive costs IoU 0); a perfect margin gives 0.

    ``input`` and ``target`` as in ``dice``'s binary mode: logits
    (N, d1, ...) and 0/1 of the same shape. ``per_image=True`` (default, as
    in Berman's ``lovasz_hinge``) scores each sample; ``False`` the batch as
    one image. Ignored pixels are dropped, as in the reference code; a sample
    with none left does not count in the ``"mean"`` (the reference code adds
    a 0 for it).

    Args:
        input: logits (N, d1, ...).
        target: 0/1 labels of ``input``'s shape (integer when ``ignore_index`` is set).
        ignore_index, per_image, weight, mask, reduction: as in ``dice`` (shape (N,) or (1,)).

    >>> import numpy as np, losskit
    >>> x = np.array([[3.0, -2.0, 0.5]]); y = np.array([[1, 0, 0]])
    >>> float(losskit.lovasz_hinge(x, y))  # hinge errors 0, 0, 1.5; one false positive: Jaccard 1/2
    0.75

    References: Berman, M., Rannen Triki, A., Blaschko, M. B. (2018). The Lovász-Softmax
    loss: A tractable surrogate for the optimization of the intersection-over-union
    measure in neural networks. CVPR.
    """
    loss = "lovasz_hinge"
    m = _prepare(loss, input, target, mode="binary", ignore_index=ignore_index, per_image=per_image,
                 weight=weight, mask=mask, reduction=reduction)
    xp = m.xp
    z, t = m.z[:, 0, :], m.t[:, 0, :]
    slack = 1.0 - z * (2.0 * t - 1.0)
    errors = xp.where(slack <= 0, xp.zeros_like(slack), slack)  # NaN propagates
    valid = None if m.valid is None else m.valid[:, 0, :]
    values = _lovasz(xp, errors, t, valid)
    sample_valid = None if valid is None else xp.any(valid, axis=1)
    b = m.batch(loss, (m.n,), _what(m, "one value per sample"))
    return reduce(b, values, reduction, valid=sample_valid)


@_segmentation_loss(
    "Lovász-softmax: the Lovász extension of each class's Jaccard loss at |onehot - softmax|, averaged over classes.",
    (Param("classes", LOVASZ_CLASSES, "average over the classes present in the target, or all",
           kind="choice"), _IGNORE, _PER_IMAGE),
    references=_REF_LOVASZ,
    param_grid=({"classes": "all"}, {"per_image": False}),
    notes="Multiclass: logits (N, C, ...) and class indices (N, ...). Berman's reference takes probabilities "
          "and pools the batch by default; per_image=True here.",
)
def lovasz_softmax(input, target, *, classes="present", ignore_index=None, per_image=True, weight=None, mask=None,
                   reduction="mean"):
    r"""Lovász-softmax loss (Berman et al. 2018) for multiclass segmentation, on logits.

    .. math::
        \ell = \frac{1}{|K|} \sum_{c \in K} \mathrm{Lovasz}_J(m(c)),
        \qquad m_i(c) = |[t_i = c] - p_i(c)|,\quad p = \mathrm{softmax}(x)

    With softmax probabilities :math:`p` and, for each class :math:`c`, the
    errors :math:`m_i(c) = |[t_i = c] - p_i(c)|`, the class's loss is the
    Lovász extension of its Jaccard loss at :math:`m(c)` (see
    ``lovasz_hinge``); the sample's loss averages it over the classes:
    ``classes="present"`` (default) over the classes present in the sample's
    target, ``"all"`` over all C (an absent class then costs its largest
    error, the probability of its most confident false positive).

    ``input`` logits (N, C, d1, ...), ``target`` class indices (N, d1, ...),
    as in ``dice``'s multiclass mode. Berman's ``lovasz_softmax`` takes
    probabilities and pools the batch by default (``per_image=False``); here
    ``per_image=True`` by default, as in every loss of this module. A sample
    with no class present (all pixels ignored) does not count in the
    ``"mean"``.

    Args:
        input: logits (N, C, d1, ...).
        target: class indices (N, d1, ...).
        classes: ``"present"`` or ``"all"``.
        ignore_index, per_image, weight, mask, reduction: as in ``dice`` (shape (N,) or (1,)).

    >>> import numpy as np, losskit
    >>> logits = np.log(np.array([[[0.75, 0.5], [0.25, 0.5]]]))  # p(class 0) = 0.75, 0.5
    >>> float(losskit.lovasz_softmax(logits, np.array([[0, 1]])))
    0.4375

    References: Berman, M., Rannen Triki, A., Blaschko, M. B. (2018). The Lovász-Softmax
    loss: A tractable surrogate for the optimization of the intersection-over-union
    measure in neural networks. CVPR.
    """
    loss = "lovasz_softmax"
    check_choice(loss, "classes", classes, LOVASZ_CLASSES)
    m = _prepare(loss, input, target, mode="multiclass", ignore_index=ignore_index, per_image=per_image,
                 weight=weight, mask=mask, reduction=reduction)
    xp = m.xp
    n, c, s = m.z.shape
    p, q = _probabilities(m)
    errors = xp.where(m.t > 0.5, q, p)  # |t - p| with 1 - p accurate
    valid = None if m.valid is None else xp.broadcast_to(m.valid, (n, c, s))
    per_class = _lovasz(
        xp, xp.reshape(errors, (n * c, s)), xp.reshape(m.t, (n * c, s)),
        None if valid is None else xp.reshape(valid, (n * c, s)),
    )
    per_class = xp.reshape(per_class, (n, c))
    if classes == "present":
        selected = xp.sum(m.t, axis=2) > 0
    else:
        selected = m.class_valid()
    values, sample_valid = masked_mean(xp, per_class, selected)
    b = m.batch(loss, (m.n,), _what(m, "one value per sample"))
    return reduce(b, values, reduction, valid=sample_valid)
