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


def reduce(batch: Batch, values, reduction: str, *, valid=None, denominator_weight=None):
    """Reduce per-element ``values`` with the batch's weight and mask.

    ``valid`` removes more elements (``ignore_index``). ``denominator_weight``
    replaces the weight in the mean's denominator only, for losses whose
    values already carry a per-class factor that PyTorch's mean divides by
    (cross-entropy with class weights and label smoothing).
    """
    xp = batch.xp
    keep = batch.mask
    if valid is not None:
        keep = valid if keep is None else xp.logical_and(keep, valid)
    contrib = values
    if batch.weight is not None:
        contrib = xp.where(batch.weight > 0, values * batch.weight, xp.zeros_like(values))
    if keep is not None:
        contrib = xp.where(keep, contrib, xp.zeros_like(contrib))
    if reduction == "none":
        out = contrib
    elif reduction == "sum":
        out = xp.sum(contrib)
    else:
        total = xp.sum(contrib)
        den_weight = batch.weight if denominator_weight is None else denominator_weight
        if den_weight is None and keep is None:
            out = total / max(array_size(values), 1)
        else:
            if den_weight is None:
                den = xp.sum(xp.astype(keep, values.dtype))
            elif keep is None:
                den = xp.sum(den_weight)
            else:
                den = xp.sum(xp.where(keep, den_weight, xp.zeros_like(den_weight)))
            out = total / xp.where(den > 0, den, xp.ones_like(den))
    return batch.out(out)
