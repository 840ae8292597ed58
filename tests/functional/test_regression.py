"""Regression losses: against the naive references, against their peers
(values and gradients), closed-form derivatives against autograd and finite
differences, parameters at their edges, extreme inputs, and Barron's loss
against its special cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

import losskit
from helpers import BACKENDS, HAVE_TORCH, finite_difference, finite_difference_full, to, to_numpy
from reference import regression as R

needs_torch = pytest.mark.skipif(not HAVE_TORCH, reason="torch is not installed")
INF = math.inf
SHAPE = (3, 5)

# name -> parameter settings checked against the reference (defaults first, then edges)
SETTINGS = {
    "mae": [{}],
    "smooth_l1": [{}, {"beta": 0.0}, {"beta": 1e-3}, {"beta": 0.5}, {"beta": 50.0}],
    "pseudo_huber": [{}, {"delta": 1e-3}, {"delta": 0.3}, {"delta": 1e3}],
    "charbonnier": [{}, {"c": 1e-6}, {"c": 0.5}, {"c": 1e3}],
    "log_cosh": [{}],
    "msle": [{}],
    "mape": [{}],
    "pinball": [{}, {"quantile": 0.01}, {"quantile": 0.3}, {"quantile": 0.99}],
    "expectile": [{}, {"expectile": 0.01}, {"expectile": 0.8}, {"expectile": 0.99}],
    "tukey": [{}, {"c": 0.1}, {"c": 1.0}, {"c": 1e3}],
    "cauchy": [{}, {"c": 0.01}, {"c": 1.0}, {"c": 1e3}],
    "welsch": [{}, {"c": 0.01}, {"c": 1.0}, {"c": 1e3}],
    "geman_mcclure": [{}, {"c": 0.01}, {"c": 3.0}, {"c": 1e3}],
    "barron": [{}] + [{"alpha": a} for a in (-INF, -1e6, -2.0, -0.5, 0.0, 1e-7, 0.5, 1.5, 2.0 - 1e-7, 2.0, 2.5, 4.0)]
    + [{"alpha": 1.0, "c": 0.01}, {"alpha": -2.0, "c": 30.0}],
}
CASES = [pytest.param(n, p, id=n + "".join(f"-{k}={v}" for k, v in p.items())) for n, ps in SETTINGS.items() for p in ps]
POSITIVE_DOMAIN = {"msle", "rmsle"}


def sample(name, rng, shape=SHAPE):
    """(input, target) float64; spread residuals, targets away from 0 for mape."""
    if name in POSITIVE_DOMAIN:
        return rng.exponential(2.0, size=shape) - 0.5, rng.exponential(2.0, size=shape) - 0.5
    y = rng.normal(0.0, 3.0, size=shape)
    if name == "mape":
        y = np.sign(y) * (np.abs(y) + 0.5)
    return y + rng.normal(0.0, 3.0, size=shape) * rng.choice([0.1, 1.0, 5.0], size=shape), y


def avoid_kinks(x, y, points, gap=1e-3):
    """Move residuals x - y away from the kinks of piecewise losses."""
    r = x - y
    for p in points:
        for s in (p, -p):
            near = np.abs(r - s) < gap
            r = np.where(near, s + np.where(r >= s, 2 * gap, -2 * gap), r)
    return y + r


def kinks(name, params):
    p = {**losskit.spec(name).defaults(), **params}
    return {"mae": [0.0], "mape": [0.0], "pinball": [0.0], "expectile": [0.0], "smooth_l1": [0.0, p.get("beta", 0)],
            "tukey": [p.get("c", 0)]}.get(name, [])


# -- the naive references --------------------------------------------------


@pytest.mark.parametrize("name,params", CASES)
def test_matches_reference_every_reduction_weights_and_mask(name, params, rng):
    x, y = sample(name, rng)
    fn = getattr(losskit, name)
    ref = getattr(R, name)(x, y, **params)
    w = rng.uniform(0.0, 3.0, size=SHAPE)
    m = rng.random(SHAPE) < 0.7
    for weight, mask in ((None, None), (w, None), (None, m), (w, m)):
        for reduction in ("none", "sum", "mean"):
            got = fn(x, y, **params, weight=weight, mask=mask, reduction=reduction)
            expected = R.reduce_ref(ref, weight, mask, reduction)
            np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-13, err_msg=f"{reduction}")


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "numpy"])
@pytest.mark.parametrize("name,params", CASES)
def test_other_backends_match_reference(name, params, backend, rng):
    x, y = sample(name, rng)
    got = getattr(losskit, name)(to(backend, x), to(backend, y), **params, reduction="none")
    np.testing.assert_allclose(to_numpy(got), getattr(R, name)(x, y, **params), rtol=1e-9, atol=1e-13)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["rmse", "rmsle"])
def test_aggregates_match_reference(name, backend, rng):
    x, y = sample(name, rng)
    w = rng.uniform(0.0, 3.0, size=SHAPE)
    m = rng.random(SHAPE) < 0.7
    for weight, mask in ((None, None), (w, None), (None, m), (w, m)):
        got = getattr(losskit, name)(to(backend, x), to(backend, y), weight=to(backend, weight), mask=to(backend, mask))
        assert to_numpy(got).shape == ()
        np.testing.assert_allclose(to_numpy(got), getattr(R, name)(x, y, weight, mask), rtol=1e-12)


@pytest.mark.parametrize("name,per", [("rmse", "mse"), ("rmsle", "msle")])
@pytest.mark.parametrize("reduction", ["none", "sum"])
def test_aggregates_refuse_other_reductions(name, per, reduction):
    with pytest.raises(ValueError, match=rf"{name}: reduction must be 'mean' .*square root of a mean.*{per}\(reduction='none'\).*received reduction='{reduction}'"):
        getattr(losskit, name)(np.zeros(3), np.ones(3), reduction=reduction)


def test_l1_is_mae():
    assert losskit.l1 is losskit.mae and "l1" in losskit.functional.regression.__all__
    assert losskit.get("l1").spec is losskit.spec("mae")


# -- peers ------------------------------------------------------------------


def test_sklearn_peers(rng):
    sk = pytest.importorskip("sklearn.metrics")
    x, y = sample("mae", rng, (40,))
    w = rng.uniform(0.1, 2.0, size=40)
    xp_, yp = sample("msle", rng, (40,))
    xp_, yp = np.abs(xp_), np.abs(yp)  # scikit-learn's log errors want non-negative values
    checks = [
        (losskit.mae(x, y, weight=w), sk.mean_absolute_error(y, x, sample_weight=w)),
        (losskit.rmse(x, y, weight=w), sk.root_mean_squared_error(y, x, sample_weight=w)),
        (losskit.rmse(x, y), sk.root_mean_squared_error(y, x)),
        (losskit.msle(xp_, yp, weight=w), sk.mean_squared_log_error(yp, xp_, sample_weight=w)),
        (losskit.rmsle(xp_, yp, weight=w), sk.root_mean_squared_log_error(yp, xp_, sample_weight=w)),
        (losskit.mape(x, y, weight=w), sk.mean_absolute_percentage_error(y, x, sample_weight=w)),
    ]
    for q in (0.05, 0.5, 0.8):
        checks.append((losskit.pinball(x, y, quantile=q, weight=w), sk.mean_pinball_loss(y, x, alpha=q, sample_weight=w)))
    for ours, theirs in checks:
        np.testing.assert_allclose(float(ours), theirs, rtol=1e-12)


def test_mape_zero_target_matches_sklearn():
    sk = pytest.importorskip("sklearn.metrics")
    x, y = np.array([1.0, 2.0, 0.5]), np.array([0.0, 2.5, 1e-20])
    np.testing.assert_allclose(float(losskit.mape(x, y)), sk.mean_absolute_percentage_error(y, x), rtol=1e-12)
    assert np.all(np.isfinite(losskit.mape(x, y, reduction="none")))


def test_pinball_several_quantiles_match_sklearn_per_column(rng):
    sk = pytest.importorskip("sklearn.metrics")
    qs = [0.1, 0.5, 0.9]
    y = rng.normal(size=30)
    x = y[:, None] + rng.normal(size=(30, 3))
    per = losskit.pinball(x, y, quantile=qs, reduction="none")
    assert per.shape == (30, 3)
    for k, q in enumerate(qs):
        np.testing.assert_allclose(per[:, k].mean(), sk.mean_pinball_loss(y, x[:, k], alpha=q), rtol=1e-12)


def test_scipy_pseudo_huber_peer(rng):
    special = pytest.importorskip("scipy.special")
    x, y = sample("pseudo_huber", rng)
    for delta in (1e-3, 0.5, 1.0, 7.0, 1e3):
        np.testing.assert_allclose(
            losskit.pseudo_huber(x, y, delta=delta, reduction="none"), special.pseudo_huber(delta, x - y), rtol=1e-10)
        # charbonnier(eps) = scipy.special.pseudo_huber(eps, r) / eps
        np.testing.assert_allclose(
            losskit.charbonnier(x, y, c=delta, reduction="none"), special.pseudo_huber(delta, x - y) / delta,
            rtol=1e-10)


@needs_torch
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_torch_peers_values_and_gradients(reduction, rng):
    import torch
    import torch.nn.functional as TF

    x, y = sample("mae", rng)
    x = avoid_kinks(x, y, [0.0, 0.5, 1.0, 3.0])
    pairs = [
        (lambda a, b: losskit.mae(a, b, reduction=reduction), lambda a, b: TF.l1_loss(a, b, reduction=reduction)),
        (lambda a, b: losskit.l1(a, b, reduction=reduction), lambda a, b: TF.l1_loss(a, b, reduction=reduction)),
        # expectile(expectile=0.5) is half the squared error
        (lambda a, b: losskit.expectile(a, b, expectile=0.5, reduction=reduction),
         lambda a, b: 0.5 * TF.mse_loss(a, b, reduction=reduction)),
    ]
    for beta in (0.0, 0.5, 1.0, 3.0):
        pairs.append((lambda a, b, beta=beta: losskit.smooth_l1(a, b, beta=beta, reduction=reduction),
                      lambda a, b, beta=beta: TF.smooth_l1_loss(a, b, beta=beta, reduction=reduction)))
    for ours, peer in pairs:
        xa = torch.tensor(x, requires_grad=True)
        xb = torch.tensor(x, requires_grad=True)
        va, vb = ours(xa, torch.tensor(y)), peer(xb, torch.tensor(y))
        np.testing.assert_allclose(va.detach().numpy(), vb.detach().numpy(), rtol=1e-12, atol=1e-14)
        va.sum().backward()
        vb.sum().backward()
        np.testing.assert_allclose(xa.grad.numpy(), xb.grad.numpy(), rtol=1e-12, atol=1e-14)


# -- closed-form derivatives --------------------------------------------------

DERIV_CASES = CASES + [
    pytest.param("pinball", {"quantile": [0.1, 0.5, 0.9]}, id="pinball-multi"),
    pytest.param("barron", {"alpha": -1e-7}, id="barron-alpha=-1e-7"),
    pytest.param("barron", {"alpha": 2.0 + 1e-7, "c": 0.5}, id="barron-alpha=2+1e-7"),
]


def _draw_for_derivatives(name, params, rng):
    x, y = sample(name, rng)
    if name == "pinball" and isinstance(params.get("quantile"), list):
        x = y[..., None] + rng.normal(0.0, 2.0, size=SHAPE + (3,))
        return avoid_kinks(x, np.broadcast_to(y[..., None], x.shape), [0.0]), y
    return avoid_kinks(x, y, kinks(name, params)), y


@needs_torch
@pytest.mark.parametrize("name,params", DERIV_CASES)
def test_derivatives_equal_autograd_and_finite_differences(name, params, rng):
    import torch

    x, y = _draw_for_derivatives(name, params, rng)
    loss = losskit.get(name, **params)
    g, h = loss.gradient(x, y), loss.hessian(x, y)
    assert g.shape == x.shape and h.shape == x.shape and g.dtype == np.float64

    xt = torch.tensor(x, requires_grad=True)
    # the function itself (not the Loss object, which turns a list of levels into a
    # tensor of torch's default dtype, float32)
    total = getattr(losskit, name)(xt, torch.tensor(y), **params, reduction="sum")
    (ga,) = torch.autograd.grad(total, xt, create_graph=True)
    ha = np.zeros_like(x)
    if ga.requires_grad:
        (hh,) = torch.autograd.grad(ga.sum(), xt, allow_unused=True)
        ha = ha if hh is None else hh.numpy(force=True)
    scale = np.abs(ga.detach().numpy()).max() + 1e-300
    np.testing.assert_allclose(g, ga.detach().numpy(), rtol=1e-8, atol=1e-12 * scale)
    # autograd's second derivative of a formula built for stable values can lose digits
    # where the Hessian is tiny compared with its largest value: absolute slack there
    np.testing.assert_allclose(h, ha, rtol=1e-7, atol=1e-8 * (np.abs(ha).max() + 1e-300))

    def per(a):
        return loss(a, y, reduction="none")

    eps = 1e-6 * max(1.0, float(np.abs(x).max()) * 1e-2)
    if name == "smooth_l1" and params.get("beta", 1.0) < 0.01 or name in ("cauchy", "welsch", "geman_mcclure") and params.get("c", 1) < 0.1:
        eps = 1e-9  # narrow curvature: keep the step well inside one regime
    np.testing.assert_allclose(g, finite_difference(per, x, eps), rtol=1e-5, atol=1e-6 * (1 + np.abs(g).max()))
    np.testing.assert_allclose(h, finite_difference(lambda a: loss.gradient(a, y), x, eps), rtol=1e-4,
                               atol=1e-5 * (1 + np.abs(h).max()))


@pytest.mark.parametrize("name", ["mae", "log_cosh", "pseudo_huber", "expectile", "cauchy"])
def test_derivatives_match_textbook_formulas(name, rng):
    x, y = sample(name, rng)
    x = avoid_kinks(x, y, [0.0])
    params = {"pseudo_huber": {"delta": 0.7}, "expectile": {"expectile": 0.3}, "cauchy": {"c": 1.3}}.get(name, {})
    g_ref, h_ref = R.derivatives(name, x, y, **params)
    loss = losskit.get(name, **params)
    np.testing.assert_allclose(loss.gradient(x, y), g_ref, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(loss.hessian(x, y), h_ref, rtol=1e-10, atol=1e-15)


def test_pinball_subgradient_at_a_tie_and_mae_sign():
    y = np.array([1.0, 1.0, 1.0])
    x = np.array([0.0, 1.0, 2.0])
    q = 0.3
    np.testing.assert_allclose(losskit.get("pinball", quantile=q).gradient(x, y), [-q, -q, 1 - q])
    np.testing.assert_array_equal(losskit.get("mae").gradient(x, y), [-1.0, 0.0, 1.0])
    np.testing.assert_array_equal(losskit.get("mae").hessian(x, y), [0.0, 0.0, 0.0])


@needs_torch
@pytest.mark.parametrize("name", ["rmse", "rmsle"])
def test_aggregate_gradients_equal_finite_differences_and_are_zero_at_a_perfect_prediction(name, rng):
    import torch

    x, y = sample(name, rng)
    w = rng.uniform(0.2, 2.0, size=SHAPE)
    fn = getattr(losskit, name)
    xt = torch.tensor(x, requires_grad=True)
    fn(xt, torch.tensor(y), weight=torch.tensor(w)).backward()
    fd = finite_difference_full(lambda a: fn(a, y, weight=w), x)
    np.testing.assert_allclose(xt.grad.numpy(), fd, rtol=1e-6, atol=1e-9)
    for dtype in (torch.float32, torch.float64):
        yt = torch.tensor(y, dtype=dtype)
        xt = yt.clone().requires_grad_(True)
        out = fn(xt, yt)
        out.backward()
        assert out.item() == 0.0 and torch.all(xt.grad == 0)


# -- Barron's loss and its special cases ------------------------------------------


@pytest.mark.parametrize("c", [0.3, 1.0, 2.5])
def test_barron_special_cases(c, rng):
    x, y = sample("barron", rng)

    def barron(alpha):
        return losskit.barron(x, y, alpha=alpha, c=c, reduction="none")

    def other(name, **p):
        return getattr(losskit, name)(x, y, **p, reduction="none") / c**2

    np.testing.assert_allclose(barron(2.0), 0.5 * other("mse"), rtol=1e-12)
    np.testing.assert_allclose(barron(1.0), other("pseudo_huber", delta=c), rtol=1e-12)
    np.testing.assert_allclose(barron(1.0), other("charbonnier", c=c) * c, rtol=1e-12)
    np.testing.assert_allclose(barron(0.0), other("cauchy", c=math.sqrt(2.0) * c), rtol=1e-12)
    np.testing.assert_allclose(barron(-2.0), other("geman_mcclure", c=2.0 * c), rtol=1e-12)
    np.testing.assert_allclose(barron(-INF), other("welsch", c=math.sqrt(2.0) * c), rtol=1e-12)
    # the general formula tends to its limits
    np.testing.assert_allclose(barron(1e-9), barron(0.0), rtol=1e-8)
    np.testing.assert_allclose(barron(-1e-9), barron(0.0), rtol=1e-8)
    np.testing.assert_allclose(barron(2.0 - 1e-9), barron(2.0), rtol=1e-7)
    np.testing.assert_allclose(barron(2.0 + 1e-9), barron(2.0), rtol=1e-7)
    np.testing.assert_allclose(barron(-1e8), barron(-INF), rtol=1e-6, atol=1e-12)


def test_barron_is_accurate_near_alpha_0_and_2():
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 50
    r = np.array([1e-6, 1e-3, 0.3, 1.0, 7.0, 300.0])
    for alpha in (1e-12, -3e-8, 1e-4, 2.0 - 1e-10, 2.0 - 1e-5, 2.0 + 1e-7):
        a = mpmath.mpf(alpha)
        b = abs(a - 2)
        exact = [float(b / a * ((mpmath.mpf(v) ** 2 / b + 1) ** (a / 2) - 1)) for v in r]
        got = losskit.barron(r, np.zeros_like(r), alpha=alpha, reduction="none")
        np.testing.assert_allclose(got, exact, rtol=1e-12)
        got32 = losskit.barron(r.astype(np.float32), np.zeros(r.shape, np.float32), alpha=alpha, reduction="none")
        np.testing.assert_allclose(got32, exact, rtol=1e-5)


def test_barron_derivatives_at_special_alphas_are_the_limits(rng):
    x, y = sample("barron", rng)
    for special, near in ((0.0, 1e-9), (2.0, 2.0 - 1e-9), (-INF, -1e8)):
        a, b = losskit.get("barron", alpha=special, c=0.7), losskit.get("barron", alpha=near, c=0.7)
        np.testing.assert_allclose(a.gradient(x, y), b.gradient(x, y), rtol=1e-6, atol=1e-12)
        np.testing.assert_allclose(a.hessian(x, y), b.hessian(x, y), rtol=1e-6, atol=1e-12)


# -- robust M-estimators --------------------------------------------------------


@pytest.mark.parametrize("name", ["tukey", "cauchy", "welsch", "geman_mcclure", "pseudo_huber", "log_cosh", "barron"])
def test_quadratic_near_zero(name):
    r = np.array([-1e-4, 1e-5, 3e-4])
    got = getattr(losskit, name)(r, np.zeros(3), reduction="none")
    np.testing.assert_allclose(got, r**2 / 2, rtol=1e-6)


def test_robust_bounds_and_non_convexity(rng):
    far = np.array([-1e4, 50.0, 1e4])
    z = np.zeros(3)
    np.testing.assert_allclose(losskit.tukey(far, z, c=2.0, reduction="none"), 4.0 / 6.0, rtol=1e-12)
    assert np.all(losskit.welsch(far, z, c=2.0, reduction="none") <= 2.0)
    assert np.all(losskit.geman_mcclure(far, z, c=2.0, reduction="none") <= 2.0)
    r = np.linspace(-20, 20, 401)
    for name, params in (("tukey", {}), ("cauchy", {}), ("welsch", {}), ("geman_mcclure", {}), ("msle", {}),
                         ("barron", {"alpha": 0.5})):
        spec = losskit.spec(name)
        assert not spec.convex and not spec.hessian_nonnegative
        xr = np.abs(r) + 0.5 if name == "msle" else r
        assert np.any(losskit.get(name, **params).hessian(xr, np.zeros_like(xr)) < 0), name
    for name in ("mae", "smooth_l1", "pseudo_huber", "charbonnier", "log_cosh", "mape", "pinball", "expectile"):
        assert losskit.spec(name).convex and np.all(losskit.get(name).hessian(r + 0.01, np.ones_like(r)) >= 0)


# -- what the minimisers estimate ---------------------------------------------------


def test_pinball_and_expectile_estimate_their_statistics(rng):
    y = rng.standard_t(3, size=2001)
    grid = np.linspace(-4, 4, 1601)
    ones = np.ones_like(y)
    for q in (0.1, 0.5, 0.9):
        losses = [float(losskit.pinball(c * ones, y, quantile=q)) for c in grid]
        assert abs(grid[int(np.argmin(losses))] - np.quantile(y, q)) < 0.02
    for tau in (0.2, 0.5, 0.8):
        losses = [float(losskit.expectile(c * ones, y, expectile=tau)) for c in grid]
        best = grid[int(np.argmin(losses))]
        w = np.where(y > best, tau, 1 - tau)
        # first-order condition of the tau-expectile: sum w (y - m) = 0
        assert abs(np.sum(w * (y - best)) / np.sum(w)) < 0.01
    losses = [float(losskit.expectile(c * ones, y, expectile=0.5)) for c in grid]
    assert abs(grid[int(np.argmin(losses))] - y.mean()) < 0.01


# -- several quantiles at once ---------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_pinball_several_quantiles_every_reduction(backend, rng):
    qs = [0.05, 0.5, 0.95]
    y = rng.normal(size=(4, 2))
    x = y[..., None] + rng.normal(size=(4, 2, 3))
    w = rng.uniform(0, 2, size=x.shape)
    m = rng.random(x.shape) < 0.6
    ref = R.pinball_multi(x, y, qs)
    for quantile in (qs, tuple(qs), np.asarray(qs)):
        for weight, mask in ((None, None), (w, m)):
            for reduction in ("none", "sum", "mean"):
                got = losskit.pinball(to(backend, x), to(backend, y), quantile=quantile, weight=to(backend, weight),
                                      mask=to(backend, mask), reduction=reduction)
                np.testing.assert_allclose(to_numpy(got), R.reduce_ref(ref, weight, mask, reduction), rtol=1e-12)
    # the loss object turns a list from a config into an array of the input's backend
    # (Loss turns the list into an array of the backend's default float dtype: float32 on torch)
    loss = losskit.Loss.from_config({"name": "pinball", "params": {"quantile": qs}})
    got = to_numpy(loss(to(backend, x), to(backend, y), reduction="none"))
    np.testing.assert_allclose(got, ref, rtol=1e-6 if backend == "torch" else 1e-12)
    assert loss.get_config()["params"]["quantile"] == qs


@needs_torch
def test_pinball_quantiles_given_as_a_torch_tensor(rng):
    import torch

    y = rng.normal(size=5)
    x = y[:, None] + rng.normal(size=(5, 2))
    levels = torch.tensor([0.2, 0.7], dtype=torch.float64)
    got = losskit.pinball(torch.tensor(x), torch.tensor(y), quantile=levels, reduction="none")
    np.testing.assert_allclose(got.numpy(), R.pinball_multi(x, y, [0.2, 0.7]), rtol=1e-12)
    assert float(losskit.pinball(torch.tensor(x[:, 0]), torch.tensor(y), quantile=levels[0])) == pytest.approx(
        R.pinball(x[:, 0], y, 0.2).mean(), rel=1e-12)


# -- stability ----------------------------------------------------------------------------

STABILITY = [pytest.param(n, p, id=n + "".join(f"-{k}={v}" for k, v in p.items())) for n, p in [
    ("mae", {}), ("smooth_l1", {"beta": 1e-30}), ("smooth_l1", {"beta": 1e30}), ("smooth_l1", {"beta": 0.0}),
    ("pseudo_huber", {"delta": 1e-30}), ("pseudo_huber", {"delta": 1e30}), ("pseudo_huber", {}),
    ("charbonnier", {"c": 1e-30}), ("charbonnier", {"c": 1e30}), ("log_cosh", {}), ("mape", {}),
    ("pinball", {"quantile": 1e-9}), ("expectile", {"expectile": 1 - 1e-9}),
    ("tukey", {"c": 1e-30}), ("tukey", {"c": 1e30}), ("cauchy", {"c": 1e-30}), ("cauchy", {"c": 1e30}),
    ("welsch", {"c": 1e-30}), ("welsch", {"c": 1e30}), ("geman_mcclure", {"c": 1e-30}), ("geman_mcclure", {"c": 1e30}),
    *[("barron", {"alpha": a, "c": s}) for a in (-INF, -2.0, 0.0, 1e-6, 1.0) for s in (1e-15, 1.0, 1e15)],
    # near alpha = 2 the loss grows like (r/c)^2: a tiny scale overflows float32 for real
    *[("barron", {"alpha": a, "c": s}) for a in (2.0 - 1e-6, 2.0, 2.0 + 1e-6) for s in (1e-6, 1.0, 1e15)],
    ("barron", {"alpha": 4.0}),
]]


@needs_torch
@pytest.mark.parametrize("name,params", STABILITY)
def test_extreme_inputs_and_parameters_stay_finite_in_float32(name, params):
    import torch

    x = torch.tensor([-1e4, -30.0, -1e-6, 0.0, 0.0, 1e-6, 30.0, 1e4, 2.5], dtype=torch.float32, requires_grad=True)
    y = torch.tensor([0.0, 0.0, 0.0, 0.0, 1e4, 0.0, 0.0, -1e4, 2.5], dtype=torch.float32)
    out = getattr(losskit, name)(x, y, **params, reduction="none")
    assert out.dtype == torch.float32 and torch.all(torch.isfinite(out)) and torch.all(out >= 0), out
    out.sum().backward()
    assert torch.all(torch.isfinite(x.grad)), x.grad
    loss = losskit.get(name, **params)
    g, h = loss.gradient(x.detach(), y), loss.hessian(x.detach(), y)
    assert g.dtype == torch.float32 and torch.all(torch.isfinite(g)) and torch.all(torch.isfinite(h)), (g, h)
    np.testing.assert_allclose(g.numpy(), x.grad.numpy(), rtol=1e-4, atol=1e-6 * float(g.abs().max()))


@needs_torch
@pytest.mark.parametrize("name", ["msle", "rmsle"])
def test_log_errors_at_the_edge_of_their_domain(name):
    import torch

    x = torch.tensor([-1 + 1e-4, 0.0, 1e4, 1e30], dtype=torch.float32, requires_grad=True)
    y = torch.tensor([1e4, -1 + 1e-4, 0.0, 3.0], dtype=torch.float32)
    out = getattr(losskit, name)(x, y)
    out.backward()
    assert torch.isfinite(out) and torch.all(torch.isfinite(x.grad))


def test_asymptotics_with_tiny_and_huge_parameters():
    r = np.array([1e-3, 1.0, 1e4], dtype=np.float32)
    z = np.zeros(3, np.float32)
    np.testing.assert_allclose(losskit.pseudo_huber(r, z, delta=1e-20, reduction="none"), 1e-20 * r, rtol=1e-6)
    np.testing.assert_allclose(losskit.pseudo_huber(r, z, delta=1e20, reduction="none"), r.astype(float) ** 2 / 2, rtol=1e-6)
    np.testing.assert_allclose(losskit.charbonnier(r, z, c=1e-20, reduction="none"), r, rtol=1e-6)
    np.testing.assert_allclose(losskit.charbonnier(r, z, c=1e20, reduction="none"), r.astype(float) ** 2 / 2e20, rtol=1e-6)
    for name in ("tukey", "cauchy", "welsch", "geman_mcclure"):
        np.testing.assert_allclose(getattr(losskit, name)(r, z, c=1e20, reduction="none"), r.astype(float) ** 2 / 2,
                                   rtol=1e-6, err_msg=name)
    np.testing.assert_allclose(losskit.barron(r, z, alpha=0.5, c=1e15, reduction="none"),
                               r.astype(float) ** 2 / 2e30, rtol=1e-5)
    np.testing.assert_allclose(losskit.smooth_l1(r, z, beta=1e-30, reduction="none"), r, rtol=1e-6)


def test_small_residuals_are_accurate():
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 40
    r = np.array([1e-8, 1e-4, 0.01, 0.9, 1.1, 5.0, 40.0])
    exact_lc = [float(mpmath.log(mpmath.cosh(mpmath.mpf(v)))) for v in r]
    np.testing.assert_allclose(losskit.log_cosh(r, np.zeros_like(r), reduction="none"), exact_lc, rtol=1e-14)
    np.testing.assert_allclose(losskit.log_cosh(r.astype(np.float32), np.zeros(7, np.float32), reduction="none"),
                               exact_lc, rtol=2e-6)
    for delta in (1e-3, 1.0, 1e3):
        d = mpmath.mpf(delta)
        exact = [float(d**2 * (mpmath.sqrt(1 + (mpmath.mpf(v) / d) ** 2) - 1)) for v in r]
        np.testing.assert_allclose(losskit.pseudo_huber(r, np.zeros_like(r), delta=delta, reduction="none"), exact,
                                   rtol=1e-14)
    for name, c in (("cauchy", 2.0), ("welsch", 2.0), ("tukey", 50.0)):
        cc = mpmath.mpf(c)
        f = {"cauchy": lambda v: cc**2 / 2 * mpmath.log1p((v / cc) ** 2),
             "welsch": lambda v: cc**2 / 2 * (1 - mpmath.exp(-((v / cc) ** 2))),
             "tukey": lambda v: cc**2 / 6 * (1 - (1 - (v / cc) ** 2) ** 3)}[name]
        exact = [float(f(mpmath.mpf(v))) for v in r]
        np.testing.assert_allclose(getattr(losskit, name)(r, np.zeros_like(r), c=c, reduction="none"), exact,
                                   rtol=1e-13, err_msg=name)


def test_nan_in_input_propagates():
    x = np.array([np.nan, 1.0])
    y = np.zeros(2)
    for name in ("mae", "smooth_l1", "pseudo_huber", "charbonnier", "log_cosh", "mape", "pinball", "expectile",
                 "tukey", "cauchy", "welsch", "geman_mcclure", "barron", "msle"):
        out = getattr(losskit, name)(x, y, reduction="none")
        assert np.isnan(out[0]) and np.isfinite(out[1]), name
    assert np.isnan(losskit.rmse(x, y)) and np.isnan(losskit.barron(x, y, alpha=-INF, reduction="none")[0])


def test_infinite_scale_parameters_give_their_limits(rng):
    x, y = sample("mae", rng)
    half_sq = 0.5 * (x - y) ** 2
    for name, p in (("pseudo_huber", "delta"), ("tukey", "c"), ("cauchy", "c"), ("welsch", "c"), ("geman_mcclure", "c")):
        np.testing.assert_allclose(getattr(losskit, name)(x, y, **{p: INF}, reduction="none"), half_sq, rtol=1e-12)
        g, h = losskit.get(name, **{p: INF}).gradient(x, y), losskit.get(name, **{p: INF}).hessian(x, y)
        np.testing.assert_allclose(g, x - y, rtol=1e-12)
        np.testing.assert_allclose(h, 1.0, rtol=1e-12)
    for name, p in (("smooth_l1", "beta"), ("charbonnier", "c"), ("barron", "c")):
        assert np.all(getattr(losskit, name)(x, y, **{p: INF}, reduction="none") == 0.0)
        assert np.all(losskit.get(name, **{p: INF}).gradient(x, y) == 0.0)

