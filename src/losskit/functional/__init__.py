"""The reference math of every loss, one module per family:
regression (point predictions), probabilistic (deviances and predictive
distributions), binary (binary and multi-label outputs), classification
(softmax over a class axis), divergence (between distributions), and the
structured families: metric (embeddings), segmentation (masks), sequence
(CTC) and boxes."""

# In this order the losses register, so `losskit list` and the README's table read
# from point predictions to structured outputs.
from . import regression, probabilistic, binary, classification, divergence  # isort: skip
from . import metric, segmentation, sequence, boxes  # isort: skip
from .binary import *  # noqa: F401,F403
from .boxes import *  # noqa: F401,F403
from .classification import *  # noqa: F401,F403
from .divergence import *  # noqa: F401,F403
from .metric import *  # noqa: F401,F403
from .probabilistic import *  # noqa: F401,F403
from .regression import *  # noqa: F401,F403
from .segmentation import *  # noqa: F401,F403
from .sequence import *  # noqa: F401,F403

__all__ = [
    *regression.__all__,
    *probabilistic.__all__,
    *binary.__all__,
    *classification.__all__,
    *divergence.__all__,
    *metric.__all__,
    *segmentation.__all__,
    *sequence.__all__,
    *boxes.__all__,
]
