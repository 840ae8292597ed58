"""Registry entries of functional/segmentation.py.

Every entry takes logits and integer/0-1 masks; the examples are multiclass
(logits (3, 3, 4, 5), class indices (3, 4, 5)) except ``lovasz_hinge``
(binary: logits (3, 4, 5), 0/1 labels of that shape). The other modes are
covered by tests/test_segmentation.py.
"""

from __future__ import annotations

from .. import domains as D
from ..functional import segmentation as F
from ..registry import LossSpec, Param, register

_N, _C, _H, _W = 3, 3, 4, 5

_MODE = Param("mode", "multiclass", F.MODES,
              "multiclass: softmax logits (N, C, ...) and class indices (N, ...); multilabel: sigmoid logits "
              "(N, C, ...) and 0/1 targets of that shape; binary: sigmoid logits (N, ...) and 0/1 targets of "
              "that shape", kind="choice")
_AVERAGE = Param("average", "macro", F.AVERAGES,
                 "over classes, per sample: mean of per-class losses (macro), one score of pooled counts "
                 "(micro), or per class, shape (N, C) (none)", kind="choice")
_SMOOTH = Param("smooth", 1.0, D.NONNEGATIVE,
                "added to the score's numerator and denominator; an empty target predicted empty scores 0")
_IGNORE = Param("ignore_index", None, None,
                "target value whose pixels are left out of every count (integer targets)", kind="int")
_PER_IMAGE = Param("per_image", True, None,
                   "score each sample (True) or the batch as one image (False; output shape (1,))", kind="bool")
_ALPHA = Param("alpha", 0.3, D.BOUNDED_NONNEGATIVE, "weight of false positives")
_BETA = Param("beta", 0.7, D.BOUNDED_NONNEGATIVE, "weight of false negatives")

_REF_LOVASZ = (("Berman, M., Rannen Triki, A., Blaschko, M. B. (2018). The Lovász-Softmax loss: A tractable "
               "surrogate for the optimization of the intersection-over-union measure in neural networks. CVPR."),)


def _multiclass_example(rng):
    logits = rng.normal(0.0, 2.0, size=(_N, _C, _H, _W))
    labels = rng.integers(0, _C, size=(_N, _H, _W))
    return (logits, labels), {}


def _binary_example(rng):
    logits = rng.normal(0.0, 2.0, size=(_N, _H, _W))
    labels = rng.integers(0, 2, size=(_N, _H, _W))
    return (logits, labels), {}


def _entry(name, summary, params, *, references, peers=(), aliases=(), convex=False, example=_multiclass_example,
           target_domain=D.CLASS_INDEX, param_grid=(), notes=""):
    register(LossSpec(
        name=name,
        function=getattr(F, name),
        aliases=aliases,
        family="segmentation",
        task="segmentation",
        kind="structured",
        input_space="logits",
        link="identity",
        summary=summary,
        estimates="a mask maximising the overlap score (not calibrated probabilities)",
        input_domain=D.REAL,
        target_domain=target_domain,
        params=params,
        inputs=("input", "target"),
        example=example,
        convex=convex,
        hessian_nonnegative=convex,
        minimum=0.0,
        param_grid=param_grid,
        peers=peers,
        references=references,
        notes=notes,
    ))


_COMMON_NOTES = ("Scores are per sample (optax's convention; segmentation_models_pytorch pools the batch: "
                 "per_image=False). smooth is in numerator and denominator alike: empty target + empty "
                 "prediction = 0, empty target + non-empty prediction > 0.")

_entry(
    "dice",
    "Soft Dice loss 1 - (2I + s)/(P + T + s) per sample and class; the standard overlap loss for segmentation.",
    (_MODE, _AVERAGE, _SMOOTH, _IGNORE, _PER_IMAGE),
    aliases=("soft_dice",),
    peers=("optax.losses.dice_loss", "optax.losses.binary_dice_loss",
           "optax.losses.multiclass_generalized_dice_loss"),
    references=(("Milletari, F., Navab, N., Ahmadi, S.-A. (2016). V-Net: Fully Convolutional Neural Networks for "
                "Volumetric Medical Image Segmentation. 3DV."),),
    param_grid=({"average": "micro"}, {"average": "none"}, {"per_image": False}, {"smooth": 0.0}),
    notes=_COMMON_NOTES + " optax's smooth is half of this one (its score is (I + s)/(I + FP/2 + FN/2 + s)). "
          "optax's multiclass_generalized_dice_loss is this loss with average='none' and its class weights "
          "as weight (it is not Sudre's generalized Dice).",
)

_entry(
    "jaccard",
    "Soft Jaccard (IoU) loss 1 - (I + s)/(P + T - I + s) per sample and class.",
    (_MODE, _AVERAGE, _SMOOTH, _IGNORE, _PER_IMAGE),
    aliases=("soft_jaccard", "soft_iou"),
    peers=("optax.losses.dice_loss (alpha=1, beta=1)",),
    references=(("Rahman, M. A., Wang, Y. (2016). Optimizing Intersection-over-Union in Deep Neural Networks for "
                "Image Segmentation. ISVC."),),
    param_grid=({"average": "micro"}, {"average": "none"}, {"per_image": False}),
    notes=_COMMON_NOTES + " tversky with alpha = beta = 1.",
)

_entry(
    "tversky",
    "Tversky loss 1 - (I + s)/(I + alpha FP + beta FN + s): Dice with false positives and negatives weighted apart.",
    (_MODE, _ALPHA, _BETA, _AVERAGE, _SMOOTH, _IGNORE, _PER_IMAGE),
    peers=("optax.losses.dice_loss",),
    references=(("Salehi, S. S. M., Erdogmus, D., Gholipour, A. (2017). Tversky loss function for image "
                "segmentation using 3D fully convolutional deep networks. MLMI."),),
    param_grid=({"alpha": 0.5, "beta": 0.5}, {"alpha": 1.0, "beta": 0.0}, {"average": "none"},
                {"average": "micro", "per_image": False}),
    notes=_COMMON_NOTES + " alpha weighs false positives, beta false negatives (Salehi et al., optax, "
          "segmentation_models_pytorch).",
)

_entry(
    "focal_tversky",
    "Focal Tversky loss (1 - TI)^gamma per class: emphasises poorly segmented (small) structures.",
    (_MODE, _ALPHA, _BETA, Param("gamma", 0.75, D.POSITIVE, "exponent of the Tversky loss (Abraham & Khan's 1/gamma)"),
     _AVERAGE, _SMOOTH, _IGNORE, _PER_IMAGE),
    references=(("Abraham, N., Khan, N. M. (2019). A Novel Focal Tversky Loss Function with Improved Attention "
                "U-Net for Lesion Segmentation. ISBI."),),
    param_grid=({"gamma": 1.0}, {"gamma": 2.0}, {"gamma": 0.5, "average": "micro"}, {"average": "none"}),
    notes=_COMMON_NOTES + " gamma is the exponent itself: Abraham & Khan's (1 - TI)^(1/gamma) with gamma = 4/3 "
          "is gamma=0.75 here. Their alpha weighs false negatives (beta here). Classes are averaged, not summed.",
)

_entry(
    "generalized_dice",
    "Generalized Dice loss: one Dice score over all classes weighted by 1/volume^2; for highly unbalanced classes.",
    (_MODE, _SMOOTH, _IGNORE, _PER_IMAGE),
    references=(("Sudre, C. H., Li, W., Vercauteren, T., Ourselin, S., Cardoso, M. J. (2017). Generalised Dice "
                "overlap as a deep learning loss function for highly unbalanced segmentations. DLMIA."),),
    param_grid=({"per_image": False}, {"smooth": 0.0}),
    notes="Weights 1/T_c^2 per sample; an absent class takes the largest weight of the present ones (MONAI); "
          "weights scaled so that sum_c w_c T_c = sum_c T_c (puts smooth on the scale of pixel counts). "
          "Binary mode scores background and foreground as two classes (Sudre et al.). "
          "optax.losses.multiclass_generalized_dice_loss computes a different quantity (see dice).",
)

_entry(
    "dice_cross_entropy",
    "Dice loss plus cross-entropy per sample (weighted sum); overlap plus a per-pixel gradient (nnU-Net, MONAI DiceCE).",
    (_MODE, Param("dice_weight", 1.0, D.BOUNDED_NONNEGATIVE, "weight of the Dice term"),
     Param("ce_weight", 1.0, D.BOUNDED_NONNEGATIVE, "weight of the cross-entropy term"),
     Param("average", "macro", ("macro", "micro"), "class averaging of the Dice term", kind="choice"),
     _SMOOTH, _IGNORE, _PER_IMAGE),
    aliases=("dice_ce",),
    references=(("Isensee, F. et al. (2021). nnU-Net: a self-configuring method for deep learning-based biomedical "
                "image segmentation. Nature Methods 18."),),
    param_grid=({"average": "micro"}, {"dice_weight": 0.0}, {"ce_weight": 0.0}, {"per_image": False}),
    notes="Cross-entropy is averaged over each sample's pixels (softmax CE in multiclass mode, binary CE with "
          "logits over pixels and channels otherwise), then over samples; MONAI's DiceCELoss averages CE over "
          "the batch's pixels.",
)

_entry(
    "lovasz_hinge",
    "Lovász hinge: the Lovász extension of the Jaccard loss at the hinge errors; a convex surrogate of 1 - IoU (binary).",
    (_IGNORE, _PER_IMAGE),
    convex=True,
    example=_binary_example,
    target_domain=D.BINARY,
    references=_REF_LOVASZ,
    param_grid=({"per_image": False},),
    notes="Binary: logits (N, ...) and 0/1 targets of that shape. Piecewise linear, convex in the logits. An "
          "empty target makes it the largest hinge error.",
)

_entry(
    "lovasz_softmax",
    "Lovász-softmax: the Lovász extension of each class's Jaccard loss at |onehot - softmax|, averaged over classes.",
    (Param("classes", "present", F.LOVASZ_CLASSES, "average over the classes present in the target, or all",
           kind="choice"), _IGNORE, _PER_IMAGE),
    references=_REF_LOVASZ,
    param_grid=({"classes": "all"}, {"per_image": False}),
    notes="Multiclass: logits (N, C, ...) and class indices (N, ...). Berman's reference takes probabilities "
          "and pools the batch by default; per_image=True here.",
)
