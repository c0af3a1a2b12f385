"""The archive time slider (notebook 05), driven without a browser."""

from __future__ import annotations

import pytest
from _odim_files import THRESHOLDS

from mink_toolkit import minkowski_curves, open_opera
from mink_toolkit.notebook.widgets import archive_time_explorer, curves_at_time


def test_time_slider_logic_without_a_browser(synthetic):
    series = open_opera(synthetic)
    curves = minkowski_curves(series, THRESHOLDS, scheduler="synchronous")
    row = curves_at_time(curves, 2, 1.0)
    assert row["time"] == "2018-08-24T18:30"
    assert row["area"] == curves["area"].values[2, 2]
    assert row["euler_characteristic"] == curves["euler_characteristic"].values[2, 2]
    assert curves_at_time(curves, -1, 10.0)["time"] == "2018-08-24T18:45"
    # plain text for print() (notebook 05), the same line as HTML for the widget
    assert "<" not in row["text"] and row["text"].startswith("2018-08-24T18:30 UTC, u = 1")
    assert row["summary"] == f"<b>{row['text'].split(': ', 1)[0]}</b>: {row['text'].split(': ', 1)[1]}"
    with pytest.raises(ValueError, match="threshold"):
        curves_at_time(curves, 0, 2.0)
    with pytest.raises(ValueError, match="time_index"):
        curves_at_time(curves, 4, 1.0)

    box = archive_time_explorer(series, curves, threshold=1.0, draw=False)
    assert box.slider.max == 3 and box.label.value == "2018-08-24T18:00 UTC"
    box.slider.value = 3
    expected = curves_at_time(curves, 3, 1.0)
    assert box.label.value == "2018-08-24T18:45 UTC"
    assert box.summary.value == expected["summary"]
    assert f"area {expected['area']:.0f}" in box.summary.value
    box.threshold.value = 5.0
    assert box.summary.value == curves_at_time(curves, 3, 5.0)["summary"]
    with pytest.raises(ValueError, match="same times"):
        archive_time_explorer(series.isel(time=slice(0, 2)), curves, draw=False)


def test_time_slider_draws_field_set_and_curves(synthetic, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")  # this test process only
    import matplotlib.pyplot as plt

    series = open_opera(synthetic)
    curves = minkowski_curves(series, THRESHOLDS, scheduler="synchronous", pixel_size=2.0, length_unit="km")
    drawn = []
    monkeypatch.setattr(plt, "show", lambda *a, **k: drawn.append(plt.gcf()))
    box = archive_time_explorer(series, curves, threshold=1.0)
    box.slider.value = 2
    fig = drawn[-1]
    titles = [ax.get_title() for ax in fig.get_axes()]
    assert "rain rate, 2018-08-24 18:30 UTC" in titles
    assert "excursion set {rain ≥ 1 mm/h}" in titles
    assert {"area", "perimeter", "Euler characteristic χ"} <= set(titles)
    area_ax = next(ax for ax in fig.get_axes() if ax.get_title() == "area")
    assert area_ax.get_ylabel() == "km²"
    plt.close("all")
