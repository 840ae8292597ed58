r"""Sequence losses: connectionist temporal classification (CTC).

CTC scores an unaligned label sequence against per-frame class
log-probabilities by summing the probability of every alignment (a frame-level
path over the classes plus a ``blank``) that collapses to the labels (merge
repeats, then drop blanks). The sum is computed in log space by the
forward (alpha) recursion over the extended label sequence
:math:`l' = (b, l_1, b, l_2, \dots, b, l_S, b)` of length :math:`2S+1`; the
backward (beta) recursion gives the closed-form gradient.

Shapes: ``log_probs`` (T, N, C) (time, batch, classes, PyTorch's layout) or
(T, C) for one sequence; ``targets`` padded (N, S) or concatenated
(sum(target_lengths),); ``input_lengths`` and ``target_lengths`` (N,)
integers. One loss per sequence: ``reduction="none"`` returns shape (N,).

The recursions are vectorised over the batch and the lattice, shape
(N, 2S+1); a Python loop runs over the time steps (on JAX, ``jax.lax.scan``
runs the same step, so ``jax.jit`` compiles in time independent of T).
Everything goes through the array-API namespace of the inputs, so torch and
JAX autograd flow through the forward pass. When the lengths are concrete the
lattice is trimmed to the longest target and the loop to the longest input;
under ``jax.jit`` with traced lengths it keeps the full width (for
concatenated targets, their total length) and every time step.
"""

from __future__ import annotations

import math

import array_api_compat

import numpy as np

from .. import domains as D
from .._array import (
    array_device,
    array_namespace,
    array_size,
    is_array,
    is_concrete,
    logaddexp3,
    masked_logsumexp,
    one_hot,
)
from .._reduce import reduce
from .._validate import (
    any_true,
    check_bool,
    check_int,
    check_shape,
    check_values,
    per_sample,
    refuse_where,
    structured,
    value_checks,
)
from ..registry import Param, derivatives_of, loss

__all__ = ["ctc"]

_LOSS = "ctc"


# -- log-space helpers ---------------------------------------------------------


def _neg_inf(xp, like):
    return xp.full_like(like, -math.inf)


# -- validation and the lattice ---------------------------------------------------


def _to_backend(value, like):
    """Python ints and sequences of ints (lengths, targets) become arrays of
    ``like``'s backend and device, as PyTorch accepts tuples of lengths."""
    if (
        isinstance(value, (list, tuple, int))
        and not isinstance(value, bool)
        and is_array(like)
    ):
        xp = array_namespace(like)
        return xp.asarray(value, device=array_device(like))
    return value


def _index_dtype(xp, like):
    """The namespace's default integer dtype (int32 on JAX without x64)."""
    return xp.asarray(0, device=array_device(like)).dtype


def _known(x):
    """A 0-d integer array's value, or None while it is traced (an array
    closed over by ``jax.jit`` gives traced results too) or where reading it
    would cost a host read (check policy "async" or "off": the lattice then
    keeps its full width, the same result)."""
    return int(x) if is_concrete(x) and value_checks(x) == "full" else None


def _check_range(xp, name, x, high: int, what: str):
    """Integers of ``x`` in [0, high]."""
    if not is_concrete(x) or array_size(x) == 0:
        return
    bad = xp.logical_or(x < 0, x > high)
    rule = f"{_LOSS}: {name} must be in [0, {high}] ({what})"
    refuse_where(xp, bad, rule,
                 lambda: f"{rule}; received {int(xp.min(x)) if any_true(xp, x < 0) else int(xp.max(x))}")


def _lattice(log_probs, targets, input_lengths, target_lengths, *, blank, zero_infinity, weight=None, mask=None,
             reduction="mean"):
    """Validate a CTC call; return its pieces on the batched (T, N, C) form."""
    dev_like = log_probs
    targets = _to_backend(targets, dev_like)
    input_lengths = _to_backend(input_lengths, dev_like)
    target_lengths = _to_backend(target_lengths, dev_like)
    xp, arrays, dtype, out_dtype = structured(
        _LOSS,
        {"log_probs": log_probs, "targets": targets, "input_lengths": input_lengths,
         "target_lengths": target_lengths, "weight": weight, "mask": mask},
        reduction=reduction,
        floating=("log_probs",),
        integral=("targets", "input_lengths", "target_lengths"),
    )
    lp, y = arrays["log_probs"], arrays["targets"]
    il, tl = arrays["input_lengths"], arrays["target_lengths"]
    blank = check_int(_LOSS, "blank", blank)
    check_bool(_LOSS, "zero_infinity", zero_infinity)
    if lp.ndim not in (2, 3):
        raise ValueError(
            f"{_LOSS}: log_probs must have shape (T, N, C) (time, batch, classes) or (T, C) for one sequence; "
            f"received shape {tuple(lp.shape)}"
        )
    unbatched = lp.ndim == 2
    if unbatched:
        if y.ndim != 1:
            raise ValueError(
                f"{_LOSS}: targets must have shape (S,) for unbatched log_probs of shape (T, C); "
                f"received shape {tuple(y.shape)}"
            )
        for name, x in (("input_lengths", il), ("target_lengths", tl)):
            if tuple(x.shape) not in ((), (1,)):
                raise ValueError(
                    f"{_LOSS}: {name} must have shape () or (1,) for unbatched log_probs of shape (T, C); "
                    f"received shape {tuple(x.shape)}"
                )
        lp = xp.expand_dims(lp, axis=1)
        y = xp.expand_dims(y, axis=0)
        il, tl = xp.reshape(il, (1,)), xp.reshape(tl, (1,))
    T, N, C = lp.shape
    if not 0 <= blank < C:
        raise ValueError(f"{_LOSS}: blank must be in [0, C) = [0, {C}); received blank={blank}")
    check_shape(_LOSS, "input_lengths", il, (N,), "one length per sequence")
    check_shape(_LOSS, "target_lengths", tl, (N,), "one length per sequence")
    itype = _index_dtype(xp, lp)
    il, tl, y = xp.astype(il, itype), xp.astype(tl, itype), xp.astype(y, itype)
    _check_range(xp, "input_lengths", il, T, "the time steps of log_probs")
    longest = _known(xp.max(tl)) if N else 0  # None while traced: the lattice keeps its full width
    if y.ndim == 2:
        if y.shape[0] != N:
            raise ValueError(
                f"{_LOSS}: targets must have shape (N, S) = ({N}, S) when padded, or be 1-D when "
                f"concatenated; received shape {tuple(y.shape)}"
            )
        _check_range(xp, "target_lengths", tl, y.shape[1], "the width S of the padded targets")
        width = y.shape[1]
        if longest is not None:
            width = min(width, longest)
        labels = y[:, :width]
    elif y.ndim == 1:
        total = y.shape[0]
        _check_range(xp, "target_lengths", tl, total, "the length of the concatenated targets")
        expected = _known(xp.sum(tl))
        if expected is not None and expected != total:
            raise ValueError(
                f"{_LOSS}: targets must hold sum(target_lengths) = {expected} labels when concatenated "
                f"(1-D); received {total}"
            )
        width = total if longest is None else longest
        dev = array_device(y)
        if width == 0 or total == 0:
            labels = xp.zeros((N, 0), dtype=itype, device=dev)
        else:
            starts = xp.cumulative_sum(tl) - tl
            index = xp.expand_dims(starts, axis=1) + xp.expand_dims(xp.arange(width, dtype=itype, device=dev), 0)
            index = xp.clip(index, 0, total - 1)
            labels = xp.reshape(xp.take(y, xp.reshape(index, (-1,)), axis=0), (N, width))
    else:
        raise ValueError(
            f"{_LOSS}: targets must be padded (N, S) or concatenated 1-D (sum(target_lengths),); "
            f"received shape {tuple(y.shape)}"
        )
    dev = array_device(labels)
    used = xp.expand_dims(xp.arange(labels.shape[1], dtype=itype, device=dev), 0) < xp.expand_dims(tl, 1)
    if array_size(labels):
        out_of_range = xp.logical_and(used, xp.logical_or(labels < 0, labels >= C))

        def first_bad():
            bad = int(xp.max(xp.where(out_of_range, labels, xp.full_like(labels, -1))))
            if bad < C:  # only negative labels are out of range
                bad = int(xp.min(xp.where(out_of_range, labels, xp.zeros_like(labels))))
            return bad

        rule = f"{_LOSS}: targets must hold class indices in [0, {C}) within target_lengths"
        refuse_where(xp, out_of_range, rule, lambda: f"{rule}; received {first_bad()}")
        rule = f"{_LOSS}: targets must not contain the blank label within target_lengths (blank={blank})"
        refuse_where(xp, xp.logical_and(used, labels == blank), rule, lambda: f"{rule}; received {blank}")
    check_values(_LOSS, "log_probs", xp, lp, D.NONPOSITIVE, infinite_ok=True)  # log 0 = -inf is a probability
    labels = xp.where(used, labels, xp.full_like(labels, blank))  # padding: any valid index
    shape = () if unbatched else (N,)
    batch = per_sample(_LOSS, xp, shape, "one value per sequence", weight=arrays["weight"], mask=arrays["mask"],
                       dtype=dtype, out_dtype=out_dtype, input=lp)
    return batch, lp, labels, il, tl, unbatched


def _extended(xp, labels, blank: int):
    """The extended labels (N, 2S+1) = (b, l1, b, l2, ..., b, lS, b) and where
    a path may skip from s - 2 to s (a label differing from the previous one)."""
    N, S = labels.shape
    blanks = xp.full_like(labels, blank)
    col = xp.full((N, 1), blank, dtype=labels.dtype, device=array_device(labels))
    ext = xp.concat([xp.reshape(xp.stack([blanks, labels], axis=2), (N, 2 * S)), col], axis=1)
    L = 2 * S + 1
    pos = xp.expand_dims(xp.arange(L, dtype=labels.dtype, device=array_device(labels)), 0)
    if L > 2:
        prev2 = xp.concat([ext[:, :2], ext[:, :-2]], axis=1)
        skip = xp.logical_and(xp.logical_and(pos % 2 == 1, pos >= 2), ext != prev2)
    else:
        skip = xp.zeros(ext.shape, dtype=xp.bool, device=array_device(labels))
    return ext, skip, pos


def _emissions(xp, lp, ext):
    """log_probs at the extended labels: (T, N, L)."""
    T, N, C = lp.shape
    L = ext.shape[1]
    dev = array_device(lp)
    t = xp.reshape(xp.arange(T, dtype=ext.dtype, device=dev), (T, 1, 1))
    n = xp.reshape(xp.arange(N, dtype=ext.dtype, device=dev), (1, N, 1))
    index = (t * N + n) * C + xp.expand_dims(ext, 0)
    flat = xp.take(xp.reshape(lp, (-1,)), xp.reshape(index, (-1,)), axis=0)
    return xp.reshape(flat, (T, N, L))


def _scan(xp, body, carry, emis, steps: int, *, reverse: bool = False):
    """Run ``carry, out = body(carry, t, emis[t])`` for t < ``steps`` (backwards
    with ``reverse``); return the last carry and the outputs stacked on a
    leading time axis (None if ``body`` returns None). A Python loop, except
    on JAX, where ``jax.lax.scan`` runs the same body: an unrolled loop makes
    XLA's compile time grow faster than linearly with T."""
    if array_api_compat.is_jax_namespace(xp):
        import jax

        times = xp.arange(steps, dtype=_index_dtype(xp, emis), device=array_device(emis))
        return jax.lax.scan(lambda c, x: body(c, x[0], x[1]), carry, (times, emis[:steps, ...]), reverse=reverse)
    outs = [None] * steps
    frames = xp.unstack(emis[:steps, ...], axis=0) if steps else ()  # one autograd node, not one per step
    for t in range(steps - 1, -1, -1) if reverse else range(steps):
        carry, outs[t] = body(carry, t, frames[t])
    if steps == 0 or outs[0] is None:
        return carry, None
    return carry, xp.stack(outs, axis=0)


def _constants(xp, like):
    """-inf and 1 of ``like``'s shape, and a (N, 2) block of -inf for the shifts."""
    neg = xp.full_like(like, -math.inf)
    return neg, xp.ones_like(like), neg[:, :2] if like.shape[1] >= 2 else xp.concat([neg, neg], axis=1)


def _forward(xp, emis, skip, il, pos, steps: int, keep_all: bool = False):
    """Alpha recursion. alpha_t(s) = log P(prefix path ending in state s at t),
    emission at t included; frozen once t >= input_length. Starts from a
    virtual step -1 at state 0 with log-probability 0. Returns the last alpha
    and, with ``keep_all``, every alpha_t stacked (steps, N, L)."""
    start = xp.zeros(skip.shape, dtype=emis.dtype, device=array_device(emis))
    neg, one, neg2 = _constants(xp, start)
    alpha = xp.where(pos == 0, start, neg)
    il = xp.expand_dims(il, 1)
    L = skip.shape[1]

    def body(alpha, t, emis_t):
        padded = xp.concat([neg2, alpha], axis=1)  # alpha(s - 2) = padded[s], alpha(s - 1) = padded[s + 1]
        jump = xp.where(skip, padded[:, :L], neg)
        new = logaddexp3(xp, alpha, padded[:, 1 : L + 1], jump, neg, one) + emis_t
        alpha = xp.where(il > t, new, alpha)
        return alpha, (alpha if keep_all else None)

    return _scan(xp, body, alpha, emis, steps)


def _backward(xp, emis, skip, il, final, steps: int):
    """Beta recursion, every beta_t stacked (steps, N, L): beta_t(s) = log P(a
    path from state s at t to an end state), emissions after t included;
    ``final`` (0 at the end states, -inf elsewhere) for t >= input_length - 1."""
    if steps == 0:
        return xp.zeros((0, *final.shape), dtype=final.dtype, device=array_device(final))
    neg, one, neg2 = _constants(xp, final)
    il = xp.expand_dims(il, 1)
    L = skip.shape[1]
    skip_from = xp.concat([skip[:, 2:], xp.zeros_like(skip[:, :2])], axis=1)  # may jump s -> s + 2

    def body(beta, t, emis_next):  # beta_{t+1} -> beta_t
        g = beta + emis_next
        padded = xp.concat([g, neg2], axis=1)  # g(s + 1) = padded[s + 1], g(s + 2) = padded[s + 2]
        jump = xp.where(skip_from, padded[:, 2:], neg)
        beta = xp.where(il - 1 <= t, final, logaddexp3(xp, g, padded[:, 1 : L + 1], jump, neg, one))
        return beta, beta

    _, betas = _scan(xp, body, final, emis[1:, ...], steps - 1, reverse=True)
    last = xp.expand_dims(final, 0)
    return last if betas is None else xp.concat([betas, last], axis=0)


def _end_states(xp, pos, tl):
    """The two states a complete path may end in: 2S' and 2S' - 1."""
    end = 2 * xp.expand_dims(tl, 1)
    return xp.logical_or(pos == end, pos == end - 1)


# -- the loss ----------------------------------------------------------------------


# -- registry metadata shared by several definitions ---------------------------

def _ctc_example(rng, *, T=12, N=3, C=6, S=4):
    """Random log-probabilities (log-softmax of normal logits) and padded
    targets: labels drawn from [1, C - 2], so that both blank=0 and
    blank=C-1 are valid, with at least one repeated label; target lengths in
    [1, S] (so "mean"'s divisor clamp(target_lengths, 1) is the lengths
    themselves) and input lengths in [T - 3, T], always long enough."""
    z = rng.normal(0.0, 1.5, size=(T, N, C))
    log_probs = z - np.log(np.exp(z - z.max(-1, keepdims=True)).sum(-1, keepdims=True)) - z.max(-1, keepdims=True)
    targets = rng.integers(1, C - 1, size=(N, S))
    targets[0, 1] = targets[0, 0]  # a repeat needs a blank between its frames
    target_lengths = rng.integers(1, S + 1, size=N)
    target_lengths[0] = S
    input_lengths = rng.integers(T - 3, T + 1, size=N)
    return (log_probs, targets, input_lengths.astype(np.int64), target_lengths.astype(np.int64)), {}


@loss(
    aliases=("ctc_loss", "connectionist_temporal_classification"),
    task="sequence",
    kind="structured",
    input_space="log-probabilities",
    link="identity",
    summary="Connectionist temporal classification: sequence labelling without a frame alignment "
            "(speech, handwriting, OCR).",
    estimates="the probability of the label sequence, summed over its alignments",
    input_domain=D.NONPOSITIVE,
    target_domain=D.CLASS_INDEX,
    params=(
        Param("blank", None, "index of the blank class, in [0, C)", kind="int"),
        Param("zero_infinity", None, "replace infinite losses (impossible targets) and their gradients by 0",
              kind="bool"),
    ),
    inputs=("log_probs", "targets", "input_lengths", "target_lengths"),
    example=_ctc_example,
    mean_divides_by="target_lengths",
    robust=False,
    convex=False,
    hessian_nonnegative=False,
    minimum=0.0,
    param_grid=({"blank": 5}, {"zero_infinity": True}),
    peers=("torch.nn.functional.ctc_loss", "optax.losses.ctc_loss"),
    references=(
        ("Graves, A., Fernandez, S., Gomez, F., Schmidhuber, J. (2006). Connectionist Temporal Classification: "
        "Labelling Unsegmented Sequence Data with Recurrent Neural Networks. ICML."),
    ),
    notes="'mean' divides each sequence's loss by max(target_length, 1), then averages over the batch "
          "(PyTorch's mean); with weight/mask, sum(w m l / max(S', 1)) / sum(w m). Impossible targets give inf "
          "(0 with zero_infinity) and a zero gradient. The closed-form gradient is the true derivative with "
          "respect to log_probs; PyTorch's ctc_loss backward adds exp(log_probs) (its gradient with respect to "
          "logits under log_softmax). Concave in log_probs (minus a log-sum-exp of linear functions), so "
          "convex=False.",
)
def ctc(log_probs, targets, input_lengths, target_lengths, *, blank=0, zero_infinity=False, weight=None, mask=None,
        reduction="mean"):
    r"""Connectionist temporal classification loss on log-probabilities.

    For one sequence with frame log-probabilities :math:`x_{t,c}`
    (:math:`t < T'`, the input length) and labels :math:`l` (length
    :math:`S'`, the target length):

    .. math::
        \ell = -\log \sum_{\pi \in \mathcal{B}^{-1}(l)} \prod_{t=0}^{T'-1} e^{x_{t,\pi_t}}

    where :math:`\mathcal{B}` collapses a frame path :math:`\pi` (merge
    repeats, then drop ``blank``). Computed by the forward recursion in log
    space over the extended labels (blank between and around the labels);
    a repeated label needs a blank between its two frames, so a target with
    :math:`r` adjacent repeats needs :math:`T' \ge S' + r`.

    Identical to ``torch.nn.functional.ctc_loss(log_probs, targets,
    input_lengths, target_lengths, blank=blank, reduction=...,
    zero_infinity=...)``: ``"none"`` gives one loss per sequence, ``"sum"``
    their sum, and ``"mean"`` divides each loss by its target length (at least
    1) and then averages over the batch (with ``weight`` / ``mask``:
    :math:`\sum_n w_n m_n \ell_n / \max(S'_n, 1) \,/\, \sum_n w_n m_n`).
    Per sequence it equals ``optax.losses.ctc_loss`` (optax takes logits of
    shape (N, T, C), paddings instead of lengths, and normalises them with
    log-softmax itself).

    A target that no path of the input length can produce (too long, or too
    many repeats) has loss ``inf`` with a zero gradient, or 0 (with a zero
    gradient) under ``zero_infinity=True``. Log-probabilities of exactly
    -inf (impossible classes) are allowed: the loss stays finite, with finite
    gradients, while a path avoiding them exists. NaN in ``log_probs`` within
    the input lengths propagates; frames at ``t >= input_length`` are ignored
    (zero gradient). Labels beyond ``target_lengths`` in padded targets are
    ignored.

    The closed-form gradient, ``losskit.get("ctc").gradient(log_probs,
    targets, input_lengths, target_lengths)``, is the true partial derivative
    of the per-sequence losses' sum with respect to ``log_probs`` (the
    forward-backward occupation, :math:`-\sum_{s: l'_s = c}
    \alpha_t(s)\beta_t(s) / p(l)`), equal to autograd through this function
    and to finite differences. It is *not* what PyTorch's ``ctc_loss``
    backward returns: PyTorch returns :math:`e^{x_{t,c}}` plus that, which is
    the gradient with respect to logits :math:`z` under the assumption
    ``log_probs = log_softmax(z)``; the two agree after the chain rule
    through ``log_softmax``.

    Speed: on JAX (``jax.jit``) it runs at ``optax.losses.ctc_loss``'s speed;
    on PyTorch, autograd through the per-step recursion is several times slower
    than ``ctc_loss``'s native kernel (``benchmarks/RESULTS.md``), which gives
    the same values where speed matters more than the true gradient.

    Args:
        log_probs: (T, N, C) or (T, C) floating log-probabilities (<= 0; -inf allowed).
        targets: integer labels, padded (N, S) or concatenated (sum(target_lengths),);
            labels in [0, C) other than ``blank``. For (T, C) log_probs, (S,).
        input_lengths: (N,) integers in [0, T] (or () for one sequence); a
            Python sequence of ints is accepted.
        target_lengths: (N,) integers in [0, S] (or ()); an empty target
            scores the all-blank path.
        blank: index of the blank class, in [0, C).
        zero_infinity: replace infinite losses (impossible targets) by 0.
        weight, mask: per-sequence weights / boolean mask, shape (N,).
        reduction: ``"mean"`` (per-target-length, as PyTorch), ``"sum"`` or ``"none"``.

    >>> import numpy as np, losskit
    >>> lp = np.log(np.full((2, 1, 3), 1 / 3))  # T=2 frames, one sequence, 3 classes
    >>> # paths for label [1]: (1,1), (0,1), (1,0) -> probability 3/9
    >>> round(float(losskit.ctc(lp, np.array([[1]]), np.array([2]), np.array([1]), reduction="sum")), 6)
    1.098612

    References: Graves, Fernandez, Gomez, Schmidhuber (2006), Connectionist
    temporal classification: labelling unsegmented sequence data with
    recurrent neural networks, ICML.
    """
    batch, lp, labels, il, tl, unbatched = _lattice(
        log_probs, targets, input_lengths, target_lengths, blank=blank, zero_infinity=zero_infinity, weight=weight,
        mask=mask, reduction=reduction)
    xp = batch.xp
    nll = _sequence_nll(xp, lp, labels, il, tl, blank)
    if zero_infinity:
        nll = xp.where(nll == math.inf, xp.zeros_like(nll), nll)
    if reduction == "mean":
        nll = nll / xp.astype(xp.maximum(tl, xp.ones_like(tl)), nll.dtype)
    if unbatched:
        nll = xp.reshape(nll, ())
    return reduce(batch, nll, reduction)


def _steps(xp, il, T: int) -> int:
    if not array_size(il):
        return 0
    longest = _known(xp.max(il))
    return T if longest is None else min(T, longest)


def _sequence_nll(xp, lp, labels, il, tl, blank):
    ext, skip, pos = _extended(xp, labels, blank)
    emis = _emissions(xp, lp, ext)
    alpha, _ = _forward(xp, emis, skip, il, pos, _steps(xp, il, lp.shape[0]))
    return -masked_logsumexp(xp, alpha, _end_states(xp, pos, tl), axis=1)


@derivatives_of(ctc)
def _ctc_derivatives(log_probs, targets, input_lengths, target_lengths, *, full=False, blank, zero_infinity,
                     **ignored):
    r"""Gradient of the per-sequence losses' sum with respect to ``log_probs``
    (shape of ``log_probs``), and ``None`` (no Hessian).

    With :math:`\alpha_t(s)` the forward and :math:`\beta_t(s)` the backward
    log-probabilities (:math:`\beta` without the emission at :math:`t`),
    :math:`\partial \ell / \partial x_{t,c} = -\sum_{s: l'_s = c}
    \exp(\alpha_t(s) + \beta_t(s) + \ell)` for :math:`t <` input length, 0
    after it, and 0 for an impossible target (infinite loss), with or without
    ``zero_infinity``. This is the true derivative, not PyTorch's
    ``ctc_loss`` backward (which adds :math:`e^{x}`, see ``ctc``).
    """
    check_bool(_LOSS, "full", full)
    if full:
        raise ValueError(f"{_LOSS}: full must be False (CTC has no closed-form Hessian); received full=True")
    batch, lp, labels, il, tl, unbatched = _lattice(
        log_probs, targets, input_lengths, target_lengths, blank=blank, zero_infinity=zero_infinity)
    xp = batch.xp
    T, N, C = lp.shape
    ext, skip, pos = _extended(xp, labels, blank)
    emis = _emissions(xp, lp, ext)
    steps = _steps(xp, il, T)
    alpha, alphas = _forward(xp, emis, skip, il, pos, steps, keep_all=True)
    end = _end_states(xp, pos, tl)
    nll = -masked_logsumexp(xp, alpha, end, axis=1)
    feasible = xp.isfinite(nll)
    nll_safe = xp.where(feasible, nll, xp.zeros_like(nll))
    dev = array_device(lp)
    if steps:
        betas = _backward(xp, emis, skip, il, xp.where(end, xp.zeros_like(alpha), _neg_inf(xp, alpha)), steps)
        times = xp.reshape(xp.arange(steps, dtype=il.dtype, device=dev), (steps, 1, 1))
        active = xp.logical_and(xp.reshape(il, (1, N, 1)) > times, xp.reshape(feasible, (1, N, 1)))
        log_occupancy = alphas + betas + xp.reshape(nll_safe, (1, N, 1))
        occupancy = xp.exp(xp.where(active, log_occupancy, _neg_inf(xp, log_occupancy)))  # (steps, N, L)
        hot = one_hot(xp, ext, C, axis=2, dtype=lp.dtype)  # (N, L, C)
        grad = -xp.permute_dims(xp.matmul(xp.permute_dims(occupancy, (1, 0, 2)), hot), (1, 0, 2))  # (steps, N, C)
        if steps < T:
            grad = xp.concat([grad, xp.zeros((T - steps, N, C), dtype=lp.dtype, device=dev)], axis=0)
    else:
        grad = xp.zeros((T, N, C), dtype=lp.dtype, device=dev)
    if unbatched:
        grad = grad[:, 0, :]
    return batch.out(grad), None
