r"""A data-parallel batch split across ranks: gathered once, reduced with the right scale.

Every data-parallel loss here follows the same steps:

1. validate this rank's arrays with losskit's own checks (the error, if any,
   is held back);
2. ``exchange`` a header (row count, embedding width, dtype, which optional
   arrays were given): every rank raises together if any input is invalid
   or the ranks disagree;
3. all-gather the embeddings *with* gradient (uneven row counts) in one
   collective, and the labels / weights / mask without gradient in another;
4. compute, then ``finish``: reduce this rank's rows and scale for
   DistributedDataParallel.

Why the factor W (the number of ranks). Let the global loss be
:math:`L = \frac{1}{S} \sum_i \omega_i \ell_i` over all N rows of all ranks,
:math:`S = \sum_i \omega_i` (``"mean"``). Rank r computes the part of its
own rows, :math:`L_r = \frac{1}{S} \sum_{i \in r} \omega_i \ell_i`, with the
global denominator S (known from the gathered weights and mask), so that
:math:`\sum_r L_r = L`. Each :math:`\ell_i` depends on rows of every rank
(the negatives); the all-gather's backward sums over ranks the gradients
that reach each rank's rows, so backpropagating :math:`L_r` on every rank
leaves on rank r's embeddings :math:`\partial L / \partial x_r` (the
contributions of every :math:`L_s` to them), and the parameter gradients of
the ranks add up to :math:`\sum_r g_r = \partial L / \partial \theta`.
DistributedDataParallel *averages* them, giving
:math:`\frac{1}{W}\, \partial L / \partial \theta`. Each rank therefore
returns :math:`W L_r`: after averaging, the parameters get exactly
:math:`\partial L / \partial \theta`, the gradient of the single-process loss
on the concatenated batch. The returned values average to L over the ranks.

In full-gather mode every rank computes the whole L itself. Backpropagating
it through the gather gives rank r :math:`\sum_s \partial L / \partial x_r =
W\, \partial L / \partial x_r`, and DDP's average of the ranks' parameter
gradients is again :math:`\partial L / \partial \theta`: the value L is
returned as it is. Parameters used *outside* the gathered rows (a learnable
logit scale) receive :math:`W\, \partial L_r / \partial s` per rank in local
mode and :math:`\partial L / \partial s` in full mode: both average to
:math:`\partial L / \partial s`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from .._reduce import reduce
from .._validate import Batch
from ._gather import (
    DTYPE_CODES,
    Group,
    all_gather_rows,
    dtype_name,
    exchange,
    process_group,
    same_on_every_rank,
)

__all__ = ["Local", "Shards", "gather_shards", "same_label_counts"]

_LABEL_LIMIT = 2**53  # labels travel as float64: exact up to here


@dataclass
class Local:
    """This rank's validated arrays, as a loss's ``validate`` returns them.

    ``rows``: the (n, D_k) embedding arrays (as given; each is gathered);
    ``labels`` (n,) integers or None; ``batch`` the per-row ``Batch`` with
    this rank's weight and mask (compute dtype, ``out_dtype`` the compute
    dtype too: the final cast is ``finish``'s)."""

    xp: Any
    dtype: Any
    out_dtype: Any
    rows: list
    labels: Any
    batch: Batch
    extra: dict = field(default_factory=dict)

    @classmethod
    def of(cls, batch: Batch, rows: list, labels=None) -> "Local":
        """From a loss's validated ``Batch`` (its dtype the compute dtype, its
        out_dtype the result's): the copy kept here computes and returns in
        the compute dtype, the final cast being ``Shards.finish``'s."""
        return cls(batch.xp, batch.dtype, batch.out_dtype, rows, labels, replace(batch, out_dtype=batch.dtype))


@dataclass
class Shards:
    """The gathered batch, seen from one rank."""

    loss: str
    group: Group
    local: Local
    sizes: list
    rows: list  # gathered (N, D_k) arrays in the compute dtype, with gradient
    labels: Any  # (N,) int64 or None
    weight: Any  # (N,) or None
    mask: Any  # (N,) bool or None

    @property
    def offset(self) -> int:
        return sum(self.sizes[: self.group.rank])

    @property
    def n(self) -> int:
        return self.sizes[self.group.rank]

    @property
    def total(self) -> int:
        return sum(self.sizes)

    def own(self, x):
        """This rank's rows of a gathered array."""
        return x[self.offset: self.offset + self.n]

    def present(self):
        """(N,) bool: the rows that are in the batch (not masked out)."""
        if self.mask is not None:
            return self.mask
        return torch.ones(self.total, dtype=torch.bool, device=self.rows[0].device)

    def global_batch(self) -> Batch:
        b = self.local.batch
        return Batch(b.loss, b.xp, None, None, self.weight, self.mask, self.local.dtype, self.local.dtype)

    def finish(self, values, reduction: str, *, valid=None, valid_global=None):
        """Reduce this rank's per-row ``values`` (n,).

        "none": the rows' values (weighted, 0 where masked or not valid), no
        scaling. "sum": W times this rank's sum. "mean": W times this rank's
        sum over the global denominator (sum of weights over the rows of all
        ranks that count; ``valid_global`` (N,) says which count besides the
        mask). See the module docstring for W."""
        local = self.local
        if reduction == "none":
            return reduce(local.batch, values, "none", valid=valid).to(local.out_dtype)
        numerator = reduce(local.batch, values, "sum", valid=valid)
        if reduction == "mean":
            ones = torch.ones(self.total, dtype=local.dtype, device=numerator.device)
            den = reduce(self.global_batch(), ones, "sum", valid=valid_global)
            numerator = numerator / torch.where(den > 0, den, torch.ones_like(den))
        return (self.group.world * numerator).to(local.out_dtype)

    def full(self, value, reduction: str):
        """The result of a loss computed on the whole gathered batch: as it
        is for "mean"/"sum" (see the module docstring), this rank's rows for
        "none"."""
        if reduction == "none":
            value = self.own(value)
        return value.to(self.local.out_dtype)


def gather_shards(loss: str, group, validate: Callable[[], Local], *, what: str = "embeddings") -> Shards:
    """Validate, exchange the header, gather rows and metadata."""
    g = process_group(loss, group)
    error, local, fields = None, None, [0] * 6
    try:
        local = validate()
        first = local.rows[0]
        if not isinstance(first, torch.Tensor):
            raise TypeError(f"{loss}: {what} must be a torch.Tensor; received {type(first).__name__}")
        if local.labels is not None and local.labels.numel():
            largest = int(local.labels.abs().max())
            if largest >= _LABEL_LIMIT:
                raise ValueError(f"{loss}: labels must be smaller than 2**53 in magnitude; received {largest}")
        b = local.batch
        fields = [first.shape[0], first.shape[1], DTYPE_CODES.get(first.dtype, 0),
                  int(local.labels is not None), int(b.weight is not None), int(b.mask is not None)]
    except (TypeError, ValueError) as e:
        error = e
    table = exchange(loss, g, fields, error, like=local.rows[0] if local is not None else None)
    same_on_every_rank(loss, f"the width of {what} (columns)", [t[1] for t in table])
    same_on_every_rank(loss, f"the dtype of {what}", [t[2] for t in table], describe=dtype_name)
    same_on_every_rank(loss, "weight (given or not)", [bool(t[4]) for t in table])
    same_on_every_rank(loss, "mask (given or not)", [bool(t[5]) for t in table])
    sizes = [t[0] for t in table]
    b = local.batch

    # metadata: labels, weight, mask as float64 columns, one collective, no gradient
    columns = []
    if local.labels is not None:
        columns.append(local.labels.to(torch.float64))
    if b.weight is not None:
        columns.append(b.weight.detach().to(torch.float64))
    if b.mask is not None:
        columns.append(b.mask.to(torch.float64))
    labels = weight = mask = None
    if columns:
        meta = all_gather_rows(torch.stack(columns, dim=1), g, sizes).unbind(dim=1)
        meta = list(meta)
        if local.labels is not None:
            labels = meta.pop(0).to(torch.int64)
        if b.weight is not None:
            weight = meta.pop(0).to(local.dtype)
        if b.mask is not None:
            mask = meta.pop(0) > 0.5

    # embeddings: one collective for all of them, in their own dtype when they share one
    dtypes = {x.dtype for x in local.rows}
    send = local.rows if len(dtypes) == 1 else [x.to(local.dtype) for x in local.rows]
    widths = [x.shape[1] for x in send]
    gathered = all_gather_rows(send[0] if len(send) == 1 else torch.cat(send, dim=1), g, sizes)
    rows = [x.to(local.dtype) for x in gathered.split(widths, dim=1)]
    return Shards(loss, g, local, sizes, rows, labels, weight, mask)


def same_label_counts(labels, present):
    """(N,) for each row i of the gathered batch: the number of rows j != i
    that are present and share i's label (whether an anchor counts in the
    global "mean"). O(N log N), no (N, N) matrix."""
    _, inverse = torch.unique(labels, return_inverse=True)
    per_label = torch.zeros(int(inverse.max()) + 1 if inverse.numel() else 0, dtype=torch.int64,
                            device=labels.device).index_add_(0, inverse, present.to(torch.int64))
    return per_label[inverse] - present.to(torch.int64)
