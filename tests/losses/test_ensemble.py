"""Tests of mink_toolkit.losses.ensemble: the generator's fair-CRPS loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mink_toolkit.losses import fair_crps_loss
from mink_toolkit.verification import crps_ensemble, crps_pixels


def test_fair_crps_loss_matches_the_metric_and_is_multiscale():
    rng = np.random.default_rng(5)
    members = torch.as_tensor(rng.gamma(0.6, 2.0, (3, 4, 8, 8)))
    target = torch.as_tensor(rng.gamma(0.6, 2.0, (3, 1, 8, 8)))
    # the same fair CRPS as the numpy metric, in log1p space by default
    loss = fair_crps_loss(members, target)
    ref = crps_ensemble(np.log1p(members.numpy()).transpose(1, 0, 2, 3), np.log1p(target.numpy()[:, 0]))
    assert float(loss) == pytest.approx(ref)
    lin = fair_crps_loss(members, target, space="linear")
    assert float(lin) == pytest.approx(crps_ensemble(members.numpy().transpose(1, 0, 2, 3), target.numpy()[:, 0]))
    # multi-scale: the mean of the scores of s × s block means
    pooled = lambda x, s: torch.nn.functional.avg_pool2d(x, s)  # noqa: E731
    both = fair_crps_loss(members, target, scales=(1, 4))
    expected = (float(loss) + float(fair_crps_loss(pooled(members, 4), pooled(target, 4)))) / 2
    assert float(both) == pytest.approx(expected)
    with pytest.raises(ValueError, match="M >= 2"):
        fair_crps_loss(members[:, :1], target)
    with pytest.raises(ValueError, match="target"):
        fair_crps_loss(members, target[:2])


def test_the_loss_wraps_the_one_crps_formula_and_gradients_flow():
    """One CRPS estimator: the loss is crps_pixels on tensors, the metric crps_pixels on arrays."""
    rng = np.random.default_rng(6)
    members = torch.as_tensor(rng.gamma(0.6, 2.0, (2, 5, 6, 6)), dtype=torch.float64).requires_grad_(True)
    target = torch.as_tensor(rng.gamma(0.6, 2.0, (2, 1, 6, 6)), dtype=torch.float64)
    loss = fair_crps_loss(members, target, space="linear")
    metric = crps_ensemble(members.detach().numpy().transpose(1, 0, 2, 3), target.numpy()[:, 0])
    assert float(loss.detach()) == pytest.approx(metric, rel=1e-12)
    per_pixel = crps_pixels(members, target, axis=1)  # a tensor in, a tensor out, with its graph
    assert isinstance(per_pixel, torch.Tensor) and per_pixel.shape == (2, 6, 6)
    np.testing.assert_allclose(per_pixel.detach().numpy(),
                               crps_pixels(members.detach().numpy(), target.numpy(), axis=1), rtol=1e-12)
    (grad,) = torch.autograd.grad(loss, members)
    assert torch.isfinite(grad).all() and float(grad.abs().sum()) > 0
    # float32, the training precision: the same formula, within float32 rounding
    loss32 = fair_crps_loss(members.detach().float(), target.float(), space="linear")
    assert float(loss32) == pytest.approx(metric, rel=1e-5)
