"""The communication under every distributed loss, all on ``torch.distributed``.

* ``process_group``: the group, this rank's place in it, or a clear error when
  no process group is initialised.
* ``exchange``: the small header every loss starts with. Each rank contributes a
  fixed-length row of integers (its sizes, dtype, which optional arguments it
  got, whether its own input was valid); one all-gather gives every rank the
  whole table. A rank whose input is invalid raises its own error *after* the
  exchange and every other rank raises too, so no rank is left waiting in a
  collective for a peer that has already failed (the usual way a bad shape
  turns into a 30-minute hang).
* ``all_gather_rows``: all-gather along the first axis with uneven sizes per
  rank (padded to the largest, then trimmed) and a gradient. The backward is
  the adjoint of the gather: each rank receives the *sum over ranks* of the
  gradients that landed on its rows (a reduce-scatter), which is what makes a
  loss computed on the gathered batch differentiate correctly.
* ``fingerprint``: a cheap integer hash of arrays that must be identical on
  every rank (the replicated targets of the vocabulary-parallel loss).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = [
    "DTYPE_CODES",
    "Group",
    "all_gather_rows",
    "all_gather_with_grad",
    "exchange",
    "fingerprint",
    "process_group",
]

# dtypes travel in the header as small integers
DTYPE_CODES = {
    dtype: code + 1
    for code, dtype in enumerate([
        torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.bool, torch.uint8, torch.int8,
        torch.int16, torch.int32, torch.int64, torch.complex64, torch.complex128,
    ])
}
_CODE_NAMES = {code: str(dtype).replace("torch.", "") for dtype, code in DTYPE_CODES.items()}

# the collectives have new names in recent PyTorch; the old ones warn there
_all_gather_single = getattr(dist, "all_gather_single", None) or dist.all_gather_into_tensor
_reduce_scatter_single = getattr(dist, "reduce_scatter_single", None) or dist.reduce_scatter_tensor


@dataclass(frozen=True)
class Group:
    """A process group as a loss needs it: the handle (``None`` = the default
    group), the number of ranks and this process's rank inside it."""

    handle: object
    world: int
    rank: int
    backend: str

    def device(self, like=None) -> torch.device:
        """Where the header lives: the input's device, or the one the backend
        needs (NCCL only moves CUDA tensors)."""
        if isinstance(like, torch.Tensor):
            return like.device
        if self.backend == "nccl":
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")


def process_group(loss: str, group) -> Group:
    """The group a loss communicates over, checked."""
    if not dist.is_available():
        raise RuntimeError(f"{loss}: torch.distributed is not available in this PyTorch build")
    if not dist.is_initialized():
        raise RuntimeError(
            f"{loss}: no process group is initialised; call torch.distributed.init_process_group(...) first "
            "(a single process can use world_size=1)"
        )
    rank = dist.get_rank(group)
    if rank < 0:
        raise RuntimeError(f"{loss}: this process (global rank {dist.get_rank()}) is not a member of group")
    return Group(group, dist.get_world_size(group), rank, str(dist.get_backend(group)))


def exchange(loss: str, group: Group, fields: list[int], error: Exception | None, like=None) -> list[list[int]]:
    """All-gather one row of integers per rank and agree on failure.

    ``fields`` is this rank's row (fixed length, the same on every rank);
    ``error`` the exception its own validation raised, if any. Returns the
    table, one row per rank in group order. Raises on every rank when any
    rank's input was invalid: the failing rank raises its own error, the
    others a RuntimeError naming the failing ranks.
    """
    row = torch.tensor([0 if error is None else 1, *fields], dtype=torch.int64, device=group.device(like))
    if group.world == 1:
        table = [row.tolist()]
    else:
        out = torch.empty(group.world * row.numel(), dtype=torch.int64, device=row.device)
        _all_gather_single(out, row, group=group.handle)
        table = out.reshape(group.world, row.numel()).tolist()
    if error is not None:
        raise error
    failed = [r for r, values in enumerate(table) if values[0]]
    if failed:
        raise RuntimeError(
            f"{loss}: the input on rank(s) {failed} of the group is invalid (the error raised there says why); "
            "every rank stops here so that none waits for the others"
        )
    return [values[1:] for values in table]


def same_on_every_rank(loss: str, what: str, values: list, describe=str) -> None:
    """Raise (on every rank: ``values`` come from the shared table) unless all
    ranks reported the same value."""
    if len(set(values)) > 1:
        listed = ", ".join(f"rank {r}: {describe(v)}" for r, v in enumerate(values))
        raise ValueError(f"{loss}: {what} must be the same on every rank; received {listed}")


def dtype_name(code: int) -> str:
    return _CODE_NAMES.get(code, f"dtype code {code}")


def fingerprint(*arrays) -> int:
    """An integer hash of the exact bits of ``arrays`` (``None`` allowed).

    Each element is multiplied by an odd factor that depends on its position
    and the products are summed with int64 wrap-around, modulo 2**24: two
    arrays that differ in one element by less than 2**24 in its integer bits
    (any class index below 16 million) always hash differently. O(size); one
    read of the result (a host synchronisation on a GPU)."""
    sums = []
    for a in arrays:
        if a is None:
            continue
        v = a.detach().reshape(-1)
        if v.dtype == torch.bool:
            v = v.to(torch.int64)
        elif v.is_floating_point():
            ints = {2: torch.int16, 4: torch.int32, 8: torch.int64}[v.element_size()]
            v = v.contiguous().view(ints).to(torch.int64)
        else:
            v = v.to(torch.int64)
        position = torch.arange(v.numel(), dtype=torch.int64, device=v.device)
        factor = ((position * 2_654_435_761 + 97) % (1 << 24)) | 1
        sums.append((v * factor).sum().reshape(1))
    h = len(arrays)
    for s in torch.cat(sums).tolist() if sums else []:
        h = (h * 1_000_003 + s % (1 << 24) + 1) & 0xFFFFFFFFFFFF
    return h + (sum(1 << i for i, a in enumerate(arrays) if a is None) << 48)


class _AllGatherRows(torch.autograd.Function):
    """All-gather along axis 0 with uneven sizes; the backward reduce-scatters."""

    @staticmethod
    def forward(ctx, x, sizes, group):
        ctx.sizes, ctx.group, ctx.mine = sizes, group, x.shape[0]
        world, largest, n = len(sizes), max(sizes), x.shape[0]
        if world == 1:
            return x.clone()
        rest = tuple(x.shape[1:])
        if largest == 0:
            return x.new_empty((0, *rest))
        padded = x if n == largest else torch.cat([x, x.new_zeros((largest - n, *rest))])
        out = x.new_empty((world * largest, *rest))
        _all_gather_single(out, padded.contiguous(), group=group)
        if all(s == largest for s in sizes):
            return out
        return torch.cat([out[r * largest: r * largest + s] for r, s in enumerate(sizes)])

    @staticmethod
    def backward(ctx, grad):
        sizes, group, mine = ctx.sizes, ctx.group, ctx.mine
        world, largest = len(sizes), max(sizes)
        if world == 1:
            return grad, None, None
        rest = tuple(grad.shape[1:])
        if largest == 0:
            return grad.new_zeros((0, *rest)), None, None
        # lay the gradient out as the forward's padded buffer, sum over the
        # ranks and keep this rank's block
        if all(s == largest for s in sizes):
            padded = grad.contiguous()
        else:
            padded = grad.new_zeros((world * largest, *rest))
            start = 0
            for r, s in enumerate(sizes):
                padded[r * largest: r * largest + s] = grad[start: start + s]
                start += s
        return _sum_over_ranks(padded, largest, group)[:mine], None, None


_REDUCE_SCATTER_WORKS = {}  # backend -> False once it said it cannot (gloo before PyTorch 2.4 or so)


def _sum_over_ranks(padded, largest, group):
    """This rank's block of the sum over ranks of ``padded`` (W blocks of
    ``largest`` rows): a reduce-scatter, or an all-reduce where the backend
    has no reduce-scatter (the same on every rank, so all take the same path)."""
    backend = str(dist.get_backend(group))
    if _REDUCE_SCATTER_WORKS.get(backend, True):
        block = padded.new_empty((largest, *padded.shape[1:]))
        try:
            _reduce_scatter_single(block, padded, op=dist.ReduceOp.SUM, group=group)
            return block
        except RuntimeError as e:
            if "support" not in str(e).lower():
                raise
            _REDUCE_SCATTER_WORKS[backend] = False
    dist.all_reduce(padded, op=dist.ReduceOp.SUM, group=group)
    rank = dist.get_rank(group)
    return padded[rank * largest: (rank + 1) * largest]


def all_gather_rows(x, group: Group, sizes: list[int]):
    """``x`` (this rank's rows) concatenated with every other rank's, in rank
    order: shape (sum(sizes), ...). Differentiable: the gradient reaching a
    rank's rows is the sum over ranks of the gradients on those rows."""
    return _AllGatherRows.apply(x, list(sizes), group.handle)


def all_gather_with_grad(x, group=None):
    """All-gather ``x`` along its first axis, with uneven sizes and a gradient.

    Every rank passes its own rows, shape (n_rank, ...), with the same
    trailing shape and dtype; every rank receives all rows, shape
    (sum of n_rank, ...), rank 0's first. n_rank may be 0 on some ranks.

    The backward is the adjoint of the gather: the gradient of rank r's rows
    is the sum, over all ranks, of the gradients that reached those rows on
    each rank (one reduce-scatter). So if each rank computes a value
    :math:`L_s` from the gathered rows, rank r gets
    :math:`\\partial (\\sum_s L_s) / \\partial x_r`. Note that data-parallel
    training (DistributedDataParallel) then *averages* parameter gradients
    over the W ranks; see ``docs/distributed.md`` for the factor W this
    calls for.

    Costs one small all-gather of the sizes (which synchronises with the
    host) and one all-gather of the rows; the backward one reduce-scatter.
    """
    loss = "all_gather_with_grad"
    g = process_group(loss, group)
    error = None
    fields = [0] * (4 + _SHOWN_DIMS)
    try:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{loss}: x must be a torch.Tensor; received {type(x).__name__}")
        if x.ndim < 1:
            raise ValueError(f"{loss}: x must have at least one axis (the rows); received shape ()")
        fields = [x.shape[0], DTYPE_CODES.get(x.dtype, 0), *shape_fields(tuple(x.shape[1:]))]
    except (TypeError, ValueError) as e:
        error = e
    table = exchange(loss, g, fields, error, like=x)
    same_on_every_rank(loss, "the shape of x after the first axis", [tuple(t[2:]) for t in table],
                       describe=describe_shape)
    same_on_every_rank(loss, "the dtype of x", [t[1] for t in table], describe=dtype_name)
    return all_gather_rows(x, g, [t[0] for t in table])


_SHOWN_DIMS = 4  # trailing dimensions carried by the header as they are; more are hashed


def shape_fields(shape: tuple) -> list[int]:
    """A shape as a fixed number of header integers: its length, up to
    ``_SHOWN_DIMS`` sizes, and (for longer shapes) a hash of the rest."""
    head = list(shape[:_SHOWN_DIMS]) + [0] * max(0, _SHOWN_DIMS - len(shape))
    return [len(shape), *head, fingerprint(torch.tensor(shape, dtype=torch.int64)) if len(shape) > _SHOWN_DIMS else 0]


def describe_shape(fields: tuple) -> str:
    ndim, head = fields[0], fields[1: 1 + _SHOWN_DIMS]
    if ndim <= _SHOWN_DIMS:
        return str(tuple(head[:ndim]))
    return f"({', '.join(map(str, head))}, ...) ({ndim} axes)"
