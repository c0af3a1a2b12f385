"""Tests of mink_toolkit.losses.distance: the one distance between functionals."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mink_toolkit.losses import functional_distance


def test_functional_distance_integrates_over_log_thresholds():
    pred = torch.zeros(2, 3, 3, dtype=torch.float64)
    target = torch.zeros(2, 3, 3, dtype=torch.float64)
    target[..., 0] = np.e - 1  # log1p -> 1 on area only
    d = functional_distance(pred, target, [0.5, 1.0, 4.0], reduction="none")
    torch.testing.assert_close(d, torch.full((2,), np.log(8.0), dtype=torch.float64))  # ∫ 1 d(ln u) = ln 8
    d_w = functional_distance(pred, target, [0.5, 1.0, 4.0], weights=(2.0, 1.0, 1.0))
    assert float(d_w) == pytest.approx(2 * np.log(8.0))
    # each decade weighs the same: a difference only at 0.1 mm/h counts as much as one only at 10 mm/h
    u = [0.1, 1.0, 10.0]
    low, high = target.clone(), target.clone()
    low[:, 1:, 0] = 0.0
    high[:, :2, 0] = 0.0
    assert float(functional_distance(pred, low, u)) == pytest.approx(float(functional_distance(pred, high, u)))
    with pytest.raises(ValueError, match="thresholds has 2 entries"):
        functional_distance(pred, target, [1.0, 2.0])


def test_functional_distance_rejects_an_integration_axis_passed_as_thresholds():
    """log10 u has values <= 0: not thresholds in mm/h, so a clear error, not a silent other integral."""
    pred = torch.zeros(1, 3, 3, dtype=torch.float64)
    target = torch.zeros(1, 3, 3, dtype=torch.float64)
    target[..., 0] = np.e - 1
    u = np.array([0.1, 1.0, 10.0])
    with pytest.raises(ValueError, match="thresholds must be finite and > 0"):
        functional_distance(pred, target, np.log10(u))
    assert float(functional_distance(pred, target, u)) == pytest.approx(2.0 * np.log(10.0))  # ∫ 1 d(ln u)
