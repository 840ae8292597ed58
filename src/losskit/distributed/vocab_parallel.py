r"""Cross-entropy over a vocabulary sharded across ranks (Megatron-style tensor parallelism).

Each rank of the group holds the logits of every row for a slice of the
classes, ``local_logits`` of shape (N, V_r), and the same (replicated)
``target`` (N,) of global class indices. The loss is
``losskit.cross_entropy`` on the full (N, V) logits, V = sum of V_r, without
ever building them:

1. all-reduce (max) of the N row maxima :math:`m`;
2. all-reduce (sum) of, per row, the shifted target logit :math:`z_y - m`
   (non-zero only on the rank that holds class y), the sum of exponentials
   :math:`\sum_c e^{z_c - m}`, and where asked the label-smoothing sum
   :math:`\sum_c w_c (z_c - m)` and the target's class weight :math:`w_y`:
   one buffer, one collective.

Then :math:`\log p_y = (z_y - m) - \log \sum_c e^{z_c - m}` on every rank, and
the gradient with respect to this rank's logits is computed locally from the
saved softmax slice, :math:`g_{nll}\,(p - e_y) + g_{smooth}\,(W p - w)` with
:math:`W = \sum_c w_c`: no communication in the backward.

Before the two all-reduces one all-gather of a short integer header per rank
(row count, slice size and start, dtype, a hash of target/weight/mask)
checks that the ranks agree and derives the slice offsets; it synchronises
with the host once per call.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from .. import domains as D
from .._reduce import reduce
from .._validate import (
    check_data,
    check_int,
    check_param,
    check_shape,
    per_sample,
    structured,
)
from ._gather import (
    DTYPE_CODES,
    dtype_name,
    exchange,
    fingerprint,
    process_group,
    same_on_every_rank,
)

__all__ = ["vocab_parallel_cross_entropy"]


class _VocabParallelNLL(torch.autograd.Function):
    """Per row: ``nll = -log p_y`` and ``smooth = -sum_c w_c log p_c`` (zeros
    when ``want_smooth`` is False), and ``w_y`` (the target's class weight, or
    ones; not differentiable). ``labels`` are global class indices, -1 for
    rows that do not count. ``group`` is a ``Group``, or None for one rank."""

    @staticmethod
    def forward(ctx, z, labels, vocab_start, num_classes, class_weight, want_smooth, group):
        n, width = z.shape
        weighted = class_weight is not None
        ctx.set_materialize_grads(False)
        m = z.amax(dim=1) if width else z.new_full((n,), -torch.inf)
        if group is not None:
            dist.all_reduce(m, op=dist.ReduceOp.MAX, group=group.handle)
        m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))  # as log_softmax: all -inf rows give NaN
        shifted = z - m[:, None]
        index = labels - vocab_start
        here = (index >= 0) & (index < width)  # rows whose target class is in this rank's slice
        safe = torch.where(here, index, torch.zeros_like(index))
        zeros = torch.zeros_like(m)
        picked = shifted.gather(1, safe[:, None]).squeeze(1) if width else zeros
        parts = [torch.where(here, picked, zeros)]  # z_y - m
        if want_smooth:  # sum_c w_c (z_c - m)
            parts.append(shifted.sum(dim=1) if not weighted else shifted @ class_weight)
        if weighted:  # w_y
            parts.append(torch.where(here, class_weight[safe], zeros) if width else zeros)
        exp = shifted.exp_()  # in place: this buffer becomes the softmax slice kept for the backward
        parts.append(exp.sum(dim=1))
        if weighted:  # sum_c w_c over the whole vocabulary
            parts.append(class_weight.sum().reshape(1))
        buffer = torch.cat(parts)
        if group is not None:
            dist.all_reduce(buffer, op=dist.ReduceOp.SUM, group=group.handle)
        pieces = list(buffer.split([n] * (len(parts) - weighted) + [1] * weighted))
        z_y = pieces.pop(0)
        smooth_sum = pieces.pop(0) if want_smooth else None
        w_y = pieces.pop(0) if weighted else torch.ones_like(z_y)
        total = pieces.pop(0)
        weight_total = pieces.pop(0) if weighted else float(num_classes)
        log_total = torch.log(total)
        nll = log_total - z_y  # -log p_y
        # -sum_c w_c log p_c = W log(sum e) - sum_c w_c (z_c - m)
        smooth = weight_total * log_total - smooth_sum if want_smooth else torch.zeros_like(nll)
        prob = exp.div_(total[:, None])
        ctx.save_for_backward(prob, safe, here, class_weight if weighted else None,
                              weight_total if weighted else None)
        ctx.num_classes = num_classes
        ctx.mark_non_differentiable(w_y)
        return nll, smooth, w_y

    @staticmethod
    def backward(ctx, grad_nll, grad_smooth, _grad_w_y):
        prob, safe, here, class_weight, weight_total = ctx.saved_tensors
        none = (None,) * 6
        if grad_nll is None and grad_smooth is None:
            return (None, *none)
        n = prob.shape[0]
        g_nll = grad_nll if grad_nll is not None else prob.new_zeros(n)
        coef = g_nll
        if grad_smooth is not None:  # d smooth / dz = W p - w
            coef = coef + grad_smooth * (weight_total if class_weight is not None else float(ctx.num_classes))
        grad = prob * coef[:, None]  # d nll / dz = p - e_y
        if prob.shape[1]:
            rows = torch.arange(n, device=prob.device)[here]
            grad[rows, safe[here]] -= g_nll[here]
            if grad_smooth is not None:
                grad -= grad_smooth[:, None] * (class_weight[None, :] if class_weight is not None else 1.0)
        return (grad, *none)


def vocab_parallel_cross_entropy(
    local_logits, target, *, group=None, vocab_start=None, class_weight=None, ignore_index=-100,
    label_smoothing=0.0, weight=None, mask=None, reduction="mean",
):
    r"""Cross-entropy of logits whose classes are split across the ranks of ``group``.

    Every rank passes its slice of the logits, ``local_logits`` (N, V_r),
    and the same ``target``: the result on every rank is
    ``losskit.cross_entropy(full_logits, target, ...)`` with the same
    arguments, where ``full_logits`` (N, V) puts each rank's slice at its
    columns, V = sum of V_r:

    .. math::
        \ell = -(1-\varepsilon)\, w_y \log p_y - \frac{\varepsilon}{V} \sum_c w_c \log p_c,
        \qquad \log p = \mathrm{log\_softmax}(z)

    including its ``"mean"`` (divided by :math:`\sum_n \mathrm{weight}_n
    w_{y_n}` over the rows that count). The gradient of each rank's logits
    is that slice of the full gradient, computed locally (no communication
    in the backward); the value is the same on every rank. This is not a
    data-parallel loss: there is no factor for gradient averaging, because
    the ranks of a tensor-parallel group hold different parameters.

    Communication per call: one all-gather of a 10-integer header (checks,
    offsets), then exactly two all-reduces of O(N) values: the row maxima,
    then one buffer with the target logit and the sum of exponentials (plus
    the smoothing sum and the target's class weight when asked for). Memory:
    one (N, V_r) buffer (the softmax slice, kept for the backward) besides
    the input.

    Args:
        local_logits: (N, V_r), floating: this rank's classes. V_r may be 0
            on some ranks (the total V must be at least 1); N is the same on
            every rank.
        target: (N,) integers: global class indices in [0, V), or
            ``ignore_index``. The same on every rank (checked by a hash, with
            ``weight`` and ``mask``).
        group: the tensor-parallel process group (default: the default group).
        vocab_start: index of this rank's first class. None (default): the
            slices follow the rank order of the group, rank 0 holding classes
            [0, V_0), rank 1 [V_0, V_0 + V_1)... (Megatron's layout). Given
            on every rank: any order, but the slices must tile [0, V) exactly
            (checked).
        class_weight: this rank's slice of the class weights, (V_r,),
            non-negative (PyTorch's ``weight``).
        ignore_index: label whose rows are left out.
        label_smoothing: :math:`\varepsilon \in [0, 1]`.
        weight, mask: per row, (N,), the same on every rank.
        reduction: "mean", "sum" or "none" ((N,), one value per row).

    Raises on every rank of the group, never on one alone (which would leave
    the others waiting): RuntimeError without an initialised process group
    or when another rank's input is invalid; ValueError/TypeError for this
    rank's bad input, for N differing between ranks, for targets differing
    between ranks, for slices that do not tile the vocabulary.

    Example (on each of the W ranks, after ``init_process_group``)::

        logits_r = hidden @ weight_r.T          # weight_r: this rank's (V_r, H) rows
        loss = vocab_parallel_cross_entropy(logits_r, target, group=tp_group, label_smoothing=0.1)
        loss.backward()

    References: Shoeybi et al. (2019), Megatron-LM: Training Multi-Billion
    Parameter Language Models Using Model Parallelism, arXiv:1909.08053.
    """
    loss = "vocab_parallel_cross_entropy"
    g = process_group(loss, group)
    error = None
    fields = [0] * 9
    try:
        ls = check_param(loss, "label_smoothing", label_smoothing, D.UNIT)
        ignore_index = check_int(loss, "ignore_index", ignore_index)
        if vocab_start is not None:
            vocab_start = check_int(loss, "vocab_start", vocab_start)
            if vocab_start < 0:
                raise ValueError(f"{loss}: vocab_start must be >= 0 or None; received vocab_start={vocab_start}")
        xp, arrays, dtype, out_dtype = structured(
            loss, {"local_logits": local_logits, "target": target, "class_weight": class_weight, "weight": weight,
                   "mask": mask},
            reduction=reduction, floating=("local_logits", "class_weight"), integral=("target",),
            optional=("class_weight",),
        )
        z, y, cw = arrays["local_logits"], arrays["target"], arrays["class_weight"]
        if not isinstance(z, torch.Tensor):
            raise TypeError(f"{loss}: local_logits must be a torch.Tensor; received {type(local_logits).__name__}")
        if z.ndim != 2:
            raise ValueError(
                f"{loss}: local_logits must have shape (N, V_r) (rows, this rank's classes); "
                f"received shape {tuple(z.shape)}"
            )
        n, width = z.shape
        check_shape(loss, "target", y, (n,), "one class index per row")
        if cw is not None:
            check_shape(loss, "class_weight", cw, (width,), "this rank's slice of the class weights")
            check_data(loss, "class_weight", xp, cw, D.NONNEGATIVE)
        batch = per_sample(loss, xp, (n,), "one value per row", weight=arrays["weight"], mask=arrays["mask"],
                           dtype=dtype,
                           out_dtype=out_dtype)
        fields = [n, width, -1 if vocab_start is None else vocab_start, int(cw is not None),
                  DTYPE_CODES.get(local_logits.dtype, 0), fingerprint(y, weight, mask), ignore_index,
                  int(ls * 2**30), 0]
    except (TypeError, ValueError) as e:
        error = e
    table = exchange(loss, g, fields, error, like=local_logits)
    rows = [t[0] for t in table]
    same_on_every_rank(loss, "the number of rows of local_logits (the rows are replicated, the classes split)",
                       rows)
    same_on_every_rank(loss, "the dtype of local_logits", [t[4] for t in table], describe=dtype_name)
    same_on_every_rank(loss, "class_weight (given or not)", [bool(t[3]) for t in table])
    same_on_every_rank(loss, "ignore_index", [t[6] for t in table])
    same_on_every_rank(loss, "label_smoothing", [t[7] / 2**30 for t in table])
    if len({t[5] for t in table}) > 1:
        raise ValueError(
            f"{loss}: target, weight and mask must be the same on every rank (each rank holds some classes "
            "of the same rows); they differ between ranks "
            + ", ".join(str(r) for r, t in enumerate(table) if t[5] != table[0][5])
            + " and rank 0"
        )
    start, num_classes = _vocab_layout(loss, [t[1] for t in table], [t[2] for t in table], g.rank)
    # every rank holds the same target (checked above), so this raises on all or none
    valid = y != ignore_index
    bad = valid & ((y < 0) | (y >= num_classes))
    if bool(bad.any()):
        raise ValueError(
            f"{loss}: target must hold class indices in [0, {num_classes}) or ignore_index={ignore_index}; "
            f"received {int(y[bad][0])}"
        )
    labels = torch.where(valid, y.to(torch.int64), torch.full_like(y, -1, dtype=torch.int64))
    nll, smooth, w_y = _VocabParallelNLL.apply(
        z, labels, start, num_classes, cw, ls > 0.0, g if g.world > 1 else None,
    )
    # the reduction of losskit.cross_entropy, term by term
    if cw is None:
        values = nll if ls == 0.0 else (1.0 - ls) * nll + (ls / num_classes) * smooth
        return reduce(batch, values, reduction, valid=valid)
    if ls == 0.0:
        return reduce(batch, nll, reduction, valid=valid, class_weight=w_y)
    values = (1.0 - ls) * w_y * nll + (ls / num_classes) * smooth
    return reduce(batch, values, reduction, valid=valid, denominator_class_weight=w_y)


def _vocab_layout(loss: str, widths: list[int], starts: list[int], rank: int) -> tuple[int, int]:
    """This rank's first class and the vocabulary size, from every rank's
    slice width and (optional) declared start; checks that slices tile."""
    total = sum(widths)
    if total == 0:
        raise ValueError(f"{loss}: the vocabulary must have at least one class; every rank has 0 columns")
    given = [s >= 0 for s in starts]
    if not any(given):
        return sum(widths[:rank]), total
    if not all(given):
        missing = [r for r, ok in enumerate(given) if not ok]
        raise ValueError(f"{loss}: vocab_start must be given on every rank or on none; it is None on rank(s) {missing}")
    position = 0
    for s, w, r in sorted(zip(starts, widths, range(len(widths)))):
        if s != position:
            slices = ", ".join(f"rank {q}: [{a}, {a + b})" for q, (a, b) in enumerate(zip(starts, widths)))
            raise ValueError(
                f"{loss}: the vocabulary slices (vocab_start, vocab_start + V_r) must tile [0, {total}) without "
                f"gaps or overlaps; received {slices}"
            )
        position += w
    return starts[rank], total
