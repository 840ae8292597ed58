"""Properties every structured loss keeps (embeddings, segmentation masks,
CTC lattices, boxes), run over the registry.

Structured losses take positional arrays other than one input/target pair, so
their inputs come from each spec's own ``example`` (a valid call on typical
data) instead of being drawn from domains. The first positional array is the
prediction; gradients are taken with respect to it.
"""

from __future__ import annotations

import numpy as np
import pytest

import losskit
from helpers import BACKENDS, HAVE_JAX, HAVE_TORCH, to, to_numpy
from losskit.testing.sampling import settings

STRUCTURED = [
    pytest.param(spec, params, id=spec.name + "".join(f"-{k}={v}" for k, v in params.items()))
    for spec in losskit.specs()
    if spec.kind == "structured"
    for params in settings(spec)
]
WITH_GRADIENT = [c for c in STRUCTURED if c.values[0].derivatives is not None]
needs_torch = pytest.mark.skipif(not HAVE_TORCH, reason="torch is not installed")


def example(spec, rng):
    args, kwargs = spec.example(rng)
    return list(args), dict(kwargs)


def convert(backend, value, float_dtype=None):
    """A NumPy array as ``backend``'s array (floating ones optionally cast);
    anything else unchanged."""
    if not isinstance(value, np.ndarray):
        return value
    if float_dtype is not None and value.dtype.kind == "f":
        value = value.astype(float_dtype)
    return to(backend, value)


def call(spec, backend, args, kwargs, params, float_dtype=None, **kw):
    a = [convert(backend, v, float_dtype) for v in args]
    k = {name: convert(backend, v, float_dtype) for name, v in kwargs.items()}
    return spec.function(*a, **{**k, **params}, **kw)


def values(spec, args, kwargs, params, **kw):
    return to_numpy(call(spec, "numpy", args, kwargs, params, **kw))


def mean_divisor(spec, args, kwargs):
    """What each sample's loss is divided by before "mean" averages (1 for most)."""
    if spec.mean_divides_by is None:
        return 1.0
    name = spec.mean_divides_by
    value = args[spec.inputs.index(name)] if name in spec.inputs else kwargs[name]
    return np.maximum(np.asarray(value, dtype=np.float64), 1.0)


def torch_args(spec, args, kwargs):
    a = [convert("torch", v) for v in args]
    a[0] = a[0].clone().requires_grad_(True)
    k = {name: convert("torch", v) for name, v in kwargs.items()}
    return a, k


def test_structured_specs_are_complete():
    for spec in losskit.specs():
        if spec.kind != "structured":
            continue
        assert callable(spec.example) and len(spec.inputs) >= 1, spec.name
        assert spec.derivatives is None or not spec.pointwise, spec.name
        args, _ = spec.example(np.random.default_rng(0))
        assert len(args) <= len(spec.inputs), spec.name
        assert args[0].dtype.kind == "f", f"{spec.name}: the first input is the (floating) prediction"


@pytest.mark.parametrize("spec,params", STRUCTURED)
def test_finite_and_at_least_its_minimum(spec, params, rng):
    args, kwargs = example(spec, rng)
    loss = values(spec, args, kwargs, params, reduction="none")
    assert loss.ndim >= 1 and np.all(np.isfinite(loss)), loss
    if spec.minimum is not None:
        assert np.all(loss >= spec.minimum - 1e-12)


@pytest.mark.parametrize("spec,params", STRUCTURED)
def test_reductions_agree(spec, params, rng):
    args, kwargs = example(spec, rng)
    none = values(spec, args, kwargs, params, reduction="none")
    np.testing.assert_allclose(values(spec, args, kwargs, params, reduction="sum"), none.sum(), rtol=1e-12)
    expected_mean = (none / mean_divisor(spec, args, kwargs)).mean()
    np.testing.assert_allclose(values(spec, args, kwargs, params, reduction="mean"), expected_mean, rtol=1e-12)


@pytest.mark.parametrize("spec,params", STRUCTURED)
def test_weights_multiply(spec, params, rng):
    args, kwargs = example(spec, rng)
    none = values(spec, args, kwargs, params, reduction="none")
    w = rng.uniform(0.0, 3.0, size=none.shape)
    weighted = values(spec, args, kwargs, params, weight=w, reduction="none")
    np.testing.assert_allclose(weighted, w * none, rtol=1e-12, atol=1e-300)
    mean = values(spec, args, kwargs, params, weight=w, reduction="mean")
    divided = none / mean_divisor(spec, args, kwargs)
    np.testing.assert_allclose(mean, (w * divided).sum() / w.sum(), rtol=1e-10)


@pytest.mark.parametrize("spec,params", STRUCTURED)
def test_nothing_counts_gives_zero_with_zero_gradient(spec, params, rng):
    args, kwargs = example(spec, rng)
    none = values(spec, args, kwargs, params, reduction="none")
    m = np.zeros(none.shape, dtype=bool)
    assert values(spec, args, kwargs, params, mask=m, reduction="mean") == 0.0
    if HAVE_TORCH:
        import torch

        a, k = torch_args(spec, args, kwargs)
        out = spec.function(*a, **{**k, **params}, mask=torch.from_numpy(m), reduction="mean")
        out.backward()
        assert torch.all(a[0].grad == 0)


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "numpy"])
@pytest.mark.parametrize("spec,params", STRUCTURED)
def test_backends_agree(spec, params, backend, rng):
    args, kwargs = example(spec, rng)
    none = values(spec, args, kwargs, params, reduction="none")
    w = rng.uniform(0.5, 2.0, size=none.shape)
    for reduction in ("none", "mean"):
        expected = values(spec, args, kwargs, params, weight=w, reduction=reduction)
        got = call(spec, backend, args, kwargs, params, weight=to(backend, w), reduction=reduction)
        assert type(got).__module__.split(".")[0] == type(to(backend, args[0])).__module__.split(".")[0]
        np.testing.assert_allclose(to_numpy(got), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("spec,params", STRUCTURED)
def test_float32_close_to_float64(spec, params, rng):
    args, kwargs = example(spec, rng)
    single = to_numpy(call(spec, "numpy", args, kwargs, params, float_dtype=np.float32, reduction="none"))
    assert single.dtype == np.float32
    rounded = [v.astype(np.float32).astype(np.float64) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v
               for v in args]
    reference = values(spec, rounded, kwargs, params, reduction="none")
    np.testing.assert_allclose(single, reference, rtol=1e-4, atol=1e-5)


@needs_torch
@pytest.mark.parametrize("spec,params", STRUCTURED)
def test_half_precision_is_computed_in_float32(spec, params, rng):
    import torch

    args, kwargs = example(spec, rng)
    for dtype in (torch.float16, torch.bfloat16):
        half = [convert("torch", v).to(dtype) if isinstance(v, np.ndarray) and v.dtype.kind == "f"
                else convert("torch", v) for v in args]
        k = {name: convert("torch", v) for name, v in kwargs.items()}
        out = spec.function(*half, **{**k, **params}, reduction="none")
        assert out.dtype == dtype
        single = [v.to(torch.float32) if torch.is_tensor(v) and v.dtype == dtype else v for v in half]
        ref = spec.function(*single, **{**k, **params}, reduction="none")
        np.testing.assert_allclose(out.float().numpy(), ref.to(dtype).float().numpy(), rtol=0, atol=0)


@pytest.mark.skipif(not HAVE_JAX, reason="jax is not installed")
@pytest.mark.parametrize("spec,params", STRUCTURED)
def test_jax_grad_and_jit_flow(spec, params, rng):
    import jax
    import jax.numpy as jnp

    args, kwargs = example(spec, rng)
    rest = [convert("jax", v) for v in args[1:]]
    k = {name: convert("jax", v) for name, v in kwargs.items()}

    def total(first):
        return spec.function(first, *rest, **{**k, **params}, reduction="mean")

    first = jnp.asarray(args[0])
    g = jax.grad(total)(first)
    assert g.shape == first.shape and bool(jnp.all(jnp.isfinite(g)))
    np.testing.assert_allclose(float(jax.jit(total)(first)), float(total(first)), rtol=1e-12)
    if HAVE_TORCH:
        a, tk = torch_args(spec, args, kwargs)
        spec.function(*a, **{**tk, **params}, reduction="mean").backward()
        np.testing.assert_allclose(np.asarray(g), a[0].grad.numpy(), rtol=1e-9, atol=1e-12)


@needs_torch
@pytest.mark.parametrize("spec,params", WITH_GRADIENT)
def test_closed_form_gradient_equals_autograd(spec, params, rng):
    args, kwargs = example(spec, rng)
    loss = losskit.get(spec.name, **params)
    grad = to_numpy(loss.gradient(*args, **kwargs))
    a, k = torch_args(spec, args, kwargs)
    spec.function(*a, **{**k, **params}, reduction="sum").backward()
    assert grad.shape == args[0].shape
    np.testing.assert_allclose(grad, a[0].grad.numpy(), rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("spec,params", STRUCTURED)
def test_loss_object_and_config_round_trip(spec, params, rng):
    args, kwargs = example(spec, rng)
    loss = losskit.get(spec.name, **params)
    again = losskit.Loss.from_config(loss.get_config())
    assert again == loss and repr(loss).startswith(f"losskit.get('{spec.name}'")
    np.testing.assert_allclose(loss(*args, **kwargs), values(spec, args, kwargs, params), rtol=0, atol=0)
    for alias in spec.aliases:
        assert losskit.get(alias).spec is spec


def test_the_registered_distributed_loss_is_in_the_suite():
    """gathered_clip_loss (losskit.distributed, family "contrastive") is registered by
    ``import losskit``; without a process group it is the loss of one rank, on any backend, so
    every property above runs over it."""
    assert "gathered_clip_loss" in {c.values[0].name for c in STRUCTURED}
