"""Tests of mink_toolkit.surrogate.gradients: gradient maps of the surrogate term, in the explorer widget."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mink_toolkit.surrogate import MinkowskiSurrogate
from ._helpers import THRESHOLDS, synthetic_patches


def test_gradient_explorer_widget_updates_without_a_browser():
    from mink_toolkit.notebook.widgets import surrogate_gradient_explorer
    from mink_toolkit.surrogate import gradient_maps, with_lipschitz_cap

    train = synthetic_patches(2, 12, 3)
    torch.manual_seed(0)
    model = MinkowskiSurrogate(THRESHOLDS, width=4, depth=2, levels=2)
    models = {"L=16": model, "L=1": with_lipschitz_cap(model, 1.0)}
    widget = surrogate_gradient_explorer(models, train.rain, train.functionals, draw=False)
    expected = gradient_maps(models["L=1"], train.rain[1:2], train.functionals[1:2])[0]
    rms = float(np.sqrt(np.mean(expected**2)))
    before = widget.summary.value
    widget.model.value = "L=1"
    widget.field.value = 1
    assert widget.summary.value != before and widget.summary.value.startswith("L=1, field 1")
    assert f"RMS {rms:.3g} per mm/h" in widget.summary.value
    with pytest.raises(ValueError, match="lipschitz_cap=None"):
        with_lipschitz_cap(MinkowskiSurrogate(THRESHOLDS, lipschitz_cap=None), 2.0)
    with pytest.raises(ValueError, match="match"):
        surrogate_gradient_explorer(models, train.rain, train.functionals[:1])
