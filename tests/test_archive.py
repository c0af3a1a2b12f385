"""Archive analysis: lazy OPERA series, dask schedulers, the ``curves`` command line.

Real files come from $MINK_DATA_DIR through the registry; small synthetic
ODIM files (written here with h5py, random values, nothing cut from real
data) exercise the error paths and the command line quickly.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import dask
import h5py
import numpy as np
import pytest
import xarray as xr

from mink_toolkit import (
    OperaFileError,
    dbz_to_rainrate,
    fetch_opera,
    minkowski_functionals,
    opera_files,
    read_odim,
)
from mink_toolkit import archive
from mink_toolkit.archive import (
    coarsen_nanmean,
    main,
    minkowski_curves,
    open_opera,
    read_odim_header,
    resolve_paths,
    to_rainrate,
)
from mink_toolkit.notebook.widgets import archive_time_explorer, curves_at_time

REPO = Path(__file__).resolve().parents[1]
THRESHOLDS = [0.1, 0.5, 1.0, 5.0, 10.0]
NAMES = ("area", "perimeter", "euler_characteristic")
RNG = np.random.default_rng(20261127)

# The OPERA upper-left corner: read_odim projects it to x = 0, y = 0.
UL_LON, UL_LAT = -39.5357864125034, 67.02283275830867
PROJDEF = "+proj=laea +lat_0=55.0 +lon_0=10.0 +x_0=1950000.0 +y_0=-2100000.0 +units=m +ellps=WGS84"
NODATA, UNDETECT = -9999000.0, -8888000.0


def write_odim(path, stamp="20180824180000", *, shape=(24, 20), quantity="RATE", product="COMP",
               scale=2000.0, values=None, data_shape=None, seed=0):
    """A small synthetic ODIM-HDF5 composite (ODIM 2.0 layout, as the Odyssey files).

    Random rain (log-normal) with a no-coverage band (nodata) on the left and
    undetect pixels, so the NaN policies matter.
    """
    rng = np.random.default_rng(seed)
    if values is None:
        values = rng.lognormal(-1.0, 1.5, size=shape).round(2)
        values[rng.random(shape) < 0.4] = UNDETECT
        values[:, : shape[1] // 4] = NODATA
    if data_shape is not None:
        values = np.zeros(data_shape)
    date, clock = stamp[:8], stamp[8:]
    with h5py.File(path, "w") as f:
        f.attrs["Conventions"] = np.bytes_("ODIM_H5/V2_0")
        what = f.create_group("what").attrs
        for k, v in {"date": date, "time": clock, "object": "COMP", "source": "ORG:247",
                     "version": "H5rad 2.0"}.items():
            what[k] = np.bytes_(v)
        where = f.create_group("where").attrs
        where["projdef"] = np.bytes_(PROJDEF)
        where["xscale"], where["yscale"] = scale, scale
        where["ysize"], where["xsize"] = np.uint64(shape[0]), np.uint64(shape[1])
        where["UL_lon"], where["UL_lat"] = UL_LON, UL_LAT
        dwhat = f.create_group("dataset1/what").attrs
        for k, v in {"product": product, "quantity": quantity, "startdate": date, "starttime": clock,
                     "enddate": date, "endtime": clock}.items():
            dwhat[k] = np.bytes_(v)
        dwhat["gain"], dwhat["offset"], dwhat["nodata"], dwhat["undetect"] = 1.0, 0.0, NODATA, UNDETECT
        f.create_dataset("dataset1/data1/data", data=np.asarray(values, dtype=np.float64), compression="gzip")
    return str(path)


@pytest.fixture
def synthetic(tmp_path):
    """Four synthetic rain-rate files 15 min apart, written out of time order."""
    folder = tmp_path / "archive"
    folder.mkdir()
    stamps = ["20180824184500", "20180824180000", "20180824183000", "20180824181500"]
    return [write_odim(folder / f"T_TEST_{s}.hdf", s, seed=i) for i, s in enumerate(stamps)]


@pytest.fixture(scope="module")
def odyssey_paths():
    return [str(fetch_opera(n)) for n in opera_files("odyssey_rate")[:3]]


def serial_reference(paths, thresholds=THRESHOLDS, **kwargs):
    """Independent reference: one file at a time, numpy only, in time order."""
    fields = sorted((read_odim(p) for p in paths), key=lambda f: f["time"].values)
    kwargs.setdefault("nan_policy", "window")
    return np.stack([minkowski_functionals(f.values, thresholds, **kwargs) for f in fields])


def as_array(curves):
    return np.stack([curves[n].values for n in NAMES], axis=-1)


# --------------------------------------------------------------------- paths and headers


def test_resolve_paths_globs_directories_and_errors(synthetic, tmp_path):
    folder = os.path.dirname(synthetic[0])
    expected = sorted(synthetic)
    assert resolve_paths(os.path.join(folder, "*.hdf")) == expected
    assert resolve_paths(folder) == expected
    assert resolve_paths(Path(folder)) == expected
    # the same file through two routes is one input
    assert resolve_paths([synthetic[0], os.path.join(folder, "*.hdf")]) == [synthetic[0]] + [
        p for p in expected if p != synthetic[0]
    ]
    with pytest.raises(FileNotFoundError, match="matches no file"):
        resolve_paths(os.path.join(folder, "*.nc"))
    with pytest.raises(FileNotFoundError, match="no such file"):
        resolve_paths(os.path.join(folder, "missing.hdf"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="holds no ODIM-HDF5 files"):
        resolve_paths(empty)
    with pytest.raises(ValueError, match="paths_or_glob is empty"):
        resolve_paths([])
    with pytest.raises(TypeError, match="paths_or_glob"):
        resolve_paths(3)


def test_header_agrees_with_read_odim(odyssey_paths):
    header = read_odim_header(odyssey_paths[0])
    field = read_odim(odyssey_paths[0])
    assert header.shape == field.shape
    assert header.quantity == field.attrs["quantity"] == "RATE"
    assert header.time == field["time"].values
    assert header.projdef == field.attrs["projdef"]
    assert str(header.start_time.astype("datetime64[s]")) == field.attrs["start_time"]


def test_header_of_unreadable_file_names_it(tmp_path):
    bad = tmp_path / "T_BAD_20180824180000.hdf"
    bad.write_bytes(b"not an HDF5 file at all")
    with pytest.raises(OperaFileError, match="T_BAD_20180824180000.hdf"):
        read_odim_header(bad)
    empty_hdf5 = tmp_path / "no_odim.hdf"
    with h5py.File(empty_hdf5, "w") as f:
        f.create_group("what")
    with pytest.raises(OperaFileError, match="no_odim.hdf"):
        read_odim_header(empty_hdf5)


# --------------------------------------------------------------------- open_opera


def test_open_opera_is_lazy_sorted_and_labelled_like_read_odim(synthetic, monkeypatch):
    reads = []
    original = archive._read_odim

    def counting(path):
        reads.append(os.path.basename(path))
        return original(path)

    monkeypatch.setattr(archive, "_read_odim", counting)
    series = open_opera(synthetic)
    # Only the first file (in time) is read when opening, for coordinates and attrs.
    assert reads == ["T_TEST_20180824180000.hdf"]
    assert series.dims == ("time", "y", "x")
    assert series.chunks[0] == (1, 1, 1, 1)  # one chunk per file
    assert np.all(np.diff(series["time"].values) > np.timedelta64(0))
    assert list(series["filename"].values) == sorted(os.path.basename(p) for p in synthetic)

    reads.clear()
    third = series.isel(time=2).compute(scheduler="synchronous")
    assert reads == ["T_TEST_20180824183000.hdf"]  # exactly one file read
    direct = read_odim(series["path"].values[2])
    np.testing.assert_array_equal(third.values, direct.values)
    xr.testing.assert_identical(third["x"].variable, direct["x"].variable)
    xr.testing.assert_identical(third["y"].variable, direct["y"].variable)
    assert third["time"].values == direct["time"].values
    for key, value in direct.attrs.items():
        if key not in archive.PER_FILE_ATTRS:
            assert series.attrs[key] == value, key
    assert series["start_time"].values[2] == np.datetime64(direct.attrs["start_time"])


def test_open_opera_eager_and_rechunked(synthetic):
    lazy = open_opera(synthetic)
    eager = open_opera(synthetic, chunks=None)
    assert eager.chunks is None
    np.testing.assert_array_equal(eager.values, lazy.values)
    assert open_opera(synthetic, chunks=3).chunks[0] == (3, 1)
    with pytest.raises(ValueError, match="chunks"):
        open_opera(synthetic, chunks=0)


def test_mixed_products_and_grids_name_the_odd_file(synthetic, tmp_path):
    odd_product = write_odim(tmp_path / "T_ODD_20180824190000.hdf", "20180824190000", quantity="DBZH")
    with pytest.raises(ValueError, match=r"mixed products.*T_ODD_20180824190000\.hdf"):
        open_opera([*synthetic, odd_product])
    odd_grid = write_odim(tmp_path / "T_GRID_20180824190000.hdf", "20180824190000", shape=(24, 24))
    with pytest.raises(ValueError, match=r"mixed grids.*T_GRID_20180824190000\.hdf"):
        open_opera([odd_grid, *synthetic])  # named even when it comes first
    odd_scale = write_odim(tmp_path / "T_SCALE_20180824190000.hdf", "20180824190000", scale=1000.0)
    with pytest.raises(ValueError, match=r"mixed grids.*T_SCALE"):
        open_opera([*synthetic, odd_scale])


def test_mixed_real_products(odyssey_paths):
    nimbus = str(fetch_opera(opera_files("nimbus_rate")[0]))
    with pytest.raises(ValueError, match=r"mixed products.*T_PAAH22_C_EUOC_20241126010000\.hdf"):
        open_opera([*odyssey_paths, nimbus])


def test_duplicate_times_raise_or_follow_the_policy(synthetic, tmp_path):
    twin = write_odim(tmp_path / "T_TWIN_20180824180000.hdf", "20180824180000", seed=99)
    with pytest.raises(ValueError, match=r"2018-08-24T18:00:00.*T_TEST_20180824180000\.hdf.*T_TWIN"):
        open_opera([*synthetic, twin])
    first = open_opera([*synthetic, twin], on_duplicate="first")
    last = open_opera([*synthetic, twin], on_duplicate="last")
    assert first.sizes["time"] == last.sizes["time"] == 4
    assert first["filename"].values[0] == "T_TEST_20180824180000.hdf"
    assert last["filename"].values[0] == "T_TWIN_20180824180000.hdf"
    np.testing.assert_array_equal(last.isel(time=0).values, read_odim(twin).values)
    with pytest.raises(ValueError, match="on_duplicate"):
        open_opera(synthetic, on_duplicate="newest")


# --------------------------------------------------------------------- lazy == serial


def test_lazy_functionals_equal_serial_numpy_on_real_files(odyssey_paths):
    series = open_opera(list(reversed(odyssey_paths)))
    lazy = minkowski_functionals(series, THRESHOLDS, nan_policy="window")
    assert lazy["area"].chunks is not None  # still lazy
    expected = serial_reference(odyssey_paths)
    np.testing.assert_array_equal(as_array(lazy.compute(scheduler="threads")), expected)
    curves = minkowski_curves(series, THRESHOLDS, scheduler="threads", num_workers=2)
    np.testing.assert_array_equal(as_array(curves), expected)
    assert list(curves["time"].values) == sorted(series["time"].values)


@pytest.mark.parametrize(
    "settings, scheduler",
    [(dict(nan_policy="background", connectivity=4, perimeter="crofton"), "synchronous"),
     (dict(nan_policy="window", connectivity=8, perimeter="crofton", pixel_size=2.0), "processes")],
)
def test_curves_equal_serial_for_all_settings(synthetic, settings, scheduler):
    curves = minkowski_curves(open_opera(synthetic), THRESHOLDS, scheduler=scheduler, num_workers=2, **settings)
    np.testing.assert_array_equal(as_array(curves), serial_reference(synthetic, **settings))
    assert curves.attrs["nan_policy"] == settings["nan_policy"]


def test_curves_of_in_memory_series_and_argument_errors(synthetic):
    eager = open_opera(synthetic, chunks=None)
    np.testing.assert_array_equal(
        as_array(minkowski_curves(eager, THRESHOLDS, scheduler="synchronous")), serial_reference(synthetic)
    )
    with pytest.raises(TypeError, match="series"):
        minkowski_curves(eager.values, THRESHOLDS)
    with pytest.raises(ValueError, match="series must have dims"):
        minkowski_curves(eager.isel(time=0), THRESHOLDS)
    with pytest.raises(ValueError, match="num_workers"):
        minkowski_curves(eager, THRESHOLDS, num_workers=0)
    with pytest.raises(TypeError, match="scheduler"):
        minkowski_curves(eager, THRESHOLDS, scheduler=2)
    with pytest.raises(ValueError, match="thresholds"):
        minkowski_curves(eager, [1.0, 0.5])
    with pytest.raises(ValueError, match="length_unit"):
        minkowski_curves(eager, THRESHOLDS, length_unit="")
    with pytest.raises(ValueError, match="contains NaN"):
        minkowski_curves(eager, THRESHOLDS, nan_policy="raise", scheduler="synchronous")


def test_two_worker_local_cluster_matches_serial(odyssey_paths, synthetic, tmp_path, capsys):
    import distributed

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        curves = minkowski_curves(open_opera(odyssey_paths[:2]), THRESHOLDS, scheduler=client)
        by_address = minkowski_curves(open_opera(odyssey_paths[2:]), THRESHOLDS,
                                      scheduler=cluster.scheduler_address)
        # The command line with the scheduler's address.
        out = tmp_path / "cluster.nc"
        status = run_cli(*synthetic, "--thresholds", "0.1,1,5", "--scheduler", cluster.scheduler_address,
                         "--no-progress", "--out", out)
        assert status == 0, capsys.readouterr().err
    expected = serial_reference(odyssey_paths)
    np.testing.assert_array_equal(as_array(curves), expected[:2])
    np.testing.assert_array_equal(as_array(by_address), expected[2:])
    with xr.open_dataset(out, engine="h5netcdf") as ds:
        np.testing.assert_array_equal(as_array(ds), serial_reference(synthetic, [0.1, 1.0, 5.0]))
        assert list(ds["sha256"].values) == [
            hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in sorted(synthetic)
        ]  # file names sort in time order here


def test_cli_unreachable_scheduler_exits_1(synthetic, tmp_path, capsys):
    out = tmp_path / "c.nc"
    status = run_cli(*synthetic, "--thresholds", "1", "--scheduler", "tcp://127.0.0.1:9",
                     "--connect-timeout", "1", "--out", out)
    assert status == 1
    assert "cannot connect to the dask scheduler 'tcp://127.0.0.1:9'" in capsys.readouterr().err
    assert os.listdir(tmp_path) == ["archive"]


# --------------------------------------------------------------------- rain rate and common grid


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


def test_cirrus_rain_coarsened_to_the_nimbus_grid():
    cirrus = open_opera([fetch_opera(opera_files("cirrus_dbzh")[0])])
    nimbus = read_odim(fetch_opera(opera_files("nimbus_rate")[0]))
    rain_2km = coarsen_nanmean(to_rainrate(cirrus), 2)
    assert rain_2km.shape[1:] == nimbus.shape
    np.testing.assert_array_equal(rain_2km["x"].values, nimbus["x"].values)
    np.testing.assert_array_equal(rain_2km["y"].values, nimbus["y"].values)
    assert rain_2km["time"].values[0] == nimbus["time"].values


# --------------------------------------------------------------------- command line


def run_cli(*args):
    return main([str(a) for a in args])


def test_cli_writes_netcdf_with_provenance(synthetic, tmp_path, capsys):
    out = tmp_path / "curves.nc"
    folder = os.path.dirname(synthetic[0])
    status = run_cli(os.path.join(folder, "*.hdf"), "--thresholds", "0.1,0.5,1,5,10", "--connectivity", "4",
                     "--nan-policy", "window", "--scheduler", "synchronous", "--length-unit", "km", "--out", out)
    assert status == 0, capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["archive", "curves.nc"]  # no temporary left
    with xr.open_dataset(out, engine="h5netcdf") as ds:
        ds = ds.load()
    assert set(NAMES) <= set(ds.data_vars)
    assert ds["area"].dims == ("time", "threshold")
    np.testing.assert_array_equal(ds["threshold"].values, THRESHOLDS)
    expected = serial_reference(synthetic, connectivity=4, pixel_size=2.0)
    np.testing.assert_array_equal(as_array(ds), expected)
    from mink_toolkit import __version__

    assert ds.attrs["mink_toolkit_version"] == __version__
    settings = json.loads(ds.attrs["settings"])
    assert settings["connectivity"] == 4 and settings["thresholds"] == THRESHOLDS
    assert settings["nan_policy"] == "window" and settings["pixel_size"] == 2.0
    assert ds["area"].attrs["units"] == "km2" and ds["perimeter"].attrs["units"] == "km"
    files = json.loads(ds.attrs["source_files"])
    for entry in files:
        assert entry["sha256"] == hashlib.sha256(Path(entry["path"]).read_bytes()).hexdigest()
    assert sorted(e["path"] for e in files) == sorted(synthetic)
    assert list(ds["sha256"].values) == [e["sha256"] for e in files]


def test_cli_writes_zarr_and_refuses_to_overwrite(synthetic, tmp_path, capsys):
    out = tmp_path / "curves.zarr"
    args = [*synthetic, "--thresholds", "0.5,2", "--scheduler", "threads", "--no-progress", "--out", out]
    assert run_cli(*args) == 0
    ds = xr.open_zarr(out).load()
    np.testing.assert_array_equal(as_array(ds), serial_reference(synthetic, [0.5, 2.0]))
    assert run_cli(*args) == 1
    assert "exists" in capsys.readouterr().err
    assert run_cli(*args, "--overwrite") == 0
    assert sorted(os.listdir(tmp_path)) == ["archive", "curves.zarr"]


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", "no such file"),
        ("empty_glob", "matches no file"),
        ("unreadable", "T_BAD_20180824200000.hdf"),
        ("mixed", "mixed products"),
        ("bad_in_task", "T_SHAPE_20180824200000.hdf"),
        ("suffix", "must end in .nc"),
        ("no_dir", "output directory"),
        ("zr_without_rain", "--zr-a/--zr-b only apply with --rain-rate"),
        ("rain_of_rate", "DBZH"),
    ],
)
def test_cli_errors_exit_1_and_write_nothing(case, message, synthetic, tmp_path, capsys):
    folder = Path(synthetic[0]).parent
    out = tmp_path / "curves.nc"
    extra: list = []
    paths: list = list(synthetic)
    if case == "missing":
        paths.append(folder / "T_TEST_20180824200000.hdf")
    elif case == "empty_glob":
        paths = [folder / "*.h5"]
    elif case == "unreadable":
        (folder / "T_BAD_20180824200000.hdf").write_bytes(b"\x89HDF\r\n truncated")
        paths = [folder]
    elif case == "mixed":
        paths.append(write_odim(folder / "T_ODD_20180824200000.hdf", "20180824200000", product="MAX"))
    elif case == "bad_in_task":
        # The header is fine, the image is not: this fails inside a dask task.
        paths.append(write_odim(folder / "T_SHAPE_20180824200000.hdf", "20180824200000", data_shape=(3, 3)))
    elif case == "suffix":
        out = tmp_path / "curves.csv"
    elif case == "no_dir":
        out = tmp_path / "nowhere" / "curves.nc"
    elif case == "zr_without_rain":
        extra = ["--zr-a", "300"]
    elif case == "rain_of_rate":
        extra = ["--rain-rate"]
    before = sorted(os.listdir(tmp_path))
    status = run_cli(*paths, "--thresholds", "0.1,1", "--no-progress", "--out", out, *extra)
    err = capsys.readouterr().err
    assert status == 1
    assert message in err and "Traceback" not in err
    assert sorted(os.listdir(tmp_path)) == before  # nothing written, no temporary left


def test_cli_usage_errors_exit_2(synthetic, tmp_path, capsys):
    out = tmp_path / "c.nc"
    assert run_cli(*synthetic, "--thresholds", "1,0.5", "--out", out) == 2
    assert "strictly increasing" in capsys.readouterr().err
    assert run_cli(*synthetic, "--thresholds", "a,b", "--out", out) == 2
    assert run_cli(*synthetic, "--thresholds", "1") == 2  # no --out
    assert run_cli("--help") == 0
    assert not out.exists()


def test_cli_subprocess_smoke(synthetic, tmp_path):
    out = tmp_path / "smoke.nc"
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run(
        [sys.executable, "-m", "mink_toolkit", "curves", *synthetic, "--thresholds", "0.1,1",
         "--scheduler", "threads", "--workers", "2", "--out", str(out)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "wrote" in done.stderr and "Minkowski curves" in done.stderr  # progress bar on stderr
    with xr.open_dataset(out, engine="h5netcdf") as ds:
        np.testing.assert_array_equal(as_array(ds), serial_reference(synthetic, [0.1, 1.0]))


# --------------------------------------------------------------------- time slider widget


def test_time_slider_logic_without_a_browser(synthetic):
    series = open_opera(synthetic)
    curves = minkowski_curves(series, THRESHOLDS, scheduler="synchronous")
    row = curves_at_time(curves, 2, 1.0)
    assert row["time"] == "2018-08-24T18:30"
    assert row["area"] == curves["area"].values[2, 2]
    assert row["euler_characteristic"] == curves["euler_characteristic"].values[2, 2]
    assert curves_at_time(curves, -1, 10.0)["time"] == "2018-08-24T18:45"
    with pytest.raises(ValueError, match="threshold"):
        curves_at_time(curves, 0, 2.0)
    with pytest.raises(ValueError, match="time_index"):
        curves_at_time(curves, 4, 1.0)

    box = archive_time_explorer(series, curves, threshold=1.0, draw=False)
    assert box.slider.max == 3 and box.label.value == "2018-08-24T18:00 UTC"
    box.slider.value = 3
    expected = curves_at_time(curves, 3, 1.0)
    assert box.label.value == "2018-08-24T18:45 UTC"
    assert box.summary.value == expected["summary"]
    assert f"area {expected['area']:.0f}" in box.summary.value
    box.threshold.value = 5.0
    assert box.summary.value == curves_at_time(curves, 3, 5.0)["summary"]
    with pytest.raises(ValueError, match="same times"):
        archive_time_explorer(series.isel(time=slice(0, 2)), curves, draw=False)
