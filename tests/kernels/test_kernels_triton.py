"""The Triton kernels (losskit.kernels.softmax_triton, elementwise_triton)
against the reference math: losses with ``losskit.kernels.disabled()`` and
gradients from ``torch.autograd.grad``.

They run two ways:

- ``TestCuda``: compiled, on CUDA tensors, where a GPU is present and triton
  imports;
- ``TestInterpreted``: in Triton's CPU interpreter on small CPU tensors. The
  interpreter is chosen when a kernel is decorated (when the kernel modules
  are imported), so ``TRITON_INTERPRET=1`` must be set before any of this
  process imports them; ``test_interpreter_suite`` therefore reruns this file
  in a child pytest process with the variable set, and ``TestInterpreted``
  runs only there.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import losskit

torch = pytest.importorskip("torch")

try:  # in the child process TRITON_INTERPRET=1 is already in the environment
    import triton  # noqa: F401

    HAVE_TRITON = True
except ImportError:
    HAVE_TRITON = False
INTERPRETING = os.environ.get("TRITON_INTERPRET") == "1"
NO_TRITON = "triton is not installed (pip install triton)"


def _cuda_reason():
    if not HAVE_TRITON:
        return NO_TRITON
    if INTERPRETING:
        return "TRITON_INTERPRET=1: kernels run in the CPU interpreter in this process"
    if not torch.cuda.is_available():
        return "no CUDA device"
    return None


# -- checks shared by both ways of running ----------------------------------------


def _tolerances(dtype, *scales):
    """rtol, atol for the dtype; atol grows with the largest magnitude in play
    (a loss of 50 carries float32 rounding of 50 * 2^-24)."""
    eps = torch.finfo(dtype).eps
    big = max([1.0] + [float(s.detach().abs().nan_to_num(0.0, 0.0, 0.0).max()) for s in scales if s.numel()])
    return 64 * eps, 64 * eps * big


def _assert_close(got, want, dtype, *scales, what="", relative=False):
    """``relative``: to rtol alone (down to the smallest normal number), for
    values that are sums of nonnegative terms and so have no cancellation."""
    rtol, atol = _tolerances(dtype, want, *scales)
    if relative:
        atol = torch.finfo(dtype).smallest_normal
    torch.testing.assert_close(got, want.detach(), rtol=rtol, atol=atol, equal_nan=True, msg=lambda m: f"{what}: {m}")


def _logits(n, c, dtype, device, seed, extreme=False):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c, generator=g, dtype=torch.float64) * 3
    if extreme:  # rows where p_y is 1 to the last bit, and very negative logits
        x = x * 40
    return x.to(dtype).to(device)


# (rows, classes, BLOCK or None for the default): 1 row of 1 class, rows over
# three tiles whose last one is partial, rows in one default tile.
SOFTMAX_SHAPES = [(1, 1, None), (7, 37, 16), (5, 10, None)]
DTYPES = ["float32", "float64"]


def _rows_case(n, c, dtype, device, seed, *, ignored, extreme=False, special=False):
    """Logits, labels (ignore_index -100 on ignored rows), valid flags."""
    x = _logits(n, c, dtype, device, seed, extreme)
    g = torch.Generator().manual_seed(seed + 1)
    labels = torch.randint(0, c, (n,), generator=g)
    if ignored and n > 2:
        labels[1] = -100
        labels[n - 1] = -100
    if special and n > 4:
        x[0] = float("-inf")  # no finite logit: NaN, as the reference
        x[2, (int(labels[2]) + 1) % c] = float("-inf")  # p = 0 for a class that is not the label
        x[3, 0] = float("nan")  # propagates to row 3 only
        x[4, (int(labels[4]) + 1) % c] = float("inf")  # p_y = 0: an infinite loss
    labels = labels.to(device)
    return x, labels, labels != -100


def _cross_entropy_check(device, dtype, n, c, block, *, weighted, smoothing, ignored, reduction="mean",
                         extreme=False, special=False, seed=0):
    from losskit.kernels import softmax_triton

    dtype = getattr(torch, dtype)
    x, labels, valid = _rows_case(n, c, dtype, device, seed, ignored=ignored, extreme=extreme, special=special)
    g = torch.Generator().manual_seed(seed + 2)
    cw = (torch.rand(c, generator=g, dtype=torch.float64) + 0.5).to(dtype).to(device) if weighted else None
    w_y = cw[labels.clamp(min=0)] if weighted else torch.ones(n, dtype=dtype, device=device)
    denominator = float(w_y[valid].sum())
    scale = 1.0 / denominator if reduction == "mean" and denominator > 0 else 1.0

    loss = torch.full((n,), 7.0, dtype=dtype, device=device)
    grad = torch.full((n, c), 7.0, dtype=dtype, device=device)
    softmax_triton.cross_entropy_rows_kernel(x, labels, valid, cw, smoothing, scale, loss, grad, True, block=block)

    xr = x.clone().requires_grad_()
    with losskit.kernels.disabled():
        rows = losskit.cross_entropy(xr, labels, class_weight=cw, label_smoothing=smoothing, reduction="none")
        reduced = losskit.cross_entropy(xr, labels, class_weight=cw, label_smoothing=smoothing, reduction=reduction)
    (want_grad,) = torch.autograd.grad(reduced, xr)
    _assert_close(loss, rows, dtype, x, what="loss")
    _assert_close(grad, want_grad, dtype, what="grad")
    assert torch.all(loss[~valid] == 0) and torch.all(grad[~valid] == 0)

    # without a gradient: the loss alone, grad never touched (an empty tensor)
    loss2 = torch.empty(n, dtype=dtype, device=device)
    softmax_triton.cross_entropy_rows_kernel(x, labels, valid, cw, smoothing, scale, loss2,
                                      torch.empty(0, dtype=dtype, device=device), False, block=block)
    torch.testing.assert_close(loss2, loss, rtol=0, atol=0, equal_nan=True)


def _softmax_focal_check(device, dtype, n, c, block, *, alpha, gamma, ignored, extreme=False, special=False,
                         seed=0):
    from losskit.kernels import softmax_triton

    dtype = getattr(torch, dtype)
    x, labels, valid = _rows_case(n, c, dtype, device, seed, ignored=ignored, extreme=extreme, special=special)
    g = torch.Generator().manual_seed(seed + 3)
    if alpha == "vector":
        alpha_arg = (torch.rand(c, generator=g, dtype=torch.float64) + 0.1).to(dtype).to(device)
        alpha_vector, alpha_scalar = alpha_arg, 1.0
    else:
        alpha_arg, alpha_vector, alpha_scalar = alpha, None, 1.0 if alpha is None else alpha
    count = float(valid.sum())
    scale = 1.0 / count if count > 0 else 1.0

    loss = torch.full((n,), 7.0, dtype=dtype, device=device)
    grad = torch.full((n, c), 7.0, dtype=dtype, device=device)
    softmax_triton.softmax_focal_rows_kernel(x, labels, valid, alpha_vector, alpha_scalar, gamma, scale, loss, grad, True,
                                      block=block)

    xr = x.clone().requires_grad_()
    with losskit.kernels.disabled():
        rows = losskit.softmax_focal(xr, labels, alpha=alpha_arg, gamma=gamma, reduction="none")
        mean = losskit.softmax_focal(xr, labels, alpha=alpha_arg, gamma=gamma, reduction="mean")
    (want_grad,) = torch.autograd.grad(mean, xr)
    _assert_close(loss, rows, dtype, x, what="loss")
    _assert_close(grad, want_grad, dtype, what="grad")
    assert torch.all(loss[~valid] == 0) and torch.all(grad[~valid] == 0)


# Elementwise sizes: 1, and three blocks of 1024 whose last one is partial.
ELEMENTWISE_SIZES = [1, 2500]


def _elementwise_data(n, dtype, device, seed, *, soft=False, label_axis=1):
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(n, generator=g, dtype=torch.float64) * 4).to(dtype)
    y = torch.rand(n, generator=g, dtype=torch.float64) if soft else (torch.rand(n, generator=g) < 0.3).double()
    if n >= 8:  # large logits on both sides, where naive log(sigmoid) fails, and a NaN
        x[:4] = torch.tensor([60.0, -60.0, 1e4, -1e4], dtype=dtype)
        x[7] = float("nan")
    shape = (n // label_axis, label_axis)
    return x.to(device).reshape(shape), y.to(dtype).to(device).reshape(shape)


def _run_elementwise(kernel_call, reference, x2, y2, dtype):
    """The kernel per element and in block sums (mean scale) against the
    reference's per-element loss, total and autograd gradient of the mean."""
    from losskit.kernels import elementwise_triton

    x, y = x2.reshape(-1), y2.reshape(-1)
    n = x.numel()
    per_element = torch.full((n,), 7.0, dtype=dtype, device=x.device)
    grad = torch.full((n,), 7.0, dtype=dtype, device=x.device)
    kernel_call(x, y, 1.0 / n, per_element, grad, True)
    partials = torch.full((elementwise_triton.partial_count(n),), 7.0, dtype=dtype, device=x.device)
    grad2 = torch.full((n,), 7.0, dtype=dtype, device=x.device)
    kernel_call(x, y, 1.0 / n, partials, grad2, True)
    loss_only = torch.empty(n, dtype=dtype, device=x.device)
    kernel_call(x, y, 1.0, loss_only, torch.empty(0, dtype=dtype, device=x.device), False)

    xr = x2.clone().requires_grad_()
    with losskit.kernels.disabled():
        values = reference(xr, y2, "none")
        mean = reference(xr, y2, "mean")
    (want_grad,) = torch.autograd.grad(mean, xr)
    _assert_close(per_element, values.reshape(-1), dtype, what="loss per element", relative=True)
    _assert_close(grad, want_grad.reshape(-1), dtype, what="grad")
    _assert_close(partials.sum(), values.sum(), dtype, values.abs().sum().reshape(1), what="block sums")
    torch.testing.assert_close(grad2, grad, rtol=0, atol=0, equal_nan=True)
    torch.testing.assert_close(loss_only, per_element, rtol=0, atol=0, equal_nan=True)


def _bce_check(device, dtype, n, *, pos_weight, smoothing, soft, seed=0):
    from losskit.kernels import elementwise_triton

    dtype = getattr(torch, dtype)
    label_axis = 5 if pos_weight == "vector" and n % 5 == 0 else 1
    x2, y2 = _elementwise_data(n, dtype, device, seed, soft=soft, label_axis=label_axis)
    if pos_weight == "vector":
        g = torch.Generator().manual_seed(seed + 1)
        pw = (torch.rand(label_axis, generator=g, dtype=torch.float64) * 3).to(dtype).to(device)
    else:
        pw = pos_weight

    def kernel(x, y, scale, loss, grad, want_grad):
        elementwise_triton.bce_with_logits_kernel(x, y, pw, smoothing, scale, loss, grad, want_grad)

    def reference(x, y, reduction):
        return losskit.binary_cross_entropy_with_logits(x, y, pos_weight=pw, label_smoothing=smoothing,
                                                        reduction=reduction)

    _run_elementwise(kernel, reference, x2, y2, dtype)


def _focal_check(device, dtype, n, *, alpha, gamma, soft, seed=0):
    from losskit.kernels import elementwise_triton

    dtype = getattr(torch, dtype)
    x2, y2 = _elementwise_data(n, dtype, device, seed, soft=soft)
    if soft and n >= 6:
        y2.view(-1)[4:6] = torch.tensor([0.0, 1.0], dtype=dtype, device=y2.device)  # the hard ends among soft targets

    def kernel(x, y, scale, loss, grad, want_grad):
        elementwise_triton.sigmoid_focal_kernel(x, y, alpha, gamma, scale, loss, grad, want_grad)

    def reference(x, y, reduction):
        return losskit.sigmoid_focal(x, y, alpha=alpha, gamma=gamma, reduction=reduction)

    _run_elementwise(kernel, reference, x2, y2, dtype)


def _regression_check(device, dtype, n, *, loss_name, delta=None, seed=0):
    from losskit.kernels import elementwise_triton

    dtype = getattr(torch, dtype)
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(n, generator=g, dtype=torch.float64) * 2).to(dtype).to(device)
    y = (torch.randn(n, generator=g, dtype=torch.float64) * 2).to(dtype).to(device)
    if delta is not None and n >= 3:  # residuals exactly at the kinks +-delta
        y[:3] = x[:3] - torch.tensor([delta, -delta, 0.0], dtype=dtype, device=device)
    if n >= 8:
        x[7] = float("nan")

    if loss_name == "huber":
        def kernel(x, y, scale, loss, grad, want_grad):
            elementwise_triton.huber_kernel(x, y, delta, scale, loss, grad, want_grad)

        def reference(x, y, reduction):
            return losskit.huber(x, y, delta=delta, reduction=reduction)
    else:
        def kernel(x, y, scale, loss, grad, want_grad):
            elementwise_triton.mse_kernel(x, y, scale, loss, grad, want_grad)

        def reference(x, y, reduction):
            return losskit.mse(x, y, reduction=reduction)

    _run_elementwise(kernel, reference, x, y, dtype)


CE_OPTIONS = [
    {"weighted": False, "smoothing": 0.0, "ignored": False},
    {"weighted": True, "smoothing": 0.0, "ignored": True},
    {"weighted": False, "smoothing": 0.1, "ignored": True},
    {"weighted": True, "smoothing": 0.3, "ignored": True},
    {"weighted": True, "smoothing": 0.2, "ignored": False, "reduction": "sum"},
]
FOCAL_OPTIONS = [
    {"alpha": None, "gamma": 2.0, "ignored": False},
    {"alpha": None, "gamma": 0.0, "ignored": True},
    {"alpha": 0.25, "gamma": 0.5, "ignored": True},
    {"alpha": "vector", "gamma": 1.0, "ignored": True},
    {"alpha": "vector", "gamma": 3.7, "ignored": False},
]
BCE_OPTIONS = [
    {"pos_weight": None, "smoothing": 0.0, "soft": False},
    {"pos_weight": 2.5, "smoothing": 0.1, "soft": True},
    {"pos_weight": "vector", "smoothing": 0.0, "soft": False},
    {"pos_weight": "vector", "smoothing": 0.2, "soft": True},
]
SIGMOID_FOCAL_OPTIONS = [
    {"alpha": 0.25, "gamma": 2.0, "soft": False},
    {"alpha": None, "gamma": 0.0, "soft": True},
    {"alpha": 0.6, "gamma": 0.7, "soft": True},
]
REGRESSION_OPTIONS = [{"loss_name": "mse"}, {"loss_name": "huber", "delta": 1.0}, {"loss_name": "huber", "delta": 0.3}]


def _ids(options):
    return ["-".join(f"{k}_{v}" for k, v in o.items()) for o in options]


# The elementwise losses through the dispatcher (losskit.kernels.elementwise):
# every option the CPU kernels serve, with the targets each takes.
ELEMENTWISE_DISPATCH = [
    ("binary_cross_entropy_with_logits", {}),
    ("binary_cross_entropy_with_logits", {"pos_weight": 2.5}),
    ("binary_cross_entropy_with_logits", {"pos_weight": 0.0}),
    ("binary_cross_entropy_with_logits", {"pos_weight": "0d"}),
    ("binary_cross_entropy_with_logits", {"pos_weight": "vector"}),
    ("binary_cross_entropy_with_logits", {"label_smoothing": 0.1}),
    ("binary_cross_entropy_with_logits", {"pos_weight": "vector", "label_smoothing": 0.25}),
    ("sigmoid_focal", {"gamma": 2.0, "alpha": 0.25}),
    ("sigmoid_focal", {"gamma": 2.0, "alpha": None}),
    ("sigmoid_focal", {"gamma": 0.0, "alpha": 0.25}),
    ("sigmoid_focal", {"gamma": 0.5, "alpha": 0.9}),
    ("sigmoid_focal", {"gamma": 1.5, "alpha": None}),
    ("sigmoid_focal", {"gamma": 3.0, "alpha": 1.0}),
    ("huber", {"delta": 1.0}),
    ("huber", {"delta": 0.3}),
    ("huber", {"delta": 5.0}),
    ("mse", {}),
]
ELEMENTWISE_DISPATCH_IDS = [f"{n}-{_ids([o])[0] or 'plain'}" for n, o in ELEMENTWISE_DISPATCH]
# one element, odd lengths, a label axis, two blocks of 1024 (the last one partial)
DISPATCH_SHAPES = [(), (7,), (3, 5), (2, 3, 173)]
REDUCTIONS = ["mean", "sum", "none"]
INF, NAN = float("inf"), float("nan")
# NaN, +-inf, huge and tiny logits against hard, soft and extreme targets (as
# tests/kernels/test_kernels_elementwise.py; an infinite regression target is refused)
GRID_INPUTS = [NAN, INF, -INF, 1e4, -1e4, 800.0, -800.0, 100.0, -100.0, 89.0, -89.0, 40.0, -40.0, 17.0, -17.0,
               1.0, -1.0, 0.0, -0.0, 1e-30, -1e-30]
UNIT_TARGETS = [0.0, 1.0, 0.3, 0.5, 1e-7, 1 - 1e-7, 1e-30]
REAL_TARGETS = [0.0, 1.0, -2.0, 1e4, 1e30, -1e30]
# as tests/kernels/test_kernels_elementwise.py holds the CPU kernels
ELEMENTWISE_TOL = {"float32": {"rtol": 2e-5, "atol": 1e-6}, "float64": {"rtol": 1e-12, "atol": 1e-14}}


def _dispatch_options(options, shape, dtype):
    """The call's keyword arguments: a per-label ``pos_weight`` along the last
    axis (a 0-d one for a 0-d input), a 0-d tensor for ``"0d"``."""
    kw = dict(options)
    if kw.get("pos_weight") == "vector":
        g = torch.Generator().manual_seed(1)
        kw["pos_weight"] = (torch.rand(shape[-1], generator=g, dtype=dtype) * 3 if shape
                            else torch.tensor(1.5, dtype=dtype))
    elif kw.get("pos_weight") == "0d":
        kw["pos_weight"] = torch.tensor(0.7, dtype=dtype)
    return kw


def _fast_and_reference(fn, x, y, reduction, grad_out, kw):
    """(value, grad, record) on the fast path, then on the reference math."""
    out = []
    for fast in (True, False):
        xi = x.detach().clone().requires_grad_()
        with losskit.kernels.record() as used:
            if fast:
                value = fn(xi, y, reduction=reduction, **kw)
            else:
                with losskit.kernels.disabled():
                    value = fn(xi, y, reduction=reduction, **kw)
        (grad,) = torch.autograd.grad(value, xi, grad_out)
        out.append((value.detach(), grad, used))
    return out


def _route_cpu_to_triton(monkeypatch):
    """Send CPU tensors down the dispatcher's CUDA path (the Triton runner, in
    the interpreter); returns the list the loss names that took it go to."""
    from losskit.kernels import dispatch, elementwise

    routed = []

    def gpu_runner(loss, target, reduction, scale, binds):
        routed.append(loss)
        return elementwise._gpu_runner(loss, target, reduction, scale, binds)

    monkeypatch.setattr(elementwise, "_cpu_runner", gpu_runner)
    monkeypatch.setattr(dispatch, "_loaded", {})
    return routed


# -- the interpreter, in a child process ------------------------------------------


@pytest.mark.skipif(not HAVE_TRITON, reason=NO_TRITON)
@pytest.mark.skipif(INTERPRETING, reason="this is the child process itself")
def test_interpreter_suite():
    """Run TestInterpreted in a child pytest with TRITON_INTERPRET=1."""
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, TRITON_INTERPRET="1")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(Path(__file__).resolve()), "-k", "TestInterpreted", "-n", "0",
         "-p", "no:cacheprovider", "-W", "ignore::RuntimeWarning:triton.runtime.interpreter"],
        check=False, cwd=root, env=env, capture_output=True, text=True, timeout=600)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"interpreter tests failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
    counts = {word: int(number) for number, word in re.findall(r"(\d+) (passed|skipped|failed|errors?)\b", output)}
    assert counts.get("passed", 0) > 0 and set(counts) == {"passed"}, f"interpreter tests did not all run: {counts}"


class TestInterpreted:
    __test__ = HAVE_TRITON and INTERPRETING  # collected only in the child process (see test_interpreter_suite)
    device = "cpu"

    @pytest.mark.parametrize("name", ["cross_entropy", "softmax_focal"])
    def test_dispatch_hands_the_call_to_the_triton_kernels(self, name, monkeypatch):
        """The dispatcher's CUDA wiring (argument conversion, scale, reductions),
        run on CPU tensors by routing the CPU path to the Triton runner."""
        from losskit.kernels import dispatch

        used = []

        def gpu_runner(kernel_name, x2, labels, valid, extra_args, scale):
            used.append(kernel_name)
            return dispatch._gpu_runner(kernel_name, labels, valid, extra_args, scale)

        monkeypatch.setattr(dispatch, "_cpu_runner", gpu_runner)
        monkeypatch.setattr(dispatch, "_loaded", {})
        fn = getattr(losskit, name)
        x = _logits(7, 5, torch.float64, "cpu", 3)
        t = torch.tensor([0, 4, -100, 2, 2, 1, 3])
        per_class = torch.rand(5, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) + 0.5
        options = ({"class_weight": per_class, "label_smoothing": 0.2} if name == "cross_entropy"
                   else {"alpha": per_class, "gamma": 1.5})
        for reduction in ("mean", "sum", "none"):
            fast_x, ref_x = x.clone().requires_grad_(), x.clone().requires_grad_()
            fast = fn(fast_x, t, reduction=reduction, **options)
            with losskit.kernels.disabled():
                ref = fn(ref_x, t, reduction=reduction, **options)
            (g_fast,) = torch.autograd.grad(fast.sum(), fast_x)
            (g_ref,) = torch.autograd.grad(ref.sum(), ref_x)
            _assert_close(fast, ref, torch.float64, what=f"{name} {reduction} value")
            _assert_close(g_fast, g_ref, torch.float64, what=f"{name} {reduction} gradient")
        assert used == [f"{name}_rows_kernel"] * 3

    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("name,options", ELEMENTWISE_DISPATCH, ids=ELEMENTWISE_DISPATCH_IDS)
    def test_dispatch_hands_elementwise_calls_to_the_triton_kernels(self, name, options, dtype, monkeypatch):
        """The dispatcher's CUDA wiring of the elementwise losses (flattening,
        pos_weight per label, scale, block sums, reductions), run on CPU tensors
        by routing the CPU path to the Triton runner: value and gradient equal
        the reference's for every option, reduction, dtype and odd size."""
        routed = _route_cpu_to_triton(monkeypatch)
        fn = getattr(losskit, name)
        torch_dtype = getattr(torch, dtype)
        targets = ("real",) if name in ("huber", "mse") else ("hard", "soft")
        calls = 0
        for seed, shape in enumerate(DISPATCH_SHAPES):
            for target in targets:
                g = torch.Generator().manual_seed(seed)
                x = (torch.randn(shape, generator=g, dtype=torch.float64) * 4).to(torch_dtype)
                if target == "hard":
                    y = (torch.rand(shape, generator=g, dtype=torch.float64) < 0.3).to(torch_dtype)
                elif target == "soft":
                    y = torch.rand(shape, generator=g, dtype=torch.float64).to(torch_dtype)
                else:
                    y = (torch.randn(shape, generator=g, dtype=torch.float64) * 2).to(torch_dtype)
                kw = _dispatch_options(options, shape, torch_dtype)
                for reduction in REDUCTIONS:
                    grad_out = (torch.rand(shape, generator=g, dtype=torch_dtype) * 2 - 0.5 if reduction == "none"
                                else torch.tensor(1.7, dtype=torch_dtype))
                    fast, ref = _fast_and_reference(fn, x, y, reduction, grad_out, kw)
                    calls += 1
                    assert fast[2] == [(name, "cpu")] and ref[2] == [], fast[2]  # "cpu": the device's name, routed
                    assert fast[0].dtype == ref[0].dtype and fast[0].shape == ref[0].shape
                    what = f"{name} {options} {dtype} {shape} {target} {reduction}"
                    torch.testing.assert_close(fast[0], ref[0], **ELEMENTWISE_TOL[dtype],
                                               msg=lambda m, what=what: f"{what}: {m}")
                    torch.testing.assert_close(fast[1], ref[1], **ELEMENTWISE_TOL[dtype],
                                               msg=lambda m, what=what: f"{what} gradient: {m}")
        assert routed == [name] * calls

    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("name,options", ELEMENTWISE_DISPATCH, ids=ELEMENTWISE_DISPATCH_IDS)
    def test_dispatch_elementwise_nan_inf_and_extreme_inputs(self, name, options, dtype, monkeypatch):
        """A grid of NaN, +-inf, huge and tiny inputs against hard, soft and
        extreme targets, through the routed dispatcher: NaN where the reference
        has NaN (its 0 * inf included), inf where it has inf, the same finite
        values and gradients; and reduced losses over one non-finite logit."""
        routed = _route_cpu_to_triton(monkeypatch)
        fn = getattr(losskit, name)
        torch_dtype = getattr(torch, dtype)
        targets = REAL_TARGETS if name in ("huber", "mse") else UNIT_TARGETS
        x = torch.tensor([v for v in GRID_INPUTS for _ in targets], dtype=torch_dtype)
        y = torch.tensor([t for _ in GRID_INPUTS for t in targets], dtype=torch_dtype)
        fast, ref = _fast_and_reference(fn, x, y, "none", torch.ones_like(x), _dispatch_options(options, x.shape,
                                                                                               torch_dtype))
        for got, want in ((fast[0], ref[0]), (fast[1], ref[1])):
            assert torch.equal(torch.isnan(got), torch.isnan(want))
            assert torch.equal(torch.isposinf(got), torch.isposinf(want))
            assert torch.equal(torch.isneginf(got), torch.isneginf(want))
            torch.testing.assert_close(got.nan_to_num(0.0, 0.0, 0.0), want.nan_to_num(0.0, 0.0, 0.0),
                                       **ELEMENTWISE_TOL[dtype])
        g = torch.Generator().manual_seed(3)
        xr = (torch.randn(5, 9, generator=g, dtype=torch.float64) * 4).to(torch_dtype)
        yr = torch.rand(5, 9, generator=g, dtype=torch.float64).to(torch_dtype)
        for value in (NAN, INF, -INF):  # one non-finite logit in a reduced loss
            xr[2, 4] = value
            for reduction in ("mean", "sum"):
                fast, ref = _fast_and_reference(fn, xr, yr, reduction, torch.tensor(1.0, dtype=torch_dtype),
                                                _dispatch_options(options, xr.shape, torch_dtype))
                torch.testing.assert_close(fast[0], ref[0], equal_nan=True, **ELEMENTWISE_TOL[dtype])
                torch.testing.assert_close(fast[1], ref[1], equal_nan=True, **ELEMENTWISE_TOL[dtype])
        assert routed == [name] * 7

    def test_dispatch_elementwise_fallbacks_say_why(self, monkeypatch):
        """Where no kernel can serve, the reference math does and record() says
        why, before any runner is chosen: a per-sample weight or mask, a target
        that needs a gradient, inside torch.compile; and without triton the
        Triton module imports and says why it cannot serve (the reason a CUDA
        call records)."""
        import sys

        from losskit.kernels import dispatch

        routed = _route_cpu_to_triton(monkeypatch)
        x = torch.randn(4, 3, generator=torch.Generator().manual_seed(4))
        y = torch.rand(4, 3, generator=torch.Generator().manual_seed(5))
        cases = [
            (lambda: losskit.binary_cross_entropy_with_logits(x, y, weight=torch.rand(4, 3)),
             "reference: per-sample weight or mask given"),
            (lambda: losskit.mse(x, y, mask=torch.rand(4, 3) > 0.5), "reference: per-sample weight or mask given"),
            (lambda: losskit.huber(x, y.clone().requires_grad_()),
             "reference: a tensor other than the input needs a gradient"),
        ]
        for call, reason in cases:
            with losskit.kernels.record() as used:
                call()
            assert len(used) == 1 and used[0][1] == reason, used
        with monkeypatch.context() as m:
            m.setattr(torch.compiler, "is_compiling", lambda: True)
            with losskit.kernels.record() as used:
                losskit.sigmoid_focal(x, y)
        assert used == [("sigmoid_focal", "reference: inside torch.compile (the compiler fuses the reference math)")]
        assert routed == []
        with monkeypatch.context() as m:
            m.setitem(sys.modules, "triton", None)  # import triton raises ImportError
            m.delitem(sys.modules, "triton.language", raising=False)
            for module in ("elementwise_triton", "_triton"):  # the kernel module and its shared triton import
                m.delitem(sys.modules, f"losskit.kernels.{module}", raising=False)
                m.delattr(losskit.kernels, module, raising=False)  # both restored on leaving the block
            m.setattr(dispatch, "_loaded", {})
            reason = dispatch.load("elementwise_triton")
        assert isinstance(reason, str) and reason.startswith("triton unavailable"), reason

    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("n,c,block", SOFTMAX_SHAPES)
    @pytest.mark.parametrize("options", CE_OPTIONS, ids=_ids(CE_OPTIONS))
    def test_cross_entropy(self, dtype, n, c, block, options):
        _cross_entropy_check(self.device, dtype, n, c, block, **options)

    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("n,c,block", SOFTMAX_SHAPES)
    @pytest.mark.parametrize("options", FOCAL_OPTIONS, ids=_ids(FOCAL_OPTIONS))
    def test_softmax_focal(self, dtype, n, c, block, options):
        _softmax_focal_check(self.device, dtype, n, c, block, **options)

    @pytest.mark.parametrize("dtype", DTYPES)
    def test_softmax_extreme_and_special_values(self, dtype):
        """p_y rounding to 1, logits of +-100s, a -inf logit and a NaN row
        (with and without weights and smoothing; focal with gamma 2, 1/2, 1)."""
        for options in (CE_OPTIONS[0], CE_OPTIONS[3]):
            _cross_entropy_check(self.device, dtype, 6, 21, 8, extreme=True, special=True, seed=5, **options)
        for options in (FOCAL_OPTIONS[0], FOCAL_OPTIONS[2], FOCAL_OPTIONS[3]):
            _softmax_focal_check(self.device, dtype, 6, 21, 8, extreme=True, special=True, seed=5, **options)

    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("n", ELEMENTWISE_SIZES)
    @pytest.mark.parametrize("options", BCE_OPTIONS, ids=_ids(BCE_OPTIONS))
    def test_bce_with_logits(self, dtype, n, options):
        _bce_check(self.device, dtype, n, **options)

    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("n", ELEMENTWISE_SIZES)
    @pytest.mark.parametrize("options", SIGMOID_FOCAL_OPTIONS, ids=_ids(SIGMOID_FOCAL_OPTIONS))
    def test_sigmoid_focal(self, dtype, n, options):
        _focal_check(self.device, dtype, n, **options)

    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("n", ELEMENTWISE_SIZES)
    @pytest.mark.parametrize("options", REGRESSION_OPTIONS, ids=_ids(REGRESSION_OPTIONS))
    def test_regression(self, dtype, n, options):
        _regression_check(self.device, dtype, n, **options)

    def test_bad_arguments_raise(self):
        from losskit.kernels import elementwise_triton, softmax_triton

        x = torch.zeros(3, 4)
        labels = torch.zeros(3, dtype=torch.int64)
        loss, grad = torch.empty(3), torch.empty(3, 4)
        with pytest.raises(ValueError, match="labels must be an int64 tensor of shape"):
            softmax_triton.cross_entropy_rows_kernel(x, labels.int(), None, None, 0.0, 1.0, loss, grad, True)
        with pytest.raises(ValueError, match="class_weight must be None or a torch.float32 tensor of shape"):
            softmax_triton.cross_entropy_rows_kernel(x, labels, None, torch.ones(5), 0.0, 1.0, loss, grad, True)
        with pytest.raises(ValueError, match="x must have contiguous rows"):
            softmax_triton.softmax_focal_rows_kernel(x.t(), torch.zeros(4, dtype=torch.int64), None, None, 1.0, 2.0, 1.0,
                                              torch.empty(4), torch.empty(4, 3), True)
        with pytest.raises(ValueError, match="grad must be a torch.float32 tensor of x's shape"):
            softmax_triton.softmax_focal_rows_kernel(x, labels, None, None, 1.0, 2.0, 1.0, loss, torch.empty(3, 5), True)
        y = torch.zeros(10)
        with pytest.raises(ValueError, match=r"loss must have 10 entries \(per element\) or 1"):
            elementwise_triton.mse_kernel(y, y, 1.0, torch.empty(5), torch.empty(10), True)
        with pytest.raises(ValueError, match="target must be a contiguous 1-D torch.float32 tensor of 10 entries"):
            elementwise_triton.huber_kernel(y, y.double(), 1.0, 1.0, torch.empty(10), torch.empty(10), True)
        with pytest.raises(ValueError, match="pos_weight must have one entry per label"):
            elementwise_triton.bce_with_logits_kernel(y, y, torch.ones(3), 0.0, 1.0, torch.empty(10), torch.empty(10), True)


# -- compiled, on a GPU ------------------------------------------------------------


def test_cuda_kernels_present():
    """Stands for TestCuda where it cannot run, saying why (its cases are
    then not collected at all rather than skipped one by one)."""
    if _cuda_reason() is not None:
        pytest.skip(f"TestCuda not run: {_cuda_reason()}")
    from losskit.kernels import elementwise_triton, softmax_triton

    assert softmax_triton.UNAVAILABLE is None and elementwise_triton.UNAVAILABLE is None


class TestCuda:
    __test__ = _cuda_reason() is None
    device = "cuda"

    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("n,c,block", SOFTMAX_SHAPES + [(64, 50257, None), (3, 262147, None), (257, 1000, None)])
    @pytest.mark.parametrize("options", CE_OPTIONS, ids=_ids(CE_OPTIONS))
    def test_cross_entropy(self, dtype, n, c, block, options):
        _cross_entropy_check(self.device, dtype, n, c, block, **options)

    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("n,c,block", SOFTMAX_SHAPES + [(64, 32000, None), (3, 262147, None)])
    @pytest.mark.parametrize("options", FOCAL_OPTIONS, ids=_ids(FOCAL_OPTIONS))
    def test_softmax_focal(self, dtype, n, c, block, options):
        _softmax_focal_check(self.device, dtype, n, c, block, **options)

    @pytest.mark.parametrize("dtype", DTYPES)
    def test_softmax_extreme_and_special_values(self, dtype):
        for options in CE_OPTIONS[:4]:
            _cross_entropy_check(self.device, dtype, 6, 5000, None, extreme=True, special=True, seed=5, **options)
        for options in FOCAL_OPTIONS:
            _softmax_focal_check(self.device, dtype, 6, 5000, None, extreme=True, special=True, seed=5, **options)

    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("n", ELEMENTWISE_SIZES + [1_000_003])
    @pytest.mark.parametrize("options", BCE_OPTIONS, ids=_ids(BCE_OPTIONS))
    def test_bce_with_logits(self, dtype, n, options):
        _bce_check(self.device, dtype, n, **options)

    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("n", ELEMENTWISE_SIZES + [1_000_003])
    @pytest.mark.parametrize("options", SIGMOID_FOCAL_OPTIONS, ids=_ids(SIGMOID_FOCAL_OPTIONS))
    def test_sigmoid_focal(self, dtype, n, options):
        _focal_check(self.device, dtype, n, **options)

    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("n", ELEMENTWISE_SIZES + [1_000_003])
    @pytest.mark.parametrize("options", REGRESSION_OPTIONS, ids=_ids(REGRESSION_OPTIONS))
    def test_regression(self, dtype, n, options):
        _regression_check(self.device, dtype, n, **options)

    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("name,options", ELEMENTWISE_DISPATCH, ids=ELEMENTWISE_DISPATCH_IDS)
    def test_elementwise_losses_take_the_triton_kernels(self, name, options, dtype):
        """CUDA tensors take the Triton kernels through the public losses
        (recorded as "triton"), with the reference's value and gradient."""
        fn = getattr(losskit, name)
        torch_dtype = getattr(torch, dtype)
        for seed, shape in enumerate(DISPATCH_SHAPES + [(1000, 1003)]):
            g = torch.Generator().manual_seed(seed)
            x = (torch.randn(shape, generator=g, dtype=torch.float64) * 4).to(torch_dtype).cuda()
            if name in ("huber", "mse"):
                y = (torch.randn(shape, generator=g, dtype=torch.float64) * 2).to(torch_dtype).cuda()
            else:
                y = torch.rand(shape, generator=g, dtype=torch.float64).to(torch_dtype).cuda()
            kw = {k: v.cuda() if isinstance(v, torch.Tensor) else v
                  for k, v in _dispatch_options(options, shape, torch_dtype).items()}
            for reduction in REDUCTIONS:
                grad_out = torch.ones(shape if reduction == "none" else (), dtype=torch_dtype, device="cuda")
                fast, ref = _fast_and_reference(fn, x, y, reduction, grad_out, kw)
                assert fast[2] == [(name, "triton")], fast[2]
                # GPU exp/log are not libm's: the softmax checks' tolerances (64 eps, scaled)
                _assert_close(fast[0], ref[0], torch_dtype, x, what=f"{name} {shape} {reduction} value")
                _assert_close(fast[1], ref[1], torch_dtype, x, what=f"{name} {shape} {reduction} gradient")
