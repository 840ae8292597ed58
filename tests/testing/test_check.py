"""The loss checker (``losskit.testing.checker.check`` and ``losskit check``): it
passes on every registered loss and catches planted bugs.

The module-level functions below are the planted losses; the CLI tests load
them as ``test_check:NAME`` (tests/ is on sys.path, see conftest.py) and as
``tests/testing/test_check.py:NAME``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import losskit
from losskit.testing.checker import CHECKS, check
from helpers import cli

pytest.importorskip("torch", reason="the gradient and Hessian checks compare with torch autograd")

HERE = Path(__file__).resolve()
# Run by tests/functional/test_properties.py at every setting already; the slowest three (JAX jit, backends) are left
# out of the registry-wide test here to keep it fast.
SLOW = ("jax_grad_and_jit_flow", "backends_agree", "derivatives_agree_across_backends")


# -- planted losses (per element, raw = input under the identity link) ----------------------------


def square(input, target, *, xp):
    return (input - target) ** 2


def right_gradient(raw, target):
    return 2.0 * (raw - target)


def flipped_gradient(raw, target):  # the sign flipped
    return -2.0 * (raw - target)


def half_gradient(raw, target):  # the factor 2 missing
    return raw - target


def constant_hessian(raw, target):
    return 2.0 + 0.0 * raw


def naive_logistic(input, target, *, xp):
    """Cross-entropy on logits through log(sigmoid(x)): sigmoid(-1e4) is 0 in float32, and log(0) = -inf."""
    p = 1.0 / (1.0 + xp.exp(-input))
    return -(target * xp.log(p) + (1.0 - target) * xp.log(1.0 - p))


def shifted_square(input, target, *, xp):  # minimal at target + 0.5, not at the target
    return (input - target - 0.5) ** 2


def _status(report, name):
    return {r.status for r in report.results if r.check == name}


# -- every registered loss ------------------------------------------------------------------------


@pytest.mark.parametrize("spec", [s for s in losskit.specs() if s.kind != "structured"], ids=lambda s: s.name)
def test_the_checker_passes_on_every_registered_loss(spec):
    report = check(spec, grid=True, skip=SLOW)
    assert report.passed, str(report)
    assert {r.check for r in report.results} == {c.name for c in CHECKS}


def test_the_full_checker_passes_with_every_check_run():
    report = check("poisson_nll")
    assert report.passed, str(report)
    assert _status(report, "jax_grad_and_jit_flow") <= {"PASS", "SKIP"}
    assert _status(report, "config_round_trips") == {"PASS"}  # a registered loss: looked up by name
    assert "offset there in" in next(r.detail for r in report.results if r.check == "minimal_with_offset")


def test_structured_losses_raise_a_clear_error():
    with pytest.raises(ValueError, match="pointwise or aggregate; received the structured loss 'ctc'"):
        check("ctc")


# -- what the checker accepts -----------------------------------------------------------------------


def test_a_correct_plain_function_passes_and_is_not_registered():
    before = losskit.available()
    report = check(square, gradient=right_gradient, hessian=constant_hessian, convex=True)
    assert report.passed, str(report)
    assert losskit.available() == before
    skipped = [r for r in report.results if r.check in ("config_round_trips", "torch_module_equals_function")]
    assert skipped and all(r.status == "SKIP" and "registered" in r.detail for r in skipped)


def test_a_registered_function_is_checked_as_registered():
    function = losskit.register_loss("checked_square", square, convex=True)
    try:
        report = check(function)
        assert report.loss == "checked_square" and report.passed, str(report)
        assert _status(report, "config_round_trips") == {"PASS"}
        with pytest.raises(ValueError, match="gradient= must come with a plain per-element function"):
            check(function, gradient=right_gradient)
    finally:
        losskit.unregister("checked_square")


def test_a_loss_object_is_checked_at_its_parameters():
    report = check(losskit.get("huber", delta=0.3), skip=SLOW)
    assert report.passed and {tuple(r.params.items()) for r in report.results} == {(("delta", 0.3),)}


# -- planted bugs ------------------------------------------------------------------------------------


@pytest.mark.parametrize("planted,options,caught_by", [
    (square, dict(gradient=flipped_gradient), "gradient_equals_autograd_and_finite_differences"),
    (square, dict(gradient=half_gradient), "gradient_equals_autograd_and_finite_differences"),
    (square, dict(gradient=right_gradient, hessian=right_gradient), "hessian_equals_autograd_and_finite_differences"),
    (naive_logistic, dict(target_domain=losskit.domains.UNIT, best_input=None),
     "extreme_finite_inputs_give_finite_values_and_gradients"),
    (shifted_square, {}, "minimal_at_a_perfect_prediction"),
], ids=["flipped-sign", "missing-factor-2", "hessian-is-gradient", "log-sigmoid-overflows", "not-minimal-at-target"])
def test_planted_bugs_are_caught(planted, options, caught_by):
    report = check(planted, skip=SLOW, **options)
    assert not report.passed
    assert _status(report, caught_by) == {"FAIL"}, str(report)


def test_the_same_loss_without_the_bug_passes_those_checks():  # so the planted tests fail for the bug alone
    fixed = check(square, gradient=right_gradient, hessian=constant_hessian, skip=SLOW)
    assert _status(fixed, "gradient_equals_autograd_and_finite_differences") == {"PASS"}
    assert _status(fixed, "hessian_equals_autograd_and_finite_differences") == {"PASS"}
    assert _status(fixed, "minimal_at_a_perfect_prediction") == {"PASS"}


def test_a_convexity_claim_that_fails_shows_a_counter_example():
    report = check(lambda input, target, *, xp: xp.log1p((input - target) ** 2), name="cauchy_like", convex=True,
                   skip=SLOW)
    (row,) = [r for r in report.results if r.check == "convex_along_segments"]
    assert row.status == "FAIL"
    found = re.search(r"at t=([\d.]+) between raw_a=(\S+) and raw_b=(\S+) \(target=(\S+)\): "
                      r"f\(t\*raw_a \+ \(1-t\)\*raw_b\)=(\S+) > chord (\S+)", row.detail)
    assert found, row.detail
    t, a, b, y, mid, chord = map(float, found.groups())
    f = lambda x: np.log1p((x - y) ** 2)  # noqa: E731
    np.testing.assert_allclose([f(t * a + (1 - t) * b), t * f(a) + (1 - t) * f(b)], [mid, chord], rtol=1e-4)
    assert mid > chord


def test_a_hessian_claimed_nonnegative_but_negative_fails_the_scan():
    report = check(shifted_square, gradient=lambda raw, target: 2.0 * (raw - target - 0.5),
                   hessian=lambda raw, target: 2.0 - raw ** 2, minimum=None, best_input=None,
                   hessian_nonnegative=True, skip=SLOW)
    (row,) = [r for r in report.results if r.check == "hessian_sign_scan"]
    assert row.status == "FAIL" and "hessian < 0 for target=0 at raw in [-10, -1.5]" in row.detail


# -- focal loss: where its Hessian turns negative -----------------------------------------------------


def test_the_focal_report_shows_where_the_hessian_is_negative():
    report = check("sigmoid_focal", skip=SLOW)
    assert report.passed  # the spec admits a negative Hessian: a WARN, not a failure
    (row,) = [r for r in report.results if r.check == "hessian_sign_scan"]
    assert row.status == "WARN"
    found = re.search(r"hessian < 0 for target=1 at raw in \[(\S+), (\S+)\]", row.detail)
    assert found, row.detail
    low, high = map(float, found.groups())
    hessian = losskit.get("sigmoid_focal").hessian
    one = np.ones(1)
    assert low == -10 and hessian(np.array([high]), one)[0] < 0 <= hessian(np.array([high + 0.1]), one)[0]
    assert "hessian < 0 for target=1" in str(report)


# -- the command line ----------------------------------------------------------------------------------


def _run(*args):
    return cli("check", *args)


def test_cli_passes_on_a_registered_loss_with_exit_0():
    result = _run("huber", "--param", "delta=0.5")
    assert result.exit_code == 0, result.output
    assert re.search(r"hessian_sign_scan\s+delta=0.5\s+WARN", result.output)
    assert "passed:" in result.output


def test_cli_json_parses_and_has_every_check():
    result = _run("sigmoid_focal", "--json", "--seed", "3")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["loss"] == "sigmoid_focal" and report["passed"] is True
    assert [c["check"] for c in report["checks"]] == [c.name for c in CHECKS]
    assert all(c["status"] in ("PASS", "WARN", "SKIP") for c in report["checks"])


def test_cli_catches_a_flipped_gradient_sign_with_exit_1():
    result = _run("test_check:square", "--gradient", "test_check:flipped_gradient")
    assert result.exit_code == 1, result.output
    assert re.search(r"gradient_equals_autograd_and_finite_differences\s+defaults\s+FAIL", result.output)
    assert "FAILED:" in result.output


def test_cli_catches_an_overflowing_log_sigmoid_from_a_file_path():
    result = _run(f"{HERE}:naive_logistic")
    assert result.exit_code == 1, result.output
    assert re.search(r"extreme_finite_inputs_give_finite_values_and_gradients\s+defaults\s+FAIL", result.output)


def test_cli_catches_a_loss_not_minimal_at_the_target():
    result = _run("test_check:shifted_square", "--json")
    assert result.exit_code == 1
    failed = {c["check"] for c in json.loads(result.output)["checks"] if c["status"] == "FAIL"}
    assert "minimal_at_a_perfect_prediction" in failed


@pytest.mark.parametrize("args,message", [
    (["hubr"], "Did you mean 'huber'"),
    (["no_such_module_xyz:f"], "module 'no_such_module_xyz' cannot be imported"),
    (["test_check:sqare"], "module 'test_check' has no attribute 'sqare'. Did you mean 'square'"),
    (["test_check:HERE"], "test_check:HERE must be callable; received PosixPath"),
    (["missing/file.py:f"], "file 'missing/file.py' does not exist"),
    (["test_check:"], "must be MODULE:FUNCTION"),
    (["huber", "--gradient", "test_check:right_gradient"], "gradient= must come with a plain per-element function"),
    (["huber", "--param", "delt=1"], "unknown parameter(s) delt"),
    (["huber", "--param", "delta"], "must be NAME=VALUE"),
    (["huber", "--param", "delta=-1"], "delta must be > 0"),
    (["ctc"], "received the structured loss 'ctc'"),
    (["huber", "--link", "softmax"], "'softmax' is not one of"),
])
def test_cli_usage_errors_exit_2_with_a_clear_message(args, message):
    result = _run(*args)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split()), result.output
