"""Segmentation losses: naive float64 references (pixel loops; the Lovász
extension from its definition), peers (optax.losses.dice_loss,
optax.losses.binary_dice_loss, optax.losses.multiclass_generalized_dice_loss;
values and gradients), the identities between the losses, edge cases (empty
masks, everything ignored, one class, logits of +-1e4 in float32), batch
pooling, ignore_index and mask as slicing, and every mode on every backend."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import BACKENDS, HAVE_JAX, HAVE_TORCH, finite_difference_full, to, to_numpy
from reference import segmentation as ref

import losskit

needs_torch = pytest.mark.skipif(not HAVE_TORCH, reason="torch is not installed")
needs_jax = pytest.mark.skipif(not HAVE_JAX, reason="jax is not installed")

N, C, H, W = 3, 3, 2, 3
REDUCTIONS = ("none", "sum", "mean")
MODES = ("multiclass", "multilabel", "binary")
NAMES = list(ref.REFERENCES)
OVERLAP = ("dice", "jaccard", "tversky", "focal_tversky")
MODAL = (*OVERLAP, "generalized_dice", "dice_cross_entropy")  # losses with a ``mode``
FIXED_MODE = {"lovasz_hinge": "binary", "lovasz_softmax": "multiclass"}
# every (loss, mode) pair the loss accepts
NAME_MODES = [(name, mode) for name in NAMES for mode in (MODES if name in MODAL else (FIXED_MODE[name],))]


def fn(name):
    return getattr(losskit, name)


def draw(mode, rng, *, ignore=0.0, n=N, c=C, spatial=(H, W), scale=2.0):
    """Logits and integer targets for ``mode``; a fraction ``ignore`` of the
    targets set to 255."""
    if mode == "multiclass":
        x = rng.normal(0.0, scale, size=(n, c, *spatial))
        y = rng.integers(0, c, size=(n, *spatial))
    else:
        shape = (n, *spatial) if mode == "binary" else (n, c, *spatial)
        x = rng.normal(0.0, scale, size=shape)
        y = rng.integers(0, 2, size=shape)
    if ignore:
        y = np.where(rng.random(y.shape) < ignore, 255, y)
    return x, y


def mode_of(name, mode):
    """The mode argument (the Lovász losses have one fixed mode)."""
    if name == "lovasz_hinge":
        return "binary", {}
    if name == "lovasz_softmax":
        return "multiclass", {}
    return mode, {"mode": mode}


# (loss, params) settings compared with the reference in every mode the loss has.
SETTINGS = [
    ("dice", {}),
    ("dice", {"average": "micro"}),
    ("dice", {"average": "none"}),
    ("dice", {"smooth": 0.0}),
    ("dice", {"per_image": False, "smooth": 0.5}),
    ("jaccard", {}),
    ("jaccard", {"average": "micro", "smooth": 0.1}),
    ("jaccard", {"average": "none", "per_image": False}),
    ("tversky", {}),
    ("tversky", {"alpha": 0.9, "beta": 0.1, "average": "micro"}),
    ("tversky", {"alpha": 0.0, "beta": 2.0, "average": "none"}),
    ("focal_tversky", {}),
    ("focal_tversky", {"gamma": 2.0, "average": "micro"}),
    ("focal_tversky", {"gamma": 0.5, "average": "none", "smooth": 0.3}),
    ("generalized_dice", {}),
    ("generalized_dice", {"smooth": 0.0}),
    ("generalized_dice", {"per_image": False}),
    ("dice_cross_entropy", {}),
    ("dice_cross_entropy", {"average": "micro", "dice_weight": 0.3, "ce_weight": 2.0}),
    ("dice_cross_entropy", {"per_image": False}),
    ("lovasz_hinge", {}),
    ("lovasz_hinge", {"per_image": False}),
    ("lovasz_softmax", {}),
    ("lovasz_softmax", {"classes": "all"}),
    ("lovasz_softmax", {"classes": "all", "per_image": False}),
]
CASES = [
    pytest.param(name, params, mode, id=f"{name}-{mode}" + "".join(f"-{k}={v}" for k, v in params.items()))
    for name, params in SETTINGS
    for mode in (MODES if name in MODAL else (mode_of(name, None)[0],))
]


# -- the naive reference -----------------------------------------------------------


@pytest.mark.parametrize("ignore", [0.0, 0.3], ids=["all-pixels", "ignore_index"])
@pytest.mark.parametrize("name,params,mode", CASES)
def test_matches_reference(name, params, mode, ignore, rng):
    mode, margs = mode_of(name, mode)
    x, y = draw(mode, rng, ignore=ignore)
    kw = {**margs, **params, **({"ignore_index": 255} if ignore else {})}
    want_values, flags = ref.REFERENCES[name](x, y, **kw)
    w = rng.uniform(0.0, 2.0, size=want_values.shape)
    m = rng.random(want_values.shape) < 0.7
    for reduction in REDUCTIONS:
        for extra in ({}, {"weight": w}, {"mask": m}, {"weight": w, "mask": m}):
            got = fn(name)(x, y, **kw, **extra, reduction=reduction)
            want = ref.reduce(want_values, flags, extra.get("weight"), extra.get("mask"), reduction)
            assert np.shape(got) == np.shape(want)
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_reference_lovasz_extension_is_the_greedy_maximum(rng):
    """The reference's threshold integral equals the maximum over all
    orderings (the Jaccard loss is submodular), and so does losskit."""
    for _ in range(6):
        x = rng.normal(0.0, 1.5, size=(1, 5))
        y = rng.integers(0, 2, size=(1, 5))
        by_threshold, _ = ref.lovasz_hinge(x, y)
        by_orderings, _ = ref.lovasz_hinge(x, y, extension=ref.lovasz_by_orderings)
        np.testing.assert_allclose(by_threshold, by_orderings, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(losskit.lovasz_hinge(x, y, reduction="none"), by_orderings, rtol=1e-12)
        z = rng.normal(0.0, 1.5, size=(1, 3, 5))
        labels = rng.integers(0, 3, size=(1, 5))
        want, _ = ref.lovasz_softmax(z, labels, classes="all", extension=ref.lovasz_by_orderings)
        np.testing.assert_allclose(losskit.lovasz_softmax(z, labels, classes="all", reduction="none"), want,
                                   rtol=1e-12)


def test_lovasz_ties_do_not_matter():
    """Equal errors in any order give the same value (the extension is continuous)."""
    x = np.array([[0.5, 0.5, 0.5, -0.5, -0.5]])
    y = np.array([[1, 0, 1, 0, 1]])
    want, _ = ref.lovasz_hinge(x, y)
    np.testing.assert_allclose(losskit.lovasz_hinge(x, y, reduction="none"), want, rtol=1e-12)
    np.testing.assert_allclose(losskit.lovasz_hinge(x[:, ::-1].copy(), y[:, ::-1].copy(), reduction="none"), want,
                               rtol=1e-12)


# -- identities between the losses ------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_identities(mode, rng):
    x, y = draw(mode, rng, ignore=0.2)
    k = {"mode": mode, "ignore_index": 255, "reduction": "none", "average": "none"}
    tv = losskit.tversky(x, y, alpha=0.5, beta=0.5, smooth=0.7, **k)
    np.testing.assert_allclose(tv, losskit.dice(x, y, smooth=1.4, **k), rtol=1e-12)
    np.testing.assert_allclose(losskit.tversky(x, y, alpha=1.0, beta=1.0, smooth=0.7, **k),
                               losskit.jaccard(x, y, smooth=0.7, **k), rtol=1e-12)
    np.testing.assert_allclose(losskit.focal_tversky(x, y, alpha=0.2, beta=0.6, gamma=1.0, **k),
                               losskit.tversky(x, y, alpha=0.2, beta=0.6, **k), rtol=1e-12)
    np.testing.assert_allclose(losskit.focal_tversky(x, y, gamma=2.0, **k), losskit.tversky(x, y, **k) ** 2,
                               rtol=1e-12)
    k.pop("average")
    both = losskit.dice_cross_entropy(x, y, dice_weight=1.0, ce_weight=0.0, **k)
    np.testing.assert_allclose(both, losskit.dice(x, y, **k), rtol=1e-12)


def test_dice_cross_entropy_ce_term_is_torch_cross_entropy(rng):
    """With one sample, the CE term is torch.nn.functional.cross_entropy /
    binary_cross_entropy_with_logits (mean over the pixels not ignored)."""
    torch = pytest.importorskip("torch")
    import torch.nn.functional as TF

    x, y = draw("multiclass", rng, n=1, ignore=0.3)
    got = losskit.dice_cross_entropy(x, y, ignore_index=255, dice_weight=0.0)
    want = TF.cross_entropy(torch.tensor(x), torch.tensor(y), ignore_index=255)
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-12)
    x, y = draw("multilabel", rng, n=1)
    got = losskit.dice_cross_entropy(x, y, mode="multilabel", dice_weight=0.0)
    want = TF.binary_cross_entropy_with_logits(torch.tensor(x), torch.tensor(y, dtype=torch.float64))
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-12)


def test_generalized_dice_with_equal_volumes_is_micro_dice():
    """All class volumes equal -> all weights 1 -> micro-averaged Dice."""
    rng = np.random.default_rng(3)
    y = np.array([[[0, 1, 2], [2, 1, 0]], [[1, 1, 0], [2, 0, 2]]])
    x = rng.normal(size=(2, 3, 2, 3))
    np.testing.assert_allclose(losskit.generalized_dice(x, y, reduction="none"),
                               losskit.dice(x, y, average="micro", reduction="none"), rtol=1e-12)


def test_generalized_dice_weighs_small_classes_up():
    """Missing most of a small class costs more than missing as many pixels of a large one."""
    y = np.zeros((1, 10), dtype=np.int64)
    y[0, :2] = 1  # class 1: 2 pixels, class 0: 8 pixels
    good = np.where(np.arange(2)[:, None] == y[0][None, :], 8.0, -8.0)[None]  # (1, 2, 10)
    miss_small = good.copy()
    miss_small[0, :, 0] = [8.0, -8.0]  # one pixel of class 1 predicted as 0
    miss_large = good.copy()
    miss_large[0, :, 5] = [-8.0, 8.0]  # one pixel of class 0 predicted as 1
    gd = [float(losskit.generalized_dice(v, y)) for v in (miss_small, miss_large)]
    d = [float(losskit.dice(v, y, average="micro")) for v in (miss_small, miss_large)]
    assert gd[0] > gd[1] and abs(d[0] - d[1]) < 1e-12


# -- peers: optax -------------------------------------------------------------------


def _optax():
    pytest.importorskip("optax")
    import jax
    import jax.numpy as jnp
    import optax

    return jax, jnp, optax


def _values_and_grad(f, z):
    """f(z) and the gradient of its sum, in one compiled call (eager jax is slow)."""
    import jax
    import jax.numpy as jnp

    (_, values), grad = jax.jit(jax.value_and_grad(lambda z: (jnp.sum(f(z)), f(z)), has_aux=True))(z)
    return np.asarray(values), np.asarray(grad)


def _assert_same(ours, peer, z, rtol=1e-12):
    (v1, g1), (v2, g2) = _values_and_grad(ours, z), _values_and_grad(peer, z)
    np.testing.assert_allclose(v1, v2, rtol=rtol, atol=1e-14)
    np.testing.assert_allclose(g1, g2, rtol=1e-10, atol=1e-13)


@needs_jax
@pytest.mark.parametrize("average", ["macro", "none"])
def test_dice_equals_optax_dice_loss(average, rng):
    """optax.losses.dice_loss(channel-last logits, one-hot, smooth=s/2): its
    score (I + s')/(I + FP/2 + FN/2 + s') is ours with smooth = 2 s'; its
    reduction "mean" (over classes) is our average="macro", "none" ours "none".
    Values and gradients (of the sum)."""
    _, jnp, optax = _optax()
    x, y = draw("multiclass", rng, spatial=(3, 4))
    onehot = jnp.asarray(np.eye(C)[y])
    reduction = "mean" if average == "macro" else "none"
    _assert_same(
        lambda z: losskit.dice(z, jnp.asarray(y), smooth=0.7, average=average, reduction="none"),
        lambda z: optax.losses.dice_loss(jnp.moveaxis(z, 1, -1), onehot, smooth=0.35, reduction=reduction),
        jnp.asarray(x),
    )


@needs_jax
@pytest.mark.parametrize("alpha,beta", [(0.3, 0.7), (1.0, 1.0)])
def test_tversky_and_jaccard_equal_optax_dice_loss(alpha, beta, rng):
    """optax.losses.dice_loss(..., alpha, beta, smooth) is tversky with the same
    parameters; alpha = beta = 1 is jaccard."""
    _, jnp, optax = _optax()
    x, y = draw("multiclass", rng, spatial=(3, 4))
    onehot = jnp.asarray(np.eye(C)[y])

    def ours(z):
        if alpha == beta == 1.0:
            return losskit.jaccard(z, jnp.asarray(y), smooth=0.6, reduction="none")
        return losskit.tversky(z, jnp.asarray(y), alpha=alpha, beta=beta, smooth=0.6, reduction="none")

    _assert_same(ours, lambda z: optax.losses.dice_loss(jnp.moveaxis(z, 1, -1), onehot, alpha=alpha, beta=beta,
                                                        smooth=0.6), jnp.asarray(x))


@needs_jax
def test_binary_and_multilabel_dice_equal_optax_binary_dice_loss(rng):
    """optax.losses.binary_dice_loss(logits (N, H, W), targets, smooth=s/2)
    per sample is binary dice with smooth=s; multilabel macro dice is its mean
    over channels."""
    _, jnp, optax = _optax()
    x, y = draw("binary", rng, spatial=(3, 4))
    t = jnp.asarray(y, dtype=jnp.float64)
    _assert_same(lambda z: losskit.dice(z, jnp.asarray(y), mode="binary", reduction="none"),
                 lambda z: optax.losses.binary_dice_loss(z, t, smooth=0.5), jnp.asarray(x))
    x, y = draw("multilabel", rng, spatial=(3, 4))
    t = jnp.asarray(y, dtype=jnp.float64)
    _assert_same(lambda z: losskit.dice(z, jnp.asarray(y), mode="multilabel", reduction="none"),
                 lambda z: jnp.mean(jnp.stack([optax.losses.binary_dice_loss(z[:, c], t[:, c], smooth=0.5)
                                               for c in range(C)], axis=1), axis=1), jnp.asarray(x))


@needs_jax
def test_optax_multiclass_generalized_dice_loss_is_class_weighted_dice(rng):
    """optax.losses.multiclass_generalized_dice_loss is not Sudre's loss: it
    weights per-class Dice losses by 1/(batch volume^2 + 1e-7), normalised to
    sum to C, and averages. That is dice(average="none", weight=w) (its
    normalisation makes our weighted mean equal its plain mean); our
    generalized_dice differs."""
    _, jnp, optax = _optax()
    x, y = draw("multiclass", rng, spatial=(3, 4))
    onehot = np.eye(C)[y]
    freq = onehot.reshape(-1, C).sum(axis=0)
    cw = 1.0 / (freq**2 + 1e-7)
    cw = cw / cw.sum() * C
    weight = jnp.asarray(np.broadcast_to(cw, (N, C)).copy())

    def peer(z):
        return optax.losses.multiclass_generalized_dice_loss(jnp.moveaxis(z, 1, -1), jnp.asarray(onehot), smooth=0.5)

    _assert_same(lambda z: losskit.dice(z, jnp.asarray(y), average="none", weight=weight, smooth=1.0), peer,
                 jnp.asarray(x))
    value = float(losskit.dice(x, y, average="none", weight=np.asarray(weight), smooth=1.0))
    assert abs(float(losskit.generalized_dice(x, y, smooth=1.0)) - value) > 1e-3


# -- gradients -------------------------------------------------------------------------


@needs_torch
@pytest.mark.parametrize("name,mode", [("dice", "multiclass"), ("jaccard", "multilabel"), ("tversky", "binary"),
                                       ("focal_tversky", "multiclass"), ("generalized_dice", "binary"),
                                       ("generalized_dice", "multiclass"), ("dice_cross_entropy", "multilabel"),
                                       ("lovasz_hinge", "binary"), ("lovasz_softmax", "multiclass")])
def test_torch_autograd_equals_finite_differences_of_the_reference(name, mode, rng):
    import torch

    mode, margs = mode_of(name, mode)
    x, y = draw(mode, rng, n=2, ignore=0.2)
    kw = {**margs, "ignore_index": 255}
    xt = torch.tensor(x, requires_grad=True)
    fn(name)(xt, torch.from_numpy(y), **kw, reduction="mean").backward()

    def total(z):
        values, flags = ref.REFERENCES[name](z, y, **kw)
        return ref.reduce(values, flags, None, None, "mean")

    np.testing.assert_allclose(xt.grad.numpy(), finite_difference_full(total, x, eps=1e-6), rtol=1e-5, atol=1e-7)


# One mode per loss (the property suite covers multiclass without ignore_index).
JAX_CASES = [("dice", "multilabel"), ("jaccard", "binary"), ("tversky", "multilabel"), ("focal_tversky", "binary"),
             ("generalized_dice", "binary"), ("dice_cross_entropy", "multilabel"), ("lovasz_hinge", "binary"),
             ("lovasz_softmax", "multiclass")]


@needs_torch
@needs_jax
@pytest.mark.parametrize("name,mode", JAX_CASES)
def test_jax_grad_under_jit_equals_torch(name, mode, rng):
    import jax
    import jax.numpy as jnp
    import torch

    mode, margs = mode_of(name, mode)
    x, y = draw(mode, rng, ignore=0.2)
    kw = {**margs, "ignore_index": 255}
    xt = torch.tensor(x, requires_grad=True)
    fn(name)(xt, torch.from_numpy(y), **kw).backward()
    yj = jnp.asarray(y)
    value, g = jax.jit(jax.value_and_grad(lambda z: fn(name)(z, yj, **kw)))(jnp.asarray(x))
    np.testing.assert_allclose(np.asarray(g), xt.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(float(value), float(fn(name)(x, y, **kw)), rtol=1e-12)


# -- backends ----------------------------------------------------------------------------


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "numpy"])
@pytest.mark.parametrize("mode", ["multilabel", "binary"])
def test_backends_agree_in_the_sigmoid_modes(mode, backend, rng):
    x, y = draw(mode, rng, ignore=0.2)
    for name in NAMES:
        if name not in MODAL and mode_of(name, None)[0] != mode:
            continue
        _, margs = mode_of(name, mode)
        for extra in ({}, {"per_image": False}) if backend != "jax" else ({},):
            kw = {**margs, "ignore_index": 255, "reduction": "none", **extra}
            want = fn(name)(x, y, **kw)
            xb, yb = to(backend, x), to(backend, y)
            if backend == "jax":  # compiled: eager jax dispatches op by op, slowly
                import jax

                got = jax.jit(lambda z, name=name, kw=kw, yb=yb: fn(name)(z, yb, **kw))(xb)
            else:
                got = fn(name)(xb, yb, **kw)
            assert type(got).__module__.split(".")[0] == type(xb).__module__.split(".")[0]
            np.testing.assert_allclose(to_numpy(got), want, rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b not in ("numpy", "jax")])
def test_bool_targets_and_float_targets_are_accepted(backend, rng):
    x, y = draw("multilabel", rng)
    want = losskit.dice(x, y, mode="multilabel", reduction="none")
    for target in (y.astype(bool), y.astype(np.float32)):
        got = losskit.dice(to(backend, x), to(backend, target), mode="multilabel", reduction="none")
        np.testing.assert_allclose(to_numpy(got), want, rtol=1e-12)


# -- edge cases --------------------------------------------------------------------------


@pytest.mark.parametrize("name,mode", NAME_MODES)
def test_empty_target_and_empty_prediction_is_a_perfect_zero(name, mode):
    """Smoothing in numerator and denominator: I = FP = FN = 0 gives exactly 0
    (float32 logits of -1e4 make the probabilities exactly 0, and the
    cross-entropy and the hinge errors 0), for every smooth."""
    mode, margs = mode_of(name, mode)
    x = np.full((2, 3, 4, 4) if mode != "binary" else (2, 4, 4), -1e4, dtype=np.float32)
    y = np.zeros(x.shape, dtype=np.int64)
    if mode == "multiclass":  # every pixel is class 0, predicted so: classes 1 and 2 are empty and predicted empty
        x[:, 0] = 1e4
        y = np.zeros((2, 4, 4), dtype=np.int64)
    for smooth in (1.0, 1e-5, 0.0) if name in MODAL else (None,):
        kw = {**margs, "reduction": "none"}
        if smooth is not None:
            kw["smooth"] = smooth
        if name in OVERLAP:
            kw["average"] = "none"
        if name == "lovasz_softmax":
            kw["classes"] = "all"
        out = fn(name)(x, y, **kw)
        assert out.shape[0] == 2 and np.all(out == 0.0), (smooth, out)


@pytest.mark.parametrize("name,mode", NAME_MODES)
def test_empty_target_with_a_confident_false_positive_is_penalised(name, mode):
    mode, margs = mode_of(name, mode)
    if mode == "multiclass":  # class 1 absent from the target, predicted on one pixel of four
        x = np.zeros((1, 2, 4), dtype=np.float32)
        x[0, 0] = [20.0, 20.0, 20.0, -20.0]
        x[0, 1] = [-20.0, -20.0, -20.0, 20.0]
        y = np.zeros((1, 4), dtype=np.int64)
        perfect = x.copy()
        perfect[0, 0, 3], perfect[0, 1, 3] = 20.0, -20.0
    else:
        shape = (1, 4) if mode == "binary" else (1, 2, 4)
        x = np.full(shape, -20.0, dtype=np.float32)
        x[..., 3] = 20.0
        y = np.zeros(shape, dtype=np.int64)
        perfect = np.full(shape, -20.0, dtype=np.float32)
    kw = dict(margs)
    if name == "lovasz_softmax":
        kw["classes"] = "all"
    bad, good = float(fn(name)(x, y, **kw)), float(fn(name)(perfect, y, **kw))
    assert bad > 0.1 and good < 1e-6, (bad, good)


@pytest.mark.parametrize("name,mode", NAME_MODES)
def test_everything_ignored_gives_zero_with_zero_gradient(name, mode):
    torch = pytest.importorskip("torch")
    mode, margs = mode_of(name, mode)
    x, y = draw(mode, np.random.default_rng(0))
    y = np.full(y.shape, 255)
    xt = torch.tensor(x, requires_grad=True)
    out = fn(name)(xt, torch.from_numpy(y), **margs, ignore_index=255)
    out.backward()
    assert float(out.detach()) == 0.0 and torch.all(xt.grad == 0)
    assert np.all(fn(name)(x, y, **margs, ignore_index=255, reduction="none") == 0.0)


@pytest.mark.parametrize("name", NAMES)
def test_ignore_index_equals_dropping_the_pixels(name, rng):
    """Ignoring pixels gives the loss of the image without them."""
    mode, margs = mode_of(name, "multilabel" if name in MODAL else None)
    x, y = draw(mode, rng, n=1, spatial=(8,))
    keep = np.array([True, False, True, True, False, True, True, False])
    y_ignored = np.where(keep, y, 255)
    got = fn(name)(x, y_ignored, **margs, ignore_index=255, reduction="none")
    want = fn(name)(x[..., keep].copy(), y[..., keep].copy(), **margs, reduction="none")
    np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_mask_equals_slicing_the_batch(name, rng):
    mode, margs = mode_of(name, "binary" if name in MODAL else None)
    x, y = draw(mode, rng, n=5)
    m = np.array([True, False, True, True, False])
    got = fn(name)(x, y, **margs, mask=m)
    np.testing.assert_allclose(got, fn(name)(x[m], y[m], **margs), rtol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_per_image_false_scores_the_batch_as_one_image(name, rng):
    """per_image=False equals one sample holding every pixel of the batch;
    shape (1,) unreduced. segmentation_models_pytorch's DiceLoss pools this way."""
    mode, margs = mode_of(name, "multiclass")
    x, y = draw(mode, rng, ignore=0.2)
    if mode == "multiclass":  # (N, C, H, W) -> (1, C, N*H*W)
        one_x = np.moveaxis(x, 0, 1).reshape(1, x.shape[1], -1)
        one_y = y.reshape(1, -1)
    else:
        one_x, one_y = x.reshape(1, -1), y.reshape(1, -1)
    kw = {**margs, "ignore_index": 255, "reduction": "none"}
    got = fn(name)(x, y, **kw, per_image=False)
    assert got.shape == (1,)
    np.testing.assert_allclose(got, fn(name)(one_x, one_y, **kw), rtol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_one_class_only(name):
    """Multiclass with C = 1: the softmax is 1 everywhere, a perfect score;
    values and gradients are 0 and finite. Multilabel with C = 1 equals binary
    on (N, 1, ...), except for generalized_dice, whose binary mode adds the
    background as a class; lovasz_hinge on (N, 1, ...) equals it on (N, ...)."""
    torch = pytest.importorskip("torch")
    mode, margs = mode_of(name, "multiclass")
    rng = np.random.default_rng(1)
    if mode == "multiclass":
        x = rng.normal(size=(2, 1, 3, 3))
        y = np.zeros((2, 3, 3), dtype=np.int64)
        xt = torch.tensor(x, requires_grad=True)
        out = fn(name)(xt, torch.from_numpy(y), **margs)
        out.backward()
        assert float(out.detach()) < 1e-12 and torch.all(torch.isfinite(xt.grad)) and float(xt.grad.abs().max()) < 1e-12
    if name in MODAL and name != "generalized_dice":
        x, y = draw("multilabel", rng, c=1)
        np.testing.assert_allclose(fn(name)(x, y, mode="multilabel", reduction="none"),
                                   fn(name)(x, y, mode="binary", reduction="none"), rtol=1e-12)
    if mode == "binary":  # lovasz_hinge: a channel axis of size 1 is just another pixel axis
        x, y = draw("multilabel", rng, c=1)
        np.testing.assert_allclose(fn(name)(x, y, reduction="none"), fn(name)(x[:, 0], y[:, 0], reduction="none"),
                                   rtol=1e-12)


@needs_torch
@pytest.mark.parametrize("name,mode", NAME_MODES)
def test_extreme_logits_float32_finite_values_and_gradients(name, mode, rng):
    import torch

    mode, margs = mode_of(name, mode)
    x, y = draw(mode, rng, ignore=0.2)
    x = (np.sign(x) * 1e4).astype(np.float32)
    for extra in ({}, {"smooth": 0.0}, {"per_image": False}):
        if "smooth" in extra and name.startswith("lovasz"):
            continue
        xt = torch.tensor(x, requires_grad=True)
        out = fn(name)(xt, torch.from_numpy(y), **margs, ignore_index=255, **extra)
        out.backward()
        assert out.dtype == torch.float32
        assert torch.isfinite(out) and torch.all(torch.isfinite(xt.grad)), (name, extra)


@needs_torch
def test_focal_tversky_gradient_is_finite_at_a_perfect_class():
    """gamma < 1: (1 - TI)^gamma has an infinite slope at 0; an exactly
    perfect class (float32, logits +-1e4) gets a zero, not NaN, gradient."""
    import torch

    x = torch.tensor([[[1e4, -1e4], [-1e4, 1e4]]], dtype=torch.float32, requires_grad=True)
    out = losskit.focal_tversky(x, torch.tensor([[0, 1]]), gamma=0.5)
    out.backward()
    assert float(out.detach()) == 0.0 and torch.all(x.grad == 0)


def test_zero_length_batch_gives_zero():
    x = np.zeros((0, 3, 2, 2))
    y = np.zeros((0, 2, 2), dtype=np.int64)
    assert losskit.dice(x, y).shape == () and float(losskit.dice(x, y)) == 0.0
    assert losskit.lovasz_softmax(x, y, reduction="none").shape == (0,)


@pytest.mark.parametrize("name,mode", NAME_MODES)
def test_nan_in_input_propagates(name, mode, rng):
    mode, margs = mode_of(name, mode)
    x, y = draw(mode, rng, n=1)
    x[0, 0, 0] = np.nan
    assert np.isnan(float(fn(name)(x, y, **margs))), name


def test_half_precision_in_every_mode(rng):
    torch = pytest.importorskip("torch")
    for mode in MODES:
        x, y = draw(mode, rng)
        half = torch.tensor(x, dtype=torch.float16)
        out = losskit.dice_cross_entropy(half, torch.from_numpy(y), mode=mode, reduction="none")
        ref32 = losskit.dice_cross_entropy(half.float(), torch.from_numpy(y), mode=mode, reduction="none")
        assert out.dtype == torch.float16
        assert torch.equal(out, ref32.to(torch.float16))


@needs_torch
@needs_jax
@pytest.mark.parametrize("mode", MODES)
def test_smooth_zero_with_confident_logits_has_finite_gradients(mode):
    """smooth=0 and soft counts of about 1e-26 (float32 logits of +-30 to
    +-60, not yet exactly 0 or 1 as at +-1e4): without the floor on smooth the
    quotient's gradient g / den^2 overflows (jax) or 1 / den does (torch).
    Also focal Tversky with a steep gamma=0.1 near a perfect score."""
    import jax
    import jax.numpy as jnp
    import torch

    scale = 30.0 if mode == "multiclass" else 60.0
    if mode == "multiclass":  # every pixel class 0, predicted so; classes 1 and 2 empty, p about e^-60
        y = np.zeros((2, 6), dtype=np.int64)
        y[1, :3] = 1
        x = np.where(np.arange(C)[None, :, None] == y[:, None, :], scale, -scale).astype(np.float32)
    else:
        y = np.zeros((2, 6) if mode == "binary" else (2, C, 6), dtype=np.int64)
        y[1, ..., :3] = 1
        x = np.where(y == 1, scale, -scale).astype(np.float32)
    yj = jnp.asarray(y)
    settings = [(name, {"smooth": 0.0}) for name in MODAL] + [("focal_tversky", {"gamma": 0.1})]
    for name, kw in settings:
        kw = {"mode": mode, **kw}
        xt = torch.tensor(x, requires_grad=True)
        out = fn(name)(xt, torch.from_numpy(y), **kw)
        out.backward()
        value, g = jax.jit(jax.value_and_grad(lambda z, name=name, kw=kw: fn(name)(z, yj, **kw)))(jnp.asarray(x))
        assert torch.isfinite(out) and torch.all(torch.isfinite(xt.grad)), (name, kw)
        assert np.isfinite(float(value)) and np.all(np.isfinite(np.asarray(g))), (name, kw)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["dice", "lovasz_softmax"])
def test_an_ignore_index_beyond_the_label_dtype_ignores_nothing_on_every_backend(name, backend):
    # issue 16, item 11: ignore_index=10**30 overflowed on torch and JAX; no label can equal it
    rng = np.random.default_rng(3)
    z, y = rng.normal(size=(2, 3, 4, 5)), rng.integers(0, 3, (2, 4, 5))
    fn = getattr(losskit, name)
    expected = to_numpy(fn(z, y, ignore_index=None, reduction="none"))
    got = fn(to(backend, z), to(backend, y), ignore_index=10**30, reduction="none")
    np.testing.assert_allclose(to_numpy(got), expected, rtol=1e-6)
