"""Classification losses (softmax over a class axis): naive references, peers
(torch.nn.functional.cross_entropy / nll_loss / multi_margin_loss,
sklearn.metrics.log_loss), closed-form derivatives against torch autograd and
finite differences, edge cases and backends."""

from __future__ import annotations

import numpy as np
import pytest

import losskit
from helpers import BACKENDS, HAVE_TORCH, finite_difference_full, to, to_numpy
from reference import classification as ref

torch = pytest.importorskip("torch") if HAVE_TORCH else None
needs_torch = pytest.mark.skipif(not HAVE_TORCH, reason="torch is not installed")

C = 4
REDUCTIONS = ("none", "sum", "mean")
NAMES = list(ref.REFERENCES)

# (loss, params) settings exercised everywhere; "cw" marks a class_weight drawn by the test.
SETTINGS = [
    ("cross_entropy", {}),
    ("cross_entropy", {"label_smoothing": 0.2}),
    ("cross_entropy", {"cw": True}),
    ("cross_entropy", {"cw": True, "label_smoothing": 0.3}),
    ("nll", {}),
    ("nll", {"cw": True}),
    ("softmax_focal", {}),
    ("softmax_focal", {"gamma": 0.0}),
    ("softmax_focal", {"gamma": 0.5}),
    ("softmax_focal", {"gamma": 1.0}),
    ("softmax_focal", {"gamma": 3.5, "alpha": 0.25}),
    ("softmax_focal", {"alpha": "vector"}),
    ("poly1_cross_entropy", {}),
    ("poly1_cross_entropy", {"epsilon": -1.0}),
    ("poly1_cross_entropy", {"epsilon": 2.5, "label_smoothing": 0.1}),
    ("poly1_cross_entropy", {"cw": True}),
    ("poly1_cross_entropy", {"cw": True, "label_smoothing": 0.2, "epsilon": 0.5}),
    ("multi_margin", {}),
    ("multi_margin", {"p": 2}),
    ("multi_margin", {"p": 2, "margin": 0.3, "cw": True}),
    ("multi_margin", {"margin": 2.0, "cw": True}),
    ("generalized_cross_entropy", {}),
    ("generalized_cross_entropy", {"q": 1.0}),
    ("generalized_cross_entropy", {"q": 0.05}),
]
IDS = [name + "".join(f"-{k}={v}" for k, v in p.items()) for name, p in SETTINGS]


def realise(params, rng, num_classes=C):
    """Replace the test's markers by arrays."""
    out = {}
    for k, v in params.items():
        if k == "cw":
            out["class_weight"] = rng.uniform(0.2, 2.0, size=num_classes)
        elif k == "alpha" and v == "vector":
            out["alpha"] = rng.uniform(0.1, 1.0, size=num_classes)
        else:
            out[k] = v
    return out


def draw(name, rng, shape, *, ignore=0.0):
    """Inputs (log-probabilities for nll, logits/scores otherwise) and labels
    with a fraction ``ignore`` set to -100."""
    x = rng.normal(0.0, 2.0, size=shape)
    if name == "nll":
        axis = 1 if len(shape) >= 2 else 0
        x = x - np.log(np.exp(x).sum(axis=axis, keepdims=True))
    sample = tuple(s for i, s in enumerate(shape) if i != (1 if len(shape) >= 2 else 0))
    y = rng.integers(0, shape[1] if len(shape) >= 2 else shape[0], size=sample)
    if ignore:
        y = np.where(rng.random(sample) < ignore, -100, y)
    return x, y


def fn(name):
    return getattr(losskit, name)


# -- the naive reference -----------------------------------------------------------


@pytest.mark.parametrize("name,params", SETTINGS, ids=IDS)
@pytest.mark.parametrize("shape", [(7, C), (3, C, 2, 3), (C,)], ids=["2d", "4d", "row"])
def test_matches_reference(name, params, shape, rng):
    p = realise(params, rng)
    x, y = draw(name, rng, shape, ignore=0.25 if len(shape) > 1 else 0.0)
    sample = y.shape
    w = rng.uniform(0.0, 2.0, size=sample)
    m = rng.random(sample) < 0.7
    for reduction in REDUCTIONS:
        for kw in ({}, {"weight": w}, {"mask": m}, {"weight": w, "mask": m}):
            got = fn(name)(x, y, **p, **kw, reduction=reduction)
            want = ref.REFERENCES[name](x, y, **p, **kw, reduction=reduction)
            assert np.shape(got) == np.shape(want)
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("cw", [False, True])
@pytest.mark.parametrize("shape", [(6, C), (2, C, 3)], ids=["2d", "3d"])
def test_cross_entropy_probability_targets_match_reference(shape, cw, reduction, rng):
    x = rng.normal(size=shape)
    t = rng.random(shape)
    t = t / t.sum(axis=1, keepdims=True)
    p = {"class_weight": rng.uniform(0.2, 2.0, size=C)} if cw else {}
    w = rng.uniform(0.0, 2.0, size=t.sum(axis=1).shape)
    for ls in (0.0, 0.15):
        got = losskit.cross_entropy(x, t, **p, label_smoothing=ls, weight=w, reduction=reduction)
        want = ref.cross_entropy(x, t, **p, label_smoothing=ls, weight=w, reduction=reduction)
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


# -- peers ---------------------------------------------------------------------------


def _torch_pair(fn_ours, fn_peer, x, *args):
    """(value, gradient) of both by torch autograd, float64."""
    out = []
    for f in (fn_ours, fn_peer):
        xt = torch.tensor(x, requires_grad=True)
        targs = [torch.from_numpy(np.asarray(a).copy()) if isinstance(a, np.ndarray) else a for a in args]
        v = f(xt, *targs)
        (g,) = torch.autograd.grad(v.sum(), xt)
        out.append((v.detach().numpy(), g.numpy()))
    return out


@needs_torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("label_smoothing", [0.0, 0.25])
@pytest.mark.parametrize("cw", [False, True])
@pytest.mark.parametrize("shape", [(9, C), (2, C, 3, 2), (C,)], ids=["2d", "4d", "row"])
@pytest.mark.parametrize("probabilities", [False, True], ids=["labels", "probabilities"])
def test_cross_entropy_equals_torch(probabilities, shape, cw, label_smoothing, reduction, rng):
    """torch.nn.functional.cross_entropy, values and gradients, every combination."""
    import torch.nn.functional as TF

    x, y = draw("cross_entropy", rng, shape, ignore=0.3 if len(shape) > 1 else 0.0)
    if probabilities:
        y = rng.random(shape)
        y = y / y.sum(axis=1 if len(shape) > 1 else 0, keepdims=True)
    cwt = rng.uniform(0.2, 2.0, size=C) if cw else None
    ours = lambda xt, yt: losskit.cross_entropy(  # noqa: E731
        xt, yt, class_weight=None if cwt is None else torch.tensor(cwt), label_smoothing=label_smoothing,
        reduction=reduction)
    peer = lambda xt, yt: TF.cross_entropy(  # noqa: E731
        xt, yt, weight=None if cwt is None else torch.tensor(cwt), label_smoothing=label_smoothing,
        reduction=reduction)
    (v1, g1), (v2, g2) = _torch_pair(ours, peer, x, y)
    np.testing.assert_allclose(v1, v2, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(g1, g2, rtol=1e-10, atol=1e-12)


@needs_torch
def test_cross_entropy_equals_torch_with_a_zero_class_weight(rng):
    """Label smoothing keeps a sample whose class weight is 0 in torch's
    numerator (its smoothing term) but not in the denominator."""
    import torch.nn.functional as TF

    x, y = draw("cross_entropy", rng, (8, C), ignore=0.2)
    cw = np.array([0.0, 1.0, 2.0, 0.5])
    y[:3] = 0
    for reduction in REDUCTIONS:
        got = losskit.cross_entropy(torch.tensor(x), torch.tensor(y), class_weight=torch.tensor(cw),
                                    label_smoothing=0.3, reduction=reduction)
        want = TF.cross_entropy(torch.tensor(x), torch.tensor(y), weight=torch.tensor(cw), label_smoothing=0.3,
                                reduction=reduction)
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-10, atol=1e-12)


@needs_torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("cw", [False, True])
@pytest.mark.parametrize("shape", [(9, C), (2, C, 3, 2), (C,)], ids=["2d", "4d", "row"])
def test_nll_equals_torch(shape, cw, reduction, rng):
    """torch.nn.functional.nll_loss, values and gradients."""
    import torch.nn.functional as TF

    x, y = draw("nll", rng, shape, ignore=0.3 if len(shape) > 1 else 0.0)
    cwt = rng.uniform(0.2, 2.0, size=C) if cw else None
    k = {"reduction": reduction}
    ours = lambda xt, yt: losskit.nll(xt, yt, class_weight=None if cwt is None else torch.tensor(cwt), **k)  # noqa: E731
    peer = lambda xt, yt: TF.nll_loss(xt, yt, weight=None if cwt is None else torch.tensor(cwt), **k)  # noqa: E731
    (v1, g1), (v2, g2) = _torch_pair(ours, peer, x, y)
    np.testing.assert_allclose(v1, v2, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(g1, g2, rtol=1e-12, atol=1e-12)
    # and nll(log_softmax(z)) == cross_entropy(z)
    z = rng.normal(size=shape)
    axis = 1 if len(shape) > 1 else 0
    lp = z - np.log(np.exp(z).sum(axis=axis, keepdims=True))
    np.testing.assert_allclose(losskit.nll(lp, y, class_weight=cwt, reduction=reduction),
                               losskit.cross_entropy(z, y, class_weight=cwt, reduction=reduction), rtol=1e-10)


@needs_torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("cw", [False, True])
@pytest.mark.parametrize("p,margin", [(1, 1.0), (2, 1.0), (1, 0.4), (2, 2.5)])
@pytest.mark.parametrize("shape", [(9, C), (C,)], ids=["2d", "row"])
def test_multi_margin_equals_torch(shape, p, margin, cw, reduction, rng):
    """torch.nn.functional.multi_margin_loss, values and gradients (its mean
    divides by N even with class weights)."""
    import torch.nn.functional as TF

    x, y = draw("multi_margin", rng, shape)
    x = 0.5 * x
    cwt = rng.uniform(0.2, 2.0, size=C) if cw else None
    k = {"p": p, "margin": margin, "reduction": reduction}
    ours = lambda xt, yt: losskit.multi_margin(xt, yt, class_weight=None if cwt is None else torch.tensor(cwt), **k)  # noqa: E731
    peer = lambda xt, yt: TF.multi_margin_loss(xt, yt, weight=None if cwt is None else torch.tensor(cwt), **k)  # noqa: E731
    (v1, g1), (v2, g2) = _torch_pair(ours, peer, x, y)
    np.testing.assert_allclose(v1, v2, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(g1, g2, rtol=1e-12, atol=1e-12)


def test_cross_entropy_equals_sklearn_log_loss(rng):
    """sklearn.metrics.log_loss takes probabilities: compare on softmax(logits)."""
    from sklearn.metrics import log_loss

    x, y = draw("cross_entropy", rng, (20, C))
    probs = np.exp(x - x.max(axis=1, keepdims=True))
    probs = probs / probs.sum(axis=1, keepdims=True)
    w = rng.uniform(0.1, 2.0, size=20)
    np.testing.assert_allclose(losskit.cross_entropy(x, y), log_loss(y, probs, labels=list(range(C))), rtol=1e-10)
    np.testing.assert_allclose(losskit.cross_entropy(x, y, weight=w),
                               log_loss(y, probs, sample_weight=w, labels=list(range(C))), rtol=1e-10)
    np.testing.assert_allclose(losskit.cross_entropy(x, y, reduction="sum"),
                               log_loss(y, probs, normalize=False, labels=list(range(C))), rtol=1e-10)


# -- closed-form derivatives --------------------------------------------------------


def _spec_call(name, raw, y, p, reduction):
    """The loss as a function of the raw input (logits; log-probabilities for nll)."""
    return fn(name)(raw, y, **p, reduction=reduction)


def _derivative_case(name, params, rng, shape=(6, C)):
    p = realise(params, rng)
    raw, y = draw(name, rng, shape, ignore=0.3)
    y[0] = 1  # at least one sample counts
    if name == "multi_margin":
        raw = 0.5 * raw
    if name == "nll":
        raw = raw - 0.01  # finite differences stay inside the domain (<= 0)
    return raw, y, p


@needs_torch
@pytest.mark.parametrize("name,params", SETTINGS, ids=IDS)
def test_gradient_equals_autograd_and_finite_differences(name, params, rng):
    raw, y, p = _derivative_case(name, params, rng)
    loss = losskit.get(name, **p)
    grad = loss.gradient(raw, y)
    assert grad.shape == raw.shape and grad.dtype == raw.dtype
    tp = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in p.items()}
    rt = torch.tensor(raw, requires_grad=True)
    (auto,) = torch.autograd.grad(fn(name)(rt, torch.tensor(y), **tp, reduction="sum"), rt)
    np.testing.assert_allclose(grad, auto.numpy(), rtol=1e-9, atol=1e-12)
    fd = finite_difference_full(lambda r: _spec_call(name, r, y, p, "sum"), raw)
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-7)
    ignored = y == -100
    assert np.all(grad[ignored] == 0.0)


@needs_torch
@pytest.mark.parametrize("name,params", SETTINGS, ids=IDS)
def test_hessian_equals_autograd_per_sample(name, params, rng):
    raw, y, p = _derivative_case(name, params, rng)
    loss = losskit.get(name, **p)
    full = loss.hessian(raw, y, full=True)
    diag = loss.hessian(raw, y)
    assert full.shape == (raw.shape[0], C, C) and diag.shape == raw.shape
    tp = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in p.items()}
    for i in range(raw.shape[0]):
        def row_loss(r, i=i):
            return fn(name)(r[None, :], torch.tensor(y[i : i + 1]), **tp, reduction="sum")

        auto = torch.autograd.functional.hessian(row_loss, torch.tensor(raw[i])).numpy()
        np.testing.assert_allclose(full[i], auto, rtol=1e-8, atol=1e-11)
        np.testing.assert_allclose(diag[i], np.diag(auto), rtol=1e-8, atol=1e-11)
        np.testing.assert_allclose(full[i], full[i].T, rtol=0, atol=1e-14)
    # the Hessian's diagonal also by finite differences of the closed-form gradient
    fd = np.zeros_like(raw)
    for c in range(C):
        e = np.zeros_like(raw)
        e[:, c] = 1e-6
        fd[:, c] = (loss.gradient(raw + e, y)[:, c] - loss.gradient(raw - e, y)[:, c]) / 2e-6
    np.testing.assert_allclose(diag, fd, rtol=1e-5, atol=1e-6)


@needs_torch
@pytest.mark.parametrize("cw", [False, True])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
def test_cross_entropy_probability_target_derivatives(cw, label_smoothing, rng):
    raw = rng.normal(size=(5, C))
    t = rng.random((5, C))
    t = t / t.sum(axis=1, keepdims=True)
    p = {"class_weight": rng.uniform(0.2, 2.0, size=C)} if cw else {}
    loss = losskit.get("cross_entropy", label_smoothing=label_smoothing, **p)
    grad, diag, full = loss.gradient(raw, t), loss.hessian(raw, t), loss.hessian(raw, t, full=True)
    tp = {k: torch.tensor(v) for k, v in p.items()}
    rt = torch.tensor(raw, requires_grad=True)
    (auto,) = torch.autograd.grad(
        losskit.cross_entropy(rt, torch.tensor(t), label_smoothing=label_smoothing, reduction="sum", **tp), rt)
    np.testing.assert_allclose(grad, auto.numpy(), rtol=1e-10, atol=1e-12)
    for i in range(5):
        h = torch.autograd.functional.hessian(
            lambda r, i=i: losskit.cross_entropy(r[None], torch.tensor(t[i : i + 1]), label_smoothing=label_smoothing,
                                                 reduction="sum", **tp), torch.tensor(raw[i])).numpy()
        np.testing.assert_allclose(full[i], h, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(diag[i], np.diag(h), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name,params", SETTINGS, ids=IDS)
def test_derivatives_on_spatial_inputs_match_the_rows(name, params, rng):
    """(N, C, d1, d2) raw gives the same per-row derivatives as its rows laid out as (M, C)."""
    raw, y, p = _derivative_case(name, params, rng, shape=(2, C, 3, 2))
    loss = losskit.get(name, **p)
    g, h = loss.gradient(raw, y), loss.hessian(raw, y)
    assert g.shape == raw.shape and h.shape == raw.shape
    rows = np.moveaxis(raw, 1, -1).reshape(-1, C)
    labels = y.reshape(-1)
    np.testing.assert_allclose(np.moveaxis(g, 1, -1).reshape(-1, C), loss.gradient(rows, labels), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(np.moveaxis(h, 1, -1).reshape(-1, C), loss.hessian(rows, labels), rtol=1e-13, atol=1e-15)
    # one unbatched row
    g1, h1 = loss.gradient(rows[0], labels[0]), loss.hessian(rows[0], labels[0])
    np.testing.assert_allclose(g1, loss.gradient(rows[:1], labels[:1])[0], rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(h1, loss.hessian(rows[:1], labels[:1])[0], rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("name", NAMES)
def test_derivatives_keep_backend_and_dtype(name, rng):
    raw, y = draw(name, rng, (5, C))
    for backend in BACKENDS:
        for dtype in (np.float32,) if backend == "jax" else (np.float32, np.float64):
            r = to(backend, raw.astype(dtype))
            g = losskit.get(name).gradient(r, to(backend, y))
            h = losskit.get(name).hessian(r, to(backend, y), full=True)
            assert type(g).__module__.split(".")[0] == type(r).__module__.split(".")[0]
            assert g.dtype == r.dtype and h.dtype == r.dtype
            want = losskit.get(name).gradient(raw, y)
            np.testing.assert_allclose(to_numpy(g), want, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-6)


# -- convexity flags, honestly ------------------------------------------------------


def _min_eigenvalue(name, p, rng, trials=200):
    """Smallest eigenvalue of the per-sample Hessian over random rows, some
    of them confident (large logits), some badly wrong."""
    lows = []
    loss = losskit.get(name, **p)
    for scale in (0.5, 2.0, 6.0):
        raw, y = draw(name, rng, (trials, C))
        raw = raw * scale
        full = loss.hessian(raw, y, full=True)
        lows.append(np.linalg.eigvalsh(full).min())
    return min(lows)


@pytest.mark.parametrize("name,params", [
    ("cross_entropy", {}), ("cross_entropy", {"label_smoothing": 0.3}), ("nll", {}), ("multi_margin", {"p": 2}),
    ("poly1_cross_entropy", {"epsilon": 1.0}), ("poly1_cross_entropy", {"epsilon": -1.0}),
    ("softmax_focal", {"gamma": 0.0}),
])
def test_convex_settings_have_psd_hessians(name, params, rng):
    assert _min_eigenvalue(name, params, rng) >= -1e-10


@pytest.mark.parametrize("name,params", [
    ("softmax_focal", {"gamma": 2.0}), ("softmax_focal", {"gamma": 0.5}), ("generalized_cross_entropy", {}),
    ("generalized_cross_entropy", {"q": 1.0}), ("poly1_cross_entropy", {"epsilon": 3.0}),
])
def test_nonconvex_losses_are_flagged(name, params, rng):
    spec = losskit.spec(name)
    assert not spec.convex and not spec.hessian_nonnegative
    assert _min_eigenvalue(name, params, rng) < -1e-6
    raw, y = draw(name, rng, (400, C))
    assert np.min(losskit.get(name, **params).hessian(6.0 * raw, y)) < 0  # the diagonal goes negative too


def test_convex_flags():
    for name in ("cross_entropy", "nll", "multi_margin"):
        assert losskit.spec(name).convex and losskit.spec(name).hessian_nonnegative, name
    assert losskit.spec("generalized_cross_entropy").robust


# -- special cases and parameter edges ----------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_focal_with_gamma_zero_is_cross_entropy(reduction, rng):
    x, y = draw("softmax_focal", rng, (10, C), ignore=0.2)
    w = rng.uniform(0.0, 2.0, size=10)
    np.testing.assert_allclose(losskit.softmax_focal(x, y, gamma=0.0, weight=w, reduction=reduction),
                               losskit.cross_entropy(x, y, weight=w, reduction=reduction), rtol=1e-12)
    a = rng.uniform(0.1, 1.0, size=C)
    np.testing.assert_allclose(losskit.softmax_focal(x, y, gamma=0.0, alpha=a, reduction="none"),
                               a[np.where(y == -100, 0, y)] * losskit.cross_entropy(x, y, reduction="none"), rtol=1e-12)
    np.testing.assert_allclose(losskit.get("softmax_focal", gamma=0.0).gradient(x, y),
                               losskit.get("cross_entropy").gradient(x, y), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(losskit.get("softmax_focal", gamma=0.0).hessian(x, y, full=True),
                               losskit.get("cross_entropy").hessian(x, y, full=True), rtol=1e-12, atol=1e-15)


def test_focal_alpha_multiplies_and_is_not_in_the_denominator(rng):
    x, y = draw("softmax_focal", rng, (10, C))
    base = losskit.softmax_focal(x, y)
    np.testing.assert_allclose(losskit.softmax_focal(x, y, alpha=0.25), 0.25 * base, rtol=1e-12)
    a = rng.uniform(0.1, 1.0, size=C)
    per = losskit.softmax_focal(x, y, reduction="none")
    np.testing.assert_allclose(losskit.softmax_focal(x, y, alpha=a), np.mean(a[y] * per), rtol=1e-12)


def test_gce_limits(rng):
    x, y = draw("generalized_cross_entropy", rng, (10, C))
    ce = losskit.cross_entropy(x, y, reduction="none")
    for q, tol in ((1e-3, 5e-3), (1e-6, 5e-6), (1e-9, 5e-9)):
        np.testing.assert_allclose(losskit.generalized_cross_entropy(x, y, q=q, reduction="none"), ce, rtol=tol)
        np.testing.assert_allclose(losskit.get("generalized_cross_entropy", q=q).gradient(x, y),
                                   losskit.get("cross_entropy").gradient(x, y), rtol=tol, atol=tol)
    p = np.exp(x - x.max(axis=1, keepdims=True))
    p = p / p.sum(axis=1, keepdims=True)
    mae = 1.0 - p[np.arange(10), y]
    np.testing.assert_allclose(losskit.generalized_cross_entropy(x, y, q=1.0, reduction="none"), mae, rtol=1e-12)
    # bounded by 1/q however wrong the prediction
    assert np.all(losskit.generalized_cross_entropy(-50.0 * np.eye(C)[y], y, q=0.5, reduction="none") <= 2.0)


@pytest.mark.parametrize("cw", [False, True])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
def test_poly1_with_epsilon_zero_is_cross_entropy(cw, label_smoothing, rng):
    x, y = draw("poly1_cross_entropy", rng, (10, C), ignore=0.2)
    p = {"class_weight": rng.uniform(0.0, 2.0, size=C)} if cw else {}
    w = rng.uniform(0.0, 2.0, size=10)
    for reduction in REDUCTIONS:
        k = dict(p, label_smoothing=label_smoothing, weight=w, reduction=reduction)
        np.testing.assert_allclose(losskit.poly1_cross_entropy(x, y, epsilon=0.0, **k), losskit.cross_entropy(x, y, **k),
                                   rtol=1e-12)
    a = losskit.get("poly1_cross_entropy", epsilon=0.0, label_smoothing=label_smoothing, **p)
    b = losskit.get("cross_entropy", label_smoothing=label_smoothing, **p)
    np.testing.assert_allclose(a.gradient(x, y), b.gradient(x, y), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(a.hessian(x, y, full=True), b.hessian(x, y, full=True), rtol=1e-12, atol=1e-15)


def test_poly1_adds_epsilon_times_one_minus_pt(rng):
    x, y = draw("poly1_cross_entropy", rng, (10, C))
    p = np.exp(x - x.max(axis=1, keepdims=True))
    p = p / p.sum(axis=1, keepdims=True)
    pt = p[np.arange(10), y]
    ce = losskit.cross_entropy(x, y, reduction="none")
    np.testing.assert_allclose(losskit.poly1_cross_entropy(x, y, epsilon=2.0, reduction="none"), ce + 2.0 * (1 - pt),
                               rtol=1e-12)
    # epsilon = -1 is the smallest value that keeps it non-negative: -log p - (1 - p) >= 0
    assert np.all(losskit.poly1_cross_entropy(5 * x, y, epsilon=-1.0, reduction="none") >= 0.0)


def test_multi_margin_zero_once_the_margin_is_met():
    x = np.array([[3.0, 1.0, 1.9, -2.0]])
    assert float(losskit.multi_margin(x, np.array([0]))) == 0.0
    assert float(losskit.multi_margin(x, np.array([0]), margin=1.2)) == pytest.approx(0.1 / 4)
    assert float(losskit.multi_margin(x, np.array([0]), margin=1.2, p=2)) == pytest.approx(0.01 / 4)


@pytest.mark.parametrize("name", NAMES)
def test_everything_ignored_gives_zero_with_zero_gradient(name, rng):
    x, _ = draw(name, rng, (5, C))
    y = np.full(5, -100)
    for reduction in REDUCTIONS:
        assert np.all(fn(name)(x, y, reduction=reduction) == 0.0)
    if name in ("cross_entropy", "nll", "poly1_cross_entropy", "multi_margin"):
        cw = np.ones(C)
        assert fn(name)(x, y, class_weight=cw) == 0.0
    if name in ("cross_entropy", "poly1_cross_entropy"):
        assert fn(name)(x, y, class_weight=np.ones(C), label_smoothing=0.1) == 0.0
    assert np.all(losskit.get(name).gradient(x, y) == 0.0)
    assert np.all(losskit.get(name).hessian(x, y, full=True) == 0.0)
    if HAVE_TORCH:
        xt = torch.tensor(x, requires_grad=True)
        fn(name)(xt, torch.tensor(y)).backward()
        assert torch.all(xt.grad == 0)
        assert not torch.any(torch.isnan(xt.grad))


@pytest.mark.parametrize("name", NAMES)
def test_zero_length_batch_and_custom_ignore_index(name, rng):
    x, y = draw(name, rng, (6, C))
    assert fn(name)(x[:0], y[:0]) == 0.0
    assert fn(name)(x[:0], y[:0], reduction="none").shape == (0,)
    y2 = y.copy()
    y2[:2] = 7
    kept = fn(name)(x, y2, ignore_index=7)
    np.testing.assert_allclose(kept, fn(name)(x[2:], y[2:]), rtol=1e-12)
    if name != "nll":  # one class: a single logit; every loss is 0 (hinge has no other class)
        assert np.all(fn(name)(rng.normal(size=(3, 1)), np.zeros(3, dtype=int), reduction="none") == 0.0)


@needs_torch
@pytest.mark.parametrize("name,params", SETTINGS, ids=IDS)
def test_extreme_logits_float32_are_finite(name, params, rng):
    p = {k: torch.tensor(v, dtype=torch.float32) if isinstance(v, np.ndarray) else v
         for k, v in realise(params, rng).items()}
    grid = np.array([-1e4, -30.0, 0.0, 30.0, 1e4], dtype=np.float32)
    raw = rng.choice(grid, size=(16, C)).astype(np.float32)
    raw[0] = [1e4, -1e4, -1e4, -1e4]  # p_y -> 1 exactly
    raw[1] = [0.0, 60.0, 0.0, 0.0]  # p_y -> 0
    y = rng.integers(0, C, size=16)
    y[0] = 0
    y[1] = 0
    if name == "nll":
        raw = np.minimum(raw, 0.0)
    rt = torch.tensor(raw, requires_grad=True)
    out = fn(name)(rt, torch.tensor(y), **p)
    assert out.dtype == torch.float32 and torch.isfinite(out)
    out.backward()
    assert torch.all(torch.isfinite(rt.grad))
    loss = losskit.get(name, **p)
    g, h = loss.gradient(rt.detach(), torch.tensor(y)), loss.hessian(rt.detach(), torch.tensor(y), full=True)
    assert torch.all(torch.isfinite(g)) and torch.all(torch.isfinite(h))
    assert g.dtype == torch.float32


@needs_torch
@pytest.mark.parametrize("gamma", [0.0, 0.1, 0.5, 1.0, 1.5, 2.0])
def test_focal_near_certain_predictions_stay_finite_and_accurate(gamma):
    """p_y -> 1 in float64: 1 - p_y from expm1, gradients finite and matching autograd."""
    for gap in (5.0, 20.0, 36.0, 40.0, 800.0):
        raw = np.array([[gap, 0.0, 0.0, -1.0]])
        y = np.array([0])
        loss = losskit.get("softmax_focal", gamma=gamma)
        g, h = loss.gradient(raw, y), loss.hessian(raw, y, full=True)
        assert np.all(np.isfinite(g)) and np.all(np.isfinite(h))
        rt = torch.tensor(raw, requires_grad=True)
        (auto,) = torch.autograd.grad(losskit.softmax_focal(rt, torch.tensor(y), gamma=gamma), rt)
        assert torch.all(torch.isfinite(auto))
        # both round log-sum-exp; beyond gap 20, 1 - p_y is below the rounding of 1 + delta
        np.testing.assert_allclose(g, auto.numpy(), rtol=1e-6, atol=1e-300 if gap <= 20.0 else 1e-15)
        value = float(losskit.softmax_focal(raw, y, gamma=gamma))
        delta = np.exp(-gap) * (2 + np.exp(-1.0))  # p_y = 1 / (1 + delta)
        exact = (delta / (1 + delta)) ** gamma * np.log1p(delta)
        assert 0.0 <= value <= 2 * exact
        if gap <= 20.0:  # beyond, log-sum-exp itself rounds 1 + delta
            assert value == pytest.approx(exact, rel=1e-6)


def test_label_smoothing_edges(rng):
    x, y = draw("cross_entropy", rng, (6, C))
    logp = x - x.max(1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(1, keepdims=True))
    uniform = -logp.mean(1)
    np.testing.assert_allclose(losskit.cross_entropy(x, y, label_smoothing=1.0, reduction="none"), uniform, rtol=1e-12)


# -- backends ----------------------------------------------------------------------


BACKEND_SETTINGS = [
    ("cross_entropy", {"cw": True, "label_smoothing": 0.3}),
    ("nll", {"cw": True}),
    ("softmax_focal", {"alpha": "vector", "gamma": 0.5}),
    ("poly1_cross_entropy", {"cw": True, "label_smoothing": 0.2, "epsilon": 0.5}),
    ("multi_margin", {"p": 2, "margin": 0.3, "cw": True}),
    ("generalized_cross_entropy", {}),
]


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "numpy"])
@pytest.mark.parametrize("name,params", BACKEND_SETTINGS, ids=[n for n, _ in BACKEND_SETTINGS])
def test_backends_agree(name, params, backend, rng):
    p = realise(params, rng)
    x, y = draw(name, rng, (2, C, 3), ignore=0.2)
    w = rng.uniform(0.0, 2.0, size=y.shape)
    pb = {k: to(backend, v) if isinstance(v, np.ndarray) else v for k, v in p.items()}
    for reduction in REDUCTIONS:
        want = fn(name)(x, y, **p, weight=w, reduction=reduction)
        got = fn(name)(to(backend, x), to(backend, y), **pb, weight=to(backend, w), reduction=reduction)
        assert type(got).__module__.split(".")[0] == type(to(backend, x)).__module__.split(".")[0]
        np.testing.assert_allclose(to_numpy(got), want, rtol=1e-12, atol=1e-14)
    g = losskit.get(name, **pb).gradient(to(backend, x), to(backend, y))
    np.testing.assert_allclose(to_numpy(g), losskit.get(name, **p).gradient(x, y), rtol=1e-12, atol=1e-14)


def test_registry_entries():
    for name in NAMES:
        spec = losskit.spec(name)
        assert spec.family == "classification" and spec.kind == "class_axis" and spec.task == "multiclass"
        assert spec.pointwise and spec.references and spec.summary
        assert spec.function is fn(name)
    assert losskit.spec("cross_entropy").estimates == "class probabilities"
    assert "not a proper" in losskit.spec("softmax_focal").notes.lower()
    assert "not a proper" in losskit.spec("generalized_cross_entropy").notes.lower()
    assert losskit.spec("nll_loss") is losskit.spec("nll")
    assert losskit.spec("cross_entropy").input_space == "logit"
    assert losskit.spec("nll").input_space == "log-probability"
    assert "torch.nn.functional.cross_entropy" in losskit.spec("cross_entropy").peers


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["cross_entropy", "nll", "softmax_focal", "multi_margin"])
def test_an_ignore_index_beyond_the_label_dtype_ignores_nothing_on_every_backend(name, backend):
    # issue 16, item 11: ignore_index=10**30 overflowed on torch and JAX; no label can equal it
    rng = np.random.default_rng(3)
    z, y = rng.normal(size=(5, C)), rng.integers(0, C, 5)
    if name == "nll":  # log-probabilities
        z = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    fn = getattr(losskit, name)
    expected = to_numpy(fn(z, y, ignore_index=None, reduction="none"))
    for ignore_index in (10**30, -(10**30), 2**63):
        got = fn(to(backend, z), to(backend, y), ignore_index=ignore_index, reduction="none")
        np.testing.assert_allclose(to_numpy(got), expected, rtol=1e-6)
