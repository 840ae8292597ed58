"""The one validation and error style.

Every message reads ``<loss>: <argument> must be <expectation>; received <what>``
and is raised as ValueError (bad value or shape) or TypeError (bad type or
dtype). Nothing here uses ``assert``; nothing is broadcast, clipped or dropped.
Checks that read array values are skipped while an array is being traced
(``jax.jit``, ``torch.compile``), where its values do not exist yet.

The check policy says what the value checks (labels in range, NaN in a
target, a negative weight...) cost; type, shape, dtype and parameter checks
never read array values and always run:

- ``"full"``: read on the host, the house message with the offending value;
- ``"async"``: a device-side assertion (``torch._assert_async``) carrying
  the house message without the value; nothing is read back to the host.
  Backends without device assertions (NumPy, JAX) skip the check;
- ``"off"``: no value check;
- ``"auto"`` (default): ``"full"`` for host arrays (NumPy, CPU tensors, JAX
  on CPU), ``"async"`` for accelerator arrays.

``losskit.set_checks(mode)``, ``with losskit.checks(mode):`` or the
environment variable ``LOSSKIT_CHECKS`` choose it. The policy is one
process-wide setting (a plain module global, so that ``torch.compile`` reads it
as a constant instead of breaking the graph on a context variable).
"""

from __future__ import annotations

import contextlib
import math
import numbers
import os

from dataclasses import dataclass, field
from typing import Any

from . import domains as D
from ._array import array_device, array_size, compute_dtype, is_concrete, is_torch, namespace

REDUCTIONS = ("none", "mean", "sum")
CHECK_MODES = ("auto", "full", "async", "off")


def _check_mode(mode, where: str) -> str:
    if mode not in CHECK_MODES:
        raise ValueError(f"{where}: mode must be one of {', '.join(map(repr, CHECK_MODES))}; received {mode!r}")
    return mode


_checks = _check_mode(os.environ.get("LOSSKIT_CHECKS", "auto"), "LOSSKIT_CHECKS")


def set_checks(mode: str) -> None:
    """Set the check policy for the process: "auto", "full", "async" or "off"."""
    global _checks
    _checks = _check_mode(mode, "set_checks")


def get_checks() -> str:
    """The check policy in force (see ``set_checks``)."""
    return _checks


@contextlib.contextmanager
def checks(mode: str):
    """``with losskit.checks("off"): ...`` runs the block under another check
    policy and restores the previous one after it, also on an exception."""
    global _checks
    previous, _checks = _checks, _check_mode(mode, "checks")
    try:
        yield
    finally:
        _checks = previous


def value_checks(x) -> str:
    """How the value checks of array ``x`` run now: "full", "async" or "off"."""
    if _checks != "auto":
        return _checks
    device = array_device(x)
    kind = getattr(device, "type", None) or getattr(device, "platform", None) or "cpu"
    return "full" if str(kind) == "cpu" else "async"


def refuse_where(xp, bad, rule: str, full_message) -> None:
    """Refuse a call where any element of ``bad`` holds, under the policy:
    ``full_message()`` (which may read values to name one) on the host;
    a device assertion saying ``rule`` under "async" (torch); nothing under
    "off", while tracing, or on a backend without device assertions."""
    mode = value_checks(bad)
    if mode == "off" or not is_concrete(bad):
        return
    if mode == "async":
        if is_torch(bad):
            import torch

            if not torch.compiler.is_compiling():
                torch._assert_async(torch.logical_not(torch.any(bad)), f"{rule} (checked on the device)")
        return
    if any_true(xp, bad):
        raise ValueError(full_message())


def refusal(where: str, arg: str, expectation: str, received: str, kind=ValueError) -> Exception:
    """The house error, made (not raised) for a caller to raise:
    ``<where>: <arg> must be <expectation>; received <received>``. The one helper of the
    library layers (``compare.config.fail`` and ``recommend.profile.fail`` are this with
    ``where`` bound).

    >>> refusal("compare", "--folds", "an integer >= 2", "1")
    ValueError('compare: --folds must be an integer >= 2; received 1')
    """
    return kind(f"{where}: {arg} must be {expectation}; received {received}")


# -- scalars -----------------------------------------------------------------


def check_chunk_size(where, chunk_size):
    """``chunk_size`` checked: None or a positive int; ``where`` names the caller in errors."""
    if chunk_size is None:
        return None
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, numbers.Integral):
        raise TypeError(f"{where}: chunk_size must be a positive integer or None; "
                        f"received {type(chunk_size).__name__} {chunk_size!r}")
    if chunk_size < 1:
        raise ValueError(f"{where}: chunk_size must be a positive integer or None; received chunk_size={chunk_size!r}")
    return int(chunk_size)


def check_reduction(loss: str, reduction) -> str:
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        raise ValueError(
            f"{loss}: reduction must be one of 'none', 'mean', 'sum'; received reduction={reduction!r}"
        )
    return reduction


def check_param(loss: str, name: str, value, domain: D.Interval) -> float:
    """A real scalar parameter inside ``domain``; returns it as a float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{loss}: {name} must be a real number; received {type(value).__name__} {value!r}")
    value = float(value)
    if not domain.contains_scalar(value):
        raise ValueError(f"{loss}: {name} must be {domain.expectation(value)}; received {name}={value!r}")
    return value


def check_int(loss: str, name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{loss}: {name} must be an integer; received {type(value).__name__} {value!r}")
    return int(value)


def check_bool(loss: str, name: str, value) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{loss}: {name} must be True or False; received {value!r}")
    return value


def check_choice(loss: str, name: str, value, choices) -> Any:
    if value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{loss}: {name} must be one of {options}; received {name}={value!r}")
    return value


# -- arrays ------------------------------------------------------------------


def check_floating(loss: str, name: str, xp, x) -> None:
    if not xp.isdtype(x.dtype, "real floating"):
        raise TypeError(f"{loss}: {name} must have a floating dtype; received dtype {x.dtype}")


def check_real(loss: str, name: str, xp, x) -> None:
    if not (xp.isdtype(x.dtype, "numeric") or xp.isdtype(x.dtype, "bool")) or xp.isdtype(
        x.dtype, "complex floating"
    ):
        raise TypeError(f"{loss}: {name} must have a real numeric dtype; received dtype {x.dtype}")


def check_shape(loss: str, name: str, x, shape: tuple, what: str) -> None:
    if tuple(x.shape) != tuple(shape):
        raise ValueError(
            f"{loss}: {name} must have shape {tuple(shape)} ({what}); received shape {tuple(x.shape)}"
        )


def _example(xp, x, bad) -> str:
    try:
        x = x.detach() if hasattr(x, "detach") else x
        return repr(float(x[bad][0]))
    except Exception:  # noqa: BLE001 - message detail only; some backends cannot index by mask
        return "some values"


def any_true(xp, condition) -> bool:
    """Whether any element holds; False while tracing, where a concrete array
    combined with a traced one (a jax array closed over by ``jax.jit``) gives a
    traced result whose value cannot be read."""
    result = xp.any(condition)
    return is_concrete(result) and bool(result)


def _torch_range(x):
    """(min, max) of a floating torch tensor in one pass (NaN when it holds a
    NaN), or None for anything else. Checking a large target against an
    interval this way reads it once instead of four times: it matters beside
    the fused kernels, whose whole pass costs about as much."""
    if not (is_torch(x) and x.dtype.is_floating_point and x.numel() > 0
            and x.device.type != "meta"):
        return None
    import torch

    if torch.compiler.is_compiling():
        return None
    low, high = torch.aminmax(x.detach())
    return float(low), float(high)


def check_no_nan(loss: str, name: str, xp, x) -> None:
    if not (is_concrete(x) and xp.isdtype(x.dtype, "real floating")):
        return
    message = f"{loss}: {name} must not contain NaN; received {name} with NaN"
    if value_checks(x) == "full":
        span = _torch_range(x)
        if span is not None and span[0] == span[0]:
            return  # aminmax gives NaN when any element is NaN
    refuse_where(xp, xp.isnan(x), message.split("; received")[0], lambda: message)


def check_values(loss: str, name: str, xp, x, domain, when: str = "", *, infinite_ok: bool = False) -> None:
    """All (non-NaN) values of ``x`` lie in ``domain``; ``when`` names the
    setting that asks for it, e.g. "when power >= 2". ``infinite_ok``: only
    the domain's bounds are checked, ``inf``/``-inf`` pass where the bounds
    admit them (predictions: an infinite input propagates, as NaN does)."""
    if not is_concrete(x) or array_size(x) == 0:
        return
    stated = domain  # what the message says: the bounds
    if isinstance(domain, D.Interval):
        if infinite_ok:
            if domain.low == -math.inf and domain.high == math.inf:
                return  # no bound to check
            domain = domain.with_infinities()
        elif domain.holds_every_number:
            return
        if value_checks(x) == "full":
            span = _torch_range(x)
            if span is not None and domain.contains_scalar(span[0]) and domain.contains_scalar(span[1]):
                return  # an interval holds everything between its members
    if value_checks(x) == "off":
        return
    bad = xp.logical_not(domain.inside(xp, x))
    when = f" {when}" if when else ""

    def message():
        example = _example(xp, x, bad)
        try:
            expected = stated.expectation(float(example))
        except ValueError:
            expected = stated.describe()
        return f"{loss}: {name} must be {expected}{when}; received {example}"

    refuse_where(xp, bad, f"{loss}: {name} must be {stated.describe()}{when}", message)


def _span(xp, x):
    """(min, max) of a concrete floating array (NaN when it holds a NaN):
    one pass on torch (aminmax), a min and a max elsewhere; None where they
    cannot be read (inside ``jax.jit``, a closed-over concrete array gives
    traced results)."""
    if is_torch(x):
        return _torch_range(x)
    low, high = xp.min(x), xp.max(x)
    return (float(low), float(high)) if is_concrete(low) else None


def check_data(loss: str, name: str, xp, x, domain, when: str = "") -> None:
    """A data array (target, weight, per-class vector): no NaN and every value
    in ``domain``, so finite unless the domain admits an infinity. Valid data
    is read once (its min and max); only a failing array is read again to
    say what is wrong."""
    if not is_concrete(x) or array_size(x) == 0 or value_checks(x) == "off":
        return
    if isinstance(domain, D.Interval) and xp.isdtype(x.dtype, "real floating") and value_checks(x) == "full":
        span = _span(xp, x)
        if span is not None and domain.contains_scalar(span[0]) and domain.contains_scalar(span[1]):
            return
    check_no_nan(loss, name, xp, x)
    check_values(loss, name, xp, x, domain, when)


def as_float(loss: str, name: str, xp, x, dtype):
    """A real-valued array (floats, integers or booleans) cast to the compute dtype."""
    check_real(loss, name, xp, x)
    return x if x.dtype == dtype else xp.astype(x, dtype)


def not_ignored(xp, labels, ignore_index):
    """``labels != ignore_index`` for integer labels, or None where nothing is
    ignored: no ``ignore_index``, or one outside the range of the labels'
    dtype, which no label can equal (comparing with it would overflow on
    torch and JAX, while NumPy compares; so every backend ignores nothing)."""
    if ignore_index is None:
        return None
    info = xp.iinfo(labels.dtype)
    if not info.min <= ignore_index <= info.max:
        return None
    return labels != ignore_index


# -- batches -----------------------------------------------------------------


@dataclass
class Batch:
    """A validated call: arrays in one backend, cast to the compute dtype."""

    loss: str
    xp: Any
    input: Any
    target: Any
    weight: Any
    mask: Any
    out_dtype: Any
    dtype: Any
    extras: dict = field(default_factory=dict)
    # class-axis losses only
    num_classes: int = 0
    labels: Any = None  # integer labels with ignored entries replaced by 0
    valid: Any = None  # boolean, False where target == ignore_index

    def out(self, x):
        """Cast a result back to the input's dtype (float16/bfloat16 inputs are
        computed in float32)."""
        return x if x.dtype == self.out_dtype else self.xp.astype(x, self.out_dtype)


def _weight_and_mask(loss, xp, weight, mask, shape, dtype, what):
    if weight is not None:
        check_shape(loss, "weight", weight, shape, what)
        weight = as_float(loss, "weight", xp, weight, dtype)
        check_data(loss, "weight", xp, weight, D.NONNEGATIVE)
    if mask is not None:
        if mask.dtype != xp.bool:
            raise TypeError(f"{loss}: mask must have a boolean dtype; received dtype {mask.dtype}")
        check_shape(loss, "mask", mask, shape, what)
    return weight, mask


def structured(
    loss: str,
    arrays: dict,
    *,
    reduction: str,
    floating: tuple,
    integral: tuple = (),
    optional: tuple = (),
):
    """Validate the arrays of a structured loss (embeddings, lattices, boxes).

    ``arrays`` maps argument names to values, ``weight`` and ``mask``
    included (so that they are checked to be arrays of the same backend as
    the others, or converted from lists). Every array is required except
    ``weight``, ``mask`` and the names in ``optional``, which may be None.
    The names in ``floating`` must hold floating arrays and are cast to the
    compute dtype of the first of them (float16/bfloat16 -> float32); those
    in ``integral`` must hold integer arrays, and are cast to the backend's
    default index dtype unless they are int32 or int64 (so uint8 labels index
    like int64 ones on every backend). Returns ``(xp, arrays, dtype,
    out_dtype)``. Shapes and values are the caller's to check; ``per_sample``
    then makes the ``Batch`` that ``reduce`` takes, from ``arrays["weight"]``
    and ``arrays["mask"]``.
    """
    check_reduction(loss, reduction)
    required = tuple(k for k in arrays if k not in ("weight", "mask", *optional))
    xp, arrays = namespace(loss, arrays, required)
    first = arrays[floating[0]]
    check_floating(loss, floating[0], xp, first)
    dtype = compute_dtype(xp, first)
    out_dtype = first.dtype
    for name in floating:
        x = arrays.get(name)
        if x is None:
            continue
        check_floating(loss, name, xp, x)
        arrays[name] = x if x.dtype == dtype else xp.astype(x, dtype)
    for name in integral:
        x = arrays.get(name)
        if x is not None and not xp.isdtype(x.dtype, "integral"):
            raise TypeError(f"{loss}: {name} must have an integer dtype; received dtype {x.dtype}")
        if x is not None and x.dtype not in (xp.int32, xp.int64):
            arrays[name] = xp.astype(x, xp.asarray(0, device=array_device(x)).dtype)
    return xp, arrays, dtype, out_dtype


def per_sample(loss: str, xp, shape: tuple, what: str, *, weight, mask, dtype, out_dtype, input=None) -> Batch:
    """The ``Batch`` of a structured loss whose unreduced values have
    ``shape`` (``what`` says what one value is, for the error message):
    ``weight`` and ``mask`` must have that shape."""
    w, m = _weight_and_mask(loss, xp, weight, mask, shape, dtype, what)
    return Batch(loss, xp, input, None, w, m, out_dtype, dtype)


def elementwise(
    loss: str,
    input,
    target,
    *,
    weight=None,
    mask=None,
    reduction: str = "mean",
    input_domain=D.REAL,
    target_domain=D.REAL,
    extras: dict | None = None,
    input_name: str = "input",
) -> Batch:
    """Validate an elementwise loss: ``target``, ``weight``, ``mask`` and every
    extra array (e.g. ``var``) have exactly the shape of ``input``.

    ``extras`` maps a name to ``(array, domain)``.
    """
    check_reduction(loss, reduction)
    extras = extras or {}
    xp, arrays = namespace(
        loss,
        {input_name: input, "target": target, "weight": weight, "mask": mask, **{k: v for k, (v, _) in extras.items()}},
        (input_name, "target", *extras),
    )
    x = arrays[input_name]
    check_floating(loss, input_name, xp, x)
    dtype = compute_dtype(xp, x)
    out_dtype = x.dtype
    x = xp.astype(x, dtype) if x.dtype != dtype else x
    y = arrays["target"]
    check_shape(loss, "target", y, x.shape, f"the shape of {input_name}")
    y = as_float(loss, "target", xp, y, dtype)
    check_data(loss, "target", xp, y, target_domain)
    check_values(loss, input_name, xp, x, input_domain, infinite_ok=True)
    cast_extras = {}
    for name, (_, domain) in extras.items():
        e = arrays[name]
        check_shape(loss, name, e, x.shape, f"the shape of {input_name}")
        e = as_float(loss, name, xp, e, dtype)
        check_no_nan(loss, name, xp, e)
        check_values(loss, name, xp, e, domain, infinite_ok=True)  # a prediction, as input
        cast_extras[name] = e
    w, m = _weight_and_mask(loss, xp, arrays["weight"], arrays["mask"], x.shape, dtype, f"the shape of {input_name}")
    return Batch(loss, xp, x, y, w, m, out_dtype, dtype, cast_extras)


def class_axis(
    loss: str,
    input,
    target,
    *,
    weight=None,
    mask=None,
    reduction: str = "mean",
    ignore_index: int | None = None,
    class_weight=None,
    allow_probabilities: bool = True,
    probability_domain=D.UNIT,
    input_domain=D.REAL,
    extras: dict | None = None,
    input_name: str = "input",
) -> Batch:
    """Validate a loss over the class axis (axis 1; axis 0 for one unbatched row).

    ``input`` has shape (N, C, d1, ...) or (C,). ``target`` is either integer
    class indices of shape (N, d1, ...) or () , or, where
    ``allow_probabilities``, a floating array of ``input``'s shape (one
    distribution per sample). ``weight`` and ``mask`` are per sample.
    ``extras`` maps a name to an optional per-class array (e.g. focal's
    ``alpha``), checked to be a length-C vector without NaN.
    """
    check_reduction(loss, reduction)
    xp, arrays = namespace(
        loss,
        {input_name: input, "target": target, "weight": weight, "mask": mask, "class_weight": class_weight,
         **{k: v for k, v in (extras or {}).items()}},
        (input_name, "target"),
    )
    x = arrays[input_name]
    check_floating(loss, input_name, xp, x)
    if x.ndim < 1:
        raise ValueError(f"{loss}: {input_name} must have a class axis, shape (N, C, ...) or (C,); received shape ()")
    dtype = compute_dtype(xp, x)
    out_dtype = x.dtype
    x = xp.astype(x, dtype) if x.dtype != dtype else x
    axis = 1 if x.ndim >= 2 else 0
    num_classes = x.shape[axis]
    sample_shape = tuple(s for i, s in enumerate(x.shape) if i != axis)
    y = arrays["target"]
    labels = valid = None
    check_real(loss, "target", xp, y)
    if xp.isdtype(y.dtype, "integral"):
        check_shape(loss, "target", y, sample_shape, "the input's shape without the class axis, for class indices")
        if ignore_index is not None:
            ignore_index = check_int(loss, "ignore_index", ignore_index)
        valid = not_ignored(xp, y, ignore_index)
        if is_concrete(y) and array_size(y) and value_checks(y) != "off":
            in_range = xp.logical_and(y >= 0, y < num_classes)
            bad = xp.logical_not(in_range if valid is None else xp.logical_or(in_range, xp.logical_not(valid)))
            ign = f" or ignore_index={ignore_index}" if ignore_index is not None else ""
            rule = f"{loss}: target must hold class indices in [0, {num_classes}){ign}"
            refuse_where(xp, bad, rule, lambda: f"{rule}; received {int(y[bad][0])}")
        labels = y if valid is None else xp.where(valid, y, xp.zeros_like(y))
        y = None
    elif allow_probabilities:
        if tuple(y.shape) != tuple(x.shape):
            raise ValueError(
                f"{loss}: target must be integer class indices of shape {sample_shape} or class "
                f"probabilities of shape {tuple(x.shape)}; received {y.dtype} of shape {tuple(y.shape)}"
            )
        y = as_float(loss, "target", xp, y, dtype)
        check_data(loss, "target", xp, y, probability_domain)
    else:
        raise TypeError(
            f"{loss}: target must hold integer class indices of shape {sample_shape}; received dtype {y.dtype}"
        )
    check_values(loss, input_name, xp, x, input_domain, infinite_ok=True)
    cw = arrays["class_weight"]
    if cw is not None:
        check_shape(loss, "class_weight", cw, (num_classes,), "one weight per class")
        cw = as_float(loss, "class_weight", xp, cw, dtype)
        check_data(loss, "class_weight", xp, cw, D.NONNEGATIVE)
    cast_extras = {"class_weight": cw}
    for name in extras or {}:
        e = arrays[name]
        if e is not None:
            check_shape(loss, name, e, (num_classes,), "one value per class")
            e = as_float(loss, name, xp, e, dtype)
            check_no_nan(loss, name, xp, e)
        cast_extras[name] = e
    w, m = _weight_and_mask(loss, xp, arrays["weight"], arrays["mask"], sample_shape, dtype, "one value per sample")
    return Batch(loss, xp, x, y, w, m, out_dtype, dtype, cast_extras, num_classes, labels, valid)
