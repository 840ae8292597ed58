"""The naive reference reduction shared by every reference file."""

import numpy as np


def reduce(values, reduction, weight=None, mask=None):
    """'none' -> w * l (0 where masked); 'sum'; 'mean' = sum(w l m) / sum(w m), 0 if nothing counts."""
    values = np.asarray(values, dtype=np.float64)
    w = np.ones(values.shape) if weight is None else np.asarray(weight, dtype=np.float64)
    m = np.ones(values.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    contrib = np.zeros(values.shape)
    num = den = 0.0
    for i in np.ndindex(values.shape):
        if m[i]:
            contrib[i] = w[i] * values[i]
            num += w[i] * values[i]
            den += w[i]
    if reduction == "none":
        return contrib
    if reduction == "sum":
        return num
    return num / den if den > 0 else 0.0
