"""Bad inputs that every loss rejects the same way (the shared validation)."""

import numpy as np

import losskit

x = np.zeros(3)


def _torch_numpy():
    import torch

    return losskit.mse(torch.zeros(3), np.zeros(3))


def _torch_list():
    import torch

    return losskit.mse(torch.zeros(3), [0.0, 0.0, 0.0])


CASES = [
    ("unknown reduction", lambda: losskit.mse(x, x, reduction="avg"), ValueError,
     r"mse: reduction must be one of 'none', 'mean', 'sum'; received reduction='avg'"),
    ("reduction not a string", lambda: losskit.huber(x, x, reduction=None), ValueError, r"huber: reduction must be"),
    ("unknown loss name", lambda: losskit.get("hubber"), ValueError, r"registered loss.*'hubber'.*Did you mean 'huber'"),
    ("loss name not a string", lambda: losskit.get(3), TypeError, r"name must be a string"),
    ("unknown parameter", lambda: losskit.get("huber", beta=1.0), TypeError, r"huber: unknown parameter\(s\) beta; expected one of: delta"),
    ("two backends", _torch_numpy, TypeError, r"mse: all arrays must come from one backend; received input=torch.Tensor, target=numpy.ndarray"),
    ("array and list", _torch_list, TypeError, r"mse: target must be an array of the same backend"),
    ("not an array", lambda: losskit.mse(x, "abc"), TypeError, r"mse: target must be an array; received str"),
    ("shape mismatch, no broadcasting", lambda: losskit.mse(np.zeros((3, 1)), np.zeros(3)), ValueError,
     r"mse: target must have shape \(3, 1\) \(the shape of input\); received shape \(3,\)"),
    ("weight shape", lambda: losskit.mse(x, x, weight=np.ones(2)), ValueError, r"mse: weight must have shape \(3,\)"),
    ("weight negative", lambda: losskit.mse(x, x, weight=np.array([1.0, -1.0, 1.0])), ValueError, r"mse: weight must be >= 0; received -1.0"),
    ("weight NaN", lambda: losskit.mse(x, x, weight=np.array([1.0, np.nan, 1.0])), ValueError, r"mse: weight must not contain NaN"),
    ("mask not boolean", lambda: losskit.mse(x, x, mask=np.ones(3)), TypeError, r"mse: mask must have a boolean dtype; received dtype float64"),
    ("mask shape", lambda: losskit.mse(x, x, mask=np.ones(4, dtype=bool)), ValueError, r"mse: mask must have shape \(3,\)"),
    ("NaN in target", lambda: losskit.mse(x, np.array([0.0, np.nan, 0.0])), ValueError, r"mse: target must not contain NaN"),
    ("integer input", lambda: losskit.mse(np.zeros(3, dtype=int), x), TypeError, r"mse: input must have a floating dtype; received dtype int64"),
    ("complex target", lambda: losskit.mse(x, np.zeros(3, dtype=complex)), TypeError, r"mse: target must have a real numeric dtype"),
    ("parameter out of range", lambda: losskit.huber(x, x, delta=-1.0), ValueError, r"huber: delta must be > 0; received delta=-1.0"),
    ("parameter NaN", lambda: losskit.huber(x, x, delta=float("nan")), ValueError, r"huber: delta must be > 0; received delta=nan"),
    ("parameter a bool", lambda: losskit.huber(x, x, delta=True), TypeError, r"huber: delta must be a real number; received bool"),
    ("parameter a string", lambda: losskit.huber(x, x, delta="1"), TypeError, r"huber: delta must be a real number; received str"),
    ("gradient of an aggregate loss", lambda: losskit.get("rmse").gradient(x, x), TypeError, r"rmse: has no closed-form gradient"),
    ("kl_div with integer target", lambda: losskit.kl_div(np.zeros((2, 3)), np.zeros((2, 3), dtype=int)), TypeError,
     r"kl_div: target must be a floating array of distributions"),
    ("kl_div target outside [0, 1]", lambda: losskit.kl_div(np.zeros((2, 3)), np.full((2, 3), 2.0)), ValueError,
     r"kl_div: target must be in \[0, 1\]; received 2.0"),
    ("kl_div input not log-probabilities", lambda: losskit.kl_div(np.ones((2, 3)), np.full((2, 3), 0.3)), ValueError,
     r"kl_div: input must be <= 0; received 1.0"),
    ("kl_div log_target not bool", lambda: losskit.kl_div(np.zeros((2, 3)), np.zeros((2, 3)), log_target=1), TypeError,
     r"kl_div: log_target must be True or False; received 1"),
    ("kl_div shape mismatch", lambda: losskit.kl_div(np.zeros((2, 3)), np.full((2, 4), 0.25)), ValueError,
     r"kl_div: target must be integer class indices of shape \(2,\) or class probabilities of shape \(2, 3\)"),
    ("js_div input outside [0, 1]", lambda: losskit.js_div(np.full((2, 2), 1.5), np.full((2, 2), 0.5)), ValueError,
     r"js_div: input must be in \[0, 1\]; received 1.5"),
    ("kl_div full Hessian needs 2-D", lambda: losskit.get("kl_div").hessian(np.zeros((2, 3, 4)), np.full((2, 3, 4), 0.25), full=True),
     ValueError, r"kl_div: full=True needs raw of shape \(N, C\)"),
]
