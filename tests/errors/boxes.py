"""Bad inputs for the box losses (boxes (x1, y1, x2, y2) on the last axis)."""

import numpy as np

import losskit

p = np.array([[0.0, 0.0, 2.0, 2.0], [1.0, 1.0, 3.0, 4.0], [0.0, 0.0, 1.0, 1.0]])
t = np.array([[0.5, 0.0, 2.0, 3.0], [1.0, 1.0, 2.0, 2.0], [0.0, 0.0, 2.0, 1.0]])


def _with(a, index, box):
    """``a`` with the box at ``index`` replaced."""
    a = a.copy()
    a[index] = box
    return a


def _nan_target():
    y = t.copy()
    y[1, 2] = np.nan
    return losskit.diou_loss(p, y)


def _torch_with_grad():
    import torch

    x = torch.tensor(_with(p, 0, [0.0, 5.0, 1.0, 1.0]), requires_grad=True)
    return losskit.giou_loss(x, torch.tensor(t))


CASES = [
    ("giou_loss torch input that requires grad", _torch_with_grad, ValueError,
     r"giou_loss: input must hold boxes .* received input\[0\] = \(0\.0, 5\.0, 1\.0, 1\.0\)"),
    ("iou_loss input box with x2 < x1", lambda: losskit.iou_loss(_with(p, 1, [4.0, 1.0, 1.0, 4.0]), t), ValueError,
     r"iou_loss: input must hold boxes \(x1, y1, x2, y2\) with x1 <= x2 and y1 <= y2; "
     r"received input\[1\] = \(4\.0, 1\.0, 1\.0, 4\.0\)"),
    ("giou_loss target box with y2 < y1", lambda: losskit.giou_loss(p, _with(t, 2, [0.0, 2.0, 2.0, 0.0])), ValueError,
     r"giou_loss: target must hold boxes .* received target\[2\] = \(0\.0, 2\.0, 2\.0, 0\.0\)"),
    ("ciou_loss first bad box of a batch of batches",
     lambda: losskit.ciou_loss(np.stack([p, _with(_with(p, 2, [2.0, 0.0, 1.0, 1.0]), 0, [0.0, 3.0, 1.0, 1.0])]), np.stack([t, t])), ValueError,
     r"ciou_loss: input must hold boxes .* received input\[1, 0\] = \(0\.0, 3\.0, 1\.0, 1\.0\)"),
    ("diou_loss one bad box", lambda: losskit.diou_loss(np.array([2.0, 0.0, 1.0, 1.0]), t[0]), ValueError,
     r"diou_loss: input must hold boxes .* received input = \(2\.0, 0\.0, 1\.0, 1\.0\)"),
    ("iou_loss last axis not 4", lambda: losskit.iou_loss(np.zeros((3, 5)), np.zeros((3, 5))), ValueError,
     r"iou_loss: input must have shape \(\.\.\., 4\) \(boxes \(x1, y1, x2, y2\) on the last axis\); "
     r"received shape \(3, 5\)"),
    ("giou_loss scalar input", lambda: losskit.giou_loss(np.float64(1.0), np.float64(1.0)), ValueError,
     r"giou_loss: input must have shape \(\.\.\., 4\).*received shape \(\)"),
    ("diou_loss target shape", lambda: losskit.diou_loss(p, t[:2]), ValueError,
     r"diou_loss: target must have shape \(3, 4\) \(the shape of input\); received shape \(2, 4\)"),
    ("ciou_loss target not broadcast", lambda: losskit.ciou_loss(p, t[0]), ValueError,
     r"ciou_loss: target must have shape \(3, 4\) \(the shape of input\); received shape \(4,\)"),
    ("diou_loss NaN in target", _nan_target, ValueError, r"diou_loss: target must not contain NaN"),
    ("iou_loss integer input", lambda: losskit.iou_loss(p.astype(int), t), TypeError,
     r"iou_loss: input must have a floating dtype; received dtype int64"),
    ("giou_loss eps zero", lambda: losskit.giou_loss(p, t, eps=0.0), ValueError,
     r"giou_loss: eps must be > 0; received eps=0\.0"),
    ("ciou_loss eps a string", lambda: losskit.ciou_loss(p, t, eps="1e-7"), TypeError,
     r"ciou_loss: eps must be a real number; received str"),
    ("iou_loss weight per coordinate", lambda: losskit.iou_loss(p, t, weight=np.ones((3, 4))), ValueError,
     r"iou_loss: weight must have shape \(3,\) \(one value per box\); received shape \(3, 4\)"),
    ("diou_loss mask not boolean", lambda: losskit.diou_loss(p, t, mask=np.ones(3)), TypeError,
     r"diou_loss: mask must have a boolean dtype; received dtype float64"),
    ("ciou_loss reduction", lambda: losskit.ciou_loss(p, t, reduction="avg"), ValueError,
     r"ciou_loss: reduction must be one of 'none', 'mean', 'sum'; received reduction='avg'"),
]
