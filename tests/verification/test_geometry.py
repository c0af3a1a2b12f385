"""Tests of mink_toolkit.verification.geometry: exact Minkowski-functional errors."""

from __future__ import annotations

import numpy as np
import pytest

from mink_toolkit import verification
from mink_toolkit.functionals import minkowski_functionals


def test_minkowski_errors_against_exact_functionals(rain):
    thresholds = [0.5, 1.0, 4.0]
    p = rain * 0.5
    got = verification.minkowski_errors(p, rain, thresholds)
    mp = minkowski_functionals(p, thresholds)
    mt = minkowski_functionals(rain, thresholds)

    def comp(m):
        return np.stack([np.log1p(m[..., 0]), np.log1p(m[..., 1]), np.sign(m[..., 2]) * np.log1p(np.abs(m[..., 2]))], -1)

    np.testing.assert_allclose(got, np.abs(comp(mp) - comp(mt)).mean(0))
    assert got.shape == (3, 3)
    assert np.all(verification.minkowski_errors(rain, rain, thresholds) == 0)


def test_minkowski_error_is_the_log_weighted_functional_distance(rain):
    """One threshold weighting: the MF error is the loss's distance (over log u), normalised."""
    import torch

    from mink_toolkit.losses import functional_distance

    u = [0.3, 1.0, 2.0, 5.0]
    p = rain * 0.6
    got = verification.minkowski_error(p, rain, u)
    per = verification.minkowski_errors(p, rain, u)
    w = np.diff(np.log(u))
    trapezoid = np.concatenate([[w[0] / 2], (w[:-1] + w[1:]) / 2, [w[-1] / 2]]) / np.log(u[-1] / u[0])
    np.testing.assert_allclose([got["area"], got["perimeter"], got["euler_characteristic"]], trapezoid @ per)
    assert got["mean"] == pytest.approx(np.mean(trapezoid @ per))
    mp = torch.tensor(minkowski_functionals(p, u))
    mt = torch.tensor(minkowski_functionals(rain, u))
    distance = float(functional_distance(mp, mt, u))  # mean over samples of the sum over functionals
    assert got["mean"] == pytest.approx(distance / np.log(u[-1] / u[0]) / 3)
    assert verification.minkowski_error(rain, rain, u)["mean"] == 0.0
