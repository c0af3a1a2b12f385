"""Tests of the Minkowski image loss (mink_toolkit.losses.minkowski)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mink_toolkit import (
    ExponentialSchedule,
    LossSettings,
    MinkowskiLoss,
    extract_patches,
    functional_distance,
    gradient_share,
    load_opera,
    minkowski_functionals,
    minkowski_loss,
    offset_from_grid,
    opera_files,
    soft_minkowski_functionals,
    threshold_gradients,
)
from _loss_fields import ABSOLUTE, U, loss_pair as _pair


def test_loss_is_relaxed_pred_vs_exact_target():
    pred, target = _pair()
    pred.requires_grad_(True)
    loss = minkowski_loss(pred, target, U, 0.05, relative=True, reduction="none", min_temperature=None)
    soft = soft_minkowski_functionals(pred, U, 0.05, relative=True)
    exact = torch.tensor(minkowski_functionals(target.numpy(), U))
    torch.testing.assert_close(loss, functional_distance(soft, exact, U, reduction="none"))
    loss.mean().backward()
    assert pred.grad is not None and torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0


def test_loss_vanishes_for_identical_fields_at_small_temperature():
    _, target = _pair(1)
    loss = minkowski_loss(target.clone(), target, U, 1e-4, **ABSOLUTE)
    assert float(loss) < 1e-6
    worse = minkowski_loss(target * 0.5, target, U, 1e-4, **ABSOLUTE)
    assert float(worse) > 0.1


def test_space_weights_reduction():
    pred, target = _pair(2)
    lin = minkowski_loss(pred, target, U, 0.1, space="linear", reduction="none", **ABSOLUTE)
    soft = soft_minkowski_functionals(pred, U, 0.1)
    exact = torch.tensor(minkowski_functionals(target.numpy(), U))
    manual = torch.trapezoid((soft - exact).abs(), x=torch.log(torch.tensor(U, dtype=soft.dtype)), dim=-2).sum(-1)
    torch.testing.assert_close(lin, manual)
    area_only = minkowski_loss(pred, target, U, 0.1, weights=(1, 0, 0), reduction="sum", **ABSOLUTE)
    full = minkowski_loss(pred, target, U, 0.1, weights=(1, 1, 1), reduction="sum", **ABSOLUTE)
    assert 0 < float(area_only) < float(full)
    assert minkowski_loss(pred, target, U, 0.1, reduction="none", **ABSOLUTE).shape == (2,)
    with pytest.raises(ValueError, match="space"):
        minkowski_loss(pred, target, U, 0.1, space="log", **ABSOLUTE)
    with pytest.raises(ValueError, match="reduction"):
        minkowski_loss(pred, target, U, 0.1, reduction="max", **ABSOLUTE)


def test_bad_inputs():
    pred, target = _pair(3)
    with pytest.raises(ValueError, match="differ in shape"):
        minkowski_loss(pred, target[:1], U, 0.1, **ABSOLUTE)
    with pytest.raises(ValueError, match="temperature"):
        minkowski_loss(pred, target, U, 0.0, **ABSOLUTE)
    nan_pred = pred.clone()
    nan_pred[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="pred contains NaN"):
        minkowski_loss(nan_pred, target, U, 0.1, **ABSOLUTE)
    nan_target = target.clone()
    nan_target[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        minkowski_loss(pred, nan_target, U, 0.1, **ABSOLUTE)
    with pytest.raises(ValueError, match="thresholds"):
        minkowski_loss(pred, target, [1.0, 0.5], 0.1, **ABSOLUTE)


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
                                   minkowski_loss(pred, target, U, t, weights=(1.0, 0.5, 2.0), **ABSOLUTE))
    torch.testing.assert_close(module(pred, target, step=0), minkowski_loss(pred, target, U, 0.1, relative=True,
                                                                            min_temperature=1e-3,
                                                                            weights=(1.0, 0.5, 2.0)))
    with pytest.raises(TypeError, match="schedule"):
        MinkowskiLoss(U, schedule=lambda step: 1.0)
    assert "thresholds" in dict(module.named_buffers())


def test_threshold_gradients_sum_to_full_gradient():
    pred, target = _pair(8)
    x = pred.clone().requires_grad_(True)
    minkowski_loss(x, target, U, 0.1, relative=True, min_temperature=None).backward()
    parts = threshold_gradients(pred, target, U, 0.1, relative=True, min_temperature=None)
    assert parts.shape == (2, 3, 12, 10)
    torch.testing.assert_close(parts.sum(-3), x.grad)
    share = gradient_share(pred, target, U, 0.1, relative=True, min_temperature=None)
    mass = parts.abs().sum(dim=(0, 2, 3))
    torch.testing.assert_close(share, mass / mass.sum())
    assert float(share.sum()) == pytest.approx(1.0)
    module = MinkowskiLoss(U)
    torch.testing.assert_close(module.gradient_share(pred, target),
                               gradient_share(pred, target, U, module.temperature_at(), **ABSOLUTE))


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


# ------------------------------------------------------------------ settings: one place for each default


def test_function_and_module_share_their_defaults():
    pred, target = _pair(9)
    # The paper's temperature, T = max(0.1 u, 1e-3), for both, with nothing passed.
    torch.testing.assert_close(MinkowskiLoss(U)(pred, target), minkowski_loss(pred, target, U))
    torch.testing.assert_close(minkowski_loss(pred, target, U),
                               minkowski_loss(pred, target, U, 0.1, relative=True, min_temperature=1e-3))
    settings = LossSettings(weights=(1.0, 0.5, 2.0), space="linear")
    torch.testing.assert_close(minkowski_loss(pred, target, U, settings=settings),
                               minkowski_loss(pred, target, U, weights=(1.0, 0.5, 2.0), space="linear"))
    torch.testing.assert_close(MinkowskiLoss(U, settings=settings)(pred, target),
                               minkowski_loss(pred, target, U, settings=settings))
    assert MinkowskiLoss(U, space="linear").settings == LossSettings(space="linear")


def test_settings_refuse_bad_values_when_built():
    for bad, match in ((dict(weights=(float("nan"), 1, 1)), r"weights must be finite; got \(nan"),
                       (dict(weights=(-1, -1, -1)), r"weights must be >= 0; got \(-1.0"),
                       (dict(weights=(0, 0, 0)), "weights must not all be 0"),
                       (dict(weights=(1, 1)), "3 entries"),
                       (dict(connectivity=6), "connectivity"),
                       (dict(perimeter="marching"), "perimeter"),
                       (dict(tnorm="max"), "tnorm"),
                       (dict(pixel_size=0), "pixel_size"),
                       (dict(min_temperature=-1.0), "min_temperature")):
        with pytest.raises(ValueError, match=match):
            LossSettings(**bad)
        with pytest.raises(ValueError, match=match):
            MinkowskiLoss(U, **bad)
    with pytest.raises(TypeError, match="unexpected keyword.*temprature"):
        minkowski_loss(*_pair(), U, temprature=0.1)
    with pytest.raises(TypeError, match="LossSettings"):
        MinkowskiLoss(U, settings={"space": "linear"})


def test_module_checks_its_thresholds_once_and_keeps_them_ready(monkeypatch):
    """The path MinkowskiLoss -> relaxed functionals checks the thresholds when the module is built, not per step."""
    import mink_toolkit.functionals
    import mink_toolkit.relax.paper
    import mink_toolkit.relax.soft
    import mink_toolkit.thresholds

    module = MinkowskiLoss(U)
    pred, target = _pair(10)
    calls = []
    original = mink_toolkit.thresholds.check_thresholds
    for where in (mink_toolkit.thresholds, mink_toolkit.functionals, mink_toolkit.relax.soft, mink_toolkit.relax.paper):
        monkeypatch.setattr(where, "check_thresholds", lambda *a, **k: calls.append(a) or original(*a, **k))
    for step in range(3):
        module(pred, target, step=step)
    assert calls == []
    # A loaded state dict replaces the thresholds: they are checked then.
    state = {"thresholds": torch.tensor([0.5, 1.5, 3.5], dtype=torch.float64)}
    module.load_state_dict(state)
    np.testing.assert_array_equal(module._thresholds_for(None), [0.5, 1.5, 3.5])
    assert len(calls) == 1
    torch.testing.assert_close(module(pred, target), minkowski_loss(pred, target, [0.5, 1.5, 3.5]))
    # The function checks once per call too.
    calls.clear()
    minkowski_loss(pred, target, U)
    assert len(calls) == 1


# --------------------------------------------------------------------------
# Compiled path and devices
# --------------------------------------------------------------------------


def test_compiled_module_and_function_match_eager():
    """compile=True: the same loss and gradient to float32 rounding, one compiled core for every step."""
    pred, target = _pair(3, shape=(2, 16, 16))
    pred = pred.float().requires_grad_(True)
    target = target.float()
    eager = MinkowskiLoss(U, schedule=ExponentialSchedule(10))
    compiled = MinkowskiLoss(U, schedule=ExponentialSchedule(10), compile=True)
    assert compiled.compiled and not eager.compiled and callable(compiled.compile)  # nn.Module.compile kept
    for step in (0, 5):
        eager.step = compiled.step = step
        value_e, value_c = eager(pred, target), compiled(pred, target)
        torch.testing.assert_close(value_c, value_e, rtol=1e-5, atol=1e-5)
        (g_e,) = torch.autograd.grad(value_e, pred)
        (g_c,) = torch.autograd.grad(value_c, pred)
        torch.testing.assert_close(g_c, g_e, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(minkowski_loss(pred, target, U, compile=True), minkowski_loss(pred, target, U),
                               rtol=1e-5, atol=1e-5)
    with pytest.raises(TypeError, match="compile must be True or False"):
        MinkowskiLoss(U, compile="yes")
    with pytest.raises(TypeError, match="compile must be True or False"):
        minkowski_loss(pred, target, U, compile=1)


def test_loss_core_runs_on_the_meta_device():
    """The loss after its boundary (which needs values: finite checks, the target's exact functionals)
    runs on ``meta``: nothing in it is made on the default device."""
    from mink_toolkit.losses.minkowski import _loss_core

    pred = torch.empty(4, 1, 16, 16, device="meta", requires_grad=True)
    exact = torch.empty(4, 1, 3, 3, device="meta")
    u, wu, t = (torch.empty(3, device="meta") for _ in range(3))
    for reduction, shape in (("mean", ()), ("none", (4, 1))):
        loss = _loss_core(pred, exact, u, wu, t, 8, "edges", 1.0, "product", (1.0, 1.0, 1.0), reduction, "log1p")
        assert loss.device.type == "meta" and loss.shape == shape
    (grad,) = torch.autograd.grad(loss.sum(), pred)
    assert grad.device.type == "meta" and grad.shape == pred.shape


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_loss_and_gradient_follow_the_pred_dtype(dtype):
    pred, target = _pair(5)
    pred = pred.to(dtype).requires_grad_(True)
    loss = MinkowskiLoss(U)(pred, target.to(dtype))
    assert loss.dtype == dtype
    (grad,) = torch.autograd.grad(loss, pred)
    assert grad.dtype == dtype
