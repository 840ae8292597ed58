"""The generated ``nn.Module`` of every registered loss equals its function.

Cases are drawn like the property suites': pointwise losses from their
domains (``sampling.py``), structured losses from their ``example``.
"""

from __future__ import annotations

import numpy as np
import pytest

import losskit
from helpers import to_numpy
from losskit.testing.sampling import draw_case, settings

torch = pytest.importorskip("torch", reason="losskit.torch needs torch")
lt = pytest.importorskip("losskit.torch")

CASES = [
    pytest.param(spec, params, id=spec.name + "".join(f"-{k}={v}" for k, v in params.items()))
    for spec in losskit.specs()
    for params in settings(spec)
]
DEFAULTS = [pytest.param(spec, id=spec.name) for spec in losskit.specs()]
# Array-valued parameters, one setting per loss that has one (N=12, C=4 in sampling.py).
TENSOR_PARAMS = {
    "cross_entropy": {"class_weight": [1.0, 2.0, 0.5, 1.5]},
    "nll": {"class_weight": [1.0, 2.0, 0.5, 1.5]},
    "poly1_cross_entropy": {"class_weight": [1.0, 2.0, 0.5, 1.5]},
    "multi_margin": {"class_weight": [1.0, 2.0, 0.5, 1.5]},
    "softmax_focal": {"alpha": [0.25, 0.5, 0.75, 1.0]},
    # one weight per label along the last axis: the drawn input is (12,), twelve labels of one sample
    "binary_cross_entropy_with_logits": {"pos_weight": [0.5, 1.0, 2.0, 3.0] * 3},
}


def arrays(spec, rng, dtype=torch.float64):
    """Torch arrays of one valid call; the prediction requires grad."""
    if spec.kind == "structured":
        args, kwargs = spec.example(rng)
        assert not kwargs, f"{spec.name}: example passes keyword arrays; the module test must learn them"
    else:
        _, x, y, extras = draw_case(spec, rng)
        args = [x, y, *(extras[n] for n in spec.extra_inputs)]
    out = [torch.from_numpy(np.asarray(a).copy()) for a in args]
    out = [a.to(dtype) if a.is_floating_point() else a for a in out]
    out[0].requires_grad_(True)
    return out


def weight_and_mask(spec, reference, rng):
    shape = tuple(reference.shape)
    return torch.from_numpy(rng.uniform(0.5, 2.0, size=shape)), torch.from_numpy(rng.random(shape) < 0.7)


def test_a_class_for_every_registered_loss():
    for spec in losskit.specs():
        cls = getattr(lt, lt.class_name(spec.name))
        assert issubclass(cls, torch.nn.Module) and cls.spec is spec
        assert cls is lt.module_class(spec.name)
        for alias in spec.aliases:
            assert lt.module_class(alias) is cls
    assert lt.HuberLoss is lt.module_class("huber")
    assert {lt.class_name(n) for n in ("mse", "nll", "kl_div", "ctc", "giou_loss", "binary_cross_entropy_with_logits")} \
        == {"MSELoss", "NLLLoss", "KLDivLoss", "CTCLoss", "GIoULoss", "BinaryCrossEntropyWithLogitsLoss"}


@pytest.mark.parametrize("spec,params", CASES)
def test_module_equals_function_in_values_and_gradients(spec, params, rng):
    args = arrays(spec, rng)
    weight = mask = None
    if spec.kind != "aggregate":  # defined on the whole batch: no per-sample weight or reduction
        weight, mask = weight_and_mask(spec, spec.function(*args, **params, reduction="none"), rng)
    for reduction in ("mean", "sum", "none") if spec.kind != "aggregate" else ("mean",):
        module = lt.module(spec.name, **params, reduction=reduction)
        got = module(*args, weight=weight, mask=mask)
        expected = spec.function(*args, **params, weight=weight, mask=mask, reduction=reduction)
        np.testing.assert_array_equal(to_numpy(got), to_numpy(expected))
        (g_module,) = torch.autograd.grad(got.sum(), args[0])
        (g_function,) = torch.autograd.grad(expected.sum(), args[0])
        np.testing.assert_array_equal(g_module.numpy(), g_function.numpy())


@pytest.mark.parametrize("name", sorted(TENSOR_PARAMS))
def test_tensor_parameters_are_buffers_that_follow_the_module(name, rng):
    spec = losskit.spec(name)
    params = TENSOR_PARAMS[name]
    module = lt.module(name, **params)
    (buffer_name,) = params
    assert dict(module.named_buffers()).keys() == {buffer_name}
    assert module.state_dict()[buffer_name].tolist() == params[buffer_name]
    args = arrays(spec, rng)
    expected = spec.function(*args, **{k: torch.tensor(v, dtype=torch.float64) for k, v in params.items()})
    np.testing.assert_allclose(to_numpy(module(*args)), to_numpy(expected), rtol=1e-6)
    # .to(dtype) moves buffers as .to(device) does; state_dict round-trips into a fresh module.
    module.double()
    assert getattr(module, buffer_name).dtype == torch.float64
    fresh = lt.module(name, **{buffer_name: [0.0] * len(params[buffer_name])})
    fresh.load_state_dict(module.state_dict())
    np.testing.assert_array_equal(to_numpy(fresh(*args)), to_numpy(module(*args)))
    assert lt.from_config(module.get_config()).get_config() == module.get_config()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
def test_buffers_follow_the_module_to_cuda(rng):
    module = lt.CrossEntropyLoss(class_weight=[1.0, 2.0, 0.5, 1.5]).to("cuda")
    assert module.class_weight.device.type == "cuda"
    logits = torch.randn(8, 4, device="cuda", requires_grad=True)
    target = torch.randint(0, 4, (8,), device="cuda")
    out = module(logits, target)
    expected = torch.nn.functional.cross_entropy(logits, target, weight=module.class_weight)
    torch.testing.assert_close(out, expected)
    out.backward()
    assert logits.grad.device.type == "cuda"


@pytest.mark.parametrize("spec", DEFAULTS)
def test_config_and_state_dict_round_trip(spec, rng):
    params = TENSOR_PARAMS.get(spec.name, {})
    reduction = "mean" if spec.kind == "aggregate" else "sum"
    module = lt.module(spec.name, **params, reduction=reduction)
    config = module.get_config()
    assert config["name"] == spec.name and config["reduction"] == reduction
    again = lt.from_config(config)
    assert type(again) is type(module) and again.get_config() == config
    again.load_state_dict(module.state_dict())
    args = arrays(spec, rng)
    np.testing.assert_array_equal(to_numpy(again(*args)), to_numpy(module(*args)))


def test_repr_reads_like_the_call():
    assert repr(lt.HuberLoss(delta=2.0)) == "HuberLoss(delta=2.0, reduction='mean')"
    assert repr(lt.MSELoss(reduction="sum")) == "MSELoss(reduction='sum')"
    assert repr(lt.CrossEntropyLoss(class_weight=[1.0, 2.0])) == (
        "CrossEntropyLoss(class_weight=[1.0, 2.0], ignore_index=-100, label_smoothing=0.0, reduction='mean')"
    )
    assert "tensor of shape (100,)" in repr(lt.CrossEntropyLoss(class_weight=torch.ones(100)))
    assert repr(lt.CenterLoss(num_classes=3, embedding_dim=2)) == (
        "CenterLoss(num_classes=3, embedding_dim=2, reduction='mean')"
    )


def test_learnable_centers_are_parameters_trained_by_the_loss():
    torch.manual_seed(0)
    module = lt.CenterLoss(num_classes=3, embedding_dim=2)
    assert [n for n, _ in module.named_parameters()] == ["centers"]
    embeddings = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [1.0, 0.0]])
    labels = torch.tensor([0, 1, 2, 0])
    expected = losskit.center_loss(embeddings, labels, module.centers)
    torch.testing.assert_close(module(embeddings, labels), expected)
    optimiser = torch.optim.SGD(module.parameters(), lr=0.5)
    for _ in range(200):
        optimiser.zero_grad()
        module(embeddings, labels).backward()
        optimiser.step()
    torch.testing.assert_close(module.centers.detach(), torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]),
                               atol=1e-4, rtol=0)
    config = module.get_config()
    assert (config["num_classes"], config["embedding_dim"]) == (3, 2)
    assert lt.from_config(config).centers.shape == (3, 2)


@pytest.mark.parametrize("spec", DEFAULTS)
def test_torch_compile_traces_and_runs_each_module(spec, rng):
    """Dynamo capture and AOT autograd for every module ("aot_eager": the
    whole compile pipeline but code generation, which the inductor test
    below covers on a few losses, to keep the suite fast on two cores)."""
    torch._dynamo.reset()
    module = lt.module(spec.name)
    args = arrays(spec, rng)
    compiled = torch.compile(module, backend="aot_eager")
    out = compiled(*args)
    (grad,) = torch.autograd.grad(out, args[0])
    expected = module(*args)
    (expected_grad,) = torch.autograd.grad(expected, args[0])
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad, expected_grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["mse", "cross_entropy"])
def test_torch_compile_with_inductor(name, rng):
    torch._dynamo.reset()
    spec = losskit.spec(name)
    module = lt.module(name)
    args = arrays(spec, rng, dtype=torch.float32)
    out = torch.compile(module)(*args)
    (grad,) = torch.autograd.grad(out, args[0])
    expected = module(*args)
    (expected_grad,) = torch.autograd.grad(expected, args[0])
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(grad, expected_grad)


@pytest.mark.parametrize("spec", DEFAULTS)
def test_autocast_keeps_float32_math(spec, rng):
    """Under autocast a model hands the loss bfloat16 activations; the module
    computes in float32 (matmuls included) and returns float32, as PyTorch's
    own losses do."""
    args = arrays(spec, rng, dtype=torch.float32)
    half = [a.detach().to(torch.bfloat16).requires_grad_(i == 0) if a.is_floating_point() else a
            for i, a in enumerate(args)]
    module = lt.module(spec.name)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = module(*half)
    assert out.dtype == torch.float32
    upcast = [a.detach().float() if a.is_floating_point() else a for a in half]
    torch.testing.assert_close(out, spec.function(*upcast), rtol=1e-6, atol=1e-6)
    out.backward()
    assert half[0].grad.dtype == torch.bfloat16 and torch.all(torch.isfinite(half[0].grad.float()))


def test_autocast_turns_off_low_precision_matmul_inside_the_loss():
    """info_nce multiplies embeddings: under autocast that matmul would run in
    bfloat16 if the module did not turn autocast off."""
    torch.manual_seed(0)
    query, key = torch.randn(16, 32), torch.randn(16, 32)
    module = lt.InfoNCELoss(temperature=0.05)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = module(query, key)
        plain = losskit.info_nce(query, key, temperature=0.05)
    exact = losskit.info_nce(query.double(), key.double(), temperature=0.05)
    assert abs(float(inside) - float(exact)) < 1e-5
    assert abs(float(plain) - float(exact)) > 1e-4  # what autocast does to the bare function


@pytest.mark.parametrize(
    "make,error,pattern",
    [
        (lambda: lt.HuberLoss(delta=-1.0), ValueError, r"HuberLoss: delta must be > 0; received delta=-1.0"),
        (lambda: lt.HuberLoss(beta=1.0), TypeError, r"HuberLoss: unknown parameter\(s\) beta; expected one of: delta"),
        (lambda: lt.MSELoss(reduction="avg"), ValueError, r"MSELoss: reduction must be one of"),
        (lambda: lt.CrossEntropyLoss(ignore_index=1.5), TypeError, r"ignore_index must be an integer"),
        (lambda: lt.CrossEntropyLoss(class_weight="abc"), TypeError, r"class_weight must be a number or a sequence"),
        (lambda: lt.CrossEntropyLoss(class_weight=torch.tensor([1, 2])), TypeError, r"floating tensor"),
        (lambda: lt.DiceLoss(mode="multi"), ValueError, r"DiceLoss: mode must be one of"),
        (lambda: lt.PoissonNLLLoss(log_input=1), TypeError, r"log_input must be True or False"),
        (lambda: lt.MSELoss(num_classes=3, embedding_dim=2), TypeError, r"owns no learnable array"),
        (lambda: lt.CenterLoss(num_classes=3), TypeError, r"must be given together"),
        (lambda: lt.CenterLoss(num_classes=0, embedding_dim=2), ValueError, r"num_classes must be a positive integer"),
        (lambda: lt.MSELoss()(torch.zeros(3)), TypeError, r"MSELoss: forward takes 2 arrays \(input, target\); received 1"),
        (lambda: lt.MSELoss()(torch.zeros(3), torch.zeros(4)), ValueError, r"mse: target must have"),
        (lambda: lt.module("hubber"), ValueError, r"Did you mean 'huber'"),
    ],
)
def test_bad_construction_and_calls_raise_clear_errors(make, error, pattern):
    with pytest.raises(error, match=pattern):
        make()
