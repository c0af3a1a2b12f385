"""Figures of rain fields: one precipitation colormap, extents in km, units on every axis.

Matplotlib is imported inside the functions so the library imports without it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["PRECIP_LEVELS", "precip_cmap", "plot_rain", "plot_excursion_set", "extent_km", "display_step"]

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
        ax.figure.colorbar(image, ax=ax, label=f"rain ({units})", extend="both", shrink=0.8, format="{x:g}")
    return image


def plot_excursion_set(field, threshold: float, ax=None, *, title: str | None = None, legend: bool = True,
                       units: str = "mm/h"):
    """Show the excursion set {field >= threshold}: in the set, observed below it, no data.

    Three colours: dark blue for pixels in the set, white for observed pixels
    below the threshold, and the light grey of :func:`plot_rain` for NaN (no
    data), so that "no information" is never drawn like "below the threshold".

    Parameters
    ----------
    field : xarray.DataArray (y, x) with coordinates in metres, or 2-D array
        Rain rate (mm/h); NaN is no data.
    threshold : float
        u, in the units of ``field``.
    ax : matplotlib Axes, optional
    title : str, optional
        Default ``"{rain ≥ u mm/h}"``.
    legend : bool
        A key to the right of the axes (one entry per colour present).
    units : str
        Units of ``threshold`` in the default title.

    Returns
    -------
    matplotlib.image.AxesImage
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    ax = ax if ax is not None else plt.gca()
    data = np.asarray(field, dtype=float)
    missing = np.isnan(data)
    with np.errstate(invalid="ignore"):
        mask = np.where(missing, np.nan, (data >= threshold).astype(float))
    colours = ["white", "#08519c"]
    cmap = ListedColormap(colours, name="excursion").with_extremes(bad="0.85")
    extent = extent_km(field)
    image = ax.imshow(mask, cmap=cmap, vmin=0, vmax=1, extent=extent, interpolation="nearest")
    unit = "km, LAEA" if extent is not None else "pixels"
    ax.set_xlabel(f"x ({unit})")
    ax.set_ylabel(f"y ({unit})")
    ax.set_title(title if title is not None else f"{{rain ≥ {threshold:g} {units}}}")
    if legend:
        handles = [Patch(facecolor=colours[1], label="in the set"),
                   Patch(facecolor="white", edgecolor="0.5", label="not in the set")]
        if missing.any():
            handles.append(Patch(facecolor="0.85", label="no data"))
        ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False, handlelength=1.2)
    return image


def display_step(field, max_pixels: int = 1100) -> int:
    """The pixel stride that shows ``field`` with at most ``max_pixels`` along each side.

    A continental composite (2200 × 1900) drawn in a figure a few hundred
    pixels wide loses nothing visible when every second pixel is shown, and
    draws several times faster; a patch is shown whole (stride 1).

    Examples
    --------
    >>> import numpy as np
    >>> display_step(np.zeros((2200, 1900))), display_step(np.zeros((256, 256)))
    (2, 1)
    """
    h, w = np.shape(field)[-2:]
    return max(1, -(-max(h, w) // max_pixels))
