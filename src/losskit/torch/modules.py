"""An ``nn.Module`` for every registered loss, made from the registry.

``HuberLoss(delta=1.0, reduction="mean")`` is ``losskit.huber`` with its
parameters bound: the same argument names, defaults and checks. Parameters
that are tensors (``class_weight``, ``pos_weight``, a vector ``alpha`` or
``quantile``) are buffers, so they follow ``.to(device)`` and are saved in the
``state_dict``. A loss registered later (``losskit.register_loss``) gets its
module the same way: ``losskit.torch.module("my_loss")``.

``LinearCrossEntropyLoss`` is made the same way:
``forward(input, linear_weight, target, linear_bias=None)``; optional arrays
the function takes by keyword (``linear_bias``) are passed through.
"""

from __future__ import annotations

import numbers

import torch

from .. import registry
from .._validate import check_reduction

__all__ = ["LossModule", "class_name", "from_config", "module", "module_class"]

# Name parts written as acronyms in class names (PyTorch's own style: MSELoss, NLLLoss).
_ACRONYMS = {
    "mse": "MSE", "mae": "MAE", "rmse": "RMSE", "msle": "MSLE", "rmsle": "RMSLE", "mape": "MAPE",
    "nll": "NLL", "kl": "KL", "js": "JS", "ctc": "CTC", "iou": "IoU", "giou": "GIoU", "diou": "DIoU",
    "ciou": "CIoU", "crps": "CRPS", "nce": "NCE", "fbeta": "FBeta", "l1": "L1", "l2": "L2",
}
# Structured inputs a module can own as learnable parameters (a centre or
# class-weight vector per class), created when ``num_classes`` and
# ``embedding_dim`` are given.
_LEARNABLE = ("centers",)
# Arrays a loss takes by keyword, optionally, beside its positional ones.
_OPTIONAL_ARRAYS = {"linear_cross_entropy": ("linear_bias",)}


def class_name(name: str) -> str:
    """``"binary_cross_entropy_with_logits"`` -> ``"BinaryCrossEntropyWithLogitsLoss"``.

    >>> class_name("kl_div"), class_name("giou_loss"), class_name("info_nce")
    ('KLDivLoss', 'GIoULoss', 'InfoNCELoss')
    """
    parts = name.split("_")
    suffix = "" if parts[-1] == "loss" else "Loss"
    return "".join(_ACRONYMS.get(p, p[:1].upper() + p[1:]) for p in parts) + suffix


class LossModule(torch.nn.Module):
    """Base of the generated modules; ``spec`` is the loss's ``LossSpec``.

    ``forward`` takes the loss's arrays in order (``input, target`` and any
    extra arrays such as ``var``; for structured losses ``spec.inputs``) and
    the per-sample ``weight`` and ``mask``. Under ``torch.autocast`` the
    floating inputs are cast to float32 and the loss runs with autocast off,
    so its math (matmuls included) stays in float32 and it returns float32,
    as PyTorch's own losses do.
    """

    spec: registry.LossSpec

    def __init__(self, reduction: str = "mean", num_classes: int | None = None,
                 embedding_dim: int | None = None, **params):
        super().__init__()
        where = type(self).__name__
        params = registry.check_params(self.spec, params, where=where)
        self.reduction = check_reduction(where, reduction)
        self._arrays = list(self.spec.arrays)
        self._param_names = list(params)
        for name, value in params.items():
            if _is_tensor_param(self.spec, name, value):
                self.register_buffer(name, _as_tensor(where, name, value))
            else:
                setattr(self, name, value)
        learnable = [n for n in _LEARNABLE if n in self.spec.inputs]
        if (num_classes is None) != (embedding_dim is None):
            raise TypeError(f"{where}: num_classes and embedding_dim must be given together; "
                            f"received num_classes={num_classes!r}, embedding_dim={embedding_dim!r}")
        self._owned = []
        if num_classes is not None:
            if not learnable:
                raise TypeError(f"{where}: num_classes/embedding_dim must not be given; this loss owns no "
                                f"learnable array; received num_classes={num_classes!r}")
            for n, v in (("num_classes", num_classes), ("embedding_dim", embedding_dim)):
                if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
                    raise ValueError(f"{where}: {n} must be a positive integer; received {n}={v!r}")
            for n in learnable:
                self.register_parameter(n, torch.nn.Parameter(torch.randn(num_classes, embedding_dim)))
            self._owned = learnable
            self._arrays = [n for n in self._arrays if n not in learnable]

    def forward(self, *arrays, weight=None, mask=None, **optional):
        where = type(self).__name__
        unknown = sorted(set(optional) - set(_OPTIONAL_ARRAYS.get(self.spec.name, ())))
        if unknown:
            raise TypeError(f"{where}: forward takes no keyword {', '.join(unknown)}; received it")
        if len(arrays) != len(self._arrays):
            raise TypeError(f"{where}: forward takes {len(self._arrays)} arrays ({', '.join(self._arrays)}); "
                            f"received {len(arrays)}")
        named = dict(zip(self._arrays, arrays))
        args = [named[n] if n in named else getattr(self, n) for n in self.spec.arrays]
        params = {n: getattr(self, n) for n in self._param_names}
        device = next((a.device.type for a in args if isinstance(a, torch.Tensor)), "cpu")
        if torch.is_autocast_enabled(device):
            args = [_float32(a) for a in args]
            with torch.autocast(device, enabled=False):
                return self.spec.function(*args, **params, **{k: _float32(v) for k, v in optional.items()},
                                          weight=_float32(weight), mask=mask, reduction=self.reduction)
        return self.spec.function(*args, **params, **optional, weight=weight, mask=mask, reduction=self.reduction)

    def get_config(self) -> dict:
        """``{"name", "params", "reduction"}``, JSON-friendly (tensors as lists);
        ``losskit.torch.from_config`` builds the module again."""
        config = {"name": self.spec.name, "params": {n: _plain(getattr(self, n)) for n in self._param_names},
                  "reduction": self.reduction}
        if self._owned:
            owned = getattr(self, self._owned[0])
            config.update(num_classes=owned.shape[0], embedding_dim=owned.shape[1])
        return config

    def extra_repr(self) -> str:
        shown = []
        for n in self._param_names:
            value = getattr(self, n)
            if isinstance(value, torch.Tensor):
                value = value.tolist() if value.numel() <= 8 else f"tensor of shape {tuple(value.shape)}"
            shown.append(f"{n}={value!r}")
        if self._owned:
            owned = getattr(self, self._owned[0])
            shown += [f"num_classes={owned.shape[0]}", f"embedding_dim={owned.shape[1]}"]
        return ", ".join([*shown, f"reduction={self.reduction!r}"])


def _is_tensor_param(spec, name, value) -> bool:
    kind = spec.param(name).kind
    return kind in ("array", "real_or_array") and value is not None and not isinstance(value, numbers.Real)


def _as_tensor(where, name, value) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        if not value.is_floating_point():
            raise TypeError(f"{where}: {name} must be a floating tensor; received dtype {value.dtype}")
        return value.detach().clone()
    try:
        return torch.as_tensor(value, dtype=torch.get_default_dtype())
    except (TypeError, ValueError) as error:
        raise TypeError(f"{where}: {name} must be a number or a sequence of numbers; received {value!r}") from error


def _float32(a):
    if isinstance(a, torch.Tensor) and a.dtype in (torch.float16, torch.bfloat16):
        return a.float()
    return a


def _plain(value):
    return value.tolist() if isinstance(value, torch.Tensor) else value


_CLASSES: dict[str, type] = {}


def module_class(name: str) -> type:
    """The module class of a registered loss (name or alias), made once."""
    spec = registry.spec(name)
    if spec.name not in _CLASSES or _CLASSES[spec.name].spec is not spec:
        cls = type(class_name(spec.name), (LossModule,), {
            "spec": spec,
            "__module__": __name__.rsplit(".", 1)[0],
            "__doc__": _doc(spec),
        })
        _CLASSES[spec.name] = cls
    return _CLASSES[spec.name]


def module(name: str, **params) -> LossModule:
    """The module of a registered loss, e.g. ``module("huber", delta=2.0)``.

    >>> import torch, losskit.torch
    >>> loss = losskit.torch.module("huber", delta=2.0)
    >>> loss
    HuberLoss(delta=2.0, reduction='mean')
    >>> float(loss(torch.tensor([3.0]), torch.tensor([0.0])))
    4.0
    """
    return module_class(name)(**params)


def from_config(config: dict) -> LossModule:
    """Build a module again from its ``get_config()``."""
    extra = {k: config[k] for k in ("reduction", "num_classes", "embedding_dim") if k in config}
    return module(config["name"], **config.get("params", {}), **extra)


def _doc(spec) -> str:
    arrays = ", ".join(spec.arrays)
    params = "".join(
        f"\n    {p.name}={p.default!r}: {p.doc or p.kind}" for p in spec.params
    ) or "\n    (none)"
    return (
        f"{spec.summary}\n\nThe module form of ``losskit.{spec.name}``; forward({arrays}, *, weight=None, "
        f"mask=None).\n\nParameters (as the function's):{params}\n    reduction='mean': 'none', 'mean' or 'sum'\n"
    )
