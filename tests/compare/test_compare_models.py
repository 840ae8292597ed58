"""compare.tasks and compare.models: the task of a target, which losses fit it, the Adapter, and
fit_predict on synthetic data with known answers (a line, outliers, separable classes, iris)."""

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.metrics import roc_auc_score

from losskit.compare.models import fit_predict
from losskit.compare.tasks import (
    Adapter,
    baseline,
    check_fits,
    encode_labels,
    fitting_losses,
    task_of,
)

torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def _one_thread():
    """One torch thread per trial, as the compare runner sets it (restored afterwards)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _line(n=400, outliers=0.0, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, size=(n, 1))
    y = 3.0 * X[:, 0] + 1.0 + rng.normal(scale=0.3, size=n)
    if outliers:
        bad = rng.choice(n, int(outliers * n), replace=False)
        y[bad] += 30.0  # gross, one-sided
    return X, y


def _slope(adapter, X, y, model="linear", **kw):
    grid = np.array([[-1.0], [1.0]])
    fit = fit_predict(adapter, X, y, grid, model=model, seed=0, **kw)
    return (fit.prediction[1] - fit.prediction[0]) / 2, fit


def _binary(n=400, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(float)
    return X, y


@pytest.mark.parametrize(("y", "metrics", "task"), [
    ([0.5, 1.2, -3.0, 2.2, 0.1], (), "regression"),
    ([1.5, 2.0, 7.5, 3.3, 0.2], (), "regression"),
    ([1.5, 2.0, 7.5, 3.3, 0.2], ("pinball@0.9", "rmse"), "quantile"),
    ([0, 1, 1, 0, 1], (), "binary"),
    ([0, 2, 1, 2, 0, 1], (), "multiclass"),
])
def test_task_of(y, metrics, task):
    assert task_of(y, metrics) == task


def test_task_of_refuses_multilabel_and_constant():
    with pytest.raises(ValueError, match="multi-label"):
        task_of(np.array([[0, 1], [1, 0], [1, 1]]))
    with pytest.raises(ValueError, match="target"):
        task_of([2.0, 2.0, 2.0])


def test_fitting_losses_content():
    reg = fitting_losses("regression")
    assert {"mse", "mae", "huber", "tukey"} <= set(reg) and reg[0] == "mse"
    assert not {"gamma_deviance", "poisson_nll", "gaussian_nll", "crps_gaussian", "cross_entropy"} & set(reg)
    assert {"gamma_deviance", "tweedie_deviance", "poisson_nll", "msle"} <= set(fitting_losses("regression", y=[1.0, 2.0]))
    assert "gamma_deviance" not in fitting_losses("regression", y=[0.0, 2.0])  # gamma needs y > 0
    assert fitting_losses("quantile")[:2] == ["pinball", "expectile"]
    binary = fitting_losses("binary")
    assert {"binary_cross_entropy_with_logits", "sigmoid_focal", "hinge", "mse"} <= set(binary)
    assert "hinge_embedding" not in binary
    multi = fitting_losses("multiclass")
    assert {"cross_entropy", "nll", "softmax_focal", "multi_margin", "mse"} <= set(multi)
    assert not {"kl_div", "js_div", "binary_cross_entropy"} & set(multi)
    assert [baseline(t) for t in ("regression", "binary")] == ["mse", "binary_cross_entropy_with_logits"]


@pytest.mark.parametrize(("args", "pattern"), [
    (("cross_entropy", "regression", [1.0, 2.0]), "cross_entropy .*multiclass loss.*regression task"),
    (("gamma_deviance", "regression", [-1.0, 2.0]), "gamma_deviance.*expected targets > 0; received .*min -1"),
    (("gaussian_nll", "regression", [1.0, 2.0]), "extra arrays: var"),
    (("msle", "regression", [1.0, 2.0], "gbdt"), "cannot be a GBDT objective"),
    (("nll", "multiclass", [0, 1, 2], "gbdt"), "cannot be a GBDT objective"),
    (("mse", "binary", [0, 1], "gbdt"), "probability"),
    (("no_such_loss", "regression", [1.0, 2.0]), "--losses"),
    (("mse", "regression", [1.0, 2.0], "forest"), "--model"),
])
def test_check_fits_errors(args, pattern):
    with pytest.raises(ValueError, match=pattern):
        check_fits(*args)


def test_check_fits_accepts():
    check_fits("huber", "regression", [1.0, -2.0], "gbdt")
    check_fits("gamma_deviance", "regression", [1.0, 2.0], "gbdt")
    check_fits("mse", "multiclass", [0, 1, 2], "mlp")
    assert encode_labels(["b", "a", "b"])[0].tolist() == [1.0, 0.0, 1.0]


def test_adapter_predictions():
    raw = np.array([-2.0, 0.0, 3.0])
    assert Adapter("mse", {}, "regression").predict(raw).tolist() == raw.tolist()
    assert np.allclose(Adapter("gamma_deviance", {}, "regression").predict(raw), np.exp(raw))
    assert np.allclose(Adapter("msle", {}, "regression").predict(raw), np.expm1(raw))
    for loss in ("binary_cross_entropy_with_logits", "hinge", "mse"):
        p = Adapter(loss, {}, "binary").predict(raw)
        assert p.shape == (3,) and np.all((p > 0) & (p < 1)) and p[1] == 0.5
    a = Adapter("cross_entropy", {}, "multiclass", n_classes=3)
    p = a.predict(np.arange(12.0).reshape(4, 3))
    assert a.n_outputs == 3 and p.shape == (4, 3) and np.allclose(p.sum(axis=1), 1)
    assert Adapter("hinge", {}, "binary").encode(np.array([0.0, 1.0])).tolist() == [-1.0, 1.0]
    with pytest.raises(ValueError, match="0/1"):
        Adapter("binary_cross_entropy_with_logits", {}, "binary", y_train=[1.0, 2.0])


def test_adapter_loss_on_torch():
    y = torch.tensor([0.0, 1.0, 1.0])
    raw = torch.zeros(3, requires_grad=True)
    value = Adapter("mse", {}, "binary").loss(raw, y)  # on the probability: (0.5 - y)^2
    value.backward()
    assert abs(float(value.detach()) - 0.25) < 1e-6 and raw.grad is not None
    ce = Adapter("nll", {}, "multiclass", n_classes=3).loss(torch.zeros(2, 3), torch.tensor([0.0, 2.0]))
    assert abs(float(ce) - np.log(3)) < 1e-6


def test_linear_mse_recovers_the_line():
    X, y = _line()
    slope, fit = _slope(Adapter("mse", {}, "regression"), X, y)
    assert abs(slope - 3.0) < 0.1
    assert abs(fit.prediction.mean() - 1.0) < 0.1


def test_robust_losses_recover_the_line_under_outliers():
    X, y = _line(outliers=0.1)
    mse_fit = fit_predict(Adapter("mse", {}, "regression"), X, y, np.zeros((1, 1)), seed=0)
    assert mse_fit.prediction[0] > 3.0  # pulled up by the outliers (truth: 1)
    for loss, params in (("huber", {"delta": 1.0}), ("mae", {})):
        fit = fit_predict(Adapter(loss, params, "regression"), X, y, np.array([[-1.0], [0.0], [1.0]]), seed=0)
        assert abs(fit.prediction[1] - 1.0) < 0.5, loss
        assert abs((fit.prediction[2] - fit.prediction[0]) / 2 - 3.0) < 0.3, loss


def test_binary_cross_entropy_separates():
    X, y = _binary()
    fit = fit_predict(Adapter("binary_cross_entropy_with_logits", {}, "binary"), X[:300], y[:300], X[300:], seed=0)
    assert fit.prediction.shape == (100,) and roc_auc_score(y[300:], fit.prediction) > 0.9


def test_mse_on_probability_works_for_binary():
    X, y = _binary()
    fit = fit_predict(Adapter("mse", {}, "binary"), X[:300], y[:300], X[300:], seed=0)
    assert roc_auc_score(y[300:], fit.prediction) > 0.9


def test_multiclass_cross_entropy_on_iris():
    X, y = load_iris(return_X_y=True)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(y))
    tr, te = order[:110], order[110:]
    a = Adapter("cross_entropy", {}, "multiclass", n_classes=3)
    fit = fit_predict(a, X[tr], y[tr], X[te], seed=0)
    assert fit.prediction.shape == (len(te), 3)
    assert np.mean(fit.prediction.argmax(axis=1) == y[te]) > 0.9


def test_mlp_fits():
    X, y = _binary()
    fit = fit_predict(Adapter("binary_cross_entropy_with_logits", {}, "binary"), X[:300], y[:300], X[300:],
                      model="mlp", seed=0)
    assert roc_auc_score(y[300:], fit.prediction) > 0.9


def test_gbdt_mse_and_bce():
    X, y = _line()
    fit = fit_predict(Adapter("mse", {}, "regression"), X, y, np.array([[-1.0], [1.0]]), model="gbdt", seed=0)
    assert abs(fit.prediction[0] + 2.0) < 0.5 and abs(fit.prediction[1] - 4.0) < 0.5
    assert len(fit.curve["val_loss"]) == fit.epochs and 1 <= fit.best_epoch <= fit.epochs
    Xb, yb = _binary()
    fit = fit_predict(Adapter("binary_cross_entropy_with_logits", {}, "binary"), Xb[:300], yb[:300], Xb[300:],
                      model="gbdt", seed=0)
    assert roc_auc_score(yb[300:], fit.prediction) > 0.9


def test_gbdt_multiclass():
    X, y = load_iris(return_X_y=True)
    fit = fit_predict(Adapter("cross_entropy", {}, "multiclass", n_classes=3), X, y, X[:5], model="gbdt", seed=0)
    assert fit.prediction.shape == (5, 3) and np.allclose(fit.prediction.sum(axis=1), 1)


def test_deterministic_for_a_seed():
    X, y = _binary()
    runs = [fit_predict(Adapter("sigmoid_focal", {}, "binary"), X[:300], y[:300], X[300:], model="mlp", seed=3,
                        max_epochs=20) for _ in range(2)]
    assert np.array_equal(runs[0].prediction, runs[1].prediction)
    other = fit_predict(Adapter("sigmoid_focal", {}, "binary"), X[:300], y[:300], X[300:], model="mlp", seed=4,
                        max_epochs=20)
    assert not np.array_equal(runs[0].prediction, other.prediction)


def test_early_stopping_keeps_the_best_epoch():
    X, y = _line(n=200)
    seen = []

    def monitor(pred, y_val):
        seen.append(pred.shape)
        return float(np.sqrt(np.mean((pred - y_val) ** 2)))

    fit = fit_predict(Adapter("mse", {}, "regression"), X, y, X[:3], seed=0, monitor=monitor, patience=5)
    curve = fit.curve
    assert 1 <= fit.best_epoch <= fit.epochs
    assert all(len(curve[k]) == fit.epochs for k in ("epoch", "train_loss", "val_loss", "val_metric"))
    assert curve["val_loss"][fit.best_epoch - 1] == min(curve["val_loss"])
    assert fit.epochs == 200 or fit.epochs - fit.best_epoch == 5
    assert seen[0] == (40,)


def test_fit_predict_errors():
    X, y = _line(n=50)
    a = Adapter("mse", {}, "regression")
    with pytest.raises(ValueError, match="--model"):
        fit_predict(a, X, y, X, model="forest")
    with pytest.raises(ValueError, match="y_train"):
        fit_predict(a, X, y[:-1], X)
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="X_train.*finite"):
        fit_predict(a, bad, y, X)
    with pytest.raises(ValueError, match="l2"):
        fit_predict(a, X, y, X, l2=-1.0)
