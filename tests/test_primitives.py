"""The stable primitives of ``_array`` and the one reduction, at their edges."""

import numpy as np
import pytest
from scipy import special

from losskit import _array as A
from helpers import HAVE_TORCH

xp = np  # array_api_compat's NumPy namespace behaves the same for these
EDGES = np.array([-1e4, -745.0, -50.0, -1.0, -1e-12, 0.0, 1e-12, 1.0, 50.0, 709.0, 1e4])


def test_softplus_and_log_sigmoid_match_scipy_without_overflow():
    with np.errstate(over="raise"):
        sp = A.softplus(np, EDGES)
        ls = A.log_sigmoid(np, EDGES)
    np.testing.assert_allclose(sp, np.logaddexp(0.0, EDGES), rtol=1e-15)
    np.testing.assert_allclose(ls, special.log_expit(EDGES), rtol=1e-15)
    np.testing.assert_allclose(A.sigmoid(np, EDGES), special.expit(EDGES), rtol=1e-15, atol=1e-300)


def test_logsumexp_and_log_softmax_match_scipy():
    x = np.stack([EDGES, EDGES[::-1], np.full_like(EDGES, -np.inf)])
    with np.errstate(divide="ignore"):
        expected = special.logsumexp(x, axis=1)
    with np.errstate(divide="ignore"):  # the all -inf row: log(0) = -inf is the answer
        got = A.logsumexp(np, x, axis=1)
    np.testing.assert_allclose(got, expected, rtol=1e-15)
    np.testing.assert_allclose(A.log_softmax(np, x[:2], axis=1), special.log_softmax(x[:2], axis=1), rtol=1e-14, atol=1e-300)


def test_log1mexp_is_accurate_at_both_ends():
    import mpmath

    mpmath.mp.dps = 60

    a = -np.logspace(-20, 3, 50)
    exact = [float(mpmath.log1p(-mpmath.exp(mpmath.mpf(float(v))))) for v in a]
    np.testing.assert_allclose(A.log1mexp(np, a), exact, rtol=1e-14, atol=1e-300)


def test_xlogy_is_zero_at_zero_with_finite_gradient():
    np.testing.assert_array_equal(A.xlogy(np, np.array([0.0, 2.0]), np.array([0.0, 1.0])), [0.0, 0.0])
    if HAVE_TORCH:
        import torch
        import array_api_compat

        t = array_api_compat.array_namespace(torch.zeros(1))
        y = torch.tensor([0.0, 0.5], requires_grad=True)
        A.xlogy(t, torch.tensor([0.0, 1.0]), y).sum().backward()
        assert torch.all(torch.isfinite(y.grad))


@pytest.mark.skipif(not HAVE_TORCH, reason="torch is not installed")
def test_sigmoid_and_softplus_gradients_are_finite_at_extremes():
    import torch
    import array_api_compat

    t = array_api_compat.array_namespace(torch.zeros(1))
    x = torch.tensor([-1e4, 1e4, 0.0], dtype=torch.float32, requires_grad=True)
    (A.sigmoid(t, x).sum() + A.softplus(t, x).sum() + A.log_sigmoid(t, x).sum()).backward()
    assert torch.all(torch.isfinite(x.grad))


@pytest.mark.skipif(not HAVE_TORCH, reason="torch is not installed")
def test_primitive_autograd_gradients_are_exact_including_at_zero():
    """A branch written on |x| has autograd derivative 0 at x = 0: sigmoid'(0)
    must still be 1/4 and softplus'(0) 1/2. (torch's own sigmoid gradient
    s(1 - s) loses relative accuracy for large x; the exact forms are used.)"""
    import torch
    import array_api_compat

    t = array_api_compat.array_namespace(torch.zeros(1))
    values = np.array([-1e4, -30.0, -1.0, 0.0, 1.0, 30.0, 1e4])
    exact = {
        A.sigmoid: special.expit(values) * special.expit(-values),
        A.softplus: special.expit(values),
        A.log_sigmoid: special.expit(-values),
    }
    for primitive, expected in exact.items():
        x = torch.tensor(values, dtype=torch.float64, requires_grad=True)
        (g,) = torch.autograd.grad(primitive(t, x).sum(), x)
        np.testing.assert_allclose(g.numpy(), expected, rtol=1e-14, atol=0, err_msg=primitive.__name__)
