"""JAX: losskit against optax under jax.jit(jax.value_and_grad(...)), same process,
interleaved repetitions, CPU.

    .venv/bin/python benchmarks/jax_vs_optax.py

Prints markdown rows: losskit time / optax time (median of per-repetition
ratios; lower is faster)."""

from __future__ import annotations

import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import losskit


def _time(fn, number):
    start = time.perf_counter()
    for _ in range(number):
        jax.block_until_ready(fn())
    return (time.perf_counter() - start) / number


def ratio(ours, theirs, *, repeat=11, number=10):
    for _ in range(3):
        jax.block_until_ready(ours()), jax.block_until_ready(theirs())
    out = []
    for _ in range(repeat):
        a, b = _time(ours, number), _time(theirs, number)
        out.append(a / b)
    return statistics.median(out)


def cases():
    rng = np.random.default_rng(0)
    for n, c in ((32, 10), (256, 1000), (4096, 1000)):
        z = jnp.asarray(rng.normal(size=(n, c)), dtype=jnp.float32)
        y = jnp.asarray(rng.integers(0, c, size=n))
        yield (f"cross_entropy {n}x{c}", z, y, lambda z, y: losskit.cross_entropy(z, y),
               lambda z, y: optax.losses.softmax_cross_entropy_with_integer_labels(z, y).mean())
    for n in (256, 4096):
        z = jnp.asarray(rng.normal(size=(n, 80)), dtype=jnp.float32)
        y = jnp.asarray(rng.integers(0, 2, size=(n, 80)), dtype=jnp.float32)
        yield (f"bce_with_logits {n}x80", z, y, lambda z, y: losskit.binary_cross_entropy_with_logits(z, y),
               lambda z, y: optax.losses.sigmoid_binary_cross_entropy(z, y).mean())
        yield (f"huber {n}x80", z, y, lambda z, y: losskit.huber(z, y),
               lambda z, y: optax.losses.huber_loss(z, y).mean())


def main():
    print("| call (jit of value_and_grad) | losskit / optax |")
    print("|---|---|")
    for name, z, y, ours, theirs in cases():
        f = jax.jit(jax.value_and_grad(ours))
        g = jax.jit(jax.value_and_grad(theirs))
        np.testing.assert_allclose(f(z, y)[0], g(z, y)[0], rtol=2e-5)
        print(f"| {name} | {ratio(lambda: f(z, y), lambda: g(z, y)):.2f}x |", flush=True)


if __name__ == "__main__":
    main()
