"""Tests of mink_toolkit.surrogate.models: the additive surrogate, its caps, input transform and head."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mink_toolkit import minkowski_functionals
from mink_toolkit.surrogate import (
    ConventionalSurrogate,
    MinkowskiSurrogate,
    conv_operator_norm,
    geometric_violations,
    lipschitz_upper_bound,
    normalise_rain,
    project_feasible,
)
from ._helpers import THRESHOLDS, dense_matrix


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


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        (dict(lipschitz_cap=0.0), ValueError, ["lipschitz_cap", "0.0"]),
        (dict(lipschitz_cap=-1), ValueError, ["lipschitz_cap", "-1"]),
        (dict(lipschitz_cap=float("inf")), ValueError, ["lipschitz_cap", "inf"]),
        (dict(lipschitz_cap=float("nan")), ValueError, ["lipschitz_cap", "nan"]),
        (dict(lipschitz_cap=True), TypeError, ["lipschitz_cap", "True"]),
        (dict(lipschitz_cap="16"), TypeError, ["lipschitz_cap", "'16'"]),
        (dict(head_norm_cap=0.0), ValueError, ["head_norm_cap", "0.0"]),
        (dict(norm_grid=(0, 0)), ValueError, ["norm_grid", "0"]),
        (dict(norm_grid=(129,)), TypeError, ["norm_grid", "(129,)"]),
        (dict(norm_grid=(129.0, 129)), TypeError, ["norm_grid"]),
        (dict(constrained="yes"), TypeError, ["constrained", "'yes'"]),
        (dict(use_order_statistics=1), TypeError, ["use_order_statistics", "1"]),
        (dict(width=0), ValueError, ["width"]),
        (dict(activation="tanh"), ValueError, ["activation", "tanh"]),
    ],
)
def test_constructor_refuses_what_the_forward_pass_cannot_use(kwargs, error, words):
    """Checked when the model is built, not at its first forward pass."""
    with pytest.raises(error) as info:
        MinkowskiSurrogate(THRESHOLDS, **kwargs)
    for word in words:
        assert word in str(info.value)


def test_thresholds_must_be_finite_and_positive():
    with pytest.raises(ValueError, match=r"thresholds must be finite; got \[0.5, inf\]"):
        MinkowskiSurrogate([0.5, np.inf])
    for thresholds in ([0.0, 1.0], [-1.0, 1.0]):
        with pytest.raises(ValueError, match="thresholds must be > 0 for a field in mm/h"):
            MinkowskiSurrogate(thresholds)


def test_lipschitz_cap_none_is_the_uncapped_model_and_the_default_is_written_once():
    from mink_toolkit.surrogate import DEFAULT_LIPSCHITZ_CAP, with_lipschitz_cap
    from mink_toolkit.surrogate.models import check_lipschitz_cap

    assert MinkowskiSurrogate(THRESHOLDS).lipschitz_cap == DEFAULT_LIPSCHITZ_CAP == 16.0
    torch.manual_seed(0)
    capped = MinkowskiSurrogate(THRESHOLDS, width=4, depth=2, levels=2)
    with torch.no_grad():
        capped.log_slope.fill_(np.log(1e3))  # above the cap 2L = 32
    plain = MinkowskiSurrogate(THRESHOLDS, width=4, depth=2, levels=2, lipschitz_cap=None)
    plain.load_state_dict(capped.state_dict())
    assert plain.max_slope is None and capped.max_slope == 2 * DEFAULT_LIPSCHITZ_CAP
    assert float(plain.layer_weights()["slope"].detach().max()) == pytest.approx(1e3)
    assert float(capped.layer_weights()["slope"].detach().max()) == pytest.approx(32.0)
    assert with_lipschitz_cap(capped, 1.0).max_slope == 2.0 and capped.lipschitz_cap == DEFAULT_LIPSCHITZ_CAP
    for bad in (None, 0.0, float("inf")):
        with pytest.raises(ValueError, match="lipschitz_cap"):
            with_lipschitz_cap(capped, bad)
    assert check_lipschitz_cap(4) == 4.0 and check_lipschitz_cap(np.float32(2.0)) == 2.0


def test_compiled_forward_matches_eager_and_keeps_the_config(monkeypatch):
    """compile=True: the input is checked eagerly, the rest is one compiled graph; config() and state unchanged."""
    # The graph capture and autograd of torch.compile without inductor's code generation (a minute
    # here): inductor itself is exercised on the relaxed functionals and the loss.
    monkeypatch.setenv("MINK_COMPILE_BACKEND", "aot_eager")
    torch.manual_seed(0)
    eager = MinkowskiSurrogate(THRESHOLDS, width=4, depth=1, levels=2)
    fast = MinkowskiSurrogate(THRESHOLDS, width=4, depth=1, levels=2, compile=True)
    fast.load_state_dict(eager.state_dict())
    assert fast.compiled and not eager.compiled and fast.config() == eager.config()
    assert "compile" not in fast.config() and callable(fast.compile)  # nn.Module.compile is not shadowed
    rain = torch.rand(4, 1, 16, 16) * 4
    out_e, comp_e = eager(rain, return_components=True)
    out_c, comp_c = fast(rain, return_components=True)
    torch.testing.assert_close(out_c, out_e, rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(comp_c, comp_e, rtol=1e-4, atol=1e-3)
    grads_e = torch.autograd.grad(out_e.sum(), list(eager.parameters()))
    grads_c = torch.autograd.grad(out_c.sum(), list(fast.parameters()))
    for g_c, g_e in zip(grads_c, grads_e):
        torch.testing.assert_close(g_c, g_e, rtol=1e-3, atol=1e-3)
    with pytest.raises(ValueError, match="NaN"):  # the check stays in front of the compiled graph
        fast(torch.full((1, 1, 16, 16), float("nan")))
    with pytest.raises(TypeError, match="compile must be True or False"):
        MinkowskiSurrogate(THRESHOLDS, compile="yes")
    with pytest.raises(TypeError, match="compile must be True or False"):
        ConventionalSurrogate(THRESHOLDS, compile=1)
