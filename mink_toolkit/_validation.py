"""Small input checks shared by every public function.

Each check raises ``TypeError`` (wrong kind of object or dtype) or
``ValueError`` (right kind, bad value) with a message that names the
argument, in the spirit of scikit-image's ``check_nD`` and kornia's
``KORNIA_CHECK_*`` helpers. Nothing is ever silently converted.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

__all__ = [
    "check_array_field",
    "check_choice",
    "check_positive",
    "check_thresholds",
]


def check_array_field(field, name: str = "field", *, allow_nan: bool = False) -> np.ndarray:
    """Return ``field`` as a real numeric ndarray with at least 2 dims.

    Boolean and integer arrays are accepted (binary masks are fields too);
    complex, object and string arrays are refused with ``TypeError``.
    """
    arr = np.asarray(field)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise TypeError(
            f"{name} must be a real numeric array (bool, int or float); got dtype {arr.dtype}"
        )
    if arr.ndim < 2:
        raise ValueError(f"{name} must have at least 2 dims (..., H, W); got shape {arr.shape}")
    if arr.shape[-1] == 0 or arr.shape[-2] == 0:
        raise ValueError(f"{name} is empty: its last two dims (H, W) are {arr.shape[-2:]}")
    if not allow_nan and np.issubdtype(arr.dtype, np.floating) and np.isnan(arr).any():
        raise ValueError(
            f"{name} contains NaN (outside radar coverage?); pass nan_policy='background' "
            "or nan_policy='window' to say how NaN pixels are to be treated"
        )
    return arr


def check_thresholds(thresholds, name: str = "thresholds") -> np.ndarray:
    """Return ``thresholds`` as a strictly increasing 1-D float64 array."""
    arr = np.asarray(thresholds)
    if arr.dtype == bool or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise TypeError(f"{name} must be real numbers; got dtype {arr.dtype}")
    arr = np.atleast_1d(arr).astype(np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a scalar or a 1-D sequence; got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must contain at least one threshold")
    if np.isnan(arr).any():
        raise ValueError(f"{name} contains NaN")
    if arr.size > 1 and not np.all(np.diff(arr) > 0):
        raise ValueError(f"{name} must be strictly increasing; got {arr.tolist()}")
    return arr


def check_choice(value, allowed: Iterable, name: str):
    """Raise ``ValueError`` unless ``value`` is one of ``allowed``."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}; got {value!r}")
    return value


def check_positive(value, name: str) -> float:
    """Return ``value`` as a float, raising unless it is finite and > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number; got {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be finite and > 0; got {value}")
    return value
