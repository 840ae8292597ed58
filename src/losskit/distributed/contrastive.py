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

The per-row math (the NT-Xent, CLIP and SupCon terms of a block of anchors
against the gathered batch) is ``functional/embedding_math.py``'s, the code
the single-process losses run on their whole batch.

``gathered_clip_loss`` is a registered loss (``losskit.spec``, family
"contrastive", the structured property suite): losskit has no
single-process CLIP loss, so this is its definition. Without a process group
(and no ``group``) it is that loss on the given batch, as a group of one
rank would compute it, on any backend (NumPy, PyTorch, JAX). For
``import losskit`` to register it without importing torch, this module
imports torch (and the torch-only ``_shards``) inside its functions only.
"""

from __future__ import annotations

import math
import numbers
import sys


from .. import domains as D
from .. import functional as F
from .._array import is_torch
from .._reduce import reduce
from .._validate import check_bool, check_param, check_shape, per_sample, structured
from ..functional.embedding_math import check_rows, clip_rows, labelled_batch, nt_xent_rows, supcon_rows
from ..functional.metric import TEMPERATURE_DOMAIN
from ..registry import Param, loss

__all__ = ["gathered_clip_loss", "gathered_info_nce", "gathered_supervised_contrastive"]


def _no_process_group(group) -> bool:
    """True when no ``group`` is given and no default process group is
    initialised. Never imports torch: without torch imported there is no
    process group."""
    if group is not None:
        return False
    torch = sys.modules.get("torch")
    dist = getattr(torch, "distributed", None)
    return dist is None or not dist.is_available() or not dist.is_initialized()


def _pairs(loss, first_name, second_name, first, second, weight, mask, reduction):
    """Validate two (N, D) arrays whose row i is a positive pair; returns
    ``xp``, both arrays in the compute dtype, and the per-pair ``Batch``."""
    xp, arrays, dtype, out_dtype = structured(
        loss, {first_name: first, second_name: second, "weight": weight, "mask": mask}, reduction=reduction,
        floating=(first_name, second_name),
    )
    a = arrays[first_name]
    check_rows(loss, first_name, a)
    check_shape(loss, second_name, arrays[second_name], a.shape, f"the shape of {first_name}")
    batch = per_sample(loss, xp, (a.shape[0],), "one value per pair", weight=arrays["weight"], mask=arrays["mask"],
                       dtype=dtype, out_dtype=out_dtype)
    return xp, a, arrays[second_name], batch


def _empty(sh, reduction: str):
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
    from ._shards import Local, gather_shards

    loss = "gathered_info_nce"

    def validate():
        check_param(loss, "temperature", temperature, TEMPERATURE_DOMAIN)
        check_bool(loss, "local_loss", local_loss)
        _, _, _, batch = _pairs(loss, "query", "key", query, key, weight, mask, reduction)
        return Local.of(batch, [query, key])

    sh = gather_shards(loss, group, validate, what="query and key")
    tau = float(temperature)
    Q, K = sh.rows
    if not local_loss:
        return sh.full(F.info_nce(Q, K, temperature=tau, weight=sh.weight, mask=sh.mask, reduction=reduction),
                       reduction)
    if sh.total == 0:
        return _empty(sh, reduction)
    dtype = sh.local.dtype
    values = nt_xent_rows(sh.local.xp, sh.local.rows[0].to(dtype), sh.local.rows[1].to(dtype), Q, K, sh.offset,
                          sh.mask, tau)
    return sh.finish(values, reduction)


# -- CLIP -----------------------------------------------------------------------


def _check_logit_scale(loss, logit_scale, dtype, embeddings):
    if is_torch(logit_scale):
        if logit_scale.ndim != 0 or not logit_scale.is_floating_point():
            raise ValueError(
                f"{loss}: logit_scale must be a positive number or a 0-d floating tensor; received a tensor of "
                f"shape {tuple(logit_scale.shape)} and dtype {logit_scale.dtype}"
            )
        if not is_torch(embeddings):
            raise TypeError(
                f"{loss}: logit_scale must be a number, or a 0-d tensor when the embeddings are torch tensors; "
                f"received a torch tensor with embeddings of type {type(embeddings).__name__}"
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


def _clip_example(rng, n=6, dim=4):
    images = rng.normal(size=(n, dim))
    return (images, images + 0.5 * rng.normal(size=(n, dim))), {}


@loss(
    input_space="embeddings",
    summary="CLIP's symmetric image-text contrastive loss: cross-entropy of each image over the texts and of "
            "each text over the images; across ranks, every rank's pairs are negatives.",
    estimates="image and text embeddings where each matching pair is more similar than the mismatched ones",
    task="embedding",
    kind="structured",
    minimum=0.0,
    hessian_nonnegative=False,
    target_domain=D.REAL,
    params=(Param("logit_scale", TEMPERATURE_DOMAIN,
                  "logit scale s = 1/tau on cosine similarities (a 0-d tensor to learn it)"),),
    inputs=("image_embeddings", "text_embeddings"),
    example=_clip_example,
    param_grid=({"logit_scale": 1.0}, {"logit_scale": 30.0}),
    convex=False,
    references=(
        ("Radford, A. et al. (2021). Learning Transferable Visual Models From Natural Language Supervision. "
         "ICML."),
        ("Jia, C. et al. (2021). Scaling Up Visual and Vision-Language Representation Learning With Noisy Text "
         "Supervision. ICML."),
    ),
    notes="Embeddings L2-normalised (x / max(||x||, 1e-12)); the mean over pairs is open_clip's ClipLoss. "
          "Differs from info_nce's NT-Xent only in the candidates (the other modality alone). Under "
          "torch.distributed it gathers every rank's pairs (group=, local_loss=; see docs/distributed.md); "
          "without a process group it is this loss on the given batch, on any backend.",
)
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

    Without a process group (none initialised and no ``group`` given) it is
    this loss on the given batch, as a group of one rank computes it, for
    NumPy, PyTorch and JAX arrays alike; ``local_loss`` changes nothing then.

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

    Example (no process group: one rank):

    >>> import numpy as np
    >>> from losskit.distributed import gathered_clip_loss
    >>> x = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> round(float(gathered_clip_loss(x, x, logit_scale=1.0)), 6)  # -log(e / (e + 1)), both ways
    0.313262

    On each rank of a DDP job::

        loss = gathered_clip_loss(image_encoder(images), text_encoder(texts),
                                  logit_scale=model.log_scale.exp())
        loss.backward()

    References: Radford et al. (2021), Learning Transferable Visual Models
    From Natural Language Supervision (CLIP), ICML; Jia et al. (2021), ALIGN,
    ICML.
    """
    loss = "gathered_clip_loss"
    if _no_process_group(group):
        check_bool(loss, "local_loss", local_loss)
        xp, images, texts, batch = _pairs(loss, "image_embeddings", "text_embeddings", image_embeddings,
                                          text_embeddings, weight, mask, reduction)
        scale = _check_logit_scale(loss, logit_scale, batch.dtype, image_embeddings)
        if images.shape[0] == 0:
            return reduce(batch, 0.0 * (xp.sum(images, axis=1) + xp.sum(texts, axis=1)), reduction)
        return reduce(batch, clip_rows(xp, images, texts, images, texts, 0, batch.mask, scale), reduction)

    from ._shards import Local, gather_shards

    scale_holder = {}

    def validate():
        check_bool(loss, "local_loss", local_loss)
        _, _, _, batch = _pairs(loss, "image_embeddings", "text_embeddings", image_embeddings, text_embeddings,
                                weight, mask, reduction)
        scale_holder["s"] = _check_logit_scale(loss, logit_scale, batch.dtype, image_embeddings)
        return Local.of(batch, [image_embeddings, text_embeddings])

    sh = gather_shards(loss, group, validate, what="image_embeddings and text_embeddings")
    scale = scale_holder["s"]
    images, texts = sh.rows
    if sh.total == 0:
        return _empty(sh, reduction)
    xp, dtype = sh.local.xp, sh.local.dtype
    if not local_loss:
        values = clip_rows(xp, images, texts, images, texts, 0, sh.mask, scale)
        return sh.full(reduce(sh.global_batch(), values, reduction), reduction)
    values = clip_rows(xp, sh.local.rows[0].to(dtype), sh.local.rows[1].to(dtype), images, texts, sh.offset,
                       sh.mask, scale)
    return sh.finish(values, reduction)


# -- supervised contrastive ------------------------------------------------------


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
    from ._shards import Local, gather_shards, same_label_counts

    loss = "gathered_supervised_contrastive"

    def validate():
        check_param(loss, "temperature", temperature, TEMPERATURE_DOMAIN)
        check_bool(loss, "local_loss", local_loss)
        _, y, batch = labelled_batch(loss, embeddings, labels, weight, mask, reduction)
        return Local.of(batch, [embeddings], y)

    sh = gather_shards(loss, group, validate)
    tau = float(temperature)
    (X,) = sh.rows
    if not local_loss:
        return sh.full(F.supervised_contrastive(X, sh.labels, temperature=tau, weight=sh.weight, mask=sh.mask,
                                                reduction=reduction), reduction)
    if sh.total == 0:
        return _empty(sh, reduction)
    values, valid = supcon_rows(sh.local.xp, sh.local.rows[0].to(sh.local.dtype), X, sh.offset,
                                sh.own(sh.labels), sh.labels, sh.mask, tau)
    valid_global = same_label_counts(sh.labels, sh.present()) > 0
    return sh.finish(values, reduction, valid=valid, valid_global=valid_global)
