"""The fused CPU kernels of binary_cross_entropy_with_logits, sigmoid_focal,
huber and mse equal the reference math (values and gradients) for every
option, reduction, dtype and odd size, NaN and inf come out as in the
reference, and the reference math serves wherever a kernel cannot."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("numba")

import losskit
from losskit import kernels

TOL = {torch.float32: {"rtol": 2e-5, "atol": 1e-6}, torch.float64: {"rtol": 1e-12, "atol": 1e-14}}
# one element, odd lengths (not a multiple of any SIMD width), a label axis;
# more than one chunk of partial sums (CHUNK = 32768) in test_many_chunks_on_two_threads
SHAPES = [(), (7,), (3, 5), (2, 3, 173)]
INF, NAN = float("inf"), float("nan")


def _case(shape, dtype, seed, target="hard", scale=4.0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g, dtype=torch.float64) * scale
    if target == "hard":
        y = (torch.rand(shape, generator=g, dtype=torch.float64) < 0.3).to(torch.float64)
    elif target == "soft":
        y = torch.rand(shape, generator=g, dtype=torch.float64)
    else:  # a regression target
        y = torch.randn(shape, generator=g, dtype=torch.float64) * 2
    return x.to(dtype), y.to(dtype)


def _both(fn, x, y, *, reduction="mean", grad_out=None, **kw):
    """(value, grad, record) on the fast path, then on the reference math."""
    out = []
    for fast in (True, False):
        xi = x.detach().clone().requires_grad_()
        with kernels.record() as used:
            if fast:
                value = fn(xi, y, reduction=reduction, **kw)
            else:
                with kernels.disabled():
                    value = fn(xi, y, reduction=reduction, **kw)
        go = torch.ones_like(value) if grad_out is None else grad_out
        (grad,) = torch.autograd.grad(value, xi, go)
        out.append((value.detach(), grad, used))
    return out


def _assert_same(fast, ref, dtype, equal_nan=False):
    assert fast[0].dtype == ref[0].dtype and fast[0].shape == ref[0].shape
    assert fast[1].shape == ref[1].shape
    np.testing.assert_allclose(fast[0].numpy(), ref[0].numpy(), equal_nan=equal_nan, **TOL[dtype])
    np.testing.assert_allclose(fast[1].numpy(), ref[1].numpy(), equal_nan=equal_nan, **TOL[dtype])


def _grad_out(reduction, shape, dtype):
    """A non-trivial incoming gradient: a random tensor for "none", 1.7 otherwise."""
    if reduction == "none":
        return torch.rand(shape, dtype=dtype, generator=torch.Generator().manual_seed(9)) * 2 - 0.5
    return torch.tensor(1.7, dtype=dtype)


def _check_all_shapes(fn, loss, dtype, reduction, target, options=lambda shape, dtype: {}, shapes=SHAPES):
    for seed, shape in enumerate(shapes):
        x, y = _case(shape, dtype, seed, target)
        go = _grad_out(reduction, shape, dtype)
        fast, ref = _both(fn, x, y, reduction=reduction, grad_out=go, **options(shape, dtype))
        assert fast[2] == [(loss, "cpu")] and ref[2] == [], (shape, fast[2])
        _assert_same(fast, ref, dtype)


DTYPES = [torch.float32, torch.float64]
REDUCTIONS = ["mean", "sum", "none"]

BCE_OPTIONS = {
    "plain": {},
    "pos_weight": {"pos_weight": 2.5},
    "pos_weight-zero": {"pos_weight": 0.0},
    "pos_weight-0d": {"pos_weight": "0d"},
    "pos_weight-per-label": {"pos_weight": "vector"},
    "smoothing": {"label_smoothing": 0.1},
    "pos_weight-per-label-smoothing": {"pos_weight": "vector", "label_smoothing": 0.25},
}


def _bce_options(name):
    def options(shape, dtype):
        kw = dict(BCE_OPTIONS[name])
        if kw.get("pos_weight") == "vector":
            labels = shape[-1] if shape else None
            if labels is None:  # a 0-d input has no label axis: a scalar weight
                kw["pos_weight"] = torch.tensor(1.5, dtype=dtype)
            else:
                kw["pos_weight"] = torch.rand(labels, dtype=dtype, generator=torch.Generator().manual_seed(1)) * 3
        elif kw.get("pos_weight") == "0d":
            kw["pos_weight"] = torch.tensor(0.7, dtype=dtype)
        return kw

    return options


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("option", list(BCE_OPTIONS))
def test_bce_with_logits_fast_equals_reference(dtype, reduction, option):
    for target in ("hard", "soft"):
        _check_all_shapes(losskit.binary_cross_entropy_with_logits, "binary_cross_entropy_with_logits", dtype,
                          reduction, target, _bce_options(option))


# gamma 2 has a kernel of its own (no log, no exp); gamma 0 leaves out the focal term
FOCAL_OPTIONS = [(2.0, 0.25), (2.0, None), (0.0, 0.25), (0.5, 0.9), (1.5, None), (3.0, 1.0)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("gamma,alpha", FOCAL_OPTIONS, ids=[f"gamma{g}-alpha{a}" for g, a in FOCAL_OPTIONS])
def test_sigmoid_focal_fast_equals_reference(dtype, reduction, gamma, alpha):
    for target in ("hard", "soft"):
        _check_all_shapes(losskit.sigmoid_focal, "sigmoid_focal", dtype, reduction, target,
                          lambda shape, dtype: {"gamma": gamma, "alpha": alpha})


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("delta", [1.0, 0.3, 5.0])
def test_huber_fast_equals_reference(dtype, reduction, delta):
    _check_all_shapes(losskit.huber, "huber", dtype, reduction, "real", lambda shape, dtype: {"delta": delta})


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_fast_equals_reference(dtype, reduction):
    _check_all_shapes(losskit.mse, "mse", dtype, reduction, "real")


MANY_CHUNKS = [
    (losskit.binary_cross_entropy_with_logits, "binary_cross_entropy_with_logits", "soft",
     _bce_options("pos_weight-per-label-smoothing")),
    (losskit.sigmoid_focal, "sigmoid_focal", "soft", lambda shape, dtype: {}),
    (losskit.sigmoid_focal, "sigmoid_focal", "hard", lambda shape, dtype: {"gamma": 1.5}),
    (losskit.huber, "huber", "real", lambda shape, dtype: {"delta": 0.5}),
    (losskit.mse, "mse", "real", lambda shape, dtype: {}),
]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("fn,loss,target,options", MANY_CHUNKS, ids=[f"{c[1]}-{c[2]}" for c in MANY_CHUNKS])
def test_many_chunks_on_two_threads(fn, loss, target, options, reduction):
    """Three chunks of partial sums (the last one partial), shared by two threads."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        _check_all_shapes(fn, loss, torch.float32, reduction, target, options, shapes=[(7001, 10)])
    finally:
        torch.set_num_threads(before)


def test_huber_at_the_kink_and_at_zero():
    """|r| = delta exactly, r = 0 and r = +-delta: the reference's derivative (r clamped)."""
    x = torch.tensor([1.0, -1.0, 0.0, 2.0, -3.0, 0.5], dtype=torch.float64)
    y = torch.tensor([0.0, 0.0, 0.0, 1.0, -1.0, 0.5], dtype=torch.float64)
    fast, ref = _both(losskit.huber, x, y, reduction="none", delta=1.0)
    assert fast[2] == [("huber", "cpu")]
    assert torch.equal(fast[0], ref[0]) and torch.equal(fast[1], ref[1])


def _special_grid(dtype, targets):
    xs = [NAN, INF, -INF, 1e4, -1e4, 800.0, -800.0, 100.0, -100.0, 89.0, -89.0, 40.0, -40.0, 17.0, -17.0,
          1.0, -1.0, 0.0, -0.0, 1e-30, -1e-30]
    x = torch.tensor([v for v in xs for _ in targets], dtype=dtype)
    y = torch.tensor([t for _ in xs for t in targets], dtype=dtype)
    return x, y


UNIT_TARGETS = [0.0, 1.0, 0.3, 0.5, 1e-7, 1 - 1e-7, 1e-30]
SPECIAL_CASES = [
    ("binary_cross_entropy_with_logits", {}),
    ("binary_cross_entropy_with_logits", {"pos_weight": 2.5, "label_smoothing": 0.1}),
    ("binary_cross_entropy_with_logits", {"pos_weight": 0.0}),
    ("sigmoid_focal", {}),
    ("sigmoid_focal", {"gamma": 1.5, "alpha": None}),
    ("sigmoid_focal", {"gamma": 0.0}),
    ("sigmoid_focal", {"gamma": 0.5, "alpha": 0.9}),
    ("huber", {"delta": 1.0}),
    ("mse", {}),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss,options", SPECIAL_CASES, ids=[f"{n}-{'-'.join(o) or 'plain'}" for n, o in SPECIAL_CASES])
def test_nan_inf_and_huge_logits_come_out_as_in_the_reference(dtype, loss, options):
    """Every element of a grid of NaN, +-inf, huge and tiny inputs against hard,
    soft and extreme targets: the same value and gradient, NaN where the
    reference has NaN (its 0 * inf included), inf where it has inf."""
    targets = UNIT_TARGETS if loss in ("binary_cross_entropy_with_logits", "sigmoid_focal") else \
        [0.0, 1.0, -2.0, 1e4, 1e30, -1e30]  # an infinite target is refused (test_errors)
    x, y = _special_grid(dtype, targets)
    fast, ref = _both(getattr(losskit, loss), x, y, reduction="none", **options)
    assert fast[2] == [(loss, "cpu")]
    for got, want in ((fast[0], ref[0]), (fast[1], ref[1])):
        np.testing.assert_array_equal(torch.isnan(got).numpy(), torch.isnan(want).numpy())
        np.testing.assert_array_equal(torch.isposinf(got).numpy(), torch.isposinf(want).numpy())
        np.testing.assert_array_equal(torch.isneginf(got).numpy(), torch.isneginf(want).numpy())
    # the finite parts (a subnormal may be 0 on the fast path: below atol)
    _assert_same((fast[0].nan_to_num(0.0, 0.0, 0.0), fast[1].nan_to_num(0.0, 0.0, 0.0)),
                 (ref[0].nan_to_num(0.0, 0.0, 0.0), ref[1].nan_to_num(0.0, 0.0, 0.0)), dtype)


def test_reduced_loss_with_nan_or_inf_matches_the_reference():
    for value in (NAN, INF, -INF):
        x, y = _case((5, 9), torch.float64, 3)
        x[2, 4] = value
        for fn in (losskit.binary_cross_entropy_with_logits, losskit.sigmoid_focal, losskit.huber, losskit.mse):
            fast, ref = _both(fn, x, y)
            _assert_same(fast, ref, torch.float64, equal_nan=True)


def test_results_do_not_depend_on_the_thread_count():
    x, y = _case((100003,), torch.float32, 4, "soft")
    before = torch.get_num_threads()
    try:
        runs = []
        for threads in (1, 2):
            torch.set_num_threads(threads)
            runs.append([_both(fn, x, y, reduction="sum")[0] for fn in
                         (losskit.binary_cross_entropy_with_logits, losskit.sigmoid_focal, losskit.mse)])
    finally:
        torch.set_num_threads(before)
    for one, two in zip(*runs):
        assert torch.equal(one[0], two[0]) and torch.equal(one[1], two[1])


def test_non_contiguous_input_and_broadcast_view_target():
    x, y = _case((40, 9), torch.float32, 5, "soft")
    xt = x.t().contiguous().t()  # same values, column-major
    yv = y[:1].expand(40, 9)  # stride 0 along the first axis
    for fn in (losskit.binary_cross_entropy_with_logits, losskit.sigmoid_focal, losskit.huber, losskit.mse):
        fast, ref = _both(fn, xt, yv, reduction="none", grad_out=torch.rand(40, 9))
        assert fast[2][0][1] == "cpu"
        _assert_same(fast, ref, torch.float32)


def test_torch_modules_take_the_fast_path():
    import losskit.torch as lt

    x, y = _case((6, 4), torch.float32, 6)
    for name in ("BinaryCrossEntropyWithLogitsLoss", "SigmoidFocalLoss", "HuberLoss", "MSELoss"):
        with kernels.record() as used:
            getattr(lt, name)()(x, y)
        assert used and used[0][1] == "cpu", (name, used)


def test_second_and_differentiable_backward_use_the_reference_math():
    x, y = _case((3, 4), torch.float64, 7, "soft")
    cases = [(losskit.binary_cross_entropy_with_logits, {"pos_weight": 2.0}), (losskit.sigmoid_focal, {}),
             (losskit.sigmoid_focal, {"gamma": 1.5}), (losskit.huber, {"delta": 0.7}), (losskit.mse, {})]
    for fn, kw in cases:
        def fast_loss(z, fn=fn, kw=kw):
            return fn(z, y, reduction="sum", **kw)

        def ref_loss(z, fn=fn, kw=kw):
            with kernels.disabled():
                return fn(z, y, reduction="sum", **kw)

        h_fast = torch.autograd.functional.hessian(fast_loss, x)
        h_ref = torch.autograd.functional.hessian(ref_loss, x)
        assert h_ref.abs().max() > 0
        torch.testing.assert_close(h_fast, h_ref, rtol=1e-12, atol=1e-14)
        xi = x.clone().requires_grad_()
        loss = fast_loss(xi)
        (g1,) = torch.autograd.grad(loss, xi, retain_graph=True)
        (g2,) = torch.autograd.grad(loss, xi)
        torch.testing.assert_close(g1, g2, rtol=1e-12, atol=1e-14)


def test_loss_only_allocates_nothing_input_sized(monkeypatch):
    from losskit.kernels import _buffers

    x, y = _case((50000,), torch.float32, 8, "soft")
    sizes = []

    def counting(make):
        def empty(*args, **kwargs):
            out = make(*args, **kwargs)
            sizes.append(out.numel())
            return out

        return empty

    monkeypatch.setattr(torch, "empty", counting(torch.empty))
    monkeypatch.setattr(_buffers, "empty", counting(_buffers.empty))
    for fn in (losskit.binary_cross_entropy_with_logits, losskit.sigmoid_focal, losskit.huber, losskit.mse):
        with kernels.record() as used:
            with torch.no_grad():
                value = fn(x.requires_grad_(), y)
            value_no_grad = fn(x.detach(), y)
        assert [p for _, p in used] == ["cpu", "cpu"] and value.grad_fn is None
        assert torch.equal(value, value_no_grad)
    assert max(sizes, default=0) < x.numel(), sizes
    sizes.clear()
    losskit.mse(x.requires_grad_(), y).backward()  # with a gradient: one buffer, the gradient itself
    assert sizes.count(x.numel()) >= 1


def _fallback_cases():
    x, y = _case((6, 5), torch.float32, 9)
    bce, focal = losskit.binary_cross_entropy_with_logits, losskit.sigmoid_focal
    w, m = torch.rand(6, 5), torch.rand(6, 5) > 0.5
    yield "weight", lambda: bce(x, y, weight=w), "per-sample weight or mask"
    yield "mask", lambda: losskit.mse(x, y, mask=m), "per-sample weight or mask"
    y_grad = y.clone().requires_grad_()
    yield "target-grad", lambda: losskit.mse(x, y_grad), "other than the input"
    yield "target-grad-bce", lambda: bce(x, y_grad), "other than the input"
    pw = torch.rand(5, requires_grad=True)
    yield "pos_weight-grad", lambda: bce(x, y, pos_weight=pw), "other than the input"
    yield "empty", lambda: focal(torch.zeros(0, 5), torch.zeros(0, 5)), "empty"
    meta = torch.empty(6, 5, device="meta")
    yield "meta-device", lambda: losskit.huber(meta, meta), "no kernel for device meta"


@pytest.mark.parametrize("name,call,reason", list(_fallback_cases()), ids=[c[0] for c in _fallback_cases()])
def test_fallback_is_taken_and_says_why(name, call, reason):
    with kernels.record() as used:
        fast_value = call()
    assert len(used) == 1 and used[0][1].startswith("reference: ") and reason in used[0][1], used
    if fast_value.device.type == "meta":
        return
    with kernels.disabled():
        ref_value = call()
    torch.testing.assert_close(fast_value, ref_value)


def test_inside_torch_compile_the_reference_math_serves(monkeypatch):
    """Under torch.compile the compiler traces the reference math (checked
    here through the flag torch.compile sets, to keep this file fast)."""
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    x, y = _case((4, 3), torch.float32, 10)
    with kernels.record() as used:
        losskit.sigmoid_focal(x, y)
    assert used == [("sigmoid_focal", "reference: inside torch.compile (the compiler fuses the reference math)")]


def test_functorch_transforms_take_the_reference_math():
    x, y = _case((5, 3), torch.float64, 12, "soft")
    with kernels.record() as used:
        grad = torch.func.grad(lambda z: losskit.sigmoid_focal(z, y, gamma=1.5))(x)
    assert used and all(p.startswith("reference: ") and "functorch" in p for _, p in used), used
    fast, _ = _both(losskit.sigmoid_focal, x, y, gamma=1.5)
    torch.testing.assert_close(grad, fast[1], rtol=1e-12, atol=1e-14)


def test_numpy_input_and_the_switch_take_the_reference_math():
    x, y = _case((4, 3), torch.float32, 11)
    with kernels.record() as used:
        losskit.mse(x.numpy(), y.numpy())
        losskit.binary_cross_entropy_with_logits(x.numpy(), y.numpy())
        with kernels.disabled():
            losskit.huber(x, y)
        losskit.huber(x, y)
    assert used == [("huber", "cpu")]


def test_bad_input_errors_are_unchanged_by_the_fast_path():
    x = torch.randn(3, 4)
    with pytest.raises(ValueError, match=r"target must be in \[0, 1\]"):
        losskit.binary_cross_entropy_with_logits(x, torch.full((3, 4), 1.5))
    with pytest.raises(ValueError, match="pos_weight must be"):
        losskit.binary_cross_entropy_with_logits(x, torch.zeros(3, 4), pos_weight=torch.ones(3))
    with pytest.raises(ValueError, match="delta"):
        losskit.huber(x, x, delta=0.0)
    with pytest.raises(ValueError, match="target must have shape"):
        losskit.mse(x, torch.zeros(4, 3))


# -- the vectorisable logs of kernels._numba ---------------------------------------


def _ulp_error(got, exact, dtype):
    """|got - exact| in units of the last place of ``exact`` rounded to ``dtype``."""
    spacing = np.spacing(np.abs(exact.astype(dtype))).astype(np.float64)
    return np.abs(got.astype(np.float64) - exact) / spacing


def _apply_logs():
    """A loop compiled with the kernels' flags (whose 'reassoc' must not undo
    the logs' compensated steps) that applies fast_log1p and fast_log."""
    from numba import njit

    from losskit.kernels._numba import JIT, fast_log, fast_log1p

    @njit(**dict(JIT, cache=False, error_model="numpy"))
    def apply(x, out1p, out):
        for i in range(x.size):
            out1p[i] = fast_log1p(x[i])
            out[i] = fast_log(x[i])

    return apply


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_log1p_and_fast_log_are_within_one_ulp(dtype):
    """Dense grids through [0, 1] and log-spaced over 60 decades (600 for
    float64). Exact values: float64 libm for float32; for float64 the libm
    result refined by one Newton step in extended precision."""
    x = np.concatenate([np.linspace(0.0, 1.0, 200_001), np.geomspace(1e-30, 1e30, 100_001),
                        np.geomspace(1e-300, 1e300, 20_001) if dtype == np.float64 else []]).astype(dtype)
    out1p, out = np.empty_like(x), np.empty_like(x)
    apply = _apply_logs()
    apply(x, out1p, out)
    x64 = x.astype(np.float64)
    positive = x64 > 0
    safe = np.where(positive, x64, 1.0)
    if dtype == np.float32:
        exact1p, exact = np.log1p(x64), np.log(safe)
    else:  # Newton on exp(y) = 1 + x (resp. x) in long double
        xl, y1p, yl = x64.astype(np.longdouble), np.log1p(x64).astype(np.longdouble), np.log(safe).astype(np.longdouble)
        exact1p = (y1p - (np.expm1(y1p) - xl) / np.exp(y1p)).astype(np.float64)
        exact = (yl - (np.exp(yl) - safe.astype(np.longdouble)) / np.exp(yl)).astype(np.float64)
    assert _ulp_error(out1p, exact1p, dtype).max() <= 1.0
    assert _ulp_error(out[positive], exact[positive], dtype).max() <= 1.0
    special = np.array([0.0, -0.0, np.inf, np.nan, -1.0, np.finfo(dtype).tiny / 8, np.finfo(dtype).smallest_subnormal],
                       dtype=dtype)
    s1p, s = np.empty_like(special), np.empty_like(special)
    apply(special, s1p, s)
    np.testing.assert_array_equal(s1p[:4], np.array([0.0, 0.0, np.inf, np.nan], dtype=dtype))
    np.testing.assert_array_equal(s[:5], np.array([-np.inf, -np.inf, np.inf, np.nan, np.nan], dtype=dtype))
    np.testing.assert_allclose(s[5:], np.log(special[5:].astype(np.float64)), rtol=2 * np.finfo(dtype).eps)


@pytest.mark.parametrize("half", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name", ["binary_cross_entropy_with_logits", "sigmoid_focal", "huber", "mse"])
def test_half_precision_inputs_run_the_kernel_in_float32(name, half):
    """As the reference math does: computed in float32, returned in the input's
    dtype, so a half input gives exactly the float32 result rounded."""
    fn = getattr(losskit, name)
    x, y = _case((6, 5), torch.float32, 11)
    xh = x.to(half)
    with kernels.record() as used:
        value = fn(xh.requires_grad_(), y, reduction="none")
    assert used == [(name, "cpu")] and value.dtype == half
    torch.testing.assert_close(value, fn(xh.detach().float(), y, reduction="none").to(half), rtol=0, atol=0)
    (grad,) = torch.autograd.grad(value.sum(), xh)
    assert grad.dtype == half


def test_below_its_crossover_mse_takes_the_reference_math_and_says_why(monkeypatch, kernels_at_every_size):
    from losskit.kernels import elementwise

    monkeypatch.setattr(elementwise, "MIN_CPU_ELEMENTS", kernels_at_every_size)
    small = torch.randn(32, 16, requires_grad=True)
    large = torch.randn(1 << 17, requires_grad=True)
    with losskit.kernels.record() as used:
        losskit.mse(small, torch.zeros(32, 16)).backward()
        losskit.mse(large, torch.zeros(1 << 17)).backward()
    assert used == [("mse", "reference: 512 elements, below the CPU kernel's crossover (131072)"), ("mse", "cpu")]
