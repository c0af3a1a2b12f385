"""Tests of the surrogate's patch datasets: split, targets, cache, D4 augmentation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mink_toolkit import betti_numbers, minkowski_functionals
from mink_toolkit.datasets import (
    DEFAULT_THRESHOLDS,
    d4_transform,
    exact_targets,
    load_patches,
    random_crops,
    random_d4,
    split_files,
)
from mink_toolkit.io.registry import registry


def test_split_is_by_time_and_source():
    train, val, test = (split_files(s) for s in ("train", "val", "test"))
    assert (len(train), len(val), len(test)) == (16, 8, 5)
    entries = registry()
    times = {s: [np.datetime64(entries[n].time) for n in names] for s, names in
             (("train", train), ("val", val), ("test", test))}
    assert max(times["train"]) < min(times["val"])
    assert max(times["val"]) - min(times["val"]) == np.timedelta64(105, "m")  # 22:00-23:45: two hours
    assert {entries[n].product for n in train + val} == {"odyssey_rate"}
    assert {entries[n].product for n in test} == {"nimbus_rate"}
    assert not set(train) & set(val) and not set(val) & set(test)
    with pytest.raises(ValueError, match="split must be one of"):
        split_files("validation")


def test_exact_targets_match_the_shared_functionals():
    rng = np.random.default_rng(0)
    rain = rng.gamma(0.3, 3.0, (5, 20, 20))
    f, b0 = exact_targets(rain, DEFAULT_THRESHOLDS)
    np.testing.assert_array_equal(f, minkowski_functionals(rain, DEFAULT_THRESHOLDS))
    np.testing.assert_array_equal(b0, betti_numbers(rain, DEFAULT_THRESHOLDS)[..., 0])
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        exact_targets(rain[0], DEFAULT_THRESHOLDS)
    bad = rain.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        exact_targets(bad, DEFAULT_THRESHOLDS)


def test_d4_is_the_dihedral_group():
    x = np.arange(12.0).reshape(3, 4)
    images = [d4_transform(x, k) for k in range(8)]
    assert len({(im.shape, im.tobytes()) for im in map(np.ascontiguousarray, images)}) == 8
    for k in range(8):
        np.testing.assert_array_equal(d4_transform(torch.as_tensor(x), k).numpy(), images[k])
    with pytest.raises(ValueError, match="index"):
        d4_transform(x, 8)


def test_functionals_are_d4_invariant_on_real_patches():
    """The augmentation is label-preserving: area, perimeter, χ and β0 do not change."""
    test = load_patches("test", max_files=1, progress=False)
    rain = test.rain[np.argsort(-test.functionals[:, 0, 0])[:3]]
    reference = exact_targets(rain, DEFAULT_THRESHOLDS)
    assert reference[0][:, :, 2].std() > 0  # non-trivial topology in these patches
    for k in range(1, 8):
        f, b0 = exact_targets(np.ascontiguousarray(d4_transform(rain, k)), DEFAULT_THRESHOLDS)
        np.testing.assert_array_equal(f, reference[0])
        np.testing.assert_array_equal(b0, reference[1])


def test_random_d4_and_crops():
    rng = np.random.default_rng(1)
    rain = rng.random((3, 10, 12)).astype(np.float32)
    crops = random_crops(rain, 5, 7, rng)
    assert crops.shape == (7, 5, 5)
    # Every crop is a window of some source field.
    for c in crops:
        assert any(
            np.array_equal(c, src[r : r + 5, q : q + 5]) for src in rain for r in range(6) for q in range(8)
        )
    out = random_d4(crops, rng)
    assert out.shape == crops.shape
    for a, b in zip(out, crops):
        assert any(np.array_equal(a, d4_transform(b, k)) for k in range(8))
    with pytest.raises(ValueError, match="size"):
        random_crops(rain, 11, 1, rng)
    with pytest.raises(ValueError, match="square"):
        random_d4(rain, rng)


def test_load_patches_builds_and_reuses_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MINK_CACHE_DIR", str(tmp_path))
    first = load_patches("test", max_files=1, progress=False)
    files = list((tmp_path / "surrogate").glob("*.npz"))
    assert len(files) == 1
    assert first.rain.shape[1:] == (128, 128) and first.rain.dtype == np.float32
    assert not np.isnan(first.rain).any()
    assert first.functionals.shape == (len(first), 21, 3) and first.components.shape == (len(first), 21)
    np.testing.assert_array_equal(first.functionals[:2], minkowski_functionals(first.rain[:2], DEFAULT_THRESHOLDS))
    assert set(first.source) == {split_files("test")[0]}
    assert (first.time == np.datetime64("2024-11-26T01:00:00")).all()
    assert (first.origin % 128 == 0).all()

    second = load_patches("test", max_files=1, progress=False)
    np.testing.assert_array_equal(second.rain, first.rain)
    np.testing.assert_array_equal(second.components, first.components)

    # Other settings: another cache entry, never the stale one.
    other = load_patches("test", max_files=1, min_wet_fraction=0.2, progress=False)
    assert len(list((tmp_path / "surrogate").glob("*.npz"))) == 2
    assert len(other) < len(first)

    # A corrupt cache file is reported and rebuilt.
    files[0].write_bytes(b"not a zip file")
    with pytest.warns(UserWarning, match="unreadable patch cache"):
        rebuilt = load_patches("test", max_files=1, progress=False)
    np.testing.assert_array_equal(rebuilt.functionals, first.functionals)
    with pytest.raises(ValueError, match="max_files"):
        load_patches("test", max_files=0)


def test_random_d4_transforms_paired_fields_alike_and_windows_stay_aligned():
    """One augmentation for every trainer: coarse/fine pairs keep block_mean(fine) == coarse."""
    from mink_toolkit.datasets import random_windows, take_windows
    from mink_toolkit.resample import block_mean

    rng = np.random.default_rng(5)
    fine = rng.gamma(0.5, 2.0, (6, 32, 32))
    coarse = block_mean(fine, 4)
    which = np.array([5, 0, 3, 3])
    _, rows, cols = random_windows(coarse.shape, 4, 0, rng, which=which)
    xb = take_windows(coarse, which, rows, cols, 4)
    yb = take_windows(fine, which, rows * 4, cols * 4, 16)
    np.testing.assert_allclose(block_mean(yb, 4), xb)
    np.testing.assert_array_equal(yb[1], fine[0, rows[1] * 4 : rows[1] * 4 + 16, cols[1] * 4 : cols[1] * 4 + 16])
    xa, ya = random_d4(xb, rng, yb)
    np.testing.assert_allclose(block_mean(ya, 4), xa)  # the same symmetry per field
    assert not np.array_equal(xa, xb)  # (seeded: some field was transformed)
    with pytest.raises(ValueError, match="fields"):
        random_d4(xb, rng, yb[:2])
    with pytest.raises(ValueError, match="size"):
        random_windows(coarse.shape, 9, 1, rng)
