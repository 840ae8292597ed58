"""Naive float64 NumPy references for the metric-learning losses.

Written for clarity with Python loops over pairs, triplets and samples; no
losskit import. Every reference returns what the loss returns for the given
``reduction``: per-sample values (0 where a sample is masked out or does not
count), their weighted sum, or the weighted mean over the samples that count
(0 when none does).
"""

from __future__ import annotations

import math

import numpy as np

# -- reduction -----------------------------------------------------------------


def naive_reduce(per, counts, weight, reduction):
    per = np.asarray(per, dtype=np.float64)
    shape = per.shape
    per = per.reshape(-1)
    counts = np.asarray(counts, dtype=bool).reshape(-1)
    w = np.ones(per.size) if weight is None else np.asarray(weight, dtype=np.float64).reshape(-1)
    out = np.zeros(per.size)
    num = den = 0.0
    for i in range(per.size):
        if counts[i]:
            out[i] = w[i] * per[i]
            num += w[i] * per[i]
            den += w[i]
    if reduction == "none":
        return out.reshape(shape)
    if reduction == "sum":
        return num
    return num / den if den > 0 else 0.0


def _present(mask, n):
    return [True] * n if mask is None else [bool(v) for v in np.asarray(mask).reshape(-1)]


# -- distances -----------------------------------------------------------------


def norm2(v):
    return math.sqrt(sum(float(t) * float(t) for t in v))


def cosine(u, v, floor=1e-12):
    """Cosine of L2-normalised vectors, u / max(||u||, floor)."""
    nu, nv = max(norm2(u), floor), max(norm2(v), floor)
    return sum(float(a) * float(b) for a, b in zip(u, v)) / (nu * nv)


def pair_distance(u, v, kind):
    if kind == "cosine":
        return 1.0 - cosine(u, v)
    sq = sum((float(a) - float(b)) ** 2 for a, b in zip(u, v))
    return sq if kind == "squared_euclidean" else math.sqrt(sq)


def p_distance(u, v, p, eps):
    """torch.nn.functional.pairwise_distance: ||u - v + eps||_p."""
    diff = [float(a) - float(b) + eps for a, b in zip(u, v)]
    if p == math.inf:
        return max(abs(t) for t in diff)
    return sum(abs(t) ** p for t in diff) ** (1.0 / p)


def logsumexp(values):
    m = max(values)
    return m + math.log(sum(math.exp(v - m) for v in values))


# -- the losses ----------------------------------------------------------------


def contrastive(distance_, same, *, margin=1.0, weight=None, mask=None, reduction="mean"):
    d = np.asarray(distance_, dtype=np.float64)
    s = np.asarray(same).astype(np.float64)
    per = np.zeros(d.shape)
    for idx in np.ndindex(d.shape):
        if s[idx] == 1:
            per[idx] = 0.5 * d[idx] ** 2
        else:
            per[idx] = 0.5 * max(0.0, margin - d[idx]) ** 2
    counts = np.ones(d.shape, bool) if mask is None else np.asarray(mask)
    return naive_reduce(per, counts, weight, reduction)


def contrastive_embeddings(x, y, *, margin=1.0, distance="euclidean", weight=None, mask=None, reduction="mean"):
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    present = _present(mask, n)
    per, counts = np.zeros(n), np.zeros(n, bool)
    for i in range(n):
        if not present[i]:
            continue
        terms = []
        for j in range(n):
            if j == i or not present[j]:
                continue
            d = pair_distance(x[i], x[j], distance)
            terms.append(0.5 * d * d if y[i] == y[j] else 0.5 * max(0.0, margin - d) ** 2)
        if terms:
            per[i], counts[i] = sum(terms) / len(terms), True
    return naive_reduce(per, counts, weight, reduction)


def triplet_margin(a, p, n, *, margin=1.0, p_norm=2.0, eps=1e-6, swap=False, weight=None, mask=None,
                   reduction="mean", distance_fn=None):
    shape = np.shape(a)[:-1]
    a, p, n = (np.atleast_2d(np.asarray(t, dtype=np.float64)) for t in (a, p, n))
    dist = distance_fn or (lambda u, v: p_distance(u, v, p_norm, eps))
    per = np.zeros(len(a))
    for i in range(len(a)):
        d_ap = dist(a[i], p[i])
        d_an = dist(a[i], n[i])
        if swap:
            d_an = min(d_an, dist(p[i], n[i]))
        per[i] = max(0.0, margin + d_ap - d_an)
    counts = np.ones(len(a), bool) if mask is None else np.asarray(mask).reshape(-1)
    out = naive_reduce(per, counts, weight, reduction)
    return out.reshape(shape) if reduction == "none" else out


def triplet_margin_with_distance(a, p, n, *, distance_fn=None, margin=1.0, swap=False, weight=None, mask=None,
                                 reduction="mean"):
    """``distance_fn`` applied to one pair of rows at a time; None is PyTorch's
    default, pairwise_distance with p=2 and eps=1e-6."""
    return triplet_margin(a, p, n, margin=margin, swap=swap, weight=weight, mask=mask, reduction=reduction,
                          distance_fn=distance_fn)


def batch_hard_triplet(x, y, *, margin=1.0, distance="euclidean", weight=None, mask=None, reduction="mean"):
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    present = _present(mask, n)
    per, counts = np.zeros(n), np.zeros(n, bool)
    for i in range(n):
        if not present[i]:
            continue
        pos = [pair_distance(x[i], x[j], distance) for j in range(n)
               if j != i and present[j] and y[j] == y[i]]
        neg = [pair_distance(x[i], x[k], distance) for k in range(n) if present[k] and y[k] != y[i]]
        if pos and neg:
            per[i], counts[i] = max(0.0, max(pos) - min(neg) + margin), True
    return naive_reduce(per, counts, weight, reduction)


def batch_all_triplet(x, y, *, margin=1.0, distance="euclidean", weight=None, mask=None, reduction="mean"):
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    present = _present(mask, n)
    per, counts = np.zeros(n), np.zeros(n, bool)
    for i in range(n):
        if not present[i]:
            continue
        losses = []
        for j in range(n):
            if j == i or not present[j] or y[j] != y[i]:
                continue
            for k in range(n):
                if not present[k] or y[k] == y[i]:
                    continue
                losses.append(max(0.0, pair_distance(x[i], x[j], distance) - pair_distance(x[i], x[k], distance) + margin))
        if losses:
            per[i], counts[i] = sum(losses) / len(losses), True
    return naive_reduce(per, counts, weight, reduction)


def cosine_embedding(x1, x2, t, *, margin=0.0, weight=None, mask=None, reduction="mean"):
    x1, x2 = np.atleast_2d(np.asarray(x1, dtype=np.float64)), np.atleast_2d(np.asarray(x2, dtype=np.float64))
    t = np.asarray(t, dtype=np.float64).reshape(-1)
    per = np.zeros(len(x1))
    for i in range(len(x1)):
        dot = sum(a * b for a, b in zip(x1[i], x2[i]))
        c = dot / math.sqrt((sum(a * a for a in x1[i]) + 1e-12) * (sum(b * b for b in x2[i]) + 1e-12))
        per[i] = 1.0 - c if t[i] == 1 else max(0.0, c - margin)
    counts = np.ones(len(x1), bool) if mask is None else np.asarray(mask).reshape(-1)
    out = naive_reduce(per, counts, weight, reduction)
    return out.reshape(np.shape(t)) if reduction == "none" else out


def margin_ranking(x1, x2, t, *, margin=0.0, weight=None, mask=None, reduction="mean"):
    x1, x2, t = (np.asarray(v, dtype=np.float64) for v in (x1, x2, t))
    per = np.zeros(x1.shape)
    for idx in np.ndindex(x1.shape):
        per[idx] = max(0.0, -t[idx] * (x1[idx] - x2[idx]) + margin)
    counts = np.ones(x1.shape, bool) if mask is None else np.asarray(mask)
    return naive_reduce(per, counts, weight, reduction)


def info_nce(q, k, *, temperature=0.1, negatives=None, weight=None, mask=None, reduction="mean"):
    q, k = np.asarray(q, dtype=np.float64), np.asarray(k, dtype=np.float64)
    n = len(q)
    present = _present(mask, n)
    per = np.zeros(n)
    if negatives is not None:
        neg = np.asarray(negatives, dtype=np.float64)
        for i in range(n):
            rows = neg[i] if neg.ndim == 3 else neg
            logits = [cosine(q[i], k[i]) / temperature] + [cosine(q[i], r) / temperature for r in rows]
            per[i] = logsumexp(logits) - logits[0]
        return naive_reduce(per, present, weight, reduction)
    views = [q[i] for i in range(n)] + [k[i] for i in range(n)]
    owner = list(range(n)) + list(range(n))
    one_view = np.zeros(2 * n)
    for a in range(2 * n):
        partner = (a + n) % (2 * n)
        logits = []
        for b in range(2 * n):
            if b != a and (present[owner[b]] or b == partner):
                logits.append(cosine(views[a], views[b]) / temperature)
        one_view[a] = logsumexp(logits) - cosine(views[a], views[partner]) / temperature
    for i in range(n):
        per[i] = 0.5 * (one_view[i] + one_view[i + n])
    return naive_reduce(per, present, weight, reduction)


def supervised_contrastive(x, y, *, temperature=0.1, weight=None, mask=None, reduction="mean"):
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    present = _present(mask, n)
    per, counts = np.zeros(n), np.zeros(n, bool)
    for i in range(n):
        if not present[i]:
            continue
        others = [a for a in range(n) if a != i and present[a]]
        positives = [p for p in others if y[p] == y[i]]
        if not positives:
            continue
        lse = logsumexp([cosine(x[i], x[a]) / temperature for a in others])
        per[i] = -sum(cosine(x[i], x[p]) / temperature - lse for p in positives) / len(positives)
        counts[i] = True
    return naive_reduce(per, counts, weight, reduction)


def center_loss(x, y, centers, *, weight=None, mask=None, reduction="mean"):
    x, c = np.asarray(x, dtype=np.float64), np.asarray(centers, dtype=np.float64)
    per = np.zeros(len(x))
    for i in range(len(x)):
        per[i] = 0.5 * sum((a - b) ** 2 for a, b in zip(x[i], c[y[i]]))
    return naive_reduce(per, _present(mask, len(x)), weight, reduction)


def additive_margin_softmax(x, y, centers, *, variant="arcface", margin=None, scale=64.0, easy_margin=False,
                            weight=None, mask=None, reduction="mean"):
    """ArcFace through the angle itself (arccos, then cos(theta + m)), as the
    paper writes it; CosFace as cos(theta) - m."""
    x, c = np.asarray(x, dtype=np.float64), np.asarray(centers, dtype=np.float64)
    if margin is None:
        margin = 0.5 if variant == "arcface" else 0.35
    per = np.zeros(len(x))
    for i in range(len(x)):
        cosines = [cosine(x[i], c[j]) for j in range(len(c))]
        cy = cosines[y[i]]
        if variant == "cosface":
            psi = cy - margin
        else:
            theta = math.acos(min(1.0, max(-1.0, cy)))
            if easy_margin:
                psi = math.cos(theta + margin) if cy > 0 else cy
            elif theta + margin < math.pi:
                psi = math.cos(theta + margin)
            else:
                psi = cy - margin * math.sin(margin)
        logits = [scale * (psi if j == y[i] else cosines[j]) for j in range(len(c))]
        per[i] = logsumexp(logits) - logits[y[i]]
    return naive_reduce(per, _present(mask, len(x)), weight, reduction)


REFERENCES = {
    "contrastive": contrastive,
    "contrastive_embeddings": contrastive_embeddings,
    "triplet_margin": triplet_margin,
    "triplet_margin_with_distance": triplet_margin_with_distance,
    "batch_hard_triplet": batch_hard_triplet,
    "batch_all_triplet": batch_all_triplet,
    "cosine_embedding": cosine_embedding,
    "margin_ranking": margin_ranking,
    "info_nce": info_nce,
    "supervised_contrastive": supervised_contrastive,
    "center_loss": center_loss,
    "additive_margin_softmax": additive_margin_softmax,
}
