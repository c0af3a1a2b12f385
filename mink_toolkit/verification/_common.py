"""Checks shared by the scores: a prediction/truth pair, an ensemble and its truth."""

from __future__ import annotations

import numpy as np

from .._validation import check_array_field

__all__ = [
]


def _pair(pred, target) -> tuple[np.ndarray, np.ndarray]:
    """Validate a prediction/truth pair: same shape, finite, non-negative."""
    p = check_array_field(pred, "pred").astype(np.float64, copy=False)
    t = check_array_field(target, "target").astype(np.float64, copy=False)
    if p.shape != t.shape:
        raise ValueError(f"pred and target differ in shape: {p.shape} vs {t.shape}")
    for name, arr in (("pred", p), ("target", t)):
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} contains inf")
        if (arr < 0).any():
            raise ValueError(f"{name} contains negative rain rates (min {arr.min():.3g})")
    return p, t


def _stack(arr: np.ndarray) -> np.ndarray:
    """(..., H, W) -> (B, H, W)."""
    return arr.reshape(-1, *arr.shape[-2:])


def _members(members, truth) -> tuple[np.ndarray, np.ndarray]:
    """Validate an ensemble (M, ...) against a truth (...): M >= 2, finite, non-negative."""
    m, t = np.asarray(members), np.asarray(truth)
    for name, arr in (("members", m), ("truth", t)):
        if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
            raise TypeError(f"{name} must hold real numbers; got dtype {arr.dtype}")
    m, t = m.astype(np.float64, copy=False), t.astype(np.float64, copy=False)
    if m.ndim < 2 or m.shape[1:] != t.shape:
        raise ValueError(f"members must be shaped (M, *truth.shape) = (M, {', '.join(map(str, t.shape))}); "
                         f"got {m.shape}")
    if m.shape[0] < 2:
        raise ValueError(f"an ensemble needs at least 2 members; got {m.shape[0]}")
    for name, arr in (("members", m), ("truth", t)):
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} contains NaN or inf")
    return m, t
