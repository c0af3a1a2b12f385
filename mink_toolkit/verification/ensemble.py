r"""Scores of ensembles (stochastic generators).

The continuous ranked probability score per pixel (fair or plain), the
multivariate energy score per field, the spread/skill ratio and the rank
histogram, over all pixels or over the pixels where the truth is wet.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_finite, check_positive
from ._common import _members

__all__ = [
    "crps_pixels",
    "crps_ensemble",
    "energy_score",
    "spread_skill_ratio",
    "rank_histogram",
    "rank_histogram_wet",
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


def _ranks(m: np.ndarray, t: np.ndarray, precision, seed) -> np.ndarray:
    """Rank of the truth among the members at every pixel (flattened), ties broken at random.

    ``m`` (M, ...) and ``t`` (...) checked by :func:`_members`. The random
    draws cover every pixel, so a histogram of a subset of pixels breaks
    their ties exactly as the all-pixel histogram with the same seed does.
    """
    if precision is not None:
        precision = check_positive(precision, "precision")
        m = np.round(m / precision) * precision
        t = np.round(t / precision) * precision  # the same grid on both sides (exact ties)
    below = np.sum(m < t[None], axis=0).ravel()
    ties = np.sum(m == t[None], axis=0).ravel()
    rng = np.random.default_rng(seed)
    return below + np.floor(rng.random(below.shape) * (ties + 1)).astype(int)


def _frequencies(rank: np.ndarray, n_members: int) -> np.ndarray:
    """Histogram of ranks 0..M as frequencies summing to 1."""
    counts = np.bincount(rank, minlength=n_members + 1)
    return counts / counts.sum()


def rank_histogram(members, truth, *, precision: float | None = None, seed: int = 0) -> np.ndarray:
    """Rank histogram (Talagrand diagram) of the truth among the members, pooled over pixels.

    The rank of the truth is the number of members below it; ties (many
    pixels are exactly dry in the truth and in the members) are broken at
    random, uniformly over the tied positions (Hamill 2001), with a seeded
    generator. A reliable ensemble gives a flat histogram (every frequency
    1/(M+1)); a U shape means too little spread, a dome too much, a slope
    a bias.

    Pooled over all pixels of a rain field, the dry pixels, where truth
    and members tie at 0 and the ties are broken uniformly, fill every bin
    equally and make any ensemble look flatter than it is; see
    :func:`rank_histogram_wet` for the histogram where it rains.

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
    return _frequencies(_ranks(m, t, precision, seed), m.shape[0])


def rank_histogram_wet(members, truth, *, threshold: float = 0.1, precision: float | None = None,
                       seed: int = 0) -> np.ndarray:
    """Rank histogram of the truth among the members at the pixels where the truth is wet.

    :func:`rank_histogram` restricted to the pixels with
    ``truth >= threshold`` (mm/h; the truth as given, before any rounding
    to ``precision``). Over all pixels of a rain field, most pixels are dry
    in the truth and in every member: these ties are broken at random
    (Hamill 2001) and spread uniformly over all M + 1 bins, so they dilute
    whatever the ensemble does where it rains: an ensemble far too dry in
    the rain looks much flatter over all pixels than it is.

    Stratifying by the *observed* value has a pitfall (Bellier et al.
    2017): selecting the pixels where the truth is high also selects those
    where it lies high in its own distribution, so a reliable ensemble
    leans towards the upper ranks here unless its members share the
    truth's wet area (as the members of a super-resolution generator, all
    conditioned on the same coarse input, largely do; the tests show both
    cases). Read this histogram against a reference (the same histogram
    of a baseline), not against flatness alone; what it shows plainly is
    an ensemble too dry where it rains (mass piled up in the last bin).

    Ranks, rounding and tie breaking are those of :func:`rank_histogram`
    with the same ``seed`` (the same random draw per pixel), so with a
    threshold at or below the driest truth the two histograms are equal.

    Parameters
    ----------
    members, truth, precision, seed
        As in :func:`rank_histogram` (``precision`` 0.01 mm/h for OPERA rain rates).
    threshold : float
        Wet-pixel threshold (mm/h), finite and >= 0.

    Returns
    -------
    ndarray, shape (M + 1,)
        Frequencies of the wet pixels' ranks, summing to 1.

    Raises
    ------
    ValueError
        ``threshold`` negative or not finite, or no pixel of the truth at
        or above it.

    References
    ----------
    Hamill, T. M. (2001), Mon. Wea. Rev. 129, 550–560.
    Bellier, J., Zin, I. & Bontron, G. (2017), Sample stratification in
    verification of ensemble forecasts of continuous scalar variables:
    potential benefits and pitfalls, Mon. Wea. Rev. 145, 3529–3544.

    Examples
    --------
    A dry ensemble where it rains: half the pixels are dry everywhere (ties,
    spread over the bins), in the other half the truth exceeds both members.

    >>> import numpy as np
    >>> truth = np.array([0.0, 0.0, 0.0, 0.0, 2.0, 3.0, 4.0, 5.0])
    >>> members = np.stack([np.where(truth > 0, 1.0, 0.0), np.where(truth > 0, 0.5, 0.0)])
    >>> rank_histogram_wet(members, truth).tolist()
    [0.0, 0.0, 1.0]
    >>> float(rank_histogram(members, truth)[-1]) < 1.0
    True
    """
    m, t = _members(members, truth)
    threshold = check_finite(threshold, "threshold")
    if threshold < 0:
        raise ValueError(f"threshold must be >= 0 (mm/h); got {threshold}")
    wet = (t >= threshold).ravel()
    if not wet.any():
        raise ValueError(f"no pixel of the truth is at or above threshold={threshold:g} mm/h "
                         f"(truth max {t.max():.3g}); lower threshold or score wetter cases")
    return _frequencies(_ranks(m, t, precision, seed)[wet], m.shape[0])
