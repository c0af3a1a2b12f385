"""Tests of mink_toolkit.thresholds: the one check, the defaults, the weighting, quantiles."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr

from mink_toolkit import MinkowskiLoss, minkowski_loss
from mink_toolkit.thresholds import (
    DEFAULT_THRESHOLDS,
    Quantiles,
    check_thresholds,
    resolve_thresholds,
    threshold_weights,
)
from _loss_fields import ABSOLUTE, loss_pair as _pair


def test_threshold_weights_are_the_log_trapezoid():
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


def test_quantile_levels_refused_for_rain_units():
    pred, target = _pair(4)
    levels = np.linspace(0.01, 0.99, 9)  # what the published code passed
    with pytest.raises(ValueError, match="quantile levels"):
        minkowski_loss(pred, target, levels, 0.1, relative=True, min_temperature=None)
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
    assert torch.isfinite(minkowski_loss(pred, target, levels, 0.1, relative=True, units=None, min_temperature=None))


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
                              per_call.new_tensor(0.0) + MinkowskiLoss(q.resolve(target.numpy())).temperature_at(),
                              **ABSOLUTE)
    torch.testing.assert_close(per_call, expected)
    with pytest.raises(ValueError, match="reference"):
        resolve_thresholds(q)


def test_default_thresholds_are_log_spaced_and_off_the_opera_grid():
    u = DEFAULT_THRESHOLDS
    assert u.shape == (21,) and np.all(np.diff(u) > 0)
    # Half a quantum (0.005 mm/h) above the 0.01 mm/h grid: no OPERA value can tie with them.
    np.testing.assert_allclose((u * 100) % 1, 0.5, atol=1e-9)
    # Within half a quantum of 10 per decade from 0.1 to 10 mm/h.
    assert np.max(np.abs(u - np.geomspace(0.1, 10, 21))) <= 0.0101


def test_offset_from_grid_moves_values_and_refuses_collisions():
    from mink_toolkit.thresholds import offset_from_grid

    np.testing.assert_allclose(offset_from_grid([0.1, 1.0, 7.94]), [0.105, 1.005, 7.945])
    with pytest.raises(ValueError, match="moved off the quantisation grid"):
        offset_from_grid([0.1, 0.101])
    with pytest.raises(ValueError, match="quantum"):
        offset_from_grid([0.1], quantum=0)


def test_check_thresholds_refuses_what_is_not_a_threshold():
    np.testing.assert_array_equal(check_thresholds(0.5), [0.5])
    np.testing.assert_array_equal(check_thresholds(torch.tensor([0.25, 1.0])), [0.25, 1.0])
    for bad, match in (([0.5, np.inf], r"thresholds must be finite; got \[0.5, inf\]"),
                       ([-np.inf, 0.5], r"thresholds must be finite; got \[-inf, 0.5\]"),
                       ([0.5, np.nan], "thresholds contains NaN"),
                       ([1.0, 0.5], "strictly increasing"),
                       ([], "at least one"),
                       ([[0.5, 1.0]], "1-D")):
        with pytest.raises(ValueError, match=match):
            check_thresholds(bad)
    with pytest.raises(TypeError, match="real numbers"):
        check_thresholds(["0.5"])
    with pytest.raises(ValueError, match="--thresholds must be finite"):
        check_thresholds([0.5, np.inf], "--thresholds")
    # Rain is never negative: for rain units thresholds must be > 0; reflectivity takes any finite value.
    with pytest.raises(ValueError, match=r"> 0 for a field in mm/h .*got \[-1.0, 0.5\]"):
        check_thresholds([-1.0, 0.5], units="mm/h")
    with pytest.raises(ValueError, match="> 0 for a field in mm"):
        check_thresholds([0.0, 0.5], units="mm")
    np.testing.assert_array_equal(check_thresholds([-10.0, 20.0], units="dBZ"), [-10.0, 20.0])


def test_losses_and_metrics_refuse_infinite_and_negative_rain_thresholds():
    from mink_toolkit.verification import minkowski_error

    target = torch.zeros(1, 8, 8)
    target[:, 2:6, 2:6] = 3.0
    pred = torch.ones(1, 8, 8)
    for bad in ([0.5, float("inf")], [-float("inf"), 0.5]):
        with pytest.raises(ValueError, match="thresholds must be finite"):
            minkowski_loss(pred, target, bad, 0.1)
        with pytest.raises(ValueError, match="thresholds must be finite"):
            MinkowskiLoss(bad)
        with pytest.raises(ValueError, match="thresholds must be finite"):
            minkowski_error(target.numpy(), target.numpy(), bad)
    with pytest.raises(ValueError, match=r"> 0 for a field in mm/h"):
        minkowski_loss(pred, target, [-1.0, 0.5], 0.1, **ABSOLUTE)
    with pytest.raises(ValueError, match="> 0"):
        minkowski_error(target.numpy(), target.numpy(), [-1.0, 0.5])


def test_default_thresholds_are_the_packages():
    import mink_toolkit as mk

    assert mk.DEFAULT_THRESHOLDS is DEFAULT_THRESHOLDS


def test_importing_thresholds_loads_no_torch():
    import subprocess
    import sys

    code = "import sys, mink_toolkit.thresholds as t; t.threshold_weights([1.0, 2.0]); assert 'torch' not in sys.modules"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
