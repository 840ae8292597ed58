r"""Metric-learning losses: embeddings pulled together or pushed apart.

Three groups:

* **Given pairs or triplets** (one loss per pair / triplet / element):
  ``contrastive`` (on precomputed distances), ``triplet_margin``,
  ``triplet_margin_with_distance``, ``cosine_embedding``, ``margin_ranking``,
  ``info_nce``.
* **Mined inside a batch** from integer ``labels`` (one loss per anchor):
  ``contrastive_embeddings`` (all pairs), ``batch_hard_triplet``,
  ``batch_all_triplet``, ``supervised_contrastive``. A sample removed by
  ``mask`` is removed from the batch entirely: it is neither an anchor nor a
  positive or negative of another anchor, so ``mask=m`` gives exactly the
  values of calling on the rows ``m`` (0 at the masked rows of
  ``reduction="none"``). An anchor without a positive or without a negative
  contributes nothing: it is 0 in ``"none"`` and is not counted by
  ``"mean"``; a batch where no anchor counts gives 0 with a zero gradient.
* **Against class vectors** (one loss per sample): ``center_loss`` and
  ``additive_margin_softmax`` (ArcFace / CosFace), which take a (C, D) matrix
  ``centers`` of per-class vectors (not to be confused with the per-sample
  ``weight``).

Shapes: embeddings (N, D), one per row; ``labels`` (N,) integers. The batch
losses build (N, N) distance matrices; Euclidean ones from the Gram matrix,
:math:`\|x_i\|^2 + \|x_j\|^2 - 2\, x_i \cdot x_j` (O(N²) memory, not the
O(N² D) of explicit differences), floored at 0 with an exact-zero diagonal.
The price is cancellation: between two different rows that are equal (or
very close) the squared distance is a rounding residue of the order of
:math:`\epsilon_{\text{mach}} \|x\|^2` rather than exactly 0 (a distance
of up to about :math:`5 \cdot 10^{-4} \|x\|` in float32).
``batch_all_triplet`` builds an (N, N, N) tensor.

Numerical safety: square roots go through a *safe* square root whose
gradient is 0 (not inf) at 0, so identical embeddings have finite gradients;
normalisation divides by ``max(||x||, 1e-12)`` (as
``torch.nn.functional.normalize``), so a zero vector stays zero with a finite
gradient (its cosine with anything is 0, its cosine distance 1); entries left
out of a log-sum-exp are set to -inf only in rows that keep at least one
finite entry; hinges ``max(0, x)`` pass the gradient at 0 (PyTorch's
``clamp_min``) on every backend.
"""

from __future__ import annotations

import math


from .. import domains as D
from .._array import (
    array_size,
    is_array,
    is_concrete,
    logsumexp,
    one_hot,
    pairwise_distance,
    relu,
    safe_sqrt,
    unit_rows,
)
from .._reduce import reduce
from .._validate import (
    as_float,
    check_bool,
    check_choice,
    check_no_nan,
    check_param,
    check_real,
    check_shape,
    check_values,
    per_sample,
    refuse_where,
    structured,
)
import numpy as np
from ..registry import Param, loss
from .embedding_math import (
    DISTANCES,
    all_triplet_rows,
    check_rows,
    contrastive_embeddings_rows,
    contrastive_pair,
    hardest_triplet_rows,
    labelled_batch,
    nt_xent_rows,
    supcon_rows,
)

__all__ = [
    "additive_margin_softmax",
    "batch_all_triplet",
    "batch_hard_triplet",
    "center_loss",
    "contrastive",
    "contrastive_embeddings",
    "cosine_embedding",
    "info_nce",
    "margin_ranking",
    "supervised_contrastive",
    "triplet_margin",
    "triplet_margin_with_distance",
]

# Choices and domains, shared by the definitions (@loss) and the functions (DISTANCES, the
# choices of distance=, comes from embedding_math, which computes them).
VARIANTS = ("arcface", "cosface")
DEFAULT_MARGINS = {"arcface": 0.5, "cosface": 0.35}
TEMPERATURE_DOMAIN = D.Interval(0.0, math.inf, low_closed=False, high_closed=False)
SCALE_DOMAIN = D.BOUNDED_POSITIVE
P_DOMAIN = D.Interval(0.0, math.inf, low_closed=False, finite=False)  # inf: the max norm
COSINE_MARGIN_DOMAIN = D.Interval(-1.0, 1.0)
ARCFACE_MARGIN_DOMAIN = D.Interval(0.0, math.pi / 2)
# -- helpers -------------------------------------------------------------------


def _class_labels(loss, xp, labels, num_classes: int):
    if is_concrete(labels) and array_size(labels):
        bad = xp.logical_or(labels < 0, labels >= num_classes)
        rule = f"{loss}: labels must hold class indices in [0, {num_classes})"
        refuse_where(xp, bad, rule, lambda: f"{rule}; received {int(labels[bad][0])}")


def _empty(batch, x, reduction):
    """The reduction of a batch of (0, D) embeddings ``x``: 0 (or shape
    (0,)), still connected to ``x`` so that autograd gives a zero gradient."""
    return reduce(batch, 0.0 * batch.xp.sum(x, axis=1), reduction)



def _sign_target(loss, xp, target, shape, what, dtype):
    """A {-1, +1} target of ``shape`` as booleans (True where +1)."""
    check_real(loss, "target", xp, target)
    check_shape(loss, "target", target, shape, what)
    t = as_float(loss, "target", xp, target, dtype)
    check_no_nan(loss, "target", xp, t)
    check_values(loss, "target", xp, t, D.SIGN)
    return t


# -- pairs ----------------------------------------------------------------------


# -- registry metadata shared by several definitions ---------------------------

_HADSELL = ("Hadsell, R., Chopra, S., LeCun, Y. (2006). Dimensionality Reduction by Learning an Invariant "
            "Mapping. CVPR.")


_FACENET = ("Schroff, F., Kalenichenko, D., Philbin, J. (2015). FaceNet: A Unified Embedding for Face Recognition "
            "and Clustering. CVPR.")


_BALNTAS = ("Balntas, V., Riba, E., Ponsa, D., Mikolajczyk, K. (2016). Learning local feature descriptors with "
            "triplets and shallow convolutional neural networks. BMVC.")


_HERMANS = ("Hermans, A., Beyer, L., Leibe, B. (2017). In Defense of the Triplet Loss for Person "
            "Re-Identification. arXiv:1703.07737.")


_SIMCLR = ("Chen, T., Kornblith, S., Norouzi, M., Hinton, G. (2020). A Simple Framework for Contrastive Learning "
           "of Visual Representations. ICML.")


_MARGIN = Param("margin", D.BOUNDED_NONNEGATIVE, "distance margin m")


_DISTANCE = Param("distance", DISTANCES,
                  "pairwise distance: euclidean (safe sqrt), squared_euclidean or cosine (1 - cos)", kind="choice")


_SWAP = Param("swap", None, "distance swap: d(a, n) -> min(d(a, n), d(p, n)) (Balntas et al. 2016)",
              kind="bool")


_TEMPERATURE = Param("temperature", TEMPERATURE_DOMAIN, "softmax temperature tau on cosine similarities")


_COMMON = {"task": "embedding", "kind": "structured", "minimum": 0.0, "hessian_nonnegative": False}


def _grouped_labels(rng, n, classes=3):
    """n labels with every class at least twice (so anchors have positives)."""
    labels = np.arange(n) % classes
    return rng.permutation(labels).astype(np.int64)


def _contrastive_example(rng, n=8):
    return (rng.uniform(0.0, 2.0, size=n), rng.random(n) < 0.5), {}


def _labelled_example(rng, n=10, dim=4):
    return (rng.normal(size=(n, dim)), _grouped_labels(rng, n)), {}


def _triplet_example(rng, n=6, dim=4):
    a = rng.normal(size=(n, dim))
    return (a, a + 0.7 * rng.normal(size=(n, dim)), a + 1.2 * rng.normal(size=(n, dim))), {}


def _cosine_example(rng, n=6, dim=4):
    return (rng.normal(size=(n, dim)), rng.normal(size=(n, dim)), rng.choice(np.array([-1, 1]), size=n)), {}


def _ranking_example(rng, n=8):
    return (rng.normal(size=n), rng.normal(size=n), rng.choice(np.array([-1, 1]), size=n)), {}


def _info_nce_example(rng, n=6, dim=4):
    q = rng.normal(size=(n, dim))
    return (q, q + 0.5 * rng.normal(size=(n, dim))), {}


def _centers_example(rng, n=8, dim=4, classes=3):
    return (rng.normal(size=(n, dim)), _grouped_labels(rng, n, classes), rng.normal(size=(classes, dim))), {}


_MINED = {
    "input_space": "embeddings",
    "target_domain": D.REAL,
    "params": (_MARGIN, _DISTANCE),
    "inputs": ("embeddings", "labels"),
    "example": _labelled_example,
    "param_grid": ({"distance": "cosine", "margin": 0.3}, {"distance": "squared_euclidean"}, {"margin": 3.0}),
    "convex": False,
}


@loss(
    aliases=("contrastive_loss",),
    input_space="distances",
    summary="Contrastive (pair) loss on distances: 1/2 d^2 for similar pairs, 1/2 max(0, m - d)^2 for dissimilar.",
    estimates="an embedding where similar pairs are close and dissimilar ones at least m apart",
    input_domain=D.NONNEGATIVE,
    target_domain=D.BINARY,
    params=(_MARGIN,),
    inputs=("distances", "same"),
    example=_contrastive_example,
    param_grid=({"margin": 0.5},),
    convex=False,
    references=(_HADSELL,),
    notes="With Hadsell et al.'s factor 1/2 (common code omits it: twice this value). Convex in the distance "
          "for each pair type, not in the embeddings.",
    **_COMMON,
)
def contrastive(distances, same, *, margin=1.0, weight=None, mask=None, reduction="mean"):
    r"""Contrastive loss on precomputed pair distances (Hadsell, Chopra & LeCun 2006).

    .. math::
        \ell = \tfrac12\, s\, d^2 + \tfrac12 (1 - s) \max(0,\ m - d)^2

    for a pair at distance :math:`d \ge 0` with :math:`s = 1` when the two
    samples are similar (same class) and :math:`s = 0` otherwise: similar
    pairs are pulled together, dissimilar pairs pushed beyond the margin
    :math:`m`. The factor 1/2 is Hadsell et al.'s (the common code without it
    is twice this value).

    Args:
        distances: pair distances, any shape, floating, >= 0 (NaN propagates).
        same: booleans, or 0/1 numbers, of ``distances``' shape: 1 for a
            similar pair.
        margin: :math:`m \ge 0`.
        weight, mask: per pair, ``distances``' shape.
        reduction: "none" (per pair), "mean" or "sum".

    Use ``contrastive_embeddings`` for all pairs of a labelled batch.

    Example:

    >>> import numpy as np, losskit
    >>> d = np.array([0.5, 0.3, 2.0])
    >>> losskit.contrastive(d, np.array([True, False, False]), reduction="none")
    array([0.125, 0.245, 0.   ])

    References: Hadsell, Chopra, LeCun (2006), Dimensionality Reduction by
    Learning an Invariant Mapping, CVPR.
    """
    loss = "contrastive"
    margin = check_param(loss, "margin", margin, D.BOUNDED_NONNEGATIVE)
    xp, arrays, dtype, out_dtype = structured(
        loss, {"distances": distances, "same": same, "weight": weight, "mask": mask},
        reduction=reduction, floating=("distances",)
    )
    d, s = arrays["distances"], arrays["same"]
    check_values(loss, "distances", xp, d, D.NONNEGATIVE, infinite_ok=True)  # a prediction
    check_real(loss, "same", xp, s)
    check_shape(loss, "same", s, d.shape, "the shape of distances")
    if s.dtype != xp.bool:
        s = as_float(loss, "same", xp, s, dtype)
        check_no_nan(loss, "same", xp, s)
        check_values(loss, "same", xp, s, D.BINARY)
        s = s == 1.0
    batch = per_sample(loss, xp, tuple(d.shape), "the shape of distances", weight=arrays["weight"],
                       mask=arrays["mask"],
                       dtype=dtype, out_dtype=out_dtype)
    return reduce(batch, contrastive_pair(xp, d, s, margin), reduction)


@loss(
    input_space="embeddings",
    summary="Contrastive loss over all pairs of a labelled batch; per anchor the mean over its pairs.",
    estimates="an embedding where same-label samples are close and others at least m apart",
    target_domain=D.REAL,
    params=(_MARGIN, _DISTANCE),
    inputs=("embeddings", "labels"),
    example=_labelled_example,
    param_grid=({"distance": "cosine"}, {"distance": "squared_euclidean"}, {"margin": 3.0}),
    convex=False,
    references=(_HADSELL,),
    notes="Per anchor: mean over the other samples of the pair loss (each pair counted from both ends). A masked "
          "sample leaves the batch (mask equals slicing). Euclidean distances from the Gram matrix, O(N^2) memory.",
    **_COMMON,
)
def contrastive_embeddings(
    embeddings, labels, *, margin=1.0, distance="euclidean", weight=None, mask=None, reduction="mean"
):
    r"""Contrastive loss over every pair of a labelled batch of embeddings.

    For anchor :math:`i`, the mean over the other samples :math:`j \ne i` of
    the pair loss of ``contrastive``:

    .. math::
        \ell_i = \frac{1}{N - 1} \sum_{j \ne i} \tfrac12 \left[
            s_{ij}\, d_{ij}^2 + (1 - s_{ij}) \max(0,\ m - d_{ij})^2 \right],
        \qquad s_{ij} = [y_i = y_j]

    Each unordered pair thus appears twice, once per anchor. ``distance``:
    "euclidean" :math:`\|x_i - x_j\|`, "squared_euclidean", or "cosine"
    :math:`1 - \cos(x_i, x_j)`. A masked sample is removed from the batch;
    an anchor with no other sample contributes nothing.

    Args:
        embeddings: (N, D), floating.
        labels: (N,) integers (class or group ids).
        margin: :math:`m \ge 0`.
        distance: "euclidean" (default), "squared_euclidean" or "cosine".
        weight, mask: per anchor, (N,).
        reduction: "none" (per anchor, (N,)), "mean" or "sum".

    Example:

    >>> import numpy as np, losskit
    >>> x = np.array([[0.0, 0.0], [0.0, 0.5], [3.0, 0.0]])
    >>> losskit.contrastive_embeddings(x, np.array([0, 0, 1]), reduction="none")
    array([0.0625, 0.0625, 0.    ])

    References: Hadsell, Chopra, LeCun (2006), Dimensionality Reduction by
    Learning an Invariant Mapping, CVPR.
    """
    loss = "contrastive_embeddings"
    margin = check_param(loss, "margin", margin, D.BOUNDED_NONNEGATIVE)
    check_choice(loss, "distance", distance, DISTANCES)
    x, y, batch = labelled_batch(loss, embeddings, labels, weight, mask, reduction)
    if x.shape[0] == 0:
        return _empty(batch, x, reduction)
    values, has_other = contrastive_embeddings_rows(batch.xp, x, x, 0, y, y, batch.mask, margin, distance)
    return reduce(batch, values, reduction, valid=has_other)


# -- triplets -----------------------------------------------------------------


def _triplet_arrays(loss, anchor, positive, negative, weight, mask, reduction):
    xp, arrays, dtype, out_dtype = structured(
        loss, {"anchor": anchor, "positive": positive, "negative": negative, "weight": weight, "mask": mask},
        reduction=reduction,
        floating=("anchor", "positive", "negative"),
    )
    a, p, n = arrays["anchor"], arrays["positive"], arrays["negative"]
    if a.ndim not in (1, 2):
        raise ValueError(
            f"{loss}: anchor must have shape (N, D) or (D,); received shape {tuple(a.shape)}"
        )
    check_shape(loss, "positive", p, a.shape, "the shape of anchor")
    check_shape(loss, "negative", n, a.shape, "the shape of anchor")
    batch = per_sample(loss, xp, tuple(a.shape[:-1]), "one value per triplet", weight=arrays["weight"],
                       mask=arrays["mask"],
                       dtype=dtype, out_dtype=out_dtype)
    return xp, a, p, n, batch


@loss(
    aliases=("triplet", "triplet_margin_loss"),
    input_space="embeddings",
    summary="Triplet margin loss max(0, d(a, p) - d(a, n) + m) on given triplets, p-norm distance.",
    estimates="an embedding where each anchor is closer to its positive than to its negative by m",
    params=(
        _MARGIN,
        Param("p", P_DOMAIN, "degree of the norm ||a - p + eps||_p (inf: the max norm)"),
        Param("eps", D.BOUNDED_NONNEGATIVE, "added to the difference before the norm (PyTorch's pairwise_distance)"),
        _SWAP,
    ),
    inputs=("anchor", "positive", "negative"),
    example=_triplet_example,
    param_grid=({"swap": True}, {"p": 1.0}, {"p": 3.0}, {"p": math.inf}, {"eps": 0.0}, {"margin": 0.0}),
    convex=False,
    peers=("torch.nn.functional.triplet_margin_loss", "optax.losses.triplet_margin_loss (eps=0)"),
    references=(_FACENET, _BALNTAS),
    notes="PyTorch's semantics, eps added to the difference; optax adds eps inside the root (equal at eps=0). "
          "margin must be >= 0 (PyTorch accepts any).",
    **_COMMON,
)
def triplet_margin(
    anchor, positive, negative, *, margin=1.0, p=2.0, eps=1e-6, swap=False, weight=None, mask=None,
    reduction="mean",
):
    r"""Triplet margin loss on given (anchor, positive, negative) triplets.

    .. math::
        \ell = \max(0,\ d(a, p) - d(a, n) + m), \qquad d(x, y) = \|x - y + \varepsilon\|_p

    With ``swap=True`` (Balntas et al. 2016) :math:`d(a, n)` is replaced by
    :math:`\min(d(a, n), d(p, n))`. Identical to
    ``torch.nn.functional.triplet_margin_loss`` (the same :math:`\varepsilon`
    added to the difference, as its ``pairwise_distance``). optax's
    ``triplet_margin_loss`` adds its eps inside the root instead,
    :math:`(\sum |a - p|^p + \varepsilon)^{1/p}`: the two agree at
    ``eps=0``. Gradients stay finite where the difference is 0.

    Args:
        anchor, positive, negative: (N, D) or (D,), floating, one shape.
        margin: :math:`m \ge 0`.
        p: the norm's degree, > 0 (``math.inf`` for the max norm).
        eps: :math:`\varepsilon \ge 0`.
        swap: use the distance swap.
        weight, mask: per triplet, (N,) (or () for one triplet).
        reduction: "none" (per triplet), "mean" or "sum".

    Example:

    >>> import numpy as np, losskit
    >>> a, p, n = np.array([[0.0, 0.0]]), np.array([[0.0, 1.0]]), np.array([[1.5, 0.0]])
    >>> round(float(losskit.triplet_margin(a, p, n, eps=0.0)), 6)
    0.5

    References: Schroff, Kalenichenko, Philbin (2015), FaceNet, CVPR;
    Balntas, Riba, Ponsa, Mikolajczyk (2016), Learning local feature
    descriptors with triplets and shallow convolutional neural networks, BMVC.
    """
    loss = "triplet_margin"
    margin = check_param(loss, "margin", margin, D.BOUNDED_NONNEGATIVE)
    p = check_param(loss, "p", p, P_DOMAIN)
    eps = check_param(loss, "eps", eps, D.BOUNDED_NONNEGATIVE)
    check_bool(loss, "swap", swap)
    xp, a, pos, neg, batch = _triplet_arrays(loss, anchor, positive, negative, weight, mask, reduction)
    d_ap = pairwise_distance(xp, a, pos, p, eps)
    d_an = pairwise_distance(xp, a, neg, p, eps)
    if swap:
        d_an = xp.minimum(d_an, pairwise_distance(xp, pos, neg, p, eps))
    return reduce(batch, relu(xp, margin + d_ap - d_an), reduction)


@loss(
    input_space="embeddings",
    summary="Triplet margin loss with a user distance function (default: PyTorch's pairwise_distance).",
    estimates="an embedding where each anchor is closer to its positive than to its negative by m",
    params=(
        Param("distance_fn", None, "callable (x1, x2) -> (N,) distances; None: ||x1 - x2 + 1e-6||_2",
              kind="callable"),
        _MARGIN,
        _SWAP,
    ),
    inputs=("anchor", "positive", "negative"),
    example=_triplet_example,
    param_grid=({"swap": True}, {"margin": 0.3}),
    convex=False,
    peers=("torch.nn.functional.triplet_margin_with_distance_loss",),
    references=(_FACENET, _BALNTAS),
    notes="distance_fn receives arrays of the inputs' backend (after float16/bfloat16 are cast to float32) and "
          "must return one distance per row. margin may be 0 (PyTorch asks for > 0).",
    **_COMMON,
)
def triplet_margin_with_distance(
    anchor, positive, negative, *, distance_fn=None, margin=1.0, swap=False, weight=None, mask=None,
    reduction="mean",
):
    r"""Triplet margin loss with a distance function of your choice.

    .. math::
        \ell = \max(0,\ \delta(a, p) - \delta(a, n) + m)

    (with ``swap=True``, :math:`\delta(a, n)` becomes
    :math:`\min(\delta(a, n), \delta(p, n))`). Identical to
    ``torch.nn.functional.triplet_margin_with_distance_loss``.

    Args:
        anchor, positive, negative: (N, D) or (D,), floating, one shape.
        distance_fn: a callable ``(x1, x2) -> distances`` taking two arrays
            of the inputs' backend and shape and returning one non-negative
            distance per row, shape (N,) (or ()). ``None`` (default) is
            PyTorch's default, ``pairwise_distance`` with p=2 and eps=1e-6:
            :math:`\|x_1 - x_2 + 10^{-6}\|_2`, as ``triplet_margin``.
        margin: :math:`m \ge 0` (PyTorch asks for > 0).
        swap: use the distance swap.
        weight, mask: per triplet.
        reduction: "none" (per triplet), "mean" or "sum".

    Example:

    >>> import numpy as np, losskit
    >>> cosine_distance = lambda u, v: 1.0 - (u * v).sum(-1) / np.sqrt((u * u).sum(-1) * (v * v).sum(-1))
    >>> a, p, n = np.array([[1.0, 0.0]]), np.array([[1.0, 1.0]]), np.array([[0.0, 1.0]])
    >>> round(float(losskit.triplet_margin_with_distance(a, p, n, distance_fn=cosine_distance)), 6)
    0.292893

    References: Schroff, Kalenichenko, Philbin (2015), FaceNet, CVPR.
    """
    loss = "triplet_margin_with_distance"
    margin = check_param(loss, "margin", margin, D.BOUNDED_NONNEGATIVE)
    check_bool(loss, "swap", swap)
    if distance_fn is not None and not callable(distance_fn):
        raise TypeError(
            f"{loss}: distance_fn must be a callable (x1, x2) -> distances or None; "
            f"received {type(distance_fn).__name__}"
        )
    xp, a, pos, neg, batch = _triplet_arrays(loss, anchor, positive, negative, weight, mask, reduction)
    shape = tuple(a.shape[:-1])

    def dist(u, v):
        if distance_fn is None:
            return pairwise_distance(xp, u, v, 2.0, 1e-6)
        out = distance_fn(u, v)
        if not is_array(out):
            raise TypeError(f"{loss}: distance_fn must return an array; received {type(out).__name__}")
        if tuple(out.shape) != shape:
            raise ValueError(
                f"{loss}: distance_fn must return shape {shape} (one distance per triplet); "
                f"received shape {tuple(out.shape)}"
            )
        return out if out.dtype == batch.dtype else xp.astype(out, batch.dtype)

    d_ap = dist(a, pos)
    d_an = dist(a, neg)
    if swap:
        d_an = xp.minimum(d_an, dist(pos, neg))
    return reduce(batch, relu(xp, margin + d_ap - d_an), reduction)


def _mined(loss, rows, embeddings, labels, margin, distance, weight, mask, reduction):
    """Check a mined loss's call, then reduce the per-anchor values that
    ``rows`` (of embedding_math) computes over the whole batch."""
    margin = check_param(loss, "margin", margin, D.BOUNDED_NONNEGATIVE)
    check_choice(loss, "distance", distance, DISTANCES)
    x, y, batch = labelled_batch(loss, embeddings, labels, weight, mask, reduction)
    if x.shape[0] == 0:
        return _empty(batch, x, reduction)
    values, valid = rows(batch.xp, x, x, 0, y, y, batch.mask, margin, distance)
    return reduce(batch, values, reduction, valid=valid)


@loss(
    aliases=("batch_hard_triplet_loss",),
    summary="Triplet loss with the hardest positive and hardest negative of each anchor mined in the batch.",
    estimates="an embedding where each anchor's farthest positive is nearer than its nearest negative by m",
    **_MINED,
    references=(_HERMANS,),
    notes="Anchors without a positive or a negative contribute nothing and are not counted by 'mean'; one class "
          "only gives 0 with a zero gradient. A masked sample leaves the batch (mask equals slicing).",
    **_COMMON,
)
def batch_hard_triplet(
    embeddings, labels, *, margin=1.0, distance="euclidean", weight=None, mask=None, reduction="mean"
):
    r"""Batch-hard triplet loss (Hermans, Beyer & Leibe 2017).

    For each anchor :math:`i`, its hardest positive (the farthest sample of
    its class) and hardest negative (the nearest sample of another class)
    inside the batch:

    .. math::
        \ell_i = \max\!\Big(0,\ \max_{j:\, y_j = y_i,\, j \ne i} d_{ij}
                 - \min_{k:\, y_k \ne y_i} d_{ik} + m\Big)

    An anchor without a positive or without a negative contributes nothing
    (0 in "none", not counted by "mean"); a batch of one class gives 0 with a
    zero gradient. ``distance``: "euclidean" (default, with a safe square
    root: finite gradients at identical embeddings), "squared_euclidean" or
    "cosine" (:math:`1 - \cos`). Memory O(N²).

    Args:
        embeddings: (N, D), floating.
        labels: (N,) integers.
        margin: :math:`m \ge 0`.
        distance: "euclidean", "squared_euclidean" or "cosine".
        weight, mask: per anchor, (N,); a masked sample leaves the batch.
        reduction: "none" (per anchor), "mean" or "sum".

    Example:

    >>> import numpy as np, losskit
    >>> x = np.array([[0.0, 0.0], [1.0, 0.0], [1.5, 0.0], [3.0, 0.0]])
    >>> losskit.batch_hard_triplet(x, np.array([0, 0, 1, 1]), reduction="none")
    array([0.5, 1.5, 2. , 0.5])

    References: Hermans, Beyer, Leibe (2017), In Defense of the Triplet Loss
    for Person Re-Identification, arXiv:1703.07737.
    """
    return _mined("batch_hard_triplet", hardest_triplet_rows, embeddings, labels, margin, distance, weight, mask,
                  reduction)


@loss(
    aliases=("batch_all_triplet_loss",),
    summary="Triplet loss averaged over every valid (anchor, positive, negative) triplet of the batch.",
    estimates="an embedding where positives are nearer than negatives by m",
    **_MINED,
    references=(_HERMANS, _FACENET),
    notes="Per anchor: mean over its valid triplets, zero-loss ones included; 'mean' averages these over anchors "
          "with at least one triplet (not Hermans et al.'s mean over all triplets: weight = |P_i||N_i| gives "
          "that; nor their BA!=0 mean over active triplets). Memory O(N^3).",
    **_COMMON,
)
def batch_all_triplet(
    embeddings, labels, *, margin=1.0, distance="euclidean", weight=None, mask=None, reduction="mean"
):
    r"""Batch-all triplet loss: every valid triplet of the batch (Hermans et al. 2017).

    For anchor :math:`i`, the mean over its valid triplets, :math:`P_i`
    (positives: same label, :math:`j \ne i`) times :math:`N_i` (negatives:
    another label):

    .. math::
        \ell_i = \frac{1}{|P_i|\,|N_i|} \sum_{j \in P_i} \sum_{k \in N_i}
                 \max(0,\ d_{ij} - d_{ik} + m)

    "mean" then averages over the anchors that have at least one valid
    triplet. This is a mean of per-anchor means, not Hermans et al.'s mean
    over all triplets of the batch (anchors with many triplets weigh more
    there; ``weight = |P_i| |N_i|`` recovers it), and it averages over all
    valid triplets, also those with zero loss (their "BA≠0" variant divides
    by the active ones only). Anchors without a positive or a negative
    contribute nothing. Memory O(N³).

    Args:
        embeddings: (N, D), floating.
        labels: (N,) integers.
        margin: :math:`m \ge 0`.
        distance: "euclidean", "squared_euclidean" or "cosine".
        weight, mask: per anchor, (N,); a masked sample leaves the batch.
        reduction: "none" (per anchor), "mean" or "sum".

    Example:

    >>> import numpy as np, losskit
    >>> x = np.array([[0.0, 0.0], [1.0, 0.0], [1.5, 0.0], [3.0, 0.0]])
    >>> losskit.batch_all_triplet(x, np.array([0, 0, 1, 1]), reduction="none")
    array([0.25, 0.75, 1.5 , 0.25])

    References: Hermans, Beyer, Leibe (2017), In Defense of the Triplet Loss
    for Person Re-Identification, arXiv:1703.07737; Schroff, Kalenichenko,
    Philbin (2015), FaceNet, CVPR.
    """
    return _mined("batch_all_triplet", all_triplet_rows, embeddings, labels, margin, distance, weight, mask,
                  reduction)


# -- cosine and ranking -------------------------------------------------------


@loss(
    aliases=("cosine_embedding_loss",),
    input_space="embeddings",
    summary="1 - cos for similar pairs (target 1), max(0, cos - m) for dissimilar ones (target -1).",
    estimates="embeddings whose cosine separates similar and dissimilar pairs",
    target_domain=D.SIGN,
    params=(Param("margin", COSINE_MARGIN_DOMAIN, "cosine margin for dissimilar pairs"),),
    inputs=("input1", "input2", "target"),
    example=_cosine_example,
    param_grid=({"margin": 0.5}, {"margin": -0.5}),
    convex=False,
    peers=("torch.nn.functional.cosine_embedding_loss",),
    references=(_HADSELL,),
    notes="Cosine with 1e-12 added to each squared norm, as PyTorch: finite at zero vectors.",
    **_COMMON,
)
def cosine_embedding(input1, input2, target, *, margin=0.0, weight=None, mask=None, reduction="mean"):
    r"""Cosine embedding loss: similar pairs towards cosine 1, dissimilar below a margin.

    .. math::
        \ell = \begin{cases} 1 - \cos(x_1, x_2) & y = 1 \\
               \max(0,\ \cos(x_1, x_2) - m) & y = -1 \end{cases}
        \qquad \cos(x_1, x_2) = \frac{x_1 \cdot x_2}
               {\sqrt{\|x_1\|^2 + 10^{-12}}\ \sqrt{\|x_2\|^2 + 10^{-12}}}

    Identical to ``torch.nn.functional.cosine_embedding_loss`` (the same
    :math:`10^{-12}` under the roots), so a zero vector has cosine 0 and a
    finite gradient.

    Args:
        input1, input2: (N, D) or (D,), floating, one shape.
        target: (N,) (or ()), values in {-1, 1} (integers or floats).
        margin: :math:`m \in [-1, 1]`; 0 to 0.5 is usual.
        weight, mask: per pair.
        reduction: "none" (per pair), "mean" or "sum".

    Example:

    >>> import numpy as np, losskit
    >>> x1, x2 = np.array([[1.0, 0.0], [1.0, 0.0]]), np.array([[1.0, 1.0], [1.0, 1.0]])
    >>> losskit.cosine_embedding(x1, x2, np.array([1, -1]), reduction="none").round(6)
    array([0.292893, 0.707107])
    """
    loss = "cosine_embedding"
    margin = check_param(loss, "margin", margin, COSINE_MARGIN_DOMAIN)
    xp, arrays, dtype, out_dtype = structured(
        loss, {"input1": input1, "input2": input2, "target": target, "weight": weight, "mask": mask},
        reduction=reduction,
        floating=("input1", "input2"),
    )
    x1, x2 = arrays["input1"], arrays["input2"]
    if x1.ndim not in (1, 2):
        raise ValueError(f"{loss}: input1 must have shape (N, D) or (D,); received shape {tuple(x1.shape)}")
    check_shape(loss, "input2", x2, x1.shape, "the shape of input1")
    shape = tuple(x1.shape[:-1])
    t = _sign_target(loss, xp, arrays["target"], shape, "one value per pair", dtype)
    batch = per_sample(loss, xp, shape, "one value per pair", weight=arrays["weight"],
                       mask=arrays["mask"], dtype=dtype,
                       out_dtype=out_dtype)
    eps = 1e-12
    cos = xp.sum(x1 * x2, axis=-1) / (
        xp.sqrt(xp.sum(x1 * x1, axis=-1) + eps) * xp.sqrt(xp.sum(x2 * x2, axis=-1) + eps)
    )
    values = xp.where(t > 0, 1.0 - cos, relu(xp, cos - margin))
    return reduce(batch, values, reduction)


@loss(
    aliases=("margin_ranking_loss",),
    input_space="scores",
    summary="Pairwise ranking hinge max(0, -y (x1 - x2) + m).",
    estimates="scores whose order matches the targets, by a margin",
    target_domain=D.SIGN,
    params=(Param("margin", D.AT_MOST_BIG, "required score gap"),),
    inputs=("input1", "input2", "target"),
    example=_ranking_example,
    param_grid=({"margin": 0.5}, {"margin": -0.2}),
    convex=True,
    peers=("torch.nn.functional.margin_ranking_loss",),
    references=(("Herbrich, R., Graepel, T., Obermayer, K. (1999). Support vector learning for ordinal "
                "regression. ICANN."),),
    notes="Elementwise over any shape; convex (piecewise linear) in the scores.",
    **_COMMON,
)
def margin_ranking(input1, input2, target, *, margin=0.0, weight=None, mask=None, reduction="mean"):
    r"""Margin ranking loss: ``input1`` should rank above ``input2`` where the target is 1.

    .. math::
        \ell = \max(0,\ -y\,(x_1 - x_2) + m), \qquad y \in \{-1, 1\}

    Identical to ``torch.nn.functional.margin_ranking_loss``.

    Args:
        input1, input2: scores, any shape, floating, one shape.
        target: ``input1``'s shape, values in {-1, 1}: 1 where ``input1``
            should be the larger.
        margin: :math:`m`, any real.
        weight, mask: per element.
        reduction: "none" (per element), "mean" or "sum".

    Example:

    >>> import numpy as np, losskit
    >>> losskit.margin_ranking(np.array([2.0, 0.5]), np.array([1.0, 1.0]), np.array([1, 1]),
    ...                        margin=0.5, reduction="none")
    array([0., 1.])
    """
    loss = "margin_ranking"
    margin = check_param(loss, "margin", margin, D.AT_MOST_BIG)
    xp, arrays, dtype, out_dtype = structured(
        loss, {"input1": input1, "input2": input2, "target": target, "weight": weight, "mask": mask},
        reduction=reduction,
        floating=("input1", "input2"),
    )
    x1, x2 = arrays["input1"], arrays["input2"]
    check_shape(loss, "input2", x2, x1.shape, "the shape of input1")
    t = _sign_target(loss, xp, arrays["target"], tuple(x1.shape), "the shape of input1", dtype)
    batch = per_sample(loss, xp, tuple(x1.shape), "the shape of input1", weight=arrays["weight"],
                       mask=arrays["mask"],
                       dtype=dtype, out_dtype=out_dtype)
    return reduce(batch, relu(xp, -t * (x1 - x2) + margin), reduction)


# -- softmax-based: InfoNCE, SupCon, ArcFace/CosFace ---------------------------


@loss(
    aliases=("nt_xent", "ntxent"),
    input_space="embeddings",
    summary="InfoNCE / NT-Xent: softmax over cosine similarities / temperature that picks out the positive.",
    estimates="embeddings where each positive pair is more similar than the negatives (a bound on mutual "
              "information)",
    params=(_TEMPERATURE,),
    inputs=("query", "key"),
    example=_info_nce_example,
    param_grid=({"temperature": 0.5}, {"temperature": 0.05}),
    convex=False,
    peers=("optax.losses.ntxent",),
    references=(
        ("van den Oord, A., Li, Y., Vinyals, O. (2018). Representation Learning with Contrastive Predictive "
        "Coding. arXiv:1807.03748."),
        _SIMCLR,
        ("He, K., Fan, H., Wu, Y., Xie, S., Girshick, R. (2020). Momentum Contrast for Unsupervised Visual "
        "Representation Learning. CVPR."),
    ),
    notes="Embeddings L2-normalised (x / max(||x||, 1e-12)). Without negatives: SimCLR's symmetric NT-Xent over "
          "the 2N views, per pair the mean of both directions; equals optax.losses.ntxent on the stacked views. "
          "With negatives ((N, K, D) or (K, D), keyword): cross-entropy with the positive at index 0. Default "
          "temperature 0.1 (optax 0.07).",
    **_COMMON,
)
def info_nce(query, key, *, temperature=0.1, negatives=None, weight=None, mask=None, reduction="mean"):
    r"""InfoNCE / NT-Xent: a softmax over similarities that picks out the positive.

    Embeddings are L2-normalised first (similarities are cosines;
    :math:`u = x / \max(\|x\|, 10^{-12})`, so zero vectors are finite), and
    :math:`\tau` is the temperature.

    **Two views** (``negatives=None``, SimCLR's NT-Xent): ``query[i]`` and
    ``key[i]`` are two views of sample :math:`i`. In the 2N concatenated
    embeddings :math:`z`, each one's positive is its partner and the other
    2N - 2 are its negatives:

    .. math::
        \ell(a) = -\log \frac{\exp(z_a \cdot z_{a^+} / \tau)}
                  {\sum_{b \ne a} \exp(z_a \cdot z_b / \tau)}, \qquad
        \ell_i = \tfrac12 \big(\ell(q_i) + \ell(k_i)\big)

    (symmetric). The mean over pairs equals
    ``optax.losses.ntxent(concat([query, key]), labels=concat([arange(N), arange(N)]))``
    (up to its normalisation floor). A masked pair leaves the batch: it is
    no one's negative.

    **Explicit negatives** (``negatives`` given, (N, K, D) per query or
    (K, D) shared, as in MoCo's queue): cross-entropy with the positive at
    index 0,

    .. math::
        \ell_i = -\log \frac{\exp(q_i \cdot k_i / \tau)}
                 {\exp(q_i \cdot k_i / \tau) + \sum_k \exp(q_i \cdot n_k / \tau)}

    (other keys of the batch are not negatives in this form).

    Args:
        query, key: (N, D), floating; row i of each is a positive pair.
        temperature: :math:`\tau > 0` (default 0.1; optax's ntxent uses 0.07).
        negatives: None, (N, K, D) or (K, D), floating.
        weight, mask: per pair / query, (N,).
        reduction: "none" (per pair, (N,)), "mean" or "sum".

    Example:

    >>> import numpy as np, losskit
    >>> q = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> round(float(losskit.info_nce(q, q, temperature=1.0)), 6)  # -log(e / (e + 2))
    0.551445

    References: van den Oord, Li, Vinyals (2018), Representation Learning
    with Contrastive Predictive Coding, arXiv:1807.03748; Chen, Kornblith,
    Norouzi, Hinton (2020), A Simple Framework for Contrastive Learning of
    Visual Representations (SimCLR), ICML; He et al. (2020), Momentum
    Contrast (MoCo), CVPR.
    """
    loss = "info_nce"
    temperature = check_param(loss, "temperature", temperature, TEMPERATURE_DOMAIN)
    xp, arrays, dtype, out_dtype = structured(
        loss, {"query": query, "key": key, "negatives": negatives, "weight": weight, "mask": mask},
        reduction=reduction,
        floating=("query", "key", "negatives"), optional=("negatives",),
    )
    q, k, neg = arrays["query"], arrays["key"], arrays["negatives"]
    check_rows(loss, "query", q)
    check_shape(loss, "key", k, q.shape, "the shape of query")
    n, dim = q.shape
    if neg is not None and not (
        (neg.ndim == 3 and neg.shape[0] == n and neg.shape[2] == dim) or (neg.ndim == 2 and neg.shape[1] == dim)
    ):
        raise ValueError(
            f"{loss}: negatives must have shape ({n}, K, {dim}) (per query) or (K, {dim}) (shared); "
            f"received shape {tuple(neg.shape)}"
        )
    batch = per_sample(loss, xp, (n,), "one value per query", weight=arrays["weight"],
                       mask=arrays["mask"], dtype=dtype,
                       out_dtype=out_dtype)
    if n == 0:
        return _empty(batch, q, reduction)
    if neg is None:
        return reduce(batch, nt_xent_rows(xp, q, k, q, k, 0, batch.mask, temperature), reduction)
    uq, uk = unit_rows(xp, q), unit_rows(xp, k)
    positive = xp.sum(uq * uk, axis=1) / temperature
    un = unit_rows(xp, neg)
    if un.ndim == 2:
        other = xp.matmul(uq, xp.matrix_transpose(un)) / temperature
    else:
        other = xp.sum(xp.expand_dims(uq, axis=1) * un, axis=2) / temperature
    logits = xp.concat([xp.expand_dims(positive, axis=1), other], axis=1)
    return reduce(batch, logsumexp(xp, logits, axis=1) - positive, reduction)


@loss(
    aliases=("supcon",),
    input_space="embeddings",
    summary="Supervised contrastive loss (SupCon, L_out): every same-label sample is a positive.",
    estimates="embeddings where same-label samples are more similar than others",
    target_domain=D.REAL,
    params=(_TEMPERATURE,),
    inputs=("embeddings", "labels"),
    example=_labelled_example,
    param_grid=({"temperature": 0.5},),
    convex=False,
    peers=("optax.losses.ntxent (two views per label)",),
    references=("Khosla, P. et al. (2020). Supervised Contrastive Learning. NeurIPS.",),
    notes="The L_out form; other positives stay in the denominator. Anchors without a positive contribute "
          "nothing. No temperature / base_temperature factor. With two views per label it is NT-Xent.",
    **_COMMON,
)
def supervised_contrastive(embeddings, labels, *, temperature=0.1, weight=None, mask=None, reduction="mean"):
    r"""Supervised contrastive loss, SupCon :math:`\mathcal{L}^{sup}_{out}` (Khosla et al. 2020).

    With L2-normalised embeddings :math:`z` (similarities are cosines), the
    positives :math:`P(i)` of anchor :math:`i` (same label, :math:`j \ne i`)
    and all other samples :math:`A(i)`:

    .. math::
        \ell_i = -\frac{1}{|P(i)|} \sum_{p \in P(i)} \log
                 \frac{\exp(z_i \cdot z_p / \tau)}{\sum_{a \in A(i)} \exp(z_i \cdot z_a / \tau)}

    An anchor without a positive contributes nothing (0 in "none", not
    counted by "mean"). With two views per label this is NT-Xent
    (``info_nce``, ``optax.losses.ntxent``); with several positives it keeps
    the other positives in the denominator, where optax's ntxent leaves
    them out. No ``temperature / base_temperature`` factor (the reference
    code's) is applied.

    Args:
        embeddings: (N, D), floating (e.g. all views of a batch stacked).
        labels: (N,) integers.
        temperature: :math:`\tau > 0` (default 0.1; Khosla et al. use 0.07
            to 0.1).
        weight, mask: per anchor, (N,); a masked sample leaves the batch.
        reduction: "none" (per anchor), "mean" or "sum".

    Example:

    >>> import numpy as np, losskit
    >>> x = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    >>> losskit.supervised_contrastive(x, np.array([0, 0, 1]), temperature=1.0, reduction="none").round(6)
    array([0.313262, 0.313262, 0.      ])

    References: Khosla et al. (2020), Supervised Contrastive Learning, NeurIPS.
    """
    loss = "supervised_contrastive"
    temperature = check_param(loss, "temperature", temperature, TEMPERATURE_DOMAIN)
    x, y, batch = labelled_batch(loss, embeddings, labels, weight, mask, reduction)
    if x.shape[0] == 0:
        return _empty(batch, x, reduction)
    values, valid = supcon_rows(batch.xp, x, x, 0, y, y, batch.mask, temperature)
    return reduce(batch, values, reduction, valid=valid)


def _centers_batch(loss, embeddings, labels, centers, weight, mask, reduction):
    xp, arrays, dtype, out_dtype = structured(
        loss, {"embeddings": embeddings, "labels": labels, "centers": centers, "weight": weight, "mask": mask},
        reduction=reduction,
        floating=("embeddings", "centers"), integral=("labels",),
    )
    x, y, c = arrays["embeddings"], arrays["labels"], arrays["centers"]
    check_rows(loss, "embeddings", x)
    check_shape(loss, "labels", y, (x.shape[0],), "one label per embedding")
    if c.ndim != 2 or c.shape[1] != x.shape[1]:
        raise ValueError(
            f"{loss}: centers must have shape (C, {x.shape[1]}) (one vector per class, the embeddings' "
            f"dimension); received shape {tuple(c.shape)}"
        )
    _class_labels(loss, xp, y, c.shape[0])
    batch = per_sample(loss, xp, (x.shape[0],), "one value per embedding", weight=arrays["weight"],
                       mask=arrays["mask"],
                       dtype=dtype, out_dtype=out_dtype)
    return xp, x, y, c, batch


@loss(
    input_space="embeddings",
    summary="Center loss 1/2 ||x_i - c_{y_i}||^2: pulls features to their class center (next to a softmax loss).",
    estimates="class centers of the embeddings (the class means)",
    target_domain=D.CLASS_INDEX,
    params=(),
    inputs=("embeddings", "labels", "centers"),
    example=_centers_example,
    convex=True,
    references=(("Wen, Y., Zhang, K., Li, Z., Qiao, Y. (2016). A Discriminative Feature Learning Approach for Deep "
                "Face Recognition. ECCV."),),
    notes="centers (C, D) receive the autograd gradient c - x; the paper's own center update rule is a separate "
          "step with rate alpha. 'sum' is the paper's L_C.",
    **_COMMON,
)
def center_loss(embeddings, labels, centers, *, weight=None, mask=None, reduction="mean"):
    r"""Center loss (Wen et al. 2016): squared distance to the class center.

    .. math::
        \ell_i = \tfrac12 \|x_i - c_{y_i}\|^2

    ``reduction="sum"`` is the paper's :math:`\mathcal{L}_C`; it is used next
    to a softmax loss, :math:`\mathcal{L}_S + \lambda \mathcal{L}_C`.
    Autograd also gives the centers a gradient, :math:`c_{y_i} - x_i`; the
    paper instead moves each center by the mean of its samples' differences
    with a rate :math:`\alpha` (pass the centers detached and update them
    yourself for that rule).

    Args:
        embeddings: (N, D) deep features, floating.
        labels: (N,) integer class indices in [0, C).
        centers: (C, D), floating: one center per class.
        weight, mask: per sample, (N,).
        reduction: "none" (per sample), "mean" or "sum".

    Example:

    >>> import numpy as np, losskit
    >>> x, c = np.array([[1.0, 1.0], [0.0, 3.0]]), np.array([[0.0, 1.0], [0.0, 1.0]])
    >>> losskit.center_loss(x, np.array([0, 1]), c, reduction="none")
    array([0.5, 2. ])

    References: Wen, Zhang, Li, Qiao (2016), A Discriminative Feature Learning
    Approach for Deep Face Recognition, ECCV.
    """
    loss = "center_loss"
    xp, x, y, c, batch = _centers_batch(loss, embeddings, labels, centers, weight, mask, reduction)
    diff = x - xp.take(c, y, axis=0)
    return reduce(batch, 0.5 * xp.sum(diff * diff, axis=1), reduction)


@loss(
    input_space="embeddings",
    summary="ArcFace / CosFace: softmax cross-entropy on scaled cosines to normalised class vectors, with an "
            "additive angular (cos(theta + m)) or cosine (cos(theta) - m) margin on the label.",
    estimates="embeddings separated by angle from the other classes' vectors",
    target_domain=D.CLASS_INDEX,
    params=(
        Param("variant", VARIANTS, "arcface (cos(theta + m)) or cosface (cos(theta) - m)",
              kind="choice"),
        Param("margin", D.BOUNDED_NONNEGATIVE, "None: 0.5 for arcface (in [0, pi/2]), 0.35 for cosface"),
        Param("scale", SCALE_DOMAIN, "logit scale s"),
        Param("easy_margin", None, "arcface: margin only where cos(theta) > 0", kind="bool"),
    ),
    inputs=("embeddings", "labels", "centers"),
    example=_centers_example,
    param_grid=({"variant": "cosface"}, {"easy_margin": True}, {"scale": 16.0, "margin": 1.2},
                {"variant": "cosface", "margin": 0.0}),
    convex=False,
    references=(
        ("Deng, J., Guo, J., Xue, N., Zafeiriou, S. (2019). ArcFace: Additive Angular Margin Loss for Deep Face "
        "Recognition. CVPR."),
        "Wang, H. et al. (2018). CosFace: Large Margin Cosine Loss for Deep Face Recognition. CVPR.",
        "Wang, F., Cheng, J., Liu, W., Liu, H. (2018). Additive Margin Softmax for Face Verification. IEEE SPL.",
    ),
    notes="cos(theta + m) = cos cos m - sin sin m with a safe sqrt for sin (finite gradients at cos = +-1). "
          "Beyond theta > pi - m ArcFace uses cos(theta) - m sin(m) (the reference implementation's rule); "
          "easy_margin applies the margin only where cos(theta) > 0.",
    **_COMMON,
)
def additive_margin_softmax(
    embeddings, labels, centers, *, variant="arcface", margin=None, scale=64.0, easy_margin=False,
    weight=None, mask=None, reduction="mean",
):
    r"""Additive-margin softmax: ArcFace (angular margin) or CosFace (cosine margin).

    Embeddings and class vectors (``centers``, the last layer's weight rows)
    are L2-normalised, so the logits are cosines
    :math:`\cos\theta_c = \hat x \cdot \hat w_c`. The label's logit gets a
    margin, all are multiplied by the scale :math:`s`, then cross-entropy:

    .. math::
        \ell = -\log \frac{e^{s\,\psi(\theta_y)}}
               {e^{s\,\psi(\theta_y)} + \sum_{c \ne y} e^{s \cos\theta_c}},\qquad
        \psi(\theta) = \begin{cases} \cos(\theta + m) & \text{ArcFace} \\
                       \cos\theta - m & \text{CosFace} \end{cases}

    ArcFace computes :math:`\cos(\theta + m) = \cos\theta\cos m -
    \sin\theta \sin m` with :math:`\sin\theta = \sqrt{1 - \cos^2\theta}`
    through a safe square root, so gradients are finite at
    :math:`\cos\theta = \pm 1` (``arccos`` is not used). Beyond
    :math:`\theta > \pi - m`, where :math:`\cos(\theta + m)` would rise again,
    it uses :math:`\cos\theta - m \sin m` (the reference implementation's
    rule); with ``easy_margin=True`` the margin applies only where
    :math:`\cos\theta > 0` (:math:`\psi = \cos\theta` elsewhere).

    Args:
        embeddings: (N, D), floating.
        labels: (N,) integer class indices in [0, C).
        centers: (C, D), floating: one (learned) vector per class.
        variant: "arcface" (default) or "cosface".
        margin: :math:`m`; None is the variant's usual value, 0.5 for
            ArcFace (in [0, pi/2]) and 0.35 for CosFace (>= 0).
        scale: :math:`s > 0` (default 64).
        easy_margin: ArcFace only: margin only where the cosine is positive.
        weight, mask: per sample, (N,).
        reduction: "none" (per sample), "mean" or "sum".

    With ``margin=0`` both are cross-entropy on :math:`s \cos\theta`.

    Example:

    >>> import numpy as np, losskit
    >>> x, w = np.array([[1.0, 0.0]]), np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> round(float(losskit.additive_margin_softmax(x, np.array([0]), w, variant="cosface", scale=10.0)), 6)
    0.001502

    References: Deng, Guo, Xue, Zafeiriou (2019), ArcFace: Additive Angular
    Margin Loss for Deep Face Recognition, CVPR; Wang et al. (2018), CosFace:
    Large Margin Cosine Loss for Deep Face Recognition, CVPR; Wang, Cheng,
    Liu, Liu (2018), Additive Margin Softmax for Face Verification, IEEE SPL.
    """
    loss = "additive_margin_softmax"
    check_choice(loss, "variant", variant, VARIANTS)
    if margin is None:
        margin = DEFAULT_MARGINS[variant]
    margin = check_param(loss, "margin", margin, D.BOUNDED_NONNEGATIVE)
    if variant == "arcface" and not ARCFACE_MARGIN_DOMAIN.contains_scalar(margin):
        raise ValueError(
            f"{loss}: margin must be {ARCFACE_MARGIN_DOMAIN.describe()} when variant='arcface'; "
            f"received margin={margin!r}"
        )
    scale = check_param(loss, "scale", scale, SCALE_DOMAIN)
    check_bool(loss, "easy_margin", easy_margin)
    xp, x, y, c, batch = _centers_batch(loss, embeddings, labels, centers, weight, mask, reduction)
    if x.shape[0] == 0:
        return _empty(batch, x, reduction)
    cos = xp.matmul(unit_rows(xp, x), xp.matrix_transpose(unit_rows(xp, c)))  # (N, C)
    hot = one_hot(xp, y, c.shape[0], axis=1, dtype=xp.bool)
    cos_y = xp.sum(xp.where(hot, cos, xp.zeros_like(cos)), axis=1)
    if variant == "cosface":
        psi = cos_y - margin
    else:
        sin_y = safe_sqrt(xp, (1.0 - cos_y) * (1.0 + cos_y))
        psi = cos_y * math.cos(margin) - sin_y * math.sin(margin)
        if easy_margin:
            psi = xp.where(cos_y > 0, psi, cos_y)
        else:
            psi = xp.where(cos_y > math.cos(math.pi - margin), psi, cos_y - math.sin(math.pi - margin) * margin)
    logits = scale * xp.where(hot, xp.expand_dims(psi, axis=1), cos)
    return reduce(batch, logsumexp(xp, logits, axis=1) - scale * psi, reduction)
