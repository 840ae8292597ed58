"""Registry entries: binary losses (one independent prediction per element;
task "binary", which covers multi-label outputs too: each label is its own
binary problem)."""

from .. import domains as D
from ..functional import binary as F
from ..registry import LossSpec, Param, register

_MULTILABEL = " Works for multi-label (N, L) outputs too: each label is its own binary problem."

register(LossSpec(
    name="binary_cross_entropy",
    function=F.binary_cross_entropy,
    aliases=("bce",),
    family="binary",
    task="binary",
    input_space="probability",
    summary="Log loss on probabilities; each log term clamped at -100 as in PyTorch." + _MULTILABEL,
    estimates="probability P(y = 1 | x) (a strictly proper scoring rule)",
    input_domain=D.UNIT,
    target_domain=D.UNIT,
    link="sigmoid",
    derivatives=F._binary_cross_entropy_derivatives,
    # A perfect prediction p = y gives 0 only for hard targets; for a soft
    # target the minimum is the entropy of y, so no single best value is declared.
    best_input=None,
    peers=("torch.nn.functional.binary_cross_entropy", "sklearn.metrics.log_loss"),
    references=(
        "Good, I. J. (1952). Rational Decisions. J. R. Stat. Soc. B 14(1).",
        "Cox, D. R. (1958). The Regression Analysis of Binary Sequences. J. R. Stat. Soc. B 20(2).",
    ),
    notes="Derivatives are with respect to the logit (input = sigmoid(raw)). Prefer "
          "binary_cross_entropy_with_logits when the model produces logits.",
))

register(LossSpec(
    name="binary_cross_entropy_with_logits",
    function=F.binary_cross_entropy_with_logits,
    aliases=("bce_with_logits", "sigmoid_cross_entropy"),
    family="binary",
    task="binary",
    input_space="logit",
    summary="Binary cross-entropy on logits (stable softplus form) with pos_weight and label smoothing."
            + _MULTILABEL,
    estimates="log-odds of P(y = 1 | x) (a strictly proper scoring rule on sigmoid(input))",
    target_domain=D.UNIT,
    params=(
        Param("pos_weight", None, D.BOUNDED_NONNEGATIVE,
              "weight of the positive term: a number, or one weight per label along the last axis",
              kind="real_or_array"),
        Param("label_smoothing", 0.0, F.SMOOTHING, "targets become y (1 - eps) + eps / 2"),
    ),
    derivatives=F._binary_cross_entropy_with_logits_derivatives,
    best_input=None,  # a logit of +-inf would be needed
    param_grid=({"pos_weight": 3.0}, {"pos_weight": 0.25, "label_smoothing": 0.1}, {"label_smoothing": 0.5}),
    peers=("torch.nn.functional.binary_cross_entropy_with_logits",),
    references=(
        "Cox, D. R. (1958). The Regression Analysis of Binary Sequences. J. R. Stat. Soc. B 20(2).",
        "Szegedy, C. et al. (2016). Rethinking the Inception Architecture for Computer Vision. CVPR "
        "(label smoothing).",
    ),
))

register(LossSpec(
    name="sigmoid_focal",
    function=F.sigmoid_focal,
    aliases=("binary_focal",),
    family="binary",
    task="binary",
    input_space="logit",
    summary="Focal loss on logits: cross-entropy down-weighted on easy elements, for heavy class "
            "imbalance (dense detection)." + _MULTILABEL,
    estimates="a decision focused on hard elements; sigmoid(input) is not a calibrated probability "
              "for gamma > 0",
    target_domain=D.UNIT,
    params=(
        Param("alpha", 0.25, D.UNIT, "weight of the positive class (alpha_t); None turns balancing off"),
        Param("gamma", 2.0, D.BOUNDED_NONNEGATIVE, "focusing exponent; 0 gives alpha_t times cross-entropy"),
    ),
    convex=False,
    hessian_nonnegative=False,
    derivatives=F._sigmoid_focal_derivatives,
    best_input=None,
    param_grid=({"gamma": 0.0}, {"gamma": 0.5, "alpha": None}, {"gamma": 5.0, "alpha": 0.75}),
    # torchvision has no CPU build here: tested against its formula, written out in torch.
    peers=(),
    references=(
        "Lin, T.-Y., Goyal, P., Girshick, R., He, K., Dollar, P. (2017). Focal Loss for Dense "
        "Object Detection. ICCV.",
    ),
    notes="Formula of torchvision.ops.sigmoid_focal_loss; alpha=None where torchvision uses alpha < 0. "
          "Not convex and its Hessian can be negative, so GBDT use needs a Hessian floor.",
))

register(LossSpec(
    name="hinge",
    function=F.hinge,
    aliases=("svm",),
    family="binary",
    task="binary",
    input_space="score",
    summary="SVM hinge loss max(0, 1 - y x) on scores, targets -1/+1." + _MULTILABEL,
    estimates="sign (margin): the Bayes decision sign(P(y = 1 | x) - 1/2), not a probability",
    target_domain=D.SIGN,
    derivatives=F._hinge_derivatives,
    best_input=lambda y: y,  # a margin y x >= 1 gives 0; x = y is one such score
    peers=("sklearn.metrics.hinge_loss",),
    references=("Cortes, C., Vapnik, V. (1995). Support-Vector Networks. Machine Learning 20(3).",),
    notes="Gradient is a subgradient (0 at the kink y x = 1); Hessian 0.",
))

register(LossSpec(
    name="squared_hinge",
    function=F.squared_hinge,
    aliases=("l2_svm",),
    family="binary",
    task="binary",
    input_space="score",
    summary="Squared hinge max(0, 1 - y x)^2: smooth SVM loss, heavier on violations." + _MULTILABEL,
    estimates="2 P(y = 1 | x) - 1 clipped to [-1, 1] (the sign and a scaled probability)",
    target_domain=D.SIGN,
    derivatives=F._squared_hinge_derivatives,
    best_input=lambda y: y,
    peers=(),
    notes="Defined as keras.losses.squared_hinge (Keras is not a test dependency: checked against the naive reference).",
    references=(
        "Mangasarian, O. L., Musicant, D. R. (2001). Lagrangian Support Vector Machines. JMLR 1.",
        "Zhang, T. (2004). Statistical behavior and consistency of classification methods based on "
        "convex risk minimization. Ann. Statist. 32(1).",
    ),
))

register(LossSpec(
    name="hinge_embedding",
    function=F.hinge_embedding,
    family="binary",
    task="binary",
    input_space="distance",
    summary="x for similar pairs (y = 1), max(0, margin - x) for dissimilar ones (y = -1); "
            "PyTorch's HingeEmbeddingLoss.",
    estimates="a distance below the margin for similar pairs and beyond it for dissimilar ones",
    target_domain=D.SIGN,
    params=(Param("margin", 1.0, D.AT_MOST_BIG, "distance dissimilar pairs are pushed beyond"),),
    derivatives=F._hinge_embedding_derivatives,
    # Any real input is accepted (as in PyTorch), and for y = 1 the loss is the
    # input itself: unbounded below, so no minimum or best input is declared.
    minimum=None,
    best_input=None,
    param_grid=({"margin": 0.0}, {"margin": 2.5}),
    peers=("torch.nn.functional.hinge_embedding_loss",),
    references=(
        "Hadsell, R., Chopra, S., LeCun, Y. (2006). Dimensionality Reduction by Learning an Invariant "
        "Mapping. CVPR.",
    ),
    notes="Input is meant to be a nonnegative distance; negative inputs are accepted as in PyTorch.",
))

register(LossSpec(
    name="soft_fbeta",
    function=F.soft_fbeta,
    aliases=("soft_f1", "fbeta"),
    family="binary",
    task="binary",
    input_space="probability",
    summary="1 - soft F-beta over the batch, per label: optimise F-beta directly when it is the metric."
            + _MULTILABEL,
    estimates="F-beta-optimal predictions (a surrogate of the F-beta metric, not a calibrated probability)",
    input_domain=D.UNIT,
    target_domain=D.UNIT,
    params=(Param("beta", 1.0, D.POSITIVE, "recall is beta times as important as precision"),),
    kind="aggregate",
    link="sigmoid",
    convex=False,
    hessian_nonnegative=False,
    best_input=None,
    param_grid=({"beta": 0.5}, {"beta": 2.0}),
    peers=("sklearn.metrics.fbeta_score",),
    references=(
        "van Rijsbergen, C. J. (1979). Information Retrieval, ch. 7 (F-measure).",
        "Jansche, M. (2005). Maximum Expected F-Measure Training of Logistic Regression Models. HLT/EMNLP.",
    ),
    notes="Equals 1 - sklearn.metrics.fbeta_score(average=None) per label for hard 0/1 probabilities; "
          "a label with nothing predicted and nothing true has loss 0.",
))
