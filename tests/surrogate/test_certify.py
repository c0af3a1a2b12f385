"""Tests of mink_toolkit.surrogate.certify: the certificate bounds every Jacobian and attack."""

from __future__ import annotations

import numpy as np
import pytest
import torch


from mink_toolkit.surrogate import (
    DEFAULT_LIPSCHITZ_CAP,
    MinkowskiSurrogate,
    empirical_lipschitz,
    lipschitz_upper_bound,
    normalise_rain,
)
from mink_toolkit.surrogate.certify import attack_starts
from mink_toolkit.surrogate.constraints import head_lipschitz_constant
from ._helpers import THRESHOLDS, jacobian_norm, small_conventional


@pytest.mark.parametrize("lipschitz_cap, constrained", [(8.0, True), (8.0, False), (None, True), (None, False)])
def test_certificate_bounds_the_final_outputs_and_no_attack_exceeds_it(lipschitz_cap, constrained):
    """The bound covers the whole output (constrained head included): Jacobians and attacks stay below it."""
    torch.manual_seed(3)
    model = MinkowskiSurrogate(THRESHOLDS, width=8, depth=2, levels=4, lipschitz_cap=lipschitz_cap,
                               constrained=constrained, pixel_size=2.0).double()
    with torch.no_grad():
        model.log_slope.fill_(np.log(40.0))  # steep steps: the ratio is large near thresholds
    shape = (5, 6)
    bound = lipschitz_upper_bound(model, shape)
    features = lipschitz_upper_bound(model, shape, of="features")
    assert bound > features
    z = normalise_rain(torch.rand(2, 1, *shape, dtype=torch.float64) * 4.0)
    for zi in z:
        assert jacobian_norm(model.normalised_outputs, zi[0]) <= bound
        assert jacobian_norm(model.features, zi[0]) <= features
    starts = {"data": z, **attack_starts(model, shape, n_constant=3, n_random=2)}
    attack = empirical_lipschitz(model, starts, steps=15, dtype=torch.float64)
    assert 0 < attack["lipschitz"] <= bound
    assert set(attack["by_start"]) == {"data", "constant", "random"}
    assert attack["lipschitz"] == max(attack["by_start"].values())


def test_moving_one_pixel_moves_the_outputs_by_at_most_the_certificate():
    """Continuity of the whole model: one pixel 10.00 -> 10.05 mm/h (the old head jumped by (1, 4, 1) there)."""
    torch.manual_seed(0)
    model = MinkowskiSurrogate(THRESHOLDS, width=4, depth=2, levels=2, lipschitz_cap=DEFAULT_LIPSCHITZ_CAP).double()
    rain = torch.zeros(1, 1, 8, 8, dtype=torch.float64)
    rain[0, 0, 3, 3] = 10.0
    moved = rain.clone()
    moved[0, 0, 3, 3] = 10.05
    z0, z1 = normalise_rain(rain), normalise_rain(moved)
    with torch.no_grad():
        change = float((model.normalised_outputs(z1) - model.normalised_outputs(z0)).norm())
    assert change <= lipschitz_upper_bound(model, (8, 8)) * float((z1 - z0).norm())
    # And with a tiny move the output moves a tiny amount: no jump anywhere along the way.
    steps = [10.0 + 0.05 * t for t in np.linspace(0, 1, 51)]
    outputs = []
    for value in steps:
        field = rain.clone()
        field[0, 0, 3, 3] = value
        with torch.no_grad():
            outputs.append(model.normalised_outputs(normalise_rain(field)))
    jumps = [float((b - a).abs().max()) for a, b in zip(outputs, outputs[1:])]
    assert max(jumps) < 0.05


@pytest.mark.parametrize("variant", [{}, {"lipschitz_cap": None}, {"spectral_norm": True}])
def test_conventional_certificate_bounds_the_outputs(variant):
    torch.manual_seed(4)
    model = small_conventional(norm_grid=(6, 7), **variant).double().eval()  # eval: fixed spectral_norm weights
    shape = (6, 7)
    bound = lipschitz_upper_bound(model, shape)
    features = lipschitz_upper_bound(model, shape, of="features")
    z = normalise_rain(torch.rand(2, 1, *shape, dtype=torch.float64) * 4.0)
    for zi in z:
        assert jacobian_norm(model.features, zi[0]) <= features
        assert jacobian_norm(model.normalised_outputs, zi[0]) <= bound
    attack = empirical_lipschitz(model, {"data": z}, steps=15, dtype=torch.float64)
    assert 0 < attack["lipschitz"] <= bound
    with torch.no_grad():
        head_norm = float(torch.linalg.matrix_norm(model.layer_weights()["head"].double(), 2))
    # features · head · expm1 slope (1 + 4HW) · constrained head 8√n (1 + 2κ)
    expected = features * head_norm * (1 + 4 * 42) * head_lipschitz_constant(len(THRESHOLDS))
    assert bound == pytest.approx(expected, rel=1e-9)
