"""The check policy (losskit.checks / set_checks / LOSSKIT_CHECKS): what each
mode checks, and that "async" and "off" read nothing back to the host."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import losskit
from helpers import HAVE_TORCH
from losskit.testing.sampling import draw_case

needs_torch = pytest.mark.skipif(not HAVE_TORCH, reason="torch is not installed")


def test_the_default_is_auto_and_the_context_manager_restores_it_even_on_error():
    assert losskit.get_checks() == "auto"
    with pytest.raises(KeyError):
        with losskit.checks("off"):
            assert losskit.get_checks() == "off"
            raise KeyError("inside")
    assert losskit.get_checks() == "auto"
    losskit.set_checks("full")
    try:
        assert losskit.get_checks() == "full"
    finally:
        losskit.set_checks("auto")


def test_an_unknown_mode_is_refused_naming_it():
    message = r"mode must be one of 'auto', 'full', 'async', 'off'; received 'fast'"
    with pytest.raises(ValueError, match="set_checks: " + message):
        losskit.set_checks("fast")
    with pytest.raises(ValueError, match="checks: " + message):
        with losskit.checks("fast"):
            pass
    assert losskit.get_checks() == "auto"


def test_the_environment_variable_sets_the_policy_and_a_bad_value_is_refused():
    env = {**os.environ, "LOSSKIT_CHECKS": "off"}
    run = subprocess.run([sys.executable, "-c", "import losskit; print(losskit.get_checks())"],
                         capture_output=True, text=True, env=env)
    assert run.returncode == 0 and run.stdout.strip() == "off", run.stderr
    env["LOSSKIT_CHECKS"] = "sometimes"
    run = subprocess.run([sys.executable, "-c", "import losskit"], capture_output=True, text=True, env=env)
    assert run.returncode != 0
    assert "LOSSKIT_CHECKS: mode must be one of 'auto', 'full', 'async', 'off'; received 'sometimes'" in run.stderr


def test_auto_is_full_on_the_host_and_async_on_other_devices():
    from losskit._validate import value_checks

    assert value_checks(np.zeros(2)) == "full"
    if HAVE_TORCH:
        import torch

        assert value_checks(torch.zeros(2)) == "full"
        assert value_checks(torch.zeros(2, device="meta")) == "async"  # any device but the CPU
    with losskit.checks("off"):
        assert value_checks(np.zeros(2)) == "off"


def test_off_skips_value_checks_but_never_type_shape_or_parameter_checks():
    x, bad_target = np.zeros(3), np.array([0.0, np.nan, 1.0])
    with pytest.raises(ValueError, match="mse: target must not contain NaN"):
        losskit.mse(x, bad_target)
    with losskit.checks("off"):
        assert np.isnan(losskit.mse(x, bad_target))  # the data is trusted: NaN propagates
        with pytest.raises(ValueError, match=r"mse: target must have shape \(3,\)"):
            losskit.mse(x, np.zeros(4))
        with pytest.raises(ValueError, match="huber: delta must be > 0"):
            losskit.huber(x, x, delta=-1.0)
        with pytest.raises(TypeError, match="cross_entropy: input must have a floating dtype"):
            losskit.cross_entropy(np.zeros((2, 3), dtype=np.int64), np.array([0, 1]))


@needs_torch
def test_async_asserts_on_the_device_with_the_rule_and_passes_valid_data():
    import torch

    logits = torch.zeros(3, 4)
    with losskit.checks("async"):
        assert torch.isfinite(losskit.cross_entropy(logits, torch.tensor([0, 3, 1])))
        # on the CPU the device assertion fails at once; on an accelerator, at the next synchronisation
        with pytest.raises(RuntimeError, match=r"cross_entropy: target must hold class indices in \[0, 4\) or "
                                               r"ignore_index=-100 \(checked on the device\)"):
            losskit.cross_entropy(logits, torch.tensor([0, 5, 1]))
        with pytest.raises(RuntimeError, match=r"mse: weight must be >= 0"):
            losskit.mse(torch.zeros(3), torch.zeros(3), weight=torch.tensor([1.0, -1.0, 1.0]))
        # NumPy has no device assertion: "async" skips the check there
        assert np.isnan(losskit.mse(np.zeros(3), np.array([0.0, np.nan, 1.0])))


# -- no host read under "async" and "off": every registered loss, forward and backward ------------

SYNC_OPS = {"_local_scalar_dense", "is_nonzero", "item", "equal"}


def _torch_call(spec, rng):
    import torch

    if spec.kind == "structured":
        args, kwargs = spec.example(rng)
    else:
        _, x, y, extras = draw_case(spec, rng)
        args, kwargs = (x, y, *extras.values()), {}
    args = [torch.from_numpy(np.asarray(a)) if isinstance(a, np.ndarray) else a for a in args]
    args[0] = args[0].clone().requires_grad_(True)
    return args, {k: torch.from_numpy(np.asarray(v)) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}


@needs_torch
@pytest.mark.parametrize("mode", ["async", "off"])
@pytest.mark.parametrize("name", [s.name for s in losskit.specs()])
def test_no_host_read_forward_or_backward(name, mode):
    """Every op that reads a tensor's value back to the host is recorded (on a GPU each is a
    stall). Run on CPU tensors with the fused kernels off: the CPU kernels are host code (their
    scalars live in host memory). The Triton paths need a GPU to check, under
    torch.cuda.set_sync_debug_mode("error")."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Reads(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.seen = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func.__name__.split(".")[0] in SYNC_OPS:
                self.seen.append(func.__name__)
            return func(*args, **(kwargs or {}))

    spec = losskit.spec(name)
    args, kwargs = _torch_call(spec, np.random.default_rng(0))
    reads = Reads()
    with losskit.checks(mode), losskit.kernels.disabled(), reads:
        spec.function(*args, **kwargs).sum().backward()
    assert reads.seen == [], f"{name} reads values back to the host under {mode!r}: {reads.seen}"
    assert args[0].grad is not None
