"""Shared test helpers: moving arrays between backends, autograd and finite
differences, in float64 so references can be compared tightly."""

from __future__ import annotations

import importlib.util

import numpy as np

from losskit.testing.sampling import backends, to_backend, to_numpy  # noqa: F401  (re-exported for the tests)

HAVE_TORCH = importlib.util.find_spec("torch") is not None
HAVE_JAX = importlib.util.find_spec("jax") is not None
HAVE_STRICT = importlib.util.find_spec("array_api_strict") is not None

BACKENDS = backends()

if HAVE_JAX:
    import jax

    jax.config.update("jax_enable_x64", True)


to = to_backend  # the tests' short name


def torch_grad(fn, x: np.ndarray, *args, **kwargs) -> np.ndarray:
    """d sum(fn(x, *args, **kwargs)) / dx by torch autograd (args are NumPy, moved to torch)."""
    import torch

    xt = torch.tensor(x, requires_grad=True)
    targs = [torch.from_numpy(np.asarray(a).copy()) if isinstance(a, np.ndarray) else a for a in args]
    out = fn(xt, *targs, **kwargs)
    (g,) = torch.autograd.grad(out.sum(), xt)
    return g.numpy()


def finite_difference(fn, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of an elementwise ``fn`` (NumPy float64 in and out),
    perturbing every element at once: valid because element i's loss depends
    on element i only."""
    return (np.asarray(fn(x + eps)) - np.asarray(fn(x - eps))) / (2 * eps)


def finite_difference_full(fn, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of a scalar ``fn`` with respect to each element of ``x``."""
    g = np.zeros_like(x)
    flat = g.reshape(-1)
    for i in range(x.size):
        d = np.zeros_like(x).reshape(-1)
        d[i] = eps
        d = d.reshape(x.shape)
        flat[i] = (float(fn(x + d)) - float(fn(x - d))) / (2 * eps)
    return g


def cli(*args, catch_exceptions: bool = True):
    """The ``losskit`` command run in this process with click's CliRunner;
    arguments are turned into strings. The one CLI helper of the tests."""
    from click.testing import CliRunner

    from losskit.cli import app

    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=catch_exceptions)
