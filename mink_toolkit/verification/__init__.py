r"""Verification of rain fields and ensembles, in the style of pysteps' ``verification`` package.

Pure functions on numpy arrays shaped ``(..., H, W)`` (rain rate in mm/h;
leading dims are samples). Numpy and scipy only: importing this package
does not load torch (a test checks it), so scoring runs anywhere.

Modules
-------
:mod:`~mink_toolkit.verification.continuous`
    :func:`mae`, :func:`rmse`, :func:`r2_score`, :func:`wet_wasserstein`
    (wet-pixel intensity distributions), :func:`maximum_ratio` (overshot
    maxima, a gaming symptom).
:mod:`~mink_toolkit.verification.categorical`
    :func:`critical_success_index`.
:mod:`~mink_toolkit.verification.spatial`
    :func:`fractions_skill_score` (Roberts & Lean 2008).
:mod:`~mink_toolkit.verification.spectral`
    :func:`rapsd` (optionally Hann-windowed for non-periodic crops),
    :func:`high_wavenumber_power_ratio`, :func:`spectral_error` (per
    annulus or per log-spaced wavenumber bin), :func:`high_wavenumber_share`,
    :func:`gradient_grid_alignment`, :func:`grid_alignment_terms`.
:mod:`~mink_toolkit.verification.ensemble`
    :func:`crps_pixels` (the toolkit's one CRPS formula, also behind
    :func:`mink_toolkit.losses.fair_crps_loss`), :func:`crps_ensemble`,
    :func:`energy_score`, :func:`spread_skill_ratio`, :func:`rank_histogram`,
    :func:`rank_histogram_wet` (only where the truth rains).
:mod:`~mink_toolkit.verification.geometry`
    :func:`minkowski_errors`, :func:`minkowski_error` (exact
    Minkowski-functional errors, in the loss space).
:mod:`~mink_toolkit.verification.diagnostics`
    :func:`bootstrap_interval`, :func:`noise_floors`,
    :func:`gaming_verdicts`, :func:`superres_scores` (every deterministic
    score in one dictionary).
"""

from .categorical import critical_success_index
from .continuous import mae, maximum_ratio, r2_score, rmse, wet_wasserstein
from .diagnostics import (
    FSS_THRESHOLDS,
    FSS_WINDOWS,
    GAMING_DIAGNOSTICS,
    SPECTRAL_LOG_BINS,
    SPECTRAL_WINDOW,
    bootstrap_interval,
    gaming_verdicts,
    noise_floors,
    superres_scores,
)
from .ensemble import (
    crps_ensemble,
    crps_pixels,
    energy_score,
    rank_histogram,
    rank_histogram_wet,
    spread_skill_ratio,
)
from .geometry import minkowski_error, minkowski_errors
from .spatial import fractions_skill_score
from .spectral import (
    gradient_grid_alignment,
    grid_alignment_terms,
    high_wavenumber_power_ratio,
    high_wavenumber_share,
    rapsd,
    spectral_error,
)

__all__ = [
    "mae",
    "rmse",
    "r2_score",
    "wet_wasserstein",
    "maximum_ratio",
    "critical_success_index",
    "fractions_skill_score",
    "rapsd",
    "high_wavenumber_power_ratio",
    "high_wavenumber_share",
    "spectral_error",
    "gradient_grid_alignment",
    "grid_alignment_terms",
    "crps_pixels",
    "crps_ensemble",
    "energy_score",
    "spread_skill_ratio",
    "rank_histogram",
    "rank_histogram_wet",
    "minkowski_errors",
    "minkowski_error",
    "bootstrap_interval",
    "noise_floors",
    "gaming_verdicts",
    "superres_scores",
    "FSS_THRESHOLDS",
    "FSS_WINDOWS",
    "GAMING_DIAGNOSTICS",
    "SPECTRAL_LOG_BINS",
    "SPECTRAL_WINDOW",
]
