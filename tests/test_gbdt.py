"""losskit.gbdt: custom objectives reproduce the libraries' built-in ones.

Each reproduction trains the built-in objective and losskit's with the same
hyper-parameters, the same starting score and deterministic settings, and
compares predictions. Tolerance: 1e-5 absolute on probabilities / 1e-4
relative on regression values. The libraries keep gradients in float32
(XGBoost's GradientPair, LightGBM's score_t) while losskit computes them in
float64 before the cast, so sums over a leaf can differ in the last float32
bits; with exact split search these do not change any split here.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import losskit
from losskit.custom import define_loss
from losskit.gbdt import GBDTLoss, HessianWarning, objective

sklearn_datasets = pytest.importorskip("sklearn.datasets", reason="scikit-learn provides the datasets")

ROUNDS = 20


@pytest.fixture(scope="module")
def cancer():
    X, y = sklearn_datasets.load_breast_cancer(return_X_y=True)
    return X, y.astype(np.float64)


@pytest.fixture(scope="module")
def diabetes():
    return sklearn_datasets.load_diabetes(return_X_y=True)


@pytest.fixture(scope="module")
def wine():
    return sklearn_datasets.load_wine(return_X_y=True)


# -- XGBoost -------------------------------------------------------------------

XGB = {"tree_method": "exact", "nthread": 1, "seed": 0, "max_depth": 3, "eta": 0.3}


def _times_hessian(fobj, factor):
    """The objective with its Hessian multiplied by ``factor`` (the built-in
    softmax objectives use a scaled diagonal: XGBoost 2 p(1-p), LightGBM
    C/(C-1) p(1-p))."""

    def scaled(*args, **kwargs):
        grad, hess = fobj(*args, **kwargs)
        return grad, factor * hess

    return scaled


def _xgb_pair(X, y, builtin: dict, obj: GBDTLoss, hessian_factor=1.0, **extra):
    xgb = pytest.importorskip("xgboost", reason="xgboost is an optional extra")
    d = xgb.DMatrix(X, y)
    fobj = _times_hessian(obj.xgboost_objective(), hessian_factor)
    ours = xgb.train({**XGB, **obj.xgboost_params(y), **extra}, d, ROUNDS, obj=fobj)
    theirs = xgb.train({**XGB, **builtin, **extra}, d, ROUNDS)
    return obj.predict(ours, X), theirs.predict(xgb.DMatrix(X))


def test_xgboost_binary_logistic(cancer):
    X, y = cancer
    obj = objective("binary_cross_entropy_with_logits", hessian="exact")
    p0 = 1 / (1 + np.exp(-obj.base_score(y)))  # binary:logistic takes base_score as a probability
    ours, theirs = _xgb_pair(X, y, {"objective": "binary:logistic", "base_score": p0}, obj)
    assert ours.shape == (len(y),) and np.all((ours > 0) & (ours < 1))
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_xgboost_squared_error(diabetes):
    X, y = diabetes
    obj = objective("mse", hessian="exact", scale=0.5)  # reg:squarederror is 1/2 r^2
    ours, theirs = _xgb_pair(X, y, {"objective": "reg:squarederror", "base_score": float(np.mean(y))}, obj)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4)


def test_xgboost_softprob(wine):
    X, y = wine
    obj = objective("cross_entropy", hessian="exact")
    base = obj.base_score(y)  # multi:softprob takes base_score as margins
    builtin = {"objective": "multi:softprob", "num_class": 3, "base_score": base.tolist()}
    ours, theirs = _xgb_pair(X, y, builtin, obj, hessian_factor=2.0)
    assert ours.shape == (len(y), 3)
    np.testing.assert_allclose(ours.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_xgboost_sklearn_api_and_weights(diabetes):
    xgb = pytest.importorskip("xgboost", reason="xgboost is an optional extra")
    X, y = diabetes
    w = np.linspace(0.5, 2.0, len(y))
    obj = objective("mse", hessian="exact", scale=0.5)
    base = obj.base_score(y, w)
    assert base == pytest.approx(np.average(y, weights=w))
    kw = dict(n_estimators=ROUNDS, tree_method="exact", n_jobs=1, max_depth=3, learning_rate=0.3, base_score=base)
    ours = xgb.XGBRegressor(objective=obj.xgboost_objective(), **kw).fit(X, y, sample_weight=w)
    theirs = xgb.XGBRegressor(objective="reg:squarederror", **kw).fit(X, y, sample_weight=w)
    np.testing.assert_allclose(obj.predict(ours, X), theirs.predict(X), rtol=1e-4)


# -- LightGBM ------------------------------------------------------------------

LGB = {"deterministic": True, "num_threads": 1, "force_row_wise": True, "seed": 0, "verbose": -1,
       "num_leaves": 8, "learning_rate": 0.3}


def _lgb_pair(X, y, builtin: dict, obj: GBDTLoss, hessian_factor=1.0, **extra):
    lgb = pytest.importorskip("lightgbm", reason="lightgbm is an optional extra")
    init = obj.init_score(y)
    fobj = _times_hessian(obj.lightgbm_objective(), hessian_factor)
    ours = lgb.train({**LGB, **extra, "objective": fobj},
                     lgb.Dataset(X, y, init_score=init), ROUNDS)
    theirs = lgb.train({**LGB, **extra, **builtin}, lgb.Dataset(X, y), ROUNDS)
    return obj.predict(ours, X), theirs.predict(X)


def test_lightgbm_binary(cancer):
    X, y = cancer
    obj = objective("binary_cross_entropy_with_logits", hessian="exact")
    ours, theirs = _lgb_pair(X, y, {"objective": "binary"}, obj)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_lightgbm_regression(diabetes):
    X, y = diabetes
    obj = objective("mse", hessian="exact", scale=0.5)  # LightGBM's l2 gradient is r, Hessian 1
    ours, theirs = _lgb_pair(X, y, {"objective": "regression"}, obj)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4)


def test_lightgbm_multiclass(wine):
    X, y = wine
    obj = objective("cross_entropy", hessian="exact")
    ours, theirs = _lgb_pair(X, y, {"objective": "multiclass"}, obj, hessian_factor=1.5, num_class=3)
    assert ours.shape == (len(y), 3)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_lightgbm_predict_needs_the_init_score(diabetes):
    """LightGBM does not store init_score: the raw prediction lacks it."""
    lgb = pytest.importorskip("lightgbm", reason="lightgbm is an optional extra")
    X, y = diabetes
    obj = objective("mse")
    booster = lgb.train({**LGB, "objective": obj.lightgbm_objective()},
                        lgb.Dataset(X, y, init_score=obj.init_score(y)), 5)
    gap = obj.predict(booster, X) - booster.predict(X, raw_score=True)
    np.testing.assert_allclose(gap, np.mean(y), rtol=1e-12)


# -- CatBoost ------------------------------------------------------------------


def _catboost():
    return pytest.importorskip("catboost", reason="catboost is an optional extra")


CB = {"iterations": ROUNDS, "depth": 3, "learning_rate": 0.3, "random_seed": 0, "thread_count": 1,
      "verbose": False, "allow_writing_files": False, "boosting_type": "Plain", "bootstrap_type": "No",
      "random_strength": 0, "leaf_estimation_iterations": 1, "leaf_estimation_method": "Newton"}


@pytest.mark.filterwarnings("ignore:Failed to import numba:UserWarning")
def test_catboost_logloss(cancer):
    cb = _catboost()
    X, y = cancer
    obj = objective("binary_cross_entropy_with_logits", hessian="exact")
    base = obj.init_score(y)
    ours = cb.CatBoost({**CB, "loss_function": obj.catboost_objective(), "eval_metric": obj.catboost_metric()}).fit(cb.Pool(X, y, baseline=base))
    theirs = cb.CatBoost({**CB, "loss_function": "Logloss"}).fit(cb.Pool(X, y, baseline=base))
    expected = 1 / (1 + np.exp(-(theirs.predict(X, prediction_type="RawFormulaVal") + base)))
    np.testing.assert_allclose(obj.predict(ours, X), expected, atol=1e-5)


@pytest.mark.filterwarnings("ignore:Failed to import numba:UserWarning")
def test_catboost_rmse(diabetes):
    cb = _catboost()
    X, y = diabetes
    obj = objective("mse", hessian="exact", scale=0.5)
    base = obj.init_score(y)
    ours = cb.CatBoost({**CB, "loss_function": obj.catboost_objective(), "eval_metric": obj.catboost_metric()}).fit(cb.Pool(X, y, baseline=base))
    theirs = cb.CatBoost({**CB, "loss_function": "RMSE"}).fit(cb.Pool(X, y, baseline=base))
    expected = theirs.predict(X, prediction_type="RawFormulaVal") + base
    np.testing.assert_allclose(obj.predict(ours, X), expected, rtol=1e-4)


@pytest.mark.filterwarnings("ignore:Failed to import numba:UserWarning")
def test_catboost_multiclass(wine):
    cb = _catboost()
    X, y = wine
    obj = objective("cross_entropy", hessian="exact")
    base = obj.init_score(y)
    params = {**CB, "iterations": 5}
    ours = cb.CatBoost({**params, "loss_function": obj.catboost_objective(), "eval_metric": obj.catboost_metric(), "classes_count": 3})
    ours.fit(cb.Pool(X, y, baseline=base))
    theirs = cb.CatBoost({**params, "loss_function": "MultiClass"}).fit(cb.Pool(X, y, baseline=base))
    raw = theirs.predict(X, prediction_type="RawFormulaVal") + base
    probs = obj.predict(ours, X)
    assert probs.shape == (len(y), 3)
    np.testing.assert_allclose(probs, obj.inverse_link(raw), atol=1e-5)


# -- robust and GLM objectives train cleanly -------------------------------------


@pytest.mark.parametrize(("name", "params", "data"), [
    ("sigmoid_focal", {"gamma": 2.0}, "cancer"),
    ("huber", {"delta": 30.0}, "diabetes"),
    ("pinball", {"quantile": 0.9}, "diabetes"),
    ("tweedie_deviance", {"power": 1.5}, "diabetes"),
])
def test_objectives_train_without_warnings(name, params, data, request):
    xgb = pytest.importorskip("xgboost", reason="xgboost is an optional extra")
    lgb = pytest.importorskip("lightgbm", reason="lightgbm is an optional extra")
    X, y = request.getfixturevalue(data)
    obj = objective(name, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        booster = xgb.train({**XGB, **obj.xgboost_params(y)}, xgb.DMatrix(X, y), ROUNDS,
                            obj=obj.xgboost_objective())
        lboost = lgb.train({**LGB, "objective": obj.lightgbm_objective()},
                           lgb.Dataset(X, y, init_score=obj.init_score(y)), ROUNDS)
    start = obj.loss(np.full(len(y), obj.base_score_), y)
    for model in (booster, lboost):
        pred = obj.predict(model, X, raw=True)
        assert np.all(np.isfinite(pred)) and obj.loss(pred, y) < start


def test_pinball_quantile_coverage(diabetes):
    xgb = pytest.importorskip("xgboost", reason="xgboost is an optional extra")
    X, y = diabetes
    obj = objective("pinball", quantile=0.9)
    assert obj.hessian_mode == "unit"
    booster = xgb.train({**XGB, **obj.xgboost_params(y)}, xgb.DMatrix(X, y), 50, obj=obj.xgboost_objective())
    coverage = np.mean(y <= obj.predict(booster, X))
    assert 0.8 < coverage <= 1.0


# -- base score ------------------------------------------------------------------


@pytest.mark.parametrize(("name", "params", "y"), [
    ("huber", {"delta": 1.0}, np.array([0.0, 0.5, 1.0, 2.0, 10.0, 30.0])),
    ("log_cosh", {}, np.array([-3.0, 0.0, 0.5, 1.0, 8.0])),
    ("expectile", {"expectile": 0.8}, np.array([0.0, 1.0, 2.0, 7.0])),
    ("sigmoid_focal", {"gamma": 2.0}, np.array([0.0, 1.0, 1.0, 1.0, 0.0, 1.0])),
])
def test_base_score_minimises_the_mean_loss(name, params, y):
    optimize = pytest.importorskip("scipy.optimize", reason="scipy is the oracle")
    obj = objective(name, **params)
    w = np.linspace(1.0, 2.0, len(y))
    c = obj.base_score(y, w)
    best = optimize.minimize_scalar(lambda t: obj.loss(np.full(len(y), t), y, w), bracket=(-5, 5), tol=1e-12).x
    assert c == pytest.approx(best, abs=1e-5)


def test_base_score_closed_forms():
    y = np.array([1.0, 2.0, 2.0, 5.0])
    assert objective("mse").base_score(y) == pytest.approx(2.5)
    assert objective("mae").base_score(y) == 2.0
    assert objective("gamma_deviance").base_score(y) == pytest.approx(np.log(2.5))
    base = objective("cross_entropy").base_score(np.array([0, 1, 1, 2]))
    np.testing.assert_allclose(np.exp(base), [0.25, 0.5, 0.25])


def test_softmax_focal_base_score_lowers_the_loss():
    y = np.array([0, 0, 0, 0, 1, 1, 2])
    obj = objective("softmax_focal", gamma=2.0)
    c = obj.base_score(y)
    freq = objective("cross_entropy").base_score(y)
    loss = lambda b: obj.loss(np.tile(b, (len(y), 1)), y)  # noqa: E731
    assert loss(c) < loss(freq)


# -- Hessian safeguard -------------------------------------------------------------


def test_exact_hessian_warns_and_floor_counts():
    raw, y = np.array([0.0, 50.0, -50.0]), np.array([0.0, 0.0, 0.0])  # Huber: zero Hessian beyond delta
    with pytest.warns(HessianWarning, match="2 of 3 Hessian entries are <= 0"):
        objective("huber", hessian="exact").gradient_hessian(raw, y)
    obj = objective("huber", hessian_floor=1e-3)
    _, hess = obj.gradient_hessian(raw, y)
    assert hess.tolist() == [1.0, 1e-3, 1e-3] and obj.stats["floored"] == 2


def test_abs_and_expected_hessians():
    raw, y = np.array([0.0, 3.0]), np.array([0.0, 0.0])
    exact = losskit.get("tukey", c=4.685).hessian(raw, y)
    assert exact[1] < 0
    _, hess = objective("tukey", c=4.685, hessian="abs").gradient_hessian(raw, y)
    np.testing.assert_allclose(hess, np.abs(exact))
    # Tweedie's expected Hessian at mu = exp(raw): 2 mu^(2-p) (target = mu)
    raw = np.log(np.array([0.5, 2.0]))
    _, hess = objective("tweedie_deviance", power=1.5, hessian="expected").gradient_hessian(raw, np.zeros(2))
    np.testing.assert_allclose(hess, 2.0 * np.exp(raw) ** 0.5)


def test_weights_and_scale_multiply():
    raw, y, w = np.array([0.0, 1.0]), np.array([1.0, 1.0]), np.array([2.0, 3.0])
    grad, hess = objective("mse", scale=0.5).gradient_hessian(raw, y, w)
    assert grad.tolist() == [-2.0, 0.0] and hess.tolist() == [2.0, 3.0]


def test_custom_loss_spec():
    spec = define_loss("quartic", lambda input, target: (input - target) ** 4 + (input - target) ** 2, convex=True)
    obj = GBDTLoss(spec)
    grad, hess = obj.lightgbm_objective()(np.array([0.0]), np.array([1.0]))
    assert grad.tolist() == pytest.approx([6.0]) and hess.tolist() == pytest.approx([14.0])
    assert obj.base_score(np.array([1.0, 3.0])) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="'expected' is defined where"):
        GBDTLoss(spec, hessian="expected")


# -- errors -----------------------------------------------------------------------


@pytest.mark.parametrize(("call", "error", "pattern"), [
    (lambda: objective("no_such_loss"), ValueError, "name must be a registered loss"),
    (lambda: objective("triplet_margin"), ValueError, "loss must be pointwise.*structured"),
    (lambda: objective("gaussian_nll"), ValueError, "needs extra arrays \\(var\\)"),
    (lambda: objective("nll"), ValueError, "must take logits through a softmax"),
    (lambda: objective("msle"), ValueError, "raw input must be"),
    (lambda: objective("mse", hessian="newton"), ValueError, "hessian must be one of"),
    (lambda: objective("mse", hessian_floor=0.0), ValueError, "hessian_floor must be"),
    (lambda: objective("huber", delta=-1.0), ValueError, "delta must be"),
    (lambda: objective("mae", hessian="expected"), ValueError, "'expected' is defined where"),
    (lambda: objective(3), TypeError, "loss must be a registered name"),
    (lambda: objective("mse").gradient_hessian(np.zeros(3), np.zeros(4)), ValueError,
     "predictions must have shape \\(4,\\)"),
    (lambda: objective("cross_entropy").gradient_hessian(np.zeros(4), np.zeros(4)), ValueError,
     "predictions must have shape \\(4, n_classes\\)"),
    (lambda: objective("cross_entropy").base_score(np.array([0.5, 1.0])), ValueError, "must hold class indices"),
    (lambda: objective("mse").predict(object(), np.zeros((1, 1))), TypeError, "model must be an XGBoost"),
])
def test_errors(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()
