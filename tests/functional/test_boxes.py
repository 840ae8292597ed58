"""Box losses (IoU, GIoU, DIoU, CIoU): naive float64 references (with
torchvision.ops' epsilon placement) over every reduction with weights and
masks, torch autograd against finite differences, CIoU's constant alpha,
hand-worked cases, and finite values and gradients in float32 for degenerate,
identical, nested, far-apart and huge boxes (torch and jax)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import BACKENDS, HAVE_JAX, HAVE_TORCH, finite_difference_full, to, to_numpy
from reference import boxes as ref

import losskit

needs_torch = pytest.mark.skipif(not HAVE_TORCH, reason="torch is not installed")
needs_jax = pytest.mark.skipif(not HAVE_JAX, reason="jax is not installed")

NAMES = list(ref.REFERENCES)
REDUCTIONS = ("none", "sum", "mean")


def fn(name):
    return getattr(losskit, name)


def draw(rng, shape=(3, 5), spread=1.5):
    """Target boxes with sides in [0.5, 4] and predictions jittered around
    them, corners re-sorted: a mix of overlapping, nested and disjoint pairs."""
    corner = rng.uniform(0.0, 8.0, size=(*shape, 2))
    target = np.concatenate([corner, corner + rng.uniform(0.5, 4.0, size=(*shape, 2))], axis=-1)
    moved = target + rng.normal(0.0, spread, size=(*shape, 4))
    lo = np.minimum(moved[..., :2], moved[..., 2:])
    hi = np.maximum(moved[..., :2], moved[..., 2:])
    return np.concatenate([lo, hi], axis=-1), target


def degenerate_pairs(scale=1.0):
    """(prediction, target) pairs that stress the formulas, one per row."""
    s = scale
    pairs = [
        ([0, 0, 2, 3], [0, 0, 2, 3]),  # identical
        ([0, 0, 0, 0], [0, 0, 0, 0]),  # identical points
        ([1, 1, 1, 1], [0, 0, 2, 2]),  # point inside a box
        ([0, 0, 2, 0], [0, 0, 2, 2]),  # zero height
        ([0, 0, 0, 2], [0, 0, 2, 2]),  # zero width
        ([0, 0, 2, 0], [0, 0, 2, 0]),  # identical zero-height segments
        ([0, 0, 2, 2], [0, 0, 0, 2]),  # zero-width target
        ([0, 0, 2, 2], [1, 1, 1, 1]),  # point target
        ([1, 1, 2, 2], [0, 0, 3, 3]),  # nested, concentric-ish
        ([0, 0, 1, 1], [1, 0, 2, 1]),  # touching edges
        ([0, 0, 1, 1], [1, 1, 2, 2]),  # touching corners
        ([0, 0, 1, 1], [50, 60, 51, 61]),  # far apart
        ([0, 0, 1e-3, 1e-3], [0, 0, 1e-3, 2e-3]),  # tiny
    ]
    p = np.array([a for a, _ in pairs], dtype=np.float64) * s
    t = np.array([b for _, b in pairs], dtype=np.float64) * s
    return p, t


def huge_pairs():
    """Coordinates up to 1e4: large, nested, far-apart and degenerate boxes."""
    p = np.array([[0, 0, 1e4, 1e4], [1e4, 1e4, 1e4, 1e4], [0, 0, 1, 1], [100, 200, 9000, 9999],
                  [0, 0, 1e4, 0], [-1e4, -1e4, -9e3, -9e3]], dtype=np.float64)
    t = np.array([[1, 1, 9999, 9998], [0, 0, 1e4, 1e4], [9999, 9999, 1e4, 1e4], [100, 200, 9000, 9999],
                  [0, 0, 1e4, 1e4], [9e3, 9e3, 1e4, 1e4]], dtype=np.float64)
    return p, t


# -- against the naive reference --------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", NAMES)
def test_matches_reference_with_weights_and_masks(name, reduction, rng):
    p, t = draw(rng)
    w = rng.uniform(0.0, 2.0, size=p.shape[:-1])
    m = rng.random(p.shape[:-1]) < 0.7
    for kwargs in ({}, {"weight": w}, {"mask": m}, {"weight": w, "mask": m}, {"eps": 0.5}):
        got = fn(name)(p, t, reduction=reduction, **kwargs)
        expected = ref.REFERENCES[name](p, t, reduction=reduction, **kwargs)
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14, err_msg=str(kwargs))


@pytest.mark.parametrize("name", NAMES)
def test_eps_enters_where_torchvision_puts_it(name):
    """A large eps makes its placement visible: the reference puts it in the
    IoU's denominator, GIoU's enclosing-area denominator, DIoU's squared
    diagonal and CIoU's alpha, as torchvision.ops does."""
    p, t = np.array([[0.0, 0.0, 2.0, 1.0]]), np.array([[1.0, 0.0, 4.0, 2.0]])
    for eps in (1e-7, 0.3, 5.0):
        np.testing.assert_allclose(fn(name)(p, t, eps=eps, reduction="none"),
                                   ref.per_box(ref.BOX[name], p, t, eps), rtol=1e-13)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", NAMES)
def test_every_backend_matches_reference_on_degenerate_boxes(name, backend):
    p, t = degenerate_pairs()
    hp, ht = huge_pairs()
    p, t = np.concatenate([p, hp]), np.concatenate([t, ht])
    got = to_numpy(fn(name)(to(backend, p), to(backend, t), reduction="none"))
    np.testing.assert_allclose(got, ref.per_box(ref.BOX[name], p, t, 1e-7), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", NAMES)
def test_one_box_and_integer_targets(name):
    p = np.array([0.5, 0.0, 2.5, 2.0])
    t = np.array([1, 0, 3, 2])
    out = fn(name)(p, t, reduction="none")
    assert out.shape == ()
    np.testing.assert_allclose(out, fn(name)(p, t.astype(np.float64), reduction="none"), rtol=0)
    np.testing.assert_allclose(out, ref.BOX[name](tuple(p), tuple(map(float, t)), 1e-7), rtol=1e-13)


# -- gradients -----------------------------------------------------------------


def _torch_grad(name, p, t, **kwargs):
    import torch

    x = torch.tensor(p, requires_grad=True)
    fn(name)(x, torch.from_numpy(t), reduction="sum", **kwargs).backward()
    return x.grad.numpy()


@needs_torch
@pytest.mark.parametrize("name", ["iou_loss", "giou_loss", "diou_loss"])
def test_torch_gradient_equals_finite_differences(name, rng):
    p, t = draw(rng, shape=(6,), spread=1.0)
    p[0] = t[0] + [0.3, -0.2, 0.5, 0.1]  # overlapping
    p[1] = [t[1, 2] + 1.0, t[1, 3] + 0.5, t[1, 2] + 2.0, t[1, 3] + 3.0]  # disjoint
    p[2] = [t[2, 0] + 0.1, t[2, 1] + 0.1, t[2, 2] - 0.2, t[2, 3] - 0.1]  # nested
    grad = _torch_grad(name, p, t)
    fd = finite_difference_full(lambda x: ref.per_box(ref.BOX[name], x, t, 1e-7).sum(), p)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8)
    assert np.any(grad != 0)


@needs_torch
def test_ciou_gradient_holds_alpha_constant(rng):
    """Autograd equals the finite-difference gradient with alpha frozen at its
    value (torch.no_grad in torchvision, the paper's convention), and differs
    from the full derivative wherever alpha varies."""
    p, t = draw(rng, shape=(6,), spread=1.0)
    p[0] = t[0] + [0.3, -0.2, 0.9, -0.4]  # overlapping, different aspect
    alpha = ref.per_box(ref.ciou_alpha, p, t, 1e-7)
    assert np.all(alpha > 0)
    grad = _torch_grad("ciou_loss", p, t)
    frozen = finite_difference_full(lambda x: ref.per_box(ref.ciou_box, x, t, 1e-7, alpha).sum(), p)
    full = finite_difference_full(lambda x: ref.per_box(ref.ciou_box, x, t, 1e-7).sum(), p)
    np.testing.assert_allclose(grad, frozen, rtol=1e-6, atol=1e-8)
    assert np.max(np.abs(grad - full)) > 1e-4


@needs_jax
@pytest.mark.parametrize("name", NAMES)
def test_jax_gradient_equals_torch(name, rng):
    import jax
    import jax.numpy as jnp

    p, t = draw(rng, shape=(7,))
    g = jax.grad(lambda x: fn(name)(x, jnp.asarray(t), reduction="sum"))(jnp.asarray(p))
    assert bool(jnp.all(jnp.isfinite(g)))
    if HAVE_TORCH:
        np.testing.assert_allclose(np.asarray(g), _torch_grad(name, p, t), rtol=1e-10, atol=1e-12)


# -- hand-worked cases ---------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_identical_boxes_give_zero(name):
    b = np.array([[0.0, 0.0, 2.0, 3.0], [-5.0, 1.0, 5.0, 1.5], [1e3, 2e3, 1.5e3, 4e3]])
    out = fn(name)(b, b.copy(), reduction="none")
    # exactly eps / (area + eps) from the IoU's denominator
    np.testing.assert_allclose(out, 1e-7 / (np.array([6.0, 5.0, 1e6]) + 1e-7), rtol=1e-6, atol=1e-16)
    assert np.all(out < 1e-7)


def test_disjoint_boxes_by_hand():
    p = np.array([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]])
    t = np.array([[2.0, 0.0, 3.0, 1.0], [10.0, 0.0, 11.0, 1.0]])
    np.testing.assert_allclose(losskit.iou_loss(p, t, reduction="none"), [1.0, 1.0])
    # GIoU = 1 + (|C| - U) / |C|: |C| = 3 and 11, U = 2
    giou = losskit.giou_loss(p, t, reduction="none")
    np.testing.assert_allclose(giou, [1 + 1 / 3, 1 + 9 / 11], rtol=1e-6)
    assert np.all(giou > 1) and giou[1] > giou[0]  # grows as the boxes move apart
    # DIoU = 1 + rho^2 / c^2: rho = 2 and 10, c^2 = 3^2 + 1 and 11^2 + 1
    np.testing.assert_allclose(losskit.diou_loss(p, t, reduction="none"), [1 + 4 / 10, 1 + 100 / 122], rtol=1e-6)
    # same aspect ratio: v = 0, CIoU = DIoU
    np.testing.assert_allclose(losskit.ciou_loss(p, t, reduction="none"),
                               losskit.diou_loss(p, t, reduction="none"), rtol=0)


@needs_torch
def test_iou_loss_is_flat_for_disjoint_boxes_and_giou_is_not():
    p, t = np.array([[0.0, 0.0, 1.0, 1.0]]), np.array([[2.0, 0.0, 3.0, 1.0]])
    assert np.all(_torch_grad("iou_loss", p, t) == 0)
    for name in ("giou_loss", "diou_loss", "ciou_loss"):
        g = _torch_grad(name, p, t)
        assert g[0, 0] + g[0, 2] < 0, name  # translating right, towards the target, lowers the loss


def test_nested_boxes_by_hand():
    inner = np.array([[1.0, 1.0, 2.0, 2.0]])
    outer = np.array([[0.0, 0.0, 3.0, 3.0]])  # same centre, same (square) aspect
    iou = 1.0 / (9.0 + 1e-7)
    for name in NAMES:  # the enclosing box is the outer box, centres coincide, v = 0
        np.testing.assert_allclose(fn(name)(inner, outer, reduction="none"), [1 - iou], rtol=1e-12)
        np.testing.assert_allclose(fn(name)(outer, inner, reduction="none"), [1 - iou], rtol=1e-12)
    off = np.array([[0.0, 0.0, 1.0, 1.0]])  # nested in a corner: centre distance^2 = 2, c^2 = 18
    np.testing.assert_allclose(losskit.giou_loss(off, outer, reduction="none"), [1 - iou], rtol=1e-12)
    np.testing.assert_allclose(losskit.diou_loss(off, outer, reduction="none"),
                               [1 - iou + 2 / (18 + 1e-7)], rtol=1e-12)


def test_ciou_aspect_term_by_hand():
    p, t = np.array([[0.0, 0.0, 2.0, 2.0]]), np.array([[0.0, 0.0, 2.0, 4.0]])
    iou = 4 / (8 + 1e-7)
    v = 4 / math.pi**2 * (math.atan(0.5) - math.atan(1.0)) ** 2
    alpha = v / (1 - iou + v + 1e-7)
    expected = 1 - iou + 1.0 / (4 + 16 + 1e-7) + alpha * v
    np.testing.assert_allclose(losskit.ciou_loss(p, t), expected, rtol=1e-13)


def test_zero_area_boxes_by_hand():
    p, t = degenerate_pairs()
    out = {name: fn(name)(p, t, reduction="none") for name in NAMES}
    # a zero-area box has IoU 0 with anything, itself included
    np.testing.assert_allclose(out["iou_loss"][1:8], 1.0)
    # identical points: no enclosing area, no diagonal -> the penalties are 0, not NaN
    assert out["giou_loss"][1] == 1.0 and out["diou_loss"][1] == 1.0 and out["ciou_loss"][1] == 1.0
    # zero-height box against a square: arctan(2/0) -> pi/2, v = 4/pi^2 (pi/4)^2 = 1/4
    v = 0.25
    alpha = v / (1 + v + 1e-7)
    np.testing.assert_allclose(out["ciou_loss"][3], out["diou_loss"][3] + alpha * v, rtol=1e-12)


def test_ranges_on_random_boxes(rng):
    p, t = draw(rng, shape=(200,), spread=3.0)
    iou = losskit.iou_loss(p, t, reduction="none")
    giou = losskit.giou_loss(p, t, reduction="none")
    diou = losskit.diou_loss(p, t, reduction="none")
    ciou = losskit.ciou_loss(p, t, reduction="none")
    assert np.all((iou >= 0) & (iou <= 1)) and np.any(iou == 1) and np.any(iou < 1)
    assert np.all((giou >= iou - 1e-12) & (giou < 2))
    assert np.all((diou >= iou - 1e-12) & (diou < 2))
    assert np.all((ciou >= diou - 1e-12) & (ciou < 3))


# -- float32 stability ---------------------------------------------------------


def _stress():
    p, t = degenerate_pairs()
    hp, ht = huge_pairs()
    return np.concatenate([p, hp]).astype(np.float32), np.concatenate([t, ht]).astype(np.float32)


@needs_torch
@pytest.mark.parametrize("name", NAMES)
def test_float32_torch_values_and_gradients_finite(name):
    import torch

    p, t = _stress()
    for first, second in ((p, t), (t, p)):
        x = torch.tensor(first, requires_grad=True)
        y = torch.tensor(second, requires_grad=True)
        out = fn(name)(x, y, reduction="none")
        assert out.dtype == torch.float32 and torch.all(torch.isfinite(out)), out
        gx, gy = torch.autograd.grad(out.sum(), (x, y))
        assert torch.all(torch.isfinite(gx)) and torch.all(torch.isfinite(gy)), (gx, gy)
        expected = ref.per_box(ref.BOX[name], first.astype(np.float64), second.astype(np.float64), 1e-7)
        np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-4, atol=2e-5)


@needs_jax
@pytest.mark.parametrize("name", NAMES)
def test_float32_jax_gradients_finite(name):
    import jax
    import jax.numpy as jnp

    p, t = _stress()
    g = jax.grad(lambda x, y: fn(name)(x, y, reduction="mean"), argnums=(0, 1))(
        jnp.asarray(p, dtype=jnp.float32), jnp.asarray(t, dtype=jnp.float32))
    assert all(gi.dtype == jnp.float32 and bool(jnp.all(jnp.isfinite(gi))) for gi in g)
    jitted = jax.jit(lambda x: fn(name)(x, jnp.asarray(t), reduction="none"))
    assert bool(jnp.all(jnp.isfinite(jitted(jnp.asarray(p)))))


@needs_torch
@pytest.mark.parametrize("name", NAMES)
def test_masked_out_degenerate_boxes_give_zero_gradient(name):
    import torch

    p, t = _stress()
    x = torch.tensor(p, requires_grad=True)
    mask = torch.zeros(p.shape[0], dtype=torch.bool)
    mask[0] = True
    out = fn(name)(x, torch.from_numpy(t), mask=mask)
    out.backward()
    assert torch.all(x.grad[1:] == 0) and torch.isfinite(out)
