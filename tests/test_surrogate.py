"""Tests of the Lipschitz surrogate: certificate, constraints, model, training, checkpoints."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mink_toolkit import betti_numbers, minkowski_functionals
from mink_toolkit.datasets import PatchSet, exact_targets
from mink_toolkit.surrogate import (
    CONVENTIONAL_LIPSCHITZ_CAP,
    DEFAULT_LIPSCHITZ_CAP,
    ConventionalSurrogate,
    MinkowskiSurrogate,
    conv_operator_norm,
    empirical_lipschitz,
    geometric_violations,
    lipschitz_upper_bound,
    load_surrogate,
    normalise_rain,
    project_feasible,
    save_surrogate,
    train_surrogate,
)
from mink_toolkit.surrogate.certify import attack_starts
from mink_toolkit.surrogate.norms import conv_norm_power_iteration, conv_symbol
from mink_toolkit.surrogate.constraints import _ceil_two_sqrt

THRESHOLDS = np.array([0.2, 0.5, 1.0, 3.0])


def dense_matrix(fn, shape) -> torch.Tensor:
    """Matrix of a linear map of (H, W) inputs, one basis vector at a time."""
    n = shape[0] * shape[1]
    cols = [fn(torch.eye(n, dtype=torch.float64)[i].reshape(shape)).reshape(-1) for i in range(n)]
    return torch.stack(cols, dim=1)


# ---------------------------------------------------------------- operator norms


@pytest.mark.parametrize("c_out,c_in,k", [(3, 1, 2), (2, 2, 3)])
def test_conv_operator_norm_equals_dense_circular_norm(c_out, c_in, k):
    gen = torch.Generator().manual_seed(c_out + k)
    w = torch.randn(c_out, c_in, k, k, generator=gen, dtype=torch.float64)
    grid = (5, 6)

    def circular(x):  # x: (c_in * 5, 6) stacked channels
        x = x.reshape(1, c_in, *grid)
        x = F.pad(x, (0, k - 1, 0, k - 1), mode="circular")
        return F.conv2d(x, w.flip(-1, -2))  # true convolution on the torus

    n = c_in * grid[0] * grid[1]
    cols = [circular(torch.eye(n, dtype=torch.float64)[i]).reshape(-1) for i in range(n)]
    dense = torch.stack(cols, dim=1)
    assert float(conv_operator_norm(w, grid)) == pytest.approx(float(torch.linalg.matrix_norm(dense, 2)), rel=1e-10)


@pytest.mark.parametrize("k1,k2,grid", [(3, 3, (7, 8)), (2, 3, (5, 5))])
def test_conv_symbol_is_the_rfft2_of_the_padded_kernel(k1, k2, grid):
    w = torch.randn(4, 3, k1, k2, generator=torch.Generator().manual_seed(k1), dtype=torch.float64)
    reference = torch.fft.rfft2(w, s=grid).permute(2, 3, 0, 1)
    torch.testing.assert_close(conv_symbol(w, grid), reference, rtol=1e-12, atol=1e-12)


def test_conv_norm_power_iteration_estimates_from_below_and_converges():
    gen = torch.Generator().manual_seed(3)
    w = torch.randn(6, 5, 3, 3, generator=gen, dtype=torch.float64)
    grid = (9, 10)
    exact = float(conv_operator_norm(w, grid))
    vectors = torch.randn(9, 6, 5, generator=gen, dtype=torch.complex128)
    start = vectors.clone()
    first = float(conv_norm_power_iteration(w, grid, vectors))
    assert first <= exact * (1 + 1e-12)
    assert not torch.equal(vectors, start)  # the estimates are carried
    estimates = [float(conv_norm_power_iteration(w, grid, vectors)) for _ in range(200)]
    assert all(e <= exact * (1 + 1e-12) for e in estimates)
    assert estimates[-1] == pytest.approx(exact, rel=1e-8)
    # Differentiable in the weights, like the exact norm at convergence.
    w.requires_grad_(True)
    grad_estimate = torch.autograd.grad(conv_norm_power_iteration(w, grid, vectors), w)[0]
    grad_exact = torch.autograd.grad(conv_operator_norm(w, grid), w)[0]
    torch.testing.assert_close(grad_estimate, grad_exact, rtol=1e-5, atol=1e-8)
    with pytest.raises(ValueError, match="vectors"):
        conv_norm_power_iteration(w, grid, vectors[:, :3])


def test_entry_layer_is_the_padded_convolution_and_bounded_by_its_fft_norm():
    model = MinkowskiSurrogate(THRESHOLDS, width=6, depth=1, lipschitz_cap=None).double()
    w = model.entry_weight.detach()
    shape = (4, 5)

    def entry_linear(x):  # the model's unfold + matmul, without bias
        blocks = F.unfold(F.pad(x[None, None], (1, 1, 1, 1)), 2).transpose(1, 2)
        return blocks @ w.reshape(6, 4).T

    def padded_conv(x):
        return F.conv2d(x[None, None], w, padding=1).permute(0, 2, 3, 1)

    dense = dense_matrix(entry_linear, shape)
    torch.testing.assert_close(dense, dense_matrix(padded_conv, shape))
    exact = float(torch.linalg.matrix_norm(dense, 2))
    bound = float(conv_operator_norm(w, (shape[0] + 1, shape[1] + 1)))
    assert exact <= bound + 1e-12
    assert exact > 0.5 * bound  # the bound is not vacuous


def test_weight_caps_hold_even_for_huge_raw_weights():
    model = MinkowskiSurrogate(THRESHOLDS, width=8, depth=3, lipschitz_cap=5.0)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(100.0)
    with torch.no_grad():
        w = model.layer_weights()
    assert float(conv_operator_norm(w["entry"], model.norm_grid)) <= 2.0 + 1e-5
    for m in [*w["hidden"], w["level"]]:
        assert float(torch.linalg.matrix_norm(m, 2)) <= 1.0 + 1e-5
    assert float(torch.linalg.matrix_norm(w["head"], 2)) <= model.head_norm_cap * (1 + 1e-5)
    assert float(w["slope"].max()) <= model.max_slope + 1e-5
    # Each of the 7 + 4 paths is at most lipschitz_cap = 5.
    assert lipschitz_upper_bound(model, (128, 128), of="features") <= 5.0 * np.sqrt(11 * 129 * 129 * len(THRESHOLDS)) * (
        1 + 1e-4
    )


def jacobian_norm(fn, z):
    """Spectral norm of the Jacobian of fn at the field z (H, W), flattened output."""
    jac = torch.autograd.functional.jacobian(lambda t: fn(t[None, None]).reshape(-1), z)
    return float(torch.linalg.matrix_norm(jac.reshape(jac.shape[0], -1), 2))


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


# ---------------------------------------------------------------- constraints


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


def test_head_keeps_feasible_values_and_has_the_true_gradient():
    x = np.zeros((2, 6, 6))
    x[0, 1:4, 1:3] = 2.0
    x[1, 0, 0] = 2.0
    x[1, 3:5, 2:5] = 5.0
    f, b0 = exact_targets(x, [1.0, 3.0])
    exact = torch.tensor(np.concatenate([f[..., :2], b0[..., None], f[..., 2:]], axis=-1))
    torch.testing.assert_close(project_feasible(exact, 36), exact)  # exact values are feasible: unchanged
    # Strictly inside the feasible set the head is the identity, and so is its gradient.
    inside = torch.tensor([[[20.0, 30.0, 2.5, 1.5], [12.0, 25.0, 2.0, 0.5]]], dtype=torch.float64, requires_grad=True)
    out = project_feasible(inside, 36)
    torch.testing.assert_close(out, inside.detach())
    weights = torch.arange(8.0, dtype=torch.float64).reshape(1, 2, 4)
    (grad,) = torch.autograd.grad((out * weights).sum(), inside)
    torch.testing.assert_close(grad, weights)
    # Outside, the clamped output follows its bound: a too-small perimeter gets the gradient of 4√A.
    low = torch.tensor([[[16.0, 3.0, 1.0, 1.0]]], dtype=torch.float64, requires_grad=True)
    out = project_feasible(low, 36)
    assert out[0, 0, 1].item() == 16.0  # 4√16
    (grad,) = torch.autograd.grad(out[0, 0, 1], low)
    torch.testing.assert_close(grad[0, 0], torch.tensor([0.5, 0.0, 0.0, 0.0], dtype=torch.float64))  # d(4√A)/dA = 2/√A


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n_pixels=st.integers(1, 400),
    scale=st.floats(1e-3, 1e3),
    step=st.floats(1e-9, 1.0),
)
def test_head_is_continuous_and_4_lipschitz_in_the_max_norm(seed, n_pixels, scale, step):
    """The head that replaced the projection: no jumps anywhere (the old one jumped by (1, 4, 1) at A = 1/2)."""
    gen = torch.Generator().manual_seed(seed)
    raw = torch.randn(3, 5, 4, generator=gen, dtype=torch.float64) * scale
    raw[0, :, 0] = torch.linspace(0.0, 2.0, 5, dtype=torch.float64)  # areas around the old snapping points
    delta = (torch.rand(raw.shape, generator=gen, dtype=torch.float64) * 2 - 1) * step
    change = (project_feasible(raw + delta, n_pixels) - project_feasible(raw, n_pixels)).abs().max()
    assert float(change) <= 4.0 * float(delta.abs().max()) * (1 + 1e-9) + 1e-12


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


# ---------------------------------------------------------------- model


def test_forward_shapes_units_and_errors():
    model = MinkowskiSurrogate(THRESHOLDS, width=4, depth=2, levels=4, pixel_size=2.0)
    x = torch.rand(2, 1, 10, 12) * 3
    f, b0 = model(x, return_components=True)
    assert f.shape == (2, 4, 3) and b0.shape == (2, 4) and f.dtype == torch.float64
    assert geometric_violations(f, (10, 12), pixel_size=2.0, components=b0)["any"] == 0.0
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        model(torch.rand(2, 2, 8, 8))
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        model(torch.rand(8, 8))
    with pytest.raises(TypeError, match="torch.Tensor"):
        model(np.zeros((1, 1, 8, 8)))
    with pytest.raises(TypeError, match="floating"):
        model(torch.zeros(1, 1, 8, 8, dtype=torch.int64))
    bad = torch.rand(1, 1, 8, 8)
    bad[0, 0, 3, 3] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        model(bad)
    with pytest.raises(ValueError, match="negative"):
        model(-bad.nan_to_num())
    with pytest.raises(ValueError, match="width must be even"):
        MinkowskiSurrogate(THRESHOLDS, width=5)
    with pytest.raises(ValueError, match="thresholds must be > 0"):
        MinkowskiSurrogate([0.0, 1.0])
    with pytest.raises(ValueError, match="strictly increasing"):
        MinkowskiSurrogate([1.0, 0.5])


def test_model_owns_its_input_transform():
    """Feeding mm/h is right; the model normalises inside (dry stays dry)."""
    assert normalise_rain(torch.tensor([0.0])).item() == 0.0
    model = MinkowskiSurrogate(THRESHOLDS, width=4, depth=2, levels=4)
    x = torch.rand(1, 1, 8, 8) * 3
    raw = model.features(normalise_rain(x)) @ model.layer_weights()["head"].T
    f, b0 = model(x, return_components=True)
    torch.testing.assert_close(f[..., 2], project_feasible(raw, 64)[..., 3])


def test_sum_pooling_makes_the_model_additive():
    """Two fields side by side with a 2-column dry gap: raw outputs add up, like the exact functionals.

    The joined field has 7 x 15 lattice vertices: the 7 x 7 of each part (their blocks see the
    gap as the parts' own background padding) and one column of 7 all-dry vertices.
    """
    torch.manual_seed(2)
    model = MinkowskiSurrogate(THRESHOLDS, width=4, depth=2, levels=4, constrained=False).double()
    a, b = torch.rand(1, 1, 6, 6, dtype=torch.float64) * 4, torch.rand(1, 1, 6, 6, dtype=torch.float64) * 4
    joined = torch.cat([a, torch.zeros(1, 1, 6, 2, dtype=torch.float64), b], dim=-1)
    dry_vertex = model(torch.zeros(1, 1, 1, 1, dtype=torch.float64)) / 4.0  # one dry pixel: 4 vertices
    torch.testing.assert_close(model(joined), model(a) + model(b) + 7 * dry_vertex)
    exact = minkowski_functionals(joined[0, 0].numpy(), THRESHOLDS)
    np.testing.assert_allclose(
        exact, minkowski_functionals(a[0, 0].numpy(), THRESHOLDS) + minkowski_functionals(b[0, 0].numpy(), THRESHOLDS)
    )


# ---------------------------------------------------------------- training and checkpoints


def synthetic_patches(count, size, seed):
    rng = np.random.default_rng(seed)
    rain = (rng.gamma(0.4, 2.0, (count, size, size)) * (rng.random((count, 1, 1)) < 0.9)).astype(np.float32)
    f, b0 = exact_targets(rain, THRESHOLDS)
    return PatchSet(rain, f, b0, THRESHOLDS, np.zeros(count, "datetime64[s]"), np.array(["synthetic"] * count),
                    np.zeros((count, 2), int))


def test_training_reduces_validation_loss_and_keeps_the_best_weights():
    torch.manual_seed(0)
    train, val = synthetic_patches(16, 24, 0), synthetic_patches(4, 24, 1)
    model = MinkowskiSurrogate(THRESHOLDS, width=8, depth=2, levels=6)
    result = train_surrogate(model, train, val, steps=40, batch_size=8, crop_size=16, eval_every=10,
                             patience=10, val_patches=4, progress=False)
    losses = [h["val_loss"] for h in result.history]
    assert len(losses) == 4 and result.best_val_loss == min(losses)
    assert losses[-1] < losses[0] or result.best_step < 40
    from mink_toolkit.surrogate import predict_functionals, surrogate_loss

    pred, comps = predict_functionals(model, val.rain)
    again = float(surrogate_loss(pred, torch.as_tensor(val.functionals), comps, torch.as_tensor(val.components),
                                 THRESHOLDS))
    assert again == pytest.approx(result.best_val_loss, rel=1e-5)
    with pytest.raises(ValueError, match="thresholds"):
        train_surrogate(MinkowskiSurrogate([0.3, 1.0]), train, val, steps=1, progress=False)


class _CountingBar:
    """Stands in for a shared tqdm bar: counts updates, keeps the last postfix, must not be closed."""

    def __init__(self):
        self.n, self.postfix, self.closed = 0, None, False

    def update(self, n=1):
        self.n += n

    def set_postfix(self, **kwargs):
        self.postfix = kwargs

    def close(self):
        self.closed = True


def test_training_advances_a_shared_progress_bar_once_per_step():
    # One bar can follow several trainings (notebook 03 trains five models under one bar).
    train, val = synthetic_patches(8, 16, 0), synthetic_patches(2, 16, 1)
    bar = _CountingBar()
    for seed in (0, 1):
        train_surrogate(MinkowskiSurrogate(THRESHOLDS, width=4, depth=1, levels=2), train, val, steps=6,
                        batch_size=2, crop_size=16, eval_every=3, patience=5, val_patches=2, seed=seed, progress=bar)
    assert bar.n == 12 and not bar.closed
    assert set(bar.postfix) == {"train", "val"}


def test_checkpoint_roundtrip_and_validation(tmp_path):
    torch.manual_seed(1)
    model = MinkowskiSurrogate(THRESHOLDS, width=4, depth=2, levels=4, lipschitz_cap=None)
    path = save_surrogate(model, tmp_path / "m.pt", metadata={"note": "test"})
    loaded = load_surrogate(path, thresholds=THRESHOLDS, config={"lipschitz_cap": None, "width": 4})
    x = torch.rand(2, 1, 9, 9)
    torch.testing.assert_close(loaded(x), model(x))
    assert loaded.config() == model.config()
    with pytest.raises(ValueError, match="thresholds do not match"):
        load_surrogate(path, thresholds=[0.2, 0.5, 1.0, 2.0])
    with pytest.raises(ValueError, match="lipschitz_cap"):
        load_surrogate(path, config={"lipschitz_cap": DEFAULT_LIPSCHITZ_CAP})
    with pytest.raises(ValueError, match="unknown surrogate setting"):
        load_surrogate(path, config={"colour": "blue"})
    with pytest.raises(FileNotFoundError):
        load_surrogate(tmp_path / "missing.pt")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match="corrupt"):
        load_surrogate(corrupt)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(ValueError, match="not a mink_toolkit surrogate"):
        load_surrogate(other)
    payload = torch.load(path, weights_only=True)
    payload["config"]["width"] = 6  # weights of width 4 under a width-6 configuration
    torch.save(payload, tmp_path / "mismatch.pt")
    with pytest.raises(ValueError, match="do not fit"):
        load_surrogate(tmp_path / "mismatch.pt")


def test_reproduce_writes_the_ablation(tmp_path, monkeypatch):
    """All six rows with the fields of the issue's format (a trimmed quick configuration, one seed)."""
    from mink_toolkit.__main__ import main
    from mink_toolkit.experiments import surrogate as driver

    quick = dict(driver.CONFIGS["quick"], seeds=(0,), test_patches=4, gradient_patches=1,
                 attack={"steps": 1, "data": 1, "constant": 1, "random": 0})
    monkeypatch.setitem(driver.CONFIGS, "quick", quick)
    assert main(["reproduce", "surrogate", "--quick", "--no-progress", "--output", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "surrogate.json").read_text())
    assert list(results["models"]) == ["estimator", "additive", "additive_learnt", "conventional_plain",
                                       "conventional_sn", "conventional_certified"]
    functionals = {"area", "perimeter", "euler_characteristic"}
    for name, m in results["models"].items():
        assert set(m["r2"]) == set(m["mae"]) == functionals
        assert set(m["violations"]) == {"empty_truth", "nonempty_truth"}
        assert "perimeter_min" in m["violations"]["nonempty_truth"]
        assert 0 < m["lipschitz_attacked"] <= m["lipschitz_certified"]
        assert {"high_k_share", "total_variation", "gradient_lipschitz", "relative_variance"} <= set(m["gradient"])
        assert m["parameters"] > 0 and m["contains"]
        assert m["per_seed"][0]["seed"] == 0
        assert (m["train_seconds"] > 0) == (name != "estimator")
    for name in ("estimator", "additive", "additive_learnt", "conventional_sn", "conventional_certified"):
        for group in ("empty_truth", "nonempty_truth"):  # the constrained head: no continuous violation
            assert results["models"][name]["violations"][group]["any"] == 0.0
    assert results["models"]["conventional_sn"]["settings"]["spectral_norm"]
    assert not results["models"]["additive_learnt"]["settings"]["use_order_statistics"]
    assert set(results["models"]["additive"]["gain_over_estimator"]) == functionals
    table = (tmp_path / "surrogate.md").read_text()
    assert "| `additive_learnt` |" in table and "certified L" in table
    assert (tmp_path / "checkpoints" / "additive_learnt_seed0.pt").is_file()
    assert not (tmp_path / "checkpoints" / "estimator_seed0.pt").exists()  # nothing was trained
    # The README's tables come from the JSON by a command.
    from contextlib import redirect_stdout
    from io import StringIO

    buffer = StringIO()
    with redirect_stdout(buffer):
        assert main(["reproduce", "surrogate", "--markdown", str(tmp_path / "surrogate.json")]) == 0
    assert buffer.getvalue() == table
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- surrogate:begin -->\nstale\n<!-- surrogate:end -->\nrest\n")
    assert main(["reproduce", "surrogate", "--markdown", str(tmp_path / "surrogate.json"), "--readme", str(readme)]) == 0
    assert readme.read_text() == "intro\n<!-- surrogate:begin -->\n" + table + "<!-- surrogate:end -->\nrest\n"


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


# ---------------------------------------------------------------- conventional CNN baseline


def small_conventional(**kwargs):
    return ConventionalSurrogate(THRESHOLDS, channels=(4, 6), hidden=(8,), **kwargs)


def test_conventional_forward_shapes_and_errors():
    model = small_conventional(constrained=False, pixel_size=2.0)
    for shape in [(10, 12), (9, 13), (1, 1)]:
        f, b0 = model(torch.rand(2, 1, *shape) * 3, return_components=True)
        assert f.shape == (2, 4, 3) and b0.shape == (2, 4) and f.dtype == torch.float64
    assert model.features(normalise_rain(torch.rand(3, 1, 8, 8))).shape == (3, 8)
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        model(torch.rand(2, 2, 8, 8))
    bad = torch.rand(1, 1, 8, 8)
    bad[0, 0, 1, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        model(bad)
    with pytest.raises(ValueError, match="kernel_size"):
        ConventionalSurrogate(THRESHOLDS, kernel_size=2)
    with pytest.raises(ValueError, match="channels"):
        ConventionalSurrogate(THRESHOLDS, channels=())
    with pytest.raises(ValueError, match="hidden"):
        ConventionalSurrogate(THRESHOLDS, hidden=(8, 0))


def test_strided_convolution_norm_is_bounded_by_its_circular_grid():
    """Stride 2, zero padding: the dense operator's norm is at most the FFT norm on (s + k - 1)^2."""
    gen = torch.Generator().manual_seed(5)
    w = torch.randn(3, 2, 3, 3, generator=gen, dtype=torch.float64)
    shape = (2, 5, 6)
    n = int(np.prod(shape))
    cols = [F.conv2d(torch.eye(n, dtype=torch.float64)[i].reshape(1, *shape), w, stride=2, padding=1).reshape(-1)
            for i in range(n)]
    exact = float(torch.linalg.matrix_norm(torch.stack(cols, dim=1), 2))
    bound = float(conv_operator_norm(w, (5 + 2, 6 + 2)))
    assert exact <= bound + 1e-12
    assert exact > 0.3 * bound  # not vacuous


def test_conventional_caps_hold_even_for_huge_raw_weights():
    model = small_conventional(norm_grid=(16, 16), lipschitz_cap=3.0)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(100.0)
        w = model.layer_weights()
    assert float(conv_operator_norm(w["conv"][0], (18, 18))) <= 1.0 + 1e-5
    assert float(conv_operator_norm(w["conv"][1], (10, 10))) <= 1.0 + 1e-5
    assert float(torch.linalg.matrix_norm(w["dense"][0], 2)) <= 1.0 + 1e-5
    assert float(torch.linalg.matrix_norm(w["head"], 2)) <= 3.0 * (1 + 1e-5)
    # Two 1-Lipschitz convolutions, mean pooling over the final 4 x 4 map, a 1-Lipschitz dense layer.
    assert lipschitz_upper_bound(model, (16, 16), of="features") <= 0.25 * (1 + 1e-4)


def test_power_iteration_caps_train_cheaply_and_evaluate_exactly():
    torch.manual_seed(2)
    exact = ConventionalSurrogate(THRESHOLDS, channels=(4, 6, 6), hidden=(8,), norm_grid=(16, 16)).double()
    fast = ConventionalSurrogate(THRESHOLDS, channels=(4, 6, 6), hidden=(8,), norm_grid=(16, 16),
                                 training_norms="power_iteration").double()
    fast.load_state_dict(exact.state_dict())  # the vectors are not part of the state: same checkpoint format
    assert set(fast.state_dict()) == set(exact.state_dict())
    assert fast.config()["training_norms"] == "power_iteration"
    x = torch.rand(3, 1, 16, 16, dtype=torch.float64) * 5.0
    # Training mode: the estimated caps are never looser than the exact ones (norms from below) and,
    # after the warm-up iterations, agree with them closely.
    for layer_fast, layer_exact in zip(fast.layer_weights()["conv"], exact.layer_weights()["conv"]):
        assert float(layer_fast.detach().abs().sum()) >= float(layer_exact.detach().abs().sum()) * (1 - 1e-12)
        torch.testing.assert_close(layer_fast, layer_exact, rtol=1e-4, atol=1e-6)
    # Eval mode: exactly the certified model.
    fast.eval()
    exact.eval()
    with torch.no_grad():
        torch.testing.assert_close(fast(x), exact(x), rtol=0, atol=0)
    assert lipschitz_upper_bound(fast, (16, 16)) == lipschitz_upper_bound(exact, (16, 16))
    with pytest.raises(ValueError, match="training_norms"):
        small_conventional(training_norms="approximate")


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
    # features · head · expm1 slope (1 + 4HW) · constrained head 8√n
    expected = features * head_norm * (1 + 4 * 42) * 8 * np.sqrt(len(THRESHOLDS))
    assert bound == pytest.approx(expected, rel=1e-9)


def test_spectral_norm_is_the_published_recipe_and_not_a_certificate():
    """torch's spectral_norm normalises the reshaped kernel, not the convolution: the true norm can exceed 1."""
    from torch.nn.utils.parametrizations import spectral_norm

    torch.manual_seed(0)
    model = small_conventional(spectral_norm=True)
    assert model.config()["spectral_norm"] and "parametrizations" in dict(model.named_modules())["convs.0"].__dict__["_modules"]
    conv = torch.nn.Conv2d(1, 1, 3, padding=1, bias=False)
    with torch.no_grad():
        conv.weight.fill_(1.0)  # a 3×3 box filter: reshaped-kernel norm 3, operator norm 9
    spectral_norm(conv)
    for _ in range(20):  # power iterations in training mode
        conv(torch.zeros(1, 1, 8, 8))
    conv.eval()
    assert float(torch.linalg.matrix_norm(conv.weight.detach().reshape(1, -1), 2)) == pytest.approx(1.0, rel=1e-4)
    assert float(conv_operator_norm(conv.weight.detach(), (10, 10))) == pytest.approx(3.0, rel=1e-4)
    # Its head keeps the cap, its convolutions lose the certified ones.
    assert model.lipschitz_cap == CONVENTIONAL_LIPSCHITZ_CAP and not model.certified
    assert small_conventional().certified and not small_conventional(lipschitz_cap=None).certified


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


def test_conventional_checkpoint_roundtrip(tmp_path):
    torch.manual_seed(1)
    model = small_conventional(constrained=False, norm_grid=(9, 9))
    path = save_surrogate(model, tmp_path / "conv.pt")
    loaded = load_surrogate(path, thresholds=THRESHOLDS, config={"architecture": "conventional", "channels": [4, 6]})
    assert isinstance(loaded, ConventionalSurrogate) and loaded.config() == model.config()
    x = torch.rand(2, 1, 9, 9)
    torch.testing.assert_close(loaded(x), model(x))
    with pytest.raises(ValueError, match="architecture"):
        load_surrogate(path, config={"architecture": "additive"})
    with pytest.raises(ValueError, match="channels"):
        load_surrogate(path, config={"channels": [4, 8]})
    additive = save_surrogate(MinkowskiSurrogate(THRESHOLDS, width=4, depth=2), tmp_path / "additive.pt")
    assert isinstance(load_surrogate(additive, config={"architecture": "additive"}), MinkowskiSurrogate)
    with pytest.raises(ValueError, match="architecture"):
        load_surrogate(additive, config={"architecture": "conventional"})


def test_whole_patch_training_uses_the_cached_targets(monkeypatch):
    """crop_size = patch size: whole patches, cached (D4-invariant) targets, no recomputation."""
    import mink_toolkit.surrogate.training as training

    train, val = synthetic_patches(8, 16, 4), synthetic_patches(2, 16, 5)

    def refuse(*args, **kwargs):
        raise AssertionError("exact targets recomputed for whole patches")

    monkeypatch.setattr(training, "exact_targets", refuse)
    torch.manual_seed(0)
    model = small_conventional(lipschitz_cap=None, constrained=False)
    result = train_surrogate(model, train, val, steps=20, batch_size=4, crop_size=16, lr=1e-2, eval_every=10,
                             patience=5, val_patches=2, progress=False)
    assert len(result.history) == 2 and result.best_val_loss == min(h["val_loss"] for h in result.history)
    with pytest.raises(AssertionError, match="recomputed"):  # crops still compute their targets
        train_surrogate(model, train, val, steps=1, batch_size=2, crop_size=8, progress=False)


# ------------------------------------------------------------------ one definition of the functionals


@pytest.mark.parametrize("connectivity, perimeter", [(8, "edges"), (4, "edges"), (8, "crofton"), (4, "crofton")])
def test_hard_steps_reproduce_the_exact_functionals(connectivity, perimeter):
    """The head comes from combine_terms: with hard steps the surrogate *is* the exact estimator."""
    from mink_toolkit.surrogate.models import exact_head

    rng = np.random.default_rng(3)
    # Rain on OPERA's 0.01 mm/h grid with dry patches; thresholds off the grid (no ties).
    rain = np.round(rng.gamma(0.6, 2.0, (3, 19, 23)) * (rng.random((3, 19, 23)) > 0.3), 2)
    thresholds = np.array([0.105, 0.505, 1.005, 3.165])
    model = MinkowskiSurrogate(thresholds, connectivity=connectivity, perimeter=perimeter, levels=0,
                               lipschitz_cap=None, constrained=False, pixel_size=2.0).double()
    with torch.no_grad():
        model.log_slope.fill_(np.log(1e5))  # steps far sharper than the data's spacing in z
    got = model(torch.as_tensor(rain, dtype=torch.float64)[:, None]).detach().numpy()
    expected = minkowski_functionals(rain, thresholds, connectivity=connectivity, perimeter=perimeter, pixel_size=2.0)
    # rtol: the head is a float32 parameter (π/8 and π/(8√2) are rounded there).
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
    assert model.config()["connectivity"] == connectivity and model.config()["perimeter"] == perimeter
    # The head is the one of combine_terms, not a copy: the Crofton rows use its weights.
    head = exact_head(connectivity, perimeter)
    assert head.shape == (4, 11 if perimeter == "crofton" else 7)
    if perimeter == "crofton":
        from mink_toolkit.functionals import CROFTON_DIAGONAL_WEIGHT

        assert head[1, -1].item() == pytest.approx(-CROFTON_DIAGONAL_WEIGHT)


def test_constrained_head_needs_the_estimators_it_was_proved_for():
    with pytest.raises(ValueError, match="8-connected"):
        MinkowskiSurrogate(THRESHOLDS, connectivity=4)
    with pytest.raises(ValueError, match="edge perimeter"):
        ConventionalSurrogate(THRESHOLDS, perimeter="crofton")
    with pytest.raises(ValueError, match="connectivity"):
        MinkowskiSurrogate(THRESHOLDS, connectivity=6, constrained=False)


def test_keep_freed_memory_applies_in_a_process_of_its_own():
    """The drivers' allocator setting (glibc mallopt) takes effect; run in a child so pytest is unchanged."""
    import subprocess
    import sys

    code = "from mink_toolkit.experiments import keep_freed_memory; print(keep_freed_memory())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    expected = "True" if sys.platform.startswith("linux") else out  # glibc on Linux; elsewhere it may decline
    assert out == expected
