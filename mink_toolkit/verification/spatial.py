r"""Neighbourhood (spatial) verification: the fractions skill score.

Pooled over samples like the categorical scores: numerators and
denominators are summed over every sample before the ratio is taken
(Roberts & Lean 2008, section 3b).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .._validation import check_finite, check_integer
from ._common import _pair, _stack

__all__ = [
    "fractions_skill_score",
]


def _window(window) -> int:
    window = check_integer(window, "window (pixels)", minimum=1)
    if window % 2 == 0:
        raise ValueError(f"window must be an odd positive number of pixels (centred square); got {window}")
    return int(window)


def fractions_skill_score(pred, target, threshold: float, window: int) -> float:
    r"""Fractions skill score (Roberts & Lean 2008).

    Binary fields :math:`I = [x \ge u]` are turned into fractions
    :math:`F_n`, the share of wet pixels in the :math:`n \times n` window
    centred on each pixel (pixels outside the domain count as dry, as in
    Roberts & Lean's zero-padded domain). Then

    .. math::
        \mathrm{FSS}_n = 1 - \frac{\sum (F^{pred}_n - F^{obs}_n)^2}
                                   {\sum (F^{pred}_n)^2 + \sum (F^{obs}_n)^2}

    with sums over every pixel of every sample (pooled). 1 is perfect, 0 no
    skill (for ``window=1`` and disjoint wet areas).

    Parameters
    ----------
    pred, target : array_like, shape (..., H, W)
        Rain rates (mm/h).
    threshold : float
        Event threshold :math:`u` in mm/h (a pixel at ``u`` is an event).
    window : int
        Odd window side ``n`` in pixels.

    Returns
    -------
    float
        FSS in [0, 1]; NaN when neither field has an event (undefined).

    References
    ----------
    Roberts, N. M. & Lean, H. W. (2008). Scale-selective verification of
    rainfall accumulations from high-resolution forecasts of convective
    events. Mon. Wea. Rev. 136, 78–97 (eqs. 5–7).

    Examples
    --------
    >>> import numpy as np
    >>> obs = np.zeros((9, 9)); obs[4, 4] = 1.0
    >>> fcst = np.zeros((9, 9)); fcst[4, 5] = 1.0
    >>> round(fractions_skill_score(fcst, obs, 0.5, 1), 3), round(fractions_skill_score(fcst, obs, 0.5, 3), 3)
    (0.0, 0.667)
    """
    p, t = _pair(pred, target)
    n = _window(window)
    threshold = check_finite(threshold, "threshold")
    fp = ndimage.uniform_filter((_stack(p) >= threshold).astype(np.float64), size=(1, n, n), mode="constant")
    ft = ndimage.uniform_filter((_stack(t) >= threshold).astype(np.float64), size=(1, n, n), mode="constant")
    reference = np.sum(fp**2) + np.sum(ft**2)
    if reference == 0:
        return float("nan")
    return float(1.0 - np.sum((fp - ft) ** 2) / reference)
