"""Tests of mink_toolkit.surrogate.constraints: necessary conditions and the constrained head."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mink_toolkit import betti_numbers, minkowski_functionals
from mink_toolkit.datasets import exact_targets
from mink_toolkit.surrogate.constraints import HEAD_RELATIVE_SOFTNESS, HEAD_SOFTNESS
from mink_toolkit.surrogate import (
    CONVENTIONAL_LIPSCHITZ_CAP,
    DEFAULT_LIPSCHITZ_CAP,
    MinkowskiSurrogate,
    geometric_violations,
    project_feasible,
)
from mink_toolkit.surrogate.constraints import _ceil_two_sqrt
from ._helpers import THRESHOLDS, small_conventional


def test_ceil_two_sqrt_is_exact():
    area = torch.tensor([0.0, 0.25, 1.0, 1.0 + 1e-12, 2.25, 2.2500001, 4.0, 9.0, 10.0, 16384.0], dtype=torch.float64)
    expected = [int(np.ceil(2 * np.sqrt(a))) if a not in (1.0, 2.25, 4.0, 9.0, 16384.0) else int(2 * np.sqrt(a))
                for a in area.tolist()]
    assert _ceil_two_sqrt(area).tolist() == expected


def random_binary_stack(rng, count, max_size=12):
    images = []
    for _ in range(count):
        h, w = rng.integers(1, max_size + 1, size=2)
        p = rng.random()
        images.append((rng.random((h, w)) < p).astype(float))
    return images


def test_exact_functionals_never_violate_the_conditions():
    """The conditions are necessary: 600 random binary images (and a few extreme ones) pass."""
    rng = np.random.default_rng(0)
    images = random_binary_stack(rng, 600)
    checker = np.indices((9, 9)).sum(0) % 2
    images += [np.ones((5, 5)), np.zeros((3, 4)), checker.astype(float), 1 - checker.astype(float), np.ones((1, 1))]
    worst = 0.0
    for img in images:
        # Three thresholds on a 0/1/2 field: nested sets, including empty ones.
        field = img * (1 + (rng.random(img.shape) < 0.5))
        u = [0.5, 1.5, 2.5]
        f = minkowski_functionals(field, u)
        b0 = betti_numbers(field, u)[..., 0]
        v = geometric_violations(f, img.shape, components=b0, discrete=True)
        worst = max(worst, max(v.values()))
    assert worst == 0.0


def test_exact_functionals_pass_in_physical_units():
    rng = np.random.default_rng(1)
    x = rng.gamma(0.5, 1.0, (20, 16, 16))
    f, b0 = exact_targets(x, THRESHOLDS)
    f_km = f * np.array([4.0, 2.0, 1.0])  # 2 km pixels
    assert max(geometric_violations(f_km, (16, 16), pixel_size=2.0, components=b0, discrete=True).values()) == 0.0


@pytest.mark.parametrize(
    "row,name",
    [
        ([-1.0, 0.0, 0.0], "area_range"),
        ([65.0, 40.0, 1.0], "area_range"),
        ([0.0, 4.0, 0.0], "perimeter_zero"),
        ([2.0, 4.0, 1.0], "perimeter_min"),
        ([4.0, 6.0, 1.0], "perimeter_min"),
        ([1.0, 6.0, 1.0], "perimeter_max"),
        ([0.0, 0.0, 1.0], "euler_zero"),
        ([4.0, 8.0, 3.0], "euler_upper"),
        ([5.0, 12.0, -2.0], "euler_lower"),
    ],
)
def test_violations_are_detected(row, name):
    v = geometric_violations(np.array([[row]]), (8, 8))
    assert v[name] == 1.0
    assert v["any"] == 1.0
    assert sum(v.values()) == 2.0  # no other condition fires


def test_monotonicity_and_components_violations_are_detected():
    f = np.array([[[4.0, 8.0, 1.0], [5.0, 12.0, 1.0]]])
    assert geometric_violations(f, (8, 8))["area_monotone"] == 1.0
    f = np.array([[[4.0, 10.0, 0.0]]])
    assert geometric_violations(f, (8, 8), components=np.array([[1.0]]))["any"] == 0.0
    v = geometric_violations(f, (8, 8), components=np.array([[0.5]]))  # a wet set has a component
    assert v["components_range"] == 1.0 and v["euler_components"] == 0.0
    v = geometric_violations(f, (8, 8), components=np.array([[2.0]]))  # 2 components + 2 holes need P >= 16
    assert v["components_range"] == 0.0 and v["euler_components"] == 1.0


def test_geometric_violations_bad_input():
    with pytest.raises(ValueError, match="functionals must be shaped"):
        geometric_violations(np.zeros((3, 2)), (4, 4))
    with pytest.raises(ValueError, match="perimeter"):
        geometric_violations(np.zeros((1, 3)), (4, 4), perimeter="crofton")
    with pytest.raises(ValueError, match="NaN"):
        geometric_violations(np.full((1, 3), np.nan), (4, 4))
    with pytest.raises(ValueError, match="image_shape"):
        geometric_violations(np.zeros((1, 3)), (0, 4))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31 - 1),
    height=st.integers(1, 9),
    width=st.integers(1, 9),
    weight_scale=st.floats(1e-3, 1e3),
    rain_scale=st.floats(0.0, 1e3),
    dry_fraction=st.floats(0.0, 1.0),
    lipschitz_cap=st.sampled_from([DEFAULT_LIPSCHITZ_CAP, None]),
)
def test_constrained_model_never_violates(seed, height, width, weight_scale, rain_scale, dry_fraction, lipschitz_cap):
    """Any input, any weights: the constrained head's outputs are feasible."""
    torch.manual_seed(seed)
    model = MinkowskiSurrogate(THRESHOLDS, width=4, depth=2, levels=4, lipschitz_cap=lipschitz_cap, constrained=True)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * weight_scale)
    gen = torch.Generator().manual_seed(seed)
    rain = torch.rand(3, 1, height, width, generator=gen) * rain_scale
    rain[torch.rand(rain.shape, generator=gen) < dry_fraction] = 0.0
    f, b0 = model(rain, return_components=True)
    v = geometric_violations(f, (height, width), components=b0, rtol=1e-12)  # torch and numpy square roots may differ by an ulp
    assert max(v.values()) == 0.0, v


@settings(max_examples=200, deadline=None)
@given(
    raw=st.lists(
        st.tuples(*[st.floats(-1e5, 1e5, allow_nan=False) for _ in range(4)]), min_size=1, max_size=6
    ),
    n_pixels=st.integers(1, 400),
)
def test_project_feasible_on_arbitrary_raw_values(raw, n_pixels):
    out = project_feasible(torch.tensor([raw], dtype=torch.float64), n_pixels)
    f = out[..., [0, 1, 3]]
    v = geometric_violations(f, (n_pixels, 1), components=out[..., 2], rtol=1e-12)
    assert max(v.values()) == 0.0, (v, out)


def test_head_moves_feasible_values_little_and_is_near_identity_inside():
    x = np.zeros((2, 6, 6))
    x[0, 1:4, 1:3] = 2.0
    x[1, 0, 0] = 2.0
    x[1, 3:5, 2:5] = 5.0
    f, b0 = exact_targets(x, [1.0, 3.0])
    exact = torch.tensor(np.concatenate([f[..., :2], b0[..., None], f[..., 2:]], axis=-1))
    # Exact values lie on ends of their intervals (empty sets, χ = β0 without holes): the soft clamp
    # moves them inside by about its softness (4 s for a perimeter whose ends are 4 A).
    moved = (project_feasible(exact, 36) - exact).abs().max()
    assert 0.1 * HEAD_SOFTNESS < float(moved) <= 4.0 * HEAD_SOFTNESS * 1.01
    # Far inside the feasible set (distance d from the ends) the head is the identity to within about s²/d
    # (s grows with the interval's width: here up to 15 edges for the perimeter), and so is its gradient.
    inside = torch.tensor([[[200.0, 300.0, 25.5, 1.5], [120.0, 250.0, 20.0, -10.5]]], dtype=torch.float64,
                          requires_grad=True)
    out = project_feasible(inside, 400)
    torch.testing.assert_close(out, inside.detach(), rtol=0.01, atol=0.02)
    weights = torch.arange(8.0, dtype=torch.float64).reshape(1, 2, 4)
    (grad,) = torch.autograd.grad((out * weights).sum(), inside)
    torch.testing.assert_close(grad, weights, rtol=0.02, atol=0.05)


def _intervals(out: np.ndarray, n_pixels: int):
    """Independent oracle: the (low, high) interval of every output given the outputs before it."""
    area, perimeter, components, euler = (out[..., i] for i in range(4))
    above = np.concatenate([np.full(area.shape[:-1] + (1,), float(n_pixels)), area[..., :-1]], axis=-1)
    one = np.minimum(area, 1.0)
    quarter = perimeter / 4.0
    return {
        0: (np.zeros_like(area), above),
        1: (4.0 * np.minimum(area, np.sqrt(area)), 4.0 * area),
        3: (2.0 * one - quarter, np.minimum(area, quarter)),
        2: (np.maximum(one, euler), np.minimum(np.minimum(area, quarter), (euler + quarter) / 2.0)),
    }


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), spread=st.sampled_from([0.1, 1.0, 30.0, 1000.0]))
def test_every_output_moves_with_its_own_raw_value_inside_and_outside_its_interval(seed, spread):
    """The attack on the old head: outside its interval a hard clamp has d output / d raw = 0 (dead gradient).

    Raw values start at points of the feasible intervals and are pushed inside or outside by up to
    ``spread`` pixel units; the derivative of each output with respect to its own raw value must be
    positive wherever its interval is not a single point, and at least 1/4 within one softness of it.
    """
    n_pixels, n = 4096, 5
    gen = torch.Generator().manual_seed(seed)
    area = torch.sort(torch.rand(n, generator=gen, dtype=torch.float64) * 2000 + 4, descending=True).values
    root = area.sqrt()
    perimeter = 4 * root + torch.rand(n, generator=gen, dtype=torch.float64) * (4 * area - 4 * root)
    euler = torch.rand(n, generator=gen, dtype=torch.float64) * perimeter / 4 - perimeter / 8
    components = euler.clamp_min(1.0) + torch.rand(n, generator=gen, dtype=torch.float64) * 3
    raw = torch.stack([area, perimeter, components, euler], dim=-1)
    raw = raw + (torch.rand(raw.shape, generator=gen, dtype=torch.float64) * 2 - 1) * spread
    raw.requires_grad_(True)
    out = project_feasible(raw, n_pixels)
    own = torch.stack([torch.autograd.grad(out[k, j], raw, retain_graph=True)[0][k, j]
                       for k in range(n) for j in range(4)]).reshape(n, 4).numpy()
    values, r = out.detach().numpy(), raw.detach().numpy()
    for j, (low, high) in _intervals(values, n_pixels).items():
        width = high - low
        open_ = width > 1e-6
        assert (own[open_, j] > 0).all(), (j, own[:, j], width)
        near = open_ & (width > 8 * HEAD_SOFTNESS) & (r[:, j] > low - HEAD_SOFTNESS) & (r[:, j] < high + HEAD_SOFTNESS)
        assert (own[near, j] >= 0.25).all(), (j, own[:, j], r[:, j], low, high)


def test_a_raw_perimeter_far_below_its_bound_still_gets_a_gradient():
    """The conventional CNN's start: raw perimeter about 1.7 for an area of 1000 pixels (bound 4√1000 ≈ 126.5)."""
    raw = torch.tensor([[[1000.0, 1.7, 5.0, 3.0]]], dtype=torch.float64, requires_grad=True)
    out = project_feasible(raw, 128 * 128)
    assert float(out[0, 0, 1].detach()) >= 4 * np.sqrt(float(out[0, 0, 0].detach()))
    (grad,) = torch.autograd.grad(out[0, 0, 1], raw)
    # The softness grows with the interval's width (here about 78 edges): a derivative of order 1, where a
    # hard clamp gives 0 and an exponential tail e^-500.
    assert 0.1 < float(grad[0, 0, 1]) < 0.5


@pytest.mark.parametrize("scale", [0.3, 30.0, 1e5])
def test_fused_area_chain_equals_the_chain_of_soft_clamps_under_autograd(scale):
    """The head's area chain runs as one autograd.Function (speed): same values and gradients as the plain loop."""
    from mink_toolkit.surrogate.constraints import _AreaChain, _clamp

    gen = torch.Generator().manual_seed(7)
    raw = (torch.randn(16, 21, generator=gen, dtype=torch.float64) * scale + scale).requires_grad_(True)
    weights = torch.randn(16, 21, generator=gen, dtype=torch.float64)
    bound, areas = torch.full_like(raw[:, 0], 1024.0), []
    for k in range(raw.shape[1]):  # the definition: A_k = sc(a_k; 0, A_{k-1}), A_{-1} = HW
        bound = _clamp(raw[:, k], torch.zeros_like(bound), bound)
        areas.append(bound)
    reference = torch.stack(areas, dim=1)
    (g_reference,) = torch.autograd.grad((reference * weights).sum(), raw)
    fused = _AreaChain.apply(raw, 1024.0)
    (g_fused,) = torch.autograd.grad((fused * weights).sum(), raw)
    assert torch.equal(fused.detach(), reference.detach())
    torch.testing.assert_close(g_fused, g_reference, rtol=1e-12, atol=1e-12)
    assert torch.autograd.gradcheck(lambda r: _AreaChain.apply(r, 1024.0), (raw.detach()[:2].requires_grad_(),))


def test_without_bound_gradients_the_values_are_the_same_and_each_output_moves_its_own_raw_value_only():
    """The training mode of the head: χ held at P/4 does not drag the perimeter down through its upper end."""
    raw = torch.tensor([[[1000.0, 300.0, 5.0, 400.0], [900.0, 280.0, 4.0, -3.0]]], dtype=torch.float64,
                       requires_grad=True)
    true_grad = project_feasible(raw, 4096)
    held = project_feasible(raw, 4096, bound_gradients=False)
    assert torch.equal(true_grad.detach(), held.detach())
    (g_true,) = torch.autograd.grad(true_grad[0, 0, 3], raw)  # χ of the first threshold
    (g_held,) = torch.autograd.grad(held[0, 0, 3], raw)
    assert float(g_true[0, 0, 1]) > 0  # χ near its upper end P/4 depends on the raw perimeter ...
    assert float(g_held[0, 0, 1]) == 0.0  # ... not in the training mode
    assert float(g_held[0, 0, 3]) > 0 and (g_held[0, 1] == 0).all()
    with pytest.raises(TypeError, match="bound_gradients"):
        project_feasible(raw, 4096, bound_gradients=1)


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n_pixels=st.integers(1, 400),
    scale=st.floats(1e-3, 1e3),
    step=st.floats(1e-9, 1.0),
)
def test_head_is_continuous_and_4_lipschitz_in_the_max_norm_up_to_its_relative_softness(seed, n_pixels, scale, step):
    """The head that replaced the projection: no jumps anywhere (the old one jumped by (1, 4, 1) at A = 1/2)."""
    gen = torch.Generator().manual_seed(seed)
    raw = torch.randn(3, 5, 4, generator=gen, dtype=torch.float64) * scale
    raw[0, :, 0] = torch.linspace(0.0, 2.0, 5, dtype=torch.float64)  # areas around the old snapping points
    delta = (torch.rand(raw.shape, generator=gen, dtype=torch.float64) * 2 - 1) * step
    change = (project_feasible(raw + delta, n_pixels) - project_feasible(raw, n_pixels)).abs().max()
    assert float(change) <= 4.0 * (1 + 2 * HEAD_RELATIVE_SOFTNESS) * float(delta.abs().max()) * (1 + 1e-9) + 1e-12


def test_head_lipschitz_constant_bounds_the_l2_change():
    from mink_toolkit.surrogate.constraints import head_lipschitz_constant

    gen = torch.Generator().manual_seed(0)
    worst = 0.0
    for _ in range(200):
        raw = torch.randn(21, 4, generator=gen, dtype=torch.float64) * 30
        delta = torch.randn(21, 4, generator=gen, dtype=torch.float64) * 1e-3
        change = project_feasible(raw + delta, 1000) - project_feasible(raw, 1000)
        worst = max(worst, float(change.norm() / delta.norm()))
    assert worst <= head_lipschitz_constant(21)


def test_unconstrained_models_can_violate():
    """The check can fail: a random plain head predicts impossible values."""
    torch.manual_seed(0)
    model = MinkowskiSurrogate(THRESHOLDS, width=4, depth=2, levels=4, lipschitz_cap=None, constrained=False)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p))
    f = model(torch.rand(4, 1, 8, 8) * 5)
    assert geometric_violations(f, (8, 8))["any"] > 0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31 - 1),
    height=st.integers(1, 9),
    width=st.integers(1, 9),
    weight_scale=st.floats(1e-3, 1e3),
    rain_scale=st.floats(0.0, 1e3),
    lipschitz_cap=st.sampled_from([CONVENTIONAL_LIPSCHITZ_CAP, None]),
)
def test_constrained_conventional_model_never_violates(seed, height, width, weight_scale, rain_scale, lipschitz_cap):
    torch.manual_seed(seed)
    model = small_conventional(lipschitz_cap=lipschitz_cap, constrained=True, norm_grid=(8, 8))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * weight_scale)
    rain = torch.rand(3, 1, height, width, generator=torch.Generator().manual_seed(seed)) * rain_scale
    f, b0 = model(rain, return_components=True)
    v = geometric_violations(f, (height, width), components=b0, rtol=1e-12)  # torch and numpy square roots may differ by an ulp
    assert max(v.values()) == 0.0, v


def test_unconstrained_conventional_model_can_violate():
    torch.manual_seed(0)
    model = small_conventional(lipschitz_cap=None, constrained=False)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p))
    assert geometric_violations(model(torch.rand(4, 1, 8, 8) * 5), (8, 8))["any"] > 0
