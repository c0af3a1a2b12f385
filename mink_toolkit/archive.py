"""Minkowski curves of radar archives: the dask engine.

:func:`minkowski_curves` computes the area, perimeter and Euler
characteristic at every threshold of every field of a (lazy) series, such
as :func:`~mink_toolkit.io.series.open_opera` makes it, on a chosen dask
scheduler (threads, processes, or a ``dask.distributed`` cluster) with a
progress bar. Only thresholds × 3 numbers per field are kept, so memory
stays at a few fields whatever the archive size. The command line
(``python -m mink_toolkit curves``) is :mod:`mink_toolkit.cli`.

The parallel engine is dask (Rocklin 2015, "Dask: parallel computation with
blocked algorithms and task scheduling", Proc. SciPy) and, on a cluster,
``dask.distributed``; nothing here is a home-made pool.
"""

from __future__ import annotations

import numpy as np

from ._validation import check_integer
from .functionals import FUNCTIONAL_NAMES, minkowski_functionals

__all__ = [
    "CONNECT_TIMEOUT_S",
    "LOCAL_SCHEDULERS",
    "file_checksums",
    "minkowski_curves",
]

#: Local dask schedulers; any other string is a ``dask.distributed`` address.
LOCAL_SCHEDULERS = ("threads", "processes", "synchronous")
#: Seconds to wait for a ``dask.distributed`` scheduler before giving up.
CONNECT_TIMEOUT_S = 20


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
        Typically :func:`~mink_toolkit.io.series.open_opera` (dask-backed, one chunk per file); a
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
    >>> from mink_toolkit import fetch_opera, open_opera, opera_files
    >>> series = open_opera([fetch_opera(n) for n in opera_files("odyssey_rate")[:2]])
    >>> curves = minkowski_curves(series, [0.1, 1.0], scheduler="synchronous")
    >>> dict(curves.sizes)
    {'time': 2, 'threshold': 2}
    """
    import xarray as xr

    if not isinstance(series, xr.DataArray):
        raise TypeError(f"series must be an xarray.DataArray; got {type(series).__name__}")
    if series.ndim < 3:
        raise ValueError(f"series must have dims (time, y, x); got dims {series.dims}")
    if num_workers is not None:
        num_workers = check_integer(num_workers, "num_workers", minimum=1)
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


def file_checksums(paths: list[str], scheduler="threads", num_workers: int | None = None) -> list[str]:
    """SHA-256 of each file, computed where the files are read (the workers, on a cluster).

    Examples
    --------
    >>> from mink_toolkit import fetch_opera
    >>> file_checksums([str(fetch_opera("20241126/NIMBUS/T_PAAH22_C_EUOC_20241126010000.hdf"))])[0][:12]
    '2237965497c4'
    """
    import dask

    from .io.registry import file_sha256

    tasks = [dask.delayed(file_sha256, pure=True)(p, dask_key_name=f"sha256-{dask.base.tokenize(p)}") for p in paths]
    return _compute_tasks(tasks, scheduler, num_workers)


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
