"""Tests of mink_toolkit.metrics on cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import wasserstein_distance

from mink_toolkit import metrics
from mink_toolkit.functionals import minkowski_functionals


def brute_force_fss(pred, target, threshold, n):
    """Roberts & Lean (2008) eqs. 5-7 with explicit loops and zero padding."""
    h, w = target.shape
    r = n // 2
    ip = np.pad(pred >= threshold, r).astype(float)
    it = np.pad(target >= threshold, r).astype(float)
    num = den = 0.0
    for i in range(h):
        for j in range(w):
            fp = ip[i : i + n, j : j + n].mean()
            ft = it[i : i + n, j : j + n].mean()
            num += (fp - ft) ** 2
            den += fp**2 + ft**2
    return 1 - num / den


@pytest.fixture
def rain():
    rng = np.random.default_rng(1)
    return rng.gamma(0.4, 3.0, size=(3, 24, 24))


def test_mae_rmse_known():
    p = np.array([[0.0, 3.0], [1.0, 1.0]])
    t = np.zeros((2, 2))
    assert metrics.mae(p, t) == pytest.approx(5 / 4)
    assert metrics.rmse(p, t) == pytest.approx(np.sqrt(11 / 4))


def test_fss_identical_is_one(rain):
    for n in (1, 3, 9, 27):
        assert metrics.fractions_skill_score(rain, rain, 1.0, n) == pytest.approx(1.0)


def test_fss_disjoint_is_zero_at_pixel_scale():
    t = np.zeros((16, 16))
    p = np.zeros((16, 16))
    t[2:5, 2:5] = 3.0
    p[10:13, 10:13] = 3.0
    assert metrics.fractions_skill_score(p, t, 1.0, 1) == 0.0
    # far apart relative to the window: still disjoint fractions
    assert metrics.fractions_skill_score(p, t, 1.0, 3) == 0.0
    # a window spanning both blobs recovers skill
    assert metrics.fractions_skill_score(p, t, 1.0, 27) > 0.5


def test_fss_single_pixel_shift_known_answer():
    t = np.zeros((9, 9))
    p = np.zeros((9, 9))
    t[4, 4] = 1.0
    p[4, 5] = 1.0
    # window 3: 6 of 9 window positions shared, FSS = 1 - 6/18
    assert metrics.fractions_skill_score(p, t, 0.5, 3) == pytest.approx(2 / 3)


def test_fss_matches_roberts_lean_brute_force(rain):
    p = np.roll(rain[0], 2, axis=1) * 1.3
    for n in (1, 3, 5, 9):
        assert metrics.fractions_skill_score(p, rain[0], 1.0, n) == pytest.approx(brute_force_fss(p, rain[0], 1.0, n))


def test_fss_pooled_over_samples(rain):
    p = np.roll(rain, 1, axis=-1)
    num = den = 0.0
    for k in range(3):
        from scipy import ndimage

        fp = ndimage.uniform_filter((p[k] >= 1).astype(float), 3, mode="constant")
        ft = ndimage.uniform_filter((rain[k] >= 1).astype(float), 3, mode="constant")
        num += ((fp - ft) ** 2).sum()
        den += (fp**2).sum() + (ft**2).sum()
    assert metrics.fractions_skill_score(p, rain, 1.0, 3) == pytest.approx(1 - num / den)


def test_fss_no_events_is_nan_and_bad_window():
    z = np.zeros((8, 8))
    assert np.isnan(metrics.fractions_skill_score(z, z, 1.0, 3))
    with pytest.raises(ValueError, match="window"):
        metrics.fractions_skill_score(z, z, 1.0, 4)
    with pytest.raises(TypeError, match="window"):
        metrics.fractions_skill_score(z, z, 1.0, 3.0)


def test_csi_known():
    t = np.array([[2.0, 2.0, 0.0, 0.0]])
    p = np.array([[2.0, 0.0, 2.0, 0.0]])
    assert metrics.critical_success_index(p, t, 1.0) == pytest.approx(1 / 3)
    assert metrics.critical_success_index(t, t, 1.0) == 1.0
    assert np.isnan(metrics.critical_success_index(np.zeros((2, 2)), np.zeros((2, 2)), 1.0))


def test_rapsd_plane_wave_and_parseval():
    n = 64
    y, x = np.mgrid[0:n, 0:n]
    wave = np.cos(2 * np.pi * (5 * x + 0 * y) / n)
    f, p = metrics.rapsd(wave)
    assert f[np.argmax(p)] == pytest.approx(5 / n)
    assert f[-1] == pytest.approx(0.5)
    # Parseval: sum of the 2-D power equals the variance times the pixel count
    rng = np.random.default_rng(0)
    field = rng.random((n, n))
    fy = np.fft.fftfreq(n)[:, None]
    fx = np.fft.fftfreq(n)[None, :]
    bins = np.rint(np.sqrt(fx**2 + fy**2) * n).astype(int)
    counts = np.bincount(bins.ravel())[1 : n // 2 + 1]
    f, p = metrics.rapsd(field)
    inside = (p * counts).sum()
    total = field.var() * n * n
    assert inside <= total + 1e-9
    assert inside > 0.7 * total  # the corners beyond Nyquist radius hold the rest


def test_high_wavenumber_ratio_blur_below_one(rain):
    from scipy import ndimage

    blurred = ndimage.uniform_filter(rain, size=(1, 5, 5))
    assert metrics.high_wavenumber_power_ratio(rain, rain, 1 / 16) == pytest.approx(1.0)
    assert metrics.high_wavenumber_power_ratio(blurred, rain, 1 / 16) < 0.3
    with pytest.raises(ValueError, match="cutoff"):
        metrics.high_wavenumber_power_ratio(rain, rain, 0.6)


def test_minkowski_errors_against_exact_functionals(rain):
    thresholds = [0.5, 1.0, 4.0]
    p = rain * 0.5
    got = metrics.minkowski_errors(p, rain, thresholds)
    mp = minkowski_functionals(p, thresholds)
    mt = minkowski_functionals(rain, thresholds)

    def comp(m):
        return np.stack([np.log1p(m[..., 0]), np.log1p(m[..., 1]), np.sign(m[..., 2]) * np.log1p(np.abs(m[..., 2]))], -1)

    np.testing.assert_allclose(got, np.abs(comp(mp) - comp(mt)).mean(0))
    assert got.shape == (3, 3)
    assert np.all(metrics.minkowski_errors(rain, rain, thresholds) == 0)


def test_wet_wasserstein_matches_scipy(rain):
    p = rain * 1.5
    expected = wasserstein_distance(p[p >= 0.1], rain[rain >= 0.1])
    assert metrics.wet_wasserstein(p, rain) == pytest.approx(expected)
    assert np.isnan(metrics.wet_wasserstein(np.zeros_like(rain), rain))


def test_grid_alignment_axis_diagonal_isotropic():
    n = 64
    y, x = np.mgrid[0:n, 0:n].astype(float)
    axis = np.sin(2 * np.pi * x / 8) + 1
    diagonal = np.sin(2 * np.pi * (x + y) / 8) + 1
    r2 = (x - n / 2) ** 2 + (y - n / 2) ** 2
    blob = np.exp(-r2 / (2 * 8.0**2))
    assert metrics.gradient_grid_alignment(axis) == pytest.approx(1.0, abs=1e-6)
    assert metrics.gradient_grid_alignment(diagonal) < -0.9
    assert abs(metrics.gradient_grid_alignment(blob)) < 0.05


def test_maximum_ratio():
    t = np.zeros((2, 4, 4))
    t[0, 0, 0] = 2.0
    t[1, 1, 1] = 4.0
    p = t * np.array([1.5, 0.5])[:, None, None]
    assert metrics.maximum_ratio(p, t) == pytest.approx(1.0)
    assert metrics.maximum_ratio(t * 1.3, t) == pytest.approx(1.3)


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
        metrics.mae(pred, np.ones((4, 4)))


def test_superres_scores_schema(rain):
    s = metrics.superres_scores(rain * 0.9, rain, factor=4)
    for key in ("mae", "rmse", "rapsd_high_ratio", "wasserstein_wet", "grid_alignment", "max_ratio"):
        assert isinstance(s[key], float)
    assert set(s["fss"]) == {"u=1", "u=5"}
    assert set(s["fss"]["u=1"]) == {"n=1", "n=3", "n=9", "n=27"}
    assert set(s["minkowski_error"]) == {"area", "perimeter", "euler_characteristic", "mean"}
    assert len(s["minkowski_error_per_threshold"]["area"]) == 21
    assert s["spectral_error"] == pytest.approx(2 * abs(np.log(0.9)))  # 0.81× the power at every k
    assert s["max_ratio"] == pytest.approx(0.9)
    with pytest.raises(ValueError, match="factor"):
        metrics.superres_scores(rain, rain, factor=1)


def test_high_wavenumber_share_is_the_variance_fraction_above_the_cutoff():
    from mink_toolkit.metrics import high_wavenumber_share

    y, x = np.mgrid[0:32, 0:32]
    smooth = np.cos(2 * np.pi * x / 32)
    rough = np.cos(2 * np.pi * 12 * x / 32)
    assert high_wavenumber_share(smooth, 1 / 16) < 1e-12
    assert high_wavenumber_share(rough, 1 / 16) > 1 - 1e-12
    # Equal variance in both: half above the cut-off.
    assert high_wavenumber_share(smooth + rough, 1 / 16) == pytest.approx(0.5)
    # White noise: the share of the (flat) periodogram outside the disc of radius c.
    noise = np.random.default_rng(0).standard_normal((64, 128, 128))
    assert high_wavenumber_share(noise, 0.25) == pytest.approx(1 - np.pi * 0.25**2, abs=0.005)
    assert np.isnan(high_wavenumber_share(np.ones((8, 8)), 0.1))
    with pytest.raises(ValueError, match="cutoff"):
        high_wavenumber_share(smooth, 0.0)


# ------------------------------------------------------------------ spectral error (two-sided)


def test_spectral_error_is_zero_for_the_truth_and_two_sided(rain):
    from scipy import ndimage

    assert metrics.spectral_error(rain, rain, 1 / 16) == 0.0
    # a constant factor c scales the power by c² at every wavenumber: |ln c²| whichever side
    assert metrics.spectral_error(2 * rain, rain, 1 / 16) == pytest.approx(np.log(4))
    assert metrics.spectral_error(rain / 2, rain, 1 / 16) == pytest.approx(np.log(4))
    # one-sided vs two-sided: adding white noise raises the high-k ratio above 1 (looks "sharper"),
    # and the spectral error sees it as an error just like the blur's missing power
    noisy = rain + np.random.default_rng(3).gamma(1.0, 2.0, rain.shape)
    blurred = ndimage.uniform_filter(rain, size=(1, 5, 5))
    assert metrics.high_wavenumber_power_ratio(noisy, rain, 1 / 16) > 1.5
    assert metrics.spectral_error(noisy, rain, 1 / 16) > 0.3
    assert metrics.spectral_error(blurred, rain, 1 / 16) > 1.0
    # the mean |log ratio| by hand
    f, pp = metrics.rapsd(blurred)
    _, pt = metrics.rapsd(rain)
    keep = f > 1 / 16
    assert metrics.spectral_error(blurred, rain, 1 / 16) == pytest.approx(np.mean(np.abs(np.log(pp[keep] / pt[keep]))))
    assert metrics.spectral_error(np.ones_like(rain), rain, 1 / 16) == float("inf")
    assert np.isnan(metrics.spectral_error(rain, np.ones_like(rain), 1 / 16))
    with pytest.raises(ValueError, match="cutoff"):
        metrics.spectral_error(rain, rain, 0.5)


def test_minkowski_error_is_the_log_weighted_functional_distance(rain):
    """One threshold weighting: the MF error is the loss's distance (over log u), normalised."""
    import torch

    from mink_toolkit.losses import functional_distance

    u = [0.3, 1.0, 2.0, 5.0]
    p = rain * 0.6
    got = metrics.minkowski_error(p, rain, u)
    per = metrics.minkowski_errors(p, rain, u)
    w = np.diff(np.log(u))
    trapezoid = np.concatenate([[w[0] / 2], (w[:-1] + w[1:]) / 2, [w[-1] / 2]]) / np.log(u[-1] / u[0])
    np.testing.assert_allclose([got["area"], got["perimeter"], got["euler_characteristic"]], trapezoid @ per)
    assert got["mean"] == pytest.approx(np.mean(trapezoid @ per))
    mp = torch.tensor(minkowski_functionals(p, u))
    mt = torch.tensor(minkowski_functionals(rain, u))
    distance = float(functional_distance(mp, mt, u))  # mean over samples of the sum over functionals
    assert got["mean"] == pytest.approx(distance / np.log(u[-1] / u[0]) / 3)
    assert metrics.minkowski_error(rain, rain, u)["mean"] == 0.0


# ------------------------------------------------------------------ ensembles


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
    assert metrics.crps_ensemble(members, truth, fair=False) == pytest.approx(np.mean(plain), rel=1e-4)
    # fair = plain + sum_ij |xi - xj| (1/(2M²) - 1/(2M(M-1))), by brute force over pairs
    m = members.shape[0]
    pairs = np.abs(members[:, None] - members[None]).sum((0, 1))
    fair = np.array(plain) + pairs * (1 / (2 * m * m) - 1 / (2 * m * (m - 1)))
    assert metrics.crps_ensemble(members, truth) == pytest.approx(fair.mean(), rel=1e-4)
    # Gneiting & Raftery (2007) eq. 5: CRPS(N(0,1), 0) = 2 phi(0) - 1/sqrt(pi) = 0.23369...
    draws = rng.standard_normal((4, 200_000))
    expected = 2 / np.sqrt(2 * np.pi) - 1 / np.sqrt(np.pi)
    assert metrics.crps_ensemble(draws, np.zeros(200_000)) == pytest.approx(expected, abs=3e-3)
    # a perfect two-member ensemble of the truth scores 0; the fair score of identical members is their MAE
    assert metrics.crps_ensemble(np.stack([truth, truth]), truth) == 0.0
    assert metrics.crps_ensemble(np.stack([truth + 1, truth + 1]), truth) == pytest.approx(1.0)


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
    assert metrics.energy_score(members, truth) == pytest.approx(np.mean(expected))
    one = members[:, :, :1, :1]
    assert metrics.energy_score(one, truth[:, :1, :1]) == pytest.approx(metrics.crps_ensemble(one, truth[:, :1, :1]))
    with pytest.raises(ValueError, match="field"):
        metrics.energy_score(members[:, 0, 0], truth[0, 0])


def test_spread_skill_and_rank_histogram_of_reliable_and_overconfident_ensembles():
    rng = np.random.default_rng(2)
    truth = rng.standard_normal((50, 40, 40))
    reliable = rng.standard_normal((8, 50, 40, 40))  # members and truth from the same distribution
    assert metrics.spread_skill_ratio(reliable, truth) == pytest.approx(1.0, abs=0.02)
    hist = metrics.rank_histogram(reliable, truth)
    assert hist.shape == (9,) and hist.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(hist, 1 / 9, atol=0.005)
    narrow = 0.3 * reliable
    assert metrics.spread_skill_ratio(narrow, truth) < 0.4
    u_shape = metrics.rank_histogram(narrow, truth)
    assert u_shape[0] > 0.25 and u_shape[-1] > 0.25 and u_shape[4] < 0.05
    # ties (dry truth, dry members) are spread uniformly over the tied ranks
    dry = metrics.rank_histogram(np.zeros((3, 100, 100)), np.zeros((100, 100)), seed=1)
    np.testing.assert_allclose(dry, 0.25, atol=0.01)
    assert np.array_equal(metrics.rank_histogram(narrow, truth, seed=4), metrics.rank_histogram(narrow, truth, seed=4))
    # drizzle below the reporting precision: ranked above a dry truth, unless compared at that precision
    drizzle = np.full((3, 50, 50), 0.003)
    assert metrics.rank_histogram(drizzle, np.zeros((50, 50)))[0] == 1.0
    np.testing.assert_allclose(metrics.rank_histogram(drizzle, np.zeros((50, 50)), precision=0.01), 0.25, atol=0.03)
    with pytest.raises(ValueError, match="precision"):
        metrics.rank_histogram(drizzle, np.zeros((50, 50)), precision=0.0)


def test_ensemble_metrics_bad_input():
    with pytest.raises(ValueError, match="at least 2 members"):
        metrics.crps_ensemble(np.ones((1, 4, 4)), np.ones((4, 4)))
    with pytest.raises(ValueError, match=r"\(M, \*truth.shape\)"):
        metrics.spread_skill_ratio(np.ones((3, 4, 4)), np.ones((5, 5)))
    with pytest.raises(ValueError, match="NaN"):
        metrics.rank_histogram(np.full((3, 2, 2), np.nan), np.ones((2, 2)))
    with pytest.raises(TypeError, match="real numbers"):
        metrics.crps_ensemble(np.ones((3, 2), dtype=bool), np.ones(2))


def test_bootstrap_interval():
    rng = np.random.default_rng(0)
    x = rng.normal(5.0, 1.0, size=400)
    b = metrics.bootstrap_interval(np.mean, x, n_resamples=300)
    assert b["value"] == pytest.approx(x.mean())
    assert b["low"] < x.mean() < b["high"]
    assert b["std"] == pytest.approx(1 / np.sqrt(400), rel=0.25)  # standard error of the mean
    field = rng.gamma(0.5, 2.0, (6, 16, 16))
    two = metrics.bootstrap_interval(metrics.maximum_ratio, field, field, n_resamples=20)
    assert two["low"] == two["high"] == 1.0
    with pytest.raises(ValueError, match="case axis"):
        metrics.bootstrap_interval(np.mean, x, x[:10])
    with pytest.raises(ValueError, match="level"):
        metrics.bootstrap_interval(np.mean, x, level=1.5)
    with pytest.raises(TypeError, match="callable"):
        metrics.bootstrap_interval(3, x)
