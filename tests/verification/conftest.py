"""Fixtures of the verification tests."""

import numpy as np
import pytest


@pytest.fixture
def rain():
    rng = np.random.default_rng(1)
    return rng.gamma(0.4, 3.0, size=(3, 24, 24))
