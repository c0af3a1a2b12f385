"""Figures of rain fields: one precipitation colormap, extents in km, units on every axis.

Matplotlib is imported inside the functions so the library imports without it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["PRECIP_LEVELS", "precip_cmap", "plot_rain", "extent_km"]

#: Rain-rate class edges (mm/h) of the colour scale, as on operational radar maps.
PRECIP_LEVELS = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0)


def precip_cmap():
    """Discrete precipitation colormap and norm for :data:`PRECIP_LEVELS`.

    Values below the first level are transparent (dry), NaN (no data) is
    light grey, so "no information" is never confused with "no rain".

    Returns
    -------
    cmap : matplotlib.colors.ListedColormap
    norm : matplotlib.colors.BoundaryNorm
    """
    from matplotlib import colormaps
    from matplotlib.colors import BoundaryNorm, ListedColormap

    base = colormaps["viridis"].resampled(len(PRECIP_LEVELS) - 1)
    cmap = ListedColormap(base(np.arange(len(PRECIP_LEVELS) - 1)), name="precip").with_extremes(
        under=(1, 1, 1, 0), over=colormaps["magma"](0.95), bad="0.85"
    )
    return cmap, BoundaryNorm(PRECIP_LEVELS, cmap.N)


def extent_km(field) -> tuple[float, float, float, float] | None:
    """Image extent (left, right, bottom, top) in km from ``x``/``y`` pixel-centre coordinates.

    Returns ``None`` (pixel axes then) for arrays without coordinates, and
    for coordinates not in metres (``units`` attribute ``"m"``), such as the
    in-patch pixel indices of :func:`~mink_toolkit.extract_patches`.
    """
    if not hasattr(field, "coords") or "x" not in field.coords or "y" not in field.coords:
        return None
    if field["x"].attrs.get("units") != "m" or field["y"].attrs.get("units") != "m":
        return None
    x = np.asarray(field["x"], dtype=float) / 1000.0
    y = np.asarray(field["y"], dtype=float) / 1000.0
    dx = abs(x[1] - x[0]) if x.size > 1 else 1.0
    dy = abs(y[1] - y[0]) if y.size > 1 else 1.0
    return (x.min() - dx / 2, x.max() + dx / 2, y.min() - dy / 2, y.max() + dy / 2)


def plot_rain(field, ax=None, *, title: str | None = None, colorbar: bool = True, units: str | None = None):
    """Show a rain field with the precipitation colormap, axes in km.

    Parameters
    ----------
    field : xarray.DataArray (y, x) with coordinates in metres, or 2-D array
        Rain rate (mm/h) or accumulation (mm).
    ax : matplotlib Axes, optional
    title : str, optional
    colorbar : bool
        Draw a colour bar labelled with the units.
    units : str, optional
        Defaults to ``field.attrs["units"]`` or "mm/h".

    Returns
    -------
    matplotlib.image.AxesImage
    """
    import matplotlib.pyplot as plt

    ax = ax if ax is not None else plt.gca()
    cmap, norm = precip_cmap()
    extent = extent_km(field)
    units = units or getattr(field, "attrs", {}).get("units", "mm/h")
    image = ax.imshow(np.asarray(field), cmap=cmap, norm=norm, extent=extent, interpolation="nearest")
    if extent is None:
        ax.set_xlabel("x (pixels)")
        ax.set_ylabel("y (pixels)")
    else:
        ax.set_xlabel("x (km, LAEA)")
        ax.set_ylabel("y (km, LAEA)")
    if title:
        ax.set_title(title)
    if colorbar:
        ax.figure.colorbar(image, ax=ax, label=f"rain ({units})", extend="both", shrink=0.8)
    return image
