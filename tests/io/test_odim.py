"""ODIM headers: one parser for read_odim and the lazy series."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from mink_toolkit import OperaFileError, fetch_opera, opera_files, read_odim
from mink_toolkit.io import odim
from mink_toolkit.io.odim import odim_attrs, read_odim_header, read_odim_values

PRODUCTS = ("odyssey_rate", "cirrus_dbzh", "nimbus_rate", "nimbus_acrr")


@pytest.mark.parametrize("product", PRODUCTS)
def test_read_odim_is_its_header_plus_the_image(product):
    """The DataArray's attrs and coords come from the header alone: one parser, one truth."""
    path = fetch_opera(opera_files(product)[0])
    header = read_odim_header(path)
    field = read_odim(path)
    assert field.attrs == odim_attrs(header)
    assert list(field.attrs) == list(odim_attrs(header))  # same order as users see it
    x, y = header.coords()
    np.testing.assert_array_equal(field.x.values, x)
    np.testing.assert_array_equal(field.y.values, y)
    assert field.time.values == header.time and field.shape == header.shape
    assert (header.x_edge, header.y_edge) == (0.0, 0.0)  # README: x 0 ... 3 800 km, y -4 400 km ... 0
    again, values = read_odim_values(path)
    assert again == header
    np.testing.assert_array_equal(values, field.values)


def test_every_reader_goes_through_the_one_parser(odyssey_paths, monkeypatch):
    calls = []
    original = odim._parse_header

    def counting(handle, path):
        calls.append(path)
        return original(handle, path)

    monkeypatch.setattr(odim, "_parse_header", counting)
    read_odim_header(odyssey_paths[0])
    read_odim(odyssey_paths[0])
    read_odim_values(odyssey_paths[0])
    assert calls == [odyssey_paths[0]] * 3


def test_header_defaults_and_optional_fields(tmp_path):
    """Missing gain/offset take the ODIM defaults; a missing valid period is NaT and left out of attrs."""
    from _odim_files import write_odim

    path = write_odim(tmp_path / "T_MIN_20180824180000.hdf")
    with h5py.File(path, "r+") as f:
        for key in ("gain", "offset", "startdate", "starttime", "enddate", "endtime"):
            del f["dataset1/what"].attrs[key]
    header = read_odim_header(path)
    assert (header.gain, header.offset) == (1.0, 0.0)
    assert np.isnat(header.start_time) and np.isnat(header.end_time)
    assert header.zr_a is None and header.prodname is None
    attrs = read_odim(path).attrs
    assert "start_time" not in attrs and attrs["gain"] == 1.0 and attrs["units"] == "mm/h"


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
    with pytest.raises(FileNotFoundError, match="missing.hdf"):
        read_odim_header(tmp_path / "missing.hdf")


def test_image_that_disagrees_with_its_header_is_refused(tmp_path):
    from _odim_files import write_odim

    path = write_odim(tmp_path / "T_SHAPE_20180824180000.hdf", data_shape=(3, 3))
    read_odim_header(path)  # the header alone looks fine
    with pytest.raises(OperaFileError, match=r"T_SHAPE_20180824180000\.hdf: data shape \(3, 3\)"):
        read_odim(path)




@pytest.mark.parametrize("layout", ["deflate", "shuffle", "contiguous", "sparse"])
def test_image_read_outside_hdf5_equals_hdf5s_own_read(tmp_path, layout):
    """The deflate fast path (edge chunks, chunks never written) and the HDF5 fallback agree with h5py."""
    from _odim_files import write_odim

    rng = np.random.default_rng(3)
    values = rng.gamma(0.5, 2.0, size=(37, 29)).round(2)
    path = write_odim(tmp_path / "T_LAYOUT_20180824180000.hdf", shape=values.shape, values=values)
    with h5py.File(path, "r+") as f:
        del f["dataset1/data1/data"]
        options = {
            "deflate": dict(chunks=(10, 8), compression="gzip", compression_opts=9),
            "shuffle": dict(chunks=(10, 8), compression="gzip", shuffle=True),
            "contiguous": dict(),
            "sparse": dict(chunks=(10, 8), compression="gzip", fillvalue=-8888000.0),
        }[layout]
        dset = f.create_dataset("dataset1/data1/data", shape=values.shape, dtype="f8", **options)
        if layout == "sparse":
            dset[:10, :8] = values[:10, :8]  # one chunk written, the others hold the fill value
        else:
            dset[...] = values
    with h5py.File(path) as f:
        expected = f["dataset1/data1/data"][...]
        fast = odim._deflate_chunks(f["dataset1/data1/data"]) is not None
    assert fast == (layout in ("deflate", "sparse"))
    _, decoded = read_odim_values(path)
    expected = np.where(expected == -8888000.0, 0.0, expected)  # undetect -> 0 mm/h
    np.testing.assert_array_equal(decoded, expected)


def test_damaged_deflate_stream_is_a_clear_error(tmp_path):
    """A chunk whose compressed bytes are damaged: OperaFileError naming the file, no zlib traceback."""
    from _odim_files import write_odim

    path = write_odim(tmp_path / "T_DAMAGED_20180824180000.hdf")
    with h5py.File(path) as f:
        start, size = [(i.byte_offset, i.size) for i in
                       (f["dataset1/data1/data"].id.get_chunk_info(0),)][0]
    data = bytearray(open(path, "rb").read())
    data[start + 2 : start + size] = bytes(size - 2)  # keep the zlib header, zero the stream
    open(path, "wb").write(bytes(data))
    with pytest.raises(OperaFileError, match=r"T_DAMAGED_20180824180000\.hdf.*corrupt"):
        read_odim(path)


def test_a_directory_is_named_as_one(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a directory, not a file"):
        read_odim(tmp_path)


def test_only_registry_files_get_the_advice_to_fetch_them_again(tmp_path, monkeypatch):
    """A damaged copy of a registered file can be fetched again; a user's own file cannot."""
    name = opera_files("nimbus_rate")[0]
    source = fetch_opera(name)
    copy = tmp_path / "data" / name
    copy.parent.mkdir(parents=True)
    copy.write_bytes(source.read_bytes()[:1000])
    monkeypatch.setenv("MINK_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(OperaFileError, match="delete it and fetch it again"):
        read_odim(copy)
    own = tmp_path / "own.hdf"
    own.write_bytes(source.read_bytes()[:1000])
    with pytest.raises(OperaFileError, match=r"own\.hdf is not a readable ODIM-HDF5 file") as info:
        read_odim(own)
    assert "fetch it again" not in str(info.value)
