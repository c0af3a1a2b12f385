"""Tests of mink_toolkit.verification.categorical."""

from __future__ import annotations

import numpy as np
import pytest

from mink_toolkit import verification


def test_csi_known():
    t = np.array([[2.0, 2.0, 0.0, 0.0]])
    p = np.array([[2.0, 0.0, 2.0, 0.0]])
    assert verification.critical_success_index(p, t, 1.0) == pytest.approx(1 / 3)
    assert verification.critical_success_index(t, t, 1.0) == 1.0
    assert np.isnan(verification.critical_success_index(np.zeros((2, 2)), np.zeros((2, 2)), 1.0))
