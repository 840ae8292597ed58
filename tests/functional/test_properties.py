"""Every property of ``losskit.testing.properties`` over the whole registry.

A loss is tested here the moment its ``LossSpec`` is registered: inputs are
drawn from the spec's domains (``losskit.testing.sampling``), so no loss is listed by
hand. The properties themselves live in the package, so a user's own loss
(``losskit.register_loss``) runs the same suite: ``check_properties(name)``.
"""

from __future__ import annotations

import pytest

import losskit
from losskit.testing.properties import Skip, applicable
from losskit.testing.sampling import settings

CASES = [
    pytest.param(prop, spec, params, id=f"{prop.name}-" + spec.name + "".join(f"-{k}={v}" for k, v in params.items()))
    for spec in losskit.specs()
    if spec.kind != "structured"  # drawn from their own examples: test_structured_properties.py
    for prop in applicable(spec)
    for params in settings(spec)
]


@pytest.mark.parametrize("prop,spec,params", CASES)
def test_property(prop, spec, params, rng):
    try:
        prop.check(spec, params, rng)
    except Skip as reason:
        pytest.skip(str(reason))


def test_registry_is_populated():
    names = set(losskit.available(aliases=False))
    required = {  # the foundation's scope
        "mse", "rmse", "mae", "huber", "smooth_l1", "pseudo_huber", "log_cosh", "msle", "rmsle", "mape",
        "pinball", "expectile", "tukey", "cauchy", "welsch", "geman_mcclure", "charbonnier", "barron",
        "poisson_nll", "gamma_deviance", "tweedie_deviance", "gaussian_nll", "crps_gaussian",
        "cross_entropy", "nll", "binary_cross_entropy", "binary_cross_entropy_with_logits", "sigmoid_focal",
        "softmax_focal", "poly1_cross_entropy", "hinge", "squared_hinge", "multi_margin", "hinge_embedding",
        "soft_fbeta", "generalized_cross_entropy", "kl_div", "js_div",
    }
    assert required <= names, sorted(required - names)
    assert "l1" in losskit.available()
    for spec in losskit.specs():
        assert spec.summary and spec.estimates and spec.references, spec.name
        assert spec.kind in ("elementwise", "class_axis", "aggregate", "structured"), spec.name
        assert (spec.example is not None) == (spec.kind == "structured"), spec.name
