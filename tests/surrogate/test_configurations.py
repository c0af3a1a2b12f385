"""Tests of mink_toolkit.surrogate.configurations: soft configuration counts and a learnt head."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from mink_toolkit.functionals import minkowski_functionals
from mink_toolkit.surrogate import (
    ConfigurationSurrogate,
    configuration_head,
    empirical_lipschitz,
    geometric_violations,
    lipschitz_upper_bound,
    load_surrogate,
    normalise_rain,
    save_surrogate,
    train_surrogate,
)
from mink_toolkit.surrogate.certify import attack_starts
from mink_toolkit.surrogate.configurations import CONFIGURATIONS
from ._helpers import THRESHOLDS, jacobian_norm, synthetic_patches


def brute_force_features(model, z):
    """The configuration counts written out vertex by vertex, configuration by configuration."""
    with torch.no_grad():
        slope, offset = float(model.layer_weights()["slope"]), float(model.step_offset)
    levels = model.threshold_levels.double()
    padded = torch.nn.functional.pad(z, (1, 1, 1, 1))[:, 0]
    out = torch.zeros(z.shape[0], len(levels), 15, dtype=torch.float64)
    for k, c in enumerate(levels):
        p = torch.sigmoid(slope * (padded - c) + offset)
        p0 = torch.sigmoid(slope * (0.0 - c) + offset)
        for i, j in itertools.product(range(padded.shape[-2] - 1), range(padded.shape[-1] - 1)):
            block = (p[:, i, j], p[:, i, j + 1], p[:, i + 1, j], p[:, i + 1, j + 1])
            for q, bits in enumerate(CONFIGURATIONS):
                value = torch.ones(z.shape[0], dtype=torch.float64)
                empty = torch.ones((), dtype=torch.float64)
                for x, bit in zip(block, bits):
                    value = value * (x if bit else 1 - x)
                    empty = empty * (p0 if bit else 1 - p0)
                out[:, k, q] += value - empty
    return out


def test_features_are_the_configuration_counts_written_out():
    torch.manual_seed(0)
    model = ConfigurationSurrogate(THRESHOLDS).double()
    with torch.no_grad():
        model.step_offset.fill_(0.3)
    z = normalise_rain(torch.rand(2, 1, 4, 5, dtype=torch.float64) * 4.0)
    torch.testing.assert_close(model.features(z), brute_force_features(model, z))
    # The 16 configuration indicators of a vertex sum to 1: with the background's, the counts of a
    # field sum to the vertex count minus its background count.
    assert len(CONFIGURATIONS) == 15 and (0, 0, 0, 0) not in CONFIGURATIONS


@pytest.mark.parametrize("connectivity, perimeter", [(8, "edges"), (4, "edges"), (8, "crofton"), (4, "crofton")])
def test_hard_steps_and_the_configuration_head_are_the_exact_estimator(connectivity, perimeter):
    """Every 2×2-local estimator is a linear map of the configuration counts; the head derived from
    combine_terms reproduces the exact functionals of either connectivity and perimeter."""
    rng = np.random.default_rng(5)
    rain = np.round(rng.gamma(0.6, 2.0, (3, 17, 21)) * (rng.random((3, 17, 21)) > 0.3), 2)
    thresholds = np.array([0.105, 0.505, 1.005, 3.165])  # off OPERA's 0.01 mm/h grid: no ties
    model = ConfigurationSurrogate(thresholds, connectivity=connectivity, perimeter=perimeter, lipschitz_cap=None,
                                   constrained=False, pixel_size=2.0).double()
    with torch.no_grad():
        model.log_slope.fill_(np.log(1e5))
        model.head_weight.copy_(configuration_head(connectivity, perimeter))
    got = model(torch.as_tensor(rain, dtype=torch.float64)[:, None]).detach().numpy()
    expected = minkowski_functionals(rain, thresholds, connectivity=connectivity, perimeter=perimeter, pixel_size=2.0)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)


def test_background_contributes_nothing_so_the_model_is_additive():
    """Two fields with a dry gap: the outputs add up exactly, with no dry-vertex term."""
    torch.manual_seed(1)
    model = ConfigurationSurrogate(THRESHOLDS, constrained=False).double()
    with torch.no_grad():
        model.log_slope.fill_(np.log(3.0))  # a soft step: background pixels are far from 0 or 1
        model.step_offset.fill_(1.0)
    a, b = torch.rand(1, 1, 5, 5, dtype=torch.float64) * 4, torch.rand(1, 1, 5, 5, dtype=torch.float64) * 4
    joined = torch.cat([a, torch.zeros(1, 1, 5, 2, dtype=torch.float64), b], dim=-1)
    torch.testing.assert_close(model(joined), model(a) + model(b))
    torch.testing.assert_close(model(torch.zeros(1, 1, 7, 3, dtype=torch.float64)),
                               torch.zeros(1, len(THRESHOLDS), 3, dtype=torch.float64))


@pytest.mark.parametrize("lipschitz_cap, constrained", [(8.0, True), (8.0, False), (None, True)])
def test_certificate_bounds_jacobians_and_attacks(lipschitz_cap, constrained):
    torch.manual_seed(3)
    model = ConfigurationSurrogate(THRESHOLDS, lipschitz_cap=lipschitz_cap, constrained=constrained,
                                   pixel_size=2.0).double()
    with torch.no_grad():
        model.log_slope.fill_(np.log(40.0))  # steep: capped at 16 with L = 8
        model.head_weight.mul_(5.0)
    shape = (5, 6)
    bound = lipschitz_upper_bound(model, shape)
    features = lipschitz_upper_bound(model, shape, of="features")
    assert bound > features
    z = normalise_rain(torch.rand(2, 1, *shape, dtype=torch.float64) * 4.0)
    constant = torch.full((1, 1, *shape), float(model.threshold_levels[1]), dtype=torch.float64)
    for zi in (*z, *constant):  # a constant field at a threshold level: every step at its steepest
        assert jacobian_norm(model.normalised_outputs, zi[0]) <= bound
        assert jacobian_norm(model.features, zi[0]) <= features
    attack = empirical_lipschitz(model, {"data": z, **attack_starts(model, shape, n_constant=3, n_random=2)},
                                 steps=15, dtype=torch.float64)
    assert 0 < attack["lipschitz"] <= bound


def test_caps_constraints_checkpoint_and_training(tmp_path):
    torch.manual_seed(2)
    model = ConfigurationSurrogate(THRESHOLDS, lipschitz_cap=4.0)
    with torch.no_grad():
        model.log_slope.fill_(10.0)
        model.head_weight.mul_(100.0)
    weights = model.layer_weights()
    assert float(weights["slope"].detach()) == pytest.approx(8.0)
    assert float(torch.linalg.matrix_norm(weights["head"].detach().double(), 2)) == pytest.approx(8.0, rel=1e-5)
    # The constrained head: no violation of the continuous conditions for any weights.
    rain = torch.rand(3, 1, 12, 12) * 5
    f, b0 = model(rain, return_components=True)
    assert geometric_violations(f.detach().numpy(), (12, 12), components=b0.detach().numpy())["any"] == 0.0
    path = save_surrogate(model, tmp_path / "configurations.pt")
    loaded = load_surrogate(path)
    assert isinstance(loaded, ConfigurationSurrogate) and loaded.config() == model.config()
    torch.testing.assert_close(loaded(rain), model(rain))
    # The trainer takes it like every surrogate; a few steps lower the validation loss.
    train, val = synthetic_patches(16, 24, 0), synthetic_patches(8, 24, 1)
    fresh = ConfigurationSurrogate(THRESHOLDS)
    result = train_surrogate(fresh, train, val, steps=30, batch_size=8, crop_size=16, lr=3e-2, eval_every=10,
                             patience=5, val_patches=8, progress=False)
    assert result.history[-1]["val_loss"] < result.history[0]["val_loss"]
    with pytest.raises(ValueError, match="8-connected"):
        ConfigurationSurrogate(THRESHOLDS, perimeter="crofton")
    with pytest.raises(ValueError, match="head_norm_cap"):
        ConfigurationSurrogate(THRESHOLDS, head_norm_cap=0.0)
