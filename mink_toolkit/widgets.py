"""ipywidgets controls for the tutorials.

Each builder returns a widget whose state can be driven and read without a
browser (set ``slider.value``, read the other traits), which is how the tests
check them. Figures are drawn into an ``ipywidgets.Output``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["excursion_set_explorer"]


# ---------------------------------------------------------------- notebook 01: excursion sets


def excursion_set_explorer(field, thresholds=None, *, connectivity: int = 8, draw: bool = True):
    """Threshold slider showing the excursion set {field >= u} and its functionals.

    Parameters
    ----------
    field : xarray.DataArray (y, x) or 2-D array
        Rain rate in mm/h; NaN (no coverage) is handled with the ``"window"``
        policy, so the coverage edge adds no boundary length.
    thresholds : 1-D array_like, optional
        Slider positions (mm/h); default 21 log-spaced values 0.1–10 mm/h.
    connectivity : {8, 4}
    draw : bool
        Draw the figure on every change (False in tests: state only).

    Returns
    -------
    ipywidgets.VBox
        With attributes ``slider`` (SelectionSlider of thresholds),
        ``summary`` (HTML with area, perimeter, χ at the current threshold)
        and ``output`` (the figure).
    """
    import ipywidgets as widgets

    from .functionals import minkowski_functionals

    thresholds = np.geomspace(0.1, 10.0, 21) if thresholds is None else np.asarray(thresholds, float)
    values = minkowski_functionals(field, thresholds, connectivity=connectivity, nan_policy="window")
    if not isinstance(values, np.ndarray):  # xarray Dataset
        values = np.stack([values[n].values for n in ("area", "perimeter", "euler_characteristic")], -1)
    options = [(f"{u:.3g} mm/h", float(u)) for u in thresholds]
    slider = widgets.SelectionSlider(options=options, value=float(thresholds[len(thresholds) // 2]),
                                     description="threshold", continuous_update=False)
    summary = widgets.HTML()
    output = widgets.Output()

    def update(change=None):
        k = int(np.searchsorted(thresholds, slider.value))
        area, length, euler = values[k]
        summary.value = (
            f"<b>u = {slider.value:.3g} mm/h</b>: area {area:.0f} px, "
            f"perimeter {length:.0f} px edges, Euler characteristic {euler:.0f}"
        )
        if draw:
            _draw_excursion(field, slider.value, output)

    slider.observe(update, names="value")
    update()
    box = widgets.VBox([slider, summary, output])
    box.slider, box.summary, box.output = slider, summary, output
    return box


def _draw_excursion(field, threshold, output):
    import matplotlib.pyplot as plt

    from .plotting import extent_km, plot_rain

    output.clear_output(wait=True)
    with output:
        fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), constrained_layout=True)
        plot_rain(field, axes[0], title="rain rate")
        data = np.asarray(field, dtype=float)
        with np.errstate(invalid="ignore"):
            mask = np.where(np.isnan(data), np.nan, (data >= threshold).astype(float))
        extent = extent_km(field)
        axes[1].imshow(mask, cmap="Blues", vmin=0, vmax=1.2, extent=extent, interpolation="nearest")
        axes[1].set_title(f"excursion set {{rain >= {threshold:.3g} mm/h}}")
        unit = "km, LAEA" if extent is not None else "pixels"
        axes[1].set_xlabel(f"x ({unit})")
        axes[1].set_ylabel(f"y ({unit})")
        plt.show()
