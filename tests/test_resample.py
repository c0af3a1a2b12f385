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
    with pytest.raises(ValueError, match="factor must be >= 1"):
        coarsen_nanmean(field, 0)
    with pytest.raises(TypeError, match="factor must be an integer"):
        coarsen_nanmean(field, 2.0)
    with pytest.raises(TypeError, match="field"):
        coarsen_nanmean(values, 2)


def _reference_block_mean(values, factor, min_observed=1):
    """Loop over blocks: mean of the observed pixels, NaN below min_observed."""
    lead, (h, w) = values.shape[:-2], values.shape[-2:]
    out = np.full((*lead, h // factor, w // factor), np.nan)
    for index in np.ndindex(*lead, h // factor, w // factor):
        *outer, i, j = index
        block = values[(*outer, slice(i * factor, (i + 1) * factor), slice(j * factor, (j + 1) * factor))]
        observed = block[~np.isnan(block)]
        if observed.size >= min_observed:
            out[index] = observed.sum() / observed.size
    return out


@pytest.mark.parametrize("shape, factor", [((6, 8), 2), ((3, 2, 9, 6), 3), ((8, 8), 8), ((4, 4), 1)])
def test_block_mean_equals_a_loop_with_and_without_nan(shape, factor):
    values = RNG.gamma(0.6, 2.0, size=shape)
    np.testing.assert_allclose(block_mean(values, factor), _reference_block_mean(values, factor), rtol=1e-14)
    values[RNG.random(shape) < 0.4] = np.nan
    for min_observed in (1, factor * factor):
        np.testing.assert_allclose(
            block_mean(values, factor, min_observed=min_observed),
            _reference_block_mean(values, factor, min_observed), rtol=1e-14,
        )


def test_block_mean_conserves_observed_mass_and_accepts_masks():
    values = RNG.gamma(0.6, 2.0, size=(16, 24))
    values[RNG.random(values.shape) < 0.3] = np.nan
    coarse = block_mean(values, 4)
    observed = (~np.isnan(values)).reshape(4, 4, 6, 4).sum(axis=(1, 3))
    assert np.nansum(coarse * observed) == pytest.approx(np.nansum(values), rel=1e-13)
    assert block_mean(values.astype(np.float32), 4).dtype == np.float64
    mask = np.zeros((4, 4), dtype=bool)
    mask[:2, :2] = True
    np.testing.assert_array_equal(block_mean(mask, 2), [[1.0, 0.0], [0.0, 0.0]])


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"factor": 0}, ValueError, "factor must be >= 1; got 0"),
        ({"factor": 2.0}, TypeError, "factor must be an integer"),
        ({"factor": True}, TypeError, "factor must be an integer"),
        ({"factor": 4}, ValueError, r"\(6, 8\) must be multiples of factor=4"),
        ({"factor": 2, "min_observed": 5}, ValueError, "min_observed must be <= 4"),
        ({"factor": 2, "min_observed": 0}, ValueError, "min_observed must be >= 1"),
        ({"field": np.zeros(4)}, ValueError, "at least 2 dims"),
        ({"field": np.zeros((2, 2), complex)}, TypeError, "field must be a real numeric array"),
    ],
)
def test_block_mean_bad_input_names_the_argument(kwargs, error, match):
    args = {"field": np.zeros((6, 8)), "factor": 2, **kwargs}
    field = args.pop("field")
    with pytest.raises(error, match=match):
        block_mean(field, **args)


def test_cirrus_rain_coarsened_to_the_nimbus_grid():
    cirrus = open_opera([fetch_opera(opera_files("cirrus_dbzh")[0])])
    nimbus = read_odim(fetch_opera(opera_files("nimbus_rate")[0]))
    rain_2km = coarsen_nanmean(to_rainrate(cirrus), 2)
    assert rain_2km.shape[1:] == nimbus.shape
    np.testing.assert_array_equal(rain_2km["x"].values, nimbus["x"].values)
    np.testing.assert_array_equal(rain_2km["y"].values, nimbus["y"].values)
    assert rain_2km["time"].values[0] == nimbus["time"].values


