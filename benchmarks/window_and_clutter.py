"""What two deliberate changes do to the numbers, on the 24 real Odyssey files of 2018-08-24.

Run: ``MINK_DATA_DIR=../shared/data/opera .venv/bin/python benchmarks/window_and_clutter.py``

1. **Window NaN policy.** The ``"window"`` perimeter now counts boundary only
   between two observed pixels *of the array*; before, the array border
   counted as observed background, so a set touching the border got
   boundary there. The old value is the new one plus the set pixels' edges
   on the array border (edge perimeter), computed here directly. Printed for
   the full composites and for their 128 × 128 patches (the training-set cut).
2. **Clutter screen of ``curves``.** Values above 150 mm/h become NaN
   (``--max-rain``, default 150; before: no screen). Printed: pixels screened
   per file, and the largest relative change of each functional per threshold.

Nothing is timed; the numbers do not depend on the machine.
"""

from __future__ import annotations

import numpy as np

THRESHOLDS = [0.1, 0.5, 1.0, 5.0, 10.0]


def border_edges(fields: np.ndarray, threshold: float) -> np.ndarray:
    """Per field (..., H, W): edges of set pixels on the array border (what the old window policy added)."""
    inside = np.nan_to_num(fields, nan=-np.inf) >= threshold
    return (inside[..., 0, :].sum(-1) + inside[..., -1, :].sum(-1)
            + inside[..., :, 0].sum(-1) + inside[..., :, -1].sum(-1))


def main() -> None:
    from mink_toolkit import extract_patches, fetch_opera, minkowski_functionals, opera_files, read_odim
    from mink_toolkit.preprocess import screen_clutter

    names = opera_files("odyssey_rate")
    full_new, full_old, patch_new, patch_old = [], [], [], []
    clutter, changes = [], []
    for name in names:
        field = read_odim(fetch_opera(name))
        values = field.values
        new = minkowski_functionals(values, THRESHOLDS, nan_policy="window")
        full_new.append(new[:, 1])
        full_old.append(new[:, 1] + [border_edges(values, u) for u in THRESHOLDS])
        patches = extract_patches(field, size=128, min_coverage=0.0, clutter_threshold=None).values
        p_new = minkowski_functionals(patches, THRESHOLDS, nan_policy="window")[..., 1]
        patch_new.append(p_new.sum(0))
        patch_old.append(p_new.sum(0) + np.array([border_edges(patches, u).sum() for u in THRESHOLDS]))
        screened, mask = screen_clutter(values, 150.0)
        clutter.append(int(mask.sum()))
        after = minkowski_functionals(screened, THRESHOLDS, nan_policy="window")
        with np.errstate(invalid="ignore", divide="ignore"):
            changes.append(np.abs(after - new) / np.maximum(np.abs(new), 1))
    full_new, full_old = np.array(full_new), np.array(full_old)
    patch_new, patch_old = np.array(patch_new).sum(0), np.array(patch_old).sum(0)
    print(f"{len(names)} Odyssey files, thresholds {THRESHOLDS} mm/h, edge perimeter in pixel edges")
    print("1. window perimeter, summed over the files: before (array border counted) -> now")
    for k, u in enumerate(THRESHOLDS):
        print(f"   {u:>4g} mm/h  full composites {full_old[:, k].sum():>9.0f} -> {full_new[:, k].sum():>9.0f}"
              f"   128x128 patches {patch_old[k]:>9.0f} -> {patch_new[k]:>9.0f}"
              f" ({100 * (patch_new[k] - patch_old[k]) / patch_old[k]:+.1f} %)")
    print(f"2. clutter screen at 150 mm/h: {sum(clutter)} pixels in {len(names)} files "
          f"(per file {min(clutter)}-{max(clutter)}: {clutter})")
    worst = np.max(changes, axis=0)  # (threshold, functional)
    for k, u in enumerate(THRESHOLDS):
        area, perimeter, chi = 100 * worst[k]
        print(f"   {u:>4g} mm/h  largest change over the files: area {area:.3f} %, perimeter {perimeter:.3f} %, "
              f"chi {chi:.3f} %")


if __name__ == "__main__":
    main()
