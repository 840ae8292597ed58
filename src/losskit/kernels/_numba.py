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
# error_model="numpy": a division is a plain IEEE division (inf/NaN, as the reference
# math gives), never a ZeroDivisionError (a row of all -inf logits divides by a zero
# sum), and without the zero check whose branch would keep loops from vectorising.
JIT = {"nogil": True, "fastmath": set(FASTMATH), "cache": True, "error_model": "numpy"}


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
    """exp(x), vectorisable; 0 below the smallest normal's log, inf above the
    largest float's, NaN for NaN."""
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
        hi = np.float32(88.72284)  # log(largest float32)

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
            return f(0.0) if x < lo else (p * scale if x <= hi else x * f(np.inf))

        return exp32
    if x == types.float64:
        lo = -708.3964185322641  # log(smallest normal float64)
        hi = 709.782712893384  # log(largest float64)
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
            return 0.0 if x < lo else (p * scale if x <= hi else x * np.inf)

        return exp64
    return None


# The log polynomials' options: their own fastmath flags (no 'reassoc'), and
# numpy's error model, which divides without a zero-division check (a check
# would be a branch that keeps LLVM from vectorising the caller's loop).
_POLY_OPTIONS = {"fastmath": set(_POLY_FASTMATH), "error_model": "numpy"}


def shifted_difference(a, z, m):
    """a - (z - m), rounded in that order. The kernels' 'reassoc' flag would let
    LLVM compute (a + m) - z instead, which loses a small ``a`` (log of a sum of
    exponentials) against a large shift ``m``."""
    raise NotImplementedError("shifted_difference is numba-only")


@overload(shifted_difference, jit_options=_POLY_OPTIONS)
def _shifted_difference(a, z, m):
    def impl(a, z, m):
        return a - (z - m)

    return impl


def fast_log(x):
    """log(x) for x >= 0 (subnormals included), vectorisable."""
    raise NotImplementedError("fast_log is numba-only")


# log: u = 2^k m with m in [sqrt(1/2), sqrt(2)), f = m - 1, s = f / (2 + f),
# log(m) = f - f^2/2 + s (f^2/2 + R(s^2)) with fdlibm's minimax R (e_log.c,
# e_logf.c), and k ln2 added in two parts. ``c`` is the rounding error of
# u = 1 + x (over u), added back so that log1p keeps its accuracy near 0.
# The range reduction works on the bits: adding (one - sqrt(1/2)) to them
# carries into the exponent exactly when m >= sqrt(2).
_LG32 = tuple(float(np.float32(v)) for v in (0xAAAAAA * 2.0**-24, 0xCCCE13 * 2.0**-25,
                                            0x91E9EE * 2.0**-25, 0xF89E26 * 2.0**-26))
_LG64 = (6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01,
         2.222219843214978396e-01, 1.818357216161805012e-01, 1.531383769920937332e-01,
         1.479819860511658591e-01)


def _log_reduced(u, c, shift):
    raise NotImplementedError("numba-only")


@overload(_log_reduced, jit_options=_POLY_OPTIONS)
def _log_reduced_impl(u, c, shift):
    """log(u) + c - shift ln2 for a positive normal u (c a small correction,
    shift an exponent the caller scaled u by). u = 2^k (1 + f) with 1 + f in
    [sqrt(1/2), sqrt(2)), from the bits."""
    if u == types.float32:
        l1, l2, l3, l4 = (np.float32(v) for v in _LG32)
        hi, lo = np.float32(6.9313812256e-01), np.float32(9.0580006145e-06)

        def log32(u, c, shift):
            # numba widens int32 arithmetic to int64: cast back at each step
            ix = np.int32(_float_to_bits(u) + np.int32(0x3F800000 - 0x3F3504F3))
            k = np.float32(np.int32(ix >> np.int32(23)) - np.int32(0x7F)) - shift
            f = _bits_to_float(np.int32(np.int32(ix & np.int32(0x007FFFFF)) + np.int32(0x3F3504F3))) - np.float32(1.0)
            s = f / (np.float32(2.0) + f)
            z = s * s
            w = z * z
            r = w * (l2 + w * l4) + z * (l1 + w * l3)
            hfsq = np.float32(0.5) * f * f
            return k * hi - ((hfsq - (s * (hfsq + r) + (k * lo + c))) - f)

        return log32
    if u == types.float64:
        l1, l2, l3, l4, l5, l6, l7 = _LG64
        hi, lo = 6.93147180369123816490e-01, 1.90821492927058770002e-10

        def log64(u, c, shift):
            ix = _float_to_bits(u) + np.int64(0x3FF0000000000000 - 0x3FE6A09E667F3BCD)
            k = np.float64((ix >> np.int64(52)) - np.int64(0x3FF)) - shift
            f = _bits_to_float((ix & np.int64(0x000FFFFFFFFFFFFF)) + np.int64(0x3FE6A09E667F3BCD)) - 1.0
            s = f / (2.0 + f)
            z = s * s
            w = z * z
            r = z * (l1 + w * (l3 + w * (l5 + w * l7))) + w * (l2 + w * (l4 + w * l6))
            hfsq = 0.5 * f * f
            return k * hi - ((hfsq - (s * (hfsq + r) + (k * lo + c))) - f)

        return log64
    return None


@overload(fast_log1p, jit_options=_POLY_OPTIONS)
def _fast_log1p(x):
    if x not in (types.float32, types.float64):
        return None
    f = np.float32 if x == types.float32 else np.float64
    inf = f(np.inf)

    def log1p(x):
        u = x + f(1.0)
        # the rounding error of 1 + x, exact in both cases (Sterbenz)
        c = x - (u - f(1.0)) if x < f(1.0) else f(1.0) - (u - x)
        out = _log_reduced(u, c / u, f(0.0))
        return inf if x == inf else out  # NaN propagates through c

    return log1p


@overload(fast_log, jit_options=_POLY_OPTIONS)
def _fast_log(x):
    if x == types.float32:
        f, tiny, up, shift = np.float32, np.float32(1.1754944e-38), np.float32(2.0**24), np.float32(24.0)
    elif x == types.float64:
        f, tiny, up, shift = np.float64, 2.2250738585072014e-308, 2.0**54, 54.0
    else:
        return None
    inf, nan = f(np.inf), f(np.nan)

    def log(x):
        sub = x < tiny  # subnormals are scaled into the normal range first
        u = x * up if sub else x
        out = _log_reduced(u, f(0.0), shift if sub else f(0.0))
        out = inf if x == inf else out
        out = -inf if x == f(0.0) else out
        return nan if (x < f(0.0)) or (x != x) else out

    return log
