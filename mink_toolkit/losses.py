"""Distances between Minkowski functionals, and the Minkowski image loss.

:func:`functional_distance` is the one distance used everywhere in the
toolkit (relaxed loss, surrogate training and evaluation): the paper's
trapezoid integral over the threshold axis of ``|f(pred) - f(target)|``
with ``f = log1p`` for area and perimeter and the signed ``log1p`` for the
Euler characteristic, weighted per functional.
"""

from __future__ import annotations

import torch

__all__ = ["compress_functionals", "functional_distance"]

REDUCTIONS = ("mean", "sum", "none")


def compress_functionals(functionals: torch.Tensor) -> torch.Tensor:
    """Map ``(..., n_thresholds, 3)`` functionals to the loss space.

    ``log1p`` for area and perimeter (non-negative, spanning decades) and
    ``sign(χ)·log1p(|χ|)`` for the Euler characteristic (signed).
    """
    if not isinstance(functionals, torch.Tensor):
        raise TypeError(f"functionals must be a torch.Tensor; got {type(functionals).__name__}")
    if functionals.ndim < 2 or functionals.shape[-1] != 3:
        raise ValueError(
            f"functionals must be shaped (..., n_thresholds, 3); got {tuple(functionals.shape)}"
        )
    size = functionals[..., :2]
    euler = functionals[..., 2:]
    return torch.cat([torch.log1p(size.clamp_min(0)), torch.sign(euler) * torch.log1p(euler.abs())], dim=-1)


def functional_distance(
    pred: torch.Tensor,
    target: torch.Tensor,
    thresholds,
    *,
    weights=(1.0, 1.0, 1.0),
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Trapezoid-integrated log distance between two sets of functionals.

    .. math::
        d = \sum_j w_j \int |f_j(\mathrm{pred}_j(u)) - f_j(\mathrm{target}_j(u))|\,du

    integrated with the trapezoid rule over ``thresholds`` (a single
    threshold gives the plain absolute difference).

    Parameters
    ----------
    pred, target : torch.Tensor, shape (..., n_thresholds, 3)
        Functionals in the layout of :func:`~mink_toolkit.minkowski_functionals`.
    thresholds : 1-D array_like or tensor, length n_thresholds
        Physical thresholds (mm/h), the integration variable.
    weights : sequence of 3 floats
        Weights of area, perimeter and Euler characteristic.
    reduction : {"mean", "sum", "none"}
        Over the leading (batch) dims.

    Returns
    -------
    torch.Tensor
        Scalar, or shaped like the leading dims for ``reduction="none"``.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}; got {reduction!r}")
    if pred.shape != target.shape:
        raise ValueError(f"pred and target functionals differ in shape: {tuple(pred.shape)} vs {tuple(target.shape)}")
    u = torch.as_tensor(thresholds, dtype=pred.dtype, device=pred.device).reshape(-1)
    if u.numel() != pred.shape[-2]:
        raise ValueError(
            f"thresholds has {u.numel()} entries but the functionals have {pred.shape[-2]} thresholds"
        )
    w = torch.as_tensor(weights, dtype=pred.dtype, device=pred.device)
    if w.shape != (3,):
        raise ValueError(f"weights must have 3 entries (area, perimeter, euler_characteristic); got {tuple(w.shape)}")
    diff = (compress_functionals(pred) - compress_functionals(target)).abs()  # (..., n, 3)
    if u.numel() == 1:
        integral = diff[..., 0, :]
    else:
        integral = torch.trapezoid(diff, x=u, dim=-2)  # (..., 3)
    per_sample = (integral * w).sum(-1)
    if reduction == "mean":
        return per_sample.mean()
    if reduction == "sum":
        return per_sample.sum()
    return per_sample
