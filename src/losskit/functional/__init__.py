"""The reference math of every loss, one module per family:
regression (point predictions), probabilistic (deviances and predictive
distributions), binary (binary and multi-label outputs), classification
(softmax over a class axis), divergence (between distributions)."""

from . import binary, classification, divergence, probabilistic, regression
from .binary import *  # noqa: F401,F403
from .classification import *  # noqa: F401,F403
from .divergence import *  # noqa: F401,F403
from .probabilistic import *  # noqa: F401,F403
from .regression import *  # noqa: F401,F403

__all__ = [
    *regression.__all__,
    *probabilistic.__all__,
    *binary.__all__,
    *classification.__all__,
    *divergence.__all__,
]
