"""Naive float64 NumPy references for the segmentation losses.

Written for clarity: pixel by pixel with Python loops, scores in their
textbook form ``1 - score``, the Lovász extension from its definition (the
integral over thresholds of the set function, and, for tiny inputs, the
maximum over all orderings). No losskit import.

Layout: ``x`` logits, ``y`` targets as the functions take them (see
src/losskit/functional/segmentation.py). ``unreduced`` functions return
``(values, counts)``: the per-sample (or per sample-class) losses and
whether each counts (has a pixel not ignored).
"""

from __future__ import annotations

import itertools
import math

import numpy as np

# -- pixels ----------------------------------------------------------------------


def sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v)) if v >= 0 else math.exp(v) / (1.0 + math.exp(v))


def softmax(row) -> list:
    m = max(row)
    e = [math.exp(v - m) for v in row]
    total = sum(e)
    return [v / total for v in e]


def samples(x, y, mode, ignore_index=None, per_image=True):
    """One entry per sample: a list over classes of the (p, t) pairs of the
    pixels not ignored, and a list over classes of the (logit, t) pairs (for
    the binary cross-entropy). With ``per_image=False`` one entry, the
    whole batch."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y)
    out = []
    for n in range(x.shape[0]):
        if mode == "multiclass":
            C = x.shape[1]
            xs = x[n].reshape(C, -1)
            ys = y[n].reshape(-1)
            probs = [[] for _ in range(C)]
            logits = [[] for _ in range(C)]
            for i in range(xs.shape[1]):
                if ignore_index is not None and ys[i] == ignore_index:
                    continue
                p = softmax(list(xs[:, i]))
                for c in range(C):
                    t = 1.0 if ys[i] == c else 0.0
                    probs[c].append((p[c], t))
                    logits[c].append((xs[c, i], t))
        else:
            xs = x[n].reshape(1, -1) if mode == "binary" else x[n].reshape(x.shape[1], -1)
            ys = y[n].reshape(xs.shape)
            probs = [[] for _ in range(xs.shape[0])]
            logits = [[] for _ in range(xs.shape[0])]
            for c in range(xs.shape[0]):
                for i in range(xs.shape[1]):
                    if ignore_index is not None and ys[c, i] == ignore_index:
                        continue
                    t = float(ys[c, i])
                    probs[c].append((sigmoid(xs[c, i]), t))
                    logits[c].append((xs[c, i], t))
        out.append((probs, logits))
    if per_image or not out:
        return out
    C = len(out[0][0])
    probs = [[pair for s in out for pair in s[0][c]] for c in range(C)]
    logits = [[pair for s in out for pair in s[1][c]] for c in range(C)]
    return [(probs, logits)]


def counts(pairs):
    """I = sum p t, P = sum p, T = sum t."""
    inter = sum(p * t for p, t in pairs)
    return inter, sum(p for p, _ in pairs), sum(t for _, t in pairs)


# -- scores ----------------------------------------------------------------------


def _one_minus(num, den):
    return 0.0 if den == 0 else 1.0 - num / den


def dice_of(I, P, T, s):
    return _one_minus(2 * I + s, P + T + s)


def jaccard_of(I, P, T, s):
    return _one_minus(I + s, P + T - I + s)


def tversky_of(I, P, T, s, alpha, beta):
    return _one_minus(I + s, I + alpha * (P - I) + beta * (T - I) + s)


def _overlap(x, y, score, *, mode, average, ignore_index, per_image):
    rows, flags = [], []
    for probs, _ in samples(x, y, mode, ignore_index, per_image):
        per_class = [score(*counts(pairs)) for pairs in probs]
        present = [len(pairs) > 0 for pairs in probs]
        if average == "none":
            rows.append(per_class)
            flags.append(present)
        elif average == "micro":
            I = sum(counts(p)[0] for p in probs)
            P = sum(counts(p)[1] for p in probs)
            T = sum(counts(p)[2] for p in probs)
            rows.append(score(I, P, T))
            flags.append(any(present))
        else:
            kept = [v for v, ok in zip(per_class, present) if ok]
            rows.append(sum(kept) / len(kept) if kept else 0.0)
            flags.append(bool(kept))
    return np.array(rows, dtype=np.float64), np.array(flags, dtype=bool)


def dice(x, y, *, mode="multiclass", average="macro", smooth=1.0, ignore_index=None, per_image=True):
    return _overlap(x, y, lambda I, P, T: dice_of(I, P, T, smooth), mode=mode, average=average,
                    ignore_index=ignore_index, per_image=per_image)


def jaccard(x, y, *, mode="multiclass", average="macro", smooth=1.0, ignore_index=None, per_image=True):
    return _overlap(x, y, lambda I, P, T: jaccard_of(I, P, T, smooth), mode=mode, average=average,
                    ignore_index=ignore_index, per_image=per_image)


def tversky(x, y, *, mode="multiclass", alpha=0.3, beta=0.7, average="macro", smooth=1.0, ignore_index=None,
            per_image=True):
    return _overlap(x, y, lambda I, P, T: tversky_of(I, P, T, smooth, alpha, beta), mode=mode, average=average,
                    ignore_index=ignore_index, per_image=per_image)


def focal_tversky(x, y, *, mode="multiclass", alpha=0.3, beta=0.7, gamma=0.75, average="macro", smooth=1.0,
                  ignore_index=None, per_image=True):
    return _overlap(x, y, lambda I, P, T: max(tversky_of(I, P, T, smooth, alpha, beta), 0.0) ** gamma, mode=mode,
                    average=average, ignore_index=ignore_index, per_image=per_image)


def generalized_dice(x, y, *, mode="multiclass", smooth=1.0, ignore_index=None, per_image=True):
    """Sudre et al. with the documented choices: w_c = 1 / T_c^2; absent
    classes take the largest present weight (1 when none is present); the
    weights scaled so that sum w_c T_c = sum T_c; binary mode adds the
    background as a class."""
    rows, flags = [], []
    for probs, _ in samples(x, y, mode, ignore_index, per_image):
        if mode == "binary":
            probs = [[(1.0 - p, 1.0 - t) for p, t in probs[0]], probs[0]]
        stats = [counts(pairs) for pairs in probs]
        vols = [T for _, _, T in stats]
        present = [1.0 / T**2 for T in vols if T > 0]
        fill = max(present) if present else 1.0
        raw = [1.0 / T**2 if T > 0 else fill for T in vols]
        total, weighted = sum(vols), sum(r * T for r, T in zip(raw, vols))
        w = [r * total / weighted for r in raw] if total > 0 else raw
        num = 2 * sum(wc * I for wc, (I, _, _) in zip(w, stats)) + smooth
        den = sum(wc * (P + T) for wc, (_, P, T) in zip(w, stats)) + smooth
        rows.append(_one_minus(num, den))
        flags.append(any(len(pairs) > 0 for pairs in probs))
    return np.array(rows, dtype=np.float64), np.array(flags, dtype=bool)


def _bce(v: float, t: float) -> float:
    """-(t log sigmoid(v) + (1 - t) log(1 - sigmoid(v)))."""
    softplus = lambda a: max(a, 0.0) + math.log1p(math.exp(-abs(a)))
    return t * softplus(-v) + (1.0 - t) * softplus(v)


def dice_cross_entropy(x, y, *, mode="multiclass", dice_weight=1.0, ce_weight=1.0, average="macro", smooth=1.0,
                       ignore_index=None, per_image=True):
    d, flags = dice(x, y, mode=mode, average=average, smooth=smooth, ignore_index=ignore_index, per_image=per_image)
    ce = []
    for probs, logits in samples(x, y, mode, ignore_index, per_image):
        if mode == "multiclass":  # -log p_y per pixel
            terms = [-math.log(p) for pairs in probs for p, t in pairs if t == 1.0]
        else:
            terms = [_bce(v, t) for pairs in logits for v, t in pairs]
        ce.append(sum(terms) / len(terms) if terms else 0.0)
    return dice_weight * d + ce_weight * np.array(ce), flags


# -- Lovász ---------------------------------------------------------------------------


def jaccard_set_loss(mispredicted: set, truth: set) -> float:
    """1 - |G minus S| / |G union S|, 0 for an empty union."""
    union = truth | mispredicted
    return 0.0 if not union else 1.0 - len(truth - mispredicted) / len(union)


def lovasz_extension(m, truth) -> float:
    """The Lovász extension of the Jaccard loss at m >= 0, from its definition
    as the integral over thresholds: int_0^inf F({i : m_i >= tau}) d tau,
    a finite sum over the distinct values of m."""
    levels = sorted({v for v in m if v > 0}, reverse=True) + [0.0]
    total = 0.0
    for k in range(len(levels) - 1):
        above = {i for i, v in enumerate(m) if v >= levels[k]}
        total += (levels[k] - levels[k + 1]) * jaccard_set_loss(above, truth)
    return total


def lovasz_by_orderings(m, truth) -> float:
    """For tiny inputs: the Lovász extension of a submodular set function is the
    largest sum_k m_(k) (F(S_k) - F(S_{k-1})) over all orderings (greedy =
    maximum over the base polytope)."""
    best = -math.inf
    for order in itertools.permutations(range(len(m))):
        total, prev, chain = 0.0, 0.0, set()
        for i in order:
            chain.add(i)
            f = jaccard_set_loss(chain, truth)
            total += m[i] * (f - prev)
            prev = f
        best = max(best, total)
    return best if len(m) else 0.0


def lovasz_hinge(x, y, *, ignore_index=None, per_image=True, extension=lovasz_extension):
    rows, flags = [], []
    for _, logits in samples(x, y, "binary", ignore_index, per_image):
        pairs = logits[0]
        m = [max(0.0, 1.0 - v * (2 * t - 1)) for v, t in pairs]
        truth = {i for i, (_, t) in enumerate(pairs) if t == 1.0}
        rows.append(extension(m, truth) if pairs else 0.0)
        flags.append(bool(pairs))
    return np.array(rows, dtype=np.float64), np.array(flags, dtype=bool)


def lovasz_softmax(x, y, *, classes="present", ignore_index=None, per_image=True, extension=lovasz_extension):
    rows, flags = [], []
    for probs, _ in samples(x, y, "multiclass", ignore_index, per_image):
        losses = []
        for pairs in probs:
            truth = {i for i, (_, t) in enumerate(pairs) if t == 1.0}
            if classes == "present" and not truth:
                continue
            if not pairs:
                continue
            losses.append(extension([abs(t - p) for p, t in pairs], truth))
        rows.append(sum(losses) / len(losses) if losses else 0.0)
        flags.append(bool(losses))
    return np.array(rows, dtype=np.float64), np.array(flags, dtype=bool)


REFERENCES = {
    "dice": dice,
    "jaccard": jaccard,
    "tversky": tversky,
    "focal_tversky": focal_tversky,
    "generalized_dice": generalized_dice,
    "dice_cross_entropy": dice_cross_entropy,
    "lovasz_hinge": lovasz_hinge,
    "lovasz_softmax": lovasz_softmax,
}


# -- reduction --------------------------------------------------------------------------


def reduce(values, flags, weight, mask, reduction):
    """none: w l where the value counts (flag and mask), else 0; sum; mean =
    sum(w l) / sum(w) over what counts, 0 when nothing counts."""
    values = np.asarray(values, dtype=np.float64)
    flat_v = values.reshape(-1)
    flat_f = np.asarray(flags).reshape(-1)
    w = np.ones_like(flat_v) if weight is None else np.asarray(weight, dtype=np.float64).reshape(-1)
    k = np.ones(flat_v.shape, dtype=bool) if mask is None else np.asarray(mask).reshape(-1)
    out = np.zeros_like(flat_v)
    num = den = 0.0
    for i in range(flat_v.size):
        if flat_f[i] and k[i]:
            out[i] = w[i] * flat_v[i]
            num += w[i] * flat_v[i]
            den += w[i]
    if reduction == "none":
        return out.reshape(values.shape)
    if reduction == "sum":
        return float(out.sum())
    return num / den if den > 0 else 0.0
