r"""The published relaxation (arXiv 2604.11422) and its temperature, kept for comparison and teaching.

Its relaxed χ is 4-connected (Gödel t-norm, pixels as vertices) while its
targets were 8-connected, and its perimeter is a total variation, not the
exact estimator: see :func:`paper_relaxation` and, for the consistent
relaxation, :func:`~mink_toolkit.relax.soft.soft_minkowski_functionals`.
"""

from __future__ import annotations

import numpy as np
import torch

from .._validation import check_positive
from ..thresholds import check_thresholds
from .soft import _check_field, _field_membership, _sum_hw

__all__ = ["PAPER_RELATIVE_TEMPERATURE", "PAPER_MIN_TEMPERATURE", "paper_temperature", "paper_relaxation"]

#: Final annealing factor and relative temperature of the published schedule.
PAPER_RELATIVE_TEMPERATURE = 0.1
PAPER_MIN_TEMPERATURE = 1e-3


def paper_temperature(thresholds, factor: float = 1.0) -> np.ndarray:
    r"""The published temperature :math:`T = \max(0.1\,u, 10^{-3}) \cdot f`.

    Parameters
    ----------
    thresholds : 1-D array_like (mm/h)
    factor : float
        Annealing factor f, from 1 down to the schedule's floor 0.05 (so the
        final temperature is :math:`0.005\,u` for u >= 0.2 mm/h).

    Returns
    -------
    ndarray, shape (n,)

    Examples
    --------
    >>> paper_temperature([0.005, 1.0], factor=0.05)
    array([5.e-05, 5.e-03])
    """
    u = check_thresholds(thresholds)
    factor = check_positive(factor, "factor")
    return np.maximum(PAPER_RELATIVE_TEMPERATURE * u, PAPER_MIN_TEMPERATURE) * factor



def paper_relaxation(
    field: torch.Tensor,
    thresholds,
    temperature=PAPER_RELATIVE_TEMPERATURE,
    *,
    relative: bool = True,
    min_temperature: float | None = PAPER_MIN_TEMPERATURE,
    pixel_size: float = 1.0,
    eps: float = 1e-12,
) -> torch.Tensor:
    r"""The published relaxation (arXiv 2604.11422), for comparison and teaching.

    **Not consistent with the exact functionals**; kept to show why the
    published relaxation reached R² of only 0.922 (perimeter) and 0.135
    (topology) against its targets. With :math:`p = \sigma((x-u)/T)` and
    by default the paper's :math:`T = \max(0.1\,u, 10^{-3})`:

    * area :math:`= \sum p` (as ours);
    * perimeter: total variation of p with central differences
      (``torch.gradient``, one-sided at the border),
      :math:`\sum \sqrt{(\partial_x p)^2 + (\partial_y p)^2 + \varepsilon}`;
      the ε (ours) keeps it differentiable on flat regions;
    * χ: 4-connected vertex–edge–face count with the Gödel t-norm,
      pixels as vertices: :math:`V - E + F` with V = Σp, E = Σ min over
      horizontal and vertical pairs, F = Σ min over 2×2 blocks.

    Parameters
    ----------
    field : torch.Tensor, shape (..., H, W)
    thresholds : 1-D array_like (n,)
    temperature, relative, min_temperature
        As in :func:`soft_minkowski_functionals`; defaults are the paper's.
    pixel_size : float
    eps : float
        Added under the square root of the total variation.

    Returns
    -------
    torch.Tensor, shape (..., n, 3)

    Examples
    --------
    >>> import torch
    >>> square = torch.zeros(5, 5); square[1:4, 1:4] = 1.0
    >>> paper_relaxation(square, [0.5], 1e-3, relative=False).round(decimals=2)
    tensor([[ 9.0000, 16.8300,  1.0000]])
    """
    pixel_size = check_positive(pixel_size, "pixel_size")
    field = _check_field(field)
    p = _field_membership(field, thresholds, temperature, relative, min_temperature)
    area = _sum_hw(p)
    if p.shape[-1] > 1 and p.shape[-2] > 1:
        gy, gx = torch.gradient(p, dim=(-2, -1))
    else:  # torch.gradient needs two samples along each dim
        gy = gx = torch.zeros_like(p)
    length = _sum_hw(torch.sqrt(gx * gx + gy * gy + eps))
    edges = _sum_hw(torch.minimum(p[..., :, :-1], p[..., :, 1:])) + _sum_hw(
        torch.minimum(p[..., :-1, :], p[..., 1:, :])
    )
    faces = _sum_hw(
        torch.minimum(
            torch.minimum(p[..., :-1, :-1], p[..., :-1, 1:]),
            torch.minimum(p[..., 1:, :-1], p[..., 1:, 1:]),
        )
    )
    euler = area - edges + faces
    out = torch.stack([area * pixel_size**2, length * pixel_size, euler], dim=-1)
    return out.to(field.dtype)
