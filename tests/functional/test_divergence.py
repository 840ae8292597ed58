"""kl_div and js_div against naive loops, PyTorch and SciPy."""

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import entropy

import losskit
from helpers import HAVE_TORCH, to_numpy


def kl_reference(logp, t):
    out = np.zeros(logp.shape[0])
    for i in range(logp.shape[0]):
        for c in range(logp.shape[1]):
            if t[i, c] > 0:
                out[i] += t[i, c] * (np.log(t[i, c]) - logp[i, c])
    return out


def js_reference(p, q):
    out = np.zeros(p.shape[0])
    for i in range(p.shape[0]):
        for c in range(p.shape[1]):
            m = 0.5 * (p[i, c] + q[i, c])
            if p[i, c] > 0:
                out[i] += 0.5 * p[i, c] * np.log(p[i, c] / m)
            if q[i, c] > 0:
                out[i] += 0.5 * q[i, c] * np.log(q[i, c] / m)
    return out


@pytest.fixture
def dists(rng):
    z = rng.normal(size=(7, 5))
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    t = rng.dirichlet(np.ones(5), size=7)
    t[0, 1] = 0.0  # an exact zero: 0 log 0 = 0
    t[0] /= t[0].sum()
    return logp, t


def test_kl_div_matches_reference_and_scipy(dists, rng):
    logp, t = dists
    ref = kl_reference(logp, t)
    np.testing.assert_allclose(losskit.kl_div(logp, t, reduction="none"), ref, rtol=1e-12)
    np.testing.assert_allclose([entropy(t[i], np.exp(logp[i])) for i in range(7)], ref, rtol=1e-10)
    w = rng.uniform(0, 2, 7)
    np.testing.assert_allclose(losskit.kl_div(logp, t, weight=w), (w * ref).sum() / w.sum(), rtol=1e-12)
    np.testing.assert_allclose(losskit.kl_div(np.log(t[1:]), t[1:]), 0.0, atol=1e-15)


def test_kl_div_log_target_equals_probability_target(dists):
    logp, t = dists
    t = np.clip(t, 1e-3, None)
    t /= t.sum(1, keepdims=True)
    np.testing.assert_allclose(losskit.kl_div(logp, np.log(t), log_target=True), losskit.kl_div(logp, t), rtol=1e-12)


@pytest.mark.skipif(not HAVE_TORCH, reason="torch is not installed")
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_matches_torch_batchmean_values_and_gradients(dists, log_target):
    import torch

    logp, t = dists
    t = np.clip(t, 1e-3, None) if log_target else t
    tt = torch.tensor(np.log(t) if log_target else t)
    a = torch.tensor(logp, requires_grad=True)
    b = torch.tensor(logp, requires_grad=True)
    ours = losskit.kl_div(a, tt, log_target=log_target)
    theirs = torch.nn.functional.kl_div(b, tt, reduction="batchmean", log_target=log_target)
    ours.backward()
    theirs.backward()
    np.testing.assert_allclose(ours.item(), theirs.item(), rtol=1e-12)
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-12)
    s = losskit.kl_div(a, tt, log_target=log_target, reduction="sum")
    np.testing.assert_allclose(s.item(), torch.nn.functional.kl_div(b, tt, reduction="sum", log_target=log_target).item())


@pytest.mark.skipif(not HAVE_TORCH, reason="torch is not installed")
def test_kl_div_spatial_layout_sums_over_axis_1(rng):
    import torch

    z = torch.tensor(rng.normal(size=(2, 3, 4, 5)))
    logp = torch.log_softmax(z, dim=1)
    t = torch.softmax(torch.tensor(rng.normal(size=(2, 3, 4, 5))), dim=1)
    ours = losskit.kl_div(logp, t, reduction="none")
    assert ours.shape == (2, 4, 5)
    expected = torch.nn.functional.kl_div(logp, t, reduction="none").sum(1)
    np.testing.assert_allclose(ours.numpy(), expected.numpy(), rtol=1e-12)


def test_js_div_matches_reference_and_scipy(dists):
    logp, t = dists
    p = np.exp(logp)
    ref = js_reference(p, t)
    np.testing.assert_allclose(losskit.js_div(p, t, reduction="none"), ref, rtol=1e-12, atol=1e-16)
    np.testing.assert_allclose([jensenshannon(p[i], t[i]) ** 2 for i in range(7)], ref, rtol=1e-8)
    np.testing.assert_allclose(losskit.js_div(t, p, reduction="none"), ref, rtol=1e-12, atol=1e-16)  # symmetric


def test_js_div_disjoint_supports_reach_log_2_with_finite_gradients():
    p = np.array([[1.0, 0.0], [0.0, 1.0]])
    np.testing.assert_allclose(losskit.js_div(p, p[::-1].copy(), reduction="none"), np.log(2.0), rtol=1e-15)
    if HAVE_TORCH:
        import torch

        x = torch.tensor(p, requires_grad=True)
        losskit.js_div(x, torch.tensor(p[::-1].copy())).backward()
        assert torch.all(torch.isfinite(x.grad))


def test_kl_div_gradient_is_softmax_times_mass_minus_target(dists):
    logp, t = dists
    z = logp + 3.0  # logits: log_softmax(z) == logp
    g = to_numpy(losskit.get("kl_div").gradient(z, t))
    np.testing.assert_allclose(g, np.exp(logp) - t, atol=1e-12)
