"""Properties every registered loss keeps, run over the whole registry.

A loss is tested here the moment its ``LossSpec`` is registered: inputs are
drawn from the spec's domains (``sampling.py``), so no loss is listed by hand.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import losskit
from losskit import domains as D
from helpers import BACKENDS, HAVE_JAX, HAVE_TORCH, finite_difference, to, to_numpy
from sampling import C, N, draw_case, inverse_link, sample_shape, settings, torch_inverse_link

CASES = [
    pytest.param(spec, params, id=spec.name + "".join(f"-{k}={v}" for k, v in params.items()))
    for spec in losskit.specs()
    if spec.kind != "structured"  # drawn from their own examples: test_structured_properties.py
    for params in settings(spec)
]
POINTWISE = [c for c in CASES if c.values[0].pointwise]
REDUCIBLE = [c for c in CASES if c.values[0].kind != "aggregate"]
needs_torch = pytest.mark.skipif(not HAVE_TORCH, reason="torch is not installed")


def call(spec, backend, x, y, extras, params, **kw):
    args = [to(backend, x), to(backend, y), *(to(backend, extras[n]) for n in spec.extra_inputs)]
    return spec.function(*args, **params, **kw)


def values(spec, x, y, extras, params, **kw):
    return to_numpy(call(spec, "numpy", x, y, extras, params, **kw))


def test_registry_is_populated():
    names = set(losskit.available(aliases=False))
    required = {  # the foundation's scope
        "mse", "rmse", "mae", "huber", "smooth_l1", "pseudo_huber", "log_cosh", "msle", "rmsle", "mape",
        "pinball", "expectile", "tukey", "cauchy", "welsch", "geman_mcclure", "charbonnier", "barron",
        "poisson_nll", "gamma_deviance", "tweedie_deviance", "gaussian_nll", "crps_gaussian",
        "cross_entropy", "nll", "binary_cross_entropy", "binary_cross_entropy_with_logits", "sigmoid_focal",
        "softmax_focal", "poly1_cross_entropy", "hinge", "squared_hinge", "multi_margin", "hinge_embedding",
        "soft_fbeta", "generalized_cross_entropy", "kl_div", "js_div",
    }
    assert required <= names, sorted(required - names)
    assert "l1" in losskit.available()
    for spec in losskit.specs():
        assert spec.summary and spec.estimates and spec.references, spec.name
        assert spec.kind in ("elementwise", "class_axis", "aggregate", "structured"), spec.name
        assert (spec.example is not None) == (spec.kind == "structured"), spec.name


@pytest.mark.parametrize("spec,params", CASES)
def test_at_least_its_minimum(spec, params, rng):
    raw, x, y, extras = draw_case(spec, rng)
    reduction = "mean" if spec.kind == "aggregate" else "none"
    loss = values(spec, x, y, extras, params, reduction=reduction)
    assert np.all(np.isfinite(loss))
    if spec.minimum is not None:
        assert np.all(loss >= spec.minimum - 1e-12)


@pytest.mark.parametrize("spec,params", [c for c in CASES if c.values[0].best_input is not None])
def test_minimal_at_a_perfect_prediction(spec, params, rng):
    _, _, y, extras = draw_case(spec, rng)
    best = np.asarray(spec.best_input(y), dtype=np.float64)
    reduction = "mean" if spec.kind == "aggregate" else "none"
    at_best = values(spec, best, y, extras, params, reduction=reduction)
    if spec.minimum is not None:
        np.testing.assert_allclose(at_best, spec.minimum, atol=1e-12)
    for scale in (1e-3, 0.1, 1.0):
        moved = best + scale * rng.choice([-1.0, 1.0], size=best.shape)
        if spec.input_domain is not D.REAL:
            keep = np.asarray(spec.input_domain.inside(np, moved)) & np.asarray(spec.input_domain.inside(np, best))
            moved = np.where(keep, moved, best)
        assert np.all(values(spec, moved, y, extras, params, reduction=reduction) >= at_best - 1e-12)


@pytest.mark.parametrize("spec,params", REDUCIBLE)
def test_reductions_agree(spec, params, rng):
    _, x, y, extras = draw_case(spec, rng)
    none = values(spec, x, y, extras, params, reduction="none")
    assert none.shape == sample_shape(spec)
    np.testing.assert_allclose(values(spec, x, y, extras, params, reduction="sum"), none.sum(), rtol=1e-12)
    np.testing.assert_allclose(values(spec, x, y, extras, params, reduction="mean"), none.mean(), rtol=1e-12)


@pytest.mark.parametrize("spec,params", REDUCIBLE)
def test_weights_multiply(spec, params, rng):
    _, x, y, extras = draw_case(spec, rng)
    w = rng.uniform(0.0, 3.0, size=sample_shape(spec))
    none = values(spec, x, y, extras, params, reduction="none")
    weighted = values(spec, x, y, extras, params, weight=w, reduction="none")
    np.testing.assert_allclose(weighted, w * none, rtol=1e-12, atol=1e-300)
    mean = values(spec, x, y, extras, params, weight=w, reduction="mean")
    np.testing.assert_allclose(mean, (w * none).sum() / w.sum(), rtol=1e-10)


@pytest.mark.parametrize("spec,params", CASES)
def test_mask_equals_slicing(spec, params, rng):
    _, x, y, extras = draw_case(spec, rng)
    m = rng.random(sample_shape(spec)) < 0.6
    m[0] = True
    masked = values(spec, x, y, extras, params, mask=m, reduction="mean")
    sliced = values(spec, x[m], y[m], {k: v[m] for k, v in extras.items()}, params, reduction="mean")
    np.testing.assert_allclose(masked, sliced, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("spec,params", CASES)
def test_nothing_counts_gives_zero_with_zero_gradient(spec, params, rng):
    _, x, y, extras = draw_case(spec, rng)
    m = np.zeros(sample_shape(spec), dtype=bool)
    out = values(spec, x, y, extras, params, mask=m, reduction="mean")
    assert out == 0.0
    empty = values(spec, x[:0], y[:0], {k: v[:0] for k, v in extras.items()}, params, reduction="mean")
    assert empty == 0.0
    if HAVE_TORCH:
        import torch

        xt = torch.tensor(x, requires_grad=True)
        args = [torch.tensor(y), *(torch.tensor(extras[n]) for n in spec.extra_inputs)]
        out = spec.function(xt, *args, **params, mask=torch.zeros(sample_shape(spec), dtype=torch.bool))
        out.backward()
        assert torch.all(xt.grad == 0)


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "numpy"])
@pytest.mark.parametrize("spec,params", CASES)
def test_backends_agree(spec, params, backend, rng):
    _, x, y, extras = draw_case(spec, rng)
    w = rng.uniform(0.5, 2.0, size=sample_shape(spec))
    for reduction in ("mean",) if spec.kind == "aggregate" else ("none", "mean"):
        expected = values(spec, x, y, extras, params, weight=w, reduction=reduction)
        got = call(spec, backend, x, y, extras, params, weight=to(backend, w), reduction=reduction)
        assert type(got).__module__.split(".")[0] == type(to(backend, x)).__module__.split(".")[0]
        np.testing.assert_allclose(to_numpy(got), expected, rtol=1e-10, atol=1e-12)


@needs_torch
@pytest.mark.parametrize("spec,params", POINTWISE)
def test_gradient_equals_autograd_and_finite_differences(spec, params, rng):
    import torch

    raw, _, y, extras = draw_case(spec, rng)
    loss = losskit.get(spec.name, **params)
    grad = to_numpy(loss.gradient(raw, y, **extras))
    assert grad.shape == raw.shape
    rt = torch.tensor(raw, requires_grad=True)
    args = [torch.tensor(y), *(torch.tensor(extras[n]) for n in spec.extra_inputs)]
    per = spec.function(torch_inverse_link(spec.link, rt), *args, **params, reduction="none")
    (auto,) = torch.autograd.grad(per.sum(), rt)
    np.testing.assert_allclose(grad, auto.numpy(), rtol=1e-7, atol=1e-9)

    def f(r):
        xs = [inverse_link(spec.link, r), y, *(extras[n] for n in spec.extra_inputs)]
        return spec.function(*xs, **params, reduction="none")

    if spec.kind == "class_axis":
        fd = np.zeros_like(raw)
        for c in range(raw.shape[1]):
            e = np.zeros_like(raw)
            e[:, c] = 1e-6
            fd[:, c] = (f(raw + e) - f(raw - e)) / 2e-6
    else:
        fd = finite_difference(f, raw)
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-6)


@needs_torch
@pytest.mark.parametrize("spec,params", POINTWISE)
def test_hessian_equals_autograd(spec, params, rng):
    import torch

    raw, _, y, extras = draw_case(spec, rng)
    loss = losskit.get(spec.name, **params)
    hess = to_numpy(loss.hessian(raw, y, **extras))
    assert hess.shape == raw.shape
    args = [torch.tensor(y), *(torch.tensor(extras[n]) for n in spec.extra_inputs)]

    def total(r):
        return spec.function(torch_inverse_link(spec.link, r), *args, **params, reduction="sum")

    if spec.kind == "class_axis":
        full = to_numpy(loss.hessian(raw, y, full=True, **extras))
        assert full.shape == (N, C, C)
        for i in range(N):
            def row_loss(r, i=i):
                rows = torch.tensor(raw).clone()
                rows[i] = r
                return total(rows)

            auto = torch.autograd.functional.hessian(row_loss, torch.tensor(raw[i])).numpy()
            np.testing.assert_allclose(full[i], auto, rtol=1e-6, atol=1e-8)
            np.testing.assert_allclose(hess[i], np.diag(auto), rtol=1e-6, atol=1e-8)
    else:
        rt = torch.tensor(raw, requires_grad=True)
        (g,) = torch.autograd.grad(total(rt), rt, create_graph=True)
        if not g.requires_grad:  # piecewise-linear loss: autograd has no second-order graph
            auto = np.zeros_like(raw)
        else:
            (h,) = torch.autograd.grad(g.sum(), rt, allow_unused=True)
            auto = np.zeros_like(raw) if h is None else h.numpy(force=True)  # abs'' is a ZeroTensor
        np.testing.assert_allclose(hess, auto, rtol=1e-6, atol=1e-8)
        fd = finite_difference(lambda r: to_numpy(loss.gradient(r, y, **extras)), raw)
        np.testing.assert_allclose(hess, fd, rtol=1e-4, atol=1e-5)
    if spec.hessian_nonnegative:
        assert np.all(hess >= -1e-12), "registry says the Hessian is non-negative"


@pytest.mark.parametrize("spec,params", [c for c in POINTWISE if c.values[0].convex])
def test_convex_along_segments(spec, params, rng):
    raw_a, _, y, extras = draw_case(spec, rng)
    raw_b, _, _, _ = draw_case(spec, rng)  # convex along the segment, per element or per row

    def f(r):
        xs = [inverse_link(spec.link, r), y, *(extras[n] for n in spec.extra_inputs)]
        return spec.function(*xs, **params, reduction="none")

    for t in (0.25, 0.5, 0.75):
        mid = f(t * raw_a + (1 - t) * raw_b)
        chord = t * f(raw_a) + (1 - t) * f(raw_b)
        assert np.all(mid <= chord + 1e-9 * (1 + np.abs(chord)))


def _extremes(domain, link):
    if link in ("sigmoid", "softmax", "log_softmax") or (link == "identity" and domain is D.REAL):
        return [-1e4, -30.0, 0.0, 30.0, 1e4]
    if link == "exp":
        return [-30.0, 0.0, 30.0]
    lo, hi = domain.low, domain.high
    vals = [lo if domain.low_closed else lo + 1e-4] if math.isfinite(lo) else [-1e4]
    vals += [hi if domain.high_closed else hi - 1e-4] if math.isfinite(hi) else [1e4]
    if math.isfinite(lo) and math.isfinite(hi):
        return vals + [(lo + hi) / 2]
    return vals + [lo + 1.0 if math.isfinite(lo) else hi - 1.0 if math.isfinite(hi) else 1.0]


@needs_torch
@pytest.mark.parametrize("spec,params", CASES)
def test_extreme_finite_inputs_give_finite_values_and_gradients(spec, params, rng):
    import torch

    _, _, y, extras = draw_case(spec, rng)
    if spec.input_space.startswith("log-mean"):  # an exponent: e^1e4 is beyond any float
        grid = np.asarray(_extremes(spec.raw_domain, "exp"))
    elif spec.link == "identity":
        grid = np.asarray(_extremes(spec.input_domain, "identity"))
    else:
        grid = np.asarray(_extremes(spec.raw_domain, spec.link))
    shape = (N, C) if spec.kind == "class_axis" else (N,)
    raw = rng.choice(grid, size=shape).astype(np.float32)
    if spec.kind == "class_axis" and spec.link == "identity" and spec.input_domain is D.UNIT:
        raw = raw / np.maximum(raw.sum(axis=1, keepdims=True), 1e-6)
    if isinstance(spec.target_domain, D.Interval) and spec.kind != "class_axis":
        edges = [v for v in (spec.target_domain.low, spec.target_domain.high) if math.isfinite(v)]
        if spec.target_domain is D.UNIT:
            y = rng.choice(np.asarray(edges + [0.5]), size=y.shape)
    rt = torch.tensor(raw, requires_grad=True)
    args = [torch.tensor(y).to(torch.float32) if y.dtype.kind == "f" else torch.tensor(y)]
    args += [torch.tensor(extras[n], dtype=torch.float32) for n in spec.extra_inputs]
    xin = torch_inverse_link(spec.link, rt) if spec.link != "identity" else rt
    out = spec.function(xin, *args, **params, reduction="mean")
    assert out.dtype == torch.float32
    assert torch.isfinite(out), f"{spec.name}: loss {out} at {raw}"
    out.backward()
    assert torch.all(torch.isfinite(rt.grad)), f"{spec.name}: gradient {rt.grad} at {raw}"
    if spec.pointwise:
        loss = losskit.get(spec.name, **params)
        r = rt.detach() if spec.link != "identity" else rt.detach()
        g = loss.gradient(r, args[0], **{n: a for n, a in zip(spec.extra_inputs, args[1:])})
        h = loss.hessian(r, args[0], **{n: a for n, a in zip(spec.extra_inputs, args[1:])})
        assert torch.all(torch.isfinite(g)) and torch.all(torch.isfinite(h)), spec.name


@pytest.mark.parametrize("spec,params", CASES)
def test_float32_close_to_float64(spec, params, rng):
    _, x, y, extras = draw_case(spec, rng)
    reduction = "mean" if spec.kind == "aggregate" else "none"
    full = values(spec, x, y, extras, params, reduction=reduction)
    x32 = x.astype(np.float32)
    single = values(spec, x32, y, extras, params, reduction=reduction)
    assert single.dtype == np.float32
    reference = values(spec, x32.astype(np.float64), y, extras, params, reduction=reduction)
    np.testing.assert_allclose(single, reference, rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(reference, full, rtol=1e-3, atol=1e-3)


@needs_torch
@pytest.mark.parametrize("spec,params", CASES)
def test_half_precision_is_computed_in_float32(spec, params, rng):
    import torch

    _, x, y, extras = draw_case(spec, rng)
    reduction = "mean" if spec.kind == "aggregate" else "none"
    for dtype in (torch.float16, torch.bfloat16):
        xh = torch.tensor(x).to(dtype)
        args = [torch.tensor(y), *(torch.tensor(extras[n]) for n in spec.extra_inputs)]
        out = spec.function(xh, *args, **params, reduction=reduction)
        assert out.dtype == dtype
        ref = spec.function(xh.to(torch.float32), *args, **params, reduction=reduction)
        np.testing.assert_allclose(out.float().numpy(), ref.to(dtype).float().numpy(), rtol=0, atol=0)


@pytest.mark.skipif(not HAVE_JAX, reason="jax is not installed")
@pytest.mark.parametrize("spec,params", CASES)
def test_jax_grad_and_jit_flow(spec, params, rng):
    import jax
    import jax.numpy as jnp

    _, x, y, extras = draw_case(spec, rng)
    ex = [jnp.asarray(extras[n]) for n in spec.extra_inputs]

    def total(xj):
        return spec.function(xj, jnp.asarray(y), *ex, **params, reduction="mean")

    g = jax.grad(total)(jnp.asarray(x))
    assert g.shape == x.shape and bool(jnp.all(jnp.isfinite(g)))
    np.testing.assert_allclose(float(jax.jit(total)(jnp.asarray(x))), float(total(jnp.asarray(x))), rtol=1e-12)
    if HAVE_TORCH:
        import torch

        xt = torch.tensor(x, requires_grad=True)
        targs = [torch.tensor(y), *(torch.tensor(extras[n]) for n in spec.extra_inputs)]
        spec.function(xt, *targs, **params, reduction="mean").backward()
        np.testing.assert_allclose(np.asarray(g), xt.grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("spec,params", CASES)
def test_config_round_trip(spec, params):
    loss = losskit.get(spec.name, **params)
    again = losskit.Loss.from_config(loss.get_config())
    assert again == loss and again.params == loss.params
    assert repr(loss).startswith(f"losskit.get('{spec.name}'")
    for alias in spec.aliases:
        assert losskit.get(alias).spec is spec


@pytest.mark.parametrize("spec,params", CASES)
def test_loss_object_equals_function(spec, params, rng):
    _, x, y, extras = draw_case(spec, rng)
    loss = losskit.get(spec.name, **params)
    got = loss(x, y, *(extras[n] for n in spec.extra_inputs))
    np.testing.assert_allclose(got, values(spec, x, y, extras, params), rtol=0, atol=0)


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "numpy"])
@pytest.mark.parametrize("spec,params", POINTWISE)
def test_derivatives_agree_across_backends(spec, params, backend, rng):
    raw, _, y, extras = draw_case(spec, rng)
    loss = losskit.get(spec.name, **params)
    g, h = loss.gradient(raw, y, **extras), loss.hessian(raw, y, **extras)
    ex = {k: to(backend, v) for k, v in extras.items()}
    gb = loss.gradient(to(backend, raw), to(backend, y), **ex)
    hb = loss.hessian(to(backend, raw), to(backend, y), **ex)
    assert type(gb).__module__.split(".")[0] == type(to(backend, raw)).__module__.split(".")[0]
    np.testing.assert_allclose(to_numpy(gb), to_numpy(g), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(to_numpy(hb), to_numpy(h), rtol=1e-10, atol=1e-12)
