"""The array namespace of torch tensors: array_api_compat.torch, except the
functions that take a Python scalar next to a tensor.

array_api_compat turns such a scalar into a tensor (and aligns a 0-d tensor's
dtype) through ``torch.result_type``, which returns a dtype: torch.compile
cannot put that in a graph, so every ``xp.minimum(x, 0.5)`` broke a
``fullgraph=True`` compile. Here a Python scalar takes the tensor's dtype (the
array API's rule for Python scalars) without asking ``result_type``; two
tensors of different dtypes still go through array_api_compat. Imported on
the first torch call, never by ``import losskit``.
"""

import array_api_compat.torch as _compat
import torch as _torch

_PY_SCALARS = (bool, int, float)


def __getattr__(name):
    """Every other name of the namespace is array_api_compat's."""
    return getattr(_compat, name)


def _scalar_as(value, like):
    """A Python scalar as a 0-d tensor of ``like``'s dtype and device (the
    default float dtype for a float next to an integer tensor)."""
    if isinstance(like, _torch.Tensor) and isinstance(value, _PY_SCALARS):
        floating = like.is_floating_point() or like.is_complex()
        dtype = like.dtype if floating or not isinstance(value, float) else _torch.get_default_dtype()
        return _torch.as_tensor(value, dtype=dtype, device=like.device)
    return value


def _same_dtype(compat_function, torch_function):
    def function(x1, x2, /, **kwargs):
        x1, x2 = _scalar_as(x1, x2), _scalar_as(x2, x1)
        if isinstance(x1, _torch.Tensor) and isinstance(x2, _torch.Tensor) and x1.dtype == x2.dtype:
            return torch_function(x1, x2, **kwargs)
        return compat_function(x1, x2, **kwargs)

    function.__name__ = compat_function.__name__
    return function


maximum = _same_dtype(_compat.maximum, _torch.maximum)
minimum = _same_dtype(_compat.minimum, _torch.minimum)
equal = _same_dtype(_compat.equal, _torch.eq)
not_equal = _same_dtype(_compat.not_equal, _torch.not_equal)
greater = _same_dtype(_compat.greater, _torch.greater)
greater_equal = _same_dtype(_compat.greater_equal, _torch.greater_equal)
less = _same_dtype(_compat.less, _torch.less)
less_equal = _same_dtype(_compat.less_equal, _torch.less_equal)
logaddexp = _same_dtype(_compat.logaddexp, _torch.logaddexp)
atan2 = _same_dtype(_compat.atan2, _torch.atan2)
hypot = _same_dtype(_compat.hypot, _torch.hypot)
copysign = _same_dtype(_compat.copysign, _torch.copysign)
nextafter = _same_dtype(_compat.nextafter, _torch.nextafter)


def where(condition, x1, x2, /):
    like = x1 if isinstance(x1, _torch.Tensor) else x2
    x1, x2 = _scalar_as(x1, like), _scalar_as(x2, like)
    if isinstance(x1, _torch.Tensor) and isinstance(x2, _torch.Tensor) and x1.dtype == x2.dtype:
        return _torch.where(condition, x1, x2)
    return _compat.where(condition, x1, x2)
