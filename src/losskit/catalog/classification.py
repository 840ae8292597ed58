"""Registry entries: classification (softmax over a class axis).

``input`` of every entry but ``nll`` is logits, the raw model output itself,
so their ``link`` is "identity" (raw -> input) and the derivatives are with
respect to the logits; ``nll`` takes log-probabilities, which are its raw
input.
"""

import numpy as np

from .. import domains as D
from ..functional import classification as F
from ..registry import LossSpec, Param, register

_CLASS_WEIGHT = Param("class_weight", None, D.NONNEGATIVE,
                      "optional length-C per-class weights (PyTorch's weight)", kind="array")
_IGNORE = Param("ignore_index", -100, None, "label whose samples are left out of the loss and the mean", kind="int")
_SMOOTHING = Param("label_smoothing", 0.0, D.UNIT, "mass spread uniformly over the C classes")


def _one_hot(y, num_classes):
    """(N,) labels -> (N, C) booleans; C is not in the target, so it is given
    (default 4, the property suite's class count) or the largest label + 1."""
    y = np.asarray(y)
    c = max(num_classes, int(y.max()) + 1 if y.size else 0)
    return np.arange(c)[None, :] == y[:, None]


def _best_log_probabilities(y, num_classes=4):
    """Log-probabilities with log p_y = 0 (the loss's minimum) and -50 elsewhere."""
    return np.where(_one_hot(y, num_classes), 0.0, -50.0)


def _best_scores(y, num_classes=4):
    """Scores with the label's 10 above every other: zero hinge loss for margin < 10."""
    return 10.0 * _one_hot(y, num_classes)


register(LossSpec(
    name="cross_entropy",
    function=F.cross_entropy,
    aliases=("softmax_cross_entropy", "categorical_cross_entropy"),
    family="classification",
    task="multiclass",
    kind="class_axis",
    input_space="logit",
    link="identity",
    summary="Softmax cross-entropy (log loss) on logits; the default for multiclass classification.",
    estimates="class probabilities",
    input_domain=D.REAL,
    target_domain=D.CLASS_INDEX,
    params=(_CLASS_WEIGHT, _IGNORE, _SMOOTHING),
    derivatives=F._cross_entropy_derivatives,
    minimum=0.0,
    best_input=None,  # the infimum 0 needs infinite logits
    param_grid=({"label_smoothing": 0.1},),
    peers=("torch.nn.functional.cross_entropy", "sklearn.metrics.log_loss (on softmax(input))"),
    references=(
        "Cox, D. R. (1958). The regression analysis of binary sequences. J. R. Stat. Soc. B 20(2).",
        "Szegedy, C. et al. (2016). Rethinking the Inception Architecture for Computer Vision. CVPR (label smoothing).",
    ),
    notes="Also takes class-probability targets of the input's shape. A proper scoring rule. 'mean' with "
          "class_weight divides by the summed class weights of the targets (as PyTorch); with probability "
          "targets by the number of samples.",
))

register(LossSpec(
    name="nll",
    function=F.nll,
    aliases=("nll_loss",),
    family="classification",
    task="multiclass",
    kind="class_axis",
    input_space="log-probability",
    link="identity",
    summary="Negative log-likelihood of log-probabilities (after log_softmax).",
    estimates="class probabilities",
    input_domain=D.NONPOSITIVE,
    target_domain=D.CLASS_INDEX,
    params=(_CLASS_WEIGHT, _IGNORE),
    derivatives=F._nll_derivatives,
    minimum=0.0,
    best_input=_best_log_probabilities,
    peers=("torch.nn.functional.nll_loss",),
    references=("Fisher, R. A. (1922). On the mathematical foundations of theoretical statistics. Phil. Trans. R. Soc. A 222.",),
    notes="Linear in its input (Hessian 0). nll(log_softmax(z), y) equals cross_entropy(z, y).",
))

register(LossSpec(
    name="softmax_focal",
    function=F.softmax_focal,
    aliases=("multiclass_focal",),
    family="classification",
    task="multiclass",
    kind="class_axis",
    input_space="logit",
    link="identity",
    summary="Focal loss on softmax probabilities: down-weights easy samples (class imbalance, dense detection).",
    estimates="a sharpened, not calibrated, class ranking (not a proper scoring rule for gamma > 0)",
    input_domain=D.REAL,
    target_domain=D.CLASS_INDEX,
    params=(
        Param("alpha", None, D.BOUNDED_NONNEGATIVE, "None, a scalar, or a length-C per-class weight multiplying the loss",
              kind="real_or_array"),
        Param("gamma", 2.0, D.BOUNDED_NONNEGATIVE, "focusing exponent; 0 gives cross-entropy"),
        _IGNORE,
    ),
    convex=False,
    hessian_nonnegative=False,
    derivatives=F._softmax_focal_derivatives,
    minimum=0.0,
    param_grid=({"gamma": 0.0}, {"gamma": 0.5}, {"gamma": 1.0}, {"gamma": 5.0}, {"alpha": 0.25}),
    references=("Lin, T.-Y., Goyal, P., Girshick, R., He, K., Dollar, P. (2017). Focal Loss for Dense Object "
                "Detection. ICCV.",),
    notes="Not a proper scoring rule: its minimiser is not the class probabilities (gamma > 0); calibrate "
          "afterwards if probabilities matter. alpha multiplies the loss and is not in the 'mean' denominator.",
))

register(LossSpec(
    name="poly1_cross_entropy",
    function=F.poly1_cross_entropy,
    aliases=("poly1", "polyloss"),
    family="classification",
    task="multiclass",
    kind="class_axis",
    input_space="logit",
    link="identity",
    summary="PolyLoss Poly-1: cross-entropy plus epsilon * (1 - p_t), a tunable first polynomial term.",
    estimates="class probabilities only at epsilon = 0 (otherwise a reweighted fit)",
    input_domain=D.REAL,
    target_domain=D.CLASS_INDEX,
    params=(
        Param("epsilon", 1.0, F.EPSILON_DOMAIN, "coefficient of the (1 - p_t) term; 0 gives cross-entropy"),
        _CLASS_WEIGHT, _IGNORE, _SMOOTHING,
    ),
    convex=False,
    hessian_nonnegative=False,
    derivatives=F._poly1_cross_entropy_derivatives,
    minimum=0.0,
    param_grid=({"epsilon": -1.0}, {"epsilon": 0.0}, {"epsilon": 3.0}, {"label_smoothing": 0.1}),
    references=("Leng, Z., Tan, M., Liu, C., et al. (2022). PolyLoss: A Polynomial Expansion Perspective of "
                "Classification Loss Functions. ICLR.",),
    notes="Convex with a non-negative Hessian diagonal for epsilon in [-1, 1]; not for epsilon > 1. "
          "epsilon = 0 is exactly cross_entropy (same 'mean' with class_weight).",
))

register(LossSpec(
    name="multi_margin",
    function=F.multi_margin,
    aliases=("multi_margin_loss", "multiclass_hinge"),
    family="classification",
    task="multiclass",
    kind="class_axis",
    input_space="score",
    link="identity",
    summary="Multi-class hinge (Weston-Watkins): penalise every class scoring within margin of the label.",
    estimates="the most probable class (mode); scores are not probabilities",
    input_domain=D.REAL,
    target_domain=D.CLASS_INDEX,
    params=(
        Param("p", 1, F.MARGIN_POWERS, "1 (hinge) or 2 (squared hinge)", kind="choice"),
        Param("margin", 1.0, D.BOUNDED_NONNEGATIVE, "required gap between the label's score and the others"),
        _CLASS_WEIGHT, _IGNORE,
    ),
    derivatives=F._multi_margin_derivatives,
    minimum=0.0,
    best_input=_best_scores,
    param_grid=({"p": 2}, {"margin": 0.5}, {"p": 2, "margin": 2.0}),
    peers=("torch.nn.functional.multi_margin_loss",),
    references=(
        "Weston, J. & Watkins, C. (1999). Support Vector Machines for Multi-Class Pattern Recognition. ESANN.",
        "Crammer, K. & Singer, Y. (2001). On the Algorithmic Implementation of Multiclass Kernel-based Vector "
        "Machines. JMLR 2.",
    ),
    notes="Piecewise: Hessian 0 for p=1, piecewise constant for p=2 (derivatives at kinks are those of "
          "PyTorch: 0). 'mean' with class_weight divides by the number of samples (as PyTorch), not by the "
          "class weights.",
))

register(LossSpec(
    name="generalized_cross_entropy",
    function=F.generalized_cross_entropy,
    aliases=("gce",),
    family="classification",
    task="multiclass",
    kind="class_axis",
    input_space="logit",
    link="identity",
    summary="(1 - p_y^q) / q: between cross-entropy (q -> 0) and MAE on probabilities (q = 1); noisy labels.",
    estimates="the most probable class; not calibrated probabilities (not a proper scoring rule for q > 0)",
    input_domain=D.REAL,
    target_domain=D.CLASS_INDEX,
    params=(Param("q", 0.7, F.Q_DOMAIN, "Box-Cox exponent; q -> 0 cross-entropy, q = 1 MAE"), _IGNORE),
    robust=True,
    convex=False,
    hessian_nonnegative=False,
    derivatives=F._generalized_cross_entropy_derivatives,
    minimum=0.0,
    param_grid=({"q": 1.0}, {"q": 0.1}, {"q": 1e-4}),
    references=("Zhang, Z. & Sabuncu, M. R. (2018). Generalized Cross Entropy Loss for Training Deep Neural "
                "Networks with Noisy Labels. NeurIPS.",),
    notes="Bounded by 1/q, hence robust to mislabelled samples (noise-tolerant at q = 1, MAE); converges "
          "slower than cross-entropy. Not a proper scoring rule.",
))
