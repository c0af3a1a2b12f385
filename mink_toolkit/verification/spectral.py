r"""Spectral and directional scores: RAPSD, power above a cut-off, grid alignment.

:func:`rapsd`, :func:`high_wavenumber_power_ratio`, :func:`spectral_error`
    Radially averaged power spectral density (optionally Hann-windowed for
    non-periodic crops); the power a prediction puts above a cut-off
    wavenumber relative to the truth (one-sided: more is not better,
    artefacts add power too); and the two-sided spectral error, the mean
    absolute log ratio of the spectra above the cut-off (0 only for the
    truth's spectrum), per annulus or per log-spaced wavenumber bin.
:func:`high_wavenumber_share`
    Share of the variance of maps (e.g. loss gradients) above a cut-off.
:func:`gradient_grid_alignment`, :func:`grid_alignment_terms`
    Gaming diagnostic: how much the gradients align with the pixel grid (the
    grid-aligned filaments the published super-resolution runs showed at
    large Minkowski-loss weights).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .._validation import check_array_field, check_choice, check_integer, check_positive
from ._common import _pair, _stack

__all__ = [
    "WINDOWS",
    "rapsd",
    "high_wavenumber_share",
    "high_wavenumber_power_ratio",
    "spectral_error",
    "gradient_grid_alignment",
    "grid_alignment_terms",
]


#: Values of the ``window`` argument of :func:`rapsd` and the spectral scores.
WINDOWS = (None, "hann")


def _check_window(window):
    """``window`` itself if it is one of :data:`WINDOWS`, else ``TypeError``/``ValueError`` naming it."""
    if window is not None and not isinstance(window, str):
        raise TypeError(f"window must be None or a string in {WINDOWS}; got {type(window).__name__}")
    return check_choice(window, WINDOWS, "window")


def _hann_2d(h: int, w: int) -> np.ndarray:
    """Outer product of two periodic (DFT-even) Hann windows, shape (h, w)."""
    from scipy.signal.windows import hann  # scipy.signal is heavy: only loaded when a window is asked for

    return np.outer(hann(h, sym=False), hann(w, sym=False))


def rapsd(field, *, window: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    r"""Radially averaged power spectral density, averaged over samples.

    The mean of each sample is removed, the sample optionally tapered by a
    window, the 2-D FFT taken, and the power :math:`|\hat x(k)|^2 / (HW)`
    averaged over annuli of width :math:`1/\max(H, W)` cycles per pixel
    (the usual definition, e.g. ``pysteps.utils.spectral.rapsd``; Harris
    et al. 2001). Power is in (mm/h)² per pixel for mm/h input.

    The FFT treats each sample as one period of a periodic field. A radar
    crop (say 128 × 128 px cut from a composite) is not periodic: its left
    and right (top and bottom) edges differ, and the jump of the periodic
    extension is a line of discontinuity whose spectrum decays only as
    :math:`k^{-2}` in power. This *leakage* adds spurious power at high
    wavenumbers, exactly where super-resolution is judged, and it is the
    same for a blurred prediction and the truth, so it flattens their
    differences. ``window="hann"`` tapers each sample to zero at its edges
    first, the standard remedy (Harris 1978); pysteps tapers non-periodic
    radar fields the same way before the FFTs of its noise generators
    (``pysteps.utils.tapering.compute_window_function``, Hann or Tukey;
    Pulkkinen et al. 2019).

    Parameters
    ----------
    field : array_like, shape (..., H, W)
        No NaN.
    window : {None, "hann"}
        ``None``: no taper (periodic fields, or to compare with pysteps'
        ``rapsd``, which it equals for square fields). ``"hann"``: each
        mean-removed sample is multiplied by
        :math:`w(i, j) = w_H(i)\,w_W(j)`, the outer product of
        ``scipy.signal.windows.hann(n, sym=False)`` (the periodic,
        "DFT-even" Hann window :math:`\sin^2(\pi i / n)`, Harris 1978),
        and the power divided by :math:`\overline{w^2}` (the mean of
        :math:`w^2` over the H × W pixels), so that white noise keeps its
        level (its power is :math:`\sigma^2` at every k either way). The
        price is a coarser spectral resolution (a pure wave spreads over
        its neighbouring annuli: the Hann main lobe spans ±2 frequency
        bins), which is why periodic fields are analysed without it.

    Returns
    -------
    frequency : ndarray, shape (K,)
        Radial frequency of each annulus in cycles per pixel, from
        ``1/max(H, W)`` up to 0.5 (Nyquist); the mean (k = 0) is dropped.
    power : ndarray, shape (K,)
        Mean power in each annulus, averaged over samples.

    Raises
    ------
    TypeError, ValueError
        ``window`` not one of ``None``, ``"hann"``.

    References
    ----------
    Harris, F. J. (1978), On the use of windows for harmonic analysis with
    the discrete Fourier transform, Proc. IEEE 66, 51–83.
    Harris, D., Foufoula-Georgiou, E., Droegemeier, K. K. & Levit, J. J.
    (2001), Multiscale statistical properties of a high-resolution
    precipitation forecast, J. Hydrometeor. 2, 406–418.
    Pulkkinen, S. et al. (2019), Pysteps: an open-source Python library for
    probabilistic precipitation nowcasting (v1.0), Geosci. Model Dev. 12,
    4185–4219.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.sin(2 * np.pi * 8 * np.arange(64) / 64)[None, :].repeat(64, 0)
    >>> f, p = rapsd(x)
    >>> float(f[np.argmax(p)])
    0.125

    A smooth ramp is not periodic: without a window its edge jump leaks
    power to every wavenumber; the Hann window removes almost all of it.

    >>> ramp = np.add.outer(np.arange(64.0), np.arange(64.0))
    >>> f, plain = rapsd(ramp)
    >>> _, hann = rapsd(ramp, window="hann")
    >>> bool(hann[f > 0.25].sum() < 1e-3 * plain[f > 0.25].sum())
    True
    """
    window = _check_window(window)
    arr = check_array_field(field, "field").astype(np.float64, copy=False)
    if not np.isfinite(arr).all():
        raise ValueError("field contains inf")
    stack = _stack(arr)
    h, w = stack.shape[-2:]
    size = max(h, w)
    centred = stack - stack.mean(axis=(-2, -1), keepdims=True)
    taper = _hann_2d(h, w) if window == "hann" else np.ones((h, w))  # multiplying by 1 changes no bit
    power2d = (np.abs(np.fft.fft2(centred * taper)) ** 2 / (h * w)).mean(axis=0) / np.mean(taper**2)
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


def _spectra(pred, target, cutoff, window=None):
    """Frequencies and the two RAPSDs of a (pred, target) pair, with ``cutoff`` checked (``window`` by :func:`rapsd`)."""
    p, t = _pair(pred, target)
    cutoff = check_positive(cutoff, "cutoff")
    if cutoff >= 0.5:
        raise ValueError(f"cutoff must be below the Nyquist frequency 0.5 cycles/pixel; got {cutoff}")
    f, pp = rapsd(p, window=window)
    _, pt = rapsd(t, window=window)
    return f, pp, pt


def high_wavenumber_power_ratio(pred, target, cutoff: float, *, window: str | None = None) -> float:
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
    window : {None, "hann"}
        Taper of :func:`rapsd`; use ``"hann"`` for crops of a larger field
        (non-periodic), where the edge jumps otherwise add the same leaked
        power to both spectra and pull the ratio towards 1.

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
    >>> high_wavenumber_power_ratio(2 * x, x, 0.25, window="hann")
    4.0
    """
    f, pp, pt = _spectra(pred, target, cutoff, window)
    high = f > cutoff
    denominator = pt[high].sum()
    if denominator == 0:
        return float("nan")
    return float(pp[high].sum() / denominator)


def _log_bin_sums(f, pp, pt, cutoff, n_bins):
    """Sum both RAPSDs over ``n_bins`` log-spaced bins ``(e_i, e_{i+1}]``, ``e = geomspace(cutoff, 0.5, n + 1)``.

    The bin is found in log units, ``x = n ln(f / cutoff) / ln(0.5 / cutoff)``,
    ``i = ceil(x) - 1``, with a tolerance of 1e-9 so that an annulus on an
    edge (k = 1/8 for cutoff 1/16: octave edges fall on annuli) lands in the
    lower bin whatever the last bit of the logarithms; 0.5 lands in the last.
    Only bins holding at least one annulus are returned.
    """
    above = f > cutoff
    x = n_bins * np.log(f[above] / cutoff) / np.log(0.5 / cutoff)
    index = np.clip(np.ceil(x - 1e-9).astype(int) - 1, 0, n_bins - 1)
    sum_p = np.bincount(index, weights=pp[above], minlength=n_bins)
    sum_t = np.bincount(index, weights=pt[above], minlength=n_bins)
    filled = np.bincount(index, minlength=n_bins) > 0
    return sum_p[filled], sum_t[filled]


def spectral_error(pred, target, cutoff: float, *, window: str | None = None, log_bins: int | None = None) -> float:
    r"""Two-sided spectral error above a cut-off: mean :math:`|\ln(P_{pred}(k) / P_{true}(k))|`.

    The sample-averaged RAPSD (:func:`rapsd`) of both fields is compared at
    every frequency ``> cutoff``; the mean absolute natural-log ratio is 0
    only when the prediction has the truth's power at every such scale.
    Unlike :func:`high_wavenumber_power_ratio` (one-sided: a blocky or noisy
    field scores "more power") it penalises too little *and* too much power
    at each scale, and a spectrum of the wrong shape even when the total is
    right. ``ln 2 ≈ 0.69`` is a factor 2 off on average.

    With ``log_bins=None`` the mean is over annuli, which are spaced
    linearly in k: above a cut-off of 1/16 cycles/px, the octave from 0.25
    to 0.5 (2–4 px scales) holds 4/7 of the annuli, and the finest scales,
    where a super-resolution model is least constrained, dominate the
    score. ``log_bins=n`` gives every octave the same weight instead, as a
    log-log spectrum plot does: the annuli above the cut-off are grouped
    into n bins between ``cutoff`` and 0.5 with log-spaced edges
    ``np.geomspace(cutoff, 0.5, n + 1)`` (bin i holds the annuli with
    :math:`e_i < k \le e_{i+1}`; an annulus on an edge, as k = 1/8 is for
    ``cutoff = 1/16``, belongs to the lower bin), each spectrum's annulus
    powers are summed within each bin (the ratio of the sums equals the
    ratio of the means: both spectra have the same annuli), and the score
    is the mean :math:`|\ln|` ratio over the bins holding at least one
    annulus (small fields leave the lowest bins empty: few annuli lie near
    the cut-off).

    Parameters
    ----------
    pred, target : array_like, shape (..., H, W)
        Rain rates (mm/h), finite and non-negative.
    cutoff : float
        Frequency in cycles per pixel, in (0, 0.5); for super-resolution the
        coarse grid's Nyquist frequency ``1 / (2 * factor)``.
    window : {None, "hann"}
        Taper of :func:`rapsd`; ``"hann"`` for non-periodic crops.
    log_bins : int >= 1, optional
        Number of log-spaced wavenumber bins; ``None``: every annulus
        counts once.

    Returns
    -------
    float
        NaN when the target has no power above the cut-off; inf when the
        prediction has none in an annulus (bin) where the truth has some.

    Raises
    ------
    TypeError, ValueError
        ``log_bins`` not a positive integer, ``window`` unknown, ``cutoff``
        outside (0, 0.5).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).gamma(0.5, 2.0, (4, 32, 32))
    >>> spectral_error(x, x, 1 / 16)
    0.0
    >>> bool(np.isclose(spectral_error(2 * x, x, 1 / 16), np.log(4)))  # 4x the power at every k
    True
    >>> bool(np.isclose(spectral_error(2 * x, x, 1 / 16, window="hann", log_bins=6), np.log(4)))
    True
    """
    if log_bins is not None:
        log_bins = check_integer(log_bins, "log_bins", minimum=1)
    f, pp, pt = _spectra(pred, target, cutoff, window)
    if log_bins is None:
        keep = f > cutoff
        pp, pt = pp[keep], pt[keep]
    else:
        pp, pt = _log_bin_sums(f, pp, pt, cutoff, log_bins)
    keep = pt > 0
    if not keep.any():
        return float("nan")
    if np.any(pp[keep] <= 0):
        return float("inf")
    return float(np.mean(np.abs(np.log(pp[keep] / pt[keep]))))


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
