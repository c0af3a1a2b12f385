r"""Diagnostics: noise floors by bootstrap, the gaming verdicts, all deterministic scores at once.

At large Minkowski-loss weights the published super-resolution network
gamed the metrics (grid-aligned filaments, maxima overshot by 30–60 %).
:func:`noise_floors` measures how far the two gaming diagnostics
(:func:`~mink_toolkit.verification.gradient_grid_alignment`,
:func:`~mink_toolkit.verification.maximum_ratio`) move on the truth and on
bicubic just from which test patches were drawn, and
:func:`gaming_verdicts` flags a model only above that floor.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_integer
from ..functionals import DEFAULT_CONNECTIVITY, DEFAULT_PERIMETER, FUNCTIONAL_NAMES
from ..thresholds import DEFAULT_THRESHOLDS, check_thresholds
from ._common import _pair
from .categorical import critical_success_index
from .continuous import mae, maximum_ratio, rmse, wet_wasserstein
from .geometry import _errors, _mean_over_log_u
from .spatial import fractions_skill_score
from .spectral import gradient_grid_alignment, grid_alignment_terms, high_wavenumber_power_ratio, spectral_error

__all__ = [
    "bootstrap_interval",
    "superres_scores",
    "noise_floors",
    "gaming_verdicts",
    "FSS_THRESHOLDS",
    "FSS_WINDOWS",
    "GAMING_DIAGNOSTICS",
    "SPECTRAL_LOG_BINS",
    "SPECTRAL_WINDOW",
]


def bootstrap_interval(score, *fields, n_resamples: int = 200, level: float = 0.95, seed: int = 0) -> dict:
    """Percentile bootstrap of a score over cases: its sampling noise on a given set of fields.

    The cases (axis 0 of every field) are resampled with replacement
    ``n_resamples`` times and ``score(*resampled_fields)`` recomputed. Used
    for the noise floors of the gaming diagnostics: how far the grid
    alignment of the *truth* or of *bicubic* moves just from which test
    patches were drawn; and for the interval of the surrogate ablation's
    pooled R² over test patches.

    Every field is resampled with the same cases, so a paired comparison
    is a score too: ``lambda a, b, t: r2_score(a, t) - r2_score(b, t)``
    gives the interval of the difference of two models' scores on the same
    resampled cases (narrower than the two intervals suggest when the
    models err on the same cases).

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

    Paired: the same cases in both arrays, so a constant offset has no spread.

    >>> d = bootstrap_interval(lambda a, b: a.mean() - b.mean(), x + 1.0, x)
    >>> round(d["low"], 12), round(d["high"], 12)
    (1.0, 1.0)
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


#: Taper of the spectra in :func:`superres_scores`: test patches are crops of a
#: composite, not periodic fields, so the FFT needs a window
#: (see :func:`~mink_toolkit.verification.rapsd`).
SPECTRAL_WINDOW = "hann"


#: Log-spaced wavenumber bins of :func:`superres_scores`' spectral error between the
#: coarse grid's Nyquist frequency and 0.5 (every octave weighs the same;
#: for factor 8 that is 3 octaves, two bins each).
SPECTRAL_LOG_BINS = 6


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

    The two spectral scores are computed so that they do not flatter:
    spectra of Hann-windowed samples (:data:`SPECTRAL_WINDOW`; without a
    window the edge jumps of non-periodic patches leak the same spurious
    power into the prediction's and the truth's high wavenumbers, see
    :func:`~mink_toolkit.verification.rapsd`), and a spectral error
    averaged over :data:`SPECTRAL_LOG_BINS` log-spaced wavenumber bins, so
    that each octave above the cut-off counts equally instead of the
    2–4 px scales dominating (see
    :func:`~mink_toolkit.verification.spectral_error`).

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
        (``{"u=1": ...}``), ``rapsd_high_ratio`` (one-sided,
        :func:`~mink_toolkit.verification.high_wavenumber_power_ratio`),
        ``spectral_error`` (two-sided, :func:`spectral_error` over
        :data:`SPECTRAL_LOG_BINS` log bins), both above the coarse grid's
        Nyquist frequency and with the :data:`SPECTRAL_WINDOW` taper;
        ``minkowski_error`` (the MF
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
    u = check_thresholds(minkowski_thresholds, "minkowski_thresholds")
    if u[0] <= 0:
        raise ValueError(f"minkowski_thresholds must be > 0 (mm/h) to integrate over log u; got {u.tolist()}")
    errors = _errors(p, t, u, DEFAULT_CONNECTIVITY, DEFAULT_PERIMETER)
    return {
        "mae": mae(p, t),
        "rmse": rmse(p, t),
        "fss": {
            f"u={u:g}": {f"n={n}": fractions_skill_score(p, t, u, n) for n in fss_windows}
            for u in fss_thresholds
        },
        "csi": {f"u={u:g}": critical_success_index(p, t, u) for u in fss_thresholds},
        "rapsd_high_ratio": high_wavenumber_power_ratio(p, t, 1.0 / (2 * factor), window=SPECTRAL_WINDOW),
        "spectral_error": spectral_error(p, t, 1.0 / (2 * factor), window=SPECTRAL_WINDOW,
                                         log_bins=SPECTRAL_LOG_BINS),
        "minkowski_error": _mean_over_log_u(errors, u),
        "minkowski_error_per_threshold": {
            "thresholds": u.tolist(),
            **{name: errors[:, i].tolist() for i, name in enumerate(FUNCTIONAL_NAMES)},
        },
        "wasserstein_wet": wet_wasserstein(p, t, wet_threshold),
        "grid_alignment": gradient_grid_alignment(p),
        "max_ratio": maximum_ratio(p, t),
    }


#: Gaming diagnostics of :func:`noise_floors` and :func:`gaming_verdicts`; a value above its floor is suspicious.
GAMING_DIAGNOSTICS = ("grid_alignment", "max_ratio")


def noise_floors(truth: np.ndarray, bicubic: np.ndarray, *, n_resamples: int = 200, seed: int = 0) -> dict:
    """Noise floors of the gaming diagnostics, measured on the truth and on bicubic.

    For each diagnostic (grid alignment, max ratio) the test patches are
    bootstrapped (:func:`bootstrap_interval`, 95 %) for the truth and for
    bicubic; the floor is the larger of the two upper ends. A model's value
    counts as exceeding the floor only above it.

    Parameters
    ----------
    truth, bicubic : ndarray, shape (N, H, W)
        True fields and the bicubic baseline's (mm/h) of the same N cases.
    n_resamples : int
    seed : int

    Returns
    -------
    dict
        ``{diagnostic: {"truth": interval, "bicubic": interval, "floor": float}}``.
    """
    def alignment(num, energy):
        return float(num.sum() / energy.sum())

    def case_max_ratio(pred):  # per-case ratios; max_ratio is their mean over wet cases
        wet = truth.max(axis=(-2, -1)) > 0
        return pred.max(axis=(-2, -1))[wet] / truth.max(axis=(-2, -1))[wet]

    out = {"grid_alignment": {}, "max_ratio": {}}
    for ref, field in (("truth", truth), ("bicubic", bicubic)):
        out["grid_alignment"][ref] = bootstrap_interval(
            alignment, *grid_alignment_terms(field), n_resamples=n_resamples, seed=seed)
        out["max_ratio"][ref] = bootstrap_interval(np.mean, case_max_ratio(field), n_resamples=n_resamples,
                                                   seed=seed)
    for diag in out.values():
        diag["floor"] = max(diag["truth"]["high"], diag["bicubic"]["high"])
    return out


def gaming_verdicts(models: dict, floors: dict, *, baselines=(), max_ratio_intervals: dict | None = None) -> dict:
    """Per model and seed: the diagnostics, whether each exceeds its floor, and the verdict.

    A model is flagged for a diagnostic only when it exceeds the floor in
    most seeds (more than half).

    The truth's max ratio is 1 by definition and has no sampling noise, so
    the max-ratio "floor" of :func:`noise_floors` is 1 plus bicubic's
    noise, not a noise floor of the diagnostic. Given
    ``max_ratio_intervals`` (per model, the seeds' bootstrap intervals over
    test patches of its own mean max ratio, :func:`bootstrap_interval`), a
    seed instead exceeds when the lower end of its interval is above 1: the
    maxima overshoot the truth's by more than the choice of test patches
    explains.

    Parameters
    ----------
    models : dict
        ``{name: entry}``, each entry with ``entry["metrics"]["per_seed"]``, a
        list of score dicts holding the :data:`GAMING_DIAGNOSTICS`, and
        optionally ``entry["deterministic"]``.
    floors : dict
        From :func:`noise_floors`.
    baselines : collection of str
        Names of deterministic baselines, which are not judged.
    max_ratio_intervals : dict, optional
        ``{name: [interval per seed]}``, each ``{"value", "low", "high"}``;
        models without one are judged against the floor.

    Returns
    -------
    dict
        ``{name: {diagnostic: {"per_seed", "exceeds_floor", "gaming"}, "gaming": bool}}``; a max ratio
        judged by its interval also has ``"intervals"`` and ``"rule": "interval above 1"``.

    Examples
    --------
    >>> floors = {"grid_alignment": {"floor": 0.2}, "max_ratio": {"floor": 1.0}}
    >>> seeds = [{"grid_alignment": 0.1, "max_ratio": 1.2}] * 3
    >>> up = [{"value": 1.2, "low": 1.1, "high": 1.3}] * 3
    >>> gaming_verdicts({"m": {"metrics": {"per_seed": seeds}}}, floors, max_ratio_intervals={"m": up})["m"]["gaming"]
    True
    >>> noisy = [{"value": 1.2, "low": 0.9, "high": 1.5}] * 3  # above 1, but within its sampling noise
    >>> gaming_verdicts({"m": {"metrics": {"per_seed": seeds}}}, floors, max_ratio_intervals={"m": noisy})["m"]["gaming"]
    False
    """
    out = {}
    for name, entry in models.items():
        if entry.get("deterministic") and name in baselines:
            continue
        verdict = {}
        for diag in GAMING_DIAGNOSTICS:
            values = [s[diag] for s in entry["metrics"]["per_seed"]]
            intervals = (max_ratio_intervals or {}).get(name) if diag == "max_ratio" else None
            if intervals is not None:
                if len(intervals) != len(values):
                    raise ValueError(f"max_ratio_intervals[{name!r}] has {len(intervals)} seeds; the model has "
                                     f"{len(values)}")
                exceeds = [bool(i["low"] > 1.0) for i in intervals]
            else:
                exceeds = [bool(v > floors[diag]["floor"]) for v in values]
            verdict[diag] = {"per_seed": values, "exceeds_floor": exceeds,
                             "gaming": sum(exceeds) > len(exceeds) / 2}
            if intervals is not None:
                verdict[diag].update(intervals=list(intervals), rule="interval above 1")
        verdict["gaming"] = any(verdict[d]["gaming"] for d in GAMING_DIAGNOSTICS)
        out[name] = verdict
    return out
