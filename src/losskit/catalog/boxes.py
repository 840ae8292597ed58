"""Registry entries of functional/boxes.py: IoU-family losses for
axis-aligned boxes (x1, y1, x2, y2), one value per box."""

import numpy as np

from ..functional import boxes as F
from ..registry import LossSpec, Param, register

_EPS = Param("eps", 1e-7, F.EPS_DOMAIN, "added to the denominators (union; enclosing area or squared diagonal)")
_INPUT_SPACE = "boxes (x1, y1, x2, y2)"
_ZHENG = ("Zheng, Z., Wang, P., Liu, W., Li, J., Ye, R., Ren, D. (2020). Distance-IoU Loss: Faster and Better "
          "Learning for Bounding Box Regression. AAAI.")


def _example(rng, n=8):
    """True boxes with sides in [0.5, 5], and predictions jittered around them
    (corners re-sorted so x1 <= x2, y1 <= y2): overlapping, nested and
    disjoint pairs."""
    corner = rng.uniform(0.0, 10.0, size=(n, 2))
    target = np.concatenate([corner, corner + rng.uniform(0.5, 5.0, size=(n, 2))], axis=1)
    moved = target + rng.normal(0.0, 1.5, size=(n, 4))
    pred = np.stack([np.minimum(moved[:, 0], moved[:, 2]), np.minimum(moved[:, 1], moved[:, 3]),
                     np.maximum(moved[:, 0], moved[:, 2]), np.maximum(moved[:, 1], moved[:, 3])], axis=1)
    return (pred, target), {}


def _entry(name, function, summary, references, notes, estimates="box coordinates of maximal overlap"):
    register(LossSpec(
        name=name,
        function=function,
        family="boxes",
        task="detection",
        kind="structured",
        input_space=_INPUT_SPACE,
        summary=summary,
        estimates=estimates,
        inputs=("input", "target"),
        example=_example,
        params=(_EPS,),
        minimum=0.0,
        convex=False,
        hessian_nonnegative=False,
        robust=False,
        references=references,
        notes=notes,
    ))


_entry(
    "iou_loss", F.iou_loss,
    "1 - IoU of predicted and true boxes; flat (zero gradient) for disjoint boxes.",
    ("Yu, J., Jiang, Y., Wang, Z., Cao, Z., Huang, T. (2016). UnitBox: An Advanced Object Detection Network. "
     "ACM Multimedia.",),
    "IoU = I / (U + eps) as inside torchvision.ops.generalized_box_iou_loss; the linear form 1 - IoU, not "
    "UnitBox's -ln IoU. Scale invariant, in [0, 1]; 1 for any disjoint pair.",
)
_entry(
    "giou_loss", F.giou_loss,
    "Generalized IoU loss: 1 - IoU + (|C| - U) / |C| with C the enclosing box; > 1 for disjoint boxes.",
    ("Rezatofighi, H., Tsoi, N., Gwak, J., Sadeghian, A., Reid, I., Savarese, S. (2019). Generalized "
     "Intersection over Union: A Metric and A Loss for Bounding Box Regression. CVPR.",),
    "Matches torchvision.ops.generalized_box_iou_loss (same eps placement); default reduction 'mean' "
    "(torchvision: 'none'). In [0, 2).",
)
_entry(
    "diou_loss", F.diou_loss,
    "Distance-IoU loss: 1 - IoU + squared centre distance over the enclosing box's squared diagonal.",
    (_ZHENG,),
    "Matches torchvision.ops.distance_box_iou_loss (same eps placement); default reduction 'mean' "
    "(torchvision: 'none'). In [0, 2).",
)
_entry(
    "ciou_loss", F.ciou_loss,
    "Complete-IoU loss: DIoU plus alpha * v, an aspect-ratio (arctan w/h) consistency term.",
    (_ZHENG,),
    "Matches torchvision.ops.complete_box_iou_loss where that is finite; alpha = v / (1 - IoU + v + eps) is "
    "a constant for the gradient (torch.no_grad in torchvision, detach / stop_gradient here), so autograd "
    "is not the full derivative. arctan(w/h) is taken as atan2(w, h): finite for zero-height and point "
    "boxes (torchvision: NaN). Default reduction 'mean' (torchvision: 'none'). In [0, 3).",
)
