r"""The generator's training objective: the fair CRPS of an ensemble, optionally over several scales.

The score itself is :func:`mink_toolkit.verification.crps_pixels`, the
toolkit's one CRPS formula (written for numpy and torch alike); this module
adds the loss's checks, the ``log1p`` space and the block-mean scales.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .._validation import check_choice, check_integer
from ..verification.ensemble import crps_pixels

__all__ = ["fair_crps_loss"]


def fair_crps_loss(members: torch.Tensor, target: torch.Tensor, *, space: str = "log1p",
                   scales=(1,)) -> torch.Tensor:
    r"""Fair CRPS of an ensemble, per pixel, averaged: the generator's proper scoring rule.

    .. math::
        \mathrm{CRPS}_f = \frac1M \sum_i |x_i - y| - \frac{1}{2M(M-1)} \sum_{i \ne j} |x_i - x_j|

    (Ferro 2014; the formula of :func:`mink_toolkit.verification.crps_pixels`,
    shared with the metric :func:`~mink_toolkit.verification.crps_ensemble`):
    unbiased for the CRPS of the distribution the M members are drawn from, so M = 2 members per input already train a calibrated
    generator. With ``scales = (1, 2, 4)`` the same score is also taken on
    ``s × s`` block means of members and target and the results averaged:
    a sum of proper scores of linear functionals is still proper, and the
    pooled fields' spread depends on how the members' pixels co-vary, which
    the per-pixel score cannot see (spatial structure).

    Parameters
    ----------
    members : torch.Tensor, shape (B, M, H, W), M >= 2
        Ensemble members (mm/h).
    target : torch.Tensor, shape (B, 1, H, W) or (B, H, W)
        Truth (mm/h).
    space : {"log1p", "linear"}
        Score ``log1p`` of the fields (default; as the deterministic loss)
        or the fields themselves.
    scales : sequence of int
        Block sizes (pixels) of the pooled scores; 1 = the pixels.

    Returns
    -------
    torch.Tensor, 0-d
        The mean over batch, pixels and scales, with a gradient to ``members``.

    Examples
    --------
    >>> import torch
    >>> members = torch.tensor([0.0, 2.0]).reshape(1, 2, 1, 1); target = torch.ones(1, 1, 1, 1)
    >>> float(fair_crps_loss(members, target, space="linear"))  # 1 - 2·2/(2·2·1)
    0.0
    """
    check_choice(space, ("log1p", "linear"), "space")
    if members.ndim != 4 or members.shape[1] < 2:
        raise ValueError(f"members must be shaped (B, M >= 2, H, W); got {tuple(members.shape)}")
    if target.ndim == 3:
        target = target[:, None]
    if target.shape != (members.shape[0], 1, *members.shape[-2:]):
        raise ValueError(f"target must be shaped (B, 1, H, W) = ({members.shape[0]}, 1, "
                         f"{members.shape[-2]}, {members.shape[-1]}); got {tuple(target.shape)}")
    scales = tuple(check_integer(s, "scales", minimum=1) for s in scales)
    if not scales:
        raise ValueError("scales must not be empty")
    total = members.new_zeros(())
    for s in scales:
        x, y = (members, target) if s == 1 else (F.avg_pool2d(members, s), F.avg_pool2d(target, s))
        if space == "log1p":
            x, y = torch.log1p(x), torch.log1p(y)
        total = total + crps_pixels(x, y, axis=1).mean()  # the one CRPS formula, members on axis 1
    return total / len(scales)
