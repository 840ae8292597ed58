"""Naive float64 NumPy references for the sequence losses (CTC).

``ctc_path_sum`` enumerates every frame path of length T' over the C classes,
collapses it (merge repeats, drop blanks) and adds the probabilities of those
that give the target: exponential in T', for tiny cases only. ``ctc_dp`` is a
plain probability-space forward recursion over the extended labels, one
sequence and one state at a time, for sizes where enumeration is too slow.
No losskit import.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from .reduction import reduce


def collapse(path, blank):
    """The labelling of a frame path: merge adjacent repeats, then drop blanks."""
    out, prev = [], None
    for c in path:
        if c != prev and c != blank:
            out.append(c)
        prev = c
    return out


def ctc_path_sum(log_probs_tc, target, blank):
    """-log of the summed probability of all paths that collapse to ``target``
    (``log_probs_tc`` of shape (T', C), the frames within the input length)."""
    lp = np.asarray(log_probs_tc, dtype=np.float64)
    T, C = lp.shape
    target = [int(c) for c in target]
    terms = []
    for path in itertools.product(range(C), repeat=T):
        if collapse(path, blank) == target:
            terms.append(sum(lp[t, c] for t, c in enumerate(path)))
    finite = [v for v in terms if v > -math.inf]
    if not finite:
        return math.inf
    m = max(finite)
    return -(m + math.log(sum(math.exp(v - m) for v in finite)))


def ctc_dp(log_probs_tc, target, blank):
    """The same quantity by the forward recursion in probability space
    (float64; fine for the moderate sizes the tests use)."""
    p = np.exp(np.asarray(log_probs_tc, dtype=np.float64))
    T = p.shape[0]
    ext = [blank]
    for c in target:
        ext += [int(c), blank]
    L = len(ext)
    alpha = [1.0] + [0.0] * (L - 1)  # a virtual step before the first frame, in state 0
    for t in range(T):
        new = [0.0] * L
        for s in range(L):
            total = alpha[s]
            if s >= 1:
                total += alpha[s - 1]
            if s >= 2 and ext[s] != blank and ext[s] != ext[s - 2]:
                total += alpha[s - 2]
            new[s] = total * p[t, ext[s]]
        alpha = new
    prob = alpha[L - 1] + (alpha[L - 2] if L >= 2 else 0.0)
    return -math.log(prob) if prob > 0 else math.inf


def split_targets(targets, target_lengths):
    """Per-sequence label lists from padded (N, S) or concatenated 1-D targets."""
    targets = np.asarray(targets)
    lengths = [int(v) for v in np.asarray(target_lengths).reshape(-1)]
    if targets.ndim == 2:
        return [list(targets[n, : lengths[n]]) for n in range(len(lengths))]
    out, start = [], 0
    for length in lengths:
        out.append(list(targets[start : start + length]))
        start += length
    return out


def ctc(log_probs, targets, input_lengths, target_lengths, *, blank=0, zero_infinity=False, weight=None,
        mask=None, reduction="mean", method="paths"):
    """CTC over a (T, N, C) batch with PyTorch's reductions: 'mean' divides
    each sequence's loss by max(target_length, 1), then takes the weighted mean."""
    lp = np.asarray(log_probs, dtype=np.float64)
    labels = split_targets(targets, target_lengths)
    inputs = [int(v) for v in np.asarray(input_lengths).reshape(-1)]
    one = ctc_path_sum if method == "paths" else ctc_dp
    per = []
    for n, target in enumerate(labels):
        value = one(lp[: inputs[n], n, :], target, blank)
        if zero_infinity and value == math.inf:
            value = 0.0
        if reduction == "mean":
            value = value / max(len(target), 1)
        per.append(value)
    return reduce(np.array(per), reduction, weight, mask)
