"""Bad inputs for the binary / multi-label losses."""

import numpy as np

import losskit

p = np.array([0.2, 0.7, 0.9])
y01 = np.array([0.0, 1.0, 1.0])
ypm = np.array([-1.0, 1.0, 1.0])
x2 = np.zeros((4, 3))
y2 = np.zeros((4, 3))
BCEL = losskit.binary_cross_entropy_with_logits


def _torch_pos_weight_numpy():
    import torch

    return BCEL(torch.zeros((4, 3)), torch.zeros((4, 3)), pos_weight=np.ones(3, dtype=np.float32))


CASES = [
    # binary_cross_entropy
    ("bce probability above 1", lambda: losskit.binary_cross_entropy(np.array([0.5, 1.2]), np.zeros(2)),
     ValueError, r"binary_cross_entropy: input must be in \[0, 1\]; received 1\.2"),
    ("bce negative probability", lambda: losskit.binary_cross_entropy(np.array([-0.1, 0.5]), np.zeros(2)),
     ValueError, r"binary_cross_entropy: input must be in \[0, 1\]; received -0\.1"),
    ("bce target outside [0, 1]", lambda: losskit.binary_cross_entropy(p, np.array([0.0, 2.0, 1.0])),
     ValueError, r"binary_cross_entropy: target must be in \[0, 1\]; received 2\.0"),
    ("bce NaN target", lambda: losskit.binary_cross_entropy(p, np.array([0.0, np.nan, 1.0])),
     ValueError, r"binary_cross_entropy: target must not contain NaN"),
    ("bce shape mismatch", lambda: losskit.binary_cross_entropy(p, np.zeros(4)),
     ValueError, r"binary_cross_entropy: target must have shape \(3,\) \(the shape of input\); received shape \(4,\)"),
    ("bce integer input", lambda: losskit.binary_cross_entropy(np.array([0, 1]), np.array([0, 1])),
     TypeError, r"binary_cross_entropy: input must have a floating dtype; received dtype int"),
    ("bce derivatives target outside [0, 1]",
     lambda: losskit.get("binary_cross_entropy").gradient(np.zeros(2), np.array([0.0, -1.0])),
     ValueError, r"binary_cross_entropy: target must be in \[0, 1\]; received -1\.0"),
    # binary_cross_entropy_with_logits
    ("bcel target outside [0, 1]", lambda: BCEL(np.zeros(3), ypm),
     ValueError, r"binary_cross_entropy_with_logits: target must be in \[0, 1\]; received -1\.0"),
    ("bcel negative pos_weight", lambda: BCEL(x2, y2, pos_weight=-1.0),
     ValueError, r"binary_cross_entropy_with_logits: pos_weight must be >= 0; received pos_weight=-1\.0"),
    ("bcel negative pos_weight entry", lambda: BCEL(x2, y2, pos_weight=np.array([1.0, -2.0, 1.0])),
     ValueError, r"binary_cross_entropy_with_logits: pos_weight must be >= 0; received -2\.0"),
    ("bcel NaN pos_weight", lambda: BCEL(x2, y2, pos_weight=np.array([1.0, np.nan, 1.0])),
     ValueError, r"binary_cross_entropy_with_logits: pos_weight must not contain NaN"),
    ("bcel pos_weight wrong length", lambda: BCEL(x2, y2, pos_weight=np.ones(4)),
     ValueError, r"binary_cross_entropy_with_logits: pos_weight must be a scalar or a 1-D array of length 3 "
                 r"\(one weight per label, along the input's last axis\); received shape \(4,\)"),
    ("bcel pos_weight per sample, not per label", lambda: BCEL(x2, y2, pos_weight=np.ones(4)),
     ValueError, r"pos_weight must be a scalar or a 1-D array of length 3"),
    ("bcel pos_weight 2-D", lambda: BCEL(x2, y2, pos_weight=np.ones((4, 3))),
     ValueError, r"binary_cross_entropy_with_logits: pos_weight must be a scalar or a 1-D array.*received shape \(4, 3\)"),
    ("bcel pos_weight vector for a 0-d input", lambda: BCEL(np.asarray(0.5), np.asarray(1.0), pos_weight=np.ones(1)),
     ValueError, r"binary_cross_entropy_with_logits: pos_weight must be a scalar \(the input has no label axis\)"),
    ("bcel pos_weight a string", lambda: BCEL(x2, y2, pos_weight="2"),
     TypeError, r"binary_cross_entropy_with_logits: pos_weight must be an array \(NumPy, PyTorch or JAX\), a number or a list/tuple of numbers; received str"),
    ("bcel pos_weight a bool", lambda: BCEL(x2, y2, pos_weight=True),
     TypeError, r"binary_cross_entropy_with_logits: pos_weight must be a real number or an array; received bool"),
    ("bcel pos_weight from another backend", _torch_pos_weight_numpy,
     TypeError, r"binary_cross_entropy_with_logits: all arrays must come from one backend"),
    ("bcel label_smoothing above 1", lambda: BCEL(x2, y2, label_smoothing=1.5),
     ValueError, r"binary_cross_entropy_with_logits: label_smoothing must be in \[0, 1\]; received label_smoothing=1\.5"),
    ("bcel negative label_smoothing", lambda: BCEL(x2, y2, label_smoothing=-0.1),
     ValueError, r"binary_cross_entropy_with_logits: label_smoothing must be in \[0, 1\]; received label_smoothing=-0\.1"),
    ("bcel derivatives bad pos_weight",
     lambda: losskit.get("binary_cross_entropy_with_logits", pos_weight=np.ones(2)).gradient(x2, y2),
     ValueError, r"pos_weight must be a scalar or a 1-D array of length 3"),
    ("bcel weight wrong shape", lambda: BCEL(x2, y2, weight=np.ones(4)),
     ValueError, r"binary_cross_entropy_with_logits: weight must have shape \(4, 3\) \(the shape of input\); received shape \(4,\)"),
    # sigmoid_focal
    ("focal negative gamma", lambda: losskit.sigmoid_focal(p, y01, gamma=-1.0),
     ValueError, r"sigmoid_focal: gamma must be >= 0; received gamma=-1\.0"),
    ("focal alpha above 1", lambda: losskit.sigmoid_focal(p, y01, alpha=1.5),
     ValueError, r"sigmoid_focal: alpha must be in \[0, 1\]; received alpha=1\.5"),
    ("focal torchvision's negative alpha", lambda: losskit.sigmoid_focal(p, y01, alpha=-1.0),
     ValueError, r"sigmoid_focal: alpha must be in \[0, 1\]; received alpha=-1\.0"),
    ("focal alpha a string", lambda: losskit.sigmoid_focal(p, y01, alpha="none"),
     TypeError, r"sigmoid_focal: alpha must be a real number; received str"),
    ("focal target -1", lambda: losskit.sigmoid_focal(p, ypm),
     ValueError, r"sigmoid_focal: target must be in \[0, 1\]; received -1\.0"),
    ("focal derivatives negative gamma", lambda: losskit.get("sigmoid_focal", gamma=-2.0).hessian(p, y01),
     ValueError, r"sigmoid_focal: gamma must be >= 0; received gamma=-2\.0"),
    # hinge family
    ("hinge 0/1 target", lambda: losskit.hinge(p, y01),
     ValueError, r"hinge: target must be in \{-1, 1\}; received 0\.0 \(.*map 0/1 labels with 2 \* target - 1"),
    ("squared_hinge 0/1 target", lambda: losskit.squared_hinge(p, y01),
     ValueError, r"squared_hinge: target must be in \{-1, 1\}; received 0\.0 \(.*0 becomes -1"),
    ("hinge_embedding 0/1 target", lambda: losskit.hinge_embedding(p, y01),
     ValueError, r"hinge_embedding: target must be in \{-1, 1\}; received 0\.0 \(.*2 \* target - 1"),
    ("hinge target 2", lambda: losskit.hinge(p, np.array([2.0, 1.0, -1.0])),
     ValueError, r"hinge: target must be in \{-1, 1\}; received 2\.0"),
    ("hinge derivatives 0/1 target", lambda: losskit.get("hinge").gradient(p, y01),
     ValueError, r"hinge: target must be in \{-1, 1\}; received 0\.0 \(.*2 \* target - 1"),
    ("hinge shape mismatch", lambda: losskit.hinge(p, np.ones((3, 1))),
     ValueError, r"hinge: target must have shape \(3,\)"),
    ("hinge_embedding margin not a number", lambda: losskit.hinge_embedding(p, ypm, margin="1"),
     TypeError, r"hinge_embedding: margin must be a real number; received str"),
    ("hinge_embedding NaN margin", lambda: losskit.hinge_embedding(p, ypm, margin=float("nan")),
     ValueError, r"hinge_embedding: margin must be real; received margin=nan"),
    # soft_fbeta
    ("soft_fbeta beta 0", lambda: losskit.soft_fbeta(p, y01, beta=0.0),
     ValueError, r"soft_fbeta: beta must be > 0; received beta=0\.0"),
    ("soft_fbeta negative beta", lambda: losskit.soft_fbeta(p, y01, beta=-1.0),
     ValueError, r"soft_fbeta: beta must be > 0; received beta=-1\.0"),
    ("soft_fbeta logits instead of probabilities", lambda: losskit.soft_fbeta(np.array([-2.0, 3.0]), np.ones(2)),
     ValueError, r"soft_fbeta: input must be in \[0, 1\]; received -2\.0"),
    ("soft_fbeta 3-D input", lambda: losskit.soft_fbeta(np.zeros((2, 2, 2)), np.zeros((2, 2, 2))),
     ValueError, r"soft_fbeta: input must have shape \(N,\) \(binary\) or \(N, L\) \(multi-label\); received shape \(2, 2, 2\)"),
    ("soft_fbeta 0-d input", lambda: losskit.soft_fbeta(np.asarray(0.5), np.asarray(1.0)),
     ValueError, r"soft_fbeta: input must have shape \(N,\) \(binary\) or \(N, L\)"),
    ("soft_fbeta per-sample mask on multi-label input", lambda: losskit.soft_fbeta(x2, y2, mask=np.ones(4, dtype=bool)),
     ValueError, r"soft_fbeta: mask must have shape \(4, 3\) \(the shape of input\); received shape \(4,\)"),
    ("soft_fbeta bad reduction", lambda: losskit.soft_fbeta(p, y01, reduction="micro"),
     ValueError, r"soft_fbeta: reduction must be one of 'none', 'mean', 'sum'; received reduction='micro'"),
    ("soft_fbeta has no closed-form gradient", lambda: losskit.get("soft_fbeta").gradient(p, y01),
     TypeError, r"soft_fbeta: has no closed-form gradient/hessian \(aggregate loss"),
]
