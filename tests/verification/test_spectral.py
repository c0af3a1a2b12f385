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


def _pysteps_rapsd(field):
    """RAPSD of one 2-D field as ``pysteps.utils.spectral.rapsd(field, fft_method=np.fft)`` computes it.

    Written from pysteps' algorithm (pysteps is not a dependency): shift the
    2-D periodogram |FFT|²/size so the origin is at the centre, take the
    distance of each pixel from it in pixel units on the centred grid
    (``arrays.compute_centred_coord_array``), round it, and average the
    periodogram over each integer radius r = 0 .. L/2 (pysteps <= 1.4 keeps
    r = L/2 for even L; later versions stop at L/2 - 1).
    """
    m, n = field.shape
    yc = np.arange(-(m // 2), m - m // 2)[:, None]
    xc = np.arange(-(n // 2), n - n // 2)[None, :]
    radius = np.sqrt(xc * xc + yc * yc).round()
    size = max(m, n)
    spectrum = np.fft.fftshift(np.fft.fft2(field))
    spectrum = np.abs(spectrum) ** 2 / spectrum.size
    r_range = np.arange(0, size // 2 + 1) if size % 2 == 0 else np.arange(0, size // 2)
    return np.array([spectrum[radius == r].mean() for r in r_range])


@pytest.mark.parametrize("size", [64, 63])
def test_rapsd_without_window_equals_pysteps_and_is_todays_default(size):
    field = np.random.default_rng(7).gamma(0.5, 2.0, (size, size))
    f, p = verification.rapsd(field)
    ref = _pysteps_rapsd(field)
    common = min(len(p), len(ref) - 1)  # pysteps keeps r = 0 (the mean), we drop it
    np.testing.assert_allclose(p[:common], ref[1 : common + 1], rtol=1e-10)
    np.testing.assert_allclose(f, np.arange(1, size // 2 + 1) / size)
    f_none, p_none = verification.rapsd(field, window=None)
    assert np.array_equal(f_none, f) and np.array_equal(p_none, p)
    # several samples: the mean of the samples' spectra
    stack = np.stack([field, field[::-1].T, 2 * field])
    expected = np.mean([verification.rapsd(s)[1] for s in stack], axis=0)
    np.testing.assert_allclose(verification.rapsd(stack)[1], expected, rtol=1e-12)


def test_hann_window_keeps_the_white_noise_level_and_the_peak():
    noise = np.random.default_rng(0).standard_normal((16, 128, 128))
    _, plain = verification.rapsd(noise)
    _, hann = verification.rapsd(noise, window="hann")
    # power sigma² = 1 per annulus either way: the division by mean(w²) keeps the level
    assert plain.mean() == pytest.approx(1.0, abs=0.02)
    assert hann.mean() == pytest.approx(plain.mean(), rel=0.03)
    # a periodic wave keeps its peak annulus (the window only widens the line to its neighbours)
    x = np.arange(64)
    wave = np.cos(2 * np.pi * 8 * x / 64)[None, :].repeat(48, 0)  # non-square: window (48, 64)
    f, p = verification.rapsd(wave, window="hann")
    assert f[np.argmax(p)] == pytest.approx(8 / 64)


def test_hann_window_removes_the_edge_leakage_of_a_non_periodic_ramp():
    y, x = np.mgrid[0:128, 0:128].astype(float)
    ramp = 0.05 * x + 0.02 * y + np.exp(-((x - 40) ** 2 + (y - 70) ** 2) / (2 * 15.0**2))  # smooth, not periodic
    f, plain = verification.rapsd(ramp)
    _, hann = verification.rapsd(ramp, window="hann")
    high = f > 0.25
    # without a window the jumps at the edges of the periodic extension leak power (~k^-2) to every scale
    assert hann[high].sum() < 1e-3 * plain[high].sum()
    # ... which flatters a blurred prediction: both spectra carry the same leaked power
    rng = np.random.default_rng(1)
    truth = ramp[None] + 0.05 * rng.random((4, 128, 128))
    from scipy import ndimage

    blurred = ndimage.uniform_filter(truth, size=(1, 5, 5), mode="nearest")
    leaky = verification.high_wavenumber_power_ratio(blurred, truth, 0.25)
    honest = verification.high_wavenumber_power_ratio(blurred, truth, 0.25, window="hann")
    assert honest < leaky


def test_window_must_be_none_or_hann(rain):
    with pytest.raises(ValueError, match="window"):
        verification.rapsd(rain, window="hamming")
    with pytest.raises(TypeError, match="window"):
        verification.rapsd(rain, window=np.ones((24, 24)))
    with pytest.raises(ValueError, match="window"):
        verification.spectral_error(rain, rain, 1 / 16, window="Hann")
    with pytest.raises(ValueError, match="window"):
        verification.high_wavenumber_power_ratio(rain, rain, 1 / 16, window="tukey")
    assert verification.high_wavenumber_power_ratio(rain, rain, 1 / 16, window="hann") == pytest.approx(1.0)


def _scale_annuli(field, factor, low, high):
    """``field`` with the Fourier amplitude of the annuli with frequency in (low, high] multiplied by ``factor``."""
    n = field.shape[-1]
    fy = np.fft.fftfreq(n)[:, None]
    fx = np.fft.fftfreq(n)[None, :]
    annulus = np.rint(np.hypot(fx, fy) * n) / n  # the annulus frequency of each coefficient, as rapsd bins it
    gain = np.where((annulus > low) & (annulus <= high), factor, 1.0)
    out = np.fft.ifft2(np.fft.fft2(field) * gain).real
    return out - min(out.min(), 0.0)  # an offset keeps rain rates >= 0 and changes no annulus


def test_spectral_error_with_log_bins():
    rng = np.random.default_rng(4)
    rain = rng.gamma(0.5, 2.0, (4, 64, 64))
    cutoff = 1 / 16
    for window in (None, "hann"):
        assert verification.spectral_error(rain, rain, cutoff, window=window, log_bins=6) == 0.0
        # a constant factor is ln 4 in every bin too
        assert verification.spectral_error(2 * rain, rain, cutoff, window=window, log_bins=6) == pytest.approx(np.log(4))
        assert verification.spectral_error(rain / 2, rain, cutoff, window=window, log_bins=1) == pytest.approx(np.log(4))
    # one bin: |ln| of the ratio of the summed spectra, i.e. of the high-wavenumber power ratio
    blurred = np.stack([np.convolve(r.ravel(), np.ones(3) / 3, mode="same").reshape(64, 64) for r in rain])
    ratio = verification.high_wavenumber_power_ratio(blurred, rain, cutoff, window="hann")
    assert verification.spectral_error(blurred, rain, cutoff, window="hann", log_bins=1) == pytest.approx(abs(np.log(ratio)))
    # by hand: sum each spectrum over the annuli in (e_i, e_i+1], mean |ln ratio| over the non-empty bins
    f, pp = verification.rapsd(blurred)
    _, pt = verification.rapsd(rain)
    edges = np.geomspace(cutoff, 0.5, 7)
    logs = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (f > lo * (1 + 1e-9)) & (f <= hi * (1 + 1e-9))  # an annulus on an edge: the lower bin
        if inside.any():
            logs.append(abs(np.log(pp[inside].sum() / pt[inside].sum())))
    assert len(logs) == 6
    assert verification.spectral_error(blurred, rain, cutoff, log_bins=6) == pytest.approx(np.mean(logs))


def test_log_bins_weigh_every_octave_equally():
    truth = np.random.default_rng(5).gamma(0.5, 2.0, (4, 64, 64))
    f, pt = verification.rapsd(truth)
    # wrong (4x the power) only in the annuli above 0.4 cycles/px, the 2-2.5 px scales
    fine_wrong = _scale_annuli(truth, 2.0, 0.4, 0.5)
    _, pp = verification.rapsd(fine_wrong)
    np.testing.assert_allclose(pp[f <= 0.4], pt[f <= 0.4], rtol=1e-9)
    np.testing.assert_allclose(pp[f > 0.4], 4 * pt[f > 0.4], rtol=1e-9)
    per_annulus = verification.spectral_error(fine_wrong, truth, 1 / 16)
    log_binned = verification.spectral_error(fine_wrong, truth, 1 / 16, log_bins=6)
    # 7 of the 28 annuli above 1/16 are off by ln 4; in log bins only part of the top bin of 6 is
    assert per_annulus == pytest.approx(7 / 28 * np.log(4))
    assert log_binned < np.log(4) / 6 < per_annulus
    # and the reverse: wrong only in the first octave above the cut-off (8-16 px), 4 of 28 annuli
    # but 2 of the 6 bins
    coarse_wrong = _scale_annuli(truth, 2.0, 1 / 16, 1 / 8)
    assert verification.spectral_error(coarse_wrong, truth, 1 / 16) == pytest.approx(4 / 28 * np.log(4))
    assert verification.spectral_error(coarse_wrong, truth, 1 / 16, log_bins=6) == pytest.approx(2 / 6 * np.log(4))
    # octave bins: the annulus k = 1/8 sits on the edge between the first two and belongs to the first
    assert verification.spectral_error(coarse_wrong, truth, 1 / 16, log_bins=3) == pytest.approx(np.log(4) / 3)


def test_log_bins_must_be_a_positive_integer(rain):
    with pytest.raises(ValueError, match="log_bins"):
        verification.spectral_error(rain, rain, 1 / 16, log_bins=0)
    with pytest.raises(TypeError, match="log_bins"):
        verification.spectral_error(rain, rain, 1 / 16, log_bins=2.5)
    with pytest.raises(TypeError, match="log_bins"):
        verification.spectral_error(rain, rain, 1 / 16, log_bins=True)
    assert verification.spectral_error(rain, rain, 1 / 16, log_bins=np.int64(3)) == 0.0
    # many bins on a small field: the empty ones are skipped
    assert verification.spectral_error(2 * rain, rain, 1 / 16, log_bins=50) == pytest.approx(np.log(4))
    assert verification.spectral_error(np.ones_like(rain), rain, 1 / 16, log_bins=4) == float("inf")
    assert np.isnan(verification.spectral_error(rain, np.ones_like(rain), 1 / 16, log_bins=4))
