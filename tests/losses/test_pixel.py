"""Tests of mink_toolkit.losses.pixel: the super-resolution data losses in log1p space."""

from __future__ import annotations

import math

import pytest
import torch

from mink_toolkit.losses import DATA_LOSSES, log_l1, log_mse


def test_log_losses_compare_log1p_of_the_fields():
    pred = torch.tensor([[0.0, math.e - 1.0], [3.0, 1.0]], dtype=torch.float64)
    target = torch.tensor([[math.e - 1.0, math.e - 1.0], [3.0, 0.0]], dtype=torch.float64)
    diff = torch.log1p(pred) - torch.log1p(target)  # -1, 0, 0, log 2
    assert float(log_mse(pred, target)) == pytest.approx(float((diff**2).mean()))
    assert float(log_l1(pred, target)) == pytest.approx((1.0 + math.log(2.0)) / 4)
    assert float(log_mse(target, target)) == 0.0
    assert DATA_LOSSES == {"log_mse": log_mse, "log_l1": log_l1}
    for loss in (log_mse, log_l1):
        with pytest.raises(ValueError, match="differ in shape"):
            loss(pred, target[:1])
