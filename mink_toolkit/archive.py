"""Minkowski curves of radar archives: the dask engine.

Two entry points, one per kind of input:

* :func:`minkowski_curves` -- the curves of every field of a (lazy)
  ``(time, y, x)`` DataArray, such as
  :func:`~mink_toolkit.io.series.open_opera` makes it, or any other array
  a user has built (crops, sums, rain-rate conversions, ...);
* :func:`file_curves` and :func:`compute_files` -- the path of the
  ``curves`` command line (:mod:`mink_toolkit.cli`): **one task per file**
  reads the file's bytes once, hashes them (the provenance and ``--resume``
  key), decodes, converts to rain rate, screens clutter, coarsens and
  counts, and returns only thresholds × 3 numbers. Nothing else is in the
  graph, so the scheduler's overhead per file is one task and memory per
  worker is that of the files in flight, whatever the archive's length.

Both run on a chosen dask scheduler -- threads, processes, or a
``dask.distributed`` cluster (Rocklin 2015, "Dask: parallel computation
with blocked algorithms and task scheduling", Proc. SciPy) -- with a
progress bar and results handed over as they arrive; nothing here is a
home-made pool.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

import numpy as np

from ._validation import check_choice, check_integer, check_positive
from .thresholds import check_thresholds
from .functionals import CONNECTIVITIES, FUNCTIONAL_NAMES, NAN_POLICIES, PERIMETERS, minkowski_functionals
from .io.odim import OdimHeader, read_odim_values
from .io.opera import screen_clutter, zr_coefficients, zr_rain
from .resample import block_mean

__all__ = [
    "CONNECT_TIMEOUT_S",
    "CurvesSettings",
    "LOCAL_SCHEDULERS",
    "ON_ERROR",
    "compute_files",
    "curves_dataset",
    "file_curves",
    "minkowski_curves",
]

#: Local dask schedulers; any other string is a ``dask.distributed`` address.
LOCAL_SCHEDULERS = ("threads", "processes", "synchronous")
#: Seconds to wait for a ``dask.distributed`` scheduler before giving up.
CONNECT_TIMEOUT_S = 20
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
        Marshall--Palmer; see :func:`~mink_toolkit.io.opera.zr_coefficients`).
    max_rain : float or None
        Clutter screen (:func:`~mink_toolkit.io.opera.screen_clutter`):
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
    connectivity: int = 8
    perimeter: str = "edges"
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


# --------------------------------------------------------------------------
# Many tasks on a scheduler
# --------------------------------------------------------------------------


def _tqdm(total: int, desc: str, enabled: bool, unit: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled)


def _is_client(obj) -> bool:
    try:
        from distributed import Client
    except ImportError:  # pragma: no cover - distributed is a dependency
        return False
    return isinstance(obj, Client)


def _check_scheduler(scheduler, num_workers):
    if num_workers is not None:
        num_workers = check_integer(num_workers, "num_workers", minimum=1)
    if isinstance(scheduler, str):
        if not scheduler:
            raise ValueError("scheduler must be 'threads', 'processes', 'synchronous' or a scheduler address")
    elif not _is_client(scheduler):
        raise TypeError(f"scheduler must be a string or a distributed.Client; got {type(scheduler).__name__}")
    return num_workers


def compute_streaming(
    tasks: Sequence,
    scheduler="threads",
    num_workers: int | None = None,
    *,
    on_result: Callable[[int, object], None],
    on_failure: Callable[[int, BaseException], None] | None = None,
    progress: bool = False,
    desc: str = "Minkowski curves",
    unit: str = "file",
    retries: int = 0,
) -> None:
    """Compute ``dask.delayed`` tasks, handing each result over as soon as it arrives.

    ``on_result(i, result)`` runs in the calling thread (the place to write
    results out), in completion order, while the workers go on with the
    other tasks.

    Parameters
    ----------
    tasks : sequence of dask.delayed.Delayed
    scheduler : {"threads", "processes", "synchronous"}, str or distributed.Client
        A local dask scheduler, a ``dask.distributed`` scheduler's address
        or a connected ``Client``.
    num_workers : int, optional
        Threads or processes of a local scheduler (default: dask's, the
        number of cores).
    on_result : callable (int, object)
    on_failure : callable (int, BaseException), optional
        On a ``dask.distributed`` cluster: called for a task that failed --
        a worker that died while running it (``KilledWorker``, after the
        scheduler's own retries on other workers) included -- instead of
        raising; the other tasks go on. Without it the first failure
        cancels the rest and is raised.
    progress : bool
        A tqdm progress bar, one step per task.
    retries : int
        ``dask.distributed`` only: re-run a task that raised, this many
        times (for flaky file systems).
    """
    import dask

    num_workers = _check_scheduler(scheduler, num_workers)
    retries = check_integer(retries, "retries", minimum=0)
    tasks = list(tasks)
    if not tasks:
        return
    if isinstance(scheduler, str) and scheduler in LOCAL_SCHEDULERS:
        from dask.callbacks import Callback

        index = {task.key: i for i, task in enumerate(tasks)}

        class _Deliver(Callback):
            # dask.local calls _posttask in the scheduling thread after each
            # task: hand over the tasks asked for, and count them.
            def _posttask(self, key, result, dsk, state, worker_id):
                if key in index:
                    on_result(index[key], result)
                    bar.update(1)

        kwargs = {"scheduler": scheduler}
        if num_workers is not None and scheduler != "synchronous":
            kwargs["num_workers"] = num_workers
        with _tqdm(len(tasks), desc, progress, unit) as bar, _Deliver():
            # optimize_graph=False: each task already is one call; nothing to fuse.
            dask.compute(*tasks, optimize_graph=False, **kwargs)
        return

    from distributed import Client, as_completed

    own_client = not isinstance(scheduler, Client)
    client = Client(scheduler, timeout=CONNECT_TIMEOUT_S, set_as_default=False) if own_client else scheduler
    try:
        futures = client.compute(tasks, retries=retries, optimize_graph=False)
        index = {future.key: i for i, future in enumerate(futures)}
        with _tqdm(len(tasks), desc, progress, unit) as bar:
            try:
                for future in as_completed(futures):
                    i = index[future.key]
                    if future.status == "error":
                        exc = future.exception()
                        if on_failure is None:
                            raise exc
                        on_failure(i, exc)
                    else:
                        on_result(i, future.result())
                    future.release()  # the result is handed over: free it on the cluster
                    bar.update(1)
            except BaseException:
                client.cancel(futures)
                raise
    finally:
        if own_client:
            client.close()


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
    scheduler, num_workers, progress :
        As :func:`compute_streaming`.
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
                          on_failure=last_chance)
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


# --------------------------------------------------------------------------
# A lazy DataArray
# --------------------------------------------------------------------------


def _block_curves(block: np.ndarray, thresholds, kwargs: dict, max_rain) -> np.ndarray:
    """Task body of :func:`minkowski_curves`: (t, y, x) -> (t, n * 3 + 1), the last column the clutter count."""
    counts = np.zeros(block.shape[0])
    if max_rain is not None:
        mask = block > max_rain  # NaN compares False
        if mask.any():  # copy only when there is clutter: the block may be shared in the graph
            block, mask = screen_clutter(block, max_rain)
        counts = mask.sum(axis=(-2, -1)).astype(np.float64)
    curves = minkowski_functionals(block, thresholds, **kwargs)  # (t, n, 3)
    return np.concatenate([curves.reshape(block.shape[0], -1), counts[:, None]], axis=1)


def minkowski_curves(
    series,
    thresholds,
    *,
    connectivity: int = 8,
    perimeter: str = "edges",
    nan_policy: str = "window",
    pixel_size: float = 1.0,
    length_unit: str | None = None,
    max_rain: float | None = None,
    scheduler="threads",
    num_workers: int | None = None,
    progress: bool = False,
):
    """Minkowski curves of every field of a (lazy) series, computed with dask.

    One task per chunk along ``time`` (one per file for
    :func:`~mink_toolkit.io.series.open_opera`): it computes the field (the
    read and whatever lazy operations produced it, fused into it) and its
    curves, and only thresholds × 3 numbers come back.

    Parameters
    ----------
    series : xarray.DataArray (time, y, x)
        Typically :func:`~mink_toolkit.io.series.open_opera` (dask-backed,
        one chunk per file); a numpy-backed array is chunked one field per
        chunk. Chunks along ``y``/``x`` are merged (a field is one block).
    thresholds : 1-D array_like, strictly increasing
        In the units of ``series`` (mm/h for rain rate).
    connectivity, perimeter, pixel_size :
        As :func:`~mink_toolkit.functionals.minkowski_functionals`.
    nan_policy : {"window", "background", "raise"}
        Default ``"window"``: OPERA composites are NaN outside radar
        coverage, and treating that as dry ("background") adds false
        boundary length along the coverage edge.
    length_unit : str, optional
        Unit in which ``pixel_size`` is given (``"km"`` with
        ``pixel_size=2.0`` on the 2 km grid); written to the ``units``
        attributes (area ``km2``, perimeter ``km``).
    max_rain : float, optional
        Clutter screen (:func:`~mink_toolkit.io.opera.screen_clutter`):
        values above it become NaN before counting; their number per time
        is the coordinate ``clutter_pixels`` and in total the attribute of
        the same name. Default None: no screen.
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
    >>> from mink_toolkit import fetch_opera, open_opera, opera_files
    >>> series = open_opera([fetch_opera(n) for n in opera_files("odyssey_rate")[:2]])
    >>> curves = minkowski_curves(series, [0.1, 1.0], scheduler="synchronous", max_rain=150.0)
    >>> dict(curves.sizes), curves["clutter_pixels"].values.tolist()
    ({'time': 2, 'threshold': 2}, [10, 0])
    """
    import xarray as xr

    if not isinstance(series, xr.DataArray):
        raise TypeError(f"series must be an xarray.DataArray; got {type(series).__name__}")
    if series.ndim < 3:
        raise ValueError(f"series must have dims (time, y, x); got dims {series.dims}")
    num_workers = _check_scheduler(scheduler, num_workers)
    if length_unit is not None:
        if not isinstance(length_unit, str):
            raise TypeError(f"length_unit must be a string such as 'km' or None; got {type(length_unit).__name__}")
        if not length_unit.strip():
            raise ValueError(f"length_unit must be a non-empty string such as 'km'; got {length_unit!r}")
    if max_rain is not None:
        max_rain = check_positive(max_rain, "max_rain")
    kwargs = dict(connectivity=connectivity, perimeter=perimeter, pixel_size=pixel_size, nan_policy=nan_policy)
    if series.chunks is None:
        series = series.chunk({series.dims[0]: 1})
    # The lazy Dataset is the template of the result (coordinates, attributes;
    # the arguments are checked there); its graph is never computed.
    template = minkowski_functionals(series, thresholds, **kwargs)
    thresholds = template["threshold"].values
    n = thresholds.size
    lead = series.dims[:-2]
    data = series.data
    if len(lead) > 1:
        data = data.reshape(-1, *data.shape[-2:], merge_chunks=True)
    data = data.rechunk({1: -1, 2: -1})  # whole fields per block; a no-op for open_opera
    blocks = data.map_blocks(
        _block_curves, thresholds, kwargs, max_rain,
        dtype=np.float64, drop_axis=(1, 2), new_axis=1, chunks=(data.chunks[0], (n * 3 + 1,)),
    ).to_delayed().ravel()
    results: list = [None] * len(blocks)

    def keep(i, value):
        results[i] = value

    # The read, any lazy operations and the counts fuse into one task per block.
    blocks = list(_optimised(blocks))
    compute_streaming(blocks, scheduler, num_workers, on_result=keep, progress=progress,
                      unit="field" if all(c == 1 for c in data.chunks[0]) else "chunk")
    values = np.concatenate(results, axis=0)
    curves = values[:, : n * 3].reshape(*series.shape[:-2], n, 3)
    computed = template.copy()
    for i, name in enumerate(FUNCTIONAL_NAMES):
        computed[name] = template[name].copy(data=curves[..., i])
    if length_unit is not None:
        computed["area"].attrs["units"] = f"{length_unit}2"
        computed["perimeter"].attrs["units"] = length_unit
    if max_rain is not None:
        counts = values[:, -1].astype(np.int64).reshape(series.shape[:-2])
        computed = computed.assign_coords(clutter_pixels=(lead, counts))
        computed["clutter_pixels"].attrs["long_name"] = f"pixels above max_rain = {max_rain:g} set to NaN"
        computed.attrs.update(max_rain=max_rain, clutter_pixels=int(counts.sum()))
    return computed


def _optimised(delayed_blocks):
    """Each block's graph optimised (fused) on its own, as ``dask.compute`` would do it."""
    import dask

    return dask.optimize(*delayed_blocks)
