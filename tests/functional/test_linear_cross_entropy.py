"""linear_cross_entropy (chunked over rows) equals the cross-entropy of the
full logits: ``losskit.cross_entropy(F.linear(hidden, weight, bias), target)``
on the reference math and ``torch.nn.functional.cross_entropy``, values and
gradients of hidden, weight and bias, for every option, reduction and dtype,
on both chunked paths (the numba kernel and torch ops); odd sizes, the plain
fallbacks, and bad input."""

import itertools

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("numba")

import torch.nn.functional as F

import losskit
from losskit import kernels
from losskit.kernels import linear_cross_entropy as lce_module  # the blockwise kernel machinery
from losskit.torch import LinearCrossEntropyLoss, linear_cross_entropy

TOL = {torch.float32: {"rtol": 3e-5, "atol": 3e-6}, torch.float64: {"rtol": 1e-11, "atol": 1e-13}}


@pytest.fixture(params=["cpu", "torch"])
def path(request, monkeypatch):
    """Run the blocks on the numba kernel ("cpu") or on torch ops ("torch",
    what a device without a kernel or a machine without numba gets)."""
    if request.param == "torch":
        monkeypatch.setattr(lce_module, "_cpu", "numba switched off by the test")
    return request.param


def _case(n, h, v, dtype, seed, *, bias=False, class_weight=False, ignored=0, leading=None):
    g = torch.Generator().manual_seed(seed)
    shape = (n,) if leading is None else leading
    hidden = torch.randn(*shape, h, generator=g, dtype=dtype)
    weight = torch.randn(v, h, generator=g, dtype=dtype)
    b = torch.randn(v, generator=g, dtype=dtype) if bias else None
    target = torch.randint(0, v, shape, generator=g)
    if ignored:
        flat = target.reshape(-1)
        flat[torch.randperm(flat.numel(), generator=g)[:ignored]] = -100
    cw = torch.rand(v, generator=g, dtype=dtype) + 0.1 if class_weight else None
    return hidden, weight, b, target, cw


def _reference(hidden, weight, b, target, **kw):
    """The plain path on the reference math, flattening leading axes."""
    with kernels.disabled():
        logits = F.linear(hidden.reshape(-1, hidden.shape[-1]), weight, b)
        value = losskit.cross_entropy(logits, target.reshape(-1), **kw)
    return value.reshape(target.shape) if kw.get("reduction") == "none" else value


def _run(fn, h, w, b, y, needs=(True, True, True), grad_out=None, **kw):
    """(value, gradients of the inputs that need one, paths recorded)."""
    inputs = [None if x is None else x.detach().clone().requires_grad_(need) for x, need in zip((h, w, b), needs)]
    with kernels.record() as used:
        value = fn(*inputs, y, **kw)
    wrt = [x for x in inputs if x is not None and x.requires_grad]
    go = torch.ones_like(value) if grad_out is None else grad_out
    grads = torch.autograd.grad(value, wrt, go) if wrt else ()
    return value.detach(), grads, used


def _fast(hidden, weight, b, target, **kw):
    return linear_cross_entropy(hidden, weight, target, linear_bias=b, **kw)


def _assert_close(got, want, dtype):
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), **TOL[dtype])
    assert got.dtype == want.dtype and got.shape == want.shape


def _compare(case, *, path, chunk_size, needs=(True, True, True), reduction="mean", **options):
    hidden, weight, b, target, cw = case
    dtype = hidden.dtype
    kw = dict(class_weight=cw, reduction=reduction, **options)
    go = torch.rand(target.shape, dtype=dtype, generator=torch.Generator().manual_seed(1)) \
        if reduction == "none" else torch.tensor(1.7, dtype=dtype)
    value, grads, used = _run(_fast, hidden, weight, b, target, needs, go, chunk_size=chunk_size, **kw)
    ref_value, ref_grads, _ = _run(_reference, hidden, weight, b, target, needs, go, **kw)
    assert used == [("linear_cross_entropy", path)]
    _assert_close(value, ref_value, dtype)
    assert len(grads) == len(ref_grads)
    for g, r in zip(grads, ref_grads):
        _assert_close(g, r, dtype)
    return value, grads


OPTIONS = [{}, {"label_smoothing": 0.2}, {"class_weight": True}, {"class_weight": True, "label_smoothing": 0.3},
           {"ignored": 4}, {"ignored": 4, "class_weight": True, "label_smoothing": 0.1}]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: "-".join(o) or "plain")
def test_equals_cross_entropy_of_full_logits(path, dtype, reduction, options):
    options = dict(options)
    case_kw = {"class_weight": options.pop("class_weight", False), "ignored": options.pop("ignored", 0)}
    for bias, (n, chunk) in itertools.product((False, True), ((13, 4), (12, 4), (9, 100))):
        case = _case(n, 6, 11, dtype, seed=n + chunk, bias=bias, **case_kw)
        _compare(case, path=path, chunk_size=chunk, reduction=reduction, **options)


def test_equals_torch_functional_cross_entropy(path):
    """The peer: F.cross_entropy on the full logits (options where it is defined)."""
    hidden, weight, b, target, cw = _case(21, 5, 9, torch.float64, seed=3, bias=True, class_weight=True, ignored=3)
    for reduction, eps in itertools.product(("mean", "sum", "none"), (0.0, 0.25)):
        got, grads, _ = _run(_fast, hidden, weight, b, target, class_weight=cw, label_smoothing=eps,
                             reduction=reduction, chunk_size=5)
        want, want_grads, _ = _run(lambda h, w, bb, y, **kw: F.cross_entropy(F.linear(h, w, bb), y, **kw),
                                   hidden, weight, b, target, weight=cw, label_smoothing=eps, reduction=reduction)
        _assert_close(got, want, torch.float64)
        for g, w in zip(grads, want_grads):
            _assert_close(g, w, torch.float64)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("needs", [(False, True, True), (True, False, False), (False, False, True), (True, True, False)],
                         ids=["weight-bias", "hidden", "bias", "hidden-weight"])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_only_the_inputs_that_need_a_gradient(path, dtype, needs, reduction):
    case = _case(10, 4, 7, dtype, seed=5, bias=True, ignored=2)
    _compare(case, path=path, chunk_size=3, needs=needs, reduction=reduction, label_smoothing=0.1)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("n,h,v,chunk", [(1, 3, 5, 1), (1, 3, 5, 8), (6, 4, 1, 4), (7, 1, 6, 2), (5, 3, 4, 1)],
                         ids=["one-row", "one-row-big-chunk", "one-class", "one-feature", "chunk-of-one"])
def test_odd_sizes(path, reduction, n, h, v, chunk):
    for dtype in (torch.float32, torch.float64):
        case = _case(n, h, v, dtype, seed=n * v, bias=True, class_weight=True)
        _compare(case, path=path, chunk_size=chunk, reduction=reduction, label_smoothing=0.1)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("class_weight", [False, True])
def test_all_targets_ignored_gives_zero_loss_and_gradient(path, reduction, class_weight):
    hidden, weight, b, target, cw = _case(9, 4, 6, torch.float64, seed=2, bias=True, class_weight=class_weight)
    target = torch.full_like(target, -100)
    value, grads = _compare((hidden, weight, b, target, cw), path=path, chunk_size=4, reduction=reduction)
    assert bool((value == 0).all())
    assert all(bool((g == 0).all()) for g in grads)


def test_leading_axes_are_flattened(path):
    hidden, weight, b, target, cw = _case(0, 5, 8, torch.float64, seed=4, bias=True, ignored=2, leading=(3, 4))
    for reduction in ("mean", "none"):
        value, grads = _compare((hidden, weight, b, target, cw), path=path, chunk_size=5, reduction=reduction)
        assert value.shape == (() if reduction == "mean" else (3, 4))
        assert grads[0].shape == hidden.shape


def test_one_unbatched_row(path):
    """hidden (H,) with a scalar target, as losskit.cross_entropy takes logits (C,)."""
    g = torch.Generator().manual_seed(6)
    hidden, weight, target = torch.randn(5, generator=g, dtype=torch.float64), \
        torch.randn(7, 5, generator=g, dtype=torch.float64), torch.tensor(3)
    for reduction in ("mean", "none"):
        value, grads, _ = _run(_fast, hidden, weight, None, target, reduction=reduction)
        with kernels.disabled():
            want, want_grads, _ = _run(lambda h, w, b, y, **kw: losskit.cross_entropy(h @ w.T, y, **kw),
                                       hidden, weight, None, target, reduction=reduction)
        _assert_close(value, want, torch.float64)
        for got, ref in zip(grads, want_grads):
            _assert_close(got, ref, torch.float64)


def test_default_chunk_size_is_used_and_bounded():
    case = _case(40, 3, 9, torch.float64, seed=8, bias=True)
    _compare(case, path="cpu", chunk_size=None, label_smoothing=0.1)
    for n, v in ((8192, 65536), (8192, 1 << 20), (3, 10), (100000, 32000), (5, 1), (7, 1 << 30)):
        rows = lce_module.default_chunk_size(n, v)
        assert 1 <= rows <= n
        assert rows * v <= 1 << 27 or rows == 1


def test_kernel_may_overwrite_its_logits_with_their_gradient():
    """cross_entropy_rows_kernel reads a row fully before writing its gradient, so
    the same array may be given as logits and gradient (same results)."""
    from losskit.kernels import softmax_cpu

    rng = np.random.default_rng(0)
    for dtype, eps, weighted in itertools.product((np.float32, np.float64), (0.0, 0.3), (False, True)):
        x = (rng.standard_normal((17, 301)) * 5).astype(dtype)
        labels, valid = rng.integers(0, 301, 17), rng.random(17) > 0.2
        cw = rng.random(301).astype(dtype) if weighted else np.zeros(0, dtype)
        args = (labels, valid, cw, dtype(eps), dtype(0.25))
        loss_apart, grad_apart = np.empty(17, dtype), np.empty_like(x)
        softmax_cpu.cross_entropy_rows_kernel(0, 17, x, *args, loss_apart, grad_apart, True)
        x_in_place, loss_in_place = x.copy(), np.empty(17, dtype)
        softmax_cpu.cross_entropy_rows_kernel(0, 17, x_in_place, *args, loss_in_place, x_in_place, True)
        np.testing.assert_array_equal(loss_in_place, loss_apart)
        np.testing.assert_array_equal(x_in_place, grad_apart)


def test_grad_output_scales_and_second_backward_runs_on_plain_math(path):
    hidden, weight, b, target, _ = _case(11, 4, 6, torch.float64, seed=9, bias=True, ignored=2)
    h, w = hidden.clone().requires_grad_(), weight.clone().requires_grad_()
    loss = linear_cross_entropy(h, w, target, linear_bias=b, chunk_size=4)
    (3.0 * loss).backward(retain_graph=True)
    first = (h.grad.clone(), w.grad.clone())
    h.grad = w.grad = None
    loss.backward()  # the saved gradients are spent: the plain path at the saved inputs
    _ref, ref_grads, _ = _run(_reference, hidden, weight, b, target, (True, True, False))
    for got, want in zip(first, ref_grads):
        _assert_close(got, 3.0 * want, torch.float64)
    _assert_close(h.grad, ref_grads[0], torch.float64)
    _assert_close(w.grad, ref_grads[1], torch.float64)


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_double_backward_equals_plain_path(path, reduction):
    hidden, weight, b, target, _ = _case(8, 3, 5, torch.float64, seed=10, bias=True)
    norms = []
    for fn in (_fast, _reference):
        h = hidden.clone().requires_grad_()
        kw = {"chunk_size": 3} if fn is _fast else {}
        value = fn(h, weight, b, target, reduction=reduction, **kw).sum()
        (grad,) = torch.autograd.grad(value, h, create_graph=True)
        (second,) = torch.autograd.grad(grad.square().sum(), h)
        norms.append((grad.detach(), second))
    for got, want in zip(*norms):
        _assert_close(got, want, torch.float64)


def test_without_autograd_returns_the_value(path):
    hidden, weight, b, target, cw = _case(10, 4, 7, torch.float32, seed=11, bias=True, class_weight=True)
    with torch.no_grad():
        got = linear_cross_entropy(hidden.requires_grad_(), weight, target, linear_bias=b, class_weight=cw,
                                   chunk_size=3)
    assert not got.requires_grad
    _assert_close(got, _reference(hidden, weight, b, target, class_weight=cw).detach(), torch.float32)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_takes_the_plain_path_in_float32(dtype):
    hidden, weight, b, target, _ = _case(10, 4, 7, torch.float32, seed=12, bias=True)
    hidden, weight, b = hidden.to(dtype), weight.to(dtype), b.to(dtype)
    value, grads, used = _run(_fast, hidden, weight, b, target, chunk_size=3)
    assert used[0][0] == "linear_cross_entropy" and used[0][1].startswith("reference: dtype")
    assert value.dtype == dtype and all(g.dtype == dtype for g in grads)
    logits = F.linear(hidden, weight, b).float()  # the loss is computed in float32 from the same logits
    np.testing.assert_allclose(float(value), float(F.cross_entropy(logits, target)), rtol=1e-2)


def test_switched_off_takes_the_plain_path(monkeypatch):
    case = _case(10, 4, 7, torch.float64, seed=13, bias=True)

    def no_blocks(*args, **kwargs):
        raise AssertionError("the chunked loop ran while fast paths were switched off")

    monkeypatch.setattr(lce_module, "_loop", no_blocks)
    with kernels.disabled():
        value, grads, used = _run(_fast, *case[:4], chunk_size=3)
    ref, ref_grads, _ = _run(_reference, *case[:4])
    assert used == []  # switched off is not recorded, as for the other fast paths
    _assert_close(value, ref, torch.float64)
    for g, r in zip(grads, ref_grads):
        _assert_close(g, r, torch.float64)


def test_autocast_computes_in_the_inputs_dtype(path):
    case = _case(10, 4, 7, torch.float32, seed=14, bias=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        value, grads, _ = _run(_fast, *case[:4], chunk_size=3)
    ref, ref_grads, _ = _run(_reference, *case[:4])
    _assert_close(value, ref, torch.float32)
    for g, r in zip(grads, ref_grads):
        _assert_close(g, r, torch.float32)


def test_module_holds_the_options(path):
    hidden, weight, b, target, cw = _case(12, 4, 7, torch.float64, seed=15, bias=True, class_weight=True, ignored=2)
    loss = LinearCrossEntropyLoss(class_weight=cw, label_smoothing=0.1, reduction="sum", chunk_size=5)
    assert "class_weight" in loss.state_dict() and "chunk_size=5" in repr(loss)
    got = loss(hidden, weight, target, linear_bias=b)
    want = _reference(hidden, weight, b, target, class_weight=cw, label_smoothing=0.1, reduction="sum")
    _assert_close(got, want, torch.float64)
    with pytest.raises(ValueError, match=r"LinearCrossEntropyLoss: chunk_size must be > 0"):
        LinearCrossEntropyLoss(chunk_size=0)
    with pytest.raises(ValueError, match=r"LinearCrossEntropyLoss: reduction must be one of"):
        LinearCrossEntropyLoss(reduction="avg")


def _bad_calls():
    h, w, y = torch.randn(4, 3), torch.randn(5, 3), torch.tensor([0, 1, 2, 4])
    return [
        ({"linear_weight": torch.randn(5, 2)}, ValueError, r"linear_weight must have shape \(V, 3\).*received shape \(5, 2\)"),
        ({"linear_weight": torch.randn(15)}, ValueError, r"linear_weight must have shape \(V, 3\).*received shape \(15,\)"),
        ({"target": torch.tensor([0, 1, 2])}, ValueError, r"target must have shape \(4,\).*received shape \(3,\)"),
        ({"target": y.float()}, TypeError, r"target must hold integer class indices.*received dtype torch.float32"),
        ({"target": torch.tensor([0, 1, 5, 1])}, ValueError, (r"target must hold class indices in \[0, 5\) or "
                                                               r"ignore_index=-100; received 5")),
        ({"target": torch.tensor([0, -1, 2, 1])}, ValueError, r"target must hold class indices in \[0, 5\).*received -1"),
        ({"linear_weight": w.double()}, TypeError, (r"linear_weight must have input's dtype torch.float32; received dtype "
                                             r"torch.float64")),
        ({"linear_bias": torch.randn(4)}, ValueError, r"linear_bias must have shape \(5,\).*received shape \(4,\)"),
        ({"linear_bias": torch.randn(5, dtype=torch.float64)}, TypeError, r"linear_bias must have input's dtype"),
        ({"class_weight": torch.rand(4)}, ValueError, r"class_weight must have shape \(5,\).*received shape \(4,\)"),
        ({"class_weight": -torch.ones(5)}, ValueError, r"class_weight must be >= 0; received -1.0"),
        ({"class_weight": torch.tensor([1.0, float("nan"), 1, 1, 1])}, ValueError, (r"class_weight must not "
                                                                                    r"contain NaN")),
        ({"input": h.long()}, TypeError, r"input must have a floating dtype; received dtype torch.int64"),
        ({"input": h.numpy()}, TypeError, (r"all arrays must come from one backend; received input=numpy.ndarray, "
                                               r"linear_weight=torch.Tensor")),
        ({"input": torch.tensor(1.0)}, ValueError, r"input must have a feature axis"),
        ({"chunk_size": 0}, ValueError, r"chunk_size must be a positive integer or None; received chunk_size=0"),
        ({"chunk_size": -3}, ValueError, r"chunk_size must be a positive integer or None; received chunk_size=-3"),
        ({"chunk_size": 2.0}, TypeError, r"chunk_size must be a positive integer or None; received float 2.0"),
        ({"chunk_size": True}, TypeError, r"chunk_size must be a positive integer or None; received bool True"),
        ({"reduction": "avg"}, ValueError, r"reduction must be one of 'none', 'mean', 'sum'"),
        ({"label_smoothing": 1.5}, ValueError, r"label_smoothing must be"),
        ({"ignore_index": 1.0}, TypeError, r"ignore_index must be an integer"),
    ]


@pytest.mark.parametrize("change,error,pattern", _bad_calls(), ids=lambda p: None)
def test_bad_input_raises_a_clear_error(change, error, pattern):
    args = {"input": torch.randn(4, 3), "linear_weight": torch.randn(5, 3), "target": torch.tensor([0, 1, 2, 4])}
    args.update(change)
    with pytest.raises(error, match="linear_cross_entropy: " + pattern):
        linear_cross_entropy(args.pop("input"), args.pop("linear_weight"), args.pop("target"), **args)
