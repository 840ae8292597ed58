"""losskit.torch.multitask: each method against its paper's definition on small cases
computed by hand (a fixed Jacobian: losses linear in the shared parameters), the
behaviours the papers claim, absent tasks, history, errors, the docs and the example."""

import itertools
import math
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

import losskit
from losskit.torch.multitask import (
    DWA,
    MGDA,
    CAGrad,
    Fixed,
    GradNorm,
    PCGrad,
    RandomWeighting,
    Uncertainty,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def one_thread():
    # Tiny tensors: one thread avoids oversubscription when the suite runs in parallel.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def value(t):
    return float(t.detach())


def linear_problem(rows, offsets=None):
    """Losses L_i = J_i . theta + b_i: task i's gradient is exactly row i of J."""
    jacobian = torch.tensor(np.asarray(rows, dtype=np.float64))
    theta = torch.zeros(jacobian.shape[1], dtype=torch.float64, requires_grad=True)
    offsets = [0.0] * len(rows) if offsets is None else offsets
    losses = [jacobian[i] @ theta + offsets[i] for i in range(len(rows))]
    return jacobian, theta, losses


def combined(method, rows, offsets=None):
    """The shared gradient a gradient-based method writes for the Jacobian ``rows``."""
    _, theta, losses = linear_problem(rows, offsets)
    method.backward(losses, [theta])
    return theta.grad.numpy()


# -- Fixed ----------------------------------------------------------------------------


def test_fixed_total_and_gradients():
    a = torch.tensor(2.0, requires_grad=True)
    b = torch.tensor(4.0, requires_grad=True)
    method = Fixed([1.5, 0.25])
    total = method([a * a, b])  # 1.5 * 4 + 0.25 * 4
    total.backward()
    assert value(total) == 7.0
    assert float(a.grad) == 1.5 * 2 * 2.0 and float(b.grad) == 0.25
    assert method.weights.tolist() == [1.5, 0.25]
    assert method.history == [{"step": 0, "weights": [1.5, 0.25], "losses": [4.0, 4.0]}]


def test_fixed_keeps_the_loss_dtype_at_least_float32():
    method = Fixed([0.5, 0.5])
    assert method([torch.tensor(1.0, dtype=torch.float64)] * 2).dtype == torch.float64
    assert method([torch.tensor(1.0, dtype=torch.float16)] * 2).dtype == torch.float32


# -- Uncertainty ----------------------------------------------------------------------


def test_uncertainty_total_and_gradients_by_hand():
    method = Uncertainty(2, task_types=["regression", "classification"])
    with torch.no_grad():
        method.log_variance.copy_(torch.tensor([0.0, math.log(2.0)]))
    l1 = torch.tensor(2.0, requires_grad=True)
    l2 = torch.tensor(3.0, requires_grad=True)
    total = method([l1, l2])
    total.backward()
    # 1/2 e^0 * 2 + 0/2  +  1 * e^-log2 * 3 + log(2)/2
    assert value(total) == pytest.approx(1.0 + 1.5 + 0.5 * math.log(2.0), rel=1e-6)
    # d/ds_i = -c_i e^-s_i L_i + 1/2;  d/dL_i = c_i e^-s_i
    np.testing.assert_allclose(method.log_variance.grad.numpy(), [-0.5, -1.0], rtol=1e-6)
    assert float(l1.grad) == pytest.approx(0.5) and float(l2.grad) == pytest.approx(0.5)
    np.testing.assert_allclose(method.weights.numpy(), [0.5, 0.5], rtol=1e-6)


def test_uncertainty_optimum_is_at_twice_c_times_the_loss():
    # minimising over s alone: exp(s_i) = 2 c_i L_i
    method = Uncertainty(2, task_types=["regression", "classification"])
    optimizer = torch.optim.Adam(method.parameters(), lr=0.05)
    for _ in range(600):
        optimizer.zero_grad()
        method.backward([torch.tensor(0.3), torch.tensor(0.3)])
        optimizer.step()
    np.testing.assert_allclose(method.log_variance.detach().exp().numpy(), [0.3, 0.6], rtol=1e-3)


def test_uncertainty_learns_a_smaller_weight_for_the_noisier_task():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 5, generator=g)
    y1 = x @ torch.randn(5, generator=g) + 0.1 * torch.randn(256, generator=g)
    y2 = x @ torch.randn(5, generator=g) + 1.0 * torch.randn(256, generator=g)  # 10x the noise
    torch.manual_seed(0)
    trunk, head1, head2 = torch.nn.Linear(5, 16), torch.nn.Linear(16, 1), torch.nn.Linear(16, 1)
    method = Uncertainty(2)
    params = [*trunk.parameters(), *head1.parameters(), *head2.parameters(), *method.parameters()]
    optimizer = torch.optim.Adam(params, lr=0.05)
    for _ in range(200):
        z = trunk(x)
        losses = [losskit.mse(head1(z).squeeze(-1), y1), losskit.mse(head2(z).squeeze(-1), y2)]
        optimizer.zero_grad()
        method.backward(losses)
        optimizer.step()
    w = method.weights
    assert w[1] < w[0] / 10  # the noise variance ratio is 100
    # and the weights sit at their optimum 1 / (2 L_i)
    np.testing.assert_allclose(w.numpy(), [0.5 / value(loss) for loss in losses], rtol=0.25)


def test_uncertainty_warns_when_its_parameters_are_not_optimised():
    method = Uncertainty(2)
    losses = [torch.tensor(2.0), torch.tensor(3.0)]
    for _ in range(10):
        method.backward(losses)  # gradients pile up, nothing steps
    with pytest.warns(UserWarning, match=r"Uncertainty: log_variance received gradients for 10 steps .* optimiser"):
        method.backward(losses)
    method = Uncertainty(2)
    optimizer = torch.optim.SGD(method.parameters(), lr=0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(12):
            optimizer.zero_grad()
            method.backward(losses)
            optimizer.step()
    assert method.steps == 12


# -- DWA ------------------------------------------------------------------------------


def dwa_reference(epoch_means, temperature):
    """w_i(t) from the paper, written out: 1 for t = 1, 2, then K softmax(r / T)."""
    k = len(epoch_means[0])
    out = []
    for t in range(len(epoch_means) + 1):
        if t < 2:
            out.append([1.0] * k)
        else:
            r = [epoch_means[t - 1][i] / epoch_means[t - 2][i] for i in range(k)]
            e = [math.exp(v / temperature) for v in r]
            out.append([k * v / sum(e) for v in e])
    return out


def test_dwa_weights_follow_the_epoch_means():
    epochs = [[(4.0, 2.0, 1.0), (2.0, 2.0, 3.0)], [(1.5, 2.0, 2.0), (1.5, 2.0, 2.0)], [(1.0, 1.0, 1.0), (0.5, 1.0, 3.0)]]
    means = [[float(np.mean([step[i] for step in epoch])) for i in range(3)] for epoch in epochs]
    expected = dwa_reference(means, temperature=2.0)
    method = DWA(3)
    for epoch in epochs:
        for step in epoch:
            method([torch.tensor(v) for v in step])
        method.epoch_end()
    used = [record["weights"] for record in method.history]
    for t in range(3):  # the weights used during epoch t
        np.testing.assert_allclose(used[2 * t], expected[t], rtol=1e-12)
        np.testing.assert_allclose(used[2 * t + 1], expected[t], rtol=1e-12)
    np.testing.assert_allclose(method.weights.numpy(), expected[3], rtol=1e-12)
    np.testing.assert_allclose(method.epoch_losses, np.array(means).T)
    assert not np.allclose(expected[3], 1.0)


def test_dwa_steps_per_epoch_ends_epochs_itself():
    sequence = [(3.0, 1.0), (1.0, 1.0), (2.0, 1.0), (1.0, 2.0), (0.5, 2.0), (0.5, 1.0), (1.0, 1.0)]
    manual, automatic = DWA(2, temperature=0.5), DWA(2, temperature=0.5, steps_per_epoch=2)
    for i, step in enumerate(sequence):
        manual([torch.tensor(v) for v in step])
        automatic([torch.tensor(v) for v in step])
        if i % 2 == 1:
            manual.epoch_end()
    assert [r["weights"] for r in manual.history] == [r["weights"] for r in automatic.history]
    # per step: r_i(t-1) = L_i(t-1) / L_i(t-2)
    per_step = DWA(2, temperature=0.5, steps_per_epoch=1)
    for step in sequence:
        per_step([torch.tensor(v) for v in step])
    expected = dwa_reference([list(s) for s in sequence], temperature=0.5)
    np.testing.assert_allclose([r["weights"] for r in per_step.history], expected[: len(sequence)], rtol=1e-12)


# -- RandomWeighting ------------------------------------------------------------------


@pytest.mark.parametrize("distribution", ["normal", "uniform"])
def test_random_weighting_is_softmax_of_the_draws(distribution):
    method = RandomWeighting(3, distribution=distribution, generator=torch.Generator().manual_seed(7))
    reference = torch.Generator().manual_seed(7)
    for _ in range(3):
        method([torch.tensor(1.0)] * 3)
        draw = torch.randn if distribution == "normal" else torch.rand
        z = draw(3, generator=reference, dtype=torch.float64)
        expected = np.exp(z.numpy()) / np.exp(z.numpy()).sum()
        np.testing.assert_allclose(method.weights.numpy(), expected, rtol=1e-12)


def test_random_weighting_dirichlet_moments():
    method = RandomWeighting(3, distribution="dirichlet", generator=torch.Generator().manual_seed(1),
                             record_history=False)
    draws = []
    for _ in range(4000):
        method([torch.tensor(1.0)] * 3)
        draws.append(method.weights.numpy())
    draws = np.array(draws)
    np.testing.assert_allclose(draws.sum(1), 1.0, rtol=1e-12)
    assert (draws > 0).all()
    # Dirichlet(1, 1, 1): mean 1/3, variance (1 * 2) / (3^2 * 4) = 1/18
    np.testing.assert_allclose(draws.mean(0), 1 / 3, atol=0.015)
    np.testing.assert_allclose(draws.var(0), 1 / 18, atol=0.005)


def test_random_weighting_total_uses_the_draw():
    method = RandomWeighting(2, generator=torch.Generator().manual_seed(3))
    total = method([torch.tensor(2.0), torch.tensor(5.0)])
    w = method.weights
    assert value(total) == pytest.approx(float(2 * w[0] + 5 * w[1]), rel=1e-6)
    assert method.weights.sum().item() == pytest.approx(1.0)


# -- GradNorm -------------------------------------------------------------------------


def gradnorm_gradient(weights, norms, values, initial, alpha):
    """dL_grad/dw_i from the paper's definition, task by task."""
    k = len(weights)
    g = [weights[i] * norms[i] for i in range(k)]
    g_bar = sum(g) / k
    tilde = [values[i] / initial[i] for i in range(k)]
    r = [t / (sum(tilde) / k) for t in tilde]
    return [math.copysign(norms[i], g[i] - g_bar * r[i] ** alpha) if g[i] != g_bar * r[i] ** alpha else 0.0
            for i in range(k)]


def test_gradnorm_two_steps_against_the_definition():
    # L_i = c_i * W_i + d_i: ||grad_W L_i|| = c_i, whatever W is
    c, d, alpha, lr = [4.0, 1.0, 0.5], [1.0, 2.0, 3.0], 1.5, 0.1
    W = torch.ones(3, dtype=torch.float64, requires_grad=True)
    method = GradNorm(3, alpha=alpha, shared_parameters=[W], lr=lr)
    reference = torch.ones(3, requires_grad=True)
    adam = torch.optim.Adam([reference], lr=lr)
    initial = None
    for point in ([1.0, 1.0, 1.0], [0.5, 2.0, 1.0]):
        with torch.no_grad():
            W.copy_(torch.tensor(point))
        losses = [c[i] * W[i] + d[i] for i in range(3)]
        values = [c[i] * point[i] + d[i] for i in range(3)]
        initial = values if initial is None else initial
        w_before = reference.detach().tolist()
        total = method(losses)
        assert value(total) == pytest.approx(sum(w * v for w, v in zip(w_before, values)), rel=1e-6)
        reference.grad = torch.tensor(gradnorm_gradient(w_before, c, values, initial, alpha), dtype=torch.float32)
        adam.step()
        with torch.no_grad():
            reference *= 3 / reference.sum()
        np.testing.assert_allclose(method.weights.numpy(), reference.detach().numpy(), rtol=1e-6)
    assert method.task_weights.grad is None
    assert not np.allclose(method.weights.numpy(), 1.0)


def test_gradnorm_network_gradient_treats_weights_as_constants():
    W = torch.tensor([1.0, 1.0], requires_grad=True)
    method = GradNorm(2, shared_parameters=[W])
    method.backward([3.0 * W[0], 5.0 * W[1]])
    np.testing.assert_allclose(W.grad.numpy(), [3.0, 5.0])  # w(t) = 1 for both
    assert method.task_weights.grad is None


def test_gradnorm_brings_the_gradient_norms_together():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(256, 5, generator=g)
    y1, y2 = x @ torch.randn(5, generator=g), 100.0 * (x @ torch.randn(5, generator=g))  # loss scales 1 : 1e4
    torch.manual_seed(0)
    trunk = torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.Tanh())
    head1, head2 = torch.nn.Linear(16, 1), torch.nn.Linear(16, 1)
    W = list(trunk[0].parameters())
    method = GradNorm(2, alpha=1.5, shared_parameters=W)
    optimizer = torch.optim.Adam([*trunk.parameters(), *head1.parameters(), *head2.parameters()], lr=0.01)

    def losses():
        z = trunk(x)
        return [losskit.mse(head1(z).squeeze(-1), y1), losskit.mse(head2(z).squeeze(-1), y2)]

    def norm_ratio():
        norms = []
        for w, loss in zip(method.weights.tolist(), losses()):
            grads = torch.autograd.grad(w * loss, W, retain_graph=True)
            norms.append(float(torch.cat([gr.reshape(-1) for gr in grads]).norm()))
        return max(norms) / min(norms)

    start = norm_ratio()
    for _ in range(200):
        optimizer.zero_grad()
        method.backward(losses())
        optimizer.step()
    end = norm_ratio()
    assert start > 10 and end < start / 4
    assert method.weights[0] > method.weights[1]  # the small-loss task gained weight
    assert float(method.weights.sum()) == pytest.approx(2.0, rel=1e-6)


# -- PCGrad ---------------------------------------------------------------------------


def pcgrad_reference(rows, orders):
    """Algorithm 1 of the paper on vectors: orders[i] is the order of the other tasks."""
    g = [np.array(r, dtype=float) for r in rows]
    out = []
    for i, order in enumerate(orders):
        pc = g[i].copy()
        for j in order:
            if pc @ g[j] < 0:
                pc = pc - (pc @ g[j]) / (g[j] @ g[j]) * g[j]
        out.append(pc)
    return out


def test_pcgrad_conflicting_pair_by_hand():
    g1, g2 = np.array([1.0, 0.0]), np.array([-1.0, 1.0])  # g1 . g2 = -1
    g1_pc = g1 - (-1.0 / 2.0) * g2  # (0.5, 0.5)
    g2_pc = g2 - (-1.0 / 1.0) * g1  # (0, 1)
    assert g1_pc @ g2 >= 0 and g2_pc @ g1 >= 0  # the conflicting components are gone
    method = PCGrad(2)
    np.testing.assert_allclose(combined(method, [g1, g2]), g1_pc + g2_pc)
    np.testing.assert_allclose(method.weights.numpy(), [2.0, 1.5])  # (g1 + g2/2) + (g2 + g1)
    np.testing.assert_allclose(combined(PCGrad(2, reduction="mean"), [g1, g2]), (g1_pc + g2_pc) / 2)


def test_pcgrad_without_conflict_is_the_plain_sum():
    rows = [[1.0, 0.0, 0.5], [0.5, 1.0, 0.0], [0.2, 0.3, 1.0]]
    method = PCGrad(3)
    np.testing.assert_allclose(combined(method, rows), np.sum(rows, axis=0))
    np.testing.assert_allclose(method.weights.numpy(), [1.0, 1.0, 1.0])


def test_pcgrad_removes_the_conflict_the_sum_has():
    rng = np.random.default_rng(0)
    for _ in range(20):
        g1 = rng.normal(size=4)
        u = rng.normal(size=4)
        u -= (u @ g1) / (g1 @ g1) * g1
        g2 = -0.2 * g1 + 0.1 * np.linalg.norm(g1) * u / np.linalg.norm(u)  # small, opposed: the sum hurts task 2
        assert (g1 + g2) @ g2 < 0
        d = combined(PCGrad(2), [g1, g2])
        assert d @ g1 >= -1e-12 and d @ g2 >= -1e-12


def test_pcgrad_three_tasks_follow_a_random_order():
    rows = [[1.0, 0.0, 0.0], [-0.6, 1.0, 0.0], [-0.5, -0.8, 0.4]]
    others = [[j for j in range(3) if j != i] for i in range(3)]
    outcomes = []
    for orders in itertools.product(*[list(itertools.permutations(o)) for o in others]):
        outcomes.append(np.sum(pcgrad_reference(rows, orders), axis=0))
    seen = set()
    for seed in range(16):
        result = combined(PCGrad(3, generator=torch.Generator().manual_seed(seed)), rows)
        matches = [k for k, outcome in enumerate(outcomes) if np.allclose(result, outcome, atol=1e-12)]
        assert matches
        seen.add(tuple(np.round(result, 9)))
    assert len(seen) > 1  # the order matters here, and it is drawn
    same = [combined(PCGrad(3, generator=torch.Generator().manual_seed(5)), rows) for _ in range(2)]
    np.testing.assert_array_equal(same[0], same[1])


def test_gradient_methods_give_heads_the_plain_gradient_and_accumulate():
    torch.manual_seed(0)
    trunk, head1, head2 = torch.nn.Linear(3, 4), torch.nn.Linear(4, 1), torch.nn.Linear(4, 1)
    x = torch.randn(8, 3)

    def losses():
        z = trunk(x)
        return [head1(z).pow(2).mean(), (head2(z) - 1).abs().mean()]

    plain = torch.autograd.grad(sum(losses()), [*head1.parameters(), *head2.parameters()])
    for method in (PCGrad(2), MGDA(2), CAGrad(2)):
        for p in [*trunk.parameters(), *head1.parameters(), *head2.parameters()]:
            p.grad = torch.ones_like(p)  # gradients already there are added to
        method.backward(losses(), trunk)
        for p, g in zip([*head1.parameters(), *head2.parameters()], plain):
            torch.testing.assert_close(p.grad, g + 1)
        task_grads = [torch.autograd.grad(loss, trunk.weight, retain_graph=True) for loss in losses()]
        expected = sum(w * g[0] for w, g in zip(method.weights.tolist(), task_grads))
        torch.testing.assert_close(trunk.weight.grad, expected + 1)


# -- MGDA -----------------------------------------------------------------------------


def simplex_grid(k, n):
    for point in itertools.product(range(n + 1), repeat=k - 1):
        if sum(point) <= n:
            yield np.array([*point, n - sum(point)]) / n


def test_mgda_two_tasks_closed_form():
    # min over gamma of ||gamma g1 + (1 - gamma) g2||^2: gamma = g2.(g2 - g1) / ||g1 - g2||^2
    method = MGDA(2)
    np.testing.assert_allclose(combined(method, [[1.0, 0.0], [0.0, 2.0]]), [0.8, 0.4])
    np.testing.assert_allclose(method.weights.numpy(), [0.8, 0.2])
    # one gradient is the shorter one on a line: the min-norm point is that vertex
    np.testing.assert_allclose(combined(MGDA(2), [[1.0, 0.0], [3.0, 0.0]]), [1.0, 0.0])
    # opposed gradients: 0 lies on the segment (Pareto stationary)
    np.testing.assert_allclose(combined(MGDA(2), [[1.0, 1.0], [-2.0, -2.0]]), [0.0, 0.0], atol=1e-15)


def test_mgda_three_tasks_is_the_min_norm_convex_combination():
    rows = np.array([[1.0, 0.2, 0.0], [-0.3, 1.0, 0.1], [0.2, -0.4, 1.0]])
    method = MGDA(3)
    d = combined(method, rows)
    alpha = method.weights.numpy()
    np.testing.assert_allclose(alpha @ rows, d, atol=1e-12)
    assert (alpha >= 0).all() and alpha.sum() == pytest.approx(1.0)
    grid_best = min(np.linalg.norm(w @ rows) for w in simplex_grid(3, 200))
    assert np.linalg.norm(d) <= grid_best + 1e-12
    gram = rows @ rows.T
    solved = minimize(lambda w: w @ gram @ w, np.full(3, 1 / 3), jac=lambda w: 2 * gram @ w, method="SLSQP",
                      bounds=[(0, 1)] * 3, constraints={"type": "eq", "fun": lambda w: w.sum() - 1},
                      options={"ftol": 1e-15})
    np.testing.assert_allclose(alpha, solved.x, atol=1e-6)


@pytest.mark.parametrize("seed", range(6))
def test_mgda_optimality_certificate_on_random_and_degenerate_hulls(seed):
    rng = np.random.default_rng(seed)
    k, p = [(3, 5), (5, 2), (6, 3), (4, 4), (7, 10), (5, 3)][seed]
    rows = rng.normal(size=(k, p)) + rng.normal(size=p)
    if seed % 2:
        rows[1] = rows[0]  # duplicated gradients
    method = MGDA(k)
    d = combined(method, rows)
    alpha = method.weights.numpy()
    assert (alpha >= 0).all() and alpha.sum() == pytest.approx(1.0)
    # x is the min-norm point of the hull iff g_j . x >= ||x||^2 for every vertex g_j
    scale = (rows**2).sum(1).max()
    assert (rows @ d >= d @ d - 1e-10 * scale).all()
    assert all(np.linalg.norm(d) <= np.linalg.norm(w @ rows) + 1e-9 for w in rng.dirichlet(np.ones(k), 2000))


def test_mgda_normalizations_weight_the_raw_gradients():
    rows = [[2.0, 0.0], [0.0, 1.0]]
    np.testing.assert_allclose(combined(MGDA(2), rows), [0.4, 0.8])  # gamma = 1/5
    method = MGDA(2, normalization="l2")  # unit vectors: alpha = (1/2, 1/2), applied to the raw g_i
    np.testing.assert_allclose(combined(method, rows), [1.0, 0.5])
    np.testing.assert_allclose(method.weights.numpy(), [0.5, 0.5])
    method = MGDA(2, normalization="loss")  # g_i / L_i = (1, 0), (0, 1/4)
    np.testing.assert_allclose(combined(method, rows, offsets=[2.0, 4.0]), np.array([1 / 17, 16 / 17]) @ rows)
    method = MGDA(2, normalization="loss+")  # g_i / (L_i ||g_i||): (1/2, 0), (0, 1/4)
    np.testing.assert_allclose(combined(method, rows, offsets=[2.0, 4.0]), np.array([0.2, 0.8]) @ rows)


# -- CAGrad ---------------------------------------------------------------------------


def cagrad_scipy(rows, c):
    g = np.array(rows, dtype=float)
    g0 = g.mean(0)
    radius = c * np.linalg.norm(g0)

    def dual(w):
        gw = w @ g
        return gw @ g0 + radius * np.sqrt(gw @ gw + 1e-30)

    k = len(g)
    best = None
    for start in [np.full(k, 1 / k), *np.eye(k) * 0.9 + 0.1 / k]:
        res = minimize(dual, start, method="SLSQP", bounds=[(0, 1)] * k,
                       constraints={"type": "eq", "fun": lambda w: w.sum() - 1}, options={"ftol": 1e-15})
        best = res if best is None or res.fun < best.fun else best
    gw = best.x @ g
    return g0 + radius / np.linalg.norm(gw) * gw


@pytest.mark.parametrize("rows, c", [
    ([[1.0, 0.0], [-0.5, 1.0]], 0.5),
    ([[1.0, 0.2, 0.0], [-0.8, 1.0, 0.1], [0.1, -0.7, 1.0]], 0.4),
    ([[3.0, 0.0, 1.0, 0.0], [-1.0, 0.5, 0.0, 0.2], [0.0, -1.0, 0.3, 1.0], [0.5, 0.5, -2.0, 0.1]], 0.8),
])
def test_cagrad_matches_a_direct_solve_of_its_dual(rows, c):
    expected = cagrad_scipy(rows, c)
    np.testing.assert_allclose(combined(CAGrad(len(rows), c=c, rescale=False), rows), expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(combined(CAGrad(len(rows), c=c), rows), expected / (1 + c**2), rtol=1e-5, atol=1e-7)


def test_cagrad_maximises_the_worst_improvement_in_its_ball():
    rows = np.array([[1.0, 0.2, 0.0], [-0.8, 1.0, 0.1], [0.1, -0.7, 1.0]])
    c = 0.6
    d = combined(CAGrad(3, c=c, rescale=False), rows)
    g0 = rows.mean(0)
    radius = c * np.linalg.norm(g0)
    assert np.linalg.norm(d - g0) == pytest.approx(radius, rel=1e-9)
    rng = np.random.default_rng(0)
    u = rng.normal(size=(20000, 3))
    u *= (radius * rng.uniform(size=(20000, 1)) ** (1 / 3)) / np.linalg.norm(u, axis=1, keepdims=True)
    worst = (rows @ (g0 + u).T).min(0)
    assert (rows @ d).min() >= worst.max() - 1e-9
    assert (rows @ d).min() > (rows @ g0).min()  # better than the average gradient for the worst task


def test_cagrad_with_c_zero_is_the_average_gradient():
    rows = [[1.0, 0.0, 2.0], [-3.0, 1.0, 0.0], [0.5, 0.5, 0.5]]
    np.testing.assert_allclose(combined(CAGrad(3, c=0.0), rows), np.mean(rows, axis=0))


# -- absent tasks ---------------------------------------------------------------------

ALL_METHODS = ["Fixed", "Uncertainty", "DWA", "RandomWeighting", "GradNorm", "PCGrad", "MGDA", "CAGrad"]


def build(name, k, seed=0):
    return {
        "Fixed": lambda: Fixed([1.0, 2.0, 0.5][:k]),
        "Uncertainty": lambda: Uncertainty(k),
        "DWA": lambda: DWA(k, steps_per_epoch=2),
        "RandomWeighting": lambda: RandomWeighting(k, generator=torch.Generator().manual_seed(seed)),
        "GradNorm": lambda: GradNorm(k, lr=0.1),
        "PCGrad": lambda: PCGrad(k, generator=torch.Generator().manual_seed(seed)),
        "MGDA": lambda: MGDA(k),
        "CAGrad": lambda: CAGrad(k),
    }[name]()


def test_absent_task_gradient_methods_use_the_present_tasks_only():
    rows = [[1.0, 0.0, 0.5], [5.0, -3.0, 2.0], [-0.7, 1.0, 0.0]]
    for name in ("PCGrad", "MGDA", "CAGrad"):
        _, theta, losses = linear_problem(rows)
        method = build(name, 3)
        method.backward([losses[0], None, losses[2]], [theta])
        np.testing.assert_allclose(theta.grad.numpy(), combined(build(name, 2), [rows[0], rows[2]]), atol=1e-12)
        assert math.isnan(method.history[-1]["weights"][1]) and math.isnan(method.history[-1]["losses"][1])


def test_absent_task_loss_methods_leave_the_others_undisturbed():
    values = [(2.0, 7.0, 3.0), (1.5, 6.0, 3.5), (1.0, 9.0, 2.0), (1.2, 5.0, 2.5), (0.7, 4.0, 1.0)]
    runs = {}
    for name in ("Fixed", "Uncertainty", "DWA", "RandomWeighting"):
        three, full = build(name, 3), build(name, 3)
        two = Fixed([1.0, 0.5]) if name == "Fixed" else build(name, 2)
        for v in values:
            total3 = three([torch.tensor(v[0]), None, torch.tensor(v[2])])
            total2 = two([torch.tensor(v[0]), torch.tensor(v[2])])
            full([torch.tensor(x) for x in v])
            if name in ("Fixed", "Uncertainty"):
                assert value(total3) == pytest.approx(value(total2), rel=1e-12)
        assert all(math.isnan(r["weights"][1]) and math.isnan(r["losses"][1]) for r in three.history)
        runs[name] = three, two, full
    for name in ("Fixed", "Uncertainty"):
        three, two, _ = runs[name]
        np.testing.assert_allclose(three.weights.numpy()[[0, 2]], two.weights.numpy(), rtol=1e-12)
    # RLW: the same draws as when the task is present
    three, _, full = runs["RandomWeighting"]
    np.testing.assert_array_equal(three.weights.numpy(), full.weights.numpy())
    # DWA: the others' epoch means are those of a run without the task; its ratio stays 1
    three, two, _ = runs["DWA"]
    assert three.epoch_losses[1] == [] and [three.epoch_losses[0], three.epoch_losses[2]] == two.epoch_losses
    r = [1.1 / 1.75, 1.0, 2.25 / 3.25]  # epochs of two steps: (2, 1.5) -> (1, 1.2) and (3, 3.5) -> (2, 2.5)
    np.testing.assert_allclose(three.weights.numpy(), 3 * np.exp(np.array(r) / 2) / np.exp(np.array(r) / 2).sum())


def test_absent_task_uncertainty_parameter_gets_no_gradient():
    method = Uncertainty(3)
    method.backward([torch.tensor(2.0), None, torch.tensor(3.0)])
    assert method.log_variance.grad[1] == 0 and method.log_variance.grad[0] != 0


def test_absent_task_gradnorm_weight_stays_and_the_others_match_a_smaller_run():
    def run(k, absent):
        W = torch.tensor([1.0, 1.0], requires_grad=True)
        method = GradNorm(k, alpha=1.0, shared_parameters=[W], lr=0.05)
        for step in range(6):
            a, b = 3.0 / (step + 1), 1.0
            losses = [a * W[0] * W[0], b * W[1] + 0.2 * W[0]]
            method(losses[:1] + [None] + losses[1:] if absent else losses)
            with torch.no_grad():
                W -= 0.05 * torch.tensor([2 * a, b])
        return method.weights.numpy()

    with_absent, alone = run(3, True), run(2, False)
    assert with_absent[1] == 1.0
    np.testing.assert_allclose(with_absent[[0, 2]], alone, rtol=1e-6)
    assert not np.allclose(alone, 1.0)


@pytest.mark.parametrize("name", ALL_METHODS)
def test_a_batch_without_any_task_changes_nothing(name):
    theta = torch.ones(2, requires_grad=True)
    theta.grad = torch.full((2,), 0.5)
    method = build(name, 2)
    before = method.weights
    total = method.backward([None, None], [theta])
    assert value(total) == 0.0
    torch.testing.assert_close(theta.grad, torch.full((2,), 0.5))
    assert method.steps == 1 and all(math.isnan(w) for w in method.history[0]["weights"])
    if name not in ("PCGrad", "MGDA", "CAGrad", "RandomWeighting"):  # NaN before a step | a fresh draw
        torch.testing.assert_close(method.weights, before)


@pytest.mark.parametrize("name", ["PCGrad", "MGDA", "CAGrad"])
def test_gradient_methods_keep_a_low_precision_parameter_dtype(name):
    rows = [[1.0, 0.0], [-0.5, 1.0]]
    jacobian = torch.tensor(rows, dtype=torch.bfloat16)
    theta = torch.zeros(2, dtype=torch.bfloat16, requires_grad=True)
    build(name, 2).backward([jacobian[0] @ theta, jacobian[1] @ theta], [theta])
    assert theta.grad.dtype == torch.bfloat16
    np.testing.assert_allclose(theta.grad.float().numpy(), combined(build(name, 2), rows), rtol=2e-2, atol=1e-2)


# -- the one interface ----------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_METHODS)
def test_every_method_trains_with_the_same_loop(name):
    torch.manual_seed(0)
    x = torch.randn(32, 4)
    y_cls, y_reg = (x[:, 0] > 0).long(), x[:, 1] - x[:, 2]
    trunk = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh())
    heads = torch.nn.Linear(8, 2), torch.nn.Linear(8, 1)
    method = build(name, 2)
    model_params = [*trunk.parameters(), *heads[0].parameters(), *heads[1].parameters()]
    optimizer = torch.optim.SGD([*model_params, *method.parameters()], lr=0.1)
    start = [p.detach().clone() for p in model_params]
    for _ in range(4):
        z = trunk(x)
        losses = [losskit.cross_entropy(heads[0](z), y_cls), losskit.mse(heads[1](z).squeeze(-1), y_reg)]
        optimizer.zero_grad()
        total = method.backward(losses, trunk[0] if name == "GradNorm" else trunk)
        optimizer.step()
        assert total.ndim == 0 and math.isfinite(value(total))
    assert all(not torch.equal(p, s) for p, s in zip(model_params, start))
    assert method.steps == 4 and len(method.history) == 4
    assert np.isfinite(method.weights.numpy()).all()


@pytest.mark.parametrize("name", ["Fixed", "Uncertainty", "DWA", "RandomWeighting", "GradNorm"])
def test_eval_mode_changes_no_state(name):
    W = torch.tensor([1.0, 2.0], requires_grad=True)
    method = build(name, 2)
    for _ in range(3):
        method([W[0] * 2.0, W[1] ** 2], W)
    before, history = method.weights, len(method.history)
    method.eval()
    total = method([W[0] * 2.0, W[1] ** 2], W)
    weights = before.tolist()
    expected = weights[0] * 2.0 + weights[1] * 4.0
    if name == "Uncertainty":
        expected += 0.5 * value(method.log_variance.sum())
    assert value(total) == pytest.approx(expected, rel=1e-6)
    torch.testing.assert_close(method.weights, before)
    assert len(method.history) == history and method.steps == history


def test_gradient_methods_have_no_total_to_return():
    _, _, losses = linear_problem([[1.0], [2.0]])
    with pytest.raises(TypeError, match=r"PCGrad: combines gradients.*method\.backward\(losses, shared_parameters\)"):
        PCGrad(2)(losses)


# -- history --------------------------------------------------------------------------


def test_history_rows_and_steps():
    method = Fixed([1.0, 3.0], task_names=["cls", "reg"])
    method([torch.tensor(2.0), torch.tensor(1.0)])
    method([None, torch.tensor(0.5)])
    rows = method.history_as_rows()
    assert rows[:3] == [
        {"step": 0, "task": "cls", "weight": 1.0, "loss": 2.0},
        {"step": 0, "task": "reg", "weight": 3.0, "loss": 1.0},
        {"step": 1, "task": "cls", "weight": rows[2]["weight"], "loss": rows[2]["loss"]},
    ]
    assert math.isnan(rows[2]["weight"]) and math.isnan(rows[2]["loss"])
    assert rows[3] == {"step": 1, "task": "reg", "weight": 3.0, "loss": 0.5}
    quiet = Fixed([1.0], record_history=False)
    quiet([torch.tensor(1.0)])
    assert quiet.history == [] and quiet.steps == 1


def test_plot_history_names_the_missing_dependency(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"Fixed\.plot_history needs matplotlib.*pip install matplotlib"):
        Fixed([1.0]).plot_history()


def test_plot_history_draws_one_line_per_task():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    method = Fixed([1.0, 2.0])
    for _ in range(3):
        method([torch.tensor(1.0), torch.tensor(1.0)])
    ax = method.plot_history()
    assert [line.get_label() for line in ax.get_lines()] == ["task0", "task1"]


# -- errors ---------------------------------------------------------------------------

_t = torch.tensor


def _losses_call(method, losses, *rest):
    return lambda: method(losses, *rest)


ERRORS = [
    (lambda: Fixed([]), TypeError, r"Fixed: weights must be a non-empty sequence of numbers; received \[\]"),
    (lambda: Fixed([1.0, -1.0]), ValueError, r"Fixed: weights\[1\] must be a finite number >= 0; received weights\[1\]=-1.0"),
    (lambda: Fixed([1.0, math.inf]), ValueError, r"weights\[1\] must be a finite number >= 0; received weights\[1\]=inf"),
    (lambda: Fixed(["a"]), TypeError, r"Fixed: weights\[0\] must be a real number; received str 'a'"),
    (lambda: Uncertainty(0), ValueError, r"Uncertainty: num_tasks must be >= 1; received num_tasks=0"),
    (lambda: Uncertainty(2.0), TypeError, r"Uncertainty: num_tasks must be an integer; received float 2.0"),
    (lambda: Uncertainty(2, task_types="ranking"), ValueError,
     r"Uncertainty: task_types\[0\] must be one of 'regression', 'classification'; received task_types\[0\]='ranking'"),
    (lambda: Uncertainty(2, task_types=["regression"]), ValueError,
     r"Uncertainty: task_types must have 2 entries \(num_tasks\); received 1"),
    (lambda: Uncertainty(2, task_names=["a", "a"]), ValueError, r"Uncertainty: task_names must be 2 distinct names"),
    (lambda: Uncertainty(2, task_names="ab"), TypeError, r"Uncertainty: task_names must be a sequence of strings"),
    (lambda: DWA(2, temperature=0.0), ValueError, r"DWA: temperature must be a finite number > 0; received temperature=0.0"),
    (lambda: DWA(2, steps_per_epoch=0), ValueError, r"DWA: steps_per_epoch must be >= 1; received steps_per_epoch=0"),
    (lambda: RandomWeighting(2, distribution="beta"), ValueError,
     r"RandomWeighting: distribution must be one of 'normal', 'uniform', 'dirichlet'; received distribution='beta'"),
    (lambda: RandomWeighting(2, generator=5), TypeError, r"RandomWeighting: generator must be a torch.Generator or None"),
    (lambda: GradNorm(2, alpha=-1.0), ValueError, r"GradNorm: alpha must be a finite number >= 0; received alpha=-1.0"),
    (lambda: GradNorm(2, lr=0), ValueError, r"GradNorm: lr must be a finite number > 0; received lr=0.0"),
    (lambda: GradNorm(2)([_t(1.0, requires_grad=True)] * 2), ValueError,
     r"GradNorm: shared_parameters must be given \(to the constructor or the call\); received None"),
    (lambda: PCGrad(2, reduction="avg"), ValueError, r"PCGrad: reduction must be one of 'sum', 'mean'; received reduction='avg'"),
    (lambda: MGDA(2, normalization="l1"), ValueError, r"MGDA: normalization must be one of 'none', 'l2', 'loss', 'loss\+'"),
    (lambda: CAGrad(2, c=-0.1), ValueError, r"CAGrad: c must be a finite number >= 0; received c=-0.1"),
    (lambda: CAGrad(2, rescale=1), TypeError, r"CAGrad: rescale must be True or False; received 1"),
    (lambda: Fixed([1.0] * 3)([_t(1.0)] * 2), ValueError, r"Fixed: losses must have 3 entries \(num_tasks\); received 2"),
    (lambda: Fixed([1.0] * 2)([_t(1.0), _t([1.0, 2.0, 3.0])]), ValueError,
     r"Fixed: losses\[1\] must be a scalar \(0-d\) tensor; received shape \(3,\)"),
    (lambda: Fixed([1.0] * 2)([_t(1.0), 2.0]), TypeError, r"Fixed: losses\[1\] must be a torch.Tensor or None; received float"),
    (lambda: Fixed([1.0] * 2)([_t(1), _t(1.0)]), TypeError, r"Fixed: losses\[0\] must be a floating tensor; received dtype torch.int64"),
    (lambda: Fixed([1.0] * 2)(_t([1.0, 2.0])), TypeError, r"Fixed: losses must be a list or tuple of 0-d tensors"),
    (lambda: PCGrad(2).backward([_t(1.0, requires_grad=True)] * 2), ValueError,
     r"PCGrad: shared_parameters must be given \(to the constructor or backward\); received None"),
    (lambda: MGDA(2, shared_parameters=[]), ValueError, r"MGDA: shared_parameters must hold at least one tensor"),
    (lambda: MGDA(2, shared_parameters=[_t(1.0)]), ValueError,
     r"MGDA: shared_parameters\[0\] must require grad; received requires_grad=False"),
    (lambda: MGDA(2, shared_parameters=[1.0]), TypeError, r"MGDA: shared_parameters\[0\] must be a torch.Tensor; received float"),
    (lambda: MGDA(2, shared_parameters=3), TypeError, r"MGDA: shared_parameters must be a module, a tensor or an iterable"),
]


@pytest.mark.parametrize("call, error, pattern", ERRORS, ids=[p[:40] for _, _, p in ERRORS])
def test_errors(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


def test_errors_on_the_gradient_path():
    theta = torch.ones(2, requires_grad=True)
    other = torch.ones(1, requires_grad=True)
    with pytest.raises(ValueError, match=r"CAGrad: shared_parameters\[1\] must be distinct; received shared_parameters\[0\] again"):
        CAGrad(2).backward([theta.sum(), theta.prod()], [theta, theta])
    with pytest.raises(ValueError, match=r"PCGrad: losses\[1\] must depend on shared_parameters; received a loss that reaches none"):
        PCGrad(2).backward([theta.sum(), other.sum()], [theta])
    with pytest.raises(ValueError, match=r"MGDA: losses\[0\] must require grad; received a tensor with requires_grad=False"):
        MGDA(2).backward([torch.tensor(1.0), theta.sum()], [theta])
    with pytest.raises(ValueError, match=r"MGDA: losses must be > 0 with normalization='loss'; received \[2.0, -1.0\]"):
        MGDA(2, normalization="loss").backward([theta.sum(), theta.sum() - 3.0], [theta])
    with pytest.raises(ValueError, match=r"GradNorm: losses\[1\] must depend on shared_parameters"):
        GradNorm(2, shared_parameters=theta)([theta.sum(), other.sum()])


# -- docs and example -----------------------------------------------------------------


def test_example_prints_every_method():
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "multitask_two_heads.py"), "--epochs", "1", "--seed", "1"],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "accuracy" in lines[1] and "RMSE" in lines[1]
    for name in ALL_METHODS:
        row = next(line for line in lines if line.startswith(name + " "))
        accuracy, rmse = (float(v) for v in row.split()[1:3])
        assert 0.0 <= accuracy <= 1.0 and rmse > 0
