"""minkowski_curves (curves/lazy.py) on dask schedulers equals the serial numpy result."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from _odim_files import THRESHOLDS, as_array, serial_reference

from mink_toolkit import minkowski_curves, minkowski_functionals, open_opera
from mink_toolkit.cli import curves_main


def run_cli(*args):
    return curves_main([str(a) for a in args])


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
    with pytest.raises(ValueError, match="num_workers must be >= 1; got 0"):
        minkowski_curves(eager, THRESHOLDS, num_workers=0)
    with pytest.raises(TypeError, match="num_workers must be an integer"):
        minkowski_curves(eager, THRESHOLDS, num_workers=2.0)
    with pytest.raises(TypeError, match="scheduler"):
        minkowski_curves(eager, THRESHOLDS, scheduler=2)
    with pytest.raises(ValueError, match="thresholds"):
        minkowski_curves(eager, [1.0, 0.5])
    with pytest.raises(ValueError, match="length_unit"):
        minkowski_curves(eager, THRESHOLDS, length_unit="")
    with pytest.raises(TypeError, match="length_unit"):
        minkowski_curves(eager, THRESHOLDS, length_unit=2)
    with pytest.raises(ValueError, match="contains NaN"):
        minkowski_curves(eager, THRESHOLDS, nan_policy="raise", scheduler="synchronous")


def test_two_worker_local_cluster_matches_serial(odyssey_paths, synthetic, tmp_path, capsys):
    import distributed

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster, distributed.Client(cluster) as client:
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
