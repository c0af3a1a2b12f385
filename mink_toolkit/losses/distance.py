r"""The one distance between Minkowski functionals.

:func:`functional_distance` is used everywhere in the toolkit (the relaxed
Minkowski loss, surrogate training and evaluation, and, normalised, the
MF-error metric of :mod:`mink_toolkit.verification`): the paper's trapezoid
integral over the threshold axis of ``|f(pred) - f(target)|`` with
``f = log1p`` for area and perimeter and the signed ``log1p`` for the Euler
characteristic, weighted per functional. The integral runs over
:math:`\log u` (:func:`~mink_toolkit.thresholds.threshold_weights`, the
toolkit's one threshold weighting).
"""

from __future__ import annotations

import torch

from ..functionals import compress_functionals
from ..thresholds import _threshold_weights, threshold_weights

__all__ = ["REDUCTIONS", "functional_distance"]

#: Reductions over the leading (batch) dims of every loss.
REDUCTIONS = ("mean", "sum", "none")


def functional_distance(
    pred: torch.Tensor,
    target: torch.Tensor,
    thresholds,
    *,
    weights=(1.0, 1.0, 1.0),
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Trapezoid-integrated log distance between two sets of functionals, over log u.

    .. math::
        d = \sum_j w_j \int |f_j(\mathrm{pred}_j(u)) - f_j(\mathrm{target}_j(u))|\,d\log u

    integrated with the trapezoid rule over :math:`\log u` at ``thresholds``
    (weights :func:`~mink_toolkit.thresholds.threshold_weights`; a single
    threshold gives the plain absolute difference).

    Parameters
    ----------
    pred, target : torch.Tensor, shape (..., n_thresholds, 3)
        Functionals in the layout of :func:`~mink_toolkit.minkowski_functionals`.
    thresholds : 1-D array_like or tensor, length n_thresholds
        Physical thresholds (mm/h), > 0 and increasing; the distance
        integrates over their (natural) log.
    weights : sequence of 3 floats
        Weights of area, perimeter and Euler characteristic.
    reduction : {"mean", "sum", "none"}
        Over the leading (batch) dims.

    Returns
    -------
    torch.Tensor
        Scalar, or shaped like the leading dims for ``reduction="none"``.

    Examples
    --------
    >>> import math, torch
    >>> pred = torch.zeros(3, 3, dtype=torch.float64)
    >>> target = torch.zeros(3, 3, dtype=torch.float64); target[:, 0] = math.e - 1  # 1 in log1p space
    >>> round(float(functional_distance(pred, target, [0.1, 1.0, 10.0])), 4)  # ∫ 1 d(ln u) = ln 100
    4.6052
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}; got {reduction!r}")
    if pred.shape != target.shape:
        raise ValueError(f"pred and target functionals differ in shape: {tuple(pred.shape)} vs {tuple(target.shape)}")
    diff = (compress_functionals(pred) - compress_functionals(target)).abs()  # (..., n, 3)
    return _integrate(diff, threshold_weights(thresholds, like=diff), weights, reduction)


def _weights_like(u_t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Threshold weights of the values of ``u_t`` (checked thresholds in the working dtype), like ``like``.

    The weights are taken of the thresholds as the loss uses them (float32
    rounding included), which is what the distance always did.
    """
    return _threshold_weights(u_t.detach().cpu().double().numpy(), like=like)


def _integrate(diff: torch.Tensor, wu: torch.Tensor, weights, reduction: str) -> torch.Tensor:
    """Trapezoid integral over log u (weights ``wu``), weighted sum over functionals, reduction."""
    w = torch.as_tensor(weights, dtype=diff.dtype, device=diff.device)
    if w.shape != (3,):
        raise ValueError(f"weights must have 3 entries (area, perimeter, euler_characteristic); got {tuple(w.shape)}")
    if wu.numel() != diff.shape[-2]:
        raise ValueError(
            f"thresholds has {wu.numel()} entries but the functionals have {diff.shape[-2]} thresholds"
        )
    integral = (diff * wu[:, None]).sum(-2)  # (..., 3)
    per_sample = (integral * w).sum(-1)
    if reduction == "mean":
        return per_sample.mean()
    if reduction == "sum":
        return per_sample.sum()
    return per_sample
