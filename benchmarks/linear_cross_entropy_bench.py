"""Chunked linear cross-entropy on CPU: time and extra peak memory, forward +
backward, against the plain path and PyTorch's own chunked version.

Implementations (``--impl``, comma-separated; ``NAME:ROWS`` sets the rows
per block):

- ``naive``: ``F.cross_entropy(F.linear(h, W, b), y)``, eager (the baseline);
- ``losskit``: ``losskit.torch.linear_cross_entropy`` (default block size);
- ``torch-chunked``: ``F.linear_cross_entropy(..., options=
  torch.nn.LinearCrossEntropyOptions())``, PyTorch's chunked path at its
  defaults (``LinearCrossEntropyOptions(batch_chunk_size=ROWS,
  chunking_method=None)`` with ``:ROWS``).

Each implementation runs in a fresh subprocess with
``MALLOC_MMAP_THRESHOLD_=65536``, so freed large buffers leave the resident
set. The child loads its libraries on a tiny problem, allocates and touches
the inputs, reads its RSS, then runs fwd+bwd ``--repeat`` times (gradients
dropped between runs). Extra peak memory = ``ru_maxrss`` after the runs minus
that RSS (the input gradients included: every implementation makes them).
Time = median of the runs (wall clock, and CPU time of the process: on a
machine other work shares, CPU time is the steadier of the two). Ratios are
against ``naive``.

    .venv/bin/python benchmarks/linear_cross_entropy_bench.py --n 2048 --h 256 --v 8192
    .venv/bin/python benchmarks/linear_cross_entropy_bench.py              # N=8192 H=1024 V=65536 (minutes)
    .venv/bin/python benchmarks/linear_cross_entropy_bench.py --impl naive,losskit:64,losskit:256,losskit:1024
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _loss_fn(impl: str, bias: bool):
    import torch
    import torch.nn.functional as F

    name, _, rows = impl.partition(":")
    rows = int(rows) if rows else None
    if name == "naive":
        return lambda h, w, b, y: F.cross_entropy(F.linear(h, w, b), y)
    if name == "losskit":
        from losskit.torch import linear_cross_entropy
        return lambda h, w, b, y: linear_cross_entropy(h, w, y, linear_bias=b, chunk_size=rows)
    if name == "torch-chunked":
        options = torch.nn.LinearCrossEntropyOptions() if rows is None else \
            torch.nn.LinearCrossEntropyOptions(batch_chunk_size=rows, chunking_method=None)
        return lambda h, w, b, y: F.linear_cross_entropy(h, w, y, linear_bias=b, options=options)
    raise SystemExit(f"unknown implementation {impl!r} (naive, losskit[:ROWS], torch-chunked[:ROWS])")


def _inputs(n, h, v, dtype, bias, seed=0):
    import torch

    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(n, h, generator=g, dtype=dtype).requires_grad_()
    weight = (torch.randn(v, h, generator=g, dtype=dtype) / h ** 0.5).requires_grad_()
    b = torch.randn(v, generator=g, dtype=dtype).requires_grad_() if bias else None
    target = torch.randint(0, v, (n,), generator=g)
    return hidden, weight, b, target


def child(args) -> None:
    """One implementation in this process; prints a JSON line."""
    import torch

    dtype = getattr(torch, args.dtype)
    fn = _loss_fn(args.impl, args.bias)
    small = _inputs(64, 16, 128, dtype, args.bias, seed=1)  # load libraries and JIT caches first
    fn(*small).backward()
    del small
    hidden, weight, b, target = _inputs(args.n, args.h, args.v, dtype, args.bias)
    params = [t for t in (hidden, weight, b) if t is not None]
    before = _rss_bytes()
    times, cpu_times, losses = [], [], []
    for _ in range(args.repeat):
        for p in params:
            p.grad = None
        start, cpu_start = time.perf_counter(), time.process_time()
        loss = fn(hidden, weight, b, target)
        loss.backward()
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
        losses.append(float(loss.detach()))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"impl": args.impl, "seconds": statistics.median(times), "all_seconds": times,
                      "cpu_seconds": statistics.median(cpu_times),
                      "extra_peak_bytes": peak - before, "loss": losses[0],
                      "grad_weight_norm": float(weight.grad.norm())}))


def run_child(impl: str, args) -> dict:
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
    cmd = [sys.executable, __file__, "--child", "--impl", impl, "--n", str(args.n), "--h", str(args.h),
           "--v", str(args.v), "--dtype", args.dtype, "--repeat", str(args.repeat)]
    if args.bias:
        cmd.append("--bias")
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{impl} failed:\n{done.stderr}")
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    return json.loads(lines[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=8192, help="rows (tokens)")
    parser.add_argument("--h", type=int, default=1024, help="hidden size")
    parser.add_argument("--v", type=int, default=65536, help="classes (vocabulary)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--bias", action="store_true", help="with a bias vector")
    parser.add_argument("--repeat", type=int, default=3, help="timed fwd+bwd runs per implementation")
    parser.add_argument("--impl", default="naive,losskit,torch-chunked",
                        help="comma-separated: naive, losskit[:ROWS], torch-chunked[:ROWS]")
    parser.add_argument("--out", help="also append the table (markdown) to this file")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args)
        return
    impls = [s.strip() for s in args.impl.split(",") if s.strip()]
    if "naive" not in impls:
        impls.insert(0, "naive")
    results = {impl: run_child(impl, args) for impl in impls}
    base = results["naive"]
    title = (f"linear cross-entropy fwd+bwd, CPU {args.dtype}, N={args.n} H={args.h} V={args.v}"
             f"{' with bias' if args.bias else ''}, {os.cpu_count()} cores, median of {args.repeat}")
    lines = [title, "",
             "| implementation | time (s) | vs naive | CPU time (s) | vs naive | extra peak (MiB) | vs naive | loss |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for impl, r in results.items():
        lines.append(f"| {impl} | {r['seconds']:.3f} | {r['seconds'] / base['seconds']:.2f}x | "
                     f"{r['cpu_seconds']:.2f} | {r['cpu_seconds'] / base['cpu_seconds']:.2f}x | "
                     f"{r['extra_peak_bytes'] / 2**20:.0f} | "
                     f"{r['extra_peak_bytes'] / base['extra_peak_bytes']:.1%} | {r['loss']:.6f} |")
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "a") as f:
            f.write(text + "\n\n")


if __name__ == "__main__":
    main()
