"""Bad inputs that every loss rejects the same way (the shared validation)."""

import numpy as np

import losskit

x = np.zeros(3)
a2 = np.zeros((2, 3))


def _torch_numpy():
    import torch

    return losskit.mse(torch.zeros(3), np.zeros(3))


def _torch_list():
    import torch

    return losskit.mse(torch.zeros(3), [0.0, 0.0, 0.0])


def _torch(*shape):
    import torch

    return torch.zeros(shape, dtype=torch.float64)


def _jax(*shape):
    import jax.numpy as jnp

    return jnp.zeros(shape)


ACCEPTED = r"must be an array \(NumPy, PyTorch or JAX\), a number or a list/tuple of numbers; received"
INF = float("inf")
inf_at_1 = np.array([0.0, INF, 0.0])

# issue 16, items 8 to 11 and 13: every bad input refused with the house message,
# the same way on every backend, by the shared validation
ISSUE_16 = [
    # 8: None or a non-array object as an array argument: a TypeError naming it, on every kind of loss
    ("None input", lambda: losskit.huber(None, x), TypeError, rf"huber: input {ACCEPTED} NoneType None"),
    ("None target", lambda: losskit.huber(x, None), TypeError, rf"huber: target {ACCEPTED} NoneType None"),
    ("None target on torch", lambda: losskit.huber(_torch(3), None), TypeError, rf"huber: target {ACCEPTED} NoneType"),
    ("None var", lambda: losskit.gaussian_nll(x, x, None), TypeError, rf"gaussian_nll: var {ACCEPTED} NoneType"),
    ("None class target", lambda: losskit.cross_entropy(np.zeros((2, 3)), None), TypeError,
     rf"cross_entropy: target {ACCEPTED} NoneType"),
    ("None structured argument", lambda: losskit.triplet_margin(np.zeros((2, 3)), None, np.zeros((2, 3))), TypeError,
     rf"triplet_margin: positive {ACCEPTED} NoneType"),
    ("None lattice argument", lambda: losskit.ctc(np.zeros((4, 1, 3)), None, [4], [1]), TypeError,
     rf"ctc: targets {ACCEPTED} NoneType"),
    ("None segmentation target", lambda: losskit.dice(np.zeros((1, 2, 3)), None), TypeError,
     rf"dice: target {ACCEPTED} NoneType"),
    ("dict weight", lambda: losskit.mae(x, x, weight={"a": 1}), TypeError, rf"mae: weight {ACCEPTED} dict \{{'a': 1\}}"),
    ("object mask", lambda: losskit.mae(x, x, mask=object()), TypeError, rf"mae: mask {ACCEPTED} object <object"),
    ("string input", lambda: losskit.cross_entropy("logits", np.array([0])), TypeError,
     rf"cross_entropy: input {ACCEPTED} str 'logits'"),
    ("ragged list", lambda: losskit.mse(x, [[0.0], [0.0, 1.0], 0.0]), TypeError, rf"mse: target {ACCEPTED} list"),
    # 9: non-finite weights, targets and parameters, checked once against their domains
    ("weight +inf", lambda: losskit.mse(x, x, weight=inf_at_1), ValueError, r"mse: weight must be finite and >= 0; received inf"),
    ("weight +inf on torch", lambda: losskit.mse(_torch(3), _torch(3), weight=_torch(3) + INF), ValueError,
     r"mse: weight must be finite and >= 0; received inf"),
    ("class_weight +inf", lambda: losskit.cross_entropy(np.zeros((2, 3)), np.array([0, 1]), class_weight=inf_at_1),
     ValueError, r"cross_entropy: class_weight must be finite and >= 0; received inf"),
    ("target +inf of a real loss", lambda: losskit.cauchy(x, inf_at_1), ValueError, r"cauchy: target must be finite; received inf"),
    ("target -inf", lambda: losskit.welsch(x, -inf_at_1), ValueError, r"welsch: target must be finite; received -inf"),
    ("target +inf on jax", lambda: losskit.mape(_jax(3), _jax(3) + INF), ValueError, r"mape: target must be finite"),
    ("target +inf of a positive domain", lambda: losskit.gamma_deviance(np.ones(3), 1.0 + inf_at_1), ValueError,
     r"gamma_deviance: target must be finite and > 0; received inf"),
    ("target +inf, tweedie", lambda: losskit.tweedie_deviance(np.ones(3), inf_at_1), ValueError,
     r"tweedie_deviance: target must be finite; received inf"),
    ("target +inf, boxes", lambda: losskit.giou_loss(np.array([[0.0, 0.0, 1.0, 1.0]]), np.array([[0.0, 0.0, 1.0, INF]])),
     ValueError, r"giou_loss: target must be finite; received inf"),
    ("gradient with target +inf", lambda: losskit.get("barron").gradient(x, inf_at_1), ValueError,
     r"barron: target must be finite; received inf"),
    ("parameter +inf", lambda: losskit.tversky(np.zeros((1, 2, 3)), np.zeros((1, 3), dtype=int), alpha=INF), ValueError,
     r"tversky: alpha must be finite and >= 0; received alpha=inf"),
    ("parameter +inf, triplet eps", lambda: losskit.triplet_margin(np.zeros((2, 3)), np.zeros((2, 3)), np.zeros((2, 3)),
                                                                 eps=INF), ValueError,
     r"triplet_margin: eps must be finite and >= 0; received eps=inf"),
    ("parameter 1e308, tweedie power", lambda: losskit.tweedie_deviance(np.ones(3), np.ones(3), power=1e308), ValueError,
     r"tweedie_deviance: power must be in \[-20, 20\]; received power=1e\+308"),
    ("parameter 1e308 above its guard", lambda: losskit.contrastive(np.ones(3), np.ones(3, dtype=bool), margin=1e308),
     ValueError, r"contrastive: margin must be <= 1e\+06; received margin=1e\+308"),
    ("parameter +inf in a loss object", lambda: losskit.get("sigmoid_focal", gamma=INF), ValueError,
     r"sigmoid_focal: gamma must be finite and >= 0; received gamma=inf"),
    ("per-class parameter +inf", lambda: losskit.softmax_focal(np.zeros((2, 3)), np.array([0, 1]), alpha=inf_at_1),
     ValueError, r"softmax_focal: alpha must be finite and >= 0; received inf"),
    # 10: structured losses check weight and mask through the shared validation
    ("structured weight a list of strings", lambda: losskit.center_loss(np.zeros((2, 3)), np.array([0, 1]), np.zeros((2, 3)),
                                                                     weight="ab"), TypeError,
     rf"center_loss: weight {ACCEPTED} str 'ab'"),
    ("structured weight of another backend", lambda: losskit.triplet_margin(a2, a2, a2, weight=_torch(2)), TypeError,
     r"triplet_margin: all arrays must come from one backend; received anchor=numpy.ndarray, positive=numpy.ndarray, "
     r"negative=numpy.ndarray, weight=torch.Tensor"),
    ("structured numpy weight, jax input", lambda: losskit.info_nce(_jax(2, 3), _jax(2, 3), weight=np.ones(2)), TypeError,
     r"info_nce: all arrays must come from one backend; received query=jax.*, key=jax.*, weight=numpy.ndarray"),
    ("structured list mask, torch input", lambda: losskit.margin_ranking(_torch(2), _torch(2), _torch(2) + 1.0,
                                                                      mask=[True, False]), TypeError,
     r"margin_ranking: mask must be an array of the same backend as the others \(torch.Tensor\); received list"),
    ("structured weight shape", lambda: losskit.batch_hard_triplet(np.zeros((4, 3)), np.array([0, 0, 1, 1]),
                                                                   weight=np.ones(3)), ValueError,
     r"batch_hard_triplet: weight must have shape \(4,\) \(one value per embedding\); received shape \(3,\)"),
    ("structured weight +inf", lambda: losskit.cosine_embedding(a2, a2, np.array([1, -1]), weight=np.array([1.0, INF])),
     ValueError, r"cosine_embedding: weight must be finite and >= 0; received inf"),
    # 13: the derivatives take the arrays the loss takes, and refuse more
    ("gradient with one array too many", lambda: losskit.get("gaussian_nll").gradient(x, x, np.ones(3), np.ones(3)),
     TypeError, r"gaussian_nll: the arrays must be \(raw, target, var\), as when calling the loss; received 4"),
    ("hessian with an array too many", lambda: losskit.get("huber").hessian(x, x, x), TypeError,
     r"huber: the arrays must be \(raw, target\), as when calling the loss; received 3"),
]

CASES = [
    ("unknown reduction", lambda: losskit.mse(x, x, reduction="avg"), ValueError,
     r"mse: reduction must be one of 'none', 'mean', 'sum'; received reduction='avg'"),
    ("reduction not a string", lambda: losskit.huber(x, x, reduction=None), ValueError, r"huber: reduction must be"),
    ("unknown loss name", lambda: losskit.get("hubber"), ValueError, r"registered loss.*'hubber'.*Did you mean 'huber'"),
    ("loss name not a string", lambda: losskit.get(3), TypeError, r"name must be a string"),
    ("unknown parameter", lambda: losskit.get("huber", beta=1.0), TypeError, r"huber: unknown parameter\(s\) beta; expected one of: delta"),
    ("two backends", _torch_numpy, TypeError, r"mse: all arrays must come from one backend; received input=torch.Tensor, target=numpy.ndarray"),
    ("array and list", _torch_list, TypeError, r"mse: target must be an array of the same backend"),
    ("not an array", lambda: losskit.mse(x, "abc"), TypeError, r"mse: target must be an array \(NumPy, PyTorch or JAX\), a number or a list/tuple of numbers; received str"),
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
] + ISSUE_16
