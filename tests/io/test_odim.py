"""ODIM headers: one parser for read_odim and the lazy series."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from mink_toolkit import OperaFileError, fetch_opera, opera_files, read_odim
from mink_toolkit.io.odim import read_odim_header


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


