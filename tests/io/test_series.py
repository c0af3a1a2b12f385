"""Lazy OPERA series: file lists, one series per product and grid, lazy reads.

Small synthetic ODIM files (``_odim_files.write_odim``: random values,
nothing cut from real data) exercise the rules quickly; the real files come
from $MINK_DATA_DIR through the registry.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from _odim_files import NODATA, UNDETECT, write_odim

from mink_toolkit import fetch_opera, open_opera, opera_files, read_odim
from mink_toolkit.io import series as series_module
from mink_toolkit.io.series import resolve_paths

RNG = np.random.default_rng(20261127)


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


def test_open_opera_is_lazy_sorted_and_labelled_like_read_odim(synthetic, monkeypatch):
    reads = []
    original = series_module._read_values

    def counting(path):
        reads.append(os.path.basename(path))
        return original(path)

    monkeypatch.setattr(series_module, "_read_values", counting)
    series = open_opera(synthetic)
    # No image is read when opening: coordinates and attrs come from the headers.
    assert reads == []
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
        if key not in series_module.PER_FILE_ATTRS:
            assert series.attrs[key] == value, key
    assert series["start_time"].values[2] == np.datetime64(direct.attrs["start_time"])


def test_open_opera_eager_and_rechunked(synthetic):
    lazy = open_opera(synthetic)
    eager = open_opera(synthetic, chunks=None)
    assert eager.chunks is None
    np.testing.assert_array_equal(eager.values, lazy.values)
    assert open_opera(synthetic, chunks=3).chunks[0] == (3, 1)
    with pytest.raises(ValueError, match="chunks must be >= 1"):
        open_opera(synthetic, chunks=0)
    with pytest.raises(TypeError, match="chunks must be an integer"):
        open_opera(synthetic, chunks=1.5)


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


def test_a_file_rewritten_after_opening_is_an_error_naming_it(synthetic):
    series = open_opera(synthetic)
    replaced = series["path"].values[1]
    write_odim(replaced, "20180824191500", seed=7)  # same name, another nominal time
    with pytest.raises(ValueError, match=rf"{os.path.basename(replaced)}: its time is now 2018-08-24T19:15"):
        series.isel(time=1).compute(scheduler="synchronous")
    np.testing.assert_array_equal(series.isel(time=0).values, read_odim(series["path"].values[0]).values)


def test_grid_origin_is_part_of_the_grid(synthetic, tmp_path):
    import h5py

    shifted = write_odim(tmp_path / "T_SHIFT_20180824190000.hdf", "20180824190000")
    with h5py.File(shifted, "r+") as f:
        f["where"].attrs["UL_lon"] = -30.0  # same size and projection, another origin
    with pytest.raises(ValueError, match=r"mixed grids.*T_SHIFT_20180824190000\.hdf"):
        open_opera([*synthetic, shifted])
