r"""ODIM-HDF5 composites: one header parser, one image decoder.

The EUMETNET OPERA composites (``../shared/data/opera/README.md``) follow
ODIM_H5 2.0 (2018 Odyssey) and 2.4 (2024 CIRRUS, NIMBUS) (Michelson et
al., "EUMETNET OPERA weather radar information model for implementation
with the HDF5 file format", version 2.4, 2021).

* :func:`read_odim_header` reads what describes a file -- times, quantity,
  product, grid, calibration -- without its image (milliseconds). The lazy
  series (:func:`mink_toolkit.io.series.open_opera`) reads only this for
  every file.
* :func:`read_odim` decodes the image with the *same* header
  (:func:`_parse_header` is the only place that interprets ODIM metadata),
  so a series and a single file cannot disagree about a file.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._validation import check_path
from .projection import project_lonlat
from .registry import OperaFileError, is_registry_file

__all__ = [
    "DBZH_UNDETECT_FLOOR",
    "OdimHeader",
    "odim_attrs",
    "odim_dataarray",
    "read_odim",
    "read_odim_header",
    "read_odim_values",
]

#: Default value (dBZ) given to DBZH pixels flagged ``undetect`` ("covered, no
#: echo"). It lies below every measured value in the OPERA collection
#: (minimum -33.5 dBZ), so the "no echo" pixels stay distinguishable, and
#: :func:`mink_toolkit.dbz_to_rainrate` maps exactly this value to 0 mm/h.
DBZH_UNDETECT_FLOOR = -35.0

_UNITS = {"RATE": "mm/h", "ACRR": "mm", "DBZH": "dBZ", "DBZV": "dBZ", "TH": "dBZ"}
_LONG_NAMES = {
    "RATE": "rain rate",
    "ACRR": "accumulated precipitation",
    "DBZH": "horizontal reflectivity",
}
_REFLECTIVITY = ("DBZH", "DBZV", "TH", "TV")
_PRODUCT_CODES = {
    "T_PAAH21": "odyssey_rate",
    "T_PABV21": "cirrus_dbzh",
    "T_PAAH22": "nimbus_rate",
    "T_PASH22": "nimbus_acrr",
}
_IMAGE = "dataset1/data1/data"


def _text(value) -> str:
    """ODIM string attributes are fixed-length bytes; return str."""
    if isinstance(value, (bytes, np.bytes_)):
        return value.decode("ascii", errors="replace").strip("\x00").strip()
    if isinstance(value, np.ndarray) and value.dtype.kind == "S":
        return _text(value.tobytes())
    return str(value)


def _odim_datetime(date: str, time: str) -> np.datetime64:
    if not (re.fullmatch(r"\d{8}", date) and re.fullmatch(r"\d{6}", time)):
        raise ValueError(f"bad ODIM date/time {date!r} {time!r}")
    iso = f"{date[:4]}-{date[4:6]}-{date[6:]}T{time[:2]}:{time[2:4]}:{time[4:]}"
    return np.datetime64(iso, "ns")


def _snap(edge: float, scale: float) -> float:
    """Snap a projected corner to the pixel lattice when it is within 1 % of a pixel.

    The corner longitudes/latitudes are stored with about 1e-5 degree
    precision: NIMBUS corners project to -2.5 m / -1.0 m instead of 0 m. The
    OPERA grids are aligned to whole pixels, so a corner that close to a
    multiple of the pixel size is taken to be on it; otherwise it is rounded
    to the metre.
    """
    nearest = round(edge / scale) * scale
    return float(nearest) if abs(edge - nearest) <= 0.01 * scale else float(round(edge))


@dataclass(frozen=True)
class OdimHeader:
    """Everything about one ODIM-HDF5 composite except its image.

    Attributes
    ----------
    path : str
    time : numpy.datetime64
        Nominal time (``what/date`` + ``what/time``, UTC), ``datetime64[ns]``.
    start_time, end_time : numpy.datetime64
        Valid period (``dataset1/what`` start/end date and time); NaT if absent.
    quantity : str
        ``RATE``, ``DBZH``, ``ACRR`` ...
    product : str
        ``dataset1/what/product`` (``COMP``, ``MAX``, ``PPI`` ...), else ``what/object``.
    prodname : str or None
        ``dataset1/what/prodname`` when present.
    source : str
        ``what/source`` (``ORG:247`` for OPERA).
    odim_version : str
        Root ``Conventions`` (else ``what/version``).
    shape : tuple of int
        ``(ysize, xsize)``, the image shape.
    xscale, yscale : float
        Pixel size in metres.
    x_edge, y_edge : float
        Projected coordinates (m) of the grid's western and northern edges:
        the upper-left corner (``UL_lon``, ``UL_lat``) projected with
        ``projdef`` and snapped to the pixel lattice (see :func:`read_odim`).
    projdef : str
        PROJ string of the grid.
    gain, offset : float
        Calibration, physical = raw * gain + offset (ODIM defaults 1 and 0).
    nodata, undetect : float or None
        Raw sentinels for "outside coverage" and "covered, no echo".
    zr_a, zr_b : float or None
        Z--R coefficients (``dataset1/data1/how``) when the file gives them.
    """

    path: str
    time: np.datetime64
    start_time: np.datetime64
    end_time: np.datetime64
    quantity: str
    product: str
    prodname: str | None
    source: str
    odim_version: str
    shape: tuple[int, int]
    xscale: float
    yscale: float
    x_edge: float
    y_edge: float
    projdef: str
    gain: float
    offset: float
    nodata: float | None
    undetect: float | None
    zr_a: float | None = None
    zr_b: float | None = None

    @property
    def kind(self) -> tuple[str, str]:
        """(quantity, product): files of one series must agree on it."""
        return (self.quantity, self.product)

    @property
    def grid(self) -> tuple:
        """(shape, xscale, yscale, projdef, x_edge, y_edge): files of one series must agree on it."""
        return (self.shape, self.xscale, self.yscale, self.projdef, self.x_edge, self.y_edge)

    @property
    def undetect_value(self) -> float:
        """Decoded value of "covered, no echo" pixels with :func:`read_odim`'s defaults."""
        return DBZH_UNDETECT_FLOOR if self.quantity in _REFLECTIVITY else 0.0

    @property
    def units(self) -> str:
        """Physical units of the quantity (``mm/h``, ``mm``, ``dBZ``; empty if unknown)."""
        return _UNITS.get(self.quantity, "")

    def check_unchanged(self, expected: "OdimHeader | None") -> None:
        """Raise ``ValueError`` naming the file if its time, product or grid differ from ``expected``.

        A file read by a task must still be the file that was planned (opened
        as part of a series, or listed for a run): one rewritten meanwhile
        would otherwise give a silently wrong time step.
        """
        if expected is None:
            return
        for what, now, then in (("time", self.time, expected.time), ("product", self.kind, expected.kind),
                                ("grid", self.grid, expected.grid)):
            if now != then:
                raise ValueError(f"{self.path}: its {what} is now {now}, but was {then} when it was planned")

    def coords(self) -> tuple[np.ndarray, np.ndarray]:
        """Pixel-centre coordinates ``(x, y)`` in metres of ``projdef``; y decreases down the rows."""
        ysize, xsize = self.shape
        x = self.x_edge + self.xscale * (np.arange(xsize) + 0.5)
        y = self.y_edge - self.yscale * (np.arange(ysize) + 0.5)
        return x, y


def _first(groups, key):
    """ODIM lets an attribute sit in the most specific ``what`` group that applies."""
    for attrs in groups:
        if key in attrs:
            return attrs[key]
    return None


def _parse_header(handle, path: str) -> OdimHeader:
    """The one interpretation of ODIM metadata in the toolkit (``handle``: an open h5py.File).

    Raises ``KeyError``/``ValueError``/``TypeError`` for missing or bad
    metadata; the callers turn them into :class:`OperaFileError`.
    """
    what, where = handle["what"].attrs, handle["where"].attrs
    dwhat = handle["dataset1/what"].attrs
    # Calibration and quantity: dataset1/data1/what (ODIM 2.4) first, then dataset1/what (2.0).
    groups = [handle[g].attrs for g in ("dataset1/data1/what", "dataset1/what") if g in handle]
    quantity = _first(groups, "quantity")
    if quantity is None:
        raise KeyError("quantity (in dataset1/data1/what or dataset1/what)")
    if _IMAGE not in handle:
        raise KeyError(_IMAGE)

    def optional_float(value):
        return None if value is None else float(value)

    def period(day, clock):
        if day in dwhat and clock in dwhat:
            return _odim_datetime(_text(dwhat[day]), _text(dwhat[clock]))
        return np.datetime64("NaT", "ns")

    projdef = _text(where["projdef"])
    xscale, yscale = float(where["xscale"]), float(where["yscale"])
    ul_x, ul_y = project_lonlat(float(where["UL_lon"]), float(where["UL_lat"]), projdef)
    how = handle["dataset1/data1/how"].attrs if "dataset1/data1/how" in handle else {}
    gain, offset = _first(groups, "gain"), _first(groups, "offset")
    return OdimHeader(
        path=path,
        time=_odim_datetime(_text(what["date"]), _text(what["time"])),
        start_time=period("startdate", "starttime"),
        end_time=period("enddate", "endtime"),
        quantity=_text(quantity),
        product=_text(dwhat.get("product", what.get("object", b""))),
        prodname=_text(dwhat["prodname"]) if "prodname" in dwhat else None,
        source=_text(what["source"]),
        odim_version=_text(handle.attrs.get("Conventions", what.get("version", b""))),
        shape=(int(where["ysize"]), int(where["xsize"])),
        xscale=xscale,
        yscale=yscale,
        x_edge=_snap(float(ul_x), xscale),
        y_edge=_snap(float(ul_y), yscale),
        projdef=projdef,
        # ODIM defaults (gain 1, offset 0) when absent.
        gain=1.0 if gain is None else float(gain),
        offset=0.0 if offset is None else float(offset),
        nodata=optional_float(_first(groups, "nodata")),
        undetect=optional_float(_first(groups, "undetect")),
        zr_a=optional_float(how.get("zr_a")),
        zr_b=optional_float(how.get("zr_b")),
    )


def _open(path, data: bytes | None = None) -> tuple[str, object]:
    """Open an HDF5 file (or its bytes) for reading, with the toolkit's errors."""
    import io

    import h5py

    path = os.fspath(path) if data is not None else check_path(path, "path", what="ODIM file")
    try:
        return path, h5py.File(path if data is None else io.BytesIO(data), "r")
    except OSError as exc:
        raise _file_error(path, exc) from None


def zlib_error():
    """The exception of a damaged deflate stream (a truncated or corrupt file)."""
    import zlib

    return zlib.error


def _file_error(path: str, exc: Exception) -> OperaFileError:
    # h5py raises OSError for truncated/corrupt files and KeyError for
    # missing groups; show one clear line instead of its traceback. Only a
    # registered file can be fetched again: a user's own file gets the reason.
    reason = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
    if is_registry_file(path):
        return OperaFileError(
            f"cannot read {path} as an ODIM HDF5 composite ({reason}). "
            "The file may be truncated or corrupt: delete it and fetch it again "
            "(mink_toolkit.fetch_opera verifies the sha256)."
        )
    return OperaFileError(f"{path} is not a readable ODIM-HDF5 file: it may be truncated, corrupt or of "
                          f"another format ({reason})")


def read_odim_header(path) -> OdimHeader:
    """Read the metadata of an ODIM-HDF5 composite, not its image (milliseconds).

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    OdimHeader

    Raises
    ------
    FileNotFoundError, IsADirectoryError, mink_toolkit.OperaFileError
        As :func:`read_odim` (a missing path, a directory, a file that is not
        HDF5 or lacks the ODIM attributes used here).

    Examples
    --------
    >>> from mink_toolkit import fetch_opera
    >>> header = read_odim_header(fetch_opera("20180824/T_PAAH21_C_EUOC_20180824180000.hdf"))
    >>> header.quantity, header.shape, str(header.time)
    ('RATE', (2200, 1900), '2018-08-24T18:00:00.000000000')
    >>> header.x_edge, header.y_edge, header.units
    (0.0, 0.0, 'mm/h')
    """
    path, handle = _open(path)
    with handle:
        try:
            return _parse_header(handle, path)
        except (KeyError, ValueError, TypeError, OSError) as exc:
            raise _file_error(path, exc) from None


def _decode(raw: np.ndarray, header: OdimHeader, undetect_value: float) -> np.ndarray:
    """raw * gain + offset, undetect -> ``undetect_value``, nodata -> NaN; in place when possible."""
    raw = raw.astype(np.float64, copy=False)
    nodata = raw == header.nodata if header.nodata is not None else None
    undetect = raw == header.undetect if header.undetect is not None else None
    # In place: ``raw`` is our own fresh array, and one field-sized temporary
    # less matters when many files are read at once (dask workers).
    if header.gain != 1.0:
        raw *= header.gain
    if header.offset != 0.0:
        raw += header.offset
    if undetect is not None:
        raw[undetect] = undetect_value
    if nodata is not None:
        raw[nodata] = np.nan
    return raw


#: HDF5 filter id of deflate (gzip), the only compression of the OPERA files.
_DEFLATE = 1


def _deflate_chunks(dataset) -> list | None:
    """Where the stored chunks of a deflate-only chunked dataset lie in the file, else None.

    Returns ``[(chunk_offset, byte_offset, size, filter_mask), ...]``. Any
    other layout or filter (shuffle, checksums, other codecs) returns None:
    such files are read by HDF5 itself.
    """
    if dataset.chunks is None or dataset.dtype.kind not in "fiu":
        return None
    plist = dataset.id.get_create_plist()
    if [plist.get_filter(i)[0] for i in range(plist.get_nfilters())] != [_DEFLATE]:
        return None
    infos = (dataset.id.get_chunk_info(i) for i in range(dataset.id.get_num_chunks()))
    return [(info.chunk_offset, info.byte_offset, info.size, info.filter_mask) for info in infos]


def _read_image(handle, data: memoryview) -> np.ndarray:
    """The image dataset, decompressed here rather than inside HDF5 when it is plain deflate.

    HDF5 (through h5py) serialises every call on one global lock, so two
    threads reading two files take turns, and decompression is most of the
    reading. For the layout of the OPERA files -- chunked, deflate only --
    the stored chunks are located with HDF5 (``H5Dget_chunk_info``, cheap)
    and inflated with :func:`zlib.decompress`, which releases the GIL; the
    result is the same array, bit for bit (tests compare it with h5py's
    read on every registered file). Anything else is read by HDF5.
    (HDF5 "direct chunk read", https://docs.h5py.org/en/stable/high/dataset.html)
    """
    import zlib

    dataset = handle[_IMAGE]
    plan = _deflate_chunks(dataset)
    if plan is None:
        return dataset[...]
    shape, chunks, dtype = dataset.shape, dataset.chunks, dataset.dtype
    fill = dataset.fillvalue
    # A plain numpy dtype for the result (h5py's carries HDF5 metadata); same values.
    out = np.empty(shape, dtype=np.dtype(dtype.str).newbyteorder("="))
    if len(plan) < np.prod([-(-s // c) for s, c in zip(shape, chunks)]):
        out.fill(fill)  # chunks never written hold the fill value
    chunk_bytes = int(np.prod(chunks)) * dtype.itemsize
    for offset, start, size, mask in plan:
        raw = data[start : start + size]
        # filter_mask bit 0 set: deflate was skipped for this chunk (stored raw).
        buffer = raw if mask & 1 else zlib.decompress(raw, bufsize=chunk_bytes)
        chunk = np.frombuffer(buffer, dtype=dtype, count=int(np.prod(chunks))).reshape(chunks)
        region = tuple(slice(o, min(o + c, s)) for o, c, s in zip(offset, chunks, shape))
        out[region] = chunk[tuple(slice(0, r.stop - r.start) for r in region)]
    return out


def read_odim_values(
    path, *, data: bytes | None = None, dbzh_undetect: float = DBZH_UNDETECT_FLOOR
) -> tuple[OdimHeader, np.ndarray]:
    """Header and decoded image of one file, without building a DataArray.

    The task body of the lazy series and of the ``curves`` engine; see
    :func:`read_odim` for the decoding rules and errors.

    Parameters
    ----------
    path : str or os.PathLike
        The file (named in the header and in error messages).
    data : bytes, optional
        The file's bytes, already read (the ``curves`` engine hashes and
        decodes the very same bytes, so the recorded sha256 is that of the
        data analysed); default: read ``path``.
    dbzh_undetect : float
        As :func:`read_odim`.

    Returns
    -------
    header : OdimHeader
    values : ndarray, shape ``header.shape``, float64
        Physical values; NaN outside coverage.

    Examples
    --------
    >>> from mink_toolkit import fetch_opera
    >>> header, values = read_odim_values(fetch_opera("20180824/T_PAAH21_C_EUOC_20180824180000.hdf"))
    >>> values.shape == header.shape, values.dtype == "float64"
    (True, True)
    """
    if data is None:
        path = check_path(path, "path", what="ODIM file")
        with open(path, "rb") as stream:  # a few MB: read once, parsed and inflated from memory
            data = stream.read()
    path, handle = _open(path, data)
    with handle:
        try:
            header = _parse_header(handle, path)
            raw = _read_image(handle, memoryview(data))
        except (KeyError, ValueError, TypeError, OSError, zlib_error()) as exc:
            raise _file_error(path, exc) from None
    if raw.shape != header.shape:
        raise OperaFileError(
            f"{path}: data shape {raw.shape} disagrees with where/ysize, xsize {header.shape}"
        )
    undetect_value = float(dbzh_undetect) if header.quantity in _REFLECTIVITY else 0.0
    return header, _decode(raw, header, undetect_value)


def read_odim(path, *, dbzh_undetect: float = DBZH_UNDETECT_FLOOR):
    """Read one ODIM-HDF5 composite (``dataset1/data1``) into a DataArray.

    Decoding (ODIM_H5 2.0 and 2.4): physical = raw * ``gain`` + ``offset``,
    with the calibration taken from ``dataset1/data1/what`` (2.4) or, where
    absent, ``dataset1/what`` (2.0). Pixels equal to ``nodata`` (outside radar
    coverage) become NaN -- "no information", never "dry". Pixels equal to
    ``undetect`` (covered, no echo) become 0 for ``RATE`` (mm/h) and ``ACRR``
    (mm) and ``dbzh_undetect`` for reflectivity (``DBZH``).

    Parameters
    ----------
    path : str or os.PathLike
        The HDF5 file.
    dbzh_undetect : float, default :data:`DBZH_UNDETECT_FLOOR` (-35 dBZ)
        Value for "no echo" reflectivity pixels; stored in
        ``attrs["undetect_value"]``. :func:`mink_toolkit.dbz_to_rainrate`
        maps it to 0 mm/h.

    Returns
    -------
    xarray.DataArray
        float64, dims ``("y", "x")``, shape ``(ysize, xsize)`` (2200 × 1900 at
        2 km, 4400 × 3800 for CIRRUS at 1 km). Coordinates: ``x``, ``y`` in
        metres of ``projdef`` at pixel centres (row 0 is the northern edge, so
        ``y`` decreases down the rows; column 0 is the western edge), the
        scalar ``time`` (nominal time, UTC, ``datetime64[ns]``). Attributes:
        ``quantity``, ``units``, ``long_name``, ``projdef``, ``source``,
        ``start_time``/``end_time`` (valid period, ISO 8601 UTC, when the
        file gives it), ``odim_version`` (root ``Conventions``), ``product``
        (plus ``prodname`` when present), ``opera_product`` (registry key,
        when the file name is known), ``filename``, ``undetect_value``,
        ``gain``/``offset``, ``xscale``/``yscale`` (m), and ``zr_a``/``zr_b``
        when the file has them.

    Raises
    ------
    TypeError
        ``path`` not a str or os.PathLike.
    FileNotFoundError
        ``path`` does not exist.
    IsADirectoryError
        ``path`` is a directory.
    mink_toolkit.OperaFileError
        The file is not readable HDF5 (truncated, corrupt) or not an ODIM
        composite; the message names the file.

    Notes
    -----
    The grid is anchored by projecting the upper-left corner (``UL_lon``,
    ``UL_lat``) with :func:`mink_toolkit.project_lonlat`, snapped to the
    pixel lattice when within 1 % of a pixel (the stored corners are
    rounded); for the OPERA files this gives x from 0 to 3 800 000 m and y
    from -4 400 000 to 0 m (pixel edges), as stated in the data README.

    Examples
    --------
    >>> from mink_toolkit import read_odim, fetch_opera
    >>> rain = read_odim(fetch_opera("20180824/T_PAAH21_C_EUOC_20180824180000.hdf"))
    >>> rain.dims, rain.shape, rain.attrs["units"]
    (('y', 'x'), (2200, 1900), 'mm/h')
    >>> float(rain.x[0]), float(rain.y[0])  # pixel centres: 1 km from the north-west corner
    (1000.0, -1000.0)
    """
    header, values = read_odim_values(path, dbzh_undetect=dbzh_undetect)
    return odim_dataarray(header, values, dbzh_undetect=dbzh_undetect)


def odim_dataarray(header: OdimHeader, values: np.ndarray, *, dbzh_undetect: float = DBZH_UNDETECT_FLOOR):
    """Wrap decoded ``values`` of a file as :func:`read_odim` returns them (coords, attrs)."""
    import xarray as xr

    x, y = header.coords()
    return xr.DataArray(
        values,
        dims=("y", "x"),
        coords={
            "y": ("y", y, {"units": "m", "long_name": "projection y (pixel centre)"}),
            "x": ("x", x, {"units": "m", "long_name": "projection x (pixel centre)"}),
            "time": header.time,
        },
        attrs=odim_attrs(header, dbzh_undetect=dbzh_undetect),
        name=header.quantity,
    )


def odim_attrs(header: OdimHeader, *, dbzh_undetect: float = DBZH_UNDETECT_FLOOR) -> dict:
    """The attributes :func:`read_odim` gives a file's DataArray, from its header alone."""
    quantity = header.quantity
    undetect_value = float(dbzh_undetect) if quantity in _REFLECTIVITY else 0.0
    # The order of the attributes is the one users see in reprs: keep it stable.
    attrs = {
        "quantity": quantity,
        "units": header.units,
        "long_name": _LONG_NAMES.get(quantity, quantity),
        "projdef": header.projdef,
        "source": header.source,
    }
    for key, value in (("start_time", header.start_time), ("end_time", header.end_time)):
        if not np.isnat(value):
            attrs[key] = str(value.astype("datetime64[s]"))
    attrs["odim_version"] = header.odim_version
    attrs["product"] = header.product
    if header.prodname is not None:
        attrs["prodname"] = header.prodname
    for key in ("zr_a", "zr_b"):
        if getattr(header, key) is not None:
            attrs[key] = getattr(header, key)
    name = Path(header.path).name
    attrs.update(
        filename=name,
        undetect_value=undetect_value,
        gain=header.gain,
        offset=header.offset,
        xscale=header.xscale,
        yscale=header.yscale,
    )
    if name[:8] in _PRODUCT_CODES:
        attrs["opera_product"] = _PRODUCT_CODES[name[:8]]
    return attrs
