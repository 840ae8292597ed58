r"""losskit.distributed: losses across the ranks of ``torch.distributed``.

Import it explicitly (``import losskit.distributed``); ``import losskit``
does not import torch. Everything runs on PyTorch's own collectives (gloo,
NCCL...) over a process group you have initialised.

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

Without an initialised process group every function raises:

>>> import torch, losskit.distributed as ld
>>> ld.gathered_info_nce(torch.ones(2, 3), torch.ones(2, 3))
Traceback (most recent call last):
...
RuntimeError: gathered_info_nce: no process group is initialised; call torch.distributed.init_process_group(...) first (a single process can use world_size=1)

See ``docs/distributed.md`` for a DDP example, the gradient-scaling
derivation and the memory and communication of each loss.
"""

from ._gather import all_gather_with_grad
from .contrastive import (
    gathered_clip_loss,
    gathered_info_nce,
    gathered_supervised_contrastive,
)
from .global_batch import global_batch
from .vocab_parallel import vocab_parallel_cross_entropy

__all__ = [
    "all_gather_with_grad",
    "gathered_clip_loss",
    "gathered_info_nce",
    "gathered_supervised_contrastive",
    "global_batch",
    "vocab_parallel_cross_entropy",
]
