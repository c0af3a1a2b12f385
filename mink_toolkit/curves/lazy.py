"""Minkowski curves of every field of a (lazy) array, computed with dask.

:func:`minkowski_curves` takes a ``(time, y, x)`` DataArray such as
:func:`~mink_toolkit.io.series.open_opera` makes it, or any other array a
user has built (crops, sums, rain-rate conversions, ...): one task per
chunk along ``time`` computes the field and its curves, and only
thresholds × 3 numbers come back. The files of an archive, one task per
file and with provenance, are :mod:`mink_toolkit.curves.engine`'s.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_positive
from ..functionals import DEFAULT_CONNECTIVITY, DEFAULT_PERIMETER, FUNCTIONAL_NAMES, minkowski_functionals
from ..preprocess import screen_clutter
from .scheduling import _check_scheduler, compute_streaming

__all__ = ["minkowski_curves"]


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
    connectivity: int = DEFAULT_CONNECTIVITY,
    perimeter: str = DEFAULT_PERIMETER,
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
        Clutter screen (:func:`~mink_toolkit.preprocess.screen_clutter`):
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
