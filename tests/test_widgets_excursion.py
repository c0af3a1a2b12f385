"""Notebook 01's threshold slider and the plotting helpers, driven without a browser."""

import matplotlib

matplotlib.use("Agg")  # this test process only; notebook kernels keep their inline backend

import numpy as np
import xarray as xr

from mink_toolkit import minkowski_functionals
from mink_toolkit.notebook.plotting import display_step, extent_km, plot_excursion_set, plot_rain, precip_cmap
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
    assert mask_ax.get_title() == "excursion set {rain ≥ 2 mm/h}"
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


def test_slider_labels_show_the_exact_thresholds():
    explorer = excursion_set_explorer(_field(), draw=False)
    labels = [label for label, _ in explorer.slider.options]
    assert labels[0] == "0.105 mm/h" and labels[10] == "1.005 mm/h" and labels[-1] == "10.005 mm/h"
    assert "<b>u = 1.005 mm/h</b>" in explorer.summary.value


def test_excursion_set_plot_tells_no_data_from_below_threshold():
    import matplotlib.pyplot as plt

    field = _field()
    fig, ax = plt.subplots()
    image = plot_excursion_set(field, 1.0, ax)
    cmap = image.get_cmap()
    below, inside, missing = cmap(0.0), cmap(1.0), cmap(np.nan)
    assert len({below, inside, missing}) == 3  # three different colours
    assert ax.get_title() == "{rain ≥ 1 mm/h}" and "km" in ax.get_xlabel()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["in the set", "not in the set", "no data"]
    plt.close(fig)
    fig, ax = plt.subplots()
    plot_excursion_set(np.nan_to_num(field.values), 1.0, ax)  # no NaN: no "no data" entry, pixel axes
    assert len(ax.get_legend().get_texts()) == 2 and "pixels" in ax.get_xlabel()
    plt.close(fig)


def test_display_step_keeps_patches_whole_and_thins_composites():
    assert display_step(np.zeros((256, 256))) == 1
    assert display_step(np.zeros((3, 2200, 1900))) == 2
    assert display_step(np.zeros((4400, 3800))) == 4
