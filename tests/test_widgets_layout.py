"""Every slider's readout shows its whole value, and notebook 04's table its full headers (no browser).

In ipywidgets' default 300 px slider a readout such as "1.005 mm/h" is squeezed to its 72 px
minimum and cut ("1.005 mm/"); the sliders are made wider and their descriptions sized to fit.
`tests/browser/test_jupyterlab.py` checks in Chromium that the readout is not cut.
"""

import matplotlib

matplotlib.use("Agg")  # this test process only

import ipywidgets
import numpy as np
import pytest

from mink_toolkit.notebook import widgets as w


def _sliders(widget):
    found = []
    if type(widget).__name__.endswith("Slider"):
        found.append(widget)
    for child in getattr(widget, "children", ()):
        found += _sliders(child)
    return found


def _assert_readable(box, expected):
    sliders = _sliders(box)
    assert len(sliders) == expected
    for slider in sliders:
        assert slider.layout.width == w.SLIDER_WIDTH, slider.description
        assert slider.style.description_width == "initial", slider.description
    return sliders


def test_slider_width_leaves_room_for_the_readout():
    # 300 px (the default) squeezes the readout; the description, track and readout need more
    assert w.SLIDER_WIDTH.endswith("px") and int(w.SLIDER_WIDTH[:-2]) >= 420


@pytest.fixture
def field():
    rng = np.random.default_rng(0)
    return rng.gamma(0.5, 2.0, size=(24, 24))


def test_excursion_and_soft_excursion_sliders(field):
    (slider,) = _assert_readable(w.excursion_set_explorer(field, draw=False), 1)
    assert "10.005 mm/h" in [label for label, _ in slider.options]  # the longest readout
    threshold, temperature = _assert_readable(w.soft_excursion_explorer(field, draw=False), 2)
    assert temperature.readout_format == ".1e"


def test_superres_browser_sliders_and_table_headers():
    rng = np.random.default_rng(1)
    truth = rng.gamma(0.4, 3.0, size=(2, 16, 16))
    coarse = truth.reshape(2, 2, 8, 2, 8).mean(axis=(2, 4))
    box = w.superres_browser(coarse, {"unet_mse": truth}, truth, ensembles={"generator": truth[None].repeat(2, 0)},
                             draw=False)
    _assert_readable(box, 2)
    table = box.summary.value
    # full headers, one per column, in a table as wide as the output
    assert table.count("<th") == len(w.SUPERRES_COLUMNS) == 6
    for header in w.SUPERRES_COLUMNS:
        assert f">{header}</th>" in table
    assert "mean absolute error" in table and "fractions skill score" in table and "FSS" not in table
    assert box.summary.layout.width == "100%"
    assert "white-space: normal" in table


def test_archive_and_surrogate_sliders(synthetic, monkeypatch):
    from _odim_files import THRESHOLDS

    import mink_toolkit.surrogate as surrogate
    from mink_toolkit import minkowski_curves, open_opera

    series = open_opera(synthetic)
    curves = minkowski_curves(series, THRESHOLDS, scheduler="synchronous")
    _assert_readable(w.archive_time_explorer(series, curves, threshold=1.0, draw=False), 1)
    monkeypatch.setattr(surrogate, "gradient_maps", lambda model, rain, target: np.ones_like(rain))
    rain = np.ones((3, 8, 8))
    box = w.surrogate_gradient_explorer({"m": None}, rain, np.zeros((3, 2, 3)), draw=False)
    _assert_readable(box, 1)
    assert isinstance(box.field, ipywidgets.IntSlider)
