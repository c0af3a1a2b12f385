"""Notebook 04's super-resolution browser, driven without a browser."""

import matplotlib

matplotlib.use("Agg")  # this test process only; notebook kernels keep their inline backend

import numpy as np
import pytest

from mink_toolkit import verification
from mink_toolkit.resample import block_mean
from mink_toolkit.superres import upsample
from mink_toolkit.notebook.widgets import superres_browser, superres_case_summary


@pytest.fixture
def cases():
    rng = np.random.default_rng(5)
    truth = rng.gamma(0.4, 3.0, size=(3, 32, 32))
    coarse = block_mean(truth, 8)
    predictions = {
        "nearest": upsample(coarse, 8, "nearest"),
        "bicubic": upsample(coarse, 8, "bicubic"),
        "perfect": truth.copy(),
    }
    return coarse, predictions, truth


def test_case_summary_matches_metrics(cases):
    coarse, predictions, truth = cases
    s = superres_case_summary(predictions, truth, 2, "nearest")
    p, t = predictions["nearest"][2], truth[2]
    assert s["mae"] == pytest.approx(np.abs(p - t).mean())
    assert s["fss_9px"] == pytest.approx(verification.fractions_skill_score(p, t, 1.0, 9))
    assert s["max_pred"] == pytest.approx(p.max()) and s["max_true"] == pytest.approx(t.max())
    # block means never exceed the block maximum: the nearest baseline cannot reach the truth's peak
    assert s["max_pred"] < s["max_true"]
    # the truth scored against itself is perfect; a smooth baseline loses high-wavenumber power
    perfect = superres_case_summary(predictions, truth, 2, "perfect")
    assert perfect["mae"] == 0 and perfect["fss_1px"] == 1 and perfect["rapsd_high_ratio"] == pytest.approx(1.0)
    assert superres_case_summary(predictions, truth, 2, "bicubic")["rapsd_high_ratio"] < 0.5


def test_case_summary_bad_input(cases):
    _, predictions, truth = cases
    with pytest.raises(ValueError, match="model must be one of"):
        superres_case_summary(predictions, truth, 0, "gan")
    with pytest.raises(ValueError, match="case must be in"):
        superres_case_summary(predictions, truth, 3, "nearest")


def test_browser_follows_case_and_models(cases):
    coarse, predictions, truth = cases
    box = superres_browser(coarse, predictions, truth, draw=False)
    assert box.case.max == 2 and box.models.options == ("nearest", "bicubic", "perfect")
    assert box.member.disabled  # no ensembles
    box.models.value = ("nearest", "bicubic", "perfect")
    assert box.summary.value.count("<tr>") == 1 + 3  # header + the three shown models
    before = box.summary.value
    box.case.value = 1
    expected = superres_case_summary(predictions, truth, 1, "nearest")
    assert box.summary.value != before and f"{expected['mae']:.3f}" in box.summary.value
    box.models.value = ("perfect",)
    assert box.summary.value.count("<tr>") == 2
    assert "<td>perfect</td><td>0.000</td><td>1.000</td><td>1.000</td>" in box.summary.value


def test_browser_shows_ensemble_members_next_to_deterministic_models(cases):
    coarse, predictions, truth = cases
    rng = np.random.default_rng(0)
    members = truth[None] * rng.uniform(0.5, 1.5, size=(4, *truth.shape))
    members[2] = truth  # one member is the truth itself
    box = superres_browser(coarse, predictions, truth, ensembles={"generator": members}, draw=False)
    assert not box.member.disabled and box.member.max == 3
    assert box.models.options == ("nearest", "bicubic", "perfect", "generator")
    box.models.value = ("bicubic", "generator")
    box.case.value = 1
    rows = box.summary.value
    assert "<td>generator (member 0)</td>" in rows and "<td>bicubic</td>" in rows
    expected = superres_case_summary({"g": members[0]}, truth, 1, "g")
    assert f"<td>generator (member 0)</td><td>{expected['mae']:.3f}</td>" in rows
    box.member.value = 2  # the member equal to the truth scores perfectly
    assert "<td>generator (member 2)</td><td>0.000</td><td>1.000</td><td>1.000</td>" in box.summary.value
    with pytest.raises(ValueError, match="ensembles"):
        superres_browser(coarse, predictions, truth, ensembles={"bad": members[:, :2]}, draw=False)


def test_browser_draws_panels_on_one_km_frame(cases, monkeypatch):
    import matplotlib.pyplot as plt

    shown = []
    # Output widgets only capture inside a kernel: record the figures handed to plt.show instead.
    monkeypatch.setattr(plt, "show", lambda *a, **k: shown.append(plt.gcf()))
    coarse, predictions, truth = cases
    members = np.stack([truth, truth])
    box = superres_browser(coarse, predictions, truth, ensembles={"generator": members}, draw=True)
    box.models.value = ("bicubic", "generator")
    axes = [ax for ax in shown[-1].axes if ax.get_title()]
    assert [ax.get_title() for ax in axes] == ["coarse input", "bicubic", "generator (member 0)", "truth"]
    # the coarse input (4 x 4 pixels of 16 km) and the fine panels (32 x 32 of 2 km) share one frame in km
    for ax in axes:
        assert ax.images[0].get_extent() == [0.0, 64.0, 64.0, 0.0]
        assert ax.get_xlabel() == "x (km)"
    assert shown[-1].axes[-1].get_ylabel() == "rain (mm/h)"  # the colour bar carries the units
    assert len(shown) == 2  # initial draw + one per change
    plt.close("all")
