"""Peak memory per rank of the distributed losses: local-loss mode vs full gather.

Each configuration (loss, global batch N, embedding width D, mode) runs in
fresh processes: W gloo ranks on CPU, each holding N / W rows (float32
leaves with a gradient, standing in for an encoder's output). A rank
records its resident set size just before the loss, runs forward + backward
once, and reads its peak (``resource.getrusage(RUSAGE_SELF).ru_maxrss``);
the table shows the largest peak-minus-before over the ranks. glibc is told
to serve every allocation above 64 KiB with mmap (``MALLOC_MMAP_THRESHOLD_``),
so freed tensors leave the resident set and the peak is the loss's own.
A tiny warm-up call before the measurement loads the lazy parts of torch.

Modes: ``local`` builds only this rank's (B_local x N) similarity block and
returns W x its share; ``full`` gathers the batch and computes the whole
(N x N) loss on every rank. ``vocab`` compares the vocabulary-parallel
cross-entropy on each rank's (N, V/W) slice with all-gathering the logits
and calling ``losskit.cross_entropy`` on the full (N, V).

    .venv/bin/python benchmarks/distributed_memory_bench.py            # the default grid, W=2
    .venv/bin/python benchmarks/distributed_memory_bench.py --batch 1024 --dim 128 --losses info_nce
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import sys
import tempfile
import time

MMAP_THRESHOLD = "65536"
LOSSES = ("info_nce", "clip", "supcon", "batch_hard_triplet", "vocab")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _call(loss, mode, rows, labels, n_global, world, rank, group=None):
    """One forward + backward of ``loss`` on this rank's inputs."""
    import torch.distributed as dist

    import losskit
    import losskit.distributed as ld

    local = mode == "local"
    if loss == "info_nce":
        out = ld.gathered_info_nce(rows[0], rows[1], local_loss=local)
    elif loss == "clip":
        out = ld.gathered_clip_loss(rows[0], rows[1], local_loss=local)
    elif loss == "supcon":
        out = ld.gathered_supervised_contrastive(rows[0], labels, local_loss=local)
    elif loss == "batch_hard_triplet":
        out = ld.global_batch(losskit.batch_hard_triplet, local_loss=local)(rows[0], labels)
    else:  # vocab: rows[0] is this rank's (N, V / W) slice of the logits
        logits, target = rows[0], labels
        if local:
            out = ld.vocab_parallel_cross_entropy(logits, target)
        else:
            full = ld.all_gather_with_grad(logits.T.contiguous()).T  # (N, V): the slices side by side
            out = losskit.cross_entropy(full, target)
    out.backward()
    dist.barrier()
    return out


def _inputs(loss, n_global, dim, world, rank, vocab):
    import torch

    g = torch.Generator().manual_seed(rank)
    n_local = n_global // world + (1 if rank < n_global % world else 0)
    if loss == "vocab":
        width = vocab // world + (1 if rank < vocab % world else 0)
        logits = torch.randn(n_global, width, generator=torch.Generator().manual_seed(rank)).requires_grad_()
        target = torch.randint(0, vocab, (n_global,), generator=torch.Generator().manual_seed(0))
        return [logits], target
    rows = [torch.randn(n_local, dim, generator=g).requires_grad_() for _ in range(2)]
    labels = torch.randint(0, max(2, n_global // 4), (n_local,), generator=g)
    return rows, labels


def _rank_main(rank, world, port, config, outdir):
    import gc

    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    loss, n_global, dim, mode, vocab = config
    try:
        warm_rows, warm_labels = _inputs(loss, 8 * world, 8, world, rank, 64)
        _call(loss, mode, warm_rows, warm_labels, 8 * world, world, rank)
        rows, labels = _inputs(loss, n_global, dim, world, rank, vocab)
        del warm_rows, warm_labels
        gc.collect()
        dist.barrier()
        before = _rss_bytes()
        start = time.perf_counter()
        _call(loss, mode, rows, labels, n_global, world, rank)
        seconds = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
        with open(os.path.join(outdir, f"rank{rank}.json"), "w") as f:
            json.dump({"before": before, "peak": peak, "seconds": seconds}, f)
    finally:
        dist.destroy_process_group()


def measure(config, world: int) -> dict:
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory() as outdir:
        mp.start_processes(_rank_main, args=(world, _free_port(), config, outdir), nprocs=world,
                           start_method=_start_method())
        ranks = []
        for r in range(world):
            with open(os.path.join(outdir, f"rank{r}.json")) as f:
                ranks.append(json.load(f))
    return {"mib": max(r["peak"] - r["before"] for r in ranks) / 2**20,
            "seconds": max(r["seconds"] for r in ranks)}


def _start_method() -> str:
    import torch.multiprocessing as mp

    return "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--world", type=int, default=2, help="ranks (gloo processes on this machine)")
    parser.add_argument("--batch", type=int, nargs="+", default=[1024, 4096], help="global batch sizes N")
    parser.add_argument("--dim", type=int, nargs="+", default=[128, 512], help="embedding widths D")
    parser.add_argument("--losses", nargs="+", default=list(LOSSES), choices=LOSSES)
    parser.add_argument("--vocab", type=int, default=32768, help="vocabulary size V for the vocab rows")
    args = parser.parse_args(argv)

    os.environ["MALLOC_MMAP_THRESHOLD_"] = MMAP_THRESHOLD  # read by glibc when each rank's process starts
    import torch
    import torch.multiprocessing as mp

    if _start_method() == "forkserver":
        mp.set_forkserver_preload(["torch", "torch.distributed", "losskit", "losskit.distributed"])
    print(f"peak memory per rank above the RSS before the loss (max over {args.world} gloo ranks), "
          f"forward + backward, float32, torch {torch.__version__}")
    print()
    print("| loss | N (global) | D | local-loss MiB | full-gather MiB | full / local | local s | full s |")
    print("|---|---|---|---|---|---|---|---|")
    for loss in args.losses:
        dims = [args.vocab] if loss == "vocab" else args.dim
        for n in args.batch:
            for dim in dims:
                local = measure((loss, n, dim, "local", args.vocab), args.world)
                full = measure((loss, n, dim, "full", args.vocab), args.world)
                label = "vocab_parallel_cross_entropy (V given as D)" if loss == "vocab" else loss
                print(f"| {label} | {n} | {dim} | {local['mib']:.1f} | {full['mib']:.1f} | "
                      f"{full['mib'] / max(local['mib'], 1e-9):.2f}x | {local['seconds']:.3f} | "
                      f"{full['seconds']:.3f} |", flush=True)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
