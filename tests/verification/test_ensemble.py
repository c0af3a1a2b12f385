"""Tests of mink_toolkit.verification.ensemble: CRPS, energy score, spread/skill, rank histogram."""

from __future__ import annotations

import numpy as np
import pytest

from mink_toolkit import verification


def _crps_by_integration(members, y):
    """CRPS of the members' empirical CDF by numerical integration of (F(x) - 1[x >= y])² (plain CRPS)."""
    grid = np.linspace(min(members.min(), y) - 1, max(members.max(), y) + 1, 200_001)
    cdf = (members[:, None] <= grid[None]).mean(0)
    step = (grid >= y).astype(float)
    return np.trapezoid((cdf - step) ** 2, grid)


def test_crps_against_integration_and_the_gaussian_closed_form():
    rng = np.random.default_rng(0)
    members = rng.gamma(0.8, 2.0, size=(5, 3))
    truth = np.array([0.0, 1.3, 7.0])
    plain = [_crps_by_integration(members[:, k], truth[k]) for k in range(3)]
    assert verification.crps_ensemble(members, truth, fair=False) == pytest.approx(np.mean(plain), rel=1e-4)
    # fair = plain + sum_ij |xi - xj| (1/(2M²) - 1/(2M(M-1))), by brute force over pairs
    m = members.shape[0]
    pairs = np.abs(members[:, None] - members[None]).sum((0, 1))
    fair = np.array(plain) + pairs * (1 / (2 * m * m) - 1 / (2 * m * (m - 1)))
    assert verification.crps_ensemble(members, truth) == pytest.approx(fair.mean(), rel=1e-4)
    # Gneiting & Raftery (2007) eq. 5: CRPS(N(0,1), 0) = 2 phi(0) - 1/sqrt(pi) = 0.23369...
    draws = rng.standard_normal((4, 200_000))
    expected = 2 / np.sqrt(2 * np.pi) - 1 / np.sqrt(np.pi)
    assert verification.crps_ensemble(draws, np.zeros(200_000)) == pytest.approx(expected, abs=3e-3)
    # a perfect two-member ensemble of the truth scores 0; the fair score of identical members is their MAE
    assert verification.crps_ensemble(np.stack([truth, truth]), truth) == 0.0
    assert verification.crps_ensemble(np.stack([truth + 1, truth + 1]), truth) == pytest.approx(1.0)


def test_energy_score_brute_force_and_one_pixel_is_the_crps():
    rng = np.random.default_rng(1)
    members = rng.gamma(0.5, 2.0, size=(4, 3, 5, 6))
    truth = rng.gamma(0.5, 2.0, size=(3, 5, 6))
    expected = []
    for k in range(3):
        x, y = members[:, k].reshape(4, -1), truth[k].ravel()
        skill = np.mean([np.linalg.norm(xi - y) for xi in x])
        spread = sum(np.linalg.norm(xi - xj) for xi in x for xj in x) / (2 * 4 * 3)
        expected.append(skill - spread)
    assert verification.energy_score(members, truth) == pytest.approx(np.mean(expected))
    one = members[:, :, :1, :1]
    assert verification.energy_score(one, truth[:, :1, :1]) == pytest.approx(verification.crps_ensemble(one, truth[:, :1, :1]))
    with pytest.raises(ValueError, match="field"):
        verification.energy_score(members[:, 0, 0], truth[0, 0])


def test_spread_skill_and_rank_histogram_of_reliable_and_overconfident_ensembles():
    rng = np.random.default_rng(2)
    truth = rng.standard_normal((50, 40, 40))
    reliable = rng.standard_normal((8, 50, 40, 40))  # members and truth from the same distribution
    assert verification.spread_skill_ratio(reliable, truth) == pytest.approx(1.0, abs=0.02)
    hist = verification.rank_histogram(reliable, truth)
    assert hist.shape == (9,) and hist.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(hist, 1 / 9, atol=0.005)
    narrow = 0.3 * reliable
    assert verification.spread_skill_ratio(narrow, truth) < 0.4
    u_shape = verification.rank_histogram(narrow, truth)
    assert u_shape[0] > 0.25 and u_shape[-1] > 0.25 and u_shape[4] < 0.05
    # ties (dry truth, dry members) are spread uniformly over the tied ranks
    dry = verification.rank_histogram(np.zeros((3, 100, 100)), np.zeros((100, 100)), seed=1)
    np.testing.assert_allclose(dry, 0.25, atol=0.01)
    assert np.array_equal(verification.rank_histogram(narrow, truth, seed=4), verification.rank_histogram(narrow, truth, seed=4))
    # drizzle below the reporting precision: ranked above a dry truth, unless compared at that precision
    drizzle = np.full((3, 50, 50), 0.003)
    assert verification.rank_histogram(drizzle, np.zeros((50, 50)))[0] == 1.0
    np.testing.assert_allclose(verification.rank_histogram(drizzle, np.zeros((50, 50)), precision=0.01), 0.25, atol=0.03)
    with pytest.raises(ValueError, match="precision"):
        verification.rank_histogram(drizzle, np.zeros((50, 50)), precision=0.0)


def test_ensemble_metrics_bad_input():
    with pytest.raises(ValueError, match="at least 2 members"):
        verification.crps_ensemble(np.ones((1, 4, 4)), np.ones((4, 4)))
    with pytest.raises(ValueError, match=r"\(M, \*truth.shape\)"):
        verification.spread_skill_ratio(np.ones((3, 4, 4)), np.ones((5, 5)))
    with pytest.raises(ValueError, match="NaN"):
        verification.rank_histogram(np.full((3, 2, 2), np.nan), np.ones((2, 2)))
    with pytest.raises(TypeError, match="real numbers"):
        verification.crps_ensemble(np.ones((3, 2), dtype=bool), np.ones(2))


def _shared_wet_area(rng, members=6, shape=(40, 60, 60)):
    """Truth and a reliable ensemble that share the wet area (as members of one coarse input largely do).

    40 % of the pixels rain (0.5 mm/h and more) in the truth and in every member, the rest is dry
    everywhere; where it rains, members and truth are independent draws of the same distribution.
    """
    wet = rng.random(shape) < 0.4
    truth = np.where(wet, 0.5 + rng.gamma(0.7, 3.0, shape), 0.0)
    ensemble = np.where(wet[None], 0.5 + rng.gamma(0.7, 3.0, (members, *shape)), 0.0)
    return truth, ensemble


def test_rank_histogram_wet_shows_an_ensemble_too_dry_where_it_rains():
    rng = np.random.default_rng(11)
    truth, reliable = _shared_wet_area(rng)
    flat = 1 / 7
    np.testing.assert_allclose(verification.rank_histogram_wet(reliable, truth, precision=0.01), flat, atol=0.01)
    np.testing.assert_allclose(verification.rank_histogram(reliable, truth, precision=0.01), flat, atol=0.01)
    # too dry where it rains (0.3x): the truth lies above every member at most wet pixels
    too_dry = 0.3 * reliable
    wet_hist = verification.rank_histogram_wet(too_dry, truth, precision=0.01)
    all_hist = verification.rank_histogram(too_dry, truth, precision=0.01)
    assert wet_hist.shape == (7,) and wet_hist.sum() == pytest.approx(1.0)
    assert wet_hist[-1] > 0.45 and wet_hist[:3].sum() < 0.1  # measured: 0.52 and 0.06
    # over all pixels the 60 % dry ties are spread evenly over the bins and dilute it (measured: 0.29, 0.28)
    assert all_hist[-1] < 0.35 and all_hist[:3].sum() > 0.25
    assert np.abs(all_hist - flat).max() < 0.5 * np.abs(wet_hist - flat).max()


def test_rank_histogram_wet_is_rank_histogram_on_the_wet_pixels():
    rng = np.random.default_rng(12)
    truth, ensemble = _shared_wet_area(rng, members=4, shape=(5, 30, 30))
    ensemble = 0.8 * ensemble + 0.004  # drizzle below the precision where the truth is dry
    # a threshold at or below every truth value keeps every pixel: the same ranks and ties, same seed
    for precision in (None, 0.01):
        np.testing.assert_array_equal(
            verification.rank_histogram_wet(ensemble, truth, threshold=0.0, precision=precision, seed=3),
            verification.rank_histogram(ensemble, truth, precision=precision, seed=3))
    # the wet pixels only, by hand: the truth >= threshold, ranked without ties (continuous draws)
    wet = truth >= 0.1
    below = (ensemble < truth[None]).sum(0)[wet]
    expected = np.bincount(below, minlength=5) / wet.sum()
    np.testing.assert_allclose(verification.rank_histogram_wet(ensemble, truth), expected)


def test_rank_histogram_wet_of_independent_rain_areas_leans_high():
    # the pitfall of stratifying by the observation (Bellier et al. 2017): members drawn from the truth's own
    # distribution, rain areas independent of the truth's, are reliable over all pixels, yet where the truth
    # rains most members are dry and the truth ranks high
    rng = np.random.default_rng(13)

    def draw(shape):
        return np.where(rng.random(shape) < 0.6, 0.0, rng.gamma(0.7, 2.0, shape))

    truth, members = draw((100, 100)), draw((4, 100, 100))
    np.testing.assert_allclose(verification.rank_histogram(members, truth, precision=0.01), 0.2, atol=0.02)
    assert verification.rank_histogram_wet(members, truth, precision=0.01)[-1] > 0.4


def test_rank_histogram_wet_bad_threshold():
    members, truth = np.ones((3, 4, 4)), np.full((4, 4), 0.05)
    with pytest.raises(ValueError, match="threshold"):
        verification.rank_histogram_wet(members, truth)  # 0.05 < 0.1 everywhere: nothing to rank
    with pytest.raises(ValueError, match="threshold"):
        verification.rank_histogram_wet(members, truth, threshold=-0.1)
    with pytest.raises(ValueError, match="threshold"):
        verification.rank_histogram_wet(members, truth, threshold=float("nan"))
    with pytest.raises(ValueError, match="threshold"):
        verification.rank_histogram_wet(members, truth, threshold=float("inf"))
    with pytest.raises(TypeError, match="threshold"):
        verification.rank_histogram_wet(members, truth, threshold="0.1")
    with pytest.raises(ValueError, match="precision"):
        verification.rank_histogram_wet(members, truth, threshold=0.0, precision=-1.0)
    with pytest.raises(ValueError, match="at least 2 members"):
        verification.rank_histogram_wet(np.ones((1, 4, 4)), truth, threshold=0.0)
    assert verification.rank_histogram_wet(members, truth, threshold=0.05).tolist() == [1.0, 0.0, 0.0, 0.0]
