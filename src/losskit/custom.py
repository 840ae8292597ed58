"""Your own pointwise loss, in a few lines, with everything a built-in has.

Write the per-element loss with array-API operations; ``register_loss``
turns it into a loss that keeps the contract (validation, ``weight``,
``mask``, the one reduction, float16 computed in float32, NumPy, PyTorch and
JAX), registers it under a name, and gives it a gradient and Hessian
(yours, or derived by autograd), a module (``losskit.torch.module(name)``)
and the property suite (``losskit.testing.properties.check_properties(name)``):

>>> import numpy as np, losskit
>>> @losskit.register_loss("log_quartic", summary="log(1 + r^4): flat near 0, logarithmic far out",
...                        estimates="a robust location", robust=True, convex=False)
... def log_quartic(input, target, *, xp, scale=1.0):
...     r = (input - target) / scale
...     return xp.log1p(r ** 4)
>>> log_quartic(np.array([0.0, 1.0, 3.0]), np.zeros(3), reduction="none").round(4).tolist()
[0.0, 0.6931, 4.4067]
>>> losskit.get("log_quartic").gradient(np.array([1.0]), np.zeros(1)).tolist()  # 4 r^3 / (1 + r^4)
[2.0]
>>> losskit.unregister("log_quartic")
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import numbers
from typing import Callable

import array_api_compat
import numpy as np

from . import domains as D
from ._array import array_namespace, inverse_link, is_array, is_torch
from ._reduce import reduce
from ._validate import elementwise
from .registry import LossSpec, Param, check_params, params_from_signature, register

__all__ = ["define_loss", "register_loss"]

_LINKS = ("identity", "sigmoid", "exp")


def register_loss(name: str, function: Callable | None = None, **options):
    """Register a pointwise (elementwise) loss and return its contract function.

    Use it as a decorator (``@register_loss("name", ...)``) or call it with the
    function; ``options`` are ``define_loss``'s, which builds the same spec
    without registering it. ``losskit.unregister(name)`` removes it again.
    """
    if function is None:
        return lambda f: register_loss(name, f, **options)
    return register(define_loss(name, function, **options)).function


def define_loss(
    name: str,
    function: Callable,
    *,
    gradient: Callable | None = None,
    hessian: Callable | None = None,
    link: str = "identity",
    summary: str = "",
    estimates: str = "",
    task: str = "regression",
    input_space: str | None = None,
    input_domain: D.Interval = D.REAL,
    target_domain: D.Interval = D.REAL,
    params: dict | None = None,
    minimum: float | None = 0.0,
    best_input: Callable | str | None = "target",
    convex: bool = False,
    hessian_nonnegative: bool | None = None,
    robust: bool = False,
    param_grid: tuple = (),
    references: tuple = ("user-defined",),
    aliases: tuple = (),
) -> LossSpec:
    """The ``LossSpec`` of a pointwise (elementwise) loss, not registered
    (``register_loss`` registers it; ``losskit.check`` checks it as it is).

    The function takes ``(input, target, **params)`` arrays of one
    backend and returns the per-element loss, the same shape; it is called
    with ``xp=`` (the array-API namespace) too if it has an ``xp`` parameter.
    Its keyword parameters with defaults are the loss's parameters, or give
    ``params={"name": default}`` / ``Param`` objects to state their ranges.

    - ``link``: ``"identity"`` (the input is the prediction), ``"sigmoid"``
      (a probability; derivatives are taken with respect to the logit) or
      ``"exp"`` (a positive mean; derivatives with respect to its log).
    - ``gradient`` / ``hessian``: ``(raw, target, **params) -> per-element``
      derivatives with respect to the raw score (the input itself under the
      identity link). Left out, they are derived by autograd (torch, else
      JAX) from the loss; a Hessian left out is derived from your gradient.
    - ``minimum`` and ``best_input`` (``"target"``, a callable ``target ->
      input``, or None) state where the loss is minimal; ``convex`` and
      ``hessian_nonnegative`` (default: ``convex``) are claims the property
      suite checks, so state only what holds.
    - ``task``, ``summary``, ``estimates``, ``robust``, ``references`` appear
      in ``losskit list`` and ``losskit show`` like a built-in's.
    """
    _check_args(name, function, gradient, hessian, link)
    declared = _params(name, function, params)
    holder: dict = {}

    def loss(input, target, *, weight=None, mask=None, reduction="mean", **kwargs):
        values = check_params(holder["spec"], kwargs)
        b = elementwise(name, input, target, weight=weight, mask=mask, reduction=reduction,
                        input_domain=input_domain, target_domain=target_domain)
        return reduce(b, _per_element(name, function, b.xp, b.input, b.target, values, b.input.shape), reduction)

    loss.__name__ = loss.__qualname__ = name
    loss.__doc__ = function.__doc__ or summary
    loss.__signature__ = inspect.Signature(
        [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD) for n in ("input", "target")]
        + [inspect.Parameter(p.name, inspect.Parameter.KEYWORD_ONLY, default=p.default) for p in declared]
        + [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=d)
           for n, d in (("weight", None), ("mask", None), ("reduction", "mean"))]
    )

    def derivatives(raw, target, *, full=False, **kwargs):
        values = check_params(holder["spec"], kwargs)
        b = elementwise(name, raw, target, input_name="raw")

        def per_element(r):  # raw -> loss, through the link; r may be on torch or JAX for NumPy input
            xp = array_namespace(r)
            return _per_element(name, function, xp, inverse_link(xp, link, r), _like(b.target, r), values, r.shape)

        def user_gradient(r):
            return _per_element(name, gradient, array_namespace(r), r, _like(b.target, r),
                                values, r.shape, what="gradient")

        if gradient is None:
            g, h = _autodiff(per_element, b.input, second=True)
        elif hessian is None:
            g = user_gradient(b.input)
            _, h = _autodiff(user_gradient, b.input, second=False)
        else:
            g = user_gradient(b.input)
            h = _per_element(name, hessian, b.xp, b.input, b.target, values, b.input.shape, what="hessian")
        return b.out(g), b.out(h)

    if best_input == "target":
        best_input = (lambda y: y) if link == "identity" else None
    spec = LossSpec(
        name=name, function=loss, family="custom", task=task,
        input_space=input_space or {"identity": "prediction", "sigmoid": "probability", "exp": "mean"}[link],
        summary=summary or f"user-defined loss {name}", estimates=estimates or "user-defined",
        input_domain=input_domain, target_domain=target_domain, params=tuple(declared), aliases=tuple(aliases),
        kind="elementwise", link=link,
        raw_domain=D.REAL if link != "identity" else input_domain,
        robust=robust, convex=convex,
        hessian_nonnegative=convex if hessian_nonnegative is None else hessian_nonnegative,
        derivatives=derivatives, minimum=minimum, best_input=best_input, param_grid=tuple(param_grid),
        references=tuple(references),
    )
    holder["spec"] = spec
    return spec


def _check_args(name, function, gradient, hessian, link):
    where = "register_loss"
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"{where}: name must be a Python identifier such as 'my_loss'; received {name!r}")
    for arg, value in (("function", function), ("gradient", gradient), ("hessian", hessian)):
        if value is not None and not callable(value):
            raise TypeError(f"{where}: {arg} must be callable; received {type(value).__name__}")
    if hessian is not None and gradient is None:
        raise ValueError(f"{where}: hessian needs gradient (a Hessian without its gradient cannot be checked); "
                         f"received hessian only")
    if link not in _LINKS:
        raise ValueError(f"{where}: link must be one of {', '.join(map(repr, _LINKS))}; received link={link!r}")


def _params(name, function, params) -> list[Param]:
    """The loss's parameters: ``params`` if given, else the function's keyword
    parameters that have defaults (``xp`` aside)."""
    if params is None:
        sig = inspect.signature(function)
        params = {p.name: p.default for p in sig.parameters.values()
                  if p.default is not inspect.Parameter.empty and p.name != "xp"}
    out = []
    for key, value in params.items():
        if isinstance(value, Param):
            out.append(value)
        elif isinstance(value, bool):
            out.append(Param(key, kind="bool", default=value))
        elif isinstance(value, numbers.Integral):
            out.append(Param(key, kind="int", default=value))
        elif isinstance(value, numbers.Real):
            out.append(Param(key, kind="real", default=float(value)))
        else:
            raise TypeError(f"register_loss: parameter {key} of {name} must have a number or bool default, or be a "
                            f"losskit.Param; received {value!r}")
    return list(params_from_signature(name, function, out))


def _per_element(name, function, xp, input, target, params, shape, what="loss"):
    kwargs = dict(params)
    if _takes_xp(function):
        kwargs["xp"] = xp
    out = function(input, target, **kwargs)
    if not is_array(out) or tuple(out.shape) != tuple(shape):
        got = f"shape {tuple(out.shape)}" if hasattr(out, "shape") else type(out).__name__
        raise TypeError(f"{name}: the {what} function must return one value per element, an array of shape "
                        f"{tuple(shape)}; received {got}")
    return out


@functools.lru_cache(maxsize=None)
def _takes_xp(function) -> bool:
    """Read once per function, not on every call of the loss."""
    return "xp" in inspect.signature(function).parameters


def _like(target, r):
    """``target`` on the backend that ``r`` is on (they differ when NumPy input
    is differentiated through torch or JAX)."""
    if type(target) is type(r):
        return target
    return _from_numpy(_host(target), r)


def _host(a) -> np.ndarray:
    return a if isinstance(a, np.ndarray) else np.from_dlpack(a)


def _from_numpy(a, like):
    if is_torch(like):
        import torch

        return torch.from_numpy(np.ascontiguousarray(a)).to(like.device)
    import jax.numpy as jnp

    return jnp.asarray(a)


def _autodiff(per_element, raw, *, second: bool):
    """(d/draw, d2/draw2) of an elementwise function: the gradient of its sum
    (element i depends on raw i only, so that is every element's derivative),
    and the gradient of that gradient's sum. ``second=False`` returns
    (per_element(raw), its derivative): a user's gradient and its Hessian."""
    if is_torch(raw):
        return _torch_autodiff(per_element, raw, second)
    if array_api_compat.is_jax_array(raw):
        return _jax_autodiff(per_element, raw, second)
    # NumPy or any other array-API library: differentiate through torch or JAX, then come back.
    xp = array_namespace(raw)
    host = _host(raw)
    if importlib.util.find_spec("torch") is not None:
        import torch

        first, other = _torch_autodiff(per_element, torch.from_numpy(np.array(host)), second)
    elif importlib.util.find_spec("jax") is not None:
        import jax

        with jax.enable_x64(host.dtype == np.float64):
            first, other = _jax_autodiff(per_element, _from_numpy(host, raw), second)
            first, other = np.asarray(first), np.asarray(other)
    else:
        raise ImportError("register_loss: a loss without a closed-form gradient is differentiated by torch or jax; "
                          "install one of them, or pass gradient= and hessian=")
    back = [xp.asarray(np.asarray(first.detach() if hasattr(first, "detach") else first)),
            xp.asarray(np.asarray(other.detach() if hasattr(other, "detach") else other))]
    return back[0], back[1]


def _torch_autodiff(per_element, raw, second):
    import torch

    with torch.enable_grad():
        r = raw.detach().requires_grad_(True)
        out = per_element(r)
        (g,) = torch.autograd.grad(out.sum(), r, create_graph=second)
        if not second:
            return out.detach(), g.detach()
        h = torch.autograd.grad(g.sum(), r, allow_unused=True)[0] if g.requires_grad else None
        return g.detach(), torch.zeros_like(r) if h is None else h.detach()


def _jax_autodiff(per_element, raw, second):
    import jax

    def total(r):
        return per_element(r).sum()

    if not second:
        return per_element(raw), jax.grad(total)(raw)
    return jax.grad(total)(raw), jax.grad(lambda r: jax.grad(total)(r).sum())(raw)
