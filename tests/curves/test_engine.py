"""The engine of the curves command (curves/engine.py, curves/scheduling.py): one task per file, faults on a cluster."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from _odim_files import THRESHOLDS, serial_reference

from mink_toolkit import minkowski_functionals

#: Seconds a computation on the test cluster may take: a stuck cluster fails the test instead of hanging it.
CLUSTER_TIMEOUT_S = 120


# --------------------------------------------------------------------- one task per file


def test_settings_normalise_compare_and_round_trip():
    from mink_toolkit.curves.engine import CurvesSettings

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
    from mink_toolkit.curves.engine import CurvesSettings, file_curves
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
        import mink_toolkit.curves.engine as engine

        original, name, marker = engine._read_bytes, self.name, self.marker

        def read(path):
            if os.path.basename(path) == name and (marker is None or not os.path.exists(marker)):
                if marker is not None:
                    open(marker, "w").close()
                os._exit(1)
            return original(path)

        engine._read_bytes = read
        self.original = original

    def teardown(self, worker):
        import mink_toolkit.curves.engine as engine

        engine._read_bytes = self.original


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
    from mink_toolkit.curves.engine import CurvesSettings, compute_files

    client = process_cluster
    victim = os.path.basename(sorted(synthetic)[1])
    _register(client, _DieOn(victim, marker=str(tmp_path / "died")), "die-once")
    try:
        run = compute_files(synthetic, CurvesSettings(THRESHOLDS), scheduler=client, timeout=CLUSTER_TIMEOUT_S)
    finally:
        client.unregister_worker_plugin("die-once")
    assert (tmp_path / "died").exists()  # a worker did die
    assert not run.skipped
    curves = np.stack([r["curves"] for r in sorted(run.ok, key=lambda r: r["time"])])
    np.testing.assert_array_equal(curves, serial_reference(synthetic))


def test_a_file_that_kills_every_worker_is_skipped_or_raised(process_cluster, synthetic):
    from distributed import KilledWorker

    from mink_toolkit.curves.engine import CurvesSettings, compute_files

    client = process_cluster
    victim = os.path.basename(sorted(synthetic)[2])
    _register(client, _DieOn(victim), "die-always")
    try:
        run = compute_files(synthetic, CurvesSettings(THRESHOLDS), scheduler=client, on_error="skip",
                            timeout=CLUSTER_TIMEOUT_S)
        assert [os.path.basename(r["path"]) for r in run.skipped] == [victim]
        assert run.skipped[0]["reason"].startswith("a worker died while reading or analysing it, also when run alone")
        assert len(run.ok) == 3
        with pytest.raises(KilledWorker):
            compute_files(synthetic, CurvesSettings(THRESHOLDS), scheduler=client, timeout=CLUSTER_TIMEOUT_S)
    finally:
        client.unregister_worker_plugin("die-always")


def test_files_that_disappear_mid_run_on_a_cluster(process_cluster, synthetic):
    from mink_toolkit.curves.engine import CurvesSettings, compute_files
    from mink_toolkit.io.series import plan_series

    headers, _ = plan_series(synthetic)  # planned while the files exist
    gone = headers[1].path
    os.remove(gone)
    paths = [h.path for h in headers]
    run = compute_files(paths, CurvesSettings(THRESHOLDS), expected=headers, scheduler=process_cluster,
                        on_error="skip", timeout=CLUSTER_TIMEOUT_S)
    assert [r["path"] for r in run.skipped] == [gone]
    assert run.skipped[0]["reason"].startswith("FileNotFoundError")
    with pytest.raises(FileNotFoundError, match=os.path.basename(gone)):
        compute_files(paths, CurvesSettings(THRESHOLDS), expected=headers, scheduler=process_cluster,
                      timeout=CLUSTER_TIMEOUT_S)


def test_a_cluster_computation_past_its_timeout_fails_instead_of_hanging(process_cluster):
    import time

    import dask

    from mink_toolkit.curves.scheduling import compute_streaming

    results = []
    started = time.perf_counter()
    with pytest.raises(TimeoutError):
        compute_streaming([dask.delayed(time.sleep, pure=False)(5)], process_cluster,
                          on_result=lambda i, r: results.append(r), timeout=0.5)
    assert time.perf_counter() - started < 15 and results == []
    with pytest.raises(ValueError, match="timeout must be finite and > 0"):
        compute_streaming([dask.delayed(time.sleep)(0)], process_cluster, on_result=print, timeout=0)
