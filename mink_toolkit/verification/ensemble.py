r"""Scores of ensembles (stochastic generators).

The continuous ranked probability score per pixel (fair or plain), the
multivariate energy score per field, the spread/skill ratio and the rank
histogram.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_positive
from ._common import _members

__all__ = [
    "crps_pixels",
    "crps_ensemble",
    "energy_score",
    "spread_skill_ratio",
    "rank_histogram",
]


#: Elements of the pairwise-difference temporary (M·M per pixel) that
#: :func:`crps_ensemble` holds at once: it scores the pixels in chunks of this size.
_PAIRS_PER_CHUNK = 2**22


def crps_pixels(members, truth, *, axis: int = 0, fair: bool = True):
    r"""The ensemble CRPS of every pixel: the toolkit's one implementation of the formula.

    With members :math:`x_1 \dots x_M` along ``axis`` and truth :math:`y`,

    .. math::
        \mathrm{CRPS} = \frac1M \sum_i |x_i - y| - \frac{1}{2M(M-1)} \sum_{i,j} |x_i - x_j|

    (fair, Ferro 2014), or with :math:`2M^2` in the denominator
    (``fair=False``). Written with operators and methods that numpy arrays
    and torch tensors share (``abs``, ``-``, ``/``, indexing,
    ``.mean(axis=)``, ``.sum(axis=)``), so the same lines score ensembles
    in numpy (:func:`crps_ensemble`) and train a generator in torch
    (:func:`mink_toolkit.losses.fair_crps_loss`, gradients flow), without
    this module importing torch. No checks: the public callers check.

    Parameters
    ----------
    members : ndarray or torch.Tensor
        Ensemble members, M >= 2 along ``axis``.
    truth : ndarray or torch.Tensor
        Broadcastable against ``members``, with size 1 along ``axis``.
    axis : int, >= 0
        The member axis.
    fair : bool

    Returns
    -------
    Same type as ``members``, its shape without ``axis``
        Per-pixel scores. The sum over ordered pairs holds an M × M
        temporary per pixel (the generator's loss uses M = 2).

    Examples
    --------
    >>> import numpy as np
    >>> crps_pixels(np.array([[0.0, 1.0], [2.0, 1.0]]), np.array([[1.0, 1.0]])).tolist()
    [0.0, 0.0]
    """
    m = members.shape[axis]
    lead = (slice(None),) * axis
    skill = abs(members - truth).mean(axis=axis)
    pairs = abs(members[lead + (slice(None), None)] - members[lead + (None, slice(None))]).sum(axis=(axis, axis + 1))
    return skill - pairs / (2 * m * (m - 1) if fair else 2 * m * m)


def crps_ensemble(members, truth, *, fair: bool = True) -> float:
    r"""Continuous ranked probability score of an ensemble, averaged over every pixel.

    Per pixel, with members :math:`x_1 \dots x_M` and truth :math:`y`,

    .. math::
        \mathrm{CRPS} = \frac1M \sum_i |x_i - y| - \frac{1}{2M(M-1)} \sum_{i,j} |x_i - x_j|

    (the *fair* CRPS of Ferro 2014: unbiased for the CRPS of the distribution
    the members are drawn from, whatever M), or with :math:`2M^2` in the
    denominator (``fair=False``: the CRPS of the members' empirical
    distribution). Lower is better; for one member it would be the MAE, and
    a deterministic forecast's CRPS is its MAE. The formula is
    :func:`crps_pixels`, evaluated in chunks of pixels (bounded memory).

    Parameters
    ----------
    members : array_like, shape (M, ...)
        M >= 2 ensemble members (same units as ``truth``, e.g. mm/h).
    truth : array_like, shape (...)
    fair : bool

    Returns
    -------
    float
        Mean over all pixels, in the units of the fields.

    References
    ----------
    Gneiting, T. & Raftery, A. E. (2007), JASA 102, 359–378 (eq. 21);
    Ferro, C. A. T. (2014), QJRMS 140, 1917–1923 (fair scores).

    Examples
    --------
    >>> import numpy as np
    >>> crps_ensemble(np.array([[0.0], [2.0]]), np.array([1.0]))  # 1 - (2 + 2)/(2·2·1)
    0.0
    >>> crps_ensemble(np.array([[0.0], [2.0]]), np.array([1.0]), fair=False)  # 1 - (2 + 2)/(2·2²)
    0.5
    """
    m, t = _members(members, truth)
    n = m.shape[0]
    flat, truth_flat = m.reshape(n, -1), t.reshape(1, -1)
    step = max(1, _PAIRS_PER_CHUNK // (n * n))
    per_pixel = np.concatenate([crps_pixels(flat[:, i:i + step], truth_flat[:, i:i + step], fair=fair)
                                for i in range(0, flat.shape[1], step)])
    return float(np.mean(per_pixel))


def energy_score(members, truth, *, fair: bool = True) -> float:
    r"""Energy score of an ensemble of fields, averaged over cases.

    The multivariate generalisation of the CRPS (Gneiting & Raftery 2007,
    eq. 22) with the Euclidean norm over each whole field:

    .. math::
        \mathrm{ES} = \frac1M \sum_i \|x_i - y\| - \frac{1}{2M(M-1)} \sum_{i,j} \|x_i - x_j\|

    (fair form; ``fair=False`` divides by :math:`2M^2`). It is proper for the
    joint distribution of the pixels, so it also rewards the right spatial
    structure, which the per-pixel CRPS does not see.

    Parameters
    ----------
    members : array_like, shape (M, N, H, W) or (M, H, W)
        Ensembles of N cases (or one case).
    truth : array_like, shape (N, H, W) or (H, W)
    fair : bool

    Returns
    -------
    float
        Mean over cases (units of the fields times pixels^(1/2)).

    Examples
    --------
    >>> import numpy as np
    >>> y = np.zeros((1, 1, 2)); x = np.array([[[[3.0, 4.0]]], [[[0.0, 0.0]]]])
    >>> energy_score(x, y)  # (5 + 0)/2 - (5 + 5)/(2·2·1)
    0.0
    """
    m, t = _members(members, truth)
    if t.ndim < 2:
        raise ValueError(f"truth must be a field (H, W) or fields (N, H, W); got shape {t.shape}")
    n = m.shape[0]
    mm = m.reshape(n, -1, t.shape[-2] * t.shape[-1])  # (M, N, P)
    tt = t.reshape(-1, t.shape[-2] * t.shape[-1])
    skill = np.linalg.norm(mm - tt[None], axis=-1).mean(axis=0)  # (N,)
    pairs = np.zeros(mm.shape[1])
    for i in range(n):
        for j in range(i + 1, n):
            pairs += 2.0 * np.linalg.norm(mm[i] - mm[j], axis=-1)
    spread = pairs / (2.0 * n * (n - 1) if fair else 2.0 * n * n)
    return float(np.mean(skill - spread))


def spread_skill_ratio(members, truth) -> float:
    r"""Spread/skill ratio: ensemble spread against the error of the ensemble mean.

    .. math::
        \frac{\sqrt{(M+1)/M}\;\sqrt{\overline{s^2}}}{\sqrt{\overline{(\bar x - y)^2}}}

    with :math:`s^2` the members' unbiased variance per pixel and
    :math:`\bar x` their mean, both averaged over all pixels. The factor
    :math:`\sqrt{(M+1)/M}` corrects for the finite ensemble (Fortin et al.
    2014), so a reliable ensemble scores 1 whatever M; < 1 is
    under-dispersive (over-confident), > 1 over-dispersive.

    Parameters
    ----------
    members : array_like, shape (M, ...)
    truth : array_like, shape (...)

    Returns
    -------
    float
        NaN when the ensemble mean is perfect.

    References
    ----------
    Fortin, V., Abaza, M., Anctil, F. & Turcotte, R. (2014), J. Hydrometeor.
    15, 1708–1713.

    Examples
    --------
    >>> import numpy as np
    >>> members = np.array([[0.0, 2.0], [2.0, 0.0]]); truth = np.array([1.0, 1.0])
    >>> round(spread_skill_ratio(members, truth), 6)  # ensemble mean perfect
    nan
    >>> round(spread_skill_ratio(members, np.array([0.0, 0.0])), 6)  # sqrt(3/2)·sqrt(2)/1
    1.732051
    """
    m, t = _members(members, truth)
    n = m.shape[0]
    var = m.var(axis=0, ddof=1).mean()
    error = np.mean((m.mean(axis=0) - t) ** 2)
    if error == 0:
        return float("nan")
    return float(np.sqrt((n + 1) / n * var / error))


def rank_histogram(members, truth, *, precision: float | None = None, seed: int = 0) -> np.ndarray:
    """Rank histogram (Talagrand diagram) of the truth among the members, pooled over pixels.

    The rank of the truth is the number of members below it; ties (many
    pixels are exactly dry in the truth and in the members) are broken at
    random, uniformly over the tied positions (Hamill 2001), with a seeded
    generator. A reliable ensemble gives a flat histogram (every frequency
    1/(M+1)); a U shape means too little spread, a dome too much, a slope
    a bias.

    Parameters
    ----------
    members : array_like, shape (M, ...)
    truth : array_like, shape (...)
    precision : float, optional
        Round the members to multiples of this before ranking: the
        precision at which the truth is reported (0.01 mm/h for OPERA rain
        rates). Otherwise a member's 0.001 mm/h counts as wetter than a
        truth's 0, and every dry pixel of the truth lands in the first bin.
    seed : int
        Seeds the tie breaking.

    Returns
    -------
    ndarray, shape (M + 1,)
        Frequencies summing to 1.

    References
    ----------
    Hamill, T. M. (2001), Mon. Wea. Rev. 129, 550–560.

    Examples
    --------
    >>> import numpy as np
    >>> rank_histogram(np.array([[0.0, 0.0, 5.0], [1.0, 1.0, 6.0]]), np.array([0.5, 2.0, -1.0])).tolist()
    [0.3333333333333333, 0.3333333333333333, 0.3333333333333333]
    """
    m, t = _members(members, truth)
    if precision is not None:
        precision = check_positive(precision, "precision")
        m = np.round(m / precision) * precision
        t = np.round(t / precision) * precision  # the same grid on both sides (exact ties)
    below = np.sum(m < t[None], axis=0).ravel()
    ties = np.sum(m == t[None], axis=0).ravel()
    rng = np.random.default_rng(seed)
    rank = below + np.floor(rng.random(below.shape) * (ties + 1)).astype(int)
    counts = np.bincount(rank, minlength=m.shape[0] + 1)
    return counts / counts.sum()
