"""Small input checks shared by every public function.

One rule for exception types everywhere in the toolkit: a wrong *kind* of
object or dtype raises ``TypeError``, a right kind with a bad *value*
(out of range, NaN, wrong shape, empty) raises ``ValueError``. Each message
names the argument, the value and, where there is one, the remedy, in the spirit of scikit-image's ``check_nD`` and kornia's
``KORNIA_CHECK_*`` helpers. Nothing is ever silently converted.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

__all__ = [
    "check_array_field",
    "check_choice",
    "check_fraction",
    "check_integer",
    "check_positive",
    "check_tensor",
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


def check_integer(value, name: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """Return ``value`` as an ``int``, raising unless it is an integer in range.

    ``bool`` is refused (``True`` is an ``int`` in Python but never a count
    here); numpy integers are accepted.

    Parameters
    ----------
    value : object
    name : str
        Argument name for the message.
    minimum, maximum : int, optional
        Inclusive bounds.

    Returns
    -------
    int

    Raises
    ------
    TypeError
        Not an integer (floats such as ``3.0`` included: nothing is converted).
    ValueError
        Outside ``[minimum, maximum]``.

    Examples
    --------
    >>> check_integer(3, "steps", minimum=1)
    3
    >>> check_integer(0, "steps", minimum=1)
    Traceback (most recent call last):
    ...
    ValueError: steps must be >= 1; got 0
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer; got {type(value).__name__} {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}; got {value}")
    return value


def check_fraction(value, name: str) -> float:
    """Return ``value`` as a float in [0, 1].

    Examples
    --------
    >>> check_fraction(0.25, "min_coverage")
    0.25
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number in [0, 1]; got {type(value).__name__}")
    value = float(value)
    if not 0.0 <= value <= 1.0:  # NaN fails this too
        raise ValueError(f"{name} must be in [0, 1]; got {value}")
    return value


def check_tensor(
    value,
    name: str,
    *,
    ndim: int | None = None,
    min_ndim: int | None = None,
    floating: bool = True,
    finite: bool = False,
    nonnegative: bool = False,
):
    """Return ``value`` if it is a torch tensor meeting the conditions.

    Parameters
    ----------
    value : object
    name : str
    ndim, min_ndim : int, optional
        Exact or minimum number of dims.
    floating : bool
        Require a floating-point dtype (``TypeError`` otherwise).
    finite : bool
        Refuse NaN and inf (``ValueError``).
    nonnegative : bool
        Refuse negative values (``ValueError``).

    Examples
    --------
    >>> import torch
    >>> check_tensor(torch.zeros(2, 3), "x", ndim=2).shape
    torch.Size([2, 3])
    """
    import torch

    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(value).__name__}")
    if floating and not torch.is_floating_point(value):
        raise TypeError(f"{name} must be a floating-point tensor; got dtype {value.dtype} (convert with .float())")
    if ndim is not None and value.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dims; got shape {tuple(value.shape)}")
    if min_ndim is not None and value.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dims; got shape {tuple(value.shape)}")
    if value.numel() == 0:
        raise ValueError(f"{name} is empty: shape {tuple(value.shape)}")
    detached = value.detach()
    if finite and not bool(torch.isfinite(detached).all()):
        what = "NaN" if bool(torch.isnan(detached).any()) else "inf"
        raise ValueError(f"{name} contains {what}")
    if nonnegative and bool((detached < 0).any()):
        raise ValueError(f"{name} contains negative values (min {float(detached.min()):.3g})")
    return value

