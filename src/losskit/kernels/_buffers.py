"""A small cache of large CPU buffers for the gradients the kernels write.

A fresh N x C gradient buffer costs more than the kernel that fills it: the
operating system maps and zeroes every 4 KiB page on first touch (about 0.2 s
for 512 MiB on two cores, twice the kernel's own time), and the C allocator
returns such buffers to the system as soon as they are freed, so every step
pays again. Like PyTorch's CUDA caching allocator, this module keeps the few
large buffers it handed out and reuses one once nothing references it any more
(its reference count says so: every tensor or view made from it holds one), so
a training loop's gradient lands in memory that is already mapped.

Held memory is bounded: at most ``MAX_BUFFERS`` buffers; the oldest free one is
dropped when a new size is needed. ``release()`` drops every free buffer.
Buffers smaller than ``MIN_BYTES`` come from PyTorch's allocator as usual.
"""

from __future__ import annotations

import sys
import threading

MIN_BYTES = 1 << 22
MAX_BUFFERS = 4
_lock = threading.Lock()
_buffers: list = []  # numpy uint8 arrays, most recently used last
_BASE_REFS = None  # getrefcount of a buffer only this module holds


def _drop(buf) -> None:
    """Remove ``buf`` from the cache by identity (``list.remove`` would compare arrays)."""
    _buffers[:] = [b for b in _buffers if b is not buf]


def _refs(buf) -> int:
    """References to ``buf``; compared with ``_BASE_REFS``, the count of a buffer
    only the cache holds, taken the same way (from a comprehension over a list)."""
    return sys.getrefcount(buf)


def empty(shape, dtype):
    """An uninitialised CPU tensor of ``shape`` and ``dtype``; large ones reuse a
    cached buffer that nothing else references."""
    import numpy as np
    import torch

    global _BASE_REFS
    itemsize = torch.empty((), dtype=dtype).element_size()
    nbytes = itemsize
    for s in shape:
        nbytes *= int(s)
    if nbytes < MIN_BYTES:
        return torch.empty(shape, dtype=dtype)
    np_dtype = np.dtype(str(dtype).removeprefix("torch."))
    with _lock:
        if _BASE_REFS is None:  # counted the way the checks below count
            _BASE_REFS = [_refs(b) for b in [np.empty(1, dtype=np.uint8)]][0]
        fits = [b for b in _buffers if b.nbytes >= nbytes and b.nbytes <= 2 * nbytes and _refs(b) <= _BASE_REFS]
        if fits:
            buf = min(fits, key=lambda b: b.nbytes)
            _drop(buf)
        else:
            free = [b for b in _buffers if _refs(b) <= _BASE_REFS]
            while free and len(_buffers) >= MAX_BUFFERS:
                _drop(free.pop(0))
            buf = np.empty(nbytes, dtype=np.uint8)
        _buffers.append(buf)
        view = buf[:nbytes].view(np_dtype).reshape(tuple(int(s) for s in shape))
        return torch.from_numpy(view)


def release() -> int:
    """Drop every cached buffer that nothing references; returns the bytes freed."""
    with _lock:
        free = [b for b in _buffers if _BASE_REFS is not None and _refs(b) <= _BASE_REFS]
        for b in free:
            _drop(b)
        return sum(b.nbytes for b in free)
