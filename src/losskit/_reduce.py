"""The one reduction.

``"none"`` returns ``weight * loss`` per element (0 where masked or ignored),
``"sum"`` their sum, ``"mean"`` the weighted mean over the elements that count,
``sum(w * l * m) / sum(w * m)``. A zero weight contributes 0 even where the loss
is infinite (CTC's impossible alignments), where ``0 * inf`` would be NaN. A batch where nothing counts reduces to 0 with a
zero gradient, never NaN: excluded elements are removed with ``where`` (not
multiplied by 0, which would turn an inf into NaN).
"""

from __future__ import annotations

from ._validate import Batch
from ._array import array_size


def reduce(batch: Batch, values, reduction: str, *, valid=None, class_weight=None, denominator_class_weight=None):
    """Reduce per-element ``values`` with the batch's weight and mask.

    ``valid`` removes more elements (``ignore_index``). ``class_weight`` is
    each element's class weight (``class_weight[target]``): it multiplies the
    batch's weight in the numerator and the denominator. ``denominator_class_weight``
    multiplies it in the mean's denominator only, for losses whose values
    already carry a per-class factor that PyTorch's mean divides by
    (cross-entropy with class weights and label smoothing). The batch itself
    is never changed.
    """
    xp = batch.xp
    keep = batch.mask
    if valid is not None:
        keep = valid if keep is None else xp.logical_and(keep, valid)
    weight = _times(batch.weight, class_weight)
    contrib = values
    if weight is not None:
        contrib = xp.where(weight > 0, values * weight, xp.zeros_like(values))
    if keep is not None:
        contrib = xp.where(keep, contrib, xp.zeros_like(contrib))
    if reduction == "none":
        out = contrib
    elif reduction == "sum":
        out = xp.sum(contrib)
    else:
        den_weight = weight if denominator_class_weight is None else _times(weight, denominator_class_weight)
        out = divide_by_denominator(xp, xp.sum(contrib), denominator(xp, values, weight=den_weight, keep=keep))
    return batch.out(out)


def _times(weight, factor):
    """``weight * factor`` where either may be None (meaning 1)."""
    if factor is None:
        return weight
    return factor if weight is None else weight * factor


def denominator(xp, values, *, weight=None, keep=None):
    """The denominator of ``"mean"`` over the elements of ``values``:
    ``sum(weight * keep)``, ``sum(keep)`` without a weight, ``sum(weight)``
    without ``keep``, and the number of elements (a Python int) with neither.
    The one definition of it: the fused kernels and the blockwise
    cross-entropy call it too."""
    if weight is None and keep is None:
        return array_size(values)
    if weight is None:
        return xp.sum(xp.astype(keep, values.dtype))
    if keep is None:
        return xp.sum(weight)
    return xp.sum(xp.where(keep, weight, xp.zeros_like(weight)))


def divide_by_denominator(xp, total, den):
    """``total / den``, with a denominator of 0 (nothing counts) giving 0 and a
    zero gradient rather than NaN."""
    if isinstance(den, int):
        return total / max(den, 1)
    return total / xp.where(den > 0, den, xp.ones_like(den))


def masked_mean(xp, values, keep, *, axis: int = 1):
    """Mean of ``values`` along ``axis`` over the True entries of ``keep``
    (all entries when ``keep`` is None), 0 where none count, and which slices
    have any (None when ``keep`` is None): the inner means of a loss (over
    the classes of a sample, the pairs of an anchor)."""
    if keep is None:
        return xp.mean(values, axis=axis), None
    count = xp.sum(xp.astype(keep, values.dtype), axis=axis)
    total = xp.sum(xp.where(keep, values, xp.zeros_like(values)), axis=axis)
    return divide_by_denominator(xp, total, count), count > 0
