"""losskit: loss functions for machine learning, on NumPy, PyTorch and JAX.

Functional losses (``losskit.mse``, ``losskit.cross_entropy``...) take
``(input, target, *, params, weight=None, mask=None, reduction="mean")`` and
return an array of the inputs' backend. ``losskit.get(name, **params)`` returns
a loss object with its spec, closed-form gradient and Hessian and config.
Importing losskit imports neither torch nor jax.
"""

from . import domains, properties
from .functional import *  # noqa: F401,F403
from .functional import __all__ as _functional
from .checker import check
from .custom import register_loss
from .recommend import recommend
from .registry import Loss, LossSpec, Param, available, get, spec, specs, unregister

__version__ = "0.1.0"

__all__ = [*_functional, "Loss", "LossSpec", "Param", "available", "get", "spec", "specs", "domains", "properties", "register_loss", "unregister", "check", "recommend"]
