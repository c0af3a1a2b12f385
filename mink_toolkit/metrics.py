r"""Verification metrics for precipitation super-resolution.

Pure functions on numpy arrays shaped ``(..., H, W)`` (rain rate in mm/h;
leading dims are samples). Scores that need events (FSS, CSI) are pooled
over the samples: numerators and denominators are summed over every sample
before the ratio is taken, the usual way to aggregate contingency-type
scores over many cases (Roberts & Lean 2008, section 3b).

Contents
--------
:func:`mae`, :func:`rmse`
    Pixel errors (mm/h).
:func:`fractions_skill_score`
    FSS of Roberts & Lean (2008) for one threshold and window.
:func:`critical_success_index`
    CSI = hits / (hits + misses + false alarms).
:func:`rapsd`, :func:`high_wavenumber_power_ratio`, :func:`spectral_error`
    Radially averaged power spectral density; the power a prediction puts
    above a cut-off wavenumber relative to the truth (one-sided: more is not
    better, artefacts add power too); and the two-sided spectral error, the
    mean absolute log ratio of the spectra above the cut-off (0 only for the
    truth's spectrum).
:func:`minkowski_errors`, :func:`minkowski_error`
    Exact Minkowski-functional errors per threshold (log1p space), and their
    mean over log u with the toolkit's one threshold weighting
    (:func:`mink_toolkit.losses.threshold_weights`).
:func:`wet_wasserstein`
    Wasserstein-1 distance between wet-pixel intensity distributions.
:func:`gradient_grid_alignment`, :func:`maximum_ratio`
    Gaming diagnostics: grid-aligned gradients and overshot maxima, the two
    symptoms the published super-resolution runs showed at large
    Minkowski-loss weights.
:func:`crps_ensemble`, :func:`energy_score`, :func:`spread_skill_ratio`, :func:`rank_histogram`
    Scores of ensembles (stochastic generators): the continuous ranked
    probability score per pixel (fair or plain), the multivariate energy
    score per field, the spread/skill ratio and the rank histogram.
:func:`bootstrap_interval`
    Noise floors: a percentile interval of any score over resampled cases.
:func:`superres_scores`
    The deterministic scores in one dictionary.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.stats import wasserstein_distance

from ._validation import check_array_field, check_finite, check_integer, check_positive, check_thresholds
from .functionals import DEFAULT_THRESHOLDS, FUNCTIONAL_NAMES, compress_functionals, minkowski_functionals
from .losses import threshold_weights

__all__ = [
    "mae",
    "rmse",
    "fractions_skill_score",
    "critical_success_index",
    "rapsd",
    "high_wavenumber_power_ratio",
    "high_wavenumber_share",
    "spectral_error",
    "r2_score",
    "minkowski_errors",
    "minkowski_error",
    "wet_wasserstein",
    "gradient_grid_alignment",
    "grid_alignment_terms",
    "maximum_ratio",
    "crps_ensemble",
    "energy_score",
    "spread_skill_ratio",
    "rank_histogram",
    "bootstrap_interval",
    "superres_scores",
]


def _pair(pred, target) -> tuple[np.ndarray, np.ndarray]:
    """Validate a prediction/truth pair: same shape, finite, non-negative."""
    p = check_array_field(pred, "pred").astype(np.float64, copy=False)
    t = check_array_field(target, "target").astype(np.float64, copy=False)
    if p.shape != t.shape:
        raise ValueError(f"pred and target differ in shape: {p.shape} vs {t.shape}")
    for name, arr in (("pred", p), ("target", t)):
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} contains inf")
        if (arr < 0).any():
            raise ValueError(f"{name} contains negative rain rates (min {arr.min():.3g})")
    return p, t


def _stack(arr: np.ndarray) -> np.ndarray:
    """(..., H, W) -> (B, H, W)."""
    return arr.reshape(-1, *arr.shape[-2:])


def mae(pred, target) -> float:
    """Mean absolute error over all pixels (units of the fields).

    Parameters
    ----------
    pred, target : array_like, shape (..., H, W)
        Rain rates (mm/h), finite and non-negative.

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> mae(np.ones((2, 2)), np.zeros((2, 2)))
    1.0
    """
    p, t = _pair(pred, target)
    return float(np.mean(np.abs(p - t)))


def rmse(pred, target) -> float:
    """Root-mean-square error over all pixels (units of the fields).

    Examples
    --------
    >>> import numpy as np
    >>> rmse(np.array([[0.0, 2.0]]), np.zeros((1, 2)))
    1.4142135623730951
    """
    p, t = _pair(pred, target)
    return float(np.sqrt(np.mean((p - t) ** 2)))


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


def critical_success_index(pred, target, threshold: float) -> float:
    """Critical success index (threat score) pooled over samples.

    CSI = hits / (hits + misses + false alarms) for events ``x >= threshold``.

    Returns
    -------
    float
        In [0, 1]; NaN when neither field has an event.

    Examples
    --------
    >>> import numpy as np
    >>> critical_success_index(np.array([[2.0, 2.0, 0.0]]), np.array([[2.0, 0.0, 2.0]]), 1.0)
    0.3333333333333333
    """
    p, t = _pair(pred, target)
    check_finite(threshold, "threshold")
    ep, et = p >= threshold, t >= threshold
    hits = np.sum(ep & et)
    denominator = np.sum(ep | et)
    if denominator == 0:
        return float("nan")
    return float(hits / denominator)


def rapsd(field) -> tuple[np.ndarray, np.ndarray]:
    r"""Radially averaged power spectral density, averaged over samples.

    The mean of each sample is removed, the 2-D FFT taken, and the power
    :math:`|\hat x(k)|^2 / (HW)` averaged over annuli of width
    :math:`1/\max(H, W)` cycles per pixel (the usual definition, e.g.
    ``pysteps.utils.spectral.rapsd``; Harris et al. 2001). Power is in
    (mm/h)² per pixel for mm/h input.

    Parameters
    ----------
    field : array_like, shape (..., H, W)
        No NaN.

    Returns
    -------
    frequency : ndarray, shape (K,)
        Radial frequency of each annulus in cycles per pixel, from
        ``1/max(H, W)`` up to 0.5 (Nyquist); the mean (k = 0) is dropped.
    power : ndarray, shape (K,)
        Mean power in each annulus, averaged over samples.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.sin(2 * np.pi * 8 * np.arange(64) / 64)[None, :].repeat(64, 0)
    >>> f, p = rapsd(x)
    >>> float(f[np.argmax(p)])
    0.125
    """
    arr = check_array_field(field, "field").astype(np.float64, copy=False)
    if not np.isfinite(arr).all():
        raise ValueError("field contains inf")
    stack = _stack(arr)
    h, w = stack.shape[-2:]
    size = max(h, w)
    centred = stack - stack.mean(axis=(-2, -1), keepdims=True)
    power2d = (np.abs(np.fft.fft2(centred)) ** 2 / (h * w)).mean(axis=0)
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[None, :]
    radius = np.sqrt(fx**2 + fy**2)
    bins = np.rint(radius * size).astype(int)  # annulus index
    n_bins = size // 2 + 1
    keep = bins < n_bins
    sums = np.bincount(bins[keep], weights=power2d[keep], minlength=n_bins)
    counts = np.bincount(bins[keep], minlength=n_bins)
    power = sums[1:] / np.maximum(counts[1:], 1)
    frequency = np.arange(1, n_bins) / size
    return frequency, power


def high_wavenumber_share(maps, cutoff: float) -> float:
    r"""Share of the variance of ``maps`` at wavenumbers above ``cutoff``.

    The 2-D periodogram of each map (mean removed) is summed over the maps;
    the share is the power at :math:`|k| > \text{cutoff}` over the total (by
    Parseval, the fraction of the variance carried above the cut-off). Used
    on gradient maps: how much of what a loss tells a network lies at scales
    the coarse input cannot carry. 0 for smooth maps; white noise gives
    :math:`1 - \pi c^2` for ``cutoff = c``.

    Parameters
    ----------
    maps : array_like, shape (..., H, W)
        Real maps (any units), finite.
    cutoff : float
        Wavenumber in cycles per pixel, in (0, 0.5·√2).

    Returns
    -------
    float
        NaN for maps without variance.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(32)
    >>> smooth = np.cos(2 * np.pi * x / 32)[None, :] * np.ones((32, 1))
    >>> rough = np.cos(2 * np.pi * 12 * x / 32)[None, :] * np.ones((32, 1))
    >>> round(high_wavenumber_share(smooth, 1 / 16), 6), round(high_wavenumber_share(rough, 1 / 16), 6)
    (0.0, 1.0)
    """
    m = check_array_field(maps, "maps").astype(np.float64, copy=False)
    cutoff = check_positive(cutoff, "cutoff")
    m = m.reshape(-1, *m.shape[-2:])
    power = np.abs(np.fft.fft2(m - m.mean(axis=(-2, -1), keepdims=True))) ** 2
    fy = np.fft.fftfreq(m.shape[-2])[:, None]
    fx = np.fft.fftfreq(m.shape[-1])[None, :]
    high = np.hypot(fx, fy) > cutoff
    total = power.sum()
    return float(power[:, high].sum() / total) if total > 0 else float("nan")


def r2_score(pred, target) -> float:
    r"""Coefficient of determination :math:`1 - \sum (p - t)^2 / \sum (t - \bar t)^2`, pooled.

    All entries are pooled (e.g. patches × thresholds of one functional in the
    compressed space of :func:`~mink_toolkit.functionals.compress_functionals`).

    Parameters
    ----------
    pred, target : array_like, same shape

    Returns
    -------
    float
        NaN when ``target`` is constant.

    Examples
    --------
    >>> r2_score([1.0, 2.0, 3.0], [1.0, 2.0, 4.0])
    0.7857142857142857
    """
    p = np.asarray(pred, dtype=np.float64)
    t = np.asarray(target, dtype=np.float64)
    if p.shape != t.shape:
        raise ValueError(f"pred and target differ in shape: {p.shape} vs {t.shape}")
    residual = np.sum((p - t) ** 2)
    total = np.sum((t - t.mean()) ** 2)
    return float(1.0 - residual / total) if total > 0 else float("nan")



def _spectra(pred, target, cutoff):
    """Frequencies and the two RAPSDs of a (pred, target) pair, with ``cutoff`` checked."""
    p, t = _pair(pred, target)
    cutoff = check_positive(cutoff, "cutoff")
    if cutoff >= 0.5:
        raise ValueError(f"cutoff must be below the Nyquist frequency 0.5 cycles/pixel; got {cutoff}")
    f, pp = rapsd(p)
    _, pt = rapsd(t)
    return f, pp, pt

def high_wavenumber_power_ratio(pred, target, cutoff: float) -> float:
    """Power above a cut-off frequency in ``pred`` relative to ``target``.

    Sum of the sample-averaged RAPSD over annuli with frequency
    ``> cutoff`` for ``pred``, divided by the same sum for ``target``. With
    ``cutoff = 1 / (2 * factor)`` (the Nyquist frequency of the coarse grid)
    it measures how much of the variance the coarse input cannot carry a
    super-resolution model puts back: 1 is the truth's amount, < 1 blur,
    > 1 spurious small-scale structure.

    Parameters
    ----------
    pred, target : array_like, shape (..., H, W)
    cutoff : float
        Frequency in cycles per pixel, in (0, 0.5).

    Returns
    -------
    float
        NaN when the target has no power above the cut-off.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.random((32, 32))
    >>> high_wavenumber_power_ratio(x, x, 0.25)
    1.0
    """
    f, pp, pt = _spectra(pred, target, cutoff)
    high = f > cutoff
    denominator = pt[high].sum()
    if denominator == 0:
        return float("nan")
    return float(pp[high].sum() / denominator)


def spectral_error(pred, target, cutoff: float) -> float:
    r"""Two-sided spectral error above a cut-off: mean :math:`|\ln(P_{pred}(k) / P_{true}(k))|`.

    The sample-averaged RAPSD (:func:`rapsd`) of both fields is compared
    annulus by annulus at every frequency ``> cutoff``; the mean absolute
    natural-log ratio is 0 only when the prediction has the truth's power at
    every such scale. Unlike :func:`high_wavenumber_power_ratio` (one-sided:
    a blocky or noisy field scores "more power") it penalises too little
    *and* too much power at each scale, and a spectrum of the wrong shape
    even when the total is right. ``ln 2 ≈ 0.69`` is a factor 2 off on
    average.

    Parameters
    ----------
    pred, target : array_like, shape (..., H, W)
        Rain rates (mm/h), finite and non-negative.
    cutoff : float
        Frequency in cycles per pixel, in (0, 0.5); for super-resolution the
        coarse grid's Nyquist frequency ``1 / (2 * factor)``.

    Returns
    -------
    float
        NaN when the target has no power above the cut-off; inf when the
        prediction has none in an annulus where the truth has some.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).gamma(0.5, 2.0, (4, 32, 32))
    >>> spectral_error(x, x, 1 / 16)
    0.0
    >>> bool(np.isclose(spectral_error(2 * x, x, 1 / 16), np.log(4)))  # 4x the power at every k
    True
    """
    f, pp, pt = _spectra(pred, target, cutoff)
    keep = (f > cutoff) & (pt > 0)
    if not keep.any():
        return float("nan")
    if np.any(pp[keep] <= 0):
        return float("inf")
    return float(np.mean(np.abs(np.log(pp[keep] / pt[keep]))))


def minkowski_errors(pred, target, thresholds, *, connectivity: int = 8, perimeter: str = "edges") -> np.ndarray:
    """Exact Minkowski-functional errors per threshold.

    Mean over samples of ``|f(MF(pred)) - f(MF(target))|`` with ``MF`` the
    exact :func:`~mink_toolkit.minkowski_functionals` and ``f`` the loss
    space of :func:`~mink_toolkit.losses.functional_distance` (log1p for
    area and perimeter, signed log1p for χ), so the numbers are comparable
    with the loss.

    Parameters
    ----------
    pred, target : array_like, shape (..., H, W)
        Rain rates (mm/h).
    thresholds : 1-D array_like
        Strictly increasing thresholds in mm/h.
    connectivity, perimeter
        As in :func:`~mink_toolkit.minkowski_functionals`.

    Returns
    -------
    ndarray, shape (len(thresholds), 3)
        Columns area, perimeter, Euler characteristic.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.zeros((1, 8, 8)); x[0, 2:5, 2:5] = 3.0
    >>> minkowski_errors(x, x, [1.0, 2.0]).tolist()
    [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    """
    p, t = _pair(pred, target)
    thresholds = check_thresholds(thresholds)
    mp = minkowski_functionals(_stack(p), thresholds, connectivity=connectivity, perimeter=perimeter)
    mt = minkowski_functionals(_stack(t), thresholds, connectivity=connectivity, perimeter=perimeter)
    return np.abs(compress_functionals(mp) - compress_functionals(mt)).mean(axis=0)


def minkowski_error(pred, target, thresholds=DEFAULT_THRESHOLDS, *, connectivity: int = 8,
                    perimeter: str = "edges") -> dict:
    r"""The MF error: :func:`minkowski_errors` averaged over log u, per functional and overall.

    The thresholds are weighted with the toolkit's one weighting,
    :func:`mink_toolkit.losses.threshold_weights` (trapezoid over
    :math:`\log u`, normalised to sum to 1), the weighting of the loss
    terms: each decade of thresholds counts the same. The value is the
    :func:`~mink_toolkit.losses.functional_distance` between the exact
    functionals, averaged over samples, divided by :math:`\log(u_{max}/u_{min})`
    (and by 3 for ``"mean"``).

    Parameters
    ----------
    pred, target : array_like, shape (..., H, W)
        Rain rates (mm/h).
    thresholds : 1-D array_like, > 0, increasing
        Thresholds (mm/h); default :data:`~mink_toolkit.DEFAULT_THRESHOLDS`.
    connectivity, perimeter
        As in :func:`~mink_toolkit.minkowski_functionals`.

    Returns
    -------
    dict
        ``area``, ``perimeter``, ``euler_characteristic`` and ``mean`` (of
        the three), floats.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.zeros((1, 8, 8)); x[0, 2:5, 2:5] = 3.0
    >>> minkowski_error(x, x, [1.0, 2.0])["mean"]
    0.0
    """
    errors = minkowski_errors(pred, target, thresholds, connectivity=connectivity, perimeter=perimeter)
    w = threshold_weights(np.asarray(thresholds, dtype=np.float64), normalise=True)
    per = {name: float(w @ errors[:, i]) for i, name in enumerate(FUNCTIONAL_NAMES)}
    return {**per, "mean": float(np.mean(list(per.values())))}


def wet_wasserstein(pred, target, wet_threshold: float = 0.1) -> float:
    """Wasserstein-1 distance between wet-pixel intensity distributions.

    The wet pixels (``>= wet_threshold``) of all samples are pooled for each
    field and compared with :func:`scipy.stats.wasserstein_distance` (mm/h).
    Blur shifts mass from the tails towards moderate intensities, which this
    distance sees and the MAE hardly does.

    Returns
    -------
    float
        NaN when either field has no wet pixel.

    Examples
    --------
    >>> import numpy as np
    >>> wet_wasserstein(np.full((2, 2), 2.0), np.full((2, 2), 1.0))
    1.0
    """
    p, t = _pair(pred, target)
    wet_threshold = check_positive(wet_threshold, "wet_threshold")
    wp, wt = p[p >= wet_threshold], t[t >= wet_threshold]
    if wp.size == 0 or wt.size == 0:
        return float("nan")
    return float(wasserstein_distance(wp, wt))


def gradient_grid_alignment(field) -> float:
    r"""How much the field's gradients align with the pixel grid.

    With Sobel gradients :math:`g = (g_x, g_y)` and direction θ,

    .. math::
        A = \frac{\sum |g|^2 \cos 4\theta}{\sum |g|^2}
          = \frac{\sum (g_x^4 - 6 g_x^2 g_y^2 + g_y^4)/|g|^2}{\sum |g|^2}

    over all pixels of all samples. A = 1 when every edge is horizontal or
    vertical (grid-aligned filaments, one symptom of a network gaming a
    pixel-based functional loss), −1 when every edge is diagonal, about 0
    for isotropic fields. Compare a model's value with the truth's.

    Parameters
    ----------
    field : array_like, shape (..., H, W)

    Returns
    -------
    float
        In [−1, 1]; NaN for constant fields.

    Examples
    --------
    >>> import numpy as np
    >>> stripes = np.tile([0.0, 0.0, 1.0, 1.0], (8, 4))
    >>> round(gradient_grid_alignment(stripes), 3)
    1.0
    """
    quartic, energy = grid_alignment_terms(field)
    total = energy.sum()
    if total == 0:
        return float("nan")
    return float(quartic.sum() / total)


def grid_alignment_terms(field) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample numerator and denominator of :func:`gradient_grid_alignment`.

    ``A = numerator.sum() / energy.sum()``; with the sums per sample a
    bootstrap over samples needs no new gradients (see
    :func:`bootstrap_interval`).

    Parameters
    ----------
    field : array_like, shape (..., H, W)

    Returns
    -------
    numerator, energy : ndarray, shape (B,)
        :math:`\\sum |g|^2 \\cos 4\\theta` and :math:`\\sum |g|^2` of each of
        the B = prod(...) samples.

    Examples
    --------
    >>> import numpy as np
    >>> num, energy = grid_alignment_terms(np.tile([0.0, 0.0, 1.0, 1.0], (2, 8, 4)))
    >>> (num / energy).tolist()
    [1.0, 1.0]
    """
    arr = check_array_field(field, "field").astype(np.float64, copy=False)
    if not np.isfinite(arr).all():
        raise ValueError("field contains NaN or inf")
    stack = _stack(arr)
    gx = ndimage.sobel(stack, axis=-1, mode="nearest")
    gy = ndimage.sobel(stack, axis=-2, mode="nearest")
    energy = gx**2 + gy**2
    with np.errstate(invalid="ignore", divide="ignore"):
        quartic = np.where(energy > 0, (gx**4 - 6 * gx**2 * gy**2 + gy**4) / energy, 0.0)
    return quartic.sum(axis=(-2, -1)), energy.sum(axis=(-2, -1))


def maximum_ratio(pred, target) -> float:
    """Mean over samples of max(pred) / max(target).

    The published runs at large Minkowski-loss weights overshot the maxima
    by 30–60 % (ratio 1.3–1.6); blur gives ratios below 1. Samples whose
    truth is all dry are skipped.

    Returns
    -------
    float
        NaN when every target sample is dry.

    Examples
    --------
    >>> import numpy as np
    >>> maximum_ratio(np.full((2, 3, 3), 3.0), np.full((2, 3, 3), 2.0))
    1.5
    """
    p, t = _pair(pred, target)
    mp = _stack(p).max(axis=(-2, -1))
    mt = _stack(t).max(axis=(-2, -1))
    keep = mt > 0
    if not keep.any():
        return float("nan")
    return float(np.mean(mp[keep] / mt[keep]))


def _members(members, truth) -> tuple[np.ndarray, np.ndarray]:
    """Validate an ensemble (M, ...) against a truth (...): M >= 2, finite, non-negative."""
    m, t = np.asarray(members), np.asarray(truth)
    for name, arr in (("members", m), ("truth", t)):
        if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
            raise TypeError(f"{name} must hold real numbers; got dtype {arr.dtype}")
    m, t = m.astype(np.float64, copy=False), t.astype(np.float64, copy=False)
    if m.ndim < 2 or m.shape[1:] != t.shape:
        raise ValueError(f"members must be shaped (M, *truth.shape) = (M, {', '.join(map(str, t.shape))}); "
                         f"got {m.shape}")
    if m.shape[0] < 2:
        raise ValueError(f"an ensemble needs at least 2 members; got {m.shape[0]}")
    for name, arr in (("members", m), ("truth", t)):
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} contains NaN or inf")
    return m, t


def _pair_sum(sorted_members: np.ndarray) -> np.ndarray:
    r"""Sum over ordered pairs :math:`\sum_{i,j} |x_i - x_j|` along axis 0 of ascending-sorted members."""
    m = sorted_members.shape[0]
    rank = (2 * np.arange(1, m + 1) - m - 1).reshape(-1, *([1] * (sorted_members.ndim - 1)))
    return 2.0 * np.sum(rank * sorted_members, axis=0)


def crps_ensemble(members, truth, *, fair: bool = True) -> float:
    r"""Continuous ranked probability score of an ensemble, averaged over every pixel.

    Per pixel, with members :math:`x_1 \dots x_M` and truth :math:`y`,

    .. math::
        \mathrm{CRPS} = \frac1M \sum_i |x_i - y| - \frac{1}{2M(M-1)} \sum_{i,j} |x_i - x_j|

    (the *fair* CRPS of Ferro 2014: unbiased for the CRPS of the distribution
    the members are drawn from, whatever M), or with :math:`2M^2` in the
    denominator (``fair=False``: the CRPS of the members' empirical
    distribution). Lower is better; for one member it would be the MAE, and
    a deterministic forecast's CRPS is its MAE.

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
    skill = np.mean(np.abs(m - t[None]), axis=0)
    spread = _pair_sum(np.sort(m, axis=0)) / (2.0 * n * (n - 1) if fair else 2.0 * n * n)
    return float(np.mean(skill - spread))


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


def bootstrap_interval(score, *fields, n_resamples: int = 200, level: float = 0.95, seed: int = 0) -> dict:
    """Percentile bootstrap of a score over cases: its sampling noise on a given set of fields.

    The cases (axis 0 of every field) are resampled with replacement
    ``n_resamples`` times and ``score(*resampled_fields)`` recomputed. Used
    for the noise floors of the gaming diagnostics: how far the grid
    alignment of the *truth* or of *bicubic* moves just from which test
    patches were drawn.

    Parameters
    ----------
    score : callable
        ``score(*fields) -> float``, e.g. :func:`gradient_grid_alignment`.
    *fields : array_like, shape (N, ...)
        Arrays with the same number N of cases.
    n_resamples : int
    level : float in (0, 1)
        Central coverage of the interval.
    seed : int

    Returns
    -------
    dict
        ``value`` (the score of the fields as given), ``low``, ``high``
        (percentiles), ``std`` (of the resampled scores).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(10.0)
    >>> b = bootstrap_interval(np.mean, x, n_resamples=500)
    >>> b["value"], b["low"] < 4.5 < b["high"]
    (4.5, True)
    """
    if not callable(score):
        raise TypeError(f"score must be callable; got {type(score).__name__}")
    if not fields:
        raise ValueError("bootstrap_interval needs at least one field")
    arrays = [np.asarray(f) for f in fields]
    n = arrays[0].shape[0] if arrays[0].ndim else 0
    if n < 2 or any(a.ndim == 0 or a.shape[0] != n for a in arrays):
        raise ValueError(f"fields must share a case axis of length >= 2; got {[a.shape for a in arrays]}")
    n_resamples = check_integer(n_resamples, "n_resamples", minimum=2)
    level = float(level)
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1); got {level}")
    rng = np.random.default_rng(seed)
    values = np.array([score(*(a[idx] for a in arrays)) for idx in rng.integers(0, n, (n_resamples, n))])
    tail = 100 * (1 - level) / 2
    return {"value": float(score(*arrays)), "low": float(np.nanpercentile(values, tail)),
            "high": float(np.nanpercentile(values, 100 - tail)), "std": float(np.nanstd(values))}


#: Default scores of the super-resolution experiment (issue: FSS at 1 and 5
#: mm/h on windows of 1, 3, 9 and 27 px).
FSS_THRESHOLDS = (1.0, 5.0)
FSS_WINDOWS = (1, 3, 9, 27)


def superres_scores(
    pred,
    target,
    *,
    factor: int,
    fss_thresholds=FSS_THRESHOLDS,
    fss_windows=FSS_WINDOWS,
    minkowski_thresholds=DEFAULT_THRESHOLDS,
    wet_threshold: float = 0.1,
) -> dict:
    """Every deterministic super-resolution score of the toolkit in one dictionary.

    Parameters
    ----------
    pred, target : array_like, shape (B, H, W)
        Predicted and true rain rates (mm/h).
    factor : int
        Coarsening factor; the high-wavenumber ratio uses the coarse grid's
        Nyquist frequency ``1 / (2 * factor)`` as cut-off.
    fss_thresholds, fss_windows
        FSS and CSI thresholds (mm/h) and FSS windows (px).
    minkowski_thresholds
        Thresholds (mm/h) of the functional errors.
    wet_threshold : float
        Wet-pixel threshold of the Wasserstein distance (mm/h).

    Returns
    -------
    dict
        ``mae``, ``rmse``, ``fss`` (``{"u=1": {"n=1": ...}}``), ``csi``
        (``{"u=1": ...}``), ``rapsd_high_ratio`` (one-sided),
        ``spectral_error`` (two-sided, :func:`spectral_error`), both above
        the coarse grid's Nyquist frequency; ``minkowski_error`` (the MF
        error of :func:`minkowski_error`: mean over log u per functional
        plus ``mean``),
        ``minkowski_error_per_threshold`` (lists), ``wasserstein_wet``,
        ``grid_alignment``, ``max_ratio``. Floats only, ready for JSON.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).gamma(0.5, 2.0, (2, 32, 32))
    >>> s = superres_scores(x, x, factor=8)
    >>> s["mae"], s["fss"]["u=1"]["n=1"], s["rapsd_high_ratio"], s["spectral_error"]
    (0.0, 1.0, 1.0, 0.0)
    """
    factor = check_integer(factor, "factor", minimum=2)
    p, t = _pair(pred, target)
    errors = minkowski_errors(p, t, minkowski_thresholds)
    weights = threshold_weights(np.asarray(minkowski_thresholds, dtype=np.float64), normalise=True)
    per_functional = {name: float(weights @ errors[:, i]) for i, name in enumerate(FUNCTIONAL_NAMES)}
    return {
        "mae": mae(p, t),
        "rmse": rmse(p, t),
        "fss": {
            f"u={u:g}": {f"n={n}": fractions_skill_score(p, t, u, n) for n in fss_windows}
            for u in fss_thresholds
        },
        "csi": {f"u={u:g}": critical_success_index(p, t, u) for u in fss_thresholds},
        "rapsd_high_ratio": high_wavenumber_power_ratio(p, t, 1.0 / (2 * factor)),
        "spectral_error": spectral_error(p, t, 1.0 / (2 * factor)),
        "minkowski_error": {**per_functional, "mean": float(np.mean(list(per_functional.values())))},
        "minkowski_error_per_threshold": {
            "thresholds": [float(u) for u in minkowski_thresholds],
            **{name: errors[:, i].tolist() for i, name in enumerate(FUNCTIONAL_NAMES)},
        },
        "wasserstein_wet": wet_wasserstein(p, t, wet_threshold),
        "grid_alignment": gradient_grid_alignment(p),
        "max_ratio": maximum_ratio(p, t),
    }
