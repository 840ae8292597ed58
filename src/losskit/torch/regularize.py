r"""Weight penalties over a model's parameters: L1, L2 and elastic net.

One parameterisation, scikit-learn's ``ElasticNet``, covers all three:

.. math::
    R(w) = \text{strength}\,\Big(r\,\lVert w\rVert_1
           + \tfrac{1-r}{2}\,\lVert w\rVert_2^2\Big),
    \qquad r = \text{l1\_ratio} \in [0, 1]

so ``L1(s)`` is ``s * sum|w|`` (r = 1) and ``L2(s)`` is ``s/2 * sum(w**2)``
(r = 0). The gradient of ``L2(s)`` is ``s * w``: the ``weight_decay=s`` of
``torch.optim.SGD`` and ``torch.optim.Adam`` (which add ``weight_decay * w`` to
the gradient), not of ``AdamW`` (which decays the weights outside the
adaptive step). The gradient of ``|w|`` at exactly 0 is 0 (torch's ``abs``).

What is penalised (the *selection*), for a model given as an ``nn.Module``:

1. frozen parameters (``requires_grad=False``) never;
2. a parameter matching an ``exclude`` glob never;
3. if ``include`` is given, only parameters matching one of its globs; if
   ``include_types`` is given, only parameters owned by an instance of one of
   those module types;
4. by default not biases (a name whose last part ends in ``bias``,
   ``exclude_biases=True``) nor parameters of normalisation layers
   (``exclude_types=DEFAULT_EXCLUDED_TYPES``); embeddings are penalised.
   An ``include`` entry without wildcards (``*``, ``?``, ``[``) names one
   parameter *exactly*: that parameter is penalised even where rule 4 would
   drop it; a glob only narrows, rule 4 still applies to what it matches.

Globs are matched with ``fnmatch.fnmatchcase`` against the qualified names of
``model.named_parameters()`` (``*`` crosses dots: ``"encoder.*"`` matches
``"encoder.layer.0.weight"``). A parameter shared by several modules (tied
weights) is one parameter known by all its names: a name rule applies if any of
its names matches, a type rule if any of its owning modules matches; it is
penalised once, under its first name. Nothing is dropped in silence: a pattern
that matches no parameter name raises (typo protection), an exactly named
parameter that the other rules remove raises, and an empty selection raises
unless ``allow_empty=True`` (then the penalty is 0).

A model may also be given as an iterable of tensors (e.g. ``[m.weight]``): that
is the selection itself, less frozen tensors; name and type rules do not apply.

References: Tibshirani, R. (1996). Regression shrinkage and selection via the
lasso. JRSS B 58(1). Hoerl, A. E. & Kennard, R. W. (1970). Ridge regression.
Technometrics 12(1). Zou, H. & Hastie, T. (2005). Regularization and variable
selection via the elastic net. JRSS B 67(2). scikit-learn
``sklearn.linear_model.ElasticNet`` (the parameterisation). Loshchilov, I. &
Hutter, F. (2019). Decoupled weight decay regularization. ICLR (why AdamW's
decay is not an L2 penalty).
"""

from __future__ import annotations

import fnmatch
import functools
import math
import numbers
from dataclasses import dataclass

import torch
from torch import nn

from .. import domains as D
from .._validate import check_bool, check_param

__all__ = ["DEFAULT_EXCLUDED_TYPES", "L1", "L2", "ElasticNet", "Regularized", "elastic_net", "l1", "l2"]

#: Module types whose parameters are not penalised by default: every batch and
#: instance norm (``_NormBase``), LayerNorm, GroupNorm, LocalResponseNorm and
#: RMSNorm (where torch has it). Their scales and shifts set the scale of a
#: layer's output; shrinking them towards 0 is rarely wanted.
DEFAULT_EXCLUDED_TYPES: tuple[type, ...] = (
    nn.modules.batchnorm._NormBase,
    nn.LayerNorm,
    nn.GroupNorm,
    nn.LocalResponseNorm,
) + ((nn.RMSNorm,) if hasattr(nn, "RMSNorm") else ())

_WILDCARDS = frozenset("*?[")
_PREVIEW = 6  # how many names or reasons an error message lists


# -- checks ------------------------------------------------------------------


def _check_strength(where: str, strength) -> float:
    if isinstance(strength, bool) or not isinstance(strength, numbers.Real):
        raise TypeError(f"{where}: strength must be a real number; received {type(strength).__name__} {strength!r}")
    strength = float(strength)
    if not (math.isfinite(strength) and strength >= 0):
        raise ValueError(f"{where}: strength must be finite and >= 0; received strength={strength!r}")
    return strength


def _patterns(where: str, name: str, value) -> tuple[str, ...]:
    items = (value,) if isinstance(value, str) else value
    try:
        items = tuple(items)
    except TypeError:
        raise TypeError(
            f"{where}: {name} must be a glob pattern or a list of them; received {type(value).__name__} {value!r}"
        ) from None
    for item in items:
        if not isinstance(item, str) or not item:
            raise TypeError(f"{where}: {name} must contain non-empty strings; received {item!r}")
    return items


def _types(where: str, name: str, value) -> tuple[type, ...]:
    items = (value,) if isinstance(value, type) else value
    try:
        items = tuple(items)
    except TypeError:
        raise TypeError(
            f"{where}: {name} must be an nn.Module subclass or a tuple of them; received {value!r}"
        ) from None
    for item in items:
        if not (isinstance(item, type) and issubclass(item, nn.Module)):
            raise TypeError(f"{where}: {name} must contain nn.Module subclasses; received {item!r}")
    return items


def _preview(items) -> str:
    items = list(items)
    more = f", ... ({len(items)} in all)" if len(items) > _PREVIEW else ""
    return ", ".join(items[:_PREVIEW]) + more


# -- selection ---------------------------------------------------------------


def _first_match(names, patterns) -> str | None:
    """The first pattern that matches one of ``names``, or None."""
    return next((pat for pat in patterns for n in names if fnmatch.fnmatchcase(n, pat)), None)


@dataclass(frozen=True)
class _Selection:
    """The validated selection rules (see the module docstring)."""

    where: str
    include: tuple[str, ...] | None
    exclude: tuple[str, ...]
    include_types: tuple[type, ...] | None
    exclude_types: tuple[type, ...]
    exclude_biases: bool
    allow_empty: bool

    @classmethod
    def make(
        cls,
        where,
        *,
        include=None,
        exclude=None,
        include_types=None,
        exclude_types=DEFAULT_EXCLUDED_TYPES,
        exclude_biases=True,
        allow_empty=False,
    ):
        if include is not None:
            include = _patterns(where, "include", include)
            if not include:
                raise ValueError(f"{where}: include must hold at least one pattern; received an empty {include!r}")
        return cls(
            where,
            include,
            () if exclude is None else _patterns(where, "exclude", exclude),
            None if include_types is None else _types(where, "include_types", include_types),
            _types(where, "exclude_types", exclude_types),
            check_bool(where, "exclude_biases", exclude_biases),
            check_bool(where, "allow_empty", allow_empty),
        )

    @property
    def exact(self) -> frozenset[str]:
        """The ``include`` entries without wildcards: exact parameter names."""
        return frozenset(p for p in self.include or () if _WILDCARDS.isdisjoint(p))

    def pick(self, model) -> tuple[list[tuple[str, torch.Tensor]], torch.Tensor | None]:
        """The penalised ``(name, parameter)`` pairs, and any one parameter of
        the model (it gives an empty selection its device and dtype)."""
        entries = self._entries(model)
        reasons = {names[0]: self._reason(p, names, owners) for p, names, owners in entries}
        if not entries or any(reasons.values()):  # something to explain or to check
            self._check_explicit(entries, reasons)
        pairs = [(names[0], p) for p, names, _ in entries if reasons[names[0]] is None]
        if not pairs and not self.allow_empty:
            why = _preview(f"{name} ({reason})" for name, reason in reasons.items())
            raise ValueError(
                f"{self.where}: the selection must hold at least one parameter (or pass allow_empty=True); "
                f"received {len(entries)} parameter(s), none selected" + (f": {why}" if why else "")
            )
        return pairs, (entries[0][0] if entries else None)

    def _entries(self, model) -> list[tuple[torch.Tensor, list[str], list[nn.Module]]]:
        """Each distinct parameter once, in ``named_parameters()`` order, with
        all its qualified names and owning modules."""
        found: dict[int, tuple[torch.Tensor, list[str], list[nn.Module]]] = {}
        if isinstance(model, nn.Module):
            for prefix, module in model.named_modules(remove_duplicate=False):
                for local, p in module.named_parameters(recurse=False, remove_duplicate=False):
                    _, names, owners = found.setdefault(id(p), (p, [], []))
                    names.append(f"{prefix}.{local}" if prefix else local)
                    owners.append(module)
            names = [n for _, ns, _ in found.values() for n in ns]
            for arg, patterns in (("include", self.include or ()), ("exclude", self.exclude)):
                for pattern in patterns:
                    if _first_match(names, (pattern,)) is None:
                        raise ValueError(
                            f"{self.where}: {arg} pattern {pattern!r} must match a parameter name; "
                            f"received a model whose names are {_preview(names) or 'none'}"
                        )
            return list(found.values())
        tensors = self._tensors(model)
        for i, t in enumerate(tensors):
            found.setdefault(id(t), (t, [str(i)], []))
        return list(found.values())

    def _tensors(self, model) -> list[torch.Tensor]:
        if isinstance(model, torch.Tensor):
            tensors = [model]
        else:
            try:
                tensors = list(model)
            except TypeError:
                raise TypeError(
                    f"{self.where}: model must be an nn.Module or an iterable of tensors; "
                    f"received {type(model).__name__}"
                ) from None
        for t in tensors:
            if not isinstance(t, torch.Tensor):
                raise TypeError(
                    f"{self.where}: model must be an nn.Module or an iterable of tensors; "
                    f"received an iterable holding {type(t).__name__}"
                )
        named = [arg for arg in ("include", "exclude", "include_types") if getattr(self, arg)]
        if named:
            raise ValueError(
                f"{self.where}: {named[0]} must be left unset when model is an iterable of tensors "
                "(pass the nn.Module to select by name or type); received an iterable of tensors"
            )
        return tensors

    def _reason(self, p, names, owners) -> str | None:
        """Why a parameter is left out, or None when it is penalised."""
        if not p.requires_grad:
            return "frozen"
        hit = _first_match(names, self.exclude) if self.exclude else None
        if hit is not None:
            return f"matches exclude {hit!r}"
        if self.include is not None and _first_match(names, self.include) is None:
            return "matches no include pattern"
        if self.include_types is not None and not any(isinstance(o, self.include_types) for o in owners):
            return f"{type(owners[0]).__name__} not in include_types"
        if any(n in self.exact for n in names):
            return None  # named exactly: the defaults below do not apply
        if self.exclude_biases and any(n.rsplit(".", 1)[-1].endswith("bias") for n in names):
            return "a bias"
        owner = next((o for o in owners if isinstance(o, self.exclude_types)), None)
        if owner is not None:
            return f"{type(owner).__name__} in exclude_types"
        return None

    def _check_explicit(self, entries, reasons) -> None:
        """An exactly named ``include`` entry that is left out contradicts the caller."""
        for name in self.exact:
            first = next(ns[0] for _, ns, _ in entries if name in ns)
            if reasons[first] is not None:
                raise ValueError(
                    f"{self.where}: include entry {name!r} names a parameter exactly, so it must be "
                    f"penalised; received one that is left out ({reasons[first]})"
                )


# -- the penalty ---------------------------------------------------------------


def _total(values: list[torch.Tensor]) -> torch.Tensor:
    """Sum of per-parameter scalars that may sit on several devices or dtypes:
    on the first one's device, in their promoted dtype."""
    dtype = functools.reduce(torch.promote_types, (v.dtype for v in values))
    return torch.stack([v.to(device=values[0].device, dtype=dtype) for v in values]).sum()


def _penalty(pairs, reference, strength: float, l1_ratio: float) -> torch.Tensor:
    params = [p for _, p in pairs]
    if not params:
        like = reference if reference is not None else torch.empty(())
        return torch.zeros((), device=like.device, dtype=like.abs().dtype)
    terms = []  # a term whose coefficient is 0 is skipped: L1 and L2 cost one pass each
    if l1_ratio > 0:
        terms.append((strength * l1_ratio) * _total([p.abs().sum() for p in params]))
    if l1_ratio < 1:
        # view_as_real: |z|^2 of a complex parameter is re^2 + im^2, not z^2
        squares = [(torch.view_as_real(p) if p.is_complex() else p).square().sum() for p in params]
        terms.append((strength * 0.5 * (1.0 - l1_ratio)) * _total(squares))
    return terms[0] if len(terms) == 1 else terms[0] + terms[1]


class _Penalty(nn.Module):
    """Shared body of L1, L2 and ElasticNet: ``forward(model)`` is the penalty."""

    def __init__(self, strength: float, l1_ratio: float, selection: _Selection):
        super().__init__()
        self.strength = strength
        self.l1_ratio = l1_ratio
        self.selection = selection

    def forward(self, model) -> torch.Tensor:
        """The penalty of ``model`` (an ``nn.Module`` or an iterable of
        tensors): a 0-dim tensor with autograd, on the first selected
        parameter's device, in the parameters' (promoted) dtype."""
        return _penalty(*self.selection.pick(model), self.strength, self.l1_ratio)

    def selected(self, model) -> list[tuple[str, torch.Tensor]]:
        """The ``(name, parameter)`` pairs this penalty sums over, each shared
        parameter once under its first name (positions "0", "1"... for an
        iterable of tensors)."""
        return self.selection.pick(model)[0]

    def extra_repr(self) -> str:
        ratio = f", l1_ratio={self.l1_ratio}" if type(self) is ElasticNet else ""
        s = self.selection
        rules = [f"{k}={getattr(s, k)!r}" for k in ("include", "exclude", "include_types") if getattr(s, k)]
        if s.exclude_types != DEFAULT_EXCLUDED_TYPES:
            rules.append(f"exclude_types={s.exclude_types!r}")
        rules += [f"{k}={getattr(s, k)}" for k, d in (("exclude_biases", True), ("allow_empty", False)) if getattr(s, k) != d]
        return ", ".join([f"strength={self.strength}{ratio}", *rules])


class _FixedRatio(_Penalty):
    """L1 and L2: the elastic net at a fixed ``l1_ratio`` (a class attribute)."""

    _l1_ratio: float

    def __init__(
        self,
        strength,
        *,
        include=None,
        exclude=None,
        include_types=None,
        exclude_types=DEFAULT_EXCLUDED_TYPES,
        exclude_biases=True,
        allow_empty=False,
    ):
        name = type(self).__name__
        super().__init__(
            _check_strength(name, strength),
            self._l1_ratio,
            _Selection.make(
                name, include=include, exclude=exclude, include_types=include_types,
                exclude_types=exclude_types, exclude_biases=exclude_biases, allow_empty=allow_empty,
            ),
        )


class L1(_FixedRatio):
    r"""L1 (lasso) penalty over a model's selected parameters.

    .. math:: R(w) = \text{strength} \sum_i |w_i|

    The elastic net with ``l1_ratio=1``. Its gradient is
    ``strength * sign(w)`` (0 at exactly 0). It drives weights to zero, but
    with plain (sub)gradient steps they hover around 0 within about
    ``lr * strength`` rather than reaching it exactly.

    Args:
        strength: the coefficient, finite and >= 0.
        include, exclude: glob pattern(s) on qualified parameter names.
        include_types: module type(s); only parameters they own are penalised.
        exclude_types: module types whose parameters are skipped
            (default ``DEFAULT_EXCLUDED_TYPES``, the normalisation layers).
        exclude_biases: skip parameters whose name ends in ``bias`` (default True).
        allow_empty: return 0 instead of raising when nothing is selected.

    The selection rules are in this module's docstring. ``L1(s)(model)`` is the
    penalty; ``.selected(model)`` lists the ``(name, parameter)`` pairs.

    >>> import torch
    >>> from losskit.torch.regularize import L1
    >>> model = torch.nn.Linear(2, 1)
    >>> with torch.no_grad():
    ...     _ = model.weight.copy_(torch.tensor([[1.0, -3.0]]))
    >>> L1(0.5)(model)              # 0.5 * (1 + 3); the bias is not penalised
    tensor(2., grad_fn=<MulBackward0>)
    >>> [name for name, _ in L1(0.5).selected(model)]
    ['weight']

    References: Tibshirani, R. (1996). Regression shrinkage and selection via
    the lasso. JRSS B 58(1).
    """

    _l1_ratio = 1.0


class L2(_FixedRatio):
    r"""L2 (ridge) penalty over a model's selected parameters, with a half.

    .. math:: R(w) = \frac{\text{strength}}{2} \sum_i w_i^2

    The elastic net with ``l1_ratio=0``. Its gradient is ``strength * w``, so
    ``L2(s)`` added to the loss trains exactly like ``weight_decay=s`` in
    ``torch.optim.SGD`` (with or without momentum) or ``torch.optim.Adam``
    over the same parameters; ``AdamW``'s decoupled decay is a different
    method. (Without the half, as some texts write it, the matching
    ``weight_decay`` would be ``2 * strength``.)

    Args: as :class:`L1`.

    >>> import torch
    >>> from losskit.torch.regularize import L2
    >>> model = torch.nn.Linear(2, 1)
    >>> with torch.no_grad():
    ...     _ = model.weight.copy_(torch.tensor([[1.0, -3.0]]))
    >>> penalty = L2(0.1)(model)    # 0.1 / 2 * (1 + 9)
    >>> round(penalty.item(), 6)
    0.5
    >>> penalty.backward()
    >>> model.weight.grad           # 0.1 * w
    tensor([[ 0.1000, -0.3000]])

    References: Hoerl, A. E. & Kennard, R. W. (1970). Ridge regression.
    Technometrics 12(1). Loshchilov, I. & Hutter, F. (2019). Decoupled weight
    decay regularization. ICLR.
    """

    _l1_ratio = 0.0


class ElasticNet(_Penalty):
    r"""Elastic-net penalty, in scikit-learn's ``ElasticNet`` parameterisation.

    .. math:: R(w) = \text{strength}\,\Big(r \sum_i |w_i| + \frac{1-r}{2} \sum_i w_i^2\Big),
              \quad r = \text{l1\_ratio}

    ``strength`` is scikit-learn's ``alpha``. ``l1_ratio=1`` is :class:`L1`,
    ``l1_ratio=0`` is :class:`L2` (with its half), for the same ``strength``.
    (Zou & Hastie's original form writes two coefficients,
    ``lambda1 * |w|_1 + lambda2 * |w|_2^2``: ``lambda1 = strength * r`` and
    ``lambda2 = strength * (1 - r) / 2``.)

    Args:
        strength: the coefficient (``alpha``), finite and >= 0.
        l1_ratio: the L1 share, in [0, 1] (keyword-only).
        the selection arguments: as :class:`L1`.

    >>> import torch
    >>> from losskit.torch.regularize import ElasticNet
    >>> model = torch.nn.Linear(2, 1, bias=False)
    >>> with torch.no_grad():
    ...     _ = model.weight.copy_(torch.tensor([[1.0, -3.0]]))
    >>> # 1.0 * (0.5 * 4 + 0.25 * 10)
    >>> ElasticNet(1.0, l1_ratio=0.5)(model)
    tensor(4.5000, grad_fn=<AddBackward0>)

    References: Zou, H. & Hastie, T. (2005). Regularization and variable
    selection via the elastic net. JRSS B 67(2). scikit-learn,
    ``sklearn.linear_model.ElasticNet``.
    """

    def __init__(
        self,
        strength,
        *,
        l1_ratio=0.5,
        include=None,
        exclude=None,
        include_types=None,
        exclude_types=DEFAULT_EXCLUDED_TYPES,
        exclude_biases=True,
        allow_empty=False,
    ):
        super().__init__(
            _check_strength("ElasticNet", strength),
            check_param("ElasticNet", "l1_ratio", l1_ratio, D.UNIT),
            _Selection.make(
                "ElasticNet", include=include, exclude=exclude, include_types=include_types,
                exclude_types=exclude_types, exclude_biases=exclude_biases, allow_empty=allow_empty,
            ),
        )


# -- short forms -----------------------------------------------------------------


def l1(model, *, strength, **selection) -> torch.Tensor:
    """``strength * sum|w|`` over ``model``'s selected parameters; the
    function form of :class:`L1` (same arguments, same selection rules).

    >>> import torch
    >>> from losskit.torch.regularize import l1
    >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    >>> l1([w], strength=2.0)
    tensor(6., grad_fn=<MulBackward0>)
    """
    strength = _check_strength("l1", strength)
    return _penalty(*_Selection.make("l1", **selection).pick(model), strength, 1.0)


def l2(model, *, strength, **selection) -> torch.Tensor:
    """``strength / 2 * sum(w**2)`` over ``model``'s selected parameters; the
    function form of :class:`L2` (gradient ``strength * w``, i.e. SGD's
    ``weight_decay=strength``).

    >>> import torch
    >>> from losskit.torch.regularize import l2
    >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    >>> l2([w], strength=2.0)
    tensor(5., grad_fn=<MulBackward0>)
    """
    strength = _check_strength("l2", strength)
    return _penalty(*_Selection.make("l2", **selection).pick(model), strength, 0.0)


def elastic_net(model, *, strength, l1_ratio=0.5, **selection) -> torch.Tensor:
    """``strength * (l1_ratio * sum|w| + (1 - l1_ratio) / 2 * sum(w**2))``
    (scikit-learn's parameterisation); the function form of :class:`ElasticNet`.

    >>> import torch
    >>> from losskit.torch.regularize import elastic_net
    >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    >>> elastic_net([w], strength=2.0, l1_ratio=0.25)   # 2 * (0.25 * 3 + 0.375 * 5)
    tensor(5.2500, grad_fn=<AddBackward0>)
    """
    strength = _check_strength("elastic_net", strength)
    l1_ratio = check_param("elastic_net", "l1_ratio", l1_ratio, D.UNIT)
    return _penalty(*_Selection.make("elastic_net", **selection).pick(model), strength, l1_ratio)


# -- the wrapper -------------------------------------------------------------------


class Regularized(nn.Module):
    r"""A loss plus a penalty on a model: ``loss(*args, **kwargs) + penalty(model)``.

    ``loss`` is any callable returning a 0-dim tensor (a losskit function or
    module, a ``torch.nn`` loss, a lambda); ``penalty`` any callable taking the
    model (an :class:`L1`, :class:`L2`, :class:`ElasticNet`, or a sum of them
    in a lambda). After each call, ``last_data_loss`` and ``last_penalty`` hold
    the two terms (detached) for logging.

    ``model`` is referenced, not registered: the wrapper's ``parameters()`` and
    ``state_dict()`` are those of ``loss`` and ``penalty`` only. It must be an
    ``nn.Module`` or a list/tuple of tensors (a one-shot iterator such as
    ``model.parameters()`` would be empty from the second call on).

    Args:
        loss: the data term.
        penalty: the regulariser, called as ``penalty(model)``.
        model: what the penalty reads.

    >>> import torch, losskit
    >>> from losskit.torch.regularize import L2, Regularized
    >>> model = torch.nn.Linear(1, 1, bias=False)
    >>> with torch.no_grad():
    ...     _ = model.weight.fill_(2.0)
    >>> criterion = Regularized(losskit.mse, L2(0.5), model)
    >>> x, y = torch.ones(4, 1), torch.ones(4, 1)
    >>> criterion(model(x), y)        # mse 1 + 0.5 / 2 * 4
    tensor(2., grad_fn=<AddBackward0>)
    >>> criterion.last_data_loss, criterion.last_penalty
    (tensor(1.), tensor(1.))
    """

    def __init__(self, loss, penalty, model):
        super().__init__()
        if not callable(loss):
            raise TypeError(f"Regularized: loss must be callable; received {type(loss).__name__}")
        if not callable(penalty):
            raise TypeError(f"Regularized: penalty must be callable; received {type(penalty).__name__}")
        if not isinstance(model, (nn.Module, list, tuple)):
            raise TypeError(
                "Regularized: model must be an nn.Module or a list/tuple of tensors; "
                f"received {type(model).__name__}"
            )
        self.loss = loss
        self.penalty = penalty
        self.__dict__["model"] = model  # bypasses nn.Module registration on purpose
        self.last_data_loss: torch.Tensor | None = None
        self.last_penalty: torch.Tensor | None = None

    def forward(self, *args, **kwargs) -> torch.Tensor:
        data = self.loss(*args, **kwargs)
        if not isinstance(data, torch.Tensor) or data.ndim != 0:
            what = f"shape {tuple(data.shape)}" if isinstance(data, torch.Tensor) else type(data).__name__
            raise ValueError(
                "Regularized: loss must return a 0-dim tensor (reduce it: reduction='mean' or 'sum'); "
                f"received {what}"
            )
        penalty = self.penalty(self.model)
        self.last_data_loss, self.last_penalty = data.detach(), penalty.detach()
        return data + penalty
