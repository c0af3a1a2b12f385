r"""Preprocessing of radar fields: reflectivity to rain, the clutter screen, patches.

What the toolkit does to a field between reading it (:mod:`mink_toolkit.io`)
and analysing it (the curves engine, the data sets of the neural models):

* :func:`dbz_to_rainrate` (and :func:`to_rainrate` for a lazy series) --
  reflectivity to rain rate with a Z--R relation; :func:`zr_rain` is its
  numpy core, :func:`zr_coefficients` chooses the coefficients;
* :func:`screen_clutter` -- the clutter screen: implausibly high values
  become NaN ("unknown"), counted, never silent (used by
  :func:`extract_patches` and by ``python -m mink_toolkit curves``);
* :func:`extract_patches` -- square patches of a field with coverage, wetness
  and clutter screening.
"""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

from .thresholds import is_rain_unit
from ._validation import check_finite, check_fraction, check_integer, check_out, check_positive

__all__ = [
    "DEFAULT_MAX_RAIN",
    "MARSHALL_PALMER",
    "dbz_to_rainrate",
    "extract_patches",
    "screen_clutter",
    "to_rainrate",
    "zr_coefficients",
    "zr_rain",
]

#: Marshall--Palmer Z--R coefficients (Z = a R^b, Z in mm^6 m^-3, R in mm/h),
#: used when a file gives no ``zr_a``/``zr_b`` (Marshall & Palmer 1948).
MARSHALL_PALMER = (200.0, 1.6)

#: Rain rates above this (mm/h) are treated as clutter by default: the
#: published screening's limit. Real rain rarely exceeds 100 mm/h over a 2 km
#: pixel; the 2018 Odyssey files hold isolated pixels up to 8646 mm/h.
DEFAULT_MAX_RAIN = 150.0


def screen_clutter(values, max_rain: float | None = DEFAULT_MAX_RAIN, *, out=None):
    """Set values above ``max_rain`` to NaN and say where: the toolkit's clutter screen.

    Isolated non-meteorological echoes (ground clutter, interference) show
    up as absurd rain rates, such as the 8646 mm/h pixel of the 2018 files.
    They are set to NaN -- "unknown", like the area outside coverage -- not
    to 0 ("dry"), so that no false boundary or false dry area is made.

    Parameters
    ----------
    values : ndarray, float, any shape
        Rain rate (mm/h) or accumulation (mm); NaN = outside coverage.
    max_rain : float or None, default :data:`DEFAULT_MAX_RAIN` (150)
        Values strictly above it are clutter; ``None`` turns the screen off.
        In the units of ``values``.
    out : ndarray, optional
        Where to write the screened values (may be ``values`` itself, to
        screen in place); default a copy.

    Returns
    -------
    screened : ndarray
        ``values`` with clutter set to NaN (``out`` when given).
    clutter : ndarray of bool, same shape
        True where a value was screened out (all False when ``max_rain`` is None).

    Raises
    ------
    TypeError
        ``values`` not floating point (NaN cannot be stored), ``max_rain``
        not a number.
    ValueError
        ``max_rain`` not finite and > 0; ``out`` not an ndarray of the shape
        and dtype of ``values``.

    Examples
    --------
    >>> import numpy as np
    >>> screened, clutter = screen_clutter(np.array([0.5, np.nan, 151.0, 8646.82]))
    >>> screened.tolist(), int(clutter.sum())
    ([0.5, nan, nan, nan], 2)
    """
    values = np.asarray(values)
    if not np.issubdtype(values.dtype, np.floating):
        raise TypeError(f"values must be a floating-point array (NaN marks clutter); got dtype {values.dtype}")
    if max_rain is not None:
        max_rain = check_positive(max_rain, "max_rain")
    if out is None:
        out = values.copy()
    elif out is not values:
        np.copyto(check_out(out, values), values)
    if max_rain is None:
        return out, np.zeros(values.shape, dtype=bool)
    clutter = out > max_rain  # NaN compares False
    out[clutter] = np.nan
    return out, clutter


def dbz_to_rainrate(dbz, a: float | None = None, b: float | None = None) -> xr.DataArray:
    r"""Reflectivity (dBZ) to rain rate (mm/h) with :math:`Z = a R^b`.

    :math:`Z = 10^{\mathrm{dBZ}/10}` (mm\ :sup:`6` m\ :sup:`-3`) and
    :math:`R = (Z / a)^{1/b}`. The coefficients are, in order of priority:
    the arguments, the input's ``zr_a``/``zr_b`` attributes (NIMBUS files
    give them), else Marshall--Palmer 200/1.6 (Marshall & Palmer 1948). The
    choice is stated in the result's attributes (``zr_a``, ``zr_b``,
    ``zr_source``). With 200/1.6, 0.1 mm/h is 7.0 dBZ and 1 mm/h 23.0 dBZ.

    Pixels equal to the input's ``undetect_value`` attribute (the "no echo"
    floor set by :func:`~mink_toolkit.io.odim.read_odim`) become exactly 0 mm/h; NaN stays NaN.

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
    da = dbz if isinstance(dbz, xr.DataArray) else xr.DataArray(np.asarray(dbz))
    if not np.issubdtype(da.dtype, np.floating) and not np.issubdtype(da.dtype, np.integer):
        raise TypeError(f"dbz must be real numbers; got dtype {da.dtype}")
    units = da.attrs.get("units")
    if units not in (None, "", "dBZ"):
        raise ValueError(f"dbz must be reflectivity in dBZ; its units attribute is {units!r}")
    a, b, source = zr_coefficients(a, b, da.attrs.get("zr_a"), da.attrs.get("zr_b"))
    rain = xr.apply_ufunc(
        zr_rain,
        da,
        kwargs={"a": a, "b": b, "undetect_value": da.attrs.get("undetect_value")},
        dask="parallelized",
        output_dtypes=[np.float64],
    )
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


def zr_coefficients(a=None, b=None, file_a=None, file_b=None) -> tuple[float, float, str]:
    """The Z--R coefficients to use and why: arguments, else the file's, else Marshall--Palmer.

    Examples
    --------
    >>> zr_coefficients()
    (200.0, 1.6, 'Marshall-Palmer default')
    >>> zr_coefficients(file_a=200.0, file_b=1.6)[2]
    'file attributes zr_a, zr_b'
    """
    if (a is None) != (b is None):
        raise ValueError("a and b must be given together (or neither)")
    if a is not None:
        source = "arguments"
    elif file_a is not None and file_b is not None:
        a, b, source = file_a, file_b, "file attributes zr_a, zr_b"
    else:
        (a, b), source = MARSHALL_PALMER, "Marshall-Palmer default"
    a, b = float(a), float(b)
    if not (np.isfinite(a) and np.isfinite(b) and a > 0 and b > 0):
        raise ValueError(f"Z-R coefficients a and b must be finite and > 0; got a={a}, b={b}")
    return a, b, source


def zr_rain(dbz, a: float, b: float, undetect_value: float | None = None) -> np.ndarray:
    """Numpy core of :func:`dbz_to_rainrate`: ``R = (10**(dBZ/10) / a)**(1/b)``, mm/h.

    Pixels equal to ``undetect_value`` ("no echo") become exactly 0; NaN stays NaN.

    Examples
    --------
    >>> import numpy as np
    >>> np.round(zr_rain(np.array([23.0103, -35.0, np.nan]), 200.0, 1.6, -35.0), 3).tolist()
    [1.0, 0.0, nan]
    """
    dbz = np.asarray(dbz, dtype=np.float64)
    rain = (10.0 ** (dbz / 10.0) / a) ** (1.0 / b)
    if undetect_value is not None:
        rain[dbz == undetect_value] = 0.0
    return rain


def to_rainrate(series, a: float | None = None, b: float | None = None):
    """Reflectivity (dBZ) to rain rate (mm/h), lazily, file by file.

    Parameters
    ----------
    series : xarray.DataArray (..., y, x), ``attrs["quantity"] == "DBZH"``
        For example :func:`~mink_toolkit.io.series.open_opera` of the CIRRUS files.
    a, b : float, optional
        Z–R coefficients of :math:`Z = a R^b`; default those in the file
        (``zr_a``/``zr_b``) or Marshall–Palmer (200, 1.6), as
        :func:`dbz_to_rainrate`.

    Returns
    -------
    xarray.DataArray
        Rain rate in mm/h, same dims, coordinates and chunks; NaN stays NaN.

    Raises
    ------
    ValueError
        ``series`` is not reflectivity.

    Examples
    --------
    >>> from mink_toolkit import fetch_opera, open_opera, opera_files
    >>> dbz = open_opera([fetch_opera(n) for n in opera_files("cirrus_dbzh")[:2]])
    >>> rain = to_rainrate(dbz)
    >>> rain.attrs["units"], rain.chunks is not None
    ('mm/h', True)
    """
    if not isinstance(series, xr.DataArray):
        raise TypeError(f"series must be an xarray.DataArray; got {type(series).__name__}")
    quantity = series.attrs.get("quantity")
    if quantity != "DBZH":
        raise ValueError(f"series must be reflectivity (quantity 'DBZH'); its quantity is {quantity!r}")
    rain = dbz_to_rainrate(series, a=a, b=b)
    return rain


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
    clutter_threshold: float | None = DEFAULT_MAX_RAIN,
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
        A 2-D field, e.g. from :func:`~mink_toolkit.io.odim.read_odim`; NaN = outside coverage.
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
    size = check_integer(size, "size", minimum=1)
    stride = size if stride is None else check_integer(stride, "stride", minimum=1)
    if size > min(height, width):
        raise ValueError(f"size {size} is larger than the field {field.shape}")
    min_coverage = check_fraction(min_coverage, "min_coverage")
    min_wet_fraction = check_fraction(min_wet_fraction, "min_wet_fraction")
    check_finite(wet_threshold, "wet_threshold")
    if clutter_threshold is not None and not np.isfinite(clutter_threshold):
        raise ValueError(f"clutter_threshold must be finite or None; got {clutter_threshold}")

    values = np.asarray(field.values, dtype=np.float64 if field.dtype.kind in "iu" else field.dtype)
    # A field without units (a plain ndarray) is taken as rain, the toolkit's quantity.
    if is_rain_unit(field.attrs.get("units", "mm/h")) and np.nanmin(values, initial=0.0) < 0:
        raise ValueError(
            f"field holds negative rain ({np.nanmin(values)} {field.attrs.get('units', 'mm/h')}); "
            "precipitation must be >= 0"
        )
    values, clutter = screen_clutter(values, clutter_threshold)

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
