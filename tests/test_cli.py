"""``python -m mink_toolkit curves``: outputs, provenance, errors and exit status.

Small synthetic ODIM files (random values) keep it quick.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from _odim_files import NAMES, THRESHOLDS, as_array, serial_reference, write_odim

from mink_toolkit.cli import curves_main, main

REPO = Path(__file__).resolve().parents[1]


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


def test_cli_unreachable_scheduler_exits_1(synthetic, tmp_path, capsys):
    out = tmp_path / "c.nc"
    status = run_cli(*synthetic, "--thresholds", "1", "--scheduler", "tcp://127.0.0.1:9",
                     "--connect-timeout", "1", "--out", out)
    assert status == 1
    assert "cannot connect to the dask scheduler 'tcp://127.0.0.1:9'" in capsys.readouterr().err
    assert os.listdir(tmp_path) == ["archive"]


