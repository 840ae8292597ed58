"""The reference math of every loss, one module per family."""

from .regression import *  # noqa: F401,F403
from .regression import __all__ as _regression
from .classification import *  # noqa: F401,F403
from .classification import __all__ as _classification
from .divergence import *  # noqa: F401,F403
from .divergence import __all__ as _divergence

__all__ = [*_regression, *_classification, *_divergence]
