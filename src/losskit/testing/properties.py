"""The property suite: what every pointwise or aggregate loss must satisfy.

Each property is a function of ``(spec, params, rng)`` that raises
``AssertionError`` when the loss breaks it. Inputs are drawn from the spec's
domains (``losskit.testing.sampling``), so the suite runs on any registered loss,
including one a user registers with ``losskit.register_loss``:

>>> import losskit
>>> report = losskit.testing.properties.check_properties("huber")
>>> report.passed
True

The package's own tests run every property over the whole registry
(``tests/functional/test_properties.py``); structured losses (embeddings, lattices,
boxes) have their own suite there, drawn from their ``example``.
Backends that are not installed are skipped, and reported as skipped.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .. import domains as D
from ..registry import Loss, LossSpec, get, spec as _spec
from .._array import inverse_link
from .sampling import C, N, backends, draw_case, sample_shape, settings, to_backend, to_numpy, \
    torch_inverse_link

__all__ = ["Property", "PROPERTIES", "Skip", "PropertyReport", "applicable", "check_properties"]


class Skip(Exception):
    """A property that cannot run here (a backend is not installed)."""


@dataclass(frozen=True)
class Property:
    name: str
    check: Callable  # (spec, params, rng) -> None; raises AssertionError or Skip
    applies: Callable = lambda spec: True
    doc: str = ""


def _have(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _need(module: str):
    if not _have(module):
        raise Skip(f"{module} is not installed")
    return importlib.import_module(module)


@contextlib.contextmanager
def _x64():
    """JAX in float64 for this block only, leaving the user's setting alone."""
    import jax

    with jax.enable_x64(True):
        yield


def _call(spec, backend, x, y, extras, params, **kw):
    args = [to_backend(backend, x), to_backend(backend, y), *(to_backend(backend, extras[n]) for n in spec.extra_inputs)]
    return spec.function(*args, **params, **kw)


def numpy_values(spec, x, y, extras, params, **kw):
    return to_numpy(_call(spec, "numpy", x, y, extras, params, **kw))


def _torch_args(spec, y, extras):
    import torch

    return [torch.tensor(y), *(torch.tensor(extras[n]) for n in spec.extra_inputs)]


def per_element_loss(spec, params, y, extras):
    """raw -> unreduced loss, in NumPy float64."""

    def f(r):
        xs = [inverse_link(np, spec.link, r), y, *(extras[n] for n in spec.extra_inputs)]
        return spec.function(*xs, **params, reduction="none")

    return f


def _finite_difference(fn, x, eps=1e-6):
    """Central differences of an elementwise ``fn``, perturbing every element at
    once: valid because element i's loss depends on element i only."""
    return (np.asarray(fn(x + eps)) - np.asarray(fn(x - eps))) / (2 * eps)


# -- the properties ----------------------------------------------------------


def at_least_its_minimum(spec, params, rng):
    _, x, y, extras = draw_case(spec, rng)
    reduction = "mean" if spec.kind == "aggregate" else "none"
    loss = numpy_values(spec, x, y, extras, params, reduction=reduction)
    assert np.all(np.isfinite(loss)), f"non-finite loss {loss}"
    if spec.minimum is not None:
        assert np.all(loss >= spec.minimum - 1e-12), f"loss {loss.min()} below the stated minimum {spec.minimum}"


def minimal_at_a_perfect_prediction(spec, params, rng):
    _, _, y, extras = draw_case(spec, rng)
    best = np.asarray(spec.best_input(y), dtype=np.float64)
    reduction = "mean" if spec.kind == "aggregate" else "none"
    at_best = numpy_values(spec, best, y, extras, params, reduction=reduction)
    if spec.minimum is not None:
        np.testing.assert_allclose(at_best, spec.minimum, atol=1e-12, err_msg="loss at the best input")
    for scale in (1e-3, 0.1, 1.0):
        moved = best + scale * rng.choice([-1.0, 1.0], size=best.shape)
        if spec.input_domain is not D.REAL:
            keep = np.asarray(spec.input_domain.inside(np, moved)) & np.asarray(spec.input_domain.inside(np, best))
            moved = np.where(keep, moved, best)
        lower = numpy_values(spec, moved, y, extras, params, reduction=reduction) < at_best - 1e-12
        assert not np.any(lower), f"moving the best input by {scale} lowers the loss"


def reductions_agree(spec, params, rng):
    _, x, y, extras = draw_case(spec, rng)
    none = numpy_values(spec, x, y, extras, params, reduction="none")
    assert none.shape == sample_shape(spec), f"reduction='none' gives shape {none.shape}"
    np.testing.assert_allclose(numpy_values(spec, x, y, extras, params, reduction="sum"), none.sum(), rtol=1e-12)
    np.testing.assert_allclose(numpy_values(spec, x, y, extras, params, reduction="mean"), none.mean(), rtol=1e-12)


def weights_multiply(spec, params, rng):
    _, x, y, extras = draw_case(spec, rng)
    w = rng.uniform(0.0, 3.0, size=sample_shape(spec))
    none = numpy_values(spec, x, y, extras, params, reduction="none")
    weighted = numpy_values(spec, x, y, extras, params, weight=w, reduction="none")
    np.testing.assert_allclose(weighted, w * none, rtol=1e-12, atol=1e-300)
    mean = numpy_values(spec, x, y, extras, params, weight=w, reduction="mean")
    np.testing.assert_allclose(mean, (w * none).sum() / w.sum(), rtol=1e-10)


def mask_equals_slicing(spec, params, rng):
    _, x, y, extras = draw_case(spec, rng)
    m = rng.random(sample_shape(spec)) < 0.6
    m[0] = True
    masked = numpy_values(spec, x, y, extras, params, mask=m, reduction="mean")
    sliced = numpy_values(spec, x[m], y[m], {k: v[m] for k, v in extras.items()}, params, reduction="mean")
    np.testing.assert_allclose(masked, sliced, rtol=1e-10, atol=1e-14)


def nothing_counts_gives_zero_with_zero_gradient(spec, params, rng):
    _, x, y, extras = draw_case(spec, rng)
    m = np.zeros(sample_shape(spec), dtype=bool)
    assert numpy_values(spec, x, y, extras, params, mask=m, reduction="mean") == 0.0, "an all-False mask"
    empty = numpy_values(spec, x[:0], y[:0], {k: v[:0] for k, v in extras.items()}, params, reduction="mean")
    assert empty == 0.0, "an empty batch"
    if _have("torch"):
        import torch

        xt = torch.tensor(x, requires_grad=True)
        out = spec.function(xt, *_torch_args(spec, y, extras), **params,
                            mask=torch.zeros(sample_shape(spec), dtype=torch.bool))
        out.backward()
        assert torch.all(xt.grad == 0), "gradient of an all-False mask"


def backends_agree(spec, params, rng):
    _, x, y, extras = draw_case(spec, rng)
    w = rng.uniform(0.5, 2.0, size=sample_shape(spec))
    others = [b for b in backends() if b != "numpy"]
    if not others:
        raise Skip("no backend but NumPy is installed")
    for backend in others:
        with _x64() if backend == "jax" else contextlib.nullcontext():
            for reduction in ("mean",) if spec.kind == "aggregate" else ("none", "mean"):
                expected = numpy_values(spec, x, y, extras, params, weight=w, reduction=reduction)
                got = _call(spec, backend, x, y, extras, params, weight=to_backend(backend, w), reduction=reduction)
                native = type(to_backend(backend, x)).__module__.split(".")[0]
                assert type(got).__module__.split(".")[0] == native, f"{backend} in, {type(got)} out"
                np.testing.assert_allclose(to_numpy(got), expected, rtol=1e-10, atol=1e-12, err_msg=backend)


def gradient_equals_autograd_and_finite_differences(spec, params, rng):
    torch = _need("torch")
    raw, _, y, extras = draw_case(spec, rng)
    loss = Loss(spec, **params)
    grad = to_numpy(loss.gradient(raw, y, **extras))
    assert grad.shape == raw.shape, f"gradient shape {grad.shape}, raw shape {raw.shape}"
    rt = torch.tensor(raw, requires_grad=True)
    per = spec.function(torch_inverse_link(spec.link, rt), *_torch_args(spec, y, extras), **params, reduction="none")
    (auto,) = torch.autograd.grad(per.sum(), rt)
    np.testing.assert_allclose(grad, auto.numpy(), rtol=1e-7, atol=1e-9, err_msg="gradient vs torch autograd")
    f = per_element_loss(spec, params, y, extras)
    if spec.kind == "class_axis":
        fd = np.zeros_like(raw)
        for c in range(raw.shape[1]):
            e = np.zeros_like(raw)
            e[:, c] = 1e-6
            fd[:, c] = (f(raw + e) - f(raw - e)) / 2e-6
    else:
        fd = _finite_difference(f, raw)
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-6, err_msg="gradient vs finite differences")


def hessian_equals_autograd_and_finite_differences(spec, params, rng):
    torch = _need("torch")
    raw, _, y, extras = draw_case(spec, rng)
    loss = Loss(spec, **params)
    hess = to_numpy(loss.hessian(raw, y, **extras))
    assert hess.shape == raw.shape, f"Hessian shape {hess.shape}, raw shape {raw.shape}"
    args = _torch_args(spec, y, extras)

    def total(r):
        return spec.function(torch_inverse_link(spec.link, r), *args, **params, reduction="sum")

    if spec.kind == "class_axis":
        full = to_numpy(loss.hessian(raw, y, full=True, **extras))
        assert full.shape == (N, C, C), f"full Hessian shape {full.shape}"
        for i in range(N):
            def row_loss(r, i=i):
                rows = torch.tensor(raw).clone()
                rows[i] = r
                return total(rows)

            auto = torch.autograd.functional.hessian(row_loss, torch.tensor(raw[i])).numpy()
            np.testing.assert_allclose(full[i], auto, rtol=1e-6, atol=1e-8, err_msg="full Hessian vs autograd")
            np.testing.assert_allclose(hess[i], np.diag(auto), rtol=1e-6, atol=1e-8, err_msg="Hessian diagonal")
    else:
        rt = torch.tensor(raw, requires_grad=True)
        (g,) = torch.autograd.grad(total(rt), rt, create_graph=True)
        if not g.requires_grad:  # piecewise-linear loss: autograd has no second-order graph
            auto = np.zeros_like(raw)
        else:
            (h,) = torch.autograd.grad(g.sum(), rt, allow_unused=True)
            auto = np.zeros_like(raw) if h is None else h.numpy(force=True)  # abs'' is a ZeroTensor
        np.testing.assert_allclose(hess, auto, rtol=1e-6, atol=1e-8, err_msg="Hessian vs torch autograd")
        fd = _finite_difference(lambda r: to_numpy(loss.gradient(r, y, **extras)), raw)
        np.testing.assert_allclose(hess, fd, rtol=1e-4, atol=1e-5, err_msg="Hessian vs finite differences")
    if spec.hessian_nonnegative:
        assert np.all(hess >= -1e-12), f"the spec says the Hessian is non-negative; found {hess.min()}"


def convex_along_segments(spec, params, rng):
    raw_a, _, y, extras = draw_case(spec, rng)
    raw_b, _, _, _ = draw_case(spec, rng)  # convex along the segment, per element or per row
    f = per_element_loss(spec, params, y, extras)
    for t in (0.25, 0.5, 0.75):
        mid = f(t * raw_a + (1 - t) * raw_b)
        chord = t * f(raw_a) + (1 - t) * f(raw_b)
        above = mid > chord + 1e-9 * (1 + np.abs(chord))
        assert not np.any(above), f"the spec says convex; above the chord at t={t} for raw {raw_a[above]}"


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


def extreme_finite_inputs_give_finite_values_and_gradients(spec, params, rng):
    torch = _need("torch")
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
    if isinstance(spec.target_domain, D.Interval) and spec.kind != "class_axis" and spec.target_domain is D.UNIT:
        edges = [v for v in (spec.target_domain.low, spec.target_domain.high) if math.isfinite(v)]
        y = rng.choice(np.asarray(edges + [0.5]), size=y.shape)
    rt = torch.tensor(raw, requires_grad=True)
    args = [torch.tensor(y).to(torch.float32) if y.dtype.kind == "f" else torch.tensor(y)]
    args += [torch.tensor(extras[n], dtype=torch.float32) for n in spec.extra_inputs]
    xin = torch_inverse_link(spec.link, rt) if spec.link != "identity" else rt
    out = spec.function(xin, *args, **params, reduction="mean")
    assert out.dtype == torch.float32, f"float32 in, {out.dtype} out"
    assert torch.isfinite(out), f"loss {out} at {raw}"
    out.backward()
    assert torch.all(torch.isfinite(rt.grad)), f"gradient {rt.grad} at {raw}"
    if spec.pointwise:
        loss = Loss(spec, **params)
        extra = {n: a for n, a in zip(spec.extra_inputs, args[1:])}
        g = loss.gradient(rt.detach(), args[0], **extra)
        h = loss.hessian(rt.detach(), args[0], **extra)
        assert torch.all(torch.isfinite(g)) and torch.all(torch.isfinite(h)), f"derivatives at {raw}"


def float32_close_to_float64(spec, params, rng):
    _, x, y, extras = draw_case(spec, rng)
    reduction = "mean" if spec.kind == "aggregate" else "none"
    full = numpy_values(spec, x, y, extras, params, reduction=reduction)
    x32 = x.astype(np.float32)
    single = numpy_values(spec, x32, y, extras, params, reduction=reduction)
    assert single.dtype == np.float32, f"float32 in, {single.dtype} out"
    reference = numpy_values(spec, x32.astype(np.float64), y, extras, params, reduction=reduction)
    np.testing.assert_allclose(single, reference, rtol=2e-5, atol=1e-6, err_msg="float32 vs float64")
    np.testing.assert_allclose(reference, full, rtol=1e-3, atol=1e-3)


def half_precision_is_computed_in_float32(spec, params, rng):
    torch = _need("torch")
    _, x, y, extras = draw_case(spec, rng)
    reduction = "mean" if spec.kind == "aggregate" else "none"
    for dtype in (torch.float16, torch.bfloat16):
        xh = torch.tensor(x).to(dtype)
        args = _torch_args(spec, y, extras)
        out = spec.function(xh, *args, **params, reduction=reduction)
        assert out.dtype == dtype, f"{dtype} in, {out.dtype} out"
        ref = spec.function(xh.to(torch.float32), *args, **params, reduction=reduction)
        np.testing.assert_allclose(out.float().numpy(), ref.to(dtype).float().numpy(), rtol=0, atol=0,
                                   err_msg=f"{dtype} is not the float32 result rounded")


def jax_grad_and_jit_flow(spec, params, rng):
    jax = _need("jax")
    import jax.numpy as jnp

    _, x, y, extras = draw_case(spec, rng)
    with _x64():
        ex = [jnp.asarray(extras[n]) for n in spec.extra_inputs]

        def total(xj):
            return spec.function(xj, jnp.asarray(y), *ex, **params, reduction="mean")

        g = jax.grad(total)(jnp.asarray(x))
        assert g.shape == x.shape and bool(jnp.all(jnp.isfinite(g))), f"jax.grad gives {g}"
        np.testing.assert_allclose(float(jax.jit(total)(jnp.asarray(x))), float(total(jnp.asarray(x))), rtol=1e-12)
        g = np.asarray(g)
    if _have("torch"):
        import torch

        xt = torch.tensor(x, requires_grad=True)
        spec.function(xt, *_torch_args(spec, y, extras), **params, reduction="mean").backward()
        np.testing.assert_allclose(g, xt.grad.numpy(), rtol=1e-9, atol=1e-12, err_msg="jax.grad vs torch autograd")


def config_round_trips(spec, params, rng):
    loss = Loss(spec, **params)
    again = Loss.from_config(loss.get_config())
    assert again == loss and again.params == loss.params, "Loss.from_config(loss.get_config()) differs"
    assert repr(loss).startswith(f"losskit.get('{spec.name}'"), repr(loss)
    for alias in spec.aliases:
        assert get(alias).spec is spec, f"alias {alias!r}"


def loss_object_equals_function(spec, params, rng):
    _, x, y, extras = draw_case(spec, rng)
    got = Loss(spec, **params)(x, y, *(extras[n] for n in spec.extra_inputs))
    np.testing.assert_allclose(got, numpy_values(spec, x, y, extras, params), rtol=0, atol=0)


def derivatives_agree_across_backends(spec, params, rng):
    raw, _, y, extras = draw_case(spec, rng)
    loss = Loss(spec, **params)
    g, h = loss.gradient(raw, y, **extras), loss.hessian(raw, y, **extras)
    others = [b for b in backends() if b != "numpy"]
    if not others:
        raise Skip("no backend but NumPy is installed")
    for backend in others:
        with _x64() if backend == "jax" else contextlib.nullcontext():
            ex = {k: to_backend(backend, v) for k, v in extras.items()}
            gb = loss.gradient(to_backend(backend, raw), to_backend(backend, y), **ex)
            hb = loss.hessian(to_backend(backend, raw), to_backend(backend, y), **ex)
            native = type(to_backend(backend, raw)).__module__.split(".")[0]
            assert type(gb).__module__.split(".")[0] == native, f"{backend} in, {type(gb)} out"
            np.testing.assert_allclose(to_numpy(gb), to_numpy(g), rtol=1e-10, atol=1e-12, err_msg=f"{backend} gradient")
            np.testing.assert_allclose(to_numpy(hb), to_numpy(h), rtol=1e-10, atol=1e-12, err_msg=f"{backend} Hessian")


def torch_module_equals_function(spec, params, rng):
    torch = _need("torch")
    from ..torch import module

    _, x, y, extras = draw_case(spec, rng)
    xt = torch.tensor(x, requires_grad=True)
    args = [xt, *_torch_args(spec, y, extras)]
    got = module(spec.name, **params)(*args)
    (g_module,) = torch.autograd.grad(got, xt)
    expected = spec.function(*args, **params)
    (g_function,) = torch.autograd.grad(expected, xt)
    np.testing.assert_array_equal(got.detach().numpy(), expected.detach().numpy())
    np.testing.assert_array_equal(g_module.numpy(), g_function.numpy())


_reducible = lambda s: s.kind != "aggregate"  # noqa: E731
_pointwise = lambda s: s.pointwise  # noqa: E731

PROPERTIES = (
    Property("at_least_its_minimum", at_least_its_minimum, doc="finite, and never below spec.minimum"),
    Property("minimal_at_a_perfect_prediction", minimal_at_a_perfect_prediction,
             lambda s: s.best_input is not None, "equal to spec.minimum at best_input(target), and not lower nearby"),
    Property("reductions_agree", reductions_agree, _reducible, "'sum' and 'mean' of the 'none' output"),
    Property("weights_multiply", weights_multiply, _reducible, "weight multiplies; mean = sum(w l) / sum(w)"),
    Property("mask_equals_slicing", mask_equals_slicing, doc="a mask gives the loss of the selected elements"),
    Property("nothing_counts_gives_zero_with_zero_gradient", nothing_counts_gives_zero_with_zero_gradient,
             doc="an all-False mask or an empty batch: 0, and a zero gradient"),
    Property("backends_agree", backends_agree, doc="NumPy, torch, JAX and array-api-strict give the same values"),
    Property("gradient_equals_autograd_and_finite_differences", gradient_equals_autograd_and_finite_differences,
             _pointwise, "the closed-form (or registered) gradient vs torch autograd and central differences"),
    Property("hessian_equals_autograd_and_finite_differences", hessian_equals_autograd_and_finite_differences,
             _pointwise, "the Hessian vs autograd and differences of the gradient; its sign vs the spec"),
    Property("convex_along_segments", convex_along_segments, lambda s: s.pointwise and s.convex,
             "below the chord on random segments, where the spec says convex"),
    Property("extreme_finite_inputs_give_finite_values_and_gradients",
             extreme_finite_inputs_give_finite_values_and_gradients,
             doc="float32 logits at +-1e4, probabilities at 0 and 1: finite values and gradients"),
    Property("float32_close_to_float64", float32_close_to_float64, doc="float32 stays float32 and close to float64"),
    Property("half_precision_is_computed_in_float32", half_precision_is_computed_in_float32,
             doc="float16/bfloat16 in: the float32 result, rounded"),
    Property("jax_grad_and_jit_flow", jax_grad_and_jit_flow, doc="jax.grad and jax.jit run and agree with torch"),
    Property("config_round_trips", config_round_trips, doc="Loss.from_config(get_config()) is the same loss"),
    Property("loss_object_equals_function", loss_object_equals_function, doc="losskit.get(name)(...) is the function"),
    Property("derivatives_agree_across_backends", derivatives_agree_across_backends, _pointwise,
             "gradient and Hessian agree on every backend"),
    Property("torch_module_equals_function", torch_module_equals_function,
             doc="losskit.torch.module(name) gives the function's values and gradients"),
)


def applicable(spec: LossSpec | str) -> list[Property]:
    """The properties that apply to a (non-structured) loss."""
    spec = _spec(spec) if isinstance(spec, str) else spec
    if spec.kind == "structured":
        raise ValueError(
            f"check_properties: loss must be pointwise or aggregate; received the structured loss {spec.name!r} "
            f"(its properties are drawn from its example in tests/functional/test_structured_properties.py)"
        )
    return [p for p in PROPERTIES if p.applies(spec)]


@dataclass(repr=False)
class PropertyReport:
    """Outcome of every applicable property at every parameter setting."""

    loss: str
    results: list = field(default_factory=list)  # (property, params, "passed" | "failed" | "skipped", message)

    @property
    def passed(self) -> bool:
        return all(status != "failed" for _, _, status, _ in self.results)

    @property
    def failures(self) -> list:
        return [r for r in self.results if r[2] == "failed"]

    def __str__(self) -> str:
        lines = [f"{self.loss}: {sum(r[2] == 'passed' for r in self.results)} passed, {len(self.failures)} failed, "
                 f"{sum(r[2] == 'skipped' for r in self.results)} skipped"]
        for name, params, status, message in self.results:
            if status != "passed":
                where = "".join(f" {k}={v}" for k, v in params.items())
                first = message.strip().splitlines()[0] if message.strip() else ""
                lines.append(f"  {status:7s} {name}{where}: {first}")
        return "\n".join(lines)

    __repr__ = __str__


def check_properties(loss: LossSpec | str, *, seed: int = 20261122) -> PropertyReport:
    """Run every applicable property on ``loss`` (a registered name or a spec)
    at its default parameters and at each setting of its ``param_grid``.

    Never raises for a failing property: read ``report.passed`` and
    ``report.failures``, or ``assert report.passed, report`` in a test.
    """
    spec = _spec(loss) if isinstance(loss, str) else loss
    report = PropertyReport(spec.name)
    for prop in applicable(spec):
        for params in settings(spec):
            try:
                prop.check(spec, params, np.random.default_rng(seed))
            except Skip as reason:
                report.results.append((prop.name, params, "skipped", str(reason)))
            except AssertionError as error:
                report.results.append((prop.name, params, "failed", str(error)))
            except Exception as error:  # an exception is a failure of the loss, reported with its type
                report.results.append((prop.name, params, "failed", f"{type(error).__name__}: {error}"))
            else:
                report.results.append((prop.name, params, "passed", ""))
    return report
