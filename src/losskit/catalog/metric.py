"""Registry entries of functional/metric.py: metric-learning losses on
embeddings (pairs, triplets, mined batches, softmax over similarities, class
centers). All are structured: one value per pair, triplet, anchor or sample."""

import math

import numpy as np

from .. import domains as D
from ..functional import metric as F
from ..registry import LossSpec, Param, register

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

_MARGIN = Param("margin", 1.0, D.BOUNDED_NONNEGATIVE, "distance margin m")
_DISTANCE = Param("distance", "euclidean", F.DISTANCES,
                  "pairwise distance: euclidean (safe sqrt), squared_euclidean or cosine (1 - cos)", kind="choice")
_SWAP = Param("swap", False, None, "distance swap: d(a, n) -> min(d(a, n), d(p, n)) (Balntas et al. 2016)",
              kind="bool")
_TEMPERATURE = Param("temperature", 0.1, F.TEMPERATURE_DOMAIN, "softmax temperature tau on cosine similarities")

_COMMON = {"family": "metric", "task": "embedding", "kind": "structured", "minimum": 0.0, "hessian_nonnegative": False}


# -- examples: valid calls on typical data ------------------------------------


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


# -- entries -------------------------------------------------------------------


register(LossSpec(
    name="contrastive",
    function=F.contrastive,
    aliases=("contrastive_loss",),
    input_space="distances",
    summary="Contrastive (pair) loss on distances: 1/2 d^2 for similar pairs, 1/2 max(0, m - d)^2 for dissimilar.",
    estimates="an embedding where similar pairs are close and dissimilar ones at least m apart",
    input_domain=D.NONNEGATIVE,
    target_domain=D.BINARY,
    params=(_MARGIN,),
    inputs=("distance", "same"),
    example=_contrastive_example,
    param_grid=({"margin": 0.5},),
    convex=False,
    references=(_HADSELL,),
    notes="With Hadsell et al.'s factor 1/2 (common code omits it: twice this value). Convex in the distance "
          "for each pair type, not in the embeddings.",
    **_COMMON,
))

register(LossSpec(
    name="contrastive_embeddings",
    function=F.contrastive_embeddings,
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
))

register(LossSpec(
    name="triplet_margin",
    function=F.triplet_margin,
    aliases=("triplet", "triplet_margin_loss"),
    input_space="embeddings",
    summary="Triplet margin loss max(0, d(a, p) - d(a, n) + m) on given triplets, p-norm distance.",
    estimates="an embedding where each anchor is closer to its positive than to its negative by m",
    params=(
        _MARGIN,
        Param("p", 2.0, F.P_DOMAIN, "degree of the norm ||a - p + eps||_p (inf: the max norm)"),
        Param("eps", 1e-6, D.BOUNDED_NONNEGATIVE, "added to the difference before the norm (PyTorch's pairwise_distance)"),
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
))

register(LossSpec(
    name="triplet_margin_with_distance",
    function=F.triplet_margin_with_distance,
    input_space="embeddings",
    summary="Triplet margin loss with a user distance function (default: PyTorch's pairwise_distance).",
    estimates="an embedding where each anchor is closer to its positive than to its negative by m",
    params=(
        Param("distance_fn", None, None, "callable (x1, x2) -> (N,) distances; None: ||x1 - x2 + 1e-6||_2",
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
))

# What the two batch-mining triplet losses share.
_MINED = {
    "input_space": "embeddings",
    "target_domain": D.REAL,
    "params": (_MARGIN, _DISTANCE),
    "inputs": ("embeddings", "labels"),
    "example": _labelled_example,
    "param_grid": ({"distance": "cosine", "margin": 0.3}, {"distance": "squared_euclidean"}, {"margin": 3.0}),
    "convex": False,
}

register(LossSpec(
    name="batch_hard_triplet",
    function=F.batch_hard_triplet,
    aliases=("batch_hard_triplet_loss",),
    summary="Triplet loss with the hardest positive and hardest negative of each anchor mined in the batch.",
    estimates="an embedding where each anchor's farthest positive is nearer than its nearest negative by m",
    **_MINED,
    references=(_HERMANS,),
    notes="Anchors without a positive or a negative contribute nothing and are not counted by 'mean'; one class "
          "only gives 0 with a zero gradient. A masked sample leaves the batch (mask equals slicing).",
    **_COMMON,
))

register(LossSpec(
    name="batch_all_triplet",
    function=F.batch_all_triplet,
    aliases=("batch_all_triplet_loss",),
    summary="Triplet loss averaged over every valid (anchor, positive, negative) triplet of the batch.",
    estimates="an embedding where positives are nearer than negatives by m",
    **_MINED,
    references=(_HERMANS, _FACENET),
    notes="Per anchor: mean over its valid triplets, zero-loss ones included; 'mean' averages these over anchors "
          "with at least one triplet (not Hermans et al.'s mean over all triplets: weight = |P_i||N_i| gives "
          "that; nor their BA!=0 mean over active triplets). Memory O(N^3).",
    **_COMMON,
))

register(LossSpec(
    name="cosine_embedding",
    function=F.cosine_embedding,
    aliases=("cosine_embedding_loss",),
    input_space="embeddings",
    summary="1 - cos for similar pairs (target 1), max(0, cos - m) for dissimilar ones (target -1).",
    estimates="embeddings whose cosine separates similar and dissimilar pairs",
    target_domain=D.SIGN,
    params=(Param("margin", 0.0, F.COSINE_MARGIN_DOMAIN, "cosine margin for dissimilar pairs"),),
    inputs=("input1", "input2", "target"),
    example=_cosine_example,
    param_grid=({"margin": 0.5}, {"margin": -0.5}),
    convex=False,
    peers=("torch.nn.functional.cosine_embedding_loss",),
    references=(_HADSELL,),
    notes="Cosine with 1e-12 added to each squared norm, as PyTorch: finite at zero vectors.",
    **_COMMON,
))

register(LossSpec(
    name="margin_ranking",
    function=F.margin_ranking,
    aliases=("margin_ranking_loss",),
    input_space="scores",
    summary="Pairwise ranking hinge max(0, -y (x1 - x2) + m).",
    estimates="scores whose order matches the targets, by a margin",
    target_domain=D.SIGN,
    params=(Param("margin", 0.0, D.AT_MOST_BIG, "required score gap"),),
    inputs=("input1", "input2", "target"),
    example=_ranking_example,
    param_grid=({"margin": 0.5}, {"margin": -0.2}),
    convex=True,
    peers=("torch.nn.functional.margin_ranking_loss",),
    references=(("Herbrich, R., Graepel, T., Obermayer, K. (1999). Support vector learning for ordinal "
                "regression. ICANN."),),
    notes="Elementwise over any shape; convex (piecewise linear) in the scores.",
    **_COMMON,
))

register(LossSpec(
    name="info_nce",
    function=F.info_nce,
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
))

register(LossSpec(
    name="supervised_contrastive",
    function=F.supervised_contrastive,
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
))

register(LossSpec(
    name="center_loss",
    function=F.center_loss,
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
))

register(LossSpec(
    name="additive_margin_softmax",
    function=F.additive_margin_softmax,
    input_space="embeddings",
    summary="ArcFace / CosFace: softmax cross-entropy on scaled cosines to normalised class vectors, with an "
            "additive angular (cos(theta + m)) or cosine (cos(theta) - m) margin on the label.",
    estimates="embeddings separated by angle from the other classes' vectors",
    target_domain=D.CLASS_INDEX,
    params=(
        Param("variant", "arcface", F.VARIANTS, "arcface (cos(theta + m)) or cosface (cos(theta) - m)",
              kind="choice"),
        Param("margin", None, D.BOUNDED_NONNEGATIVE, "None: 0.5 for arcface (in [0, pi/2]), 0.35 for cosface"),
        Param("scale", 64.0, F.SCALE_DOMAIN, "logit scale s"),
        Param("easy_margin", False, None, "arcface: margin only where cos(theta) > 0", kind="bool"),
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
))
