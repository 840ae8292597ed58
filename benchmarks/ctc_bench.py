"""CTC forward + backward on CPU: losskit.ctc against its peers.

One realistic small batch (T=100 frames, N=16 sequences, C=30 classes, padded
targets of up to S=20 labels, float32), gradients taken with respect to the
logits through log_softmax in every case so that the work is the same:

- torch.nn.functional.ctc_loss (PyTorch's native kernel), the baseline;
- losskit.ctc on torch tensors (autograd through the log-space recursion);
- optax.losses.ctc_loss under jax.jit (value_and_grad);
- losskit.ctc on JAX arrays under jax.jit (value_and_grad);
- losskit.ctc's closed-form alpha-beta gradient on NumPy arrays (no autograd).

Run: ``.venv/bin/python benchmarks/ctc_bench.py`` (well under a minute).
Prints milliseconds per forward+backward and the ratio to PyTorch.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from _timing import median_seconds, print_table

import losskit

T, N, C, S = 100, 16, 30, 20


def data(seed: int = 0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 1.0, size=(T, N, C)).astype(np.float32)
    targets = rng.integers(1, C, size=(N, S)).astype(np.int64)
    target_lengths = rng.integers(S // 2, S + 1, size=N).astype(np.int64)
    input_lengths = rng.integers(3 * T // 4, T + 1, size=N).astype(np.int64)
    input_lengths[0], target_lengths[0] = T, S
    return logits, targets, input_lengths, target_lengths


def torch_rows(logits, targets, il, tl):
    import torch

    torch.set_num_threads(1)  # small eager ops: threads only add synchronisation (and noise on a busy machine)
    z = torch.from_numpy(logits).requires_grad_(True)
    y, i, t = torch.from_numpy(targets), torch.from_numpy(il), torch.from_numpy(tl)

    def native():
        z.grad = None
        torch.nn.functional.ctc_loss(torch.log_softmax(z, dim=-1), y, i, t).backward()
        return z.grad

    def ours():
        z.grad = None
        losskit.ctc(torch.log_softmax(z, dim=-1), y, i, t).backward()
        return z.grad

    g_native, g_ours = native().clone(), ours().clone()
    np.testing.assert_allclose(g_ours.numpy(), g_native.numpy(), rtol=1e-3, atol=1e-5)
    return [("torch ctc_loss", median_seconds(native)), ("losskit.ctc (torch autograd)", median_seconds(ours))]


def jax_rows(logits, targets, il, tl):
    import jax
    import jax.numpy as jnp
    import optax

    z = jnp.asarray(np.transpose(logits, (1, 0, 2)))  # optax: (N, T, C)
    logit_paddings = jnp.asarray((np.arange(T)[None, :] >= il[:, None]).astype(np.float32))
    label_paddings = jnp.asarray((np.arange(S)[None, :] >= tl[:, None]).astype(np.float32))
    y, i, t = jnp.asarray(targets), jnp.asarray(il), jnp.asarray(tl)
    divisor = jnp.maximum(t, 1).astype(jnp.float32)

    def optax_mean(v):
        return jnp.mean(optax.losses.ctc_loss(v, logit_paddings, y, label_paddings) / divisor)

    def ours_mean(v):
        return losskit.ctc(jax.nn.log_softmax(jnp.transpose(v, (1, 0, 2)), axis=-1), y, i, t)

    f_optax = jax.jit(jax.value_and_grad(optax_mean))
    f_ours = jax.jit(jax.value_and_grad(ours_mean))
    v1, g1 = f_optax(z)
    v2, g2 = f_ours(z)
    np.testing.assert_allclose(float(v2), float(v1), rtol=1e-4)
    np.testing.assert_allclose(np.asarray(g2), np.asarray(g1), rtol=1e-3, atol=1e-5)
    return [
        ("optax ctc_loss (jax.jit)", median_seconds(lambda: f_optax(z)[1].block_until_ready())),
        ("losskit.ctc (jax.jit)", median_seconds(lambda: f_ours(z)[1].block_until_ready())),
    ]


def numpy_rows(logits, targets, il, tl):
    shifted = logits - logits.max(-1, keepdims=True)
    lp = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    loss = losskit.get("ctc")

    def closed_form():
        value = loss(lp, targets, il, tl, reduction="none")
        return value, loss.gradient(lp, targets, il, tl)

    return [("losskit.ctc + closed-form gradient (numpy)", median_seconds(closed_form, repeat=5, number=3))]


def main() -> None:
    logits, targets, il, tl = data()
    rows = []
    try:
        rows += torch_rows(logits, targets, il, tl)
    except ImportError:
        print("torch is not installed: no baseline")
        return
    try:
        rows += jax_rows(logits, targets, il, tl)
    except ImportError:
        print("jax/optax not installed: skipped")
    rows += numpy_rows(logits, targets, il, tl)
    print_table(f"CTC forward+backward, CPU, float32, T={T} N={N} C={C} S={S}; torch on one thread", rows,
                "torch ctc_loss")


if __name__ == "__main__":
    main()
