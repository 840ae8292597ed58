"""Triton, when it is installed: ``UNAVAILABLE`` says why not, and ``jit``
leaves the kernels plain (never called) functions without it. One import for
every Triton kernel module."""

from __future__ import annotations

try:
    import triton
    import triton.language as tl

    UNAVAILABLE: str | None = None
    jit = triton.jit
except ImportError as exc:
    triton = tl = None
    UNAVAILABLE = f"triton unavailable ({exc})"

    def jit(fn):
        return fn
