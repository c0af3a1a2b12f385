"""Tests of mink_toolkit.verification.spectral: RAPSD, power above a cut-off, grid alignment."""

from __future__ import annotations

import numpy as np
import pytest

from mink_toolkit import verification


def test_rapsd_plane_wave_and_parseval():
    n = 64
    y, x = np.mgrid[0:n, 0:n]
    wave = np.cos(2 * np.pi * (5 * x + 0 * y) / n)
    f, p = verification.rapsd(wave)
    assert f[np.argmax(p)] == pytest.approx(5 / n)
    assert f[-1] == pytest.approx(0.5)
    # Parseval: sum of the 2-D power equals the variance times the pixel count
    rng = np.random.default_rng(0)
    field = rng.random((n, n))
    fy = np.fft.fftfreq(n)[:, None]
    fx = np.fft.fftfreq(n)[None, :]
    bins = np.rint(np.sqrt(fx**2 + fy**2) * n).astype(int)
    counts = np.bincount(bins.ravel())[1 : n // 2 + 1]
    f, p = verification.rapsd(field)
    inside = (p * counts).sum()
    total = field.var() * n * n
    assert inside <= total + 1e-9
    assert inside > 0.7 * total  # the corners beyond Nyquist radius hold the rest


def test_high_wavenumber_ratio_blur_below_one(rain):
    from scipy import ndimage

    blurred = ndimage.uniform_filter(rain, size=(1, 5, 5))
    assert verification.high_wavenumber_power_ratio(rain, rain, 1 / 16) == pytest.approx(1.0)
    assert verification.high_wavenumber_power_ratio(blurred, rain, 1 / 16) < 0.3
    with pytest.raises(ValueError, match="cutoff"):
        verification.high_wavenumber_power_ratio(rain, rain, 0.6)


def test_grid_alignment_axis_diagonal_isotropic():
    n = 64
    y, x = np.mgrid[0:n, 0:n].astype(float)
    axis = np.sin(2 * np.pi * x / 8) + 1
    diagonal = np.sin(2 * np.pi * (x + y) / 8) + 1
    r2 = (x - n / 2) ** 2 + (y - n / 2) ** 2
    blob = np.exp(-r2 / (2 * 8.0**2))
    assert verification.gradient_grid_alignment(axis) == pytest.approx(1.0, abs=1e-6)
    assert verification.gradient_grid_alignment(diagonal) < -0.9
    assert abs(verification.gradient_grid_alignment(blob)) < 0.05


def test_high_wavenumber_share_is_the_variance_fraction_above_the_cutoff():
    from mink_toolkit.verification import high_wavenumber_share

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


def test_spectral_error_is_zero_for_the_truth_and_two_sided(rain):
    from scipy import ndimage

    assert verification.spectral_error(rain, rain, 1 / 16) == 0.0
    # a constant factor c scales the power by c² at every wavenumber: |ln c²| whichever side
    assert verification.spectral_error(2 * rain, rain, 1 / 16) == pytest.approx(np.log(4))
    assert verification.spectral_error(rain / 2, rain, 1 / 16) == pytest.approx(np.log(4))
    # one-sided vs two-sided: adding white noise raises the high-k ratio above 1 (looks "sharper"),
    # and the spectral error sees it as an error just like the blur's missing power
    noisy = rain + np.random.default_rng(3).gamma(1.0, 2.0, rain.shape)
    blurred = ndimage.uniform_filter(rain, size=(1, 5, 5))
    assert verification.high_wavenumber_power_ratio(noisy, rain, 1 / 16) > 1.5
    assert verification.spectral_error(noisy, rain, 1 / 16) > 0.3
    assert verification.spectral_error(blurred, rain, 1 / 16) > 1.0
    # the mean |log ratio| by hand
    f, pp = verification.rapsd(blurred)
    _, pt = verification.rapsd(rain)
    keep = f > 1 / 16
    assert verification.spectral_error(blurred, rain, 1 / 16) == pytest.approx(np.mean(np.abs(np.log(pp[keep] / pt[keep]))))
    assert verification.spectral_error(np.ones_like(rain), rain, 1 / 16) == float("inf")
    assert np.isnan(verification.spectral_error(rain, np.ones_like(rain), 1 / 16))
    with pytest.raises(ValueError, match="cutoff"):
        verification.spectral_error(rain, rain, 0.5)
