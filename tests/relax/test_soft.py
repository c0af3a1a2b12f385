"""Tests of the relaxed Minkowski functionals (mink_toolkit.relax.soft) and the soft-excursion widget."""

import itertools

import numpy as np
import pytest
import torch

from mink_toolkit import (
    extract_patches,
    load_opera,
    membership_functionals,
    minkowski_functionals,
    offset_from_grid,
    opera_files,
    paper_relaxation,
    paper_temperature,
    resolve_temperature,
    soft_minkowski_functionals,
    soft_threshold,
)
from mink_toolkit.functionals import compress_functionals
from mink_toolkit.relax import TNORMS
from mink_toolkit.notebook.widgets import soft_excursion_explorer, soft_excursion_summary

CONFIGS = list(itertools.product((8, 4), ("edges", "crofton")))


def _r2(soft: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """R² per functional, pooled over everything but the last axis, in log1p space."""
    s, e = compress_functionals(soft).reshape(-1, 3), compress_functionals(exact).reshape(-1, 3)
    return 1 - ((s - e) ** 2).sum(0) / ((e - e.mean(0)) ** 2).sum(0)


# ------------------------------------------------------------------ hard limit


@pytest.mark.parametrize("connectivity,perimeter", CONFIGS)
@pytest.mark.parametrize("tnorm", TNORMS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_binary_input_equals_exact(connectivity, perimeter, tnorm, dtype):
    rng = np.random.default_rng(3)
    binary = (rng.random((2, 3, 19, 14)) < 0.45).astype(np.float64)
    exact = minkowski_functionals(binary, [0.5], connectivity=connectivity, perimeter=perimeter, pixel_size=2.0)
    for temperature in (1e-3, 1e-4):
        soft = soft_minkowski_functionals(
            torch.tensor(binary, dtype=dtype), [0.5], temperature,
            connectivity=connectivity, perimeter=perimeter, pixel_size=2.0, tnorm=tnorm,
        )
        assert soft.shape == exact.shape and soft.dtype == dtype
        np.testing.assert_allclose(soft.double().numpy(), exact, rtol=1e-6, atol=1e-5)


def test_converges_to_exact_off_ties():
    rng = np.random.default_rng(4)
    field = rng.gamma(0.5, 2.0, size=(3, 30, 30)).round(2)  # quantised like OPERA
    u = offset_from_grid([0.2, 1.0, 3.0])
    exact = minkowski_functionals(field, u)
    soft = soft_minkowski_functionals(torch.tensor(field), u, 1e-4)
    np.testing.assert_allclose(soft.numpy(), exact, atol=1e-6)


def test_tie_gets_one_half_at_every_temperature():
    field = torch.full((4, 5), 1.25)
    for temperature in (1e-4, 1e-2, 10.0):
        p = soft_threshold(field, 1.25, temperature)
        assert torch.all(p == 0.5)
        area = soft_minkowski_functionals(field, [1.25], temperature)[0, 0]
        assert float(area) == pytest.approx(10.0)  # half the pixels, not all (exact: 20)


# ------------------------------------------------------------------ multilinear extension


@pytest.mark.parametrize("connectivity,perimeter", CONFIGS)
def test_product_is_expected_exact_functional_monte_carlo(connectivity, perimeter):
    gen = torch.Generator().manual_seed(5)
    field = torch.rand(7, 6, generator=gen, dtype=torch.float64) * 2.0
    p = soft_threshold(field, 1.0, 0.3)
    relaxed = membership_functionals(p, connectivity=connectivity, perimeter=perimeter).numpy()
    samples = np.random.default_rng(6).random((20000, 7, 6)) < p.numpy()
    exact = minkowski_functionals(samples.astype(np.uint8), [0.5], connectivity=connectivity, perimeter=perimeter)[:, 0]
    mean = exact.mean(0)
    stderr = exact.std(0, ddof=1) / np.sqrt(len(exact))
    assert np.all(np.abs(mean - relaxed) < 3 * stderr), (mean, relaxed, stderr)


def test_fused_equals_straightforward_values_and_gradients():
    gen = torch.Generator().manual_seed(7)
    field = torch.rand(2, 11, 9, generator=gen, dtype=torch.float64) * 4
    u = [0.3, 1.0, 2.5]
    for connectivity, perimeter in CONFIGS:
        grads = []
        values = []
        for implementation in ("fused", "autograd"):
            x = field.clone().requires_grad_(True)
            out = soft_minkowski_functionals(
                x, u, 0.2, relative=True, connectivity=connectivity, perimeter=perimeter, implementation=implementation
            )
            weights = torch.linspace(0.5, 2.0, out.numel(), dtype=out.dtype).reshape(out.shape)
            (out * weights).sum().backward()
            values.append(out.detach())
            grads.append(x.grad)
        torch.testing.assert_close(values[0], values[1])
        torch.testing.assert_close(grads[0], grads[1])


# ------------------------------------------------------------------ gradients


@pytest.mark.parametrize("connectivity,perimeter", CONFIGS)
def test_gradcheck_field_and_temperature(connectivity, perimeter):
    gen = torch.Generator().manual_seed(9)
    field = (torch.rand(2, 5, 6, generator=gen, dtype=torch.float64) * 2).requires_grad_(True)
    temperature = torch.tensor([0.3, 0.5, 0.2], dtype=torch.float64, requires_grad=True)

    def fn(x, t):
        return soft_minkowski_functionals(x, [0.4, 1.0, 1.6], t, connectivity=connectivity, perimeter=perimeter)

    assert torch.autograd.gradcheck(fn, (field, temperature))


@pytest.mark.parametrize("tnorm", ["godel", "lukasiewicz"])
def test_gradcheck_other_tnorms_and_paper(tnorm):
    gen = torch.Generator().manual_seed(10)
    field = (torch.rand(4, 5, generator=gen, dtype=torch.float64) * 2).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: soft_minkowski_functionals(x, [0.7, 1.3], 0.4, tnorm=tnorm), (field,))
    assert torch.autograd.gradcheck(lambda x: paper_relaxation(x, [0.7, 1.3], 0.4, relative=False), (field,))


@pytest.mark.parametrize("kind", ["zeros", "constant", "huge"])
@pytest.mark.parametrize("temperature", [1e-4, 1e-2, 1.0, 1e2])
def test_gradients_finite(kind, temperature):
    field = torch.zeros(2, 16, 16)
    if kind == "constant":
        field += 1.005
    if kind == "huge":
        field[:, 4:8, 4:8] = 1e4
        field[:, 10, 10] = 3.0
    u = offset_from_grid(np.geomspace(0.1, 10, 5))
    for connectivity, tnorm in (
        (8, "product"), (4, "product"), (8, "godel"), (8, "lukasiewicz")
    ):
        x = field.clone().requires_grad_(True)
        t = torch.tensor(temperature, requires_grad=True)
        out = soft_minkowski_functionals(x, u, t, connectivity=connectivity, perimeter="crofton", tnorm=tnorm)
        out.sum().backward()
        assert torch.isfinite(out).all()
        assert torch.isfinite(x.grad).all() and torch.isfinite(t.grad).all()
    x = field.clone().requires_grad_(True)
    paper_relaxation(x, u, temperature, relative=False).sum().backward()
    assert torch.isfinite(x.grad).all()


def test_float32_euler_no_cancellation_on_full_composite():
    """2200 × 1900 NIMBUS field (NaN set to 0 for this numerical test): fp32 vs fp64."""
    field = np.nan_to_num(load_opera(opera_files("nimbus_rate")[0]).values, nan=0.0)
    assert field.shape == (2200, 1900)
    u = [0.105, 1.005, 5.015]
    with torch.no_grad():
        for c in (0.005, 0.1):
            single = soft_minkowski_functionals(torch.tensor(field, dtype=torch.float32), u, c, relative=True)
            double = soft_minkowski_functionals(torch.tensor(field), u, c, relative=True)
            # χ is O(100–1000) while V, E, F are O(1e5–1e6): a plain fp32
            # V − E + F is off by ~0.03 here; ours stays within 0.01.
            np.testing.assert_allclose(single[:, 2].double().numpy(), double[:, 2].numpy(), rtol=0, atol=1e-2)
            np.testing.assert_allclose(single.double().numpy(), double.numpy(), rtol=1e-6, atol=1e-2)


# ------------------------------------------------------------------ accuracy on real data


@pytest.fixture(scope="module")
def nimbus_patches() -> np.ndarray:
    """A fixed subset: the first 8 fully covered, >= 5 % wet 128 × 128 patches of the 01:00 NIMBUS rate."""
    patches = extract_patches(load_opera(opera_files("nimbus_rate")[0]), size=128, min_coverage=1.0,
                              min_wet_fraction=0.05)
    return patches.values[:8]


def test_accuracy_on_nimbus_patches(nimbus_patches):
    u = offset_from_grid(np.geomspace(0.1, 10, 21))
    # Off the 0.01 mm/h quantisation grid: no data value within 0.004 mm/h of a threshold.
    assert np.abs(nimbus_patches[..., None] - u).min() > 0.004
    exact = minkowski_functionals(nimbus_patches, u)
    x = torch.tensor(nimbus_patches, dtype=torch.float32)
    ours = soft_minkowski_functionals(x, u, 0.005, relative=True).double().numpy()
    paper = paper_relaxation(x, u, 0.005, relative=True, min_temperature=None).double().numpy()
    r2_ours, r2_paper = _r2(ours, exact), _r2(paper, exact)
    assert np.all(r2_ours >= 0.999), r2_ours
    # The published variant misses perimeter and topology at the same temperature.
    assert r2_paper[1] < 0.99 and r2_paper[2] < 0.5, r2_paper
    # Large T: dense gradients but biased values.
    biased = soft_minkowski_functionals(x, u, 0.2, relative=True).double().numpy()
    assert np.all(_r2(biased, exact) < 0.9)


# ------------------------------------------------------------------ temperatures and bad input


def test_resolve_temperature_forms():
    u = [0.5, 1.0, 4.0]
    torch.testing.assert_close(resolve_temperature(u, 0.1, relative=True), torch.tensor([0.05, 0.1, 0.4], dtype=torch.float64))
    torch.testing.assert_close(resolve_temperature(u, 0.2), torch.full((3,), 0.2, dtype=torch.float64))
    per = torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64)
    torch.testing.assert_close(resolve_temperature(u, per), per)
    floor = resolve_temperature([0.0, 1.0], 0.1, relative=True, min_temperature=1e-3)
    torch.testing.assert_close(floor, torch.tensor([1e-3, 0.1], dtype=torch.float64))
    np.testing.assert_allclose(paper_temperature([0.005, 0.1, 2.0]), [1e-3, 1e-2, 0.2])
    # Per-threshold temperature gives the same result as separate calls.
    field = torch.rand(6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(2)) * 5
    joint = soft_minkowski_functionals(field, u, per)
    for k in range(3):
        torch.testing.assert_close(joint[k], soft_minkowski_functionals(field, [u[k]], float(per[k]))[0])


@pytest.mark.parametrize("temperature", [0.0, -1.0, float("nan"), float("inf"), torch.tensor([0.1, -0.1])])
def test_bad_temperature(temperature):
    with pytest.raises(ValueError, match="temperature"):
        soft_minkowski_functionals(torch.rand(4, 4), [0.3, 0.6], temperature)


def test_relative_temperature_zero_threshold_needs_floor():
    with pytest.raises(ValueError, match="temperature"):
        soft_minkowski_functionals(torch.rand(4, 4), [0.0, 0.6], 0.1, relative=True)
    soft_minkowski_functionals(torch.rand(4, 4), [0.0, 0.6], 0.1, relative=True, min_temperature=1e-3)


def test_bad_inputs():
    good = torch.rand(4, 4)
    with pytest.raises(ValueError, match="thresholds"):
        soft_minkowski_functionals(good, [0.5, 0.2], 0.1)
    with pytest.raises(ValueError, match="field"):
        soft_minkowski_functionals(torch.rand(5), [0.5], 0.1)
    with pytest.raises(TypeError, match="field"):
        soft_minkowski_functionals(torch.ones(4, 4, dtype=torch.int64), [0.5], 0.1)
    with pytest.raises(TypeError, match="field"):
        soft_minkowski_functionals(np.ones((4, 4)), [0.5], 0.1)
    nan_field = good.clone()
    nan_field[1, 1] = float("nan")
    with pytest.raises(ValueError, match="field contains NaN"):
        soft_minkowski_functionals(nan_field, [0.5], 0.1)
    with pytest.raises(ValueError, match="field contains NaN"):
        paper_relaxation(nan_field, [0.5])
    with pytest.raises(ValueError, match="field is empty"):
        soft_minkowski_functionals(torch.rand(0, 4), [0.5], 0.1)
    with pytest.raises(ValueError, match="tnorm"):
        soft_minkowski_functionals(good, [0.5], 0.1, tnorm="max")
    with pytest.raises(ValueError, match="connectivity"):
        soft_minkowski_functionals(good, [0.5], 0.1, connectivity=6)
    with pytest.raises(ValueError, match="temperature"):
        soft_minkowski_functionals(good, [0.5, 0.7], torch.tensor([0.1, 0.2, 0.3]))
    with pytest.raises(ValueError, match="membership"):
        membership_functionals(torch.full((3, 3), 1.5))


def test_soft_threshold_shapes():
    x = torch.rand(2, 3, 5, 6)
    assert soft_threshold(x, 0.5, 0.1).shape == (2, 3, 5, 6)
    assert soft_threshold(x, [0.2, 0.5], 0.1).shape == (2, 3, 2, 5, 6)
    assert soft_minkowski_functionals(x, [0.2, 0.5, 0.7], 0.1).shape == (2, 3, 3, 3)


# ------------------------------------------------------------------ widget (no browser)


def test_soft_excursion_summary_and_widget():
    rng = np.random.default_rng(11)
    field = rng.gamma(0.6, 1.5, size=(24, 20)).round(2)
    field[:3, 0] = 1.0
    u = offset_from_grid([0.2, 1.0, 3.0])
    out = soft_excursion_summary(field, u[1], 1e-4)
    np.testing.assert_allclose(out["soft"], minkowski_functionals(field, [u[1]])[0], atol=1e-4)
    assert out["membership"].shape == field.shape and out["ties"] == 0
    ties = soft_excursion_summary(field, 1.0, 1e-4)
    assert ties["ties"] == np.count_nonzero(field == 1.0) >= 3
    assert ties["soft"][0] == pytest.approx(minkowski_functionals(field, [1.0])[0, 0] - ties["ties"] / 2)

    box = soft_excursion_explorer(field, u, temperature=1e-3, draw=False)
    before = box.summary.value
    box.threshold_slider.value = float(u[2])
    assert box.summary.value != before and "u = 3" in box.summary.value
    soft_area_small_t = box.summary.value
    box.temperature_slider.value = 5.0  # large T: soft area far from exact
    assert box.summary.value != soft_area_small_t and "T = 5" in box.summary.value
    expected = soft_excursion_summary(field, float(u[2]), 5.0)["soft"][0]
    assert f"area {expected:.1f}" in box.summary.value
    with pytest.raises(ValueError, match="finite"):
        soft_excursion_explorer(np.full((4, 4), np.nan), draw=False)


# ------------------------------------------------------------------ compiled path and devices


def test_compiled_core_has_no_graph_break_and_matches_eager():
    """compile=True: one graph (fullgraph=True would raise on a break), values and gradients as eager."""
    from mink_toolkit.relax.soft import _soft_functionals_core

    torch.manual_seed(0)
    field = (torch.rand(1, 16, 16) * 3).requires_grad_(True)
    u, t = torch.tensor([0.3, 1.0, 2.0]), torch.tensor([0.1, 0.1, 0.1])
    options = (8, "edges", 1.0, "product", "fused")
    explained = torch._dynamo.explain(_soft_functionals_core)(field, u, t, *options)
    assert explained.graph_break_count == 0 and explained.graph_count == 1
    eager = soft_minkowski_functionals(field, [0.3, 1.0, 2.0], 0.1)
    compiled = soft_minkowski_functionals(field, [0.3, 1.0, 2.0], 0.1, compile=True)
    torch.testing.assert_close(compiled, eager, rtol=1e-5, atol=1e-4)
    (g_eager,) = torch.autograd.grad(eager.sum(), field)
    (g_compiled,) = torch.autograd.grad(compiled.sum(), field)
    torch.testing.assert_close(g_compiled, g_eager, rtol=1e-5, atol=1e-5)


def test_compile_must_be_a_bool():
    with pytest.raises(TypeError, match="compile must be True or False"):
        soft_minkowski_functionals(torch.rand(4, 4), [0.5], 0.1, compile="yes")
    with pytest.raises(TypeError, match="compile must be True or False"):
        soft_minkowski_functionals(torch.rand(4, 4), [0.5], 0.1, compile=1)


def test_core_runs_on_the_meta_device():
    """Shapes through the core on ``meta``: every tensor it makes follows its input's device.

    The public function needs values at its boundary (the finite check, the
    temperature checks), which a meta tensor does not have, so the core is
    what runs here; a constant made on the default device would meet the
    meta tensors and raise.
    """
    from mink_toolkit.relax.soft import _soft_functionals_core

    field = torch.empty(2, 5, 16, 12, device="meta")
    u, t = torch.empty(3, device="meta"), torch.empty(3, device="meta")
    for connectivity, perimeter in CONFIGS:
        out = _soft_functionals_core(field, u, t, connectivity, perimeter, 1.0, "product", "fused")
        assert out.device.type == "meta" and out.shape == (2, 5, 3, 3)
    field.requires_grad_(True)
    out = _soft_functionals_core(field, u, t, 8, "crofton", 1.0, "product", "fused")
    (grad,) = torch.autograd.grad(out.sum(), field)
    assert grad.device.type == "meta" and grad.shape == field.shape


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_result_and_gradient_follow_the_field_dtype(dtype):
    """A CPU proxy of device-readiness: thresholds, temperatures and constants follow the field."""
    field = (torch.rand(2, 8, 8, dtype=dtype) * 3).requires_grad_(True)
    temperature = torch.tensor(0.1, dtype=torch.float64, requires_grad=True)
    out = soft_minkowski_functionals(field, [0.5, 2.0], temperature, relative=True)
    assert out.dtype == dtype
    grad_field, grad_t = torch.autograd.grad(out.sum(), (field, temperature))
    assert grad_field.dtype == dtype and grad_t.dtype == torch.float64
