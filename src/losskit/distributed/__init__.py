r"""losskit.distributed: losses across the ranks of ``torch.distributed``.

Import it explicitly (``import losskit.distributed``). Everything runs on
PyTorch's own collectives (gloo, NCCL...) over a process group you have
initialised. Importing the package does not import torch: the modules of the
gathered losses (``contrastive``, ``global_batch``) import it inside their
functions, and ``all_gather_with_grad`` and ``vocab_parallel_cross_entropy``
load on first use. That lets ``import losskit`` register
``gathered_clip_loss`` (family "contrastive"; losskit has no single-process
CLIP loss) without importing torch.

* ``vocab_parallel_cross_entropy``: cross-entropy when each rank holds a
  slice of the vocabulary (tensor parallelism): two all-reduces of O(N)
  values, local gradient; equals ``losskit.cross_entropy`` on the full logits.
* ``gathered_info_nce``, ``gathered_clip_loss``,
  ``gathered_supervised_contrastive``: contrastive losses whose negatives
  come from every rank, in a local-loss mode (each rank builds only its
  B_local x B_global block) or a full-gather mode, with the value scaled so
  that DistributedDataParallel's gradient averaging yields the gradient of
  the single-process loss on the concatenated batch.
* ``global_batch(loss)``: the same for losskit's pair and triplet losses
  (``batch_hard_triplet``, ``batch_all_triplet``, ``contrastive_embeddings``,
  ...).
* ``all_gather_with_grad``: the all-gather underneath (uneven sizes, and a
  backward that sums over ranks).

Without an initialised process group every function but
``gathered_clip_loss`` raises (that one computes as a group of one rank, the
single-process CLIP loss):

>>> import torch, losskit.distributed as ld
>>> ld.gathered_info_nce(torch.ones(2, 3), torch.ones(2, 3))
Traceback (most recent call last):
...
RuntimeError: gathered_info_nce: no process group is initialised; call torch.distributed.init_process_group(...) first (a single process can use world_size=1)

See ``docs/distributed.md`` for a DDP example, the gradient-scaling
derivation and the memory and communication of each loss.
"""

from .contrastive import (
    gathered_clip_loss,
    gathered_info_nce,
    gathered_supervised_contrastive,
)
from .global_batch import global_batch

# name -> module (torch at import), loaded on first use
_ON_USE = {"all_gather_with_grad": "._gather", "vocab_parallel_cross_entropy": ".vocab_parallel"}

__all__ = [
    "all_gather_with_grad",
    "gathered_clip_loss",
    "gathered_info_nce",
    "gathered_supervised_contrastive",
    "global_batch",
    "vocab_parallel_cross_entropy",
]


def __getattr__(name):
    if name not in _ON_USE:
        raise AttributeError(f"module 'losskit.distributed' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(_ON_USE[name], __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted({*globals(), *_ON_USE})
