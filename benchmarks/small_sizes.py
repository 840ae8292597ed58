"""Training-loop sizes: losskit against torch.nn.functional in the same process,
forward + backward and forward only, with losskit's fused kernels on and off.

    .venv/bin/python benchmarks/small_sizes.py            # the table
    .venv/bin/python benchmarks/small_sizes.py --quick    # fewer sizes
    .venv/bin/python benchmarks/small_sizes.py --crossover  # mse kernel against the reference math

One thread (torch.set_num_threads(1)), float32 on the CPU. Each figure is the
median of per-repetition ratios: in every repetition losskit and torch run
back to back (interleaved), so a change in the machine's load hits both.
Prints a markdown table of ratios (losskit time / torch time; lower is faster).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

import losskit
import losskit.kernels


def _time(fn, number):
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def ratio(ours, theirs, *, repeat=15, number=None):
    """Median over ``repeat`` interleaved repetitions of time(ours) / time(theirs);
    ``number`` calls per timing (None: enough for about 20 ms, at most 20)."""
    for _ in range(3):
        ours(), theirs()
    if number is None:
        once = max(_time(ours, 1), _time(theirs, 1))
        number = max(1, min(20, int(0.02 / max(once, 1e-9))))
        repeat = repeat if once < 0.05 else 5
    ratios, t_ours = [], []
    for _ in range(repeat):
        a = _time(ours, number)
        b = _time(theirs, number)
        ratios.append(a / b)
        t_ours.append(a)
    return statistics.median(ratios), statistics.median(t_ours)


def cases(quick):
    rows = (32, 256, 4096) if quick else (32, 256, 1024, 4096, 16384)
    for n, c in ((32, 10), (256, 1000), (1024, 1000)) if quick else ((32, 10), (256, 100), (256, 1000),
                                                                      (1024, 1000), (1024, 32000)):
        x, y = torch.randn(n, c), torch.randint(0, c, (n,))
        yield f"cross_entropy {n}x{c}", x, y, losskit.cross_entropy, F.cross_entropy
    for n in rows:
        for width in (1, 80):
            x, y = torch.randn(n, width), torch.rand(n, width).round()
            yield (f"bce_with_logits {n}x{width}", x, y, losskit.binary_cross_entropy_with_logits,
                   F.binary_cross_entropy_with_logits)
        x, y = torch.randn(n, 16), torch.randn(n, 16)
        yield f"mse {n}x16", x, y, losskit.mse, F.mse_loss
        yield f"huber {n}x16", x, y, losskit.huber, F.huber_loss
        yield f"l1 {n}x16", x, y, losskit.mae, F.l1_loss


def crossover():
    """The size where the mse CPU kernel starts to pay against losskit's own
    reference math (kernels/elementwise.py MIN_CPU_ELEMENTS), per dtype."""
    from losskit.kernels import elementwise

    elementwise.MIN_CPU_ELEMENTS = {}  # measure the kernel at every size
    print("| elements | float32: kernel / reference | float64: kernel / reference |")
    print("|---|---|---|")
    for n in (1 << 12, 1 << 14, 1 << 15, 1 << 16, 1 << 17, 1 << 20):
        cells = []
        for dtype in (torch.float32, torch.float64):
            x, y = torch.randn(n, dtype=dtype, requires_grad=True), torch.randn(n, dtype=dtype)

            def kernel():
                x.grad = None
                losskit.mse(x, y).backward()

            def reference():
                with losskit.kernels.disabled():
                    kernel()

            cells.append(f"{ratio(kernel, reference, repeat=9, number=5)[0]:.2f}x")
        print(f"| {n} | {cells[0]} | {cells[1]} |", flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--crossover", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.crossover:
        return crossover()
    print("| call | fwd+bwd, kernels on | fwd+bwd, kernels off | forward only | losskit fwd+bwd µs |")
    print("|---|---|---|---|---|")
    for name, x, y, ours, theirs in cases(args.quick):
        xg = x.clone().requires_grad_(True)

        def step(fn):
            def run():
                xg.grad = None
                fn(xg, y).backward()
            return run

        on, us = ratio(step(ours), step(theirs))
        with losskit.kernels.disabled():
            off, _ = ratio(step(ours), step(theirs))
        with torch.no_grad():
            fwd, _ = ratio(lambda: ours(x, y), lambda: theirs(x, y))
        print(f"| {name} | {on:.2f}x | {off:.2f}x | {fwd:.2f}x | {us * 1e6:.0f} |", flush=True)


if __name__ == "__main__":
    main()
