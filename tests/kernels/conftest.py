"""The kernel tests check the fused kernels at small sizes too: below a
kernel's crossover (kernels/elementwise.py MIN_CPU_ELEMENTS) the loss would
take the reference math, so these tests lower every crossover to 0.
test_kernels_elementwise.py's crossover test restores the real values."""

import pytest


@pytest.fixture(autouse=True)
def kernels_at_every_size(monkeypatch):
    from losskit.kernels import elementwise

    real = dict(elementwise.MIN_CPU_ELEMENTS)
    monkeypatch.setattr(elementwise, "MIN_CPU_ELEMENTS", {})
    return real
