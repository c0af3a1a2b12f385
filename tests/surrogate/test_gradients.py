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


class _Scaled(torch.nn.Module):
    """A model whose compressed functionals are ``factor`` times another's: the loss gradient scales by ``factor``.

    The gradient measures see the distance in the compressed space, where it is an absolute difference;
    with the target scaled the same way the whole gradient map is multiplied by ``factor``.
    """

    def __init__(self, model, factor):
        super().__init__()
        self.model, self.factor, self.thresholds = model, factor, model.thresholds

    def forward(self, x):
        from mink_toolkit.functionals import compress_functionals, expand_functionals

        return expand_functionals(self.factor * compress_functionals(self.model(x)))


def test_scale_free_measures_do_not_change_with_the_gradient_size():
    """Only gradient_lipschitz and rms grow with the gradient; gradient_lipschitz_relative does not."""
    from mink_toolkit.functionals import compress_functionals, expand_functionals
    from mink_toolkit.surrogate import SCALE_DEPENDENT_MEASURES, SCALE_FREE_MEASURES, gradient_smoothness

    patches = synthetic_patches(3, 16, 5)
    torch.manual_seed(0)
    model = MinkowskiSurrogate(THRESHOLDS, width=4, depth=2, levels=2).eval()
    factor = 4.0
    base = gradient_smoothness(model, patches.rain, patches.functionals, samples=2)
    target = expand_functionals(factor * compress_functionals(patches.functionals))
    scaled = gradient_smoothness(_Scaled(model, factor), patches.rain, target, samples=2)
    assert set(base) == set(SCALE_FREE_MEASURES) | set(SCALE_DEPENDENT_MEASURES)
    for key in SCALE_DEPENDENT_MEASURES:
        assert scaled[key] == pytest.approx(factor * base[key], rel=1e-3), key
    for key in SCALE_FREE_MEASURES:
        assert scaled[key] == pytest.approx(base[key], rel=1e-3), key
    assert 0 < base["gradient_lipschitz_relative"] < np.inf
