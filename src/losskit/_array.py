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
    "log_softmax",
    "inverse_link",
    "xlogy",
    "log1mexp",
    "safe_pow",
    "safe_sqrt",
    "one_hot",
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
        import array_api_compat.torch as xp

        return xp, dict(arrays)
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
    return array_api_compat.array_namespace(*given.values()), out


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
        import array_api_compat.torch as xp

        return xp
    return array_api_compat.array_namespace(x)


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


def logsumexp(xp, x, *, axis: int, keepdims: bool = False):
    """log(sum(exp(x))) along ``axis`` with the max shifted out; rows of all
    -inf give -inf rather than NaN, with a zero (not NaN) gradient; NaN
    propagates."""
    m = xp.max(x, axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, xp.zeros_like(m))
    total = xp.sum(xp.exp(x - m), axis=axis, keepdims=True)
    empty = total == 0
    out = xp.where(empty, xp.full_like(total, -math.inf), xp.log(xp.where(empty, xp.ones_like(total), total)) + m)
    return out if keepdims else xp.squeeze(out, axis=axis)


def log_softmax(xp, x, *, axis: int):
    """x - logsumexp(x), with the max subtracted first so that log p stays
    accurate as p -> 1 (no cancellation against a large shift)."""
    m = xp.max(x, axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, xp.zeros_like(m))
    shifted = x - m
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
