"""Exact Minkowski functionals: references, oracles, invariances, errors."""

import numpy as np
import pytest
import xarray as xr
from skimage.measure import euler_number, label

from mink_toolkit import betti_numbers, minkowski_functionals
from mink_toolkit.functionals import combine_terms, configuration_counts, required_terms

RNG = np.random.default_rng(20261127)


def _edge_count(mask: np.ndarray) -> int:
    """Direct count of unit edges between set and background (outside = background)."""
    padded = np.pad(mask.astype(np.int8), 1)
    return int(np.abs(np.diff(padded, axis=0)).sum() + np.abs(np.diff(padded, axis=1)).sum())


def _random_masks(count=200):
    for _ in range(count):
        h, w = RNG.integers(1, 40, size=2)
        yield RNG.random((h, w)) < RNG.random()


def _per_threshold(field, thresholds, connectivity=8, perimeter="edges"):
    """Reference: one binary image per threshold, counted independently."""
    rows = []
    for u in thresholds:
        mask = field >= u
        rows.append(minkowski_functionals(mask, [0.5], connectivity=connectivity, perimeter=perimeter)[0])
    return np.array(rows)


# --------------------------------------------------------------------- references


@pytest.mark.parametrize("connectivity", [4, 8])
def test_euler_matches_skimage_and_edges_match_direct_count(connectivity):
    for mask in _random_masks():
        area, length, euler = minkowski_functionals(mask, 0.5, connectivity=connectivity)[0]
        # skimage counts on the array as given: pad so outside = background.
        assert euler == euler_number(np.pad(mask, 1), connectivity=1 if connectivity == 4 else 2)
        assert length == _edge_count(mask)
        assert area == mask.sum()


@pytest.mark.parametrize("connectivity", [4, 8])
def test_euler_is_components_minus_holes(connectivity):
    for mask in _random_masks(100):
        euler = minkowski_functionals(mask, 0.5, connectivity=connectivity)[0, 2]
        b0, b1 = betti_numbers(mask, 0.5, connectivity=connectivity)[0]
        assert euler == b0 - b1
        assert b0 == label(mask, connectivity=2 if connectivity == 8 else 1).max()


@pytest.mark.parametrize("perimeter", ["edges", "crofton"])
@pytest.mark.parametrize("connectivity", [4, 8])
def test_nested_single_pass_equals_per_threshold_definition(connectivity, perimeter):
    field = RNG.gamma(0.5, 2.0, size=(3, 37, 29))
    field[field < 0.3] = 0.0
    thresholds = np.array([0.05, 0.2, 0.5, 1.0, 2.0, 4.0, 8.0])
    result = minkowski_functionals(field, thresholds, connectivity=connectivity, perimeter=perimeter)
    assert result.shape == (3, thresholds.size, 3)
    for b in range(3):
        expected = _per_threshold(field[b], thresholds, connectivity, perimeter)
        np.testing.assert_allclose(result[b], expected, rtol=0, atol=1e-9)


def test_opera_patches_match_skimage(opera_rate_field):
    field = np.nan_to_num(opera_rate_field, nan=0.0)
    thresholds = np.geomspace(0.105, 10.05, 7)  # off the 0.01 mm/h quantisation grid
    # three 128x128 patches from the wet part of the composite
    wet_rows, wet_cols = np.nonzero(field > 1.0)
    for k in (0, len(wet_rows) // 2, len(wet_rows) - 1):
        r = int(np.clip(wet_rows[k] - 64, 0, field.shape[0] - 128))
        c = int(np.clip(wet_cols[k] - 64, 0, field.shape[1] - 128))
        patch = field[r : r + 128, c : c + 128]
        result = minkowski_functionals(patch, thresholds)
        for i, u in enumerate(thresholds):
            mask = patch >= u
            assert result[i, 0] == mask.sum()
            assert result[i, 1] == _edge_count(mask)
            assert result[i, 2] == euler_number(np.pad(mask, 1), connectivity=2)


# --------------------------------------------------------------------- oracles


@pytest.mark.parametrize("n", [1, 2, 5, 17])
def test_square(n):
    field = np.zeros((n + 6, n + 4))
    field[3 : 3 + n, 2 : 2 + n] = 1.0
    for connectivity in (4, 8):
        np.testing.assert_array_equal(
            minkowski_functionals(field, 0.5, connectivity=connectivity)[0], [n * n, 4 * n, 1]
        )


def test_annulus_and_separate_discs():
    yy, xx = np.mgrid[-30:31, -30:31]
    radius = np.hypot(yy, xx)
    annulus = (radius <= 20) & (radius >= 10)
    for connectivity in (4, 8):
        assert minkowski_functionals(annulus, 0.5, connectivity=connectivity)[0, 2] == 0
    discs = np.zeros((40, 130), dtype=bool)
    yy, xx = np.mgrid[0:40, 0:130]
    k = 5
    for i in range(k):
        discs |= np.hypot(yy - 20, xx - (12 + 25 * i)) <= 8
    assert minkowski_functionals(discs, 0.5)[0, 2] == k
    assert betti_numbers(discs, 0.5)[0].tolist() == [k, 0]


def test_checkerboard_connectivity():
    board = (np.indices((8, 8)).sum(axis=0) % 2).astype(float)
    # 4-connected: 32 isolated pixels; 8-connected: one component with holes.
    assert minkowski_functionals(board, 0.5, connectivity=4)[0, 2] == 32
    b0, b1 = betti_numbers(board, 0.5, connectivity=8)[0]
    assert b0 == 1
    assert minkowski_functionals(board, 0.5, connectivity=8)[0, 2] == b0 - b1
    assert b1 > 0


def test_empty_and_full_fields_and_out_of_range_thresholds():
    full = np.full((6, 9), 3.0)
    res = minkowski_functionals(full, [-1.0, 3.0, 3.5, 1e6])
    np.testing.assert_array_equal(res[0], [54, 30, 1])
    np.testing.assert_array_equal(res[1], [54, 30, 1])  # x >= u includes equality
    np.testing.assert_array_equal(res[2], [0, 0, 0])
    np.testing.assert_array_equal(res[3], [0, 0, 0])
    empty = np.zeros((5, 5))
    np.testing.assert_array_equal(minkowski_functionals(empty, [0.1, 1.0]), np.zeros((2, 3)))


def test_invariant_under_the_eight_rotations_and_flips():
    field = RNG.gamma(0.6, 2.0, size=(31, 23))
    thresholds = [0.1, 0.7, 2.0, 5.0]
    for perimeter in ("edges", "crofton"):
        reference = minkowski_functionals(field, thresholds, perimeter=perimeter)
        for k in range(4):
            for flip in (False, True):
                image = np.rot90(field, k)
                image = image[:, ::-1] if flip else image
                np.testing.assert_allclose(
                    minkowski_functionals(image, thresholds, perimeter=perimeter), reference, atol=1e-9
                )


def test_crofton_is_nearly_unbiased_on_discs_and_edges_overestimate():
    rng = np.random.default_rng(7)
    for radius in (5.0, 7.5, 10.0, 20.0, 35.0, 50.0):
        ratios = {"edges": [], "crofton": []}
        size = int(radius) + 3
        yy, xx = np.mgrid[-size : size + 1, -size : size + 1]
        for _ in range(16):  # average over sub-pixel centre positions
            cy, cx = rng.random(2)
            disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2
            for perimeter in ratios:
                length = minkowski_functionals(disc, 0.5, perimeter=perimeter)[0, 1]
                ratios[perimeter].append(length / (2 * np.pi * radius))
        assert abs(np.mean(ratios["crofton"]) - 1) < 0.02, (radius, np.mean(ratios["crofton"]))
        assert abs(np.mean(ratios["edges"]) - 4 / np.pi) < 0.02, (radius, np.mean(ratios["edges"]))


def test_pixel_size_scales_area_and_perimeter_only():
    field = RNG.random((20, 20))
    base = minkowski_functionals(field, [0.3, 0.6])
    scaled = minkowski_functionals(field, [0.3, 0.6], pixel_size=2.0)
    np.testing.assert_allclose(scaled[..., 0], 4 * base[..., 0])
    np.testing.assert_allclose(scaled[..., 1], 2 * base[..., 1])
    np.testing.assert_allclose(scaled[..., 2], base[..., 2])


def test_batch_dims_are_independent():
    field = RNG.random((2, 3, 15, 16))
    batched = minkowski_functionals(field, [0.2, 0.5, 0.9])
    assert batched.shape == (2, 3, 3, 3)
    for i in range(2):
        for j in range(3):
            np.testing.assert_array_equal(batched[i, j], minkowski_functionals(field[i, j], [0.2, 0.5, 0.9]))


def test_combine_terms_is_the_single_definition():
    field = RNG.random((1, 12, 14))
    thresholds = np.array([0.25, 0.5, 0.75])
    levels = np.searchsorted(thresholds, field, side="right").astype(np.uint8)
    for connectivity in (4, 8):
        for perimeter in ("edges", "crofton"):
            names = required_terms(connectivity, perimeter)
            terms = configuration_counts(levels, 3, names)
            combined = np.stack(combine_terms(terms, connectivity=connectivity, perimeter=perimeter), -1)
            np.testing.assert_array_equal(
                combined[0],
                minkowski_functionals(field[0], thresholds, connectivity=connectivity, perimeter=perimeter),
            )


# --------------------------------------------------------------------- NaN policies


def test_nan_policies():
    field = np.zeros((10, 12))
    field[2:8, 2:6] = 5.0
    field[:, 7:] = np.nan  # outside coverage, touching nothing wet
    field[2:8, 6] = 5.0  # wet pixels along the coverage edge
    with pytest.raises(ValueError, match="field"):
        minkowski_functionals(field, [1.0])
    background = minkowski_functionals(field, [1.0], nan_policy="background")[0]
    window = minkowski_functionals(field, [1.0], nan_policy="window")[0]
    # 6x5 rectangle: area 30, edge perimeter 22, chi 1.
    np.testing.assert_array_equal(background, [30, 22, 1])
    # window: the 6 edges along the NaN column are not boundary of the observed set.
    np.testing.assert_array_equal(window, [30, 16, 1])
    # Without NaN, a set away from the array border has the same functionals
    # under every policy ...
    clean = np.nan_to_num(field)
    np.testing.assert_array_equal(
        minkowski_functionals(clean, [1.0], nan_policy="window"), minkowski_functionals(clean, [1.0])
    )
    # ... but the array border is the window's edge too: a set touching it
    # loses exactly its edges on the border (here the 6 on the left column).
    touching = np.zeros((10, 12))
    touching[2:8, 0:5] = 5.0
    np.testing.assert_array_equal(minkowski_functionals(touching, [1.0])[0], [30, 22, 1])
    np.testing.assert_array_equal(minkowski_functionals(touching, [1.0], nan_policy="window")[0], [30, 16, 1])


@pytest.mark.parametrize("perimeter", ["edges", "crofton"])
def test_window_perimeter_of_a_set_filling_its_window_is_zero(perimeter):
    """A 9x5 set bounded only by the array border and NaN has no boundary inside the window."""
    from mink_toolkit.functionals import CROFTON_AXIAL_WEIGHT, CROFTON_DIAGONAL_WEIGHT

    field = np.full((9, 9), 2.0)
    field[:, 5:] = np.nan
    window = minkowski_functionals(field, [1.0], nan_policy="window", perimeter=perimeter)[0]
    np.testing.assert_array_equal(window[[0, 2]], [45, 1])
    assert window[1] == 0.0
    # One dry pixel inside: its 4 (edges) or 4 axial + 4 diagonal (Crofton) transitions.
    field[4, 2] = 0.0
    expected = 4.0 if perimeter == "edges" else (
        4 * CROFTON_AXIAL_WEIGHT + 4 * CROFTON_DIAGONAL_WEIGHT
    )
    assert minkowski_functionals(field, [1.0], nan_policy="window", perimeter=perimeter)[0, 1] == pytest.approx(expected)


# --------------------------------------------------------------------- xarray


def test_xarray_in_dataset_out_and_dask_lazy_equals_numpy():
    data = RNG.gamma(0.5, 2.0, size=(4, 20, 24))
    da = xr.DataArray(
        data,
        dims=("time", "y", "x"),
        coords={"time": np.arange(4), "y": np.arange(20)[::-1] * 2000.0, "x": np.arange(24) * 2000.0},
        attrs={"units": "mm/h", "quantity": "RATE"},
    )
    thresholds = [0.1, 1.0, 5.0]
    ds = minkowski_functionals(da, thresholds)
    assert isinstance(ds, xr.Dataset)
    assert set(ds.data_vars) == {"area", "perimeter", "euler_characteristic"}
    assert ds["area"].dims == ("time", "threshold")
    assert ds["threshold"].attrs["units"] == "mm/h"
    np.testing.assert_array_equal(ds["time"], da["time"])
    expected = minkowski_functionals(data, thresholds)
    np.testing.assert_array_equal(ds["perimeter"].values, expected[..., 1])
    lazy = minkowski_functionals(da.chunk({"time": 1}), thresholds)
    assert lazy["area"].chunks is not None  # still lazy
    np.testing.assert_array_equal(lazy["euler_characteristic"].compute().values, expected[..., 2])


# --------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"field": np.zeros(5)}, ValueError, "field"),
        ({"field": np.zeros((3, 3), dtype=complex)}, TypeError, "field"),
        ({"field": np.array([["a", "b"], ["c", "d"]])}, TypeError, "field"),
        ({"field": np.zeros((0, 4))}, ValueError, "field"),
        ({"field": np.full((3, 3), np.nan)}, ValueError, "field"),
        ({"thresholds": [1.0, 0.5]}, ValueError, "thresholds"),
        ({"thresholds": [1.0, 1.0]}, ValueError, "thresholds"),
        ({"thresholds": [0.1, np.nan]}, ValueError, "thresholds"),
        ({"thresholds": []}, ValueError, "thresholds"),
        ({"connectivity": 6}, ValueError, "connectivity"),
        ({"perimeter": "marching"}, ValueError, "perimeter"),
        ({"pixel_size": 0.0}, ValueError, "pixel_size"),
        ({"pixel_size": -2.0}, ValueError, "pixel_size"),
        ({"nan_policy": "zero"}, ValueError, "nan_policy"),
    ],
)
def test_bad_input_names_the_argument(kwargs, error, match):
    args = {"field": np.ones((4, 4)), "thresholds": [0.5]}
    args.update(kwargs)
    field = args.pop("field")
    thresholds = args.pop("thresholds")
    with pytest.raises(error, match=match):
        minkowski_functionals(field, thresholds, **args)


def test_input_is_not_modified():
    field = RNG.random((10, 10))
    field[0, 0] = np.nan
    copy = field.copy()
    minkowski_functionals(field, [0.5], nan_policy="background")
    np.testing.assert_array_equal(field, copy)


def _window_boundary_reference(field, u, diagonal=False):
    """Brute force: set/background transitions between two observed pixels of the array."""
    observed = ~np.isnan(field)
    inside = np.nan_to_num(field, nan=-np.inf) >= u
    steps = [(1, 1), (1, -1)] if diagonal else [(0, 1), (1, 0)]
    count = 0
    h, w = inside.shape
    for i in range(h):
        for j in range(w):
            for di, dj in steps:
                k, m = i + di, j + dj
                if 0 <= k < h and 0 <= m < w and observed[i, j] and observed[k, m]:
                    count += inside[i, j] != inside[k, m]
    return count


@pytest.mark.parametrize("perimeter", ["edges", "crofton"])
def test_window_perimeter_matches_brute_force_on_random_coverage(perimeter):
    from mink_toolkit.functionals import CROFTON_AXIAL_WEIGHT, CROFTON_DIAGONAL_WEIGHT

    rng = np.random.default_rng(11)
    for _ in range(25):
        h, w = rng.integers(2, 14, size=2)
        field = rng.gamma(0.7, 1.5, size=(h, w))
        # Some fields without NaN: the array border alone is then the window's edge.
        field[rng.random((h, w)) < rng.random() * 0.6 - 0.1] = np.nan
        thresholds = [0.3, 1.0, 2.5]
        result = minkowski_functionals(field, thresholds, nan_policy="window", perimeter=perimeter)
        background = minkowski_functionals(field, thresholds, nan_policy="background", perimeter=perimeter)
        for k, u in enumerate(thresholds):
            axial = _window_boundary_reference(field, u)
            if perimeter == "edges":
                expected = axial
            else:
                diagonal = _window_boundary_reference(field, u, diagonal=True)
                expected = CROFTON_AXIAL_WEIGHT * axial + CROFTON_DIAGONAL_WEIGHT * diagonal
            assert result[k, 1] == pytest.approx(expected, abs=1e-9)
            # area and chi are those of the observed part of the set
            np.testing.assert_array_equal(result[k, [0, 2]], background[k, [0, 2]])


# ------------------------------------------------------------------ loss space






def test_compress_and_expand_are_inverse_on_numpy_and_torch():
    import torch

    from mink_toolkit.functionals import compress_functionals, expand_functionals

    f = np.array([[0.0, 0.0, 0.0], [9.0, 12.0, 1.0], [1e4, 3e3, -250.0]])
    expected = np.stack([np.log1p(f[:, 0]), np.log1p(f[:, 1]), np.sign(f[:, 2]) * np.log1p(np.abs(f[:, 2]))], -1)
    np.testing.assert_allclose(compress_functionals(f), expected)
    np.testing.assert_allclose(expand_functionals(compress_functionals(f)), f, rtol=1e-12)
    t = torch.tensor(f, requires_grad=True)
    out = compress_functionals(t)
    assert isinstance(out, torch.Tensor) and out.requires_grad
    np.testing.assert_allclose(out.detach().numpy(), expected)
    np.testing.assert_allclose(expand_functionals(out).detach().numpy(), f, rtol=1e-12)
    # An emulator may predict negative sizes: they compress to 0, not NaN.
    assert compress_functionals(np.array([-3.0, -1.0, 0.0])).tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match=r"\(\.\.\., 3\)"):
        compress_functionals(np.zeros((2, 4)))


@pytest.mark.parametrize("connectivity", [8, 4])
def test_component_counts_label_every_set_on_its_own(connectivity):
    """One 3-D labelling per chunk counts what skimage counts mask by mask, across chunk boundaries."""
    from skimage.measure import label

    from mink_toolkit import component_counts
    from mink_toolkit.functionals import _betti

    rng = np.random.default_rng(7)
    rain = rng.gamma(0.5, 2.0, (5, 2, 13, 11)) * (rng.random((5, 2, 13, 11)) > 0.4)
    thresholds = [0.2, 1.0, 3.0]
    expected = np.array([[label(np.pad(x >= u, 1), connectivity=connectivity // 4, return_num=True)[1]
                          for u in thresholds] for x in rain.reshape(-1, 13, 11)]).reshape(5, 2, 3)
    got = component_counts(rain, thresholds, connectivity=connectivity)
    assert got.shape == (5, 2, 3) and got.dtype == np.int64
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(betti_numbers(rain, thresholds, connectivity=connectivity)[..., 0], expected)
    # Chunks of 2 fields (6 masks): sets touching in the stack (nested sets one above the other)
    # stay apart, within chunks and across their boundaries.
    np.testing.assert_array_equal(_betti(rain.reshape(-1, 13, 11), np.array(thresholds), connectivity, holes=False,
                                         max_elements=2 * 3 * 15 * 13), expected.reshape(-1, 3))
    assert component_counts(np.zeros((4, 4)), [1.0]).tolist() == [0]
