"""Notebook 01's threshold slider and the plotting helpers, driven without a browser."""

import matplotlib

matplotlib.use("Agg")  # this test process only; notebook kernels keep their inline backend

import numpy as np
import xarray as xr

from mink_toolkit import minkowski_functionals
from mink_toolkit.notebook.plotting import extent_km, plot_rain, precip_cmap
from mink_toolkit.notebook.widgets import excursion_set_explorer


def _field():
    rng = np.random.default_rng(3)
    data = rng.gamma(0.5, 2.0, size=(40, 50))
    data[:, :5] = np.nan
    return xr.DataArray(
        data,
        dims=("y", "x"),
        coords={
            "y": ("y", -1000.0 - 2000.0 * np.arange(40), {"units": "m"}),
            "x": ("x", 1000.0 + 2000.0 * np.arange(50), {"units": "m"}),
        },
        attrs={"units": "mm/h"},
    )


def test_slider_updates_summary_with_window_functionals():
    field = _field()
    thresholds = [0.1, 1.0, 5.0]
    explorer = excursion_set_explorer(field, thresholds, draw=False)
    expected = minkowski_functionals(field.values, thresholds, nan_policy="window")
    for k, u in enumerate(thresholds):
        explorer.slider.value = u
        area, perimeter, euler = expected[k]
        assert f"area {area:.0f} px" in explorer.summary.value
        assert f"perimeter {perimeter:.0f} px" in explorer.summary.value
        assert f"Euler characteristic {euler:.0f}" in explorer.summary.value


def test_drawing_into_output_and_plot_helpers(monkeypatch):
    import matplotlib.pyplot as plt

    field = _field()
    drawn = []
    monkeypatch.setattr(plt, "show", lambda *a, **k: drawn.append(plt.gcf()))
    explorer = excursion_set_explorer(field, [0.5, 2.0], draw=True)
    explorer.slider.value = 2.0
    fig = drawn[-1]
    rain_ax, mask_ax = fig.axes[0], fig.axes[1]  # (then the colorbar)
    assert mask_ax.get_title() == "excursion set {rain >= 2 mm/h}"
    mask = mask_ax.get_images()[0].get_array()
    # The drawn set is the one whose functionals the summary reports.
    assert int(np.nansum(mask)) == int(np.sum(field.values >= 2.0))
    assert "km" in mask_ax.get_xlabel() and "km" in rain_ax.get_xlabel()
    plt.close("all")
    left, right, bottom, top = extent_km(field)
    assert (left, right) == (0.0, 100.0) and (bottom, top) == (-80.0, 0.0)
    assert extent_km(field.assign_coords(x=np.arange(50), y=np.arange(40))) is None  # pixel indices
    cmap, norm = precip_cmap()
    assert cmap(np.nan)[:3] != cmap(norm(0.2))[:3]  # no data is not drawn like rain
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    plot_rain(field, ax)
    assert "km" in ax.get_xlabel() and "km" in ax.get_ylabel()
    plt.close(fig)
