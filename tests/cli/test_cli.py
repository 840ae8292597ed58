"""``losskit show`` and ``losskit plot`` (click's CliRunner), and ``losskit.plots.plot_losses``."""

from __future__ import annotations

import json

import numpy as np
import pytest

click = pytest.importorskip("click", reason="the CLI needs the cli extra (click)")
pytest.importorskip("matplotlib", reason="plots need the plot extra (matplotlib)")


from losskit.cli import plain_formula  # noqa: E402
from losskit.plots import plot_losses  # noqa: E402
from helpers import cli


def run(*args):
    return cli(*args)


def lines_of(ax):
    return {line.get_label(): (np.asarray(line.get_xdata()), np.asarray(line.get_ydata())) for line in ax.lines}


# --- show -----------------------------------------------------------------

def test_show_huber_prints_formula_params_gradient_and_example():
    result = run("show", "huber")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "formula:        ℓ = ½ r^2 if |r| <= δ" in out  # from the docstring, LaTeX spelled out
    assert "delta = 1.0 (real, > 0)" in out  # parameter, default and range
    assert "closed form w.r.t. the raw score" in out
    assert "Huber M-estimate" in out and "robust: yes" in out and "convex: yes" in out
    assert "Huber, P. J. (1964)" in out
    # worked example: raw [-1, 0.5, 2] vs target [0.5, 1, 2.5]: residuals -1.5, -0.5, -0.5
    assert "gradient: [-1. , -0.5, -0.5]" in out and "loss (mean): 0.416667" in out


def test_show_cross_entropy_and_ctc():
    ce = run("show", "cross_entropy")
    assert ce.exit_code == 0, ce.output
    assert "log p = log_softmax(z)" in ce.output and "label_smoothing = 0.0 (real, in [0, 1])" in ce.output
    assert "gradient: [[-0.2144" in ce.output  # softmax - onehot on the worked example
    ctc = run("show", "ctc")
    assert ctc.exit_code == 0, ctc.output
    assert "prod_{t=0}^{T'-1}" in ctc.output and "blank = 0 (int)" in ctc.output
    assert "w.r.t. the log_probs" in ctc.output and "input_lengths:" in ctc.output
    assert "avoid when:     there is no good starting point (non-convex)" in ctc.output


@pytest.mark.parametrize("name", ["gaussian_nll", "bce", "poisson_nll", "mse"])
def test_show_other_kinds_of_loss(name):
    result = run("show", name)  # an extra array (var), a sigmoid link, an exp link, no math block
    assert result.exit_code == 0, result.output
    assert "gradient: [" in result.output and "formula:" in result.output


def test_show_json_parses_and_matches_the_spec():
    result = run("show", "tukey", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["name"] == "tukey" and data["convex"] is False and data["hessian_nonnegative"] is False
    assert data["parameters"][0]["name"] == "c" and data["parameters"][0]["default"] == 4.685
    assert data["formula"].startswith("ρ(r) = (c^2)/(6)")
    assert len(data["example"]["gradient"]) > 0


def test_show_unknown_name_exits_2_with_a_suggestion():
    result = run("show", "hubr")
    assert result.exit_code == 2
    assert "Did you mean 'huber'" in result.output


def test_plain_formula_without_a_math_block_is_none():
    assert plain_formula("Squared error.\n\n    No formula here.") is None


# --- plot -----------------------------------------------------------------

def test_plot_writes_png_and_svg(tmp_path):
    png, svg = tmp_path / "a.png", tmp_path / "b.svg"
    for out in (png, svg):
        result = run("plot", "mse", "huber", "--out", str(out))
        assert result.exit_code == 0, result.output
        assert result.output.strip() == str(out) and out.stat().st_size > 1000
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and b"<svg" in svg.read_bytes()[:1000]


def test_plot_default_out_is_name_png_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("plot", "hinge", "--what", "loss")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "hinge.png"
    assert (tmp_path / "hinge.png").stat().st_size > 1000


def test_param_values_draw_one_curve_each():
    fig = plot_losses(["huber", "mse"], params={"delta": [0.5, 1.0, 2.0]})
    loss_panel, grad_panel = fig.axes
    curves = lines_of(grad_panel)
    assert sorted(curves) == ["huber (delta=0.5)", "huber (delta=1.0)", "huber (delta=2.0)", "mse"]
    for delta in (0.5, 1.0, 2.0):  # Huber's gradient is capped at delta
        x, g = curves[f"huber (delta={delta})"]
        assert np.isclose(g.max(), delta) and np.isclose(g.min(), -delta)
    assert len(loss_panel.lines) == 4


def test_robust_preset_shows_tukey_redescending():
    from losskit.plots import PRESETS

    fig = plot_losses(**PRESETS["robust"])
    curves = lines_of(fig.axes[1])
    assert sorted(curves) == ["huber", "mae", "mse", "tukey"]
    x, g = curves["tukey"]
    assert abs(np.interp(6.0, x, g)) < 1e-12 and np.interp(2.0, x, g) > 1.0  # zero influence beyond c = 4.685
    x, g = curves["mse"]
    assert np.isclose(np.interp(6.0, x, g), 12.0)  # unbounded influence
    assert np.isclose(np.interp(6.0, *curves["mae"]), 1.0) and np.isclose(np.interp(6.0, *curves["huber"]), 1.0)


def test_saturation_preset_mse_gradient_vanishes_when_confidently_wrong():
    from losskit.plots import PRESETS

    fig = plot_losses(**PRESETS["saturation"])
    curves = lines_of(fig.axes[1])
    assert sorted(curves) == ["binary_cross_entropy", "mse on sigmoid"]
    x, ce = curves["binary_cross_entropy"]
    _, mse = curves["mse on sigmoid"]
    p = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(ce, p - 1, atol=1e-12)
    np.testing.assert_allclose(mse, 2 * (p - 1) * p * (1 - p), atol=1e-12)
    assert abs(np.interp(-8.0, x, mse)) < 1e-3 and np.isclose(np.interp(-8.0, x, ce), -1.0, atol=1e-3)


def test_presets_from_the_cli(tmp_path):
    for preset in ("robust", "saturation"):
        out = tmp_path / f"{preset}.png"
        result = run("plot", "--preset", preset, "--out", str(out))
        assert result.exit_code == 0, result.output
        assert out.stat().st_size > 1000


def test_finite_differences_where_no_closed_form():
    from dataclasses import replace

    import losskit

    no_closed_form = replace(losskit.spec("log_cosh"), derivatives=None)
    fig = plot_losses([no_closed_form], what="gradient")
    x, g = lines_of(fig.axes[0])["log_cosh"]
    np.testing.assert_allclose(g, np.tanh(x), atol=1e-8)  # central differences of log(cosh(r))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("plot", "huber", "--what", "loss,curvature"), "must be loss, gradient or loss,gradient"),
        (("plot", "huber", "--out", "x.pdf"), "must end in .png or .svg"),
        (("plot", "huber", "--param", "gamma=1,2"), "params must name a parameter of huber; received 'gamma'"),
        (("plot", "huber", "--param", "delta"), "must be NAME=V1,V2"),
        (("plot", "hubr"), "Did you mean 'huber'"),
        (("plot",), "give at least one loss NAME"),
        (("plot", "cross_entropy"), "must be an elementwise loss"),
        (("plot", "huber", "bce"), "must share one x axis"),
    ],
)
def test_plot_usage_errors_exit_2(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)  # nothing is written, but if it were, not into the repository
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_show_says_when_the_recommender_uses_and_avoids_a_loss():
    from losskit.recommend.rules import RULES

    result = run("show", "mse", "--json")
    assert result.exit_code == 0, result.output
    described = json.loads(result.output)
    avoided = [r.name for r in RULES if r.loss == "mse" and r.avoid]
    used = [r.name for r in RULES if r.loss == "mse" and not r.avoid]
    assert avoided and used
    assert any(all(f'"{n}"' in line for n in avoided) for line in described["avoid_when"])
    assert any(all(f'"{n}"' in line for n in used) for line in described["use_when"])
