"""Bad inputs for the sequence losses (CTC)."""

import numpy as np

import losskit

lp = np.log(np.full((6, 2, 4), 0.25))  # T=6, N=2, C=4
y = np.array([[1, 2, 3], [2, 2, 0]])
il = np.array([6, 5])
tl = np.array([3, 2])
ctc = losskit.ctc


def _torch_lists():
    import torch

    return ctc(torch.from_numpy(lp), torch.from_numpy(y), [6.0, 5.0], [3, 2])


CASES = [
    ("ctc log_probs 1-D", lambda: ctc(np.zeros(4), y, il, tl), ValueError,
     (r"ctc: log_probs must have shape \(T, N, C\) \(time, batch, classes\) or \(T, C\) for one sequence; "
     r"received shape \(4,\)")),
    ("ctc log_probs 4-D", lambda: ctc(np.zeros((6, 2, 4, 1)), y, il, tl), ValueError,
     r"ctc: log_probs must have shape \(T, N, C\).*received shape \(6, 2, 4, 1\)"),
    ("ctc integer log_probs", lambda: ctc(np.zeros((6, 2, 4), dtype=np.int64), y, il, tl), TypeError,
     r"ctc: log_probs must have a floating dtype; received dtype int64"),
    ("ctc log_probs positive (logits given)", lambda: ctc(lp + 2.0, y, il, tl), ValueError,
     r"ctc: log_probs must be <= 0; received 0.61"),
    ("ctc float targets", lambda: ctc(lp, y.astype(np.float64), il, tl), TypeError,
     r"ctc: targets must have an integer dtype; received dtype float64"),
    ("ctc float input_lengths", lambda: ctc(lp, y, il.astype(np.float32), tl), TypeError,
     r"ctc: input_lengths must have an integer dtype; received dtype float32"),
    ("ctc float target_lengths", lambda: ctc(lp, y, il, np.array([3.0, 2.0])), TypeError,
     r"ctc: target_lengths must have an integer dtype; received dtype float64"),
    ("ctc boolean target_lengths", lambda: ctc(lp, y, il, np.array([True, True])), TypeError,
     r"ctc: target_lengths must have an integer dtype; received dtype bool"),
    ("ctc float lengths as a list with torch", _torch_lists, TypeError,
     r"ctc: input_lengths must have an integer dtype; received dtype torch.float32"),
    ("ctc input_lengths of the wrong length", lambda: ctc(lp, y, np.array([6, 5, 4]), tl), ValueError,
     r"ctc: input_lengths must have shape \(2,\) \(one length per sequence\); received shape \(3,\)"),
    ("ctc target_lengths of the wrong length", lambda: ctc(lp, y, il, np.array([3])), ValueError,
     r"ctc: target_lengths must have shape \(2,\) \(one length per sequence\); received shape \(1,\)"),
    ("ctc input_lengths beyond T", lambda: ctc(lp, y, np.array([7, 5]), tl), ValueError,
     r"ctc: input_lengths must be in \[0, 6\] \(the time steps of log_probs\); received 7"),
    ("ctc negative input_lengths", lambda: ctc(lp, y, np.array([6, -1]), tl), ValueError,
     r"ctc: input_lengths must be in \[0, 6\].*received -1"),
    ("ctc target_lengths beyond the padded width", lambda: ctc(lp, y, il, np.array([4, 2])), ValueError,
     r"ctc: target_lengths must be in \[0, 3\] \(the width S of the padded targets\); received 4"),
    ("ctc negative target_lengths", lambda: ctc(lp, y, il, np.array([3, -2])), ValueError,
     r"ctc: target_lengths must be in \[0, 3\].*received -2"),
    ("ctc concatenated targets of the wrong length", lambda: ctc(lp, np.array([1, 2, 3, 2]), il, tl), ValueError,
     r"ctc: targets must hold sum\(target_lengths\) = 5 labels when concatenated \(1-D\); received 4"),
    ("ctc padded targets of the wrong batch", lambda: ctc(lp, np.ones((3, 3), dtype=np.int64), il, tl), ValueError,
     (r"ctc: targets must have shape \(N, S\) = \(2, S\) when padded, or be 1-D when concatenated; "
     r"received shape \(3, 3\)")),
    ("ctc targets 3-D", lambda: ctc(lp, np.ones((2, 3, 1), dtype=np.int64), il, tl), ValueError,
     (r"ctc: targets must be padded \(N, S\) or concatenated 1-D \(sum\(target_lengths\),\); "
     r"received shape \(2, 3, 1\)")),
    ("ctc targets holding the blank", lambda: ctc(lp, np.array([[1, 0, 3], [2, 2, 0]]), il, tl), ValueError,
     r"ctc: targets must not contain the blank label within target_lengths \(blank=0\); received 0"),
    ("ctc targets holding the blank=3", lambda: ctc(lp, y, il, tl, blank=3), ValueError,
     r"ctc: targets must not contain the blank label within target_lengths \(blank=3\); received 3"),
    ("ctc label out of range", lambda: ctc(lp, np.array([[1, 4, 3], [2, 2, 0]]), il, tl), ValueError,
     r"ctc: targets must hold class indices in \[0, 4\) within target_lengths; received 4"),
    ("ctc negative label", lambda: ctc(lp, np.array([[1, 2, 3], [-1, 2, 0]]), il, tl), ValueError,
     r"ctc: targets must hold class indices in \[0, 4\) within target_lengths; received -1"),
    ("ctc blank out of range", lambda: ctc(lp, y, il, tl, blank=4), ValueError,
     r"ctc: blank must be in \[0, C\) = \[0, 4\); received blank=4"),
    ("ctc negative blank", lambda: ctc(lp, y, il, tl, blank=-1), ValueError,
     r"ctc: blank must be in \[0, C\) = \[0, 4\); received blank=-1"),
    ("ctc blank not an integer", lambda: ctc(lp, y, il, tl, blank=0.0), TypeError,
     r"ctc: blank must be an integer; received float 0.0"),
    ("ctc zero_infinity not a bool", lambda: ctc(lp, y, il, tl, zero_infinity=1), TypeError,
     r"ctc: zero_infinity must be True or False; received 1"),
    ("ctc unbatched with 2-D targets", lambda: ctc(lp[:, 0], y, 6, 3), ValueError,
     r"ctc: targets must have shape \(S,\) for unbatched log_probs of shape \(T, C\); received shape \(2, 3\)"),
    ("ctc unbatched with several lengths", lambda: ctc(lp[:, 0], y[0], il, 3), ValueError,
     (r"ctc: input_lengths must have shape \(\) or \(1,\) for unbatched log_probs of shape \(T, C\); "
     r"received shape \(2,\)")),
    ("ctc weight per frame", lambda: ctc(lp, y, il, tl, weight=np.ones((6, 2))), ValueError,
     r"ctc: weight must have shape \(2,\) \(one value per sequence\); received shape \(6, 2\)"),
    ("ctc mask not boolean", lambda: ctc(lp, y, il, tl, mask=np.ones(2)), TypeError,
     r"ctc: mask must have a boolean dtype; received dtype float64"),
    ("ctc reduction", lambda: ctc(lp, y, il, tl, reduction="batchmean"), ValueError,
     r"ctc: reduction must be one of 'none', 'mean', 'sum'; received reduction='batchmean'"),
    ("ctc Hessian", lambda: losskit.get("ctc").hessian(lp, y, il, tl), TypeError,
     r"ctc: has a closed-form gradient but no Hessian"),
    ("ctc full Hessian", lambda: losskit.get("ctc").gradient(lp, y, il, tl, full=True), ValueError,
     r"ctc: full must be False \(CTC has no closed-form Hessian\); received full=True"),
]
