"""InfoNCE / NT-Xent on CPU: losskit against the peers, forward + backward.

PyTorch: losskit.info_nce on torch tensors vs the usual hand-written NT-Xent
(normalise, similarity matrix, diagonal masked out, F.cross_entropy), both
eager. JAX: losskit.info_nce vs optax.losses.ntxent, both under jax.jit of
the gradient. Ratios are time / the peer's time in the same process (lower is
faster).

    .venv/bin/python benchmarks/info_nce_bench.py [--n 256] [--d 128]
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _timing import median_seconds, print_table  # noqa: E402

import losskit  # noqa: E402


def torch_ntxent(query, key, temperature):
    """NT-Xent as it is usually written in PyTorch (SimCLR)."""
    import torch
    import torch.nn.functional as F

    z = F.normalize(torch.cat([query, key]), dim=1)
    sim = z @ z.T / temperature
    n = query.shape[0]
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(n)])
    return F.cross_entropy(sim, target)


def bench_torch(q, k, temperature):
    import torch

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    qt = torch.tensor(q, requires_grad=True)
    kt = torch.tensor(k, requires_grad=True)
    got = float(losskit.info_nce(qt, kt, temperature=temperature).detach())
    peer = float(torch_ntxent(qt, kt, temperature).detach())
    assert abs(got - peer) <= 1e-5 * abs(peer), (got, peer)

    def run(fn):
        def step():
            qt.grad = kt.grad = None
            fn(qt, kt, temperature).backward()
        return step

    rows = [
        ("torch eager NT-Xent", median_seconds(run(torch_ntxent))),
        ("losskit.info_nce (torch)", median_seconds(run(lambda a, b, t: losskit.info_nce(a, b, temperature=t)))),
    ]
    print_table(f"info_nce forward+backward, torch float32, N={q.shape[0]} D={q.shape[1]}", rows, "torch eager NT-Xent")


def bench_jax(q, k, temperature):
    import jax
    import jax.numpy as jnp
    import optax

    qj, kj = jnp.asarray(q), jnp.asarray(k)
    n = q.shape[0]
    labels = jnp.concatenate([jnp.arange(n), jnp.arange(n)])
    ours = jax.jit(jax.value_and_grad(lambda a, b: losskit.info_nce(a, b, temperature=temperature), argnums=(0, 1)))
    peer = jax.jit(jax.value_and_grad(
        lambda a, b: optax.losses.ntxent(jnp.concatenate([a, b]), labels, temperature), argnums=(0, 1)))
    got, want = float(ours(qj, kj)[0]), float(peer(qj, kj)[0])
    assert abs(got - want) <= 1e-4 * abs(want), (got, want)
    rows = [
        ("optax.losses.ntxent (jit)", median_seconds(lambda: jax.block_until_ready(peer(qj, kj)))),
        ("losskit.info_nce (jax, jit)", median_seconds(lambda: jax.block_until_ready(ours(qj, kj)))),
    ]
    print_table(f"info_nce value_and_grad, jax float32, N={n} D={q.shape[1]}", rows, "optax.losses.ntxent (jit)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=256, help="pairs per batch")
    parser.add_argument("--d", type=int, default=128, help="embedding size")
    parser.add_argument("--temperature", type=float, default=0.1)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    q = rng.normal(size=(args.n, args.d)).astype(np.float32)
    k = (q + 0.3 * rng.normal(size=q.shape)).astype(np.float32)
    bench_torch(q, k, args.temperature)
    print()
    bench_jax(q, k, args.temperature)


if __name__ == "__main__":
    main()
