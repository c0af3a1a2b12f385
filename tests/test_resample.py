"""Block means: the one NaN-aware coarsener (numpy core and xarray wrapper)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from mink_toolkit import fetch_opera, open_opera, opera_files, read_odim, to_rainrate
from mink_toolkit.resample import block_mean, coarsen_nanmean

RNG = np.random.default_rng(20261127)


def test_coarsen_nanmean_is_a_nan_aware_block_mean():
    values = RNG.random((2, 6, 8))
    values[values < 0.3] = np.nan
    values[0, :2, :2] = np.nan  # an all-NaN block
    field = xr.DataArray(values, dims=("time", "y", "x"),
                         coords={"x": np.arange(8) * 1000.0 + 500, "y": -np.arange(6) * 1000.0 - 500},
                         attrs={"units": "mm/h"})
    blocks = values.reshape(2, 3, 2, 4, 2)
    observed = np.isfinite(blocks).sum(axis=(2, 4))
    expected = np.where(observed > 0, np.nansum(blocks, axis=(2, 4)) / np.maximum(observed, 1), np.nan)
    out = coarsen_nanmean(field.chunk({"time": 1}), 2)
    assert out.chunks is not None
    np.testing.assert_allclose(out.values, expected, rtol=1e-15)
    assert np.isnan(out.values[0, 0, 0])
    np.testing.assert_array_equal(out["x"].values, np.arange(4) * 2000.0 + 1000)  # block centres
    assert out.attrs["units"] == "mm/h" and out.attrs["coarsened_by"] == 2
    strict = coarsen_nanmean(field, 2, min_observed=4)
    np.testing.assert_array_equal(np.isnan(strict.values), observed < 4)
    assert coarsen_nanmean(field, 1) is field
    with pytest.raises(ValueError, match="does not divide"):
        coarsen_nanmean(field, 4)
    with pytest.raises(ValueError, match="min_observed"):
        coarsen_nanmean(field, 2, min_observed=5)
    with pytest.raises(ValueError, match="factor"):
        coarsen_nanmean(field, 0)
    with pytest.raises(TypeError, match="field"):
        coarsen_nanmean(values, 2)


def test_cirrus_rain_coarsened_to_the_nimbus_grid():
    cirrus = open_opera([fetch_opera(opera_files("cirrus_dbzh")[0])])
    nimbus = read_odim(fetch_opera(opera_files("nimbus_rate")[0]))
    rain_2km = coarsen_nanmean(to_rainrate(cirrus), 2)
    assert rain_2km.shape[1:] == nimbus.shape
    np.testing.assert_array_equal(rain_2km["x"].values, nimbus["x"].values)
    np.testing.assert_array_equal(rain_2km["y"].values, nimbus["y"].values)
    assert rain_2km["time"].values[0] == nimbus["time"].values


