r"""Contrastive losses whose negatives come from every rank: InfoNCE, CLIP, SupCon.

Each function takes this rank's rows and returns a loss such that, under
``DistributedDataParallel`` (which averages gradients over the W ranks), the
parameters get exactly the gradient of the single-process loss on the
concatenated batch of all ranks: ``losskit.info_nce`` /
``losskit.supervised_contrastive`` on ``torch.cat`` of every rank's rows
(rank 0's first), and for CLIP the symmetric image-text loss defined in
``gathered_clip_loss``. Row counts may differ between ranks, and may be 0 on
some.

Two modes, the same gradients:

* ``local_loss=True`` (default): each rank builds only the similarities of
  its own rows against all rows, a (B_local x B_global) block per view, and
  returns W times its rows' share of the global loss (the mean over *all*
  ranks' rows, with the global denominator). Memory O(B_local B_global).
  The returned values average, over the ranks, to the global loss.
* ``local_loss=False``: each rank computes the whole global loss on the
  gathered batch (the single-process function itself) and returns it.
  Memory O(B_global²) on every rank; simplest to check.

The derivation of the factor W is in ``_shards.py`` and
``docs/distributed.md``. ``reduction="none"`` returns this rank's rows'
values, unscaled: their gradient is the gradient of the sum over ranks of
what each rank computes from them, which DDP then divides by W.

Every rank must call the loss and backpropagate through it (the backward of
the all-gather is a collective), as with DDP.
"""

from __future__ import annotations

import math
import numbers

import torch

from .. import functional as F
from .._array import logsumexp, unit_rows as _unit
from .._reduce import masked_mean as _per_row_mean, reduce
from .._validate import check_bool, check_param, check_shape, per_sample, structured
from ..functional.metric import (
    TEMPERATURE_DOMAIN,
    _check_rows,
    _labelled_batch,
)
from ._shards import Local, Shards, gather_shards

__all__ = ["gathered_clip_loss", "gathered_info_nce", "gathered_supervised_contrastive"]

_NEG_INF = -math.inf


def _candidates(scores, present, drop, keep=None):
    """``scores`` (n, M) with every non-candidate set to -inf: the columns of
    absent rows (``present`` (M,) bool, or None for all present) and the
    entries ``drop`` = (rows, columns) (each row's own column), but never the
    entries ``keep`` (each row's partner, a candidate even when masked out).

    No (n, M) mask is built: a broadcast ``where`` and two indexed writes.
    Without ``present`` the writes go into ``scores`` itself, the output of a
    matmul (whose backward does not need it)."""
    out = scores if present is None else torch.where(present[None, :], scores, torch.full_like(scores, _NEG_INF))
    rows, columns = drop
    out[rows, columns] = _NEG_INF
    if keep is not None and present is not None:
        rows, columns = keep
        out[rows, columns] = scores[rows, columns]
    return out


def _pairs(loss, first_name, second_name, first, second, weight, mask, reduction):
    """Validate two (N, D) arrays whose row i is a positive pair."""
    xp, arrays, dtype, out_dtype = structured(
        loss, {first_name: first, second_name: second, "weight": weight, "mask": mask}, reduction=reduction,
        floating=(first_name, second_name),
    )
    a = arrays[first_name]
    _check_rows(loss, first_name, a)
    check_shape(loss, second_name, arrays[second_name], a.shape, f"the shape of {first_name}")
    batch = per_sample(loss, xp, (a.shape[0],), "one value per pair", weight=arrays["weight"], mask=arrays["mask"],
                       dtype=dtype, out_dtype=dtype)
    return Local(xp, dtype, out_dtype, [first, second], None, batch)


def _empty(sh: Shards, reduction: str):
    """No row on any rank: 0 (or shape (0,)), connected to every input of
    this rank so that each gets a (zero, empty) gradient."""
    zero = sum(0.0 * x.to(sh.local.dtype).sum(dim=1) for x in sh.local.rows)
    return sh.finish(zero, reduction)


# -- InfoNCE / NT-Xent ----------------------------------------------------------


def gathered_info_nce(
    query, key, *, temperature=0.1, group=None, local_loss=True, weight=None, mask=None, reduction="mean"
):
    r"""InfoNCE / NT-Xent (two views) with every rank's pairs as negatives.

    Equals ``losskit.info_nce(Q, K, temperature=..., weight=..., mask=...)``
    (its two-view form, ``negatives=None``) on Q, K, weight, mask
    concatenated over the ranks of ``group`` in rank order: each of the 2N
    global embeddings has its partner as positive and the other 2N - 2 as
    negatives; a masked pair leaves the batch (no one's negative). See the
    module docstring for the two modes and for what each rank returns
    (W times its rows' share of the global mean, ``local_loss=True``).

    Args:
        query, key: (B_local, D), floating; row i of each is a positive pair.
            B_local may differ between ranks (0 allowed); D is the same.
        temperature: :math:`\tau > 0`.
        group: process group (default: the default group).
        local_loss: build only this rank's (2 B_local x 2 N) similarity
            block (True) or the whole (2N x 2N) matrix on every rank (False).
        weight, mask: per pair, (B_local,), given on every rank or on none.
        reduction: "mean", "sum" (both scaled for DDP, see above) or "none"
            (this rank's pairs, (B_local,)).

    Communication: a 7-integer header, one all-gather of the (B, 2D)
    embeddings (plus one of (B, k) metadata when weight or mask is given);
    backward one reduce-scatter of (N, 2D).

    Example (on each rank, inside a DDP training step)::

        loss = gathered_info_nce(model(view1), model(view2), temperature=0.1)
        loss.backward()     # DDP's average gives d(global NT-Xent)/d(parameters)
    """
    loss = "gathered_info_nce"

    def validate():
        check_param(loss, "temperature", temperature, TEMPERATURE_DOMAIN)
        check_bool(loss, "local_loss", local_loss)
        return _pairs(loss, "query", "key", query, key, weight, mask, reduction)

    sh = gather_shards(loss, group, validate, what="query and key")
    tau = float(temperature)
    Q, K = sh.rows
    if not local_loss:
        return sh.full(F.info_nce(Q, K, temperature=tau, weight=sh.weight, mask=sh.mask, reduction=reduction),
                       reduction)
    if sh.total == 0:
        return _empty(sh, reduction)
    xp, dtype = sh.local.xp, sh.local.dtype
    n, total, offset = sh.n, sh.total, sh.offset
    uq, uk = _unit(xp, sh.local.rows[0].to(dtype)), _unit(xp, sh.local.rows[1].to(dtype))
    z = _unit(xp, torch.cat([Q, K]))  # (2N, D): every query, then every key
    # this rank's queries then keys (2n rows) against every query and key (2N columns), 1/tau folded in
    scores = (torch.cat([uq, uk]) / tau) @ z.T
    positive = (uq * uk).sum(dim=1) / tau
    own = torch.arange(n, device=z.device) + offset
    rows = torch.arange(2 * n, device=z.device)
    self_column = torch.cat([own, own + total])  # query i is column offset + i, key i column N + offset + i
    partner_column = torch.cat([own + total, own])
    present = None if sh.mask is None else torch.cat([sh.mask, sh.mask])
    # a row's candidates: every present embedding but itself, and always its partner
    lse = logsumexp(xp, _candidates(scores, present, (rows, self_column), (rows, partner_column)), axis=1)
    values = 0.5 * ((lse[:n] - positive) + (lse[n:] - positive))
    return sh.finish(values, reduction)


# -- CLIP -----------------------------------------------------------------------


def _clip_rows(xp, ui, ut, all_images, all_texts, offset, mask, scale):
    """Per anchor pair (this rank's rows, the global ones starting at
    ``offset``): half image->text plus half text->image cross-entropy over
    every present pair, and always the anchor's own partner."""
    n = ui.shape[0]
    rows = torch.arange(n, device=ui.device)
    partner = (rows, rows + offset)
    logits_it = (scale * ui) @ all_texts.T  # (n, N): this rank's images against every text
    logits_ti = (scale * ut) @ all_images.T
    positive = scale * (ui * ut).sum(dim=1)
    if mask is not None:
        logits_it = _keep_partner(logits_it, mask, partner)
        logits_ti = _keep_partner(logits_ti, mask, partner)
    return 0.5 * ((logsumexp(xp, logits_it, axis=1) - positive) + (logsumexp(xp, logits_ti, axis=1) - positive))


def _keep_partner(scores, present, partner):
    """``scores`` with the columns of absent pairs at -inf, except each row's partner."""
    out = torch.where(present[None, :], scores, torch.full_like(scores, _NEG_INF))
    out[partner] = scores[partner]
    return out


def _check_logit_scale(loss, logit_scale, dtype):
    if isinstance(logit_scale, torch.Tensor):
        if logit_scale.ndim != 0 or not logit_scale.is_floating_point():
            raise ValueError(
                f"{loss}: logit_scale must be a positive number or a 0-d floating tensor; received a tensor of "
                f"shape {tuple(logit_scale.shape)} and dtype {logit_scale.dtype}"
            )
        value = float(logit_scale.detach())
        if not (value > 0 and math.isfinite(value)):
            raise ValueError(f"{loss}: logit_scale must be > 0 and finite; received logit_scale={value!r}")
        return logit_scale.to(dtype)
    if isinstance(logit_scale, bool) or not isinstance(logit_scale, numbers.Real):
        raise TypeError(
            f"{loss}: logit_scale must be a real number or a 0-d tensor; received {type(logit_scale).__name__}"
        )
    return check_param(loss, "logit_scale", logit_scale, TEMPERATURE_DOMAIN)


def gathered_clip_loss(
    image_embeddings, text_embeddings, *, logit_scale=10.0, group=None, local_loss=True, weight=None, mask=None,
    reduction="mean",
):
    r"""CLIP's symmetric image-text contrastive loss with every rank's pairs as negatives.

    With L2-normalised embeddings (:math:`u = x / \max(\|x\|, 10^{-12})`, as
    ``losskit.info_nce``) :math:`\hat\imath_k, \hat t_k` of the N pairs of
    all ranks and the logit scale :math:`s = 1/\tau`:

    .. math::
        \ell_i = \tfrac12 \Big(
            -\log \frac{e^{s\, \hat\imath_i \cdot \hat t_i}}{\sum_j e^{s\, \hat\imath_i \cdot \hat t_j}}
            -\log \frac{e^{s\, \hat\imath_i \cdot \hat t_i}}{\sum_j e^{s\, \hat t_i \cdot \hat\imath_j}}
        \Big)

    (image to text over all texts, text to image over all images; the mean
    over pairs is Radford et al.'s loss, and open_clip's ``ClipLoss``). It
    differs from ``info_nce``'s NT-Xent only in the candidates: a query is
    contrasted with the other modality alone, not also with the other
    images. A masked pair leaves the batch (its image and text are no one's
    negatives); "mean" is :math:`\sum_i w_i \ell_i / \sum_i w_i` over the
    pairs that count.

    Args:
        image_embeddings, text_embeddings: (B_local, D), floating; row i of
            each is a matching pair. B_local may differ between ranks (0
            allowed).
        logit_scale: :math:`s > 0`: a number, or a 0-d tensor to learn it
            (CLIP learns :math:`\log s` and passes ``logit_scale.exp()``; the
            gradient flows into it). Default 10 (:math:`\tau = 0.1`, the
            default temperature of ``info_nce``; CLIP starts at 1/0.07).
        group, local_loss, weight, mask, reduction: as ``gathered_info_nce``;
            the local block is (B_local x N) per direction.

    Example (on each rank)::

        loss = gathered_clip_loss(image_encoder(images), text_encoder(texts),
                                  logit_scale=model.log_scale.exp())
        loss.backward()

    References: Radford et al. (2021), Learning Transferable Visual Models
    From Natural Language Supervision (CLIP), ICML; Jia et al. (2021), ALIGN,
    ICML.
    """
    loss = "gathered_clip_loss"
    scale_holder = {}

    def validate():
        check_bool(loss, "local_loss", local_loss)
        local = _pairs(loss, "image_embeddings", "text_embeddings", image_embeddings, text_embeddings, weight,
                       mask, reduction)
        scale_holder["s"] = _check_logit_scale(loss, logit_scale, local.dtype)
        return local

    sh = gather_shards(loss, group, validate, what="image_embeddings and text_embeddings")
    scale = scale_holder["s"]
    images, texts = sh.rows
    if sh.total == 0:
        return _empty(sh, reduction)
    xp, dtype = sh.local.xp, sh.local.dtype
    all_images, all_texts = _unit(xp, images), _unit(xp, texts)
    if not local_loss:
        values = _clip_rows(xp, all_images, all_texts, all_images, all_texts, 0, sh.mask, scale)
        return sh.full(reduce(sh.global_batch(), values, reduction), reduction)
    ui, ut = _unit(xp, sh.local.rows[0].to(dtype)), _unit(xp, sh.local.rows[1].to(dtype))
    values = _clip_rows(xp, ui, ut, all_images, all_texts, sh.offset, sh.mask, scale)
    return sh.finish(values, reduction)


# -- supervised contrastive ------------------------------------------------------


def same_label_counts(labels, present):
    """(N,) for each row i: the number of rows j != i that are present and
    share i's label. O(N log N), no (N, N) matrix."""
    _, inverse = torch.unique(labels, return_inverse=True)
    per_label = torch.zeros(int(inverse.max()) + 1 if inverse.numel() else 0, dtype=torch.int64,
                            device=labels.device).index_add_(0, inverse, present.to(torch.int64))
    return per_label[inverse] - present.to(torch.int64)


def gathered_supervised_contrastive(
    embeddings, labels, *, temperature=0.1, group=None, local_loss=True, weight=None, mask=None, reduction="mean"
):
    r"""Supervised contrastive loss (SupCon) with every rank's samples as positives and negatives.

    Equals ``losskit.supervised_contrastive(X, Y, temperature=..., weight=...,
    mask=...)`` on the embeddings, labels, weights and mask of all ranks
    concatenated in rank order: for each anchor, the mean over its positives
    (same label, any rank) of the log-probability over all other present
    samples; an anchor without a positive contributes nothing and is not
    counted by "mean" (the count is global). See the module docstring for
    the two modes and the returned value.

    Args:
        embeddings: (B_local, D), floating. B_local may differ between ranks
            (0 allowed).
        labels: (B_local,) integers (magnitude below 2**53).
        temperature: :math:`\tau > 0`.
        group, local_loss, weight, mask, reduction: as ``gathered_info_nce``;
            the local block is (B_local x N).

    Communication: a header, one all-gather of the (B, D) embeddings and
    one of the (B, k) labels (with weight and mask); backward one
    reduce-scatter of (N, D).

    References: Khosla et al. (2020), Supervised Contrastive Learning, NeurIPS.
    """
    loss = "gathered_supervised_contrastive"

    def validate():
        check_param(loss, "temperature", temperature, TEMPERATURE_DOMAIN)
        check_bool(loss, "local_loss", local_loss)
        _, y, batch = _labelled_batch(loss, embeddings, labels, weight, mask, reduction)
        out_dtype, batch.out_dtype = batch.out_dtype, batch.dtype  # the final cast is finish's
        return Local(batch.xp, batch.dtype, out_dtype, [embeddings], y, batch)

    sh = gather_shards(loss, group, validate)
    tau = float(temperature)
    (X,) = sh.rows
    if not local_loss:
        return sh.full(F.supervised_contrastive(X, sh.labels, temperature=tau, weight=sh.weight, mask=sh.mask,
                                                reduction=reduction), reduction)
    if sh.total == 0:
        return _empty(sh, reduction)
    xp, dtype = sh.local.xp, sh.local.dtype
    n, offset = sh.n, sh.offset
    u = _unit(xp, sh.local.rows[0].to(dtype))
    sim = (u / tau) @ _unit(xp, X).T  # (n, N), 1/tau folded in
    present = sh.present()
    same = sh.own(sh.labels)[:, None] == sh.labels[None, :]
    positives = same & present[None, :]
    rows = torch.arange(n, device=sim.device)
    positives[rows, rows + offset] = False
    # a row with no other present sample keeps its own entry, so its log-sum-exp is finite (it does not count)
    alone = (present.sum() - sh.own(present).to(torch.int64)) == 0
    others = _candidates(sim, sh.mask, (rows[~alone], rows[~alone] + offset), (rows[alone], rows[alone] + offset))
    lse = logsumexp(xp, others, axis=1, keepdims=True)
    mean_log_prob, valid = _per_row_mean(xp, others - lse, positives)
    values = torch.where(valid, -mean_log_prob, torch.zeros_like(mean_log_prob))
    valid_global = same_label_counts(sh.labels, present) > 0
    return sh.finish(values, reduction, valid=valid, valid_global=valid_global)
