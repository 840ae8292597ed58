"""Timing shared by the benchmark scripts: the median of several timed runs
after a warm-up, and a table of ratios against a baseline run in the same
process. Benchmarks print ratios; tests never time anything."""

from __future__ import annotations

import statistics
import time


def median_seconds(fn, *, repeat: int = 7, number: int = 5, warmup: int = 2) -> float:
    """Median over ``repeat`` runs of the mean time of ``number`` calls of ``fn``."""
    for _ in range(warmup):
        fn()
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        runs.append((time.perf_counter() - start) / number)
    return statistics.median(runs)


def print_table(title: str, rows: list[tuple[str, float]], baseline: str) -> None:
    """``rows`` are (name, seconds); ratios are time / baseline's time (lower is faster)."""
    base = dict(rows)[baseline]
    width = max(len(name) for name, _ in rows)
    print(title)
    print(f"  {'implementation'.ljust(width)}  {'ms/call':>9}  {'vs ' + baseline:>12}")
    for name, seconds in rows:
        print(f"  {name.ljust(width)}  {seconds * 1e3:9.3f}  {seconds / base:11.2f}x")
