"""losskit.torch.regularize: L1 / L2 / elastic-net penalties and the Regularized wrapper.

Values are checked against naive Python sums over hand-listed parameters,
gradients against their closed forms, L2 against torch.optim's weight_decay
step for step, and the elastic-net parameterisation against
sklearn.linear_model.ElasticNet's optimality conditions.
"""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

import losskit
from losskit.torch.regularize import (
    DEFAULT_EXCLUDED_TYPES,
    L1,
    L2,
    ElasticNet,
    Regularized,
    elastic_net,
    l1,
    l2,
)


class Net(nn.Module):
    """One layer of each kind the default selection treats differently."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(5, 3)
        self.conv = nn.Conv1d(3, 4, 2)
        self.bn = nn.BatchNorm1d(4)
        self.inorm = nn.InstanceNorm1d(4, affine=True)
        self.block = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4), nn.Linear(4, 2))
        self.gn = nn.GroupNorm(1, 2)
        self.rms = nn.RMSNorm(2)
        self.scale = nn.Parameter(torch.tensor([0.5, -1.5]))  # owned by Net itself


def make_net(seed=0, dtype=torch.float64):
    torch.manual_seed(seed)
    net = Net().to(dtype)
    with torch.no_grad():  # norm layers start at 1/0: give them values that would show up
        for p in net.parameters():
            p.uniform_(-1.0, 1.0)
    return net


DEFAULT_NAMES = ["scale", "embed.weight", "conv.weight", "block.0.weight", "block.2.weight"]  # named_parameters() order


def naive_sums(net, names):
    """(sum |w|, sum w^2) over the named parameters, element by element."""
    params = dict(net.named_parameters())
    values = [v for n in names for v in params[n].detach().double().flatten().tolist()]
    return sum(abs(v) for v in values), sum(v * v for v in values)


# -- values -------------------------------------------------------------------------


def test_default_selection_skips_biases_and_norm_layers_keeps_embeddings():
    names = [n for n, _ in L2(1.0).selected(make_net())]
    assert names == DEFAULT_NAMES


def test_default_excluded_types_cover_the_torch_norm_layers():
    norms = [nn.BatchNorm1d(2), nn.BatchNorm2d(2), nn.SyncBatchNorm(2), nn.InstanceNorm2d(2, affine=True),
             nn.LayerNorm(2), nn.GroupNorm(1, 2), nn.LocalResponseNorm(2), nn.RMSNorm(2)]
    assert all(isinstance(m, DEFAULT_EXCLUDED_TYPES) for m in norms)
    assert not any(isinstance(m, DEFAULT_EXCLUDED_TYPES) for m in (nn.Embedding(2, 2), nn.Linear(2, 2)))


@pytest.mark.parametrize("strength", [0.0, 0.3, 2.0])
def test_values_equal_naive_sums(strength):
    net = make_net()
    a, s = naive_sums(net, DEFAULT_NAMES)
    assert L1(strength)(net).item() == pytest.approx(strength * a, rel=1e-12)
    assert L2(strength)(net).item() == pytest.approx(strength * s / 2, rel=1e-12)
    for r in (0.0, 0.2, 0.5, 1.0):
        want = strength * (r * a + (1 - r) * s / 2)
        assert ElasticNet(strength, l1_ratio=r)(net).item() == pytest.approx(want, rel=1e-12)
        assert elastic_net(net, strength=strength, l1_ratio=r).item() == pytest.approx(want, rel=1e-12)
    assert l1(net, strength=strength).item() == pytest.approx(strength * a, rel=1e-12)
    assert l2(net, strength=strength).item() == pytest.approx(strength * s / 2, rel=1e-12)


def test_elastic_net_ends_are_l1_and_l2():
    net = make_net(1)
    assert torch.equal(ElasticNet(0.7, l1_ratio=1.0)(net), L1(0.7)(net))
    assert torch.equal(ElasticNet(0.7, l1_ratio=0.0)(net), L2(0.7)(net))


def test_function_forms_take_the_selection_arguments():
    net = make_net(2)
    kw = {"exclude": "embed.*", "exclude_biases": False}
    assert torch.equal(l1(net, strength=0.5, **kw), L1(0.5, **kw)(net))
    assert torch.equal(l2(net, strength=0.5, **kw), L2(0.5, **kw)(net))
    assert torch.equal(elastic_net(net, strength=0.5, l1_ratio=0.3, **kw), ElasticNet(0.5, l1_ratio=0.3, **kw)(net))


# -- gradients ---------------------------------------------------------------------


def test_gradients_are_the_closed_forms():
    strength, r = 0.3, 0.25
    for penalty, grad in [
        (L1(strength), lambda w: strength * torch.sign(w)),
        (L2(strength), lambda w: strength * w),
        (ElasticNet(strength, l1_ratio=r), lambda w: strength * (r * torch.sign(w) + (1 - r) * w)),
    ]:
        net = make_net(3)
        penalty(net).backward()
        for name, p in net.named_parameters():
            if name in DEFAULT_NAMES:
                assert (p != 0).all()  # sign(w) is the derivative only away from 0
                torch.testing.assert_close(p.grad, grad(p.detach()), rtol=1e-12, atol=0)
            else:
                assert p.grad is None, name


def test_l1_gradient_at_zero_is_zero():
    w = nn.Parameter(torch.tensor([0.0, 2.0, -3.0]))
    l1([w], strength=1.5).backward()
    assert w.grad.tolist() == [0.0, 1.5, -1.5]


# -- selection ---------------------------------------------------------------------


def names_of(penalty, model):
    return [n for n, _ in penalty.selected(model)]


def test_include_glob_narrows_and_keeps_default_exclusions():
    net = make_net()
    # "*" crosses dots; block.0.bias, block.1.* (LayerNorm) stay out
    assert names_of(L2(1.0, include="block.*"), net) == ["block.0.weight", "block.2.weight"]
    assert names_of(L2(1.0, include=["embed.*", "sc?le"]), net) == ["scale", "embed.weight"]


def test_exact_include_overrides_default_exclusions():
    net = make_net()
    got = names_of(L2(1.0, include=["block.0.bias", "bn.weight", "block.2.*"]), net)
    assert got == ["bn.weight", "block.0.bias", "block.2.weight"]


def test_exclude_glob_and_type_rules():
    net = make_net()
    assert names_of(L2(1.0, exclude=["block.*", "scale"]), net) == ["embed.weight", "conv.weight"]
    assert names_of(L2(1.0, include_types=nn.Linear), net) == ["block.0.weight", "block.2.weight"]
    assert names_of(L2(1.0, include_types=(nn.Conv1d, Net)), net) == ["scale", "conv.weight"]
    # exclude_types replaces the default: the norm layers are penalised now
    assert names_of(L2(1.0, exclude_types=(nn.Embedding, Net)), net) == [
        "conv.weight", "bn.weight", "inorm.weight", "block.0.weight", "block.1.weight", "block.2.weight",
        "gn.weight", "rms.weight",
    ]


def test_turning_defaults_off_selects_every_trainable_parameter():
    net = make_net()
    every = [n for n, _ in net.named_parameters()]
    assert names_of(L1(1.0, exclude_types=(), exclude_biases=False), net) == every
    # names ending in "bias" without a dot before it are biases too
    mha = nn.MultiheadAttention(4, 2)
    assert names_of(L2(1.0), mha) == ["in_proj_weight", "out_proj.weight"]


def test_tied_weights_counted_once_and_known_by_every_name():
    torch.manual_seed(0)
    model = nn.ModuleDict({"embed": nn.Embedding(6, 3), "head": nn.Linear(3, 6, bias=False)})
    model["head"].weight = model["embed"].weight  # tied
    w = model["embed"].weight.detach()
    assert names_of(L2(1.0), model) == ["embed.weight"]
    assert L2(2.0)(model).item() == pytest.approx(float((w.double() ** 2).sum()), rel=1e-6)
    # a name rule applies through any of its names
    assert names_of(L2(1.0, include="head.weight"), model) == ["embed.weight"]
    assert names_of(L2(1.0, exclude="head.*", allow_empty=True), model) == []


def test_shared_module_counted_once():
    torch.manual_seed(0)
    layer = nn.Linear(3, 3)
    model = nn.Sequential(layer, nn.Tanh(), layer)
    w = layer.weight.detach().double()
    assert names_of(L1(1.0), model) == ["0.weight"]
    assert L1(1.0)(model).item() == pytest.approx(float(w.abs().sum()), rel=1e-6)


def test_frozen_parameters_are_skipped():
    net = make_net()
    net.conv.requires_grad_(False)
    assert names_of(L2(1.0), net) == [n for n in DEFAULT_NAMES if n != "conv.weight"]
    assert names_of(L2(1.0, exclude_types=(), exclude_biases=False), net) == [
        n for n, p in net.named_parameters() if p.requires_grad
    ]


def test_iterable_of_tensors_is_the_selection():
    torch.manual_seed(0)
    lin = nn.Linear(3, 2)
    frozen = nn.Parameter(torch.ones(2), requires_grad=False)
    # biases are penalised here: there are no names to read
    params = [lin.weight, lin.bias, lin.weight, frozen]
    assert [n for n, _ in L2(1.0).selected(params)] == ["0", "1"]
    a = float(lin.weight.detach().abs().sum() + lin.bias.detach().abs().sum())
    assert l1(params, strength=1.0).item() == pytest.approx(a, rel=1e-6)
    assert l1(lin.parameters(), strength=1.0).item() == pytest.approx(a, rel=1e-6)
    assert l1(lin.weight, strength=1.0).item() == pytest.approx(float(lin.weight.detach().abs().sum()), rel=1e-6)


def test_empty_selection_with_allow_empty_is_zero_like_the_parameters():
    frozen = nn.Linear(2, 2).double().requires_grad_(False)
    out = L2(1.0, allow_empty=True)(frozen)
    assert out.dtype == torch.float64 and out.shape == () and out.item() == 0.0
    assert L1(1.0, allow_empty=True)(nn.ReLU()).item() == 0.0


# -- dtypes and devices --------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.float16])
def test_result_keeps_the_parameter_dtype(dtype):
    net = make_net(dtype=dtype)
    for penalty in (L1(0.5), L2(0.5), ElasticNet(0.5)):
        out = penalty(net)
        assert out.dtype == dtype and out.shape == ()
    a, _ = naive_sums(net, DEFAULT_NAMES)  # naive sum of the rounded values
    rel = {torch.bfloat16: 2e-2, torch.float16: 2e-3}.get(dtype, 1e-5)
    assert L1(0.5)(net).item() == pytest.approx(0.5 * a, rel=rel)


def test_mixed_dtypes_promote_and_device_follows_the_parameters():
    a = nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float32))
    b = nn.Parameter(torch.tensor([3.0], dtype=torch.float64))
    out = l2([a, b], strength=2.0)
    assert out.dtype == torch.float64 and out.item() == 14.0
    meta = nn.Linear(4, 4, device="meta")
    assert L2(1.0)(meta).device.type == "meta"


def test_complex_parameter_uses_the_modulus():
    z = nn.Parameter(torch.tensor([3 + 4j, 1j], dtype=torch.complex128))
    assert l2([z], strength=2.0).item() == pytest.approx(26.0)  # |z|^2 = 25 + 1
    assert l1([z], strength=1.0).item() == pytest.approx(6.0)  # |z| = 5 + 1


def test_default_penalty_compiles_to_one_graph():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4), nn.Linear(4, 1))
    penalty = ElasticNet(0.1, l1_ratio=0.3)
    compiled = torch.compile(lambda: penalty(model), backend="eager", fullgraph=True)
    torch.testing.assert_close(compiled(), penalty(model))


# -- the wrapper -----------------------------------------------------------------------


@pytest.mark.parametrize("loss", [losskit.mse, nn.MSELoss()], ids=["losskit.mse", "nn.MSELoss"])
def test_regularized_adds_the_penalty_and_keeps_both_terms(loss):
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    x, y = torch.randn(8, 3), torch.randn(8, 1)
    criterion = Regularized(loss, L2(0.2), model)
    total = criterion(model(x), y)
    data = ((model(x) - y) ** 2).mean()
    pen = 0.1 * (model.weight**2).sum()
    torch.testing.assert_close(total, data + pen)
    torch.testing.assert_close(criterion.last_data_loss, data.detach())
    torch.testing.assert_close(criterion.last_penalty, pen.detach())
    assert not criterion.last_penalty.requires_grad
    total.backward()
    grad = model.weight.grad.clone()
    model.zero_grad()
    (data + pen).backward()
    torch.testing.assert_close(grad, model.weight.grad)


def test_regularized_wraps_a_losskit_module():
    import losskit.torch

    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    x, y = torch.randn(8, 3), 3 * torch.randn(8, 1)
    criterion = Regularized(losskit.torch.module("huber", delta=1.0), L1(0.2), model)
    total = criterion(model(x), y)
    want = nn.functional.huber_loss(model(x), y, delta=1.0) + 0.2 * model.weight.abs().sum()
    torch.testing.assert_close(total, want)
    assert isinstance(criterion.loss, nn.Module)  # registered: .to() and state_dict reach it


def test_regularized_does_not_register_the_model():
    model = nn.Linear(3, 1)
    criterion = Regularized(nn.MSELoss(), L1(0.1), model)
    assert list(criterion.parameters()) == [] and list(criterion.state_dict()) == []
    assert criterion.model is model


def test_regularized_takes_a_sum_of_penalties_and_kwargs():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 1))
    first, last = L1(0.1, include="0.*"), L2(0.5, include="1.*")
    criterion = Regularized(losskit.mse, lambda m: first(m) + last(m), model)
    x, y = torch.randn(4, 3), torch.randn(4, 1)
    total = criterion(model(x), y, reduction="sum")
    want = ((model(x) - y) ** 2).sum() + 0.1 * model[0].weight.abs().sum() + 0.25 * (model[1].weight ** 2).sum()
    torch.testing.assert_close(total, want)


# -- training ------------------------------------------------------------------------


def regression_data(n=64, d=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = x[:, :1] * 2.0 + 0.1 * torch.randn(n, 1, generator=g, dtype=torch.float64)  # only feature 0 matters
    return x, y


def train(penalty, optimizer_fn, steps=15, seed=0, exclude_biases=True):
    x, y = regression_data()
    torch.manual_seed(seed)
    model = nn.Linear(4, 1).double()
    opt = optimizer_fn(model)
    history = []
    for _ in range(steps):
        opt.zero_grad()
        loss = losskit.mse(model(x), y)
        if penalty is not None:
            loss = loss + penalty(model)
        loss.backward()
        opt.step()
        history.append([p.detach().clone() for p in model.parameters()])
    return model, history


@pytest.mark.parametrize(
    "make_opt",
    [
        lambda params, wd: torch.optim.SGD(params, lr=0.05, weight_decay=wd),
        lambda params, wd: torch.optim.SGD(params, lr=0.05, momentum=0.9, nesterov=True, weight_decay=wd),
        lambda params, wd: torch.optim.Adam(params, lr=0.05, weight_decay=wd),
    ],
    ids=["sgd", "sgd-nesterov", "adam"],
)
def test_l2_trains_like_weight_decay_step_for_step(make_opt):
    wd = 0.3
    _, ours = train(L2(wd, exclude_biases=False), lambda m: make_opt(m.parameters(), 0.0))
    _, torchs = train(None, lambda m: make_opt(m.parameters(), wd))
    for a, b in zip(ours, torchs):
        for p, q in zip(a, b):
            torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-14)
    # not a test that cannot fail: without decay the trajectory differs
    _, plain = train(None, lambda m: make_opt(m.parameters(), 0.0))
    assert not torch.allclose(plain[-1][0], torchs[-1][0], rtol=1e-6, atol=0)


def test_default_l2_equals_weight_decay_on_the_selected_group():
    wd = 0.3
    penalty = L2(wd)

    def groups(model):
        chosen = {id(p) for _, p in penalty.selected(model)}
        decay = [p for p in model.parameters() if id(p) in chosen]
        rest = [p for p in model.parameters() if id(p) not in chosen]
        return torch.optim.SGD([{"params": decay, "weight_decay": wd}, {"params": rest, "weight_decay": 0.0}], lr=0.05)

    _, ours = train(penalty, lambda m: torch.optim.SGD(m.parameters(), lr=0.05))
    _, torchs = train(None, groups)
    for a, b in zip(ours, torchs):
        for p, q in zip(a, b):
            torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-14)


def test_l1_shrinks_the_irrelevant_weights():
    sgd = lambda m: torch.optim.SGD(m.parameters(), lr=0.05)
    plain, _ = train(None, sgd, steps=200)
    lasso, _ = train(L1(0.1), sgd, steps=200)
    irrelevant = lambda m: m.weight.detach()[0, 1:].abs()
    # with L1 the weights of features 1..3 hover within lr * strength of 0
    assert (irrelevant(lasso) < 0.05 * 0.1 * 1.5).all()
    assert irrelevant(lasso).sum() < irrelevant(plain).sum()
    assert lasso.weight.detach().abs().sum() < plain.weight.detach().abs().sum()


def test_elastic_net_matches_sklearn_optimality():
    # sklearn.linear_model.ElasticNet minimises
    #   1/(2n) |y - Xw|^2 + alpha * l1_ratio * |w|_1 + alpha * (1 - l1_ratio) / 2 * |w|^2
    # so at its solution 0.5 * mse + ElasticNet(alpha, l1_ratio) has zero gradient
    # on the nonzero weights and a data gradient within alpha * l1_ratio on the zero ones.
    sklearn = pytest.importorskip("sklearn.linear_model")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 6))
    y = x @ np.array([3.0, -2.0, 0.0, 0.0, 0.5, 0.0]) + 0.3 * rng.normal(size=80)
    alpha, r = 0.2, 0.6
    coef = sklearn.ElasticNet(alpha=alpha, l1_ratio=r, fit_intercept=False, tol=1e-14, max_iter=100_000).fit(x, y).coef_
    assert (coef == 0).any() and (coef != 0).any()
    model = nn.Linear(6, 1, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(torch.from_numpy(coef)[None])
    X, Y = torch.from_numpy(x), torch.from_numpy(y)[:, None]
    data = 0.5 * losskit.mse(model(X), Y)
    (data_grad,) = torch.autograd.grad(data, model.weight, retain_graph=True)
    (total_grad,) = torch.autograd.grad(data + ElasticNet(alpha, l1_ratio=r)(model), model.weight)
    nonzero = torch.from_numpy(coef != 0)[None]
    assert total_grad[nonzero].abs().max() < 1e-8
    assert (data_grad[~nonzero].abs() <= alpha * r + 1e-8).all()


# -- errors --------------------------------------------------------------------------

ERRORS = [
    (lambda: L1(-1.0), ValueError, r"^L1: strength must be finite and >= 0; received strength=-1\.0$"),
    (lambda: L2(float("nan")), ValueError, r"^L2: strength must be finite and >= 0; received strength=nan$"),
    (lambda: ElasticNet(math.inf), ValueError, r"^ElasticNet: strength must be finite and >= 0; received strength=inf$"),
    (lambda: L1(True), TypeError, r"^L1: strength must be a real number; received bool True$"),
    (lambda: l2([], strength="1"), TypeError, r"^l2: strength must be a real number; received str '1'$"),
    (lambda: ElasticNet(1.0, l1_ratio=1.5), ValueError, r"^ElasticNet: l1_ratio must be in \[0, 1\]; received l1_ratio=1\.5$"),
    (lambda: elastic_net(nn.Linear(2, 2), strength=1.0, l1_ratio=-0.1), ValueError,
     r"^elastic_net: l1_ratio must be in \[0, 1\]; received l1_ratio=-0\.1$"),
    (lambda: L2(1.0, include=[]), ValueError, r"^L2: include must hold at least one pattern; received an empty \(\)$"),
    (lambda: L2(1.0, include=["a", 3]), TypeError, r"^L2: include must contain non-empty strings; received 3$"),
    (lambda: L2(1.0, exclude=5), TypeError, r"^L2: exclude must be a glob pattern or a list of them; received int 5$"),
    (lambda: L2(1.0, exclude_types=[int]), TypeError, r"^L2: exclude_types must contain nn.Module subclasses; received <class 'int'>$"),
    (lambda: L2(1.0, include_types=nn.Linear(2, 2)), TypeError, r"^L2: include_types must be an nn.Module subclass or a tuple of them"),
    (lambda: L2(1.0, exclude_biases="yes"), TypeError, r"^L2: exclude_biases must be True or False; received 'yes'$"),
    (lambda: L2(1.0, include="blok.*")(make_net()), ValueError,
     r"^L2: include pattern 'blok\.\*' must match a parameter name; received a model whose names are scale, embed\.weight, .*\(17 in all\)$"),
    (lambda: L1(1.0, exclude="fc.weight")(nn.Linear(2, 2)), ValueError,
     r"^L1: exclude pattern 'fc\.weight' must match a parameter name; received a model whose names are weight, bias$"),
    (lambda: L2(1.0, include="block.0.bias", exclude="block.0.*")(make_net()), ValueError,
     (r"^L2: include entry 'block\.0\.bias' names a parameter exactly, so it must be penalised; "
      r"received one that is left out \(matches exclude 'block\.0\.\*'\)$")),
    (lambda: L2(1.0, include="weight")(nn.Linear(2, 2).requires_grad_(False)), ValueError,
     r"received one that is left out \(frozen\)$"),
    (lambda: L2(1.0)(nn.Linear(2, 2).requires_grad_(False)), ValueError,
     (r"^L2: the selection must hold at least one parameter \(or pass allow_empty=True\); "
      r"received 2 parameter\(s\), none selected: weight \(frozen\), bias \(frozen\)$")),
    (lambda: L2(1.0, include_types=nn.Conv2d)(nn.Sequential(nn.Linear(2, 2))), ValueError,
     r"none selected: 0\.weight \(Linear not in include_types\), 0\.bias \(Linear not in include_types\)$"),
    (lambda: L1(1.0)(nn.LayerNorm(3)), ValueError, r"weight \(LayerNorm in exclude_types\), bias \(a bias\)$"),
    (lambda: l1(3, strength=1.0), TypeError, r"^l1: model must be an nn.Module or an iterable of tensors; received int$"),
    (lambda: l1([torch.ones(2), 1.0], strength=1.0), TypeError,
     r"^l1: model must be an nn.Module or an iterable of tensors; received an iterable holding float$"),
    (lambda: L1(1.0, exclude="x")([torch.ones(2)]), ValueError,
     r"^L1: exclude must be left unset when model is an iterable of tensors .*; received an iterable of tensors$"),
    (lambda: Regularized("mse", L1(1.0), nn.Linear(2, 2)), TypeError, r"^Regularized: loss must be callable; received str$"),
    (lambda: Regularized(losskit.mse, 0.1, nn.Linear(2, 2)), TypeError, r"^Regularized: penalty must be callable; received float$"),
    (lambda: Regularized(losskit.mse, L1(1.0), nn.Linear(2, 2).parameters()), TypeError,
     r"^Regularized: model must be an nn.Module or a list/tuple of tensors; received generator$"),
    (lambda: Regularized(nn.MSELoss(reduction="none"), L1(1.0), nn.Linear(2, 2))(torch.ones(3), torch.zeros(3)),
     ValueError, r"^Regularized: loss must return a 0-dim tensor .*; received shape \(3,\)$"),
]


@pytest.mark.parametrize("call, error, pattern", ERRORS, ids=[str(i) for i in range(len(ERRORS))])
def test_bad_input_raises_in_the_house_style(call, error, pattern):
    with pytest.raises(error, match=pattern) as info:
        call()
    assert "; received " in str(info.value)


def test_repr_shows_the_configuration():
    assert repr(L2(0.01)) == "L2(strength=0.01)"
    assert repr(ElasticNet(0.5, l1_ratio=0.2, exclude="head.*", exclude_biases=False)) == (
        "ElasticNet(strength=0.5, l1_ratio=0.2, exclude=('head.*',), exclude_biases=False)"
    )


