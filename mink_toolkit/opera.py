r"""OPERA ODIM-HDF5 composites as xarray, and patches cut from them.

Reads the EUMETNET OPERA radar composites described in
``../shared/data/opera/README.md`` (ODIM_H5 2.0 and 2.4; Michelson et al.,
"EUMETNET OPERA weather radar information model for implementation with the
HDF5 file format", version 2.4, 2021):

* :func:`read_odim` -- one file to a ``(y, x)`` DataArray in physical units,
  with projected coordinates, nominal time and the file's metadata;
* :func:`dbz_to_rainrate` -- reflectivity to rain rate with a Z--R relation;
* :func:`load_opera` -- a registered file by name (see
  :mod:`mink_toolkit.registry`), fetched and read;
* :func:`extract_patches` -- square patches of a field with coverage, wetness
  and clutter screening;
* :func:`project_lonlat` -- longitude/latitude to the files' LAEA
  coordinates (to locate places on a composite).
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import h5py
import numpy as np
import xarray as xr

from .registry import OperaFileError, fetch_opera

__all__ = [
    "DBZH_UNDETECT_FLOOR",
    "MARSHALL_PALMER",
    "dbz_to_rainrate",
    "extract_patches",
    "load_opera",
    "project_lonlat",
    "read_odim",
]

#: Default value (dBZ) given to DBZH pixels flagged ``undetect`` ("covered, no
#: echo"). It lies below every measured value in the OPERA collection
#: (minimum -33.5 dBZ), so the "no echo" pixels stay distinguishable, and
#: :func:`dbz_to_rainrate` maps exactly this value to 0 mm/h.
DBZH_UNDETECT_FLOOR = -35.0

#: Marshall--Palmer Z--R coefficients (Z = a R^b, Z in mm^6 m^-3, R in mm/h),
#: used when a file gives no ``zr_a``/``zr_b`` (Marshall & Palmer 1948).
MARSHALL_PALMER = (200.0, 1.6)

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


def _parse_projdef(projdef: str) -> dict[str, str]:
    params = {}
    for token in projdef.split():
        key, _, value = token.lstrip("+").partition("=")
        params[key] = value
    return params


# Ellipsoids named in PROJ strings: semi-major axis (m), inverse flattening.
_ELLIPSOIDS = {"WGS84": (6378137.0, 298.257223563), "GRS80": (6378137.0, 298.257222101)}


def project_lonlat(lon, lat, projdef: str) -> tuple[np.ndarray, np.ndarray]:
    r"""Project longitude/latitude (degrees) with an OPERA LAEA ``projdef``.

    The ellipsoidal oblique Lambert azimuthal equal-area projection, written
    out from Snyder (1987), *Map Projections -- A Working Manual*, USGS
    Professional Paper 1395, pp. 187--188 (eqs. 3-12, 24-16 to 24-19), so
    that no PROJ installation is needed. Only ``+proj=laea`` with
    ``+ellps=WGS84``/``GRS80`` (or ``+a``/``+rf``), ``+lat_0``, ``+lon_0``,
    ``+x_0``, ``+y_0`` and ``+units=m`` is supported. Agrees with the
    corner coordinates stored in the OPERA files to better than 1 m.

    Parameters
    ----------
    lon, lat : array_like
        Degrees east / north; broadcast together.
    projdef : str
        PROJ string, e.g. ``read_odim(path).attrs["projdef"]``.

    Returns
    -------
    x, y : ndarray
        Projected coordinates in metres (float64).

    Examples
    --------
    >>> pd = ("+proj=laea +lat_0=55.0 +lon_0=10.0 +x_0=1950000.0 "
    ...       "+y_0=-2100000.0 +units=m +ellps=WGS84")
    >>> x, y = project_lonlat(10.0, 55.0, pd)
    >>> float(x), float(y)
    (1950000.0, -2100000.0)
    """
    params = _parse_projdef(projdef)
    if params.get("proj") != "laea":
        raise ValueError(f"projdef must be a '+proj=laea' PROJ string; got {projdef!r}")
    if params.get("units", "m") != "m":
        raise ValueError(f"projdef must use +units=m; got {projdef!r}")
    if "a" in params:
        a = float(params["a"])
        inv_f = float(params.get("rf", "inf"))
    else:
        ellps = params.get("ellps", "WGS84")
        if ellps not in _ELLIPSOIDS:
            raise ValueError(f"projdef ellipsoid {ellps!r} is not supported (use WGS84 or GRS80)")
        a, inv_f = _ELLIPSOIDS[ellps]
    flattening = 0.0 if math.isinf(inv_f) else 1.0 / inv_f
    e2 = flattening * (2.0 - flattening)
    e = math.sqrt(e2)
    lat0 = math.radians(float(params.get("lat_0", 0.0)))
    lon0 = math.radians(float(params.get("lon_0", 0.0)))
    x0 = float(params.get("x_0", 0.0))
    y0 = float(params.get("y_0", 0.0))

    def authalic_q(phi):
        s = np.sin(phi)
        if e == 0.0:
            return 2.0 * s
        return (1 - e2) * (s / (1 - e2 * s**2) - np.log((1 - e * s) / (1 + e * s)) / (2 * e))

    lam = np.radians(np.asarray(lon, dtype=np.float64))
    phi = np.radians(np.asarray(lat, dtype=np.float64))
    qp = authalic_q(math.pi / 2)
    beta = np.arcsin(np.clip(authalic_q(phi) / qp, -1.0, 1.0))
    beta1 = math.asin(float(authalic_q(lat0)) / qp)
    rq = a * math.sqrt(qp / 2.0)
    m1 = math.cos(lat0) / math.sqrt(1 - e2 * math.sin(lat0) ** 2)
    d = a * m1 / (rq * math.cos(beta1))
    dlam = lam - lon0
    b = rq * np.sqrt(
        2.0 / (1 + math.sin(beta1) * np.sin(beta) + math.cos(beta1) * np.cos(beta) * np.cos(dlam))
    )
    x = x0 + b * d * np.cos(beta) * np.sin(dlam)
    y = y0 + (b / d) * (math.cos(beta1) * np.sin(beta) - math.sin(beta1) * np.cos(beta) * np.cos(dlam))
    return x, y


def _calibration(f: h5py.File) -> dict:
    """gain/offset/nodata/undetect/quantity: ``data1/what`` (ODIM 2.4) or ``dataset1/what`` (2.0).

    ODIM lets each attribute sit in the most specific ``what`` group that
    applies; look in ``dataset1/data1/what`` first, then ``dataset1/what``.
    """
    groups = [f[g].attrs for g in ("dataset1/data1/what", "dataset1/what") if g in f]
    found = {}
    for key in ("quantity", "gain", "offset", "nodata", "undetect"):
        for attrs in groups:
            if key in attrs:
                found[key] = attrs[key]
                break
    missing = [k for k in ("quantity",) if k not in found]
    if missing:
        raise KeyError(f"dataset1: no {missing} in data1/what or what")
    return {
        "quantity": _text(found["quantity"]),
        # ODIM defaults (gain 1, offset 0) when absent.
        "gain": float(found.get("gain", 1.0)),
        "offset": float(found.get("offset", 0.0)),
        "nodata": float(found["nodata"]) if "nodata" in found else None,
        "undetect": float(found["undetect"]) if "undetect" in found else None,
    }


def read_odim(path, *, dbzh_undetect: float = DBZH_UNDETECT_FLOOR) -> xr.DataArray:
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
        ``attrs["undetect_value"]``. :func:`dbz_to_rainrate` maps it to 0 mm/h.

    Returns
    -------
    xarray.DataArray
        float64, dims ``("y", "x")``, shape ``(ysize, xsize)`` (2200 × 1900 at
        2 km, 4400 × 3800 for CIRRUS at 1 km). Coordinates: ``x``, ``y`` in
        metres of ``projdef`` at pixel centres (row 0 is the northern edge, so
        ``y`` decreases down the rows; column 0 is the western edge), the
        scalar ``time`` (nominal time, UTC, ``datetime64[ns]``). Attributes:
        ``quantity``, ``units``, ``long_name``, ``projdef``, ``source``,
        ``start_time``/``end_time`` (valid period, ISO 8601 UTC),
        ``odim_version`` (root ``Conventions``), ``product`` (plus
        ``prodname`` when present), ``opera_product`` (registry key, when
        the file name is known), ``filename``, ``undetect_value``,
        ``xscale``/``yscale`` (m), and ``zr_a``/``zr_b`` when the file has them.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    OperaFileError
        The file is not readable HDF5 (truncated, corrupt) or not an ODIM
        composite; the message names the file.

    Notes
    -----
    The grid is anchored by projecting the upper-left corner (``UL_lon``,
    ``UL_lat``) with :func:`project_lonlat`, snapped to the pixel lattice
    when within 1 % of a pixel (the stored corners are rounded); for
    the OPERA files this gives x from 0 to 3 800 000 m and y from
    -4 400 000 to 0 m (pixel edges), as stated in the data README.

    Examples
    --------
    >>> from mink_toolkit import read_odim, fetch_opera
    >>> rain = read_odim(fetch_opera("20180824/T_PAAH21_C_EUOC_20180824180000.hdf"))  # doctest: +SKIP
    >>> rain.dims, rain.shape, rain.attrs["units"]  # doctest: +SKIP
    (('y', 'x'), (2200, 1900), 'mm/h')
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ODIM file {path} does not exist")
    try:
        with h5py.File(path, "r") as f:
            meta = _read_metadata(f)
            raw = f["dataset1/data1/data"][...]
    except (OSError, KeyError, ValueError, TypeError) as exc:
        # h5py raises OSError for truncated/corrupt files and KeyError for
        # missing groups; show one clear line instead of its traceback.
        raise OperaFileError(
            f"cannot read {path} as an ODIM HDF5 composite ({type(exc).__name__}: {exc}). "
            "The file may be truncated or corrupt: delete it and fetch it again "
            "(mink_toolkit.fetch_opera verifies the sha256)."
        ) from None

    cal = meta.pop("_calibration")
    ysize, xsize = meta.pop("_shape")
    if raw.shape != (ysize, xsize):
        raise OperaFileError(
            f"{path}: data shape {raw.shape} disagrees with where/ysize, xsize {(ysize, xsize)}"
        )
    raw = raw.astype(np.float64, copy=False)
    nodata = raw == cal["nodata"] if cal["nodata"] is not None else np.zeros(raw.shape, bool)
    undetect = raw == cal["undetect"] if cal["undetect"] is not None else np.zeros(raw.shape, bool)
    # Decode in place: ``raw`` is our own fresh array, and one field-sized
    # temporary less matters when many files are read at once (dask workers).
    values = raw
    values *= cal["gain"]
    values += cal["offset"]
    quantity = cal["quantity"]
    if quantity in _REFLECTIVITY:
        undetect_value = float(dbzh_undetect)
    else:
        undetect_value = 0.0
    values[undetect] = undetect_value
    values[nodata] = np.nan

    x_edge, y_edge, xscale, yscale = meta.pop("_grid")
    x = x_edge + xscale * (np.arange(xsize) + 0.5)
    y = y_edge - yscale * (np.arange(ysize) + 0.5)
    attrs = {
        "quantity": quantity,
        "units": _UNITS.get(quantity, ""),
        "long_name": _LONG_NAMES.get(quantity, quantity),
        **meta,
        "filename": path.name,
        "undetect_value": undetect_value,
        "gain": cal["gain"],
        "offset": cal["offset"],
        "xscale": xscale,
        "yscale": yscale,
    }
    code = path.name[:8]
    if code in _PRODUCT_CODES:
        attrs["opera_product"] = _PRODUCT_CODES[code]
    time = attrs.pop("_time")
    return xr.DataArray(
        values,
        dims=("y", "x"),
        coords={
            "y": ("y", y, {"units": "m", "long_name": "projection y (pixel centre)"}),
            "x": ("x", x, {"units": "m", "long_name": "projection x (pixel centre)"}),
            "time": time,
        },
        attrs=attrs,
        name=quantity,
    )


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


def _read_metadata(f: h5py.File) -> dict:
    what = f["what"].attrs
    where = f["where"].attrs
    dwhat = f["dataset1/what"].attrs
    projdef = _text(where["projdef"])
    xscale, yscale = float(where["xscale"]), float(where["yscale"])
    ysize, xsize = int(where["ysize"]), int(where["xsize"])
    ul_x, ul_y = project_lonlat(float(where["UL_lon"]), float(where["UL_lat"]), projdef)
    meta = {
        "_calibration": _calibration(f),
        "_shape": (ysize, xsize),
        "_grid": (_snap(float(ul_x), xscale), _snap(float(ul_y), yscale), xscale, yscale),
        "_time": _odim_datetime(_text(what["date"]), _text(what["time"])),
        "projdef": projdef,
        "source": _text(what["source"]),
        "start_time": str(
            _odim_datetime(_text(dwhat["startdate"]), _text(dwhat["starttime"])).astype("datetime64[s]")
        ),
        "end_time": str(
            _odim_datetime(_text(dwhat["enddate"]), _text(dwhat["endtime"])).astype("datetime64[s]")
        ),
        "odim_version": _text(f.attrs.get("Conventions", what.get("version", b""))),
        "product": _text(dwhat.get("product", what.get("object", b""))),
    }
    if "prodname" in dwhat:
        meta["prodname"] = _text(dwhat["prodname"])
    if "dataset1/data1/how" in f:
        how = f["dataset1/data1/how"].attrs
        for key in ("zr_a", "zr_b"):
            if key in how:
                meta[key] = float(how[key])
    return meta


def dbz_to_rainrate(dbz, a: float | None = None, b: float | None = None) -> xr.DataArray:
    r"""Reflectivity (dBZ) to rain rate (mm/h) with :math:`Z = a R^b`.

    :math:`Z = 10^{\mathrm{dBZ}/10}` (mm\ :sup:`6` m\ :sup:`-3`) and
    :math:`R = (Z / a)^{1/b}`. The coefficients are, in order of priority:
    the arguments, the input's ``zr_a``/``zr_b`` attributes (NIMBUS files
    give them), else Marshall--Palmer 200/1.6 (Marshall & Palmer 1948). The
    choice is stated in the result's attributes (``zr_a``, ``zr_b``,
    ``zr_source``). With 200/1.6, 0.1 mm/h is 7.0 dBZ and 1 mm/h 23.0 dBZ.

    Pixels equal to the input's ``undetect_value`` attribute (the "no echo"
    floor set by :func:`read_odim`) become exactly 0 mm/h; NaN stays NaN.

    Parameters
    ----------
    dbz : xarray.DataArray or array_like
        Reflectivity in dBZ, any shape.
    a, b : float, optional
        Z--R coefficients, both > 0; give both or neither.

    Returns
    -------
    xarray.DataArray
        Rain rate in mm/h, same dims and coordinates, ``quantity="RATE"``.

    Examples
    --------
    >>> import numpy as np
    >>> r = dbz_to_rainrate(np.array([23.0103, 7.0103]))
    >>> np.round(r.values, 3).tolist(), r.attrs["zr_source"]
    ([1.0, 0.1], 'Marshall-Palmer default')
    """
    if (a is None) != (b is None):
        raise ValueError("a and b must be given together (or neither)")
    da = dbz if isinstance(dbz, xr.DataArray) else xr.DataArray(np.asarray(dbz))
    if not np.issubdtype(da.dtype, np.floating) and not np.issubdtype(da.dtype, np.integer):
        raise TypeError(f"dbz must be real numbers; got dtype {da.dtype}")
    units = da.attrs.get("units")
    if units not in (None, "", "dBZ"):
        raise ValueError(f"dbz must be reflectivity in dBZ; its units attribute is {units!r}")
    if a is not None:
        source = "arguments"
    elif "zr_a" in da.attrs and "zr_b" in da.attrs:
        a, b, source = da.attrs["zr_a"], da.attrs["zr_b"], "file attributes zr_a, zr_b"
    else:
        (a, b), source = MARSHALL_PALMER, "Marshall-Palmer default"
    a, b = float(a), float(b)
    if not (np.isfinite(a) and np.isfinite(b) and a > 0 and b > 0):
        raise ValueError(f"Z-R coefficients a and b must be finite and > 0; got a={a}, b={b}")
    rain = (10.0 ** (da.astype(np.float64) / 10.0) / a) ** (1.0 / b)
    if "undetect_value" in da.attrs:
        rain = rain.where(da != da.attrs["undetect_value"], 0.0)
    attrs = {k: v for k, v in da.attrs.items() if k not in ("undetect_value", "long_name")}
    attrs.update(
        quantity="RATE",
        units="mm/h",
        long_name="rain rate from reflectivity",
        zr_a=a,
        zr_b=b,
        zr_source=source,
        undetect_value=0.0,
    )
    rain.attrs = attrs
    rain.name = "RATE"
    return rain


def load_opera(name: str, *, download: bool = True, **read_kwargs) -> xr.DataArray:
    """Fetch a registered OPERA file and read it: ``read_odim(fetch_opera(name))``.

    Parameters
    ----------
    name : str
        Registry name (see :func:`mink_toolkit.opera_files`).
    download : bool, default True
        Passed to :func:`mink_toolkit.fetch_opera`.
    **read_kwargs
        Passed to :func:`read_odim`.

    Returns
    -------
    xarray.DataArray
        As :func:`read_odim`, with ``attrs["registry_name"] = name``.

    Examples
    --------
    >>> from mink_toolkit import load_opera, opera_files
    >>> rain = load_opera(opera_files("nimbus_rate")[0])  # doctest: +SKIP
    >>> str(rain.time.values)[:19]  # doctest: +SKIP
    '2024-11-26T01:00:00'
    """
    da = read_odim(fetch_opera(name, download=download), **read_kwargs)
    da.attrs["registry_name"] = name
    return da


def _check_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer; got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value}")
    return int(value)


def _check_fraction(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number in [0, 1]; got {type(value).__name__}")
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1]; got {value}")
    return value


def _window_sums(mask: np.ndarray, size: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Counts of ``mask`` in the size×size windows at (rows, cols) via a summed-area table."""
    table = np.zeros((mask.shape[0] + 1, mask.shape[1] + 1), dtype=np.int64)
    np.cumsum(np.cumsum(mask, axis=0, dtype=np.int64), axis=1, out=table[1:, 1:])
    r, c = rows[:, None], cols[None, :]
    return table[r + size, c + size] - table[r, c + size] - table[r + size, c] + table[r, c]


def extract_patches(
    field,
    size: int = 128,
    stride: int | None = None,
    min_coverage: float = 1.0,
    min_wet_fraction: float = 0.0,
    wet_threshold: float = 0.1,
    clutter_threshold: float | None = 150.0,
) -> xr.DataArray:
    """Cut square patches from a 2-D field, screening coverage, wetness and clutter.

    Patches start at rows/cols ``0, stride, 2*stride, ...`` and lie fully
    inside the field (a remainder at the bottom/right edge is not used).

    **Declutter** (before screening): values above ``clutter_threshold`` are
    treated as clutter -- isolated non-meteorological echoes such as the
    8646 mm/h pixel in the 2018 files -- and set to NaN, i.e. "unknown", not
    "dry". The paper's screening treats rates above 150 mm/h as clutter, the
    default here. With the default ``min_coverage=1`` a patch that contains
    clutter is therefore dropped; with a smaller ``min_coverage`` it is kept
    with NaN there. The number of clutter pixels is reported, never silent:
    ``attrs["clutter_pixels"]`` (whole field) and the per-patch coordinate
    ``clutter_pixels``. ``clutter_threshold=None`` turns this off. The
    threshold is in the field's units (use it on rain rates in mm/h).

    Parameters
    ----------
    field : xarray.DataArray or ndarray, shape (H, W)
        A 2-D field, e.g. from :func:`read_odim`; NaN = outside coverage.
        An ndarray is wrapped with dims ``("y", "x")`` and no coordinates.
    size : int, default 128
        Patch side in pixels; 1 <= size <= min(H, W).
    stride : int, optional
        Step between patch origins in pixels (default ``size``: no overlap).
    min_coverage : float in [0, 1], default 1.0
        Minimum fraction of non-NaN pixels (after declutter) in a patch.
    min_wet_fraction : float in [0, 1], default 0.0
        Minimum fraction of the patch's ``size**2`` pixels that are wet
        (``value >= wet_threshold``; NaN is not wet).
    wet_threshold : float, default 0.1
        Wet threshold in the field's units (0.1 mm/h by default).
    clutter_threshold : float or None, default 150.0
        Values strictly above it are clutter (set to NaN); ``None``: no declutter.

    Returns
    -------
    xarray.DataArray
        Dims ``("patch", "y", "x")``, shape ``(n_patches, size, size)``, the
        field's dtype (float) and attributes. Coordinates along ``patch``:
        ``origin_row``, ``origin_col`` (index of the patch's first pixel in
        the field), ``origin_y``, ``origin_x`` (coordinate values of that
        pixel, when the field's dims have coordinates), ``time`` (the field's
        scalar ``time`` coordinate, repeated, when present; so patches of
        several fields can be concatenated along ``patch``), ``coverage``,
        ``wet_fraction`` and ``clutter_pixels``. ``y``/``x`` carry the pixel
        offset inside the patch. Extra attrs: ``patch_size``, ``stride``,
        ``min_coverage``, ``min_wet_fraction``, ``wet_threshold``,
        ``clutter_threshold``, ``clutter_pixels``, ``patch_candidates``
        (number of windows before screening), ``source_dims``. Zero patches
        is a valid result (shape ``(0, size, size)``).

    Raises
    ------
    TypeError
        ``field`` not numeric; ``size``/``stride`` not integers.
    ValueError
        ``field`` not 2-D or empty; ``size`` larger than the field;
        ``size``/``stride`` < 1; fractions outside [0, 1]; non-finite
        thresholds; negative rain (units ``mm/h`` or ``mm``).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> f = xr.DataArray(np.arange(36.0).reshape(6, 6), dims=("y", "x"))
    >>> p = extract_patches(f, size=3, clutter_threshold=None)
    >>> p.shape, p.origin_row.values.tolist(), p.origin_col.values.tolist()
    ((4, 3, 3), [0, 0, 3, 3], [0, 3, 0, 3])
    """
    if not isinstance(field, xr.DataArray):
        arr = np.asarray(field)
        field = xr.DataArray(arr, dims=("y", "x")[: arr.ndim] if arr.ndim <= 2 else None)
    if field.ndim != 2:
        raise ValueError(f"field must be 2-D (y, x); got dims {field.dims} and shape {field.shape}")
    if not (np.issubdtype(field.dtype, np.floating) or np.issubdtype(field.dtype, np.integer)):
        raise TypeError(f"field must be real numbers; got dtype {field.dtype}")
    height, width = field.shape
    if height == 0 or width == 0:
        raise ValueError(f"field is empty: shape {field.shape}")
    size = _check_int(size, "size")
    stride = size if stride is None else _check_int(stride, "stride")
    if size > min(height, width):
        raise ValueError(f"size {size} is larger than the field {field.shape}")
    min_coverage = _check_fraction(min_coverage, "min_coverage")
    min_wet_fraction = _check_fraction(min_wet_fraction, "min_wet_fraction")
    if not np.isfinite(wet_threshold):
        raise ValueError(f"wet_threshold must be finite; got {wet_threshold}")
    if clutter_threshold is not None and not np.isfinite(clutter_threshold):
        raise ValueError(f"clutter_threshold must be finite or None; got {clutter_threshold}")

    values = np.asarray(field.values, dtype=np.float64 if field.dtype.kind in "iu" else field.dtype)
    if field.attrs.get("units") in ("mm/h", "mm") and np.nanmin(values, initial=0.0) < 0:
        raise ValueError(
            f"field holds negative rain ({np.nanmin(values)} {field.attrs['units']}); "
            "precipitation must be >= 0"
        )
    values = values.copy()
    if clutter_threshold is not None:
        clutter = values > clutter_threshold  # NaN compares False
        values[clutter] = np.nan
    else:
        clutter = np.zeros(values.shape, dtype=bool)

    rows = np.arange(0, height - size + 1, stride)
    cols = np.arange(0, width - size + 1, stride)
    valid_count = _window_sums(~np.isnan(values), size, rows, cols)
    wet_count = _window_sums(values >= wet_threshold, size, rows, cols)
    clutter_count = _window_sums(clutter, size, rows, cols)
    n_pixels = size * size
    coverage = valid_count / n_pixels
    wet_fraction = wet_count / n_pixels
    # Small tolerance so that min_coverage=1.0 means "all pixels" exactly.
    keep = (valid_count >= math.ceil(min_coverage * n_pixels - 1e-9)) & (
        wet_count >= math.ceil(min_wet_fraction * n_pixels - 1e-9)
    )
    ki, kj = np.nonzero(keep)
    origin_row, origin_col = rows[ki], cols[kj]
    windows = np.lib.stride_tricks.sliding_window_view(values, (size, size))
    patches = windows[origin_row, origin_col]  # fancy indexing copies only kept patches

    ydim, xdim = field.dims
    coords = {
        "origin_row": ("patch", origin_row),
        "origin_col": ("patch", origin_col),
        "coverage": ("patch", coverage[ki, kj]),
        "wet_fraction": ("patch", wet_fraction[ki, kj]),
        "clutter_pixels": ("patch", clutter_count[ki, kj]),
        "y": ("y", np.arange(size)),
        "x": ("x", np.arange(size)),
    }
    if ydim in field.coords:
        coords["origin_y"] = ("patch", np.asarray(field[ydim].values)[origin_row])
    if xdim in field.coords:
        coords["origin_x"] = ("patch", np.asarray(field[xdim].values)[origin_col])
    if "time" in field.coords and field["time"].ndim == 0:
        coords["time"] = ("patch", np.repeat(field["time"].values, len(ki)))
    attrs = dict(field.attrs)
    attrs.update(
        patch_size=size,
        stride=stride,
        min_coverage=min_coverage,
        min_wet_fraction=min_wet_fraction,
        wet_threshold=float(wet_threshold),
        clutter_threshold="none" if clutter_threshold is None else float(clutter_threshold),
        clutter_pixels=int(clutter.sum()),
        patch_candidates=int(rows.size * cols.size),
        source_dims=f"{ydim},{xdim}",
    )
    return xr.DataArray(
        patches, dims=("patch", "y", "x"), coords=coords, attrs=attrs, name=field.name
    )
