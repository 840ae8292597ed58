"""The registry: one ``LossSpec`` per loss, and ``get``/``available``.

A spec holds what the tools above the functional layer need to know about a
loss without reading its code: family, task, input space and link, domains,
parameters with their ranges, the statistic it estimates, robustness and
convexity flags, the peers it is checked against, references, and for
pointwise losses the closed-form ``derivatives`` with respect to the raw input
(margin, logit or log-mean).

A built-in loss is defined once, in its family module under ``functional/``:
the ``@loss(...)`` decorator above the function holds its metadata (the
parameters' defaults are read from the function's signature, so they are
written once), and ``@derivatives_of(fn)`` marks the function that returns its
gradient and Hessian. The family is the defining module's name. This module
imports no family module: the definitions register themselves when
``losskit.functional`` is imported, which ``import losskit`` does.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import numbers
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from . import domains as D
from ._validate import check_bool, check_choice, check_int, check_param
from ._array import array_device, array_namespace, is_array

__all__ = ["Param", "LossSpec", "Loss", "loss", "derivatives_of", "register", "unregister", "check_params", "get", "spec", "specs", "available"]

# How the raw model output (what a GBDT or a final linear layer produces) maps
# to the loss's ``input``: the inverse link.
LINKS = ("identity", "sigmoid", "exp", "softmax", "log_softmax")


@dataclass(frozen=True)
class Param:
    """One parameter: name, default, valid range and what it means.

    ``kind`` is "real", "int", "bool", "choice", "array" (a per-class vector)
    or "real_or_array" (a scalar, or a vector, e.g. several quantiles).
    ``default`` is read from the loss function's signature when the loss is
    defined (``loss``, ``register_loss``); give it only to a ``LossSpec``
    built by hand."""

    name: str
    domain: Any = None  # Interval for reals, a tuple of choices for "choice"
    doc: str = ""
    kind: str = "real"
    default: Any = inspect.Parameter.empty


@dataclass(frozen=True)
class LossSpec:
    name: str
    function: Callable
    family: str  # regression | classification | divergence | metric | segmentation | sequence | boxes
    task: str  # regression | quantile | count | positive | probabilistic | binary | multiclass | multilabel | distribution
    input_space: str  # what ``input`` holds, e.g. "prediction", "probability", "logit", "log-probability"
    summary: str
    estimates: str  # the statistic the minimiser estimates: mean, median, quantile, mode, ...
    input_domain: Any = D.REAL
    target_domain: Any = D.REAL
    params: tuple = ()
    aliases: tuple = ()
    # "elementwise": one loss per element; "class_axis": one per row of logits
    # (class axis 1); "aggregate": defined only on the whole batch (rmse, soft F-beta);
    # "structured": positional arrays other than one input/target pair (embeddings
    # and labels, a lattice of log-probabilities, boxes), described by ``inputs``
    # and drawn by ``example``.
    kind: str = "elementwise"
    link: str = "identity"  # raw -> input, one of LINKS
    raw_domain: Any = D.REAL
    robust: bool = False
    convex: bool = True
    hessian_nonnegative: bool = True
    derivatives: Callable | None = None  # (raw, target, *, full=False, **params) -> (gradient, hessian)
    minimum: float | None = 0.0  # value at a perfect prediction (None: not attained)
    extra_inputs: dict = field(default_factory=dict)  # name -> domain, e.g. {"var": POSITIVE}
    # input that minimises the loss for a given target (``target -> input``), for
    # the property "minimal at a perfect prediction"; None where unattainable
    # (e.g. a probability target under a logit link).
    best_input: Callable | None = None
    param_grid: tuple = ()  # extra parameter settings the property suite runs at
    # Positional array arguments in order; the first is the prediction that
    # gradients are taken with respect to.
    inputs: tuple = ("input", "target")
    # Structured losses: ``rng -> (args, kwargs)``, a valid call on typical data
    # (NumPy float64 / int64 arrays), for the property suite and the CLI.
    example: Callable | None = None
    # Structured losses whose "mean" divides each sample's loss by max(argument, 1)
    # before averaging (CTC divides by ``target_lengths``, as PyTorch does).
    mean_divides_by: str | None = None
    peers: tuple = ()  # exact peer functions this loss is tested equal to
    references: tuple = ()
    notes: str = ""

    @property
    def pointwise(self) -> bool:
        """A per-element / per-row loss with closed-form gradient and Hessian."""
        return self.derivatives is not None and self.kind != "structured"

    @property
    def arrays(self) -> tuple:
        """Every positional array argument in order: ``inputs``, then any extra
        arrays of a pointwise loss (``var``, ``std``)."""
        return self.inputs if self.kind == "structured" else (*self.inputs, *self.extra_inputs)

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def defaults(self) -> dict:
        return {p.name: p.default for p in self.params}


_SPECS: dict[str, LossSpec] = {}
_ALIASES: dict[str, str] = {}


def register(spec: LossSpec) -> LossSpec:
    """Add a spec; a name or alias may be registered once."""
    for key in (spec.name, *spec.aliases):
        if key in _SPECS or key in _ALIASES:
            raise ValueError(f"register: name {key!r} is already registered")
    if spec.link not in LINKS:
        raise ValueError(f"register: link must be one of {LINKS}; received link={spec.link!r}")
    module = spec.function.__module__.rsplit(".", 1)[-1]
    if spec.family != "custom" and spec.function.__module__.startswith("losskit.functional.") and module != spec.family:
        # a built-in's family is the module that defines it, so `losskit list --family` finds it there
        raise ValueError(f"register: family must be {module!r}, the module defining {spec.name}; "
                         f"received family={spec.family!r}")
    _SPECS[spec.name] = spec
    for alias in spec.aliases:
        _ALIASES[alias] = spec.name
    return spec


def params_from_signature(where: str, function: Callable, params) -> tuple:
    """``params`` with each default read from ``function``'s signature, so a
    default is written once. A ``Param`` may carry the default itself only
    where the signature has none (a custom loss written as a lambda); a
    parameter with no default anywhere, or two different ones, is refused."""
    signature = inspect.signature(function).parameters
    out = []
    for p in params:
        default = signature[p.name].default if p.name in signature else inspect.Parameter.empty
        if default is inspect.Parameter.empty:
            default = p.default
        elif p.default is not inspect.Parameter.empty and p.default != default:
            raise ValueError(f"{where}: parameter {p.name!r} must have one default; received {p.default!r} in its "
                             f"Param and {default!r} in the signature of {function.__name__}")
        if default is inspect.Parameter.empty:
            raise TypeError(f"{where}: parameter {p.name!r} must have a default, in the signature of "
                            f"{function.__name__} or in its Param; received neither")
        out.append(dataclasses.replace(p, default=default))
    return tuple(out)


def loss(*, name: str | None = None, params: tuple = (), **metadata):
    """Define a built-in loss: decorate its function in its family module.

    ``metadata`` holds every ``LossSpec`` field but ``function``, ``family``
    (the defining module's name) and ``derivatives`` (see ``derivatives_of``);
    ``name`` defaults to the function's name, and each ``Param``'s default is
    read from the signature. The function is returned unchanged."""

    def define(function: Callable) -> Callable:
        spec_name = name or function.__name__
        register(LossSpec(
            name=spec_name,
            function=function,
            family=function.__module__.rsplit(".", 1)[-1],
            params=params_from_signature(spec_name, function, params),
            **metadata,
        ))
        return function

    return define


def derivatives_of(*functions: Callable):
    """Mark the decorated function as the closed-form derivatives of the losses
    ``functions`` (defined with ``loss`` above it). It is called as
    ``derivatives(raw, target, *arrays, full=False, **params)`` with every
    parameter already checked and defaulted (``Loss.gradient``/``.hessian`` do
    that), and returns ``(gradient, hessian)`` with respect to the raw input."""

    def attach(derivatives: Callable) -> Callable:
        for function in functions:
            entry = next((s for s in _SPECS.values() if s.function is function), None)
            if entry is None:
                raise ValueError(f"derivatives_of: {function.__name__} must be defined with @loss before its "
                                 f"derivatives; received an unregistered function")
            _SPECS[entry.name] = dataclasses.replace(entry, derivatives=derivatives)
        return derivatives

    return attach


def unregister(name: str) -> None:
    """Remove a loss registered with ``losskit.register_loss`` (built-ins stay)."""
    entry = spec(name)
    if entry.family != "custom":
        raise ValueError(f"unregister: name must be a loss registered with register_loss; received the built-in "
                         f"{entry.name!r}")
    del _SPECS[entry.name]
    for alias in entry.aliases:
        del _ALIASES[alias]


def spec(name: str) -> LossSpec:
    """The ``LossSpec`` of a registered loss (name or alias)."""
    if not isinstance(name, str):
        raise TypeError(f"losskit: name must be a string; received {type(name).__name__}")
    key = _ALIASES.get(name, name)
    if key not in _SPECS:
        close = difflib.get_close_matches(name, available(), n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(
            f"losskit: name must be a registered loss (see losskit.available()); received {name!r}.{hint}"
        )
    return _SPECS[key]


def specs(family: str | None = None, task: str | None = None) -> list[LossSpec]:
    """All specs, optionally filtered, in registration order."""
    return [s for s in _SPECS.values() if (family is None or s.family == family) and (task is None or s.task == task)]


def available(*, aliases: bool = True) -> list[str]:
    """Sorted names of every registered loss, with their aliases unless told not to."""
    names = list(_SPECS)
    if aliases:
        names += list(_ALIASES)
    return sorted(names)


def check_params(spec: LossSpec, params: dict, *, where: str | None = None) -> dict:
    """The spec's defaults updated with ``params``, each checked against its
    ``Param`` (unknown names, types, ranges, choices), so a bad value fails
    when a loss object or module is built, not at its first call. Array values
    are checked at call time, against the input's shape."""
    where = where or spec.name
    known = {p.name for p in spec.params}
    unknown = set(params) - known
    if unknown:
        expected = ", ".join(sorted(known)) or "none"
        raise TypeError(f"{where}: unknown parameter(s) {', '.join(sorted(unknown))}; expected one of: {expected}")
    merged = {**spec.defaults(), **params}
    for p in spec.params:
        value = merged[p.name]
        if value is None or p.kind in ("array", "callable"):
            continue
        if p.kind == "bool":
            check_bool(where, p.name, value)
        elif p.kind == "int":
            check_int(where, p.name, value)
            if isinstance(p.domain, D.Interval):
                check_param(where, p.name, value, p.domain)
        elif p.kind == "choice":
            check_choice(where, p.name, value, p.domain)
        elif isinstance(p.domain, D.Interval) and (p.kind == "real" or isinstance(value, numbers.Real)):
            check_param(where, p.name, value, p.domain)
    return merged


def get(name: str, **params) -> "Loss":
    """A loss object with its parameters bound, e.g. ``get("huber", delta=2.0)``."""
    return Loss(spec(name), **params)


class Loss:
    """A registered loss with bound parameters.

    Calling it takes the same arguments as the function (``input, target``,
    any extra arrays such as ``var``, then ``weight``, ``mask``, ``reduction``
    and parameter overrides). Per-class parameters given as lists (e.g. from
    ``from_config``) are turned into arrays of the input's backend at call time.
    """

    def __init__(self, spec: LossSpec, **params):
        self.spec = spec
        self.params = check_params(spec, params)

    @property
    def name(self) -> str:
        return self.spec.name

    def _bound(self, reference, overrides: dict) -> dict:
        params = {**self.params, **overrides}
        if reference is None or not is_array(reference):
            return params
        xp = array_namespace(reference)
        dtype = reference.dtype if xp.isdtype(reference.dtype, "real floating") else None
        for p in self.spec.params:
            value = params.get(p.name)
            if p.kind in ("array", "real_or_array") and isinstance(value, (list, tuple)):
                params[p.name] = xp.asarray(value, dtype=dtype, device=array_device(reference))
        return params

    def __call__(self, input, target, *args, **kwargs):
        return self.spec.function(input, target, *args, **self._bound(input, kwargs))

    def _derivatives(self, raw, target, *args, full: bool = False, **extra):
        if self.spec.derivatives is None:
            raise TypeError(
                f"{self.name}: has no closed-form gradient/hessian ({self.spec.kind} loss: "
                f"differentiate it with autograd)"
            )
        if self.spec.kind != "structured" and len(args) > len(self.spec.extra_inputs):
            expected = ", ".join(self.spec.arrays).replace("input", "raw", 1)
            raise TypeError(f"{self.name}: the arrays must be ({expected}), as when calling the loss; received "
                            f"{2 + len(args)} positional arrays")
        # Parameter overrides are checked like the bound ones: the derivatives
        # functions receive every parameter checked and defaulted. ``full`` here
        # asks for the C x C Hessian; a loss parameter of the same name
        # (gaussian_nll's constant term) does not change any derivative.
        names = {p.name for p in self.spec.params}
        overrides = {k: v for k, v in extra.items() if k in names}
        arrays = {k: v for k, v in extra.items() if k not in names}
        params = self._bound(raw, check_params(self.spec, {**self.params, **overrides}) if overrides else {})
        return self.spec.derivatives(raw, target, *args, **{**params, **arrays, "full": full})

    def gradient(self, raw, target, *args, **extra):
        """Per-element gradient with respect to the raw input (margin, logit or
        log-mean; see ``spec.link``), unreduced and unweighted. Takes the arrays
        the loss takes, in the same order (``gradient(raw, target, var)`` for
        ``gaussian_nll``, positionally or by name). For structured
        losses, the gradient of the per-sample losses' sum with respect to the
        first input (e.g. CTC's log-probabilities)."""
        return self._derivatives(raw, target, *args, **extra)[0]

    def hessian(self, raw, target, *args, full: bool = False, **extra):
        """Per-element second derivative with respect to the raw input. For
        class-axis losses, the diagonal (shape of ``raw``), or with ``full=True``
        the C x C matrix per sample (shape (N, C, C))."""
        hess = self._derivatives(raw, target, *args, full=full, **extra)[1]
        if hess is None:
            raise TypeError(f"{self.name}: has a closed-form gradient but no Hessian")
        return hess

    def get_config(self) -> dict:
        return {"name": self.name, "params": {k: _plain(v) for k, v in self.params.items()}}

    @classmethod
    def from_config(cls, config: dict) -> "Loss":
        return get(config["name"], **config.get("params", {}))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={_plain(v)!r}" for k, v in self.params.items())
        return f"losskit.get({self.name!r}{', ' if args else ''}{args})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Loss) and self.get_config() == other.get_config()


def _plain(value):
    """JSON-friendly form of a parameter (arrays become lists)."""
    if is_array(value):
        if hasattr(value, "tolist"):
            return value.tolist()
        return np.asarray(value).tolist()
    return value
