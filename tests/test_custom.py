"""A user's own loss: registered in a few lines, it gets the contract, the
derivatives, the module and the whole property suite; and the suite catches
a planted mistake."""

from __future__ import annotations

import math

import numpy as np
import pytest

import losskit
from helpers import BACKENDS, HAVE_TORCH, to, to_numpy
from losskit import domains as D
from losskit.testing.properties import check_properties

needs_torch = pytest.mark.skipif(not HAVE_TORCH, reason="torch is not installed")


@pytest.fixture
def register():
    """``register(name, function, **options)``, unregistered after the test."""
    names = []

    def add(name, function, **options):
        names.append(name)
        return losskit.register_loss(name, function, **options)

    yield add
    for name in names:
        if name in losskit.available(aliases=False):
            losskit.unregister(name)


def log_cosh_by_hand(input, target, *, xp, scale=1.0):
    r = (input - target) / scale
    a = xp.abs(r)
    return scale**2 * (a + xp.log1p(xp.exp(-2.0 * a)) - math.log(2.0))  # stable log(cosh(r)), times scale^2


def log_cosh_gradient(raw, target, *, xp, scale=1.0):
    return scale * xp.tanh((raw - target) / scale)


def log_cosh_hessian(raw, target, *, xp, scale=1.0):
    return 1.0 - xp.tanh((raw - target) / scale) ** 2


def failed(report):
    return {name for name, _, status, _ in report.results if status == "failed"}


def test_a_loss_without_derivatives_passes_the_whole_suite(register):
    loss = register("my_log_cosh", log_cosh_by_hand, summary="log cosh with a scale", estimates="mean-like",
                    convex=True, robust=True, param_grid=({"scale": 0.5},))
    report = check_properties("my_log_cosh")
    assert report.passed, report
    ran = {name for name, _, status, _ in report.results if status == "passed"}
    assert {"gradient_equals_autograd_and_finite_differences", "hessian_equals_autograd_and_finite_differences",
            "convex_along_segments", "minimal_at_a_perfect_prediction", "backends_agree",
            "torch_module_equals_function"} <= ran
    # the autograd-derived derivatives are the closed forms, on every backend
    rng = np.random.default_rng(0)
    raw, target = rng.normal(size=20), rng.normal(size=20)
    for backend in BACKENDS:
        g = to_numpy(losskit.get("my_log_cosh", scale=0.5).gradient(to(backend, raw), to(backend, target)))
        h = to_numpy(losskit.get("my_log_cosh", scale=0.5).hessian(to(backend, raw), to(backend, target)))
        np.testing.assert_allclose(g, 0.5 * np.tanh((raw - target) / 0.5), rtol=1e-12, err_msg=backend)
        np.testing.assert_allclose(h, 1 - np.tanh((raw - target) / 0.5) ** 2, rtol=1e-10, atol=1e-15, err_msg=backend)
    # the function keeps the contract and equals the built-in
    np.testing.assert_allclose(loss(raw, target, reduction="none"), losskit.log_cosh(raw, target, reduction="none"),
                               rtol=1e-12)
    assert list(losskit.spec("my_log_cosh").defaults()) == ["scale"]


def test_closed_form_derivatives_are_used_and_checked(register):
    register("my_log_cosh_closed", log_cosh_by_hand, gradient=log_cosh_gradient, hessian=log_cosh_hessian,
             convex=True)
    report = check_properties("my_log_cosh_closed")
    assert report.passed, report
    raw = np.array([0.3, -2.0])
    got = losskit.get("my_log_cosh_closed").gradient(raw, np.zeros(2))
    np.testing.assert_array_equal(got, np.tanh(raw))


@pytest.mark.parametrize(
    "mistake,gradient,hessian,caught",
    [
        ("flipped sign", lambda raw, target, *, xp, scale=1.0: -xp.tanh((raw - target) / scale), None,
         "gradient_equals_autograd_and_finite_differences"),
        ("missing factor", lambda raw, target, *, xp, scale=1.0: 0.5 * xp.tanh((raw - target) / scale), None,
         "gradient_equals_autograd_and_finite_differences"),
        ("Hessian is the gradient", log_cosh_gradient, log_cosh_gradient,
         "hessian_equals_autograd_and_finite_differences"),
    ],
)
@needs_torch
def test_a_planted_wrong_derivative_is_caught(register, mistake, gradient, hessian, caught):
    register("my_wrong", log_cosh_by_hand, gradient=gradient, hessian=hessian, convex=True)
    report = check_properties("my_wrong")
    assert not report.passed, f"{mistake} was not caught"
    assert caught in failed(report), report


def test_false_claims_are_caught(register):
    register("my_shifted", lambda input, target, *, xp: (input - target - 0.5) ** 2, convex=True)
    assert "minimal_at_a_perfect_prediction" in failed(check_properties("my_shifted"))
    register("my_nonconvex", lambda input, target, *, xp: 1.0 - xp.exp(-((input - target) ** 2)), convex=True)
    assert {"convex_along_segments", "hessian_equals_autograd_and_finite_differences"} <= failed(
        check_properties("my_nonconvex"))
    # the same loss with honest flags passes
    register("my_welsch", lambda input, target, *, xp: 1.0 - xp.exp(-((input - target) ** 2)), convex=False,
             robust=True)
    assert check_properties("my_welsch").passed


def test_an_overflowing_loss_is_caught(register):
    def naive_logistic(input, target, *, xp):  # log(1 + e^{-y x}) written naively: inf at y x = -1e4 in float32
        return xp.log(1.0 + xp.exp(-target * input))

    register("my_naive_logistic", naive_logistic, task="binary", target_domain=D.SIGN, best_input=None,
             minimum=None, convex=True)
    report = check_properties("my_naive_logistic")
    assert "extreme_finite_inputs_give_finite_values_and_gradients" in failed(report), report


@needs_torch
def test_a_sigmoid_link_loss_is_differentiated_with_respect_to_the_logit(register):
    def bce(input, target, *, xp):
        eps = 1e-12
        return -(target * xp.log(input + eps) + (1 - target) * xp.log(1 - input + eps))

    register("my_bce", bce, link="sigmoid", task="binary", input_domain=D.UNIT, target_domain=D.BINARY,
             best_input=None, minimum=None, convex=True)
    logits = np.array([-3.0, 0.0, 2.5])
    y = np.array([0.0, 1.0, 1.0])
    p = 1 / (1 + np.exp(-logits))
    loss = losskit.get("my_bce")
    np.testing.assert_allclose(loss.gradient(logits, y), p - y, rtol=1e-9)
    np.testing.assert_allclose(loss.hessian(logits, y), p * (1 - p), rtol=1e-8)


@needs_torch
def test_the_module_of_a_custom_loss(register):
    import torch

    import losskit.torch as lt

    register("my_log_cosh_module", log_cosh_by_hand, convex=True)
    module = lt.module("my_log_cosh_module", scale=2.0, reduction="sum")
    assert repr(module) == "MyLogCoshModuleLoss(scale=2.0, reduction='sum')"
    assert lt.MyLogCoshModuleLoss is type(module)
    x = torch.randn(6, requires_grad=True)
    expected = losskit.log_cosh(x / 2.0, torch.zeros(6), reduction="sum") * 4.0
    torch.testing.assert_close(module(x, torch.zeros(6)), expected)
    assert module.get_config() == {"name": "my_log_cosh_module", "params": {"scale": 2.0}, "reduction": "sum"}


def test_parameters_are_validated_like_a_built_in(register):
    register("my_scaled", lambda input, target, *, xp, scale: scale * (input - target) ** 2, convex=True,
             params={"scale": losskit.Param("scale", D.POSITIVE, "a positive factor", default=1.0)})
    with pytest.raises(ValueError, match=r"my_scaled: scale must be > 0; received scale=-1.0"):
        losskit.spec("my_scaled").function(np.zeros(2), np.zeros(2), scale=-1.0)
    with pytest.raises(TypeError, match=r"my_scaled: unknown parameter\(s\) delta; expected one of: scale"):
        losskit.get("my_scaled", delta=1.0)
    with pytest.raises(ValueError, match=r"my_scaled: target must have shape \(2,\) \(the shape of input\); received shape \(3,\)"):
        losskit.spec("my_scaled").function(np.zeros(2), np.zeros(3))


@pytest.mark.parametrize(
    "call,error,pattern",
    [
        (lambda: losskit.register_loss("my loss", lambda i, t: i), ValueError, r"name must be a Python identifier"),
        (lambda: losskit.register_loss("mse", lambda i, t: i), ValueError, r"name 'mse' is already registered"),
        (lambda: losskit.register_loss("my_x", 3), TypeError, r"function must be callable; received int"),
        (lambda: losskit.register_loss("my_x", lambda i, t: i, hessian=lambda r, t: r), ValueError,
         r"hessian needs gradient"),
        (lambda: losskit.register_loss("my_x", lambda i, t: i, link="softmax"), ValueError, r"link must be one of"),
        (lambda: losskit.register_loss("my_x", lambda i, t, mode="a": i), TypeError,
         r"parameter mode of my_x must have a number or bool default"),
        (lambda: losskit.unregister("huber"), ValueError, r"unregister: name must be a loss registered with"),
    ],
)
def test_bad_registrations_raise_clear_errors(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()
    assert "my_x" not in losskit.available()


def test_a_function_returning_the_wrong_shape_is_reported(register):
    register("my_summed", lambda input, target, *, xp: xp.sum((input - target) ** 2))
    with pytest.raises(TypeError, match=r"my_summed: the loss function must return one value per element, an array "
                                        r"of shape \(3,\); received shape \(\)"):
        losskit.spec("my_summed").function(np.zeros(3), np.ones(3))


def test_unregister_removes_the_loss(register):
    register("my_temporary", lambda input, target, *, xp: (input - target) ** 2, aliases=("my_tmp",))
    assert {"my_temporary", "my_tmp"} <= set(losskit.available())
    losskit.unregister("my_tmp")
    assert not {"my_temporary", "my_tmp"} & set(losskit.available())
