"""Binary / multi-label losses against the naive references (tests/reference/binary.py),
against their peers (named per test), and their closed-form derivatives against
torch autograd and finite differences."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import losskit
from helpers import BACKENDS, HAVE_JAX, HAVE_TORCH, finite_difference, to, to_numpy, torch_grad
from losskit.functional import binary as FB
from reference import binary as ref

needs_torch = pytest.mark.skipif(not HAVE_TORCH, reason="torch is not installed")
REDUCTIONS = ("none", "mean", "sum")
SHAPE = (6, 3)


def _targets(name, rng, shape):
    if name in ("hinge", "soft_margin", "squared_hinge", "hinge_embedding"):
        return rng.choice([-1.0, 1.0], size=shape)
    y = rng.uniform(0.0, 1.0, size=shape)
    y.flat[0], y.flat[1] = 0.0, 1.0  # hard labels next to soft ones
    return y


def _inputs(name, rng, shape):
    if name in ("binary_cross_entropy", "soft_fbeta"):
        p = rng.uniform(0.02, 0.98, size=shape)
        p.flat[2] = 0.0  # exact 0 and 1 are valid probabilities
        p.flat[3] = 1.0
        return p
    return rng.normal(0.0, 2.5, size=shape)


# (name, params) pairs compared with the reference
CASES = [
    ("binary_cross_entropy", {}),
    ("binary_cross_entropy_with_logits", {}),
    ("binary_cross_entropy_with_logits", {"pos_weight": 2.5}),
    ("binary_cross_entropy_with_logits", {"pos_weight": [0.5, 1.0, 4.0], "label_smoothing": 0.2}),
    ("sigmoid_focal", {}),
    ("sigmoid_focal", {"alpha": None, "gamma": 0.5}),
    ("sigmoid_focal", {"alpha": 0.9, "gamma": 0.0}),
    ("sigmoid_focal", {"alpha": 0.0, "gamma": 4.0}),
    ("hinge", {}),
    ("soft_margin", {}),
    ("squared_hinge", {}),
    ("hinge_embedding", {}),
    ("hinge_embedding", {"margin": 2.0}),
    ("hinge_embedding", {"margin": -0.5}),
]


def _backend_params(params, backend):
    return {k: (to(backend, np.asarray(v)) if isinstance(v, list) else v) for k, v in params.items()}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name,params", CASES, ids=lambda v: str(v))
def test_matches_reference(name, params, backend, rng):
    x, y = _inputs(name, rng, SHAPE), _targets(name, rng, SHAPE)
    w = rng.uniform(0.0, 2.0, size=SHAPE)
    m = rng.random(SHAPE) < 0.7
    fn = getattr(losskit, name)
    reference = getattr(ref, name)
    for weight, mask in ((None, None), (w, None), (None, m), (w, m)):
        for reduction in REDUCTIONS:
            got = fn(to(backend, x), to(backend, y), **_backend_params(params, backend),
                     weight=to(backend, weight), mask=to(backend, mask), reduction=reduction)
            expected = reference(x, y, **params, weight=weight, mask=mask, reduction=reduction)
            np.testing.assert_allclose(to_numpy(got), expected, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("beta", [0.5, 1.0, 3.0])
def test_soft_fbeta_matches_reference(beta, backend, rng):
    for shape in ((9,), (9, 4)):
        p, y = rng.uniform(0, 1, size=shape), (rng.random(shape) < 0.4).astype(np.float64)
        w = rng.uniform(0.0, 2.0, size=shape)
        m = rng.random(shape) < 0.7
        for weight, mask in ((None, None), (w, None), (None, m), (w, m)):
            for reduction in REDUCTIONS:
                got = losskit.soft_fbeta(to(backend, p), to(backend, y), beta=beta, weight=to(backend, weight),
                                         mask=to(backend, mask), reduction=reduction)
                expected = ref.soft_fbeta(p, y, beta=beta, weight=weight, mask=mask, reduction=reduction)
                assert to_numpy(got).shape == np.shape(expected)
                np.testing.assert_allclose(to_numpy(got), expected, rtol=1e-12, atol=1e-14)


# -- peers ------------------------------------------------------------------------------------


@needs_torch
def test_bce_equals_torch_binary_cross_entropy_values_and_gradients(rng):
    import torch
    import torch.nn.functional as tF

    p = rng.uniform(0.01, 0.99, size=SHAPE)
    y = rng.uniform(0, 1, size=SHAPE)
    w = rng.uniform(0, 2, size=SHAPE)
    for reduction in REDUCTIONS:
        ours = losskit.binary_cross_entropy(torch.tensor(p), torch.tensor(y), reduction=reduction)
        theirs = tF.binary_cross_entropy(torch.tensor(p), torch.tensor(y), reduction=reduction)
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)
    # per-element weights: torch's weighted "mean" divides by N, so compare "none" and "sum"
    for reduction in ("none", "sum"):
        ours = losskit.binary_cross_entropy(torch.tensor(p), torch.tensor(y), weight=torch.tensor(w),
                                            reduction=reduction)
        theirs = tF.binary_cross_entropy(torch.tensor(p), torch.tensor(y), weight=torch.tensor(w),
                                         reduction=reduction)
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)
    g_ours = torch_grad(losskit.binary_cross_entropy, p, y, reduction="sum")
    g_theirs = torch_grad(tF.binary_cross_entropy, p, y, reduction="sum")
    np.testing.assert_allclose(g_ours, g_theirs, rtol=1e-10)


@needs_torch
def test_bce_clamps_log_at_minus_100_like_torch():
    import torch
    import torch.nn.functional as tF

    p = np.array([0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1e-50, 1 - 1e-16])
    y = np.array([0.0, 1.0, 0.0, 1.0, 0.3, 0.7, 1.0, 0.0])
    ours = losskit.binary_cross_entropy(torch.tensor(p), torch.tensor(y), reduction="none")
    theirs = tF.binary_cross_entropy(torch.tensor(p), torch.tensor(y), reduction="none")
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)
    assert ours[1] == 100.0 and ours[2] == 100.0 and ours[0] == 0.0 and ours[3] == 0.0
    g = torch_grad(losskit.binary_cross_entropy, p, y, reduction="sum")
    assert np.all(np.isfinite(g))


def test_bce_equals_sklearn_log_loss(rng):
    from sklearn.metrics import log_loss

    p = rng.uniform(0.01, 0.99, size=20)
    y = (rng.random(20) < 0.5).astype(np.float64)
    y[:2] = [0.0, 1.0]
    w = rng.uniform(0.1, 2.0, size=20)
    np.testing.assert_allclose(losskit.binary_cross_entropy(p, y), log_loss(y, p), rtol=1e-12)
    np.testing.assert_allclose(losskit.binary_cross_entropy(p, y, weight=w), log_loss(y, p, sample_weight=w),
                               rtol=1e-12)


@needs_torch
@pytest.mark.parametrize("pos_weight", [None, 0.0, 3.0, "vector"])
def test_bce_with_logits_equals_torch(pos_weight, rng):
    import torch
    import torch.nn.functional as tF

    x = rng.normal(0, 3, size=SHAPE)
    y = rng.uniform(0, 1, size=SHAPE)
    pw_np = rng.uniform(0, 4, size=SHAPE[-1]) if pos_weight == "vector" else pos_weight
    pw_ours = torch.tensor(pw_np) if pos_weight == "vector" else pw_np
    pw_torch = None if pos_weight is None else torch.tensor(pw_np, dtype=torch.float64)
    for reduction in REDUCTIONS:
        ours = losskit.binary_cross_entropy_with_logits(torch.tensor(x), torch.tensor(y), pos_weight=pw_ours,
                                                        reduction=reduction)
        theirs = tF.binary_cross_entropy_with_logits(torch.tensor(x), torch.tensor(y), pos_weight=pw_torch,
                                                     reduction=reduction)
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12, atol=1e-14)
    g_ours = torch_grad(lambda t, u: losskit.binary_cross_entropy_with_logits(t, u, pos_weight=pw_ours,
                                                                              reduction="sum"), x, y)
    g_theirs = torch_grad(lambda t, u: tF.binary_cross_entropy_with_logits(t, u, pos_weight=pw_torch,
                                                                           reduction="sum"), x, y)
    np.testing.assert_allclose(g_ours, g_theirs, rtol=1e-10, atol=1e-14)


@needs_torch
def test_bce_with_logits_pos_weight_gradient_flows(rng):
    # torch's own binary_cross_entropy_with_logits refuses a pos_weight that requires grad;
    # here d sum / d c_l = sum_n y softplus(-x) over label l
    import torch

    x, y = rng.normal(size=SHAPE), rng.uniform(size=SHAPE)
    c = torch.tensor(rng.uniform(0.5, 2, size=SHAPE[-1]), requires_grad=True)
    losskit.binary_cross_entropy_with_logits(torch.tensor(x), torch.tensor(y), pos_weight=c,
                                             reduction="sum").backward()
    np.testing.assert_allclose(c.grad.numpy(), (y * np.logaddexp(0, -x)).sum(axis=0), rtol=1e-12)


@needs_torch
def test_label_smoothing_equals_torch_on_smoothed_targets(rng):
    import torch
    import torch.nn.functional as tF

    x, y = rng.normal(0, 3, size=SHAPE), (rng.random(SHAPE) < 0.5).astype(np.float64)
    for eps in (0.0, 0.1, 0.5, 0.999):
        ours = losskit.binary_cross_entropy_with_logits(torch.tensor(x), torch.tensor(y), label_smoothing=eps,
                                                        pos_weight=2.0, reduction="none")
        smoothed = torch.tensor(y * (1 - eps) + eps / 2)
        theirs = tF.binary_cross_entropy_with_logits(torch.tensor(x), smoothed,
                                                     pos_weight=torch.tensor(2.0, dtype=torch.float64),
                                                     reduction="none")
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)


def _torchvision_sigmoid_focal_loss(inputs, targets, alpha=0.25, gamma=2.0):
    """The body of ``torchvision.ops.sigmoid_focal_loss`` (torchvision is not installed here),
    reduction="none"; alpha < 0 disables alpha_t."""
    import torch
    import torch.nn.functional as tF

    p = torch.sigmoid(inputs)
    ce_loss = tF.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha >= 0:
        alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
        loss = alpha_t * loss
    return loss


@needs_torch
@pytest.mark.parametrize("alpha,gamma", [(0.25, 2.0), (None, 1.5), (0.6, 0.0), (1.0, 3.0), (0.0, 0.7)])
def test_sigmoid_focal_equals_torchvision_formula(alpha, gamma, rng):
    x = rng.normal(0, 2.5, size=SHAPE)
    y = rng.uniform(0, 1, size=SHAPE)
    y[0] = (rng.random(SHAPE[1]) < 0.5).astype(np.float64)
    tv_alpha = -1.0 if alpha is None else alpha

    def ours(t, u):
        return losskit.sigmoid_focal(t, u, alpha=alpha, gamma=gamma, reduction="none")

    def theirs(t, u):
        return _torchvision_sigmoid_focal_loss(t, u, alpha=tv_alpha, gamma=gamma)

    import torch

    np.testing.assert_allclose(ours(torch.tensor(x), torch.tensor(y)).numpy(),
                               theirs(torch.tensor(x), torch.tensor(y)).numpy(), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(torch_grad(ours, x, y), torch_grad(theirs, x, y), rtol=1e-8, atol=1e-12)


def test_hinge_equals_sklearn_hinge_loss(rng):
    from sklearn.metrics import hinge_loss

    x = rng.normal(0, 1.5, size=30)
    y = rng.choice([-1.0, 1.0], size=30)
    w = rng.uniform(0.1, 2.0, size=30)
    np.testing.assert_allclose(losskit.hinge(x, y), hinge_loss(y, x), rtol=1e-12)
    np.testing.assert_allclose(losskit.hinge(x, y, weight=w), hinge_loss(y, x, sample_weight=w), rtol=1e-12)


@needs_torch
@pytest.mark.parametrize("margin", [1.0, 0.0, 2.5, -0.5])
def test_hinge_embedding_equals_torch(margin, rng):
    import torch.nn.functional as tF
    import torch

    x = rng.normal(1.0, 1.5, size=SHAPE)
    y = rng.choice([-1.0, 1.0], size=SHAPE)
    for reduction in REDUCTIONS:
        ours = losskit.hinge_embedding(torch.tensor(x), torch.tensor(y), margin=margin, reduction=reduction)
        theirs = tF.hinge_embedding_loss(torch.tensor(x), torch.tensor(y), margin=margin, reduction=reduction)
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)
    g_ours = torch_grad(lambda t, u: losskit.hinge_embedding(t, u, margin=margin, reduction="sum"), x, y)
    g_theirs = torch_grad(lambda t, u: tF.hinge_embedding_loss(t, u, margin=margin, reduction="sum"), x, y)
    np.testing.assert_allclose(g_ours, g_theirs, rtol=1e-12)


@needs_torch
def test_soft_margin_equals_torch_and_is_bce_with_logits_of_01_targets(rng):
    import torch
    import torch.nn.functional as tF

    x = rng.normal(0.0, 3.0, size=SHAPE)
    y = rng.choice([-1.0, 1.0], size=SHAPE)
    for reduction in REDUCTIONS:
        ours = losskit.soft_margin(torch.tensor(x), torch.tensor(y), reduction=reduction)
        theirs = tF.soft_margin_loss(torch.tensor(x), torch.tensor(y), reduction=reduction)
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)
        np.testing.assert_allclose(losskit.soft_margin(x, y, reduction=reduction),
                                   losskit.binary_cross_entropy_with_logits(x, (y + 1) / 2, reduction=reduction),
                                   rtol=1e-12)
    g_ours = torch_grad(lambda t, u: losskit.soft_margin(t, u, reduction="sum"), x, y)
    g_theirs = torch_grad(lambda t, u: tF.soft_margin_loss(t, u, reduction="sum"), x, y)
    np.testing.assert_allclose(g_ours, g_theirs, rtol=1e-12)
    # far margins: PyTorch's log(1 + exp(800)) overflows to inf; softplus keeps the value 800
    far = torch.tensor([800.0, -800.0]), torch.tensor([-1.0, -1.0])
    assert torch.isinf(tF.soft_margin_loss(*far, reduction="none")[0])
    assert losskit.soft_margin(*far, reduction="none").tolist() == [800.0, 0.0]


@pytest.mark.parametrize("beta", [0.5, 1.0, 2.0])
def test_soft_fbeta_on_hard_probabilities_equals_sklearn_fbeta_score(beta, rng):
    from sklearn.metrics import fbeta_score

    y = (rng.random((40, 5)) < 0.35).astype(np.int64)
    p = (rng.random((40, 5)) < 0.4).astype(np.float64)
    y[:, 4] = 0
    p[:, 4] = 0.0  # a label with nothing true and nothing predicted: loss 0 (sklearn: zero_division=1)
    expected = 1.0 - fbeta_score(y, p.astype(np.int64), beta=beta, average=None, zero_division=1.0)
    got = losskit.soft_fbeta(p, y, beta=beta, reduction="none")
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
    assert got[4] == 0.0
    np.testing.assert_allclose(losskit.soft_fbeta(p, y, beta=beta), expected.mean(), rtol=1e-12)
    binary = losskit.soft_fbeta(p[:, 0], y[:, 0], beta=beta, reduction="none")
    assert np.shape(binary) == ()
    np.testing.assert_allclose(binary, 1.0 - fbeta_score(y[:, 0], p[:, 0].astype(np.int64), beta=beta),
                               rtol=1e-12)


@needs_torch
def test_soft_fbeta_gradient_matches_finite_differences_and_is_finite_when_empty(rng):
    import torch

    p = rng.uniform(0.05, 0.95, size=(8, 3))
    y = (rng.random((8, 3)) < 0.5).astype(np.float64)
    w = rng.uniform(0.5, 1.5, size=(8, 3))

    def f(q):
        return float(losskit.soft_fbeta(q, y, beta=1.5, weight=w))

    from helpers import finite_difference_full

    auto = torch_grad(lambda t, u: losskit.soft_fbeta(t, u, beta=1.5, weight=torch.tensor(w)), p, y)
    np.testing.assert_allclose(auto, finite_difference_full(f, p), rtol=1e-6, atol=1e-9)
    # nothing predicted, nothing true; and everything masked
    zeros = np.zeros((5, 2))
    g = torch_grad(lambda t, u: losskit.soft_fbeta(t, u), zeros, zeros)
    assert np.all(g == 0) and float(losskit.soft_fbeta(zeros, zeros)) == 0.0
    m = torch.zeros((8, 3), dtype=torch.bool)
    g = torch_grad(lambda t, u: losskit.soft_fbeta(t, u, mask=m), p, y)
    assert np.all(g == 0)
    # tiny positive predictions in float32 (denominator near underflow): finite gradients
    tiny = torch.full((5, 2), 1e-30, dtype=torch.float32, requires_grad=True)
    losskit.soft_fbeta(tiny, torch.zeros((5, 2))).backward()
    assert torch.all(torch.isfinite(tiny.grad))


def test_soft_fbeta_beta_edges_give_precision_and_recall(rng):
    p, y = rng.uniform(0, 1, size=(20, 2)), (rng.random((20, 2)) < 0.5).astype(np.float64)
    tp, fp, fn = (p * y).sum(0), (p * (1 - y)).sum(0), ((1 - p) * y).sum(0)
    np.testing.assert_allclose(losskit.soft_fbeta(p, y, beta=1e-200, reduction="none"), 1 - tp / (tp + fp),
                               rtol=1e-12)
    np.testing.assert_allclose(losskit.soft_fbeta(p, y, beta=1e200, reduction="none"), 1 - tp / (tp + fn),
                               rtol=1e-12)


# -- closed-form derivatives ---------------------------------------------------------------

DERIVATIVE_CASES = [
    ("binary_cross_entropy", {}),
    ("binary_cross_entropy_with_logits", {}),
    ("binary_cross_entropy_with_logits", {"pos_weight": 3.0, "label_smoothing": 0.1}),
    ("binary_cross_entropy_with_logits", {"pos_weight": [0.0, 1.0, 2.5]}),
    ("sigmoid_focal", {}),
    ("sigmoid_focal", {"gamma": 0.0}),
    ("sigmoid_focal", {"gamma": 0.5, "alpha": None}),
    ("sigmoid_focal", {"gamma": 1.0, "alpha": 0.7}),
    ("sigmoid_focal", {"gamma": 3.5, "alpha": 0.1}),
    ("hinge", {}),
    ("soft_margin", {}),
    ("squared_hinge", {}),
    ("hinge_embedding", {}),
    ("hinge_embedding", {"margin": 0.3}),
]


def _raw_and_target(name, rng):
    if name in ("hinge", "soft_margin", "squared_hinge", "hinge_embedding"):
        raw = rng.normal(0, 2, size=SHAPE)
        return raw, rng.choice([-1.0, 1.0], size=SHAPE)
    return rng.normal(0, 3, size=SHAPE), _targets(name, rng, SHAPE)


def _as_function_of_raw(name, params):
    """loss (reduction none) as a function of the raw input, torch or numpy."""
    fn = getattr(losskit, name)

    def f(raw, y):
        if name == "binary_cross_entropy":
            if hasattr(raw, "sigmoid"):
                raw = raw.sigmoid()
            else:
                raw = 1.0 / (1.0 + np.exp(-raw))
        kw = dict(params)
        if isinstance(kw.get("pos_weight"), list):
            kw["pos_weight"] = to("torch" if hasattr(raw, "sigmoid") else "numpy", np.asarray(kw["pos_weight"]))
        return fn(raw, y, **kw, reduction="none")

    return f


@needs_torch
@pytest.mark.parametrize("name,params", DERIVATIVE_CASES, ids=lambda v: str(v))
def test_derivatives_equal_autograd_and_finite_differences(name, params, rng):
    import torch

    raw, y = _raw_and_target(name, rng)
    loss = losskit.get(name, **params)
    g, h = to_numpy(loss.gradient(raw, y)), to_numpy(loss.hessian(raw, y))
    assert g.shape == h.shape == raw.shape
    f = _as_function_of_raw(name, params)
    rt = torch.tensor(raw, requires_grad=True)
    (auto_g,) = torch.autograd.grad(f(rt, torch.tensor(y)).sum(), rt, create_graph=True)
    np.testing.assert_allclose(g, auto_g.detach().numpy(), rtol=1e-9, atol=1e-12)
    if auto_g.requires_grad:
        (auto_h,) = torch.autograd.grad(auto_g.sum(), rt, allow_unused=True)
        auto_h = np.zeros_like(raw) if auto_h is None else auto_h.numpy()
    else:
        auto_h = np.zeros_like(raw)
    np.testing.assert_allclose(h, auto_h, rtol=1e-8, atol=1e-11)
    np.testing.assert_allclose(g, finite_difference(lambda r: f(r, y), raw), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(h, finite_difference(lambda r: to_numpy(loss.gradient(r, y)), raw),
                               rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("backend", BACKENDS)
def test_derivatives_stay_in_the_backend_and_dtype(backend, rng):
    raw = rng.normal(size=SHAPE).astype(np.float32)
    y = rng.uniform(size=SHAPE)
    for name in ("binary_cross_entropy", "binary_cross_entropy_with_logits", "sigmoid_focal"):
        loss = losskit.get(name)
        g, h = loss.gradient(to(backend, raw), to(backend, y)), loss.hessian(to(backend, raw), to(backend, y))
        for out in (g, h):
            assert type(out) is type(to(backend, raw))
            assert "float32" in str(out.dtype)


def test_focal_with_gamma_zero_is_alpha_t_times_bce(rng):
    x, y = rng.normal(0, 3, size=SHAPE), rng.uniform(size=SHAPE)
    bce = losskit.binary_cross_entropy_with_logits(x, y, reduction="none")
    at = 0.3 * y + 0.7 * (1 - y)
    np.testing.assert_allclose(losskit.sigmoid_focal(x, y, alpha=0.3, gamma=0.0, reduction="none"), at * bce,
                               rtol=1e-13)
    np.testing.assert_allclose(losskit.sigmoid_focal(x, y, alpha=None, gamma=0.0, reduction="none"), bce,
                               rtol=1e-13)


def test_focal_hessian_can_be_negative(rng):
    x = np.linspace(-6, 6, 121)
    y = np.ones_like(x)
    assert losskit.spec("sigmoid_focal").hessian_nonnegative is False
    assert np.any(to_numpy(losskit.get("sigmoid_focal", gamma=2.0).hessian(x, y)) < 0)


def test_hinge_gradient_is_minus_y_inside_the_margin_and_hessian_zero():
    x = np.array([0.5, 2.0, -0.5, -2.0, 0.99])
    y = np.array([1.0, 1.0, -1.0, -1.0, 1.0])
    loss = losskit.get("hinge")
    assert to_numpy(loss.gradient(x, y)).tolist() == [-1.0, 0.0, 1.0, 0.0, -1.0]
    assert np.all(to_numpy(loss.hessian(x, y)) == 0)


# -- extremes and stability ---------------------------------------------------------------------


@needs_torch
@pytest.mark.parametrize("name,params", [
    ("binary_cross_entropy_with_logits", {}),
    ("binary_cross_entropy_with_logits", {"pos_weight": 5.0, "label_smoothing": 0.3}),
    ("sigmoid_focal", {}),
    ("sigmoid_focal", {"gamma": 0.05}),
    ("sigmoid_focal", {"gamma": 0.5, "alpha": None}),
    ("sigmoid_focal", {"gamma": 6.0}),
], ids=lambda v: str(v))
def test_logits_at_extremes_are_finite_in_float32(name, params):
    import torch

    grid = [-1e4, -120.0, -100.0, -90.0, -30.0, 0.0, 30.0, 90.0, 100.0, 120.0, 1e4]
    targets = [0.0, 0.5, 1.0, 1e-7, 1 - 1e-7]
    raw = np.array([[v] * len(targets) for v in grid], dtype=np.float32)
    y = np.array([targets] * len(grid), dtype=np.float32)
    rt = torch.tensor(raw, requires_grad=True)
    out = getattr(losskit, name)(rt, torch.tensor(y), **params, reduction="none")
    assert out.dtype == torch.float32 and torch.all(torch.isfinite(out))
    out.sum().backward()
    assert torch.all(torch.isfinite(rt.grad))
    loss = losskit.get(name, **params)
    g, h = loss.gradient(torch.tensor(raw), torch.tensor(y)), loss.hessian(torch.tensor(raw), torch.tensor(y))
    assert torch.all(torch.isfinite(g)) and torch.all(torch.isfinite(h))
    # float32 values agree with the float64 reference (relative where not tiny)
    expected = getattr(ref, name)(raw.astype(np.float64), y.astype(np.float64), **params, reduction="none")
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-5, atol=1e-30)


def test_focal_is_accurate_where_one_minus_p_t_cancels():
    # p = sigmoid(20) rounds to 1 in float32; 1 - p_t = sigmoid(-20) ~ 2e-9 is kept exactly
    x = np.array([20.0, -20.0, 12.0], dtype=np.float32)
    y = np.array([1.0, 0.0, 1.0], dtype=np.float32)
    got = losskit.sigmoid_focal(x, y, gamma=2.0, reduction="none")
    expected = ref.sigmoid_focal(x.astype(np.float64), y.astype(np.float64), gamma=2.0, reduction="none")
    assert np.all(got > 0)
    np.testing.assert_allclose(got, expected, rtol=1e-5)


@needs_torch
def test_bce_probabilities_exactly_zero_and_one_are_finite_in_float32():
    import torch

    p = torch.tensor([0.0, 1.0, 0.0, 1.0, 0.5, 1e-45], dtype=torch.float32, requires_grad=True)
    y = torch.tensor([1.0, 0.0, 0.5, 0.5, 1.0, 1.0])
    out = losskit.binary_cross_entropy(p, y, reduction="sum")
    out.backward()
    assert torch.isfinite(out) and torch.all(torch.isfinite(p.grad))


@pytest.mark.parametrize("name", ["binary_cross_entropy", "binary_cross_entropy_with_logits", "sigmoid_focal",
                                  "hinge", "squared_hinge", "hinge_embedding", "soft_fbeta"])
def test_nan_in_input_propagates(name):
    x = np.array([np.nan, 0.5, 0.25])
    y = np.array([1.0, 1.0, -1.0]) if "hinge" in name else np.array([1.0, 1.0, 0.0])
    fn = getattr(losskit, name)
    assert np.isnan(fn(x, y))
    if name != "soft_fbeta":
        per = fn(x, y, reduction="none")
        assert np.isnan(per[0]) and np.all(np.isfinite(per[1:]))


@needs_torch
@pytest.mark.parametrize("name", ["binary_cross_entropy", "sigmoid_focal", "hinge", "soft_fbeta"])
def test_half_precision_returns_the_input_dtype(name):
    import torch

    x = torch.tensor([0.2, 0.7, 0.9], dtype=torch.float16)
    y = torch.tensor([-1.0, 1.0, 1.0]) if "hinge" in name else torch.tensor([0.0, 1.0, 1.0])
    out = getattr(losskit, name)(x, y)
    assert out.dtype == torch.float16
    np.testing.assert_allclose(out.float().numpy(), getattr(losskit, name)(x.float(), y).half().float().numpy())


def test_zero_length_batch_gives_zero():
    empty = np.zeros((0,))
    for name in ("binary_cross_entropy", "binary_cross_entropy_with_logits", "sigmoid_focal", "soft_fbeta"):
        assert float(getattr(losskit, name)(empty, empty)) == 0.0
    assert float(losskit.hinge(empty, empty)) == 0.0
    assert losskit.binary_cross_entropy_with_logits(np.zeros((0, 3)), np.zeros((0, 3)),
                                                    pos_weight=np.ones(3), reduction="none").shape == (0, 3)


@pytest.mark.skipif(not HAVE_JAX, reason="jax is not installed")
def test_jax_grad_and_jit_through_focal_and_pos_weight(rng):
    import jax
    import jax.numpy as jnp

    x, y = rng.normal(size=SHAPE), rng.uniform(size=SHAPE)
    pw = jnp.asarray(rng.uniform(0.5, 2, size=SHAPE[-1]))

    def total(t, c):
        return (losskit.sigmoid_focal(t, jnp.asarray(y), gamma=1.5)
                + losskit.binary_cross_entropy_with_logits(t, jnp.asarray(y), pos_weight=c))

    g = jax.grad(total)(jnp.asarray(x), pw)
    np.testing.assert_allclose(float(jax.jit(total)(jnp.asarray(x), pw)), float(total(jnp.asarray(x), pw)),
                               rtol=1e-12)
    expected = to_numpy(losskit.get("sigmoid_focal", gamma=1.5).gradient(x, y)) / x.size
    expected += to_numpy(losskit.get("binary_cross_entropy_with_logits", pos_weight=np.asarray(pw)).gradient(x, y)) \
        / x.size
    np.testing.assert_allclose(np.asarray(g), expected, rtol=1e-10)


def test_loss_object_binds_a_pos_weight_list(rng):
    x, y = rng.normal(size=SHAPE), rng.uniform(size=SHAPE)
    loss = losskit.get("binary_cross_entropy_with_logits", pos_weight=[1.0, 2.0, 3.0])
    again = losskit.Loss.from_config(loss.get_config())
    expected = ref.binary_cross_entropy_with_logits(x, y, pos_weight=[1.0, 2.0, 3.0])
    np.testing.assert_allclose(again(x, y), expected, rtol=1e-12)
    assert to_numpy(again.gradient(x, y)).shape == SHAPE


def test_registry_metadata_is_honest():
    for name in ("binary_cross_entropy", "binary_cross_entropy_with_logits", "sigmoid_focal", "hinge",
                 "squared_hinge", "hinge_embedding", "soft_fbeta"):
        spec = losskit.spec(name)
        assert spec.family == "binary" and spec.task == "binary"
        assert spec.references
        assert spec.peers or name in ("sigmoid_focal", "squared_hinge")  # peers not installable here
    assert losskit.spec("binary_cross_entropy").link == "sigmoid"
    assert losskit.spec("soft_fbeta").kind == "aggregate" and not losskit.spec("soft_fbeta").pointwise
    assert losskit.spec("sigmoid_focal").convex is False
    assert losskit.spec("hinge").best_input(np.array([-1.0, 1.0])).tolist() == [-1.0, 1.0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert float(losskit.hinge(np.array([-1.0, 1.0]), np.array([-1.0, 1.0]))) == 0.0
    with pytest.raises(TypeError, match="soft_fbeta: has no closed-form gradient"):
        losskit.get("soft_fbeta").gradient(np.zeros(3), np.zeros(3))
    assert FB.SMOOTHING is losskit.spec("binary_cross_entropy_with_logits").param("label_smoothing").domain
