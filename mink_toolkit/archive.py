"""Minkowski curves of OPERA archives: lazy time series, dask, command line.

A researcher points the toolkit at a folder of OPERA composites (a day here;
years of 5-minute fields in real use, far more than one machine's memory)
and gets the Minkowski curves of every field as a labelled dataset.

* :func:`open_opera` builds a lazy ``(time, y, x)`` :class:`xarray.DataArray`
  with **one dask chunk per file**: only the small ODIM headers are read
  when it is opened; each field is read by its own task when (and where)
  it is needed, so memory stays at a few fields whatever the archive size.
* :func:`~mink_toolkit.functionals.minkowski_functionals` on that array stays
  lazy (``xarray.apply_ufunc(..., dask="parallelized")``);
  :func:`minkowski_curves` computes it on a chosen dask scheduler (threads,
  processes, or a ``dask.distributed`` cluster) with a progress bar.
* :func:`to_rainrate` and :func:`coarsen_nanmean` put the 1 km CIRRUS reflectivity
  and the 2 km rain-rate products on a common grid.
* :func:`main` is ``python -m mink_toolkit curves``: it writes NetCDF
  (h5netcdf) or Zarr with provenance, through a temporary name, so nothing
  half-written is ever left behind.

The parallel engine is dask (Rocklin 2015, "Dask: parallel computation with
blocked algorithms and task scheduling", Proc. SciPy) and, on a cluster,
``dask.distributed``; nothing here is a home-made pool.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import hashlib
import json
import os
import shutil
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ._validation import check_choice, check_positive, check_thresholds
from .functionals import CONNECTIVITIES, FUNCTIONAL_NAMES, NAN_POLICIES, PERIMETERS

__all__ = [
    "OdimHeader",
    "read_odim_header",
    "resolve_paths",
    "open_opera",
    "to_rainrate",
    "coarsen_nanmean",
    "minkowski_curves",
    "file_sha256",
    "main",
]

#: File name endings taken when a directory is given.
ODIM_SUFFIXES = (".hdf", ".h5", ".hdf5")
#: What :func:`open_opera` does with two files of the same nominal time.
ON_DUPLICATE = ("raise", "first", "last")
#: Local dask schedulers; any other string is a ``dask.distributed`` address.
LOCAL_SCHEDULERS = ("threads", "processes", "synchronous")
#: ``read_odim`` attributes that change from file to file; in a series they
#: become coordinates along ``time`` instead of attributes.
PER_FILE_ATTRS = ("filename", "start_time", "end_time")
#: Seconds to wait for a ``dask.distributed`` scheduler before giving up.
CONNECT_TIMEOUT_S = 20


# --------------------------------------------------------------------------
# Paths and headers
# --------------------------------------------------------------------------


def resolve_paths(paths_or_glob) -> list[str]:
    """Expand file names, directories and glob patterns into a file list.

    Parameters
    ----------
    paths_or_glob : str, os.PathLike or sequence of them
        Files, directories (their ``*.hdf``, ``*.h5``, ``*.hdf5`` files, not
        recursive) or glob patterns (``*``, ``?``, ``[...]``; ``**`` recurses).

    Returns
    -------
    list of str
        Absolute paths, in the order given (each pattern's matches sorted);
        a file named twice is kept once.

    Raises
    ------
    FileNotFoundError
        A path that does not exist, a pattern that matches no file, a
        directory without ODIM files.
    TypeError, ValueError
        ``paths_or_glob`` of the wrong type, or empty.

    Examples
    --------
    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> for name in ("b.hdf", "a.hdf"):
    ...     open(os.path.join(folder, name), "w").close()
    >>> [os.path.basename(p) for p in resolve_paths(os.path.join(folder, "*.hdf"))]
    ['a.hdf', 'b.hdf']
    """
    if isinstance(paths_or_glob, (str, os.PathLike)):
        items = [paths_or_glob]
    elif isinstance(paths_or_glob, Iterable):
        items = list(paths_or_glob)
    else:
        raise TypeError(
            "paths_or_glob must be a path, a glob pattern or a sequence of them; "
            f"got {type(paths_or_glob).__name__}"
        )
    if not items:
        raise ValueError("paths_or_glob is empty: give at least one file, directory or pattern")
    found: list[str] = []
    for item in items:
        if not isinstance(item, (str, os.PathLike)):
            raise TypeError(f"paths_or_glob entries must be paths; got {type(item).__name__}: {item!r}")
        name = os.path.expanduser(os.fspath(item))
        if any(c in name for c in "*?["):
            matches = sorted(p for p in glob.glob(name, recursive=True) if os.path.isfile(p))
            if not matches:
                raise FileNotFoundError(f"the pattern {name!r} matches no file")
        elif os.path.isdir(name):
            matches = sorted(
                os.path.join(name, f) for f in os.listdir(name)
                if f.lower().endswith(ODIM_SUFFIXES) and os.path.isfile(os.path.join(name, f))
            )
            if not matches:
                raise FileNotFoundError(
                    f"the directory {name!r} holds no ODIM-HDF5 files ({', '.join(ODIM_SUFFIXES)})"
                )
        elif os.path.isfile(name):
            matches = [name]
        else:
            raise FileNotFoundError(f"no such file or directory: {name!r}")
        found.extend(os.path.abspath(m) for m in matches)
    # The same file reached through two patterns is one input, not a duplicate time.
    return list(dict.fromkeys(found))


@dataclass(frozen=True)
class OdimHeader:
    """What :func:`open_opera` needs from one ODIM-HDF5 composite, without its image.

    Attributes
    ----------
    path : str
    time : numpy.datetime64
        Nominal time (``what/date`` + ``what/time``, UTC).
    start_time, end_time : numpy.datetime64
        Valid period (``dataset1/what`` start/end date and time), NaT if absent.
    quantity : str
        ``RATE``, ``DBZH``, ``ACRR`` ...
    product : str
        ``dataset1/what/product`` (``COMP``, ``MAX``, ``PPI`` ...).
    shape : tuple of int
        ``(ysize, xsize)``, the image shape.
    xscale, yscale : float
        Pixel size in metres.
    projdef : str
        PROJ string of the grid.
    """

    path: str
    time: np.datetime64
    start_time: np.datetime64
    end_time: np.datetime64
    quantity: str
    product: str
    shape: tuple[int, int]
    xscale: float
    yscale: float
    projdef: str

    @property
    def kind(self) -> tuple[str, str]:
        """(quantity, product): files of one series must agree on it."""
        return (self.quantity, self.product)

    @property
    def grid(self) -> tuple:
        """(shape, xscale, yscale, projdef): files of one series must agree on it."""
        return (self.shape, self.xscale, self.yscale, self.projdef)


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
    FileNotFoundError
        ``path`` does not exist.
    mink_toolkit.OperaFileError
        (an ``OSError``) The file is not HDF5 or lacks the ODIM attributes
        used here; the message names the file.

    Notes
    -----
    Quantity and calibration sit in ``dataset1/data1/what`` in ODIM 2.4 and
    in ``dataset1/what`` in the 2018 Odyssey files (ODIM 2.0); both are
    looked up, as in :func:`mink_toolkit.opera.read_odim`.

    Examples
    --------
    >>> from mink_toolkit import fetch_opera
    >>> header = read_odim_header(fetch_opera("20180824/T_PAAH21_C_EUOC_20180824180000.hdf"))
    >>> header.quantity, header.shape, str(header.time)
    ('RATE', (2200, 1900), '2018-08-24T18:00:00.000000000')
    """
    import h5py

    from .opera import _odim_datetime, _text
    from .registry import OperaFileError

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such file: {path!r}")
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise OperaFileError(f"cannot read {path} as HDF5 ({exc}); the file may be truncated or corrupt") from None
    with handle:
        try:
            what, where = handle["what"].attrs, handle["where"].attrs
            ds_what = handle["dataset1/what"].attrs
            data_what = handle["dataset1/data1/what"].attrs if "dataset1/data1/what" in handle else {}
            quantity = data_what.get("quantity", ds_what.get("quantity"))
            if quantity is None:
                raise KeyError("quantity")
            if "dataset1/data1/data" not in handle:
                raise KeyError("dataset1/data1/data")

            def period(day, clock):
                if day in ds_what and clock in ds_what:
                    return _odim_datetime(_text(ds_what[day]), _text(ds_what[clock]))
                return np.datetime64("NaT", "ns")

            return OdimHeader(
                path=path,
                time=_odim_datetime(_text(what["date"]), _text(what["time"])),
                start_time=period("startdate", "starttime"),
                end_time=period("enddate", "endtime"),
                quantity=_text(quantity),
                product=_text(ds_what.get("product", "")),
                shape=(int(where["ysize"]), int(where["xsize"])),
                xscale=float(where["xscale"]),
                yscale=float(where["yscale"]),
                projdef=_text(where["projdef"]),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise OperaFileError(
                f"{path}: not an ODIM-HDF5 composite this toolkit can read (missing or bad {exc})"
            ) from None


def _check_consistent(headers: Sequence[OdimHeader]) -> None:
    """Raise naming the odd file(s) when products or grids differ.

    The reference is the signature most files share (ties: the earliest
    file), so the error names the files that do not belong rather than
    whichever file happened to come first.
    """
    for what, key in (("product", lambda h: h.kind), ("grid", lambda h: h.grid)):
        groups: dict = {}
        for h in headers:
            groups.setdefault(key(h), []).append(h)
        if len(groups) > 1:
            reference = max(groups.values(), key=len)
            odd = [h for h in headers if key(h) != key(reference[0])]
            shown = "; ".join(f"{h.path} has {key(h)}" for h in odd[:3])
            more = f" (and {len(odd) - 3} more)" if len(odd) > 3 else ""
            raise ValueError(
                f"mixed {what}s in one series: {len(reference)} files have {key(reference[0])}, "
                f"but {shown}{more}. Open each product/grid separately."
            )


def _apply_duplicates(headers: list[OdimHeader], on_duplicate: str) -> list[OdimHeader]:
    """Sort by nominal time (stable) and resolve files sharing a time."""
    ordered = sorted(headers, key=lambda h: h.time)  # stable: ties keep the order given
    kept: list[OdimHeader] = []
    for h in ordered:
        if kept and kept[-1].time == h.time:
            if on_duplicate == "raise":
                raise ValueError(
                    f"two files have the nominal time {np.datetime_as_string(h.time, unit='s')}: "
                    f"{kept[-1].path} and {h.path}; pass on_duplicate='first' or 'last' "
                    "to keep one of them"
                )
            if on_duplicate == "last":
                kept[-1] = h
            continue
        kept.append(h)
    return kept


# --------------------------------------------------------------------------
# Lazy series
# --------------------------------------------------------------------------


def _read_odim(path):
    # Imported at call time: dask workers import it there, and archive.py
    # stays importable for --help even if the input layer is broken.
    from .opera import read_odim

    return read_odim(path)


def _read_field(path: str, shape: tuple[int, int], dtype: str, time: np.datetime64) -> np.ndarray:
    """Task body: one file's image as an ndarray, checked against its header."""
    field = _read_odim(path)
    values = np.asarray(field.values)
    if values.shape != tuple(shape) or values.dtype != np.dtype(dtype):
        raise ValueError(
            f"{path}: image is {values.dtype} {values.shape}, expected {dtype} {tuple(shape)} "
            "from the file's header"
        )
    if "time" in field.coords and field["time"].values != time:
        raise ValueError(f"{path}: read_odim time {field['time'].values} differs from the header's {time}")
    return values


def open_opera(paths_or_glob, *, chunks: int | None = 1, on_duplicate: str = "raise"):
    """Open OPERA composites as one lazy ``(time, y, x)`` DataArray.

    Only the ODIM headers of all files and the first file (for coordinates
    and attributes) are read now; every image is read by its own dask task
    (``dask.delayed(read_odim)`` + ``dask.array.from_delayed``) when the
    result is computed, so memory stays at a few fields however long the
    series is.

    Parameters
    ----------
    paths_or_glob : str, os.PathLike or sequence of them
        Files, directories or glob patterns (see :func:`resolve_paths`).
    chunks : int or None
        Files per dask chunk along ``time`` (default 1: one chunk per file,
        the natural unit of work: one file is read and analysed by one
        task). ``None`` reads everything now into a numpy-backed array.
    on_duplicate : {"raise", "first", "last"}
        Two files with the same nominal time: an error naming both, or
        keep the first / last of them in the order given.

    Returns
    -------
    xarray.DataArray, dims (time, y, x)
        Sorted by nominal time. Coordinates ``x``, ``y`` (m) and attributes
        as :func:`mink_toolkit.opera.read_odim`; the per-file values
        (``filename``, ``start_time``, ``end_time``) become coordinates
        along ``time``, plus ``path`` (absolute file path).

    Raises
    ------
    FileNotFoundError
        Missing files, empty patterns or directories.
    mink_toolkit.OperaFileError
        (an ``OSError``) Unreadable files, naming them.
    ValueError
        Mixed products or grids (naming the odd files), duplicate times
        with ``on_duplicate="raise"``.

    Examples
    --------
    >>> from mink_toolkit import fetch_opera, opera_files
    >>> paths = [fetch_opera(n) for n in opera_files("odyssey_rate")[:3]]
    >>> series = open_opera(paths)
    >>> series.sizes["time"], series.chunks[0]
    (3, (1, 1, 1))
    """
    import dask
    import dask.array as dsa
    import xarray as xr

    check_choice(on_duplicate, ON_DUPLICATE, "on_duplicate")
    if chunks is not None and (isinstance(chunks, bool) or not isinstance(chunks, (int, np.integer)) or chunks < 1):
        raise ValueError(f"chunks must be a positive number of files per chunk or None; got {chunks!r}")
    paths = resolve_paths(paths_or_glob)
    headers = [read_odim_header(p) for p in paths]
    _check_consistent(headers)
    headers = _apply_duplicates(headers, on_duplicate)

    template = _read_odim(headers[0].path)
    shape, dtype = headers[0].shape, np.dtype(template.dtype)
    if template.shape != shape:
        raise ValueError(f"{headers[0].path}: image is {template.shape}, header says {shape}")

    if chunks is None:
        data = np.stack([_read_field(h.path, shape, dtype.str, h.time) for h in headers])
    else:
        read = dask.delayed(_read_field, pure=True)
        blocks = [
            dsa.from_delayed(
                read(h.path, shape, dtype.str, h.time, dask_key_name=f"read_odim-{dask.base.tokenize(h.path)}"),
                shape=shape,
                dtype=dtype,
                name=f"field-{dask.base.tokenize(h.path, shape, dtype.str)}",
            )
            for h in headers
        ]
        data = dsa.stack(blocks)
        if chunks > 1:
            data = data.rechunk({0: int(chunks)})

    ydim, xdim = template.dims
    attrs = {k: v for k, v in template.attrs.items() if k not in PER_FILE_ATTRS}
    coords = {name: template.coords[name] for name in (ydim, xdim) if name in template.coords}
    coords["time"] = ("time", np.array([h.time for h in headers], dtype="datetime64[ns]"))
    coords["start_time"] = ("time", np.array([h.start_time for h in headers], dtype="datetime64[ns]"))
    coords["end_time"] = ("time", np.array([h.end_time for h in headers], dtype="datetime64[ns]"))
    coords["filename"] = ("time", np.array([os.path.basename(h.path) for h in headers]))
    coords["path"] = ("time", np.array([h.path for h in headers]))
    series = xr.DataArray(data, dims=("time", ydim, xdim), coords=coords, attrs=attrs, name=template.name)
    series["time"].attrs["long_name"] = "nominal time (UTC)"
    return series


def to_rainrate(series, a: float | None = None, b: float | None = None):
    """Reflectivity (dBZ) to rain rate (mm/h), lazily, file by file.

    Parameters
    ----------
    series : xarray.DataArray (..., y, x), ``attrs["quantity"] == "DBZH"``
        For example :func:`open_opera` of the CIRRUS files.
    a, b : float, optional
        Z–R coefficients of :math:`Z = a R^b`; default those in the file
        (``zr_a``/``zr_b``) or Marshall–Palmer (200, 1.6), as
        :func:`mink_toolkit.opera.dbz_to_rainrate`.

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
    >>> from mink_toolkit import fetch_opera, opera_files
    >>> dbz = open_opera([fetch_opera(n) for n in opera_files("cirrus_dbzh")[:2]])
    >>> rain = to_rainrate(dbz)
    >>> rain.attrs["units"], rain.chunks is not None
    ('mm/h', True)
    """
    import xarray as xr

    from .opera import dbz_to_rainrate

    if not isinstance(series, xr.DataArray):
        raise TypeError(f"series must be an xarray.DataArray; got {type(series).__name__}")
    quantity = series.attrs.get("quantity")
    if quantity != "DBZH":
        raise ValueError(f"series must be reflectivity (quantity 'DBZH'); its quantity is {quantity!r}")
    rain = dbz_to_rainrate(series, a=a, b=b)
    return rain


def coarsen_nanmean(field, factor: int, *, min_observed: int = 1):
    """NaN-aware block mean onto a grid ``factor`` times coarser.

    Averages ``factor × factor`` blocks of pixels, ignoring NaN (no
    coverage): a block is the mean of its observed pixels, and NaN only if
    fewer than ``min_observed`` of them are observed. Used to put the 1 km
    CIRRUS product on the 2 km grid of the rain-rate products (OPERA
    README, decoding step 12). Average rain *rates*, not dBZ: convert with
    :func:`to_rainrate` first, since the mean of dBZ is not the dBZ of the
    mean rain.

    Parameters
    ----------
    field : xarray.DataArray (..., y, x)
        Lazy or in memory; coordinates ``x``, ``y`` are pixel centres.
    factor : int >= 1
        Must divide both grid sizes.
    min_observed : int, 1 … factor**2
        Observed pixels a block needs to get a value.

    Returns
    -------
    xarray.DataArray (..., y/factor, x/factor)
        Coordinates are the block centres; attrs kept plus ``coarsened_by``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> f = xr.DataArray([[1.0, 3.0], [np.nan, 2.0]], dims=("y", "x"))
    >>> coarsen_nanmean(f, 2).values.tolist()
    [[2.0]]
    """
    import xarray as xr

    if not isinstance(field, xr.DataArray):
        raise TypeError(f"field must be an xarray.DataArray; got {type(field).__name__}")
    if isinstance(factor, bool) or not isinstance(factor, (int, np.integer)) or factor < 1:
        raise ValueError(f"factor must be a positive integer; got {factor!r}")
    if isinstance(min_observed, bool) or not isinstance(min_observed, (int, np.integer)) or not (
        1 <= min_observed <= factor * factor
    ):
        raise ValueError(f"min_observed must be an integer in 1 … {factor * factor}; got {min_observed!r}")
    ydim, xdim = field.dims[-2:]
    for dim in (ydim, xdim):
        if field.sizes[dim] % factor:
            raise ValueError(f"factor {factor} does not divide the size of {dim!r} ({field.sizes[dim]})")
    if factor == 1:
        return field
    window = {ydim: int(factor), xdim: int(factor)}
    observed = field.notnull()
    total = field.fillna(0.0).coarsen(window, boundary="exact").sum()
    count = observed.coarsen(window, boundary="exact").sum()
    # Divide only where the block has enough observed pixels: NaN elsewhere,
    # without a 0/0 warning.
    mean = total / count.where(count >= min_observed)
    mean.attrs = {**field.attrs, "coarsened_by": int(factor)}
    mean.name = field.name
    return mean


# --------------------------------------------------------------------------
# Curves on a dask scheduler
# --------------------------------------------------------------------------


def _stacked_functionals(lazy):
    """(…, threshold, functional) dask array of a lazy functionals Dataset, one block per time chunk."""
    arr = lazy.to_dataarray("functional").transpose(..., "threshold", "functional").data
    return arr.rechunk({arr.ndim - 2: -1, arr.ndim - 1: -1})


def _tqdm(total: int, desc: str, enabled: bool, unit: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled)


def _compute_blocks(arr, scheduler, num_workers: int | None, progress: bool) -> np.ndarray:
    """Compute a dask array chunked along axis 0 only, with a per-chunk progress bar."""
    import dask
    from dask.callbacks import Callback

    blocks = list(arr.to_delayed().ravel())
    desc = "Minkowski curves"
    unit = "field" if all(c == 1 for c in arr.chunks[0]) else "chunk"
    if isinstance(scheduler, str) and scheduler in LOCAL_SCHEDULERS:
        keys = {b.key for b in blocks}

        class _ChunkProgress(Callback):
            # dask.local calls _posttask after each task: count only the
            # final per-chunk results, one per file with the default chunks.
            def _posttask(self, key, result, dsk, state, worker_id):
                if key in keys:
                    bar.update(1)

        with _tqdm(len(blocks), desc, progress, unit) as bar, _ChunkProgress():
            kwargs = {"scheduler": scheduler}
            if num_workers is not None and scheduler != "synchronous":
                kwargs["num_workers"] = num_workers
            results = dask.compute(*blocks, **kwargs)
    else:
        from distributed import Client, as_completed

        own_client = not isinstance(scheduler, Client)
        client = Client(scheduler, timeout=CONNECT_TIMEOUT_S, set_as_default=False) if own_client else scheduler
        try:
            futures = client.compute(blocks)
            with _tqdm(len(blocks), desc, progress, unit) as bar:
                for _ in as_completed(futures):
                    bar.update(1)
            results = client.gather(futures)
        finally:
            if own_client:
                client.close()
    return np.concatenate(results, axis=0) if len(results) > 1 else np.asarray(results[0])


def minkowski_curves(
    series,
    thresholds,
    *,
    connectivity: int = 8,
    perimeter: str = "edges",
    nan_policy: str = "window",
    pixel_size: float = 1.0,
    length_unit: str | None = None,
    scheduler="threads",
    num_workers: int | None = None,
    progress: bool = False,
):
    """Minkowski curves of every field of a (lazy) series, computed with dask.

    Parameters
    ----------
    series : xarray.DataArray (time, y, x)
        Typically :func:`open_opera` (dask-backed, one chunk per file); a
        numpy-backed array is chunked one field per chunk.
    thresholds : 1-D array_like, strictly increasing
        In the units of ``series`` (mm/h for rain rate).
    connectivity, perimeter, pixel_size :
        As :func:`~mink_toolkit.functionals.minkowski_functionals`.
    length_unit : str, optional
        Unit in which ``pixel_size`` is given (``"km"`` with
        ``pixel_size=2.0`` on the 2 km grid); written to the ``units``
        attributes (area ``km2``, perimeter ``km``).
    nan_policy : {"window", "background", "raise"}
        Default ``"window"``: OPERA composites are NaN outside radar
        coverage, and treating that as dry ("background") adds false
        boundary length along the coverage edge.
    scheduler : {"threads", "processes", "synchronous"}, str or distributed.Client
        A local dask scheduler, the address of a ``dask.distributed``
        scheduler (``"tcp://host:8786"``; the workers must see the files
        under the same paths), or a connected ``Client``.
    num_workers : int, optional
        Threads or processes of a local scheduler (default: dask's, the
        number of cores).
    progress : bool
        Show a tqdm progress bar (one step per time chunk).

    Returns
    -------
    xarray.Dataset
        Variables ``area``, ``perimeter``, ``euler_characteristic`` on
        ``(time, threshold)`` in memory, with the coordinates of ``series``
        along ``time``; equal, number for number, to the functionals of
        each field computed on its own.

    Examples
    --------
    >>> from mink_toolkit import fetch_opera, opera_files
    >>> series = open_opera([fetch_opera(n) for n in opera_files("odyssey_rate")[:2]])
    >>> curves = minkowski_curves(series, [0.1, 1.0], scheduler="synchronous")
    >>> dict(curves.sizes)
    {'time': 2, 'threshold': 2}
    """
    import xarray as xr

    from .functionals import minkowski_functionals

    if not isinstance(series, xr.DataArray):
        raise TypeError(f"series must be an xarray.DataArray; got {type(series).__name__}")
    if series.ndim < 3:
        raise ValueError(f"series must have dims (time, y, x); got dims {series.dims}")
    if num_workers is not None and (isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 1):
        raise ValueError(f"num_workers must be a positive integer or None; got {num_workers!r}")
    if isinstance(scheduler, str):
        if not scheduler:
            raise ValueError("scheduler must be 'threads', 'processes', 'synchronous' or a scheduler address")
    elif not _is_client(scheduler):
        raise TypeError(f"scheduler must be a string or a distributed.Client; got {type(scheduler).__name__}")
    if length_unit is not None and (not isinstance(length_unit, str) or not length_unit.strip()):
        raise ValueError(f"length_unit must be a non-empty string such as 'km'; got {length_unit!r}")
    if series.chunks is None:
        series = series.chunk({series.dims[0]: 1})
    lazy = minkowski_functionals(
        series,
        thresholds,
        connectivity=connectivity,
        perimeter=perimeter,
        pixel_size=pixel_size,
        nan_policy=nan_policy,
    )
    values = _compute_blocks(_stacked_functionals(lazy), scheduler, num_workers, progress)
    computed = lazy.copy()
    for i, name in enumerate(FUNCTIONAL_NAMES):
        computed[name] = lazy[name].copy(data=values[..., i])
    if length_unit is not None:
        computed["area"].attrs["units"] = f"{length_unit}2"
        computed["perimeter"].attrs["units"] = length_unit
    return computed


def _delayed_sha256(path: str):
    import dask

    return dask.delayed(file_sha256, pure=True)(path, dask_key_name=f"sha256-{dask.base.tokenize(path)}")


def _compute_tasks(tasks: list, scheduler, num_workers: int | None) -> list:
    """Compute dask.delayed objects on the same kind of scheduler as :func:`minkowski_curves`."""
    import dask

    if isinstance(scheduler, str) and scheduler in LOCAL_SCHEDULERS:
        kwargs = {"scheduler": scheduler}
        if num_workers is not None and scheduler != "synchronous":
            kwargs["num_workers"] = num_workers
        return list(dask.compute(*tasks, **kwargs))
    from distributed import Client

    if isinstance(scheduler, Client):
        return scheduler.gather(scheduler.compute(tasks))
    with Client(scheduler, timeout=CONNECT_TIMEOUT_S, set_as_default=False) as client:
        return client.gather(client.compute(tasks))


def _is_client(obj) -> bool:
    try:
        from distributed import Client
    except ImportError:  # pragma: no cover - distributed is a dependency
        return False
    return isinstance(obj, Client)


# --------------------------------------------------------------------------
# Provenance and output
# --------------------------------------------------------------------------


def file_sha256(path) -> str:
    """SHA-256 of a file's bytes, hex (as in the OPERA ``SHA256SUMS``).

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile(delete=False) as f:
    ...     _ = f.write(b"abc")
    >>> file_sha256(f.name)[:16]
    'ba7816bf8f01cfea'
    """
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _output_format(out: Path) -> str:
    suffix = out.suffix.lower()
    if suffix in (".nc", ".nc4"):
        return "netcdf"
    if suffix == ".zarr":
        return "zarr"
    raise ValueError(f"--out must end in .nc (NetCDF) or .zarr (Zarr); got {str(out)!r}")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


def write_atomically(dataset, out) -> Path:
    """Write NetCDF (h5netcdf) or Zarr to a temporary name beside ``out``, then rename.

    A failure at any point removes the temporary file, so ``out`` is either
    the complete result or untouched.
    """
    out = Path(out)
    fmt = _output_format(out)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    _remove(tmp)
    try:
        if fmt == "netcdf":
            dataset.to_netcdf(tmp, engine="h5netcdf")
        else:
            # Zarr format 2: its string dtypes and consolidated metadata are
            # specified (format 3 has neither yet), so other readers can open it.
            dataset.to_zarr(tmp, mode="w", zarr_format=2, consolidated=True)
        if out.exists() and fmt == "zarr":
            _remove(out)  # os.replace cannot replace a non-empty directory
        os.replace(tmp, out)
    except BaseException:
        _remove(tmp)
        raise
    return out


def _parse_thresholds(text: str) -> np.ndarray:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"thresholds must be comma-separated numbers; got {text!r}") from exc
    try:
        return check_thresholds(values, "--thresholds")
    except (TypeError, ValueError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {text!r}") from exc
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        return check_positive(float(text), "value")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a number > 0; got {text!r}") from exc


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mink_toolkit curves",
        description=(
            "Minkowski curves (area, perimeter, Euler characteristic per threshold) of every "
            "OPERA composite in PATHS, computed lazily with dask, written to NetCDF or Zarr."
        ),
        epilog=(
            "Exit status: 0 success, 1 bad input (missing or unreadable files, mixed products, "
            "empty patterns) or failed computation, 2 bad command line."
        ),
    )
    parser.add_argument("paths", nargs="+", metavar="PATHS",
                        help="ODIM-HDF5 files, directories or glob patterns (quote them)")
    parser.add_argument("--thresholds", required=True, type=_parse_thresholds,
                        help="comma-separated, strictly increasing thresholds in the data's units, e.g. 0.1,0.5,1,5,10")
    parser.add_argument("--out", required=True, type=Path, help="output file: *.nc (NetCDF) or *.zarr (Zarr)")
    parser.add_argument("--connectivity", type=int, choices=CONNECTIVITIES, default=8)
    parser.add_argument("--perimeter", choices=PERIMETERS, default="edges")
    parser.add_argument("--nan-policy", choices=NAN_POLICIES, default="window",
                        help="NaN (outside coverage): 'window' (default) adds no false boundary at the coverage edge")
    parser.add_argument("--scheduler", default="threads",
                        help="threads (default), processes, synchronous, or a dask.distributed address tcp://HOST:PORT")
    parser.add_argument("--connect-timeout", type=_positive_float, default=CONNECT_TIMEOUT_S, metavar="SECONDS",
                        help=f"how long to try to reach a dask.distributed scheduler (default {CONNECT_TIMEOUT_S})")
    parser.add_argument("--workers", type=_positive_int, default=None,
                        help="threads/processes of a local scheduler (default: number of cores)")
    parser.add_argument("--on-duplicate", choices=ON_DUPLICATE, default="raise",
                        help="files with the same nominal time: error (default) or keep the first/last")
    parser.add_argument("--rain-rate", action="store_true",
                        help="convert reflectivity (DBZH) to rain rate (mm/h) before thresholding")
    parser.add_argument("--zr-a", type=_positive_float, default=None, help="Z-R coefficient a (with --rain-rate)")
    parser.add_argument("--zr-b", type=_positive_float, default=None, help="Z-R exponent b (with --rain-rate)")
    parser.add_argument("--coarsen", type=_positive_int, default=1, metavar="FACTOR",
                        help="NaN-aware block mean over FACTORxFACTOR pixels first (2: 1 km CIRRUS -> 2 km)")
    parser.add_argument("--length-unit", choices=("pixel", "km"), default="pixel",
                        help="units of area and perimeter: pixels (default) or km from the grid spacing")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def _grid_spacing_km(series) -> float:
    xdim = series.dims[-1]
    x = np.asarray(series[xdim].values, dtype=float)
    if x.size < 2:
        raise ValueError("--length-unit km needs at least two x coordinates")
    return float(abs(x[1] - x[0]) / 1000.0)


def _provenance_attrs(args, argv, series, hashes: dict[str, str], pixel_size: float) -> dict:
    from . import __version__

    settings = {
        "thresholds": [float(u) for u in args.thresholds],
        "connectivity": args.connectivity,
        "perimeter": args.perimeter,
        "nan_policy": args.nan_policy,
        "scheduler": args.scheduler,
        "on_duplicate": args.on_duplicate,
        "rain_rate": bool(args.rain_rate),
        "zr_a": args.zr_a,
        "zr_b": args.zr_b,
        "coarsen": args.coarsen,
        "length_unit": args.length_unit,
        "pixel_size": pixel_size,
    }
    files = [{"path": p, "sha256": h} for p, h in hashes.items()]
    source = {k: v for k, v in series.attrs.items() if isinstance(v, (str, int, float))}
    return {
        "title": "Minkowski curves of OPERA radar composites",
        "mink_toolkit_version": __version__,
        "created_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": "python -m mink_toolkit curves " + " ".join(argv),
        "settings": json.dumps(settings),
        "source_files": json.dumps(files),
        "source_attrs": json.dumps(source, default=str),
        "history": f"{datetime.now(timezone.utc):%Y-%m-%dT%H:%M:%SZ} mink_toolkit {__version__} curves",
    }


def run_curves(args, argv: list[str]):
    """Do the work of ``curves`` for parsed ``args``; returns the written path."""
    import xarray as xr

    out = Path(args.out)
    _output_format(out)
    if out.exists() and not args.overwrite:
        raise FileExistsError(f"{out} exists; pass --overwrite to replace it")
    if not out.parent.is_dir():
        raise FileNotFoundError(f"the output directory {str(out.parent)!r} does not exist")
    if (args.zr_a is not None or args.zr_b is not None) and not args.rain_rate:
        raise ValueError("--zr-a/--zr-b only apply with --rain-rate")

    series = open_opera(args.paths, on_duplicate=args.on_duplicate)
    if args.rain_rate:
        series = to_rainrate(series, a=args.zr_a, b=args.zr_b)
    if args.coarsen > 1:
        series = coarsen_nanmean(series, args.coarsen)
    pixel_size = _grid_spacing_km(series) if args.length_unit == "km" else 1.0

    with contextlib.ExitStack() as stack:
        scheduler = args.scheduler
        if scheduler not in LOCAL_SCHEDULERS:
            # One connection for the curves and the checksums; fails fast and clearly.
            from distributed import Client

            try:
                client = Client(scheduler, timeout=args.connect_timeout, set_as_default=False)
            except (OSError, ValueError) as exc:
                raise OSError(f"cannot connect to the dask scheduler {scheduler!r}: {exc}") from None
            scheduler = stack.enter_context(client)
        curves = minkowski_curves(
            series,
            args.thresholds,
            connectivity=args.connectivity,
            perimeter=args.perimeter,
            nan_policy=args.nan_policy,
            pixel_size=pixel_size,
            length_unit="km" if args.length_unit == "km" else None,
            scheduler=scheduler,
            num_workers=args.workers,
            progress=not args.no_progress,
        )
        paths = [str(p) for p in series["path"].values]
        # Hashed where the files are read (the workers, on a cluster), in parallel.
        digests = _compute_tasks([_delayed_sha256(p) for p in paths], scheduler, args.workers)
    hashes = dict(zip(paths, digests))
    curves = curves.assign_coords(sha256=("time", np.array([hashes[p] for p in paths])))
    curves["sha256"].attrs["long_name"] = "SHA-256 of the source file"
    curves.attrs = _provenance_attrs(args, argv, series, hashes, pixel_size)
    for name in FUNCTIONAL_NAMES:
        # NetCDF attributes cannot hold None or bool; settings are in the global attrs.
        curves[name].attrs = {k: v for k, v in curves[name].attrs.items() if isinstance(v, (str, int, float))}
    return write_atomically(curves, out)


def main(argv: list[str] | None = None) -> int:
    """``python -m mink_toolkit curves PATHS... --thresholds ... --out FILE``.

    Returns the exit status: 0 success, 1 bad input or failed computation
    (a one-line message on stderr, no output file written), 2 bad command
    line (argparse's usage message).

    Examples
    --------
    >>> main(["/no/such/file.hdf", "--thresholds", "0.1,1", "--out", "curves.nc"])
    1
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help (0) and usage errors (2)
        return int(exc.code or 0)
    try:
        out = run_curves(args, argv)
    except KeyboardInterrupt:
        print("curves: interrupted; nothing written", file=sys.stderr)
        return 130
    except (OSError, ValueError, TypeError) as exc:
        print(f"curves: error: {exc}", file=sys.stderr)
        return 1
    print(f"curves: wrote {out}", file=sys.stderr)
    return 0
