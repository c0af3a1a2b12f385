"""OPERA archives as one lazy time series: file lists, headers, dask-backed arrays.

A researcher points the toolkit at a folder of OPERA composites (a day here;
years of 5-minute fields in real use, far more than one machine's memory):

* :func:`resolve_paths` expands files, directories and glob patterns;
* :func:`open_opera` reads only the ODIM headers
  (:func:`~mink_toolkit.io.odim.read_odim_header`, the same parser as
  :func:`~mink_toolkit.io.odim.read_odim`), checks that the files form one
  series (one product, one grid, no duplicate times) and builds a lazy
  ``(time, y, x)`` :class:`xarray.DataArray` with **one dask chunk per
  file**; each image is read by its own task when (and where) it is needed.

A reflectivity series becomes rain rate, lazily, with
:func:`~mink_toolkit.preprocess.to_rainrate`.

The parallel engine is dask (Rocklin 2015, "Dask: parallel computation with
blocked algorithms and task scheduling", Proc. SciPy).
"""

from __future__ import annotations

import glob
import os
from typing import Iterable, Sequence

import numpy as np

from .._validation import check_choice, check_integer
from .odim import OdimHeader, odim_attrs, read_odim_header, read_odim_values

__all__ = [
    "ODIM_SUFFIXES",
    "ON_DUPLICATE",
    "OdimHeader",
    "open_opera",
    "plan_series",
    "resolve_paths",
]

#: File name endings taken when a directory is given.
ODIM_SUFFIXES = (".hdf", ".h5", ".hdf5")
#: What :func:`open_opera` does with two files of the same nominal time.
ON_DUPLICATE = ("raise", "first", "last")
#: ``read_odim`` attributes that change from file to file; in a series they
#: become coordinates along ``time`` instead of attributes.
PER_FILE_ATTRS = ("filename", "start_time", "end_time")


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


def _odd_files(headers: Sequence[OdimHeader], reference: OdimHeader | None = None):
    """Files that do not belong to the series, with the reason; and the reference header.

    The reference is ``reference`` if given (a resumed run's), else the
    signature most files share (ties: the earliest file), so that the odd
    files are named rather than whichever file happened to come first.
    """
    odd: dict[str, str] = {}
    for what, key in (("product", lambda h: h.kind), ("grid", lambda h: h.grid)):
        remaining = [h for h in headers if h.path not in odd]
        if not remaining:
            break
        if reference is None:
            groups: dict = {}
            for h in remaining:
                groups.setdefault(key(h), []).append(h)
            wanted, count = key(max(groups.values(), key=len)[0]), max(len(g) for g in groups.values())
            source = f"{count} files have"
        else:
            wanted, source = key(reference), "the series has"
        for h in remaining:
            if key(h) != wanted:
                odd[h.path] = f"mixed {what}s: {source} {wanted}, but {h.path} has {key(h)}"
    kept = [h for h in headers if h.path not in odd]
    return odd, (reference if reference is not None else (kept[0] if kept else None))


def _check_consistent(headers: Sequence[OdimHeader]) -> None:
    """Raise naming the odd file(s) when products or grids differ."""
    odd, _ = _odd_files(headers)
    if odd:
        # One message for the first kind of mismatch found, naming up to three files.
        first = next(iter(odd.values()))
        what = first.split(":")[0]
        names = [path for path, reason in odd.items() if reason.startswith(what)]
        shown = "; ".join(odd[p].split(", but ", 1)[1] for p in names[:3])
        more = f" (and {len(names) - 3} more)" if len(names) > 3 else ""
        head = first.split(", but ", 1)[0].replace(f"{what}:", f"{what} in one series:", 1)
        raise ValueError(f"{head}, but {shown}{more}. Open each product/grid separately.")


def plan_series(
    paths_or_glob,
    *,
    on_duplicate: str = "raise",
    on_error: str = "raise",
    reference: OdimHeader | None = None,
) -> tuple[list[OdimHeader], list[dict]]:
    """Headers of the files that form one series, sorted by time; and the files left out.

    The rules of :func:`open_opera`, for a run that may skip files:
    unreadable headers, files of another product or grid, and duplicate
    times (after ``on_duplicate``) either raise or are returned as
    skipped, with the reason.

    Parameters
    ----------
    paths_or_glob :
        As :func:`resolve_paths` (a path that does not exist always raises:
        it is a mistake in the command, not a bad file).
    on_duplicate : {"raise", "first", "last"}
    on_error : {"raise", "skip"}
    reference : OdimHeader, optional
        The product and grid the series must have (a resumed run's);
        default: those most files share.

    Returns
    -------
    headers : list of OdimHeader
        Sorted by nominal time.
    skipped : list of dict
        ``{"path", "status": "skipped", "reason"}`` per file left out.

    Examples
    --------
    >>> from mink_toolkit import fetch_opera, opera_files
    >>> names = opera_files("odyssey_rate")[:2] + opera_files("nimbus_rate")[:1]
    >>> headers, skipped = plan_series([fetch_opera(n) for n in names], on_error="skip")
    >>> len(headers), skipped[0]["reason"].split(", but")[0]
    (2, "mixed products: 2 files have ('RATE', 'COMP')")
    """
    check_choice(on_duplicate, ON_DUPLICATE, "on_duplicate")
    check_choice(on_error, ("raise", "skip"), "on_error")
    paths = resolve_paths(paths_or_glob)
    headers, skipped = [], []
    for path in paths:
        try:
            headers.append(read_odim_header(path))
        except OSError as exc:  # OperaFileError, FileNotFoundError (vanished meanwhile), permissions
            if on_error == "raise":
                raise
            skipped.append({"path": path, "status": "skipped", "reason": f"{type(exc).__name__}: {exc}"})
    if on_error == "raise" and reference is None:
        _check_consistent(headers)
    odd, _ = _odd_files(headers, reference)
    if odd and on_error == "raise":
        raise ValueError(f"{next(iter(odd.values()))}. Open each product/grid separately.")
    skipped += [{"path": p, "status": "skipped", "reason": reason} for p, reason in odd.items()]
    headers = _apply_duplicates([h for h in headers if h.path not in odd], on_duplicate)
    return headers, skipped


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


def _read_values(path: str) -> tuple[OdimHeader, np.ndarray]:
    # A module-level indirection: tests count the reads through it.
    return read_odim_values(path)


def _read_field(path: str, expected: OdimHeader) -> np.ndarray:
    """Task body: one file's image, checked against the header read when the series was opened.

    A file replaced or rewritten between opening and computing (another
    time, grid or product) is an error naming it, never a silently wrong
    time step.
    """
    header, values = _read_values(path)
    header.check_unchanged(expected)
    return values


def open_opera(paths_or_glob, *, chunks: int | None = 1, on_duplicate: str = "raise"):
    """Open OPERA composites as one lazy ``(time, y, x)`` DataArray.

    Only the ODIM headers are read now (coordinates and attributes come
    from them); every image is read by its own dask task when the result is
    computed, so memory stays at a few fields however long the series is.

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
    xarray.DataArray, dims (time, y, x), float64
        Sorted by nominal time. Coordinates ``x``, ``y`` (m) and attributes
        as :func:`~mink_toolkit.io.odim.read_odim`; the per-file values
        (``filename``, ``start_time``, ``end_time``) become coordinates
        along ``time``, plus ``path`` (absolute file path).

    Raises
    ------
    FileNotFoundError
        Missing files, empty patterns or directories.
    mink_toolkit.OperaFileError
        (an ``OSError``) Unreadable files, naming them.
    TypeError
        ``chunks`` not an integer.
    ValueError
        Mixed products or grids (naming the odd files), duplicate times
        with ``on_duplicate="raise"``, ``chunks`` < 1.

    Examples
    --------
    >>> from mink_toolkit import fetch_opera, opera_files
    >>> paths = [fetch_opera(n) for n in opera_files("odyssey_rate")[:3]]
    >>> series = open_opera(paths)
    >>> series.sizes["time"], series.chunks[0]
    (3, (1, 1, 1))
    >>> str(series.time.values[-1])[:16], series.attrs["units"]
    ('2018-08-24T18:30', 'mm/h')
    """
    import dask
    import dask.array as dsa
    import xarray as xr

    if chunks is not None:
        chunks = check_integer(chunks, "chunks", minimum=1)
    headers, _ = plan_series(paths_or_glob, on_duplicate=on_duplicate)
    first = headers[0]
    shape, dtype = first.shape, np.dtype(np.float64)

    if chunks is None:
        data = np.stack([_read_field(h.path, h) for h in headers])
    else:
        read = dask.delayed(_read_field, pure=True)
        blocks = [
            dsa.from_delayed(
                read(h.path, h, dask_key_name=f"read_odim-{dask.base.tokenize(h.path, h)}"),
                shape=shape,
                dtype=dtype,
                name=f"field-{dask.base.tokenize(h.path, h)}",
            )
            for h in headers
        ]
        data = dsa.stack(blocks)
        if chunks > 1:
            data = data.rechunk({0: int(chunks)})

    x, y = first.coords()
    attrs = {k: v for k, v in odim_attrs(first).items() if k not in PER_FILE_ATTRS}
    coords = {
        "y": ("y", y, {"units": "m", "long_name": "projection y (pixel centre)"}),
        "x": ("x", x, {"units": "m", "long_name": "projection x (pixel centre)"}),
        "time": ("time", np.array([h.time for h in headers], dtype="datetime64[ns]")),
        "start_time": ("time", np.array([h.start_time for h in headers], dtype="datetime64[ns]")),
        "end_time": ("time", np.array([h.end_time for h in headers], dtype="datetime64[ns]")),
        "filename": ("time", np.array([os.path.basename(h.path) for h in headers])),
        "path": ("time", np.array([h.path for h in headers])),
    }
    series = xr.DataArray(data, dims=("time", "y", "x"), coords=coords, attrs=attrs, name=first.quantity)
    series["time"].attrs["long_name"] = "nominal time (UTC)"
    return series
