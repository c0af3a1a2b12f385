"""Tests of mink_toolkit.verification.diagnostics: bootstrap, noise floors, gaming verdicts, all scores."""

from __future__ import annotations

import numpy as np
import pytest

from mink_toolkit import verification


def test_bootstrap_interval():
    rng = np.random.default_rng(0)
    x = rng.normal(5.0, 1.0, size=400)
    b = verification.bootstrap_interval(np.mean, x, n_resamples=300)
    assert b["value"] == pytest.approx(x.mean())
    assert b["low"] < x.mean() < b["high"]
    assert b["std"] == pytest.approx(1 / np.sqrt(400), rel=0.25)  # standard error of the mean
    field = rng.gamma(0.5, 2.0, (6, 16, 16))
    two = verification.bootstrap_interval(verification.maximum_ratio, field, field, n_resamples=20)
    assert two["low"] == two["high"] == 1.0
    with pytest.raises(ValueError, match="case axis"):
        verification.bootstrap_interval(np.mean, x, x[:10])
    with pytest.raises(ValueError, match="level"):
        verification.bootstrap_interval(np.mean, x, level=1.5)
    with pytest.raises(TypeError, match="callable"):
        verification.bootstrap_interval(3, x)


def test_bootstrap_interval_resamples_the_arrays_together():
    """A paired difference: the same cases drawn in every array, so only the case-to-case difference spreads."""
    rng = np.random.default_rng(1)
    x = rng.normal(0.0, 1.0, size=200)
    y = x + rng.normal(0.5, 0.1, size=200)  # y - x: mean 0.5, sd 0.1 per case
    diff = verification.bootstrap_interval(lambda a, b: float(np.mean(b - a)), x, y, n_resamples=1000, seed=3)
    separate = verification.bootstrap_interval(np.mean, y, n_resamples=1000, seed=3)
    # Paired: the standard error of the mean difference, 0.1 / sqrt(200), not that of either mean (1 / sqrt(200)).
    assert diff["std"] == pytest.approx(0.1 / np.sqrt(200), rel=0.2)
    assert separate["std"] > 5 * diff["std"]
    assert diff["low"] < np.mean(y - x) < diff["high"]
    # a 95 % percentile interval of a mean spans about 2 x 1.96 standard errors
    assert diff["high"] - diff["low"] == pytest.approx(2 * 1.96 * 0.1 / np.sqrt(200), rel=0.2)


def test_superres_scores_schema(rain):
    s = verification.superres_scores(rain * 0.9, rain, factor=4)
    for key in ("mae", "rmse", "rapsd_high_ratio", "wasserstein_wet", "grid_alignment", "max_ratio"):
        assert isinstance(s[key], float)
    assert set(s["fss"]) == {"u=1", "u=5"}
    assert set(s["fss"]["u=1"]) == {"n=1", "n=3", "n=9", "n=27"}
    assert set(s["minkowski_error"]) == {"area", "perimeter", "euler_characteristic", "mean"}
    assert len(s["minkowski_error_per_threshold"]["area"]) == 21
    assert s["spectral_error"] == pytest.approx(2 * abs(np.log(0.9)))  # 0.81× the power at every k
    assert s["max_ratio"] == pytest.approx(0.9)
    with pytest.raises(ValueError, match="factor"):
        verification.superres_scores(rain, rain, factor=1)


def test_superres_scores_spectra_are_windowed_and_log_binned():
    from scipy import ndimage

    assert verification.SPECTRAL_WINDOW == "hann" and verification.SPECTRAL_LOG_BINS == 6
    rng = np.random.default_rng(2)
    truth = rng.gamma(0.4, 3.0, size=(3, 64, 64))
    blurred = ndimage.uniform_filter(truth, size=(1, 3, 3))
    s = verification.superres_scores(blurred, truth, factor=4)
    assert s["rapsd_high_ratio"] == verification.high_wavenumber_power_ratio(blurred, truth, 1 / 8, window="hann")
    assert s["spectral_error"] == verification.spectral_error(blurred, truth, 1 / 8, window="hann", log_bins=6)
    assert s["spectral_error"] != verification.spectral_error(blurred, truth, 1 / 8)


def test_noise_floors_bound_the_truth_and_bicubic_and_verdicts_need_most_seeds(rain):
    truth = rain
    bicubic = rain * 0.9
    floors = verification.noise_floors(truth, bicubic, n_resamples=50)
    for diag in verification.GAMING_DIAGNOSTICS:
        entry = floors[diag]
        assert entry["floor"] == max(entry["truth"]["high"], entry["bicubic"]["high"])
        assert entry["truth"]["low"] <= entry["truth"]["value"] <= entry["truth"]["high"]
    assert floors["max_ratio"]["truth"]["value"] == pytest.approx(1.0)
    above = {d: floors[d]["floor"] + 0.1 for d in verification.GAMING_DIAGNOSTICS}
    below = {d: floors[d]["floor"] - 0.1 for d in verification.GAMING_DIAGNOSTICS}
    models = {
        "bicubic": {"deterministic": True, "metrics": {"per_seed": [above]}},
        "gamer": {"metrics": {"per_seed": [above, above, below]}},
        "honest": {"metrics": {"per_seed": [above, below, below]}},
    }
    verdicts = verification.gaming_verdicts(models, floors, baselines=("bicubic",))
    assert set(verdicts) == {"gamer", "honest"}
    assert verdicts["gamer"]["gaming"] and verdicts["gamer"]["max_ratio"]["exceeds_floor"] == [True, True, False]
    assert not verdicts["honest"]["gaming"]
    assert "bicubic" in verification.gaming_verdicts(models, floors)  # judged when not named a baseline
