"""Tests of mink_toolkit.verification.continuous on cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import wasserstein_distance

from mink_toolkit import verification


def test_mae_rmse_known():
    p = np.array([[0.0, 3.0], [1.0, 1.0]])
    t = np.zeros((2, 2))
    assert verification.mae(p, t) == pytest.approx(5 / 4)
    assert verification.rmse(p, t) == pytest.approx(np.sqrt(11 / 4))


def test_wet_wasserstein_matches_scipy(rain):
    p = rain * 1.5
    expected = wasserstein_distance(p[p >= 0.1], rain[rain >= 0.1])
    assert verification.wet_wasserstein(p, rain) == pytest.approx(expected)
    assert np.isnan(verification.wet_wasserstein(np.zeros_like(rain), rain))


def test_maximum_ratio():
    t = np.zeros((2, 4, 4))
    t[0, 0, 0] = 2.0
    t[1, 1, 1] = 4.0
    p = t * np.array([1.5, 0.5])[:, None, None]
    assert verification.maximum_ratio(p, t) == pytest.approx(1.0)
    assert verification.maximum_ratio(t * 1.3, t) == pytest.approx(1.3)


@pytest.mark.parametrize(
    "pred, match, exc",
    [
        (np.full((4, 4), np.nan), "NaN", ValueError),
        (-np.ones((4, 4)), "negative", ValueError),
        (np.ones((4, 5)), "shape", ValueError),
        (np.ones(4), "2 dims", ValueError),
        (np.ones((4, 4), dtype=complex), "real numeric", TypeError),
    ],
)
def test_bad_input(pred, match, exc):
    with pytest.raises(exc, match=match):
        verification.mae(pred, np.ones((4, 4)))
