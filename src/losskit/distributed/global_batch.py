r"""``global_batch``: losskit's metric-learning losses over the batch of all ranks.

Two kinds of loss, two treatments:

* **Mined inside the batch** (``contrastive_embeddings``,
  ``batch_hard_triplet``, ``batch_all_triplet``, ``supervised_contrastive``,
  and ``info_nce`` in its two-view form): an anchor's loss depends on the
  other samples, so the embeddings, labels, weights and mask are all-gathered
  (with gradient, uneven row counts allowed) and each anchor sees every
  rank's samples as positives and negatives. With ``local_loss=True`` a rank
  builds only its anchors' rows, (B_local x N) distances (B_local x N x N for
  ``batch_all_triplet``), and returns W times its anchors' share of the
  global mean; with ``local_loss=False`` it calls the loss itself on the
  gathered batch (N x N, or N³).
* **One value per given pair / triplet / sample** (``contrastive``,
  ``triplet_margin``, ``triplet_margin_with_distance``, ``cosine_embedding``,
  ``margin_ranking``, ``center_loss``, ``additive_margin_softmax``, and
  ``info_nce`` with explicit ``negatives``): nothing to gather; only the
  "mean" must divide by the weight of *all* ranks' elements (a per-rank mean
  averaged by DDP weighs a rank with fewer samples too much). One all-reduce
  of a few numbers.

Either way the value is scaled for DistributedDataParallel's gradient
averaging (W times this rank's share of the global "mean" or "sum"; the
derivation is in ``_shards.py`` and ``docs/distributed.md``), so that the
parameters receive exactly the gradient of the single-process loss on the
concatenated batch. "none" returns this rank's values, unscaled.

The per-anchor math of the mined losses (distances, pair masks, hardest and
all-triplet mining, the contrastive pair term) is
``functional/embedding_math.py``'s, the code the single-process losses run
on their whole batch. This module imports torch inside its functions only,
so that ``import losskit.distributed`` does not (see ``__init__.py``).
"""

from __future__ import annotations

import functools

from .. import domains as D
from .. import functional as F
from .._array import array_namespace
from .._reduce import denominator as mean_denominator
from .._validate import check_choice, check_param, check_reduction
from ..functional.embedding_math import (
    DISTANCES,
    all_triplet_rows,
    contrastive_embeddings_rows,
    hardest_triplet_rows,
    labelled_batch,
)
from .contrastive import gathered_info_nce, gathered_supervised_contrastive

__all__ = ["global_batch"]


# -- mined losses, one row block per rank ----------------------------------------


# each loss's per-anchor rows (embedding_math), and whether an anchor needs a negative besides a
# positive to count (triplets) or only another sample (pairs)
_MINED = {
    F.contrastive_embeddings: (contrastive_embeddings_rows, False),
    F.batch_hard_triplet: (hardest_triplet_rows, True),
    F.batch_all_triplet: (all_triplet_rows, True),
}


def _anchors_that_count(sh, triplets: bool):
    """(N,) bool: the anchors of every rank that count in the global "mean":
    with another present sample (pairs), or with a present positive and a
    present negative (triplets). O(N log N), no (N, N) matrix."""
    import torch

    from ._shards import same_label_counts

    present = sh.present()
    others = present.to(torch.int64).sum() - present.to(torch.int64)
    if not triplets:
        return others > 0
    same = same_label_counts(sh.labels, present)
    return (same > 0) & (others - same > 0)


_PER_ELEMENT = (
    F.contrastive, F.triplet_margin, F.triplet_margin_with_distance, F.cosine_embedding, F.margin_ranking,
    F.center_loss, F.additive_margin_softmax,
)


def _mined(fn, name, group, local_loss):
    loss = f"global_batch({name})"
    rows, triplets = _MINED[fn]

    def call(embeddings, labels, *, margin=1.0, distance="euclidean", weight=None, mask=None, reduction="mean"):
        from ._shards import Local, gather_shards

        def validate():
            check_param(loss, "margin", margin, D.NONNEGATIVE)
            check_choice(loss, "distance", distance, DISTANCES)
            _, y, batch = labelled_batch(loss, embeddings, labels, weight, mask, reduction)
            return Local.of(batch, [embeddings], y)

        sh = gather_shards(loss, group, validate)
        if not local_loss:
            value = fn(sh.rows[0], sh.labels, margin=margin, distance=distance, weight=sh.weight, mask=sh.mask,
                       reduction=reduction)
            return sh.full(value, reduction)
        if sh.total == 0:
            x = sh.local.rows[0].to(sh.local.dtype)
            return sh.finish(0.0 * x.sum(dim=1), reduction)
        values, valid = rows(sh.local.xp, sh.local.rows[0].to(sh.local.dtype), sh.rows[0], sh.offset,
                             sh.own(sh.labels), sh.labels, sh.mask, float(margin), distance)
        return sh.finish(values, reduction, valid=valid, valid_global=_anchors_that_count(sh, triplets))

    return call


# -- losses with one value per element: only the mean's denominator is global ----


def _global_mean(fn, name, group):
    loss = f"global_batch({name})"

    def call(*inputs, reduction="mean", weight=None, mask=None, **params):
        import torch
        import torch.distributed as dist

        from ._gather import process_group

        check_reduction(loss, reduction)
        g = process_group(loss, group)
        if reduction == "none":  # no communication, so an error here strands no one
            return fn(*inputs, weight=weight, mask=mask, reduction="none", **params)
        error = values = None
        try:
            values = fn(*inputs, weight=weight, mask=mask, reduction="none", **params)
            if not isinstance(values, torch.Tensor):
                raise TypeError(f"{loss}: the inputs must be torch tensors; received {type(inputs[0]).__name__}")
        except (TypeError, ValueError) as e:
            error = e
        device = values.device if values is not None else g.device()
        # one all-reduce: this rank's denominator, and a flag per rank for invalid input
        buffer = torch.zeros(1 + g.world, dtype=torch.float64, device=device)
        if error is None:
            buffer[0] = _denominator(values, weight, mask)
        else:
            buffer[1 + g.rank] = 1.0
        if g.world > 1:
            dist.all_reduce(buffer, group=g.handle)
        if error is not None:
            raise error
        failed = [r for r in range(g.world) if buffer[1 + r] > 0]
        if failed:
            raise RuntimeError(
                f"{loss}: the input on rank(s) {failed} of the group is invalid (the error raised there says why); "
                "every rank stops here so that none waits for the others"
            )
        total = values.sum()
        if reduction == "mean":
            den = float(buffer[0])
            total = total / (den if den > 0 else 1.0)
        return g.world * total

    return call


def _denominator(values, weight, mask) -> float:
    """The denominator of losskit's "mean" for this rank's elements:
    sum(weight * mask), the mask's count, or the number of elements."""
    import torch

    if weight is None and mask is None:
        return float(mean_denominator(array_namespace(values), values))
    w = torch.ones(values.shape, dtype=torch.float64, device=values.device) if weight is None else (
        weight.detach().to(torch.float64))  # summed in float64
    return float(mean_denominator(array_namespace(values), values, weight=w, keep=mask))


# -- the wrapper -----------------------------------------------------------------


def global_batch(loss, *, group=None, local_loss=True):
    r"""A metric-learning loss of losskit over the batch of all ranks of ``group``.

    ``global_batch(losskit.batch_hard_triplet)(embeddings, labels, margin=0.3)``
    on each rank gives, under DistributedDataParallel, exactly the gradient
    of ``losskit.batch_hard_triplet`` on the embeddings and labels of all
    ranks concatenated (rank 0's first): every anchor mines its hardest
    positive and negative among every rank's samples.

    Args:
        loss: a losskit function or a loss object from ``losskit.get`` (its
            bound parameters are kept): ``contrastive_embeddings``,
            ``batch_hard_triplet``, ``batch_all_triplet``,
            ``supervised_contrastive``, ``info_nce`` (gathered), or
            ``contrastive``, ``triplet_margin``,
            ``triplet_margin_with_distance``, ``cosine_embedding``,
            ``margin_ranking``, ``center_loss``, ``additive_margin_softmax``
            (one value per element: global mean only).
        group: process group (default: the default group).
        local_loss: for the gathered losses, build only this rank's anchor
            rows (True, memory O(B_local N); O(B_local N²) for
            ``batch_all_triplet``) or the whole batch on every rank (False).

    Returns:
        A function with the loss's own signature (inputs, keyword
        parameters, ``weight``, ``mask``, ``reduction``). "mean" and "sum"
        return W times this rank's share of the global value (see the module
        docstring); "none" this rank's values.

    Raises TypeError for a loss it does not know (wrap only these: a loss of
    your own may mix samples in ways a wrapper cannot see).
    """
    from ..registry import Loss

    bound = {}
    fn = loss
    if isinstance(loss, Loss):
        fn, bound = loss.spec.function, dict(loss.params)
    name = getattr(fn, "__name__", repr(fn))
    if not isinstance(local_loss, bool):
        raise TypeError(f"global_batch: local_loss must be True or False; received {local_loss!r}")
    if fn in _MINED:
        call = _mined(fn, name, group, local_loss)
    elif fn is F.supervised_contrastive:
        call = functools.partial(gathered_supervised_contrastive, group=group, local_loss=local_loss)
    elif fn is F.info_nce:
        per_element = _global_mean(fn, name, group)

        def call(query, key, *, negatives=None, **kwargs):
            if negatives is None:
                return gathered_info_nce(query, key, group=group, local_loss=local_loss, **kwargs)
            return per_element(query, key, negatives=negatives, **kwargs)
    elif fn in _PER_ELEMENT:
        call = _global_mean(fn, name, group)
    else:
        known = ", ".join(f.__name__ for f in [*_MINED, F.supervised_contrastive, F.info_nce, *_PER_ELEMENT])
        raise TypeError(f"global_batch: loss must be one of losskit's {known}; received {name}")

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        return call(*args, **{**bound, **kwargs})

    wrapped.__name__ = wrapped.__qualname__ = f"global_batch_{name}"
    wrapped.__doc__ = (
        f"losskit.{name} over the batch of every rank (losskit.distributed.global_batch, "
        f"local_loss={local_loss}); its arguments follow.\n\n{fn.__doc__ or ''}"
    )
    return wrapped
