"""Backend namespace and numerically stable primitives.

Every loss computes through ``xp``, the array-API namespace of its inputs
(NumPy, PyTorch, JAX or any array-API library such as array-api-strict), so a
torch tensor comes back a torch tensor with its autograd graph, and a JAX
array stays traceable. Only functions of the array-API standard are used here
and in ``functional/``; the test matrix runs everything on array-api-strict to
prove it.
"""

from __future__ import annotations

import math
import sys

import array_api_compat
import numpy as np

__all__ = [
    "namespace",
    "is_concrete",
    "compute_dtype",
    "softplus",
    "log_sigmoid",
    "sigmoid",
    "logsumexp",
    "softmax_shift",
    "log_softmax",
    "inverse_link",
    "xlogy",
    "log1mexp",
    "safe_pow",
    "safe_sqrt",
    "one_hot",
    "erf_erfc",
    "ndtr",
    "split_at_one",
    "sqrt1p_sq",
    "log1p_sq",
    "inv_1p_sq",
    "ratio_1p_sq",
    "ratio_at_zero_one",
    "clamped_log",
    "clamped_log1m",
    "logaddexp3",
    "masked_logsumexp",
    "divide_or_zero",
    "NORM_EPS",
    "unit_rows",
    "relu",
    "p_norm",
    "pairwise_distance",
    "stop_gradient",
]


def _backend(x) -> str:
    module = type(x).__module__.split(".")[0]
    return f"{module}.{type(x).__name__}"


ACCEPTED = "an array (NumPy, PyTorch or JAX), a number or a list/tuple of numbers"


def _received(value) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


def namespace(loss: str, arrays: dict, required=()):
    """Return ``(xp, arrays)`` for the named arrays of one call.

    ``arrays`` maps argument names to values; ``None`` entries are skipped,
    except for the names in ``required``, which must be given.
    Python lists, tuples and numbers are converted to NumPy only when no
    argument is an array of another backend: a torch tensor next to a list is
    an error, so nothing is moved between backends behind the user's back.
    Anything else (a string, a dict, an object) is a TypeError naming the
    argument.
    """
    for name in required:
        if arrays.get(name) is None:
            raise TypeError(f"{loss}: {name} must be {ACCEPTED}; received NoneType None")
    given = {k: v for k, v in arrays.items() if v is not None}
    if given and all(is_torch(v) for v in given.values()):
        # the common case, decided without array_api_compat's cached type checks,
        # which torch.compile warns about on every trace
        return torch_namespace(), dict(arrays)
    native = {k: v for k, v in given.items() if array_api_compat.is_array_api_obj(v)}
    foreign = {k: v for k, v in given.items() if k not in native}
    kinds = {}
    for name, value in native.items():
        kinds.setdefault(_backend_key(value), []).append(name)
    if len(kinds) > 1:
        received = ", ".join(f"{k}={_backend(v)}" for k, v in native.items())
        raise TypeError(f"{loss}: all arrays must come from one backend; received {received}")
    for name, value in foreign.items():
        if not isinstance(value, (list, tuple, int, float, np.generic)) or isinstance(value, bool):
            raise TypeError(f"{loss}: {name} must be {ACCEPTED}; received {_received(value)}")
    if foreign and kinds and "numpy" not in kinds:
        backend = _backend(next(iter(native.values())))
        name, value = next(iter(foreign.items()))
        raise TypeError(
            f"{loss}: {name} must be an array of the same backend as the others "
            f"({backend}); received {type(value).__name__}"
        )
    for name, value in foreign.items():
        try:
            given[name] = np.asarray(value)
        except (ValueError, TypeError) as exc:  # ragged or mixed sequences
            raise TypeError(f"{loss}: {name} must be {ACCEPTED}; received {_received(value)} ({exc})") from None
        if given[name].dtype == object:
            raise TypeError(f"{loss}: {name} must be {ACCEPTED}; received {_received(value)}")
    out = dict(arrays)
    out.update(given)
    first = next(iter(given.values()), None)
    if first is None:
        raise TypeError(f"{loss}: no array was given")
    xp = array_api_compat.array_namespace(*given.values())
    return (torch_namespace() if array_api_compat.is_torch_namespace(xp) else xp), out


def is_torch(x) -> bool:
    torch = sys.modules.get("torch")  # never imports torch
    return torch is not None and isinstance(x, torch.Tensor)


# torch.compile warns on each of array_api_compat's lru_cache-wrapped type checks it traces
# through; these answer a torch tensor directly and defer to array_api_compat otherwise.


def is_array(x) -> bool:
    if x is None or type(x) in (int, float, bool, complex, str, list, tuple, dict):
        return False  # Python values (numpy scalars still count as arrays, as array_api_compat says)
    return is_torch(x) or array_api_compat.is_array_api_obj(x)


def array_namespace(x):
    if is_torch(x):
        return torch_namespace()
    return array_api_compat.array_namespace(x)


def torch_namespace():
    """The torch array namespace: array_api_compat's, with the functions that
    take a Python scalar made traceable by ``torch.compile``
    (:mod:`losskit._torch_namespace`). A plain import, so it also works when
    the first call happens inside a compiled function."""
    from . import _torch_namespace

    return _torch_namespace


def array_device(x):
    return x.device if is_torch(x) else array_api_compat.device(x)


def array_size(x) -> int:
    return x.numel() if is_torch(x) else array_api_compat.size(x)


def _backend_key(x) -> str:
    if array_api_compat.is_numpy_array(x):
        return "numpy"
    if array_api_compat.is_torch_array(x):
        return "torch"
    if array_api_compat.is_jax_array(x):
        return "jax"
    return type(x).__module__.split(".")[0]


def is_concrete(x) -> bool:
    """False while ``x`` is being traced (jax.jit/grad, torch.compile, torch.func),
    where its values cannot be read; value checks are skipped then."""
    if is_torch(x):
        import torch

        if torch.compiler.is_compiling():
            return False
        functorch = getattr(torch._C, "_functorch", None)
        if functorch is not None and functorch.is_functorch_wrapped_tensor(x):
            return False
        return not (x.device.type == "meta" or type(x).__name__ == "FakeTensor")
    if array_api_compat.is_jax_array(x):
        import jax

        return not isinstance(x, jax.core.Tracer)
    return True


_HALF = ("float16", "bfloat16")
_INV_SQRT_PI = 1.0 / math.sqrt(math.pi)
_SQRT1_2 = math.sqrt(0.5)


def compute_dtype(xp, x):
    """float16/bfloat16 are computed in float32; float32/float64 as they are."""
    if any(h in str(x.dtype) for h in _HALF):
        return xp.float32
    return x.dtype


def softplus(xp, x):
    """log(1 + exp(x)) without overflow for large |x|."""
    return xp.maximum(x, 0.0) + xp.log1p(xp.exp(-xp.abs(x)))


def log_sigmoid(xp, x):
    """log(sigmoid(x)) = -softplus(-x); finite for every finite x."""
    return -softplus(xp, -x)


def sigmoid(xp, x):
    """Logistic function whose branches never overflow (so no NaN gradients
    leak from the branch that ``where`` discards). Each branch sees ``x``
    itself where it is taken (not ``|x|``, whose autograd derivative at 0 is 0
    and would give sigmoid'(0) = 0 instead of 1/4)."""
    positive = x >= 0
    zero = xp.zeros_like(x)
    e = xp.exp(xp.where(positive, zero, x))  # e^x on the negative side, never overflows
    return xp.where(positive, 1.0 / (1.0 + xp.exp(-xp.where(positive, x, zero))), e / (1.0 + e))


def softmax_shift(xp, x, axis: int):
    """The max along ``axis`` (0 where it is not finite), as a constant for
    autograd: the result does not depend on the shift, so its derivative is
    exactly the one without it, and autograd skips the max's backward (an
    argmax mask over the whole array)."""
    m = xp.max(x, axis=axis, keepdims=True)
    return stop_gradient(xp, xp.where(xp.isfinite(m), m, xp.zeros_like(m)))


def logsumexp(xp, x, *, axis: int, keepdims: bool = False):
    """log(sum(exp(x))) along ``axis`` with the max shifted out; rows of all
    -inf give -inf rather than NaN, with a zero (not NaN) gradient; NaN
    propagates."""
    m = softmax_shift(xp, x, axis)
    total = xp.sum(xp.exp(x - m), axis=axis, keepdims=True)
    empty = total == 0
    out = xp.where(empty, xp.full_like(total, -math.inf), xp.log(xp.where(empty, xp.ones_like(total), total)) + m)
    return out if keepdims else xp.squeeze(out, axis=axis)


def log_softmax(xp, x, *, axis: int):
    """x - logsumexp(x), with the max subtracted first so that log p stays
    accurate as p -> 1 (no cancellation against a large shift)."""
    shifted = x - softmax_shift(xp, x, axis)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))


def inverse_link(xp, link: str, raw):
    """A loss's raw score (what gradients and Hessians are taken against) -> its input:
    ``identity``, ``sigmoid``, ``exp``, or ``softmax`` / ``log_softmax`` over the class axis 1."""
    if link == "identity":
        return raw
    if link == "sigmoid":
        return sigmoid(xp, raw)
    if link == "exp":
        return xp.exp(raw)
    if link in ("softmax", "log_softmax"):
        logp = log_softmax(xp, raw, axis=1)
        return logp if link == "log_softmax" else xp.exp(logp)
    raise ValueError(f"link must be one of 'identity', 'sigmoid', 'exp', 'softmax', 'log_softmax'; received {link!r}")


def xlogy(xp, x, y):
    """x * log(y) with 0 * log(0) = 0, and a zero gradient there too."""
    zero = x == 0
    safe_y = xp.where(zero, xp.ones_like(y), y)
    return xp.where(zero, xp.zeros_like(x), x * xp.log(safe_y))


def log1mexp(xp, a):
    """log(1 - exp(a)) for a <= 0, accurate near 0 and near -inf (Maechler 2012)."""
    near_zero = a > -math.log(2.0)
    a_hi = xp.where(near_zero, a, -xp.ones_like(a))
    a_lo = xp.where(near_zero, -xp.ones_like(a), a)
    return xp.where(near_zero, xp.log(-xp.expm1(a_hi)), xp.log1p(-xp.exp(a_lo)))


def safe_pow(xp, base, exponent: float):
    """base ** exponent for base >= 0 where 0 ** exponent is taken as 0 (its
    limit for exponent > 0), keeping gradients finite for exponent < 1. NaN
    stays NaN."""
    if exponent == 0:
        return xp.ones_like(base)
    positive = base > 0
    safe = xp.where(positive, base, xp.ones_like(base))
    return xp.where(positive, safe**exponent, xp.where(xp.isnan(base), base, xp.zeros_like(base)))


def safe_sqrt(xp, v):
    """sqrt(v) for v >= 0 with gradient 0 (not inf) at v = 0; NaN propagates."""
    zero = v == 0
    return xp.where(zero, xp.zeros_like(v), xp.sqrt(xp.where(zero, xp.ones_like(v), v)))


def one_hot(xp, labels, num_classes: int, *, axis: int, dtype):
    """One-hot encoding with the class axis inserted at ``axis``."""
    classes = xp.arange(num_classes, device=array_device(labels))
    shape = [1] * (labels.ndim + 1)
    shape[axis] = num_classes
    classes = xp.reshape(classes, tuple(shape))
    expanded = xp.expand_dims(labels, axis=axis)
    return xp.astype(expanded == xp.astype(classes, labels.dtype), dtype)


# -- stable special functions ------------------------------------------------

# W. J. Cody (1969), "Rational Chebyshev approximations for the error function",
# Math. Comp. 23(107), 631-637; coefficients of netlib SPECFUN CALERF.
_ERF_A = (3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02,
          3.20937758913846947e03, 1.85777706184603153e-1)
_ERF_B = (2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03,
          2.84423683343917062e03)
_ERF_C = (5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01,
          2.98635138197400131e02, 8.81952221241769090e02, 1.71204761263407058e03,
          2.05107837782607147e03, 1.23033935479799725e03, 2.15311535474403846e-8)
_ERF_D = (1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02,
          1.62138957456669019e03, 3.29079923573345963e03, 4.36261909014324716e03,
          3.43936767414372164e03, 1.23033935480374942e03)
_ERF_P = (3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1,
          1.60837851487422766e-2, 6.58749161529837803e-4, 1.63153871373020978e-2)
_ERF_Q = (2.56852019228982242e00, 1.87295284992346047e00, 5.27905102951428412e-1,
          6.05183413124413191e-2, 2.33520497626869185e-3)
_ERF_SMALL = 0.46875
_ERF_CLIP = 30.0  # erfc(30) ~ 1e-393: 0 in every float format


def _erf_small(xp, x):
    """erf(x) for |x| <= 0.46875 (odd in x, so correct gradients at 0)."""
    t = x * x
    num = _ERF_A[4] * t
    den = t
    for i in range(3):
        num = (num + _ERF_A[i]) * t
        den = (den + _ERF_B[i]) * t
    return x * (num + _ERF_A[3]) / (den + _ERF_B[3])


def _erfc_large(xp, y):
    """erfc(y) for 0.46875 < y <= 30 (Cody's second and third intervals), with
    exp(-y^2) split as exp(-ysq^2) exp(-(y - ysq)(y + ysq)) to keep its accuracy."""
    mid = y <= 4.0
    ym = xp.where(mid, y, xp.ones_like(y))
    num = _ERF_C[8] * ym
    den = ym
    for i in range(7):
        num = (num + _ERF_C[i]) * ym
        den = (den + _ERF_D[i]) * ym
    r_mid = (num + _ERF_C[7]) / (den + _ERF_D[7])
    yt = xp.where(mid, xp.full_like(y, 5.0), y)
    s = 1.0 / (yt * yt)
    num = _ERF_P[5] * s
    den = s
    for i in range(4):
        num = (num + _ERF_P[i]) * s
        den = (den + _ERF_Q[i]) * s
    r_tail = (_INV_SQRT_PI - s * (num + _ERF_P[4]) / (den + _ERF_Q[4])) / yt
    ysq = xp.trunc(16.0 * y) / 16.0
    delta = (y - ysq) * (y + ysq)
    return xp.exp(-ysq * ysq) * xp.exp(-delta) * xp.where(mid, r_mid, r_tail)


def erf_erfc(xp, x):
    """(erf(x), erfc(x)) from standard functions only (the array API has no
    erf), after Cody (1969): ~1e-16 relative in float64."""
    small = xp.abs(x) <= _ERF_SMALL
    xs = xp.where(small, x, xp.zeros_like(x))
    y = xp.where(small, xp.ones_like(x), xp.minimum(xp.abs(x), xp.full_like(x, _ERF_CLIP)))
    e_small = _erf_small(xp, xs)
    c_large = _erfc_large(xp, y)
    negative = x < 0
    erf = xp.where(small, e_small, xp.where(negative, c_large - 1.0, 1.0 - c_large))
    erfc = xp.where(small, 1.0 - e_small, xp.where(negative, 2.0 - c_large, c_large))
    return erf, erfc


def ndtr(xp, z):
    """Standard normal CDF, Phi(z) = erfc(-z / sqrt 2) / 2, accurate to ~1e-16
    absolute (and relative in the lower tail) in float64."""
    return 0.5 * erf_erfc(xp, -z * _SQRT1_2)[1]


# -- stable rational forms in t = |r| / c (robust regression) ----------------

def split_at_one(xp, t):
    """For t >= 0: (small, ts, tl, u) with ``small = t <= 1``, ``ts = t`` where
    small (else 1), ``tl = t`` where not small (else 1) and ``u = 1 / tl``, so
    that each branch of a ``where`` is evaluated on safe values only."""
    small = t <= 1.0
    one = xp.ones_like(t)
    ts = xp.where(small, t, one)
    tl = xp.where(small, one, t)
    return small, ts, tl, 1.0 / tl


def sqrt1p_sq(xp, t):
    """sqrt(1 + t^2) for t >= 0, with no overflow of t^2 for huge t."""
    m = xp.maximum(t, 1.0)
    inv = 1.0 / m
    q = t * inv
    return m * xp.sqrt(inv * inv + q * q)


def log1p_sq(xp, t):
    """log(1 + t^2) for t >= 0, accurate for tiny t, no overflow for huge t."""
    small, ts, tl, u = split_at_one(xp, t)
    return xp.where(small, xp.log1p(ts * ts), 2.0 * xp.log(tl) + xp.log1p(u * u))


def inv_1p_sq(xp, t):
    """1 / (1 + t^2) for t >= 0, without overflow."""
    small, ts, _, u = split_at_one(xp, t)
    uu = u * u
    return xp.where(small, 1.0 / (1.0 + ts * ts), uu / (1.0 + uu))


def ratio_1p_sq(xp, t, a: float):
    """(1 + a t^2) / (1 + t^2) for t >= 0, without overflow."""
    small, ts, _, u = split_at_one(xp, t)
    s, uu = ts * ts, u * u
    return xp.where(small, (1.0 + a * s) / (1.0 + s), (uu + a) / (uu + 1.0))


def ratio_at_zero_one(xp, f, s):
    """f(s) / s for s >= 0, taking its limit 1 at s = 0 (for f with f(0) = 0,
    f'(0) = 1), with no 0/0 in the value or the gradient."""
    positive = s > 0
    safe = xp.where(positive, s, xp.ones_like(s))
    return xp.where(positive, f(safe) / safe, xp.ones_like(s))


# -- logs clamped as PyTorch clamps them -------------------------------------

# PyTorch clamps each log term of binary_cross_entropy at -100.
_LOG_FLOOR = -100.0


def clamped_log(xp, p):
    """max(log(p), -100) with log(0) taken as -100 and a zero gradient there
    (NaN propagates)."""
    zero = p == 0
    safe = xp.where(zero, xp.ones_like(p), p)
    return xp.maximum(xp.where(zero, xp.full_like(p, _LOG_FLOOR), xp.log(safe)), _LOG_FLOOR)


def clamped_log1m(xp, p):
    """max(log(1 - p), -100), computed with log1p; log(0) at p = 1 is -100."""
    one = p == 1
    safe = xp.where(one, xp.zeros_like(p), p)
    return xp.maximum(xp.where(one, xp.full_like(p, _LOG_FLOOR), xp.log1p(-safe)), _LOG_FLOOR)


# -- log-space sums ----------------------------------------------------------

def _finite_shift(xp, m):
    return xp.where(xp.isfinite(m), m, xp.zeros_like(m))


def logaddexp3(xp, a, b, c, neg, one):
    """log(exp a + exp b + exp c) elementwise; all -inf gives -inf, and
    autograd stays finite there (``neg``/``one``: -inf/1 of a's shape,
    made once outside the time loop: this is the recursion's hot step, so it
    does not call the shared ``logsumexp``, which makes them at every call)."""
    terms = xp.stack([a, b, c], axis=0)
    m = _finite_shift(xp, xp.max(terms, axis=0))
    total = xp.sum(xp.exp(terms - m), axis=0)
    empty = total == 0
    return xp.where(empty, neg, xp.log(xp.where(empty, one, total)) + m)


def masked_logsumexp(xp, x, keep, axis: int):
    """logsumexp of ``x`` over ``axis`` counting only where ``keep``; -inf
    (with a zero gradient) where nothing counts or everything is -inf."""
    return logsumexp(xp, xp.where(keep, x, xp.full_like(x, -math.inf)), axis=axis)


# -- quotients, norms and distances ------------------------------------------

def divide_or_zero(xp, num, den):
    """num / den, 0 where den == 0 (then num == 0 too: nothing predicted,
    nothing to find); the discarded branch never divides by 0, and a NaN
    denominator propagates."""
    zero = den == 0
    return xp.where(zero, xp.zeros_like(den), num / xp.where(zero, xp.ones_like(den), den))


NORM_EPS = 1e-12  # normalisation floor: x / max(||x||, NORM_EPS)


def unit_rows(xp, x):
    """Rows (last axis) scaled to unit L2 norm; zero rows stay zero."""
    norm = safe_sqrt(xp, xp.sum(x * x, axis=-1, keepdims=True))
    return x / xp.maximum(norm, NORM_EPS)


def relu(xp, x):
    """max(x, 0) with PyTorch's ``clamp_min`` gradient at 0 (1, not 1/2),
    the same on every backend; NaN propagates."""
    return xp.where(x < 0, xp.zeros_like(x), x)


def p_norm(xp, v, p: float):
    """||v||_p along the last axis with finite gradients at v = 0. A general
    p is computed as m ||v / m||_p with m = max |v|, so |v|^p never
    overflows (a large p tends to the max norm instead of inf - inf)."""
    a = xp.abs(v)
    if p == math.inf:
        return xp.max(a, axis=-1)
    if p == 2.0:
        return safe_sqrt(xp, xp.sum(v * v, axis=-1))
    if p == 1.0:
        return xp.sum(a, axis=-1)
    m = xp.max(a, axis=-1, keepdims=True)
    scaled = a / xp.where(m > 0, m, xp.ones_like(m))
    return xp.squeeze(m, axis=-1) * safe_pow(xp, xp.sum(safe_pow(xp, scaled, p), axis=-1), 1.0 / p)


def pairwise_distance(xp, x1, x2, p: float, eps: float):
    """``torch.nn.functional.pairwise_distance``: ||x1 - x2 + eps||_p."""
    return p_norm(xp, x1 - x2 + eps, p)


# -- autograd ------------------------------------------------------------------

def stop_gradient(xp, x):
    """``x`` as a constant for autograd: detached in PyTorch, stop_gradient in
    JAX; NumPy and other backends have no autograd. (The array API standard
    has no stop-gradient.)"""
    if is_torch(x):
        return x.detach()
    if array_api_compat.is_jax_array(x):
        import jax

        return jax.lax.stop_gradient(x)
    return x
