"""The curves engine: minkowski_curves on dask schedulers equals the serial numpy result."""

from __future__ import annotations

import hashlib
import os
import sys
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




# --------------------------------------------------------------------- one task per file


def test_settings_normalise_compare_and_round_trip():
    from mink_toolkit.archive import CurvesSettings

    a = CurvesSettings([0.1, 1], max_rain=150, coarsen=np.int64(2))
    assert a.thresholds == (0.1, 1.0) and a.max_rain == 150.0 and type(a.coarsen) is int
    assert CurvesSettings.from_dict(a.to_dict()) == a
    b = CurvesSettings((0.1, 1.0), max_rain=None, coarsen=2, connectivity=4)
    assert a.mismatches(b) == ["connectivity: 8 here, 4 there", "max_rain: 150.0 here, None there"]
    assert a.mismatches(a) == []
    with pytest.raises(ValueError, match="unknown curves settings"):
        CurvesSettings.from_dict({**a.to_dict(), "colour": "red"})
    with pytest.raises(ValueError, match="zr_a/zr_b only apply with rain_rate"):
        CurvesSettings([1.0], zr_a=200.0, zr_b=1.6)
    with pytest.raises(ValueError, match="given together"):
        CurvesSettings([1.0], rain_rate=True, zr_a=200.0)
    with pytest.raises(TypeError, match="coarsen must be an integer"):
        CurvesSettings([1.0], coarsen=2.0)
    with pytest.raises(ValueError, match="length_unit"):
        CurvesSettings([1.0], length_unit="mile")


def test_file_curves_equals_the_functionals_of_the_file(odyssey_paths):
    from mink_toolkit import read_odim
    from mink_toolkit.archive import CurvesSettings, file_curves
    from mink_toolkit.io.registry import file_sha256

    settings = CurvesSettings(THRESHOLDS, perimeter="crofton", length_unit="km")
    record = file_curves(odyssey_paths[1], settings)
    field = read_odim(odyssey_paths[1])
    expected = minkowski_functionals(field.values, THRESHOLDS, perimeter="crofton", nan_policy="window",
                                     pixel_size=2.0)
    np.testing.assert_array_equal(record["curves"], expected)
    assert record["sha256"] == file_sha256(odyssey_paths[1])
    assert record["time"] == field.time.values and record["clutter_pixels"] == 0
    # A header that no longer matches the plan is an error naming the file.
    other = file_curves(odyssey_paths[0], settings)["header"]
    with pytest.raises(ValueError, match=r"T_PAAH21_C_EUOC_20180824181500\.hdf: its time is"):
        file_curves(odyssey_paths[1], settings, expected=other)
    skipped = file_curves(odyssey_paths[1], settings, expected=other, on_error="skip")
    assert skipped["status"] == "skipped" and skipped["reason"].startswith("ValueError: ")


# --------------------------------------------------------------------- faults on a LocalCluster


class _DieOn:
    """Worker plugin: the worker process exits when it reads the file ``name``.

    With ``marker``, only the first time (the marker file records it); without,
    every time, on every worker, restarted ones included (plugins are installed
    on new workers too).
    """

    def __init__(self, name, marker=None):
        self.name, self.marker = name, marker

    def setup(self, worker):
        import mink_toolkit.archive as archive

        original, name, marker = archive._read_bytes, self.name, self.marker

        def read(path):
            if os.path.basename(path) == name and (marker is None or not os.path.exists(marker)):
                if marker is not None:
                    open(marker, "w").close()
                os._exit(1)
            return original(path)

        archive._read_bytes = read
        self.original = original

    def teardown(self, worker):
        import mink_toolkit.archive as archive

        archive._read_bytes = self.original


@pytest.fixture(scope="module")
def process_cluster():
    import cloudpickle
    import dask
    import distributed

    # The plugin class travels by value: worker processes need not import this test module.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                     dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        yield client
    cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def _register(client, plugin, name):
    from distributed.diagnostics.plugin import WorkerPlugin

    class Plugin(WorkerPlugin):
        def setup(self, worker):
            plugin.setup(worker)

        def teardown(self, worker):  # on unregister: the next test's files share the names
            plugin.teardown(worker)

    client.register_plugin(Plugin(), name=name)


def test_a_worker_that_dies_once_is_replaced_and_nothing_is_lost(process_cluster, synthetic, tmp_path):
    from mink_toolkit.archive import CurvesSettings, compute_files

    client = process_cluster
    victim = os.path.basename(sorted(synthetic)[1])
    _register(client, _DieOn(victim, marker=str(tmp_path / "died")), "die-once")
    try:
        run = compute_files(synthetic, CurvesSettings(THRESHOLDS), scheduler=client)
    finally:
        client.unregister_worker_plugin("die-once")
    assert (tmp_path / "died").exists()  # a worker did die
    assert not run.skipped
    curves = np.stack([r["curves"] for r in sorted(run.ok, key=lambda r: r["time"])])
    np.testing.assert_array_equal(curves, serial_reference(synthetic))


def test_a_file_that_kills_every_worker_is_skipped_or_raised(process_cluster, synthetic):
    from distributed import KilledWorker

    from mink_toolkit.archive import CurvesSettings, compute_files

    client = process_cluster
    victim = os.path.basename(sorted(synthetic)[2])
    _register(client, _DieOn(victim), "die-always")
    try:
        run = compute_files(synthetic, CurvesSettings(THRESHOLDS), scheduler=client, on_error="skip")
        assert [os.path.basename(r["path"]) for r in run.skipped] == [victim]
        assert run.skipped[0]["reason"].startswith("a worker died while reading or analysing it, also when run alone")
        assert len(run.ok) == 3
        with pytest.raises(KilledWorker):
            compute_files(synthetic, CurvesSettings(THRESHOLDS), scheduler=client)
    finally:
        client.unregister_worker_plugin("die-always")


def test_files_that_disappear_mid_run_on_a_cluster(process_cluster, synthetic):
    from mink_toolkit.archive import CurvesSettings, compute_files
    from mink_toolkit.io.series import plan_series

    headers, _ = plan_series(synthetic)  # planned while the files exist
    gone = headers[1].path
    os.remove(gone)
    paths = [h.path for h in headers]
    run = compute_files(paths, CurvesSettings(THRESHOLDS), expected=headers, scheduler=process_cluster,
                        on_error="skip")
    assert [r["path"] for r in run.skipped] == [gone]
    assert run.skipped[0]["reason"].startswith("FileNotFoundError")
    with pytest.raises(FileNotFoundError, match=os.path.basename(gone)):
        compute_files(paths, CurvesSettings(THRESHOLDS), expected=headers, scheduler=process_cluster)
