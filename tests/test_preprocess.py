"""Tests of the preprocessing: Z--R conversion (dbz_to_rainrate, to_rainrate), the clutter screen, extract_patches.

Real files come through the library (`fetch_opera`): from $MINK_DATA_DIR
(CI and `make test` point it at ../shared/data/opera), else the user cache,
else a download.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from _odim_files import NODATA, UNDETECT, write_odim

import mink_toolkit as mt
from mink_toolkit import dbz_to_rainrate, open_opera, read_odim, to_rainrate
from mink_toolkit.io import DBZH_UNDETECT_FLOOR
from mink_toolkit.preprocess import MARSHALL_PALMER

RNG = np.random.default_rng(20261127)
FIRST_OF = {p: mt.opera_files(p)[0] for p in ("odyssey_rate", "cirrus_dbzh", "nimbus_rate", "nimbus_acrr")}


def _load(name: str) -> xr.DataArray:
    return mt.load_opera(name)


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
    from mink_toolkit import preprocess
    from mink_toolkit.curves import engine, lazy

    calls = []
    original = preprocess.screen_clutter

    def counting(values, max_rain=preprocess.DEFAULT_MAX_RAIN, **kwargs):
        calls.append(max_rain)
        return original(values, max_rain, **kwargs)

    for module in (preprocess, engine, lazy):
        monkeypatch.setattr(module, "screen_clutter", counting)
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
    with pytest.raises(ValueError, match=r"out must have the shape of the input \(3,\); got \(4,\)"):
        mt.screen_clutter(np.ones(3), out=np.ones(4))
    with pytest.raises(TypeError, match=r"can hold float64.*got dtype float32"):
        mt.screen_clutter(np.ones(3), out=np.ones(3, dtype=np.float32))
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


def test_to_rainrate_is_lazy_and_matches_dbz_to_rainrate(tmp_path, synthetic):
    dbz_values = RNG.uniform(-10, 50, size=(24, 20)).round(1)
    dbz_values[RNG.random((24, 20)) < 0.3] = UNDETECT
    dbz_values[:, :3] = NODATA
    paths = [write_odim(tmp_path / f"T_DBZ_2024112601{m}00.hdf", f"2024112601{m}00", quantity="DBZH",
                        product="MAX", values=dbz_values + i) for i, m in enumerate(("00", "05"))]
    rain = to_rainrate(open_opera(paths))
    assert rain.chunks is not None and rain.attrs["units"] == "mm/h"
    expected = dbz_to_rainrate(read_odim(paths[1]))
    np.testing.assert_array_equal(rain.isel(time=1).values, expected.values)
    assert float(np.nanmin(rain.values)) == 0.0  # undetect -> no rain
    with pytest.raises(ValueError, match="DBZH"):
        to_rainrate(open_opera(synthetic))
