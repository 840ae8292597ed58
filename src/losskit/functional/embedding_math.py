r"""The per-row math of the embedding losses, written once for one process and for many.

Every function here computes the rows of a *block of anchors* against a whole
batch: ``rows`` (n, D) are the anchors, ``every`` (N, D) is the batch they are
compared with, and the anchors are the rows ``offset`` to ``offset + n`` of
that batch. The single-process losses of ``functional/metric.py`` call them
with the batch itself (``rows`` is ``every``, ``offset`` 0: the (N, N)
matrices); the data-parallel losses of ``distributed/`` call them with this
rank's rows against the rows gathered from every rank (an (n, N) block). So
distances, pair masks, hardest-pair mining and the InfoNCE / SupCon / CLIP
terms have one implementation, and a distributed loss equals its
single-process loss because it runs the same code.

Why here: ``distributed/`` sits above ``functional/`` (layers point down), so
the shared code must live in ``functional/`` or below; it is math on embedding
batches, not a primitive of every family (``_array.py``), and it defines no
loss, so it is its own module rather than public helpers of ``metric.py``
(a family module, whose names are losses). The names are public because a
layer above imports them. Everything is array-API code (NumPy, PyTorch, JAX,
array-api-strict), like the rest of ``functional/``.

Conventions: ``present`` is the (N,) boolean of the batch's rows that are in
the batch (the ``mask``; None for all), ``row_labels`` (n,) and ``labels``
(N,) integer labels. Functions returning per-anchor values return
``(values, valid)``: values are 0 where ``valid`` is False (an anchor without
a positive, a negative or another sample), for ``reduce(..., valid=valid)``.
When ``rows is every`` the embeddings are normalised (or their squared norms
summed) once, so the single-process graph is the one of a plain (N, N)
computation.
"""

from __future__ import annotations

import math

from .._array import array_device, array_size, logsumexp, relu, safe_sqrt, stop_gradient, unit_rows
from .._reduce import masked_mean
from .._validate import check_shape, per_sample, structured

__all__ = [
    "DISTANCES",
    "all_triplet_rows",
    "check_rows",
    "clip_rows",
    "contrastive_embeddings_rows",
    "contrastive_pair",
    "cosine_logits",
    "distance_matrix",
    "hardest_triplet_rows",
    "labelled_batch",
    "nt_xent_rows",
    "pair_masks",
    "positives_and_negatives",
    "self_columns",
    "supcon_rows",
]

# The distances of the mined losses (``distance=``), computed by ``distance_matrix``.
DISTANCES = ("euclidean", "squared_euclidean", "cosine")


# -- the checks both sides make ---------------------------------------------------


def check_rows(loss, name, x):
    """Raise unless ``x`` is (N, D): one embedding per row."""
    if x.ndim != 2:
        raise ValueError(
            f"{loss}: {name} must have shape (N, D) (one embedding per row); received shape {tuple(x.shape)}"
        )


def labelled_batch(loss, embeddings, labels, weight, mask, reduction):
    """Validate (N, D) embeddings with (N,) integer labels; returns the
    embeddings, the labels and the per-anchor ``Batch``."""
    xp, arrays, dtype, out_dtype = structured(
        loss, {"embeddings": embeddings, "labels": labels, "weight": weight, "mask": mask},
        reduction=reduction,
        floating=("embeddings",), integral=("labels",),
    )
    x, y = arrays["embeddings"], arrays["labels"]
    check_rows(loss, "embeddings", x)
    check_shape(loss, "labels", y, (x.shape[0],), "one label per embedding")
    batch = per_sample(loss, xp, (x.shape[0],), "one value per embedding", weight=arrays["weight"],
                       mask=arrays["mask"],
                       dtype=dtype, out_dtype=out_dtype)
    return x, y, batch


# -- distances, similarities and masks ----------------------------------------------


def self_columns(xp, n: int, total: int, offset: int, like):
    """(n, total) booleans: entry (i, j) is True where column j is anchor i
    itself (the anchors are the batch's rows ``offset`` to ``offset + n``)."""
    device = array_device(like)
    own = xp.arange(n, device=device) + offset
    return xp.expand_dims(own, axis=1) == xp.expand_dims(xp.arange(total, device=device), axis=0)


def distance_matrix(xp, rows, every, distance: str, own):
    """(n, N) distances from each anchor of ``rows`` to each row of ``every``,
    for a ``distance`` of ``DISTANCES``; ``own`` is ``self_columns``.

    "cosine" is :math:`1 - \\hat x_i \\cdot \\hat x_j`. The Euclidean ones come
    from the Gram form :math:`\\|x_i\\|^2 + \\|x_j\\|^2 - 2\\, x_i \\cdot x_j`
    (O(nN) memory, not the O(nND) of explicit differences), floored at 0
    (cancellation can leave small negatives) and exactly 0 from an anchor to
    itself; "euclidean" takes a safe square root (a zero gradient at 0)."""
    if distance == "cosine":
        u = unit_rows(xp, rows)
        v = u if every is rows else unit_rows(xp, every)
        return 1.0 - xp.matmul(u, xp.matrix_transpose(v))
    norms = xp.sum(rows * rows, axis=-1)
    every_norms = norms if every is rows else xp.sum(every * every, axis=-1)
    sq = (xp.expand_dims(norms, axis=1) + xp.expand_dims(every_norms, axis=0)
          - 2.0 * xp.matmul(rows, xp.matrix_transpose(every)))
    sq = xp.where(xp.logical_or(own, sq < 0), xp.zeros_like(sq), sq)
    return sq if distance == "squared_euclidean" else safe_sqrt(xp, sq)


def cosine_logits(xp, rows, every, temperature):
    """(n, N) cosine similarities of the L2-normalised rows
    (:math:`x / \\max(\\|x\\|, 10^{-12})`) divided by ``temperature``."""
    u = unit_rows(xp, rows)
    v = u if every is rows else unit_rows(xp, every)
    return xp.matmul(u, xp.matrix_transpose(v)) / temperature


def pair_masks(xp, row_labels, labels, own, present=None):
    """(n, N) booleans ``same`` (the labels agree) and ``others`` (another
    sample that is present: not the anchor itself, not masked out)."""
    same = xp.expand_dims(row_labels, axis=1) == xp.expand_dims(labels, axis=0)
    others = xp.logical_not(own)
    if present is not None:
        others = xp.logical_and(others, xp.expand_dims(present, axis=0))
    return same, others


def positives_and_negatives(xp, same, others):
    """The (n, N) positives (same label, another present sample) and
    negatives (another label, present) of each anchor."""
    return xp.logical_and(same, others), xp.logical_and(xp.logical_not(same), others)


def _anchor_block(xp, rows, every, offset, row_labels, labels, present):
    """``self_columns`` and ``pair_masks`` of an anchor block."""
    own = self_columns(xp, rows.shape[0], every.shape[0], offset, every)
    same, others = pair_masks(xp, row_labels, labels, own, present)
    return own, same, others


# -- pair and triplet losses ---------------------------------------------------------


def contrastive_pair(xp, d, same, margin):
    """Hadsell et al.'s pair term :math:`\\tfrac12 d^2` for a similar pair,
    :math:`\\tfrac12 \\max(0, m - d)^2` for a dissimilar one, elementwise."""
    return 0.5 * xp.where(same, d * d, relu(xp, margin - d) ** 2)


def contrastive_embeddings_rows(xp, rows, every, offset, row_labels, labels, present, margin, distance):
    """Per anchor, the mean of ``contrastive_pair`` over the other present
    samples; valid where there is one."""
    own, same, others = _anchor_block(xp, rows, every, offset, row_labels, labels, present)
    d = distance_matrix(xp, rows, every, distance, own)
    values, has_other = masked_mean(xp, contrastive_pair(xp, d, same, margin), others)
    return xp.where(has_other, values, xp.zeros_like(values)), has_other


def _mined(xp, rows, every, offset, row_labels, labels, present, distance):
    own, same, others = _anchor_block(xp, rows, every, offset, row_labels, labels, present)
    return (distance_matrix(xp, rows, every, distance, own), *positives_and_negatives(xp, same, others))


def hardest_triplet_rows(xp, rows, every, offset, row_labels, labels, present, margin, distance):
    """Batch-hard mining: per anchor :math:`\\max(0, \\max_P d - \\min_N d + m)`
    over its positives P and negatives N; valid where both exist."""
    d, positives, negatives = _mined(xp, rows, every, offset, row_labels, labels, present, distance)
    # fillers below / above every distance (constants): never chosen when a real entry exists
    if array_size(d):
        fixed = stop_gradient(xp, d)
        low, high = xp.min(fixed) - 1.0, xp.max(fixed) + 1.0
    else:
        low = high = 0.0
    hardest_positive = xp.max(xp.where(positives, d, xp.zeros_like(d) + low), axis=1)
    hardest_negative = xp.min(xp.where(negatives, d, xp.zeros_like(d) + high), axis=1)
    valid = xp.logical_and(xp.any(positives, axis=1), xp.any(negatives, axis=1))
    values = relu(xp, hardest_positive - hardest_negative + margin)
    return xp.where(valid, values, xp.zeros_like(values)), valid


def all_triplet_rows(xp, rows, every, offset, row_labels, labels, present, margin, distance):
    """Batch-all: per anchor the mean of :math:`\\max(0, d_{ij} - d_{ik} + m)`
    over its valid (positive j, negative k) triplets, an (n, N, N) tensor;
    valid where there is one."""
    d, positives, negatives = _mined(xp, rows, every, offset, row_labels, labels, present, distance)
    # (i, j, k): anchor i, positive j, negative k
    triplets = xp.logical_and(xp.expand_dims(positives, axis=2), xp.expand_dims(negatives, axis=1))
    values = relu(xp, xp.expand_dims(d, axis=2) - xp.expand_dims(d, axis=1) + margin)
    n, total = d.shape
    flat = (n, total * total)
    per_anchor, valid = masked_mean(xp, xp.reshape(values, flat), xp.reshape(triplets, flat))
    return xp.where(valid, per_anchor, xp.zeros_like(per_anchor)), valid


# -- softmax over similarities: SupCon, NT-Xent, CLIP -------------------------------


def supcon_rows(xp, rows, every, offset, row_labels, labels, present, temperature):
    """SupCon's :math:`\\mathcal{L}_{out}` per anchor: minus the mean, over its
    positives, of the log-softmax of its similarities over the other present
    samples; valid where it has a positive."""
    own, same, others = _anchor_block(xp, rows, every, offset, row_labels, labels, present)
    sim = cosine_logits(xp, rows, every, temperature)
    positives = xp.logical_and(same, others)
    # a row with no other sample keeps its own entry, so its log-sum-exp is finite (the anchor does not count)
    alone = xp.logical_not(xp.any(others, axis=1, keepdims=True))
    keep = xp.logical_or(others, xp.logical_and(own, alone))
    lse = logsumexp(xp, xp.where(keep, sim, xp.full_like(sim, -math.inf)), axis=1, keepdims=True)
    mean_log_prob, valid = masked_mean(xp, sim - lse, positives)
    return xp.where(valid, -mean_log_prob, xp.zeros_like(mean_log_prob)), valid


def nt_xent_rows(xp, query_rows, key_rows, queries, keys, offset, present, temperature):
    """Per pair of the block, NT-Xent of two views: the mean of both views'
    cross-entropies over the 2N embeddings ``concat([queries, keys])`` but
    itself. A pair absent from ``present`` is no one's negative; every row
    keeps its partner."""
    n, total = query_rows.shape[0], queries.shape[0]
    z = unit_rows(xp, xp.concat([queries, keys], axis=0))
    same_batch = query_rows is queries and key_rows is keys
    z_rows = z if same_batch else unit_rows(xp, xp.concat([query_rows, key_rows], axis=0))
    sim = xp.matmul(z_rows, xp.matrix_transpose(z)) / temperature  # (2n, 2N)
    positive = xp.sum(z_rows[:n, ...] * z_rows[n:, ...], axis=1) / temperature
    device = array_device(z)
    own = xp.arange(n, device=device) + offset
    columns = xp.expand_dims(xp.arange(2 * total, device=device), axis=0)
    # query i is column offset + i, key i column N + offset + i
    keep = xp.logical_not(xp.expand_dims(xp.concat([own, own + total]), axis=1) == columns)
    if present is not None:
        partner = xp.expand_dims(xp.concat([own + total, own]), axis=1) == columns
        keep = xp.logical_or(xp.logical_and(keep, xp.expand_dims(xp.concat([present, present]), axis=0)), partner)
    lse = logsumexp(xp, xp.where(keep, sim, xp.full_like(sim, -math.inf)), axis=1)
    return 0.5 * ((lse[:n] - positive) + (lse[n:] - positive))


def clip_rows(xp, image_rows, text_rows, images, texts, offset, present, scale):
    """Per pair of the block, CLIP's symmetric loss: half the cross-entropy of
    its image over every present text, half that of its text over every
    present image (its own partner always a candidate), on L2-normalised
    embeddings with logits ``scale`` times the cosines."""
    ui, ut = unit_rows(xp, image_rows), unit_rows(xp, text_rows)
    all_images = ui if images is image_rows else unit_rows(xp, images)
    all_texts = ut if texts is text_rows else unit_rows(xp, texts)
    logits_it = xp.matmul(scale * ui, xp.matrix_transpose(all_texts))  # (n, N): the block's images, every text
    logits_ti = xp.matmul(scale * ut, xp.matrix_transpose(all_images))
    positive = scale * xp.sum(ui * ut, axis=1)
    if present is not None:
        keep = xp.logical_or(xp.expand_dims(present, axis=0),
                             self_columns(xp, ui.shape[0], all_images.shape[0], offset, ui))
        logits_it = xp.where(keep, logits_it, xp.full_like(logits_it, -math.inf))
        logits_ti = xp.where(keep, logits_ti, xp.full_like(logits_ti, -math.inf))
    return 0.5 * ((logsumexp(xp, logits_it, axis=1) - positive) + (logsumexp(xp, logits_ti, axis=1) - positive))
