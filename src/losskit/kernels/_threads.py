"""Threads for the CPU kernels.

The kernels are numba functions compiled with ``nogil=True`` that work on a
range of rows (or blocks); this module splits the rows into one contiguous
range per thread and runs them on a small pool. Why not numba's
``parallel=True``: its OpenMP layer makes a forked child abort (PyTorch's
``DataLoader`` workers fork), its parallel compile is slower, and it keeps a
second thread count beside PyTorch's. Here the count is PyTorch's
(``torch.set_num_threads``), and a forked child builds its own pool.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

_pool: ThreadPoolExecutor | None = None
_pool_size = 0


def _forget_pool():
    global _pool, _pool_size
    _pool, _pool_size = None, 0


os.register_at_fork(after_in_child=_forget_pool)


def _executor(size: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    if _pool is None or _pool_size < size:
        if _pool is not None:
            _pool.shutdown(wait=False)
        _pool, _pool_size = ThreadPoolExecutor(max_workers=size, thread_name_prefix="losskit-kernel"), size
    return _pool


def run_ranges(kernel, n: int, *args, work_per_item: int = 1, min_work: int = 1 << 15) -> None:
    """``kernel(start, stop, *args)`` over ``range(n)`` split among up to
    ``torch.get_num_threads()`` threads, each given at least ``min_work``
    units (``work_per_item`` units per item: a row's length), so small calls
    stay on the calling thread."""
    import torch

    threads = max(1, min(torch.get_num_threads(), n, (n * work_per_item) // min_work))
    if threads == 1:
        kernel(0, n, *args)
        return
    bounds = [n * k // threads for k in range(threads + 1)]
    pool = _executor(threads - 1)
    futures = [pool.submit(kernel, bounds[k], bounds[k + 1], *args) for k in range(1, threads)]
    kernel(bounds[0], bounds[1], *args)  # the calling thread takes the first range
    for f in futures:
        f.result()
