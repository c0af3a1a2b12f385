"""Fixtures of the super-resolution tests: one torch thread, a small gamma-distributed rain field."""

from __future__ import annotations

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.fixture
def rain():
    rng = np.random.default_rng(0)
    return rng.gamma(0.5, 2.0, size=(6, 32, 32))
