"""Draw valid inputs for any registered loss from its ``LossSpec`` alone, so
the property suite (``losskit.testing.properties``) covers a loss the moment it is
registered; and move arrays between backends to compare them.

Everything is float64 NumPy first, so references can be compared tightly.
"""

from __future__ import annotations

import importlib.util
import math

import numpy as np

from .. import domains as D
from .._array import inverse_link

N = 12  # samples
C = 4  # classes


def draw(domain, rng, shape, *, num_classes=C):
    """Values inside ``domain`` kept away from its edges (edges have own tests)."""
    if isinstance(domain, D.ClassIndex):
        return rng.integers(0, num_classes, size=shape)
    if isinstance(domain, D.Discrete):
        return rng.choice(np.asarray(domain.values, dtype=np.float64), size=shape)
    lo, hi = domain.low, domain.high
    if math.isfinite(lo) and math.isfinite(hi):
        span = hi - lo
        return rng.uniform(lo + 0.05 * span, hi - 0.05 * span, size=shape)
    if math.isfinite(lo):
        return lo + np.exp(rng.normal(0.0, 0.7, size=shape))
    if math.isfinite(hi):
        return hi - np.exp(rng.normal(0.0, 0.7, size=shape))
    return rng.normal(0.0, 2.0, size=shape)


def torch_inverse_link(link: str, raw):
    import torch

    return {
        "identity": lambda r: r,
        "sigmoid": torch.sigmoid,
        "exp": torch.exp,
        "softmax": lambda r: torch.softmax(r, dim=1),
        "log_softmax": lambda r: torch.log_softmax(r, dim=1),
    }[link](raw)


def input_shape(spec) -> tuple:
    return (N, C) if spec.kind == "class_axis" else (N,)


def target_shape(spec) -> tuple:
    if spec.kind == "class_axis" and isinstance(spec.target_domain, D.ClassIndex):
        return (N,)
    return input_shape(spec)


def sample_shape(spec) -> tuple:
    """Shape of the per-sample loss (what weight and mask have)."""
    return (N,)


def draw_case(spec, rng, params=None):
    """(raw, input, target, extras) in float64 NumPy for one call."""
    params = params or {}
    shape = input_shape(spec)
    raw = draw(spec.raw_domain, rng, shape)
    x = inverse_link(np, spec.link, raw)
    if spec.link == "identity" and spec.input_domain is not D.REAL:
        x = draw(spec.input_domain, rng, shape)
        if spec.kind == "class_axis" and spec.input_domain is D.UNIT:
            x = x / x.sum(axis=1, keepdims=True)  # a distribution per sample
        raw = x
    y = draw(spec.target_domain, rng, target_shape(spec))
    if isinstance(spec.target_domain, D.Interval) and spec.kind == "class_axis":
        y = y / y.sum(axis=1, keepdims=True)  # a distribution per sample
    extras = {name: draw(dom, rng, shape) for name, dom in spec.extra_inputs.items()}
    return raw, x, y, extras


def settings(spec):
    """Parameter settings to test: defaults, then the spec's grid; settings
    with array-valued parameters are left to the family tests."""
    out = [{}]
    for grid in spec.param_grid:
        if not any(isinstance(v, (list, tuple, np.ndarray)) for v in grid.values()):
            out.append(dict(grid))
    return out


# -- backends ----------------------------------------------------------------


def backends() -> list[str]:
    """The array backends installed here, NumPy first."""
    found = [name for name in ("torch", "jax", "array_api_strict") if importlib.util.find_spec(name) is not None]
    return ["numpy", *found]


def to_backend(backend: str, a):
    """A NumPy array (or None) as an array of ``backend``, dtype preserved.
    JAX keeps float64 only where x64 is enabled (``jax.enable_x64``)."""
    if a is None:
        return None
    a = np.asarray(a)
    if backend == "numpy":
        return a
    if backend == "torch":
        import torch

        return torch.from_numpy(a.copy())
    if backend == "jax":
        import jax.numpy as jnp

        return jnp.asarray(a)
    if backend == "array_api_strict":
        import array_api_strict

        return array_api_strict.asarray(a)
    raise ValueError(f"to_backend: backend must be one of {backends()}; received {backend!r}")


def to_numpy(x) -> np.ndarray:
    """Any backend's array as a NumPy array (bfloat16 as float32)."""
    if hasattr(x, "detach"):
        x = x.detach()
        if str(x.dtype) == "torch.bfloat16":
            x = x.float()
        return x.cpu().numpy()
    if type(x).__module__.startswith("array_api_strict"):
        import array_api_strict

        return np.asarray(array_api_strict.asarray(x, copy=True)._array)
    return np.asarray(x)
