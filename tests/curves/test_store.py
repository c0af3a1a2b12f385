"""Resumable Zarr output: commits, interrupted appends, settings checks, killed runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from _odim_files import as_array, serial_reference, write_odim

from mink_toolkit.curves.engine import CurvesSettings, compute_files
from mink_toolkit.cli import curves_main
from mink_toolkit.curves.store import CurvesStore, StoreSettingsError
from mink_toolkit.io.series import plan_series

REPO = Path(__file__).resolve().parents[1]
SETTINGS = CurvesSettings([0.1, 1.0, 5.0], max_rain=150.0)


def _records(paths, settings=SETTINGS):
    headers, _ = plan_series(paths)
    return headers, compute_files([h.path for h in headers], settings, scheduler="synchronous").ok


def _committed(out: Path) -> int:
    try:
        return int(json.loads((out / ".zattrs").read_text()).get("committed", 0))
    except (FileNotFoundError, json.JSONDecodeError):
        return 0


def _same_curves(a: xr.Dataset, b: xr.Dataset) -> None:
    np.testing.assert_array_equal(as_array(a), as_array(b))
    for name in ("time", "path", "sha256", "clutter_pixels", "start_time", "end_time", "threshold"):
        np.testing.assert_array_equal(a[name].values, b[name].values)


def test_commits_are_appended_and_an_interrupted_append_is_dropped(synthetic, tmp_path, monkeypatch):
    headers, records = _records(synthetic)
    out = tmp_path / "c.zarr"
    store = CurvesStore.create(out, SETTINGS, headers[0])
    store.append(records[:1])
    store.append(records[1:2])
    assert store.committed == 2

    # The next append writes its rows, then dies before raising the counter.
    def die(self, attrs):
        raise KeyboardInterrupt("killed between the rows and the commit")

    monkeypatch.setattr(CurvesStore, "_commit", die)
    with pytest.raises(KeyboardInterrupt):
        store.append(records[2:])
    monkeypatch.undo()
    assert xr.open_zarr(out, consolidated=False).sizes["time"] == 4  # the rows are there ...
    reopened = CurvesStore.open(out, SETTINGS)
    assert reopened.committed == 2  # ... but not committed: trimmed away
    assert [r["path"] for r in reopened.records()] == [r["path"] for r in records[:2]]
    assert xr.open_zarr(out).sizes["time"] == 2
    reopened.append(records[2:])
    final = reopened.finalize(reopened.records(), {"title": "t"})
    ds = xr.open_zarr(final).load()
    assert ds.attrs["complete"] == 1 and ds.attrs["committed"] == 4
    np.testing.assert_array_equal(as_array(ds), serial_reference(synthetic, list(SETTINGS.thresholds)))


def test_a_store_with_other_settings_is_refused_naming_the_difference(synthetic, tmp_path):
    headers, records = _records(synthetic)
    out = tmp_path / "c.zarr"
    CurvesStore.create(out, SETTINGS, headers[0]).append(records)
    other = CurvesSettings([0.1, 1.0, 5.0], max_rain=None, connectivity=4)
    with pytest.raises(StoreSettingsError, match=r"connectivity: 4 here, 8 there; max_rain: None here, 150.0 there"):
        CurvesStore.open(out, other)
    shifted = write_odim(tmp_path / "T_GRID_20180824190000.hdf", "20180824190000", shape=(24, 24))
    grid, _ = plan_series([shifted])
    with pytest.raises(StoreSettingsError, match="another product or grid"):
        CurvesStore.open(out, SETTINGS, reference=grid[0])
    xr.Dataset({"a": ("t", [1.0])}).to_zarr(tmp_path / "plain.zarr", zarr_format=2)
    with pytest.raises(StoreSettingsError, match="not a curves store"):
        CurvesStore.open(tmp_path / "plain.zarr", SETTINGS)
    with pytest.raises(FileNotFoundError):
        CurvesStore.open(tmp_path / "missing.zarr", SETTINGS)


def test_an_interrupted_directory_swap_is_recovered(synthetic, tmp_path):
    headers, records = _records(synthetic)
    out = tmp_path / "c.zarr"
    store = CurvesStore.create(out, SETTINGS, headers[0])
    store.append(records)
    os.replace(out, tmp_path / ".c.zarr.old-123-abcd")  # killed between the two renames
    (tmp_path / ".c.zarr.tmp-123-abcd").mkdir()  # and the new copy was never renamed
    reopened = CurvesStore.open(out, SETTINGS)
    assert reopened.committed == 4 and sorted(os.listdir(tmp_path)) == ["archive", "c.zarr"]


def run_cli(*args):
    return curves_main([str(a) for a in args])


def test_resume_skips_recorded_files_extends_and_replaces_changed_ones(synthetic, tmp_path, capsys):
    out = tmp_path / "c.zarr"
    common = ["--thresholds", "0.1,1,5", "--scheduler", "synchronous", "--no-progress", "--out", out]
    assert run_cli(*synthetic[:2], *common) == 0
    assert run_cli(*synthetic[:2], *common) == 1  # exists: --resume or --overwrite
    assert "--resume to continue it" in capsys.readouterr().err

    calls = []
    import mink_toolkit.curves.engine as engine

    original = engine.field_curves

    def counting(values, header, settings):
        calls.append(os.path.basename(header.path))
        return original(values, header, settings)

    engine.field_curves = counting
    try:
        assert run_cli(*synthetic, *common, "--resume") == 0
        assert sorted(calls) == sorted(os.path.basename(p) for p in synthetic[2:])  # only the new files
        assert "2 file(s) recorded" in capsys.readouterr().err
        calls.clear()
        write_odim(synthetic[3], "20180824181500", seed=42)  # same name and time, other bytes
        assert run_cli(*synthetic, *common, "--resume") == 0
        assert calls == [os.path.basename(synthetic[3])]
    finally:
        engine.field_curves = original
    ds = xr.open_zarr(out).load()
    assert ds.attrs["complete"] == 1 and ds.sizes["time"] == 4
    np.testing.assert_array_equal(as_array(ds), serial_reference(synthetic, [0.1, 1.0, 5.0]))
    assert run_cli(*synthetic, *common, "--resume", "--connectivity", "4") == 1
    assert "connectivity: 4 here, 8 there" in capsys.readouterr().err
    assert run_cli(*synthetic, "--thresholds", "1", "--resume", "--out", tmp_path / "c.nc") == 2
    assert "--resume needs a Zarr output" in capsys.readouterr().err


def test_a_killed_run_resumed_gives_the_curves_of_an_uninterrupted_run(tmp_path, capsys):
    from mink_toolkit import fetch_opera, opera_files

    paths = [str(fetch_opera(n)) for n in opera_files("odyssey_rate")[:10]]
    common = ["--thresholds", "0.1,1,10", "--no-progress", "--commit-every", "1"]
    killed = tmp_path / "killed.zarr"
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    child = subprocess.Popen(
        [sys.executable, "-m", "mink_toolkit", "curves", *paths, *common, "--scheduler", "synchronous",
         "--out", str(killed)],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while _committed(killed) < 3 and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    at_kill = _committed(killed)
    assert 3 <= at_kill < len(paths), "the run should have been killed mid-way"
    assert json.loads((killed / ".zattrs").read_text())["complete"] == 0

    assert run_cli(*paths, *common, "--scheduler", "threads", "--resume", "--out", killed) == 0
    assert f"{at_kill} file(s) recorded" in capsys.readouterr().err
    whole = tmp_path / "whole.zarr"
    assert run_cli(*paths, *common, "--scheduler", "threads", "--out", whole) == 0
    resumed, uninterrupted = xr.open_zarr(killed).load(), xr.open_zarr(whole).load()
    _same_curves(resumed, uninterrupted)
    assert resumed.attrs["complete"] == 1 and resumed.attrs["committed"] == len(paths)
    assert sorted(os.listdir(tmp_path)) == ["killed.zarr", "whole.zarr"]
