"""losskit.torch: the PyTorch training layer.

- An ``nn.Module`` for every registered loss, made from the registry
  (``losskit.torch.HuberLoss(delta=1.0)``, or ``losskit.torch.module("huber")``
  for any name, including losses registered later).
- ``losskit.torch.regularize``: L1, L2 and elastic-net penalties over a model's
  parameters.
- ``losskit.torch.multitask``: multi-task loss and gradient weighting.
- ``linear_cross_entropy`` (also ``losskit.linear_cross_entropy``) and its
  generated ``LinearCrossEntropyLoss``: the cross-entropy of a linear layer's
  logits, computed in blocks of rows so the N x V logits never exist at once
  (large-vocabulary heads).

Importing this package imports torch; ``import losskit`` does not.
"""

from __future__ import annotations

from .. import registry as _registry
from ..functional.classification import linear_cross_entropy
from . import multitask, regularize
from .modules import LossModule, class_name, from_config, module, module_class

__all__ = ["LossModule", "class_name", "from_config", "linear_cross_entropy", "module", "module_class", "multitask",
           "regularize"]

for _spec in _registry.specs():
    globals()[class_name(_spec.name)] = module_class(_spec.name)
    __all__.append(class_name(_spec.name))
del _spec


def __getattr__(name: str):
    """Module classes of losses registered after this package was imported."""
    for spec in _registry.specs():
        if class_name(spec.name) == name:
            return module_class(spec.name)
    raise AttributeError(f"module 'losskit.torch' has no attribute {name!r}")
