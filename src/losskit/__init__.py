"""losskit: loss functions for machine learning, on NumPy, PyTorch and JAX.

Functional losses (``losskit.mse``, ``losskit.cross_entropy``...) take
``(input, target, *, params, weight=None, mask=None, reduction="mean")`` and
return an array of the inputs' backend. ``losskit.get(name, **params)`` returns
a loss object with its spec, closed-form gradient and Hessian and config.
Importing losskit imports the losses and the registry only: neither torch nor jax, nor
the test harness (``losskit.testing``, ``losskit.check``) or the recommender
(``losskit.recommend``), which load on first use.
"""

from . import domains
from .functional import *  # noqa: F401,F403
from .functional import __all__ as _functional
from .distributed import contrastive as _distributed_contrastive  # noqa: F401 - registers gathered_clip_loss (no torch)
from .custom import register_loss
from .registry import Loss, LossSpec, Param, available, get, spec, specs, unregister
from ._validate import checks, get_checks, set_checks

__version__ = "0.1.0"

__all__ = [*_functional, "Loss", "LossSpec", "Param", "available", "get", "spec", "specs", "domains", "register_loss",
           "unregister", "check", "recommend", "testing", "checks", "get_checks", "set_checks"]

# name -> (module, attribute or None for the module itself), imported on first use.
# losskit.recommend is the package, which calls its recommend() when called.
_ON_USE = {"check": ("losskit.testing.checker", "check"), "recommend": ("losskit.recommend", None),
           "testing": ("losskit.testing", None)}


def __getattr__(name):
    if name not in _ON_USE:
        raise AttributeError(f"module 'losskit' has no attribute {name!r}")
    import importlib

    module_name, attribute = _ON_USE[name]
    module = importlib.import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value
