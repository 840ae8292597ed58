"""torch.compile of the losskit.torch modules: first-call compile time,
graph count and graph breaks, and steady-state forward+backward time of the
compiled module against the eager module, in one process.

    .venv/bin/python benchmarks/compile_modules.py                  # a few hot losses, inductor
    .venv/bin/python benchmarks/compile_modules.py --all --backend aot_eager
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch

import losskit
import losskit.torch as lt
from losskit.testing.sampling import draw_case
from _timing import median_seconds

HOT = ("mse", "huber", "cross_entropy", "binary_cross_entropy_with_logits", "sigmoid_focal", "info_nce", "dice", "ctc")


def arrays(spec, rng):
    if spec.kind == "structured":
        args, _ = spec.example(rng)
    else:
        _, x, y, extras = draw_case(spec, rng)
        args = [x, y, *(extras[n] for n in spec.extra_inputs)]
    out = [torch.from_numpy(np.asarray(a).copy()) for a in args]
    out = [a.float() if a.is_floating_point() else a for a in out]
    out[0].requires_grad_(True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all", action="store_true", help="every registered loss, not only the hot ones")
    parser.add_argument("--backend", default="inductor", help="torch.compile backend (default inductor)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    names = [s.name for s in losskit.specs()] if args.all else HOT
    print(f"torch {torch.__version__}, backend {args.backend}, {torch.get_num_threads()} threads; "
          f"inputs: the property suite's draws (12 elements) or each structured loss's example")
    print(f"  {'loss':34s} {'compile s':>9} {'graphs':>6} {'breaks':>6} {'compiled/eager':>14}")
    for name in names:
        spec, module = losskit.spec(name), lt.module(name)
        xs = arrays(spec, np.random.default_rng(0))
        torch._dynamo.reset()
        compiled = torch.compile(module, backend=args.backend)
        start = time.perf_counter()
        compiled(*xs).backward()
        compile_seconds = time.perf_counter() - start
        explained = torch._dynamo.explain(module)(*xs)
        eager = median_seconds(lambda: module(*xs).backward())
        fast = median_seconds(lambda: compiled(*xs).backward())
        print(f"  {name:34s} {compile_seconds:9.2f} {explained.graph_count:6d} {explained.graph_break_count:6d} "
              f"{fast / eager:13.2f}x")


if __name__ == "__main__":
    main()
