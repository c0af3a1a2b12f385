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
