"""Minkowski curves of radar files: the settings of a run and one dask task per file.

The path of the ``curves`` command (:mod:`mink_toolkit.curves.run`):
:func:`file_curves` is **one task per file** -- it reads the file's bytes
once, hashes them (the provenance and ``--resume`` key), decodes, converts
to rain rate, screens clutter, coarsens and counts, and returns only
thresholds × 3 numbers. :func:`compute_files` runs these tasks on a dask
scheduler (:func:`~mink_toolkit.curves.scheduling.compute_streaming`).
Nothing else is in the graph, so the scheduler's overhead per file is one
task and memory per worker is that of the files in flight, whatever the
archive's length. :func:`curves_dataset` turns the records into the
Dataset that :mod:`mink_toolkit.curves.store` writes.

The curves of an array already in hand (a lazy series, crops, sums) are
:func:`~mink_toolkit.curves.lazy.minkowski_curves`.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

import numpy as np

from .._validation import check_choice, check_integer, check_positive
from ..thresholds import check_thresholds
from ..functionals import (
    CONNECTIVITIES,
    DEFAULT_CONNECTIVITY,
    DEFAULT_PERIMETER,
    FUNCTIONAL_NAMES,
    NAN_POLICIES,
    PERIMETERS,
    minkowski_functionals,
)
from ..io.odim import OdimHeader, read_odim_values
from ..preprocess import screen_clutter, zr_coefficients, zr_rain
from ..resample import block_mean
from .scheduling import compute_streaming

__all__ = [
    "CurvesSettings",
    "FileRun",
    "LENGTH_UNITS",
    "ON_ERROR",
    "compute_files",
    "curves_dataset",
    "field_curves",
    "file_curves",
]

#: What a file that cannot be analysed does: stop the run, or be recorded and skipped.
ON_ERROR = ("raise", "skip")
#: Length units of the curves: pixels, or km from the grid spacing.
LENGTH_UNITS = ("pixel", "km")


# --------------------------------------------------------------------------
# One file
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class CurvesSettings:
    """Everything that decides the numbers of a curves run (not how it is run).

    Two runs with equal settings give identical curves for the same file;
    a resumed store must have been written with equal settings.

    Attributes
    ----------
    thresholds : tuple of float
        Strictly increasing, in the units of the (converted) data.
    connectivity, perimeter, nan_policy :
        As :func:`~mink_toolkit.functionals.minkowski_functionals`.
    rain_rate : bool
        Convert reflectivity (DBZH) to rain rate (mm/h) first.
    zr_a, zr_b : float or None
        Z--R coefficients with ``rain_rate`` (default: the file's, else
        Marshall--Palmer; see :func:`~mink_toolkit.preprocess.zr_coefficients`).
    max_rain : float or None
        Clutter screen (:func:`~mink_toolkit.preprocess.screen_clutter`):
        values above it become NaN, counted; applied to rain rates (mm/h)
        and accumulations (mm) only, before coarsening. None: off.
    coarsen : int
        NaN-aware block mean over ``coarsen × coarsen`` pixels
        (:func:`~mink_toolkit.resample.block_mean`) before counting.
    length_unit : {"pixel", "km"}
        Units of area and perimeter.

    Examples
    --------
    >>> settings = CurvesSettings([0.1, 1.0], max_rain=150.0)
    >>> settings.thresholds, settings.mismatches(CurvesSettings([0.1, 1.0]))
    ((0.1, 1.0), ['max_rain: 150.0 here, None there'])
    """

    thresholds: tuple
    connectivity: int = DEFAULT_CONNECTIVITY
    perimeter: str = DEFAULT_PERIMETER
    nan_policy: str = "window"
    rain_rate: bool = False
    zr_a: float | None = None
    zr_b: float | None = None
    max_rain: float | None = None
    coarsen: int = 1
    length_unit: str = "pixel"

    def __post_init__(self):
        # Normalised here, so that equal settings compare (and serialise) equal.
        set_ = object.__setattr__
        set_(self, "thresholds", tuple(float(u) for u in check_thresholds(self.thresholds)))
        check_choice(self.connectivity, CONNECTIVITIES, "connectivity")
        check_choice(self.perimeter, PERIMETERS, "perimeter")
        check_choice(self.nan_policy, NAN_POLICIES, "nan_policy")
        check_choice(self.length_unit, LENGTH_UNITS, "length_unit")
        set_(self, "coarsen", check_integer(self.coarsen, "coarsen", minimum=1))
        if not isinstance(self.rain_rate, bool):
            raise TypeError(f"rain_rate must be a bool; got {type(self.rain_rate).__name__}")
        if (self.zr_a is not None or self.zr_b is not None) and not self.rain_rate:
            raise ValueError("zr_a/zr_b only apply with rain_rate=True")
        if self.rain_rate:
            zr_coefficients(self.zr_a, self.zr_b)  # both or neither, finite, > 0
        for name in ("zr_a", "zr_b", "max_rain"):
            value = getattr(self, name)
            if value is not None:
                set_(self, name, check_positive(value, name))

    def to_dict(self) -> dict:
        """JSON-ready dict (thresholds as a list)."""
        out = asdict(self)
        out["thresholds"] = list(self.thresholds)
        return out

    @classmethod
    def from_dict(cls, values: dict) -> "CurvesSettings":
        """Inverse of :meth:`to_dict`; unknown keys are an error naming them."""
        names = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown curves settings {unknown}; known: {sorted(names)}")
        return cls(**values)

    def mismatches(self, other: "CurvesSettings") -> list[str]:
        """One line per setting that differs: ``'name: mine here, theirs there'``."""
        mine, theirs = self.to_dict(), other.to_dict()
        return [f"{k}: {mine[k]!r} here, {theirs[k]!r} there" for k in mine if mine[k] != theirs[k]]

    def pixel_size(self, header: OdimHeader) -> float:
        """Side of an analysed pixel in :attr:`length_unit` (after coarsening)."""
        return header.xscale * self.coarsen / 1000.0 if self.length_unit == "km" else 1.0


def _read_bytes(path: str) -> bytes:
    # One read of the file: hashed and decoded from the same bytes.
    with open(path, "rb") as handle:
        return handle.read()


def field_curves(values: np.ndarray, header: OdimHeader, settings: CurvesSettings) -> tuple[np.ndarray, int]:
    """The numbers of one decoded field: rain rate, clutter screen, coarsening, functionals.

    ``values`` (the decoded image, float64) is modified in place.

    Returns
    -------
    curves : ndarray, shape (len(thresholds), 3)
        Area, perimeter, Euler characteristic per threshold.
    clutter_pixels : int
        Pixels the clutter screen set to NaN (on the file's grid).
    """
    quantity, units = header.quantity, header.units
    if settings.rain_rate:
        if quantity != "DBZH":
            raise ValueError(f"{header.path}: rain_rate converts reflectivity (DBZH); the file holds {quantity!r}")
        a, b, _ = zr_coefficients(settings.zr_a, settings.zr_b, header.zr_a, header.zr_b)
        values = zr_rain(values, a, b, undetect_value=header.undetect_value)
        units = "mm/h"
    clutter = 0
    if settings.max_rain is not None and units in ("mm/h", "mm"):
        # Screen before coarsening: one clutter pixel must not poison a block mean.
        values, mask = screen_clutter(values, settings.max_rain, out=values)
        clutter = int(np.count_nonzero(mask))
    if settings.coarsen > 1:
        values = block_mean(values, settings.coarsen)
    curves = minkowski_functionals(
        values,
        settings.thresholds,
        connectivity=settings.connectivity,
        perimeter=settings.perimeter,
        pixel_size=settings.pixel_size(header),
        nan_policy=settings.nan_policy,
    )
    return curves, clutter


def file_curves(
    path: str,
    settings: CurvesSettings,
    expected: OdimHeader | None = None,
    known_sha256: str | None = None,
    on_error: str = "raise",
) -> dict:
    """The one task of a file: read once, hash, decode, analyse; a small record back.

    Parameters
    ----------
    path : str
    settings : CurvesSettings
    expected : OdimHeader, optional
        The header read when the run was planned: a file whose time,
        product or grid differs now is an error naming it.
    known_sha256 : str, optional
        The checksum recorded for this path by an earlier run: when the
        file still has it, nothing is computed (``status "recorded"``).
    on_error : {"raise", "skip"}
        ``"skip"``: any failure (unreadable, truncated, vanished file,
        other grid or product, ...) becomes a ``status "skipped"`` record
        with the reason, instead of an exception.

    Returns
    -------
    dict
        ``path``, ``status`` (``"ok"``, ``"recorded"`` or ``"skipped"``),
        and: ``sha256``; for ``"ok"`` also ``time``, ``start_time``,
        ``end_time`` (datetime64[ns]), ``curves`` ((n, 3) float64),
        ``clutter_pixels`` (int), ``header`` (:class:`OdimHeader`); for
        ``"skipped"`` a one-line ``reason``.

    Examples
    --------
    >>> from mink_toolkit import fetch_opera
    >>> path = str(fetch_opera("20180824/T_PAAH21_C_EUOC_20180824221500.hdf"))
    >>> record = file_curves(path, CurvesSettings([0.1, 10.0], max_rain=150.0))
    >>> record["status"], record["curves"].shape, record["clutter_pixels"]
    ('ok', (2, 3), 7)
    >>> file_curves(path, CurvesSettings([1.0]), known_sha256=record["sha256"])["status"]
    'recorded'
    """
    check_choice(on_error, ON_ERROR, "on_error")
    path = os.fspath(path)
    try:
        data = _read_bytes(path)
        sha256 = hashlib.sha256(data).hexdigest()  # releases the GIL
        if known_sha256 is not None and sha256 == known_sha256:
            return {"path": path, "status": "recorded", "sha256": sha256}
        header, values = read_odim_values(path, data=data)
        del data
        header.check_unchanged(expected)
        curves, clutter = field_curves(values, header, settings)
    except Exception as exc:  # noqa: BLE001 - every failure of one file is that file's
        if on_error == "raise":
            raise
        return {"path": path, "status": "skipped", "reason": _reason(exc)}
    return {
        "path": path,
        "status": "ok",
        "sha256": sha256,
        "time": header.time,
        "start_time": header.start_time,
        "end_time": header.end_time,
        "curves": curves,
        "clutter_pixels": clutter,
        "header": header,
    }


def _reason(exc: BaseException) -> str:
    """One line naming the kind of failure and its message."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__



@dataclass
class FileRun:
    """What :func:`compute_files` collected: records by outcome, in completion order."""

    ok: list = field(default_factory=list)
    recorded: list = field(default_factory=list)
    skipped: list = field(default_factory=list)


def compute_files(
    paths: Sequence[str],
    settings: CurvesSettings,
    *,
    expected: Sequence[OdimHeader | None] | None = None,
    known_sha256: Sequence[str | None] | None = None,
    on_error: str = "raise",
    scheduler="threads",
    num_workers: int | None = None,
    progress: bool = False,
    on_record: Callable[[dict], None] | None = None,
    timeout: float | None = None,
) -> FileRun:
    """Run :func:`file_curves` for every path on a dask scheduler: one task per file.

    Parameters
    ----------
    paths : sequence of str
    settings : CurvesSettings
    expected, known_sha256 : sequences aligned with ``paths``, optional
        Passed to :func:`file_curves`.
    on_error : {"raise", "skip"}
        ``"skip"``: failing files -- on a cluster also a file whose worker
        died every time it ran it -- become ``"skipped"`` records.
    scheduler, num_workers, progress, timeout :
        As :func:`~mink_toolkit.curves.scheduling.compute_streaming`
        (``timeout`` bounds each of its calls on a cluster).
    on_record : callable, optional
        Called with every record as it arrives (in the calling thread),
        e.g. to commit results to a store.

    Returns
    -------
    FileRun

    Examples
    --------
    >>> from mink_toolkit import fetch_opera, opera_files
    >>> paths = [str(fetch_opera(n)) for n in opera_files("nimbus_rate")[:2]]
    >>> run = compute_files([*paths, "/no/such/file.hdf"], CurvesSettings([1.0]), on_error="skip")
    >>> len(run.ok), run.skipped[0]["reason"].split(":")[0]
    (2, 'FileNotFoundError')
    """
    import dask

    check_choice(on_error, ON_ERROR, "on_error")
    paths = [os.fspath(p) for p in paths]
    expected = list(expected) if expected is not None else [None] * len(paths)
    known = list(known_sha256) if known_sha256 is not None else [None] * len(paths)
    # Not pure: a file is read anew by every run (it may have changed), never
    # taken from a result a cluster still holds under the same key.
    task = dask.delayed(file_curves, pure=False)
    tasks = [task(p, settings, e, k, on_error) for p, e, k in zip(paths, expected, known)]
    run = FileRun()

    def deliver(record: dict) -> None:
        getattr(run, record["status"]).append(record)
        if on_record is not None:
            on_record(record)

    killed: list[int] = []

    def failed(i: int, exc: BaseException) -> None:
        if type(exc).__name__ == "KilledWorker":
            killed.append(i)  # maybe the culprit, maybe a file queued on the same dying workers
        else:
            deliver({"path": paths[i], "status": "skipped", "reason": _reason(exc)})

    compute_streaming(
        tasks, scheduler, num_workers,
        on_result=lambda i, record: deliver(record),
        on_failure=failed if on_error == "skip" else None,
        progress=progress,
        timeout=timeout,
    )
    # A scheduler blames every task that was running *or queued* on a worker
    # when it died; after enough deaths an innocent file fails with the culprit.
    # Each such file gets one more chance alone, so only a file that kills a
    # worker by itself is recorded as skipped.
    for i in killed:
        alone = dask.delayed(file_curves, pure=False)(paths[i], settings, expected[i], known[i], on_error)

        def last_chance(_, exc, i=i):
            reason = _reason(exc)
            if type(exc).__name__ == "KilledWorker":
                reason = f"a worker died while reading or analysing it, also when run alone ({reason})"
            deliver({"path": paths[i], "status": "skipped", "reason": reason})

        compute_streaming([alone], scheduler, num_workers, on_result=lambda _, record: deliver(record),
                          on_failure=last_chance, timeout=timeout)
    return run


def curves_dataset(records: Sequence[dict], settings: CurvesSettings, reference: OdimHeader):
    """The curves of ``"ok"`` records as one Dataset on ``(time, threshold)``, sorted by time.

    Same variables, coordinates and attributes as :func:`minkowski_curves`
    of the files' series, plus per-time ``path``, ``filename``, ``sha256``
    and ``clutter_pixels``.

    Parameters
    ----------
    records : sequence of dict
        ``"ok"`` records of :func:`file_curves` (any order).
    settings : CurvesSettings
    reference : OdimHeader
        A header of the series (grid spacing, quantity and units).

    Returns
    -------
    xarray.Dataset
    """
    import xarray as xr

    records = sorted(records, key=lambda r: (r["time"], r["path"]))
    n_times, n = len(records), len(settings.thresholds)
    quantity, units = ("RATE", "mm/h") if settings.rain_rate else (reference.quantity, reference.units)
    pixel_size = settings.pixel_size(reference)
    # The layout and attributes of minkowski_functionals' own xarray result
    # (one definition): computed here on a (time, 1, 1) stand-in, then filled in.
    stand_in = xr.DataArray(np.zeros((n_times, 1, 1)), dims=("time", "y", "x"),
                            attrs={"units": units, "quantity": quantity})
    template = minkowski_functionals(stand_in, settings.thresholds, connectivity=settings.connectivity,
                                     perimeter=settings.perimeter, pixel_size=pixel_size,
                                     nan_policy=settings.nan_policy)
    curves = np.stack([r["curves"] for r in records]) if records else np.zeros((0, n, 3))
    ds = template.copy()
    for i, name in enumerate(FUNCTIONAL_NAMES):
        ds[name] = template[name].copy(data=curves[..., i])
    if settings.length_unit == "km":
        ds["area"].attrs["units"] = "km2"
        ds["perimeter"].attrs["units"] = "km"

    def column(key, dtype=None):
        return np.array([r[key] for r in records], dtype=dtype)

    ds = ds.assign_coords(
        time=("time", column("time", "datetime64[ns]"), {"long_name": "nominal time (UTC)"}),
        start_time=("time", column("start_time", "datetime64[ns]")),
        end_time=("time", column("end_time", "datetime64[ns]")),
        filename=("time", np.array([os.path.basename(r["path"]) for r in records], dtype=str)),
        path=("time", column("path", str)),
        sha256=("time", column("sha256", str), {"long_name": "SHA-256 of the source file"}),
        clutter_pixels=("time", column("clutter_pixels", np.int64),
                        {"long_name": f"pixels above max_rain = {settings.max_rain} set to NaN"}),
    )
    return ds
