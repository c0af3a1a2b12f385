"""Curves on disk: the NetCDF and Zarr writers, provenance, and a Zarr store that resumes.

* :func:`write_curves` -- a Dataset of curves to NetCDF (``.nc``) or Zarr
  (``.zarr``), atomically;
* :func:`provenance_attrs` -- the attributes that say how the curves were
  made (settings, source files and their checksums, clutter, skipped files);
* :class:`CurvesStore` -- a Zarr store of curves that grows file by file and
  survives interruption, with the resume helpers :func:`merge_records`
  and :class:`Committer`.

``python -m mink_toolkit curves ... --out curves.zarr`` commits the curves of
the files analysed so far every few files; ``--resume`` continues a run
that was interrupted (or extends a store with new files) without
recomputing what is recorded.

How a time step is committed (the store is Zarr format 2, written by
xarray; every key is written atomically by zarr's local store, a temporary
file renamed into place):

1. the new rows are appended to every variable along ``time``
   (``Dataset.to_zarr(append_dim="time")``);
2. then the root attribute ``committed`` -- the number of rows that are
   complete -- is raised, and the consolidated metadata rewritten.

A run killed at any point leaves ``committed`` at the last complete batch.
:meth:`CurvesStore.open` trims every variable back to ``committed`` rows
(rows of an interrupted append are never trusted), so a resumed run gives
exactly the curves of an uninterrupted one. :meth:`CurvesStore.finalize`
sorts the rows by time at the end (through
:func:`~mink_toolkit.io.atomic.atomic_write`) and marks the store complete.
"""

from __future__ import annotations

import json
import os
import warnings
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Sequence

import numpy as np

from ..io.atomic import atomic_write, remove_path
from ..io.odim import OdimHeader
from .engine import CurvesSettings, curves_dataset

__all__ = [
    "Committer",
    "CurvesStore",
    "StoreSettingsError",
    "merge_records",
    "output_format",
    "provenance_attrs",
    "write_curves",
]

#: Rows per Zarr chunk along time: ~170 kB per variable at 21 thresholds, so a
#: year of 15-minute files (35 040) is 35 chunks per variable, not 35 040 files.
TIME_CHUNK = 1024
_ROW_VARIABLES = ("area", "perimeter", "euler_characteristic")


class StoreSettingsError(ValueError):
    """The store was written with other settings or for another product or grid."""


def _header_json(header: OdimHeader) -> str:
    """What a resumed series must share with the store: product and grid."""
    return json.dumps({
        "quantity": header.quantity, "product": header.product, "shape": list(header.shape),
        "xscale": header.xscale, "yscale": header.yscale, "projdef": header.projdef,
        "x_edge": header.x_edge, "y_edge": header.y_edge,
    })


def _recover(path: Path) -> None:
    """Undo what a run killed inside :func:`atomic_write`'s directory swap left behind."""
    parent, name = path.parent, path.name
    olds = sorted(parent.glob(f".{name}.old-*"), key=lambda p: p.stat().st_mtime)
    if not path.exists() and olds:
        os.replace(olds[-1], path)  # the swap was interrupted between its two renames
        olds = olds[:-1]
    for leftover in [*olds, *parent.glob(f".{name}.tmp-*")]:
        remove_path(leftover)


class CurvesStore:
    """An append-only Zarr store of curves, with a commit counter.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.zarr`` directory.
    settings : CurvesSettings
    reference : OdimHeader
        A header of the series (grid spacing, units; product and grid that
        every later file must share).

    Notes
    -----
    Use :meth:`create` or :meth:`open`; rows are added with :meth:`append`
    and the store is closed with :meth:`finalize`.
    """

    def __init__(self, path, settings: CurvesSettings, reference: OdimHeader, committed: int = 0,
                 attrs: dict | None = None):
        self.path = Path(path)
        self.settings = settings
        self.reference = reference
        self.committed = committed
        self.exists = attrs is not None
        #: Files skipped by earlier runs (``{"path", "reason"}``), from the store.
        self.skipped: list[dict] = []
        # The root attributes of the last commit: rewritten unchanged by every
        # append (xarray rewrites them), so that an append killed half-way
        # still leaves the last commit's counter in place.
        self._attrs = attrs if attrs is not None else self._base_attrs(0)

    def _base_attrs(self, committed: int) -> dict:
        return {
            "curves_settings": json.dumps(self.settings.to_dict()),
            "series_reference": _header_json(self.reference),
            "complete": 0,
            "committed": committed,
        }

    # ---------------------------------------------------------------- opening

    @classmethod
    def create(cls, path, settings: CurvesSettings, reference: OdimHeader) -> "CurvesStore":
        """A new store at ``path`` (written on the first :meth:`append`; any old one is removed)."""
        path = Path(path)
        _recover(path)
        remove_path(path)
        return cls(path, settings, reference)

    @classmethod
    def open(cls, path, settings: CurvesSettings, reference: OdimHeader | None = None) -> "CurvesStore":
        """Open a store to resume it: check the settings, trim what was not committed.

        Raises
        ------
        FileNotFoundError
            No store at ``path``.
        StoreSettingsError
            The store was written with other settings (each mismatch is
            named) or for another product or grid than ``reference``.
        """
        import zarr

        path = Path(path)
        _recover(path)
        if not path.exists():
            raise FileNotFoundError(f"no curves store to resume at {path}")
        group = zarr.open_group(str(path), mode="r+", zarr_format=2)
        attrs = dict(group.attrs)
        if "curves_settings" not in attrs:
            raise StoreSettingsError(f"{path} is not a curves store written by mink_toolkit (no curves_settings)")
        stored = CurvesSettings.from_dict(json.loads(attrs["curves_settings"]))
        mismatches = settings.mismatches(stored)
        if mismatches:
            raise StoreSettingsError(
                f"{path} was written with other settings; resuming would mix curves that are not "
                f"comparable. Differences (this run vs the store): {'; '.join(mismatches)}. "
                "Use the store's settings, another --out, or --overwrite to start again."
            )
        if reference is not None and attrs.get("series_reference") != _header_json(reference):
            raise StoreSettingsError(
                f"{path} holds another product or grid: {attrs.get('series_reference')}; "
                f"these files have {_header_json(reference)}"
            )
        committed = int(attrs.get("committed", 0))
        # Rows beyond the commit counter belong to an append that was interrupted: drop them.
        for name in group.array_keys():
            array = group[name]
            if array.attrs.get("_ARRAY_DIMENSIONS", [None])[0] == "time" and array.shape[0] != committed:
                array.resize((committed, *array.shape[1:]))
        attrs["committed"], attrs["complete"] = committed, 0
        group.attrs.put(attrs)
        zarr.consolidate_metadata(str(path), zarr_format=2)
        store = cls(path, settings, reference if reference is not None else _reference_of(attrs), committed, attrs)
        store.skipped = json.loads(attrs.get("skipped_files", "[]"))
        return store

    # ---------------------------------------------------------------- contents

    def dataset(self):
        """The committed rows as a Dataset (in memory), in the order they were committed."""
        import xarray as xr

        if not self.exists:
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=RuntimeWarning)
            ds = xr.open_zarr(self.path, consolidated=True, zarr_format=2).load()
        return ds.isel(time=slice(0, self.committed))

    def records(self) -> list[dict]:
        """The committed rows as ``"ok"`` records of :func:`~mink_toolkit.curves.engine.file_curves`.

        A path committed twice (the file changed between runs) keeps its last row.
        """
        ds = self.dataset()
        if ds is None:
            return []
        curves = np.stack([ds[name].values for name in _ROW_VARIABLES], axis=-1)
        by_path: dict[str, dict] = {}
        for i, path in enumerate(ds["path"].values):
            by_path[str(path)] = {
                "path": str(path),
                "status": "ok",
                "sha256": str(ds["sha256"].values[i]),
                "time": ds["time"].values[i],
                "start_time": ds["start_time"].values[i],
                "end_time": ds["end_time"].values[i],
                "curves": curves[i],
                "clutter_pixels": int(ds["clutter_pixels"].values[i]),
            }
        return list(by_path.values())

    # ---------------------------------------------------------------- writing

    def _encoding(self, ds) -> dict:
        encoding = {}
        for name, var in ds.variables.items():
            if var.dims and var.dims[0] == "time":
                encoding[name] = {"chunks": (TIME_CHUNK, *var.shape[1:])}
        for name in ("time", "start_time", "end_time"):
            # Fixed units: rows appended later must be encodable the same way.
            encoding[name].update(units="seconds since 1970-01-01", dtype="int64")
        return encoding

    def append(self, records: Sequence[dict], skipped: Sequence[dict] = (), attrs: dict | None = None) -> None:
        """Commit ``records`` (``"ok"`` records, any order): append the rows, then raise ``committed``.

        ``skipped`` (the files skipped so far) and ``attrs`` (provenance)
        are written with the commit.
        """
        records = list(records)
        if records:
            ds = curves_dataset(records, self.settings, self.reference)
            ds.attrs = dict(self._attrs)  # the last commit's, counter included
            if not self.exists:
                ds.to_zarr(self.path, mode="w-", zarr_format=2, consolidated=True, encoding=self._encoding(ds))
                self.exists = True
            else:
                ds.to_zarr(self.path, append_dim="time", zarr_format=2, consolidated=True)
        if not self.exists:
            return
        new_attrs = {**(attrs or {}), **self._base_attrs(self.committed + len(records))}
        new_attrs["skipped_files"] = json.dumps([{"path": r["path"], "reason": r["reason"]} for r in skipped])
        self._commit(new_attrs)
        self.committed += len(records)

    def _commit(self, attrs: dict) -> None:
        """One write of the root attributes (atomic): this is the commit."""
        import zarr

        group = zarr.open_group(str(self.path), mode="r+", zarr_format=2)
        group.attrs.put(attrs)
        self._attrs = attrs
        zarr.consolidate_metadata(str(self.path), zarr_format=2)

    def finalize(self, records: Sequence[dict], attrs: dict) -> Path:
        """Write the final store: ``records`` sorted by time, ``attrs``, ``complete = 1``.

        ``records`` must be every row the store is to hold (the committed
        ones included). Rewritten through
        :func:`~mink_toolkit.io.atomic.atomic_write`, so the store is
        complete or still the resumable one.
        """
        ds = curves_dataset(records, self.settings, self.reference)
        ds.attrs = {**attrs, **self._base_attrs(len(records)), "complete": 1}
        with atomic_write(self.path) as tmp:
            ds.to_zarr(tmp, mode="w-", zarr_format=2, consolidated=True, encoding=self._encoding(ds))
        self.committed, self.exists = len(records), True
        return self.path


def _reference_of(attrs: dict) -> OdimHeader:
    """A stand-in header from the store's ``series_reference`` (grid and units only)."""
    ref = json.loads(attrs["series_reference"])
    nat = np.datetime64("NaT", "ns")
    return OdimHeader(
        path="", time=nat, start_time=nat, end_time=nat, quantity=ref["quantity"], product=ref["product"],
        prodname=None, source="", odim_version="", shape=tuple(ref["shape"]), xscale=ref["xscale"],
        yscale=ref["yscale"], x_edge=ref["x_edge"], y_edge=ref["y_edge"], projdef=ref["projdef"],
        gain=1.0, offset=0.0, nodata=None, undetect=None,
    )


# --------------------------------------------------------------------------
# NetCDF and Zarr files, written once
# --------------------------------------------------------------------------


def output_format(out) -> str:
    """``"netcdf"`` for ``*.nc``/``*.nc4``, ``"zarr"`` for ``*.zarr``; anything else is a ``ValueError``."""
    suffix = Path(out).suffix.lower()
    if suffix in (".nc", ".nc4"):
        return "netcdf"
    if suffix == ".zarr":
        return "zarr"
    raise ValueError(f"--out must end in .nc (NetCDF) or .zarr (Zarr); got {str(out)!r}")


def write_curves(dataset, out) -> Path:
    """Write curves to NetCDF (h5netcdf, ``.nc``) or Zarr (``.zarr``) atomically.

    Through :func:`~mink_toolkit.io.atomic.atomic_write`: ``out`` is either
    the complete result or untouched.

    Examples
    --------
    >>> import os, tempfile, xarray as xr
    >>> out = os.path.join(tempfile.mkdtemp(), "c.nc")
    >>> write_curves(xr.Dataset({"area": ("time", [1.0, 2.0])}), out).name
    'c.nc'
    """
    out = Path(out)
    fmt = output_format(out)
    with atomic_write(out) as tmp:
        if fmt == "netcdf":
            dataset.to_netcdf(tmp, engine="h5netcdf")
        else:
            # Zarr format 2: its string dtypes and consolidated metadata are
            # specified (format 3 has neither yet), so other readers can open it.
            dataset.to_zarr(tmp, mode="w", zarr_format=2, consolidated=True)
    return out


def _toolkit_version() -> str:
    # The installed distribution's version (pyproject.toml), without importing
    # the package's __init__ from here: no module imports the package above it.
    try:
        return version("mink_toolkit")
    except PackageNotFoundError:  # pragma: no cover - running from an uninstalled checkout
        return "unknown"


def provenance_attrs(command: str, settings: CurvesSettings, extra: dict, reference: OdimHeader,
                     records: Sequence[dict], skipped: Sequence[dict]) -> dict:
    """Global attributes of a curves output: how, when and from what it was made.

    Parameters
    ----------
    command : str
        The command line (or call) that made the curves.
    settings : CurvesSettings
    extra : dict
        How it was run (``on_duplicate``, ``on_error``, ``scheduler``,
        ``pixel_size``), recorded with the settings.
    reference : OdimHeader
        A header of the series (its product-wide ODIM attributes are kept).
    records, skipped : sequences of dict
        The ``"ok"`` and ``"skipped"`` records of the files.
    """
    from ..io.odim import odim_attrs
    from ..io.series import PER_FILE_ATTRS

    source = {k: v for k, v in odim_attrs(reference).items() if k not in PER_FILE_ATTRS}
    now = datetime.now(timezone.utc)
    clutter = int(sum(r["clutter_pixels"] for r in records))
    return {
        "title": "Minkowski curves of OPERA radar composites",
        "mink_toolkit_version": _toolkit_version(),
        "created_utc": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": command,
        "settings": json.dumps({**settings.to_dict(), **extra}),
        "source_files": json.dumps([{"path": r["path"], "sha256": r["sha256"]} for r in records]),
        "source_attrs": json.dumps(source, default=str),
        # The clutter screen: per time in the coordinate clutter_pixels, in total here.
        "max_rain": "none" if settings.max_rain is None else settings.max_rain,
        "clutter_pixels": clutter,
        "skipped_files": json.dumps([{"path": r["path"], "reason": r["reason"]} for r in skipped]),
        "n_skipped": len(skipped),
        "history": f"{now:%Y-%m-%dT%H:%M:%SZ} mink_toolkit {_toolkit_version()} curves",
    }


# --------------------------------------------------------------------------
# Resuming
# --------------------------------------------------------------------------


def merge_records(recorded: dict, new: list, on_duplicate: str) -> list:
    """Rows of the final output: those recorded by earlier runs and this run's, one per path and time."""
    rows = dict(recorded)
    rows.update({r["path"]: r for r in new})  # a file recomputed (its bytes changed) replaces its row
    kept: dict = {}
    for row in sorted(rows.values(), key=lambda r: r["time"]):  # stable: recorded rows first
        other = kept.get(row["time"])
        if other is None:
            kept[row["time"]] = row
        elif on_duplicate == "raise":
            raise ValueError(
                f"two files have the nominal time {np.datetime_as_string(row['time'], unit='s')}: "
                f"{other['path']} (recorded) and {row['path']}; pass --on-duplicate first or last"
            )
        elif on_duplicate == "last":
            kept[row["time"]] = row
    return list(kept.values())


class Committer:
    """Collects records as they arrive and commits them to the store every ``every`` files."""

    def __init__(self, store, every: int, skipped: list, attrs):
        self.store, self.every, self.skipped, self.attrs = store, every, skipped, attrs
        self.pending: list = []
        self.ok: list = []

    def __call__(self, record: dict) -> None:
        if record["status"] == "skipped":
            self.skipped.append(record)
        elif record["status"] == "ok":
            self.ok.append(record)
            self.pending.append(record)
        if self.store is not None and len(self.pending) >= self.every:
            self.flush()

    def flush(self) -> None:
        if self.store is not None and (self.pending or self.skipped):
            self.store.append(self.pending, self.skipped, self.attrs())
        self.pending = []
