"""Speed of exact Minkowski functionals: nested-set histograms vs per-threshold loops.

Compares, for 21 thresholds, on a full OPERA composite (2200 x 1900) and a
batch of 256 patches of 128 x 128:

* ours: ``mink_toolkit.minkowski_functionals`` (one pass for all thresholds);
* (a) scikit-image looped over thresholds: ``euler_number`` + ``perimeter``
  + pixel sum;
* (b) the target pipeline of the published code: marching-squares contour
  length (``skimage.measure.find_contours``) + component count by
  labelling, per threshold.

And β0 alone (what every training batch of the additive surrogates needs,
:func:`mink_toolkit.datasets.exact_targets`): ``component_counts`` (one 3-D
labelling per chunk of sets) against ``skimage.measure.label`` set by set,
on 32 crops of 32 x 32 (a training batch) and the 256 patches.

Prints medians of several runs and ratios measured in the same run (the
target is ours >= 30x faster than (a) on the full composite), and the load
average before and after: on a shared machine compare ratios only within one
run. Run: ``python benchmarks/bench_functionals.py``.
"""

from __future__ import annotations

import os
import statistics
import time

import numpy as np
from skimage.measure import euler_number, find_contours, label, perimeter

from mink_toolkit import component_counts, load_opera, minkowski_functionals

THRESHOLDS = np.geomspace(0.1, 10.0, 21)


def ours(images):
    return minkowski_functionals(images, THRESHOLDS)


def skimage_loop(images):
    out = np.empty((len(images), THRESHOLDS.size, 3))
    for b, image in enumerate(images):
        for k, u in enumerate(THRESHOLDS):
            mask = image >= u
            out[b, k] = mask.sum(), perimeter(mask, neighborhood=4), euler_number(mask, connectivity=2)
    return out


def published_pipeline(images):
    out = np.empty((len(images), THRESHOLDS.size, 2))
    for b, image in enumerate(images):
        for k, u in enumerate(THRESHOLDS):
            length = sum(
                np.hypot(*np.diff(c, axis=0).T).sum() for c in find_contours(image, u)
            )
            out[b, k] = length, label(image >= u, connectivity=2, return_num=True)[1]
    return out


def components_ours(images):
    return component_counts(images, THRESHOLDS)


def components_per_set(images):
    out = np.empty((len(images), THRESHOLDS.size), dtype=np.int64)
    for b, image in enumerate(images):
        for k, u in enumerate(THRESHOLDS):
            out[b, k] = label(np.pad(image >= u, 1), connectivity=2, return_num=True)[1]
    return out


def median_time(function, images, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function(images)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    field = load_opera("20180824/T_PAAH21_C_EUOC_20180824180000.hdf").values
    # The comparison methods cannot take NaN; NaN as dry is fine for timing.
    field = np.nan_to_num(field, nan=0.0)
    full = field[None]
    # 256 patches of 128 x 128 from the covered, wettest part of the grid.
    tiles = field[: 2176, : 1792].reshape(17, 128, 14, 128).swapaxes(1, 2).reshape(-1, 128, 128)
    order = np.argsort([-(t > 0.1).mean() for t in tiles])
    patches = np.ascontiguousarray(tiles[order[:256]])

    print(f"{THRESHOLDS.size} thresholds, {np.nanmin(THRESHOLDS):.1f}..{THRESHOLDS.max():.0f} mm/h; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    for name, images, repeats in (("full composite 2200x1900", full, 5), ("256 patches 128x128", patches, 5)):
        t_ours = median_time(ours, images, repeats)
        t_skimage = median_time(skimage_loop, images, max(1, repeats // 2))
        t_published = median_time(published_pipeline, images, max(1, repeats // 2))
        print(f"\n{name}")
        print(f"  ours (nested-set histograms)         {t_ours * 1e3:9.1f} ms")
        print(f"  (a) scikit-image loop                {t_skimage * 1e3:9.1f} ms   ratio {t_skimage / t_ours:6.1f}x")
        print(f"  (b) published target pipeline        {t_published * 1e3:9.1f} ms   ratio {t_published / t_ours:6.1f}x")
        verdict = "meets" if t_skimage / t_ours >= 30 else "MISSES"
        print(f"  target >= 30x faster than (a): {verdict}")
    crops = np.ascontiguousarray(patches[:32, 40:72, 40:72])
    print("\nbeta0 alone (component_counts vs skimage label per set)")
    for name, images in (("32 crops 32x32 (a training batch)", crops), ("256 patches 128x128", patches)):
        assert (components_ours(images) == components_per_set(images)).all()
        t_ours = median_time(components_ours, images, 5)
        t_loop = median_time(components_per_set, images, 3)
        print(f"  {name:36s} ours {t_ours * 1e3:8.1f} ms, per set {t_loop * 1e3:8.1f} ms   ratio {t_loop / t_ours:6.1f}x")
    print(f"\nload average now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
