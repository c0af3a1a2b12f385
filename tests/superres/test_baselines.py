"""Tests of mink_toolkit.superres.baselines: the upsampling baselines (block means: tests/test_resample.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mink_toolkit import superres as sr
from mink_toolkit.resample import block_mean


def test_upsample_nearest_inverts_coarsen_mass(rain):
    coarse = block_mean(rain, 4)
    up = sr.upsample(coarse, 4, "nearest")
    np.testing.assert_allclose(block_mean(up, 4), coarse)
    bic = sr.upsample(coarse, 4, "bicubic")
    assert bic.shape == rain.shape and (bic >= 0).all()
    # bicubic of a constant field is that constant
    np.testing.assert_allclose(sr.upsample(np.full((3, 3), 2.5), 4, "bicubic"), 2.5, rtol=1e-6)
    t = torch.as_tensor(coarse)
    assert isinstance(sr.upsample(t, 4), torch.Tensor)
    with pytest.raises(ValueError, match="method"):
        sr.upsample(coarse, 4, "bilinear")
    with pytest.raises(ValueError, match="NaN"):
        sr.upsample(np.full((2, 2), np.nan), 2)
