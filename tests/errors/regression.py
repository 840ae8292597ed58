"""Bad inputs for the regression losses."""

import math

import numpy as np

import losskit

x = np.zeros(3)
y = np.ones(3)


def _torch_levels_2d():
    import torch

    return losskit.pinball(torch.zeros(3, 4), torch.zeros(3), quantile=torch.full((2, 2), 0.5))


CASES = [
    # parameters out of range or of the wrong type
    ("smooth_l1 negative beta", lambda: losskit.smooth_l1(x, y, beta=-0.5), ValueError,
     r"smooth_l1: beta must be >= 0; received beta=-0.5"),
    ("smooth_l1 beta not a number", lambda: losskit.smooth_l1(x, y, beta="1"), TypeError,
     r"smooth_l1: beta must be a real number; received str '1'"),
    ("pseudo_huber zero delta", lambda: losskit.pseudo_huber(x, y, delta=0.0), ValueError,
     r"pseudo_huber: delta must be > 0; received delta=0.0"),
    ("pseudo_huber NaN delta", lambda: losskit.pseudo_huber(x, y, delta=math.nan), ValueError,
     r"pseudo_huber: delta must be > 0; received delta=nan"),
    ("charbonnier zero c", lambda: losskit.charbonnier(x, y, c=0), ValueError,
     r"charbonnier: c must be > 0; received c=0.0"),
    ("tukey negative c", lambda: losskit.tukey(x, y, c=-1.0), ValueError, r"tukey: c must be > 0; received c=-1.0"),
    ("cauchy zero c", lambda: losskit.cauchy(x, y, c=0.0), ValueError, r"cauchy: c must be > 0; received c=0.0"),
    ("welsch c None", lambda: losskit.welsch(x, y, c=None), TypeError, r"welsch: c must be a real number; received NoneType None"),
    ("geman_mcclure c bool", lambda: losskit.geman_mcclure(x, y, c=True), TypeError,
     r"geman_mcclure: c must be a real number; received bool True"),
    ("expectile level 0", lambda: losskit.expectile(x, y, expectile=0.0), ValueError,
     r"expectile: expectile must be in \(0, 1\); received expectile=0.0"),
    ("expectile level 1", lambda: losskit.expectile(x, y, expectile=1.0), ValueError,
     r"expectile: expectile must be in \(0, 1\); received expectile=1.0"),
    ("barron alpha +inf", lambda: losskit.barron(x, y, alpha=math.inf), ValueError,
     r"barron: alpha must be <= 1e\+06; received alpha=inf"),
    ("barron alpha NaN", lambda: losskit.barron(x, y, alpha=math.nan), ValueError, r"barron: alpha must be real; received alpha=nan"),
    ("barron alpha string", lambda: losskit.barron(x, y, alpha="2"), TypeError,
     r"barron: alpha must be a real number; received str '2'"),
    ("barron zero c", lambda: losskit.barron(x, y, c=0.0), ValueError, r"barron: c must be > 0; received c=0.0"),
    ("barron gradient zero c", lambda: losskit.get("barron", c=-1.0).gradient(x, y), ValueError,
     r"barron: c must be > 0; received c=-1.0"),
    # pinball levels
    ("pinball quantile 0", lambda: losskit.pinball(x, y, quantile=0.0), ValueError,
     r"pinball: quantile must be in \(0, 1\); received quantile=0.0"),
    ("pinball quantile above 1", lambda: losskit.pinball(x, y, quantile=1.5), ValueError,
     r"pinball: quantile must be in \(0, 1\); received quantile=1.5"),
    ("pinball one bad level", lambda: losskit.pinball(np.zeros((3, 2)), y, quantile=[0.5, 1.0]), ValueError,
     r"pinball: quantile must be in \(0, 1\); received quantile=1.0"),
    ("pinball empty levels", lambda: losskit.pinball(x, y, quantile=[]), ValueError,
     r"pinball: quantile must be a number in \(0, 1\) or a non-empty 1-D sequence of them; received \[\]"),
    ("pinball 2-D levels", lambda: losskit.pinball(x, y, quantile=np.full((2, 2), 0.5)), ValueError,
     r"pinball: quantile must be a number in \(0, 1\) or a 1-D sequence of them; received an array of shape \(2, 2\)"),
    ("pinball 2-D torch levels", _torch_levels_2d, ValueError, r"pinball: quantile must be .* shape \(2, 2\)"),
    ("pinball level not a number", lambda: losskit.pinball(np.zeros((3, 2)), y, quantile=[0.5, "a"]), TypeError,
     r"pinball: quantile must be a real number; received str 'a'"),
    ("pinball several levels, input without their axis", lambda: losskit.pinball(x, y, quantile=[0.1, 0.9]), ValueError,
     r"pinball: input must have shape target.shape \+ \(Q,\) = \(3, 2\) when quantile holds Q=2 levels .*received shape \(3,\)"),
    ("pinball several levels, wrong Q", lambda: losskit.pinball(np.zeros((3, 3)), y, quantile=[0.1, 0.9]), ValueError,
     r"pinball: input must have shape target.shape \+ \(Q,\) = \(3, 2\).*received shape \(3, 3\)"),
    ("pinball several levels, weight of the target's shape",
     lambda: losskit.pinball(np.zeros((3, 2)), y, quantile=[0.1, 0.9], weight=np.ones(3)), ValueError,
     r"pinball: weight must have shape \(3, 2\) \(the shape of input\); received shape \(3,\)"),
    ("pinball several levels, NaN target", lambda: losskit.pinball(np.zeros((3, 2)), np.array([0.0, np.nan, 1.0]),
                                                                 quantile=[0.1, 0.9]), ValueError,
     r"pinball: target must not contain NaN"),
    ("pinball gradient, raw without the level axis", lambda: losskit.get("pinball", quantile=[0.2, 0.8]).gradient(x, y),
     ValueError, r"pinball: raw must have shape target.shape \+ \(Q,\) = \(3, 2\)"),
    # reductions of the aggregate losses
    ("rmse reduction none", lambda: losskit.rmse(x, y, reduction="none"), ValueError,
     r"rmse: reduction must be 'mean' \(RMSE is the square root of a mean.*mse\(reduction='none'\).*received reduction='none'"),
    ("rmsle reduction sum", lambda: losskit.rmsle(x, y, reduction="sum"), ValueError,
     r"rmsle: reduction must be 'mean' \(RMSLE is the square root of a mean.*msle\(reduction='none'\).*received reduction='sum'"),
    ("rmse no derivatives", lambda: losskit.get("rmse").gradient(x, y), TypeError,
     r"rmse: has no closed-form gradient/hessian \(aggregate loss"),
    # domains
    ("msle target at -1", lambda: losskit.msle(x, np.array([0.0, -1.0, 2.0])), ValueError,
     r"msle: target must be > -1; received -1.0"),
    ("msle input below -1", lambda: losskit.msle(np.array([0.0, -3.0, 2.0]), y), ValueError,
     r"msle: input must be > -1; received -3.0"),
    ("rmsle input below -1", lambda: losskit.rmsle(np.array([-2.0, 0.0, 0.0]), y), ValueError,
     r"rmsle: input must be > -1; received -2.0"),
    ("msle gradient raw below -1", lambda: losskit.get("msle").gradient(np.array([-1.5, 0.0, 0.0]), y), ValueError,
     r"msle: raw must be > -1; received -1.5"),
    # shapes and dtypes
    ("mae shape mismatch", lambda: losskit.mae(np.zeros((3, 1)), y), ValueError,
     r"mae: target must have shape \(3, 1\) \(the shape of input\); received shape \(3,\)"),
    ("l1 alias integer input", lambda: losskit.l1(np.zeros(3, dtype=int), y), TypeError,
     r"mae: input must have a floating dtype; received dtype int64"),
    ("mape complex target", lambda: losskit.mape(x, np.ones(3, dtype=complex)), TypeError,
     r"mape: target must have a real numeric dtype; received dtype complex128"),
    ("log_cosh mask of the wrong shape", lambda: losskit.log_cosh(x, y, mask=np.ones(2, dtype=bool)), ValueError,
     r"log_cosh: mask must have shape \(3,\)"),
    ("tukey gradient shape mismatch", lambda: losskit.get("tukey").gradient(np.zeros(2), y), ValueError,
     r"tukey: target must have shape \(2,\) \(the shape of raw\); received shape \(3,\)"),
]
