"""Tests of the Minkowski image loss (mink_toolkit.losses)."""


import numpy as np
import pytest
import torch
import xarray as xr

from mink_toolkit import (
    ExponentialSchedule,
    MinkowskiLoss,
    Quantiles,
    extract_patches,
    functional_distance,
    gradient_share,
    load_opera,
    minkowski_functionals,
    minkowski_loss,
    offset_from_grid,
    opera_files,
    resolve_thresholds,
    soft_minkowski_functionals,
    threshold_gradients,
)

U = [0.255, 1.005, 2.505]  # off the 0.01 grid of the rounded fields (no ties)


def _pair(seed=0, shape=(2, 12, 10)):
    rng = np.random.default_rng(seed)
    target = torch.tensor(rng.gamma(0.7, 1.5, size=shape).round(2))
    pred = (target + torch.tensor(rng.normal(0, 0.5, size=shape))).clamp_min(0)
    return pred, target


def test_functional_distance_integrates_over_log_thresholds():
    pred = torch.zeros(2, 3, 3, dtype=torch.float64)
    target = torch.zeros(2, 3, 3, dtype=torch.float64)
    target[..., 0] = np.e - 1  # log1p -> 1 on area only
    d = functional_distance(pred, target, [0.5, 1.0, 4.0], reduction="none")
    torch.testing.assert_close(d, torch.full((2,), np.log(8.0), dtype=torch.float64))  # ∫ 1 d(ln u) = ln 8
    d_w = functional_distance(pred, target, [0.5, 1.0, 4.0], weights=(2.0, 1.0, 1.0))
    assert float(d_w) == pytest.approx(2 * np.log(8.0))
    # each decade weighs the same: a difference only at 0.1 mm/h counts as much as one only at 10 mm/h
    u = [0.1, 1.0, 10.0]
    low, high = target.clone(), target.clone()
    low[:, 1:, 0] = 0.0
    high[:, :2, 0] = 0.0
    assert float(functional_distance(pred, low, u)) == pytest.approx(float(functional_distance(pred, high, u)))
    with pytest.raises(ValueError, match="thresholds has 2 entries"):
        functional_distance(pred, target, [1.0, 2.0])


def test_threshold_weights_are_the_log_trapezoid():
    from mink_toolkit.losses import threshold_weights

    u = np.array([0.105, 0.135, 1.005, 10.005])
    w = threshold_weights(u)
    g = np.array([3.0, -1.0, 2.0, 0.5])
    assert float(w @ g) == pytest.approx(float(np.trapezoid(g, np.log(u))))
    np.testing.assert_allclose(threshold_weights(u, normalise=True).sum(), 1.0)
    assert threshold_weights([2.0]).tolist() == [1.0]
    t = threshold_weights(u, like=torch.zeros(1, dtype=torch.float32))
    assert t.dtype == torch.float32 and t.shape == (4,)
    with pytest.raises(ValueError, match="> 0"):
        threshold_weights([0.0, 1.0])
    with pytest.raises(ValueError, match="increasing"):
        threshold_weights([1.0, 0.5])


def test_functional_distance_rejects_an_integration_axis_passed_as_thresholds():
    """log10 u has values <= 0: not thresholds in mm/h, so a clear error, not a silent other integral."""
    pred = torch.zeros(1, 3, 3, dtype=torch.float64)
    target = torch.zeros(1, 3, 3, dtype=torch.float64)
    target[..., 0] = np.e - 1
    u = np.array([0.1, 1.0, 10.0])
    with pytest.raises(ValueError, match="thresholds must be finite and > 0"):
        functional_distance(pred, target, np.log10(u))
    assert float(functional_distance(pred, target, u)) == pytest.approx(2.0 * np.log(10.0))  # ∫ 1 d(ln u)


def test_loss_is_relaxed_pred_vs_exact_target():
    pred, target = _pair()
    pred.requires_grad_(True)
    loss = minkowski_loss(pred, target, U, 0.05, relative=True, reduction="none")
    soft = soft_minkowski_functionals(pred, U, 0.05, relative=True)
    exact = torch.tensor(minkowski_functionals(target.numpy(), U))
    torch.testing.assert_close(loss, functional_distance(soft, exact, U, reduction="none"))
    loss.mean().backward()
    assert pred.grad is not None and torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0


def test_loss_vanishes_for_identical_fields_at_small_temperature():
    _, target = _pair(1)
    loss = minkowski_loss(target.clone(), target, U, 1e-4)
    assert float(loss) < 1e-6
    worse = minkowski_loss(target * 0.5, target, U, 1e-4)
    assert float(worse) > 0.1


def test_space_weights_reduction():
    pred, target = _pair(2)
    lin = minkowski_loss(pred, target, U, 0.1, space="linear", reduction="none")
    soft = soft_minkowski_functionals(pred, U, 0.1)
    exact = torch.tensor(minkowski_functionals(target.numpy(), U))
    manual = torch.trapezoid((soft - exact).abs(), x=torch.log(torch.tensor(U, dtype=soft.dtype)), dim=-2).sum(-1)
    torch.testing.assert_close(lin, manual)
    area_only = minkowski_loss(pred, target, U, 0.1, weights=(1, 0, 0), reduction="sum")
    full = minkowski_loss(pred, target, U, 0.1, weights=(1, 1, 1), reduction="sum")
    assert 0 < float(area_only) < float(full)
    assert minkowski_loss(pred, target, U, 0.1, reduction="none").shape == (2,)
    with pytest.raises(ValueError, match="space"):
        minkowski_loss(pred, target, U, 0.1, space="log")
    with pytest.raises(ValueError, match="reduction"):
        minkowski_loss(pred, target, U, 0.1, reduction="max")


def test_bad_inputs():
    pred, target = _pair(3)
    with pytest.raises(ValueError, match="differ in shape"):
        minkowski_loss(pred, target[:1], U, 0.1)
    with pytest.raises(ValueError, match="temperature"):
        minkowski_loss(pred, target, U, 0.0)
    nan_pred = pred.clone()
    nan_pred[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="pred contains NaN"):
        minkowski_loss(nan_pred, target, U, 0.1)
    nan_target = target.clone()
    nan_target[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        minkowski_loss(pred, nan_target, U, 0.1)
    with pytest.raises(ValueError, match="thresholds"):
        minkowski_loss(pred, target, [1.0, 0.5], 0.1)


# ------------------------------------------------------------------ quantile-level guard


def test_quantile_levels_refused_for_rain_units():
    pred, target = _pair(4)
    levels = np.linspace(0.01, 0.99, 9)  # what the published code passed
    with pytest.raises(ValueError, match="quantile levels"):
        minkowski_loss(pred, target, levels, 0.1, relative=True)
    with pytest.raises(ValueError, match="quantile levels"):
        MinkowskiLoss(levels)
    # A DataArray's own units decide; mm/h refuses, a dimensionless field is fine.
    da = xr.DataArray(target.numpy(), dims=("patch", "y", "x"), attrs={"units": "mm/h"})
    with pytest.raises(ValueError, match="quantile levels"):
        resolve_thresholds(levels, da, units="1")
    da.attrs["units"] = "1"
    np.testing.assert_allclose(resolve_thresholds(levels, da), levels)
    # Switched off explicitly, and physical sub-1 mm/h thresholds stay legal.
    np.testing.assert_allclose(resolve_thresholds(levels, units=None), levels)
    np.testing.assert_allclose(resolve_thresholds([0.1, 0.2, 0.5]), [0.1, 0.2, 0.5])
    assert torch.isfinite(minkowski_loss(pred, target, levels, 0.1, relative=True, units=None))


def test_quantiles_resolve_explicitly():
    rng = np.random.default_rng(5)
    reference = np.where(rng.random((50, 50)) < 0.5, 0.0, rng.gamma(0.8, 2.0, size=(50, 50)))
    q = Quantiles([0.5, 0.9, 0.99], min_value=0.0)
    wet = reference[reference > 0]
    np.testing.assert_allclose(q.resolve(reference), np.quantile(wet, [0.5, 0.9, 0.99]))
    with pytest.raises(ValueError, match="repeated thresholds"):
        Quantiles([0.1, 0.2, 0.9]).resolve(reference)  # half the pixels are dry: ties at 0
    with pytest.raises(ValueError, match="levels"):
        Quantiles([0.5, 1.5])
    module = MinkowskiLoss(q, reference=reference)
    np.testing.assert_allclose(module.thresholds.numpy(), q.resolve(reference))
    # Without a reference the quantiles follow each target.
    pred, target = _pair(6)
    per_call = MinkowskiLoss(q)(pred, target)
    expected = minkowski_loss(pred, target, q.resolve(target.numpy()),
                              per_call.new_tensor(0.0) + MinkowskiLoss(q.resolve(target.numpy())).temperature_at())
    torch.testing.assert_close(per_call, expected)
    with pytest.raises(ValueError, match="reference"):
        resolve_thresholds(q)


# ------------------------------------------------------------------ module and schedule


def test_module_equals_function_with_schedule():
    pred, target = _pair(7)
    schedule = ExponentialSchedule(20)
    module = MinkowskiLoss(U, schedule=schedule, weights=(1.0, 0.5, 2.0))
    for step in (0, 10, 20):
        module.step = step
        base = np.maximum(0.1 * np.asarray(U), 1e-3)
        t = torch.tensor(base * schedule(step))
        torch.testing.assert_close(module.temperature_at(), t)
        torch.testing.assert_close(module(pred, target),
                                   minkowski_loss(pred, target, U, t, weights=(1.0, 0.5, 2.0)))
    torch.testing.assert_close(module(pred, target, step=0), minkowski_loss(pred, target, U, 0.1, relative=True,
                                                                            min_temperature=1e-3,
                                                                            weights=(1.0, 0.5, 2.0)))
    with pytest.raises(TypeError, match="schedule"):
        MinkowskiLoss(U, schedule=lambda step: 1.0)
    assert "thresholds" in dict(module.named_buffers())


# ------------------------------------------------------------------ gradient share


def test_threshold_gradients_sum_to_full_gradient():
    pred, target = _pair(8)
    x = pred.clone().requires_grad_(True)
    minkowski_loss(x, target, U, 0.1, relative=True).backward()
    parts = threshold_gradients(pred, target, U, 0.1, relative=True)
    assert parts.shape == (2, 3, 12, 10)
    torch.testing.assert_close(parts.sum(-3), x.grad)
    share = gradient_share(pred, target, U, 0.1, relative=True)
    mass = parts.abs().sum(dim=(0, 2, 3))
    torch.testing.assert_close(share, mass / mass.sum())
    assert float(share.sum()) == pytest.approx(1.0)
    module = MinkowskiLoss(U)
    torch.testing.assert_close(module.gradient_share(pred, target),
                               gradient_share(pred, target, U, module.temperature_at()))


def test_gradient_share_on_nimbus_patch():
    """Low thresholds dominate the gradient at the paper's starting temperature (published: 83 % <= 0.28 mm/h)."""
    patches = extract_patches(load_opera(opera_files("nimbus_rate")[0]), size=64, min_coverage=1.0,
                              min_wet_fraction=0.3)
    target = torch.tensor(patches.values[:2])
    pred = torch.nn.functional.avg_pool2d(target, 3, stride=1, padding=1, count_include_pad=False)
    u = offset_from_grid(np.geomspace(0.1, 10, 21))
    share = MinkowskiLoss(u).gradient_share(pred, target)
    assert share.shape == (21,) and torch.all(share >= 0)
    low = u <= 0.28
    assert float(share[low].sum()) > 1.3 * low.sum() / u.size  # well above the low thresholds' fair share
