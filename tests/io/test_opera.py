"""Tests of the OPERA reader (read_odim, dbz_to_rainrate, load_opera) and extract_patches.

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
from mink_toolkit.io import DBZH_UNDETECT_FLOOR, MARSHALL_PALMER
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


# --------------------------------------------------------------------------- dbz_to_rainrate


def test_dbz_to_rainrate_marshall_palmer_reference_values():
    # Z = 200 R^1.6: R = 1 mm/h -> 10*log10(200) = 23.0103 dBZ; R = 0.1 -> 7.0103 dBZ.
    dbz = 10 * np.log10(200.0 * np.array([0.1, 1.0, 10.0]) ** 1.6)
    rain = mt.dbz_to_rainrate(dbz)
    np.testing.assert_allclose(rain.values, [0.1, 1.0, 10.0], rtol=1e-12)
    assert rain.attrs["units"] == "mm/h" and rain.attrs["quantity"] == "RATE"
    assert (rain.attrs["zr_a"], rain.attrs["zr_b"]) == MARSHALL_PALMER
    assert "Marshall-Palmer" in rain.attrs["zr_source"]


def test_dbz_to_rainrate_coefficient_priority():
    dbz = xr.DataArray([20.0, 30.0], dims="x", attrs={"units": "dBZ", "zr_a": 300.0, "zr_b": 1.4})
    from_file = mt.dbz_to_rainrate(dbz)
    np.testing.assert_allclose(from_file.values, (10 ** (dbz.values / 10) / 300.0) ** (1 / 1.4))
    assert from_file.attrs["zr_source"].startswith("file")
    explicit = mt.dbz_to_rainrate(dbz, a=250.0, b=1.2)
    np.testing.assert_allclose(explicit.values, (10 ** (dbz.values / 10) / 250.0) ** (1 / 1.2))
    assert explicit.attrs["zr_source"] == "arguments" and explicit.attrs["zr_a"] == 250.0


def test_dbz_to_rainrate_on_cirrus_file():
    dbz = _load(FIRST_OF["cirrus_dbzh"])
    rain = mt.dbz_to_rainrate(dbz)
    assert rain.dims == ("y", "x") and rain.attrs["units"] == "mm/h"
    assert rain.time.values == dbz.time.values
    np.testing.assert_array_equal(np.isnan(rain.values), np.isnan(dbz.values))
    no_echo = dbz.values == DBZH_UNDETECT_FLOOR
    assert no_echo.any() and np.all(rain.values[no_echo] == 0.0)
    measured = np.isfinite(dbz.values) & ~no_echo
    assert np.all(rain.values[measured] > 0)
    # Monotone: more reflectivity, more rain.
    order = np.argsort(dbz.values[measured][:5000])
    assert np.all(np.diff(rain.values[measured][:5000][order]) >= 0)


def test_dbz_to_rainrate_bad_input():
    with pytest.raises(ValueError, match="together"):
        mt.dbz_to_rainrate([20.0], a=200.0)
    with pytest.raises(ValueError, match="> 0"):
        mt.dbz_to_rainrate([20.0], a=-1.0, b=1.6)
    with pytest.raises(ValueError, match="dBZ"):
        mt.dbz_to_rainrate(xr.DataArray([1.0], dims="x", attrs={"units": "mm/h"}))
    with pytest.raises(TypeError, match="dbz"):
        mt.dbz_to_rainrate(np.array(["a"]))


# --------------------------------------------------------------------------- extract_patches


def _field(values, name="RATE", units="mm/h", dims=("y", "x")):
    values = np.asarray(values, dtype=float)
    h, w = values.shape
    return xr.DataArray(
        values,
        dims=dims,
        coords={dims[0]: 1000.0 - 10.0 * np.arange(h), dims[1]: 5.0 * np.arange(w), "time": np.datetime64("2020-01-01T00:00", "ns")},
        attrs={"units": units},
        name=name,
    )


def test_extract_patches_content_and_coords():
    rng = np.random.default_rng(0)
    field = _field(rng.gamma(0.5, 2.0, size=(37, 53)))
    patches = mt.extract_patches(field, size=8, stride=5, min_coverage=0.0)
    rows = np.arange(0, 37 - 8 + 1, 5)
    cols = np.arange(0, 53 - 8 + 1, 5)
    assert patches.dims == ("patch", "y", "x")
    assert patches.shape == (rows.size * cols.size, 8, 8)
    assert patches.attrs["patch_candidates"] == rows.size * cols.size
    for k in range(patches.sizes["patch"]):
        r, c = int(patches.origin_row[k]), int(patches.origin_col[k])
        np.testing.assert_array_equal(patches.values[k], field.values[r : r + 8, c : c + 8])
        assert float(patches.origin_y[k]) == float(field.y[r])
        assert float(patches.origin_x[k]) == float(field.x[c])
    assert np.all(patches.time.values == field.time.values)
    assert patches.attrs["units"] == "mm/h" and patches.name == "RATE"


def test_extract_patches_default_stride_is_size():
    field = _field(np.ones((10, 12)))
    patches = mt.extract_patches(field, size=4)
    assert patches.origin_row.values.tolist() == [0, 0, 0, 4, 4, 4]
    assert patches.origin_col.values.tolist() == [0, 4, 8, 0, 4, 8]
    assert patches.attrs["stride"] == 4


def test_extract_patches_coverage_and_wetness_match_brute_force():
    rng = np.random.default_rng(1)
    values = rng.exponential(0.5, size=(40, 45))
    values[rng.random(values.shape) < 0.1] = np.nan
    values[:, :9] = np.nan
    field = _field(values)
    size, stride = 6, 3
    for min_cov, min_wet in [(1.0, 0.0), (0.9, 0.0), (0.5, 0.3), (0.0, 0.5)]:
        patches = mt.extract_patches(
            field, size=size, stride=stride, min_coverage=min_cov, min_wet_fraction=min_wet, wet_threshold=0.2
        )
        expected = []
        for r in range(0, 40 - size + 1, stride):
            for c in range(0, 45 - size + 1, stride):
                window = values[r : r + size, c : c + size]
                coverage = np.isfinite(window).mean()
                wet = (window >= 0.2).mean()  # NaN compares False: not wet
                if coverage >= min_cov and wet >= min_wet:
                    expected.append((r, c, coverage, wet))
        got = list(zip(patches.origin_row.values, patches.origin_col.values))
        assert got == [(r, c) for r, c, _, _ in expected], (min_cov, min_wet)
        np.testing.assert_allclose(patches.coverage.values, [e[2] for e in expected])
        np.testing.assert_allclose(patches.wet_fraction.values, [e[3] for e in expected])
    full = mt.extract_patches(field, size=size, stride=stride)
    assert full.sizes["patch"] > 0 and not np.isnan(full.values).any()


def test_extract_patches_declutter():
    values = np.full((8, 8), 1.0)
    values[1, 1] = 8646.82  # like the 2018-08-24 22:15 outlier
    values[6, 6] = 150.0  # at the threshold: not clutter (strictly above only)
    field = _field(values)
    strict = mt.extract_patches(field, size=4)
    assert strict.attrs["clutter_pixels"] == 1
    assert strict.origin_row.values.tolist() == [0, 4, 4] and strict.origin_col.values.tolist() == [4, 0, 4]
    lenient = mt.extract_patches(field, size=4, min_coverage=0.9)
    assert lenient.sizes["patch"] == 4
    assert np.isnan(lenient.values[0, 1, 1])  # clutter is unknown (NaN), not dry
    assert lenient.clutter_pixels.values.tolist() == [1, 0, 0, 0]
    assert lenient.values[3, 2, 2] == 150.0
    lower = mt.extract_patches(field, size=4, min_coverage=0.0, clutter_threshold=100.0)
    assert lower.attrs["clutter_pixels"] == 2
    off = mt.extract_patches(field, size=4, clutter_threshold=None)
    assert off.sizes["patch"] == 4 and off.values[0, 1, 1] == 8646.82
    assert off.attrs["clutter_pixels"] == 0 and off.attrs["clutter_threshold"] == "none"
    assert values[1, 1] == 8646.82  # the input is not modified


def test_screen_clutter_is_the_one_screen_of_patches_and_curves(monkeypatch):
    """extract_patches and the curves engine both call screen_clutter (and nothing else screens)."""
    from mink_toolkit import archive
    from mink_toolkit.io import opera

    calls = []
    original = opera.screen_clutter

    def counting(values, max_rain=opera.DEFAULT_MAX_RAIN, **kwargs):
        calls.append(max_rain)
        return original(values, max_rain, **kwargs)

    monkeypatch.setattr(opera, "screen_clutter", counting)
    monkeypatch.setattr(archive, "screen_clutter", counting)
    field = np.ones((8, 8))
    field[2, 2] = 500.0
    assert mt.extract_patches(field, size=4, min_coverage=0.0).attrs["clutter_pixels"] == 1
    series = xr.DataArray(np.stack([field, field]), dims=("time", "y", "x"), attrs={"units": "mm/h"})
    curves = mt.minkowski_curves(series, [0.5], max_rain=150.0, scheduler="synchronous")
    assert curves["clutter_pixels"].values.tolist() == [1, 1]
    assert calls == [150.0, 150.0, 150.0]


def test_screen_clutter_values_counts_and_errors():
    values = np.array([[0.0, 150.0, 150.01], [np.nan, 8646.82, 3.0]])
    screened, clutter = mt.screen_clutter(values)
    np.testing.assert_array_equal(clutter, [[False, False, True], [False, True, False]])
    np.testing.assert_array_equal(screened, [[0.0, 150.0, np.nan], [np.nan, np.nan, 3.0]])
    assert values[1, 1] == 8646.82  # a copy by default
    same, _ = mt.screen_clutter(values, 100.0, out=values)
    assert same is values and np.isnan(values[0, 1])  # in place on request
    off, none = mt.screen_clutter(np.array([1e6]), None)
    assert off[0] == 1e6 and not none.any()
    with pytest.raises(TypeError, match="floating-point"):
        mt.screen_clutter(np.array([1, 2]))
    with pytest.raises(ValueError, match="max_rain must be finite and > 0"):
        mt.screen_clutter(np.array([1.0]), np.inf)
    with pytest.raises(TypeError, match="max_rain must be a real number"):
        mt.screen_clutter(np.array([1.0]), "150")


def test_extract_patches_any_dims_and_ndarray():
    field = _field(np.arange(30.0).reshape(5, 6), dims=("lat", "lon"))
    patches = mt.extract_patches(field, size=2, stride=2, clutter_threshold=None)
    assert patches.dims == ("patch", "y", "x") and patches.attrs["source_dims"] == "lat,lon"
    np.testing.assert_array_equal(patches.origin_y.values, field.lat.values[[0, 0, 0, 2, 2, 2]])
    plain = mt.extract_patches(np.arange(30.0).reshape(5, 6), size=2, clutter_threshold=None)
    assert plain.sizes["patch"] == 6 and "origin_x" not in plain.coords and "time" not in plain.coords


def test_extract_patches_none_kept_is_empty():
    field = _field(np.full((8, 8), np.nan))
    patches = mt.extract_patches(field, size=4)
    assert patches.shape == (0, 4, 4) and patches.attrs["patch_candidates"] == 4


def test_extract_patches_on_opera_with_clutter():
    """The 2018-08-24 22:15 file holds the 8646.82 mm/h outlier; it is counted and screened."""
    name = "20180824/T_PAAH21_C_EUOC_20180824221500.hdf"
    field = mt.load_opera(name)
    n_clutter = int((field.values > 150.0).sum())
    assert float(field.max()) == pytest.approx(8646.82)
    patches = mt.extract_patches(field, size=128, min_wet_fraction=0.05)
    assert patches.attrs["clutter_pixels"] == n_clutter > 0
    assert patches.sizes["patch"] > 0
    assert not np.isnan(patches.values).any() and float(patches.max()) <= 150.0
    assert np.all(patches.wet_fraction >= 0.05)
    assert np.all(patches.time.values == field.time.values)
    # origin coordinates are the projected centre of each patch's first pixel
    k = 0
    r, c = int(patches.origin_row[k]), int(patches.origin_col[k])
    assert float(patches.origin_x[k]) == 2000.0 * c + 1000.0
    assert float(patches.origin_y[k]) == -2000.0 * r - 1000.0


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"size": 0}, ValueError, "size"),
        ({"size": 2.5}, TypeError, "size"),
        ({"size": True}, TypeError, "size"),
        ({"size": 11}, ValueError, "size"),
        ({"stride": 0}, ValueError, "stride"),
        ({"stride": 1.0}, TypeError, "stride"),
        ({"min_coverage": 1.5}, ValueError, "min_coverage"),
        ({"min_coverage": -0.1}, ValueError, "min_coverage"),
        ({"min_wet_fraction": 2}, ValueError, "min_wet_fraction"),
        ({"wet_threshold": np.nan}, ValueError, "wet_threshold"),
        ({"clutter_threshold": np.inf}, ValueError, "clutter_threshold"),
    ],
)
def test_extract_patches_bad_arguments(kwargs, error, match):
    field = _field(np.ones((10, 10)))
    with pytest.raises(error, match=match):
        mt.extract_patches(field, **{"size": 4, **kwargs})


def test_extract_patches_bad_field():
    with pytest.raises(ValueError, match="2-D"):
        mt.extract_patches(np.ones((2, 8, 8)), size=4)
    with pytest.raises(TypeError, match="field"):
        mt.extract_patches(np.full((8, 8), "a"), size=4)
    with pytest.raises(ValueError, match="negative rain"):
        mt.extract_patches(_field(-np.ones((8, 8))), size=4)
    # Negative values are fine for quantities other than rain (e.g. dBZ).
    assert mt.extract_patches(_field(-np.ones((8, 8)), units="dBZ"), size=4).sizes["patch"] == 4
