"""mink_toolkit: differentiable Minkowski functionals of precipitation fields.

Exact functionals (:mod:`mink_toolkit.functionals`), OPERA radar input
(:mod:`mink_toolkit.opera`, :mod:`mink_toolkit.registry`) and, in further
modules, their analytic relaxation, a Lipschitz neural surrogate,
super-resolution experiments and archive analysis.
"""

from .functionals import (
    FUNCTIONAL_NAMES,
    betti_numbers,
    combine_terms,
    minkowski_functionals,
    required_terms,
)

__version__ = "0.1.0"

__all__ = [
    "FUNCTIONAL_NAMES",
    "betti_numbers",
    "combine_terms",
    "minkowski_functionals",
    "required_terms",
]

# --- OPERA input (mink_toolkit.opera, mink_toolkit.registry) ---
from .opera import (
    dbz_to_rainrate,
    extract_patches,
    load_opera,
    project_lonlat,
    read_odim,
)
from .registry import (
    OperaChecksumError,
    OperaDataNotFoundError,
    OperaFileError,
    fetch_opera,
    opera_files,
)

__all__ += [
    "OperaChecksumError",
    "OperaDataNotFoundError",
    "OperaFileError",
    "dbz_to_rainrate",
    "extract_patches",
    "fetch_opera",
    "load_opera",
    "opera_files",
    "project_lonlat",
    "read_odim",
]
# --- end OPERA input ---

# --- archive analysis (mink_toolkit.archive) ---
from .archive import coarsen_nanmean, minkowski_curves, open_opera, to_rainrate

__all__ += ["coarsen_nanmean", "minkowski_curves", "open_opera", "to_rainrate"]
# --- end archive analysis ---

# --- super-resolution (mink_toolkit.metrics, mink_toolkit.superres) ---
from .metrics import (
    critical_success_index,
    fractions_skill_score,
    gradient_grid_alignment,
    high_wavenumber_power_ratio,
    maximum_ratio,
    minkowski_errors,
    rapsd,
    superres_scores,
    wet_wasserstein,
)
from .superres import (
    AnalyticMinkowskiTerm,
    LambdaSchedule,
    ResidualUNet,
    SurrogateTerm,
    coarsen,
    superres_patches,
    train_superres,
    upsample,
)

__all__ += [
    "AnalyticMinkowskiTerm",
    "LambdaSchedule",
    "ResidualUNet",
    "SurrogateTerm",
    "coarsen",
    "critical_success_index",
    "fractions_skill_score",
    "gradient_grid_alignment",
    "high_wavenumber_power_ratio",
    "maximum_ratio",
    "minkowski_errors",
    "rapsd",
    "superres_patches",
    "superres_scores",
    "train_superres",
    "upsample",
    "wet_wasserstein",
]
# --- end super-resolution ---

# --- relaxation and Minkowski image loss (mink_toolkit.relax, mink_toolkit.losses) ---
from .losses import (
    MinkowskiLoss,
    Quantiles,
    compress_functionals,
    functional_distance,
    gradient_share,
    minkowski_loss,
    resolve_thresholds,
    threshold_gradients,
)
from .relax import (
    ConstantSchedule,
    CosineSchedule,
    ExponentialSchedule,
    LinearSchedule,
    TemperatureSchedule,
    membership_functionals,
    offset_from_grid,
    paper_relaxation,
    paper_temperature,
    resolve_temperature,
    soft_minkowski_functionals,
    soft_threshold,
)

__all__ += [
    "ConstantSchedule",
    "CosineSchedule",
    "ExponentialSchedule",
    "LinearSchedule",
    "MinkowskiLoss",
    "Quantiles",
    "TemperatureSchedule",
    "compress_functionals",
    "functional_distance",
    "gradient_share",
    "membership_functionals",
    "minkowski_loss",
    "offset_from_grid",
    "paper_relaxation",
    "paper_temperature",
    "resolve_temperature",
    "resolve_thresholds",
    "soft_minkowski_functionals",
    "soft_threshold",
    "threshold_gradients",
]
# --- end relaxation and loss ---

# --- neural surrogate (mink_toolkit.surrogate, mink_toolkit.datasets) ---
from .datasets import DEFAULT_THRESHOLDS, PatchSet, load_patches
from .surrogate import (
    MinkowskiSurrogate,
    geometric_violations,
    lipschitz_upper_bound,
    load_surrogate,
    save_surrogate,
    train_surrogate,
)

__all__ += [
    "DEFAULT_THRESHOLDS",
    "MinkowskiSurrogate",
    "PatchSet",
    "geometric_violations",
    "lipschitz_upper_bound",
    "load_patches",
    "load_surrogate",
    "save_surrogate",
    "train_surrogate",
]
# --- end neural surrogate ---
