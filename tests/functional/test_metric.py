"""Metric-learning losses: naive references, peers
(torch.nn.functional.triplet_margin_loss / triplet_margin_with_distance_loss /
cosine_embedding_loss / margin_ranking_loss / cross_entropy,
optax.losses.ntxent / triplet_margin_loss), gradients against finite
differences of the references, mask equals slicing, and the degenerate cases:
one class, no positives, empty masks, identical embeddings, zero vectors."""

from __future__ import annotations

import math

import array_api_compat
import numpy as np
import pytest
from helpers import BACKENDS, HAVE_JAX, HAVE_TORCH, finite_difference_full, to, to_numpy
from reference import metric as ref

import losskit

torch = pytest.importorskip("torch") if HAVE_TORCH else None
needs_torch = pytest.mark.skipif(not HAVE_TORCH, reason="torch is not installed")
needs_jax = pytest.mark.skipif(not HAVE_JAX, reason="jax is not installed")

REDUCTIONS = ("none", "sum", "mean")
N, DIM = 9, 3


def labels(rng, n=N, classes=3):
    return rng.permutation(np.arange(n) % classes).astype(np.int64)


def draw(name, rng, params):
    """(args, kwargs) of a call on random data."""
    if name == "contrastive":
        return (rng.uniform(0.0, 2.0, size=(4, 3)), rng.random((4, 3)) < 0.5), {}
    if name in ("contrastive_embeddings", "batch_hard_triplet", "batch_all_triplet", "supervised_contrastive"):
        return (rng.normal(size=(N, DIM)), labels(rng)), {}
    if name in ("triplet_margin", "triplet_margin_with_distance"):
        a = rng.normal(size=(7, DIM))
        return (a, a + rng.normal(size=a.shape), a + rng.normal(size=a.shape)), {}
    if name == "cosine_embedding":
        return (rng.normal(size=(7, DIM)), rng.normal(size=(7, DIM)), rng.choice([-1, 1], size=7)), {}
    if name == "margin_ranking":
        return (rng.normal(size=(3, 4)), rng.normal(size=(3, 4)), rng.choice([-1.0, 1.0], size=(3, 4))), {}
    if name == "info_nce":
        q = rng.normal(size=(6, DIM))
        kw = {}
        if params.get("negatives") == "per_query":
            kw["negatives"] = rng.normal(size=(6, 4, DIM))
        elif params.get("negatives") == "shared":
            kw["negatives"] = rng.normal(size=(5, DIM))
        return (q, q + 0.5 * rng.normal(size=q.shape)), kw
    if name in ("center_loss", "additive_margin_softmax"):
        return (rng.normal(size=(8, DIM)), rng.integers(0, 4, size=8), rng.normal(size=(4, DIM))), {}
    raise KeyError(name)


SETTINGS = [
    ("contrastive", {}),
    ("contrastive", {"margin": 0.4}),
    ("contrastive_embeddings", {}),
    ("contrastive_embeddings", {"distance": "cosine", "margin": 0.5}),
    ("contrastive_embeddings", {"distance": "squared_euclidean", "margin": 2.0}),
    ("triplet_margin", {}),
    ("triplet_margin", {"p": 1.0, "margin": 0.5}),
    ("triplet_margin", {"p": 3.0, "swap": True}),
    ("triplet_margin", {"p": math.inf, "eps": 0.0}),
    ("triplet_margin_with_distance", {}),
    ("triplet_margin_with_distance", {"distance_fn": "l1", "swap": True, "margin": 0.4}),
    ("batch_hard_triplet", {}),
    ("batch_hard_triplet", {"distance": "cosine", "margin": 0.3}),
    ("batch_hard_triplet", {"distance": "squared_euclidean", "margin": 3.0}),
    ("batch_all_triplet", {}),
    ("batch_all_triplet", {"distance": "cosine", "margin": 0.3}),
    ("batch_all_triplet", {"distance": "squared_euclidean", "margin": 3.0}),
    ("cosine_embedding", {}),
    ("cosine_embedding", {"margin": 0.3}),
    ("margin_ranking", {}),
    ("margin_ranking", {"margin": 0.7}),
    ("info_nce", {}),
    ("info_nce", {"temperature": 0.5}),
    ("info_nce", {"negatives": "per_query"}),
    ("info_nce", {"negatives": "shared", "temperature": 0.2}),
    ("supervised_contrastive", {}),
    ("supervised_contrastive", {"temperature": 0.5}),
    ("center_loss", {}),
    ("additive_margin_softmax", {}),
    ("additive_margin_softmax", {"scale": 8.0, "margin": 1.2}),
    ("additive_margin_softmax", {"scale": 8.0, "margin": 1.2, "easy_margin": True}),
    ("additive_margin_softmax", {"variant": "cosface", "scale": 16.0}),
]
IDS = [name + "".join(f"-{k}={v}" for k, v in p.items()) for name, p in SETTINGS]


def l1_distance(u, v):
    """A distance_fn for any array-API backend, on rows or on batches of rows."""
    xp = array_api_compat.array_namespace(u, v)
    return xp.sum(xp.abs(u - v), axis=-1)


def ours_and_ref(name, params):
    """Keyword parameters for losskit and for the reference (the triplet
    reference calls the norm degree ``p_norm``; the ``distance_fn`` marker
    "l1" becomes ``l1_distance``; other markers are dropped)."""
    ours = {k: v for k, v in params.items() if k != "negatives"}
    if ours.get("distance_fn") == "l1":
        ours["distance_fn"] = l1_distance
    theirs = dict(ours)
    if name == "triplet_margin" and "p" in theirs:
        theirs["p_norm"] = theirs.pop("p")
    return ours, theirs


def sample_shape(name, args):
    if name in ("contrastive", "margin_ranking"):
        return args[0].shape
    return args[0].shape[:1]


# -- the naive references ----------------------------------------------------------


@pytest.mark.parametrize("name,params", SETTINGS, ids=IDS)
def test_matches_reference(name, params, rng):
    args, kw = draw(name, rng, params)
    ours, theirs = ours_and_ref(name, params)
    shape = sample_shape(name, args)
    w = rng.uniform(0.0, 2.0, size=shape)
    m = rng.random(shape) < 0.75
    for reduction in REDUCTIONS:
        for extra in ({}, {"weight": w}, {"mask": m}, {"weight": w, "mask": m}):
            got = getattr(losskit, name)(*args, **kw, **ours, **extra, reduction=reduction)
            want = ref.REFERENCES[name](*args, **kw, **theirs, **extra, reduction=reduction)
            assert np.shape(got) == np.shape(want)
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@needs_torch
@pytest.mark.parametrize("name,params", [s for s in SETTINGS if s[0] in (
    "contrastive", "contrastive_embeddings", "batch_hard_triplet", "batch_all_triplet", "supervised_contrastive", "center_loss",
    "additive_margin_softmax", "info_nce")], ids=lambda v: str(v))
def test_autograd_equals_finite_differences_of_the_reference(name, params, rng):
    """Losses without a peer: torch autograd of ours against central
    differences of the naive reference, with respect to the first input."""
    args, kw = draw(name, rng, params)
    ours, theirs = ours_and_ref(name, params)
    x = args[0]
    w = rng.uniform(0.5, 2.0, size=sample_shape(name, args))
    xt = torch.tensor(x, requires_grad=True)
    rest = [torch.from_numpy(np.asarray(a).copy()) for a in args[1:]]
    tkw = {k: torch.from_numpy(v) for k, v in kw.items()}
    out = getattr(losskit, name)(xt, *rest, **tkw, **ours, weight=torch.from_numpy(w))
    (g,) = torch.autograd.grad(out, xt)
    fd = finite_difference_full(lambda z: ref.REFERENCES[name](z, *args[1:], **kw, **theirs, weight=w), x)
    np.testing.assert_allclose(g.numpy(), fd, rtol=1e-5, atol=1e-7)


# -- peers ---------------------------------------------------------------------------


def _torch_values_and_grads(fn, arrays, **kwargs):
    tensors = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    out = fn(*tensors, **kwargs)
    grads = torch.autograd.grad(out.sum(), [t for t in tensors if t.requires_grad])
    return out.detach().numpy(), [g.numpy() for g in grads]


@needs_torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("p,eps,swap,margin", [
    (2.0, 1e-6, False, 1.0), (2.0, 0.0, True, 0.5), (1.0, 1e-3, False, 2.0), (3.0, 1e-6, True, 1.0),
    (math.inf, 1e-6, False, 1.0), (0.5, 1e-6, False, 1.0),
])
@pytest.mark.parametrize("shape", [(8, 5), (5,)], ids=["batch", "one"])
def test_triplet_margin_equals_torch(shape, p, eps, swap, margin, reduction, rng):
    """torch.nn.functional.triplet_margin_loss, values and gradients for all three inputs."""
    import torch.nn.functional as TF

    a = rng.normal(size=shape)
    arrays = [a, a + 0.8 * rng.normal(size=shape), a + rng.normal(size=shape)]
    k = {"margin": margin, "p": p, "eps": eps, "swap": swap, "reduction": reduction}
    v1, g1 = _torch_values_and_grads(losskit.triplet_margin, arrays, **k)
    v2, g2 = _torch_values_and_grads(TF.triplet_margin_loss, arrays, **k)
    np.testing.assert_allclose(v1, v2, rtol=1e-10, atol=1e-12)
    for x, y in zip(g1, g2):
        np.testing.assert_allclose(x, y, rtol=1e-9, atol=1e-12)


@needs_torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize("fn", ["default", "cosine", "squared"])
def test_triplet_margin_with_distance_equals_torch(fn, swap, reduction, rng):
    """torch.nn.functional.triplet_margin_with_distance_loss, values and gradients,
    with the default distance and with torch distance functions passed to both."""
    import torch.nn.functional as TF

    distance = {
        "default": None,
        "cosine": lambda u, v: 1.0 - TF.cosine_similarity(u, v),
        "squared": lambda u, v: ((u - v) ** 2).sum(-1),
    }[fn]
    a = rng.normal(size=(7, 4))
    arrays = [a, a + 0.8 * rng.normal(size=a.shape), a + rng.normal(size=a.shape)]
    v1, g1 = _torch_values_and_grads(losskit.triplet_margin_with_distance, arrays, distance_fn=distance,
                                     margin=0.7, swap=swap, reduction=reduction)
    v2, g2 = _torch_values_and_grads(TF.triplet_margin_with_distance_loss, arrays, distance_function=distance,
                                     margin=0.7, swap=swap, reduction=reduction)
    np.testing.assert_allclose(v1, v2, rtol=1e-10, atol=1e-12)
    for x, y in zip(g1, g2):
        np.testing.assert_allclose(x, y, rtol=1e-9, atol=1e-12)


def test_triplet_margin_with_distance_default_is_triplet_margin(rng):
    a, p, n = (rng.normal(size=(6, 3)) for _ in range(3))
    for swap in (False, True):
        np.testing.assert_allclose(losskit.triplet_margin_with_distance(a, p, n, swap=swap, reduction="none"),
                                   losskit.triplet_margin(a, p, n, swap=swap, reduction="none"), rtol=1e-14)
    cos_fn = lambda u, v: 1.0 - np.sum(u * v, axis=-1) / np.sqrt(np.sum(u * u, -1) * np.sum(v * v, -1))
    want = ref.triplet_margin(a, p, n, distance_fn=lambda u, v: 1.0 - ref.cosine(u, v), margin=0.4, reduction="none")
    got = losskit.triplet_margin_with_distance(a, p, n, distance_fn=cos_fn, margin=0.4, reduction="none")
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@needs_jax
@pytest.mark.parametrize("margin", [0.0, 1.0, 2.5])
def test_triplet_margin_equals_optax_at_eps_zero(margin, rng):
    """optax.losses.triplet_margin_loss (eps inside the root) equals ours at eps=0, values and jax gradients."""
    import jax
    import jax.numpy as jnp
    import optax

    a = rng.normal(size=(8, 4))
    p, n = a + 0.8 * rng.normal(size=a.shape), a + rng.normal(size=a.shape)
    ja, jp, jn = map(jnp.asarray, (a, p, n))
    ours = jax.jit(lambda x: losskit.triplet_margin(x, jp, jn, margin=margin, eps=0.0, reduction="none"))
    peer = jax.jit(lambda x: optax.losses.triplet_margin_loss(x, jp, jn, margin=margin, eps=0.0))
    np.testing.assert_allclose(np.asarray(ours(ja)), np.asarray(peer(ja)), rtol=1e-12, atol=1e-12)
    g1 = jax.jit(jax.grad(lambda x: ours(x).sum()))(ja)
    g2 = jax.jit(jax.grad(lambda x: peer(x).sum()))(ja)
    np.testing.assert_allclose(np.asarray(g1), np.asarray(g2), rtol=1e-10, atol=1e-12)


@needs_torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("margin", [0.0, 0.4, -0.3])
@pytest.mark.parametrize("shape", [(9, 4), (4,)], ids=["batch", "one"])
def test_cosine_embedding_equals_torch(shape, margin, reduction, rng):
    """torch.nn.functional.cosine_embedding_loss, values and gradients, with a zero vector in the batch."""
    import torch.nn.functional as TF

    x1, x2 = rng.normal(size=shape), rng.normal(size=shape)
    if len(shape) == 2:
        x1[0] = 0.0
        x2[1] = 0.0
        t = rng.choice([-1, 1], size=shape[0])
        t[:2] = [1, -1]
    else:
        t = np.array(-1)
    v1, g1 = _torch_values_and_grads(losskit.cosine_embedding, [x1, x2, t], margin=margin, reduction=reduction)
    v2, g2 = _torch_values_and_grads(TF.cosine_embedding_loss, [x1, x2, t], margin=margin, reduction=reduction)
    np.testing.assert_allclose(v1, v2, rtol=1e-10, atol=1e-12)
    for x, y in zip(g1, g2):
        assert np.all(np.isfinite(x))
        # rtol 1e-8: gradients of ~1e6 at the zero vector; we take sqrt(|x1|^2 + eps) sqrt(|x2|^2 + eps)
        # (no overflow of the product in float32), torch the root of the product
        np.testing.assert_allclose(x, y, rtol=1e-8, atol=1e-12)


@needs_torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("margin", [0.0, 0.5, -0.2])
@pytest.mark.parametrize("shape", [(10,), (3, 4), ()], ids=["1d", "2d", "scalar"])
def test_margin_ranking_equals_torch(shape, margin, reduction, rng):
    """torch.nn.functional.margin_ranking_loss, values and gradients."""
    import torch.nn.functional as TF

    x1, x2 = np.asarray(rng.normal(size=shape)), np.asarray(rng.normal(size=shape))
    t = np.asarray(rng.choice([-1.0, 1.0], size=shape))
    v1, g1 = _torch_values_and_grads(losskit.margin_ranking, [x1, x2, t], margin=margin, reduction=reduction)
    v2, g2 = _torch_values_and_grads(TF.margin_ranking_loss, [x1, x2, t], margin=margin, reduction=reduction)
    np.testing.assert_allclose(v1, v2, rtol=1e-12, atol=1e-12)
    for x, y in zip(g1[:2], g2[:2]):
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-12)


@needs_jax
@pytest.mark.parametrize("temperature", [0.07, 0.5])
def test_info_nce_equals_optax_ntxent(temperature, rng):
    """optax.losses.ntxent on the stacked views [query; key] with labels
    [0..N-1, 0..N-1] is SimCLR's NT-Xent: values and jax gradients (with
    respect to the query and the key) equal ours."""
    import jax
    import jax.numpy as jnp
    import optax

    q = rng.normal(size=(7, 5))
    k = q + 0.6 * rng.normal(size=q.shape)
    pair_labels = jnp.asarray(np.concatenate([np.arange(7), np.arange(7)]))
    jq, jk = jnp.asarray(q), jnp.asarray(k)

    def ours(a, b):
        return losskit.info_nce(a, b, temperature=temperature)

    def peer(a, b):
        return optax.losses.ntxent(jnp.concatenate([a, b]), pair_labels, temperature=temperature)

    v1, g1 = jax.jit(jax.value_and_grad(ours, argnums=(0, 1)))(jq, jk)
    v2, g2 = jax.jit(jax.value_and_grad(peer, argnums=(0, 1)))(jq, jk)
    np.testing.assert_allclose(float(v1), float(v2), rtol=1e-12)
    for a, b in zip(g1, g2):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-9, atol=1e-12)


@needs_jax
def test_supervised_contrastive_equals_optax_ntxent_with_two_views_per_label(rng):
    """With every label held by exactly two samples, SupCon's L_out is
    NT-Xent: optax.losses.ntxent, values and jax gradients."""
    import jax
    import jax.numpy as jnp
    import optax

    y = rng.permutation(np.repeat(np.arange(5), 2))
    x = jnp.asarray(rng.normal(size=(10, 4)))
    jy = jnp.asarray(y)
    ours = lambda e: losskit.supervised_contrastive(e, jy, temperature=0.2)
    peer = lambda e: optax.losses.ntxent(e, jy, temperature=0.2)
    v1, g1 = jax.jit(jax.value_and_grad(ours))(x)
    v2, g2 = jax.jit(jax.value_and_grad(peer))(x)
    np.testing.assert_allclose(float(v1), float(v2), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(g1), np.asarray(g2), rtol=1e-9, atol=1e-12)


def test_info_nce_forms_agree(rng):
    """The two-view form is the symmetric mean of the explicit-negatives form
    whose negatives are the other 2N - 2 views, and SupCon on the stacked
    views with labels [0..N-1, 0..N-1]."""
    n = 5
    q, k = rng.normal(size=(n, 3)), rng.normal(size=(n, 3))
    two_view = losskit.info_nce(q, k, temperature=0.3, reduction="none")
    views = np.concatenate([q, k])
    neg_q = np.stack([np.delete(views, [i, i + n], axis=0) for i in range(n)])
    from_q = losskit.info_nce(q, k, negatives=neg_q, temperature=0.3, reduction="none")
    from_k = losskit.info_nce(k, q, negatives=neg_q, temperature=0.3, reduction="none")
    np.testing.assert_allclose(two_view, 0.5 * (from_q + from_k), rtol=1e-12)
    supcon = losskit.supervised_contrastive(views, np.concatenate([np.arange(n), np.arange(n)]), temperature=0.3,
                                            reduction="none")
    np.testing.assert_allclose(two_view, 0.5 * (supcon[:n] + supcon[n:]), rtol=1e-12)
    # shared negatives: the same as per-query negatives repeated
    shared = rng.normal(size=(4, 3))
    np.testing.assert_allclose(losskit.info_nce(q, k, negatives=shared, reduction="none"),
                               losskit.info_nce(q, k, negatives=np.broadcast_to(shared, (n, 4, 3)), reduction="none"),
                               rtol=1e-12)


@needs_torch
@pytest.mark.parametrize("variant", ["arcface", "cosface"])
def test_additive_margin_softmax_without_margin_is_torch_cross_entropy(variant, rng):
    """margin=0: torch.nn.functional.cross_entropy of scale * cos(x, w_c), values and gradients."""
    import torch.nn.functional as TF

    (x, y, w), _ = draw("additive_margin_softmax", rng, {})

    def peer(xt, yt, wt):
        cos = TF.normalize(xt, dim=1) @ TF.normalize(wt, dim=1).T
        return TF.cross_entropy(12.0 * cos, yt, reduction="none")

    k = {"variant": variant, "margin": 0.0, "scale": 12.0, "reduction": "none"}
    v1, g1 = _torch_values_and_grads(lambda a, b, c: losskit.additive_margin_softmax(a, b, c, **k), [x, y, w])
    v2, g2 = _torch_values_and_grads(peer, [x, y, w])
    np.testing.assert_allclose(v1, v2, rtol=1e-10, atol=1e-12)
    for a, b in zip(g1, g2):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_arcface_margin_equals_the_angle_form(rng):
    """cos(theta + m) through cos/sin (ours) equals it through arccos, over
    angles on both sides of pi - m (the reference switches there)."""
    theta = np.linspace(0.0, np.pi, 41)
    x = np.stack([np.cos(theta), np.sin(theta)], axis=1)
    w = np.array([[1.0, 0.0], [0.0, -1.0]])
    y = np.zeros(len(theta), dtype=np.int64)
    for easy in (False, True):
        got = losskit.additive_margin_softmax(x, y, w, margin=0.5, scale=4.0, easy_margin=easy, reduction="none")
        want = ref.additive_margin_softmax(x, y, w, margin=0.5, scale=4.0, easy_margin=easy, reduction="none")
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


# -- mask equals slicing ---------------------------------------------------------------


BATCH_LOSSES = [
    ("contrastive_embeddings", {}), ("contrastive_embeddings", {"distance": "cosine"}),
    ("batch_hard_triplet", {}), ("batch_all_triplet", {"distance": "squared_euclidean"}),
    ("supervised_contrastive", {}), ("info_nce", {}),
]


@pytest.mark.parametrize("name,params", BATCH_LOSSES, ids=lambda v: str(v))
def test_mask_equals_slicing(name, params, rng):
    """A masked sample leaves the batch: the masked call equals the call on the kept rows."""
    args, _kw = draw(name, rng, params)
    m = rng.random(args[0].shape[0]) < 0.6
    m[:2] = True
    fn = getattr(losskit, name)
    masked = fn(*args, **params, mask=m, reduction="none")
    sliced = fn(*(a[m] for a in args), **params, reduction="none")
    np.testing.assert_allclose(masked[m], sliced, rtol=1e-12, atol=1e-14)
    assert np.all(masked[~m] == 0.0)
    w = rng.uniform(0.5, 2.0, size=m.shape)
    np.testing.assert_allclose(fn(*args, **params, mask=m, weight=w),
                               fn(*(a[m] for a in args), **params, weight=w[m]), rtol=1e-12)


# -- degenerate batches ------------------------------------------------------------------


def _torch_grad(fn, x, *args, dtype=torch.float64 if torch else None, **kwargs):
    xt = torch.tensor(x, dtype=dtype, requires_grad=True)
    rest = [torch.from_numpy(np.asarray(a).copy()) for a in args]
    rest = [r.to(dtype) if r.is_floating_point() else r for r in rest]
    out = fn(xt, *rest, **kwargs)
    (g,) = torch.autograd.grad(out, xt)
    return out.detach(), g


MINED = ["batch_hard_triplet", "batch_all_triplet", "supervised_contrastive", "contrastive_embeddings"]


@needs_torch
@pytest.mark.parametrize("name", MINED)
@pytest.mark.parametrize("case", ["one_class", "all_distinct", "everything_masked", "one_sample", "empty"])
def test_batches_where_nothing_counts(name, case, rng):
    """One class (no negatives), all labels distinct (no positives), an empty
    mask, a single sample, an empty batch: 0 with a zero gradient, never NaN
    (contrastive_embeddings has pairs, hence a loss, in the first two)."""
    n = {"one_sample": 1, "empty": 0}.get(case, 6)
    x = rng.normal(size=(n, 3))
    y = {"one_class": np.zeros(n, np.int64), "all_distinct": np.arange(n)}.get(case, np.arange(n) % 2)
    mask = np.zeros(n, bool) if case == "everything_masked" else None
    fn = getattr(losskit, name)
    kwargs = {} if mask is None else {"mask": torch.from_numpy(mask)}
    value, g = _torch_grad(fn, x, y, **kwargs)
    assert torch.all(torch.isfinite(g))
    if name in ("contrastive_embeddings", "supervised_contrastive") and case == "one_class":
        assert float(value) > 0.0  # positive pairs count here
    elif name == "contrastive_embeddings" and case == "all_distinct":
        np.testing.assert_allclose(float(value), ref.contrastive_embeddings(x, y), rtol=1e-12)
    else:
        assert float(value) == 0.0 and torch.all(g == 0)
    if n:
        none = fn(x, y, mask=mask, reduction="none")
        assert none.shape == (n,) and np.all(np.isfinite(none))


@needs_torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("distance", ["euclidean", "squared_euclidean", "cosine"])
@pytest.mark.parametrize("name", ["batch_hard_triplet", "batch_all_triplet", "contrastive_embeddings"])
def test_identical_embeddings_have_finite_gradients(name, distance, dtype):
    """Every embedding the same (distance 0, where sqrt has an infinite
    derivative): batch-hard and batch-all give exactly the margin, the
    contrastive loss the negatives' 1/2 m^2 share, and all gradients are finite."""
    x = np.tile(np.array([[0.3, -1.2, 2.0]]), (6, 1))
    y = np.array([0, 0, 1, 1, 2, 2])
    value, g = _torch_grad(getattr(losskit, name), x, y, dtype=getattr(torch, dtype), distance=distance,
                           margin=0.5)
    assert torch.all(torch.isfinite(g))
    want = 0.5 if "triplet" in name else 0.5 * 0.25 * 4 / 5
    assert abs(float(value) - want) < 1e-6
    # and triplet_margin with a == p == n and eps = 0
    t = torch.tensor(x[:2], requires_grad=True)
    out = losskit.triplet_margin(t, t, t, eps=0.0)
    out.backward()
    assert float(out.detach()) == 1.0 and torch.all(torch.isfinite(t.grad))


ZERO_SAFE = [
    ("cosine_embedding", lambda x: (x, x[::-1].copy(), np.array([1, -1, 1, -1])), {}),
    ("info_nce", lambda x: (x, x[::-1].copy()), {}),
    ("supervised_contrastive", lambda x: (x, np.array([0, 0, 1, 1])), {}),
    ("batch_hard_triplet", lambda x: (x, np.array([0, 0, 1, 1])), {"distance": "cosine"}),
    ("contrastive_embeddings", lambda x: (x, np.array([0, 0, 1, 1])), {"distance": "cosine"}),
    ("additive_margin_softmax", lambda x: (x, np.array([0, 1, 2, 0]), np.eye(3)[:, :3]), {}),
    ("additive_margin_softmax", lambda x: (x, np.array([0, 1, 2, 0]), np.eye(3)[:, :3]), {"variant": "cosface"}),
]


@needs_torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,make,params", ZERO_SAFE, ids=[f"{n}-{p}" for n, _, p in ZERO_SAFE])
def test_zero_vectors_are_finite(name, make, params, dtype):
    """Zero embeddings (cosine of a zero vector): finite values and torch
    gradients, equal to the reference where it is defined the same way."""
    x = np.array([[0.0, 0.0, 0.0], [1.0, 2.0, -1.0], [0.0, 0.0, 0.0], [0.5, -0.3, 0.2]])
    args = make(x)
    value, g = _torch_grad(getattr(losskit, name), *args, dtype=getattr(torch, dtype), **params)
    assert torch.isfinite(value) and torch.all(torch.isfinite(g))
    want = ref.REFERENCES[name](*args, **params)
    assert abs(float(value) - want) < (1e-4 if dtype == "float32" else 1e-10) * max(1.0, abs(want))


@needs_torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("easy_margin", [False, True])
@pytest.mark.parametrize("variant", ["arcface", "cosface"])
def test_additive_margin_softmax_finite_at_cos_plus_minus_one(variant, easy_margin, dtype):
    """Embeddings exactly on their class vector (cos = 1) and opposite it
    (cos = -1), where d arccos / d cos is infinite: finite gradients, values
    equal to the reference."""
    w = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    x = np.array([[2.0, 0.0, 0.0], [0.0, -3.0, 0.0], [0.0, 0.0, 0.5], [-1.0, 0.0, 0.0]])
    y = np.array([0, 1, 2, 0])
    kw = {"variant": variant, "easy_margin": easy_margin, "scale": 30.0}
    for wrt in ("embeddings", "centers"):
        xt = torch.tensor(x, dtype=getattr(torch, dtype), requires_grad=wrt == "embeddings")
        wt = torch.tensor(w, dtype=getattr(torch, dtype), requires_grad=wrt == "centers")
        out = losskit.additive_margin_softmax(xt, torch.from_numpy(y), wt, **kw, reduction="none")
        (g,) = torch.autograd.grad(out.sum(), xt if wrt == "embeddings" else wt)
        assert torch.all(torch.isfinite(out)) and torch.all(torch.isfinite(g))
        np.testing.assert_allclose(out.detach().double().numpy(), ref.additive_margin_softmax(x, y, w, **kw,
                                   reduction="none"), rtol=1e-5 if dtype == "float32" else 1e-10, atol=1e-6)


@needs_torch
@pytest.mark.parametrize("scale", [1e-20, 1e4])
@pytest.mark.parametrize("name,params", [s for s in SETTINGS if s[0] not in ("contrastive", "margin_ranking")],
                         ids=[i for i, s in zip(IDS, SETTINGS) if s[0] not in ("contrastive", "margin_ranking")])
def test_float32_extreme_embeddings_are_finite(name, params, scale, rng):
    """Embeddings scaled to 1e-20 (below the normalisation floor) and to 1e4,
    in float32: finite values and torch gradients for every input."""
    args, kw = draw(name, rng, params)
    ours, _ = ours_and_ref(name, params)
    tensors = [torch.tensor(a * scale if a.dtype.kind == "f" else a,
                            dtype=torch.float32 if a.dtype.kind == "f" else None,
                            requires_grad=a.dtype.kind == "f") for a in args]
    tkw = {k: torch.tensor(v * scale, dtype=torch.float32) for k, v in kw.items()}
    out = getattr(losskit, name)(*tensors, **tkw, **ours, reduction="none")
    grads = torch.autograd.grad(out.sum(), [t for t in tensors if t.requires_grad])
    assert out.dtype == torch.float32 and torch.all(torch.isfinite(out))
    assert all(torch.all(torch.isfinite(g)) for g in grads)


@needs_jax
@pytest.mark.parametrize("name", MINED + ["info_nce", "additive_margin_softmax", "triplet_margin"])
def test_jax_gradients_finite_at_degenerate_inputs(name):
    """jax.grad in float32 through identical and zero embeddings and a
    one-class batch (every distance for the losses that take one)."""
    import jax
    import jax.numpy as jnp

    x = jnp.asarray(np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 1.0], [1.0, 1.0]]), dtype=jnp.float32)
    if name == "info_nce":
        f = lambda e: losskit.info_nce(e, e)
    elif name == "additive_margin_softmax":
        w = jnp.asarray(np.array([[1.0, 1.0], [-1.0, -1.0]]))
        f = lambda e: losskit.additive_margin_softmax(e, jnp.asarray([0, 1, 0, 1]), w)
    elif name == "triplet_margin":
        f = lambda e: losskit.triplet_margin(e, e, e[::-1], eps=0.0)
    else:
        distances = [{}] if name == "supervised_contrastive" else [{"distance": d} for d in
                                                                   ("euclidean", "squared_euclidean", "cosine")]
        f = lambda e: sum(getattr(losskit, name)(e, jnp.asarray(y), **kw) for kw in distances
                          for y in ([0, 0, 0, 0], [0, 1, 0, 1]))
    value, g = jax.jit(jax.value_and_grad(f))(x)
    assert g.dtype == jnp.float32 and bool(jnp.all(jnp.isfinite(g))) and bool(jnp.isfinite(value))


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "numpy"])
@pytest.mark.parametrize("negatives", ["per_query", "shared"])
def test_info_nce_negatives_on_every_backend(negatives, backend, rng):
    args, kw = draw("info_nce", rng, {"negatives": negatives})
    want = losskit.info_nce(*args, **kw, reduction="none")
    call = losskit.info_nce
    if backend == "jax":  # compiled once rather than op by op
        import jax

        call = jax.jit(losskit.info_nce, static_argnames="reduction")
    got = call(*(to(backend, a) for a in args), negatives=to(backend, kw["negatives"]), reduction="none")
    np.testing.assert_allclose(to_numpy(got), want, rtol=1e-10, atol=1e-12)


def test_contrastive_accepts_boolean_integer_and_float_same(rng):
    d = rng.uniform(0.0, 2.0, size=10)
    s = rng.random(10) < 0.5
    want = losskit.contrastive(d, s, reduction="none")
    for same in (s.astype(np.int64), s.astype(np.float64), s.astype(np.int8)):
        np.testing.assert_array_equal(losskit.contrastive(d, same, reduction="none"), want)
    np.testing.assert_allclose(want, np.where(s, 0.5 * d**2, 0.5 * np.maximum(1.0 - d, 0.0) ** 2), rtol=1e-15)


def test_contrastive_takes_distances_the_array_distance_is_the_choice(rng):
    """contrastive's array input is ``distances`` (it was ``distance``, the name of the string
    choice of contrastive_embeddings, batch_hard_triplet, batch_all_triplet)."""
    d, s = rng.uniform(0.0, 2.0, size=6), rng.random(6) < 0.5
    want = losskit.contrastive(d, s, reduction="none")
    np.testing.assert_array_equal(losskit.contrastive(distances=d, same=s, reduction="none"), want)
    with pytest.raises(TypeError, match="distance"):
        losskit.contrastive(distance=d, same=s)
    assert losskit.spec("contrastive").inputs == ("distances", "same")
    for name in ("contrastive_embeddings", "batch_hard_triplet", "batch_all_triplet"):
        assert losskit.spec(name).param("distance").kind == "choice"


def _block_rows(name, distance, present, rows, row_keys, every, keys, offset, row_labels, labels):
    """embedding_math's ``name`` on the anchors ``rows`` (their second views / texts
    ``row_keys``), the batch's rows ``offset`` on, against the batch ``every`` (``keys``)."""
    from losskit.functional import embedding_math as E

    xp = array_api_compat.array_namespace(every)
    if name == "nt_xent_rows":
        return E.nt_xent_rows(xp, rows, row_keys, every, keys, offset, present, 0.5), None
    if name == "clip_rows":
        return E.clip_rows(xp, rows, row_keys, every, keys, offset, present, 3.0), None
    if name == "supcon_rows":
        return E.supcon_rows(xp, rows, every, offset, row_labels, labels, present, 0.5)
    return getattr(E, name)(xp, rows, every, offset, row_labels, labels, present, 0.7, distance)


BLOCK_CASES = [("contrastive_embeddings_rows", d) for d in ("euclidean", "squared_euclidean", "cosine")] + [
    ("hardest_triplet_rows", "euclidean"), ("hardest_triplet_rows", "cosine"),
    ("all_triplet_rows", "squared_euclidean"), ("supcon_rows", None), ("nt_xent_rows", None), ("clip_rows", None)]


@pytest.mark.parametrize("with_mask", [False, True], ids=["all present", "masked"])
@pytest.mark.parametrize("name,distance", BLOCK_CASES, ids=[f"{n}-{d}" for n, d in BLOCK_CASES])
def test_embedding_math_blocks_tile_the_batch(name, distance, with_mask, rng):
    """The shared per-row math on blocks of anchors (as each rank of losskit.distributed
    computes its own rows against the gathered batch) gives, row for row, its values on the
    whole batch (as the single-process losses compute them), an empty block included."""
    x, y = rng.normal(size=(N, DIM)), labels(rng)
    keys = x + 0.3 * rng.normal(size=(N, DIM))
    present = (np.arange(N) % 4 != 1) if with_mask else None
    whole, valid = _block_rows(name, distance, present, x, keys, x, keys, 0, y, y)
    got, got_valid = [], []
    for start, stop in ((0, 4), (4, 4), (4, N)):  # copies: not the batch itself, as a rank's own rows
        v, ok = _block_rows(name, distance, present, x[start:stop].copy(), keys[start:stop].copy(), x, keys, start,
                            y[start:stop], y)
        got.append(v)
        got_valid.append(ok)
    np.testing.assert_allclose(np.concatenate(got), whole, rtol=1e-12, atol=1e-15)
    if valid is not None:
        np.testing.assert_array_equal(np.concatenate(got_valid), valid)


@needs_torch
def test_center_loss_gradients_are_the_paper_s(rng):
    """d/dx_i = x_i - c_{y_i}; d/dc_j = sum over samples of class j of c_j - x_i (for "sum")."""
    (x, y, c), _ = draw("center_loss", rng, {})
    xt, ct = torch.tensor(x, requires_grad=True), torch.tensor(c, requires_grad=True)
    losskit.center_loss(xt, torch.from_numpy(y), ct, reduction="sum").backward()
    np.testing.assert_allclose(xt.grad.numpy(), x - c[y], rtol=1e-12)
    want = np.zeros_like(c)
    for i, label in enumerate(y):
        want[label] += c[label] - x[i]
    np.testing.assert_allclose(ct.grad.numpy(), want, rtol=1e-12, atol=1e-15)


def test_defaults(rng):
    """Parameter defaults documented in the signatures: margin None is 0.5 for
    ArcFace and 0.35 for CosFace; info_nce and SupCon use temperature 0.1."""
    (x, y, w), _ = draw("additive_margin_softmax", rng, {})
    for variant, m in (("arcface", 0.5), ("cosface", 0.35)):
        assert losskit.additive_margin_softmax(x, y, w, variant=variant) == losskit.additive_margin_softmax(
            x, y, w, variant=variant, margin=m)
    q, k = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    assert losskit.info_nce(q, k) == losskit.info_nce(q, k, temperature=0.1)
    np.testing.assert_allclose(losskit.info_nce(q, k), ref.info_nce(q, k, temperature=0.1), rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["center_loss", "additive_margin_softmax", "batch_hard_triplet"])
def test_labels_of_any_integer_dtype_give_the_int64_result(name, backend):
    # issue 16, item 11: torch uint8 labels raised from index_select (a uint8 index is a mask there)
    rng = np.random.default_rng(5)
    x, labels, centers = rng.normal(size=(6, 3)), rng.integers(0, 3, 6), rng.normal(size=(3, 3))
    arrays = (x, labels, centers) if name != "batch_hard_triplet" else (x, labels)
    fn = getattr(losskit, name)
    expected = to_numpy(fn(*arrays, reduction="none"))
    for dtype in (np.uint8, np.int16, np.int32):
        moved = [to(backend, a.astype(dtype) if a is labels else a) for a in arrays]
        np.testing.assert_allclose(to_numpy(fn(*moved, reduction="none")), expected, rtol=1e-6)


@pytest.mark.parametrize("name", ["triplet_margin", "cosine_embedding", "center_loss", "info_nce"])
def test_a_weight_and_mask_given_as_lists_are_read_like_arrays(name):
    # issue 16, item 10: the structured losses route weight and mask through the shared validation
    args, _ = losskit.spec(name).example(np.random.default_rng(6))
    n = np.shape(losskit.spec(name).function(*args, reduction="none"))[0]
    w, m = np.linspace(0.5, 2.0, n), np.arange(n) % 2 == 0
    expected = losskit.spec(name).function(*args, weight=w, mask=m)
    got = losskit.spec(name).function(*args, weight=w.tolist(), mask=m.tolist())
    np.testing.assert_allclose(got, expected, rtol=1e-12)


@pytest.mark.parametrize("p", [3.0, 1e3, 1e308])
def test_a_large_norm_degree_tends_to_the_max_norm(p):
    # issue 16, item 9: p = 1e308 gave NaN (|v|^p overflowed: inf - inf)
    rng = np.random.default_rng(8)
    a, pos, neg = rng.normal(size=(3, 6, 4))
    got = losskit.triplet_margin(a, pos, neg, p=p, eps=0.0, reduction="none")
    d = lambda u: np.sum(np.abs(u) ** p, axis=-1) ** (1 / p) if p < 100 else np.abs(u).max(axis=-1)  # noqa: E731
    expected = np.maximum(d(a - pos) - d(a - neg) + 1.0, 0.0)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, expected, rtol=1e-2 if p == 1e3 else 1e-10)
