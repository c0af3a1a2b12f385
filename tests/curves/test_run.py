"""The curves run (curves/run.py) end to end: outputs, provenance, the clutter screen, skipped files.

Driven through the command line's ``curves_main`` (the arguments as a user
types them); small synthetic ODIM files (random values) keep it quick.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import xarray as xr
from _odim_files import NAMES, THRESHOLDS, as_array, serial_reference, write_odim

from mink_toolkit.cli import curves_main


def run_cli(*args):
    return curves_main([str(a) for a in args])


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


def test_cli_clutter_screen_on_the_real_outlier(tmp_path, capsys):
    """22:15 holds the 8646.82 mm/h pixel: 7 pixels above 150 mm/h become NaN and are counted."""
    from mink_toolkit import fetch_opera, minkowski_functionals, read_odim, screen_clutter

    names = ["20180824/T_PAAH21_C_EUOC_20180824221500.hdf", "20180824/T_PAAH21_C_EUOC_20180824223000.hdf"]
    paths = [str(fetch_opera(n)) for n in names]
    screened_out, plain_out = tmp_path / "screened.nc", tmp_path / "plain.nc"
    common = ["--thresholds", "0.1,10,200", "--scheduler", "synchronous", "--no-progress"]
    assert run_cli(*paths, *common, "--out", screened_out) == 0
    assert run_cli(*paths, *common, "--max-rain", "none", "--out", plain_out) == 0
    with xr.open_dataset(screened_out, engine="h5netcdf") as screened, \
            xr.open_dataset(plain_out, engine="h5netcdf") as plain:
        assert screened["clutter_pixels"].values.tolist() == [7, 1]
        assert screened.attrs["clutter_pixels"] == 8 and screened.attrs["max_rain"] == 150.0
        assert plain["clutter_pixels"].values.tolist() == [0, 0] and plain.attrs["max_rain"] == "none"
        assert json.loads(screened.attrs["settings"])["max_rain"] == 150.0
        # above 200 mm/h: the screened field has nothing left, the raw one has the outliers
        assert screened["area"].sel(threshold=200.0).values.tolist() == [0.0, 0.0]
        raw = [read_odim(p).values for p in paths]
        assert plain["area"].sel(threshold=200.0).values.tolist() == [float((r >= 200).sum()) for r in raw] == [6.0, 1.0]
        field, _ = screen_clutter(read_odim(paths[0]).values, 150.0)
        expected = minkowski_functionals(field, [0.1, 10.0, 200.0], nan_policy="window")
        np.testing.assert_array_equal(as_array(screened.isel(time=0)), expected)


def test_cli_clutter_screen_applies_to_rain_not_reflectivity(tmp_path):
    dbz = np.full((24, 20), 60.0)  # 60 dBZ is about 205 mm/h with Marshall-Palmer
    paths = [write_odim(tmp_path / f"T_DBZ_2024112601{m}00.hdf", f"2024112601{m}00", quantity="DBZH",
                        product="MAX", values=dbz) for m in ("00", "05")]
    out = tmp_path / "dbz.nc"
    assert run_cli(*paths, "--thresholds", "10,50", "--scheduler", "synchronous", "--no-progress", "--out", out) == 0
    with xr.open_dataset(out, engine="h5netcdf") as ds:
        assert ds["clutter_pixels"].values.tolist() == [0, 0]  # dBZ is not screened in mm/h
        assert ds["area"].values[:, 1].tolist() == [480.0, 480.0]
    rain = tmp_path / "rain.nc"
    assert run_cli(*paths, "--thresholds", "10,50", "--rain-rate", "--scheduler", "synchronous",
                   "--no-progress", "--out", rain) == 0
    with xr.open_dataset(rain, engine="h5netcdf") as ds:
        assert ds["clutter_pixels"].values.tolist() == [480, 480]  # all above 150 mm/h
        assert ds["area"].values.max() == 0.0


def test_cli_on_error_skip_records_files_and_exits_3(synthetic, tmp_path, capsys):
    folder = Path(synthetic[0]).parent
    (folder / "T_BAD_20180824200000.hdf").write_bytes(b"\x89HDF\r\n truncated")
    write_odim(folder / "T_ODD_20180824201500.hdf", "20180824201500", product="MAX")
    write_odim(folder / "T_SHAPE_20180824203000.hdf", "20180824203000", data_shape=(3, 3))
    out = tmp_path / "curves.nc"
    args = [folder, "--thresholds", "0.1,1", "--scheduler", "threads", "--no-progress", "--out", out]
    assert run_cli(*args) == 1  # default: the first bad file stops the run
    assert not out.exists()
    assert run_cli(*args, "--on-error", "skip") == 3
    err = capsys.readouterr().err
    assert "skipped 3 file(s)" in err
    with xr.open_dataset(out, engine="h5netcdf") as ds:
        np.testing.assert_array_equal(as_array(ds), serial_reference(synthetic, [0.1, 1.0]))
        skipped = {os.path.basename(e["path"]): e["reason"] for e in json.loads(ds.attrs["skipped_files"])}
        assert ds.attrs["n_skipped"] == 3
    assert sorted(skipped) == ["T_BAD_20180824200000.hdf", "T_ODD_20180824201500.hdf", "T_SHAPE_20180824203000.hdf"]
    assert skipped["T_BAD_20180824200000.hdf"].startswith("OperaFileError")
    assert "mixed products" in skipped["T_ODD_20180824201500.hdf"]
    assert "data shape (3, 3)" in skipped["T_SHAPE_20180824203000.hdf"]


def test_cli_on_dask_processes_writes_the_same_curves(synthetic, tmp_path, capsys):
    """The per-file task and its arguments travel to worker processes (pickled) and back."""
    out = tmp_path / "processes.zarr"
    status = run_cli(*synthetic, "--thresholds", "0.1,1", "--scheduler", "processes", "--workers", "2",
                     "--no-progress", "--out", out)
    assert status == 0, capsys.readouterr().err
    ds = xr.open_zarr(out).load()
    np.testing.assert_array_equal(as_array(ds), serial_reference(synthetic, [0.1, 1.0]))
    assert ds.attrs["complete"] == 1 and list(ds["clutter_pixels"].values) == [0, 0, 0, 0]
