"""Upsampling baselines of super-resolution, and the input of the network (:func:`upsample`)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .._validation import check_array_field, check_choice, check_integer, check_tensor

__all__ = ["UPSAMPLING_METHODS", "upsample"]

UPSAMPLING_METHODS = ("nearest", "bicubic")


def _check_factor(factor) -> int:
    return check_integer(factor, "factor", minimum=1)


def _upsample_tensor(coarse: torch.Tensor, factor: int, method: str) -> torch.Tensor:
    """(B, C, h, w) -> (B, C, h*factor, w*factor), non-negative."""
    if method == "nearest":
        return F.interpolate(coarse, scale_factor=factor, mode="nearest")
    # Bicubic (Keys a = -0.75, torch's) overshoots near sharp gradients; rain
    # cannot be negative, so clamp (align_corners=False keeps the block centres).
    up = F.interpolate(coarse, scale_factor=factor, mode="bicubic", align_corners=False)
    return up.clamp_min(0.0)


def upsample(coarse, factor: int = 8, method: str = "bicubic"):
    """Upsample a coarse rain field by an integer factor (baselines and network input).

    Parameters
    ----------
    coarse : ndarray or torch.Tensor, shape (..., h, w)
        Coarse rain rate (mm/h), finite and non-negative.
    factor : int, default 8
    method : {"nearest", "bicubic"}
        ``"nearest"`` repeats each block value (exactly mass conserving);
        ``"bicubic"`` is torch's bicubic interpolation (Keys 1981,
        a = −0.75, ``align_corners=False``) clamped at 0.

    Returns
    -------
    Same type as ``coarse``, shape (..., h*factor, w*factor)

    Examples
    --------
    >>> import numpy as np
    >>> upsample(np.array([[1.0, 2.0]]), 2, "nearest")
    array([[1., 1., 2., 2.],
           [1., 1., 2., 2.]])
    """
    factor = _check_factor(factor)
    check_choice(method, UPSAMPLING_METHODS, "method")
    is_tensor = isinstance(coarse, torch.Tensor)
    # NaN is let through here so that it meets the one check below, with the advice that applies.
    t = coarse if is_tensor else torch.as_tensor(check_array_field(coarse, "coarse", allow_nan=True).astype(np.float64))
    check_tensor(t, "coarse", min_ndim=2, finite=True, nonnegative=True, dtypes=(torch.float32, torch.float64),
                 advice="upsampling needs full coverage")
    lead = t.shape[:-2]
    flat = t.reshape(-1, 1, *t.shape[-2:])
    out = _upsample_tensor(flat, factor, method).reshape(*lead, t.shape[-2] * factor, t.shape[-1] * factor)
    return out if is_tensor else out.numpy()
