"""Sequence losses (CTC): a path-enumeration reference, peers
(torch.nn.functional.ctc_loss, optax.losses.ctc_loss; values and gradients),
the closed-form gradient against autograd and finite differences, edge cases
and backends."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import BACKENDS, HAVE_JAX, HAVE_TORCH, finite_difference_full, to, to_numpy
from reference import sequence as ref

import losskit

torch = pytest.importorskip("torch") if HAVE_TORCH else None
needs_torch = pytest.mark.skipif(not HAVE_TORCH, reason="torch is not installed")
needs_jax = pytest.mark.skipif(not HAVE_JAX, reason="jax is not installed")

REDUCTIONS = ("none", "sum", "mean")


def log_softmax(z):
    m = z.max(axis=-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))


def draw(rng, T, N, C, S, *, blank=0, repeats=True, min_input=None, min_target=0):
    """Log-probabilities (T, N, C), padded targets (N, S) with labels other
    than ``blank`` (garbage, even the blank, beyond each target length),
    input lengths and target lengths."""
    lp = log_softmax(rng.normal(0.0, 1.5, size=(T, N, C)))
    labels = np.array([c for c in range(C) if c != blank])
    targets = rng.choice(labels, size=(N, S))
    if repeats and S >= 2:
        targets[0, 1] = targets[0, 0]
    target_lengths = rng.integers(min_target, S + 1, size=N)
    target_lengths[0] = S
    low = T // 2 if min_input is None else min_input
    input_lengths = rng.integers(low, T + 1, size=N)
    input_lengths[0] = T
    for n in range(N):  # garbage beyond the target length, blank included
        targets[n, target_lengths[n]:] = rng.integers(0, C, size=S - target_lengths[n])
    return lp, targets, input_lengths, target_lengths


def concatenate(targets, target_lengths):
    return np.concatenate([targets[n, :k] for n, k in enumerate(target_lengths)]).astype(np.int64)


def weights_and_masks(rng, N):
    return [
        (None, None),
        (rng.uniform(0.2, 2.0, size=N), None),
        (None, rng.random(N) < 0.6),
        (rng.uniform(0.2, 2.0, size=N), np.array([True] + [False] * (N - 1))),
    ]


# -- the reference -----------------------------------------------------------------


def test_reference_recursion_equals_path_enumeration(rng):
    for _ in range(20):
        T, C = int(rng.integers(1, 6)), int(rng.integers(2, 5))
        lp = log_softmax(rng.normal(size=(T, C)))
        blank = int(rng.integers(0, C))
        target = list(rng.choice([c for c in range(C) if c != blank], size=int(rng.integers(0, 4))))
        a, b = ref.ctc_path_sum(lp, target, blank), ref.ctc_dp(lp, target, blank)
        assert (a == b == math.inf) or math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)


@pytest.mark.parametrize("blank", ["first", "last", "middle"])
@pytest.mark.parametrize("layout", ["padded", "concatenated"])
@pytest.mark.parametrize("zero_infinity", [False, True])
def test_matches_path_enumeration(blank, layout, zero_infinity, rng):
    T, N, C, S = 5, 4, 4, 3
    b = {"first": 0, "last": C - 1, "middle": 1}[blank]
    lp, y, il, tl = draw(rng, T, N, C, S, blank=b, min_input=0)
    il[1], tl[2] = 0, 0  # an empty input and an empty target
    tl[3], il[3] = 3, 2  # longer than its input: impossible
    targets = y if layout == "padded" else concatenate(y, tl)
    for weight, mask in weights_and_masks(rng, N):
        for reduction in REDUCTIONS:
            got = losskit.ctc(lp, targets, il, tl, blank=b, zero_infinity=zero_infinity, weight=weight, mask=mask,
                              reduction=reduction)
            want = ref.ctc(lp, targets, il, tl, blank=b, zero_infinity=zero_infinity, weight=weight, mask=mask,
                           reduction=reduction)
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_matches_recursion_reference_at_moderate_size(rng):
    lp, y, il, tl = draw(rng, 30, 5, 6, 8, min_target=0)
    for reduction in REDUCTIONS:
        got = losskit.ctc(lp, y, il, tl, reduction=reduction)
        want = ref.ctc(lp, y, il, tl, reduction=reduction, method="dp")
        np.testing.assert_allclose(got, want, rtol=1e-11)


def test_mean_divides_by_target_lengths_at_least_one(rng):
    lp, y, il, tl = draw(rng, 8, 4, 5, 3)
    tl[1] = 0
    none = losskit.ctc(lp, y, il, tl, reduction="none")
    np.testing.assert_allclose(losskit.ctc(lp, y, il, tl), (none / np.maximum(tl, 1)).mean(), rtol=1e-13)
    assert losskit.get("ctc").spec.mean_divides_by == "target_lengths"


def test_worked_values():
    # uniform over 3 classes, T=2, label [1]: paths 11, 01, 10 -> 3/9
    lp = np.log(np.full((2, 1, 3), 1 / 3))
    assert math.isclose(float(losskit.ctc(lp, np.array([[1]]), np.array([2]), np.array([1]), reduction="sum")),
                        math.log(3), rel_tol=1e-14)
    # label [1, 1] needs 1 b 1: one path of probability 1/27 at T=3
    lp3 = np.log(np.full((3, 1, 3), 1 / 3))
    assert math.isclose(float(losskit.ctc(lp3, np.array([[1, 1]]), np.array([3]), np.array([2]), reduction="sum")),
                        3 * math.log(3), rel_tol=1e-14)


# -- PyTorch -----------------------------------------------------------------------


def torch_case(rng, blank, zero_infinity, impossible):
    T, N, C, S = 20, 6, 7, 6
    b = 0 if blank == "first" else C - 1
    lp, y, il, tl = draw(rng, T, N, C, S, blank=b, min_target=0)
    tl[1] = 0
    if impossible:
        il[2], tl[2] = 4, 5  # too long for its input
        y[3, :4] = y[3, 0]
        il[3], tl[3] = 6, 4  # four equal labels need 7 frames
    return lp, y, il, tl, b


@needs_torch
@pytest.mark.parametrize("blank", ["first", "last"])
@pytest.mark.parametrize("zero_infinity", [False, True])
@pytest.mark.parametrize("layout", ["padded", "concatenated"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_matches_torch_ctc_loss_values_and_gradients(blank, zero_infinity, layout, reduction, rng):
    """Values against torch.nn.functional.ctc_loss; gradients with respect to
    logits z through log_softmax(z) (torch's own backward is a logit gradient,
    see ``ctc``)."""
    impossible = zero_infinity
    lp, y, il, tl, b = torch_case(rng, blank, zero_infinity, impossible)
    z = rng.normal(0.0, 2.0, size=lp.shape)
    targets = y if layout == "padded" else concatenate(y, tl)
    tt, ti, tn = (torch.from_numpy(np.asarray(a).copy()) for a in (targets, il, tl))

    z1 = torch.tensor(z, requires_grad=True)
    mine = losskit.ctc(torch.log_softmax(z1, dim=-1), tt, ti, tn, blank=b, zero_infinity=zero_infinity,
                       reduction=reduction)
    z2 = torch.tensor(z, requires_grad=True)
    theirs = torch.nn.functional.ctc_loss(torch.log_softmax(z2, dim=-1), tt, ti, tn, blank=b,
                                          zero_infinity=zero_infinity, reduction=reduction)
    np.testing.assert_allclose(mine.detach().numpy(), theirs.detach().numpy(), rtol=1e-11, atol=1e-12)
    mine.sum().backward()
    theirs.sum().backward()
    assert torch.isfinite(z1.grad).all()
    np.testing.assert_allclose(z1.grad.numpy(), z2.grad.numpy(), rtol=1e-9, atol=1e-12)


@needs_torch
def test_torch_backward_is_the_logit_gradient_not_the_log_probability_gradient(rng):
    """torch.nn.functional.ctc_loss's gradient with respect to log_probs
    equals the true derivative (ours) plus exp(log_probs) within the input
    lengths, and 0 after them."""
    lp, y, il, tl = draw(rng, 12, 4, 5, 4)
    t = torch.tensor(lp, requires_grad=True)
    torch.nn.functional.ctc_loss(t, torch.from_numpy(y), torch.from_numpy(il), torch.from_numpy(tl),
                                 reduction="sum").backward()
    ours = losskit.get("ctc").gradient(lp, y, il, tl)
    frames = (np.arange(12)[:, None] < il[None, :])[:, :, None]
    np.testing.assert_allclose(t.grad.numpy(), np.where(frames, ours + np.exp(lp), 0.0), rtol=1e-9, atol=1e-12)
    assert not np.allclose(t.grad.numpy(), ours)


# -- optax -------------------------------------------------------------------------


@needs_jax
def test_matches_optax_ctc_loss(rng):
    """optax.losses.ctc_loss(logits (N, T, C), logit_paddings, labels,
    label_paddings, blank_id=...) returns per-sequence losses on logits
    (the blank in the middle of the classes; torch covers first and last)."""
    import jax
    import jax.numpy as jnp
    import optax

    T, N, C, S, blank = 12, 5, 5, 5, 2
    _, y, il, tl = draw(rng, T, N, C, S, blank=blank, min_target=0)
    z = rng.normal(0.0, 2.0, size=(N, T, C))
    logit_paddings = (np.arange(T)[None, :] >= il[:, None]).astype(np.float64)
    label_paddings = (np.arange(S)[None, :] >= tl[:, None]).astype(np.float64)
    labels = np.where(label_paddings > 0, 0, y)

    def theirs(logits):
        return optax.losses.ctc_loss(logits, jnp.asarray(logit_paddings), jnp.asarray(labels),
                                     jnp.asarray(label_paddings), blank_id=blank)

    def mine(logits):
        log_probs = jax.nn.log_softmax(jnp.transpose(logits, (1, 0, 2)), axis=-1)
        return losskit.ctc(log_probs, jnp.asarray(y), jnp.asarray(il), jnp.asarray(tl), blank=blank, reduction="none")

    zj = jnp.asarray(z)
    np.testing.assert_allclose(np.asarray(jax.jit(mine)(zj)), np.asarray(jax.jit(theirs)(zj)), rtol=1e-9)
    g_mine = jax.jit(jax.grad(lambda v: jnp.sum(mine(v))))(zj)
    g_theirs = jax.jit(jax.grad(lambda v: jnp.sum(theirs(v))))(zj)
    np.testing.assert_allclose(np.asarray(g_mine), np.asarray(g_theirs), rtol=1e-7, atol=1e-10)


# -- the closed-form gradient ---------------------------------------------------------


@pytest.mark.parametrize("layout", ["padded", "concatenated"])
@pytest.mark.parametrize("blank", [0, 3])
def test_closed_form_gradient_equals_finite_differences(layout, blank, rng):
    lp, y, il, tl = draw(rng, 6, 3, 4, 2, blank=blank, min_target=0)
    il[1] = 4
    targets = y if layout == "padded" else concatenate(y, tl)
    grad = losskit.get("ctc", blank=blank).gradient(lp, targets, il, tl)
    fd = finite_difference_full(lambda x: losskit.ctc(x, targets, il, tl, blank=blank, reduction="sum"), lp)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8)
    assert np.all(grad[4:, 1, :] == 0.0)  # frames past the input length


@needs_torch
@pytest.mark.parametrize("zero_infinity", [False, True])
def test_closed_form_gradient_equals_autograd(zero_infinity, rng):
    lp, y, il, tl = draw(rng, 14, 5, 6, 5, min_target=0)
    lp[:, 0, 3] = -np.inf  # an impossible class: a finite loss while a path avoids it
    y[0, :] = [1, 1, 2, 4, 5]
    y[4, :] = [2, 3, 2, 3, 1]
    il[4], tl[4] = 3, 5  # impossible: infinite loss, zero gradient
    x = torch.tensor(lp, requires_grad=True)
    out = losskit.ctc(x, torch.from_numpy(y), torch.from_numpy(il), torch.from_numpy(tl),
                      zero_infinity=zero_infinity, reduction="none")
    assert math.isfinite(float(out[0].detach())) and (float(out[4].detach()) == (0.0 if zero_infinity else math.inf))
    out.sum().backward()
    grad = losskit.get("ctc", zero_infinity=zero_infinity).gradient(lp, y, il, tl)
    assert np.all(np.isfinite(grad)) and np.all(grad[:, 4, :] == 0.0)
    np.testing.assert_allclose(grad, x.grad.numpy(), rtol=1e-10, atol=1e-12)
    # the occupation of each frame sums to one over the classes: sum_c grad = -1 within the input
    frames = np.arange(14)[:, None] < il[None, :]
    np.testing.assert_allclose(grad.sum(-1)[:, :4], np.where(frames, -1.0, 0.0)[:, :4], atol=1e-12)


@needs_torch
def test_closed_form_gradient_on_torch_and_unbatched(rng):
    lp, y, il, tl = draw(rng, 7, 1, 4, 3)
    g_batched = losskit.get("ctc").gradient(lp, y, il, tl)
    g = losskit.get("ctc").gradient(torch.from_numpy(lp[:, 0]), torch.from_numpy(y[0]), int(il[0]), int(tl[0]))
    assert isinstance(g, torch.Tensor) and tuple(g.shape) == (7, 4)
    np.testing.assert_allclose(g.numpy(), g_batched[:, 0], rtol=1e-13)


# -- edge cases --------------------------------------------------------------------------


def test_empty_target_scores_the_all_blank_path(rng):
    lp, y, il, tl = draw(rng, 6, 2, 4, 2)
    tl[:] = 0
    for blank in (0, 3):
        got = losskit.ctc(lp, y, il, tl, blank=blank, reduction="none")
        want = [-lp[: il[n], n, blank].sum() for n in range(2)]
        np.testing.assert_allclose(got, want, rtol=1e-13)


def test_zero_input_length():
    lp = np.log(np.full((3, 2, 3), 1 / 3))
    got = losskit.ctc(lp, np.array([[1], [1]]), np.array([0, 0]), np.array([0, 1]), reduction="none")
    assert got[0] == 0.0 and got[1] == math.inf
    assert losskit.ctc(lp, np.array([[1], [1]]), np.array([0, 0]), np.array([0, 1]), zero_infinity=True,
                       reduction="sum") == 0.0
    # no frames at all (T = 0)
    empty = np.zeros((0, 1, 3))
    assert losskit.ctc(empty, np.zeros((1, 0), dtype=np.int64), np.array([0]), np.array([0]), reduction="sum") == 0.0


@needs_torch
def test_target_longer_than_input_is_infinite_or_zero(rng):
    lp, y, il, tl = draw(rng, 4, 2, 5, 6, min_target=5)
    tl[:] = [6, 5]
    for zero_infinity in (False, True):
        x = torch.tensor(lp, requires_grad=True)
        out = losskit.ctc(x, torch.from_numpy(y), torch.from_numpy(il), torch.from_numpy(tl),
                          zero_infinity=zero_infinity, reduction="none")
        expected = 0.0 if zero_infinity else math.inf
        assert torch.all(out == expected)
        out.sum().backward()
        assert torch.all(x.grad == 0)
        mean = losskit.ctc(lp, y, il, tl, zero_infinity=zero_infinity)
        assert float(mean) == expected


@needs_torch
def test_mask_all_false_gives_zero_with_zero_gradient(rng):
    lp, y, il, tl = draw(rng, 8, 3, 5, 3)
    tl[2], il[2] = 3, 1  # an infinite loss in the batch, masked out with the rest
    x = torch.tensor(lp, requires_grad=True)
    out = losskit.ctc(x, torch.from_numpy(y), torch.from_numpy(il), torch.from_numpy(tl),
                      mask=torch.zeros(3, dtype=torch.bool))
    out.backward()
    assert float(out.detach()) == 0.0 and torch.all(x.grad == 0)
    x.grad = None
    keep = torch.tensor([True, True, False])
    out = losskit.ctc(x, torch.from_numpy(y), torch.from_numpy(il), torch.from_numpy(tl), mask=keep)
    out.backward()
    assert math.isfinite(float(out.detach())) and torch.isfinite(x.grad).all() and torch.all(x.grad[:, 2] == 0)
    x.grad = None
    out = losskit.ctc(x, torch.from_numpy(y), torch.from_numpy(il), torch.from_numpy(tl),
                      weight=torch.tensor([1.0, 2.0, 0.0], dtype=torch.float64))  # a zero weight acts as a mask
    out.backward()
    assert math.isfinite(float(out.detach())) and torch.isfinite(x.grad).all() and torch.all(x.grad[:, 2] == 0)


@needs_torch
def test_float32_with_minus_infinity_and_extreme_logits_stays_finite(rng):
    T, N, C, S = 16, 4, 6, 4
    _, y, il, tl = draw(rng, T, N, C, S)
    for scale in (1.0, 1e4):
        z = torch.tensor(rng.normal(0.0, scale, size=(T, N, C)), dtype=torch.float32, requires_grad=True)
        lp = torch.log_softmax(z, dim=-1)
        impossible = torch.zeros(C, dtype=torch.bool)
        impossible[5] = True  # a class no target uses: log-probability exactly -inf
        lp = torch.where(impossible, torch.tensor(-math.inf), lp)
        y_ = torch.from_numpy(np.where(y == 5, 1, y))
        out = losskit.ctc(lp, y_, torch.from_numpy(il), torch.from_numpy(tl), reduction="none")
        assert out.dtype == torch.float32
        if scale == 1.0:
            assert torch.isfinite(out).all()
            ref_out = torch.nn.functional.ctc_loss(lp.double(), y_, torch.from_numpy(il), torch.from_numpy(tl),
                                                   reduction="none")
            np.testing.assert_allclose(out.detach().numpy(), ref_out.detach().numpy(), rtol=1e-5)
        out = torch.where(torch.isfinite(out), out, torch.zeros_like(out))
        out.sum().backward()
        assert torch.isfinite(z.grad).all()


def test_padding_beyond_target_lengths_is_ignored(rng):
    lp, y, il, tl = draw(rng, 10, 3, 5, 4, min_target=1)
    other = y.copy()
    for n in range(3):
        other[n, tl[n]:] = [0, 99, -7, 4][: 4 - tl[n]]  # blank and out-of-range labels past the length
    np.testing.assert_array_equal(losskit.ctc(lp, y, il, tl, reduction="none"),
                                  losskit.ctc(lp, other, il, tl, reduction="none"))


def test_unbatched_equals_a_batch_of_one(rng):
    lp, y, il, tl = draw(rng, 9, 1, 5, 3)
    for reduction in REDUCTIONS:
        batched = losskit.ctc(lp, y, il, tl, reduction=reduction)
        one = losskit.ctc(lp[:, 0], y[0], int(il[0]), int(tl[0]), reduction=reduction)
        assert np.shape(one) == () and np.shape(batched) == ((1,) if reduction == "none" else ())
        np.testing.assert_allclose(one, np.reshape(batched, ()), rtol=1e-14)


@needs_torch
def test_lengths_as_python_sequences(rng):
    lp, y, il, tl = draw(rng, 9, 3, 5, 3)
    expected = losskit.ctc(lp, y, il, tl, reduction="none")
    got = losskit.ctc(torch.from_numpy(lp), torch.from_numpy(y), tuple(int(v) for v in il), [int(v) for v in tl],
                      reduction="none")
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-14)


def test_only_the_input_lengths_frames_matter(rng):
    lp, y, il, tl = draw(rng, 10, 2, 4, 2)
    il[:] = [6, 8]
    changed = lp.copy()
    changed[6:, 0] = np.log(np.full(4, 0.25))
    changed[8:, 1] = np.nan
    np.testing.assert_array_equal(losskit.ctc(lp, y, il, tl, reduction="none"),
                                  losskit.ctc(changed, y, il, tl, reduction="none"))
    inside = lp.copy()
    inside[2, 1, 0] = np.nan  # NaN within the input length propagates
    assert np.isnan(losskit.ctc(inside, y, il, tl, reduction="none")[1])


# -- backends ------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("layout", ["padded", "concatenated"])
def test_backends_agree(backend, layout, rng):
    lp, y, il, tl = draw(rng, 10, 4, 5, 4, min_target=0)
    targets = y if layout == "padded" else concatenate(y, tl)
    w = rng.uniform(0.5, 2.0, size=4)
    for reduction in ("none", "mean"):
        expected = ref.ctc(lp, targets, il, tl, weight=w, reduction=reduction, method="dp")
        got = losskit.ctc(*(to(backend, a) for a in (lp, targets, il, tl)), weight=to(backend, w),
                          reduction=reduction)
        np.testing.assert_allclose(to_numpy(got), expected, rtol=1e-11)


@needs_jax
def test_jax_jit_with_traced_lengths_and_targets(rng):
    """Under jax.jit the lengths are unknown: the lattice keeps the targets'
    full width and every time step, and the result is the same (forward on
    concatenated targets, the gradient on padded ones)."""
    import jax
    import jax.numpy as jnp

    lp, y, il, tl = draw(rng, 10, 4, 5, 4, min_target=0)
    flat = concatenate(y, tl)
    f = jax.jit(lambda a, b, c, d: losskit.ctc(a, b, c, d, reduction="mean"))
    args = [jnp.asarray(a) for a in (lp, flat, il, tl)]
    np.testing.assert_allclose(float(f(*args)), ref.ctc(lp, flat, il, tl, method="dp"), rtol=1e-11)
    g = jax.jit(jax.grad(lambda a, b, c, d: losskit.ctc(a, b, c, d, reduction="sum")))
    got = g(*(jnp.asarray(a) for a in (lp, y, il, tl)))
    np.testing.assert_allclose(np.asarray(got), losskit.get("ctc").gradient(lp, y, il, tl), rtol=1e-9, atol=1e-12)


def test_registry_entry():
    spec = losskit.spec("ctc")
    assert spec.inputs == ("log_probs", "targets", "input_lengths", "target_lengths")
    assert losskit.get("ctc_loss").spec is spec and spec.family == "sequence" and spec.kind == "structured"
    args, kwargs = spec.example(np.random.default_rng(0))
    assert np.all(np.isfinite(losskit.ctc(*args, **kwargs, reduction="none")))
    assert np.all(np.isfinite(losskit.ctc(*args, **kwargs, blank=5, reduction="none")))
