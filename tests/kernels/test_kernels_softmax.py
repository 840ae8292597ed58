"""The fused CPU kernels of cross_entropy and softmax_focal equal the
reference math (values and gradients) for every option, reduction, dtype and
odd size, and the reference math serves wherever a kernel cannot."""

import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("numba")

import losskit  # noqa: E402
from losskit import kernels  # noqa: E402

TOL = {torch.float32: dict(rtol=2e-5, atol=2e-6), torch.float64: dict(rtol=1e-12, atol=1e-14)}
SHAPES = [(1, 1), (1, 7), (13, 1), (5, 37), (33, 1000)]


def _case(shape, dtype, seed, ignore=True):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=g, dtype=dtype) * 3
    t = torch.randint(0, shape[-1], shape[:-1], generator=g)
    if ignore and t.numel() > 2:
        t[1] = -100
    return x, t


def _both(fn, x, *args, reduction="mean", grad_out=None, **kw):
    """(fast value, fast grad, path record), then the same on the reference math."""
    out = []
    for fast in (True, False):
        xi = x.detach().clone().requires_grad_()
        with kernels.record() as used:
            if fast:
                value = fn(xi, *args, reduction=reduction, **kw)
            else:
                with kernels.disabled():
                    value = fn(xi, *args, reduction=reduction, **kw)
        go = torch.ones_like(value) if grad_out is None else grad_out
        (grad,) = torch.autograd.grad(value, xi, go)
        out.append((value.detach(), grad, used))
    return out


def _assert_same(fast, ref, dtype):
    np.testing.assert_allclose(fast[0].numpy(), ref[0].numpy(), **TOL[dtype])
    np.testing.assert_allclose(fast[1].numpy(), ref[1].numpy(), **TOL[dtype])
    assert fast[0].dtype == ref[0].dtype and fast[0].shape == ref[0].shape


CE_OPTIONS = [{}, {"label_smoothing": 0.1}, {"class_weight": True}, {"class_weight": True, "label_smoothing": 0.3},
              {"ignore_index": 2}]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("options", CE_OPTIONS, ids=lambda o: "-".join(o) or "plain")
def test_cross_entropy_fast_equals_reference(dtype, reduction, options):
    for seed, shape in enumerate(SHAPES):
        x, t = _case(shape, dtype, seed)
        if "ignore_index" in options:
            t[t == -100] = 0
            t[t == 2] = options["ignore_index"]
        kw = dict(options)
        if kw.get("class_weight"):
            kw["class_weight"] = torch.rand(shape[1], dtype=dtype, generator=torch.Generator().manual_seed(seed)) + 0.1
        go = torch.rand(shape[0], dtype=dtype) if reduction == "none" else None
        fast, ref = _both(losskit.cross_entropy, x, t, reduction=reduction, grad_out=go, **kw)
        assert fast[2] == [("cross_entropy", "cpu")] and ref[2] == []
        _assert_same(fast, ref, dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("gamma,alpha", [(0.0, None), (2.0, None), (0.5, 0.25), (1.5, "vector"), (3.0, "vector")])
def test_softmax_focal_fast_equals_reference(dtype, reduction, gamma, alpha):
    for seed, shape in enumerate(SHAPES):
        x, t = _case(shape, dtype, seed)
        a = torch.rand(shape[1], dtype=dtype) if alpha == "vector" else alpha
        go = torch.rand(shape[0], dtype=dtype) if reduction == "none" else None
        fast, ref = _both(losskit.softmax_focal, x, t, reduction=reduction, grad_out=go, gamma=gamma, alpha=a)
        assert fast[2] == [("softmax_focal", "cpu")]
        _assert_same(fast, ref, dtype)


@pytest.mark.parametrize("fn", [losskit.cross_entropy, losskit.softmax_focal])
def test_unbatched_row_and_confident_rows(fn):
    x = torch.tensor([[30.0, -30.0, 0.0], [1e4, -1e4, 0.0], [-1e4, 1e4, 5.0]], dtype=torch.float64)
    t = torch.tensor([0, 0, 2])
    fast, ref = _both(fn, x, t, reduction="none")
    _assert_same(fast, ref, torch.float64)
    assert torch.isfinite(fast[1]).all()
    fast, ref = _both(fn, x[0], t[0])  # one unbatched row, shape (C,)
    assert fast[2][0][1] == "cpu" and fast[0].shape == () and fast[1].shape == (3,)
    _assert_same(fast, ref, torch.float64)


def test_every_target_ignored_gives_zero_loss_and_gradient():
    x = torch.randn(4, 5, requires_grad=True)
    t = torch.full((4,), -100)
    with kernels.record() as used:
        loss = losskit.cross_entropy(x, t)
    loss.backward()
    assert used == [("cross_entropy", "cpu")] and loss.item() == 0.0 and (x.grad == 0).all()


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_nan_and_inf_come_out_as_in_the_reference(value):
    x, t = _case((3, 40), torch.float64, 0, ignore=False)
    x[1, 7] = value
    fast, ref = _both(losskit.cross_entropy, x, t, reduction="none")
    np.testing.assert_array_equal(torch.isnan(fast[0]).numpy(), torch.isnan(ref[0]).numpy())
    np.testing.assert_array_equal(torch.isnan(fast[1]).numpy(), torch.isnan(ref[1]).numpy())
    finite = torch.isfinite(ref[0])
    np.testing.assert_allclose(fast[0][finite].numpy(), ref[0][finite].numpy(), rtol=1e-12)


INF, NAN = float("inf"), float("nan")
# Rows the reference math accepts, however odd: all -inf (a zero sum of exponentials),
# all +inf, mixed infinities, NaN, huge and tiny finite logits. (Gaps between logits stay
# below float32's max: past it the reference's own autograd overflows to NaN where the
# kernel's closed form gives the finite limit.)
SPECIAL_ROWS = [[-INF] * 4, [INF] * 4, [-INF, 0.0, -INF, -INF], [INF, -INF, 0.0, 1.0], [NAN, 0.0, 1.0, 2.0],
                [1e30, -1e30, 0.0, 1.0], [1e37, 1e37, -1e37, 0.0], [1e-30, -1e-30, 0.0, 1e-45],
                [-1e4, -1e4, -1e4, -1e4], [88.0, 89.0, 90.0, -200.0]]
SPECIAL_CALLS = [("cross_entropy", {}), ("cross_entropy", {"label_smoothing": 0.2}),
                 ("cross_entropy", {"class_weight": "vector"}),
                 ("cross_entropy", {"class_weight": "vector", "label_smoothing": 0.1}),
                 ("softmax_focal", {}), ("softmax_focal", {"gamma": 0.0}), ("softmax_focal", {"gamma": 0.5, "alpha": 0.25}),
                 ("softmax_focal", {"gamma": 3.0, "alpha": "vector"})]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("reduction", ["none", "mean"])
@pytest.mark.parametrize("loss,options", SPECIAL_CALLS, ids=[f"{n}-{'-'.join(o) or 'plain'}" for n, o in SPECIAL_CALLS])
def test_non_finite_and_extreme_rows_come_out_as_in_the_reference(dtype, reduction, loss, options):
    """Every special row with the label at every class: the same value and gradient
    as the reference math, NaN where it has NaN, inf where it has inf; no exception."""
    rows = [r for r in SPECIAL_ROWS for _ in range(4)]
    x = torch.tensor(rows, dtype=torch.float64).to(dtype)
    t = torch.arange(4).repeat(len(SPECIAL_ROWS))
    kw = {k: (torch.tensor([0.5, 1.0, 2.0, 0.25], dtype=dtype) if v == "vector" else v) for k, v in options.items()}
    fast, ref = _both(getattr(losskit, loss), x, t, reduction=reduction, **kw)
    assert fast[2] == [(loss, "cpu")]
    for got, want in ((fast[0], ref[0]), (fast[1], ref[1])):
        np.testing.assert_array_equal(torch.isnan(got).numpy(), torch.isnan(want).numpy())
        np.testing.assert_array_equal(torch.isposinf(got).numpy(), torch.isposinf(want).numpy())
        np.testing.assert_array_equal(torch.isneginf(got).numpy(), torch.isneginf(want).numpy())
    finite = [(g.nan_to_num(0.0, 0.0, 0.0), w.nan_to_num(0.0, 0.0, 0.0)) for g, w in ((fast[0], ref[0]), (fast[1], ref[1]))]
    _assert_same((finite[0][0], finite[1][0]), (finite[0][1], finite[1][1]), dtype)


def test_results_do_not_depend_on_the_thread_count():
    x, t = _case((64, 300), torch.float32, 3)
    before = torch.get_num_threads()
    try:
        runs = []
        for threads in (1, 2):
            torch.set_num_threads(threads)
            fast, _ = _both(losskit.cross_entropy, x, t, label_smoothing=0.1)
            runs.append(fast)
    finally:
        torch.set_num_threads(before)
    assert torch.equal(runs[0][0], runs[1][0]) and torch.equal(runs[0][1], runs[1][1])


def test_non_contiguous_input_and_module():
    x, t = _case((40, 9), torch.float32, 1)
    xt = x.t().contiguous().t()  # same values, column-major
    fast, ref = _both(losskit.cross_entropy, xt, t)
    _assert_same(fast, ref, torch.float32)
    from losskit.torch import CrossEntropyLoss
    with kernels.record() as used:
        CrossEntropyLoss(label_smoothing=0.2)(x, t)
    assert used == [("cross_entropy", "cpu")]


def test_second_and_differentiable_backward_use_the_reference_math():
    x, t = _case((3, 4), torch.float64, 2, ignore=False)
    for fn in (losskit.cross_entropy, losskit.softmax_focal):
        def fast_loss(z):
            return fn(z, t, reduction="sum")

        def fast_row(z):
            return fn(z, t[:1], reduction="sum")

        def ref_row(z):
            with kernels.disabled():
                return fn(z, t[:1], reduction="sum")

        h_fast = torch.autograd.functional.hessian(fast_row, x[0:1])
        h_ref = torch.autograd.functional.hessian(ref_row, x[0:1])
        assert h_ref.abs().max() > 0
        torch.testing.assert_close(h_fast, h_ref, rtol=1e-12, atol=1e-14)
        xi = x.clone().requires_grad_()
        loss = fast_loss(xi)
        (g1,) = torch.autograd.grad(loss, xi, retain_graph=True)
        (g2,) = torch.autograd.grad(loss, xi)
        torch.testing.assert_close(g1, g2, rtol=1e-12, atol=1e-14)


def test_loss_only_needs_no_gradient_buffer():
    x, t = _case((8, 50), torch.float32, 4)
    with torch.no_grad(), kernels.record() as used:
        value = losskit.cross_entropy(x.requires_grad_(), t)
    assert used == [("cross_entropy", "cpu")] and value.grad_fn is None


def _fallback_cases():
    x, t = _case((6, 5), torch.float32, 5, ignore=False)
    w = torch.rand(6)
    yield "weight", lambda: losskit.cross_entropy(x, t, weight=w), "per-sample weight or mask"
    yield "mask", lambda: losskit.cross_entropy(x, t, mask=torch.ones(6, dtype=torch.bool)), "per-sample weight"
    xs, ts = torch.randn(2, 5, 3), torch.randint(0, 5, (2, 3))
    yield "spatial", lambda: losskit.cross_entropy(xs, ts), "sample axis"
    cw = torch.rand(5, requires_grad=True)
    yield "class-weight-grad", lambda: losskit.cross_entropy(x, t, class_weight=cw), "other than the input"
    alpha = torch.rand(5, requires_grad=True)
    yield "alpha-grad", lambda: losskit.softmax_focal(x, t, alpha=alpha), "other than the input"
    yield "empty", lambda: losskit.cross_entropy(torch.zeros(0, 5), torch.zeros(0, dtype=torch.long)), "empty"


@pytest.mark.parametrize("name,call,reason", list(_fallback_cases()), ids=[c[0] for c in _fallback_cases()])
def test_fallback_is_taken_and_says_why(name, call, reason):
    with kernels.record() as used:
        fast_value = call()
    assert len(used) == 1 and used[0][1].startswith("reference: ") and reason in used[0][1], used
    with kernels.disabled():
        ref_value = call()
    torch.testing.assert_close(fast_value, ref_value)


def test_probability_targets_and_numpy_take_the_reference_math():
    x, _ = _case((4, 3), torch.float32, 6)
    with kernels.record() as used:
        losskit.cross_entropy(x, torch.softmax(torch.randn(4, 3), 1))
        losskit.cross_entropy(x.numpy(), np.array([0, 1, 2, 0]))
    assert used == []


def test_switch_turns_fast_paths_off():
    x, t = _case((4, 3), torch.float32, 7)
    with kernels.record() as used:
        with kernels.disabled():
            losskit.cross_entropy(x, t)
        kernels.set_enabled(False)
        try:
            losskit.cross_entropy(x, t)
        finally:
            kernels.set_enabled(True)
        losskit.cross_entropy(x, t)
    assert used == [("cross_entropy", "cpu")]
    with pytest.raises(TypeError, match="flag must be True or False"):
        kernels.set_enabled("no")
    code = ("import torch, losskit, losskit.kernels as k\n"
            "with k.record() as u: losskit.cross_entropy(torch.randn(2, 3), torch.tensor([0, 1]))\n"
            "print(u)")
    env = {**os.environ, "LOSSKIT_KERNELS": "reference"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_bad_input_errors_are_unchanged_by_the_fast_path():
    x = torch.randn(3, 4)
    with pytest.raises(ValueError, match=r"target must hold class indices in \[0, 4\)"):
        losskit.cross_entropy(x, torch.tensor([0, 4, 1]))
    with pytest.raises(ValueError, match="class_weight"):
        losskit.cross_entropy(x, torch.tensor([0, 1, 1]), class_weight=torch.ones(3))
    with pytest.raises(ValueError, match="label_smoothing"):
        losskit.cross_entropy(x, torch.tensor([0, 1, 1]), label_smoothing=1.5)


def test_kernels_run_in_a_forked_child_and_across_threads():
    import multiprocessing

    x, t = _case((300, 200), torch.float32, 8)
    expected = losskit.cross_entropy(x, t)  # the pool exists before the fork
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        child = pool.apply(_child_loss, (x, t))
    assert torch.equal(child, expected)


def _child_loss(x, t):
    with kernels.record() as used:
        value = losskit.cross_entropy(x, t)
    assert used == [("cross_entropy", "cpu")]
    return value


def test_cached_gradient_buffers_are_reused_only_when_free():
    from losskit.kernels import _buffers

    kernels.release_buffers()
    x1, t1 = _case((600, 2000), torch.float32, 9)  # 4.8 MB of logits: above the cache's threshold
    x2 = (x1 * 2).requires_grad_()
    x1.requires_grad_()
    losskit.cross_entropy(x1, t1).backward()
    losskit.cross_entropy(x2, t1).backward()  # x1.grad still holds the first buffer
    assert x1.grad.data_ptr() != x2.grad.data_ptr()
    with kernels.disabled():
        (ref1,) = torch.autograd.grad(losskit.cross_entropy(x1, t1), x1)
    torch.testing.assert_close(x1.grad, ref1)  # not overwritten by the second call
    first = x1.grad.data_ptr()
    x1.grad = None
    x3 = x1.detach().clone().requires_grad_()
    losskit.cross_entropy(x3, t1).backward()
    assert x3.grad.data_ptr() == first  # the freed buffer came back
    assert len(_buffers._buffers) <= _buffers.MAX_BUFFERS
    del x2, x3
    assert kernels.release_buffers() >= 600 * 2000 * 4


def test_buffer_cache_with_several_sizes():
    from losskit.kernels import _buffers

    kernels.release_buffers()
    held = [_buffers.empty((1 << 20, k), torch.float32) for k in (1, 2, 3)]  # 4, 8 and 12 MiB, all in use
    del held[1]  # the 8 MiB one is free now, behind one in use
    again = _buffers.empty((1 << 20, 2), torch.float32)
    assert again.numel() == 2 << 20 and len(_buffers._buffers) == 3
    del again, held
    assert kernels.release_buffers() == (4 + 8 + 12) << 20


@pytest.mark.parametrize("half", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("fn", [losskit.cross_entropy, losskit.softmax_focal])
def test_half_precision_inputs_run_the_kernel_in_float32(fn, half):
    """As the reference math does: computed in float32, returned in the input's
    dtype, so a half input gives exactly the float32 result rounded."""
    x, t = _case((9, 13), torch.float32, 10)
    xh = x.to(half)
    with kernels.record() as used:
        value = fn(xh.requires_grad_(), t, reduction="none")
    assert used == [(fn.__name__, "cpu")] and value.dtype == half
    torch.testing.assert_close(value, fn(xh.detach().float(), t, reduction="none").to(half), rtol=0, atol=0)
    (grad,) = torch.autograd.grad(value.sum(), xh)
    assert grad.dtype == half and torch.isfinite(grad).all()
