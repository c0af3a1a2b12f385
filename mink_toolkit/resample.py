"""Block means onto coarser grids, ignoring NaN: the toolkit's one coarsener.

* :func:`block_mean` -- the numpy core, on ``(..., H, W)`` arrays: every
  ``factor × factor`` block becomes the mean of its observed (non-NaN)
  pixels. Used to put the 1 km CIRRUS product on the 2 km grid and to make
  the coarse input of super-resolution.
* :func:`coarsen_nanmean` -- the same on an :class:`xarray.DataArray`
  (lazy for dask-backed input), with block-centre coordinates.

The mean of the observed pixels conserves rain mass: ``mean × observed
count`` summed over the blocks equals the sum of the observed fine pixels.
A block with no observed pixel is NaN ("no information", never "dry").
"""

from __future__ import annotations

import numpy as np

from ._validation import check_array_field, check_integer

__all__ = ["block_mean", "coarsen_nanmean"]


def block_mean(field, factor: int, *, min_observed: int = 1) -> np.ndarray:
    """NaN-aware block mean of the last two axes.

    Parameters
    ----------
    field : array_like, shape (..., H, W)
        Real values (rain rate in mm/h, say); NaN = not observed. Bool and
        integer input is averaged as float64.
    factor : int >= 1
        Block side in pixels; must divide ``H`` and ``W``.
    min_observed : int, 1 … factor**2, default 1
        Observed pixels a block needs to get a value; fewer give NaN.

    Returns
    -------
    ndarray, shape (..., H // factor, W // factor), float64
        Each block's mean over its observed pixels.

    Raises
    ------
    TypeError
        ``field`` not real numbers; ``factor``/``min_observed`` not integers.
    ValueError
        ``field`` with fewer than 2 dims or empty; ``factor`` < 1 or not
        dividing ``(H, W)``; ``min_observed`` outside 1 … factor².

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[1.0, 3.0, 0.0, 0.0], [np.nan, 2.0, 0.0, 4.0]])
    >>> block_mean(x, 2)
    array([[2., 1.]])
    >>> block_mean(x, 2, min_observed=4)
    array([[nan,  1.]])
    """
    factor = check_integer(factor, "factor", minimum=1)
    min_observed = check_integer(min_observed, "min_observed", minimum=1, maximum=factor * factor)
    arr = check_array_field(field, "field", allow_nan=True).astype(np.float64, copy=False)
    h, w = arr.shape[-2:]
    if h % factor or w % factor:
        raise ValueError(f"field's (H, W) = {(h, w)} must be multiples of factor={factor}")
    blocks = arr.reshape(*arr.shape[:-2], h // factor, factor, w // factor, factor)
    observed = (~np.isnan(blocks)).sum(axis=(-3, -1))
    total = np.nansum(blocks, axis=(-3, -1))
    # Divide only where the block has enough observed pixels: NaN elsewhere, without a 0/0 warning.
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(observed >= min_observed, total / np.maximum(observed, 1), np.nan)


def coarsen_nanmean(field, factor: int, *, min_observed: int = 1):
    """NaN-aware block mean of a DataArray onto a grid ``factor`` times coarser.

    :func:`block_mean` applied to the last two dims (lazily, chunk by chunk,
    for dask-backed input such as :func:`~mink_toolkit.io.series.open_opera`).
    Puts the 1 km CIRRUS product on the 2 km grid of the rain-rate products
    (OPERA README, decoding step 12). Average rain *rates*, not dBZ: convert
    with :func:`~mink_toolkit.preprocess.to_rainrate` first, since the mean of
    dBZ is not the dBZ of the mean rain.

    Parameters
    ----------
    field : xarray.DataArray (..., y, x)
        Lazy or in memory; coordinates of the last two dims, if any, are
        pixel centres.
    factor : int >= 1
        Must divide both grid sizes.
    min_observed : int, 1 … factor**2
        Observed pixels a block needs to get a value.

    Returns
    -------
    xarray.DataArray (..., y/factor, x/factor), float64
        Coordinates are the block centres (means of the pixel centres);
        attrs kept plus ``coarsened_by``. ``factor=1`` returns ``field``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> f = xr.DataArray([[1.0, 3.0], [np.nan, 2.0]], dims=("y", "x"),
    ...                  coords={"y": [-500.0, -1500.0], "x": [500.0, 1500.0]})
    >>> coarse = coarsen_nanmean(f, 2)
    >>> coarse.values.tolist(), coarse.x.values.tolist(), coarse.y.values.tolist()
    ([[2.0]], [1000.0], [-1000.0])
    """
    import xarray as xr

    if not isinstance(field, xr.DataArray):
        raise TypeError(f"field must be an xarray.DataArray; got {type(field).__name__}")
    factor = check_integer(factor, "factor", minimum=1)
    min_observed = check_integer(min_observed, "min_observed", minimum=1, maximum=factor * factor)
    if field.ndim < 2:
        raise ValueError(f"field must have at least 2 dims (..., y, x); got dims {field.dims}")
    ydim, xdim = field.dims[-2:]
    for dim in (ydim, xdim):
        if field.sizes[dim] % factor:
            raise ValueError(f"factor {factor} does not divide the size of {dim!r} ({field.sizes[dim]})")
    if factor == 1:
        return field
    sizes = {ydim: field.sizes[ydim] // factor, xdim: field.sizes[xdim] // factor}
    mean = xr.apply_ufunc(
        block_mean,
        field,
        kwargs={"factor": factor, "min_observed": min_observed},
        input_core_dims=[[ydim, xdim]],
        output_core_dims=[[ydim, xdim]],
        exclude_dims={ydim, xdim},
        dask="parallelized",
        output_dtypes=[np.float64],
        # A block must lie in one chunk: whole (y, x) planes per chunk, as open_opera makes them.
        dask_gufunc_kwargs={"output_sizes": sizes, "allow_rechunk": True},
        keep_attrs=False,
    )
    for dim in (ydim, xdim):
        if dim in field.coords:
            coord = field[dim]
            centres = np.asarray(coord.values, dtype=np.float64).reshape(-1, factor).mean(axis=1)
            mean = mean.assign_coords({dim: (dim, centres, dict(coord.attrs))})
    mean.attrs = {**field.attrs, "coarsened_by": int(factor)}
    mean.name = field.name
    return mean
