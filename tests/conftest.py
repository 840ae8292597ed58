import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def rng():
    return np.random.default_rng(20261122)


def pytest_addoption(parser):
    parser.addoption("--fuzz-all", action="store_true", default=False,
                     help="run every corrupted call of tests/test_hostile_inputs.py, not the sample "
                          "(LOSSKIT_FUZZ=all does the same)")
