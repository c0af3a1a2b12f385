"""Tests of the OPERA reader (read_odim, load_opera); the preprocessing is tests/test_preprocess.py.

Real files come through the library (`fetch_opera`): from $MINK_DATA_DIR
(CI and `make test` point it at ../shared/data/opera), else the user cache,
else a download. Facts checked against the data come from
../shared/data/opera/README.md (products, grids, periods, coverage).
"""

from __future__ import annotations

import functools
from pathlib import Path

import h5py
import numpy as np
import pytest
import xarray as xr

import mink_toolkit as mt
from mink_toolkit.io import DBZH_UNDETECT_FLOOR
from mink_toolkit.io.registry import OperaFileError, registry

ALL_FILES = mt.opera_files()
FIRST_OF = {p: mt.opera_files(p)[0] for p in ("odyssey_rate", "cirrus_dbzh", "nimbus_rate", "nimbus_acrr")}

# Product facts from ../shared/data/opera/README.md.
EXPECTED = {
    # quantity, units, shape, pixel (m), ODIM version, valid period relative to the nominal time (s)
    "odyssey_rate": ("RATE", "mm/h", (2200, 1900), 2000.0, "ODIM_H5/V2_0", (-600, 300)),
    "cirrus_dbzh": ("DBZH", "dBZ", (4400, 3800), 1000.0, "ODIM_H5/V2_4", (-599, 0)),
    "nimbus_rate": ("RATE", "mm/h", (2200, 1900), 2000.0, "ODIM_H5/V2_4", (0, 0)),
    "nimbus_acrr": ("ACRR", "mm", (2200, 1900), 2000.0, "ODIM_H5/V2_4", (-3600, 0)),
}

# (lon, lat) in degrees; the README reports Paris and Helsinki inside coverage,
# Kyiv and Minsk outside (nodata).
PARIS = (2.3522, 48.8566)
HELSINKI = (24.9384, 60.1699)
KYIV = (30.5234, 50.4501)
MINSK = (27.5615, 53.9045)


@functools.lru_cache(maxsize=4)
def _load(name: str) -> xr.DataArray:
    # A few tests look at the same file; reading it once keeps the module fast.
    return mt.load_opera(name)


def _value_at(da: xr.DataArray, lon: float, lat: float) -> float:
    x, y = mt.project_lonlat(lon, lat, da.attrs["projdef"])
    return float(da.sel(x=float(x), y=float(y), method="nearest", tolerance=da.attrs["xscale"]))


# --------------------------------------------------------------------------- read_odim


@pytest.mark.parametrize("name", ALL_FILES)
def test_read_odim_every_file(name):
    """All 47 files decode with the product's grid, units, period, sentinels and orientation."""
    product = registry()[name].product
    quantity, units, shape, scale, version, (dt_start, dt_end) = EXPECTED[product]
    da = mt.load_opera(name)

    assert da.dims == ("y", "x") and da.shape == shape and da.dtype == np.float64
    assert da.attrs["quantity"] == quantity and da.attrs["units"] == units
    assert da.attrs["odim_version"] == version
    assert da.attrs["source"] == "ORG:247"
    assert da.attrs["opera_product"] == product
    assert da.attrs["filename"] == Path(name).name
    assert "+proj=laea" in da.attrs["projdef"]
    assert ("zr_a" in da.attrs) == product.startswith("nimbus")

    # Nominal time = the time in the registry (file name), as datetime64.
    assert da.time.dtype.kind == "M"
    nominal = np.datetime64(registry()[name].time, "ns")
    assert da.time.values == nominal
    start = np.datetime64(da.attrs["start_time"], "ns")
    end = np.datetime64(da.attrs["end_time"], "ns")
    assert (start - nominal) / np.timedelta64(1, "s") == dt_start
    assert (end - nominal) / np.timedelta64(1, "s") == dt_end

    # Pixel centres: x from the western edge 0 m, y from the northern edge 0 m downwards.
    np.testing.assert_allclose(np.diff(da.x), scale)
    np.testing.assert_allclose(np.diff(da.y), -scale)
    assert float(da.x[0]) == scale / 2 and float(da.y[0]) == -scale / 2
    assert float(da.x[-1]) + scale / 2 == 3_800_000.0
    assert float(da.y[-1]) - scale / 2 == -4_400_000.0

    values = da.values
    nan_fraction = np.isnan(values).mean()
    assert 0.48 < nan_fraction < 0.50  # README: 48.5-49.9 % nodata
    finite = values[np.isfinite(values)]
    assert finite.min() > -1000  # no sentinel (-8888000, -9999000) left
    if quantity == "DBZH":
        assert finite.min() == DBZH_UNDETECT_FLOOR  # undetect floor present and lowest
        assert (finite > DBZH_UNDETECT_FLOOR).any()
        assert da.attrs["undetect_value"] == DBZH_UNDETECT_FLOOR
    else:
        assert finite.min() == 0.0 and da.attrs["undetect_value"] == 0.0

    # Orientation against projected coordinates of known places.
    assert np.isfinite(_value_at(da, *PARIS))
    assert np.isfinite(_value_at(da, *HELSINKI))
    assert np.isnan(_value_at(da, *KYIV))
    assert np.isnan(_value_at(da, *MINSK))


@pytest.mark.parametrize("product", sorted(FIRST_OF))
def test_read_odim_matches_direct_decoding(product):
    """Decoded values equal raw*gain+offset with nodata->NaN and undetect->floor, read by hand."""
    name = FIRST_OF[product]
    da = _load(name)
    with h5py.File(mt.fetch_opera(name)) as f:
        raw = f["dataset1/data1/data"][...]
        # ODIM 2.0 (Odyssey) keeps the calibration in dataset1/what, 2.4 in dataset1/data1/what.
        group = "dataset1/what" if product == "odyssey_rate" else "dataset1/data1/what"
        assert "gain" in f[group].attrs
        what = f[group].attrs
        gain, offset = float(what["gain"]), float(what["offset"])
        nodata, undetect = float(what["nodata"]), float(what["undetect"])
    expected = raw * gain + offset
    expected[raw == undetect] = da.attrs["undetect_value"]
    expected[raw == nodata] = np.nan
    np.testing.assert_array_equal(da.values, expected)
    assert (raw == undetect).sum() > 0 and (raw == nodata).sum() > 0


def test_project_lonlat_puts_file_corners_on_grid_edges():
    """The hand-written LAEA agrees with the corner lon/lat stored in the file (< 1 m)."""
    name = FIRST_OF["odyssey_rate"]
    with h5py.File(mt.fetch_opera(name)) as f:
        where = dict(f["where"].attrs)
    projdef = where["projdef"].decode()
    expected = {"UL": (0, 0), "UR": (3_800_000, 0), "LL": (0, -4_400_000), "LR": (3_800_000, -4_400_000)}
    for corner, (ex, ey) in expected.items():
        x, y = mt.project_lonlat(where[f"{corner}_lon"], where[f"{corner}_lat"], projdef)
        assert abs(x - ex) < 1.0 and abs(y - ey) < 1.0, corner
    # Projection centre maps to (x_0, y_0); north is +y, east is +x.
    x0, y0 = mt.project_lonlat(10.0, 55.0, projdef)
    assert (float(x0), float(y0)) == (1_950_000.0, -2_100_000.0)
    _, y_north = mt.project_lonlat(10.0, 60.0, projdef)
    x_east, _ = mt.project_lonlat(15.0, 55.0, projdef)
    assert y_north > y0 and x_east > x0
    with pytest.raises(ValueError, match="laea"):
        mt.project_lonlat(0, 0, "+proj=stere +lat_0=90")


def test_row_zero_is_north():
    """Helsinki lies in an upper row (smaller index) than Paris; Paris west of Helsinki."""
    da = _load(FIRST_OF["nimbus_rate"])
    rows = {}
    for place, (lon, lat) in {"paris": PARIS, "helsinki": HELSINKI}.items():
        x, y = mt.project_lonlat(lon, lat, da.attrs["projdef"])
        rows[place] = (int(np.abs(da.y.values - y).argmin()), int(np.abs(da.x.values - x).argmin()))
    assert rows["helsinki"][0] < rows["paris"][0]
    assert rows["helsinki"][1] > rows["paris"][1]


def test_cirrus_and_nimbus_grids_share_extent():
    """1 km CIRRUS pixels nest 2x2 in the 2 km grid (README, decoding step 12)."""
    cirrus, nimbus = _load(FIRST_OF["cirrus_dbzh"]), _load(FIRST_OF["nimbus_rate"])
    coarse_x = cirrus.x.values.reshape(-1, 2).mean(axis=1)
    coarse_y = cirrus.y.values.reshape(-1, 2).mean(axis=1)
    np.testing.assert_array_equal(coarse_x, nimbus.x.values)
    np.testing.assert_array_equal(coarse_y, nimbus.y.values)


def test_read_odim_dbzh_floor_is_configurable():
    name = FIRST_OF["cirrus_dbzh"]
    da = mt.read_odim(mt.fetch_opera(name), dbzh_undetect=-50.0)
    default = _load(name)
    assert da.attrs["undetect_value"] == -50.0
    floor_mask = default.values == DBZH_UNDETECT_FLOOR
    assert np.all(da.values[floor_mask] == -50.0)
    np.testing.assert_array_equal(da.values[~floor_mask], default.values[~floor_mask])


def test_read_odim_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.hdf"):
        mt.read_odim(tmp_path / "nothere.hdf")


@pytest.mark.parametrize("damage", ["truncated", "not_hdf5", "no_dataset"])
def test_read_odim_corrupt_file_clear_error(tmp_path, damage):
    """Truncated or non-ODIM files give OperaFileError naming the file, no h5py traceback."""
    source = mt.fetch_opera(FIRST_OF["nimbus_rate"])
    bad = tmp_path / f"{damage}_T_PAAH22.hdf"
    if damage == "truncated":
        bad.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    elif damage == "not_hdf5":
        bad.write_text("<html>404 Not Found</html>")
    else:
        with h5py.File(bad, "w") as f:
            f.create_group("what")
    with pytest.raises(OperaFileError, match=bad.name) as info:
        mt.read_odim(bad)
    assert isinstance(info.value, OSError)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert "corrupt" in str(info.value)
