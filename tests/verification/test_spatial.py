"""Tests of mink_toolkit.verification.spatial: the FSS against Roberts & Lean's definition."""

from __future__ import annotations

import numpy as np
import pytest

from mink_toolkit import verification


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


def test_fss_identical_is_one(rain):
    for n in (1, 3, 9, 27):
        assert verification.fractions_skill_score(rain, rain, 1.0, n) == pytest.approx(1.0)


def test_fss_disjoint_is_zero_at_pixel_scale():
    t = np.zeros((16, 16))
    p = np.zeros((16, 16))
    t[2:5, 2:5] = 3.0
    p[10:13, 10:13] = 3.0
    assert verification.fractions_skill_score(p, t, 1.0, 1) == 0.0
    # far apart relative to the window: still disjoint fractions
    assert verification.fractions_skill_score(p, t, 1.0, 3) == 0.0
    # a window spanning both blobs recovers skill
    assert verification.fractions_skill_score(p, t, 1.0, 27) > 0.5


def test_fss_single_pixel_shift_known_answer():
    t = np.zeros((9, 9))
    p = np.zeros((9, 9))
    t[4, 4] = 1.0
    p[4, 5] = 1.0
    # window 3: 6 of 9 window positions shared, FSS = 1 - 6/18
    assert verification.fractions_skill_score(p, t, 0.5, 3) == pytest.approx(2 / 3)


def test_fss_matches_roberts_lean_brute_force(rain):
    p = np.roll(rain[0], 2, axis=1) * 1.3
    for n in (1, 3, 5, 9):
        assert verification.fractions_skill_score(p, rain[0], 1.0, n) == pytest.approx(brute_force_fss(p, rain[0], 1.0, n))


def test_fss_pooled_over_samples(rain):
    p = np.roll(rain, 1, axis=-1)
    num = den = 0.0
    for k in range(3):
        from scipy import ndimage

        fp = ndimage.uniform_filter((p[k] >= 1).astype(float), 3, mode="constant")
        ft = ndimage.uniform_filter((rain[k] >= 1).astype(float), 3, mode="constant")
        num += ((fp - ft) ** 2).sum()
        den += (fp**2).sum() + (ft**2).sum()
    assert verification.fractions_skill_score(p, rain, 1.0, 3) == pytest.approx(1 - num / den)


def test_fss_no_events_is_nan_and_bad_window():
    z = np.zeros((8, 8))
    assert np.isnan(verification.fractions_skill_score(z, z, 1.0, 3))
    with pytest.raises(ValueError, match="window"):
        verification.fractions_skill_score(z, z, 1.0, 4)
    with pytest.raises(TypeError, match="window"):
        verification.fractions_skill_score(z, z, 1.0, 3.0)
