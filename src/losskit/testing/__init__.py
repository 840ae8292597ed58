"""The test harness, for built-in and home-made losses alike: the property suite every
loss passes (``properties``), the sampler of valid inputs drawn from a loss's domains
(``sampling``) and the checker (``checker``; ``losskit.check``). Loaded on use:
``import losskit`` does not import it.
"""

from . import checker, properties, sampling
from .checker import check

__all__ = ["check", "checker", "properties", "sampling"]
